/* test_auth.c: the optional access control (--api-key, --api-key-file,
 * --auth-metrics) and CORS (--cors-origin) of `camserve serve`, against live
 * servers started as child processes on ephemeral ports (tests/http_client.h).
 *
 *   A: --api-key (flag) and two --cors-origin flags
 *   B: --api-key-file and --auth-metrics, no CORS
 *   C: CAMSERVE_API_KEY and CAMSERVE_CORS_ORIGIN from the environment
 *
 * The model repository is a temporary folder holding a link to
 * mobilenetv2-imagenet from ../shared (skipped when absent). */
#include "check.h"
#include "http_client.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <sys/stat.h>

static char g_tmp[256];
static char g_models[600];
static hc_server g_a, g_b, g_c;
static bool g_ready;

#define KEY_A "k3y-A_0123456789abcdef"
#define KEY_B "file-key-0123456789"
#define KEY_C "env-key-0123456789"
#define BEARER(k) "Authorization: Bearer " k "\r\n"

static void require_servers(void) {
    if (!g_ready) SKIP("servers not started (see servers_start)");
}

static bool is_error(const hc_resp *r, const char *code) {
    cJSON *d = cJSON_Parse(r->body ? r->body : "");
    cJSON *e = cJSON_GetObjectItem(d, "error");
    cJSON *c = cJSON_GetObjectItem(e, "code"), *m = cJSON_GetObjectItem(e, "message");
    bool ok = cJSON_IsString(c) && cJSON_IsString(m) && !strcmp(c->valuestring, code) && m->valuestring[0];
    cJSON_Delete(d);
    return ok;
}

static bool has_header(const hc_resp *r, const char *name) {
    char v[256];
    return hc_header(r, name, v, sizeof v) != NULL;
}

static bool header_is(const hc_resp *r, const char *name, const char *want) {
    char v[256];
    return hc_header(r, name, v, sizeof v) && !strcmp(v, want);
}

#define CHECK_401(r)                                                                                               \
    do {                                                                                                           \
        CHECK((r).status == 401, "status %d, want 401: %.300s", (r).status, (r).body ? (r).body : "");             \
        CHECK(header_is(&(r), "WWW-Authenticate", "Bearer realm=\"camserve\""), "WWW-Authenticate: %s", (r).head); \
        CHECK(header_is(&(r), "Content-Type", "application/json"), "JSON: %s", (r).head);                        \
        CHECK(is_error(&(r), "UNAUTHORIZED"), "error document UNAUTHORIZED: %.300s", (r).body);                  \
        CHECK(has_header(&(r), "X-Request-Id"), "X-Request-Id");                                                  \
    } while (0)

static uint8_t *cat_png(size_t *n) {
    char path[1200];
    snprintf(path, sizeof path, "%s/images/cat.png", check_shared_dir());
    return (uint8_t *)hc_slurp(path, n);
}

static hc_resp post_cat(int port, const char *path, const char *extra_auth) {
    size_t n = 0;
    uint8_t *img = cat_png(&n);
    char extra[512];
    snprintf(extra, sizeof extra, "Content-Type: image/png\r\n%s", extra_auth ? extra_auth : "");
    hc_resp r = img ? hc_request(port, "POST", path, extra, img, n) : (hc_resp){0};
    free(img);
    return r;
}

static bool start(hc_server *s, const char *name, const char *const *extra) {
    char log[400];
    snprintf(log, sizeof log, "%s/%s.log", g_tmp, name);
    const char *args[40] = {"--models", g_models, "--host", "127.0.0.1", "--port", "0", "--workers", "1",
                            "--threads", "1", "--io-threads", "1"};
    int n = 12;
    for (int i = 0; extra[i] && n < 38; i++) args[n++] = extra[i];
    args[n] = NULL;
    return hc_server_start(s, check_bin(), log, args, true, 60);
}

