/* fuzz_render.c: the pixel paths after decoding, with oracles.  The bytes
 * choose an image size (1..320 a side, so that the vectorised kernels'
 * tails and masks are hit at every offset), a row stride with slack, the
 * pixels, a network input size and normalisation, a heat map (values in
 * and out of [0, 1], NaN), a colormap and an alpha.  Then:
 *   - cam_preprocess_image (stretch) must equal cam_image_resize followed
 *     by the normalisation formula, bit for bit (the fused AVX-512 passes
 *     against the two-pass path); the crop mode must succeed, also for a
 *     long, thin image (its resized size is never allocated);
 *   - cam_overlay, then cam_png_encode_rgb, decoded again (libpng), must
 *     give back the overlay exactly; the same for cam_png_encode_gray, whose
 *     pixels must be round(clamp(v) * 255) (+-1: a fused multiply-add or not);
 *   - cam_base64_encode must decode back to its input.
 * A broken oracle traps, so libFuzzer and the replay in make test see a crash. */
#include "camserve.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RENDER_REQUIRE(cond)                                                          \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "fuzz_render.c:%d: %s does not hold\n", __LINE__, #cond); \
            __builtin_trap();                                                         \
        }                                                                             \
    } while (0)

typedef struct { const uint8_t *p; size_t n, i; } fz_bytes;

/* the next byte, or a pattern once the input runs out */
static uint8_t fz_next(fz_bytes *b) { return b->i < b->n ? b->p[b->i++] : (uint8_t)(b->i++ * 167u + 13u); }

static int fz_range(fz_bytes *b, int lo, int hi) {
    unsigned v = (unsigned)fz_next(b) << 8 | fz_next(b);
    return lo + (int)(v % (unsigned)(hi - lo + 1));
}

static int b64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* decodes s (padded base64) and compares with want */
static void check_base64(const uint8_t *want, size_t n) {
    char *s = malloc(cam_base64_len(n));
    RENDER_REQUIRE(s != NULL);
    size_t len = cam_base64_encode(want, n, s);
    RENDER_REQUIRE(len == (n + 2) / 3 * 4 && s[len] == 0);
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) v[k] = s[i + k] == '=' ? 0 : b64_value(s[i + k]);
        RENDER_REQUIRE(v[0] >= 0 && v[1] >= 0 && v[2] >= 0 && v[3] >= 0);
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        uint8_t three[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
        for (int k = 0; k < 3 && o < n; k++, o++) RENDER_REQUIRE(three[k] == want[o]);
    }
    RENDER_REQUIRE(o == n);
    free(s);
}

/* the PNG decodes to exactly w x h RGB pixels equal to want (stride ws) */
static void check_png(const uint8_t *png, size_t len, const uint8_t *want, size_t ws, int w, int h, int gray) {
    cam_decode_options o;
    cam_decode_options_init(&o);
    cam_image back;
    cam_image_info info;
    char err[256];
    RENDER_REQUIRE(cam_image_decode(png, len, &o, &back, &info, err, sizeof err) == CAM_OK);
    RENDER_REQUIRE(back.width == w && back.height == h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                uint8_t got = back.rgb[(size_t)y * back.stride + (size_t)x * 3 + (size_t)c];
                uint8_t exp = gray ? want[(size_t)y * ws + (size_t)x] : want[(size_t)y * ws + (size_t)x * 3 + (size_t)c];
                /* gray: the encoder's x * 255 + 0.5 may or may not be one fused
                 * multiply-add (per target clone), so allow the last bit */
                RENDER_REQUIRE(gray ? abs((int)got - (int)exp) <= 1 : got == exp);
            }
    cam_image_free(&back);
}

