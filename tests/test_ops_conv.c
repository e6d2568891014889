/* test_ops_conv.c: Conv and BatchNormalization forward vs reference, the
 * reference vs hand-computed values, the BN folding helper, error cases. */
#include "ophelp.h"
#include "ops/conv.h"

typedef struct {
    int rank;               /* 4 (2-D) or 3 (1-D) */
    int64_t n, c, h, w, m, kh, kw;
    int64_t sh, sw, dh, dw;
    int64_t pads[4];        /* top, left, bottom, right */
    const char *auto_pad;   /* NULL = attribute absent */
    int64_t group;
    bool bias, w_runtime, kshape_attr;
    cam__act act;
} conv_case;

static const cam__act k_acts[] = {
    {CAM__ACT_NONE, 0, 0},        {CAM__ACT_RELU, 0, 0},   {CAM__ACT_CLIP, 0, 6},
    {CAM__ACT_SIGMOID, 0, 0},     {CAM__ACT_HARDSIGMOID, 0.2f, 0.5f},
    {CAM__ACT_HARDSWISH, 0, 0},   {CAM__ACT_SILU, 0, 0},   {CAM__ACT_CLIP, -0.5f, 0.5f},
};
#define N_ACTS (int)(sizeof k_acts / sizeof k_acts[0])

/* Sets up a Conv node for cc with random data; returns oph_prepare's status. */
static cam_status conv_setup(oph *h, const conv_case *cc, unsigned seed) {
    oph_init(h, "Conv", 13);
    bool one_d = cc->rank == 3;
    static int64_t st[2], di[2], pa[4], ks[2];   /* attributes point into these */
    if (one_d) {
        st[0] = cc->sw; di[0] = cc->dw; pa[0] = cc->pads[1]; pa[1] = cc->pads[3]; ks[0] = cc->kw;
    } else {
        st[0] = cc->sh; st[1] = cc->sw; di[0] = cc->dh; di[1] = cc->dw; ks[0] = cc->kh; ks[1] = cc->kw;
        memcpy(pa, cc->pads, sizeof pa);
    }
    int nsp = one_d ? 1 : 2;
    oph_attr_ints(h, "strides", st, nsp);
    oph_attr_ints(h, "dilations", di, nsp);
    if (cc->auto_pad) oph_attr_string(h, "auto_pad", cc->auto_pad);
    if (!cc->auto_pad || strcmp(cc->auto_pad, "NOTSET") == 0) oph_attr_ints(h, "pads", pa, 2 * nsp);
    if (cc->kshape_attr) oph_attr_ints(h, "kernel_shape", ks, nsp);
    if (cc->group != 1) oph_attr_int(h, "group", cc->group);
    h->node.act = cc->act;

    int64_t xd[4] = {cc->n, cc->c, cc->h, cc->w}, wd[4] = {cc->m, cc->c / cc->group, cc->kh, cc->kw};
    if (one_d) { xd[2] = cc->w; wd[2] = cc->kw; }
    oph_input_rand(h, cc->rank, xd, seed);
    size_t wn = (size_t)(wd[0] * wd[1] * (one_d ? wd[2] : wd[2] * wd[3]));
    float *wv = malloc(wn * sizeof(float) + 4);
    unsigned s2 = seed * 7 + 1;
    for (size_t i = 0; i < wn; i++) wv[i] = check_randf(&s2, -1.0f, 1.0f);
    if (cc->w_runtime) oph_input_f32(h, cc->rank, wd, wv);
    else oph_input_const_f32(h, cc->rank, wd, wv);
    free(wv);
    if (cc->bias) {
        float bv[512];
        for (int64_t i = 0; i < cc->m && i < 512; i++) bv[i] = check_randf(&s2, -1.0f, 1.0f);
        oph_input_const_f32(h, 1, (int64_t[]){cc->m}, bv);
    }
    return oph_prepare(h, 1);
}

static void describe(const conv_case *cc, char *buf, size_t len) {
    snprintf(buf, len,
             "rank%d N%lld C%lld %lldx%lld M%lld k%lldx%lld s%lld,%lld d%lld,%lld p%lld,%lld,%lld,%lld ap=%s g%lld "
             "bias%d wrt%d act=%s",
             cc->rank, (long long)cc->n, (long long)cc->c, (long long)cc->h, (long long)cc->w, (long long)cc->m,
             (long long)cc->kh, (long long)cc->kw, (long long)cc->sh, (long long)cc->sw, (long long)cc->dh,
             (long long)cc->dw, (long long)cc->pads[0], (long long)cc->pads[1], (long long)cc->pads[2],
             (long long)cc->pads[3], cc->auto_pad ? cc->auto_pad : "-", (long long)cc->group, cc->bias,
             cc->w_runtime, cam__act_name(cc->act.kind));
}

/* Runs the op's prepack as graph preparation does: only constant inputs
 * have data.  Returns its status. */
static cam_status conv_prepack(oph *h) {
    if (!h->node.op->prepack) return CAM_OK;
    void *saved[OPH_MAX_IN];
    for (int i = 0; i < h->node.n_in; i++)
        if (h->in[i]) { saved[i] = h->in[i]->data; if (!oph_const_mask[i]) h->in[i]->data = NULL; }
    cam_status st = h->node.op->prepack(&h->node, h->in, h->err, sizeof h->err);
    for (int i = 0; i < h->node.n_in; i++) if (h->in[i]) h->in[i]->data = saved[i];
    return st;
}

/* forward at 1, 2 and 3 threads vs reference, without then with prepack
 * (packed weights); returns the worst error */
static double run_case(const conv_case *cc, unsigned seed, char *desc, size_t dlen) {
    oph h;
    describe(cc, desc, dlen);
    cam_status st = conv_setup(&h, cc, seed);
    if (st != CAM_OK) {
        snprintf(desc + strlen(desc), dlen - strlen(desc), " prepare: %s", h.err);
        oph_free(&h);
        return INFINITY;
    }
    double worst = 0;
    for (int packed = 0; packed <= 1; packed++) {
        if (packed && conv_prepack(&h) != CAM_OK) {
            snprintf(desc + strlen(desc), dlen - strlen(desc), " prepack: %s", h.err);
            worst = INFINITY;
            break;
        }
        for (int threads = 1; threads <= 3; threads++) {
            /* re-poison so a run cannot inherit the previous one's output */
            memset(h.out_fwd[0].data, 0x7f, h.out_fwd[0].numel * sizeof(float));
            double e = oph_compare(&h, threads);
            if (!(e <= worst)) worst = e;
        }
    }
    oph_free(&h);
    return worst;
}

