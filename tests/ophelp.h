/* ophelp.h: build one operator node by hand and run its check, shape,
 * forward and reference functions, for the operator unit tests.
 *
 *   oph h; oph_init(&h, "Conv", 13);
 *   oph_attr_ints(&h, "strides", (int64_t[]){2, 2}, 2);
 *   oph_input_rand(&h, 4, (int64_t[]){1, 8, 9, 9}, seed);      // activation
 *   oph_input_const_f32(&h, 4, dims, data);                    // constant (data copied)
 *   oph_input_none(&h);                                        // absent optional input
 *   CHECK(oph_prepare(&h, 1) == CAM_OK, "%s", h.err);          // 1 output
 *   CHECK(oph_compare(&h, 2) <= 1e-5, ...);                    // forward (2 threads) vs reference
 *   oph_free(&h);
 */
#ifndef CAM_OPHELP_H
#define CAM_OPHELP_H

#include "check.h"
#include "internal.h"

#define OPH_MAX_IN 16
#define OPH_MAX_OUT 8

typedef struct oph {
    cam__node node;
    cam__attr attrs[32];
    int in_idx[OPH_MAX_IN], out_idx[OPH_MAX_OUT];
    cam__tensor in_t[OPH_MAX_IN];
    cam__tensor *in[OPH_MAX_IN];
    cam__tensor out_fwd[OPH_MAX_OUT], out_ref[OPH_MAX_OUT];
    cam__tensor *pout_fwd[OPH_MAX_OUT], *pout_ref[OPH_MAX_OUT];
    char err[256];
    bool prepared;
} oph;

static inline void oph_init(oph *h, const char *op, int64_t opset) {
    memset(h, 0, sizeof *h);
    h->node.op_type = (char *)op;
    h->node.name = (char *)"test_node";
    h->node.domain = (char *)"";
    h->node.opset = opset;
    h->node.attrs = h->attrs;
    h->node.in = h->in_idx;
    h->node.out = h->out_idx;
}

static inline cam__attr *oph_attr(oph *h, const char *name, cam__attr_type t) {
    cam__attr *a = &h->attrs[h->node.n_attrs++];
    a->name = (char *)name;
    a->type = t;
    return a;
}
static inline void oph_attr_int(oph *h, const char *name, int64_t v) { oph_attr(h, name, CAM__ATTR_INT)->i = v; }
static inline void oph_attr_float(oph *h, const char *name, float v) { oph_attr(h, name, CAM__ATTR_FLOAT)->f = v; }
static inline void oph_attr_string(oph *h, const char *name, const char *v) { oph_attr(h, name, CAM__ATTR_STRING)->s = (char *)v; }
static inline void oph_attr_ints(oph *h, const char *name, const int64_t *v, int n) {
    cam__attr *a = oph_attr(h, name, CAM__ATTR_INTS);
    a->ints = (int64_t *)v;
    a->n = n;
}
static inline void oph_attr_floats(oph *h, const char *name, const float *v, int n) {
    cam__attr *a = oph_attr(h, name, CAM__ATTR_FLOATS);
    a->floats = (float *)v;
    a->n = n;
}

static inline cam__tensor *oph_add_input(oph *h, cam_dtype dt, int rank, const int64_t *dims) {
    int i = h->node.n_in++;
    cam__tensor *t = &h->in_t[i];
    t->dtype = dt;
    if (!cam__tensor_set_shape(t, rank, dims)) abort();
    t->data = cam__aligned_alloc(t->numel * cam_dtype_size(dt) + 64);
    h->in[i] = t;
    h->in_idx[i] = i;
    return t;
}
/* activation input (shape() sees data == NULL); random values in [-1, 1) */
static inline cam__tensor *oph_input_rand(oph *h, int rank, const int64_t *dims, unsigned seed) {
    cam__tensor *t = oph_add_input(h, CAM_FLOAT, rank, dims);
    for (size_t k = 0; k < t->numel; k++) cam__f32(t)[k] = check_randf(&seed, -1.0f, 1.0f);
    return t;
}
static inline cam__tensor *oph_input_f32(oph *h, int rank, const int64_t *dims, const float *v) {
    cam__tensor *t = oph_add_input(h, CAM_FLOAT, rank, dims);
    memcpy(t->data, v, t->numel * 4);
    return t;
}
static inline cam__tensor *oph_input_i64(oph *h, int rank, const int64_t *dims, const int64_t *v) {
    cam__tensor *t = oph_add_input(h, CAM_INT64, rank, dims);
    memcpy(t->data, v, t->numel * 8);
    return t;
}
/* constant inputs: shape() sees their data (as for initializers) */
static bool oph_const_mask[OPH_MAX_IN];
static inline cam__tensor *oph_input_const_f32(oph *h, int rank, const int64_t *dims, const float *v) {
    oph_const_mask[h->node.n_in] = true;
    return oph_input_f32(h, rank, dims, v);
}
static inline cam__tensor *oph_input_const_i64(oph *h, int rank, const int64_t *dims, const int64_t *v) {
    oph_const_mask[h->node.n_in] = true;
    return oph_input_i64(h, rank, dims, v);
}
static inline void oph_input_none(oph *h) {
    int i = h->node.n_in++;
    h->in[i] = NULL;
    h->in_idx[i] = -1;
}

