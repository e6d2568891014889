/* camserve.h: the public API of the camserve inference core.
 *
 * A cam_model is an ONNX graph loaded, checked, optimised and shape-specialised
 * once; it is immutable and may be shared by any number of threads.  A
 * cam_session owns everything a forward pass writes (one activation arena
 * planned at load, one scratch buffer, a small thread pool); use one session
 * per thread.  cam_session_run() on a validated input cannot fail and does not
 * allocate.
 *
 * Every function that can fail returns a cam_status and writes a one-line
 * human-readable reason into a caller-supplied buffer (err, errlen; either may
 * be NULL/0).  The core never prints and never aborts on bad input. */
#ifndef CAMSERVE_H
#define CAMSERVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAM_VERSION "0.1.0"
#define CAM_MAX_RANK 8

typedef enum cam_status {
    CAM_OK = 0,
    CAM_EINVAL,        /* bad argument from the caller */
    CAM_ENOMEM,        /* allocation failed */
    CAM_EIO,           /* file could not be read */
    CAM_EFORMAT,       /* malformed input (protobuf, image, ...) */
    CAM_EUNSUPPORTED,  /* well-formed but not supported (op, dtype, attribute) */
    CAM_ELIMIT,        /* a configured or arithmetic size limit was exceeded */
    CAM_EINTERNAL      /* a bug: please report */
} cam_status;

const char *cam_status_str(cam_status s);

/* Element types, numbered as ONNX TensorProto.DataType. */
typedef enum cam_dtype {
    CAM_FLOAT = 1,
    CAM_INT32 = 6,
    CAM_INT64 = 7
} cam_dtype;

size_t cam_dtype_size(cam_dtype t);

/* ---- runtime ---------------------------------------------------------- */

/* Loads the BLAS library, choosing the fastest kernel this CPU supports
 * (see core/blas.c for why this cannot be left to OpenBLAS).  Called
 * implicitly by cam_model_load; idempotent and thread-safe. */
cam_status cam_runtime_init(char *err, size_t errlen);

/* Name of the BLAS kernel in use, e.g. "SkylakeX"; "none" before init. */
const char *cam_blas_corename(void);
/* Path of the BLAS library loaded, or "" */
const char *cam_blas_library(void);

/* ---- models ----------------------------------------------------------- */

typedef struct cam_model cam_model;
typedef struct cam_session cam_session;

typedef struct cam_model_options {
    int batch;      /* value for a symbolic first input dim (default 1) */
    int input_h;    /* values for symbolic dims 2 and 3 of a 4-D input, */
    int input_w;    /* or overrides of static ones; 0 = keep the model's */
    int optimize;   /* 1 (default): fold BatchNorm, fuse activations; 0: run the graph as written */
    const char *const *keep; /* tensors that must stay readable after a run */
    int n_keep;
    /* Graph inputs to bind to fixed values at load, turning them into
     * constants (e.g. a Reshape target or Clip bounds fed as inputs); data is
     * copied.  dtype CAM_FLOAT, CAM_INT32 or CAM_INT64. */
    const struct cam_constant_input *constants;
    int n_constants;
} cam_model_options;

typedef struct cam_constant_input {
    const char *name;
    cam_dtype dtype;
    int rank;
    const int64_t *dims;
    const void *data;
} cam_constant_input;

void cam_model_options_init(cam_model_options *o);

cam_status cam_model_load(const char *path, const cam_model_options *opt,
                          cam_model **out, char *err, size_t errlen);
cam_status cam_model_load_buffer(const void *data, size_t len, const cam_model_options *opt,
                                 cam_model **out, char *err, size_t errlen);
void cam_model_free(cam_model *m);

typedef struct cam_tensor_info {
    const char *name;
    cam_dtype dtype;
    int rank;
    int64_t dims[CAM_MAX_RANK];
    size_t numel;
} cam_tensor_info;

int cam_model_num_inputs(const cam_model *m);
int cam_model_num_outputs(const cam_model *m);
void cam_model_input_info(const cam_model *m, int i, cam_tensor_info *info);
void cam_model_output_info(const cam_model *m, int i, cam_tensor_info *info);
/* Info of any tensor by name (shapes as inferred at load). */
cam_status cam_model_tensor_info(const cam_model *m, const char *name, cam_tensor_info *info);

/* Statistics for `camserve info`. */
typedef struct cam_model_stats {
    int64_t ir_version;
    int64_t opset;          /* default-domain opset */
    const char *producer;   /* producer_name, may be "" */
    int nodes_in_file;      /* nodes as written in the ONNX file */
    int nodes_run;          /* nodes a forward pass executes after optimisation */
    int folded_constants;   /* nodes evaluated at load */
    int fused_batchnorm, fused_activations, removed_identity;
    size_t weight_bytes;    /* constant tensors kept */
    size_t arena_bytes;     /* one session's activation arena */
    size_t scratch_bytes;   /* one session's scratch, per thread */
    double flops;           /* multiply-adds x2 of one forward pass (conv/gemm) */
} cam_model_stats;
void cam_model_stats_get(const cam_model *m, cam_model_stats *s);

/* Operator counts of the file as written (i in 0..n-1). */
int cam_model_num_op_types(const cam_model *m);
void cam_model_op_type(const cam_model *m, int i, const char **name, int *count);

/* Walk the optimised graph (nodes in execution order).  Used by the CAM
 * engine to find the head; returns 0 past the end. */
typedef struct cam_node_info {
    const char *name;
    const char *op_type;
    int n_inputs, n_outputs;
    const char *inputs[16];   /* "" for absent optional inputs */
    const char *outputs[4];
    const char *fused_activation; /* "" or e.g. "Relu" */
} cam_node_info;
int cam_model_num_nodes(const cam_model *m);
int cam_model_node(const cam_model *m, int i, cam_node_info *info);
/* Data of a constant tensor (initializer or folded), NULL if not constant. */
const void *cam_model_constant(const cam_model *m, const char *name, cam_tensor_info *info);
/* Attribute lookup on node i of the optimised graph; returns 0 when absent. */
int cam_model_node_attr_int(const cam_model *m, int i, const char *attr, int64_t *value);
int cam_model_node_attr_ints(const cam_model *m, int i, const char *attr, const int64_t **v, int *n);
int cam_model_node_attr_float(const cam_model *m, int i, const char *attr, float *value);

/* ---- sessions --------------------------------------------------------- */

/* threads: kernel threads for one forward pass (>= 1). */
cam_status cam_session_create(const cam_model *m, int threads, cam_session **out,
                              char *err, size_t errlen);
void cam_session_free(cam_session *s);
const cam_model *cam_session_model(const cam_session *s);

/* Input buffers live in the session; write the input there (NCHW float32
 * for images) then call cam_session_run.  Pointers stay valid for the
 * session's life. */
void *cam_session_input(cam_session *s, int i);
cam_status cam_session_set_input(cam_session *s, int i, const void *data, size_t bytes,
                                 char *err, size_t errlen);
void cam_session_run(cam_session *s);
const void *cam_session_output(const cam_session *s, int i);
/* A graph output, a kept tensor (options.keep) or a constant after a run.
 * Returns NULL when the tensor does not survive the run. */
const void *cam_session_tensor(const cam_session *s, const char *name, cam_tensor_info *info);

/* Per-node timing (nanoseconds) of the last run when profiling is on. */
void cam_session_set_profiling(cam_session *s, int on);
int cam_session_profile(const cam_session *s, int node, uint64_t *ns);

#ifdef __cplusplus
}
#endif
#endif
