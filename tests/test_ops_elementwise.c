/* test_ops_elementwise.c: Relu, Clip, Sigmoid, HardSigmoid, HardSwish,
 * Add/Sub/Mul/Div, Identity, Dropout, Cast and Softmax.  Forward (1, 2 and
 * 3 threads) is compared with the reference on random shapes, and a few
 * hand-computed values check the reference itself. */
#include "ophelp.h"

#include <stdint.h>

/* ops.h declares the op functions weak during bring-up, and weak references
 * do not pull a member out of libcamserve.a: name one strongly so that
 * elementwise.o is linked and cam__op_find sees its rows. */
cam_status cam__op_Relu_check(cam__node *n, char *err, size_t errlen);
__attribute__((used)) static cam_status (*const link_elementwise)(cam__node *, char *, size_t) = cam__op_Relu_check;

static unsigned rnd(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void fill_f32(cam__tensor *t, float lo, float hi, unsigned seed) {
    for (size_t i = 0; i < t->numel; i++) cam__f32(t)[i] = check_randf(&seed, lo, hi);
}

static void fill_i64(cam__tensor *t, int64_t lo, int64_t hi, unsigned seed) {
    for (size_t i = 0; i < t->numel; i++) cam__i64(t)[i] = lo + (int64_t)(rnd(&seed) % (unsigned)(hi - lo + 1));
}

/* rank 0..max_rank, dims 1..7 with extra weight on 1 */
static int rand_shape(unsigned *s, int max_rank, int64_t *d) {
    int r = (int)(rnd(s) % (unsigned)(max_rank + 1));
    for (int i = 0; i < r; i++) d[i] = rnd(s) % 4 == 0 ? 1 : 1 + (int64_t)(rnd(s) % 7);
    return r;
}

/* forward with 1, 2 and 3 threads against the reference */
static void compare_threads(oph *h, double tol, const char *what) {
    for (int t = 1; t <= 3; t++) {
        double e = oph_compare(h, t);
        CHECK(e <= tol, "%s: %d threads: rel err %g", what, t, e);
    }
}

/* forward writing over its first input (as a planner reusing the buffer
 * would) still matches the reference; output must be shaped like in[0] */
static void compare_in_place(oph *h, double tol, const char *what) {
    cam__tensor *in0 = h->in[0], *o = &h->out_fwd[0];
    CHECK(o->numel == in0->numel && o->dtype == in0->dtype, "%s: not an in-place shape", what);
    oph_run(h, h->node.op->reference, h->pout_ref, 1);
    void *saved = in0->data;
    memcpy(o->data, saved, in0->numel * cam_dtype_size(in0->dtype));
    in0->data = o->data;
    oph_run(h, h->node.op->forward, h->pout_fwd, 2);
    in0->data = saved;
    double e = o->dtype == CAM_FLOAT ? check_rel_linf(cam__f32(o), cam__f32(&h->out_ref[0]), o->numel)
                                     : (memcmp(o->data, h->out_ref[0].data, o->numel * 8) ? INFINITY : 0);
    CHECK(e <= tol, "%s in place: rel err %g", what, e);
}

/* forward and reference both equal want (absolute tolerance) */
static void expect_f32(oph *h, const float *want, size_t n, double tol) {
    CHECK(h->out_fwd[0].numel == n, "numel %zu, want %zu", h->out_fwd[0].numel, n);
    oph_compare(h, 1);
    for (size_t i = 0; i < n; i++) {
        float f = cam__f32(&h->out_fwd[0])[i], r = cam__f32(&h->out_ref[0])[i];
        CHECK(fabs(f - want[i]) <= tol, "%s: forward[%zu] = %.9g, want %.9g", h->node.op_type, i, f, want[i]);
        CHECK(fabs(r - want[i]) <= tol, "%s: reference[%zu] = %.9g, want %.9g", h->node.op_type, i, r, want[i]);
    }
}

static void expect_i64(oph *h, const int64_t *want, size_t n) {
    CHECK(h->out_fwd[0].numel == n, "numel %zu, want %zu", h->out_fwd[0].numel, n);
    CHECK(h->out_fwd[0].dtype == CAM_INT64, "dtype %d", (int)h->out_fwd[0].dtype);
    oph_compare(h, 1);
    for (size_t i = 0; i < n; i++) {
        int64_t f = cam__i64(&h->out_fwd[0])[i], r = cam__i64(&h->out_ref[0])[i];
        CHECK(f == want[i], "%s: forward[%zu] = %lld, want %lld", h->node.op_type, i, (long long)f, (long long)want[i]);
        CHECK(r == want[i], "%s: reference[%zu] = %lld, want %lld", h->node.op_type, i, (long long)r, (long long)want[i]);
    }
}

/* ---- unary ---------------------------------------------------------------- */

typedef struct { const char *op; int opset; double tol; float lo, hi; } unary_case;
static const unary_case unary_cases[] = {
    {"Relu", 6, 1e-6, -2, 2},        {"Relu", 14, 1e-6, -2, 2},       {"Clip", 6, 1e-6, -2, 2},
    {"Clip", 13, 1e-6, -2, 2},       {"Sigmoid", 13, 1e-5, -30, 30},  {"HardSigmoid", 6, 1e-6, -5, 5},
    {"HardSwish", 14, 1e-6, -5, 5},
};

static void unary_setup(oph *h, const unary_case *c, int rank, const int64_t *dims, unsigned seed) {
    oph_init(h, c->op, c->opset);
    fill_f32(oph_input_rand(h, rank, dims, seed), c->lo, c->hi, seed);
    if (strcmp(c->op, "Clip") == 0) {
        float lo = -0.3f - (float)(seed % 3) * 0.1f, hi = 0.6f + (float)(seed % 5) * 0.1f;
        if (c->opset < 11) {
            oph_attr_float(h, "min", lo);
            oph_attr_float(h, "max", hi);
        } else if (seed % 3 == 0) {   /* max only */
            oph_input_none(h);
            oph_input_const_f32(h, 0, NULL, &hi);
        } else if (seed % 3 == 1) {   /* min only */
            oph_input_const_f32(h, 1, (int64_t[]){1}, &lo);
        } else {
            oph_input_const_f32(h, 0, NULL, &lo);
            oph_input_const_f32(h, 0, NULL, &hi);
        }
    }
    if (strcmp(c->op, "HardSigmoid") == 0 && seed % 2) {
        oph_attr_float(h, "alpha", 0.3f);
        oph_attr_float(h, "beta", 0.4f);
    }
}

TEST(unary_random_shapes) {
    for (size_t c = 0; c < sizeof unary_cases / sizeof unary_cases[0]; c++)
        for (unsigned seed = 1; seed <= 12; seed++) {
            unsigned s = seed * 7919u + (unsigned)c;
            int64_t dims[CAM__MAX_RANK];
            int rank = rand_shape(&s, 5, dims);
            oph h;
            unary_setup(&h, &unary_cases[c], rank, dims, seed);
            CHECK(oph_prepare(&h, 1) == CAM_OK, "%s: %s", unary_cases[c].op, h.err);
            CHECK(h.out_fwd[0].rank == rank && h.out_fwd[0].dtype == CAM_FLOAT, "%s shape", unary_cases[c].op);
            compare_threads(&h, unary_cases[c].tol, unary_cases[c].op);
            oph_free(&h);
        }
}

/* big enough that 2 and 3 threads really split it, odd length */
TEST(unary_large_threaded) {
    for (size_t c = 0; c < sizeof unary_cases / sizeof unary_cases[0]; c++) {
        oph h;
        unary_setup(&h, &unary_cases[c], 2, (int64_t[]){3, 40001}, 99 + (unsigned)c);
        CHECK(oph_prepare(&h, 1) == CAM_OK, "%s: %s", unary_cases[c].op, h.err);
        compare_threads(&h, unary_cases[c].tol, unary_cases[c].op);
        compare_in_place(&h, unary_cases[c].tol, unary_cases[c].op);
        oph_free(&h);
    }
}

TEST(unary_values) {
    oph h;
    float x[] = {-3, -1, 0, 1, 3, 7};
    int64_t d[] = {6};

    oph_init(&h, "Relu", 14);
    oph_input_f32(&h, 1, d, x);
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    expect_f32(&h, (float[]){0, 0, 0, 1, 3, 7}, 6, 0);
    oph_free(&h);

    oph_init(&h, "Clip", 6);
    oph_attr_float(&h, "min", -1.5f);
    oph_attr_float(&h, "max", 2.0f);
    oph_input_f32(&h, 1, d, x);
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    expect_f32(&h, (float[]){-1.5f, -1, 0, 1, 2, 2}, 6, 0);
    oph_free(&h);

    /* opset 11+: bounds are inputs; min > max gives max everywhere (np.clip) */
    oph_init(&h, "Clip", 13);
    oph_input_f32(&h, 1, d, x);
    oph_input_const_f32(&h, 0, NULL, (float[]){2.0f});
    oph_input_const_f32(&h, 0, NULL, (float[]){1.0f});
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    expect_f32(&h, (float[]){1, 1, 1, 1, 1, 1}, 6, 0);
    oph_free(&h);

    oph_init(&h, "Clip", 11);   /* no bounds at all: identity */
    oph_input_f32(&h, 1, d, x);
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    expect_f32(&h, x, 6, 0);
    oph_free(&h);

    oph_init(&h, "HardSwish", 14);
    oph_input_f32(&h, 1, d, x);
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    expect_f32(&h, (float[]){0, -1.0f / 3.0f, 0, 2.0f / 3.0f, 3, 7}, 6, 1e-6);
    oph_free(&h);

    oph_init(&h, "HardSigmoid", 6);   /* defaults alpha 0.2, beta 0.5 */
    oph_input_f32(&h, 1, d, x);
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    expect_f32(&h, (float[]){0, 0.3f, 0.5f, 0.7f, 1, 1}, 6, 1e-6);
    oph_free(&h);

    /* Sigmoid: no NaN or overflow at the extremes; tiny but non-zero at -100 */
    oph_init(&h, "Sigmoid", 13);
    oph_input_f32(&h, 1, (int64_t[]){5}, (float[]){-100, -1, 0, 1, 100});
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    expect_f32(&h, (float[]){0, 0.26894142f, 0.5f, 0.73105858f, 1}, 5, 1e-7);
    CHECK(cam__f32(&h.out_fwd[0])[0] > 0 && cam__f32(&h.out_fwd[0])[0] < 1e-40f, "sigmoid(-100) = %g",
          cam__f32(&h.out_fwd[0])[0]);
    oph_free(&h);
}

TEST(unary_errors) {
    oph h;
    /* Clip min computed at run time */
    oph_init(&h, "Clip", 13);
    oph_input_rand(&h, 1, (int64_t[]){4}, 1);
    oph_input_rand(&h, 0, NULL, 2);
    CHECK(oph_prepare(&h, 1) == CAM_EUNSUPPORTED, "non-constant min accepted");
    CHECK(strstr(h.err, "Clip") && strstr(h.err, "test_node") && strstr(h.err, "min"), "message: %s", h.err);
    oph_free(&h);

    oph_init(&h, "Clip", 13);   /* non-scalar max */
    oph_input_rand(&h, 1, (int64_t[]){4}, 1);
    oph_input_none(&h);
    oph_input_const_f32(&h, 1, (int64_t[]){2}, (float[]){1, 2});
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "2-element max accepted");
    oph_free(&h);

    oph_init(&h, "Relu", 14);   /* int64 input to a float-only op */
    oph_input_i64(&h, 1, (int64_t[]){2}, (int64_t[]){1, -1});
    CHECK(oph_prepare(&h, 1) == CAM_EUNSUPPORTED, "int64 Relu accepted");
    oph_free(&h);

    oph_init(&h, "Clip", 6);   /* inputs for bounds before opset 11 */
    oph_input_rand(&h, 1, (int64_t[]){4}, 1);
    oph_input_const_f32(&h, 0, NULL, (float[]){0});
    CHECK(oph_prepare(&h, 1) != CAM_OK, "Clip-6 with 2 inputs accepted");
    oph_free(&h);
}

