/* prebench.c: speed and output of preprocessing (core/preprocess.c).
 *
 *   make && gcc -std=c11 -O3 -g -D_GNU_SOURCE -pthread -Iinclude -Icore \
 *       tools/prebench.c build/libcamserve.a -lturbojpeg -ljpeg -lpng -lz -lm -o build/prebench
 *   build/prebench time [image [reps]]   median ms of cam_preprocess_image, mobilenetv2's
 *                                        config (224x224 stretch, mean = std = 128)
 *   build/prebench hash                  FNV-1a of the outputs over many sizes, modes and
 *                                        strides: equal hashes from two builds = equal outputs
 *
 * `time` also prints the hash of its own output; run two builds
 * alternately (A B A B) to compare them on a shared, noisy machine, and
 * under callgrind (reps 1..) for instruction counts. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../tests/timing.h"

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int load(const char *path, cam_image *img) {
    FILE *f = fopen(path, "rb");
    if (!f) return perror(path), 1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc((size_t)n);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) return fclose(f), fprintf(stderr, "%s: short read\n", path), 1;
    fclose(f);
    char err[256];
    cam_image_info info;
    cam_status st = cam_image_decode(buf, (size_t)n, NULL, img, &info, err, sizeof err);
    free(buf);
    if (st != CAM_OK) return fprintf(stderr, "%s: %s\n", path, err), 1;
    return 0;
}

static int do_time(const char *path, int reps) {
    cam_image img;
    if (load(path, &img)) return 1;
    cam_preprocess pp = {CAM_RESIZE_STRETCH, 256, 224, 224, 0, {128, 128, 128}, {128, 128, 128}};
    float *net = malloc(3 * 224 * 224 * sizeof *net);
    double *t = malloc((size_t)reps * sizeof *t);
    for (int k = 0; k < reps; k++) {
        cam_geometry geo;
        char err[256];
        double t0 = now_ms();
        if (cam_preprocess_image(&img, img.width, img.height, &pp, net, &geo, err, sizeof err) != CAM_OK)
            return fprintf(stderr, "preprocess: %s\n", err), 1;
        t[k] = now_ms() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_d);
    printf("preprocess %dx%d -> 224x224 stretch: median %.4f ms, min %.4f ms (%d reps), out %016llx\n", img.width,
           img.height, t[reps / 2], t[0], reps, (unsigned long long)fnv(0xcbf29ce484222325ULL, net, 3 * 224 * 224 * 4));
    free(t);
    free(net);
    cam_image_free(&img);
    return 0;
}

static uint32_t rng = 12345;
static uint32_t rnd(void) {
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

static int do_hash(void) {
    uint64_t all = 0xcbf29ce484222325ULL;
    int cases = 0;
    for (int k = 0; k < 600; k++) {
        /* mostly realistic sizes, some tiny and some enlarging ones */
        int iw = k % 5 == 0 ? 1 + (int)(rnd() % 16) : 1 + (int)(rnd() % 1100);
        int ih = k % 7 == 0 ? 1 + (int)(rnd() % 16) : 1 + (int)(rnd() % 900);
        if (k < 4) iw = 512, ih = k < 2 ? 384 : 341;
        int pad = (int)(rnd() % 3) * 5;
        cam_image im = {iw, ih, (size_t)iw * 3 + (size_t)pad, NULL};
        im.rgb = malloc(im.stride * (size_t)ih);
        for (size_t i = 0; i < im.stride * (size_t)ih; i++) im.rgb[i] = (uint8_t)(k % 3 == 0 ? rnd() : (i * 7 + i / im.stride * 3) ^ (rnd() & 15));
        int ow = k % 4 == 0 ? 224 : 1 + (int)(rnd() % 400), oh = k % 4 == 0 ? 224 : 1 + (int)(rnd() % 400);
        if (k % 11 == 0) ow = iw;   /* identity axes */
        if (k % 13 == 0) oh = ih;
        char err[256];
        cam_image out;
        cam_status st = cam_image_resize(&im, ow, oh, &out, err, sizeof err);
        all = fnv(all, &st, sizeof st);
        if (st == CAM_OK) {
            for (int y = 0; y < oh; y++) all = fnv(all, out.rgb + (size_t)y * out.stride, (size_t)ow * 3);
            cam_image_free(&out);
        }
        cam_preprocess pp = {(cam_resize_mode)(k % 2), 0, oh, ow, k % 3 == 1,
                             {123.675f, 116.28f, 103.53f}, {58.395f, 57.12f, 57.375f}};
        if (k % 4 == 0) pp = (cam_preprocess){(cam_resize_mode)(k / 4 % 2), 256, 224, 224, 0, {128, 128, 128}, {128, 128, 128}};
        if (pp.resize == CAM_RESIZE_SHORTER_SIDE_CROP) {
            int need = ow > oh ? ow : oh;
            pp.resize_shorter = need + (int)(rnd() % 64);
        }
        size_t nn = (size_t)3 * pp.width * pp.height;
        float *net = malloc(nn * sizeof *net);
        cam_geometry geo;
        /* a reduced-scale decode now and then: the full size differs */
        int fw = k % 6 == 5 ? iw * 2 : iw, fh = k % 6 == 5 ? ih * 2 : ih;
        st = cam_preprocess_image(&im, fw, fh, &pp, net, &geo, err, sizeof err);
        all = fnv(all, &st, sizeof st);
        if (st == CAM_OK) {
            all = fnv(all, net, nn * sizeof *net);
            all = fnv(all, &geo, sizeof geo);
        }
        cases++;
        free(net);
        free(im.rgb);
    }
    printf("hash of %d cases: %016llx\n", cases, (unsigned long long)all);
    return 0;
}

int main(int argc, char **argv) {
    const char *cmd = argc > 1 ? argv[1] : "time";
    if (!strcmp(cmd, "hash")) return do_hash();
    if (!strcmp(cmd, "time"))
        return do_time(argc > 2 ? argv[2] : "../shared/images/hot_dog.jpg", argc > 3 ? atoi(argv[3]) : 2000);
    fprintf(stderr, "usage: prebench time [image [reps]] | prebench hash\n");
    return 2;
}
