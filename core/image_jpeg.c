/* image_jpeg.c: JPEG to RGB8 with TurboJPEG (libjpeg-turbo 2.1 API).
 *
 * A clean baseline file goes first through libjpeg's own API with our
 * Huffman decoder (jpeg_huff.c) in place of libjpeg's, and for the common
 * layouts at full scale our IDCT, upsampling and colour conversion too
 * (jpeg_idct.c): the same pixels, in 0.6 of TurboJPEG's time on
 * hot_dog.jpg (512x384, 200 KB; 1.75 -> 1.05-1.07 ms, best of 25).
 * Anything else about the file, or any warning on the way, and TurboJPEG
 * decodes it as below.
 *
 * Order matters for hostile input: header (dims, colorspace) first, pixel
 * count against max_pixels, then the one pixel buffer, then decoding.
 *
 * Warnings.  libjpeg reports damage it can recover from as a warning and
 * still fills the whole image (missing data becomes gray).  We decide:
 *  - a truncated file is an error ("truncated JPEG: ..."): TurboJPEG's
 *    premature-end warnings, or any warning on a stream that never reaches
 *    its EOI marker (libjpeg keeps only the first warning's text, so a file
 *    that has extraneous bytes *and* is cut short must be caught by
 *    structure, not by message);
 *  - other warnings on a complete stream (extraneous bytes before a marker,
 *    a bad Huffman code, ...) are accepted: cameras and editors write such
 *    files, browsers show them, and the pixels are all there. */
#include "image.h"

#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "jpeg_huff.h"

/* libjpeg's JMSG_LENGTH_MAX: TurboJPEG messages are at most this long */
#define JMSG_LENGTH 200

/* ---- scale --------------------------------------------------------------- */

/* Picks the DCT scale for a w x h JPEG (stored orientation; shorter and
 * longer sides do not change under rotation, so EXIF does not matter
 * here).  Only the 1/2^k factors are candidates: libjpeg-turbo has SIMD
 * reduced IDCTs for exactly those, while 3/8, 5/8, ... run plain C and
 * were measured slower than 1/2 on a 4000x3000 photo although they output
 * fewer pixels.  Each requirement is capped at the full size, so 1/1 always
 * qualifies and nothing is ever upscaled; 0 and 0 asks for the full size. */
void cam__jpeg_pick_scale(int w, int h, int min_short, int min_long, int *num, int *denom) {
    int full_short = w < h ? w : h, full_long = w < h ? h : w;
    int need_short = min_short < full_short ? min_short : full_short;
    int need_long = min_long < full_long ? min_long : full_long;
    *num = *denom = 1;
    if (min_short <= 0 && min_long <= 0) return;   /* no requirement: full size */
    int n_sf = 0;
    const tjscalingfactor *sf = tjGetScalingFactors(&n_sf);
    for (int i = 0; sf && i < n_sf; i++) {
        if (sf[i].num != 1 || sf[i].denom < 1) continue;
        int sw = TJSCALED(w, sf[i]), sh = TJSCALED(h, sf[i]);
        int s = sw < sh ? sw : sh, l = sw < sh ? sh : sw;
        if (s >= need_short && l >= need_long && sf[i].denom > *denom) *denom = sf[i].denom;
    }
    /* TurboJPEG decodes at the largest factor whose output fits the size we
     * ask for; on tiny images a larger factor can round to the same size
     * (1 pixel at 1/8 and 1/1).  Report the factor it will really use. */
    tjscalingfactor mine = {*num, *denom};
    int tw = TJSCALED(w, mine), th = TJSCALED(h, mine);
    for (int i = 0; sf && i < n_sf; i++) {
        if (sf[i].num > sf[i].denom) continue;   /* never upscale */
        if (TJSCALED(w, sf[i]) == tw && TJSCALED(h, sf[i]) == th) {
            *num = sf[i].num;
            *denom = sf[i].denom;
            break;   /* the list is ordered largest first */
        }
    }
}

/* ---- CMYK ---------------------------------------------------------------- */

/* TurboJPEG hands CMYK/YCCK JPEGs over as CMYK and leaves the conversion to
 * us.  Photoshop (and every file with an Adobe APP14 marker) stores CMYK
 * inverted, 255 meaning no ink: R = C * K / 255.  Without the marker the
 * values are ink amounts: R = (255 - C) * (255 - K) / 255.  This is the naive
 * conversion libjpeg's own tools, browsers and PIL use; no ICC profile.
 * In place: pixel i's 3 output bytes never overtake its 4 input bytes. */
