/* image.c: RGB8 images, format sniffing and EXIF orientation.
 *
 * cam_image_decode() looks at the magic bytes only (the Content-Type of an
 * upload is a claim, the bytes are the fact) and hands the buffer to the
 * JPEG (image_jpeg.c) or PNG (image_png.c) decoder.  Both check the pixel
 * count from the header against max_pixels before any pixel buffer exists.
 * On failure the output image is left empty, so callers free nothing. */
#include "image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_PIXELS 40000000u
#define MAX_ALLOC_PIXELS (1ull << 32)

static const uint8_t PNG_MAGIC[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
static const uint8_t JPEG_MAGIC[3] = {0xFF, 0xD8, 0xFF};

cam_status cam_image_alloc(cam_image *img, int width, int height, char *err, size_t errlen) {
    return cam__image_alloc(img, width, height, 1, err, errlen);
}

cam_status cam__image_alloc(cam_image *img, int width, int height, int zeroed, char *err, size_t errlen) {
    if (!img) return cam__fail(err, errlen, CAM_EINVAL, "cam_image_alloc: no image");
    memset(img, 0, sizeof *img);
    if (width <= 0 || height <= 0)
        return cam__fail(err, errlen, CAM_EINVAL, "image size %dx%d is not positive", width, height);
    size_t stride, bytes;
    /* Beyond any max_pixels anyone configures; also keeps absurd requests
     * (a buggy caller's 2^30 x 2^30) an error rather than an allocator abort. */
    if ((uint64_t)width * (uint64_t)height > MAX_ALLOC_PIXELS || !cam__mul_ok((size_t)width, 3, &stride) ||
        !cam__mul_ok(stride, (size_t)height, &bytes))
        return cam__fail(err, errlen, CAM_ELIMIT, "image size %dx%d is too large", width, height);
    /* calloc: large blocks come zeroed from mmap for free, and a caller that
     * fills only part of an image never exposes old heap contents.  But the
     * server keeps its heap mapped between requests (M_TRIM_THRESHOLD), so
     * there calloc is a memset: callers that write every pixel skip it. */
    uint8_t *p = zeroed ? calloc(bytes, 1) : malloc(bytes);
    if (!p)
        return cam__fail(err, errlen, CAM_ENOMEM, "out of memory for a %dx%d image (%.0f MB)", width, height,
                         (double)bytes / 1048576.0);
    img->width = width;
    img->height = height;
    img->stride = stride;
    img->rgb = p;
    return CAM_OK;
}

void cam_image_free(cam_image *img) {
    if (!img) return;
    free(img->rgb);
    memset(img, 0, sizeof *img);
}

void cam_decode_options_init(cam_decode_options *o) {
    if (!o) return;
    o->max_pixels = DEFAULT_MAX_PIXELS;
    o->min_short = 0;
    o->min_long = 0;
}

/* Megapixels for messages: "400", "40", "4.2": whole numbers stay whole, and
 * a count just over a limit still reads as more than it. */
static void mp_str(char *buf, size_t n, uint64_t px) {
    double v = (double)px / 1e6;
    if (px % 1000000 == 0 || v >= 100) snprintf(buf, n, "%.0f", v);
    else if (v >= 0.1) snprintf(buf, n, "%.1f", v);
    else snprintf(buf, n, "%.3f", v);
}

cam_status cam__image_check_pixels(uint64_t w, uint64_t h, uint64_t max_pixels, char *err, size_t errlen) {
    /* w and h come from 16- (JPEG) or 31-bit (PNG) header fields: no overflow */
    uint64_t px = w * h;
    if (px <= max_pixels) return CAM_OK;
    char a[32], b[32];
    mp_str(a, sizeof a, px);
    mp_str(b, sizeof b, max_pixels);
    return cam__fail(err, errlen, CAM_ELIMIT, "image is %llux%llu = %s MP, more than the %s MP limit",
                     (unsigned long long)w, (unsigned long long)h, a, b);
}

/* ---- orientation ------------------------------------------------------- */

/* Orientations 2-4 keep rows intact: copy each row from its mirrored
 * position, reversing pixels for a horizontal flip. */
static void orient_rows(const cam_image *s, int o, cam_image *d) {
    int flip_h = o == 2 || o == 3, flip_v = o == 3 || o == 4;
    for (int y = 0; y < d->height; y++) {
        const uint8_t *src = s->rgb + (size_t)(flip_v ? s->height - 1 - y : y) * s->stride;
        uint8_t *dst = d->rgb + (size_t)y * d->stride;
        if (!flip_h) {
            memcpy(dst, src, (size_t)s->width * 3);
            continue;
        }
        for (int x = 0; x < d->width; x++) memcpy(dst + 3 * (size_t)x, src + 3 * (size_t)(s->width - 1 - x), 3);
    }
}

/* Orientations 5-8 swap axes.  Upright pixel (x, y) comes from stored
 * (sx, sy): 5 transpose (y, x); 6 rotate 90 cw (y, h-1-x); 7 transverse
 * (w-1-y, h-1-x); 8 rotate 90 ccw (w-1-y, x).  Walked in tiles so that the
 * column-wise reads of the source stay in cache. */
static void orient_transpose(const cam_image *s, int o, cam_image *d) {
    enum { T = 32 };
    int rev_x = o == 7 || o == 8, rev_y = o == 6 || o == 7;
    for (int ty = 0; ty < d->height; ty += T) {
        int ey = ty + T < d->height ? ty + T : d->height;
        for (int tx = 0; tx < d->width; tx += T) {
            int ex = tx + T < d->width ? tx + T : d->width;
            for (int y = ty; y < ey; y++) {
                size_t sx = (size_t)(rev_x ? s->width - 1 - y : y);
                uint8_t *dst = d->rgb + (size_t)y * d->stride;
                for (int x = tx; x < ex; x++) {
                    size_t sy = (size_t)(rev_y ? s->height - 1 - x : x);
                    memcpy(dst + 3 * (size_t)x, s->rgb + sy * s->stride + 3 * sx, 3);
                }
            }
        }
    }
}

cam_status cam__image_orient(const cam_image *src, int orientation, cam_image *dst, char *err, size_t errlen) {
    int swap = orientation >= 5 && orientation <= 8;
    cam_status st = swap ? cam_image_alloc(dst, src->height, src->width, err, errlen)
                         : cam_image_alloc(dst, src->width, src->height, err, errlen);
    if (st != CAM_OK) return st;
    if (swap) orient_transpose(src, orientation, dst);
    else if (orientation >= 2 && orientation <= 4) orient_rows(src, orientation, dst);
    else for (int y = 0; y < src->height; y++)
        memcpy(dst->rgb + (size_t)y * dst->stride, src->rgb + (size_t)y * src->stride, (size_t)src->width * 3);
    return CAM_OK;
}

/* ---- decode -------------------------------------------------------------- */

/* Names a few formats people upload by mistake, for a more useful message. */
static const char *other_format(const uint8_t *p, size_t n) {
    if (n >= 4 && memcmp(p, "GIF8", 4) == 0) return "GIF";
    if (n >= 2 && p[0] == 'B' && p[1] == 'M') return "BMP";
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) return "WebP";
    if (n >= 12 && memcmp(p + 4, "ftyp", 4) == 0) return "HEIF/AVIF";
    if (n >= 4 && (memcmp(p, "II*\0", 4) == 0 || memcmp(p, "MM\0*", 4) == 0)) return "TIFF";
    return NULL;
}

