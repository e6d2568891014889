/* test_graph.c: the optimised runtime on the graph motifs of CNN families
 * we have no model file for (ResNet-50, DenseNet, ShuffleNetV2, MobileNetV3,
 * TF/TFLite-converted MobileNets, GoogLeNet, EfficientNet), built in memory
 * with random weights.  Each model runs three ways:
 *   (a) optimised graph (BN folded, activations fused, constants folded), 1 thread
 *   (b) the same, 2 threads
 *   (c) unoptimised graph (optimize = 0), every node's reference kernel
 * and (a), (b) must match (c) to a relative L-inf error of 1e-4.  The
 * unoptimised graph with the fast kernels is measured too (it tells a
 * kernel bug from an optimiser bug when something fails).  Every model is
 * also run a second time without rewriting its input: same bits, input
 * buffers intact.  Each test asserts what the optimiser did
 * (cam_model_stats, the optimised node list).  Padding rules that both
 * kernel paths share are checked against explicit Pad separately. */
#include "check.h"
#include "model.h"
#include "onnx_builder.h"

#include <stdarg.h>
#include <stdbool.h>

#define TOL 1e-4

/* ---- graph builder ---------------------------------------------------------- */

/* Nodes are written lazily: the attribute helpers apply to the node begun
 * last, which is appended to the graph when the next one begins. */
typedef struct gb {
    ob_buf g, n;
    bool open;
    unsigned seed;
    int id;
    int n_nodes;
    const char *next_name;   /* name of the next node instead of a generated one */
    char *strs;
    size_t used, cap;
} gb;

static void gb_init(gb *b, unsigned seed) {
    memset(b, 0, sizeof *b);
    b->seed = seed;
    b->cap = (size_t)1 << 18;
    b->strs = malloc(b->cap);
    if (!b->strs) abort();
}

static const char *gb_fmt(gb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *gb_fmt(gb *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(b->strs + b->used, b->cap - b->used, fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len + 1 > b->cap - b->used) abort();
    const char *s = b->strs + b->used;
    b->used += (size_t)len + 1;
    return s;
}

static void gb_flush(gb *b) {
    if (b->open) ob_msg(&b->g, 1, &b->n);
    b->open = false;
}

/* begins node op(in...) -> outs...; in and outs are NULL-terminated */
static void gb_node(gb *b, const char *op, const char *const *in, const char *const *outs) {
    gb_flush(b);
    const char *name = b->next_name ? b->next_name : gb_fmt(b, "%s_node%d", op, b->id++);
    b->next_name = NULL;
    ob_node_begin(&b->n, op, name, in, outs);
    b->open = true;
    b->n_nodes++;
}

/* begins op(in...) with one fresh output, returned */
static const char *gb_op(gb *b, const char *op, const char *const *in) {
    const char *y = gb_fmt(b, "%s_%d", op, b->id++);
    gb_node(b, op, in, (const char *const[]){y, NULL});
    return y;
}
#define OP(b, op, ...) gb_op(b, op, (const char *const[]){__VA_ARGS__, NULL})

static void ob_attr_str(ob_buf *node, const char *name, const char *s) {
    ob_buf a = {0};
    ob_str(&a, 1, name);
    ob_int(&a, 20, 3);
    ob_str(&a, 4, s);
    ob_msg(node, 5, &a);
}
#define A_INT(b, name, v) ob_attr_int(&(b)->n, name, v)
#define A_FLOAT(b, name, v) ob_attr_float(&(b)->n, name, v)
#define A_STR(b, name, v) ob_attr_str(&(b)->n, name, v)
#define A_INTS(b, name, ...)                                                            \
    ob_attr_ints(&(b)->n, name, (const int64_t[]){__VA_ARGS__},                          \
                 (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

static size_t numel_of(const int64_t *dims, int rank) {
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    return n;
}

static const char *init_f32(gb *b, const char *prefix, const int64_t *dims, int rank, const float *data) {
    const char *name = gb_fmt(b, "%s_%d", prefix, b->id++);
    ob_tensor_f32(&b->g, 5, name, dims, rank, data);
    return name;
}

static const char *init_rand(gb *b, const char *prefix, const int64_t *dims, int rank, float lo, float hi) {
    size_t n = numel_of(dims, rank);
    float *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) abort();
    for (size_t i = 0; i < n; i++) v[i] = check_randf(&b->seed, lo, hi);
    const char *name = init_f32(b, prefix, dims, rank, v);
    free(v);
    return name;
}

static const char *init_i64(gb *b, const char *prefix, const int64_t *dims, int rank, const int64_t *v) {
    const char *name = gb_fmt(b, "%s_%d", prefix, b->id++);
    ob_tensor_i64(&b->g, 5, name, dims, rank, v, numel_of(dims, rank));
    return name;
}
#define I64_VEC(b, ...)                                                                   \
    init_i64(b, "i64", (const int64_t[]){(int64_t)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))}, 1, \
             (const int64_t[]){__VA_ARGS__})
static const char *i64_scalar(gb *b, int64_t v) { return init_i64(b, "idx", NULL, 0, &v); }
static const char *f32_scalar(gb *b, float v) { return init_f32(b, "f", NULL, 0, &v); }

/* Conv with random weights ~ U(-a, a), a = sqrt(3 / fan_in) (unit variance
 * in, unit variance out).  Zero fields take defaults: k 1, kw = k, s 1,
 * group 1, dil 1; pad is symmetric unless pads or auto_pad are given. */
typedef struct cs {
    int k, kw, s, pad, group, dil;
    float gain;   /* weight scale, 0 = 1 */
    bool bias, no_kernel_shape;
    const char *auto_pad;
    const int64_t *pads;
} cs;

static const char *conv_s(gb *b, const char *x, int cin, int cout, cs c) {
    int kh = c.k ? c.k : 1, kw = c.kw ? c.kw : kh, s = c.s ? c.s : 1, g = c.group ? c.group : 1;
    int d = c.dil ? c.dil : 1;
    float a = (c.gain > 0 ? c.gain : 1.0f) * sqrtf(3.0f / (float)(cin / g * kh * kw));
    const char *w = init_rand(b, "W", (const int64_t[]){cout, cin / g, kh, kw}, 4, -a, a);
    const char *bias = c.bias ? init_rand(b, "B", (const int64_t[]){cout}, 1, -0.1f, 0.1f) : NULL;
    const char *y = gb_op(b, "Conv", (const char *const[]){x, w, bias, NULL});
    if (!c.no_kernel_shape) A_INTS(b, "kernel_shape", kh, kw);
    if (s != 1) A_INTS(b, "strides", s, s);
    if (c.pads) ob_attr_ints(&b->n, "pads", c.pads, 4);
    else if (c.auto_pad) A_STR(b, "auto_pad", c.auto_pad);
    else if (c.pad) A_INTS(b, "pads", c.pad, c.pad, c.pad, c.pad);
    if (g != 1) A_INT(b, "group", g);
    if (d != 1) A_INTS(b, "dilations", d, d);
    return y;
}
#define CONV(b, x, cin, cout, ...) conv_s(b, x, cin, cout, (cs){__VA_ARGS__})

/* inference BatchNormalization, random parameters, variance in [0.5, 1.5] */
static const char *bn_eps(gb *b, const char *x, int c, float eps) {
    const int64_t d[1] = {c};
    const char *scale = init_rand(b, "bn_scale", d, 1, 0.5f, 1.5f);
    const char *bias = init_rand(b, "bn_bias", d, 1, -0.2f, 0.2f);
    const char *mean = init_rand(b, "bn_mean", d, 1, -0.2f, 0.2f);
    const char *var = init_rand(b, "bn_var", d, 1, 0.5f, 1.5f);
    const char *y = OP(b, "BatchNormalization", x, scale, bias, mean, var);
    if (eps > 0) A_FLOAT(b, "epsilon", eps);
    return y;
}
static const char *bn(gb *b, const char *x, int c) { return bn_eps(b, x, c, 0); }

/* Gemm(x, W[n_out, n_in], B) with transB = 1 (the torch Linear export) */
static const char *linear(gb *b, const char *x, int n_in, int n_out) {
    float a = sqrtf(3.0f / (float)n_in);
    const char *w = init_rand(b, "fc_W", (const int64_t[]){n_out, n_in}, 2, -a, a);
    const char *bias = init_rand(b, "fc_B", (const int64_t[]){n_out}, 1, -0.1f, 0.1f);
    const char *y = OP(b, "Gemm", x, w, bias);
    A_INT(b, "transB", 1);
    return y;
}

/* SiLU as exporters write it: x * Sigmoid(x) (operand order selectable) */
static const char *silu(gb *b, const char *x, bool sig_first) {
    const char *s = OP(b, "Sigmoid", x);
    return sig_first ? OP(b, "Mul", s, x) : OP(b, "Mul", x, s);
}

