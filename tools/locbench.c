/* locbench.c: times cam_heatmap and cam_boxes (core/localize.c) on a 7x7
 * CAM-like map upsampled to typical image sizes.
 *
 *   make && gcc -std=c11 -O3 -D_GNU_SOURCE -pthread -Iinclude -Icore \
 *       tools/locbench.c build/libcamserve.a -lm -o build/locbench
 *   build/locbench [runs [mode]]     (mode: largest (default) or all)
 *
 * Prints one line per size: median and minimum milliseconds of each call. */
#include "camserve.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../tests/timing.h"

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 200;
    cam_boxes_mode mode = argc > 2 && strcmp(argv[2], "all") == 0 ? CAM_BOXES_ALL : CAM_BOXES_LARGEST;
    if (runs < 1) runs = 1;
    static const int sizes[][2] = {{227, 227}, {224, 224}, {512, 341}, {640, 480}, {1024, 768}, {1024, 1024}};
    /* one strong blob, one weaker one, a negative floor: a typical CAM */
    float map[49];
    for (int y = 0; y < 7; y++)
        for (int x = 0; x < 7; x++)
            map[y * 7 + x] = 9.0f * expf(-((x - 2.0f) * (x - 2.0f) + (y - 3.0f) * (y - 3.0f)) / 3.0f) +
                             4.0f * expf(-((x - 5.5f) * (x - 5.5f) + (y - 1.0f) * (y - 1.0f)) / 1.5f) - 1.0f;
    double *th = malloc(sizeof(double) * runs), *tb = malloc(sizeof(double) * runs);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int w = sizes[s][0], h = sizes[s][1];
        float *heat = malloc(sizeof(float) * w * h);
        /* shorter-side-crop geometry for 256/224, as most torchvision models */
        double sc = (w < h ? w : h) / 256.0;
        cam_geometry g = {(w - 224 * sc) / 2, (h - 224 * sc) / 2, sc, sc, 224, 224, w, h};
        cam_box boxes[16];
        int n = 0;
        char err[256];
        for (int r = 0; r < runs; r++) {
            double t0 = now_ms();
            if (cam_heatmap(map, 7, 7, &g, w, h, heat, err, sizeof err) != CAM_OK) {
                fprintf(stderr, "cam_heatmap: %s\n", err);
                return 1;
            }
            double t1 = now_ms();
            if (cam_boxes(heat, w, h, w, h, 0.2f, mode, 0.0f, boxes, 16, &n, err, sizeof err) != CAM_OK) {
                fprintf(stderr, "cam_boxes: %s\n", err);
                return 1;
            }
            double t2 = now_ms();
            th[r] = t1 - t0;
            tb[r] = t2 - t1;
        }
        qsort(th, (size_t)runs, sizeof(double), cmp_d);
        qsort(tb, (size_t)runs, sizeof(double), cmp_d);
        printf("%4dx%-4d  heatmap median %.3f min %.3f ms   boxes median %.3f min %.3f ms   %d box(es)\n", w, h,
               th[runs / 2], th[0], tb[runs / 2], tb[0], n);
        free(heat);
    }
    free(th);
    free(tb);
    return 0;
}
