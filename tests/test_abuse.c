/* test_abuse.c: slow and abusive clients against a live `camserve serve`
 * (issue 7; server/http.c's daemon options, server/cmd_serve.c's limits):
 *
 *  - slowloris: 200 connections that send half a request (part of the
 *    headers; or all the headers, Content-Length 10 MB and a few body bytes)
 *    and stall must not keep a normal POST /v1/cam from being answered 200 in
 *    under a second, must not cost memory in proportion to what they announce,
 *    and must be closed by the idle timeout (--timeout), descriptors and all;
 *  - the caps on open connections (--max-connections) and per client address
 *    (--max-connections-per-ip), and the per-connection header memory
 *    (--max-header-kb: 431 past it);
 *  - 16 concurrent 15 MB uploads (a valid 15 MB JPEG and 15 MB of random
 *    bytes): the server's peak RSS stays bounded (printed, and checked).
 *
 * The servers run as child processes on ephemeral ports (tests/http_client.h)
 * with a repository holding ../shared's mobilenetv2-imagenet.
 * ABUSE_REPEAT=N runs the uploads N more times (the RSS must come back each time). */
#include "check.h"
#include "http_client.h"

#include <pthread.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#define STALLERS 200
#define TIMEOUT_S 3   /* --timeout of the servers here: short, so that the test can watch it act */

static char g_tmp[256], g_models[512], g_shared[1024];
static hc_server g_srv;
static bool g_up;
static uint8_t *g_jpeg;   /* hot_dog.jpg */
static size_t g_jpeg_len;
static double g_unloaded_s;   /* the normal request's time without stalled clients */

/* ---- helpers -------------------------------------------------------------------- */

static long proc_kb(pid_t pid, const char *field) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') { v = atol(line + n + 1); break; }
    fclose(f);
    return v;
}

static int proc_fds(pid_t pid) {
    char cmd[96];
    snprintf(cmd, sizeof cmd, "ls /proc/%d/fd 2>/dev/null | wc -l", (int)pid);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

/* A connection from source address src (127.0.0.x: all of 127/8 is loopback)
 * that sends `part` and then nothing. */
static int stall_open(int port, const char *src, const void *part, size_t len) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (src) {
        inet_pton(AF_INET, src, &a.sin_addr);
        if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    }
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 10};   /* no test waits forever */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 || (len && !hc_send(fd, part, len))) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The server's side of fd is gone (EOF or reset) — or it answered something. */
static bool peer_closed(int fd, int wait_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, wait_ms) <= 0) return false;
    char b[512];
    ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) || n > 0;
}

static int count_open(const int *fds, int n) {
    int open = 0;
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0 && !peer_closed(fds[i], 0)) open++;
    return open;
}

/* Waits up to limit_s for the server to close every fd; returns how many it closed. */
static int wait_closed(int *fds, int n, double limit_s) {
    int closed = 0;
    double t0 = hc_now();
    bool *done = calloc((size_t)n, 1);
    while (closed < n && hc_now() - t0 < limit_s) {
        for (int i = 0; i < n; i++)
            if (!done[i] && (fds[i] < 0 || peer_closed(fds[i], 0))) { done[i] = true; closed++; }
        if (closed < n) usleep(50000);
    }
    free(done);
    return closed;
}

static void close_all(int *fds, int n) {
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0) { close(fds[i]); fds[i] = -1; }
}

static hc_resp post_jpeg(int port, double *secs) {
    double t0 = hc_now();
    hc_resp r = hc_request(port, "POST", "/v1/cam", "Content-Type: image/jpeg\r\n", g_jpeg, g_jpeg_len);
    *secs = hc_now() - t0;
    return r;
}

static bool start(hc_server *s, const char *name, const char *const *extra) {
    char log[480];
    snprintf(log, sizeof log, "%.400s/%s.log", g_tmp, name);
    const char *args[40] = {"--models", g_models, "--host", "127.0.0.1", "--port", "0", "--workers", "2",
                            "--threads", "1", "--queue", "8"};
    int n = 12;
    char to[16];
    snprintf(to, sizeof to, "%d", TIMEOUT_S);
    args[n++] = "--timeout";
    args[n++] = to;
    for (int i = 0; extra && extra[i] && n < 38; i++) args[n++] = extra[i];
    args[n] = NULL;
    return hc_server_start(s, check_bin(), log, args, true, 60);
}

