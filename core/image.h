/* image.h: private interface between the files of the image decoder.
 *
 * image.c sniffs the format and rotates pixels; image_jpeg.c (TurboJPEG)
 * and image_png.c (libpng) turn bytes into RGB8; exif.c walks JPEG marker
 * segments for what TurboJPEG does not tell us (EXIF orientation, the Adobe
 * APP14 marker that says whether CMYK is stored inverted, whether the
 * stream ends in EOI). */
#ifndef CAM_IMAGE_H
#define CAM_IMAGE_H

#include "internal.h"

/* What the JPEG marker walk found.  Every field has a safe default (no
 * orientation, no Adobe marker) so that malformed metadata is
 * simply ignored: the decoder itself judges the image data. */
typedef struct cam__jpeg_markers {
    int orientation;    /* EXIF IFD0 0x0112 if present and 1..8, else 1 */
    int adobe;          /* an Adobe APP14 segment precedes the first scan */
    int adobe_transform;/* its transform byte: 0 CMYK/RGB, 1 YCbCr, 2 YCCK; -1 */
} cam__jpeg_markers;

/* The header segments before the first scan (cheap: stops at SOS). */
void cam__jpeg_scan_markers(const uint8_t *p, size_t n, cam__jpeg_markers *m);
/* 1 if the stream's entropy-coded data is followed by an EOI marker, i.e.
 * the file is not cut short.  Walks the whole file, so it is only asked
 * when TurboJPEG reported a warning. */
int cam__jpeg_has_eoi(const uint8_t *p, size_t n);

/* EXIF orientation from a TIFF block (the APP1 payload after "Exif\0\0");
 * 1 when absent or malformed.  Exposed for the tests. */
int cam__exif_orientation(const uint8_t *tiff, size_t n);

/* Refuses w x h against max_pixels with the message the HTTP client sees. */
/* cam_image_alloc, but with zeroed = 0 the pixels are left as malloc
 * leaves them: only for callers that write every one. */
cam_status cam__image_alloc(cam_image *img, int width, int height, int zeroed, char *err, size_t errlen);
cam_status cam__image_check_pixels(uint64_t w, uint64_t h, uint64_t max_pixels, char *err, size_t errlen);

/* The decoders fill img (allocated) and the info fields they know; the
 * JPEG decoder applies the EXIF orientation itself (it alone reads it). */
cam_status cam__jpeg_decode(const uint8_t *p, size_t n, const cam_decode_options *opt, cam_image *img,
                            cam_image_info *info, char *err, size_t errlen);
cam_status cam__png_decode(const uint8_t *p, size_t n, const cam_decode_options *opt, cam_image *img,
                           cam_image_info *info, char *err, size_t errlen);

/* A clean baseline JPEG at DCT scale num/denom (w x h: the scaled size)
 * through libjpeg with our Huffman decoder (image_jpeg.c); 0 when it leaves
 * the file to TurboJPEG.  Exposed for the tests, which compare its pixels
 * with TurboJPEG's. */
int cam__jpeg_fast_decompress(const uint8_t *p, size_t n, int num, int denom, uint8_t *buf, int w, int h,
                              size_t pitch);

/* DCT scale for a w x h JPEG under min_short/min_long (see image_jpeg.c):
 * the factor TurboJPEG will use, num/denom.  Exposed for the tests. */
void cam__jpeg_pick_scale(int w, int h, int min_short, int min_long, int *num, int *denom);

/* Rewrites src (stored as the camera wrote it) upright per EXIF orientation
 * 1..8 into a new image dst. */
cam_status cam__image_orient(const cam_image *src, int orientation, cam_image *dst, char *err, size_t errlen);

#endif
