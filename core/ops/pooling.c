/* pooling.c: MaxPool, AveragePool, GlobalAveragePool, ReduceMean, LRN.
 *
 * All float32, NCHW.  Pools of 1, 2 or 3 spatial dims share one kernel: a
 * 1-D or 2-D pool is treated as 3-D with leading unit dims (kernel 1,
 * stride 1, no padding), so there is one code path to get right. */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared helpers ------------------------------------------------------ */

/* Sum of x[0..n) with 16 independent lanes: the compiler turns the lanes into
 * SIMD adds (a single running float sum cannot be vectorised without
 * -ffast-math), and the shorter chains are also more accurate. */
static inline __attribute__((always_inline)) float sum_lanes(const float *x, size_t n) {
    float acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += x[i + j];
    float tail = 0.0f;
    for (; i < n; i++) tail += x[i];
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0] + tail;
}

/* Items per parallel task so that a task is worth waking a thread for. */
static int64_t grain_for(double work_per_item) {
    double g = 16384.0 / (work_per_item > 1.0 ? work_per_item : 1.0);
    return g < 1.0 ? 1 : (int64_t)g;
}

/* ---- MaxPool / AveragePool ------------------------------------------------ */

enum { POOL_MAX, POOL_AVG };
enum { PAD_NOTSET, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID };

/* Keeps window arithmetic ((k-1)*d + pads + stride*out) far from int64
 * overflow; real models use single digits. */
#define POOL_MAX_PARAM ((int64_t)1 << 24)

#define MAXP_BORDER_MAX 8   /* MaxPool fast path: clipped columns per row at most */

typedef struct {
    int kind, nsp;                 /* POOL_*, spatial rank of the attributes (1..3) */
    int auto_pad, ceil_mode, count_include_pad;
    int64_t pads_attr[6];          /* begin..., end... as written */
    /* Index 0..2 = D, H, W; unused leading dims are k=s=d=1. */
    int64_t k[3], s[3], d[3];
    /* resolved by shape() from the input shape */
    int64_t in[3], out[3], pb[3], pe[3];
    int64_t planes;                /* N*C */
    /* MaxPool fast path (maxp_*): 1-D/2-D, dilation 1; set by shape() */
    bool fast;
    int64_t clo, chi;              /* output columns whose window is inside the row */
    int nborder;                   /* the others: column, first tap's input column, taps */
    int64_t bcol[MAXP_BORDER_MAX], boff[MAXP_BORDER_MAX], btaps[MAXP_BORDER_MAX];
} pool_params;

static const char *pool_name(int kind) { return kind == POOL_MAX ? "MaxPool" : "AveragePool"; }

/* Taps j in [0,k) of a window starting at `start` (dilation d) whose position
 * start + j*d lies in [lo, hi) form one range [*j0, *j1) (empty: j0 == j1). */
static inline void tap_range(int64_t start, int64_t k, int64_t d, int64_t lo, int64_t hi,
                             int64_t *j0, int64_t *j1) {
    int64_t a = lo - start, c = hi - 1 - start, b0, b1;
    if (d == 1) {  /* the usual case, without the divisions (hot in border columns) */
        b0 = a <= 0 ? 0 : a;
        b1 = c < 0 ? 0 : c + 1;
    } else {
        b0 = a <= 0 ? 0 : (a + d - 1) / d;
        b1 = c < 0 ? 0 : c / d + 1;
    }
    if (b1 > k) b1 = k;
    if (b0 > b1) b0 = b1;
    *j0 = b0;
    *j1 = b1;
}

static cam_status pool_check(cam__node *n, int kind, char *err, size_t errlen) {
    const char *op = pool_name(kind);
    if (n->n_in != 1) return cam__fail(err, errlen, CAM_EFORMAT, "%s node '%s': expects 1 input", op, n->name);
    /* MaxPool's optional Indices output (and storage_order, which only
     * shapes it) is not implemented; an absent (unnamed) one is fine. */
    if (n->n_out < 1 || (n->n_out > 1 && (n->n_out > 2 || n->out[1] >= 0)))
        return cam__fail(err, errlen, CAM_EUNSUPPORTED,
                         "%s node '%s': the Indices output is not supported", op, n->name);
    const int64_t *ks, *st, *pd, *dl;
    int nk = cam__attr_ints(n, "kernel_shape", &ks);
    int ns = cam__attr_ints(n, "strides", &st);
    int np = cam__attr_ints(n, "pads", &pd);
    int nd = cam__attr_ints(n, "dilations", &dl);
    if (nk == 0) return cam__fail(err, errlen, CAM_EFORMAT, "%s node '%s': kernel_shape is required", op, n->name);
    if (nk > 3)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED,
                         "%s node '%s': %d-D pooling is not supported (1-D to 3-D only)", op, n->name, nk);
    if ((ns && ns != nk) || (np && np != 2 * nk) || (nd && nd != nk))
        return cam__fail(err, errlen, CAM_EFORMAT,
                         "%s node '%s': strides/pads/dilations lengths do not match kernel_shape (%d)", op, n->name, nk);
    /* Dilations exist for MaxPool since opset 10 and AveragePool since 19;
     * an older model carrying them is malformed, so refuse rather than guess. */
    if (nd && n->opset < (kind == POOL_MAX ? 10 : 19))
        return cam__fail(err, errlen, CAM_EFORMAT, "%s node '%s': dilations not defined at opset %lld", op,
                         n->name, (long long)n->opset);

    pool_params *p = calloc(1, sizeof *p);
    if (!p) return CAM_ENOMEM;
    p->kind = kind;
    p->nsp = nk;
    int off = 3 - nk;
    for (int i = 0; i < 3; i++) p->k[i] = p->s[i] = p->d[i] = 1;
    cam_status st_bad = CAM_OK;
    for (int i = 0; i < nk; i++) {
        p->k[off + i] = ks[i];
        if (ns) p->s[off + i] = st[i];
        if (nd) p->d[off + i] = dl[i];
        if (ks[i] < 1 || p->s[off + i] < 1 || p->d[off + i] < 1) st_bad = CAM_EFORMAT;
        else if (ks[i] > POOL_MAX_PARAM || p->s[off + i] > POOL_MAX_PARAM || p->d[off + i] > POOL_MAX_PARAM)
            st_bad = CAM_EUNSUPPORTED;
    }
    for (int i = 0; i < np; i++) {
        if (pd[i] < 0) st_bad = CAM_EUNSUPPORTED;
        else if (pd[i] > POOL_MAX_PARAM) st_bad = CAM_EUNSUPPORTED;
        p->pads_attr[i] = pd[i];
    }
    if (st_bad != CAM_OK) {
        free(p);
        return cam__fail(err, errlen, st_bad,
                         "%s node '%s': kernel_shape/strides/dilations must be in [1, 2^24], pads in [0, 2^24]",
                         op, n->name);
    }
    const char *ap = cam__attr_string(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") == 0) p->auto_pad = PAD_NOTSET;
    else if (strcmp(ap, "SAME_UPPER") == 0) p->auto_pad = PAD_SAME_UPPER;
    else if (strcmp(ap, "SAME_LOWER") == 0) p->auto_pad = PAD_SAME_LOWER;
    else if (strcmp(ap, "VALID") == 0) p->auto_pad = PAD_VALID;
    else {
        free(p);
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "%s node '%s': auto_pad '%s' is not supported", op,
                         n->name, ap);
    }
    int64_t cm = cam__attr_int(n, "ceil_mode", 0);
    int64_t cip = kind == POOL_AVG ? cam__attr_int(n, "count_include_pad", 0) : 0;
    if ((cm != 0 && cm != 1) || (cip != 0 && cip != 1)) {
        free(p);
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "%s node '%s': ceil_mode/count_include_pad must be 0 or 1",
                         op, n->name);
    }
    p->ceil_mode = (int)cm;
    p->count_include_pad = (int)cip;
    free(n->params);
    n->params = p;
    return CAM_OK;
}