int cam_fuzz_render(const uint8_t *data, size_t len) {
    fz_bytes b = {data, len, 0};
    char err[256];
    int w = fz_range(&b, 1, 320), h = fz_range(&b, 1, 320), slack = fz_next(&b) % 67;
    cam_image img = {w, h, (size_t)w * 3 + (size_t)slack, NULL};
    img.rgb = malloc(img.stride * (size_t)h);
    RENDER_REQUIRE(img.rgb != NULL);
    for (size_t i = 0; i < img.stride * (size_t)h; i++) img.rgb[i] = fz_next(&b);

    /* preprocessing: stretch against the two-pass reference */
    int nw = fz_range(&b, 1, 300), nh = fz_range(&b, 1, 300), bgr = fz_next(&b) & 1;
    cam_preprocess pp = {CAM_RESIZE_STRETCH, 0, nh, nw, bgr, {128, 128, 128}, {128, 128, 128}};
    if (fz_next(&b) & 1)
        pp = (cam_preprocess){CAM_RESIZE_STRETCH, 0, nh, nw, bgr, {123.675f, 116.28f, 103.53f}, {58.395f, 57.12f, 57.375f}};
    float *net = malloc((size_t)3 * (size_t)nw * (size_t)nh * sizeof *net);
    RENDER_REQUIRE(net != NULL);
    cam_geometry g;
    RENDER_REQUIRE(cam_preprocess_image(&img, w, h, &pp, net, &g, err, sizeof err) == CAM_OK);
    cam_image ref;
    RENDER_REQUIRE(cam_image_resize(&img, nw, nh, &ref, err, sizeof err) == CAM_OK);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < nh; y++)
            for (int x = 0; x < nw; x++) {
                int src = bgr ? 2 - c : c;
                float want = ((float)ref.rgb[(size_t)y * ref.stride + (size_t)x * 3 + (size_t)src] - pp.mean[c]) / pp.std[c];
                float got = net[((size_t)c * (size_t)nh + (size_t)y) * (size_t)nw + (size_t)x];
                RENDER_REQUIRE(memcmp(&got, &want, sizeof got) == 0);
            }
    cam_image_free(&ref);
    pp.resize = CAM_RESIZE_SHORTER_SIDE_CROP;
    pp.resize_shorter = fz_range(&b, 1, 400);
    if (pp.resize_shorter < nw || pp.resize_shorter < nh) pp.resize_shorter = nw > nh ? nw : nh;
    /* a long, thin image resized by its shorter side (270x1 -> 69120x296):
     * only the crop is computed, so it must work too */
    RENDER_REQUIRE(cam_preprocess_image(&img, w, h, &pp, net, &g, err, sizeof err) == CAM_OK);
    free(net);

    /* overlay, PNG (RGB and gray), base64 */
    float *heat = malloc((size_t)w * (size_t)h * sizeof *heat);
    uint8_t *gray_want = malloc((size_t)w * (size_t)h);
    RENDER_REQUIRE(heat && gray_want);
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
        uint8_t v = fz_next(&b);
        heat[i] = v == 255 ? NAN : v == 254 ? -0.5f : v == 253 ? 1.5f : (float)v / 252.0f;
    }
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
        float v = heat[i] > 0.0f ? heat[i] : 0.0f;   /* NaN -> 0 */
        v = v < 1.0f ? v : 1.0f;
        gray_want[i] = (uint8_t)(int)(v * 255.0f + 0.5f);
    }
    cam_colormap cmap = (cam_colormap)(fz_next(&b) % 5);
    float alpha = (float)fz_next(&b) / 255.0f;
    cam_image ov;
    RENDER_REQUIRE(cam_overlay(&img, heat, cmap, alpha, &ov, err, sizeof err) == CAM_OK);
    uint8_t *png = NULL;
    size_t plen = 0;
    RENDER_REQUIRE(cam_png_encode_rgb(&ov, &png, &plen, err, sizeof err) == CAM_OK);
    check_png(png, plen, ov.rgb, ov.stride, w, h, 0);
    check_base64(png, plen);
    free(png);
    cam_image_free(&ov);
    RENDER_REQUIRE(cam_png_encode_gray(heat, w, h, &png, &plen, err, sizeof err) == CAM_OK);
    check_png(png, plen, gray_want, (size_t)w, w, h, 1);
    free(png);
    free(gray_want);
    free(heat);
    free(img.rgb);
    return 0;
}

#ifdef CAM_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) { return cam_fuzz_render(data, len); }
#endif
