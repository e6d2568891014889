/* test_preprocess.c: resizing (bit-exact against Pillow), the network input
 * (normalisation, channel order) and its geometry in the full image. */
#include "check.h"
#include "internal.h"

#include <pthread.h>
#include <time.h>
#include "timing.h"

/* An image whose rows are `pad` bytes longer than needed (the code must
 * honour stride), filled by fn(x, y, c). */
static cam_image make_img(int w, int h, int pad, int (*fn)(int x, int y, int c)) {
    cam_image im;
    im.width = w;
    im.height = h;
    im.stride = (size_t)w * 3 + (size_t)pad;
    im.rgb = malloc(im.stride * (size_t)h);
    memset(im.rgb, 0xee, im.stride * (size_t)h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) im.rgb[(size_t)y * im.stride + 3 * x + c] = (uint8_t)fn(x, y, c);
    return im;
}

static uint8_t px(const cam_image *im, int x, int y, int c) { return im->rgb[(size_t)y * im->stride + 3 * x + c]; }

/* the pattern the Pillow reference hashes below were computed on */
static int pattern(int x, int y, int c) { return (x * 7 + y * 13 + c * 101 + (x * y % 17) * 5) & 255; }

static uint64_t fnv1a(const cam_image *im) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int y = 0; y < im->height; y++)
        for (int i = 0; i < 3 * im->width; i++) {
            h ^= im->rgb[(size_t)y * im->stride + i];
            h *= 0x100000001b3ULL;
        }
    return h;
}

static cam_image resize(const cam_image *im, int w, int h) {
    cam_image out;
    char err[256];
    cam_status st = cam_image_resize(im, w, h, &out, err, sizeof err);
    CHECK(st == CAM_OK, "resize %dx%d -> %dx%d: %s", im->width, im->height, w, h, err);
    CHECK(out.width == w && out.height == h, "output %dx%d", out.width, out.height);
    return out;
}

/* ---- resize ---------------------------------------------------------------- */

/* Outputs of Pillow 9.4.0's Image.resize((w, h), Image.BILINEAR) on
 * pattern(), as FNV-1a of the RGB bytes (generated with Debian's
 * python3-pil; torchvision's Resize calls exactly this on PIL images). */
TEST(resize_matches_pillow) {
    static const struct { int iw, ih, ow, oh; uint64_t fnv; } ref[] = {
        {1024, 768, 224, 224, 0x4e86f90c4634ebfeULL}, {512, 341, 384, 256, 0x7f9d475a70902b4eULL},
        {341, 512, 256, 384, 0x61c0d31afd4b2578ULL},  {7, 5, 3, 2, 0x3fb3a29c0bbb7582ULL},
        {5, 4, 13, 9, 0xa201ff87ae8d332cULL},         {224, 224, 512, 341, 0xfb9318e1a2243b6cULL},
        {300, 200, 299, 201, 0x579300c2acfc4c9cULL},  {64, 48, 32, 24, 0x02309d0ac0c7f76bULL},
        {1, 1, 3, 2, 0xdd2dd897d587c1dfULL},
    };
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        cam_image im = make_img(ref[i].iw, ref[i].ih, (int)i % 3 * 4, pattern);
        cam_image out = resize(&im, ref[i].ow, ref[i].oh);
        uint64_t h = fnv1a(&out);
        CHECK(h == ref[i].fnv, "%dx%d -> %dx%d: fnv %016llx, Pillow %016llx", ref[i].iw, ref[i].ih, ref[i].ow,
              ref[i].oh, (unsigned long long)h, (unsigned long long)ref[i].fnv);
        cam_image_free(&out);
        free(im.rgb);
    }
    /* and one small case spelled out */
    static const uint8_t want[18] = {23, 124, 205, 49, 150, 154, 73, 174, 101, 58, 159, 128, 103, 185, 61, 118, 202, 64};
    cam_image im = make_img(7, 5, 0, pattern);
    cam_image out = resize(&im, 3, 2);
    CHECK(memcmp(out.rgb, want, 18) == 0, "7x5 -> 3x2 differs from Pillow");
    cam_image_free(&out);
    free(im.rgb);
}

static int const_color(int x, int y, int c) { return (void)x, (void)y, c == 0 ? 17 : c == 1 ? 128 : 250; }

TEST(resize_constant_stays_constant) {
    int sizes[][4] = {{100, 80, 7, 5}, {100, 80, 224, 224}, {3, 2, 1000, 999}, {1, 1, 5, 5}, {640, 480, 640, 1},
                      {17, 1, 4, 3},   {2000, 3, 1, 1}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        cam_image im = make_img(sizes[i][0], sizes[i][1], 1, const_color);
        cam_image out = resize(&im, sizes[i][2], sizes[i][3]);
        for (int y = 0; y < out.height; y++)
            for (int x = 0; x < out.width; x++)
                for (int c = 0; c < 3; c++)
                    CHECK(px(&out, x, y, c) == const_color(0, 0, c), "%dx%d -> %dx%d at (%d,%d,%d): %d", sizes[i][0],
                          sizes[i][1], sizes[i][2], sizes[i][3], x, y, c, px(&out, x, y, c));
        cam_image_free(&out);
        free(im.rgb);
    }
}