static int run_status(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- start-up ------------------------------------------------------------------- */

TEST(help_and_bad_configurations) {
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "%s serve --help", check_bin());
    FILE *p = popen(cmd, "r");
    CHECK(p, "popen");
    static char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, p);
    text[n] = 0;
    pclose(p);
    static const char *const expect[] = {"--api-key KEY", "CAMSERVE_API_KEY]", "--api-key-file PATH",
                                         "CAMSERVE_API_KEY_FILE", "--auth-metrics", "CAMSERVE_AUTH_METRICS",
                                         "--cors-origin ORIGIN", "CAMSERVE_CORS_ORIGIN", "WWW-Authenticate",
                                         "Access-Control-Allow-Origin"};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) CHECK(strstr(text, expect[i]), "'%s' in --help", expect[i]);

    snprintf(g_tmp, sizeof g_tmp, "/tmp/camserve-auth-XXXXXX");
    CHECK(mkdtemp(g_tmp), "mkdtemp");
    char path[400];
    snprintf(path, sizeof path, "%s/empty.key", g_tmp);
    FILE *f = fopen(path, "w");
    CHECK(f, "write %s", path);
    fputs(" \n\t\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s serve --port 0 --api-key-file %s 2>/dev/null", check_bin(), path);
    CHECK(run_status(cmd) == 2, "empty key file: exit 2");
    snprintf(cmd, sizeof cmd, "%s serve --port 0 --api-key-file %s/missing.key 2>/dev/null", check_bin(), g_tmp);
    CHECK(run_status(cmd) == 2, "missing key file: exit 2");
    snprintf(cmd, sizeof cmd, "%s serve --port 0 --api-key a --api-key-file %s 2>/dev/null", check_bin(), path);
    CHECK(run_status(cmd) == 2, "--api-key and --api-key-file: exit 2");
}

TEST(servers_start) {
    if (!g_tmp[0]) SKIP("no temporary folder");
    char src[1200];
    snprintf(src, sizeof src, "%s/models/mobilenetv2-imagenet", check_shared_dir());
    char abs[PATH_MAX];
    if (!realpath(src, abs)) SKIP("%s not found", src);
    snprintf(g_models, sizeof g_models, "%s/models", g_tmp);
    CHECK(mkdir(g_models, 0755) == 0, "mkdir %s", g_models);
    char link[700];
    snprintf(link, sizeof link, "%s/mobilenetv2-imagenet", g_models);
    CHECK(symlink(abs, link) == 0, "symlink %s", link);

    const char *a[] = {"--api-key", KEY_A, "--cors-origin", "https://app.example", "--cors-origin",
                       "http://localhost:3000", NULL};
    char keyfile[400];
    snprintf(keyfile, sizeof keyfile, "%s/b.key", g_tmp);
    FILE *f = fopen(keyfile, "w");
    CHECK(f, "write %s", keyfile);
    fputs("  " KEY_B "\n", f);   /* surrounding whitespace is trimmed */
    fclose(f);
    const char *b[] = {"--api-key-file", keyfile, "--auth-metrics", NULL};
    const char *c[] = {NULL};
    bool ok = start(&g_a, "a", a);
    CHECK(ok, "server A did not become ready (log %s)", g_a.log);
    ok = start(&g_b, "b", b);
    CHECK(ok, "server B did not become ready (log %s)", g_b.log);
    setenv("CAMSERVE_API_KEY", KEY_C, 1);
    setenv("CAMSERVE_CORS_ORIGIN", "https://one.example, https://two.example", 1);
    ok = start(&g_c, "c", c);
    unsetenv("CAMSERVE_API_KEY");
    unsetenv("CAMSERVE_CORS_ORIGIN");
    CHECK(ok, "server C did not become ready (log %s)", g_c.log);
    g_ready = true;
    char *log = hc_slurp(g_a.log, NULL);
    CHECK(log && !strstr(log, KEY_A), "the key is never logged");
    free(log);
}

/* ---- access control --------------------------------------------------------------- */

TEST(no_key_is_401_with_www_authenticate) {
    require_servers();
    const char *paths[] = {"/v1/models", "/v1/models/mobilenetv2-imagenet", "/v1/nope"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        hc_resp r = hc_request(g_a.port, "GET", paths[i], NULL, NULL, 0);
        CHECK_401(r);
        hc_free(&r);
    }
    hc_resp r = post_cat(g_a.port, "/v1/cam", NULL);
    CHECK_401(r);
    hc_free(&r);
    r = post_cat(g_a.port, "/v1/models/mobilenetv2-imagenet/classify", NULL);
    CHECK_401(r);
    hc_free(&r);
}