static void gb_input(gb *b, const char *name, const int64_t *dims, int rank) {
    ob_value_info(&b->g, 11, name, dims, rank, 1);
}
static void gb_output(gb *b, const char *name) { ob_value_info(&b->g, 12, name, NULL, -1, 1); }

static ob_buf gb_model(gb *b, int64_t opset) {
    gb_flush(b);
    ob_str(&b->g, 2, "motif");
    ob_buf m = ob_model(&b->g, opset);
    free(b->strs);
    b->strs = NULL;
    return m;
}

/* ---- running and comparing ---------------------------------------------------- */

typedef struct result {
    double e1, e2;      /* (a), (b) vs (c) */
    double e_unopt;     /* unoptimised graph, fast kernels, vs (c) */
    double ref_max;     /* max |output| of (c) */
    cam_model_stats st; /* of the optimised model */
} result;

static cam_session *new_session(const cam_model *m, int threads, bool reference) {
    char err[512];
    cam_session *s = NULL;
    CHECK(cam_session_create(m, threads, &s, err, sizeof err) == CAM_OK, "session: %s", err);
    if (reference) cam__session_use_reference(s, true);
    return s;
}

static cam_model *load(const ob_buf *mb, const cam_model_options *o, const char *what) {
    char err[1024];
    cam_model *m = NULL;
    cam_status st = cam_model_load_buffer(mb->p, mb->n, o, &m, err, sizeof err);
    CHECK(st == CAM_OK, "loading the %s model: %s (%s)", what, err, cam_status_str(st));
    return m;
}

static float *input_data(const cam_model *m, int i, size_t *n) {
    cam_tensor_info ii;
    cam_model_input_info(m, i, &ii);
    CHECK(ii.dtype == CAM_FLOAT, "input %s is not float", ii.name);
    float *x = malloc(ii.numel * sizeof *x);
    CHECK(x != NULL, "oom");
    unsigned seed = 1000u + (unsigned)i;
    for (size_t k = 0; k < ii.numel; k++) x[k] = check_randf(&seed, -1.0f, 1.0f);
    *n = ii.numel;
    return x;
}

static void fill_inputs(cam_session *const *ss, int n_s, const cam_model *m) {
    char err[512];
    for (int i = 0; i < cam_model_num_inputs(m); i++) {
        size_t n;
        float *x = input_data(m, i, &n);
        for (int k = 0; k < n_s; k++)
            CHECK(cam_session_set_input(ss[k], i, x, n * sizeof *x, err, sizeof err) == CAM_OK, "%s", err);
        free(x);
    }
}

/* the input buffers still hold what fill_inputs wrote (a run must not
 * reuse their bytes: callers write an input once and run again) */
static void inputs_intact(cam_session *const *ss, int n_s, const cam_model *m, const char *label) {
    for (int i = 0; i < cam_model_num_inputs(m); i++) {
        size_t n;
        float *x = input_data(m, i, &n);
        int bad = -1;
        for (int k = 0; k < n_s && bad < 0; k++)
            if (memcmp(cam_session_input(ss[k], i), x, n * sizeof *x) != 0) bad = k;
        free(x);
        CHECK(bad < 0, "%s: input %d of session %d was overwritten by the run", label, i, bad);
    }
}

static void same_shape(const cam_tensor_info *a, const cam_tensor_info *b) {
    CHECK(a->rank == b->rank && a->numel == b->numel, "%s: rank %d/%d, %zu/%zu elements", a->name, a->rank,
          b->rank, a->numel, b->numel);
    for (int d = 0; d < a->rank; d++)
        CHECK(a->dims[d] == b->dims[d], "%s: dim %d is %lld optimised, %lld unoptimised", a->name, d,
              (long long)a->dims[d], (long long)b->dims[d]);
}

/* Runs s again without rewriting its inputs: every output must come out
 * with the same bits (no state kept between runs, inputs not clobbered). */
static bool rerun_same(cam_session *s, const cam_model *m) {
    int no = cam_model_num_outputs(m);
    size_t total = 0, at = 0;
    for (int i = 0; i < no; i++) {
        cam_tensor_info o;
        cam_model_output_info(m, i, &o);
        total += o.numel;
    }
    float *first = malloc((total ? total : 1) * sizeof *first);
    CHECK(first != NULL, "oom");
    for (int i = 0; i < no; i++) {
        cam_tensor_info o;
        cam_model_output_info(m, i, &o);
        memcpy(first + at, cam_session_output(s, i), o.numel * sizeof *first);
        at += o.numel;
    }
    cam_session_run(s);
    bool same = true;
    at = 0;
    for (int i = 0; i < no; i++) {
        cam_tensor_info o;
        cam_model_output_info(m, i, &o);
        same = same && memcmp(first + at, cam_session_output(s, i), o.numel * sizeof *first) == 0;
        at += o.numel;
    }
    free(first);
    return same;
}

/* Loads mb optimised and unoptimised with options `base` (NULL: defaults),
 * runs (a), (b), (c) and the unoptimised fast path, checks every output and
 * returns the optimised model (the caller frees it) for further assertions. */
static cam_model *compare(const char *label, const ob_buf *mb, const cam_model_options *base, result *r) {
    cam_model_options oo, ro;
    if (base) oo = *base;
    else cam_model_options_init(&oo);
    oo.optimize = 1;
    ro = oo;
    ro.optimize = 0;
    cam_model *mo = load(mb, &oo, "optimised");
    cam_model *mr = load(mb, &ro, "unoptimised");
    CHECK(cam_model_num_inputs(mo) == cam_model_num_inputs(mr), "inputs");
    CHECK(cam_model_num_outputs(mo) == cam_model_num_outputs(mr), "outputs");
    for (int i = 0; i < cam_model_num_inputs(mo); i++) {
        cam_tensor_info a, b;
        cam_model_input_info(mo, i, &a);
        cam_model_input_info(mr, i, &b);
        same_shape(&a, &b);
    }
    cam_session *ss[4] = {new_session(mo, 1, false), new_session(mo, 2, false), new_session(mr, 1, true),
                          new_session(mr, 1, false)};
    fill_inputs(ss, 4, mo);
    for (int k = 0; k < 4; k++) cam_session_run(ss[k]);
    inputs_intact(ss, 4, mo, label);
    memset(r, 0, sizeof *r);
    cam_model_stats_get(mo, &r->st);
    for (int i = 0; i < cam_model_num_outputs(mo); i++) {
        cam_tensor_info a, b;
        cam_model_output_info(mo, i, &a);
        cam_model_output_info(mr, i, &b);
        same_shape(&a, &b);
        CHECK(a.dtype == CAM_FLOAT, "output %s is not float", a.name);
        const float *ref = cam_session_output(ss[2], i);
        double mx = 0;
        bool varies = false;
        for (size_t k = 0; k < b.numel; k++) {
            CHECK(isfinite(ref[k]), "%s: reference output %s[%zu] is %g", label, b.name, k, ref[k]);
            if (fabs(ref[k]) > mx) mx = fabs(ref[k]);
            varies = varies || ref[k] != ref[0];
        }
        CHECK(mx > 1e-3 && (varies || b.numel == 1), "%s: degenerate reference output %s (max %g)", label,
              b.name, mx);
        if (mx > r->ref_max) r->ref_max = mx;
        double e1 = check_rel_linf(cam_session_output(ss[0], i), ref, b.numel);
        double e2 = check_rel_linf(cam_session_output(ss[1], i), ref, b.numel);
        double eu = check_rel_linf(cam_session_output(ss[3], i), ref, b.numel);
        if (!(e1 <= r->e1)) r->e1 = e1;
        if (!(e2 <= r->e2)) r->e2 = e2;
        if (!(eu <= r->e_unopt)) r->e_unopt = eu;
    }
    bool same = rerun_same(ss[0], mo) && rerun_same(ss[1], mo);
    printf("  %-34s (a) %.2e  (b) %.2e   [unoptimised, fast kernels %.2e; max|ref| %.3g]\n", label, r->e1, r->e2,
           r->e_unopt, r->ref_max);
    printf("  %-34s nodes %d -> %d, fused BN %d, fused act %d, folded %d, removed identity %d\n", "",
           r->st.nodes_in_file, r->st.nodes_run, r->st.fused_batchnorm, r->st.fused_activations,
           r->st.folded_constants, r->st.removed_identity);
    for (int k = 0; k < 4; k++) cam_session_free(ss[k]);
    cam_model_free(mr);
    CHECK(same, "%s: a second run gave different bits", label);
    CHECK(r->e_unopt <= TOL, "%s: unoptimised graph, fast kernels: rel L-inf %.3g", label, r->e_unopt);
    CHECK(r->e1 <= TOL, "%s: optimised, 1 thread: rel L-inf %.3g", label, r->e1);
    CHECK(r->e2 <= TOL, "%s: optimised, 2 threads: rel L-inf %.3g", label, r->e2);
    return mo;
}

