/* modeldir.h: one model folder of a model repository (DESIGN §6,
 * ../shared/models/README.md): <dir>/model.onnx + config.json + labels.txt. */
#ifndef CAM_MODELDIR_H
#define CAM_MODELDIR_H

#include "camserve.h"

typedef struct cam_modeldir {
    char name[128];
    char dir[1024];
    char model_path[1280];
    int input_h, input_w;      /* config input.size; 0 = the model's own */
    cam_preprocess pp;         /* resize mode, color order, mean/std; size set by cam_modeldir_load */
    int label_offset;
    char **labels;             /* n_labels lines of labels.txt, or NULL */
    int n_labels;
    char cam_layer[256];       /* config cam.layer, "" = automatic */
} cam_modeldir;

/* Reads <dir>/config.json and labels (every key optional). */
cam_status cam_modeldir_read(const char *dir, cam_modeldir *md, char *err, size_t errlen);
/* Loads the model with the folder's settings (batch 0 = the model's own or 1)
 * and completes md->pp from the model's input shape [N, 3, H, W]; for a
 * model whose input is not an image, md->pp.height stays 0. */
cam_status cam_modeldir_load(cam_modeldir *md, int batch, cam_model **out, char *err, size_t errlen);
void cam_modeldir_free(cam_modeldir *md);
/* The label of output index i: labels.txt line i, else "class_<i>". */
const char *cam_modeldir_label(const cam_modeldir *md, int i, char *buf, size_t len);

#endif
