/* test_image.c: image decoding (core/image*.c, core/exif.c).
 *
 * Every JPEG and PNG variant is generated here, with TurboJPEG's encoder and
 * libpng's writer, from synthetic pixels whose decoded values we know:
 * quadrants of distinct colours for the lossy JPEG, exact per-sample
 * expectations for PNG.  Then: EXIF orientations against the EXIF
 * definitions, DCT scale choices, truncation at every length, random
 * corruption (and that nothing reaches stderr), size limits and their
 * speed, the real photos of ../shared, and the decode cost of a scaled
 * 4000x3000 JPEG. */
#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <png.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <zlib.h>

#include "camserve.h"
#include "image.h"
#include "timing.h"

/* ---- synthetic pixels --------------------------------------------------- */

enum { Q_TL, Q_TR, Q_BL, Q_BR };
static const uint8_t QCOLOR[4][3] = {
    {220, 30, 30},   /* top-left: red */
    {30, 200, 40},   /* top-right: green */
    {30, 40, 220},   /* bottom-left: blue */
    {235, 220, 40},  /* bottom-right: yellow */
};
static const char *QNAME[4] = {"top-left", "top-right", "bottom-left", "bottom-right"};

static uint8_t *quadrants(int w, int h) {
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int q = (y >= h / 2) * 2 + (x >= w / 2);
            memcpy(p + ((size_t)y * w + x) * 3, QCOLOR[q], 3);
        }
    return p;
}

static const uint8_t *px(const cam_image *im, int x, int y) { return im->rgb + (size_t)y * im->stride + 3 * (size_t)x; }

static int near(const uint8_t *a, const uint8_t *b, int tol) {
    for (int c = 0; c < 3; c++)
        if (abs((int)a[c] - (int)b[c]) > tol) return 0;
    return 1;
}

/* Which quadrant colour the centre of upright quadrant q shows (-1: none). */
static int quadrant_at(const cam_image *im, int q) {
    int x = (q & 1) ? im->width * 3 / 4 : im->width / 4, y = (q & 2) ? im->height * 3 / 4 : im->height / 4;
    for (int k = 0; k < 4; k++)
        if (near(px(im, x, y), QCOLOR[k], 24)) return k;
    return -1;
}

static void check_quadrants(const cam_image *im) {
    for (int q = 0; q < 4; q++) {
        int got = quadrant_at(im, q);
        const uint8_t *p = px(im, (q & 1) ? im->width * 3 / 4 : im->width / 4, (q & 2) ? im->height * 3 / 4 : im->height / 4);
        CHECK(got == q, "%s quadrant is %d,%d,%d, expected %d,%d,%d", QNAME[q], p[0], p[1], p[2], QCOLOR[q][0],
              QCOLOR[q][1], QCOLOR[q][2]);
    }
}

/* ---- encoders -------------------------------------------------------------- */

typedef struct { uint8_t *p; size_t n; } blob;

static blob jpeg_encode(const uint8_t *pix, int w, int h, int pf, int subsamp, int quality, int flags) {
    tjhandle tj = tjInitCompress();
    CHECK(tj != NULL, "tjInitCompress");
    unsigned char *out = NULL;
    unsigned long n = 0;
    int rc = tjCompress2(tj, pix, w, 0, h, pf, &out, &n, subsamp, quality, flags);
    CHECK(rc == 0, "tjCompress2: %s", tjGetErrorStr2(tj));
    blob b = {malloc(n), n};
    memcpy(b.p, out, n);
    tjFree(out);
    tjDestroy(tj);
    return b;
}

static blob jpeg_quadrants(int w, int h, int subsamp, int flags) {
    uint8_t *pix = quadrants(w, h);
    blob b = jpeg_encode(pix, w, h, TJPF_RGB, subsamp, 92, flags);
    free(pix);
    return b;
}

/* A TIFF block with IFD0 = {Make, Orientation o (SHORT or LONG)}. */
static size_t tiff_block(uint8_t *t, int le, int o, int type) {
    size_t n = 0;
#define P16(v) do { uint16_t a_ = (uint16_t)(v); if (le) { t[n] = a_ & 255; t[n + 1] = a_ >> 8; } else { t[n] = a_ >> 8; t[n + 1] = a_ & 255; } n += 2; } while (0)
#define P32(v) do { uint32_t b_ = (uint32_t)(v); if (le) { P16(b_ & 0xFFFF); P16(b_ >> 16); } else { P16(b_ >> 16); P16(b_ & 0xFFFF); } } while (0)
    t[n++] = le ? 'I' : 'M';
    t[n++] = le ? 'I' : 'M';
    P16(42);
    P32(8);
    P16(2);                                 /* entries */
    P16(0x010F); P16(2); P32(6); P32(38);   /* Make, ASCII[6] at offset 38 */
    P16(0x0112); P16(type); P32(1);
    if (type == 3) { P16(o); P16(0); } else P32(o);
    P32(0);                                 /* no IFD1 */
    memcpy(t + n, "Canon", 6);
    n += 6;
#undef P16
#undef P32
    return n;
}

/* jpeg with an APP1 segment (payload "Exif\0\0" + tiff) inserted after SOI */
static blob with_app1(blob j, const uint8_t *tiff, size_t tn) {
    size_t seg = 2 + 2 + 6 + tn;
    blob b = {malloc(j.n + seg), j.n + seg};
    memcpy(b.p, j.p, 2);
    uint8_t *s = b.p + 2;
    s[0] = 0xFF;
    s[1] = 0xE1;
    s[2] = (uint8_t)((seg - 2) >> 8);
    s[3] = (uint8_t)(seg - 2);
    memcpy(s + 4, "Exif\0\0", 6);
    memcpy(s + 10, tiff, tn);
    memcpy(b.p + 2 + seg, j.p + 2, j.n - 2);
    return b;
}

static blob with_orientation(blob j, int o, int le) {
    uint8_t t[64];
    size_t tn = tiff_block(t, le, o, 3);
    return with_app1(j, t, tn);
}

/* offset of the first marker m in a JPEG (segment walk), or 0 */
static size_t find_marker(const blob *j, int m) {
    size_t i = 2;
    while (i + 4 <= j->n && j->p[i] == 0xFF) {
        if (j->p[i + 1] == m) return i;
        if (j->p[i + 1] == 0xDA) return 0;
        i += 2 + ((size_t)j->p[i + 2] << 8 | j->p[i + 3]);
    }
    return 0;
}

/* PNG writer into memory. */
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

typedef struct png_spec {
    int w, h, color, depth, interlace;
    uint8_t **rows;                 /* packed as the PNG stores them */
    const png_color *pal; int npal;
    const uint8_t *trns; int ntrns; /* palette alpha */
    const png_color_16 *trns_color; /* gray/RGB transparent colour */
} png_spec;

static blob png_write(const png_spec *s) {
    static membuf m;   /* static: survives the longjmp below */
    memset(&m, 0, sizeof m);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) CHECK(0, "libpng write failed");
    png_set_write_fn(png, &m, mb_write, mb_flush);
    png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth, s->color,
                 s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (s->pal) png_set_PLTE(png, info, s->pal, s->npal);
    if (s->trns || s->trns_color) png_set_tRNS(png, info, s->trns, s->ntrns, s->trns_color);
    png_write_info(png, info);
    png_write_image(png, s->rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return (blob){m.p, m.n};
}

/* A small PNG (RGBA 8, quadrants, alpha 255) for truncation/corruption. */
static blob png_quadrants(int w, int h, int color) {
    uint8_t *pix = quadrants(w, h);
    int ch = color == PNG_COLOR_TYPE_RGBA ? 4 : 3;
    uint8_t **rows = malloc(sizeof *rows * h);
    for (int y = 0; y < h; y++) {
        rows[y] = malloc((size_t)w * ch);
        for (int x = 0; x < w; x++) {
            memcpy(rows[y] + x * ch, pix + ((size_t)y * w + x) * 3, 3);
            if (ch == 4) rows[y][x * 4 + 3] = 255;
        }
    }
    png_spec s = {.w = w, .h = h, .color = color, .depth = 8, .rows = rows};
    blob b = png_write(&s);
    for (int y = 0; y < h; y++) free(rows[y]);
    free(rows);
    free(pix);
    return b;
}

