/* pb.c: bounded protobuf wire-format primitives (see pb.h). */
#include "pb.h"

#include <string.h>

bool cam__pb_varint(cam__pb *r, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return false;
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *v = x; return true; }
    }
    return false;   /* more than 10 bytes */
}

bool cam__pb_key(cam__pb *r, uint32_t *field, int *wire) {
    uint64_t k;
    if (!cam__pb_varint(r, &k)) return false;
    *wire = (int)(k & 7);
    uint64_t f = k >> 3;
    if (f == 0 || f > 0x1fffffff) return false;
    if (*wire == 3 || *wire == 4 || *wire > 5) return false;   /* groups: not used by ONNX */
    *field = (uint32_t)f;
    return true;
}

bool cam__pb_len(cam__pb *r, cam__pb *sub) {
    uint64_t n;
    if (!cam__pb_varint(r, &n)) return false;
    if (n > (uint64_t)(r->end - r->p)) return false;
    sub->p = r->p;
    sub->end = r->p + n;
    r->p += n;
    return true;
}

bool cam__pb_fixed32(cam__pb *r, uint32_t *v) {
    if (r->end - r->p < 4) return false;
    memcpy(v, r->p, 4);   /* little endian hosts only (x86-64, aarch64) */
    r->p += 4;
    return true;
}

bool cam__pb_fixed64(cam__pb *r, uint64_t *v) {
    if (r->end - r->p < 8) return false;
    memcpy(v, r->p, 8);
    r->p += 8;
    return true;
}

bool cam__pb_skip(cam__pb *r, int wire) {
    uint64_t v;
    cam__pb sub;
    switch (wire) {
    case CAM__PB_VARINT: return cam__pb_varint(r, &v);
    case CAM__PB_I64: return cam__pb_fixed64(r, &v);
    case CAM__PB_LEN: return cam__pb_len(r, &sub);
    case CAM__PB_I32: { uint32_t w; return cam__pb_fixed32(r, &w); }
    default: return false;
    }
}

bool cam__pb_count_varints(cam__pb sub, size_t *n) {
    size_t c = 0;
    uint64_t v;
    while (!cam__pb_done(&sub)) {
        if (!cam__pb_varint(&sub, &v)) return false;
        c++;
    }
    *n = c;
    return true;
}
