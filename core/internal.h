/* internal.h: types shared by the files of core/ (prefix cam__).
 *
 * The loader (onnx.c) turns a file into a cam__graph of values and nodes;
 * graph.c checks, shape-infers, folds and fuses it; plan.c lays activations
 * out in one arena; session.c runs it.  Operators are rows of the table in
 * ops.c; each row's functions live in core/ops/<family>.c. */
#ifndef CAM_INTERNAL_H
#define CAM_INTERNAL_H

#include "camserve.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAM__MAX_RANK CAM_MAX_RANK
#define CAM__ALIGN 64

/* Hot loops are compiled for AVX-512, AVX2+FMA and baseline x86-64; the
 * loader picks the best at run time (GNU ifunc), so one binary runs fast on
 * any x86-64 CPU without -march=native.  The x86-64-v4/v3 levels dispatch
 * on CPU features; naming CPUs (arch=skylake-avx512) would dispatch on the
 * CPU model and send AMD and newer Xeons to the baseline code. */
#if defined(__x86_64__) && !defined(CAM_NO_CLONES) && !defined(__clang__)
#define CAM__HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CAM__HOT
#endif

/* 1 when the CPU has x86-64-v4 (AVX-512 F, BW, CD, DQ, VL) and
 * CAMSERVE_NO_AVX512 (set to anything but 0) does not turn camserve's
 * AVX-512 paths off: the tests set it to cover the portable ones on
 * AVX-512 machines too.  Cached; 0 in builds without those paths (clang). */
bool cam__avx512_enabled(void);
/* CAMSERVE_NO_AVX512 is unset (or 0): the part of cam__avx512_enabled()
 * that is not about the CPU, for code that checks its own features. */
bool cam__avx512_allowed(void);

/* printf into err (if non-NULL) and return st: `return cam__fail(err, len, CAM_EFORMAT, "...")`. */
cam_status cam__fail(char *err, size_t errlen, cam_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void *cam__aligned_alloc(size_t bytes);   /* CAM__ALIGN-aligned, zeroed; NULL on failure */
void cam__aligned_free(void *p);
/* a*b with overflow check: returns false on overflow. */
static inline bool cam__mul_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}

/* ---- tensors ----------------------------------------------------------- */

/* A tensor as kernels see it.  dtype is CAM_FLOAT or CAM_INT64 (int32 data
 * is widened to int64 at load; the declared type is kept in cam__value). */
typedef struct cam__tensor {
    void *data;
    cam_dtype dtype;
    int rank;
    int64_t dims[CAM__MAX_RANK];
    size_t numel;
} cam__tensor;

static inline float *cam__f32(const cam__tensor *t) { return (float *)t->data; }
static inline int64_t *cam__i64(const cam__tensor *t) { return (int64_t *)t->data; }
/* numel from dims; false if it overflows or exceeds limit. */
bool cam__tensor_set_shape(cam__tensor *t, int rank, const int64_t *dims);

/* ---- attributes (parsed from NodeProto.attribute) ----------------------- */

typedef enum {
    CAM__ATTR_FLOAT = 1, CAM__ATTR_INT = 2, CAM__ATTR_STRING = 3, CAM__ATTR_TENSOR = 4,
    CAM__ATTR_FLOATS = 6, CAM__ATTR_INTS = 7, CAM__ATTR_STRINGS = 8
} cam__attr_type;

typedef struct cam__attr {
    char *name;
    cam__attr_type type;
    float f;
    int64_t i;
    char *s;                 /* STRING: NUL-terminated copy */
    float *floats;           /* FLOATS */
    int64_t *ints;           /* INTS */
    int n;                   /* count of floats/ints */
    cam__tensor *t;          /* TENSOR: owned, data owned */
} cam__attr;

/* ---- graph --------------------------------------------------------------- */

typedef enum {
    CAM__V_ACT = 0,   /* computed during a run, lives in the arena */
    CAM__V_INPUT,     /* graph input, lives in the arena */
    CAM__V_CONST      /* initializer or folded at load; data owned by the model */
} cam__value_kind;

typedef struct cam__value {
    char *name;
    cam__value_kind kind;
    cam_dtype declared;      /* dtype as written in the file (int32 stays int32 here) */
    cam__tensor t;           /* shape, runtime dtype; data for CONST */
    bool shape_known;
    bool is_output;          /* graph output */
    bool keep;               /* must survive the run (options.keep, CAM feature map) */
    int producer;            /* node index, -1 for inputs/consts */
    int n_uses;              /* live consumers */
    size_t offset;           /* arena offset (ACT/INPUT) */
    size_t bytes;
} cam__value;

/* Activation applied to an op's output in the same pass (fusion). */
typedef enum { CAM__ACT_NONE = 0, CAM__ACT_RELU, CAM__ACT_CLIP, CAM__ACT_SIGMOID,
               CAM__ACT_HARDSIGMOID, CAM__ACT_HARDSWISH, CAM__ACT_SILU } cam__act_kind;
typedef struct cam__act { cam__act_kind kind; float a, b; } cam__act;
/* Applies act to x[0..n) in place (vectorised). */
void cam__act_apply(const cam__act *act, float *x, size_t n);
const char *cam__act_name(cam__act_kind k);

