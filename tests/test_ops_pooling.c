/* test_ops_pooling.c: MaxPool, AveragePool, GlobalAveragePool, ReduceMean
 * and LRN.  Hand-computed outputs verify the reference; random shapes over
 * several seeds compare forward (1, 2 and 3 threads) with the reference. */
#include "ophelp.h"

/* A strong reference keeps pooling.o linked from libcamserve.a whatever
 * ops.h declares (its op functions were weak during bring-up, and weak
 * references do not pull archive members). */
cam_status cam__op_MaxPool_check(cam__node *n, char *err, size_t errlen);
__attribute__((used)) static cam_status (*const link_pooling)(cam__node *, char *, size_t) = cam__op_MaxPool_check;

#define TOL 1e-5

/* ---- helpers ----------------------------------------------------------- */

/* Both forward and reference must produce `want`. */
static int expect_both(oph *h, const float *want, size_t n, double tol) {
    oph_run(h, h->node.op->forward, h->pout_fwd, 2);
    oph_run(h, h->node.op->reference, h->pout_ref, 1);
    if (h->out_fwd[0].numel != n) return -1;
    for (size_t i = 0; i < n; i++) {
        float f = cam__f32(&h->out_fwd[0])[i], r = cam__f32(&h->out_ref[0])[i];
        if (fabsf(f - want[i]) > tol * (1 + fabsf(want[i])) || fabsf(r - want[i]) > tol * (1 + fabsf(want[i])))
            return (int)i + 1;
    }
    return 0;
}

static int64_t rnd(unsigned *s, int64_t lo, int64_t hi) {  /* uniform in [lo, hi] */
    *s = *s * 1664525u + 1013904223u;
    return lo + (int64_t)((*s >> 8) % (unsigned)(hi - lo + 1));
}

static const float seq16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* 2-D pool node over x [1,1,h,w] */
static cam_status pool2d(oph *h, const char *op, int64_t opset, int64_t hh, int64_t ww, const float *x,
                         const int64_t *k, const int64_t *s, const int64_t *pads, int ceil, int cip,
                         const char *auto_pad) {
    oph_init(h, op, opset);
    oph_attr_ints(h, "kernel_shape", k, 2);
    if (s) oph_attr_ints(h, "strides", s, 2);
    if (pads) oph_attr_ints(h, "pads", pads, 4);
    if (ceil) oph_attr_int(h, "ceil_mode", 1);
    if (cip) oph_attr_int(h, "count_include_pad", 1);
    if (auto_pad) oph_attr_string(h, "auto_pad", auto_pad);
    oph_input_f32(h, 4, (int64_t[]){1, 1, hh, ww}, x);
    return oph_prepare(h, 1);
}

/* ---- MaxPool / AveragePool: hand-computed --------------------------------- */

TEST(maxpool_hand) {
    oph h;
    CHECK(pool2d(&h, "MaxPool", 12, 4, 4, seq16, (int64_t[]){2, 2}, (int64_t[]){2, 2}, NULL, 0, 0, NULL) == CAM_OK,
          "%s", h.err);
    int bad = expect_both(&h, (float[]){6, 8, 14, 16}, 4, 0);
    CHECK(bad == 0, "element %d", bad);
    oph_free(&h);

    /* ONNX test_maxpool_2d_ceil: 4x4, k3 s2, ceil -> 2x2 */
    CHECK(pool2d(&h, "MaxPool", 12, 4, 4, seq16, (int64_t[]){3, 3}, (int64_t[]){2, 2}, NULL, 1, 0, NULL) == CAM_OK,
          "%s", h.err);
    bad = expect_both(&h, (float[]){11, 12, 15, 16}, 4, 0);
    CHECK(bad == 0, "ceil element %d", bad);
    oph_free(&h);

    /* dilation 2 along W: max(x[o], x[o+2]) */
    float x[7] = {5, 1, 4, 2, 8, 0, 3};
    oph_init(&h, "MaxPool", 12);
    oph_attr_ints(&h, "kernel_shape", (int64_t[]){1, 2}, 2);
    oph_attr_ints(&h, "dilations", (int64_t[]){1, 2}, 2);
    oph_input_f32(&h, 4, (int64_t[]){1, 1, 1, 7}, x);
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    bad = expect_both(&h, (float[]){5, 2, 8, 2, 8}, 5, 0);
    CHECK(bad == 0, "dilation element %d", bad);
    oph_free(&h);

    /* padded border windows see only real elements (negative inputs) */
    float neg[4] = {-4, -3, -2, -1};
    CHECK(pool2d(&h, "MaxPool", 12, 2, 2, neg, (int64_t[]){2, 2}, NULL, (int64_t[]){1, 1, 1, 1}, 0, 0, NULL) ==
              CAM_OK, "%s", h.err);
    bad = expect_both(&h, (float[]){-4, -3, -3, -2, -1, -1, -2, -1, -1}, 9, 0);
    CHECK(bad == 0, "padded element %d", bad);
    oph_free(&h);
}

