/* jpeg_idct.c: IDCT, chroma upsampling and YCbCr -> RGB for camserve's own
 * JPEG pixel path.
 *
 * With our Huffman decoder in place (jpeg_huff.c), libjpeg's IDCT, colour
 * conversion and the pipeline around them were a third of a request's
 * JPEG decode: 0.42 ms of 1.3 on hot_dog.jpg in a loaded server, one
 * function call (and one thread-local lookup) per 8x8 block.  For the
 * common layouts (4:4:4, 4:2:2, 4:2:0 and gray) jpeg_huff.c now decodes
 * four MCUs at a time into the group layout of jpeg_idct.h and this file
 * turns each group into samples with AVX-512, four blocks a pass; chroma is
 * upsampled with libjpeg's triangle filter and converted 32 pixels a step.
 *
 * Bit-exact, not just close.  The pixels must equal TurboJPEG's, and what
 * TurboJPEG runs on these CPUs is libjpeg-turbo's AVX2 code
 * (jidctint-avx2.asm, jdcolext-avx2.asm), whose arithmetic differs from
 * libjpeg's C in corners: it dequantizes and adds some terms in 16 bits
 * (wrapping), saturates between the passes, and takes a shortcut for blocks
 * whose rows 1-7 are zero that wraps where the full path saturates.  Both
 * the reference below and the vector code do exactly that (its upsampling
 * is exact integer arithmetic, the same as libjpeg's C); the formulas
 * are the textbook ones (Loeffler-Ligtenberg-Moschytz, as in IJG's
 * jidctint.c, 13-bit constants, 2 extra bits between passes).  On clean
 * photos none of the corners occurs; the tests feed extreme coefficients
 * to both and compare with TurboJPEG. */
#include "jpeg_idct.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* FIX(x) = round(x * 2^13) */
enum {
    F_0_298 = 2446,
    F_0_390 = 3196,
    F_0_541 = 4433,
    F_0_765 = 6270,
    F_0_899 = 7373,
    F_1_175 = 9633,
    F_1_501 = 12299,
    F_1_847 = 15137,
    F_1_961 = 16069,
    F_2_053 = 16819,
    F_2_562 = 20995,
    F_3_072 = 25172,
    PASS1_SHIFT = 13 - 2,       /* keep 2 fractional bits between passes */
    PASS2_SHIFT = 13 + 2 + 3,   /* and the 1/8 of the 2-D transform */
};
/* YCbCr -> RGB in 16-bit fixed point, split as libjpeg-turbo's SIMD splits
 * it: R = Y + 0.402 Cr + Cr, G = Y - 0.344 Cb + 0.286 Cr - Cr,
 * B = Y - 0.228 Cb + 2 Cb. */
enum { C_0_402 = 26345, C_0_228 = 14942, C_0_344 = 22554, C_0_286 = 18734 };

/* ---- reference ---------------------------------------------------------------------- */

static int16_t wrap16(int32_t v) { return (int16_t)(uint16_t)(uint32_t)v; }
static int16_t sat16(int32_t v) { return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v); }
/* a * ca + b * cb as pmaddwd computes it: cannot overflow with these constants */
static int32_t madd(int16_t a, int ca, int16_t b, int cb) { return a * ca + b * cb; }

/* One 1-D pass over x[0..7] (x[k] the k-th frequency), result descaled by
 * `shift` and saturated to 16 bits.  Sums of two inputs are 16-bit (the
 * SIMD adds words); everything else is 32-bit and wraps like the SIMD's. */
