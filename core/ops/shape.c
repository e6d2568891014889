/* shape.c: data movement and shape operators: Flatten, Reshape, Squeeze,
 * Unsqueeze, Transpose, Concat, Split, Slice, Pad, Shape, Gather, Constant.
 *
 * None of these computes anything; they move elements.  The fast paths
 * therefore share two engines:
 *   - a strided copy (contiguous destination, arbitrary signed source
 *     strides) that Transpose and Slice reduce to.  It drops size-1 dims,
 *     merges dims that stay adjacent, then copies whole rows with memcpy
 *     when the innermost source stride is 1, transposes in cache tiles when
 *     another dim has source stride 1, and gathers otherwise;
 *   - a segment walk that Concat and Split share: the "whole" tensor is a
 *     sequence of runs, each a contiguous piece of one part.
 * Shape-determining inputs (Reshape's shape, Slice's starts, ...) must be
 * constants; shape() parses them into n->params so forward() needs nothing
 * but the tensors.  Runtime dtypes are float and int64, so copies are done
 * by element size. */
#include "ops.h"
#include "ops/shape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define R CAM__MAX_RANK
/* elements per parallel task: big enough to hide the pool's wake-up */
#define GRAIN_ELEMS 32768
/* transposition tile edge (elements); 32x32x8 bytes stays in L1 */
#define TILE 32

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* ---- errors, attributes, constant inputs --------------------------------- */

