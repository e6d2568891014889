/* test_fuzz_replay.c: every file of the committed fuzz corpora (seeds and
 * inputs that once crashed) through the fuzz targets, under the normal
 * compiler, so that regressions show up in `make test`. */
#include "check.h"

#include <dirent.h>
#include <stdint.h>

#include "fuzz/fuzz_onnx.c"
#include "fuzz/fuzz_image.c"
#include "fuzz/fuzz_multipart.c"
#include "fuzz/fuzz_json.c"
#include "fuzz/fuzz_query.c"
#include "fuzz/fuzz_render.c"

typedef int (*target_fn)(const uint8_t *, size_t);
static const struct { const char *dir; target_fn fn; } targets[] = {
    {"tests/fuzz/corpus/onnx", cam_fuzz_onnx},
    {"tests/fuzz/corpus/image", cam_fuzz_image},
    {"tests/fuzz/corpus/multipart", cam_fuzz_multipart},
    {"tests/fuzz/corpus/json", cam_fuzz_json},
    {"tests/fuzz/corpus/query", cam_fuzz_query},
    {"tests/fuzz/corpus/render", cam_fuzz_render},
};

static const char *g_dir;
static target_fn g_fn;

TEST(replay_corpus) {
    DIR *d = opendir(g_dir);
    CHECK(d != NULL, "no corpus folder %s", g_dir);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", g_dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        uint8_t *buf = malloc(1 << 22);
        size_t n = fread(buf, 1, 1 << 22, f);
        fclose(f);
        g_fn(buf, n);
        free(buf);
        files++;
    }
    closedir(d);
    CHECK(files > 0, "empty corpus %s", g_dir);
    printf("  %s: %d files\n", g_dir, files);
}

int main(void) {
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        g_dir = targets[i].dir;
        g_fn = targets[i].fn;
        char label[256];
        snprintf(label, sizeof label, "fuzz_replay/%s", g_dir + strlen("tests/fuzz/corpus/"));
        check_run(label, replay_corpus);
    }
    return check_summary();
}
