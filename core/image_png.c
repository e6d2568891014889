/* image_png.c: PNG to RGB8 with libpng's classic API.
 *
 * Not the simplified png_image API: it gives no access to the user limits,
 * and it colour-manages (gAMA, composition in linear light), while image
 * classifiers are trained on pixels read the plain way (PIL, torchvision
 * ignore gAMA/iCCP).  So: every colour type and bit depth expanded to RGB8
 * or RGBA8 by libpng transforms (palette, tRNS, 1/2/4-bit gray, 16-bit
 * scaled with rounding, Adam7), alpha composited on white by us.
 *
 * libpng reports errors by longjmp.  All state that lives across the jump
 * sits in a png_ctx owned by the caller of the function that calls setjmp,
 * so nothing we read after the jump is an indeterminate local.  Warnings
 * are swallowed (the core never prints); errors keep their text. */
#include "image.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libpng's default user limit, stated here so the build's configuration
 * does not decide: a side longer than a million pixels is not a photo. */
#define MAX_SIDE 1000000u
/* Largest ancillary chunk libpng may read (libpng's own default).  We
 * discard ancillary chunks anyway; this bounds what a chunk can claim. */
#define CHUNK_MALLOC_MAX (8u << 20)
#define CHUNK_CACHE_MAX 128

typedef struct png_ctx {
    const uint8_t *p;
    size_t n, pos;
    int truncated;
    char msg[192];
    png_structp png;
    png_infop info;
    uint8_t *buf;         /* pixels: RGB8, or RGBA8 until composited */
    png_bytep *rows;
    uint32_t w, h;
    int channels;
} png_ctx;

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void on_error(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "error");
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;   /* recoverable by definition, and the core never prints */
}

static void on_read(png_structp png, png_bytep out, size_t len) {
    png_ctx *c = png_get_io_ptr(png);
    if (len > c->n - c->pos) {
        c->truncated = 1;
        png_error(png, "truncated PNG");
    }
    memcpy(out, c->p + c->pos, len);
    c->pos += len;
}

/* The size check straight from the IHDR bytes, before libpng allocates
 * anything: a 50000 x 50000 header is refused in microseconds.  IHDR must
 * be the first chunk; if it is not, libpng reports the file as corrupt. */
static cam_status precheck_ihdr(const uint8_t *p, size_t n, const cam_decode_options *opt, cam_image_info *info,
                                char *err, size_t errlen) {
    if (n < 24 || be32(p + 8) != 13 || memcmp(p + 12, "IHDR", 4) != 0) return CAM_OK;
    uint32_t w = be32(p + 16), h = be32(p + 20);
    if (w == 0 || h == 0 || w > PNG_UINT_31_MAX || h > PNG_UINT_31_MAX) return CAM_OK;
    info->width = (int)w;
    info->height = (int)h;
    if (w > MAX_SIDE || h > MAX_SIDE)
        return cam__fail(err, errlen, CAM_ELIMIT, "image is %ux%u: a side is longer than %u pixels", w, h, MAX_SIDE);
    return cam__image_check_pixels(w, h, opt->max_pixels, err, errlen);
}

