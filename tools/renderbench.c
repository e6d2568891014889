/* renderbench.c: speed and size of PNG encoding, libpng + zlib over
 * compression strategies and row filters against core/render.c's own
 * encoder over its filters and block sizes, on the photos of ../shared/images
 * and on jet overlays of them (what /cam actually returns), plus the cost of
 * the whole rendering chain (overlay + PNG + base64) and of preprocessing.
 *
 *   make && gcc -std=c11 -O3 -D_GNU_SOURCE -pthread -Iinclude -Icore \
 *       tools/renderbench.c build/libcamserve.a -lturbojpeg -ljpeg -lpng -lz -lm -o build/renderbench
 *   build/renderbench [images-dir [reps]]
 *   build/renderbench --chain image [reps]     (only overlay + PNG + base64)
 *
 * Encode times are the median of reps encodes of each image, summed over
 * the images and scaled to the pixels of one 512x341 image; sizes are
 * compressed / raw bytes over all images.  Every PNG of the camserve
 * encoder is decoded with libpng and compared with its input. */
#include "internal.h"
#include "render_internal.h"

#include <dirent.h>
#include <malloc.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>
#include <zlib.h>
#include "../tests/timing.h"

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = n > 0 ? malloc((size_t)n) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int load(const char *path, cam_image *img) {
    size_t len;
    unsigned char *data = read_file(path, &len);
    if (!data) return 0;
    int ok = 0;
    const char *ext = strrchr(path, '.');
    if (ext && strcmp(ext, ".jpg") == 0) {
        tjhandle tj = tjInitDecompress();
        int w, h, ss, cs;
        if (tj && tjDecompressHeader3(tj, data, (unsigned long)len, &w, &h, &ss, &cs) == 0 &&
            cam_image_alloc(img, w, h, NULL, 0) == CAM_OK) {
            ok = tjDecompress2(tj, data, (unsigned long)len, img->rgb, w, (int)img->stride, h, TJPF_RGB, 0) == 0;
            if (!ok) cam_image_free(img);
        }
        if (tj) tjDestroy(tj);
    } else if (ext && strcmp(ext, ".png") == 0) {
        png_image pi;
        memset(&pi, 0, sizeof pi);
        pi.version = PNG_IMAGE_VERSION;
        if (png_image_begin_read_from_memory(&pi, data, len)) {
            pi.format = PNG_FORMAT_RGB;
            if (cam_image_alloc(img, (int)pi.width, (int)pi.height, NULL, 0) == CAM_OK) {
                ok = png_image_finish_read(&pi, NULL, img->rgb, (png_int_32)img->stride, NULL) != 0;
                if (!ok) cam_image_free(img);
            }
        }
        png_image_free(&pi);
    }
    free(data);
    return ok;
}

/* A smooth blob off centre, the shape of a typical normalised CAM. */
static float *fake_heat(int w, int h) {
    float *heat = malloc((size_t)w * (size_t)h * sizeof *heat);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double dx = (x - 0.4 * w) / (0.25 * w), dy = (y - 0.55 * h) / (0.3 * h);
            double d2 = dx * dx + dy * dy;
            heat[(size_t)y * w + x] = (float)exp(-d2);
        }
    return heat;
}


/* ---- libpng + zlib, the alternative core/render.c measured against ---- */

typedef struct lp_ctx {
    uint8_t *buf;
    size_t len, cap;
    char msg[128];
} lp_ctx;

static void lp_error(png_structp png, png_const_charp msg) {
    lp_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}
static void lp_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}
static void lp_write(png_structp png, png_bytep data, size_t n) {
    lp_ctx *c = png_get_io_ptr(png);
    if (n > c->cap - c->len) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap - c->len < n) cap *= 2;
        uint8_t *b = realloc(c->buf, cap);
        if (!b) png_error(png, "out of memory");
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
}
static void lp_flush(png_structp png) { (void)png; }

/* The PNG of img at zlib level/strategy and libpng filter mask; returns its
 * size, 0 on error.  ctx lives in the caller so nothing modified between
 * setjmp and longjmp is a local of this function. */
