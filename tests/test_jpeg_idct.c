/* test_jpeg_idct.c: our IDCT and colour conversion (core/jpeg_idct.c) and
 * the pixel path of core/jpeg_huff.c that uses them.
 *
 * Three links, each checked: the vector code equals the C reference (random
 * and extreme blocks; every Y, Cb, Cr triple); the reference equals
 * libjpeg-turbo (files written coefficient by coefficient, with coefficients
 * and 16-bit quantization tables that overflow 16 bits, decoded by
 * TurboJPEG); and the whole path equals TurboJPEG on those files and says
 * which files it decoded itself. */
#include "check.h"

#include <stdint.h>
#include <turbojpeg.h>

#include "image.h"
#include "jpeg_huff.h"
#include "jpeg_idct.h"

static uint32_t rng = 2463534242u;
static uint32_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}
static int between(int lo, int hi) { return lo + (int)(next() % (uint32_t)(hi - lo + 1)); }

/* a block of one of the kinds that matter: a photo's (small values, most
 * zero), anything at all, DC only (the shortcut, with DC terms that wrap),
 * or DC plus a single AC term */
static void random_block(int16_t *coef, size_t stride, int kind) {
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 8; c++) {
            int v = 0;
            if (kind == 0) v = next() % 4 == 0 ? between(-40, 40) : 0;
            if (kind == 1) v = (int16_t)next();
            coef[r * stride + c] = (int16_t)v;
        }
    if (kind >= 2) coef[0] = (int16_t)next();
    if (kind == 3) coef[between(1, 7) * stride + between(0, 7)] = (int16_t)between(-2000, 2000);
}

/* steps of a photo's table, 16-bit ones up to `big`, or 8 everywhere */
static void random_quant(uint16_t *q, int kind, int big) {
    for (int i = 0; i < 64; i++) q[i] = (uint16_t)(kind == 0 ? between(1, 255) : kind == 1 ? between(1, big) : 8);
}

TEST(idct_vector_equals_reference) {
    if (!cam__jpeg_idct_available()) SKIP("no AVX-512 VBMI on this CPU (or CAMSERVE_NO_AVX512): libjpeg's IDCT runs");
    _Alignas(64) int16_t coef[CAM_JPEG_GROUP_COEFS];
    int16_t qgroup[CAM_JPEG_GROUP_COEFS];
    uint8_t got[8 * 32], want[8 * 32];
    long shortcut_wraps = 0;
    for (int iter = 0; iter < 20000; iter++) {
        uint16_t q[64];
        random_quant(q, iter % 3, 65535);
        cam__jpeg_quant_group(q, qgroup);
        for (int j = 0; j < CAM_JPEG_GROUP; j++) {
            int kind = iter % 7 == 0 ? (int)(next() % 4) : iter % 4;
            random_block(coef + 8 * j, 32, kind);
            int dc = (int16_t)(uint16_t)(coef[8 * j] * q[0]);
            shortcut_wraps += kind == 2 && (dc > 8191 || dc < -8192);
            cam__jpeg_idct_ref(coef + 8 * j, 32, q, want + 8 * j, 32);
        }
        cam__jpeg_idct_group(coef, qgroup, got, 32);
        for (int i = 0; i < 8 * 32; i++)
            CHECK(got[i] == want[i], "iteration %d: row %d column %d (block %d): %d, reference %d", iter, i / 32,
                  i % 32, i % 32 / 8, got[i], want[i]);
    }
    CHECK(shortcut_wraps > 100, "only %ld DC-only blocks whose DC wraps", shortcut_wraps);
}

