/* stress-client.c: the load generator of tools/stress-overload.sh and
 * tools/stress-soak.sh.  N keep-alive connections, each a thread, send the
 * requests of a spec file round-robin (each connection from its own offset)
 * for a duration or until a total count, and check every answer against the
 * statuses its spec allows.  Latencies are taken at the client, per request.
 *
 *   stress-client --port P --spec FILE [--connections N] [--duration S | --requests N]
 *                 [--expect-continue] [--honor-retry-after]
 * --expect-continue: requests with a body send "Expect: 100-continue" and the
 *   body only once the server asks for it (curl does this for large bodies);
 * --honor-retry-after: after a 503 the connection waits Retry-After seconds.
 *
 * Spec file: one request per line, TAB-separated:
 *   METHOD  PATH  CONTENT-TYPE|-  BODY-FILE|-  ALLOWED-STATUSES (comma-separated)
 * ('#' lines are comments.)  Last line of output, for scripts:
 *   RESULT requests=.. seconds=.. rps=.. unexpected=.. errors=.. no_retry_after=.. s200=.. s503=.. ...
 *          p50_200=.. p90_200=.. p99_200=.. max_200=.. (ms, answers with status 200 only)
 * Exit status 0 whatever the answers were (the scripts judge), 2 on bad usage. */
#include "../tests/http_client.h"

#include <pthread.h>
#include <stdatomic.h>
#include "../tests/timing.h"

typedef struct spec {
    char method[8], path[512], extra[256];
    char *body;
    size_t len;
    int allowed[8], n_allowed;
} spec;

static spec *g_specs;
static int g_n_specs;
static int g_port;
static double g_deadline;
static long g_limit;             /* --requests: 0 = by duration */
static atomic_long g_issued;
static atomic_int g_first_unexpected_logged;
static bool g_expect;            /* --expect-continue: bodies wait for 100 Continue */
static bool g_polite;            /* --honor-retry-after: a connection sleeps Retry-After after a 503 */

typedef struct worker {
    int index;
    long count[600];
    long errors, unexpected, no_retry;
    double *lat;                 /* ms, status 200 */
    size_t n_lat, cap_lat;
} worker;

static void add_lat(worker *w, double ms) {
    if (w->n_lat == w->cap_lat) {
        w->cap_lat = w->cap_lat ? 2 * w->cap_lat : 4096;
        w->lat = realloc(w->lat, w->cap_lat * sizeof *w->lat);
    }
    w->lat[w->n_lat++] = ms;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    int fd = -1;
    for (long k = w->index;; k++) {
        if (g_limit ? atomic_fetch_add(&g_issued, 1) >= g_limit : hc_now() >= g_deadline) break;
        const spec *s = &g_specs[k % g_n_specs];
        if (fd < 0 && (fd = hc_connect(g_port)) < 0) {
            w->errors++;
            usleep(10000);
            continue;
        }
        hc_resp r;
        double t0 = hc_now();
        bool ok;
        if (g_expect && s->body) {
            /* headers first; the body only after 100 Continue (a final answer instead: no body sent) */
            char extra[300];
            snprintf(extra, sizeof extra, "%sExpect: 100-continue\r\n", s->extra);
            char *h = hc_request_head(s->method, s->path, extra, s->body, s->len, true);
            ok = hc_send(fd, h, strlen(h)) && hc_read(fd, &r, false);
            free(h);
            if (ok && r.status == 100) {
                hc_free(&r);
                ok = hc_send(fd, s->body, s->len) && hc_read(fd, &r, false);
            }
        } else
            ok = hc_roundtrip(fd, s->method, s->path, s->extra[0] ? s->extra : NULL, s->body, s->len, &r);
        double ms = (hc_now() - t0) * 1e3;
        if (!ok || r.status <= 0 || r.status >= 600) {
            w->errors++;
            hc_free(&r);
            close(fd);
            fd = -1;
            continue;
        }
        w->count[r.status]++;
        bool allowed = false;
        for (int i = 0; i < s->n_allowed; i++) allowed = allowed || s->allowed[i] == r.status;
        if (!allowed) {
            w->unexpected++;
            if (atomic_fetch_add(&g_first_unexpected_logged, 1) < 5)
                fprintf(stderr, "stress-client: %s %s: status %d: %.200s\n", s->method, s->path, r.status,
                        r.body ? r.body : "");
        }
        char v[64];
        if (r.status == 503 && !hc_header(&r, "Retry-After", v, sizeof v)) w->no_retry++;
        if (r.status == 200) add_lat(w, ms);
        bool close_it = hc_header(&r, "Connection", v, sizeof v) && !strcasecmp(v, "close");
        double wait_s = g_polite && r.status == 503 && hc_header(&r, "Retry-After", v, sizeof v) ? atof(v) : 0;
        hc_free(&r);
        if (wait_s > 0) usleep((useconds_t)(wait_s * 1e6));
        if (close_it) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0) close(fd);
    return NULL;
}

