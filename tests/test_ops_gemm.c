/* test_ops_gemm.c: Gemm and MatMul.  Hand-computed products verify the
 * reference; random shapes (transposes, every broadcast form of C, 1-D and
 * batch-broadcast MatMul operands) compare forward on 1, 2 and 3 threads
 * with the reference. */
#include "ophelp.h"

/* A strong reference keeps gemm.o linked from libcamserve.a whatever
 * ops.h declares (its op functions were weak during bring-up, and weak
 * references do not pull archive members). */
cam_status cam__op_Gemm_check(cam__node *n, char *err, size_t errlen);
__attribute__((used)) static cam_status (*const link_gemm)(cam__node *, char *, size_t) = cam__op_Gemm_check;

#define TOL 1e-5

static bool blas_ready(void) {
    char err[256];
    return cam_runtime_init(err, sizeof err) == CAM_OK;
}
#define NEED_BLAS() do { if (!blas_ready()) SKIP("OpenBLAS not available"); } while (0)

static int64_t rnd(unsigned *s, int64_t lo, int64_t hi) {  /* uniform in [lo, hi] */
    *s = *s * 1664525u + 1013904223u;
    return lo + (int64_t)((*s >> 8) % (unsigned)(hi - lo + 1));
}

/* Both forward (2 threads) and reference must produce `want`. */
static int expect_both(oph *h, const float *want, size_t n) {
    oph_run(h, h->node.op->forward, h->pout_fwd, 2);
    oph_run(h, h->node.op->reference, h->pout_ref, 1);
    if (h->out_fwd[0].numel != n) return -1;
    for (size_t i = 0; i < n; i++) {
        float f = cam__f32(&h->out_fwd[0])[i], r = cam__f32(&h->out_ref[0])[i];
        float tol = 1e-5f * (1 + fabsf(want[i]));
        if (fabsf(f - want[i]) > tol || fabsf(r - want[i]) > tol) return (int)i + 1;
    }
    return 0;
}

static void compare_threads(oph *h, const char *what, unsigned seed) {
    for (int t = 1; t <= 3; t++) {
        double e = oph_compare(h, t);
        CHECK(e <= TOL, "%s seed %u threads %d: rel err %g", what, seed, t, e);
    }
}

/* ---- Gemm ------------------------------------------------------------------ */

TEST(gemm_hand) {
    NEED_BLAS();
    oph h;
    const float A[4] = {1, 2, 3, 4}, B[4] = {5, 6, 7, 8};
    /* AB = [[19, 22], [43, 50]], C = [1, -1] broadcast over rows */
    oph_init(&h, "Gemm", 13);
    oph_input_f32(&h, 2, (int64_t[]){2, 2}, A);
    oph_input_f32(&h, 2, (int64_t[]){2, 2}, B);
    oph_input_f32(&h, 1, (int64_t[]){2}, (float[]){1, -1});
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    int bad = expect_both(&h, (float[]){20, 21, 44, 49}, 4);
    CHECK(bad == 0, "element %d", bad);
    oph_free(&h);

    /* alpha 2, beta 0.5, transA, transB: 2 * A^T B^T + 0.5 * C[M,1];
     * A^T = [[1,3],[2,4]], B^T = [[5,7],[6,8]] -> A^T B^T = [[23,31],[34,46]] */
    oph_init(&h, "Gemm", 13);
    oph_attr_float(&h, "alpha", 2);
    oph_attr_float(&h, "beta", 0.5f);
    oph_attr_int(&h, "transA", 1);
    oph_attr_int(&h, "transB", 1);
    oph_input_f32(&h, 2, (int64_t[]){2, 2}, A);
    oph_input_f32(&h, 2, (int64_t[]){2, 2}, B);
    oph_input_f32(&h, 2, (int64_t[]){2, 1}, (float[]){10, 20});
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    bad = expect_both(&h, (float[]){51, 67, 78, 102}, 4);
    CHECK(bad == 0, "trans element %d", bad);
    oph_free(&h);

    /* no C (opset 11+), non-square: [1,3] x [3,2] */
    oph_init(&h, "Gemm", 11);
    oph_input_f32(&h, 2, (int64_t[]){1, 3}, (float[]){1, 2, 3});
    oph_input_f32(&h, 2, (int64_t[]){3, 2}, (float[]){1, -1, 2, -2, 3, -3});
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    CHECK(h.out_fwd[0].rank == 2 && h.out_fwd[0].dims[0] == 1 && h.out_fwd[0].dims[1] == 2, "dims");
    CHECK(h.node.flops == 2.0 * 1 * 2 * 3, "flops %g", h.node.flops);
    bad = expect_both(&h, (float[]){14, -14}, 2);
    CHECK(bad == 0, "no-C element %d", bad);
    oph_free(&h);

    /* fused Relu */
    oph_init(&h, "Gemm", 13);
    oph_input_f32(&h, 2, (int64_t[]){1, 3}, (float[]){1, 2, 3});
    oph_input_f32(&h, 2, (int64_t[]){3, 2}, (float[]){1, -1, 2, -2, 3, -3});
    oph_input_f32(&h, 0, NULL, (float[]){1});
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    h.node.act.kind = CAM__ACT_RELU;
    bad = expect_both(&h, (float[]){15, 0}, 2);
    CHECK(bad == 0, "relu element %d", bad);
    oph_free(&h);
}

