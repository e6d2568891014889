/* conv.c: Conv (2-D and 1-D, NCHW, groups, fused bias + activation) and
 * inference BatchNormalization.
 *
 * Conv forward has four paths, chosen from the geometry:
 *  - direct: one input channel per group (depthwise, or a 1-channel input).
 *    GEMM with K = kH*kW would be mostly packing overhead.  Each plane is
 *    copied once into zero-padded, stride-deinterleaved scratch, after which
 *    every tap is a contiguous load and whole bands of rows are one
 *    vectorised loop (specialised 3x3/5x5 kernels, stride 1 and 2).
 *  - Winograd F(2x2, 3x3): 3x3 stride 1 (most of the FLOPs of ResNet,
 *    GoogLeNet, SqueezeNet); 2.25x fewer multiplies, done as 16 GEMMs.
 *  - 1x1, stride 1, no padding: the input already is the GEMM B matrix
 *    (K = C_in/group rows of H*W), so sgemm reads it in place.
 *  - general: im2col + sgemm, tiled over output pixels (the im2col tile
 *    lives in per-thread scratch), with the bias + activation epilogue run
 *    on each tile while it is in cache.
 * Work is split over (image, group, pixel tile, output-channel chunk); the
 * channel split only happens when there are too few tiles to keep every
 * thread busy (late, small layers).
 *
 * On AVX-512 CPUs, with constant weights, prepack (called once after graph
 * optimisation) packs the weights of the GEMM-based paths for our own
 * register-tiled kernel ("packed GEMM" below), which replaces OpenBLAS
 * there: 1x1 reads its input in place, Winograd's transformed weights are
 * computed once, few-channel convs (stems) skip im2col entirely ("implicit
 * GEMM"), and "same" depthwise convs run a masked-load kernel without
 * padded copies.  The paths above remain for other CPUs and runtime
 * weights.  On any CPU, 1x1 convs on a single pixel (classifiers written
 * as a Conv) are a matrix-vector product. */
#include "ops.h"
#include "ops/conv.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* -std=c11 turns floating-point contraction off, so a*b+c stays a multiply
 * and an add; the kernels here want FMAs (results differ from the reference
 * only by rounding). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#endif

/* ======================================================================
 * attributes
 * ==================================================================== */

enum { PAD_NOTSET, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID };

/* Attribute values larger than this are refused: they cannot be meaningful
 * for images and keeping them small keeps size arithmetic far from overflow. */
#define CONV_ATTR_MAX ((int64_t)1 << 24)

typedef struct {
    int nsp;                 /* spatial rank implied by the attributes; 0 = any */
    bool has_kshape;
    int64_t kshape[2], strides[2], dils[2];
    int64_t pads[4];         /* begins then ends, as ONNX: [top, left, bottom, right] */
    bool has_pads;
    int auto_pad;
    int64_t group;
    /* set by prepack (cam__op_Conv_prepack) when the weights are constant:
     * byte offset from this struct to the packed weights in the same
     * allocation, 0 = none (see "packed GEMM") */
    size_t pack_off;
    int pack_path;           /* the path they were packed for */
} conv_params;

/* Reads an INTS attribute of 1 or 2 values (times `mult` for pads), each in
 * [lo, CONV_ATTR_MAX]; agrees its spatial rank with p->nsp. */
static cam_status conv_ints_attr(cam__node *n, conv_params *p, const char *name, int mult,
                                 int64_t lo, int64_t *dst, bool *present, char *err, size_t errlen) {
    const cam__attr *a = cam__attr_find(n, name);
    if (present) *present = false;
    if (!a) return CAM_OK;
    if (a->type != CAM__ATTR_INTS)
        return cam__fail(err, errlen, CAM_EFORMAT, "Conv %s: attribute %s must be a list of ints", n->name, name);
    if (a->n % mult != 0 || a->n == 0)
        return cam__fail(err, errlen, CAM_EFORMAT, "Conv %s: attribute %s has %d values", n->name, name, a->n);
    int nsp = a->n / mult;
    if (nsp > 2)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED,
                         "Conv %s: %d-D convolution is not supported (only 1-D and 2-D)", n->name, nsp);
    if (p->nsp && p->nsp != nsp)
        return cam__fail(err, errlen, CAM_EFORMAT, "Conv %s: attribute %s implies %d spatial dims, others %d",
                         n->name, name, nsp, p->nsp);
    p->nsp = nsp;
    for (int i = 0; i < a->n; i++) {
        if (a->ints[i] < lo || a->ints[i] > CONV_ATTR_MAX)
            return cam__fail(err, errlen, CAM_EFORMAT, "Conv %s: %s[%d] = %lld is out of range", n->name, name,
                             i, (long long)a->ints[i]);
        dst[i] = a->ints[i];
    }
    if (present) *present = true;
    return CAM_OK;
}

cam_status cam__op_Conv_check(cam__node *n, char *err, size_t errlen) {
    conv_params *p = calloc(1, sizeof *p);
    if (!p) return cam__fail(err, errlen, CAM_ENOMEM, "Conv %s: out of memory", n->name);
    for (int i = 0; i < 2; i++) p->kshape[i] = p->strides[i] = p->dils[i] = 1;
    free(n->params);
    n->params = p;

    cam_status st;
    if ((st = conv_ints_attr(n, p, "kernel_shape", 1, 1, p->kshape, &p->has_kshape, err, errlen)) ||
        (st = conv_ints_attr(n, p, "strides", 1, 1, p->strides, NULL, err, errlen)) ||
        (st = conv_ints_attr(n, p, "dilations", 1, 1, p->dils, NULL, err, errlen)) ||
        (st = conv_ints_attr(n, p, "pads", 2, 0, p->pads, &p->has_pads, err, errlen)))
        return st;

    const char *ap = cam__attr_string(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") == 0) p->auto_pad = PAD_NOTSET;
    else if (strcmp(ap, "SAME_UPPER") == 0) p->auto_pad = PAD_SAME_UPPER;
    else if (strcmp(ap, "SAME_LOWER") == 0) p->auto_pad = PAD_SAME_LOWER;
    else if (strcmp(ap, "VALID") == 0) p->auto_pad = PAD_VALID;
    else return cam__fail(err, errlen, CAM_EFORMAT, "Conv %s: unknown auto_pad \"%s\"", n->name, ap);

    p->group = cam__attr_int(n, "group", 1);
    if (p->group < 1 || p->group > CONV_ATTR_MAX)
        return cam__fail(err, errlen, CAM_EFORMAT, "Conv %s: group %lld must be >= 1", n->name, (long long)p->group);
    return CAM_OK;
}

/* ======================================================================
 * geometry
 * ==================================================================== */

enum { PATH_GEMM, PATH_1X1, PATH_DIRECT, PATH_WINO };
#define DW_MAX_TAPS 64   /* larger one-channel kernels take the GEMM path */

typedef struct {
    int64_t N, C, H, W, M, OH, OW, KH, KW, SH, SW, DH, DW, PT, PL;
    int64_t G, Cg, Mg, K;    /* groups, channels per group in/out, GEMM depth */
    int64_t HW, OHW;
    int path;
    int64_t tile;            /* GEMM path: largest tile of output pixels */
} conv_geom;

static size_t dw_scratch(const conv_geom *g);
static size_t dwv_scratch(const conv_geom *g);
static size_t ig_scratch(const conv_geom *g);
static bool wino_applies(const conv_geom *g);
static size_t wino_scratch(const conv_geom *g);

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Output size and leading pad along one axis. */
static cam_status conv_axis(const conv_params *p, int nsp, int ax, int64_t in, int64_t k, int64_t *out,
                            int64_t *pad_begin, const cam__node *n, char *err, size_t errlen) {
    int a = ax - (2 - nsp);   /* attribute index; 1-D convs use only the W axis */
    int64_t s = a >= 0 ? p->strides[a] : 1, d = a >= 0 ? p->dils[a] : 1;
    int64_t ext = (k - 1) * d + 1;   /* receptive field */
    int64_t pb = 0, pe = 0;
    if (p->auto_pad == PAD_NOTSET) {
        if (a >= 0 && p->has_pads) { pb = p->pads[a]; pe = p->pads[a + nsp]; }
    } else if (p->auto_pad != PAD_VALID) {
        int64_t o = (in + s - 1) / s;
        int64_t total = (o - 1) * s + ext - in;
        if (total < 0) total = 0;
        pb = p->auto_pad == PAD_SAME_UPPER ? total / 2 : total - total / 2;
        pe = total - pb;
    }
    int64_t span = in + pb + pe - ext;
    if (span < 0)
        return cam__fail(err, errlen, CAM_EFORMAT,
                         "Conv %s: kernel extent %lld exceeds padded input %lld along axis %d", n->name,
                         (long long)ext, (long long)(in + pb + pe), ax);
    *out = span / s + 1;
    *pad_begin = pb;
    return CAM_OK;
}

/* Output pixels per GEMM call.  OpenBLAS re-packs the weights (A) on every
 * call, so wide tiles win even past L2 size (measured on Zen 4 and with
 * OpenBLAS's SkylakeX kernel: 1.5 MiB of im2col per tile is ~5% faster than
 * 384 KiB on ResNet-18, and 1x1 layers with few input channels gain 25%);
 * the tile still bounds scratch and keeps the epilogue's rows in L2. */
#define CONV_TILE_BYTES (1536 * 1024)
#define CONV_TILE_MIN 128
#define CONV_TILE_MAX 4096

static int64_t conv_tile(const conv_geom *g) {
    /* 1x1 has no im2col; the tile then only bounds the output block that
     * the epilogue revisits. */
    int64_t per_col = (g->path == PATH_1X1 ? g->Mg : g->K) * (int64_t)sizeof(float);
    if (per_col < 1) per_col = 1;   /* no input channels */
    int64_t t = CONV_TILE_BYTES / per_col;
    if (t < CONV_TILE_MIN) t = CONV_TILE_MIN;   /* narrower tiles re-pack A too often */
    if (t > CONV_TILE_MAX) t = CONV_TILE_MAX;
    /* Small images: one tile if that is not much bigger than the budget. */
    if (g->OHW <= t + t / 2) t = g->OHW;
    return t;
}

/* Derives the geometry from params and input shapes.  Called by shape()
 * (which reports errors) and by forward (whose inputs shape() validated). */
static cam_status conv_geometry(const cam__node *n, const cam__tensor *x, const cam__tensor *w, conv_geom *g,
                                char *err, size_t errlen) {
    const conv_params *p = n->params;
    memset(g, 0, sizeof *g);
    if (x->rank == 5 || w->rank == 5)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "Conv %s: 3-D convolution is not supported", n->name);
    if (x->rank != 3 && x->rank != 4)
        return cam__fail(err, errlen, CAM_EFORMAT, "Conv %s: input X must be 3-D or 4-D (N,C,[H,]W), got rank %d",
                         n->name, x->rank);
    int nsp = x->rank - 2;
    if (p->nsp && p->nsp != nsp)
        return cam__fail(err, errlen, CAM_EFORMAT, "Conv %s: attributes are %d-D but X has %d spatial dims",
                         n->name, p->nsp, nsp);
    if (w->rank != x->rank)
        return cam__fail(err, errlen, CAM_EFORMAT, "Conv %s: W has rank %d, X rank %d", n->name, w->rank, x->rank);
    g->N = x->dims[0];
    g->C = x->dims[1];
    g->H = nsp == 2 ? x->dims[2] : 1;
    g->W = x->dims[x->rank - 1];
    g->M = w->dims[0];
    g->KH = nsp == 2 ? w->dims[2] : 1;
    g->KW = w->dims[w->rank - 1];
    g->G = p->group;
    if (g->C % g->G != 0)
        return cam__fail(err, errlen, CAM_EFORMAT, "Conv %s: group %lld does not divide input channels %lld",
                         n->name, (long long)g->G, (long long)g->C);
    if (g->M % g->G != 0 || g->M == 0)
        return cam__fail(err, errlen, CAM_EFORMAT, "Conv %s: group %lld does not divide output channels %lld",
                         n->name, (long long)g->G, (long long)g->M);
    g->Cg = g->C / g->G;
    g->Mg = g->M / g->G;
    if (w->dims[1] != g->Cg)
        return cam__fail(err, errlen, CAM_EFORMAT,
                         "Conv %s: W has %lld input channels per group, X has %lld channels / group %lld = %lld",
                         n->name, (long long)w->dims[1], (long long)g->C, (long long)g->G, (long long)g->Cg);
    if (g->KH < 1 || g->KW < 1)
        return cam__fail(err, errlen, CAM_EFORMAT, "Conv %s: empty kernel", n->name);
    if (p->has_kshape && (p->kshape[nsp - 1] != g->KW || (nsp == 2 && p->kshape[0] != g->KH)))
        return cam__fail(err, errlen, CAM_EFORMAT, "Conv %s: kernel_shape does not match W's spatial dims", n->name);
    int a0 = nsp == 2 ? 0 : -1;   /* attribute index of the H axis */
    g->SH = a0 >= 0 ? p->strides[0] : 1;
    g->DH = a0 >= 0 ? p->dils[0] : 1;
    g->SW = p->strides[nsp - 1];
    g->DW = p->dils[nsp - 1];
    cam_status st;
    if ((st = conv_axis(p, nsp, 0, g->H, g->KH, &g->OH, &g->PT, n, err, errlen)) ||
        (st = conv_axis(p, nsp, 1, g->W, g->KW, &g->OW, &g->PL, n, err, errlen)))
        return st;
    g->HW = g->H * g->W;
    g->OHW = g->OH * g->OW;
    g->K = g->Cg * g->KH * g->KW;
    /* sgemm takes int sizes */
    if (g->K > INT_MAX || g->OHW > INT_MAX || g->HW > INT_MAX || g->Mg > INT_MAX)
        return cam__fail(err, errlen, CAM_ELIMIT, "Conv %s: layer too large", n->name);

    if (g->Cg == 1 && g->KH * g->KW <= DW_MAX_TAPS) g->path = PATH_DIRECT;
    else if (g->KH == 1 && g->KW == 1 && g->SH == 1 && g->SW == 1 && g->PT == 0 && g->PL == 0 &&
             g->OH == g->H && g->OW == g->W)
        g->path = PATH_1X1;
    else if (wino_applies(g)) g->path = PATH_WINO;
    else g->path = PATH_GEMM;
    g->tile = g->OHW ? conv_tile(g) : 1;
    return CAM_OK;
}

cam_status cam__op_Conv_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err,
                              size_t errlen) {
    const cam__tensor *x = in[0], *w = in[1], *b = n->n_in > 2 ? in[2] : NULL;
    if (!x || !w) return cam__fail(err, errlen, CAM_EFORMAT, "Conv %s: inputs X and W are required", n->name);
    if (x->dtype != CAM_FLOAT || w->dtype != CAM_FLOAT || (b && b->dtype != CAM_FLOAT))
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "Conv %s: only float tensors are supported", n->name);
    conv_geom g;
    cam_status st = conv_geometry(n, x, w, &g, err, errlen);
    if (st) return st;
    if (b && (b->rank != 1 || b->dims[0] != g.M))
        return cam__fail(err, errlen, CAM_EFORMAT, "Conv %s: bias B must have %lld elements (one per output channel)",
                         n->name, (long long)g.M);
    int64_t dims[4] = {g.N, g.M, g.OH, g.OW};
    if (x->rank == 3) dims[2] = g.OW;
    out[0]->dtype = CAM_FLOAT;
    if (!cam__tensor_set_shape(out[0], x->rank, dims))
        return cam__fail(err, errlen, CAM_ELIMIT, "Conv %s: output too large", n->name);

    size_t scratch = 0;
    if (g.path == PATH_GEMM) {
        scratch = (size_t)g.K * (size_t)g.tile * sizeof(float);
        size_t v = ig_scratch(&g);
        if (v > scratch) scratch = v;
    }
    else if (g.path == PATH_DIRECT) {
        scratch = dw_scratch(&g);
        size_t v = dwv_scratch(&g);
        if (v > scratch) scratch = v;
    }
    else if (g.path == PATH_WINO) scratch = wino_scratch(&g);
    n->scratch = scratch;
    n->flops = 2.0 * (double)g.N * (double)g.M * (double)g.OHW * (double)g.K;
    return CAM_OK;
}

/* ======================================================================
 * epilogue: bias + activation on a row just written
 * ==================================================================== */

CAM__HOT static void add_bias_relu(float *x, int64_t n, float b) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] + b;
        x[i] = v > 0.0f ? v : 0.0f;
    }
}

CAM__HOT static void add_bias_clip(float *x, int64_t n, float b, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] + b;
        v = v < lo ? lo : v;
        x[i] = v > hi ? hi : v;
    }
}

CAM__HOT static void add_bias(float *x, int64_t n, float b) {
    for (int64_t i = 0; i < n; i++) x[i] += b;
}

/* x[0..n) = act(x + b).  The common activations are one loop; others add
 * the bias then run the shared activation code on the row while in L1. */
static void bias_act(float *x, int64_t n, float b, const cam__act *act) {
    switch (act->kind) {
    case CAM__ACT_RELU: add_bias_relu(x, n, b); return;
    case CAM__ACT_CLIP: add_bias_clip(x, n, b, act->a, act->b); return;
    default:
        if (b != 0.0f) add_bias(x, n, b);
        cam__act_apply(act, x, (size_t)n);
        return;
    }
}

