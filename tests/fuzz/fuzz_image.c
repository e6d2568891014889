/* fuzz_image.c: the image decoder on arbitrary bytes.  Each input is
 * decoded with a few option sets: the default limits, a 4 MP cap (so
 * large claimed sizes are refused rather than decoded slowly) and DCT
 * scaling with orientation (min_short/min_long), since the scaled sizes
 * and the rotation of scaled buffers are where the arithmetic lives.  A
 * decoded image must be exactly as large as it says: every byte is read.
 * And a differential check of the JPEG fast path (core/jpeg_huff.c): when
 * it says it decoded a file, its pixels must be TurboJPEG's. */
#include "camserve.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "image.h"

static unsigned cam_fuzz_image_touch(const cam_image *im) {
    unsigned sum = 0;
    for (int y = 0; y < im->height; y++)
        for (size_t i = 0; i < (size_t)im->width * 3; i++) sum += im->rgb[(size_t)y * im->stride + i];
    return sum;
}

/* aborts (a finding) if the fast path's pixels differ from TurboJPEG's */
static void cam_fuzz_jpeg_fast_vs_turbojpeg(const uint8_t *data, size_t len) {
    if (len < 4 || data[0] != 0xFF || data[1] != 0xD8) return;
    tjhandle tj = tjInitDecompress();
    int w = 0, h = 0, ss, cs;
    if (!tj) return;
    if (tjDecompressHeader3(tj, data, (unsigned long)len, &w, &h, &ss, &cs) == 0 && w > 0 && h > 0 &&
        (size_t)w * (size_t)h <= 1000000) {
        size_t bytes = (size_t)w * (size_t)h * 3;
        uint8_t *a = malloc(bytes), *b = malloc(bytes);
        if (a && b && cam__jpeg_fast_decompress(data, len, 1, 1, b, w, h, (size_t)w * 3)) {
            memset(a, 0, bytes);
            tjDecompress2(tj, data, (unsigned long)len, a, w, w * 3, h, TJPF_RGB, 0);
            if (memcmp(a, b, bytes) != 0) abort();
        }
        free(a);
        free(b);
    }
    tjDestroy(tj);
}

int cam_fuzz_image(const uint8_t *data, size_t len) {
    cam_fuzz_jpeg_fast_vs_turbojpeg(data, len);
    static const struct { uint64_t max_pixels; int min_short, min_long; } variants[] = {
        {4000000, 0, 0},
        {4000000, 64, 128},
        {1000000, 8, 0},
    };
    char err[256];
    volatile unsigned sink = 0;
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        cam_decode_options o;
        cam_decode_options_init(&o);
        o.max_pixels = variants[v].max_pixels;
        o.min_short = variants[v].min_short;
        o.min_long = variants[v].min_long;
        cam_image im;
        cam_image_info info;
        if (cam_image_decode(data, len, &o, &im, &info, err, sizeof err) == CAM_OK) {
            sink += cam_fuzz_image_touch(&im);
            cam_image_free(&im);
        }
    }
    (void)sink;
    return 0;
}

#ifdef CAM_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) { return cam_fuzz_image(data, len); }
#endif