static int lp_write_all(lp_ctx *c, const cam_image *img, png_bytep *rows, int level, int strategy, int filters) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, c, lp_error, lp_warning);
    if (!png) return 0;
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return 0;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return 0;
    }
    png_set_write_fn(png, c, lp_write, lp_flush);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, level);
    png_set_compression_strategy(png, strategy);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, filters);
    png_set_compression_buffer_size(png, 256 * 1024);
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    return 1;
}

static size_t lp_encode(const cam_image *img, int level, int strategy, int filters) {
    png_bytep *rows = malloc((size_t)img->height * sizeof *rows);
    for (int y = 0; y < img->height; y++) rows[y] = img->rgb + (size_t)y * img->stride;
    lp_ctx c = {0};
    c.cap = (size_t)img->width * 3 * (size_t)img->height / 2 + 1024;
    c.buf = malloc(c.cap);
    int ok = lp_write_all(&c, img, rows, level, strategy, filters);
    free(rows);
    free(c.buf);
    if (!ok) fprintf(stderr, "renderbench: libpng: %s\n", c.msg);
    return ok ? c.len : 0;
}

/* decode png and compare with img: 1 when equal */
static int same_pixels(const uint8_t *png, size_t len, const cam_image *img) {
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&pi, png, len)) return 0;
    pi.format = PNG_FORMAT_RGB;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(pi));
    int ok = px && png_image_finish_read(&pi, NULL, px, 0, NULL) && (int)pi.width == img->width &&
             (int)pi.height == img->height;
    for (int y = 0; ok && y < img->height; y++)
        ok = memcmp(px + (size_t)y * img->width * 3, img->rgb + (size_t)y * img->stride, (size_t)img->width * 3) == 0;
    free(px);
    png_image_free(&pi);
    return ok;
}

/* overlay + PNG + base64 of img, reps times: the per-response encode stage
 * of /cam.  Prints the medians; 0 on error. */
static int run_chain(const cam_image *img, const float *heat, const char *name, int reps) {
    double *to = malloc((size_t)reps * sizeof *to), *tp = malloc((size_t)reps * sizeof *tp),
           *tb = malloc((size_t)reps * sizeof *tb), *tt = malloc((size_t)reps * sizeof *tt);
    size_t png_len = 0, b64_len = 0;
    int ok = 1;
    for (int k = 0; ok && k < reps; k++) {
        cam_image ov;
        uint8_t *png;
        char err[256];
        double t0 = now_ms();
        if (cam_overlay(img, heat, CAM_CMAP_JET, 0.5f, &ov, err, sizeof err) != CAM_OK) {
            ok = 0;
            break;
        }
        double t1 = now_ms();
        if (cam_png_encode_rgb(&ov, &png, &png_len, err, sizeof err) != CAM_OK) {
            cam_image_free(&ov);
            ok = 0;
            break;
        }
        double t2 = now_ms();
        char *b64 = malloc(cam_base64_len(png_len));
        b64_len = cam_base64_encode(png, png_len, b64);
        double t3 = now_ms();
        to[k] = t1 - t0;
        tp[k] = t2 - t1;
        tb[k] = t3 - t2;
        tt[k] = t3 - t0;
        if (k == 0 && !same_pixels(png, png_len, &ov)) {
            fprintf(stderr, "renderbench: chain: %s overlay PNG decodes to other pixels\n", name);
            ok = 0;
        }
        free(b64);
        free(png);
        cam_image_free(&ov);
    }
    if (ok)
        printf("\nchain on %s %dx%d (median of %d): overlay %.3f ms, png %.3f ms (%zu bytes), base64 %.3f ms "
               "(%zu chars), total %.3f ms\n",
               name, img->width, img->height, reps, median(to, reps), median(tp, reps), png_len, median(tb, reps),
               b64_len, median(tt, reps));
    else
        fprintf(stderr, "renderbench: chain on %s failed\n", name);
    free(to);
    free(tp);
    free(tb);
    free(tt);
    return ok;
}

#define MAX_IMAGES 32

