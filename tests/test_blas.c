/* test_blas.c: the BLAS layer (core/blas.c): the fast kernel is chosen on
 * CPUs that have it, sgemm agrees with a naive product in every transpose
 * form, and concurrent calls from several threads (how sessions use it) do
 * not interfere. */
#include "check.h"
#include "internal.h"

#include <pthread.h>

static void naive(bool ta, bool tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++)
                s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
            c[i * ldc + j] = (float)s;
        }
}

static const char *g_user_coretype;   /* read before cam_runtime_init sets it */

TEST(kernel_matches_cpu) {
    char err[256];
    CHECK(cam_runtime_init(err, sizeof err) == CAM_OK, "%s", err);
    const char *core = cam_blas_corename();
    __builtin_cpu_init();
    if (g_user_coretype) SKIP("OPENBLAS_CORETYPE set by the user: %s", g_user_coretype);
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
        CHECK(strcmp(core, "SkylakeX") == 0, "AVX-512 CPU runs OpenBLAS kernel %s", core);
    else if (__builtin_cpu_supports("avx2"))
        CHECK(strcmp(core, "Haswell") == 0 || strcmp(core, "Zen") == 0 || strcmp(core, "SkylakeX") == 0, "AVX2 CPU runs %s", core);
    CHECK(strcmp(core, "Prescott") != 0 || !__builtin_cpu_supports("avx2"), "slow Prescott kernel on an AVX2 CPU");
}

TEST(sgemm_all_transposes) {
    unsigned seed = 1;
    for (int rep = 0; rep < 20; rep++) {
        int m = 1 + (int)(check_randf(&seed, 0, 70)), n = 1 + (int)(check_randf(&seed, 0, 90)), k = 1 + (int)(check_randf(&seed, 0, 80));
        bool ta = rep & 1, tb = rep & 2;
        float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n);
        float *c = malloc(sizeof(float) * m * (n + 3)), *r = malloc(sizeof(float) * m * (n + 3));
        for (int i = 0; i < m * k; i++) a[i] = check_randf(&seed, -1, 1);
        for (int i = 0; i < k * n; i++) b[i] = check_randf(&seed, -1, 1);
        cam__sgemm(ta, tb, m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, 0.0f, c, n + 3);
        naive(ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, r, n + 3);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                CHECK(fabsf(c[i * (n + 3) + j] - r[i * (n + 3) + j]) <= 1e-4f * (1 + fabsf(r[i * (n + 3) + j])),
                      "m%d n%d k%d ta%d tb%d at %d,%d", m, n, k, ta, tb, i, j);
        free(a); free(b); free(c); free(r);
    }
}

/* Shapes of a ResNet layer tile; two threads, different data, many calls. */
#define TM 128
#define TN 392
#define TK 576
static float g_a[TM * TK], g_b[2][TK * TN], g_c[2][TM * TN], g_ref[2][TM * TN];
static int g_bad[2];
static void *hammer(void *arg) {
    int t = (int)(intptr_t)arg;
    for (int r = 0; r < 2500 && !g_bad[t]; r++) {
        cam__sgemm(false, false, TM, TN, TK, 1.0f, g_a, TK, g_b[t], TN, 0.0f, g_c[t], TN);
        if (memcmp(g_c[t], g_ref[t], sizeof g_c[t]) != 0) g_bad[t] = r + 1;
    }
    return NULL;
}

TEST(sgemm_concurrent_calls_do_not_interfere) {
    for (int i = 0; i < TM * TK; i++) g_a[i] = sinf((float)i);
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < TK * TN; i++) g_b[t][i] = cosf((float)i * (float)(t + 1));
        cam__sgemm(false, false, TM, TN, TK, 1.0f, g_a, TK, g_b[t], TN, 0.0f, g_ref[t], TN);
    }
    pthread_t th[2];
    for (int t = 0; t < 2; t++) pthread_create(&th[t], NULL, hammer, (void *)(intptr_t)t);
    for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
    CHECK(!g_bad[0] && !g_bad[1], "concurrent sgemm results differ (call %d / %d) in %s", g_bad[0], g_bad[1],
          cam_blas_library());
}

int main(void) {
    g_user_coretype = getenv("OPENBLAS_CORETYPE");
    RUN(kernel_matches_cpu);
    RUN(sgemm_all_transposes);
    RUN(sgemm_concurrent_calls_do_not_interfere);
    return check_summary();
}
