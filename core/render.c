/* render.c: colormaps, the heatmap overlay, PNG encoding and base64.
 *
 * Everything after the forward pass of a /cam request runs through here for
 * every response, so the budget is tight: overlay + PNG + base64 of a
 * 512x341 photo must stay well under 2 ms (a quarter of a ~10 ms forward
 * pass, shared with CAM and boxes).  PNG compression dominates; see the PNG
 * section for why it does not go through libpng and zlib. */
#include "internal.h"
#include "colormap.h"
#include "image.h"   /* cam__image_alloc */
#include "render_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* Hot loops: CAM__HOT's per-ISA clones, and never inlined.  Without clones
 * (CAM_NO_CLONES, sanitizer and clang builds, other architectures) gcc
 * would inline these into their callers, where the restrict qualifiers of
 * the parameters stop counting and the loops stay scalar (3-4x slower). */
#define HOT CAM__HOT __attribute__((noinline))

/* ---- colormaps ------------------------------------------------------------ */

static const struct {
    const char *name;
    const uint8_t *lut;
} cmaps[] = {
    [CAM_CMAP_JET] = {"jet", cam__cmap_jet},
    [CAM_CMAP_TURBO] = {"turbo", cam__cmap_turbo},
    [CAM_CMAP_VIRIDIS] = {"viridis", cam__cmap_viridis},
    [CAM_CMAP_INFERNO] = {"inferno", cam__cmap_inferno},
    [CAM_CMAP_GRAY] = {"gray", cam__cmap_gray},
};
#define N_CMAPS ((int)(sizeof cmaps / sizeof cmaps[0]))

/* Case-insensitive: "Jet" in a query string is not worth a 400. */
int cam_colormap_parse(const char *name, cam_colormap *out) {
    if (!name) return 0;
    for (int i = 0; i < N_CMAPS; i++)
        if (strcasecmp(name, cmaps[i].name) == 0) {
            if (out) *out = (cam_colormap)i;
            return 1;
        }
    return 0;
}

/* NULL for a value outside the enum (there is no name to give). */
const char *cam_colormap_name(cam_colormap c) {
    return (unsigned)c < (unsigned)N_CMAPS ? cmaps[c].name : NULL;
}

const uint8_t *cam_colormap_lut(cam_colormap c) {
    return (unsigned)c < (unsigned)N_CMAPS ? cmaps[c].lut : NULL;
}

/* ---- overlay -------------------------------------------------------------- */

/* heat -> LUT index round(clamp(h, 0, 1) * 255).  Clamping t = h * 255 + 0.5
 * to [0, 255] instead of h to [0, 1] gives the same index for every h (t
 * is the same for h in [0, 1], at most 0.5 below, at least 255.5 above)
 * and `t > 0 ? t : 0` sends NaN to 0; written on h, gcc 12 threaded the
 * constant arms into branches and left the AVX2 clone scalar. */
static HOT void heat_index_row(const float *restrict heat, uint8_t *restrict idx, int w) {
    for (int x = 0; x < w; x++) {
        float t = heat[x] * 255.0f + 0.5f;
        t = t > 0.0f ? t : 0.0f;
        t = t < 255.0f ? t : 255.0f;
        idx[x] = (uint8_t)(int)t;
    }
}

/* col[3x..3x+2] = the colour of idx[x]; writes col[3w] too. */
static void gather_row(const uint32_t *restrict lut4, const uint8_t *restrict idx, uint8_t *restrict col, int w) {
    for (int x = 0; x < w; x++) {
        uint32_t c = lut4[idx[x]];
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(col + 3 * x, &c, 4);
#else
        col[3 * x] = (uint8_t)c;
        col[3 * x + 1] = (uint8_t)(c >> 8);
        col[3 * x + 2] = (uint8_t)(c >> 16);
#endif
    }
}

/* gather_row with AVX-512 VBMI: 64 pixels a step.  Each channel's 256 LUT
 * bytes sit in four registers; vpermi2b looks 64 indices up in two of them
 * at a time (index bits 0-6) and bit 7 picks which pair.  Two more
 * permutes per 64 output bytes interleave the three channel vectors into
 * RGB.  The scalar gather (one 4-byte load and store a pixel) was 1.2 % of
 * a loaded server's CPU, ~0.14 ms a request. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define VBMI_BUILT 1
#define VBMI_TARGET __attribute__((target("arch=x86-64-v4,avx512vbmi")))

/* CAMSERVE_NO_AVX512=1 keeps gather_row, so that the tests cover it on
 * AVX-512 machines too. */
static int vbmi_available(void) { return cam__avx512_enabled() && __builtin_cpu_supports("avx512vbmi"); }

/* Where output byte j of each 64-byte third of 64 RGB pixels comes from:
 * pixel p = (64 r + j) / 3, channel (64 r + j) % 3.  rg picks R (p) or G
 * (64 + p) from the pair; b picks B (p) where b_mask is set. */
typedef struct rgb_interleave {
    uint8_t rg[3][64], b[3][64];
    uint64_t b_mask[3];
} rgb_interleave;

static void rgb_interleave_init(rgb_interleave *il) {
    memset(il, 0, sizeof *il);
    for (int r = 0; r < 3; r++)
        for (int j = 0; j < 64; j++) {
            int pos = 64 * r + j, px = pos / 3, c = pos % 3;
            if (c == 2) {
                il->b[r][j] = (uint8_t)px;
                il->b_mask[r] |= 1ull << j;
            } else {
                il->rg[r][j] = (uint8_t)(c ? 64 + px : px);
            }
        }
}

/* planes: the LUT as 3 x 256 bytes (R, G, B).  Returns the pixels done (a
 * multiple of 64); the caller gathers the rest. */
static VBMI_TARGET __attribute__((noinline)) int gather_row_vbmi(const uint8_t *restrict planes,
                                                                const rgb_interleave *il,
                                                                const uint8_t *restrict idx, uint8_t *restrict col,
                                                                int w) {
    __m512i t[3][4];
    for (int c = 0; c < 3; c++)
        for (int q = 0; q < 4; q++) t[c][q] = _mm512_loadu_si512(planes + 256 * c + 64 * q);
    __m512i rg[3], b[3];
    for (int r = 0; r < 3; r++) {
        rg[r] = _mm512_loadu_si512(il->rg[r]);
        b[r] = _mm512_loadu_si512(il->b[r]);
    }
    int x = 0;
    for (; x + 64 <= w; x += 64) {
        __m512i ix = _mm512_loadu_si512(idx + x);
        __mmask64 high = _mm512_movepi8_mask(ix);   /* index >= 128 */
        __m512i v[3];
        for (int c = 0; c < 3; c++)
            v[c] = _mm512_mask_blend_epi8(high, _mm512_permutex2var_epi8(t[c][0], ix, t[c][1]),
                                          _mm512_permutex2var_epi8(t[c][2], ix, t[c][3]));
        for (int r = 0; r < 3; r++) {
            __m512i o = _mm512_permutex2var_epi8(v[0], rg[r], v[1]);
            o = _mm512_mask_permutexvar_epi8(o, il->b_mask[r], b[r], v[2]);
            _mm512_storeu_si512(col + 3 * (size_t)x + 64 * r, o);
        }
    }
    return x;
}
#endif