/* nodes of op type `op` in the optimised graph */
static int count_op(const cam_model *m, const char *op) {
    int c = 0;
    cam_node_info ni;
    for (int i = 0; cam_model_node(m, i, &ni); i++) c += strcmp(ni.op_type, op) == 0;
    return c;
}
/* nodes with fused activation `act` ("" counts every fused one) */
static int count_fused(const cam_model *m, const char *act) {
    int c = 0;
    cam_node_info ni;
    for (int i = 0; cam_model_node(m, i, &ni); i++)
        c += ni.fused_activation && *ni.fused_activation && (!*act || strcmp(ni.fused_activation, act) == 0);
    return c;
}

static void check_output_dims(const cam_model *m, int i, int rank, const int64_t *dims) {
    cam_tensor_info o;
    cam_model_output_info(m, i, &o);
    CHECK(o.rank == rank, "output %d has rank %d, expected %d", i, o.rank, rank);
    for (int d = 0; d < rank; d++)
        CHECK(o.dims[d] == dims[d], "output %d dim %d is %lld, expected %lld", i, d, (long long)o.dims[d],
              (long long)dims[d]);
}

/* Runs compare() at each batch size (0-terminated list; options.batch also
 * overrides a static first dim) and checks the output is [batch, n_out] and
 * the optimiser stats with fn. */
typedef void (*stats_fn)(const cam_model *m, const result *r, int variant);
static void at_batches(const char *label, const ob_buf *mb, const int *batches, int64_t n_out, stats_fn fn,
                       int variant) {
    for (int i = 0; batches[i]; i++) {
        cam_model_options o;
        cam_model_options_init(&o);
        o.batch = batches[i];
        char l[128];
        snprintf(l, sizeof l, "%s, batch %d", label, batches[i]);
        result r;
        cam_model *m = compare(l, mb, &o, &r);
        check_output_dims(m, 0, 2, (const int64_t[]){batches[i], n_out});
        fn(m, &r, variant);
        cam_model_free(m);
    }
}

/* ---- 1. ResNet-50 ------------------------------------------------------------- */

/* torchvision Bottleneck (v1.5: stride on the 3x3), optional downsample */
static const char *bottleneck(gb *b, const char *x, int cin, int mid, int cout, int stride, int *pairs, int *acts) {
    const char *a = OP(b, "Relu", bn(b, CONV(b, x, cin, mid, .k = 1), mid));
    a = OP(b, "Relu", bn(b, CONV(b, a, mid, mid, .k = 3, .s = stride, .pad = 1), mid));
    a = bn(b, CONV(b, a, mid, cout, .k = 1), cout);
    const char *sc = x;
    *pairs += 3;
    *acts += 3;
    if (stride != 1 || cin != cout) {
        sc = bn(b, CONV(b, x, cin, cout, .k = 1, .s = stride), cout);
        *pairs += 1;
    }
    return OP(b, "Relu", OP(b, "Add", a, sc));
}

typedef struct resnet_cfg {
    int64_t n, h, w;       /* input dims (< 0: symbolic) */
    bool view_flatten;     /* x.view(x.size(0), -1): Shape-Gather-Unsqueeze-Concat-Reshape */
} resnet_cfg;

/* stem Conv7x7/2-BN-Relu-MaxPool3x3/2, a downsampling and an identity
 * bottleneck, GlobalAveragePool-Flatten-Gemm */
static ob_buf resnet_model(resnet_cfg c, int *pairs, int *acts, int *folds) {
    gb b;
    gb_init(&b, 101);
    *pairs = *acts = *folds = 0;
    gb_input(&b, "input", (const int64_t[]){c.n, 3, c.h, c.w}, 4);
    const char *x = OP(&b, "Relu", bn(&b, CONV(&b, "input", 3, 16, .k = 7, .s = 2, .pad = 3), 16));
    *pairs += 1;
    *acts += 1;
    x = OP(&b, "MaxPool", x);
    A_INTS(&b, "kernel_shape", 3, 3);
    A_INTS(&b, "strides", 2, 2);
    A_INTS(&b, "pads", 1, 1, 1, 1);
    x = bottleneck(&b, x, 16, 8, 32, 2, pairs, acts);
    x = bottleneck(&b, x, 32, 8, 32, 1, pairs, acts);
    x = OP(&b, "GlobalAveragePool", x);
    if (c.view_flatten) {
        const char *n = OP(&b, "Gather", OP(&b, "Shape", x), i64_scalar(&b, 0));
        A_INT(&b, "axis", 0);
        const char *shape = OP(&b, "Concat", OP(&b, "Unsqueeze", n, I64_VEC(&b, 0)), I64_VEC(&b, -1));
        A_INT(&b, "axis", 0);
        x = OP(&b, "Reshape", x, shape);
        *folds = 4;
    } else {
        x = OP(&b, "Flatten", x);
        A_INT(&b, "axis", 1);
    }
    gb_output(&b, linear(&b, x, 32, 10));
    return gb_model(&b, 13);
}

static void check_resnet_stats(const cam_model *m, const result *r, int pairs, int acts, int folds) {
    CHECK(r->st.fused_batchnorm == pairs, "fused_batchnorm %d, Conv+BN pairs %d", r->st.fused_batchnorm, pairs);
    CHECK(r->st.fused_activations == acts, "fused_activations %d, expected %d", r->st.fused_activations, acts);
    CHECK(r->st.folded_constants == folds, "folded_constants %d, expected %d", r->st.folded_constants, folds);
    CHECK(r->st.nodes_run == r->st.nodes_in_file - pairs - acts - folds, "nodes_run %d of %d",
          r->st.nodes_run, r->st.nodes_in_file);
    CHECK(count_op(m, "BatchNormalization") == 0 && count_op(m, "Relu") == 0, "BN or Relu left");
    CHECK(count_fused(m, "Relu") == acts, "%d nodes with a fused Relu", count_fused(m, "Relu"));
    /* the two residual Adds carry their Relu */
    int add_relu = 0;
    cam_node_info ni;
    for (int i = 0; cam_model_node(m, i, &ni); i++)
        add_relu += strcmp(ni.op_type, "Add") == 0 && strcmp(ni.fused_activation, "Relu") == 0;
    CHECK(add_relu == 2, "%d Add+Relu", add_relu);
}

static void resnet_stats(const cam_model *m, const result *r, int variant) {
    (void)variant;
    check_resnet_stats(m, r, 8, 7, 0);
}

TEST(resnet50_bottleneck) {
    int pairs, acts, folds;
    ob_buf mb = resnet_model((resnet_cfg){-1, 64, 64, false}, &pairs, &acts, &folds);
    CHECK(pairs == 8 && acts == 7 && folds == 0, "model has %d Conv+BN pairs, %d activations", pairs, acts);
    at_batches("resnet50 bottleneck", &mb, (const int[]){2, 1, 0}, 10, resnet_stats, 0);
    free(mb.p);
}

/* ---- 2. DenseNet ---------------------------------------------------------------- */

/* torchvision _DenseLayer: norm1-relu1-conv1(1x1, 4k)-norm2-relu2-conv2(3x3, k),
 * then Concat([x, new], 1).  norm1 follows a Concat/MaxPool, so it stays a
 * BatchNormalization node; norm2 folds into conv1. */
static ob_buf densenet_model(void) {
    gb b;
    gb_init(&b, 202);
    const int k = 8;
    gb_input(&b, "input", (const int64_t[]){1, 3, 48, 48}, 4);
    const char *x = OP(&b, "Relu", bn(&b, CONV(&b, "input", 3, 16, .k = 7, .s = 2, .pad = 3), 16));
    x = OP(&b, "MaxPool", x);
    A_INTS(&b, "kernel_shape", 3, 3);
    A_INTS(&b, "strides", 2, 2);
    A_INTS(&b, "pads", 1, 1, 1, 1);
    int c = 16;
    for (int l = 0; l < 2; l++) {
        const char *h = OP(&b, "Relu", bn(&b, x, c));
        h = OP(&b, "Relu", bn(&b, CONV(&b, h, c, 4 * k, .k = 1), 4 * k));
        h = CONV(&b, h, 4 * k, k, .k = 3, .pad = 1);
        x = OP(&b, "Concat", x, h);
        A_INT(&b, "axis", 1);
        c += k;
    }
    /* transition */
    x = CONV(&b, OP(&b, "Relu", bn(&b, x, c)), c, c / 2, .k = 1);
    x = OP(&b, "AveragePool", x);
    A_INTS(&b, "kernel_shape", 2, 2);
    A_INTS(&b, "strides", 2, 2);
    c /= 2;
    /* norm5 - relu - pool - classifier */
    x = OP(&b, "GlobalAveragePool", OP(&b, "Relu", bn(&b, x, c)));
    x = OP(&b, "Flatten", x);
    gb_output(&b, linear(&b, x, c, 10));
    return gb_model(&b, 13);
}