TEST(avgpool_hand) {
    oph h;
    const float x9[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK(pool2d(&h, "AveragePool", 11, 3, 3, x9, (int64_t[]){2, 2}, NULL, NULL, 0, 0, NULL) == CAM_OK, "%s", h.err);
    int bad = expect_both(&h, (float[]){3, 4, 6, 7}, 4, 1e-6);
    CHECK(bad == 0, "element %d", bad);
    oph_free(&h);

    /* k3 pads 1: corners average 4 real values, or 9 positions with count_include_pad */
    CHECK(pool2d(&h, "AveragePool", 11, 3, 3, x9, (int64_t[]){3, 3}, NULL, (int64_t[]){1, 1, 1, 1}, 0, 0, NULL) ==
              CAM_OK, "%s", h.err);
    bad = expect_both(&h, (float[]){3, 3.5f, 4, 4.5f, 5, 5.5f, 6, 6.5f, 7}, 9, 1e-6);
    CHECK(bad == 0, "pads element %d", bad);
    oph_free(&h);
    CHECK(pool2d(&h, "AveragePool", 11, 3, 3, x9, (int64_t[]){3, 3}, NULL, (int64_t[]){1, 1, 1, 1}, 0, 1, NULL) ==
              CAM_OK, "%s", h.err);
    bad = expect_both(&h, (float[]){12 / 9.f, 21 / 9.f, 16 / 9.f, 27 / 9.f, 5, 33 / 9.f, 24 / 9.f, 39 / 9.f, 28 / 9.f},
                      9, 1e-6);
    CHECK(bad == 0, "count_include_pad element %d", bad);
    oph_free(&h);

    /* ONNX test_averagepool_2d_ceil */
    CHECK(pool2d(&h, "AveragePool", 11, 4, 4, seq16, (int64_t[]){3, 3}, (int64_t[]){2, 2}, NULL, 1, 0, NULL) ==
              CAM_OK, "%s", h.err);
    bad = expect_both(&h, (float[]){6, 7.5f, 12, 13.5f}, 4, 1e-6);
    CHECK(bad == 0, "ceil element %d", bad);
    oph_free(&h);

    /* ceil_mode window past the end padding: W=6, k3 s2 pads 1/1 -> 4 outputs;
     * the last window covers x[5], one pad, one position beyond the padding
     * which count_include_pad does not count (PyTorch gives [1, 3, 5, 3]). */
    const float x6[6] = {1, 2, 3, 4, 5, 6};
    CHECK(pool2d(&h, "AveragePool", 19, 1, 6, x6, (int64_t[]){1, 3}, (int64_t[]){1, 2}, (int64_t[]){0, 1, 0, 1}, 1, 1,
                 NULL) == CAM_OK, "%s", h.err);
    bad = expect_both(&h, (float[]){1, 3, 5, 3}, 4, 1e-6);
    CHECK(bad == 0, "ceil+cip element %d", bad);
    oph_free(&h);
    CHECK(pool2d(&h, "AveragePool", 19, 1, 6, x6, (int64_t[]){1, 3}, (int64_t[]){1, 2}, (int64_t[]){0, 1, 0, 1}, 1, 0,
                 NULL) == CAM_OK, "%s", h.err);
    bad = expect_both(&h, (float[]){1.5f, 3, 5, 6}, 4, 1e-6);
    CHECK(bad == 0, "ceil no cip element %d", bad);
    oph_free(&h);
    /* ...and the window that would start in the right padding is dropped:
     * W=5, k2 s2 pads 1/1, ceil: ceil(5/2)+1 = 4 would start at 5 -> 3 outputs */
    CHECK(pool2d(&h, "MaxPool", 12, 1, 5, x6, (int64_t[]){1, 2}, (int64_t[]){1, 2}, (int64_t[]){0, 1, 0, 1}, 1, 0,
                 NULL) == CAM_OK, "%s", h.err);
    bad = expect_both(&h, (float[]){1, 3, 5}, 3, 0);
    CHECK(bad == 0, "ceil drop element %d", bad);
    oph_free(&h);
}

TEST(pool_auto_pad_hand) {
    oph h;
    const float x4[4] = {1, 2, 3, 4};
    struct { const char *op, *ap; float want[4]; } cases[] = {
        {"MaxPool", "SAME_UPPER", {2, 3, 4, 4}},
        {"MaxPool", "SAME_LOWER", {1, 2, 3, 4}},
        {"AveragePool", "SAME_UPPER", {1.5f, 2.5f, 3.5f, 4}},
        {"AveragePool", "SAME_LOWER", {1, 1.5f, 2.5f, 3.5f}},
    };
    for (int i = 0; i < 4; i++) {
        CHECK(pool2d(&h, cases[i].op, 11, 1, 4, x4, (int64_t[]){1, 2}, NULL, NULL, 0, 0, cases[i].ap) == CAM_OK,
              "%s", h.err);
        int bad = expect_both(&h, cases[i].want, 4, 1e-6);
        CHECK(bad == 0, "%s %s element %d", cases[i].op, cases[i].ap, bad);
        oph_free(&h);
    }
    /* SAME with stride: 5x5 k3 s2 -> 3x3; VALID: 5x5 k2 s2 -> 2x2 */
    float x25[25];
    for (int i = 0; i < 25; i++) x25[i] = (float)i;
    CHECK(pool2d(&h, "MaxPool", 11, 5, 5, x25, (int64_t[]){3, 3}, (int64_t[]){2, 2}, NULL, 0, 0, "SAME_UPPER") ==
              CAM_OK, "%s", h.err);
    CHECK(h.out_fwd[0].dims[2] == 3 && h.out_fwd[0].dims[3] == 3, "SAME dims");
    int bad = expect_both(&h, (float[]){6, 8, 9, 16, 18, 19, 21, 23, 24}, 9, 0);
    CHECK(bad == 0, "SAME s2 element %d", bad);
    oph_free(&h);
    CHECK(pool2d(&h, "AveragePool", 11, 5, 5, x25, (int64_t[]){2, 2}, (int64_t[]){2, 2}, NULL, 1, 0, "VALID") ==
              CAM_OK, "%s", h.err);
    bad = expect_both(&h, (float[]){3, 5, 13, 15}, 4, 1e-6);
    CHECK(bad == 0, "VALID element %d", bad);
    oph_free(&h);
}

/* ---- MaxPool / AveragePool: random against the reference ----------------- */

static int pool_random_runs, pool_random_rejected;

/* One random pool config of rank nsp; returns false when shape() rejected it
 * (kernel larger than the padded input, padding-only windows). */
static void pool_random_one(const char *op, int nsp, unsigned seed) {
    unsigned s = seed;
    bool avg = strcmp(op, "AveragePool") == 0;
    int64_t k[3], st[3], d[3], pads[6], dims[5] = {rnd(&s, 1, 2), rnd(&s, 1, 5)};
    for (int i = 0; i < nsp; i++) {
        k[i] = rnd(&s, 1, 4);
        st[i] = rnd(&s, 1, 3);
        d[i] = rnd(&s, 0, 3) == 0 ? 2 : 1;
        pads[i] = rnd(&s, 0, k[i] - 1);
        pads[nsp + i] = rnd(&s, 0, k[i] - 1);
        dims[2 + i] = rnd(&s, 1, nsp == 3 ? 9 : 23);
    }
    static const char *modes[] = {NULL, "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    const char *ap = modes[rnd(&s, 0, 6) < 3 ? 0 : rnd(&s, 1, 4)];
    int ceil = (int)rnd(&s, 0, 1), cip = (int)rnd(&s, 0, 1), use_d = (int)rnd(&s, 0, 1);
    oph h;
    oph_init(&h, op, avg ? 19 : 12);
    oph_attr_ints(&h, "kernel_shape", k, nsp);
    if (rnd(&s, 0, 3)) oph_attr_ints(&h, "strides", st, nsp);
    if (!ap || strcmp(ap, "NOTSET") == 0) oph_attr_ints(&h, "pads", pads, 2 * nsp);
    if (ap) oph_attr_string(&h, "auto_pad", ap);
    if (use_d) oph_attr_ints(&h, "dilations", d, nsp);
    oph_attr_int(&h, "ceil_mode", ceil);
    if (avg) oph_attr_int(&h, "count_include_pad", cip);
    oph_input_rand(&h, nsp + 2, dims, seed);
    cam_status st2 = oph_prepare(&h, 1);
    if (st2 != CAM_OK) {
        CHECK(st2 == CAM_EFORMAT || st2 == CAM_EUNSUPPORTED, "seed %u: status %d: %s", seed, st2, h.err);
        CHECK(strstr(h.err, op) && strstr(h.err, "test_node"), "message names op and node: %s", h.err);
        pool_random_rejected++;
        oph_free(&h);
        return;
    }
    for (int t = 1; t <= 3; t++) {
        double e = oph_compare(&h, t);
        CHECK(e <= TOL, "%s %dD seed %u threads %d: rel err %g", op, nsp, seed, t, e);
    }
    pool_random_runs++;
    oph_free(&h);
}

TEST(pool_random) {
    pool_random_runs = pool_random_rejected = 0;
    for (unsigned seed = 1; seed <= 300; seed++) {
        pool_random_one("MaxPool", 2, seed);
        pool_random_one("AveragePool", 2, seed * 7919u);
        if (seed % 3 == 0) {
            pool_random_one("MaxPool", 1, seed * 31u);
            pool_random_one("AveragePool", 1, seed * 37u);
            pool_random_one("MaxPool", 3, seed * 41u);
            pool_random_one("AveragePool", 3, seed * 43u);
        }
    }
    CHECK(pool_random_runs > 600, "only %d configs ran (%d rejected)", pool_random_runs, pool_random_rejected);
}

/* the shapes CNNs use, big enough for the vector paths and several threads */
TEST(pool_cnn_shapes) {
    struct { const char *op; int64_t c, hw, k, s, p; int ceil; } cases[] = {
        {"MaxPool", 16, 112, 3, 2, 1, 0},    /* ResNet stem */
        {"MaxPool", 8, 55, 3, 2, 0, 1},      /* AlexNet/SqueezeNet, ceil */
        {"MaxPool", 8, 56, 2, 2, 0, 0},      /* VGG */
        {"MaxPool", 8, 28, 3, 1, 1, 0},      /* Inception branch */
        {"AveragePool", 8, 35, 3, 1, 1, 0},  /* Inception avg branch */
        {"AveragePool", 8, 56, 2, 2, 0, 0},  /* DenseNet transition */
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        oph h;
        oph_init(&h, cases[i].op, 12);
        oph_attr_ints(&h, "kernel_shape", (int64_t[]){cases[i].k, cases[i].k}, 2);
        oph_attr_ints(&h, "strides", (int64_t[]){cases[i].s, cases[i].s}, 2);
        int64_t p = cases[i].p;
        oph_attr_ints(&h, "pads", (int64_t[]){p, p, p, p}, 4);
        oph_attr_int(&h, "ceil_mode", cases[i].ceil);
        oph_input_rand(&h, 4, (int64_t[]){2, cases[i].c, cases[i].hw, cases[i].hw}, 100 + i);
        CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
        for (int t = 1; t <= 2; t++) {
            double e = oph_compare(&h, t);
            CHECK(e <= TOL, "case %u threads %d: rel err %g", i, t, e);
        }
        oph_free(&h);
    }
}

/* MaxPool's separable fast path (1-D/2-D, no dilation): the GoogLeNet and
 * ResNet pools, widths that are and are not a multiple of the stride
 * (flat vs per-row horizontal pass), asymmetric pads, ceil_mode windows
 * past the end padding, kernels wider than the pads, odd strides, batch,
 * 1-D, and a plane too large for its scratch (the general kernel). */
TEST(maxpool_fast_path) {
    struct { int64_t n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr; int ceil; bool fast; } cases[] = {
        {1, 48, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, true},    /* Inception branch 4 */
        {1, 40, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, true},
        {1, 24, 14, 14, 2, 2, 2, 2, 0, 0, 0, 0, 1, true},    /* GoogLeNet maxpool4 */
        {1, 8, 112, 112, 3, 3, 2, 2, 0, 0, 0, 0, 1, true},   /* GoogLeNet maxpool1 */
        {2, 6, 28, 28, 3, 3, 2, 2, 0, 0, 0, 0, 1, true},
        {1, 8, 112, 112, 3, 3, 2, 2, 1, 1, 1, 1, 0, true},   /* ResNet */
        {1, 5, 55, 55, 3, 3, 2, 2, 0, 0, 0, 0, 1, true},     /* SqueezeNet: 55 != 27*2 */
        {1, 3, 13, 17, 3, 2, 1, 2, 2, 0, 0, 1, 0, true},     /* non-square, asymmetric */
        {2, 3, 9, 10, 5, 5, 3, 3, 2, 2, 2, 2, 1, true},      /* k5 s3 */
        {1, 4, 6, 6, 5, 5, 1, 1, 4, 4, 4, 4, 0, true},       /* windows clipped on both sides */
        {1, 3, 8, 8, 1, 1, 2, 2, 0, 0, 0, 0, 0, true},       /* k1 */
        {1, 2, 5, 9, 4, 4, 1, 1, 0, 3, 3, 0, 0, true},       /* pads only on one side */
        {1, 2, 600, 600, 3, 3, 1, 1, 1, 1, 1, 1, 0, false},  /* plane too large: general kernel */
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        oph h;
        oph_init(&h, "MaxPool", 12);
        oph_attr_ints(&h, "kernel_shape", (int64_t[]){cases[i].kh, cases[i].kw}, 2);
        oph_attr_ints(&h, "strides", (int64_t[]){cases[i].sh, cases[i].sw}, 2);
        oph_attr_ints(&h, "pads", (int64_t[]){cases[i].pt, cases[i].pl, cases[i].pb, cases[i].pr}, 4);
        oph_attr_int(&h, "ceil_mode", cases[i].ceil);
        oph_input_rand(&h, 4, (int64_t[]){cases[i].n, cases[i].c, cases[i].h, cases[i].w}, 300 + i);
        CHECK(oph_prepare(&h, 1) == CAM_OK, "case %u: %s", i, h.err);
        CHECK((h.node.scratch > 0) == cases[i].fast, "case %u: scratch %zu", i, h.node.scratch);
        for (int t = 1; t <= 2; t++) {
            double e = oph_compare(&h, t);
            CHECK(e == 0, "case %u threads %d: rel err %g", i, t, e);
        }
        oph_free(&h);
    }
    /* 1-D */
    oph h;
    oph_init(&h, "MaxPool", 12);
    oph_attr_ints(&h, "kernel_shape", (int64_t[]){3}, 1);
    oph_attr_ints(&h, "strides", (int64_t[]){2}, 1);
    oph_attr_ints(&h, "pads", (int64_t[]){1, 1}, 2);
    oph_input_rand(&h, 3, (int64_t[]){2, 5, 31}, 399);
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    CHECK(h.node.scratch > 0, "1-D fast path");
    CHECK(oph_compare(&h, 2) == 0, "1-D");
    oph_free(&h);
}

TEST(pool_errors) {
    oph h;
    float x[64] = {0};
    /* no kernel_shape */
    oph_init(&h, "MaxPool", 12);
    oph_input_f32(&h, 4, (int64_t[]){1, 1, 4, 4}, x);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "missing kernel_shape");
    CHECK(strstr(h.err, "test_node") != NULL, "message: %s", h.err);
    oph_free(&h);
    /* 4-D kernel */
    oph_init(&h, "MaxPool", 12);
    oph_attr_ints(&h, "kernel_shape", (int64_t[]){1, 1, 1, 1}, 4);
    oph_input_f32(&h, 6, (int64_t[]){1, 1, 2, 2, 2, 2}, x);
    CHECK(oph_prepare(&h, 1) == CAM_EUNSUPPORTED, "4-D pool");
    oph_free(&h);
    /* zero kernel / zero stride */
    CHECK(pool2d(&h, "MaxPool", 12, 4, 4, x, (int64_t[]){0, 2}, NULL, NULL, 0, 0, NULL) != CAM_OK, "k=0");
    oph_free(&h);
    CHECK(pool2d(&h, "AveragePool", 12, 4, 4, x, (int64_t[]){2, 2}, (int64_t[]){0, 1}, NULL, 0, 0, NULL) != CAM_OK,
          "s=0");
    oph_free(&h);
    /* kernel larger than the input */
    CHECK(pool2d(&h, "MaxPool", 12, 4, 4, x, (int64_t[]){5, 2}, NULL, NULL, 0, 0, NULL) == CAM_EFORMAT, "k > H");
    oph_free(&h);
    /* kernel_shape rank does not match the input */
    oph_init(&h, "MaxPool", 12);
    oph_attr_ints(&h, "kernel_shape", (int64_t[]){2, 2}, 2);
    oph_input_f32(&h, 3, (int64_t[]){1, 1, 4}, x);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "rank mismatch");
    oph_free(&h);
    /* pads length */
    oph_init(&h, "AveragePool", 12);
    oph_attr_ints(&h, "kernel_shape", (int64_t[]){2, 2}, 2);
    oph_attr_ints(&h, "pads", (int64_t[]){1, 1}, 2);
    oph_input_f32(&h, 4, (int64_t[]){1, 1, 4, 4}, x);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "pads length");
    oph_free(&h);
    /* a window made of padding only */
    CHECK(pool2d(&h, "AveragePool", 12, 4, 4, x, (int64_t[]){2, 2}, NULL, (int64_t[]){2, 0, 0, 0}, 0, 0, NULL) ==
              CAM_EUNSUPPORTED, "padding-only window");
    oph_free(&h);
    /* bad auto_pad */
    CHECK(pool2d(&h, "MaxPool", 12, 4, 4, x, (int64_t[]){2, 2}, NULL, NULL, 0, 0, "SAME") == CAM_EUNSUPPORTED,
          "auto_pad SAME");
    oph_free(&h);
    /* Indices output */
    oph_init(&h, "MaxPool", 12);
    oph_attr_ints(&h, "kernel_shape", (int64_t[]){2, 2}, 2);
    oph_input_f32(&h, 4, (int64_t[]){1, 1, 4, 4}, x);
    CHECK(oph_prepare(&h, 2) == CAM_EUNSUPPORTED, "Indices output");
    CHECK(strstr(h.err, "Indices") != NULL, "message: %s", h.err);
    oph_free(&h);
    /* dilations on AveragePool before opset 19 */
    oph_init(&h, "AveragePool", 11);
    oph_attr_ints(&h, "kernel_shape", (int64_t[]){2, 2}, 2);
    oph_attr_ints(&h, "dilations", (int64_t[]){2, 2}, 2);
    oph_input_f32(&h, 4, (int64_t[]){1, 1, 4, 4}, x);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "avg dilations at 11");
    oph_free(&h);
    /* int64 input */
    oph_init(&h, "MaxPool", 12);
    oph_attr_ints(&h, "kernel_shape", (int64_t[]){2, 2}, 2);
    oph_input_i64(&h, 4, (int64_t[]){1, 1, 2, 2}, (int64_t[]){1, 2, 3, 4});
    CHECK(oph_prepare(&h, 1) == CAM_EUNSUPPORTED, "int64 input");
    oph_free(&h);
}

