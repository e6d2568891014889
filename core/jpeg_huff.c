/* jpeg_huff.c: a faster Huffman decoder for baseline JPEG, plugged into libjpeg.
 *
 * In a camserve request the JPEG decode is the largest cost after the
 * forward pass, and most of it is libjpeg-turbo's Huffman decoding (its
 * IDCT and colour conversion are SIMD).  This file replaces only that step:
 * libjpeg still parses the headers and does the IDCT, upsampling and colour
 * conversion, so the pixels are libjpeg's own.  After jpeg_start_decompress()
 * cam__jpeg_huff_install() swaps cinfo->entropy for ours when the scan is
 * one we decode; libjpeg's coefficient controller then calls our decode_mcu.
 *
 * Why it is faster (hot_dog.jpg, 240,000 AC codes in 200 KB):
 *  - the entropy segment is unstuffed (0xFF 0x00 -> 0xFF) once, up front,
 *    so the bit reader refills with one unaligned load and no byte checks;
 *  - one 10-bit table lookup gives a coefficient's run, its value (code and
 *    extra bits together) and the bits to drop: 95 % of the codes here;
 *  - four codes are decoded per refill, which keeps the refill's load off
 *    the chain lookup -> shift -> lookup that bounds the speed.
 *
 * Only clean streams are ours to decode.  Anything libjpeg would have warned
 * about (a code not in the table, data running out, restart markers out of
 * place, a DC sum out of range) sets `failed` and the caller decodes
 * the file again with plain libjpeg-turbo, which then judges the damage as
 * before.  For a clean stream the coefficients equal libjpeg's bit for bit;
 * tests/test_jpeg_huff.c compares the pixels on every photo we have. */
#include "jpeg_huff.h"

#include <jpegint.h>
#include <limits.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"   /* CAM__HOT */
#include "jpeg_idct.h"

enum {
    FAST_BITS = 10,   /* 11 and 12 measured slower: the tables outgrow L1 */
    /* zero bytes after the unstuffed data: one MCU (at most 10 blocks of
     * 64 codes of at most 31 bits) can overrun the end by 2,480 bytes
     * before the per-MCU check catches it, and a refill reads 8 more */
    PAD_BYTES = 2560 + 64,
};

/* A table entry: bits 0-5 the bits to drop, bits 6-7 the kind, bits 8-12
 * the zero run before the coefficient plus one (AC: how far the coefficient
 * index moves), bits 16-31 the value (kind COEF) or the symbol (kind CODE).
 * COEF is 0 so that the hot loop tests the kind with one `test`; SLOW is
 * what memset(0x40) leaves. */
enum { KIND_COEF = 0, KIND_SLOW = 1, KIND_EOB = 2, KIND_CODE = 3 };
/* & 63: shlx (x86-64-v3 and up, see CAM__HOT) takes its count mod 64, so
 * the compiler drops this mask from the chain lookup -> shift -> lookup */
#define E_DROP(e) ((e) & 63u)
#define E_KIND(e) (((e) >> 6) & 3u)
#define E_STEP(e) (((e) >> 8) & 31u)
#define E_VALUE(e) ((int32_t)(e) >> 16)
#define E_SYMBOL(e) (((e) >> 16) & 255u)

typedef struct huff_table {
    uint32_t fast[1 << FAST_BITS];
    /* canonical decoding of the codes longer than FAST_BITS */
    int32_t maxcode[18];   /* largest code of each length, -1 if none; [17] sentinel */
    int32_t valoff[17];    /* symbol index of a length's first code minus that code */
    uint8_t vals[256];
} huff_table;

typedef struct huff_decoder {
    struct jpeg_entropy_decoder pub;   /* first: libjpeg sees only this */
    const uint8_t *data, *pos, *end;   /* unstuffed segment; end = data + its length */
    const uint8_t *marker;             /* where the segment ended in the source */
    /* restart intervals: where each RSTn marker was in the unstuffed data */
    const uint32_t *rst_at;
    unsigned n_rst, next_rst;
    unsigned restart_interval, to_go;
    uint64_t buf;                      /* bits, most significant first */
    int nbits;
    int failed;
    unsigned mcus_left;
    int last_dc[MAX_COMPS_IN_SCAN];
    const huff_table *dc_of[D_MAX_BLOCKS_IN_MCU], *ac_of[D_MAX_BLOCKS_IN_MCU];
    int comp_of[D_MAX_BLOCKS_IN_MCU];
    huff_table *dc[NUM_HUFF_TBLS], *ac[NUM_HUFF_TBLS];
} huff_decoder;

