/* cmd_eval.c: `camserve eval`: the localization protocol of the CAM paper
 * (Zhou et al. 2016) and MaxBoxAcc (Choe et al., CVPR 2020), DESIGN §5. */
#include "cli.h"
#include "explain.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char HELP[] =
    "usage: camserve eval --model DIR --images DIR --labels labels.csv --boxes boxes.csv\n"
    "                     [--threshold R]... [--threads T] [--limit N]\n"
    "\n"
    "Classifies every image of labels.csv, takes the CAM of its true class, and reports\n"
    "(DESIGN §5), as one JSON document on stdout:\n"
    "  top1_cls, top5_cls           classification accuracy\n"
    "  thresholds[]                 per --threshold (default 0.2): gt_known_loc (box of the\n"
    "                               true class's CAM has IoU >= 0.5 with a ground-truth box),\n"
    "                               top1_loc (and the top class is right), top5_loc (and the\n"
    "                               true class is among the top five)\n"
    "  max_box_acc                  the best gt_known_loc over thresholds 0.00..0.99\n"
    "labels.csv: image,class[,name] with dataset class indices (model index = class +\n"
    "label_offset of config.json); boxes.csv: image,x0,y0,x1,y1 in pixels of the image\n"
    "file, corners inclusive, one row per box.  --threads T evaluates T images at once.\n"
    "Bad rows and unreadable images are reported with file and line; any makes the exit\n"
    "status 1.\n";

#define MAX_THRESHOLDS 32
#define SWEEP 100   /* MaxBoxAcc thresholds 0.00 .. 0.99 */

typedef struct { double x0, y0, x1, y1; } gt_box;

typedef struct {
    char *name;
    int cls;
    int line;
    gt_box *boxes;
    int n_boxes;
} eval_item;

typedef struct {
    eval_item *items;
    int n_items;
    const char *images_dir;
    cam_modeldir *md;
    const cam_model *model;
    float thresholds[MAX_THRESHOLDS];
    int n_thresholds;
    atomic_int next, done, errors;
    /* per-item results, filled by workers */
    unsigned char *top1, *top5;             /* n_items */
    unsigned char *hit;                     /* n_items x (n_thresholds + SWEEP) */
    double t_start;
} eval_ctx;

/* ---- CSV ---------------------------------------------------------------------- */

/* Splits one CSV line into at most max fields in place (RFC 4180 quotes). */
static int csv_fields(char *line, char **f, int max) {
    int n = 0;
    char *p = line;
    while (n < max) {
        char *out = p;
        f[n++] = out;
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p) break;
                if (*p == '"' && p[1] == '"') { *out++ = '"'; p += 2; continue; }
                if (*p == '"') { p++; break; }
                *out++ = *p++;
            }
            while (*p && *p != ',') p++;
        } else {
            while (*p && *p != ',') *out++ = *p++;
        }
        char c = *p;
        *out = 0;
        if (c != ',') break;
        p++;
    }
    return n;
}

static bool to_int(const char *s, int *v) {
    char *e;
    long x = strtol(s, &e, 10);
    if (!*s || *e || x < 0 || x > 1000000) return false;
    *v = (int)x;
    return true;
}

static bool to_double(const char *s, double *v) {
    char *e;
    *v = strtod(s, &e);
    return *s && !*e && isfinite(*v);
}

static void chomp(char *s) {
    size_t l = strlen(s);
    while (l && (s[l - 1] == '\n' || s[l - 1] == '\r')) s[--l] = 0;
}

static int find_item(eval_item *items, int n, const char *name) {
    /* items are few thousand at most for a dev split; a linear scan per box row is fine
     * up to ~1e4, beyond that sort: keep it simple and bounded */
    for (int i = 0; i < n; i++) if (!strcmp(items[i].name, name)) return i;
    return -1;
}

