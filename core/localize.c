/* localize.c: heatmaps and boxes from class activation maps.
 *
 * cam_heatmap samples an h x w map (on the network input grid) at the pixel
 * centres of an output grid covering the whole upright image, bilinearly
 * with align_corners=False semantics, and min-max normalises the result.
 * cam_boxes thresholds a heatmap and boxes its 8-connected components.
 * Together they are the CAM paper's localization protocol (DESIGN §1, §5).
 *
 * Neither function is on the forward-pass hot path, so both may allocate:
 * cam_heatmap once (taps and two resampled rows), cam_boxes at most twice
 * (runs, then components), each sized exactly and overflow-checked first. */
#include "internal.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- heatmap --------------------------------------------------------------- */

/* One axis of the resampling: output index -> two map indices and the
 * weight of the second one. */
typedef struct {
    int i0, i1;
    float f;
} tap;

/* Fills taps[lo..hi) for the output indices whose centre lies on the network
 * input (u in [0, net)); returns that range through *lo, *hi (empty: lo == hi).
 * The chain image -> network -> map coordinate is monotone in the output
 * index and every step is a correctly rounded monotone operation, so the
 * valid indices are one contiguous range and the rest of the output was
 * cropped away by the preprocessing. */
static void axis_taps(int out_n, int image_n, double origin, double scale, int net_n, int map_n, tap *taps,
                      int *lo, int *hi) {
    int first = -1, last = -1;
    for (int o = 0; o < out_n; o++) {
        double x = ((double)o + 0.5) * image_n / out_n;      /* full-image coordinate */
        double u = (x - origin) / scale;                      /* network-input coordinate */
        if (!(u >= 0.0 && u < (double)net_n)) continue;
        double a = u * map_n / net_n - 0.5;                   /* map coordinate, cell centres at integers */
        if (a < 0.0) a = 0.0;                                 /* edge clamp, as align_corners=False */
        int i0 = (int)a;                                      /* a in [0, map_n): fits, floor == trunc */
        tap t;
        if (i0 >= map_n - 1) {
            t.i0 = t.i1 = map_n - 1;
            t.f = 0.0f;
        } else {
            t.i0 = i0;
            t.i1 = i0 + 1;
            t.f = (float)(a - i0);
        }
        taps[o] = t;
        if (first < 0) first = o;
        last = o;
    }
    *lo = first < 0 ? 0 : first;
    *hi = first < 0 ? 0 : last + 1;
}

/* One map row resampled horizontally: t[X] for X in [lo, hi).  Tiny (h rows
 * of out_w per call of cam_heatmap), so the gathers do not matter. */
static void hrow(const float *mrow, const tap *cols, int lo, int hi, float *t) {
    for (int x = lo; x < hi; x++) {
        float a = mrow[cols[x].i0], b = mrow[cols[x].i1];
        t[x] = a + cols[x].f * (b - a);
    }
}

/* The vertical interpolation, written once so that the min/max pass and the
 * store pass compute bit-identical values (the maximum must map to exactly 1).
 * With f == 0 it returns a exactly, so identity geometry reproduces the map. */
static inline __attribute__((always_inline)) float lerp(float a, float b, float f) { return a + f * (b - a); }

/* Running min and max of lerp(t0, t1, f) per column over [lo, hi).
 * Element-wise on arrays, because GCC vectorises neither a float min/max
 * reduction (not associative without -ffinite-math-only) nor the same in
 * unrolled register lanes; a < b ? a : b is exactly vminps. */
static CAM__HOT void row_minmax(const float *restrict t0, const float *restrict t1, float f, int lo, int hi,
                                float *restrict cmn, float *restrict cmx) {
    for (int x = lo; x < hi; x++) {
        float v = lerp(t0[x], t1[x], f);
        cmn[x] = v < cmn[x] ? v : cmn[x];
        cmx[x] = v > cmx[x] ? v : cmx[x];
    }
}

/* out[X] = (lerp(t0, t1, f) - mn) / range over [lo, hi).  A true division,
 * not a multiplication by 1/range: it maps mn to exactly 0 and the maximum to
 * exactly 1 and stays monotone, so nothing leaves [0, 1]; the clamp only
 * guards against the compiler contracting this loop differently from
 * row_minmax. */