static cam_status decode(blob b, const cam_decode_options *o, cam_image *im, cam_image_info *info, char *err) {
    return cam_image_decode(b.p, b.n, o, im, info, err, 256);
}

/* ---- basics ------------------------------------------------------------------ */

TEST(alloc_free_options) {
    cam_decode_options o;
    memset(&o, 0x55, sizeof o);
    cam_decode_options_init(&o);
    CHECK(o.max_pixels == 40000000u && o.min_short == 0 && o.min_long == 0, "defaults %llu %d %d",
          (unsigned long long)o.max_pixels, o.min_short, o.min_long);
    cam_image im;
    char err[256];
    CHECK(cam_image_alloc(&im, 7, 5, err, sizeof err) == CAM_OK, "%s", err);
    CHECK(im.width == 7 && im.height == 5 && im.stride == 21 && im.rgb, "alloc fields");
    for (size_t i = 0; i < im.stride * 5; i++) CHECK(im.rgb[i] == 0, "not zeroed at %zu", i);
    cam_image_free(&im);
    CHECK(im.rgb == NULL && im.width == 0, "free clears");
    cam_image_free(&im);   /* twice is harmless */
    cam_image_free(NULL);
    CHECK(cam_image_alloc(&im, 0, 5, err, sizeof err) == CAM_EINVAL, "zero width");
    CHECK(cam_image_alloc(&im, 5, -1, err, sizeof err) == CAM_EINVAL, "negative height");
    CHECK(im.rgb == NULL, "failed alloc leaves empty image");
    CHECK(cam_image_alloc(&im, 1 << 30, 1 << 30, NULL, 0) != CAM_OK, "4 EB image allocated?");
}

TEST(not_an_image) {
    cam_image im;
    cam_image_info info;
    char err[256];
    CHECK(cam_image_decode(NULL, 0, NULL, &im, &info, err, sizeof err) == CAM_EFORMAT, "NULL");
    CHECK(cam_image_decode("", 0, NULL, &im, &info, err, sizeof err) == CAM_EFORMAT, "empty");
    CHECK(strstr(err, "empty"), "message: %s", err);
    const char *text = "hello, this is not an image\n";
    CHECK(cam_image_decode(text, strlen(text), NULL, &im, &info, err, sizeof err) == CAM_EUNSUPPORTED, "text");
    CHECK(strstr(err, "unsupported image format (JPEG and PNG are supported)"), "message: %s", err);
    CHECK(im.rgb == NULL, "no pixels on failure");
    const char gif[] = "GIF89a\x01\x00\x01\x00\x80\x00\x00";
    CHECK(cam_image_decode(gif, sizeof gif - 1, NULL, &im, &info, err, sizeof err) == CAM_EUNSUPPORTED, "GIF");
    CHECK(strstr(err, "GIF"), "message: %s", err);
    const char bmp[] = "BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00";
    CHECK(cam_image_decode(bmp, sizeof bmp - 1, NULL, &im, &info, err, sizeof err) == CAM_EUNSUPPORTED, "BMP");
    CHECK(strstr(err, "BMP"), "message: %s", err);
    const uint8_t soi[2] = {0xFF, 0xD8}, sig[5] = {0x89, 'P', 'N', 'G', 0x0D};
    CHECK(cam_image_decode(soi, 2, NULL, &im, &info, err, sizeof err) == CAM_EFORMAT, "SOI only: %s", err);
    CHECK(strstr(err, "truncated JPEG"), "message: %s", err);
    CHECK(cam_image_decode(sig, 5, NULL, &im, &info, err, sizeof err) == CAM_EFORMAT, "half signature: %s", err);
    CHECK(strstr(err, "truncated PNG"), "message: %s", err);
    const uint8_t junk_jpeg[] = {0xFF, 0xD8, 0xFF, 0x00, 0x00, 0x00};
    CHECK(cam_image_decode(junk_jpeg, sizeof junk_jpeg, NULL, &im, &info, err, sizeof err) == CAM_EFORMAT,
          "garbage after SOI: %s", err);
    CHECK(strstr(err, "JPEG"), "message: %s", err);
    cam_decode_options o;
    cam_decode_options_init(&o);
    o.min_short = -1;
    blob j = jpeg_quadrants(16, 16, TJSAMP_444, 0);
    CHECK(decode(j, &o, &im, &info, err) == CAM_EINVAL, "negative min_short");
    free(j.p);
}

/* ---- JPEG ---------------------------------------------------------------------- */

static void decode_quadrant_jpeg(int subsamp, int flags, int w, int h) {
    blob j = jpeg_quadrants(w, h, subsamp, flags);
    cam_image im;
    cam_image_info info;
    char err[256];
    CHECK(decode(j, NULL, &im, &info, err) == CAM_OK, "subsamp %d flags %d: %s", subsamp, flags, err);
    CHECK(im.width == w && im.height == h && im.stride == (size_t)w * 3, "size %dx%d", im.width, im.height);
    CHECK(!strcmp(info.format, "jpeg") && info.width == w && info.height == h && info.orientation == 1 &&
              info.scale_num == 1 && info.scale_denom == 1,
          "info %s %dx%d o%d %d/%d", info.format, info.width, info.height, info.orientation, info.scale_num,
          info.scale_denom);
    check_quadrants(&im);
    cam_image_free(&im);
    free(j.p);
}

TEST(jpeg_baseline_subsamplings) {
    const int ss[] = {TJSAMP_444, TJSAMP_422, TJSAMP_420, TJSAMP_440, TJSAMP_411};
    for (size_t i = 0; i < sizeof ss / sizeof ss[0]; i++) decode_quadrant_jpeg(ss[i], 0, 64, 48);
    decode_quadrant_jpeg(TJSAMP_420, 0, 37, 23);   /* partial MCUs */
}

TEST(jpeg_progressive) {
    blob j = jpeg_quadrants(64, 48, TJSAMP_420, TJFLAG_PROGRESSIVE);
    /* the file really is progressive: SOF2 */
    CHECK(find_marker(&j, 0xC2) != 0, "no SOF2 marker");
    free(j.p);
    decode_quadrant_jpeg(TJSAMP_420, TJFLAG_PROGRESSIVE, 64, 48);
    decode_quadrant_jpeg(TJSAMP_444, TJFLAG_PROGRESSIVE, 33, 17);
}

TEST(jpeg_grayscale) {
    int w = 48, h = 32;
    uint8_t *g = malloc((size_t)w * h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) g[y * w + x] = (uint8_t)((y >= h / 2) * 120 + (x >= w / 2) * 60 + 30);
    blob j = jpeg_encode(g, w, h, TJPF_GRAY, TJSAMP_GRAY, 95, 0);
    cam_image im;
    cam_image_info info;
    char err[256];
    CHECK(decode(j, NULL, &im, &info, err) == CAM_OK, "%s", err);
    CHECK(im.width == w && im.height == h, "size");
    for (int q = 0; q < 4; q++) {
        int v = (q >> 1) * 120 + (q & 1) * 60 + 30;
        const uint8_t *p = px(&im, (q & 1) ? w * 3 / 4 : w / 4, (q & 2) ? h * 3 / 4 : h / 4);
        uint8_t e[3] = {(uint8_t)v, (uint8_t)v, (uint8_t)v};
        CHECK(near(p, e, 3) && p[0] == p[1] && p[1] == p[2], "quadrant %d: %d,%d,%d expected gray %d", q, p[0],
              p[1], p[2], v);
    }
    cam_image_free(&im);
    free(j.p);
    free(g);
}