static cam_status op_fail(const cam__node *n, char *err, size_t errlen, cam_status st,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static cam_status op_fail(const cam__node *n, char *err, size_t errlen, cam_status st,
                          const char *fmt, ...) {
    char msg[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *op = n->op ? n->op->name : n->op_type ? n->op_type : "?";
    return cam__fail(err, errlen, st, "%s node '%s': %s", op, n->name ? n->name : "", msg);
}

/* Replaces n->params with a zeroed block (check() may run more than once). */
static void *params_new(cam__node *n, size_t bytes) {
    void *p = calloc(1, bytes);
    if (p) {
        free(n->params);
        n->params = p;
    }
    return p;
}
#define NEW_PARAMS(n, p, bytes)                                                           \
    do {                                                                                  \
        if (!((p) = params_new((n), (bytes))))                                            \
            return op_fail((n), err, errlen, CAM_ENOMEM, "out of memory");                \
    } while (0)

/* An attribute present with the wrong type is a malformed model, not a
 * reason to fall back to the default silently. */
static cam_status attr_int(const cam__node *n, const char *name, int64_t dflt, int64_t *v,
                           char *err, size_t errlen) {
    const cam__attr *a = cam__attr_find(n, name);
    *v = dflt;
    if (!a) return CAM_OK;
    if (a->type != CAM__ATTR_INT)
        return op_fail(n, err, errlen, CAM_EFORMAT, "attribute '%s' must be an int", name);
    *v = a->i;
    return CAM_OK;
}

/* *cnt = -1 when absent. */
static cam_status attr_ints(const cam__node *n, const char *name, const int64_t **v, int *cnt,
                            char *err, size_t errlen) {
    const cam__attr *a = cam__attr_find(n, name);
    *v = NULL;
    *cnt = -1;
    if (!a) return CAM_OK;
    if (a->type != CAM__ATTR_INTS)
        return op_fail(n, err, errlen, CAM_EFORMAT, "attribute '%s' must be a list of ints", name);
    *v = a->ints;
    *cnt = a->n;
    return CAM_OK;
}

static const cam__tensor *input(const cam__node *n, cam__tensor *const *in, int i) {
    return i < n->n_in ? in[i] : NULL;
}

/* Copies a constant integer input (scalar or 1-D, at most max elements)
 * into v; *cnt = -1 when the optional input is absent. */
static cam_status const_ints(const cam__node *n, const cam__tensor *t, const char *what,
                             int64_t *v, int max, int *cnt, char *err, size_t errlen) {
    *cnt = -1;
    if (!t) return CAM_OK;
    if (!t->data)
        return op_fail(n, err, errlen, CAM_EUNSUPPORTED, "requires a constant '%s' input", what);
    if (t->dtype != CAM_INT64)
        return op_fail(n, err, errlen, CAM_EFORMAT, "input '%s' must be an integer tensor", what);
    if (t->rank > 1)
        return op_fail(n, err, errlen, CAM_EFORMAT, "input '%s' must be 1-D", what);
    if (t->numel > (size_t)max)
        return op_fail(n, err, errlen, CAM_EUNSUPPORTED, "input '%s' has %zu values, at most %d supported",
                       what, t->numel, max);
    if (t->numel) memcpy(v, t->data, t->numel * sizeof *v);
    *cnt = (int)t->numel;
    return CAM_OK;
}

/* Normalises a list of axes against rank into mask[]; out-of-range or
 * repeated axes are errors.  norm[i] receives the i-th normalised axis. */
static cam_status norm_axes(const cam__node *n, const int64_t *axes, int cnt, int rank, bool *mask,
                            int *norm, char *err, size_t errlen) {
    for (int k = 0; k < R; k++) mask[k] = false;
    for (int i = 0; i < cnt; i++) {
        int a;
        if (!cam__norm_axis(axes[i], rank, &a))
            return op_fail(n, err, errlen, CAM_EFORMAT, "axis %lld out of range for rank %d",
                           (long long)axes[i], rank);
        if (mask[a]) return op_fail(n, err, errlen, CAM_EFORMAT, "axis %lld repeated", (long long)axes[i]);
        mask[a] = true;
        if (norm) norm[i] = a;
    }
    return CAM_OK;
}

static cam_status need_dtype(const cam__node *n, const cam__tensor *t, char *err, size_t errlen) {
    if (t->dtype == CAM_FLOAT || t->dtype == CAM_INT64) return CAM_OK;
    return op_fail(n, err, errlen, CAM_EUNSUPPORTED, "element type %d not supported", (int)t->dtype);
}

static cam_status set_out(const cam__node *n, cam__tensor *out, cam_dtype dt, int rank,
                          const int64_t *dims, char *err, size_t errlen) {
    out->dtype = dt;
    if (rank > R)
        return op_fail(n, err, errlen, CAM_EUNSUPPORTED, "output rank %d exceeds %d", rank, R);
    if (!cam__tensor_set_shape(out, rank, dims))
        return op_fail(n, err, errlen, CAM_ELIMIT, "output shape invalid or too large");
    return CAM_OK;
}

static void strides_of(const cam__tensor *t, int64_t *s) {
    int64_t acc = 1;
    for (int k = t->rank - 1; k >= 0; k--) {
        s[k] = acc;
        acc *= t->dims[k];
    }
}

/* multi-index of flat index i over dims[0..rank) */
static void unflatten(int64_t i, int rank, const int64_t *dims, int64_t *idx) {
    for (int k = rank - 1; k >= 0; k--) {
        idx[k] = dims[k] ? i % dims[k] : 0;
        i = dims[k] ? i / dims[k] : 0;
    }
}

static void copy_elem(void *dst, size_t di, const void *src, size_t si, size_t es) {
    memcpy((char *)dst + di * es, (const char *)src + si * es, es);
}

/* ---- parallel memcpy (the reshape family) ------------------------------- */

typedef struct { char *dst; const char *src; size_t bytes; } bytecopy;
#define COPY_CHUNK ((size_t)1 << 16)

static void bytecopy_task(void *arg, int64_t b, int64_t e, int tid) {
    const bytecopy *c = arg;
    size_t lo = (size_t)b * COPY_CHUNK, hi = (size_t)e * COPY_CHUNK;
    if (hi > c->bytes) hi = c->bytes;
    memcpy(c->dst + lo, c->src + lo, hi - lo);
}

/* A reshape never moves elements; when the planner gives output and input
 * the same buffer there is nothing to do. */
static void copy_data(const cam__tensor *in, cam__tensor *out, const cam__ctx *ctx) {
    size_t bytes = out->numel * cam_dtype_size(out->dtype);
    if (out->data == in->data || bytes == 0) return;
    bytecopy c = {out->data, in->data, bytes};
    /* below ~1 MB a single memcpy beats waking the pool */
    int64_t chunks = (int64_t)((bytes + COPY_CHUNK - 1) / COPY_CHUNK);
    cam__ctx_parallel(ctx, chunks, 16, bytecopy_task, &c);
}

static void copy_elems_ref(const cam__tensor *in, cam__tensor *out) {
    size_t es = cam_dtype_size(out->dtype);
    for (size_t i = 0; i < out->numel; i++) copy_elem(out->data, i, in->data, i, es);
}

/* ---- strided copy engine (Transpose, Slice) ----------------------------- */

typedef struct {
    char *dst;
    const char *src;          /* element at index (0, ..., 0) */
    size_t es;
    int rank;
    int64_t d[R];             /* destination dims (contiguous) */
    int64_t s[R];             /* source strides in elements, signed */
    int64_t ds[R];            /* destination strides */
    int q;                    /* tiled mode: the dim whose source stride is 1 */
    int64_t qtiles, ctiles;   /* tiles along q and along the last dim */
} scopy;

/* Size-1 dims carry no movement; dims k, k+1 that step through the source
 * as one run (s[k] == d[k+1] * s[k+1]) are one dim.  NCHW->NHWC becomes a
 * batch of 2-D transposes; a channel slice becomes one memcpy per image. */
static void scopy_simplify(scopy *c) {
    int r = 0;
    for (int k = 0; k < c->rank; k++)
        if (c->d[k] != 1) { c->d[r] = c->d[k]; c->s[r] = c->s[k]; r++; }
    int m = 0;
    for (int k = 0; k < r; k++) {
        if (m > 0 && c->s[m - 1] == c->d[k] * c->s[k]) {
            c->d[m - 1] *= c->d[k];
            c->s[m - 1] = c->s[k];
        } else {
            c->d[m] = c->d[k];
            c->s[m] = c->s[k];
            m++;
        }
    }
    if (m == 0) { c->d[0] = 1; c->s[0] = 1; m = 1; }
    c->rank = m;
    int64_t acc = 1;
    for (int k = m - 1; k >= 0; k--) { c->ds[k] = acc; acc *= c->d[k]; }
}

static void gather_strided(char *dst, const char *src, int64_t len, int64_t stride, size_t es) {
    if (es == 4) {
        uint32_t *o = (uint32_t *)dst;
        const uint32_t *x = (const uint32_t *)src;
        for (int64_t j = 0; j < len; j++) o[j] = x[j * stride];
    } else if (es == 8) {
        uint64_t *o = (uint64_t *)dst;
        const uint64_t *x = (const uint64_t *)src;
        for (int64_t j = 0; j < len; j++) o[j] = x[j * stride];
    } else {
        for (int64_t j = 0; j < len; j++) memcpy(dst + (size_t)j * es, src + j * stride * (int64_t)es, es);
    }
}

/* rows of the last dim; memcpy when the last source stride is 1 */
static void scopy_rows(void *arg, int64_t b, int64_t e, int tid) {
    const scopy *c = arg;
    int r = c->rank;
    int64_t len = c->d[r - 1], sl = c->s[r - 1], es = (int64_t)c->es;
    int64_t idx[R], off = 0;
    unflatten(b, r - 1, c->d, idx);
    for (int k = 0; k < r - 1; k++) off += idx[k] * c->s[k];
    char *dst = c->dst + b * len * es;
    for (int64_t row = b; row < e; row++) {
        const char *src = c->src + off * es;
        if (sl == 1) memcpy(dst, src, (size_t)(len * es));
        else gather_strided(dst, src, len, sl, c->es);
        dst += len * es;
        for (int k = r - 2; k >= 0; k--) {
            off += c->s[k];
            if (++idx[k] < c->d[k]) break;
            off -= c->d[k] * c->s[k];
            idx[k] = 0;
        }
    }
}

/* One tile: rows i (contiguous in the source) by columns j (contiguous in
 * the destination).  Both sides stay in L1 within a tile. */
#define TILE_BODY(T)                                                                     \
    do {                                                                                 \
        T *o = (T *)dst;                                                                 \
        const T *x = (const T *)src;                                                     \
        for (int64_t i = 0; i < ni; i++)                                                 \
            for (int64_t j = 0; j < nj; j++) o[i * dstride + j] = x[i + j * sstride];    \
    } while (0)
CAM__HOT static void tile4(char *dst, const char *src, int64_t ni, int64_t nj, int64_t dstride,
                           int64_t sstride) {
    TILE_BODY(uint32_t);
}
CAM__HOT static void tile8(char *dst, const char *src, int64_t ni, int64_t nj, int64_t dstride,
                           int64_t sstride) {
    TILE_BODY(uint64_t);
}

static void scopy_tiles(void *arg, int64_t b, int64_t e, int tid) {
    const scopy *c = arg;
    int r = c->rank, q = c->q;
    int64_t es = (int64_t)c->es, last = c->d[r - 1], cs = c->s[r - 1], dq = c->ds[q];
    for (int64_t it = b; it < e; it++) {
        int64_t ct = it % c->ctiles, rest = it / c->ctiles;
        int64_t qt = rest % c->qtiles, batch = rest / c->qtiles;
        int64_t soff = 0, doff = 0;
        for (int k = r - 2; k >= 0; k--) {
            if (k == q) continue;
            int64_t i = batch % c->d[k];
            batch /= c->d[k];
            soff += i * c->s[k];
            doff += i * c->ds[k];
        }
        int64_t i0 = qt * TILE, j0 = ct * TILE;
        int64_t ni = min64(TILE, c->d[q] - i0), nj = min64(TILE, last - j0);
        char *dst = c->dst + (doff + i0 * dq + j0) * es;
        const char *src = c->src + (soff + i0 + j0 * cs) * es;
        if (es == 4) tile4(dst, src, ni, nj, dq, cs);
        else tile8(dst, src, ni, nj, dq, cs);
    }
}

static void scopy_run(scopy *c, int64_t numel, const cam__ctx *ctx) {
    if (numel == 0) return;
    scopy_simplify(c);
    int r = c->rank;
    int64_t last = c->d[r - 1];
    c->q = -1;
    if (c->s[r - 1] != 1 && (c->es == 4 || c->es == 8))
        for (int k = 0; k < r - 1; k++)
            if (c->s[k] == 1) c->q = k;
    if (c->q < 0) {
        int64_t rows = numel / last;
        cam__ctx_parallel(ctx, rows, max64(1, GRAIN_ELEMS / last), scopy_rows, c);
        return;
    }
    c->qtiles = (c->d[c->q] + TILE - 1) / TILE;
    c->ctiles = (last + TILE - 1) / TILE;
    int64_t batch = numel / (c->d[c->q] * last);
    cam__ctx_parallel(ctx, batch * c->qtiles * c->ctiles, GRAIN_ELEMS / (TILE * TILE), scopy_tiles, c);
}

/* Flatten, Reshape, Squeeze and Unsqueeze only relabel the shape: their
 * kernels copy the elements (nothing when the planner made the output an
 * alias of the input, which copy_data detects). */
#define VIEW_KERNELS(OP)                                                                                     \
    void cam__op_##OP##_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,  \
                                const cam__ctx *ctx) {                                                       \
        copy_data(in[0], out[0], ctx);                                                                       \
    }                                                                                                        \
    void cam__op_##OP##_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, \
                                  const cam__ctx *ctx) {                                                     \
        copy_elems_ref(in[0], out[0]);                                                                       \
    }

/* ---- Flatten ------------------------------------------------------------ */

typedef struct { int64_t axis; } flatten_p;

cam_status cam__op_Flatten_check(cam__node *n, char *err, size_t errlen) {
    flatten_p *p;
    NEW_PARAMS(n, p, sizeof *p);
    return attr_int(n, "axis", 1, &p->axis, err, errlen);
}

