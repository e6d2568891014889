/* test_jpeg_huff.c: our Huffman decoder inside libjpeg (core/jpeg_huff.c)
 * through the fast path of core/image_jpeg.c.
 *
 * The promise: when cam__jpeg_fast_decompress() says it decoded a file, its
 * pixels are TurboJPEG's, byte for byte; otherwise it leaves the file to
 * TurboJPEG.  Checked on every photo of ../shared, on files written here with
 * libjpeg in every sampling, size class, quality, table kind and restart
 * interval, and on thousands of damaged files.  Then: what it must leave
 * alone (progressive, CMYK, bad restart markers, cut files), and its speed
 * against TurboJPEG on a photo. */
#include "check.h"

#include <dirent.h>
#include <stdint.h>
#include <turbojpeg.h>

#include "camserve.h"
#include "image.h"
#include "jpeg_huff.h"
#include "timing.h"

typedef struct blob {
    uint8_t *p;
    size_t n;
} blob;

/* ---- writing JPEGs with libjpeg ------------------------------------------------------- */

typedef struct jpeg_spec {
    int w, h;
    int gray;            /* 1 component */
    int hs, vs;          /* luma sampling factors (chroma 1x1): 1x1 is 4:4:4, 2x2 4:2:0 */
    int quality;
    int optimize;        /* optimal Huffman tables instead of the standard ones */
    int restart;         /* restart interval in MCUs, 0: none */
    int progressive;
    int cmyk;
    int content;         /* 0 gradient, 1 noise, 2 flat */
} jpeg_spec;

static uint8_t *pixels(const jpeg_spec *s, int comps) {
    uint8_t *p = malloc((size_t)s->w * s->h * comps);
    uint32_t r = 12345u + (uint32_t)s->w * 31u + (uint32_t)s->h;
    for (int y = 0; y < s->h; y++)
        for (int x = 0; x < s->w; x++)
            for (int c = 0; c < comps; c++) {
                uint8_t v;
                if (s->content == 1) {
                    r = r * 1664525u + 1013904223u;
                    v = (uint8_t)(r >> 24);
                } else if (s->content == 2) {
                    v = (uint8_t)(60 + 40 * c);
                } else {
                    v = (uint8_t)((x * 255 / (s->w > 1 ? s->w - 1 : 1) + y * 3 + c * 85) & 255);
                }
                p[((size_t)y * s->w + x) * comps + c] = v;
            }
    return p;
}

static blob write_jpeg(const jpeg_spec *s) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned char *out = NULL;
    unsigned long n = 0;
    int comps = s->gray ? 1 : s->cmyk ? 4 : 3;
    uint8_t *px = pixels(s, comps);
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &n);
    c.image_width = (JDIMENSION)s->w;
    c.image_height = (JDIMENSION)s->h;
    c.input_components = comps;
    c.in_color_space = s->gray ? JCS_GRAYSCALE : s->cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, s->quality, TRUE);
    if (!s->gray && !s->cmyk) {
        c.comp_info[0].h_samp_factor = s->hs;
        c.comp_info[0].v_samp_factor = s->vs;
        c.comp_info[1].h_samp_factor = c.comp_info[1].v_samp_factor = 1;
        c.comp_info[2].h_samp_factor = c.comp_info[2].v_samp_factor = 1;
    }
    c.optimize_coding = s->optimize ? TRUE : FALSE;
    c.restart_interval = (unsigned)s->restart;
    if (s->progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = px + (size_t)c.next_scanline * s->w * comps;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(px);
    blob b = {malloc(n), n};
    memcpy(b.p, out, n);
    free(out);
    return b;
}

/* ---- the comparison ------------------------------------------------------------------- */

typedef struct outcome {
    int fast;        /* cam__jpeg_fast_decompress decoded it */
    int tj_rc;       /* tjDecompress2: 0, or -1 (error or warning) */
    int same;        /* fast: its pixels equal TurboJPEG's */
} outcome;

