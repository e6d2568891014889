/* graph.c: from a parsed ONNX graph to an executable one.
 *
 *   1. input shapes: symbolic dims bound from the options (batch, H, W)
 *   2. topological order (Kahn); undefined inputs and cycles are errors
 *   3. operator lookup and check() per node
 *   4. shape inference in order; nodes whose inputs are all constant (and
 *      Shape, which needs only shapes) run once here with their reference
 *      kernel and become constants: this folds the Shape/Gather/Concat/...
 *      chains exporters put in front of Reshape
 *   5. optimisations: Identity/Dropout removal, BatchNormalization folded
 *      into the preceding Conv, activations (and x*sigmoid(x)) fused into
 *      the producing Conv/Gemm/Add
 *   6. dead-node elimination and the execution list
 *   7. prepack: ops that have the hook derive data (packed weights) from
 *      their final constant inputs. */
#include "model.h"
#include "ops/conv.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- 1. input shapes ------------------------------------------------------- */

/* options.constants: graph inputs that become initializers. */
static cam_status bind_constants(cam_model *m, char *err, size_t errlen) {
    for (int c = 0; c < m->opt.n_constants; c++) {
        const cam_constant_input *ci = &m->opt.constants[c];
        int v = cam__model_find(m, ci->name);
        int k = 0;
        while (k < m->n_inputs && m->inputs[k] != v) k++;
        if (v < 0 || k == m->n_inputs)
            return cam__fail(err, errlen, CAM_EINVAL, "'%s' is not a graph input", ci->name);
        cam__value *val = &m->values[v];
        cam__tensor t = {0};
        size_t esz = cam_dtype_size(ci->dtype);
        if (!esz || !cam__tensor_set_shape(&t, ci->rank, ci->dims))
            return cam__fail(err, errlen, CAM_EINVAL, "bad dtype or shape for constant input '%s'", ci->name);
        t.dtype = ci->dtype == CAM_FLOAT ? CAM_FLOAT : CAM_INT64;
        if (!(t.data = cam__aligned_alloc(t.numel * cam_dtype_size(t.dtype))))
            return cam__fail(err, errlen, CAM_ENOMEM, "out of memory");
        if (ci->dtype == CAM_INT32)
            for (size_t i = 0; i < t.numel; i++) cam__i64(&t)[i] = ((const int32_t *)ci->data)[i];
        else
            memcpy(t.data, ci->data, t.numel * esz);
        val->declared = ci->dtype;
        val->kind = CAM__V_CONST;
        val->t = t;
        val->shape_known = true;
        memmove(&m->inputs[k], &m->inputs[k + 1], (size_t)(m->n_inputs - k - 1) * sizeof *m->inputs);
        m->n_inputs--;
    }
    return CAM_OK;
}

static cam_status bind_inputs(cam_model *m, char *err, size_t errlen) {
    for (int i = 0; i < m->n_inputs; i++) {
        cam__value *v = &m->values[m->inputs[i]];
        if (v->t.rank < 0)
            return cam__fail(err, errlen, CAM_EUNSUPPORTED, "graph input '%s' has no shape in the model", v->name);
        if (v->declared == CAM_FLOAT) v->t.dtype = CAM_FLOAT;
        else if (v->declared == CAM_INT64 || v->declared == CAM_INT32) v->t.dtype = CAM_INT64;
        else return cam__fail(err, errlen, CAM_EUNSUPPORTED, "graph input '%s' has element type %d "
                              "(float32, int32 and int64 are supported)", v->name, (int)v->declared);
        int64_t dims[CAM__MAX_RANK];
        for (int d = 0; d < v->t.rank; d++) {
            dims[d] = v->t.dims[d];
            if (d == 0 && m->opt.batch > 0) dims[d] = m->opt.batch;
            if (v->t.rank == 4 && d == 2 && m->opt.input_h > 0) dims[d] = m->opt.input_h;
            if (v->t.rank == 4 && d == 3 && m->opt.input_w > 0) dims[d] = m->opt.input_w;
            if (dims[d] < 0 && d == 0) dims[d] = 1;   /* symbolic batch: one image by default */
            if (dims[d] < 0)
                return cam__fail(err, errlen, CAM_EUNSUPPORTED,
                                 "graph input '%s' dim %d is symbolic: give the input size (config input.size)",
                                 v->name, d);
        }
        if (!cam__tensor_set_shape(&v->t, v->t.rank, dims))
            return cam__fail(err, errlen, CAM_ELIMIT, "graph input '%s' is too large", v->name);
        v->shape_known = true;
    }
    return CAM_OK;
}