static int ramp(int x, int y, int c) { return c == 0 ? x % 256 : c == 1 ? (y * 2) % 256 : (x + y) / 4 % 256; }
static int affine(int x, int y, int c) { return 10 + 2 * x + 3 * y + c; }

static double mean_ch(const cam_image *im, int c) {
    double s = 0;
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width; x++) s += px(im, x, y, c);
    return s / ((double)im->width * im->height);
}

TEST(resize_gradient_keeps_mean) {
    cam_image im = make_img(256, 120, 0, ramp);
    int targets[][2] = {{64, 30}, {100, 47}, {224, 224}, {37, 11}, {512, 240}};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        cam_image out = resize(&im, targets[i][0], targets[i][1]);
        for (int c = 0; c < 3; c++) {
            double a = mean_ch(&im, c), b = mean_ch(&out, c);
            /* within rounding plus the edge renormalisation of the filter */
            CHECK(fabs(a - b) < 1.0, "-> %dx%d channel %d: mean %.3f, was %.3f", targets[i][0], targets[i][1], c, b,
                  a);
        }
        cam_image_free(&out);
    }
    free(im.rgb);
}

/* Shrinking by an integer factor f: the triangle filter of support f
 * equals f x f block averaging on affine content (both give the value at
 * the block centre), except in the outer ring where the filter is cut off
 * and renormalised. */
TEST(resize_integer_factor_is_block_average) {
    for (int f = 2; f <= 4; f++) {
        int ow = 12, oh = 9;
        cam_image im = make_img(ow * f, oh * f, 0, affine);
        cam_image out = resize(&im, ow, oh);
        for (int v = 1; v < oh - 1; v++)
            for (int u = 1; u < ow - 1; u++)
                for (int c = 0; c < 3; c++) {
                    double s = 0;
                    for (int y = 0; y < f; y++)
                        for (int x = 0; x < f; x++) s += px(&im, u * f + x, v * f + y, c);
                    double avg = s / (f * f);
                    CHECK(fabs(px(&out, u, v, c) - avg) <= 0.5 + 1e-9, "factor %d (%d,%d,%d): %d, block avg %.2f", f,
                          u, v, c, px(&out, u, v, c), avg);
                }
        cam_image_free(&out);
        free(im.rgb);
    }
}

/* The triangle filter written from its definition in double precision (no
 * fixed point, no intermediate rounding): the fast code must stay within
 * the two roundings of its 8-bit intermediate and output. */
static double ref_weight(int in, int out, int o, int i, double *norm) {
    double scale = (double)in / out, fs = scale < 1 ? 1 : scale, center = (o + 0.5) * scale;
    int lo = (int)(center - fs + 0.5), hi = (int)(center + fs + 0.5);
    if (lo < 0) lo = 0;
    if (hi > in) hi = in;
    double sum = 0, wi = 0;
    for (int k = lo; k < hi; k++) {
        double t = fabs((k + 0.5 - center) / fs), wk = t < 1 ? 1 - t : 0;
        sum += wk;
        if (k == i) wi = wk;
    }
    *norm = sum;
    return wi;
}

static int noise(int x, int y, int c) { return (int)((unsigned)(x * 2654435761u ^ y * 40503u ^ c * 977u) >> 7 & 255); }

TEST(resize_close_to_exact_filter) {
    int cases[][4] = {{97, 61, 30, 20}, {40, 30, 97, 61}, {64, 64, 32, 32}, {50, 50, 49, 51}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int iw = cases[t][0], ih = cases[t][1], ow = cases[t][2], oh = cases[t][3];
        cam_image im = make_img(iw, ih, 2, noise);
        cam_image out = resize(&im, ow, oh);
        double box_dev = 0;
        for (int v = 0; v < oh; v++)
            for (int u = 0; u < ow; u++)
                for (int c = 0; c < 3; c++) {
                    double acc = 0, ny = 0, nx = 0;
                    for (int y = 0; y < ih; y++) {
                        double wy = ref_weight(ih, oh, v, y, &ny);
                        if (wy == 0) continue;
                        for (int x = 0; x < iw; x++) {
                            double wx = ref_weight(iw, ow, u, x, &nx);
                            acc += wy * wx * px(&im, x, y, c);
                        }
                    }
                    acc /= nx * ny;
                    CHECK(fabs(px(&out, u, v, c) - acc) <= 1.0, "%dx%d -> %dx%d (%d,%d,%d): %d, exact %.3f", iw, ih,
                          ow, oh, u, v, c, px(&out, u, v, c), acc);
                    if (iw == 2 * ow && ih == 2 * oh) {
                        double s = 0;
                        for (int y = 0; y < 2; y++)
                            for (int x = 0; x < 2; x++) s += px(&im, 2 * u + x, 2 * v + y, c);
                        if (fabs(acc - s / 4) > box_dev) box_dev = fabs(acc - s / 4);
                    }
                }
        if (box_dev > 0)
            printf("  on noise, halving with the triangle filter departs from 2x2 averaging by up to %.1f levels "
                   "(it is not a box filter)\n",
                   box_dev);
        cam_image_free(&out);
        free(im.rgb);
    }
}

static int two_values(int x, int y, int c) { return (void)y, (void)c, x == 0 ? 0 : 100; }