/* ---- GlobalAveragePool -------------------------------------------------- */

TEST(gap_hand) {
    oph h;
    oph_init(&h, "GlobalAveragePool", 1);
    oph_input_f32(&h, 4, (int64_t[]){1, 2, 2, 2}, (float[]){1, 2, 3, 4, -1, -2, -3, 10});
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    CHECK(h.out_fwd[0].rank == 4 && h.out_fwd[0].dims[1] == 2 && h.out_fwd[0].dims[2] == 1 &&
              h.out_fwd[0].dims[3] == 1, "dims");
    int bad = expect_both(&h, (float[]){2.5f, 1}, 2, 1e-6);
    CHECK(bad == 0, "element %d", bad);
    oph_free(&h);
    oph_init(&h, "GlobalAveragePool", 1);
    oph_input_f32(&h, 2, (int64_t[]){2, 2}, (float[]){1, 2, 3, 4});
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "rank 2");
    oph_free(&h);
}

TEST(gap_random) {
    for (unsigned seed = 1; seed <= 40; seed++) {
        unsigned s = seed;
        int rank = (int)rnd(&s, 3, 5);
        int64_t dims[5] = {rnd(&s, 1, 3), rnd(&s, 1, 40)};
        for (int i = 2; i < rank; i++) dims[i] = rnd(&s, 1, rank == 5 ? 9 : 60);
        oph h;
        oph_init(&h, "GlobalAveragePool", 1);
        oph_input_rand(&h, rank, dims, seed);
        CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
        for (int t = 1; t <= 2; t++) {
            double e = oph_compare(&h, t);
            CHECK(e <= TOL, "seed %u threads %d: %g", seed, t, e);
        }
        oph_free(&h);
    }
}

