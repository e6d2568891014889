/* util.c: errors, aligned memory, shape arithmetic shared across core/. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cam_status_str(cam_status s) {
    switch (s) {
    case CAM_OK: return "ok";
    case CAM_EINVAL: return "invalid argument";
    case CAM_ENOMEM: return "out of memory";
    case CAM_EIO: return "i/o error";
    case CAM_EFORMAT: return "malformed input";
    case CAM_EUNSUPPORTED: return "unsupported";
    case CAM_ELIMIT: return "limit exceeded";
    case CAM_EINTERNAL: return "internal error";
    }
    return "unknown status";
}

size_t cam_dtype_size(cam_dtype t) {
    switch (t) {
    case CAM_FLOAT: case CAM_INT32: return 4;
    case CAM_INT64: return 8;
    }
    return 0;
}

cam_status cam__fail(char *err, size_t errlen, cam_status st, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

bool cam__avx512_allowed(void) {
    static int cached = -1;
    if (cached < 0) {
        const char *off = getenv("CAMSERVE_NO_AVX512");
        cached = !(off && *off && strcmp(off, "0") != 0);
    }
    return cached;
}

bool cam__avx512_enabled(void) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = cam__avx512_allowed() && __builtin_cpu_supports("x86-64-v4");
    }
    return cached;
#else
    return false;
#endif
}

void *cam__aligned_alloc(size_t bytes) {
    size_t rounded = (bytes + CAM__ALIGN - 1) & ~(size_t)(CAM__ALIGN - 1);
    if (rounded < bytes) return NULL;
    if (rounded == 0) rounded = CAM__ALIGN;
    void *p = aligned_alloc(CAM__ALIGN, rounded);
    if (p) memset(p, 0, rounded);
    return p;
}

void cam__aligned_free(void *p) { free(p); }

/* Tensors larger than this are refused at load: 2^34 elements is far
 * beyond any image classifier and keeps size arithmetic far from overflow. */
#define CAM__MAX_NUMEL ((size_t)1 << 34)

bool cam__tensor_set_shape(cam__tensor *t, int rank, const int64_t *dims) {
    if (rank < 0 || rank > CAM__MAX_RANK) return false;
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) return false;
        if (!cam__mul_ok(n, (size_t)dims[i], &n) || n > CAM__MAX_NUMEL) return false;
    }
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
    for (int i = rank; i < CAM__MAX_RANK; i++) t->dims[i] = 0;
    t->numel = n;
    return true;
}

bool cam__broadcast_shape(const cam__tensor *a, const cam__tensor *b, int *rank, int64_t *dims) {
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) return false;
        dims[i] = da == 1 ? db : da;
    }
    *rank = r;
    return true;
}

bool cam__norm_axis(int64_t axis, int rank, int *out) {
    if (axis < -(int64_t)rank || axis >= rank) return false;
    *out = (int)(axis < 0 ? axis + rank : axis);
    return true;
}