TEST(wrong_keys_are_401) {
    require_servers();
    const char *bad[] = {BEARER("wrong"), BEARER("k3y-A_0123456789abcde"), BEARER(KEY_A "f"), BEARER(""),
                         "Authorization: Basic " KEY_A "\r\n", "Authorization: " KEY_A "\r\n",
                         BEARER(KEY_B) /* another server's key */};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hc_resp r = hc_request(g_a.port, "GET", "/v1/models", bad[i], NULL, 0);
        CHECK_401(r);
        hc_free(&r);
        r = post_cat(g_a.port, "/v1/cam", bad[i]);
        CHECK_401(r);
        hc_free(&r);
    }
}

TEST(right_key_is_200) {
    require_servers();
    hc_resp r = post_cat(g_a.port, "/v1/cam", BEARER(KEY_A));
    CHECK(r.status == 200, "POST /v1/cam with the key: %d %.300s", r.status, r.body ? r.body : "");
    CHECK(r.body && strstr(r.body, "\"predictions\""), "a CAM answer");
    hc_free(&r);
    /* the scheme is case-insensitive */
    r = hc_request(g_a.port, "GET", "/v1/models", "Authorization: bearer " KEY_A "\r\n", NULL, 0);
    CHECK(r.status == 200, "GET /v1/models: %d", r.status);
    hc_free(&r);
    r = hc_request(g_b.port, "GET", "/v1/models", BEARER(KEY_B), NULL, 0);
    CHECK(r.status == 200, "key from the file (trimmed): %d", r.status);
    hc_free(&r);
    r = post_cat(g_b.port, "/v1/models/mobilenetv2-imagenet/classify", BEARER(KEY_B));
    CHECK(r.status == 200, "classify with the file key: %d", r.status);
    hc_free(&r);
    r = hc_request(g_c.port, "GET", "/v1/models", BEARER(KEY_C), NULL, 0);
    CHECK(r.status == 200, "key from CAMSERVE_API_KEY: %d", r.status);
    hc_free(&r);
    r = hc_request(g_c.port, "GET", "/v1/models", BEARER(KEY_A), NULL, 0);
    CHECK_401(r);
    hc_free(&r);
}

TEST(health_metrics_openapi_and_static_stay_open) {
    require_servers();
    const char *open_a[] = {"/healthz", "/readyz", "/metrics", "/openapi.json"};
    for (size_t i = 0; i < sizeof open_a / sizeof open_a[0]; i++) {
        hc_resp r = hc_request(g_a.port, "GET", open_a[i], NULL, NULL, 0);
        CHECK(r.status == 200, "%s without a key: %d", open_a[i], r.status);
        hc_free(&r);
    }
    hc_resp r = hc_request(g_a.port, "GET", "/", NULL, NULL, 0);
    CHECK(r.status == 200 || r.status == 404, "/ is not behind the key: %d", r.status);
    hc_free(&r);
    /* --auth-metrics: /metrics needs the key, health does not */
    r = hc_request(g_b.port, "GET", "/metrics", NULL, NULL, 0);
    CHECK_401(r);
    hc_free(&r);
    r = hc_request(g_b.port, "GET", "/metrics", BEARER(KEY_B), NULL, 0);
    CHECK(r.status == 200 && r.body && strstr(r.body, "camserve_"), "/metrics with the key: %d", r.status);
    hc_free(&r);
    r = hc_request(g_b.port, "GET", "/healthz", NULL, NULL, 0);
    CHECK(r.status == 200, "/healthz with --auth-metrics: %d", r.status);
    hc_free(&r);
}

/* decided from the headers: a client waiting for 100 Continue is answered
 * without sending its body, and the connection stays usable after a 401 */