/* both decoders at DCT scale 1/denom */
static outcome compare_scaled(const uint8_t *p, size_t n, int denom) {
    outcome o = {0, -1, 0};
    tjhandle tj = tjInitDecompress();
    int w, h, ss, cs;
    if (tjDecompressHeader3(tj, p, (unsigned long)n, &w, &h, &ss, &cs) != 0 || w <= 0 || h <= 0 ||
        (size_t)w * (size_t)h > 50u * 1000 * 1000) {
        tjDestroy(tj);
        return o;
    }
    tjscalingfactor sf = {1, denom};
    w = TJSCALED(w, sf);
    h = TJSCALED(h, sf);
    size_t bytes = (size_t)w * h * 3;
    uint8_t *a = malloc(bytes), *b = malloc(bytes);
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    o.fast = cam__jpeg_fast_decompress(p, n, 1, denom, b, w, h, (size_t)w * 3);
    o.tj_rc = tjDecompress2(tj, p, (unsigned long)n, a, w, w * 3, h, TJPF_RGB, 0);
    o.same = o.fast && memcmp(a, b, bytes) == 0;
    free(a);
    free(b);
    tjDestroy(tj);
    return o;
}

static outcome compare(const uint8_t *p, size_t n) { return compare_scaled(p, n, 1); }

static const char *spec_name(const jpeg_spec *s) {
    static char buf[160];
    snprintf(buf, sizeof buf, "%dx%d %s%dx%d q%d%s rst%d %s", s->w, s->h, s->gray ? "gray " : "", s->hs, s->vs,
             s->quality, s->optimize ? " optimized" : "", s->restart,
             s->content == 1 ? "noise" : s->content == 2 ? "flat" : "gradient");
    return buf;
}

/* ---- tests ---------------------------------------------------------------------------- */

/* every sampling libjpeg writes, sizes around the MCU edges, low to top
 * quality (noise at q100 has AC codes of 11-16 bits: the slow path),
 * standard and optimized tables, with and without restart markers; each at
 * full size and at one of 1/2, 1/4, 1/8 */
TEST(written_files_identical) {
    static const int sizes[][2] = {{1, 1}, {7, 5}, {16, 16}, {17, 33}, {64, 48}, {101, 77}, {333, 250}};
    static const int samp[][3] = {{0, 1, 1}, {0, 2, 1}, {0, 2, 2}, {0, 1, 2}, {0, 4, 1}, {1, 1, 1}};
    static const int quality[] = {5, 50, 90, 100};
    int files = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (size_t pi = 0; pi < sizeof samp / sizeof samp[0]; pi++)
            for (size_t qi = 0; qi < sizeof quality / sizeof quality[0]; qi++)
                for (int variant = 0; variant < 4; variant++) {
                    jpeg_spec s = {sizes[si][0], sizes[si][1], samp[pi][0], samp[pi][1], samp[pi][2],
                                   quality[qi], variant & 1, (variant & 2) ? 1 + (int)(si + qi) % 4 : 0, 0, 0,
                                   (int)(si + pi + qi + variant) % 3};
                    blob b = write_jpeg(&s);
                    outcome o = compare(b.p, b.n);
                    /* and at one of the reduced sizes (DCT scaling) */
                    int denom = 2 << (int)((si + pi + qi + variant) % 3);
                    outcome r = compare_scaled(b.p, b.n, denom);
                    free(b.p);
                    CHECK(o.tj_rc == 0, "%s: TurboJPEG failed", spec_name(&s));
                    CHECK(o.fast, "%s: not decoded by the fast path", spec_name(&s));
                    CHECK(o.same, "%s: pixels differ from TurboJPEG's", spec_name(&s));
                    CHECK(r.tj_rc == 0 && r.fast && r.same, "%s at 1/%d: TurboJPEG rc %d, fast %d, same %d",
                          spec_name(&s), denom, r.tj_rc, r.fast, r.same);
                    files++;
                }
    CHECK(files == 7 * 6 * 4 * 4, "%d files", files);
}

/* both pixel paths of cam_image_decode give the same image: the fast path
 * on, and TurboJPEG alone (a scale other than 1/1 never takes the fast
 * path, so a 1/1 decode is compared with TurboJPEG directly) */
static void check_dir(const char *dir, int *files, int *fast) {
    DIR *d = opendir(dir);
    if (!d) SKIP("%s not found (set CAMSERVE_SHARED)", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 4 || (strcasecmp(e->d_name + l - 4, ".jpg") && strcasecmp(e->d_name + l - 5, ".jpeg"))) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        blob b;
        b.p = check_slurp(path, &b.n);
        CHECK(b.p, "cannot read %s", path);
        outcome o = compare(b.p, b.n), r = compare_scaled(b.p, b.n, 2);
        free(b.p);
        CHECK(o.tj_rc == 0, "%s: TurboJPEG failed", path);
        CHECK(!o.fast || o.same, "%s: pixels differ from TurboJPEG's", path);
        CHECK(r.fast == o.fast && (!r.fast || r.same), "%s at 1/2: fast %d, same %d", path, r.fast, r.same);
        (*files)++;
        *fast += o.fast;
    }
    closedir(d);
}

