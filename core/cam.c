/* cam.c: class activation maps (Zhou et al., CVPR 2016) and Grad-CAM.
 *
 * At load we walk back from the graph output to the global average pooling
 * and turn everything after it (the head) into steps on the pooled vector g:
 * dense layers (Gemm, MatMul, Conv 1x1 on a 1x1 map, Add of a constant),
 * per-channel scales (BatchNormalization) and activations.  Shape-only ops
 * (Flatten, Reshape, Squeeze, ...) vanish, and a final Softmax only tells
 * where the logits are.  Then:
 *   - no step at all: the map entering the pooling has one channel per class
 *     (SqueezeNet), CAM_c = F_c;
 *   - only linear steps: they compose into one matrix W (classes x C) and
 *     bias b, logit = W mean(F) + b, so CAM_c = sum_k W_ck F_k and
 *     mean(CAM_c) + b_c = logit_c exactly;
 *   - an activation somewhere: Grad-CAM, alpha_c = d logit_c / d g / (h w),
 *     computed by running the steps forward from g and back for class c.
 * The maps of several classes are one GEMM: (n x C) x (C x hw). */
#include "model.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAM__MAX_CAMS 64       /* classes per cam_session_cams call */
#define CAM__MAX_HEAD_NODES 64

/* ---- detection ---------------------------------------------------------------- */

static bool is(const cam__node *n, const char *op) { return strcmp(n->op_type, op) == 0; }

static const cam__value *const_input(const cam_model *m, const cam__node *n, int k) {
    if (k >= n->n_in || n->in[k] < 0) return NULL;
    const cam__value *v = &m->values[n->in[k]];
    return v->kind == CAM__V_CONST && v->t.dtype == CAM_FLOAT && v->t.data ? v : NULL;
}

/* The one input of n that is computed at run time (-1 if none or several). */
static int chain_input(const cam_model *m, const cam__node *n) {
    int found = -1;
    for (int k = 0; k < n->n_in; k++) {
        if (n->in[k] < 0 || m->values[n->in[k]].kind == CAM__V_CONST) continue;
        if (found >= 0) return -1;
        found = k;
    }
    return found;
}

/* Is n a global average pooling of a 4-D map? */
static bool is_global_avg_pool(const cam_model *m, const cam__node *n) {
    const cam__tensor *x = &m->values[n->in[0]].t;
    if (x->rank != 4) return false;
    if (is(n, "GlobalAveragePool")) return true;
    if (is(n, "ReduceMean")) {
        const int64_t *ax = NULL;
        int na = cam__attr_ints(n, "axes", &ax);
        const cam__value *axv = const_input(m, n, 1);
        if (!na && n->n_in > 1 && n->in[1] >= 0 && m->values[n->in[1]].kind == CAM__V_CONST &&
            m->values[n->in[1]].t.dtype == CAM_INT64) {
            ax = cam__i64(&m->values[n->in[1]].t);
            na = (int)m->values[n->in[1]].t.numel;
        }
        (void)axv;
        if (na != 2) return false;
        bool h = false, w = false;
        for (int i = 0; i < 2; i++) {
            int64_t a = ax[i] < 0 ? ax[i] + 4 : ax[i];
            h = h || a == 2;
            w = w || a == 3;
        }
        return h && w;
    }
    if (is(n, "AveragePool")) {
        const cam__tensor *y = &m->values[n->out[0]].t;
        return y->rank == 4 && y->dims[2] == 1 && y->dims[3] == 1 && !cam__attr_find(n, "pads") &&
               cam__attr_int(n, "ceil_mode", 0) == 0;
    }
    return false;
}

static cam_status add_step(cam__head *h, cam__head_step st) {
    cam__head_step *ns = realloc(h->steps, (size_t)(h->n_steps + 1) * sizeof *ns);
    if (!ns) return CAM_ENOMEM;
    h->steps = ns;
    h->steps[h->n_steps++] = st;
    return CAM_OK;
}

