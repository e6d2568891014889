/* pool.c: a fixed thread pool for data-parallel loops inside one forward pass.
 *
 * A forward pass issues one parallel_for per layer, about a hundred per
 * image, each lasting tens of microseconds to a few milliseconds.  Waking a
 * sleeping thread costs a futex round trip (~20-50 us), so workers spin
 * briefly on the job counter before sleeping on a condition variable. */
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define CAM__SPIN_ITERS 20000

struct cam__pool {
    int threads;                 /* including the calling thread */
    pthread_t *tids;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    atomic_uint_fast64_t job;    /* incremented to publish a job */
    atomic_int pending;          /* workers still running the current job */
    atomic_bool stop;
    /* the current job */
    cam__task_fn fn;
    void *arg;
    int64_t n, chunk;
};

typedef struct { cam__pool *p; int tid; } cam__worker_arg;

static void run_chunk(cam__pool *p, int tid) {
    int64_t b = (int64_t)tid * p->chunk, e = b + p->chunk;
    if (e > p->n) e = p->n;
    if (b < e) p->fn(p->arg, b, e, tid);
}

static void *worker_main(void *raw) {
    cam__worker_arg wa = *(cam__worker_arg *)raw;
    free(raw);
    cam__pool *p = wa.p;
    uint_fast64_t seen = 0;
    for (;;) {
        uint_fast64_t job;
        int spins = 0;
        while ((job = atomic_load_explicit(&p->job, memory_order_acquire)) == seen &&
               !atomic_load(&p->stop)) {
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
        seen = job;
        run_chunk(p, wa.tid);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
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
    atomic_init(&p->pending, 0);
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
    /* Threads beyond t get empty chunks: chunk * tid >= n for tid >= t. */
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->chunk = (n + t - 1) / t;
    atomic_store_explicit(&p->pending, p->threads - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->job, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_chunk(p, 0);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) __builtin_ia32_pause();
}

int cam__ctx_threads(const cam__ctx *c) { return c && c->pool ? cam__pool_threads(c->pool) : 1; }

void cam__ctx_parallel(const cam__ctx *c, int64_t n, int64_t grain, cam__task_fn fn, void *arg) {
    cam__parallel_for(c ? c->pool : NULL, n, grain, fn, arg);
}