static void densenet_stats(const cam_model *m, const result *r, int variant) {
    (void)variant;
    /* stem conv+BN and conv1+norm2 of each layer; their Relus */
    CHECK(r->st.fused_batchnorm == 3, "fused_batchnorm %d", r->st.fused_batchnorm);
    CHECK(r->st.fused_activations == 3, "fused_activations %d", r->st.fused_activations);
    /* BN before a conv is not folded: norm1 x2, transition, norm5 */
    CHECK(count_op(m, "BatchNormalization") == 4, "%d BN nodes left", count_op(m, "BatchNormalization"));
    CHECK(count_op(m, "Relu") == 4, "%d Relu nodes left", count_op(m, "Relu"));
    CHECK(r->st.folded_constants == 0, "folded %d", r->st.folded_constants);
    CHECK(r->st.nodes_run == r->st.nodes_in_file - 6, "nodes_run %d of %d", r->st.nodes_run, r->st.nodes_in_file);
}

TEST(densenet_block) {
    ob_buf mb = densenet_model();
    at_batches("densenet block + transition", &mb, (const int[]){1, 3, 0}, 10, densenet_stats, 0);
    free(mb.p);
}

/* ---- 3. ShuffleNetV2 --------------------------------------------------------------- */

/* channel_shuffle(x, 2) with the view shapes from x.size() as torch.onnx
 * exports them: Shape -> Gather -> Unsqueeze -> Concat (9 nodes to fold) */
static const char *shuffle_exported(gb *b, const char *x, int c) {
    const char *shp = OP(b, "Shape", x), *u[4];
    for (int d = 0; d < 4; d++) {
        if (d == 1) continue;
        const char *g = OP(b, "Gather", shp, i64_scalar(b, d));
        A_INT(b, "axis", 0);
        u[d] = OP(b, "Unsqueeze", g, I64_VEC(b, 0));
    }
    const char *s5 = OP(b, "Concat", u[0], I64_VEC(b, 2), I64_VEC(b, c / 2), u[2], u[3]);
    A_INT(b, "axis", 0);
    const char *t = OP(b, "Transpose", OP(b, "Reshape", x, s5));
    A_INTS(b, "perm", 0, 2, 1, 3, 4);
    const char *s4 = OP(b, "Concat", u[0], I64_VEC(b, c), u[2], u[3]);
    A_INT(b, "axis", 0);
    return OP(b, "Reshape", t, s4);
}

/* the same with constant shapes (0 copies a dim, -1 is inferred) */
static const char *shuffle_const(gb *b, const char *x, int c, int w) {
    const char *t = OP(b, "Transpose", OP(b, "Reshape", x, I64_VEC(b, 0, 2, c / 2, -1, w)));
    A_INTS(b, "perm", 0, 2, 1, 3, 4);
    return OP(b, "Reshape", t, I64_VEC(b, 0, -1, w, w));
}

static const char *shufflenet_branch(gb *b, const char *x, int cin, int c, int stride) {
    x = OP(b, "Relu", bn(b, CONV(b, x, cin, c, .k = 1), c));
    x = bn(b, CONV(b, x, c, c, .k = 3, .s = stride, .pad = 1, .group = c), c);
    return OP(b, "Relu", bn(b, CONV(b, x, c, c, .k = 1), c));
}

static ob_buf shufflenet_model(void) {
    gb b;
    gb_init(&b, 303);
    gb_input(&b, "input", (const int64_t[]){-1, 3, 32, 32}, 4);
    const char *x = OP(&b, "Relu", bn(&b, CONV(&b, "input", 3, 24, .k = 3, .s = 2, .pad = 1), 24));
    x = OP(&b, "MaxPool", x);
    A_INTS(&b, "kernel_shape", 3, 3);
    A_INTS(&b, "strides", 2, 2);
    A_INTS(&b, "pads", 1, 1, 1, 1);
    /* stride-2 unit: both branches see the input, 24 -> 48 channels, 8x8 -> 4x4 */
    const char *left = bn(&b, CONV(&b, x, 24, 24, .k = 3, .s = 2, .pad = 1, .group = 24), 24);
    left = OP(&b, "Relu", bn(&b, CONV(&b, left, 24, 24, .k = 1), 24));
    const char *right = shufflenet_branch(&b, x, 24, 24, 2);
    x = OP(&b, "Concat", left, right);
    A_INT(&b, "axis", 1);
    x = shuffle_const(&b, x, 48, 4);
    /* stride-1 unit: Split in halves (opset 13: sizes as an input) */
    const char *x1 = gb_fmt(&b, "split_a"), *x2 = gb_fmt(&b, "split_b");
    gb_node(&b, "Split", (const char *const[]){x, I64_VEC(&b, 24, 24), NULL}, (const char *const[]){x1, x2, NULL});
    A_INT(&b, "axis", 1);
    x = OP(&b, "Concat", x1, shufflenet_branch(&b, x2, 24, 24, 1));
    A_INT(&b, "axis", 1);
    x = shuffle_exported(&b, x, 48);
    /* conv5 and x.mean([2, 3]) */
    x = OP(&b, "Relu", bn(&b, CONV(&b, x, 48, 64, .k = 1), 64));
    x = OP(&b, "ReduceMean", x);
    A_INTS(&b, "axes", 2, 3);
    A_INT(&b, "keepdims", 0);
    gb_output(&b, linear(&b, x, 64, 10));
    return gb_model(&b, 13);
}

static void shufflenet_stats(const cam_model *m, const result *r, int variant) {
    (void)variant;
    /* stem 1, stride-2 unit 2 + 3, stride-1 unit 3, conv5 1 */
    CHECK(r->st.fused_batchnorm == 10, "fused_batchnorm %d", r->st.fused_batchnorm);
    CHECK(r->st.fused_activations == 7, "fused_activations %d", r->st.fused_activations);
    /* Shape, 3 Gather, 3 Unsqueeze, 2 Concat */
    CHECK(r->st.folded_constants == 9, "folded_constants %d", r->st.folded_constants);
    CHECK(count_op(m, "Shape") == 0 && count_op(m, "Gather") == 0 && count_op(m, "Unsqueeze") == 0,
          "shape chain left in the graph");
    CHECK(count_op(m, "Reshape") == 4 && count_op(m, "Transpose") == 2 && count_op(m, "Split") == 1,
          "shuffles: %d Reshape, %d Transpose", count_op(m, "Reshape"), count_op(m, "Transpose"));
    CHECK(r->st.nodes_run == r->st.nodes_in_file - 10 - 7 - 9, "nodes_run %d of %d", r->st.nodes_run,
          r->st.nodes_in_file);
}

TEST(shufflenetv2_unit) {
    ob_buf mb = shufflenet_model();
    at_batches("shufflenetv2 units", &mb, (const int[]){2, 1, 3, 0}, 10, shufflenet_stats, 0);
    free(mb.p);
}

/* ---- 4. MobileNetV3 ------------------------------------------------------------- */

/* hardswish as written at opset >= 14, and as torch.onnx writes it below
 * opset 14: x * HardSigmoid(x, alpha = 1/6) (not fused: x has two readers) */
static const char *hswish(gb *b, const char *x, int opset) {
    if (opset >= 14) return OP(b, "HardSwish", x);
    const char *h = OP(b, "HardSigmoid", x);
    A_FLOAT(b, "alpha", 1.0f / 6.0f);
    return OP(b, "Mul", x, h);
}

/* SE: GlobalAveragePool - Conv1x1 - Relu - Conv1x1 - HardSigmoid - Mul */
static const char *se_hsig(gb *b, const char *x, int c, int r) {
    const char *s = OP(b, "GlobalAveragePool", x);
    s = OP(b, "Relu", CONV(b, s, c, r, .k = 1, .bias = true));
    s = OP(b, "HardSigmoid", CONV(b, s, r, c, .k = 1, .bias = true));
    A_FLOAT(b, "alpha", 1.0f / 6.0f);
    A_FLOAT(b, "beta", 0.5f);
    return OP(b, "Mul", x, s);
}

/* names inside the model for the keep test */
typedef struct mnv3_names { char pre_se[64], pre_se_bn[64], pre_se_conv[64], dropout[64]; } mnv3_names;

