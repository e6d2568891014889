/* cmd_predict.c: `camserve predict`: explain photos from the command line. */
#include "cli.h"
#include "explain.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char HELP[] =
    "usage: camserve predict --model DIR [options] IMAGE...\n"
    "\n"
    "Classifies and explains each image (JPEG or PNG) and prints one JSON document per\n"
    "image per line (JSON Lines) in the response format of the HTTP API (DESIGN §4).\n"
    "\n"
    "  --top-k K          scores returned (default 5)\n"
    "  --cam-top-k C      CAMs for the C top classes (default 1)\n"
    "  --class I          explain output index I instead\n"
    "  --threshold R      box threshold, fraction of the map's max (default 0.2)\n"
    "  --boxes MODE       largest (default) or all\n"
    "  --alpha A          heatmap opacity in the overlay (default 0.5)\n"
    "  --colormap NAME    jet (default), turbo, viridis, inferno, gray\n"
    "  --max-side N       longest side of the overlay (default: the image's, up to 1024)\n"
    "  --heatmap          also write the normalised heatmap as a gray PNG\n"
    "  --out DIR          write <image name>.overlay.png (and .heatmap.png) into DIR\n"
    "  --embed-png        put the PNGs into the JSON as base64 (as the HTTP API does)\n"
    "  --threads T        threads for the forward pass (default 1)\n"
    "\n"
    "Without --out and --embed-png no overlay is rendered (the JSON still has boxes).\n";

static const char *base_name(const char *path) {
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static int write_file(const char *dir, const char *image, const char *suffix, const uint8_t *data, size_t len) {
    char path[2048];
    const char *b = base_name(image);
    int stem = (int)strcspn(b, ".");
    if (stem == 0) stem = (int)strlen(b);
    snprintf(path, sizeof path, "%s/%.*s%s", dir, stem, b, suffix);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        fprintf(stderr, "camserve predict: cannot write %s: %s\n", path, strerror(errno));
        if (f) fclose(f);
        return 1;
    }
    return fclose(f) != 0;
}

static uint8_t *read_file(const char *path, size_t limit, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
    long n = ftell(f);
    if (n < 0 || (size_t)n > limit) { fclose(f); errno = EFBIG; return NULL; }
    rewind(f);
    uint8_t *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); fclose(f); return NULL; }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int cam_cmd_predict(int argc, char **argv) {
    const char *dir = NULL, *out = NULL, *v;
    int threads = 1;
    bool embed = false;
    cam_explain_params p;
    cam_explain_params_init(&p);
    char **images = calloc((size_t)argc + 1, sizeof *images);
    int n_images = 0;
    static const char *const flags[][2] = {{"--top-k", "top_k"}, {"--cam-top-k", "cam_top_k"}, {"--class", "class"},
                                           {"--threshold", "threshold"}, {"--boxes", "boxes"}, {"--alpha", "alpha"},
                                           {"--colormap", "colormap"}, {"--max-side", "max_side"},
                                           {"--min-area", "min_area"}};
    for (int i = 0; i < argc; i++) {
        if (cli_is_help(argv[i])) { fputs(HELP, stdout); free(images); return 0; }
        if (cli_flag_str(argc, argv, &i, "--model", &dir) || cli_flag_str(argc, argv, &i, "--out", &out) ||
            cli_flag_int(argc, argv, &i, "--threads", &threads, 1, 256))
            continue;
        if (!strcmp(argv[i], "--heatmap")) { p.heatmap = true; continue; }
        if (!strcmp(argv[i], "--embed-png")) { embed = true; continue; }
        bool matched = false;
        for (size_t f = 0; f < sizeof flags / sizeof flags[0] && !matched; f++) {
            if (!cli_flag_str(argc, argv, &i, flags[f][0], &v)) continue;
            char err[256];
            if (cam_explain_param_set(&p, flags[f][1], v, err, sizeof err) != 1) {
                free(images);
                return cli_usage_error("predict", "%s", err);
            }
            matched = true;
        }
        if (matched) continue;
        if (argv[i][0] == '-' && argv[i][1]) { free(images); return cli_usage_error("predict", "unknown option '%s'", argv[i]); }
        images[n_images++] = argv[i];
    }
    if (!dir) { free(images); return cli_usage_error("predict", "--model DIR is required"); }
    if (!n_images) { free(images); return cli_usage_error("predict", "give at least one image"); }
    if (out && mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "camserve predict: cannot create %s: %s\n", out, strerror(errno));
        free(images);
        return 1;
    }
    p.overlay = out || embed;
    if (!p.overlay) p.heatmap = false;
    p.base64 = embed;
    cam_modeldir md;
    cam_model *m = cli_load_model(dir, 1, &md);
    if (!m) { free(images); return 1; }
    char err[1024];
    cam_session *s = NULL;
    if (cam_session_create(m, threads, &s, err, sizeof err) != CAM_OK) {
        fprintf(stderr, "camserve predict: %s\n", err);
        cam_model_free(m);
        cam_modeldir_free(&md);
        free(images);
        return 1;
    }
    int failures = 0;
    for (int i = 0; i < n_images; i++) {
        size_t len;
        uint8_t *data = read_file(images[i], 256u << 20, &len);
        if (!data) {
            fprintf(stderr, "camserve predict: %s: %s\n", images[i], strerror(errno));
            failures++;
            continue;
        }
        cam_explain_result r;
        cam_status st = cam_explain(&md, s, data, len, &p, &r, err, sizeof err);
        free(data);
        if (st != CAM_OK) {
            fprintf(stderr, "camserve predict: %s: %s\n", images[i], err);
            failures++;
            continue;
        }
        char *json = cam_explain_json(&md, &p, &r, -1);
        if (json) {
            /* the file this document describes, first, for JSON Lines consumers */
            printf("{\"file\":\"");
            for (const char *c = images[i]; *c; c++) {
                if (*c == '"' || *c == '\\') putchar('\\');
                if ((unsigned char)*c >= 0x20) putchar(*c);
            }
            printf("\",%s\n", json + 1);
            free(json);
        }
        fflush(stdout);
        if (out)
            for (int c = 0; c < r.n_cams; c++) {
                char suffix[64];
                const char *tag = r.n_cams > 1 ? suffix : "";
                snprintf(suffix, sizeof suffix, ".%d", r.cams[c].index);
                char name[96];
                snprintf(name, sizeof name, "%s.overlay.png", tag);
                if (r.cams[c].overlay_png) failures += write_file(out, images[i], name, r.cams[c].overlay_png, r.cams[c].overlay_len);
                snprintf(name, sizeof name, "%s.heatmap.png", tag);
                if (r.cams[c].heatmap_png) failures += write_file(out, images[i], name, r.cams[c].heatmap_png, r.cams[c].heatmap_len);
            }
        cam_explain_result_free(&r);
    }
    cam_session_free(s);
    cam_model_free(m);
    cam_modeldir_free(&md);
    free(images);
    return failures ? 1 : 0;
}
