/* http_client.h: a tiny HTTP/1.1 client over plain sockets for the
 * end-to-end tests of the service (tests/test_http.c), plus starting and
 * stopping `camserve serve` as a child process.  Only what the tests need:
 * one request at a time per connection, responses with Content-Length (or
 * up to the close). */
#ifndef CAM_HTTP_CLIENT_H
#define CAM_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct hc_resp {
    int status;          /* 0: no response (connection closed or reset) */
    char *head;          /* status line and headers, NUL-terminated */
    char *body;          /* NUL-terminated for convenience */
    size_t body_len;
} hc_resp;

static inline void hc_free(hc_resp *r) {
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* HC_TIMEOUT_SCALE=k multiplies the client's socket timeouts and the waits for
 * the server to start and to stop (make valgrind: the server runs 20-50x slower) */
static inline double hc_scale(void) {
    const char *v = getenv("HC_TIMEOUT_SCALE");
    double k = v ? atof(v) : 1;
    return k >= 1 ? k : 1;
}

static inline double hc_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* connects to 127.0.0.1:port; -1 on failure (errno set) */
static inline int hc_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = (time_t)(60 * hc_scale())};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

static inline bool hc_send(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static inline const char *hc_header(const hc_resp *r, const char *name, char *out, size_t len) {
    if (!r->head) return NULL;
    size_t n = strlen(name);
    for (const char *l = strstr(r->head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
        const char *h = l + 2;
        if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
            h += n + 1;
            while (*h == ' ') h++;
            size_t k = strcspn(h, "\r\n");
            if (k >= len) k = len - 1;
            memcpy(out, h, k);
            out[k] = 0;
            return out;
        }
    }
    return NULL;
}

/* Reads one response.  head_only: the request was HEAD (no body follows). */
static inline bool hc_read(int fd, hc_resp *r, bool head_only) {
    memset(r, 0, sizeof *r);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    char *end = NULL;
    while (!end) {
        if (n == cap) { cap *= 2; buf = realloc(buf, cap + 1); }
        ssize_t k = recv(fd, buf + n, cap - n, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) { free(buf); return false; }
        n += (size_t)k;
        buf[n] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    size_t hl = (size_t)(end - buf) + 4;
    r->head = malloc(hl + 1);
    memcpy(r->head, buf, hl);
    r->head[hl] = 0;
    r->status = atoi(buf + 9);
    char v[64];
    long long want = -1;
    if (hc_header(r, "Content-Length", v, sizeof v)) want = atoll(v);
    if (head_only || r->status == 204 || r->status == 304 || (r->status >= 100 && r->status < 200)) want = 0;
    size_t have = n - hl;
    size_t bcap = want >= 0 ? (size_t)want : (have > 65536 ? have : 65536);
    r->body = malloc(bcap + 1);
    memcpy(r->body, buf + hl, have < bcap ? have : bcap);
    free(buf);
    size_t got = have < bcap ? have : bcap;
    while (want < 0 || got < (size_t)want) {
        if (got == bcap) { bcap *= 2; r->body = realloc(r->body, bcap + 1); }
        ssize_t k = recv(fd, r->body + got, bcap - got, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    r->body[got] = 0;
    r->body_len = got;
    return want < 0 || got == (size_t)want;
}

/* "METHOD path HTTP/1.1" with Host, the extra header lines (each ending in
 * \r\n) and a Content-Length when a body is given. */
static inline char *hc_request_head(const char *method, const char *path, const char *extra, const void *body,
                                    size_t len, bool keep_alive) {
    char *h = malloc(strlen(path) + (extra ? strlen(extra) : 0) + 256);
    int n = sprintf(h, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s", method, path, extra ? extra : "",
                    keep_alive ? "" : "Connection: close\r\n");
    if (body) n += sprintf(h + n, "Content-Length: %zu\r\n", len);
    sprintf(h + n, "\r\n");
    return h;
}

/* One request on an open connection (kept open). */
static inline bool hc_roundtrip(int fd, const char *method, const char *path, const char *extra, const void *body,
                                size_t len, hc_resp *r) {
    char *h = hc_request_head(method, path, extra, body, len, true);
    bool ok = hc_send(fd, h, strlen(h)) && (!body || hc_send(fd, body, len));
    free(h);
    if (!ok) { memset(r, 0, sizeof *r); return false; }
    return hc_read(fd, r, !strcmp(method, "HEAD"));
}

/* One request on a fresh connection (Connection: close). */
static inline hc_resp hc_request(int port, const char *method, const char *path, const char *extra, const void *body,
                                 size_t len) {
    hc_resp r = {0};
    int fd = hc_connect(port);
    if (fd < 0) return r;
    char *h = hc_request_head(method, path, extra, body, len, false);
    /* one buffer: the server may answer (and close) as soon as it has the headers */
    size_t hl = strlen(h);
    char *all = malloc(hl + len + 1);
    memcpy(all, h, hl);
    if (body) memcpy(all + hl, body, len);
    bool ok = hc_send(fd, all, hl + (body ? len : 0));
    free(all);
    free(h);
    if (ok) hc_read(fd, &r, !strcmp(method, "HEAD"));
    close(fd);
    return r;
}

/* ---- the server as a child process ---------------------------------------------- */

typedef struct hc_server {
    pid_t pid;
    int port;
    char log[512];
} hc_server;

static inline char *hc_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)(n < 0 ? 0 : n) + 1);
    size_t k = n > 0 ? fread(b, 1, (size_t)n, f) : 0;
    b[k] = 0;
    fclose(f);
    if (len) *len = k;
    return b;
}

/* Starts bin with args (NULL-terminated, after "serve"), stderr+stdout into
 * log; waits for "listening on http://...:PORT" and then /readyz 200 (when
 * wait_ready).  Returns false on failure (the log says why). */
static inline bool hc_server_start(hc_server *s, const char *bin, const char *log, const char *const *args,
                                   bool wait_ready, double timeout_s) {
    memset(s, 0, sizeof *s);
    snprintf(s->log, sizeof s->log, "%s", log);
    const char *argv[64];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "serve";
    for (int i = 0; args[i] && n < 62; i++) argv[n++] = args[i];
    argv[n] = NULL;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    timeout_s *= hc_scale();
    double t0 = hc_now();
    while (hc_now() - t0 < timeout_s) {
        char *text = hc_slurp(log, NULL);
        const char *p = text ? strstr(text, "listening on http://") : NULL;
        if (p) {
            const char *colon = strchr(p + 20, ':');
            s->port = colon ? atoi(colon + 1) : 0;
        }
        free(text);
        if (s->port) break;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) { s->pid = 0; return false; }
        usleep(20000);
    }
    if (!s->port) return false;
    while (wait_ready && hc_now() - t0 < timeout_s) {
        hc_resp r = hc_request(s->port, "GET", "/readyz", NULL, NULL, 0);
        int st = r.status;
        hc_free(&r);
        if (st == 200) return true;
        usleep(20000);
    }
    return !wait_ready;
}

/* SIGTERM, then waits up to timeout_s; returns the exit code, -1 if it had
 * to be killed or died of a signal. */
static inline int hc_server_stop(hc_server *s, double timeout_s) {
    if (!s->pid) return -1;
    kill(s->pid, SIGTERM);
    timeout_s *= hc_scale();
    double t0 = hc_now();
    int st = 0;
    while (hc_now() - t0 < timeout_s) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        usleep(10000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    s->pid = 0;
    return -1;
}

/* At exit: a server still running is killed at once. */
static inline void hc_server_kill(hc_server *s) {
    if (s->pid) { kill(s->pid, SIGKILL); waitpid(s->pid, NULL, 0); s->pid = 0; }
}

/* Removes a test's temporary folder (its logs, models, static files)
 * unless CAMSERVE_KEEP_TMP is set, to look at them after a failure. */
static inline void hc_remove_tmp(const char *dir) {
    if (!dir[0] || getenv("CAMSERVE_KEEP_TMP")) return;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

#endif
