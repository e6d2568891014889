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
#include <pthread.h>
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
    int maxlen;       /* the longest window: taps from maxlen on are 0 for every output */
    /* hpass_row_vnni's tables (horizontal axes, when the CPU has it and the
     * windows fit; else vb == NULL): 16-value blocks, see hv_make */
    int vgroups;      /* 4-tap groups per value */
    int vblocks;
    int32_t *vbase;   /* vblocks: first byte a block reads, relative to in_first */
    uint8_t *vb;      /* vblocks * (vgroups byte indices + 3 * vgroups weight digits) * 64 */
} axis;

static void axis_free(axis *a) {
    free(a->lo);
    free(a->k);
    free(a->vbase);
    free(a->vb);
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
        if (xmax > a->maxlen) a->maxlen = xmax;
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

/* The horizontal pass with AVX-512 VNNI and VBMI (Zen 4, Ice Lake and
 * later): the same integer sums, 4x fewer instructions than hpass_row.
 * The row's bytes stay interleaved RGB.  Output values are taken 16 at a
 * time (5 1/3 pixels); one vpermt2b gathers, for each of the 16 int32
 * lanes, 4 taps of its channel from a 128-byte window of the row, and
 * vpdpbusd multiplies them with 4 signed byte weights and adds.  A 22-bit
 * weight w does not fit a byte, so it is split into balanced base-256
 * digits w = d2 * 65536 + d1 * 256 + d0 (d0, d1 in -128..127, d2 <= 65):
 * three vpdpbusd per gather, combined as ((A2 << 8) + A1 << 8) + A0.
 * The sums are exact integers, the same as hpass_row's: every partial sum
 * stays far inside int32 (|A2| << 16 < 2^31 because 255 * sum d2 < 2^15),
 * and the total is Pillow's.  Requires every block's window within 128
 * bytes: 3 * (5 * scale + taps) for a block of 5-6 pixels, so reductions
 * up to about 5x; larger ones keep hpass_row. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define HV_BUILT 1
#define HV_TARGET __attribute__((target("arch=x86-64-v4,avx512vnni,avx512vbmi")))

/* CAMSERVE_NO_AVX512=1 keeps hpass_row, so that the tests cover it on
 * AVX-512 machines too (as in ops/conv.c). */
static int hv_available(void) {
    return cam__avx512_enabled() && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vbmi");
}

/* G: 4-tap groups per value, a constant in the common cases so that the
 * group loop unrolls and its accumulators stay in registers */
static inline __attribute__((always_inline)) HV_TARGET void
hv_blocks(const uint8_t *restrict src, int in_bytes, const axis *a, uint8_t *restrict dst, const int G) {
    const int nv = 3 * a->n;
    const uint8_t *t = a->vb;
    const __m512i round = _mm512_set1_epi32(1 << (PREC - 1)), zero = _mm512_setzero_si512();
    for (int b = 0; b < a->vblocks; b++, t += (size_t)4 * G * 64) {
        int base = a->vbase[b], rem = in_bytes - base; /* rem >= 1: a block reads at least its first byte */
        __m512i lo, hi;
        if (rem >= 128) {
            lo = _mm512_loadu_si512(src + base);
            hi = _mm512_loadu_si512(src + base + 64);
        } else { /* masked loads: never past the row's last byte (the image may end there) */
            __mmask64 m0 = rem >= 64 ? ~0ULL : (1ULL << rem) - 1;
            __mmask64 m1 = rem <= 64 ? 0 : (1ULL << (rem - 64)) - 1;
            lo = _mm512_maskz_loadu_epi8(m0, src + base);
            hi = _mm512_maskz_loadu_epi8(m1, src + base + 64);
        }
        __m512i a0 = zero, a1 = zero, a2 = zero;
        for (int g = 0; g < G; g++) {
            __m512i px = _mm512_permutex2var_epi8(lo, _mm512_loadu_si512(t + g * 64), hi);
            a2 = _mm512_dpbusd_epi32(a2, px, _mm512_loadu_si512(t + (G + g) * 64));
            a1 = _mm512_dpbusd_epi32(a1, px, _mm512_loadu_si512(t + (2 * G + g) * 64));
            a0 = _mm512_dpbusd_epi32(a0, px, _mm512_loadu_si512(t + (3 * G + g) * 64));
        }
        __m512i s = _mm512_add_epi32(_mm512_slli_epi32(_mm512_add_epi32(_mm512_slli_epi32(a2, 8), a1), 8), a0);
        s = _mm512_max_epi32(_mm512_srai_epi32(_mm512_add_epi32(s, round), PREC), zero);
        /* vpmovusdb: unsigned saturation to 255, Pillow's clip8 with the max
         * above; into a register and a plain store (the masked store form
         * is several times slower on Zen 4), masked only at the row's end */
        __m128i bytes = _mm512_cvtusepi32_epi8(s);
        int left = nv - 16 * b;
        if (left >= 16) _mm_storeu_si128((void *)(dst + 16 * b), bytes);
        else _mm_mask_storeu_epi8(dst + 16 * b, (__mmask16)((1u << left) - 1), bytes);
    }
}

static HV_TARGET __attribute__((noinline)) void hpass_row_vnni(const uint8_t *restrict src, int in_bytes, const axis *a,
                                     uint8_t *restrict dst) {
    switch (a->vgroups) { /* up to 4, 8 or 12 taps: reductions up to about 1.5x, 3.5x, 5x */
    case 1: hv_blocks(src, in_bytes, a, dst, 1); break;
    case 2: hv_blocks(src, in_bytes, a, dst, 2); break;
    default: hv_blocks(src, in_bytes, a, dst, a->vgroups); break;
    }
}

/* The vertical pass fused with the normalisation for the network input:
 * one output row y from `taps` rows, 16 pixels at a time, written as
 * floats straight into the three planes.  The integer sums and clip8 are
 * vpass_row's; ((float)v - mean) / std is the expression the table of
 * to_planar holds, computed here in the same single precision (sub, then
 * an IEEE division: the same float), so the output is bit for bit that of
 * vpass_row + to_planar without the 8-bit row between them. */
/* T: taps, a constant in the common cases (3, 5, 7: Pillow's windows for
 * reductions up to 1x, 2x, 3x) so that the weights stay in registers */
static inline __attribute__((always_inline)) HV_TARGET int
vp_blocks(const uint8_t *const *rows, const int32_t *k, const int T, int w, __m512i pv, const float *mean,
          const float *std, float *restrict o0, float *restrict o1, float *restrict o2) {
    const __m512i round = _mm512_set1_epi32(1 << (PREC - 1)), zero = _mm512_setzero_si512();
    const __m512 m0 = _mm512_set1_ps(mean[0]), m1 = _mm512_set1_ps(mean[1]), m2 = _mm512_set1_ps(mean[2]);
    const __m512 s0 = _mm512_set1_ps(std[0]), s1 = _mm512_set1_ps(std[1]), s2 = _mm512_set1_ps(std[2]);
    int x = 0;
    for (; x + 16 <= w; x += 16) {
        __m512i a0 = round, a1 = round, a2 = round;
        for (int t = 0; t < T; t++) {
            const uint8_t *r = rows[t] + 3 * x;
            __m512i kt = _mm512_set1_epi32(k[t]);
            a0 = _mm512_add_epi32(a0, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)r)), kt));
            a1 = _mm512_add_epi32(a1,
                                  _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)(r + 16))), kt));
            a2 = _mm512_add_epi32(a2,
                                  _mm512_mullo_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)(r + 32))), kt));
        }
        /* clip8: max 0 here, the unsigned saturation of vpmovusdb for 255 */
        __m128i b0 = _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_srai_epi32(a0, PREC), zero));
        __m128i b1 = _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_srai_epi32(a1, PREC), zero));
        __m128i b2 = _mm512_cvtusepi32_epi8(_mm512_max_epi32(_mm512_srai_epi32(a2, PREC), zero));
        __m512i all = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(b0), b1, 1), b2, 2);
        __m512i pl = _mm512_permutexvar_epi8(pv, all);
        __m512 f0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm512_castsi512_si128(pl)));
        __m512 f1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(pl, 1)));
        __m512 f2 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(pl, 2)));
        _mm512_storeu_ps(o0 + x, _mm512_div_ps(_mm512_sub_ps(f0, m0), s0));
        _mm512_storeu_ps(o1 + x, _mm512_div_ps(_mm512_sub_ps(f1, m1), s1));
        _mm512_storeu_ps(o2 + x, _mm512_div_ps(_mm512_sub_ps(f2, m2), s2));
    }
    return x;
}

