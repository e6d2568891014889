/* test_explain.c: the whole pipeline (server/explain.c) on the real photos
 * of ../shared/images with mobilenetv2-imagenet: the top-1 classes ONNX
 * Runtime gives, boxes inside the image, overlays of the right size that
 * decode, heat on the object rather than the background, parameters and the
 * response document of DESIGN §4. */
#include "check.h"
#include "explain.h"

#include <cjson/cJSON.h>
#include <math.h>

static cam_modeldir g_md;
static cam_model *g_model;
static cam_session *g_s;

/* models/README.md: ONNX Runtime's top-1 class for each photo */
static const struct { const char *file, *label; } photos[] = {
    {"bird.png", "chickadee"},          {"cat.png", "Egyptian cat"},
    {"dragonfly.jpg", "dragonfly"},     {"grace_hopper.jpg", "military uniform"},
    {"hot_dog.jpg", "hotdog"},          {"kite_and_cold.jpg", "seashore"},
    {"owl.jpg", "ruffed grouse"},       {"parrot.jpg", "macaw"},
    {"pets.jpg", "Italian greyhound"},  {"sunflower.png", "daisy"},
};

static cam_status explain_file(const char *name, const cam_explain_params *p, cam_explain_result *r, char *err, size_t len) {
    char path[1100];
    snprintf(path, sizeof path, "%s/images/%s", check_shared_dir(), name);
    size_t n;
    uint8_t *data = check_slurp(path, &n);
    if (!data) { snprintf(err, len, "cannot read %.200s", path); return CAM_EIO; }
    cam_status st = cam_explain(&g_md, g_s, data, n, p, r, err, len);
    free(data);
    return st;
}

TEST(ten_photos_top1_boxes_overlays) {
    if (!g_s) SKIP("mobilenetv2-imagenet not available");
    cam_explain_params p;
    cam_explain_params_init(&p);
    int right = 0;
    for (size_t i = 0; i < sizeof photos / sizeof photos[0]; i++) {
        cam_explain_result r;
        char err[512], lb[64];
        CHECK(explain_file(photos[i].file, &p, &r, err, sizeof err) == CAM_OK, "%s: %s", photos[i].file, err);
        const char *label = cam_modeldir_label(&g_md, r.pred[0].index, lb, sizeof lb);
        bool ok = strncmp(label, photos[i].label, strlen(photos[i].label)) == 0;
        right += ok;
        printf("  %-18s %-22.22s %.3f %s  box %d,%d-%d,%d of %dx%d\n", photos[i].file, label, r.pred[0].score,
               ok ? "" : "(expected " , r.cams[0].boxes[0].x0, r.cams[0].boxes[0].y0, r.cams[0].boxes[0].x1,
               r.cams[0].boxes[0].y1, r.width, r.height);
        CHECK(r.n_pred == 5 && r.n_cams == 1 && r.cams[0].index == r.pred[0].index, "top 5 and one CAM");
        for (int k = 1; k < r.n_pred; k++) CHECK(r.pred[k].score <= r.pred[k - 1].score, "sorted scores");
        CHECK(r.cams[0].n_boxes == 1, "one box (largest)");
        const cam_box *b = &r.cams[0].boxes[0];
        CHECK(b->x0 >= 0 && b->y0 >= 0 && b->x1 < r.width && b->y1 < r.height && b->x0 <= b->x1 && b->y0 <= b->y1,
              "%s: box inside the image", photos[i].file);
        /* the overlay: the image's size up to 1024 on the longest side, and a valid PNG */
        int longest = r.width > r.height ? r.width : r.height;
        int ew = longest <= 1024 ? r.width : (int)lround(r.width * 1024.0 / longest);
        int eh = longest <= 1024 ? r.height : (int)lround(r.height * 1024.0 / longest);
        cam_image ov;
        cam_image_info info;
        CHECK(r.cams[0].overlay_png != NULL, "overlay returned");
        CHECK(cam_image_decode(r.cams[0].overlay_png, r.cams[0].overlay_len, NULL, &ov, &info, err, sizeof err) == CAM_OK,
              "overlay decodes: %s", err);
        CHECK(ov.width == ew && ov.height == eh, "%s: overlay %dx%d, expected %dx%d", photos[i].file, ov.width, ov.height, ew, eh);
        cam_image_free(&ov);
        /* the JSON embeds exactly the PNG's bytes */
        char *json = cam_explain_json(&g_md, &p, &r, -1);
        cJSON *d = json ? cJSON_Parse(json) : NULL;
        const cJSON *ovj = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(d, "cams"), 0), "overlay_png");
        char *want = malloc(cam_base64_len(r.cams[0].overlay_len));
        cam_base64_encode(r.cams[0].overlay_png, r.cams[0].overlay_len, want);
        CHECK(cJSON_IsString(ovj) && strcmp(ovj->valuestring, want) == 0, "%s: overlay_png is the PNG in base64", photos[i].file);
        free(want);
        cJSON_Delete(d);
        free(json);
        cam_explain_result_free(&r);
    }
    printf("  %d of 10 top-1 classes as ONNX Runtime\n", right);
    CHECK(right >= 9, "only %d of 10 photos get ONNX Runtime's top-1 class", right);
}