/* Per batch element, how many values a tensor holds. */
static int64_t per_item(const cam__tensor *t, int64_t batch) { return batch > 0 ? (int64_t)t->numel / batch : 0; }

/* One node of the head as steps appended to h; `width` is the vector
 * length entering it, updated to the length leaving it.  Returns a reason
 * (static string) when the node cannot be part of a CAM head. */
static const char *head_node(const cam_model *m, const cam__node *n, int64_t batch, int64_t *width, cam__head *h,
                             cam_status *st) {
    int64_t in_w = *width;
    const cam__tensor *y = &m->values[n->out[0]].t;
    int64_t out_w = per_item(y, batch);
    int ci = chain_input(m, n);
    *st = CAM_OK;
    if (ci < 0) return "a head node mixes two computed tensors";
    if (is(n, "Flatten") || is(n, "Reshape") || is(n, "Squeeze") || is(n, "Unsqueeze") || is(n, "Identity") ||
        is(n, "Dropout")) {
        if (out_w != in_w) return "a reshape in the head changes the per-image size";
        return NULL;
    }
    cam__head_step s = {0};
    if (is(n, "Gemm") || is(n, "MatMul") || is(n, "Conv")) {
        /* the weights are the other operand (Conv: input 1, the data must be input 0) */
        const cam__value *wv = is(n, "Conv") ? (ci == 0 ? const_input(m, n, 1) : NULL) : const_input(m, n, ci == 0 ? 1 : 0);
        if (!wv) return "a head layer has non-constant weights";
        s.kind = CAM__STEP_DENSE;
        s.in = (int)in_w;
        s.out = (int)out_w;
        if (out_w <= 0 || in_w <= 0 || (size_t)out_w * (size_t)in_w != wv->t.numel) return "unexpected weight shape in the head";
        s.w = malloc((size_t)out_w * (size_t)in_w * sizeof(float));
        s.b = calloc((size_t)out_w, sizeof(float));
        if (!s.w || !s.b) { free(s.w); free(s.b); *st = CAM_ENOMEM; return "out of memory"; }
        const float *W = cam__f32(&wv->t);
        if (is(n, "Conv")) {
            /* [out, in, 1, 1] on a 1x1 map: already out x in */
            const cam__tensor *x = &m->values[n->in[0]].t;
            if (x->rank != 4 || x->dims[2] != 1 || x->dims[3] != 1 || cam__attr_int(n, "group", 1) != 1) {
                free(s.w); free(s.b);
                return "a convolution in the head is not a 1x1 map classifier";
            }
            memcpy(s.w, W, (size_t)out_w * (size_t)in_w * sizeof(float));
            const cam__value *bv = const_input(m, n, 2);
            if (bv && (int64_t)bv->t.numel == out_w) memcpy(s.b, cam__f32(&bv->t), (size_t)out_w * sizeof(float));
        } else if (is(n, "MatMul")) {
            if (ci != 0) { free(s.w); free(s.b); return "a MatMul in the head multiplies from the left"; }
            for (int64_t o = 0; o < out_w; o++)   /* B is in x out */
                for (int64_t k = 0; k < in_w; k++) s.w[o * in_w + k] = W[k * out_w + o];
        } else {   /* Gemm: y = alpha op(A) op(B) + beta C */
            if (ci != 0 || cam__attr_int(n, "transA", 0)) { free(s.w); free(s.b); return "a Gemm in the head has a transposed input"; }
            float alpha = cam__attr_float(n, "alpha", 1.0f), beta = cam__attr_float(n, "beta", 1.0f);
            bool tb = cam__attr_int(n, "transB", 0) != 0;
            for (int64_t o = 0; o < out_w; o++)
                for (int64_t k = 0; k < in_w; k++) s.w[o * in_w + k] = alpha * (tb ? W[o * in_w + k] : W[k * out_w + o]);
            const cam__value *cv = const_input(m, n, 2);
            if (cv && ((int64_t)cv->t.numel == out_w || cv->t.numel == 1))
                for (int64_t o = 0; o < out_w; o++) s.b[o] = beta * cam__f32(&cv->t)[cv->t.numel == 1 ? 0 : o];
            else if (n->n_in > 2 && n->in[2] >= 0) { free(s.w); free(s.b); return "a Gemm in the head has an unusual bias"; }
        }
        if ((*st = add_step(h, s)) != CAM_OK) { free(s.w); free(s.b); return "out of memory"; }
    } else if (is(n, "Add") || is(n, "Sub")) {
        const cam__value *bv = const_input(m, n, 1 - ci);
        if (!bv || !((int64_t)bv->t.numel == in_w || bv->t.numel == 1) || out_w != in_w)
            return "an Add in the head is not a bias";
        if (is(n, "Sub") && ci != 0) return "a Sub in the head negates the features";
        s.kind = CAM__STEP_SCALE;
        s.in = s.out = (int)in_w;
        s.w = malloc((size_t)in_w * sizeof(float));
        s.b = malloc((size_t)in_w * sizeof(float));
        if (!s.w || !s.b) { free(s.w); free(s.b); *st = CAM_ENOMEM; return "out of memory"; }
        for (int64_t k = 0; k < in_w; k++) {
            float c = cam__f32(&bv->t)[bv->t.numel == 1 ? 0 : k];
            s.w[k] = 1.0f;
            s.b[k] = is(n, "Sub") ? -c : c;
        }
        if ((*st = add_step(h, s)) != CAM_OK) { free(s.w); free(s.b); return "out of memory"; }
    } else if (is(n, "BatchNormalization")) {
        const cam__value *sc = const_input(m, n, 1), *bb = const_input(m, n, 2), *mu = const_input(m, n, 3),
                         *var = const_input(m, n, 4);
        if (!sc || !bb || !mu || !var || (int64_t)sc->t.numel != in_w) return "a BatchNormalization in the head is not constant";
        float eps = cam__attr_float(n, "epsilon", 1e-5f);
        s.kind = CAM__STEP_SCALE;
        s.in = s.out = (int)in_w;
        s.w = malloc((size_t)in_w * sizeof(float));
        s.b = malloc((size_t)in_w * sizeof(float));
        if (!s.w || !s.b) { free(s.w); free(s.b); *st = CAM_ENOMEM; return "out of memory"; }
        for (int64_t k = 0; k < in_w; k++) {
            float a = cam__f32(&sc->t)[k] / sqrtf(cam__f32(&var->t)[k] + eps);
            s.w[k] = a;
            s.b[k] = cam__f32(&bb->t)[k] - a * cam__f32(&mu->t)[k];
        }
        if ((*st = add_step(h, s)) != CAM_OK) { free(s.w); free(s.b); return "out of memory"; }
    } else {
        cam__act a = cam__node_activation(m, n);
        if (a.kind == CAM__ACT_NONE) return "unsupported";
        if (out_w != in_w) return "an activation in the head changes the size";
        s.kind = CAM__STEP_ACT;
        s.in = s.out = (int)in_w;
        s.act = a;
        if ((*st = add_step(h, s)) != CAM_OK) return "out of memory";
        *width = out_w;
        return NULL;
    }
    /* an activation fused into this node applies after it */
    if (n->act.kind != CAM__ACT_NONE) {
        cam__head_step as = {CAM__STEP_ACT, (int)out_w, (int)out_w, NULL, NULL, n->act};
        if ((*st = add_step(h, as)) != CAM_OK) return "out of memory";
    }
    *width = out_w;
    return NULL;
}