static int read_labels(const char *path, eval_item **out, int *n_out) {
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "camserve eval: %s: %s\n", path, strerror(errno)); return -1; }
    char line[4096];
    int n = 0, cap = 0, errors = 0, lineno = 0;
    eval_item *items = NULL;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        chomp(line);
        if (!line[0]) continue;
        char *fld[4];
        int nf = csv_fields(line, fld, 4);
        if (lineno == 1 && !strcmp(fld[0], "image")) continue;   /* header */
        int cls;
        if (nf < 2 || !fld[0][0] || !to_int(fld[1], &cls)) {
            fprintf(stderr, "%s:%d: expected image,class[,name]\n", path, lineno);
            errors++;
            continue;
        }
        if (strchr(fld[0], '/') || strstr(fld[0], "..")) {
            fprintf(stderr, "%s:%d: image name must be a file name in --images\n", path, lineno);
            errors++;
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            eval_item *ni = realloc(items, (size_t)cap * sizeof *ni);
            if (!ni) { fclose(f); return -1; }
            items = ni;
        }
        items[n] = (eval_item){strdup(fld[0]), cls, lineno, NULL, 0};
        n++;
    }
    fclose(f);
    *out = items;
    *n_out = n;
    return errors;
}

static int read_boxes(const char *path, eval_item *items, int n) {
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "camserve eval: %s: %s\n", path, strerror(errno)); return -1; }
    char line[4096];
    int errors = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        chomp(line);
        if (!line[0]) continue;
        char *fld[6];
        int nf = csv_fields(line, fld, 6);
        if (lineno == 1 && !strcmp(fld[0], "image")) continue;
        gt_box b;
        if (nf != 5 || !to_double(fld[1], &b.x0) || !to_double(fld[2], &b.y0) || !to_double(fld[3], &b.x1) ||
            !to_double(fld[4], &b.y1) || b.x1 < b.x0 || b.y1 < b.y0) {
            fprintf(stderr, "%s:%d: expected image,x0,y0,x1,y1 with x0 <= x1, y0 <= y1\n", path, lineno);
            errors++;
            continue;
        }
        int i = find_item(items, n, fld[0]);
        if (i < 0) continue;   /* a box of an image not in labels.csv (e.g. --limit): not an error */
        gt_box *nb = realloc(items[i].boxes, (size_t)(items[i].n_boxes + 1) * sizeof *nb);
        if (!nb) { fclose(f); return -1; }
        items[i].boxes = nb;
        items[i].boxes[items[i].n_boxes++] = b;
    }
    fclose(f);
    return errors;
}

/* ---- metrics ------------------------------------------------------------------ */

/* IoU of boxes with inclusive pixel corners (the ImageNet convention). */
static double iou_inclusive(double ax0, double ay0, double ax1, double ay1, const gt_box *b) {
    double iw = fmin(ax1, b->x1) - fmax(ax0, b->x0) + 1, ih = fmin(ay1, b->y1) - fmax(ay0, b->y0) + 1;
    if (iw <= 0 || ih <= 0) return 0;
    double inter = iw * ih;
    double a = (ax1 - ax0 + 1) * (ay1 - ay0 + 1), bb = (b->x1 - b->x0 + 1) * (b->y1 - b->y0 + 1);
    return inter / (a + bb - inter);
}