/* Output size and padding of one spatial dim (ONNX MaxPool/AveragePool
 * spec).  auto_pad SAME gives ceil(in/s) outputs and VALID
 * floor((in-eff)/s)+1, with or without ceil_mode (the spec's two formulas
 * coincide).  With explicit pads and ceil_mode, the last window must start
 * inside the input or the left padding (the spec's and PyTorch's rule). */
static bool pool_dim(const pool_params *p, int i, int64_t in, int64_t pb_attr, int64_t pe_attr, int64_t *out,
                     int64_t *pb, int64_t *pe) {
    int64_t k = p->k[i], s = p->s[i], eff = (k - 1) * p->d[i] + 1;
    switch (p->auto_pad) {
    case PAD_SAME_UPPER:
    case PAD_SAME_LOWER: {
        *out = (in + s - 1) / s;
        int64_t total = (*out - 1) * s + eff - in;
        if (total < 0) total = 0;
        *pb = p->auto_pad == PAD_SAME_UPPER ? total / 2 : total - total / 2;
        *pe = total - *pb;
        return in > 0;
    }
    case PAD_VALID:
        *pb = *pe = 0;
        if (in < eff) return false;
        *out = (in - eff) / s + 1;
        return true;
    default: {
        *pb = pb_attr;
        *pe = pe_attr;
        int64_t span = in + pb_attr + pe_attr - eff;
        if (span < 0) return false;
        if (!p->ceil_mode) {
            *out = span / s + 1;
        } else {
            *out = (span + s - 1) / s + 1;
            if ((*out - 1) * s >= in + pb_attr) --*out;
        }
        return *out >= 1;
    }
    }
}

/* ---- MaxPool fast path ------------------------------------------------------
 *
 * For 1-D and 2-D max pools without dilation (every CNN's), the max is
 * taken separably, first down the columns into v (OH x IW, per-thread
 * scratch), then along the rows into y, each pass as a few long contiguous
 * loops rather than row by row: GoogLeNet pools 14x14 and 7x7 planes, where
 * per-row loops of 7-14 columns were all overhead (4.7 ms of its 31).
 *  - vertical: v[oh][c] = max_kh x[oh*SH - PT + kh][c]; with SH = 1 all the
 *    output rows whose window is not clipped by the top or bottom are one
 *    flat loop; doing this pass first also halves the data the strided
 *    horizontal pass of a stride-2 pool reads.
 *  - horizontal: when IW == OW*SW (the usual "same" and stride-2 pools), y
 *    as a flat array is y[i] = max_kw v[i*SW - PL + kw] over the whole plane
 *    in one loop; other widths run that loop per row over the unclipped
 *    columns.  Columns whose window is clipped by the row's ends (the first
 *    and last one or two) are then recomputed from their real taps, all
 *    rows at once (maxp_border).
 * The order of the comparisons differs from the reference's, which only
 * matters for NaN inputs (neither propagates them reliably). */

#define MAXP_SCRATCH_MAX (1 << 20)   /* per thread; larger planes take pool_plane */

/* Decides whether MaxPool takes the fast path and returns its scratch bytes. */
static size_t maxp_layout(pool_params *p) {
    p->fast = false;
    if (p->kind != POOL_MAX || p->nsp > 2 || p->d[1] != 1 || p->d[2] != 1) return 0;
    size_t need = (size_t)(p->out[1] * p->in[2]) * sizeof(float);
    if (need > MAXP_SCRATCH_MAX) return 0;
    /* output columns whose window lies inside the row */
    int64_t IW = p->in[2], OW = p->out[2], S = p->s[2], PL = p->pb[2];
    int64_t lo = (PL + S - 1) / S, hi = IW - p->k[2] + PL >= 0 ? (IW - p->k[2] + PL) / S + 1 : 0;
    if (lo > OW) lo = OW;
    if (hi > OW) hi = OW;
    if (hi < lo) hi = lo;
    p->clo = lo;
    p->chi = hi;
    p->nborder = 0;
    for (int64_t ow = 0; ow < OW; ow++) {
        if (ow == lo) ow = hi;
        if (ow >= OW) break;
        if (p->nborder == MAXP_BORDER_MAX) return 0;
        int64_t start = ow * S - PL, j0, j1;
        tap_range(start, p->k[2], 1, 0, IW, &j0, &j1);
        p->bcol[p->nborder] = ow;
        p->boff[p->nborder] = start + j0;
        p->btaps[p->nborder++] = j1 - j0;   /* >= 1: shape() refused empty windows */
    }
    p->fast = true;
    return need;
}

