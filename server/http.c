/* http.c: the daemon, routing, responses, the hand-over of inference to the
 * workers (suspend/resume) and the drain on SIGTERM/SIGINT.  See http.h for
 * the threads and lifetimes, DESIGN §4 for the API. */
#include "http.h"
#include "workers.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct cam_server {
    cam_serve_config cfg;
    struct MHD_Daemon *daemon;
    cam_repo repo;
    cam_pool *pool;
    cam_session ***sessions;   /* [worker][model]: each worker owns one session per model */
    atomic_int repo_done;      /* the repository is loaded (or failed): metadata can be served */
    atomic_int loaded;         /* ... and the workers run: inference can be served */
    atomic_int ready;
    atomic_int draining;
    atomic_int inflight;       /* requests received and not completed */
    atomic_uint next_id;
    uint32_t id_prefix;
    size_t max_body;
    char static_root[PATH_MAX];
};

/* ---- responses --------------------------------------------------------------------- */

static char *error_json(const char *code, const char *message, size_t *len) {
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", message);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    *len = s ? strlen(s) : 0;
    return s;
}

typedef struct reply_opts {
    const char *allow;         /* 405: the methods the path takes */
    bool www_auth;             /* 401: WWW-Authenticate */
    bool retry_after;          /* 503 */
    bool close;                /* the body was not read: the connection cannot be reused */
    const char *timing;        /* Server-Timing; NULL: total so far (JSON only) */
    bool json;
} reply_opts;

/* ---- access control (--api-key) and CORS (--cors-origin) ------------------------------- */

/* The request's Origin when --cors-origin allows it ("*": any), else NULL. */
static const char *cors_allowed(const cam_req *r) {
    const char *list = r->srv->cfg.cors_origins;
    if (!list || !*list) return NULL;
    const char *o = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    if (!o || !*o) return NULL;
    size_t on = strlen(o);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        const char *a = p;
        size_t an = n;
        while (an && *a == ' ') { a++; an--; }
        while (an && a[an - 1] == ' ') an--;
        if ((an == 1 && *a == '*') || (an == on && !strncasecmp(a, o, on))) return o;
        p += n;
        if (*p == ',') p++;
    }
    return NULL;
}

/* Authorization: Bearer <--api-key>.  The comparison touches every byte of
 * the token whatever matches: its time depends on the token's length only,
 * never on how much of the key was guessed right. */
static bool authorized(const cam_req *r) {
    const char *key = r->srv->cfg.api_key;
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    while (*h == ' ') h++;
    size_t n = strlen(h), k = strlen(key);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t')) n--;
    volatile unsigned diff = n != k;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)h[i] ^ (unsigned char)key[i % k];
    return n > 0 && diff == 0;
}

/* /v1/... (and /metrics with --auth-metrics) when --api-key is set */
static bool needs_auth(const cam_req *r, const char *url) {
    const cam_serve_config *c = &r->srv->cfg;
    if (!c->api_key || !*c->api_key) return false;
    return !strncmp(url, "/v1/", 4) || !strcmp(url, "/v1") || (c->auth_metrics && r->route == ROUTE_METRICS);
}

static enum MHD_Result queue_reply(cam_req *r, int status, const char *content_type, struct MHD_Response *resp,
                                   size_t len, const reply_opts *o) {
    if (!resp) return MHD_NO;
    if (content_type) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    const char *cors = r->srv->cfg.cors_origins;
    if (cors && *cors) {
        const char *origin = cors_allowed(r);
        MHD_add_response_header(resp, "Vary", "Origin");
        if (origin) {
            MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
            MHD_add_response_header(resp, "Access-Control-Expose-Headers", "X-Request-Id, Server-Timing");
        }
    }
    if (o->www_auth) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"camserve\"");
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    if (o->json) {
        char total[64];
        const char *t = o->timing;
        if (!t) {
            snprintf(total, sizeof total, "total;dur=%.3f", cam_now_ms() - r->t_start);
            t = total;
        }
        MHD_add_response_header(resp, "Server-Timing", t);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    }
    if (o->allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, o->allow);
    if (o->retry_after) MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    /* while draining, clients should reconnect elsewhere */
    if (o->close || atomic_load(&r->srv->draining)) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result q = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (q == MHD_YES) {
        r->sent_status = status;
        r->sent_bytes = len;
    }
    return q;
}

/* body: malloc()ed, handed to libmicrohttpd (freed with the response) */
static enum MHD_Result reply_json(cam_req *r, int status, char *body, size_t len, const reply_opts *o) {
    if (!body) {
        static const char oom[] = "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"out of memory\"}}";
        reply_opts o2 = *o;
        o2.json = true;
        return queue_reply(r, 500, "application/json",
                           MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT),
                           sizeof oom - 1, &o2);
    }
    reply_opts o2 = *o;
    o2.json = true;
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) free(body);
    return queue_reply(r, status, "application/json", resp, len, &o2);
}