TEST(rgb_vector_equals_reference) {
    if (!cam__jpeg_idct_available()) SKIP("no AVX-512 VBMI on this CPU (or CAMSERVE_NO_AVX512): libjpeg's converter runs");
    uint8_t y[32], cb[32], cr[32], got[96 + 8], want[96];
    /* every triple: Cr runs through 32 lanes at a time */
    for (int Y = 0; Y < 256; Y++)
        for (int U = 0; U < 256; U++)
            for (int V0 = 0; V0 < 256; V0 += 32) {
                for (int i = 0; i < 32; i++) {
                    y[i] = (uint8_t)Y;
                    cb[i] = (uint8_t)U;
                    cr[i] = (uint8_t)(V0 + i);
                }
                cam__jpeg_rgb_rows(y, cb, cr, 0, got, 0, 1, 32);
                cam__jpeg_rgb_ref(y, cb, cr, want, 32);
                if (memcmp(got, want, 96) != 0)
                    for (int i = 0; i < 96; i++)
                        CHECK(got[i] == want[i], "Y %d Cb %d Cr %d channel %d: %d, reference %d", Y, U, V0 + i / 3,
                              i % 3, got[i], want[i]);
            }
    /* short rows write 3 n bytes and not one more; gray too */
    for (int n = 1; n <= 32; n++)
        for (int gray = 0; gray < 2; gray++) {
            for (int i = 0; i < 32; i++) {
                y[i] = (uint8_t)next();
                cb[i] = (uint8_t)next();
                cr[i] = (uint8_t)next();
            }
            memset(got, 0xA5, sizeof got);
            cam__jpeg_rgb_rows(y, gray ? NULL : cb, gray ? NULL : cr, 0, got, 0, 1, n);
            cam__jpeg_rgb_ref(y, gray ? NULL : cb, gray ? NULL : cr, want, n);
            CHECK(memcmp(got, want, 3 * (size_t)n) == 0, "n %d gray %d: pixels differ", n, gray);
            for (size_t i = 3 * (size_t)n; i < sizeof got; i++)
                CHECK(got[i] == 0xA5, "n %d gray %d: byte %zu written", n, gray, i);
        }
    /* several rows: input rows in_stride apart, output rows pitch apart,
     * nothing written between them */
    enum { ROWS = 5, IN_STRIDE = 40, PITCH = 100, N = 27 };
    uint8_t planes[3][ROWS * IN_STRIDE], out[ROWS * PITCH], row[3 * N];
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < ROWS * IN_STRIDE; i++) planes[c][i] = (uint8_t)next();
    memset(out, 0xA5, sizeof out);
    cam__jpeg_rgb_rows(planes[0], planes[1], planes[2], IN_STRIDE, out, PITCH, ROWS, N);
    for (int r = 0; r < ROWS; r++) {
        cam__jpeg_rgb_ref(planes[0] + r * IN_STRIDE, planes[1] + r * IN_STRIDE, planes[2] + r * IN_STRIDE, row, N);
        CHECK(memcmp(out + r * PITCH, row, sizeof row) == 0, "row %d of %d differs", r, ROWS);
        for (int i = 3 * N; i < PITCH; i++) CHECK(out[r * PITCH + i] == 0xA5, "row %d: byte %d written", r, i);
    }
}

/* ---- files written coefficient by coefficient -------------------------------------------- */

typedef struct coef_file {
    int w, h, comps;
    int16_t *coef[3];   /* per component: blocks in raster order, natural order inside */
    int bw, bh;         /* blocks per row and column */
    uint16_t quant[3][64];
    unsigned char *jpeg;
    unsigned long n;
} coef_file;

/* A 4:4:4 (or gray) JPEG with the given coefficients: libjpeg's transcoding
 * API writes them as they are.  Baseline Huffman coding limits AC terms to
 * 10 bits and DC differences to 11; quantization steps over 255 make libjpeg
 * write 16-bit tables (an extended-sequential frame, which decodes the same
 * way). */
static void quiet(j_common_ptr c) { (void)c; }   /* 16-bit tables: "too coarse for baseline" */

static void write_coef_file(coef_file *f) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    e.output_message = quiet;
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &f->jpeg, &f->n);
    c.image_width = (JDIMENSION)f->w;
    c.image_height = (JDIMENSION)f->h;
    c.input_components = f->comps;
    c.in_color_space = f->comps == 1 ? JCS_GRAYSCALE : JCS_YCbCr;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, f->comps == 1 ? JCS_GRAYSCALE : JCS_YCbCr);
    for (int ci = 0; ci < f->comps; ci++) {
        c.comp_info[ci].h_samp_factor = c.comp_info[ci].v_samp_factor = 1;
        c.comp_info[ci].quant_tbl_no = ci;
        unsigned int basic[64];
        for (int i = 0; i < 64; i++) basic[i] = f->quant[ci][i];
        /* scale 100, force_baseline FALSE: the steps go in unchanged */
        jpeg_add_quant_table(&c, ci, basic, 100, FALSE);
    }
    jvirt_barray_ptr arrays[3];
    for (int ci = 0; ci < f->comps; ci++)
        arrays[ci] = (*c.mem->request_virt_barray)((j_common_ptr)&c, JPOOL_IMAGE, FALSE, (JDIMENSION)f->bw,
                                                   (JDIMENSION)f->bh, 1);
    jpeg_write_coefficients(&c, arrays);
    for (int ci = 0; ci < f->comps; ci++)
        for (int by = 0; by < f->bh; by++) {
            JBLOCKARRAY row = (*c.mem->access_virt_barray)((j_common_ptr)&c, arrays[ci], (JDIMENSION)by, 1, TRUE);
            for (int bx = 0; bx < f->bw; bx++)
                memcpy(row[0][bx], f->coef[ci] + ((size_t)by * f->bw + bx) * 64, 64 * sizeof(JCOEF));
        }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
}

