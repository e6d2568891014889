/* static.c: files of the demo page folder (GET / and /static/...).
 *
 * The URL path arrives percent-decoded, so "%2e%2e" is already "..": the
 * checks below see what the file system would.  They refuse any ".."/"."
 * segment, backslashes (a Windows separator some clients normalise) and
 * control bytes outright; then realpath() must land inside the folder, which
 * also stops symlinks that point out of it.  Only regular files are served:
 * there are no directory listings. */
#include "http.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct { const char *ext, *type; } types[] = {
    {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},   {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"}, {"json", "application/json"},
    {"map", "application/json"},          {"txt", "text/plain; charset=utf-8"},
    {"md", "text/plain; charset=utf-8"},  {"svg", "image/svg+xml"},
    {"png", "image/png"},                 {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},               {"gif", "image/gif"},
    {"webp", "image/webp"},               {"ico", "image/x-icon"},
    {"woff", "font/woff"},                {"woff2", "font/woff2"},
    {"wasm", "application/wasm"},
};

static const char *content_type_of(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

/* 400 for a path that tries to leave the folder or is malformed, 0 if fine */
static int check_path(const char *path) {
    if (!*path) return 404;   /* the folder itself: no listing */
    const char *seg = path;
    for (const char *c = path;; c++) {
        if (*c == '\\' || ((unsigned char)*c < 0x20 && *c)) return 400;
        if (*c == '/' || !*c) {
            size_t n = (size_t)(c - seg);
            if (n == 0) return *c ? 400 : 404;                 /* "//" or a trailing "/" (a folder) */
            if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) return 400;
            if (seg[0] == '.') return 404;                     /* hidden files are not part of the page */
            if (!*c) break;
            seg = c + 1;
        }
    }
    return 0;
}

int cam_static_open(const char *root, const char *path, int *fd, uint64_t *size, const char **content_type) {
    *fd = -1;
    if (!root || !*root) return 404;
    int bad = check_path(path);
    if (bad) return bad;
    char full[PATH_MAX + 8], real[PATH_MAX];
    if ((size_t)snprintf(full, sizeof full, "%s/%s", root, path) >= sizeof full) return 404;
    if (!realpath(full, real)) return 404;
    size_t rl = strlen(root);
    if (strncmp(real, root, rl) != 0 || real[rl] != '/') return 404;   /* a symlink out of the folder */
    int f = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (f < 0) return 404;
    struct stat st;
    if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) { close(f); return 404; }
    *fd = f;
    *size = (uint64_t)st.st_size;
    *content_type = content_type_of(real);
    return 200;
}
