/* http_body.c: reading request bodies: the raw image, multipart/form-data
 * (libmicrohttpd's streaming post processor: the file field "image" is
 * copied straight into the request's image buffer, other fields are
 * parameters), and JSON {"image": "<base64>", ...parameters}.
 *
 * The body limit holds while reading: bytes are counted as they arrive, and
 * nothing past the limit is stored.  libmicrohttpd 0.9.75 cannot queue a
 * response while an upload is still arriving, so a body found too large
 * midway (chunked, or longer than announced) is read and dropped up to a
 * second limit's worth, then answered 413; a client that keeps sending past
 * that loses the connection. */
#include "http.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void cam_req_fail(cam_req *r, int status, const char *code, const char *fmt, ...) {
    if (r->err_status) return;
    r->err_status = status;
    r->err_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err_msg, sizeof r->err_msg, fmt, ap);
    va_end(ap);
    /* the answer is decided: whatever else arrives is not kept */
    r->discard = true;
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = 0;
}

/* The parameters a request can set, for cam_req_param's once-only rule. */
static const char *const param_names[] = {"top_k",   "cam_top_k", "class",    "threshold", "alpha", "min_area",
                                          "max_side", "overlay",   "heatmap",  "colormap",  "boxes"};

bool cam_req_param(cam_req *r, const char *key, const char *value) {
    char err[256];
    /* Each channel refuses its own duplicates first; what is left is a name
     * given in the query string and again in the body, where which one counts
     * would be a surprise either way. */
    for (size_t i = 0; i < sizeof param_names / sizeof param_names[0]; i++) {
        if (strcmp(key, param_names[i]) != 0) continue;
        if (r->params_seen & (1u << i)) {
            cam_req_fail(r, 400, "BAD_PARAMETER", "parameter '%s' is given twice (in the query string and in the body)",
                         key);
            return false;
        }
        r->params_seen |= 1u << i;
        break;
    }
    /* the same bound in every channel (JSON strings and form fields have it
     * by construction): a 300-digit "0.111..." is not a reasonable value */
    if (strlen(value) >= CAM_FORM_VALUE) {
        cam_req_fail(r, 400, "BAD_PARAMETER", "parameter '%.40s' is too long (at most %d bytes)", key, CAM_FORM_VALUE - 1);
        return false;
    }
    if (cam_explain_param_set(&r->params, key, value, err, sizeof err) == 1) return true;
    cam_req_fail(r, 400, "BAD_PARAMETER", "%s", err);
    return false;
}

cam_body_kind cam_body_kind_of(const char *ct) {
    if (!ct) return BODY_NONE;
    while (*ct == ' ' || *ct == '\t') ct++;
    size_t n = strcspn(ct, "; \t");
    static const struct { const char *type; cam_body_kind kind; } kinds[] = {
        {"image/jpeg", BODY_RAW}, {"image/png", BODY_RAW},
        {"multipart/form-data", BODY_MULTIPART}, {"application/json", BODY_JSON},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strlen(kinds[i].type) == n && strncasecmp(ct, kinds[i].type, n) == 0) return kinds[i].kind;
    return BODY_NONE;
}

static bool append(cam_req *r, const char *data, size_t n) {
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 64 * 1024;
        while (cap < r->len + n) cap *= 2;
        if (cap > r->limit) cap = r->limit;   /* received <= limit, so this still fits */
        uint8_t *b = realloc(r->buf, cap);
        if (!b) { cam_req_fail(r, 500, "INTERNAL", "out of memory reading the body"); return false; }
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    return true;
}

/* one form field of a multipart body; called in pieces as the body streams */
static enum MHD_Result post_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                                  const char *content_type, const char *transfer_encoding, const char *data, uint64_t off,
                                  size_t size) {
    cam_req *r = cls;
    if (r->discard) return MHD_YES;
    if (!key) key = "";
    if (strcmp(key, "image") == 0) {
        /* the first bytes of a field come at offset 0; with bytes already
         * kept, they start a second image field (never glued to the first) */
        if (off == 0 && size > 0 && r->len > 0) {
            cam_req_fail(r, 400, "BAD_REQUEST", "multipart/form-data has more than one 'image' field");
            return MHD_YES;
        }
        r->have_image_field = true;
        return size == 0 || append(r, data, size) ? MHD_YES : MHD_NO;
    }
    if (filename) {
        cam_req_fail(r, 400, "BAD_REQUEST", "file field '%.40s': the image goes in a file field named 'image'", key);
        return MHD_YES;
    }
    /* a parameter: short text, possibly split across calls.  When the body
     * arrives in pieces libmicrohttpd may first call with off 0 and size 0,
     * then with off 0 again for the first bytes: an empty field of the same
     * name just before is that same field. */
    bool cont = r->n_fields > 0 && strcmp(r->fields[r->n_fields - 1].key, key) == 0 &&
                (off > 0 || r->fields[r->n_fields - 1].value[0] == 0);
    if (!cont) {
        if (r->n_fields == CAM_FORM_FIELDS) {
            cam_req_fail(r, 400, "BAD_REQUEST", "too many form fields (at most %d)", CAM_FORM_FIELDS);
            return MHD_YES;
        }
        if (strlen(key) >= CAM_FORM_KEY) {
            cam_req_fail(r, 400, "BAD_PARAMETER", "unknown parameter '%.40s...'", key);
            return MHD_YES;
        }
        snprintf(r->fields[r->n_fields].key, CAM_FORM_KEY, "%s", key);
        r->fields[r->n_fields].value[0] = 0;
        r->n_fields++;
    }
    char *v = r->fields[r->n_fields - 1].value;
    size_t have = strlen(v);
    if (have + size >= CAM_FORM_VALUE) {
        cam_req_fail(r, 400, "BAD_PARAMETER", "form field '%s' is too long", key);
        return MHD_YES;
    }
    memcpy(v + have, data, size);
    v[have + size] = 0;
    return MHD_YES;
}