/* ---- 2. topological order ------------------------------------------------------ */

static cam_status sort_nodes(cam_model *m, char *err, size_t errlen) {
    int nn = m->n_nodes;
    for (int i = 0; i < m->n_values; i++) m->values[i].producer = -1;
    for (int i = 0; i < nn; i++) {
        cam__node *n = &m->nodes[i];
        for (int k = 0; k < n->n_out; k++) {
            cam__value *v = &m->values[n->out[k]];
            if (v->producer >= 0 || v->kind != CAM__V_ACT)
                return cam__fail(err, errlen, CAM_EFORMAT, "tensor '%s' is produced twice (node %s)", v->name, n->name);
            v->producer = i;
        }
    }
    int *indeg = calloc((size_t)nn + 1, sizeof *indeg), *order = malloc(((size_t)nn + 1) * sizeof *order);
    int *queue = malloc(((size_t)nn + 1) * sizeof *queue);
    /* consumer lists in CSR form */
    int *cnt = calloc((size_t)m->n_values + 1, sizeof *cnt);
    cam_status st = CAM_OK;
    if (!indeg || !order || !queue || !cnt) { st = cam__fail(err, errlen, CAM_ENOMEM, "out of memory"); goto done; }
    for (int i = 0; i < nn; i++) {
        cam__node *n = &m->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            int vi = n->in[k];
            if (vi < 0) continue;
            cam__value *v = &m->values[vi];
            if (v->kind == CAM__V_ACT && v->producer < 0) {
                st = cam__fail(err, errlen, CAM_EFORMAT, "node %s (%s): input '%s' is not produced by any node, "
                               "initializer or graph input", n->name, n->op_type, v->name);
                goto done;
            }
            if (v->producer >= 0) { indeg[i]++; cnt[vi]++; }
        }
    }
    int *start = malloc(((size_t)m->n_values + 1) * sizeof *start);
    int total = 0;
    if (!start) { st = cam__fail(err, errlen, CAM_ENOMEM, "out of memory"); goto done; }
    for (int v = 0; v < m->n_values; v++) { start[v] = total; total += cnt[v]; }
    start[m->n_values] = total;
    int *cons = malloc(((size_t)total + 1) * sizeof *cons);
    if (!cons) { free(start); st = cam__fail(err, errlen, CAM_ENOMEM, "out of memory"); goto done; }
    memset(cnt, 0, (size_t)m->n_values * sizeof *cnt);
    for (int i = 0; i < nn; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++) {
            int vi = m->nodes[i].in[k];
            if (vi >= 0 && m->values[vi].producer >= 0) cons[start[vi] + cnt[vi]++] = i;
        }
    int qh = 0, qt = 0, no = 0;
    for (int i = 0; i < nn; i++) if (indeg[i] == 0) queue[qt++] = i;
    while (qh < qt) {
        int i = queue[qh++];
        order[no++] = i;
        for (int k = 0; k < m->nodes[i].n_out; k++) {
            int vi = m->nodes[i].out[k];
            for (int c = start[vi]; c < start[vi + 1]; c++)
                if (--indeg[cons[c]] == 0) queue[qt++] = cons[c];
        }
    }
    free(start);
    free(cons);
    if (no != nn) {
        int stuck = 0;
        while (stuck < nn && indeg[stuck] == 0) stuck++;
        st = cam__fail(err, errlen, CAM_EFORMAT, "the graph has a cycle (through node %s)",
                       stuck < nn ? m->nodes[stuck].name : "?");
        goto done;
    }
    /* permute nodes into order */
    cam__node *sorted = malloc(((size_t)nn + 1) * sizeof *sorted);
    if (!sorted) { st = cam__fail(err, errlen, CAM_ENOMEM, "out of memory"); goto done; }
    for (int i = 0; i < nn; i++) sorted[i] = m->nodes[order[i]];
    if (nn) memcpy(m->nodes, sorted, (size_t)nn * sizeof *sorted);
    free(sorted);
    for (int i = 0; i < nn; i++)
        for (int k = 0; k < m->nodes[i].n_out; k++) m->values[m->nodes[i].out[k]].producer = i;
