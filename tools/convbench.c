/* convbench.c: times Conv forward on representative layers (ResNet-18,
 * MobileNetV2, EfficientNet) at 1 and 2 threads and compares with one plain
 * sgemm of the same M x N x K, the ceiling for the GEMM paths.
 *
 *   make && gcc -std=c11 -O3 -ffp-contract=fast -D_GNU_SOURCE -pthread -Iinclude -Icore \
 *       tools/convbench.c build/libcamserve.a -ldl -lm -o build/convbench
 *   build/convbench [filter [threads]]    (threads: run only that count)
 * "ms" columns run the layer as a session does (weights prepacked);
 * "unpacked" is 1 thread without prepack.  CONVBENCH_COLD=1 flushes the
 * caches before every timed call. */
#include "internal.h"
#include "ops/conv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *name;
    int64_t c, h, w, m, k, s, pad, group;
    int count;               /* times the layer occurs (model totals) */
} layer;

static const layer k_layers[] = {
    {"resnet18 stem 7x7 s2 3->64 @224", 3, 224, 224, 64, 7, 2, 3, 1, 1},
    {"resnet18 3x3 64->64 @56", 64, 56, 56, 64, 3, 1, 1, 1, 1},
    {"resnet18 3x3 s2 128->256 @28", 128, 28, 28, 256, 3, 2, 1, 1, 1},
    {"resnet18 3x3 256->256 @14", 256, 14, 14, 256, 3, 1, 1, 1, 1},
    {"resnet18 3x3 512->512 @7", 512, 7, 7, 512, 3, 1, 1, 1, 1},
    {"googlenet 3x3 64->192 @56", 64, 56, 56, 192, 3, 1, 1, 1, 1},
    {"googlenet 3x3 128->192 @28", 128, 28, 28, 192, 3, 1, 1, 1, 1},
    {"googlenet 3x3 160->320 @14", 160, 14, 14, 320, 3, 1, 1, 1, 1},
    {"googlenet 3x3 160->320 @7", 160, 7, 7, 320, 3, 1, 1, 1, 1},
    {"googlenet 3x3 16->48 @14", 16, 14, 14, 48, 3, 1, 1, 1, 1},
    {"squeezenet 3x3 16->64 @55", 16, 55, 55, 64, 3, 1, 1, 1, 1},
    {"squeezenet 3x3 32->128 @27", 32, 27, 27, 128, 3, 1, 1, 1, 1},
    {"squeezenet 3x3 48->192 @13", 48, 13, 13, 192, 3, 1, 1, 1, 1},
    {"squeezenet 3x3 64->256 @13", 64, 13, 13, 256, 3, 1, 1, 1, 1},
    {"squeezenet stem 3x3 s2 3->64 @224", 3, 224, 224, 64, 3, 2, 0, 1, 1},
    {"squeezenet 1x1 512->1000 @13", 512, 13, 13, 1000, 1, 1, 0, 1, 1},
    {"probe 3x3 192->384 @7", 192, 7, 7, 384, 3, 1, 1, 1, 1},
    {"probe 3x3 256->256 @7", 256, 7, 7, 256, 3, 1, 1, 1, 1},
    {"probe 3x3 384->384 @14", 384, 14, 14, 384, 3, 1, 1, 1, 1},
    {"probe 3x3 512->512 @14", 512, 14, 14, 512, 3, 1, 1, 1, 1},
    {"probe 3x3 8->16 @28", 8, 28, 28, 16, 3, 1, 1, 1, 1},
    {"probe 3x3 4->32 @56", 4, 56, 56, 32, 3, 1, 1, 1, 1},
    {"probe 3x3 32->8 @56", 32, 56, 56, 8, 3, 1, 1, 1, 1},
    {"probe 3x3 64->64 @5", 64, 5, 5, 64, 3, 1, 1, 1, 1},
    {"probe 3x3 64->64 @112", 64, 112, 112, 64, 3, 1, 1, 1, 1},
    {"probe 3x3 3->64 @224", 3, 224, 224, 64, 3, 1, 1, 1, 1},
    {"resnet18 1x1 s2 64->128 @56", 64, 56, 56, 128, 1, 2, 0, 1, 1},
    {"mbv2 1x1 32->192 @112", 32, 112, 112, 192, 1, 1, 0, 1, 1},
    {"mbv2 1x1 144->24 @56", 144, 56, 56, 24, 1, 1, 0, 1, 1},
    {"mbv2 1x1 960->160 @7", 960, 7, 7, 160, 1, 1, 0, 1, 1},
    {"mbv2 1x1 320->1280 @7", 320, 7, 7, 1280, 1, 1, 0, 1, 1},
    {"mbv2 1x1 16->96 @112", 16, 112, 112, 96, 1, 1, 0, 1, 1},
    {"mbv2 1x1 32->16 @112", 32, 112, 112, 16, 1, 1, 0, 1, 1},
    {"mbv2 1x1 1280->1001 @1", 1280, 1, 1, 1001, 1, 1, 0, 1, 1},
    {"mbv2 stem 3x3 s2 3->32 @224", 3, 224, 224, 32, 3, 2, 1, 1, 1},
    {"dw 3x3 s1 32 @112", 32, 112, 112, 32, 3, 1, 1, 32, 1},
    {"dw 3x3 s1 144 @56", 144, 56, 56, 144, 3, 1, 1, 144, 1},
    {"dw 3x3 s2 96 @112", 96, 112, 112, 96, 3, 2, 1, 96, 1},
    {"dw 3x3 s1 384 @14", 384, 14, 14, 384, 3, 1, 1, 384, 1},
    {"dw 3x3 s1 960 @7", 960, 7, 7, 960, 3, 1, 1, 960, 1},
    {"dw 3x3 s2 576 @14", 576, 14, 14, 576, 3, 2, 1, 576, 1},
    {"dw 3x3 s2 144 @56", 144, 56, 56, 144, 3, 2, 1, 144, 1},
    {"dw 5x5 s1 240 @28", 240, 28, 28, 240, 5, 1, 2, 240, 1},
    {"dw 5x5 s2 144 @56", 144, 56, 56, 144, 5, 2, 2, 144, 1},
    {"group 3x3 g32 128->128 @56", 128, 56, 56, 128, 3, 1, 1, 32, 1},
};