/* out = round(a * c + b * p) on bytes; a + b = 1, so the sum stays within
 * [0, 255.5) and truncating after +0.5 rounds half up without a clamp. */
static HOT void blend_row(const uint8_t *restrict col, const uint8_t *restrict px, uint8_t *restrict out,
                          int n, float a, float b) {
    for (int i = 0; i < n; i++) out[i] = (uint8_t)(int)(a * (float)col[i] + b * (float)px[i] + 0.5f);
}

/* blend_row for alpha = a / 256 (b = 256 - a): a * c + b * p + 0.5 then
 * has at most 8 fractional bits below 2^8 and is exact in float too, so
 * this is the same rounding, on 16-bit lanes (twice the bytes a vector of
 * the float form's 32-bit lanes; the sum is <= 256 * 255 + 128 < 2^16).
 * The default alpha, 0.5, is one of these. */
static HOT void blend_row_q8(const uint8_t *restrict col, const uint8_t *restrict px, uint8_t *restrict out, int n,
                             uint16_t a, uint16_t b) {
    for (int i = 0; i < n; i++) out[i] = (uint8_t)((uint16_t)(a * col[i] + b * px[i] + 128) >> 8);
}

cam_status cam_overlay(const cam_image *img, const float *heat, cam_colormap cmap, float alpha, cam_image *out,
                       char *err, size_t errlen) {
    if (!img || !img->rgb || !heat || !out) return cam__fail(err, errlen, CAM_EINVAL, "overlay: NULL argument");
    if (img->width <= 0 || img->height <= 0 || img->stride / 3 < (size_t)img->width)
        return cam__fail(err, errlen, CAM_EINVAL, "overlay: bad image %dx%d (stride %zu)", img->width,
                         img->height, img->stride);
    const uint8_t *lut = cam_colormap_lut(cmap);
    if (!lut) return cam__fail(err, errlen, CAM_EINVAL, "overlay: unknown colormap %d", (int)cmap);
    if (alpha != alpha) return cam__fail(err, errlen, CAM_EINVAL, "overlay: alpha is NaN");
    alpha = alpha < 0.0f ? 0.0f : alpha > 1.0f ? 1.0f : alpha;

    int w = img->width, h = img->height;
    /* one row of LUT indices and one row of heat colours (+1 byte: the
     * gather below stores 4 bytes a pixel) */
    uint8_t *scratch = malloc((size_t)w * 4 + 1);
    if (!scratch) return cam__fail(err, errlen, CAM_ENOMEM, "overlay: out of memory for a %d-pixel row", w);
    cam_status st = cam__image_alloc(out, w, h, 0, err, errlen);   /* every row is blended into below */
    if (st != CAM_OK) {
        free(scratch);
        return st;
    }
    /* the LUT as one little-endian word per entry: the gather is then one
     * load and one (overlapping) 4-byte store a pixel instead of three byte
     * copies, which were 13 % of the whole encode stage */
    uint32_t lut4[256];
    for (int i = 0; i < 256; i++)
        lut4[i] = (uint32_t)lut[3 * i] | (uint32_t)lut[3 * i + 1] << 8 | (uint32_t)lut[3 * i + 2] << 16;
    long a256 = lrintf(alpha * 256.0f);
    int q8 = (float)a256 == alpha * 256.0f;
    uint8_t *idx = scratch, *col = scratch + w;
#ifdef VBMI_BUILT
    int vbmi = w >= 64 && vbmi_available();
    uint8_t planes[3 * 256];
    rgb_interleave il;
    if (vbmi) {
        for (int i = 0; i < 256; i++)
            for (int c = 0; c < 3; c++) planes[256 * c + i] = lut[3 * i + c];
        rgb_interleave_init(&il);
    }
#endif
    for (int y = 0; y < h; y++) {
        heat_index_row(heat + (size_t)y * (size_t)w, idx, w);
        int done = 0;
#ifdef VBMI_BUILT
        if (vbmi) done = gather_row_vbmi(planes, &il, idx, col, w);
#endif
        gather_row(lut4, idx + done, col + 3 * (size_t)done, w - done);
        const uint8_t *px = img->rgb + (size_t)y * img->stride;
        uint8_t *o = out->rgb + (size_t)y * out->stride;
        if (q8) blend_row_q8(col, px, o, 3 * w, (uint16_t)a256, (uint16_t)(256 - a256));
        else blend_row(col, px, o, 3 * w, alpha, 1.0f - alpha);
    }
    free(scratch);
    return CAM_OK;
}

/* ---- PNG ------------------------------------------------------------------ */