/* C shapes: 0 none, 1 scalar, 2 [N], 3 [1,N], 4 [M,1], 5 [M,N], 6 [1,1], 7 [1] */
static void gemm_case(unsigned seed, int64_t M, int64_t N, int64_t K, int ta, int tb, int cform, float alpha,
                      float beta, int64_t opset, cam__act_kind act) {
    oph h;
    oph_init(&h, "Gemm", opset);
    if (ta) oph_attr_int(&h, "transA", 1);
    if (tb) oph_attr_int(&h, "transB", 1);
    if (alpha != 1.0f) oph_attr_float(&h, "alpha", alpha);
    if (beta != 1.0f) oph_attr_float(&h, "beta", beta);
    oph_input_rand(&h, 2, ta ? (int64_t[]){K, M} : (int64_t[]){M, K}, seed);
    oph_input_rand(&h, 2, tb ? (int64_t[]){N, K} : (int64_t[]){K, N}, seed + 1);
    switch (cform) {
    case 1: oph_input_rand(&h, 0, NULL, seed + 2); break;
    case 2: oph_input_rand(&h, 1, (int64_t[]){N}, seed + 2); break;
    case 3: oph_input_rand(&h, 2, (int64_t[]){1, N}, seed + 2); break;
    case 4: oph_input_rand(&h, 2, (int64_t[]){M, 1}, seed + 2); break;
    case 5: oph_input_rand(&h, 2, (int64_t[]){M, N}, seed + 2); break;
    case 6: oph_input_rand(&h, 2, (int64_t[]){1, 1}, seed + 2); break;
    case 7: oph_input_rand(&h, 1, (int64_t[]){1}, seed + 2); break;
    default: break;
    }
    CHECK(oph_prepare(&h, 1) == CAM_OK, "seed %u: %s", seed, h.err);
    h.node.act.kind = act;
    if (act == CAM__ACT_CLIP) { h.node.act.a = -0.5f; h.node.act.b = 0.5f; }
    char what[128];
    snprintf(what, sizeof what, "Gemm %lldx%lldx%lld ta%d tb%d C%d", (long long)M, (long long)N, (long long)K, ta, tb,
             cform);
    compare_threads(&h, what, seed);
    oph_free(&h);
}