TEST(resize_upscale_bilinear_values) {
    /* [0, 100] -> 4 pixels: centres at 0.25, 0.75, 1.25, 1.75 input pixels,
     * clamped at the edges: 0, 25, 75, 100 */
    cam_image im = make_img(2, 1, 0, two_values);
    cam_image out = resize(&im, 4, 1);
    int want[4] = {0, 25, 75, 100};
    for (int x = 0; x < 4; x++)
        for (int c = 0; c < 3; c++)
            CHECK(px(&out, x, 0, c) == want[x], "x %d: %d, want %d", x, px(&out, x, 0, c), want[x]);
    cam_image_free(&out);
    free(im.rgb);
    /* 2x2 [[0, 100], [200, 40]] -> 4x4, separable bilinear:
     * row r of the output mixes input rows with weights (1,0) (.75,.25) (.25,.75) (0,1) */
    cam_image sq;
    sq.width = sq.height = 2;
    sq.stride = 6;
    uint8_t v[4] = {0, 100, 200, 40};
    sq.rgb = malloc(12);
    for (int i = 0; i < 4; i++) sq.rgb[3 * i] = sq.rgb[3 * i + 1] = sq.rgb[3 * i + 2] = v[i];
    out = resize(&sq, 4, 4);
    double wt[4][2] = {{1, 0}, {0.75, 0.25}, {0.25, 0.75}, {0, 1}};
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) {
            double e = 0;
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < 2; i++) e += wt[y][j] * wt[x][i] * v[2 * j + i];
            /* exact values here are multiples of 1/16; Pillow rounds the
             * horizontal pass to 8 bits first */
            CHECK(fabs(px(&out, x, y, 1) - e) <= 1.0, "(%d,%d): %d, bilinear %.3f", x, y, px(&out, x, y, 1), e);
        }
    CHECK(px(&out, 0, 0, 0) == 0 && px(&out, 3, 0, 0) == 100 && px(&out, 0, 3, 0) == 200 && px(&out, 3, 3, 0) == 40,
          "corners must be the input pixels");
    CHECK(px(&out, 1, 0, 0) == 25 && px(&out, 2, 0, 0) == 75, "top row: %d %d", px(&out, 1, 0, 0), px(&out, 2, 0, 0));
    cam_image_free(&out);
    free(sq.rgb);
}

TEST(resize_errors) {
    cam_image im = make_img(8, 8, 0, pattern), out;
    char err[256];
    CHECK(cam_image_resize(&im, 0, 5, &out, err, sizeof err) == CAM_EINVAL, "width 0");
    CHECK(cam_image_resize(&im, 5, -1, &out, err, sizeof err) == CAM_EINVAL, "height -1");
    CHECK(cam_image_resize(&im, 100000, 5, &out, err, sizeof err) == CAM_EINVAL, "width 100000");
    CHECK(cam_image_resize(NULL, 5, 5, &out, err, sizeof err) == CAM_EINVAL, "NULL image");
    CHECK(cam_image_resize(&im, 5, 5, NULL, err, sizeof err) == CAM_EINVAL, "NULL out");
    cam_image bad = im;
    bad.stride = 23;
    CHECK(cam_image_resize(&bad, 5, 5, &out, err, sizeof err) == CAM_EINVAL, "short stride");
    CHECK(strstr(err, "stride") != NULL, "reason: %s", err);
    free(im.rgb);
}

/* ---- preprocessing ------------------------------------------------------- */

static cam_preprocess pp_default(cam_resize_mode mode) {
    cam_preprocess pp = {mode, 256, 224, 224, 0, {0, 0, 0}, {1, 1, 1}};
    return pp;
}

static int rgb_10_20_30(int x, int y, int c) { return (void)x, (void)y, 10 * (c + 1); }

TEST(preprocess_mean_std_bgr) {
    cam_image im = make_img(50, 40, 3, rgb_10_20_30);
    size_t n = 224 * 224;
    float *out = malloc(3 * n * sizeof *out);
    cam_geometry g;
    char err[256];
    for (int mode = 0; mode < 2; mode++)
        for (int bgr = 0; bgr < 2; bgr++) {
            cam_preprocess pp = pp_default((cam_resize_mode)mode);
            pp.bgr = bgr;
            pp.mean[0] = 1;
            pp.mean[1] = 2;
            pp.mean[2] = 3;
            pp.std[0] = 2;
            pp.std[1] = 4;
            pp.std[2] = 8;
            CHECK(cam_preprocess_image(&im, 50, 40, &pp, out, &g, err, sizeof err) == CAM_OK, "%s", err);
            /* RGB: (10-1)/2, (20-2)/4, (30-3)/8; BGR: (30-1)/2, (20-2)/4, (10-3)/8 */
            float want_rgb[3] = {4.5f, 4.5f, 3.375f}, want_bgr[3] = {14.5f, 4.5f, 0.875f};
            for (int c = 0; c < 3; c++)
                for (size_t i = 0; i < n; i++)
                    CHECK(out[c * n + i] == (bgr ? want_bgr : want_rgb)[c], "mode %d bgr %d channel %d [%zu]: %.9g",
                          mode, bgr, c, i, (double)out[c * n + i]);
        }
    /* the ImageNet constants: the exact float quotient (p - mean) / std */
    cam_preprocess pp = {CAM_RESIZE_STRETCH, 256, 224, 224, 0, {123.675f, 116.28f, 103.53f}, {58.395f, 57.12f, 57.375f}};
    CHECK(cam_preprocess_image(&im, 50, 40, &pp, out, &g, err, sizeof err) == CAM_OK, "%s", err);
    for (int c = 0; c < 3; c++) {
        float want = ((float)(10 * (c + 1)) - pp.mean[c]) / pp.std[c];
        CHECK(out[c * n + 777] == want, "channel %d: %.9g, want %.9g", c, (double)out[c * n + 777], (double)want);
    }
    free(out);
    free(im.rgb);
}

