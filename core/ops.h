/* ops.h: the functions behind each row of the operator table (ops.c).
 * Naming: cam__op_<Op>_{check,shape,forward,reference}; an op family's file
 * in core/ops/ defines them.  A row whose check or shape is NULL uses the
 * generic defaults below.  cam__op_<Op>_prepack is optional: declared weak,
 * it is NULL in the table unless the op's file defines it (that file is
 * always linked, through the row's other functions). */
#ifndef CAM_OPS_H
#define CAM_OPS_H
#include "internal.h"

#define CAM__OP_DECL(Op)                                                                  \
    cam_status cam__op_##Op##_check(cam__node *n, char *err, size_t errlen);               \
    cam_status cam__op_##Op##_shape(cam__node *n, cam__tensor *const *in,                  \
                                    cam__tensor *const *out, char *err, size_t errlen);    \
    void cam__op_##Op##_forward(const cam__node *n, const cam__tensor *const *in,          \
                                cam__tensor *const *out, const cam__ctx *ctx);             \
    void cam__op_##Op##_reference(const cam__node *n, const cam__tensor *const *in,        \
                                  cam__tensor *const *out, const cam__ctx *ctx);            \
    cam_status cam__op_##Op##_prepack(cam__node *n, cam__tensor *const *in, char *err,       \
                                      size_t errlen) __attribute__((weak));

/* the table, in one place: X(Op, opset_min, opset_max, min_in, max_in, min_out, max_out, flags) */
#define CAM__OP_LIST(X)                                                     \
    /* convolution family: core/ops/conv.c */                               \
    X(Conv, 1, 22, 2, 3, 1, 1, CAM__OP_FUSES_ACT)                           \
    X(BatchNormalization, 1, 22, 5, 5, 1, 3, 0)                             \
    /* elementwise: core/ops/elementwise.c */                               \
    X(Relu, 1, 22, 1, 1, 1, 1, 0)                                           \
    X(Clip, 1, 22, 1, 3, 1, 1, 0)                                           \
    X(Sigmoid, 1, 22, 1, 1, 1, 1, 0)                                        \
    X(HardSigmoid, 1, 22, 1, 1, 1, 1, 0)                                    \
    X(HardSwish, 14, 22, 1, 1, 1, 1, 0)                                     \
    X(Add, 1, 22, 2, 2, 1, 1, CAM__OP_INT | CAM__OP_FUSES_ACT)              \
    X(Sub, 1, 22, 2, 2, 1, 1, CAM__OP_INT)                                  \
    X(Mul, 1, 22, 2, 2, 1, 1, CAM__OP_INT)                                  \
    X(Div, 1, 22, 2, 2, 1, 1, CAM__OP_INT)                                  \
    X(Identity, 1, 22, 1, 1, 1, 1, CAM__OP_INT)                             \
    X(Dropout, 1, 22, 1, 3, 1, 2, 0)                                        \
    X(Cast, 1, 22, 1, 1, 1, 1, CAM__OP_INT)                                 \
    X(Softmax, 1, 22, 1, 1, 1, 1, 0)                                        \
    /* data movement and shapes: core/ops/shape.c */                        \
    X(Flatten, 1, 22, 1, 1, 1, 1, CAM__OP_INT)                              \
    X(Reshape, 1, 22, 1, 2, 1, 1, CAM__OP_INT)                              \
    X(Squeeze, 1, 22, 1, 2, 1, 1, CAM__OP_INT)                              \
    X(Unsqueeze, 1, 22, 1, 2, 1, 1, CAM__OP_INT)                            \
    X(Transpose, 1, 22, 1, 1, 1, 1, CAM__OP_INT)                            \
    X(Concat, 1, 22, 1, 1024, 1, 1, CAM__OP_INT)                            \
    X(Split, 1, 22, 1, 2, 1, 1024, CAM__OP_INT)                             \
    X(Slice, 1, 22, 1, 5, 1, 1, CAM__OP_INT)                                \
    X(Pad, 1, 22, 1, 4, 1, 1, 0)                                            \
    X(Shape, 1, 22, 1, 1, 1, 1, CAM__OP_INT | CAM__OP_SHAPE_ONLY)           \
    X(Gather, 1, 22, 2, 2, 1, 1, CAM__OP_INT)                               \
    X(Constant, 1, 22, 0, 0, 1, 1, CAM__OP_INT)                             \
    /* pooling and reductions: core/ops/pooling.c */                           \
    X(MaxPool, 1, 22, 1, 1, 1, 2, 0)                                        \
    X(AveragePool, 1, 22, 1, 1, 1, 1, 0)                                    \
    X(GlobalAveragePool, 1, 22, 1, 1, 1, 1, 0)                              \
    X(ReduceMean, 1, 22, 1, 2, 1, 1, 0)                                     \
    X(LRN, 1, 22, 1, 1, 1, 1, 0)                                            \
    /* matrix products: core/ops/gemm.c */                                  \
    X(Gemm, 1, 22, 2, 3, 1, 1, CAM__OP_FUSES_ACT)                           \
    X(MatMul, 1, 22, 2, 2, 1, 1, 0)

#define CAM__OP_DECL_X(Op, a, b, c, d, e, f, g) CAM__OP_DECL(Op)
CAM__OP_LIST(CAM__OP_DECL_X)

#endif
