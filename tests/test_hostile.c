/* test_hostile.c: issue 7's hostile-input suite against a live `camserve
 * serve` (server/http.c, http_body.c, static.c, explain.c's parameters and
 * the image decoders behind them), spoken to over plain sockets
 * (tests/http_client.h).
 *
 * Every case is its own counted check (it adds one to "N passed" or "N
 * failed"); cases are grouped in batches, and after each batch the server
 * must still answer /healthz and /readyz 200 and no answer of the batch may
 * have been a 5xx.  Each batch prints its count of cases.  The inputs are
 * made here: decompression bombs (headers claiming huge sizes, a real
 * 20000x20000 PNG, a 3000-scan JPEG, chunks inflating to 256 MB),
 * truncated and corrupted copies of the shared photos, random bytes under
 * every body type, hostile JSON and multipart, every parameter out of range
 * in every channel, path traversal in every encoding, oversized and
 * ambiguous HTTP framing, unusual but valid encodings of the shared photos
 * (CMYK, gray, progressive, 16-bit, palette, alpha, interlaced, EXIF
 * orientations, 1x1, 4000x10) whose answers are checked against the answers
 * for the plain encodings, and a mix of all that from 8 clients at once.
 * The server runs with its defaults (16 MB bodies, 40 MP).  test_http.c holds
 * the API's ordinary end-to-end tests (one or two cases of most kinds
 * above); this suite widens each kind to every encoding and channel. */
#include "check.h"
#include "http_client.h"

#include <cjson/cJSON.h>
#include <png.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <zlib.h>

#define HANG_S 20   /* no answer (nor a close) within this: a hang */

static char g_tmp[256];        /* temporary folder: model repository, static copy, logs */
static char g_shared[1024];    /* absolute ../shared */
static char g_static[1100];    /* the temporary copy of static/ */
static hc_server g_srv;
static bool g_up;
static const char *g_model = "mobilenetv2-imagenet";

/* ---- cases and batches -------------------------------------------------------- */

static char g_batch[64], g_case[600];
static int g_batch_cases, g_batch_failed, g_total_cases, g_batch_5xx;
static char g_first_5xx[300];
static double g_batch_t0;

static void case_begin(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void case_begin(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_case, sizeof g_case, fmt, ap);
    va_end(ap);
    check_cur_failed = check_cur_skipped = 0;
    check_msg[0] = 0;
}

static void case_end(void) {
    g_batch_cases++;
    g_total_cases++;
    if (check_cur_failed) {
        check_failed++;
        g_batch_failed++;
        printf("FAIL - %s: %s: %s\n", g_batch, g_case, check_msg);
    } else if (check_cur_skipped) {
        check_skipped++;
        printf("skip - %s: %s: %s\n", g_batch, g_case, check_msg);
    } else {
        check_passed++;
    }
    fflush(stdout);
}

/* CASE("name %d", i) { ...CHECK()s... }: one counted check.  A failing
 * CHECK jumps back here and the case is recorded as failed.  No `break`
 * inside (it would skip the bookkeeping).  Every CASE calls setjmp anew, so
 * a local is "clobbered" only if the case body itself changes it and it is
 * read after the body failed; no batch does that (results kept across
 * cases live in statics or address-taken structs).  GCC cannot see this
 * and warns about every loop counter. */
#pragma GCC diagnostic ignored "-Wclobbered"
#define CASE(...)                                                                           \
    for (int once_ = (case_begin(__VA_ARGS__), 1); once_; once_ = 0, case_end())            \
        if (setjmp(check_jmp) != 0) {} else   /* an `else` after the body cannot bind here */

/* ---- requests ---------------------------------------------------------------- */

static pthread_mutex_t g_note_mu = PTHREAD_MUTEX_INITIALIZER;   /* batch 9 sends from threads */

static void note_status(int status, const char *what) {
    if (status >= 500) {
        pthread_mutex_lock(&g_note_mu);
        if (!g_batch_5xx) snprintf(g_first_5xx, sizeof g_first_5xx, "%d for %.200s", status, what);
        g_batch_5xx++;
        pthread_mutex_unlock(&g_note_mu);
    }
}

static int connect_short(void) {
    int fd = hc_connect(g_srv.port);
    if (fd < 0) return -1;
    struct timeval tv = {.tv_sec = HANG_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

/* Sends bytes as they are and reads one response (status 0: the server
 * closed the connection without one).  Send errors are not fatal: a server
 * may answer and close while a hostile request is still being sent. */
static bool g_shut_wr;   /* xraw: half-close after sending (the client has nothing more to say) */
static hc_resp xraw(const void *data, size_t n, bool head, double *secs) {
    hc_resp r = {0};
    double t0 = hc_now();
    int fd = connect_short();
    if (fd >= 0) {
        hc_send(fd, data, n);
        if (g_shut_wr) shutdown(fd, SHUT_WR);
        hc_read(fd, &r, head);
        close(fd);
    }
    if (secs) *secs = hc_now() - t0;
    char what[64];
    snprintf(what, sizeof what, "%.60s", (const char *)data);
    note_status(r.status, what);
    return r;
}

/* One request on a fresh connection (Connection: close); body NULL: none,
 * "" with len 0: Content-Length: 0. */
static hc_resp xreq_t(const char *method, const char *path, const char *extra, const void *body, size_t len,
                      double *secs) {
    char *h = hc_request_head(method, path, extra, body, len, false);
    size_t hl = strlen(h);
    char *all = malloc(hl + len + 1);
    memcpy(all, h, hl);
    if (body && len) memcpy(all + hl, body, len);
    free(h);
    hc_resp r = xraw(all, hl + (body ? len : 0), !strcmp(method, "HEAD"), secs);
    free(all);
    return r;
}
static hc_resp xreq(const char *method, const char *path, const char *extra, const void *body, size_t len) {
    return xreq_t(method, path, extra, body, len, NULL);
}

static const char *CT_JPEG = "Content-Type: image/jpeg\r\n";
static const char *CT_PNG = "Content-Type: image/png\r\n";
static const char *CT_JSON = "Content-Type: application/json\r\n";
#define CAM "/v1/models/mobilenetv2-imagenet/cam"

/* ---- what an answer must look like ---------------------------------------------- */

static const struct { int status; const char *code; } g_codes[] = {
    {400, "BAD_REQUEST"}, {400, "BAD_IMAGE"}, {400, "BAD_PARAMETER"}, {400, "BAD_PATH"},
    {404, "NOT_FOUND"}, {404, "MODEL_NOT_FOUND"}, {405, "METHOD_NOT_ALLOWED"},
    {413, "PAYLOAD_TOO_LARGE"}, {413, "IMAGE_TOO_LARGE"}, {415, "UNSUPPORTED_MEDIA_TYPE"},
    {415, "UNSUPPORTED_IMAGE_FORMAT"}, {422, "CAM_NOT_APPLICABLE"},
};

/* The error document of DESIGN §4: {"error":{"code","message"}} and nothing
 * else, as JSON, with X-Request-Id.  Returns the code (static) or NULL. */
static const char *error_doc(const hc_resp *r, char *msg, size_t mlen) {
    static char code[64];
    char v[128];
    if (!r->head || !hc_header(r, "Content-Type", v, sizeof v) || strcmp(v, "application/json") != 0) return NULL;
    if (!hc_header(r, "X-Request-Id", v, sizeof v)) return NULL;
    cJSON *d = cJSON_Parse(r->body ? r->body : "");
    cJSON *e = cJSON_GetObjectItem(d, "error");
    cJSON *c = cJSON_GetObjectItem(e, "code"), *m = cJSON_GetObjectItem(e, "message");
    bool ok = cJSON_IsObject(d) && cJSON_GetArraySize(d) == 1 && cJSON_IsObject(e) && cJSON_GetArraySize(e) == 2 &&
              cJSON_IsString(c) && cJSON_IsString(m) && m->valuestring[0];
    if (ok) {
        snprintf(code, sizeof code, "%s", c->valuestring);
        if (msg) snprintf(msg, mlen, "%s", m->valuestring);
    }
    cJSON_Delete(d);
    return ok ? code : NULL;
}

/* a 4xx error document whose code is one DESIGN §4 gives that status */
static const char *want_4xx(const hc_resp *r) {
    CHECK(r->status >= 400 && r->status < 500, "status %d, want 4xx: %.200s", r->status, r->body ? r->body : "");
    const char *code = error_doc(r, NULL, 0);
    CHECK(code, "a JSON error document: %.300s", r->body ? r->body : "");
    bool known = false;
    for (size_t i = 0; i < sizeof g_codes / sizeof g_codes[0]; i++)
        known |= g_codes[i].status == r->status && !strcmp(g_codes[i].code, code);
    CHECK(known, "code %s does not go with status %d", code, r->status);
    return code;
}

/* status, code and (if given) a word the message must contain */
static void want_error(const hc_resp *r, int status, const char *code, const char *needle) {
    char msg[600] = "";
    CHECK(r->status == status, "status %d, want %d %s: %.300s", r->status, status, code, r->body ? r->body : "");
    const char *c = error_doc(r, msg, sizeof msg);
    CHECK(c && !strcmp(c, code), "error code %s, want %s: %.300s", c ? c : "(none)", code, r->body ? r->body : "");
    if (needle) CHECK(strstr(msg, needle), "message '%s' should name '%s'", msg, needle);
}

/* ---- small buffers, base64 ------------------------------------------------------ */

typedef struct { uint8_t *p; size_t n, cap; } buf;

static void bput(buf *b, const void *d, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        b->p = realloc(b->p, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void bstr(buf *b, const char *s) { bput(b, s, strlen(s)); }
static void bfmt(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bfmt(buf *b, const char *fmt, ...) {
    char t[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t, sizeof t, fmt, ap);
    va_end(ap);
    bput(b, t, n < (int)sizeof t ? (size_t)n : sizeof t - 1);
}
static void brep(buf *b, const char *s, size_t times) {
    size_t n = strlen(s);
    for (size_t i = 0; i < times; i++) bput(b, s, n);
}

static char *b64(const uint8_t *d, size_t n) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc(4 * ((n + 2) / 3) + 1), *q = o;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        *q++ = a[v >> 18 & 63];
        *q++ = a[v >> 12 & 63];
        *q++ = i + 1 < n ? a[v >> 6 & 63] : '=';
        *q++ = i + 2 < n ? a[v & 63] : '=';
    }
    *q = 0;
    return o;
}

static uint8_t *unb64(const char *s, size_t *len) {
    size_t n = strlen(s);
    uint8_t *o = malloc(n / 4 * 3 + 3);
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *p = s[i] ? strchr(a, s[i]) : NULL;
        if (!p) continue;
        acc = acc << 6 | (uint32_t)(p - a);
        bits += 6;
        if (bits >= 8) { bits -= 8; o[k++] = (uint8_t)(acc >> bits); }
    }
    *len = k;
    return o;
}

static uint32_t g_rng = 12345;
static uint32_t rnd32(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 17;
    g_rng ^= g_rng << 5;
    return g_rng;
}
static uint8_t *random_bytes(size_t n) {
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd32();
    return p;
}

/* the body in chunks of `chunk` bytes (Transfer-Encoding: chunked) */
static hc_resp xchunked(const char *path, const char *ct, const uint8_t *body, size_t len, size_t chunk) {
    buf b = {0};
    bfmt(&b, "POST %s HTTP/1.1\r\nHost: x\r\n%sTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", path, ct);
    for (size_t off = 0; off < len; off += chunk) {
        size_t k = len - off < chunk ? len - off : chunk;
        bfmt(&b, "%zx\r\n", k);
        bput(&b, body + off, k);
        bstr(&b, "\r\n");
    }
    bstr(&b, "0\r\n\r\n");
    hc_resp r = xraw(b.p, b.n, false, NULL);
    free(b.p);
    return r;
}

/* a JSON body {"image": "<base64>"} plus extra members (",..." or "") */
static char *json_body(const uint8_t *img, size_t n, const char *extra, size_t *len) {
    char *e = b64(img, n);
    buf b = {0};
    bfmt(&b, "{\"image\":\"");
    bstr(&b, e);
    bstr(&b, "\"");
    bstr(&b, extra);
    bstr(&b, "}");
    free(e);
    *len = b.n;
    return (char *)b.p;
}

/* multipart/form-data with boundary "hstl0": the image as a file field
 * (img NULL: none) and name=value text fields (NULL-terminated list) */
static const char *CT_MP = "Content-Type: multipart/form-data; boundary=hstl0\r\n";
static char *mp_body(const uint8_t *img, size_t n, const char *const *fields, size_t *len) {
    buf b = {0};
    for (int i = 0; fields && fields[i]; i += 2)
        bfmt(&b, "--hstl0\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n", fields[i], fields[i + 1]);
    if (img) {
        bstr(&b, "--hstl0\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x\"\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n");
        bput(&b, img, n);
        bstr(&b, "\r\n");
    }
    bstr(&b, "--hstl0--\r\n");
    *len = b.n;
    return (char *)b.p;
}

/* ---- images --------------------------------------------------------------------- */

static uint8_t *photo(const char *name, size_t *len) {
    char path[1400];
    snprintf(path, sizeof path, "%s/images/%s", g_shared, name);
    return (uint8_t *)hc_slurp(path, len);
}

typedef struct {
    int w, h, color, depth;
    bool interlace;
    const uint8_t *rows;       /* packed rows at the file's depth (16-bit: big-endian) */
    size_t stride;             /* 0: every row is `rows` (the bomb) */
    const png_color *pal;
    int npal;
    const uint8_t *trns;
    int ntrns;
    bool rle;                  /* zlib's run-length strategy: the bomb compresses ~1000:1 */
} pngspec;

static void png_w(png_structp png, png_bytep d, size_t n) { bput(png_get_io_ptr(png), d, n); }
static void png_f(png_structp png) { (void)png; }

static uint8_t *png_make(const pngspec *s, size_t *len) {
    buf b = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(b.p);
        return NULL;
    }
    png_set_write_fn(png, &b, png_w, png_f);
    if (s->rle) {
        png_set_compression_strategy(png, Z_RLE);
        png_set_filter(png, 0, PNG_FILTER_NONE);
    }
    png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth, s->color,
                 s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (s->pal) png_set_PLTE(png, info, s->pal, s->npal);
    if (s->trns) png_set_tRNS(png, info, s->trns, s->ntrns, NULL);
    png_write_info(png, info);
    int passes = s->interlace ? png_set_interlace_handling(png) : 1;
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < s->h; y++) png_write_row(png, (png_bytep)(s->rows + (size_t)y * s->stride));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *len = b.n;
    return b.p;
}

static uint8_t *png_rgb(const uint8_t *px, int w, int h, size_t *len) {
    pngspec s = {.w = w, .h = h, .color = PNG_COLOR_TYPE_RGB, .depth = 8, .rows = px, .stride = (size_t)w * 3};
    return png_make(&s, len);
}

/* decodes a PNG or JPEG of ours to RGB8 (the reference pixels) */
static uint8_t *png_read_rgb(const uint8_t *d, size_t n, int *w, int *h) {
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&im, d, n)) return NULL;
    im.format = PNG_FORMAT_RGB;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(im));
    if (!png_image_finish_read(&im, NULL, px, 0, NULL)) { free(px); png_image_free(&im); return NULL; }
    *w = (int)im.width;
    *h = (int)im.height;
    return px;
}

static uint8_t *jpg_read(const uint8_t *d, size_t n, int pf, int *w, int *h) {
    tjhandle tj = tjInitDecompress();
    int ss, cs;
    uint8_t *px = NULL;
    if (tjDecompressHeader3(tj, d, (unsigned long)n, w, h, &ss, &cs) == 0) {
        px = malloc((size_t)*w * *h * (size_t)tjPixelSize[pf]);
        if (tjDecompress2(tj, d, (unsigned long)n, px, *w, 0, *h, pf, 0) != 0) { free(px); px = NULL; }
    }
    tjDestroy(tj);
    return px;
}

