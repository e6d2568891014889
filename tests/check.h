/* check.h: the tiny test harness every tests/test_*.c uses.
 *
 *   TEST(name) { CHECK(x == 1, "x was %d", x); if (!ready) SKIP("why"); }
 *   int main(void) { RUN(name); return check_summary(); }
 *
 * Each binary prints "ok - name" / "FAIL - name: ..." / "skip - name: ...",
 * then "N passed, N failed, N skipped"; tests/run.sh adds the binaries up. */
#ifndef CAM_CHECK_H
#define CAM_CHECK_H

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_passed, check_failed, check_skipped;
static int check_cur_failed, check_cur_skipped;
static char check_msg[4096];
static jmp_buf check_jmp;

#define TEST(name) static void name(void)

#define CHECK(cond, ...)                                                               \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            int o_ = snprintf(check_msg, sizeof check_msg, "%s:%d: %s: ", __FILE__,    \
                              __LINE__, #cond);                                        \
            if (o_ > 0 && (size_t)o_ < sizeof check_msg)                               \
                snprintf(check_msg + o_, sizeof check_msg - (size_t)o_, __VA_ARGS__);  \
            check_cur_failed = 1;                                                      \
            longjmp(check_jmp, 1);                                                     \
        }                                                                              \
    } while (0)

#define SKIP(...)                                                                      \
    do {                                                                               \
        snprintf(check_msg, sizeof check_msg, __VA_ARGS__);                            \
        check_cur_skipped = 1;                                                         \
        longjmp(check_jmp, 1);                                                         \
    } while (0)

/* CHECK_SKIP=name,name: tests not to run (make valgrind leaves out the
 * ones whose timing cannot hold under valgrind); they are reported skipped */
static inline int check_listed(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; p && *p; p += strcspn(p, ","), p += *p == ',')
        if (!strncmp(p, name, n) && (p[n] == ',' || !p[n])) return 1;
    return 0;
}

static inline void check_run(const char *name, void (*fn)(void)) {
    check_cur_failed = check_cur_skipped = 0;
    check_msg[0] = 0;
    if (check_listed(getenv("CHECK_SKIP"), name)) {
        check_cur_skipped = 1;
        snprintf(check_msg, sizeof check_msg, "left out by CHECK_SKIP");
    } else if (setjmp(check_jmp) == 0) fn();
    if (check_cur_failed) {
        check_failed++;
        printf("FAIL - %s: %s\n", name, check_msg);
    } else if (check_cur_skipped) {
        check_skipped++;
        printf("skip - %s: %s\n", name, check_msg);
    } else {
        check_passed++;
        printf("ok - %s\n", name);
    }
    fflush(stdout);
}
#define RUN(name) check_run(#name, name)

static inline int check_summary(void) {
    printf("%d passed, %d failed, %d skipped\n", check_passed, check_failed, check_skipped);
    return check_failed ? 1 : 0;
}

/* relative L-infinity error max|a-b| / max|b| (b is the reference) */
static inline double check_rel_linf(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > num || d != d) num = d != d ? INFINITY : d;
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return den > 0 ? num / den : num;
}

/* ../shared (CAMSERVE_SHARED overrides) and the camserve binary (CAMSERVE_BIN) */
static inline const char *check_shared_dir(void) {
    const char *s = getenv("CAMSERVE_SHARED");
    return s && *s ? s : "../shared";
}
static inline const char *check_bin(void) {
    const char *b = getenv("CAMSERVE_BIN");
    return b && *b ? b : "build/camserve";
}

/* A whole file, malloc()ed with a NUL after it; NULL if unreadable. */
static inline void *check_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b) rewind(f);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); fclose(f); return NULL; }
    fclose(f);
    b[n] = 0;
    *len = (size_t)n;
    return b;
}
static inline float *check_read_floats(const char *path, size_t *n) {
    size_t len = 0;
    float *f = check_slurp(path, &len);
    *n = len / sizeof(float);
    return f;
}

/* deterministic uniform floats in [lo, hi) */
static inline float check_randf(unsigned *state, float lo, float hi) {
    *state = *state * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)((*state >> 8) * (1.0 / 16777216.0));
}

#endif
