/* elementwise.c: unary activations (Relu, Clip, Sigmoid, HardSigmoid,
 * HardSwish), broadcasting arithmetic (Add, Sub, Mul, Div), copies
 * (Identity, Dropout at inference), Cast and Softmax.
 *
 * Forward kernels are simple contiguous loops marked CAM__HOT so the
 * compiler vectorises them for each ISA; the references are written the
 * plainest way (per-element index arithmetic) for the tests to trust. */
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Below this many elements per thread, waking another thread costs more
 * than the work; exp-based ops are ~10x slower per element. */
#define EW_GRAIN ((int64_t)16384)
#define EW_GRAIN_EXP ((int64_t)2048)

/* ---- shared helpers ------------------------------------------------------ */

static const char *ew_name(const cam__node *n) { return n->name ? n->name : ""; }

static cam_status ew_alloc_params(cam__node *n, size_t bytes, char *err, size_t errlen) {
    free(n->params);
    n->params = calloc(1, bytes);
    if (!n->params) return cam__fail(err, errlen, CAM_ENOMEM, "%s node '%s': out of memory", n->op_type, ew_name(n));
    return CAM_OK;
}

static cam_status ew_arity(const cam__node *n, int min_in, int max_in, char *err, size_t errlen) {
    if (n->n_in < min_in || n->n_in > max_in)
        return cam__fail(err, errlen, CAM_EFORMAT, "%s node '%s' (opset %lld): %d inputs, expected %d..%d",
                         n->op_type, ew_name(n), (long long)n->opset, n->n_in, min_in, max_in);
    if (n->n_in > 0 && n->in[0] < 0)
        return cam__fail(err, errlen, CAM_EFORMAT, "%s node '%s': input 0 is required", n->op_type, ew_name(n));
    return CAM_OK;
}

/* out gets in's shape and the given dtype. */
static cam_status ew_shape_like(const cam__node *n, const cam__tensor *in, cam__tensor *out, cam_dtype dt,
                                char *err, size_t errlen) {
    out->dtype = dt;
    if (!cam__tensor_set_shape(out, in->rank, in->dims))
        return cam__fail(err, errlen, CAM_ELIMIT, "%s node '%s': output too large", n->op_type, ew_name(n));
    return CAM_OK;
}

static cam_status ew_need_float(const cam__node *n, const cam__tensor *t, const char *what, char *err, size_t errlen) {
    if (t->dtype != CAM_FLOAT)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "%s node '%s': %s must be float", n->op_type, ew_name(n), what);
    return CAM_OK;
}

/* Copy of a whole tensor, split across threads (Identity, Dropout, Cast to
 * the same type). */
typedef struct { const char *src; char *dst; size_t esize; } copy_job;

static void copy_chunk(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const copy_job *j = arg;
    memcpy(j->dst + (size_t)b * j->esize, j->src + (size_t)b * j->esize, (size_t)(e - b) * j->esize);
}

static void ew_copy(const cam__tensor *in, cam__tensor *out, const cam__ctx *ctx) {
    /* the planner may run an op in place; memcpy onto itself is undefined */
    if (in->data == out->data) return;
    copy_job j = {in->data, out->data, cam_dtype_size(in->dtype)};
    cam__ctx_parallel(ctx, (int64_t)in->numel, EW_GRAIN * 4, copy_chunk, &j);
}

/* ---- unary activations --------------------------------------------------- */

typedef enum { U_RELU, U_CLIP, U_SIGMOID, U_HARDSIGMOID, U_HARDSWISH } unary_kind;
/* a, b: Clip lo/hi, HardSigmoid alpha/beta */
typedef struct { unary_kind kind; float a, b; } unary_params;

/* `x < 0 ? 0 : x` rather than `x > 0 ? x : 0` so NaN propagates as in ONNX. */
CAM__HOT static void k_relu(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

CAM__HOT static void k_clip(const float *x, float *y, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] < lo ? lo : x[i];
        y[i] = v > hi ? hi : v;
    }
}

CAM__HOT static void k_hardsigmoid(const float *x, float *y, int64_t n, float a, float b) {
    for (int64_t i = 0; i < n; i++) {
        float v = a * x[i] + b;
        v = v < 0.0f ? 0.0f : v;
        y[i] = v > 1.0f ? 1.0f : v;
    }
}

CAM__HOT static void k_mul3(const float *a, const float *b, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

/* HardSwish = x * HardSigmoid(x) with alpha 1/6, beta 0.5.  Written as one
 * loop, GCC folds the multiply into the clamp's arms (x*0, x*1) and the
 * baseline clone no longer vectorises ("control flow in loop"); two passes
 * over a block that stays in L1 both do, and work in place. */
#define EW_BLOCK 256
static void k_hardswish(const float *x, float *y, int64_t n) {
    float t[EW_BLOCK];
    for (int64_t b = 0; b < n; b += EW_BLOCK) {
        int64_t m = n - b < EW_BLOCK ? n - b : EW_BLOCK;
        k_hardsigmoid(x + b, t, m, 1.0f / 6.0f, 0.5f);
        k_mul3(x + b, t, y + b, m);
    }
}

/* sigmoid(x) = 1/(1+e) for x >= 0 and e/(1+e) below, with e = exp(-|x|):
 * e never overflows, and for very negative x the result keeps its
 * precision (e^x, not 1 - ~1).  The select picks between two ready values
 * and the division is unconditional: written as `x >= 0 ? r : e * r`, GCC
 * may not speculate the multiply (trapping math) and emits a branch, which
 * mispredicts on random signs and blocks vectorisation. */
CAM__HOT static void k_sigmoid_finish(const float *x, const float *e, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float num = x[i] >= 0.0f ? 1.0f : e[i];
        y[i] = num / (1.0f + e[i]);
    }
}