static enum MHD_Result reply_error(cam_req *r, int status, const char *code, const char *message, reply_opts o) {
    size_t len;
    char *body = error_json(code, message, &len);
    if (status == 503) o.retry_after = true;
    return reply_json(r, status, body, len, &o);
}

static enum MHD_Result reply_req_error(cam_req *r, bool close) {
    reply_opts o = {.close = close, .www_auth = r->err_status == 401};
    if (r->err_status == 405) o.allow = r->route == ROUTE_CAM || r->route == ROUTE_CAM_DEFAULT || r->route == ROUTE_CLASSIFY
                                            ? "POST" : "GET, HEAD";
    return reply_error(r, r->err_status, r->err_code, r->err_msg, o);
}

/* ---- routing ----------------------------------------------------------------------- */

static const char *route_model_name(const char *url, const char *suffix, char *out, size_t len) {
    /* "/v1/models/<name><suffix>" with a non-empty name without '/' */
    const char *p = url + strlen("/v1/models/");
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= len || strcmp(p + n, suffix) != 0) return NULL;
    memcpy(out, p, n);
    out[n] = 0;
    return out;
}

/* Sets r->route (and the model name for model routes); returns whether the
 * route takes POST (true) or GET/HEAD (false). */
static bool route(cam_req *r, const char *url, char *model, size_t mlen) {
    model[0] = 0;
    if (!strcmp(url, "/v1/cam")) { r->route = ROUTE_CAM_DEFAULT; return true; }
    if (!strncmp(url, "/v1/models/", 11)) {
        if (route_model_name(url, "/cam", model, mlen)) { r->route = ROUTE_CAM; return true; }
        if (route_model_name(url, "/classify", model, mlen)) { r->route = ROUTE_CLASSIFY; return true; }
        if (route_model_name(url, "", model, mlen)) { r->route = ROUTE_MODEL; return false; }
        r->route = ROUTE_OTHER;
        return false;
    }
    static const struct { const char *path; cam_route route; } exact[] = {
        {"/v1/models", ROUTE_MODELS}, {"/healthz", ROUTE_HEALTHZ}, {"/readyz", ROUTE_READYZ},
        {"/metrics", ROUTE_METRICS},  {"/openapi.json", ROUTE_OPENAPI}, {"/", ROUTE_STATIC},
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (!strcmp(url, exact[i].path)) { r->route = exact[i].route; return false; }
    if (!strncmp(url, "/static/", 8) || !strcmp(url, "/static")) { r->route = ROUTE_STATIC; return false; }
    r->route = ROUTE_OTHER;
    return false;
}

static bool is_inference(cam_route rt) { return rt == ROUTE_CAM || rt == ROUTE_CAM_DEFAULT || rt == ROUTE_CLASSIFY; }

/* ---- GET routes (answered on the I/O thread: all cheap) ---------------------------------- */

/* CORS preflight (OPTIONS) from an allowed Origin */
static enum MHD_Result reply_preflight(cam_req *r) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    const char *methods = is_inference(r->route) ? "POST, OPTIONS" : "GET, HEAD, OPTIONS";
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", methods);
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Content-Type, Authorization, X-Request-Id");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    return queue_reply(r, 204, NULL, resp, 0, &(reply_opts){.allow = methods});
}

static enum MHD_Result reply_static(cam_req *r, const char *url) {
    cam_server *s = r->srv;
    const char *rel = !strcmp(url, "/") ? "index.html" : url[7] == '/' ? url + 8 : "";
    int fd;
    uint64_t size;
    const char *type;
    int st = cam_static_open(s->static_root, rel, &fd, &size, &type);
    if (st == 400) return reply_error(r, 400, "BAD_PATH", "the path leaves the static folder", (reply_opts){0});
    if (st != 200) return reply_error(r, 404, "NOT_FOUND", "no such file", (reply_opts){0});
    struct MHD_Response *resp = MHD_create_response_from_fd(size, fd);
    if (!resp) { close(fd); return MHD_NO; }
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return queue_reply(r, 200, type, resp, (size_t)size, &(reply_opts){0});
}