/* Why not libpng: it can only hand its rows to zlib, and zlib is too slow
 * for the budget at every setting that compresses at all.
 * tools/renderbench, libpng 1.6.39 + zlib 1.2.13 against the encoder
 * below, on the 10 photos of ../shared/images (nine 512 wide, one
 * 1352x900) and on jet overlays of them (alpha 0.5, a CAM-like blob):
 * ms per 512x341 image (median of 31 encodes of each image, scaled by
 * pixels) and compressed / raw size.  The 2-core machine was shared with
 * other builds (load ~2.5), which inflates and jitters every time by tens
 * of percent; the gaps below are far larger than that.
 *
 *                                         photos           overlays
 *                                       ms     size       ms     size
 *   libpng level 1, default   sub      12.9    0.614     10.2    0.536
 *                   default   paeth    16.9    0.603     14.2    0.521
 *                   default   adaptive 16.8    0.592     13.4    0.510
 *                   filtered  sub      10.1    0.614      9.1    0.536
 *                   filtered  avg       9.2    0.596      8.2    0.507
 *                   huffman   none      5.6    0.848      5.2    0.885
 *                   huffman   sub       5.2    0.599      5.7    0.488
 *                   huffman   avg       7.6    0.574      7.7    0.464
 *                   huffman   paeth     8.8    0.569      7.7    0.459
 *                   huffman   adaptive  8.8    0.560      8.7    0.451
 *                   rle       sub       8.9    0.594      8.9    0.488
 *                   rle       paeth     7.3    0.565      7.5    0.460
 *   libpng level 0 (stored)             0.44   1.001      0.45   1.001
 *   libpng level 6 default adaptive
 *                   (libpng's defaults)  47.7   0.566     62.3    0.476
 *   this encoder, 128 KiB blocks: none   0.76   0.856      1.5    0.893
 *                                 sub    1.1    0.598      1.0    0.488
 *                                 up     1.1    0.618      0.78   0.508
 *                                 avg    0.92   0.574      1.0    0.464
 *                                 paeth  1.0    0.569      0.76   0.459
 *   paeth, 32 KiB / 1 MiB blocks (photos): 1.3 / 0.99 ms, 0.569 / 0.575
 *
 * LZ77 matching (default, filtered, rle) buys almost nothing over Huffman
 * coding alone once a filter has turned photos into small residuals, and
 * even Huffman-only zlib costs over 5 ms here: more than the whole budget.
 * Stored (level 0) is fast but doubles the response.  So this file
 * writes the PNG itself: a row filter (vectorised: encoding a filter reads
 * only raw neighbours, never filtered ones), a histogram, a length-limited
 * Huffman code per block, and a branch-free bit packer, i.e. a deflate
 * stream of dynamic-Huffman blocks without matches (a stored block where
 * Huffman coding would not pay, e.g. noise); zlib only finishes crc32
 * (cam__crc32).  Same sizes as zlib's Huffman-only mode, 5-9x faster (the
 * timings above; blocks of 32 KiB and more have since been coded in byte
 * pairs, see PAIR_MAXLEN, for 0.1-0.2 % more bytes, and blocks of 16 KiB
 * and more with a code from a quarter of their bytes, see histogram, for
 * another 0.5-0.9 %: 0.572 and 0.463 of raw on the photos and overlays).
 * Filter and block size, remeasured after those two rounds (27 Nov, the 10
 * photos of ../shared/images and overlays of them with a CAM-like blob,
 * sums of medians of 40 encodes each):
 *
 *                             photos              overlays
 *                          ms      bytes       ms      bytes
 *   paeth, 128 KiB blocks  9.00  5,751,112     8.64  4,659,047
 *   paeth, 256 KiB         8.18  5,762,672     7.94  4,674,879
 *   avg,   128 KiB         8.32  5,801,941     8.04  4,711,036
 *   avg,   256 KiB         7.50  5,813,251     7.27  4,723,304
 *
 * Avg with 256 KiB blocks: 16 % less time for 1.1-1.4 % more bytes (on
 * hot_dog.jpg's overlay 0.53 -> 0.44 ms, 227,749 -> 229,725 bytes).  Each
 * block costs ~25 us besides its bytes (its sample, its code and the 256 KB
 * table of pair codes), and the avg predictor is cheaper than Paeth's.
 * The output is a standard PNG (one IDAT); the tests decode it with libpng. */

void cam__png_default_params(cam__png_params *p) {
    p->filter = CAM__PNG_AVG;
    p->block_bytes = 256 * 1024;
}

static inline void store64le(uint8_t *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, 8);
#else
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
#endif
}

