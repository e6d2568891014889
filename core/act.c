/* act.c: activations applied in place, used by fused Conv/Gemm/Add outputs
 * and by the standalone activation operators. */
#include "internal.h"

#include <math.h>

const char *cam__act_name(cam__act_kind k) {
    switch (k) {
    case CAM__ACT_NONE: return "";
    case CAM__ACT_RELU: return "Relu";
    case CAM__ACT_CLIP: return "Clip";
    case CAM__ACT_SIGMOID: return "Sigmoid";
    case CAM__ACT_HARDSIGMOID: return "HardSigmoid";
    case CAM__ACT_HARDSWISH: return "HardSwish";
    case CAM__ACT_SILU: return "Silu";
    }
    return "?";
}

CAM__HOT static void act_relu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

CAM__HOT static void act_clip(float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i] < lo ? lo : x[i];
        x[i] = v > hi ? hi : v;
    }
}

/* HardSigmoid(x) = clamp(a*x + b, 0, 1); HardSwish = x * HardSigmoid(x) with a=1/6, b=0.5 */
CAM__HOT static void act_hardsigmoid(float *x, size_t n, float a, float b, int swish) {
    for (size_t i = 0; i < n; i++) {
        float v = a * x[i] + b;
        v = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
        x[i] = swish ? x[i] * v : v;
    }
}

static void act_sigmoid(float *x, size_t n, int silu) {
    for (size_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-x[i]));
        x[i] = silu ? x[i] * s : s;
    }
}

void cam__act_apply(const cam__act *act, float *x, size_t n) {
    switch (act->kind) {
    case CAM__ACT_NONE: return;
    case CAM__ACT_RELU: act_relu(x, n); return;
    case CAM__ACT_CLIP: act_clip(x, n, act->a, act->b); return;
    case CAM__ACT_SIGMOID: act_sigmoid(x, n, 0); return;
    case CAM__ACT_SILU: act_sigmoid(x, n, 1); return;
    case CAM__ACT_HARDSIGMOID: act_hardsigmoid(x, n, act->a, act->b, 0); return;
    case CAM__ACT_HARDSWISH: act_hardsigmoid(x, n, 1.0f / 6.0f, 0.5f, 1); return;
    }
}
