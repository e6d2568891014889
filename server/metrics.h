/* metrics.h: the service's Prometheus counters (GET /metrics). */
#ifndef CAM_METRICS_H
#define CAM_METRICS_H

#include <stddef.h>

/* Routes as metric labels: templates, so a label set stays small whatever
 * the URLs clients send. */
typedef enum cam_route {
    ROUTE_CAM = 0,      /* POST /v1/models/{model}/cam */
    ROUTE_CAM_DEFAULT,  /* POST /v1/cam */
    ROUTE_CLASSIFY,     /* POST /v1/models/{model}/classify */
    ROUTE_MODELS,       /* GET /v1/models */
    ROUTE_MODEL,        /* GET /v1/models/{model} */
    ROUTE_HEALTHZ,
    ROUTE_READYZ,
    ROUTE_METRICS,
    ROUTE_OPENAPI,
    ROUTE_STATIC,       /* GET / and /static/... */
    ROUTE_OTHER,        /* no route: 404 */
    ROUTE_COUNT
} cam_route;

const char *cam_route_label(cam_route r);

typedef enum cam_stage {
    STAGE_DECODE = 0, STAGE_PREPROCESS, STAGE_QUEUE, STAGE_FORWARD, STAGE_CAM, STAGE_ENCODE, STAGE_COUNT
} cam_stage;

void cam_metrics_init(void);
/* One finished request; status 499: the client went away before the answer. */
void cam_metrics_request(cam_route route, int status, double seconds);
/* Stage durations of one inference, milliseconds: wall time, and the
 * worker thread's CPU time in them (0 for the queue). */
void cam_metrics_stages(const double ms[STAGE_COUNT], const double cpu_ms[STAGE_COUNT]);
void cam_metrics_overload(void);
void cam_metrics_cancelled(void);

typedef struct cam_metrics_gauges {
    int queue_depth, queue_capacity;
    int workers_busy, workers;
    int inflight;
    int models_loaded;
    int ready, draining;
    const char *version, *blas_core;
} cam_metrics_gauges;

/* The Prometheus text exposition (malloc()ed). */
char *cam_metrics_render(const cam_metrics_gauges *g, size_t *len);

#endif