done:
    free(indeg);
    free(order);
    free(queue);
    free(cnt);
    return st;
}

/* ---- 3. operators ------------------------------------------------------------- */

static cam_status resolve_ops(cam_model *m, char *err, size_t errlen) {
    for (int i = 0; i < m->n_nodes; i++) {
        cam__node *n = &m->nodes[i];
        if (*n->domain && strcmp(n->domain, "ai.onnx") != 0)
            return cam__fail(err, errlen, CAM_EUNSUPPORTED, "node %s: operator %s of domain '%s' is not supported "
                             "(only the default ONNX domain)", n->name, n->op_type, n->domain);
        n->opset = m->opset;
        n->op = cam__op_find(n->op_type, m->opset);
        if (!n->op) {
            int count;
            const cam__op_def *t = cam__op_table(&count);
            for (int k = 0; k < count; k++)
                if (strcmp(t[k].name, n->op_type) == 0)
                    return cam__fail(err, errlen, CAM_EUNSUPPORTED, "node %s: operator %s is supported for opsets "
                                     "%d to %d, the model uses opset %lld", n->name, n->op_type, t[k].opset_min,
                                     t[k].opset_max, (long long)m->opset);
            return cam__fail(err, errlen, CAM_EUNSUPPORTED, "node %s: unknown operator %s (opset %lld)", n->name,
                             n->op_type, (long long)m->opset);
        }
        if (n->n_in < n->op->min_in || n->n_in > n->op->max_in || n->n_out < n->op->min_out ||
            n->n_out > n->op->max_out)
            return cam__fail(err, errlen, CAM_EFORMAT, "node %s (%s) has %d inputs and %d outputs (expected %d-%d "
                             "and %d-%d)", n->name, n->op_type, n->n_in, n->n_out, n->op->min_in, n->op->max_in,
                             n->op->min_out, n->op->max_out);
        for (int k = 0; k < n->op->min_in; k++)
            if (n->in[k] < 0)
                return cam__fail(err, errlen, CAM_EFORMAT, "node %s (%s): required input %d is empty", n->name,
                                 n->op_type, k);
        cam_status st = n->op->check(n, err, errlen);
        if (st != CAM_OK) return st;
    }
    return CAM_OK;
}

/* ---- 4. shapes and constant folding -------------------------------------------- */

static cam_status fold_node(cam_model *m, cam__node *n, cam__tensor **in, cam__tensor **out, char *err,
                            size_t errlen) {
    for (int k = 0; k < n->n_out; k++) {
        cam__value *v = &m->values[n->out[k]];
        size_t b;
        if (!cam__mul_ok(v->t.numel, cam_dtype_size(v->t.dtype), &b))
            return cam__fail(err, errlen, CAM_ELIMIT, "tensor '%s' too large", v->name);
        v->t.data = cam__aligned_alloc(b);
        if (!v->t.data) return cam__fail(err, errlen, CAM_ENOMEM, "out of memory folding %s", n->name);
        v->kind = CAM__V_CONST;
    }
    size_t stride = (n->scratch + CAM__ALIGN - 1) & ~(size_t)(CAM__ALIGN - 1);
    cam__ctx ctx = {NULL, NULL, stride};
    if (stride && !(ctx.scratch = cam__aligned_alloc(stride)))
        return cam__fail(err, errlen, CAM_ENOMEM, "out of memory folding %s", n->name);
    n->op->reference(n, (const cam__tensor *const *)in, out, &ctx);
    cam__aligned_free(ctx.scratch);
    n->dead = true;
    m->stats.folded_constants++;
    return CAM_OK;
}

