/* test_pool.c: the thread pool covers every index exactly once, also with
 * jobs issued back to back faster than workers wake up. */
#include "check.h"
#include "internal.h"

#include <stdatomic.h>

static atomic_int hits[10007];
static void mark(void *arg, int64_t b, int64_t e, int tid) {
    (void)arg; (void)tid;
    for (int64_t i = b; i < e; i++) atomic_fetch_add(&hits[i], 1);
}

TEST(pool_covers_range_once) {
    for (int threads = 1; threads <= 4; threads++) {
        cam__pool *p;
        CHECK(cam__pool_create(threads, &p) == CAM_OK, "create");
        for (int n = 0; n < 10007; n += 997) {
            memset(hits, 0, sizeof hits);
            for (int rep = 0; rep < 3; rep++) cam__parallel_for(p, n, 1, mark, NULL);
            for (int i = 0; i < n; i++) CHECK(hits[i] == 3, "threads %d n %d i %d hits %d", threads, n, i, (int)hits[i]);
        }
        cam__pool_free(p);
    }
}

/* Many tiny jobs back to back: workers often arrive after the caller has
 * run every chunk and closed the job, or while the next one is open; every
 * index must still run exactly once per job, and every task must see its
 * own job's argument. */
static atomic_long total;
static void add_arg(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    atomic_fetch_add(&total, (long)(e - b) * *(const long *)arg);
}

TEST(pool_back_to_back_jobs) {
    for (int threads = 2; threads <= 3; threads++) {
        cam__pool *p;
        CHECK(cam__pool_create(threads, &p) == CAM_OK, "create");
        long expect = 0;
        atomic_store(&total, 0);
        for (long job = 1; job <= 20000; job++) {
            long w = job % 7 + 1;
            int64_t n = 1 + job % 5;
            cam__parallel_for(p, n, 1, add_arg, &w);   /* w dies after the call: tasks must be done */
            expect += w * n;
        }
        CHECK(atomic_load(&total) == expect, "threads %d: total %ld, expected %ld", threads, atomic_load(&total), expect);
        cam__pool_free(p);
    }
}

int main(void) {
    RUN(pool_covers_range_once);
    RUN(pool_back_to_back_jobs);
    return check_summary();
}