static conv_case base_case(void) {
    conv_case c = {4, 1, 4, 9, 9, 8, 3, 3, 1, 1, 1, 1, {1, 1, 1, 1}, NULL, 1, true, false, false, {0, 0, 0}};
    return c;
}

#define EXPECT_CASE(cc, seed)                                                          \
    do {                                                                               \
        char d_[512];                                                                  \
        double e_ = run_case(&(cc), (seed), d_, sizeof d_);                            \
        CHECK(e_ <= 1e-4, "%.300s: rel err %g", d_, e_);                               \
    } while (0)

/* ---- the reference against values computed by hand ---------------------- */

/* ONNX's test_basic_conv_with_padding / without_padding: 5x5 ramp, 3x3 ones. */
TEST(conv_reference_hand_computed) {
    static const float want_pad[25] = {12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81,
                                       93, 144, 153, 162, 111, 72, 111, 117, 123, 84};
    static const float want_nopad[9] = {54, 63, 72, 99, 108, 117, 144, 153, 162};
    float x[25], w[9];
    for (int i = 0; i < 25; i++) x[i] = (float)i;
    for (int i = 0; i < 9; i++) w[i] = 1.0f;
    for (int padded = 0; padded <= 1; padded++) {
        oph h;
        oph_init(&h, "Conv", 11);
        static const int64_t p1[4] = {1, 1, 1, 1}, p0[4] = {0, 0, 0, 0};
        oph_attr_ints(&h, "pads", padded ? p1 : p0, 4);
        oph_attr_ints(&h, "kernel_shape", (int64_t[]){3, 3}, 2);
        oph_input_f32(&h, 4, (int64_t[]){1, 1, 5, 5}, x);
        oph_input_const_f32(&h, 4, (int64_t[]){1, 1, 3, 3}, w);
        CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
        const float *want = padded ? want_pad : want_nopad;
        size_t n = padded ? 25 : 9;
        CHECK(h.out_fwd[0].numel == n, "numel %zu", h.out_fwd[0].numel);
        oph_compare(&h, 1);
        for (size_t i = 0; i < n; i++) {
            CHECK(cam__f32(&h.out_ref[0])[i] == want[i], "ref[%zu] = %g, want %g", i, cam__f32(&h.out_ref[0])[i],
                  want[i]);
            CHECK(cam__f32(&h.out_fwd[0])[i] == want[i], "fwd[%zu] = %g, want %g", i, cam__f32(&h.out_fwd[0])[i],
                  want[i]);
        }
        oph_free(&h);
    }
    /* stride 2, asymmetric pads, two groups, bias and ReLU, worked out by hand:
     * X = 2 channels of 1x3 [1 2 3] and [-1 -2 -3]; W = [1 1] and [2 -1] (1x2);
     * pads left 1 right 0, stride 2 -> columns at input -1..0 and 1..2. */
    {
        oph h;
        oph_init(&h, "Conv", 13);
        oph_attr_ints(&h, "pads", (int64_t[]){0, 1, 0, 0}, 4);
        oph_attr_ints(&h, "strides", (int64_t[]){1, 2}, 2);
        oph_attr_int(&h, "group", 2);
        h.node.act.kind = CAM__ACT_RELU;
        oph_input_f32(&h, 4, (int64_t[]){1, 2, 1, 3}, (float[]){1, 2, 3, -1, -2, -3});
        oph_input_const_f32(&h, 4, (int64_t[]){2, 1, 1, 2}, (float[]){1, 1, 2, -1});
        oph_input_const_f32(&h, 1, (int64_t[]){2}, (float[]){0.5f, -1.0f});
        CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
        /* ch0: [0+1, 2+3] + .5 = [1.5, 5.5]; ch1: [0*2 + -1*-1, 2*-2 + -1*-3] - 1 = [0, -2] -> relu [0, 0] */
        static const float want[4] = {1.5f, 5.5f, 0.0f, 0.0f};
        CHECK(h.out_fwd[0].rank == 4 && h.out_fwd[0].dims[3] == 2, "dims");
        oph_compare(&h, 2);
        for (int i = 0; i < 4; i++) {
            CHECK(cam__f32(&h.out_ref[0])[i] == want[i], "ref[%d] = %g want %g", i, cam__f32(&h.out_ref[0])[i], want[i]);
            CHECK(cam__f32(&h.out_fwd[0])[i] == want[i], "fwd[%d] = %g want %g", i, cam__f32(&h.out_fwd[0])[i], want[i]);
        }
        oph_free(&h);
    }
}

/* auto_pad output sizes and pads per the ONNX definition */
TEST(conv_auto_pad_shapes) {
    struct { const char *ap; int64_t in, k, s, want; } t[] = {
        {"SAME_UPPER", 7, 3, 2, 4}, {"SAME_LOWER", 7, 3, 2, 4}, {"VALID", 7, 3, 2, 3},
        {"SAME_UPPER", 8, 4, 1, 8}, {"VALID", 5, 5, 1, 1},      {"SAME_LOWER", 1, 3, 1, 1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        conv_case cc = base_case();
        cc.h = cc.w = t[i].in;
        cc.kh = cc.kw = t[i].k;
        cc.sh = cc.sw = t[i].s;
        cc.auto_pad = t[i].ap;
        oph h;
        CHECK(conv_setup(&h, &cc, 1) == CAM_OK, "%s: %s", t[i].ap, h.err);
        CHECK(h.out_fwd[0].dims[2] == t[i].want && h.out_fwd[0].dims[3] == t[i].want, "%s in %lld k %lld s %lld: %lld",
              t[i].ap, (long long)t[i].in, (long long)t[i].k, (long long)t[i].s, (long long)h.out_fwd[0].dims[2]);
        oph_free(&h);
    }
    /* SAME_UPPER puts the odd pad at the end, SAME_LOWER at the start: with a
     * 2x2 all-ones kernel on a ramp they differ exactly by a shift. */
    float x[16];
    for (int i = 0; i < 16; i++) x[i] = (float)i;
    float res[2][16];
    for (int lower = 0; lower <= 1; lower++) {
        oph h;
        oph_init(&h, "Conv", 13);
        oph_attr_string(&h, "auto_pad", lower ? "SAME_LOWER" : "SAME_UPPER");
        oph_input_f32(&h, 4, (int64_t[]){1, 1, 4, 4}, x);
        oph_input_const_f32(&h, 4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 1, 1, 1});
        CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
        CHECK(oph_compare(&h, 1) <= 1e-6, "fwd vs ref");
        memcpy(res[lower], h.out_fwd[0].data, sizeof res[0]);
        oph_free(&h);
    }
    CHECK(res[0][0] == 0 + 1 + 4 + 5 && res[1][0] == 0, "upper %g lower %g", res[0][0], res[1][0]);
    CHECK(res[0][15] == 15 && res[1][15] == 10 + 11 + 14 + 15, "upper %g lower %g", res[0][15], res[1][15]);
}