/* Every Conv of the model at 224x224 (name, C, H, W, M, k, s, pad, group, count). */
static const layer k_resnet18[] = {
    {"stem", 3, 224, 224, 64, 7, 2, 3, 1, 1},      {"l1", 64, 56, 56, 64, 3, 1, 1, 1, 4},
    {"l2a", 64, 56, 56, 128, 3, 2, 1, 1, 1},       {"l2", 128, 28, 28, 128, 3, 1, 1, 1, 3},
    {"l2d", 64, 56, 56, 128, 1, 2, 0, 1, 1},       {"l3a", 128, 28, 28, 256, 3, 2, 1, 1, 1},
    {"l3", 256, 14, 14, 256, 3, 1, 1, 1, 3},       {"l3d", 128, 28, 28, 256, 1, 2, 0, 1, 1},
    {"l4a", 256, 14, 14, 512, 3, 2, 1, 1, 1},      {"l4", 512, 7, 7, 512, 3, 1, 1, 1, 3},
    {"l4d", 256, 14, 14, 512, 1, 2, 0, 1, 1},
};
#define PW(c, m, hw, n) {"pw", c, hw, hw, m, 1, 1, 0, 1, n}
#define DW(c, hw, s, n) {"dw", c, hw, hw, c, 3, s, 1, c, n}
static const layer k_mobilenetv2[] = {
    {"stem", 3, 224, 224, 32, 3, 2, 1, 1, 1},
    DW(32, 112, 1, 1),   PW(32, 16, 112, 1),
    PW(16, 96, 112, 1),  DW(96, 112, 2, 1),  PW(96, 24, 56, 1),
    PW(24, 144, 56, 1),  DW(144, 56, 1, 1),  PW(144, 24, 56, 1),
    PW(24, 144, 56, 1),  DW(144, 56, 2, 1),  PW(144, 32, 28, 1),
    PW(32, 192, 28, 2),  DW(192, 28, 1, 2),  PW(192, 32, 28, 2),
    PW(32, 192, 28, 1),  DW(192, 28, 2, 1),  PW(192, 64, 14, 1),
    PW(64, 384, 14, 3),  DW(384, 14, 1, 3),  PW(384, 64, 14, 3),
    PW(64, 384, 14, 1),  DW(384, 14, 1, 1),  PW(384, 96, 14, 1),
    PW(96, 576, 14, 2),  DW(576, 14, 1, 2),  PW(576, 96, 14, 2),
    PW(96, 576, 14, 1),  DW(576, 14, 2, 1),  PW(576, 160, 7, 1),
    PW(160, 960, 7, 2),  DW(960, 7, 1, 2),   PW(960, 160, 7, 2),
    PW(160, 960, 7, 1),  DW(960, 7, 1, 1),   PW(960, 320, 7, 1),
    PW(320, 1280, 7, 1),
};
#define C1(c, m, hw) {"1x1", c, hw, hw, m, 1, 1, 0, 1, 1}
#define C3(c, m, hw) {"3x3", c, hw, hw, m, 3, 1, 1, 1, 1}
/* torchvision GoogLeNet: its "5x5" branch is a 3x3 */
#define INCEPTION(in, b1, b2r, b2, b3r, b3, b4, hw) \
    C1(in, b1, hw), C1(in, b2r, hw), C3(b2r, b2, hw), C1(in, b3r, hw), C3(b3r, b3, hw), C1(in, b4, hw)