static inline void store32be(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Bits are appended LSB first (deflate's order) into a 64-bit buffer that
 * is flushed a whole number of bytes at a time with one 8-byte store, so
 * the output needs 8 bytes of slack.  Callers keep n + pending bits <= 63:
 * after a flush n <= 7, room for three 15-bit codes. */
typedef struct bitw {
    uint8_t *p;
    uint64_t buf;
    unsigned n;
} bitw;

static inline void bw_put(bitw *w, uint32_t bits, unsigned len) {
    w->buf |= (uint64_t)bits << w->n;
    w->n += len;
}

static inline void bw_flush(bitw *w) {
    store64le(w->p, w->buf);
    unsigned nb = w->n >> 3;
    w->p += nb;
    w->buf = nb ? w->buf >> (8 * nb) : w->buf; /* nb <= 7: the shift is defined */
    w->n &= 7;
}

/* put + flush for header fields (up to 16 bits) */
static inline void bw_putf(bitw *w, uint32_t bits, unsigned len) {
    bw_put(w, bits, len);
    bw_flush(w);
}

/* Pad to a byte boundary (stored blocks, end of stream). */
static inline void bw_align(bitw *w) {
    if (w->n & 7) w->n = (w->n + 7) & ~7u;
    bw_flush(w);
}

/* Code lengths (<= limit) of a Huffman code for freq[0..n).  Symbols with
 * frequency 0 get length 0.  Two-queue Huffman construction on symbols
 * sorted by frequency; when the deepest leaf exceeds the limit the
 * frequencies are halved (keeping them >= 1) and the code rebuilt, which
 * converges in a step or two for realistic histograms and always ends
 * (all frequencies equal gives a balanced tree of depth ceil(log2 n)).
 * A lone symbol gets a partner so that the code is complete: inflaters
 * (zlib's) reject incomplete code-length and literal codes. */
static void huff_lengths(const uint32_t *freq, int n, int limit, uint8_t *len) {
    uint32_t f[288];
    int sym[288], cnt = 0;
    for (int i = 0; i < n; i++) {
        len[i] = 0;
        f[i] = freq[i];
        if (f[i]) sym[cnt++] = i;
    }
    if (cnt == 0) return;
    if (cnt == 1) {
        len[sym[0]] = 1;
        len[sym[0] == 0 ? 1 : 0] = 1;
        return;
    }
    for (;;) {
        /* insertion sort by frequency: n <= 288, once per block */
        for (int i = 1; i < cnt; i++) {
            int s = sym[i], j = i;
            while (j > 0 && f[sym[j - 1]] > f[s]) {
                sym[j] = sym[j - 1];
                j--;
            }
            sym[j] = s;
        }
        /* nodes 0..cnt-1 are leaves (in sorted order), cnt.. internal */
        uint64_t w[2 * 288];
        int parent[2 * 288];
        for (int i = 0; i < cnt; i++) w[i] = f[sym[i]];
        int leaf = 0, inner = cnt, next = cnt;
        while (next < 2 * cnt - 1) {
            int pick[2];
            for (int k = 0; k < 2; k++) {
                if (leaf < cnt && (inner >= next || w[leaf] <= w[inner]))
                    pick[k] = leaf++;
                else
                    pick[k] = inner++;
            }
            w[next] = w[pick[0]] + w[pick[1]];
            parent[pick[0]] = parent[pick[1]] = next;
            next++;
        }
        int depth[2 * 288], maxd = 0;
        depth[2 * cnt - 2] = 0;
        for (int i = 2 * cnt - 3; i >= 0; i--) {
            depth[i] = depth[parent[i]] + 1;
            if (i < cnt && depth[i] > maxd) maxd = depth[i];
        }
        if (maxd <= limit) {
            for (int i = 0; i < cnt; i++) len[sym[i]] = (uint8_t)depth[i];
            return;
        }
        for (int i = 0; i < cnt; i++) f[sym[i]] = (f[sym[i]] + 1) >> 1;
    }
}

/* Canonical codes (RFC 1951 3.2.2), bit-reversed because deflate sends
 * Huffman codes MSB first into an LSB-first stream; entry = code | len << 16. */
static void huff_codes(const uint8_t *len, int n, uint32_t *tab) {
    unsigned count[16] = {0}, next[16];
    for (int i = 0; i < n; i++) count[len[i]]++;
    count[0] = 0;
    unsigned code = 0;
    for (int b = 1; b < 16; b++) {
        code = (code + count[b - 1]) << 1;
        next[b] = code;
    }
    for (int i = 0; i < n; i++) {
        unsigned l = len[i];
        if (!l) {
            tab[i] = 0;
            continue;
        }
        unsigned c = next[l]++, r = 0;
        for (unsigned b = 0; b < l; b++) r |= ((c >> b) & 1u) << (l - 1 - b);
        tab[i] = r | l << 16;
    }
}

/* PNG row filters, encoder side (PNG spec 9.2): x - predictor(a, b, c)
 * with a, b, c the raw left, up and up-left bytes (0 outside the image).
 * `up` is a zero row for the first row.  Everything reads raw bytes only,
 * so each is a plain vectorisable loop. */
static HOT void filter_sub(const uint8_t *restrict r, int n, int bpp, uint8_t *restrict f) {
    for (int i = 0; i < bpp; i++) f[i] = r[i];
    for (int i = bpp; i < n; i++) f[i] = (uint8_t)(r[i] - r[i - bpp]);
}

static HOT void filter_up(const uint8_t *restrict r, const uint8_t *restrict up, int n, uint8_t *restrict f) {
    for (int i = 0; i < n; i++) f[i] = (uint8_t)(r[i] - up[i]);
}

static HOT void filter_avg(const uint8_t *restrict r, const uint8_t *restrict up, int n, int bpp,
                             uint8_t *restrict f) {
    for (int i = 0; i < bpp; i++) f[i] = (uint8_t)(r[i] - (up[i] >> 1));
    for (int i = bpp; i < n; i++) f[i] = (uint8_t)(r[i] - ((r[i - bpp] + up[i]) >> 1));
}

static HOT void filter_paeth(const uint8_t *restrict r, const uint8_t *restrict up, int n, int bpp,
                               uint8_t *restrict f) {
    for (int i = 0; i < bpp; i++) f[i] = (uint8_t)(r[i] - up[i]); /* a = c = 0: predictor b */
    /* On bytes, 32 or 64 lanes a vector (int16_t lanes: 1.5x the time):
     * pa = |b - c| and pb = |a - c| fit a byte, and pc = |(b - c) + (a - c)|
     * is pa + pb when the two differences have the same sign, else
     * |pa - pb|; saturating pa + pb at 255 keeps pc >= pa, pb, so every
     * comparison comes out as with the exact pc (checked for all a, b, c). */
    for (int i = bpp; i < n; i++) {
        uint8_t a = r[i - bpp], b = up[i], c = up[i - bpp];
        uint8_t hb = b > c ? b : c, lb = b > c ? c : b, ha = a > c ? a : c, la = a > c ? c : a;
        uint8_t pa = (uint8_t)(hb - lb), pb = (uint8_t)(ha - la);
        uint8_t sum = (uint8_t)(pa + pb);
        sum = sum < pa ? 255 : sum;
        uint8_t hi = pa > pb ? pa : pb, lo = pa > pb ? pb : pa;
        uint8_t pc = (b >= c) == (a >= c) ? sum : (uint8_t)(hi - lo);
        uint8_t pred = (pa <= pb && pa <= pc) ? a : pb <= pc ? b : c;
        f[i] = (uint8_t)(r[i] - pred);
    }
}

/* Eight interleaved tables: runs of one byte value (the zero residuals of
 * flat image areas) would otherwise serialise on one counter, each
 * increment waiting for the previous one's store (4 tables: 0.2 ms of the
 * ~1 ms encode of a 512x384 overlay).  Bytes are taken from 64-bit loads. */
typedef uint32_t hist8[8][256];

static void hist_add(hist8 h, const uint8_t *b, size_t n) {
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, b + i, 8);
        h[0][v & 255]++;
        h[1][(v >> 8) & 255]++;
        h[2][(v >> 16) & 255]++;
        h[3][(v >> 24) & 255]++;
        h[4][(v >> 32) & 255]++;
        h[5][(v >> 40) & 255]++;
        h[6][(v >> 48) & 255]++;
        h[7][v >> 56]++;
    }
#endif
    for (; i < n; i++) h[i & 7][b[i]]++;
}

/* The code of a large block is built from a quarter of its bytes: the
 * first SAMPLE_RUN of every SAMPLE_STRIDE (runs rather than every 4th
 * byte: the loads stay whole words).  Counting every byte was a quarter
 * of the whole encode of a 512x384 overlay (0.3 of 1.2 ms).  Every symbol
 * gets a count of at least 1, hence a code, since the bytes not looked at
 * may hold any value; a block the sample misjudges can come out longer
 * than stored, which deflate_block checks after coding it. */
#define SAMPLE_MIN_BYTES (16 * 1024)
#define SAMPLE_RUN 64
#define SAMPLE_STRIDE 256

/* freq[0..256) for the block b[0..n): exact below SAMPLE_MIN_BYTES,
 * else estimated from the sample */
static void histogram(const uint8_t *b, size_t n, uint32_t *out) {
    hist8 h;
    memset(h, 0, sizeof h);
    uint32_t scale = 1, least = 0;
    if (n < SAMPLE_MIN_BYTES) {
        hist_add(h, b, n);
    } else {
        for (size_t off = 0; off < n; off += SAMPLE_STRIDE)
            hist_add(h, b + off, n - off < SAMPLE_RUN ? n - off : SAMPLE_RUN);
        scale = SAMPLE_STRIDE / SAMPLE_RUN;
        least = 1;
    }
    for (int s = 0; s < 256; s++)
        out[s] = (h[0][s] + h[1][s] + h[2][s] + h[3][s] + h[4][s] + h[5][s] + h[6][s] + h[7][s]) * scale + least;
}

