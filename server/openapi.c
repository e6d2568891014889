/* openapi.c: GET /openapi.json.  The document is server/openapi.json, kept
 * as plain JSON so that it can be read, linted and diffed, and embedded in
 * the binary by the assembler (the service needs no data files at run
 * time).  tests/test_http.c checks it against what the server does. */
#include "http.h"

__asm__(".section .rodata\n"
        ".balign 16\n"
        "cam__openapi_start:\n"
        ".incbin \"server/openapi.json\"\n"
        "cam__openapi_end:\n"
        ".byte 0\n"
        ".previous\n");

extern const char cam__openapi_start[], cam__openapi_end[];

const char *cam_openapi_json(size_t *len) {
    *len = (size_t)(cam__openapi_end - cam__openapi_start);
    return cam__openapi_start;
}
