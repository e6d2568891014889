/* repo.c: loading a model repository (every folder of --models) and the
 * metadata documents of GET /v1/models and /v1/models/{model}, built once:
 * models never change while the service runs. */
#include "repo.h"
#include "http.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cam_repo_find(const cam_repo *r, const char *name) {
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->models[i].md.name, name) == 0) return i;
    return -1;
}

/* float config values as written (123.675, not 123.67500305175781) */
static double sig7(float x) {
    char b[32];
    snprintf(b, sizeof b, "%.7g", x);
    return strtod(b, NULL);
}

static cJSON *triple(const float *v) {
    double d[3] = {sig7(v[0]), sig7(v[1]), sig7(v[2])};
    return cJSON_CreateDoubleArray(d, 3);
}

static cJSON *model_json(const cam_repo_model *m, bool is_default) {
    const cam_modeldir *md = &m->md;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", md->name);
    cJSON_AddBoolToObject(o, "default", is_default);
    cJSON *in = cJSON_AddObjectToObject(o, "input");
    cJSON_AddNumberToObject(in, "height", md->pp.height);
    cJSON_AddNumberToObject(in, "width", md->pp.width);
    cJSON_AddNumberToObject(in, "channels", 3);
    cJSON *pre = cJSON_AddObjectToObject(o, "preprocessing");
    cJSON_AddStringToObject(pre, "resize", md->pp.resize == CAM_RESIZE_SHORTER_SIDE_CROP ? "shorter-side-crop" : "stretch");
    if (md->pp.resize == CAM_RESIZE_SHORTER_SIDE_CROP) cJSON_AddNumberToObject(pre, "resize_shorter", md->pp.resize_shorter);
    cJSON_AddStringToObject(pre, "color", md->pp.bgr ? "BGR" : "RGB");
    cJSON_AddItemToObject(pre, "mean", triple(md->pp.mean));
    cJSON_AddItemToObject(pre, "std", triple(md->pp.std));
    cJSON_AddNumberToObject(o, "classes", m->classes);
    cJSON *lb = cJSON_AddObjectToObject(o, "labels");
    cJSON_AddNumberToObject(lb, "count", md->n_labels);
    /* labels.txt names the outputs; without it they are class_<i> */
    cJSON_AddBoolToObject(lb, "real", md->n_labels > 0);
    cJSON_AddNumberToObject(lb, "label_offset", md->label_offset);
    cJSON *cam = cJSON_AddObjectToObject(o, "cam");
    const cam_head_info *h = &m->head;
    cJSON_AddBoolToObject(cam, "applicable", h->kind != CAM_HEAD_NONE);
    cJSON_AddStringToObject(cam, "head", h->kind_name ? h->kind_name : "none");
    if (h->kind != CAM_HEAD_NONE) {
        cJSON_AddStringToObject(cam, "method", h->method);
        cJSON_AddStringToObject(cam, "feature_map", h->feature);
        double shape[3] = {h->channels, h->height, h->width};
        cJSON_AddItemToObject(cam, "feature_shape", cJSON_CreateDoubleArray(shape, 3));
        cJSON_AddStringToObject(cam, "pool", h->pool);
    } else {
        cJSON_AddStringToObject(cam, "reason", h->reason ? h->reason : "no global average pooling");
    }
    return o;
}

static void fail(cam_repo *r, const char *folder, const char *fmt, const char *reason) {
    cam_repo_failure *f = realloc(r->failed, (size_t)(r->n_failed + 1) * sizeof *f);
    if (!f) return;
    r->failed = f;
    f = &r->failed[r->n_failed++];
    snprintf(f->folder, sizeof f->folder, "%s", folder);
    snprintf(f->reason, sizeof f->reason, fmt, reason);
    cam_log("warn", "model %s: not loaded: %s", f->folder, f->reason);
}

static int visible(const struct dirent *d) { return d->d_name[0] != '.'; }