/* expf does not vectorise (glibc's vector expf needs -ffast-math), so it
 * runs alone over a block that stays in L1, then the rest vectorises. */
static void k_sigmoid(const float *x, float *y, int64_t n) {
    float e[EW_BLOCK];
    for (int64_t b = 0; b < n; b += EW_BLOCK) {
        int64_t m = n - b < EW_BLOCK ? n - b : EW_BLOCK;
        for (int64_t i = 0; i < m; i++) e[i] = expf(-fabsf(x[b + i]));
        k_sigmoid_finish(x + b, e, y + b, m);
    }
}

typedef struct { const unary_params *p; const float *x; float *y; } unary_job;

static void unary_chunk(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const unary_job *j = arg;
    const float *x = j->x + b;
    float *y = j->y + b;
    int64_t n = e - b;
    switch (j->p->kind) {
    case U_RELU: k_relu(x, y, n); break;
    case U_CLIP: k_clip(x, y, n, j->p->a, j->p->b); break;
    case U_SIGMOID: k_sigmoid(x, y, n); break;
    case U_HARDSIGMOID: k_hardsigmoid(x, y, n, j->p->a, j->p->b); break;
    case U_HARDSWISH: k_hardswish(x, y, n); break;
    }
}

static void unary_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                          const cam__ctx *ctx) {
    const unary_params *p = n->params;
    unary_job j = {p, cam__f32(in[0]), cam__f32(out[0])};
    cam__ctx_parallel(ctx, (int64_t)in[0]->numel, p->kind == U_SIGMOID ? EW_GRAIN_EXP : EW_GRAIN, unary_chunk, &j);
}

/* The formulas as the ONNX spec writes them, sigmoid in double. */
static float unary_ref1(const unary_params *p, float x) {
    switch (p->kind) {
    case U_RELU: return x < 0.0f ? 0.0f : x;
    case U_CLIP: {
        float v = x < p->a ? p->a : x;
        return v > p->b ? p->b : v;
    }
    case U_SIGMOID: return (float)(1.0 / (1.0 + exp(-(double)x)));
    case U_HARDSIGMOID: return fmaxf(0.0f, fminf(1.0f, p->a * x + p->b));
    case U_HARDSWISH: return x * fmaxf(0.0f, fminf(1.0f, x / 6.0f + 0.5f));
    }
    return x;
}

static void unary_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                            const cam__ctx *ctx) {
    (void)ctx;
    const float *x = cam__f32(in[0]);
    float *y = cam__f32(out[0]);
    for (size_t i = 0; i < in[0]->numel; i++) y[i] = unary_ref1(n->params, x[i]);
}

static cam_status unary_check(cam__node *n, unary_kind kind, float a, float b, char *err, size_t errlen) {
    cam_status st = ew_arity(n, 1, kind == U_CLIP && n->opset >= 11 ? 3 : 1, err, errlen);
    if (st != CAM_OK) return st;
    if ((st = ew_alloc_params(n, sizeof(unary_params), err, errlen)) != CAM_OK) return st;
    unary_params *p = n->params;
    p->kind = kind;
    p->a = a;
    p->b = b;
    return CAM_OK;
}

static cam_status unary_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err,
                              size_t errlen) {
    cam_status st = ew_need_float(n, in[0], "input", err, errlen);
    if (st != CAM_OK) return st;
    n->scratch = 0;
    n->flops = (double)in[0]->numel;
    return ew_shape_like(n, in[0], out[0], CAM_FLOAT, err, errlen);
}

/* Relu */
cam_status cam__op_Relu_check(cam__node *n, char *err, size_t errlen) {
    return unary_check(n, U_RELU, 0, 0, err, errlen);
}
cam_status cam__op_Relu_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err, size_t errlen) {
    return unary_shape(n, in, out, err, errlen);
}
void cam__op_Relu_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    unary_forward(n, in, out, ctx);
}
void cam__op_Relu_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    unary_reference(n, in, out, ctx);
}

/* Sigmoid */
cam_status cam__op_Sigmoid_check(cam__node *n, char *err, size_t errlen) {
    return unary_check(n, U_SIGMOID, 0, 0, err, errlen);
}
cam_status cam__op_Sigmoid_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err, size_t errlen) {
    return unary_shape(n, in, out, err, errlen);
}
void cam__op_Sigmoid_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    unary_forward(n, in, out, ctx);
}
void cam__op_Sigmoid_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    unary_reference(n, in, out, ctx);
}

/* HardSigmoid: max(0, min(1, alpha*x + beta)) */
cam_status cam__op_HardSigmoid_check(cam__node *n, char *err, size_t errlen) {
    return unary_check(n, U_HARDSIGMOID, cam__attr_float(n, "alpha", 0.2f), cam__attr_float(n, "beta", 0.5f), err,
                       errlen);
}
cam_status cam__op_HardSigmoid_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err, size_t errlen) {
    return unary_shape(n, in, out, err, errlen);
}
void cam__op_HardSigmoid_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    unary_forward(n, in, out, ctx);
}
void cam__op_HardSigmoid_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    unary_reference(n, in, out, ctx);
}