static void set_none(cam__head *h, const char *fmt, const char *a, const char *b) {
    snprintf(h->reason, sizeof h->reason, fmt, a, b);
    h->info.kind = CAM_HEAD_NONE;
    h->info.kind_name = "none";
    h->info.method = "";
    h->info.reason = h->reason;
}

void cam__cam_free(cam_model *m) {
    cam__head *h = &m->head;
    for (int i = 0; i < h->n_steps; i++) { free(h->steps[i].w); free(h->steps[i].b); }
    free(h->steps);
    free(h->w_eff);
    free(h->b_eff);
    memset(h, 0, sizeof *h);
}

/* Composes the linear steps into w_eff (classes x C), b_eff. */
static cam_status compose_linear(cam__head *h, int C) {
    int rows = C;
    float *W = NULL, *B = NULL;   /* NULL: identity, zero bias */
    for (int i = 0; i < h->n_steps; i++) {
        const cam__head_step *s = &h->steps[i];
        float *nw = malloc((size_t)s->out * (size_t)C * sizeof(float)), *nb = malloc((size_t)s->out * sizeof(float));
        if (!nw || !nb) { free(nw); free(nb); free(W); free(B); return CAM_ENOMEM; }
        if (s->kind == CAM__STEP_DENSE) {
            if (W) cam__sgemm(false, false, s->out, C, s->in, 1.0f, s->w, s->in, W, C, 0.0f, nw, C);
            else memcpy(nw, s->w, (size_t)s->out * (size_t)C * sizeof(float));
            for (int o = 0; o < s->out; o++) {
                double acc = s->b[o];
                if (B) for (int k = 0; k < s->in; k++) acc += (double)s->w[(size_t)o * s->in + k] * B[k];
                nb[o] = (float)acc;
            }
        } else {   /* SCALE */
            for (int o = 0; o < s->out; o++) {
                for (int k = 0; k < C; k++)
                    nw[(size_t)o * C + k] = s->w[o] * (W ? W[(size_t)o * C + k] : (k == o ? 1.0f : 0.0f));
                nb[o] = s->w[o] * (B ? B[o] : 0.0f) + s->b[o];
            }
        }
        free(W);
        free(B);
        W = nw;
        B = nb;
        rows = s->out;
    }
    (void)rows;
    h->w_eff = W;
    h->b_eff = B;
    return CAM_OK;
}