static int is_prefix(const uint8_t *p, size_t n, const uint8_t *magic, size_t m) {
    return n < m && memcmp(p, magic, n) == 0;
}

static void info_defaults(cam_image_info *info) {
    info->format = "";
    info->width = info->height = 0;
    info->orientation = 1;
    info->scale_num = info->scale_denom = 1;
}

cam_status cam_image_decode(const void *data, size_t len, const cam_decode_options *opt, cam_image *img,
                            cam_image_info *info, char *err, size_t errlen) {
    if (!img) return cam__fail(err, errlen, CAM_EINVAL, "cam_image_decode: no output image");
    memset(img, 0, sizeof *img);
    cam_image_info scratch;
    if (!info) info = &scratch;
    info_defaults(info);

    /* A zeroed options struct behaves like an initialised one. */
    cam_decode_options o;
    cam_decode_options_init(&o);
    if (opt) {
        o = *opt;
        if (o.max_pixels == 0) o.max_pixels = DEFAULT_MAX_PIXELS;
    }
    if (o.min_short < 0 || o.min_long < 0)
        return cam__fail(err, errlen, CAM_EINVAL, "min_short %d / min_long %d must not be negative", o.min_short,
                         o.min_long);

    const uint8_t *p = data;
    if (!p || len == 0) return cam__fail(err, errlen, CAM_EFORMAT, "empty image");

    cam_status st;
    if (len >= sizeof JPEG_MAGIC && memcmp(p, JPEG_MAGIC, sizeof JPEG_MAGIC) == 0) {
        st = cam__jpeg_decode(p, len, &o, img, info, err, errlen);
    } else if (len >= sizeof PNG_MAGIC && memcmp(p, PNG_MAGIC, sizeof PNG_MAGIC) == 0) {
        st = cam__png_decode(p, len, &o, img, info, err, errlen);
    } else if (is_prefix(p, len, JPEG_MAGIC, sizeof JPEG_MAGIC)) {
        st = cam__fail(err, errlen, CAM_EFORMAT, "truncated JPEG (%zu bytes)", len);
    } else if (is_prefix(p, len, PNG_MAGIC, sizeof PNG_MAGIC)) {
        st = cam__fail(err, errlen, CAM_EFORMAT, "truncated PNG (%zu bytes)", len);
    } else {
        const char *what = other_format(p, len);
        st = what ? cam__fail(err, errlen, CAM_EUNSUPPORTED,
                              "unsupported image format (JPEG and PNG are supported); this is %s", what)
                  : cam__fail(err, errlen, CAM_EUNSUPPORTED, "unsupported image format (JPEG and PNG are supported)");
    }
    if (st != CAM_OK) cam_image_free(img);
    return st;
}