static uint8_t *jpg_make(const uint8_t *px, int w, int h, int pf, int subsamp, int q, int flags, size_t *len) {
    tjhandle tj = tjInitCompress();
    unsigned char *out = NULL;
    unsigned long n = 0;
    uint8_t *copy = NULL;
    if (tjCompress2(tj, px, w, 0, h, pf, &out, &n, subsamp, q, flags) == 0) {
        copy = malloc(n);
        memcpy(copy, out, n);
        *len = n;
    }
    tjFree(out);
    tjDestroy(tj);
    return copy;
}

/* an APP1 EXIF segment with IFD0 orientation o, right after SOI */
static size_t put16(uint8_t *p, unsigned v, bool le) {
    p[0] = (uint8_t)(le ? v : v >> 8), p[1] = (uint8_t)(le ? v >> 8 : v);
    return 2;
}
static size_t put32(uint8_t *p, uint32_t v, bool le) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (le ? 8 * i : 24 - 8 * i));
    return 4;
}
static uint8_t *with_exif(const uint8_t *j, size_t n, int o, bool le, size_t *len) {
    uint8_t seg[40];
    size_t k = 0;
    seg[k++] = 0xFF, seg[k++] = 0xE1, seg[k++] = 0, seg[k++] = 34;   /* length: 2 + 6 + 8 + 2 + 12 + 4 */
    memcpy(seg + k, "Exif\0\0", 6), k += 6;
    memcpy(seg + k, le ? "II" : "MM", 2), k += 2;
    k += put16(seg + k, 42, le);
    k += put32(seg + k, 8, le);        /* IFD0 right after the header */
    k += put16(seg + k, 1, le);        /* one entry */
    k += put16(seg + k, 0x0112, le);   /* Orientation */
    k += put16(seg + k, 3, le);        /* SHORT */
    k += put32(seg + k, 1, le);        /* count 1 */
    k += put16(seg + k, (unsigned)o, le);
    k += put16(seg + k, 0, le);        /* the value is left-justified in 4 bytes */
    k += put32(seg + k, 0, le);        /* no next IFD */
    *len = n + k;
    uint8_t *out = malloc(*len);
    memcpy(out, j, 2);
    memcpy(out + 2, seg, k);
    memcpy(out + 2 + k, j + 2, n - 2);
    return out;
}

/* where upright pixel (x, y) of a W x H image is stored under EXIF
 * orientation o (TIFF 6.0 / EXIF 2.3, derived from the spec's row/column
 * wording, not from the server's code) */
static void stored_at(int o, int x, int y, int W, int H, int *sx, int *sy) {
    int ws = o >= 5 ? H : W, hs = o >= 5 ? W : H;
    switch (o) {
    case 2: *sx = W - 1 - x, *sy = y; break;
    case 3: *sx = W - 1 - x, *sy = H - 1 - y; break;
    case 4: *sx = x, *sy = H - 1 - y; break;
    case 5: *sx = y, *sy = x; break;             /* row 0 = left, column 0 = top */
    case 6: *sx = y, *sy = hs - 1 - x; break;    /* row 0 = right, column 0 = top */
    case 7: *sx = ws - 1 - y, *sy = hs - 1 - x; break;   /* row 0 = right, column 0 = bottom */
    case 8: *sx = ws - 1 - y, *sy = x; break;    /* row 0 = left, column 0 = bottom */
    default: *sx = x, *sy = y;
    }
}

/* a minimal PNG: signature, IHDR (w, h, depth, colour type) and IEND */
static void chunk(buf *b, const char *type, const uint8_t *data, uint32_t n) {
    uint8_t l[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    bput(b, l, 4);
    size_t at = b->n;
    bput(b, type, 4);
    bput(b, data, n);
    uint32_t c = (uint32_t)crc32(0, b->p + at, (uInt)(n + 4));
    uint8_t cb[4] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8), (uint8_t)c};
    bput(b, cb, 4);
}
static uint8_t *png_header_only(uint32_t w, uint32_t h, int depth, int color, size_t *len) {
    buf b = {0};
    bput(&b, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13] = {(uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w,
                        (uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h,
                        (uint8_t)depth, (uint8_t)color, 0, 0, 0};
    chunk(&b, "IHDR", ihdr, 13);
    chunk(&b, "IEND", NULL, 0);
    *len = b.n;
    return b.p;
}

/* PNG chunks: offset of each chunk's length field, by index */
typedef struct { size_t off[64]; char type[64][5]; uint32_t len[64]; int n; } png_chunks;
static void png_walk(const uint8_t *p, size_t n, png_chunks *c) {
    c->n = 0;
    for (size_t i = 8; i + 12 <= n && c->n < 64;) {
        uint32_t l = (uint32_t)p[i] << 24 | (uint32_t)p[i + 1] << 16 | (uint32_t)p[i + 2] << 8 | p[i + 3];
        c->off[c->n] = i;
        c->len[c->n] = l;
        memcpy(c->type[c->n], p + i + 4, 4);
        c->type[c->n][4] = 0;
        c->n++;
        if (l > n - i - 12) break;
        i += 12 + l;
    }
}
static void png_fix_crc(uint8_t *p, size_t off, uint32_t len) {
    uint32_t c = (uint32_t)crc32(0, p + off + 4, len + 4);
    uint8_t *q = p + off + 8 + len;
    q[0] = (uint8_t)(c >> 24), q[1] = (uint8_t)(c >> 16), q[2] = (uint8_t)(c >> 8), q[3] = (uint8_t)c;
}

/* JPEG marker segments before the first scan: offset of each marker's 0xFF */
typedef struct { size_t off[64]; int marker[64]; size_t len[64]; int n; size_t scan; } jpg_segs;
static void jpg_walk(const uint8_t *p, size_t n, jpg_segs *s) {
    s->n = 0;
    s->scan = 0;
    for (size_t i = 2; i + 4 <= n && s->n < 64;) {
        if (p[i] != 0xFF) break;
        int m = p[i + 1];
        size_t l = (size_t)p[i + 2] << 8 | p[i + 3];
        s->off[s->n] = i, s->marker[s->n] = m, s->len[s->n] = l, s->n++;
        i += 2 + l;
        if (m == 0xDA) { s->scan = i; break; }
    }
}

/* the SOF of a JPEG of ours rewritten to claim w x h */
static void jpg_set_dims(uint8_t *p, size_t n, int w, int h) {
    jpg_segs s;
    jpg_walk(p, n, &s);
    for (int i = 0; i < s.n; i++)
        if (s.marker[i] >= 0xC0 && s.marker[i] <= 0xC2) {
            uint8_t *q = p + s.off[i] + 5;
            q[0] = (uint8_t)(h >> 8), q[1] = (uint8_t)h, q[2] = (uint8_t)(w >> 8), q[3] = (uint8_t)w;
        }
}

/* ---- the answer of /cam ------------------------------------------------------------ */

typedef struct {
    int w, h;
    int npred, idx[16];
    double score[16];
    int nbox, box[8][4];
    int ovw, ovh;
} answer;

/* A 200 with the response of DESIGN §4: sizes, predictions in order, boxes
 * inside the image, an overlay PNG of the grid size (the image's size,
 * longest side capped at 1024) that decodes. */
static int num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valueint : -999999;
}

static void want_answer(const hc_resp *r, answer *a) {
    memset(a, 0, sizeof *a);
    CHECK(r->status == 200, "status %d: %.300s", r->status, r->body ? r->body : "");
    cJSON *d = cJSON_Parse(r->body);
    CHECK(d, "JSON answer");
    cJSON *im = cJSON_GetObjectItem(d, "image");
    a->w = num(im, "width");
    a->h = num(im, "height");
    cJSON *preds = cJSON_GetObjectItem(d, "predictions"), *p;
    cJSON_ArrayForEach(p, preds) {
        if (a->npred == 16) break;
        const cJSON *sc = cJSON_GetObjectItem(p, "score");
        a->idx[a->npred] = num(p, "index");
        a->score[a->npred] = cJSON_IsNumber(sc) ? sc->valuedouble : -1;
        a->npred++;
    }
    cJSON *cams = cJSON_GetObjectItem(d, "cams");
    cJSON *c0 = cJSON_GetArrayItem(cams, 0), *bx;
    cJSON_ArrayForEach(bx, cJSON_GetObjectItem(c0, "boxes")) {
        if (a->nbox == 8) break;
        a->box[a->nbox][0] = num(bx, "x0");
        a->box[a->nbox][1] = num(bx, "y0");
        a->box[a->nbox][2] = num(bx, "x1");
        a->box[a->nbox][3] = num(bx, "y1");
        a->nbox++;
    }
    cJSON *ov = cJSON_GetObjectItem(c0, "overlay_png");
    uint8_t *png = NULL;
    size_t pn = 0;
    if (cJSON_IsString(ov)) png = unb64(ov->valuestring, &pn);
    cJSON_Delete(d);
    int ow = 0, oh = 0;
    uint8_t *px = png ? png_read_rgb(png, pn, &ow, &oh) : NULL;
    free(png);
    free(px);
    a->ovw = ow, a->ovh = oh;
    CHECK(a->w > 0 && a->h > 0, "image size %dx%d", a->w, a->h);
    CHECK(a->npred == 5, "%d predictions (top_k 5)", a->npred);
    for (int i = 0; i < a->npred; i++)
        CHECK(a->idx[i] >= 0 && a->score[i] >= 0 && a->score[i] <= 1 && (i == 0 || a->score[i] <= a->score[i - 1]),
              "prediction %d: index %d, score %g out of order or range", i, a->idx[i], a->score[i]);
    for (int i = 0; i < a->nbox; i++) {
        const int *b = a->box[i];
        CHECK(0 <= b[0] && b[0] <= b[2] && b[2] < a->w && 0 <= b[1] && b[1] <= b[3] && b[3] < a->h,
              "box %d (%d,%d)-(%d,%d) outside the %dx%d image", i, b[0], b[1], b[2], b[3], a->w, a->h);
    }
    CHECK(ow > 0 && oh > 0, "overlay_png decodes");
    int longest = a->w > a->h ? a->w : a->h, gw = a->w, gh = a->h;
    if (longest > 1024) {
        double s = 1024.0 / longest;
        gw = a->w >= a->h ? 1024 : (int)lround(a->w * s);
        gh = a->h > a->w ? 1024 : (int)lround(a->h * s);
        if (gw < 1) gw = 1;
        if (gh < 1) gh = 1;
    }
    CHECK(ow == gw && oh == gh, "overlay %dx%d for a %dx%d image, want %dx%d", ow, oh, a->w, a->h, gw, gh);
}

static bool in_top(const answer *ref, int idx, int k) {
    for (int i = 0; i < k && i < ref->npred; i++)
        if (ref->idx[i] == idx) return true;
    return false;
}

static double iou(const int *a, const int *b) {
    int x0 = a[0] > b[0] ? a[0] : b[0], y0 = a[1] > b[1] ? a[1] : b[1];
    int x1 = a[2] < b[2] ? a[2] : b[2], y1 = a[3] < b[3] ? a[3] : b[3];
    double in = x1 >= x0 && y1 >= y0 ? (double)(x1 - x0 + 1) * (y1 - y0 + 1) : 0;
    double ua = (double)(a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (double)(b[2] - b[0] + 1) * (b[3] - b[1] + 1) - in;
    return ua > 0 ? in / ua : 0;
}

/* ---- set-up ---------------------------------------------------------------------- */

static char g_secret[40];             /* content of a file next to the static copy */
static char *g_leak_lines[16];        /* lines of /etc/passwd and of the Makefile */
static int g_n_leak;
static char *g_index_html;
static size_t g_index_len;

static bool write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static void add_leak_lines(const char *path, int max) {
    char *text = hc_slurp(path, NULL);
    if (!text) return;
    int got = 0;
    for (char *l = strtok(text, "\n"); l && got < max && g_n_leak < 16; l = strtok(NULL, "\n"))
        if (strlen(l) >= 12) g_leak_lines[g_n_leak++] = strdup(l), got++;
    free(text);
}

TEST(server_starts) {
    char path[1400], log[512], models[1100];
    if (!realpath(check_shared_dir(), g_shared)) SKIP("no %s", check_shared_dir());
    snprintf(path, sizeof path, "%s/models/%s/model.onnx", g_shared, g_model);
    if (access(path, R_OK) != 0) SKIP("%s not found", path);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/camserve-hostile-XXXXXX");
    CHECK(mkdtemp(g_tmp), "mkdtemp");
    /* the shared model through a symlink; a copy of the demo page folder
     * with symlinks out of it (to a file, to the root, to its parent) */
    snprintf(models, sizeof models, "%s/models", g_tmp);
    CHECK(mkdir(models, 0755) == 0, "mkdir");
    snprintf(path, sizeof path, "%s/models/%s", g_shared, g_model);
    char link[1400];
    snprintf(link, sizeof link, "%s/%s", models, g_model);
    CHECK(symlink(path, link) == 0, "symlink %s", link);
    snprintf(g_static, sizeof g_static, "%s/static", g_tmp);
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "cp -R static '%s'", g_static);
    CHECK(access("static/index.html", R_OK) == 0 && system(cmd) == 0, "copy of static/ (run from the repository)");
    char mk[PATH_MAX];
    CHECK(realpath("Makefile", mk), "the Makefile");
    static const struct { const char *name; const char *target; } links[] = {
        {"passwd", "/etc/passwd"}, {"mk", NULL}, {"root", "/"}, {"up", ".."}};
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(link, sizeof link, "%s/%s", g_static, links[i].name);
        CHECK(symlink(links[i].target ? links[i].target : mk, link) == 0, "symlink %s", link);
    }
    snprintf(g_secret, sizeof g_secret, "hostile-secret-%08x", (unsigned)getpid() * 2654435761u);
    snprintf(path, sizeof path, "%s/secret.txt", g_tmp);
    CHECK(write_file(path, g_secret, strlen(g_secret)), "secret file");
    add_leak_lines("/etc/passwd", 4);
    add_leak_lines(mk, 8);
    CHECK(g_n_leak >= 4, "lines to look for in leaks");
    snprintf(path, sizeof path, "%s/index.html", g_static);
    g_index_html = hc_slurp(path, &g_index_len);
    CHECK(g_index_html && g_index_len > 0, "index.html");

    snprintf(log, sizeof log, "%s/server.log", g_tmp);
    const char *args[] = {"--models", models, "--static", g_static, "--host", "127.0.0.1", "--port", "0",
                          "--workers", "2", "--threads", "1", "--default-model", g_model, "--log-format", "json",
                          NULL};
    bool ok = hc_server_start(&g_srv, check_bin(), log, args, true, 60);
    char *text = hc_slurp(log, NULL);
    CHECK(ok, "server did not become ready: %s", text ? text : "(no log)");
    free(text);
    g_up = true;
}

static void batch_begin(const char *name) {
    snprintf(g_batch, sizeof g_batch, "%s", name);
    g_batch_cases = g_batch_failed = g_batch_5xx = 0;
    g_first_5xx[0] = 0;
    g_batch_t0 = hc_now();
}

static long g_5xx_base;   /* 503s while the server loaded (hc_server_start polls /readyz) */

static long metric_5xx(void) {
    hc_resp r = xreq("GET", "/metrics", NULL, NULL, 0);
    long sum = r.status == 200 ? 0 : -1;
    for (const char *l = r.body; sum >= 0 && l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        const char *c = !strncmp(l, "camserve_requests_total{", 24) ? strstr(l, "code=\"5") : NULL;
        const char *e = strchr(l, '\n');
        if (c && (!e || c < e)) sum += atol(strchr(c, '}') + 1);
    }
    hc_free(&r);
    return sum;
}

