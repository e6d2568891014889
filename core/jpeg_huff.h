/* jpeg_huff.h: camserve's baseline Huffman decoder inside libjpeg (jpeg_huff.c). */
#ifndef CAM_JPEG_HUFF_H
#define CAM_JPEG_HUFF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>   /* jpeglib.h uses FILE */
#include <jpeglib.h>

/* After jpeg_start_decompress(): replaces cinfo's entropy decoder with ours
 * when the file is a single baseline scan.  Returns
 * 1 when installed, 0 when libjpeg keeps decoding it (nothing changed).
 * Its memory comes from cinfo's image pool. */
int cam__jpeg_huff_install(j_decompress_ptr cinfo);

/* For an installed decoder: -1 once the entropy data was found not clean
 * (a bad code, data running out, a misplaced restart marker): the pixels
 * must not be used, and the file goes to libjpeg-turbo's own decoder, which
 * reports the damage.  0 while MCUs remain, 1 when all were decoded. */
int cam__jpeg_huff_status(j_decompress_ptr cinfo);
/* For an installed decoder, before any scanline was read: the whole image
 * as RGB into rgb (rows pitch bytes apart), with camserve's own IDCT,
 * upsampling and colour conversion (jpeg_idct.c) instead of libjpeg's, the
 * same pixels.  1 when done (then jpeg_finish_decompress() as usual), 0
 * when the layout is not one it handles (4:4:4, 4:2:2, 4:2:0 or gray at
 * full scale; nothing consumed: read scanlines as usual), -1
 * when the entropy data was not clean (as cam__jpeg_huff_status). */
int cam__jpeg_huff_decode_rgb(j_decompress_ptr cinfo, uint8_t *rgb, size_t pitch);

#endif