static void idct_1d(const int16_t x[8], int shift, int16_t out[8]) {
    uint32_t rnd = 1u << (shift - 1);
    uint32_t tmp0 = (uint32_t)wrap16(x[0] + x[4]) * 8192u + rnd;
    uint32_t tmp1 = (uint32_t)wrap16(x[0] - x[4]) * 8192u + rnd;
    uint32_t tmp3 = (uint32_t)madd(x[2], F_0_541 + F_0_765, x[6], F_0_541);
    uint32_t tmp2 = (uint32_t)madd(x[2], F_0_541, x[6], F_0_541 - F_1_847);
    uint32_t t10 = tmp0 + tmp3, t13 = tmp0 - tmp3, t11 = tmp1 + tmp2, t12 = tmp1 - tmp2;

    int16_t z3 = wrap16(x[7] + x[3]), z4 = wrap16(x[5] + x[1]);
    uint32_t z3s = (uint32_t)madd(z3, F_1_175 - F_1_961, z4, F_1_175);
    uint32_t z4s = (uint32_t)madd(z3, F_1_175, z4, F_1_175 - F_0_390);
    uint32_t o0 = (uint32_t)madd(x[7], F_0_298 - F_0_899, x[1], -F_0_899) + z3s;
    uint32_t o3 = (uint32_t)madd(x[7], -F_0_899, x[1], F_1_501 - F_0_899) + z4s;
    uint32_t o1 = (uint32_t)madd(x[5], F_2_053 - F_2_562, x[3], -F_2_562) + z4s;
    uint32_t o2 = (uint32_t)madd(x[5], -F_2_562, x[3], F_3_072 - F_2_562) + z3s;

#define DESC(v) sat16((int32_t)(v) >> shift)
    out[0] = DESC(t10 + o3);
    out[7] = DESC(t10 - o3);
    out[1] = DESC(t11 + o2);
    out[6] = DESC(t11 - o2);
    out[2] = DESC(t12 + o1);
    out[5] = DESC(t12 - o1);
    out[3] = DESC(t13 + o0);
    out[4] = DESC(t13 - o0);
#undef DESC
}

static void idct_ref(const int16_t *coef, size_t cs, const int16_t *q, size_t qs, uint8_t *out, size_t os) {
    int16_t ws[8][8];
    int ac_rows = 0;
    for (int r = 1; r < 8; r++)
        for (int c = 0; c < 8; c++) ac_rows |= coef[r * cs + c];
    for (int c = 0; c < 8; c++) {
        int16_t x[8], col[8];
        for (int r = 0; r < 8; r++) x[r] = wrap16(coef[r * cs + c] * q[r * qs + c]);
        if (!ac_rows) {
            /* the SIMD's shortcut: a 16-bit shift, wrapping */
            for (int r = 0; r < 8; r++) col[r] = wrap16(x[0] * 4);
        } else {
            idct_1d(x, PASS1_SHIFT, col);
        }
        for (int r = 0; r < 8; r++) ws[r][c] = col[r];
    }
    for (int r = 0; r < 8; r++) {
        int16_t px[8];
        idct_1d(ws[r], PASS2_SHIFT, px);
        for (int c = 0; c < 8; c++) out[r * os + c] = (uint8_t)((px[c] < -128 ? -128 : px[c] > 127 ? 127 : px[c]) + 128);
    }
}

void cam__jpeg_idct_ref(const int16_t *coef, size_t coef_stride, const uint16_t quant[64], uint8_t *out,
                        size_t out_stride) {
    int16_t q[64];
    for (int i = 0; i < 64; i++) q[i] = (int16_t)quant[i];   /* the low 16 bits are all a word product uses */
    idct_ref(coef, coef_stride, q, 8, out, out_stride);
}

void cam__jpeg_rgb_ref(const uint8_t *y, const uint8_t *cb, const uint8_t *cr, uint8_t *rgb, int n) {
    for (int i = 0; i < n; i++) {
        int Y = y[i], r = Y, g = Y, b = Y;
        if (cb) {
            int16_t u = (int16_t)(cb[i] - 128), v = (int16_t)(cr[i] - 128);
            /* pmulhw: the high half of the 32-bit product, i.e. floor(p / 65536) */
            int bmy = (((((2 * u) * -C_0_228) >> 16) + 1) >> 1) + 2 * u;
            int rmy = (((((2 * v) * C_0_402) >> 16) + 1) >> 1) + v;
            int gmy = sat16((u * -C_0_344 + v * C_0_286 + 32768) >> 16) - v;
            r = Y + rmy;
            g = Y + gmy;
            b = Y + bmy;
        }
        rgb[3 * i + 0] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
        rgb[3 * i + 1] = (uint8_t)(g < 0 ? 0 : g > 255 ? 255 : g);
        rgb[3 * i + 2] = (uint8_t)(b < 0 ? 0 : b > 255 ? 255 : b);
    }
}

