/* test_ops_shape.c: the data movement operators (core/ops/shape.c).
 *
 * Random cases over several seeds compare forward (1 and 2 threads) with
 * reference bit for bit; small hand-written cases pin the reference itself
 * to the ONNX semantics; error cases check that bad models are refused with
 * a status, not a crash. */
#include "ophelp.h"

#include <stdint.h>

/* ops.h declares the op functions weak during bring-up, and weak references
 * do not pull a member out of libcamserve.a: name one strongly so that
 * shape.o is linked and cam__op_find sees its rows. */
cam_status cam__op_Reshape_check(cam__node *n, char *err, size_t errlen);
__attribute__((used)) static cam_status (*const link_shape)(cam__node *, char *, size_t) = cam__op_Reshape_check;

static unsigned rng_state = 12345u;
static void rng_seed(unsigned s) { rng_state = s * 2654435761u + 1u; }
static int64_t rnd(int64_t lo, int64_t hi) {   /* inclusive */
    rng_state = rng_state * 1664525u + 1013904223u;
    return lo + (int64_t)((rng_state >> 8) % (unsigned)(hi - lo + 1));
}

/* dims in [1, maxd], with a fair share of 1s (the simplifier drops them) */
static void rand_dims(int rank, int64_t *d, int64_t maxd) {
    for (int k = 0; k < rank; k++) d[k] = rnd(0, 3) == 0 ? 1 : rnd(1, maxd);
}

static cam__tensor *input_data(oph *h, cam_dtype dt, int rank, const int64_t *d, unsigned seed) {
    if (dt == CAM_FLOAT) return oph_input_rand(h, rank, d, seed);
    cam__tensor *t = oph_add_input(h, CAM_INT64, rank, d);
    for (size_t i = 0; i < t->numel; i++) cam__i64(t)[i] = (int64_t)(i * 7919u) ^ ((int64_t)seed << 40);
    return t;
}

static cam_dtype rand_dtype(void) { return rnd(0, 1) ? CAM_FLOAT : CAM_INT64; }

/* forward with 1 and 2 threads equals reference exactly */
#define EXPECT_SAME(h)                                                                            \
    do {                                                                                          \
        double e1_ = oph_compare((h), 1);                                                         \
        CHECK(e1_ == 0, "1 thread differs from reference (%g)", e1_);                             \
        double e2_ = oph_compare((h), 2);                                                         \
        CHECK(e2_ == 0, "2 threads differ from reference (%g)", e2_);                             \
    } while (0)

#define PREPARE(h, nout)                                                                          \
    do {                                                                                          \
        cam_status st_ = oph_prepare((h), (nout));                                                \
        CHECK(st_ == CAM_OK, "prepare: %s (%s)", (h)->err, cam_status_str(st_));                  \
    } while (0)

/* output o has these dims, and forward and reference both hold v */
static bool dims_are(const cam__tensor *t, int rank, const int64_t *d) {
    if (t->rank != rank) return false;
    for (int k = 0; k < rank; k++)
        if (t->dims[k] != d[k]) return false;
    return true;
}
#define EXPECT_DIMS(h, o, rank, ...)                                                              \
    CHECK(dims_are(&(h)->out_ref[o], rank, (int64_t[]){__VA_ARGS__}), "output %d shape", o)
#define EXPECT_F32(h, o, ...)                                                                     \
    do {                                                                                          \
        const float v_[] = {__VA_ARGS__};                                                         \
        EXPECT_SAME(h);                                                                           \
        CHECK((h)->out_ref[o].numel == sizeof v_ / sizeof v_[0], "numel %zu", (h)->out_ref[o].numel); \
        for (size_t i_ = 0; i_ < sizeof v_ / sizeof v_[0]; i_++)                                  \
            CHECK(cam__f32(&(h)->out_ref[o])[i_] == v_[i_], "ref[%zu] = %g, want %g", i_,          \
                  cam__f32(&(h)->out_ref[o])[i_], v_[i_]);                                        \
    } while (0)
#define EXPECT_I64(h, o, ...)                                                                     \
    do {                                                                                          \
        const int64_t v_[] = {__VA_ARGS__};                                                       \
        EXPECT_SAME(h);                                                                           \
        CHECK((h)->out_ref[o].numel == sizeof v_ / sizeof v_[0], "numel %zu", (h)->out_ref[o].numel); \
        for (size_t i_ = 0; i_ < sizeof v_ / sizeof v_[0]; i_++)                                  \
            CHECK(cam__i64(&(h)->out_ref[o])[i_] == v_[i_], "ref[%zu] = %lld, want %lld", i_,      \
                  (long long)cam__i64(&(h)->out_ref[o])[i_], (long long)v_[i_]);                  \
    } while (0)
#define EXPECT_FAIL(h, nout, status)                                                              \
    do {                                                                                          \
        cam_status st_ = oph_prepare((h), (nout));                                                \
        CHECK(st_ == (status), "got %s, want %s (%s)", cam_status_str(st_), cam_status_str(status), (h)->err); \
        CHECK(strstr((h)->err, "test_node") != NULL, "message does not name the node: %s", (h)->err); \
    } while (0)

static const float seq[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24};
static cam__tensor *input_seq(oph *h, int rank, const int64_t *d) { return oph_input_f32(h, rank, d, seq); }

/* ---- Flatten, Reshape, Squeeze, Unsqueeze ------------------------------- */

TEST(flatten_random) {
    for (unsigned seed = 1; seed <= 40; seed++) {
        rng_seed(seed);
        int rank = (int)rnd(0, 5);
        int64_t d[8];
        rand_dims(rank, d, 6);
        int64_t axis = rnd(-rank, rank);
        oph h;
        oph_init(&h, "Flatten", 13);
        oph_attr_int(&h, "axis", axis);
        input_data(&h, rand_dtype(), rank, d, seed);
        PREPARE(&h, 1);
        int a = (int)(axis < 0 ? axis + rank : axis);
        int64_t lo = 1, hi = 1;
        for (int k = 0; k < rank; k++) *(k < a ? &lo : &hi) *= d[k];
        EXPECT_DIMS(&h, 0, 2, lo, hi);
        EXPECT_SAME(&h);
        oph_free(&h);
    }
}