static const layer k_googlenet[] = {
    {"stem", 3, 224, 224, 64, 7, 2, 3, 1, 1}, C1(64, 64, 56), C3(64, 192, 56),
    INCEPTION(192, 64, 96, 128, 16, 32, 32, 28),    INCEPTION(256, 128, 128, 192, 32, 96, 64, 28),
    INCEPTION(480, 192, 96, 208, 16, 48, 64, 14),   INCEPTION(512, 160, 112, 224, 24, 64, 64, 14),
    INCEPTION(512, 128, 128, 256, 24, 64, 64, 14),  INCEPTION(512, 112, 144, 288, 32, 64, 64, 14),
    INCEPTION(528, 256, 160, 320, 32, 128, 128, 14), INCEPTION(832, 256, 160, 320, 32, 128, 128, 7),
    INCEPTION(832, 384, 192, 384, 48, 128, 128, 7),
};
#define FIRE(in, s, e, hw) C1(in, s, hw), C1(s, e, hw), C3(s, e, hw)
static const layer k_squeezenet[] = {
    {"stem", 3, 224, 224, 64, 3, 2, 0, 1, 1},
    FIRE(64, 16, 64, 55),  FIRE(128, 16, 64, 55),  FIRE(128, 32, 128, 27), FIRE(256, 32, 128, 27),
    FIRE(256, 48, 192, 13), FIRE(384, 48, 192, 13), FIRE(384, 64, 256, 13), FIRE(512, 64, 256, 13),
    C1(512, 1000, 13),
};
#undef FIRE
#undef INCEPTION
#undef C1
#undef C3
#undef PW
#undef DW

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static float *rand_buf(size_t n, unsigned seed) {
    float *p = cam__aligned_alloc(n * sizeof(float));
    if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)((seed >> 8) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
    }
    return p;
}

/* CONVBENCH_COLD=1: caches are flushed before every timed call (weights
 * are cold in a real forward pass: a model's do not stay cached between
 * images), by writing a buffer larger than the L3 */
static char *g_flush;
#define FLUSH_BYTES (96u << 20)

/* best-of-reps wall time of fn, repeated until ~0.2 s have passed */
static double time_min(void (*fn)(void *), void *arg) {
    fn(arg);   /* warm caches and pool */
    double best = 1e30, start = now();
    for (int r = 0; r < 1000 && (r < 5 || now() - start < (g_flush ? 1.0 : 0.2)); r++) {
        if (g_flush)
            for (size_t i = 0; i < FLUSH_BYTES; i += 64) g_flush[i] = (char)r;
        double t = now();
        fn(arg);
        t = now() - t;
        if (t < best) best = t;
    }
    return best;
}

typedef struct {
    const cam__node *node;
    const cam__tensor *const *in;
    cam__tensor *const *out;
    const cam__ctx *ctx;
} fwd_arg;
static void run_fwd(void *a) {
    fwd_arg *f = a;
    f->node->op->forward(f->node, f->in, f->out, f->ctx);
}

typedef struct { int m, n, k; const float *a, *b; float *c; } gemm_arg;
static void run_gemm(void *p) {
    gemm_arg *g = p;
    cam__sgemm(false, false, g->m, g->n, g->k, 1.0f, g->a, g->k, g->b, g->n, 0.0f, g->c, g->n);
}

/* Times one layer as a session runs it (weights prepacked when the op
 * has the hook) at 1 and 2 threads (ms[i] = 0 when skipped), if unpacked
 * also at 1 thread without prepack, and if gemm_gf one sgemm of the same
 * shape. */