cam_status cam__op_Flatten_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out,
                                 char *err, size_t errlen) {
    const flatten_p *p = n->params;
    const cam__tensor *x = in[0];
    cam_status st = need_dtype(n, x, err, errlen);
    if (st) return st;
    /* axis may equal rank (all dims go to the second output dim) */
    int64_t axis = p->axis < 0 ? p->axis + x->rank : p->axis;
    if (axis < 0 || axis > x->rank)
        return op_fail(n, err, errlen, CAM_EFORMAT, "axis %lld out of range for rank %d",
                       (long long)p->axis, x->rank);
    int64_t d[2] = {1, 1};
    for (int k = 0; k < x->rank; k++) d[k < axis ? 0 : 1] *= x->dims[k];
    n->scratch = 0;
    return set_out(n, out[0], x->dtype, 2, d, err, errlen);
}

VIEW_KERNELS(Flatten)

/* ---- Reshape ------------------------------------------------------------ */

typedef struct { bool allowzero; } reshape_p;

cam_status cam__op_Reshape_check(cam__node *n, char *err, size_t errlen) {
    reshape_p *p;
    NEW_PARAMS(n, p, sizeof *p);
    int64_t az = 0;
    cam_status st = n->opset >= 14 ? attr_int(n, "allowzero", 0, &az, err, errlen) : CAM_OK;
    if (st) return st;
    p->allowzero = az != 0;
    if (n->opset >= 5 && n->n_in < 2)
        return op_fail(n, err, errlen, CAM_EFORMAT, "needs a 'shape' input from opset 5");
    return CAM_OK;
}

cam_status cam__op_Reshape_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out,
                                 char *err, size_t errlen) {
    const reshape_p *p = n->params;
    const cam__tensor *x = in[0];
    cam_status st = need_dtype(n, x, err, errlen);
    if (st) return st;
    int64_t shape[R];
    int cnt;
    if (n->opset < 5) {
        const int64_t *v;
        if ((st = attr_ints(n, "shape", &v, &cnt, err, errlen))) return st;
        if (cnt < 0) return op_fail(n, err, errlen, CAM_EFORMAT, "missing 'shape' attribute");
        if (cnt > R) return op_fail(n, err, errlen, CAM_EUNSUPPORTED, "rank %d exceeds %d", cnt, R);
        if (cnt) memcpy(shape, v, (size_t)cnt * sizeof *v);
    } else {
        const cam__tensor *s = input(n, in, 1);
        if (!s) return op_fail(n, err, errlen, CAM_EFORMAT, "missing 'shape' input");
        if ((st = const_ints(n, s, "shape", shape, R, &cnt, err, errlen))) return st;
    }
    int infer = -1;
    bool has_zero = false;
    size_t known = 1;
    for (int k = 0; k < cnt; k++) {
        if (shape[k] == -1) {
            if (infer >= 0) return op_fail(n, err, errlen, CAM_EFORMAT, "more than one -1 in shape");
            infer = k;
            continue;
        }
        if (shape[k] < -1) return op_fail(n, err, errlen, CAM_EFORMAT, "invalid dim %lld", (long long)shape[k]);
        if (shape[k] == 0 && !p->allowzero) {
            /* 0 copies the input dim at the same index */
            if (k >= x->rank)
                return op_fail(n, err, errlen, CAM_EFORMAT, "dim %d is 0 but input has rank %d", k, x->rank);
            shape[k] = x->dims[k];
        } else if (shape[k] == 0) {
            has_zero = true;
        }
        if (!cam__mul_ok(known, (size_t)shape[k], &known))
            return op_fail(n, err, errlen, CAM_ELIMIT, "shape too large");
    }
    if (infer >= 0) {
        if (has_zero) return op_fail(n, err, errlen, CAM_EFORMAT, "allowzero with both 0 and -1 in shape");
        if (known == 0 || x->numel % known)
            return op_fail(n, err, errlen, CAM_EFORMAT, "cannot infer -1: %zu elements into %zu",
                           x->numel, known);
        shape[infer] = (int64_t)(x->numel / known);
        known *= (size_t)shape[infer];
    }
    if (known != x->numel)
        return op_fail(n, err, errlen, CAM_EFORMAT, "cannot reshape %zu elements into %zu", x->numel, known);
    n->scratch = 0;
    return set_out(n, out[0], x->dtype, cnt, shape, err, errlen);
}

VIEW_KERNELS(Reshape)

/* ---- Squeeze / Unsqueeze ------------------------------------------------ */

/* axes are an attribute before opset 13 and an input from 13 on */
static cam_status read_axes(cam__node *n, cam__tensor *const *in, int64_t *axes, int *cnt,
                            char *err, size_t errlen) {
    if (n->opset < 13) {
        const int64_t *v;
        cam_status st = attr_ints(n, "axes", &v, cnt, err, errlen);
        if (st) return st;
        if (*cnt > R) return op_fail(n, err, errlen, CAM_EUNSUPPORTED, "%d axes, at most %d supported", *cnt, R);
        if (*cnt > 0) memcpy(axes, v, (size_t)*cnt * sizeof *v);
        return CAM_OK;
    }
    return const_ints(n, input(n, in, 1), "axes", axes, R, cnt, err, errlen);
}

cam_status cam__op_Squeeze_check(cam__node *n, char *err, size_t errlen) { return CAM_OK; }

cam_status cam__op_Squeeze_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out,
                                 char *err, size_t errlen) {
    const cam__tensor *x = in[0];
    cam_status st = need_dtype(n, x, err, errlen);
    if (st) return st;
    int64_t axes[R];
    int cnt;
    bool mask[R];
    if ((st = read_axes(n, in, axes, &cnt, err, errlen))) return st;
    if (cnt > 0) {
        if ((st = norm_axes(n, axes, cnt, x->rank, mask, NULL, err, errlen))) return st;
    } else {
        /* no (or empty) axes: every size-1 dim goes */
        for (int k = 0; k < R; k++) mask[k] = k < x->rank && x->dims[k] == 1;
    }
    int64_t d[R];
    int r = 0;
    for (int k = 0; k < x->rank; k++) {
        if (!mask[k]) { d[r++] = x->dims[k]; continue; }
        if (x->dims[k] != 1)
            return op_fail(n, err, errlen, CAM_EFORMAT, "cannot squeeze axis %d of size %lld", k,
                           (long long)x->dims[k]);
    }
    n->scratch = 0;
    return set_out(n, out[0], x->dtype, r, d, err, errlen);
}

VIEW_KERNELS(Squeeze)

cam_status cam__op_Unsqueeze_check(cam__node *n, char *err, size_t errlen) {
    if (n->opset >= 13 && (n->n_in < 2 || n->in[1] < 0))
        return op_fail(n, err, errlen, CAM_EFORMAT, "needs an 'axes' input from opset 13");
    return CAM_OK;
}

cam_status cam__op_Unsqueeze_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out,
                                   char *err, size_t errlen) {
    const cam__tensor *x = in[0];
    cam_status st = need_dtype(n, x, err, errlen);
    if (st) return st;
    int64_t axes[R];
    int cnt;
    bool mask[R];
    if ((st = read_axes(n, in, axes, &cnt, err, errlen))) return st;
    if (cnt < 0) return op_fail(n, err, errlen, CAM_EFORMAT, "missing axes");
    int r = x->rank + cnt;
    if (r > R) return op_fail(n, err, errlen, CAM_EUNSUPPORTED, "output rank %d exceeds %d", r, R);
    /* axes index the output */
    if ((st = norm_axes(n, axes, cnt, r, mask, NULL, err, errlen))) return st;
    int64_t d[R];
    for (int k = 0, j = 0; k < r; k++) d[k] = mask[k] ? 1 : x->dims[j++];
    n->scratch = 0;
    return set_out(n, out[0], x->dtype, r, d, err, errlen);
}

