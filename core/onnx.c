/* onnx.c: ONNX ModelProto -> cam_model values and nodes.
 *
 * A direct reader of the protobuf wire format (pb.h) for the fields ONNX
 * inference needs; field numbers are those of onnx/onnx.proto.  Unknown
 * fields are skipped, so newer files load as long as what we need is
 * there.  Every length is checked against the bytes that remain, and every
 * count against the dims it claims, before anything is allocated from it. */
#include "model.h"
#include "pb.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* onnx.proto field numbers */
enum { MODEL_IR_VERSION = 1, MODEL_PRODUCER = 2, MODEL_GRAPH = 7, MODEL_OPSET = 8 };
enum { OPSET_DOMAIN = 1, OPSET_VERSION = 2 };
enum { GRAPH_NODE = 1, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12, GRAPH_SPARSE_INIT = 15 };
enum { NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5, NODE_DOMAIN = 7 };
enum { ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_S = 4, ATTR_T = 5, ATTR_G = 6, ATTR_FLOATS = 7,
       ATTR_INTS = 8, ATTR_STRINGS = 9, ATTR_TYPE = 20 };
enum { TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_SEGMENT = 3, TENSOR_FLOAT_DATA = 4,
       TENSOR_INT32_DATA = 5, TENSOR_INT64_DATA = 7, TENSOR_NAME = 8, TENSOR_RAW_DATA = 9,
       TENSOR_DOUBLE_DATA = 10, TENSOR_DATA_LOCATION = 14 };
enum { VI_NAME = 1, VI_TYPE = 2 };
enum { TYPE_TENSOR = 1 };
enum { TT_ELEM_TYPE = 1, TT_SHAPE = 2 };
enum { SHAPE_DIM = 1 };
enum { DIM_VALUE = 1, DIM_PARAM = 2 };

#define BAD(what) cam__fail(err, errlen, CAM_EFORMAT, "corrupt ONNX file: %s", what)

static char *dup_bytes(const cam__pb *s) {
    size_t n = (size_t)(s->end - s->p);
    char *c = malloc(n + 1);
    if (!c) return NULL;
    memcpy(c, s->p, n);
    c[n] = 0;
    /* names with embedded NULs would alias shorter names; cut at the first NUL */
    return c;
}

static bool grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return true;
    int nc = *cap ? *cap : 8;
    while (nc < need) {
        if (nc > INT_MAX / 2) return false;
        nc *= 2;
    }
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return false;
    *p = q;
    *cap = nc;
    return true;
}

/* ---- TensorProto ---------------------------------------------------------- */

static const char *dtype_name(int64_t t) {
    static const char *names[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64",
                                  "STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64",
                                  "COMPLEX128", "BFLOAT16"};
    return t >= 0 && t < (int64_t)(sizeof names / sizeof names[0]) ? names[t] : "unknown";
}