/* ---- binary --------------------------------------------------------------- */

static const char *const binary_ops[] = {"Add", "Sub", "Mul", "Div"};

/* A binary node on shapes a and b; float values in [-2, 2] (divisors kept
 * away from 0), int64 in [-20, 20] (0 divisors included on purpose). */
static cam_status binary_setup(oph *h, const char *op, int opset, cam_dtype dt, int ra, const int64_t *da, int rb,
                               const int64_t *db, unsigned seed) {
    oph_init(h, op, opset);
    for (int k = 0; k < 2; k++) {
        cam__tensor *t = oph_add_input(h, dt, k ? rb : ra, k ? db : da);
        if (dt == CAM_FLOAT) {
            fill_f32(t, -2, 2, seed + (unsigned)k);
            if (k == 1 && strcmp(op, "Div") == 0)
                for (size_t i = 0; i < t->numel; i++) cam__f32(t)[i] += cam__f32(t)[i] < 0 ? -0.25f : 0.25f;
        } else {
            fill_i64(t, -20, 20, seed + (unsigned)k);
        }
    }
    return oph_prepare(h, 1);
}

/* a and b drawn from one shape by dropping leading dims and setting dims
 * to 1, so they broadcast both ways */
TEST(binary_random_broadcast) {
    for (unsigned seed = 1; seed <= 40; seed++) {
        unsigned s = seed * 2654435761u;
        int64_t base[CAM__MAX_RANK], da[CAM__MAX_RANK], db[CAM__MAX_RANK];
        int r = rand_shape(&s, 5, base);
        int ra = r - (int)(rnd(&s) % (unsigned)(r + 1)), rb = r - (int)(rnd(&s) % (unsigned)(r + 1));
        for (int i = 0; i < ra; i++) da[i] = rnd(&s) % 3 == 0 ? 1 : base[r - ra + i];
        for (int i = 0; i < rb; i++) db[i] = rnd(&s) % 3 == 0 ? 1 : base[r - rb + i];
        for (int o = 0; o < 4; o++)
            for (int t = 0; t < 2; t++) {
                oph h;
                cam_dtype dt = t ? CAM_INT64 : CAM_FLOAT;
                CHECK(binary_setup(&h, binary_ops[o], 14, dt, ra, da, rb, db, seed) == CAM_OK, "%s", h.err);
                compare_threads(&h, 1e-6, binary_ops[o]);
                oph_free(&h);
            }
    }
}