/* y[i] = max_{k < K} x[i*S + k], i < n; S and K constants once inlined */
static inline __attribute__((always_inline)) void maxp_hrow(float *restrict y, const float *restrict x, int64_t n,
                                                            int64_t S, int64_t K) {
    for (int64_t i = 0; i < n; i++) {
        float m = x[i * S];
        for (int64_t k = 1; k < K; k++) {
            float v = x[i * S + k];
            m = v > m ? v : m;
        }
        y[i] = m;
    }
}

CAM__HOT static void maxp_horizontal(float *restrict y, const float *restrict x, int64_t n, int64_t S, int64_t K) {
    if (S == 1 && K == 3) maxp_hrow(y, x, n, 1, 3);
    else if (S == 2 && K == 3) maxp_hrow(y, x, n, 2, 3);
    else if (S == 2 && K == 2) maxp_hrow(y, x, n, 2, 2);
    else if (S == 1 && K == 2) maxp_hrow(y, x, n, 1, 2);
    else maxp_hrow(y, x, n, S, K);
}

/* v[i] = max_{k < K} x[i + k*step], i < n */
static inline __attribute__((always_inline)) void maxp_vcol(float *restrict v, const float *restrict x, int64_t n,
                                                            int64_t K, int64_t step) {
    for (int64_t i = 0; i < n; i++) {
        float m = x[i];
        for (int64_t k = 1; k < K; k++) {
            float t = x[i + k * step];
            m = t > m ? t : m;
        }
        v[i] = m;
    }
}

CAM__HOT static void maxp_vertical(float *restrict v, const float *restrict x, int64_t n, int64_t K, int64_t step) {
    if (K == 3) maxp_vcol(v, x, n, 3, step);
    else if (K == 2) maxp_vcol(v, x, n, 2, step);
    else maxp_vcol(v, x, n, K, step);
}

/* y[r][ow] for the clipped columns ow (outside [clo, chi)) of every row r
 * of v (OH x IW): border b covers taps v[r][boff[b] .. boff[b] + btaps[b]).
 * Rows inner, so that the rows' short maxima run in parallel rather than
 * as one dependency chain. */
CAM__HOT static void maxp_border(const pool_params *p, const float *restrict v, float *restrict y) {
    const int64_t OH = p->out[1], IW = p->in[2], OW = p->out[2];
    for (int b = 0; b < p->nborder; b++) {
        const float *vb = v + p->boff[b];
        float *yb = y + p->bcol[b];
        if (p->btaps[b] == 2) {
            for (int64_t r = 0; r < OH; r++) {
                float s = vb[r * IW], t = vb[r * IW + 1];
                yb[r * OW] = t > s ? t : s;
            }
        } else {
            for (int64_t r = 0; r < OH; r++) {
                float m = vb[r * IW];
                for (int64_t j = 1; j < p->btaps[b]; j++) m = vb[r * IW + j] > m ? vb[r * IW + j] : m;
                yb[r * OW] = m;
            }
        }
    }
}

static void maxp_plane(const pool_params *p, const float *x, float *y, float *v) {
    const int64_t IH = p->in[1], IW = p->in[2], OH = p->out[1], OW = p->out[2];
    const int64_t SH = p->s[1], SW = p->s[2], PT = p->pb[1], PL = p->pb[2], KH = p->k[1], KW = p->k[2];
    /* vertical: v (OH x IW) */
    for (int64_t oh = 0; oh < OH; oh++) {
        int64_t start = oh * SH - PT, k0, k1;
        tap_range(start, KH, 1, 0, IH, &k0, &k1);
        if (SH == 1 && k0 == 0 && k1 == KH) {   /* a run of unclipped rows: one loop */
            int64_t oe = oh + 1;
            while (oe < OH && oe - PT + KH <= IH) oe++;
            maxp_vertical(v + oh * IW, x + start * IW, (oe - oh) * IW, KH, IW);
            oh = oe - 1;
            continue;
        }
        maxp_vertical(v + oh * IW, x + (start + k0) * IW, IW, k1 - k0, IW);
    }
    /* horizontal: y (OH x OW) */
    if (IW == OW * SW) {
        /* flat over the plane: i reads v[i*SW - PL .. i*SW - PL + KW - 1], all inside it */
        int64_t i0 = (PL + SW - 1) / SW, last = OH * IW - KW + PL;
        int64_t i1 = last >= 0 ? last / SW + 1 : 0;
        if (i1 > OH * OW) i1 = OH * OW;
        if (i1 > i0) maxp_horizontal(y + i0, v + i0 * SW - PL, i1 - i0, SW, KW);
    } else if (p->chi > p->clo) {
        for (int64_t r = 0; r < OH; r++)
            maxp_horizontal(y + r * OW + p->clo, v + r * IW + p->clo * SW - PL, p->chi - p->clo, SW, KW);
    }
    maxp_border(p, v, y);
}