int cam_repo_load(cam_repo *r, const char *dir, const char *default_model) {
    memset(r, 0, sizeof *r);
    r->default_index = -1;
    struct dirent **names = NULL;
    int n = scandir(dir, &names, visible, alphasort);
    if (n < 0) {
        snprintf(r->not_ready, sizeof r->not_ready, "model repository %.400s: %s", dir, strerror(errno));
        cam_log("error", "%s", r->not_ready);
        return 0;
    }
    r->models = calloc((size_t)n + 1, sizeof *r->models);
    for (int i = 0; i < n && r->models; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) continue;   /* README.md and the like */
        double t0 = cam_now_ms();
        cam_repo_model *m = &r->models[r->n];
        char err[640] = "";
        cam_status s = cam_modeldir_read(path, &m->md, err, sizeof err);
        if (s != CAM_OK) { fail(r, names[i]->d_name, "%s", err[0] ? err : cam_status_str(s)); continue; }
        if (cam_repo_find(r, m->md.name) >= 0) {
            fail(r, names[i]->d_name, "the name '%s' is already taken by another folder", m->md.name);
            cam_modeldir_free(&m->md);
            continue;
        }
        s = cam_modeldir_load(&m->md, 1, &m->model, err, sizeof err);
        if (s != CAM_OK) {
            fail(r, names[i]->d_name, "%s", err[0] ? err : cam_status_str(s));
            cam_modeldir_free(&m->md);
            continue;
        }
        if (m->md.pp.height <= 0) {
            fail(r, names[i]->d_name, "%s", "the model's input is not an image ([N, 3, H, W] float)");
            cam_model_free(m->model);
            cam_modeldir_free(&m->md);
            continue;
        }
        cam_model_head(m->model, &m->head);
        if (m->head.kind != CAM_HEAD_NONE) m->classes = m->head.classes;
        else {
            cam_tensor_info oi;
            cam_model_output_info(m->model, 0, &oi);
            m->classes = (int)(oi.numel / (size_t)(oi.dims[0] > 0 ? oi.dims[0] : 1));
        }
        r->n++;
        if (m->head.kind != CAM_HEAD_NONE)
            cam_log("info", "model %s: loaded from %s in %.0f ms: input %dx%d, %d classes%s, %s head, %s on %s [%d,%d,%d]",
                    m->md.name, path, cam_now_ms() - t0, m->md.pp.width, m->md.pp.height, m->classes,
                    m->md.n_labels ? " (labelled)" : "", m->head.kind_name, m->head.method, m->head.feature,
                    m->head.channels, m->head.height, m->head.width);
        else
            cam_log("info", "model %s: loaded from %s in %.0f ms: input %dx%d, %d classes, scores only: %s", m->md.name,
                    path, cam_now_ms() - t0, m->md.pp.width, m->md.pp.height, m->classes,
                    m->head.reason ? m->head.reason : "CAM does not apply");
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);

    if (default_model && *default_model) {
        r->default_index = cam_repo_find(r, default_model);
        if (r->default_index < 0)
            snprintf(r->not_ready, sizeof r->not_ready, "the default model '%.100s' is not loaded", default_model);
    } else if (r->n) {
        r->default_index = 0;
    }
    if (!r->n) snprintf(r->not_ready, sizeof r->not_ready, "no model loaded from %.400s", dir);

    cJSON *list = cJSON_CreateObject();
    if (r->default_index >= 0) cJSON_AddStringToObject(list, "default", r->models[r->default_index].md.name);
    else cJSON_AddNullToObject(list, "default");
    cJSON *arr = cJSON_AddArrayToObject(list, "models");
    for (int i = 0; i < r->n; i++) {
        cJSON *o = model_json(&r->models[i], i == r->default_index);
        r->models[i].info_json = cJSON_PrintUnformatted(o);
        cJSON_AddItemToArray(arr, o);
    }
    cJSON *failed = cJSON_AddArrayToObject(list, "failed");
    for (int i = 0; i < r->n_failed; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "folder", r->failed[i].folder);
        cJSON_AddStringToObject(f, "error", r->failed[i].reason);
        cJSON_AddItemToArray(failed, f);
    }
    r->list_json = cJSON_PrintUnformatted(list);
    cJSON_Delete(list);
    return r->n;
}

void cam_repo_free(cam_repo *r) {
    for (int i = 0; i < r->n; i++) {
        cam_model_free(r->models[i].model);
        cam_modeldir_free(&r->models[i].md);
        free(r->models[i].info_json);
    }
    free(r->models);
    free(r->failed);
    free(r->list_json);
    memset(r, 0, sizeof *r);
    r->default_index = -1;
}