static cam_status infer_shapes(cam_model *m, char *err, size_t errlen) {
    cam__tensor **in = NULL, **out = NULL;
    int cap = 0;
    cam_status st = CAM_OK;
    for (int i = 0; i < m->n_nodes; i++) {
        cam__node *n = &m->nodes[i];
        int need = n->n_in > n->n_out ? n->n_in : n->n_out;
        if (need > cap) {
            cap = need;
            free(in);
            free(out);
            in = calloc((size_t)cap, sizeof *in);
            out = calloc((size_t)cap, sizeof *out);
            if (!in || !out) { st = cam__fail(err, errlen, CAM_ENOMEM, "out of memory"); goto done; }
        }
        bool all_const = n->n_in > 0 || n->op->min_in == 0;
        for (int k = 0; k < n->n_in; k++) {
            if (n->in[k] < 0) { in[k] = NULL; continue; }
            cam__value *v = &m->values[n->in[k]];
            in[k] = &v->t;
            if (v->kind != CAM__V_CONST) all_const = false;
        }
        if (n->n_in > 0 && in[0] && in[0]->dtype == CAM_INT64 && !(n->op->flags & CAM__OP_INT)) {
            st = cam__fail(err, errlen, CAM_EUNSUPPORTED, "node %s (%s): int64 input '%s' is not supported by this "
                           "operator", n->name, n->op_type, m->values[n->in[0]].name);
            goto done;
        }
        for (int k = 0; k < n->n_out; k++) {
            out[k] = &m->values[n->out[k]].t;
            out[k]->dtype = CAM_FLOAT;
        }
        st = n->op->shape(n, in, out, err, errlen);
        if (st != CAM_OK) goto done;
        for (int k = 0; k < n->n_out; k++) {
            cam__value *v = &m->values[n->out[k]];
            v->shape_known = true;
            v->declared = v->t.dtype;
        }
        if (all_const || (n->op->flags & CAM__OP_SHAPE_ONLY)) {
            if ((st = fold_node(m, n, in, out, err, errlen)) != CAM_OK) goto done;
        }
    }
done:
    free(in);
    free(out);
    return st;
}

/* ---- 5. optimisations --------------------------------------------------------- */

/* uses[v]: live nodes reading v, plus one if v is a graph output or kept */
static void count_uses(cam_model *m) {
    for (int v = 0; v < m->n_values; v++)
        m->values[v].n_uses = (m->values[v].is_output || m->values[v].keep) ? 1 : 0;
    for (int i = 0; i < m->n_nodes; i++) {
        if (m->nodes[i].dead) continue;
        for (int k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] >= 0) m->values[m->nodes[i].in[k]].n_uses++;
    }
}

static bool is_op(const cam__node *n, const char *op) { return !n->dead && strcmp(n->op_type, op) == 0; }

/* A value the optimiser may make disappear: only read by one node and not
 * needed by the caller. */
static bool internal_single_use(const cam__value *v) {
    return v->kind == CAM__V_ACT && v->n_uses == 1 && !v->is_output && !v->keep;
}

static void replace_uses(cam_model *m, int from, int to) {
    for (int i = 0; i < m->n_nodes; i++) {
        if (m->nodes[i].dead) continue;
        for (int k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] == from) m->nodes[i].in[k] = to;
    }
}

static void remove_identities(cam_model *m) {
    for (int i = 0; i < m->n_nodes; i++) {
        cam__node *n = &m->nodes[i];
        if (!(is_op(n, "Identity") || (is_op(n, "Dropout") && n->n_out == 1))) continue;
        cam__value *dst = &m->values[n->out[0]];
        if (dst->is_output || dst->keep) continue;   /* the caller reads it by name */
        replace_uses(m, n->out[0], n->in[0]);
        n->dead = true;
        m->stats.removed_identity++;
    }
}

/* Moves node n's output 0 to value `to` (the fused consumer's output). */
static void take_output(cam_model *m, int node, int to) {
    m->nodes[node].out[0] = to;
    m->values[to].producer = node;
}

/* A new value named base, or base#2, base#3, ... when that name is taken:
 * node names need not be unique, so "<conv name>/folded_weight" may already
 * exist.  -1 on ENOMEM. */
static int new_value(cam_model *m, const char *base) {
    char name[560];   /* room for a suffix after a base of up to 511 chars */
    snprintf(name, sizeof name, "%s", base);
    for (int k = 2; cam__model_find(m, name) >= 0; k++) snprintf(name, sizeof name, "%s#%d", base, k);
    return cam__model_value(m, name);
}