static cam_status pool_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err,
                             size_t errlen) {
    pool_params *p = n->params;
    const char *op = pool_name(p->kind);
    const cam__tensor *x = in[0];
    if (x->dtype != CAM_FLOAT)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "%s node '%s': only float32 is supported", op, n->name);
    if (x->rank != p->nsp + 2)
        return cam__fail(err, errlen, CAM_EFORMAT, "%s node '%s': input rank %d does not match %d-D kernel_shape",
                         op, n->name, x->rank, p->nsp);
    int off = 3 - p->nsp;
    int64_t dims[CAM__MAX_RANK] = {x->dims[0], x->dims[1]};
    for (int i = 0; i < 3; i++) {
        if (i < off) {
            p->in[i] = p->out[i] = 1;
            p->pb[i] = p->pe[i] = 0;
            continue;
        }
        int j = i - off;
        p->in[i] = x->dims[2 + j];
        if (!pool_dim(p, i, p->in[i], p->pads_attr[j], p->pads_attr[p->nsp + j], &p->out[i], &p->pb[i], &p->pe[i]))
            return cam__fail(err, errlen, CAM_EFORMAT,
                             "%s node '%s': kernel (%lld, dilation %lld) larger than padded input dim %d (%lld)", op,
                             n->name, (long long)p->k[i], (long long)p->d[i], 2 + j, (long long)p->in[i]);
        /* A window with no input element (all padding, or dilation jumping
         * over the input) has no defined max or mean: refuse the model. */
        for (int64_t o = 0; o < p->out[i]; o++) {
            int64_t j0, j1;
            tap_range(o * p->s[i] - p->pb[i], p->k[i], p->d[i], 0, p->in[i], &j0, &j1);
            if (j0 == j1)
                return cam__fail(err, errlen, CAM_EUNSUPPORTED,
                                 "%s node '%s': output %lld of spatial dim %d covers padding only", op, n->name,
                                 (long long)o, j);
        }
        dims[2 + j] = p->out[i];
    }
    out[0]->dtype = CAM_FLOAT;
    if (!cam__tensor_set_shape(out[0], x->rank, dims))
        return cam__fail(err, errlen, CAM_ELIMIT, "%s node '%s': output too large", op, n->name);
    p->planes = x->dims[0] * x->dims[1];
    n->scratch = maxp_layout(p);
    n->flops = (double)out[0]->numel * (double)(p->k[0] * p->k[1] * p->k[2]);
    return CAM_OK;
}

/* Per-dim divisor of a window starting at `start`: real taps, or taps inside
 * the padded extent [-pb, in+pe) with count_include_pad (ceil_mode windows
 * reaching past the end padding do not count what lies beyond it). */
static inline int64_t pool_count(const pool_params *p, int i, int64_t start) {
    int64_t j0, j1;
    if (p->count_include_pad)
        tap_range(start, p->k[i], p->d[i], -p->pb[i], p->in[i] + p->pe[i], &j0, &j1);
    else
        tap_range(start, p->k[i], p->d[i], 0, p->in[i], &j0, &j1);
    return j1 - j0;
}

/* y[ow] op= x[ow*S + kw*D - pb] over the interior columns [lo, hi), where
 * every tap is inside the row.  Inlined with S = 1 or 2 as constants so the
 * loop over ow vectorises (max as a compare-select maps to maxps). */
static inline __attribute__((always_inline)) void row_interior(int kind, const float *restrict xr,
                                                               float *restrict yr, int64_t lo,
                                                               int64_t hi, int64_t S, int64_t k, int64_t D,
                                                               int64_t pb) {
    for (int64_t kw = 0; kw < k; kw++) {
        int64_t o = kw * D - pb;
        if (kind == POOL_MAX) {
            for (int64_t ow = lo; ow < hi; ow++) {
                float v = xr[ow * S + o];
                yr[ow] = v > yr[ow] ? v : yr[ow];
            }
        } else {
            for (int64_t ow = lo; ow < hi; ow++) yr[ow] += xr[ow * S + o];
        }
    }
}

/* One input row's contribution to one output row. */
static inline __attribute__((always_inline)) void pool_row(const pool_params *p, const float *restrict xr,
                                                           float *restrict yr,
                                                           int64_t lo, int64_t hi) {
    int64_t S = p->s[2], k = p->k[2], D = p->d[2], pb = p->pb[2], W = p->in[2];
    if (p->kind == POOL_MAX) {
        if (S == 1) row_interior(POOL_MAX, xr, yr, lo, hi, 1, k, D, pb);
        else if (S == 2) row_interior(POOL_MAX, xr, yr, lo, hi, 2, k, D, pb);
        else row_interior(POOL_MAX, xr, yr, lo, hi, S, k, D, pb);
    } else {
        if (S == 1) row_interior(POOL_AVG, xr, yr, lo, hi, 1, k, D, pb);
        else if (S == 2) row_interior(POOL_AVG, xr, yr, lo, hi, 2, k, D, pb);
        else row_interior(POOL_AVG, xr, yr, lo, hi, S, k, D, pb);
    }
    /* border columns: windows clipped by the row's ends */
    for (int64_t ow = 0; ow < p->out[2]; ow++) {
        if (ow == lo) ow = hi;
        if (ow >= p->out[2]) break;
        int64_t start = ow * S - pb, j0, j1;
        tap_range(start, k, D, 0, W, &j0, &j1);
        float acc = yr[ow];
        for (int64_t j = j0; j < j1; j++) {
            float v = xr[start + j * D];
            if (p->kind == POOL_MAX) acc = v > acc ? v : acc;
            else acc += v;
        }
        yr[ow] = acc;
    }
}

