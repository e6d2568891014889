/* explain.c: the image pipeline behind predict, eval and the HTTP routes. */
#include "explain.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* CPU time of the calling thread, ms */
static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void cam_explain_params_init(cam_explain_params *p) {
    memset(p, 0, sizeof *p);
    p->top_k = 5;
    p->cam_top_k = 1;
    p->class_index = -1;
    p->threshold = 0.2f;
    p->boxes = CAM_BOXES_LARGEST;
    p->min_area = 0.005f;
    p->alpha = 0.5f;
    p->colormap = CAM_CMAP_JET;
    p->overlay = true;
    p->heatmap = false;
    p->max_side = 0;
    p->base64 = true;
    cam_decode_options_init(&p->decode);
}

#define DEFAULT_MAX_SIDE 1024

/* The grid of the heatmap, boxes and returned PNGs: the image's own size,
 * longest side capped at max_side. */
static void grid_size(int w, int h, int max_side, int *gw, int *gh) {
    int cap = max_side > 0 ? max_side : DEFAULT_MAX_SIDE;
    int longest = w > h ? w : h;
    if (longest <= cap) { *gw = w; *gh = h; return; }
    double s = (double)cap / longest;
    *gw = w >= h ? cap : (int)lround(w * s);
    *gh = h > w ? cap : (int)lround(h * s);
    if (*gw < 1) *gw = 1;
    if (*gh < 1) *gh = 1;
}

void cam_explain_job_free(cam_explain_job *job) {
    cam_image_free(&job->img);
    free(job->probs);
    memset(job, 0, sizeof *job);
}

cam_status cam_explain_run(const cam_modeldir *md, cam_session *s, const void *data, size_t len,
                           const cam_explain_params *p, cam_explain_job *job, char *err, size_t errlen) {
    memset(job, 0, sizeof *job);
    if (md->pp.height <= 0) {
        snprintf(err, errlen, "model %s does not take an image input", md->name);
        return CAM_EUNSUPPORTED;
    }
    double t0 = now_ms(), c0 = cpu_ms();
    /* decode no larger than what the network input and the returned PNGs need */
    cam_decode_options dopt = p->decode;
    int net_long = md->pp.height > md->pp.width ? md->pp.height : md->pp.width;
    dopt.min_short = md->pp.resize == CAM_RESIZE_SHORTER_SIDE_CROP ? md->pp.resize_shorter : net_long;
    dopt.min_long = p->max_side > 0 ? p->max_side : DEFAULT_MAX_SIDE;
    if (!p->overlay && !p->heatmap && dopt.min_long > 512) dopt.min_long = 512;   /* boxes only */
    cam_status st = cam_image_decode(data, len, &dopt, &job->img, &job->info, err, errlen);
    if (st != CAM_OK) return st;
    double t1 = now_ms(), c1 = cpu_ms();
    float *x = cam_session_input(s, 0);
    st = cam_preprocess_image(&job->img, job->info.width, job->info.height, &md->pp, x, &job->geo, err, errlen);
    if (st != CAM_OK) { cam_explain_job_free(job); return st; }
    double t2 = now_ms(), c2 = cpu_ms();
    cam_session_run(s);
    double t3 = now_ms(), c3 = cpu_ms();
    const float *logits = cam_session_logits(s, 0);
    cam_head_info h;
    cam_model_head(cam_session_model(s), &h);
    cam_tensor_info oi;
    cam_model_output_info(cam_session_model(s), 0, &oi);
    int classes = h.kind != CAM_HEAD_NONE ? h.classes : (int)(oi.numel / (size_t)(oi.dims[0] > 0 ? oi.dims[0] : 1));
    if (!logits) logits = cam_session_output(s, 0);
    job->logits = logits;
    job->classes = classes;
    job->probs = malloc((size_t)classes * sizeof(float));
    if (!job->probs) { cam_explain_job_free(job); snprintf(err, errlen, "out of memory"); return CAM_ENOMEM; }
    if (h.kind != CAM_HEAD_NONE && h.softmax_output) {
        memcpy(job->probs, cam_session_output(s, 0), (size_t)classes * sizeof(float));
    } else {
        double mx = -INFINITY, z = 0;
        for (int c = 0; c < classes; c++) if (logits[c] > mx) mx = logits[c];
        for (int c = 0; c < classes; c++) z += exp(logits[c] - mx);
        for (int c = 0; c < classes; c++) job->probs[c] = (float)(exp(logits[c] - mx) / z);
    }
    grid_size(job->info.width, job->info.height, p->max_side, &job->grid_w, &job->grid_h);
    job->ms_decode = t1 - t0;
    job->ms_preprocess = t2 - t1;
    job->ms_forward = t3 - t2;
    job->cpu_decode = c1 - c0;
    job->cpu_preprocess = c2 - c1;
    job->cpu_forward = c3 - c2;
    return CAM_OK;
}