/* HardSwish: x * max(0, min(1, x/6 + 0.5)) */
cam_status cam__op_HardSwish_check(cam__node *n, char *err, size_t errlen) {
    return unary_check(n, U_HARDSWISH, 0, 0, err, errlen);
}
cam_status cam__op_HardSwish_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err, size_t errlen) {
    return unary_shape(n, in, out, err, errlen);
}
void cam__op_HardSwish_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    unary_forward(n, in, out, ctx);
}
void cam__op_HardSwish_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    unary_reference(n, in, out, ctx);
}

/* Clip: bounds are attributes before opset 11, optional inputs after.  The
 * inputs must be constants so that the bounds are known once, at shape
 * time (the forward pass cannot fail or look at other values). */
cam_status cam__op_Clip_check(cam__node *n, char *err, size_t errlen) {
    float lo = -INFINITY, hi = INFINITY;
    if (n->opset < 11) {
        lo = cam__attr_float(n, "min", -INFINITY);
        hi = cam__attr_float(n, "max", INFINITY);
    }
    return unary_check(n, U_CLIP, lo, hi, err, errlen);
}

static cam_status clip_bound(cam__node *n, const cam__tensor *t, const char *which, float *v, char *err, size_t errlen) {
    if (!t) return CAM_OK;   /* absent: keep the infinite default */
    if (!t->data)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED,
                         "Clip node '%s': %s must be a constant (initializer), not computed at run time", ew_name(n), which);
    if (t->numel != 1)
        return cam__fail(err, errlen, CAM_EFORMAT, "Clip node '%s': %s must be a scalar, has %zu elements", ew_name(n),
                         which, t->numel);
    if (t->dtype != CAM_FLOAT)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "Clip node '%s': %s must be float", ew_name(n), which);
    *v = cam__f32(t)[0];
    return CAM_OK;
}

cam_status cam__op_Clip_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err, size_t errlen) {
    unary_params *p = n->params;
    cam_status st;
    if (n->opset >= 11) {
        if ((st = clip_bound(n, n->n_in > 1 ? in[1] : NULL, "min", &p->a, err, errlen)) != CAM_OK) return st;
        if ((st = clip_bound(n, n->n_in > 2 ? in[2] : NULL, "max", &p->b, err, errlen)) != CAM_OK) return st;
    }
    return unary_shape(n, in, out, err, errlen);
}
void cam__op_Clip_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    unary_forward(n, in, out, ctx);
}
void cam__op_Clip_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    unary_reference(n, in, out, ctx);
}

/* ---- binary arithmetic with broadcasting ----------------------------------- */

typedef enum { B_ADD, B_SUB, B_MUL, B_DIV } binary_kind;
/* Broadcasting rule: numpy style from opset 7; before that, either equal
 * shapes (broadcast=0) or B's shape matched against A's at `axis`. */
typedef enum { BC_NUMPY, BC_LEGACY_NONE, BC_LEGACY_AXIS } binary_bcast;
typedef struct {
    binary_kind kind;
    binary_bcast bcast;
    bool axis_set;
    int64_t axis;
} binary_params;

/* Integer ops wrap (via unsigned) instead of overflowing, which C leaves
 * undefined.  ONNX integer Div truncates toward zero like C; division by
 * zero and INT64_MIN / -1 would trap, so they get 0 and wrapped negation. */
static inline int64_t i_add(int64_t x, int64_t y) { return (int64_t)((uint64_t)x + (uint64_t)y); }
static inline int64_t i_sub(int64_t x, int64_t y) { return (int64_t)((uint64_t)x - (uint64_t)y); }
static inline int64_t i_mul(int64_t x, int64_t y) { return (int64_t)((uint64_t)x * (uint64_t)y); }
static inline int64_t i_div(int64_t x, int64_t y) {
    if (y == 0) return 0;
    if (y == -1) return (int64_t)(0 - (uint64_t)x);
    return x / y;
}

/* Three loop shapes per (op, type): vector-vector, vector-scalar and
 * scalar-vector; every broadcast reduces to runs of one of them. */
#define EW_BIN_KERNELS(NAME, T, EXPR)                                                          \
    CAM__HOT static void NAME##_vv(const T *a, const T *b, T *o, int64_t n) {                  \
        for (int64_t i = 0; i < n; i++) { T x = a[i], y = b[i]; o[i] = (EXPR); }                \
    }                                                                                          \
    CAM__HOT static void NAME##_vs(const T *a, T y, T *o, int64_t n) {                         \
        for (int64_t i = 0; i < n; i++) { T x = a[i]; o[i] = (EXPR); }                          \
    }                                                                                          \
    CAM__HOT static void NAME##_sv(T x, const T *b, T *o, int64_t n) {                         \
        for (int64_t i = 0; i < n; i++) { T y = b[i]; o[i] = (EXPR); }                          \
    }

EW_BIN_KERNELS(f_add, float, x + y)
EW_BIN_KERNELS(f_sub, float, x - y)
EW_BIN_KERNELS(f_mul, float, x * y)
EW_BIN_KERNELS(f_div, float, x / y)
EW_BIN_KERNELS(l_add, int64_t, i_add(x, y))
EW_BIN_KERNELS(l_sub, int64_t, i_sub(x, y))
EW_BIN_KERNELS(l_mul, int64_t, i_mul(x, y))
EW_BIN_KERNELS(l_div, int64_t, i_div(x, y))

/* One run of n outputs; sa/sb (0 or 1) say whether a/b advance. */
#define EW_BIN_RUN(NAME, T)                                                                    \
    do {                                                                                       \
        const T *a_ = a; const T *b_ = b; T *o_ = o;                                           \
        if (sa && sb) NAME##_vv(a_, b_, o_, n);                                                \
        else if (sa) NAME##_vs(a_, b_[0], o_, n);                                              \
        else NAME##_sv(a_[0], b_, o_, n);                                                      \
    } while (0)