/* libjpeg-turbo's own RGB->CMYK (cdjpeg's rgb_to_cmyk): the Adobe
 * convention, 255 = no ink, which TurboJPEG then stores as YCCK with an
 * Adobe APP14 marker. */
static void rgb_to_inverted_cmyk(const uint8_t *rgb, uint8_t *cmyk) {
    double c = 1 - rgb[0] / 255.0, m = 1 - rgb[1] / 255.0, y = 1 - rgb[2] / 255.0;
    double k = c < m ? (c < y ? c : y) : (m < y ? m : y);
    if (k >= 1) c = m = y = 0;
    else { c = (c - k) / (1 - k); m = (m - k) / (1 - k); y = (y - k) / (1 - k); }
    cmyk[0] = (uint8_t)(255 - c * 255 + 0.5);
    cmyk[1] = (uint8_t)(255 - m * 255 + 0.5);
    cmyk[2] = (uint8_t)(255 - y * 255 + 0.5);
    cmyk[3] = (uint8_t)(255 - k * 255 + 0.5);
}

static int jpeg_colorspace(blob j) {
    tjhandle tj = tjInitDecompress();
    int w, h, ss, cs = -1;
    tjDecompressHeader3(tj, j.p, j.n, &w, &h, &ss, &cs);
    tjDestroy(tj);
    return cs;
}

TEST(jpeg_cmyk_adobe_inverted) {
    int w = 48, h = 32;
    uint8_t *rgb = quadrants(w, h), *cmyk = malloc((size_t)w * h * 4);
    for (int i = 0; i < w * h; i++) rgb_to_inverted_cmyk(rgb + 3 * i, cmyk + 4 * i);
    for (int ss = 0; ss < 2; ss++) {
        blob j = jpeg_encode(cmyk, w, h, TJPF_CMYK, ss ? TJSAMP_420 : TJSAMP_444, 95, 0);
        CHECK(jpeg_colorspace(j) == TJCS_YCCK, "TurboJPEG wrote colorspace %d, expected YCCK", jpeg_colorspace(j));
        size_t a = find_marker(&j, 0xEE);
        CHECK(a && !memcmp(j.p + a + 4, "Adobe", 5), "no Adobe APP14 marker");
        cam_image im;
        cam_image_info info;
        char err[256];
        CHECK(decode(j, NULL, &im, &info, err) == CAM_OK, "%s", err);
        CHECK(im.width == w && im.height == h, "size");
        check_quadrants(&im);
        cam_image_free(&im);
        free(j.p);
    }
    free(rgb);
    free(cmyk);
}

/* Plain (non-Adobe) CMYK stores ink amounts.  TurboJPEG only writes YCCK,
 * so we build one whose stored components are known: a neutral input pixel
 * (c = m = y = v) is stored as Y = 255 - v, Cb = Cr = 128, K = k.  Deleting
 * the Adobe marker makes libjpeg read those four components as CMYK, and
 * setting its transform byte to 0 makes them Adobe (inverted) CMYK. */
TEST(jpeg_cmyk_plain_and_transform0) {
    int w = 32, h = 32;
    static const uint8_t vk[4][2] = {{40, 200}, {200, 60}, {120, 120}, {230, 250}};
    uint8_t *cmyk = malloc((size_t)w * h * 4);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *q = vk[(y >= h / 2) * 2 + (x >= w / 2)];
            uint8_t *p = cmyk + 4 * ((size_t)y * w + x);
            p[0] = p[1] = p[2] = q[0];
            p[3] = q[1];
        }
    blob j = jpeg_encode(cmyk, w, h, TJPF_CMYK, TJSAMP_444, 100, 0);
    size_t a = find_marker(&j, 0xEE);
    CHECK(a, "no Adobe marker");
    size_t seg = 2 + ((size_t)j.p[a + 2] << 8 | j.p[a + 3]);
    CHECK(j.p[a + 4 + 11] == 2, "transform %d, expected 2 (YCCK)", j.p[a + 4 + 11]);

    for (int variant = 0; variant < 2; variant++) {
        blob v = {malloc(j.n), j.n};
        memcpy(v.p, j.p, j.n);
        if (variant == 0) {   /* no marker: plain CMYK */
            memmove(v.p + a, v.p + a + seg, v.n - a - seg);
            v.n -= seg;
            CHECK(jpeg_colorspace(v) == TJCS_CMYK, "colorspace %d", jpeg_colorspace(v));
        } else {
            v.p[a + 4 + 11] = 0;   /* Adobe, transform 0: inverted CMYK */
            CHECK(jpeg_colorspace(v) == TJCS_CMYK, "colorspace %d", jpeg_colorspace(v));
        }
        cam_image im;
        cam_image_info info;
        char err[256];
        CHECK(decode(v, NULL, &im, &info, err) == CAM_OK, "%s", err);
        for (int q = 0; q < 4; q++) {
            double C = 255 - vk[q][0], M = 128, K = vk[q][1];
            double r = variant ? C * K / 255 : (255 - C) * (255 - K) / 255;
            double g = variant ? M * K / 255 : (255 - M) * (255 - K) / 255;
            const uint8_t *p = px(&im, (q & 1) ? w * 3 / 4 : w / 4, (q & 2) ? h * 3 / 4 : h / 4);
            CHECK(fabs(p[0] - r) <= 4 && fabs(p[1] - g) <= 4 && fabs(p[2] - g) <= 4,
                  "%s quadrant %d: got %d,%d,%d expected %.0f,%.0f,%.0f", variant ? "Adobe transform 0" : "plain",
                  q, p[0], p[1], p[2], r, g, g);
        }
        cam_image_free(&im);
        free(v.p);
    }
    free(j.p);
    free(cmyk);
}

/* ---- EXIF orientation ----------------------------------------------------------- */

/* Where the stored top-left and top-right corners are seen, by the EXIF
 * definitions (row 0 / column 0 placement), not by our formulas. */
static const int CORNERS[9][2] = {
    {0, 0},
    {Q_TL, Q_TR}, {Q_TR, Q_TL}, {Q_BR, Q_BL}, {Q_BL, Q_BR},
    {Q_TL, Q_BL}, {Q_TR, Q_BR}, {Q_BR, Q_TR}, {Q_BL, Q_TL},
};

/* The expected upright image, composed from primitives: transpose (5-8)
 * then flips (2: h, 3: h+v, 4: v, 6: h, 7: h+v, 8: v). */
static uint8_t *compose_orientation(const cam_image *s, int o, int *W, int *H) {
    int t = o >= 5, fh = o == 2 || o == 3 || o == 6 || o == 7, fv = o == 3 || o == 4 || o == 7 || o == 8;
    *W = t ? s->height : s->width;
    *H = t ? s->width : s->height;
    uint8_t *out = malloc((size_t)*W * *H * 3);
    for (int y = 0; y < *H; y++)
        for (int x = 0; x < *W; x++) {
            int tx = fh ? *W - 1 - x : x, ty = fv ? *H - 1 - y : y;   /* in the transposed image */
            int sx = t ? ty : tx, sy = t ? tx : ty;
            memcpy(out + ((size_t)y * *W + x) * 3, px(s, sx, sy), 3);
        }
    return out;
}