/* Hand-drawn boxes around the animal's body (pixels of the photo), for
 * photos the model classifies right (the owl, taken for a ruffed grouse,
 * has its peak in the grass beside it: a wrong class explains badly). */
static const struct { const char *file; int x0, y0, x1, y1; } objects[] = {
    {"cat.png", 55, 40, 370, 340},
    {"bird.png", 35, 70, 330, 265},
    {"dragonfly.jpg", 140, 90, 380, 330},
};

TEST(heat_on_the_object_not_the_background) {
    if (!g_s) SKIP("mobilenetv2-imagenet not available");
    for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++) {
        char path[1024], err[512];
        snprintf(path, sizeof path, "%s/images/%s", check_shared_dir(), objects[i].file);
        size_t n;
        uint8_t *data = check_slurp(path, &n);
        CHECK(data, "read %s", path);
        cam_explain_params p;
        cam_explain_params_init(&p);
        cam_explain_job job;
        CHECK(cam_explain_run(&g_md, g_s, data, n, &p, &job, err, sizeof err) == CAM_OK, "%s", err);
        free(data);
        int cls = 0;
        for (int c = 0; c < job.classes; c++) if (job.probs[c] > job.probs[cls]) cls = c;
        float *heat = malloc(sizeof(float) * job.grid_w * job.grid_h);
        CHECK(cam_explain_heat(g_s, &job, cls, heat, err, sizeof err) == CAM_OK, "%s", err);
        CHECK(job.grid_w == job.info.width, "grid at image size");
        int peak = 0;
        double in = 0, out = 0;
        int nin = 0, nout = 0;
        for (int y = 0; y < job.grid_h; y++)
            for (int x = 0; x < job.grid_w; x++) {
                float v = heat[y * job.grid_w + x];
                if (v > heat[peak]) peak = y * job.grid_w + x;
                bool inside = x >= objects[i].x0 && x <= objects[i].x1 && y >= objects[i].y0 && y <= objects[i].y1;
                if (inside) { in += v; nin++; } else { out += v; nout++; }
            }
        int px = peak % job.grid_w, py = peak / job.grid_w;
        cam_box box;
        int nb;
        CHECK(cam_boxes(heat, job.grid_w, job.grid_h, job.info.width, job.info.height, 0.2f, CAM_BOXES_LARGEST, 0, &box, 1,
                        &nb, err, sizeof err) == CAM_OK && nb == 1, "box");
        cam_box obj = {objects[i].x0, objects[i].y0, objects[i].x1, objects[i].y1, 0};
        double cover = 0;
        {
            int iw = (box.x1 < obj.x1 ? box.x1 : obj.x1) - (box.x0 > obj.x0 ? box.x0 : obj.x0) + 1;
            int ih = (box.y1 < obj.y1 ? box.y1 : obj.y1) - (box.y0 > obj.y0 ? box.y0 : obj.y0) + 1;
            if (iw > 0 && ih > 0) cover = (double)iw * ih / ((obj.x1 - obj.x0 + 1.0) * (obj.y1 - obj.y0 + 1.0));
        }
        printf("  %s: peak (%d,%d), mean heat on object %.2f vs elsewhere %.2f, box covers %.0f%% of the object, IoU %.2f\n",
               objects[i].file, px, py, in / nin, out / nout, 100 * cover, cam_box_iou(&box, &obj));
        CHECK(px >= obj.x0 && px <= obj.x1 && py >= obj.y0 && py <= obj.y1, "%s: the heat peak (%d,%d) is on the object",
              objects[i].file, px, py);
        CHECK(in / nin > 1.5 * (out / nout), "%s: the object is hotter than the background (%.2f vs %.2f)", objects[i].file,
              in / nin, out / nout);
        CHECK(cover >= 0.8, "%s: the box covers the object's body (%.0f%%)", objects[i].file, 100 * cover);
        free(heat);
        cam_explain_job_free(&job);
    }
}