TEST(unauthorized_before_the_body) {
    require_servers();
    int fd = hc_connect(g_a.port);
    CHECK(fd >= 0, "connect");
    const char *h = "POST /v1/cam HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                    "Content-Length: 10000000\r\nExpect: 100-continue\r\n\r\n";
    CHECK(hc_send(fd, h, strlen(h)), "send");
    hc_resp r;
    double t0 = hc_now();
    bool got = hc_read(fd, &r, false);
    close(fd);
    CHECK(got, "an answer without the body");
    CHECK_401(r);
    CHECK(hc_now() - t0 < 2, "at once");
    hc_free(&r);

    /* keep-alive: a 401 with its (small) body read, then an authorized request */
    fd = hc_connect(g_a.port);
    CHECK(fd >= 0, "connect");
    size_t n = 0;
    uint8_t *img = cat_png(&n);
    CHECK(img, "cat.png");
    got = hc_roundtrip(fd, "POST", "/v1/cam", "Content-Type: image/png\r\n", img, n, &r);
    CHECK(got, "first answer");
    CHECK_401(r);
    hc_free(&r);
    got = hc_roundtrip(fd, "POST", "/v1/cam?cam_top_k=0", "Content-Type: image/png\r\n" BEARER(KEY_A), img, n, &r);
    free(img);
    close(fd);
    CHECK(got && r.status == 200, "then 200 on the same connection: %d", r.status);
    hc_free(&r);
}

/* ---- CORS ------------------------------------------------------------------------ */

TEST(cors_allowed_origin_headers) {
    require_servers();
    const char *origins[] = {"https://app.example", "http://localhost:3000"};
    for (size_t i = 0; i < 2; i++) {
        char extra[256], want[128];
        snprintf(extra, sizeof extra, "Origin: %s\r\n", origins[i]);
        hc_resp r = hc_request(g_a.port, "GET", "/healthz", extra, NULL, 0);
        CHECK(r.status == 200, "%d", r.status);
        snprintf(want, sizeof want, "%s", origins[i]);
        CHECK(header_is(&r, "Access-Control-Allow-Origin", want), "the origin itself: %s", r.head);
        CHECK(header_is(&r, "Vary", "Origin"), "Vary: Origin: %s", r.head);
        CHECK(header_is(&r, "Access-Control-Expose-Headers", "X-Request-Id, Server-Timing"), "%s", r.head);
        hc_free(&r);
    }
    /* on inference answers, and on the 401 (so that a page can read it) */
    hc_resp r = post_cat(g_a.port, "/v1/cam?cam_top_k=0", "Origin: https://app.example\r\n" BEARER(KEY_A));
    CHECK(r.status == 200 && header_is(&r, "Access-Control-Allow-Origin", "https://app.example"), "%d %s", r.status, r.head);
    hc_free(&r);
    r = hc_request(g_a.port, "GET", "/v1/models", "Origin: https://app.example\r\n", NULL, 0);
    CHECK_401(r);
    CHECK(header_is(&r, "Access-Control-Allow-Origin", "https://app.example"), "%s", r.head);
    hc_free(&r);
    /* comma-separated in the environment */
    r = hc_request(g_c.port, "GET", "/healthz", "Origin: https://two.example\r\n", NULL, 0);
    CHECK(header_is(&r, "Access-Control-Allow-Origin", "https://two.example"), "CAMSERVE_CORS_ORIGIN list: %s", r.head);
    hc_free(&r);
}

TEST(cors_preflight_204) {
    require_servers();
    hc_resp r = hc_request(g_a.port, "OPTIONS", "/v1/cam",
                           "Origin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n"
                           "Access-Control-Request-Headers: authorization, content-type\r\n", NULL, 0);
    CHECK(r.status == 204, "preflight without a key: %d %s", r.status, r.head ? r.head : "");
    char v[256];
    CHECK(hc_header(&r, "Access-Control-Allow-Methods", v, sizeof v) && strstr(v, "POST"), "%s", r.head);
    CHECK(hc_header(&r, "Access-Control-Allow-Headers", v, sizeof v) && strstr(v, "Authorization") &&
          strstr(v, "Content-Type") && strstr(v, "X-Request-Id"), "%s", r.head);
    CHECK(hc_header(&r, "Access-Control-Max-Age", v, sizeof v) && atoi(v) > 0, "%s", r.head);
    CHECK(header_is(&r, "Access-Control-Allow-Origin", "https://app.example"), "%s", r.head);
    hc_free(&r);
    r = hc_request(g_a.port, "OPTIONS", "/v1/models", "Origin: http://localhost:3000\r\n", NULL, 0);
    CHECK(r.status == 204 && hc_header(&r, "Access-Control-Allow-Methods", v, sizeof v) && strstr(v, "GET"), "%d %s",
          r.status, r.head ? r.head : "");
    hc_free(&r);
    /* keep-alive after a preflight */
    int fd = hc_connect(g_a.port);
    CHECK(fd >= 0, "connect");
    bool got = hc_roundtrip(fd, "OPTIONS", "/v1/cam", "Origin: https://app.example\r\n", NULL, 0, &r);
    CHECK(got && r.status == 204, "%d", r.status);
    hc_free(&r);
    got = hc_roundtrip(fd, "GET", "/v1/models", "Origin: https://app.example\r\n" BEARER(KEY_A), NULL, 0, &r);
    close(fd);
    CHECK(got && r.status == 200, "then GET on the same connection: %d", r.status);
    hc_free(&r);
}