/* The pixels of f by the C reference: each block's IDCT, then colour. */
static uint8_t *reference_pixels(const coef_file *f) {
    int pw = f->bw * 8, ph = f->bh * 8;
    uint8_t *plane[3], *rgb = malloc((size_t)f->w * f->h * 3);
    for (int ci = 0; ci < f->comps; ci++) {
        plane[ci] = malloc((size_t)pw * ph);
        for (int by = 0; by < f->bh; by++)
            for (int bx = 0; bx < f->bw; bx++)
                cam__jpeg_idct_ref(f->coef[ci] + ((size_t)by * f->bw + bx) * 64, 8, f->quant[ci],
                                   plane[ci] + (size_t)by * 8 * pw + bx * 8, (size_t)pw);
    }
    for (int y = 0; y < f->h; y++) {
        size_t o = (size_t)y * pw;
        cam__jpeg_rgb_ref(plane[0] + o, f->comps == 3 ? plane[1] + o : NULL, f->comps == 3 ? plane[2] + o : NULL,
                          rgb + (size_t)y * f->w * 3, f->w);
    }
    for (int ci = 0; ci < f->comps; ci++) free(plane[ci]);
    return rgb;
}

/* libjpeg with our Huffman decoder and cam__jpeg_huff_decode_rgb, as
 * cam__jpeg_fast_decompress runs them; returns what decode_rgb said (or -2
 * when libjpeg failed) */
static int our_path(const unsigned char *p, unsigned long n, uint8_t *rgb, int w) {
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr e;
    d.err = jpeg_std_error(&e);
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, p, n);
    jpeg_read_header(&d, TRUE);
    d.out_color_space = JCS_EXT_RGB;
    d.dct_method = JDCT_ISLOW;
    jpeg_start_decompress(&d);
    int rc = cam__jpeg_huff_install(&d) ? cam__jpeg_huff_decode_rgb(&d, rgb, (size_t)w * 3) : -2;
    if (rc == 1) jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    return rc;
}

static void free_coef_file(coef_file *f) {
    for (int ci = 0; ci < f->comps; ci++) free(f->coef[ci]);
    free(f->jpeg);
}

/* Sizes around the 8-pixel blocks and the 32-pixel groups, coefficients
 * from photo-like to extreme, quantization from ordinary to 16-bit: the C
 * reference, TurboJPEG and our path agree on every pixel. */