/* the shapes that take the fast paths in real networks, both operand
 * orders, sized so that threads split runs in the middle */
TEST(binary_fast_paths) {
    static const struct { int ra; int64_t a[4]; int rb; int64_t b[4]; } cases[] = {
        {4, {2, 8, 5, 7}, 4, {2, 8, 1, 1}},     /* per-channel (SE Mul) */
        {4, {2, 8, 5, 7}, 4, {1, 8, 1, 1}},     /* per-channel bias */
        {4, {2, 8, 5, 7}, 3, {8, 1, 1}},
        {4, {1, 32, 33, 35}, 4, {1, 32, 1, 1}},  /* big per-channel */
        {4, {2, 16, 37, 37}, 3, {16, 1, 1}},
        {3, {7, 9, 1000}, 3, {7, 9, 1}},
        {2, {3, 40001}, 2, {3, 40001}},          /* same shape, threaded */
        {2, {3, 40001}, 0, {0}},                 /* scalar */
        {2, {3, 40001}, 1, {1}},
        {3, {50, 30, 40}, 1, {40}},              /* last-dim vector */
        {4, {4, 3, 1, 5}, 4, {1, 1, 6, 1}},      /* both broadcast */
        {2, {0, 3}, 1, {3}},                     /* empty */
        {0, {0}, 0, {0}},                        /* scalar op scalar */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int swap = 0; swap < 2; swap++)
            for (int o = 0; o < 4; o++)
                for (int t = 0; t < 2; t++) {
                    oph h;
                    cam_dtype dt = t ? CAM_INT64 : CAM_FLOAT;
                    cam_status st = swap ? binary_setup(&h, binary_ops[o], 13, dt, cases[c].rb, cases[c].b, cases[c].ra, cases[c].a, (unsigned)c)
                                         : binary_setup(&h, binary_ops[o], 13, dt, cases[c].ra, cases[c].a, cases[c].rb, cases[c].b, (unsigned)c);
                    CHECK(st == CAM_OK, "case %zu: %s", c, h.err);
                    compare_threads(&h, 1e-6, binary_ops[o]);
                    if (h.out_fwd[0].numel == h.in[0]->numel) compare_in_place(&h, 1e-6, binary_ops[o]);
                    oph_free(&h);
                }
}