/* ---- ReduceMean ------------------------------------------------------------ */

/* ReduceMean over axes (attribute before 18, constant input from 18) */
static cam_status rmean(oph *h, int64_t opset, int rank, const int64_t *dims, const float *x, unsigned seed,
                        const int64_t *axes, int na, int keepdims, int noop) {
    oph_init(h, "ReduceMean", opset);
    if (keepdims >= 0) oph_attr_int(h, "keepdims", keepdims);
    if (noop) oph_attr_int(h, "noop_with_empty_axes", 1);
    if (x) oph_input_f32(h, rank, dims, x);
    else oph_input_rand(h, rank, dims, seed);
    if (axes && opset < 18) oph_attr_ints(h, "axes", axes, na);
    if (axes && opset >= 18) oph_input_const_i64(h, 1, (int64_t[]){na}, axes);
    return oph_prepare(h, 1);
}

TEST(reducemean_hand) {
    oph h;
    const float x[6] = {1, 2, 3, 4, 5, 9};
    const int64_t d23[2] = {2, 3};
    for (int64_t opset = 13; opset <= 18; opset += 5) {
        CHECK(rmean(&h, opset, 2, d23, x, 0, (int64_t[]){1}, 1, -1, 0) == CAM_OK, "%s", h.err);
        CHECK(h.out_fwd[0].rank == 2 && h.out_fwd[0].dims[0] == 2 && h.out_fwd[0].dims[1] == 1, "keepdims dims");
        int bad = expect_both(&h, (float[]){2, 6}, 2, 1e-6);
        CHECK(bad == 0, "opset %lld axis 1 element %d", (long long)opset, bad);
        oph_free(&h);
        CHECK(rmean(&h, opset, 2, d23, x, 0, (int64_t[]){-2}, 1, 0, 0) == CAM_OK, "%s", h.err);
        CHECK(h.out_fwd[0].rank == 1 && h.out_fwd[0].dims[0] == 3, "no keepdims dims");
        bad = expect_both(&h, (float[]){2.5f, 3.5f, 6}, 3, 1e-6);
        CHECK(bad == 0, "axis 0 element %d", bad);
        oph_free(&h);
        /* no axes: everything */
        CHECK(rmean(&h, opset, 2, d23, x, 0, NULL, 0, 0, 0) == CAM_OK, "%s", h.err);
        CHECK(h.out_fwd[0].rank == 0 && h.out_fwd[0].numel == 1, "reduce-all dims");
        bad = expect_both(&h, (float[]){4}, 1, 1e-6);
        CHECK(bad == 0, "all");
        oph_free(&h);
    }
    /* opset 18 noop_with_empty_axes: identity */
    CHECK(rmean(&h, 18, 2, d23, x, 0, NULL, 0, 1, 1) == CAM_OK, "%s", h.err);
    int bad = expect_both(&h, x, 6, 0);
    CHECK(bad == 0 && h.out_fwd[0].rank == 2, "noop element %d", bad);
    oph_free(&h);
}

