/* test_onnx.c: the ONNX loader (core/onnx.c, core/pb.c) on good and bad files:
 * every malformed model gets a clear error, never a crash. */
#include "check.h"
#include "model.h"
#include "onnx_builder.h"

static const int64_t X_DIMS[] = {1, 2, 5, 5};

/* X[1,2,5,5] -> Conv(W[3,2,3,3], B[3], pads 1) -> Relu -> Y */
static ob_buf conv_relu_model(void) {
    ob_buf g = {0}, n = {0};
    float w[54], bias[3] = {0.1f, -0.2f, 0.3f};
    unsigned seed = 7;
    for (int i = 0; i < 54; i++) w[i] = check_randf(&seed, -1, 1);
    ob_node_begin(&n, "Conv", "conv", (const char *[]){"X", "W", "B", NULL}, (const char *[]){"C", NULL});
    ob_attr_ints(&n, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
    ob_attr_ints(&n, "kernel_shape", (const int64_t[]){3, 3}, 2);
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Relu", "relu", (const char *[]){"C", NULL}, (const char *[]){"Y", NULL});
    ob_msg(&g, 1, &n);
    ob_str(&g, 2, "g");
    ob_tensor_f32(&g, 5, "W", (const int64_t[]){3, 2, 3, 3}, 4, w);
    ob_tensor_f32(&g, 5, "B", (const int64_t[]){3}, 1, bias);
    ob_value_info(&g, 11, "X", X_DIMS, 4, 1);
    ob_value_info(&g, 12, "Y", NULL, -1, 1);
    return ob_model(&g, 13);
}

static cam_status load(const ob_buf *b, char *err, size_t len) {
    cam_model *m = NULL;
    cam_status st = cam_model_load_buffer(b->p, b->n, NULL, &m, err, len);
    cam_model_free(m);
    return st;
}

TEST(valid_model_loads_and_runs) {
    ob_buf b = conv_relu_model();
    char err[512];
    cam_model *m = NULL;
    CHECK(cam_model_load_buffer(b.p, b.n, NULL, &m, err, sizeof err) == CAM_OK, "%s", err);
    CHECK(cam_model_num_inputs(m) == 1 && cam_model_num_outputs(m) == 1, "io");
    cam_tensor_info o;
    cam_model_output_info(m, 0, &o);
    CHECK(o.rank == 4 && o.dims[1] == 3 && o.dims[2] == 5 && o.dims[3] == 5, "output shape");
    cam_model_stats st;
    cam_model_stats_get(m, &st);
    CHECK(st.nodes_in_file == 2 && st.nodes_run == 1 && st.fused_activations == 1, "Relu fused into Conv: %d nodes run", st.nodes_run);
    cam_session *s;
    CHECK(cam_session_create(m, 1, &s, err, sizeof err) == CAM_OK, "%s", err);
    float *x = cam_session_input(s, 0);
    for (int i = 0; i < 50; i++) x[i] = (float)i / 50.0f;
    cam_session_run(s);
    const float *y = cam_session_output(s, 0);
    for (int i = 0; i < 75; i++) CHECK(y[i] >= 0.0f, "relu applied");
    cam_session_free(s);
    cam_model_free(m);
    free(b.p);
}

TEST(every_truncation_fails_cleanly) {
    ob_buf b = conv_relu_model();
    char err[512];
    for (size_t n = 0; n < b.n; n++) {
        cam_model *m = NULL;
        cam_status st = cam_model_load_buffer(b.p, n, NULL, &m, err, sizeof err);
        /* a prefix can be a valid protobuf, but never a complete valid model */
        CHECK(st != CAM_OK, "prefix of %zu/%zu bytes loaded", n, b.n);
        CHECK(m == NULL, "no model on failure");
        CHECK(err[0] != 0, "an error message for prefix %zu", n);
    }
    free(b.p);
}

TEST(random_corruption_never_crashes) {
    ob_buf b = conv_relu_model();
    uint8_t *c = malloc(b.n);
    unsigned seed = 12345;
    char err[512];
    int loaded = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(c, b.p, b.n);
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 8) % b.n;
            seed = seed * 1103515245u + 12345u;
            c[pos] = (uint8_t)(seed >> 16);
        }
        cam_model *m = NULL;
        if (cam_model_load_buffer(c, b.n, NULL, &m, err, sizeof err) == CAM_OK) {
            loaded++;   /* a flip in weight bytes is still a valid model: run it */
            cam_session *s;
            if (cam_session_create(m, 1, &s, err, sizeof err) == CAM_OK) { cam_session_run(s); cam_session_free(s); }
            cam_model_free(m);
        }
    }
    CHECK(loaded > 0 && loaded < 3000, "some mutants load (weights), most do not: %d", loaded);
    free(c);
    free(b.p);
}

