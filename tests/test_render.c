/* test_render.c: colormaps, overlay, PNG encoding (decoded back with
 * libpng), base64; timings of the rendering chain. */
#include "check.h"
#include "internal.h"
#include "render_internal.h"

#include <png.h>
#include <time.h>
#include <zlib.h>
#include "timing.h"

static const uint8_t *rgb_at(cam_colormap c, int i) { return cam_colormap_lut(c) + 3 * i; }

#define CHECK_RGB(p, r, g, b, what)                                                                       \
    CHECK((p)[0] == (r) && (p)[1] == (g) && (p)[2] == (b), "%s = (%d,%d,%d), want (%d,%d,%d)", what, (p)[0], \
          (p)[1], (p)[2], r, g, b)

/* ---- colormaps ----------------------------------------------------------- */

TEST(colormap_known_values) {
    /* jet: MATLAB's jet(256): dark blue, blue, cyan, (128,255,128), yellow, dark red */
    CHECK_RGB(rgb_at(CAM_CMAP_JET, 0), 0, 0, 131, "jet(0)");
    CHECK_RGB(rgb_at(CAM_CMAP_JET, 32), 0, 4, 255, "jet(32)");
    CHECK_RGB(rgb_at(CAM_CMAP_JET, 95), 0, 255, 255, "jet(95)");
    CHECK_RGB(rgb_at(CAM_CMAP_JET, 127), 128, 255, 128, "jet(127)");
    CHECK_RGB(rgb_at(CAM_CMAP_JET, 159), 255, 255, 0, "jet(159)");
    CHECK_RGB(rgb_at(CAM_CMAP_JET, 255), 128, 0, 0, "jet(255)");
    /* matplotlib's tables, round(255 v) */
    CHECK_RGB(rgb_at(CAM_CMAP_VIRIDIS, 0), 68, 1, 84, "viridis(0)");
    CHECK_RGB(rgb_at(CAM_CMAP_VIRIDIS, 128), 33, 145, 140, "viridis(128)");
    CHECK_RGB(rgb_at(CAM_CMAP_VIRIDIS, 200), 112, 207, 87, "viridis(200)");
    CHECK_RGB(rgb_at(CAM_CMAP_VIRIDIS, 255), 253, 231, 37, "viridis(255)");
    CHECK_RGB(rgb_at(CAM_CMAP_INFERNO, 0), 0, 0, 4, "inferno(0)");
    CHECK_RGB(rgb_at(CAM_CMAP_INFERNO, 128), 188, 55, 84, "inferno(128)");
    CHECK_RGB(rgb_at(CAM_CMAP_INFERNO, 255), 252, 255, 164, "inferno(255)");
    CHECK_RGB(rgb_at(CAM_CMAP_TURBO, 0), 48, 18, 59, "turbo(0)");
    CHECK_RGB(rgb_at(CAM_CMAP_TURBO, 64), 40, 188, 235, "turbo(64)");
    CHECK_RGB(rgb_at(CAM_CMAP_TURBO, 128), 164, 252, 60, "turbo(128)");
    CHECK_RGB(rgb_at(CAM_CMAP_TURBO, 255), 122, 4, 3, "turbo(255)");
    for (int i = 0; i < 256; i++) CHECK_RGB(rgb_at(CAM_CMAP_GRAY, i), i, i, i, "gray(i)");
    /* viridis and inferno are perceptually uniform: lightness (here a
     * luma proxy) rises monotonically */
    for (int m = 0; m < 2; m++) {
        cam_colormap c = m ? CAM_CMAP_INFERNO : CAM_CMAP_VIRIDIS;
        for (int i = 1; i < 256; i++) {
            const uint8_t *a = rgb_at(c, i - 1), *b = rgb_at(c, i);
            double la = 0.299 * a[0] + 0.587 * a[1] + 0.114 * a[2], lb = 0.299 * b[0] + 0.587 * b[1] + 0.114 * b[2];
            CHECK(lb >= la - 1.0, "%s luma drops at %d: %.1f -> %.1f", cam_colormap_name(c), i, la, lb);
        }
    }
}