/* libmicrohttpd 0.9.75's post processor leaks memory on nested multipart/mixed
 * parts: at a part whose Content-Type is multipart/mixed it strdup()s the
 * nested boundary, and frees it only after a following plain part (or when
 * destroyed); a second multipart/mixed part right after the first one's
 * closing "--inner--" overwrites the pointer, and the first copy is lost.
 * post_field cannot prevent this: an empty nested part ("--inner--" at once)
 * never calls it.  The processor takes a part's type from the first
 * "Content-type: " in a header line and goes nested only if the value starts
 * with "multipart/mixed" (ASCII case-insensitive), so it can only get there
 * if the body holds "content-type: multipart/mixed" in one piece.  Bodies
 * holding that text are refused before the chunk that completes it reaches
 * the processor.  camserve reads one file field; nested multipart/mixed (the
 * RFC 2388 multi-file form, dropped by RFC 7578) is not supported anyway.
 * Streaming match across chunks: the pattern's first letter does not recur
 * in it, so on a mismatch the match restarts at that letter or at 0. */
static const char mixed_pattern[] = "content-type: multipart/mixed";

static bool nested_mixed(cam_req *r, const char *data, size_t size) {
    size_t m = r->mixed_match;
    for (size_t i = 0; i < size; i++) {
        char c = data[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c == mixed_pattern[m]) m++;
        else m = c == mixed_pattern[0];
        if (m == sizeof mixed_pattern - 1) return true;
    }
    r->mixed_match = (unsigned char)m;
    return false;
}

bool cam_body_begin(cam_req *r, const char *content_length) {
    if (r->body == BODY_MULTIPART) {
        r->pp = MHD_create_post_processor(r->conn, 32 * 1024, post_field, r);
        if (!r->pp) {
            cam_req_fail(r, 400, "BAD_REQUEST", "multipart/form-data without a boundary");
            return false;
        }
    } else if (content_length) {
        /* one allocation of the announced size (already checked against the limit) */
        unsigned long long n = strtoull(content_length, NULL, 10);
        if (n > 0 && n <= r->limit) {
            r->buf = malloc((size_t)n);
            if (r->buf) r->cap = (size_t)n;
        }
    }
    return true;
}

bool cam_body_feed(cam_req *r, const char *data, size_t size) {
    r->received += size;
    if (r->received > r->limit && !r->too_large) {
        r->too_large = true;
        cam_req_fail(r, 413, "PAYLOAD_TOO_LARGE", "request body larger than %zu MB (--max-body-mb)", r->limit >> 20);
    }
    if (r->discard) return r->received <= 2 * r->limit + (1u << 20);
    if (r->body == BODY_MULTIPART) {
        if (nested_mixed(r, data, size)) {
            cam_req_fail(r, 400, "BAD_REQUEST", "nested multipart/mixed parts are not supported: send the image as one file field");
            return true;
        }
        if (MHD_post_process(r->pp, data, size) != MHD_YES)
            cam_req_fail(r, 400, "BAD_REQUEST", "malformed multipart/form-data body");
        return true;
    }
    append(r, data, size);
    return true;
}

void cam_body_free(cam_req *r) {
    if (r->pp) MHD_destroy_post_processor(r->pp);
    r->pp = NULL;
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = 0;
}

bool cam_body_finish(cam_req *r) {
    if (r->body == BODY_MULTIPART && r->pp) {
        bool complete = MHD_destroy_post_processor(r->pp) == MHD_YES;
        r->pp = NULL;
        if (!complete) cam_req_fail(r, 400, "BAD_REQUEST", "incomplete multipart/form-data body");
    }
    if (r->err_status) return false;
    if (r->body == BODY_MULTIPART) {
        if (!r->have_image_field) {
            cam_req_fail(r, 400, "BAD_REQUEST", "multipart/form-data needs a file field named 'image'");
            return false;
        }
        for (int i = 0; i < r->n_fields; i++) {
            for (int j = 0; j < i; j++)
                if (!strcmp(r->fields[j].key, r->fields[i].key)) {
                    cam_req_fail(r, 400, "BAD_PARAMETER", "parameter '%s' is given twice", r->fields[i].key);
                    return false;
                }
            if (!cam_req_param(r, r->fields[i].key, r->fields[i].value)) return false;
        }
    }
    if (r->received == 0) {
        /* an empty chunked body: the same answer as Content-Length: 0 */
        cam_req_fail(r, 400, "BAD_REQUEST", "no image: the body is empty");
        return false;
    }
    if (r->len == 0 && r->body != BODY_JSON) {
        cam_req_fail(r, 400, "BAD_IMAGE", "the image is empty");
        return false;
    }
    return true;
}