/* ---- forward vs reference ------------------------------------------------ */

TEST(conv_kernels_strides_dilations) {
    int64_t ks[] = {1, 3, 5, 7};
    unsigned seed = 11;
    for (int ki = 0; ki < 4; ki++)
        for (int64_t s = 1; s <= 2; s++)
            for (int64_t d = 1; d <= 2; d++) {
                conv_case cc = base_case();
                cc.kh = cc.kw = ks[ki];
                cc.sh = cc.sw = s;
                cc.dh = cc.dw = d;
                cc.h = 17; cc.w = 13; cc.c = 5; cc.m = 7;
                int64_t p = ks[ki] / 2;
                cc.pads[0] = p; cc.pads[1] = p ? p - 1 : 0; cc.pads[2] = p ? p - 1 : 1; cc.pads[3] = p;
                cc.act = k_acts[(ki + s + d) % N_ACTS];
                EXPECT_CASE(cc, seed++);
            }
}

TEST(conv_1x1_paths) {
    /* pure 1x1 (B read in place), several tiles, bias/act; batch 3 */
    conv_case cc = base_case();
    cc.kh = cc.kw = 1; memset(cc.pads, 0, sizeof cc.pads);
    cc.c = 16; cc.m = 64; cc.h = 48; cc.w = 48; cc.act = k_acts[2];
    EXPECT_CASE(cc, 3);
    cc.n = 3; cc.h = 7; cc.w = 5; cc.act = k_acts[1]; cc.bias = false;
    EXPECT_CASE(cc, 4);
    cc.n = 1; cc.h = cc.w = 1; cc.c = 32; cc.m = 10; cc.bias = true;
    EXPECT_CASE(cc, 5);
    /* 1x1 stride 2 (ResNet shortcut) and 1x1 with padding go through im2col */
    cc.h = 14; cc.w = 15; cc.sh = cc.sw = 2;
    EXPECT_CASE(cc, 6);
    cc.sh = cc.sw = 1; cc.pads[0] = 1; cc.pads[3] = 2;
    EXPECT_CASE(cc, 7);
    /* grouped 1x1 (ShuffleNet) */
    memset(cc.pads, 0, sizeof cc.pads);
    cc.c = 24; cc.m = 36; cc.group = 3; cc.h = 20; cc.w = 20; cc.w_runtime = true;
    EXPECT_CASE(cc, 8);
}

/* The packed-weight kernel of the 1x1 path (AVX-512 CPUs): output
 * channels that do and do not fill its 6-channel blocks, pixel counts
 * around its 64-wide tiles and 16-wide masked tails (1, 15, 16, 17, 49,
 * 63, 64, 65, 196), several pixel chunks (small K, many pixels), deep K
 * in blocks, groups, batch, every activation; the 1-pixel
 * (matrix-vector) path. */
TEST(conv_1x1_packed) {
    static const int64_t hw[][2] = {{1, 1}, {3, 5}, {4, 4}, {1, 17}, {7, 7}, {7, 9}, {8, 8}, {5, 13}, {14, 14}, {56, 57}};
    static const int64_t cm[][2] = {{16, 96}, {24, 6}, {160, 13}, {5, 1}, {1, 7}, {320, 25}};
    unsigned seed = 500;
    for (int i = 0; i < (int)(sizeof hw / sizeof hw[0]); i++)
        for (int j = 0; j < (int)(sizeof cm / sizeof cm[0]); j++) {
            conv_case cc = base_case();
            cc.kh = cc.kw = 1;
            memset(cc.pads, 0, sizeof cc.pads);
            cc.h = hw[i][0]; cc.w = hw[i][1]; cc.c = cm[j][0]; cc.m = cm[j][1];
            cc.act = k_acts[(i + j) % N_ACTS];
            cc.bias = (i + j) % 3 != 0;
            EXPECT_CASE(cc, seed++);
        }
    /* many pixels, few channels in: several chunks of pixels per image */
    conv_case cc = base_case();
    cc.kh = cc.kw = 1;
    memset(cc.pads, 0, sizeof cc.pads);
    cc.c = 3; cc.m = 20; cc.h = 150; cc.w = 161; cc.act = k_acts[2];
    EXPECT_CASE(cc, seed++);
    /* K split into blocks (partial sums through the output), with the 1-2
     * leftover pixels of a 7x7 / 3x6 plane on the scalar-broadcast kernel */
    cc.c = 2100; cc.m = 13; cc.h = cc.w = 7; cc.act = k_acts[1];
    EXPECT_CASE(cc, seed++);
    cc.c = 2500; cc.h = 3; cc.w = 6; cc.act = k_acts[7];
    EXPECT_CASE(cc, seed++);
    cc.c = 300; cc.m = 20; cc.h = cc.w = 7; cc.kh = cc.kw = 3; cc.pads[0] = cc.pads[1] = cc.pads[2] = cc.pads[3] = 1;
    EXPECT_CASE(cc, seed++);   /* im2col, K = 2700 */
    cc.kh = cc.kw = 1;
    memset(cc.pads, 0, sizeof cc.pads);
    /* batch and groups */
    cc.n = 2; cc.c = 12; cc.m = 30; cc.group = 3; cc.h = 9; cc.w = 10; cc.act = k_acts[5];
    EXPECT_CASE(cc, seed++);
    cc.n = 3; cc.h = cc.w = 1; cc.c = 64; cc.m = 40; cc.group = 2; cc.act = k_acts[1];
    EXPECT_CASE(cc, seed++);
}