cam_status cam__onnx_parse_tensor(const uint8_t *data, size_t len, cam__tensor *t, cam_dtype *declared,
                                  char **name, char *err, size_t errlen) {
    cam__pb r = cam__pb_make(data, len), sub;
    int64_t dims[CAM__MAX_RANK] = {0};
    int rank = 0;
    int64_t dtype = 0;
    cam__pb raw = {0}, fdata = {0}, i32 = {0}, i64 = {0}, ddata = {0};
    bool has_raw = false;
    /* typed data may come in several packed chunks or as single values: we
     * only accept the packed form, which every ONNX writer uses, plus single
     * unpacked values for scalars (recorded below). */
    size_t n_f = 0, n_i32 = 0, n_i64 = 0, n_d = 0;
    float single_f = 0;
    uint64_t single_i = 0;
    int singles = 0;
    char *nm = NULL;
    memset(t, 0, sizeof *t);
    while (!cam__pb_done(&r)) {
        uint32_t f;
        int w;
        uint64_t v;
        if (!cam__pb_key(&r, &f, &w)) goto bad;
        switch (f) {
        case TENSOR_DIMS:
            if (w == CAM__PB_LEN) {
                if (!cam__pb_len(&r, &sub)) goto bad;
                while (!cam__pb_done(&sub)) {
                    if (!cam__pb_varint(&sub, &v)) goto bad;
                    if (rank >= CAM__MAX_RANK) goto toodeep;
                    dims[rank++] = (int64_t)v;
                }
            } else if (w == CAM__PB_VARINT) {
                if (!cam__pb_varint(&r, &v)) goto bad;
                if (rank >= CAM__MAX_RANK) goto toodeep;
                dims[rank++] = (int64_t)v;
            } else goto bad;
            break;
        case TENSOR_DATA_TYPE:
            if (w != CAM__PB_VARINT || !cam__pb_varint(&r, &v)) goto bad;
            dtype = (int64_t)v;
            break;
        case TENSOR_NAME:
            if (w != CAM__PB_LEN || !cam__pb_len(&r, &sub)) goto bad;
            free(nm);
            nm = dup_bytes(&sub);
            if (!nm) goto nomem;
            break;
        case TENSOR_RAW_DATA:
            if (w != CAM__PB_LEN || !cam__pb_len(&r, &raw)) goto bad;
            has_raw = true;
            break;
        case TENSOR_FLOAT_DATA:
            if (w == CAM__PB_LEN) {
                if (n_f || !cam__pb_len(&r, &fdata) || (fdata.end - fdata.p) % 4) goto bad;
                n_f = (size_t)(fdata.end - fdata.p) / 4;
            } else if (w == CAM__PB_I32) {
                uint32_t u;
                if (!cam__pb_fixed32(&r, &u)) goto bad;
                memcpy(&single_f, &u, 4);
                singles++;
                n_f = 1;
            } else goto bad;
            break;
        case TENSOR_INT32_DATA:
        case TENSOR_INT64_DATA:
            if (w == CAM__PB_LEN) {
                cam__pb *dst = f == TENSOR_INT32_DATA ? &i32 : &i64;
                size_t *cnt = f == TENSOR_INT32_DATA ? &n_i32 : &n_i64;
                if (*cnt || !cam__pb_len(&r, dst) || !cam__pb_count_varints(*dst, cnt)) goto bad;
            } else if (w == CAM__PB_VARINT) {
                if (!cam__pb_varint(&r, &single_i)) goto bad;
                singles++;
                if (f == TENSOR_INT32_DATA) n_i32 = 1; else n_i64 = 1;
            } else goto bad;
            break;
        case TENSOR_DOUBLE_DATA:
            if (w != CAM__PB_LEN || !cam__pb_len(&r, &ddata) || (ddata.end - ddata.p) % 8) goto bad;
            n_d = (size_t)(ddata.end - ddata.p) / 8;
            break;
        case TENSOR_SEGMENT:
            free(nm);
            return cam__fail(err, errlen, CAM_EUNSUPPORTED, "segmented tensors are not supported");
        case TENSOR_DATA_LOCATION:
            if (w != CAM__PB_VARINT || !cam__pb_varint(&r, &v)) goto bad;
            if (v == 1) {
                cam_status st = cam__fail(err, errlen, CAM_EUNSUPPORTED,
                                          "tensor '%s' uses external data, which is not supported "
                                          "(save the model with all tensors inside the .onnx file)", nm ? nm : "");
                free(nm);
                return st;
            }
            break;
        default:
            if (!cam__pb_skip(&r, w)) goto bad;
        }
    }
    if (singles > 1) {
        cam_status st = cam__fail(err, errlen, CAM_EUNSUPPORTED, "tensor '%s': unpacked repeated data is not supported",
                                  nm ? nm : "");
        free(nm);
        return st;
    }
    if (!cam__tensor_set_shape(t, rank, dims)) {
        cam_status st = cam__fail(err, errlen, CAM_ELIMIT, "tensor '%s' has negative or overflowing dims", nm ? nm : "");
        free(nm);
        return st;
    }
    cam_dtype decl;
    switch (dtype) {
    case CAM_FLOAT: t->dtype = decl = CAM_FLOAT; break;
    case CAM_INT32: decl = CAM_INT32; t->dtype = CAM_INT64; break;
    case CAM_INT64: t->dtype = decl = CAM_INT64; break;
    case 11: decl = CAM_FLOAT; t->dtype = CAM_FLOAT; break;   /* DOUBLE: narrowed to float */
    default: {
        cam_status st = cam__fail(err, errlen, CAM_EUNSUPPORTED, "tensor '%s' has data type %s, not supported "
                                  "(float32, int32, int64, double)", nm ? nm : "", dtype_name(dtype));
        free(nm);
        return st;
    }
    }
    size_t n = t->numel;
    size_t have = has_raw ? 0 : dtype == CAM_FLOAT ? n_f : dtype == CAM_INT32 ? n_i32 : dtype == CAM_INT64 ? n_i64 : n_d;
    if (has_raw) {
        size_t esz = dtype == CAM_FLOAT || dtype == CAM_INT32 ? 4 : 8;
        size_t bytes;
        if (!cam__mul_ok(n, esz, &bytes) || bytes != (size_t)(raw.end - raw.p)) {
            cam_status st = cam__fail(err, errlen, CAM_EFORMAT, "tensor '%s': raw_data has %zu bytes, dims need %zu x %zu",
                                      nm ? nm : "", (size_t)(raw.end - raw.p), n, esz);
            free(nm);
            return st;
        }
    } else if (have != n) {
        cam_status st = cam__fail(err, errlen, CAM_EFORMAT, "tensor '%s': %zu values for %zu elements", nm ? nm : "", have, n);
        free(nm);
        return st;
    }
    t->data = cam__aligned_alloc(n * cam_dtype_size(t->dtype));
    if (!t->data) goto nomem;
    if (n == 0) {
        /* empty tensor: nothing to copy (and the data pointers may be NULL) */
    } else if (t->dtype == CAM_FLOAT) {
        float *o = t->data;
        if (dtype == CAM_FLOAT) {
            if (has_raw) memcpy(o, raw.p, n * 4);
            else if (singles) o[0] = single_f;
            else memcpy(o, fdata.p, n * 4);
        } else {   /* double */
            const uint8_t *p = has_raw ? raw.p : ddata.p;
            for (size_t i = 0; i < n; i++) { double d; memcpy(&d, p + 8 * i, 8); o[i] = (float)d; }
        }
    } else {
        int64_t *o = t->data;
        if (has_raw) {
            for (size_t i = 0; i < n; i++) {
                if (dtype == CAM_INT32) { int32_t x; memcpy(&x, raw.p + 4 * i, 4); o[i] = x; }
                else memcpy(&o[i], raw.p + 8 * i, 8);
            }
        } else if (singles) {
            o[0] = dtype == CAM_INT32 ? (int64_t)(int32_t)single_i : (int64_t)single_i;
        } else {
            cam__pb s = dtype == CAM_INT32 ? i32 : i64;
            for (size_t i = 0; i < n; i++) {
                uint64_t v;
                if (!cam__pb_varint(&s, &v)) { cam__aligned_free(t->data); t->data = NULL; goto bad; }
                o[i] = dtype == CAM_INT32 ? (int64_t)(int32_t)v : (int64_t)v;
            }
        }
    }
    if (declared) *declared = decl;
    if (name) *name = nm; else free(nm);
    return CAM_OK;
toodeep:
    free(nm);
    return cam__fail(err, errlen, CAM_EUNSUPPORTED, "tensor has more than %d dims", CAM__MAX_RANK);
nomem:
    free(nm);
    return cam__fail(err, errlen, CAM_ENOMEM, "out of memory reading a tensor");
bad:
    free(nm);
    return BAD("bad TensorProto");
}

