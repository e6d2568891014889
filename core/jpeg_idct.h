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
 * values, 64-byte aligned) into out: 8 rows of 32 samples, out_stride
 * bytes apart.  Only when cam__jpeg_idct_available(). */
void cam__jpeg_idct_group(const int16_t *coef, const int16_t *qgroup, uint8_t *out, size_t out_stride);

/* rows rows of n samples of each component (rows in_stride bytes apart) to
 * RGB (libjpeg's YCbCr -> RGB; gray to RGB when cb and cr are NULL), output
 * rows pitch bytes apart, 3 n bytes each.  Only when
 * cam__jpeg_idct_available(). */
void cam__jpeg_rgb_rows(const uint8_t *y, const uint8_t *cb, const uint8_t *cr, size_t in_stride, uint8_t *rgb,
                        size_t pitch, int rows, int n);

/* libjpeg's "fancy" (triangle filter) 2:1 upsampling of one chroma row of
 * dw samples to 2 dw: h2v1 (4:2:2) horizontally; h2v2 (4:2:0) on the
 * vertical sums 3 s0 + s1, s1 being the row above (for the upper output
 * row) or below (the lower).  s[-1] and s[dw] must hold the edge samples
 * again, and the vector code reads up to 32 bytes past s + dw and writes up
 * to 64 past out + 2 dw.  Only for dw > 2 (libjpeg replicates narrower
 * rows) and when cam__jpeg_idct_available(). */
void cam__jpeg_upsample_h2v1(const uint8_t *s, uint8_t *out, int dw);
void cam__jpeg_upsample_h2v2(const uint8_t *s0, const uint8_t *s1, uint8_t *out, int dw);

/* The same arithmetic in plain C, one block and one pixel at a time: the
 * reference the tests hold the vector code to.  coef rows are coef_stride
 * values apart, out rows out_stride bytes. */
void cam__jpeg_idct_ref(const int16_t *coef, size_t coef_stride, const uint16_t quant[64], uint8_t *out,
                        size_t out_stride);
void cam__jpeg_rgb_ref(const uint8_t *y, const uint8_t *cb, const uint8_t *cr, uint8_t *rgb, int n);
void cam__jpeg_upsample_ref(const uint8_t *s0, const uint8_t *s1, uint8_t *out, int dw);   /* s1 NULL: h2v1 */
#endif
