/* model.h: the loaded model (struct cam_model) as the files of core/ share it. */
#ifndef CAM_MODEL_H
#define CAM_MODEL_H

#include "internal.h"

typedef struct cam__op_count { char *name; int count; } cam__op_count;

/* The classifier head after the global pooling, as steps on the pooled
 * vector g (core/cam.c). */
typedef enum { CAM__STEP_DENSE, CAM__STEP_SCALE, CAM__STEP_ACT } cam__step_kind;
typedef struct cam__head_step {
    cam__step_kind kind;
    int in, out;              /* vector lengths */
    float *w;                 /* DENSE: out x in, row-major; SCALE: out scales */
    float *b;                 /* DENSE, SCALE: out offsets */
    cam__act act;             /* ACT */
} cam__head_step;

typedef struct cam__head {
    cam_head_info info;       /* strings point into the model's values / nodes */
    int feature, logits;      /* value indices, -1 if none */
    cam__head_step *steps;
    int n_steps;
    float *w_eff, *b_eff;     /* LINEAR: classes x channels, classes; NULL = identity */
    size_t session_floats;    /* per-session CAM buffer */
    char reason[384];
} cam__head;

struct cam_model {
    /* the graph */
    cam__value *values;
    int n_values, cap_values;
    cam__node *nodes;            /* file order until graph.c sorts them */
    int n_nodes, cap_nodes;
    int *inputs, n_inputs;       /* graph inputs that are not initializers */
    int *outputs, n_outputs;
    int *exec, n_exec;           /* live nodes in execution order */
    /* name -> value index (open addressing, power-of-two capacity) */
    int *map;
    size_t map_cap;
    /* file facts */
    int64_t ir_version, opset;
    char *producer;
    cam__op_count *op_counts;
    int n_op_counts;
    int nodes_in_file;
    /* plan */
    size_t arena_bytes, scratch_bytes;
    cam_model_stats stats;
    cam_model_options opt;
    cam__head head;
};

struct cam_session {
    const cam_model *m;
    char *arena;
    char *scratch;
    cam__tensor *vt;             /* one view per value */
    cam__tensor **args;          /* per exec node: inputs then outputs */
    int *arg_start;              /* index into args per exec step */
    cam__pool *pool;
    cam__ctx ctx;
    bool profiling;
    bool reference;              /* run reference kernels (tests) */
    uint64_t *prof_ns;
    float *cam_buf;              /* head.session_floats: CAM weights and Grad-CAM work */
};

/* onnx.c: parse an ONNX ModelProto into m (values, nodes, inputs, outputs). */
cam_status cam__onnx_parse(cam_model *m, const uint8_t *data, size_t len, char *err, size_t errlen);
/* Parse a serialized TensorProto (also used by the conformance tests). The
 * result owns its data (cam__aligned_alloc); *declared gets the file dtype. */
cam_status cam__onnx_parse_tensor(const uint8_t *data, size_t len, cam__tensor *t, cam_dtype *declared,
                                  char **name, char *err, size_t errlen);

/* model.c: value table */
int cam__model_find(const cam_model *m, const char *name);      /* -1 if absent */
int cam__model_value(cam_model *m, const char *name);           /* find or add; -1 on ENOMEM */
int cam__model_add_node(cam_model *m);                           /* -1 on ENOMEM */

/* graph.c: sort, check, infer shapes, fold, fuse, eliminate dead code. */
cam_status cam__graph_prepare(cam_model *m, char *err, size_t errlen);
/* session.c: run every node's reference kernel instead of the optimised
 * one (single-threaded plain loops): the oracle of the model tests. */
void cam__session_use_reference(cam_session *s, bool on);

/* graph.c: frees the constants that no live node reads any more because
 * prepack keeps its own copy (after CAM detection, which reads head weights). */
void cam__release_packed_constants(cam_model *m);

/* graph.c: the activation node n computes, if it is one we fuse */
cam__act cam__node_activation(const cam_model *m, const cam__node *n);

/* cam.c: find the CAM feature map and head in the optimised graph; marks
 * the feature map and logits as kept.  Runs before cam__plan.  A model
 * without a usable head is not an error (head.info.kind = NONE). */
cam_status cam__cam_detect(cam_model *m, char *err, size_t errlen);
void cam__cam_free(cam_model *m);

/* plan.c: assign arena offsets, compute arena and scratch sizes. */
cam_status cam__plan(cam_model *m, char *err, size_t errlen);

#endif
