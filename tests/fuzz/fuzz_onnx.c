/* fuzz_onnx.c: the ONNX loader on arbitrary bytes.  Loads with and without
 * optimisation and, when a model loads and is small, runs it once: a
 * loaded model must be safe to run. */
#include "camserve.h"

#include <stddef.h>
#include <stdint.h>

int cam_fuzz_onnx(const uint8_t *data, size_t len) {
    char err[256];
    for (int optimize = 0; optimize <= 1; optimize++) {
        cam_model_options o;
        cam_model_options_init(&o);
        o.optimize = optimize;
        cam_model *m = NULL;
        if (cam_model_load_buffer(data, len, &o, &m, err, sizeof err) != CAM_OK) continue;
        cam_model_stats st;
        cam_model_stats_get(m, &st);
        cam_session *s = NULL;
        if (st.arena_bytes < (64u << 20) && st.flops < 1e8 &&
            cam_session_create(m, 1, &s, err, sizeof err) == CAM_OK) {
            cam_session_run(s);
            cam_session_free(s);
        }
        cam_model_free(m);
    }
    return 0;
}

#ifdef CAM_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) { return cam_fuzz_onnx(data, len); }
#endif