TEST(reducemean_random) {
    int runs = 0;
    for (unsigned seed = 1; seed <= 250; seed++) {
        unsigned s = seed;
        int rank = (int)rnd(&s, 1, 5);
        int64_t dims[5];
        for (int i = 0; i < rank; i++) dims[i] = rnd(&s, 1, rank > 3 ? 7 : 30);
        int64_t axes[5];
        int na = 0;
        for (int i = 0; i < rank; i++)
            if (rnd(&s, 0, 1)) axes[na++] = rnd(&s, 0, 1) ? i : i - rank;
        int64_t opset = rnd(&s, 0, 1) ? 18 : 13;
        bool absent = na == 0 && rnd(&s, 0, 1);
        oph h;
        CHECK(rmean(&h, opset, rank, dims, NULL, seed, absent ? NULL : axes, na, (int)rnd(&s, -1, 1),
                    opset == 18 && na == 0 && rnd(&s, 0, 3) == 0) == CAM_OK, "seed %u: %s", seed, h.err);
        for (int t = 1; t <= 3; t += 2) {
            double e = oph_compare(&h, t);
            CHECK(e <= TOL, "seed %u threads %d: %g", seed, t, e);
        }
        runs++;
        oph_free(&h);
    }
    /* NCHW spatial mean (the fast trailing path) at a CNN size */
    oph h;
    CHECK(rmean(&h, 13, 4, (int64_t[]){2, 64, 28, 28}, NULL, 7, (int64_t[]){2, 3}, 2, 1, 0) == CAM_OK, "%s", h.err);
    CHECK(oph_compare(&h, 2) <= TOL, "NCHW spatial");
    oph_free(&h);
    CHECK(rmean(&h, 18, 4, (int64_t[]){2, 64, 28, 28}, NULL, 8, (int64_t[]){1}, 1, 1, 0) == CAM_OK, "%s", h.err);
    CHECK(oph_compare(&h, 2) <= TOL, "NCHW channel mean");
    oph_free(&h);
    CHECK(runs == 250, "runs");
}