TEST(not_onnx) {
    char err[512];
    const char *text = "this is not a model";
    cam_model *m = NULL;
    CHECK(cam_model_load_buffer(text, strlen(text), NULL, &m, err, sizeof err) != CAM_OK, "text rejected");
    CHECK(cam_model_load_buffer("", 0, NULL, &m, err, sizeof err) == CAM_EFORMAT, "empty rejected: %s", err);
    CHECK(cam_model_load("/nonexistent/model.onnx", NULL, &m, err, sizeof err) == CAM_EIO, "missing file: %s", err);
    CHECK(strstr(err, "/nonexistent/model.onnx") != NULL, "message names the file: %s", err);
}

static ob_buf one_node_model(const char *op, const char *in0, int64_t opset) {
    ob_buf g = {0}, n = {0};
    ob_node_begin(&n, op, "the_node", (const char *[]){in0, NULL}, (const char *[]){"Y", NULL});
    ob_msg(&g, 1, &n);
    ob_value_info(&g, 11, "X", X_DIMS, 4, 1);
    ob_value_info(&g, 12, "Y", NULL, -1, 1);
    return ob_model(&g, opset);
}

TEST(unknown_operator_is_named) {
    ob_buf b = one_node_model("FooBar", "X", 13);
    char err[512];
    CHECK(load(&b, err, sizeof err) == CAM_EUNSUPPORTED, "status");
    CHECK(strstr(err, "FooBar") && strstr(err, "the_node") && strstr(err, "13"), "message: %s", err);
    free(b.p);
}

TEST(missing_input_is_named) {
    ob_buf b = one_node_model("Relu", "nowhere", 13);
    char err[512];
    CHECK(load(&b, err, sizeof err) == CAM_EFORMAT, "status");
    CHECK(strstr(err, "nowhere") && strstr(err, "not produced"), "message: %s", err);
    free(b.p);
}

TEST(cycle_is_detected) {
    ob_buf g = {0}, n = {0};
    ob_node_begin(&n, "Relu", "a", (const char *[]){"B", NULL}, (const char *[]){"A", NULL});
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Relu", "b", (const char *[]){"A", NULL}, (const char *[]){"B", NULL});
    ob_msg(&g, 1, &n);
    ob_value_info(&g, 11, "X", X_DIMS, 4, 1);
    ob_value_info(&g, 12, "B", NULL, -1, 1);
    ob_buf b = ob_model(&g, 13);
    char err[512];
    CHECK(load(&b, err, sizeof err) == CAM_EFORMAT, "status");
    CHECK(strstr(err, "cycle"), "message: %s", err);
    free(b.p);
}

/* X + W with the initializer W written by the caller as a TensorProto in t
 * (named "W"); returns the load status and message. */
static cam_status load_add_with(ob_buf *t, char *err, size_t errlen) {
    ob_buf g = {0}, n = {0};
    ob_node_begin(&n, "Add", "add", (const char *[]){"X", "W", NULL}, (const char *[]){"Y", NULL});
    ob_msg(&g, 1, &n);
    ob_str(t, 8, "W");
    ob_msg(&g, 5, t);
    ob_value_info(&g, 11, "X", X_DIMS, 4, 1);
    ob_value_info(&g, 12, "Y", NULL, -1, 1);
    ob_buf b = ob_model(&g, 13);
    cam_status st = load(&b, err, errlen);
    free(b.p);
    return st;
}

TEST(overflowing_dims_rejected) {
    /* dims claim 2^62 elements with 4 bytes of data */
    ob_buf t = {0};
    ob_int(&t, 1, (int64_t)1 << 31);
    ob_int(&t, 1, (int64_t)1 << 31);
    ob_int(&t, 2, 1);
    float one = 1;
    ob_bytes(&t, 9, &one, 4);
    char err[512];
    cam_status st = load_add_with(&t, err, sizeof err);
    CHECK(st == CAM_ELIMIT || st == CAM_EFORMAT, "status %d: %s", st, err);
}

TEST(raw_data_size_mismatch) {
    ob_buf t = {0};
    ob_int(&t, 1, 4);
    ob_int(&t, 2, 1);
    float v[3] = {1, 2, 3};
    ob_bytes(&t, 9, v, sizeof v);   /* 3 floats for 4 elements */
    char err[512];
    CHECK(load_add_with(&t, err, sizeof err) == CAM_EFORMAT, "status: %s", err);
    CHECK(strstr(err, "raw_data"), "message: %s", err);
}

TEST(unsupported_dtype_named) {
    ob_buf t = {0};
    ob_int(&t, 1, 1);
    ob_int(&t, 2, 10);   /* FLOAT16 */
    ob_bytes(&t, 9, "\0\0", 2);
    char err[512];
    CHECK(load_add_with(&t, err, sizeof err) == CAM_EUNSUPPORTED, "status: %s", err);
    CHECK(strstr(err, "FLOAT16"), "message: %s", err);
}