TEST(flatten_expected) {
    oph h;
    oph_init(&h, "Flatten", 11);
    oph_attr_int(&h, "axis", -1);
    input_seq(&h, 3, (int64_t[]){2, 3, 2});
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 2, 6, 2);
    EXPECT_F32(&h, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
    oph_free(&h);
    oph_init(&h, "Flatten", 1);   /* default axis 1 */
    input_seq(&h, 3, (int64_t[]){2, 3, 2});
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 2, 2, 6);
    oph_free(&h);
    oph_init(&h, "Flatten", 13);
    oph_attr_int(&h, "axis", 4);
    input_seq(&h, 3, (int64_t[]){2, 3, 2});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
}

TEST(reshape_expected) {
    oph h;
    /* 0 copies the input dim, -1 is inferred */
    oph_init(&h, "Reshape", 13);
    input_seq(&h, 3, (int64_t[]){2, 3, 4});
    oph_input_const_i64(&h, 1, (int64_t[]){3}, (int64_t[]){0, -1, 2});
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 3, 2, 6, 2);
    EXPECT_F32(&h, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24);
    oph_free(&h);
    /* allowzero: 0 is a real zero */
    oph_init(&h, "Reshape", 14);
    oph_attr_int(&h, "allowzero", 1);
    input_data(&h, CAM_FLOAT, 3, (int64_t[]){0, 3, 4}, 1);
    oph_input_const_i64(&h, 1, (int64_t[]){3}, (int64_t[]){3, 4, 0});
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 3, 3, 4, 0);
    EXPECT_SAME(&h);
    oph_free(&h);
    /* to a scalar, and the opset 1 attribute form */
    oph_init(&h, "Reshape", 13);
    input_seq(&h, 2, (int64_t[]){1, 1});
    oph_input_const_i64(&h, 1, (int64_t[]){0}, (int64_t[]){0});
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 0, 0);
    EXPECT_F32(&h, 0, 1);
    oph_free(&h);
    oph_init(&h, "Reshape", 1);
    oph_attr_ints(&h, "shape", (int64_t[]){-1, 4}, 2);
    input_data(&h, CAM_INT64, 3, (int64_t[]){2, 3, 4}, 2);
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 2, 6, 4);
    EXPECT_SAME(&h);
    oph_free(&h);
}

TEST(reshape_errors) {
    static const struct { int64_t shape[3]; int n; int64_t allowzero; cam_status st; } cases[] = {
        {{5, 5}, 2, 0, CAM_EFORMAT},        /* wrong numel */
        {{-1, -1}, 2, 0, CAM_EFORMAT},      /* two -1 */
        {{-2, 12}, 2, 0, CAM_EFORMAT},      /* below -1 */
        {{5, -1}, 2, 0, CAM_EFORMAT},       /* 24 is not a multiple of 5 */
        {{0, 0, 0, }, 3, 1, CAM_EFORMAT},   /* allowzero: 0 elements != 24 */
        {{0, -1}, 2, 1, CAM_EFORMAT},       /* allowzero with 0 and -1 */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        oph h;
        oph_init(&h, "Reshape", 14);
        oph_attr_int(&h, "allowzero", cases[c].allowzero);
        input_seq(&h, 3, (int64_t[]){2, 3, 4});
        oph_input_const_i64(&h, 1, (int64_t[]){cases[c].n}, cases[c].shape);
        EXPECT_FAIL(&h, 1, cases[c].st);
        oph_free(&h);
    }
    oph h;
    oph_init(&h, "Reshape", 14);
    input_seq(&h, 3, (int64_t[]){2, 3, 4});
    oph_input_const_i64(&h, 1, (int64_t[]){3}, (int64_t[]){2, 3, 0});   /* 0 copies dim 2 */
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 3, 2, 3, 4);
    oph_free(&h);
    /* a shape computed at run time is not supported */
    oph_init(&h, "Reshape", 13);
    input_seq(&h, 3, (int64_t[]){2, 3, 4});
    oph_input_i64(&h, 1, (int64_t[]){2}, (int64_t[]){6, 4});
    EXPECT_FAIL(&h, 1, CAM_EUNSUPPORTED);
    CHECK(strstr(h.err, "constant") != NULL, "%s", h.err);
    oph_free(&h);
    /* float shape tensor */
    oph_init(&h, "Reshape", 13);
    input_seq(&h, 3, (int64_t[]){2, 3, 4});
    oph_input_const_f32(&h, 1, (int64_t[]){2}, (float[]){6, 4});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
}

TEST(reshape_random) {
    for (unsigned seed = 1; seed <= 30; seed++) {
        rng_seed(seed);
        int rank = (int)rnd(1, 5);
        int64_t d[8], s[8];
        rand_dims(rank, d, 5);
        /* new shape: the input dims shuffled into a different rank, one as -1 */
        int nr = (int)rnd(1, 4);
        for (int k = 0; k < nr; k++) s[k] = 1;
        for (int k = 0; k < rank; k++) s[rnd(0, nr - 1)] *= d[k];
        s[rnd(0, nr - 1)] = -1;
        oph h;
        oph_init(&h, "Reshape", 13);
        input_data(&h, rand_dtype(), rank, d, seed);
        oph_input_const_i64(&h, 1, (int64_t[]){nr}, s);
        PREPARE(&h, 1);
        CHECK(h.out_ref[0].numel == h.in[0]->numel, "numel");
        EXPECT_SAME(&h);
        oph_free(&h);
    }
    /* large enough for the parallel copy */
    oph h;
    oph_init(&h, "Reshape", 13);
    input_data(&h, CAM_FLOAT, 2, (int64_t[]){300, 1000}, 3);
    oph_input_const_i64(&h, 1, (int64_t[]){2}, (int64_t[]){1000, -1});
    PREPARE(&h, 1);
    EXPECT_SAME(&h);
    oph_free(&h);
}