cam_status cam__cam_detect(cam_model *m, char *err, size_t errlen) {
    cam__head *h = &m->head;
    memset(h, 0, sizeof *h);
    h->feature = h->logits = -1;
    if (m->n_outputs < 1) { set_none(h, "the model has no output%s%s", "", ""); return CAM_OK; }
    int out = m->outputs[0];
    const cam__value *ov = &m->values[out];
    if (ov->t.rank < 1 || ov->t.dtype != CAM_FLOAT) { set_none(h, "output '%s' is not a float score vector%s", ov->name, ""); return CAM_OK; }
    int64_t batch = ov->t.dims[0];
    /* walk back from the output to the pooling */
    int chain[CAM__MAX_HEAD_NODES], depth = 0;
    int cur = out, pool = -1, logits = out;
    bool softmax = false;
    while (depth < CAM__MAX_HEAD_NODES) {
        int p = m->values[cur].producer;
        if (p < 0 || m->nodes[p].dead) { set_none(h, "no global average pooling before the output '%s'%s", ov->name, ""); return CAM_OK; }
        const cam__node *n = &m->nodes[p];
        if (is_global_avg_pool(m, n)) { pool = p; break; }
        if ((is(n, "Softmax") || is(n, "LogSoftmax")) && depth == 0) {
            softmax = true;
            logits = n->in[0];
        } else {
            chain[depth++] = p;
        }
        if (is(n, "MaxPool") || is(n, "GlobalMaxPool") || is(n, "ReduceMax")) {
            set_none(h, "the features are max-pooled (%s), but CAM needs global *average* pooling "
                     "followed by a linear classifier%s", n->name, "");
            return CAM_OK;
        }
        int ci = chain_input(m, n);
        if (ci < 0) { set_none(h, "node %s (%s) mixes two computed tensors before the output", n->name, n->op_type); return CAM_OK; }
        cur = n->in[ci];
        if (m->values[cur].t.rank == 4 && per_item(&m->values[cur].t, batch) > 0 &&
            m->values[cur].t.dims[2] * m->values[cur].t.dims[3] > 1 && !is_global_avg_pool(m, n)) {
            /* a spatial map reached without a global pooling: e.g. VGG's flatten -> fully connected */
            int pp = m->values[cur].producer;
            if (pp < 0 || !is_global_avg_pool(m, &m->nodes[pp])) {
                set_none(h, "no global average pooling between the last feature map '%s' and the classifier "
                         "(%s): CAM needs GAP followed by a linear classifier", m->values[cur].name, n->name);
                return CAM_OK;
            }
        }
    }
    if (pool < 0) { set_none(h, "no global average pooling found before output '%s'%s", ov->name, ""); return CAM_OK; }
    const cam__node *pn = &m->nodes[pool];
    int f = pn->in[0];
    const cam__tensor *ft = &m->values[f].t;
    if (m->opt.cam_layer && strcmp(m->opt.cam_layer, m->values[f].name) != 0)
        return cam__fail(err, errlen, CAM_EINVAL, "cam.layer '%s' is not the feature map entering the global pooling "
                         "('%s'); CAM is defined on that tensor", m->opt.cam_layer, m->values[f].name);
    int C = (int)ft->dims[1];
    int64_t width = C;
    for (int i = depth - 1; i >= 0; i--) {
        cam_status st;
        const cam__node *n = &m->nodes[chain[i]];
        const char *why = head_node(m, n, batch, &width, h, &st);
        if (st == CAM_ENOMEM) { cam__cam_free(m); return cam__fail(err, errlen, st, "out of memory"); }
        if (why) {
            char what[200];
            snprintf(what, sizeof what, "%s (%s)", n->name, n->op_type);
            cam__cam_free(m);
            h->feature = h->logits = -1;
            set_none(h, "the classifier head after the global pooling has %s: %s", what,
                     strcmp(why, "unsupported") == 0 ? "an operator CAM/Grad-CAM cannot follow" : why);
            return CAM_OK;
        }
    }
    int classes = (int)per_item(&m->values[logits].t, batch);
    if (width != classes) {
        cam__cam_free(m);
        set_none(h, "the head's width does not match the logits '%s'%s", m->values[logits].name, "");
        return CAM_OK;
    }
    bool nonlinear = false, dense = false;
    for (int i = 0; i < h->n_steps; i++) {
        nonlinear = nonlinear || h->steps[i].kind == CAM__STEP_ACT;
        dense = dense || h->steps[i].kind != CAM__STEP_ACT;
    }
    h->feature = f;
    h->logits = logits;
    m->values[f].keep = true;
    m->values[logits].keep = true;
    cam_head_info *in = &h->info;
    in->feature = m->values[f].name;
    in->pool = pn->name;
    in->logits = m->values[logits].name;
    in->channels = C;
    in->height = (int)ft->dims[2];
    in->width = (int)ft->dims[3];
    in->classes = classes;
    in->softmax_output = softmax;
    in->reason = "";
    if (nonlinear) {
        in->kind = CAM_HEAD_NONLINEAR;
        in->kind_name = "nonlinear";
        in->method = "gradcam";
    } else {
        in->kind = dense ? CAM_HEAD_LINEAR : CAM_HEAD_POOLED_CLASSES;
        in->kind_name = dense ? "linear" : "conv-before-pool";
        in->method = "cam";
        if (dense && compose_linear(h, C) != CAM_OK) { cam__cam_free(m); return cam__fail(err, errlen, CAM_ENOMEM, "out of memory"); }
    }
    /* session buffer: CAM weights for up to CAM__MAX_CAMS classes, and for
     * Grad-CAM the vector at every step plus two gradient vectors */
    size_t widest = (size_t)C, chainlen = (size_t)C;
    for (int i = 0; i < h->n_steps; i++) {
        chainlen += (size_t)h->steps[i].out;
        if ((size_t)h->steps[i].out > widest) widest = (size_t)h->steps[i].out;
    }
    h->session_floats = (size_t)CAM__MAX_CAMS * (size_t)C + chainlen + 2 * widest + 64;
    return CAM_OK;
}

