/* http.h: the HTTP service (`camserve serve`, DESIGN §4) and the pieces its
 * files share.
 *
 * Threads.  libmicrohttpd runs a small pool of I/O threads; they
 * parse requests, collect bodies, answer cheap GETs and queue finished
 * responses.  Inference runs on a fixed pool of workers (server/workers.c),
 * each with its own cam_session per model.  An inference request is handed
 * over by suspending its connection and pushing it onto a bounded queue; the
 * worker that ran it stores the response in the request and resumes the
 * connection, and the I/O thread queues it on the next access-handler call.
 *
 * Lifetimes.  A cam_req is created by libmicrohttpd's URI callback when a
 * request line arrives and freed by the completion callback; every buffer a
 * request owns (body, decoded image, response) hangs off it, so per-request
 * memory is gone when the request completes. */
#ifndef CAM_HTTP_H
#define CAM_HTTP_H

#include "explain.h"
#include "metrics.h"
#include "repo.h"

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cam_serve_config {
    const char *models_dir;
    const char *default_model;   /* NULL: the first model loaded (by folder name) */
    const char *host;
    int port;                    /* 0: any free port (the start-up log names it) */
    int workers, threads;        /* inference workers and kernel threads per worker */
    int io_threads;              /* libmicrohttpd's thread pool */
    bool epoll;                  /* its event loop: epoll instead of poll (see start_daemon) */
    int queue;                   /* pending inference requests (waiting for a worker) */
    int max_body_mb;
    uint64_t max_pixels;
    int timeout;                 /* idle connection timeout, seconds */
    int drain_seconds;
    int max_connections;
    int max_header_kb;           /* per-connection memory of libmicrohttpd: request line + headers */
    int max_per_ip;              /* open connections per client address; 0: no limit */
    bool log_json;
    const char *static_dir;      /* NULL or "": no static files */
    const char *api_key;         /* NULL or "": no access control; else Bearer required on /v1/ */
    bool auth_metrics;           /* ... and on /metrics too */
    const char *cors_origins;    /* NULL or "": no CORS; else comma-separated allowed Origins, "*": any */
} cam_serve_config;

/* Runs the service until SIGTERM/SIGINT, then drains; returns the exit code. */
int cam_serve(const cam_serve_config *cfg);

/* ---- one request ------------------------------------------------------------- */

typedef enum cam_body_kind { BODY_NONE = 0, BODY_RAW, BODY_MULTIPART, BODY_JSON } cam_body_kind;

#define CAM_FORM_FIELDS 24
#define CAM_FORM_KEY 32
#define CAM_FORM_VALUE 128

typedef struct cam_server cam_server;

typedef struct cam_req {
    cam_server *srv;
    struct MHD_Connection *conn;
    double t_start;                 /* ms, CLOCK_MONOTONIC: request line received */
    cam_route route;
    bool started;                   /* the access handler has seen the headers */
    bool counted;                   /* counted in srv->inflight */
    bool before_drain;              /* arrived before SIGTERM: allowed to finish */
    char id[72];                    /* X-Request-Id */
    char method[12];
    char uri[256];                  /* as sent (for the access log), truncated */
    int model;                      /* index into the repository, -1: none */

    /* body */
    cam_body_kind body;
    uint8_t *buf;                   /* raw image, JSON text, or multipart field "image" */
    size_t len, cap;
    size_t received;                /* body bytes seen, stored or not */
    size_t limit;                   /* --max-body-mb in bytes */
    bool discard;                   /* an answer is decided: read and drop the rest */
    bool too_large;
    bool have_image_field;
    struct MHD_PostProcessor *pp;
    unsigned char mixed_match;      /* multipart: bytes of "content-type: multipart/mixed" matched so far */
    int n_fields;
    struct { char key[CAM_FORM_KEY]; char value[CAM_FORM_VALUE]; } fields[CAM_FORM_FIELDS];

    /* an error decided before the worker (status 0: none) */
    int err_status;
    const char *err_code;
    char err_msg[320];

    cam_explain_params params;
    uint32_t params_seen;           /* bit i: parameter i of cam_req_param's list was given (any channel) */
    bool classify;                  /* /classify: scores only */
    bool preflight;                 /* a CORS preflight (OPTIONS) from an allowed Origin: 204 */

    /* hand-over to a worker */
    double t_enqueued;
    bool suspended;
    atomic_int done;                /* the worker stored the response below */

    /* the response, built by a worker (or the drain) */
    int status;
    char *resp;                     /* malloc()ed JSON */
    size_t resp_len;
    char timing[256];               /* Server-Timing value */
    char retry_after;               /* add Retry-After */

    /* what was answered (access log, metrics) */
    int sent_status;
    size_t sent_bytes;
} cam_req;

/* ---- request bodies (server/http_body.c) --------------------------------------- */

/* Media type of a Content-Type value (parameters ignored) as a body kind;
 * BODY_NONE for anything unsupported. */
cam_body_kind cam_body_kind_of(const char *content_type);
/* Starts reading the body of kind r->body (creates the multipart parser).
 * Returns false with r->err_* set when the body cannot be read. */
bool cam_body_begin(cam_req *r, const char *content_length);
/* Consumes an upload chunk.  Returns false when the connection should be
 * dropped (a client that keeps sending far past the limit). */
bool cam_body_feed(cam_req *r, const char *data, size_t size);
/* After the last chunk: multipart complete, image present, form fields
 * applied as parameters.  false with r->err_* set on a bad body. */
bool cam_body_finish(cam_req *r);
/* A JSON body {"image":"<base64>", ...parameters} (run by a worker): the
 * image replaces r->buf, the fields are applied to r->params.  false with
 * r->err_* set on a bad body. */
bool cam_body_json(cam_req *r);
void cam_body_free(cam_req *r);

/* Sets r->err_* (the first error wins). */
void cam_req_fail(cam_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Applies one API parameter by name to r->params; false with r->err_* set. */
bool cam_req_param(cam_req *r, const char *key, const char *value);
/* One query-string argument (libmicrohttpd's GET_ARGUMENT callback, cls is
 * the cam_req; value NULL for "?key" alone); MHD_NO with r->err_* set. */
enum MHD_Result cam_req_query_param(void *cls, enum MHD_ValueKind kind, const char *key, const char *value);

/* Standard base64 or base64url, padding optional, whitespace skipped; out
 * must hold 3 * (len / 4) + 3 bytes.  Returns the decoded length, or
 * (size_t)-1 for a character outside the alphabet or a bad length. */
size_t cam_base64_decode(const char *in, size_t len, uint8_t *out);

/* ---- static files (server/static.c) ------------------------------------------- */

/* Resolves `path` (the URL path after the static prefix, already
 * percent-decoded) inside the folder `root` (a realpath).  Returns 200 with
 * an open fd, its size and content type; 400 for a path that tries to leave
 * the folder; 404 for anything that is not a regular file inside it. */
int cam_static_open(const char *root, const char *path, int *fd, uint64_t *size, const char **content_type);

/* ---- the OpenAPI document (server/openapi.c) ---------------------------------- */

const char *cam_openapi_json(size_t *len);

/* ---- logging (server/log.c) --------------------------------------------------- */

void cam_log_init(bool json);
/* level: "info", "warn", "error".  One line on stderr, written at once. */
void cam_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cam_log_access(const char *method, const char *uri, int status, size_t bytes, double ms, const char *request_id,
                    const char *model);

double cam_now_ms(void);

#endif