static enum MHD_Result reply_get(cam_req *r, const char *url, const char *model) {
    cam_server *s = r->srv;
    bool loaded = atomic_load(&s->loaded);
    switch (r->route) {
    case ROUTE_HEALTHZ: {
        const char *b = atomic_load(&s->draining) ? "{\"status\":\"ok\",\"draining\":true}" : "{\"status\":\"ok\",\"draining\":false}";
        return reply_json(r, 200, strdup(b), strlen(b), &(reply_opts){0});
    }
    case ROUTE_READYZ: {
        if (atomic_load(&s->draining)) return reply_error(r, 503, "DRAINING", "shutting down", (reply_opts){0});
        if (!atomic_load(&s->ready))
            return reply_error(r, 503, "NOT_READY", atomic_load(&s->repo_done) ? s->repo.not_ready : "loading models",
                               (reply_opts){0});
        char b[96];
        snprintf(b, sizeof b, "{\"status\":\"ready\",\"models\":%d}", s->repo.n);
        return reply_json(r, 200, strdup(b), strlen(b), &(reply_opts){0});
    }
    case ROUTE_METRICS: {
        cam_metrics_gauges g = {
            .queue_depth = s->pool ? cam_pool_depth(s->pool) : 0,
            .queue_capacity = s->cfg.queue,
            .workers_busy = s->pool ? cam_pool_busy(s->pool) : 0,
            .workers = s->cfg.workers,
            .inflight = atomic_load(&s->inflight),
            .models_loaded = loaded ? s->repo.n : 0,
            .ready = atomic_load(&s->ready) && !atomic_load(&s->draining),
            .draining = atomic_load(&s->draining),
            .version = CAM_VERSION,
            .blas_core = cam_blas_corename(),
        };
        size_t len;
        char *text = cam_metrics_render(&g, &len);
        if (!text) return MHD_NO;
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (!resp) { free(text); return MHD_NO; }
        return queue_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", resp, len, &(reply_opts){0});
    }
    case ROUTE_OPENAPI: {
        size_t len;
        const char *doc = cam_openapi_json(&len);
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)doc, MHD_RESPMEM_PERSISTENT);
        return queue_reply(r, 200, "application/json", resp, len, &(reply_opts){.json = true});
    }
    case ROUTE_MODELS:
    case ROUTE_MODEL: {
        if (!atomic_load(&s->repo_done)) return reply_error(r, 503, "NOT_READY", "loading models", (reply_opts){0});
        const char *doc = s->repo.list_json;
        if (r->route == ROUTE_MODEL) {
            r->model = cam_repo_find(&s->repo, model);
            if (r->model < 0) {
                char msg[256];
                snprintf(msg, sizeof msg, "no model '%.100s' (GET /v1/models lists them)", model);
                return reply_error(r, 404, "MODEL_NOT_FOUND", msg, (reply_opts){0});
            }
            doc = s->repo.models[r->model].info_json;
        }
        if (!doc) return MHD_NO;
        size_t len = strlen(doc);
        struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)doc, MHD_RESPMEM_PERSISTENT);
        return queue_reply(r, 200, "application/json", resp, len, &(reply_opts){.json = true});
    }
    case ROUTE_STATIC:
        return reply_static(r, url);
    default:
        return reply_error(r, 404, "NOT_FOUND", "no such path (GET /openapi.json lists the API)", (reply_opts){0});
    }
}

/* ---- inference requests ------------------------------------------------------------- */

/* Checks that need the model: class index in range, CAM applicable. */
static bool check_model_params(cam_req *r) {
    const cam_repo_model *m = &r->srv->repo.models[r->model];
    cam_explain_params *p = &r->params;
    if (r->classify) {
        /* scores only, whatever CAM parameters came along */
        p->overlay = p->heatmap = false;
        p->cam_top_k = 0;
        p->class_index = -1;
    }
    if (p->class_index >= m->classes) {
        cam_req_fail(r, 400, "BAD_PARAMETER", "class %d out of range 0..%d for model %s", p->class_index, m->classes - 1,
                     m->md.name);
        return false;
    }
    if (m->head.kind == CAM_HEAD_NONE && (p->cam_top_k > 0 || p->class_index >= 0)) {
        cam_req_fail(r, 422, "CAM_NOT_APPLICABLE",
                     "class activation maps do not apply to model %s: %s (use /classify, or cam_top_k=0)", m->md.name,
                     m->head.reason ? m->head.reason : "no global average pooling");
        return false;
    }
    return true;
}

enum MHD_Result cam_req_query_param(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    cam_req *r = cls;
    /* "?heatmap" alone means true */
    if (!value) value = !strcmp(key, "heatmap") || !strcmp(key, "overlay") ? "true" : "";
    return cam_req_param(r, key, value) ? MHD_YES : MHD_NO;
}

/* Whether the key of query argument `upto` appeared before it. */
typedef struct { const char *key; size_t upto, at; bool dup; } query_dup;
static enum MHD_Result query_dup_scan(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    query_dup *d = cls;
    if (d->at++ >= d->upto) return MHD_NO;
    if (!strcmp(key, d->key)) { d->dup = true; return MHD_NO; }
    return MHD_YES;
}