/* Adler-32 (RFC 1950) as a vectorisable loop: over a chunk of m bytes
 * s1 grows by sum p[i] and s2 by m * s1 + sum (m - i) p[i], two plain
 * reductions gcc vectorises.  m <= 5552 (zlib's NMAX) keeps the weighted
 * sum below 2^32.  zlib 1.2.13's scalar adler32 was a tenth of the encode. */
static HOT uint32_t adler32_fast(uint32_t adler, const uint8_t *restrict p, size_t n) {
    uint32_t s1 = adler & 0xffff, s2 = adler >> 16;
    while (n) {
        uint32_t m = n < 5552 ? (uint32_t)n : 5552, sum = 0, wsum = 0;
        for (uint32_t i = 0; i < m; i++) {
            sum += p[i];
            wsum += (m - i) * (uint32_t)p[i];
        }
        s2 = (uint32_t)(((uint64_t)s2 + (uint64_t)m * s1 + wsum) % 65521u);
        s1 = (s1 + sum) % 65521u;
        p += m;
        n -= m;
    }
    return s2 << 16 | s1;
}

uint32_t cam__adler32(uint32_t adler, const uint8_t *p, size_t n) { return adler32_fast(adler, p, n); }

static const uint8_t clc_order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

/* Byte pairs: entry[b0 | b1 << 8] = (code0 | code1 << len0) << 5 | (len0 + len1),
 * the codes of two consecutive bytes as one code of up to 26 bits (codes
 * of at most PAIR_MAXLEN bits).  The packer's cost is its dependency chain
 * through the bit count and the buffer (a shift, an OR and an add per
 * code): one code per pair halves it, and one 16-bit load and one lookup
 * replace two of each.  Building the 64K entries costs about what packing
 * 8 KiB does, so blocks below PAIR_MIN_BYTES keep the code per byte.
 * Limiting codes to 13 bits (instead of deflate's 15) when a block needs
 * more cost 0.1 % of size on the photos and overlays of renderbench. */
#define PAIR_MAXLEN 13
#define PAIR_ENTRIES 65536
#define PAIR_MIN_BYTES (32 * 1024)

/* base[b0] = code0 << 5 | len0, sh[b0] = len0 + 5: the entry for (b0, b1) is
 * (base[b0] | code1 << sh[b0]) + len1 (len0 + len1 < 32: the add cannot carry
 * out of the 5 length bits). */
static HOT void build_pairs(const uint32_t *restrict base, const uint32_t *restrict sh, const uint32_t *restrict code,
                            const uint32_t *restrict len, uint32_t *restrict pairs) {
    for (int b1 = 0; b1 < 256; b1++) {
        uint32_t c1 = code[b1], l1 = len[b1], *row = pairs + 256 * b1;
        for (int b0 = 0; b0 < 256; b0++) row[b0] = (base[b0] | c1 << sh[b0]) + l1;
    }
}

static inline unsigned load16le(const uint8_t *p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
#else
    return p[0] | (unsigned)p[1] << 8;
#endif
}

/* The two hot loops below keep the writer in a local copy (`bitw s = *w`,
 * written back at the end): stores through the uint8_t output pointer may
 * alias anything, so with the state in *w gcc reloaded it after every
 * flush (a third slower).  BW_FLUSH is bw_flush on that copy, without
 * bw_flush's guard for an empty buffer (a shift by 8 * 0 is fine here). */
#define BW_FLUSH(s) (store64le((s).p, (s).buf), (s).p += (s).n >> 3, (s).buf >>= ((s).n & ~7u), (s).n &= 7)

/* With pairs: two pair codes of <= 26 bits and one flush per 4 bytes
 * (7 + 2 * 26 <= 64), 8 bytes an iteration.  Stops before the last
 * n % 8 bytes. */
static HOT size_t pack_pairs(bitw *w, const uint8_t *restrict b, size_t n, const uint32_t *restrict pairs) {
    bitw s = *w;
    size_t i = 0;
#define PUT(e) ((s).buf |= (uint64_t)((e) >> 5) << (s).n, (s).n += (e) & 31)
    for (; i + 8 <= n; i += 8) {
        uint32_t e0 = pairs[load16le(b + i)], e1 = pairs[load16le(b + i + 2)];
        uint32_t e2 = pairs[load16le(b + i + 4)], e3 = pairs[load16le(b + i + 6)];
        PUT(e0);
        PUT(e1);
        BW_FLUSH(s);
        PUT(e2);
        PUT(e3);
        BW_FLUSH(s);
    }
#undef PUT
    *w = s;
    return i;
}

/* A code per byte from tab (code | length << 16): three codes of <= 15
 * bits, then one flush (four when no code is longer than 14 bits:
 * 7 + 4 * 14 <= 63), from byte i on.  Stops before the last n % 3 bytes. */
static HOT size_t pack_codes(bitw *w, const uint8_t *restrict b, size_t i, size_t n, const uint32_t *restrict tab,
                             unsigned maxlen) {
    bitw s = *w;
#define PUT(e) ((s).buf |= (uint64_t)((e) & 0xffff) << (s).n, (s).n += (e) >> 16)
    if (maxlen <= 14) {
        for (; i + 4 <= n; i += 4) {
            uint32_t e0 = tab[b[i]], e1 = tab[b[i + 1]], e2 = tab[b[i + 2]], e3 = tab[b[i + 3]];
            PUT(e0);
            PUT(e1);
            PUT(e2);
            PUT(e3);
            BW_FLUSH(s);
        }
    }
    for (; i + 3 <= n; i += 3) {
        uint32_t e0 = tab[b[i]], e1 = tab[b[i + 1]], e2 = tab[b[i + 2]];
        PUT(e0);
        PUT(e1);
        PUT(e2);
        BW_FLUSH(s);
    }
#undef PUT
    *w = s;
    return i;
}
#undef BW_FLUSH