/* Finds the op, runs check() and shape(), allocates outputs. */
static inline cam_status oph_prepare(oph *h, int n_out) {
    const cam__op_def *op = cam__op_find(h->node.op_type, h->node.opset);
    if (!op) { snprintf(h->err, sizeof h->err, "no op %s at opset %lld", h->node.op_type, (long long)h->node.opset); return CAM_EUNSUPPORTED; }
    h->node.op = op;
    h->node.n_out = n_out;
    for (int i = 0; i < n_out; i++) { h->out_idx[i] = OPH_MAX_IN + i; h->pout_fwd[i] = &h->out_fwd[i]; h->pout_ref[i] = &h->out_ref[i]; }
    cam_status st = op->check(&h->node, h->err, sizeof h->err);
    if (st != CAM_OK) return st;
    /* shape() sees data only for constant inputs */
    void *saved[OPH_MAX_IN];
    for (int i = 0; i < h->node.n_in; i++)
        if (h->in[i]) { saved[i] = h->in[i]->data; if (!oph_const_mask[i]) h->in[i]->data = NULL; }
    st = op->shape(&h->node, h->in, h->pout_fwd, h->err, sizeof h->err);
    for (int i = 0; i < h->node.n_in; i++) if (h->in[i]) h->in[i]->data = saved[i];
    if (st != CAM_OK) return st;
    for (int i = 0; i < n_out; i++) {
        h->out_ref[i] = h->out_fwd[i];
        size_t b = h->out_fwd[i].numel * cam_dtype_size(h->out_fwd[i].dtype) + 64;
        h->out_fwd[i].data = cam__aligned_alloc(b);
        h->out_ref[i].data = cam__aligned_alloc(b);
        /* poison so a kernel that skips elements is caught */
        memset(h->out_fwd[i].data, 0x7f, b);
        memset(h->out_ref[i].data, 0x7e, b);
    }
    h->prepared = true;
    return CAM_OK;
}

static inline void oph_run(oph *h, cam__forward_fn fn, cam__tensor *const *out, int threads) {
    cam__pool *pool = NULL;
    if (threads > 1 && cam__pool_create(threads, &pool) != CAM_OK) abort();
    size_t stride = (h->node.scratch + 63) & ~(size_t)63;
    cam__ctx ctx = {pool, cam__aligned_alloc(stride * (size_t)threads + 64), stride};
    fn(&h->node, (const cam__tensor *const *)h->in, out, &ctx);
    cam__aligned_free(ctx.scratch);
    cam__pool_free(pool);
}

/* Runs forward with `threads` threads and reference, returns the largest
 * relative L-inf error over float outputs (int outputs: 0 or INFINITY). */
static inline double oph_compare(oph *h, int threads) {
    oph_run(h, h->node.op->forward, h->pout_fwd, threads);
    oph_run(h, h->node.op->reference, h->pout_ref, 1);
    double worst = 0;
    for (int i = 0; i < h->node.n_out; i++) {
        cam__tensor *a = &h->out_fwd[i], *b = &h->out_ref[i];
        if (a->dtype == CAM_FLOAT) {
            double e = check_rel_linf(cam__f32(a), cam__f32(b), a->numel);
            if (e > worst || e != e) worst = e;
        } else if (memcmp(a->data, b->data, a->numel * cam_dtype_size(a->dtype)) != 0) {
            worst = INFINITY;
        }
    }
    return worst;
}

static inline void oph_free(oph *h) {
    for (int i = 0; i < h->node.n_in; i++) if (h->in[i]) cam__aligned_free(h->in[i]->data);
    if (h->prepared)
        for (int i = 0; i < h->node.n_out; i++) { cam__aligned_free(h->out_fwd[i].data); cam__aligned_free(h->out_ref[i].data); }
    free(h->node.params);
    memset(oph_const_mask, 0, sizeof oph_const_mask);
}

#endif