/* The zig-zag order: the natural index (8 row + column) of each coefficient. */
#define ZIGZAG(X)                                                                                            \
    X(0), X(1), X(8), X(16), X(9), X(2), X(3), X(10), X(17), X(24), X(32), X(25), X(18), X(11), X(4), X(5),  \
        X(12), X(19), X(26), X(33), X(40), X(48), X(41), X(34), X(27), X(20), X(13), X(6), X(7), X(14),     \
        X(21), X(28), X(35), X(42), X(49), X(56), X(57), X(50), X(43), X(36), X(29), X(22), X(15), X(23),   \
        X(30), X(37), X(44), X(51), X(58), X(59), X(52), X(45), X(38), X(31), X(39), X(46), X(53), X(60),   \
        X(61), X(54), X(47), X(55), X(62), X(63)
#define REPEAT15(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
#define NATURAL(n) (n)
/* where a coefficient goes in the group layout of jpeg_idct.h */
#define GROUPED(n) (((n) >> 3) * 32 + ((n)&7))

/* Where the k-th coefficient goes, with 16 extra entries: a run past the
 * end writes coefficient 63, as libjpeg's own table makes it do.  The
 * *_after tables are shifted by one: the hot loop moves k past the
 * coefficient first and stores it after.  natural: libjpeg's blocks;
 * grouped: ours (cam__jpeg_huff_decode_rgb). */
static const uint8_t natural[64 + 16] = {ZIGZAG(NATURAL), REPEAT15(63), 63};
static const uint8_t natural_after[64 + 16] = {0, ZIGZAG(NATURAL), REPEAT15(63)};
static const uint8_t grouped[64 + 16] = {ZIGZAG(GROUPED), REPEAT15(GROUPED(63)), GROUPED(63)};
static const uint8_t grouped_after[64 + 16] = {0, ZIGZAG(GROUPED), REPEAT15(GROUPED(63))};

/* the signed value of `size` extra bits v (JPEG's EXTEND) */
static inline int32_t extend(uint32_t v, unsigned size) {
    return v < (1u << (size - 1)) ? (int32_t)v - (int32_t)(1u << size) + 1 : (int32_t)v;
}

/* Fills t from a DHT table; 0 when the table is not a valid prefix code
 * (libjpeg refuses those too, so this is a second check, not the first). */
static int build_table(huff_table *t, const JHUFF_TBL *h, int is_ac) {
    int code = 0, k = 0;
    memset(t->fast, KIND_SLOW << 6, sizeof t->fast);   /* every byte 0x40: kind SLOW */
    for (int len = 1; len <= 16; len++) {
        int count = h->bits[len];
        t->valoff[len] = k - code;
        if (k + count > 256) return 0;
        for (int i = 0; i < count; i++, k++, code++) {
            unsigned sym = h->huffval[k];
            t->vals[k] = (uint8_t)sym;
            if (len > FAST_BITS) continue;
            unsigned run = is_ac ? sym >> 4 : 0, size = is_ac ? sym & 15 : sym;
            if (!is_ac && size > 15) return 0;
            int shift = FAST_BITS - len;
            for (int j = 0; j < (1 << shift); j++) {
                uint32_t e;
                if (is_ac && size == 0 && run != 15) {
                    e = (uint32_t)len | KIND_EOB << 6;
                } else if (len + (int)size <= FAST_BITS) {
                    /* code and extra bits in one entry; ZRL (run 15, size 0)
                     * is 15 zeros and a zero: the same as 16 zeros */
                    int32_t v = size ? extend((uint32_t)(j >> (shift - (int)size)) & ((1u << size) - 1), size) : 0;
                    e = (uint32_t)(len + (int)size) | KIND_COEF << 6 | (run + 1) << 8 | (uint32_t)v << 16;
                } else {
                    e = (uint32_t)len | KIND_CODE << 6 | sym << 16;
                }
                t->fast[(code << shift) + j] = e;
            }
        }
        if (code > (1 << len)) return 0;   /* more codes than this length has */
        t->maxcode[len] = count ? code - 1 : -1;
        code <<= 1;
    }
    t->maxcode[17] = INT32_MAX;
    return 1;
}

/* ---- bit reader ---------------------------------------------------------------------- */

/* At least 56 bits in buf afterwards.  Reads 8 bytes at pos: the padding
 * after the data keeps that inside the buffer (see PAD_BYTES). */
