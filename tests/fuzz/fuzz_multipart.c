/* fuzz_multipart.c: a multipart/form-data body through the server's own
 * body path (cam_body_begin / cam_body_feed / cam_body_finish, which drive
 * libmicrohttpd's post processor and the form-field callback that fills
 * the image buffer and the parameter table).
 *
 * Input: the Content-Type value up to the first '\n' (so the boundary,
 * its quoting and the media-type parameters are fuzzed too), then the
 * body.  The body is fed once whole and once in small uneven chunks, as a
 * slow client sends it: fields split across calls are where the
 * continuation logic lives.
 *
 * MHD_create_post_processor reads the Content-Type from a live connection;
 * there is none here, so this file defines MHD_lookup_connection_value_n
 * (the executable's definition wins over libmicrohttpd's, whose internal
 * call goes through the PLT) to answer from the input instead.  Only the
 * Content-Type header is supplied; any other lookup finds nothing. */
#include "http.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *cam_fuzz_mp_ct;   /* the Content-Type of the current input */

enum MHD_Result MHD_lookup_connection_value_n(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                                              const char *key, size_t key_size, const char **value_ptr,
                                              size_t *value_size_ptr) {
    (void)connection;
    if (!cam_fuzz_mp_ct || !(kind & MHD_HEADER_KIND) || !key ||
        strlen(MHD_HTTP_HEADER_CONTENT_TYPE) != key_size || strncasecmp(key, MHD_HTTP_HEADER_CONTENT_TYPE, key_size))
        return MHD_NO;
    if (value_ptr) *value_ptr = cam_fuzz_mp_ct;
    if (value_size_ptr) *value_size_ptr = strlen(cam_fuzz_mp_ct);
    return MHD_YES;
}

static void cam_fuzz_mp_run(const char *body, size_t len, size_t chunk) {
    static char fake_conn;   /* never dereferenced: only the lookup above sees it */
    cam_req *r = calloc(1, sizeof *r);
    if (!r) return;
    r->conn = (struct MHD_Connection *)&fake_conn;
    r->limit = 1u << 20;
    r->body = BODY_MULTIPART;
    cam_explain_params_init(&r->params);
    if (cam_body_begin(r, NULL)) {
        for (size_t off = 0; off < len;) {
            size_t n = len - off < chunk ? len - off : chunk;
            if (!cam_body_feed(r, body + off, n)) break;
            off += n;
            chunk = chunk * 5 % 13 + 1;   /* uneven: 1..13 bytes */
        }
        if (cam_body_finish(r)) {
            /* the image is r->len bytes: every one must be readable */
            volatile unsigned sum = 0;
            for (size_t i = 0; i < r->len; i++) sum += r->buf[i];
            (void)sum;
        }
    }
    cam_body_free(r);
    free(r);
}

int cam_fuzz_multipart(const uint8_t *data, size_t len) {
    const uint8_t *nl = memchr(data, '\n', len);
    size_t ct_len = nl ? (size_t)(nl - data) : len;
    char *ct = malloc(ct_len + 1);
    if (!ct) return 0;
    memcpy(ct, data, ct_len);
    ct[ct_len] = 0;
    const char *body = nl ? (const char *)nl + 1 : "";
    size_t body_len = nl ? len - ct_len - 1 : 0;
    if (cam_body_kind_of(ct) == BODY_MULTIPART) {   /* as the server checks before cam_body_begin */
        cam_fuzz_mp_ct = ct;
        cam_fuzz_mp_run(body, body_len, body_len ? body_len : 1);
        cam_fuzz_mp_run(body, body_len, 3);
        cam_fuzz_mp_ct = NULL;
    }
    free(ct);
    return 0;
}

#ifdef CAM_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) { return cam_fuzz_multipart(data, len); }
#endif