typedef struct { cam_req *r; size_t i; } query_walk;

/* cam_req_query_param with the decoded lengths: "%00" decodes to a NUL, and
 * the C string would silently end there ("top_k%00junk=1" read as top_k=1).
 * A parameter given twice is refused, as in JSON and form bodies (which one
 * counts would be a parser's whim).  The scan for it is short: every earlier
 * argument was a distinct known parameter, or the walk would have stopped. */
static enum MHD_Result query_param_n(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                     const char *value, size_t value_size) {
    query_walk *w = cls;
    if (strlen(key) != key_size || (value && strlen(value) != value_size)) {
        cam_req_fail(w->r, 400, "BAD_PARAMETER", "query parameter '%.40s' holds a NUL byte (%%00)", key);
        return MHD_NO;
    }
    query_dup d = {.key = key, .upto = w->i++};
    MHD_get_connection_values(w->r->conn, MHD_GET_ARGUMENT_KIND, query_dup_scan, &d);
    if (d.dup) {
        cam_req_fail(w->r, 400, "BAD_PARAMETER", "parameter '%.40s' is given twice", key);
        return MHD_NO;
    }
    return cam_req_query_param(w->r, kind, key, value);
}

static void on_accept(void *job) {
    cam_req *r = job;
    r->suspended = true;
    MHD_suspend_connection(r->conn);
}

static enum MHD_Result submit(cam_req *r) {
    cam_server *s = r->srv;
    r->t_enqueued = cam_now_ms();
    switch (cam_pool_submit(s->pool, r, on_accept)) {
    case CAM_SUBMIT_OK:
        return MHD_YES;
    case CAM_SUBMIT_FULL:
        cam_metrics_overload();
        return reply_error(r, 503, "OVERLOADED", "all workers are busy and the queue is full; retry shortly", (reply_opts){0});
    default:
        return reply_error(r, 503, "DRAINING", "shutting down", (reply_opts){0});
    }
}

/* After a worker (or the drain) stored the answer and resumed the connection. */
static enum MHD_Result reply_from_worker(cam_req *r) {
    char *body = r->resp;
    r->resp = NULL;
    reply_opts o = {.timing = r->timing[0] ? r->timing : NULL, .retry_after = r->retry_after};
    return reply_json(r, r->status, body, r->resp_len, &o);
}

/* The peer closed its end while the request waited.  A suspended
 * connection is not polled by libmicrohttpd, so it cannot tell us. */
static bool client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return false;
    char b;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void finish_job(cam_req *r, int status, char *body, size_t len) {
    size_t tl = strlen(r->timing);
    if (!strstr(r->timing, "total;"))
        snprintf(r->timing + tl, sizeof r->timing - tl, "%stotal;dur=%.3f", tl ? ", " : "", cam_now_ms() - r->t_start);
    r->status = status;
    r->resp = body;
    r->resp_len = len;
    r->retry_after = status == 503;
    cam_body_free(r);   /* the upload is not needed any more: give the memory back now */
    atomic_store_explicit(&r->done, 1, memory_order_release);
    /* r belongs to the I/O thread again from here on: do not touch it after this */
    MHD_resume_connection(r->conn);
}

static void finish_job_error(cam_req *r, int status, const char *code, const char *msg) {
    size_t len;
    char *body = error_json(code, msg, &len);
    finish_job(r, status, body, len);
}