CAM__HOT static void pool_plane(const pool_params *p, const float *x, float *y) {
    const int64_t OD = p->out[0], OH = p->out[1], OW = p->out[2], IH = p->in[1], IW = p->in[2];
    /* interior output columns: every tap inside [0, IW) */
    int64_t eff = (p->k[2] - 1) * p->d[2] + 1;
    int64_t lo = (p->pb[2] + p->s[2] - 1) / p->s[2];
    int64_t hi = IW - eff + p->pb[2] >= 0 ? (IW - eff + p->pb[2]) / p->s[2] + 1 : 0;
    if (lo > OW) lo = OW;
    if (hi > OW) hi = OW;
    if (hi < lo) hi = lo;
    for (int64_t od = 0; od < OD; od++) {
        int64_t sd = od * p->s[0] - p->pb[0], d0, d1;
        tap_range(sd, p->k[0], p->d[0], 0, p->in[0], &d0, &d1);
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t sh = oh * p->s[1] - p->pb[1], h0, h1;
            tap_range(sh, p->k[1], p->d[1], 0, IH, &h0, &h1);
            float *yr = y + (od * OH + oh) * OW;
            float init = p->kind == POOL_MAX ? -INFINITY : 0.0f;
            for (int64_t ow = 0; ow < OW; ow++) yr[ow] = init;
            for (int64_t kd = d0; kd < d1; kd++)
                for (int64_t kh = h0; kh < h1; kh++)
                    pool_row(p, x + ((sd + kd * p->d[0]) * IH + sh + kh * p->d[1]) * IW, yr, lo, hi);
            if (p->kind == POOL_AVG) {
                float cdh = (float)(pool_count(p, 0, sd) * pool_count(p, 1, sh));
                float inv = 1.0f / (cdh * (float)p->k[2]);
                for (int64_t ow = lo; ow < hi; ow++) yr[ow] *= inv;
                for (int64_t ow = 0; ow < OW; ow++) {
                    if (ow == lo) ow = hi;
                    if (ow >= OW) break;
                    yr[ow] /= cdh * (float)pool_count(p, 2, ow * p->s[2] - p->pb[2]);
                }
            }
        }
    }
}

typedef struct {
    const pool_params *p;
    const float *x;
    float *y;
    const cam__ctx *ctx;
} pool_job;

static void pool_task(void *arg, int64_t b, int64_t e, int tid) {
    const pool_job *j = arg;
    const pool_params *p = j->p;
    size_t ip = (size_t)(p->in[0] * p->in[1] * p->in[2]), op = (size_t)(p->out[0] * p->out[1] * p->out[2]);
    if (p->fast) {
        float *buf = cam__scratch(j->ctx, tid);
        for (int64_t c = b; c < e; c++) maxp_plane(p, j->x + (size_t)c * ip, j->y + (size_t)c * op, buf);
        return;
    }
    for (int64_t c = b; c < e; c++) pool_plane(p, j->x + (size_t)c * ip, j->y + (size_t)c * op);
}

static void pool_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                         const cam__ctx *ctx) {
    const pool_params *p = n->params;
    pool_job j = {p, cam__f32(in[0]), cam__f32(out[0]), ctx};
    double per_plane = (double)(p->out[0] * p->out[1] * p->out[2]) * (double)(p->k[0] * p->k[1] * p->k[2]);
    cam__ctx_parallel(ctx, p->planes, grain_for(per_plane), pool_task, &j);
}

/* Reference: every output, every tap, bounds tested per tap. */
static void pool_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                           const cam__ctx *ctx) {
    (void)ctx;
    const pool_params *p = n->params;
    const float *x = cam__f32(in[0]);
    float *y = cam__f32(out[0]);
    for (int64_t c = 0; c < p->planes; c++)
        for (int64_t o0 = 0; o0 < p->out[0]; o0++)
            for (int64_t o1 = 0; o1 < p->out[1]; o1++)
                for (int64_t o2 = 0; o2 < p->out[2]; o2++) {
                    float acc = p->kind == POOL_MAX ? -INFINITY : 0.0f;
                    int64_t count = 0;
                    for (int64_t k0 = 0; k0 < p->k[0]; k0++)
                        for (int64_t k1 = 0; k1 < p->k[1]; k1++)
                            for (int64_t k2 = 0; k2 < p->k[2]; k2++) {
                                int64_t pos[3] = {o0 * p->s[0] - p->pb[0] + k0 * p->d[0],
                                                  o1 * p->s[1] - p->pb[1] + k1 * p->d[1],
                                                  o2 * p->s[2] - p->pb[2] + k2 * p->d[2]};
                                bool real = true, padded = true;
                                for (int i = 0; i < 3; i++) {
                                    if (pos[i] < 0 || pos[i] >= p->in[i]) real = false;
                                    if (pos[i] < -p->pb[i] || pos[i] >= p->in[i] + p->pe[i]) padded = false;
                                }
                                if (real) {
                                    float v = x[((c * p->in[0] + pos[0]) * p->in[1] + pos[1]) * p->in[2] + pos[2]];
                                    if (p->kind == POOL_MAX) acc = v > acc ? v : acc;
                                    else acc += v;
                                }
                                if (p->count_include_pad ? padded : real) count++;
                            }
                    y[((c * p->out[0] + o0) * p->out[1] + o1) * p->out[2] + o2] =
                        p->kind == POOL_MAX ? acc : acc / (float)count;
                }
}

cam_status cam__op_MaxPool_check(cam__node *n, char *err, size_t errlen) { return pool_check(n, POOL_MAX, err, errlen); }
cam_status cam__op_AveragePool_check(cam__node *n, char *err, size_t errlen) {
    return pool_check(n, POOL_AVG, err, errlen);
}
cam_status cam__op_MaxPool_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err,
                                 size_t errlen) {
    return pool_shape(n, in, out, err, errlen);
}
cam_status cam__op_AveragePool_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err,
                                     size_t errlen) {
    return pool_shape(n, in, out, err, errlen);
}
void cam__op_MaxPool_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                             const cam__ctx *ctx) {
    pool_forward(n, in, out, ctx);
}
void cam__op_AveragePool_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                                 const cam__ctx *ctx) {
    pool_forward(n, in, out, ctx);
}
void cam__op_MaxPool_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                               const cam__ctx *ctx) {
    pool_reference(n, in, out, ctx);
}
void cam__op_AveragePool_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                                   const cam__ctx *ctx) {
    pool_reference(n, in, out, ctx);
}

/* ---- GlobalAveragePool ----------------------------------------------------- */

cam_status cam__op_GlobalAveragePool_check(cam__node *n, char *err, size_t errlen) {
    if (n->n_in != 1 || n->n_out != 1)
        return cam__fail(err, errlen, CAM_EFORMAT, "GlobalAveragePool node '%s': expects 1 input and 1 output",
                         n->name);
    return CAM_OK;
}