TEST(colormap_parse_name) {
    const char *names[] = {"jet", "turbo", "viridis", "inferno", "gray"};
    for (int i = 0; i < 5; i++) {
        cam_colormap c = (cam_colormap)-1;
        CHECK(cam_colormap_parse(names[i], &c) == 1, "%s not parsed", names[i]);
        CHECK((int)c == i, "%s -> %d", names[i], (int)c);
        CHECK(strcmp(cam_colormap_name(c), names[i]) == 0, "name(%d) = %s", i, cam_colormap_name(c));
        CHECK(cam_colormap_lut(c) != NULL, "lut(%d)", i);
    }
    cam_colormap c = CAM_CMAP_GRAY;
    CHECK(cam_colormap_parse("JET", &c) == 1 && c == CAM_CMAP_JET, "case-insensitive");
    c = CAM_CMAP_TURBO;
    CHECK(cam_colormap_parse("hot", &c) == 0 && c == CAM_CMAP_TURBO, "unknown name must fail, untouched");
    CHECK(cam_colormap_parse("", &c) == 0, "empty name");
    CHECK(cam_colormap_parse(NULL, &c) == 0, "NULL name");
    CHECK(cam_colormap_parse("jet ", &c) == 0, "trailing space");
    CHECK(cam_colormap_name((cam_colormap)99) == NULL, "name of a bad value");
    CHECK(cam_colormap_lut((cam_colormap)-1) == NULL, "lut of a bad value");
}

/* ---- overlay ------------------------------------------------------------- */

/* a w x h image with rows `pad` bytes longer than needed */
static cam_image make_img(int w, int h, int pad, unsigned seed) {
    cam_image im;
    im.width = w;
    im.height = h;
    im.stride = (size_t)w * 3 + (size_t)pad;
    im.rgb = malloc(im.stride * (size_t)h);
    for (size_t i = 0; i < im.stride * (size_t)h; i++) {
        seed = seed * 1664525u + 1013904223u;
        im.rgb[i] = (uint8_t)(seed >> 24);
    }
    return im;
}

/* 37 wide: the scalar colour gather only; 203: three 64-pixel steps of the
 * AVX-512 one and a tail (make test runs this suite with and without it) */
static void check_overlay_alpha(int w, int h) {
    cam_image img = make_img(w, h, 5, 7);
    float *heat = malloc((size_t)w * h * sizeof *heat);
    unsigned s = 3;
    for (int i = 0; i < w * h; i++) heat[i] = check_randf(&s, -0.2f, 1.2f);
    heat[0] = NAN;
    heat[1] = INFINITY;
    heat[2] = -INFINITY;
    heat[3] = 0.5f / 255.0f; /* exactly half a step: rounds up to index 1 */
    char err[256];
    for (int cm = 0; cm < 5; cm++) {
        const uint8_t *lut = cam_colormap_lut((cam_colormap)cm);
        float alphas[] = {0.0f, 1.0f, 0.5f, -3.0f, 7.0f, 0.3f};
        for (int k = 0; k < 6; k++) {
            cam_image out;
            cam_status st = cam_overlay(&img, heat, (cam_colormap)cm, alphas[k], &out, err, sizeof err);
            CHECK(st == CAM_OK, "overlay: %s", err);
            CHECK(out.width == w && out.height == h, "size %dx%d", out.width, out.height);
            float a = alphas[k] < 0 ? 0 : alphas[k] > 1 ? 1 : alphas[k];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    float v = heat[y * w + x];
                    v = v != v ? 0 : v < 0 ? 0 : v > 1 ? 1 : v;
                    int idx = (int)lrintf(v * 255.0f);
                    if (y == 0 && x == 3) idx = 1;
                    for (int c = 0; c < 3; c++) {
                        int p = img.rgb[(size_t)y * img.stride + 3 * x + c], l = lut[3 * idx + c];
                        int o = out.rgb[(size_t)y * out.stride + 3 * x + c];
                        int want;
                        if (a == 0.0f) want = p;
                        else if (a == 1.0f) want = l;
                        else if (a == 0.5f) want = (p + l + 1) / 2; /* halves round up */
                        else want = (int)floorf(a * l + (1 - a) * p + 0.5f);
                        CHECK(abs(o - want) <= (a == 0.3f ? 1 : 0), "cmap %d alpha %g (%d,%d,%d): %d, want %d", cm,
                              alphas[k], x, y, c, o, want);
                    }
                }
            cam_image_free(&out);
        }
    }
    cam_image out;
    CHECK(cam_overlay(&img, heat, CAM_CMAP_JET, NAN, &out, err, sizeof err) == CAM_EINVAL, "NaN alpha");
    CHECK(cam_overlay(&img, heat, (cam_colormap)9, 0.5f, &out, err, sizeof err) == CAM_EINVAL, "bad colormap");
    CHECK(cam_overlay(&img, NULL, CAM_CMAP_JET, 0.5f, &out, err, sizeof err) == CAM_EINVAL, "NULL heat");
    CHECK(cam_overlay(NULL, heat, CAM_CMAP_JET, 0.5f, &out, err, sizeof err) == CAM_EINVAL, "NULL image");
    cam_image bad = img;
    bad.stride = 10;
    CHECK(cam_overlay(&bad, heat, CAM_CMAP_JET, 0.5f, &out, err, sizeof err) == CAM_EINVAL, "short stride");
    CHECK(strstr(err, "stride") != NULL, "reason: %s", err);
    free(heat);
    free(img.rgb);
}