TEST(gemm_random) {
    NEED_BLAS();
    for (unsigned seed = 1; seed <= 120; seed++) {
        unsigned s = seed;
        int64_t M = rnd(&s, 1, 70), N = rnd(&s, 1, 70), K = rnd(&s, 1, 70);
        int cform = (int)rnd(&s, 0, 7);
        int64_t opset = cform == 0 ? 13 : (rnd(&s, 0, 1) ? 9 : 13);
        float alpha = rnd(&s, 0, 1) ? 1.0f : (float)rnd(&s, -8, 8) / 4.0f;
        float beta = rnd(&s, 0, 1) ? 1.0f : (float)rnd(&s, -8, 8) / 4.0f;
        cam__act_kind act = rnd(&s, 0, 2) == 0 ? CAM__ACT_RELU : CAM__ACT_NONE;
        gemm_case(seed, M, N, K, (int)rnd(&s, 0, 1), (int)rnd(&s, 0, 1), cform, alpha, beta, opset, act);
    }
}

/* sizes that take the parallel paths: rows split, columns split (M=1 head) */
TEST(gemm_large) {
    NEED_BLAS();
    gemm_case(1001, 1, 1000, 1280, 0, 1, 2, 1, 1, 13, CAM__ACT_NONE);   /* MobileNetV2 classifier */
    gemm_case(1002, 1, 1000, 512, 0, 0, 3, 1, 1, 13, CAM__ACT_RELU);    /* ResNet18 head, B not transposed */
    gemm_case(1003, 2, 4096, 9216 / 8, 0, 1, 2, 1, 1, 13, CAM__ACT_RELU);
    gemm_case(1004, 300, 200, 150, 1, 0, 5, 0.5f, 2, 13, CAM__ACT_CLIP);
    gemm_case(1005, 257, 129, 65, 1, 1, 4, 1, 1, 13, CAM__ACT_NONE);
    gemm_case(1006, 40, 1001, 64, 0, 0, 1, 1, 0.5f, 13, CAM__ACT_NONE); /* few rows: columns split, ragged end */
    gemm_case(1007, 64, 64, 0 + 1, 0, 0, 0, 1, 1, 13, CAM__ACT_NONE);
}

TEST(gemm_errors) {
    NEED_BLAS();
    oph h;
    /* mismatched K */
    oph_init(&h, "Gemm", 13);
    oph_input_rand(&h, 2, (int64_t[]){3, 4}, 1);
    oph_input_rand(&h, 2, (int64_t[]){5, 2}, 2);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "K mismatch");
    CHECK(strstr(h.err, "Gemm") && strstr(h.err, "test_node"), "message: %s", h.err);
    oph_free(&h);
    /* mismatched K once transB is applied */
    oph_init(&h, "Gemm", 13);
    oph_attr_int(&h, "transB", 1);
    oph_input_rand(&h, 2, (int64_t[]){3, 4}, 1);
    oph_input_rand(&h, 2, (int64_t[]){4, 2}, 2);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "K mismatch with transB");
    oph_free(&h);
    /* C does not broadcast */
    oph_init(&h, "Gemm", 13);
    oph_input_rand(&h, 2, (int64_t[]){3, 4}, 1);
    oph_input_rand(&h, 2, (int64_t[]){4, 2}, 2);
    oph_input_rand(&h, 2, (int64_t[]){2, 2}, 3);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "C [2,2] for [3,2]");
    oph_free(&h);
    oph_init(&h, "Gemm", 13);
    oph_input_rand(&h, 2, (int64_t[]){3, 4}, 1);
    oph_input_rand(&h, 2, (int64_t[]){4, 2}, 2);
    oph_input_rand(&h, 1, (int64_t[]){3}, 3);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "C [3] for [3,2]");
    oph_free(&h);
    /* C missing before opset 11 */
    oph_init(&h, "Gemm", 9);
    oph_input_rand(&h, 2, (int64_t[]){3, 4}, 1);
    oph_input_rand(&h, 2, (int64_t[]){4, 2}, 2);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "no C at opset 9");
    oph_free(&h);
    /* opset 6 without broadcast: C must be [M, N] */
    oph_init(&h, "Gemm", 6);
    oph_input_rand(&h, 2, (int64_t[]){3, 4}, 1);
    oph_input_rand(&h, 2, (int64_t[]){4, 2}, 2);
    oph_input_rand(&h, 1, (int64_t[]){2}, 3);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "opset 6 C without broadcast");
    oph_free(&h);
    /* 3-D A */
    oph_init(&h, "Gemm", 13);
    oph_input_rand(&h, 3, (int64_t[]){1, 3, 4}, 1);
    oph_input_rand(&h, 2, (int64_t[]){4, 2}, 2);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "3-D A");
    oph_free(&h);
}