static void bin_run(binary_kind k, cam_dtype dt, const void *a, int64_t sa, const void *b, int64_t sb, void *o,
                    int64_t n) {
    if (dt == CAM_FLOAT) {
        switch (k) {
        case B_ADD: EW_BIN_RUN(f_add, float); return;
        case B_SUB: EW_BIN_RUN(f_sub, float); return;
        case B_MUL: EW_BIN_RUN(f_mul, float); return;
        case B_DIV: EW_BIN_RUN(f_div, float); return;
        }
    } else {
        switch (k) {
        case B_ADD: EW_BIN_RUN(l_add, int64_t); return;
        case B_SUB: EW_BIN_RUN(l_sub, int64_t); return;
        case B_MUL: EW_BIN_RUN(l_mul, int64_t); return;
        case B_DIV: EW_BIN_RUN(l_div, int64_t); return;
        }
    }
}

/* Aligns a and b to the output rank r: ad/bd hold each operand's dims with
 * 1 where it is broadcast, od the output dims.  False if incompatible. */
static bool bin_layout(const binary_params *p, const cam__tensor *a, const cam__tensor *b, int *r, int64_t *ad,
                       int64_t *bd, int64_t *od) {
    if (p->bcast == BC_NUMPY) {
        if (!cam__broadcast_shape(a, b, r, od)) return false;
        for (int i = 0; i < *r; i++) {
            int ia = i - (*r - a->rank), ib = i - (*r - b->rank);
            ad[i] = ia >= 0 ? a->dims[ia] : 1;
            bd[i] = ib >= 0 ? b->dims[ib] : 1;
        }
        return true;
    }
    *r = a->rank;
    for (int i = 0; i < a->rank; i++) ad[i] = od[i] = a->dims[i], bd[i] = 1;
    if (p->bcast == BC_LEGACY_NONE) {
        if (b->rank != a->rank) return false;
        for (int i = 0; i < a->rank; i++)
            if ((bd[i] = b->dims[i]) != a->dims[i]) return false;
        return true;
    }
    /* legacy broadcast=1: B's dims line up with A's starting at axis
     * (default: B is a suffix of A); the output always has A's shape */
    if (b->rank > a->rank) return false;
    int64_t axis = p->axis_set ? p->axis : a->rank - b->rank;
    if (axis < 0) axis += a->rank;
    if (axis < 0 || axis + b->rank > a->rank) return false;
    for (int i = 0; i < b->rank; i++) {
        int64_t d = b->dims[i];
        if (d != 1 && d != a->dims[axis + i]) return false;
        bd[axis + i] = d;
    }
    return true;
}

/* The broadcast folded to as few dims as possible: dims where the output is
 * 1 are dropped and neighbours that are contiguous for both operands
 * (stride_outer == stride_inner * extent_inner, broadcast stride 0 included)
 * merge.  [N,C,H,W] * [N,C,1,1] becomes [N*C, H*W] with b strides {1, 0}:
 * N*C runs of vector*scalar.  The innermost strides are 0 or 1. */
typedef struct {
    int r;
    int64_t n[CAM__MAX_RANK], sa[CAM__MAX_RANK], sb[CAM__MAX_RANK];
} bin_plan;

static void bin_make_plan(int r, const int64_t *ad, const int64_t *bd, const int64_t *od, bin_plan *pl) {
    int64_t ma = 1, mb = 1;   /* contiguous strides of a and b at dim i */
    int k = CAM__MAX_RANK;    /* merged dims fill pl->n[k..] from the back */
    for (int i = r - 1; i >= 0; i--) {
        int64_t sa = ad[i] == 1 ? 0 : ma, sb = bd[i] == 1 ? 0 : mb;
        ma *= ad[i];
        mb *= bd[i];
        if (od[i] == 1) continue;
        if (k < CAM__MAX_RANK && pl->sa[k] * pl->n[k] == sa && pl->sb[k] * pl->n[k] == sb) {
            pl->n[k] *= od[i];
            continue;
        }
        k--;
        pl->n[k] = od[i];
        pl->sa[k] = sa;
        pl->sb[k] = sb;
    }
    if (k == CAM__MAX_RANK) {   /* one element: a run of length 1 */
        k--;
        pl->n[k] = 1;
        pl->sa[k] = pl->sb[k] = 1;
    }
    pl->r = CAM__MAX_RANK - k;
    memmove(pl->n, pl->n + k, (size_t)pl->r * sizeof pl->n[0]);
    memmove(pl->sa, pl->sa + k, (size_t)pl->r * sizeof pl->sa[0]);
    memmove(pl->sb, pl->sb + k, (size_t)pl->r * sizeof pl->sb[0]);
}

typedef struct {
    const cam__node *n;
    bin_plan pl;
    const char *a, *b;
    char *o;
    size_t es;
    cam_dtype dt;
    bool act;
} bin_job;

/* Output elements [begin, end): walk the runs of the innermost merged dim,
 * starting mid-run if the chunk does, with an odometer over the outer dims. */
