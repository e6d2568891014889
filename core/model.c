/* model.c: loading a model file, the name -> value table, and the public
 * read-only accessors of cam_model. */
#include "model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Model files larger than this are refused before reading (2 GiB is also
 * protobuf's own message limit). */
#define CAM__MAX_MODEL_BYTES ((size_t)2 << 30)

void cam_model_options_init(cam_model_options *o) {
    memset(o, 0, sizeof *o);
    o->optimize = 1;
    o->cam = 1;
}

/* ---- name -> value index ----------------------------------------------------- */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static bool map_rehash(cam_model *m, size_t cap) {
    int *nm = malloc(cap * sizeof *nm);
    if (!nm) return false;
    for (size_t i = 0; i < cap; i++) nm[i] = -1;
    for (int v = 0; v < m->n_values; v++) {
        size_t h = hash_str(m->values[v].name) & (cap - 1);
        while (nm[h] >= 0) h = (h + 1) & (cap - 1);
        nm[h] = v;
    }
    free(m->map);
    m->map = nm;
    m->map_cap = cap;
    return true;
}

int cam__model_find(const cam_model *m, const char *name) {
    if (!m->map_cap) return -1;
    size_t h = hash_str(name) & (m->map_cap - 1);
    while (m->map[h] >= 0) {
        if (strcmp(m->values[m->map[h]].name, name) == 0) return m->map[h];
        h = (h + 1) & (m->map_cap - 1);
    }
    return -1;
}

int cam__model_value(cam_model *m, const char *name) {
    int v = cam__model_find(m, name);
    if (v >= 0) return v;
    if (m->n_values >= m->cap_values) {
        int nc = m->cap_values ? m->cap_values * 2 : 64;
        cam__value *nv = realloc(m->values, (size_t)nc * sizeof *nv);
        if (!nv) return -1;
        m->values = nv;
        m->cap_values = nc;
    }
    if ((size_t)(m->n_values + 1) * 2 > m->map_cap && !map_rehash(m, m->map_cap ? m->map_cap * 2 : 128)) return -1;
    cam__value *val = &m->values[m->n_values];
    memset(val, 0, sizeof *val);
    if (!(val->name = strdup(name))) return -1;
    val->producer = -1;
    val->declared = CAM_FLOAT;
    val->t.dtype = CAM_FLOAT;
    v = m->n_values++;
    size_t h = hash_str(name) & (m->map_cap - 1);
    while (m->map[h] >= 0) h = (h + 1) & (m->map_cap - 1);
    m->map[h] = v;
    return v;
}

int cam__model_add_node(cam_model *m) {
    if (m->n_nodes >= m->cap_nodes) {
        int nc = m->cap_nodes ? m->cap_nodes * 2 : 64;
        cam__node *nn = realloc(m->nodes, (size_t)nc * sizeof *nn);
        if (!nn) return -1;
        m->nodes = nn;
        m->cap_nodes = nc;
    }
    memset(&m->nodes[m->n_nodes], 0, sizeof m->nodes[0]);
    return m->n_nodes++;
}

/* ---- load / free ---------------------------------------------------------------- */

static void free_attr(cam__attr *a) {
    free(a->name);
    free(a->s);
    free(a->floats);
    free(a->ints);
    if (a->t) { cam__aligned_free(a->t->data); free(a->t); }
}

void cam_model_free(cam_model *m) {
    if (!m) return;
    cam__cam_free(m);
    for (int i = 0; i < m->n_nodes; i++) {
        cam__node *n = &m->nodes[i];
        free(n->name);
        free(n->op_type);
        free(n->domain);
        free(n->in);
        free(n->out);
        for (int a = 0; a < n->n_attrs; a++) free_attr(&n->attrs[a]);
        free(n->attrs);
        free(n->params);
    }
    for (int i = 0; i < m->n_values; i++) {
        free(m->values[i].name);
        if (m->values[i].kind == CAM__V_CONST) cam__aligned_free(m->values[i].t.data);
    }
    for (int i = 0; i < m->n_op_counts; i++) free(m->op_counts[i].name);
    free(m->op_counts);
    free(m->nodes);
    free(m->values);
    free(m->inputs);
    free(m->outputs);
    free(m->exec);
    free(m->map);
    free(m->producer);
    free(m);
}