TEST(exif_orientations) {
    int w = 64, h = 32;
    blob j = jpeg_quadrants(w, h, TJSAMP_420, 0);
    cam_image plain;
    cam_image_info info;
    char err[256];
    CHECK(decode(j, NULL, &plain, &info, err) == CAM_OK, "%s", err);
    for (int le = 0; le <= 1; le++)
        for (int o = 1; o <= 8; o++) {
            blob e = with_orientation(j, o, le);
            cam_image im;
            CHECK(decode(e, NULL, &im, &info, err) == CAM_OK, "o=%d: %s", o, err);
            int swap = o >= 5;
            CHECK(info.orientation == o, "%s o=%d: info.orientation %d", le ? "II" : "MM", o, info.orientation);
            CHECK(im.width == (swap ? h : w) && im.height == (swap ? w : h), "o=%d: %dx%d", o, im.width, im.height);
            CHECK(info.width == im.width && info.height == im.height, "o=%d: info %dx%d", o, info.width,
                  info.height);
            int tl = -1, tr = -1;
            for (int q = 0; q < 4; q++) {
                int k = quadrant_at(&im, q);
                if (k == Q_TL) tl = q;
                if (k == Q_TR) tr = q;
            }
            CHECK(tl == CORNERS[o][0] && tr == CORNERS[o][1], "o=%d: stored top-left seen %s, top-right seen %s", o,
                  tl >= 0 ? QNAME[tl] : "nowhere", tr >= 0 ? QNAME[tr] : "nowhere");
            int W, H;
            uint8_t *exp = compose_orientation(&plain, o, &W, &H);
            for (int y = 0; y < H; y++)
                CHECK(!memcmp(px(&im, 0, y), exp + (size_t)y * W * 3, (size_t)W * 3), "o=%d: row %d differs", o, y);
            free(exp);
            cam_image_free(&im);
            free(e.p);
        }
    /* LONG instead of SHORT, as a few writers do */
    uint8_t t[64];
    size_t tn = tiff_block(t, 1, 6, 4);
    blob e = with_app1(j, t, tn);
    cam_image im;
    CHECK(decode(e, NULL, &im, &info, err) == CAM_OK && info.orientation == 6, "LONG orientation: %d",
          info.orientation);
    cam_image_free(&im);
    free(e.p);
    cam_image_free(&plain);
    free(j.p);
}