static HV_TARGET __attribute__((noinline)) void vpass_planar(const uint8_t *const *rows, const int32_t *k, int taps, int w,
                                   const float *mean, const float *std, const int *src, const float (*lut)[256],
                                   float *restrict o0, float *restrict o1, float *restrict o2) {
    /* 48 interleaved bytes -> 16 of channel src[0], 16 of src[1], 16 of src[2] */
    uint8_t perm[64] = {0};
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 16; p++) perm[16 * c + p] = (uint8_t)(3 * p + src[c]);
    const __m512i pv = _mm512_loadu_si512(perm);
    int x;
    switch (taps) {
    case 3: x = vp_blocks(rows, k, 3, w, pv, mean, std, o0, o1, o2); break;
    case 5: x = vp_blocks(rows, k, 5, w, pv, mean, std, o0, o1, o2); break;
    case 7: x = vp_blocks(rows, k, 7, w, pv, mean, std, o0, o1, o2); break;
    default: x = vp_blocks(rows, k, taps, w, pv, mean, std, o0, o1, o2); break;
    }
    for (; x < w; x++) /* the last w % 16 pixels as vpass_row + to_planar */
        for (int c = 0; c < 3; c++) {
            int32_t a = 1 << (PREC - 1);
            for (int t = 0; t < taps; t++) a += k[t] * rows[t][3 * x + src[c]];
            a >>= PREC;
            float v = lut[c][a < 0 ? 0 : a > 255 ? 255 : a];
            (c == 0 ? o0 : c == 1 ? o1 : o2)[x] = v;
        }
}
#else
#define HV_BUILT 0
static int hv_available(void) { return 0; }
#endif