static void run_job(void *ctx, int worker, void *job) {
    cam_server *s = ctx;
    cam_req *r = job;
    double t0 = cam_now_ms(), queue_ms = t0 - r->t_enqueued;
    snprintf(r->timing, sizeof r->timing, "queue;dur=%.3f", queue_ms);
    if (client_gone(r->conn)) {
        cam_metrics_cancelled();
        finish_job_error(r, 499, "CLIENT_GONE", "the client closed the connection before the request ran");
        return;
    }
    if (r->body == BODY_JSON && (!cam_body_json(r) || !check_model_params(r))) {
        finish_job_error(r, r->err_status, r->err_code, r->err_msg);
        return;
    }
    const cam_repo_model *m = &s->repo.models[r->model];
    cam_explain_result res;
    char err[512] = "";
    cam_status st = cam_explain(&m->md, s->sessions[worker][r->model], r->buf, r->len, &r->params, &res, err, sizeof err);
    if (st != CAM_OK) {
        static const struct { cam_status st; int http; const char *code; } map[] = {
            {CAM_EFORMAT, 400, "BAD_IMAGE"},  {CAM_EUNSUPPORTED, 415, "UNSUPPORTED_IMAGE_FORMAT"},
            {CAM_ELIMIT, 413, "IMAGE_TOO_LARGE"}, {CAM_EINVAL, 400, "BAD_PARAMETER"},
        };
        int http = 500;
        const char *code = "INTERNAL";
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (map[i].st == st) { http = map[i].http; code = map[i].code; }
        if (http == 500) cam_log("error", "request %s: %s: %s", r->id, cam_status_str(st), err);
        finish_job_error(r, http, code, err[0] ? err : cam_status_str(st));
        return;
    }
    char *json = cam_explain_json(&m->md, &r->params, &res, queue_ms);
    double stages[STAGE_COUNT] = {res.ms_decode, res.ms_preprocess, queue_ms, res.ms_forward, res.ms_cam, res.ms_encode};
    double cpu[STAGE_COUNT] = {res.cpu_decode, res.cpu_preprocess, 0, res.cpu_forward, res.cpu_cam, res.cpu_encode};
    cam_metrics_stages(stages, cpu);
    snprintf(r->timing, sizeof r->timing,
             "decode;dur=%.3f, preprocess;dur=%.3f, queue;dur=%.3f, forward;dur=%.3f, cam;dur=%.3f, encode;dur=%.3f, "
             "total;dur=%.3f",
             res.ms_decode, res.ms_preprocess, queue_ms, res.ms_forward, res.ms_cam, res.ms_encode,
             cam_now_ms() - r->t_start);
    cam_explain_result_free(&res);
    if (!json) { finish_job_error(r, 500, "INTERNAL", "out of memory"); return; }
    finish_job(r, 200, json, strlen(json));
}

static void cancel_job(void *job) {
    finish_job_error(job, 503, "DRAINING", "shutting down before this request could run");
}

/* ---- the access handler ---------------------------------------------------------------- */

static bool sane_request_id(const char *v) {
    size_t n = v ? strlen(v) : 0;
    if (n == 0 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-_.:", c)))
            return false;
    }
    return true;
}

static enum MHD_Result count_content_length(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) ++*(int *)cls;
    return MHD_YES;
}

/* First call: the headers are in.  Decide what can be decided before the body. */
static enum MHD_Result begin(cam_server *s, cam_req *r, const char *url, const char *method, const char *version) {
    struct MHD_Connection *c = r->conn;
    snprintf(r->method, sizeof r->method, "%s", method);
    const char *rid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (sane_request_id(rid)) snprintf(r->id, sizeof r->id, "%s", rid);
    else snprintf(r->id, sizeof r->id, "%08x%08x", s->id_prefix, atomic_fetch_add(&s->next_id, 1) + 1);
    r->limit = s->max_body;
    cam_explain_params_init(&r->params);
    r->params.decode.max_pixels = s->cfg.max_pixels;