TEST(squeeze_unsqueeze) {
    oph h;
    /* no axes: all 1-dims go */
    oph_init(&h, "Squeeze", 13);
    input_seq(&h, 4, (int64_t[]){1, 3, 1, 2});
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 2, 3, 2);
    EXPECT_F32(&h, 0, 1, 2, 3, 4, 5, 6);
    oph_free(&h);
    /* negative axis, input form */
    oph_init(&h, "Squeeze", 13);
    input_seq(&h, 4, (int64_t[]){1, 3, 1, 2});
    oph_input_const_i64(&h, 1, (int64_t[]){1}, (int64_t[]){-2});
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 3, 1, 3, 2);
    oph_free(&h);
    /* attribute form (opset 11) */
    oph_init(&h, "Squeeze", 11);
    oph_attr_ints(&h, "axes", (int64_t[]){0}, 1);
    input_data(&h, CAM_INT64, 4, (int64_t[]){1, 3, 1, 2}, 4);
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 3, 3, 1, 2);
    EXPECT_SAME(&h);
    oph_free(&h);
    /* squeezing a dim that is not 1 */
    oph_init(&h, "Squeeze", 13);
    input_seq(&h, 4, (int64_t[]){1, 3, 1, 2});
    oph_input_const_i64(&h, 1, (int64_t[]){1}, (int64_t[]){1});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
    /* runtime axes */
    oph_init(&h, "Squeeze", 13);
    input_seq(&h, 4, (int64_t[]){1, 3, 1, 2});
    oph_input_i64(&h, 1, (int64_t[]){1}, (int64_t[]){0});
    EXPECT_FAIL(&h, 1, CAM_EUNSUPPORTED);
    oph_free(&h);
    /* Unsqueeze: axes index the output, unsorted and negative */
    oph_init(&h, "Unsqueeze", 13);
    input_seq(&h, 2, (int64_t[]){3, 2});
    oph_input_const_i64(&h, 1, (int64_t[]){3}, (int64_t[]){-1, 0, 2});
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 5, 1, 3, 1, 2, 1);
    EXPECT_F32(&h, 0, 1, 2, 3, 4, 5, 6);
    oph_free(&h);
    oph_init(&h, "Unsqueeze", 11);
    oph_attr_ints(&h, "axes", (int64_t[]){0}, 1);
    input_seq(&h, 0, NULL);
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 1, 1);
    EXPECT_F32(&h, 0, 1);
    oph_free(&h);
    /* repeated axis, axis out of range, missing axes input */
    oph_init(&h, "Unsqueeze", 13);
    input_seq(&h, 2, (int64_t[]){3, 2});
    oph_input_const_i64(&h, 1, (int64_t[]){2}, (int64_t[]){1, -3});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
    oph_init(&h, "Unsqueeze", 13);
    input_seq(&h, 2, (int64_t[]){3, 2});
    oph_input_const_i64(&h, 1, (int64_t[]){1}, (int64_t[]){3});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
    oph_init(&h, "Unsqueeze", 13);
    input_seq(&h, 2, (int64_t[]){3, 2});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
}

TEST(squeeze_unsqueeze_random) {
    for (unsigned seed = 1; seed <= 30; seed++) {
        rng_seed(seed);
        int rank = (int)rnd(0, 5), na = (int)rnd(1, 3);
        int64_t d[8], axes[8];
        rand_dims(rank, d, 5);
        bool used[8] = {false};
        for (int i = 0; i < na; i++) {
            int64_t a;
            do a = rnd(0, rank + na - 1); while (used[a]);
            used[a] = true;
            axes[i] = rnd(0, 1) ? a : a - (rank + na);
        }
        oph h;
        oph_init(&h, "Unsqueeze", 13);
        input_data(&h, rand_dtype(), rank, d, seed);
        oph_input_const_i64(&h, 1, (int64_t[]){na}, axes);
        PREPARE(&h, 1);
        CHECK(h.out_ref[0].rank == rank + na, "rank");
        for (int k = 0; k < rank + na; k++)
            if (used[k]) CHECK(h.out_ref[0].dims[k] == 1, "dim %d", k);
        EXPECT_SAME(&h);
        /* squeezing the same axes gives the input shape back */
        oph s;
        oph_init(&s, "Squeeze", 13);
        input_data(&s, CAM_FLOAT, h.out_ref[0].rank, h.out_ref[0].dims, seed);
        oph_input_const_i64(&s, 1, (int64_t[]){na}, axes);
        PREPARE(&s, 1);
        CHECK(dims_are(&s.out_ref[0], rank, d), "squeeze(unsqueeze(x)) shape");
        EXPECT_SAME(&s);
        oph_free(&s);
        oph_free(&h);
    }
}

/* ---- Transpose ---------------------------------------------------------- */

TEST(transpose_expected) {
    oph h;
    oph_init(&h, "Transpose", 13);   /* default perm reverses: 2x3 -> 3x2 */
    input_seq(&h, 2, (int64_t[]){2, 3});
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 2, 3, 2);
    EXPECT_F32(&h, 0, 1, 4, 2, 5, 3, 6);
    oph_free(&h);
    oph_init(&h, "Transpose", 13);
    oph_attr_ints(&h, "perm", (int64_t[]){1, 2, 0}, 3);
    input_seq(&h, 3, (int64_t[]){2, 2, 3});
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 3, 2, 3, 2);
    EXPECT_F32(&h, 0, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11, 6, 12);
    oph_free(&h);
    oph_init(&h, "Transpose", 13);
    oph_attr_ints(&h, "perm", (int64_t[]){0, 0}, 2);
    input_seq(&h, 2, (int64_t[]){2, 3});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
    oph_init(&h, "Transpose", 13);
    oph_attr_ints(&h, "perm", (int64_t[]){0, 1, 2}, 3);
    input_seq(&h, 2, (int64_t[]){2, 3});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
}

static void shuffle_perm(int64_t *perm, int r) {
    for (int k = 0; k < r; k++) perm[k] = k;
    for (int k = r - 1; k > 0; k--) {
        int j = (int)rnd(0, k);
        int64_t t = perm[k]; perm[k] = perm[j]; perm[j] = t;
    }
}