/* hpass_row_vnni's tables for a horizontal axis: per block of 16 output
 * values (value v = channel v % 3 of output v / 3), the first byte it
 * reads, then per 4-tap group g the 64 byte indices into the block's
 * 128-byte window (lane l, tap 4g + j at 4l + j), then the 64 digits d2,
 * d1 and d0 of the weights (zero for padding taps).
 * Leaves a->vb NULL (hpass_row is used) when a window does not fit or
 * memory is short: a slower path, not an error. */
static void hv_make(axis *a) {
    if (!HV_BUILT || !hv_available() || a->identity) return;
    const int lanes = 4 * a->taps, nv = 3 * a->n;
    int G = (a->maxlen + 3) / 4, B = (nv + 15) / 16;
    if (G < 1) G = 1;
    if (G > 16) return; /* windows of 64+ taps cannot fit 128 bytes anyway */
    size_t per = (size_t)4 * G * 64;
    int32_t *base = malloc((size_t)B * sizeof *base);
    uint8_t *vb = malloc((size_t)B * per);
    if (!base || !vb) goto fail;
    /* only the last block has lanes without a value; every other lane is
     * written below */
    memset(vb + (size_t)(B - 1) * per, 0, per);
    for (int b = 0; b < B; b++) base[b] = 3 * a->lo[16 * b / 3];
    for (int i = 0; i < a->n; i++) {
        const int32_t *ki = a->k + (size_t)i * lanes;
        int last = -1; /* the last nonzero tap */
        uint32_t pos0[3];
        uint8_t *t[3];
        for (int c = 0; c < 3; c++) {
            int v = 3 * i + c;
            pos0[c] = (uint32_t)(3 * a->lo[i] + c - base[v >> 4]);
            t[c] = vb + (size_t)(v >> 4) * per + 4 * (v & 15);
        }
        for (int g = 0; g < G; g++) {
            /* a lane's 4 digits of one kind as one word: the same for the 3
             * channels of output i, whose indices differ by 1 */
            uint32_t w2 = 0, w1 = 0, w0 = 0, iw = 0;
            for (int j = 0; j < 4; j++) {
                int x = 4 * g + j;
                int32_t w = x < a->taps ? ki[x / 2 * 8 + x % 2 * 3] : 0;
                int d0 = ((w + 128) & 255) - 128, r = (w - d0) >> 8;
                int d1 = ((r + 128) & 255) - 128, d2 = (r - d1) >> 8; /* <= 64: w <= 2^22 */
                w2 |= (uint32_t)(uint8_t)(int8_t)d2 << 8 * j;
                w1 |= (uint32_t)(uint8_t)(int8_t)d1 << 8 * j;
                w0 |= (uint32_t)(uint8_t)(int8_t)d0 << 8 * j;
                iw |= (uint32_t)(3 * j) << 8 * j;
                if (w) last = x;
            }
            for (int c = 0; c < 3; c++) {
                /* pos0 + 3x in each byte: no carry into a tap whose weight
                 * counts (checked below: < 128); vpermt2b reads the low 7
                 * bits of an index, so where the weight is 0 any value is
                 * harmless */
                uint32_t idx = iw + (pos0[c] + 12u * (unsigned)g) * 0x01010101u;
                memcpy(t[c] + g * 64, &idx, 4);
                memcpy(t[c] + (G + g) * 64, &w2, 4);
                memcpy(t[c] + (2 * G + g) * 64, &w1, 4);
                memcpy(t[c] + (3 * G + g) * 64, &w0, 4);
            }
        }
        for (int c = 0; c < 3; c++)
            if (last >= 0 && pos0[c] + 3u * (unsigned)last >= 128) goto fail; /* the window does not fit */
    }
    a->vgroups = G;
    a->vblocks = B;
    a->vbase = base;
    a->vb = vb;
    return;
fail:
    free(base);
    free(vb);
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

/* Where resample's rows go: 8-bit rows (dst), or the network input (out:
 * 3 planes of w x h floats through the per-channel table lut, channel c
 * read from byte src[c] of each pixel). */
typedef struct sink {
    uint8_t *dst;
    size_t dst_stride;
    float *out;
    const float (*lut)[256];
    const int *src;
    const float *mean, *std; /* lut[c][v] = ((float)v - mean[c]) / std[c] */
    int w, h;
} sink;

/* Interleaved 8-bit RGB (one row of n pixels) -> planar normalised floats
 * through a per-channel table: (p - mean) / std computed once per value,
 * so the result is the exact float quotient and the loop is a table
 * lookup.  A row at a time, while the row is still in L1. */
static HOT void to_planar(const uint8_t *restrict rgb, size_t n, const float (*lut)[256], const int *src,
                          float *restrict out, size_t plane) {
    for (int c = 0; c < 3; c++) {
        const float *restrict t = lut[c];
        const uint8_t *restrict p = rgb + src[c];
        float *restrict o = out + (size_t)c * plane;
        for (size_t i = 0; i < n; i++) o[i] = t[p[3 * i]];
    }
}

static uint8_t *sink_row(const sink *sk, int y, uint8_t *rowbuf) {
    return sk->dst ? sk->dst + (size_t)y * sk->dst_stride : rowbuf;
}

static void sink_put(const sink *sk, int y, const uint8_t *row) {
    if (sk->out)
        to_planar(row, (size_t)sk->w, sk->lut, sk->src, sk->out + (size_t)y * (size_t)sk->w,
                  (size_t)sk->w * (size_t)sk->h);
}

/* Each thread keeps the coefficients of its last resampling for the next
 * call: a server resizes photos of the same few sizes to the same network
 * input over and over, and making them (axis_make, hv_make) is ~10% of a
 * 512x384 -> 224x224 call.  Per thread, so without locks; the key's
 * destructor frees them when the thread exits.  Small tables only, so
 * that an odd huge resize does not stay pinned to every thread. */
#define CACHE_MAX_BYTES (512 * 1024)
typedef struct axes_cache {
    int key[8];
    axis ax, ay;
} axes_cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static int cache_ok;

static void cache_free(void *p) {
    axes_cache *c = p;
    axis_free(&c->ax);
    axis_free(&c->ay);
    free(c);
}

static void cache_init(void) { cache_ok = pthread_key_create(&cache_key, cache_free) == 0; }

/* at most: the horizontal layout has taps / 2 chunks of 8 lanes per output */
static size_t axis_bytes(const axis *a) {
    return (size_t)a->n * (sizeof *a->lo + (size_t)a->taps * 4 * sizeof *a->k) +
           (size_t)a->vblocks * 4 * (size_t)a->vgroups * 64;
}

/* Hands ax and ay over to the thread's cache under key, or frees them. */
static void cache_put(const int key[8], axis *ax, axis *ay) {
    axes_cache *c = cache_ok ? pthread_getspecific(cache_key) : NULL;
    if (!cache_ok || axis_bytes(ax) + axis_bytes(ay) > CACHE_MAX_BYTES || (!c && !(c = calloc(1, sizeof *c)))) {
        axis_free(ax);
        axis_free(ay);
        return;
    }
    axis_free(&c->ax);
    axis_free(&c->ay);
    memcpy(c->key, key, sizeof c->key);
    c->ax = *ax;
    c->ay = *ay;
    if (pthread_setspecific(cache_key, c) != 0) cache_free(c);
}

/* Pixels [x_first, x_first + w) x [y_first, y_first + h) of img resized to
 * rw x rh, into sk.  The passes are interleaved: an input row goes through
 * the horizontal pass just before the first output row that needs it,
 * into a ring of ay.taps rows (output windows only move down), so the
 * intermediate image is never whole: a few KB that stay in L1 instead of
 * w * 3 * rows bytes (258 KB for 512x384 -> 224x224, with page faults
 * whenever malloc returned it to the system). */
static cam_status resample(const cam_image *img, int rw, int rh, int x_first, int w, int y_first, int h,
                           const sink *sk, char *err, size_t errlen) {
    const int key[8] = {img->width, img->height, rw, rh, x_first, w, y_first, h};
    pthread_once(&cache_once, cache_init);
    axes_cache *c = cache_ok ? pthread_getspecific(cache_key) : NULL;
    axis ax, ay;
    cam_status st = CAM_OK;
    if (c && memcmp(c->key, key, sizeof key) == 0) {
        ax = c->ax;
        ay = c->ay;
    } else {
        c = NULL;
        st = axis_make(img->width, rw, x_first, w, 1, &ax, err, errlen);
        if (st != CAM_OK) return st;
        st = axis_make(img->height, rh, y_first, h, 0, &ay, err, errlen);
        if (st != CAM_OK) {
            axis_free(&ax);
            return st;
        }
        hv_make(&ax);
    }
    uint8_t *ring = NULL, *rowbuf = NULL;
    int32_t *w32 = NULL, *acc = NULL;
    const uint8_t **rows = NULL;
    size_t row_bytes = (size_t)w * 3;
    /* Pillow skips a pass whose axis keeps its size (its coefficients
     * would be the identity anyway) */
    int hpass = !ax.identity, vpass = !ay.identity;
    size_t ring_bytes = 0;
    if (hpass && vpass && !cam__mul_ok(row_bytes, (size_t)ay.taps, &ring_bytes)) {
        st = cam__fail(err, errlen, CAM_ELIMIT, "resize: intermediate rows too large");
        goto done;
    }
    /* the network input straight from the vertical pass (vpass_planar) */
    const int fused = HV_BUILT && sk->out && vpass && hv_available();
    /* w32: see hpass_row; calloc provides the zeros after the row */
    size_t w32_n = (size_t)ax.in_count * 3 + (size_t)ax.taps * 3 + 8;
    if ((hpass && vpass && !(ring = malloc(ring_bytes))) || (sk->out && !fused && !(rowbuf = malloc(row_bytes))) ||
        (hpass && !ax.vb && !(w32 = calloc(w32_n, sizeof *w32))) ||
        (vpass && (!(acc = malloc(row_bytes * sizeof *acc)) || !(rows = malloc((size_t)ay.taps * sizeof *rows))))) {
        st = cam__fail(err, errlen, CAM_ENOMEM, "resize: out of memory");
        goto done;
    }
    const uint8_t *in0 = img->rgb + (size_t)ay.in_first * img->stride + (size_t)ax.in_first * 3;
#define IN_ROW(r) (in0 + (size_t)(r) * img->stride)
#if HV_BUILT
#define HPASS(r, d)                                                                                       \
    (ax.vb ? hpass_row_vnni(IN_ROW(r), 3 * ax.in_count, &ax, (d)) : hpass_row(IN_ROW(r), ax.in_count, w32, &ax, (d)))
#else
#define HPASS(r, d) hpass_row(IN_ROW(r), ax.in_count, w32, &ax, (d))
#endif
    if (!vpass) {
        for (int y = 0; y < h; y++) {
            uint8_t *d = sink_row(sk, y, rowbuf);
            if (hpass) HPASS(y, d);
            else memcpy(d, IN_ROW(y), row_bytes);
            sink_put(sk, y, d);
        }
        goto done;
    }
    int next = 0; /* the next input row for the horizontal pass */
    for (int y = 0; y < h; y++) {
        int lo = ay.lo[y], taps = ay.taps;
        /* taps past the last input row carry weight 0 and must not be read */
        if (lo + taps > ay.in_count) taps = ay.in_count - lo;
        if (hpass) {
            if (next < lo) next = lo;
            for (; next < lo + taps; next++) HPASS(next, ring + (size_t)(next % ay.taps) * row_bytes);
        }
        for (int t = 0; t < taps; t++)
            rows[t] = hpass ? ring + (size_t)((lo + t) % ay.taps) * row_bytes : IN_ROW(lo + t);
        const int32_t *k = ay.k + (size_t)y * (size_t)ay.taps;
#if HV_BUILT
        if (fused) {
            float *o = sk->out + (size_t)y * (size_t)w;
            size_t plane = (size_t)w * (size_t)h;
            vpass_planar(rows, k, taps, w, sk->mean, sk->std, sk->src, sk->lut, o, o + plane, o + 2 * plane);
            continue;
        }
#endif
        uint8_t *d = sink_row(sk, y, rowbuf);
        vpass_row(rows, k, taps, (int)row_bytes, acc, d);
        sink_put(sk, y, d);
    }
#undef HPASS
#undef IN_ROW
done:
    free(ring);
    free(rowbuf);
    free(w32);
    free(acc);
    free(rows);
    if (!c) cache_put(key, &ax, &ay); /* else they are the cache's */
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
    sink sk = {out->rgb, out->stride, NULL, NULL, NULL, NULL, NULL, w, h};
    st = resample(img, w, h, 0, w, 0, h, &sk, err, errlen);
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
        /* The resized image is never made: only its w x h window is
         * computed, so a long, thin photo (270x1 -> 69120x256) is fine.  The
         * bound only keeps the sizes inside int: S <= MAX_NET_SIDE (2^13)
         * and a side <= MAX_SIDE (2^16) give at most 2^29. */
        if (rw > (1 << 29) || rh > (1 << 29))
            return cam__fail(err, errlen, CAM_ELIMIT, "preprocess: resized image %dx%d too large", rw, rh);
        /* torchvision's center_crop: int(round((H - h) / 2.0)); Python
         * rounds halves to even, as rint does in the default mode */
        top = (int)rint((rh - h) / 2.0);
        left = (int)rint((rw - w) / 2.0);
    }

    float lut[3][256];
    int src[3];
    for (int c = 0; c < 3; c++) {
        src[c] = pp->bgr ? 2 - c : c;
        for (int v = 0; v < 256; v++) lut[c][v] = ((float)v - pp->mean[c]) / pp->std[c];
    }
    sink sk = {NULL, 0, out, (const float (*)[256])lut, src, pp->mean, pp->std, w, h};
    st = resample(img, rw, rh, left, w, top, h, &sk, err, errlen);
    if (st != CAM_OK) return st;

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