/* ---- tests ------------------------------------------------------------------------ */

TEST(server_starts) {
    if (!realpath(check_shared_dir(), g_shared)) SKIP("no %s", check_shared_dir());
    char p[1200], link[700];
    snprintf(p, sizeof p, "%s/images/hot_dog.jpg", g_shared);
    if (!(g_jpeg = (uint8_t *)hc_slurp(p, &g_jpeg_len))) SKIP("%s not found", p);
    snprintf(p, sizeof p, "%s/models/mobilenetv2-imagenet", g_shared);
    if (access(p, R_OK) != 0) SKIP("%s not found", p);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/camserve-abuse-XXXXXX");
    CHECK(mkdtemp(g_tmp), "mkdtemp");
    snprintf(g_models, sizeof g_models, "%s/models", g_tmp);
    snprintf(link, sizeof link, "%s/mobilenetv2-imagenet", g_models);
    CHECK(mkdir(g_models, 0755) == 0 && symlink(p, link) == 0, "repository");
    bool ok = start(&g_srv, "server", (const char *const[]){"--max-header-kb", "16", NULL});
    char *text = hc_slurp(g_srv.log, NULL);
    CHECK(ok, "server did not become ready: %s", text ? text : "(no log)");
    free(text);
    g_up = true;
    double s;
    hc_resp r = post_jpeg(g_srv.port, &s);
    CHECK(r.status == 200, "warm-up request: %d", r.status);
    hc_free(&r);
    r = post_jpeg(g_srv.port, &g_unloaded_s);
    CHECK(r.status == 200, "unloaded request: %d", r.status);
    hc_free(&r);
    printf("  POST /v1/cam without stalled clients: %.3f s\n", g_unloaded_s);
}

/* 200 stalled connections, then a normal request; then the idle timeout. */
static void slowloris(const char *part, size_t part_len, const char *what) {
    if (!g_up) SKIP("no server");
    pid_t pid = g_srv.pid;
    long rss0 = proc_kb(pid, "VmRSS");
    int fds0 = proc_fds(pid);
    int fds[STALLERS];
    for (int i = 0; i < STALLERS; i++) fds[i] = stall_open(g_srv.port, NULL, part, part_len);
    int opened = 0;
    for (int i = 0; i < STALLERS; i++) opened += fds[i] >= 0;
    /* until the server has accepted them all (and read what they sent) */
    int fds1 = proc_fds(pid);
    for (double t0 = hc_now(); fds1 - fds0 < opened && hc_now() - t0 < 3; fds1 = proc_fds(pid)) usleep(50000);
    usleep(100000);
    int open_before = count_open(fds, STALLERS);
    long rss1 = proc_kb(pid, "VmRSS");
    double secs;
    hc_resp r = post_jpeg(g_srv.port, &secs);
    int status = r.status;
    hc_free(&r);
    hc_resp h = hc_request(g_srv.port, "GET", "/healthz", NULL, NULL, 0);
    int health = h.status;
    hc_free(&h);
    int open_after = count_open(fds, STALLERS);
    /* the idle timeout closes them: TIMEOUT_S after their last byte, plus libmicrohttpd's slack */
    double t0 = hc_now();
    int closed = wait_closed(fds, STALLERS, TIMEOUT_S + 4);
    double t_closed = hc_now() - t0;
    close_all(fds, STALLERS);
    usleep(200000);
    int fds2 = proc_fds(pid);
    printf("  %s: %d connections stalled; POST /v1/cam answered %d in %.3f s; server RSS %.1f -> %.1f MB, "
           "fds %d -> %d -> %d; all closed by the server after %.1f s\n",
           what, opened, status, secs, rss0 / 1024.0, rss1 / 1024.0, fds0, fds1, fds2, t_closed);
    CHECK(opened == STALLERS, "%d of %d stalled connections opened", opened, STALLERS);
    CHECK(open_before == STALLERS && open_after == STALLERS, "the stalled connections stay open meanwhile: %d, %d",
          open_before, open_after);
    CHECK(fds1 - fds0 >= STALLERS - 5, "the server holds them (fds %d -> %d)", fds0, fds1);
    CHECK(status == 200, "a normal request is answered 200 meanwhile, got %d", status);
#ifdef __SANITIZE_ADDRESS__
    /* the request alone takes most of a second under ASan: the second is on top of it */
    double limit = 1.0 + g_unloaded_s;
#else
    double limit = 1.0;
#endif
    CHECK(secs < limit, "... in under %.2f s: %.3f s (%.3f s without them)", limit, secs, g_unloaded_s);
    CHECK(health == 200, "healthz %d", health);
    CHECK(closed == STALLERS, "the idle timeout (%d s) closed %d of %d stalled connections", TIMEOUT_S, closed,
          STALLERS);
    CHECK(fds2 <= fds0 + 2, "their descriptors are released: %d -> %d", fds0, fds2);
    /* 200 x 10 MB announced: the server must not hold what was only announced (not under ASan,
     * whose allocator writes the shadow of every allocation: 1/8 of what is announced) */
#ifndef __SANITIZE_ADDRESS__
    CHECK(rss1 - rss0 < 64 * 1024, "RSS grew %.1f MB for %d stalled connections", (rss1 - rss0) / 1024.0, STALLERS);
#endif
}