struct cam__op_def;
typedef struct cam__node {
    char *name;
    char *op_type;
    char *domain;
    const struct cam__op_def *op;
    int64_t opset;           /* opset of the node's domain in this model */
    int n_in, n_out;
    int *in, *out;           /* value indices; -1 = absent optional input */
    cam__attr *attrs;
    int n_attrs;
    void *params;            /* op-specific, set by check(), freed with free() */
    cam__act act;            /* fused activation (ops with CAM__OP_FUSES_ACT) */
    size_t scratch;          /* per-thread scratch bytes, set by shape() */
    unsigned packed_inputs;  /* set by prepack: bit k = forward no longer reads in[k]'s data */
    double flops;            /* set by shape() when meaningful */
    bool dead;               /* removed by an optimisation */
} cam__node;

/* ---- thread pool ------------------------------------------------------- */

typedef struct cam__pool cam__pool;
/* fn(arg, begin, end, tid) over [0, n) split into contiguous chunks of at
 * least `grain` items, one chunk per thread; runs inline for 1 thread. */
typedef void (*cam__task_fn)(void *arg, int64_t begin, int64_t end, int tid);
cam_status cam__pool_create(int threads, cam__pool **out);
void cam__pool_free(cam__pool *p);
int cam__pool_threads(const cam__pool *p);
void cam__parallel_for(cam__pool *p, int64_t n, int64_t grain, cam__task_fn fn, void *arg);

/* What a forward function gets besides its tensors. */
typedef struct cam__ctx {
    cam__pool *pool;         /* NULL means single-threaded */
    char *scratch;           /* threads * scratch_stride bytes */
    size_t scratch_stride;   /* >= node->scratch, CAM__ALIGN multiple */
} cam__ctx;
static inline void *cam__scratch(const cam__ctx *c, int tid) {
    return c->scratch + (size_t)tid * c->scratch_stride;
}
int cam__ctx_threads(const cam__ctx *c);
/* parallel_for that tolerates ctx->pool == NULL */
void cam__ctx_parallel(const cam__ctx *c, int64_t n, int64_t grain, cam__task_fn fn, void *arg);

/* ---- operator table ------------------------------------------------------ */

enum {
    CAM__OP_FUSES_ACT = 1 << 0,  /* forward applies node->act to its output */
    CAM__OP_SHAPE_ONLY = 1 << 1, /* output depends only on input shapes (Shape): always folded */
    CAM__OP_INT = 1 << 2         /* accepts int64 tensors */
};

/* check: validate arity and attributes, parse them into n->params.
 * shape: given input shapes (in[i]->data is non-NULL for constants, NULL
 *   otherwise; in[i] is NULL for absent optional inputs), set every output's
 *   dtype/rank/dims/numel, n->scratch and n->flops.  May fail (bad shapes).
 * forward: the optimised kernel; cannot fail.  ctx scratch is per thread.
 * reference: the simplest correct implementation (plain loops, no
 *   threads, no BLAS), for tests.  Same contract as forward. */
typedef cam_status (*cam__check_fn)(cam__node *n, char *err, size_t errlen);
typedef cam_status (*cam__shape_fn)(cam__node *n, cam__tensor *const *in, cam__tensor *const *out,
                                    char *err, size_t errlen);
typedef void (*cam__forward_fn)(const cam__node *n, const cam__tensor *const *in,
                                cam__tensor *const *out, const cam__ctx *ctx);
/* prepack (optional, NULL for most ops): called by the graph preparation
 *   once per live node after all optimisations (BatchNormalization folded
 *   into Conv weights, activations fused), with the final inputs: in[i]->data
 *   is non-NULL exactly for constants.  It may derive data from constant
 *   inputs once (e.g. weights in a kernel's layout) and keep it in
 *   n->params, inside the single block that free(n->params) releases.
 *   forward must give the same results whether or not prepack ran (unit
 *   tests call it directly; a runtime weight tensor is never packed). */
typedef cam_status (*cam__prepack_fn)(cam__node *n, cam__tensor *const *in, char *err, size_t errlen);

typedef struct cam__op_def {
    const char *name;
    int opset_min, opset_max;   /* default-domain opset versions this row implements */
    int min_in, max_in, min_out, max_out;
    unsigned flags;
    cam__check_fn check;
    cam__shape_fn shape;
    cam__forward_fn forward;
    cam__forward_fn reference;
    cam__prepack_fn prepack;    /* optional */
} cam__op_def;

/* The table (ops.c).  Lookup picks the row whose opset range holds opset. */
const cam__op_def *cam__op_find(const char *name, int64_t opset);
const cam__op_def *cam__op_table(int *count);

/* Attribute accessors (attr.c).  Missing attribute -> default. */
const cam__attr *cam__attr_find(const cam__node *n, const char *name);
int64_t cam__attr_int(const cam__node *n, const char *name, int64_t dflt);
float cam__attr_float(const cam__node *n, const char *name, float dflt);
const char *cam__attr_string(const cam__node *n, const char *name, const char *dflt);
/* ints: returns count (0 if absent), *v points into the attribute */
int cam__attr_ints(const cam__node *n, const char *name, const int64_t **v);
int cam__attr_floats(const cam__node *n, const char *name, const float **v);

/* Helpers shared by ops (shape_util.c). */
/* numpy broadcasting of a and b into out dims; false if incompatible */
bool cam__broadcast_shape(const cam__tensor *a, const cam__tensor *b, int *rank, int64_t *dims);
/* normalise a possibly negative axis against rank; false if out of range */
bool cam__norm_axis(int64_t axis, int rank, int *out);

/* ---- BLAS (blas.c) ------------------------------------------------------- */
/* Row-major single-precision GEMM: C = alpha*op(A)*op(B) + beta*C.
 * Always single-threaded inside; parallelism is ours (cam__pool). */
void cam__sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

#endif
