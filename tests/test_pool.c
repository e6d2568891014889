/* test_pool.c: the thread pool covers every index exactly once. */
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

int main(void) {
    RUN(pool_covers_range_once);
    return check_summary();
}