void cam__jpeg_upsample_ref(const uint8_t *s0, const uint8_t *s1, uint8_t *out, int dw) {
    for (int x = 0; x < dw; x++) {
        if (!s1) {   /* h2v1: 3/4 of the sample, 1/4 of its neighbour */
            out[2 * x] = (uint8_t)((3 * s0[x] + s0[x - 1] + 1) >> 2);
            out[2 * x + 1] = (uint8_t)((3 * s0[x] + s0[x + 1] + 2) >> 2);
        } else {     /* h2v2: the same on the vertical sums 3 near + far */
            int l = 3 * s0[x - 1] + s1[x - 1], c = 3 * s0[x] + s1[x], r = 3 * s0[x + 1] + s1[x + 1];
            out[2 * x] = (uint8_t)((3 * c + l + 8) >> 4);
            out[2 * x + 1] = (uint8_t)((3 * c + r + 7) >> 4);
        }
    }
}

void cam__jpeg_quant_group(const uint16_t quant[64], int16_t *qgroup) {
    for (int r = 0; r < 8; r++)
        for (int j = 0; j < CAM_JPEG_GROUP; j++)
            for (int c = 0; c < 8; c++) qgroup[32 * r + 8 * j + c] = (int16_t)quant[8 * r + c];
}

/* ---- AVX-512 ------------------------------------------------------------------------ */

/* GCC and clang alike: the fuzz targets (clang) then cover this path too */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define VEC_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi")))

int cam__jpeg_idct_available(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = cam__avx512_allowed() && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                 __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vbmi");
    }
    return cached;
}

/* a word pair (a, b) in every 32-bit lane, for madd against unpacked (x, y) */
static VEC_TARGET inline __m512i pair(int a, int b) {
    return _mm512_set1_epi32((int)((uint32_t)(uint16_t)a | (uint32_t)(uint16_t)b << 16));
}

/* idct_1d on every lane: x[k] holds frequency k of 32 columns (pass 1: row
 * k of four blocks; pass 2: column k of the first pass's rows).  madd works
 * on word pairs, so each 32-bit quantity is a lo and a hi half (columns 0-3
 * and 4-7 of each 128-bit lane); packs puts them back in order. */