static int bench_layer(const cam__op_def *op, const layer *L, int only, double ms[2], double *mflop,
                       double *gemm_gf, double *unpacked) {
    char err[256];
    cam__attr attrs[4];
    int64_t strides[2] = {L->s, L->s}, pads[4] = {L->pad, L->pad, L->pad, L->pad};
    memset(attrs, 0, sizeof attrs);
    attrs[0] = (cam__attr){.name = "strides", .type = CAM__ATTR_INTS, .ints = strides, .n = 2};
    attrs[1] = (cam__attr){.name = "pads", .type = CAM__ATTR_INTS, .ints = pads, .n = 4};
    attrs[2] = (cam__attr){.name = "group", .type = CAM__ATTR_INT, .i = L->group};
    int in_idx[3] = {0, 1, 2}, out_idx[1] = {3};
    cam__node node = {.name = "bench", .op_type = "Conv", .domain = "", .op = op, .opset = 13, .n_in = 3,
                      .n_out = 1, .in = in_idx, .out = out_idx, .attrs = attrs, .n_attrs = 3,
                      .act = {CAM__ACT_RELU, 0, 0}};
    cam__tensor x = {0}, w = {0}, b = {0}, y = {0};
    x.dtype = w.dtype = b.dtype = CAM_FLOAT;
    cam__tensor_set_shape(&x, 4, (int64_t[]){1, L->c, L->h, L->w});
    cam__tensor_set_shape(&w, 4, (int64_t[]){L->m, L->c / L->group, L->k, L->k});
    cam__tensor_set_shape(&b, 1, (int64_t[]){L->m});
    w.data = rand_buf(w.numel, 5);
    b.data = rand_buf(b.numel, 6);
    cam__tensor *in[3] = {&x, &w, &b}, *out[1] = {&y};
    if (op->check(&node, err, sizeof err) != CAM_OK || op->shape(&node, in, out, err, sizeof err) != CAM_OK) {
        fprintf(stderr, "%s: %s\n", L->name, err);
        return -1;
    }
    x.data = rand_buf(x.numel, 4);
    y.data = rand_buf(y.numel, 7);
    if (unpacked) {
        *unpacked = 0;
        if (!only || only == 1) {
            size_t stride = (node.scratch + CAM__ALIGN - 1) & ~(size_t)(CAM__ALIGN - 1);
            cam__ctx ctx = {NULL, cam__aligned_alloc(stride + CAM__ALIGN), stride};
            fwd_arg fa = {&node, (const cam__tensor *const *)in, out, &ctx};
            *unpacked = time_min(run_fwd, &fa) * 1e3;
            cam__aligned_free(ctx.scratch);
        }
    }
    if (op->prepack) {   /* as graph preparation does: x has no data there */
        void *xd = x.data;
        x.data = NULL;
        cam_status st = op->prepack(&node, in, err, sizeof err);
        x.data = xd;
        if (st != CAM_OK) {
            fprintf(stderr, "%s: %s\n", L->name, err);
            return -1;
        }
    }
    for (int threads = 1; threads <= 2; threads++) {
        ms[threads - 1] = 0;
        if (only && threads != only) continue;
        cam__pool *pool = NULL;
        if (threads > 1 && cam__pool_create(threads, &pool) != CAM_OK) return -1;
        size_t stride = (node.scratch + CAM__ALIGN - 1) & ~(size_t)(CAM__ALIGN - 1);
        cam__ctx ctx = {pool, cam__aligned_alloc(stride * (size_t)threads + CAM__ALIGN), stride};
        fwd_arg fa = {&node, (const cam__tensor *const *)in, out, &ctx};
        ms[threads - 1] = time_min(run_fwd, &fa) * 1e3;
        cam__aligned_free(ctx.scratch);
        cam__pool_free(pool);
    }
    *mflop = node.flops * 1e-6;
    if (gemm_gf) {   /* the same product as one sgemm (per group, times groups) */
        int64_t oh = y.dims[2], ow = y.dims[3], kk = L->c / L->group * L->k * L->k, mg = L->m / L->group;
        float *ga = rand_buf((size_t)(mg * kk), 8), *gb = rand_buf((size_t)(kk * oh * ow), 9),
              *gc = rand_buf((size_t)(mg * oh * ow), 10);
        gemm_arg g = {(int)mg, (int)(oh * ow), (int)kk, ga, gb, gc};
        double tg = time_min(run_gemm, &g) * (double)L->group;
        *gemm_gf = *mflop / (tg * 1e3);
        cam__aligned_free(ga); cam__aligned_free(gb); cam__aligned_free(gc);
    }
    cam__aligned_free(x.data); cam__aligned_free(w.data); cam__aligned_free(b.data); cam__aligned_free(y.data);
    free(node.params);
    return 0;
}