/* ======================================================================
 * packed GEMM: our own kernel, on weights packed once by prepack
 *
 * OpenBLAS packs both operands on every call.  Re-packing the weights is
 * the costly part here: they are cold (a model's weights do not stay in
 * cache from one image to the next), and late layers have few pixels per
 * weight (MobileNetV2's 1x1 convs at 7x7 and 14x14: 15% of its time went
 * to sgemm_oncopy), then C is zeroed (beta = 0) and revisited by our
 * bias/activation epilogue.  On AVX-512 CPUs the 1x1 path therefore uses
 * its own kernel instead:
 *  - prepack stores the weights of each group in blocks of PG_MR output
 *    channels, k-major ([block][k][r]), padded with zero channels, followed
 *    by the bias padded the same way;
 *  - the micro-kernel keeps a 6 x 64 tile of C (6 channels, 4 vectors of
 *    16 pixels) in 24 zmm registers, reads the activations (B, row-major
 *    K x pixels) in place, 4 vector loads and 6 broadcast weights per 24
 *    FMAs, and applies bias + clamp (none / Relu / Clip) before its only
 *    store.  The last < 64 pixels of a row take a 1-4 vector variant whose
 *    last vector is masked, so no operand is ever copied and a 7x7 plane
 *    (49 pixels) is one pass over the weights, not three;
 *  - pixels are processed in chunks whose B block stays in L2 while every
 *    channel block of the chunk reads it.
 * It matches OpenBLAS's kernel in hot-cache microbenchmarks and saves the
 * packing, zeroing and epilogue passes: with cold weights, MobileNetV2's
 * 1x1 layers run 25-35% faster.  Other CPUs (and clang builds) keep the
 * OpenBLAS path, as do runtime weight tensors (never packed).
 * ==================================================================== */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define PG_BUILT 1
#define PG_TARGET __attribute__((target("arch=x86-64-v4")))
#else
#define PG_BUILT 0
#endif

#define PG_MR 6                        /* output channels per micro-tile */
#define PG_NV 4                        /* 16-float vectors of pixels per micro-tile */
#define PG_CHUNK_BYTES (256 * 1024)    /* B block of one pixel chunk */
#define PG_KBLOCK_BYTES (384 * 1024)   /* rows of B one pass over the channel blocks reads */
#define PG_TILE_BYTES (384 * 1024)     /* im2col tile for the packed kernel */
#define PG_TAIL_K 2048                 /* longest K block with pg_cols columns (its copy is on the stack) */

/* Floats of one group's packed weights + bias. */
static size_t pg_group_floats(int64_t mg, int64_t k) {
    size_t blocks = (size_t)((mg + PG_MR - 1) / PG_MR);
    return blocks * (size_t)PG_MR * ((size_t)k + 1);
}

/* Packs w (G groups of mg x k, row-major) and b (G*mg, or NULL) into dst. */
static void pg_pack(float *dst, const float *w, const float *b, int64_t groups, int64_t mg, int64_t k) {
    int64_t blocks = (mg + PG_MR - 1) / PG_MR;
    for (int64_t grp = 0; grp < groups; grp++) {
        float *d = dst + (size_t)grp * pg_group_floats(mg, k), *db = d + blocks * PG_MR * k;
        for (int64_t mb = 0; mb < blocks; mb++)
            for (int r = 0; r < PG_MR; r++) {
                int64_t m = mb * PG_MR + r;
                bool in = m < mg;
                for (int64_t kk = 0; kk < k; kk++)
                    d[(mb * k + kk) * PG_MR + r] = in ? w[(grp * mg + m) * k + kk] : 0.0f;
                db[mb * PG_MR + r] = in && b ? b[grp * mg + m] : 0.0f;
            }
    }
}

/* CAMSERVE_NO_AVX512=1 forces the portable paths (sgemm, im2col), so that
 * the tests cover them on AVX-512 machines too. */
static bool pg_available(void) {
#if PG_BUILT
    return cam__avx512_enabled();
#else
    return false;
#endif
}

#if PG_BUILT
/* c[r][j] = clamp(bias[r] + sum_k w[k][r] * b[k][j], lo, hi) for r < mv and
 * j < 16*NV, where the last vector's columns are those of `tail` (all 16
 * when not `masked`).  max(lo, v) and min(hi, v) return v when it is NaN. */
static inline __attribute__((always_inline)) PG_TARGET void
pg_tile(int NV, bool masked, int64_t K, const float *restrict w, const float *restrict b, int64_t ldb,
        float *restrict c, int64_t ldc, const float *restrict bias, int mv, __mmask16 tail, float lo, float hi,
        int first, int last) {
    __m512 acc[PG_MR][PG_NV];
    if (first) {
        _Pragma("GCC unroll 8")
        for (int r = 0; r < PG_MR; r++)
            _Pragma("GCC unroll 4")
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_set1_ps(bias[r]);
    } else {   /* a later block of K: continue the sums stored in c */
        _Pragma("GCC unroll 8")
        for (int r = 0; r < PG_MR; r++)
            _Pragma("GCC unroll 4")
            for (int v = 0; v < NV; v++)
                acc[r][v] = r >= mv ? _mm512_setzero_ps()
                            : masked && v == NV - 1 ? _mm512_maskz_loadu_ps(tail, c + r * ldc + 16 * v)
                                                    : _mm512_loadu_ps(c + r * ldc + 16 * v);
    }
    for (int64_t k = 0; k < K; k++) {
        __m512 x[PG_NV];
        _Pragma("GCC unroll 4")
        for (int v = 0; v < NV; v++)
            x[v] = masked && v == NV - 1 ? _mm512_maskz_loadu_ps(tail, b + k * ldb + 16 * v)
                                         : _mm512_loadu_ps(b + k * ldb + 16 * v);
        const float *wk = w + k * PG_MR;
        _Pragma("GCC unroll 8")
        for (int r = 0; r < PG_MR; r++) {
            __m512 wr = _mm512_set1_ps(wk[r]);
            _Pragma("GCC unroll 4")
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(wr, x[v], acc[r][v]);
        }
    }
    __m512 vlo = _mm512_set1_ps(last ? lo : -INFINITY), vhi = _mm512_set1_ps(last ? hi : INFINITY);
    _Pragma("GCC unroll 8")
    for (int r = 0; r < PG_MR; r++) {
        if (r >= mv) continue;   /* not break: the loop must unroll for acc to stay in registers */
        _Pragma("GCC unroll 4")
        for (int v = 0; v < NV; v++) {
            __m512 y = _mm512_min_ps(vhi, _mm512_max_ps(vlo, acc[r][v]));
            if (masked && v == NV - 1) _mm512_mask_storeu_ps(c + r * ldc + 16 * v, tail, y);
            else _mm512_storeu_ps(c + r * ldc + 16 * v, y);
        }
    }
}

/* one function per width: 1..PG_NV vectors, all full or the last masked */
typedef void (*pg_ukr_fn)(int64_t K, const float *w, const float *b, int64_t ldb, float *c, int64_t ldc,
                          const float *bias, int mv, __mmask16 tail, float lo, float hi, int first, int last);
#define PG_UKR(NAME, NV, MASKED)                                                                           \
    PG_TARGET static void NAME(int64_t K, const float *w, const float *b, int64_t ldb, float *c, int64_t ldc, \
                               const float *bias, int mv, __mmask16 tail, float lo, float hi, int first,  \
                               int last) {                                                                 \
        pg_tile(NV, MASKED, K, w, b, ldb, c, ldc, bias, mv, tail, lo, hi, first, last);                   \
    }
PG_UKR(pg_ukr_f1, 1, false)
PG_UKR(pg_ukr_f2, 2, false)
PG_UKR(pg_ukr_f3, 3, false)
PG_UKR(pg_ukr_f4, 4, false)
PG_UKR(pg_ukr_m1, 1, true)
PG_UKR(pg_ukr_m2, 2, true)
PG_UKR(pg_ukr_m3, 3, true)
PG_UKR(pg_ukr_m4, 4, true)
#undef PG_UKR
static const pg_ukr_fn pg_ukr_full[PG_NV + 1] = {NULL, pg_ukr_f1, pg_ukr_f2, pg_ukr_f3, pg_ukr_f4};
static const pg_ukr_fn pg_ukr_masked[PG_NV + 1] = {NULL, pg_ukr_m1, pg_ukr_m2, pg_ukr_m3, pg_ukr_m4};

/* The last R (1 or 2) columns of a 6-channel block, when a masked vector
 * for them would waste 14-15 of its 16 lanes on every FMA (7x7 planes: 49
 * = 3 vectors + 1 pixel): the 6 channels of a packed row of weights are
 * the vector (masked to 6 lanes) and each B value is broadcast, four k in
 * flight.  Same contract as pg_tile. */
PG_TARGET static void pg_cols(int R, int64_t K, const float *restrict w, const float *restrict b, int64_t ldb,
                              float *restrict c, int64_t ldc, const float *restrict bias, int mv, float lo, float hi,
                              int first, int last) {
    const __mmask16 m6 = (1u << PG_MR) - 1;
    __m512 acc[2][4];
    for (int j = 0; j < 2; j++)
        for (int u = 0; u < 4; u++) acc[j][u] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 4 <= K; k += 4)
        for (int u = 0; u < 4; u++) {
            __m512 wv = _mm512_maskz_loadu_ps(m6, w + (k + u) * PG_MR);
            acc[0][u] = _mm512_fmadd_ps(wv, _mm512_set1_ps(b[(k + u) * ldb]), acc[0][u]);
            if (R > 1) acc[1][u] = _mm512_fmadd_ps(wv, _mm512_set1_ps(b[(k + u) * ldb + 1]), acc[1][u]);
        }
    for (; k < K; k++) {
        __m512 wv = _mm512_maskz_loadu_ps(m6, w + k * PG_MR);
        acc[0][0] = _mm512_fmadd_ps(wv, _mm512_set1_ps(b[k * ldb]), acc[0][0]);
        if (R > 1) acc[1][0] = _mm512_fmadd_ps(wv, _mm512_set1_ps(b[k * ldb + 1]), acc[1][0]);
    }
    for (int j = 0; j < R; j++) {
        float prev[16] = {0}, out[16];
        if (first) {
            for (int r = 0; r < PG_MR; r++) prev[r] = bias[r];
        } else {
            for (int r = 0; r < mv; r++) prev[r] = c[r * ldc + j];
        }
        __m512 s = _mm512_add_ps(_mm512_add_ps(acc[j][0], acc[j][1]), _mm512_add_ps(acc[j][2], acc[j][3]));
        s = _mm512_add_ps(_mm512_loadu_ps(prev), s);
        if (last) s = _mm512_min_ps(_mm512_set1_ps(hi), _mm512_max_ps(_mm512_set1_ps(lo), s));
        _mm512_storeu_ps(out, s);
        for (int r = 0; r < mv; r++) c[r * ldc + j] = out[r];
    }
}

/* Rows [mb0*PG_MR, min(mb1*PG_MR, m)) and columns [0, n) of
 * C = clamp(W B + bias): pk is one group's packed weights (m x k), B is
 * k x n with row stride ldb, C has row stride ldc.  Each block of rows
 * runs over the columns in passes of up to PG_NV vectors of 16, as even
 * as possible (196 pixels: 4+3+3+3 vectors rather than 4+4+4+1, whose
 * last pass would read all the weights for 4 pixels); the last vector is
 * masked when n is not a multiple of 16. */
PG_TARGET static void pg_gemm(const float *pk, int64_t m, int64_t k, int64_t mb0, int64_t mb1, const float *b,
                              int64_t ldb, int64_t n, float *c, int64_t ldc, float lo, float hi) {
    const float *bias = pk + (m + PG_MR - 1) / PG_MR * PG_MR * k;
    /* 1-2 columns past whole vectors go to pg_cols */
    int rcols = n > 16 && n % 16 <= 2 ? (int)(n % 16) : 0;
    n -= rcols;
    int64_t nvec = (n + 15) / 16, npass = (nvec + PG_NV - 1) / PG_NV;
    int64_t base = npass ? nvec / npass : 0, extra = npass ? nvec % npass : 0;
    __mmask16 tail = (__mmask16)(n % 16 ? (1u << (n % 16)) - 1 : 0xffff);
    /* K in blocks whose rows of B (re-read for every block of channels)
     * stay in L2; the partial sums go through C */
    int64_t kc = PG_KBLOCK_BYTES / (16 * (int64_t)sizeof(float) * (nvec ? nvec : 1));
    if (kc < 128) kc = 128;
    if (rcols && kc > PG_TAIL_K) kc = PG_TAIL_K;
    if (kc >= k) kc = k ? k : 1;
    else kc = (k + (k + kc - 1) / kc - 1) / ((k + kc - 1) / kc);   /* even blocks */
    /* pg_cols' columns of the K block, contiguous: read in place, each k
     * is another cache line of B (7x7: 196 bytes apart), and every block of
     * channels read them all again from L2 (perf: pg_cols was 2.9 % of
     * MobileNetV2 for 1 of 49 columns of its last layers) */
    float tcols[2 * PG_TAIL_K];
    for (int64_t k0 = 0; k0 < k || k0 == 0; k0 += kc) {   /* once when k == 0: C = bias */
        int64_t kb = k - k0 < kc ? k - k0 : kc;
        int first = k0 == 0, last = k0 + kb == k;
        for (int64_t kk = 0; rcols && kk < kb; kk++)
            for (int r = 0; r < rcols; r++) tcols[kk * rcols + r] = b[(k0 + kk) * ldb + n + r];
        for (int64_t mb = mb0; mb < mb1; mb++) {
            int mv = m - mb * PG_MR < PG_MR ? (int)(m - mb * PG_MR) : PG_MR;
            const float *w = pk + (mb * k + k0) * PG_MR, *bb = bias + mb * PG_MR;
            float *cm = c + mb * PG_MR * ldc;
            const float *bk = b + k0 * ldb;
            int64_t j = 0;
            for (int64_t q = 0; q < npass; q++) {
                int64_t nv = base + (q < extra);
                if (q + 1 < npass || tail == 0xffff)
                    pg_ukr_full[nv](kb, w, bk + j, ldb, cm + j, ldc, bb, mv, 0xffff, lo, hi, first, last);
                else
                    pg_ukr_masked[nv](kb, w, bk + j, ldb, cm + j, ldc, bb, mv, tail, lo, hi, first, last);
                j += 16 * nv;
            }
            if (rcols) pg_cols(rcols, kb, w, tcols, rcols, cm + n, ldc, bb, mv, lo, hi, first, last);
        }
    }
}
#else
static void pg_gemm(const float *pk, int64_t m, int64_t k, int64_t mb0, int64_t mb1, const float *b, int64_t ldb,
                    int64_t n, float *c, int64_t ldc, float lo, float hi) {
    (void)pk; (void)m; (void)k; (void)mb0; (void)mb1; (void)b; (void)ldb; (void)n; (void)c; (void)ldc;
    (void)lo; (void)hi;
}
#endif

/* The clamp [lo, hi] that encodes act (none / Relu / Clip); other
 * activations clamp nothing and run afterwards (returns true). */
static bool act_clamp(const cam__act *act, float *lo, float *hi) {
    *lo = -INFINITY;
    *hi = INFINITY;
    if (act->kind == CAM__ACT_RELU) *lo = 0.0f;
    else if (act->kind == CAM__ACT_CLIP) { *lo = act->a; *hi = act->b; }
    else return act->kind != CAM__ACT_NONE;
    return false;
}

/* ---- the 1x1 path on packed weights ------------------------------------ */

typedef struct {
    const conv_geom *g;
    const float *x, *pk;
    float *y;
    cam__act act;
    float lo, hi;
    bool post_act;
    int64_t nc, nchunks;     /* pixels per chunk, chunks per image */
    int64_t mblocks, mbpp, mparts;   /* channel blocks per group, per part, parts */
} pg1_job;

static void pg1_task(void *arg, int64_t begin, int64_t end, int tid) {
    (void)tid;
    const pg1_job *j = arg;
    const conv_geom *g = j->g;
    size_t gf = pg_group_floats(g->Mg, g->K);
    for (int64_t it = begin; it < end; it++) {
        int64_t mp = it % j->mparts, rest = it / j->mparts;
        int64_t ch = rest % j->nchunks, ng = rest / j->nchunks;
        int64_t grp = ng % g->G, img = ng / g->G;
        int64_t n0 = ch * j->nc, cols = g->OHW - n0 < j->nc ? g->OHW - n0 : j->nc;
        int64_t mb0 = mp * j->mbpp, mb1 = mb0 + j->mbpp < j->mblocks ? mb0 + j->mbpp : j->mblocks;
        if (cols <= 0 || mb0 >= mb1) continue;
        const float *xg = j->x + (img * g->C + grp * g->Cg) * g->HW + n0;
        float *yg = j->y + (img * g->M + grp * g->Mg) * g->OHW + n0;
        pg_gemm(j->pk + (size_t)grp * gf, g->Mg, g->K, mb0, mb1, xg, g->HW, cols, yg, g->OHW, j->lo, j->hi);
        if (j->post_act) {
            int64_t m1 = mb1 * PG_MR < g->Mg ? mb1 * PG_MR : g->Mg;
            for (int64_t m = mb0 * PG_MR; m < m1; m++) cam__act_apply(&j->act, yg + m * g->OHW, (size_t)cols);
        }
    }
}