VIEW_KERNELS(Unsqueeze)

/* ---- Transpose ---------------------------------------------------------- */

/* perm[j] = input dim that becomes output dim j (resolved at shape time) */
typedef struct { int n_perm; int64_t attr[R]; int perm[R]; } transpose_p;

cam_status cam__op_Transpose_check(cam__node *n, char *err, size_t errlen) {
    transpose_p *p;
    NEW_PARAMS(n, p, sizeof *p);
    const int64_t *v;
    cam_status st = attr_ints(n, "perm", &v, &p->n_perm, err, errlen);
    if (st) return st;
    if (p->n_perm > R) return op_fail(n, err, errlen, CAM_EUNSUPPORTED, "perm of %d dims, at most %d", p->n_perm, R);
    if (p->n_perm > 0) memcpy(p->attr, v, (size_t)p->n_perm * sizeof *v);
    return CAM_OK;
}

cam_status cam__op_Transpose_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out,
                                   char *err, size_t errlen) {
    transpose_p *p = n->params;
    const cam__tensor *x = in[0];
    cam_status st = need_dtype(n, x, err, errlen);
    if (st) return st;
    int r = x->rank;
    if (p->n_perm < 0) {
        for (int j = 0; j < r; j++) p->perm[j] = r - 1 - j;
    } else {
        if (p->n_perm != r)
            return op_fail(n, err, errlen, CAM_EFORMAT, "perm has %d entries for rank %d", p->n_perm, r);
        bool seen[R] = {false};
        for (int j = 0; j < r; j++) {
            int64_t a = p->attr[j];
            if (a < 0 || a >= r || seen[a])
                return op_fail(n, err, errlen, CAM_EFORMAT, "perm is not a permutation of 0..%d", r - 1);
            seen[a] = true;
            p->perm[j] = (int)a;
        }
    }
    int64_t d[R];
    for (int j = 0; j < r; j++) d[j] = x->dims[p->perm[j]];
    n->scratch = 0;
    return set_out(n, out[0], x->dtype, r, d, err, errlen);
}

void cam__op_Transpose_forward(const cam__node *n, const cam__tensor *const *in,
                               cam__tensor *const *out, const cam__ctx *ctx) {
    const transpose_p *p = n->params;
    const cam__tensor *x = in[0];
    int64_t is[R];
    strides_of(x, is);
    scopy c = {.dst = out[0]->data, .src = x->data, .es = cam_dtype_size(x->dtype), .rank = x->rank};
    for (int j = 0; j < x->rank; j++) {
        c.d[j] = out[0]->dims[j];
        c.s[j] = is[p->perm[j]];
    }
    scopy_run(&c, (int64_t)out[0]->numel, ctx);
}

void cam__op_Transpose_reference(const cam__node *n, const cam__tensor *const *in,
                                 cam__tensor *const *out, const cam__ctx *ctx) {
    const transpose_p *p = n->params;
    const cam__tensor *x = in[0], *y = out[0];
    size_t es = cam_dtype_size(x->dtype);
    int64_t is[R], idx[R];
    strides_of(x, is);
    for (size_t i = 0; i < y->numel; i++) {
        unflatten((int64_t)i, y->rank, y->dims, idx);
        int64_t src = 0;
        for (int j = 0; j < y->rank; j++) src += idx[j] * is[p->perm[j]];
        copy_elem(y->data, i, x->data, (size_t)src, es);
    }
}

/* ---- Concat and Split: the segment walk -------------------------------- */

/* The whole tensor is [outer, row] with row = sum(part axis dims) * inner;
 * each row is the parts' blocks in order.  A task walks its range of the
 * whole, copying one maximal run per step.  Concat gathers parts into the
 * whole, Split scatters the whole into parts. */
typedef struct {
    char *whole;
    const cam__tensor *const *parts;
    int n_parts, axis;
    int64_t inner, row;
    size_t es;
    bool scatter;
} segwalk;

static int64_t seg_block(const segwalk *g, int i) { return g->parts[i]->dims[g->axis] * g->inner; }

static void segwalk_task(void *arg, int64_t b, int64_t e, int tid) {
    const segwalk *g = arg;
    int64_t o = b / g->row, r = b % g->row, off = 0, es = (int64_t)g->es;
    int i = 0;
    for (int64_t p = b; p < e;) {
        int64_t blk = seg_block(g, i);
        if (r >= off + blk) {
            /* next part; past the last part is the next row */
            off += blk;
            if (++i == g->n_parts) { i = 0; off = 0; r = 0; o++; }
            continue;
        }
        int64_t take = min64(off + blk - r, e - p);
        char *whole = g->whole + p * es;
        char *part = (char *)g->parts[i]->data + (o * blk + r - off) * es;
        if (g->scatter) memcpy(part, whole, (size_t)(take * es));
        else memcpy(whole, part, (size_t)(take * es));
        p += take;
        r += take;
    }
}

typedef struct {
    int64_t axis;
    int ax;
    bool aliased;   /* the plan placed the inputs inside the output: nothing to copy */
} concat_p;

bool cam__concat_can_alias(const cam__node *n, const cam__tensor *const *in, const cam__tensor *out,
                           size_t *offsets) {
    const concat_p *p = n->params;
    if (!p || strcmp(n->op_type, "Concat") != 0) return false;
    for (int k = 0; k < p->ax; k++)
        if (out->dims[k] != 1) return false;
    size_t off = 0, es = cam_dtype_size(out->dtype);
    for (int i = 0; i < n->n_in; i++) {
        if (!in[i]) return false;
        offsets[i] = off;
        off += in[i]->numel * es;
    }
    return off == out->numel * es;
}

void cam__concat_set_aliased(cam__node *n) { ((concat_p *)n->params)->aliased = true; }

cam_status cam__op_Concat_check(cam__node *n, char *err, size_t errlen) {
    concat_p *p;
    NEW_PARAMS(n, p, sizeof *p);
    if (n->opset >= 4 && !cam__attr_find(n, "axis"))
        return op_fail(n, err, errlen, CAM_EFORMAT, "missing 'axis' attribute");
    return attr_int(n, "axis", 1, &p->axis, err, errlen);
}

cam_status cam__op_Concat_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out,
                                char *err, size_t errlen) {
    concat_p *p = n->params;
    const cam__tensor *x0 = in[0];
    if (!x0) return op_fail(n, err, errlen, CAM_EFORMAT, "missing input 0");
    cam_status st = need_dtype(n, x0, err, errlen);
    if (st) return st;
    if (!cam__norm_axis(p->axis, x0->rank, &p->ax))
        return op_fail(n, err, errlen, CAM_EFORMAT, "axis %lld out of range for rank %d", (long long)p->axis,
                       x0->rank);
    int64_t d[R];
    memcpy(d, x0->dims, sizeof d);
    d[p->ax] = 0;
    for (int i = 0; i < n->n_in; i++) {
        const cam__tensor *x = in[i];
        if (!x) return op_fail(n, err, errlen, CAM_EFORMAT, "missing input %d", i);
        if (x->dtype != x0->dtype)
            return op_fail(n, err, errlen, CAM_EFORMAT, "input %d element type differs from input 0", i);
        if (x->rank != x0->rank)
            return op_fail(n, err, errlen, CAM_EFORMAT, "input %d has rank %d, input 0 rank %d", i, x->rank,
                           x0->rank);
        for (int k = 0; k < x->rank; k++)
            if (k != p->ax && x->dims[k] != x0->dims[k])
                return op_fail(n, err, errlen, CAM_EFORMAT, "input %d dim %d is %lld, input 0 has %lld", i, k,
                               (long long)x->dims[k], (long long)x0->dims[k]);
        d[p->ax] += x->dims[p->ax];
        if (d[p->ax] > ((int64_t)1 << 40)) return op_fail(n, err, errlen, CAM_ELIMIT, "output too large");
    }
    n->scratch = 0;
    return set_out(n, out[0], x0->dtype, x0->rank, d, err, errlen);
}

