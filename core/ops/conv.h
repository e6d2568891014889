/* conv.h: helpers of the convolution family (core/ops/conv.c) used by the
 * graph optimiser. */
#ifndef CAM_OPS_CONV_H
#define CAM_OPS_CONV_H

#include <stdint.h>

/* Folds an inference BatchNormalization that follows a Conv into the Conv's
 * weights and bias, in place, so that Conv'(x) == BN(Conv(x)):
 *   a[o] = scale[o] / sqrt(var[o] + eps)
 *   w[o][k] *= a[o]                     for k < per_out
 *   b[o] = (b[o] - mean[o]) * a[o] + bn_bias[o]
 * w is [c_out, per_out] (per_out = C_in/group * kH * kW); b has c_out
 * elements and holds the Conv's bias (zeros if it had none). */
void cam__conv_fold_bn(float *w, float *b, int64_t c_out, int64_t per_out, const float *scale,
                       const float *bn_bias, const float *mean, const float *var, float eps);

#endif