TEST(exif_malformed_is_ignored) {
    uint8_t t[64];
    size_t tn = tiff_block(t, 1, 6, 3);
    CHECK(cam__exif_orientation(t, tn) == 6, "good block");
    uint8_t b[64];
    /* each corruption must give 1 (no orientation), never a crash */
    struct { size_t off; uint8_t v; const char *what; } cases[] = {
        {0, 'X', "byte order"}, {2, 43, "magic"}, {4, 0xFF, "IFD offset past the end"},
        {4, 2, "IFD offset inside the header"}, {8, 0xFF, "entry count past the end"},
        {24, 7, "type UNDEFINED"}, {26, 2, "count 2"}, {30, 9, "value 9"}, {30, 0, "value 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(b, t, tn);
        b[cases[i].off] = cases[i].v;
        CHECK(cam__exif_orientation(b, tn) == 1, "%s", cases[i].what);
    }
    memcpy(b, t, tn);
    b[4] = b[5] = b[6] = b[7] = 0xFF;   /* offset 0xFFFFFFFF: no wrap-around */
    CHECK(cam__exif_orientation(b, tn) == 1, "offset 0xFFFFFFFF");
    for (size_t n = 0; n < 34; n++)   /* cut before the orientation value */
        CHECK(cam__exif_orientation(t, n) == 1, "truncated to %zu", n);
    CHECK(cam__exif_orientation(NULL, 100) == 1, "NULL");
    /* random blocks: anything but a crash (ASan watches) */
    unsigned s = 7;
    for (int k = 0; k < 20000; k++) {
        memcpy(b, t, tn);
        for (int f = 0; f < 3; f++) {
            s = s * 1664525u + 1013904223u;
            b[(s >> 8) % tn] = (uint8_t)(s >> 24);
        }
        int o = cam__exif_orientation(b, (s >> 4) % (tn + 1));
        CHECK(o >= 1 && o <= 8, "orientation %d", o);
    }
    /* malformed APP1 segments in a real JPEG: decodes upright, orientation 1 */
    blob j = jpeg_quadrants(32, 16, TJSAMP_444, 0);
    const uint8_t bad_tiffs[][12] = {
        {'I', 'I', 42, 0, 8, 0, 0, 0, 0xFF, 0xFF, 0, 0},   /* 65535 entries */
        {'M', 'M', 0, 42, 0xFF, 0xFF, 0xFF, 0xF0, 0, 0, 0, 0},
        {'I', 'I', 42, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < 3; i++) {
        blob e = with_app1(j, bad_tiffs[i], 12);
        cam_image im;
        cam_image_info info;
        char err[256];
        CHECK(decode(e, NULL, &im, &info, err) == CAM_OK, "bad tiff %zu: %s", i, err);
        CHECK(info.orientation == 1 && im.width == 32, "bad tiff %zu: orientation %d", i, info.orientation);
        check_quadrants(&im);
        cam_image_free(&im);
        free(e.p);
    }
    free(j.p);
}

/* ---- DCT scaling ------------------------------------------------------------------ */

TEST(scale_choice) {
    struct { int w, h, ms, ml, num, den; } c[] = {
        {4000, 3000, 256, 1024, 1, 2},   /* 2000x1500: the acceptance case */
        {3000, 4000, 256, 1024, 1, 2},   /* portrait: same sides */
        {4000, 3000, 0, 0, 1, 1},        /* no requirement: full size */
        {4000, 3000, 256, 0, 1, 8},      /* 500x375 */
        {4000, 3000, 376, 0, 1, 4},      /* 1/8 gives 375 */
        {4000, 3000, 0, 501, 1, 4},      /* 1/8 gives 500 long */
        {4000, 3000, 224, 224, 1, 8},
        {4000, 3000, 5000, 9000, 1, 1},  /* capped at the full size: never upscale */
        {1352, 900, 224, 0, 1, 4},       /* 338x225 */
        {1352, 900, 226, 0, 1, 2},
        {227, 227, 224, 224, 1, 1},
        {100, 100, 13, 13, 1, 8},        /* 13x13 rounds up */
        {100, 100, 14, 0, 1, 4},
        {8, 8, 1, 1, 1, 8},
        {1, 1, 0, 0, 1, 1},
        {1, 1, 1, 1, 1, 1},              /* 1x1 at any scale: TurboJPEG uses 1/1 */
        {65535, 17, 2, 0, 1, 8},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        int num, den;
        cam__jpeg_pick_scale(c[i].w, c[i].h, c[i].ms, c[i].ml, &num, &den);
        CHECK(num == c[i].num && den == c[i].den, "%dx%d short>=%d long>=%d: %d/%d, expected %d/%d", c[i].w, c[i].h,
              c[i].ms, c[i].ml, num, den, c[i].num, c[i].den);
    }
}

TEST(scaled_decode_with_orientation) {
    int w = 256, h = 128;
    blob j = jpeg_quadrants(w, h, TJSAMP_420, 0);
    char err[256];
    /* {orientation, min_short, min_long, denom} */
    const int cases[][4] = {{1, 32, 64, 4}, {6, 32, 64, 4}, {8, 16, 0, 8}, {3, 0, 129, 1}, {5, 64, 0, 2},
                            {7, 1000, 1000, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int o = cases[i][0];
        blob e = with_orientation(j, o, 1);
        cam_decode_options opt;
        cam_decode_options_init(&opt);
        opt.min_short = cases[i][1];
        opt.min_long = cases[i][2];
        cam_image im;
        cam_image_info info;
        CHECK(decode(e, &opt, &im, &info, err) == CAM_OK, "%s", err);
        int den = cases[i][3], swap = o >= 5;
        int sw = (w + den - 1) / den, sh = (h + den - 1) / den;
        CHECK(info.scale_num == 1 && info.scale_denom == den, "case %zu: scale %d/%d, expected 1/%d", i,
              info.scale_num, info.scale_denom, den);
        CHECK(info.width == (swap ? h : w) && info.height == (swap ? w : h), "case %zu: full %dx%d", i, info.width,
              info.height);
        CHECK(im.width == (swap ? sh : sw) && im.height == (swap ? sw : sh), "case %zu: decoded %dx%d", i, im.width,
              im.height);
        int s = im.width < im.height ? im.width : im.height, l = im.width < im.height ? im.height : im.width;
        CHECK(s >= cases[i][1] || s == (w < h ? w : h), "short side %d", s);
        CHECK(l >= cases[i][2] || l == (w < h ? h : w), "long side %d", l);
        int tl = -1;
        for (int q = 0; q < 4; q++)
            if (quadrant_at(&im, q) == Q_TL) tl = q;
        CHECK(tl == CORNERS[o][0], "case %zu: top-left seen at %d", i, tl);
        cam_image_free(&im);
        free(e.p);
    }
    free(j.p);
}

/* Photo-like content (smooth structure plus sensor-like noise) so that
 * entropy decoding costs what it costs on real photos. */
static uint8_t *photo(int w, int h) {
    uint8_t *p = malloc((size_t)w * h * 3);
    unsigned s = 12345;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double u = (double)x / w, v = (double)y / h;
            s = s * 1664525u + 1013904223u;
            int n = (int)(s >> 27) - 16;
            int c[3] = {(int)(128 + 100 * sin(u * 20 + v * 7)) + n, (int)(128 + 90 * cos(u * 9 - v * 23)) + n,
                        (int)(255 * u * v) + n};
            for (int k = 0; k < 3; k++) p[((size_t)y * w + x) * 3 + k] = (uint8_t)(c[k] < 0 ? 0 : c[k] > 255 ? 255 : c[k]);
        }
    return p;
}

static double time_decode(blob j, const cam_decode_options *o, int runs, cam_image_info *info) {
    double t[9];
    for (int r = 0; r < runs; r++) {
        cam_image im;
        char err[256];
        double a = now_ms();
        cam_status st = decode(j, o, &im, info, err);
        t[r] = now_ms() - a;
        CHECK(st == CAM_OK, "%s", err);
        cam_image_free(&im);
    }
    return median(t, runs);
}

/* The acceptance case: a 4000x3000 JPEG for min_short 256 / min_long 1024
 * decodes at 1/2.  Its cost is reported against a 1000x750 JPEG of the same
 * content at full size, and against the 4000x3000 at full size. */
TEST(scaled_decode_cost) {
    uint8_t *big = photo(4000, 3000), *small = photo(1000, 750);
    blob jb = jpeg_encode(big, 4000, 3000, TJPF_RGB, TJSAMP_420, 90, 0);
    blob js = jpeg_encode(small, 1000, 750, TJPF_RGB, TJSAMP_420, 90, 0);
    free(big);
    free(small);
    cam_decode_options o;
    cam_decode_options_init(&o);
    o.min_short = 256;
    o.min_long = 1024;
    cam_image im;
    cam_image_info info;
    char err[256];
    CHECK(decode(jb, &o, &im, &info, err) == CAM_OK, "%s", err);
    CHECK(info.scale_num == 1 && info.scale_denom == 2 && im.width == 2000 && im.height == 1500,
          "scale %d/%d, %dx%d", info.scale_num, info.scale_denom, im.width, im.height);
    cam_image_free(&im);
    const int runs = 7;
    double t_scaled = time_decode(jb, &o, runs, &info);
    double t_small = time_decode(js, NULL, runs, &info);
    double t_full = time_decode(jb, NULL, runs, &info);
    o.min_short = 1;
    o.min_long = 1;
    double t_eighth = time_decode(jb, &o, runs, &info);
    CHECK(info.scale_denom == 8, "1/%d", info.scale_denom);
    printf("  decode medians of %d: 4000x3000 (%zu KB) at 1/2 %.1f ms; 1000x750 (%zu KB) full %.1f ms "
           "(ratio %.1f); 4000x3000 full %.1f ms (1/2 saves %.0f%%); at 1/8 %.1f ms (ratio %.1f: the floor, "
           "Huffman decoding of every coefficient)\n",
           runs, jb.n / 1024, t_scaled, js.n / 1024, t_small, t_scaled / t_small, t_full,
           100 * (1 - t_scaled / t_full), t_eighth, t_eighth / t_small);
    /* What must hold everywhere (also under sanitizers and load): scaling
     * pays.  The ratio to the small file is reported, not asserted: the
     * Huffman decoding of 16x the data cannot be scaled away. */
    CHECK(t_scaled < t_full, "1/2 decode %.1f ms not faster than full %.1f ms", t_scaled, t_full);
    free(jb.p);
    free(js.p);
}

/* ---- PNG ---------------------------------------------------------------------------- */

static unsigned hash3(int x, int y, int c) {
    unsigned h = (unsigned)x * 73856093u ^ (unsigned)y * 19349663u ^ (unsigned)c * 83492791u;
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    return h ^ (h >> 15);
}

static unsigned to8(unsigned v, int depth) {
    if (depth == 8) return v;
    if (depth == 16) return (v * 255u + 32767u) / 65535u;
    return v * 255u / ((1u << depth) - 1);
}

static unsigned over_white(unsigned c, unsigned a) { return (c * a + 255 * (255 - a) + 127) / 255; }

static void put_sample(uint8_t *row, int i, int depth, unsigned v) {
    if (depth == 16) {
        row[2 * i] = (uint8_t)(v >> 8);
        row[2 * i + 1] = (uint8_t)v;
    } else if (depth == 8) {
        row[i] = (uint8_t)v;
    } else {
        int per = 8 / depth, shift = 8 - depth * (i % per + 1);
        row[i / per] |= (uint8_t)(v << shift);
    }
}

/* One PNG variant: samples from hash3, the expected RGB8 computed from the
 * samples by the PNG rules, the decode compared pixel by pixel. */
static void png_variant(int color, int depth, int interlace, int trns) {
    const int w = 13, h = 11;
    int ch = color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_PALETTE ? 1
             : color == PNG_COLOR_TYPE_GRAY_ALPHA                           ? 2
             : color == PNG_COLOR_TYPE_RGB                                  ? 3
                                                                            : 4;
    unsigned maxv = depth == 16 ? 65535u : (1u << depth) - 1;
    int npal = color == PNG_COLOR_TYPE_PALETTE ? (int)maxv + 1 : 0;
    png_color pal[256];
    uint8_t pal_a[256];
    for (int i = 0; i < npal; i++) {
        unsigned r = hash3(i, 0, 99);
        pal[i] = (png_color){(uint8_t)r, (uint8_t)(r >> 8), (uint8_t)(r >> 16)};
        pal_a[i] = i == 0 ? 0 : i == 1 ? 255 : (uint8_t)(r >> 24);
    }
    uint8_t **rows = malloc(sizeof *rows * h);
    uint8_t *expect = malloc((size_t)w * h * 3);
    unsigned samp[4];
    /* transparent colour for gray/RGB tRNS: the samples of pixel (1,1) */
    png_color_16 tc = {0};
    for (int c = 0; c < ch; c++) samp[c] = hash3(1, 1, c) % (maxv + 1);
    if (color == PNG_COLOR_TYPE_GRAY) tc.gray = (png_uint_16)samp[0];
    if (color == PNG_COLOR_TYPE_RGB) {
        tc.red = (png_uint_16)samp[0];
        tc.green = (png_uint_16)samp[1];
        tc.blue = (png_uint_16)samp[2];
    }
    for (int y = 0; y < h; y++) {
        rows[y] = calloc((size_t)w * ch * 2 + 1, 1);
        for (int x = 0; x < w; x++) {
            for (int c = 0; c < ch; c++) {
                samp[c] = hash3(x, y, c) % (maxv + 1);
                if (c == ch - 1 && (color & PNG_COLOR_MASK_ALPHA) && x == 0) samp[c] = 0;
                if (c == ch - 1 && (color & PNG_COLOR_MASK_ALPHA) && x == 1) samp[c] = maxv;
                if (color == PNG_COLOR_TYPE_PALETTE) samp[c] %= (unsigned)npal;
                if (trns && (x + y) % 5 == 0 && color != PNG_COLOR_TYPE_PALETTE)   /* some transparent pixels */
                    samp[c] = color == PNG_COLOR_TYPE_GRAY ? tc.gray : c == 0 ? tc.red : c == 1 ? tc.green : tc.blue;
                put_sample(rows[y], x * ch + c, depth, samp[c]);
            }
            unsigned r, g, b, a = 255;
            if (color == PNG_COLOR_TYPE_PALETTE) {
                r = pal[samp[0]].red, g = pal[samp[0]].green, b = pal[samp[0]].blue;
                if (trns) a = pal_a[samp[0]];
            } else if (ch <= 2) {
                r = g = b = to8(samp[0], depth);
                if (ch == 2) a = to8(samp[1], depth);
                if (trns && samp[0] == tc.gray) a = 0;
            } else {
                r = to8(samp[0], depth), g = to8(samp[1], depth), b = to8(samp[2], depth);
                if (ch == 4) a = to8(samp[3], depth);
                if (trns && samp[0] == tc.red && samp[1] == tc.green && samp[2] == tc.blue) a = 0;
            }
            uint8_t *e = expect + ((size_t)y * w + x) * 3;
            e[0] = (uint8_t)over_white(r, a);
            e[1] = (uint8_t)over_white(g, a);
            e[2] = (uint8_t)over_white(b, a);
        }
    }
    png_spec s = {.w = w, .h = h, .color = color, .depth = depth, .interlace = interlace, .rows = rows,
                  .pal = npal ? pal : NULL, .npal = npal};
    if (trns && color == PNG_COLOR_TYPE_PALETTE) {
        s.trns = pal_a;
        s.ntrns = npal;
    } else if (trns) {
        s.trns_color = &tc;
    }
    blob p = png_write(&s);
    cam_image im;
    cam_image_info info;
    char err[256];
    CHECK(decode(p, NULL, &im, &info, err) == CAM_OK, "color %d depth %d interlace %d trns %d: %s", color, depth,
          interlace, trns, err);
    CHECK(!strcmp(info.format, "png") && im.width == w && im.height == h && info.width == w && info.height == h &&
              info.orientation == 1 && info.scale_num == 1 && info.scale_denom == 1,
          "info");
    /* 16-bit: libpng's scaling may round the last bit differently, and the
     * composite inherits that; everything else is exact */
    int tol = depth == 16 ? 1 : 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *g = px(&im, x, y), *e = expect + ((size_t)y * w + x) * 3;
            CHECK(near(g, e, tol), "color %d depth %d interlace %d trns %d at (%d,%d): %d,%d,%d expected %d,%d,%d",
                  color, depth, interlace, trns, x, y, g[0], g[1], g[2], e[0], e[1], e[2]);
        }
    cam_image_free(&im);
    free(p.p);
    for (int y = 0; y < h; y++) free(rows[y]);
    free(rows);
    free(expect);
}

TEST(png_every_color_type_and_depth) {
    static const struct { int color, depth; } v[] = {
        {PNG_COLOR_TYPE_GRAY, 1}, {PNG_COLOR_TYPE_GRAY, 2}, {PNG_COLOR_TYPE_GRAY, 4}, {PNG_COLOR_TYPE_GRAY, 8},
        {PNG_COLOR_TYPE_GRAY, 16}, {PNG_COLOR_TYPE_GRAY_ALPHA, 8}, {PNG_COLOR_TYPE_GRAY_ALPHA, 16},
        {PNG_COLOR_TYPE_RGB, 8}, {PNG_COLOR_TYPE_RGB, 16}, {PNG_COLOR_TYPE_RGBA, 8}, {PNG_COLOR_TYPE_RGBA, 16},
        {PNG_COLOR_TYPE_PALETTE, 1}, {PNG_COLOR_TYPE_PALETTE, 2}, {PNG_COLOR_TYPE_PALETTE, 4},
        {PNG_COLOR_TYPE_PALETTE, 8},
    };
    int n = 0;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        for (int interlace = 0; interlace <= 1; interlace++)
            for (int trns = 0; trns <= 1; trns++) {
                if (trns && (v[i].color & PNG_COLOR_MASK_ALPHA)) continue;   /* tRNS not allowed */
                png_variant(v[i].color, v[i].depth, interlace, trns);
                n++;
            }
    printf("  %d PNG variants\n", n);
}

TEST(png_alpha_over_white) {
    /* 2x1 RGBA: transparent red, half-transparent black */
    uint8_t row[8] = {255, 0, 0, 0, 0, 0, 0, 128};
    uint8_t *rows[1] = {row};
    png_spec s = {.w = 2, .h = 1, .color = PNG_COLOR_TYPE_RGBA, .depth = 8, .rows = rows};
    blob p = png_write(&s);
    cam_image im;
    cam_image_info info;
    char err[256];
    CHECK(decode(p, NULL, &im, &info, err) == CAM_OK, "%s", err);
    const uint8_t white[3] = {255, 255, 255}, gray[3] = {127, 127, 127};
    CHECK(near(px(&im, 0, 0), white, 0), "transparent pixel %d,%d,%d", px(&im, 0, 0)[0], px(&im, 0, 0)[1],
          px(&im, 0, 0)[2]);
    CHECK(near(px(&im, 1, 0), gray, 0), "half black %d,%d,%d", px(&im, 1, 0)[0], px(&im, 1, 0)[1], px(&im, 1, 0)[2]);
    cam_image_free(&im);
    free(p.p);
}

/* ---- limits ---------------------------------------------------------------------------- */

static uint32_t crc_png(const uint8_t *p, size_t n) { return (uint32_t)crc32(0, p, (unsigned)n); }

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A PNG whose IHDR claims w x h, followed by the small IDAT/IEND of a 1x1. */
static blob png_claiming(uint32_t w, uint32_t h) {
    blob small = png_quadrants(1, 1, PNG_COLOR_TYPE_RGB);
    put32(small.p + 16, w);
    put32(small.p + 20, h);
    put32(small.p + 29, crc_png(small.p + 12, 17));
    return small;
}

TEST(pixel_cap) {
    cam_image im;
    cam_image_info info;
    char err[256];
    blob p = png_claiming(50000, 50000);
    double t = now_ms();
    cam_status st = decode(p, NULL, &im, &info, err);
    t = now_ms() - t;
    CHECK(st == CAM_ELIMIT, "status %d: %s", st, err);
    CHECK(!strcmp(err, "image is 50000x50000 = 2500 MP, more than the 40 MP limit"), "message: %s", err);
    CHECK(t < 50, "refusal took %.1f ms", t);
    CHECK(im.rgb == NULL && info.width == 50000, "info %dx%d", info.width, info.height);
    free(p.p);
    p = png_claiming(2000000, 1);
    CHECK(decode(p, NULL, &im, &info, err) == CAM_ELIMIT, "2000000x1: %s", err);
    free(p.p);
    p = png_claiming(20000, 20000);
    CHECK(decode(p, NULL, &im, &info, err) == CAM_ELIMIT && strstr(err, "400 MP, more than the 40 MP limit"),
          "%s", err);
    free(p.p);

    /* JPEG: a small file whose SOF claims 65000x65000 */
    blob j = jpeg_quadrants(64, 48, TJSAMP_420, 0);
    size_t sof = find_marker(&j, 0xC0);
    CHECK(sof, "no SOF0");
    j.p[sof + 5] = j.p[sof + 7] = 0xFD;
    j.p[sof + 6] = j.p[sof + 8] = 0xE8;
    t = now_ms();
    st = decode(j, NULL, &im, &info, err);
    t = now_ms() - t;
    CHECK(st == CAM_ELIMIT && strstr(err, "image is 65000x65000 = 4225 MP"), "status %d: %s", st, err);
    CHECK(t < 50, "JPEG refusal took %.1f ms", t);
    free(j.p);

    /* a configured limit, exactly at and just under the image size */
    j = jpeg_quadrants(64, 48, TJSAMP_420, 0);
    p = png_quadrants(64, 48, PNG_COLOR_TYPE_RGB);
    cam_decode_options o;
    cam_decode_options_init(&o);
    o.max_pixels = 64 * 48;
    CHECK(decode(j, &o, &im, &info, err) == CAM_OK, "JPEG at the limit: %s", err);
    cam_image_free(&im);
    CHECK(decode(p, &o, &im, &info, err) == CAM_OK, "PNG at the limit: %s", err);
    cam_image_free(&im);
    o.max_pixels--;
    CHECK(decode(j, &o, &im, &info, err) == CAM_ELIMIT, "JPEG over the limit: %s", err);
    CHECK(decode(p, &o, &im, &info, err) == CAM_ELIMIT, "PNG over the limit: %s", err);
    CHECK(strstr(err, "image is 64x48 = 0.003 MP"), "message: %s", err);
    memset(&o, 0, sizeof o);   /* zeroed options: the defaults */
    CHECK(decode(j, &o, &im, &info, err) == CAM_OK, "zeroed options: %s", err);
    cam_image_free(&im);
    free(j.p);
    free(p.p);
}

/* ---- truncation and corruption ------------------------------------------------------------ */

/* Every strict prefix must fail with EFORMAT and leave no pixels.  For JPEG
 * this is our policy, not TurboJPEG's default: it decodes a truncated file
 * with a "premature end" warning and gray fill; we report that as an error
 * (see core/image_jpeg.c). */
static void every_prefix(blob b, const char *what) {
    for (size_t n = 0; n < b.n; n++) {
        cam_image im;
        cam_image_info info;
        char err[256] = "";
        cam_status st = cam_image_decode(b.p, n, NULL, &im, &info, err, sizeof err);
        CHECK(st == CAM_EFORMAT, "%s cut to %zu of %zu bytes: status %d (%s)", what, n, b.n, st, err);
        CHECK(im.rgb == NULL, "%s cut to %zu: pixels left", what, n);
        CHECK(n == 0 || strstr(err, "truncated") || strstr(err, "corrupt"), "%s cut to %zu: message %s", what, n,
              err);
    }
    cam_image im;
    char err[256];
    CHECK(cam_image_decode(b.p, b.n, NULL, &im, NULL, err, sizeof err) == CAM_OK, "%s whole: %s", what, err);
    cam_image_free(&im);
}

TEST(truncated_every_prefix) {
    blob j = jpeg_quadrants(32, 24, TJSAMP_420, 0);
    every_prefix(j, "baseline JPEG");
    blob e = with_orientation(j, 6, 0);
    every_prefix(e, "EXIF JPEG");
    free(e.p);
    free(j.p);
    j = jpeg_quadrants(32, 24, TJSAMP_420, TJFLAG_PROGRESSIVE);
    every_prefix(j, "progressive JPEG");
    free(j.p);
    blob p = png_quadrants(32, 24, PNG_COLOR_TYPE_RGBA);
    every_prefix(p, "PNG");
    free(p.p);
}

/* The documented tolerance: extraneous bytes before EOI give a libjpeg
 * warning but the pixels are complete, so the image decodes; the same file
 * cut short is still truncated although the first (kept) warning is the
 * extraneous-bytes one. */
TEST(jpeg_warnings_policy) {
    blob j = jpeg_quadrants(32, 24, TJSAMP_420, 0);
    CHECK(j.p[j.n - 2] == 0xFF && j.p[j.n - 1] == 0xD9, "no EOI at the end");
    /* more garbage than the Huffman decoder's lookahead swallows */
    blob x = {malloc(j.n + 40), j.n + 40};
    memcpy(x.p, j.p, j.n - 2);
    for (int i = 0; i < 40; i++) x.p[j.n - 2 + i] = (uint8_t)(0x11 + i);
    memcpy(x.p + j.n + 38, "\xFF\xD9", 2);
    cam_image im;
    cam_image_info info;
    char err[256];
    tjhandle tj = tjInitDecompress();
    uint8_t buf[32 * 24 * 3];
    CHECK(tjDecompress2(tj, x.p, x.n, buf, 32, 0, 24, TJPF_RGB, 0) == -1 && tjGetErrorCode(tj) == TJERR_WARNING,
          "TurboJPEG did not warn");
    printf("  TurboJPEG warns: %s\n", tjGetErrorStr2(tj));
    tjDestroy(tj);
    CHECK(decode(x, NULL, &im, &info, err) == CAM_OK, "extraneous bytes refused: %s", err);
    check_quadrants(&im);
    cam_image_free(&im);
    /* garbage before SOS (the first warning) and then cut inside the scan */
    size_t sos = find_marker(&j, 0xDA);
    CHECK(sos, "no SOS");
    blob y = {malloc(j.n + 3), 0};
    memcpy(y.p, j.p, sos);
    memcpy(y.p + sos, "\x12\x34\x56", 3);
    memcpy(y.p + sos + 3, j.p + sos, j.n - sos);
    y.n = j.n + 3;
    CHECK(decode(y, NULL, &im, &info, err) == CAM_OK, "garbage before SOS refused: %s", err);
    cam_image_free(&im);
    y.n = sos + 3 + (j.n - sos) / 2;
    CHECK(decode(y, NULL, &im, &info, err) == CAM_EFORMAT && strstr(err, "truncated JPEG"), "cut: %s", err);
    printf("  cut after garbage: %s\n", err);
    free(y.p);
    free(x.p);
    free(j.p);

    /* a warning followed by a fatal error, EOI present: TurboJPEG 2.1 still
     * reports TJERR_WARNING, but the frame was never decoded.  (The fuzzer's
     * corpus held hundreds of such files that used to "decode".) */
    j = jpeg_quadrants(32, 24, TJSAMP_420, 0);
    size_t dqt = find_marker(&j, 0xDB), sof0 = find_marker(&j, 0xC0);
    CHECK(dqt && sof0 > dqt, "layout");
    blob z = {malloc(j.n + 3), j.n + 3};
    memcpy(z.p, j.p, dqt);
    memcpy(z.p + dqt, "\x12\x34\x56", 3);   /* warning: extraneous bytes before DQT */
    memcpy(z.p + dqt + 3, j.p + dqt, j.n - dqt);
    z.p[sof0 + 3 + 12] = 3;                  /* fatal: component 0 uses quantization table 3 */
    CHECK(decode(z, NULL, &im, &info, err) == CAM_EFORMAT && strstr(err, "corrupt JPEG: Quantization table"),
          "warning then fatal: %s", err);
    CHECK(im.rgb == NULL, "pixels returned");
    free(z.p);
    free(j.p);

    /* a 16x16 JPEG whose SOF claims 6000x6000 (36 MP, under the limit):
     * libjpeg would gray-fill 36 MP before its premature-end warning; the
     * decoder stops at the warning */
    uint8_t flat[16 * 16 * 3];
    memset(flat, 90, sizeof flat);
    j = jpeg_encode(flat, 16, 16, TJPF_RGB, TJSAMP_420, 90, 0);
    size_t sof = find_marker(&j, 0xC0);
    CHECK(sof, "no SOF0");
    j.p[sof + 5] = j.p[sof + 7] = 0x17;
    j.p[sof + 6] = j.p[sof + 8] = 0x70;
    double t = now_ms();
    cam_status st = decode(j, NULL, &im, &info, err);
    t = now_ms() - t;
    CHECK(st == CAM_EFORMAT && strstr(err, "truncated JPEG"), "status %d: %s", st, err);
    CHECK(t < 100, "a %zu-byte file claiming 6000x6000 took %.1f ms", j.n, t);   /* gray fill: 200 ms */
    printf("  %zu-byte JPEG claiming 6000x6000 refused in %.1f ms: %s\n", j.n, t, err);
    free(j.p);
}

/* stderr redirected to a file while f runs; returns how many bytes reached it */
static long stderr_bytes(void (*f)(void)) {
    fflush(stderr);
    char path[] = "/tmp/camserve_test_image_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    int saved = dup(2);
    dup2(fd, 2);
    f();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    struct stat st;
    fstat(fd, &st);
    close(fd);
    unlink(path);
    return (long)st.st_size;
}

static int g_corrupt_ok, g_corrupt_fail;

static void corrupt_loop(blob b, unsigned seed, int iters) {
    uint8_t *buf = malloc(b.n);
    for (int k = 0; k < iters; k++) {
        memcpy(buf, b.p, b.n);
        int flips = 1 + (int)(seed >> 28) % 8;
        for (int f = 0; f < flips; f++) {
            seed = seed * 1664525u + 1013904223u;
            size_t at = (seed >> 8) % b.n;
            if (seed & 1) buf[at] ^= (uint8_t)(1u << (seed >> 29));
            else buf[at] = (uint8_t)(seed >> 20);
        }
        cam_decode_options o;
        cam_decode_options_init(&o);
        o.max_pixels = 4000000;
        o.min_short = (k & 1) ? 8 : 0;
        cam_image im;
        cam_image_info info;
        char err[256];
        cam_status st = cam_image_decode(buf, b.n, &o, &im, &info, err, sizeof err);
        if (st == CAM_OK) {
            g_corrupt_ok++;
            CHECK(im.rgb && im.width > 0 && im.height > 0 && im.stride == (size_t)im.width * 3, "bad image");
            /* touch every byte: ASan checks the buffer is as large as claimed */
            unsigned sum = 0;
            for (int y = 0; y < im.height; y++)
                for (size_t i = 0; i < im.stride; i++) sum += im.rgb[(size_t)y * im.stride + i];
            (void)sum;
            cam_image_free(&im);
        } else {
            g_corrupt_fail++;
            CHECK(im.rgb == NULL && err[0], "failure without message or with pixels");
        }
    }
    free(buf);
}

static void corrupt_all(void) {
    blob v[] = {jpeg_quadrants(40, 24, TJSAMP_420, 0), jpeg_quadrants(40, 24, TJSAMP_444, TJFLAG_PROGRESSIVE),
                png_quadrants(40, 24, PNG_COLOR_TYPE_RGBA), png_quadrants(40, 24, PNG_COLOR_TYPE_RGB)};
    for (int i = 0; i < 4; i++) {
        corrupt_loop(v[i], 1000u + (unsigned)i, 1500);
        free(v[i].p);
    }
}

TEST(corrupt_bytes_quietly) {
    long n = stderr_bytes(corrupt_all);
    printf("  6000 corrupted files: %d decoded, %d refused\n", g_corrupt_ok, g_corrupt_fail);
    CHECK(n == 0, "%ld bytes written to stderr", n);
    CHECK(g_corrupt_fail > 0 && g_corrupt_ok > 0, "no mix of outcomes");
}

/* ---- threads ------------------------------------------------------------------------------- */

static blob g_tj, g_tp;
static void *decode_many(void *arg) {
    long bad = 0;
    for (int k = 0; k < 50; k++) {
        cam_image im;
        char err[256];
        blob b = (k & 1) ? g_tp : g_tj;
        if (cam_image_decode(b.p, b.n, NULL, &im, NULL, err, sizeof err) != CAM_OK || im.width != 48) bad++;
        cam_image_free(&im);
    }
    (void)arg;
    return (void *)bad;
}

TEST(concurrent_decodes) {
    blob j = jpeg_quadrants(48, 48, TJSAMP_420, 0);
    g_tj = with_orientation(j, 3, 1);
    free(j.p);
    g_tp = png_quadrants(48, 48, PNG_COLOR_TYPE_RGBA);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, decode_many, NULL);
    long bad = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad += (long)r;
    }
    CHECK(bad == 0, "%ld failed decodes", bad);
    free(g_tp.p);
    free(g_tj.p);
}

