/* plan.c: the static memory plan.
 *
 * Every tensor a forward pass writes (graph inputs included) gets a fixed
 * offset in one arena per session.  Two tensors may share bytes when their
 * lifetimes, from the step that writes them to the last step that reads
 * them, do not overlap.  Placement is greedy, largest tensor first, at the
 * lowest offset that fits between the already placed tensors alive at the
 * same time: for the CNNs we run this lands within a few percent of the
 * largest set of simultaneously live tensors.
 *
 * Concatenations are planned in place when they can be (optimised graphs;
 * concat along the channels of one image, each input read only by the
 * Concat and produced by another node that is not itself such a Concat):
 * each input then lives inside the output at its offset, from the step
 * that writes it, and the Concat copies nothing.  SqueezeNet's fire
 * modules and GoogLeNet's inception blocks end in one; the copies were
 * 2-3% of SqueezeNet's forward time. */
#include "model.h"
#include "ops/shape.h"

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

#define CONCAT_MAX_IN 64

/* Finds the Concats that can be planned in place (see the top), marks
 * them, records alias[v] / alias_off[v] for their inputs and extends each
 * output's lifetime back to its earliest input (first[]). */
static void plan_concats(cam_model *m, int *first, int *alias, size_t *alias_off) {
    for (int s = 0; s < m->n_exec; s++) {
        cam__node *n = &m->nodes[m->exec[s]];
        if (strcmp(n->op_type, "Concat") != 0 || n->n_in < 1 || n->n_in > CONCAT_MAX_IN || n->n_out != 1) continue;
        int y = n->out[0];
        const cam__tensor *in[CONCAT_MAX_IN];
        size_t off[CONCAT_MAX_IN];
        bool ok = m->values[y].kind == CAM__V_ACT && m->values[y].t.dtype == CAM_FLOAT;
        for (int k = 0; k < n->n_in && ok; k++) {
            int v = n->in[k];
            const cam__value *x = v >= 0 ? &m->values[v] : NULL;
            ok = x && x->kind == CAM__V_ACT && !x->is_output && !x->keep && x->n_uses == 1 && alias[v] < 0 &&
                 x->producer >= 0 && first[v] >= 0 && x->t.dtype == CAM_FLOAT &&
                 strcmp(m->nodes[x->producer].op_type, "Concat") != 0 &&
                 m->nodes[x->producer].n_out == 1;
            for (int q = 0; q < k && ok; q++) ok = n->in[q] != v;   /* the same tensor twice */
            if (ok) in[k] = &x->t;
        }
        if (!ok || !cam__concat_can_alias(n, in, &m->values[y].t, off)) continue;
        for (int k = 0; k < n->n_in && ok; k++) ok = off[k] % CAM__ALIGN == 0;   /* kernels may assume aligned rows */
        if (!ok) continue;
        for (int k = 0; k < n->n_in; k++) {
            alias[n->in[k]] = y;
            alias_off[n->in[k]] = off[k];
            if (first[n->in[k]] < first[y]) first[y] = first[n->in[k]];
        }
        cam__concat_set_aliased(n);
    }
}

cam_status cam__plan(cam_model *m, char *err, size_t errlen) {
    int nv = m->n_values;
    int *first = malloc(((size_t)nv + 1) * sizeof *first), *last = malloc(((size_t)nv + 1) * sizeof *last);
    interval *iv = malloc(((size_t)nv + 1) * sizeof *iv);
    interval **live = malloc(((size_t)nv + 1) * sizeof *live);
    int *alias = malloc(((size_t)nv + 1) * sizeof *alias);
    size_t *alias_off = malloc(((size_t)nv + 1) * sizeof *alias_off);
    cam_status st = CAM_OK;
    if (!first || !last || !iv || !live || !alias || !alias_off) { st = cam__fail(err, errlen, CAM_ENOMEM, "out of memory"); goto done; }
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
    /* in-place concatenations: alias[v] = the Concat output holding v */
    for (int v = 0; v < nv; v++) alias[v] = -1;
    if (m->opt.optimize) plan_concats(m, first, alias, alias_off);
    int count = 0;
    for (int v = 0; v < nv; v++) {
        cam__value *val = &m->values[v];
        if (first[v] == -2 || val->kind == CAM__V_CONST) continue;
        if (alias[v] >= 0) {   /* placed with its Concat's output below */
            val->bytes = val->t.numel * cam_dtype_size(val->t.dtype);
            continue;
        }
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
    for (int v = 0; v < nv; v++)
        if (alias[v] >= 0) m->values[v].offset = m->values[alias[v]].offset + alias_off[v];
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
    free(alias);
    free(alias_off);
    return st;
}
