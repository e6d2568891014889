/* timing.h: the monotonic clock and medians shared by the timing tests
 * (tests/test_NAME.c) and the benchmark tools (tools/NAME.c), which include it as
 * "../tests/timing.h".  Header-only: each program is one translation unit. */
#ifndef CAM_TESTS_TIMING_H
#define CAM_TESTS_TIMING_H

#include <stdlib.h>
#include <time.h>

static inline double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* qsort comparator for doubles, ascending */
static inline int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0..n) and returns its median (the mean of the middle two for even n). */
static inline double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#endif