/* ---- real files -------------------------------------------------------------------------------- */

static blob read_file(const char *path) {
    blob b = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return b;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b.p = malloc(n > 0 ? (size_t)n : 1);
    b.n = fread(b.p, 1, (size_t)(n > 0 ? n : 0), f);
    fclose(f);
    return b;
}

TEST(shared_photos) {
    /* sizes as `file` reports them; all EXIF orientations are 1 (top-left) */
    static const struct { const char *name; int w, h; } photos[] = {
        {"bird.png", 512, 343}, {"cat.png", 512, 341}, {"sunflower.png", 512, 340},
        {"dragonfly.jpg", 512, 418}, {"grace_hopper.jpg", 512, 600}, {"hot_dog.jpg", 512, 384},
        {"kite_and_cold.jpg", 1352, 900}, {"owl.jpg", 512, 384}, {"parrot.jpg", 512, 929},
        {"pets.jpg", 512, 430},
    };
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/images", check_shared_dir());
    DIR *d = opendir(dir);
    if (!d) SKIP("%s not found (set CAMSERVE_SHARED)", dir);
    closedir(d);
    for (size_t i = 0; i < sizeof photos / sizeof photos[0]; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, photos[i].name);
        blob b = read_file(path);
        CHECK(b.p, "cannot read %s", path);
        cam_image im;
        cam_image_info info;
        char err[256];
        CHECK(decode(b, NULL, &im, &info, err) == CAM_OK, "%s: %s", photos[i].name, err);
        CHECK(im.width == photos[i].w && im.height == photos[i].h && info.orientation == 1, "%s: %dx%d o%d",
              photos[i].name, im.width, im.height, info.orientation);
        cam_image_free(&im);
        /* and reduced for a 224 network: shorter side >= 224 */
        cam_decode_options o;
        cam_decode_options_init(&o);
        o.min_short = 224;
        CHECK(decode(b, &o, &im, &info, err) == CAM_OK, "%s scaled: %s", photos[i].name, err);
        int s = im.width < im.height ? im.width : im.height;
        CHECK(s >= 224 && info.width == photos[i].w, "%s scaled to %dx%d", photos[i].name, im.width, im.height);
        cam_image_free(&im);
        free(b.p);
    }
}

