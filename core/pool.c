/* pool.c: a fixed thread pool for data-parallel loops inside one forward pass.
 *
 * A forward pass issues one parallel_for per layer, about a hundred per
 * image, each lasting tens of microseconds to a few milliseconds.  Waking a
 * sleeping thread costs a futex round trip (~20-50 us), so workers spin
 * briefly on the job word before sleeping on a condition variable.
 *
 * The range is cut into one contiguous chunk per thread, as the kernels'
 * work splits assume, but chunks are claimed, not assigned: the caller and
 * the workers take the next unclaimed chunk from a shared counter until
 * none is left.  On a machine busier than its cores (other processes, or
 * several sessions) a worker is often not running when a job is published;
 * with fixed assignment the caller then waited a whole scheduler time slice
 * for it at every layer (2-thread SqueezeNet: 4 ms became 12-150 ms under
 * a parallel compile).  Now the caller runs the chunks nobody took and
 * waits only for chunks actually in progress, yielding the CPU while it
 * waits so that a preempted worker can finish.  Which thread runs which
 * chunk never changes the result: the split depends only on n, grain and
 * the pool size.
 *
 * Safety of the hand-off: a worker announces itself (busy++) before it
 * reads the job word; the caller closes the job, then waits for busy == 0
 * before it returns (and before it may write the next job).  With
 * sequentially consistent atomics, a worker that sees the job open is
 * counted by the caller's wait, and one that is not counted sees it closed
 * and touches nothing. */
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#define CAM__SPIN_ITERS 20000   /* worker: pause iterations before sleeping */
#define CAM__WAIT_SPINS 256     /* caller: pause iterations between yields */

struct cam__pool {
    int threads;                 /* including the calling thread */
    pthread_t *tids;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    atomic_uint_fast64_t job;    /* 2 * job number + 1 while the job is open */
    atomic_int busy;             /* workers inside a job */
    atomic_int_fast64_t next;    /* next unclaimed chunk of the open job */
    atomic_bool stop;
    /* the current job */
    cam__task_fn fn;
    void *arg;
    int64_t n, chunk, nchunks;
};

typedef struct { cam__pool *p; int tid; } cam__worker_arg;

/* Claims and runs chunks of the open job until none is left. */
static void run_chunks(cam__pool *p, int tid) {
    for (;;) {
        int64_t c = atomic_fetch_add(&p->next, 1);
        if (c >= p->nchunks) return;
        int64_t b = c * p->chunk, e = b + p->chunk;
        if (e > p->n) e = p->n;
        p->fn(p->arg, b, e, tid);
    }
}

static void *worker_main(void *raw) {
    cam__worker_arg wa = *(cam__worker_arg *)raw;
    free(raw);
    cam__pool *p = wa.p;
    uint_fast64_t seen = 0;
    for (;;) {
        uint_fast64_t job;
        int spins = 0;
        while ((job = atomic_load(&p->job)) == seen && !atomic_load(&p->stop)) {
            if (++spins < CAM__SPIN_ITERS) {
                __builtin_ia32_pause();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->job) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        atomic_fetch_add(&p->busy, 1);
        job = atomic_load(&p->job);   /* again, now that the caller counts us */
        if (job & 1) run_chunks(p, wa.tid);
        seen = job;
        atomic_fetch_sub(&p->busy, 1);
    }
}

cam_status cam__pool_create(int threads, cam__pool **out) {
    *out = NULL;
    if (threads < 1) threads = 1;
    cam__pool *p = calloc(1, sizeof *p);
    if (!p) return CAM_ENOMEM;
    p->threads = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    atomic_init(&p->job, 0);
    atomic_init(&p->busy, 0);
    atomic_init(&p->next, 0);
    atomic_init(&p->stop, false);
    if (threads > 1) {
        p->tids = calloc((size_t)threads, sizeof *p->tids);
        if (!p->tids) { free(p); return CAM_ENOMEM; }
        for (int i = 1; i < threads; i++) {
            cam__worker_arg *wa = malloc(sizeof *wa);
            if (!wa || pthread_create(&p->tids[i], NULL, worker_main, wa ? (wa->p = p, wa->tid = i, wa) : NULL) != 0) {
                free(wa);
                p->threads = i;   /* free() joins the ones started */
                cam__pool_free(p);
                return CAM_ENOMEM;
            }
        }
    }
    *out = p;
    return CAM_OK;
}

void cam__pool_free(cam__pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->threads; i++) pthread_join(p->tids[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    free(p->tids);
    free(p);
}

int cam__pool_threads(const cam__pool *p) { return p ? p->threads : 1; }

void cam__parallel_for(cam__pool *p, int64_t n, int64_t grain, cam__task_fn fn, void *arg) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int t = p ? p->threads : 1;
    int64_t max_t = (n + grain - 1) / grain;
    if (max_t < t) t = (int)max_t;
    if (t <= 1) { fn(arg, 0, n, 0); return; }
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->chunk = (n + t - 1) / t;
    p->nchunks = (n + p->chunk - 1) / p->chunk;
    atomic_store(&p->next, 0);
    uint_fast64_t open = atomic_load_explicit(&p->job, memory_order_relaxed) + 1;   /* odd: open */
    atomic_store(&p->job, open);
    /* sleeping workers need the broadcast; spinning ones see the store */
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_chunks(p, 0);
    atomic_store(&p->job, open + 1);   /* closed: late workers leave it alone */
    for (int spins = 0; atomic_load(&p->busy) > 0;) {
        if (++spins < CAM__WAIT_SPINS) {
            __builtin_ia32_pause();
        } else {
            spins = 0;
            sched_yield();   /* a preempted worker may need this CPU */
        }
    }
}

int cam__ctx_threads(const cam__ctx *c) { return c && c->pool ? cam__pool_threads(c->pool) : 1; }

void cam__ctx_parallel(const cam__ctx *c, int64_t n, int64_t grain, cam__task_fn fn, void *arg) {
    cam__parallel_for(c ? c->pool : NULL, n, grain, fn, arg);
}