size_t cam_base64_decode(const char *in, size_t len, uint8_t *out) {
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        int v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '+' || c == '-') v = 62;
        else if (c == '/' || c == '_') v = 63;
        else if (c == '=') { if (++pad > 2) return (size_t)-1; continue; }
        else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        else return (size_t)-1;
        if (pad) return (size_t)-1;   /* data after padding */
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits == 6) return (size_t)-1;   /* one character past a 4-group carries no byte */
    return o;
}

/* a JSON parameter as the text cam_explain_param_set reads */
static bool json_param_text(const cJSON *v, char *out, size_t len) {
    if (cJSON_IsBool(v)) snprintf(out, len, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d > -1e15 && d < 1e15 && d == (double)(long long)d) snprintf(out, len, "%lld", (long long)d);
        else snprintf(out, len, "%.9g", d);
    } else if (cJSON_IsString(v)) {
        if (strlen(v->valuestring) >= len) return false;
        snprintf(out, len, "%s", v->valuestring);
    } else return false;
    return true;
}

/* only JSON whitespace in [p, end) */
static bool blank(const char *p, const char *end) {
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') return false;
    return true;
}

bool cam_body_json(cam_req *r) {
    const char *json = (const char *)r->buf, *end = NULL;
    /* cJSON's strings end at a NUL: with one inside (raw, or escaped as
     * \u0000) the rest of the string would be dropped without a word.  No
     * member of this API can hold one, so such bodies are refused whole. */
    if (r->len && (memchr(json, 0, r->len) || memmem(json, r->len, "\\u0000", 6))) {
        cam_req_fail(r, 400, "BAD_REQUEST", "the JSON body holds a NUL character");
        return false;
    }
    cJSON *root = cJSON_ParseWithLengthOpts(json, r->len, &end, 0);
    /* one object and nothing after it but whitespace */
    if (!cJSON_IsObject(root) || !end || end < json || !blank(end, json + r->len)) {
        cJSON_Delete(root);
        cam_req_fail(r, 400, "BAD_REQUEST", "the body is not a JSON object: send {\"image\": \"<base64>\", ...}");
        return false;
    }
    const cJSON *image = NULL;
    for (const cJSON *it = root->child; it; it = it->next) {
        if (!it->string) continue;
        /* a member given twice: which one counts would be the parser's whim.
         * Cheap: every earlier member was a distinct known name, and there
         * are a dozen of those. */
        for (const cJSON *p = root->child; p != it; p = p->next)
            if (p->string && !strcmp(p->string, it->string)) {
                cam_req_fail(r, 400, strcmp(it->string, "image") ? "BAD_PARAMETER" : "BAD_REQUEST",
                             "member '%.40s' is given twice", it->string);
                cJSON_Delete(root);
                return false;
            }
        if (strcmp(it->string, "image") == 0) { image = it; continue; }
        char text[CAM_FORM_VALUE];
        if (!json_param_text(it, text, sizeof text)) {
            cam_req_fail(r, 400, "BAD_PARAMETER", "parameter '%.40s' must be a number, a boolean or a short string",
                         it->string);
            cJSON_Delete(root);
            return false;
        }
        if (!cam_req_param(r, it->string, text)) { cJSON_Delete(root); return false; }
    }
    if (!cJSON_IsString(image) || !image->valuestring[0]) {
        cJSON_Delete(root);
        cam_req_fail(r, 400, "BAD_REQUEST", "the JSON body needs \"image\": a JPEG or PNG as base64");
        return false;
    }
    const char *b = image->valuestring;
    /* a data: URL, as a browser's FileReader gives it */
    if (strncmp(b, "data:", 5) == 0) {
        const char *comma = strchr(b, ',');
        if (comma && comma - b < 100 && strstr(b, ";base64,") == comma - 7) b = comma + 1;
    }
    size_t n = strlen(b);
    uint8_t *img = malloc(n / 4 * 3 + 3);
    if (!img) {
        cJSON_Delete(root);
        cam_req_fail(r, 500, "INTERNAL", "out of memory decoding the image");
        return false;
    }
    size_t len = cam_base64_decode(b, n, img);
    cJSON_Delete(root);
    if (len == (size_t)-1 || len == 0) {
        free(img);
        if (len == 0) cam_req_fail(r, 400, "BAD_IMAGE", "the image is empty");
        else cam_req_fail(r, 400, "BAD_REQUEST", "\"image\" is not valid base64");
        return false;
    }
    free(r->buf);
    r->buf = img;
    r->len = len;
    r->cap = len;
    return true;
}