/* ---- MatMul ---------------------------------------------------------------- */

static cam_status matmul(oph *h, int ra, const int64_t *da, const float *a, int rb, const int64_t *db, const float *b,
                         unsigned seed) {
    oph_init(h, "MatMul", 13);
    if (a) oph_input_f32(h, ra, da, a);
    else oph_input_rand(h, ra, da, seed);
    if (b) oph_input_f32(h, rb, db, b);
    else oph_input_rand(h, rb, db, seed + 1);
    return oph_prepare(h, 1);
}

TEST(matmul_hand) {
    NEED_BLAS();
    oph h;
    const float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, -1, 2, 1, 1};
    /* [2,3] x [3,2] = [[1-2+3... */
    CHECK(matmul(&h, 2, (int64_t[]){2, 3}, A, 2, (int64_t[]){3, 2}, B, 0) == CAM_OK, "%s", h.err);
    /* row0: [1*1+2*(-1)+3*1, 1*0+2*2+3*1] = [2, 7]; row1: [4-5+6, 0+10+6] = [5, 16] */
    int bad = expect_both(&h, (float[]){2, 7, 5, 16}, 4);
    CHECK(bad == 0, "2-D element %d", bad);
    oph_free(&h);
    /* 1-D x 1-D: dot product, rank 0 */
    CHECK(matmul(&h, 1, (int64_t[]){3}, A, 1, (int64_t[]){3}, B, 0) == CAM_OK, "%s", h.err);
    CHECK(h.out_fwd[0].rank == 0, "dot rank %d", h.out_fwd[0].rank);
    bad = expect_both(&h, (float[]){1 * 1 + 2 * 0 + 3 * -1}, 1);
    CHECK(bad == 0, "dot");
    oph_free(&h);
    /* 1-D x 2-D: [3] x [3,2] -> [2] */
    CHECK(matmul(&h, 1, (int64_t[]){3}, A, 2, (int64_t[]){3, 2}, B, 0) == CAM_OK, "%s", h.err);
    CHECK(h.out_fwd[0].rank == 1 && h.out_fwd[0].dims[0] == 2, "vec-mat dims");
    bad = expect_both(&h, (float[]){2, 7}, 2);
    CHECK(bad == 0, "vec-mat element %d", bad);
    oph_free(&h);
    /* 2-D x 1-D: [2,3] x [3] -> [2] */
    CHECK(matmul(&h, 2, (int64_t[]){2, 3}, A, 1, (int64_t[]){3}, B, 0) == CAM_OK, "%s", h.err);
    CHECK(h.out_fwd[0].rank == 1 && h.out_fwd[0].dims[0] == 2, "mat-vec dims");
    bad = expect_both(&h, (float[]){-2, -2}, 2);
    CHECK(bad == 0, "mat-vec element %d", bad);
    oph_free(&h);
    /* batch broadcast: [2,1,3] x [3,1] -> [2,1,1]: each batch row dotted with B's column */
    CHECK(matmul(&h, 3, (int64_t[]){2, 1, 3}, A, 2, (int64_t[]){3, 1}, (float[]){1, 1, 1}, 0) == CAM_OK, "%s", h.err);
    bad = expect_both(&h, (float[]){6, 15}, 2);
    CHECK(bad == 0, "batch element %d", bad);
    oph_free(&h);
}