TEST(overlay_alpha) {
    check_overlay_alpha(37, 11);
    check_overlay_alpha(203, 5);
}

/* ---- PNG ----------------------------------------------------------------- */

/* Decodes png with libpng's simplified API into a tightly packed buffer of
 * `channels` per pixel; NULL (and the reason in err) on failure. */
static uint8_t *png_decode(const uint8_t *png, size_t len, int channels, int *w, int *h, char *err, size_t errlen) {
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&pi, png, len)) {
        snprintf(err, errlen, "begin: %s", pi.message);
        return NULL;
    }
    int native_gray = !(pi.format & PNG_FORMAT_FLAG_COLOR);
    if (native_gray != (channels == 1) || (pi.format & PNG_FORMAT_FLAG_ALPHA)) {
        snprintf(err, errlen, "format 0x%x for %d channels", pi.format, channels);
        png_image_free(&pi);
        return NULL;
    }
    pi.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(pi));
    if (!px || !png_image_finish_read(&pi, NULL, px, 0, NULL)) {
        snprintf(err, errlen, "finish: %s", pi.message);
        free(px);
        png_image_free(&pi);
        return NULL;
    }
    *w = (int)pi.width;
    *h = (int)pi.height;
    png_image_free(&pi);
    return px;
}

static void check_png_rgb(const cam_image *img, const cam__png_params *p, const char *what) {
    uint8_t *png = NULL;
    size_t len = 0;
    char err[256];
    cam_status st = p ? cam__png_encode(img->rgb, img->stride, img->width, img->height, 3, p, &png, &len, err,
                                        sizeof err)
                      : cam_png_encode_rgb(img, &png, &len, err, sizeof err);
    CHECK(st == CAM_OK, "%s: encode: %s", what, err);
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    CHECK(len > 8 && memcmp(png, sig, 8) == 0, "%s: no PNG signature", what);
    int w = 0, h = 0;
    uint8_t *px = png_decode(png, len, 3, &w, &h, err, sizeof err);
    CHECK(px, "%s: decode: %s", what, err);
    CHECK(w == img->width && h == img->height, "%s: decoded %dx%d", what, w, h);
    for (int y = 0; y < h; y++) {
        const uint8_t *a = px + (size_t)y * w * 3, *b = img->rgb + (size_t)y * img->stride;
        for (int x = 0; x < 3 * w; x++)
            CHECK(a[x] == b[x], "%s: %dx%d pixel byte (%d,%d): %d != %d", what, w, h, x, y, a[x], b[x]);
    }
    free(px);
    free(png);
}

/* images of several kinds: noise (stored blocks), flat, smooth, a few values */
static cam_image make_kind(int w, int h, int kind, unsigned seed) {
    cam_image im = make_img(w, h, kind == 0 ? 0 : 3, seed);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < 3 * w; x++) {
            uint8_t *p = im.rgb + (size_t)y * im.stride + x;
            switch (kind) {
            case 1: *p = 200; break;
            case 2: *p = (uint8_t)(x / 3 + 2 * y + (*p & 3)); break;
            case 3: *p = (uint8_t)(*p % 3 * 100); break;
            default: break;
            }
        }
    return im;
}