void cam_model_head(const cam_model *m, cam_head_info *info) {
    *info = m->head.info;
    if (!info->kind_name) {
        info->kind_name = "none";
        info->method = "";
        info->reason = m->head.reason[0] ? m->head.reason : "CAM detection was not requested";
        info->feature = info->pool = info->logits = "";
    }
}

/* ---- runtime ---------------------------------------------------------------------- */

const float *cam_session_logits(const cam_session *s, int b) {
    const cam__head *h = &s->m->head;
    if (h->logits < 0) return NULL;
    const cam__tensor *t = &s->vt[h->logits];
    int64_t batch = t->dims[0];
    if (b < 0 || b >= batch) return NULL;
    return cam__f32(t) + (size_t)b * (size_t)h->info.classes;
}

static float act_grad(const cam__act *a, float x) {
    switch (a->kind) {
    case CAM__ACT_NONE: return 1.0f;
    case CAM__ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case CAM__ACT_CLIP: return x > a->a && x < a->b ? 1.0f : 0.0f;
    case CAM__ACT_SIGMOID: { float s = 1.0f / (1.0f + expf(-x)); return s * (1.0f - s); }
    case CAM__ACT_SILU: { float s = 1.0f / (1.0f + expf(-x)); return s * (1.0f + x * (1.0f - s)); }
    case CAM__ACT_HARDSIGMOID: { float v = a->a * x + a->b; return v > 0.0f && v < 1.0f ? a->a : 0.0f; }
    case CAM__ACT_HARDSWISH: return x < -3.0f ? 0.0f : x > 3.0f ? 1.0f : x / 3.0f + 0.5f;
    }
    return 1.0f;
}