TEST(extreme_files_equal_turbojpeg) {
    static const int sizes[][2] = {{1, 1}, {8, 8}, {9, 7}, {31, 17}, {32, 8}, {33, 40}, {100, 23}, {257, 64}};
    tjhandle tj = tjInitDecompress();
    int files = 0, ours = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int variant = 0; variant < 12; variant++) {
            coef_file f = {0};
            f.w = sizes[si][0];
            f.h = sizes[si][1];
            f.comps = variant % 4 == 3 ? 1 : 3;
            f.bw = (f.w + 7) / 8;
            f.bh = (f.h + 7) / 8;
            int qkind = variant % 3, ckind = variant / 3 % 4;
            for (int ci = 0; ci < f.comps; ci++) {
                random_quant(f.quant[ci], qkind, 32767);   /* libjpeg's writer caps steps there */
                f.coef[ci] = calloc((size_t)f.bw * f.bh, 64 * sizeof(int16_t));
                for (int b = 0; b < f.bw * f.bh; b++) {
                    int16_t *blk = f.coef[ci] + (size_t)b * 64;
                    int kind = ckind == 3 ? (int)(next() % 4) : ckind;
                    /* what baseline Huffman can carry */
                    for (int i = 1; i < 64; i++)
                        blk[i] = (int16_t)(kind == 0 ? (next() % 4 == 0 ? between(-40, 40) : 0)
                                           : kind == 1 ? between(-1023, 1023) : 0);
                    blk[0] = (int16_t)between(-1023, 1023);
                    if (kind == 3) blk[between(1, 63)] = (int16_t)between(-1023, 1023);
                }
            }
            write_coef_file(&f);
            size_t bytes = (size_t)f.w * f.h * 3;
            uint8_t *tjpx = malloc(bytes), *mine = malloc(bytes + 64), *ref = reference_pixels(&f);
            CHECK(tjDecompress2(tj, f.jpeg, f.n, tjpx, f.w, f.w * 3, f.h, TJPF_RGB, 0) == 0, "%dx%d variant %d: %s",
                  f.w, f.h, variant, tjGetErrorStr2(tj));
            for (size_t i = 0; i < bytes; i++)
                CHECK(ref[i] == tjpx[i], "%dx%d, %d components, quant kind %d, coefficient kind %d: pixel %zu "
                      "channel %zu: reference %d, TurboJPEG %d", f.w, f.h, f.comps, qkind, ckind, i / 3 % f.w, i % 3,
                      ref[i], tjpx[i]);
            memset(mine, 0xA5, bytes + 64);
            int rc = our_path(f.jpeg, f.n, mine, f.w);
            if (cam__jpeg_idct_available()) {
                CHECK(rc == 1, "%dx%d variant %d: our path returned %d", f.w, f.h, variant, rc);
                CHECK(memcmp(mine, tjpx, bytes) == 0, "%dx%d variant %d: our pixels differ", f.w, f.h, variant);
                for (size_t i = bytes; i < bytes + 64; i++) CHECK(mine[i] == 0xA5, "wrote past the image");
                ours++;
            } else {
                CHECK(rc == 0, "%dx%d variant %d: our path returned %d without the vector code", f.w, f.h, variant,
                      rc);
            }
            /* and through the public decoder */
            cam_image img;
            cam_image_info info;
            char err[256];
            CHECK(cam_image_decode(f.jpeg, f.n, NULL, &img, &info, err, sizeof err) == CAM_OK, "%s", err);
            CHECK(memcmp(img.rgb, tjpx, bytes) == 0, "%dx%d variant %d: cam_image_decode differs", f.w, f.h,
                  variant);
            cam_image_free(&img);
            free(tjpx);
            free(mine);
            free(ref);
            free_coef_file(&f);
            files++;
        }
    tjDestroy(tj);
    CHECK(files == 96, "%d files", files);
    printf("# %d files, %d through our pixel path\n", files, ours);
}

/* A photo-like file written by libjpeg from pixels (noise over a gradient,
 * so that every sample differs): luma sampling hs x vs, chroma 1x1. */
static unsigned char *write_pixels(int w, int h, int comps, int hs, int vs, int quality, int restart,
                                   unsigned long *n) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned char *out = NULL;
    uint8_t *px = malloc((size_t)w * h * comps);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * comps; x++) px[(size_t)y * w * comps + x] = (uint8_t)(x * 3 + y * 5 + next() % 64);
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, n);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    c.restart_interval = (unsigned)restart;
    if (comps == 3) {
        c.comp_info[0].h_samp_factor = hs;
        c.comp_info[0].v_samp_factor = vs;
    }
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = px + (size_t)c.next_scanline * w * comps;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(px);
    return out;
}

/* Which files our path takes, and that it decodes them as TurboJPEG does:
 * 4:4:4, gray, 4:2:2 and 4:2:0 at every size around the blocks, MCUs and
 * 32-column groups (the upsampling filter's edges, the strips' last rows),
 * with and without restart markers.  4:4:0, 4:1:1 and chroma rows of one or
 * two samples (libjpeg replicates those instead of filtering) stay with
 * libjpeg's pipeline and say so by 0. */