static int64_t inner_of(const cam__tensor *t, int axis) {
    int64_t v = 1;
    for (int k = axis + 1; k < t->rank; k++) v *= t->dims[k];
    return v;
}

void cam__op_Concat_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                            const cam__ctx *ctx) {
    const concat_p *p = n->params;
    if (p->aliased) return;   /* the inputs were written in place */
    cam__tensor *y = out[0];
    segwalk g = {y->data, in, n->n_in, p->ax, inner_of(y, p->ax), 0, cam_dtype_size(y->dtype), false};
    g.row = y->dims[p->ax] * g.inner;
    cam__ctx_parallel(ctx, (int64_t)y->numel, GRAIN_ELEMS, segwalk_task, &g);
}

void cam__op_Concat_reference(const cam__node *n, const cam__tensor *const *in,
                              cam__tensor *const *out, const cam__ctx *ctx) {
    const concat_p *p = n->params;
    if (p->aliased) return;   /* the inputs were written in place */
    const cam__tensor *y = out[0];
    size_t es = cam_dtype_size(y->dtype);
    int64_t idx[R], s[R];
    for (size_t i = 0; i < y->numel; i++) {
        unflatten((int64_t)i, y->rank, y->dims, idx);
        int part = 0;
        while (idx[p->ax] >= in[part]->dims[p->ax]) idx[p->ax] -= in[part++]->dims[p->ax];
        strides_of(in[part], s);
        int64_t src = 0;
        for (int k = 0; k < y->rank; k++) src += idx[k] * s[k];
        copy_elem(y->data, i, in[part]->data, (size_t)src, es);
    }
}

/* sizes[] has one entry per output, resolved at shape time */
typedef struct { int64_t axis; int ax; int64_t num_outputs; int64_t sizes[]; } split_p;

cam_status cam__op_Split_check(cam__node *n, char *err, size_t errlen) {
    split_p *p;
    NEW_PARAMS(n, p, sizeof *p + (size_t)n->n_out * sizeof(int64_t));
    cam_status st = attr_int(n, "axis", 0, &p->axis, err, errlen);
    if (st) return st;
    p->num_outputs = 0;
    if (n->opset < 18) return CAM_OK;
    if ((st = attr_int(n, "num_outputs", 0, &p->num_outputs, err, errlen))) return st;
    if (cam__attr_find(n, "num_outputs") && p->num_outputs != n->n_out)
        return op_fail(n, err, errlen, CAM_EFORMAT, "num_outputs %lld but %d outputs",
                       (long long)p->num_outputs, n->n_out);
    return CAM_OK;
}

cam_status cam__op_Split_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out,
                               char *err, size_t errlen) {
    split_p *p = n->params;
    const cam__tensor *x = in[0];
    cam_status st = need_dtype(n, x, err, errlen);
    if (st) return st;
    if (!cam__norm_axis(p->axis, x->rank, &p->ax))
        return op_fail(n, err, errlen, CAM_EFORMAT, "axis %lld out of range for rank %d", (long long)p->axis,
                       x->rank);
    int64_t dim = x->dims[p->ax];
    int cnt = -1;
    /* sizes: an input (opset 1 and >= 13), else the 'split' attribute (< 13) */
    if (input(n, in, 1)) {
        if ((st = const_ints(n, in[1], "split", p->sizes, n->n_out, &cnt, err, errlen))) return st;
    } else if (n->opset < 13) {
        const int64_t *v;
        if ((st = attr_ints(n, "split", &v, &cnt, err, errlen))) return st;
        if (cnt > n->n_out) return op_fail(n, err, errlen, CAM_EFORMAT, "split has %d sizes for %d outputs", cnt, n->n_out);
        if (cnt > 0) memcpy(p->sizes, v, (size_t)cnt * sizeof *v);
    }
    if (cnt >= 0) {
        if (cnt != n->n_out)
            return op_fail(n, err, errlen, CAM_EFORMAT, "split has %d sizes for %d outputs", cnt, n->n_out);
        int64_t sum = 0;
        for (int i = 0; i < cnt; i++) {
            if (p->sizes[i] < 0 || p->sizes[i] > dim)
                return op_fail(n, err, errlen, CAM_EFORMAT, "invalid split size %lld", (long long)p->sizes[i]);
            sum += p->sizes[i];
        }
        if (sum != dim)
            return op_fail(n, err, errlen, CAM_EFORMAT, "split sizes sum to %lld, axis has %lld", (long long)sum,
                           (long long)dim);
    } else if (p->num_outputs > 0) {
        /* opset 18: ceil-sized chunks, the last one smaller */
        int64_t chunk = (dim + n->n_out - 1) / n->n_out, last = dim - chunk * (n->n_out - 1);
        if (last < 0)
            return op_fail(n, err, errlen, CAM_EFORMAT, "cannot split %lld into %d outputs", (long long)dim, n->n_out);
        for (int i = 0; i < n->n_out; i++) p->sizes[i] = i + 1 < n->n_out ? chunk : last;
    } else {
        if (dim % n->n_out)
            return op_fail(n, err, errlen, CAM_EFORMAT, "axis of %lld does not split evenly into %d outputs",
                           (long long)dim, n->n_out);
        for (int i = 0; i < n->n_out; i++) p->sizes[i] = dim / n->n_out;
    }
    for (int i = 0; i < n->n_out; i++) {
        int64_t d[R];
        memcpy(d, x->dims, sizeof d);
        d[p->ax] = p->sizes[i];
        if ((st = set_out(n, out[i], x->dtype, x->rank, d, err, errlen))) return st;
    }
    n->scratch = 0;
    return CAM_OK;
}

void cam__op_Split_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                           const cam__ctx *ctx) {
    const split_p *p = n->params;
    const cam__tensor *x = in[0];
    segwalk g = {x->data, (const cam__tensor *const *)out, n->n_out, p->ax, inner_of(x, p->ax), 0,
                 cam_dtype_size(x->dtype), true};
    g.row = x->dims[p->ax] * g.inner;
    cam__ctx_parallel(ctx, (int64_t)x->numel, GRAIN_ELEMS, segwalk_task, &g);
}

void cam__op_Split_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                             const cam__ctx *ctx) {
    const split_p *p = n->params;
    const cam__tensor *x = in[0];
    size_t es = cam_dtype_size(x->dtype);
    int64_t idx[R], s[R], start = 0;
    strides_of(x, s);
    for (int o = 0; o < n->n_out; o++) {
        const cam__tensor *y = out[o];
        for (size_t i = 0; i < y->numel; i++) {
            unflatten((int64_t)i, y->rank, y->dims, idx);
            idx[p->ax] += start;
            int64_t src = 0;
            for (int k = 0; k < y->rank; k++) src += idx[k] * s[k];
            copy_elem(y->data, i, x->data, (size_t)src, es);
        }
        start += p->sizes[o];
    }
}

/* ---- Slice -------------------------------------------------------------- */

/* output element i_k along dim k reads input index start[k] + i_k * step[k] */
typedef struct { int64_t start[R], step[R]; } slice_p;

cam_status cam__op_Slice_check(cam__node *n, char *err, size_t errlen) {
    slice_p *p;
    NEW_PARAMS(n, p, sizeof *p);
    if (n->opset >= 10 && n->n_in < 3)
        return op_fail(n, err, errlen, CAM_EFORMAT, "needs 'starts' and 'ends' inputs from opset 10");
    return CAM_OK;
}