/* after every batch: still alive, ready, and no 5xx (ours or the server's count) */
static void batch_end(void) {
    CASE("healthy after the batch") {
        hc_resp r = xreq("GET", "/healthz", NULL, NULL, 0);
        CHECK(r.status == 200, "/healthz %d", r.status);
        hc_free(&r);
        r = xreq("GET", "/readyz", NULL, NULL, 0);
        CHECK(r.status == 200, "/readyz %d", r.status);
        hc_free(&r);
        CHECK(g_batch_5xx == 0, "%d answers were 5xx, the first %s", g_batch_5xx, g_first_5xx);
        long m = metric_5xx();
        CHECK(m == g_5xx_base, "/metrics counts %ld 5xx answers, %ld before the first batch", m, g_5xx_base);
        int st;
        CHECK(waitpid(g_srv.pid, &st, WNOHANG) == 0, "the server process is alive");
    }
    /* a summary of the counted cases above, not a check of its own */
    printf("  batch '%s': %d cases, %d failed (%.1f s)\n", g_batch, g_batch_cases, g_batch_failed,
           hc_now() - g_batch_t0);
    fflush(stdout);
}

/* ---- 1. decompression bombs --------------------------------------------------------- */

static uint8_t *small_jpeg(int w, int h, int flags, size_t *len) {
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++) px[i] = (uint8_t)(i * 7);
    uint8_t *j = jpg_make(px, w, h, TJPF_RGB, TJSAMP_420, 90, flags, len);
    free(px);
    return j;
}

static double g_bomb_max_s;

/* 413 IMAGE_TOO_LARGE naming the size (needle), in well under a second */
static void bomb_case(const char *what, const uint8_t *data, size_t n, const char *ct, const char *needle) {
    CASE("%s", what) {
        double secs;
        hc_resp r = xreq_t("POST", CAM, ct, data, n, &secs);
        want_error(&r, 413, "IMAGE_TOO_LARGE", needle);
        CHECK(secs < 1.0, "answered in %.3f s (want well under 1 s)", secs);
        if (secs > g_bomb_max_s) g_bomb_max_s = secs;
        hc_free(&r);
    }
}

static void batch_bombs(void) {
    batch_begin("decompression bombs");
    static const struct { uint32_t w, h; int depth, color; } hdr[] = {
        {60000, 60000, 8, 2}, {20000, 20000, 8, 2}, {65535, 65535, 16, 6}, {7000, 7000, 8, 0},
        {6325, 6325, 8, 2},   /* 40.0056 MP: just past the default 40 MP */
        {40000001, 1, 8, 0}, {2000000, 2000000, 1, 3}, {1, 50000000, 8, 2},
    };
    for (size_t i = 0; i < sizeof hdr / sizeof hdr[0]; i++) {
        size_t n;
        uint8_t *png = png_header_only(hdr[i].w, hdr[i].h, hdr[i].depth, hdr[i].color, &n);
        char what[96], dims[48];
        snprintf(dims, sizeof dims, "%ux%u", hdr[i].w, hdr[i].h);
        snprintf(what, sizeof what, "PNG header %s", dims);
        bomb_case(what, png, n, CT_PNG, dims);
        free(png);
    }
    /* just under the limit: the header passes, the missing pixel data is the error */
    CASE("PNG header 6324x6324 (just under 40 MP), no pixel data: 400") {
        size_t n;
        uint8_t *png = png_header_only(6324, 6324, 8, 2, &n);
        double secs;
        hc_resp r = xreq_t("POST", CAM, CT_PNG, png, n, &secs);
        want_error(&r, 400, "BAD_IMAGE", NULL);
        CHECK(secs < 1.0, "%.3f s", secs);
        hc_free(&r);
        free(png);
    }
    static const struct { int w, h, flags; } jd[] = {
        {60000, 60000, 0}, {20000, 20000, 0}, {65535, 65535, TJFLAG_PROGRESSIVE}, {65000, 1000, 0}, {1000, 65000, 0},
    };
    for (size_t i = 0; i < sizeof jd / sizeof jd[0]; i++) {
        size_t n;
        uint8_t *j = small_jpeg(16, 16, jd[i].flags, &n);
        jpg_set_dims(j, n, jd[i].w, jd[i].h);
        char what[96], dims[48];
        /* libjpeg itself refuses sides over 65500 before the size is known */
        snprintf(dims, sizeof dims, jd[i].w > 65500 || jd[i].h > 65500 ? "65500" : "%dx%d", jd[i].w, jd[i].h);
        snprintf(what, sizeof what, "%s JPEG header %dx%d", jd[i].flags ? "progressive" : "baseline", jd[i].w, jd[i].h);
        bomb_case(what, j, n, CT_JPEG, dims);
        free(j);
    }
    /* a real 20000 x 20000 image: one solid colour, 400 MB of pixels in a few hundred KB */
    size_t n = 0;
    double t0 = hc_now();
    uint8_t *row = calloc(20000, 1);
    png_color red = {200, 30, 30};
    pngspec s = {.w = 20000, .h = 20000, .color = PNG_COLOR_TYPE_PALETTE, .depth = 8, .rows = row, .stride = 0,
                 .pal = &red, .npal = 1, .rle = true};
    uint8_t *bomb = png_make(&s, &n);
    free(row);
    printf("  the 20000x20000 PNG: %zu bytes, made in %.2f s\n", n, hc_now() - t0);
    CASE("a real 20000x20000 solid PNG is small") { CHECK(bomb && n < 2000000, "%zu bytes", n); }
    bomb_case("real 20000x20000 PNG as image/png", bomb, n, CT_PNG, "20000x20000");
    bomb_case("real 20000x20000 PNG announced as image/jpeg", bomb, n, CT_JPEG, "20000x20000");
    {
        size_t jl;
        char *js = json_body(bomb, n, "", &jl);
        bomb_case("real 20000x20000 PNG in JSON base64", (uint8_t *)js, jl, CT_JSON, "20000x20000");
        free(js);
        size_t ml;
        char *mp = mp_body(bomb, n, NULL, &ml);
        bomb_case("real 20000x20000 PNG in multipart", (uint8_t *)mp, ml, CT_MP, "20000x20000");
        free(mp);
    }
    free(bomb);
    /* the same limit through /classify and the default model route */
    {
        size_t hn;
        uint8_t *png = png_header_only(30000, 30000, 8, 2, &hn);
        CASE("PNG header 30000x30000 on /classify") {
            double secs;
            hc_resp r = xreq_t("POST", "/v1/models/mobilenetv2-imagenet/classify", CT_PNG, png, hn, &secs);
            want_error(&r, 413, "IMAGE_TOO_LARGE", "30000x30000");
            CHECK(secs < 1.0, "%.3f s", secs);
            hc_free(&r);
        }
        CASE("PNG header 30000x30000 on /v1/cam") {
            double secs;
            hc_resp r = xreq_t("POST", "/v1/cam", CT_PNG, png, hn, &secs);
            want_error(&r, 413, "IMAGE_TOO_LARGE", NULL);
            CHECK(secs < 1.0, "%.3f s", secs);
            hc_free(&r);
        }
        free(png);
    }
    printf("  slowest 413 of the batch: %.3f s\n", g_bomb_max_s);

    /* CPU bombs: small files that cost decoding work out of proportion */
    CASE("progressive JPEG with 3000 scans: refused, in well under a second") {
        size_t jl;
        uint8_t *j = small_jpeg(256, 256, TJFLAG_PROGRESSIVE, &jl);
        CHECK(j && jl > 4, "a progressive JPEG");
        /* the scans: from each SOS marker (FF DA never occurs in entropy data) to the next scan's tables or EOI */
        size_t best = 0, best_len = SIZE_MAX;
        for (size_t i = 2; i + 1 < jl; i++) {
            if (j[i] != 0xFF || j[i + 1] != 0xDA) continue;
            size_t e = i + 2;
            while (e + 1 < jl && !(j[e] == 0xFF && j[e + 1] != 0 && (j[e + 1] < 0xD0 || j[e + 1] > 0xD7))) e++;
            if (e - i < best_len) best = i, best_len = e - i;
        }
        CHECK(best && best_len < 8000, "the smallest scan (%zu bytes)", best_len);
        buf b = {0};
        bput(&b, j, jl - 2);
        for (int k = 0; k < 3000; k++) bput(&b, j + best, best_len);
        bput(&b, "\xff\xd9", 2);
        free(j);
        double secs;
        hc_resp r = xreq_t("POST", CAM, CT_JPEG, b.p, b.n, &secs);
        printf("  3000-scan JPEG: %zu bytes, %d in %.3f s\n", b.n, r.status, secs);
        free(b.p);
        want_error(&r, 400, "BAD_IMAGE", "scans");
        CHECK(secs < 1.0, "%.3f s", secs);
        hc_free(&r);
    }
    {
        /* ancillary chunks whose text inflates to 256 MB each: skipped unread */
        size_t cn, pn;
        uint8_t *catf = photo("cat.png", &cn);
        uint8_t *zeros = calloc(1 << 20, 1);
        z_stream z = {0};
        buf zb = {0};
        deflateInit2(&z, 9, Z_DEFLATED, 15, 9, Z_RLE);
        uint8_t out[1 << 16];
        for (int k = 0; k < 256; k++) {   /* 256 MB of zeros */
            z.next_in = zeros, z.avail_in = 1 << 20;
            do {
                z.next_out = out, z.avail_out = sizeof out;
                deflate(&z, k == 255 ? Z_FINISH : Z_NO_FLUSH);
                bput(&zb, out, sizeof out - z.avail_out);
            } while (z.avail_out == 0);
        }
        deflateEnd(&z);
        free(zeros);
        buf b = {0};
        if (catf) {
            bput(&b, catf, 33);   /* signature and IHDR */
            buf c = {0};
            bput(&c, "Comment\0\0", 9);   /* zTXt: keyword, NUL, method 0 */
            bput(&c, zb.p, zb.n);
            chunk(&b, "zTXt", c.p, (uint32_t)c.n);
            c.n = 0;
            bput(&c, "icc\0\0", 5);         /* iCCP: name, NUL, method 0 */
            bput(&c, zb.p, zb.n);
            chunk(&b, "iCCP", c.p, (uint32_t)c.n);
            c.n = 0;
            bput(&c, "XML:com.adobe.xmp\0\1\0\0\0", 22);   /* iTXt, compressed */
            bput(&c, zb.p, zb.n);
            chunk(&b, "iTXt", c.p, (uint32_t)c.n);
            free(c.p);
            bput(&b, catf + 33, cn - 33);
        }
        pn = b.n;
        CASE("PNG with zTXt, iCCP and iTXt chunks that inflate to 256 MB each: the plain answer, quickly") {
            CHECK(catf && zb.n < 2000000, "made (%zu bytes of deflate)", zb.n);
            double secs;
            hc_resp r = xreq_t("POST", CAM "?overlay=false", CT_PNG, b.p, pn, &secs);
            CHECK(r.status == 200, "%d %.200s", r.status, r.body ? r.body : "");
            cJSON *d = cJSON_Parse(r.body);
            const cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "predictions"), 0);
            int top = num(p0, "index");
            cJSON_Delete(d);
            hc_free(&r);
            printf("  PNG with 3 x 256 MB of compressed text: %zu bytes, answered in %.3f s\n", pn, secs);
            CHECK(secs < 2.0, "%.3f s", secs);
            r = xreq("POST", CAM "?overlay=false", CT_PNG, catf, cn);
            d = cJSON_Parse(r.body);
            p0 = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "predictions"), 0);
            CHECK(top >= 0 && top == num(p0, "index"), "top-1 %d, the plain file's %d", top, num(p0, "index"));
            cJSON_Delete(d);
            hc_free(&r);
        }
        free(zb.p);
        /* 100 000 empty IDAT chunks in front of the real ones */
        b.n = 0;
        if (catf) {
            bput(&b, catf, 33);
            for (int k = 0; k < 100000; k++) chunk(&b, "IDAT", NULL, 0);
            bput(&b, catf + 33, cn - 33);
        }
        CASE("PNG with 100 000 empty IDAT chunks first: answered in well under a second") {
            CHECK(catf, "cat.png");
            double secs;
            hc_resp r = xreq_t("POST", CAM "?overlay=false", CT_PNG, b.p, b.n, &secs);
            printf("  PNG with 100000 empty IDATs: %d in %.3f s\n", r.status, secs);
            CHECK(r.status == 200 || (r.status == 400 && error_doc(&r, NULL, 0)), "%d", r.status);
            CHECK(secs < 1.0, "%.3f s", secs);
            hc_free(&r);
        }
        free(b.p);
        free(catf);
    }
    batch_end();
}

/* ---- 2. truncated and corrupt images, empty bodies, random bytes ------------------------ */

/* 200 with a sound answer, or a 4xx whose code fits; sent twice, the
 * outcome must be the same (a stable code, not a race) */
static void want_stable_outcome(const char *ct, const uint8_t *d, size_t n) {
    hc_resp r = xreq("POST", CAM, ct, d, n);
    char code1[64] = "";
    if (r.status == 200) {
        answer a;
        want_answer(&r, &a);
    } else {
        snprintf(code1, sizeof code1, "%s", want_4xx(&r));
    }
    int st1 = r.status;
    hc_free(&r);
    if (st1 == 200) return;   /* one inference is enough */
    r = xreq("POST", CAM, ct, d, n);
    const char *c2 = r.status >= 400 && r.status < 500 ? error_doc(&r, NULL, 0) : NULL;
    CHECK(r.status == st1 && c2 && !strcmp(c2, code1), "second answer %d %s, first %d %s", r.status, c2 ? c2 : "-",
          st1, code1);
    hc_free(&r);
}

/* n random bytes (magic 1: after a JPEG signature, 2: a PNG one) under
 * every body type: 415 when no image signature, 400 when the bytes start
 * like a JPEG or PNG; JSON and multipart frames around them must not
 * change that */
static void random_cases(size_t n, int magic) {
    uint8_t *d = random_bytes(n);
    if (magic == 0 && (d[0] == 0xFF || d[0] == 0x89)) d[0] = 0;
    if (magic == 1) memcpy(d, "\xff\xd8\xff", n < 3 ? n : 3);
    if (magic == 2) memcpy(d, "\x89PNG\r\n\x1a\n", n < 8 ? n : 8);
    static const char *const mname[3] = {"random", "JPEG signature + random", "PNG signature + random"};
    int want = magic ? 400 : 415;
    const char *wcode = magic ? "BAD_IMAGE" : "UNSUPPORTED_IMAGE_FORMAT";
    CASE("%zu bytes, %s, as image/jpeg", n, mname[magic]) {
        hc_resp r = xreq("POST", CAM, CT_JPEG, d, n);
        want_error(&r, want, wcode, NULL);
        hc_free(&r);
    }
    CASE("%zu bytes, %s, as image/png", n, mname[magic]) {
        hc_resp r = xreq("POST", CAM, CT_PNG, d, n);
        want_error(&r, want, wcode, NULL);
        hc_free(&r);
    }
    CASE("%zu bytes, %s, as a multipart file", n, mname[magic]) {
        size_t ml;
        char *mp = mp_body(d, n, NULL, &ml);
        hc_resp r = xreq("POST", CAM, CT_MP, mp, ml);
        free(mp);
        want_error(&r, want, wcode, NULL);
        hc_free(&r);
    }
    CASE("%zu bytes, %s, as JSON base64", n, mname[magic]) {
        size_t jl;
        char *j = json_body(d, n, "", &jl);
        hc_resp r = xreq("POST", CAM, CT_JSON, j, jl);
        free(j);
        want_error(&r, want, wcode, NULL);
        hc_free(&r);
    }
    if (magic == 0) {
        CASE("%zu random bytes as the raw body of application/json", n) {
            hc_resp r = xreq("POST", CAM, CT_JSON, d, n);
            want_error(&r, 400, "BAD_REQUEST", NULL);
            hc_free(&r);
        }
        CASE("%zu random bytes as the raw body of multipart/form-data", n) {
            hc_resp r = xreq("POST", CAM, CT_MP, d, n);
            want_error(&r, 400, "BAD_REQUEST", NULL);
            hc_free(&r);
        }
    }
    free(d);
}