/* ---- AttributeProto -------------------------------------------------------- */

static cam_status parse_attr(cam__pb r, cam__attr *a, char *err, size_t errlen) {
    cam__pb sub;
    cam__pb floats = {0}, ints = {0};
    bool have_f = false, have_i = false, have_s = false, have_t = false, have_g = false;
    int n_floats_single = 0, n_ints_single = 0, n_strings = 0;
    float fsingle[64];
    int64_t isingle[64];
    int64_t type = 0;
    memset(a, 0, sizeof *a);
    while (!cam__pb_done(&r)) {
        uint32_t f;
        int w;
        uint64_t v;
        if (!cam__pb_key(&r, &f, &w)) return BAD("bad AttributeProto key");
        switch (f) {
        case ATTR_NAME:
            if (w != CAM__PB_LEN || !cam__pb_len(&r, &sub)) return BAD("bad attribute name");
            free(a->name);
            if (!(a->name = dup_bytes(&sub))) return CAM_ENOMEM;
            break;
        case ATTR_TYPE:
            if (w != CAM__PB_VARINT || !cam__pb_varint(&r, &v)) return BAD("bad attribute type");
            type = (int64_t)v;
            break;
        case ATTR_F: {
            uint32_t u;
            if (w != CAM__PB_I32 || !cam__pb_fixed32(&r, &u)) return BAD("bad attribute f");
            memcpy(&a->f, &u, 4);
            have_f = true;
            break;
        }
        case ATTR_I:
            if (w != CAM__PB_VARINT || !cam__pb_varint(&r, &v)) return BAD("bad attribute i");
            a->i = (int64_t)v;
            have_i = true;
            break;
        case ATTR_S:
            if (w != CAM__PB_LEN || !cam__pb_len(&r, &sub)) return BAD("bad attribute s");
            free(a->s);
            if (!(a->s = dup_bytes(&sub))) return CAM_ENOMEM;
            have_s = true;
            break;
        case ATTR_T: {
            if (w != CAM__PB_LEN || !cam__pb_len(&r, &sub)) return BAD("bad attribute t");
            if (a->t) return BAD("attribute with two tensors");
            a->t = calloc(1, sizeof *a->t);
            if (!a->t) return CAM_ENOMEM;
            cam_status st = cam__onnx_parse_tensor(sub.p, (size_t)(sub.end - sub.p), a->t, NULL, NULL, err, errlen);
            if (st != CAM_OK) { free(a->t); a->t = NULL; return st; }
            have_t = true;
            break;
        }
        case ATTR_G:
            if (!cam__pb_skip(&r, w)) return BAD("bad attribute g");
            have_g = true;
            break;
        case ATTR_FLOATS:
            if (w == CAM__PB_LEN) {
                if (floats.p || !cam__pb_len(&r, &floats) || (floats.end - floats.p) % 4) return BAD("bad floats");
            } else if (w == CAM__PB_I32) {
                uint32_t u;
                if (!cam__pb_fixed32(&r, &u)) return BAD("bad floats");
                if (n_floats_single >= 64) return cam__fail(err, errlen, CAM_EUNSUPPORTED, "too many unpacked floats");
                memcpy(&fsingle[n_floats_single++], &u, 4);
            } else return BAD("bad floats");
            break;
        case ATTR_INTS:
            if (w == CAM__PB_LEN) {
                if (ints.p || !cam__pb_len(&r, &ints)) return BAD("bad ints");
            } else if (w == CAM__PB_VARINT) {
                if (!cam__pb_varint(&r, &v)) return BAD("bad ints");
                if (n_ints_single >= 64) return cam__fail(err, errlen, CAM_EUNSUPPORTED, "too many unpacked ints");
                isingle[n_ints_single++] = (int64_t)v;
            } else return BAD("bad ints");
            break;
        case ATTR_STRINGS:
            if (!cam__pb_skip(&r, w)) return BAD("bad strings");
            n_strings++;
            break;
        default:
            if (!cam__pb_skip(&r, w)) return BAD("bad attribute field");
        }
    }
    if (!a->name) return BAD("attribute without a name");
    /* IR < 3 files may omit `type`: infer it from the field present */
    if (type == 0) {
        type = have_f ? CAM__ATTR_FLOAT : have_i ? CAM__ATTR_INT : have_s ? CAM__ATTR_STRING : have_t ? CAM__ATTR_TENSOR
             : (floats.p || n_floats_single) ? CAM__ATTR_FLOATS : (ints.p || n_ints_single) ? CAM__ATTR_INTS
             : n_strings ? CAM__ATTR_STRINGS : have_g ? 5 : CAM__ATTR_INTS;
    }
    a->type = (cam__attr_type)type;
    if (type == CAM__ATTR_FLOATS) {
        size_t n = floats.p ? (size_t)(floats.end - floats.p) / 4 : (size_t)n_floats_single;
        if (n > INT_MAX / 8) return cam__fail(err, errlen, CAM_ELIMIT, "attribute %s too long", a->name);
        a->floats = malloc((n ? n : 1) * sizeof(float));
        if (!a->floats) return CAM_ENOMEM;
        if (floats.p) memcpy(a->floats, floats.p, n * 4);
        else memcpy(a->floats, fsingle, n * 4);
        a->n = (int)n;
    } else if (type == CAM__ATTR_INTS) {
        size_t n = (size_t)n_ints_single;
        if (ints.p && !cam__pb_count_varints(ints, &n)) return BAD("bad packed ints");
        if (n > INT_MAX / 8) return cam__fail(err, errlen, CAM_ELIMIT, "attribute %s too long", a->name);
        a->ints = malloc((n ? n : 1) * sizeof(int64_t));
        if (!a->ints) return CAM_ENOMEM;
        if (ints.p) {
            cam__pb s = ints;
            for (size_t i = 0; i < n; i++) { uint64_t v; cam__pb_varint(&s, &v); a->ints[i] = (int64_t)v; }
        } else {
            memcpy(a->ints, isingle, n * sizeof(int64_t));
        }
        a->n = (int)n;
    }
    return CAM_OK;
}

