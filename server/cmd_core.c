/* cmd_core.c: `camserve run`, `camserve info`, `camserve bench`: the
 * inference core from the command line. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- run ----------------------------------------------------------------- */

static const char RUN_HELP[] =
    "usage: camserve run --model DIR --input in.bin --output out.bin [--threads T]\n"
    "\n"
    "Runs one forward pass.  in.bin is the raw float32 (little-endian) NCHW input\n"
    "tensor; its size also sets the batch when the model's batch is symbolic.\n"
    "out.bin receives the first graph output as raw float32.\n";

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
    long n = ftell(f);
    rewind(f);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); fclose(f); return NULL; }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int cam_cmd_run(int argc, char **argv) {
    const char *dir = NULL, *in_path = NULL, *out_path = NULL;
    int threads = 1;
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) { fputs(RUN_HELP, stdout); return 0; }
        if (cli_flag_str(argc, argv, &i, "--model", &dir) || cli_flag_str(argc, argv, &i, "--input", &in_path) ||
            cli_flag_str(argc, argv, &i, "--output", &out_path) ||
            cli_flag_int(argc, argv, &i, "--threads", &threads, 1, 256))
            continue;
        return cli_usage_error("run", "unknown argument '%s'", argv[i]);
    }
    if (!dir || !in_path || !out_path) return cli_usage_error("run", "--model, --input and --output are required");
    size_t len;
    char *input = read_file(in_path, &len);
    if (!input) { fprintf(stderr, "camserve run: cannot read %s\n", in_path); return 1; }

    /* A first load tells the per-sample size; reload with the batch the file holds. */
    cam_modeldir md;
    cam_model *m = cli_load_model(dir, 0, &md);
    if (!m) { free(input); return 1; }
    cam_tensor_info ii;
    cam_model_input_info(m, 0, &ii);
    size_t per = ii.numel / (size_t)(ii.dims[0] > 0 ? ii.dims[0] : 1) * cam_dtype_size(ii.dtype);
    if (per && len % per == 0 && len / per != (size_t)ii.dims[0] && len / per <= 4096) {
        cam_model_free(m);
        if (!(m = cli_load_model(dir, (int)(len / per), &md))) { free(input); return 1; }
    }
    char err[512];
    cam_session *s = NULL;
    if (cam_session_create(m, threads, &s, err, sizeof err) != CAM_OK ||
        cam_session_set_input(s, 0, input, len, err, sizeof err) != CAM_OK) {
        fprintf(stderr, "camserve run: %s\n", err);
        free(input);
        cam_session_free(s);
        cam_model_free(m);
        return 1;
    }
    free(input);
    cam_session_run(s);
    cam_tensor_info oi;
    cam_model_output_info(m, 0, &oi);
    FILE *f = fopen(out_path, "wb");
    size_t bytes = oi.numel * cam_dtype_size(oi.dtype);
    int rc = 0;
    if (!f || fwrite(cam_session_output(s, 0), 1, bytes, f) != bytes) {
        fprintf(stderr, "camserve run: cannot write %s\n", out_path);
        rc = 1;
    }
    if (f && fclose(f) != 0) rc = 1;
    cam_session_free(s);
    cam_model_free(m);
    cam_modeldir_free(&md);
    return rc;
}

/* ---- info ----------------------------------------------------------------- */

static const char INFO_HELP[] =
    "usage: camserve info --model DIR\n"
    "\n"
    "Prints, as JSON: inputs and outputs with shapes, operator counts as written\n"
    "in the file, what the optimiser did, memory plan sizes and the BLAS kernel.\n";

static void print_json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void print_tensor(const cam_tensor_info *t) {
    printf("{\"name\":");
    print_json_string(t->name);
    printf(",\"dtype\":\"%s\",\"shape\":[", t->dtype == CAM_FLOAT ? "float32" : t->dtype == CAM_INT32 ? "int32" : "int64");
    for (int d = 0; d < t->rank; d++) printf("%s%lld", d ? "," : "", (long long)t->dims[d]);
    printf("]}");
}