TEST(reducemean_errors) {
    oph h;
    const int64_t d[3] = {2, 3, 4};
    CHECK(rmean(&h, 13, 3, d, NULL, 1, (int64_t[]){3}, 1, 1, 0) == CAM_EFORMAT, "axis out of range");
    CHECK(strstr(h.err, "test_node") != NULL, "message: %s", h.err);
    oph_free(&h);
    CHECK(rmean(&h, 13, 3, d, NULL, 1, (int64_t[]){1, -2}, 2, 1, 0) == CAM_EFORMAT, "repeated axis");
    oph_free(&h);
    CHECK(rmean(&h, 18, 3, d, NULL, 1, (int64_t[]){-4}, 1, 1, 0) == CAM_EFORMAT, "axis input out of range");
    oph_free(&h);
    /* axes attribute at opset 18 */
    oph_init(&h, "ReduceMean", 18);
    oph_attr_ints(&h, "axes", (int64_t[]){1}, 1);
    oph_input_rand(&h, 3, d, 1);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "axes attribute at 18");
    oph_free(&h);
    /* computed (non-constant) axes */
    oph_init(&h, "ReduceMean", 18);
    oph_input_rand(&h, 3, d, 1);
    oph_input_i64(&h, 1, (int64_t[]){1}, (int64_t[]){1});
    CHECK(oph_prepare(&h, 1) == CAM_EUNSUPPORTED, "computed axes");
    oph_free(&h);
}