#define REFILL()                                        \
    do {                                                \
        uint64_t v_;                                    \
        memcpy(&v_, pos, 8);                            \
        buf |= __builtin_bswap64(v_) >> nbits;          \
        pos += (63 - nbits) >> 3;                       \
        nbits |= 56;                                    \
    } while (0)
#define DROP(n) (buf <<= (n), nbits -= (int)(n))

/* A code longer than FAST_BITS (at most 16: needs 16 bits in buf).
 * Returns the symbol, or -1 for a bit string that is no code. */
static inline int decode_long(uint64_t *bufp, int *nbitsp, const huff_table *t) {
    for (int len = FAST_BITS + 1; len <= 16; len++) {
        int32_t code = (int32_t)(*bufp >> (64 - len));
        if (code <= t->maxcode[len]) {
            *bufp <<= len;
            *nbitsp -= len;
            return t->vals[t->valoff[len] + code];
        }
    }
    return -1;
}

/* The symbol of a code its fast entry e did not finish: kind CODE carries
 * it, kind SLOW needs the walk over the long codes.  -1: no code. */
static inline int finish_code(uint32_t e, uint64_t *bufp, int *nbitsp, const huff_table *t) {
    if (E_KIND(e) == KIND_CODE) {
        *bufp <<= E_DROP(e);
        *nbitsp -= (int)E_DROP(e);
        return (int)E_SYMBOL(e);
    }
    return decode_long(bufp, nbitsp, t);
}

/* ---- decode_mcu ---------------------------------------------------------------------- */

/* One MCU into blocks[0..n_blocks-1] (zeroed), coefficient k of a block at
 * order[k] (and order_after[k + 1]).  A failure sets d->failed. */
static inline __attribute__((always_inline)) void decode_blocks(j_decompress_ptr cinfo, huff_decoder *d,
                                                                int n_blocks, JCOEF *const *blocks,
                                                                const uint8_t *order,
                                                                const uint8_t *order_after) {
    /* after a failure the rest of the image is not decoded: the caller stops
     * reading scanlines and decodes the file again */
    if (d->failed || d->mcus_left == 0) {
        d->failed = 1;
        return;
    }
    d->mcus_left--;
    const uint8_t *pos = d->pos;
    uint64_t buf = d->buf;
    int nbits = d->nbits;
    if (d->restart_interval) {
        if (d->to_go == 0) {
            /* the interval's last byte (its padding bits are 1s) must be
             * the one before the RSTn marker: libjpeg warns about whole
             * bytes left over, and pads with zeros when it runs short */
            uint64_t used = ((uint64_t)(pos - d->data) * 8 - (uint64_t)nbits + 7) / 8;
            if (d->next_rst >= d->n_rst || used != d->rst_at[d->next_rst]) goto fail;
            pos = d->data + d->rst_at[d->next_rst++];
            buf = 0;
            nbits = 0;
            memset(d->last_dc, 0, sizeof d->last_dc);
            d->to_go = d->restart_interval;
        }
        d->to_go--;
    }
    for (int b = 0; b < n_blocks; b++) {
        JCOEF *blk = blocks[b];
        const huff_table *ac = d->ac_of[b];
        const huff_table *dc = d->dc_of[b];
        uint32_t e;
        int k = 1;

        REFILL();
        e = dc->fast[buf >> (64 - FAST_BITS)];
        int32_t diff;
        if (E_KIND(e) == KIND_COEF) {
            DROP(E_DROP(e));
            diff = E_VALUE(e);
        } else {
            int s = finish_code(e, &buf, &nbits, dc);
            if (s < 0) goto fail;
            diff = 0;
            if (s) {   /* at most 15 bits after at most 16: buf still holds them */
                diff = extend((uint32_t)(buf >> (64 - s)), (unsigned)s);
                DROP(s);
            }
            REFILL();   /* for the four codes below */
        }
        int ci = d->comp_of[b];
        int64_t dcv = (int64_t)d->last_dc[ci] + diff;
        /* a sum this large only comes from a damaged file (2047 added to it
         * a million times): leave such a file to libjpeg */
        if (dcv > INT_MAX / 2 || dcv < INT_MIN / 2) goto fail;
        d->last_dc[ci] = (int)dcv;
        blk[0] = (JCOEF)dcv;

        /* Four codes of at most FAST_BITS each per refill: 40 bits, and buf
         * holds 46 or more here and after every refill.  The refill comes
         * after the codes, not before: right after the DC code it would put
         * its load on the chain lookup -> shift -> lookup (2 % of the whole
         * decode on hot_dog.jpg). */
        for (;;) {
#define ONE_CODE()                                         \
    e = ac->fast[buf >> (64 - FAST_BITS)];                 \
    if (__builtin_expect(e & 0xC0u, 0)) goto other;       \
    DROP(E_DROP(e));                                       \
    k += (int)E_STEP(e);                                   \
    blk[order_after[k]] = (JCOEF)E_VALUE(e);               \
    if (k >= 64) goto block_end;
            ONE_CODE() ONE_CODE() ONE_CODE() ONE_CODE()
            REFILL();
            continue;
        other:
            if (E_KIND(e) == KIND_EOB) {
                DROP(E_DROP(e));
                break;
            }
            REFILL();
            int rs = finish_code(e, &buf, &nbits, ac);
            if (rs < 0) goto fail;
            int run = rs >> 4, size = rs & 15;
            if (size == 0) {
                if (run != 15) break;   /* EOB (libjpeg reads any run with size 0 so) */
                k += 16;
            } else {
                k += run;
                blk[order[k]] = (JCOEF)extend((uint32_t)(buf >> (64 - size)), (unsigned)size);
                DROP(size);
                k++;
            }
            if (k >= 64) goto block_end;
            REFILL();
        }
        continue;
    block_end:;
#undef ONE_CODE
    }
    /* bits used so far against the data: more means libjpeg would have run
     * into the marker and padded with zeros (a warning) */
    if ((uint64_t)(pos - d->data) * 8 - (uint64_t)nbits > (uint64_t)(d->end - d->data) * 8) goto fail;
    d->pos = pos;
    d->buf = buf;
    d->nbits = nbits;
    if (d->mcus_left == 0) {
        /* the last MCU: leave libjpeg's source at the marker after the
         * segment, where its own decoder would have stopped */
        struct jpeg_source_mgr *src = cinfo->src;
        src->bytes_in_buffer -= (size_t)(d->marker - src->next_input_byte);
        src->next_input_byte = d->marker;
    }
    return;
fail:
    d->failed = 1;
}