TEST(transpose_random) {
    for (unsigned seed = 1; seed <= 60; seed++) {
        rng_seed(seed);
        int rank = (int)rnd(1, 6);
        int64_t d[8], perm[8];
        rand_dims(rank, d, rank <= 3 ? 40 : 7);
        shuffle_perm(perm, rank);
        oph h;
        oph_init(&h, "Transpose", 13);
        oph_attr_ints(&h, "perm", perm, rank);
        input_data(&h, rand_dtype(), rank, d, seed);
        PREPARE(&h, 1);
        for (int k = 0; k < rank; k++) CHECK(h.out_ref[0].dims[k] == d[perm[k]], "dim %d", k);
        EXPECT_SAME(&h);
        oph_free(&h);
    }
    /* the shapes CNN exports use, large enough to run in parallel */
    static const struct { int64_t d[4]; int64_t perm[4]; } big[] = {
        {{2, 37, 29, 31}, {0, 2, 3, 1}},   /* NCHW -> NHWC */
        {{2, 29, 31, 37}, {0, 3, 1, 2}},   /* NHWC -> NCHW */
        {{1, 3, 224, 224}, {0, 2, 3, 1}},  /* an image's 3 channels */
        {{4, 16, 33, 65}, {1, 0, 2, 3}},   /* contiguous rows */
        {{3, 70, 5, 90}, {3, 2, 1, 0}},
    };
    for (size_t c = 0; c < sizeof big / sizeof big[0]; c++)
        for (int dt = 0; dt < 2; dt++) {
            oph h;
            oph_init(&h, "Transpose", 21);
            oph_attr_ints(&h, "perm", big[c].perm, 4);
            input_data(&h, dt ? CAM_INT64 : CAM_FLOAT, 4, big[c].d, (unsigned)c);
            PREPARE(&h, 1);
            EXPECT_SAME(&h);
            oph_free(&h);
        }
}

/* ---- Concat, Split ------------------------------------------------------ */

TEST(concat_expected) {
    oph h;
    oph_init(&h, "Concat", 13);
    oph_attr_int(&h, "axis", -1);
    oph_input_f32(&h, 2, (int64_t[]){2, 1}, (float[]){1, 2});
    oph_input_f32(&h, 2, (int64_t[]){2, 2}, (float[]){3, 4, 5, 6});
    oph_input_f32(&h, 2, (int64_t[]){2, 0}, seq);
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 2, 2, 3);
    EXPECT_F32(&h, 0, 1, 3, 4, 2, 5, 6);
    oph_free(&h);
    /* shape arithmetic: int64 1-D vectors */
    oph_init(&h, "Concat", 13);
    oph_attr_int(&h, "axis", 0);
    oph_input_i64(&h, 1, (int64_t[]){1}, (int64_t[]){-1});
    oph_input_i64(&h, 1, (int64_t[]){2}, (int64_t[]){7, 8});
    PREPARE(&h, 1);
    EXPECT_I64(&h, 0, -1, 7, 8);
    oph_free(&h);
}

TEST(concat_errors) {
    oph h;
    oph_init(&h, "Concat", 13);
    oph_attr_int(&h, "axis", 1);
    input_seq(&h, 2, (int64_t[]){2, 3});
    input_seq(&h, 2, (int64_t[]){3, 3});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
    oph_init(&h, "Concat", 13);
    oph_attr_int(&h, "axis", 0);
    input_seq(&h, 2, (int64_t[]){2, 3});
    input_seq(&h, 1, (int64_t[]){3});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
    oph_init(&h, "Concat", 13);
    oph_attr_int(&h, "axis", 0);
    input_seq(&h, 1, (int64_t[]){3});
    oph_input_i64(&h, 1, (int64_t[]){3}, (int64_t[]){1, 2, 3});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
    oph_init(&h, "Concat", 13);   /* axis is required */
    input_seq(&h, 1, (int64_t[]){3});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
    oph_init(&h, "Concat", 13);
    oph_attr_int(&h, "axis", 2);
    input_seq(&h, 2, (int64_t[]){2, 3});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
    oph_init(&h, "Concat", 13);   /* an attribute of the wrong type is not a default */
    oph_attr_float(&h, "axis", 1);
    input_seq(&h, 2, (int64_t[]){2, 3});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
}

TEST(concat_random) {
    for (unsigned seed = 1; seed <= 50; seed++) {
        rng_seed(seed);
        int rank = (int)rnd(1, 5), nin = (int)rnd(1, 6);
        int64_t d[8];
        bool big = seed % 10 == 0;
        rand_dims(rank, d, big ? 30 : 6);
        int64_t axis = rnd(-rank, rank - 1);
        int a = (int)(axis < 0 ? axis + rank : axis);
        cam_dtype dt = rand_dtype();
        oph h;
        oph_init(&h, "Concat", 13);
        oph_attr_int(&h, "axis", axis);
        int64_t total = 0;
        for (int i = 0; i < nin; i++) {
            d[a] = rnd(0, big ? 20 : 4);
            total += d[a];
            input_data(&h, dt, rank, d, seed * 16 + (unsigned)i);
        }
        PREPARE(&h, 1);
        CHECK(h.out_ref[0].dims[a] == total, "axis dim");
        EXPECT_SAME(&h);
        oph_free(&h);
    }
}