static void cmyk_to_rgb(uint8_t *buf, size_t pixels, int inverted) {
    for (size_t i = 0; i < pixels; i++) {
        const uint8_t *s = buf + 4 * i;
        unsigned c = s[0], m = s[1], y = s[2], k = s[3];
        if (!inverted) {
            c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k;
        }
        uint8_t *d = buf + 3 * i;
        d[0] = (uint8_t)((c * k + 127) / 255);
        d[1] = (uint8_t)((m * k + 127) / 255);
        d[2] = (uint8_t)((y * k + 127) / 255);
    }
}

/* ---- errors -------------------------------------------------------------- */

/* TurboJPEG errors that mean "valid but not something libjpeg-turbo 2.1
 * decodes" (12-bit, lossless and other SOF types, odd subsampling) rather
 * than "broken".  "Unsupported marker type" is not one of them: it is what
 * libjpeg says about a garbage marker code. */
static int unsupported_msg(const char *msg) {
    return strcasestr(msg, "unsupported JPEG") || strcasestr(msg, "not implemented") ||
           strcasestr(msg, "unsupported color conversion") || strcasestr(msg, "omitted at compile time") ||
           strcasestr(msg, "could not determine subsampling");
}

static cam_status tj_error(tjhandle tj, char *err, size_t errlen) {
    const char *msg = tjGetErrorStr2(tj);
    if (!msg) msg = "unknown error";
    /* libjpeg refuses a side over 65500 (JPEG_MAX_DIMENSION) from the
     * header: a size limit like max_pixels, not damage */
    if (strcasestr(msg, "maximum supported image dimension"))
        return cam__fail(err, errlen, CAM_ELIMIT, "image too large: %s", msg);
    if (unsupported_msg(msg)) return cam__fail(err, errlen, CAM_EUNSUPPORTED, "unsupported JPEG: %s", msg);
    return cam__fail(err, errlen, CAM_EFORMAT, "corrupt JPEG: %s", msg);
}

static int premature_end(tjhandle tj) {
    const char *msg = tjGetErrorStr2(tj);
    return msg && strcasestr(msg, "premature end");
}

static cam_status truncated(tjhandle tj, char *err, size_t errlen) {
    const char *msg = tjGetErrorStr2(tj);
    return cam__fail(err, errlen, CAM_EFORMAT, "truncated JPEG: %s", msg ? msg : "premature end");
}

/* Pixels in two passes.  The first stops at the first warning: a file cut
 * short (or a 600-byte file whose header claims 6000x6000) then fails in
 * well under a ms instead of after libjpeg gray-filled the whole frame
 * (200 ms).  Only a file with some other warning takes the second, tolerant
 * pass, where truncation is judged by structure (see top).
 *
 * TurboJPEG 2.1 pitfall: once a warning was seen, tjGetErrorCode() says
 * TJERR_WARNING even if a fatal error followed and the buffer is half
 * written.  The message tells them apart: libjpeg formats only the first
 * warning but every fatal error, so a warnings-only second pass ends with
 * the very message the first pass stopped at. */
static cam_status tj_decompress(tjhandle tj, const uint8_t *p, size_t n, uint8_t *buf, int sw, int pitch, int sh,
                                int pf, char *err, size_t errlen) {
    /* LIMITSCANS: a progressive file with thousands of tiny scans costs
     * minutes of CPU for a few KB of upload; TurboJPEG then refuses it. */
    const int flags = TJFLAG_LIMITSCANS;
    if (tjDecompress2(tj, p, (unsigned long)n, buf, sw, pitch, sh, pf, flags | TJFLAG_STOPONWARNING) == 0)
        return CAM_OK;
    if (tjGetErrorCode(tj) != TJERR_WARNING) return tj_error(tj, err, errlen);
    if (premature_end(tj)) return truncated(tj, err, errlen);
    char first[JMSG_LENGTH];
    snprintf(first, sizeof first, "%s", tjGetErrorStr2(tj));
    if (tjDecompress2(tj, p, (unsigned long)n, buf, sw, pitch, sh, pf, flags) == 0) return CAM_OK;
    const char *msg = tjGetErrorStr2(tj);
    if (tjGetErrorCode(tj) != TJERR_WARNING || !msg || strcmp(msg, first) != 0) return tj_error(tj, err, errlen);
    if (premature_end(tj) || !cam__jpeg_has_eoi(p, n)) return truncated(tj, err, errlen);
    return CAM_OK;
}

/* ---- the fast path ----------------------------------------------------- */

typedef struct fast_jpeg {
    struct jpeg_decompress_struct d;   /* first: libjpeg's callbacks get &d */
    struct jpeg_error_mgr jerr;
    jmp_buf fail;
    int warned;
} fast_jpeg;