TEST(png_rgb_roundtrip) {
    int sizes[][2] = {{1, 1}, {3, 7}, {7, 3}, {2, 1}, {1, 9}, {64, 64}, {257, 13}, {512, 341}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int kind = 0; kind < 4; kind++) {
            cam_image im = make_kind(sizes[s][0], sizes[s][1], kind, (unsigned)(s * 7 + kind));
            char what[64];
            snprintf(what, sizeof what, "%dx%d kind %d", im.width, im.height, kind);
            check_png_rgb(&im, NULL, what);
            /* every filter, and blocks small enough to split the image */
            for (int f = CAM__PNG_NONE; f <= CAM__PNG_PAETH; f++) {
                cam__png_params p = {f, (size_t)(f * 977 + 100)};
                snprintf(what, sizeof what, "%dx%d kind %d filter %d", im.width, im.height, kind, f);
                check_png_rgb(&im, &p, what);
            }
            free(im.rgb);
        }
}

TEST(png_large) {
    cam_image im = make_kind(2000, 1500, 2, 11);
    double t0 = now_ms();
    check_png_rgb(&im, NULL, "2000x1500 smooth");
    printf("  2000x1500 smooth RGB: encode + decode + compare %.1f ms\n", now_ms() - t0);
    free(im.rgb);
    im = make_kind(2000, 1500, 0, 12); /* noise: > 64 KiB stored blocks */
    check_png_rgb(&im, NULL, "2000x1500 noise");
    free(im.rgb);
}

/* Encodes the w x h gray bytes g with p, decodes the PNG with libpng and
 * checks that g comes back; the PNG's size. */
static size_t check_png_gray_bytes(const uint8_t *g, int w, int h, const cam__png_params *p) {
    uint8_t *png = NULL;
    size_t len = 0;
    char err[256];
    CHECK(cam__png_encode(g, (size_t)w, w, h, 1, p, &png, &len, err, sizeof err) == CAM_OK, "%s", err);
    int dw = 0, dh = 0;
    uint8_t *px = png_decode(png, len, 1, &dw, &dh, err, sizeof err);
    CHECK(px, "decode: %s", err);
    CHECK(dw == w && dh == h && memcmp(px, g, (size_t)w * h) == 0, "%dx%d: pixels differ", w, h);
    free(px);
    free(png);
    return len;
}

/* Byte frequencies along the Fibonacci numbers make the optimal Huffman
 * code ~25 deep: the 15-bit limit of deflate must kick in. */
TEST(png_deep_huffman) {
    int w = 443, h = 443;
    uint8_t *g = malloc((size_t)w * h);
    size_t n = 0;
    unsigned long fa = 1, fb = 1;
    for (int sym = 1; n < (size_t)w * h; sym++) {
        for (unsigned long k = 0; k < fa && n < (size_t)w * h; k++) g[n++] = (uint8_t)sym;
        unsigned long t = fa + fb;
        fa = fb;
        fb = t;
    }
    cam__png_params p = {CAM__PNG_NONE, (size_t)1 << 20};
    size_t len = check_png_gray_bytes(g, w, h, &p);
    /* entropy ~2.6 bits a byte; a depth-limited code stays close */
    CHECK(len < (size_t)w * h * 3 / 8, "skewed data should compress well: %zu bytes", len);
    free(g);
}

/* Blocks of 32 KiB and more code bytes in pairs (a 64K-entry table, codes
 * limited to 13 bits; png_deep_huffman makes the limit kick in): lengths
 * that leave 1..7 bytes after the 8-byte steps, blocks just above the
 * threshold followed by a smaller last one. */
TEST(png_pair_codes) {
    int sizes[][2] = {{257, 61}, {1000, 33}, {333, 100}, {2, 9000}, {4096, 3}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int kind = 0; kind < 4; kind++) {
            cam_image im = make_kind(sizes[s][0], sizes[s][1], kind, (unsigned)(s * 5 + kind));
            size_t blocks[] = {128 * 1024, 32 * 1024 + 1 + s * 7, 1 << 20};
            for (int k = 0; k < 3; k++) {
                cam__png_params p = {CAM__PNG_PAETH, blocks[k]};
                char what[96];
                snprintf(what, sizeof what, "%dx%d kind %d blocks %zu", im.width, im.height, kind, blocks[k]);
                check_png_rgb(&im, &p, what);
            }
            free(im.rgb);
        }
    /* mostly one value with rare others */
    cam_image im = make_kind(700, 200, 1, 3);
    for (int i = 0; i < 40; i++) im.rgb[(size_t)(i * 997) % (200 * im.stride)] = (uint8_t)(i * 37);
    check_png_rgb(&im, NULL, "flat with specks");
    free(im.rgb);
}

