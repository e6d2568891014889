/* test_http.c: `camserve serve` end to end (server/http*.c, workers.c,
 * metrics.c, repo.c, static.c, openapi.json), against live servers started
 * as child processes on ephemeral ports and spoken to over plain sockets
 * (tests/http_client.h).
 *
 * The model repository is made in a temporary folder: mobilenetv2-imagenet
 * from ../shared (real photos, real predictions), two synthetic models built
 * here (one without global pooling, where CAM does not apply, and one with a
 * non-linear head, explained with Grad-CAM) and a broken folder that must be
 * reported.  Every status a test sees on a documented route is recorded, and
 * the last test checks each against /openapi.json. */
#include "check.h"
#include "http_client.h"
#include "onnx_builder.h"

#include "camserve.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <sys/stat.h>
#include <zlib.h>

static char g_tmp[256];           /* the test's temporary folder */
static char g_shared[1024];       /* absolute ../shared */
static hc_server g_srv;           /* the main server */
static bool g_up;
static const char *g_model = "mobilenetv2-imagenet";

/* ---- helpers -------------------------------------------------------------------- */

static uint8_t *photo(const char *name, size_t *len) {
    char path[1400];
    snprintf(path, sizeof path, "%s/images/%s", g_shared, name);
    return (uint8_t *)hc_slurp(path, len);
}

/* statuses seen per documented route, checked against the OpenAPI document */
#define MAX_SEEN 256
static struct { char path[48]; char method[8]; int status; } g_seen[MAX_SEEN];
static int g_n_seen;
static pthread_mutex_t g_seen_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *route_template(const char *path, char *out, size_t len) {
    char p[512];
    snprintf(p, sizeof p, "%s", path);
    p[strcspn(p, "?")] = 0;
    const char *exact[] = {"/v1/cam", "/v1/models", "/healthz", "/readyz", "/metrics", "/openapi.json", "/"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (!strcmp(p, exact[i])) { snprintf(out, len, "%s", exact[i]); return out; }
    if (!strncmp(p, "/static/", 8)) { snprintf(out, len, "/static/{path}"); return out; }
    if (!strncmp(p, "/v1/models/", 11)) {
        const char *rest = strchr(p + 11, '/');
        if (!rest) { snprintf(out, len, "/v1/models/{model}"); return out; }
        if (!strcmp(rest, "/cam") || !strcmp(rest, "/classify")) { snprintf(out, len, "/v1/models/{model}%s", rest); return out; }
    }
    return NULL;
}

static void seen(const char *method, const char *path, int status) {
    char t[48];
    if (!status || status == 405 || !route_template(path, t, sizeof t)) return;
    pthread_mutex_lock(&g_seen_mu);
    bool dup = false;
    for (int i = 0; i < g_n_seen && !dup; i++)
        dup = !strcmp(g_seen[i].path, t) && !strcmp(g_seen[i].method, method) && g_seen[i].status == status;
    if (!dup && g_n_seen < MAX_SEEN) {
        snprintf(g_seen[g_n_seen].path, sizeof g_seen[0].path, "%s", t);
        snprintf(g_seen[g_n_seen].method, sizeof g_seen[0].method, "%s", method);
        g_seen[g_n_seen].status = status;
        g_n_seen++;
    }
    pthread_mutex_unlock(&g_seen_mu);
}

static hc_resp req_on(int port, const char *method, const char *path, const char *extra, const void *body, size_t len) {
    hc_resp r = hc_request(port, method, path, extra, body, len);
    seen(!strcmp(method, "HEAD") ? "GET" : method, path, r.status);
    return r;
}
static hc_resp req(const char *method, const char *path, const char *extra, const void *body, size_t len) {
    return req_on(g_srv.port, method, path, extra, body, len);
}
static hc_resp get(const char *path) { return req("GET", path, NULL, NULL, 0); }

static hc_resp post_image(const char *path, const char *file) {
    size_t n;
    uint8_t *img = photo(file, &n);
    if (!img) return (hc_resp){0};
    const char *ct = strstr(file, ".png") ? "Content-Type: image/png\r\n" : "Content-Type: image/jpeg\r\n";
    hc_resp r = req("POST", path, ct, img, n);
    free(img);
    return r;
}

/* the error document of DESIGN §4 with this code */
static bool is_error(const hc_resp *r, const char *code, char *msg, size_t len) {
    cJSON *d = cJSON_Parse(r->body ? r->body : "");
    cJSON *e = cJSON_GetObjectItem(d, "error");
    cJSON *c = cJSON_GetObjectItem(e, "code"), *m = cJSON_GetObjectItem(e, "message");
    bool ok = cJSON_IsString(c) && cJSON_IsString(m) && !strcmp(c->valuestring, code) && m->valuestring[0] &&
              cJSON_GetArraySize(d) == 1 && cJSON_GetArraySize(e) == 2;
    if (msg) snprintf(msg, len, "%s", cJSON_IsString(m) ? m->valuestring : "");
    cJSON_Delete(d);
    return ok;
}

#define CHECK_ERROR(r, st, code)                                                                                   \
    do {                                                                                                           \
        char hv_[128];                                                                                             \
        CHECK((r).status == (st), "status %d, want %d: %.300s", (r).status, (st), (r).body ? (r).body : "");       \
        CHECK(is_error(&(r), code, NULL, 0), "error document with code %s: %.300s", code, (r).body);             \
        CHECK(hc_header(&(r), "X-Request-Id", hv_, sizeof hv_), "X-Request-Id on every response");               \
        CHECK(hc_header(&(r), "Content-Type", hv_, sizeof hv_) && !strcmp(hv_, "application/json"), "JSON");      \
    } while (0)

static cJSON *json_of(const hc_resp *r) { return cJSON_Parse(r->body ? r->body : ""); }

static double metric_f(const char *text, const char *name) {
    /* the value of a sample line "name value" (name includes labels); -1 if absent */
    size_t n = strlen(name);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, name, n) && l[n] == ' ') return strtod(l + n + 1, NULL);
    return -1;
}

static int metric(const char *text, const char *name) { return (int)metric_f(text, name); }

/* /metrics value of one sample on port `port` (-1 if absent) */
static int metric_on(int port, const char *name) {
    hc_resp r = req_on(port, "GET", "/metrics", NULL, NULL, 0);
    int v = r.status == 200 ? metric(r.body, name) : -1;
    hc_free(&r);
    return v;
}

/* Polls /metrics until `name` equals `want`, for at most `seconds`. */
static bool metric_wait(int port, const char *name, int want, double seconds) {
    for (double t = hc_now(); hc_now() - t < seconds * hc_scale(); usleep(2000))
        if (metric_on(port, name) == want) return true;
    return false;
}

static void require_server(void) {
    if (!g_up) SKIP("no server (see the first test)");
}

/* ---- the test repository ------------------------------------------------------------ */

static float g_vals[1 << 16];
static const float *rnd(int n, unsigned seed, float scale) {
    for (int i = 0; i < n; i++) g_vals[i] = check_randf(&seed, -scale, scale);
    return g_vals;
}

/* X[1,3,8,8] -> Conv 3x3 (8) -> Relu -> F; nonlinear: GAP -> Flatten -> Gemm -> HardSwish -> Gemm;
 * else (no pooling, VGG-like): Flatten -> Gemm.  10 classes. */