/* libjpeg's entry: its coefficient controller has zeroed the blocks */
CAM__HOT static boolean decode_mcu(j_decompress_ptr cinfo, JBLOCKROW *MCU_data) {
    JCOEF *blocks[D_MAX_BLOCKS_IN_MCU];
    int n = cinfo->blocks_in_MCU;
    for (int b = 0; b < n; b++) blocks[b] = MCU_data[b][0];
    decode_blocks(cinfo, (huff_decoder *)cinfo->entropy, n, blocks, natural, natural_after);
    return TRUE;
}

/* ours: n MCUs (at most CAM_JPEG_GROUP), MCU j's blocks at blocks_of[j]
 * (places in the components' groups) */
enum { MAX_OUR_BLOCKS = 6 };   /* 4:2:0: four luma blocks and two chroma */
CAM__HOT static void decode_group(j_decompress_ptr cinfo, int n, int n_blocks,
                                  JCOEF *const (*blocks_of)[MAX_OUR_BLOCKS]) {
    huff_decoder *d = (huff_decoder *)cinfo->entropy;
    for (int j = 0; j < n; j++) decode_blocks(cinfo, d, n_blocks, blocks_of[j], grouped, grouped_after);
}

static void start_pass(j_decompress_ptr cinfo) {
    /* single-scan files only: a second pass would be a second scan */
    ((huff_decoder *)cinfo->entropy)->failed = 1;
}

/* ---- install ------------------------------------------------------------------------- */

/* Copies the entropy segment at src without its stuffing, up to the first
 * marker other than RSTn (or the end of the input), and records where each
 * RSTn was in the copy (at most max_rst; they must come in order 0..7, 0..).
 * Returns the unstuffed length, or SIZE_MAX for RST markers out of order or
 * too many of them; *marker is where the segment ends in src. */
static size_t unstuff(const uint8_t *src, size_t n, uint8_t *dst, uint32_t *rst_at, unsigned max_rst,
                      unsigned *n_rst, const uint8_t **marker) {
    const uint8_t *p = src, *e = src + n;
    size_t o = 0;
    *n_rst = 0;
    while (p < e) {
        const uint8_t *ff = memchr(p, 0xFF, (size_t)(e - p));
        size_t run = ff ? (size_t)(ff - p) : (size_t)(e - p);
        memcpy(dst + o, p, run);
        o += run;
        p += run;
        if (!ff || p + 1 >= e) break;
        if (p[1] == 0) {
            dst[o++] = 0xFF;
            p += 2;
        } else if (p[1] >= 0xD0 && p[1] <= 0xD7) {
            if (*n_rst >= max_rst || p[1] != 0xD0 + (*n_rst & 7) || o > UINT32_MAX) return SIZE_MAX;
            rst_at[(*n_rst)++] = (uint32_t)o;
            p += 2;
        } else {
            break;   /* a marker (or fill bytes before one): the segment ends */
        }
    }
    *marker = p;
    return o;
}