/* ---- NodeProto ------------------------------------------------------------ */

static cam_status parse_node(cam_model *m, cam__pb r, char *err, size_t errlen) {
    int ni = cam__model_add_node(m);
    if (ni < 0) return cam__fail(err, errlen, CAM_ENOMEM, "out of memory");
    cam__node *n = &m->nodes[ni];
    int cap_in = 0, cap_out = 0, cap_attr = 0;
    cam__pb sub;
    while (!cam__pb_done(&r)) {
        uint32_t f;
        int w;
        if (!cam__pb_key(&r, &f, &w)) return BAD("bad NodeProto key");
        if ((f == NODE_INPUT || f == NODE_OUTPUT || f == NODE_NAME || f == NODE_OP_TYPE || f == NODE_DOMAIN ||
             f == NODE_ATTRIBUTE) && w != CAM__PB_LEN)
            return BAD("bad NodeProto field");
        switch (f) {
        case NODE_INPUT:
        case NODE_OUTPUT: {
            if (!cam__pb_len(&r, &sub)) return BAD("bad node input/output");
            char *s = dup_bytes(&sub);
            if (!s) return CAM_ENOMEM;
            int vi = -1;
            if (*s || f == NODE_OUTPUT) {
                if (!*s) { free(s); return cam__fail(err, errlen, CAM_EFORMAT, "node has an unnamed output"); }
                vi = cam__model_value(m, s);
                if (vi < 0) { free(s); return CAM_ENOMEM; }
            }
            free(s);
            n = &m->nodes[ni];
            if (f == NODE_INPUT) {
                if (!grow((void **)&n->in, &cap_in, n->n_in + 1, sizeof(int))) return CAM_ENOMEM;
                n->in[n->n_in++] = vi;
            } else {
                if (!grow((void **)&n->out, &cap_out, n->n_out + 1, sizeof(int))) return CAM_ENOMEM;
                n->out[n->n_out++] = vi;
            }
            break;
        }
        case NODE_NAME:
            if (!cam__pb_len(&r, &sub)) return BAD("bad node name");
            free(n->name);
            if (!(n->name = dup_bytes(&sub))) return CAM_ENOMEM;
            break;
        case NODE_OP_TYPE:
            if (!cam__pb_len(&r, &sub)) return BAD("bad op_type");
            free(n->op_type);
            if (!(n->op_type = dup_bytes(&sub))) return CAM_ENOMEM;
            break;
        case NODE_DOMAIN:
            if (!cam__pb_len(&r, &sub)) return BAD("bad domain");
            free(n->domain);
            if (!(n->domain = dup_bytes(&sub))) return CAM_ENOMEM;
            break;
        case NODE_ATTRIBUTE: {
            if (!cam__pb_len(&r, &sub)) return BAD("bad attribute");
            if (!grow((void **)&n->attrs, &cap_attr, n->n_attrs + 1, sizeof(cam__attr))) return CAM_ENOMEM;
            cam_status st = parse_attr(sub, &n->attrs[n->n_attrs], err, errlen);
            n->n_attrs++;   /* counted even on failure so that free() releases it */
            if (st != CAM_OK) return st;
            break;
        }
        default:
            if (!cam__pb_skip(&r, w)) return BAD("bad NodeProto field");
        }
    }
    if (!n->op_type) return BAD("node without op_type");
    if (!n->domain && !(n->domain = strdup(""))) return CAM_ENOMEM;
    if (!n->name || !*n->name) {   /* unnamed nodes are common: name them for messages */
        char buf[64];
        snprintf(buf, sizeof buf, "%s_%d", n->op_type, ni);
        free(n->name);
        if (!(n->name = strdup(buf))) return CAM_ENOMEM;
    }
    return CAM_OK;
}

