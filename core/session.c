/* session.c: everything one thread needs to run a model: the activation
 * arena, scratch, tensor views and a thread pool.  Built once; a run is a
 * walk over the execution list with no allocation and no failure path. */
#include "model.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void cam__session_use_reference(cam_session *s, bool on) { s->reference = on; }

const cam_model *cam_session_model(const cam_session *s) { return s->m; }

void cam_session_free(cam_session *s) {
    if (!s) return;
    cam__pool_free(s->pool);
    cam__aligned_free(s->arena);
    cam__aligned_free(s->scratch);
    cam__aligned_free(s->cam_buf);
    free(s->vt);
    free(s->args);
    free(s->arg_start);
    free(s->prof_ns);
    free(s);
}

cam_status cam_session_create(const cam_model *m, int threads, cam_session **out, char *err, size_t errlen) {
    if (!m || !out) return cam__fail(err, errlen, CAM_EINVAL, "model or out is NULL");
    *out = NULL;
    if (threads < 1 || threads > 256) return cam__fail(err, errlen, CAM_EINVAL, "threads must be 1..256, not %d", threads);
    cam_session *s = calloc(1, sizeof *s);
    if (!s) return cam__fail(err, errlen, CAM_ENOMEM, "out of memory");
    s->m = m;
    size_t nargs = 0;
    for (int i = 0; i < m->n_exec; i++) nargs += (size_t)(m->nodes[m->exec[i]].n_in + m->nodes[m->exec[i]].n_out);
    s->arena = cam__aligned_alloc(m->arena_bytes ? m->arena_bytes : CAM__ALIGN);
    s->scratch = cam__aligned_alloc(m->scratch_bytes * (size_t)threads + CAM__ALIGN);
    s->vt = calloc((size_t)m->n_values + 1, sizeof *s->vt);
    s->args = calloc(nargs + 1, sizeof *s->args);
    s->arg_start = calloc((size_t)m->n_exec + 1, sizeof *s->arg_start);
    s->prof_ns = calloc((size_t)m->n_exec + 1, sizeof *s->prof_ns);
    s->cam_buf = cam__aligned_alloc((m->head.session_floats + 1) * sizeof(float));
    if (!s->arena || !s->scratch || !s->vt || !s->args || !s->arg_start || !s->prof_ns || !s->cam_buf ||
        cam__pool_create(threads, &s->pool) != CAM_OK) {
        cam_session_free(s);
        return cam__fail(err, errlen, CAM_ENOMEM, "out of memory creating a session (arena %zu bytes)", m->arena_bytes);
    }
    for (int v = 0; v < m->n_values; v++) {
        const cam__value *val = &m->values[v];
        s->vt[v] = val->t;
        if (val->kind != CAM__V_CONST) s->vt[v].data = s->arena + val->offset;
    }
    size_t a = 0;
    for (int i = 0; i < m->n_exec; i++) {
        const cam__node *n = &m->nodes[m->exec[i]];
        s->arg_start[i] = (int)a;
        for (int k = 0; k < n->n_in; k++) s->args[a++] = n->in[k] >= 0 ? &s->vt[n->in[k]] : NULL;
        for (int k = 0; k < n->n_out; k++) s->args[a++] = &s->vt[n->out[k]];
    }
    s->ctx.pool = s->pool;
    s->ctx.scratch = s->scratch;
    s->ctx.scratch_stride = m->scratch_bytes;
    *out = s;
    return CAM_OK;
}

void *cam_session_input(cam_session *s, int i) {
    if (i < 0 || i >= s->m->n_inputs) return NULL;
    return s->vt[s->m->inputs[i]].data;
}

cam_status cam_session_set_input(cam_session *s, int i, const void *data, size_t bytes, char *err, size_t errlen) {
    if (i < 0 || i >= s->m->n_inputs) return cam__fail(err, errlen, CAM_EINVAL, "no input %d", i);
    const cam__value *v = &s->m->values[s->m->inputs[i]];
    cam__tensor *t = &s->vt[s->m->inputs[i]];
    if (v->declared == CAM_INT32 && bytes == t->numel * 4) {   /* widened to int64 inside */
        const int32_t *src = data;
        for (size_t k = 0; k < t->numel; k++) cam__i64(t)[k] = src[k];
        return CAM_OK;
    }
    size_t need = t->numel * cam_dtype_size(t->dtype);
    if (bytes != need)
        return cam__fail(err, errlen, CAM_EINVAL, "input '%s' needs %zu bytes, got %zu", v->name, need, bytes);
    memcpy(t->data, data, bytes);
    return CAM_OK;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void cam_session_run(cam_session *s) {
    const cam_model *m = s->m;
    for (int i = 0; i < m->n_exec; i++) {
        const cam__node *n = &m->nodes[m->exec[i]];
        cam__tensor **a = s->args + s->arg_start[i];
        uint64_t t0 = s->profiling ? now_ns() : 0;
        (s->reference ? n->op->reference : n->op->forward)(n, (const cam__tensor *const *)a, a + n->n_in, &s->ctx);
        if (s->profiling) s->prof_ns[i] = now_ns() - t0;
    }
}

const void *cam_session_output(const cam_session *s, int i) {
    if (i < 0 || i >= s->m->n_outputs) return NULL;
    return s->vt[s->m->outputs[i]].data;
}

const void *cam_session_tensor(const cam_session *s, const char *name, cam_tensor_info *info) {
    int v = cam__model_find(s->m, name);
    if (v < 0) return NULL;
    const cam__value *val = &s->m->values[v];
    if (val->kind != CAM__V_CONST && !val->is_output && !val->keep) return NULL;
    if (val->kind == CAM__V_CONST && !val->t.data) return NULL;
    if (info) cam_model_tensor_info(s->m, name, info);
    return s->vt[v].data;
}

void cam_session_set_profiling(cam_session *s, int on) { s->profiling = on != 0; }

int cam_session_profile(const cam_session *s, int node, uint64_t *ns) {
    if (node < 0 || node >= s->m->n_exec) return 0;
    *ns = s->prof_ns[node];
    return 1;
}