cam_status cam_explain_heat(cam_session *s, const cam_explain_job *job, int cls, float *heat, char *err, size_t errlen) {
    cam_head_info h;
    cam_model_head(cam_session_model(s), &h);
    float map[64 * 64];
    float *m = map;
    size_t hw = (size_t)h.height * (size_t)h.width;
    if (hw > sizeof map / sizeof map[0] && !(m = malloc(hw * sizeof(float)))) {
        snprintf(err, errlen, "out of memory");
        return CAM_ENOMEM;
    }
    cam_status st = cam_session_cams(s, 0, &cls, 1, CAM_METHOD_AUTO, m, err, errlen);
    if (st == CAM_OK) st = cam_heatmap(m, h.height, h.width, &job->geo, job->grid_w, job->grid_h, heat, err, errlen);
    if (m != map) free(m);
    return st;
}

static int by_prob_desc(const void *a, const void *b, void *probs) {
    const float *p = probs;
    int x = *(const int *)a, y = *(const int *)b;
    return p[x] > p[y] ? -1 : p[x] < p[y] ? 1 : x - y;
}

/* the k best classes (k small: partial selection) */
static int top_classes(const float *probs, int classes, int k, int *out) {
    if (k > classes) k = classes;
    int n = 0;
    for (int c = 0; c < classes; c++) {
        if (n < k) out[n++] = c;
        else if (probs[c] > probs[out[n - 1]]) out[n - 1] = c;
        else continue;
        for (int i = n - 1; i > 0 && by_prob_desc(&out[i], &out[i - 1], (void *)probs) < 0; i--) {
            int t = out[i]; out[i] = out[i - 1]; out[i - 1] = t;
        }
    }
    return n;
}

void cam_explain_result_free(cam_explain_result *r) {
    for (int i = 0; i < r->n_cams; i++) {
        free(r->cams[i].overlay_png);
        free(r->cams[i].heatmap_png);
    }
    memset(r, 0, sizeof *r);
}