/* The code of a large block is built from a sample of its bytes (the
 * first 64 of every 256).  Rows of 256 filtered bytes whose sampled part
 * holds 16 values and whose rest is noise: the sample gives those 16 short
 * codes and the other 240 the longest, so the noise costs ~12 bits a byte.
 * The encoder must notice after coding and store those blocks instead. */
TEST(png_sample_misjudged) {
    int w = 255, h = 1024;   /* + the filter byte: rows of 256 */
    uint8_t *g = calloc((size_t)w * h, 1);
    unsigned seed = 9;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            g[(size_t)y * w + x] = x < 63 ? (uint8_t)(x % 16) : (uint8_t)check_randf(&seed, 0.0f, 256.0f);
    cam__png_params p = {CAM__PNG_NONE, 128 * 1024};
    size_t len = check_png_gray_bytes(g, w, h, &p);
    /* stored: the raw 256 x 1024 bytes + 5 per 64 KiB chunk + PNG framing */
    size_t raw = (size_t)(w + 1) * h;
    CHECK(len <= raw + raw / 1000 + 100, "%zu bytes for %zu raw: a misjudged code was kept", len, raw);
    free(g);
}

TEST(png_gray) {
    int sizes[][2] = {{1, 1}, {3, 7}, {64, 33}, {2000, 1500}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int w = sizes[s][0], h = sizes[s][1];
        float *v = malloc((size_t)w * h * sizeof *v);
        unsigned seed = 5;
        for (int i = 0; i < w * h; i++) {
            int x = i % w, y = i / w;
            v[i] = s == 3 ? (float)(x + y) / (float)(w + h) : check_randf(&seed, -0.1f, 1.1f);
        }
        if (w * h >= 4) {
            v[0] = NAN;
            v[1] = 2.0f;
            v[2] = -1.0f;
            v[3] = 0.5f / 255.0f;
        }
        uint8_t *png;
        size_t len;
        char err[256];
        CHECK(cam_png_encode_gray(v, w, h, &png, &len, err, sizeof err) == CAM_OK, "%s", err);
        int dw, dh;
        uint8_t *px = png_decode(png, len, 1, &dw, &dh, err, sizeof err);
        CHECK(px, "%dx%d decode: %s", w, h, err);
        CHECK(dw == w && dh == h, "size %dx%d", dw, dh);
        for (int i = 0; i < w * h; i++) {
            float x = v[i];
            x = x != x ? 0 : x < 0 ? 0 : x > 1 ? 1 : x;
            int want = (int)floorf(x * 255.0f + 0.5f);
            CHECK(px[i] == want, "%dx%d value %d (%g): %d, want %d", w, h, i, (double)v[i], px[i], want);
        }
        free(px);
        free(png);
        free(v);
    }
}

TEST(png_errors) {
    cam_image im = make_kind(4, 4, 1, 1);
    uint8_t *png = (uint8_t *)1;
    size_t len = 1;
    char err[256];
    CHECK(cam_png_encode_rgb(NULL, &png, &len, err, sizeof err) == CAM_EINVAL, "NULL image");
    cam_image bad = im;
    bad.width = 0;
    CHECK(cam_png_encode_rgb(&bad, &png, &len, err, sizeof err) == CAM_EINVAL, "zero width");
    CHECK(png == NULL && len == 0, "outputs cleared on error");
    bad = im;
    bad.stride = 5;
    CHECK(cam_png_encode_rgb(&bad, &png, &len, err, sizeof err) == CAM_EINVAL, "short stride");
    float v = 0.5f;
    CHECK(cam_png_encode_gray(&v, 1, -1, &png, &len, err, sizeof err) == CAM_EINVAL, "negative height");
    CHECK(cam_png_encode_gray(NULL, 1, 1, &png, &len, err, sizeof err) == CAM_EINVAL, "NULL values");
    CHECK(cam_png_encode_gray(&v, 1 << 20, 1 << 20, &png, &len, err, sizeof err) == CAM_ELIMIT, "huge: %s", err);
    cam__png_params p = {7, 1000};
    CHECK(cam__png_encode(im.rgb, im.stride, 4, 4, 3, &p, &png, &len, err, sizeof err) == CAM_EINVAL, "filter 7");
    free(im.rgb);
}

