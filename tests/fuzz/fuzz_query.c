/* fuzz_query.c: a query string through the server's per-argument handler
 * (cam_req_query_param: "?heatmap" alone, then cam_explain_param_set for
 * every API parameter).  libmicrohttpd splits and unescapes the query in
 * the server; here the same is done the way it does it (split at '&',
 * key and value at the first '=', '+' to space, then MHD_http_unescape for
 * %XX), so the splitting itself is libmicrohttpd's code, not under test.
 * Like the server, the first failing argument ends the walk. */
#include "http.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void cam_fuzz_query_unescape(char *s) {
    for (char *p = s; *p; p++)
        if (*p == '+') *p = ' ';
    MHD_http_unescape(s);
}

int cam_fuzz_query(const uint8_t *data, size_t len) {
    char *q = malloc(len + 1);
    if (!q) return 0;
    memcpy(q, data, len);
    q[len] = 0;   /* an embedded NUL ends the query, as it would the URL */
    cam_req *r = calloc(1, sizeof *r);
    if (!r) { free(q); return 0; }
    cam_explain_params_init(&r->params);
    for (char *arg = q; arg;) {
        char *amp = strchr(arg, '&');
        if (amp) *amp++ = 0;
        if (*arg) {
            char *eq = strchr(arg, '=');
            if (eq) *eq++ = 0;
            cam_fuzz_query_unescape(arg);
            if (eq) cam_fuzz_query_unescape(eq);
            if (cam_req_query_param(r, MHD_GET_ARGUMENT_KIND, arg, eq) != MHD_YES) break;
        }
        arg = amp;
    }
    free(r);
    free(q);
    return 0;
}

#ifdef CAM_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) { return cam_fuzz_query(data, len); }
#endif