cam_status cam_explain(const cam_modeldir *md, cam_session *s, const void *data, size_t len,
                       const cam_explain_params *p, cam_explain_result *r, char *err, size_t errlen) {
    double t0 = now_ms();
    memset(r, 0, sizeof *r);
    cam_explain_job job;
    cam_status st = cam_explain_run(md, s, data, len, p, &job, err, errlen);
    if (st != CAM_OK) return st;
    r->width = job.info.width;
    r->height = job.info.height;
    r->format = job.info.format;
    r->grid_w = job.grid_w;
    r->grid_h = job.grid_h;
    r->ms_decode = job.ms_decode;
    r->ms_preprocess = job.ms_preprocess;
    r->ms_forward = job.ms_forward;
    r->cpu_decode = job.cpu_decode;
    r->cpu_preprocess = job.cpu_preprocess;
    r->cpu_forward = job.cpu_forward;
    int top[CAM_EXPLAIN_MAX_TOPK];
    int k = p->top_k < 0 ? 0 : p->top_k > CAM_EXPLAIN_MAX_TOPK ? CAM_EXPLAIN_MAX_TOPK : p->top_k;
    int ck = p->cam_top_k < 0 ? 0 : p->cam_top_k > CAM_EXPLAIN_MAX_CAMS ? CAM_EXPLAIN_MAX_CAMS : p->cam_top_k;
    int need = k > ck ? k : ck;
    int nt = top_classes(job.probs, job.classes, need, top);
    r->n_pred = nt < k ? nt : k;
    for (int i = 0; i < r->n_pred; i++) {
        r->pred[i].index = top[i];
        r->pred[i].score = job.probs[top[i]];
        r->pred[i].logit = job.logits[top[i]];
    }
    int cams[CAM_EXPLAIN_MAX_CAMS], n_cams;
    if (p->class_index >= 0) {
        if (p->class_index >= job.classes) {
            cam_explain_job_free(&job);
            snprintf(err, errlen, "class %d out of range 0..%d", p->class_index, job.classes - 1);
            return CAM_EINVAL;
        }
        cams[0] = p->class_index;
        n_cams = 1;
    } else {
        n_cams = nt < ck ? nt : ck;
        memcpy(cams, top, (size_t)n_cams * sizeof(int));
    }
    cam_head_info h;
    cam_model_head(cam_session_model(s), &h);
    r->method = h.method;
    double t_cam = 0, t_enc = 0, u_cam = 0, u_enc = 0;   /* wall, CPU */
    size_t grid = (size_t)job.grid_w * (size_t)job.grid_h;
    float *heat = n_cams ? malloc(grid * sizeof(float)) : NULL;
    cam_image base = {0};
    if (n_cams && !heat) { st = CAM_ENOMEM; snprintf(err, errlen, "out of memory"); }
    /* the photo at grid size, under the overlays */
    if (st == CAM_OK && n_cams && p->overlay) {
        double e0 = now_ms(), f0 = cpu_ms();
        if (job.img.width == job.grid_w && job.img.height == job.grid_h) base = job.img, job.img = (cam_image){0};
        else st = cam_image_resize(&job.img, job.grid_w, job.grid_h, &base, err, errlen);
        t_enc += now_ms() - e0;
        u_enc += cpu_ms() - f0;
    }
    for (int i = 0; st == CAM_OK && i < n_cams; i++) {
        cam_explain_cam *c = &r->cams[i];
        c->index = cams[i];
        r->n_cams = i + 1;
        double c0 = now_ms(), d0 = cpu_ms();
        st = cam_explain_heat(s, &job, cams[i], heat, err, errlen);
        if (st == CAM_OK)
            st = cam_boxes(heat, job.grid_w, job.grid_h, job.info.width, job.info.height, p->threshold, p->boxes,
                           p->min_area, c->boxes, CAM_EXPLAIN_MAX_BOXES, &c->n_boxes, err, errlen);
        double c1 = now_ms(), d1 = cpu_ms();
        t_cam += c1 - c0;
        u_cam += d1 - d0;
        if (st == CAM_OK && p->overlay) {
            cam_image ov = {0};
            st = cam_overlay(&base, heat, p->colormap, p->alpha, &ov, err, errlen);
            if (st == CAM_OK) st = cam_png_encode_rgb(&ov, &c->overlay_png, &c->overlay_len, err, errlen);
            cam_image_free(&ov);
        }
        if (st == CAM_OK && p->heatmap) {
            st = cam_png_encode_gray(heat, job.grid_w, job.grid_h, &c->heatmap_png, &c->heatmap_len, err, errlen);
        }
        t_enc += now_ms() - c1;
        u_enc += cpu_ms() - d1;
    }
    free(heat);
    cam_image_free(&base);
    cam_explain_job_free(&job);
    if (st != CAM_OK) { cam_explain_result_free(r); return st; }
    r->ms_cam = t_cam;
    r->ms_encode = t_enc;
    r->cpu_cam = u_cam;
    r->cpu_encode = u_enc;
    r->ms_total = now_ms() - t0;
    return CAM_OK;
}

/* ---- JSON ------------------------------------------------------------------------- */

/* The response is written directly rather than through cJSON: the base64
 * PNGs are most of its bytes, and cJSON would copy each one, then scan it
 * for characters to escape and copy it again (a few % of a request). */
typedef struct jbuf {
    char *p;
    size_t len, cap;
    bool oom;
} jbuf;

static bool jb_reserve(jbuf *b, size_t n) {
    if (b->oom) return false;
    if (b->len + n + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) { b->oom = true; return false; }
    b->p = q;
    b->cap = cap;
    return true;
}