    char model[160];
    bool post = route(r, url, model, sizeof model);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    bool has_body = (cl && strtoull(cl, NULL, 10) > 0) || (te && strcasestr(te, "chunked"));
    if (te && strcasecmp(te, "chunked") != 0) {
        /* libmicrohttpd 0.9.75 takes any other Transfer-Encoding as "the body
         * runs to the close" and would wait for it; refused at once, and the
         * connection closed (RFC 9112 §6.3) */
        cam_req_fail(r, 400, "BAD_REQUEST", "Transfer-Encoding '%.40s' is not supported (only chunked)", te);
        return reply_req_error(r, true);
    }
    if (version && !strcmp(version, MHD_HTTP_VERSION_1_1) && !MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host")) {
        /* RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request
         * without Host (libmicrohttpd 0.9.75 lets it through unless in its
         * strict mode, which would answer with its own HTML page) */
        cam_req_fail(r, 400, "BAD_REQUEST", "an HTTP/1.1 request needs a Host header");
        return reply_req_error(r, true);
    }
    int n_cl = 0;
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_content_length, &n_cl);
    if (n_cl > 1 || (n_cl && te)) {
        /* libmicrohttpd goes by the first Content-Length (or by chunked); a
         * proxy in front may go by another: refused, and the connection
         * closed, so that no second request can hide in the body */
        cam_req_fail(r, 400, "BAD_REQUEST", "ambiguous body length: %s",
                     te ? "both Content-Length and Transfer-Encoding" : "more than one Content-Length");
        return reply_req_error(r, true);
    }

    const char *cors = s->cfg.cors_origins;
    bool preflight = cors && *cors && !strcmp(method, "OPTIONS") &&
                     MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin") && r->route != ROUTE_OTHER;
    if (preflight) {
        /* before the key check: browsers send no Authorization on a preflight */
        if (cors_allowed(r)) r->preflight = true;
        else cam_req_fail(r, 403, "CORS_ORIGIN_NOT_ALLOWED", "this Origin is not allowed (--cors-origin)");
    } else if (needs_auth(r, url) && !authorized(r))
        cam_req_fail(r, 401, "UNAUTHORIZED", "this path needs the header Authorization: Bearer <api key> (--api-key)");
    else if (r->route == ROUTE_OTHER)
        cam_req_fail(r, 404, "NOT_FOUND", "no such path (GET /openapi.json lists the API)");
    else if (post ? strcmp(method, "POST") != 0 : strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        cam_req_fail(r, 405, "METHOD_NOT_ALLOWED", "%s takes %s", cam_route_label(r->route), post ? "POST" : "GET");
    else if (post) {
        r->classify = r->route == ROUTE_CLASSIFY;
        if (atomic_load(&s->draining) && !r->before_drain)
            cam_req_fail(r, 503, "DRAINING", "shutting down");
        else if (!atomic_load(&s->loaded))
            cam_req_fail(r, 503, "NOT_READY", "%s", atomic_load(&s->repo_done) ? s->repo.not_ready : "loading models");
        else if (r->route == ROUTE_CAM_DEFAULT && (r->model = s->repo.default_index) < 0)
            cam_req_fail(r, 404, "MODEL_NOT_FOUND", "no default model is loaded (%s)", s->repo.not_ready);
        else if (r->route != ROUTE_CAM_DEFAULT && (r->model = cam_repo_find(&s->repo, model)) < 0)
            cam_req_fail(r, 404, "MODEL_NOT_FOUND", "no model '%.100s' (GET /v1/models lists them)", model);
        else if (cl && strtoull(cl, NULL, 10) > s->max_body) {
            /* refused before reading it */
            cam_req_fail(r, 413, "PAYLOAD_TOO_LARGE", "request body of %s bytes is larger than %zu MB (--max-body-mb)", cl,
                         s->max_body >> 20);
            return reply_req_error(r, true);
        } else if (!has_body)
            cam_req_fail(r, 400, "BAD_REQUEST", "no image: send it as the body (image/jpeg or image/png), as "
                         "multipart/form-data field 'image', or as JSON {\"image\": \"<base64>\"}");
        else if ((r->body = cam_body_kind_of(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                                         MHD_HTTP_HEADER_CONTENT_TYPE))) == BODY_NONE)
            cam_req_fail(r, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be image/jpeg, image/png, "
                         "multipart/form-data (field 'image') or application/json");
        else if (MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, query_param_n, &(query_walk){.r = r}) >= 0 &&
                 !r->err_status &&
                 check_model_params(r)) {
            if (cam_pool_depth(s->pool) >= cam_pool_capacity(s->pool)) {
                /* already full: refuse now rather than buffer a body that has no place to go */
                cam_metrics_overload();
                cam_req_fail(r, 503, "OVERLOADED", "all workers are busy and the queue is full; retry shortly");
            } else
                cam_body_begin(r, cl);
        }
    }
    /* Answers go out on the next call, once the body (if any) is read:
     * libmicrohttpd closes the connection after a response queued this
     * early.  A body that will not be used is read and dropped, so that the
     * client sees the answer rather than a reset connection; only a client
     * waiting for 100 Continue is answered now (it has not sent the body). */
    if (r->err_status && has_body && expect && !strcasecmp(expect, "100-continue")) return reply_req_error(r, true);
    if (r->err_status || !post || r->preflight) r->discard = true;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
    cam_server *s = cls;
    cam_req *r = *con_cls;
    if (!r) return MHD_NO;   /* out of memory in on_uri */
    if (!r->started) {
        r->started = true;
        return begin(s, r, url, method, version);
    }
    if (*upload_size) {
        bool keep = cam_body_feed(r, upload_data, *upload_size);
        *upload_size = 0;
        return keep ? MHD_YES : MHD_NO;
    }
    if (atomic_load_explicit(&r->done, memory_order_acquire)) return reply_from_worker(r);
    if (r->suspended) return MHD_YES;
    if (r->err_status) return reply_req_error(r, false);
    if (r->preflight) return reply_preflight(r);
    if (!is_inference(r->route)) {
        char model[160];
        route(r, url, model, sizeof model);
        return reply_get(r, url, model);
    }
    if (!cam_body_finish(r) || (r->body != BODY_JSON && !check_model_params(r))) return reply_req_error(r, false);
    return submit(r);
}

