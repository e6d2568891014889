/* metrics.c: counters behind GET /metrics (Prometheus text format 0.0.4).
 *
 * One mutex guards everything: an update is a few additions, requests are
 * milliseconds apart at the very least, and a scrape sees one consistent
 * snapshot. */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const route_labels[ROUTE_COUNT] = {
    "/v1/models/{model}/cam", "/v1/cam", "/v1/models/{model}/classify", "/v1/models", "/v1/models/{model}",
    "/healthz", "/readyz", "/metrics", "/openapi.json", "/static", "other",
};

static const char *const stage_names[STAGE_COUNT] = {"decode", "preprocess", "queue", "forward", "cam", "encode"};

/* request duration buckets, seconds: a cached GET is ~0.1 ms, a CAM of a
 * big photo under load up to seconds */
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])
#define MAX_CODES 24

typedef struct route_stats {
    struct { int code; uint64_t n; } codes[MAX_CODES];
    int n_codes;
    uint64_t hist[N_BUCKETS];   /* per bucket; made cumulative when rendered */
    uint64_t count;
    double sum;
} route_stats;

static struct {
    pthread_mutex_t mu;
    route_stats route[ROUTE_COUNT];
    double stage_sum[STAGE_COUNT], stage_cpu[STAGE_COUNT];
    uint64_t inferences;
    uint64_t overload, cancelled;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

const char *cam_route_label(cam_route r) { return r >= 0 && r < ROUTE_COUNT ? route_labels[r] : "other"; }

void cam_metrics_init(void) {
    pthread_mutex_lock(&g.mu);
    memset(g.route, 0, sizeof g.route);
    memset(g.stage_sum, 0, sizeof g.stage_sum);
    memset(g.stage_cpu, 0, sizeof g.stage_cpu);
    g.inferences = g.overload = g.cancelled = 0;
    pthread_mutex_unlock(&g.mu);
}

void cam_metrics_request(cam_route route, int status, double seconds) {
    if (route < 0 || route >= ROUTE_COUNT) route = ROUTE_OTHER;
    pthread_mutex_lock(&g.mu);
    route_stats *r = &g.route[route];
    int i = 0;
    while (i < r->n_codes && r->codes[i].code != status) i++;
    if (i == r->n_codes && r->n_codes < MAX_CODES) r->codes[r->n_codes++].code = status;
    if (i < r->n_codes) r->codes[i].n++;
    size_t b = 0;
    while (b < N_BUCKETS && seconds > buckets[b]) b++;
    if (b < N_BUCKETS) r->hist[b]++;
    r->count++;
    r->sum += seconds;
    pthread_mutex_unlock(&g.mu);
}

void cam_metrics_stages(const double ms[STAGE_COUNT], const double cpu_ms[STAGE_COUNT]) {
    pthread_mutex_lock(&g.mu);
    for (int s = 0; s < STAGE_COUNT; s++) {
        g.stage_sum[s] += ms[s] / 1e3;
        g.stage_cpu[s] += cpu_ms[s] / 1e3;
    }
    g.inferences++;
    pthread_mutex_unlock(&g.mu);
}

void cam_metrics_overload(void) {
    pthread_mutex_lock(&g.mu);
    g.overload++;
    pthread_mutex_unlock(&g.mu);
}

void cam_metrics_cancelled(void) {
    pthread_mutex_lock(&g.mu);
    g.cancelled++;
    pthread_mutex_unlock(&g.mu);
}

typedef struct { char *p; size_t n, cap; bool oom; } sbuf;

static void sb_printf(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *s, const char *fmt, ...) {
    if (s->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(s->p + s->n, s->cap - s->n, fmt, ap);
        va_end(ap);
        if (n < 0) { s->oom = true; return; }
        if ((size_t)n < s->cap - s->n) { s->n += (size_t)n; return; }
        size_t cap = (s->cap + (size_t)n) * 2;
        char *q = realloc(s->p, cap);
        if (!q) { s->oom = true; return; }
        s->p = q;
        s->cap = cap;
    }
}

/* a label value in the exposition format: \ " and newline escaped */
static void label_value(char *out, size_t len, const char *v) {
    size_t o = 0;
    for (; *v && o + 3 < len; v++) {
        if (*v == '\\' || *v == '"') { out[o++] = '\\'; out[o++] = *v; }
        else if (*v == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else out[o++] = *v;
    }
    out[o] = 0;
}

char *cam_metrics_render(const cam_metrics_gauges *gg, size_t *len) {
    sbuf s = {.p = malloc(16384), .cap = 16384};
    if (!s.p) return NULL;
    s.p[0] = 0;
    char version[64], blas[64];
    label_value(version, sizeof version, gg->version ? gg->version : "");
    label_value(blas, sizeof blas, gg->blas_core ? gg->blas_core : "");
    pthread_mutex_lock(&g.mu);
    sb_printf(&s, "# HELP camserve_requests_total HTTP requests answered, by route template and status code (499: client went away).\n"
                  "# TYPE camserve_requests_total counter\n");
    for (int r = 0; r < ROUTE_COUNT; r++)
        for (int i = 0; i < g.route[r].n_codes; i++)
            sb_printf(&s, "camserve_requests_total{route=\"%s\",code=\"%d\"} %llu\n", route_labels[r],
                      g.route[r].codes[i].code, (unsigned long long)g.route[r].codes[i].n);
    sb_printf(&s, "# HELP camserve_request_duration_seconds Time from the request line to the last byte of the answer.\n"
                  "# TYPE camserve_request_duration_seconds histogram\n");
    for (int r = 0; r < ROUTE_COUNT; r++) {
        if (!g.route[r].count) continue;
        uint64_t cum = 0;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            cum += g.route[r].hist[b];
            sb_printf(&s, "camserve_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n", route_labels[r],
                      buckets[b], (unsigned long long)cum);
        }
        sb_printf(&s, "camserve_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", route_labels[r],
                  (unsigned long long)g.route[r].count);
        sb_printf(&s, "camserve_request_duration_seconds_sum{route=\"%s\"} %.6f\n", route_labels[r], g.route[r].sum);
        sb_printf(&s, "camserve_request_duration_seconds_count{route=\"%s\"} %llu\n", route_labels[r],
                  (unsigned long long)g.route[r].count);
    }
    sb_printf(&s, "# HELP camserve_stage_seconds_total Time spent in each stage of the inference pipeline, summed over requests.\n"
                  "# TYPE camserve_stage_seconds_total counter\n");
    for (int st = 0; st < STAGE_COUNT; st++)
        sb_printf(&s, "camserve_stage_seconds_total{stage=\"%s\"} %.6f\n", stage_names[st], g.stage_sum[st]);
    /* On a machine with no spare core the wall times above include waiting
     * for one (behind the other workers, the I/O threads, a load
     * generator); the CPU times do not, so the two together tell a slow
     * stage from a starved one. */
    sb_printf(&s, "# HELP camserve_stage_cpu_seconds_total CPU time of the worker thread in each stage, summed over requests "
                  "(a forward pass's pool threads, with --threads above 1, are not included).\n"
                  "# TYPE camserve_stage_cpu_seconds_total counter\n");
    for (int st = 0; st < STAGE_COUNT; st++)
        if (st != STAGE_QUEUE)
            sb_printf(&s, "camserve_stage_cpu_seconds_total{stage=\"%s\"} %.6f\n", stage_names[st], g.stage_cpu[st]);
    sb_printf(&s, "# HELP camserve_inferences_total Images run through the pipeline (the count behind the stage sums).\n"
                  "# TYPE camserve_inferences_total counter\ncamserve_inferences_total %llu\n",
              (unsigned long long)g.inferences);
    sb_printf(&s, "# HELP camserve_rejected_overload_total Requests answered 503 at once because the queue was full.\n"
                  "# TYPE camserve_rejected_overload_total counter\ncamserve_rejected_overload_total %llu\n",
              (unsigned long long)g.overload);
    sb_printf(&s, "# HELP camserve_cancelled_total Queued requests not computed because the client had gone.\n"
                  "# TYPE camserve_cancelled_total counter\ncamserve_cancelled_total %llu\n",
              (unsigned long long)g.cancelled);
    pthread_mutex_unlock(&g.mu);
    sb_printf(&s, "# HELP camserve_queue_depth Inference requests waiting for a worker.\n"
                  "# TYPE camserve_queue_depth gauge\ncamserve_queue_depth %d\n", gg->queue_depth);
    sb_printf(&s, "# HELP camserve_queue_capacity Bound of the inference queue (--queue).\n"
                  "# TYPE camserve_queue_capacity gauge\ncamserve_queue_capacity %d\n", gg->queue_capacity);
    sb_printf(&s, "# HELP camserve_workers_busy Inference workers running a request.\n"
                  "# TYPE camserve_workers_busy gauge\ncamserve_workers_busy %d\n", gg->workers_busy);
    sb_printf(&s, "# HELP camserve_workers Inference workers (--workers).\n"
                  "# TYPE camserve_workers gauge\ncamserve_workers %d\n", gg->workers);
    sb_printf(&s, "# HELP camserve_requests_in_flight Requests received and not yet answered.\n"
                  "# TYPE camserve_requests_in_flight gauge\ncamserve_requests_in_flight %d\n", gg->inflight);
    sb_printf(&s, "# HELP camserve_models_loaded Models of the repository that loaded.\n"
                  "# TYPE camserve_models_loaded gauge\ncamserve_models_loaded %d\n", gg->models_loaded);
    sb_printf(&s, "# HELP camserve_ready 1 when /readyz answers 200.\n"
                  "# TYPE camserve_ready gauge\ncamserve_ready %d\n", gg->ready);
    sb_printf(&s, "# HELP camserve_draining 1 after SIGTERM/SIGINT, while in-flight requests finish.\n"
                  "# TYPE camserve_draining gauge\ncamserve_draining %d\n", gg->draining);
    sb_printf(&s, "# HELP camserve_build_info Version and the BLAS kernel in use.\n"
                  "# TYPE camserve_build_info gauge\ncamserve_build_info{version=\"%s\",blas_core=\"%s\"} 1\n",
              version, blas);
    if (s.oom) { free(s.p); return NULL; }
    *len = s.n;
    return s.p;
}