static int near(double a, double b) { return fabs(a - b) <= 1e-9 * (fabs(b) + 1); }

static void check_geo(const cam_geometry *g, double x0, double y0, double sx, double sy, int fw, int fh,
                      const char *what) {
    CHECK(near(g->x0, x0) && near(g->y0, y0) && near(g->sx, sx) && near(g->sy, sy),
          "%s: x0 %.6f y0 %.6f sx %.6f sy %.6f, want %.6f %.6f %.6f %.6f", what, g->x0, g->y0, g->sx, g->sy, x0, y0,
          sx, sy);
    CHECK(g->net_w == 224 && g->net_h == 224 && g->image_w == fw && g->image_h == fh, "%s: sizes %d %d %d %d", what,
          g->net_w, g->net_h, g->image_w, g->image_h);
}

/* A white square on black, given in full-image pixels [sx0, sx1) x
 * [sy0, sy1); img is the full image reduced by `red` (DCT scaling). */
static int sq_x0, sq_x1, sq_y0, sq_y1, sq_red;
static int square(int x, int y, int c) {
    (void)c;
    double fx = (x + 0.5) * sq_red, fy = (y + 0.5) * sq_red;
    return fx >= sq_x0 && fx < sq_x1 && fy >= sq_y0 && fy < sq_y1 ? 255 : 0;
}

/* Every network pixel whose footprint (from geo), widened by the filter's
 * reach, lies inside the square must be exactly white; every one whose
 * widened footprint misses it must be exactly black. */
static void check_square(const float *net, const cam_geometry *g, int red, const char *what) {
    int white = 0, black = 0;
    double reach_x = (g->sx > red ? g->sx : red) + red, reach_y = (g->sy > red ? g->sy : red) + red;
    for (int v = 0; v < 224; v++)
        for (int u = 0; u < 224; u++) {
            double a = g->x0 + u * g->sx - reach_x, b = g->x0 + (u + 1) * g->sx + reach_x;
            double c = g->y0 + v * g->sy - reach_y, d = g->y0 + (v + 1) * g->sy + reach_y;
            float p = net[v * 224 + u];
            if (a >= sq_x0 && b <= sq_x1 && c >= sq_y0 && d <= sq_y1) {
                CHECK(p == 255.0f, "%s: network pixel (%d,%d) inside the square is %g", what, u, v, (double)p);
                white++;
            } else if (b <= sq_x0 || a >= sq_x1 || d <= sq_y0 || c >= sq_y1) {
                CHECK(p == 0.0f, "%s: network pixel (%d,%d) outside the square is %g", what, u, v, (double)p);
                black++;
            }
        }
    CHECK(white >= 4 && black >= 100, "%s: only %d white and %d black pixels checked", what, white, black);
}