/* The dynamic-Huffman block of deflate_block, code lengths decided. */
static void huff_block(bitw *w, const uint8_t *b, size_t n, int final, const uint8_t *len, unsigned maxlen,
                       const uint8_t *clen, const uint32_t *ccode, int nclen, uint32_t *pairs) {
    uint32_t tab[257]; /* the literal code only: len[257] belongs to the distance alphabet */
    huff_codes(len, 257, tab);
    bw_putf(w, (final ? 1u : 0u) | 2u << 1, 3); /* BFINAL, BTYPE 10: dynamic Huffman */
    bw_putf(w, 0, 5);                            /* HLIT: 257 literal/length codes */
    bw_putf(w, 0, 5);                            /* HDIST: 1 distance code */
    bw_putf(w, (uint32_t)(nclen - 4), 4);        /* HCLEN */
    for (int i = 0; i < nclen; i++) bw_putf(w, clen[clc_order[i]], 3);
    for (int i = 0; i < 258; i++) bw_putf(w, ccode[len[i]] & 0xffff, ccode[len[i]] >> 16);

    size_t i = 0;
    if (pairs) {
        uint32_t base[256], sh[256], code[256], ln[256];
        for (int s = 0; s < 256; s++) {
            code[s] = tab[s] & 0xffff;
            ln[s] = tab[s] >> 16;
            base[s] = code[s] << 5 | ln[s];
            sh[s] = ln[s] + 5;
        }
        build_pairs(base, sh, code, ln, pairs);
        i = pack_pairs(w, b, n, pairs);
    }
    i = pack_codes(w, b, i, n, tab, maxlen);
    for (; i < n; i++) bw_putf(w, tab[b[i]] & 0xffff, tab[b[i]] >> 16);
    bw_putf(w, tab[256] & 0xffff, tab[256] >> 16);
}

/* One deflate block (or a run of stored blocks) for b[0..n).  pairs: room
 * for PAIR_ENTRIES entries, or NULL. */
static void deflate_block(bitw *w, const uint8_t *b, size_t n, int final, uint32_t *pairs) {
    uint32_t freq[257];
    histogram(b, n, freq);
    freq[256] = 1; /* end of block */
    if (n < PAIR_MIN_BYTES) pairs = NULL;
    uint8_t len[258];
    huff_lengths(freq, 257, pairs ? PAIR_MAXLEN : 15, len);
    unsigned maxlen = 0;
    for (int s = 0; s < 256; s++) maxlen = len[s] > maxlen ? len[s] : maxlen;
    len[257] = 1; /* the one distance code: unused, one bit (RFC 1951 3.2.7) */
    /* the 258 code lengths, sent with the code-length code (no run-length
     * codes 16-18: ~100 bytes a block, not worth the complexity) */
    uint32_t cfreq[19] = {0};
    for (int i = 0; i < 258; i++) cfreq[len[i]]++;
    uint8_t clen[19];
    huff_lengths(cfreq, 19, 7, clen);
    uint32_t ccode[19];
    huff_codes(clen, 19, ccode);
    int nclen = 19;
    while (nclen > 4 && clen[clc_order[nclen - 1]] == 0) nclen--;

    uint64_t bits = 3 + 5 + 5 + 4 + 3 * (uint64_t)nclen;
    for (int i = 0; i < 258; i++) bits += clen[len[i]];
    for (int s = 0; s < 257; s++) bits += (uint64_t)freq[s] * len[s];
    size_t chunks = n / 65535 + (n % 65535 != 0);
    if (!chunks) chunks = 1;
    uint64_t stored_bits = (uint64_t)chunks * (3 + 7 + 32) + 8 * (uint64_t)n;

    bitw start = *w;
    if (bits <= stored_bits) {
        huff_block(w, b, n, final, len, maxlen, clen, ccode, nclen, pairs);
        /* the code came from a sample (see histogram): keep it only if it
         * really beat stored blocks */
        uint64_t used = 8 * (uint64_t)(w->p - start.p) + w->n - start.n;
        if (used <= stored_bits) return;
        *w = start;
    }
    /* incompressible: stored blocks of at most 65535 bytes */
    size_t off = 0;
    for (size_t c = 0; c < chunks; c++) {
        size_t m = n - off < 65535 ? n - off : 65535;
        bw_putf(w, (final && c + 1 == chunks) ? 1u : 0u, 3); /* BFINAL, BTYPE 00 */
        bw_align(w);
        bw_putf(w, (uint32_t)m | (uint32_t)(~m & 0xffff) << 16, 32);
        memcpy(w->p, b + off, m);
        w->p += m;
        off += m;
    }
}

static uint8_t *put_chunk_head(uint8_t *p, uint32_t len, const char *type) {
    store32be(p, len);
    memcpy(p + 4, type, 4);
    return p + 8;
}

/* CRC-32 (zlib's crc32()).  zlib 1.2.13 computes it a word at a time from
 * tables: 0.07 ms for the ~290 KB IDAT of a 512x384 overlay.  On x86-64
 * with PCLMULQDQ the data is instead folded 64 bytes at a time by carry-less
 * multiplication (Intel, "Fast CRC Computation for Generic Polynomials
 * Using PCLMULQDQ", 2009; the constants are Linux's crc32-pclmul): four
 * 128-bit lanes, each multiplied by x^512 mod P and added to the next 64
 * bytes, then the lanes folded into one.  That leaves 16 bytes with the
 * CRC of the whole input (taken with zero initial register) and a tail of
 * fewer than 16, which zlib's crc32 finishes. */
static uint32_t crc32_zlib(uint32_t crc, const uint8_t *p, size_t n) {
    while (n) { /* crc32 takes a uInt length */
        uInt step = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, p, step);
        p += step;
        n -= step;
    }
    return crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define CRC_CLMUL_MIN 64