/* Add applies its fused activation in forward and reference alike */
TEST(add_fused_activation) {
    cam__act acts[] = {{CAM__ACT_RELU, 0, 0}, {CAM__ACT_CLIP, -0.5f, 0.75f}, {CAM__ACT_HARDSWISH, 0, 0},
                       {CAM__ACT_SIGMOID, 0, 0}};
    for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++) {
        oph h;
        CHECK(binary_setup(&h, "Add", 14, CAM_FLOAT, 4, (int64_t[]){2, 16, 37, 37}, 3, (int64_t[]){16, 1, 1}, 5) == CAM_OK,
              "%s", h.err);
        h.node.act = acts[k];
        compare_threads(&h, 1e-5, cam__act_name(acts[k].kind));
        oph_free(&h);
    }
    oph h;   /* Relu(1 + [-3, 2]) = [0, 3] */
    oph_init(&h, "Add", 14);
    oph_input_f32(&h, 1, (int64_t[]){2}, (float[]){-3, 2});
    oph_input_f32(&h, 0, NULL, (float[]){1});
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    h.node.act.kind = CAM__ACT_RELU;
    expect_f32(&h, (float[]){0, 3}, 2, 0);
    oph_free(&h);
}

TEST(binary_values) {
    oph h;
    /* [[1],[2]] - [10, 20] = [[-9, -19], [-8, -18]] */
    oph_init(&h, "Sub", 14);
    oph_input_f32(&h, 2, (int64_t[]){2, 1}, (float[]){1, 2});
    oph_input_f32(&h, 1, (int64_t[]){2}, (float[]){10, 20});
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    CHECK(h.out_fwd[0].rank == 2 && h.out_fwd[0].dims[0] == 2 && h.out_fwd[0].dims[1] == 2, "shape");
    expect_f32(&h, (float[]){-9, -19, -8, -18}, 4, 0);
    oph_free(&h);

    oph_init(&h, "Div", 14);
    oph_input_f32(&h, 1, (int64_t[]){3}, (float[]){1, -3, 5});
    oph_input_f32(&h, 1, (int64_t[]){1}, (float[]){4});
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    expect_f32(&h, (float[]){0.25f, -0.75f, 1.25f}, 3, 0);
    oph_free(&h);

    oph_init(&h, "Mul", 14);
    oph_input_f32(&h, 2, (int64_t[]){2, 2}, (float[]){1, 2, 3, 4});
    oph_input_f32(&h, 2, (int64_t[]){2, 1}, (float[]){10, -1});
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    expect_f32(&h, (float[]){10, 20, -3, -4}, 4, 0);
    oph_free(&h);

    /* integer Div truncates toward zero; /0 gives 0 and INT64_MIN/-1 wraps
     * (both undefined in ONNX, but must not trap) */
    oph_init(&h, "Div", 14);
    oph_input_i64(&h, 1, (int64_t[]){7}, (int64_t[]){-7, 7, -7, 7, 6, 5, INT64_MIN});
    oph_input_i64(&h, 1, (int64_t[]){7}, (int64_t[]){2, -2, -2, 2, 3, 0, -1});
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    expect_i64(&h, (int64_t[]){-3, -3, 3, 3, 2, 0, INT64_MIN}, 7);
    oph_free(&h);

    oph_init(&h, "Add", 14);
    oph_input_i64(&h, 1, (int64_t[]){3}, (int64_t[]){1, 2, INT64_MAX});
    oph_input_i64(&h, 0, NULL, (int64_t[]){1});
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    expect_i64(&h, (int64_t[]){2, 3, INT64_MIN}, 3);
    oph_free(&h);
}

