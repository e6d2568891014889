/* test_conformance.c: ONNX's official node tests (Debian's libonnx-testdata)
 * for every operator in our table.
 *
 * A test directory holds model.onnx and test_data_set_N/{input,output}_K.pb.
 * It applies when every operator its model uses is a row of our table; each
 * applicable directory must load, run and match every output (ONNX backend
 * tolerance: |y - ref| <= 1e-7 + 1e-3 |ref|; integers exactly), unless it is
 * listed in `known_unsupported` below with the reason.
 *
 *   test_conformance            all applicable directories
 *   test_conformance relu conv  only directories whose name contains a word
 *   test_conformance -v         also list the directories that do not apply */
#include "check.h"
#include "model.h"

#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>

#define NODE_DIR "/usr/share/libonnx-testdata/data/node"

/* Directories of implemented operators that we do not run, and why. */
static const struct { const char *dir, *why; } known_unsupported[] = {
    {"test_add_uint8", "8-bit integer tensors: camserve runs float32 with int64/int32 shape tensors"},
    {"test_batchnorm_epsilon_training_mode", "training-mode BatchNormalization (running statistics outputs): inference only"},
    {"test_batchnorm_example_training_mode", "training-mode BatchNormalization (running statistics outputs): inference only"},
    {"test_cast_BFLOAT16_to_FLOAT", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_cast_DOUBLE_to_FLOAT", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_cast_DOUBLE_to_FLOAT16", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_cast_FLOAT16_to_DOUBLE", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_cast_FLOAT16_to_FLOAT", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_cast_FLOAT_to_BFLOAT16", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_cast_FLOAT_to_DOUBLE", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_cast_FLOAT_to_FLOAT16", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_cast_FLOAT_to_STRING", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_cast_STRING_to_FLOAT", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_castlike_BFLOAT16_to_FLOAT_expanded", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_castlike_DOUBLE_to_FLOAT16_expanded", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_castlike_DOUBLE_to_FLOAT_expanded", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_castlike_FLOAT16_to_DOUBLE_expanded", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_castlike_FLOAT16_to_FLOAT_expanded", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_castlike_FLOAT_to_BFLOAT16_expanded", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_castlike_FLOAT_to_DOUBLE_expanded", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_castlike_FLOAT_to_FLOAT16_expanded", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_castlike_FLOAT_to_STRING_expanded", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_castlike_STRING_to_FLOAT_expanded", "float16/bfloat16/double/string tensors: not an element type of the runtime"},
    {"test_clip_default_int8_inbounds", "8-bit integer tensors: camserve runs float32 with int64/int32 shape tensors"},
    {"test_clip_default_int8_max", "8-bit integer tensors: camserve runs float32 with int64/int32 shape tensors"},
    {"test_clip_default_int8_min", "8-bit integer tensors: camserve runs float32 with int64/int32 shape tensors"},
    {"test_div_uint8", "8-bit integer tensors: camserve runs float32 with int64/int32 shape tensors"},
    {"test_dropout_default_mask", "Dropout's mask output (bool): inference graphs do not read it"},
    {"test_dropout_default_mask_ratio", "Dropout's mask output (bool): inference graphs do not read it"},
    {"test_edge_pad", "Pad on int64 data: Pad is implemented for float activations"},
    {"test_identity_opt", "optional-typed input: only tensors are supported"},
    {"test_identity_sequence", "sequence-typed input: only tensors are supported"},
    {"test_maxpool_2d_uint8", "8-bit integer tensors: camserve runs float32 with int64/int32 shape tensors"},
    {"test_maxpool_with_argmax_2d_precomputed_pads", "MaxPool's Indices output: inference graphs of CNNs do not use it"},
    {"test_maxpool_with_argmax_2d_precomputed_strides", "MaxPool's Indices output: inference graphs of CNNs do not use it"},
    {"test_mul_uint8", "8-bit integer tensors: camserve runs float32 with int64/int32 shape tensors"},
    {"test_reflect_pad", "Pad on int64 data: Pad is implemented for float activations"},
    {"test_sub_uint8", "8-bit integer tensors: camserve runs float32 with int64/int32 shape tensors"},
    {"test_training_dropout", "training-mode Dropout (random masks, bool inputs): inference only"},
    {"test_training_dropout_default", "training-mode Dropout (random masks, bool inputs): inference only"},
    {"test_training_dropout_default_mask", "training-mode Dropout (random masks, bool inputs): inference only"},
    {"test_training_dropout_mask", "training-mode Dropout (random masks, bool inputs): inference only"},
    {"test_training_dropout_zero_ratio", "training-mode Dropout (random masks, bool inputs): inference only"},
    {"test_training_dropout_zero_ratio_mask", "training-mode Dropout (random masks, bool inputs): inference only"},
    {NULL, NULL},
};

static const char *unsupported_reason(const char *dir) {
    for (int i = 0; known_unsupported[i].dir; i++)
        if (strcmp(known_unsupported[i].dir, dir) == 0) return known_unsupported[i].why;
    return NULL;
}

static bool in_table(const char *op) {
    int count;
    const cam__op_def *t = cam__op_table(&count);
    for (int i = 0; i < count; i++)
        if (strcmp(t[i].name, op) == 0) return true;
    return false;
}

/* 1: every op is ours, 0: some op is not, -1: unreadable */
static int applies(const char *model_path, char *first_missing, size_t len) {
    size_t n;
    uint8_t *buf = check_slurp(model_path, &n);
    if (!buf) return -1;
    cam_model *m = calloc(1, sizeof *m);
    char err[256];
    cam_status st = cam__onnx_parse(m, buf, n, err, sizeof err);
    free(buf);
    int ok = st == CAM_OK ? 1 : -1;
    for (int i = 0; ok == 1 && i < m->n_nodes; i++)
        if (!in_table(m->nodes[i].op_type)) { snprintf(first_missing, len, "%s", m->nodes[i].op_type); ok = 0; }
    if (st != CAM_OK) snprintf(first_missing, len, "%s", err);
    cam_model_free(m);
    return ok;
}

static const char *g_dir;   /* current test directory, for the TEST body */

static void load_pb(const char *path, cam__tensor *t) {
    size_t n;
    uint8_t *buf = check_slurp(path, &n);
    CHECK(buf != NULL, "cannot read %s", path);
    char err[256];
    cam_status st = cam__onnx_parse_tensor(buf, n, t, NULL, NULL, err, sizeof err);
    free(buf);
    CHECK(st == CAM_OK, "%s: %s", path, err);
}

/* Inputs 1.. of the test data set bound as constants (see below). */
typedef struct { cam__tensor t[16]; cam_constant_input c[16]; char *names[16]; int n; } bound_inputs;

static void free_bound(bound_inputs *b) {
    for (int i = 0; i < b->n; i++) { cam__aligned_free(b->t[i].data); free(b->names[i]); }
    b->n = 0;
}

/* The node tests feed shape-determining tensors (Reshape's shape, Slice's
 * starts, Clip's bounds, ...) as graph inputs; camserve requires them to be
 * constants at load, as in every exported CNN.  When a model is refused for
 * that reason we bind inputs 1.. to the data set's values with
 * cam_model_options.constants and run the rest: the operator's semantics
 * are still checked against the reference outputs. */
static cam_model *load_for_set(const char *model_path, const char *set_dir, bool bind, bound_inputs *b,
                               char *err, size_t errlen) {
    cam_model_options opt;
    cam_model_options_init(&opt);
    b->n = 0;
    if (bind) {
        /* names of the graph inputs, from an unprepared parse */
        size_t n;
        uint8_t *buf = check_slurp(model_path, &n);
        cam_model *raw = calloc(1, sizeof *raw);
        if (buf && cam__onnx_parse(raw, buf, n, err, errlen) == CAM_OK) {
            for (int i = 1; i < raw->n_inputs && i < 16; i++) {
                char ip[1200];
                snprintf(ip, sizeof ip, "%s/input_%d.pb", set_dir, i);
                size_t len;
                uint8_t *tb = check_slurp(ip, &len);
                cam_dtype decl;
                if (!tb || cam__onnx_parse_tensor(tb, len, &b->t[b->n], &decl, NULL, err, errlen) != CAM_OK) { free(tb); continue; }
                free(tb);
                b->names[b->n] = strdup(raw->values[raw->inputs[i]].name);
                b->c[b->n] = (cam_constant_input){b->names[b->n], b->t[b->n].dtype, b->t[b->n].rank, b->t[b->n].dims,
                                                  b->t[b->n].data};
                b->n++;
            }
        }
        free(buf);
        cam_model_free(raw);
        opt.constants = b->c;
        opt.n_constants = b->n;
    }
    cam_model *m = NULL;
    if (cam_model_load(model_path, &opt, &m, err, errlen) != CAM_OK) return NULL;
    return m;
}

TEST(node_test) {
    char path[1024], err[1024];
    snprintf(path, sizeof path, NODE_DIR "/%s/model.onnx", g_dir);
    bound_inputs bound = {0};
    cam_model *probe = NULL;
    cam_status st = cam_model_load(path, NULL, &probe, err, sizeof err);
    bool bind = st == CAM_EUNSUPPORTED && strstr(err, "constant") != NULL;
    CHECK(st == CAM_OK || bind, "load: %s", err);
    cam_model_free(probe);
    int sets = 0;
    for (int set = 0; set < 16; set++) {
        char sp[1100];
        snprintf(sp, sizeof sp, NODE_DIR "/%s/test_data_set_%d", g_dir, set);
        struct stat stt;
        if (stat(sp, &stt) != 0) break;
        sets++;
        cam_model *m = load_for_set(path, sp, bind, &bound, err, sizeof err);
        if (!m) free_bound(&bound);
        CHECK(m != NULL, "load%s: %s", bind ? " with inputs 1.. bound as constants" : "", err);
        cam_session *s = NULL;
        st = cam_session_create(m, 2, &s, err, sizeof err);
        if (st != CAM_OK) { cam_model_free(m); free_bound(&bound); }
        CHECK(st == CAM_OK, "%s", err);
        for (int i = 0; i < cam_model_num_inputs(m); i++) {
            char ip[1200];
            snprintf(ip, sizeof ip, "%s/input_%d.pb", sp, i);
            cam__tensor t;
            load_pb(ip, &t);
            cam_tensor_info info;
            cam_model_input_info(m, i, &info);
            bool same = (size_t)t.numel == info.numel;
            st = same ? cam_session_set_input(s, i, t.data, t.numel * cam_dtype_size(t.dtype), err, sizeof err) : CAM_EINVAL;
            cam__aligned_free(t.data);
            if (st != CAM_OK) { cam_session_free(s); cam_model_free(m); free_bound(&bound); }
            CHECK(st == CAM_OK, "input %d: %s", i, same ? err : "element count differs from the model's input");
        }
        cam_session_run(s);
        for (int o = 0; o < cam_model_num_outputs(m); o++) {
            char op[1200];
            snprintf(op, sizeof op, "%s/output_%d.pb", sp, o);
            cam__tensor ref;
            load_pb(op, &ref);
            cam_tensor_info info;
            cam_model_output_info(m, o, &info);
            const void *got = cam_session_output(s, o);
            bool shape_ok = info.rank == ref.rank;
            for (int d = 0; shape_ok && d < ref.rank; d++) shape_ok = info.dims[d] == ref.dims[d];
            int64_t bad = -1;
            double worst = 0;
            if (shape_ok && ref.dtype == CAM_FLOAT) {
                for (size_t k = 0; k < ref.numel; k++) {
                    float y = ((const float *)got)[k], r = cam__f32(&ref)[k];
                    double d = fabs((double)y - r);
                    bool both_nan = isnan(y) && isnan(r);
                    if (!both_nan && !(d <= 1e-7 + 1e-3 * fabs(r)) && !(isinf(r) && y == r)) { bad = (int64_t)k; worst = d; break; }
                }
            } else if (shape_ok) {
                for (size_t k = 0; k < ref.numel; k++)
                    if (((const int64_t *)got)[k] != cam__i64(&ref)[k]) { bad = (int64_t)k; break; }
            }
            double gv = bad >= 0 && ref.dtype == CAM_FLOAT ? ((const float *)got)[bad] : 0;
            double rv = bad >= 0 && ref.dtype == CAM_FLOAT ? cam__f32(&ref)[bad] : 0;
            cam__aligned_free(ref.data);
            if (!shape_ok || bad >= 0) { cam_session_free(s); cam_model_free(m); free_bound(&bound); }
            CHECK(shape_ok, "set %d output %d: shape differs (rank %d vs %d)", set, o, info.rank, ref.rank);
            CHECK(bad < 0, "set %d output %d: element %lld is %g, expected %g (|diff| %g)", set, o, (long long)bad, gv, rv, worst);
        }
        cam_session_free(s);
        cam_model_free(m);
        free_bound(&bound);
    }
    CHECK(sets > 0, "no test_data_set_0");
    if (bind) printf("  (%s: inputs 1.. bound as constants)\n", g_dir);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    bool verbose = false;
    int nf = 0;
    char **filters = calloc((size_t)argc + 1, sizeof *filters);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) verbose = true;
        else filters[nf++] = argv[i];
    }
    DIR *d = opendir(NODE_DIR);
    if (!d) {
        printf("skip - conformance: %s not found (Debian package libonnx-testdata)\n", NODE_DIR);
        printf("0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    char **names = NULL;
    int nn = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "test_", 5) != 0) continue;
        if (nn == cap) { cap = cap ? cap * 2 : 256; names = realloc(names, (size_t)cap * sizeof *names); }
        names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)nn, sizeof *names, by_name);
    int not_applicable = 0;
    for (int i = 0; i < nn; i++) {
        bool want = nf == 0;
        for (int f = 0; f < nf && !want; f++) want = strstr(names[i], filters[f]) != NULL;
        if (!want) continue;
        char path[1024], missing[256] = "";
        snprintf(path, sizeof path, NODE_DIR "/%s/model.onnx", names[i]);
        int a = applies(path, missing, sizeof missing);
        if (a != 1) {
            not_applicable++;
            if (verbose) printf("n/a  - %s: %s\n", names[i], a == 0 ? missing : "unreadable model");
            continue;
        }
        char label[300];
        snprintf(label, sizeof label, "conformance/%s", names[i]);
        const char *why = unsupported_reason(names[i]);
        if (why) {
            check_skipped++;
            printf("skip - %s: %s\n", label, why);
            continue;
        }
        g_dir = names[i];
        check_run(label, node_test);
    }
    printf("(%d directories use operators outside our table and were not run; -v lists them)\n", not_applicable);
    for (int i = 0; i < nn; i++) free(names[i]);
    free(names);
    free(filters);
    return check_summary();
}