static ob_buf synth_model(bool nonlinear) {
    const int C = 8, classes = 10;
    ob_buf g = {0}, n = {0};
    ob_node_begin(&n, "Conv", "conv", (const char *[]){"X", "W", "B", NULL}, (const char *[]){"C0", NULL});
    ob_attr_ints(&n, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
    ob_msg(&g, 1, &n);
    ob_node_begin(&n, "Relu", "relu", (const char *[]){"C0", NULL}, (const char *[]){"F", NULL});
    ob_msg(&g, 1, &n);
    ob_tensor_f32(&g, 5, "W", (const int64_t[]){C, 3, 3, 3}, 4, rnd(C * 27, 1, 0.5f));
    ob_tensor_f32(&g, 5, "B", (const int64_t[]){C}, 1, rnd(C, 2, 0.2f));
    if (nonlinear) {
        ob_node_begin(&n, "GlobalAveragePool", "gap", (const char *[]){"F", NULL}, (const char *[]){"P", NULL});
        ob_msg(&g, 1, &n);
        ob_node_begin(&n, "Flatten", "flat", (const char *[]){"P", NULL}, (const char *[]){"G", NULL});
        ob_msg(&g, 1, &n);
        ob_mlp_head(&g, "G", "Y", C, 12, classes, rnd);
    } else {
        ob_node_begin(&n, "Flatten", "flat", (const char *[]){"F", NULL}, (const char *[]){"G", NULL});
        ob_msg(&g, 1, &n);
        ob_node_begin(&n, "Gemm", "fc", (const char *[]){"G", "FW", "FB", NULL}, (const char *[]){"Y", NULL});
        ob_attr_int(&n, "transB", 1);
        ob_msg(&g, 1, &n);
        ob_tensor_f32(&g, 5, "FW", (const int64_t[]){classes, C * 64}, 2, rnd(classes * C * 64, 3, 0.3f));
        ob_tensor_f32(&g, 5, "FB", (const int64_t[]){classes}, 1, rnd(classes, 4, 0.5f));
    }
    ob_value_info(&g, 11, "X", (const int64_t[]){1, 3, 8, 8}, 4, 1);
    ob_value_info(&g, 12, "Y", NULL, -1, 1);
    return ob_model(&g, 14);
}

static bool write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static bool make_repo(char *models, size_t mlen, char *stat_dir, size_t slen) {
    char p[1600];
    snprintf(models, mlen, "%s/models", g_tmp);
    snprintf(stat_dir, slen, "%s/static", g_tmp);
    if (mkdir(models, 0755) || mkdir(stat_dir, 0755)) return false;
    snprintf(p, sizeof p, "%s/models/%s", g_shared, g_model);
    char link[1600];
    snprintf(link, sizeof link, "%s/%s", models, g_model);
    if (symlink(p, link)) return false;
    const char *names[2] = {"nogap", "gradcam"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", models, names[i]);
        if (mkdir(p, 0755)) return false;
        ob_buf m = synth_model(i == 1);
        snprintf(p, sizeof p, "%s/%s/model.onnx", models, names[i]);
        bool ok = write_file(p, m.p, m.n);
        free(m.p);
        if (!ok) return false;
    }
    snprintf(p, sizeof p, "%s/broken", models);
    if (mkdir(p, 0755)) return false;
    snprintf(p, sizeof p, "%s/broken/config.json", models);
    if (!write_file(p, "{\"labels\": 7", 12)) return false;
    snprintf(p, sizeof p, "%s/README.md", models);
    if (!write_file(p, "not a model\n", 12)) return false;
    /* static files: a page, a style sheet, a folder, a symlink out of the folder */
    const char *page = "<!doctype html><title>camserve test</title>";
    snprintf(p, sizeof p, "%s/index.html", stat_dir);
    if (!write_file(p, page, strlen(page))) return false;
    snprintf(p, sizeof p, "%s/site.css", stat_dir);
    if (!write_file(p, "body{}", 6)) return false;
    snprintf(p, sizeof p, "%s/sub", stat_dir);
    if (mkdir(p, 0755)) return false;
    snprintf(p, sizeof p, "%s/sub/a.js", stat_dir);
    if (!write_file(p, "1;", 2)) return false;
    snprintf(p, sizeof p, "%s/secret.txt", g_tmp);
    if (!write_file(p, "secret", 6)) return false;
    snprintf(link, sizeof link, "%s/out.txt", stat_dir);
    if (symlink(p, link)) return false;
    snprintf(p, sizeof p, "%s/site.css", stat_dir);
    snprintf(link, sizeof link, "%s/in.css", stat_dir);
    return symlink(p, link) == 0;
}

/* ---- tests ------------------------------------------------------------------------------- */

TEST(server_starts_and_reports_models) {
    char models[1100], stat_dir[1100], log[1100];
    snprintf(models, sizeof models, "%s/images", check_shared_dir());
    if (access(models, R_OK) != 0) SKIP("%s not found", models);
    if (!realpath(check_shared_dir(), g_shared)) SKIP("no %s", check_shared_dir());
    snprintf(models, sizeof models, "%s/models/%s/model.onnx", g_shared, g_model);
    if (access(models, R_OK) != 0) SKIP("%s not found", models);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/camserve-http-XXXXXX");
    CHECK(mkdtemp(g_tmp), "mkdtemp");
    CHECK(make_repo(models, sizeof models, stat_dir, sizeof stat_dir), "temporary model repository");
    snprintf(log, sizeof log, "%s/server.log", g_tmp);
    const char *args[] = {"--models", models, "--static", stat_dir, "--host", "127.0.0.1", "--port", "0",
                          "--workers", "2", "--threads", "1", "--max-body-mb", "2", "--default-model", g_model, NULL};
    bool ok = hc_server_start(&g_srv, check_bin(), log, args, true, 60);
    char *text = hc_slurp(log, NULL);
    CHECK(ok, "server did not become ready: %s", text ? text : "(no log)");
    g_up = true;
    CHECK(strstr(text, "BLAS kernel ") && !strstr(text, "BLAS kernel none"), "BLAS kernel in the start-up log: %s", text);
    CHECK(strstr(text, "model mobilenetv2-imagenet: loaded"), "loaded model listed: %s", text);
    CHECK(strstr(text, "model nogap: loaded") && strstr(text, "scores only"), "non-CAM model loaded: %s", text);
    CHECK(strstr(text, "model broken: not loaded: ") && strstr(text, "config.json"), "failure with its reason: %s", text);
    CHECK(!strstr(text, "README"), "plain files are not model folders: %s", text);
    free(text);
}

TEST(healthz_readyz_and_request_ids) {
    require_server();
    hc_resp r = get("/healthz");
    char v[128];
    CHECK(r.status == 200 && strstr(r.body, "\"status\":\"ok\""), "healthz: %d %s", r.status, r.body);
    CHECK(hc_header(&r, "X-Request-Id", v, sizeof v) && strlen(v) >= 8, "generated request id");
    char first[128];
    snprintf(first, sizeof first, "%s", v);
    CHECK(hc_header(&r, "Server-Timing", v, sizeof v) && !strncmp(v, "total;dur=", 10), "Server-Timing: %s", v);
    hc_free(&r);
    r = get("/healthz");
    CHECK(hc_header(&r, "X-Request-Id", v, sizeof v) && strcmp(v, first), "ids differ");
    hc_free(&r);
    r = get("/readyz");
    CHECK(r.status == 200 && strstr(r.body, "\"status\":\"ready\""), "readyz: %d %s", r.status, r.body);
    hc_free(&r);
    r = req("GET", "/readyz", "X-Request-Id: trace-42.a:b_c\r\n", NULL, 0);
    CHECK(hc_header(&r, "X-Request-Id", v, sizeof v) && !strcmp(v, "trace-42.a:b_c"), "echoed: %s", v);
    hc_free(&r);
    r = req("GET", "/readyz", "X-Request-Id: <script>alert(1)</script>\r\n", NULL, 0);
    CHECK(hc_header(&r, "X-Request-Id", v, sizeof v) && !strchr(v, '<'), "insane id replaced: %s", v);
    hc_free(&r);
    r = req("HEAD", "/healthz", NULL, NULL, 0);
    CHECK(r.status == 200 && r.body_len == 0, "HEAD: %d, %zu bytes", r.status, r.body_len);
    hc_free(&r);
}

TEST(model_list_and_metadata) {
    require_server();
    hc_resp r = get("/v1/models");
    CHECK(r.status == 200, "%d", r.status);
    cJSON *d = json_of(&r);
    CHECK(d, "JSON: %s", r.body);
    CHECK(!strcmp(cJSON_GetObjectItem(d, "default")->valuestring, g_model), "default model");
    cJSON *models = cJSON_GetObjectItem(d, "models"), *failed = cJSON_GetObjectItem(d, "failed");
    CHECK(cJSON_GetArraySize(models) == 3, "3 models: %s", r.body);
    CHECK(cJSON_GetArraySize(failed) == 1 && !strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(failed, 0), "folder")->valuestring, "broken"),
          "broken listed with its reason: %s", r.body);
    cJSON_Delete(d);
    hc_free(&r);

    r = get("/v1/models/mobilenetv2-imagenet");
    CHECK(r.status == 200, "%d", r.status);
    d = json_of(&r);
    cJSON *in = cJSON_GetObjectItem(d, "input"), *pre = cJSON_GetObjectItem(d, "preprocessing");
    cJSON *lb = cJSON_GetObjectItem(d, "labels"), *cam = cJSON_GetObjectItem(d, "cam");
    CHECK(cJSON_GetObjectItem(in, "height")->valueint == 224 && cJSON_GetObjectItem(in, "width")->valueint == 224, "input size");
    CHECK(!strcmp(cJSON_GetObjectItem(pre, "resize")->valuestring, "stretch") &&
          cJSON_GetObjectItem(pre, "mean")->child->valuedouble == 128.0, "preprocessing: %s", r.body);
    CHECK(cJSON_GetObjectItem(d, "classes")->valueint == 1001, "classes");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(lb, "real")) && cJSON_GetObjectItem(lb, "count")->valueint == 1001, "real labels");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cam, "applicable")) && !strcmp(cJSON_GetObjectItem(cam, "head")->valuestring, "linear") &&
          !strcmp(cJSON_GetObjectItem(cam, "feature_map")->valuestring, "act_269") &&
          cJSON_GetArrayItem(cJSON_GetObjectItem(cam, "feature_shape"), 0)->valueint == 1280, "CAM head: %s", r.body);
    cJSON_Delete(d);
    hc_free(&r);

    r = get("/v1/models/nogap");
    d = json_of(&r);
    cam = cJSON_GetObjectItem(d, "cam");
    CHECK(r.status == 200 && cJSON_IsFalse(cJSON_GetObjectItem(cam, "applicable")) &&
          !strcmp(cJSON_GetObjectItem(cam, "head")->valuestring, "none") && cJSON_GetObjectItem(cam, "reason"),
          "no CAM, with the reason: %s", r.body);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "labels"), "real")), "no labels: not real");
    cJSON_Delete(d);
    hc_free(&r);

    r = get("/v1/models/gradcam");
    CHECK(r.status == 200 && strstr(r.body, "\"method\":\"gradcam\"") && strstr(r.body, "\"head\":\"nonlinear\""), "%s", r.body);
    hc_free(&r);
    r = get("/v1/models/nope");
    CHECK_ERROR(r, 404, "MODEL_NOT_FOUND");
    hc_free(&r);
    r = get("/v1/models/broken");
    CHECK_ERROR(r, 404, "MODEL_NOT_FOUND");
    hc_free(&r);
}