TEST(slowloris_half_headers) {
    static const char part[] = "POST /v1/cam HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jp";
    slowloris(part, sizeof part - 1, "half headers");
}

TEST(slowloris_stalled_bodies) {
    char part[256];
    int n = snprintf(part, sizeof part,
                     "POST /v1/cam HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                     "\xff\xd8\xff\xe0 a few body bytes",
                     10 << 20);
    slowloris(part, (size_t)n, "headers + Content-Length 10 MB + 20 bytes");
}

TEST(header_memory_limit_431) {
    if (!g_up) SKIP("no server");
    /* --max-header-kb 16: 8 KB of headers fit, 24 KB do not */
    size_t sizes[2] = {8 << 10, 24 << 10};
    int want[2] = {200, 431};
    for (int i = 0; i < 2; i++) {
        char *extra = malloc(sizes[i] + 32);
        int k = sprintf(extra, "X-Big: ");
        memset(extra + k, 'a', sizes[i]);
        strcpy(extra + k + sizes[i], "\r\n");
        hc_resp r = hc_request(g_srv.port, "GET", "/healthz", extra, NULL, 0);
        free(extra);
        int st = r.status;
        hc_free(&r);
        CHECK(st == want[i], "%zu KB of headers: %d, want %d", sizes[i] >> 10, st, want[i]);
    }
    hc_resp h = hc_request(g_srv.port, "GET", "/healthz", NULL, NULL, 0);
    int st = h.status;
    hc_free(&h);
    CHECK(st == 200, "healthy afterwards: %d", st);
}

/* --max-connections 16 --max-connections-per-ip 10: the 11th connection from
 * one address is closed at once; another address still gets in; past 16 in
 * all, new connections wait unaccepted until one closes. */