/* ---- LRN --------------------------------------------------------------------- */

static cam_status lrn(oph *h, int64_t size, float alpha, float beta, float bias, int rank, const int64_t *dims,
                      const float *x, unsigned seed) {
    oph_init(h, "LRN", 13);
    oph_attr_int(h, "size", size);
    if (alpha >= 0) oph_attr_float(h, "alpha", alpha);
    if (beta >= 0) oph_attr_float(h, "beta", beta);
    if (bias >= 0) oph_attr_float(h, "bias", bias);
    if (x) oph_input_f32(h, rank, dims, x);
    else oph_input_rand(h, rank, dims, seed);
    return oph_prepare(h, 1);
}

TEST(lrn_hand) {
    oph h;
    const float x[3] = {1, 2, 3};
    const int64_t d[4] = {1, 3, 1, 1};
    /* alpha/size = 1, beta 1, bias 1: y = x / (1 + window sum of squares) */
    CHECK(lrn(&h, 3, 3, 1, 1, 4, d, x, 0) == CAM_OK, "%s", h.err);
    int bad = expect_both(&h, (float[]){1 / 6.f, 2 / 15.f, 3 / 14.f}, 3, 1e-6);
    CHECK(bad == 0, "size 3 element %d", bad);
    oph_free(&h);
    /* even size: window [c, c+1] */
    CHECK(lrn(&h, 2, 2, 1, 1, 4, d, x, 0) == CAM_OK, "%s", h.err);
    bad = expect_both(&h, (float[]){1 / 6.f, 2 / 14.f, 3 / 10.f}, 3, 1e-6);
    CHECK(bad == 0, "size 2 element %d", bad);
    oph_free(&h);
    /* defaults (alpha 1e-4, beta 0.75, bias 1), size 1: x / (1 + 1e-4 x^2)^0.75 */
    CHECK(lrn(&h, 1, -1, -1, -1, 4, d, x, 0) == CAM_OK, "%s", h.err);
    float want[3];
    for (int i = 0; i < 3; i++) want[i] = (float)(x[i] / pow(1 + 1e-4 * x[i] * x[i], 0.75));
    bad = expect_both(&h, want, 3, 1e-6);
    CHECK(bad == 0, "defaults element %d", bad);
    oph_free(&h);
    /* size is required */
    oph_init(&h, "LRN", 13);
    oph_input_f32(&h, 4, d, x);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "no size");
    oph_free(&h);
}

