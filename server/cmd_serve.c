/* cmd_serve.c: `camserve serve`: flags and CAMSERVE_* environment variables
 * into a configuration, then the service (server/http.c). */
#include "cli.h"
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static int cores(void) {
    /* the CPUs this process may run on (a container's cpuset), else all online */
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* the static/ folder of a source tree: ./static, else next to build/camserve */
static const char *default_static(char *buf, size_t len) {
    if (is_dir("static")) return "static";
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(buf, len, "%s/../static", exe);
            if (is_dir(buf)) return buf;
        }
    }
    return "static";
}

/* --api-key-file: the key is the file's content, surrounding whitespace trimmed */
static char *read_key_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *a = buf;
    while (*a && isspace((unsigned char)*a)) a++;
    size_t k = strlen(a);
    while (k && isspace((unsigned char)a[k - 1])) a[--k] = 0;
    return strdup(a);
}

typedef struct opt {
    const char *flag, *env, *arg, *help;
    /* O_BOOL: a flag without a value (environment: 1/true/yes); O_LIST: repeatable, comma-joined */
    enum { O_STR, O_INT, O_U64, O_BOOL, O_LIST } type;
    void *ptr;
    long long lo, hi;
    bool set;
} opt;

static char g_cors[4096];   /* --cors-origin values, comma-joined */
static bool g_cors_flag;    /* g_cors holds flags' values (not the environment's) */

static bool set_value(opt *o, const char *v, const char *from) {
    if (o->type == O_STR) { *(const char **)o->ptr = v; o->set = true; return true; }
    if (o->type == O_BOOL) {
        *(bool *)o->ptr = !strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes");
        o->set = true;
        return true;
    }
    if (o->type == O_LIST) {
        /* the environment's list is replaced by the first flag: flags win */
        bool flag = !strncmp(from, "--", 2);
        if (!flag || !g_cors_flag) g_cors[0] = 0;
        g_cors_flag = flag;
        size_t l = strlen(g_cors);
        if (l + strlen(v) + 2 > sizeof g_cors) {
            fprintf(stderr, "camserve serve: %s: too many origins\n", from);
            return false;
        }
        snprintf(g_cors + l, sizeof g_cors - l, "%s%s", l ? "," : "", v);
        *(const char **)o->ptr = g_cors;
        o->set = true;
        return true;
    }
    char *end;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < o->lo || x > o->hi) {
        fprintf(stderr, "camserve serve: %s must be an integer in %lld..%lld, not '%s'\n", from, o->lo, o->hi, v);
        return false;
    }
    if (o->type == O_INT) *(int *)o->ptr = (int)x;
    else *(uint64_t *)o->ptr = (uint64_t)x;
    o->set = true;
    return true;
}