TEST(external_data_rejected) {
    ob_buf t = {0};
    ob_int(&t, 1, 1);
    ob_int(&t, 2, 1);
    ob_int(&t, 14, 1);   /* data_location EXTERNAL */
    char err[512];
    CHECK(load_add_with(&t, err, sizeof err) == CAM_EUNSUPPORTED, "status: %s", err);
    CHECK(strstr(err, "external"), "message: %s", err);
}

TEST(old_ir_and_foreign_domain) {
    ob_buf b = one_node_model("Relu", "X", 13);
    b.p[1] = 2;   /* ir_version field value: 7 -> 2 */
    char err[512];
    CHECK(load(&b, err, sizeof err) == CAM_EUNSUPPORTED && strstr(err, "IR version"), "old IR: %s", err);
    free(b.p);
    ob_buf g = {0}, n = {0};
    ob_node_begin(&n, "FusedConv", "fc", (const char *[]){"X", NULL}, (const char *[]){"Y", NULL});
    ob_str(&n, 7, "com.microsoft");
    ob_msg(&g, 1, &n);
    ob_value_info(&g, 11, "X", X_DIMS, 4, 1);
    ob_value_info(&g, 12, "Y", NULL, -1, 1);
    b = ob_model(&g, 13);
    CHECK(load(&b, err, sizeof err) == CAM_EUNSUPPORTED && strstr(err, "com.microsoft"), "domain: %s", err);
    free(b.p);
}

TEST(symbolic_batch_bound) {
    ob_buf g = {0}, n = {0};
    ob_node_begin(&n, "Relu", "r", (const char *[]){"X", NULL}, (const char *[]){"Y", NULL});
    ob_msg(&g, 1, &n);
    ob_value_info(&g, 11, "X", (const int64_t[]){-1, 3, 8, 8}, 4, 1);
    ob_value_info(&g, 12, "Y", NULL, -1, 1);
    ob_buf b = ob_model(&g, 13);
    char err[512];
    cam_model_options o;
    cam_model_options_init(&o);
    o.batch = 3;
    o.input_h = 16;
    o.input_w = 4;
    cam_model *m = NULL;
    CHECK(cam_model_load_buffer(b.p, b.n, &o, &m, err, sizeof err) == CAM_OK, "%s", err);
    cam_tensor_info t;
    cam_model_output_info(m, 0, &t);
    CHECK(t.dims[0] == 3 && t.dims[2] == 16 && t.dims[3] == 4, "bound dims %lld %lld %lld", (long long)t.dims[0],
          (long long)t.dims[2], (long long)t.dims[3]);
    cam_model_free(m);
    free(b.p);
}

TEST(tensor_parse_typed_fields) {
    /* int32_data (widened to int64), float_data, packed dims */
    ob_buf t = {0};
    ob_packed_ints(&t, 1, (const int64_t[]){2, 2}, 2);
    ob_int(&t, 2, 6);
    ob_packed_ints(&t, 5, (const int64_t[]){-1, 2, -3, 4}, 4);
    cam__tensor x;
    cam_dtype decl;
    char err[256];
    CHECK(cam__onnx_parse_tensor(t.p, t.n, &x, &decl, NULL, err, sizeof err) == CAM_OK, "%s", err);
    CHECK(decl == CAM_INT32 && x.dtype == CAM_INT64 && x.numel == 4, "dtype");
    CHECK(cam__i64(&x)[0] == -1 && cam__i64(&x)[2] == -3, "values");
    cam__aligned_free(x.data);
    free(t.p);
    memset(&t, 0, sizeof t);
    ob_int(&t, 1, 3);
    ob_int(&t, 2, 1);
    float f[3] = {1.5f, -2, 3};
    ob_bytes(&t, 4, f, sizeof f);
    CHECK(cam__onnx_parse_tensor(t.p, t.n, &x, &decl, NULL, err, sizeof err) == CAM_OK, "%s", err);
    CHECK(cam__f32(&x)[0] == 1.5f && cam__f32(&x)[2] == 3, "float_data");
    cam__aligned_free(x.data);
    free(t.p);
}

int main(void) {
    char err[256];
    if (cam_runtime_init(err, sizeof err) != CAM_OK) { printf("FAIL - runtime: %s\n", err); return 1; }
    RUN(valid_model_loads_and_runs);
    RUN(every_truncation_fails_cleanly);
    RUN(random_corruption_never_crashes);
    RUN(not_onnx);
    RUN(unknown_operator_is_named);
    RUN(missing_input_is_named);
    RUN(cycle_is_detected);
    RUN(overflowing_dims_rejected);
    RUN(raw_data_size_mismatch);
    RUN(unsupported_dtype_named);
    RUN(external_data_rejected);
    RUN(old_ir_and_foreign_domain);
    RUN(symbolic_batch_bound);
    RUN(tensor_parse_typed_fields);
    return check_summary();
}
