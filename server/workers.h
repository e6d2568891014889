/* workers.h: a fixed pool of inference threads behind a bounded queue.
 *
 * The queue never grows past its capacity: a submit to a full queue fails at
 * once so that the caller can answer 503 instead of letting latency grow
 * without bound.  Jobs are opaque; the pool only runs them. */
#ifndef CAM_WORKERS_H
#define CAM_WORKERS_H

#include <pthread.h>
#include <stdbool.h>

typedef struct cam_pool cam_pool;

/* run(ctx, worker index, job): the worker's whole handling of one job. */
typedef void (*cam_pool_run_fn)(void *ctx, int worker, void *job);

cam_pool *cam_pool_create(int workers, int capacity, cam_pool_run_fn run, void *ctx);

typedef enum cam_submit { CAM_SUBMIT_OK = 0, CAM_SUBMIT_FULL, CAM_SUBMIT_CLOSED } cam_submit;

/* Queues job.  on_accept(job) runs under the queue's lock just before the
 * job becomes visible to the workers: the HTTP layer suspends the
 * connection there, so that no worker can finish (and resume) it first. */
cam_submit cam_pool_submit(cam_pool *p, void *job, void (*on_accept)(void *job));

/* Refuses further submits (CAM_SUBMIT_CLOSED). */
void cam_pool_close(cam_pool *p);
/* Takes every job still waiting out of the queue and calls fn on each
 * (outside the lock); returns how many. */
int cam_pool_cancel_queued(cam_pool *p, void (*fn)(void *job));
/* Waits until the queue is empty and no worker is busy, or deadline_ms
 * (cam_now_ms clock) passes; true when idle. */
bool cam_pool_wait_idle(cam_pool *p, double deadline_ms);
/* Stops and joins the workers (after they finish what they run) and frees
 * the pool.  Jobs still queued are not run: cancel them first. */
void cam_pool_destroy(cam_pool *p);

int cam_pool_depth(cam_pool *p);
int cam_pool_busy(cam_pool *p);
int cam_pool_capacity(const cam_pool *p);
int cam_pool_workers(const cam_pool *p);

#endif