static cam_status count_ops(cam_model *m) {
    m->nodes_in_file = m->n_nodes;
    for (int i = 0; i < m->n_nodes; i++) {
        const char *op = m->nodes[i].op_type;
        int k = 0;
        while (k < m->n_op_counts && strcmp(m->op_counts[k].name, op) != 0) k++;
        if (k == m->n_op_counts) {
            cam__op_count *nc = realloc(m->op_counts, (size_t)(k + 1) * sizeof *nc);
            if (!nc) return CAM_ENOMEM;
            m->op_counts = nc;
            if (!(nc[k].name = strdup(op))) return CAM_ENOMEM;
            nc[k].count = 0;
            m->n_op_counts++;
        }
        m->op_counts[k].count++;
    }
    return CAM_OK;
}

/* Parses the file's bytes into a new model (every tensor copied out). */
static cam_status load_parse(const void *data, size_t len, const cam_model_options *opt, cam_model **out,
                             char *err, size_t errlen) {
    *out = NULL;
    cam_status st = cam_runtime_init(err, errlen);
    if (st != CAM_OK) return st;
    cam_model *m = calloc(1, sizeof *m);
    if (!m) return cam__fail(err, errlen, CAM_ENOMEM, "out of memory");
    if (opt) m->opt = *opt;
    else cam_model_options_init(&m->opt);
    m->opt.keep = NULL;   /* not owned; applied during prepare only */
    m->opt.constants = NULL;
    if ((st = cam__onnx_parse(m, data, len, err, errlen)) != CAM_OK ||
        (st = count_ops(m)) != CAM_OK) {
        if (st == CAM_ENOMEM) cam__fail(err, errlen, st, "out of memory loading the model");
        cam_model_free(m);
        return st;
    }
    *out = m;
    return CAM_OK;
}

/* Prepares a parsed model (graph optimisation, CAM head, memory plan). */
static cam_status load_prepare(cam_model *m, const cam_model_options *opt, char *err, size_t errlen) {
    cam_status st;
    /* The caller's lists are used during this call only.  The CAM layer is
     * kept from the start so that no fusion swallows it. */
    const char **keep = calloc((size_t)(opt ? opt->n_keep : 0) + 2, sizeof *keep);
    if (!keep) return cam__fail(err, errlen, CAM_ENOMEM, "out of memory");
    int n_keep = 0;
    for (int i = 0; opt && i < opt->n_keep; i++) keep[n_keep++] = opt->keep[i];
    if (opt && opt->cam && opt->cam_layer) keep[n_keep++] = opt->cam_layer;
    m->opt.keep = keep;
    m->opt.n_keep = n_keep;
    m->opt.cam_layer = opt ? opt->cam_layer : NULL;
    if (opt) {
        m->opt.constants = opt->constants;
        m->opt.n_constants = opt->n_constants;
    }
    st = cam__graph_prepare(m, err, errlen);
    if (st == CAM_OK && m->opt.cam) st = cam__cam_detect(m, err, errlen);
    free(keep);
    m->opt.keep = NULL;
    m->opt.n_keep = 0;
    m->opt.constants = NULL;
    m->opt.n_constants = 0;
    m->opt.cam_layer = NULL;
    if (st == CAM_OK) {
        cam__release_packed_constants(m);
        st = cam__plan(m, err, errlen);
    }
    return st;
}

cam_status cam_model_load_buffer(const void *data, size_t len, const cam_model_options *opt,
                                 cam_model **out, char *err, size_t errlen) {
    if (!out) return cam__fail(err, errlen, CAM_EINVAL, "out is NULL");
    cam_model *m;
    cam_status st = load_parse(data, len, opt, &m, err, errlen);
    if (st == CAM_OK && (st = load_prepare(m, opt, err, errlen)) != CAM_OK) { cam_model_free(m); m = NULL; }
    *out = m;
    return st;
}