static void batch_corrupt(void) {
    batch_begin("truncated and corrupt images");
    size_t jn, pn;
    uint8_t *jpg = photo("hot_dog.jpg", &jn), *png = photo("cat.png", &pn);
    CASE("the shared photos") { CHECK(jpg && png, "hot_dog.jpg and cat.png in %s/images", g_shared); }
    if (!jpg || !png) { batch_end(); return; }
    jpg_segs js;
    jpg_walk(jpg, jn, &js);
    /* truncation: every cut is a 400 BAD_IMAGE */
    size_t jcuts[] = {1, 2, 3, 4, 11, 20, 100, 400, js.scan, js.scan + 1, js.scan + 500, jn / 4, jn / 2,
                      3 * jn / 4, jn - 100, jn - 3, jn - 2, jn - 1};
    for (size_t i = 0; i < sizeof jcuts / sizeof jcuts[0]; i++)
        CASE("JPEG cut to %zu of %zu bytes", jcuts[i], jn) {
            hc_resp r = xreq("POST", CAM, CT_JPEG, jpg, jcuts[i]);
            want_error(&r, 400, "BAD_IMAGE", NULL);
            hc_free(&r);
        }
    png_chunks pc;
    png_walk(png, pn, &pc);
    size_t pcuts[] = {1, 4, 7, 8, 12, 20, 33, 40, pc.off[1] + 50, pn / 4, pn / 2, pn - 13, pn - 12, pn - 5, pn - 1};
    for (size_t i = 0; i < sizeof pcuts / sizeof pcuts[0]; i++)
        CASE("PNG cut to %zu of %zu bytes", pcuts[i], pn) {
            hc_resp r = xreq("POST", CAM, CT_PNG, png, pcuts[i]);
            want_error(&r, 400, "BAD_IMAGE", NULL);
            hc_free(&r);
        }
    CASE("JPEG of SOI and EOI only") {
        hc_resp r = xreq("POST", CAM, CT_JPEG, "\xff\xd8\xff\xd9", 4);
        want_error(&r, 400, "BAD_IMAGE", NULL);
        hc_free(&r);
    }
    CASE("PNG signature only") {
        hc_resp r = xreq("POST", CAM, CT_PNG, "\x89PNG\r\n\x1a\n", 8);
        want_error(&r, 400, "BAD_IMAGE", NULL);
        hc_free(&r);
    }
    /* flipped bytes in every header segment of the JPEG: its marker, its
     * length, its first and middle payload bytes */
    uint8_t *c = malloc(jn);
    for (int s = 0; s < js.n; s++) {
        size_t at[4] = {js.off[s] + 1, js.off[s] + 2, js.off[s] + 4, js.off[s] + 2 + js.len[s] / 2};
        static const char *const where[4] = {"marker", "length", "payload start", "payload middle"};
        for (int k = 0; k < 4; k++) {
            if (at[k] >= jn) continue;
            memcpy(c, jpg, jn);
            c[at[k]] ^= 0xFF;
            CASE("JPEG with the %s byte of segment FF%02X flipped (offset %zu)", where[k], js.marker[s], at[k]) {
                want_stable_outcome(CT_JPEG, c, jn);
            }
        }
    }
    /* flipped bytes in the entropy-coded data, and bogus markers in it */
    for (int k = 0; k < 8; k++) {
        size_t at = js.scan + (jn - js.scan) * (size_t)(2 * k + 1) / 17;
        memcpy(c, jpg, jn);
        c[at] ^= (uint8_t)(k & 1 ? 0xFF : 0x10);
        if (k >= 6) c[at] = 0xFF, c[at + 1] = (uint8_t)(k == 6 ? 0xD9 : 0xC0);   /* an early EOI; an SOF in the scan */
        CASE("JPEG with scan data damaged at offset %zu (%s)", at, k >= 6 ? "bogus marker" : "flipped bits") {
            want_stable_outcome(CT_JPEG, c, jn);
        }
    }
    free(c);
    /* PNG: bad CRCs, bad IHDR fields (CRC fixed), damaged and missing chunks */
    c = malloc(pn + 64);
    for (int k = 0; k < pc.n; k++) {
        if (strcmp(pc.type[k], "IHDR") && strcmp(pc.type[k], "IDAT") && strcmp(pc.type[k], "IEND")) continue;
        if (!strcmp(pc.type[k], "IDAT") && k != 1 && k != pc.n - 2) continue;   /* first and last IDAT */
        memcpy(c, png, pn);
        c[pc.off[k] + 8 + pc.len[k]] ^= 0x55;
        CASE("PNG with a bad CRC on chunk %d (%s)", k, pc.type[k]) {
            hc_resp r = xreq("POST", CAM, CT_PNG, c, pn);
            want_error(&r, 400, "BAD_IMAGE", NULL);
            hc_free(&r);
        }
    }
    static const struct { int at; uint8_t v; const char *what; } ihdr[] = {
        {16 + 8, 3, "bit depth 3"}, {16 + 9, 1, "colour type 1"}, {16 + 9, 3, "palette without PLTE"},
        {16 + 10, 1, "compression method 1"}, {16 + 11, 1, "filter method 1"}, {16 + 12, 2, "interlace 2"},
        {16 + 0, 0x80, "width 2^31 + w"}, {16 + 4, 0xFF, "height > 2^31"},
    };
    for (size_t k = 0; k < sizeof ihdr / sizeof ihdr[0]; k++) {
        memcpy(c, png, pn);
        c[ihdr[k].at] = ihdr[k].v;
        png_fix_crc(c, 8, 13);
        CASE("PNG IHDR with %s (CRC fixed)", ihdr[k].what) {
            hc_resp r = xreq("POST", CAM, CT_PNG, c, pn);
            want_error(&r, 400, "BAD_IMAGE", NULL);
            hc_free(&r);
        }
    }
    CASE("PNG with width 0 (CRC fixed)") {
        memcpy(c, png, pn);
        memset(c + 16, 0, 4);
        png_fix_crc(c, 8, 13);
        hc_resp r = xreq("POST", CAM, CT_PNG, c, pn);
        want_error(&r, 400, "BAD_IMAGE", NULL);
        hc_free(&r);
    }
    for (int k = 0; k < 4; k++) {
        /* IDAT bytes damaged, CRC fixed: zlib or the filters may or may not notice */
        size_t off = pc.off[1], len = pc.len[1];
        memcpy(c, png, pn);
        c[off + 8 + (k == 0 ? 0 : k == 1 ? 1 : len / (size_t)k)] ^= 0xA5;
        png_fix_crc(c, off, (uint32_t)len);
        CASE("PNG with IDAT data damaged (%d), CRC fixed", k) { want_stable_outcome(CT_PNG, c, pn); }
    }
    CASE("PNG whose IDAT claims 2^31-1 bytes") {
        memcpy(c, png, pn);
        uint8_t *l = c + pc.off[1];
        l[0] = 0x7F, l[1] = l[2] = l[3] = 0xFF;
        hc_resp r = xreq("POST", CAM, CT_PNG, c, pn);
        want_error(&r, 400, "BAD_IMAGE", NULL);
        hc_free(&r);
    }
    CASE("PNG without its IDAT chunks") {
        buf b = {0};
        bput(&b, png, 8);
        for (int k = 0; k < pc.n; k++)
            if (strcmp(pc.type[k], "IDAT")) bput(&b, png + pc.off[k], 12 + pc.len[k]);
        hc_resp r = xreq("POST", CAM, CT_PNG, b.p, b.n);
        want_error(&r, 400, "BAD_IMAGE", NULL);
        hc_free(&r);
        free(b.p);
    }
    CASE("PNG with a second IHDR and an unknown critical chunk") {
        for (int v = 0; v < 2; v++) {
            buf b = {0};
            bput(&b, png, 8 + 25);
            if (v == 0) bput(&b, png + 8, 25);
            else chunk(&b, "ZZZZ", (const uint8_t *)"data", 4);
            bput(&b, png + 33, pn - 33);
            hc_resp r = xreq("POST", CAM, CT_PNG, b.p, b.n);
            want_error(&r, 400, "BAD_IMAGE", NULL);
            hc_free(&r);
            free(b.p);
        }
    }
    CASE("PNG with an ancillary chunk with a bad CRC, and one of 2^31-1 bytes") {
        for (int v = 0; v < 2; v++) {
            buf b = {0};
            bput(&b, png, 33);
            size_t at = b.n;
            chunk(&b, "tEXt", (const uint8_t *)"Comment\0hello", 13);
            if (v == 0) b.p[b.n - 1] ^= 1;
            else b.p[at] = 0x7F, b.p[at + 1] = b.p[at + 2] = b.p[at + 3] = 0xFF;
            bput(&b, png + 33, pn - 33);
            want_stable_outcome(CT_PNG, b.p, b.n);
            free(b.p);
        }
    }
    free(c);

    /* empty bodies: Content-Length 0 and an empty chunked body, every type */
    static const char *const types[] = {"image/jpeg", "image/png", "application/json",
                                        "multipart/form-data; boundary=hstl0"};
    for (int t = 0; t < 4; t++) {
        char h[160];
        snprintf(h, sizeof h, "Content-Type: %s\r\n", types[t]);
        CASE("zero-length body (Content-Length: 0) as %s", types[t]) {
            hc_resp r = xreq("POST", CAM, h, "", 0);
            want_error(&r, 400, "BAD_REQUEST", NULL);
            hc_free(&r);
        }
        CASE("zero-length chunked body as %s", types[t]) {
            char req[400];
            int n = snprintf(req, sizeof req, "POST " CAM " HTTP/1.1\r\nHost: x\r\n%sTransfer-Encoding: chunked\r\n"
                             "Connection: close\r\n\r\n0\r\n\r\n", h);
            hc_resp r = xraw(req, (size_t)n, false, NULL);
            want_error(&r, 400, "BAD_REQUEST", NULL);   /* as with Content-Length: 0 */
            hc_free(&r);
        }
    }

    static const size_t sizes[] = {1, 2, 7, 64, 1000, 65536, 1 << 20};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int magic = 0; magic < 3; magic++) random_cases(sizes[si], magic);
    free(jpg);
    free(png);
    batch_end();
}

/* ---- 3. JSON ---------------------------------------------------------------------- */

static uint8_t *g_tiny;       /* an 8x8 PNG */
static size_t g_tiny_len;
static char *g_tiny_b64;

static void json_case(const char *what, const char *body, size_t len, int status, const char *code) {
    CASE("JSON %s", what) {
        hc_resp r = xreq("POST", CAM, CT_JSON, body, len);
        want_error(&r, status, code, NULL);
        hc_free(&r);
    }
}

static void batch_json(void) {
    batch_begin("JSON bodies");
    static const char *const not_object[] = {"[]", "[1,2]", "\"str\"", "42", "-1e999", "null", "true", "false",
                                             "   ", "\"image\"", "[{\"image\":\"iVBORw0KGgo=\"}]", "{", "}",
                                             "{\"image\"}", "{\"image\":}", "{image:\"x\"}", "{'image':'x'}",
                                             "{\"image\":\"x\",}", "\xef\xbb\xbf{}", "{\"threshold\": NaN}"};
    for (size_t i = 0; i < sizeof not_object / sizeof not_object[0]; i++) {
        char what[80];
        snprintf(what, sizeof what, "not an object: %.40s", not_object[i]);
        json_case(what, not_object[i], strlen(not_object[i]), 400, "BAD_REQUEST");
    }
    static const char *const not_string[] = {"123", "null", "true", "[]", "[\"iVBORw0KGgo=\"]", "{}",
                                             "{\"image\":\"iVBORw0KGgo=\"}", "\"\"", "1e999"};
    for (size_t i = 0; i < sizeof not_string / sizeof not_string[0]; i++) {
        char body[200], what[80];
        snprintf(body, sizeof body, "{\"image\":%s}", not_string[i]);
        snprintf(what, sizeof what, "image is %s", not_string[i]);
        json_case(what, body, strlen(body), 400, "BAD_REQUEST");
    }
    static const char *const bad_b64[] = {"@@@@", "a", "abcde", "ab=c", "=abc", "abc===", "iVBORw0KGgo=!",
                                          "iVBO Rw0K\\u0000Ggo=", "\\u00e9\\u00e9\\u00e9\\u00e9",
                                          "data:image/png;base64,@@", "iVBORw0KGgo=iVBO"};
    for (size_t i = 0; i < sizeof bad_b64 / sizeof bad_b64[0]; i++) {
        char body[200], what[80];
        snprintf(body, sizeof body, "{\"image\":\"%s\"}", bad_b64[i]);
        snprintf(what, sizeof what, "invalid base64 '%s'", bad_b64[i]);
        json_case(what, body, strlen(body), 400, "BAD_REQUEST");
    }
    static const char *const missing[] = {"{}", "{\"top_k\":1}", "{\"Image\":\"iVBORw0KGgo=\"}",
                                          "{\"images\":\"iVBORw0KGgo=\"}", "{\"\":\"iVBORw0KGgo=\"}"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        char what[80];
        snprintf(what, sizeof what, "without image: %s", missing[i]);
        /* unknown members are refused as parameters first */
        bool unknown = strstr(missing[i], "Image") || strstr(missing[i], "images") || strstr(missing[i], "\"\"");
        json_case(what, missing[i], strlen(missing[i]), 400, unknown ? "BAD_PARAMETER" : "BAD_REQUEST");
    }
    /* 100 000 levels of nesting, closed and unclosed, at the top and inside */
    enum { DEPTH = 100000 };
    for (int v = 0; v < 6; v++) {
        buf b = {0};
        static const char *const what[6] = {"[[[... 100000 deep, closed", "[[[... 100000 deep, unclosed",
                                            "{\"a\":{\"a\":... 100000 deep, closed", "{\"a\":... unclosed",
                                            "image is [[[... 100000 deep", "a parameter is {\"a\":... 100000 deep"};
        if (v == 0 || v == 1) { brep(&b, "[", DEPTH); if (v == 0) brep(&b, "]", DEPTH); }
        if (v == 2 || v == 3) { brep(&b, "{\"a\":", DEPTH); bstr(&b, "1"); if (v == 2) brep(&b, "}", DEPTH); }
        if (v == 4) { bstr(&b, "{\"image\":"); brep(&b, "[", DEPTH); brep(&b, "]", DEPTH); bstr(&b, "}"); }
        if (v == 5) {
            bfmt(&b, "{\"image\":\"%s\",\"top_k\":", g_tiny_b64);
            brep(&b, "{\"a\":", DEPTH); bstr(&b, "1"); brep(&b, "}", DEPTH); bstr(&b, "}");
        }
        double secs;
        CASE("JSON %s", what[v]) {
            hc_resp r = xreq_t("POST", CAM, CT_JSON, b.p, b.n, &secs);
            want_error(&r, 400, "BAD_REQUEST", NULL);
            CHECK(secs < 5, "%.2f s", secs);
            hc_free(&r);
        }
        free(b.p);
    }
    /* huge strings */
    {
        buf b = {0};
        bstr(&b, "{\"image\":\"");
        brep(&b, "AAAAAAAAAAAAAAAA", 15 << 16);   /* 15 MB of valid base64: zeros */
        bstr(&b, "\"}");
        json_case("image is 15 MB of base64 zeros", (char *)b.p, b.n, 415, "UNSUPPORTED_IMAGE_FORMAT");
        memset(b.p + 10, '!', b.n - 12);
        json_case("image is 15 MB of '!'", (char *)b.p, b.n, 400, "BAD_REQUEST");
        b.n = 0;
        bstr(&b, "{\"image\":\"");
        brep(&b, "AAAAAAAAAAAAAAAA", 17 << 16);   /* past the 16 MB body limit */
        bstr(&b, "\"}");
        json_case("body of 17 MB", (char *)b.p, b.n, 413, "PAYLOAD_TOO_LARGE");
        b.n = 0;
        bfmt(&b, "{\"image\":\"%s\",\"colormap\":\"", g_tiny_b64);
        brep(&b, "jetjetjetjetjetjet", 60000);
        bstr(&b, "\"}");
        json_case("1 MB parameter string", (char *)b.p, b.n, 400, "BAD_PARAMETER");
        b.n = 0;
        bfmt(&b, "{\"image\":\"%s\",\"", g_tiny_b64);
        brep(&b, "keykeykeykeykeykey", 60000);
        bstr(&b, "\":1}");
        json_case("1 MB member name", (char *)b.p, b.n, 400, "BAD_PARAMETER");
        b.n = 0;
        bfmt(&b, "{\"image\":\"%s\"", g_tiny_b64);
        for (int i = 0; i < 100000; i++) bfmt(&b, ",\"k%d\":%d", i, i);
        bstr(&b, "}");
        json_case("100 000 members", (char *)b.p, b.n, 400, "BAD_PARAMETER");
        free(b.p);
    }
    /* duplicate keys: which one counts would be the parser's whim */
    {
        char body[1024];
        snprintf(body, sizeof body, "{\"image\":\"%s\",\"image\":\"%s\"}", g_tiny_b64, g_tiny_b64);
        json_case("image twice", body, strlen(body), 400, "BAD_REQUEST");
        snprintf(body, sizeof body, "{\"image\":\"%s\",\"top_k\":1,\"top_k\":2}", g_tiny_b64);
        json_case("top_k twice", body, strlen(body), 400, "BAD_PARAMETER");
        snprintf(body, sizeof body, "{\"threshold\":0.5,\"image\":\"%s\",\"threshold\":0.5}", g_tiny_b64);
        json_case("threshold twice (same value)", body, strlen(body), 400, "BAD_PARAMETER");
        snprintf(body, sizeof body, "{\"image\":\"%s\"} {\"image\":\"%s\"}", g_tiny_b64, g_tiny_b64);
        json_case("two objects in a row", body, strlen(body), 400, "BAD_REQUEST");
        snprintf(body, sizeof body, "{\"image\":\"%s\"}garbage", g_tiny_b64);
        json_case("trailing garbage after the object", body, strlen(body), 400, "BAD_REQUEST");
        snprintf(body, sizeof body, "{\"image\":\"%s\"}\r\n\t ", g_tiny_b64);
        CASE("JSON with trailing whitespace is fine") {
            hc_resp r = xreq("POST", CAM, CT_JSON, body, strlen(body));
            answer a;
            want_answer(&r, &a);
            hc_free(&r);
        }
        /* a NUL inside the image string: the bytes after it must not be ignored silently */
        int n = snprintf(body, sizeof body, "{\"image\":\"%s", g_tiny_b64);
        memcpy(body + n, "\0AAAA\"}", 7);
        json_case("image string with a raw NUL inside", body, (size_t)n + 7, 400, "BAD_REQUEST");
        n = snprintf(body, sizeof body, "{\"image\":\"%s\\u0000AAAA\"}", g_tiny_b64);
        json_case("image string with \\u0000 inside", body, (size_t)n, 400, "BAD_REQUEST");
    }
    batch_end();
}

