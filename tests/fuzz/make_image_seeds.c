/* make_image_seeds.c: writes the image fuzzer's seed corpus: small JPEGs
 * (baseline in every subsampling, progressive, grayscale, CMYK/YCCK with
 * its Adobe marker, EXIF orientations in both byte orders) and PNGs (every
 * colour type and bit depth, palette with tRNS, gray and RGB tRNS,
 * interlaced), all a few KB.
 *   cc -O2 tests/fuzz/make_image_seeds.c -o /tmp/image_seeds -lturbojpeg -lpng -lz && \
 *   /tmp/image_seeds tests/fuzz/corpus/image */
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

static const char *g_dir = ".";

static void save(const char *name, const uint8_t *p, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

/* smooth colours with an edge, so every component and quadrant differs */
static uint8_t *pixels(int w, int h, int ch) {
    uint8_t *p = malloc((size_t)w * h * ch);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++)
                p[((size_t)y * w + x) * ch + c] = (uint8_t)((x * 255 / w) * (c != 1) + (y * 255 / h) * (c != 0) +
                                                            (x > w / 2) * 60 * (c == 2) + c * 40);
    return p;
}

/* ---- JPEG ------------------------------------------------------------------ */

static void jpeg(const char *name, int w, int h, int pf, int ss, int flags, int orientation, int le) {
    int ch = tjPixelSize[pf];
    uint8_t *pix = pixels(w, h, ch);
    tjhandle tj = tjInitCompress();
    unsigned char *out = NULL;
    unsigned long n = 0;
    if (tjCompress2(tj, pix, w, 0, h, pf, &out, &n, ss, 80, flags)) {
        fprintf(stderr, "%s: %s\n", name, tjGetErrorStr2(tj));
        exit(1);
    }
    if (!orientation) {
        save(name, out, n);
    } else {
        /* APP1 Exif with IFD0 {Orientation} right after SOI */
        uint8_t app[64], *t = app + 10;
        size_t tn = 0;
#define W16(v) (le ? (t[tn] = (uint8_t)(v), t[tn + 1] = (uint8_t)((v) >> 8)) : (t[tn] = (uint8_t)((v) >> 8), t[tn + 1] = (uint8_t)(v)), tn += 2)
        t[tn++] = le ? 'I' : 'M';
        t[tn++] = le ? 'I' : 'M';
        W16(42); if (le) { W16(8); W16(0); } else { W16(0); W16(8); }
        W16(1);
        W16(0x0112); W16(3); if (le) { W16(1); W16(0); } else { W16(0); W16(1); }
        W16(orientation); W16(0);
        W16(0); W16(0);
#undef W16
        size_t seg = 2 + 6 + tn;
        app[0] = 0xFF; app[1] = 0xE1; app[2] = (uint8_t)(seg >> 8); app[3] = (uint8_t)seg;
        memcpy(app + 4, "Exif\0\0", 6);
        size_t total = n + 2 + seg;
        uint8_t *b = malloc(total);
        memcpy(b, out, 2);
        memcpy(b + 2, app, 2 + seg);
        memcpy(b + 4 + seg, out + 2, n - 2);
        save(name, b, total);
        free(b);
    }
    tjFree(out);
    tjDestroy(tj);
    free(pix);
}

/* ---- PNG ---------------------------------------------------------------------- */

typedef struct { uint8_t *p; size_t n, cap; } membuf;
static void mb_write(png_structp png, png_bytep d, size_t n) {
    membuf *m = png_get_io_ptr(png);
    if (m->n + n > m->cap) {
        m->cap = (m->n + n) * 2;
        m->p = realloc(m->p, m->cap);
    }
    memcpy(m->p + m->n, d, n);
    m->n += n;
}
static void mb_flush(png_structp png) { (void)png; }

static void png(const char *name, int w, int h, int color, int depth, int interlace, int trns) {
    static membuf m;
    memset(&m, 0, sizeof m);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "%s: libpng error\n", name);
        exit(1);
    }
    png_set_write_fn(png, &m, mb_write, mb_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    int ch = color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_PALETTE ? 1
             : color == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : color == PNG_COLOR_TYPE_RGB ? 3 : 4;
    png_color pal[256];
    uint8_t alpha[256];
    int npal = 1 << (depth < 8 ? depth : 8);
    if (color == PNG_COLOR_TYPE_PALETTE) {
        for (int i = 0; i < npal; i++) {
            pal[i] = (png_color){(uint8_t)(i * 37), (uint8_t)(i * 91), (uint8_t)(255 - i)};
            alpha[i] = (uint8_t)(i * 255 / npal);
        }
        png_set_PLTE(png, info, pal, npal);
        if (trns) png_set_tRNS(png, info, alpha, npal, NULL);
    } else if (trns) {
        png_color_16 tc = {0, 1, 2, 3, 1};
        png_set_tRNS(png, info, NULL, 0, &tc);
    }
    png_write_info(png, info);
    uint8_t *pix = pixels(w, h, ch * 2);
    size_t rowbytes = png_get_rowbytes(png, info);
    uint8_t *row = malloc(rowbytes);
    int passes = png_set_interlace_handling(png);
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < h; y++) {
            /* pack samples at the file's bit depth from the 8-bit pixels */
            memset(row, 0, rowbytes);
            for (int i = 0; i < w * ch; i++) {
                unsigned v = pix[(size_t)y * w * ch * 2 + i];
                if (color == PNG_COLOR_TYPE_PALETTE) v %= (unsigned)npal;
                else if (depth < 8) v >>= 8 - depth;
                if (depth == 16) {
                    row[2 * i] = (uint8_t)v;
                    row[2 * i + 1] = (uint8_t)(v * 7);
                } else if (depth == 8) {
                    row[i] = (uint8_t)v;
                } else {
                    int per = 8 / depth;
                    row[i / per] |= (uint8_t)(v << (8 - depth * (i % per + 1)));
                }
            }
            png_write_row(png, row);
        }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    save(name, m.p, m.n);
    free(m.p);
    free(row);
    free(pix);
}