/* ---- ValueInfoProto (graph inputs/outputs) ---------------------------------- */

static cam_status parse_value_info(cam_model *m, cam__pb r, int *out_index, bool with_type, char *err, size_t errlen) {
    cam__pb sub, type = {0};
    char *name = NULL;
    while (!cam__pb_done(&r)) {
        uint32_t f;
        int w;
        if (!cam__pb_key(&r, &f, &w)) { free(name); return BAD("bad ValueInfoProto"); }
        if (f == VI_NAME && w == CAM__PB_LEN) {
            if (!cam__pb_len(&r, &sub)) { free(name); return BAD("bad value name"); }
            free(name);
            if (!(name = dup_bytes(&sub))) return CAM_ENOMEM;
        } else if (f == VI_TYPE && w == CAM__PB_LEN) {
            if (!cam__pb_len(&r, &type)) { free(name); return BAD("bad value type"); }
        } else if (!cam__pb_skip(&r, w)) {
            free(name);
            return BAD("bad ValueInfoProto field");
        }
    }
    if (!name || !*name) { free(name); return BAD("graph input/output without a name"); }
    int vi = cam__model_value(m, name);
    free(name);
    if (vi < 0) return CAM_ENOMEM;
    *out_index = vi;
    if (!with_type || !type.p) return CAM_OK;
    /* TypeProto.tensor_type.{elem_type, shape.dim[].{dim_value|dim_param}} */
    cam__value *v = &m->values[vi];
    v->t.rank = -1;   /* unknown until a shape field is seen */
    while (!cam__pb_done(&type)) {
        uint32_t f;
        int w;
        if (!cam__pb_key(&type, &f, &w)) return BAD("bad TypeProto");
        if (f != TYPE_TENSOR || w != CAM__PB_LEN) {
            if (!cam__pb_skip(&type, w)) return BAD("bad TypeProto");
            continue;
        }
        cam__pb tt;
        if (!cam__pb_len(&type, &tt)) return BAD("bad tensor type");
        while (!cam__pb_done(&tt)) {
            uint64_t u;
            if (!cam__pb_key(&tt, &f, &w)) return BAD("bad tensor type");
            if (f == TT_ELEM_TYPE && w == CAM__PB_VARINT) {
                if (!cam__pb_varint(&tt, &u)) return BAD("bad elem_type");
                v->declared = (cam_dtype)u;
            } else if (f == TT_SHAPE && w == CAM__PB_LEN) {
                cam__pb shp;
                if (!cam__pb_len(&tt, &shp)) return BAD("bad shape");
                v->t.rank = 0;
                while (!cam__pb_done(&shp)) {
                    if (!cam__pb_key(&shp, &f, &w)) return BAD("bad shape");
                    if (f != SHAPE_DIM || w != CAM__PB_LEN) {
                        if (!cam__pb_skip(&shp, w)) return BAD("bad shape");
                        continue;
                    }
                    cam__pb dim;
                    if (!cam__pb_len(&shp, &dim)) return BAD("bad dim");
                    if (v->t.rank >= CAM__MAX_RANK)
                        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "input/output '%s' has more than %d dims",
                                         v->name, CAM__MAX_RANK);
                    int64_t d = -1;   /* symbolic or unknown */
                    while (!cam__pb_done(&dim)) {
                        if (!cam__pb_key(&dim, &f, &w)) return BAD("bad dim");
                        if (f == DIM_VALUE && w == CAM__PB_VARINT) {
                            if (!cam__pb_varint(&dim, &u)) return BAD("bad dim_value");
                            d = (int64_t)u;
                        } else if (!cam__pb_skip(&dim, w)) return BAD("bad dim");
                    }
                    v->t.dims[v->t.rank++] = d;
                }
            } else if (!cam__pb_skip(&tt, w)) return BAD("bad tensor type");
        }
    }
    return CAM_OK;
}

