/* ops.c: the operator table.  One row per ONNX operator (see CAM__OP_LIST
 * in ops.h); the opset range is the span of versions whose semantics the
 * row's functions implement (their check() handles the per-version forms,
 * e.g. Clip's min/max attributes before opset 11 and inputs after). */
#include "ops.h"

#include <string.h>

#define CAM__OP_ROW(Op, lo, hi, min_in, max_in, min_out, max_out, flags)                   \
    {#Op, lo, hi, min_in, max_in, min_out, max_out, flags, cam__op_##Op##_check,          \
     cam__op_##Op##_shape, cam__op_##Op##_forward, cam__op_##Op##_reference, cam__op_##Op##_prepack},

static const cam__op_def g_ops[] = {CAM__OP_LIST(CAM__OP_ROW)};

const cam__op_def *cam__op_table(int *count) {
    *count = (int)(sizeof g_ops / sizeof g_ops[0]);
    return g_ops;
}

const cam__op_def *cam__op_find(const char *name, int64_t opset) {
    for (size_t i = 0; i < sizeof g_ops / sizeof g_ops[0]; i++)
        if (strcmp(g_ops[i].name, name) == 0 && opset >= g_ops[i].opset_min && opset <= g_ops[i].opset_max)
            return &g_ops[i];
    return NULL;
}