static ob_buf mobilenetv3_model(int opset, mnv3_names *nm) {
    gb b;
    gb_init(&b, 404);
    gb_input(&b, "input", (const int64_t[]){1, 3, 32, 32}, 4);
    const char *x = hswish(&b, bn(&b, CONV(&b, "input", 3, 16, .k = 3, .s = 2, .pad = 1), 16), opset);
    /* block 1: expand 16->48, depthwise 5x5/2, SE, project 48->24 (no residual) */
    const char *e = hswish(&b, bn(&b, CONV(&b, x, 16, 48, .k = 1), 48), opset);
    const char *dc = CONV(&b, e, 48, 48, .k = 5, .s = 2, .pad = 2, .group = 48);
    const char *db = bn(&b, dc, 48);
    const char *d = hswish(&b, db, opset);
    snprintf(nm->pre_se, sizeof nm->pre_se, "%s", d);
    snprintf(nm->pre_se_bn, sizeof nm->pre_se_bn, "%s", db);
    snprintf(nm->pre_se_conv, sizeof nm->pre_se_conv, "%s", dc);
    x = bn(&b, CONV(&b, se_hsig(&b, d, 48, 12), 48, 24, .k = 1), 24);
    /* block 2: expand 24->72 (Relu), depthwise 3x3, SE, project 72->24, residual */
    e = OP(&b, "Relu", bn(&b, CONV(&b, x, 24, 72, .k = 1), 72));
    d = OP(&b, "Relu", bn(&b, CONV(&b, e, 72, 72, .k = 3, .pad = 1, .group = 72), 72));
    const char *p = bn(&b, CONV(&b, se_hsig(&b, d, 72, 18), 72, 24, .k = 1), 24);
    x = OP(&b, "Add", p, x);
    /* head */
    x = hswish(&b, bn(&b, CONV(&b, x, 24, 96, .k = 1), 96), opset);
    x = OP(&b, "Flatten", OP(&b, "GlobalAveragePool", x));
    x = hswish(&b, linear(&b, x, 96, 64), opset);
    x = OP(&b, "Dropout", x);
    snprintf(nm->dropout, sizeof nm->dropout, "%s", x);
    gb_output(&b, linear(&b, x, 64, 10));
    return gb_model(&b, opset);
}

static void mobilenetv3_stats(const cam_model *m, const result *r, int opset) {
    CHECK(r->st.fused_batchnorm == 8, "fused_batchnorm %d", r->st.fused_batchnorm);
    CHECK(r->st.removed_identity == 1 && count_op(m, "Dropout") == 0, "Dropout removed: %d",
          r->st.removed_identity);
    if (opset >= 14) {
        /* HardSwish: stem, expand, dw, head conv, head Gemm; Relu: 2 + 2 SE; HardSigmoid: 2 SE */
        CHECK(r->st.fused_activations == 11, "fused_activations %d", r->st.fused_activations);
        CHECK(count_fused(m, "HardSwish") == 5 && count_fused(m, "HardSigmoid") == 2 &&
              count_fused(m, "Relu") == 4, "fused HardSwish %d, HardSigmoid %d, Relu %d",
              count_fused(m, "HardSwish"), count_fused(m, "HardSigmoid"), count_fused(m, "Relu"));
        int gemm_hs = 0;
        cam_node_info ni;
        for (int i = 0; cam_model_node(m, i, &ni); i++)
            gemm_hs += strcmp(ni.op_type, "Gemm") == 0 && strcmp(ni.fused_activation, "HardSwish") == 0;
        CHECK(gemm_hs == 1, "HardSwish fused into the Gemm: %d", gemm_hs);
        CHECK(count_op(m, "Mul") == 2 && count_op(m, "HardSwish") == 0, "nodes left");
        CHECK(r->st.nodes_run == r->st.nodes_in_file - 8 - 11 - 1, "nodes_run %d of %d", r->st.nodes_run,
              r->st.nodes_in_file);
    } else {
        /* x * HardSigmoid(x) (alpha 1/6, beta 1/2) is HardSwish: each pair
         * fuses into the producer like the opset-14 HardSwish nodes, the
         * Mul included; the SE gates and Relus fuse as before */
        CHECK(r->st.fused_activations == 11, "fused_activations %d", r->st.fused_activations);
        CHECK(count_fused(m, "HardSwish") == 5 && count_fused(m, "HardSigmoid") == 2 && count_fused(m, "Relu") == 4,
              "fused HardSwish %d, HardSigmoid %d, Relu %d", count_fused(m, "HardSwish"), count_fused(m, "HardSigmoid"),
              count_fused(m, "Relu"));
        CHECK(count_op(m, "HardSigmoid") == 0 && count_op(m, "Mul") == 2, "HardSigmoid %d, Mul %d left",
              count_op(m, "HardSigmoid"), count_op(m, "Mul"));
        CHECK(r->st.nodes_run == r->st.nodes_in_file - 8 - 11 - 5 - 1, "nodes_run %d of %d", r->st.nodes_run,
              r->st.nodes_in_file);
    }
}

TEST(mobilenetv3_block) {
    mnv3_names nm;
    ob_buf mb = mobilenetv3_model(14, &nm);
    at_batches("mobilenetv3, opset 14", &mb, (const int[]){1, 3, 0}, 10, mobilenetv3_stats, 14);
    free(mb.p);
    /* torch.onnx below opset 14: hardswish as x * HardSigmoid(x) */
    mb = mobilenetv3_model(13, &nm);
    at_batches("mobilenetv3, opset 13", &mb, (const int[]){1, 3, 0}, 10, mobilenetv3_stats, 13);
    free(mb.p);
}

/* ---- 5. TF / TFLite-converted MobileNet ---------------------------------------------- */

/* tf2onnx style: NHWC input and a Transpose; explicit Pad + VALID stride-2
 * conv; ReLU6 as Clip; depthwise convs with SAME_UPPER (asymmetric at
 * stride 2) and SAME_LOWER, one with a channel multiplier of 2; explicit
 * asymmetric Conv pads; Keras Conv(bias) + BN(epsilon 1e-3); mean over H, W;
 * a hidden MatMul + Add + Relu layer; MatMul + Add; Softmax.  At opset 9:
 * Pad and Clip with attributes, GlobalAveragePool + Flatten. */
static const char *relu6(gb *b, const char *x, int opset) {
    if (opset >= 11) return OP(b, "Clip", x, f32_scalar(b, 0.0f), f32_scalar(b, 6.0f));
    const char *y = OP(b, "Clip", x);
    A_FLOAT(b, "min", 0.0f);
    A_FLOAT(b, "max", 6.0f);
    return y;
}

static const char *matmul_add(gb *b, const char *x, int n_in, int n_out) {
    float a = sqrtf(3.0f / (float)n_in);
    x = OP(b, "MatMul", x, init_rand(b, "W", (const int64_t[]){n_in, n_out}, 2, -a, a));
    return OP(b, "Add", x, init_rand(b, "B", (const int64_t[]){n_out}, 1, -0.1f, 0.1f));
}

static ob_buf tf_mobilenet_model(int opset) {
    gb b;
    gb_init(&b, 505 + (unsigned)opset);
    const float G = 4.0f;   /* pre-activations of several units: ReLU6 clips at both ends */
    gb_input(&b, "input:0", (const int64_t[]){1, 32, 32, 3}, 4);
    const char *x = OP(&b, "Transpose", "input:0");
    A_INTS(&b, "perm", 0, 3, 1, 2);
    if (opset >= 11) {
        x = OP(&b, "Pad", x, I64_VEC(&b, 0, 0, 0, 0, 0, 0, 1, 1), f32_scalar(&b, 0.0f));
    } else {
        x = OP(&b, "Pad", x);
        A_INTS(&b, "pads", 0, 0, 0, 0, 0, 0, 1, 1);
        A_STR(&b, "mode", "constant");
        A_FLOAT(&b, "value", 0.0f);
    }
    x = relu6(&b, CONV(&b, x, 3, 16, .k = 3, .s = 2, .auto_pad = "VALID", .bias = true, .gain = G), opset);   /* 16x16 */
    /* depthwise, channel multiplier 2 */
    x = relu6(&b, CONV(&b, x, 16, 32, .k = 3, .group = 16, .auto_pad = "SAME_UPPER", .bias = true,
                       .no_kernel_shape = true, .gain = G), opset);
    x = relu6(&b, CONV(&b, x, 32, 32, .k = 1, .bias = true, .gain = G), opset);
    x = relu6(&b, CONV(&b, x, 32, 32, .k = 3, .s = 2, .group = 32, .auto_pad = "SAME_UPPER", .bias = true, .gain = G),
              opset);                                                                              /* 8x8 */
    x = relu6(&b, bn_eps(&b, CONV(&b, x, 32, 48, .k = 1, .bias = true, .gain = G), 48, 0.001f), opset);
    x = relu6(&b, CONV(&b, x, 48, 48, .k = 3, .s = 2, .group = 48, .auto_pad = "SAME_LOWER", .bias = true, .gain = G),
              opset);                                                                              /* 4x4 */
    x = relu6(&b, CONV(&b, x, 48, 48, .k = 3, .s = 2, .group = 48, .pads = (const int64_t[]){0, 0, 1, 1},
                       .bias = true, .gain = G), opset);                                                      /* 2x2 */
    if (opset >= 11) {
        x = OP(&b, "ReduceMean", x);
        A_INTS(&b, "axes", 2, 3);
        A_INT(&b, "keepdims", 0);
    } else {
        x = OP(&b, "Flatten", OP(&b, "GlobalAveragePool", x));
    }
    x = OP(&b, "Relu", matmul_add(&b, x, 48, 32));
    x = OP(&b, "Softmax", matmul_add(&b, x, 32, 10));
    if (opset < 13) A_INT(&b, "axis", 1);
    gb_output(&b, x);
    return gb_model(&b, opset);
}