int main(int argc, char **argv) {
    if (argc > 1) g_dir = argv[1];
    jpeg("baseline_444.jpg", 24, 16, TJPF_RGB, TJSAMP_444, 0, 0, 0);
    jpeg("baseline_422.jpg", 24, 16, TJPF_RGB, TJSAMP_422, 0, 0, 0);
    jpeg("baseline_420.jpg", 33, 17, TJPF_RGB, TJSAMP_420, 0, 0, 0);
    jpeg("baseline_440.jpg", 24, 16, TJPF_RGB, TJSAMP_440, 0, 0, 0);
    jpeg("baseline_411.jpg", 40, 16, TJPF_RGB, TJSAMP_411, 0, 0, 0);
    jpeg("progressive_420.jpg", 32, 24, TJPF_RGB, TJSAMP_420, TJFLAG_PROGRESSIVE, 0, 0);
    jpeg("progressive_gray.jpg", 24, 16, TJPF_GRAY, TJSAMP_GRAY, TJFLAG_PROGRESSIVE, 0, 0);
    jpeg("gray.jpg", 24, 16, TJPF_GRAY, TJSAMP_GRAY, 0, 0, 0);
    jpeg("cmyk_ycck_adobe.jpg", 24, 16, TJPF_CMYK, TJSAMP_444, 0, 0, 0);
    jpeg("cmyk_progressive.jpg", 24, 16, TJPF_CMYK, TJSAMP_420, TJFLAG_PROGRESSIVE, 0, 0);
    jpeg("exif_o6_le.jpg", 32, 16, TJPF_RGB, TJSAMP_420, 0, 6, 1);
    jpeg("exif_o8_be.jpg", 32, 16, TJPF_RGB, TJSAMP_420, 0, 8, 0);
    jpeg("exif_o3_le.jpg", 32, 16, TJPF_RGB, TJSAMP_444, 0, 3, 1);
    jpeg("exif_o5_be_progressive.jpg", 32, 16, TJPF_RGB, TJSAMP_420, TJFLAG_PROGRESSIVE, 5, 0);
    jpeg("exif_o7_le.jpg", 32, 16, TJPF_RGB, TJSAMP_422, 0, 7, 1);
    jpeg("large_scaled.jpg", 300, 200, TJPF_RGB, TJSAMP_420, 0, 6, 1);

    png("gray1.png", 13, 11, PNG_COLOR_TYPE_GRAY, 1, 0, 0);
    png("gray2.png", 13, 11, PNG_COLOR_TYPE_GRAY, 2, 0, 0);
    png("gray4_trns.png", 13, 11, PNG_COLOR_TYPE_GRAY, 4, 0, 1);
    png("gray8.png", 13, 11, PNG_COLOR_TYPE_GRAY, 8, 0, 0);
    png("gray16_interlaced.png", 13, 11, PNG_COLOR_TYPE_GRAY, 16, 1, 0);
    png("gray_alpha8.png", 13, 11, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, 0);
    png("gray_alpha16.png", 13, 11, PNG_COLOR_TYPE_GRAY_ALPHA, 16, 0, 0);
    png("rgb8.png", 13, 11, PNG_COLOR_TYPE_RGB, 8, 0, 0);
    png("rgb8_trns_interlaced.png", 13, 11, PNG_COLOR_TYPE_RGB, 8, 1, 1);
    png("rgb16.png", 13, 11, PNG_COLOR_TYPE_RGB, 16, 0, 0);
    png("rgba8_interlaced.png", 13, 11, PNG_COLOR_TYPE_RGBA, 8, 1, 0);
    png("rgba16.png", 13, 11, PNG_COLOR_TYPE_RGBA, 16, 0, 0);
    png("palette1.png", 13, 11, PNG_COLOR_TYPE_PALETTE, 1, 0, 0);
    png("palette2_trns.png", 13, 11, PNG_COLOR_TYPE_PALETTE, 2, 0, 1);
    png("palette4_interlaced.png", 13, 11, PNG_COLOR_TYPE_PALETTE, 4, 1, 0);
    png("palette8_trns.png", 13, 11, PNG_COLOR_TYPE_PALETTE, 8, 0, 1);
    return 0;
}