/* ---- 4. multipart ------------------------------------------------------------------- */

static void mp_case(const char *what, const char *ct, const char *body, size_t len, int status, const char *code,
                    const char *needle) {
    CASE("multipart: %s", what) {
        char h[300];
        snprintf(h, sizeof h, "Content-Type: %s\r\n", ct);
        hc_resp r = xreq("POST", CAM, h, body, len);
        want_error(&r, status, code, needle);
        hc_free(&r);
    }
}

static void batch_multipart(void) {
    batch_begin("multipart bodies");
    size_t n;
    char *ok = mp_body(g_tiny, g_tiny_len, NULL, &n);
    CASE("multipart: the well-formed reference body works") {
        hc_resp r = xreq("POST", CAM, CT_MP, ok, n);
        answer a;
        want_answer(&r, &a);
        hc_free(&r);
    }
    mp_case("no boundary", "multipart/form-data", ok, n, 400, "BAD_REQUEST", NULL);
    mp_case("empty boundary", "multipart/form-data; boundary=", ok, n, 400, "BAD_REQUEST", NULL);
    mp_case("empty quoted boundary", "multipart/form-data; boundary=\"\"", ok, n, 400, "BAD_REQUEST", NULL);
    mp_case("another boundary than the body's", "multipart/form-data; boundary=other", ok, n, 400, "BAD_REQUEST", NULL);
    mp_case("boundary of 300 characters",
            "multipart/form-data; boundary=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            ok, n, 400, "BAD_REQUEST", NULL);
    /* cut short: in the image, in the part headers, before the closing boundary */
    CASE("multipart: without the CRLF after the closing delimiter (optional): 200") {
        hc_resp r = xreq("POST", CAM, CT_MP, ok, n - 2);
        answer a;
        want_answer(&r, &a);
        hc_free(&r);
    }
    size_t cuts[] = {n - 3, n - 9, n - 13, n - 40, 60, 20, 5};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char what[80];
        snprintf(what, sizeof what, "unterminated (cut to %zu of %zu bytes)", cuts[i], n);
        mp_case(what, "multipart/form-data; boundary=hstl0", ok, cuts[i], 400, "BAD_REQUEST", NULL);
    }
    {
        buf b = {0};
        bstr(&b, "--hstl0\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x\"\r\n"
                 "Content-Type: image/png");   /* the part's headers never end */
        mp_case("part headers never end", "multipart/form-data; boundary=hstl0", (char *)b.p, b.n, 400, "BAD_REQUEST", NULL);
        free(b.p);
    }
    static const char *const noimg[] = {"top_k", "3", NULL};
    char *body = mp_body(NULL, 0, noimg, &n);
    mp_case("no image field, a parameter only", "multipart/form-data; boundary=hstl0", body, n, 400, "BAD_REQUEST", "image");
    free(body);
    body = mp_body(NULL, 0, NULL, &n);
    mp_case("no fields at all", "multipart/form-data; boundary=hstl0", body, n, 400, "BAD_REQUEST", "image");
    free(body);
    {
        buf b = {0};
        bstr(&b, "--hstl0\r\nContent-Disposition: form-data; name=\"Image\"; filename=\"x\"\r\n\r\n");
        bput(&b, g_tiny, g_tiny_len);
        bstr(&b, "\r\n--hstl0--\r\n");
        mp_case("the file field is 'Image'", "multipart/form-data; boundary=hstl0", (char *)b.p, b.n, 400, "BAD_REQUEST", "image");
        b.n = 0;
        for (int k = 0; k < 2; k++) {
            bstr(&b, "--hstl0\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x\"\r\n\r\n");
            bput(&b, g_tiny, g_tiny_len);
            bstr(&b, "\r\n");
        }
        bstr(&b, "--hstl0--\r\n");
        mp_case("two image fields", "multipart/form-data; boundary=hstl0", (char *)b.p, b.n, 400, "BAD_REQUEST", "image");
        b.n = 0;
        bstr(&b, "--hstl0\r\nContent-Disposition: form-data; filename=\"x\"\r\n\r\n");
        bput(&b, g_tiny, g_tiny_len);
        bstr(&b, "\r\n--hstl0--\r\n");
        mp_case("a file part without a name", "multipart/form-data; boundary=hstl0", (char *)b.p, b.n, 400, "BAD_REQUEST", NULL);
        free(b.p);
    }
    {
        static const char *const twice[] = {"top_k", "3", "top_k", "4", NULL};
        body = mp_body(g_tiny, g_tiny_len, twice, &n);
        mp_case("a parameter field twice", "multipart/form-data; boundary=hstl0", body, n, 400, "BAD_PARAMETER", "top_k");
        free(body);
        char longv[300];
        memset(longv, '1', sizeof longv - 1);
        longv[sizeof longv - 1] = 0;
        const char *const lf[] = {"threshold", longv, NULL};
        body = mp_body(g_tiny, g_tiny_len, lf, &n);
        mp_case("a field value of 299 bytes", "multipart/form-data; boundary=hstl0", body, n, 400, "BAD_PARAMETER", "threshold");
        free(body);
        const char *const lk[] = {"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", "1", NULL};
        body = mp_body(g_tiny, g_tiny_len, lk, &n);
        mp_case("a field name of 72 bytes", "multipart/form-data; boundary=hstl0", body, n, 400, "BAD_PARAMETER", NULL);
        free(body);
        const char *many[64];
        char names[30][16];
        for (int i = 0; i < 30; i++) {
            snprintf(names[i], sizeof names[i], "f%d", i);
            many[2 * i] = names[i];
            many[2 * i + 1] = "1";
        }
        many[60] = NULL;
        body = mp_body(g_tiny, g_tiny_len, many, &n);
        mp_case("30 fields", "multipart/form-data; boundary=hstl0", body, n, 400, "BAD_REQUEST", NULL);
        free(body);
    }
    free(ok);
    batch_end();
}

/* ---- 5. parameters, in the query string, JSON and multipart ----------------------------- */

static void url_encode(const char *v, char *out, size_t len) {
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)v; *p && k + 4 < len; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
            out[k++] = (char)*p;
        else k += (size_t)snprintf(out + k, len - k, "%%%02X", *p);
    }
    out[k] = 0;
}

/* one bad value of one parameter in one channel: 400 BAD_PARAMETER naming it */
static void param_case(const char *name, const char *value, int channel, const char *json_literal) {
    static const char *const ch[3] = {"query", "JSON", "multipart"};
    char shown[48];
    snprintf(shown, sizeof shown, "%.40s%s", json_literal ? json_literal : value,
             strlen(json_literal ? json_literal : value) > 40 ? "..." : "");
    CASE("%s=%s in the %s", name, shown, ch[channel]) {
        hc_resp r;
        if (channel == 0) {
            char enc[2048], url[2200];
            url_encode(value, enc, sizeof enc);
            snprintf(url, sizeof url, CAM "?%s=%s", name, enc);
            r = xreq("POST", url, CT_PNG, g_tiny, g_tiny_len);
        } else if (channel == 1) {
            buf b = {0};
            bfmt(&b, "{\"image\":\"%s\",\"%s\":", g_tiny_b64, name);
            if (json_literal) bstr(&b, json_literal);
            else { bstr(&b, "\""); bstr(&b, value); bstr(&b, "\""); }
            bstr(&b, "}");
            r = xreq("POST", CAM, CT_JSON, b.p, b.n);
            free(b.p);
        } else {
            const char *const f[] = {name, value, NULL};
            size_t n;
            char *body = mp_body(g_tiny, g_tiny_len, f, &n);
            r = xreq("POST", CAM, CT_MP, body, n);
            free(body);
        }
        want_error(&r, 400, "BAD_PARAMETER", name);
        hc_free(&r);
    }
}