static void jb_raw(jbuf *b, const char *s) {
    size_t n = strlen(s);
    if (!jb_reserve(b, n)) return;
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

static void jb_fmt(jbuf *b, const char *fmt, ...) {
    char t[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t, sizeof t, fmt, ap);
    va_end(ap);
    jb_raw(b, t);
}

/* a JSON string: quotes, escapes, control characters as \u00XX */
static void jb_str(jbuf *b, const char *s) {
    if (!jb_reserve(b, 6 * strlen(s) + 2)) return;
    char *o = b->p + b->len;
    *o++ = '"';
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') { *o++ = '\\'; *o++ = (char)*c; }
        else if (*c < 0x20) o += sprintf(o, "\\u%04x", *c);
        else *o++ = (char)*c;
    }
    *o++ = '"';
    *o = 0;
    b->len = (size_t)(o - b->p);
}

/* "key":"<base64 of png>" straight into the buffer */
static void jb_b64(jbuf *b, const char *key, const uint8_t *png, size_t len) {
    jb_fmt(b, ",\"%s\":\"", key);
    if (!jb_reserve(b, cam_base64_len(len) + 1)) return;
    b->len += cam_base64_encode(png, len, b->p + b->len);
    b->p[b->len++] = '"';
    b->p[b->len] = 0;
}

/* 6 significant digits: what a client can use, without float noise;
 * JSON has no NaN or infinity */
static void jb_num6(jbuf *b, double x) { jb_fmt(b, "%.6g", isfinite(x) ? x : 0.0); }
static void jb_ms(jbuf *b, const char *key, double x) { jb_fmt(b, ",\"%s\":%.15g", key, round(x * 1000.0) / 1000.0); }

char *cam_explain_json(const cam_modeldir *md, const cam_explain_params *p, const cam_explain_result *r,
                       double queue_ms) {
    char lb[64];
    jbuf b = {0};
    size_t want = 4096 + (size_t)r->n_pred * 160;
    for (int i = 0; i < r->n_cams; i++)
        want += 256 + (size_t)r->cams[i].n_boxes * 96 + (p->base64 ? cam_base64_len(r->cams[i].overlay_len) +
                                                                         cam_base64_len(r->cams[i].heatmap_len) : 0);
    jb_reserve(&b, want);
    jb_raw(&b, "{\"model\":");
    jb_str(&b, md->name);
    jb_fmt(&b, ",\"image\":{\"width\":%d,\"height\":%d},\"predictions\":[", r->width, r->height);
    for (int i = 0; i < r->n_pred; i++) {
        jb_fmt(&b, "%s{\"index\":%d,\"label\":", i ? "," : "", r->pred[i].index);
        jb_str(&b, cam_modeldir_label(md, r->pred[i].index, lb, sizeof lb));
        jb_raw(&b, ",\"score\":");
        jb_num6(&b, r->pred[i].score);
        jb_raw(&b, ",\"logit\":");
        jb_num6(&b, r->pred[i].logit);
        jb_raw(&b, "}");
    }
    jb_raw(&b, "],\"cams\":[");
    for (int i = 0; i < r->n_cams; i++) {
        const cam_explain_cam *c = &r->cams[i];
        jb_fmt(&b, "%s{\"index\":%d,\"label\":", i ? "," : "", c->index);
        jb_str(&b, cam_modeldir_label(md, c->index, lb, sizeof lb));
        jb_raw(&b, ",\"method\":");
        jb_str(&b, r->method ? r->method : "cam");
        jb_raw(&b, ",\"boxes\":[");
        for (int k = 0; k < c->n_boxes; k++) {
            const cam_box *x = &c->boxes[k];
            jb_fmt(&b, "%s{\"x0\":%d,\"y0\":%d,\"x1\":%d,\"y1\":%d,\"score\":", k ? "," : "", x->x0, x->y0, x->x1, x->y1);
            jb_num6(&b, x->score);
            jb_raw(&b, "}");
        }
        jb_raw(&b, "]");
        if (p->base64 && c->overlay_png) jb_b64(&b, "overlay_png", c->overlay_png, c->overlay_len);
        if (p->base64 && c->heatmap_png) jb_b64(&b, "heatmap_png", c->heatmap_png, c->heatmap_len);
        jb_raw(&b, "}");
    }
    jb_raw(&b, "],\"params\":{\"threshold\":");
    jb_num6(&b, p->threshold);
    jb_fmt(&b, ",\"boxes\":\"%s\",\"alpha\":", p->boxes == CAM_BOXES_ALL ? "all" : "largest");
    jb_num6(&b, p->alpha);
    jb_raw(&b, ",\"colormap\":");
    jb_str(&b, cam_colormap_name(p->colormap));
    jb_raw(&b, "},\"timing_ms\":{");
    jb_fmt(&b, "\"decode\":%.15g", round(r->ms_decode * 1000.0) / 1000.0);
    jb_ms(&b, "preprocess", r->ms_preprocess);
    if (queue_ms >= 0) jb_ms(&b, "queue", queue_ms);
    jb_ms(&b, "forward", r->ms_forward);
    jb_ms(&b, "cam", r->ms_cam);
    jb_ms(&b, "encode", r->ms_encode);
    jb_ms(&b, "total", r->ms_total + (queue_ms > 0 ? queue_ms : 0));
    jb_raw(&b, "}}");
    if (b.oom) { free(b.p); return NULL; }
    return b.p;
}