static void pg1_forward(const conv_geom *g, const float *x, const float *pk, float *y, const cam__act *act,
                        const cam__ctx *ctx) {
    pg1_job j = {.g = g, .x = x, .pk = pk, .y = y, .act = *act};
    j.post_act = act_clamp(act, &j.lo, &j.hi);
    int64_t nc = PG_CHUNK_BYTES / ((g->K ? g->K : 1) * (int64_t)sizeof(float));
    nc = nc < 64 ? 64 : nc & ~(int64_t)31;
    if (g->OHW <= nc + nc / 2) nc = g->OHW;
    int64_t nchunks = ceil_div(g->OHW, nc);
    /* Chunks of equal size (a last chunk of 256 pixels after three of 4096
     * gave one of two threads 65% of MobileNetV2's first 1x1 layers) and,
     * with several threads, as many as divide evenly among them when that
     * keeps them at least 256 pixels wide; else the channel blocks are
     * split too (small images: 169 pixels would split 96 + 73, while
     * SqueezeNet's 1000 classifier channels split 84 + 83 blocks). */
    int threads = cam__ctx_threads(ctx);
    int64_t ng = g->N * g->G;
    if (threads > 1 && (ng * nchunks) % threads != 0 && ng * nchunks < 8 * threads)
        for (int64_t c = nchunks + 1; c <= nchunks + threads; c++)
            if ((ng * c) % threads == 0 && g->OHW / c >= 256) { nchunks = c; break; }
    nc = ceil_div(g->OHW, nchunks);
    if (nc < g->OHW) nc = (nc + 15) & ~(int64_t)15;   /* whole vectors */
    j.nc = nc;
    j.nchunks = ceil_div(g->OHW, nc);
    j.mblocks = ceil_div(g->Mg, PG_MR);
    int64_t base = ng * j.nchunks;
    j.mparts = threads > 1 && base % threads != 0 && base < 8 * threads ? threads : 1;
    if (j.mparts > j.mblocks) j.mparts = j.mblocks;
    j.mbpp = ceil_div(j.mblocks, j.mparts);
    j.mparts = ceil_div(j.mblocks, j.mbpp);
    cam__ctx_parallel(ctx, base * j.mparts, 1, pg1_task, &j);
}

/* ---- one output pixel: matrix-vector ------------------------------------ */

/* y[m] = clamp(b[m] + w[m] . x) for rows [m0, m1) of w (row-major, k
 * columns).  Memory-bound: each weight is read once (no packing); 64 lanes
 * per row keep four vector FMA chains in flight. */
CAM__HOT static void gemv_rows(const float *restrict w, const float *restrict x, const float *b, int64_t k,
                               int64_t m0, int64_t m1, float *restrict y, float lo, float hi) {
    for (int64_t m = m0; m < m1; m++) {
        const float *wm = w + m * k;
        float acc[64] = {0};
        int64_t i = 0;
        for (; i + 64 <= k; i += 64)
            for (int l = 0; l < 64; l++) acc[l] += wm[i + l] * x[i + l];
        float t = b ? b[m] : 0.0f;
        for (; i < k; i++) t += wm[i] * x[i];
        for (int w2 = 32; w2 >= 1; w2 /= 2)
            for (int l = 0; l < w2; l++) acc[l] += acc[l + w2];
        float v = acc[0] + t;
        v = v < lo ? lo : v;
        y[m] = v > hi ? hi : v;
    }
}

typedef struct {
    const conv_geom *g;
    const float *x, *w, *b;
    float *y;
    float lo, hi;
} gemv_job;

/* items: (image, group, block of 16 output channels) */
static void gemv_task(void *arg, int64_t begin, int64_t end, int tid) {
    (void)tid;
    const gemv_job *j = arg;
    const conv_geom *g = j->g;
    int64_t nb = ceil_div(g->Mg, 16);
    for (int64_t it = begin; it < end; it++) {
        int64_t mb = it % nb, ng = it / nb, grp = ng % g->G, img = ng / g->G;
        int64_t m0 = mb * 16, m1 = m0 + 16 < g->Mg ? m0 + 16 : g->Mg;
        gemv_rows(j->w + grp * g->Mg * g->K, j->x + img * g->C + grp * g->Cg, j->b ? j->b + grp * g->Mg : NULL,
                  g->K, m0, m1, j->y + img * g->M + grp * g->Mg, j->lo, j->hi);
    }
}

static void gemv_forward(const conv_geom *g, const float *x, const float *w, const float *b, float *y,
                         const cam__act *act, const cam__ctx *ctx) {
    gemv_job j = {g, x, w, b, y, 0, 0};
    bool post = act_clamp(act, &j.lo, &j.hi);
    int64_t nb = ceil_div(g->Mg, 16);
    cam__ctx_parallel(ctx, g->N * g->G * nb, ceil_div(65536, 16 * g->K), gemv_task, &j);
    if (post) cam__act_apply(act, y, (size_t)(g->N * g->M));
}

/* ======================================================================
 * GEMM paths (im2col and 1x1)
 * ==================================================================== */

/* First and one-past-last output column whose input column
 * ow*s - pl + off lies in [0, w). */
static void valid_cols(int64_t ow_n, int64_t w, int64_t s, int64_t pl, int64_t off, int64_t *lo, int64_t *hi) {
    int64_t first = pl - off;                         /* ow*s >= first */
    int64_t l = first <= 0 ? 0 : (first + s - 1) / s;
    int64_t last = w - 1 + pl - off;                  /* ow*s <= last */
    int64_t h = last < 0 ? 0 : last / s + 1;
    if (l > ow_n) l = ow_n;
    if (h > ow_n) h = ow_n;
    if (h < l) h = l;
    *lo = l;
    *hi = h;
}

/* One zero-padded input row split into its two column phases, in one
 * pass over the source: d0[j] = padded column 2j, d1[j] = 2j + 1, j < wq,
 * where padded column c is input column c - pl.  lo[q], hi[q]: the phase
 * columns inside the image (valid_cols). */
static inline void split_row2(float *restrict d0, float *restrict d1, const float *src, int64_t wq,
                              const int64_t *lo, const int64_t *hi, int64_t pl) {
    int64_t a = lo[0] > lo[1] ? lo[0] : lo[1], b = hi[0] < hi[1] ? hi[0] : hi[1];
    if (b < a) b = a;
    for (int64_t j = 0; j < a; j++) {   /* left edge */
        d0[j] = j >= lo[0] && j < hi[0] ? src[2 * j - pl] : 0.0f;
        d1[j] = j >= lo[1] && j < hi[1] ? src[2 * j + 1 - pl] : 0.0f;
    }
    const float *s = src + 2 * a - pl;
    for (int64_t j = a; j < b; j++) {
        d0[j] = s[2 * (j - a)];
        d1[j] = s[2 * (j - a) + 1];
    }
    for (int64_t j = b; j < wq; j++) {  /* right edge */
        d0[j] = j >= lo[0] && j < hi[0] ? src[2 * j - pl] : 0.0f;
        d1[j] = j >= lo[1] && j < hi[1] ? src[2 * j + 1 - pl] : 0.0f;
    }
}

CAM__HOT static void copy_strided(float *restrict dst, const float *restrict src, int64_t n, int64_t s) {
    if (s == 2) {
        for (int64_t i = 0; i < n; i++) dst[i] = src[2 * i];
    } else {
        for (int64_t i = 0; i < n; i++) dst[i] = src[i * s];
    }
}

/* Builds rows [0, K) x columns [p0, p0+cols) of the im2col matrix of one
 * image and group into col (row stride cols). */
static void im2col_tile(const conv_geom *g, const float *x, int64_t p0, int64_t cols, float *col) {
    int64_t oh0 = p0 / g->OW, ow0 = p0 % g->OW;
    for (int64_t kw = 0; kw < g->KW; kw++) {
        int64_t lo, hi;
        valid_cols(g->OW, g->W, g->SW, g->PL, kw * g->DW, &lo, &hi);
        for (int64_t c = 0; c < g->Cg; c++) {
            const float *plane = x + c * g->HW;
            for (int64_t kh = 0; kh < g->KH; kh++) {
                float *row = col + ((c * g->KH + kh) * g->KW + kw) * cols;
                int64_t oh = oh0, ow = ow0;
                for (int64_t j = 0; j < cols; oh++, ow = 0) {
                    int64_t seg = g->OW - ow;
                    if (seg > cols - j) seg = cols - j;
                    int64_t ih = oh * g->SH - g->PT + kh * g->DH;
                    float *d = row + j;
                    if (ih < 0 || ih >= g->H) {
                        memset(d, 0, (size_t)seg * sizeof(float));
                    } else {
                        int64_t a = lo > ow ? lo : ow, b = hi < ow + seg ? hi : ow + seg;
                        if (b < a) b = a;
                        if (a > ow) memset(d, 0, (size_t)(a - ow) * sizeof(float));
                        const float *s = plane + ih * g->W + a * g->SW - g->PL + kw * g->DW;
                        if (g->SW == 1) memcpy(d + (a - ow), s, (size_t)(b - a) * sizeof(float));
                        else copy_strided(d + (a - ow), s, b - a, g->SW);
                        if (ow + seg > b) memset(d + (b - ow), 0, (size_t)(ow + seg - b) * sizeof(float));
                    }
                    j += seg;
                }
            }
        }
    }
}

typedef struct {
    const conv_geom *g;
    const float *x, *w, *b;
    float *y;
    cam__act act;
    const cam__ctx *ctx;
    int64_t nt, tile, ms, mchunk;
    const float *pk;         /* packed weights (packed-GEMM kernel), or NULL: OpenBLAS */
    float lo, hi;            /* with pk: the clamp for act */
    bool post_act;
} gemm_job;

static void gemm_task(void *arg, int64_t begin, int64_t end, int tid) {
    const gemm_job *j = arg;
    const conv_geom *g = j->g;
    float *col = j->g->path == PATH_GEMM ? cam__scratch(j->ctx, tid) : NULL;
    int64_t built = -1;   /* (image, group, tile) whose im2col is in col */
    for (int64_t it = begin; it < end; it++) {
        int64_t mi = it % j->ms, rest = it / j->ms;
        int64_t t = rest % j->nt, ng = rest / j->nt;
        int64_t grp = ng % g->G, img = ng / g->G;
        int64_t p0 = t * j->tile, cols = g->OHW - p0 < j->tile ? g->OHW - p0 : j->tile;
        int64_t m0 = mi * j->mchunk, mc = g->Mg - m0 < j->mchunk ? g->Mg - m0 : j->mchunk;
        if (cols <= 0 || mc <= 0) continue;
        const float *xg = j->x + (img * g->C + grp * g->Cg) * g->HW;
        float *yg = j->y + (img * g->M + grp * g->Mg) * g->OHW;
        const float *bmat;
        int ldb;
        if (col) {
            if (built != rest) {
                im2col_tile(g, xg, p0, cols, col);
                built = rest;
            }
            bmat = col;
            ldb = (int)cols;
        } else {
            bmat = xg + p0;
            ldb = (int)g->HW;
        }
        float *c = yg + m0 * g->OHW + p0;
        if (j->pk) {   /* mchunk is a multiple of PG_MR */
            pg_gemm(j->pk + (size_t)grp * pg_group_floats(g->Mg, g->K), g->Mg, g->K, m0 / PG_MR,
                    ceil_div(m0 + mc, PG_MR), bmat, ldb, cols, yg + p0, g->OHW, j->lo, j->hi);
            if (j->post_act)
                for (int64_t m = 0; m < mc; m++) cam__act_apply(&j->act, c + m * g->OHW, (size_t)cols);
            continue;
        }
        cam__sgemm(false, false, (int)mc, (int)cols, (int)g->K, 1.0f, j->w + (grp * g->Mg + m0) * g->K, (int)g->K,
                   bmat, ldb, 0.0f, c, (int)g->OHW);
        if (j->b || j->act.kind != CAM__ACT_NONE)
            for (int64_t m = 0; m < mc; m++)
                bias_act(c + m * g->OHW, cols, j->b ? j->b[grp * g->Mg + m0 + m] : 0.0f, &j->act);
    }
}

/* Splits the layer into work items for `threads` threads.  Tiles come from
 * the cache budget; with several threads and few items we first try more
 * (smaller) tiles so the count divides evenly, else split output channels. */
static void gemm_plan(const conv_geom *g, int threads, gemm_job *j) {
    int64_t tile = g->tile;
    if (j->pk) {
        /* our kernel does not re-pack the weights per call: tiles as small
         * as keep the im2col block in L2 (<= g->tile, which sized scratch) */
        int64_t t = PG_TILE_BYTES / ((g->K ? g->K : 1) * (int64_t)sizeof(float));
        t = t < 64 ? 64 : t & ~(int64_t)15;
        if (t < tile) tile = t;
    }
    int64_t nt = ceil_div(g->OHW, tile);
    int64_t ms = 1;
    int64_t base = g->N * g->G;
    if (threads > 1 && base * nt < 4 * threads && (base * nt) % threads != 0) {
        bool found = false;
        for (int64_t c = nt + 1; c <= nt + threads && !found; c++)
            if ((base * c) % threads == 0 && ceil_div(g->OHW, c) >= CONV_TILE_MIN) { nt = c; found = true; }
        if (!found && g->Mg >= 32) ms = threads;
    }
    j->tile = ceil_div(g->OHW, nt);
    j->nt = ceil_div(g->OHW, j->tile);
    int64_t mchunk = ceil_div(g->Mg, ms);
    if (ms > 1) mchunk = (mchunk + 15) & ~(int64_t)15;   /* whole micro-kernel panels */
    if (j->pk) mchunk = ceil_div(mchunk, PG_MR) * PG_MR;   /* whole channel blocks */
    j->mchunk = mchunk;
    j->ms = ceil_div(g->Mg, mchunk);
}

/* ======================================================================
 * Winograd F(2x2, 3x3): 3x3, stride 1, dilation 1, one group
 *
 * Each 2x2 output tile is A^T [(G g G^T) . (B^T d B)] A, with d the 4x4
 * input patch: 16 products per tile and channel pair instead of 36, so
 * the multiply stage (16 GEMMs, one per element xi of the 4x4 transform
 * domain: U_xi [M x C] times V_xi [C x tiles]) does 2.25x fewer FLOPs than
 * im2col.  The transforms only add, subtract and halve, so the result is
 * as accurate as direct convolution to a few ulps.
 *
 * Constant weights are transformed once, by prepack, and kept as 16
 * packed matrices for the packed-GEMM kernel (on AVX-512 CPUs; redoing the
 * transform on every forward cost GoogLeNet 6% of its time).  Otherwise
 * the weight transform U (16 x M x C) is done on every forward into thread
 * 0's scratch, shared read-only by all threads in the second phase, and
 * the products are OpenBLAS's.  The input is
 * processed in blocks of whole tile rows, so that V and the GEMM result of
 * one block stay in L2; its rows are zero-padded and split into even and
 * odd columns first, so each tile's patch is 4 contiguous loads per row.
 * Bias and the clamp activations are applied in the output transform.
 * ==================================================================== */

/* V of one block (its tile rows, all input channels) and the GEMM result
 * of one chunk of output channels for it stay in L2 together.  Blocks are
 * as many whole tile rows as the V budget allows, and the output channels
 * are done in chunks under the result budget: the GEMMs then see whole
 * blocks of tiles (at 13x13, all 49 tiles) instead of the 21-28 columns a
 * block sized for V and all M channels at once left, which wasted a third
 * of every vector. */
#define WINO_V_BYTES (384 * 1024)
#define WINO_MX_BYTES (384 * 1024)
#define WINO_U_MAX_BYTES (4 << 20)      /* larger layers: U would not stay in cache */

typedef struct {
    int64_t th, tw;          /* tile rows and columns */
    int64_t wq;              /* length of the even/odd halves of a padded row */
    int64_t rmax;            /* tile rows per block at most */
    int64_t mc;              /* output channels per GEMM chunk at most (PG_MR multiple) */
    int64_t lo[2], hi[2];    /* columns of each half inside the image */
    size_t u, v, mx, rows;   /* floats of each scratch part (v, mx, rows: per block) */
} wino_layout;

static bool wino_applies(const conv_geom *g) {
    /* Measured against im2col on Zen 4 (tools/convbench.c "probe" layers):
     * Winograd wins 1.3-1.8x from 14x14 outputs up, whatever the channel
     * counts (even 3->64 and 32->8); at 7x7 and below partial tiles and
     * short GEMMs eat the gain, and once U outgrows L2/L3 (384x384 and up)
     * re-reading it for every block of tiles makes it 2x slower. */
    return g->KH == 3 && g->KW == 3 && g->SH == 1 && g->SW == 1 && g->DH == 1 && g->DW == 1 && g->G == 1 &&
           g->OH >= 8 && g->OW >= 8 && 16 * g->M * g->C * (int64_t)sizeof(float) <= WINO_U_MAX_BYTES;
}

/* Stride between the 16 xi planes of V and of the GEMM result: the
 * transforms stream through all 16 at once, so their starts are spread
 * over a 4 KiB page (stride = 64 floats mod 1024) instead of aliasing. */
static int64_t wino_skew(int64_t n) { return (n + 1023 - 64) / 1024 * 1024 + 64; }