TEST(split_expected) {
    oph h;
    /* sizes as an input (opset 13) */
    oph_init(&h, "Split", 13);
    oph_attr_int(&h, "axis", 1);
    input_seq(&h, 2, (int64_t[]){2, 3});
    oph_input_const_i64(&h, 1, (int64_t[]){2}, (int64_t[]){1, 2});
    PREPARE(&h, 2);
    EXPECT_DIMS(&h, 0, 2, 2, 1);
    EXPECT_DIMS(&h, 1, 2, 2, 2);
    EXPECT_F32(&h, 0, 1, 4);
    EXPECT_F32(&h, 1, 2, 3, 5, 6);
    oph_free(&h);
    /* attribute (opset 11), negative axis, zero-size part */
    oph_init(&h, "Split", 11);
    oph_attr_int(&h, "axis", -1);
    oph_attr_ints(&h, "split", (int64_t[]){2, 0, 1}, 3);
    input_seq(&h, 2, (int64_t[]){2, 3});
    PREPARE(&h, 3);
    EXPECT_F32(&h, 0, 1, 2, 4, 5);
    EXPECT_DIMS(&h, 1, 2, 2, 0);
    EXPECT_F32(&h, 2, 3, 6);
    oph_free(&h);
    /* equal parts by output count */
    oph_init(&h, "Split", 13);
    input_seq(&h, 1, (int64_t[]){6});
    PREPARE(&h, 3);
    EXPECT_F32(&h, 0, 1, 2);
    EXPECT_F32(&h, 2, 5, 6);
    oph_free(&h);
    /* opset 18 num_outputs: ceil-sized chunks, smaller last */
    oph_init(&h, "Split", 18);
    oph_attr_int(&h, "num_outputs", 3);
    input_seq(&h, 1, (int64_t[]){7});
    PREPARE(&h, 3);
    EXPECT_F32(&h, 0, 1, 2, 3);
    EXPECT_F32(&h, 1, 4, 5, 6);
    EXPECT_F32(&h, 2, 7);
    oph_free(&h);
    /* errors: sizes not summing to the axis; uneven equal split; runtime sizes */
    oph_init(&h, "Split", 13);
    input_seq(&h, 1, (int64_t[]){6});
    oph_input_const_i64(&h, 1, (int64_t[]){2}, (int64_t[]){2, 3});
    EXPECT_FAIL(&h, 2, CAM_EFORMAT);
    oph_free(&h);
    oph_init(&h, "Split", 13);
    input_seq(&h, 1, (int64_t[]){7});
    EXPECT_FAIL(&h, 2, CAM_EFORMAT);
    oph_free(&h);
    oph_init(&h, "Split", 13);
    input_seq(&h, 1, (int64_t[]){6});
    oph_input_i64(&h, 1, (int64_t[]){2}, (int64_t[]){3, 3});
    EXPECT_FAIL(&h, 2, CAM_EUNSUPPORTED);
    oph_free(&h);
    oph_init(&h, "Split", 18);
    oph_attr_int(&h, "num_outputs", 3);
    input_seq(&h, 1, (int64_t[]){6});
    EXPECT_FAIL(&h, 2, CAM_EFORMAT);
    oph_free(&h);
}

TEST(split_random) {
    for (unsigned seed = 1; seed <= 50; seed++) {
        rng_seed(seed);
        int rank = (int)rnd(1, 5), nout = (int)rnd(1, 6);
        int64_t d[8], sizes[8];
        bool big = seed % 10 == 0;
        rand_dims(rank, d, big ? 30 : 6);
        int64_t axis = rnd(-rank, rank - 1);
        int a = (int)(axis < 0 ? axis + rank : axis);
        d[a] = 0;
        for (int i = 0; i < nout; i++) d[a] += sizes[i] = rnd(0, big ? 20 : 4);
        int form = (int)rnd(0, 2);   /* input, attribute, num_outputs */
        oph h;
        oph_init(&h, "Split", form == 0 ? 13 : form == 1 ? 11 : 18);
        oph_attr_int(&h, "axis", axis);
        if (form == 2) {
            oph_attr_int(&h, "num_outputs", nout);
            /* ceil-sized chunks; where the last would be negative use an even split */
            d[a] = rnd(0, 4 * nout);
            int64_t chunk = (d[a] + nout - 1) / nout;
            if (d[a] - chunk * (nout - 1) < 0) d[a] = chunk * nout;
        }
        if (form == 1) oph_attr_ints(&h, "split", sizes, nout);
        input_data(&h, rand_dtype(), rank, d, seed);
        if (form == 0) oph_input_const_i64(&h, 1, (int64_t[]){nout}, sizes);
        PREPARE(&h, nout);
        int64_t sum = 0;
        for (int i = 0; i < nout; i++) sum += h.out_ref[i].dims[a];
        CHECK(sum == d[a], "parts cover the axis");
        EXPECT_SAME(&h);
        oph_free(&h);
    }
}

/* ---- Slice -------------------------------------------------------------- */

static void slice_case(oph *h, int64_t opset, int n, const int64_t *starts, const int64_t *ends,
                       const int64_t *axes, const int64_t *steps) {
    if (opset < 10) {
        oph_attr_ints(h, "starts", starts, n);
        oph_attr_ints(h, "ends", ends, n);
        if (axes) oph_attr_ints(h, "axes", axes, n);
        return;
    }
    oph_input_const_i64(h, 1, (int64_t[]){n}, starts);
    oph_input_const_i64(h, 1, (int64_t[]){n}, ends);
    if (axes || steps) {
        if (axes) oph_input_const_i64(h, 1, (int64_t[]){n}, axes);
        else oph_input_none(h);
    }
    if (steps) oph_input_const_i64(h, 1, (int64_t[]){n}, steps);
}

TEST(slice_expected) {
    oph h;
    /* negative step from the end: x[2, ::-1] on a 3x4 */
    oph_init(&h, "Slice", 13);
    input_seq(&h, 2, (int64_t[]){3, 4});
    slice_case(&h, 13, 2, (int64_t[]){2, -1}, (int64_t[]){3, INT64_MIN}, NULL, (int64_t[]){1, -1});
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 2, 1, 4);
    EXPECT_F32(&h, 0, 12, 11, 10, 9);
    oph_free(&h);
    /* step 2 over clamped bounds, negative axis */
    oph_init(&h, "Slice", 13);
    input_seq(&h, 2, (int64_t[]){3, 4});
    slice_case(&h, 13, 1, (int64_t[]){-100}, (int64_t[]){INT64_MAX}, (int64_t[]){-1}, (int64_t[]){2});
    PREPARE(&h, 1);
    EXPECT_F32(&h, 0, 1, 3, 5, 7, 9, 11);
    oph_free(&h);
    /* negative step -2 from an out-of-range start */
    oph_init(&h, "Slice", 13);
    input_seq(&h, 1, (int64_t[]){7});
    slice_case(&h, 13, 1, (int64_t[]){100}, (int64_t[]){0}, NULL, (int64_t[]){-2});
    PREPARE(&h, 1);
    EXPECT_F32(&h, 0, 7, 5, 3);
    oph_free(&h);
    /* empty: start after end */
    oph_init(&h, "Slice", 13);
    input_seq(&h, 1, (int64_t[]){7});
    slice_case(&h, 13, 1, (int64_t[]){5}, (int64_t[]){2}, NULL, NULL);
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 1, 0);
    EXPECT_SAME(&h);
    oph_free(&h);
    /* opset 1 attributes */
    oph_init(&h, "Slice", 1);
    input_seq(&h, 2, (int64_t[]){3, 4});
    slice_case(&h, 1, 2, (int64_t[]){1, 1}, (int64_t[]){1000, 3}, (int64_t[]){0, 1}, NULL);
    PREPARE(&h, 1);
    EXPECT_F32(&h, 0, 6, 7, 10, 11);
    oph_free(&h);
    /* errors: step 0, repeated axis, runtime starts */
    oph_init(&h, "Slice", 13);
    input_seq(&h, 1, (int64_t[]){7});
    slice_case(&h, 13, 1, (int64_t[]){0}, (int64_t[]){3}, NULL, (int64_t[]){0});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
    oph_init(&h, "Slice", 13);
    input_seq(&h, 2, (int64_t[]){3, 4});
    slice_case(&h, 13, 2, (int64_t[]){0, 0}, (int64_t[]){1, 1}, (int64_t[]){1, -1}, NULL);
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
    oph_init(&h, "Slice", 13);
    input_seq(&h, 1, (int64_t[]){7});
    oph_input_i64(&h, 1, (int64_t[]){1}, (int64_t[]){1});
    oph_input_const_i64(&h, 1, (int64_t[]){1}, (int64_t[]){3});
    EXPECT_FAIL(&h, 1, CAM_EUNSUPPORTED);
    oph_free(&h);
}