TEST(shared_photos_identical) {
    char dir[1024];
    int files = 0, fast = 0;
    snprintf(dir, sizeof dir, "%s/images", check_shared_dir());
    check_dir(dir, &files, &fast);
    /* all seven are baseline; kite_and_cold.jpg has restart markers */
    CHECK(files == 7 && fast == 7, "%d of %d photos through the fast path", fast, files);
    snprintf(dir, sizeof dir, "%s/ilsvrc-dev/images", check_shared_dir());
    files = fast = 0;
    check_dir(dir, &files, &fast);
    CHECK(files == 300 && fast == 300, "%d of %d ILSVRC images through the fast path", fast, files);
}

/* what the fast path leaves to TurboJPEG: it must say so, not decode */
TEST(leaves_other_files_alone) {
    jpeg_spec prog = {120, 90, 0, 2, 2, 85, 0, 0, 1, 0, 0};
    blob b = write_jpeg(&prog);
    outcome o = compare(b.p, b.n);
    CHECK(o.tj_rc == 0 && !o.fast, "progressive: fast %d", o.fast);
    free(b.p);
    jpeg_spec cmyk = {64, 40, 0, 1, 1, 85, 0, 0, 0, 1, 0};
    b = write_jpeg(&cmyk);
    uint8_t *px = malloc(64 * 40 * 3);
    CHECK(!cam__jpeg_fast_decompress(b.p, b.n, 1, 1, px, 64, 40, 64 * 3), "CMYK decoded by the fast path");
    free(px);
    free(b.p);
    /* the size the caller expects must be the file's */
    jpeg_spec plain = {64, 40, 0, 2, 2, 85, 0, 0, 0, 0, 0};
    b = write_jpeg(&plain);
    px = malloc(64 * 40 * 3);
    CHECK(cam__jpeg_fast_decompress(b.p, b.n, 1, 1, px, 64, 40, 64 * 3), "plain 4:2:0 not decoded");
    CHECK(!cam__jpeg_fast_decompress(b.p, b.n, 1, 1, px, 40, 64, 64 * 3), "decoded with the wrong size");
    /* cut anywhere, EOI included: no pixels from the fast path */
    int cut_fast = 0;
    for (size_t n = 0; n < b.n; n++) cut_fast += cam__jpeg_fast_decompress(b.p, n, 1, 1, px, 64, 40, 64 * 3);
    CHECK(cut_fast == 0, "%d cut files decoded by the fast path", cut_fast);
    free(px);
    free(b.p);
}

/* Finds the i-th RSTn marker of a file (the offset of its 0xFF), -1 if none. */
static long find_rst(const blob *b, int i) {
    for (size_t k = 0; k + 1 < b->n; k++)
        if (b->p[k] == 0xFF && b->p[k + 1] >= 0xD0 && b->p[k + 1] <= 0xD7 && i-- == 0) return (long)k;
    return -1;
}

TEST(restart_markers_checked) {
    jpeg_spec s = {96, 64, 0, 2, 2, 90, 0, 2, 0, 0, 1};
    blob b = write_jpeg(&s);
    uint8_t *px = malloc(96 * 64 * 3);
    CHECK(cam__jpeg_fast_decompress(b.p, b.n, 1, 1, px, 96, 64, 96 * 3), "clean file not decoded");
    long at = find_rst(&b, 1);
    CHECK(at > 0, "no second RST marker");
    /* RST1 written as RST2: out of order */
    b.p[at + 1] = 0xD2;
    outcome o = compare(b.p, b.n);
    CHECK(!o.fast, "RSTn out of order decoded by the fast path");
    b.p[at + 1] = 0xD1;
    /* a byte of the interval before RST1 dropped: the interval ends short */
    blob c = {malloc(b.n), b.n - 1};
    memcpy(c.p, b.p, (size_t)at - 1);
    memcpy(c.p + at - 1, b.p + at, b.n - (size_t)at);
    o = compare(c.p, c.n);
    CHECK(!o.fast || o.same, "an interval one byte short: pixels differ");
    /* a byte added before RST1: libjpeg warns about extraneous data */
    free(c.p);
    c.n = b.n + 1;
    c.p = malloc(c.n);
    memcpy(c.p, b.p, (size_t)at);
    c.p[at] = 0x55;
    memcpy(c.p + at + 1, b.p + at, b.n - (size_t)at);
    o = compare(c.p, c.n);
    CHECK(!o.fast, "an extra byte before RST1 decoded by the fast path");
    free(c.p);
    free(px);
    free(b.p);
}