static void wino_layout_make(const conv_geom *g, wino_layout *l) {
    l->th = (g->OH + 1) / 2;
    l->tw = (g->OW + 1) / 2;
    l->wq = l->tw + 1;   /* tile tx reads padded columns 2tx .. 2tx+3 */
    int64_t r = WINO_V_BYTES / (16 * (g->C ? g->C : 1) * (int64_t)sizeof(float) * l->tw);
    r = r < 1 ? 1 : (r > l->th ? l->th : r);
    l->rmax = ceil_div(l->th, ceil_div(l->th, r));   /* blocks of even height */
    for (int q = 0; q < 2; q++) valid_cols(l->wq, g->W, 2, g->PL, q, &l->lo[q], &l->hi[q]);
    int64_t tb = l->rmax * l->tw;
    int64_t mc = WINO_MX_BYTES / (16 * (int64_t)sizeof(float) * tb) / PG_MR * PG_MR;
    if (mc < PG_MR) mc = PG_MR;
    if (mc > ceil_div(g->M, PG_MR) * PG_MR) mc = ceil_div(g->M, PG_MR) * PG_MR;
    l->mc = mc;
    l->u = (size_t)(16 * g->M * g->C);
    l->v = (size_t)(16 * wino_skew(g->C * tb));
    l->mx = (size_t)(16 * wino_skew(mc * tb));
    l->rows = (size_t)((2 * l->rmax + 2) * 2 * l->wq + 2 * l->tw + 2);   /* + a dummy output row */
}

static size_t wino_scratch(const conv_geom *g) {
    wino_layout l;
    wino_layout_make(g, &l);
    return (l.u + l.v + l.mx + l.rows) * sizeof(float);
}

/* U[xi][m][c] = (G g G^T)[xi] for output channels [m0, m1), 16 input
 * channels at a time: their 3x3 kernels are transposed into kt so the
 * transform vectorises over c, and each xi is written as one contiguous
 * run.  (Scattering 16 floats per (m, c) pair M*C floats apart ran 5-10x
 * slower: the stride is a multiple of 4 KiB and the stores alias.) */
CAM__HOT static void wino_weights(const conv_geom *g, const float *w, float *u, int64_t m0, int64_t m1) {
    int64_t mc = g->M * g->C;
    for (int64_t m = m0; m < m1; m++)
        for (int64_t c0 = 0; c0 < g->C; c0 += 16) {
            int64_t nc = g->C - c0 < 16 ? g->C - c0 : 16;
            const float *k = w + (m * g->C + c0) * 9;
            float kt[9][16] = {{0}}, r[16][16];
            if (nc == 16)   /* constant bounds: vectorised transpose */
                for (int e = 0; e < 9; e++)
                    for (int c = 0; c < 16; c++) kt[e][c] = k[c * 9 + e];
            else
                for (int64_t c = 0; c < nc; c++)
                    for (int e = 0; e < 9; e++) kt[e][c] = k[c * 9 + e];
            for (int c = 0; c < 16; c++) {
                float t[4][3];
                for (int j = 0; j < 3; j++) {   /* G g: rows g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2 */
                    t[0][j] = kt[j][c];
                    t[1][j] = 0.5f * (kt[j][c] + kt[3 + j][c] + kt[6 + j][c]);
                    t[2][j] = 0.5f * (kt[j][c] - kt[3 + j][c] + kt[6 + j][c]);
                    t[3][j] = kt[6 + j][c];
                }
                for (int i = 0; i < 4; i++) {   /* (G g) G^T, the same on columns */
                    r[i * 4 + 0][c] = t[i][0];
                    r[i * 4 + 1][c] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                    r[i * 4 + 2][c] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                    r[i * 4 + 3][c] = t[i][2];
                }
            }
            float *dst = u + m * g->C + c0;
            if (nc == 16)
                for (int xi = 0; xi < 16; xi++) memcpy(dst + xi * mc, r[xi], 16 * sizeof(float));
            else
                for (int xi = 0; xi < 16; xi++) memcpy(dst + xi * mc, r[xi], (size_t)nc * sizeof(float));
        }
}

/* V for the n tiles of one tile row and one channel: e[i], o[i] are the
 * even and odd halves of the tile row's padded input rows i = 0..3, so
 * patch column j of tile t is e[i][t], o[i][t], e[i][t+1], o[i][t+1].
 * v[xi * vs + t] = (B^T d B)[xi]. */
CAM__HOT static void wino_in_row(float *restrict v, int64_t vs, const float *const *e, const float *const *o,
                                 int64_t n) {
    const float *e0 = e[0], *e1 = e[1], *e2 = e[2], *e3 = e[3];
    const float *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3];
    for (int64_t t = 0; t < n; t++) {
        float d[4][4] = {{e0[t], o0[t], e0[t + 1], o0[t + 1]},
                         {e1[t], o1[t], e1[t + 1], o1[t + 1]},
                         {e2[t], o2[t], e2[t + 1], o2[t + 1]},
                         {e3[t], o3[t], e3[t + 1], o3[t + 1]}};
        float r[4][4];
        for (int j = 0; j < 4; j++) {   /* B^T d */
            r[0][j] = d[0][j] - d[2][j];
            r[1][j] = d[1][j] + d[2][j];
            r[2][j] = d[2][j] - d[1][j];
            r[3][j] = d[1][j] - d[3][j];
        }
        for (int i = 0; i < 4; i++) {   /* (B^T d) B */
            v[(i * 4 + 0) * vs + t] = r[i][0] - r[i][2];
            v[(i * 4 + 1) * vs + t] = r[i][1] + r[i][2];
            v[(i * 4 + 2) * vs + t] = r[i][2] - r[i][1];
            v[(i * 4 + 3) * vs + t] = r[i][1] - r[i][3];
        }
    }
}

/* Output tiles [0, n) of one tile row of one channel: y0/y1 are the two
 * output rows (y1 may be a dummy row), p[xi * ps + t] the GEMM result.
 * Writes columns 2t and 2t+1, or only 2t for the last tile when `odd`. */
CAM__HOT static void wino_out_row(float *restrict y0, float *restrict y1, const float *p, int64_t ps, int64_t n,
                                  bool odd, float bias, float lo, float hi) {
    int64_t full = odd ? n - 1 : n;
    for (int64_t t = 0; t < n; t++) {
        float m[16];
        for (int xi = 0; xi < 16; xi++) m[xi] = p[xi * ps + t];
        float a[2][4];
        for (int j = 0; j < 4; j++) {   /* A^T m: rows m0+m1+m2, m1-m2-m3 */
            a[0][j] = m[j] + m[4 + j] + m[8 + j];
            a[1][j] = m[4 + j] - m[8 + j] - m[12 + j];
        }
        float r[4];
        for (int i = 0; i < 2; i++) {   /* (A^T m) A */
            r[2 * i] = a[i][0] + a[i][1] + a[i][2] + bias;
            r[2 * i + 1] = a[i][1] - a[i][2] - a[i][3] + bias;
        }
        for (int k = 0; k < 4; k++) {
            float v = r[k] < lo ? lo : r[k];
            r[k] = v > hi ? hi : v;
        }
        if (t < full) {
            y0[2 * t] = r[0];
            y0[2 * t + 1] = r[1];
            y1[2 * t] = r[2];
            y1[2 * t + 1] = r[3];
        } else {
            y0[2 * t] = r[0];
            y1[2 * t] = r[2];
        }
    }
}

#if PG_BUILT
/* wino_in_row on AVX-512, 16 tiles per step (GCC left the scalar loop
 * unvectorised: 16 output planes it cannot prove apart from the inputs).
 * Same additions in the same order as the scalar version. */
PG_TARGET static void wino_in_row16(float *restrict v, int64_t vs, const float *const *e, const float *const *o,
                                    int64_t n) {
    for (int64_t t0 = 0; t0 < n; t0 += 16) {
        int64_t nt = n - t0 < 16 ? n - t0 : 16;
        __mmask16 mt = (__mmask16)(nt == 16 ? 0xffff : (1u << nt) - 1);
        __m512 d[4][4];
        for (int i = 0; i < 4; i++) {
            d[i][0] = _mm512_maskz_loadu_ps(mt, e[i] + t0);
            d[i][1] = _mm512_maskz_loadu_ps(mt, o[i] + t0);
            d[i][2] = _mm512_maskz_loadu_ps(mt, e[i] + t0 + 1);
            d[i][3] = _mm512_maskz_loadu_ps(mt, o[i] + t0 + 1);
        }
        __m512 r[4][4];
        for (int j = 0; j < 4; j++) {   /* B^T d */
            r[0][j] = _mm512_sub_ps(d[0][j], d[2][j]);
            r[1][j] = _mm512_add_ps(d[1][j], d[2][j]);
            r[2][j] = _mm512_sub_ps(d[2][j], d[1][j]);
            r[3][j] = _mm512_sub_ps(d[1][j], d[3][j]);
        }
        for (int i = 0; i < 4; i++) {   /* (B^T d) B */
            _mm512_mask_storeu_ps(v + (i * 4 + 0) * vs + t0, mt, _mm512_sub_ps(r[i][0], r[i][2]));
            _mm512_mask_storeu_ps(v + (i * 4 + 1) * vs + t0, mt, _mm512_add_ps(r[i][1], r[i][2]));
            _mm512_mask_storeu_ps(v + (i * 4 + 2) * vs + t0, mt, _mm512_sub_ps(r[i][2], r[i][1]));
            _mm512_mask_storeu_ps(v + (i * 4 + 3) * vs + t0, mt, _mm512_sub_ps(r[i][1], r[i][3]));
        }
    }
}
#endif

#if PG_BUILT
/* wino_out_row on AVX-512, 16 tiles per step: the 16 planes are read as
 * vectors, the transform is the scalar one's additions in the same order
 * (same results), and each output row's even and odd columns are
 * interleaved in registers and stored as 32 contiguous floats, masked to
 * the row's ow columns.  The scalar loop ran as scattered 4-byte stores:
 * 9% of SqueezeNet's forward time. */
PG_TARGET static void wino_out_row16(float *restrict y0, float *restrict y1, const float *p, int64_t ps, int64_t n,
                                     int64_t ow, float bias, float lo, float hi) {
    const __m512i ilo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i ihi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    const __m512 vb = _mm512_set1_ps(bias), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    for (int64_t t0 = 0; t0 < n; t0 += 16) {
        int64_t nt = n - t0 < 16 ? n - t0 : 16;
        __mmask16 mt = (__mmask16)(nt == 16 ? 0xffff : (1u << nt) - 1);
        __m512 m[16];
        for (int xi = 0; xi < 16; xi++) m[xi] = _mm512_maskz_loadu_ps(mt, p + xi * ps + t0);
        __m512 a0[4], a1[4];
        for (int j = 0; j < 4; j++) {   /* A^T m: rows m0+m1+m2, m1-m2-m3 */
            a0[j] = _mm512_add_ps(_mm512_add_ps(m[j], m[4 + j]), m[8 + j]);
            a1[j] = _mm512_sub_ps(_mm512_sub_ps(m[4 + j], m[8 + j]), m[12 + j]);
        }
        __m512 r[4];
        r[0] = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0[0], a0[1]), a0[2]), vb);
        r[1] = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(a0[1], a0[2]), a0[3]), vb);
        r[2] = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a1[0], a1[1]), a1[2]), vb);
        r[3] = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(a1[1], a1[2]), a1[3]), vb);
        for (int k = 0; k < 4; k++) r[k] = _mm512_min_ps(vhi, _mm512_max_ps(vlo, r[k]));   /* NaN stays NaN */
        int64_t c0 = 2 * t0, left = ow - c0;   /* output columns from c0 on */
        __mmask16 s0 = (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1);
        __mmask16 s1 = (__mmask16)(left >= 32 ? 0xffff : left > 16 ? (1u << (left - 16)) - 1 : 0);
        _mm512_mask_storeu_ps(y0 + c0, s0, _mm512_permutex2var_ps(r[0], ilo, r[1]));
        _mm512_mask_storeu_ps(y0 + c0 + 16, s1, _mm512_permutex2var_ps(r[0], ihi, r[1]));
        _mm512_mask_storeu_ps(y1 + c0, s0, _mm512_permutex2var_ps(r[2], ilo, r[3]));
        _mm512_mask_storeu_ps(y1 + c0 + 16, s1, _mm512_permutex2var_ps(r[2], ihi, r[3]));
    }
}
#endif

typedef struct {
    const conv_geom *g;
    wino_layout l;
    const float *x, *w, *b;
    float *y;
    float *u;                /* in thread 0's scratch */
    const float *pk;         /* or U packed by prepack: 16 pg matrices M x C */
    cam__act act;
    float lo, hi;
    bool post_act;
    int64_t r, nb;           /* tile rows per block, blocks per image */
    int64_t mparts, mbpp;    /* output channels split in mparts parts of mbpp PG_MR blocks */
    int64_t mc;              /* output channels per GEMM chunk at most (PG_MR multiple) */
    bool vec_out;            /* AVX-512 transforms (wino_in_row16, wino_out_row16) */
    const cam__ctx *ctx;
} wino_job;

/* Columns of vector work a GEMM over n tiles costs: whole vectors of 16,
 * except that 1-2 columns past whole vectors go to pg_cols, at about 3
 * vector lanes each. */
static int64_t wino_lanes(int64_t n) {
    if (n > 16 && n % 16 <= 2) return n / 16 * 16 + n % 16 * 3;
    return ceil_div(n, 16) * 16;
}

/* Work items: (image, block of tile rows, part of the output channels).
 * Block heights (even, within the V budget) and the channel split are
 * chosen by a small cost model in units of GEMM columns: a block costs the
 * vector lanes its tiles fill (13 tiles take a whole vector; 49 take 3 and
 * one cheap column) plus re-reading U (5 columns' worth once U spills L2,
 * else 1); items run in rounds of `threads`, the longest one of a round
 * setting its time.  Splitting output channels (mparts = threads) keeps
 * wide blocks on small images where more blocks would mean narrow GEMMs;
 * each part then redoes its block's input transform, cheap next to its
 * GEMMs.  The choice depends on the layer and the thread count only. */
static void wino_plan(const conv_geom *g, const wino_layout *l, int threads, wino_job *j) {
    int64_t mblocks = ceil_div(g->M, PG_MR);
    int64_t kappa = 16 * g->M * g->C * (int64_t)sizeof(float) > (512 << 10) ? 5 : 1;
    double best = 0;
    j->r = l->rmax;
    j->nb = ceil_div(l->th, l->rmax);
    j->mparts = 1;
    for (int64_t nb = ceil_div(l->th, l->rmax); nb <= l->th; nb++) {
        int64_t r = ceil_div(l->th, nb);
        if (ceil_div(l->th, r) != nb) continue;   /* the same blocks as a smaller nb */
        int64_t last = l->th - (nb - 1) * r;
        double work = (double)((nb - 1) * wino_lanes(r * l->tw) + wino_lanes(last * l->tw) + nb * kappa);
        for (int mp = 1; mp <= threads; mp += threads > 1 ? threads - 1 : 1) {
            if (mp > 1 && mblocks < 2 * mp) break;
            int64_t items = g->N * nb * mp;
            /* rounds of `threads` items, each round as long as a full block */
            double item = (double)(wino_lanes(r * l->tw) + kappa) / (double)mp;
            double t = (double)ceil_div(items, threads) * item;
            if (threads == 1) t = work;
            if (best == 0 || t < best * 0.999) {
                best = t;
                j->r = r;
                j->nb = nb;
                j->mparts = mp;
            }
        }
    }
    j->mbpp = ceil_div(mblocks, j->mparts);
    /* channels per GEMM chunk: as many as the result scratch holds */
    int64_t tb = j->r * l->tw, mc = ceil_div(g->M, PG_MR) * PG_MR;
    while (mc > PG_MR && 16 * (size_t)wino_skew(mc * tb) > l->mx) mc -= PG_MR;
    j->mc = mc;
}

static void wino_weights_task(void *arg, int64_t begin, int64_t end, int tid) {
    (void)tid;
    const wino_job *j = arg;
    wino_weights(j->g, j->w, j->u, begin, end);
}

