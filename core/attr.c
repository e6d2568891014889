/* attr.c: typed access to a node's attributes with defaults. */
#include "internal.h"

#include <string.h>

const cam__attr *cam__attr_find(const cam__node *n, const char *name) {
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

int64_t cam__attr_int(const cam__node *n, const char *name, int64_t dflt) {
    const cam__attr *a = cam__attr_find(n, name);
    return a && a->type == CAM__ATTR_INT ? a->i : dflt;
}

float cam__attr_float(const cam__node *n, const char *name, float dflt) {
    const cam__attr *a = cam__attr_find(n, name);
    if (!a) return dflt;
    if (a->type == CAM__ATTR_FLOAT) return a->f;
    if (a->type == CAM__ATTR_INT) return (float)a->i;
    return dflt;
}

const char *cam__attr_string(const cam__node *n, const char *name, const char *dflt) {
    const cam__attr *a = cam__attr_find(n, name);
    return a && a->type == CAM__ATTR_STRING ? a->s : dflt;
}

/* Absent or mistyped lists read as empty, never NULL: callers may memcpy
 * zero elements from them. */
static const int64_t no_ints[1];
static const float no_floats[1];

int cam__attr_ints(const cam__node *n, const char *name, const int64_t **v) {
    const cam__attr *a = cam__attr_find(n, name);
    if (!a || a->type != CAM__ATTR_INTS) { *v = no_ints; return 0; }
    *v = a->ints;
    return a->n;
}

int cam__attr_floats(const cam__node *n, const char *name, const float **v) {
    const cam__attr *a = cam__attr_find(n, name);
    if (!a || a->type != CAM__ATTR_FLOATS) { *v = no_floats; return 0; }
    *v = a->floats;
    return a->n;
}