/* starts/ends/axes/steps from attributes (< 10) or constant inputs */
static cam_status slice_args(cam__node *n, cam__tensor *const *in, int64_t v[4][R], int cnt[4],
                             char *err, size_t errlen) {
    static const char *names[4] = {"starts", "ends", "axes", "steps"};
    cam_status st;
    for (int a = 0; a < 4; a++) {
        if (n->opset >= 10) {
            st = const_ints(n, input(n, in, a + 1), names[a], v[a], R, &cnt[a], err, errlen);
        } else {
            const int64_t *p = NULL;
            st = a < 3 ? attr_ints(n, names[a], &p, &cnt[a], err, errlen) : CAM_OK;
            if (a == 3) cnt[a] = -1;
            if (!st && cnt[a] > R)
                return op_fail(n, err, errlen, CAM_EUNSUPPORTED, "'%s' has %d values, at most %d", names[a],
                               cnt[a], R);
            if (!st && cnt[a] > 0) memcpy(v[a], p, (size_t)cnt[a] * sizeof *p);
        }
        if (st) return st;
    }
    if (cnt[0] < 0 || cnt[1] < 0) return op_fail(n, err, errlen, CAM_EFORMAT, "missing starts or ends");
    for (int a = 1; a < 4; a++)
        if (cnt[a] >= 0 && cnt[a] != cnt[0])
            return op_fail(n, err, errlen, CAM_EFORMAT, "'%s' has %d values, 'starts' %d", names[a], cnt[a], cnt[0]);
    return CAM_OK;
}

cam_status cam__op_Slice_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out,
                               char *err, size_t errlen) {
    slice_p *p = n->params;
    const cam__tensor *x = in[0];
    cam_status st = need_dtype(n, x, err, errlen);
    if (st) return st;
    int64_t v[4][R], d[R];
    int cnt[4], ax[R];
    bool mask[R];
    if ((st = slice_args(n, in, v, cnt, err, errlen))) return st;
    int m = cnt[0];
    if (cnt[2] < 0)
        for (int i = 0; i < m; i++) v[2][i] = i;
    if ((st = norm_axes(n, v[2], m, x->rank, mask, ax, err, errlen))) return st;
    for (int k = 0; k < x->rank; k++) { p->start[k] = 0; p->step[k] = 1; d[k] = x->dims[k]; }
    for (int i = 0; i < m; i++) {
        int k = ax[i];
        int64_t dim = x->dims[k], s = v[0][i], e = v[1][i], step = cnt[3] < 0 ? 1 : v[3][i];
        if (step == 0) return op_fail(n, err, errlen, CAM_EFORMAT, "step 0 on axis %d", k);
        /* any |step| > dim takes one element; clamping keeps -step representable */
        step = step < 0 ? max64(step, -dim - 1) : min64(step, dim + 1);
        if (s < 0) s += dim;   /* cannot overflow: s < 0 <= dim */
        if (e < 0) e += dim;
        int64_t len;
        if (dim == 0) {
            len = 0;
        } else if (step > 0) {
            s = max64(0, min64(s, dim));
            e = max64(0, min64(e, dim));
            len = e > s ? (e - s + step - 1) / step : 0;
        } else {
            /* spec: start into [0, dim-1], end into [-1, dim-1] (-1: through index 0) */
            s = max64(0, min64(s, dim - 1));
            e = max64(-1, min64(e, dim - 1));
            len = s > e ? (s - e - step - 1) / -step : 0;
        }
        p->start[k] = len ? s : 0;
        p->step[k] = step;
        d[k] = len;
    }
    n->scratch = 0;
    return set_out(n, out[0], x->dtype, x->rank, d, err, errlen);
}

void cam__op_Slice_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                           const cam__ctx *ctx) {
    const slice_p *p = n->params;
    const cam__tensor *x = in[0];
    int64_t is[R], base = 0;
    strides_of(x, is);
    scopy c = {.dst = out[0]->data, .es = cam_dtype_size(x->dtype), .rank = x->rank};
    for (int k = 0; k < x->rank; k++) {
        c.d[k] = out[0]->dims[k];
        c.s[k] = p->step[k] * is[k];
        base += p->start[k] * is[k];
    }
    c.src = (const char *)x->data + base * (int64_t)c.es;
    scopy_run(&c, (int64_t)out[0]->numel, ctx);
}

void cam__op_Slice_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                             const cam__ctx *ctx) {
    const slice_p *p = n->params;
    const cam__tensor *x = in[0], *y = out[0];
    size_t es = cam_dtype_size(x->dtype);
    int64_t is[R], idx[R];
    strides_of(x, is);
    for (size_t i = 0; i < y->numel; i++) {
        unflatten((int64_t)i, y->rank, y->dims, idx);
        int64_t src = 0;
        for (int k = 0; k < y->rank; k++) src += (p->start[k] + idx[k] * p->step[k]) * is[k];
        copy_elem(y->data, i, x->data, (size_t)src, es);
    }
}

/* ---- Pad ---------------------------------------------------------------- */

enum { PAD_CONSTANT, PAD_EDGE, PAD_REFLECT, PAD_WRAP };

/* Negative pads crop first; positive pads then extend the cropped input
 * [lo, lo + de) with pb elements before it (ORT's and numpy's reading:
 * edge/reflect/wrap refer to the cropped tensor). */
typedef struct {
    int mode;
    float value;
    int64_t pb[R], lo[R], de[R];
} pad_p;

cam_status cam__op_Pad_check(cam__node *n, char *err, size_t errlen) {
    pad_p *p;
    NEW_PARAMS(n, p, sizeof *p);
    const char *mode = cam__attr_string(n, "mode", "constant");
    if (strcmp(mode, "constant") == 0) p->mode = PAD_CONSTANT;
    else if (strcmp(mode, "edge") == 0) p->mode = PAD_EDGE;
    else if (strcmp(mode, "reflect") == 0) p->mode = PAD_REFLECT;
    else if (strcmp(mode, "wrap") == 0 && n->opset >= 19) p->mode = PAD_WRAP;
    else return op_fail(n, err, errlen, CAM_EUNSUPPORTED, "mode '%s' not supported", mode);
    p->value = n->opset < 11 ? cam__attr_float(n, "value", 0.0f) : 0.0f;
    if (n->opset >= 11 && n->n_in < 2)
        return op_fail(n, err, errlen, CAM_EFORMAT, "needs a 'pads' input from opset 11");
    return CAM_OK;
}

/* index into the cropped input [0, de) for offset j from its start; -1 = fill */
static int64_t pad_map(int mode, int64_t j, int64_t de) {
    if (j >= 0 && j < de) return j;
    switch (mode) {
    case PAD_EDGE: return j < 0 ? 0 : de - 1;
    case PAD_WRAP: return ((j % de) + de) % de;
    case PAD_REFLECT: {
        if (de == 1) return 0;
        int64_t per = 2 * (de - 1), m = ((j % per) + per) % per;
        return m < de ? m : per - m;
    }
    default: return -1;
    }
}