int cam__jpeg_huff_install(j_decompress_ptr cinfo) {
    if (cinfo->progressive_mode || cinfo->arith_code || cinfo->data_precision != 8 ||
        cinfo->inputctl->has_multiple_scans || cinfo->comps_in_scan < 1 ||
        cinfo->blocks_in_MCU > D_MAX_BLOCKS_IN_MCU || cinfo->Se != 63 || cinfo->Ss != 0 || cinfo->Ah || cinfo->Al)
        return 0;
    struct jpeg_source_mgr *src = cinfo->src;
    if (!src || !src->next_input_byte) return 0;
    huff_decoder *d = (*cinfo->mem->alloc_small)((j_common_ptr)cinfo, JPOOL_IMAGE, sizeof *d);
    memset(d, 0, sizeof *d);
    for (int i = 0; i < cinfo->comps_in_scan; i++) {
        const jpeg_component_info *c = cinfo->cur_comp_info[i];
        int dn = c->dc_tbl_no, an = c->ac_tbl_no;
        if (dn < 0 || dn >= NUM_HUFF_TBLS || an < 0 || an >= NUM_HUFF_TBLS) return 0;
        const JHUFF_TBL *dh = cinfo->dc_huff_tbl_ptrs[dn], *ah = cinfo->ac_huff_tbl_ptrs[an];
        if (!dh || !ah) return 0;
        if (!d->dc[dn]) {
            d->dc[dn] = (*cinfo->mem->alloc_small)((j_common_ptr)cinfo, JPOOL_IMAGE, sizeof(huff_table));
            if (!build_table(d->dc[dn], dh, 0)) return 0;
        }
        if (!d->ac[an]) {
            d->ac[an] = (*cinfo->mem->alloc_small)((j_common_ptr)cinfo, JPOOL_IMAGE, sizeof(huff_table));
            if (!build_table(d->ac[an], ah, 1)) return 0;
        }
    }
    for (int b = 0; b < cinfo->blocks_in_MCU; b++) {
        int ci = cinfo->MCU_membership[b];
        if (ci < 0 || ci >= cinfo->comps_in_scan) return 0;
        d->comp_of[b] = ci;
        d->dc_of[b] = d->dc[cinfo->cur_comp_info[ci]->dc_tbl_no];
        d->ac_of[b] = d->ac[cinfo->cur_comp_info[ci]->ac_tbl_no];
    }
    size_t n = src->bytes_in_buffer;
    uint64_t mcus = (uint64_t)cinfo->MCUs_per_row * cinfo->MCU_rows_in_scan;
    if (mcus == 0 || mcus > UINT32_MAX) return 0;
    /* one RSTn between every two intervals, none after the last */
    unsigned want_rst = 0;
    uint32_t *rst_at = NULL;
    if (cinfo->restart_interval) {
        want_rst = (unsigned)((mcus - 1) / cinfo->restart_interval);
        if (want_rst > n / 2) return 0;   /* each takes 2 bytes: the file is too short */
        if (want_rst)
            rst_at = (*cinfo->mem->alloc_large)((j_common_ptr)cinfo, JPOOL_IMAGE, want_rst * sizeof *rst_at);
    }
    uint8_t *data = (*cinfo->mem->alloc_large)((j_common_ptr)cinfo, JPOOL_IMAGE, n + PAD_BYTES);
    size_t len = unstuff(src->next_input_byte, n, data, rst_at, want_rst, &d->n_rst, &d->marker);
    if (len == SIZE_MAX || d->n_rst != want_rst) return 0;
    memset(data + len, 0, PAD_BYTES);
    d->data = d->pos = data;
    d->end = data + len;
    d->rst_at = rst_at;
    d->restart_interval = d->to_go = cinfo->restart_interval;
    d->mcus_left = (unsigned)mcus;
    d->pub.start_pass = start_pass;
    d->pub.decode_mcu = decode_mcu;
    d->pub.insufficient_data = FALSE;
    cinfo->entropy = &d->pub;
    return 1;
}

int cam__jpeg_huff_status(j_decompress_ptr cinfo) {
    const huff_decoder *d = (const huff_decoder *)cinfo->entropy;
    return d->failed ? -1 : d->mcus_left == 0;
}