static cam_status fold_batchnorm(cam_model *m, char *err, size_t errlen) {
    count_uses(m);
    for (int i = 0; i < m->n_nodes; i++) {
        cam__node *bn = &m->nodes[i];
        if (!is_op(bn, "BatchNormalization") || bn->n_out != 1) continue;
        cam__value *x = &m->values[bn->in[0]];
        if (x->producer < 0 || !internal_single_use(x)) continue;
        int ci = x->producer;
        cam__node *conv = &m->nodes[ci];
        if (!is_op(conv, "Conv") || conv->act.kind != CAM__ACT_NONE) continue;
        bool consts = true;
        for (int k = 1; k < 5; k++) consts = consts && m->values[bn->in[k]].kind == CAM__V_CONST;
        cam__value *w = &m->values[conv->in[1]];
        if (!consts || w->kind != CAM__V_CONST || w->t.dtype != CAM_FLOAT || w->t.rank < 1) continue;
        if (conv->n_in > 2 && conv->in[2] >= 0 && m->values[conv->in[2]].kind != CAM__V_CONST) continue;
        int64_t c_out = w->t.dims[0];
        for (int k = 1; k < 5; k++)
            if ((int64_t)m->values[bn->in[k]].t.numel != c_out) { consts = false; break; }
        if (!consts) continue;
        /* Weights may be shared by several convs: fold into private copies. */
        float *nw = cam__aligned_alloc(w->t.numel * sizeof(float));
        float *nb = cam__aligned_alloc((size_t)c_out * sizeof(float));
        if (!nw || !nb) {
            cam__aligned_free(nw);
            cam__aligned_free(nb);
            return cam__fail(err, errlen, CAM_ENOMEM, "out of memory folding %s", bn->name);
        }
        memcpy(nw, w->t.data, w->t.numel * sizeof(float));
        if (conv->n_in > 2 && conv->in[2] >= 0) memcpy(nb, m->values[conv->in[2]].t.data, (size_t)c_out * sizeof(float));
        float eps = cam__attr_float(bn, "epsilon", 1e-5f);
        cam__conv_fold_bn(nw, nb, c_out, (int64_t)(w->t.numel / (size_t)c_out), m->values[bn->in[1]].t.data,
                          m->values[bn->in[2]].t.data, m->values[bn->in[3]].t.data, m->values[bn->in[4]].t.data, eps);
        /* new constant values for the folded weights */
        char name[512];
        snprintf(name, sizeof name, "%s/folded_weight", conv->name);
        int wi = new_value(m, name);
        snprintf(name, sizeof name, "%s/folded_bias", conv->name);
        int bi = wi < 0 ? -1 : new_value(m, name);
        if (wi < 0 || bi < 0) {
            cam__aligned_free(nw);
            cam__aligned_free(nb);
            return cam__fail(err, errlen, CAM_ENOMEM, "out of memory folding %s", bn->name);
        }
        conv = &m->nodes[ci];   /* m->values may have moved; nodes did not */
        w = &m->values[conv->in[1]];
        cam__value *vw = &m->values[wi], *vb = &m->values[bi];
        vw->kind = vb->kind = CAM__V_CONST;
        vw->t = w->t;
        vw->t.data = nw;
        vw->shape_known = vb->shape_known = true;
        int64_t bd[1] = {c_out};
        vb->t.dtype = CAM_FLOAT;
        cam__tensor_set_shape(&vb->t, 1, bd);
        vb->t.data = nb;
        if (conv->n_in < 3) {
            int *nin = realloc(conv->in, 3 * sizeof *nin);
            if (!nin) return cam__fail(err, errlen, CAM_ENOMEM, "out of memory");
            conv->in = nin;
            conv->n_in = 3;
        }
        conv->in[1] = wi;
        conv->in[2] = bi;
        take_output(m, ci, bn->out[0]);
        bn->dead = true;
        m->stats.fused_batchnorm++;
        count_uses(m);
    }
    return CAM_OK;
}

/* The activation node n computes, as a cam__act, or kind NONE if it is not
 * one we fuse (e.g. a Clip whose bounds are runtime tensors). */
