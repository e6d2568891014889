/* test_cam.c: head detection and class activation maps (core/cam.c).
 * - the head and feature map of every shared model;
 * - the CAM identity mean(M_c) + b_c = logit_c on the real models;
 * - Grad-CAM = CAM / (h w) on linear heads;
 * - Grad-CAM on a non-linear head against finite differences;
 * - heads CAM does not apply to, Softmax outputs, ReduceMean/AveragePool
 *   pooling, BatchNorm after the pooling, cam.layer. */
#include "check.h"
#include "model.h"
#include "onnx_builder.h"

/* ---- the shared models -------------------------------------------------------- */

static const struct { const char *model, *kind, *feature; int c, h, w; } expected_heads[] = {
    {"mobilenetv2-imagenet", "linear", "act_269", 1280, 7, 7},
    {"tv-efficientnet_b0", "linear", "/features/features.8/features.8.2/Mul_output_0", 1280, 7, 7},
    {"tv-googlenet", "linear", "/inception5b/Concat_output_0", 1024, 7, 7},
    {"tv-mobilenet_v2", "linear", "/features/features.18/features.18.2/Clip_output_0", 1280, 7, 7},
    {"tv-resnet18", "linear", "/layer4/layer4.1/relu_1/Relu_output_0", 512, 7, 7},
    {"tv-squeezenet1_1", "conv-before-pool", "/classifier/classifier.2/Relu_output_0", 1000, 13, 13},
};
static int g_idx;

TEST(shared_model_head_and_identities) {
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/models/%s/model.onnx", check_shared_dir(), expected_heads[g_idx].model);
    cam_model *m = NULL;
    if (cam_model_load(path, NULL, &m, err, sizeof err) != CAM_OK) {
        FILE *f = fopen(path, "rb");
        if (!f) SKIP("%s not found", path);
        fclose(f);
        CHECK(0, "%s", err);
    }
    cam_head_info h;
    cam_model_head(m, &h);
    CHECK(strcmp(h.kind_name, expected_heads[g_idx].kind) == 0, "head kind %s", h.kind_name);
    CHECK(strcmp(h.feature, expected_heads[g_idx].feature) == 0, "feature map %s", h.feature);
    CHECK(h.channels == expected_heads[g_idx].c && h.height == expected_heads[g_idx].h && h.width == expected_heads[g_idx].w,
          "shape %d x %d x %d", h.channels, h.height, h.width);
    CHECK(strcmp(h.method, "cam") == 0 && !h.softmax_output, "method %s", h.method);

    cam_session *s;
    CHECK(cam_session_create(m, 2, &s, err, sizeof err) == CAM_OK, "%s", err);
    snprintf(path, sizeof path, "%s/models/%s/input.bin", check_shared_dir(), expected_heads[g_idx].model);
    size_t n;
    float *x = check_read_floats(path, &n);
    CHECK(x && cam_session_set_input(s, 0, x, n * 4, err, sizeof err) == CAM_OK, "input: %s", err);
    free(x);
    cam_session_run(s);
    const float *logits = cam_session_logits(s, 0);
    CHECK(logits != NULL, "logits");
    CHECK(logits == cam_session_output(s, 0), "logits are the graph output here");
    float maxabs = 0;
    int top = 0;
    for (int c = 0; c < h.classes; c++) {
        if (fabsf(logits[c]) > maxabs) maxabs = fabsf(logits[c]);
        if (logits[c] > logits[top]) top = c;
    }
    int classes[6] = {top, 0, h.classes - 1, 17, 333 % h.classes, 777 % h.classes};
    int hw = h.height * h.width;
    float *maps = malloc(sizeof(float) * 6 * hw), *gmaps = malloc(sizeof(float) * 6 * hw);
    float *w = malloc(sizeof(float) * 6 * h.channels), *bias = malloc(sizeof(float) * 6);
    CHECK(cam_session_cams(s, 0, classes, 6, CAM_METHOD_AUTO, maps, err, sizeof err) == CAM_OK, "%s", err);
    CHECK(cam_session_cam_weights(s, 0, classes, 6, CAM_METHOD_CAM, w, bias, err, sizeof err) == CAM_OK, "%s", err);
    CHECK(cam_session_cams(s, 0, classes, 6, CAM_METHOD_GRADCAM, gmaps, err, sizeof err) == CAM_OK, "%s", err);
    double worst = 0, worst_grad = 0;
    for (int i = 0; i < 6; i++) {
        double mean = 0;
        for (int p = 0; p < hw; p++) mean += maps[i * hw + p];
        mean /= hw;
        double lc = logits[classes[i]];
        /* relative to the logit, floored at 1% of the largest logit */
        double rel = fabs(mean + bias[i] - lc) / fmax(fabs(lc), 0.01 * maxabs);
        if (rel > worst) worst = rel;
        for (int p = 0; p < hw; p++) {
            double d = fabs((double)gmaps[i * hw + p] * hw - maps[i * hw + p]) / (fabs(maps[i * hw + p]) + 1e-3 * maxabs);
            if (d > worst_grad) worst_grad = d;
        }
    }
    printf("  %s: CAM identity max rel err %.2g, Grad-CAM x hw vs CAM %.2g\n", expected_heads[g_idx].model, worst, worst_grad);
    CHECK(worst <= 1e-4, "mean(M_c) + b_c vs logit_c: rel err %.3g", worst);
    CHECK(worst_grad <= 1e-4, "Grad-CAM x hw vs CAM: rel err %.3g", worst_grad);
    free(maps); free(gmaps); free(w); free(bias);
    cam_session_free(s);
    cam_model_free(m);
}

