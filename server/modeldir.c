/* modeldir.c: reading a model folder's config.json (see modeldir.h). */
#include "modeldir.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_BYTES (1 << 20)

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

cam_status cam_modeldir_read(const char *dir, cam_modeldir *md, char *err, size_t errlen) {
    memset(md, 0, sizeof *md);
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--;
    if (dl >= sizeof md->dir) return CAM_EINVAL;
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
        if (err) snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return CAM_EIO;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        if (err) snprintf(err, errlen, "%s: not a JSON object", path);
        return CAM_EFORMAT;
    }
    cam_status st = CAM_OK;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (cJSON_IsString(name) && name->valuestring[0]) snprintf(md->name, sizeof md->name, "%.127s", name->valuestring);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (cJSON_IsString(model)) {
        if (strstr(model->valuestring, "..") || model->valuestring[0] == '/') {
            if (err) snprintf(err, errlen, "%s: \"model\" must be a file inside the folder", path);
            st = CAM_EFORMAT;
        } else {
            snprintf(md->model_path, sizeof md->model_path, "%s/%s", md->dir, model->valuestring);
        }
    }
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(input, "size");
    if (size) {
        if (!cJSON_IsArray(size) || cJSON_GetArraySize(size) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(size, 0)) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(size, 1))) {
            if (err) snprintf(err, errlen, "%s: input.size must be [height, width]", path);
            st = CAM_EFORMAT;
        } else {
            double h = cJSON_GetArrayItem(size, 0)->valuedouble, w = cJSON_GetArrayItem(size, 1)->valuedouble;
            if (h < 1 || w < 1 || h > 8192 || w > 8192) {
                if (err) snprintf(err, errlen, "%s: input.size out of range", path);
                st = CAM_EFORMAT;
            }
            md->input_h = (int)h;
            md->input_w = (int)w;
        }
    }
    cJSON_Delete(root);
    return st;
}
