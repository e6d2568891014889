/* repo.h: the model repository (DESIGN §6): every model folder of a
 * directory, loaded once at start-up and shared read-only by all threads. */
#ifndef CAM_REPO_H
#define CAM_REPO_H

#include "camserve.h"
#include "modeldir.h"

typedef struct cam_repo_model {
    cam_modeldir md;
    cam_model *model;
    cam_head_info head;
    int classes;
    char *info_json;          /* GET /v1/models/{name} */
} cam_repo_model;

typedef struct cam_repo_failure {
    char folder[256];
    char reason[640];
} cam_repo_failure;

typedef struct cam_repo {
    cam_repo_model *models;   /* sorted by folder name */
    int n;
    int default_index;        /* -1: no default model */
    char *list_json;          /* GET /v1/models */
    cam_repo_failure *failed;
    int n_failed;
    char not_ready[512];      /* "" when the repository can serve */
} cam_repo;

/* Loads every sub-folder of dir; each failure is logged with its reason and
 * listed.  default_model NULL: the first model loaded.  Returns the number
 * of models loaded; r->not_ready says why the service cannot be ready. */
int cam_repo_load(cam_repo *r, const char *dir, const char *default_model);
void cam_repo_free(cam_repo *r);
/* index of the model called name, -1 if none */
int cam_repo_find(const cam_repo *r, const char *name);

#endif