/* ---- GraphProto, ModelProto ------------------------------------------------ */

static cam_status parse_graph(cam_model *m, cam__pb r, char *err, size_t errlen) {
    int cap_in = 0, cap_out = 0;
    cam__pb sub;
    cam_status st;
    while (!cam__pb_done(&r)) {
        uint32_t f;
        int w;
        if (!cam__pb_key(&r, &f, &w)) return BAD("bad GraphProto key");
        if ((f == GRAPH_NODE || f == GRAPH_INITIALIZER || f == GRAPH_INPUT || f == GRAPH_OUTPUT) && w != CAM__PB_LEN)
            return BAD("bad GraphProto field");
        switch (f) {
        case GRAPH_NODE:
            if (!cam__pb_len(&r, &sub)) return BAD("bad node");
            if ((st = parse_node(m, sub, err, errlen)) != CAM_OK) return st;
            break;
        case GRAPH_INITIALIZER: {
            if (!cam__pb_len(&r, &sub)) return BAD("bad initializer");
            cam__tensor t;
            cam_dtype decl;
            char *name = NULL;
            st = cam__onnx_parse_tensor(sub.p, (size_t)(sub.end - sub.p), &t, &decl, &name, err, errlen);
            if (st != CAM_OK) return st;
            if (!name || !*name) { free(name); cam__aligned_free(t.data); return BAD("initializer without a name"); }
            int vi = cam__model_value(m, name);
            free(name);
            if (vi < 0) { cam__aligned_free(t.data); return CAM_ENOMEM; }
            cam__value *v = &m->values[vi];
            if (v->kind == CAM__V_CONST) {
                cam__aligned_free(t.data);
                return cam__fail(err, errlen, CAM_EFORMAT, "initializer '%s' defined twice", v->name);
            }
            v->kind = CAM__V_CONST;
            v->declared = decl;
            v->t = t;
            v->shape_known = true;
            break;
        }
        case GRAPH_INPUT:
        case GRAPH_OUTPUT: {
            if (!cam__pb_len(&r, &sub)) return BAD("bad graph input/output");
            int vi = -1;
            if ((st = parse_value_info(m, sub, &vi, f == GRAPH_INPUT, err, errlen)) != CAM_OK) return st;
            if (f == GRAPH_INPUT) {
                if (!grow((void **)&m->inputs, &cap_in, m->n_inputs + 1, sizeof(int))) return CAM_ENOMEM;
                m->inputs[m->n_inputs++] = vi;
            } else {
                if (!grow((void **)&m->outputs, &cap_out, m->n_outputs + 1, sizeof(int))) return CAM_ENOMEM;
                m->outputs[m->n_outputs++] = vi;
                m->values[vi].is_output = true;
            }
            break;
        }
        case GRAPH_SPARSE_INIT:
            return cam__fail(err, errlen, CAM_EUNSUPPORTED, "sparse initializers are not supported");
        default:
            if (!cam__pb_skip(&r, w)) return BAD("bad GraphProto field");
        }
    }
    /* IR < 4 lists initializers among the inputs too: those are constants. */
    int k = 0;
    for (int i = 0; i < m->n_inputs; i++) {
        cam__value *v = &m->values[m->inputs[i]];
        if (v->kind == CAM__V_CONST) continue;
        v->kind = CAM__V_INPUT;
        m->inputs[k++] = m->inputs[i];
    }
    m->n_inputs = k;
    if (m->n_outputs == 0) return cam__fail(err, errlen, CAM_EFORMAT, "the graph has no outputs");
    return CAM_OK;
}

