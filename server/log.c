/* log.c: start-up lines and the access log, as text or JSON lines on stderr.
 *
 * Each line is formatted into one buffer and written with a single write(2),
 * so lines from concurrent threads never interleave. */
#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static bool g_json;

void cam_log_init(bool json) { g_json = json; }

double cam_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* 2024-01-31T12:00:00.123Z */
static void timestamp(char *out, size_t len) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, len - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

typedef struct { char b[2048]; size_t n; } line;

static void put(line *l, const char *s, size_t n) {
    if (l->n + n > sizeof l->b - 2) n = sizeof l->b - 2 - l->n;
    memcpy(l->b + l->n, s, n);
    l->n += n;
}
static void puts_(line *l, const char *s) { put(l, s, strlen(s)); }
static void putf(line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(line *l, const char *fmt, ...) {
    char t[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t, sizeof t, fmt, ap);
    va_end(ap);
    if (n > 0) put(l, t, (size_t)n < sizeof t ? (size_t)n : sizeof t - 1);
}
/* s as a JSON string body (quotes not included); control bytes escaped */
static void put_json_str(line *l, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { char e[2] = {'\\', (char)c}; put(l, e, 2); }
        else if (c < 0x20) putf(l, "\\u%04x", c);
        else put(l, (const char *)&c, 1);
    }
}
/* s for a text log: no spaces breaking key=value, no control bytes */
static void put_text_val(line *l, const char *s) {
    if (!*s) { puts_(l, "-"); return; }
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == 0x7f) putf(l, "%%%02X", c);
        else put(l, (const char *)&c, 1);
    }
}
static void emit(line *l) {
    l->b[l->n++] = '\n';
    ssize_t w = write(STDERR_FILENO, l->b, l->n);
    (void)w;
}

void cam_log(const char *level, const char *fmt, ...) {
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char ts[40];
    timestamp(ts, sizeof ts);
    line l = {.n = 0};
    if (g_json) {
        putf(&l, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, level);
        put_json_str(&l, msg);
        puts_(&l, "\"}");
    } else {
        putf(&l, "%s %-5s ", ts, level);
        for (char *c = msg; *c; c++) if ((unsigned char)*c < 0x20) *c = ' ';
        puts_(&l, msg);
    }
    emit(&l);
}

void cam_log_access(const char *method, const char *uri, int status, size_t bytes, double ms, const char *request_id,
                    const char *model) {
    char ts[40];
    timestamp(ts, sizeof ts);
    line l = {.n = 0};
    if (g_json) {
        putf(&l, "{\"time\":\"%s\",\"level\":\"info\",\"msg\":\"access\",\"method\":\"", ts);
        put_json_str(&l, method);
        puts_(&l, "\",\"path\":\"");
        put_json_str(&l, uri);
        putf(&l, "\",\"status\":%d,\"bytes\":%zu,\"duration_ms\":%.3f,\"request_id\":\"", status, bytes, ms);
        put_json_str(&l, request_id);
        puts_(&l, "\",\"model\":");
        if (model && *model) { puts_(&l, "\""); put_json_str(&l, model); puts_(&l, "\""); }
        else puts_(&l, "null");
        puts_(&l, "}");
    } else {
        putf(&l, "%s access method=", ts);
        put_text_val(&l, method);
        puts_(&l, " path=");
        put_text_val(&l, uri);
        putf(&l, " status=%d bytes=%zu duration_ms=%.3f request_id=", status, bytes, ms);
        put_text_val(&l, request_id);
        puts_(&l, " model=");
        put_text_val(&l, model ? model : "");
    }
    emit(&l);
}