int cam_cmd_serve(int argc, char **argv) {
    int ncores = cores();
    char static_buf[1100];
    cam_serve_config c = {
        .models_dir = is_dir("../shared/models") ? "../shared/models" : "./models",
        .default_model = NULL,
        .host = "0.0.0.0",
        .port = 8080,
        .workers = ncores,
        .threads = 1,
        .io_threads = 2,
        .queue = 64,
        .max_body_mb = 16,
        .max_pixels = 40000000,
        .timeout = 60,
        .drain_seconds = 30,
        .max_connections = 1024,
        .max_header_kb = 32,
        .max_per_ip = 0,
        .static_dir = default_static(static_buf, sizeof static_buf),
    };
    const char *log_format = "text", *event_loop = "poll", *api_key_file = NULL;
    opt opts[] = {
        {"--models", "CAMSERVE_MODELS", "DIR", "model repository: one folder per model (DESIGN §6)", O_STR, &c.models_dir, 0, 0, false},
        {"--default-model", "CAMSERVE_DEFAULT_MODEL", "NAME", "model of POST /v1/cam (default: the first loaded, by folder name)", O_STR, &c.default_model, 0, 0, false},
        {"--host", "CAMSERVE_HOST", "ADDR", "address to listen on", O_STR, &c.host, 0, 0, false},
        {"--port", "CAMSERVE_PORT", "N", "port (0: any free port, named in the start-up log)", O_INT, &c.port, 0, 65535, false},
        {"--workers", "CAMSERVE_WORKERS", "N", "inference workers (default: cores / threads)", O_INT, &c.workers, 1, 1024, false},
        {"--threads", "CAMSERVE_THREADS", "N", "kernel threads per worker (default 1, or cores / workers)", O_INT, &c.threads, 1, 1024, false},
        {"--io-threads", "CAMSERVE_IO_THREADS", "N", "HTTP I/O threads", O_INT, &c.io_threads, 1, 64, false},
        {"--event-loop", "CAMSERVE_EVENT_LOOP", "poll|epoll", "I/O threads' event loop (poll: see README)", O_STR, &event_loop, 0, 0, false},
        {"--queue", "CAMSERVE_QUEUE", "N", "requests waiting for a worker; beyond it 503 at once", O_INT, &c.queue, 1, 1000000, false},
        {"--max-body-mb", "CAMSERVE_MAX_BODY_MB", "N", "largest request body, MB", O_INT, &c.max_body_mb, 1, 1024, false},
        {"--max-pixels", "CAMSERVE_MAX_PIXELS", "N", "largest image, width x height (checked from its header)", O_U64, &c.max_pixels, 1, 400000000, false},
        {"--timeout", "CAMSERVE_TIMEOUT", "S", "idle connection timeout, seconds", O_INT, &c.timeout, 1, 86400, false},
        {"--drain-seconds", "CAMSERVE_DRAIN_SECONDS", "S", "on SIGTERM/SIGINT, time given to requests in flight", O_INT, &c.drain_seconds, 0, 86400, false},
        {"--max-connections", "CAMSERVE_MAX_CONNECTIONS", "N", "open connections at most", O_INT, &c.max_connections, 1, 1000000, false},
        {"--max-connections-per-ip", "CAMSERVE_MAX_CONNECTIONS_PER_IP", "N",
         "open connections per client address (0: no limit; a proxy is one address)", O_INT, &c.max_per_ip, 0, 1000000, false},
        {"--max-header-kb", "CAMSERVE_MAX_HEADER_KB", "N", "memory per connection for the request line and headers, KB",
         O_INT, &c.max_header_kb, 8, 1024, false},
        {"--log-format", "CAMSERVE_LOG_FORMAT", "text|json", "log lines on stderr", O_STR, &log_format, 0, 0, false},
        {"--static", "CAMSERVE_STATIC", "DIR", "folder served at / and /static/", O_STR, &c.static_dir, 0, 0, false},
        {"--api-key", "CAMSERVE_API_KEY", "KEY", "require Authorization: Bearer KEY on /v1/* (see below)", O_STR, &c.api_key, 0, 0, false},
        {"--api-key-file", "CAMSERVE_API_KEY_FILE", "PATH", "--api-key read from a file (whitespace trimmed)",
         O_STR, &api_key_file, 0, 0, false},
        {"--auth-metrics", "CAMSERVE_AUTH_METRICS", "", "with a key, /metrics needs it too (env: 1)", O_BOOL,
         &c.auth_metrics, 0, 0, false},
        {"--cors-origin", "CAMSERVE_CORS_ORIGIN", "ORIGIN", "CORS: allow browsers on ORIGIN (repeatable; * = any; see below)",
         O_LIST, &c.cors_origins, 0, 0, false},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);

    for (int i = 0; i < argc; i++) {
        if (!cli_is_help(argv[i])) continue;
        printf("usage: camserve serve [options]\n\n"
               "The HTTP service of DESIGN §4: POST /v1/cam, /v1/models/{model}/cam and /classify,\n"
               "GET /v1/models, /healthz, /readyz, /metrics, /openapi.json, / and /static/.\n"
               "Every flag can also be set with its environment variable; flags win.\n\n");
        for (int k = 0; k < n_opts; k++) {
            char def[256], head[64];
            if (opts[k].type == O_BOOL) snprintf(def, sizeof def, "off");
            else if (opts[k].type == O_STR || opts[k].type == O_LIST) {
                const char *v = *(const char **)opts[k].ptr;
                snprintf(def, sizeof def, "%s", v ? v : "none");
            } else if (opts[k].type == O_INT) snprintf(def, sizeof def, "%d", *(int *)opts[k].ptr);
            else snprintf(def, sizeof def, "%llu", (unsigned long long)*(uint64_t *)opts[k].ptr);
            snprintf(head, sizeof head, "%s %s", opts[k].flag, opts[k].arg);
            printf("  %-26s %s\n  %-26s   [%s] default: %s\n", head, opts[k].help, "", opts[k].env, def);
        }
        printf("\nThis machine has %d cores: the default is %d workers x %d thread.\n"
               "SIGTERM/SIGINT: stop accepting, /readyz answers 503, requests in flight and queued finish\n"
               "(up to --drain-seconds), exit 0.\n"
               "\nAccess control (off by default): with --api-key or --api-key-file (not both), every /v1/ request\n"
               "needs Authorization: Bearer KEY, compared in constant time; without it, or with another key: 401,\n"
               "WWW-Authenticate: Bearer realm=\"camserve\", error code UNAUTHORIZED, decided from the headers\n"
               "(a body is dropped unread into memory).  /healthz, /readyz, /openapi.json, / and /static/ stay open; /metrics too unless --auth-metrics.\n"
               "Plain HTTP: terminate TLS at a proxy (docker/nginx.conf) or the key travels in clear.\n"
               "CORS (off by default): --cors-origin https://app.example (repeat it, or CAMSERVE_CORS_ORIGIN=a,b):\n"
               "responses to an allowed Origin carry Access-Control-Allow-Origin (that origin), Vary: Origin and\n"
               "Access-Control-Expose-Headers: X-Request-Id, Server-Timing; OPTIONS with an allowed Origin: 204 with\n"
               "Access-Control-Allow-Methods/-Headers/-Max-Age (no key needed); from another Origin: 403\n"
               "CORS_ORIGIN_NOT_ALLOWED.  Without --cors-origin: no CORS headers, OPTIONS is 405.\n",
               ncores, ncores, 1);
        return 0;
    }
    for (int k = 0; k < n_opts; k++) {
        const char *v = getenv(opts[k].env);
        if (v && *v && !set_value(&opts[k], v, opts[k].env)) return 2;
    }
    for (int i = 0; i < argc; i++) {
        bool matched = false;
        for (int k = 0; k < n_opts && !matched; k++) {
            const char *v;
            if (opts[k].type == O_BOOL) {
                if (strcmp(argv[i], opts[k].flag)) continue;
                *(bool *)opts[k].ptr = true;
                opts[k].set = matched = true;
                continue;
            }
            if (!cli_flag_str(argc, argv, &i, opts[k].flag, &v)) continue;
            if (!set_value(&opts[k], v, opts[k].flag)) return 2;
            matched = true;
        }
        if (!matched) return cli_usage_error("serve", "unknown argument '%s'", argv[i]);
    }
    bool workers_set = false, threads_set = false;
    for (int k = 0; k < n_opts; k++) {
        if (!strcmp(opts[k].flag, "--workers")) workers_set = opts[k].set;
        if (!strcmp(opts[k].flag, "--threads")) threads_set = opts[k].set;
    }
    if (workers_set && !threads_set) c.threads = ncores / c.workers > 1 ? ncores / c.workers : 1;
    if (threads_set && !workers_set) c.workers = ncores / c.threads > 1 ? ncores / c.threads : 1;
    if (strcmp(log_format, "text") && strcmp(log_format, "json"))
        return cli_usage_error("serve", "--log-format must be text or json, not '%s'", log_format);
    c.log_json = !strcmp(log_format, "json");
    if (strcmp(event_loop, "poll") && strcmp(event_loop, "epoll"))
        return cli_usage_error("serve", "--event-loop must be poll or epoll, not '%s'", event_loop);
    c.epoll = !strcmp(event_loop, "epoll");
    if (c.default_model && !*c.default_model) c.default_model = NULL;
    if (c.api_key && *c.api_key && api_key_file && *api_key_file)
        return cli_usage_error("serve", "give --api-key or --api-key-file, not both");
    char *owned_key = NULL;   /* the key read from --api-key-file, freed when the server stops */
    if (api_key_file && *api_key_file) {
        char *key = read_key_file(api_key_file);
        if (!key || !*key) {
            fprintf(stderr, "camserve serve: --api-key-file %s: %s\n", api_key_file, key ? "empty" : strerror(errno));
            free(key);
            return 2;
        }
        c.api_key = owned_key = key;
    }
    if (c.api_key && !*c.api_key) c.api_key = NULL;
    if (c.cors_origins && !*c.cors_origins) c.cors_origins = NULL;
    if (c.workers * c.threads > ncores) {
        cam_log_init(c.log_json);
        cam_log("warn", "%d workers x %d threads on %d cores: oversubscribed, latency will suffer", c.workers, c.threads,
                ncores);
    }
    /* Buffers of 4 MB and more (large uploads, their decodes) get their own
     * mappings, returned to the system when freed.  glibc's default raises this
     * threshold to the largest block freed so far, so after one burst of 15 MB
     * uploads later ones came from the heaps and stayed there: measured (16
     * concurrent 15 MB uploads, tests/test_abuse.c) 62 MB of RSS before, 323 MB
     * after, 546 MB after three more bursts; with the fixed threshold, back to
     * the same RSS after each. */
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    /* Below that, keep up to 16 MB free at the top of each heap instead of
     * glibc's 128 KB: a /cam request allocates ~3 MB of buffers (body,
     * decoded image, heatmap, overlay, PNG, JSON) and frees them, and with
     * the default trim each request faulted them in afresh: 205 page faults
     * and 0.75 ms of system time a request (hot_dog.jpg, make bench-http),
     * against 0 and 0.2 ms with this. */
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
    /* every open connection is a descriptor: raise the soft limit to the hard one
     * (often 1024 soft, far more hard), so that --max-connections can be reached */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (unsigned long long)c.max_connections + 64 > (unsigned long long)rl.rlim_cur) {
        cam_log_init(c.log_json);
        cam_log("warn", "--max-connections %d but only %llu file descriptors (ulimit -n): connections past it are refused",
                c.max_connections, (unsigned long long)rl.rlim_cur);
    }
    int rc = cam_serve(&c);
    free(owned_key);
    return rc;
}
