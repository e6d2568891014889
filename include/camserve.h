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
    /* CAM (core/cam.c): detect the head at load and keep the feature map and
     * the logits alive after a run.  1 by default. */
    int cam;
    /* Feature map to explain instead of the detected one (config.json
     * cam.layer); it must be the tensor entering the global pooling. */
    const char *cam_layer;
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

/* ---- images (core/image.c) ----------------------------------------------- */

/* An 8-bit RGB image, rows top to bottom, `stride` bytes apart. */
typedef struct cam_image {
    int width, height;
    size_t stride;
    uint8_t *rgb;            /* owned: cam_image_free */
} cam_image;

cam_status cam_image_alloc(cam_image *img, int width, int height, char *err, size_t errlen);
void cam_image_free(cam_image *img);

typedef struct cam_decode_options {
    uint64_t max_pixels;     /* width*height above this is refused from the header (default 40e6) */
    /* A JPEG may be decoded at a reduced DCT scale (1/2, 1/4, 1/8, ...) as
     * long as the decoded upright image keeps its shorter side >= min_short
     * and its longer side >= min_long (each capped at the full size).
     * 0 and 0: full size. */
    int min_short, min_long;
} cam_decode_options;
void cam_decode_options_init(cam_decode_options *o);

typedef struct cam_image_info {
    const char *format;      /* "jpeg" or "png" */
    int width, height;       /* the full-size image, upright (after EXIF orientation) */
    int orientation;         /* EXIF orientation applied, 1..8 (1: none or not JPEG) */
    int scale_num, scale_denom; /* decoded = full * num / denom (rounded up); 1/1 for PNG */
} cam_image_info;

/* Decodes a JPEG (baseline, progressive, grayscale, CMYK/YCCK, EXIF
 * orientation) or PNG (every color type and bit depth, palette, alpha
 * composited on white, interlaced) into RGB8.  Errors: CAM_EUNSUPPORTED
 * (not a JPEG or PNG), CAM_ELIMIT (more than max_pixels, checked from the
 * header before any pixel buffer exists), CAM_EFORMAT (corrupt/truncated). */
cam_status cam_image_decode(const void *data, size_t len, const cam_decode_options *opt, cam_image *img,
                            cam_image_info *info, char *err, size_t errlen);

/* ---- preprocessing and geometry (core/preprocess.c) ------------------------- */

typedef enum cam_resize_mode { CAM_RESIZE_STRETCH = 0, CAM_RESIZE_SHORTER_SIDE_CROP = 1 } cam_resize_mode;

typedef struct cam_preprocess {
    cam_resize_mode resize;
    int resize_shorter;      /* SHORTER_SIDE_CROP: shorter side first resized to this (default 256) */
    int height, width;       /* network input */
    int bgr;                 /* channel order of the network input */
    float mean[3], std[3];   /* per channel (in the network's order), 0..255 units: x = (p - mean) / std */
} cam_preprocess;

/* Where the network input lies in the full upright image.  Image points are
 * continuous (pixel i spans [i, i+1)); network pixel (u, v) covers the image
 * rectangle [x0 + u*sx, x0 + (u+1)*sx) x [y0 + v*sy, y0 + (v+1)*sy). */
typedef struct cam_geometry {
    double x0, y0, sx, sy;
    int net_w, net_h;        /* network input size */
    int image_w, image_h;    /* full upright image size */
} cam_geometry;

/* Resizes `img` to a new image of w x h: area-correct (antialiased) when
 * shrinking, bilinear when enlarging. */
cam_status cam_image_resize(const cam_image *img, int w, int h, cam_image *out, char *err, size_t errlen);

/* Writes the network input for img into out (3 x pp->height x pp->width
 * floats, planar, channel order per pp->bgr, normalised) and its geometry.
 * img may be a reduced-scale decode of a full image of full_w x full_h
 * pixels: geo is in full-image pixels. */
cam_status cam_preprocess_image(const cam_image *img, int full_w, int full_h, const cam_preprocess *pp,
                                float *out, cam_geometry *geo, char *err, size_t errlen);

/* ---- class activation maps (core/cam.c) ------------------------------------ */

typedef enum cam_head_kind {
    CAM_HEAD_NONE = 0,        /* no global pooling: CAM does not apply (reason says why) */
    CAM_HEAD_LINEAR,          /* F -> GAP -> linear ops -> logits: CAM = W F */
    CAM_HEAD_POOLED_CLASSES,  /* F (one map per class) -> GAP -> logits (SqueezeNet): CAM = F */
    CAM_HEAD_NONLINEAR        /* F -> GAP -> non-linear head (MobileNetV3): Grad-CAM */
} cam_head_kind;