cam_status cam__op_GlobalAveragePool_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err,
                                           size_t errlen) {
    const cam__tensor *x = in[0];
    if (x->dtype != CAM_FLOAT)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "GlobalAveragePool node '%s': only float32 is supported",
                         n->name);
    if (x->rank < 3)
        return cam__fail(err, errlen, CAM_EFORMAT, "GlobalAveragePool node '%s': input rank %d < 3", n->name,
                         x->rank);
    int64_t dims[CAM__MAX_RANK];
    for (int i = 0; i < x->rank; i++) dims[i] = i < 2 ? x->dims[i] : 1;
    if (x->dims[0] * x->dims[1] > 0 && x->numel == 0)
        return cam__fail(err, errlen, CAM_EFORMAT, "GlobalAveragePool node '%s': empty spatial extent", n->name);
    out[0]->dtype = CAM_FLOAT;
    cam__tensor_set_shape(out[0], x->rank, dims);
    n->scratch = 0;
    n->flops = (double)x->numel;
    return CAM_OK;
}

typedef struct {
    const float *x;
    float *y;
    size_t len;
} gap_job;

CAM__HOT static void gap_task(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const gap_job *j = arg;
    float inv = 1.0f / (float)j->len;
    for (int64_t c = b; c < e; c++) j->y[c] = sum_lanes(j->x + (size_t)c * j->len, j->len) * inv;
}

void cam__op_GlobalAveragePool_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                                       const cam__ctx *ctx) {
    (void)n;
    size_t planes = out[0]->numel;
    gap_job j = {cam__f32(in[0]), cam__f32(out[0]), planes ? in[0]->numel / planes : 0};
    cam__ctx_parallel(ctx, (int64_t)planes, grain_for((double)j.len), gap_task, &j);
}

void cam__op_GlobalAveragePool_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                                         const cam__ctx *ctx) {
    (void)n; (void)ctx;
    size_t planes = out[0]->numel, len = planes ? in[0]->numel / planes : 0;
    const float *x = cam__f32(in[0]);
    for (size_t c = 0; c < planes; c++) {
        double s = 0;
        for (size_t i = 0; i < len; i++) s += x[c * len + i];
        cam__f32(out[0])[c] = (float)(s / (double)len);
    }
}

/* ---- ReduceMean ------------------------------------------------------------ */

typedef struct {
    int keepdims, noop_empty;
    int n_axes;                    /* from the attribute (opset < 18); -1 = absent */
    int64_t axes[CAM__MAX_RANK];
    /* resolved by shape() */
    bool reduce[CAM__MAX_RANK];    /* per input dim */
    int rank;
    int64_t dims[CAM__MAX_RANK];   /* input dims */
    /* input viewed as groups of adjacent dims, alternately kept and reduced,
     * unit dims dropped: forward picks its loop from this pattern */
    int ng;
    int64_t gsize[CAM__MAX_RANK];
    bool gred[CAM__MAX_RANK];
    int64_t count;                 /* elements averaged per output */
} rmean_params;

cam_status cam__op_ReduceMean_check(cam__node *n, char *err, size_t errlen) {
    if (n->n_out != 1 || n->n_in < 1 || n->n_in > (n->opset >= 18 ? 2 : 1))
        return cam__fail(err, errlen, CAM_EFORMAT, "ReduceMean node '%s': wrong number of inputs/outputs", n->name);
    rmean_params *p = calloc(1, sizeof *p);
    if (!p) return CAM_ENOMEM;
    p->keepdims = cam__attr_int(n, "keepdims", 1) != 0;
    p->noop_empty = n->opset >= 18 && cam__attr_int(n, "noop_with_empty_axes", 0) != 0;
    p->n_axes = -1;
    const int64_t *ax;
    int na = cam__attr_ints(n, "axes", &ax);
    if (cam__attr_find(n, "axes")) {
        if (n->opset >= 18) {
            free(p);
            return cam__fail(err, errlen, CAM_EFORMAT,
                             "ReduceMean node '%s': axes is an input, not an attribute, from opset 18", n->name);
        }
        if (na > CAM__MAX_RANK) {
            free(p);
            return cam__fail(err, errlen, CAM_EFORMAT, "ReduceMean node '%s': too many axes", n->name);
        }
        p->n_axes = na;
        memcpy(p->axes, ax, (size_t)na * sizeof *ax);
    }
    free(n->params);
    n->params = p;
    return CAM_OK;
}

cam_status cam__op_ReduceMean_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err,
                                    size_t errlen) {
    rmean_params *p = n->params;
    const cam__tensor *x = in[0];
    if (x->dtype != CAM_FLOAT)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "ReduceMean node '%s': only float32 is supported", n->name);
    const int64_t *axes = p->axes;
    int na = p->n_axes < 0 ? 0 : p->n_axes;
    if (n->n_in > 1 && in[1]) {
        const cam__tensor *a = in[1];
        if (!a->data)
            return cam__fail(err, errlen, CAM_EUNSUPPORTED,
                             "ReduceMean node '%s': axes must be a constant (computed axes are not supported)", n->name);
        if (a->dtype != CAM_INT64 || a->rank > 1 || a->numel > CAM__MAX_RANK)
            return cam__fail(err, errlen, CAM_EFORMAT, "ReduceMean node '%s': axes must be a 1-D int tensor", n->name);
        axes = cam__i64(a);
        na = (int)a->numel;
    }
    p->rank = x->rank;
    for (int i = 0; i < x->rank; i++) {
        p->dims[i] = x->dims[i];
        p->reduce[i] = na == 0 && !p->noop_empty;  /* empty axes: all, or none with noop_with_empty_axes */
    }
    for (int i = 0; i < na; i++) {
        int a;
        if (!cam__norm_axis(axes[i], x->rank, &a))
            return cam__fail(err, errlen, CAM_EFORMAT, "ReduceMean node '%s': axis %lld out of range for rank %d",
                             n->name, (long long)axes[i], x->rank);
        if (p->reduce[a])
            return cam__fail(err, errlen, CAM_EFORMAT, "ReduceMean node '%s': axis %lld repeated", n->name,
                             (long long)axes[i]);
        p->reduce[a] = true;
    }
    int64_t od[CAM__MAX_RANK];
    int orank = 0;
    p->count = 1;
    p->ng = 0;
    for (int i = 0; i < x->rank; i++) {
        if (p->reduce[i]) p->count *= x->dims[i];
        if (!p->reduce[i]) od[orank++] = x->dims[i];
        else if (p->keepdims) od[orank++] = 1;
        if (x->dims[i] == 1) continue;
        if (p->ng > 0 && p->gred[p->ng - 1] == p->reduce[i]) {
            p->gsize[p->ng - 1] *= x->dims[i];
        } else {
            p->gsize[p->ng] = x->dims[i];
            p->gred[p->ng++] = p->reduce[i];
        }
    }
    out[0]->dtype = CAM_FLOAT;
    cam__tensor_set_shape(out[0], orank, od);
    n->scratch = 0;
    n->flops = (double)x->numel;
    return CAM_OK;
}