/* decodes a base64 PNG field; returns width x height, or 0 */
static int png_size(const cJSON *field, int *w, int *h, cam_image *out) {
    if (!cJSON_IsString(field)) return 0;
    const char *b = field->valuestring;
    size_t n = strlen(b);
    uint8_t *bytes = malloc(n);
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && b[i] != '='; i++) {
        const char *al = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *p = strchr(al, b[i]);
        if (!p) { free(bytes); return 0; }
        acc = acc << 6 | (uint32_t)(p - al);
        if ((bits += 6) >= 8) { bits -= 8; bytes[k++] = (uint8_t)(acc >> bits); }
    }
    cam_decode_options o;
    cam_decode_options_init(&o);
    cam_image img;
    cam_image_info info;
    char err[256];
    cam_status st = cam_image_decode(bytes, k, &o, &img, &info, err, sizeof err);
    free(bytes);
    if (st != CAM_OK || strcmp(info.format, "png")) return 0;
    *w = img.width;
    *h = img.height;
    if (out) *out = img;
    else cam_image_free(&img);
    return 1;
}

static const char *top_label(cJSON *d) {
    cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "predictions"), 0);
    cJSON *l = cJSON_GetObjectItem(p0, "label");
    return cJSON_IsString(l) ? l->valuestring : "";
}

TEST(cam_raw_jpeg_and_png) {
    require_server();
    hc_resp r = post_image("/v1/models/mobilenetv2-imagenet/cam", "hot_dog.jpg");
    CHECK(r.status == 200, "%d %.300s", r.status, r.body);
    char v[512];
    CHECK(hc_header(&r, "Server-Timing", v, sizeof v), "Server-Timing");
    const char *stages[] = {"decode;dur=", "preprocess;dur=", "queue;dur=", "forward;dur=", "cam;dur=", "encode;dur=", "total;dur="};
    for (int i = 0; i < 7; i++) CHECK(strstr(v, stages[i]), "stage %s in %s", stages[i], v);
    cJSON *d = json_of(&r);
    CHECK(d && !strcmp(cJSON_GetObjectItem(d, "model")->valuestring, g_model), "model");
    CHECK(!strncmp(top_label(d), "hotdog", 6), "top-1 %s", top_label(d));
    cJSON *img = cJSON_GetObjectItem(d, "image");
    int W = cJSON_GetObjectItem(img, "width")->valueint, H = cJSON_GetObjectItem(img, "height")->valueint;
    CHECK(W == 512 && H == 384, "image %dx%d", W, H);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(d, "predictions")) == 5, "top 5 by default");
    cJSON *cams = cJSON_GetObjectItem(d, "cams"), *c0 = cJSON_GetArrayItem(cams, 0);
    CHECK(cJSON_GetArraySize(cams) == 1 && !strcmp(cJSON_GetObjectItem(c0, "method")->valuestring, "cam"), "one CAM");
    cJSON *b = cJSON_GetArrayItem(cJSON_GetObjectItem(c0, "boxes"), 0);
    CHECK(b && cJSON_GetObjectItem(b, "x0")->valueint >= 0 && cJSON_GetObjectItem(b, "x1")->valueint < W &&
          cJSON_GetObjectItem(b, "y1")->valueint < H, "box inside the image");
    int w, h;
    CHECK(png_size(cJSON_GetObjectItem(c0, "overlay_png"), &w, &h, NULL) && w == W && h == H, "overlay PNG %dx%d", w, h);
    CHECK(!cJSON_GetObjectItem(c0, "heatmap_png"), "no heatmap unless asked");
    cJSON *t = cJSON_GetObjectItem(d, "timing_ms");
    CHECK(cJSON_GetObjectItem(t, "queue") && cJSON_GetObjectItem(t, "forward")->valuedouble > 0, "timing_ms");
    cJSON_Delete(d);
    hc_free(&r);

    r = post_image("/v1/cam", "cat.png");
    CHECK(r.status == 200, "%d %.300s", r.status, r.body);
    d = json_of(&r);
    CHECK(!strncmp(top_label(d), "Egyptian cat", 12), "default model, PNG: %s", top_label(d));
    cJSON_Delete(d);
    hc_free(&r);
}

/* the response without timing (which differs from run to run) */
static char *stable_json(const hc_resp *r) {
    cJSON *d = json_of(r);
    if (!d) return NULL;
    cJSON_DeleteItemFromObject(d, "timing_ms");
    char *s = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    return s;
}

static size_t multipart(char *out, const char *boundary, const uint8_t *img, size_t n, const char *type,
                        const char *const *fields) {
    size_t k = 0;
    for (int i = 0; fields && fields[i]; i += 2)
        k += (size_t)sprintf(out + k, "--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n", boundary, fields[i],
                             fields[i + 1]);
    k += (size_t)sprintf(out + k, "--%s\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x\"\r\n"
                                  "Content-Type: %s\r\n\r\n", boundary, type);
    memcpy(out + k, img, n);
    k += n;
    k += (size_t)sprintf(out + k, "\r\n--%s--\r\n", boundary);
    return k;
}

TEST(cam_multipart_json_and_chunked_give_the_same_answer) {
    require_server();
    size_t n;
    uint8_t *img = photo("pets.jpg", &n);
    CHECK(img, "pets.jpg");
    hc_resp raw = req("POST", "/v1/cam?top_k=3&cam_top_k=2", "Content-Type: image/jpeg\r\n", img, n);
    CHECK(raw.status == 200, "raw %d %.200s", raw.status, raw.body);
    char *want = stable_json(&raw);
    cJSON *d = json_of(&raw);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(d, "predictions")) == 3 && cJSON_GetArraySize(cJSON_GetObjectItem(d, "cams")) == 2,
          "top_k and cam_top_k: %.300s", raw.body);
    cJSON_Delete(d);

    /* multipart: one parameter in the query, one as a form field */
    char *body = malloc(n + 4096);
    const char *fields[] = {"top_k", "3", NULL};
    size_t bl = multipart(body, "XyZzy-42", img, n, "image/jpeg", fields);
    hc_resp mp = req("POST", "/v1/cam?cam_top_k=2", "Content-Type: multipart/form-data; boundary=XyZzy-42\r\n", body, bl);
    CHECK(mp.status == 200, "multipart %d %.200s", mp.status, mp.body);
    char *got = stable_json(&mp);
    CHECK(got && !strcmp(got, want), "multipart answer = raw answer");
    free(got);

    /* JSON with base64 (and a data: URL prefix) */
    char *b64 = malloc(cam_base64_len(n) + 64);
    cam_base64_encode(img, n, b64);
    char *js = malloc(strlen(b64) + 256);
    sprintf(js, "{\"image\":\"data:image/jpeg;base64,%s\",\"top_k\":3,\"cam_top_k\":2}", b64);
    hc_resp jr = req("POST", "/v1/cam", "Content-Type: application/json\r\n", js, strlen(js));
    CHECK(jr.status == 200, "json %d %.200s", jr.status, jr.body);
    got = stable_json(&jr);
    CHECK(got && !strcmp(got, want), "JSON answer = raw answer");
    free(got);

    /* chunked transfer encoding of the raw image */
    int fd = hc_connect(g_srv.port);
    CHECK(fd >= 0, "connect");
    const char *h = "POST /v1/cam?top_k=3&cam_top_k=2 HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                    "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    CHECK(hc_send(fd, h, strlen(h)), "send");
    for (size_t off = 0; off < n; off += 10000) {
        size_t k = n - off < 10000 ? n - off : 10000;
        char sz[32];
        sprintf(sz, "%zx\r\n", k);
        CHECK(hc_send(fd, sz, strlen(sz)) && hc_send(fd, img + off, k) && hc_send(fd, "\r\n", 2), "chunk");
    }
    CHECK(hc_send(fd, "0\r\n\r\n", 5), "last chunk");
    hc_resp ch;
    CHECK(hc_read(fd, &ch, false) && ch.status == 200, "chunked %d %.200s", ch.status, ch.body);
    close(fd);
    got = stable_json(&ch);
    CHECK(got && !strcmp(got, want), "chunked answer = raw answer");
    free(got);
    hc_free(&ch);
    free(want);
    free(js);
    free(b64);
    free(body);
    free(img);
    hc_free(&raw);
    hc_free(&mp);
    hc_free(&jr);
}

TEST(classify_is_scores_only) {
    require_server();
    hc_resp r = post_image("/v1/models/mobilenetv2-imagenet/classify?top_k=2&heatmap=true", "owl.jpg");
    CHECK(r.status == 200, "%d %.300s", r.status, r.body);
    cJSON *d = json_of(&r);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(d, "cams")) == 0, "no CAMs: %.300s", r.body);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(d, "predictions")) == 2, "top_k applies");
    CHECK(!strncmp(top_label(d), "ruffed grouse", 13), "top-1 %s", top_label(d));
    cJSON_Delete(d);
    hc_free(&r);
    r = post_image("/v1/models/nogap/classify", "owl.jpg");
    CHECK(r.status == 200 && strstr(r.body, "\"cams\":[]"), "classify serves non-CAM models: %d %.200s", r.status, r.body);
    hc_free(&r);
}

TEST(every_parameter) {
    require_server();
    const char *path = "/v1/models/mobilenetv2-imagenet/cam";
    char url[256];
    cJSON *d, *c0;
    hc_resp r;
    int w, h;
#define POST_Q(q)                                                         \
    do {                                                                  \
        snprintf(url, sizeof url, "%s?%s", path, q);                      \
        r = post_image(url, "cat.png");                                   \
        CHECK(r.status == 200, "%s: %d %.300s", q, r.status, r.body);     \
        d = json_of(&r);                                                  \
        c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "cams"), 0);       \
    } while (0)