TEST(preprocess_geometry) {
    /* full w, h; reduction; mode; expected x0, y0, sx, sy (hand-computed:
     * crop: shorter side 256, longer int(256 * long / short), offsets
     * round((R - 224) / 2), sx = full_w / resized_w, x0 = left * sx) */
    struct {
        int fw, fh, red, mode;
        double x0, y0, sx, sy;
        int sq[4];
    } cases[] = {
        /* landscape 512x341: resized 384x256, left 80, top 16 */
        {512, 341, 1, 0, 0, 0, 512.0 / 224, 341.0 / 224, {200, 300, 100, 220}},
        {512, 341, 1, 1, 80 * 512.0 / 384, 16 * 341.0 / 256, 512.0 / 384, 341.0 / 256, {200, 300, 100, 220}},
        /* portrait 341x512: resized 256x384, left 16, top 80 */
        {341, 512, 1, 0, 0, 0, 341.0 / 224, 512.0 / 224, {60, 200, 300, 420}},
        {341, 512, 1, 1, 16 * 341.0 / 256, 80 * 512.0 / 384, 341.0 / 256, 512.0 / 384, {60, 200, 300, 420}},
        /* square 300x300: 256x256, left = top = 16 */
        {300, 300, 1, 0, 0, 0, 300.0 / 224, 300.0 / 224, {20, 90, 150, 290}},
        {300, 300, 1, 1, 16 * 300.0 / 256, 16 * 300.0 / 256, 300.0 / 256, 300.0 / 256, {20, 90, 150, 290}},
        /* DCT-reduced decodes (img = full / red): geometry stays in full pixels */
        {1024, 682, 2, 0, 0, 0, 1024.0 / 224, 682.0 / 224, {400, 600, 200, 440}},
        {1024, 682, 2, 1, 80 * 1024.0 / 384, 16 * 682.0 / 256, 1024.0 / 384, 682.0 / 256, {400, 600, 200, 440}},
        /* 1200x1600: resized 256x341 (int(341.33)), top round(58.5) = 58 */
        {1200, 1600, 4, 1, 16 * 1200.0 / 256, 58 * 1600.0 / 341, 1200.0 / 256, 1600.0 / 341, {200, 600, 800, 1200}},
        {1200, 1600, 4, 0, 0, 0, 1200.0 / 224, 1600.0 / 224, {200, 600, 800, 1200}},
        /* upscaling a small image: resized 426x256, left 101, top 16 */
        {100, 60, 1, 1, 101 * 100.0 / 426, 16 * 60.0 / 256, 100.0 / 426, 60.0 / 256, {40, 60, 20, 40}},
    };
    float *net = malloc(3 * 224 * 224 * sizeof *net);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sq_x0 = cases[i].sq[0];
        sq_x1 = cases[i].sq[1];
        sq_y0 = cases[i].sq[2];
        sq_y1 = cases[i].sq[3];
        sq_red = cases[i].red;
        int iw = cases[i].fw / cases[i].red, ih = cases[i].fh / cases[i].red;
        cam_image im = make_img(iw, ih, 1, square);
        cam_preprocess pp = pp_default((cam_resize_mode)cases[i].mode);
        cam_geometry g;
        char err[256], what[96];
        snprintf(what, sizeof what, "%dx%d (decoded %dx%d) %s", cases[i].fw, cases[i].fh, iw, ih,
                 cases[i].mode ? "crop" : "stretch");
        CHECK(cam_preprocess_image(&im, cases[i].fw, cases[i].fh, &pp, net, &g, err, sizeof err) == CAM_OK, "%s: %s",
              what, err);
        check_geo(&g, cases[i].x0, cases[i].y0, cases[i].sx, cases[i].sy, cases[i].fw, cases[i].fh, what);
        for (int c = 0; c < 3; c++)
            CHECK(memcmp(net, net + c * 224 * 224, 224 * 224 * sizeof *net) == 0, "%s: channels differ", what);
        check_square(net, &g, cases[i].red, what);
        free(im.rgb);
    }
    free(net);
}

/* torchvision's Resize(256) + CenterCrop(224) on PIL images, reproduced with
 * Pillow 9.4.0 (FNV-1a of the 224x224 RGB crop); the half-way offsets
 * (385 - 224) / 2 = 80.5 and (387 - 224) / 2 = 81.5 round to even like
 * Python's round. */
TEST(preprocess_crop_matches_torchvision) {
    static const struct { int w, h; uint64_t fnv; } ref[] = {
        {512, 341, 0x94573d3169428a27ULL}, {341, 512, 0xcaa5265623c033feULL}, {300, 300, 0xdc04bac7a7bf4234ULL},
        {1000, 999, 0x3e742de5d6cb9463ULL}, {452, 300, 0xb99235e8da163832ULL}, {454, 300, 0x8cd5bef32ba1a6b5ULL},
        {300, 454, 0x199fdf694533618eULL},
    };
    float *net = malloc(3 * 224 * 224 * sizeof *net);
    cam_image crop;
    CHECK(cam_image_alloc(&crop, 224, 224, NULL, 0) == CAM_OK, "alloc");
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        cam_image im = make_img(ref[i].w, ref[i].h, 2, pattern);
        cam_preprocess pp = pp_default(CAM_RESIZE_SHORTER_SIDE_CROP);
        cam_geometry g;
        char err[256];
        CHECK(cam_preprocess_image(&im, ref[i].w, ref[i].h, &pp, net, &g, err, sizeof err) == CAM_OK, "%s", err);
        for (int y = 0; y < 224; y++)
            for (int x = 0; x < 224; x++)
                for (int c = 0; c < 3; c++) {
                    float v = net[c * 224 * 224 + y * 224 + x];
                    CHECK(v == floorf(v) && v >= 0 && v <= 255, "mean 0 std 1 must give pixel values: %g", (double)v);
                    crop.rgb[(size_t)y * crop.stride + 3 * x + c] = (uint8_t)v;
                }
        uint64_t h = fnv1a(&crop);
        CHECK(h == ref[i].fnv, "%dx%d: crop fnv %016llx, torchvision/Pillow %016llx", ref[i].w, ref[i].h,
              (unsigned long long)h, (unsigned long long)ref[i].fnv);
        free(im.rgb);
    }
    cam_image_free(&crop);
    free(net);
}

/* Resampling only the kept region gives the pixels of resize-then-crop. */
TEST(preprocess_crop_equals_resize_then_crop) {
    int sizes[][2] = {{640, 427}, {427, 640}, {257, 256}, {230, 900}, {100, 80}};
    float *net = malloc(3 * 200 * 180 * sizeof *net);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int w = sizes[i][0], h = sizes[i][1];
        cam_image im = make_img(w, h, 0, noise);
        cam_preprocess pp = {CAM_RESIZE_SHORTER_SIDE_CROP, 240, 180, 200, 0, {0, 0, 0}, {1, 1, 1}};
        cam_geometry g;
        char err[256];
        CHECK(cam_preprocess_image(&im, w, h, &pp, net, &g, err, sizeof err) == CAM_OK, "%s", err);
        int rw = w <= h ? 240 : (int)(240.0 * w / h), rh = w <= h ? (int)(240.0 * h / w) : 240;
        cam_image full = resize(&im, rw, rh);
        int left = (int)rint((rw - 200) / 2.0), top = (int)rint((rh - 180) / 2.0);
        CHECK(near(g.x0, left * g.sx) && near(g.sx, (double)w / rw), "%dx%d geometry", w, h);
        for (int y = 0; y < 180; y++)
            for (int x = 0; x < 200; x++)
                for (int c = 0; c < 3; c++)
                    CHECK(net[c * 200 * 180 + y * 200 + x] == px(&full, left + x, top + y, c),
                          "%dx%d at (%d,%d,%d): %g vs %d", w, h, x, y, c, (double)net[c * 200 * 180 + y * 200 + x],
                          px(&full, left + x, top + y, c));
        cam_image_free(&full);
        free(im.rgb);
    }
    free(net);
}

