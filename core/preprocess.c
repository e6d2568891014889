/* preprocess.c: image resizing, the network input and its geometry.
 *
 * Resampling reproduces Pillow's Image.resize(size, BILINEAR) bit for bit,
 * which is what torchvision's Resize does on PIL images (its antialiased
 * tensor path is the same filter in floating point): a separable two-pass filter,
 * horizontal then vertical, with the triangle ("bilinear") kernel whose
 * support is scaled by the reduction factor when shrinking, so every input
 * pixel contributes in proportion to its overlap (antialiased, mean
 * preserving), and plain half-pixel-centred bilinear when enlarging.  As in
 * Pillow the weights are rounded to 22-bit fixed point and the intermediate
 * image is 8-bit; matching Pillow exactly means a model sees the numbers it
 * was validated with, not merely similar ones.
 *
 * Note that this is not a box filter: shrinking by exactly 2 weighs the four
 * nearest input columns 1/8, 3/8, 3/8, 1/8 rather than averaging two.
 *
 * The center crop of torchvision's Resize(S) + CenterCrop is computed
 * without resizing what is cut away: each output pixel of a resampling
 * depends only on its own coefficients, so resampling just the kept columns
 * and rows gives exactly the pixels of resize-then-crop. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Hot loops: CAM__HOT's per-ISA clones, and never inlined.  Without clones
 * (CAM_NO_CLONES, sanitizer and clang builds, other architectures) gcc
 * would inline these into their callers, where the restrict qualifiers of
 * the parameters stop counting and the loops stay scalar (3-4x slower). */
#define HOT CAM__HOT __attribute__((noinline))

/* Pillow's PRECISION_BITS (32 - 8 - 2): 8-bit samples times weights summing
 * to about 1 stay within int32 with two bits to spare. */
#define PREC 22

/* Limits: sides up to 2^16 keep every index and coefficient count far from
 * int overflow; network inputs are capped by the contract at 8192. */
#define MAX_SIDE 65536
#define MAX_NET_SIDE 8192

/* Coefficients of one axis for outputs [first, first + n) of a resampling
 * in_size -> out_size.  Output i reads inputs lo[i] .. lo[i] + taps - 1
 * (relative to in_first); weights beyond the real window are 0. */
typedef struct axis {
    int n;            /* outputs */
    int taps;         /* taps per output; horizontal: even */
    int in_first;     /* first input index read by any output */
    int in_count;     /* inputs spanned: in_first .. in_first + in_count - 1 */
    int *lo;          /* n */
    int32_t *k;       /* vertical: n * taps; horizontal: n * taps/2 chunks of 8 lanes (see hpass_row) */
    int identity;     /* in_size == out_size: output i is input in_first + i (lo, k unused) */
} axis;

static void axis_free(axis *a) {
    free(a->lo);
    free(a->k);
    memset(a, 0, sizeof *a);
}