TEST(lrn_random) {
    for (unsigned seed = 1; seed <= 40; seed++) {
        unsigned s = seed;
        int rank = (int)rnd(&s, 3, 4);
        int64_t dims[4] = {rnd(&s, 1, 2), rnd(&s, 1, 20), rnd(&s, 1, 40), rnd(&s, 1, 40)};
        float beta = rnd(&s, 0, 1) ? 0.75f : (float)rnd(&s, 1, 9) / 8.0f;
        oph h;
        CHECK(lrn(&h, rnd(&s, 1, 7), (float)rnd(&s, 1, 100) * 1e-3f, beta, (float)rnd(&s, 1, 4), rank, dims, NULL,
                  seed) == CAM_OK, "%s", h.err);
        for (int t = 1; t <= 2; t++) {
            double e = oph_compare(&h, t);
            CHECK(e <= TOL, "seed %u threads %d: %g", seed, t, e);
        }
        oph_free(&h);
    }
}

int main(void) {
    RUN(maxpool_hand);
    RUN(avgpool_hand);
    RUN(pool_auto_pad_hand);
    RUN(pool_random);
    RUN(pool_cnn_shapes);
    RUN(maxpool_fast_path);
    RUN(pool_errors);
    RUN(gap_hand);
    RUN(gap_random);
    RUN(reducemean_hand);
    RUN(reducemean_random);
    RUN(reducemean_errors);
    RUN(lrn_hand);
    RUN(lrn_random);
    return check_summary();
}