TEST(conv_tiling_and_thread_split) {
    /* several im2col tiles, tiles cutting image rows */
    conv_case cc = base_case();
    cc.c = 16; cc.m = 32; cc.h = 40; cc.w = 39;
    EXPECT_CASE(cc, 21);
    /* one small tile, many channels: the 2-thread run splits output channels */
    cc.c = 64; cc.m = 96; cc.h = 7; cc.w = 7; cc.act = k_acts[1];
    EXPECT_CASE(cc, 22);
    /* batch 3 with one tile each: tiles are re-split to balance 2 threads */
    cc.n = 3; cc.c = 8; cc.m = 16; cc.h = 20; cc.w = 20;
    EXPECT_CASE(cc, 23);
    /* a deep K (big im2col rows) */
    cc.n = 1; cc.c = 128; cc.m = 20; cc.h = 9; cc.w = 11; cc.kh = cc.kw = 3;
    EXPECT_CASE(cc, 24);
    /* stem-like 7x7 stride 2 on 3 channels */
    cc.c = 3; cc.m = 16; cc.h = 45; cc.w = 47; cc.kh = cc.kw = 7; cc.sh = cc.sw = 2;
    cc.pads[0] = cc.pads[1] = cc.pads[2] = cc.pads[3] = 3;
    EXPECT_CASE(cc, 25);
}

TEST(conv_groups_and_depthwise) {
    unsigned seed = 100;
    int64_t ks[] = {3, 5, 3, 7, 1};
    for (int ki = 0; ki < 5; ki++)
        for (int64_t s = 1; s <= 2; s++)
            for (int mult = 1; mult <= 2; mult++)
                for (int size = 0; size < 3; size++) {
                    conv_case cc = base_case();
                    cc.c = 6; cc.group = 6; cc.m = 6 * mult;
                    cc.kh = cc.kw = ks[ki];
                    cc.dh = cc.dw = ki == 2 ? 2 : 1;   /* dilated depthwise */
                    cc.sh = cc.sw = s;
                    int64_t p = ks[ki] / 2 * cc.dh;
                    cc.pads[0] = cc.pads[1] = cc.pads[2] = cc.pads[3] = p;
                    if (size == 1) { cc.pads[2] = 0; cc.pads[1] = p ? p - 1 : 0; }
                    static const int64_t hs[3] = {37, 6, 1}, ws[3] = {41, 5, 1};
                    cc.h = hs[size]; cc.w = ws[size];
                    if (cc.h + cc.pads[0] + cc.pads[2] < (cc.kh - 1) * cc.dh + 1) continue;
                    if (cc.w + cc.pads[1] + cc.pads[3] < (cc.kw - 1) * cc.dw + 1) continue;
                    cc.n = size == 1 ? 3 : 1;
                    cc.bias = (ki + size) % 2 == 0;
                    cc.act = k_acts[(seed) % N_ACTS];
                    EXPECT_CASE(cc, seed++);
                }
    /* depthwise as in MobileNet: 3x3 s2 pad (0,0,1,1) TF-style */
    conv_case cc = base_case();
    cc.c = cc.m = cc.group = 16; cc.h = cc.w = 28; cc.sh = cc.sw = 2;
    cc.pads[0] = cc.pads[1] = 0; cc.pads[2] = cc.pads[3] = 1; cc.act = k_acts[2];
    EXPECT_CASE(cc, 150);
    /* one input channel, no groups: the direct path with many outputs */
    cc = base_case();
    cc.c = 1; cc.m = 12; cc.h = 19; cc.w = 23; cc.kh = cc.kw = 5; cc.pads[0] = 2; cc.pads[2] = 2;
    EXPECT_CASE(cc, 151);
    /* group 2 and 4 (ResNeXt-like), runtime weights */
    for (int64_t g = 2; g <= 4; g += 2) {
        cc = base_case();
        cc.c = 8; cc.m = 12; cc.group = g; cc.h = 15; cc.w = 14; cc.n = 3; cc.w_runtime = true;
        cc.act = k_acts[5];
        EXPECT_CASE(cc, 152 + (unsigned)g);
    }
}

/* The masked-load depthwise kernel (AVX-512; "same" k3/k5, stride 1 or 2
 * with H and W multiples of the stride): planes narrower than a vector
 * (1, 2, 7 columns: vectors span rows), exactly one (16) and wider (56,
 * 112), single rows and columns, channel multiplier 2, batch, runtime
 * weights, every activation, symmetric and asymmetric (TensorFlow) pads.
 * Odd sizes at stride 2 take the phase-plane kernels, also covered here. */