static void bin_chunk(void *arg, int64_t begin, int64_t end, int tid) {
    (void)tid;
    const bin_job *j = arg;
    const bin_plan *pl = &j->pl;
    const binary_params *p = j->n->params;
    int last = pl->r - 1;
    int64_t len = pl->n[last], sa = pl->sa[last], sb = pl->sb[last];
    int64_t idx[CAM__MAX_RANK], oa = 0, ob = 0, rest = begin / len, col = begin % len;
    for (int d = last - 1; d >= 0; d--) {
        idx[d] = rest % pl->n[d];
        rest /= pl->n[d];
        oa += idx[d] * pl->sa[d];
        ob += idx[d] * pl->sb[d];
    }
    for (int64_t pos = begin; pos < end;) {
        int64_t cnt = len - col < end - pos ? len - col : end - pos;
        void *o = j->o + (size_t)pos * j->es;
        bin_run(p->kind, j->dt, j->a + (size_t)(oa + col * sa) * j->es, sa, j->b + (size_t)(ob + col * sb) * j->es,
                sb, o, cnt);
        if (j->act) cam__act_apply(&j->n->act, o, (size_t)cnt);   /* while the run is in cache */
        pos += cnt;
        col = 0;
        for (int d = last - 1; d >= 0; d--) {
            oa += pl->sa[d];
            ob += pl->sb[d];
            if (++idx[d] < pl->n[d]) break;
            oa -= pl->sa[d] * pl->n[d];
            ob -= pl->sb[d] * pl->n[d];
            idx[d] = 0;
        }
    }
}

static void binary_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                           const cam__ctx *ctx) {
    if (out[0]->numel == 0) return;
    int r;
    int64_t ad[CAM__MAX_RANK], bd[CAM__MAX_RANK], od[CAM__MAX_RANK];
    bin_job j = {.n = n, .a = in[0]->data, .b = in[1]->data, .o = out[0]->data, .dt = out[0]->dtype};
    j.es = cam_dtype_size(j.dt);
    j.act = j.dt == CAM_FLOAT && n->act.kind != CAM__ACT_NONE;
    bin_layout(n->params, in[0], in[1], &r, ad, bd, od);   /* validated by shape() */
    bin_make_plan(r, ad, bd, od, &j.pl);
    cam__ctx_parallel(ctx, (int64_t)out[0]->numel, EW_GRAIN, bin_chunk, &j);
}

static float bin_ref_f(binary_kind k, float x, float y) {
    switch (k) {
    case B_ADD: return x + y;
    case B_SUB: return x - y;
    case B_MUL: return x * y;
    case B_DIV: return x / y;
    }
    return 0;
}

static int64_t bin_ref_i(binary_kind k, int64_t x, int64_t y) {
    switch (k) {
    case B_ADD: return i_add(x, y);
    case B_SUB: return i_sub(x, y);
    case B_MUL: return i_mul(x, y);
    case B_DIV: return i_div(x, y);
    }
    return 0;
}

/* For each output index: its coordinates, then each operand's index with
 * broadcast coordinates pinned to 0. */
static void binary_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                             const cam__ctx *ctx) {
    (void)ctx;
    const binary_params *p = n->params;
    int r;
    int64_t ad[CAM__MAX_RANK], bd[CAM__MAX_RANK], od[CAM__MAX_RANK];
    bin_layout(p, in[0], in[1], &r, ad, bd, od);
    for (size_t i = 0; i < out[0]->numel; i++) {
        size_t rest = i, ia = 0, ib = 0, ma = 1, mb = 1;
        for (int d = r - 1; d >= 0; d--) {
            size_t c = rest % (size_t)od[d];
            rest /= (size_t)od[d];
            if (ad[d] != 1) ia += c * ma;
            if (bd[d] != 1) ib += c * mb;
            ma *= (size_t)ad[d];
            mb *= (size_t)bd[d];
        }
        if (out[0]->dtype == CAM_FLOAT)
            cam__f32(out[0])[i] = bin_ref_f(p->kind, cam__f32(in[0])[ia], cam__f32(in[1])[ib]);
        else
            cam__i64(out[0])[i] = bin_ref_i(p->kind, cam__i64(in[0])[ia], cam__i64(in[1])[ib]);
    }
    if (out[0]->dtype == CAM_FLOAT) cam__act_apply(&n->act, cam__f32(out[0]), out[0]->numel);
}

static cam_status binary_check(cam__node *n, binary_kind kind, char *err, size_t errlen) {
    cam_status st = ew_arity(n, 2, 2, err, errlen);
    if (st != CAM_OK) return st;
    if (n->in[1] < 0) return cam__fail(err, errlen, CAM_EFORMAT, "%s node '%s': input 1 is required", n->op_type, ew_name(n));
    if ((st = ew_alloc_params(n, sizeof(binary_params), err, errlen)) != CAM_OK) return st;
    binary_params *p = n->params;
    p->kind = kind;
    p->bcast = BC_NUMPY;
    if (n->opset < 7) {
        p->bcast = cam__attr_int(n, "broadcast", 0) ? BC_LEGACY_AXIS : BC_LEGACY_NONE;
        p->axis_set = cam__attr_find(n, "axis") != NULL;
        p->axis = cam__attr_int(n, "axis", 0);
    }
    return CAM_OK;
}