cam_status cam_model_load(const char *path, const cam_model_options *opt, cam_model **out,
                          char *err, size_t errlen) {
    if (!path || !out) return cam__fail(err, errlen, CAM_EINVAL, "path or out is NULL");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return cam__fail(err, errlen, CAM_EIO, "cannot open %s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return cam__fail(err, errlen, CAM_EIO, "cannot seek %s", path); }
    long sz = ftell(f);
    if (sz < 0 || (size_t)sz > CAM__MAX_MODEL_BYTES) {
        fclose(f);
        return cam__fail(err, errlen, CAM_ELIMIT, "%s: size %ld is not a loadable model (limit 2 GiB)", path, sz);
    }
    rewind(f);
    uint8_t *buf = malloc(sz ? (size_t)sz : 1);
    if (!buf) { fclose(f); return cam__fail(err, errlen, CAM_ENOMEM, "out of memory reading %s", path); }
    size_t got = fread(buf, 1, (size_t)sz, f);
    fclose(f);
    if (got != (size_t)sz) { free(buf); return cam__fail(err, errlen, CAM_EIO, "short read on %s", path); }
    /* The file buffer is freed as soon as the graph holds its own copy of
     * every tensor, before packed weights are derived: peak memory stays
     * near twice the file. */
    char inner[512];
    inner[0] = 0;
    cam_model *m;
    cam_status st = load_parse(buf, (size_t)sz, opt, &m, inner, sizeof inner);
    free(buf);
    if (st == CAM_OK && (st = load_prepare(m, opt, inner, sizeof inner)) != CAM_OK) cam_model_free(m);
    if (st != CAM_OK) return cam__fail(err, errlen, st, "%s: %s", path, inner);
    *out = m;
    return CAM_OK;
}

/* ---- accessors ---------------------------------------------------------------- */

static void fill_info(const cam__value *v, cam_tensor_info *info) {
    memset(info, 0, sizeof *info);
    info->name = v->name;
    info->dtype = v->declared == CAM_INT32 ? CAM_INT32 : v->t.dtype;
    info->rank = v->t.rank;
    for (int i = 0; i < v->t.rank && i < CAM_MAX_RANK; i++) info->dims[i] = v->t.dims[i];
    info->numel = v->t.numel;
}

int cam_model_num_inputs(const cam_model *m) { return m->n_inputs; }
int cam_model_num_outputs(const cam_model *m) { return m->n_outputs; }
void cam_model_input_info(const cam_model *m, int i, cam_tensor_info *info) { fill_info(&m->values[m->inputs[i]], info); }
void cam_model_output_info(const cam_model *m, int i, cam_tensor_info *info) { fill_info(&m->values[m->outputs[i]], info); }

cam_status cam_model_tensor_info(const cam_model *m, const char *name, cam_tensor_info *info) {
    int v = cam__model_find(m, name);
    if (v < 0 || !m->values[v].shape_known) return CAM_EINVAL;
    fill_info(&m->values[v], info);
    return CAM_OK;
}

void cam_model_stats_get(const cam_model *m, cam_model_stats *s) { *s = m->stats; }

int cam_model_num_op_types(const cam_model *m) { return m->n_op_counts; }
void cam_model_op_type(const cam_model *m, int i, const char **name, int *count) {
    *name = m->op_counts[i].name;
    *count = m->op_counts[i].count;
}

int cam_model_num_nodes(const cam_model *m) { return m->n_exec; }

int cam_model_node(const cam_model *m, int i, cam_node_info *info) {
    if (i < 0 || i >= m->n_exec) return 0;
    const cam__node *n = &m->nodes[m->exec[i]];
    memset(info, 0, sizeof *info);
    info->name = n->name;
    info->op_type = n->op_type;
    info->n_inputs = n->n_in < 16 ? n->n_in : 16;
    info->n_outputs = n->n_out < 4 ? n->n_out : 4;
    for (int k = 0; k < info->n_inputs; k++) info->inputs[k] = n->in[k] >= 0 ? m->values[n->in[k]].name : "";
    for (int k = 0; k < info->n_outputs; k++) info->outputs[k] = m->values[n->out[k]].name;
    info->fused_activation = cam__act_name(n->act.kind);
    return 1;
}

const void *cam_model_constant(const cam_model *m, const char *name, cam_tensor_info *info) {
    int v = cam__model_find(m, name);
    if (v < 0 || m->values[v].kind != CAM__V_CONST) return NULL;
    if (info) fill_info(&m->values[v], info);
    return m->values[v].t.data;
}

static const cam__attr *node_attr(const cam_model *m, int i, const char *attr) {
    if (i < 0 || i >= m->n_exec) return NULL;
    return cam__attr_find(&m->nodes[m->exec[i]], attr);
}

int cam_model_node_attr_int(const cam_model *m, int i, const char *attr, int64_t *value) {
    const cam__attr *a = node_attr(m, i, attr);
    if (!a || a->type != CAM__ATTR_INT) return 0;
    *value = a->i;
    return 1;
}

int cam_model_node_attr_ints(const cam_model *m, int i, const char *attr, const int64_t **v, int *n) {
    const cam__attr *a = node_attr(m, i, attr);
    if (!a || a->type != CAM__ATTR_INTS) return 0;
    *v = a->ints;
    *n = a->n;
    return 1;
}

int cam_model_node_attr_float(const cam_model *m, int i, const char *attr, float *value) {
    const cam__attr *a = node_attr(m, i, attr);
    if (!a || a->type != CAM__ATTR_FLOAT) return 0;
    *value = a->f;
    return 1;
}