TEST(conv_depthwise_vectorised) {
    static const int64_t hw[][2] = {{7, 7}, {14, 14}, {1, 1}, {1, 9}, {9, 1}, {2, 16}, {16, 2}, {6, 56},
                                    {112, 10}, {3, 33}, {13, 7}};
    unsigned seed = 700;
    for (int i = 0; i < (int)(sizeof hw / sizeof hw[0]); i++)
        for (int k = 3; k <= 5; k += 2)
            for (int s = 1; s <= 2; s++) {
                conv_case cc = base_case();
                cc.c = 5; cc.group = 5; cc.m = (i % 3 == 2) ? 10 : 5;
                cc.kh = cc.kw = k; cc.sh = cc.sw = s;
                cc.pads[0] = cc.pads[1] = cc.pads[2] = cc.pads[3] = k / 2;
                cc.h = hw[i][0]; cc.w = hw[i][1];
                cc.n = i % 4 == 1 ? 2 : 1;
                cc.bias = i % 2 == 0;
                cc.w_runtime = i % 5 == 3;
                cc.act = k_acts[(i + k + s) % N_ACTS];
                EXPECT_CASE(cc, seed++);
                if (s == 2) {   /* even sizes: the phase-split path */
                    cc.h = 2 * hw[i][0]; cc.w = 2 * hw[i][1];
                    EXPECT_CASE(cc, seed++);
                }
                /* asymmetric pads that keep the output size: TensorFlow's
                 * (k/2 - 1, k/2) at stride 2, shifted windows at stride 1 */
                int64_t p = k / 2;
                if (s == 2) { cc.pads[0] = cc.pads[1] = p - 1; cc.pads[2] = cc.pads[3] = p; }
                else { cc.pads[0] = 0; cc.pads[2] = 2 * p; cc.pads[1] = 2 * p - 1; cc.pads[3] = 1; }
                EXPECT_CASE(cc, seed++);
            }
    /* stride 2 straight from the input (dws2): chunk edges (16, 17, 31, 32,
     * 33 output columns), rows not 64-byte aligned, every left pad the
     * kernels take (k3: 0-2, k5: 1-2) and one they leave to the phase
     * planes (k5, left pad 3), pads on one side only */
    static const int64_t s2[][2] = {{3, 16}, {4, 17}, {2, 31}, {5, 32}, {1, 33}, {7, 1}, {9, 8}};
    static const int64_t s2pad[][2][4] = {
        {{1, 1, 1, 1}, {0, 0, 1, 1}}, {{2, 2, 0, 0}, {1, 0, 1, 2}}, {{0, 2, 2, 0}, {2, 1, 0, 1}}};
    for (int i = 0; i < (int)(sizeof s2 / sizeof s2[0]); i++)
        for (int k = 3; k <= 5; k += 2)
            for (int v = 0; v < 2; v++) {
                conv_case cc = base_case();
                cc.c = 3; cc.group = 3; cc.m = i % 3 == 1 ? 6 : 3;
                cc.kh = cc.kw = k; cc.sh = cc.sw = 2;
                cc.h = 2 * s2[i][0]; cc.w = 2 * s2[i][1];
                const int64_t *pd = s2pad[k == 3 ? (i + v) % 3 : 0][v];
                for (int q = 0; q < 4; q++) cc.pads[q] = pd[q] + (k == 5 ? 1 : 0);
                if (k == 5 && v == 1 && i % 2 == 0) { cc.pads[1] = 3; cc.pads[3] = 0; }   /* left pad 3 */
                cc.n = i % 4 == 2 ? 2 : 1;
                cc.bias = i % 2 == 1;
                cc.act = k_acts[(i + v) % N_ACTS];
                EXPECT_CASE(cc, seed++);
            }
    /* k3 stride 1 with carried neighbours (dws1): every left pad 0-2 with
     * the output size kept, widths around a vector, planes of one vector,
     * rows that wrap inside a vector */
    static const int64_t s1[][2] = {{5, 16}, {3, 17}, {4, 1}, {1, 33}, {6, 7}, {2, 31}, {8, 8}};
    for (int i = 0; i < (int)(sizeof s1 / sizeof s1[0]); i++)
        for (int pl = 0; pl < 3; pl++) {
            conv_case cc = base_case();
            cc.c = 4; cc.group = 4; cc.m = i % 3 == 0 ? 8 : 4;
            cc.kh = cc.kw = 3;
            cc.h = s1[i][0]; cc.w = s1[i][1];
            cc.pads[1] = pl; cc.pads[3] = 2 - pl;
            cc.pads[0] = (pl + i) % 3; cc.pads[2] = 2 - cc.pads[0];
            cc.n = i % 4 == 1 ? 2 : 1;
            cc.bias = (i + pl) % 2 == 0;
            cc.act = k_acts[(i + pl) % N_ACTS];
            EXPECT_CASE(cc, seed++);
        }
    /* a plane whose phase planes exceed the scratch cap: banded kernels */
    conv_case cc = base_case();
    cc.c = cc.m = cc.group = 1; cc.h = cc.w = 1100; cc.sh = cc.sw = 2; cc.act = k_acts[2];
    EXPECT_CASE(cc, seed++);
}

/* The implicit GEMM for convs with few input channels (AVX-512; group 1,
 * C*k*k <= 160, stride 1 or 2, output = input size / stride): the
 * ResNet/GoogLeNet and MobileNet stems scaled down, TF pads, 1-8 input
 * channels, k 1..7, channel counts around the 6-blocks, pixel counts
 * around the 64-pixel tiles, batch, activations; and just outside its
 * limits (C*k*k > 160, odd sizes at stride 2), where im2col runs. */
TEST(conv_implicit_gemm) {
    struct { int64_t n, c, h, w, m, k, s, pt, pl, pb, pr; } cases[] = {
        {1, 3, 40, 46, 16, 7, 2, 3, 3, 3, 3},   /* ResNet stem */
        {1, 3, 32, 32, 32, 3, 2, 0, 0, 1, 1},   /* MobileNetV2 stem, TF pads */
        {2, 3, 18, 20, 13, 3, 2, 1, 1, 1, 1},
        {1, 8, 9, 12, 7, 3, 1, 1, 1, 1, 1},     /* 108 pixels */
        {1, 4, 8, 8, 6, 5, 1, 2, 2, 2, 2},      /* 64 pixels, one tile */
        {1, 1, 11, 13, 5, 7, 1, 0, 6, 6, 0},
        {1, 2, 16, 34, 20, 4, 2, 1, 2, 1, 0},   /* even kernel */
        {1, 5, 8, 9, 12, 2, 1, 1, 0, 0, 1},
        {1, 6, 24, 24, 8, 6, 2, 2, 2, 2, 2},    /* C*k*k = 216: im2col */
        {1, 3, 17, 17, 8, 3, 2, 1, 1, 1, 1},    /* odd size at stride 2: im2col */
        {1, 3, 600, 600, 7, 3, 2, 1, 1, 1, 1},  /* phase planes beyond the scratch cap: im2col */
    };
    unsigned seed = 900;
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int a = 0; a < 3; a++) {
            conv_case cc = base_case();
            cc.n = cases[i].n; cc.c = cases[i].c; cc.h = cases[i].h; cc.w = cases[i].w; cc.m = cases[i].m;
            cc.kh = cc.kw = cases[i].k; cc.sh = cc.sw = cases[i].s;
            cc.pads[0] = cases[i].pt; cc.pads[1] = cases[i].pl; cc.pads[2] = cases[i].pb; cc.pads[3] = cases[i].pr;
            cc.act = k_acts[(i + 3 * a) % N_ACTS];
            cc.bias = a != 1;
            EXPECT_CASE(cc, seed++);
        }
}

/* 3x3 stride 1 with enough channels takes the Winograd path: odd and even
 * output sizes (partial tiles), every padding shape, blocks of tile rows
 * split between threads, output channels in chunks and split between
 * threads, batches, all fused activations. */