TEST(shared_ilsvrc_images) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/ilsvrc-dev/images", check_shared_dir());
    DIR *d = opendir(dir);
    if (!d) SKIP("%s not found (set CAMSERVE_SHARED)", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        blob b = read_file(path);
        cam_image im;
        cam_image_info info;
        char err[256];
        CHECK(decode(b, NULL, &im, &info, err) == CAM_OK, "%s: %s", e->d_name, err);
        CHECK(im.width == 227 && im.height == 227, "%s: %dx%d", e->d_name, im.width, im.height);
        cam_image_free(&im);
        free(b.p);
        n++;
    }
    closedir(d);
    printf("  %d images\n", n);
    CHECK(n > 0, "no images");
}

int main(void) {
    RUN(alloc_free_options);
    RUN(not_an_image);
    RUN(jpeg_baseline_subsamplings);
    RUN(jpeg_progressive);
    RUN(jpeg_grayscale);
    RUN(jpeg_cmyk_adobe_inverted);
    RUN(jpeg_cmyk_plain_and_transform0);
    RUN(exif_orientations);
    RUN(exif_malformed_is_ignored);
    RUN(scale_choice);
    RUN(scaled_decode_with_orientation);
    RUN(scaled_decode_cost);
    RUN(png_every_color_type_and_depth);
    RUN(png_alpha_over_white);
    RUN(pixel_cap);
    RUN(truncated_every_prefix);
    RUN(jpeg_warnings_policy);
    RUN(corrupt_bytes_quietly);
    RUN(concurrent_decodes);
    RUN(shared_photos);
    RUN(shared_ilsvrc_images);
    return check_summary();
}