static CAM__HOT void row_store(const float *restrict t0, const float *restrict t1, float f, int lo, int hi, float mn,
                               float range, float *restrict out) {
    for (int x = lo; x < hi; x++) {
        float v = (lerp(t0[x], t1[x], f) - mn) / range;
        v = v < 1.0f ? v : 1.0f;
        out[x] = v > 0.0f ? v : 0.0f;
    }
}

/* Two horizontally resampled map rows, reused while consecutive output rows
 * sample the same pair (they do for runs of out_h / h rows). */
typedef struct {
    const float *map;
    int w;
    const tap *cols;
    int lo, hi;
    int row[2];
    float *buf[2];
} row_cache;

static const float *cache_get(row_cache *c, int r, int keep) {
    if (c->row[0] == r) return c->buf[0];
    if (c->row[1] == r) return c->buf[1];
    int s = c->row[0] == keep ? 1 : 0;   /* never evict the other row in use */
    hrow(c->map + (size_t)r * c->w, c->cols, c->lo, c->hi, c->buf[s]);
    c->row[s] = r;
    return c->buf[s];
}

cam_status cam_heatmap(const float *map, int h, int w, const cam_geometry *geo, int out_w, int out_h, float *heat,
                       char *err, size_t errlen) {
    if (!map || !geo || !heat) return cam__fail(err, errlen, CAM_EINVAL, "cam_heatmap: NULL argument");
    if (h < 1 || w < 1) return cam__fail(err, errlen, CAM_EINVAL, "cam_heatmap: map size %dx%d", w, h);
    if (out_w < 1 || out_h < 1)
        return cam__fail(err, errlen, CAM_EINVAL, "cam_heatmap: output size %dx%d", out_w, out_h);
    if (geo->net_w < 1 || geo->net_h < 1 || geo->image_w < 1 || geo->image_h < 1)
        return cam__fail(err, errlen, CAM_EINVAL, "cam_heatmap: geometry has network %dx%d, image %dx%d",
                         geo->net_w, geo->net_h, geo->image_w, geo->image_h);
    if (!isfinite(geo->x0) || !isfinite(geo->y0) || !(geo->sx > 0.0) || !(geo->sy > 0.0) || !isfinite(geo->sx) ||
        !isfinite(geo->sy))
        return cam__fail(err, errlen, CAM_EINVAL, "cam_heatmap: geometry origin (%g, %g) scale (%g, %g)", geo->x0,
                         geo->y0, geo->sx, geo->sy);
    /* Every size is checked, including the output's byte count that the
     * memsets below compute. */
    size_t n_map, n_out, out_bytes, row_bytes, tap_bytes;
    if (!cam__mul_ok((size_t)w, (size_t)h, &n_map) || !cam__mul_ok((size_t)out_w, (size_t)out_h, &n_out) ||
        !cam__mul_ok(n_out, sizeof(float), &out_bytes) ||
        !cam__mul_ok((size_t)out_w, 4 * sizeof(float), &row_bytes) ||
        !cam__mul_ok((size_t)out_w + (size_t)out_h, sizeof(tap), &tap_bytes) || row_bytes + tap_bytes < row_bytes)
        return cam__fail(err, errlen, CAM_ELIMIT, "cam_heatmap: size %dx%d overflows", out_w, out_h);
    /* Non-finite map values would turn the whole normalised heatmap into NaN;
     * the map is tiny (h*w, typically 49), so checking costs nothing. */
    float mmin = INFINITY, mmax = -INFINITY;
    for (size_t i = 0; i < n_map; i++) {
        if (!isfinite(map[i]))
            return cam__fail(err, errlen, CAM_EINVAL, "cam_heatmap: map value %zu is not finite", i);
        mmin = map[i] < mmin ? map[i] : mmin;
        mmax = map[i] > mmax ? map[i] : mmax;
    }
    /* Interpolated values lie in [mmin, mmax]; their difference must be a
     * finite float for the normalisation. */
    if (!isfinite(mmax - mmin))
        return cam__fail(err, errlen, CAM_ELIMIT, "cam_heatmap: map values span more than a float range");

    /* One block: two resampled rows, column minima, column maxima (out_w
     * floats each, first for alignment), then column and row taps. */
    char *block = cam__aligned_alloc(row_bytes + tap_bytes);
    if (!block)
        return cam__fail(err, errlen, CAM_ENOMEM, "cam_heatmap: out of memory (%zu bytes)", row_bytes + tap_bytes);
    float *tbuf = (float *)block;
    float *cmn = tbuf + 2 * (size_t)out_w, *cmx = cmn + out_w;
    tap *cols = (tap *)(block + row_bytes);
    tap *rows = cols + out_w;

    int cx0, cx1, ry0, ry1;
    axis_taps(out_w, geo->image_w, geo->x0, geo->sx, geo->net_w, w, cols, &cx0, &cx1);
    axis_taps(out_h, geo->image_h, geo->y0, geo->sy, geo->net_h, h, rows, &ry0, &ry1);

    row_cache c = {map, w, cols, cx0, cx1, {-1, -1}, {tbuf, tbuf + out_w}};
    for (int x = cx0; x < cx1; x++) cmn[x] = INFINITY, cmx[x] = -INFINITY;
    for (int y = ry0; y < ry1 && cx0 < cx1; y++) {
        const float *t0 = cache_get(&c, rows[y].i0, rows[y].i1);
        const float *t1 = cache_get(&c, rows[y].i1, rows[y].i0);
        row_minmax(t0, t1, rows[y].f, cx0, cx1, cmn, cmx);
    }
    float mn = INFINITY, mx = -INFINITY;
    if (ry0 < ry1)
        for (int x = cx0; x < cx1; x++) mn = cmn[x] < mn ? cmn[x] : mn, mx = cmx[x] > mx ? cmx[x] : mx;
    /* Nothing of the network input visible, or a flat map: all 0 (the
     * cropped-away parts are the minimum, so they are 0 in any case). */
    float range = mx - mn;
    if (!(range > 0.0f)) {
        memset(heat, 0, out_bytes);
        cam__aligned_free(block);
        return CAM_OK;
    }
    for (int y = 0; y < out_h; y++) {
        float *o = heat + (size_t)y * out_w;
        if (y < ry0 || y >= ry1) {
            memset(o, 0, (size_t)out_w * sizeof(float));
            continue;
        }
        const float *t0 = cache_get(&c, rows[y].i0, rows[y].i1);
        const float *t1 = cache_get(&c, rows[y].i1, rows[y].i0);
        memset(o, 0, (size_t)cx0 * sizeof(float));
        row_store(t0, t1, rows[y].f, cx0, cx1, mn, range, o);
        memset(o + cx1, 0, (size_t)(out_w - cx1) * sizeof(float));
    }
    cam__aligned_free(block);
    return CAM_OK;
}

