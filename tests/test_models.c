/* test_models.c: every model of ../shared/models reproduces its reference
 * logits (logits.bin, from PyTorch / ONNX Runtime) from input.bin to a
 * relative L-inf error of 1e-4, optimised and unoptimised, on 1 and 2
 * threads, and at batch 2 (each batch row equal to the single-image result);
 * 2 and 3 threads agree with 1 thread to 1e-5. */
#include "check.h"
#include "camserve.h"

#include <dirent.h>
#include <sys/stat.h>

static char g_model[512];

/* Runs the model on input.bin; returns the worst relative L-inf error of
 * the batch rows against logits.bin and, if keep is non-NULL, a malloc'ed
 * copy of the output in *keep. */
static double run_model_keep(const char *dir, int optimize, int threads, int batch, float **keep) {
    char path[1200], err[1024];
    size_t n_in, n_ref;
    snprintf(path, sizeof path, "%s/input.bin", dir);
    float *input = check_read_floats(path, &n_in);
    snprintf(path, sizeof path, "%s/logits.bin", dir);
    float *ref = check_read_floats(path, &n_ref);
    CHECK(input && ref, "cannot read input.bin/logits.bin in %s", dir);
    cam_model_options opt;
    cam_model_options_init(&opt);
    opt.optimize = optimize;
    opt.batch = batch;
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    cam_model *m = NULL;
    CHECK(cam_model_load(path, &opt, &m, err, sizeof err) == CAM_OK, "%s", err);
    cam_session *s = NULL;
    CHECK(cam_session_create(m, threads, &s, err, sizeof err) == CAM_OK, "%s", err);
    cam_tensor_info ii, oi;
    cam_model_input_info(m, 0, &ii);
    cam_model_output_info(m, 0, &oi);
    CHECK(ii.numel == n_in * (size_t)batch, "input has %zu elements, input.bin %zu", ii.numel, n_in);
    CHECK(oi.numel == n_ref * (size_t)batch, "output has %zu elements, logits.bin %zu", oi.numel, n_ref);
    float *x = cam_session_input(s, 0);
    for (int b = 0; b < batch; b++) memcpy(x + (size_t)b * n_in, input, n_in * 4);
    cam_session_run(s);
    const float *y = cam_session_output(s, 0);
    double worst = 0;
    for (int b = 0; b < batch; b++) {
        double e = check_rel_linf(y + (size_t)b * n_ref, ref, n_ref);
        if (e > worst || e != e) worst = e;
    }
    if (keep) {
        *keep = malloc(oi.numel * sizeof(float));
        CHECK(*keep, "out of memory");
        memcpy(*keep, y, oi.numel * sizeof(float));
    }
    cam_session_free(s);
    cam_model_free(m);
    free(input);
    free(ref);
    return worst;
}

static double run_model(const char *dir, int optimize, int threads, int batch) {
    return run_model_keep(dir, optimize, threads, batch, NULL);
}

TEST(model_matches_reference) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/%s", check_shared_dir(), g_model);
    double e1 = run_model(dir, 1, 1, 1);
    CHECK(e1 <= 1e-4, "optimised, 1 thread: rel L-inf %.3g", e1);
    double e2 = run_model(dir, 1, 2, 1);
    CHECK(e2 <= 1e-4, "optimised, 2 threads: rel L-inf %.3g", e2);
    double e3 = run_model(dir, 0, 1, 1);
    CHECK(e3 <= 1e-4, "unoptimised: rel L-inf %.3g", e3);
    printf("  %s: rel L-inf %.2g (1 thread), %.2g (2 threads), %.2g (unoptimised)\n", g_model, e1, e2, e3);
}

TEST(model_batch2) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/%s", check_shared_dir(), g_model);
    cam_model_options opt;
    cam_model_options_init(&opt);
    double e = run_model(dir, 1, 2, 2);
    CHECK(e <= 1e-4, "batch 2: rel L-inf %.3g", e);
}

/* The thread count changes only how layers are split over threads, never
 * the arithmetic: 2 and 3 threads give the 1-thread logits to 1e-5. */
TEST(model_threads_agree) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/%s", check_shared_dir(), g_model);
    char path[1200];
    snprintf(path, sizeof path, "%s/logits.bin", dir);
    size_t n;
    float *ref = check_read_floats(path, &n);
    CHECK(ref, "cannot read %s", path);
    free(ref);
    float *y1 = NULL, *yt = NULL;
    run_model_keep(dir, 1, 1, 1, &y1);
    for (int t = 2; t <= 3; t++) {
        run_model_keep(dir, 1, t, 1, &yt);
        double e = check_rel_linf(yt, y1, n);
        free(yt);
        CHECK(e <= 1e-5, "%d threads vs 1 thread: rel L-inf %.3g", t, e);
    }
    free(y1);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(void) {
    char root[1024];
    snprintf(root, sizeof root, "%s/models", check_shared_dir());
    DIR *d = opendir(root);
    if (!d) {
        printf("skip - models: %s not found (set CAMSERVE_SHARED)\n", root);
        check_skipped++;
        return check_summary();
    }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        char p[1300];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s/logits.bin", root, e->d_name);
        if (e->d_name[0] != '.' && stat(p, &st) == 0) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    for (int i = 0; i < n; i++) {
        char label[600];
        snprintf(g_model, sizeof g_model, "%s", names[i]);
        snprintf(label, sizeof label, "models/%s", names[i]);
        check_run(label, model_matches_reference);
        snprintf(label, sizeof label, "models/%s/threads", names[i]);
        check_run(label, model_threads_agree);
        /* batch 2 on the dynamic-batch exports only: mobilenetv2-imagenet has a static batch of 1 */
        if (strncmp(names[i], "tv-", 3) == 0) {
            snprintf(label, sizeof label, "models/%s/batch2", names[i]);
            check_run(label, model_batch2);
        }
        free(names[i]);
    }
    return check_summary();
}