/* Grad-CAM weights: for each class, d logit / d g through the head steps,
 * divided by h*w (g is the mean of F). */
static void gradcam_weights(cam_session *s, const float *F, const int *classes, int n, float *wout) {
    const cam__head *h = &s->m->head;
    int C = h->info.channels, hw = h->info.height * h->info.width;
    float *vals = s->cam_buf + (size_t)CAM__MAX_CAMS * C;   /* g, then every step's input vector */
    size_t widest = (size_t)C;
    for (int i = 0; i < h->n_steps; i++) if ((size_t)h->steps[i].out > widest) widest = (size_t)h->steps[i].out;
    /* forward from g = mean(F) */
    for (int k = 0; k < C; k++) {
        double acc = 0;
        for (int p = 0; p < hw; p++) acc += F[(size_t)k * hw + p];
        vals[k] = (float)(acc / hw);
    }
    size_t off[CAM__MAX_HEAD_NODES * 2 + 2];
    off[0] = 0;
    for (int i = 0; i < h->n_steps; i++) {
        const cam__head_step *st = &h->steps[i];
        const float *x = vals + off[i];
        float *y = vals + off[i] + (size_t)st->in;
        off[i + 1] = off[i] + (size_t)st->in;
        if (st->kind == CAM__STEP_DENSE) {
            for (int o = 0; o < st->out; o++) {
                double acc = st->b[o];
                for (int k = 0; k < st->in; k++) acc += (double)st->w[(size_t)o * st->in + k] * x[k];
                y[o] = (float)acc;
            }
        } else if (st->kind == CAM__STEP_SCALE) {
            for (int o = 0; o < st->out; o++) y[o] = st->w[o] * x[o] + st->b[o];
        } else {
            memcpy(y, x, (size_t)st->in * sizeof(float));
            cam__act_apply(&st->act, y, (size_t)st->in);
        }
    }
    size_t total = off[h->n_steps] + (size_t)(h->n_steps ? h->steps[h->n_steps - 1].out : C);
    float *d = vals + total, *d2 = d + widest;
    for (int c = 0; c < n; c++) {
        int width = h->info.classes;
        memset(d, 0, (size_t)width * sizeof(float));
        d[classes[c]] = 1.0f;
        for (int i = h->n_steps - 1; i >= 0; i--) {
            const cam__head_step *st = &h->steps[i];
            const float *x = vals + off[i];
            if (st->kind == CAM__STEP_DENSE) {
                for (int k = 0; k < st->in; k++) d2[k] = 0.0f;
                for (int o = 0; o < st->out; o++) {
                    float g = d[o];
                    if (g == 0.0f) continue;
                    const float *wr = st->w + (size_t)o * st->in;
                    for (int k = 0; k < st->in; k++) d2[k] += g * wr[k];
                }
            } else if (st->kind == CAM__STEP_SCALE) {
                for (int k = 0; k < st->in; k++) d2[k] = d[k] * st->w[k];
            } else {
                for (int k = 0; k < st->in; k++) d2[k] = d[k] * act_grad(&st->act, x[k]);
            }
            float *t = d; d = d2; d2 = t;
            width = st->in;
        }
        for (int k = 0; k < C; k++) wout[(size_t)c * C + k] = d[k] / (float)hw;
    }
}