/* ---- boxes ----------------------------------------------------------------- */

/* Largest value and whether every value is finite, in one vectorisable pass
 * (element-wise accumulators, as in row_minmax): v * 0 is 0 for finite v
 * and NaN otherwise, so the sums stay 0 iff every value is finite. */
#define MAX_CHUNK 256
static CAM__HOT float heat_max(const float *restrict x, size_t n, int *finite) {
    float mx[MAX_CHUNK], nz[MAX_CHUNK];
    for (int k = 0; k < MAX_CHUNK; k++) mx[k] = -INFINITY, nz[k] = 0.0f;
    size_t i = 0;
    for (; i + MAX_CHUNK <= n; i += MAX_CHUNK)
        for (int k = 0; k < MAX_CHUNK; k++) {
            float v = x[i + k];
            mx[k] = v > mx[k] ? v : mx[k];
            nz[k] += v * 0.0f;
        }
    for (int k = 0; i < n; i++, k++) {
        mx[k] = x[i] > mx[k] ? x[i] : mx[k];
        nz[k] += x[i] * 0.0f;
    }
    float m = -INFINITY, z = 0.0f;
    for (int k = 0; k < MAX_CHUNK; k++) {
        m = mx[k] > m ? mx[k] : m;
        z += nz[k];
    }
    *finite = z == 0.0f;
    return m;
}

/* Number of runs (maximal horizontal stretches of mask pixels) in one row:
 * the pixels that are in the mask while their left neighbour is not. */
static CAM__HOT size_t row_run_count(const float *restrict x, int w, float t) {
    unsigned n = x[0] >= t;
    for (int i = 1; i < w; i++) n += (unsigned)(x[i] >= t) & (unsigned)!(x[i - 1] >= t);
    return n;
}

