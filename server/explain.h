/* explain.h: one image through the whole pipeline: decode, preprocess,
 * forward, class scores, CAMs, heatmaps, boxes, overlays, JSON (DESIGN §4).
 * Shared by `camserve predict`, `camserve eval` and the HTTP service. */
#ifndef CAM_EXPLAIN_H
#define CAM_EXPLAIN_H

#include "camserve.h"
#include "modeldir.h"

#include <stdbool.h>

#define CAM_EXPLAIN_MAX_TOPK 100
#define CAM_EXPLAIN_MAX_CAMS 16
#define CAM_EXPLAIN_MAX_BOXES 16

typedef struct cam_explain_params {
    int top_k;                 /* scores returned (default 5) */
    int cam_top_k;             /* CAMs for the top classes (default 1) */
    int class_index;           /* explain this output index instead (-1: top classes) */
    float threshold;           /* box threshold, fraction of the max (default 0.2) */
    cam_boxes_mode boxes;      /* largest (default) or all */
    float min_area;            /* boxes=all: smallest component, fraction of the image (default 0.005) */
    float alpha;               /* heatmap opacity in the overlay (default 0.5) */
    cam_colormap colormap;     /* default jet */
    bool overlay;              /* return the overlay PNG (default true) */
    bool heatmap;              /* also return the normalised heatmap as gray PNG (default false) */
    int max_side;              /* longest side of returned PNGs; 0 = the image's own up to 1024 */
    bool base64;               /* embed the PNGs in the JSON as base64 (default true) */
    cam_decode_options decode; /* pixel cap */
} cam_explain_params;

void cam_explain_params_init(cam_explain_params *p);

/* Sets the parameter called `key` (the names of DESIGN §4: top_k, cam_top_k,
 * class, threshold, boxes, alpha, colormap, overlay, heatmap, max_side, and
 * min_area) from text.  1: set; 0: bad value; -1: unknown key (err says). */
int cam_explain_param_set(cam_explain_params *p, const char *key, const char *value, char *err, size_t errlen);

typedef struct cam_explain_cam {
    int index;
    cam_box boxes[CAM_EXPLAIN_MAX_BOXES];
    int n_boxes;
    uint8_t *overlay_png;      /* NULL unless requested */
    size_t overlay_len;
    uint8_t *heatmap_png;
    size_t heatmap_len;
} cam_explain_cam;

typedef struct cam_explain_result {
    int width, height;         /* the upright uploaded image */
    const char *format;
    int n_pred;
    struct { int index; float score, logit; } pred[CAM_EXPLAIN_MAX_TOPK];
    int n_cams;
    cam_explain_cam cams[CAM_EXPLAIN_MAX_CAMS];
    const char *method;        /* "cam" or "gradcam" */
    int grid_w, grid_h;        /* heatmap / overlay size */
    double ms_decode, ms_preprocess, ms_forward, ms_cam, ms_encode, ms_total;
    /* the calling thread's CPU time in the same stages (not the pool threads
     * of a forward pass with threads > 1): wall minus CPU is time spent
     * waiting for a core */
    double cpu_decode, cpu_preprocess, cpu_forward, cpu_cam, cpu_encode;
} cam_explain_result;

/* The state of one image between stages (eval reuses it for many thresholds). */
typedef struct cam_explain_job {
    cam_image img;             /* decoded (maybe DCT-reduced) upright image */
    cam_image_info info;
    cam_geometry geo;
    int grid_w, grid_h;        /* heatmap grid: overlay size */
    float *probs;              /* classes */
    const float *logits;
    int classes;
    double ms_decode, ms_preprocess, ms_forward;
    double cpu_decode, cpu_preprocess, cpu_forward;   /* the calling thread's CPU time */
} cam_explain_job;

/* decode + preprocess + forward on session s (batch 1) */
cam_status cam_explain_run(const cam_modeldir *md, cam_session *s, const void *data, size_t len,
                           const cam_explain_params *p, cam_explain_job *job, char *err, size_t errlen);
/* the normalised heatmap of output index `cls` on the job's grid (grid_w x grid_h floats) */
cam_status cam_explain_heat(cam_session *s, const cam_explain_job *job, int cls, float *heat, char *err, size_t errlen);
void cam_explain_job_free(cam_explain_job *job);

/* Everything: run, top-k, CAMs, boxes, PNGs. */
cam_status cam_explain(const cam_modeldir *md, cam_session *s, const void *data, size_t len,
                       const cam_explain_params *p, cam_explain_result *r, char *err, size_t errlen);
void cam_explain_result_free(cam_explain_result *r);

/* The response document of DESIGN §4 (malloc()ed, compact JSON). queue_ms < 0: omitted. */
char *cam_explain_json(const cam_modeldir *md, const cam_explain_params *p, const cam_explain_result *r,
                       double queue_ms);

#endif