/* ---- our pixel path ------------------------------------------------------------------ */

/* The layouts our pixel path decodes: gray, and YCbCr with full-resolution
 * chroma (4:4:4), half width (4:2:2: h2v1) or half width and height (4:2:0:
 * h2v2).  Luma blocks per MCU: hs x vs. */
typedef struct layout {
    int nc, hs, vs;
} layout;

static int our_layout(j_decompress_ptr cinfo, layout *lo) {
    int nc = cinfo->num_components;
    if (!((nc == 3 && cinfo->jpeg_color_space == JCS_YCbCr) || (nc == 1 && cinfo->jpeg_color_space == JCS_GRAYSCALE)) ||
        cinfo->out_color_space != JCS_EXT_RGB || cinfo->comps_in_scan != nc ||
        cinfo->output_width != cinfo->image_width || cinfo->output_height != cinfo->image_height)
        return 0;
    for (int ci = 0; ci < nc; ci++) {
        const jpeg_component_info *c = &cinfo->comp_info[ci];
        if (c->DCT_scaled_size != DCTSIZE || !c->quant_table) return 0;
        if (ci > 0 && (c->h_samp_factor != 1 || c->v_samp_factor != 1)) return 0;
    }
    lo->nc = nc;
    lo->hs = nc == 1 ? 1 : cinfo->comp_info[0].h_samp_factor;
    lo->vs = nc == 1 ? 1 : cinfo->comp_info[0].v_samp_factor;
    if (!((lo->hs == 1 && lo->vs == 1) || (lo->hs == 2 && lo->vs <= 2))) return 0;
    if (cinfo->max_h_samp_factor != lo->hs || cinfo->max_v_samp_factor != lo->vs ||
        cinfo->blocks_in_MCU != lo->hs * lo->vs + nc - 1)
        return 0;
    /* libjpeg upsamples chroma rows of 1 or 2 samples by replication, not
     * with the triangle filter: those tiny images stay with it */
    if (lo->hs == 2 && cinfo->comp_info[1].downsampled_width <= 2) return 0;
    return 1;
}

/* 4:4:4 and gray: four MCUs are one group per component; their samples go
 * to RGB (32 columns x 8 rows) while all of it is in L1. */
static int decode_full(j_decompress_ptr cinfo, int nc, uint8_t *rgb, size_t pitch) {
    const huff_decoder *d = (const huff_decoder *)cinfo->entropy;
    _Alignas(64) int16_t coef[3][CAM_JPEG_GROUP_COEFS];
    _Alignas(64) int16_t quant[3][CAM_JPEG_GROUP_COEFS];
    _Alignas(64) uint8_t samples[3][8 * 32];
    JCOEF *blocks_of[CAM_JPEG_GROUP][MAX_OUR_BLOCKS];
    for (int ci = 0; ci < nc; ci++) cam__jpeg_quant_group(cinfo->comp_info[ci].quant_table->quantval, quant[ci]);
    /* block b of an MCU belongs to the scan's component MCU_membership[b],
     * which need not be the frame's component b */
    for (int b = 0; b < nc; b++) {
        int ci = cinfo->cur_comp_info[cinfo->MCU_membership[b]]->component_index;
        if (ci < 0 || ci >= nc) return 0;
        for (int j = 0; j < CAM_JPEG_GROUP; j++) blocks_of[j][b] = coef[ci] + 8 * j;
    }
    memset(coef, 0, sizeof coef);
    const unsigned w = cinfo->output_width, h = cinfo->output_height, per_row = cinfo->MCUs_per_row;
    for (unsigned my = 0; my < cinfo->MCU_rows_in_scan; my++) {
        for (unsigned mx = 0; mx < per_row; mx += CAM_JPEG_GROUP) {
            int n = per_row - mx < CAM_JPEG_GROUP ? (int)(per_row - mx) : CAM_JPEG_GROUP;
            decode_group(cinfo, n, nc, blocks_of);
            if (d->failed) return -1;
            for (int ci = 0; ci < nc; ci++) {
                cam__jpeg_idct_group(coef[ci], quant[ci], samples[ci], 32);
                memset(coef[ci], 0, sizeof coef[ci]);
            }
            unsigned x0 = mx * 8, y0 = my * 8;
            int cols = w - x0 < 32 ? (int)(w - x0) : 32;
            int rows = h - y0 < 8 ? (int)(h - y0) : 8;
            cam__jpeg_rgb_rows(samples[0], nc == 3 ? samples[1] : NULL, nc == 3 ? samples[2] : NULL, 32,
                               rgb + (size_t)y0 * pitch + 3 * (size_t)x0, pitch, rows, cols);
        }
    }
    return 1;
}

