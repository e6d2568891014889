/* modeldir.h: one model folder of a model repository (DESIGN §6):
 * <dir>/model.onnx + config.json (+ labels.txt). */
#ifndef CAM_MODELDIR_H
#define CAM_MODELDIR_H

#include "camserve.h"

typedef struct cam_modeldir {
    char name[128];
    char dir[1024];
    char model_path[1280];
    int input_h, input_w;      /* 0 = the model's own */
} cam_modeldir;

/* Reads <dir>/config.json if present (every key optional). */
cam_status cam_modeldir_read(const char *dir, cam_modeldir *md, char *err, size_t errlen);

#endif