TEST(parameters_and_document) {
    if (!g_s) SKIP("mobilenetv2-imagenet not available");
    cam_explain_params p;
    cam_explain_params_init(&p);
    char err[256];
    CHECK(cam_explain_param_set(&p, "top_k", "3", err, sizeof err) == 1, "top_k");
    CHECK(cam_explain_param_set(&p, "cam_top_k", "2", err, sizeof err) == 1, "cam_top_k");
    CHECK(cam_explain_param_set(&p, "colormap", "viridis", err, sizeof err) == 1, "colormap");
    CHECK(cam_explain_param_set(&p, "boxes", "all", err, sizeof err) == 1, "boxes");
    CHECK(cam_explain_param_set(&p, "heatmap", "true", err, sizeof err) == 1, "heatmap");
    CHECK(cam_explain_param_set(&p, "max_side", "256", err, sizeof err) == 1, "max_side");
    CHECK(cam_explain_param_set(&p, "threshold", "1.5", err, sizeof err) == 0 && strstr(err, "threshold"), "bad threshold: %s", err);
    CHECK(cam_explain_param_set(&p, "colormap", "rainbow", err, sizeof err) == 0, "bad colormap");
    CHECK(cam_explain_param_set(&p, "nope", "1", err, sizeof err) == -1, "unknown key");
    cam_explain_result r;
    CHECK(explain_file("cat.png", &p, &r, err, sizeof err) == CAM_OK, "%s", err);
    CHECK(r.n_pred == 3 && r.n_cams == 2 && r.grid_w == 256 && r.grid_h == 171, "sizes %d %d %dx%d", r.n_pred, r.n_cams, r.grid_w, r.grid_h);
    CHECK(r.cams[1].index == r.pred[1].index && r.cams[0].heatmap_png, "second CAM is the second class; heatmap");
    char *json = cam_explain_json(&g_md, &p, &r, 1.5);
    cJSON *d = cJSON_Parse(json);
    CHECK(d, "valid JSON");
    const char *keys[] = {"model", "image", "predictions", "cams", "params", "timing_ms"};
    for (size_t k = 0; k < 6; k++) CHECK(cJSON_GetObjectItem(d, keys[k]), "key %s", keys[k]);
    cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "cams"), 0);
    CHECK(cJSON_IsString(cJSON_GetObjectItem(c0, "overlay_png")) && cJSON_IsString(cJSON_GetObjectItem(c0, "heatmap_png")), "PNGs");
    CHECK(!strcmp(cJSON_GetObjectItem(c0, "method")->valuestring, "cam"), "method");
    cJSON *pr = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "predictions"), 0);
    CHECK(!strcmp(cJSON_GetObjectItem(pr, "label")->valuestring, "Egyptian cat"), "label");
    cJSON *t = cJSON_GetObjectItem(d, "timing_ms");
    const char *stages[] = {"decode", "preprocess", "queue", "forward", "cam", "encode", "total"};
    for (size_t k = 0; k < 7; k++) CHECK(cJSON_IsNumber(cJSON_GetObjectItem(t, stages[k])), "timing %s", stages[k]);
    CHECK(!strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "params"), "colormap")->valuestring, "viridis"), "params echo");
    cJSON *b0 = cJSON_GetArrayItem(cJSON_GetObjectItem(c0, "boxes"), 0);
    CHECK(b0 && cJSON_GetObjectItem(b0, "x1")->valueint == r.cams[0].boxes[0].x1 &&
          fabs(cJSON_GetObjectItem(b0, "score")->valuedouble - r.cams[0].boxes[0].score) < 1e-5, "box fields");
    CHECK(fabs(cJSON_GetObjectItem(pr, "score")->valuedouble - r.pred[0].score) < 1e-6 * (1 + r.pred[0].score), "score");
    cJSON_Delete(d);
    free(json);
    /* labels are text from labels.txt: quotes, backslashes and control
     * characters must come out as valid JSON strings */
    char *saved = g_md.labels[r.pred[0].index];
    char odd[] = "a \"quoted\" \\ label\x01\ttab \xc3\xa9";
    g_md.labels[r.pred[0].index] = odd;
    json = cam_explain_json(&g_md, &p, &r, -1);
    g_md.labels[r.pred[0].index] = saved;
    d = json ? cJSON_Parse(json) : NULL;
    pr = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "predictions"), 0);
    CHECK(pr && !strcmp(cJSON_GetObjectItem(pr, "label")->valuestring, odd), "escaped label round-trips");
    CHECK(d && !cJSON_GetObjectItem(cJSON_GetObjectItem(d, "timing_ms"), "queue"), "no queue time outside the server");
    cJSON_Delete(d);
    free(json);
    cam_explain_result_free(&r);
    /* explicit class, out of range class, not an image */
    cam_explain_params_init(&p);
    p.class_index = 1;
    CHECK(explain_file("cat.png", &p, &r, err, sizeof err) == CAM_OK && r.cams[0].index == 1, "class 1");
    cam_explain_result_free(&r);
    p.class_index = 5000;
    CHECK(explain_file("cat.png", &p, &r, err, sizeof err) == CAM_EINVAL, "class out of range");
    CHECK(cam_explain(&g_md, g_s, "hello", 5, &p, &r, err, sizeof err) == CAM_EUNSUPPORTED, "text is not an image: %s", err);
}

int main(void) {
    char dir[1024], err[1024];
    snprintf(dir, sizeof dir, "%s/models/mobilenetv2-imagenet", check_shared_dir());
    if (cam_modeldir_read(dir, &g_md, err, sizeof err) == CAM_OK && cam_modeldir_load(&g_md, 1, &g_model, err, sizeof err) == CAM_OK)
        cam_session_create(g_model, 1, &g_s, err, sizeof err);
    else
        printf("(%s)\n", err);
    RUN(ten_photos_top1_boxes_overlays);
    RUN(heat_on_the_object_not_the_background);
    RUN(parameters_and_document);
    cam_session_free(g_s);
    cam_model_free(g_model);
    cam_modeldir_free(&g_md);
    return check_summary();
}