TEST(adler32_matches_zlib) {
    unsigned s = 9;
    size_t n = 100000;
    uint8_t *b = malloc(n);
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
    memset(b + 50000, 255, 20000); /* long runs of the largest byte: the NMAX bound */
    size_t lens[] = {0, 1, 31, 32, 33, 5551, 5552, 5553, 11104, 65536, 100000};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        uint32_t a = cam__adler32(1, b, lens[k]);
        uint32_t z = (uint32_t)adler32(1L, b, (uInt)lens[k]);
        CHECK(a == z, "length %zu: %08x, zlib %08x", lens[k], a, z);
        /* in two pieces */
        uint32_t a2 = cam__adler32(cam__adler32(1, b, lens[k] / 3), b + lens[k] / 3, lens[k] - lens[k] / 3);
        CHECK(a2 == z, "length %zu in pieces", lens[k]);
    }
    free(b);
}

TEST(crc32_matches_zlib) {
    size_t n = 1 << 20;
    uint8_t *b = malloc(n + 64);
    unsigned s = 17;
    for (size_t i = 0; i < n + 64; i++) b[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
    memset(b + 4096, 0, 3000); /* zero and all-ones runs */
    memset(b + 9000, 255, 3000);
    /* every length around the 64-byte fold and the 16-byte tail, then
     * random lengths, offsets (alignments) and initial values */
    for (int k = 0; k < 3000; k++) {
        size_t len = k < 300 ? (size_t)k : (s = s * 1664525u + 1013904223u) >> 8 & (k < 2900 ? 4095 : n - 1);
        size_t off = (s = s * 1664525u + 1013904223u) >> 26;
        uint32_t init = k % 3 ? (s = s * 1664525u + 1013904223u) : 0;
        uint32_t c = cam__crc32(init, b + off, len), z = (uint32_t)crc32(init, b + off, (uInt)len);
        CHECK(c == z, "length %zu offset %zu init %08x: %08x, zlib %08x", len, off, init, c, z);
    }
    free(b);
}

/* ---- base64 -------------------------------------------------------------- */

static int b64_val(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* strict decoder: returns the length, or -1 on any malformation */
static long b64_decode(const char *s, size_t n, uint8_t *out) {
    if (n % 4) return -1;
    long o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int pad = (s[i + 3] == '=') + (s[i + 2] == '=');
        if (pad && i + 4 != n) return -1;
        if (s[i + 2] == '=' && s[i + 3] != '=') return -1;
        int v[4];
        for (int k = 0; k < 4 - pad; k++)
            if ((v[k] = b64_val(s[i + k])) < 0) return -1;
        for (int k = 4 - pad; k < 4; k++) v[k] = 0;
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (uint8_t)(x >> 16);
        if (pad < 2) out[o++] = (uint8_t)(x >> 8);
        if (pad < 1) out[o++] = (uint8_t)x;
    }
    return o;
}

TEST(base64_rfc4648) {
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        size_t n = strlen(in[i]);
        char out[64];
        memset(out, '#', sizeof out);
        CHECK(cam_base64_len(n) == strlen(want[i]) + 1, "len(%zu) = %zu", n, cam_base64_len(n));
        size_t k = cam_base64_encode((const uint8_t *)in[i], n, out);
        CHECK(k == strlen(want[i]) && strcmp(out, want[i]) == 0, "\"%s\" -> \"%s\"", in[i], out);
        CHECK(out[k + 1] == '#', "wrote past the terminator");
    }
    /* all 64 symbols */
    uint8_t all[48];
    for (int i = 0; i < 16; i++) {
        uint32_t x = (uint32_t)(4 * i) << 18 | (uint32_t)(4 * i + 1) << 12 | (uint32_t)(4 * i + 2) << 6 | (4 * i + 3);
        all[3 * i] = (uint8_t)(x >> 16);
        all[3 * i + 1] = (uint8_t)(x >> 8);
        all[3 * i + 2] = (uint8_t)x;
    }
    char out[65];
    cam_base64_encode(all, 48, out);
    CHECK(strcmp(out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") == 0, "%s", out);
    CHECK(cam_base64_len(SIZE_MAX) == SIZE_MAX, "overflow saturates");
    /* the largest input whose length still fits, and one byte more */
    CHECK(cam_base64_len(SIZE_MAX / 4 * 3) == SIZE_MAX - 2, "largest representable length");
    CHECK(cam_base64_len(SIZE_MAX / 4 * 3 + 1) == SIZE_MAX, "overflow saturates at the edge");
}

TEST(base64_roundtrip) {
    unsigned s = 1;
    uint8_t *buf = malloc(5000), *back = malloc(5000);
    char *enc = malloc(cam_base64_len(5000));
    for (int t = 0; t < 500; t++) {
        size_t n = t < 100 ? (size_t)t : (size_t)(check_randf(&s, 0, 5000));
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
        size_t k = cam_base64_encode(buf, n, enc);
        CHECK(k + 1 == cam_base64_len(n) && enc[k] == 0, "n %zu: length %zu", n, k);
        long d = b64_decode(enc, k, back);
        CHECK(d == (long)n && memcmp(back, buf, n) == 0, "n %zu: round trip failed (%ld)", n, d);
    }
    free(buf);
    free(back);
    free(enc);
}

/* ---- timing -------------------------------------------------------------- */

static int load_png_rgb(const char *path, cam_image *img) {
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&pi, path)) return 0;
    pi.format = PNG_FORMAT_RGB;
    img->width = (int)pi.width;
    img->height = (int)pi.height;
    img->stride = (size_t)img->width * 3;
    img->rgb = malloc(PNG_IMAGE_SIZE(pi));
    if (!img->rgb || !png_image_finish_read(&pi, NULL, img->rgb, 0, NULL)) {
        free(img->rgb);
        png_image_free(&pi);
        return 0;
    }
    return 1;
}