static VEC_TARGET inline void idct_pass(const __m512i x[8], __m512i o[8], int shift) {
    const __m512i zero = _mm512_setzero_si512(), rnd = _mm512_set1_epi32(1 << (shift - 1));
    __m512i s = _mm512_add_epi16(x[0], x[4]), d = _mm512_sub_epi16(x[0], x[4]);
    /* (word << 16) >> 3: the 16-bit sum times 2^13, sign-extended */
    __m512i t0l = _mm512_add_epi32(_mm512_srai_epi32(_mm512_unpacklo_epi16(zero, s), 3), rnd);
    __m512i t0h = _mm512_add_epi32(_mm512_srai_epi32(_mm512_unpackhi_epi16(zero, s), 3), rnd);
    __m512i t1l = _mm512_add_epi32(_mm512_srai_epi32(_mm512_unpacklo_epi16(zero, d), 3), rnd);
    __m512i t1h = _mm512_add_epi32(_mm512_srai_epi32(_mm512_unpackhi_epi16(zero, d), 3), rnd);
    __m512i e_l = _mm512_unpacklo_epi16(x[2], x[6]), e_h = _mm512_unpackhi_epi16(x[2], x[6]);
    const __m512i c3 = pair(F_0_541 + F_0_765, F_0_541), c2 = pair(F_0_541, F_0_541 - F_1_847);
    __m512i t3l = _mm512_madd_epi16(e_l, c3), t3h = _mm512_madd_epi16(e_h, c3);
    __m512i t2l = _mm512_madd_epi16(e_l, c2), t2h = _mm512_madd_epi16(e_h, c2);
    __m512i t10l = _mm512_add_epi32(t0l, t3l), t10h = _mm512_add_epi32(t0h, t3h);
    __m512i t13l = _mm512_sub_epi32(t0l, t3l), t13h = _mm512_sub_epi32(t0h, t3h);
    __m512i t11l = _mm512_add_epi32(t1l, t2l), t11h = _mm512_add_epi32(t1h, t2h);
    __m512i t12l = _mm512_sub_epi32(t1l, t2l), t12h = _mm512_sub_epi32(t1h, t2h);

    __m512i z3 = _mm512_add_epi16(x[7], x[3]), z4 = _mm512_add_epi16(x[5], x[1]);
    __m512i z_l = _mm512_unpacklo_epi16(z3, z4), z_h = _mm512_unpackhi_epi16(z3, z4);
    const __m512i cz3 = pair(F_1_175 - F_1_961, F_1_175), cz4 = pair(F_1_175, F_1_175 - F_0_390);
    __m512i z3l = _mm512_madd_epi16(z_l, cz3), z3h = _mm512_madd_epi16(z_h, cz3);
    __m512i z4l = _mm512_madd_epi16(z_l, cz4), z4h = _mm512_madd_epi16(z_h, cz4);
    __m512i a_l = _mm512_unpacklo_epi16(x[7], x[1]), a_h = _mm512_unpackhi_epi16(x[7], x[1]);
    __m512i b_l = _mm512_unpacklo_epi16(x[5], x[3]), b_h = _mm512_unpackhi_epi16(x[5], x[3]);
    const __m512i co0 = pair(F_0_298 - F_0_899, -F_0_899), co3 = pair(-F_0_899, F_1_501 - F_0_899);
    const __m512i co1 = pair(F_2_053 - F_2_562, -F_2_562), co2 = pair(-F_2_562, F_3_072 - F_2_562);
    __m512i o0l = _mm512_add_epi32(_mm512_madd_epi16(a_l, co0), z3l);
    __m512i o0h = _mm512_add_epi32(_mm512_madd_epi16(a_h, co0), z3h);
    __m512i o3l = _mm512_add_epi32(_mm512_madd_epi16(a_l, co3), z4l);
    __m512i o3h = _mm512_add_epi32(_mm512_madd_epi16(a_h, co3), z4h);
    __m512i o1l = _mm512_add_epi32(_mm512_madd_epi16(b_l, co1), z4l);
    __m512i o1h = _mm512_add_epi32(_mm512_madd_epi16(b_h, co1), z4h);
    __m512i o2l = _mm512_add_epi32(_mm512_madd_epi16(b_l, co2), z3l);
    __m512i o2h = _mm512_add_epi32(_mm512_madd_epi16(b_h, co2), z3h);

#define OUT(k, e, op, od)                                                                           \
    o[k] = _mm512_packs_epi32(_mm512_srai_epi32(op##_epi32(e##l, od##l), shift),                   \
                              _mm512_srai_epi32(op##_epi32(e##h, od##h), shift))
    OUT(0, t10, _mm512_add, o3);
    OUT(7, t10, _mm512_sub, o3);
    OUT(1, t11, _mm512_add, o2);
    OUT(6, t11, _mm512_sub, o2);
    OUT(2, t12, _mm512_add, o1);
    OUT(5, t12, _mm512_sub, o1);
    OUT(3, t13, _mm512_add, o0);
    OUT(4, t13, _mm512_sub, o0);
#undef OUT
}

/* 8x8 transpose of words inside each 128-bit lane (each lane one block) */
static VEC_TARGET inline void transpose(const __m512i a[8], __m512i o[8]) {
    __m512i t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm512_unpacklo_epi16(a[2 * i], a[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi16(a[2 * i], a[2 * i + 1]);
    }
    u[0] = _mm512_unpacklo_epi32(t[0], t[2]);
    u[1] = _mm512_unpackhi_epi32(t[0], t[2]);
    u[2] = _mm512_unpacklo_epi32(t[1], t[3]);
    u[3] = _mm512_unpackhi_epi32(t[1], t[3]);
    u[4] = _mm512_unpacklo_epi32(t[4], t[6]);
    u[5] = _mm512_unpackhi_epi32(t[4], t[6]);
    u[6] = _mm512_unpacklo_epi32(t[5], t[7]);
    u[7] = _mm512_unpackhi_epi32(t[5], t[7]);
    for (int i = 0; i < 4; i++) {
        o[2 * i] = _mm512_unpacklo_epi64(u[i], u[i + 4]);
        o[2 * i + 1] = _mm512_unpackhi_epi64(u[i], u[i + 4]);
    }
}

VEC_TARGET void cam__jpeg_idct_group(const int16_t *coef, const int16_t *qgroup, uint8_t *out, size_t out_stride) {
    __m512i x[8], w[8], c[8], p[8];
    for (int r = 0; r < 8; r++)
        x[r] = _mm512_mullo_epi16(_mm512_load_si512(coef + 32 * r), _mm512_loadu_si512(qgroup + 32 * r));
    /* A DC term whose first pass leaves 16 bits (|dequantized DC| > 8191)
     * is where libjpeg-turbo's shortcut and full path part ways; only a
     * broken or crafted file has one.  Those groups take the reference. */
    if (_mm512_cmpgt_epi16_mask(x[0], _mm512_set1_epi16(8191)) |
        _mm512_cmplt_epi16_mask(x[0], _mm512_set1_epi16(-8192))) {
        for (int j = 0; j < CAM_JPEG_GROUP; j++)
            idct_ref(coef + 8 * j, 32, qgroup + 8 * j, 32, out + 8 * j, out_stride);
        return;
    }
    idct_pass(x, w, PASS1_SHIFT);
    transpose(w, c);
    idct_pass(c, w, PASS2_SHIFT);
    transpose(w, p);
    /* rows to bytes (saturating to -128..127, then + 128), and each lane's
     * two 8-byte rows to the two 32-byte output rows */
    const __m512i center = _mm512_set1_epi8((char)0x80);
    const __m512i rows = _mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0);
    for (int r = 0; r < 8; r += 2) {
        __m512i b = _mm512_permutexvar_epi64(rows, _mm512_add_epi8(_mm512_packs_epi16(p[r], p[r + 1]), center));
        _mm256_storeu_si256((__m256i *)(out + r * out_stride), _mm512_castsi512_si256(b));
        _mm256_storeu_si256((__m256i *)(out + (r + 1) * out_stride), _mm512_extracti64x4_epi64(b, 1));
    }
}

/* output byte k of 96 (32 RGB pixels) comes from pixel k / 3: R at p, G at
 * 32 + p (the upper half of the first table register), B at 64 + p */
static const uint8_t rgb_from[128] = {
#define P3(p) (p), 32 + (p), 64 + (p)
    P3(0),  P3(1),  P3(2),  P3(3),  P3(4),  P3(5),  P3(6),  P3(7),  P3(8),  P3(9),  P3(10),
    P3(11), P3(12), P3(13), P3(14), P3(15), P3(16), P3(17), P3(18), P3(19), P3(20), P3(21),
    P3(22), P3(23), P3(24), P3(25), P3(26), P3(27), P3(28), P3(29), P3(30), P3(31),
#undef P3
};
static const uint8_t gray_from[128] = {
#define P3(p) (p), (p), (p)
    P3(0),  P3(1),  P3(2),  P3(3),  P3(4),  P3(5),  P3(6),  P3(7),  P3(8),  P3(9),  P3(10),
    P3(11), P3(12), P3(13), P3(14), P3(15), P3(16), P3(17), P3(18), P3(19), P3(20), P3(21),
    P3(22), P3(23), P3(24), P3(25), P3(26), P3(27), P3(28), P3(29), P3(30), P3(31),
#undef P3
};

static VEC_TARGET inline __m256i to_u8(__m512i v) {
    return _mm512_cvtusepi16_epi8(_mm512_max_epi16(v, _mm512_setzero_si512()));
}

/* one row of n <= 32 pixels; the tables and constants come from the caller's loop */
static VEC_TARGET inline void rgb_row(const uint8_t *y, const uint8_t *cb, const uint8_t *cr, uint8_t *rgb, int n,
                                      __m512i from_lo, __m512i from_hi) {
    __mmask32 m = n >= 32 ? ~(__mmask32)0 : ((__mmask32)1 << n) - 1;
    __m256i y8 = _mm256_maskz_loadu_epi8(m, y);
    __m512i lo, hi;
    if (!cb) {
        __m512i t = _mm512_castsi256_si512(y8);
        lo = _mm512_permutexvar_epi8(from_lo, t);
        hi = _mm512_permutexvar_epi8(from_hi, t);
    } else {
        const __m512i c128 = _mm512_set1_epi16(128), one = _mm512_set1_epi16(1);
        __m512i Y = _mm512_cvtepu8_epi16(y8);
        __m512i u = _mm512_sub_epi16(_mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, cb)), c128);
        __m512i v = _mm512_sub_epi16(_mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, cr)), c128);
        __m512i u2 = _mm512_add_epi16(u, u), v2 = _mm512_add_epi16(v, v);
        __m512i bmy = _mm512_srai_epi16(_mm512_add_epi16(_mm512_mulhi_epi16(u2, _mm512_set1_epi16(-C_0_228)), one), 1);
        bmy = _mm512_add_epi16(bmy, u2);
        __m512i rmy = _mm512_srai_epi16(_mm512_add_epi16(_mm512_mulhi_epi16(v2, _mm512_set1_epi16(C_0_402)), one), 1);
        rmy = _mm512_add_epi16(rmy, v);
        const __m512i cg = pair(-C_0_344, C_0_286), half = _mm512_set1_epi32(32768);
        __m512i gl = _mm512_srai_epi32(_mm512_add_epi32(_mm512_madd_epi16(_mm512_unpacklo_epi16(u, v), cg), half), 16);
        __m512i gh = _mm512_srai_epi32(_mm512_add_epi32(_mm512_madd_epi16(_mm512_unpackhi_epi16(u, v), cg), half), 16);
        __m512i gmy = _mm512_sub_epi16(_mm512_packs_epi32(gl, gh), v);
        __m256i r8 = to_u8(_mm512_add_epi16(Y, rmy)), g8 = to_u8(_mm512_add_epi16(Y, gmy));
        __m512i rg = _mm512_inserti64x4(_mm512_castsi256_si512(r8), g8, 1);
        __m512i b = _mm512_castsi256_si512(to_u8(_mm512_add_epi16(Y, bmy)));
        lo = _mm512_permutex2var_epi8(rg, from_lo, b);
        hi = _mm512_permutex2var_epi8(rg, from_hi, b);
    }
    int bytes = 3 * n;
    __mmask64 m0 = bytes >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << bytes) - 1;
    __mmask64 m1 = bytes <= 64 ? 0 : ((__mmask64)1 << (bytes - 64)) - 1;
    _mm512_mask_storeu_epi8(rgb, m0, lo);
    _mm512_mask_storeu_epi8(rgb + 64, m1, hi);
}