#define DONE() do { cJSON_Delete(d); hc_free(&r); } while (0)

    POST_Q("top_k=1");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(d, "predictions")) == 1, "top_k=1");
    DONE();
    POST_Q("cam_top_k=3&overlay=false");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(d, "cams")) == 3 && !cJSON_GetObjectItem(c0, "overlay_png"),
          "cam_top_k=3, overlay=false");
    DONE();
    POST_Q("class=285&overlay=false");
    CHECK(cJSON_GetObjectItem(c0, "index")->valueint == 285, "class=285");
    DONE();
    /* a higher threshold keeps fewer pixels: a box no larger */
    POST_Q("threshold=0.05&overlay=false");
    cJSON *b = cJSON_GetArrayItem(cJSON_GetObjectItem(c0, "boxes"), 0);
    int area_lo = (cJSON_GetObjectItem(b, "x1")->valueint - cJSON_GetObjectItem(b, "x0")->valueint + 1) *
                  (cJSON_GetObjectItem(b, "y1")->valueint - cJSON_GetObjectItem(b, "y0")->valueint + 1);
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "params"), "threshold")->valuedouble == 0.05, "threshold echoed");
    DONE();
    POST_Q("threshold=0.9&overlay=false");
    b = cJSON_GetArrayItem(cJSON_GetObjectItem(c0, "boxes"), 0);
    int area_hi = (cJSON_GetObjectItem(b, "x1")->valueint - cJSON_GetObjectItem(b, "x0")->valueint + 1) *
                  (cJSON_GetObjectItem(b, "y1")->valueint - cJSON_GetObjectItem(b, "y0")->valueint + 1);
    CHECK(area_hi < area_lo, "threshold 0.9 box %d < 0.05 box %d", area_hi, area_lo);
    DONE();
    POST_Q("boxes=all&min_area=0&threshold=0.5&overlay=false");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(c0, "boxes")) >= 1 &&
          !strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "params"), "boxes")->valuestring, "all"), "boxes=all");
    DONE();
    /* alpha 1 with gray: the overlay is the gray heatmap itself */
    POST_Q("alpha=1&colormap=gray");
    cam_image ov;
    CHECK(png_size(cJSON_GetObjectItem(c0, "overlay_png"), &w, &h, &ov), "overlay");
    bool gray = true;
    for (int y = 0; y < ov.height; y += 7)
        for (int x = 0; x < ov.width; x += 7) {
            const uint8_t *p = ov.rgb + (size_t)y * ov.stride + 3 * (size_t)x;
            gray &= p[0] == p[1] && p[1] == p[2];
        }
    cam_image_free(&ov);
    CHECK(gray, "alpha=1, colormap=gray: a gray overlay");
    CHECK(!strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "params"), "colormap")->valuestring, "gray") &&
          cJSON_GetObjectItem(cJSON_GetObjectItem(d, "params"), "alpha")->valuedouble == 1, "params echoed");
    DONE();
    POST_Q("colormap=viridis&alpha=0.3");
    CHECK(!strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "params"), "colormap")->valuestring, "viridis"), "viridis");
    DONE();
    POST_Q("heatmap=true&max_side=64");
    CHECK(png_size(cJSON_GetObjectItem(c0, "heatmap_png"), &w, &h, NULL) && w == 64 && h == 43, "heatmap PNG at max_side: %dx%d", w, h);
    CHECK(png_size(cJSON_GetObjectItem(c0, "overlay_png"), &w, &h, NULL) && w == 64, "overlay at max_side: %dx%d", w, h);
    DONE();
    POST_Q("heatmap");   /* a bare flag means true */
    CHECK(cJSON_GetObjectItem(c0, "heatmap_png"), "?heatmap");
    DONE();
#undef POST_Q
#undef DONE
}

