/* plan.c: the static memory plan.
 *
 * Every tensor a forward pass writes (graph inputs included) gets a fixed
 * offset in one arena per session.  Two tensors may share bytes when their
 * lifetimes, from the step that writes them to the last step that reads
 * them, do not overlap.  Placement is greedy, largest tensor first, at the
 * lowest offset that fits between the already placed tensors alive at the
 * same time: for the CNNs we run this lands within a few percent of the
 * largest set of simultaneously live tensors. */
#include "model.h"

#include <stdlib.h>
#include <string.h>

typedef struct { int v; int first, last; size_t bytes, offset; } interval;

static int by_size_desc(const void *a, const void *b) {
    const interval *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    return x->first - y->first;
}

static int by_offset(const void *a, const void *b) {
    const interval *const *x = a, *const *y = b;
    return (*x)->offset < (*y)->offset ? -1 : (*x)->offset > (*y)->offset;
}

cam_status cam__plan(cam_model *m, char *err, size_t errlen) {
    int nv = m->n_values;
    int *first = malloc(((size_t)nv + 1) * sizeof *first), *last = malloc(((size_t)nv + 1) * sizeof *last);
    interval *iv = malloc(((size_t)nv + 1) * sizeof *iv);
    interval **live = malloc(((size_t)nv + 1) * sizeof *live);
    cam_status st = CAM_OK;
    if (!first || !last || !iv || !live) { st = cam__fail(err, errlen, CAM_ENOMEM, "out of memory"); goto done; }
    for (int v = 0; v < nv; v++) first[v] = last[v] = -2;
    for (int i = 0; i < m->n_inputs; i++) first[m->inputs[i]] = last[m->inputs[i]] = -1;
    for (int s = 0; s < m->n_exec; s++) {
        const cam__node *n = &m->nodes[m->exec[s]];
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && first[n->in[k]] != -2) last[n->in[k]] = s;
        for (int k = 0; k < n->n_out; k++) {
            first[n->out[k]] = s;
            if (last[n->out[k]] < s) last[n->out[k]] = s;
        }
    }
    int count = 0;
    for (int v = 0; v < nv; v++) {
        cam__value *val = &m->values[v];
        if (first[v] == -2 || val->kind == CAM__V_CONST) continue;
        /* graph inputs live through the whole run too: the caller writes
         * them once and may run again (camserve bench does) */
        if (val->is_output || val->keep || val->kind == CAM__V_INPUT) last[v] = m->n_exec;
        size_t bytes;
        if (!cam__mul_ok(val->t.numel, cam_dtype_size(val->t.dtype), &bytes) || bytes > ((size_t)1 << 40)) {
            st = cam__fail(err, errlen, CAM_ELIMIT, "tensor '%s' is too large", val->name);
            goto done;
        }
        bytes = (bytes + CAM__ALIGN - 1) & ~(size_t)(CAM__ALIGN - 1);
        if (!bytes) bytes = CAM__ALIGN;
        val->bytes = bytes;
        iv[count++] = (interval){v, first[v], last[v], bytes, 0};
    }
    qsort(iv, (size_t)count, sizeof *iv, by_size_desc);
    size_t arena = 0;
    for (int i = 0; i < count; i++) {
        /* already placed intervals overlapping in time, by offset */
        int nl = 0;
        for (int j = 0; j < i; j++)
            if (iv[j].first <= iv[i].last && iv[i].first <= iv[j].last) live[nl++] = &iv[j];
        qsort(live, (size_t)nl, sizeof *live, by_offset);
        size_t off = 0;
        for (int j = 0; j < nl; j++) {
            if (live[j]->offset >= off + iv[i].bytes) break;   /* fits in the gap before it */
            size_t end = live[j]->offset + live[j]->bytes;
            if (end > off) off = end;
        }
        iv[i].offset = off;
        if (off + iv[i].bytes > arena) arena = off + iv[i].bytes;
        m->values[iv[i].v].offset = off;
    }
    m->arena_bytes = arena;
    size_t scratch = 0;
    for (int s = 0; s < m->n_exec; s++)
        if (m->nodes[m->exec[s]].scratch > scratch) scratch = m->nodes[m->exec[s]].scratch;
    m->scratch_bytes = (scratch + CAM__ALIGN - 1) & ~(size_t)(CAM__ALIGN - 1);
    m->stats.arena_bytes = m->arena_bytes;
    m->stats.scratch_bytes = m->scratch_bytes;
done:
    free(first);
    free(last);
    free(iv);
    free(live);
    return st;
}