TEST(conv_winograd) {
    static const struct { int64_t n, c, m, h, w, pads[4]; } t[] = {
        {1, 16, 32, 8, 8, {1, 1, 1, 1}},     {1, 8, 16, 9, 11, {1, 1, 1, 1}},   {1, 24, 40, 13, 10, {0, 0, 0, 0}},
        {3, 8, 16, 12, 17, {2, 0, 1, 2}},    {1, 64, 64, 30, 30, {1, 1, 1, 1}}, {2, 32, 48, 27, 27, {1, 1, 1, 1}},
        {1, 16, 64, 55, 55, {1, 1, 1, 1}},   {1, 12, 20, 10, 9, {0, 2, 2, 0}},  {1, 128, 96, 14, 14, {1, 1, 1, 1}},
        {1, 8, 16, 21, 8, {3, 1, 0, 1}},
        /* small images with many output channels: one block of all tiles,
         * output channels in several GEMM chunks (M = 190: not a multiple
         * of the 6-channel blocks) and, on 2-3 threads, split between
         * threads; the second one with runtime weights (OpenBLAS) */
        {1, 64, 256, 13, 13, {1, 1, 1, 1}},  {1, 48, 190, 13, 13, {1, 1, 1, 1}},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        conv_case cc = base_case();
        cc.n = t[i].n; cc.c = t[i].c; cc.m = t[i].m; cc.h = t[i].h; cc.w = t[i].w;
        memcpy(cc.pads, t[i].pads, sizeof cc.pads);
        cc.act = k_acts[i % N_ACTS];
        cc.bias = i % 3 != 1;
        cc.w_runtime = i % 4 == 3;
        EXPECT_CASE(cc, 300 + (unsigned)i);
    }
    /* SAME_UPPER / SAME_LOWER */
    conv_case cc = base_case();
    cc.c = 16; cc.m = 16; cc.h = 11; cc.w = 12; cc.auto_pad = "SAME_LOWER";
    EXPECT_CASE(cc, 320);
    cc.auto_pad = "SAME_UPPER"; cc.act = k_acts[5];
    EXPECT_CASE(cc, 321);
}

/* Empty inputs: zero batch, zero-sized image with padding (all outputs
 * come from the padding), zero input channels (outputs are the bias). */
TEST(conv_degenerate) {
    static const struct { int64_t n, c, h, w, m, k, pad, group; } t[] = {
        {0, 4, 8, 8, 8, 3, 1, 1}, {1, 4, 0, 5, 8, 1, 1, 1}, {1, 0, 6, 6, 5, 3, 1, 1},
        {1, 4, 0, 0, 4, 3, 2, 4}, {2, 0, 9, 9, 16, 3, 1, 1}, {1, 6, 1, 1, 6, 3, 1, 6},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        conv_case cc = base_case();
        cc.n = t[i].n; cc.c = t[i].c; cc.h = t[i].h; cc.w = t[i].w; cc.m = t[i].m;
        cc.kh = cc.kw = t[i].k; cc.group = t[i].group;
        for (int k = 0; k < 4; k++) cc.pads[k] = t[i].pad;
        cc.act = k_acts[2];
        EXPECT_CASE(cc, 400 + (unsigned)i);
    }
}

TEST(conv_one_d) {
    conv_case cc = base_case();
    cc.rank = 3; cc.h = 1; cc.w = 29; cc.kh = 1; cc.kw = 5; cc.sw = 2; cc.pads[1] = 2; cc.pads[3] = 1;
    cc.c = 6; cc.m = 10;
    EXPECT_CASE(cc, 31);
    cc.group = 6; cc.m = 6; cc.kshape_attr = true;   /* depthwise 1-D */
    EXPECT_CASE(cc, 32);
    cc.auto_pad = "SAME_UPPER";
    EXPECT_CASE(cc, 33);
}

TEST(conv_random_shapes) {
    unsigned rng = 12345;
    int done = 0;
    for (int iter = 0; done < 150 && iter < 10000; iter++) {
        conv_case cc = base_case();
#define PICK(n) ((int64_t)(check_randf(&rng, 0.0f, 1.0f) * (float)(n)) % (n))
        static const int64_t kk[] = {1, 2, 3, 3, 5, 7};
        cc.kh = kk[PICK(6)];
        cc.kw = PICK(4) == 0 ? kk[PICK(6)] : cc.kh;
        cc.sh = 1 + PICK(2); cc.sw = PICK(3) == 0 ? 1 + PICK(3) : cc.sh;
        cc.dh = PICK(5) == 0 ? 2 : 1; cc.dw = PICK(5) == 0 ? 2 : cc.dh;
        for (int i = 0; i < 4; i++) cc.pads[i] = PICK(cc.kh > cc.kw ? cc.kh : cc.kw);
        int ap = (int)PICK(8);
        static const char *aps[] = {"SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET"};
        cc.auto_pad = ap < 4 ? aps[ap] : NULL;
        int gk = (int)PICK(4);
        int64_t cg = 1 + PICK(6);
        if (gk == 0) { cc.group = 1; cc.c = cg; cc.m = 1 + PICK(20); }
        else if (gk == 1) { cc.group = 2 + PICK(2); cc.c = cc.group * cg; cc.m = cc.group * (1 + PICK(5)); }
        else { cc.group = 1 + PICK(12); cc.c = cc.group; cc.m = cc.group * (1 + PICK(2)); }
        cc.n = PICK(4) == 0 ? 3 : 1;
        cc.h = 1 + PICK(24); cc.w = 1 + PICK(24);
        cc.bias = PICK(3) != 0;
        cc.w_runtime = PICK(3) == 0;
        cc.kshape_attr = PICK(2) == 0;
        cc.act = k_acts[PICK(N_ACTS)];
        cc.rank = PICK(10) == 0 ? 3 : 4;
        if (cc.rank == 3) { cc.h = 1; cc.kh = 1; cc.sh = 1; cc.dh = 1; cc.pads[0] = cc.pads[2] = 0; }
#undef PICK
        /* only valid geometries (invalid ones are the error tests' business) */
        bool explicit_pads = !cc.auto_pad || strcmp(cc.auto_pad, "NOTSET") == 0;
        bool valid_pads = cc.auto_pad && strcmp(cc.auto_pad, "VALID") == 0;
        int64_t ph = explicit_pads ? cc.pads[0] + cc.pads[2] : 0, pw = explicit_pads ? cc.pads[1] + cc.pads[3] : 0;
        if ((explicit_pads || valid_pads) &&
            (cc.h + ph < (cc.kh - 1) * cc.dh + 1 || cc.w + pw < (cc.kw - 1) * cc.dw + 1))
            continue;
        EXPECT_CASE(cc, 1000u + (unsigned)iter);
        done++;
    }
    CHECK(done == 150, "only %d cases", done);
}

/* ---- errors -------------------------------------------------------------- */