/* opset < 7: broadcast=1 lines B up with A at axis (default: suffix) */
TEST(binary_legacy_broadcast) {
    static const struct { int rb; int64_t b[3]; int64_t axis; } cases[] = {
        {2, {3, 4}, 1}, {1, {5}, -100}, {2, {4, 5}, -100}, {1, {2}, 0}, {0, {0}, -100}, {2, {3, 4}, -3}, {1, {1}, 2},
    };
    int64_t da[] = {2, 3, 4, 5};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        oph h;
        oph_init(&h, "Add", 6);
        oph_attr_int(&h, "broadcast", 1);
        if (cases[c].axis != -100) oph_attr_int(&h, "axis", cases[c].axis);
        cam__tensor *a = oph_input_rand(&h, 4, da, 3), *b = oph_input_rand(&h, cases[c].rb, cases[c].b, 4);
        CHECK(oph_prepare(&h, 1) == CAM_OK, "case %zu: %s", c, h.err);
        CHECK(h.out_fwd[0].numel == 120, "output numel %zu", h.out_fwd[0].numel);
        compare_threads(&h, 0, "legacy Add");
        /* expected by hand: B's index from A's coordinates at axis.. */
        int64_t axis = cases[c].axis == -100 ? 4 - cases[c].rb : cases[c].axis < 0 ? cases[c].axis + 4 : cases[c].axis;
        for (int64_t i = 0; i < 120; i++) {
            int64_t co[4] = {i / 60, i / 20 % 3, i / 5 % 4, i % 5}, ib = 0;
            for (int k = 0; k < cases[c].rb; k++) ib = ib * cases[c].b[k] + (cases[c].b[k] == 1 ? 0 : co[axis + k]);
            float want = cam__f32(a)[i] + cam__f32(b)[ib];
            CHECK(cam__f32(&h.out_fwd[0])[i] == want, "case %zu elem %lld", c, (long long)i);
        }
        oph_free(&h);
    }
}

