/* test_http_body.c: the multipart body path (server/http_body.c) without a
 * server: cam_body_begin / cam_body_feed / cam_body_finish on bodies fed in
 * every chunk size a slow client could use.  The Content-Type lookup that
 * libmicrohttpd's post processor makes is answered by the override in
 * fuzz/fuzz_multipart.c (from cam_fuzz_mp_ct). */
#include "check.h"

#include "fuzz/fuzz_multipart.c"

#define CT "multipart/form-data; boundary=outer"

/* body fed in chunks of `chunk` bytes; returns cam_body_finish's answer and
 * leaves the request in *r for the caller to inspect and free */
static bool feed(cam_req *r, const char *body, size_t chunk) {
    static char fake_conn;
    memset(r, 0, sizeof *r);
    r->conn = (struct MHD_Connection *)&fake_conn;
    r->limit = 1u << 20;
    r->body = BODY_MULTIPART;
    cam_explain_params_init(&r->params);
    cam_fuzz_mp_ct = CT;
    bool ok = cam_body_begin(r, NULL);
    size_t len = strlen(body);
    for (size_t off = 0; ok && off < len; off += chunk)
        ok = cam_body_feed(r, body + off, len - off < chunk ? len - off : chunk);
    ok = ok && cam_body_finish(r);
    cam_fuzz_mp_ct = NULL;
    return ok;
}

static const char plain[] =
    "--outer\r\nContent-Disposition: form-data; name=\"top_k\"\r\n\r\n3\r\n"
    "--outer\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
    "Content-Type: image/png\r\n\r\nPIXELS\r\n--outer--\r\n";

TEST(plain_form_in_any_chunking) {
    static cam_req r;
    for (size_t chunk = 1; chunk <= sizeof plain; chunk++) {
        bool ok = feed(&r, plain, chunk);
        CHECK(ok, "chunk %zu: %d %s", chunk, r.err_status, r.err_msg);
        CHECK(r.len == 6 && memcmp(r.buf, "PIXELS", 6) == 0, "chunk %zu: image of %zu bytes", chunk, r.len);
        CHECK(r.params.top_k == 3, "chunk %zu: top_k %d", chunk, r.params.top_k);
        cam_body_free(&r);
    }
}

/* libmicrohttpd 0.9.75 leaks the nested boundary of a multipart/mixed part
 * followed by another one; camserve refuses nested multipart/mixed (see
 * http_body.c).  Without the refusal the first two bodies below are
 * accepted, the nested file read as the image. */
static const char *const nested[] = {
    /* the image field as a nested multipart/mixed part holding the file */
    "--outer\r\nContent-Disposition: form-data; name=\"image\"\r\n"
    "Content-Type: multipart/mixed; boundary=inner\r\n\r\n"
    "--inner\r\nContent-Disposition: file; filename=\"a.png\"\r\n\r\nPIXELS\r\n--inner--\r\n--outer--\r\n",
    /* the same in other letter cases, found by libmicrohttpd after a 'c' */
    "--outer\r\nContent-Disposition: form-data; name=\"image\"\r\n"
    "X-Note: cCONTENT-TYPE: Multipart/Mixed; boundary=inner\r\n\r\n"
    "--inner\r\nContent-Disposition: file; filename=\"a.png\"\r\n\r\nPIXELS\r\n--inner--\r\n--outer--\r\n",
    /* the leaking shape: two empty nested parts in a row (post_field is never called) */
    "--outer\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n--inner--\r\n"
    "--outer\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n--inner--\r\n--outer--\r\n",
};

TEST(nested_multipart_mixed_refused_in_any_chunking) {
    static cam_req r;
    for (size_t i = 0; i < sizeof nested / sizeof nested[0]; i++) {
        size_t len = strlen(nested[i]);
        for (size_t chunk = 1; chunk <= len; chunk++) {
            bool ok = feed(&r, nested[i], chunk);
            CHECK(!ok && r.err_status == 400 && strstr(r.err_msg, "multipart/mixed"),
                  "body %zu, chunk %zu: ok %d, status %d, '%s'", i, chunk, ok, r.err_status, r.err_msg);
            cam_body_free(&r);
        }
    }
}

/* "Content-Type:" with two spaces is not a nested part to libmicrohttpd
 * (its value then starts with a space): such a part is an ordinary field */
TEST(near_miss_is_not_refused) {
    static cam_req r;
    static const char body[] =
        "--outer\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
        "Content-Type:  multipart/mixed; boundary=inner\r\n\r\nPIXELS\r\n--outer--\r\n";
    bool ok = feed(&r, body, 5);
    CHECK(ok && r.len == 6, "ok %d, status %d, '%s', %zu bytes", ok, r.err_status, r.err_msg, r.len);
    cam_body_free(&r);
}

int main(void) {
    RUN(plain_form_in_any_chunking);
    RUN(nested_multipart_mixed_refused_in_any_chunking);
    RUN(near_miss_is_not_refused);
    return check_summary();
}