cam_status cam__op_Pad_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out,
                             char *err, size_t errlen) {
    pad_p *p = n->params;
    const cam__tensor *x = in[0];
    if (x->dtype != CAM_FLOAT)
        return op_fail(n, err, errlen, CAM_EUNSUPPORTED, "only float data supported");
    int r = x->rank;
    int64_t pads[2 * R], axes[R];
    int cnt, n_axes = -1, ax[R];
    bool mask[R];
    cam_status st;
    if (n->opset < 11) {
        const int64_t *v;
        if ((st = attr_ints(n, n->opset < 2 ? "paddings" : "pads", &v, &cnt, err, errlen))) return st;
        if (cnt < 0) return op_fail(n, err, errlen, CAM_EFORMAT, "missing 'pads' attribute");
        if (cnt > 2 * R) return op_fail(n, err, errlen, CAM_EFORMAT, "%d pads for rank %d", cnt, r);
        if (cnt) memcpy(pads, v, (size_t)cnt * sizeof *v);
    } else {
        if ((st = const_ints(n, input(n, in, 1), "pads", pads, 2 * R, &cnt, err, errlen))) return st;
        if (cnt < 0) return op_fail(n, err, errlen, CAM_EFORMAT, "missing 'pads' input");
        const cam__tensor *cv = input(n, in, 2);
        if (cv && cv->numel > 0) {
            if (!cv->data)
                return op_fail(n, err, errlen, CAM_EUNSUPPORTED, "requires a constant 'constant_value' input");
            if (cv->dtype != CAM_FLOAT || cv->numel != 1)
                return op_fail(n, err, errlen, CAM_EFORMAT, "'constant_value' must be one float");
            p->value = cam__f32(cv)[0];
        }
        if (n->opset >= 18 && (st = const_ints(n, input(n, in, 3), "axes", axes, R, &n_axes, err, errlen)))
            return st;
    }
    if (n_axes < 0) {
        n_axes = r;
        for (int k = 0; k < r; k++) axes[k] = k;
    }
    if (cnt != 2 * n_axes)
        return op_fail(n, err, errlen, CAM_EFORMAT, "%d pads for %d axes", cnt, n_axes);
    if ((st = norm_axes(n, axes, n_axes, r, mask, ax, err, errlen))) return st;
    int64_t beg[R] = {0}, end[R] = {0}, d[R];
    for (int i = 0; i < n_axes; i++) { beg[ax[i]] = pads[i]; end[ax[i]] = pads[i + n_axes]; }
    for (int k = 0; k < r; k++) {
        int64_t dim = x->dims[k];
        /* |pad| beyond 2^40 cannot be a real model and would overflow below */
        if (beg[k] < -dim || end[k] < -dim || beg[k] > ((int64_t)1 << 40) || end[k] > ((int64_t)1 << 40))
            return op_fail(n, err, errlen, CAM_EFORMAT, "pads %lld, %lld invalid for axis %d of size %lld",
                           (long long)beg[k], (long long)end[k], k, (long long)dim);
        p->lo[k] = beg[k] < 0 ? -beg[k] : 0;
        p->de[k] = dim - p->lo[k] - (end[k] < 0 ? -end[k] : 0);
        p->pb[k] = beg[k] > 0 ? beg[k] : 0;
        if (p->de[k] < 0)
            return op_fail(n, err, errlen, CAM_EFORMAT, "pads crop more than axis %d of size %lld", k, (long long)dim);
        d[k] = p->pb[k] + p->de[k] + (end[k] > 0 ? end[k] : 0);
        if (p->mode != PAD_CONSTANT && p->de[k] == 0 && d[k] > 0)
            return op_fail(n, err, errlen, CAM_EFORMAT, "cannot pad an empty axis %d in this mode", k);
    }
    n->scratch = 0;
    return set_out(n, out[0], x->dtype, r, d, err, errlen);
}

typedef struct {
    const pad_p *p;
    const cam__tensor *x, *y;
    int64_t is[R];
} pad_job;

static void pad_rows(void *arg, int64_t b, int64_t e, int tid) {
    const pad_job *j = arg;
    const pad_p *p = j->p;
    const cam__tensor *y = j->y;
    int r = y->rank, l = r - 1;
    int64_t len = y->dims[l], idx[R];
    const float *src = cam__f32(j->x);
    float *dst = cam__f32(y) + b * len;
    unflatten(b, l, y->dims, idx);
    int64_t b0 = p->pb[l], b1 = b0 + p->de[l];   /* [b0, b1) copies input */
    for (int64_t row = b; row < e; row++, dst += len) {
        int64_t off = 0;
        bool fill = false;
        for (int k = 0; k < l; k++) {
            int64_t m = pad_map(p->mode, idx[k] - p->pb[k], p->de[k]);
            if (m < 0) { fill = true; break; }
            off += (p->lo[k] + m) * j->is[k];
        }
        if (fill) {
            for (int64_t t = 0; t < len; t++) dst[t] = p->value;
        } else {
            const float *s = src + off + p->lo[l];
            if (p->mode == PAD_CONSTANT) {
                for (int64_t t = 0; t < b0; t++) dst[t] = p->value;
                for (int64_t t = b1; t < len; t++) dst[t] = p->value;
            } else {
                for (int64_t t = 0; t < b0; t++) dst[t] = s[pad_map(p->mode, t - b0, p->de[l])];
                for (int64_t t = b1; t < len; t++) dst[t] = s[pad_map(p->mode, t - b0, p->de[l])];
            }
            if (b1 > b0) memcpy(dst + b0, s, (size_t)(b1 - b0) * sizeof *dst);
        }
        for (int k = l - 1; k >= 0; k--) {
            if (++idx[k] < y->dims[k]) break;
            idx[k] = 0;
        }
    }
}

void cam__op_Pad_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                         const cam__ctx *ctx) {
    const cam__tensor *x = in[0], *y = out[0];
    if (y->numel == 0) return;
    if (y->rank == 0) { cam__f32(y)[0] = cam__f32(x)[0]; return; }
    pad_job j = {n->params, x, y, {0}};
    strides_of(x, j.is);
    int64_t len = y->dims[y->rank - 1];
    cam__ctx_parallel(ctx, (int64_t)y->numel / len, max64(1, GRAIN_ELEMS / len), pad_rows, &j);
}

void cam__op_Pad_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                           const cam__ctx *ctx) {
    const pad_p *p = n->params;
    const cam__tensor *x = in[0], *y = out[0];
    int64_t is[R], idx[R];
    strides_of(x, is);
    for (size_t i = 0; i < y->numel; i++) {
        unflatten((int64_t)i, y->rank, y->dims, idx);
        int64_t src = 0;
        bool fill = false;
        for (int k = 0; k < y->rank && !fill; k++) {
            int64_t m = pad_map(p->mode, idx[k] - p->pb[k], p->de[k]);
            if (m < 0) fill = true;
            else src += (p->lo[k] + m) * is[k];
        }
        cam__f32(y)[i] = fill ? p->value : cam__f32(x)[src];
    }
}

/* ---- Shape -------------------------------------------------------------- */

/* start/end as written (opset 15), then resolved against the rank */
typedef struct { int64_t start_attr, end_attr; bool has_end; int64_t start, end; } shape_p;

cam_status cam__op_Shape_check(cam__node *n, char *err, size_t errlen) {
    shape_p *p;
    NEW_PARAMS(n, p, sizeof *p);
    if (n->opset < 15) return CAM_OK;
    cam_status st = attr_int(n, "start", 0, &p->start_attr, err, errlen);
    if (st) return st;
    p->has_end = cam__attr_find(n, "end") != NULL;
    return attr_int(n, "end", 0, &p->end_attr, err, errlen);
}

/* negative counts from the back; both clamp into [0, rank] */
static int64_t shape_bound(int64_t v, int64_t rank) {
    if (v < 0) v += rank;
    return v < 0 ? 0 : min64(v, rank);
}

cam_status cam__op_Shape_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out,
                               char *err, size_t errlen) {
    shape_p *p = n->params;
    int64_t r = in[0]->rank;
    p->start = shape_bound(p->start_attr, r);
    p->end = p->has_end ? shape_bound(p->end_attr, r) : r;
    int64_t d = max64(0, p->end - p->start);
    n->scratch = 0;
    return set_out(n, out[0], CAM_INT64, 1, &d, err, errlen);
}

void cam__op_Shape_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                           const cam__ctx *ctx) {
    const shape_p *p = n->params;
    for (int64_t k = p->start; k < p->end; k++) cam__i64(out[0])[k - p->start] = in[0]->dims[k];
}

void cam__op_Shape_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                             const cam__ctx *ctx) {
    cam__op_Shape_forward(n, in, out, ctx);
}

/* ---- Gather ------------------------------------------------------------- */

typedef struct { int64_t axis; int ax; } gather_p;

cam_status cam__op_Gather_check(cam__node *n, char *err, size_t errlen) {
    gather_p *p;
    NEW_PARAMS(n, p, sizeof *p);
    return attr_int(n, "axis", 0, &p->axis, err, errlen);
}