/* Sums every Conv of a model; depthwise (group > 1) also on its own. */
static int bench_model(const cam__op_def *op, const char *name, const layer *ls, size_t n, int only) {
    double tot[2] = {0, 0}, dw[2] = {0, 0}, mf_tot = 0, mf_dw = 0;
    for (size_t i = 0; i < n; i++) {
        double ms[2], mf;
        if (bench_layer(op, &ls[i], only, ms, &mf, NULL, NULL)) return -1;
        for (int t = 0; t < 2; t++) {
            tot[t] += ms[t] * ls[i].count;
            if (ls[i].group > 1) dw[t] += ms[t] * ls[i].count;
        }
        mf_tot += mf * ls[i].count;
        if (ls[i].group > 1) mf_dw += mf * ls[i].count;
    }
    printf("%-32s %8.1f %9.3f %9.1f %9.3f %9.1f\n", name, mf_tot, tot[0], mf_tot / tot[0], tot[1], mf_tot / tot[1]);
    if (mf_dw > 0)
        printf("%-32s %8.1f %9.3f %9.1f %9.3f %9.1f\n", "  of which depthwise", mf_dw, dw[0], mf_dw / dw[0], dw[1],
               mf_dw / dw[1]);
    return 0;
}

int main(int argc, char **argv) {
    char err[256];
    if (cam_runtime_init(err, sizeof err) != CAM_OK) { fprintf(stderr, "%s\n", err); return 1; }
    const char *filter = argc > 1 && argv[1][0] ? argv[1] : NULL;
    int only = argc > 2 ? atoi(argv[2]) : 0;
    printf("BLAS kernel %s\n", cam_blas_corename());
    if (getenv("CONVBENCH_COLD") && atoi(getenv("CONVBENCH_COLD"))) {
        g_flush = malloc(FLUSH_BYTES);
        if (!g_flush) return 1;
        printf("cold: caches flushed before every timed call\n");
    }
    {   /* the ceiling */
        int n = 1024;
        float *a = rand_buf((size_t)n * n, 1), *b = rand_buf((size_t)n * n, 2), *c = rand_buf((size_t)n * n, 3);
        gemm_arg g = {n, n, n, a, b, c};
        double t = time_min(run_gemm, &g);
        printf("sgemm 1024^3: %.1f GFLOP/s\n\n", 2.0 * n * n * n / t * 1e-9);
        cam__aligned_free(a); cam__aligned_free(b); cam__aligned_free(c);
    }
    /* ops.h declares the op functions weak, so a static link pulls conv.o in
     * only through a strong reference */
    void (*volatile keep)(float *, float *, int64_t, int64_t, const float *, const float *, const float *,
                          const float *, float) = cam__conv_fold_bn;
    (void)keep;
    const cam__op_def *op = cam__op_find("Conv", 13);
    if (!op) { fprintf(stderr, "no Conv op\n"); return 1; }
    printf("%-32s %8s %9s %9s %9s %9s %9s %9s\n", "layer (bias + ReLU fused)", "MFLOP", "ms 1T", "GF/s 1T", "ms 2T",
           "GF/s 2T", "sgemm GF/s", "unpacked");
    for (size_t li = 0; li < sizeof k_layers / sizeof k_layers[0]; li++) {
        const layer *L = &k_layers[li];
        if (filter && !strstr(L->name, filter)) continue;
        double ms[2], mf, gf, up;
        if (bench_layer(op, L, only, ms, &mf, &gf, &up)) return 1;
        printf("%-32s %8.1f %9.3f %9.1f %9.3f %9.1f %9.1f %9.3f\n", L->name, mf, ms[0], mf / ms[0], ms[1], mf / ms[1],
               gf, up);
    }
    if (!filter || strstr("models", filter)) {
        printf("\nall Conv layers of a model, 224x224, batch 1\n");
        if (bench_model(op, "resnet18 convs", k_resnet18, sizeof k_resnet18 / sizeof k_resnet18[0], only) ||
            bench_model(op, "googlenet convs", k_googlenet, sizeof k_googlenet / sizeof k_googlenet[0], only) ||
            bench_model(op, "squeezenet1_1 convs", k_squeezenet, sizeof k_squeezenet / sizeof k_squeezenet[0],
                        only) ||
            bench_model(op, "mobilenetv2 convs", k_mobilenetv2, sizeof k_mobilenetv2 / sizeof k_mobilenetv2[0],
                        only))
            return 1;
    }
    return 0;
}