static void batch_params(void) {
    batch_begin("parameters");
    char longnum[301];
    memset(longnum, '9', 300);
    longnum[300] = 0;
    char longdec[302] = "0.";
    memset(longdec + 2, '1', 299);
    longdec[301] = 0;
    /* good in every channel first: the reference the bad ones differ from */
    CASE("every parameter at a valid value in the query") {
        hc_resp r = xreq("POST", CAM "?top_k=3&cam_top_k=2&class=1&threshold=0.3&alpha=0.25&min_area=0.01&max_side=64"
                         "&colormap=viridis&boxes=all&overlay=false&heatmap=true", CT_PNG, g_tiny, g_tiny_len);
        CHECK(r.status == 200, "%d %.300s", r.status, r.body);
        hc_free(&r);
    }
    static const char *const common[] = {"", "abc", "nan", "NaN", "inf", "-inf", "infinity", "1e999", "-1e999",
                                         "1 2", "0,5", "0.5abc", "%zz", "\x01", "1\x7f", "\xc3\xa9", NULL};
    static const struct { const char *name; const char *bad[8]; } numeric[] = {
        {"top_k", {"-1", "101", "1.5", "0x10", "99999999999999999999", "1e2", NULL}},
        {"cam_top_k", {"-1", "17", "2.0", "1e1", NULL}},
        {"class", {"-1", "-2", "100000", "99999999", "1.0", "2147483648", NULL}},
        {"threshold", {"-0.0001", "1.0001", "2", "-1", "1e-999x", NULL}},
        {"alpha", {"-0.5", "1.5", "100", NULL}},
        {"min_area", {"-0.1", "1.1", NULL}},
        {"max_side", {"15", "0", "-16", "4097", "100000", "64.5", NULL}},
    };
    for (size_t p = 0; p < sizeof numeric / sizeof numeric[0]; p++) {
        for (int ch = 0; ch < 3; ch++) {
            for (int i = 0; common[i]; i++) param_case(numeric[p].name, common[i], ch, NULL);
            for (int i = 0; numeric[p].bad[i]; i++) param_case(numeric[p].name, numeric[p].bad[i], ch, NULL);
            param_case(numeric[p].name, longnum, ch, NULL);
            param_case(numeric[p].name, longdec, ch, NULL);
        }
        /* JSON values that are not strings */
        static const char *const lits[] = {"null", "[]", "[0.5]", "{}", "{\"v\":1}", "true", "-1e999", "1e999",
                                           "-1", "123456789012345678901234567890"};
        for (size_t i = 0; i < sizeof lits / sizeof lits[0]; i++) param_case(numeric[p].name, "", 1, lits[i]);
    }
    static const struct { const char *name; const char *bad[10]; } enums[] = {
        {"colormap", {"pink", "jet ", " jet", "jetx", "je", "rainbow", "0", NULL}},
        {"boxes", {"some", "LARGEST", "all,largest", "none", "1", NULL}},
        {"overlay", {"maybe", "2", "truee", "-1", "y", "tru", NULL}},
        {"heatmap", {"maybe", "2", "truee", "nope", NULL}},
    };
    for (size_t p = 0; p < sizeof enums / sizeof enums[0]; p++) {
        for (int ch = 0; ch < 3; ch++) {
            for (int i = 0; enums[p].bad[i]; i++) param_case(enums[p].name, enums[p].bad[i], ch, NULL);
            param_case(enums[p].name, "", ch, NULL);
            param_case(enums[p].name, longnum, ch, NULL);
            param_case(enums[p].name, "\x01\x02", ch, NULL);
        }
        static const char *const lits[] = {"null", "[]", "{}", "7"};
        for (size_t i = 0; i < sizeof lits / sizeof lits[0]; i++) param_case(enums[p].name, "", 1, lits[i]);
    }
    /* a class that is a valid integer but not one of the model's classes */
    CASE("class=1001 (past the model's 1001 outputs) in the query") {
        hc_resp r = xreq("POST", CAM "?class=1001", CT_PNG, g_tiny, g_tiny_len);
        want_error(&r, 400, "BAD_PARAMETER", "class");
        hc_free(&r);
    }
    /* unknown names, odd keys */
    static const char *const unknown[] = {"foo=1", "=1", "%00=1", "top_k%00=1", "TOP_K=1", "top-k=1", "top_k[]=1",
                                          "image=1", "threshold%3d0.5=1"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        CASE("query %s: unknown parameter", unknown[i]) {
            char url[256];
            snprintf(url, sizeof url, CAM "?%s", unknown[i]);
            hc_resp r = xreq("POST", url, CT_PNG, g_tiny, g_tiny_len);
            want_error(&r, 400, "BAD_PARAMETER", "parameter");
            hc_free(&r);
        }
    static const char *const twice[] = {"top_k=1&top_k=1", "top_k=1&top_k=2", "heatmap&heatmap=false",
                                        "threshold=0.5&alpha=0.5&threshold=0.5", "colormap=jet&colormap=gray"};
    for (size_t i = 0; i < sizeof twice / sizeof twice[0]; i++)
        CASE("query %s: a parameter given twice", twice[i]) {
            char url[256];
            snprintf(url, sizeof url, CAM "?%s", twice[i]);
            hc_resp r = xreq("POST", url, CT_PNG, g_tiny, g_tiny_len);
            want_error(&r, 400, "BAD_PARAMETER", "twice");
            hc_free(&r);
        }
    /* the same name in the query string and in the body: refused, whichever
     * channel the body is, even with equal values; other names mix freely */
    for (int ch = 1; ch < 3; ch++)
        for (int same = 0; same < 2; same++)
            CASE("threshold in the query and in the %s body%s", ch == 1 ? "JSON" : "multipart",
                 same ? ", same value" : "") {
                const char *v = same ? "0.3" : "0.6";
                hc_resp r;
                if (ch == 1) {
                    buf b = {0};
                    bfmt(&b, "{\"image\":\"%s\",\"threshold\":%s}", g_tiny_b64, v);
                    r = xreq("POST", CAM "?threshold=0.3", CT_JSON, b.p, b.n);
                    free(b.p);
                } else {
                    const char *const f[] = {"threshold", v, NULL};
                    size_t n;
                    char *body = mp_body(g_tiny, g_tiny_len, f, &n);
                    r = xreq("POST", CAM "?threshold=0.3", CT_MP, body, n);
                    free(body);
                }
                want_error(&r, 400, "BAD_PARAMETER", "twice");
                hc_free(&r);
            }
    CASE("top_k in the query, threshold in the JSON body: both apply") {
        buf b = {0};
        bfmt(&b, "{\"image\":\"%s\",\"threshold\":0.3}", g_tiny_b64);
        hc_resp r = xreq("POST", CAM "?top_k=2", CT_JSON, b.p, b.n);
        free(b.p);
        CHECK(r.status == 200, "status %d: %.200s", r.status, r.body ? r.body : "");
        CHECK(r.body && strstr(r.body, "\"threshold\":0.3"), "threshold 0.3 in params: %.300s", r.body ? r.body : "");
        hc_free(&r);
    }
    CASE("query with a bad value after a good one") {
        hc_resp r = xreq("POST", CAM "?top_k=1&top_k=abc", CT_PNG, g_tiny, g_tiny_len);
        want_error(&r, 400, "BAD_PARAMETER", "top_k");
        hc_free(&r);
    }
    batch_end();
}

/* ---- 6. path traversal -------------------------------------------------------------- */

static void batch_traversal(void) {
    batch_begin("path traversal");
    char abs_mk[PATH_MAX + 16], mk[PATH_MAX];
    if (!realpath("Makefile", mk)) mk[0] = 0;
    snprintf(abs_mk, sizeof abs_mk, "/static/%s", mk);
    char deep[400] = "/static/";
    for (int i = 0; i < 40; i++) strcat(deep, "../");
    strcat(deep, "etc/passwd");
    /* paths whose answer may be index.html (the part after a NUL or '?' is
     * not part of the path); every other one must be 400 or 404 */
    static const char *const to_index[] = {"/static/index.html%00../../Makefile", "/static/index.html?f=../../Makefile",
                                           "/static/index.html#/../../Makefile",
                                           /* out through the symlink to the parent and back in: inside */
                                           "/static/up/static/index.html"};
    const char *paths[] = {
        "/static/../Makefile", "/static/../../etc/passwd", "/static/%2e%2e/Makefile", "/static/%2E%2E/Makefile",
        "/static/%2e%2E/%2e%2e/etc/passwd", "/static/..%2fMakefile", "/static/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/static/%2e%2e%2f%2e%2e%2fMakefile", "/static/%2fetc%2fpasswd", "/static//etc/passwd",
        "/static/%252e%252e/Makefile", "/static/%252e%252e%252fMakefile", "/static/%25%32%65%25%32%65/Makefile",
        "/static/..\\Makefile", "/static/..%5cMakefile", "/static/..%5C..%5CMakefile", "/static/%5c..%5c..%5cetc%5cpasswd",
        "/static/%2e%2e%5c%2e%2e%5cMakefile", "/static/%c0%ae%c0%ae/Makefile", "/static/%c0%ae%c0%ae%c0%afMakefile",
        "/static/%e0%80%ae%e0%80%ae/Makefile", "/static/..%c0%afMakefile", "/static/..%c1%9cMakefile",
        "/static/%c0%2e%c0%2e/Makefile", "/static/%u002e%u002e/Makefile", "/static/%uff0e%uff0e/Makefile",
        "/static/%ef%bc%8e%ef%bc%8e/Makefile", "/static/%00../Makefile", "/static/..%00/Makefile",
        "/static/%00", "/etc/passwd", "//etc/passwd", "/static/./../Makefile", "/static/.../Makefile",
        "/static/....//Makefile", "/static/%2e/index.html", "/static/.%2e/Makefile", "/static/%2e./Makefile",
        "/static/passwd", "/static/mk", "/static/root/etc/passwd", "/static/root/", "/static/up/secret.txt",
        "/static/up%2fsecret.txt", "/static/up/", "/static/up", "/static/up/static/../secret.txt", "/../Makefile",
        "/%2e%2e/Makefile", "/static/../static/../Makefile", "/static/index.html/../../Makefile",
        "/static/file:///etc/passwd", "/static/..;/Makefile", "/static/;/../Makefile", abs_mk, deep,
        "/static/\\\\localhost\\etc\\passwd", "/static/%5c%5clocalhost%5cetc%5cpasswd", "/static/C:%5cetc%5cpasswd",
        "/static/..%252f..%252fMakefile", "/v1/models/..%2f..%2f..%2fetc%2fpasswd", "/v1/models/%2e%2e",
        "/v1/models/../../../etc/passwd", "/static/.git/config", "/static/.htaccess", "/static/app.js/",
        "/static/index.html/", "/static/index.html%2f", "/static/index.html%2f..%2f..%2fMakefile",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0] + sizeof to_index / sizeof to_index[0]; i++) {
        bool idx = i >= sizeof paths / sizeof paths[0];
        const char *path = idx ? to_index[i - sizeof paths / sizeof paths[0]] : paths[i];
        for (int m = 0; m < 2; m++)
            CASE("%s %.200s", m ? "HEAD" : "GET", path) {
                hc_resp r = xreq(m ? "HEAD" : "GET", path, NULL, NULL, 0);
                const char *b = r.body ? r.body : "";
                for (int k = 0; k < g_n_leak; k++)
                    CHECK(!strstr(b, g_leak_lines[k]), "the body holds a line of a file outside static/: %.80s",
                          g_leak_lines[k]);
                CHECK(!strstr(b, g_secret) && !strstr(b, "root:x:0:0") && !strstr(b, "$(wildcard"), "leak: %.200s", b);
                char v[32];
                if (idx && r.status == 200) {
                    /* GET: the bytes of static/index.html; HEAD: its length */
                    if (m) CHECK(hc_header(&r, "Content-Length", v, sizeof v) && (size_t)atoll(v) == g_index_len,
                                 "HEAD Content-Length %s, index.html has %zu bytes", v, g_index_len);
                    else CHECK(r.body_len == g_index_len && !memcmp(r.body, g_index_html, g_index_len),
                               "a 200 must be static/index.html");
                } else if (!m) {
                    const char *code = want_4xx(&r);
                    CHECK(r.status == 400 || r.status == 404, "status %d %s", r.status, code);
                } else {
                    CHECK(r.status == 400 || r.status == 404, "HEAD status %d", r.status);
                }
                hc_free(&r);
            }
    }
    /* the same paths in the request target's absolute form */
    static const char *const absf[] = {"http://127.0.0.1/static/../Makefile", "http://127.0.0.1/static/%2e%2e/%2e%2e/etc/passwd",
                                       "http://127.0.0.1/../../etc/passwd", "http:/../../etc/passwd", "../../etc/passwd",
                                       "*", "static/../Makefile"};
    for (size_t i = 0; i < sizeof absf / sizeof absf[0]; i++)
        CASE("request target %s", absf[i]) {
            char req[300];
            int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", absf[i]);
            hc_resp r = xraw(req, (size_t)n, false, NULL);
            const char *b = r.body ? r.body : "";
            for (int k = 0; k < g_n_leak; k++) CHECK(!strstr(b, g_leak_lines[k]), "leak of %.60s", g_leak_lines[k]);
            CHECK(r.status == 0 || (r.status >= 400 && r.status < 500), "status %d", r.status);
            hc_free(&r);
        }
    batch_end();
}

/* ---- 7. headers and framing ---------------------------------------------------------- */

/* an answer that is a 4xx, or the connection closed without one */
static void want_4xx_or_close(const hc_resp *r, double secs) {
    CHECK(r->status == 0 || (r->status >= 400 && r->status < 500), "status %d: %.200s", r->status,
          r->body ? r->body : "");
    CHECK(secs < HANG_S, "no answer and no close for %.1f s", secs);
}

static buf g_framing_seen;   /* what each framing case got, printed once */

static void raw_case(const char *what, const void *req, size_t n, bool allow_ok) {
    CASE("%s", what) {
        double secs;
        hc_resp r = xraw(req, n, false, &secs);
        bfmt(&g_framing_seen, "%s%s: %d", g_framing_seen.n ? ", " : "", what, r.status);
        if (allow_ok && r.status >= 200 && r.status < 300) CHECK(secs < HANG_S, "%.1f s", secs);
        else want_4xx_or_close(&r, secs);
        hc_free(&r);
    }
}