typedef struct {
    const rmean_params *p;
    const float *x;
    float *y;
    int64_t outer, R, inner, nib;  /* x viewed as [outer, R, inner] (fast paths) */
} rmean_job;

#define RMEAN_IB 256  /* inner columns per task: a row of partial sums stays in L1 */

/* [outer, R] -> mean of each row */
CAM__HOT static void rmean_rows(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const rmean_job *j = arg;
    float inv = 1.0f / (float)j->R;
    for (int64_t o = b; o < e; o++) j->y[o] = sum_lanes(j->x + o * j->R, (size_t)j->R) * inv;
}

/* [outer, R, inner] -> mean over R, tasks are (outer, block of inner) */
CAM__HOT static void rmean_cols(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const rmean_job *j = arg;
    float inv = 1.0f / (float)j->R;
    for (int64_t t = b; t < e; t++) {
        int64_t o = t / j->nib, i0 = (t % j->nib) * RMEAN_IB, i1 = i0 + RMEAN_IB;
        if (i1 > j->inner) i1 = j->inner;
        float *y = j->y + o * j->inner;
        const float *x = j->x + o * j->R * j->inner;
        for (int64_t i = i0; i < i1; i++) y[i] = 0.0f;
        for (int64_t r = 0; r < j->R; r++)
            for (int64_t i = i0; i < i1; i++) y[i] += x[r * j->inner + i];
        for (int64_t i = i0; i < i1; i++) y[i] *= inv;
    }
}

/* Any pattern: each output walks its reduced sub-space with an odometer. */
static void rmean_general(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const rmean_job *j = arg;
    const rmean_params *p = j->p;
    int64_t stride[CAM__MAX_RANK], s = 1;
    for (int g = p->ng - 1; g >= 0; g--) { stride[g] = s; s *= p->gsize[g]; }
    for (int64_t o = b; o < e; o++) {
        /* input offset of this output's first element: split o over kept groups */
        int64_t base = 0, rem = o;
        for (int g = p->ng - 1; g >= 0; g--)
            if (!p->gred[g]) { base += (rem % p->gsize[g]) * stride[g]; rem /= p->gsize[g]; }
        int64_t idx[CAM__MAX_RANK] = {0}, off = 0;
        float acc = 0.0f;
        for (int64_t c = 0; c < p->count; c++) {
            acc += j->x[base + off];
            for (int g = p->ng - 1; g >= 0; g--) {
                if (!p->gred[g]) continue;
                off += stride[g];
                if (++idx[g] < p->gsize[g]) break;
                off -= idx[g] * stride[g];
                idx[g] = 0;
            }
        }
        j->y[o] = acc / (float)p->count;
    }
}

void cam__op_ReduceMean_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                                const cam__ctx *ctx) {
    const rmean_params *p = n->params;
    rmean_job j = {p, cam__f32(in[0]), cam__f32(out[0]), 1, 1, 1, 1};
    int g = 0;
    bool fits = true;
    if (g < p->ng && !p->gred[g]) j.outer = p->gsize[g++];
    if (g < p->ng && p->gred[g]) j.R = p->gsize[g++];
    if (g < p->ng && !p->gred[g]) j.inner = p->gsize[g++];
    if (g < p->ng) fits = false;
    if (out[0]->numel == 0) return;
    if (fits && j.R == 1) {  /* nothing reduced (noop_with_empty_axes, or unit axes) */
        memcpy(j.y, j.x, in[0]->numel * sizeof(float));
    } else if (!fits) {
        cam__ctx_parallel(ctx, (int64_t)out[0]->numel, grain_for((double)p->count), rmean_general, &j);
    } else if (j.inner == 1) {
        cam__ctx_parallel(ctx, j.outer, grain_for((double)j.R), rmean_rows, &j);
    } else {
        j.nib = (j.inner + RMEAN_IB - 1) / RMEAN_IB;
        int64_t cols = j.inner < RMEAN_IB ? j.inner : RMEAN_IB;
        cam__ctx_parallel(ctx, j.outer * j.nib, grain_for((double)(j.R * cols)), rmean_cols, &j);
    }
}

/* Reference: for each output, sum its reduced sub-space over the original
 * dims (odometer), in double. */
void cam__op_ReduceMean_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                                  const cam__ctx *ctx) {
    (void)ctx;
    const rmean_params *p = n->params;
    const float *x = cam__f32(in[0]);
    int64_t stride[CAM__MAX_RANK], s = 1;
    for (int i = p->rank - 1; i >= 0; i--) { stride[i] = s; s *= p->dims[i]; }
    for (size_t o = 0; o < out[0]->numel; o++) {
        int64_t idx[CAM__MAX_RANK] = {0}, rem = (int64_t)o;
        for (int i = p->rank - 1; i >= 0; i--)
            if (!p->reduce[i]) { idx[i] = rem % p->dims[i]; rem /= p->dims[i]; }
        double acc = 0;
        for (int64_t c = 0; c < p->count; c++) {
            int64_t off = 0;
            for (int i = 0; i < p->rank; i++) off += idx[i] * stride[i];
            acc += x[off];
            for (int i = p->rank - 1; i >= 0; i--) {
                if (!p->reduce[i]) continue;
                if (++idx[i] < p->dims[i]) break;
                idx[i] = 0;
            }
        }
        cam__f32(out[0])[o] = (float)(acc / (double)p->count);
    }
}