static bool box_hits(const cam_box *box, int n_boxes, const eval_item *it) {
    if (n_boxes < 1) return false;
    for (int g = 0; g < it->n_boxes; g++)
        if (iou_inclusive(box->x0, box->y0, box->x1, box->y1, &it->boxes[g]) >= 0.5) return true;
    return false;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void progress(eval_ctx *c, bool final) {
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    if (!isatty(2)) return;
    pthread_mutex_lock(&mu);
    int done = atomic_load(&c->done);
    double el = now_s() - c->t_start, rate = el > 0 ? done / el : 0;
    int width = 30, fill = c->n_items ? done * width / c->n_items : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[width] = 0;
    double eta = rate > 0 ? (c->n_items - done) / rate : 0;
    fprintf(stderr, "\r[%s] %d/%d  %.1f img/s  ETA %.0fs ", bar, done, c->n_items, rate, eta);
    if (final) fputc('\n', stderr);
    pthread_mutex_unlock(&mu);
}

static void *worker(void *arg) {
    eval_ctx *c = arg;
    char err[1024];
    cam_session *s = NULL;
    if (cam_session_create(c->model, 1, &s, err, sizeof err) != CAM_OK) {
        fprintf(stderr, "camserve eval: %s\n", err);
        atomic_fetch_add(&c->errors, 1);
        return NULL;
    }
    cam_explain_params p;
    cam_explain_params_init(&p);
    p.overlay = false;
    float *heat = NULL;
    size_t heat_cap = 0;
    int stride = c->n_thresholds + SWEEP;
    for (;;) {
        int i = atomic_fetch_add(&c->next, 1);
        if (i >= c->n_items) break;
        eval_item *it = &c->items[i];
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", c->images_dir, it->name);
        FILE *f = fopen(path, "rb");
        uint8_t *data = NULL;
        long len = -1;
        if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && len < (256l << 20)) {
            rewind(f);
            data = malloc((size_t)len + 1);
            if (data && fread(data, 1, (size_t)len, f) != (size_t)len) { free(data); data = NULL; }
        }
        if (f) fclose(f);
        cam_explain_job job;
        int model_cls = it->cls + c->md->label_offset;
        cam_status st = CAM_EIO;
        if (!data) snprintf(err, sizeof err, "cannot read: %s", strerror(errno));
        else if (!it->n_boxes) { st = CAM_EINVAL; snprintf(err, sizeof err, "no ground-truth box in boxes.csv"); }
        else st = cam_explain_run(c->md, s, data, (size_t)len, &p, &job, err, sizeof err);
        free(data);
        if (st == CAM_OK && model_cls >= job.classes) {
            cam_explain_job_free(&job);
            st = CAM_EINVAL;
            snprintf(err, sizeof err, "class %d is not an output of the model", it->cls);
        }
        if (st != CAM_OK) {
            fprintf(stderr, "%s%s (labels line %d): %s\n", isatty(2) ? "\n" : "", path, it->line, err);
            atomic_fetch_add(&c->errors, 1);
            atomic_fetch_add(&c->done, 1);
            continue;
        }
        /* classification: the top five of the model's outputs */
        int top[5], nt = 0;
        for (int k = 0; k < job.classes; k++) {
            int pos = nt < 5 ? nt++ : 5;
            if (pos == 5 && job.probs[k] <= job.probs[top[4]]) continue;
            if (pos == 5) pos = 4;
            top[pos] = k;
            for (int q = pos; q > 0 && job.probs[top[q]] > job.probs[top[q - 1]]; q--) { int t = top[q]; top[q] = top[q - 1]; top[q - 1] = t; }
        }
        c->top1[i] = top[0] == model_cls;
        for (int k = 0; k < nt; k++) c->top5[i] |= top[k] == model_cls;
        /* localization: the true class's CAM at every threshold */
        size_t need = (size_t)job.grid_w * (size_t)job.grid_h;
        if (need > heat_cap) {
            free(heat);
            heat = malloc(need * sizeof(float));
            heat_cap = heat ? need : 0;
        }
        st = heat ? cam_explain_heat(s, &job, model_cls, heat, err, sizeof err) : CAM_ENOMEM;
        for (int t = 0; st == CAM_OK && t < stride; t++) {
            float thr = t < c->n_thresholds ? c->thresholds[t] : (float)(t - c->n_thresholds) / 100.0f;
            cam_box box;
            int nb = 0;
            st = cam_boxes(heat, job.grid_w, job.grid_h, job.info.width, job.info.height, thr, CAM_BOXES_LARGEST, 0,
                           &box, 1, &nb, err, sizeof err);
            c->hit[(size_t)i * stride + t] = st == CAM_OK && box_hits(&box, nb, it);
        }
        if (st != CAM_OK) {
            fprintf(stderr, "%s: %s\n", path, err);
            atomic_fetch_add(&c->errors, 1);
        }
        cam_explain_job_free(&job);
        atomic_fetch_add(&c->done, 1);
        progress(c, false);
    }
    free(heat);
    cam_session_free(s);
    return NULL;
}