VEC_TARGET void cam__jpeg_rgb_rows(const uint8_t *y, const uint8_t *cb, const uint8_t *cr, size_t in_stride,
                                   uint8_t *rgb, size_t pitch, int rows, int n) {
    const uint8_t *from = cb ? rgb_from : gray_from;
    __m512i from_lo = _mm512_loadu_si512(from), from_hi = _mm512_loadu_si512(from + 64);
    for (int r = 0; r < rows; r++) {
        size_t o = (size_t)r * in_stride;
        for (int x = 0; x < n; x += 32)
            rgb_row(y + o + x, cb ? cb + o + x : NULL, cr ? cr + o + x : NULL, rgb + (size_t)r * pitch + 3 * (size_t)x,
                    n - x < 32 ? n - x : 32, from_lo, from_hi);
    }
}

/* 32 samples from p as words */
static VEC_TARGET inline __m512i words(const uint8_t *p) {
    return _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)p));
}
/* even and odd output samples (words below 256) interleaved into 64 bytes */
static VEC_TARGET inline void store_pairs(uint8_t *out, __m512i even, __m512i odd) {
    _mm512_storeu_si512(out, _mm512_or_si512(even, _mm512_slli_epi16(odd, 8)));
}

VEC_TARGET void cam__jpeg_upsample_h2v1(const uint8_t *s, uint8_t *out, int dw) {
    const __m512i one = _mm512_set1_epi16(1), two = _mm512_set1_epi16(2);
    for (int x = 0; x < dw; x += 32) {
        __m512i c3 = _mm512_mullo_epi16(words(s + x), _mm512_set1_epi16(3));
        __m512i even = _mm512_srli_epi16(_mm512_add_epi16(_mm512_add_epi16(c3, words(s + x - 1)), one), 2);
        __m512i odd = _mm512_srli_epi16(_mm512_add_epi16(_mm512_add_epi16(c3, words(s + x + 1)), two), 2);
        store_pairs(out + 2 * x, even, odd);
    }
}

