/* test_eval.c: `camserve eval` end to end (server/cmd_eval.c): the paper's
 * protocol on ../shared/ilsvrc-dev reproduces the published reference
 * numbers within 2 points, and bad input is reported with file and line. */
#include "check.h"

#include <cjson/cJSON.h>
#include <unistd.h>

/* runs cmd, stdout into out (malloc), stderr into a file; returns the exit status */
static int run(const char *cmd, char **out) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t k;
    while ((k = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    *out = buf;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(ilsvrc_dev_reference_numbers) {
    char dir[1024], cmd[4096];
    snprintf(dir, sizeof dir, "%s/ilsvrc-dev", check_shared_dir());
    if (access(dir, R_OK) != 0) SKIP("%s not found", dir);
    snprintf(cmd, sizeof cmd,
             "%s eval --model %s/models/mobilenetv2-imagenet --images %s/images --labels %s/labels.csv "
             "--boxes %s/boxes.csv --threshold 0.2 --threshold 0.5 --threads 2 2>/tmp/camserve-test-eval.err",
             check_bin(), check_shared_dir(), dir, dir, dir);
    char *out;
    int rc = run(cmd, &out);
    CHECK(rc == 0, "exit %d: %s", rc, out);
    cJSON *d = cJSON_Parse(out);
    CHECK(d, "JSON: %s", out);
    printf("  %s", out);
    double top1 = cJSON_GetObjectItem(d, "top1_cls")->valuedouble;
    cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "thresholds"), 0);
    double gk = cJSON_GetObjectItem(t0, "gt_known_loc")->valuedouble, l1 = cJSON_GetObjectItem(t0, "top1_loc")->valuedouble;
    double l5 = cJSON_GetObjectItem(t0, "top5_loc")->valuedouble, mba = cJSON_GetObjectItem(d, "max_box_acc")->valuedouble;
    CHECK(cJSON_GetObjectItem(d, "images")->valueint == 300, "300 images");
    CHECK(fabs(top1 - 0.797) <= 0.02, "top-1 classification %.3f vs 0.797", top1);
    CHECK(fabs(gk - 0.600) <= 0.02, "GT-known localization %.3f vs 0.600", gk);
    CHECK(fabs(l1 - 0.503) <= 0.02, "top-1 localization %.3f vs 0.503", l1);
    CHECK(l1 <= l5 && l5 <= gk && mba >= gk, "top1_loc <= top5_loc <= gt_known <= max_box_acc");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(d, "thresholds")) == 2, "two thresholds");
    cJSON_Delete(d);
    free(out);
}

TEST(bad_rows_and_missing_images_are_reported) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/ilsvrc-dev", check_shared_dir());
    if (access(dir, R_OK) != 0) SKIP("%s not found", dir);
    char tmp[] = "/tmp/camserve-eval-XXXXXX";
    CHECK(mkdtemp(tmp), "mkdtemp");
    char labels[1100], boxes[1100], cmd[4096];
    snprintf(labels, sizeof labels, "%s/labels.csv", tmp);
    snprintf(boxes, sizeof boxes, "%s/boxes.csv", tmp);
    FILE *f = fopen(labels, "w");
    fprintf(f, "image,class,name\nILSVRC2012_val_00000361.JPEG,300,\"tiger beetle\"\nnot_there.JPEG,1,x\nbroken row\n"
               "ILSVRC2012_val_00000363.JPEG,133,\"bittern, a bird\"\n");
    fclose(f);
    f = fopen(boxes, "w");
    fprintf(f, "image,x0,y0,x1,y1\nILSVRC2012_val_00000361.JPEG,37.68,52.68,190.23,202.28\n"
               "ILSVRC2012_val_00000363.JPEG,29.96,23.04,195.22,181.89\nnot_there.JPEG,1,1,5,5\n"
               "ILSVRC2012_val_00000363.JPEG,10,10,abc,20\n");
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s eval --model %s/models/mobilenetv2-imagenet --images %s/images --labels %s --boxes %s "
             "2>%s/err.txt", check_bin(), check_shared_dir(), dir, labels, boxes, tmp);
    char *out;
    int rc = run(cmd, &out);
    char errpath[1200];
    snprintf(errpath, sizeof errpath, "%s/err.txt", tmp);
    f = fopen(errpath, "r");
    char err[8192] = "";
    size_t n = f ? fread(err, 1, sizeof err - 1, f) : 0;
    err[n] = 0;
    if (f) fclose(f);
    CHECK(rc == 1, "non-zero exit on errors (%d)", rc);
    CHECK(strstr(err, "labels.csv:4:"), "bad label row named with its line: %s", err);
    CHECK(strstr(err, "boxes.csv:5:"), "bad box row named with its line: %s", err);
    CHECK(strstr(err, "not_there.JPEG") && strstr(err, "labels line 3"), "missing image named: %s", err);
    cJSON *d = cJSON_Parse(out);
    CHECK(d && cJSON_GetObjectItem(d, "images")->valueint == 3, "3 images listed: %s", out);
    CHECK(cJSON_GetObjectItem(d, "errors")->valueint == 3, "3 errors: %s", out);
    cJSON_Delete(d);
    free(out);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0, "cleanup");
}

int main(void) {
    RUN(ilsvrc_dev_reference_numbers);
    RUN(bad_rows_and_missing_images_are_reported);
    return check_summary();
}
