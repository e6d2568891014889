/* onnx_builder.h: writes small ONNX models in memory for the loader tests
 * and the fuzz seed corpus (protobuf wire format, field numbers of
 * onnx.proto).  Not a general encoder: just enough to build graphs. */
#ifndef CAM_ONNX_BUILDER_H
#define CAM_ONNX_BUILDER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct ob_buf { uint8_t *p; size_t n, cap; } ob_buf;

static inline void ob_put(ob_buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static inline void ob_varint(ob_buf *b, uint64_t v) {
    uint8_t t[10];
    int k = 0;
    do { t[k++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0)); v >>= 7; } while (v);
    ob_put(b, t, (size_t)k);
}
static inline void ob_key(ob_buf *b, int field, int wire) { ob_varint(b, ((uint64_t)field << 3) | (uint64_t)wire); }
static inline void ob_int(ob_buf *b, int field, int64_t v) { ob_key(b, field, 0); ob_varint(b, (uint64_t)v); }
static inline void ob_bytes(ob_buf *b, int field, const void *d, size_t n) {
    ob_key(b, field, 2);
    ob_varint(b, n);
    ob_put(b, d, n);
}
static inline void ob_str(ob_buf *b, int field, const char *s) { ob_bytes(b, field, s, strlen(s)); }
/* appends sub as a length-delimited field and frees it */
static inline void ob_msg(ob_buf *b, int field, ob_buf *sub) {
    ob_bytes(b, field, sub->p, sub->n);
    free(sub->p);
    memset(sub, 0, sizeof *sub);
}
static inline void ob_float(ob_buf *b, int field, float f) { ob_key(b, field, 5); ob_put(b, &f, 4); }
static inline void ob_packed_ints(ob_buf *b, int field, const int64_t *v, int n) {
    ob_buf s = {0};
    for (int i = 0; i < n; i++) ob_varint(&s, (uint64_t)v[i]);
    ob_msg(b, field, &s);
}

/* TensorProto with float raw data (data may be NULL for zeros) */
static inline void ob_tensor_f32(ob_buf *b, int field, const char *name, const int64_t *dims, int rank, const float *data) {
    ob_buf t = {0};
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    for (int i = 0; i < rank; i++) ob_int(&t, 1, dims[i]);
    ob_int(&t, 2, 1);
    if (name) ob_str(&t, 8, name);
    float *z = NULL;
    if (!data) data = z = calloc(n ? n : 1, 4);
    ob_bytes(&t, 9, data, n * 4);
    free(z);
    ob_msg(b, field, &t);
}
static inline void ob_tensor_i64(ob_buf *b, int field, const char *name, const int64_t *dims, int rank, const int64_t *data, size_t n) {
    ob_buf t = {0};
    for (int i = 0; i < rank; i++) ob_int(&t, 1, dims[i]);
    ob_int(&t, 2, 7);
    if (name) ob_str(&t, 8, name);
    ob_packed_ints(&t, 7, data, (int)n);
    ob_msg(b, field, &t);
}

/* AttributeProto helpers (type codes: FLOAT 1, INT 2, STRING 3, TENSOR 4, INTS 7) */
static inline void ob_attr_int(ob_buf *node, const char *name, int64_t v) {
    ob_buf a = {0};
    ob_str(&a, 1, name);
    ob_int(&a, 20, 2);
    ob_int(&a, 3, v);
    ob_msg(node, 5, &a);
}
static inline void ob_attr_float(ob_buf *node, const char *name, float v) {
    ob_buf a = {0};
    ob_str(&a, 1, name);
    ob_int(&a, 20, 1);
    ob_float(&a, 2, v);
    ob_msg(node, 5, &a);
}
static inline void ob_attr_ints(ob_buf *node, const char *name, const int64_t *v, int n) {
    ob_buf a = {0};
    ob_str(&a, 1, name);
    ob_int(&a, 20, 7);
    ob_packed_ints(&a, 8, v, n);
    ob_msg(node, 5, &a);
}

/* NodeProto: inputs/outputs NULL-terminated lists; attrs appended by caller via *node */
static inline void ob_node_begin(ob_buf *node, const char *op, const char *name, const char *const *in, const char *const *out) {
    memset(node, 0, sizeof *node);
    for (int i = 0; in && in[i]; i++) ob_str(node, 1, in[i]);
    for (int i = 0; out && out[i]; i++) ob_str(node, 2, out[i]);
    if (name) ob_str(node, 3, name);
    ob_str(node, 4, op);
}

/* ValueInfoProto for a float tensor; dims < 0 are written as dim_param "N" */
static inline void ob_value_info(ob_buf *graph, int field, const char *name, const int64_t *dims, int rank, int elem) {
    ob_buf shape = {0}, tt = {0}, type = {0}, vi = {0};
    for (int i = 0; i < rank; i++) {
        ob_buf d = {0};
        if (dims[i] >= 0) ob_int(&d, 1, dims[i]);
        else ob_str(&d, 2, "N");
        ob_msg(&shape, 1, &d);
    }
    ob_int(&tt, 1, elem);
    if (rank >= 0) ob_msg(&tt, 2, &shape);
    ob_msg(&type, 1, &tt);
    ob_str(&vi, 1, name);
    ob_msg(&vi, 2, &type);
    ob_msg(graph, field, &vi);
    free(shape.p);
}

/* ModelProto around a graph: IR 7, default opset `opset` */
/* The MobileNetV3 head, Gemm (transB) -> HardSwish -> Gemm (transB), from
 * the [1, in] tensor `x` to the [1, classes] tensor `y`, its weights drawn
 * by rnd(count, seed, scale) with seeds 10-13 (nodes fc1, hs, fc2;
 * initializers W1, B1, W2, B2). */
static inline void ob_mlp_head(ob_buf *g, const char *x, const char *y, int in, int hid, int classes,
                               const float *(*rnd)(int n, unsigned seed, float scale)) {
    ob_buf n = {0};
    ob_node_begin(&n, "Gemm", "fc1", (const char *[]){x, "W1", "B1", NULL}, (const char *[]){"H1", NULL});
    ob_attr_int(&n, "transB", 1);
    ob_msg(g, 1, &n);
    ob_node_begin(&n, "HardSwish", "hs", (const char *[]){"H1", NULL}, (const char *[]){"H2", NULL});
    ob_msg(g, 1, &n);
    ob_node_begin(&n, "Gemm", "fc2", (const char *[]){"H2", "W2", "B2", NULL}, (const char *[]){y, NULL});
    ob_attr_int(&n, "transB", 1);
    ob_msg(g, 1, &n);
    ob_tensor_f32(g, 5, "W1", (const int64_t[]){hid, in}, 2, rnd(hid * in, 10, 1.0f));
    ob_tensor_f32(g, 5, "B1", (const int64_t[]){hid}, 1, rnd(hid, 11, 1.0f));
    ob_tensor_f32(g, 5, "W2", (const int64_t[]){classes, hid}, 2, rnd(classes * hid, 12, 0.5f));
    ob_tensor_f32(g, 5, "B2", (const int64_t[]){classes}, 1, rnd(classes, 13, 0.5f));
}

static inline ob_buf ob_model(ob_buf *graph, int64_t opset) {
    ob_buf m = {0}, os = {0};
    ob_int(&m, 1, 7);
    ob_str(&m, 2, "camserve-tests");
    ob_msg(&m, 7, graph);
    ob_str(&os, 1, "");
    ob_int(&os, 2, opset);
    ob_msg(&m, 8, &os);
    return m;
}

#endif