TEST(conv_errors) {
    oph h;
    conv_case cc = base_case();
    /* W's input channels do not match C_in / group */
    oph_init(&h, "Conv", 13);
    oph_input_rand(&h, 4, (int64_t[]){1, 4, 8, 8}, 1);
    oph_input_rand(&h, 4, (int64_t[]){8, 3, 3, 3}, 2);
    CHECK(oph_prepare(&h, 1) != CAM_OK, "W channel mismatch accepted");
    CHECK(strstr(h.err, "Conv") && strstr(h.err, "test_node"), "message: %s", h.err);
    oph_free(&h);
    /* group does not divide C */
    cc.c = 6; cc.group = 4; cc.m = 8;
    CHECK(conv_setup(&h, &cc, 1) != CAM_OK, "group 4 with C 6 accepted");
    CHECK(strstr(h.err, "group"), "message: %s", h.err);
    oph_free(&h);
    /* group does not divide M */
    cc.c = 8; cc.group = 4; cc.m = 6;
    CHECK(conv_setup(&h, &cc, 1) != CAM_OK, "group 4 with M 6 accepted");
    oph_free(&h);
    /* bias of the wrong length */
    oph_init(&h, "Conv", 13);
    oph_input_rand(&h, 4, (int64_t[]){1, 4, 8, 8}, 1);
    oph_input_rand(&h, 4, (int64_t[]){8, 4, 3, 3}, 2);
    oph_input_rand(&h, 1, (int64_t[]){7}, 3);
    CHECK(oph_prepare(&h, 1) != CAM_OK, "bias of 7 for 8 outputs accepted");
    oph_free(&h);
    /* kernel_shape disagreeing with W */
    cc = base_case();
    cc.kshape_attr = true;
    CHECK(conv_setup(&h, &cc, 1) == CAM_OK, "%s", h.err);
    oph_free(&h);
    oph_init(&h, "Conv", 13);
    oph_attr_ints(&h, "kernel_shape", (int64_t[]){5, 5}, 2);
    oph_input_rand(&h, 4, (int64_t[]){1, 4, 8, 8}, 1);
    oph_input_rand(&h, 4, (int64_t[]){8, 4, 3, 3}, 2);
    CHECK(oph_prepare(&h, 1) != CAM_OK, "kernel_shape mismatch accepted");
    oph_free(&h);
    /* kernel larger than the padded input */
    cc = base_case();
    cc.h = cc.w = 2; memset(cc.pads, 0, sizeof cc.pads);
    CHECK(conv_setup(&h, &cc, 1) != CAM_OK, "3x3 kernel on 2x2 accepted");
    oph_free(&h);
    /* unknown auto_pad, negative pads, zero stride, bad group */
    oph_init(&h, "Conv", 13);
    oph_attr_string(&h, "auto_pad", "SAME");
    oph_input_rand(&h, 4, (int64_t[]){1, 4, 8, 8}, 1);
    oph_input_rand(&h, 4, (int64_t[]){8, 4, 3, 3}, 2);
    CHECK(oph_prepare(&h, 1) != CAM_OK, "auto_pad SAME accepted");
    oph_free(&h);
    oph_init(&h, "Conv", 13);
    oph_attr_ints(&h, "pads", (int64_t[]){-1, 0, 0, 0}, 4);
    oph_input_rand(&h, 4, (int64_t[]){1, 4, 8, 8}, 1);
    oph_input_rand(&h, 4, (int64_t[]){8, 4, 3, 3}, 2);
    CHECK(oph_prepare(&h, 1) != CAM_OK, "negative pad accepted");
    oph_free(&h);
    oph_init(&h, "Conv", 13);
    oph_attr_ints(&h, "strides", (int64_t[]){0, 1}, 2);
    oph_input_rand(&h, 4, (int64_t[]){1, 4, 8, 8}, 1);
    oph_input_rand(&h, 4, (int64_t[]){8, 4, 3, 3}, 2);
    CHECK(oph_prepare(&h, 1) != CAM_OK, "zero stride accepted");
    oph_free(&h);
    oph_init(&h, "Conv", 13);
    oph_attr_ints(&h, "strides", (int64_t[]){1, 1, 1}, 3);
    oph_attr_ints(&h, "pads", (int64_t[]){0, 0, 0, 0}, 4);
    oph_input_rand(&h, 4, (int64_t[]){1, 4, 8, 8}, 1);
    oph_input_rand(&h, 4, (int64_t[]){8, 4, 3, 3}, 2);
    CHECK(oph_prepare(&h, 1) == CAM_EUNSUPPORTED, "3-D strides: %s", h.err);
    oph_free(&h);
    oph_init(&h, "Conv", 13);
    oph_attr_int(&h, "group", 0);
    oph_input_rand(&h, 4, (int64_t[]){1, 4, 8, 8}, 1);
    oph_input_rand(&h, 4, (int64_t[]){8, 4, 3, 3}, 2);
    CHECK(oph_prepare(&h, 1) != CAM_OK, "group 0 accepted");
    oph_free(&h);
    /* 3-D convolution is refused as unsupported */
    oph_init(&h, "Conv", 13);
    oph_input_rand(&h, 5, (int64_t[]){1, 2, 4, 4, 4}, 1);
    oph_input_rand(&h, 5, (int64_t[]){2, 2, 3, 3, 3}, 2);
    CHECK(oph_prepare(&h, 1) == CAM_EUNSUPPORTED, "3-D: %s", h.err);
    CHECK(strstr(h.err, "3-D"), "message: %s", h.err);
    oph_free(&h);
    /* rank mismatch between X and W */
    oph_init(&h, "Conv", 13);
    oph_input_rand(&h, 4, (int64_t[]){1, 4, 8, 8}, 1);
    oph_input_rand(&h, 3, (int64_t[]){8, 4, 3}, 2);
    CHECK(oph_prepare(&h, 1) != CAM_OK, "rank mismatch accepted");
    oph_free(&h);
}

/* ---- BatchNormalization ------------------------------------------------- */

/* var in [0.1, 2) so that sqrt is well-conditioned */
static void bn_inputs(oph *h, int rank, const int64_t *dims, int64_t pcount, unsigned seed, bool konst) {
    oph_input_rand(h, rank, dims, seed);
    float *v = malloc((size_t)pcount * sizeof(float));
    for (int k = 0; k < 4; k++) {
        unsigned s = seed * 13 + (unsigned)k;
        for (int64_t i = 0; i < pcount; i++) v[i] = k == 3 ? check_randf(&s, 0.1f, 2.0f) : check_randf(&s, -1.5f, 1.5f);
        if (konst) oph_input_const_f32(h, 1, &pcount, v);
        else oph_input_f32(h, 1, &pcount, v);
    }
    free(v);
}

