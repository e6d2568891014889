/* render_internal.h: the PNG encoder of render.c with its knobs exposed, so
 * that tools/renderbench.c can measure the settings render.c chose against
 * the alternatives.  Not part of the public API. */
#ifndef CAM_RENDER_INTERNAL_H
#define CAM_RENDER_INTERNAL_H

#include "camserve.h"

/* PNG filter types (the values written before each row) */
enum { CAM__PNG_NONE = 0, CAM__PNG_SUB = 1, CAM__PNG_UP = 2, CAM__PNG_AVG = 3, CAM__PNG_PAETH = 4 };

typedef struct cam__png_params {
    int filter;           /* CAM__PNG_*, the same for every row */
    size_t block_bytes;   /* filtered bytes per deflate block (one Huffman code each) */
} cam__png_params;

/* The settings cam_png_encode_rgb/gray use. */
void cam__png_default_params(cam__png_params *p);

/* 8-bit PNG of w x h pixels of `channels` (1: gray, 3: RGB) bytes each,
 * rows `stride` bytes apart.  *png is malloc()ed. */
cam_status cam__png_encode(const uint8_t *pixels, size_t stride, int w, int h, int channels,
                           const cam__png_params *p, uint8_t **png, size_t *len, char *err, size_t errlen);

/* Adler-32 as zlib's adler32() computes it (exposed for the tests). */
uint32_t cam__adler32(uint32_t adler, const uint8_t *p, size_t n);

/* CRC-32 as zlib's crc32() computes it, with carry-less multiplication
 * where the CPU has it (exposed for the tests). */
uint32_t cam__crc32(uint32_t crc, const uint8_t *p, size_t n);

#endif