/* The network input is the resized image, normalised: cam_preprocess_image
 * (its own vertical pass writing the float planes directly, and with
 * AVX-512 VNNI its own horizontal kernel) against cam_image_resize (pinned
 * to Pillow above) followed by the float expression of the table, for
 * sizes that exercise every path: widths not a multiple of 16 (the scalar
 * tail), reductions beyond the VNNI kernel's 128-byte window (its
 * fallback), identity axes, enlargements, padded strides, BGR. */
TEST(preprocess_equals_resize_then_normalise) {
    static const int sizes[][4] = {
        {512, 384, 224, 224}, {512, 341, 224, 224}, {640, 480, 299, 299}, {1024, 768, 224, 224},
        {4000, 3000, 224, 224}, {700, 300, 17, 33}, {224, 224, 224, 224}, {224, 500, 224, 97},
        {333, 224, 101, 224}, {50, 40, 224, 224}, {7, 5, 3, 2}, {1, 1, 5, 3},
        {3, 700, 2, 9}, {1000, 2, 31, 1}, {260, 260, 16, 16}, {97, 61, 48, 47},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int iw = sizes[i][0], ih = sizes[i][1], ow = sizes[i][2], oh = sizes[i][3];
        cam_image im = make_img(iw, ih, (int)i % 4 * 3, noise);
        cam_image ref = resize(&im, ow, oh);
        cam_preprocess pp = {CAM_RESIZE_STRETCH, 0, oh, ow, (int)i % 2, {123.675f, 116.28f, 103.53f},
                             {58.395f, 57.12f, 57.375f}};
        if (i % 3 == 0) pp = (cam_preprocess){CAM_RESIZE_STRETCH, 0, oh, ow, 0, {128, 128, 128}, {128, 128, 128}};
        float *net = malloc((size_t)3 * ow * oh * sizeof *net);
        cam_geometry g;
        char err[256];
        CHECK(cam_preprocess_image(&im, iw, ih, &pp, net, &g, err, sizeof err) == CAM_OK, "%s", err);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++) {
                    float want = ((float)px(&ref, x, y, pp.bgr ? 2 - c : c) - pp.mean[c]) / pp.std[c];
                    float got = net[((size_t)c * oh + y) * ow + x];
                    CHECK(memcmp(&got, &want, sizeof got) == 0, "%dx%d -> %dx%d at (%d,%d,%d): %.9g, want %.9g", iw, ih,
                          ow, oh, x, y, c, (double)got, (double)want);
                }
        free(net);
        cam_image_free(&ref);
        free(im.rgb);
    }
}

/* Bit for bit the network inputs of the implementation before the VNNI
 * horizontal kernel and the fused vertical pass (two passes through a whole
 * 8-bit intermediate image, then a table): FNV-1a of the float bytes, from
 * the commit before those changes. */
TEST(preprocess_same_as_before) {
    static const struct { int iw, ih, mode, bgr; uint64_t fnv; } ref[] = {
        {512, 384, 0, 0, 0x1c646a276a73b582ULL},  {512, 341, 1, 0, 0xa46282191588bfd8ULL},
        {1024, 768, 0, 1, 0x8fe43f4d9e0a08d9ULL}, {640, 427, 1, 1, 0x3ffc25a46b2ca480ULL},
        {301, 999, 0, 0, 0x3ef3f2b4374ba8d4ULL},  {4000, 3000, 0, 0, 0x17cc8c4fbc00cf04ULL},
    };
    float *net = malloc(3 * 224 * 224 * sizeof *net);
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        cam_image im = make_img(ref[i].iw, ref[i].ih, (int)i % 3 * 2, i % 2 ? pattern : noise);
        cam_preprocess pp = {(cam_resize_mode)ref[i].mode, 256, 224, 224, ref[i].bgr, {123.675f, 116.28f, 103.53f},
                             {58.395f, 57.12f, 57.375f}};
        cam_geometry g;
        char err[256];
        CHECK(cam_preprocess_image(&im, ref[i].iw, ref[i].ih, &pp, net, &g, err, sizeof err) == CAM_OK, "%s", err);
        uint64_t h = 0xcbf29ce484222325ULL;
        const uint8_t *b = (const uint8_t *)net;
        for (size_t k = 0; k < 3 * 224 * 224 * sizeof *net; k++) {
            h ^= b[k];
            h *= 0x100000001b3ULL;
        }
        CHECK(h == ref[i].fnv, "%dx%d mode %d bgr %d: fnv %016llx, before %016llx", ref[i].iw, ref[i].ih, ref[i].mode,
              ref[i].bgr, (unsigned long long)h, (unsigned long long)ref[i].fnv);
        free(im.rgb);
    }
    free(net);
}