/* Tile rows [ty0, ty0 + nr) of image img, output channels [m0, m1). */
static void wino_block(const wino_job *j, int64_t img, int64_t ty0, int64_t nr, int64_t m0, int64_t m1, float *v,
                       float *mx, float *rows) {
    const conv_geom *g = j->g;
    const wino_layout *l = &j->l;
    int64_t tw = l->tw, tb = nr * tw, wq = l->wq, rs = 2 * wq;
    float *dummy = rows + (2 * l->rmax + 2) * rs;
    /* input transform, channel by channel */
    int64_t vs = wino_skew(g->C * tb);   /* xi plane stride */
    for (int64_t c = 0; c < g->C; c++) {
        const float *plane = j->x + (img * g->C + c) * g->HW;
        for (int64_t r = 0; r < 2 * nr + 2; r++) {   /* padded rows 2*ty0 + r */
            int64_t ih = 2 * ty0 + r - g->PT;
            float *d = rows + r * rs;
            if (ih < 0 || ih >= g->H)
                for (int64_t k = 0; k < rs; k++) d[k] = 0.0f;
            else
                split_row2(d, d + wq, plane + ih * g->W, wq, l->lo, l->hi, g->PL);
        }
        for (int64_t ty = 0; ty < nr; ty++) {
            const float *e[4], *o[4];
            for (int i = 0; i < 4; i++) {
                e[i] = rows + (2 * ty + i) * rs;
                o[i] = e[i] + wq;
            }
#if PG_BUILT
            if (j->vec_out) {
                wino_in_row16(v + c * tb + ty * tw, vs, e, o, tw);
                continue;
            }
#endif
            wino_in_row(v + c * tb + ty * tw, vs, e, o, tw);
        }
    }
    bool odd = g->OW % 2 != 0;
    int64_t oy0 = 2 * ty0, oy1 = 2 * (ty0 + nr) < g->OH ? 2 * (ty0 + nr) : g->OH;
    /* output channels in even chunks of at most j->mc (whole PG_MR blocks) */
    int64_t nch = ceil_div(m1 - m0, j->mc), step = ceil_div(ceil_div(m1 - m0, nch), PG_MR) * PG_MR;
    for (int64_t ma = m0; ma < m1; ma += step) {
        int64_t mb = ma + step < m1 ? ma + step : m1, mc = mb - ma;
        int64_t ms = wino_skew(mc * tb);
        /* the 16 products */
        if (j->pk) {   /* U carries no bias (zeros), so it may start at block ma / PG_MR */
            size_t gf = pg_group_floats(g->M, g->C);
            for (int xi = 0; xi < 16; xi++)
                pg_gemm(j->pk + xi * gf + ma * g->C, g->M - ma, g->C, 0, ceil_div(mc, PG_MR), v + xi * vs, tb, tb,
                        mx + xi * ms, tb, -INFINITY, INFINITY);
        } else {
            for (int xi = 0; xi < 16; xi++)
                cam__sgemm(false, false, (int)mc, (int)tb, (int)g->C, 1.0f,
                           j->u + (size_t)xi * (size_t)(g->M * g->C) + (size_t)(ma * g->C), (int)g->C, v + xi * vs,
                           (int)tb, 0.0f, mx + xi * ms, (int)tb);
        }
        /* output transform + bias + activation */
        for (int64_t m = ma; m < mb; m++) {
            float *ym = j->y + (img * g->M + m) * g->OHW;
            float bias = j->b ? j->b[m] : 0.0f;
            for (int64_t ty = 0; ty < nr; ty++) {
                int64_t oy = 2 * (ty0 + ty);
                float *y1 = oy + 1 < g->OH ? ym + (oy + 1) * g->OW : dummy;
#if PG_BUILT
                if (j->vec_out) {
                    wino_out_row16(ym + oy * g->OW, y1, mx + (m - ma) * tb + ty * tw, ms, tw, g->OW, bias, j->lo,
                                   j->hi);
                    continue;
                }
#endif
                wino_out_row(ym + oy * g->OW, y1, mx + (m - ma) * tb + ty * tw, ms, tw, odd, bias, j->lo, j->hi);
            }
            if (j->post_act) cam__act_apply(&j->act, ym + oy0 * g->OW, (size_t)((oy1 - oy0) * g->OW));
        }
    }
}

static void wino_task(void *arg, int64_t begin, int64_t end, int tid) {
    const wino_job *j = arg;
    const conv_geom *g = j->g;
    float *base = cam__scratch(j->ctx, tid);
    float *v = base + j->l.u, *mx = v + j->l.v, *rows = mx + j->l.mx;
    for (int64_t it = begin; it < end; it++) {
        int64_t mp = it % j->mparts, rest = it / j->mparts;
        int64_t img = rest / j->nb, blk = rest % j->nb;
        int64_t ty0 = blk * j->r, nr = j->l.th - ty0 < j->r ? j->l.th - ty0 : j->r;
        int64_t m0 = mp * j->mbpp * PG_MR, m1 = m0 + j->mbpp * PG_MR < g->M ? m0 + j->mbpp * PG_MR : g->M;
        if (m0 < m1) wino_block(j, img, ty0, nr, m0, m1, v, mx, rows);
    }
}

/* pk: the transformed weights packed by prepack (wino_prepack), or NULL to
 * transform w here and multiply with OpenBLAS. */
static void wino_forward(const conv_geom *g, const float *x, const float *w, const float *pk, const float *b,
                         float *y, const cam__act *act, const cam__ctx *ctx) {
    wino_job j = {.g = g, .x = x, .w = w, .b = b, .y = y, .pk = pk, .act = *act, .lo = -INFINITY, .hi = INFINITY,
                  .ctx = ctx};
    wino_layout_make(g, &j.l);
    j.u = cam__scratch(ctx, 0);
    if (act->kind == CAM__ACT_RELU) j.lo = 0.0f;
    else if (act->kind == CAM__ACT_CLIP) { j.lo = act->a; j.hi = act->b; }
    else j.post_act = act->kind != CAM__ACT_NONE;
    if (!pk) cam__ctx_parallel(ctx, g->M, g->C ? ceil_div(16384, g->C) : g->M, wino_weights_task, &j);
    wino_plan(g, &j.l, cam__ctx_threads(ctx), &j);
    j.vec_out = pg_available();
    cam__ctx_parallel(ctx, g->N * j.nb * j.mparts, 1, wino_task, &j);
}

/* ======================================================================
 * direct path: one input channel per group (depthwise)
 *
 * An input plane, or a band of its rows when the plane is large, is first
 * copied into scratch with its zero padding materialised and split into
 * SH x SW stride-phase planes: padded pixel (r*SH + p, j*SW + q) goes to
 * plane (p, q) at row r, column j.  Every phase plane has the same row
 * length wq, close to OW, so tap (kh, kw) of output (r, i) is element
 * f + const of one phase plane, with f = r*wq + i.  The kernels therefore
 * run one long flat loop over f for the whole band (contiguous loads, no
 * bounds checks, no per-row overhead, many independent iterations in
 * flight even when OW is 7); the few columns i >= OW they compute per row
 * are garbage, dropped when the result is compacted into the output (which
 * also applies the clamp that encodes none / Relu / Clip).
 * ==================================================================== */

/* Phase planes + result of one band stay within L2. */
#define DW_BAND_BYTES (160 * 1024)
#define DW_MAX_PHASES 4   /* column strides up to this have precomputed ranges */

typedef struct {
    int64_t wq;              /* row length of every phase plane */
    int64_t ext_h;           /* padded input rows one output row reads */
    int64_t band;            /* output rows per band */
    int64_t prow, ps;        /* rows and floats per phase plane */
    int64_t nph;             /* SH * SW */
    int64_t lo[DW_MAX_PHASES], hi[DW_MAX_PHASES];   /* columns of phase q inside the image */
} dw_layout;

static void dw_layout_make(const conv_geom *g, dw_layout *l) {
    int64_t ext_w = (g->KW - 1) * g->DW + 1;
    l->wq = g->OW - 1 + (ext_w + g->SW - 1) / g->SW;
    l->ext_h = (g->KH - 1) * g->DH + 1;
    l->nph = g->SH * g->SW;
    /* a plane holds band + (ext_h-1)/SH rows, plus one row the garbage
     * columns of the last rows may read */
    int64_t extra = (l->ext_h - 1) / g->SH + 1;
    int64_t avail = DW_BAND_BYTES / (int64_t)sizeof(float) / l->wq - l->nph * extra;
    int64_t band = avail / (l->nph + 1);   /* + 1: the result rows */
    if (band < 1) band = 1;
    if (band > g->OH) band = g->OH;
    l->band = band;
    l->prow = band + extra;
    l->ps = l->prow * l->wq;
    for (int64_t q = 0; q < g->SW && q < DW_MAX_PHASES; q++)
        valid_cols(l->wq, g->W, g->SW, g->PL, q, &l->lo[q], &l->hi[q]);
}

static size_t dw_scratch(const conv_geom *g) {
    dw_layout l;
    dw_layout_make(g, &l);
    return (size_t)(l.nph * l.ps + l.band * l.wq) * sizeof(float);
}

/* Fills the phase planes for output rows [oh0, oh0 + rows) of one plane. */
CAM__HOT static void dw_fill(const conv_geom *g, const dw_layout *l, const float *x, int64_t oh0, int64_t rows,
                             float *restrict buf) {
    int64_t sh = g->SH, sw = g->SW, wq = l->wq;
    int64_t nr = (rows - 1) * sh + l->ext_h;   /* padded rows the band reads */
    /* padded row lr of the band is row ri of phase p; counted, not divided
     * (a 64-bit division per row costs as much as copying it) */
    for (int64_t lr = 0, p = 0, ri = 0; lr < nr; lr++, p = p + 1 == sh ? (ri++, 0) : p + 1) {
        int64_t ih = oh0 * sh + lr - g->PT;
        const float *src = x + ih * g->W;
        float *d = buf + p * sw * l->ps + ri * wq;   /* phase (p, 0); phase q is q*ps further */
        if (ih < 0 || ih >= g->H) {
            for (int64_t q = 0; q < sw; q++)
                for (int64_t j = 0; j < wq; j++) d[q * l->ps + j] = 0.0f;
        } else if (sw == 1) {
            for (int64_t j = 0; j < l->lo[0]; j++) d[j] = 0.0f;
            const float *s = src - g->PL;
            for (int64_t j = l->lo[0]; j < l->hi[0]; j++) d[j] = s[j];
            for (int64_t j = l->hi[0]; j < wq; j++) d[j] = 0.0f;
        } else if (sw == 2) {
            split_row2(d, d + l->ps, src, wq, l->lo, l->hi, g->PL);
        } else {
            for (int64_t q = 0; q < sw; q++, d += l->ps) {
                int64_t lo, hi;   /* phase columns j whose input column j*sw + q - PL is inside */
                if (q < DW_MAX_PHASES) { lo = l->lo[q]; hi = l->hi[q]; }
                else valid_cols(wq, g->W, sw, g->PL, q, &lo, &hi);
                for (int64_t j = 0; j < lo; j++) d[j] = 0.0f;
                const float *s = src + q - g->PL;
                for (int64_t j = lo; j < hi; j++) d[j] = s[j * sw];
                for (int64_t j = hi; j < wq; j++) d[j] = 0.0f;
            }
        }
    }
    /* rows below the band that garbage columns may read: defined values
     * (zeros) keep stale denormals or NaNs out of the arithmetic */
    for (int64_t p = 0; p < sh; p++) {
        int64_t filled = nr > p ? (nr - 1 - p) / sh + 1 : 0;
        for (int64_t q = 0; q < sw; q++) {
            float *d = buf + (p * sw + q) * l->ps;
            for (int64_t j = filled * wq; j < l->ps; j++) d[j] = 0.0f;
        }
    }
}

/* t[f] = clamp(bias + sum of taps) for f in [0, nf).  P[kh*S + q] is where
 * kernel row kh, column phase q starts; tap (kh, kw) is
 * P[kh*S + kw%S][f + kw/S] (kernel width dilation 1).  Each kernel row sums
 * into its own accumulator to shorten the FMA dependency chain.  The clamp
 * to [lo, hi] encodes none / Relu / Clip. */
#define DW_KERNEL(NAME, K_, S_)                                                                           \
    CAM__HOT static void NAME(float *restrict t, int64_t nf, const float *const *P, const float *w,       \
                              float bias, float lo, float hi) {                                           \
        const float *p[K_ * S_];                                                                          \
        float wk[K_ * K_];                                                                                \
        for (int i = 0; i < K_ * S_; i++) p[i] = P[i];                                                    \
        for (int i = 0; i < K_ * K_; i++) wk[i] = w[i];                                                   \
        for (int64_t f = 0; f < nf; f++) {                                                                \
            float s[K_];                                                                                  \
            for (int kh = 0; kh < K_; kh++) {                                                             \
                float a = wk[kh * K_] * p[kh * S_][f];                                                    \
                for (int kw = 1; kw < K_; kw++) a += wk[kh * K_ + kw] * p[kh * S_ + kw % S_][f + kw / S_]; \
                s[kh] = a;                                                                                \
            }                                                                                             \
            float acc = bias + s[0];                                                                      \
            for (int kh = 1; kh + 1 < K_; kh += 2) acc += s[kh] + s[kh + 1];                              \
            if (K_ % 2 == 0) acc += s[K_ - 1];                                                            \
            acc = acc < lo ? lo : acc;                                                                    \
            t[f] = acc > hi ? hi : acc;                                                                   \
        }                                                                                                 \
    }
DW_KERNEL(dw3s1, 3, 1)
DW_KERNEL(dw3s2, 3, 2)
DW_KERNEL(dw5s1, 5, 1)
DW_KERNEL(dw5s2, 5, 2)

/* Any kernel, stride and dilation: tap-outer axpy over the band. */
CAM__HOT static void dw_generic(const conv_geom *g, const dw_layout *l, float *restrict t, int64_t nf,
                                const float *buf, const float *w, float bias, float lo, float hi) {
    for (int64_t f = 0; f < nf; f++) t[f] = bias;
    for (int64_t kh = 0; kh < g->KH; kh++)
        for (int64_t kw = 0; kw < g->KW; kw++) {
            int64_t rh = kh * g->DH, cw = kw * g->DW;
            const float *src = buf + ((rh % g->SH) * g->SW + cw % g->SW) * l->ps + (rh / g->SH) * l->wq + cw / g->SW;
            float wv = w[kh * g->KW + kw];
            for (int64_t f = 0; f < nf; f++) t[f] += wv * src[f];
        }
    for (int64_t f = 0; f < nf; f++) {
        float v = t[f] < lo ? lo : t[f];
        t[f] = v > hi ? hi : v;
    }
}

/* y (rows x ow) = the first ow columns of t (rows x wq) */
CAM__HOT static void dw_store(float *restrict y, const float *restrict t, int64_t rows, int64_t ow, int64_t wq) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < ow; i++) y[r * ow + i] = t[r * wq + i];
}

typedef struct {
    const conv_geom *g;
    dw_layout l;
    const float *x, *w, *b;
    float *y;
    cam__act act;
    float lo, hi;            /* clamp fused into the kernels */
    bool post_act;           /* other activations run on each band afterwards */
    int k;                   /* 3 or 5: a specialised kernel applies, else 0 */
    const cam__ctx *ctx;
} direct_job;

static void dw_run_kernel(const direct_job *j, float *t, int64_t nf, const float *const *P, const float *w,
                          float bias) {
    if (j->k == 3 && j->g->SW == 1) dw3s1(t, nf, P, w, bias, j->lo, j->hi);
    else if (j->k == 3) dw3s2(t, nf, P, w, bias, j->lo, j->hi);
    else if (j->g->SW == 1) dw5s1(t, nf, P, w, bias, j->lo, j->hi);
    else dw5s2(t, nf, P, w, bias, j->lo, j->hi);
}

static void direct_band(const direct_job *j, float *y, int64_t rows, const float *buf, float *t, const float *w,
                        float bias) {
    const conv_geom *g = j->g;
    const dw_layout *l = &j->l;
    int64_t nf = (rows - 1) * l->wq + g->OW;
    if (j->k) {
        const float *P[10];
        for (int kh = 0; kh < j->k; kh++)
            for (int64_t q = 0; q < g->SW; q++)
                P[kh * g->SW + q] = buf + ((kh * g->DH % g->SH) * g->SW + q) * l->ps + (kh * g->DH / g->SH) * l->wq;
        dw_run_kernel(j, t, nf, P, w, bias);
    } else {
        dw_generic(g, l, t, nf, buf, w, bias, j->lo, j->hi);
    }
    dw_store(y, t, rows, g->OW, l->wq);
    if (j->post_act) cam__act_apply(&j->act, y, (size_t)(rows * g->OW));
}

/* Items are output planes (image, channel); consecutive planes of one input
 * channel (multiplier > 1) reuse its phase planes when they are one band. */
static void direct_task(void *arg, int64_t begin, int64_t end, int tid) {
    const direct_job *j = arg;
    const conv_geom *g = j->g;
    float *buf = cam__scratch(j->ctx, tid);
    float *t = buf + j->l.nph * j->l.ps;
    bool whole = j->l.band >= g->OH;
    int64_t built = -1;
    for (int64_t pl = begin; pl < end; pl++) {
        int64_t m = pl % g->M, img = pl / g->M;
        int64_t grp = m / g->Mg, key = img * g->G + grp;
        const float *x = j->x + (img * g->C + grp) * g->HW, *w = j->w + m * g->KH * g->KW;
        float bias = j->b ? j->b[m] : 0.0f;
        float *y = j->y + pl * g->OHW;
        for (int64_t oh0 = 0; oh0 < g->OH; oh0 += j->l.band) {
            int64_t rows = g->OH - oh0 < j->l.band ? g->OH - oh0 : j->l.band;
            if (!whole || built != key) {
                dw_fill(g, &j->l, x, oh0, rows, buf);
                built = key;
            }
            direct_band(j, y + oh0 * g->OW, rows, buf, t, w, bias);
        }
    }
}

/* The specialised kernel that applies (3 or 5), else 0. */
static int dw_special(const conv_geom *g) {
    if (g->KH != g->KW || g->DW != 1 || g->SH != g->SW || (g->SW != 1 && g->SW != 2)) return 0;
    return g->KH == 3 || g->KH == 5 ? (int)g->KH : 0;
}

static void direct_forward(const conv_geom *g, const float *x, const float *w, const float *b, float *y,
                           const cam__act *act, const cam__ctx *ctx) {
    direct_job j = {.g = g, .x = x, .w = w, .b = b, .y = y, .act = *act, .lo = -INFINITY, .hi = INFINITY,
                    .ctx = ctx};
    dw_layout_make(g, &j.l);
    j.k = dw_special(g);
    if (act->kind == CAM__ACT_RELU) j.lo = 0.0f;
    else if (act->kind == CAM__ACT_CLIP) { j.lo = act->a; j.hi = act->b; }
    else j.post_act = act->kind != CAM__ACT_NONE;
    int64_t grain = ceil_div(8192, g->OHW * g->KH * g->KW);
    cam__ctx_parallel(ctx, g->N * g->M, grain, direct_task, &j);
}