/* ---- parameters by name (CLI flags, query strings, JSON fields) ----------------- */

static bool parse_int(const char *v, int lo, int hi, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) return false;
    *out = (int)x;
    return true;
}

static bool parse_float(const char *v, double lo, double hi, float *out) {
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end || !(x >= lo && x <= hi)) return false;
    *out = (float)x;
    return true;
}

static bool parse_bool(const char *v, bool *out) {
    if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "on")) { *out = true; return true; }
    if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "off")) { *out = false; return true; }
    return false;
}

int cam_explain_param_set(cam_explain_params *p, const char *key, const char *value, char *err, size_t errlen) {
    bool ok;
    if (!strcmp(key, "top_k")) ok = parse_int(value, 0, CAM_EXPLAIN_MAX_TOPK, &p->top_k);
    else if (!strcmp(key, "cam_top_k")) ok = parse_int(value, 0, CAM_EXPLAIN_MAX_CAMS, &p->cam_top_k);
    else if (!strcmp(key, "class")) ok = parse_int(value, 0, 1 << 24, &p->class_index);
    else if (!strcmp(key, "threshold")) ok = parse_float(value, 0.0, 1.0, &p->threshold);
    else if (!strcmp(key, "alpha")) ok = parse_float(value, 0.0, 1.0, &p->alpha);
    else if (!strcmp(key, "min_area")) ok = parse_float(value, 0.0, 1.0, &p->min_area);
    else if (!strcmp(key, "max_side")) ok = parse_int(value, 16, 4096, &p->max_side);
    else if (!strcmp(key, "overlay")) ok = parse_bool(value, &p->overlay);
    else if (!strcmp(key, "heatmap")) ok = parse_bool(value, &p->heatmap);
    else if (!strcmp(key, "colormap")) ok = cam_colormap_parse(value, &p->colormap) != 0;
    else if (!strcmp(key, "boxes")) {
        ok = !strcmp(value, "largest") || !strcmp(value, "all");
        if (ok) p->boxes = !strcmp(value, "all") ? CAM_BOXES_ALL : CAM_BOXES_LARGEST;
    } else {
        snprintf(err, errlen, "unknown parameter '%s'", key);
        return -1;
    }
    if (!ok) {
        static const char *const hints[][2] = {
            {"top_k", "an integer 0..100"}, {"cam_top_k", "an integer 0..16"}, {"class", "a class index >= 0"},
            {"threshold", "a number in [0, 1]"}, {"alpha", "a number in [0, 1]"}, {"min_area", "a number in [0, 1]"},
            {"max_side", "an integer 16..4096"}, {"overlay", "true or false"}, {"heatmap", "true or false"},
            {"colormap", "jet, turbo, viridis, inferno or gray"}, {"boxes", "largest or all"}};
        const char *hint = "valid";
        for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++) if (!strcmp(hints[i][0], key)) hint = hints[i][1];
        snprintf(err, errlen, "parameter %s='%.40s' must be %s", key, value, hint);
        return 0;
    }
    return 1;
}