/* Each thread keeps its last coefficients: threads resizing different
 * sizes at once, each switching sizes, get what a fresh call gives. */
typedef struct {
    const cam_image *im;
    const float *want[2];
    int bad;
} cache_job;

static const int cache_sizes[2][2] = {{224, 224}, {97, 61}};

static void *cache_worker(void *arg) {
    cache_job *j = arg;
    float *net = malloc(3 * 224 * 224 * sizeof *net);
    for (int k = 0; k < 40; k++) {
        int s = k % 3 == 2; /* two calls of one size, then one of the other */
        cam_preprocess pp = {CAM_RESIZE_STRETCH, 0, cache_sizes[s][1], cache_sizes[s][0], 0, {128, 128, 128},
                             {128, 128, 128}};
        cam_geometry g;
        size_t n = (size_t)3 * cache_sizes[s][0] * cache_sizes[s][1];
        if (cam_preprocess_image(j->im, j->im->width, j->im->height, &pp, net, &g, NULL, 0) != CAM_OK ||
            memcmp(net, j->want[s], n * sizeof *net) != 0)
            j->bad++;
    }
    free(net);
    return NULL;
}

TEST(preprocess_threads_and_cache) {
    cam_image ims[2] = {make_img(512, 384, 0, noise), make_img(333, 500, 5, pattern)};
    cache_job jobs[4];
    float *want[2][2];
    for (int i = 0; i < 2; i++)
        for (int s = 0; s < 2; s++) {
            want[i][s] = malloc((size_t)3 * cache_sizes[s][0] * cache_sizes[s][1] * sizeof(float));
            cam_preprocess pp = {CAM_RESIZE_STRETCH, 0, cache_sizes[s][1], cache_sizes[s][0], 0, {128, 128, 128},
                                 {128, 128, 128}};
            cam_geometry g;
            CHECK(cam_preprocess_image(&ims[i], ims[i].width, ims[i].height, &pp, want[i][s], &g, NULL, 0) == CAM_OK,
                  "preprocess");
        }
    pthread_t tid[4];
    for (int t = 0; t < 4; t++) {
        jobs[t] = (cache_job){&ims[t % 2], {want[t % 2][0], want[t % 2][1]}, 0};
        CHECK(pthread_create(&tid[t], NULL, cache_worker, &jobs[t]) == 0, "pthread_create");
    }
    for (int t = 0; t < 4; t++) pthread_join(tid[t], NULL);
    for (int t = 0; t < 4; t++) CHECK(jobs[t].bad == 0, "thread %d: %d of 40 calls differ", t, jobs[t].bad);
    for (int i = 0; i < 2; i++) {
        for (int s = 0; s < 2; s++) free(want[i][s]);
        free(ims[i].rgb);
    }
}

/* A long, thin photo with a shorter-side crop: the resized image (4000x1 ->
 * 1024000x256) is never made, only the 224x224 crop, so it works; one input
 * row upscaled to 256 gives 224 equal rows (one column: equal columns). */
TEST(preprocess_long_thin_crop) {
    static const int shapes[][2] = {{4000, 1}, {1, 4000}, {270, 1}, {65536, 2}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int iw = shapes[i][0], ih = shapes[i][1];
        cam_image im = make_img(iw, ih, 0, noise);
        cam_preprocess pp = {CAM_RESIZE_SHORTER_SIDE_CROP, 256, 224, 224, 0, {123.675f, 116.28f, 103.53f},
                             {58.395f, 57.12f, 57.375f}};
        float *net = malloc(3 * 224 * 224 * sizeof *net);
        cam_geometry g;
        char err[256];
        CHECK(cam_preprocess_image(&im, iw, ih, &pp, net, &g, err, sizeof err) == CAM_OK, "%dx%d: %s", iw, ih, err);
        if (ih == 1)
            for (int c = 0; c < 3; c++)
                for (int y = 1; y < 224; y++)
                    CHECK(!memcmp(net + ((size_t)c * 224 + y) * 224, net + (size_t)c * 224 * 224, 224 * sizeof *net),
                          "%dx%d: row %d differs from row 0", iw, ih, y);
        if (iw == 1)
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 224; y++)
                    for (int x = 1; x < 224; x++)
                        CHECK(net[((size_t)c * 224 + y) * 224 + x] == net[((size_t)c * 224 + y) * 224],
                              "%dx%d: column %d differs", iw, ih, x);
        CHECK(g.net_w == 224 && g.image_w == iw && g.sx > 0 && g.sy > 0, "geometry");
        free(net);
        free(im.rgb);
    }
}

