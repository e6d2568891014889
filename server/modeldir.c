/* modeldir.c: reading a model folder's config.json and labels.txt. */
#include "modeldir.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_BYTES (1 << 20)
#define LABELS_MAX_BYTES (16 << 20)
#define LABELS_MAX (1 << 20)

static char *read_small_file(const char *path, size_t limit, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(limit + 1);
    size_t n = buf ? fread(buf, 1, limit + 1, f) : 0;
    fclose(f);
    if (!buf || n > limit) { free(buf); errno = EFBIG; return NULL; }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

#define FAIL(st, ...) do { if (err) snprintf(err, errlen, __VA_ARGS__); return st; } while (0)

static cam_status read_labels(cam_modeldir *md, const char *file, char *err, size_t errlen) {
    char path[1400];
    if (strstr(file, "..") || file[0] == '/') FAIL(CAM_EFORMAT, "config.json: \"labels\" must be a file inside the folder");
    if (errlen > 512) errlen = 512;   /* messages below quote the path: keep them bounded */
    snprintf(path, sizeof path, "%s/%s", md->dir, file);
    size_t len;
    char *text = read_small_file(path, LABELS_MAX_BYTES, &len);
    if (!text) FAIL(CAM_EIO, "%.400s: %s", path, strerror(errno));
    int n = 0;
    for (size_t i = 0; i < len; i++) n += text[i] == '\n';
    if (len && text[len - 1] != '\n') n++;
    if (n > LABELS_MAX) { free(text); FAIL(CAM_ELIMIT, "%.400s: too many lines", path); }
    md->labels = calloc((size_t)n + 1, sizeof *md->labels);
    if (!md->labels) { free(text); FAIL(CAM_ENOMEM, "out of memory"); }
    char *p = text;
    for (int i = 0; i < n; i++) {
        char *e = strchr(p, '\n');
        if (e) *e = 0;
        size_t l = strlen(p);
        if (l && p[l - 1] == '\r') p[--l] = 0;
        md->labels[i] = strdup(p);
        if (!md->labels[i]) { free(text); FAIL(CAM_ENOMEM, "out of memory"); }
        md->n_labels = i + 1;
        p = e ? e + 1 : p + l;
    }
    free(text);
    return CAM_OK;
}

static cam_status read_triple(const cJSON *a, const char *key, float *out, char *err, size_t errlen) {
    if (!a) return CAM_OK;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 3) FAIL(CAM_EFORMAT, "config.json: input.%s must be 3 numbers", key);
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(v)) FAIL(CAM_EFORMAT, "config.json: input.%s must be 3 numbers", key);
        out[i] = (float)v->valuedouble;
    }
    return CAM_OK;
}

static cam_status parse_config(cam_modeldir *md, const cJSON *root, char *err, size_t errlen) {
    cam_status st;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (name) {
        if (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) >= sizeof md->name ||
            strpbrk(name->valuestring, "/?#% \t\r\n\\"))
            FAIL(CAM_EFORMAT, "config.json: \"name\" must be a short URL-safe string");
        snprintf(md->name, sizeof md->name, "%s", name->valuestring);
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model) {
        if (!cJSON_IsString(model) || strstr(model->valuestring, "..") || model->valuestring[0] == '/')
            FAIL(CAM_EFORMAT, "config.json: \"model\" must be a file inside the folder");
        snprintf(md->model_path, sizeof md->model_path, "%s/%s", md->dir, model->valuestring);
    }
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(root, "labels");
    if (labels) {
        if (!cJSON_IsString(labels)) FAIL(CAM_EFORMAT, "config.json: \"labels\" must be a file name");
        if ((st = read_labels(md, labels->valuestring, err, errlen)) != CAM_OK) return st;
    }
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(root, "label_offset");
    if (off) {
        if (!cJSON_IsNumber(off) || off->valuedouble < 0 || off->valuedouble > 1000000 || off->valuedouble != (int)off->valuedouble)
            FAIL(CAM_EFORMAT, "config.json: label_offset must be a non-negative integer");
        md->label_offset = (int)off->valuedouble;
    }
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    if (input && !cJSON_IsObject(input)) FAIL(CAM_EFORMAT, "config.json: \"input\" must be an object");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(input, "size");
    if (size) {
        if (!cJSON_IsArray(size) || cJSON_GetArraySize(size) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(size, 0)) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(size, 1)))
            FAIL(CAM_EFORMAT, "config.json: input.size must be [height, width]");
        double h = cJSON_GetArrayItem(size, 0)->valuedouble, w = cJSON_GetArrayItem(size, 1)->valuedouble;
        if (h < 1 || w < 1 || h > 8192 || w > 8192) FAIL(CAM_EFORMAT, "config.json: input.size out of range");
        md->input_h = (int)h;
        md->input_w = (int)w;
    }
    const cJSON *resize = cJSON_GetObjectItemCaseSensitive(input, "resize");
    if (resize) {
        if (cJSON_IsString(resize) && strcmp(resize->valuestring, "stretch") == 0) md->pp.resize = CAM_RESIZE_STRETCH;
        else if (cJSON_IsString(resize) && strcmp(resize->valuestring, "shorter-side-crop") == 0)
            md->pp.resize = CAM_RESIZE_SHORTER_SIDE_CROP;
        else FAIL(CAM_EFORMAT, "config.json: input.resize must be \"stretch\" or \"shorter-side-crop\"");
    }
    const cJSON *shorter = cJSON_GetObjectItemCaseSensitive(input, "resize_shorter");
    if (shorter) {
        if (!cJSON_IsNumber(shorter) || shorter->valuedouble < 1 || shorter->valuedouble > 8192)
            FAIL(CAM_EFORMAT, "config.json: input.resize_shorter out of range");
        md->pp.resize_shorter = (int)shorter->valuedouble;
    }
    const cJSON *color = cJSON_GetObjectItemCaseSensitive(input, "color");
    if (color) {
        if (cJSON_IsString(color) && strcmp(color->valuestring, "RGB") == 0) md->pp.bgr = 0;
        else if (cJSON_IsString(color) && strcmp(color->valuestring, "BGR") == 0) md->pp.bgr = 1;
        else FAIL(CAM_EFORMAT, "config.json: input.color must be \"RGB\" or \"BGR\"");
    }
    if ((st = read_triple(cJSON_GetObjectItemCaseSensitive(input, "mean"), "mean", md->pp.mean, err, errlen)) != CAM_OK) return st;
    if ((st = read_triple(cJSON_GetObjectItemCaseSensitive(input, "std"), "std", md->pp.std, err, errlen)) != CAM_OK) return st;
    for (int i = 0; i < 3; i++)
        if (md->pp.std[i] == 0) FAIL(CAM_EFORMAT, "config.json: input.std must not contain 0");
    const cJSON *cam = cJSON_GetObjectItemCaseSensitive(root, "cam");
    const cJSON *layer = cJSON_GetObjectItemCaseSensitive(cam, "layer");
    if (layer) {
        if (!cJSON_IsString(layer) || strlen(layer->valuestring) >= sizeof md->cam_layer)
            FAIL(CAM_EFORMAT, "config.json: cam.layer must be a tensor name");
        snprintf(md->cam_layer, sizeof md->cam_layer, "%s", layer->valuestring);
    }
    return CAM_OK;
}