TEST(bad_parameters_are_400) {
    require_server();
    static const struct { const char *query, *needle; } bad[] = {
        {"foo=1", "unknown parameter 'foo'"}, {"top_k=abc", "top_k"}, {"top_k=101", "top_k"},
        {"cam_top_k=-1", "cam_top_k"}, {"class=x", "class"}, {"class=5000", "out of range"},
        {"threshold=2", "threshold"}, {"boxes=some", "boxes"}, {"alpha=-0.5", "alpha"},
        {"colormap=pink", "colormap"}, {"overlay=maybe", "overlay"}, {"heatmap=2", "heatmap"},
        {"max_side=8", "max_side"}, {"min_area=7", "min_area"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char url[256], msg[512];
        snprintf(url, sizeof url, "/v1/models/mobilenetv2-imagenet/cam?%s", bad[i].query);
        hc_resp r = post_image(url, "bird.png");
        CHECK_ERROR(r, 400, "BAD_PARAMETER");
        is_error(&r, "BAD_PARAMETER", msg, sizeof msg);
        CHECK(strstr(msg, bad[i].needle), "%s: message '%s' names %s", bad[i].query, msg, bad[i].needle);
        hc_free(&r);
    }
    /* in a JSON body and as a form field */
    const char *js = "{\"image\":\"iVBORw0KGgo=\",\"top_k\":[1]}";
    hc_resp r = req("POST", "/v1/cam", "Content-Type: application/json\r\n", js, strlen(js));
    CHECK_ERROR(r, 400, "BAD_PARAMETER");
    hc_free(&r);
    js = "{\"image\":\"iVBORw0KGgo=\",\"colour\":\"red\"}";
    r = req("POST", "/v1/cam", "Content-Type: application/json\r\n", js, strlen(js));
    CHECK_ERROR(r, 400, "BAD_PARAMETER");
    hc_free(&r);
    char body[1024];
    const char *fields[] = {"alpha", "3", NULL};
    size_t bl = multipart(body, "b0undary", (const uint8_t *)"\x89PNG", 4, "image/png", fields);
    r = req("POST", "/v1/cam", "Content-Type: multipart/form-data; boundary=b0undary\r\n", body, bl);
    CHECK_ERROR(r, 400, "BAD_PARAMETER");
    hc_free(&r);
}

TEST(bad_bodies_are_400) {
    require_server();
    const char *ct_jpeg = "Content-Type: image/jpeg\r\n", *ct_json = "Content-Type: application/json\r\n";
    hc_resp r = req("POST", "/v1/cam", ct_jpeg, "\xff\xd8\xff\xe0garbage-garbage-garbage", 27);
    CHECK_ERROR(r, 400, "BAD_IMAGE");
    hc_free(&r);
    size_t n;
    uint8_t *img = photo("hot_dog.jpg", &n);
    r = req("POST", "/v1/cam", ct_jpeg, img, n / 3);   /* truncated */
    CHECK(r.status == 400 || r.status == 200, "truncated JPEG: %d", r.status);
    if (r.status == 400) CHECK_ERROR(r, 400, "BAD_IMAGE");
    hc_free(&r);
    free(img);
    r = req("POST", "/v1/cam", ct_jpeg, "", 0);
    CHECK_ERROR(r, 400, "BAD_REQUEST");
    hc_free(&r);
    r = req("POST", "/v1/cam", ct_json, "{\"image\": ", 10);
    CHECK_ERROR(r, 400, "BAD_REQUEST");
    hc_free(&r);
    r = req("POST", "/v1/cam", ct_json, "{\"top_k\": 1}", 12);
    CHECK_ERROR(r, 400, "BAD_REQUEST");
    hc_free(&r);
    r = req("POST", "/v1/cam", ct_json, "{\"image\": \"@@not base64@@\"}", 28);
    CHECK_ERROR(r, 400, "BAD_REQUEST");
    hc_free(&r);
    r = req("POST", "/v1/cam", ct_json, "[1,2]", 5);
    CHECK_ERROR(r, 400, "BAD_REQUEST");
    hc_free(&r);
    const char *mp = "--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nabc\r\n--zz--\r\n";
    r = req("POST", "/v1/cam", "Content-Type: multipart/form-data; boundary=zz\r\n", mp, strlen(mp));
    CHECK_ERROR(r, 400, "BAD_REQUEST");
    hc_free(&r);
    r = req("POST", "/v1/cam", "Content-Type: multipart/form-data\r\n", mp, strlen(mp));
    CHECK_ERROR(r, 400, "BAD_REQUEST");
    hc_free(&r);
    r = req("POST", "/v1/cam", NULL, NULL, 0);
    CHECK_ERROR(r, 400, "BAD_REQUEST");
    hc_free(&r);
}

TEST(not_found_404) {
    require_server();
    hc_resp r = get("/nope");
    CHECK_ERROR(r, 404, "NOT_FOUND");
    hc_free(&r);
    r = get("/v1/models/mobilenetv2-imagenet/cam/extra");
    CHECK_ERROR(r, 404, "NOT_FOUND");
    hc_free(&r);
    r = post_image("/v1/models/nope/cam", "cat.png");
    CHECK_ERROR(r, 404, "MODEL_NOT_FOUND");
    hc_free(&r);
    r = post_image("/v1/models/broken/classify", "cat.png");
    CHECK_ERROR(r, 404, "MODEL_NOT_FOUND");
    hc_free(&r);
}

TEST(wrong_method_405_with_allow) {
    require_server();
    static const struct { const char *method, *path, *allow; } cases[] = {
        {"GET", "/v1/cam", "POST"}, {"PUT", "/v1/models/mobilenetv2-imagenet/cam", "POST"},
        {"GET", "/v1/models/mobilenetv2-imagenet/classify", "POST"}, {"POST", "/healthz", "GET, HEAD"},
        {"DELETE", "/v1/models", "GET, HEAD"}, {"POST", "/v1/models/mobilenetv2-imagenet", "GET, HEAD"},
        {"POST", "/metrics", "GET, HEAD"}, {"PUT", "/static/index.html", "GET, HEAD"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hc_resp r = req(cases[i].method, cases[i].path, NULL, NULL, 0);
        char allow[64];
        CHECK_ERROR(r, 405, "METHOD_NOT_ALLOWED");
        CHECK(hc_header(&r, "Allow", allow, sizeof allow) && !strcmp(allow, cases[i].allow), "%s %s: Allow %s",
              cases[i].method, cases[i].path, allow);
        hc_free(&r);
    }
}

/* a PNG header claiming w x h (checked before any pixel is decoded) */
static size_t fake_png(uint8_t *out, uint32_t w, uint32_t h) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(out, sig, 8);
    uint8_t ihdr[17] = {'I', 'H', 'D', 'R', (uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w,
                        (uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h, 8, 2, 0, 0, 0};
    uint8_t len[4] = {0, 0, 0, 13};
    memcpy(out + 8, len, 4);
    memcpy(out + 12, ihdr, 17);
    uint32_t crc = (uint32_t)crc32(0, ihdr, 17);
    uint8_t c[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc};
    memcpy(out + 29, c, 4);
    static const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    memcpy(out + 33, iend, 12);
    return 45;
}

TEST(too_large_413) {
    require_server();
    /* Content-Length over the limit: answered before the body is sent */
    int fd = hc_connect(g_srv.port);
    CHECK(fd >= 0, "connect");
    const char *h = "POST /v1/cam HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 104857600\r\n\r\n";
    CHECK(hc_send(fd, h, strlen(h)), "send");
    hc_resp r;
    CHECK(hc_read(fd, &r, false), "an answer without sending the body");
    close(fd);
    seen("POST", "/v1/cam", r.status);
    CHECK_ERROR(r, 413, "PAYLOAD_TOO_LARGE");
    hc_free(&r);

    /* chunked, counted as it arrives: 3 MB against --max-body-mb 2 */
    fd = hc_connect(g_srv.port);
    CHECK(fd >= 0, "connect");
    h = "POST /v1/models/mobilenetv2-imagenet/cam HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    CHECK(hc_send(fd, h, strlen(h)), "send");
    char *chunk = calloc(1, 65536);
    for (int i = 0; i < 48; i++)
        CHECK(hc_send(fd, "10000\r\n", 7) && hc_send(fd, chunk, 65536) && hc_send(fd, "\r\n", 2), "chunk %d", i);
    free(chunk);
    CHECK(hc_send(fd, "0\r\n\r\n", 5), "end");
    CHECK(hc_read(fd, &r, false), "answer");
    seen("POST", "/v1/models/mobilenetv2-imagenet/cam", r.status);
    CHECK_ERROR(r, 413, "PAYLOAD_TOO_LARGE");
    hc_free(&r);
    /* the connection survives: the body was read */
    CHECK(hc_roundtrip(fd, "GET", "/healthz", NULL, NULL, 0, &r) && r.status == 200, "keep-alive after 413");
    hc_free(&r);
    close(fd);

    /* too many pixels, from the header */
    uint8_t png[64];
    size_t n = fake_png(png, 20000, 20000);
    r = req("POST", "/v1/cam", "Content-Type: image/png\r\n", png, n);
    CHECK_ERROR(r, 413, "IMAGE_TOO_LARGE");
    hc_free(&r);
}

TEST(unsupported_415) {
    require_server();
    hc_resp r = req("POST", "/v1/cam", "Content-Type: text/plain\r\n", "hello", 5);
    CHECK_ERROR(r, 415, "UNSUPPORTED_MEDIA_TYPE");
    hc_free(&r);
    r = req("POST", "/v1/cam", "Content-Type: application/x-www-form-urlencoded\r\n", "a=b", 3);
    CHECK_ERROR(r, 415, "UNSUPPORTED_MEDIA_TYPE");
    hc_free(&r);
    r = req("POST", "/v1/cam", NULL, "abc", 3);
    CHECK_ERROR(r, 415, "UNSUPPORTED_MEDIA_TYPE");
    hc_free(&r);
    /* a GIF announced as PNG */
    r = req("POST", "/v1/cam", "Content-Type: image/png\r\n", "GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14);
    CHECK_ERROR(r, 415, "UNSUPPORTED_IMAGE_FORMAT");
    hc_free(&r);
    /* Expect: 100-continue with a bad type: answered at once, body never sent */
    int fd = hc_connect(g_srv.port);
    CHECK(fd >= 0, "connect");
    const char *h = "POST /v1/cam HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n"
                    "Expect: 100-continue\r\n\r\n";
    CHECK(hc_send(fd, h, strlen(h)), "send");
    CHECK(hc_read(fd, &r, false), "answer");
    close(fd);
    seen("POST", "/v1/cam", r.status);
    CHECK_ERROR(r, 415, "UNSUPPORTED_MEDIA_TYPE");
    hc_free(&r);
}

TEST(cam_not_applicable_422_and_gradcam) {
    require_server();
    hc_resp r = post_image("/v1/models/nogap/cam", "bird.png");
    CHECK_ERROR(r, 422, "CAM_NOT_APPLICABLE");
    hc_free(&r);
    r = post_image("/v1/models/nogap/cam?cam_top_k=0", "bird.png");
    CHECK(r.status == 200 && strstr(r.body, "\"cams\":[]"), "cam_top_k=0 works: %d %.200s", r.status, r.body);
    hc_free(&r);
    r = post_image("/v1/models/gradcam/cam?top_k=3", "bird.png");
    CHECK(r.status == 200 && strstr(r.body, "\"method\":\"gradcam\"") && strstr(r.body, "\"label\":\"class_"),
          "Grad-CAM on a non-linear head: %d %.300s", r.status, r.body);
    hc_free(&r);
}

TEST(static_files_and_traversal) {
    require_server();
    char v[128];
    hc_resp r = get("/");
    CHECK(r.status == 200 && strstr(r.body, "camserve test"), "/: %d", r.status);
    CHECK(hc_header(&r, "Content-Type", v, sizeof v) && !strncmp(v, "text/html", 9), "html type: %s", v);
    CHECK(hc_header(&r, "X-Request-Id", v, sizeof v), "X-Request-Id on static files");
    hc_free(&r);
    r = get("/static/site.css");
    CHECK(r.status == 200 && hc_header(&r, "Content-Type", v, sizeof v) && !strncmp(v, "text/css", 8), "css: %d %s", r.status, v);
    hc_free(&r);
    r = get("/static/sub/a.js");
    CHECK(r.status == 200 && hc_header(&r, "Content-Type", v, sizeof v) && strstr(v, "javascript"), "js: %d %s", r.status, v);
    hc_free(&r);
    r = get("/static/in.css");
    CHECK(r.status == 200, "a symlink inside the folder: %d", r.status);
    hc_free(&r);
    static const char *const missing[] = {"/static/", "/static/sub", "/static/sub/", "/static/nope.css", "/static/out.txt", "/static"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        r = get(missing[i]);
        CHECK_ERROR(r, 404, "NOT_FOUND");
        CHECK(!strstr(r.body, "secret") && !strstr(r.body, "a.js"), "%s: no listing, nothing outside", missing[i]);
        hc_free(&r);
    }
    static const char *const traversal[] = {
        "/static/../Makefile", "/static/%2e%2e/Makefile", "/static/%2E%2E%2Fsecret.txt", "/static/..%2fsecret.txt",
        "/static/sub/../../secret.txt", "/static/..\\secret.txt", "/static/%5c..%5csecret.txt", "/static/./index.html",
        "/static//etc/passwd", "/static/sub/%2e%2e/%2e%2e/secret.txt",
    };
    for (size_t i = 0; i < sizeof traversal / sizeof traversal[0]; i++) {
        r = get(traversal[i]);
        CHECK(r.status == 400 || r.status == 404, "%s: %d", traversal[i], r.status);
        CHECK(!strstr(r.body, "secret") && !strstr(r.body, "root:"), "%s leaked: %.100s", traversal[i], r.body);
        if (r.status == 400) CHECK_ERROR(r, 400, "BAD_PATH");
        hc_free(&r);
    }
    r = get("/static/../secret.txt");
    CHECK_ERROR(r, 400, "BAD_PATH");
    hc_free(&r);
}

TEST(keep_alive_survives_errors) {
    require_server();
    int fd = hc_connect(g_srv.port);
    CHECK(fd >= 0, "connect");
    size_t n;
    uint8_t *img = photo("bird.png", &n);
    hc_resp r;
    CHECK(hc_roundtrip(fd, "POST", "/v1/models/nope/cam", "Content-Type: image/png\r\n", img, n, &r), "404 with a body");
    CHECK_ERROR(r, 404, "MODEL_NOT_FOUND");
    hc_free(&r);
    CHECK(hc_roundtrip(fd, "POST", "/v1/cam", "Content-Type: text/plain\r\n", img, n, &r), "415 with a body");
    CHECK_ERROR(r, 415, "UNSUPPORTED_MEDIA_TYPE");
    hc_free(&r);
    CHECK(hc_roundtrip(fd, "POST", "/v1/cam?overlay=false", "Content-Type: image/png\r\n", img, n, &r), "then a good one");
    CHECK(r.status == 200 && strstr(r.body, "chickadee"), "%d", r.status);
    hc_free(&r);
    CHECK(hc_roundtrip(fd, "GET", "/v1/models", NULL, NULL, 0, &r) && r.status == 200, "and a GET");
    hc_free(&r);
    free(img);
    close(fd);
}

typedef struct { const char *file; char *json; int status; } conc_job;

static void *conc_client(void *arg) {
    conc_job *j = arg;
    hc_resp r = post_image("/v1/models/mobilenetv2-imagenet/cam?cam_top_k=2", j->file);
    j->status = r.status;
    j->json = r.status == 200 ? stable_json(&r) : NULL;
    hc_free(&r);
    return NULL;
}

TEST(concurrent_clients_get_the_sequential_answers) {
    require_server();
    const char *files[] = {"hot_dog.jpg", "cat.png", "parrot.jpg", "dragonfly.jpg"};
    char *want[4];
    for (int i = 0; i < 4; i++) {
        conc_job j = {files[i], NULL, 0};
        conc_client(&j);
        CHECK(j.status == 200 && j.json, "sequential %s: %d", files[i], j.status);
        want[i] = j.json;
    }
    enum { N = 32 };
    conc_job jobs[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (conc_job){files[i % 4], NULL, 0};
        CHECK(pthread_create(&th[i], NULL, conc_client, &jobs[i]) == 0, "thread");
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    int same = 0;
    for (int i = 0; i < N; i++) same += jobs[i].status == 200 && jobs[i].json && !strcmp(jobs[i].json, want[i % 4]);
    for (int i = 0; i < N; i++) free(jobs[i].json);
    for (int i = 0; i < 4; i++) free(want[i]);
    CHECK(same == N, "%d of %d concurrent answers identical to the sequential ones", same, N);
}

TEST(client_disconnects_do_not_hurt) {
    require_server();
    /* mid-upload */
    for (int i = 0; i < 4; i++) {
        int fd = hc_connect(g_srv.port);
        CHECK(fd >= 0, "connect");
        const char *h = "POST /v1/cam HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 1000000\r\n\r\n";
        char part[3000] = {0};
        CHECK(hc_send(fd, h, strlen(h)) && hc_send(fd, part, sizeof part), "send");
        close(fd);
    }
    /* a whole request, gone before the answer */
    size_t n;
    uint8_t *img = photo("kite_and_cold.jpg", &n);
    for (int i = 0; i < 4; i++) {
        int fd = hc_connect(g_srv.port);
        CHECK(fd >= 0, "connect");
        char *h = hc_request_head("POST", "/v1/cam?heatmap=true", "Content-Type: image/jpeg\r\n", img, n, false);
        CHECK(hc_send(fd, h, strlen(h)) && hc_send(fd, img, n), "send");
        free(h);
        close(fd);
    }
    free(img);
    /* the server answers as before, and every request is accounted for */
    hc_resp r = post_image("/v1/cam?overlay=false", "owl.jpg");
    CHECK(r.status == 200, "after disconnects: %d", r.status);
    hc_free(&r);
    /* 1: the scrape itself */
    bool settled = metric_wait(g_srv.port, "camserve_requests_in_flight", 1, 20);
    CHECK(settled, "requests in flight back to 1, not %d", metric_on(g_srv.port, "camserve_requests_in_flight"));
}

TEST(metrics_exposition) {
    require_server();
    hc_resp r = get("/metrics");
    char v[128];
    CHECK(r.status == 200 && hc_header(&r, "Content-Type", v, sizeof v) && !strncmp(v, "text/plain", 10), "%d %s", r.status, v);
    const char *t = r.body;
    CHECK(metric(t, "camserve_requests_total{route=\"/v1/models/{model}/cam\",code=\"200\"}") >= 5, "cam 200s counted");
    CHECK(metric(t, "camserve_requests_total{route=\"/v1/cam\",code=\"415\"}") >= 1, "415s counted");
    CHECK(metric(t, "camserve_requests_total{route=\"other\",code=\"404\"}") >= 1, "404s counted");
    CHECK(strstr(t, "camserve_request_duration_seconds_bucket{route=\"/v1/models/{model}/cam\",le=\"0.1\"}") &&
          strstr(t, "camserve_request_duration_seconds_bucket{route=\"/v1/models/{model}/cam\",le=\"+Inf\"}") &&
          strstr(t, "camserve_request_duration_seconds_sum{route=\"/v1/cam\"}"), "histograms per route");
    const char *stages[] = {"decode", "preprocess", "queue", "forward", "cam", "encode"};
    for (int i = 0; i < 6; i++) {
        char name[96];
        snprintf(name, sizeof name, "camserve_stage_seconds_total{stage=\"%s\"}", stages[i]);
        double wall = metric_f(t, name);
        CHECK(wall >= 0, "%s", name);
        /* the worker's CPU time: present for every stage but the queue, and
         * never more than the wall time it was measured in */
        snprintf(name, sizeof name, "camserve_stage_cpu_seconds_total{stage=\"%s\"}", stages[i]);
        double cpu = metric_f(t, name);
        if (!strcmp(stages[i], "queue")) {
            CHECK(cpu < 0, "no CPU line for the queue");
        } else {
            CHECK(cpu >= 0 && cpu <= wall * 1.01 + 1e-4, "%s %g s against %g s of wall time", name, cpu, wall);
            if (!strcmp(stages[i], "forward") || !strcmp(stages[i], "decode"))
                CHECK(cpu > 0, "%s counted", name);
        }
    }
    CHECK(metric(t, "camserve_queue_depth") == 0 && metric(t, "camserve_workers_busy") >= 0 &&
          metric(t, "camserve_workers") == 2 && metric(t, "camserve_rejected_overload_total") >= 0, "gauges");
    CHECK(strstr(t, "# TYPE camserve_request_duration_seconds histogram"), "TYPE lines");
    CHECK(strstr(t, "camserve_build_info{version=\"" CAM_VERSION "\",blas_core=\""), "build info");
    char *log = hc_slurp(g_srv.log, NULL);
    const char *k = strstr(log, "BLAS kernel ");
    char core[64] = "", want[128];
    if (k) sscanf(k + 12, "%63s", core);
    snprintf(want, sizeof want, "blas_core=\"%s\"} 1", core);
    CHECK(core[0] && strstr(t, want), "blas_core %s as in the log", core);
    free(log);
    hc_free(&r);
}

TEST(access_log_lines) {
    require_server();
    hc_resp r = req("GET", "/v1/models/mobilenetv2-imagenet", "X-Request-Id: log-probe-1\r\n", NULL, 0);
    hc_free(&r);
    r = post_image("/v1/models/mobilenetv2-imagenet/classify", "cat.png");
    hc_free(&r);
    usleep(100000);
    char *log = hc_slurp(g_srv.log, NULL);
    const char *l = strstr(log, "request_id=log-probe-1");
    CHECK(l, "access line for the request id");
    const char *start = l;
    while (start > log && start[-1] != '\n') start--;
    CHECK(strstr(start, "access method=GET path=/v1/models/mobilenetv2-imagenet status=200 bytes=") == strchr(start, ' ') + 1,
          "method, path, status, bytes: %.200s", start);
    CHECK(strstr(start, "duration_ms=") && strstr(start, "model=mobilenetv2-imagenet"), "duration and model: %.200s", start);
    CHECK(strstr(log, "method=POST path=/v1/models/mobilenetv2-imagenet/classify status=200"), "POST logged");
    free(log);
}

TEST(serve_help_lists_flags_env_and_defaults) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s serve --help", check_bin());
    FILE *p = popen(cmd, "r");
    CHECK(p, "popen");
    static char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, p);
    text[n] = 0;
    int st = pclose(p);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "--help exits 0");
    static const char *const expect[] = {
        "--models DIR", "CAMSERVE_MODELS", "--default-model", "CAMSERVE_DEFAULT_MODEL", "--host", "default: 0.0.0.0",
        "--port", "CAMSERVE_PORT] default: 8080", "--workers", "CAMSERVE_WORKERS", "--threads", "CAMSERVE_THREADS",
        "--queue", "CAMSERVE_QUEUE", "--max-body-mb", "CAMSERVE_MAX_BODY_MB] default: 16", "--max-pixels",
        "CAMSERVE_MAX_PIXELS", "--timeout", "CAMSERVE_TIMEOUT", "--drain-seconds", "CAMSERVE_DRAIN_SECONDS] default: 30",
        "--log-format text|json", "CAMSERVE_LOG_FORMAT] default: text",
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) CHECK(strstr(text, expect[i]), "'%s' in --help", expect[i]);
    static const char *const bad[] = {"--nope", "--port 70000", "--log-format xml", "--workers 0", "--queue"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s serve %s 2>/dev/null", check_bin(), bad[i]);
        st = system(cmd);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2, "serve %s: usage error (exit 2), got %d", bad[i], WEXITSTATUS(st));
    }
    snprintf(cmd, sizeof cmd, "CAMSERVE_PORT=abc %s serve 2>/dev/null", check_bin());
    st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2, "a bad CAMSERVE_PORT is a usage error");
}