static void ew_dims_str(const cam__tensor *t, char *buf, size_t len) {
    size_t o = 0;
    buf[0] = 0;
    o += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->rank && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld", (long long)t->dims[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

static cam_status binary_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err,
                               size_t errlen) {
    const binary_params *p = n->params;
    if (in[0]->dtype != in[1]->dtype || (in[0]->dtype != CAM_FLOAT && in[0]->dtype != CAM_INT64))
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "%s node '%s': inputs must both be float or both int64",
                         n->op_type, ew_name(n));
    int r;
    int64_t ad[CAM__MAX_RANK], bd[CAM__MAX_RANK], od[CAM__MAX_RANK];
    if (!bin_layout(p, in[0], in[1], &r, ad, bd, od)) {
        char sa[128], sb[128];
        ew_dims_str(in[0], sa, sizeof sa);
        ew_dims_str(in[1], sb, sizeof sb);
        return cam__fail(err, errlen, CAM_EFORMAT, "%s node '%s': shapes %s and %s do not broadcast%s", n->op_type,
                         ew_name(n), sa, sb,
                         p->bcast == BC_NUMPY ? "" : p->bcast == BC_LEGACY_NONE ? " (opset < 7, broadcast=0)"
                                                                                : " (opset < 7, broadcast=1 with axis)");
    }
    out[0]->dtype = in[0]->dtype;
    if (!cam__tensor_set_shape(out[0], r, od))
        return cam__fail(err, errlen, CAM_ELIMIT, "%s node '%s': output too large", n->op_type, ew_name(n));
    n->scratch = 0;
    n->flops = (double)out[0]->numel;
    return CAM_OK;
}

#define EW_BINARY_OP(Op, KIND)                                                                                      \
    cam_status cam__op_##Op##_check(cam__node *n, char *err, size_t errlen) {                                       \
        return binary_check(n, KIND, err, errlen);                                                                  \
    }                                                                                                               \
    cam_status cam__op_##Op##_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err,       \
                                    size_t errlen) {                                                                \
        return binary_shape(n, in, out, err, errlen);                                                               \
    }                                                                                                               \
    void cam__op_##Op##_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,          \
                                const cam__ctx *ctx) {                                                              \
        binary_forward(n, in, out, ctx);                                                                            \
    }                                                                                                               \
    void cam__op_##Op##_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,        \
                                  const cam__ctx *ctx) {                                                            \
        binary_reference(n, in, out, ctx);                                                                          \
    }

EW_BINARY_OP(Add, B_ADD)
EW_BINARY_OP(Sub, B_SUB)
EW_BINARY_OP(Mul, B_MUL)
EW_BINARY_OP(Div, B_DIV)

/* ---- Identity and Dropout (inference: a copy) ------------------------------ */

cam_status cam__op_Identity_check(cam__node *n, char *err, size_t errlen) { return ew_arity(n, 1, 1, err, errlen); }

cam_status cam__op_Identity_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err, size_t errlen) {
    n->scratch = 0;
    return ew_shape_like(n, in[0], out[0], in[0]->dtype, err, errlen);
}

void cam__op_Identity_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    (void)n;
    ew_copy(in[0], out[0], ctx);
}

void cam__op_Identity_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    (void)n;
    (void)ctx;
    size_t es = cam_dtype_size(in[0]->dtype);
    for (size_t i = 0; i < in[0]->numel * es; i++) ((char *)out[0]->data)[i] = ((const char *)in[0]->data)[i];
}

/* Opsets < 12 carry ratio/is_test as attributes, which do not matter at
 * inference (is_test=0 is treated as inference too, as runtimes do); 12+
 * take ratio and training_mode as optional inputs.  The mask output would
 * be a bool tensor, which the runtime does not have. */
cam_status cam__op_Dropout_check(cam__node *n, char *err, size_t errlen) {
    cam_status st = ew_arity(n, 1, n->opset < 12 ? 1 : 3, err, errlen);
    if (st != CAM_OK) return st;
    if (n->n_out > 1 && n->out[1] >= 0)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "Dropout node '%s': Dropout mask output not supported", ew_name(n));
    return CAM_OK;
}

cam_status cam__op_Dropout_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err, size_t errlen) {
    const cam__tensor *tm = n->n_in > 2 ? in[2] : NULL;
    if (tm) {
        /* a run-time training_mode could ask for random masking mid-run */
        if (!tm->data)
            return cam__fail(err, errlen, CAM_EUNSUPPORTED,
                             "Dropout node '%s': training_mode must be a constant (inference only)", ew_name(n));
        bool on = tm->numel > 0 && (tm->dtype == CAM_FLOAT ? cam__f32(tm)[0] != 0.0f : cam__i64(tm)[0] != 0);
        if (on)
            return cam__fail(err, errlen, CAM_EUNSUPPORTED,
                             "Dropout node '%s': training_mode=true not supported (inference only)", ew_name(n));
    }
    n->scratch = 0;
    return ew_shape_like(n, in[0], out[0], in[0]->dtype, err, errlen);
}

void cam__op_Dropout_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    cam__op_Identity_forward(n, in, out, ctx);
}

void cam__op_Dropout_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    cam__op_Identity_reference(n, in, out, ctx);
}

/* ---- Cast ---------------------------------------------------------------- */

/* to: ONNX TensorProto.DataType.  INT32 results are held as int64 at run
 * time (the declared type is the loader's business) but take int32 values. */
typedef struct { int to; } cast_params;

static int cast_type_from_string(const char *s) {
    static const struct { const char *name; int code; } names[] = {
        {"FLOAT", 1}, {"UINT8", 2}, {"INT8", 3}, {"UINT16", 4}, {"INT16", 5}, {"INT32", 6}, {"INT64", 7},
        {"STRING", 8}, {"BOOL", 9}, {"FLOAT16", 10}, {"DOUBLE", 11}, {"UINT32", 12}, {"UINT64", 13}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) return names[i].code;
    return -1;
}