static void tf_stats(const cam_model *m, const result *r, int opset) {
    (void)opset;
    CHECK(r->st.fused_batchnorm == 1, "fused_batchnorm %d", r->st.fused_batchnorm);
    /* 7 ReLU6 into Convs, the hidden layer's Relu into its (broadcasting) Add */
    CHECK(r->st.fused_activations == 8 && count_fused(m, "Clip") == 7, "fused_activations %d, Clip %d",
          r->st.fused_activations, count_fused(m, "Clip"));
    int add_relu = 0;
    cam_node_info ni;
    for (int i = 0; cam_model_node(m, i, &ni); i++)
        add_relu += strcmp(ni.op_type, "Add") == 0 && strcmp(ni.fused_activation, "Relu") == 0;
    CHECK(add_relu == 1, "Add+Relu %d", add_relu);
    CHECK(count_op(m, "Clip") == 0 && count_op(m, "Relu") == 0 && count_op(m, "Pad") == 1, "Clip or Pad");
    CHECK(r->st.folded_constants == 0, "folded_constants %d", r->st.folded_constants);
    CHECK(r->st.nodes_run == r->st.nodes_in_file - 9, "nodes_run %d of %d", r->st.nodes_run, r->st.nodes_in_file);
}

TEST(tf_mobilenet_opset11) {
    ob_buf mb = tf_mobilenet_model(11);
    at_batches("tf-converted mobilenet, opset 11", &mb, (const int[]){1, 3, 0}, 10, tf_stats, 11);
    free(mb.p);
}

TEST(tf_mobilenet_opset9) {
    ob_buf mb = tf_mobilenet_model(9);
    at_batches("tf-converted mobilenet, opset 9", &mb, (const int[]){1, 3, 0}, 10, tf_stats, 9);
    free(mb.p);
}

/* TF's SAME padding puts the odd pixel at the end: at stride 2 on even
 * sizes a SAME_UPPER Conv equals Pad(end) + VALID Conv, and SAME_LOWER
 * equals Pad(begin) + VALID.  The comparisons above cannot see a padding
 * rule both kernel paths share; this checks it against Pad. */
TEST(tf_same_padding_equals_explicit_pad) {
    gb b;
    gb_init(&b, 515);
    gb_input(&b, "x", (const int64_t[]){1, 8, 16, 16}, 4);
    static const struct { const char *ap; int k; int64_t pads[8]; } cases[] = {
        /* k 3: total pad 1; k 5: total pad 3 */
        {"SAME_UPPER", 3, {0, 0, 0, 0, 0, 0, 1, 1}}, {"SAME_LOWER", 3, {0, 0, 1, 1, 0, 0, 0, 0}},
        {"SAME_UPPER", 5, {0, 0, 1, 1, 0, 0, 2, 2}}, {"SAME_LOWER", 5, {0, 0, 2, 2, 0, 0, 1, 1}},
    };
    for (int c = 0; c < 4; c++) {
        for (int dw = 0; dw < 2; dw++) {
            int cout = dw ? 8 : 12, g = dw ? 8 : 1, k = cases[c].k;
            float a = sqrtf(3.0f / (float)(8 / g * k * k));
            const char *w = init_rand(&b, "W", (const int64_t[]){cout, 8 / g, k, k}, 4, -a, a);
            const char *y1 = OP(&b, "Conv", "x", w);
            A_INTS(&b, "strides", 2, 2);
            A_STR(&b, "auto_pad", cases[c].ap);
            if (g > 1) A_INT(&b, "group", g);
            const char *p = OP(&b, "Pad", "x", init_i64(&b, "pads", (const int64_t[]){8}, 1, cases[c].pads));
            const char *y2 = OP(&b, "Conv", p, w);
            A_INTS(&b, "strides", 2, 2);
            A_STR(&b, "auto_pad", "VALID");
            if (g > 1) A_INT(&b, "group", g);
            gb_output(&b, y1);
            gb_output(&b, y2);
        }
    }
    ob_buf mb = gb_model(&b, 13);
    result r;
    cam_model *m = compare("SAME_UPPER/LOWER vs Pad + VALID", &mb, NULL, &r);
    char err[256];
    for (int threads = 1; threads <= 2; threads++) {
        cam_session *s = NULL;
        CHECK(cam_session_create(m, threads, &s, err, sizeof err) == CAM_OK, "%s", err);
        fill_inputs(&s, 1, m);
        cam_session_run(s);
        for (int o = 0; o < cam_model_num_outputs(m); o += 2) {
            cam_tensor_info i1, i2;
            cam_model_output_info(m, o, &i1);
            cam_model_output_info(m, o + 1, &i2);
            same_shape(&i1, &i2);
            CHECK(i1.dims[2] == 8 && i1.dims[3] == 8, "output %d is %lldx%lld", o, (long long)i1.dims[2],
                  (long long)i1.dims[3]);
            double e = check_rel_linf(cam_session_output(s, o), cam_session_output(s, o + 1), i1.numel);
            CHECK(e <= TOL, "%s k%d %s: auto_pad vs explicit Pad: rel L-inf %.3g (%d threads)",
                  cases[o / 4].ap, cases[o / 4].k, (o / 2) % 2 ? "depthwise" : "dense", e, threads);
        }
        cam_session_free(s);
    }
    cam_model_free(m);
    free(mb.p);
}

/* ---- 6. GoogLeNet ------------------------------------------------------------------ */

static const char *conv_relu(gb *b, const char *x, int cin, int cout, int k) {
    return OP(b, "Relu", CONV(b, x, cin, cout, .k = k, .pad = k / 2, .bias = true));
}

static const char *maxpool_ceil(gb *b, const char *x) {
    x = OP(b, "MaxPool", x);
    A_INTS(b, "kernel_shape", 3, 3);
    A_INTS(b, "strides", 2, 2);
    A_INT(b, "ceil_mode", 1);
    return x;
}

/* Inception v1 (BVLC GoogLeNet) stem and block, plus an Inception-v3 style
 * factorised 1x1 -> 1x5 -> 5x1 branch (non-square kernels and pads) */
static ob_buf googlenet_model(void) {
    gb b;
    gb_init(&b, 606);
    gb_input(&b, "data_0", (const int64_t[]){1, 3, 40, 40}, 4);
    const char *x = OP(&b, "Relu", CONV(&b, "data_0", 3, 16, .k = 7, .s = 2, .pad = 3, .bias = true));  /* 20 */
    x = maxpool_ceil(&b, x);                                                                              /* 10 */
    x = OP(&b, "LRN", x);   /* the BVLC values: tiny effect */
    A_INT(&b, "size", 5);
    A_FLOAT(&b, "alpha", 1e-4f);
    A_FLOAT(&b, "beta", 0.75f);
    A_FLOAT(&b, "bias", 1.0f);
    x = conv_relu(&b, conv_relu(&b, x, 16, 16, 1), 16, 24, 3);
    x = OP(&b, "LRN", x);   /* one that changes the values noticeably */
    A_INT(&b, "size", 5);
    A_FLOAT(&b, "alpha", 0.5f);
    A_FLOAT(&b, "beta", 0.75f);
    A_FLOAT(&b, "bias", 2.0f);
    x = maxpool_ceil(&b, x);                                                                              /* 5 */
    /* inception: 1x1 | 1x1-3x3 | 1x1-5x5 | maxpool-1x1 | 1x1-1x5-5x1 */
    const char *b1 = conv_relu(&b, x, 24, 8, 1);
    const char *b2 = conv_relu(&b, conv_relu(&b, x, 24, 8, 1), 8, 12, 3);
    const char *b3 = conv_relu(&b, conv_relu(&b, x, 24, 4, 1), 4, 6, 5);
    const char *p = OP(&b, "MaxPool", x);
    A_INTS(&b, "kernel_shape", 3, 3);
    A_INTS(&b, "pads", 1, 1, 1, 1);
    const char *b4 = conv_relu(&b, p, 24, 6, 1);
    const char *b5 = conv_relu(&b, x, 24, 4, 1);
    b5 = OP(&b, "Relu", CONV(&b, b5, 4, 6, .k = 1, .kw = 5, .pads = (const int64_t[]){0, 2, 0, 2}, .bias = true));
    b5 = OP(&b, "Relu", CONV(&b, b5, 6, 6, .k = 5, .kw = 1, .pads = (const int64_t[]){2, 0, 2, 0}, .bias = true));
    x = OP(&b, "Concat", b1, b2, b3, b4, b5);
    A_INT(&b, "axis", 1);
    x = OP(&b, "AveragePool", x);
    A_INTS(&b, "kernel_shape", 5, 5);
    x = OP(&b, "Flatten", OP(&b, "Dropout", x));
    gb_output(&b, OP(&b, "Softmax", linear(&b, x, 38, 10)));
    return gb_model(&b, 13);
}