TEST(bn_forward_vs_reference) {
    struct { int rank; int64_t dims[4]; float eps; } t[] = {
        {4, {1, 16, 28, 28}, 1e-5f}, {4, {3, 5, 7, 9}, 1e-3f}, {2, {4, 33, 0, 0}, 1e-5f},
        {3, {2, 6, 17, 0}, 0.0f},    {4, {1, 64, 1, 1}, 1e-5f},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        oph h;
        oph_init(&h, "BatchNormalization", 15);
        if (t[i].eps != 1e-5f) oph_attr_float(&h, "epsilon", t[i].eps);
        bn_inputs(&h, t[i].rank, t[i].dims, t[i].dims[1], (unsigned)i + 1, i % 2 == 0);
        CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
        for (int threads = 1; threads <= 2; threads++) {
            double e = oph_compare(&h, threads);
            CHECK(e <= 1e-5, "case %zu threads %d: rel err %g", i, threads, e);
        }
        oph_free(&h);
    }
    /* opset 7, spatial=0: per-element statistics over C x H x W */
    oph h;
    oph_init(&h, "BatchNormalization", 7);
    oph_attr_int(&h, "spatial", 0);
    bn_inputs(&h, 4, (int64_t[]){2, 3, 4, 5}, 3 * 4 * 5, 9, true);
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    double e = oph_compare(&h, 2);
    CHECK(e <= 1e-5, "spatial=0: rel err %g", e);
    oph_free(&h);
    /* hand-computed: x=3, scale 2, B 1, mean 1, var 3, eps 1 -> 2*2/2+1 = 3 */
    oph_init(&h, "BatchNormalization", 9);
    oph_attr_float(&h, "epsilon", 1.0f);
    oph_input_f32(&h, 2, (int64_t[]){1, 1}, (float[]){3});
    for (int k = 0; k < 4; k++) oph_input_const_f32(&h, 1, (int64_t[]){1}, (float[]){2, 1, 1, 3} + k);
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    oph_compare(&h, 1);
    CHECK(fabsf(cam__f32(&h.out_fwd[0])[0] - 3.0f) < 1e-6f && fabsf(cam__f32(&h.out_ref[0])[0] - 3.0f) < 1e-6f,
          "fwd %g ref %g", cam__f32(&h.out_fwd[0])[0], cam__f32(&h.out_ref[0])[0]);
    oph_free(&h);
}

TEST(bn_errors) {
    oph h;
    oph_init(&h, "BatchNormalization", 15);
    oph_attr_int(&h, "training_mode", 1);
    bn_inputs(&h, 4, (int64_t[]){1, 4, 3, 3}, 4, 1, true);
    CHECK(oph_prepare(&h, 1) == CAM_EUNSUPPORTED, "training_mode accepted: %s", h.err);
    CHECK(strstr(h.err, "training_mode") && strstr(h.err, "test_node"), "message: %s", h.err);
    oph_free(&h);
    oph_init(&h, "BatchNormalization", 15);
    bn_inputs(&h, 4, (int64_t[]){1, 4, 3, 3}, 4, 1, true);
    CHECK(oph_prepare(&h, 3) == CAM_EUNSUPPORTED, "3 outputs accepted: %s", h.err);
    oph_free(&h);
    oph_init(&h, "BatchNormalization", 15);
    bn_inputs(&h, 4, (int64_t[]){1, 4, 3, 3}, 5, 1, true);
    CHECK(oph_prepare(&h, 1) != CAM_OK, "5 parameters for 4 channels accepted");
    oph_free(&h);
    oph_init(&h, "BatchNormalization", 15);   /* per-element params only before opset 9 */
    bn_inputs(&h, 4, (int64_t[]){1, 2, 2, 2}, 8, 1, true);
    CHECK(oph_prepare(&h, 1) != CAM_OK, "per-element params at opset 15 accepted");
    oph_free(&h);
}

/* Conv' with the folded weights equals BN(Conv(x)). */
TEST(bn_fold_into_conv) {
    for (int with_bias = 0; with_bias <= 1; with_bias++) {
        conv_case cc = base_case();
        cc.c = 6; cc.m = 10; cc.h = 11; cc.w = 12; cc.bias = true;
        cc.group = with_bias ? 2 : 1;
        oph conv;
        CHECK(conv_setup(&conv, &cc, 77) == CAM_OK, "%s", conv.err);
        float *bias = cam__f32(conv.in[2]);
        if (!with_bias) memset(bias, 0, (size_t)cc.m * sizeof(float));
        oph_compare(&conv, 1);   /* out_ref = Conv(x) */

        oph bn;
        oph_init(&bn, "BatchNormalization", 15);
        oph_attr_float(&bn, "epsilon", 1e-3f);
        oph_input_f32(&bn, 4, conv.out_ref[0].dims, cam__f32(&conv.out_ref[0]));
        int64_t pc = cc.m;
        float prm[4][16];
        for (int k = 0; k < 4; k++) {
            unsigned s = 500u + (unsigned)k;
            for (int64_t i = 0; i < pc; i++) prm[k][i] = k == 3 ? check_randf(&s, 0.1f, 2.0f) : check_randf(&s, -1.5f, 1.5f);
            oph_input_const_f32(&bn, 1, &pc, prm[k]);
        }
        CHECK(oph_prepare(&bn, 1) == CAM_OK, "%s", bn.err);
        oph_compare(&bn, 1);   /* out_ref = BN(Conv(x)) */

        cam__conv_fold_bn(cam__f32(conv.in[1]), bias, cc.m, (cc.c / cc.group) * cc.kh * cc.kw, prm[0], prm[1],
                          prm[2], prm[3], 1e-3f);
        oph_compare(&conv, 2);   /* out_fwd = Conv'(x) */
        double e = check_rel_linf(cam__f32(&conv.out_fwd[0]), cam__f32(&bn.out_ref[0]), bn.out_ref[0].numel);
        CHECK(e <= 1e-5, "bias %d: rel err %g", with_bias, e);
        oph_free(&bn);
        oph_free(&conv);
    }
}

int main(void) {
    char err[256];
    if (cam_runtime_init(err, sizeof err) != CAM_OK) {
        printf("skip - all: %s\n", err);
        return check_summary();
    }
    RUN(conv_reference_hand_computed);
    RUN(conv_auto_pad_shapes);
    RUN(conv_kernels_strides_dilations);
    RUN(conv_1x1_paths);
    RUN(conv_1x1_packed);
    RUN(conv_tiling_and_thread_split);
    RUN(conv_groups_and_depthwise);
    RUN(conv_depthwise_vectorised);
    RUN(conv_implicit_gemm);
    RUN(conv_winograd);
    RUN(conv_degenerate);
    RUN(conv_one_d);
    RUN(conv_random_shapes);
    RUN(conv_errors);
    RUN(bn_forward_vs_reference);
    RUN(bn_errors);
    RUN(bn_fold_into_conv);
    return check_summary();
}