TEST(matmul_random) {
    NEED_BLAS();
    for (unsigned seed = 1; seed <= 150; seed++) {
        unsigned s = seed;
        int64_t M = rnd(&s, 1, 40), N = rnd(&s, 1, 40), K = rnd(&s, 1, 40);
        int ra = (int)rnd(&s, 1, 4), rb = (int)rnd(&s, 1, 4);
        int64_t da[4], db[4], batch[2] = {rnd(&s, 1, 3), rnd(&s, 1, 3)};
        /* batch dims: the broadcast shape, with some dims of one side set to 1 */
        int ba = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0;
        for (int i = 0; i < ba; i++) da[i] = rnd(&s, 0, 2) ? batch[2 - ba + i] : 1;
        for (int i = 0; i < bb; i++) db[i] = rnd(&s, 0, 2) ? batch[2 - bb + i] : 1;
        if (ra == 1) da[0] = K; else { da[ra - 2] = M; da[ra - 1] = K; }
        if (rb == 1) db[0] = K; else { db[rb - 2] = K; db[rb - 1] = N; }
        oph h;
        CHECK(matmul(&h, ra, da, NULL, rb, db, NULL, seed) == CAM_OK, "seed %u: %s", seed, h.err);
        int want_rank = (ba > bb ? ba : bb) + (ra > 1) + (rb > 1);
        CHECK(h.out_fwd[0].rank == want_rank, "seed %u rank %d want %d", seed, h.out_fwd[0].rank, want_rank);
        compare_threads(&h, "MatMul", seed);
        oph_free(&h);
    }
}

/* shapes for each forward path: folded batch, batch-parallel, per-batch split */
TEST(matmul_large) {
    NEED_BLAS();
    struct { int ra; int64_t da[4]; int rb; int64_t db[4]; } cases[] = {
        {3, {4, 197, 64}, 2, {64, 96}},            /* B shared: one [788, 64] x [64, 96] */
        {3, {1, 197, 64}, 3, {6, 64, 50}},         /* A broadcast over 6 batches */
        {4, {2, 3, 50, 64}, 4, {2, 3, 64, 50}},    /* 6 independent products */
        {3, {2, 300, 80}, 3, {2, 80, 120}},        /* 2 big products on 3 threads: each split */
        {2, {1, 2048}, 2, {2048, 1000}},           /* vector-matrix head */
        {1, {2048}, 2, {2048, 1000}},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        oph h;
        CHECK(matmul(&h, cases[i].ra, cases[i].da, NULL, cases[i].rb, cases[i].db, NULL, 500 + i) == CAM_OK, "%s",
              h.err);
        compare_threads(&h, "MatMul large", i);
        oph_free(&h);
    }
}

TEST(matmul_errors) {
    NEED_BLAS();
    oph h;
    CHECK(matmul(&h, 2, (int64_t[]){3, 4}, NULL, 2, (int64_t[]){5, 2}, NULL, 1) == CAM_EFORMAT, "K mismatch");
    CHECK(strstr(h.err, "MatMul") && strstr(h.err, "test_node"), "message: %s", h.err);
    oph_free(&h);
    CHECK(matmul(&h, 1, (int64_t[]){3}, NULL, 1, (int64_t[]){4}, NULL, 1) == CAM_EFORMAT, "1-D K mismatch");
    oph_free(&h);
    CHECK(matmul(&h, 3, (int64_t[]){2, 3, 4}, NULL, 3, (int64_t[]){3, 4, 2}, NULL, 1) == CAM_EFORMAT,
          "batch 2 vs 3");
    oph_free(&h);
    CHECK(matmul(&h, 0, NULL, NULL, 2, (int64_t[]){1, 2}, NULL, 1) == CAM_EFORMAT, "scalar operand");
    oph_free(&h);
}

int main(void) {
    RUN(gemm_hand);
    RUN(gemm_random);
    RUN(gemm_large);
    RUN(gemm_errors);
    RUN(matmul_hand);
    RUN(matmul_random);
    RUN(matmul_large);
    RUN(matmul_errors);
    return check_summary();
}