TEST(no_model_loads_never_ready) {
    require_server();
    char dir[600], p[700], log[700];
    snprintf(dir, sizeof dir, "%s/emptyrepo", g_tmp);
    snprintf(p, sizeof p, "%s/broken", dir);
    CHECK(mkdir(dir, 0755) == 0 && mkdir(p, 0755) == 0, "mkdir");
    snprintf(p, sizeof p, "%s/broken/model.onnx", dir);
    CHECK(write_file(p, "not onnx at all", 15), "write");
    snprintf(log, sizeof log, "%s/nomodel.log", g_tmp);
    /* the repository from the environment this time */
    setenv("CAMSERVE_MODELS", dir, 1);
    hc_server s;
    const char *args[] = {"--host", "127.0.0.1", "--port", "0", "--workers", "1", NULL};
    bool started = hc_server_start(&s, check_bin(), log, args, false, 30);
    unsetenv("CAMSERVE_MODELS");
    CHECK(started, "started");
    hc_resp r = {0};
    double t0 = hc_now();
    while (hc_now() - t0 < 20) {
        r = req_on(s.port, "GET", "/v1/models", NULL, NULL, 0);
        if (r.status == 200) break;
        hc_free(&r);
        usleep(20000);
    }
    bool listed = r.status == 200 && strstr(r.body, "\"models\":[]") && strstr(r.body, "\"folder\":\"broken\"");
    hc_free(&r);
    r = req_on(s.port, "GET", "/healthz", NULL, NULL, 0);
    int health = r.status;
    hc_free(&r);
    r = req_on(s.port, "GET", "/readyz", NULL, NULL, 0);
    char msg[256] = "", ra[16] = "";
    int ready = r.status;
    bool not_ready = is_error(&r, "NOT_READY", msg, sizeof msg) && hc_header(&r, "Retry-After", ra, sizeof ra);
    hc_free(&r);
    size_t n;
    uint8_t *img = photo("cat.png", &n);
    r = req_on(s.port, "POST", "/v1/cam", "Content-Type: image/png\r\n", img, n);
    free(img);
    int cam = r.status;
    bool cam_code = is_error(&r, "NOT_READY", NULL, 0);
    hc_free(&r);
    int rc = hc_server_stop(&s, 30);
    char *text = hc_slurp(log, NULL);
    CHECK(listed, "the failure is listed by /v1/models");
    CHECK(health == 200, "alive: %d", health);
    CHECK(ready == 503 && not_ready && strstr(msg, "no model loaded"), "/readyz %d: %s", ready, msg);
    CHECK(cam == 503 && cam_code, "inference refused: %d", cam);
    CHECK(strstr(text, "model broken: not loaded: ") && strstr(text, "not ready: no model loaded"), "logged: %s", text);
    CHECK(rc == 0, "exit %d", rc);
    free(text);
}