static cam_status check_request(const cam_session *s, int b, const int *classes, int n, cam_method method,
                                char *err, size_t errlen) {
    const cam__head *h = &s->m->head;
    if (h->info.kind == CAM_HEAD_NONE || h->feature < 0)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "CAM does not apply to this model: %s",
                         h->reason[0] ? h->reason : "no head detected");
    if (method == CAM_METHOD_CAM && h->info.kind == CAM_HEAD_NONLINEAR)
        return cam__fail(err, errlen, CAM_EINVAL, "the head is non-linear: CAM is undefined, use Grad-CAM");
    int64_t batch = s->vt[h->feature].dims[0];
    if (b < 0 || b >= batch) return cam__fail(err, errlen, CAM_EINVAL, "batch index %d out of range", b);
    if (n < 1 || n > CAM__MAX_CAMS) return cam__fail(err, errlen, CAM_EINVAL, "between 1 and %d classes per call, not %d", CAM__MAX_CAMS, n);
    for (int i = 0; i < n; i++)
        if (classes[i] < 0 || classes[i] >= h->info.classes)
            return cam__fail(err, errlen, CAM_EINVAL, "class %d out of range 0..%d", classes[i], h->info.classes - 1);
    return CAM_OK;
}

cam_status cam_session_cam_weights(cam_session *s, int b, const int *classes, int n, cam_method method,
                                   float *weights, float *bias, char *err, size_t errlen) {
    cam_status st = check_request(s, b, classes, n, method, err, errlen);
    if (st != CAM_OK) return st;
    const cam__head *h = &s->m->head;
    int C = h->info.channels, hw = h->info.height * h->info.width;
    bool grad = method == CAM_METHOD_GRADCAM || (method == CAM_METHOD_AUTO && h->info.kind == CAM_HEAD_NONLINEAR);
    if (grad) {
        const float *F = cam__f32(&s->vt[h->feature]) + (size_t)b * (size_t)C * hw;
        gradcam_weights(s, F, classes, n, weights);
        if (bias) memset(bias, 0, (size_t)n * sizeof(float));
        return CAM_OK;
    }
    for (int i = 0; i < n; i++) {
        float *w = weights + (size_t)i * C;
        if (h->w_eff) memcpy(w, h->w_eff + (size_t)classes[i] * C, (size_t)C * sizeof(float));
        else { memset(w, 0, (size_t)C * sizeof(float)); w[classes[i]] = 1.0f; }
        if (bias) bias[i] = h->b_eff ? h->b_eff[classes[i]] : 0.0f;
    }
    return CAM_OK;
}

cam_status cam_session_cams(cam_session *s, int b, const int *classes, int n, cam_method method, float *maps,
                            char *err, size_t errlen) {
    const cam__head *h = &s->m->head;
    float *w = s->cam_buf;
    cam_status st = cam_session_cam_weights(s, b, classes, n, method, w, NULL, err, errlen);
    if (st != CAM_OK) return st;
    int C = h->info.channels, hw = h->info.height * h->info.width;
    const float *F = cam__f32(&s->vt[h->feature]) + (size_t)b * (size_t)C * hw;
    /* all requested maps in one product: (n x C) x (C x hw) */
    cam__sgemm(false, false, n, hw, C, 1.0f, w, C, F, hw, 0.0f, maps, hw);
    return CAM_OK;
}