cam__act cam__node_activation(const cam_model *m, const cam__node *n) {
    cam__act a = {CAM__ACT_NONE, 0, 0};
    if (n->dead || n->n_out != 1) return a;
    if (strcmp(n->op_type, "Relu") == 0) a.kind = CAM__ACT_RELU;
    else if (strcmp(n->op_type, "Sigmoid") == 0) a.kind = CAM__ACT_SIGMOID;
    else if (strcmp(n->op_type, "HardSwish") == 0) a.kind = CAM__ACT_HARDSWISH;
    else if (strcmp(n->op_type, "HardSigmoid") == 0) {
        a.kind = CAM__ACT_HARDSIGMOID;
        a.a = cam__attr_float(n, "alpha", 0.2f);
        a.b = cam__attr_float(n, "beta", 0.5f);
    } else if (strcmp(n->op_type, "Clip") == 0) {
        a.a = -FLT_MAX;
        a.b = FLT_MAX;
        if (n->opset < 11) {
            a.a = cam__attr_float(n, "min", -FLT_MAX);
            a.b = cam__attr_float(n, "max", FLT_MAX);
        } else {
            for (int k = 1; k < n->n_in && k < 3; k++) {
                if (n->in[k] < 0) continue;
                const cam__value *b = &m->values[n->in[k]];
                if (b->kind != CAM__V_CONST || b->t.dtype != CAM_FLOAT || b->t.numel != 1) return a;
                (k == 1 ? &a.a : &a.b)[0] = cam__f32(&b->t)[0];
            }
        }
        a.kind = CAM__ACT_CLIP;
    }
    return a;
}

static void fuse_activations(cam_model *m) {
    count_uses(m);
    for (int i = 0; i < m->n_nodes; i++) {
        cam__node *an = &m->nodes[i];
        cam__act act = cam__node_activation(m, an);
        if (act.kind == CAM__ACT_NONE) continue;
        int xi = an->in[0];
        cam__value *x = &m->values[xi];
        if (x->producer < 0 || x->t.dtype != CAM_FLOAT) continue;
        cam__node *p = &m->nodes[x->producer];
        if (p->dead || !(p->op->flags & CAM__OP_FUSES_ACT) || p->act.kind != CAM__ACT_NONE || p->n_out != 1) continue;
        if (internal_single_use(x)) {
            p->act = act;
            take_output(m, x->producer, an->out[0]);
            an->dead = true;
            m->stats.fused_activations++;
            count_uses(m);
            continue;
        }
        /* Gated forms x * g(x): x is read by the gate and by one Mul that
         * also reads the gate's output.  x*sigmoid(x) is SiLU (EfficientNet);
         * x*HardSigmoid(x) with alpha 1/6, beta 1/2 is HardSwish as
         * torch.onnx writes it below opset 14 (MobileNetV3). */
        cam__act_kind gated = CAM__ACT_NONE;
        if (act.kind == CAM__ACT_SIGMOID) gated = CAM__ACT_SILU;
        if (act.kind == CAM__ACT_HARDSIGMOID && fabsf(act.a - 1.0f / 6.0f) < 1e-6f && fabsf(act.b - 0.5f) < 1e-6f)
            gated = CAM__ACT_HARDSWISH;
        if (gated == CAM__ACT_NONE || x->n_uses != 2 || x->is_output || x->keep) continue;
        cam__value *s = &m->values[an->out[0]];
        if (!internal_single_use(s)) continue;
        for (int j = i + 1; j < m->n_nodes; j++) {
            cam__node *mul = &m->nodes[j];
            if (!is_op(mul, "Mul")) continue;
            if (!((mul->in[0] == xi && mul->in[1] == an->out[0]) || (mul->in[1] == xi && mul->in[0] == an->out[0])))
                continue;
            if (m->values[mul->out[0]].t.numel != x->t.numel) break;
            p->act.kind = gated;
            take_output(m, x->producer, mul->out[0]);
            an->dead = true;
            mul->dead = true;
            m->stats.fused_activations++;
            count_uses(m);
            break;
        }
    }
}

/* ---- 6. dead nodes and the execution list ------------------------------------- */

static cam_status finish(cam_model *m, char *err, size_t errlen) {
    /* backwards liveness: a node lives if it produces something used */
    bool changed = true;
    while (changed) {
        changed = false;
        count_uses(m);
        for (int i = m->n_nodes - 1; i >= 0; i--) {
            cam__node *n = &m->nodes[i];
            if (n->dead) continue;
            bool used = false;
            for (int k = 0; k < n->n_out; k++) used = used || m->values[n->out[k]].n_uses > 0;
            if (!used) { n->dead = true; changed = true; }
        }
    }
    free(m->exec);
    m->exec = malloc(((size_t)m->n_nodes + 1) * sizeof *m->exec);
    if (!m->exec) return cam__fail(err, errlen, CAM_ENOMEM, "out of memory");
    m->n_exec = 0;
    m->stats.flops = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        if (m->nodes[i].dead) continue;
        m->exec[m->n_exec++] = i;
        m->stats.flops += m->nodes[i].flops;
    }
    m->stats.ir_version = m->ir_version;
    m->stats.opset = m->opset;
    m->stats.producer = m->producer;
    m->stats.nodes_in_file = m->nodes_in_file;
    m->stats.nodes_run = m->n_exec;
    size_t wb = 0;
    for (int v = 0; v < m->n_values; v++)
        if (m->values[v].kind == CAM__V_CONST && m->values[v].n_uses > 0)
            wb += m->values[v].t.numel * cam_dtype_size(m->values[v].t.dtype);
    m->stats.weight_bytes = wb;
    return CAM_OK;
}