int main(int argc, char **argv) {
    /* the server's malloc settings (server/cmd_serve.c): without them every
     * encode faults its buffers in afresh (~350 page faults, a third of the
     * chain's time), which the server does not pay */
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
    /* --chain IMAGE [reps]: only the encode stage, e.g. under callgrind */
    if (argc > 2 && strcmp(argv[1], "--chain") == 0) {
        cam_image img;
        if (!load(argv[2], &img)) {
            fprintf(stderr, "renderbench: cannot decode %s\n", argv[2]);
            return 1;
        }
        float *heat = fake_heat(img.width, img.height);
        int ok = run_chain(&img, heat, argv[2], argc > 3 && atoi(argv[3]) > 0 ? atoi(argv[3]) : 50);
        free(heat);
        cam_image_free(&img);
        return ok ? 0 : 1;
    }
    const char *dir = argc > 1 ? argv[1] : "../shared/images";
    int reps = argc > 2 ? atoi(argv[2]) : 20;
    if (reps < 1) reps = 1;
    cam_image photos[MAX_IMAGES], overlays[MAX_IMAGES];
    char names[MAX_IMAGES][64];
    int n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "renderbench: cannot open %s\n", dir);
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_IMAGES) {
        const char *ext = strrchr(e->d_name, '.');
        if (!ext || (strcmp(ext, ".jpg") && strcmp(ext, ".png"))) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!load(path, &photos[n])) {
            fprintf(stderr, "renderbench: cannot decode %s\n", path);
            continue;
        }
        float *heat = fake_heat(photos[n].width, photos[n].height);
        char err[256];
        if (cam_overlay(&photos[n], heat, CAM_CMAP_JET, 0.5f, &overlays[n], err, sizeof err) != CAM_OK) {
            fprintf(stderr, "renderbench: overlay: %s\n", err);
            return 1;
        }
        free(heat);
        snprintf(names[n], sizeof names[n], "%.63s", e->d_name);
        printf("%-18s %dx%d\n", names[n], photos[n].width, photos[n].height);
        n++;
    }
    closedir(d);
    if (!n) {
        fprintf(stderr, "renderbench: no images in %s\n", dir);
        return 1;
    }

    static const struct { int v; const char *name; } strategies[] = {
        {Z_DEFAULT_STRATEGY, "default"}, {Z_FILTERED, "filtered"}, {Z_HUFFMAN_ONLY, "huffman"}, {Z_RLE, "rle"}};
    static const struct { int v; const char *name; } filters[] = {
        {PNG_FILTER_NONE, "none"},   {PNG_FILTER_SUB, "sub"},     {PNG_FILTER_UP, "up"},
        {PNG_FILTER_AVG, "avg"},     {PNG_FILTER_PAETH, "paeth"}, {PNG_ALL_FILTERS, "adaptive"}};
    static const char *own_filters[] = {"none", "sub", "up", "avg", "paeth"};
    const int nf = (int)(sizeof filters / sizeof filters[0]), ns = (int)(sizeof strategies / sizeof strategies[0]);
    struct { int level, strategy, filters; const char *label; } extra[] = {
        {0, Z_DEFAULT_STRATEGY, PNG_FILTER_NONE, "libpng level 0 (stored) none"},
        {6, Z_DEFAULT_STRATEGY, PNG_ALL_FILTERS, "libpng level 6 default adaptive (its defaults)"},
    };
    const int nx = (int)(sizeof extra / sizeof extra[0]);
    const size_t own_blocks[] = {32 * 1024, 128 * 1024, 1024 * 1024};
    const int nb = (int)(sizeof own_blocks / sizeof own_blocks[0]);
    double *t = malloc((size_t)reps * sizeof *t);
    double raw[2] = {0, 0};
    for (int i = 0; i < n; i++) raw[0] = raw[1] += 3.0 * photos[i].width * photos[i].height;
    /* times are normalised to a 512x341 image (the photos differ in size) */
    const double per = 512.0 * 341.0 * 3.0;
    printf("\nms per 512x341 image (sum over images of the median of %d encodes, scaled by pixels) and "
           "compressed / raw size\n",
           reps);
    printf("%-48s %9s %7s %9s %7s\n", "encoder", "photos ms", "size", "overlay ms", "size");
    int rows = ns * nf + nx + 5 * nb;
    for (int r = 0; r < rows; r++) {
        char label[96];
        double ms[2] = {0, 0}, bytes[2] = {0, 0};
        int own = r >= ns * nf + nx;
        cam__png_params op;
        int level = 1, strategy = 0, filt = 0;
        if (r < ns * nf) {
            strategy = strategies[r / nf].v;
            filt = filters[r % nf].v;
            snprintf(label, sizeof label, "libpng level 1 %-8s %s", strategies[r / nf].name, filters[r % nf].name);
        } else if (!own) {
            level = extra[r - ns * nf].level;
            strategy = extra[r - ns * nf].strategy;
            filt = extra[r - ns * nf].filters;
            snprintf(label, sizeof label, "%s", extra[r - ns * nf].label);
        } else {
            int k = r - ns * nf - nx;
            op.filter = k % 5;
            op.block_bytes = own_blocks[k / 5];
            snprintf(label, sizeof label, "camserve %-5s blocks of %zu KiB", own_filters[k % 5],
                     own_blocks[k / 5] / 1024);
        }
        for (int set = 0; set < 2; set++) {
            cam_image *imgs = set ? overlays : photos;
            for (int i = 0; i < n; i++) {
                size_t len = 0;
                for (int k = 0; k < reps; k++) {
                    double t0 = now_ms();
                    if (own) {
                        uint8_t *png;
                        char err[256];
                        if (cam__png_encode(imgs[i].rgb, imgs[i].stride, imgs[i].width, imgs[i].height, 3, &op,
                                            &png, &len, err, sizeof err) != CAM_OK) {
                            fprintf(stderr, "renderbench: %s\n", err);
                            return 1;
                        }
                        t[k] = now_ms() - t0;
                        if (k == 0 && !same_pixels(png, len, &imgs[i])) {
                            fprintf(stderr, "renderbench: %s: %s decodes to other pixels\n", label, names[i]);
                            return 1;
                        }
                        free(png);
                    } else {
                        len = lp_encode(&imgs[i], level, strategy, filt);
                        t[k] = now_ms() - t0;
                        if (!len) return 1;
                    }
                }
                ms[set] += median(t, reps);
                bytes[set] += (double)len;
            }
        }
        printf("%-48s %9.3f %7.3f %9.3f %7.3f\n", label, ms[0] / raw[0] * per, bytes[0] / raw[0],
               ms[1] / raw[1] * per, bytes[1] / raw[1]);
        fflush(stdout);
    }

    /* the whole chain on a 512x341 photo (cat.png when present) */
    int pick = 0;
    for (int i = 0; i < n; i++)
        if (photos[i].width == 512 && photos[i].height == 341) pick = i;
    cam_image *img = &photos[pick];
    float *heat = fake_heat(img->width, img->height);
    if (!run_chain(img, heat, names[pick], 50)) return 1;
    double *to = malloc(50 * sizeof *to);
    /* preprocessing of the same photo for the two model kinds */
    cam_preprocess pps[2] = {
        {CAM_RESIZE_STRETCH, 256, 224, 224, 0, {128, 128, 128}, {128, 128, 128}},
        {CAM_RESIZE_SHORTER_SIDE_CROP, 256, 224, 224, 0, {123.675f, 116.28f, 103.53f}, {58.395f, 57.12f, 57.375f}}};
    float *net = malloc(3 * 224 * 224 * sizeof *net);
    for (int m = 0; m < 2; m++) {
        for (int k = 0; k < 50; k++) {
            cam_geometry geo;
            char err[256];
            double t0 = now_ms();
            if (cam_preprocess_image(img, img->width, img->height, &pps[m], net, &geo, err, sizeof err) != CAM_OK) {
                fprintf(stderr, "renderbench: preprocess: %s\n", err);
                return 1;
            }
            to[k] = now_ms() - t0;
        }
        printf("preprocess %s %dx%d -> 224x224 (median of 50): %.3f ms\n", m ? "shorter-side-crop 256" : "stretch",
               img->width, img->height, median(to, 50));
    }
    free(net);
    free(heat);
    free(to);
    free(t);
    for (int i = 0; i < n; i++) {
        cam_image_free(&photos[i]);
        cam_image_free(&overlays[i]);
    }
    return 0;
}