static const char *cast_type_name(int64_t to) {
    static const char *const names[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32",
                                        "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64",
                                        "COMPLEX64", "COMPLEX128", "BFLOAT16"};
    return to >= 0 && to < (int64_t)(sizeof names / sizeof names[0]) ? names[to] : "unknown";
}

cam_status cam__op_Cast_check(cam__node *n, char *err, size_t errlen) {
    cam_status st = ew_arity(n, 1, 1, err, errlen);
    if (st != CAM_OK) return st;
    const cam__attr *a = cam__attr_find(n, "to");
    int64_t to;
    if (!a) return cam__fail(err, errlen, CAM_EFORMAT, "Cast node '%s': attribute 'to' is required", ew_name(n));
    if (a->type == CAM__ATTR_INT) to = a->i;
    else if (a->type == CAM__ATTR_STRING && a->s) to = cast_type_from_string(a->s);   /* Cast-1 */
    else return cam__fail(err, errlen, CAM_EFORMAT, "Cast node '%s': attribute 'to' has the wrong type", ew_name(n));
    if (to != 1 && to != 6 && to != 7)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "Cast node '%s': to=%s (%lld) not supported (FLOAT, INT32, INT64 only)",
                         ew_name(n), cast_type_name(to), (long long)to);
    if ((st = ew_alloc_params(n, sizeof(cast_params), err, errlen)) != CAM_OK) return st;
    ((cast_params *)n->params)->to = (int)to;
    return CAM_OK;
}

cam_status cam__op_Cast_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err, size_t errlen) {
    const cast_params *p = n->params;
    if (in[0]->dtype != CAM_FLOAT && in[0]->dtype != CAM_INT64)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "Cast node '%s': input must be float or int64", ew_name(n));
    n->scratch = 0;
    return ew_shape_like(n, in[0], out[0], p->to == 1 ? CAM_FLOAT : CAM_INT64, err, errlen);
}

/* Float to integer truncates toward zero.  Out-of-range values and NaN are
 * undefined in C (and in ONNX); saturate them (NaN -> 0) so that no input
 * reaches undefined behaviour.  The bounds are exact powers of two. */
static inline int64_t cast_f2i(float x, bool to32) {
    if (x != x) return 0;
    if (to32) return x >= 2147483648.0f ? INT32_MAX : x < -2147483648.0f ? INT32_MIN : (int64_t)(int32_t)x;
    return x >= 9223372036854775808.0f ? INT64_MAX : x < -9223372036854775808.0f ? INT64_MIN : (int64_t)x;
}
/* int64 to int32 keeps the low 32 bits, as numpy's astype does. */
static inline int64_t cast_i2i32(int64_t v) { return (int64_t)(int32_t)(uint32_t)(uint64_t)v; }

typedef struct { const cam__tensor *in; cam__tensor *out; int to; } cast_job;

CAM__HOT static void k_cast_i2f(const int64_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = (float)x[i];
}

static void cast_chunk(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const cast_job *j = arg;
    bool to32 = j->to == 6;
    if (j->in->dtype == CAM_FLOAT) {
        const float *x = cam__f32(j->in);
        if (j->to == 1) {
            memcpy(cam__f32(j->out) + b, x + b, (size_t)(e - b) * sizeof(float));
        } else {
            int64_t *y = cam__i64(j->out);
            for (int64_t i = b; i < e; i++) y[i] = cast_f2i(x[i], to32);
        }
    } else {
        const int64_t *x = cam__i64(j->in);
        if (j->to == 1) {
            k_cast_i2f(x + b, cam__f32(j->out) + b, e - b);
        } else if (to32) {
            int64_t *y = cam__i64(j->out);
            for (int64_t i = b; i < e; i++) y[i] = cast_i2i32(x[i]);
        } else {
            memcpy(cam__i64(j->out) + b, x + b, (size_t)(e - b) * sizeof(int64_t));
        }
    }
}

void cam__op_Cast_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    const cast_params *p = n->params;
    /* same-type casts may be planned in place; cast_chunk would memcpy onto itself */
    if (in[0]->data == out[0]->data && in[0]->dtype == out[0]->dtype && p->to != 6) return;
    cast_job j = {in[0], out[0], p->to};
    cam__ctx_parallel(ctx, (int64_t)in[0]->numel, EW_GRAIN, cast_chunk, &j);
}

void cam__op_Cast_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    (void)ctx;
    const cast_params *p = n->params;
    for (size_t i = 0; i < in[0]->numel; i++) {
        if (in[0]->dtype == CAM_FLOAT) {
            float x = cam__f32(in[0])[i];
            if (p->to == 1) cam__f32(out[0])[i] = x;
            else cam__i64(out[0])[i] = cast_f2i(x, p->to == 6);
        } else {
            int64_t x = cam__i64(in[0])[i];
            if (p->to == 1) cam__f32(out[0])[i] = (float)x;
            else cam__i64(out[0])[i] = p->to == 6 ? cast_i2i32(x) : x;
        }
    }
}

/* ---- Softmax ------------------------------------------------------------- */

/* Opset < 13 flattens the input to 2D at axis and normalises each row over
 * all of dims[axis:]; 13+ normalises along the single axis.  Either way the
 * input is [outer, n, inner] and each (outer, inner) pair is one softmax of
 * n elements at stride inner. */
typedef struct { int64_t axis; int ax; } softmax_params;

static void softmax_split(const cam__node *n, const cam__tensor *t, int64_t *outer, int64_t *len, int64_t *inner) {
    const softmax_params *p = n->params;
    *outer = *len = *inner = 1;
    for (int i = 0; i < t->rank; i++) {
        if (i < p->ax) *outer *= t->dims[i];
        else if (i == p->ax || n->opset < 13) *len *= t->dims[i];
        else *inner *= t->dims[i];
    }
}