cam_status cam__op_Gather_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out,
                                char *err, size_t errlen) {
    gather_p *p = n->params;
    const cam__tensor *x = in[0], *ix = in[1];
    cam_status st = need_dtype(n, x, err, errlen);
    if (st) return st;
    if (ix->dtype != CAM_INT64) return op_fail(n, err, errlen, CAM_EFORMAT, "indices must be integers");
    if (x->rank < 1) return op_fail(n, err, errlen, CAM_EFORMAT, "data must have rank >= 1");
    if (!cam__norm_axis(p->axis, x->rank, &p->ax))
        return op_fail(n, err, errlen, CAM_EFORMAT, "axis %lld out of range for rank %d", (long long)p->axis,
                       x->rank);
    int64_t dim = x->dims[p->ax];
    if (ix->data)
        for (size_t i = 0; i < ix->numel; i++) {
            int64_t v = cam__i64(ix)[i];
            if (v < -dim || v >= dim)
                return op_fail(n, err, errlen, CAM_EFORMAT, "index %lld out of range for axis of size %lld",
                               (long long)v, (long long)dim);
        }
    int r = x->rank - 1 + ix->rank;
    if (r > R) return op_fail(n, err, errlen, CAM_EUNSUPPORTED, "output rank %d exceeds %d", r, R);
    int64_t d[R];
    int k = 0;
    for (int a = 0; a < p->ax; a++) d[k++] = x->dims[a];
    for (int a = 0; a < ix->rank; a++) d[k++] = ix->dims[a];
    for (int a = p->ax + 1; a < x->rank; a++) d[k++] = x->dims[a];
    n->scratch = 0;
    return set_out(n, out[0], x->dtype, r, d, err, errlen);
}

/* Runtime indices are not validated; one out of range gives zeros rather
 * than a read outside data (forward cannot fail). */
static int64_t gather_index(int64_t v, int64_t dim) {
    if (v < 0) v += dim;
    return v >= 0 && v < dim ? v : -1;
}

typedef struct {
    const char *src;
    char *dst;
    const int64_t *idx;
    int64_t nidx, dim, inner;
    size_t es;
} gather_job;

static void gather_rows(void *arg, int64_t b, int64_t e, int tid) {
    const gather_job *g = arg;
    size_t row = (size_t)g->inner * g->es;
    for (int64_t it = b; it < e; it++) {
        int64_t o = it / g->nidx, k = gather_index(g->idx[it % g->nidx], g->dim);
        char *dst = g->dst + (size_t)it * row;
        if (k < 0) memset(dst, 0, row);
        else memcpy(dst, g->src + (size_t)(o * g->dim + k) * row, row);
    }
}

void cam__op_Gather_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                            const cam__ctx *ctx) {
    const gather_p *p = n->params;
    const cam__tensor *x = in[0], *ix = in[1];
    if (out[0]->numel == 0) return;
    gather_job g = {x->data, out[0]->data, ix->data, (int64_t)ix->numel, x->dims[p->ax],
                    inner_of(x, p->ax), cam_dtype_size(x->dtype)};
    int64_t rows = (int64_t)out[0]->numel / g.inner;
    cam__ctx_parallel(ctx, rows, max64(1, GRAIN_ELEMS / g.inner), gather_rows, &g);
}

void cam__op_Gather_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                              const cam__ctx *ctx) {
    const gather_p *p = n->params;
    const cam__tensor *x = in[0], *ix = in[1], *y = out[0];
    size_t es = cam_dtype_size(x->dtype);
    int64_t xs[R], is[R], idx[R];
    strides_of(x, xs);
    strides_of(ix, is);
    int q = ix->rank;
    for (size_t i = 0; i < y->numel; i++) {
        unflatten((int64_t)i, y->rank, y->dims, idx);
        /* output index = (data dims before axis, index dims, data dims after) */
        int64_t pos = 0, src = 0;
        for (int a = 0; a < q; a++) pos += idx[p->ax + a] * is[a];
        int64_t k = gather_index(cam__i64(ix)[pos], x->dims[p->ax]);
        if (k < 0) { memset((char *)y->data + i * es, 0, es); continue; }
        for (int a = 0; a < p->ax; a++) src += idx[a] * xs[a];
        src += k * xs[p->ax];
        for (int a = p->ax + 1; a < x->rank; a++) src += idx[a - 1 + q] * xs[a];
        copy_elem(y->data, i, x->data, (size_t)src, es);
    }
}

/* ---- Constant ----------------------------------------------------------- */

typedef struct {
    const void *src;      /* points into the node's attribute */
    cam_dtype src_dtype;  /* CAM_INT32 tensors are widened on copy */
    cam_dtype dtype;
    int rank;
    int64_t dims[R];
} constant_p;

cam_status cam__op_Constant_check(cam__node *n, char *err, size_t errlen) {
    constant_p *p;
    NEW_PARAMS(n, p, sizeof *p);
    int found = 0;
    for (int i = 0; i < n->n_attrs; i++) {
        const cam__attr *a = &n->attrs[i];
        int64_t len = a->n;
        if (strcmp(a->name, "value") == 0 && a->type == CAM__ATTR_TENSOR && a->t) {
            const cam__tensor *t = a->t;
            if (t->dtype != CAM_FLOAT && t->dtype != CAM_INT64 && t->dtype != CAM_INT32)
                return op_fail(n, err, errlen, CAM_EUNSUPPORTED, "tensor element type %d not supported", (int)t->dtype);
            if (t->numel && !t->data) return op_fail(n, err, errlen, CAM_EFORMAT, "tensor value without data");
            p->src = t->data;
            p->src_dtype = t->dtype;
            p->dtype = t->dtype == CAM_FLOAT ? CAM_FLOAT : CAM_INT64;
            p->rank = t->rank;
            memcpy(p->dims, t->dims, sizeof p->dims);
        } else if (strcmp(a->name, "value_float") == 0 && a->type == CAM__ATTR_FLOAT) {
            p->src = &a->f;
            p->src_dtype = p->dtype = CAM_FLOAT;
            p->rank = 0;
        } else if (strcmp(a->name, "value_int") == 0 && a->type == CAM__ATTR_INT) {
            p->src = &a->i;
            p->src_dtype = p->dtype = CAM_INT64;
            p->rank = 0;
        } else if (strcmp(a->name, "value_floats") == 0 && a->type == CAM__ATTR_FLOATS) {
            p->src = a->floats;
            p->src_dtype = p->dtype = CAM_FLOAT;
            p->rank = 1;
            p->dims[0] = len;
        } else if (strcmp(a->name, "value_ints") == 0 && a->type == CAM__ATTR_INTS) {
            p->src = a->ints;
            p->src_dtype = p->dtype = CAM_INT64;
            p->rank = 1;
            p->dims[0] = len;
        } else if (strncmp(a->name, "value", 5) == 0 || strcmp(a->name, "sparse_value") == 0) {
            return op_fail(n, err, errlen, CAM_EUNSUPPORTED, "attribute '%s' not supported", a->name);
        } else {
            continue;
        }
        found++;
    }
    if (found != 1)
        return op_fail(n, err, errlen, CAM_EFORMAT, "needs exactly one value attribute, has %d", found);
    return CAM_OK;
}

cam_status cam__op_Constant_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out,
                                  char *err, size_t errlen) {
    const constant_p *p = n->params;
    n->scratch = 0;
    return set_out(n, out[0], p->dtype, p->rank, p->dims, err, errlen);
}

void cam__op_Constant_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                              const cam__ctx *ctx) {
    const constant_p *p = n->params;
    cam__tensor *y = out[0];
    if (p->src_dtype == CAM_INT32) {
        for (size_t i = 0; i < y->numel; i++) cam__i64(y)[i] = ((const int32_t *)p->src)[i];
    } else if (y->numel) {
        memcpy(y->data, p->src, y->numel * cam_dtype_size(y->dtype));
    }
}

void cam__op_Constant_reference(const cam__node *n, const cam__tensor *const *in,
                                cam__tensor *const *out, const cam__ctx *ctx) {
    cam__op_Constant_forward(n, in, out, ctx);
}