/* ---- vectorised depthwise on AVX-512: no padded copies ----------------------
 *
 * The kernels above spend more time copying than computing: dw_fill builds
 * zero-padded planes, the result is compacted into y afterwards (together
 * twice the kernel's time on MobileNetV2).  With AVX-512's masked loads
 * neither copy is needed for the usual depthwise layers (k3 or k5, stride
 * 1 or 2, output exactly the input size / stride: "same" padding, torch's
 * symmetric or TensorFlow's (0, 0, 1, 1) for stride 2):
 *  - the output plane is one flat loop over vectors of 16 pixels.  Tap
 *    (kh, kw) of output pixel (r, c) is source pixel (r + dr, c + dc) of
 *    one plane (the input itself for stride 1; for stride 2, one of the
 *    four row/column-parity phase planes, each OH x OW, split from the
 *    input in one pass; the usual pads read the input directly instead,
 *    dws2_run below), with dr, dc in [-2, 2] per tap.  That is element
 *    i + dr*OW + dc of the plane for flat output index i = r*OW + c, so the
 *    16 lanes of a tap are one load even when they span several rows
 *    (7x7 and 14x14 planes);
 *  - lanes whose source pixel is outside the plane (the zero padding, and
 *    the neighbouring row a flat load wraps into) are masked off in the
 *    load: the mask of tap (dr, dc) is rowmask[dr] & colmask[dc] for the
 *    vector, from a table built once per task;
 *  - bias and the clamp are applied in registers and each output vector
 *    is stored once, straight into y. */

#define DWV_MAX_K 7   /* kernel sizes the tap tables hold (the implicit GEMM's) */
#define DWV_SCRATCH_MAX ((size_t)4 << 20)   /* per thread: mask table + phase planes of a whole plane */

typedef struct {
    int k, s;                /* kernel size, stride */
    int64_t nvec;            /* 16-pixel vectors per output plane */
    size_t masks_b;          /* bytes of the mask table + flags, CAM__ALIGN multiple */
    size_t split_f;          /* stride 2: floats of the four phase planes */
} dwv_layout;

/* Whether the vectorised kernel applies; fills l. */
static bool dwv_applies(const conv_geom *g, dwv_layout *l) {
    if (g->KH != g->KW || (g->KH != 3 && g->KH != 5) || g->DH != 1 || g->DW != 1 || g->SH != g->SW ||
        (g->SH != 1 && g->SH != 2))
        return false;
    int64_t k = g->KH, s = g->SH;
    if (g->PT >= k || g->PL >= k || g->H != s * g->OH || g->W != s * g->OW) return false;
    l->k = (int)k;
    l->s = (int)s;
    l->nvec = (g->OHW + 15) / 16;
    l->masks_b = ((size_t)l->nvec * (size_t)(k * k * 2 + 1) + CAM__ALIGN - 1) & ~(size_t)(CAM__ALIGN - 1);
    l->split_f = s == 2 ? (size_t)(4 * g->OHW) : 0;
    return l->masks_b + l->split_f * sizeof(float) <= DWV_SCRATCH_MAX;   /* huge planes: banded kernels */
}

/* Scratch: the mask table, then the phase planes. */
static size_t dwv_scratch(const conv_geom *g) {
    dwv_layout l;
    if (!pg_available() || !dwv_applies(g, &l)) return 0;
    return l.masks_b + l.split_f * sizeof(float);
}

/* Tap row kh reads source row r + dr[kh] (stride 2: of the phase planes
 * of row parity pr[kh]); columns likewise with dc, pc. */
static void dwv_taps(const conv_geom *g, const dwv_layout *l, int *dr, int *pr, int *dc, int *pc) {
    for (int q = 0; q < l->k; q++) {
        int a = q - (int)g->PT, b = q - (int)g->PL;
        pr[q] = l->s == 2 ? ((a % 2) + 2) % 2 : 0;
        pc[q] = l->s == 2 ? ((b % 2) + 2) % 2 : 0;
        dr[q] = l->s == 2 ? (a - pr[q]) / 2 : a;
        dc[q] = l->s == 2 ? (b - pc[q]) / 2 : b;
    }
}

/* Bits of lanes l < 16 with lo <= i0 + l < hi. */
static uint32_t lanes_between(int64_t i0, int64_t lo, int64_t hi) {
    int64_t a = lo - i0, b = hi - i0;
    if (a < 0) a = 0;
    if (b > 16) b = 16;
    if (b <= a) return 0;
    return (uint32_t)((1u << b) - 1) & ~(uint32_t)((1u << a) - 1);
}

/* For each vector v of the output plane: tm[v*k2 + t], the lanes where tap
 * t = (kh, kw) reads inside its source plane (row r + dr[kh] in [0, OH),
 * column c + dc[kw] in [0, OW), and the lane a pixel of the plane), and
 * full[v], whether all k2 masks are complete.  Per vector, from the row
 * and column of its first lane: no division per pixel. */
static void dwv_masks(const conv_geom *g, const dwv_layout *l, const int *dr, const int *dc, uint16_t *tm,
                      uint8_t *full) {
    int k = l->k, k2 = k * k;
    int64_t OW = g->OW, OHW = g->OHW, c0 = 0;
    for (int64_t v = 0; v < l->nvec; v++, c0 = (c0 + 16) % OW) {
        int64_t i0 = 16 * v;
        uint32_t rm[DWV_MAX_K], cm[DWV_MAX_K];
        for (int q = 0; q < k; q++) {
            int64_t d = dr[q];   /* rows: valid for i in [max(0, -d)*OW, (OH - max(0, d))*OW) and i < OHW */
            int64_t lo = d < 0 ? -d * OW : 0, hi = d > 0 ? (g->OH - d) * OW : OHW;
            rm[q] = lanes_between(i0, lo, hi);
            /* columns: invalid where c < -d or c >= OW - d; lane l has column (c0 + l) % OW */
            d = dc[q];
            int64_t b0 = d < 0 ? 0 : OW - d, b1 = d < 0 ? -d : OW;
            if (b0 < 0) b0 = 0;
            if (b1 > OW) b1 = OW;
            uint32_t bad = 0;
            for (int64_t c = b0; d != 0 && c < b1; c++)
                for (int64_t ln = ((c - c0) % OW + OW) % OW; ln < 16; ln += OW) bad |= 1u << ln;
            cm[q] = 0xffffu & ~bad;
        }
        uint16_t *m = tm + v * k2;
        bool f = true;
        for (int kh = 0; kh < k; kh++)
            for (int kw = 0; kw < k; kw++) {
                m[kh * k + kw] = (uint16_t)(rm[kh] & cm[kw]);
                f = f && m[kh * k + kw] == 0xffff;
            }
        full[v] = f;
    }
}

#if PG_BUILT
/* y (OH x OW, flat) = clamp(bias + sum over the K*K taps); tap t reads
 * src[t] + i under mask tm[v*K*K + t], unmasked when full[v].  One
 * accumulator per kernel row, to shorten the FMA dependency chains. */
static inline __attribute__((always_inline)) PG_TARGET void
dwv_run(int K, int64_t ohw, int64_t nvec, const float *const *src, const uint16_t *tm, const uint8_t *full,
        const float *w, float bias, float lo, float hi, float *y) {
    const float *s[25];
    _Pragma("GCC unroll 25")
    for (int t = 0; t < K * K; t++) s[t] = src[t];
    __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi), vb = _mm512_set1_ps(bias);
    __m512 wv[9];   /* 3x3: the weights stay in registers (5x5 broadcasts them from L1) */
    _Pragma("GCC unroll 9")
    for (int t = 0; t < 9; t++) wv[t] = _mm512_set1_ps(K == 3 ? w[t] : 0.0f);
#define DWV_W(t) (K == 3 ? wv[t] : _mm512_set1_ps(w[t]))
    for (int64_t v = 0; v < nvec; v++) {
        __m512 a[5];
        _Pragma("GCC unroll 5")
        for (int kh = 0; kh < K; kh++) a[kh] = kh == 0 ? vb : _mm512_setzero_ps();
        if (full[v]) {
            _Pragma("GCC unroll 25")
            for (int t = 0; t < K * K; t++)
                a[t / K] = _mm512_fmadd_ps(DWV_W(t), _mm512_loadu_ps(s[t] + 16 * v), a[t / K]);
        } else {
            const uint16_t *m = tm + v * K * K;
            _Pragma("GCC unroll 25")
            for (int t = 0; t < K * K; t++)
                a[t / K] = _mm512_fmadd_ps(DWV_W(t), _mm512_maskz_loadu_ps(m[t], s[t] + 16 * v), a[t / K]);
        }
        _Pragma("GCC unroll 5")
        for (int kh = 1; kh < K; kh++) a[0] = _mm512_add_ps(a[0], a[kh]);
        __m512 r = _mm512_min_ps(vhi, _mm512_max_ps(vlo, a[0]));
        if (16 * v + 16 <= ohw) _mm512_storeu_ps(y + 16 * v, r);
        else _mm512_mask_storeu_ps(y + 16 * v, (__mmask16)((1u << (ohw - 16 * v)) - 1), r);
    }
#undef DWV_W
}

PG_TARGET static void dwv_run3(int64_t ohw, int64_t nvec, const float *const *src, const uint16_t *tm,
                               const uint8_t *full, const float *w, float bias, float lo, float hi, float *y) {
    dwv_run(3, ohw, nvec, src, tm, full, w, bias, lo, hi, y);
}
PG_TARGET static void dwv_run5(int64_t ohw, int64_t nvec, const float *const *src, const uint16_t *tm,
                               const uint8_t *full, const float *w, float bias, float lo, float hi, float *y) {
    dwv_run(5, ohw, nvec, src, tm, full, w, bias, lo, hi, y);
}

/* The four phase planes of an H x W plane (H = 2*OH, W = 2*OW): plane
 * 2*pr + pc holds pixels (2r + pr, 2c + pc), OH x OW. */
PG_TARGET static void dwv_split2(const float *x, int64_t oh, int64_t ow, float *ph) {
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    int64_t w = 2 * ow, ohw = oh * ow;
    for (int64_t row = 0; row < 2 * oh; row++) {
        const float *s = x + row * w;
        float *d0 = ph + (row & 1) * 2 * ohw + (row >> 1) * ow, *d1 = d0 + ohw;
        for (int64_t c = 0; c < w; c += 16) _mm_prefetch((const char *)(s + 4 * w + c), _MM_HINT_T0);
        for (int64_t c = 0; c < ow; c += 16) {
            int64_t n = ow - c < 16 ? ow - c : 16;   /* outputs; 2n inputs */
            __m512 a, b;
            if (n == 16) {
                a = _mm512_loadu_ps(s + 2 * c);
                b = _mm512_loadu_ps(s + 2 * c + 16);
                _mm512_storeu_ps(d0 + c, _mm512_permutex2var_ps(a, ie, b));
                _mm512_storeu_ps(d1 + c, _mm512_permutex2var_ps(a, io, b));
            } else {
                __mmask16 ma = (__mmask16)(n >= 8 ? 0xffff : (1u << (2 * n)) - 1);
                __mmask16 mb = (__mmask16)(n > 8 ? (1u << (2 * n - 16)) - 1 : 0);
                __mmask16 mo = (__mmask16)((1u << n) - 1);
                a = _mm512_maskz_loadu_ps(ma, s + 2 * c);
                b = _mm512_maskz_loadu_ps(mb, s + 2 * c + 16);
                _mm512_mask_storeu_ps(d0 + c, mo, _mm512_permutex2var_ps(a, ie, b));
                _mm512_mask_storeu_ps(d1 + c, mo, _mm512_permutex2var_ps(a, io, b));
            }
        }
    }
}

/* Stride 1 (k3) with one load per kernel row and vector: the taps of row kh at
 * column offsets d = kw - PL are the centre vector C (d = 0) shifted by d
 * lanes with its flat neighbour P (previous vector, d < 0) or N (next
 * vector, d > 0), carried in registers from iteration to iteration, where
 * dwv_run loads each tap unaligned (two of three loads of a k3 row split
 * cache lines).  The centre loads carry the row masks (zeros outside the
 * plane), so a shifted lane is the right source pixel or zero whenever its
 * column is inside the row; the column masks of vectors that are not full
 * are applied to the shifted taps. */
static inline __attribute__((always_inline)) PG_TARGET __m512 dws1_shift(__m512 p, __m512 c, __m512 n, int d) {
    __m512i pi = _mm512_castps_si512(p), ci = _mm512_castps_si512(c), ni = _mm512_castps_si512(n);
    switch (d) {
    case -4: return _mm512_castsi512_ps(_mm512_alignr_epi32(ci, pi, 12));
    case -3: return _mm512_castsi512_ps(_mm512_alignr_epi32(ci, pi, 13));
    case -2: return _mm512_castsi512_ps(_mm512_alignr_epi32(ci, pi, 14));
    case -1: return _mm512_castsi512_ps(_mm512_alignr_epi32(ci, pi, 15));
    case 1: return _mm512_castsi512_ps(_mm512_alignr_epi32(ni, ci, 1));
    case 2: return _mm512_castsi512_ps(_mm512_alignr_epi32(ni, ci, 2));
    case 3: return _mm512_castsi512_ps(_mm512_alignr_epi32(ni, ci, 3));
    case 4: return _mm512_castsi512_ps(_mm512_alignr_epi32(ni, ci, 4));
    default: return c;
    }
}

static inline __attribute__((always_inline)) PG_TARGET void
dws1_run(int K, int PL, int64_t ohw, int64_t nvec, const float *const *src, const uint16_t *tm, const uint8_t *full,
         const float *w, float bias, float lo, float hi, float *y) {
    const int K2 = K * K;
    const float *cs[5];
    __m512 P[5], C[5], N[5];
    _Pragma("GCC unroll 5")
    for (int kh = 0; kh < K; kh++) {
        cs[kh] = src[kh * K + PL];
        P[kh] = _mm512_setzero_ps();
        C[kh] = _mm512_maskz_loadu_ps(tm[kh * K + PL], cs[kh]);
    }
    __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi), vb = _mm512_set1_ps(bias);
    __m512 wv[9];   /* 3x3: the weights stay in registers (5x5 broadcasts them from L1) */
    _Pragma("GCC unroll 9")
    for (int t = 0; t < 9; t++) wv[t] = _mm512_set1_ps(K == 3 ? w[t] : 0.0f);
#define DWS1_W(t) (K == 3 ? wv[t] : _mm512_set1_ps(w[t]))
    for (int64_t v = 0; v < nvec; v++) {
        int64_t vn = v + 1;
        _Pragma("GCC unroll 5")
        for (int kh = 0; kh < K; kh++)
            N[kh] = vn >= nvec      ? _mm512_setzero_ps()
                    : full[vn]      ? _mm512_loadu_ps(cs[kh] + 16 * vn)
                                    : _mm512_maskz_loadu_ps(tm[vn * K2 + kh * K + PL], cs[kh] + 16 * vn);
        __m512 a[5];
        _Pragma("GCC unroll 5")
        for (int kh = 0; kh < K; kh++) a[kh] = kh == 0 ? vb : _mm512_setzero_ps();
        if (full[v]) {
            _Pragma("GCC unroll 5")
            for (int kh = 0; kh < K; kh++)
                _Pragma("GCC unroll 5")
                for (int kw = 0; kw < K; kw++)
                    a[kh] = _mm512_fmadd_ps(DWS1_W(kh * K + kw), dws1_shift(P[kh], C[kh], N[kh], kw - PL), a[kh]);
        } else {
            const uint16_t *m = tm + v * K2;
            _Pragma("GCC unroll 5")
            for (int kh = 0; kh < K; kh++)
                _Pragma("GCC unroll 5")
                for (int kw = 0; kw < K; kw++)
                    a[kh] = _mm512_fmadd_ps(DWS1_W(kh * K + kw),
                                            _mm512_maskz_mov_ps(m[kh * K + kw], dws1_shift(P[kh], C[kh], N[kh], kw - PL)),
                                            a[kh]);
        }
        _Pragma("GCC unroll 5")
        for (int kh = 0; kh < K; kh++) { P[kh] = C[kh]; C[kh] = N[kh]; }
        _Pragma("GCC unroll 5")
        for (int kh = 1; kh < K; kh++) a[0] = _mm512_add_ps(a[0], a[kh]);
        __m512 r = _mm512_min_ps(vhi, _mm512_max_ps(vlo, a[0]));
        if (16 * v + 16 <= ohw) _mm512_storeu_ps(y + 16 * v, r);
        else _mm512_mask_storeu_ps(y + 16 * v, (__mmask16)((1u << (ohw - 16 * v)) - 1), r);
    }
#undef DWS1_W
}

#define DWS1_FN(NAME, K, PL)                                                                                   \
    PG_TARGET static void NAME(int64_t ohw, int64_t nvec, const float *const *src, const uint16_t *tm,        \
                               const uint8_t *full, const float *w, float bias, float lo, float hi, float *y) { \
        dws1_run(K, PL, ohw, nvec, src, tm, full, w, bias, lo, hi, y);                                         \
    }
DWS1_FN(dws1_k3p0, 3, 0)
DWS1_FN(dws1_k3p1, 3, 1)
DWS1_FN(dws1_k3p2, 3, 2)
#undef DWS1_FN
typedef void (*dws1_fn)(int64_t ohw, int64_t nvec, const float *const *src, const uint16_t *tm, const uint8_t *full,
                        const float *w, float bias, float lo, float hi, float *y);