static void fast_error_exit(j_common_ptr c) { longjmp(((fast_jpeg *)(void *)c)->fail, 1); }
static void fast_emit_message(j_common_ptr c, int level) {
    if (level < 0) ((fast_jpeg *)(void *)c)->warned = 1;
}
static void fast_output_message(j_common_ptr c) { (void)c; }   /* the core never prints */

/* The image at scale num/denom, w x h, into buf (pitch bytes a row), as
 * tjDecompress2 with TJPF_RGB and no flags would: libjpeg's defaults (islow
 * IDCT, fancy upsampling) and EXT_RGB out.  1 when buf holds the image.  0
 * when the file is not a clean single-scan baseline JPEG in YCbCr or gray,
 * or anything went wrong: the caller decodes it with TurboJPEG, which
 * overwrites every pixel of buf. */
int cam__jpeg_fast_decompress(const uint8_t *p, size_t n, int num, int denom, uint8_t *buf, int w, int h,
                              size_t pitch) {
    fast_jpeg fj;
    volatile int ok = 0;
    memset(&fj, 0, sizeof fj);
    fj.d.err = jpeg_std_error(&fj.jerr);
    fj.jerr.error_exit = fast_error_exit;
    fj.jerr.emit_message = fast_emit_message;
    fj.jerr.output_message = fast_output_message;
    if (setjmp(fj.fail)) goto out;   /* before create: it can fail too (memory) */
    jpeg_create_decompress(&fj.d);
    jpeg_mem_src(&fj.d, p, (unsigned long)n);
    if (jpeg_read_header(&fj.d, TRUE) != JPEG_HEADER_OK || fj.warned) goto out;
    if (fj.d.progressive_mode || fj.d.arith_code || fj.d.data_precision != 8 ||
        (fj.d.jpeg_color_space != JCS_YCbCr && fj.d.jpeg_color_space != JCS_GRAYSCALE))
        goto out;
    fj.d.out_color_space = JCS_EXT_RGB;
    fj.d.dct_method = JDCT_ISLOW;
    fj.d.scale_num = (unsigned)num;
    fj.d.scale_denom = (unsigned)denom;
    jpeg_start_decompress(&fj.d);
    if (fj.warned || fj.d.output_width != (JDIMENSION)w || fj.d.output_height != (JDIMENSION)h ||
        fj.d.output_components != 3 || !cam__jpeg_huff_install(&fj.d))
        goto out;
    if (cam__jpeg_huff_decode_rgb(&fj.d, buf, pitch) < 0 || fj.warned) goto out;
    while (fj.d.output_scanline < fj.d.output_height) {
        JSAMPROW rows[16];
        JDIMENSION y = fj.d.output_scanline, want = fj.d.output_height - y;
        if (want > 16) want = 16;
        for (JDIMENSION i = 0; i < want; i++) rows[i] = buf + (size_t)(y + i) * pitch;
        if (jpeg_read_scanlines(&fj.d, rows, want) == 0 || fj.warned || cam__jpeg_huff_status(&fj.d) < 0) goto out;
    }
    if (cam__jpeg_huff_status(&fj.d) != 1) goto out;
    jpeg_finish_decompress(&fj.d);
    ok = !fj.warned;
out:
    jpeg_destroy_decompress(&fj.d);   /* safe on a struct create did not finish: memset above */
    return ok;
}

/* ---- decode -------------------------------------------------------------- */

typedef struct jpeg_header {
    int w, h, subsamp, colorspace;
    cam__jpeg_markers mk;
} jpeg_header;

static cam_status read_header(tjhandle tj, const uint8_t *p, size_t n, jpeg_header *hd, char *err,
                              size_t errlen) {
    hd->w = hd->h = 0;
    hd->subsamp = hd->colorspace = -1;
    /* A warning here (garbage between header segments) still fills in the
     * header; the decode itself judges whether the damage matters. */
    int warned = 0;
    if (tjDecompressHeader3(tj, p, (unsigned long)n, &hd->w, &hd->h, &hd->subsamp, &hd->colorspace) != 0) {
        if (tjGetErrorCode(tj) != TJERR_WARNING) return tj_error(tj, err, errlen);
        warned = 1;
    }
    if (hd->w <= 0 || hd->h <= 0) {
        if (warned && premature_end(tj)) return truncated(tj, err, errlen);
        if (warned) return tj_error(tj, err, errlen);
        /* a tables-only stream "succeeds" without dimensions */
        return cam__fail(err, errlen, CAM_EFORMAT, "corrupt JPEG: no image in the stream");
    }
    cam__jpeg_scan_markers(p, n, &hd->mk);
    return CAM_OK;
}