static void batch_headers(void) {
    batch_begin("headers and framing");
    buf b = {0};
    static const size_t big[] = {40 << 10, 100 << 10, 1 << 20};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        char what[96];
        b.n = 0;
        bstr(&b, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
        for (size_t k = 0; k < big[i]; k++) bput(&b, "A", 1);
        bstr(&b, "\r\nConnection: close\r\n\r\n");
        snprintf(what, sizeof what, "a header line of %zu KB", big[i] >> 10);
        raw_case(what, b.p, b.n, false);
        b.n = 0;
        bstr(&b, "GET /static/");
        for (size_t k = 0; k < big[i]; k++) bput(&b, "a", 1);
        bstr(&b, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        snprintf(what, sizeof what, "a URL of %zu KB", big[i] >> 10);
        raw_case(what, b.p, b.n, false);
        b.n = 0;
        bstr(&b, "POST " CAM "?top_k=1");
        for (size_t k = 0; k < big[i] / 8; k++) bput(&b, "&top_k=1", 8);
        bstr(&b, " HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        snprintf(what, sizeof what, "a query string of %zu KB", big[i] >> 10);
        raw_case(what, b.p, b.n, false);
    }
    static const int counts[] = {1000, 10000};
    for (size_t i = 0; i < 2; i++) {
        b.n = 0;
        bstr(&b, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
        for (int k = 0; k < counts[i]; k++) bfmt(&b, "X-H%d: v\r\n", k);
        bstr(&b, "Connection: close\r\n\r\n");
        char what[64];
        snprintf(what, sizeof what, "%d headers", counts[i]);
        raw_case(what, b.p, b.n, false);
    }
    b.n = 0;
    bstr(&b, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for (int k = 0; k < 3000; k++) bstr(&b, "X-Same: v\r\n");
    bstr(&b, "Connection: close\r\n\r\n");
    raw_case("3000 copies of one header", b.p, b.n, false);
    b.n = 0;
    brep(&b, "A", 10000);
    bstr(&b, " / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    raw_case("a method of 10 KB", b.p, b.n, false);
    free(b.p);
    static const struct { const char *what, *req; bool ok; } framing[] = {
        {"garbage request line", "HELLO\r\n\r\n", false},
        {"no Host in HTTP/1.1", "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", false},
        /* libmicrohttpd cuts the value at the NUL; harmless here */
        {"header without a colon", "GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\nConnection: close\r\n\r\n", false},
        {"NUL in a header", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\nConnection: close\r\n\r\n", true},
        {"space in the URL", "GET /hea lthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false},
        {"control bytes in the URL", "GET /static/\x01\x02 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false},
        {"Content-Length not a number",
         "POST /v1/cam HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: abc\r\nConnection: close\r\n\r\n", false},
        {"Content-Length -1",
         "POST /v1/cam HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: -1\r\nConnection: close\r\n\r\n", false},
        {"Content-Length of 26 digits",
         "POST /v1/cam HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 99999999999999999999999999\r\n"
         "Connection: close\r\n\r\n", false},
        {"chunk size not hex",
         "POST /v1/cam HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
         "zz\r\nabc\r\n0\r\n\r\n", false},
        {"chunk size past 2^64",
         "POST /v1/cam HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
         "10000000000000000\r\nabc", false},
        {"chunk size with 40 hex digits",
         "POST /v1/cam HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
         "0000000000000000000000000000000000000010\r\nabcdefghijklmnop\r\n0\r\n\r\n", false},
        {"Transfer-Encoding gzip with a Content-Length",
         "POST /v1/cam HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n"
         "Connection: close\r\n\r\nabc", false},
        {"Transfer-Encoding gzip, chunked",
         "POST /v1/cam HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: gzip, chunked\r\n"
         "Connection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false},
        {"Transfer-Encoding chunked, gzip",
         "POST /v1/cam HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked, gzip\r\n"
         "Connection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false},
        {"Transfer-Encoding identity on a GET", "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n"
         "Connection: close\r\n\r\n", false},
        {"obs-fold header line", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n folded\r\nConnection: close\r\n\r\n", true},
        {"bare LF line ends", "GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n", true},
        {"HTTP/1.0 without Host", "GET /healthz HTTP/1.0\r\n\r\n", true},
        {"Expect: something else",
         "POST /v1/cam HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 3\r\nExpect: 200-ok\r\n"
         "Connection: close\r\n\r\nabc", false},
    };
    for (size_t i = 0; i < sizeof framing / sizeof framing[0]; i++) {
        size_t n = strlen(framing[i].req);
        if (strstr(framing[i].what, "NUL")) n += strlen(framing[i].req + n + 1) + 1;
        if (!strstr(framing[i].what, "Transfer-Encoding")) {
            raw_case(framing[i].what, framing[i].req, n, framing[i].ok);
            continue;
        }
        CASE("%s: 400 at once", framing[i].what) {   /* ours, not libmicrohttpd's */
            double secs;
            hc_resp r = xraw(framing[i].req, n, false, &secs);
            want_error(&r, 400, "BAD_REQUEST", "Transfer-Encoding");
            CHECK(secs < 5, "%.1f s", secs);
            hc_free(&r);
        }
    }
    CASE("no Host in HTTP/1.1: our 400 with a JSON error (RFC 9112 3.2)") {
        static const char req[] = "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n";
        double secs;
        hc_resp r = xraw(req, sizeof req - 1, false, &secs);
        want_error(&r, 400, "BAD_REQUEST", "Host");
        hc_free(&r);
    }
    printf("  statuses (0: closed without an answer): %s\n", g_framing_seen.p ? (char *)g_framing_seen.p : "");
    free(g_framing_seen.p);
    /* request smuggling: two readings of the body's length, and a second
     * request hidden where one reading puts the body.  Keep-alive: the
     * server must answer 400 once and close, never answer the hidden one. */
    static const struct { const char *what, *head, *body; } smuggle[] = {
        {"two different Content-Lengths", "Content-Length: 5\r\nContent-Length: 3\r\n", "hello"},
        {"two equal Content-Lengths", "Content-Length: 5\r\nContent-Length: 5\r\n", "hello"},
        {"Content-Length and chunked", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"},
        {"chunked and Content-Length", "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n", "0\r\n\r\n"},
    };
    for (size_t i = 0; i < sizeof smuggle / sizeof smuggle[0]; i++)
        CASE("smuggling: %s, a request hidden after the body", smuggle[i].what) {
            buf q = {0};
            bfmt(&q, "POST /v1/cam HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n%s\r\n%s", smuggle[i].head,
                 smuggle[i].body);
            bstr(&q, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
            int fd = connect_short();
            CHECK(fd >= 0, "connect");
            hc_send(fd, q.p, q.n);
            free(q.p);
            buf all = {0};
            char chunk_[4096];
            double t0 = hc_now();
            for (ssize_t k; (k = recv(fd, chunk_, sizeof chunk_, 0)) > 0;) bput(&all, chunk_, (size_t)k);
            close(fd);
            double secs = hc_now() - t0;
            int answers = 0;
            for (const char *p = all.p ? (char *)all.p : ""; (p = strstr(p, "HTTP/1.1 ")); p++) answers++;
            hc_resp r = {.status = all.p ? atoi((char *)all.p + 9) : 0};
            char *sep = all.p ? strstr((char *)all.p, "\r\n\r\n") : NULL;
            if (sep) {
                r.head = strndup((char *)all.p, (size_t)(sep - (char *)all.p) + 4);
                r.body = strdup(sep + 4);
            }
            free(all.p);
            note_status(r.status, smuggle[i].what);
            CHECK(secs < 5, "%.1f s until the close", secs);
            CHECK(answers == 1, "%d answers: the hidden request was read", answers);
            want_error(&r, 400, "BAD_REQUEST", "ambiguous");
            hc_free(&r);
        }
    /* a chunk of 2^64-1 bytes announced, then the client stops sending */
    CASE("chunk size 2^64-1, then the client half-closes") {
        const char *req = "POST /v1/cam HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n"
                          "Connection: close\r\n\r\nffffffffffffffff\r\nabc";
        double secs;
        g_shut_wr = true;
        hc_resp r = xraw(req, strlen(req), false, &secs);
        g_shut_wr = false;
        want_4xx_or_close(&r, secs);
        CHECK(secs < 5, "%.1f s to close", secs);
        hc_free(&r);
    }
    /* X-Request-Id is echoed only when it is sane */
    static const char *const ids[] = {"<script>alert(1)</script>", "a b", "x\x01y",
                                      "0123456789012345678901234567890123456789012345678901234567890123456789"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        CASE("X-Request-Id '%.20s...' is not echoed", ids[i]) {
            char h[200], v[128];
            snprintf(h, sizeof h, "X-Request-Id: %s\r\n", ids[i]);
            hc_resp r = xreq("GET", "/healthz", h, NULL, 0);
            CHECK(r.status == 200 || r.status == 400, "status %d", r.status);
            if (r.status == 200)
                CHECK(hc_header(&r, "X-Request-Id", v, sizeof v) && strcmp(v, ids[i]) != 0 && !strchr(v, '<'),
                      "X-Request-Id %s", v);
            hc_free(&r);
        }
    /* a connection that sent a bad request is either closed or still usable */
    CASE("keep-alive after a 400 BAD_PARAMETER and a 404") {
        int fd = connect_short();
        CHECK(fd >= 0, "connect");
        hc_resp r;
        bool got = hc_roundtrip(fd, "POST", CAM "?top_k=abc", CT_PNG, g_tiny, g_tiny_len, &r);
        CHECK(got && r.status == 400, "first answer %d", r.status);
        hc_free(&r);
        got = hc_roundtrip(fd, "GET", "/static/%2e%2e/Makefile", NULL, NULL, 0, &r);
        CHECK(got && (r.status == 400 || r.status == 404), "second answer %d", r.status);
        hc_free(&r);
        got = hc_roundtrip(fd, "GET", "/healthz", NULL, NULL, 0, &r);
        CHECK(got && r.status == 200, "third answer %d", r.status);
        hc_free(&r);
        close(fd);
    }
    batch_end();
}

/* ---- 8. unusual but valid images ------------------------------------------------------ */

static answer g_ref_cat, g_ref_dog;
static bool g_have_refs;

/* 200, a sound answer, and the image size expected */
static void post_answer(const char *ct, const uint8_t *d, size_t n, int w, int h, answer *a) {
    CHECK(d && n, "the test image could not be made");
    hc_resp r = xreq("POST", CAM, ct, d, n);
    want_answer(&r, a);
    hc_free(&r);
    CHECK(a->w == w && a->h == h, "image %dx%d, want %dx%d", a->w, a->h, w, h);
}

/* the same pixels must give the same answer: same classes, scores within 1e-4 */
static void same_answer(const answer *a, const answer *b, const char *what) {
    for (int i = 0; i < a->npred && i < b->npred; i++)
        CHECK(a->idx[i] == b->idx[i] && fabs(a->score[i] - b->score[i]) < 1e-4,
              "%s: prediction %d is %d (%.5f), want %d (%.5f)", what, i, a->idx[i], a->score[i], b->idx[i], b->score[i]);
    CHECK(a->nbox == b->nbox, "%s: %d boxes, want %d", what, a->nbox, b->nbox);
    for (int i = 0; i < a->nbox; i++) CHECK(iou(a->box[i], b->box[i]) > 0.95, "%s: box %d moved", what, i);
}

/* a PNG of cat.png's pixels must give cat.png's answer */
static void png_same_as_cat(const pngspec *s, int w, int h, const char *what) {
    size_t n;
    uint8_t *enc = png_make(s, &n);
    answer a;
    post_answer(CT_PNG, enc, n, w, h, &a);
    free(enc);
    same_answer(&a, &g_ref_cat, what);
}

/* two PNGs of the same picture (freed here) must give the same answer,
 * the first one's left in *a */
static void same_png_answers(uint8_t *enc, size_t n, uint8_t *enc2, size_t n2, int w, int h, const char *what,
                             answer *a) {
    answer b;
    post_answer(CT_PNG, enc, n, w, h, a);
    post_answer(CT_PNG, enc2, n2, w, h, &b);
    free(enc);
    free(enc2);
    same_answer(a, &b, what);
}

static void chunked_case(const uint8_t *img, size_t n, size_t piece) {
    size_t ml;
    char *mp = mp_body(img, n, NULL, &ml);
    CASE("hot_dog.jpg in multipart, sent in chunks of %zu bytes: the reference answer", piece) {
        hc_resp r = xchunked(CAM, CT_MP, (uint8_t *)mp, ml, piece);
        answer a;
        want_answer(&r, &a);
        hc_free(&r);
        same_answer(&a, &g_ref_dog, "chunked multipart");
    }
    free(mp);
}

static void batch_valid(void) {
    batch_begin("unusual but valid images");
    size_t cn, jn;
    uint8_t *catf = photo("cat.png", &cn), *dogf = photo("hot_dog.jpg", &jn);
    int cw = 0, ch = 0, dw = 0, dh = 0;
    uint8_t *cat = catf ? png_read_rgb(catf, cn, &cw, &ch) : NULL;
    uint8_t *dog = dogf ? jpg_read(dogf, jn, TJPF_RGB, &dw, &dh) : NULL;
    CASE("reference answers for cat.png and hot_dog.jpg") {
        CHECK(cat && dog, "decoded the shared photos");
        post_answer(CT_PNG, catf, cn, cw, ch, &g_ref_cat);
        post_answer(CT_JPEG, dogf, jn, dw, dh, &g_ref_dog);
        g_have_refs = true;
    }
    if (!g_have_refs) { batch_end(); return; }
    printf("  references: cat.png %dx%d top-1 %d (%.3f), hot_dog.jpg %dx%d top-1 %d (%.3f)\n", cw, ch,
           g_ref_cat.idx[0], g_ref_cat.score[0], dw, dh, g_ref_dog.idx[0], g_ref_dog.score[0]);
    size_t npx = (size_t)cw * ch;

    /* ---- PNG variants of cat.png: lossless, so the answers must be the reference's */
    uint8_t *tmp = malloc(npx * 8), *tmp2 = malloc(npx * 4);
    size_t n, n2;
    uint8_t *enc, *enc2;
    CASE("16-bit RGB PNG") {
        for (size_t i = 0; i < npx * 3; i++) tmp[2 * i] = tmp[2 * i + 1] = cat[i];   /* v * 257 */
        pngspec s = {.w = cw, .h = ch, .color = PNG_COLOR_TYPE_RGB, .depth = 16, .rows = tmp, .stride = (size_t)cw * 6};
        png_same_as_cat(&s, cw, ch, "16-bit");
    }
    CASE("interlaced (Adam7) RGB PNG") {
        pngspec s = {.w = cw, .h = ch, .color = PNG_COLOR_TYPE_RGB, .depth = 8, .interlace = true, .rows = cat,
                     .stride = (size_t)cw * 3};
        png_same_as_cat(&s, cw, ch, "interlaced");
    }
    CASE("opaque RGBA PNG") {
        for (size_t i = 0; i < npx; i++) memcpy(tmp + 4 * i, cat + 3 * i, 3), tmp[4 * i + 3] = 255;
        pngspec s = {.w = cw, .h = ch, .color = PNG_COLOR_TYPE_RGBA, .depth = 8, .rows = tmp, .stride = (size_t)cw * 4};
        png_same_as_cat(&s, cw, ch, "opaque alpha");
    }
    CASE("16-bit interlaced RGBA PNG, opaque") {
        for (size_t i = 0; i < npx; i++) {
            for (int k = 0; k < 3; k++) tmp[8 * i + 2 * k] = tmp[8 * i + 2 * k + 1] = cat[3 * i + k];
            tmp[8 * i + 6] = tmp[8 * i + 7] = 255;
        }
        pngspec s = {.w = cw, .h = ch, .color = PNG_COLOR_TYPE_RGBA, .depth = 16, .interlace = true, .rows = tmp,
                     .stride = (size_t)cw * 8};
        png_same_as_cat(&s, cw, ch, "16-bit RGBA interlaced");
    }
    CASE("RGBA PNG with varying alpha = the RGB PNG composited on white") {
        for (size_t i = 0; i < npx; i++) {
            unsigned al = 96 + (unsigned)((i % (size_t)cw) * 159 / (size_t)cw);   /* 96..255 left to right */
            memcpy(tmp + 4 * i, cat + 3 * i, 3);
            tmp[4 * i + 3] = (uint8_t)al;
            for (int k = 0; k < 3; k++) tmp2[3 * i + k] = (uint8_t)((cat[3 * i + k] * al + 255 * (255 - al) + 127) / 255);
        }
        pngspec s = {.w = cw, .h = ch, .color = PNG_COLOR_TYPE_RGBA, .depth = 8, .rows = tmp, .stride = (size_t)cw * 4};
        enc = png_make(&s, &n);
        enc2 = png_rgb(tmp2, cw, ch, &n2);
        answer a;
        same_png_answers(enc, n, enc2, n2, cw, ch, "alpha vs composited", &a);
        CHECK(in_top(&g_ref_cat, a.idx[0], 5), "top-1 %d not in the reference top-5", a.idx[0]);
    }
    CASE("palette PNG (252 colours) = the RGB PNG of the same colours") {
        png_color pal[252];
        for (int i = 0; i < 252; i++)
            pal[i] = (png_color){(uint8_t)(i / 42 * 51), (uint8_t)(i / 6 % 7 * 255 / 6), (uint8_t)(i % 6 * 51)};
        for (size_t i = 0; i < npx; i++) {
            int r = (cat[3 * i] + 25) / 51, g = (cat[3 * i + 1] * 6 + 127) / 255, bl = (cat[3 * i + 2] + 25) / 51;
            int k = r * 42 + g * 6 + bl;
            tmp[i] = (uint8_t)k;
            tmp2[3 * i] = pal[k].red, tmp2[3 * i + 1] = pal[k].green, tmp2[3 * i + 2] = pal[k].blue;
        }
        pngspec s = {.w = cw, .h = ch, .color = PNG_COLOR_TYPE_PALETTE, .depth = 8, .rows = tmp, .stride = (size_t)cw,
                     .pal = pal, .npal = 252};
        enc = png_make(&s, &n);
        enc2 = png_rgb(tmp2, cw, ch, &n2);
        answer a;
        same_png_answers(enc, n, enc2, n2, cw, ch, "palette vs RGB", &a);
        CHECK(in_top(&g_ref_cat, a.idx[0], 5), "top-1 %d not in the reference top-5", a.idx[0]);
    }
    CASE("palette PNG with tRNS = composited on white") {
        png_color pal[4] = {{250, 0, 0}, {0, 200, 0}, {0, 0, 220}, {90, 90, 90}};
        uint8_t trns[4] = {255, 128, 0, 40};
        for (size_t i = 0; i < npx; i++) {
            int k = (int)(((i % (size_t)cw) / 16 + (i / (size_t)cw) / 16) % 4);
            tmp[i] = (uint8_t)k;
            for (int c = 0; c < 3; c++) {
                uint8_t v = c == 0 ? pal[k].red : c == 1 ? pal[k].green : pal[k].blue;
                tmp2[3 * i + c] = (uint8_t)((v * trns[k] + 255 * (255 - trns[k]) + 127) / 255);
            }
        }
        pngspec s = {.w = cw, .h = ch, .color = PNG_COLOR_TYPE_PALETTE, .depth = 8, .rows = tmp, .stride = (size_t)cw,
                     .pal = pal, .npal = 4, .trns = trns, .ntrns = 4};
        enc = png_make(&s, &n);
        enc2 = png_rgb(tmp2, cw, ch, &n2);
        answer a;
        same_png_answers(enc, n, enc2, n2, cw, ch, "palette+tRNS vs composited", &a);
    }
    CASE("8-bit gray PNG = the RGB PNG of the same grays") {
        for (size_t i = 0; i < npx; i++) {
            tmp[i] = (uint8_t)((cat[3 * i] * 77 + cat[3 * i + 1] * 150 + cat[3 * i + 2] * 29 + 128) >> 8);
            memset(tmp2 + 3 * i, tmp[i], 3);
        }
        pngspec s = {.w = cw, .h = ch, .color = PNG_COLOR_TYPE_GRAY, .depth = 8, .rows = tmp, .stride = (size_t)cw};
        enc = png_make(&s, &n);
        enc2 = png_rgb(tmp2, cw, ch, &n2);
        answer a;
        same_png_answers(enc, n, enc2, n2, cw, ch, "gray vs RGB", &a);
    }
    CASE("gray+alpha PNG = the gray composited on white") {
        for (size_t i = 0; i < npx; i++) {
            uint8_t g = (uint8_t)((cat[3 * i] * 77 + cat[3 * i + 1] * 150 + cat[3 * i + 2] * 29 + 128) >> 8);
            unsigned al = 255 - (unsigned)((i / (size_t)cw) * 120 / (size_t)ch);
            tmp[2 * i] = g, tmp[2 * i + 1] = (uint8_t)al;
            memset(tmp2 + 3 * i, (g * al + 255 * (255 - al) + 127) / 255, 3);
        }
        pngspec s = {.w = cw, .h = ch, .color = PNG_COLOR_TYPE_GRAY_ALPHA, .depth = 8, .rows = tmp,
                     .stride = (size_t)cw * 2};
        enc = png_make(&s, &n);
        enc2 = png_rgb(tmp2, cw, ch, &n2);
        answer a;
        same_png_answers(enc, n, enc2, n2, cw, ch, "gray+alpha vs composited", &a);
    }
    CASE("1-bit gray PNG = the RGB PNG of black and white") {
        size_t stride = ((size_t)cw + 7) / 8;
        memset(tmp, 0, stride * (size_t)ch);
        for (size_t y = 0; y < (size_t)ch; y++)
            for (size_t x = 0; x < (size_t)cw; x++) {
                size_t i = y * (size_t)cw + x;
                bool on = cat[3 * i + 1] > 110;
                if (on) tmp[y * stride + x / 8] |= (uint8_t)(0x80 >> (x % 8));
                memset(tmp2 + 3 * i, on ? 255 : 0, 3);
            }
        pngspec s = {.w = cw, .h = ch, .color = PNG_COLOR_TYPE_GRAY, .depth = 1, .rows = tmp, .stride = stride};
        enc = png_make(&s, &n);
        enc2 = png_rgb(tmp2, cw, ch, &n2);
        answer a;
        same_png_answers(enc, n, enc2, n2, cw, ch, "1-bit vs RGB", &a);
    }

    /* ---- JPEG variants of hot_dog.jpg */
    size_t dpx = (size_t)dw * dh;
    uint8_t *base = jpg_make(dog, dw, dh, TJPF_RGB, TJSAMP_420, 95, 0, &n);
    answer ref_j;
    memset(&ref_j, 0, sizeof ref_j);
    CASE("baseline re-encoding of hot_dog (q95): top-1 in the original's top-5") {
        post_answer(CT_JPEG, base, n, dw, dh, &ref_j);
        CHECK(in_top(&g_ref_dog, ref_j.idx[0], 5), "top-1 %d", ref_j.idx[0]);
    }
    free(base);
    CASE("progressive JPEG = the baseline one (same coefficients)") {
        enc = jpg_make(dog, dw, dh, TJPF_RGB, TJSAMP_420, 95, TJFLAG_PROGRESSIVE, &n);
        answer a;
        post_answer(CT_JPEG, enc, n, dw, dh, &a);
        free(enc);
        same_answer(&a, &ref_j, "progressive vs baseline");
    }
    static const struct { int ss; const char *name; } subs[] = {
        {TJSAMP_444, "4:4:4"}, {TJSAMP_422, "4:2:2"}, {TJSAMP_440, "4:4:0"}, {TJSAMP_411, "4:1:1"}};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        CASE("JPEG with %s chroma: top-1 in the original's top-5", subs[i].name) {
            enc = jpg_make(dog, dw, dh, TJPF_RGB, subs[i].ss, 92, 0, &n);
            answer a;
            post_answer(CT_JPEG, enc, n, dw, dh, &a);
            free(enc);
            CHECK(in_top(&g_ref_dog, a.idx[0], 5), "top-1 %d", a.idx[0]);
        }
    CASE("grayscale JPEG = the RGB PNG of its own gray pixels") {
        enc = jpg_make(dog, dw, dh, TJPF_RGB, TJSAMP_GRAY, 95, 0, &n);
        int gw, gh;
        uint8_t *g = jpg_read(enc, n, TJPF_GRAY, &gw, &gh);
        CHECK(g && gw == dw && gh == dh, "decoded our gray JPEG");
        for (size_t i = 0; i < dpx; i++) memset(tmp2 + 3 * i, g[i], 3);
        free(g);
        enc2 = png_rgb(tmp2, dw, dh, &n2);
        answer a, b;
        post_answer(CT_JPEG, enc, n, dw, dh, &a);
        post_answer(CT_PNG, enc2, n2, dw, dh, &b);
        free(enc);
        free(enc2);
        same_answer(&a, &b, "gray JPEG vs its pixels");
    }
    CASE("CMYK JPEG (Adobe, inverted) = the RGB PNG of its pixels, and top-1 in the original's top-5") {
        /* Adobe CMYK stores 255 for no ink: R = C * K / 255 with K = max(R, G, B) */
        uint8_t *cmyk = malloc(dpx * 4);
        for (size_t i = 0; i < dpx; i++) {
            const uint8_t *p = dog + 3 * i;
            unsigned k = p[0] > p[1] ? p[0] : p[1];
            if (p[2] > k) k = p[2];
            for (int c = 0; c < 3; c++) cmyk[4 * i + c] = (uint8_t)(k ? (p[c] * 255 + k / 2) / k : 0);
            cmyk[4 * i + 3] = (uint8_t)k;
        }
        enc = jpg_make(cmyk, dw, dh, TJPF_CMYK, TJSAMP_444, 95, 0, &n);
        free(cmyk);
        CHECK(enc, "TurboJPEG made a CMYK JPEG");
        jpg_segs s;
        jpg_walk(enc, n, &s);
        bool adobe = false;
        for (int i = 0; i < s.n; i++) adobe |= s.marker[i] == 0xEE;
        CHECK(adobe, "the CMYK JPEG carries an Adobe APP14 marker");
        int gw, gh;
        uint8_t *back = jpg_read(enc, n, TJPF_CMYK, &gw, &gh);
        CHECK(back, "decoded our CMYK JPEG");
        for (size_t i = 0; i < dpx; i++)
            for (int c = 0; c < 3; c++) tmp2[3 * i + c] = (uint8_t)((back[4 * i + c] * back[4 * i + 3] + 127) / 255);
        free(back);
        enc2 = png_rgb(tmp2, dw, dh, &n2);
        answer a, b;
        post_answer(CT_JPEG, enc, n, dw, dh, &a);
        post_answer(CT_PNG, enc2, n2, dw, dh, &b);
        free(enc);
        free(enc2);
        same_answer(&a, &b, "CMYK vs its RGB pixels");
        CHECK(in_top(&g_ref_dog, a.idx[0], 5), "top-1 %d not in the reference top-5", a.idx[0]);
    }

    /* ---- a multipart upload in small chunked pieces is still one image */
    static const size_t pieces[] = {1, 7, 1000, 40000};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) chunked_case(dogf, jn, pieces[i]);

    /* ---- tiny and extreme shapes */
    static const struct { int w, h; } shapes[] = {{1, 1}, {2, 1}, {1, 3}, {4000, 10}, {10, 4000}, {8000, 1}, {1, 8000},
                                                  {4096, 4096}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int w = shapes[i].w, h = shapes[i].h;
        uint8_t *px = malloc((size_t)w * h * 3);
        for (int y = 0; y < h; y++)   /* the cat, resampled nearest-neighbour */
            for (int x = 0; x < w; x++)
                memcpy(px + 3 * ((size_t)y * w + x), cat + 3 * ((size_t)(y * ch / h) * cw + (size_t)(x * cw / w)), 3);
        CASE("%dx%d PNG", w, h) {
            enc = png_rgb(px, w, h, &n);
            answer a;
            post_answer(CT_PNG, enc, n, w, h, &a);
            free(enc);
        }
        CASE("%dx%d JPEG", w, h) {
            enc = jpg_make(px, w, h, TJPF_RGB, TJSAMP_420, 90, 0, &n);
            answer a;
            post_answer(CT_JPEG, enc, n, w, h, &a);
            free(enc);
        }
        free(px);
    }

    /* ---- EXIF orientations 1..8.  The photo is padded on the right and at
     * the bottom so that its boxes sit off-centre: a flip that is not
     * undone moves them.  Each stored image is the upright one transformed
     * the way a camera would store it; the answer must be upright: size
     * W x H (the stored file is H x W for 5..8), boxes where orientation 1
     * puts them, and the same top-1. */
    int W = dw + dw / 2, H = dh + dh / 3;
    uint8_t *up = malloc((size_t)W * H * 3);
    memset(up, 128, (size_t)W * H * 3);
    for (int y = 0; y < dh; y++) memcpy(up + (size_t)y * W * 3, dog + (size_t)y * dw * 3, (size_t)dw * 3);
    uint8_t *st = malloc((size_t)W * H * 3);
    answer o1;
    memset(&o1, 0, sizeof o1);
    for (int o = 1; o <= 8; o++) {
        int ws = o >= 5 ? H : W, hs = o >= 5 ? W : H;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int sx, sy;
                stored_at(o, x, y, W, H, &sx, &sy);
                memcpy(st + 3 * ((size_t)sy * ws + sx), up + 3 * ((size_t)y * W + x), 3);
            }
        CASE("EXIF orientation %d (%s, stored %dx%d): upright %dx%d answer", o, o % 2 ? "II" : "MM", ws, hs, W, H) {
            enc = jpg_make(st, ws, hs, TJPF_RGB, TJSAMP_444, 95, 0, &n);
            enc2 = with_exif(enc, n, o, o % 2, &n2);
            free(enc);
            answer a;
            post_answer(CT_JPEG, enc2, n2, W, H, &a);
            free(enc2);
            printf("  orientation %d: top-1 %d (%.3f, 2nd %.3f), box (%d,%d)-(%d,%d), IoU with orientation 1 %.3f\n", o,
                   a.idx[0], a.score[0], a.score[1], a.box[0][0], a.box[0][1], a.box[0][2], a.box[0][3],
                   o == 1 || !a.nbox ? 1.0 : iou(a.box[0], o1.box[0]));
            if (o == 1) {
                o1 = a;
                CHECK(a.nbox > 0, "a box to compare the orientations with");
                CHECK(a.box[0][2] < dw + dw / 4 && a.box[0][3] < dh + dh / 6, "the box sits in the photo's corner");
                CHECK(in_top(&g_ref_dog, a.idx[0], 5), "top-1 %d not in the reference top-5", a.idx[0]);
            } else {
                CHECK(o1.nbox > 0, "orientation 1 gave no box");
                CHECK(a.idx[0] == o1.idx[0], "top-1 %d, orientation 1 gave %d", a.idx[0], o1.idx[0]);
                CHECK(a.nbox > 0 && iou(a.box[0], o1.box[0]) > 0.8, "box (%d,%d)-(%d,%d), orientation 1 (%d,%d)-(%d,%d)",
                      a.box[0][0], a.box[0][1], a.box[0][2], a.box[0][3], o1.box[0][0], o1.box[0][1], o1.box[0][2],
                      o1.box[0][3]);
            }
        }
    }
    free(up);
    free(st);
    free(tmp);
    free(tmp2);
    free(cat);
    free(dog);
    free(catf);
    free(dogf);
    batch_end();
}

/* ---- 9. all of it at once ------------------------------------------------------------ */

/* Hostile and valid requests from 8 clients at the same time: the error
 * paths run concurrently with inference on both workers, and every answer
 * must still be the one the request gets alone. */
typedef struct {
    const char *what, *path, *ct;
    uint8_t *body;
    size_t len;
    int status;           /* expected */
    int top1;             /* for 200: the expected top-1 */
    atomic_int sent, wrong;
    char first_wrong[200];
} conc_kind;

static conc_kind g_kinds[8];
static int g_n_kinds;
static pthread_mutex_t g_conc_mu = PTHREAD_MUTEX_INITIALIZER;

static void *conc_client(void *arg) {
    int seed = (int)(intptr_t)arg;
    for (int round = 0; round < 4; round++)
        for (int k = 0; k < g_n_kinds; k++) {
            conc_kind *c = &g_kinds[(k + seed) % g_n_kinds];
            hc_resp r = xreq(c->ct ? "POST" : "GET", c->path, c->ct, c->body, c->len);
            bool ok = r.status == c->status;
            if (ok && r.status == 200 && c->top1 >= 0) {
                cJSON *d = cJSON_Parse(r.body);
                ok = num(cJSON_GetArrayItem(cJSON_GetObjectItem(d, "predictions"), 0), "index") == c->top1;
                cJSON_Delete(d);
            } else if (ok && r.status >= 400) {
                ok = error_doc(&r, NULL, 0) != NULL;
            }
            atomic_fetch_add(&c->sent, 1);
            if (!ok && atomic_fetch_add(&c->wrong, 1) == 0) {
                pthread_mutex_lock(&g_conc_mu);
                snprintf(c->first_wrong, sizeof c->first_wrong, "%d: %.150s", r.status, r.body ? r.body : "");
                pthread_mutex_unlock(&g_conc_mu);
            }
            hc_free(&r);
        }
    return NULL;
}

static void batch_concurrent(void) {
    batch_begin("concurrent hostile and valid requests");
    size_t jn, bn;
    uint8_t *dog = photo("hot_dog.jpg", &jn);
    uint8_t *cut = dog ? malloc(jn / 2) : NULL;
    if (cut) memcpy(cut, dog, jn / 2);
    uint8_t *bomb = png_header_only(50000, 50000, 8, 2, &bn);
    buf deep = {0};
    brep(&deep, "[", 100000);
    uint8_t *rnd = random_bytes(4096);
    rnd[0] = 0;
    g_n_kinds = 0;
#define KIND(w, p, c, b, l, st, t) g_kinds[g_n_kinds++] = (conc_kind){.what = w, .path = p, .ct = c, .body = b, .len = l, .status = st, .top1 = t}
    KIND("valid hot_dog.jpg", CAM "?overlay=false", CT_JPEG, dog, jn, 200, g_have_refs ? g_ref_dog.idx[0] : -1);
    KIND("truncated JPEG", CAM, CT_JPEG, cut, jn / 2, 400, -1);
    KIND("50000x50000 PNG header", CAM, CT_PNG, bomb, bn, 413, -1);
    KIND("100000-deep JSON", CAM, CT_JSON, deep.p, deep.n, 400, -1);
    KIND("bad parameter", CAM "?threshold=nan", CT_PNG, g_tiny, g_tiny_len, 400, -1);
    KIND("random bytes", CAM, CT_PNG, rnd, 4096, 415, -1);
    KIND("traversal", "/static/%2e%2e/%2e%2e/etc/passwd", NULL, NULL, 0, 400, -1);
    KIND("unknown model", "/v1/models/..%2f..%2fx/cam", CT_PNG, g_tiny, g_tiny_len, 404, -1);
#undef KIND
    pthread_t th[8];
    double t0 = hc_now();
    for (int i = 0; i < 8; i++) pthread_create(&th[i], NULL, conc_client, (void *)(intptr_t)i);
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    printf("  8 clients x 4 rounds x %d kinds in %.2f s\n", g_n_kinds, hc_now() - t0);
    for (int k = 0; k < g_n_kinds; k++) {
        conc_kind *c = &g_kinds[k];
        CASE("%s, 32 times among 8 concurrent clients: always %d", c->what, c->status) {
            CHECK(dog, "hot_dog.jpg");
            CHECK(atomic_load(&c->sent) == 32, "%d sent", atomic_load(&c->sent));
            CHECK(atomic_load(&c->wrong) == 0, "%d of 32 answers differ, the first %s", atomic_load(&c->wrong),
                  c->first_wrong);
        }
    }
    free(dog);
    free(cut);
    free(bomb);
    free(deep.p);
    free(rnd);
    batch_end();
}

TEST(server_exits_0_and_logged_no_errors) {
    if (!g_up) SKIP("no server");
    int rc = hc_server_stop(&g_srv, 30);
    g_up = false;
    char *log = hc_slurp(g_srv.log, NULL);
    CHECK(rc == 0, "exit %d: %s", rc, log ? log + (strlen(log) > 2000 ? strlen(log) - 2000 : 0) : "");
    CHECK(log && !strstr(log, "AddressSanitizer") && !strstr(log, "runtime error") && !strstr(log, "LeakSanitizer"),
          "sanitizer report in the server log");
    /* JSON log lines: a path cannot forge this (its quotes are escaped) */
    const char *e = log ? strstr(log, "\"level\":\"error\"") : NULL;
    CHECK(!e, "error lines in the log: %.300s", e);
    free(log);
}

static void cleanup(void) {
    hc_server_kill(&g_srv);
    hc_remove_tmp(g_tmp);
    for (int i = 0; i < g_n_leak; i++) free(g_leak_lines[i]);
    free(g_index_html);
    free(g_tiny);
    free(g_tiny_b64);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    atexit(cleanup);
    double t0 = hc_now();
    RUN(server_starts);
    if (g_up) {
        /* an 8x8 PNG for the requests whose image does not matter */
        uint8_t px[8 * 8 * 3];
        for (int i = 0; i < (int)sizeof px; i++) px[i] = (uint8_t)(i * 37);
        g_tiny = png_rgb(px, 8, 8, &g_tiny_len);
        g_tiny_b64 = b64(g_tiny, g_tiny_len);
        g_5xx_base = metric_5xx();
        batch_bombs();
        batch_corrupt();
        batch_json();
        batch_multipart();
        batch_params();
        batch_traversal();
        batch_headers();
        batch_valid();
        batch_concurrent();
    }
    RUN(server_exits_0_and_logged_no_errors);
    printf("hostile suite: %d cases in %.1f s\n", g_total_cases, hc_now() - t0);
    return check_summary();
}