static dws1_fn dws1_pick(int k, int64_t pl) {
    static const dws1_fn k3[] = {dws1_k3p0, dws1_k3p1, dws1_k3p2};
    return k == 3 && pl >= 0 && pl < 3 ? k3[pl] : NULL;
}

/* Stride 2 straight from the input (no phase planes), one output row of up
 * to 16 pixels per vector.  Output column c of tap kw reads input column
 * 2c + b, b = kw - PL.  Per kernel row, two loads of the 32 input columns
 * from 2*c0 (aligned when the row is) and an even/odd permute give the
 * taps b = 0 (E) and b = 1 (O); b = -1, -2, 2, 3 are O or E shifted by one
 * lane with the one neighbouring input column (valignd with a broadcast;
 * zero outside the row).  So a k3 kernel row costs 2 loads, 2 permutes and
 * at most one shift, where unaligned loads at 2*c0 + b would split cache
 * lines.  Columns past the row are masked off in the load (cm: per
 * 16-column chunk, the masks of the two loads); rows outside the image are
 * skipped.  Supports -2 <= b <= 3 (k3 any "same" pad, k5 with PL 1 or 2). */
static inline __attribute__((always_inline)) PG_TARGET __m512 dws2_shift(__m512 v, float nb, bool right) {
    __m512i n = _mm512_castps_si512(_mm512_set1_ps(nb)), vi = _mm512_castps_si512(v);
    return _mm512_castsi512_ps(right ? _mm512_alignr_epi32(vi, n, 15) : _mm512_alignr_epi32(n, vi, 1));
}

static inline __attribute__((always_inline)) PG_TARGET void
dws2_run(int K, int PL, const float *x, int64_t H, int64_t W, int64_t OH, int64_t OW, int PT, const uint16_t *cm,
         const float *w, float bias, float lo, float hi, float *y) {
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi), vb = _mm512_set1_ps(bias);
    __m512 wv[25];
    _Pragma("GCC unroll 25")
    for (int t = 0; t < K * K; t++) wv[t] = _mm512_set1_ps(w[t]);
    int64_t nch = (OW + 15) / 16;
    for (int64_t r = 0; r < OH; r++) {
        for (int64_t ch = 0; ch < nch; ch++) {
            int64_t c0 = 16 * ch, n = OW - c0 < 16 ? OW - c0 : 16, o = 2 * c0;
            __m512 a[5];
            _Pragma("GCC unroll 5")
            for (int kh = 0; kh < K; kh++) a[kh] = kh == 0 ? vb : _mm512_setzero_ps();
            _Pragma("GCC unroll 5")
            for (int kh = 0; kh < K; kh++) {
                int64_t ih = 2 * r + kh - PT;
                if (ih < 0 || ih >= H) continue;
                const float *row = x + ih * W;
                __m512 A = _mm512_maskz_loadu_ps(cm[2 * ch], row + o);
                __m512 B = _mm512_maskz_loadu_ps(cm[2 * ch + 1], row + o + 16);
                __m512 E = _mm512_permutex2var_ps(A, ie, B), O = _mm512_permutex2var_ps(A, io, B);
                _Pragma("GCC unroll 5")
                for (int kw = 0; kw < K; kw++) {
                    int b = kw - PL;
                    __m512 t;
                    if (b == 0) t = E;
                    else if (b == 1) t = O;
                    else if (b == -1) t = dws2_shift(O, o >= 1 ? row[o - 1] : 0.0f, true);
                    else if (b == -2) t = dws2_shift(E, o >= 2 ? row[o - 2] : 0.0f, true);
                    else if (b == 2) t = dws2_shift(E, o + 32 < W ? row[o + 32] : 0.0f, false);
                    else t = dws2_shift(O, o + 33 < W ? row[o + 33] : 0.0f, false);
                    a[kh] = _mm512_fmadd_ps(wv[kh * K + kw], t, a[kh]);
                }
            }
            _Pragma("GCC unroll 5")
            for (int kh = 1; kh < K; kh++) a[0] = _mm512_add_ps(a[0], a[kh]);
            __m512 v = _mm512_min_ps(vhi, _mm512_max_ps(vlo, a[0]));
            if (n == 16) _mm512_storeu_ps(y + r * OW + c0, v);
            else _mm512_mask_storeu_ps(y + r * OW + c0, (__mmask16)((1u << n) - 1), v);
        }
    }
}

#define DWS2_FN(NAME, K, PL)                                                                                  \
    PG_TARGET static void NAME(const float *x, int64_t H, int64_t W, int64_t OH, int64_t OW, int PT,         \
                               const uint16_t *cm, const float *w, float bias, float lo, float hi, float *y) { \
        dws2_run(K, PL, x, H, W, OH, OW, PT, cm, w, bias, lo, hi, y);                                         \
    }
DWS2_FN(dws2_k3p0, 3, 0)
DWS2_FN(dws2_k3p1, 3, 1)
DWS2_FN(dws2_k3p2, 3, 2)
DWS2_FN(dws2_k5p1, 5, 1)
DWS2_FN(dws2_k5p2, 5, 2)
#undef DWS2_FN
typedef void (*dws2_fn)(const float *x, int64_t H, int64_t W, int64_t OH, int64_t OW, int PT, const uint16_t *cm,
                        const float *w, float bias, float lo, float hi, float *y);
/* The kernel for (k, PL), else NULL. */
static dws2_fn dws2_pick(int k, int64_t pl) {
    if (k == 3) return pl == 0 ? dws2_k3p0 : pl == 1 ? dws2_k3p1 : pl == 2 ? dws2_k3p2 : NULL;
    if (k == 5) return pl == 1 ? dws2_k5p1 : pl == 2 ? dws2_k5p2 : NULL;
    return NULL;
}
#else
static void dwv_run3(int64_t ohw, int64_t nvec, const float *const *src, const uint16_t *tm, const uint8_t *full,
                     const float *w, float bias, float lo, float hi, float *y) {
    (void)ohw; (void)nvec; (void)src; (void)tm; (void)full; (void)w; (void)bias; (void)lo; (void)hi; (void)y;
}
static void dwv_run5(int64_t ohw, int64_t nvec, const float *const *src, const uint16_t *tm, const uint8_t *full,
                     const float *w, float bias, float lo, float hi, float *y) {
    dwv_run3(ohw, nvec, src, tm, full, w, bias, lo, hi, y);
}
static void dwv_split2(const float *x, int64_t oh, int64_t ow, float *ph) { (void)x; (void)oh; (void)ow; (void)ph; }
typedef void (*dws2_fn)(const float *x, int64_t H, int64_t W, int64_t OH, int64_t OW, int PT, const uint16_t *cm,
                        const float *w, float bias, float lo, float hi, float *y);
static dws2_fn dws2_pick(int k, int64_t pl) { (void)k; (void)pl; return NULL; }
typedef void (*dws1_fn)(int64_t ohw, int64_t nvec, const float *const *src, const uint16_t *tm, const uint8_t *full,
                        const float *w, float bias, float lo, float hi, float *y);
static dws1_fn dws1_pick(int k, int64_t pl) { (void)k; (void)pl; return NULL; }
#endif

typedef struct {
    const conv_geom *g;
    dwv_layout l;
    const float *x, *w, *b;
    float *y;
    cam__act act;
    float lo, hi;
    bool post_act;
    bool direct2;            /* stride 2: dws2 kernels, straight from the input */
    const cam__ctx *ctx;
} dwv_job;

static void dwv_task(void *arg, int64_t begin, int64_t end, int tid) {
    const dwv_job *j = arg;
    const conv_geom *g = j->g;
    const dwv_layout *l = &j->l;
    int k = l->k, k2 = k * k;
    uint16_t *tm = cam__scratch(j->ctx, tid);
    uint8_t *full = (uint8_t *)(tm + l->nvec * k2);
    float *ph = (float *)((char *)tm + l->masks_b);
    if (j->direct2) {   /* stride 2 from the input: per 16-column chunk, the masks of its two loads */
        for (int64_t ch = 0; ch < (g->OW + 15) / 16; ch++) {
            tm[2 * ch] = (uint16_t)lanes_between(32 * ch, 0, g->W);
            tm[2 * ch + 1] = (uint16_t)lanes_between(32 * ch + 16, 0, g->W);
        }
        dws2_fn fn = dws2_pick(k, g->PL);
        for (int64_t pl = begin; pl < end; pl++) {
            int64_t m = pl % g->M, img = pl / g->M, grp = m / g->Mg;
            const float *x = j->x + (img * g->C + grp) * g->HW;
            float bias = j->b ? j->b[m] : 0.0f;
            float *y = j->y + pl * g->OHW;
            fn(x, g->H, g->W, g->OH, g->OW, (int)g->PT, tm, j->w + m * k2, bias, j->lo, j->hi, y);
            if (j->post_act) cam__act_apply(&j->act, y, (size_t)g->OHW);
        }
        return;
    }
    int dr[DWV_MAX_K], pr[DWV_MAX_K], dc[DWV_MAX_K], pc[DWV_MAX_K];
    dwv_taps(g, l, dr, pr, dc, pc);
    dwv_masks(g, l, dr, dc, tm, full);
    /* k3 stride 1: registers carry the neighbours (convbench 1 thread: dw 3x3 144 @56 0.160 -> 0.133 ms;
     * k5 was slower that way, 0.20 -> 0.24 at 240 @28, and keeps dwv_run) */
    dws1_fn s1 = l->s == 1 && k == 3 ? dws1_pick(k, g->PL) : NULL;
    int64_t built = -1;
    for (int64_t pl = begin; pl < end; pl++) {
        int64_t m = pl % g->M, img = pl / g->M, grp = m / g->Mg, key = img * g->G + grp;
        const float *x = j->x + (img * g->C + grp) * g->HW;
        if (l->s == 2 && built != key) {
            dwv_split2(x, g->OH, g->OW, ph);
            built = key;
        }
        const float *src[25];
        for (int kh = 0; kh < k; kh++)
            for (int kw = 0; kw < k; kw++) {
                const float *base = l->s == 2 ? ph + (2 * pr[kh] + pc[kw]) * g->OHW : x;
                src[kh * k + kw] = base + dr[kh] * g->OW + dc[kw];
            }
        float bias = j->b ? j->b[m] : 0.0f;
        float *y = j->y + pl * g->OHW;
        if (s1) s1(g->OHW, l->nvec, src, tm, full, j->w + m * k2, bias, j->lo, j->hi, y);
        else (k == 3 ? dwv_run3 : dwv_run5)(g->OHW, l->nvec, src, tm, full, j->w + m * k2, bias, j->lo, j->hi, y);
        if (j->post_act) cam__act_apply(&j->act, y, (size_t)g->OHW);
    }
}

/* Runs the vectorised kernel if it applies; false otherwise. */
static bool dwv_forward(const conv_geom *g, const float *x, const float *w, const float *b, float *y,
                        const cam__act *act, const cam__ctx *ctx) {
    dwv_job j = {.g = g, .x = x, .w = w, .b = b, .y = y, .act = *act, .ctx = ctx};
    if (!pg_available() || !dwv_applies(g, &j.l)) return false;
    j.post_act = act_clamp(act, &j.lo, &j.hi);
    /* stride 2: the direct kernels where the pad allows (MobileNetV2, 1 thread: its four stride-2 layers
     * 0.42 -> 0.27 ms, also the 7-column one, whose vectors are half empty) */
    j.direct2 = j.l.s == 2 && dws2_pick(j.l.k, g->PL);
    /* per task: the mask table costs about one plane of compute */
    int64_t grain = ceil_div(8192, g->OHW * g->KH * g->KW);
    if (grain < 2) grain = 2;
    cam__ctx_parallel(ctx, g->N * g->M, grain, dwv_task, &j);
    return true;
}

/* ---- implicit GEMM for convs with few input channels (stems) --------------
 *
 * im2col of a 224x224 RGB image is a 27-147 row matrix of 12544 columns
 * written and read back through L3, and OpenBLAS then re-packs it.  With
 * the taps of the vectorised depthwise kernel (flat output vectors, the
 * input or its phase planes as sources, per-vector masks for the padding)
 * the rows of that matrix are computed on the fly instead: row k = (c, kh,
 * kw) of the B operand at pixel vector v is one masked load from channel
 * c's source plane.  The packed-GEMM register tile (6 output channels x
 * 64 pixels) and the packed weights (M x C*KH*KW, bias) are the 1x1
 * path's; AVX-512 only, stride 1 or 2, output = input size / stride. */

#define IG_MAX_K 160             /* C*KH*KW; deeper convs keep im2col (or Winograd) */

static bool ig_applies(const conv_geom *g, dwv_layout *l) {
    if (g->G != 1 || g->KH != g->KW || g->KH > DWV_MAX_K || g->K > IG_MAX_K || g->DH != 1 || g->DW != 1 ||
        g->SH != g->SW || (g->SH != 1 && g->SH != 2) || g->PT >= g->KH || g->PL >= g->KW ||
        g->H != g->SH * g->OH || g->W != g->SW * g->OW || g->OHW < 64)
        return false;
    l->k = (int)g->KH;
    l->s = (int)g->SH;
    l->nvec = (g->OHW + 15) / 16;
    l->masks_b = ((size_t)l->nvec * (size_t)(l->k * l->k * 2 + 1) + CAM__ALIGN - 1) & ~(size_t)(CAM__ALIGN - 1);
    l->split_f = l->s == 2 ? (size_t)(4 * g->OHW * g->C) : 0;
    return l->masks_b + l->split_f * sizeof(float) <= DWV_SCRATCH_MAX;   /* huge images: im2col tiles */
}

static size_t ig_scratch(const conv_geom *g) {
    dwv_layout l;
    if (!pg_available() || !ig_applies(g, &l)) return 0;
    return l.masks_b + l.split_f * sizeof(float);
}

#if PG_BUILT
/* c[r][16*v + j] = clamp(bias[r] + sum_k w[k][r] * row_k(v, j)) for NV
 * vectors v of 16 pixels, row_k(v) = rows[k] + 16*v under mask
 * tm[v*T + tap[k]] (all lanes when FULL); the last vector stores `last`. */
static inline __attribute__((always_inline)) PG_TARGET void
ig_tile(int NV, bool FULL, int64_t K, const float *const *rows, const uint8_t *tap, const uint16_t *tm, int T,
        const float *restrict w, float *restrict c, int64_t ldc, const float *restrict bias, int mv,
        __mmask16 last, float lo, float hi) {
    __m512 acc[PG_MR][PG_NV];
    _Pragma("GCC unroll 8")
    for (int r = 0; r < PG_MR; r++)
        _Pragma("GCC unroll 4")
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_set1_ps(bias[r]);
    for (int64_t k = 0; k < K; k++) {
        __m512 x[PG_NV];
        _Pragma("GCC unroll 4")
        for (int v = 0; v < NV; v++)
            x[v] = FULL ? _mm512_loadu_ps(rows[k] + 16 * v)
                        : _mm512_maskz_loadu_ps(tm[v * T + tap[k]], rows[k] + 16 * v);
        const float *wk = w + k * PG_MR;
        _Pragma("GCC unroll 8")
        for (int r = 0; r < PG_MR; r++) {
            __m512 wr = _mm512_set1_ps(wk[r]);
            _Pragma("GCC unroll 4")
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(wr, x[v], acc[r][v]);
        }
    }
    __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    _Pragma("GCC unroll 8")
    for (int r = 0; r < PG_MR; r++) {
        if (r >= mv) continue;
        _Pragma("GCC unroll 4")
        for (int v = 0; v < NV; v++) {
            __m512 y = _mm512_min_ps(vhi, _mm512_max_ps(vlo, acc[r][v]));
            if (v == NV - 1) _mm512_mask_storeu_ps(c + r * ldc + 16 * v, last, y);
            else _mm512_storeu_ps(c + r * ldc + 16 * v, y);
        }
    }
}

typedef void (*ig_fn)(int64_t K, const float *const *rows, const uint8_t *tap, const uint16_t *tm, int T,
                      const float *w, float *c, int64_t ldc, const float *bias, int mv, __mmask16 last, float lo,
                      float hi);
#define IG_FN(NAME, NV, FULL)                                                                              \
    PG_TARGET static void NAME(int64_t K, const float *const *rows, const uint8_t *tap, const uint16_t *tm, \
                               int T, const float *w, float *c, int64_t ldc, const float *bias, int mv,      \
                               __mmask16 last, float lo, float hi) {                                         \
        ig_tile(NV, FULL, K, rows, tap, tm, T, w, c, ldc, bias, mv, last, lo, hi);                          \
    }
IG_FN(ig_full4, 4, true)
IG_FN(ig_m1, 1, false)
IG_FN(ig_m2, 2, false)
IG_FN(ig_m3, 3, false)
IG_FN(ig_m4, 4, false)
#undef IG_FN
static const ig_fn ig_masked[PG_NV + 1] = {NULL, ig_m1, ig_m2, ig_m3, ig_m4};
#endif

typedef struct {
    const conv_geom *g;
    dwv_layout l;
    const float *x, *pk;
    float *y;
    cam__act act;
    float lo, hi;
    bool post_act;
    int64_t ntile, mblocks, mbpp, mparts;   /* 64-pixel tiles per image; channel blocks */
    const cam__ctx *ctx;
} ig_job;