/* m[i] = x[i] >= t as bytes 0/1 */
static CAM__HOT void row_mask(const float *restrict x, int w, float t, uint8_t *restrict m) {
    for (int i = 0; i < w; i++) m[i] = x[i] >= t;
}

static CAM__HOT double sum_range(const float *restrict x, int n) {
    float acc[16] = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += x[i + j];
    double s = 0.0;
    for (; i < n; i++) s += x[i];
    for (int j = 0; j < 16; j++) s += acc[j];
    return s;
}

typedef struct {
    int x0, x1, y;           /* grid pixels [x0..x1] of row y */
    int parent;              /* union-find; always <= own index, so a root is its set's first run */
} run;

typedef struct {
    int64_t area;            /* pixels */
    int x0, y0, x1, y1;      /* grid bounding box, inclusive */
    int first;               /* first run in raster order: the final tie-break */
    int keep;                /* a candidate box */
    double heat;             /* sum of heat over the component's pixels */
} comp;

static int uf_find(run *r, int i) {
    int root = i;
    while (r[root].parent != root) root = r[root].parent;
    while (r[i].parent != root) {            /* path compression */
        int next = r[i].parent;
        r[i].parent = root;
        i = next;
    }
    return root;
}

static void uf_union(run *r, int a, int b) {
    a = uf_find(r, a);
    b = uf_find(r, b);
    if (a < b) r[b].parent = a;
    else if (b < a) r[a].parent = b;
}

/* Larger area first, then the larger heat sum, then raster order. */
static int comp_cmp(const void *pa, const void *pb) {
    const comp *a = pa, *b = pb;
    if (a->area != b->area) return a->area > b->area ? -1 : 1;
    if (a->heat != b->heat) return a->heat > b->heat ? -1 : 1;
    return (a->first > b->first) - (a->first < b->first);
}

/* Grid interval [g0..g1] of n cells -> image pixels, inclusive: the image
 * pixels the cells overlap.  The identity when n == image_n. */
static void scale_interval(int g0, int g1, int n, int image_n, int *o0, int *o1) {
    int64_t a = (int64_t)g0 * image_n / n;                          /* floor: both >= 0 */
    int64_t b = ((int64_t)(g1 + 1) * image_n + n - 1) / n - 1;      /* ceil - 1 */
    if (a < 0) a = 0;
    if (a > image_n - 1) a = image_n - 1;
    if (b < 0) b = 0;
    if (b > image_n - 1) b = image_n - 1;
    *o0 = (int)a;
    *o1 = (int)b;
}

/* Boundary positions between mask and background in row m[0..w), emitted as
 * runs.  m[-1] and m[w .. w+8 rounded up) are 0, so every run has both ends.
 * Eight pixels at a time: a word of m xor the same word shifted by one pixel
 * has a nonzero byte exactly at each boundary, usually none. */
static int row_runs(const uint8_t *m, int w, int y, run *out, int n, int cap) {
    int start = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (int i = 0; i <= w; i += 8) {
        uint64_t cur, prev;
        memcpy(&cur, m + i, 8);
        memcpy(&prev, m + i - 1, 8);
        uint64_t d = cur ^ prev;             /* bytes are 0 or 1: one bit per boundary */
        while (d) {
            int bit = __builtin_ctzll(d);
            int pos = i + bit / 8;
            if ((cur >> bit) & 1) {
                start = pos;
            } else {
                if (n == cap) return n;      /* cannot happen: cap was counted with the same test */
                out[n].x0 = start;
                out[n].x1 = pos - 1;
                out[n].y = y;
                out[n].parent = n;
                n++;
            }
            d &= d - 1;
        }
    }
#else
    for (int i = 0; i <= w; i++) {
        if (m[i] == m[i - 1]) continue;
        if (m[i]) {
            start = i;
        } else {
            if (n == cap) return n;
            out[n] = (run){start, i - 1, y, n};
            n++;
        }
    }
#endif
    return n;
}