TEST(cors_other_origin_is_refused) {
    require_servers();
    hc_resp r = hc_request(g_a.port, "OPTIONS", "/v1/cam",
                           "Origin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\n", NULL, 0);
    CHECK(r.status == 403 && is_error(&r, "CORS_ORIGIN_NOT_ALLOWED"), "preflight from another origin: %d %.200s",
          r.status, r.body ? r.body : "");
    CHECK(!has_header(&r, "Access-Control-Allow-Origin"), "no Allow-Origin: %s", r.head);
    hc_free(&r);
    /* an ordinary request from another origin is answered, without CORS headers (the browser hides it) */
    r = hc_request(g_a.port, "GET", "/healthz", "Origin: https://app.example.evil\r\n", NULL, 0);
    CHECK(r.status == 200 && !has_header(&r, "Access-Control-Allow-Origin"), "%d %s", r.status, r.head);
    CHECK(header_is(&r, "Vary", "Origin"), "Vary: Origin all the same: %s", r.head);
    hc_free(&r);
}

TEST(no_cors_without_the_flag) {
    require_servers();
    hc_resp r = hc_request(g_b.port, "GET", "/healthz", "Origin: https://app.example\r\n", NULL, 0);
    CHECK(r.status == 200, "%d", r.status);
    CHECK(!has_header(&r, "Access-Control-Allow-Origin") && !has_header(&r, "Vary") &&
          !has_header(&r, "Access-Control-Expose-Headers"), "no CORS headers: %s", r.head);
    hc_free(&r);
    r = hc_request(g_b.port, "OPTIONS", "/v1/cam", "Origin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n",
                   NULL, 0);
    char v[64];
    CHECK(r.status == 405 || r.status == 401, "OPTIONS as before (405, or 401 behind the key): %d", r.status);
    hc_free(&r);
    r = hc_request(g_b.port, "OPTIONS", "/v1/cam", BEARER(KEY_B), NULL, 0);
    CHECK(r.status == 405 && hc_header(&r, "Allow", v, sizeof v) && !strcmp(v, "POST"), "405 with Allow: %d %s", r.status,
          r.head ? r.head : "");
    hc_free(&r);
}

TEST(servers_stop_cleanly) {
    require_servers();
    CHECK(hc_server_stop(&g_a, 30) == 0, "A exits 0");
    CHECK(hc_server_stop(&g_b, 30) == 0, "B exits 0");
    CHECK(hc_server_stop(&g_c, 30) == 0, "C exits 0");
}

static void cleanup(void) {
    hc_server *all[] = {&g_a, &g_b, &g_c};
    for (int i = 0; i < 3; i++) hc_server_kill(all[i]);
    hc_remove_tmp(g_tmp);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    atexit(cleanup);
    RUN(help_and_bad_configurations);
    RUN(servers_start);
    RUN(no_key_is_401_with_www_authenticate);
    RUN(wrong_keys_are_401);
    RUN(right_key_is_200);
    RUN(health_metrics_openapi_and_static_stay_open);
    RUN(unauthorized_before_the_body);
    RUN(cors_allowed_origin_headers);
    RUN(cors_preflight_204);
    RUN(cors_other_origin_is_refused);
    RUN(no_cors_without_the_flag);
    RUN(servers_stop_cleanly);
    return check_summary();
}