static void googlenet_stats(const cam_model *m, const result *r, int variant) {
    (void)variant;
    CHECK(r->st.fused_batchnorm == 0, "fused_batchnorm %d", r->st.fused_batchnorm);
    /* every Conv carries its Relu: stem 3 + inception 9 */
    CHECK(r->st.fused_activations == 12 && count_op(m, "Relu") == 0, "fused_activations %d",
          r->st.fused_activations);
    CHECK(count_fused(m, "Relu") == count_op(m, "Conv"), "%d Conv, %d with Relu", count_op(m, "Conv"),
          count_fused(m, "Relu"));
    CHECK(r->st.removed_identity == 1 && count_op(m, "Dropout") == 0, "removed_identity %d",
          r->st.removed_identity);
    CHECK(count_op(m, "LRN") == 2 && count_op(m, "MaxPool") == 3, "LRN/MaxPool");
    CHECK(r->st.nodes_run == r->st.nodes_in_file - 13, "nodes_run %d of %d", r->st.nodes_run, r->st.nodes_in_file);
}

TEST(googlenet_inception) {
    ob_buf mb = googlenet_model();
    at_batches("googlenet LRN + inception", &mb, (const int[]){1, 3, 0}, 10, googlenet_stats, 0);
    free(mb.p);
}

/* ---- Concat planned in place (plan.c) ---------------------------------------------- */

/* Concats whose inputs the plan may place inside the output (a fire module)
 * next to ones it must copy: the same tensor twice, an input also read by
 * another node, a Concat of a Concat, a graph input, an input that is a
 * graph output; at batch 1 (in place) and 3 (copied). */
static ob_buf concat_model(void) {
    gb b;
    gb_init(&b, 909);
    gb_input(&b, "input", (const int64_t[]){-1, 8, 12, 12}, 4);
    const char *c0 = OP(&b, "Concat", "input", OP(&b, "Relu", CONV(&b, "input", 8, 8, .k = 3, .pad = 1)));
    A_INT(&b, "axis", 1);
    const char *sq = OP(&b, "Relu", CONV(&b, c0, 16, 16, .k = 1, .bias = true));
    const char *e1 = OP(&b, "Relu", CONV(&b, sq, 16, 16, .k = 1, .bias = true));
    const char *e3 = OP(&b, "Relu", CONV(&b, sq, 16, 16, .k = 3, .pad = 1, .bias = true));
    const char *fire = OP(&b, "Concat", e1, e3);
    A_INT(&b, "axis", 1);
    const char *q = OP(&b, "Relu", CONV(&b, fire, 32, 16, .k = 1));
    const char *twice = OP(&b, "Concat", q, q);
    A_INT(&b, "axis", 1);
    const char *r = CONV(&b, twice, 32, 8, .k = 1);
    const char *shared = OP(&b, "Concat", r, CONV(&b, r, 8, 8, .k = 3, .pad = 1));
    A_INT(&b, "axis", 1);
    const char *inner = OP(&b, "Concat", CONV(&b, shared, 16, 8, .k = 1), CONV(&b, shared, 16, 8, .k = 3, .pad = 1));
    A_INT(&b, "axis", 1);
    const char *side = CONV(&b, shared, 16, 16, .k = 1);
    gb_output(&b, side);
    const char *outer = OP(&b, "Concat", inner, CONV(&b, shared, 16, 16, .k = 1), side);
    A_INT(&b, "axis", 1);
    const char *x = OP(&b, "Flatten", OP(&b, "GlobalAveragePool", outer));
    gb_output(&b, linear(&b, x, 48, 10));
    /* r is read again long after `shared` is dead */
    gb_output(&b, OP(&b, "Add", r, CONV(&b, outer, 48, 8, .k = 1)));
    return gb_model(&b, 13);
}

static void concat_stats(const cam_model *m, const result *r, int variant) {
    (void)r; (void)variant;
    CHECK(count_op(m, "Concat") == 6, "Concat %d", count_op(m, "Concat"));
}

TEST(concat_in_place) {
    ob_buf mb = concat_model();
    for (int i = 0; i < 2; i++) {
        cam_model_options o;
        cam_model_options_init(&o);
        o.batch = i ? 3 : 1;
        char l[64];
        snprintf(l, sizeof l, "concats, batch %d", o.batch);
        result r;
        cam_model *m = compare(l, &mb, &o, &r);
        concat_stats(m, &r, 0);
        cam_model_free(m);
    }
    free(mb.p);
}

/* ---- 7. EfficientNet ------------------------------------------------------------------ */

/* SE with SiLU and Sigmoid: GAP - Conv - x*Sigmoid(x) - Conv - Sigmoid - Mul */
static const char *se_silu(gb *b, const char *x, int c, int r) {
    const char *s = OP(b, "GlobalAveragePool", x);
    s = silu(b, CONV(b, s, c, r, .k = 1, .bias = true), false);
    s = OP(b, "Sigmoid", CONV(b, s, r, c, .k = 1, .bias = true));
    return OP(b, "Mul", x, s);
}

static const char *mbconv(gb *b, const char *x, int cin, int cout, int expand, int k, int stride) {
    int c = cin * expand;
    const char *h = silu(b, bn(b, CONV(b, x, cin, c, .k = 1), c), false);
    h = silu(b, bn(b, CONV(b, h, c, c, .k = k, .s = stride, .pad = k / 2, .group = c), c), true);
    h = bn(b, CONV(b, se_silu(b, h, c, cin / 4), c, cout, .k = 1), cout);
    return stride == 1 && cin == cout ? OP(b, "Add", h, x) : h;
}

static ob_buf efficientnet_model(void) {
    gb b;
    gb_init(&b, 707);
    gb_input(&b, "input", (const int64_t[]){1, 3, 32, 32}, 4);
    const char *x = silu(&b, bn(&b, CONV(&b, "input", 3, 16, .k = 3, .s = 2, .pad = 1), 16), false);
    x = mbconv(&b, x, 16, 16, 4, 3, 1);
    x = mbconv(&b, x, 16, 24, 6, 5, 2);
    x = silu(&b, bn(&b, CONV(&b, x, 24, 64, .k = 1), 64), true);
    x = OP(&b, "Flatten", OP(&b, "GlobalAveragePool", x));
    gb_output(&b, linear(&b, x, 64, 10));
    return gb_model(&b, 13);
}

static void efficientnet_stats(const cam_model *m, const result *r, int variant) {
    (void)variant;
    CHECK(r->st.fused_batchnorm == 8, "fused_batchnorm %d", r->st.fused_batchnorm);
    /* SiLU: stem, 2x (expand, dw, SE), head = 8; Sigmoid: 2 SE gates */
    CHECK(r->st.fused_activations == 10, "fused_activations %d", r->st.fused_activations);
    CHECK(count_fused(m, "Silu") == 8 && count_fused(m, "Sigmoid") == 2, "fused Silu %d, Sigmoid %d",
          count_fused(m, "Silu"), count_fused(m, "Sigmoid"));
    CHECK(count_op(m, "Sigmoid") == 0 && count_op(m, "Mul") == 2, "Sigmoid %d, Mul %d left", count_op(m, "Sigmoid"),
          count_op(m, "Mul"));
    /* each SiLU removes a Sigmoid and a Mul */
    CHECK(r->st.nodes_run == r->st.nodes_in_file - 8 - 2 * 8 - 2, "nodes_run %d of %d", r->st.nodes_run,
          r->st.nodes_in_file);
}

TEST(efficientnet_mbconv) {
    ob_buf mb = efficientnet_model();
    at_batches("efficientnet mbconv (SiLU, SE)", &mb, (const int[]){1, 3, 0}, 10, efficientnet_stats, 0);
    free(mb.p);
}

/* ---- 8. other input sizes -------------------------------------------------------------- */

static void resnet_at(const char *label, resnet_cfg c, int batch, int h, int w, int64_t out_n) {
    int pairs, acts, folds;
    ob_buf mb = resnet_model(c, &pairs, &acts, &folds);
    cam_model_options o;
    cam_model_options_init(&o);
    o.batch = batch;
    o.input_h = h;
    o.input_w = w;
    result r;
    cam_model *m = compare(label, &mb, &o, &r);
    cam_tensor_info ii;
    cam_model_input_info(m, 0, &ii);
    int64_t eh = h ? h : c.h, ew = w ? w : c.w;
    CHECK(ii.dims[0] == out_n && ii.dims[2] == eh && ii.dims[3] == ew, "input %lldx3x%lldx%lld",
          (long long)ii.dims[0], (long long)ii.dims[2], (long long)ii.dims[3]);
    check_output_dims(m, 0, 2, (const int64_t[]){out_n, 10});
    check_resnet_stats(m, &r, pairs, acts, folds);
    cam_model_free(m);
    free(mb.p);
}