/* a start or end, including far out-of-range and the INT64 extremes */
static int64_t rand_bound(int64_t dim) {
    switch (rnd(0, 9)) {
    case 0: return INT64_MAX;
    case 1: return INT64_MIN;
    case 2: return rnd(-3 * dim - 3, -dim - 1);
    default: return rnd(-dim - 1, dim + 1);
    }
}

TEST(slice_random) {
    for (unsigned seed = 1; seed <= 80; seed++) {
        rng_seed(seed);
        int rank = (int)rnd(1, 5);
        int64_t d[8], starts[8], ends[8], axes[8], steps[8];
        bool big = seed % 10 == 0;
        rand_dims(rank, d, big ? 40 : 7);
        int64_t opset = rnd(0, 3) ? 13 : 9;
        int m = (int)rnd(1, rank);
        shuffle_perm(axes, rank);
        for (int i = 0; i < m; i++) {
            int64_t dim = d[axes[i]];
            if (rnd(0, 1)) axes[i] -= rank;
            starts[i] = rand_bound(dim);
            ends[i] = rand_bound(dim);
            static const int64_t st[] = {1, 1, 2, 3, -1, -1, -2, -3, 1000, INT64_MIN, INT64_MAX};
            steps[i] = opset < 10 ? 1 : st[rnd(0, 10)];
        }
        oph h;
        oph_init(&h, "Slice", opset);
        input_data(&h, rand_dtype(), rank, d, seed);
        slice_case(&h, opset, m, starts, ends, rnd(0, 3) ? axes : NULL, opset < 10 ? NULL : steps);
        PREPARE(&h, 1);
        EXPECT_SAME(&h);
        oph_free(&h);
    }
    /* the shapes a model slices: channel ranges and strided spatial dims */
    static const struct { int64_t st, en, ax, step; } big[] = {
        {8, 40, 1, 1}, {1, INT64_MAX, 2, 2}, {-1, INT64_MIN, 3, -1}, {0, 64, 3, 3},
    };
    for (size_t c = 0; c < sizeof big / sizeof big[0]; c++) {
        oph h;
        oph_init(&h, "Slice", 13);
        input_data(&h, c % 2 ? CAM_INT64 : CAM_FLOAT, 4, (int64_t[]){2, 48, 30, 64}, (unsigned)c);
        slice_case(&h, 13, 1, &big[c].st, &big[c].en, &big[c].ax, &big[c].step);
        PREPARE(&h, 1);
        EXPECT_SAME(&h);
        oph_free(&h);
    }
}

/* ---- Pad ---------------------------------------------------------------- */

