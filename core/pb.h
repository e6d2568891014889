/* pb.h: a bounded reader for the protobuf wire format.  Every read checks
 * the remaining length; a malformed message makes the reader fail, never
 * read out of bounds.  Only what ONNX needs: varints, fixed32/64, length
 * delimited fields, skipping unknown fields. */
#ifndef CAM_PB_H
#define CAM_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { CAM__PB_VARINT = 0, CAM__PB_I64 = 1, CAM__PB_LEN = 2, CAM__PB_I32 = 5 };

typedef struct cam__pb {
    const uint8_t *p, *end;
} cam__pb;

static inline cam__pb cam__pb_make(const void *data, size_t len) {
    cam__pb r = {(const uint8_t *)data, (const uint8_t *)data + len};
    return r;
}
static inline bool cam__pb_done(const cam__pb *r) { return r->p >= r->end; }

bool cam__pb_varint(cam__pb *r, uint64_t *v);
/* Reads a field key; false at a malformed key (field 0, group wire types). */
bool cam__pb_key(cam__pb *r, uint32_t *field, int *wire);
/* Length-delimited payload as a sub-reader. */
bool cam__pb_len(cam__pb *r, cam__pb *sub);
bool cam__pb_fixed32(cam__pb *r, uint32_t *v);
bool cam__pb_fixed64(cam__pb *r, uint64_t *v);
bool cam__pb_skip(cam__pb *r, int wire);

/* Counts the varints in a packed payload; false if one is malformed. */
bool cam__pb_count_varints(cam__pb sub, size_t *n);

#endif