TEST(preprocess_invalid) {
    cam_image im = make_img(64, 48, 0, pattern);
    float *out = malloc(3 * 224 * 224 * sizeof *out);
    cam_geometry g;
    char err[256];
    struct {
        const char *what;
        cam_preprocess pp;
    } bad[] = {
        {"width 0", {CAM_RESIZE_STRETCH, 256, 224, 0, 0, {0, 0, 0}, {1, 1, 1}}},
        {"height -3", {CAM_RESIZE_STRETCH, 256, -3, 224, 0, {0, 0, 0}, {1, 1, 1}}},
        {"width 8193", {CAM_RESIZE_STRETCH, 256, 224, 8193, 0, {0, 0, 0}, {1, 1, 1}}},
        {"std 0", {CAM_RESIZE_STRETCH, 256, 224, 224, 0, {0, 0, 0}, {1, 0, 1}}},
        {"std NaN", {CAM_RESIZE_STRETCH, 256, 224, 224, 0, {0, 0, 0}, {1, 1, NAN}}},
        {"mean inf", {CAM_RESIZE_STRETCH, 256, 224, 224, 0, {INFINITY, 0, 0}, {1, 1, 1}}},
        {"resize_shorter < size", {CAM_RESIZE_SHORTER_SIDE_CROP, 223, 224, 224, 0, {0, 0, 0}, {1, 1, 1}}},
        {"resize_shorter < width", {CAM_RESIZE_SHORTER_SIDE_CROP, 250, 224, 260, 0, {0, 0, 0}, {1, 1, 1}}},
        {"resize_shorter 0", {CAM_RESIZE_SHORTER_SIDE_CROP, 0, 224, 224, 0, {0, 0, 0}, {1, 1, 1}}},
        {"mode 7", {(cam_resize_mode)7, 256, 224, 224, 0, {0, 0, 0}, {1, 1, 1}}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK(cam_preprocess_image(&im, 64, 48, &bad[i].pp, out, &g, err, sizeof err) == CAM_EINVAL, "%s accepted",
              bad[i].what);
        CHECK(err[0] != 0 && strchr(err, '\n') == NULL, "%s: no one-line reason", bad[i].what);
    }
    /* resize_shorter is ignored when stretching */
    cam_preprocess ok = {CAM_RESIZE_STRETCH, 0, 224, 224, 0, {0, 0, 0}, {1, 1, 1}};
    CHECK(cam_preprocess_image(&im, 64, 48, &ok, out, &g, err, sizeof err) == CAM_OK, "%s", err);
    CHECK(cam_preprocess_image(&im, 0, 48, &ok, out, &g, err, sizeof err) == CAM_EINVAL, "full width 0");
    CHECK(cam_preprocess_image(NULL, 64, 48, &ok, out, &g, err, sizeof err) == CAM_EINVAL, "NULL image");
    CHECK(cam_preprocess_image(&im, 64, 48, NULL, out, &g, err, sizeof err) == CAM_EINVAL, "NULL pp");
    CHECK(cam_preprocess_image(&im, 64, 48, &ok, NULL, &g, err, sizeof err) == CAM_EINVAL, "NULL out");
    CHECK(cam_preprocess_image(&im, 64, 48, &ok, out, NULL, err, sizeof err) == CAM_EINVAL, "NULL geo");
    free(out);
    free(im.rgb);
}

/* ---- timing -------------------------------------------------------------- */

TEST(timing_resize_preprocess) {
    cam_image big = make_img(1024, 768, 0, noise), photo = make_img(512, 341, 0, pattern);
    double t[50];
    for (int k = 0; k < 50; k++) {
        cam_image out;
        double t0 = now_ms();
        CHECK(cam_image_resize(&big, 224, 224, &out, NULL, 0) == CAM_OK, "resize");
        t[k] = now_ms() - t0;
        cam_image_free(&out);
    }
    qsort(t, 50, sizeof t[0], cmp_d);
    printf("  resize 1024x768 -> 224x224, median of 50: %.3f ms\n", t[25]);
    float *net = malloc(3 * 224 * 224 * sizeof *net);
    for (int mode = 0; mode < 2; mode++) {
        cam_preprocess pp = {(cam_resize_mode)mode, 256, 224, 224, 0, {123.675f, 116.28f, 103.53f},
                             {58.395f, 57.12f, 57.375f}};
        for (int k = 0; k < 50; k++) {
            cam_geometry g;
            double t0 = now_ms();
            CHECK(cam_preprocess_image(&photo, 512, 341, &pp, net, &g, NULL, 0) == CAM_OK, "preprocess");
            t[k] = now_ms() - t0;
        }
        qsort(t, 50, sizeof t[0], cmp_d);
        printf("  preprocess 512x341 -> 224x224 %s, median of 50: %.3f ms\n",
               mode ? "shorter side 256 + center crop" : "stretch", t[25]);
    }
    free(net);
    free(big.rgb);
    free(photo.rgb);
}

int main(void) {
    RUN(resize_matches_pillow);
    RUN(resize_constant_stays_constant);
    RUN(resize_gradient_keeps_mean);
    RUN(resize_integer_factor_is_block_average);
    RUN(resize_close_to_exact_filter);
    RUN(resize_upscale_bilinear_values);
    RUN(resize_errors);
    RUN(preprocess_mean_std_bgr);
    RUN(preprocess_geometry);
    RUN(preprocess_crop_matches_torchvision);
    RUN(preprocess_crop_equals_resize_then_crop);
    RUN(preprocess_equals_resize_then_normalise);
    RUN(preprocess_same_as_before);
    RUN(preprocess_threads_and_cache);
    RUN(preprocess_long_thin_crop);
    RUN(preprocess_invalid);
    RUN(timing_resize_preprocess);
    return check_summary();
}
