/* cli.c: argument parsing and model loading shared by the subcommands. */
#include "cli.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool flag_value(int argc, char **argv, int *i, const char *name, const char **out, bool *missing) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    *missing = false;
    if (strncmp(a, name, n) != 0) return false;
    if (a[n] == '=') { *out = a + n + 1; return true; }
    if (a[n] != 0) return false;
    if (*i + 1 >= argc) { *missing = true; return true; }
    *out = argv[++*i];
    return true;
}

bool cli_flag_str(int argc, char **argv, int *i, const char *name, const char **out) {
    bool missing;
    if (!flag_value(argc, argv, i, name, out, &missing)) return false;
    if (missing) { fprintf(stderr, "camserve: %s needs a value\n", name); exit(2); }
    return true;
}

bool cli_flag_int(int argc, char **argv, int *i, const char *name, int *out, int lo, int hi) {
    const char *v;
    if (!cli_flag_str(argc, argv, i, name, &v)) return false;
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == 0 || *end != 0 || x < lo || x > hi) {
        fprintf(stderr, "camserve: %s must be an integer in %d..%d, not '%s'\n", name, lo, hi, v);
        exit(2);
    }
    *out = (int)x;
    return true;
}

bool cli_is_help(const char *arg) { return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0; }

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "camserve %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see camserve %s --help)\n", cmd);
    va_end(ap);
    return 2;
}

cam_model *cli_load_model(const char *dir, int batch, cam_modeldir *md) {
    char err[1024] = "";
    cam_status st = cam_modeldir_read(dir, md, err, sizeof err);
    if (st != CAM_OK) {
        fprintf(stderr, "camserve: %s\n", err[0] ? err : cam_status_str(st));
        return NULL;
    }
    cam_model *m = NULL;
    st = cam_modeldir_load(md, batch, &m, err, sizeof err);
    if (st != CAM_OK) {
        fprintf(stderr, "camserve: %s\n", err);
        cam_modeldir_free(md);
        return NULL;
    }
    return m;
}

size_t cli_peak_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) { kb = strtoull(line + 6, NULL, 10); break; }
    fclose(f);
    return kb * 1024;
}