TEST(binary_errors) {
    oph h;
    CHECK(binary_setup(&h, "Add", 14, CAM_FLOAT, 2, (int64_t[]){2, 3}, 1, (int64_t[]){4}, 1) == CAM_EFORMAT, "[2,3]+[4]");
    CHECK(strstr(h.err, "[2,3]") && strstr(h.err, "[4]"), "message: %s", h.err);
    oph_free(&h);
    CHECK(binary_setup(&h, "Mul", 14, CAM_FLOAT, 4, (int64_t[]){1, 8, 5, 5}, 4, (int64_t[]){1, 4, 1, 1}, 1) == CAM_EFORMAT,
          "per-channel mismatch");
    oph_free(&h);
    CHECK(binary_setup(&h, "Div", 14, CAM_INT64, 1, (int64_t[]){3}, 1, (int64_t[]){2}, 1) == CAM_EFORMAT, "[3]/[2]");
    oph_free(&h);

    oph_init(&h, "Add", 14);   /* mixed types */
    oph_input_rand(&h, 1, (int64_t[]){2}, 1);
    oph_input_i64(&h, 1, (int64_t[]){2}, (int64_t[]){1, 2});
    CHECK(oph_prepare(&h, 1) == CAM_EUNSUPPORTED, "float + int64 accepted");
    oph_free(&h);

    /* legacy: broadcast=0 requires equal shapes; B must fit A at axis */
    CHECK(binary_setup(&h, "Add", 6, CAM_FLOAT, 2, (int64_t[]){2, 3}, 1, (int64_t[]){3}, 1) == CAM_EFORMAT, "broadcast=0");
    oph_free(&h);
    oph_init(&h, "Sub", 6);
    oph_attr_int(&h, "broadcast", 1);
    oph_attr_int(&h, "axis", 0);
    oph_input_rand(&h, 2, (int64_t[]){2, 3}, 1);
    oph_input_rand(&h, 1, (int64_t[]){3}, 2);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "[2,3] - [3] at axis 0 accepted");
    oph_free(&h);
    oph_init(&h, "Sub", 6);
    oph_attr_int(&h, "broadcast", 1);
    oph_input_rand(&h, 1, (int64_t[]){3}, 1);
    oph_input_rand(&h, 2, (int64_t[]){2, 3}, 2);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "B of higher rank accepted");
    oph_free(&h);
}

/* ---- Identity, Dropout, Cast ---------------------------------------------- */

TEST(identity_dropout) {
    for (unsigned seed = 1; seed <= 6; seed++) {
        unsigned s = seed;
        int64_t d[CAM__MAX_RANK];
        int r = rand_shape(&s, 5, d);
        oph h;
        oph_init(&h, "Identity", 14);
        if (seed % 2) oph_input_rand(&h, r, d, seed);
        else fill_i64(oph_add_input(&h, CAM_INT64, r, d), -1000, 1000, seed);
        CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
        CHECK(h.out_fwd[0].dtype == h.in[0]->dtype, "dtype");
        compare_threads(&h, 0, "Identity");
        CHECK(memcmp(h.out_fwd[0].data, h.in[0]->data, h.in[0]->numel * cam_dtype_size(h.in[0]->dtype)) == 0, "copy");
        oph_free(&h);
    }
    static const int opsets[] = {6, 7, 10, 12, 13, 22};
    for (size_t k = 0; k < sizeof opsets / sizeof opsets[0]; k++) {
        oph h;
        oph_init(&h, "Dropout", opsets[k]);
        oph_input_rand(&h, 2, (int64_t[]){3, 40001}, 7);
        if (opsets[k] < 12) oph_attr_float(&h, "ratio", 0.3f);
        if (opsets[k] < 7) oph_attr_int(&h, "is_test", 1);
        if (opsets[k] >= 12) oph_input_const_f32(&h, 0, NULL, (float[]){0.3f});
        if (opsets[k] >= 13) oph_input_const_i64(&h, 0, NULL, (int64_t[]){0});
        CHECK(oph_prepare(&h, 1) == CAM_OK, "opset %d: %s", opsets[k], h.err);
        compare_threads(&h, 0, "Dropout");
        compare_in_place(&h, 0, "Dropout");
        CHECK(memcmp(h.out_fwd[0].data, h.in[0]->data, h.in[0]->numel * 4) == 0, "copy");
        oph_free(&h);
    }
}

TEST(dropout_errors) {
    oph h;
    oph_init(&h, "Dropout", 13);
    oph_input_rand(&h, 1, (int64_t[]){4}, 1);
    CHECK(oph_prepare(&h, 2) == CAM_EUNSUPPORTED, "mask output accepted");
    CHECK(strstr(h.err, "mask"), "message: %s", h.err);
    oph_free(&h);

    oph_init(&h, "Dropout", 13);
    oph_input_rand(&h, 1, (int64_t[]){4}, 1);
    oph_input_none(&h);
    oph_input_const_i64(&h, 0, NULL, (int64_t[]){1});
    CHECK(oph_prepare(&h, 1) == CAM_EUNSUPPORTED, "training_mode=1 accepted");
    oph_free(&h);

    oph_init(&h, "Dropout", 13);
    oph_input_rand(&h, 1, (int64_t[]){4}, 1);
    oph_input_none(&h);
    oph_input_i64(&h, 0, NULL, (int64_t[]){0});
    CHECK(oph_prepare(&h, 1) == CAM_EUNSUPPORTED, "run-time training_mode accepted");
    oph_free(&h);
}