/* 4:2:2 and 4:2:0, a row of MCUs at a time (8 or 16 pixel rows) into strip
 * buffers.  The triangle filter of 4:2:0 needs the chroma rows above and
 * below a strip's, so a strip is converted once the next one is decoded:
 * two luma strips alternate, and chroma rows live in a ring of 24 (a
 * strip's 8, the row before them and the 8 after them, with room). */
enum { CHROMA_RING = 24, MARGIN = 32 };

typedef struct strips {
    uint8_t *luma;          /* 2 strips of 8 vs rows, luma_stride apart */
    uint8_t *chroma[2];     /* Cb, Cr: CHROMA_RING rows, chroma_stride apart, sample 0 at MARGIN */
    uint8_t *up[2];         /* one upsampled Cb and Cr row */
    size_t luma_stride, chroma_stride;
    int dw, dh;             /* chroma samples per row, rows */
} strips;

static uint8_t *chroma_row(const strips *st, int c, int i) {
    i = i < 0 ? 0 : i >= st->dh ? st->dh - 1 : i;   /* libjpeg repeats the edge rows */
    return st->chroma[c] + (size_t)(i % CHROMA_RING) * st->chroma_stride + MARGIN;
}

/* strip s (8 vs pixel rows, fewer at the bottom of an h-row image) to RGB */
static void convert_strip(const strips *st, int vs, unsigned s, unsigned w, unsigned h, uint8_t *rgb,
                          size_t pitch) {
    unsigned y0 = s * 8 * (unsigned)vs;
    int rows = h - y0 < 8 * (unsigned)vs ? (int)(h - y0) : 8 * vs;
    for (int r = 0; r < rows; r++) {
        unsigned y = y0 + (unsigned)r;
        const uint8_t *luma = st->luma + ((size_t)(s % 2) * 8 * (size_t)vs + (size_t)r) * st->luma_stride;
        for (int c = 0; c < 2; c++) {
            if (vs == 1) {
                cam__jpeg_upsample_h2v1(chroma_row(st, c, (int)y), st->up[c], st->dw);
            } else {
                int i = (int)(y / 2);
                cam__jpeg_upsample_h2v2(chroma_row(st, c, i), chroma_row(st, c, y % 2 ? i + 1 : i - 1), st->up[c],
                                        st->dw);
            }
        }
        cam__jpeg_rgb_rows(luma, st->up[0], st->up[1], 0, rgb + (size_t)y * pitch, 0, 1, (int)w);
    }
}