__attribute__((target("pclmul,sse4.1"))) static inline __m128i fold128(__m128i x, __m128i k, __m128i next) {
    __m128i lo = _mm_clmulepi64_si128(x, k, 0x00), hi = _mm_clmulepi64_si128(x, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

/* n >= CRC_CLMUL_MIN */
__attribute__((target("pclmul,sse4.1"))) static uint32_t crc32_clmul(uint32_t crc, const uint8_t *p, size_t n) {
    const __m128i k12 = _mm_set_epi64x(0x1c6e41596, 0x154442bd4); /* fold by 512 bits */
    const __m128i k34 = _mm_set_epi64x(0x0ccaa009e, 0x1751997d0); /* fold by 128 bits */
    __m128i x0 = _mm_loadu_si128((const __m128i *)p), x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32)), x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)~crc)); /* the initial register, as message bits */
    p += 64;
    n -= 64;
    for (; n >= 64; p += 64, n -= 64) {
        x0 = fold128(x0, k12, _mm_loadu_si128((const __m128i *)p));
        x1 = fold128(x1, k12, _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = fold128(x2, k12, _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = fold128(x3, k12, _mm_loadu_si128((const __m128i *)(p + 48)));
    }
    x0 = fold128(x0, k34, x1);
    x0 = fold128(x0, k34, x2);
    x0 = fold128(x0, k34, x3);
    for (; n >= 16; p += 16, n -= 16) x0 = fold128(x0, k34, _mm_loadu_si128((const __m128i *)p));
    uint8_t last[16];
    _mm_storeu_si128((__m128i *)last, x0);
    /* crc32(0xffffffff, .) runs the register from 0 and inverts at the end,
     * as the whole input would have */
    return crc32_zlib(crc32_zlib(0xffffffffu, last, 16), p, n);
}
#endif

uint32_t cam__crc32(uint32_t crc, const uint8_t *p, size_t n) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (n >= CRC_CLMUL_MIN && __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1"))
        return crc32_clmul(crc, p, n);
#endif
    return crc32_zlib(crc, p, n);
}

/* CRC of a chunk's type and data, p pointing at its length field. */
static uint8_t *put_chunk_crc(uint8_t *p, size_t data_len) {
    uint32_t crc = cam__crc32(0, p + 4, 4 + data_len);
    uint8_t *end = p + 8 + data_len;
    store32be(end, crc);
    return end + 4;
}

cam_status cam__png_encode(const uint8_t *pixels, size_t stride, int w, int h, int channels,
                           const cam__png_params *p, uint8_t **png, size_t *len, char *err, size_t errlen) {
    if (!pixels || !png || !len || !p) return cam__fail(err, errlen, CAM_EINVAL, "png: NULL argument");
    *png = NULL;
    *len = 0;
    if (channels != 1 && channels != 3) return cam__fail(err, errlen, CAM_EINVAL, "png: %d channels", channels);
    if (w <= 0 || h <= 0) return cam__fail(err, errlen, CAM_EINVAL, "png: bad size %dx%d", w, h);
    if ((size_t)w > stride / (size_t)channels)
        return cam__fail(err, errlen, CAM_EINVAL, "png: stride %zu below %d pixels", stride, w);
    if (p->filter < CAM__PNG_NONE || p->filter > CAM__PNG_PAETH)
        return cam__fail(err, errlen, CAM_EINVAL, "png: unknown filter %d", p->filter);
    /* One IDAT chunk holds at most 2^31 - 1 bytes; capping the filtered
     * data at 2^30 keeps every bound below far from overflow. */
    size_t row = (size_t)w * (size_t)channels, frow = row + 1, total;
    if (!cam__mul_ok(frow, (size_t)h, &total) || total > ((size_t)1 << 30))
        return cam__fail(err, errlen, CAM_ELIMIT, "png: %dx%d is too large", w, h);
    size_t target = p->block_bytes > frow ? p->block_bytes : frow;
    int rows_per_block = (int)(target / frow);
    size_t nblocks = ((size_t)h + (size_t)rows_per_block - 1) / (size_t)rows_per_block;
    /* Each block costs at most its stored form (the code falls back to it)
     * plus the dynamic header it did not send: 5 bytes per 64 KiB stored
     * chunk, 300 for headers and padding, 8 of bit-writer slack.  Before
     * falling back, a Huffman attempt on a block can run up to 15 bits a
     * byte past the blocks before it: one more block's bytes of room. */
    size_t fmax = (size_t)(rows_per_block < h ? rows_per_block : h) * frow;
    size_t cap = 8 + 25 + 8 + 2 + total + 5 * (total / 65535 + nblocks) + 300 * nblocks + fmax + 4 + 4 + 12 + 8;

    uint8_t *out = malloc(cap);
    uint8_t *fbuf = malloc((size_t)rows_per_block * frow);
    uint8_t *zero = calloc(row, 1);
    /* the pair table only when some block is large enough to use it */
    uint32_t *pairs = fmax >= PAIR_MIN_BYTES ? malloc(PAIR_ENTRIES * sizeof *pairs) : NULL;
    if (!out || !fbuf || !zero || (fmax >= PAIR_MIN_BYTES && !pairs)) {
        free(out);
        free(fbuf);
        free(zero);
        free(pairs);
        return cam__fail(err, errlen, CAM_ENOMEM, "png: out of memory for %dx%d", w, h);
    }
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(out, sig, 8);
    uint8_t *q = put_chunk_head(out + 8, 13, "IHDR");
    store32be(q, (uint32_t)w);
    store32be(q + 4, (uint32_t)h);
    q[8] = 8;                         /* bit depth */
    q[9] = channels == 3 ? 2 : 0;     /* colour type: RGB or gray */
    q[10] = q[11] = q[12] = 0;        /* deflate, adaptive filtering, no interlace */
    q = put_chunk_crc(out + 8, 13);

    uint8_t *idat = q;
    bitw bw = {put_chunk_head(idat, 0, "IDAT"), 0, 0};
    bw.p[0] = 0x78; /* zlib: deflate, 32 KiB window; FLEVEL 0 (fastest) */
    bw.p[1] = 0x01; /* 0x7801 % 31 == 0 */
    bw.p += 2;
    uint32_t adler = 1;
    for (int y0 = 0; y0 < h; y0 += rows_per_block) {
        int y1 = y0 + rows_per_block < h ? y0 + rows_per_block : h;
        for (int y = y0; y < y1; y++) {
            const uint8_t *r = pixels + (size_t)y * stride, *up = y ? r - stride : zero;
            uint8_t *f = fbuf + (size_t)(y - y0) * frow;
            f[0] = (uint8_t)p->filter;
            switch (p->filter) {
            case CAM__PNG_NONE: memcpy(f + 1, r, row); break;
            case CAM__PNG_SUB: filter_sub(r, (int)row, channels, f + 1); break;
            case CAM__PNG_UP: filter_up(r, up, (int)row, f + 1); break;
            case CAM__PNG_AVG: filter_avg(r, up, (int)row, channels, f + 1); break;
            default: filter_paeth(r, up, (int)row, channels, f + 1); break;
            }
        }
        size_t n = (size_t)(y1 - y0) * frow;
        adler = adler32_fast(adler, fbuf, n);
        deflate_block(&bw, fbuf, n, y1 == h, pairs);
    }
    bw_align(&bw);
    store32be(bw.p, (uint32_t)adler);
    bw.p += 4;
    size_t idat_len = (size_t)(bw.p - (idat + 8));
    store32be(idat, (uint32_t)idat_len);
    q = put_chunk_crc(idat, idat_len);
    q = put_chunk_head(q, 0, "IEND");
    q = put_chunk_crc(q - 8, 0);
    free(fbuf);
    free(zero);
    free(pairs);
    *len = (size_t)(q - out);
    /* give back the worst-case reserve (realloc to smaller cannot fail in
     * glibc; keep the big block if it does) */
    uint8_t *shrunk = realloc(out, *len);
    *png = shrunk ? shrunk : out;
    return CAM_OK;
}

cam_status cam_png_encode_rgb(const cam_image *img, uint8_t **png, size_t *len, char *err, size_t errlen) {
    if (!img || !img->rgb) return cam__fail(err, errlen, CAM_EINVAL, "png: NULL image");
    cam__png_params p;
    cam__png_default_params(&p);
    return cam__png_encode(img->rgb, img->stride, img->width, img->height, 3, &p, png, len, err, errlen);
}

/* round(clamp(v, 0, 1) * 255), NaN -> 0 (see heat_index_row) */
static HOT void gray_row(const float *restrict v, uint8_t *restrict g, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = v[i];
        x = x > 0.0f ? x : 0.0f;
        x = x < 1.0f ? x : 1.0f;
        g[i] = (uint8_t)(int)(x * 255.0f + 0.5f);
    }
}