int cam_cmd_info(int argc, char **argv) {
    const char *dir = NULL;
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) { fputs(INFO_HELP, stdout); return 0; }
        if (cli_flag_str(argc, argv, &i, "--model", &dir)) continue;
        return cli_usage_error("info", "unknown argument '%s'", argv[i]);
    }
    if (!dir) return cli_usage_error("info", "--model DIR is required");
    cam_modeldir md;
    cam_model *m = cli_load_model(dir, 0, &md);
    if (!m) return 1;
    cam_model_stats st;
    cam_model_stats_get(m, &st);
    printf("{\"model\":");
    print_json_string(md.name);
    printf(",\"path\":");
    print_json_string(md.model_path);
    printf(",\"ir_version\":%lld,\"opset\":%lld,\"producer\":", (long long)st.ir_version, (long long)st.opset);
    print_json_string(st.producer);
    printf(",\n \"inputs\":[");
    for (int i = 0; i < cam_model_num_inputs(m); i++) {
        cam_tensor_info t;
        cam_model_input_info(m, i, &t);
        if (i) putchar(',');
        print_tensor(&t);
    }
    printf("],\n \"outputs\":[");
    for (int i = 0; i < cam_model_num_outputs(m); i++) {
        cam_tensor_info t;
        cam_model_output_info(m, i, &t);
        if (i) putchar(',');
        print_tensor(&t);
    }
    printf("],\n \"operators\":{");
    for (int i = 0; i < cam_model_num_op_types(m); i++) {
        const char *name;
        int count;
        cam_model_op_type(m, i, &name, &count);
        printf("%s", i ? "," : "");
        print_json_string(name);
        printf(":%d", count);
    }
    printf("},\n \"optimized\":{\"nodes_in_file\":%d,\"nodes_run\":%d,\"folded_constants\":%d,"
           "\"fused_batchnorm\":%d,\"fused_activations\":%d,\"removed_identity\":%d},\n",
           st.nodes_in_file, st.nodes_run, st.folded_constants, st.fused_batchnorm, st.fused_activations,
           st.removed_identity);
    printf(" \"memory\":{\"weight_bytes\":%zu,\"arena_bytes\":%zu,\"scratch_bytes_per_thread\":%zu},\n",
           st.weight_bytes, st.arena_bytes, st.scratch_bytes);
    cam_head_info h;
    cam_model_head(m, &h);
    printf(" \"cam\":{\"head\":");
    print_json_string(h.kind_name);
    if (h.kind != CAM_HEAD_NONE) {
        printf(",\"method\":");
        print_json_string(h.method);
        printf(",\"feature_map\":");
        print_json_string(h.feature);
        printf(",\"shape\":[%d,%d,%d],\"pool\":", h.channels, h.height, h.width);
        print_json_string(h.pool);
        printf(",\"logits\":");
        print_json_string(h.logits);
        printf(",\"classes\":%d,\"softmax_output\":%s", h.classes, h.softmax_output ? "true" : "false");
    } else {
        printf(",\"reason\":");
        print_json_string(h.reason);
    }
    printf("},\n");
    printf(" \"gflops\":%.3f,\n \"blas\":{\"kernel\":", st.flops / 1e9);
    print_json_string(cam_blas_corename());
    printf(",\"library\":");
    print_json_string(cam_blas_library());
    printf("}}\n");
    cam_model_free(m);
    cam_modeldir_free(&md);
    return 0;
}

/* ---- bench ----------------------------------------------------------------- */

