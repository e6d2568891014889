/* fuzz_image.c: the image decoder on arbitrary bytes.  Each input is
 * decoded with a few option sets: the default limits, a 4 MP cap (so
 * large claimed sizes are refused rather than decoded slowly) and DCT
 * scaling with orientation (min_short/min_long), since the scaled sizes
 * and the rotation of scaled buffers are where the arithmetic lives.  A
 * decoded image must be exactly as large as it says: every byte is read. */
#include "camserve.h"

#include <stddef.h>
#include <stdint.h>

static unsigned cam_fuzz_image_touch(const cam_image *im) {
    unsigned sum = 0;
    for (int y = 0; y < im->height; y++)
        for (size_t i = 0; i < (size_t)im->width * 3; i++) sum += im->rgb[(size_t)y * im->stride + i];
    return sum;
}

int cam_fuzz_image(const uint8_t *data, size_t len) {
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