cam_status cam__op_Softmax_check(cam__node *n, char *err, size_t errlen) {
    cam_status st = ew_arity(n, 1, 1, err, errlen);
    if (st != CAM_OK) return st;
    if ((st = ew_alloc_params(n, sizeof(softmax_params), err, errlen)) != CAM_OK) return st;
    ((softmax_params *)n->params)->axis = cam__attr_int(n, "axis", n->opset < 13 ? 1 : -1);
    return CAM_OK;
}

cam_status cam__op_Softmax_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err, size_t errlen) {
    softmax_params *p = n->params;
    cam_status st = ew_need_float(n, in[0], "input", err, errlen);
    if (st != CAM_OK) return st;
    if (!cam__norm_axis(p->axis, in[0]->rank, &p->ax))
        return cam__fail(err, errlen, CAM_EFORMAT, "Softmax node '%s': axis %lld out of range for rank %d", ew_name(n),
                         (long long)p->axis, in[0]->rank);
    n->scratch = 0;
    n->flops = 4.0 * (double)in[0]->numel;
    return ew_shape_like(n, in[0], out[0], CAM_FLOAT, err, errlen);
}

CAM__HOT static void k_scale(float *y, int64_t n, float s) {
    for (int64_t i = 0; i < n; i++) y[i] *= s;
}

/* One contiguous softmax.  The sum is kept in double: for thousands of
 * classes a float sum would lose about sqrt(n) ulps. */
static void softmax_row(const float *x, float *y, int64_t n) {
    float m = x[0];
    for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        float e = expf(x[i] - m);
        y[i] = e;
        s += e;
    }
    k_scale(y, n, (float)(1.0 / s));
}

/* Strided softmaxes (axis not innermost): a tile of up to SM_TILE adjacent
 * columns at a time, so every pass reads contiguous memory. */
#define SM_TILE 64
CAM__HOT static void k_max_into(float *m, const float *x, int64_t w) {
    for (int64_t j = 0; j < w; j++) m[j] = x[j] > m[j] ? x[j] : m[j];
}
CAM__HOT static void k_mul_into(float *y, const float *s, int64_t w) {
    for (int64_t j = 0; j < w; j++) y[j] *= s[j];
}

static void softmax_cols(const float *x, float *y, int64_t n, int64_t inner, int64_t w) {
    float m[SM_TILE], s[SM_TILE];
    double acc[SM_TILE] = {0};
    memcpy(m, x, (size_t)w * sizeof(float));
    for (int64_t k = 1; k < n; k++) k_max_into(m, x + k * inner, w);
    for (int64_t k = 0; k < n; k++) {
        const float *xr = x + k * inner;
        float *yr = y + k * inner;
        for (int64_t j = 0; j < w; j++) {
            float e = expf(xr[j] - m[j]);
            yr[j] = e;
            acc[j] += e;
        }
    }
    for (int64_t j = 0; j < w; j++) s[j] = (float)(1.0 / acc[j]);
    for (int64_t k = 0; k < n; k++) k_mul_into(y + k * inner, s, w);
}

typedef struct { const float *x; float *y; int64_t len, inner, tiles; } softmax_job;

static void softmax_chunk(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const softmax_job *j = arg;
    for (int64_t it = b; it < e; it++) {
        if (j->inner == 1) {
            softmax_row(j->x + it * j->len, j->y + it * j->len, j->len);
        } else {
            int64_t o = it / j->tiles, c0 = (it % j->tiles) * SM_TILE;
            int64_t w = j->inner - c0 < SM_TILE ? j->inner - c0 : SM_TILE;
            size_t off = (size_t)(o * j->len * j->inner + c0);
            softmax_cols(j->x + off, j->y + off, j->len, j->inner, w);
        }
    }
}

void cam__op_Softmax_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    if (in[0]->numel == 0) return;
    softmax_job j = {cam__f32(in[0]), cam__f32(out[0]), 0, 0, 1};
    int64_t outer;
    softmax_split(n, in[0], &outer, &j.len, &j.inner);
    if (j.inner > 1) j.tiles = (j.inner + SM_TILE - 1) / SM_TILE;
    int64_t per_item = j.len * (j.inner > 1 ? SM_TILE : 1);
    int64_t grain = EW_GRAIN_EXP / per_item > 1 ? EW_GRAIN_EXP / per_item : 1;
    cam__ctx_parallel(ctx, outer * j.tiles, grain, softmax_chunk, &j);
}

/* exp(x - max) / sum, all in double, one (outer, inner) pair at a time. */
void cam__op_Softmax_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out, const cam__ctx *ctx) {
    (void)ctx;
    const float *x = cam__f32(in[0]);
    float *y = cam__f32(out[0]);
    int64_t outer, len, inner;
    softmax_split(n, in[0], &outer, &len, &inner);
    if (in[0]->numel == 0) return;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < inner; c++) {
            size_t base = (size_t)(o * len * inner + c);
            double m = x[base], s = 0;
            for (int64_t k = 1; k < len; k++) m = fmax(m, x[base + (size_t)(k * inner)]);
            for (int64_t k = 0; k < len; k++) s += exp(x[base + (size_t)(k * inner)] - m);
            for (int64_t k = 0; k < len; k++) y[base + (size_t)(k * inner)] = (float)(exp(x[base + (size_t)(k * inner)] - m) / s);
        }
}