int cam_cmd_eval(int argc, char **argv) {
    const char *dir = NULL, *images = NULL, *labels = NULL, *boxes = NULL, *v;
    int threads = 1, limit = 0;
    eval_ctx c;
    memset(&c, 0, sizeof c);
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) { fputs(HELP, stdout); return 0; }
        if (cli_flag_str(argc, argv, &i, "--model", &dir) || cli_flag_str(argc, argv, &i, "--images", &images) ||
            cli_flag_str(argc, argv, &i, "--labels", &labels) || cli_flag_str(argc, argv, &i, "--boxes", &boxes) ||
            cli_flag_int(argc, argv, &i, "--threads", &threads, 1, 64) ||
            cli_flag_int(argc, argv, &i, "--limit", &limit, 0, 1 << 30))
            continue;
        if (cli_flag_str(argc, argv, &i, "--threshold", &v)) {
            char *e;
            double t = strtod(v, &e);
            if (!*v || *e || !(t >= 0 && t <= 1)) return cli_usage_error("eval", "--threshold must be in [0, 1], not '%s'", v);
            if (c.n_thresholds == MAX_THRESHOLDS) return cli_usage_error("eval", "at most %d thresholds", MAX_THRESHOLDS);
            c.thresholds[c.n_thresholds++] = (float)t;
            continue;
        }
        return cli_usage_error("eval", "unknown argument '%s'", argv[i]);
    }
    if (!dir || !images || !labels || !boxes)
        return cli_usage_error("eval", "--model, --images, --labels and --boxes are required");
    if (!c.n_thresholds) c.thresholds[c.n_thresholds++] = 0.2f;
    int errors = read_labels(labels, &c.items, &c.n_items);
    if (errors < 0) return 1;
    if (limit && limit < c.n_items) c.n_items = limit;
    int be = read_boxes(boxes, c.items, c.n_items);
    if (be < 0) return 1;
    errors += be;
    cam_modeldir md;
    cam_model *m = cli_load_model(dir, 1, &md);
    if (!m) return 1;
    cam_head_info h;
    cam_model_head(m, &h);
    if (h.kind == CAM_HEAD_NONE) {
        fprintf(stderr, "camserve eval: CAM does not apply to %s: %s\n", md.name, h.reason);
        cam_model_free(m);
        cam_modeldir_free(&md);
        return 1;
    }
    c.images_dir = images;
    c.md = &md;
    c.model = m;
    int stride = c.n_thresholds + SWEEP;
    c.top1 = calloc((size_t)c.n_items + 1, 1);
    c.top5 = calloc((size_t)c.n_items + 1, 1);
    c.hit = calloc((size_t)c.n_items * stride + 1, 1);
    atomic_init(&c.errors, errors);
    c.t_start = now_s();
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    for (int t = 0; t < threads; t++) pthread_create(&tid[t], NULL, worker, &c);
    for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
    free(tid);
    progress(&c, true);
    /* accuracies over the images evaluated without error are not what the
     * protocol asks: the denominator is every image of labels.csv */
    int n = c.n_items;
    double top1 = 0, top5 = 0, best = 0;
    int best_t = 0;
    for (int i = 0; i < n; i++) { top1 += c.top1[i]; top5 += c.top5[i]; }
    printf("{\"model\":\"%s\",\"images\":%d,\"top1_cls\":%.4f,\"top5_cls\":%.4f,\"thresholds\":[", md.name, n,
           n ? top1 / n : 0, n ? top5 / n : 0);
    for (int t = 0; t < c.n_thresholds; t++) {
        double gk = 0, l1 = 0, l5 = 0;
        for (int i = 0; i < n; i++) {
            int hit = c.hit[(size_t)i * stride + t];
            gk += hit;
            l1 += hit && c.top1[i];
            l5 += hit && c.top5[i];
        }
        printf("%s{\"threshold\":%.2f,\"gt_known_loc\":%.4f,\"top1_loc\":%.4f,\"top5_loc\":%.4f}", t ? "," : "",
               c.thresholds[t], n ? gk / n : 0, n ? l1 / n : 0, n ? l5 / n : 0);
    }
    for (int t = 0; t < SWEEP; t++) {
        double gk = 0;
        for (int i = 0; i < n; i++) gk += c.hit[(size_t)i * stride + c.n_thresholds + t];
        if (gk > best) { best = gk; best_t = t; }
    }
    int errs = atomic_load(&c.errors);
    printf("],\"max_box_acc\":%.4f,\"max_box_acc_threshold\":%.2f,\"errors\":%d,\"seconds\":%.1f}\n", n ? best / n : 0,
           best_t / 100.0, errs, now_s() - c.t_start);
    fflush(stdout);
    if (!isatty(2))
        fprintf(stderr, "camserve eval: %d images in %.1f s, %d error%s\n", n, now_s() - c.t_start, errs, errs == 1 ? "" : "s");
    for (int i = 0; i < c.n_items; i++) { free(c.items[i].name); free(c.items[i].boxes); }
    free(c.items);
    free(c.top1);
    free(c.top5);
    free(c.hit);
    cam_model_free(m);
    cam_modeldir_free(&md);
    return errs ? 1 : 0;
}