cam_status cam_png_encode_gray(const float *values01, int w, int h, uint8_t **png, size_t *len, char *err,
                               size_t errlen) {
    if (!values01 || !png || !len) return cam__fail(err, errlen, CAM_EINVAL, "png: NULL argument");
    if (w <= 0 || h <= 0) return cam__fail(err, errlen, CAM_EINVAL, "png: bad size %dx%d", w, h);
    size_t n;
    if (!cam__mul_ok((size_t)w, (size_t)h, &n) || n > ((size_t)1 << 30))
        return cam__fail(err, errlen, CAM_ELIMIT, "png: %dx%d is too large", w, h);
    uint8_t *g = malloc(n);
    if (!g) return cam__fail(err, errlen, CAM_ENOMEM, "png: out of memory for %dx%d", w, h);
    gray_row(values01, g, n);
    cam__png_params p;
    cam__png_default_params(&p);
    cam_status st = cam__png_encode(g, (size_t)w, w, h, 1, &p, png, len, err, errlen);
    free(g);
    return st;
}

/* ---- base64 --------------------------------------------------------------- */

static const char b64_alphabet[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* SIZE_MAX (an allocation that must fail) rather than a wrapped small size
 * when n is absurd, so that a caller's malloc cannot under-allocate. */
size_t cam_base64_len(size_t n) {
    size_t q = n / 3 + (n % 3 != 0);
    if (q > (SIZE_MAX - 1) / 4) return SIZE_MAX;
    return 4 * q + 1;
}

/* Two output characters per 12 input bits from one table (8 KiB, stays in
 * L1): half the lookups and stores of a character table, and base64 of
 * the PNGs is a tenth of a millisecond per response. */
static uint16_t b64_pairs[4096];
static pthread_once_t b64_once = PTHREAD_ONCE_INIT;

static void b64_pairs_init(void) {
    for (int v = 0; v < 4096; v++) {
        uint8_t pair[2] = {(uint8_t)b64_alphabet[v >> 6], (uint8_t)b64_alphabet[v & 63]};
        memcpy(&b64_pairs[v], pair, 2);   /* byte order of the output, whatever the host's */
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
/* 24 bytes -> 32 characters with AVX2 (W. Mula and D. Lemire, "Faster
 * Base64 Encoding and Decoding Using AVX2 Instructions", 2018): each
 * 128-bit lane gets 12 input bytes, a byte shuffle puts every 3 bytes in
 * a 32-bit word, two 16-bit multiplies move the four 6-bit fields to byte
 * boundaries, and a 16-entry shuffle table adds the ASCII offset of the
 * field's range (A-Z, a-z, 0-9, +, /).  The scalar loop below was 6.7
 * instructions a byte.  Returns the bytes consumed (a multiple of 24). */
__attribute__((target("avx2"))) static size_t b64_avx2(const uint8_t *in, size_t n, char *out) {
    const __m256i shuf = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10, 1, 0, 2, 1, 4, 3, 5, 4,
                                          7, 6, 8, 7, 10, 9, 11, 10);
    const __m256i offs = _mm256_setr_epi8('a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                                          '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0,
                                          'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                                          '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0);
    size_t i = 0;
    /* the second 16-byte load reads 4 bytes past the 24 */
    for (; i + 28 <= n; i += 24, out += 32) {
        __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(in + i))),
                                            _mm_loadu_si128((const __m128i *)(in + i + 12)), 1);
        v = _mm256_shuffle_epi8(v, shuf);
        __m256i t0 = _mm256_and_si256(v, _mm256_set1_epi32(0x0fc0fc00));
        __m256i t1 = _mm256_mulhi_epu16(t0, _mm256_set1_epi32(0x04000040));
        __m256i t2 = _mm256_and_si256(v, _mm256_set1_epi32(0x003f03f0));
        __m256i t3 = _mm256_mullo_epi16(t2, _mm256_set1_epi32(0x01000010));
        __m256i idx = _mm256_or_si256(t1, t3); /* 6-bit values, one a byte */
        __m256i r = _mm256_subs_epu8(idx, _mm256_set1_epi8(51));
        __m256i less = _mm256_cmpgt_epi8(_mm256_set1_epi8(26), idx);
        r = _mm256_or_si256(r, _mm256_and_si256(less, _mm256_set1_epi8(13)));
        r = _mm256_add_epi8(_mm256_shuffle_epi8(offs, r), idx);
        _mm256_storeu_si256((__m256i *)out, r);
    }
    return i;
}
#endif

size_t cam_base64_encode(const uint8_t *in, size_t n, char *out) {
    pthread_once(&b64_once, b64_pairs_init);
    char *o = out;
    size_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (n >= 28 && __builtin_cpu_supports("avx2")) {
        i = b64_avx2(in, n, out);
        o += i / 3 * 4;
    }
#endif
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        memcpy(o, &b64_pairs[v >> 12], 2);
        memcpy(o + 2, &b64_pairs[v & 4095], 2);
        o += 4;
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        o[0] = b64_alphabet[v >> 18];
        o[1] = b64_alphabet[(v >> 12) & 63];
        o[2] = o[3] = '=';
        o += 4;
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        o[0] = b64_alphabet[v >> 18];
        o[1] = b64_alphabet[(v >> 12) & 63];
        o[2] = b64_alphabet[(v >> 6) & 63];
        o[3] = '=';
        o += 4;
    }
    *o = 0;
    return (size_t)(o - out);
}