static const char BENCH_HELP[] =
    "usage: camserve bench --model DIR [--threads T] [--batch N] [--runs R] [--warmup W] [--profile]\n"
    "\n"
    "Times forward passes (after W warm-up runs, default 5; R timed runs, default 30)\n"
    "and prints one JSON line in the shape of ../shared/peers/ort-bench:\n"
    "  {\"runtime\":\"camserve-<version>\",\"model\":...,\"threads\":T,\"batch\":N,\"median_ms\":..,\"min_ms\":..}\n"
    "plus the BLAS kernel and the peak resident memory.  --profile prints per-layer\n"
    "times (median over runs) to stderr.\n";

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int cam_cmd_bench(int argc, char **argv) {
    const char *dir = NULL;
    int threads = 1, batch = 1, runs = 30, warmup = 5, profile = 0;
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) { fputs(BENCH_HELP, stdout); return 0; }
        if (strcmp(argv[i], "--profile") == 0) { profile = 1; continue; }
        if (cli_flag_str(argc, argv, &i, "--model", &dir) || cli_flag_int(argc, argv, &i, "--threads", &threads, 1, 256) ||
            cli_flag_int(argc, argv, &i, "--batch", &batch, 1, 1024) || cli_flag_int(argc, argv, &i, "--runs", &runs, 1, 100000) ||
            cli_flag_int(argc, argv, &i, "--warmup", &warmup, 0, 100000))
            continue;
        return cli_usage_error("bench", "unknown argument '%s'", argv[i]);
    }
    if (!dir) return cli_usage_error("bench", "--model DIR is required");
    cam_modeldir md;
    cam_model *m = cli_load_model(dir, batch, &md);
    if (!m) return 1;
    char err[512];
    cam_session *s = NULL;
    if (cam_session_create(m, threads, &s, err, sizeof err) != CAM_OK) {
        fprintf(stderr, "camserve bench: %s\n", err);
        cam_model_free(m);
        return 1;
    }
    cam_tensor_info ii;
    cam_model_input_info(m, 0, &ii);
    if (ii.dtype == CAM_FLOAT) {   /* the same input as ort-bench: sin(i) * 0.5 */
        float *x = cam_session_input(s, 0);
        for (size_t k = 0; k < ii.numel; k++) x[k] = (float)(sin((double)k) * 0.5);
    }
    int n_nodes = cam_model_num_nodes(m);
    uint64_t *prof = profile ? calloc((size_t)n_nodes * (size_t)runs + 1, sizeof *prof) : NULL;
    cam_session_set_profiling(s, profile);
    for (int i = 0; i < warmup; i++) cam_session_run(s);
    double *t = malloc((size_t)runs * sizeof *t);
    if (!t) { cam_session_free(s); cam_model_free(m); free(prof); return 1; }
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        cam_session_run(s);
        t[r] = now_ms() - t0;
        if (prof)
            for (int k = 0; k < n_nodes; k++) cam_session_profile(s, k, &prof[(size_t)k * runs + r]);
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    if (prof) {
        for (int k = 0; k < n_nodes; k++) {
            uint64_t *p = &prof[(size_t)k * runs];
            qsort(p, (size_t)runs, sizeof *p, cmp_u64);
            cam_node_info ni;
            cam_model_node(m, k, &ni);
            cam_tensor_info oi;
            cam_model_tensor_info(m, ni.outputs[0], &oi);
            fprintf(stderr, "%4d %-18s %-12s %8.3f ms  [", k, ni.op_type, ni.fused_activation, p[runs / 2] / 1e6);
            for (int d = 0; d < oi.rank; d++) fprintf(stderr, "%s%lld", d ? "x" : "", (long long)oi.dims[d]);
            fprintf(stderr, "] %s\n", ni.name);
        }
        free(prof);
    }
    printf("{\"runtime\":\"camserve-%s\",\"model\":", CAM_VERSION);
    print_json_string(md.model_path);
    printf(",\"threads\":%d,\"batch\":%d,\"median_ms\":%.3f,\"min_ms\":%.3f,\"blas\":", threads, batch, t[runs / 2], t[0]);
    print_json_string(cam_blas_corename());
    printf(",\"peak_rss_mb\":%.1f}\n", cli_peak_rss() / 1048576.0);
    free(t);
    cam_session_free(s);
    cam_model_free(m);
    cam_modeldir_free(&md);
    return 0;
}