static bool load_specs(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); return false; }
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        char *fields[5];
        int n = 0;
        for (char *p = line; n < 5;) {
            fields[n++] = p;
            char *tab = strchr(p, '\t');
            if (!tab) break;
            *tab = 0;
            p = tab + 1;
        }
        if (n != 5) { fprintf(stderr, "stress-client: %s: want 5 TAB-separated fields: %s\n", path, line); return false; }
        g_specs = realloc(g_specs, (size_t)(g_n_specs + 1) * sizeof *g_specs);
        spec *s = &g_specs[g_n_specs++];
        memset(s, 0, sizeof *s);
        snprintf(s->method, sizeof s->method, "%s", fields[0]);
        snprintf(s->path, sizeof s->path, "%s", fields[1]);
        if (strcmp(fields[2], "-")) snprintf(s->extra, sizeof s->extra, "Content-Type: %s\r\n", fields[2]);
        if (strcmp(fields[3], "-")) {
            s->body = hc_slurp(fields[3], &s->len);
            if (!s->body) { fprintf(stderr, "stress-client: cannot read %s\n", fields[3]); return false; }
        }
        for (char *p = fields[4]; *p && s->n_allowed < 8;) {
            s->allowed[s->n_allowed++] = atoi(p);
            p += strcspn(p, ",");
            if (*p) p++;
        }
    }
    fclose(f);
    return g_n_specs > 0;
}

int main(int argc, char **argv) {
    int conns = 8;
    double duration = 10;
    const char *spec_path = NULL;
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "--expect-continue")) { g_expect = true; i--; continue; }
        if (!strcmp(argv[i], "--honor-retry-after")) { g_polite = true; i--; continue; }
        if (i + 1 >= argc) { fprintf(stderr, "stress-client: %s needs a value\n", argv[i]); return 2; }
        if (!strcmp(argv[i], "--port")) g_port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--connections")) conns = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--duration")) duration = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--requests")) g_limit = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--spec")) spec_path = argv[i + 1];
        else { fprintf(stderr, "stress-client: unknown argument %s\n", argv[i]); return 2; }
    }
    if (!g_port || !spec_path || conns < 1 || conns > 4096) {
        fprintf(stderr, "usage: stress-client --port P --spec FILE [--connections N] [--duration S | --requests N]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (!load_specs(spec_path)) return 2;
    worker *w = calloc((size_t)conns, sizeof *w);
    pthread_t *th = calloc((size_t)conns, sizeof *th);
    double t0 = hc_now();
    g_deadline = t0 + duration;
    for (int i = 0; i < conns; i++) {
        w[i].index = i;
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    long count[600] = {0}, errors = 0, unexpected = 0, no_retry = 0, total = 0;
    size_t n_lat = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(th[i], NULL);
        n_lat += w[i].n_lat;
    }
    double secs = hc_now() - t0;
    double *lat = malloc((n_lat ? n_lat : 1) * sizeof *lat);
    size_t k = 0;
    for (int i = 0; i < conns; i++) {
        for (int s = 0; s < 600; s++) count[s] += w[i].count[s];
        errors += w[i].errors;
        unexpected += w[i].unexpected;
        no_retry += w[i].no_retry;
        memcpy(lat + k, w[i].lat, w[i].n_lat * sizeof *lat);
        k += w[i].n_lat;
        free(w[i].lat);
    }
    qsort(lat, n_lat, sizeof *lat, cmp_d);
#define PCT(p) (n_lat ? lat[(size_t)((p) / 100.0 * (double)(n_lat - 1) + 0.5)] : 0.0)
    for (int s = 0; s < 600; s++) total += count[s];
    printf("RESULT requests=%ld seconds=%.1f rps=%.1f unexpected=%ld errors=%ld no_retry_after=%ld", total + errors,
           secs, total / secs, unexpected, errors, no_retry);
    for (int s = 0; s < 600; s++)
        if (count[s]) printf(" s%d=%ld", s, count[s]);
    printf(" p50_200=%.1f p90_200=%.1f p99_200=%.1f max_200=%.1f\n", PCT(50), PCT(90), PCT(99), PCT(100));
    free(lat);
    free(w);
    free(th);
    return 0;
}