/* A request line arrived: the request's context starts here (and its clock). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
    cam_server *s = cls;
    cam_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->srv = s;
    r->conn = c;
    r->t_start = cam_now_ms();
    r->model = -1;
    r->route = ROUTE_OTHER;
    snprintf(r->uri, sizeof r->uri, "%s", uri ? uri : "");
    r->before_drain = !atomic_load(&s->draining);
    r->counted = true;
    atomic_fetch_add(&s->inflight, 1);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    cam_server *s = cls;
    cam_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    double ms = cam_now_ms() - r->t_start;
    /* 499: no answer reached the client (it went away, timed out, or the server stopped) */
    int status = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && r->sent_status ? r->sent_status : 499;
    cam_metrics_request(r->route, status, ms / 1e3);
    cam_log_access(r->method[0] ? r->method : "-", r->uri, status, r->sent_bytes, ms, r->id[0] ? r->id : "-",
                   r->model >= 0 && r->model < s->repo.n ? s->repo.models[r->model].md.name : NULL);
    cam_body_free(r);
    free(r->resp);
    if (r->counted) atomic_fetch_sub(&s->inflight, 1);
    free(r);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
    cam_log("warn", "libmicrohttpd: %s", msg);
}

/* ---- start, serve, drain ----------------------------------------------------------------- */

static bool create_sessions(cam_server *s) {
    int W = s->cfg.workers, M = s->repo.n;
    s->sessions = calloc((size_t)W, sizeof *s->sessions);
    if (!s->sessions) return false;
    for (int w = 0; w < W; w++) {
        s->sessions[w] = calloc((size_t)(M ? M : 1), sizeof **s->sessions);
        if (!s->sessions[w]) return false;
        for (int m = 0; m < M; m++) {
            char err[512];
            if (cam_session_create(s->repo.models[m].model, s->cfg.threads, &s->sessions[w][m], err, sizeof err) != CAM_OK) {
                cam_log("error", "model %s: cannot create a session: %s", s->repo.models[m].md.name, err);
                return false;
            }
            /* one pass on zeros: the arena's pages and the kernels' first-use
             * costs are paid here, not by the first clients */
            cam_tensor_info ii;
            cam_model_input_info(s->repo.models[m].model, 0, &ii);
            memset(cam_session_input(s->sessions[w][m], 0), 0, ii.numel * cam_dtype_size(ii.dtype));
            cam_session_run(s->sessions[w][m]);
        }
    }
    return true;
}

static void free_sessions(cam_server *s) {
    if (!s->sessions) return;
    for (int w = 0; w < s->cfg.workers; w++) {
        if (!s->sessions[w]) continue;
        for (int m = 0; m < s->repo.n; m++) cam_session_free(s->sessions[w][m]);
        free(s->sessions[w]);
    }
    free(s->sessions);
    s->sessions = NULL;
}

static struct MHD_Daemon *start_daemon(cam_server *s, int *port) {
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", s->cfg.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(s->cfg.host, portstr, &hints, &ai);
    if (rc != 0) {
        cam_log("error", "--host %s: %s", s->cfg.host, gai_strerror(rc));
        return NULL;
    }
    /* poll() by default: libmicrohttpd 0.9.75's epoll loop misses the FIN of
     * a client that hangs up in the middle of an upload when it arrives with
     * the last data (measured: 17 of 40 such connections still open after 2 s,
     * even 4 of 40 with MHD_USE_TURBO; 0 with poll).  Those requests would
     * hold their body buffers and count as in flight, delaying a drain, until
     * --timeout.  Each I/O thread polls only its own share of connections. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | (s->cfg.epoll ? MHD_USE_EPOLL : MHD_USE_POLL) |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_DUAL_STACK;   /* "::" takes IPv4 too */
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,   /* first, or early messages bypass it */
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->cfg.io_threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.timeout,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections,
        /* bounds what a client can make us hold per connection before the body (headers) */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(s->cfg.max_header_kb > 0 ? s->cfg.max_header_kb : 32) << 10,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)(s->cfg.max_per_ip > 0 ? s->cfg.max_per_ip : 0),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) {
        cam_log("error", "cannot listen on %s:%d (%s)", s->cfg.host, s->cfg.port, errno ? strerror(errno) : "libmicrohttpd refused");
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port = di ? di->port : s->cfg.port;
    return d;
}

/* Waits for SIGTERM/SIGINT (blocked in every thread, so they queue here) up
 * to timeout_ms (< 0: forever); returns the signal or 0. */
static int wait_signal(const sigset_t *set, double timeout_ms) {
    if (timeout_ms < 0) {
        int sig = 0;
        return sigwait(set, &sig) == 0 ? sig : 0;
    }
    struct timespec ts = {.tv_sec = (time_t)(timeout_ms / 1e3), .tv_nsec = (long)(fmod(timeout_ms, 1e3) * 1e6)};
    int sig = sigtimedwait(set, NULL, &ts);
    return sig > 0 ? sig : 0;
}