cam_status cam__onnx_parse(cam_model *m, const uint8_t *data, size_t len, char *err, size_t errlen) {
    cam__pb r = cam__pb_make(data, len), sub, graph = {0};
    bool have_graph = false, have_opset = false;
    while (!cam__pb_done(&r)) {
        uint32_t f;
        int w;
        uint64_t v;
        if (!cam__pb_key(&r, &f, &w)) return BAD("not an ONNX model (bad protobuf)");
        if (f == MODEL_IR_VERSION && w == CAM__PB_VARINT) {
            if (!cam__pb_varint(&r, &v)) return BAD("bad ir_version");
            m->ir_version = (int64_t)v;
        } else if (f == MODEL_PRODUCER && w == CAM__PB_LEN) {
            if (!cam__pb_len(&r, &sub)) return BAD("bad producer_name");
            free(m->producer);
            if (!(m->producer = dup_bytes(&sub))) return CAM_ENOMEM;
        } else if (f == MODEL_GRAPH && w == CAM__PB_LEN) {
            if (!cam__pb_len(&r, &graph)) return BAD("bad graph");
            have_graph = true;
        } else if (f == MODEL_OPSET && w == CAM__PB_LEN) {
            if (!cam__pb_len(&r, &sub)) return BAD("bad opset_import");
            bool default_domain = true;
            int64_t version = 0;
            while (!cam__pb_done(&sub)) {
                uint32_t f2;
                int w2;
                cam__pb s2;
                if (!cam__pb_key(&sub, &f2, &w2)) return BAD("bad opset_import");
                if (f2 == OPSET_DOMAIN && w2 == CAM__PB_LEN) {
                    if (!cam__pb_len(&sub, &s2)) return BAD("bad opset domain");
                    size_t l = (size_t)(s2.end - s2.p);
                    default_domain = l == 0 || (l == 7 && memcmp(s2.p, "ai.onnx", 7) == 0);
                } else if (f2 == OPSET_VERSION && w2 == CAM__PB_VARINT) {
                    if (!cam__pb_varint(&sub, &v)) return BAD("bad opset version");
                    version = (int64_t)v;
                } else if (!cam__pb_skip(&sub, w2)) return BAD("bad opset_import");
            }
            if (default_domain) { m->opset = version; have_opset = true; }
        } else if (!cam__pb_skip(&r, w)) {
            return BAD("not an ONNX model (bad protobuf)");
        }
    }
    if (!have_graph) return cam__fail(err, errlen, CAM_EFORMAT, "not an ONNX model: no graph");
    if (m->ir_version < 3)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "ONNX IR version %lld is too old (need 3 or newer)",
                         (long long)m->ir_version);
    if (!have_opset)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "the model imports no default-domain (ai.onnx) opset");
    if (m->opset < 1 || m->opset > 22)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "default-domain opset %lld is not supported (1 to 22)",
                         (long long)m->opset);
    if (!m->producer && !(m->producer = strdup(""))) return CAM_ENOMEM;
    return parse_graph(m, graph, err, errlen);
}