cam_status cam_boxes(const float *heat, int w, int h, int image_w, int image_h, float threshold, cam_boxes_mode mode,
                     float min_area, cam_box *boxes, int max_boxes, int *n_boxes, char *err, size_t errlen) {
    if (n_boxes) *n_boxes = 0;
    if (!heat || !n_boxes || (max_boxes > 0 && !boxes))
        return cam__fail(err, errlen, CAM_EINVAL, "cam_boxes: NULL argument");
    if (w < 1 || h < 1) return cam__fail(err, errlen, CAM_EINVAL, "cam_boxes: heatmap size %dx%d", w, h);
    if (image_w < 1 || image_h < 1)
        return cam__fail(err, errlen, CAM_EINVAL, "cam_boxes: image size %dx%d", image_w, image_h);
    if (!isfinite(threshold)) return cam__fail(err, errlen, CAM_EINVAL, "cam_boxes: threshold is not finite");
    if (!isfinite(min_area)) return cam__fail(err, errlen, CAM_EINVAL, "cam_boxes: min_area is not finite");
    if (mode != CAM_BOXES_LARGEST && mode != CAM_BOXES_ALL)
        return cam__fail(err, errlen, CAM_EINVAL, "cam_boxes: unknown mode %d", (int)mode);
    if (max_boxes < 0) return cam__fail(err, errlen, CAM_EINVAL, "cam_boxes: max_boxes %d", max_boxes);
    size_t n_px;
    /* Run and component indices are ints; at most INT_MAX pixels keeps them
     * and every pixel count in range (images are capped at 40e6 pixels). */
    if (!cam__mul_ok((size_t)w, (size_t)h, &n_px) || n_px > (size_t)INT_MAX)
        return cam__fail(err, errlen, CAM_ELIMIT, "cam_boxes: heatmap %dx%d too large", w, h);

    int finite;
    float mx = heat_max(heat, n_px, &finite);
    if (!finite) return cam__fail(err, errlen, CAM_EINVAL, "cam_boxes: heatmap has a non-finite value");
    /* threshold x maximum: the same as threshold after normalisation, and
     * still the paper's rule for an unnormalised non-negative map. */
    float t = threshold * mx;

    /* Exact run count first, so the run array is sized to the mask rather
     * than to the worst case (a checkerboard: w*h/2 runs). */
    size_t n_runs = 0;
    for (int y = 0; y < h; y++) n_runs += row_run_count(heat + (size_t)y * w, w, t);
    if (n_runs == 0 || max_boxes == 0) return CAM_OK;   /* empty mask or nothing asked: no boxes */

    /* One allocation: the runs, then one mask row with a zero byte before it
     * and at least 8 zero bytes after it (row_runs reads whole words). */
    size_t mask_bytes = ((size_t)w + 7) / 8 * 8 + 16;
    size_t run_bytes;
    if (!cam__mul_ok(n_runs, sizeof(run), &run_bytes) || run_bytes + mask_bytes < run_bytes)
        return cam__fail(err, errlen, CAM_ELIMIT, "cam_boxes: %zu runs overflow", n_runs);
    char *block = malloc(run_bytes + mask_bytes);
    if (!block) return cam__fail(err, errlen, CAM_ENOMEM, "cam_boxes: out of memory (%zu runs)", n_runs);
    run *runs = (run *)block;
    uint8_t *mask = (uint8_t *)block + run_bytes + 8;
    memset(mask - 8, 0, mask_bytes);

    /* Label runs row by row; a run joins every run of the row above that it
     * touches including diagonally (8-connectivity: the column intervals,
     * widened by one, overlap).  Both rows are sorted by x, so one merge. */
    int n = 0, prev_lo = 0, prev_hi = 0;
    for (int y = 0; y < h; y++) {
        row_mask(heat + (size_t)y * w, w, t, mask);
        int lo = n;
        n = row_runs(mask, w, y, runs, n, (int)n_runs);
        int j = prev_lo;
        for (int k = lo; k < n; k++) {
            while (j < prev_hi && runs[j].x1 < runs[k].x0 - 1) j++;
            for (int p = j; p < prev_hi && runs[p].x0 <= runs[k].x1 + 1; p++) uf_union(runs, k, p);
        }
        prev_lo = lo;
        prev_hi = n;
    }

    /* Flatten: roots (parent == self) get component ids in raster order of
     * their first run; every other run's parent is an earlier run whose
     * parent field already holds its component id. */
    int n_comp = 0;
    for (int i = 0; i < n; i++) runs[i].parent = runs[i].parent == i ? n_comp++ : runs[runs[i].parent].parent;

    /* The second allocation: one record per component. */
    comp *comps = malloc((size_t)n_comp * sizeof(comp));
    if (!comps) {
        free(block);
        return cam__fail(err, errlen, CAM_ENOMEM, "cam_boxes: out of memory (%d components)", n_comp);
    }
    for (int c = 0; c < n_comp; c++)
        comps[c] = (comp){0, INT_MAX, INT_MAX, -1, -1, -1, 0, 0.0};
    for (int i = 0; i < n; i++) {
        comp *c = &comps[runs[i].parent];
        const run *r = &runs[i];
        if (c->first < 0) c->first = i;
        c->area += r->x1 - r->x0 + 1;
        if (r->x0 < c->x0) c->x0 = r->x0;
        if (r->x1 > c->x1) c->x1 = r->x1;
        if (r->y < c->y0) c->y0 = r->y;
        if (r->y > c->y1) c->y1 = r->y;
    }

    /* Which components are kept, and which need their heat sum: LARGEST
     * keeps the largest area and needs heat only when that area is shared
     * (the tie-break); ALL keeps those of at least min_area and needs their
     * heat for the order. */
    int need_heat = 0;
    if (mode == CAM_BOXES_LARGEST) {
        int64_t best = 0;
        int ties = 0;
        for (int c = 0; c < n_comp; c++) best = comps[c].area > best ? comps[c].area : best;
        for (int c = 0; c < n_comp; c++) ties += comps[c].area == best;
        for (int c = 0; c < n_comp; c++) comps[c].keep = comps[c].area == best;
        need_heat = ties > 1;
    } else {
        double min_px = (double)min_area * (double)w * (double)h;
        for (int c = 0; c < n_comp; c++) {
            comps[c].keep = (double)comps[c].area >= min_px;
            need_heat |= comps[c].keep;
        }
    }
    if (need_heat)
        for (int i = 0; i < n; i++) {
            const run *r = &runs[i];
            comp *c = &comps[r->parent];
            if (c->keep) c->heat += sum_range(heat + (size_t)r->y * w + r->x0, r->x1 - r->x0 + 1);
        }
    int n_keep = 0;
    for (int c = 0; c < n_comp; c++)
        if (comps[c].keep) comps[n_keep++] = comps[c];
    qsort(comps, (size_t)n_keep, sizeof(comp), comp_cmp);

    int out = n_keep < max_boxes ? n_keep : max_boxes;
    if (mode == CAM_BOXES_LARGEST && out > 1) out = 1;
    for (int b = 0; b < out; b++) {
        const comp *c = &comps[b];
        cam_box *o = &boxes[b];
        scale_interval(c->x0, c->x1, w, image_w, &o->x0, &o->x1);
        scale_interval(c->y0, c->y1, h, image_h, &o->y0, &o->y1);
        /* Mean heat over the box's grid rectangle: every pixel of it, not
         * only the component's, as the box is what the caller sees. */
        double s = 0.0;
        for (int y = c->y0; y <= c->y1; y++) s += sum_range(heat + (size_t)y * w + c->x0, c->x1 - c->x0 + 1);
        o->score = (float)(s / ((double)(c->x1 - c->x0 + 1) * (double)(c->y1 - c->y0 + 1)));
    }
    *n_boxes = out;
    free(comps);
    free(block);
    return CAM_OK;
}

/* ---- IoU ------------------------------------------------------------------- */

static double box_area(const cam_box *b) {
    if (b->x1 < b->x0 || b->y1 < b->y0) return 0.0;
    return ((double)b->x1 - b->x0 + 1.0) * ((double)b->y1 - b->y0 + 1.0);
}

double cam_box_iou(const cam_box *a, const cam_box *b) {
    if (!a || !b) return 0.0;
    cam_box in = {a->x0 > b->x0 ? a->x0 : b->x0, a->y0 > b->y0 ? a->y0 : b->y0,
                  a->x1 < b->x1 ? a->x1 : b->x1, a->y1 < b->y1 ? a->y1 : b->y1, 0.0f};
    double ai = box_area(a), bi = box_area(b), ii = box_area(&in);
    double u = ai + bi - ii;
    return u > 0.0 ? ii / u : 0.0;
}