TEST(layouts_equal_turbojpeg) {
    if (!cam__jpeg_idct_available()) SKIP("no AVX-512 VBMI on this CPU (or CAMSERVE_NO_AVX512)");
    static const int samp[][3] = {{1, 1, 1}, {0, 1, 1}, {0, 2, 1}, {0, 2, 2}, {0, 1, 2}, {0, 4, 1}};
    static const int sizes[] = {1, 2, 4, 5, 6, 7, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 100, 129};
    tjhandle tj = tjInitDecompress();
    int ours = 0, files = 0;
    for (int si = 0; si < 6; si++)
        for (size_t wi = 0; wi < sizeof sizes / sizeof sizes[0]; wi++)
            for (int variant = 0; variant < 2; variant++) {
                int w = sizes[wi], h = sizes[(wi * 7 + 3 + (size_t)variant * 5) % (sizeof sizes / sizeof sizes[0])];
                int comps = samp[si][0] ? 1 : 3, hs = samp[si][1], vs = samp[si][2];
                unsigned long n = 0;
                unsigned char *jpeg = write_pixels(w, h, comps, hs, vs, variant ? 95 : 60, variant ? 2 : 0, &n);
                size_t bytes = (size_t)w * h * 3;
                uint8_t *want = malloc(bytes), *got = malloc(bytes + 64);
                CHECK(tjDecompress2(tj, jpeg, n, want, w, w * 3, h, TJPF_RGB, 0) == 0, "%s", tjGetErrorStr2(tj));
                memset(got, 0xA5, bytes + 64);
                int rc = our_path(jpeg, n, got, w);
                free(jpeg);
                int chroma_w = (w + 1) / 2;
                int expect = hs == 1 && vs == 1 ? 1 : hs == 2 && chroma_w > 2 ? 1 : 0;
                CHECK(rc == expect, "%dx%d, %d components, %dx%d: our path returned %d, expected %d", w, h, comps, hs,
                      vs, rc, expect);
                if (rc == 1) {
                    for (size_t i = 0; i < bytes; i++)
                        CHECK(got[i] == want[i], "%dx%d, %dx%d, quality %d: pixel (%zu, %zu) channel %zu: %d, TurboJPEG "
                              "%d", w, h, hs, vs, variant ? 95 : 60, i / 3 % (size_t)w, i / 3 / (size_t)w, i % 3,
                              got[i], want[i]);
                    for (size_t i = bytes; i < bytes + 64; i++) CHECK(got[i] == 0xA5, "wrote past the image");
                    ours++;
                }
                free(want);
                free(got);
                files++;
            }
    tjDestroy(tj);
    printf("# %d files, %d through our pixel path\n", files, ours);
    CHECK(ours > files / 2, "only %d of %d files", ours, files);
}

/* the upsamplers against their reference, on rows with their edge samples */
TEST(upsample_vector_equals_reference) {
    if (!cam__jpeg_idct_available()) SKIP("no AVX-512 VBMI on this CPU (or CAMSERVE_NO_AVX512)");
    enum { MAXW = 200, PAD = 64 };
    uint8_t s0[PAD + MAXW + PAD], s1[PAD + MAXW + PAD], got[2 * MAXW + 2 * PAD], want[2 * MAXW];
    for (int dw = 3; dw <= MAXW; dw++)
        for (int v = 0; v < 2; v++) {
            for (size_t i = 0; i < sizeof s0; i++) {
                s0[i] = (uint8_t)next();
                s1[i] = (uint8_t)(dw % 3 == 0 ? 255 : next());   /* and the largest sums */
            }
            uint8_t *a = s0 + PAD, *b = s1 + PAD;
            a[-1] = a[0];
            a[dw] = a[dw - 1];
            b[-1] = b[0];
            b[dw] = b[dw - 1];
            if (dw % 3 == 0) memset(a - 1, 255, (size_t)dw + 2);
            if (v) cam__jpeg_upsample_h2v2(a, b, got, dw);
            else cam__jpeg_upsample_h2v1(a, got, dw);
            cam__jpeg_upsample_ref(a, v ? b : NULL, want, dw);
            CHECK(memcmp(got, want, 2 * (size_t)dw) == 0, "dw %d, h2v%d: outputs differ", dw, v + 1);
        }
}

int main(void) {
    RUN(idct_vector_equals_reference);
    RUN(rgb_vector_equals_reference);
    RUN(extreme_files_equal_turbojpeg);
    RUN(layouts_equal_turbojpeg);
    RUN(upsample_vector_equals_reference);
    return check_summary();
}