/* Every route and status this run saw is documented; every documented
 * operation answers with a documented status; undocumented methods get 405
 * with the documented ones in Allow. */
TEST(openapi_document_matches_the_server) {
    require_server();
    hc_resp r = get("/openapi.json");
    CHECK(r.status == 200, "%d", r.status);
    cJSON *doc = json_of(&r);
    hc_free(&r);
    CHECK(doc && !strncmp(cJSON_GetObjectItem(doc, "openapi")->valuestring, "3.", 2), "OpenAPI 3");
    cJSON *paths = cJSON_GetObjectItem(doc, "paths");
    const char *required[] = {"/v1/models/{model}/cam", "/v1/cam", "/v1/models/{model}/classify", "/v1/models",
                              "/v1/models/{model}", "/healthz", "/readyz", "/metrics", "/openapi.json", "/", "/static/{path}"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        CHECK(cJSON_GetObjectItem(paths, required[i]), "%s documented", required[i]);
    CHECK(cJSON_GetArraySize(paths) == (int)(sizeof required / sizeof required[0]), "no other paths documented");
    size_t n;
    uint8_t *img = photo("cat.png", &n);
    for (cJSON *p = paths->child; p; p = p->next) {
        char url[256];
        const char *tpl = p->string;
        const char *mm = strstr(tpl, "{model}"), *pp = strstr(tpl, "{path}");
        if (mm) snprintf(url, sizeof url, "%.*s%s%s", (int)(mm - tpl), tpl, g_model, mm + 7);
        else if (pp) snprintf(url, sizeof url, "%.*sindex.html", (int)(pp - tpl), tpl);
        else snprintf(url, sizeof url, "%s", tpl);
        char allow[64] = "";
        for (cJSON *op = p->child; op; op = op->next) {
            bool is_post = !strcmp(op->string, "post");
            CHECK(is_post || !strcmp(op->string, "get"), "%s: method %s", tpl, op->string);
            strcat(allow, is_post ? "POST" : "GET, HEAD");
            hc_resp a = is_post ? req("POST", url, "Content-Type: image/png\r\n", img, n) : get(url);
            char code[8];
            snprintf(code, sizeof code, "%d", a.status);
            CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(op, "responses"), code), "%s %s answered %d, documented?",
                  op->string, url, a.status);
            CHECK(a.status == 200, "%s %s: %d", op->string, url, a.status);
            hc_free(&a);
        }
        hc_resp w = req("PATCH", url, NULL, NULL, 0);
        char got[64] = "";
        CHECK(w.status == 405 && hc_header(&w, "Allow", got, sizeof got) && !strcmp(got, allow), "%s: PATCH %d, Allow %s vs %s",
              url, w.status, got, allow);
        hc_free(&w);
    }
    free(img);
    pthread_mutex_lock(&g_seen_mu);
    for (int i = 0; i < g_n_seen; i++) {
        char method[8], code[8];
        snprintf(method, sizeof method, "%s", g_seen[i].method);
        for (char *c = method; *c; c++) *c = (char)(*c - 'A' + 'a');
        snprintf(code, sizeof code, "%d", g_seen[i].status);
        cJSON *op = cJSON_GetObjectItem(cJSON_GetObjectItem(paths, g_seen[i].path), method);
        bool ok = op && cJSON_GetObjectItem(cJSON_GetObjectItem(op, "responses"), code);
        if (!ok) pthread_mutex_unlock(&g_seen_mu);
        CHECK(ok, "%s %s answered %d in this run: not in /openapi.json", g_seen[i].method, g_seen[i].path, g_seen[i].status);
    }
    printf("  %d (route, method, status) combinations seen, all documented\n", g_n_seen);
    pthread_mutex_unlock(&g_seen_mu);
    cJSON_Delete(doc);
}

/* ---- a second server: one worker, a queue of one ---------------------------------------- */

typedef struct { int port; int status; bool retry_after; char code[32]; } ovl_job;

static void *ovl_client(void *arg) {
    ovl_job *j = arg;
    size_t n;
    uint8_t *img = photo("hot_dog.jpg", &n);
    hc_resp r = req_on(j->port, "POST", "/v1/models/mobilenetv2-imagenet/cam", "Content-Type: image/jpeg\r\n", img, n);
    free(img);
    j->status = r.status;
    char v[32];
    j->retry_after = hc_header(&r, "Retry-After", v, sizeof v) != NULL;
    if (r.status == 503) {
        cJSON *d = json_of(&r);
        cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(d, "error"), "code");
        snprintf(j->code, sizeof j->code, "%s", cJSON_IsString(c) ? c->valuestring : "?");
        cJSON_Delete(d);
    }
    hc_free(&r);
    return NULL;
}

static void start_small_server(hc_server *s, const char *name, const char *queue, const char *drain, const char *max_pixels) {
    char models[1100], log[1100];
    snprintf(models, sizeof models, "%s/models", g_tmp);
    snprintf(log, sizeof log, "%s/%s.log", g_tmp, name);
    const char *args[] = {"--models", models, "--host", "127.0.0.1", "--port", "0", "--workers", "1", "--threads", "1",
                          "--queue", queue, "--drain-seconds", drain, "--log-format", "json", "--max-pixels", max_pixels, NULL};
    bool ok = hc_server_start(s, check_bin(), log, args, true, 60);
    char *text = hc_slurp(log, NULL);
    CHECK(ok, "%s server: %s", name, text ? text : "(no log)");
    free(text);
}