TEST(connection_caps) {
    if (!g_up) SKIP("no server");
    hc_server s;
    bool ok = start(&s, "caps", (const char *const[]){"--max-connections", "16", "--max-connections-per-ip", "10", NULL});
    CHECK(ok, "server with caps started");
    static const char part[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    int a[10], b[6];
    for (int i = 0; i < 10; i++) a[i] = stall_open(s.port, "127.0.0.1", part, sizeof part - 1);
    usleep(200000);
    int extra_a = stall_open(s.port, "127.0.0.1", part, sizeof part - 1);
    bool refused_a = extra_a >= 0 && peer_closed(extra_a, 1000);
    for (int i = 0; i < 6; i++) b[i] = stall_open(s.port, "127.0.0.2", part, sizeof part - 1);
    usleep(200000);
    int open_a = count_open(a, 10), open_b = count_open(b, 6);
    /* 16 open: a 17th (from a third address) is not served while they are */
    hc_resp r = {0};
    static const char whole[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    int c = stall_open(s.port, "127.0.0.3", whole, sizeof whole - 1);
    bool waited = c >= 0 && !peer_closed(c, 1000);
    close_all(a, 10);
    if (extra_a >= 0) close(extra_a);
    /* once places are free it is accepted and answered */
    bool served = c >= 0 && hc_read(c, &r, false) && r.status == 200;
    hc_free(&r);
    if (c >= 0) close(c);
    close_all(b, 6);
    int rc = hc_server_stop(&s, 30);
    printf("  per address: 10 open, the 11th %s; 6 from another address open: %d; the 17th %s, then %s\n",
           refused_a ? "closed at once" : "NOT closed", open_b, waited ? "waited" : "did NOT wait",
           served ? "answered 200" : "NOT answered");
    CHECK(open_a == 10, "10 connections from one address stay open: %d", open_a);
    CHECK(refused_a, "the 11th from the same address is closed (--max-connections-per-ip 10)");
    CHECK(open_b == 6, "another address still gets in: %d of 6", open_b);
    CHECK(waited, "past --max-connections 16 a new connection is not served");
    CHECK(served, "... until places free up");
    CHECK(rc == 0, "exit code %d", rc);
}

/* ---- many concurrent 15 MB uploads -------------------------------------------------------- */

#define UPLOADERS 16
#define UPLOAD_MB 15

typedef struct { const uint8_t *data; size_t len; const char *ct; int status; bool retry_after; } upload;

static void *upload_main(void *arg) {
    upload *u = arg;
    char ct[64];
    snprintf(ct, sizeof ct, "Content-Type: %s\r\n", u->ct);
    hc_resp r = hc_request(g_srv.port, "POST", "/v1/cam?cam_top_k=1", ct, u->data, u->len);
    char v[16];
    u->status = r.status;
    u->retry_after = hc_header(&r, "Retry-After", v, sizeof v) != NULL;
    hc_free(&r);
    return NULL;
}

/* A valid JPEG of about UPLOAD_MB MB: noise at quality 100 hardly compresses. */
static uint8_t *big_jpeg(size_t *len) {
    tjhandle tj = tjInitCompress();
    if (!tj) return NULL;
    unsigned seed = 7;
    uint8_t *out = NULL;
    int w = 2600, h = 2000;
    for (int attempt = 0; attempt < 3; attempt++) {
        size_t n = (size_t)w * h * 3;
        uint8_t *px = malloc(n);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1664525u + 1013904223u;
            px[i] = (uint8_t)(seed >> 24);
        }
        unsigned long sz = 0;
        tjFree(out);
        out = NULL;
        int rc = tjCompress2(tj, px, w, 0, h, TJPF_RGB, &out, &sz, TJSAMP_444, 100, 0);
        free(px);
        if (rc != 0) break;
        *len = sz;
        double want = UPLOAD_MB * 1048576.0 * 0.98, ratio = want / (double)sz;
        if (sz <= (size_t)UPLOAD_MB << 20 && ratio < 1.05) break;
        /* scale the area towards the target */
        w = (int)(w * sqrt(ratio));
        h = (int)(h * sqrt(ratio));
    }
    tjDestroy(tj);
    if (!out || *len > (size_t)UPLOAD_MB << 20) { tjFree(out); return NULL; }
    uint8_t *copy = malloc(*len);
    memcpy(copy, out, *len);
    tjFree(out);
    return copy;
}

TEST(concurrent_15mb_uploads_bounded_memory) {
    if (!g_up) SKIP("no server");
    size_t jlen = 0, rlen = (size_t)UPLOAD_MB << 20;
    uint8_t *jpeg = big_jpeg(&jlen);
    CHECK(jpeg, "a %d MB JPEG", UPLOAD_MB);
    uint8_t *noise = malloc(rlen);
    unsigned seed = 99;
    for (size_t i = 0; i < rlen; i++) {
        seed = seed * 1664525u + 1013904223u;
        noise[i] = (uint8_t)(seed >> 24);
    }
    long rss0 = proc_kb(g_srv.pid, "VmRSS"), hwm0 = proc_kb(g_srv.pid, "VmHWM");
    upload u[UPLOADERS];
    pthread_t th[UPLOADERS];
    double t0 = hc_now();
    for (int i = 0; i < UPLOADERS; i++) {
        u[i] = (upload){i % 2 ? noise : jpeg, i % 2 ? rlen : jlen, "image/jpeg", 0, false};
        pthread_create(&th[i], NULL, upload_main, &u[i]);
    }
    for (int i = 0; i < UPLOADERS; i++) pthread_join(th[i], NULL);
    double secs = hc_now() - t0;
    long rss1 = proc_kb(g_srv.pid, "VmRSS"), hwm1 = proc_kb(g_srv.pid, "VmHWM");
    int n200 = 0, n400 = 0, n503 = 0, other = 0;
    bool ra = true;
    for (int i = 0; i < UPLOADERS; i++) {
        int st = u[i].status;
        bool is_jpeg = i % 2 == 0;
        if (st == 200 && is_jpeg) n200++;
        else if ((st == 400 || st == 415) && !is_jpeg) n400++;
        else if (st == 503) { n503++; ra = ra && u[i].retry_after; }
        else other++;
    }
    printf("  %d x %d MB uploads (%d of a %.1f MB JPEG, %d of random bytes) in %.1f s: %d x 200, %d x 400/415, %d x 503, "
           "%d other; server RSS %.1f MB before, %.1f MB after; peak (VmHWM) %.1f MB (%.1f MB before)\n",
           UPLOADERS, UPLOAD_MB, UPLOADERS / 2, jlen / 1048576.0, UPLOADERS / 2, secs, n200, n400, n503, other,
           rss0 / 1024.0, rss1 / 1024.0, hwm1 / 1024.0, hwm0 / 1024.0);
    free(jpeg);
    free(noise);
    CHECK(other == 0, "JPEGs 200 (or 503), random bytes 400/415 (or 503): %d other answers", other);
    /* at least the queue (8) was accepted, whatever the timing */
    CHECK(n200 >= 1 && n200 + n400 >= 8, "some were computed: %d x 200, %d x 400/415", n200, n400);
    CHECK(ra, "every 503 has Retry-After");
#ifdef __SANITIZE_ADDRESS__
    /* ASan keeps freed memory in quarantine and ignores mallopt: RSS says nothing here */
    SKIP("RSS bounds not checked under AddressSanitizer (the answers were)");
#endif
    /* Bound: one body buffer per accepted upload (at most all 16 x 15 MB when
     * they all arrive at once) plus two full-size decodes (the workers) and
     * slack; a copy of every body, or a leak per request, would pass it. */
    long bound_kb = (long)UPLOADERS * UPLOAD_MB * 1024 + 2 * 60 * 1024 + 100 * 1024;
    CHECK(hwm1 - rss0 <= bound_kb, "peak RSS %.1f MB over the %.1f MB before: bound %.1f MB", (hwm1 - rss0) / 1024.0,
          rss0 / 1024.0, bound_kb / 1024.0);
    /* and it is given back: bodies are freed when the request ends */
    CHECK(rss1 - rss0 <= 64 * 1024, "RSS after the uploads %.1f MB vs %.1f MB before", rss1 / 1024.0, rss0 / 1024.0);
}

TEST(server_exits_0_on_sigterm) {
    if (!g_up) SKIP("no server");
    int rc = hc_server_stop(&g_srv, 30);
    CHECK(rc == 0, "exit code %d", rc);
    hc_remove_tmp(g_tmp);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    RUN(server_starts);
    RUN(slowloris_half_headers);
    RUN(slowloris_stalled_bodies);
    RUN(header_memory_limit_431);
    RUN(connection_caps);
    RUN(concurrent_15mb_uploads_bounded_memory);
    if (getenv("ABUSE_REPEAT")) for (int i = atoi(getenv("ABUSE_REPEAT")); i > 0; i--) RUN(concurrent_15mb_uploads_bounded_memory);
    RUN(server_exits_0_on_sigterm);
    free(g_jpeg);
    return check_summary();
}