typedef struct cam_head_info {
    cam_head_kind kind;
    const char *kind_name;    /* "linear", "conv-before-pool", "nonlinear", "none" */
    const char *method;       /* default method: "cam" or "gradcam" */
    const char *feature;      /* the feature map F */
    const char *pool;         /* the global pooling node */
    const char *logits;       /* the tensor holding the logits (before a final Softmax) */
    int channels, height, width; /* F is [N, channels, height, width] */
    int classes;
    int softmax_output;       /* graph output 0 is already a probability (ends in Softmax) */
    const char *reason;       /* kind NONE: why CAM does not apply */
} cam_head_info;

void cam_model_head(const cam_model *m, cam_head_info *info);

typedef enum cam_method { CAM_METHOD_AUTO = 0, CAM_METHOD_CAM, CAM_METHOD_GRADCAM } cam_method;

/* Logits (classes floats) of batch element b of the last run. */
const float *cam_session_logits(const cam_session *s, int b);

/* Maps of n classes for batch element b of the last run into maps
 * (n x height x width, F's grid).  AUTO: CAM for linear heads, Grad-CAM for
 * non-linear ones.  CAM_METHOD_CAM on a non-linear head is an error.
 * Grad-CAM: alpha_ck = d logit_c / d g_k / (h w), M_c = sum_k alpha_ck F_k
 * (for a linear head exactly CAM / (h w)).  Uses session memory only; n must
 * be <= classes. */
cam_status cam_session_cams(cam_session *s, int b, const int *classes, int n, cam_method method, float *maps,
                            char *err, size_t errlen);

/* The channel weights behind those maps (n x channels) and, for CAM, the
 * class biases b_c (n floats; may be NULL): the CAM identity is
 * mean(M_c) + b_c = logit_c. */
cam_status cam_session_cam_weights(cam_session *s, int b, const int *classes, int n, cam_method method,
                                   float *weights, float *bias, char *err, size_t errlen);

/* ---- localization (core/localize.c) ---------------------------------------- */

typedef struct cam_box {
    int x0, y0, x1, y1;       /* full-image pixels, corners inclusive */
    float score;              /* mean normalised heat inside the box */
} cam_box;

typedef enum cam_boxes_mode { CAM_BOXES_LARGEST = 0, CAM_BOXES_ALL = 1 } cam_boxes_mode;

/* The heatmap of one map (h x w on the network input grid, geo from
 * cam_preprocess_image) on an out_w x out_h grid covering the full upright
 * image: bilinear upsampling, min-max normalised to [0, 1].  Image parts the
 * network did not see (cropped away) get 0. */
cam_status cam_heatmap(const float *map, int h, int w, const cam_geometry *geo, int out_w, int out_h, float *heat,
                       char *err, size_t errlen);

/* Boxes from a heatmap (w x h grid covering an image of image_w x image_h):
 * pixels >= threshold (times the maximum, 1 after normalisation) form
 * 8-connected components.  LARGEST: the box of the largest component.
 * ALL: the boxes of every component whose area is >= min_area (fraction of
 * the grid), largest first.  Writes up to max_boxes boxes, *n_boxes their
 * count.  Boxes are scaled to image pixels, inclusive, clipped. */
cam_status cam_boxes(const float *heat, int w, int h, int image_w, int image_h, float threshold, cam_boxes_mode mode,
                     float min_area, cam_box *boxes, int max_boxes, int *n_boxes, char *err, size_t errlen);

/* Intersection over union of two inclusive-corner boxes. */
double cam_box_iou(const cam_box *a, const cam_box *b);

/* ---- rendering (core/render.c) --------------------------------------------- */

typedef enum cam_colormap { CAM_CMAP_JET = 0, CAM_CMAP_TURBO, CAM_CMAP_VIRIDIS, CAM_CMAP_INFERNO, CAM_CMAP_GRAY } cam_colormap;

/* "jet", "turbo", ...; returns 0 for an unknown name. */
int cam_colormap_parse(const char *name, cam_colormap *out);
const char *cam_colormap_name(cam_colormap c);
/* 256 RGB triples */
const uint8_t *cam_colormap_lut(cam_colormap c);

/* out = alpha * colormap(heat) + (1 - alpha) * img, per pixel; heat is
 * img->width x img->height values in [0, 1].  out is allocated. */
cam_status cam_overlay(const cam_image *img, const float *heat, cam_colormap cmap, float alpha, cam_image *out,
                       char *err, size_t errlen);

/* PNG encoding (core/render.c): Paeth filter and per-block Huffman coding without
 * LZ77 (libpng at its fastest compressing setting is 5-9x slower for the same
 * size; see the table in render.c).  *png is malloc()ed. */
cam_status cam_png_encode_rgb(const cam_image *img, uint8_t **png, size_t *len, char *err, size_t errlen);
cam_status cam_png_encode_gray(const float *values01, int w, int h, uint8_t **png, size_t *len, char *err,
                               size_t errlen);

/* Base64 (RFC 4648, padded).  out must hold cam_base64_len(n) bytes,
 * including the terminating NUL; returns the string length. */
size_t cam_base64_len(size_t n);
size_t cam_base64_encode(const uint8_t *in, size_t n, char *out);

#ifdef __cplusplus
}
#endif
#endif