cam_status cam_modeldir_read(const char *dir, cam_modeldir *md, char *err, size_t errlen) {
    memset(md, 0, sizeof *md);
    md->pp.resize = CAM_RESIZE_STRETCH;
    md->pp.resize_shorter = 256;
    for (int i = 0; i < 3; i++) { md->pp.mean[i] = 0.0f; md->pp.std[i] = 1.0f; }
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--;
    if (dl >= sizeof md->dir) FAIL(CAM_EINVAL, "model folder path too long");
    memcpy(md->dir, dir, dl);
    const char *base = strrchr(md->dir, '/');
    snprintf(md->name, sizeof md->name, "%.127s", base ? base + 1 : md->dir);
    snprintf(md->model_path, sizeof md->model_path, "%s/model.onnx", md->dir);

    char path[1280];
    snprintf(path, sizeof path, "%s/config.json", md->dir);
    size_t len;
    char *text = read_small_file(path, CONFIG_MAX_BYTES, &len);
    if (!text) {
        if (errno == ENOENT) return CAM_OK;   /* config.json is optional */
        FAIL(CAM_EIO, "%s: %s", path, strerror(errno));
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        FAIL(CAM_EFORMAT, "%s: not a JSON object", path);
    }
    char inner[512] = "";
    cam_status st = parse_config(md, root, inner, sizeof inner);
    cJSON_Delete(root);
    if (st != CAM_OK) {
        cam_modeldir_free(md);
        FAIL(st, "%s: %s", md->dir, inner);
    }
    return CAM_OK;
}

cam_status cam_modeldir_load(cam_modeldir *md, int batch, cam_model **out, char *err, size_t errlen) {
    cam_model_options opt;
    cam_model_options_init(&opt);
    opt.batch = batch;
    opt.input_h = md->input_h;
    opt.input_w = md->input_w;
    opt.cam_layer = md->cam_layer[0] ? md->cam_layer : NULL;
    cam_status st = cam_model_load(md->model_path, &opt, out, err, errlen);
    if (st != CAM_OK) return st;
    cam_tensor_info ii;
    cam_model_input_info(*out, 0, &ii);
    if (ii.rank != 4 || ii.dims[1] != 3 || ii.dtype != CAM_FLOAT) return CAM_OK;   /* not an image model: pp.height stays 0 */
    md->pp.height = (int)ii.dims[2];
    md->pp.width = (int)ii.dims[3];
    if (md->pp.resize == CAM_RESIZE_SHORTER_SIDE_CROP && md->pp.resize_shorter < md->pp.height)
        md->pp.resize_shorter = md->pp.height > md->pp.width ? md->pp.height : md->pp.width;
    return CAM_OK;
}

void cam_modeldir_free(cam_modeldir *md) {
    for (int i = 0; i < md->n_labels; i++) free(md->labels[i]);
    free(md->labels);
    md->labels = NULL;
    md->n_labels = 0;
}

const char *cam_modeldir_label(const cam_modeldir *md, int i, char *buf, size_t len) {
    if (i >= 0 && i < md->n_labels) return md->labels[i];
    snprintf(buf, len, "class_%d", i);
    return buf;
}
