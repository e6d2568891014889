/* blas.c: OpenBLAS, loaded at run time so that we choose its kernel.
 *
 * Debian 12 ships OpenBLAS 0.3.21 built with DYNAMIC_ARCH.  It does not
 * recognise recent Xeons and falls back to its Prescott (SSE3) kernels:
 * ~33 GFLOP/s instead of ~150 per core for sgemm.  The kernel is picked from
 * OPENBLAS_CORETYPE once, in the library's load-time constructor, so setting
 * the variable from main() is too late when the binary links -lopenblas.
 * We therefore dlopen() the library ourselves after setting the variable
 * from the CPU's own feature flags (cpuid via __builtin_cpu_supports).  A
 * value the user set is respected.
 *
 * Parallelism inside a forward pass is ours (cam__pool): every thread calls
 * sgemm on its own tile with OpenBLAS limited to one thread, which runs the
 * kernel inline in the caller.  That needs a build that is safe to call from
 * several threads at once.  Debian's "serial" build is not: two threads
 * running sgemm concurrently corrupt each other's results about once in a
 * thousand calls (measured; tests/test_blas.c checks for it), as it is built
 * without USE_LOCKING and shares its packing buffers.  The pthread build
 * locks its buffer table, so we load that one (or the OpenMP one) and set
 * its thread count to 1. */
#include "internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112 };

typedef void (*sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta,
                         float *c, int ldc);
typedef char *(*corename_fn)(void);
typedef void (*set_threads_fn)(int);

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static sgemm_fn g_sgemm;
static corename_fn g_corename;
static char g_error[1024];
static char g_library[512];
static const char *g_corename_str = "none";

/* The most capable OpenBLAS kernel family this CPU can run, or NULL. */
static const char *best_coretype(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    if (__builtin_cpu_supports("avx")) return "Sandybridge";
#endif
    return NULL;
}

static void load_blas(void) {
    const char *core = best_coretype();
    if (core && !getenv("OPENBLAS_CORETYPE")) setenv("OPENBLAS_CORETYPE", core, 0);
    /* Our pool does the threading; keep OpenBLAS's own threads out of it. */
    if (!getenv("OPENBLAS_NUM_THREADS")) setenv("OPENBLAS_NUM_THREADS", "1", 0);

    const char *candidates[4];
    int nc = 0;
    const char *user = getenv("CAMSERVE_BLAS_LIBRARY");
    if (user && *user) candidates[nc++] = user;
    candidates[nc++] = "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0";
    candidates[nc++] = "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0";
    candidates[nc++] = "libopenblas.so.0";

    void *h = NULL;
    for (int i = 0; i < nc && !h; i++) {
        h = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
        if (h) snprintf(g_library, sizeof g_library, "%s", candidates[i]);
    }
    if (!h) {
        snprintf(g_error, sizeof g_error, "cannot load OpenBLAS (tried %s and libopenblas.so.0): %s",
                 candidates[0], dlerror());
        return;
    }
    g_sgemm = (sgemm_fn)dlsym(h, "cblas_sgemm");
    g_corename = (corename_fn)dlsym(h, "openblas_get_corename");
    set_threads_fn set_threads = (set_threads_fn)dlsym(h, "openblas_set_num_threads");
    if (set_threads) set_threads(1);
    if (!g_sgemm) {
        snprintf(g_error, sizeof g_error, "%s has no cblas_sgemm", g_library);
        return;
    }
    if (g_corename) {
        const char *c = g_corename();
        if (c) g_corename_str = c;
    } else {
        g_corename_str = "unknown";
    }
}

cam_status cam_runtime_init(char *err, size_t errlen) {
    pthread_once(&g_once, load_blas);
    if (!g_sgemm) return cam__fail(err, errlen, CAM_EUNSUPPORTED, "%s", g_error);
    return CAM_OK;
}

const char *cam_blas_corename(void) { return g_corename_str; }
const char *cam_blas_library(void) { return g_library; }

void cam__sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {   /* C = beta*C; OpenBLAS handles it but be explicit */
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j];
        return;
    }
    g_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
            m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
