/* make_onnx_seeds.c: writes the loader fuzzer's seed corpus: small models
 * covering every operator of the table and the protobuf forms the loader
 * reads (raw and typed data, packed ints, attributes of every type).
 *   cc -Iinclude -Icore -Itests tests/fuzz/make_onnx_seeds.c -o /tmp/seeds && /tmp/seeds tests/fuzz/corpus/onnx */
#include "onnx_builder.h"

#include <stdio.h>

static void save(const char *dir, const char *name, ob_buf *b) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.onnx", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    fwrite(b->p, 1, b->n, f);
    fclose(f);
    free(b->p);
}

static const int64_t X[] = {1, 4, 6, 6};

/* graph with one node Op(X [, consts...]) -> Y */
static ob_buf unary(const char *op, void (*attrs)(ob_buf *), int64_t opset) {
    ob_buf g = {0}, n = {0};
    ob_node_begin(&n, op, "n", (const char *[]){"X", NULL}, (const char *[]){"Y", NULL});
    if (attrs) attrs(&n);
    ob_msg(&g, 1, &n);
    ob_value_info(&g, 11, "X", X, 4, 1);
    ob_value_info(&g, 12, "Y", NULL, -1, 1);
    return ob_model(&g, opset);
}

static void a_pool(ob_buf *n) {
    ob_attr_ints(n, "kernel_shape", (const int64_t[]){3, 3}, 2);
    ob_attr_ints(n, "strides", (const int64_t[]){2, 2}, 2);
    ob_attr_ints(n, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
}
static void a_clip(ob_buf *n) { ob_attr_float(n, "min", 0); ob_attr_float(n, "max", 6); }
static void a_axis(ob_buf *n) { ob_attr_int(n, "axis", 1); }
static void a_perm(ob_buf *n) { ob_attr_ints(n, "perm", (const int64_t[]){0, 2, 3, 1}, 4); }
static void a_lrn(ob_buf *n) { ob_attr_int(n, "size", 3); ob_attr_float(n, "alpha", 1e-4f); }
static void a_reduce(ob_buf *n) { ob_attr_ints(n, "axes", (const int64_t[]){2, 3}, 2); }

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    ob_buf b;
    const char *plain[] = {"Relu", "Sigmoid", "HardSigmoid", "HardSwish", "Identity", "Dropout",
                           "GlobalAveragePool", "Shape", "Flatten", "Softmax", NULL};
    for (int i = 0; plain[i]; i++) { b = unary(plain[i], NULL, 14); save(dir, plain[i], &b); }
    b = unary("MaxPool", a_pool, 13); save(dir, "MaxPool", &b);
    b = unary("AveragePool", a_pool, 13); save(dir, "AveragePool", &b);
    b = unary("Clip", a_clip, 9); save(dir, "Clip_opset9", &b);
    b = unary("Concat", a_axis, 13); save(dir, "Concat", &b);
    b = unary("Transpose", a_perm, 13); save(dir, "Transpose", &b);
    b = unary("LRN", a_lrn, 13); save(dir, "LRN", &b);
    b = unary("ReduceMean", a_reduce, 13); save(dir, "ReduceMean", &b);

    /* Conv + BN + Relu + GAP + Flatten + Gemm: a whole classifier */
    ob_buf g = {0}, n = {0};
    ob_node_begin(&n, "Conv", "conv", (const char *[]){"X", "W", NULL}, (const char *[]){"C", NULL});
    ob_attr_ints(&n, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
    ob_attr_int(&n, "group", 1);
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "BatchNormalization", "bn", (const char *[]){"C", "s", "b", "m", "v", NULL}, (const char *[]){"D", NULL});
    ob_attr_float(&n, "epsilon", 1e-5f);
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Relu", "relu", (const char *[]){"D", NULL}, (const char *[]){"E", NULL});
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "GlobalAveragePool", "gap", (const char *[]){"E", NULL}, (const char *[]){"F", NULL});
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Flatten", "flat", (const char *[]){"F", NULL}, (const char *[]){"G", NULL});
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Gemm", "fc", (const char *[]){"G", "FW", "FB", NULL}, (const char *[]){"Y", NULL});
    ob_attr_int(&n, "transB", 1);
    ob_msg(&g, 1, &n);
    ob_tensor_f32(&g, 5, "W", (const int64_t[]){8, 4, 3, 3}, 4, NULL);
    const float ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    ob_tensor_f32(&g, 5, "s", (const int64_t[]){8}, 1, ones);
    ob_tensor_f32(&g, 5, "b", (const int64_t[]){8}, 1, NULL);
    ob_tensor_f32(&g, 5, "m", (const int64_t[]){8}, 1, NULL);
    ob_tensor_f32(&g, 5, "v", (const int64_t[]){8}, 1, ones);
    ob_tensor_f32(&g, 5, "FW", (const int64_t[]){5, 8}, 2, NULL);
    ob_tensor_f32(&g, 5, "FB", (const int64_t[]){5}, 1, NULL);
    ob_value_info(&g, 11, "X", (const int64_t[]){-1, 4, 6, 6}, 4, 1);
    ob_value_info(&g, 12, "Y", NULL, -1, 1);
    b = ob_model(&g, 13);
    save(dir, "classifier", &b);

    /* Shape -> Gather -> Unsqueeze -> Concat -> Reshape, the exporters' flatten */
    memset(&g, 0, sizeof g);
    ob_node_begin(&n, "Shape", "shape", (const char *[]){"X", NULL}, (const char *[]){"s", NULL});
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Gather", "gather", (const char *[]){"s", "zero", NULL}, (const char *[]){"s0", NULL});
    ob_attr_int(&n, "axis", 0);
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Unsqueeze", "unsq", (const char *[]){"s0", "axes", NULL}, (const char *[]){"s1", NULL});
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Concat", "cat", (const char *[]){"s1", "minus1", NULL}, (const char *[]){"shp", NULL});
    ob_attr_int(&n, "axis", 0);
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Reshape", "reshape", (const char *[]){"X", "shp", NULL}, (const char *[]){"Y", NULL});
    ob_msg(&g, 1, &n);
    ob_tensor_i64(&g, 5, "zero", NULL, 0, (const int64_t[]){0}, 1);
    ob_tensor_i64(&g, 5, "axes", (const int64_t[]){1}, 1, (const int64_t[]){0}, 1);
    ob_tensor_i64(&g, 5, "minus1", (const int64_t[]){1}, 1, (const int64_t[]){-1}, 1);
    ob_value_info(&g, 11, "X", X, 4, 1);
    ob_value_info(&g, 12, "Y", NULL, -1, 1);
    b = ob_model(&g, 13);
    save(dir, "shape_chain", &b);

    /* Slice / Pad / Split / Add / Mul / Sub / Div / Cast / Squeeze / MatMul */
    memset(&g, 0, sizeof g);
    ob_node_begin(&n, "Slice", "slice", (const char *[]){"X", "st", "en", "ax", NULL}, (const char *[]){"a", NULL});
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Pad", "pad", (const char *[]){"a", "pads", NULL}, (const char *[]){"b", NULL});
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Split", "split", (const char *[]){"b", NULL}, (const char *[]){"c1", "c2", NULL});
    ob_attr_int(&n, "axis", 1);
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Add", "add", (const char *[]){"c1", "c2", NULL}, (const char *[]){"d", NULL});
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Mul", "mul", (const char *[]){"d", "d", NULL}, (const char *[]){"e", NULL});
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Sub", "sub", (const char *[]){"e", "d", NULL}, (const char *[]){"f", NULL});
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Div", "div", (const char *[]){"f", "e", NULL}, (const char *[]){"h", NULL});
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Cast", "cast", (const char *[]){"h", NULL}, (const char *[]){"i", NULL});
    ob_attr_int(&n, "to", 1);
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "MatMul", "mm", (const char *[]){"i", "i", NULL}, (const char *[]){"Y", NULL});
    ob_msg(&g, 1, &n);
    ob_tensor_i64(&g, 5, "st", (const int64_t[]){1}, 1, (const int64_t[]){1}, 1);
    ob_tensor_i64(&g, 5, "en", (const int64_t[]){1}, 1, (const int64_t[]){5}, 1);
    ob_tensor_i64(&g, 5, "ax", (const int64_t[]){1}, 1, (const int64_t[]){2}, 1);
    ob_tensor_i64(&g, 5, "pads", (const int64_t[]){8}, 1, (const int64_t[]){0, 0, 1, 0, 0, 0, 1, 0}, 8);
    ob_value_info(&g, 11, "X", X, 4, 1);
    ob_value_info(&g, 12, "Y", NULL, -1, 1);
    b = ob_model(&g, 13);
    save(dir, "data_movement", &b);
    return 0;
}