static double triangle(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for the triangle
 * filter, restricted to outputs [first, first + n).  horiz: lay the
 * weights out for hpass_row, 2 taps x RGB (3 copies of each weight) in
 * each 8-lane chunk, lanes 6 and 7 zero. */
static cam_status axis_make(int in_size, int out_size, int first, int n, int horiz, axis *a, char *err,
                            size_t errlen) {
    memset(a, 0, sizeof *a);
    a->n = n;
    double scale = (double)in_size / out_size;
    double fs = scale < 1.0 ? 1.0 : scale;
    double support = fs; /* the triangle's support is 1 */
    int kmax = (int)ceil(support) * 2 + 1;
    int taps = horiz ? (kmax + 1) / 2 * 2 : kmax;
    size_t per_out = horiz ? (size_t)taps / 2 * 8 : (size_t)taps;
    a->taps = taps;
    a->identity = in_size == out_size;
    size_t nk;
    if (!cam__mul_ok((size_t)n, per_out, &nk) || nk > ((size_t)1 << 28))
        return cam__fail(err, errlen, CAM_ELIMIT, "resize: %d -> %d needs too many coefficients", in_size,
                         out_size);
    a->lo = malloc((size_t)n * sizeof *a->lo);
    a->k = calloc(nk, sizeof *a->k);
    double *w = malloc((size_t)kmax * sizeof *w);
    if (!a->lo || !a->k || !w) {
        free(w);
        axis_free(a);
        return cam__fail(err, errlen, CAM_ENOMEM, "resize: out of memory for coefficients");
    }
    double ss = 1.0 / fs;
    int in_lo = in_size, in_hi = 0;
    for (int i = 0; i < n; i++) {
        int xx = first + i;
        double center = (xx + 0.5) * scale;
        /* (int) truncates toward zero as in Pillow, then clamps */
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        if (xmax > kmax) xmax = kmax; /* cannot happen (the window spans < 2 support + 1); guards w[] */
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
            w[x] = triangle((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = a->k + (size_t)i * per_out;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            int32_t q = (int32_t)(v < 0 ? -0.5 + v * (1 << PREC) : 0.5 + v * (1 << PREC));
            if (horiz) {
                int32_t *kc = k + x / 2 * 8 + x % 2 * 3;
                kc[0] = kc[1] = kc[2] = q;
            } else {
                k[x] = q;
            }
        }
        a->lo[i] = xmin;
        if (xmin < in_lo) in_lo = xmin;
        if (xmin + xmax > in_hi) in_hi = xmin + xmax;
    }
    free(w);
    if (in_hi <= in_lo) { /* cannot happen for n >= 1; keep the ranges sane anyway */
        in_lo = 0;
        in_hi = 1;
    }
    if (a->identity) { /* a crop without scaling: no filter window around it */
        in_lo = first;
        in_hi = first + n;
    }
    for (int i = 0; i < n; i++) a->lo[i] -= in_lo;
    a->in_first = in_lo;
    a->in_count = in_hi - in_lo;
    return CAM_OK;
}

/* The horizontal pass works on 8 int32 lanes = 2 taps x RGB + 2 idle
 * lanes: one unaligned load from the row (widened to int32 once per row)
 * and one multiply-add per 2 taps, for 4 outputs at a time.  GCC vector
 * extensions rather than a loop left to the auto-vectoriser, which made
 * scalar imuls of it (4.5 ms for 1024x768 -> 224x224 against ~1 ms here).
 * 8 lanes, not 16: one AVX2 register, and on Zen 4 a 512-bit op costs two
 * 256-bit ones anyway; a 16-lane version (5 taps + 1 idle lane) was as fast
 * with AVX-512 but 4x slower with AVX2, where gcc lowers 512-bit vectors
 * through the stack. */
typedef int32_t v8i __attribute__((vector_size(32)));
typedef uint8_t v8b __attribute__((vector_size(8)));

/* Macros, not inline functions: a helper without the clone's target
 * attribute cannot be inlined into it.  FOLD2: lanes c and c + 3 of an
 * accumulator hold channel c of its 2 taps; sum them for two outputs at
 * once into lanes 0-2 (a) and 3-5 (b); lanes 6, 7 are 0 (idle lanes). */
#define FOLD2(a, b)                                                                                       \
    (__builtin_shufflevector(a, b, 0, 1, 2, 8, 9, 10, 6, 7) + __builtin_shufflevector(a, b, 3, 4, 5, 11, 12, 13, 6, 7))
/* round, shift out the fixed point, clamp to 0..255 (Pillow's clip8) and narrow */
#define CLIP8V(s, out)                                                                                    \
    do {                                                                                                  \
        v8i t_ = ((s) + (1 << (PREC - 1))) >> PREC;                                                       \
        t_ &= ~(t_ < 0); /* C has no vector ?: ; comparisons give -1 / 0 masks */                          \
        v8i hi_ = t_ > 255;                                                                               \
        t_ = (t_ & ~hi_) | (255 & hi_);                                                                   \
        (out) = __builtin_convertvector(t_, v8b);                                                         \
    } while (0)

/* One row of the horizontal pass.  src: the n_in pixels the axis reads;
 * w32: room for them widened to int32 plus zeros for the last outputs'
 * padded taps (6 samples a chunk, 8 read).  Four outputs at a time:
 * independent multiply-add chains hide each other's latency, and their
 * horizontal sums, rounding and clamping share vector instructions. */
static HOT void hpass_row(const uint8_t *restrict src, int n_in, int32_t *restrict w32, const axis *a,
                          uint8_t *restrict dst) {
    for (int j = 0; j < 3 * n_in; j++) w32[j] = src[j];
    const int chunks = a->taps / 2, lanes = 8 * chunks;
    int i = 0;
    for (; i + 4 <= a->n; i += 4) {
        const int32_t *k0 = a->k + (size_t)i * (size_t)lanes;
        const int32_t *p0 = w32 + 3 * a->lo[i], *p1 = w32 + 3 * a->lo[i + 1];
        const int32_t *p2 = w32 + 3 * a->lo[i + 2], *p3 = w32 + 3 * a->lo[i + 3];
        v8i acc0 = {0}, acc1 = {0}, acc2 = {0}, acc3 = {0};
        for (int m = 0; m < chunks; m++) {
            v8i kv0, kv1, kv2, kv3, pv0, pv1, pv2, pv3; /* memcpy: unaligned vector loads */
            memcpy(&kv0, k0 + 8 * m, sizeof kv0);
            memcpy(&kv1, k0 + lanes + 8 * m, sizeof kv1);
            memcpy(&kv2, k0 + 2 * lanes + 8 * m, sizeof kv2);
            memcpy(&kv3, k0 + 3 * lanes + 8 * m, sizeof kv3);
            memcpy(&pv0, p0 + 6 * m, sizeof pv0);
            memcpy(&pv1, p1 + 6 * m, sizeof pv1);
            memcpy(&pv2, p2 + 6 * m, sizeof pv2);
            memcpy(&pv3, p3 + 6 * m, sizeof pv3);
            acc0 += kv0 * pv0;
            acc1 += kv1 * pv1;
            acc2 += kv2 * pv2;
            acc3 += kv3 * pv3;
        }
        v8b b01, b23;
        CLIP8V(FOLD2(acc0, acc1), b01);
        CLIP8V(FOLD2(acc2, acc3), b23);
        memcpy(dst + 3 * i, &b01, 6);
        memcpy(dst + 3 * i + 6, &b23, 6);
    }
    for (; i < a->n; i++) {
        const int32_t *k0 = a->k + (size_t)i * (size_t)lanes;
        const int32_t *p0 = w32 + 3 * a->lo[i];
        v8i acc0 = {0};
        for (int m = 0; m < chunks; m++) {
            v8i kv0, pv0;
            memcpy(&kv0, k0 + 8 * m, sizeof kv0);
            memcpy(&pv0, p0 + 6 * m, sizeof pv0);
            acc0 += kv0 * pv0;
        }
        v8b b0;
        CLIP8V(FOLD2(acc0, acc0), b0);
        memcpy(dst + 3 * i, &b0, 3);
    }
}

/* One row of the vertical pass: n bytes from `taps` rows. */
static HOT void vpass_row(const uint8_t *const *rows, const int32_t *k, int taps, int n, int32_t *restrict acc,
                          uint8_t *restrict dst) {
    for (int j = 0; j < n; j++) acc[j] = 1 << (PREC - 1);
    for (int t = 0; t < taps; t++) {
        const uint8_t *restrict r = rows[t];
        int32_t kt = k[t];
        if (kt == 0) continue;
        for (int j = 0; j < n; j++) acc[j] += kt * r[j];
    }
    for (int j = 0; j < n; j++) {
        int32_t v = acc[j] >> PREC;
        dst[j] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

/* Pixels [x_first, x_first + w) x [y_first, y_first + h) of img resized to
 * rw x rh, into dst (rows dst_stride bytes apart). */
static cam_status resample(const cam_image *img, int rw, int rh, int x_first, int w, int y_first, int h, uint8_t *dst,
                           size_t dst_stride, char *err, size_t errlen) {
    axis ax, ay;
    cam_status st = axis_make(img->width, rw, x_first, w, 1, &ax, err, errlen);
    if (st != CAM_OK) return st;
    st = axis_make(img->height, rh, y_first, h, 0, &ay, err, errlen);
    if (st != CAM_OK) {
        axis_free(&ax);
        return st;
    }
    uint8_t *tmp = NULL;
    int32_t *w32 = NULL, *acc = NULL;
    const uint8_t **rows = NULL;
    size_t row_bytes = (size_t)w * 3;

    /* the rows the vertical pass reads, after the horizontal pass (Pillow
     * skips a pass whose axis keeps its size; its coefficients would be the
     * identity anyway) */
    const uint8_t *hrows;
    size_t hstride;
    if (ax.identity) {
        hrows = img->rgb + (size_t)ay.in_first * img->stride;
        hstride = img->stride;
    } else {
        size_t tmp_bytes;
        if (!cam__mul_ok(row_bytes, (size_t)ay.in_count, &tmp_bytes)) {
            st = cam__fail(err, errlen, CAM_ELIMIT, "resize: intermediate image too large");
            goto done;
        }
        /* w32: see hpass_row; calloc provides the zeros after the row */
        size_t w32_n = (size_t)ax.in_count * 3 + (size_t)ax.taps * 3 + 8;
        tmp = malloc(tmp_bytes ? tmp_bytes : 1);
        w32 = calloc(w32_n, sizeof *w32);
        if (!tmp || !w32) {
            st = cam__fail(err, errlen, CAM_ENOMEM, "resize: out of memory");
            goto done;
        }
        /* when the vertical pass is skipped, write straight to dst */
        uint8_t *hout = ay.identity ? dst : tmp;
        size_t hout_stride = ay.identity ? dst_stride : row_bytes;
        for (int y = 0; y < ay.in_count; y++)
            hpass_row(img->rgb + (size_t)(ay.in_first + y) * img->stride + (size_t)ax.in_first * 3, ax.in_count,
                      w32, &ax, hout + (size_t)y * hout_stride);
        if (ay.identity) goto done;
        hrows = tmp;
        hstride = row_bytes;
    }
    if (ay.identity) {
        for (int y = 0; y < h; y++)
            memcpy(dst + (size_t)y * dst_stride, hrows + (size_t)y * hstride + (size_t)ax.in_first * 3, row_bytes);
        goto done;
    }
    acc = malloc(row_bytes * sizeof *acc);
    rows = malloc((size_t)ay.taps * sizeof *rows);
    if (!acc || !rows) {
        st = cam__fail(err, errlen, CAM_ENOMEM, "resize: out of memory");
        goto done;
    }
    /* ax.identity: hrows are whole input rows, so skip to column x_first */
    size_t col0 = ax.identity ? (size_t)ax.in_first * 3 : 0;
    for (int y = 0; y < h; y++) {
        int lo = ay.lo[y], taps = ay.taps;
        /* taps past the last input row carry weight 0 and must not be read */
        if (lo + taps > ay.in_count) taps = ay.in_count - lo;
        for (int t = 0; t < taps; t++) rows[t] = hrows + (size_t)(lo + t) * hstride + col0;
        vpass_row(rows, ay.k + (size_t)y * (size_t)ay.taps, taps, (int)row_bytes, acc, dst + (size_t)y * dst_stride);
    }
done:
    free(tmp);
    free(w32);
    free(acc);
    free(rows);
    axis_free(&ax);
    axis_free(&ay);
    return st;
}

static cam_status check_image(const cam_image *img, const char *what, char *err, size_t errlen) {
    if (!img || !img->rgb) return cam__fail(err, errlen, CAM_EINVAL, "%s: NULL image", what);
    if (img->width <= 0 || img->height <= 0 || img->width > MAX_SIDE || img->height > MAX_SIDE)
        return cam__fail(err, errlen, CAM_EINVAL, "%s: bad image size %dx%d", what, img->width, img->height);
    if (img->stride / 3 < (size_t)img->width)
        return cam__fail(err, errlen, CAM_EINVAL, "%s: stride %zu below %d pixels", what, img->stride, img->width);
    return CAM_OK;
}

cam_status cam_image_resize(const cam_image *img, int w, int h, cam_image *out, char *err, size_t errlen) {
    cam_status st = check_image(img, "resize", err, errlen);
    if (st != CAM_OK) return st;
    if (!out) return cam__fail(err, errlen, CAM_EINVAL, "resize: NULL output");
    if (w <= 0 || h <= 0 || w > MAX_SIDE || h > MAX_SIDE)
        return cam__fail(err, errlen, CAM_EINVAL, "resize: bad target size %dx%d", w, h);
    st = cam_image_alloc(out, w, h, err, errlen);
    if (st != CAM_OK) return st;
    st = resample(img, w, h, 0, w, 0, h, out->rgb, out->stride, err, errlen);
    if (st != CAM_OK) cam_image_free(out);
    return st;
}

static int finite_f(float v) { return v == v && v - v == 0.0f; }

static cam_status check_pp(const cam_preprocess *pp, char *err, size_t errlen) {
    if (pp->resize != CAM_RESIZE_STRETCH && pp->resize != CAM_RESIZE_SHORTER_SIDE_CROP)
        return cam__fail(err, errlen, CAM_EINVAL, "preprocess: unknown resize mode %d", (int)pp->resize);
    if (pp->width < 1 || pp->width > MAX_NET_SIDE || pp->height < 1 || pp->height > MAX_NET_SIDE)
        return cam__fail(err, errlen, CAM_EINVAL, "preprocess: network input %dx%d outside 1..%d", pp->width,
                         pp->height, MAX_NET_SIDE);
    if (pp->resize == CAM_RESIZE_SHORTER_SIDE_CROP) {
        int need = pp->width > pp->height ? pp->width : pp->height;
        if (pp->resize_shorter < need || pp->resize_shorter > MAX_NET_SIDE)
            return cam__fail(err, errlen, CAM_EINVAL,
                             "preprocess: resize_shorter %d must be in %d..%d to center-crop %dx%d",
                             pp->resize_shorter, need, MAX_NET_SIDE, pp->width, pp->height);
    }
    for (int c = 0; c < 3; c++) {
        if (!finite_f(pp->mean[c]))
            return cam__fail(err, errlen, CAM_EINVAL, "preprocess: mean[%d] is not finite", c);
        if (!finite_f(pp->std[c]) || pp->std[c] == 0.0f)
            return cam__fail(err, errlen, CAM_EINVAL, "preprocess: std[%d] = %g must be finite and non-zero", c,
                             (double)pp->std[c]);
    }
    return CAM_OK;
}

/* Interleaved 8-bit RGB (w*h pixels) -> planar normalised floats through a
 * per-channel table: (p - mean) / std computed once per value, so the
 * result is the exact float quotient and the loop is a table lookup. */
static HOT void to_planar(const uint8_t *restrict rgb, size_t n, const float (*lut)[256], const int *src,
                          float *restrict out) {
    for (int c = 0; c < 3; c++) {
        const float *restrict t = lut[c];
        const uint8_t *restrict p = rgb + src[c];
        float *restrict o = out + (size_t)c * n;
        for (size_t i = 0; i < n; i++) o[i] = t[p[3 * i]];
    }
}

cam_status cam_preprocess_image(const cam_image *img, int full_w, int full_h, const cam_preprocess *pp,
                                float *out, cam_geometry *geo, char *err, size_t errlen) {
    cam_status st = check_image(img, "preprocess", err, errlen);
    if (st != CAM_OK) return st;
    if (!pp || !out || !geo) return cam__fail(err, errlen, CAM_EINVAL, "preprocess: NULL argument");
    if (full_w < 1 || full_h < 1 || full_w > MAX_SIDE || full_h > MAX_SIDE)
        return cam__fail(err, errlen, CAM_EINVAL, "preprocess: bad full image size %dx%d", full_w, full_h);
    st = check_pp(pp, err, errlen);
    if (st != CAM_OK) return st;

    int w = pp->width, h = pp->height;
    int rw = w, rh = h, left = 0, top = 0;
    if (pp->resize == CAM_RESIZE_SHORTER_SIDE_CROP) {
        /* torchvision: the shorter side becomes S, the longer
         * int(S * long / short) (Python's true division, then truncation),
         * decided on the full image so that a reduced-scale decode gives the
         * network input a full decode would */
        int S = pp->resize_shorter;
        if (full_w <= full_h) {
            rw = S;
            rh = (int)((double)((int64_t)S * full_h) / (double)full_w);
        } else {
            rh = S;
            rw = (int)((double)((int64_t)S * full_w) / (double)full_h);
        }
        if (rw > MAX_SIDE || rh > MAX_SIDE)
            return cam__fail(err, errlen, CAM_ELIMIT, "preprocess: resized image %dx%d too large", rw, rh);
        /* torchvision's center_crop: int(round((H - h) / 2.0)); Python
         * rounds halves to even, as rint does in the default mode */
        top = (int)rint((rh - h) / 2.0);
        left = (int)rint((rw - w) / 2.0);
    }

    size_t npix = (size_t)w * (size_t)h;
    uint8_t *rgb = malloc(npix * 3);
    if (!rgb) return cam__fail(err, errlen, CAM_ENOMEM, "preprocess: out of memory");
    st = resample(img, rw, rh, left, w, top, h, rgb, (size_t)w * 3, err, errlen);
    if (st != CAM_OK) {
        free(rgb);
        return st;
    }
    float lut[3][256];
    int src[3];
    for (int c = 0; c < 3; c++) {
        src[c] = pp->bgr ? 2 - c : c;
        for (int v = 0; v < 256; v++) lut[c][v] = ((float)v - pp->mean[c]) / pp->std[c];
    }
    to_planar(rgb, npix, (const float (*)[256])lut, src, out);
    free(rgb);

    geo->net_w = w;
    geo->net_h = h;
    geo->image_w = full_w;
    geo->image_h = full_h;
    geo->sx = (double)full_w / rw;
    geo->sy = (double)full_h / rh;
    geo->x0 = left * geo->sx;
    geo->y0 = top * geo->sy;
    return CAM_OK;
}