static int decode_subsampled(j_decompress_ptr cinfo, int vs, uint8_t *rgb, size_t pitch) {
    const huff_decoder *d = (const huff_decoder *)cinfo->entropy;
    const unsigned w = cinfo->output_width, h = cinfo->output_height, per_row = cinfo->MCUs_per_row;
    const unsigned chunks = (per_row + CAM_JPEG_GROUP - 1) / CAM_JPEG_GROUP;
    strips st;
    st.dw = (int)cinfo->comp_info[1].downsampled_width;
    st.dh = (int)cinfo->comp_info[1].downsampled_height;
    /* every chunk of four MCUs writes whole groups: 64 luma and 32 chroma
     * columns; the vector code reads and writes up to 64 bytes further */
    st.luma_stride = (size_t)chunks * 64 + 64;
    st.chroma_stride = MARGIN + (size_t)chunks * 32 + 64;
    size_t up_bytes = (size_t)chunks * 64 + 128;
    size_t luma_bytes = 2 * 8 * (size_t)vs * st.luma_stride, chroma_bytes = CHROMA_RING * st.chroma_stride;
    uint8_t *mem = malloc(luma_bytes + 2 * chroma_bytes + 2 * up_bytes);
    if (!mem) return 0;
    st.luma = mem;
    st.chroma[0] = mem + luma_bytes;
    st.chroma[1] = st.chroma[0] + chroma_bytes;
    st.up[0] = st.chroma[1] + chroma_bytes;
    st.up[1] = st.up[0] + up_bytes;

    _Alignas(64) int16_t luma_coef[2][2][CAM_JPEG_GROUP_COEFS];   /* [block row][left, right group] */
    _Alignas(64) int16_t chroma_coef[2][CAM_JPEG_GROUP_COEFS];
    _Alignas(64) int16_t quant[3][CAM_JPEG_GROUP_COEFS];
    JCOEF *blocks_of[CAM_JPEG_GROUP][MAX_OUR_BLOCKS];
    for (int ci = 0; ci < 3; ci++) cam__jpeg_quant_group(cinfo->comp_info[ci].quant_table->quantval, quant[ci]);
    /* an MCU's blocks: the scan's components in order, each component's
     * blocks row by row; MCU j's luma block (r, c) is luma column 2 j + c */
    int seen[3] = {0, 0, 0};
    for (int b = 0; b < cinfo->blocks_in_MCU; b++) {
        int ci = cinfo->cur_comp_info[cinfo->MCU_membership[b]]->component_index;
        if (ci < 0 || ci >= 3) {
            free(mem);
            return 0;
        }
        int k = seen[ci]++;
        for (int j = 0; j < CAM_JPEG_GROUP; j++) {
            int col = 2 * j + k % 2;
            blocks_of[j][b] = ci ? chroma_coef[ci - 1] + 8 * j : luma_coef[k / 2][col / 4] + 8 * (col % 4);
        }
    }
    memset(luma_coef, 0, sizeof luma_coef);
    memset(chroma_coef, 0, sizeof chroma_coef);
    for (unsigned my = 0; my < cinfo->MCU_rows_in_scan; my++) {
        uint8_t *luma = st.luma + (size_t)(my % 2) * 8 * (size_t)vs * st.luma_stride;
        for (unsigned q = 0; q < chunks; q++) {
            unsigned mx = q * CAM_JPEG_GROUP;
            int n = per_row - mx < CAM_JPEG_GROUP ? (int)(per_row - mx) : CAM_JPEG_GROUP;
            decode_group(cinfo, n, cinfo->blocks_in_MCU, blocks_of);
            if (d->failed) {
                free(mem);
                return -1;
            }
            for (int r = 0; r < vs; r++)
                for (int g = 0; g < 2; g++) {
                    cam__jpeg_idct_group(luma_coef[r][g], quant[0], luma + (size_t)8 * r * st.luma_stride + 64 * q + 32 * g,
                                         st.luma_stride);
                    memset(luma_coef[r][g], 0, sizeof luma_coef[r][g]);
                }
            for (int c = 0; c < 2; c++) {
                uint8_t *dst = st.chroma[c] + (size_t)((8 * my) % CHROMA_RING) * st.chroma_stride + MARGIN + 32 * q;
                cam__jpeg_idct_group(chroma_coef[c], quant[1 + c], dst, st.chroma_stride);
                memset(chroma_coef[c], 0, sizeof chroma_coef[c]);
            }
        }
        /* the edge samples again left and right of each new chroma row */
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < 8; i++) {
                uint8_t *row = st.chroma[c] + (size_t)((8 * my + (unsigned)i) % CHROMA_RING) * st.chroma_stride + MARGIN;
                row[-1] = row[0];
                row[st.dw] = row[st.dw - 1];
            }
        /* 4:2:2 converts this strip now, 4:2:0 the one before */
        if (vs == 1 || my > 0) convert_strip(&st, vs, vs == 1 ? my : my - 1, w, h, rgb, pitch);
    }
    if (vs == 2) convert_strip(&st, vs, cinfo->MCU_rows_in_scan - 1, w, h, rgb, pitch);
    free(mem);
    return 1;
}

/* Decodes the whole scan into rgb with our IDCT and colour conversion:
 * libjpeg's coefficient controller, IDCT, upsampler and colour converter
 * are skipped, with a function call and a thread-local lookup per block. */
int cam__jpeg_huff_decode_rgb(j_decompress_ptr cinfo, uint8_t *rgb, size_t pitch) {
    const huff_decoder *d = (const huff_decoder *)cinfo->entropy;
    layout lo;
    if (!cam__jpeg_idct_available() || d->pub.decode_mcu != decode_mcu || d->failed ||
        d->mcus_left != (uint64_t)cinfo->MCUs_per_row * cinfo->MCU_rows_in_scan || !our_layout(cinfo, &lo))
        return 0;
    int rc = lo.hs == 1 ? decode_full(cinfo, lo.nc, rgb, pitch) : decode_subsampled(cinfo, lo.vs, rgb, pitch);
    if (rc <= 0) return rc;
    if (cam__jpeg_huff_status(cinfo) != 1) return -1;
    /* leave libjpeg as its own decoder would at the end of the scan, so
     * that jpeg_finish_decompress() reads on to EOI (and warns about
     * anything odd there) */
    (*cinfo->inputctl->finish_input_pass)(cinfo);
    cinfo->output_scanline = cinfo->output_height;
    return 1;
}