/* Constants no live node reads any more (BN parameters, unfolded weights,
 * folded shape chains) are released: resident memory stays near the size
 * of the weights actually used. */
static void release_unused_constants(cam_model *m) {
    count_uses(m);
    for (int v = 0; v < m->n_values; v++) {
        cam__value *val = &m->values[v];
        if (val->kind == CAM__V_CONST && val->n_uses == 0 && val->t.data) {
            cam__aligned_free(val->t.data);
            val->t.data = NULL;
        }
    }
}

/* ---- 7. prepack ------------------------------------------------------------------ */

/* Ops with a prepack hook derive data from their final constant inputs now
 * that the optimisations have written them (cam__op_def.prepack). */
#define PREPACK_MAX_IN 8
static cam_status prepack(cam_model *m, char *err, size_t errlen) {
    for (int e = 0; e < m->n_exec; e++) {
        cam__node *n = &m->nodes[m->exec[e]];
        if (!n->op->prepack || n->n_in > PREPACK_MAX_IN) continue;
        cam__tensor *in[PREPACK_MAX_IN];
        for (int k = 0; k < n->n_in; k++) in[k] = n->in[k] >= 0 ? &m->values[n->in[k]].t : NULL;
        cam_status st = n->op->prepack(n, in, err, errlen);
        if (st != CAM_OK) return st;
    }
    return CAM_OK;
}

void cam__release_packed_constants(cam_model *m) {
    /* The unoptimised graph is what tests run with reference kernels, which
     * read the original weights: keep them there. */
    if (!m->opt.optimize) return;
    count_uses(m);
    for (int e = 0; e < m->n_exec; e++) {
        const cam__node *n = &m->nodes[m->exec[e]];
        for (int k = 0; k < n->n_in && k < 32; k++)
            if ((n->packed_inputs >> k & 1u) && n->in[k] >= 0) m->values[n->in[k]].n_uses--;
    }
    for (int v = 0; v < m->n_values; v++) {
        cam__value *val = &m->values[v];
        if (val->kind == CAM__V_CONST && val->n_uses == 0 && val->t.data) {
            cam__aligned_free(val->t.data);
            val->t.data = NULL;
        }
    }
}

cam_status cam__graph_prepare(cam_model *m, char *err, size_t errlen) {
    cam_status st;
    for (int k = 0; k < m->opt.n_keep; k++) {
        int v = cam__model_find(m, m->opt.keep[k]);
        if (v < 0)
            return cam__fail(err, errlen, CAM_EINVAL, "tensor '%s' does not exist in the graph", m->opt.keep[k]);
        m->values[v].keep = true;
    }
    if ((st = bind_constants(m, err, errlen)) != CAM_OK) return st;
    if ((st = bind_inputs(m, err, errlen)) != CAM_OK) return st;
    if ((st = sort_nodes(m, err, errlen)) != CAM_OK) return st;
    if ((st = resolve_ops(m, err, errlen)) != CAM_OK) return st;
    if ((st = infer_shapes(m, err, errlen)) != CAM_OK) return st;
    for (int i = 0; i < m->n_outputs; i++)
        if (!m->values[m->outputs[i]].shape_known)
            return cam__fail(err, errlen, CAM_EFORMAT, "graph output '%s' is not computed by the graph",
                             m->values[m->outputs[i]].name);
    if (m->opt.optimize) {
        remove_identities(m);
        if ((st = fold_batchnorm(m, err, errlen)) != CAM_OK) return st;
        fuse_activations(m);
    }
    if ((st = finish(m, err, errlen)) != CAM_OK) return st;
    release_unused_constants(m);
    return prepack(m, err, errlen);
}