TEST(overload_503_then_healthy) {
    require_server();
    hc_server s;
    start_small_server(&s, "overload", "1", "10", "1000000");
    enum { N = 24 };
    ovl_job jobs[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (ovl_job){.port = s.port};
        pthread_create(&th[i], NULL, ovl_client, &jobs[i]);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    int ok = 0, over = 0, other = 0;
    for (int i = 0; i < N; i++) {
        if (jobs[i].status == 200) ok++;
        else if (jobs[i].status == 503 && jobs[i].retry_after && !strcmp(jobs[i].code, "OVERLOADED")) over++;
        else other++;
    }
    printf("  %d clients: %d answered, %d refused 503 OVERLOADED\n", N, ok, over);
    int rejected = metric_on(s.port, "camserve_rejected_overload_total");
    hc_resp r = req_on(s.port, "GET", "/readyz", NULL, NULL, 0);
    int ready = r.status;
    hc_free(&r);
    ovl_job after = {.port = s.port};
    ovl_client(&after);
    /* --max-pixels 1000000: the 1352x900 photo is refused from its header */
    size_t n;
    uint8_t *big = photo("kite_and_cold.jpg", &n);
    r = req_on(s.port, "POST", "/v1/cam", "Content-Type: image/jpeg\r\n", big, n);
    free(big);
    char msg[256] = "";
    int big_status = r.status;
    bool big_code = is_error(&r, "IMAGE_TOO_LARGE", msg, sizeof msg);
    hc_free(&r);
    int rc = hc_server_stop(&s, 30);
    CHECK(big_status == 413 && big_code && strstr(msg, "1352x900"), "--max-pixels: %d %s", big_status, msg);
    CHECK(other == 0, "%d answers neither 200 nor 503 OVERLOADED with Retry-After", other);
    CHECK(over > 0 && ok > 0, "some refused (%d), some answered (%d)", over, ok);
    CHECK(rejected == over, "camserve_rejected_overload_total %d = %d", rejected, over);
    CHECK(ready == 200 && after.status == 200, "healthy after: readyz %d, request %d", ready, after.status);
    CHECK(rc == 0, "exit code %d", rc);
}

/* One worker.  A long request occupies it; a second request is queued
 * behind it and its client hangs up; when the worker gets to it, it must
 * answer 499 without computing (camserve_cancelled_total + 1).
 * Each step waits for the server to reach the state the next one needs
 * (timing was flaky on a loaded machine: the abandoned upload could still
 * be in flight when the long request ended).  The hang-up happens only
 * while the long request is still unanswered; the one race left, between
 * that check and close(), is microseconds wide against the long request's
 * tens of ms, so an attempt that loses it is run again (at most 3). */
TEST(queued_request_of_a_gone_client_is_not_computed) {
    require_server();
    hc_server s;
    start_small_server(&s, "cancel", "8", "10", "40000000");
    size_t n_big, n_small;
    uint8_t *big = photo("kite_and_cold.jpg", &n_big), *small = photo("dragonfly.jpg", &n_small);
    int base = metric_on(s.port, "camserve_cancelled_total"), cancelled = base, attempts = 0;
    for (; attempts < 3 && cancelled == base; attempts++) {
        int busy = hc_connect(s.port);
        char *h = hc_request_head("POST", "/v1/cam?heatmap=true&cam_top_k=4", "Content-Type: image/jpeg\r\n", big,
                                  n_big, false);
        CHECK(busy >= 0 && hc_send(busy, h, strlen(h)) && hc_send(busy, big, n_big), "long request sent");
        free(h);
        CHECK(metric_wait(s.port, "camserve_workers_busy", 1, 10), "the worker took the long request");
        int gone = hc_connect(s.port);
        h = hc_request_head("POST", "/v1/cam", "Content-Type: image/jpeg\r\n", small, n_small, false);
        CHECK(gone >= 0 && hc_send(gone, h, strlen(h)) && hc_send(gone, small, n_small), "request to abandon sent");
        free(h);
        bool queued = metric_wait(s.port, "camserve_queue_depth", 1, 10);
        struct pollfd pf = {.fd = busy, .events = POLLIN};
        bool busy_running = poll(&pf, 1, 0) == 0;   /* no answer yet: the worker is still on it */
        close(gone);
        hc_resp r;
        CHECK(hc_read(busy, &r, false) && r.status == 200, "long request answered: %d", r.status);
        hc_free(&r);
        close(busy);
        if (!queued || !busy_running) {
            printf("  attempt %d: %s; again\n", attempts + 1,
                   !queued ? "the abandoned request never showed as queued" : "the long request ended first");
            metric_wait(s.port, "camserve_queue_depth", 0, 10);
            continue;
        }
        for (double t = hc_now(); hc_now() - t < 10 * hc_scale() && cancelled == base; usleep(5000))
            cancelled = metric_on(s.port, "camserve_cancelled_total");
        if (cancelled == base) printf("  attempt %d: computed anyway; again\n", attempts + 1);
    }
    free(big);
    free(small);
    int rc = hc_server_stop(&s, 30);
    CHECK(cancelled == base + 1, "camserve_cancelled_total %d -> %d in %d attempts", base, cancelled, attempts);
    CHECK(rc == 0, "exit %d", rc);
}

typedef struct { int fd; hc_resp r; bool ok; } drain_job;

static void *drain_reader(void *arg) {
    drain_job *j = arg;
    j->ok = hc_read(j->fd, &j->r, false);
    return NULL;
}

/* n connections, each posting a large photo (with a heatmap and three CAMs:
 * slow enough to be in flight together) and read by its own thread */
static void drain_jobs_start(drain_job *jobs, pthread_t *th, int n, int port) {
    size_t len;
    uint8_t *big = photo("kite_and_cold.jpg", &len);
    for (int i = 0; i < n; i++) {
        jobs[i].fd = hc_connect(port);
        char *h = hc_request_head("POST", "/v1/cam?heatmap=true&cam_top_k=3", "Content-Type: image/jpeg\r\n", big, len, false);
        CHECK(jobs[i].fd >= 0 && hc_send(jobs[i].fd, h, strlen(h)) && hc_send(jobs[i].fd, big, len), "send %d", i);
        free(h);
        pthread_create(&th[i], NULL, drain_reader, &jobs[i]);
    }
    free(big);
}

/* The exit code of a signalled server within secs, else -1 (and it is killed). */
static int wait_exit(hc_server *s, double secs) {
    int rc = -1, st;
    double t0 = hc_now();
    while (hc_now() - t0 < secs) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) { rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1; s->pid = 0; break; }
        usleep(10000);
    }
    if (s->pid) hc_server_stop(s, 1);
    return rc;
}

TEST(sigterm_drains_in_flight_requests_and_exits_0) {
    require_server();
    hc_server s;
    start_small_server(&s, "drain", "16", "60", "40000000");
    int keep = hc_connect(s.port);
    hc_resp r;
    CHECK(keep >= 0 && hc_roundtrip(keep, "GET", "/readyz", NULL, NULL, 0, &r) && r.status == 200, "ready");
    hc_free(&r);
    enum { N = 8 };
    drain_job jobs[N];
    pthread_t th[N];
    drain_jobs_start(jobs, th, N, s.port);
    /* all eight received (in flight: queued or running), then SIGTERM */
    double t0 = hc_now();
    int inflight = 0;
    while (hc_now() - t0 < 10 && inflight < N + 1) {
        CHECK(hc_roundtrip(keep, "GET", "/metrics", NULL, NULL, 0, &r), "metrics");
        inflight = metric(r.body, "camserve_requests_in_flight");
        hc_free(&r);
    }
    CHECK(inflight == N + 1, "%d in flight", inflight);
    kill(s.pid, SIGTERM);
    usleep(50000);
    /* readiness turns 503 while draining, on a connection opened before */
    CHECK(hc_roundtrip(keep, "GET", "/readyz", NULL, NULL, 0, &r), "readyz while draining");
    int ready_status = r.status;
    char code[64] = "";
    if (r.status == 503) is_error(&r, "DRAINING", code, sizeof code);
    bool draining_code = is_error(&r, "DRAINING", NULL, 0);
    hc_free(&r);
    close(keep);
    usleep(50000);
    int fresh = hc_connect(s.port);
    bool refused = fresh < 0;
    if (fresh >= 0) close(fresh);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ok += jobs[i].ok && jobs[i].r.status == 200;
        hc_free(&jobs[i].r);
        close(jobs[i].fd);
    }
    int rc = wait_exit(&s, 90);
    char *log = hc_slurp(s.log, NULL);
    CHECK(ready_status == 503 && draining_code, "readyz while draining: %d", ready_status);
    CHECK(refused, "new connections refused while draining");
    CHECK(ok == N, "%d of %d in-flight requests answered 200", ok, N);
    CHECK(rc == 0, "exit code %d: %s", rc, log);
    CHECK(strstr(log, "draining") && strstr(log, "stopped"), "drain logged: %s", log);
    CHECK(strstr(log, "\"msg\":\"access\""), "JSON access log: %.300s", log);
    free(log);
}

TEST(sigterm_past_drain_seconds_answers_queued_503) {
    require_server();
    hc_server s;
    start_small_server(&s, "deadline", "16", "0", "40000000");
    int keep = hc_connect(s.port);
    hc_resp r;
    enum { N = 6 };
    drain_job jobs[N];
    pthread_t th[N];
    drain_jobs_start(jobs, th, N, s.port);
    /* one running, the others queued (all uploaded), then SIGTERM */
    double t0 = hc_now();
    int queued = 0, busy = 0;
    while (keep >= 0 && hc_now() - t0 < 20 && !(queued == N - 1 && busy == 1)) {
        CHECK(hc_roundtrip(keep, "GET", "/metrics", NULL, NULL, 0, &r), "metrics");
        queued = metric(r.body, "camserve_queue_depth");
        busy = metric(r.body, "camserve_workers_busy");
        hc_free(&r);
    }
    if (keep >= 0) close(keep);
    kill(s.pid, SIGTERM);
    int ok = 0, draining = 0, other = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (jobs[i].ok && jobs[i].r.status == 200) ok++;
        else if (jobs[i].ok && jobs[i].r.status == 503 && is_error(&jobs[i].r, "DRAINING", NULL, 0)) draining++;
        else other++;
        hc_free(&jobs[i].r);
        close(jobs[i].fd);
    }
    int rc = wait_exit(&s, 30);
    printf("  --drain-seconds 0: %d finished, %d answered 503 DRAINING\n", ok, draining);
    CHECK(queued == N - 1 && busy == 1, "%d queued, %d running before SIGTERM", queued, busy);
    CHECK(other == 0 && ok == 1 && draining == N - 1, "the running one finishes, the queued ones 503 (%d other)", other);
    CHECK(rc == 0, "exit %d", rc);
}

TEST(main_server_exits_0_on_sigterm) {
    require_server();
    int rc = hc_server_stop(&g_srv, 30);
    g_up = false;
    char *log = hc_slurp(g_srv.log, NULL);
    CHECK(rc == 0, "exit %d: %s", rc, log ? log + (strlen(log) > 2000 ? strlen(log) - 2000 : 0) : "");
    free(log);
}

static void cleanup(void) {
    hc_server_kill(&g_srv);
    hc_remove_tmp(g_tmp);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    atexit(cleanup);
    RUN(serve_help_lists_flags_env_and_defaults);
    RUN(server_starts_and_reports_models);
    RUN(healthz_readyz_and_request_ids);
    RUN(model_list_and_metadata);
    RUN(cam_raw_jpeg_and_png);
    RUN(cam_multipart_json_and_chunked_give_the_same_answer);
    RUN(classify_is_scores_only);
    RUN(every_parameter);
    RUN(bad_parameters_are_400);
    RUN(bad_bodies_are_400);
    RUN(not_found_404);
    RUN(wrong_method_405_with_allow);
    RUN(too_large_413);
    RUN(unsupported_415);
    RUN(cam_not_applicable_422_and_gradcam);
    RUN(static_files_and_traversal);
    RUN(keep_alive_survives_errors);
    RUN(concurrent_clients_get_the_sequential_answers);
    RUN(client_disconnects_do_not_hurt);
    RUN(metrics_exposition);
    RUN(access_log_lines);
    RUN(no_model_loads_never_ready);
    RUN(openapi_document_matches_the_server);
    RUN(overload_503_then_healthy);
    RUN(queued_request_of_a_gone_client_is_not_computed);
    RUN(sigterm_drains_in_flight_requests_and_exits_0);
    RUN(sigterm_past_drain_seconds_answers_queued_503);
    RUN(main_server_exits_0_on_sigterm);
    return check_summary();
}