TEST(pad_expected) {
    oph h;
    /* negative pads crop, positive pads add the constant */
    oph_init(&h, "Pad", 13);
    input_seq(&h, 2, (int64_t[]){3, 4});
    oph_input_const_i64(&h, 1, (int64_t[]){4}, (int64_t[]){-1, 1, 0, -2});
    oph_input_const_f32(&h, 0, NULL, (float[]){9});
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 2, 2, 3);
    EXPECT_F32(&h, 0, 9, 5, 6, 9, 9, 10);
    oph_free(&h);
    /* opset 2 attributes */
    oph_init(&h, "Pad", 2);
    oph_attr_ints(&h, "pads", (int64_t[]){0, 1, 0, 2}, 4);
    oph_attr_float(&h, "value", -1);
    input_seq(&h, 2, (int64_t[]){1, 2});
    PREPARE(&h, 1);
    EXPECT_F32(&h, 0, -1, 1, 2, -1, -1);
    oph_free(&h);
    /* the non-constant modes, as numpy.pad */
    static const struct { const char *mode; float want[7]; } modes[] = {
        {"edge", {1, 1, 1, 2, 3, 3, 3}},
        {"reflect", {3, 2, 1, 2, 3, 2, 1}},
        {"wrap", {2, 3, 1, 2, 3, 1, 2}},
    };
    for (int m = 0; m < 3; m++) {
        oph_init(&h, "Pad", 19);
        oph_attr_string(&h, "mode", modes[m].mode);
        input_seq(&h, 1, (int64_t[]){3});
        oph_input_const_i64(&h, 1, (int64_t[]){2}, (int64_t[]){2, 2});
        PREPARE(&h, 1);
        EXPECT_SAME(&h);
        for (int i = 0; i < 7; i++)
            CHECK(cam__f32(&h.out_ref[0])[i] == modes[m].want[i], "%s [%d] = %g", modes[m].mode, i,
                  cam__f32(&h.out_ref[0])[i]);
        oph_free(&h);
    }
    /* reflect further than the axis: numpy's periodic reflection */
    oph_init(&h, "Pad", 13);
    oph_attr_string(&h, "mode", "reflect");
    input_seq(&h, 1, (int64_t[]){3});
    oph_input_const_i64(&h, 1, (int64_t[]){2}, (int64_t[]){5, 0});
    PREPARE(&h, 1);
    EXPECT_F32(&h, 0, 2, 1, 2, 3, 2, 1, 2, 3);
    oph_free(&h);
    /* opset 18 axes */
    oph_init(&h, "Pad", 18);
    input_seq(&h, 2, (int64_t[]){2, 2});
    oph_input_const_i64(&h, 1, (int64_t[]){2}, (int64_t[]){1, 0});
    oph_input_none(&h);
    oph_input_const_i64(&h, 1, (int64_t[]){1}, (int64_t[]){-1});
    PREPARE(&h, 1);
    EXPECT_F32(&h, 0, 0, 1, 2, 0, 3, 4);
    oph_free(&h);
    /* errors: unknown mode, wrong pads count, cropping more than the axis, runtime pads */
    oph_init(&h, "Pad", 13);
    oph_attr_string(&h, "mode", "mirror");
    input_seq(&h, 1, (int64_t[]){3});
    oph_input_const_i64(&h, 1, (int64_t[]){2}, (int64_t[]){1, 1});
    EXPECT_FAIL(&h, 1, CAM_EUNSUPPORTED);
    oph_free(&h);
    oph_init(&h, "Pad", 13);
    input_seq(&h, 2, (int64_t[]){3, 1});
    oph_input_const_i64(&h, 1, (int64_t[]){2}, (int64_t[]){1, 1});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
    oph_init(&h, "Pad", 13);
    input_seq(&h, 1, (int64_t[]){3});
    oph_input_const_i64(&h, 1, (int64_t[]){2}, (int64_t[]){-2, -2});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
    oph_init(&h, "Pad", 13);
    input_seq(&h, 1, (int64_t[]){3});
    oph_input_i64(&h, 1, (int64_t[]){2}, (int64_t[]){1, 1});
    EXPECT_FAIL(&h, 1, CAM_EUNSUPPORTED);
    oph_free(&h);
    oph_init(&h, "Pad", 13);   /* float data only */
    oph_input_i64(&h, 1, (int64_t[]){3}, (int64_t[]){1, 2, 3});
    oph_input_const_i64(&h, 1, (int64_t[]){2}, (int64_t[]){1, 1});
    EXPECT_FAIL(&h, 1, CAM_EUNSUPPORTED);
    oph_free(&h);
    oph_init(&h, "Pad", 13);   /* edge padding of an axis cropped to nothing */
    oph_attr_string(&h, "mode", "edge");
    input_seq(&h, 1, (int64_t[]){2});
    oph_input_const_i64(&h, 1, (int64_t[]){2}, (int64_t[]){-2, 1});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
}

TEST(pad_random) {
    static const char *modes[] = {"constant", "constant", "edge", "reflect", "wrap"};
    for (unsigned seed = 1; seed <= 60; seed++) {
        rng_seed(seed);
        int rank = (int)rnd(1, 4);
        int64_t d[8], pads[16];
        bool big = seed % 10 == 0;
        rand_dims(rank, d, big ? 60 : 6);
        int mode = (int)rnd(0, 4);
        for (int k = 0; k < rank; k++) {
            /* the cropped extent stays >= 1 for the modes that replicate */
            int64_t keep = mode >= 2 ? 1 : 0;
            pads[k] = rnd(-(d[k] - keep), 3);
            int64_t left = d[k] - (pads[k] < 0 ? -pads[k] : 0);
            pads[k + rank] = rnd(-(left - keep), 3);
        }
        oph h;
        oph_init(&h, "Pad", 19);
        oph_attr_string(&h, "mode", modes[mode]);
        input_data(&h, CAM_FLOAT, rank, d, seed);
        oph_input_const_i64(&h, 1, (int64_t[]){2 * rank}, pads);
        oph_input_const_f32(&h, 0, NULL, (float[]){0.5f});
        PREPARE(&h, 1);
        for (int k = 0; k < rank; k++)
            CHECK(h.out_ref[0].dims[k] == d[k] + pads[k] + pads[k + rank], "dim %d", k);
        EXPECT_SAME(&h);
        oph_free(&h);
    }
}

/* ---- Shape, Gather, Constant -------------------------------------------- */

TEST(shape_expected) {
    static const struct { int64_t opset, start, end; bool has_start, has_end; int64_t want[4]; int n; } cases[] = {
        {13, 0, 0, false, false, {2, 3, 4, 5}, 4},
        {15, 1, -1, true, true, {3, 4}, 2},
        {15, -10, 10, true, true, {2, 3, 4, 5}, 4},
        {15, -1, 0, true, false, {5}, 1},
        {15, 3, 1, true, true, {0}, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        oph h;
        oph_init(&h, "Shape", cases[c].opset);
        if (cases[c].has_start) oph_attr_int(&h, "start", cases[c].start);
        if (cases[c].has_end) oph_attr_int(&h, "end", cases[c].end);
        input_data(&h, CAM_FLOAT, 4, (int64_t[]){2, 3, 4, 5}, 1);
        PREPARE(&h, 1);
        CHECK(h.out_ref[0].dtype == CAM_INT64 && h.out_ref[0].rank == 1, "int64 1-D");
        CHECK(h.out_ref[0].numel == (size_t)cases[c].n, "case %zu: %zu values", c, h.out_ref[0].numel);
        EXPECT_SAME(&h);
        for (int i = 0; i < cases[c].n; i++)
            CHECK(cam__i64(&h.out_ref[0])[i] == cases[c].want[i], "case %zu [%d]", c, i);
        oph_free(&h);
    }
    CHECK(cam__op_find("Shape", 15)->flags & CAM__OP_SHAPE_ONLY, "Shape is folded from shapes");
}

TEST(gather_expected) {
    oph h;
    /* axis 1 with a 2-D index tensor and a negative index */
    oph_init(&h, "Gather", 13);
    oph_attr_int(&h, "axis", 1);
    input_seq(&h, 2, (int64_t[]){2, 3});
    oph_input_i64(&h, 2, (int64_t[]){1, 2}, (int64_t[]){2, -3});
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 3, 2, 1, 2);
    EXPECT_F32(&h, 0, 3, 1, 6, 4);
    oph_free(&h);
    /* scalar index into a shape vector: a scalar out */
    oph_init(&h, "Gather", 13);
    oph_input_i64(&h, 1, (int64_t[]){4}, (int64_t[]){1, 3, 224, 224});
    oph_input_const_i64(&h, 0, NULL, (int64_t[]){-3});
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 0, 0);
    EXPECT_I64(&h, 0, 3);
    oph_free(&h);
    /* a runtime index out of range reads nothing: zeros */
    oph_init(&h, "Gather", 13);
    input_seq(&h, 2, (int64_t[]){3, 2});
    oph_input_i64(&h, 1, (int64_t[]){3}, (int64_t[]){1, 3, -4});
    PREPARE(&h, 1);
    EXPECT_F32(&h, 0, 3, 4, 0, 0, 0, 0);
    oph_free(&h);
    /* a constant index out of range is refused */
    oph_init(&h, "Gather", 13);
    input_seq(&h, 2, (int64_t[]){3, 2});
    oph_input_const_i64(&h, 1, (int64_t[]){1}, (int64_t[]){3});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
    oph_init(&h, "Gather", 13);
    oph_attr_int(&h, "axis", 2);
    input_seq(&h, 2, (int64_t[]){3, 2});
    oph_input_const_i64(&h, 1, (int64_t[]){1}, (int64_t[]){0});
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
}