/* Expands whatever the file holds to RGB8 or RGBA8. */
static void set_transforms(png_structp png, png_infop info) {
    int bit_depth = png_get_bit_depth(png, info), color = png_get_color_type(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (bit_depth == 16) png_set_scale_16(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
}

/* RGBA -> RGB over white, in place (3i never overtakes 4i). */
static void composite_white(uint8_t *buf, size_t pixels) {
    for (size_t i = 0; i < pixels; i++) {
        const uint8_t *s = buf + 4 * i;
        unsigned a = s[3], bg = 255u * (255u - a) + 127u;
        uint8_t *d = buf + 3 * i;
        d[0] = (uint8_t)((s[0] * a + bg) / 255u);
        d[1] = (uint8_t)((s[1] * a + bg) / 255u);
        d[2] = (uint8_t)((s[2] * a + bg) / 255u);
    }
}

/* The pixel and row-pointer buffers for the transformed rows. */
static cam_status alloc_rows(png_ctx *c, char *err, size_t errlen) {
    size_t stride, bytes, ptrs;
    if (!cam__mul_ok(c->w, (size_t)c->channels, &stride) || !cam__mul_ok(stride, c->h, &bytes) ||
        !cam__mul_ok(c->h, sizeof *c->rows, &ptrs))
        return cam__fail(err, errlen, CAM_ELIMIT, "PNG %ux%u: decoded size overflows", c->w, c->h);
    if (png_get_rowbytes(c->png, c->info) != stride)
        return cam__fail(err, errlen, CAM_EINTERNAL, "PNG row of %zu bytes, expected %zu",
                         (size_t)png_get_rowbytes(c->png, c->info), stride);
    c->buf = calloc(bytes, 1);   /* zeroed: see image_jpeg.c */
    c->rows = malloc(ptrs);
    if (!c->buf || !c->rows)
        return cam__fail(err, errlen, CAM_ENOMEM, "out of memory for a %ux%u PNG (%.0f MB)", c->w, c->h,
                         (double)bytes / 1048576.0);
    for (uint32_t y = 0; y < c->h; y++) c->rows[y] = c->buf + (size_t)y * stride;
    return CAM_OK;
}

static cam_status png_failure(const png_ctx *c, char *err, size_t errlen) {
    if (c->truncated) return cam__fail(err, errlen, CAM_EFORMAT, "truncated PNG");
    return cam__fail(err, errlen, CAM_EFORMAT, "corrupt PNG: %s", c->msg);
}

/* Everything libpng may longjmp out of.  Only c (the caller's) and the
 * unmodified parameters are used after the jump. */
static cam_status png_run(png_ctx *c, const cam_decode_options *opt, cam_image_info *info, char *err,
                          size_t errlen) {
    if (setjmp(png_jmpbuf(c->png))) return png_failure(c, err, errlen);
    png_set_read_fn(c->png, c, on_read);
    png_set_user_limits(c->png, MAX_SIDE, MAX_SIDE);
    png_set_chunk_malloc_max(c->png, CHUNK_MALLOC_MAX);
    png_set_chunk_cache_max(c->png, CHUNK_CACHE_MAX);
    /* Every ancillary chunk but tRNS is skipped unread: no iCCP/zTXt/iTXt
     * inflation, no text, nothing we would not use. */
    png_set_keep_unknown_chunks(c->png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);

    png_read_info(c->png, c->info);
    c->w = png_get_image_width(c->png, c->info);
    c->h = png_get_image_height(c->png, c->info);
    info->width = (int)c->w;
    info->height = (int)c->h;
    cam_status st = cam__image_check_pixels(c->w, c->h, opt->max_pixels, err, errlen);
    if (st != CAM_OK) return st;
    set_transforms(c->png, c->info);
    c->channels = png_get_channels(c->png, c->info);
    if (c->channels != 3 && c->channels != 4)
        return cam__fail(err, errlen, CAM_EINTERNAL, "PNG expanded to %d channels", c->channels);
    st = alloc_rows(c, err, errlen);
    if (st != CAM_OK) return st;
    png_read_image(c->png, c->rows);
    /* The rest of the file up to IEND: a PNG cut after its pixel data is
     * still a truncated upload, as a JPEG without EOI is. */
    png_read_end(c->png, NULL);
    return CAM_OK;
}

cam_status cam__png_decode(const uint8_t *p, size_t n, const cam_decode_options *opt, cam_image *img,
                           cam_image_info *info, char *err, size_t errlen) {
    info->format = "png";
    cam_status st = precheck_ihdr(p, n, opt, info, err, errlen);
    if (st != CAM_OK) return st;

    png_ctx c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.n = n;
    c.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning);
    if (c.png) c.info = png_create_info_struct(c.png);
    if (!c.png || !c.info) {
        png_destroy_read_struct(&c.png, NULL, NULL);
        return cam__fail(err, errlen, CAM_ENOMEM, "cannot create a PNG decoder");
    }
    st = png_run(&c, opt, info, err, errlen);
    png_destroy_read_struct(&c.png, &c.info, NULL);
    free(c.rows);
    if (st != CAM_OK) {
        free(c.buf);
        return st;
    }
    size_t pixels = (size_t)c.w * c.h;
    if (c.channels == 4) {
        composite_white(c.buf, pixels);
        uint8_t *shrunk = realloc(c.buf, pixels * 3);
        if (shrunk) c.buf = shrunk;   /* a failed shrink leaves a valid, larger block */
    }
    img->width = (int)c.w;
    img->height = (int)c.h;
    img->stride = (size_t)c.w * 3;
    img->rgb = c.buf;
    return CAM_OK;
}