/* Decodes at the chosen scale into img (RGB8, stored orientation). */
static cam_status decode_pixels(tjhandle tj, const uint8_t *p, size_t n, const jpeg_header *hd, int num,
                                int denom, cam_image *img, char *err, size_t errlen) {
    tjscalingfactor sf = {num, denom};
    int sw = TJSCALED(hd->w, sf), sh = TJSCALED(hd->h, sf);
    int cmyk = hd->colorspace == TJCS_CMYK || hd->colorspace == TJCS_YCCK;
    int pf = cmyk ? TJPF_CMYK : TJPF_RGB;
    size_t ps = (size_t)tjPixelSize[pf], pitch, bytes;
    if (sw <= 0 || sh <= 0 || !cam__mul_ok((size_t)sw, ps, &pitch) || pitch > INT_MAX ||
        !cam__mul_ok(pitch, (size_t)sh, &bytes))
        return cam__fail(err, errlen, CAM_ELIMIT, "JPEG %dx%d: decoded size overflows", sw, sh);
    uint8_t *buf = malloc(bytes);
    if (!buf)
        return cam__fail(err, errlen, CAM_ENOMEM, "out of memory for a %dx%d JPEG (%.0f MB)", sw, sh,
                         (double)bytes / 1048576.0);
    cam_status st = CAM_OK;
    /* The fast path writes every pixel or gives up.  TurboJPEG gets a zeroed
     * buffer: whatever path a damaged file takes through libjpeg, no old heap
     * contents (another request's pixels) can become image data.  calloc,
     * not memset: a large buffer then comes as fresh zero pages, and a
     * 600-byte file claiming 6000x6000 (108 MB) is refused at its first
     * warning without touching them. */
    if (cmyk || !cam__jpeg_fast_decompress(p, n, num, denom, buf, sw, sh, pitch)) {
        free(buf);
        if (!(buf = calloc(bytes, 1)))
            return cam__fail(err, errlen, CAM_ENOMEM, "out of memory for a %dx%d JPEG (%.0f MB)", sw, sh,
                             (double)bytes / 1048576.0);
        st = tj_decompress(tj, p, n, buf, sw, (int)pitch, sh, pf, err, errlen);
    }
    if (st != CAM_OK) {
        free(buf);
        return st;
    }
    if (cmyk) {
        cmyk_to_rgb(buf, (size_t)sw * (size_t)sh, hd->mk.adobe);
        uint8_t *shrunk = realloc(buf, (size_t)sw * 3 * (size_t)sh);
        if (shrunk) buf = shrunk;   /* a failed shrink leaves a valid, larger block */
    }
    img->width = sw;
    img->height = sh;
    img->stride = (size_t)sw * 3;
    img->rgb = buf;
    return CAM_OK;
}

static cam_status jpeg_decode(tjhandle tj, const uint8_t *p, size_t n, const cam_decode_options *opt,
                              cam_image *img, cam_image_info *info, char *err, size_t errlen) {
    jpeg_header hd;
    cam_status st = read_header(tj, p, n, &hd, err, errlen);
    if (st != CAM_OK) return st;
    int o = hd.mk.orientation, swap = o >= 5;
    info->width = swap ? hd.h : hd.w;
    info->height = swap ? hd.w : hd.h;
    info->orientation = o;
    st = cam__image_check_pixels((uint64_t)hd.w, (uint64_t)hd.h, opt->max_pixels, err, errlen);
    if (st != CAM_OK) return st;

    cam__jpeg_pick_scale(hd.w, hd.h, opt->min_short, opt->min_long, &info->scale_num, &info->scale_denom);
    cam_image stored = {0};
    st = decode_pixels(tj, p, n, &hd, info->scale_num, info->scale_denom, &stored, err, errlen);
    if (st != CAM_OK) return st;
    if (o == 1) {
        *img = stored;
        return CAM_OK;
    }
    st = cam__image_orient(&stored, o, img, err, errlen);
    cam_image_free(&stored);
    return st;
}

cam_status cam__jpeg_decode(const uint8_t *p, size_t n, const cam_decode_options *opt, cam_image *img,
                            cam_image_info *info, char *err, size_t errlen) {
    info->format = "jpeg";
    if (n > ULONG_MAX) return cam__fail(err, errlen, CAM_ELIMIT, "JPEG of %zu bytes is too large", n);
    tjhandle tj = tjInitDecompress();
    if (!tj) return cam__fail(err, errlen, CAM_ENOMEM, "cannot create a JPEG decoder: %s", tjGetErrorStr2(NULL));
    cam_status st = jpeg_decode(tj, p, n, opt, img, info, err, errlen);
    tjDestroy(tj);
    return st;
}