/* Overlay + PNG + base64 of a 512x341 photo with a CAM-like heatmap,
 * median of 50.  Printed, not asserted: sanitizer builds and a loaded
 * machine would make a bound flaky. */
TEST(timing_render_chain) {
    cam_image img;
    const char *shared = getenv("CAMSERVE_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/images/cat.png", shared && *shared ? shared : "../shared");
    const char *src = path;
    if (!load_png_rgb(src, &img)) {
        src = "synthetic";
        img = make_kind(512, 341, 2, 1);
    }
    float *heat = malloc((size_t)img.width * img.height * sizeof *heat);
    for (int y = 0; y < img.height; y++)
        for (int x = 0; x < img.width; x++) {
            double dx = (x - 0.4 * img.width) / (0.25 * img.width), dy = (y - 0.55 * img.height) / (0.3 * img.height);
            heat[(size_t)y * img.width + x] = (float)exp(-(dx * dx + dy * dy));
        }
    double to[50], tp[50], tb[50], tt[50];
    size_t png_len = 0;
    for (int k = 0; k < 50; k++) {
        cam_image ov;
        uint8_t *png;
        char err[256];
        double t0 = now_ms();
        CHECK(cam_overlay(&img, heat, CAM_CMAP_JET, 0.5f, &ov, err, sizeof err) == CAM_OK, "%s", err);
        double t1 = now_ms();
        CHECK(cam_png_encode_rgb(&ov, &png, &png_len, err, sizeof err) == CAM_OK, "%s", err);
        double t2 = now_ms();
        char *b64 = malloc(cam_base64_len(png_len));
        cam_base64_encode(png, png_len, b64);
        double t3 = now_ms();
        to[k] = t1 - t0;
        tp[k] = t2 - t1;
        tb[k] = t3 - t2;
        tt[k] = t3 - t0;
        free(b64);
        free(png);
        cam_image_free(&ov);
    }
    printf("  %s %dx%d jet overlay, median of 50: overlay %.3f ms, PNG %.3f ms (%zu bytes, %.2f of raw), "
           "base64 %.3f ms, total %.3f ms\n",
           src, img.width, img.height, median(to, 50), median(tp, 50), png_len,
           (double)png_len / (3.0 * img.width * img.height), median(tb, 50), median(tt, 50));
    free(heat);
    free(img.rgb);
}

int main(void) {
    RUN(colormap_known_values);
    RUN(colormap_parse_name);
    RUN(overlay_alpha);
    RUN(png_rgb_roundtrip);
    RUN(png_large);
    RUN(png_deep_huffman);
    RUN(png_pair_codes);
    RUN(png_sample_misjudged);
    RUN(png_gray);
    RUN(png_errors);
    RUN(adler32_matches_zlib);
    RUN(crc32_matches_zlib);
    RUN(base64_rfc4648);
    RUN(base64_roundtrip);
    RUN(timing_render_chain);
    return check_summary();
}