static void ig_task(void *arg, int64_t begin, int64_t end, int tid) {
#if PG_BUILT
    const ig_job *j = arg;
    const conv_geom *g = j->g;
    const dwv_layout *l = &j->l;
    int k = l->k, T = k * k;
    uint16_t *tm = cam__scratch(j->ctx, tid);
    uint8_t *full = (uint8_t *)(tm + l->nvec * T);
    float *ph = (float *)((char *)tm + l->masks_b);
    int dr[DWV_MAX_K], pr[DWV_MAX_K], dc[DWV_MAX_K], pc[DWV_MAX_K];
    dwv_taps(g, l, dr, pr, dc, pc);
    dwv_masks(g, l, dr, dc, tm, full);
    const float *rows[IG_MAX_K];
    uint8_t tap[IG_MAX_K];
    int64_t built = -1;
    const float *bias = j->pk + j->mblocks * PG_MR * g->K;
    for (int64_t it = begin; it < end; it++) {
        int64_t mp = it % j->mparts, rest = it / j->mparts, tile = rest % j->ntile, img = rest / j->ntile;
        int64_t mb0 = mp * j->mbpp, mb1 = mb0 + j->mbpp < j->mblocks ? mb0 + j->mbpp : j->mblocks;
        if (mb0 >= mb1) continue;
        if (built != img) {   /* B's row pointers for this image (and its phase planes) */
            const float *x = j->x + img * g->C * g->HW;
            for (int64_t c = 0; c < g->C; c++) {
                const float *src = x + c * g->HW;
                if (l->s == 2) {
                    dwv_split2(src, g->OH, g->OW, ph + c * 4 * g->OHW);
                    src = ph + c * 4 * g->OHW;
                }
                for (int kh = 0; kh < k; kh++)
                    for (int kw = 0; kw < k; kw++) {
                        int t = kh * k + kw;
                        const float *base = l->s == 2 ? src + (2 * pr[kh] + pc[kw]) * g->OHW : src;
                        rows[c * T + t] = base + dr[kh] * g->OW + dc[kw];
                        tap[c * T + t] = (uint8_t)t;
                    }
            }
            built = img;
        }
        int64_t v0 = tile * PG_NV, nv = l->nvec - v0 < PG_NV ? l->nvec - v0 : PG_NV, p0 = 16 * v0;
        int64_t np = g->OHW - p0 < 16 * nv ? g->OHW - p0 : 16 * nv;   /* pixels of the tile */
        __mmask16 last = (__mmask16)(np % 16 ? (1u << (np % 16)) - 1 : 0xffff);
        bool allfull = nv == PG_NV;
        for (int64_t v = v0; v < v0 + nv && allfull; v++) allfull = full[v];
        const float *rk[IG_MAX_K];
        for (int64_t q = 0; q < g->K; q++) rk[q] = rows[q] + p0;
        float *y = j->y + img * g->M * g->OHW + p0;
        for (int64_t mb = mb0; mb < mb1; mb++) {
            int mv = g->M - mb * PG_MR < PG_MR ? (int)(g->M - mb * PG_MR) : PG_MR;
            const float *w = j->pk + mb * PG_MR * g->K;
            (allfull ? ig_full4 : ig_masked[nv])(g->K, rk, tap, tm + v0 * T, T, w, y + mb * PG_MR * g->OHW, g->OHW,
                                                 bias + mb * PG_MR, mv, last, j->lo, j->hi);
        }
        if (j->post_act) {
            int64_t m1 = mb1 * PG_MR < g->M ? mb1 * PG_MR : g->M;
            for (int64_t m = mb0 * PG_MR; m < m1; m++) cam__act_apply(&j->act, y + m * g->OHW, (size_t)np);
        }
    }
#else
    (void)arg; (void)begin; (void)end; (void)tid;
#endif
}

static bool ig_forward(const conv_geom *g, const float *x, const float *pk, float *y, const cam__act *act,
                       const cam__ctx *ctx) {
    ig_job j = {.g = g, .x = x, .pk = pk, .y = y, .act = *act, .ctx = ctx};
    if (!pg_available() || !ig_applies(g, &j.l)) return false;
    j.post_act = act_clamp(act, &j.lo, &j.hi);
    j.ntile = ceil_div(j.l.nvec, PG_NV);
    j.mblocks = ceil_div(g->M, PG_MR);
    j.mparts = 1;
    j.mbpp = j.mblocks;
    /* tiles are many (a task builds its masks and phase planes: big grains) */
    int threads = cam__ctx_threads(ctx);
    int64_t grain = ceil_div(g->N * j.ntile, threads);
    cam__ctx_parallel(ctx, g->N * j.ntile, grain, ig_task, &j);
    return true;
}

void cam__op_Conv_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                          const cam__ctx *ctx) {
    conv_geom g;
    if (conv_geometry(n, in[0], in[1], &g, NULL, 0) != CAM_OK) return;   /* shape() validated */
    if (g.OHW == 0 || g.N == 0) return;
    const float *b = n->n_in > 2 && in[2] ? cam__f32(in[2]) : NULL;
    const conv_params *p = n->params;
    const float *pk = p->pack_off && p->pack_path == g.path ? (const float *)((const char *)p + p->pack_off) : NULL;
    if (g.path == PATH_1X1 && g.OHW == 1) {
        gemv_forward(&g, cam__f32(in[0]), cam__f32(in[1]), b, cam__f32(out[0]), &n->act, ctx);
        return;
    }
    if (g.path == PATH_1X1 && pk) {
        pg1_forward(&g, cam__f32(in[0]), pk, cam__f32(out[0]), &n->act, ctx);
        return;
    }
    if (g.path == PATH_GEMM && pk && ig_forward(&g, cam__f32(in[0]), pk, cam__f32(out[0]), &n->act, ctx)) return;
    if (g.path == PATH_DIRECT) {
        if (dwv_forward(&g, cam__f32(in[0]), cam__f32(in[1]), b, cam__f32(out[0]), &n->act, ctx)) return;
        direct_forward(&g, cam__f32(in[0]), cam__f32(in[1]), b, cam__f32(out[0]), &n->act, ctx);
        return;
    }
    if (g.path == PATH_WINO) {
        wino_forward(&g, cam__f32(in[0]), cam__f32(in[1]), pk, b, cam__f32(out[0]), &n->act, ctx);
        return;
    }
    gemm_job j = {&g, cam__f32(in[0]), cam__f32(in[1]), b, cam__f32(out[0]), n->act, ctx, 0, 0, 0, 0, NULL, 0, 0,
                  false};
    if (g.path == PATH_GEMM && pk) {
        j.pk = pk;
        j.post_act = act_clamp(&n->act, &j.lo, &j.hi);
    }
    gemm_plan(&g, cam__ctx_threads(ctx), &j);
    cam__ctx_parallel(ctx, g.N * g.G * j.nt * j.ms, 1, gemm_task, &j);
}

/* Packs constant weights (and bias) for the path that will run them, in
 * the same allocation as the params (freed with them). */
cam_status cam__op_Conv_prepack(cam__node *n, cam__tensor *const *in, char *err, size_t errlen) {
    conv_params *p = n->params;
    p->pack_off = 0;
    const cam__tensor *x = in[0], *w = in[1], *b = n->n_in > 2 ? in[2] : NULL;
    if (!x || !w || !w->data || (b && !b->data) || !pg_available()) return CAM_OK;
    conv_geom g;
    if (conv_geometry(n, x, w, &g, NULL, 0) != CAM_OK) return CAM_OK;   /* shape() reported it */
    /* what gets packed: 1x1, G matrices Mg x K with the bias; Winograd, the
     * 16 matrices M x C of the transformed weights U, no bias (it is added
     * in the output transform) */
    int64_t mats, rows, cols;
    if ((g.path == PATH_1X1 && g.OHW > 1) || g.path == PATH_GEMM) {
        mats = g.G; rows = g.Mg; cols = g.K;
    } else if (g.path == PATH_WINO) {
        mats = 16; rows = g.M; cols = g.C;
    } else {
        return CAM_OK;
    }
    size_t floats, bytes;
    if (!cam__mul_ok(pg_group_floats(rows, cols), (size_t)mats, &floats) ||
        !cam__mul_ok(floats, sizeof(float), &bytes) || bytes > SIZE_MAX - sizeof *p - 2 * CAM__ALIGN)
        return CAM_OK;
    float *u = NULL;
    if (g.path == PATH_WINO) {
        u = cam__aligned_alloc((size_t)(16 * g.M * g.C) * sizeof(float));
        if (!u) return cam__fail(err, errlen, CAM_ENOMEM, "Conv %s: out of memory packing weights", n->name);
        wino_weights(&g, cam__f32(w), u, 0, g.M);
    }
    conv_params *q = realloc(p, sizeof *p + CAM__ALIGN + bytes);
    if (!q) {
        cam__aligned_free(u);
        return cam__fail(err, errlen, CAM_ENOMEM, "Conv %s: out of memory packing weights", n->name);
    }
    n->params = p = q;
    uintptr_t base = (uintptr_t)p, data = (base + sizeof *p + CAM__ALIGN - 1) & ~(uintptr_t)(CAM__ALIGN - 1);
    if (u) pg_pack((float *)data, u, NULL, mats, rows, cols);
    else pg_pack((float *)data, cam__f32(w), b ? cam__f32(b) : NULL, mats, rows, cols);
    cam__aligned_free(u);
    p->pack_off = (size_t)(data - base);
    p->pack_path = g.path;
    /* forward reads the packed copy only: the graph may release W itself */
    n->packed_inputs = 1u << 1;
    return CAM_OK;
}

/* ======================================================================
 * reference: the definition, one output at a time
 * ==================================================================== */

void cam__op_Conv_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                            const cam__ctx *ctx) {
    (void)ctx;
    conv_geom g;
    if (conv_geometry(n, in[0], in[1], &g, NULL, 0) != CAM_OK) return;
    const float *x = cam__f32(in[0]), *w = cam__f32(in[1]);
    const float *b = n->n_in > 2 && in[2] ? cam__f32(in[2]) : NULL;
    float *y = cam__f32(out[0]);
    for (int64_t img = 0; img < g.N; img++)
        for (int64_t m = 0; m < g.M; m++) {
            int64_t grp = m / g.Mg;
            for (int64_t oh = 0; oh < g.OH; oh++)
                for (int64_t ow = 0; ow < g.OW; ow++) {
                    double acc = b ? b[m] : 0.0;
                    for (int64_t c = 0; c < g.Cg; c++)
                        for (int64_t kh = 0; kh < g.KH; kh++)
                            for (int64_t kw = 0; kw < g.KW; kw++) {
                                int64_t ih = oh * g.SH - g.PT + kh * g.DH;
                                int64_t iw = ow * g.SW - g.PL + kw * g.DW;
                                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                acc += (double)x[((img * g.C + grp * g.Cg + c) * g.H + ih) * g.W + iw] *
                                       w[((m * g.Cg + c) * g.KH + kh) * g.KW + kw];
                            }
                    y[((img * g.M + m) * g.OH + oh) * g.OW + ow] = (float)acc;
                }
        }
    cam__act_apply(&n->act, y, out[0]->numel);
}

/* ======================================================================
 * BatchNormalization (inference)
 * ==================================================================== */

typedef struct {
    float eps;
    bool spatial;   /* opset < 9: false means per-element statistics over C x D1 x ... */
} bn_params;

cam_status cam__op_BatchNormalization_check(cam__node *n, char *err, size_t errlen) {
    if (n->n_out > 1)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED,
                         "BatchNormalization %s: training outputs (running mean/var) are not supported, %d outputs",
                         n->name, n->n_out);
    if (n->opset >= 14 && cam__attr_int(n, "training_mode", 0) != 0)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "BatchNormalization %s: training_mode=1 is not supported",
                         n->name);
    bn_params *p = calloc(1, sizeof *p);
    if (!p) return cam__fail(err, errlen, CAM_ENOMEM, "BatchNormalization %s: out of memory", n->name);
    free(n->params);
    n->params = p;
    p->eps = cam__attr_float(n, "epsilon", 1e-5f);
    if (!(p->eps >= 0.0f) || !isfinite(p->eps))
        return cam__fail(err, errlen, CAM_EFORMAT, "BatchNormalization %s: epsilon %g is invalid", n->name,
                         (double)p->eps);
    p->spatial = n->opset >= 9 || cam__attr_int(n, "spatial", 1) != 0;
    return CAM_OK;
}

cam_status cam__op_BatchNormalization_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out,
                                            char *err, size_t errlen) {
    const bn_params *p = n->params;
    const cam__tensor *x = in[0];
    static const char *names[5] = {"X", "scale", "B", "mean", "var"};
    for (int i = 0; i < 5; i++) {
        if (!in[i])
            return cam__fail(err, errlen, CAM_EFORMAT, "BatchNormalization %s: input %s is missing", n->name, names[i]);
        if (in[i]->dtype != CAM_FLOAT)
            return cam__fail(err, errlen, CAM_EUNSUPPORTED, "BatchNormalization %s: input %s must be float", n->name,
                             names[i]);
    }
    if (x->rank < 2)
        return cam__fail(err, errlen, CAM_EFORMAT, "BatchNormalization %s: X must have rank >= 2, got %d", n->name,
                         x->rank);
    size_t c = (size_t)x->dims[1], per_image = x->dims[0] ? x->numel / (size_t)x->dims[0] : c;
    for (int i = 1; i < 5; i++) {
        size_t k = in[i]->numel;
        /* spatial=0 (opset < 9) has per-element parameters [C, D1, ...];
         * [C] is also accepted there, as exporters write it */
        if (!(k == c || (!p->spatial && k == per_image)) || (i > 1 && k != in[1]->numel))
            return cam__fail(err, errlen, CAM_EFORMAT, "BatchNormalization %s: %s has %zu elements, expected %zu",
                             n->name, names[i], k, c);
    }
    out[0]->dtype = CAM_FLOAT;
    if (!cam__tensor_set_shape(out[0], x->rank, x->dims))
        return cam__fail(err, errlen, CAM_ELIMIT, "BatchNormalization %s: output too large", n->name);
    n->scratch = 0;
    n->flops = 2.0 * (double)x->numel;
    return CAM_OK;
}

typedef struct {
    const float *x, *scale, *bias, *mean, *var;
    float *y;
    float eps;
    int64_t C, inner;
    bool per_elem;
} bn_job;

CAM__HOT static void affine(float *restrict y, const float *restrict x, int64_t n, float a, float b) {
    for (int64_t i = 0; i < n; i++) y[i] = a * x[i] + b;
}

static void bn_task(void *arg, int64_t begin, int64_t end, int tid) {
    (void)tid;
    const bn_job *j = arg;
    for (int64_t pl = begin; pl < end; pl++) {
        int64_t c = pl % j->C;
        const float *x = j->x + pl * j->inner;
        float *y = j->y + pl * j->inner;
        if (!j->per_elem) {
            float a = j->scale[c] / sqrtf(j->var[c] + j->eps);
            affine(y, x, j->inner, a, j->bias[c] - j->mean[c] * a);
        } else {
            for (int64_t i = 0; i < j->inner; i++) {
                int64_t k = c * j->inner + i;
                float a = j->scale[k] / sqrtf(j->var[k] + j->eps);
                y[i] = a * x[i] + (j->bias[k] - j->mean[k] * a);
            }
        }
    }
}

void cam__op_BatchNormalization_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                                        const cam__ctx *ctx) {
    const bn_params *p = n->params;
    const cam__tensor *x = in[0];
    int64_t C = x->dims[1], N = x->dims[0];
    if (N == 0 || C == 0) return;
    int64_t inner = (int64_t)x->numel / (N * C);
    bn_job j = {cam__f32(x), cam__f32(in[1]), cam__f32(in[2]), cam__f32(in[3]), cam__f32(in[4]), cam__f32(out[0]),
                p->eps, C, inner, (size_t)C != in[1]->numel};
    int64_t grain = inner >= 8192 ? 1 : 8192 / (inner ? inner : 1);
    cam__ctx_parallel(ctx, N * C, grain, bn_task, &j);
}

void cam__op_BatchNormalization_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                                          const cam__ctx *ctx) {
    (void)ctx;
    const bn_params *p = n->params;
    const cam__tensor *x = in[0];
    int64_t N = x->dims[0], C = x->dims[1];
    if (N == 0 || C == 0) return;
    int64_t inner = (int64_t)x->numel / (N * C);
    bool per_elem = (size_t)C != in[1]->numel;
    const float *xs = cam__f32(x), *sc = cam__f32(in[1]), *bb = cam__f32(in[2]), *mu = cam__f32(in[3]),
                *va = cam__f32(in[4]);
    float *y = cam__f32(out[0]);
    for (int64_t img = 0; img < N; img++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t k = per_elem ? c * inner + i : c;
                size_t at = (size_t)((img * C + c) * inner + i);
                y[at] = (float)(sc[k] * ((double)xs[at] - mu[k]) / sqrt((double)va[k] + p->eps) + bb[k]);
            }
}

/* ======================================================================
 * BN folding for the graph optimiser
 * ==================================================================== */

void cam__conv_fold_bn(float *w, float *b, int64_t c_out, int64_t per_out, const float *scale,
                       const float *bn_bias, const float *mean, const float *var, float eps) {
    for (int64_t o = 0; o < c_out; o++) {
        double a = (double)scale[o] / sqrt((double)var[o] + eps);
        float *wo = w + o * per_out;
        for (int64_t k = 0; k < per_out; k++) wo[k] = (float)(wo[k] * a);
        b[o] = (float)(((double)b[o] - mean[o]) * a + bn_bias[o]);
    }
}