TEST(input_size_symbolic_hw) {
    /* N, H, W symbolic; the flatten is torch's x.view(x.size(0), -1) */
    resnet_at("resnet, symbolic N,H,W = 2,40,24", (resnet_cfg){-1, -1, -1, true}, 2, 40, 24, 2);
    resnet_at("resnet, symbolic N,H,W = 1,33,21", (resnet_cfg){-1, -1, -1, true}, 0, 33, 21, 1);
}

TEST(input_size_static_nonsquare) {
    resnet_at("resnet, static 1x3x48x32", (resnet_cfg){1, 48, 32, false}, 0, 0, 0, 1);
    resnet_at("resnet, static 1x3x48x32, view", (resnet_cfg){1, 48, 32, true}, 0, 0, 0, 1);
}

/* ---- 9. keep ------------------------------------------------------------------------- */

/* Loads the MobileNetV3 motif optimised with options.keep = {name} and
 * unoptimised (also keeping it), and checks the kept tensor and the output
 * against the reference run. */
static cam_model *keep_one(const ob_buf *mb, const char *name, const int64_t *dims, int rank) {
    cam_model_options o;
    cam_model_options_init(&o);
    const char *keep[1] = {name};
    o.keep = keep;
    o.n_keep = 1;
    result r;
    char label[128];
    snprintf(label, sizeof label, "mobilenetv3 keep %s", name);
    cam_model *mo = compare(label, mb, &o, &r);   /* the output still matches */
    o.optimize = 0;
    cam_model *mr = load(mb, &o, "unoptimised");
    cam_session *ss[3] = {new_session(mo, 1, false), new_session(mo, 2, false), new_session(mr, 1, true)};
    fill_inputs(ss, 3, mo);
    for (int k = 0; k < 3; k++) cam_session_run(ss[k]);
    cam_tensor_info ti[3];
    const float *t[3];
    for (int k = 0; k < 3; k++) {
        t[k] = cam_session_tensor(ss[k], name, &ti[k]);
        CHECK(t[k] != NULL, "session %d: kept tensor %s not readable", k, name);
    }
    CHECK(ti[0].rank == rank, "%s has rank %d", name, ti[0].rank);
    for (int d = 0; d < rank; d++)
        CHECK(ti[0].dims[d] == dims[d] && ti[2].dims[d] == dims[d], "%s dim %d: %lld", name, d,
              (long long)ti[0].dims[d]);
    double e1 = check_rel_linf(t[0], t[2], ti[2].numel), e2 = check_rel_linf(t[1], t[2], ti[2].numel);
    double mx = 0;
    for (size_t i = 0; i < ti[2].numel; i++) mx = fabs(t[2][i]) > mx ? fabs(t[2][i]) : mx;
    printf("  %-34s kept tensor: (a) %.2e  (b) %.2e   [max|ref| %.3g]\n", "", e1, e2, mx);
    CHECK(mx > 1e-3, "degenerate kept tensor");
    CHECK(e1 <= TOL && e2 <= TOL, "kept %s: rel L-inf %.3g (1 thread), %.3g (2 threads)", name, e1, e2);
    for (int k = 0; k < 3; k++) cam_session_free(ss[k]);
    cam_model_free(mr);
    return mo;
}

TEST(keep_survives_fusion) {
    mnv3_names nm;
    ob_buf mb = mobilenetv3_model(14, &nm);
    const int64_t d48[4] = {1, 48, 8, 8};
    cam_model_stats st;
    /* the HardSwish output before SE: the fused dw Conv writes it */
    cam_model *m = keep_one(&mb, nm.pre_se, d48, 4);
    cam_model_stats_get(m, &st);
    CHECK(st.fused_batchnorm == 8 && st.fused_activations == 11, "fusion still allowed: BN %d, act %d",
          st.fused_batchnorm, st.fused_activations);
    cam_model_free(m);
    /* the BN output (HardSwish input): BN still folds, HardSwish must stay */
    m = keep_one(&mb, nm.pre_se_bn, d48, 4);
    cam_model_stats_get(m, &st);
    CHECK(st.fused_batchnorm == 8 && st.fused_activations == 10 && count_op(m, "HardSwish") == 1,
          "BN %d, act %d, HardSwish nodes %d", st.fused_batchnorm, st.fused_activations, count_op(m, "HardSwish"));
    cam_model_free(m);
    /* the raw dw Conv output: its BN must stay (and so its HardSwish) */
    m = keep_one(&mb, nm.pre_se_conv, d48, 4);
    cam_model_stats_get(m, &st);
    CHECK(st.fused_batchnorm == 7 && st.fused_activations == 10 && count_op(m, "BatchNormalization") == 1,
          "BN %d, act %d", st.fused_batchnorm, st.fused_activations);
    cam_model_free(m);
    /* a Dropout output: the Dropout is not removed */
    m = keep_one(&mb, nm.dropout, (const int64_t[]){1, 64}, 2);
    cam_model_stats_get(m, &st);
    CHECK(st.removed_identity == 0 && count_op(m, "Dropout") == 1, "removed_identity %d", st.removed_identity);
    cam_model_free(m);
    free(mb.p);
}

/* ---- optimiser naming --------------------------------------------------------------- */

/* Node names are optional and need not be unique in ONNX: two Conv+BN
 * pairs whose Convs are both named "conv", an unnamed one, all three
 * sharing one weight initializer, and an initializer that already has the
 * name the optimiser would give a folded weight ("<conv>/folded_weight").
 * The load used to fail with "out of memory folding ..." here. */
TEST(duplicate_node_names_shared_weights) {
    gb b;
    gb_init(&b, 808);
    gb_input(&b, "input", (const int64_t[]){1, 8, 16, 16}, 4);
    float a = sqrtf(3.0f / 72);
    const char *w = init_rand(&b, "W_shared", (const int64_t[]){8, 8, 3, 3}, 4, -a, a);
    b.next_name = "conv";
    const char *x = OP(&b, "Conv", "input", w);
    A_INTS(&b, "pads", 1, 1, 1, 1);
    x = OP(&b, "Relu", bn(&b, x, 8));
    b.next_name = "conv";
    x = OP(&b, "Conv", x, w);
    A_INTS(&b, "pads", 1, 1, 1, 1);
    x = OP(&b, "Relu", bn(&b, x, 8));
    b.next_name = "";   /* unnamed: the loader names it */
    x = OP(&b, "Conv", x, w);
    A_INTS(&b, "pads", 1, 1, 1, 1);
    x = bn(&b, x, 8);
    float clash_data[8];
    for (int i = 0; i < 8; i++) clash_data[i] = 0.25f * (float)i;
    ob_tensor_f32(&b.g, 5, "conv/folded_weight", (const int64_t[]){1, 8, 1, 1}, 4, clash_data);
    gb_output(&b, OP(&b, "Add", x, "conv/folded_weight"));
    ob_buf mb = gb_model(&b, 13);
    result r;
    cam_model *m = compare("duplicate node names, shared W", &mb, NULL, &r);
    CHECK(r.st.fused_batchnorm == 3 && r.st.fused_activations == 2, "fused BN %d, act %d", r.st.fused_batchnorm,
          r.st.fused_activations);
    /* each Conv got its own folded weight; the file's tensor is untouched */
    cam_tensor_info ti;
    const float *c = cam_model_constant(m, "conv/folded_weight", &ti);
    CHECK(c && ti.numel == 8 && memcmp(c, clash_data, sizeof clash_data) == 0, "initializer conv/folded_weight");
    cam_node_info ni;
    const char *seen[3] = {0};
    int n_conv = 0;
    for (int i = 0; cam_model_node(m, i, &ni); i++) {
        if (strcmp(ni.op_type, "Conv") != 0) continue;
        CHECK(n_conv < 3 && strcmp(ni.inputs[1], "W_shared") != 0 && strcmp(ni.inputs[1], "conv/folded_weight") != 0,
              "conv %d reads %s", n_conv, ni.inputs[1]);
        for (int k = 0; k < n_conv; k++) CHECK(strcmp(seen[k], ni.inputs[1]) != 0, "two convs read %s", seen[k]);
        seen[n_conv++] = ni.inputs[1];
    }
    CHECK(n_conv == 3, "%d convs", n_conv);
    cam_model_free(m);
    free(mb.p);
}

int main(void) {
    RUN(resnet50_bottleneck);
    RUN(densenet_block);
    RUN(shufflenetv2_unit);
    RUN(mobilenetv3_block);
    RUN(tf_mobilenet_opset11);
    RUN(tf_mobilenet_opset9);
    RUN(tf_same_padding_equals_explicit_pad);
    RUN(googlenet_inception);
    RUN(efficientnet_mbconv);
    RUN(concat_in_place);
    RUN(input_size_symbolic_hw);
    RUN(input_size_static_nonsquare);
    RUN(keep_survives_fusion);
    RUN(duplicate_node_names_shared_weights);
    return check_summary();
}