/* ---- synthetic heads ---------------------------------------------------------- */

static float g_seedvals[1 << 16];
static const float *rnd(int n, unsigned seed, float scale) {
    for (int i = 0; i < n; i++) g_seedvals[i] = check_randf(&seed, -scale, scale);
    return g_seedvals;
}

/* X[1,3,8,8] -> Conv 3x3 (C channels) -> Relu -> F -> pooling -> head -> Y */
typedef enum { POOL_GAP, POOL_REDUCEMEAN, POOL_AVGPOOL, POOL_NONE_FLATTEN } pool_kind;
typedef enum { HEAD_GEMM, HEAD_GEMM_SOFTMAX, HEAD_NONLINEAR, HEAD_BN_GEMM, HEAD_MATMUL_ADD } head_kind;

static ob_buf synth(int C, int classes, pool_kind pk, head_kind hk) {
    ob_buf g = {0}, n = {0};
    ob_node_begin(&n, "Conv", "conv", (const char *[]){"X", "W", "B", NULL}, (const char *[]){"C0", NULL});
    ob_attr_ints(&n, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Relu", "relu", (const char *[]){"C0", NULL}, (const char *[]){"F", NULL});
    ob_msg(&g, 1, &n);
    ob_tensor_f32(&g, 5, "W", (const int64_t[]){C, 3, 3, 3}, 4, rnd(C * 27, 1, 0.5f));
    ob_tensor_f32(&g, 5, "B", (const int64_t[]){C}, 1, rnd(C, 2, 0.2f));
    const char *pooled = "P";
    switch (pk) {
    case POOL_GAP:
        ob_node_begin(&n, "GlobalAveragePool", "gap", (const char *[]){"F", NULL}, (const char *[]){"P", NULL});
        ob_msg(&g, 1, &n);
        break;
    case POOL_REDUCEMEAN:
        ob_node_begin(&n, "ReduceMean", "rmean", (const char *[]){"F", NULL}, (const char *[]){"P", NULL});
        ob_attr_ints(&n, "axes", (const int64_t[]){2, 3}, 2);
        ob_attr_int(&n, "keepdims", 0);
        ob_msg(&g, 1, &n);
        break;
    case POOL_AVGPOOL:
        ob_node_begin(&n, "AveragePool", "apool", (const char *[]){"F", NULL}, (const char *[]){"P", NULL});
        ob_attr_ints(&n, "kernel_shape", (const int64_t[]){8, 8}, 2);
        ob_msg(&g, 1, &n);
        break;
    case POOL_NONE_FLATTEN:
        pooled = "F";
        break;
    }
    ob_node_begin(&n, "Flatten", "flat", (const char *[]){pooled, NULL}, (const char *[]){"G", NULL});
    ob_msg(&g, 1, &n);
    int in = pk == POOL_NONE_FLATTEN ? C * 64 : C;
    switch (hk) {
    case HEAD_GEMM:
    case HEAD_GEMM_SOFTMAX:
        ob_node_begin(&n, "Gemm", "fc", (const char *[]){"G", "FW", "FB", NULL},
                      (const char *[]){hk == HEAD_GEMM ? "Y" : "L", NULL});
        ob_attr_int(&n, "transB", 1);
        ob_msg(&g, 1, &n);
        ob_tensor_f32(&g, 5, "FW", (const int64_t[]){classes, in}, 2, rnd(classes * in, 3, 0.3f));
        ob_tensor_f32(&g, 5, "FB", (const int64_t[]){classes}, 1, rnd(classes, 4, 0.5f));
        if (hk == HEAD_GEMM_SOFTMAX) {
            ob_node_begin(&n, "Softmax", "sm", (const char *[]){"L", NULL}, (const char *[]){"Y", NULL});
            ob_msg(&g, 1, &n);
        }
        break;
    case HEAD_BN_GEMM:
        ob_node_begin(&n, "BatchNormalization", "bn1d", (const char *[]){"G", "s", "b", "m", "v", NULL},
                      (const char *[]){"H", NULL});
        ob_msg(&g, 1, &n);
        ob_tensor_f32(&g, 5, "s", (const int64_t[]){in}, 1, rnd(in, 5, 1.0f));
        ob_tensor_f32(&g, 5, "b", (const int64_t[]){in}, 1, rnd(in, 6, 1.0f));
        ob_tensor_f32(&g, 5, "m", (const int64_t[]){in}, 1, rnd(in, 7, 0.5f));
        {
            float var[256];
            for (int i = 0; i < in; i++) var[i] = 0.5f + (float)i / in;
            ob_tensor_f32(&g, 5, "v", (const int64_t[]){in}, 1, var);
        }
        ob_node_begin(&n, "Gemm", "fc", (const char *[]){"H", "FW", "FB", NULL}, (const char *[]){"Y", NULL});
        ob_attr_int(&n, "transB", 1);
        ob_msg(&g, 1, &n);
        ob_tensor_f32(&g, 5, "FW", (const int64_t[]){classes, in}, 2, rnd(classes * in, 3, 0.3f));
        ob_tensor_f32(&g, 5, "FB", (const int64_t[]){classes}, 1, rnd(classes, 4, 0.5f));
        break;
    case HEAD_MATMUL_ADD:
        ob_node_begin(&n, "MatMul", "mm", (const char *[]){"G", "MW", NULL}, (const char *[]){"L", NULL});
        ob_msg(&g, 1, &n);
        ob_node_begin(&n, "Add", "bias", (const char *[]){"L", "MB", NULL}, (const char *[]){"Y", NULL});
        ob_msg(&g, 1, &n);
        ob_tensor_f32(&g, 5, "MW", (const int64_t[]){in, classes}, 2, rnd(classes * in, 8, 0.3f));
        ob_tensor_f32(&g, 5, "MB", (const int64_t[]){classes}, 1, rnd(classes, 9, 0.5f));
        break;
    case HEAD_NONLINEAR: {
        /* MobileNetV3: Gemm -> HardSwish -> Gemm */
        ob_mlp_head(&g, "G", "Y", in, 24, classes, rnd);
        break;
    }
    }
    ob_value_info(&g, 11, "X", (const int64_t[]){1, 3, 8, 8}, 4, 1);
    ob_value_info(&g, 12, "Y", NULL, -1, 1);
    return ob_model(&g, 14);
}

static cam_model *load_synth(pool_kind pk, head_kind hk, const char *cam_layer, char *err, size_t errlen) {
    ob_buf b = synth(16, 10, pk, hk);
    cam_model_options o;
    cam_model_options_init(&o);
    o.cam_layer = cam_layer;
    cam_model *m = NULL;
    cam_status st = cam_model_load_buffer(b.p, b.n, &o, &m, err, errlen);
    free(b.p);
    return st == CAM_OK ? m : NULL;
}

static void fill_input(cam_session *s) {
    float *x = cam_session_input(s, 0);
    unsigned seed = 99;
    for (int i = 0; i < 3 * 64; i++) x[i] = check_randf(&seed, -1, 1);
}

/* the CAM identity on a synthetic linear head */
static void check_linear(pool_kind pk, head_kind hk, const char *kind) {
    char err[512];
    cam_model *m = load_synth(pk, hk, NULL, err, sizeof err);
    CHECK(m, "%s", err);
    cam_head_info h;
    cam_model_head(m, &h);
    CHECK(strcmp(h.kind_name, kind) == 0, "kind %s (%s)", h.kind_name, h.reason);
    CHECK(strcmp(h.feature, "F") == 0, "feature %s", h.feature);
    cam_session *s;
    CHECK(cam_session_create(m, 1, &s, err, sizeof err) == CAM_OK, "%s", err);
    fill_input(s);
    cam_session_run(s);
    const float *logits = cam_session_logits(s, 0);
    int cls[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    float maps[10 * 64], w[10 * 16], bias[10];
    CHECK(cam_session_cams(s, 0, cls, 10, CAM_METHOD_CAM, maps, err, sizeof err) == CAM_OK, "%s", err);
    CHECK(cam_session_cam_weights(s, 0, cls, 10, CAM_METHOD_CAM, w, bias, err, sizeof err) == CAM_OK, "%s", err);
    for (int c = 0; c < 10; c++) {
        double mean = 0;
        for (int p = 0; p < 64; p++) mean += maps[c * 64 + p];
        mean /= 64;
        CHECK(fabs(mean + bias[c] - logits[c]) <= 1e-4 * fmax(1.0, fabs(logits[c])), "class %d: %g + %g vs %g", c, mean,
              bias[c], logits[c]);
    }
    cam_session_free(s);
    cam_model_free(m);
}

TEST(gap_gemm_head) { check_linear(POOL_GAP, HEAD_GEMM, "linear"); }
TEST(reducemean_matmul_add_head) { check_linear(POOL_REDUCEMEAN, HEAD_MATMUL_ADD, "linear"); }
TEST(full_map_averagepool_head) { check_linear(POOL_AVGPOOL, HEAD_GEMM, "linear"); }
TEST(batchnorm_after_pool_head) { check_linear(POOL_GAP, HEAD_BN_GEMM, "linear"); }

TEST(softmax_output_logits) {
    char err[512];
    cam_model *m = load_synth(POOL_GAP, HEAD_GEMM_SOFTMAX, NULL, err, sizeof err);
    CHECK(m, "%s", err);
    cam_head_info h;
    cam_model_head(m, &h);
    CHECK(h.softmax_output && strcmp(h.logits, "L") == 0, "softmax %d logits %s", h.softmax_output, h.logits);
    cam_session *s;
    CHECK(cam_session_create(m, 1, &s, err, sizeof err) == CAM_OK, "%s", err);
    fill_input(s);
    cam_session_run(s);
    const float *l = cam_session_logits(s, 0), *p = cam_session_output(s, 0);
    double z = 0;
    for (int c = 0; c < 10; c++) z += exp(l[c]);
    for (int c = 0; c < 10; c++) CHECK(fabs(exp(l[c]) / z - p[c]) < 1e-5, "softmax of the logits is the output");
    cam_session_free(s);
    cam_model_free(m);
    check_linear(POOL_GAP, HEAD_GEMM_SOFTMAX, "linear");
}

TEST(nonlinear_head_gradcam_vs_finite_differences) {
    char err[512];
    cam_model *m = load_synth(POOL_GAP, HEAD_NONLINEAR, NULL, err, sizeof err);
    CHECK(m, "%s", err);
    cam_head_info h;
    cam_model_head(m, &h);
    CHECK(h.kind == CAM_HEAD_NONLINEAR && strcmp(h.method, "gradcam") == 0, "kind %s", h.kind_name);
    cam_session *s;
    CHECK(cam_session_create(m, 1, &s, err, sizeof err) == CAM_OK, "%s", err);
    fill_input(s);
    cam_session_run(s);
    int cls[2] = {3, 7};
    float w[2 * 16], maps[2 * 64];
    CHECK(cam_session_cams(s, 0, cls, 1, CAM_METHOD_CAM, maps, err, sizeof err) == CAM_EINVAL, "CAM refused on a non-linear head");
    CHECK(cam_session_cam_weights(s, 0, cls, 2, CAM_METHOD_AUTO, w, NULL, err, sizeof err) == CAM_OK, "%s", err);
    CHECK(cam_session_cams(s, 0, cls, 2, CAM_METHOD_AUTO, maps, err, sizeof err) == CAM_OK, "%s", err);
    /* Central differences through the real graph: F = relu(conv + b), so
     * shifting the conv bias of channel k by e shifts F_k by e on its active
     * pixels (those stay active for a small e), and
     * d logit / d b_k = sum over active p of d logit / d F_kp = alpha_k * active_k
     * because d logit / d F_kp = (d logit / d g_k) / hw = alpha_k. */
    const float *F = cam_session_tensor(s, h.feature, NULL);
    CHECK(F != NULL, "feature map kept");
    int active[16];
    for (int k = 0; k < 16; k++) {
        active[k] = 0;
        for (int p = 0; p < 64; p++) active[k] += F[k * 64 + p] > 0;
    }
    const float *l0 = cam_session_logits(s, 0);
    float base[10];
    memcpy(base, l0, sizeof base);
    cam__value *bv = &m->values[cam__model_find(m, "B")];
    float *bias = bv->t.data ? cam__f32(&bv->t) : NULL;
    CHECK(bias != NULL, "conv bias constant");
    double worst = 0;
    for (int k = 0; k < 16; k++) {
        if (active[k] == 0) continue;
        const float e = 1e-3f;
        bias[k] += e;
        cam_session_run(s);
        float up[10];
        memcpy(up, cam_session_logits(s, 0), sizeof up);
        bias[k] -= 2 * e;
        cam_session_run(s);
        const float *dn = cam_session_logits(s, 0);
        for (int c = 0; c < 2; c++) {
            double fd = (up[cls[c]] - dn[cls[c]]) / (2.0 * e);
            double an = (double)w[c * 16 + k] * active[k];
            double rel = fabs(fd - an) / fmax(fabs(an), 1e-2);
            if (rel > worst) worst = rel;
        }
        bias[k] += e;
    }
    printf("  Grad-CAM weights vs central differences: max rel err %.2g\n", worst);
    CHECK(worst < 2e-2, "Grad-CAM weights vs finite differences: %.3g", worst);
    cam_session_free(s);
    cam_model_free(m);
}

TEST(no_global_pooling_is_explained) {
    char err[512];
    cam_model *m = load_synth(POOL_NONE_FLATTEN, HEAD_GEMM, NULL, err, sizeof err);
    CHECK(m, "%s", err);
    cam_head_info h;
    cam_model_head(m, &h);
    CHECK(h.kind == CAM_HEAD_NONE, "kind %s", h.kind_name);
    CHECK(strstr(h.reason, "global average pooling"), "reason: %s", h.reason);
    cam_session *s;
    CHECK(cam_session_create(m, 1, &s, err, sizeof err) == CAM_OK, "%s", err);
    cam_session_run(s);
    int c = 0;
    float maps[64];
    CHECK(cam_session_cams(s, 0, &c, 1, CAM_METHOD_AUTO, maps, err, sizeof err) == CAM_EUNSUPPORTED, "refused");
    CHECK(strstr(err, "global average pooling"), "message: %s", err);
    cam_session_free(s);
    cam_model_free(m);
}

TEST(cam_layer_override) {
    char err[512];
    cam_model *m = load_synth(POOL_GAP, HEAD_GEMM, "F", err, sizeof err);
    CHECK(m, "same layer accepted: %s", err);
    cam_model_free(m);
    m = load_synth(POOL_GAP, HEAD_GEMM, "C0", err, sizeof err);
    CHECK(m == NULL && strstr(err, "cam.layer"), "a layer that does not enter the pooling is refused: %s", err);
    m = load_synth(POOL_GAP, HEAD_GEMM, "nonexistent", err, sizeof err);
    CHECK(m == NULL && strstr(err, "nonexistent"), "unknown layer: %s", err);
}

TEST(request_validation) {
    char err[512];
    cam_model *m = load_synth(POOL_GAP, HEAD_GEMM, NULL, err, sizeof err);
    CHECK(m, "%s", err);
    cam_session *s;
    CHECK(cam_session_create(m, 1, &s, err, sizeof err) == CAM_OK, "%s", err);
    cam_session_run(s);
    float maps[64 * 65];
    int bad = 10, neg = -1, many[65] = {0};
    CHECK(cam_session_cams(s, 0, &bad, 1, CAM_METHOD_AUTO, maps, err, sizeof err) == CAM_EINVAL, "class out of range");
    CHECK(cam_session_cams(s, 0, &neg, 1, CAM_METHOD_AUTO, maps, err, sizeof err) == CAM_EINVAL, "negative class");
    CHECK(cam_session_cams(s, 1, many, 1, CAM_METHOD_AUTO, maps, err, sizeof err) == CAM_EINVAL, "batch index");
    CHECK(cam_session_cams(s, 0, many, 65, CAM_METHOD_AUTO, maps, err, sizeof err) == CAM_EINVAL, "too many classes");
    CHECK(cam_session_cams(s, 0, many, 0, CAM_METHOD_AUTO, maps, err, sizeof err) == CAM_EINVAL, "no class");
    cam_session_free(s);
    cam_model_free(m);
}

int main(void) {
    for (g_idx = 0; g_idx < (int)(sizeof expected_heads / sizeof expected_heads[0]); g_idx++) {
        char label[128];
        snprintf(label, sizeof label, "cam/%s", expected_heads[g_idx].model);
        check_run(label, shared_model_head_and_identities);
    }
    RUN(gap_gemm_head);
    RUN(reducemean_matmul_add_head);
    RUN(full_map_averagepool_head);
    RUN(batchnorm_after_pool_head);
    RUN(softmax_output_logits);
    RUN(nonlinear_head_gradcam_vs_finite_differences);
    RUN(no_global_pooling_is_explained);
    RUN(cam_layer_override);
    RUN(request_validation);
    return check_summary();
}