/* Damage anywhere after the headers: the fast path either gives up or
 * gives TurboJPEG's pixels exactly.  (On a clean file TurboJPEG may still
 * warn about bytes left over at the end; its tolerant pass then gives the
 * same pixels, see image_jpeg.c.) */
TEST(damaged_files_never_differ) {
    static const jpeg_spec specs[] = {
        {80, 60, 0, 2, 2, 75, 0, 0, 0, 0, 0},
        {80, 60, 0, 1, 1, 100, 1, 0, 0, 0, 1},
        {81, 59, 0, 2, 1, 90, 0, 3, 0, 0, 1},
        {70, 50, 1, 1, 1, 60, 0, 0, 0, 0, 0},
    };
    uint32_t r = 2024;
    int fast = 0, slow = 0;
    for (size_t si = 0; si < sizeof specs / sizeof specs[0]; si++) {
        blob b = write_jpeg(&specs[si]);
        uint8_t *m = malloc(b.n);
        size_t start = b.n / 4;   /* past the headers of these small files */
        for (int it = 0; it < 600; it++) {
            memcpy(m, b.p, b.n);
            size_t n = b.n;
            int hits = 1 + it % 3;
            for (int k = 0; k < hits; k++) {
                r = r * 1664525u + 1013904223u;
                size_t at = start + (r >> 8) % (b.n - start);
                switch (it % 4) {
                case 0: m[at] ^= (uint8_t)(1u << (r & 7)); break;
                case 1: m[at] = (uint8_t)(r >> 3); break;
                case 2: m[at] = 0xFF; break;
                default: m[at] = 0x00; break;
                }
            }
            outcome o = compare(m, n);
            CHECK(!o.fast || o.same, "%s, damage %d: fast path pixels differ (TurboJPEG rc %d)",
                  spec_name(&specs[si]), it, o.tj_rc);
            fast += o.fast;
            slow += !o.fast;
        }
        free(m);
        free(b.p);
    }
    /* both outcomes happen, or the test checks nothing */
    CHECK(fast > 100 && slow > 100, "fast %d, left to TurboJPEG %d", fast, slow);
}

/* The point of it all.  Alternating runs, best of each: the fast path is
 * at least 10 % faster than TurboJPEG on hot_dog.jpg (measured here: 1.05
 * against 1.75 ms with our IDCT, 1.29 against 1.77 with CAMSERVE_NO_AVX512). */
TEST(faster_than_turbojpeg) {
#ifdef __SANITIZE_ADDRESS__
    SKIP("timing: our code is instrumented under ASan, libjpeg-turbo is not");
#endif
    char path[1024];
    snprintf(path, sizeof path, "%s/images/hot_dog.jpg", check_shared_dir());
    blob b;
    b.p = check_slurp(path, &b.n);
    if (!b.p) SKIP("%s not found (set CAMSERVE_SHARED)", path);
    tjhandle tj = tjInitDecompress();
    enum { W = 512, H = 384, REPS = 25 };
    uint8_t *px = malloc(W * H * 3);
    double best_tj = 1e9, best_fast = 1e9;
    for (int i = 0; i < REPS; i++) {
        double t0 = now_ms();
        CHECK(tjDecompress2(tj, b.p, (unsigned long)b.n, px, W, W * 3, H, TJPF_RGB, 0) == 0, "TurboJPEG");
        double t1 = now_ms();
        CHECK(cam__jpeg_fast_decompress(b.p, b.n, 1, 1, px, W, H, W * 3), "fast path");
        double t2 = now_ms();
        if (t1 - t0 < best_tj) best_tj = t1 - t0;
        if (t2 - t1 < best_fast) best_fast = t2 - t1;
    }
    tjDestroy(tj);
    free(px);
    free(b.p);
    printf("# hot_dog.jpg: TurboJPEG %.3f ms, fast path %.3f ms (best of %d)\n", best_tj, best_fast, REPS);
    CHECK(best_fast < 0.9 * best_tj, "fast path %.3f ms against TurboJPEG %.3f ms", best_fast, best_tj);
}

int main(void) {
    RUN(written_files_identical);
    RUN(shared_photos_identical);
    RUN(leaves_other_files_alone);
    RUN(restart_markers_checked);
    RUN(damaged_files_never_differ);
    RUN(faster_than_turbojpeg);
    return check_summary();
}