TEST(cast_values) {
    oph h;
    /* out of range and NaN are undefined: saturated, NaN -> 0; +-2^63 are the edges */
    float x[] = {-2.7f, 2.7f, -0.5f, 0.5f, 3.0f, 3e9f, -3e9f, 1e30f, NAN, 0x1p63f, -0x1p63f};
    oph_init(&h, "Cast", 13);
    oph_attr_int(&h, "to", 7);
    oph_input_f32(&h, 1, (int64_t[]){11}, x);
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    expect_i64(&h, (int64_t[]){-2, 2, 0, 0, 3, 3000000000LL, -3000000000LL, INT64_MAX, 0, INT64_MAX, INT64_MIN}, 11);
    oph_free(&h);

    oph_init(&h, "Cast", 13);   /* INT32 saturates float, wraps int64 */
    oph_attr_int(&h, "to", 6);
    oph_input_f32(&h, 1, (int64_t[]){11}, x);
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    expect_i64(&h, (int64_t[]){-2, 2, 0, 0, 3, INT32_MAX, INT32_MIN, INT32_MAX, 0, INT32_MAX, INT32_MIN}, 11);
    oph_free(&h);

    oph_init(&h, "Cast", 9);
    oph_attr_int(&h, "to", 6);
    oph_input_i64(&h, 1, (int64_t[]){3}, (int64_t[]){4294967297LL, -5, 2147483648LL});
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    expect_i64(&h, (int64_t[]){1, -5, INT32_MIN}, 3);
    oph_free(&h);

    oph_init(&h, "Cast", 19);
    oph_attr_int(&h, "to", 1);
    oph_input_i64(&h, 1, (int64_t[]){3}, (int64_t[]){-7, 0, 1 << 20});
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    CHECK(h.out_fwd[0].dtype == CAM_FLOAT, "dtype");
    expect_f32(&h, (float[]){-7, 0, 1 << 20}, 3, 0);
    oph_free(&h);

    oph_init(&h, "Cast", 1);   /* Cast-1 names the type with a string */
    oph_attr_string(&h, "to", "INT64");
    oph_input_f32(&h, 1, (int64_t[]){2}, (float[]){-1.5f, 9.9f});
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    expect_i64(&h, (int64_t[]){-1, 9}, 2);
    oph_free(&h);
}

TEST(cast_random) {
    for (int k = 0; k < 6; k++) {
        oph h;
        oph_init(&h, "Cast", 13);
        oph_attr_int(&h, "to", k % 3 == 0 ? 1 : k % 3 == 1 ? 6 : 7);
        if (k < 3) fill_f32(oph_input_rand(&h, 2, (int64_t[]){3, 40001}, 9), -1e4f, 1e4f, 9);
        else fill_i64(oph_add_input(&h, CAM_INT64, 2, (int64_t[]){3, 40001}), -100000, 100000, 9);
        CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
        compare_threads(&h, 0, "Cast");
        if (h.out_fwd[0].dtype == h.in[0]->dtype) compare_in_place(&h, 0, "Cast");
        oph_free(&h);
    }
}

TEST(cast_errors) {
    static const int64_t bad[] = {11, 10, 9, 8, 0, 16, 99};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        oph h;
        oph_init(&h, "Cast", 13);
        oph_attr_int(&h, "to", bad[k]);
        oph_input_rand(&h, 1, (int64_t[]){2}, 1);
        CHECK(oph_prepare(&h, 1) == CAM_EUNSUPPORTED, "to=%lld accepted", (long long)bad[k]);
        CHECK(strstr(h.err, "Cast") && strstr(h.err, "to="), "message: %s", h.err);
        oph_free(&h);
    }
    oph h;
    oph_init(&h, "Cast", 13);   /* no 'to' */
    oph_input_rand(&h, 1, (int64_t[]){2}, 1);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "missing to accepted");
    oph_free(&h);
    oph_init(&h, "Cast", 1);
    oph_attr_string(&h, "to", "DOUBLE");
    oph_input_rand(&h, 1, (int64_t[]){2}, 1);
    CHECK(oph_prepare(&h, 1) == CAM_EUNSUPPORTED, "to=\"DOUBLE\" accepted");
    oph_free(&h);
}

/* ---- Softmax -------------------------------------------------------------- */

