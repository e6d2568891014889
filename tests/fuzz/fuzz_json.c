/* fuzz_json.c: a JSON request body {"image": "<base64>", ...parameters}
 * through the server's own path: cam_body_feed (stored as it arrives),
 * cam_body_finish, then cam_body_json (cJSON, the parameters applied one
 * by one, the data: URL prefix, the base64 decoder).  A decoded image must
 * be exactly as long as it says: every byte is read. */
#include "http.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int cam_fuzz_json(const uint8_t *data, size_t len) {
    cam_req *r = calloc(1, sizeof *r);
    if (!r) return 0;
    r->limit = 1u << 20;
    r->body = BODY_JSON;
    cam_explain_params_init(&r->params);
    /* the server feeds only non-empty upload chunks */
    if (cam_body_begin(r, NULL) && (len == 0 || cam_body_feed(r, (const char *)data, len)) && cam_body_finish(r) &&
        cam_body_json(r)) {
        volatile unsigned sum = 0;
        for (size_t i = 0; i < r->len; i++) sum += r->buf[i];
        (void)sum;
    }
    cam_body_free(r);
    free(r);
    return 0;
}

#ifdef CAM_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) { return cam_fuzz_json(data, len); }
#endif