/* ---- LRN ------------------------------------------------------------------- */

typedef struct {
    int64_t size;
    float alpha, beta, bias;
    int64_t N, C, S;   /* S = product of spatial dims, set by shape() */
} lrn_params;

#define LRN_BLOCK 512  /* spatial positions per task: the window sums fit in L1 */

cam_status cam__op_LRN_check(cam__node *n, char *err, size_t errlen) {
    if (n->n_in != 1 || n->n_out != 1)
        return cam__fail(err, errlen, CAM_EFORMAT, "LRN node '%s': expects 1 input and 1 output", n->name);
    int64_t size = cam__attr_int(n, "size", 0);
    if (size < 1 || size > 65536)
        return cam__fail(err, errlen, CAM_EFORMAT, "LRN node '%s': size must be in [1, 65536], got %lld", n->name,
                         (long long)size);
    lrn_params *p = calloc(1, sizeof *p);
    if (!p) return CAM_ENOMEM;
    p->size = size;
    p->alpha = cam__attr_float(n, "alpha", 1e-4f);
    p->beta = cam__attr_float(n, "beta", 0.75f);
    p->bias = cam__attr_float(n, "bias", 1.0f);
    free(n->params);
    n->params = p;
    return CAM_OK;
}

cam_status cam__op_LRN_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err,
                             size_t errlen) {
    lrn_params *p = n->params;
    const cam__tensor *x = in[0];
    if (x->dtype != CAM_FLOAT)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "LRN node '%s': only float32 is supported", n->name);
    if (x->rank < 2)
        return cam__fail(err, errlen, CAM_EFORMAT, "LRN node '%s': input rank %d < 2", n->name, x->rank);
    p->N = x->dims[0];
    p->C = x->dims[1];
    p->S = 1;
    for (int i = 2; i < x->rank; i++) p->S *= x->dims[i];
    out[0]->dtype = CAM_FLOAT;
    cam__tensor_set_shape(out[0], x->rank, x->dims);
    n->scratch = LRN_BLOCK * sizeof(float);
    n->flops = (double)x->numel * (double)(2 * p->size + 4);
    return CAM_OK;
}

typedef struct {
    const lrn_params *p;
    const float *x;
    float *y;
    int64_t nsb;       /* spatial blocks per plane */
    const cam__ctx *ctx;
} lrn_job;

/* Tasks are (n, c, spatial block): each sums its channel window directly
 * (size is small, typically 5) rather than sliding a running sum, which
 * would lose precision when a window moves from large to small values. */
CAM__HOT static void lrn_task(void *arg, int64_t b, int64_t e, int tid) {
    const lrn_job *j = arg;
    const lrn_params *p = j->p;
    float *acc = cam__scratch(j->ctx, tid);
    int64_t lo_off = (p->size - 1) / 2, hi_off = p->size / 2;  /* floor and ceil of (size-1)/2 */
    float scale = p->alpha / (float)p->size;
    bool b075 = p->beta == 0.75f;
    for (int64_t t = b; t < e; t++) {
        int64_t plane = t / j->nsb, s0 = (t % j->nsb) * LRN_BLOCK, s1 = s0 + LRN_BLOCK;
        if (s1 > p->S) s1 = p->S;
        int64_t len = s1 - s0, nn = plane / p->C, c = plane % p->C;
        int64_t c0 = c - lo_off < 0 ? 0 : c - lo_off, c1 = c + hi_off >= p->C ? p->C - 1 : c + hi_off;
        for (int64_t i = 0; i < len; i++) acc[i] = 0.0f;
        for (int64_t cc = c0; cc <= c1; cc++) {
            const float *xc = j->x + (nn * p->C + cc) * p->S + s0;
            for (int64_t i = 0; i < len; i++) acc[i] += xc[i] * xc[i];
        }
        const float *xs = j->x + plane * p->S + s0;
        float *ys = j->y + plane * p->S + s0;
        if (b075) {  /* t^-0.75 = 1/(sqrt(t)*sqrt(sqrt(t))): vectorises, powf does not */
            for (int64_t i = 0; i < len; i++) {
                float q = p->bias + scale * acc[i], r = sqrtf(q);
                ys[i] = xs[i] / (r * sqrtf(r));
            }
        } else {
            for (int64_t i = 0; i < len; i++) ys[i] = xs[i] / powf(p->bias + scale * acc[i], p->beta);
        }
    }
}

void cam__op_LRN_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                         const cam__ctx *ctx) {
    const lrn_params *p = n->params;
    lrn_job j = {p, cam__f32(in[0]), cam__f32(out[0]), (p->S + LRN_BLOCK - 1) / LRN_BLOCK, ctx};
    int64_t blk = p->S < LRN_BLOCK ? p->S : LRN_BLOCK;
    cam__ctx_parallel(ctx, p->N * p->C * j.nsb, grain_for((double)(blk * (p->size + 4))), lrn_task, &j);
}

void cam__op_LRN_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                           const cam__ctx *ctx) {
    (void)ctx;
    const lrn_params *p = n->params;
    const float *x = cam__f32(in[0]);
    float *y = cam__f32(out[0]);
    for (int64_t nn = 0; nn < p->N; nn++)
        for (int64_t c = 0; c < p->C; c++)
            for (int64_t s = 0; s < p->S; s++) {
                double sq = 0;
                for (int64_t cc = c - (p->size - 1) / 2; cc <= c + p->size / 2; cc++)
                    if (cc >= 0 && cc < p->C) {
                        double v = x[(nn * p->C + cc) * p->S + s];
                        sq += v * v;
                    }
                size_t i = (size_t)((nn * p->C + c) * p->S + s);
                y[i] = (float)(x[i] / pow(p->bias + p->alpha / p->size * sq, p->beta));
            }
}