int cam_serve(const cam_serve_config *cfg) {
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    /* before any thread exists: libmicrohttpd's and the workers inherit the mask */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    cam_log_init(cfg->log_json);
    cam_metrics_init();

    cam_server *s = calloc(1, sizeof *s);
    if (!s) return 1;
    s->cfg = *cfg;
    s->max_body = (size_t)cfg->max_body_mb << 20;
    if (getrandom(&s->id_prefix, sizeof s->id_prefix, 0) != sizeof s->id_prefix) s->id_prefix = (uint32_t)time(NULL);

    char err[512] = "";
    if (cam_runtime_init(err, sizeof err) != CAM_OK) cam_log("warn", "BLAS: %s", err);
    cam_log("info", "camserve %s: BLAS kernel %s (%s); %d workers x %d threads, queue %d, %d I/O threads (%s), max body "
            "%d MB, max %llu pixels", CAM_VERSION, cam_blas_corename(), cam_blas_library()[0] ? cam_blas_library() : "-",
            cfg->workers, cfg->threads, cfg->queue, cfg->io_threads, cfg->epoll ? "epoll" : "poll", cfg->max_body_mb,
            (unsigned long long)cfg->max_pixels);
    if (cfg->static_dir && *cfg->static_dir) {
        if (realpath(cfg->static_dir, s->static_root)) cam_log("info", "static files from %s", s->static_root);
        else {
            cam_log("warn", "static folder %s: %s; / and /static/ answer 404", cfg->static_dir, strerror(errno));
            s->static_root[0] = 0;
        }
    }

    int port = 0;
    s->daemon = start_daemon(s, &port);
    if (!s->daemon) { free(s); return 1; }
    cam_log("info", strchr(cfg->host, ':') ? "listening on http://[%s]:%d" : "listening on http://%s:%d", cfg->host, port);

    cam_repo_load(&s->repo, cfg->models_dir, cfg->default_model);
    bool ok = s->repo.n > 0 && create_sessions(s);
    if (ok && !(s->pool = cam_pool_create(cfg->workers, cfg->queue, run_job, s))) {
        cam_log("error", "cannot start %d workers", cfg->workers);
        ok = false;
    }
    if (!ok && s->repo.n) {
        free_sessions(s);
        snprintf(s->repo.not_ready, sizeof s->repo.not_ready, "the inference workers could not start");
    }
    /* published only now: the I/O threads read the repository from here on */
    atomic_store(&s->repo_done, 1);
    atomic_store(&s->loaded, ok);
    if (ok && !s->repo.not_ready[0]) {
        atomic_store(&s->ready, 1);
        cam_log("info", "ready: %d model%s (default %s), %d failed", s->repo.n, s->repo.n == 1 ? "" : "s",
                s->repo.models[s->repo.default_index].md.name, s->repo.n_failed);
    } else {
        cam_log("error", "not ready: %s", s->repo.not_ready[0] ? s->repo.not_ready : "no model loaded");
    }

    int sig = wait_signal(&sigs, -1);
    atomic_store(&s->draining, 1);
    double t0 = cam_now_ms(), deadline = t0 + cfg->drain_seconds * 1e3;
    cam_log("info", "%s: draining (%d requests in flight, up to %d s)", sig == SIGINT ? "SIGINT" : "SIGTERM",
            atomic_load(&s->inflight), cfg->drain_seconds);
    /* stop accepting: new connections are refused, open ones finish their requests */
    MHD_socket lfd = MHD_quiesce_daemon(s->daemon);
    if (lfd != MHD_INVALID_SOCKET) close(lfd);
    while (atomic_load(&s->inflight) > 0 && cam_now_ms() < deadline) {
        if (wait_signal(&sigs, 20)) {
            cam_log("warn", "second signal: stopping without waiting");
            break;
        }
    }
    if (s->pool) {
        cam_pool_close(s->pool);
        int n = cam_pool_cancel_queued(s->pool, cancel_job);
        if (n) cam_log("warn", "drain: %d queued requests answered 503", n);
        /* what runs now finishes within its compute time */
        cam_pool_wait_idle(s->pool, cam_now_ms() + 60e3);
        /* the answers just resumed still have to go out */
        double grace = cam_now_ms() + 1000;
        while (atomic_load(&s->inflight) > 0 && cam_now_ms() < grace) wait_signal(&sigs, 10);
    }
    int left = atomic_load(&s->inflight);
    if (left) cam_log("warn", "drain: %d requests still open are cut", left);
    /* every suspended connection has been resumed by now (done or cancelled) */
    cam_pool_destroy(s->pool);
    MHD_stop_daemon(s->daemon);
    free_sessions(s);
    cam_repo_free(&s->repo);
    cam_log("info", "stopped after %.1f s of draining", (cam_now_ms() - t0) / 1e3);
    free(s);
    return 0;
}
