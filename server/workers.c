/* workers.c: the inference worker pool and its bounded queue. */
#include "workers.h"

#include <stdlib.h>
#include <time.h>

struct cam_pool {
    pthread_mutex_t mu;
    pthread_cond_t work;      /* a job arrived, or stop */
    pthread_cond_t idle;      /* a job finished or was taken away */
    void **ring;              /* capacity slots, FIFO */
    int capacity, head, count;
    int busy;
    bool closed, stop;
    int n_threads;
    pthread_t *threads;
    cam_pool_run_fn run;
    void *ctx;
};

typedef struct { cam_pool *p; int index; } worker_arg;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *worker_main(void *arg) {
    worker_arg wa = *(worker_arg *)arg;
    free(arg);
    cam_pool *p = wa.p;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->count && !p->stop) pthread_cond_wait(&p->work, &p->mu);
        if (!p->count) break;   /* stop, and nothing left that was handed to us */
        void *job = p->ring[p->head];
        p->head = (p->head + 1) % p->capacity;
        p->count--;
        p->busy++;
        pthread_mutex_unlock(&p->mu);
        p->run(p->ctx, wa.index, job);
        pthread_mutex_lock(&p->mu);
        p->busy--;
        pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

cam_pool *cam_pool_create(int workers, int capacity, cam_pool_run_fn run, void *ctx) {
    if (workers < 1 || capacity < 1) return NULL;
    cam_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->ring = calloc((size_t)capacity, sizeof *p->ring);
    p->threads = calloc((size_t)workers, sizeof *p->threads);
    if (!p->ring || !p->threads) { free(p->ring); free(p->threads); free(p); return NULL; }
    p->capacity = capacity;
    p->run = run;
    p->ctx = ctx;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->idle, NULL);
    for (int i = 0; i < workers; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) break;
        *wa = (worker_arg){p, i};
        if (pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) { free(wa); break; }
        p->n_threads++;
    }
    if (p->n_threads != workers) { cam_pool_destroy(p); return NULL; }
    return p;
}

cam_submit cam_pool_submit(cam_pool *p, void *job, void (*on_accept)(void *job)) {
    pthread_mutex_lock(&p->mu);
    if (p->closed) { pthread_mutex_unlock(&p->mu); return CAM_SUBMIT_CLOSED; }
    if (p->count == p->capacity) { pthread_mutex_unlock(&p->mu); return CAM_SUBMIT_FULL; }
    if (on_accept) on_accept(job);
    p->ring[(p->head + p->count) % p->capacity] = job;
    p->count++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    return CAM_SUBMIT_OK;
}

void cam_pool_close(cam_pool *p) {
    pthread_mutex_lock(&p->mu);
    p->closed = true;
    pthread_mutex_unlock(&p->mu);
}

int cam_pool_cancel_queued(cam_pool *p, void (*fn)(void *job)) {
    pthread_mutex_lock(&p->mu);
    int n = p->count;
    void **jobs = n ? malloc((size_t)n * sizeof *jobs) : NULL;
    if (n && !jobs) { pthread_mutex_unlock(&p->mu); return 0; }
    for (int i = 0; i < n; i++) jobs[i] = p->ring[(p->head + i) % p->capacity];
    p->head = (p->head + n) % p->capacity;
    p->count = 0;
    pthread_cond_broadcast(&p->idle);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < n; i++) fn(jobs[i]);
    free(jobs);
    return n;
}

bool cam_pool_wait_idle(cam_pool *p, double deadline_ms) {
    pthread_mutex_lock(&p->mu);
    while (p->count || p->busy) {
        double left = deadline_ms - now_ms();
        if (left <= 0) break;
        /* the condition variable's clock is CLOCK_REALTIME: wait in short
         * slices instead of converting clocks */
        if (left > 50) left = 50;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long ns = ts.tv_nsec + (long)(left * 1e6);
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&p->idle, &p->mu, &ts);
    }
    bool idle = !p->count && !p->busy;
    pthread_mutex_unlock(&p->mu);
    return idle;
}

void cam_pool_destroy(cam_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    p->closed = true;
    p->count = 0;   /* never run what nobody cancelled: there is no one to answer it */
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->idle);
    free(p->ring);
    free(p->threads);
    free(p);
}

int cam_pool_depth(cam_pool *p) {
    pthread_mutex_lock(&p->mu);
    int n = p->count;
    pthread_mutex_unlock(&p->mu);
    return n;
}

int cam_pool_busy(cam_pool *p) {
    pthread_mutex_lock(&p->mu);
    int n = p->busy;
    pthread_mutex_unlock(&p->mu);
    return n;
}

int cam_pool_capacity(const cam_pool *p) { return p->capacity; }
int cam_pool_workers(const cam_pool *p) { return p->n_threads; }
