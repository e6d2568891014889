/* jpeg_idct.h: the IDCT and colour conversion of camserve's own JPEG pixel
 * path (jpeg_idct.c), bit-exact with what libjpeg-turbo runs on AVX2 CPUs. */
#ifndef CAM_JPEG_IDCT_H
#define CAM_JPEG_IDCT_H
#include <stddef.h>
#include <stdint.h>

/* Four horizontally adjacent 8x8 blocks of one component, interleaved so
 * that one 64-byte row holds row r of all four: coefficient (r, c) of block
 * j is at [32 r + 8 j + c].  The Huffman decoder writes this layout. */
enum { CAM_JPEG_GROUP = 4, CAM_JPEG_GROUP_COEFS = 64 * CAM_JPEG_GROUP };

/* 1 when this CPU runs the vector code below (AVX-512 BW and VBMI, and
 * CAMSERVE_NO_AVX512 unset).  Without it the caller keeps libjpeg's own
 * IDCT and colour conversion. */
int cam__jpeg_idct_available(void);

/* quant: the component's quantization table in natural order (libjpeg's
 * quantval); qgroup (CAM_JPEG_GROUP_COEFS values) receives it in the group
 * layout, as cam__jpeg_idct_group wants it. */
void cam__jpeg_quant_group(const uint16_t quant[64], int16_t *qgroup);

/* Dequantizes and inverse-transforms a group (coef, CAM_JPEG_GROUP_COEFS
 * values, 64-byte aligned) into out: 8 rows of 32 samples, 32 bytes apart.
 * Only when cam__jpeg_idct_available(). */
void cam__jpeg_idct_group(const int16_t *coef, const int16_t *qgroup, uint8_t *out);

/* rows rows of n samples of each component (rows in_stride bytes apart) to
 * RGB (libjpeg's YCbCr -> RGB; gray to RGB when cb and cr are NULL), output
 * rows pitch bytes apart, 3 n bytes each.  n <= 32; only when
 * cam__jpeg_idct_available(). */
void cam__jpeg_rgb_rows(const uint8_t *y, const uint8_t *cb, const uint8_t *cr, size_t in_stride, uint8_t *rgb,
                        size_t pitch, int rows, int n);

/* The same arithmetic in plain C, one block and one pixel at a time: the
 * reference the tests hold the vector code to.  coef rows are coef_stride
 * values apart, out rows out_stride bytes. */
void cam__jpeg_idct_ref(const int16_t *coef, size_t coef_stride, const uint16_t quant[64], uint8_t *out,
                        size_t out_stride);
void cam__jpeg_rgb_ref(const uint8_t *y, const uint8_t *cb, const uint8_t *cr, uint8_t *rgb, int n);
#endif