VEC_TARGET void cam__jpeg_upsample_h2v2(const uint8_t *s0, const uint8_t *s1, uint8_t *out, int dw) {
    const __m512i three = _mm512_set1_epi16(3), seven = _mm512_set1_epi16(7), eight = _mm512_set1_epi16(8);
    for (int x = 0; x < dw; x += 32) {
        /* the vertical sums 3 near + far at x - 1, x and x + 1 */
        __m512i l = _mm512_add_epi16(_mm512_mullo_epi16(words(s0 + x - 1), three), words(s1 + x - 1));
        __m512i c = _mm512_add_epi16(_mm512_mullo_epi16(words(s0 + x), three), words(s1 + x));
        __m512i r = _mm512_add_epi16(_mm512_mullo_epi16(words(s0 + x + 1), three), words(s1 + x + 1));
        __m512i c3 = _mm512_mullo_epi16(c, three);
        __m512i even = _mm512_srli_epi16(_mm512_add_epi16(_mm512_add_epi16(c3, l), eight), 4);
        __m512i odd = _mm512_srli_epi16(_mm512_add_epi16(_mm512_add_epi16(c3, r), seven), 4);
        store_pairs(out + 2 * x, even, odd);
    }
}

#else   /* no vector code: the caller keeps libjpeg's pipeline */
int cam__jpeg_idct_available(void) { return 0; }
void cam__jpeg_idct_group(const int16_t *coef, const int16_t *qgroup, uint8_t *out, size_t out_stride) {
    for (int j = 0; j < CAM_JPEG_GROUP; j++) idct_ref(coef + 8 * j, 32, qgroup + 8 * j, 32, out + 8 * j, out_stride);
}
void cam__jpeg_rgb_rows(const uint8_t *y, const uint8_t *cb, const uint8_t *cr, size_t in_stride, uint8_t *rgb,
                        size_t pitch, int rows, int n) {
    for (int r = 0; r < rows; r++) {
        size_t o = (size_t)r * in_stride;
        cam__jpeg_rgb_ref(y + o, cb ? cb + o : NULL, cr ? cr + o : NULL, rgb + (size_t)r * pitch, n);
    }
}
void cam__jpeg_upsample_h2v1(const uint8_t *s, uint8_t *out, int dw) { cam__jpeg_upsample_ref(s, NULL, out, dw); }
void cam__jpeg_upsample_h2v2(const uint8_t *s0, const uint8_t *s1, uint8_t *out, int dw) {
    cam__jpeg_upsample_ref(s0, s1, out, dw);
}
#endif