TEST(softmax_values) {
    float want[] = {0.09003057f, 0.24472847f, 0.66524096f};
    float inputs[2][3] = {{1, 2, 3}, {1000, 1001, 1002}};   /* the second overflows without the max */
    for (int k = 0; k < 2; k++) {
        oph h;
        oph_init(&h, "Softmax", 13);
        oph_input_f32(&h, 1, (int64_t[]){3}, inputs[k]);
        CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
        expect_f32(&h, want, 3, 1e-7);
        oph_free(&h);
    }
    /* opset 11, axis 1 of [2,2,3]: one softmax over the 6 trailing values,
     * vs opset 13 axis 1: softmax over the 2 values at stride 3 */
    float x[12] = {0, 1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 0};
    oph h;
    oph_init(&h, "Softmax", 11);
    oph_input_f32(&h, 3, (int64_t[]){2, 2, 3}, x);
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    float w11[12];
    double s = 0;
    for (int i = 0; i < 6; i++) s += exp(i);
    for (int i = 0; i < 6; i++) w11[i] = (float)(exp(i) / s), w11[11 - i] = w11[i];
    expect_f32(&h, w11, 12, 1e-7);
    oph_free(&h);

    oph_init(&h, "Softmax", 13);
    oph_attr_int(&h, "axis", 1);
    oph_input_f32(&h, 3, (int64_t[]){2, 2, 3}, x);
    CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
    float lo = (float)(1 / (1 + exp(3))), hi = (float)(1 / (1 + exp(-3)));
    expect_f32(&h, (float[]){lo, lo, lo, hi, hi, hi, hi, hi, hi, lo, lo, lo}, 12, 1e-7);
    oph_free(&h);
}

TEST(softmax_random) {
    for (unsigned seed = 1; seed <= 10; seed++) {
        unsigned s = seed * 31u;
        int64_t d[CAM__MAX_RANK];
        int r = rand_shape(&s, 5, d);
        if (r == 0) r = 1, d[0] = 5;
        for (int opset = 11; opset <= 13; opset += 2)
            for (int axis = -r; axis < r; axis++) {
                oph h;
                oph_init(&h, "Softmax", opset);
                oph_attr_int(&h, "axis", axis);
                fill_f32(oph_input_rand(&h, r, d, seed), -10, 10, seed);
                CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);
                compare_threads(&h, 1e-5, "Softmax");
                oph_free(&h);
            }
    }
    /* default axes, a strided axis wider than one tile, big threaded cases */
    static const struct { int opset; int r; int64_t d[3]; int64_t axis; } cases[] = {
        {13, 3, {2, 5, 70}, 1}, {13, 3, {3, 7, 130}, 0}, {12, 2, {64, 1000}, -100}, {13, 2, {64, 1000}, -100},
        {13, 3, {4, 1000, 10}, 1}, {11, 3, {4, 1000, 10}, -100}, {13, 2, {0, 5}, -100},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        oph h;
        oph_init(&h, "Softmax", cases[c].opset);
        if (cases[c].axis != -100) oph_attr_int(&h, "axis", cases[c].axis);
        fill_f32(oph_input_rand(&h, cases[c].r, cases[c].d, 5), -20, 20, (unsigned)c);
        CHECK(oph_prepare(&h, 1) == CAM_OK, "case %zu: %s", c, h.err);
        compare_threads(&h, 1e-5, "Softmax");
        compare_in_place(&h, 1e-5, "Softmax");
        oph_free(&h);
    }
}

TEST(softmax_errors) {
    oph h;
    oph_init(&h, "Softmax", 13);
    oph_attr_int(&h, "axis", 3);
    oph_input_rand(&h, 3, (int64_t[]){2, 3, 4}, 1);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "axis 3 of rank 3 accepted");
    CHECK(strstr(h.err, "axis"), "message: %s", h.err);
    oph_free(&h);
    oph_init(&h, "Softmax", 13);
    oph_input_rand(&h, 0, NULL, 1);
    CHECK(oph_prepare(&h, 1) == CAM_EFORMAT, "scalar accepted");
    oph_free(&h);
}

int main(void) {
    RUN(unary_random_shapes);
    RUN(unary_large_threaded);
    RUN(unary_values);
    RUN(unary_errors);
    RUN(binary_random_broadcast);
    RUN(binary_fast_paths);
    RUN(add_fused_activation);
    RUN(binary_values);
    RUN(binary_legacy_broadcast);
    RUN(binary_errors);
    RUN(identity_dropout);
    RUN(dropout_errors);
    RUN(cast_values);
    RUN(cast_random);
    RUN(cast_errors);
    RUN(softmax_values);
    RUN(softmax_random);
    RUN(softmax_errors);
    return check_summary();
}