TEST(gather_random) {
    for (unsigned seed = 1; seed <= 50; seed++) {
        rng_seed(seed);
        int rank = (int)rnd(1, 4), qr = (int)rnd(0, 2);
        int64_t d[8], qd[8], idx[64];
        bool big = seed % 10 == 0;
        rand_dims(rank, d, big ? 50 : 6);
        rand_dims(qr, qd, 4);
        int64_t axis = rnd(-rank, rank - 1);
        int a = (int)(axis < 0 ? axis + rank : axis);
        int64_t nq = 1;
        for (int k = 0; k < qr; k++) nq *= qd[k];
        for (int64_t i = 0; i < nq; i++) idx[i] = rnd(-d[a], d[a] - 1);
        if (seed % 7 == 0) idx[0] = d[a] + 5;   /* runtime out of range */
        oph h;
        oph_init(&h, "Gather", 13);
        oph_attr_int(&h, "axis", axis);
        input_data(&h, rand_dtype(), rank, d, seed);
        if (seed % 3 == 0 && seed % 7) oph_input_const_i64(&h, qr, qd, idx);
        else oph_input_i64(&h, qr, qd, idx);
        PREPARE(&h, 1);
        CHECK(h.out_ref[0].rank == rank - 1 + qr, "rank");
        EXPECT_SAME(&h);
        oph_free(&h);
    }
}

TEST(constant_values) {
    oph h;
    float tv[6] = {1, 2, 3, 4, 5, 6};
    cam__tensor t = {.data = tv, .dtype = CAM_FLOAT};
    cam__tensor_set_shape(&t, 2, (int64_t[]){3, 2});
    oph_init(&h, "Constant", 13);
    oph_attr(&h, "value", CAM__ATTR_TENSOR)->t = &t;
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 2, 3, 2);
    EXPECT_F32(&h, 0, 1, 2, 3, 4, 5, 6);
    oph_free(&h);
    int32_t iv[3] = {-1, 0, 7};   /* an int32 tensor comes out int64 */
    cam__tensor ti = {.data = iv, .dtype = CAM_INT32};
    cam__tensor_set_shape(&ti, 1, (int64_t[]){3});
    oph_init(&h, "Constant", 13);
    oph_attr(&h, "value", CAM__ATTR_TENSOR)->t = &ti;
    PREPARE(&h, 1);
    CHECK(h.out_ref[0].dtype == CAM_INT64, "dtype");
    EXPECT_I64(&h, 0, -1, 0, 7);
    oph_free(&h);
    oph_init(&h, "Constant", 13);
    oph_attr_float(&h, "value_float", 2.5f);
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 0, 0);
    EXPECT_F32(&h, 0, 2.5f);
    oph_free(&h);
    oph_init(&h, "Constant", 13);
    oph_attr_floats(&h, "value_floats", (float[]){1.5f, -2}, 2);
    PREPARE(&h, 1);
    EXPECT_F32(&h, 0, 1.5f, -2);
    oph_free(&h);
    oph_init(&h, "Constant", 13);
    oph_attr_int(&h, "value_int", -9);
    PREPARE(&h, 1);
    EXPECT_I64(&h, 0, -9);
    oph_free(&h);
    oph_init(&h, "Constant", 13);
    oph_attr_ints(&h, "value_ints", (int64_t[]){4, 5, 6}, 3);
    PREPARE(&h, 1);
    EXPECT_DIMS(&h, 0, 1, 3);
    EXPECT_I64(&h, 0, 4, 5, 6);
    oph_free(&h);
    /* none, two, and an unsupported kind */
    oph_init(&h, "Constant", 13);
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
    oph_init(&h, "Constant", 13);
    oph_attr_int(&h, "value_int", 1);
    oph_attr_float(&h, "value_float", 1);
    EXPECT_FAIL(&h, 1, CAM_EFORMAT);
    oph_free(&h);
    oph_init(&h, "Constant", 13);
    oph_attr_string(&h, "value_string", "x");
    EXPECT_FAIL(&h, 1, CAM_EUNSUPPORTED);
    oph_free(&h);
}

int main(void) {
    RUN(flatten_random);
    RUN(flatten_expected);
    RUN(reshape_expected);
    RUN(reshape_errors);
    RUN(reshape_random);
    RUN(squeeze_unsqueeze);
    RUN(squeeze_unsqueeze_random);
    RUN(transpose_expected);
    RUN(transpose_random);
    RUN(concat_expected);
    RUN(concat_errors);
    RUN(concat_random);
    RUN(split_expected);
    RUN(split_random);
    RUN(slice_expected);
    RUN(slice_random);
    RUN(pad_expected);
    RUN(pad_random);
    RUN(shape_expected);
    RUN(gather_expected);
    RUN(gather_random);
    RUN(constant_values);
    return check_summary();
}
