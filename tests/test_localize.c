/* test_localize.c: cam_heatmap, cam_boxes, cam_box_iou (core/localize.c).
 *
 * Heatmaps are checked against hand-computed bilinear values and against a
 * direct double-precision transcription of the sampling rule; boxes against
 * hand-made masks and, for random masks, against a breadth-first-search
 * labelling written here independently of the run-based union-find. */
#include "check.h"
#include "camserve.h"

#include <stdint.h>
#include <time.h>
#include "timing.h"

/* ---- helpers ------------------------------------------------------------- */

static cam_geometry identity_geo(int w, int h) {
    cam_geometry g = {0.0, 0.0, 1.0, 1.0, w, h, w, h};
    return g;
}

/* The sampling rule of cam_heatmap written out in double, one pixel at a
 * time: raw value, or NAN where the pixel centre is off the network input. */
static double ref_sample(const float *map, int h, int w, const cam_geometry *g, int out_w, int out_h, int X, int Y) {
    double x = (X + 0.5) * g->image_w / out_w, y = (Y + 0.5) * g->image_h / out_h;
    double u = (x - g->x0) / g->sx, v = (y - g->y0) / g->sy;
    if (u < 0 || u >= g->net_w || v < 0 || v >= g->net_h) return NAN;
    double a = u * w / g->net_w - 0.5, b = v * h / g->net_h - 0.5;
    if (a < 0) a = 0;
    if (b < 0) b = 0;
    int i0 = (int)floor(a), j0 = (int)floor(b);
    int i1 = i0 + 1 < w ? i0 + 1 : w - 1, j1 = j0 + 1 < h ? j0 + 1 : h - 1;
    if (i0 > w - 1) i0 = w - 1;
    if (j0 > h - 1) j0 = h - 1;
    double fa = a - floor(a), fb = b - floor(b);
    if (i0 == w - 1) fa = 0;
    if (j0 == h - 1) fb = 0;
    double top = map[j0 * w + i0] * (1 - fa) + map[j0 * w + i1] * fa;
    double bot = map[j1 * w + i0] * (1 - fa) + map[j1 * w + i1] * fa;
    return top * (1 - fb) + bot * fb;
}

/* Reference normalised heatmap (doubles). */
static void ref_heatmap(const float *map, int h, int w, const cam_geometry *g, int out_w, int out_h, double *out) {
    double mn = INFINITY, mx = -INFINITY;
    for (int Y = 0; Y < out_h; Y++)
        for (int X = 0; X < out_w; X++) {
            double v = ref_sample(map, h, w, g, out_w, out_h, X, Y);
            out[(size_t)Y * out_w + X] = v;
            if (v == v) mn = v < mn ? v : mn, mx = v > mx ? v : mx;
        }
    for (size_t i = 0; i < (size_t)out_w * out_h; i++) {
        double v = out[i];
        out[i] = (v != v || !(mx > mn)) ? 0.0 : (v - mn) / (mx - mn);
    }
}

/* ---- heatmap ------------------------------------------------------------- */

TEST(heatmap_identity_is_normalised_map) {
    /* net = image = map size: every output centre is a map cell centre, the
     * bilinear weights are exactly 0, and the result is the normalised map
     * bit for bit. */
    static const int sizes[][2] = {{7, 7}, {1, 5}, {13, 4}, {224, 224}};
    unsigned seed = 1;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int w = sizes[s][0], h = sizes[s][1];
        float *map = malloc(sizeof(float) * w * h), *heat = malloc(sizeof(float) * w * h);
        for (int i = 0; i < w * h; i++) map[i] = check_randf(&seed, -3.0f, 5.0f);
        float mn = map[0], mx = map[0];
        for (int i = 0; i < w * h; i++) mn = map[i] < mn ? map[i] : mn, mx = map[i] > mx ? map[i] : mx;
        cam_geometry g = identity_geo(w, h);
        char err[256] = "";
        CHECK(cam_heatmap(map, h, w, &g, w, h, heat, err, sizeof err) == CAM_OK, "%s", err);
        for (int i = 0; i < w * h; i++) {
            float want = (map[i] - mn) / (mx - mn);
            CHECK(heat[i] == want, "%dx%d pixel %d: %.9g, want %.9g", w, h, i, heat[i], want);
        }
        free(map);
        free(heat);
    }
}

TEST(heatmap_2x2_to_4x4_align_corners_false) {
    /* Source coordinate of output i: (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75,
     * 1.25, clamped to 0, 0.25, 0.75, 1 (edge).  Map [[0,4],[8,12]]: rows
     * 0,1,3,4 / +2 / +6 / +8, then /12. */
    const float map[4] = {0, 4, 8, 12};
    const float raw[16] = {0, 1, 3, 4, 2, 3, 5, 6, 6, 7, 9, 10, 8, 9, 11, 12};
    float heat[16];
    char err[256] = "";
    /* The same upsampling whether the network input is 4x4 or 224x224. */
    cam_geometry geos[2] = {identity_geo(4, 4), {0.0, 0.0, 4.0 / 224, 4.0 / 224, 224, 224, 4, 4}};
    for (int gi = 0; gi < 2; gi++) {
        CHECK(cam_heatmap(map, 2, 2, &geos[gi], 4, 4, heat, err, sizeof err) == CAM_OK, "%s", err);
        for (int i = 0; i < 16; i++)
            CHECK(fabsf(heat[i] - raw[i] / 12.0f) < 1e-6f, "geo %d pixel %d: %g, want %g", gi, i, heat[i],
                  raw[i] / 12.0f);
    }
}

TEST(heatmap_matches_reference_stretch) {
    /* Non-integer scale factors in both directions, map sizes 1..14. */
    unsigned seed = 7;
    for (int trial = 0; trial < 40; trial++) {
        int w = 1 + (int)check_randf(&seed, 0, 14), h = 1 + (int)check_randf(&seed, 0, 14);
        int iw = 1 + (int)check_randf(&seed, 0, 600), ih = 1 + (int)check_randf(&seed, 0, 600);
        int ow = 1 + (int)check_randf(&seed, 0, 300), oh = 1 + (int)check_randf(&seed, 0, 300);
        int net = 32 * (1 + (int)check_randf(&seed, 0, 10));
        cam_geometry g = {0.0, 0.0, (double)iw / net, (double)ih / net, net, net, iw, ih};
        float *map = malloc(sizeof(float) * w * h), *heat = malloc(sizeof(float) * ow * oh);
        double *ref = malloc(sizeof(double) * ow * oh);
        for (int i = 0; i < w * h; i++) map[i] = check_randf(&seed, -1.0f, 1.0f);
        char err[256] = "";
        CHECK(cam_heatmap(map, h, w, &g, ow, oh, heat, err, sizeof err) == CAM_OK, "%s", err);
        ref_heatmap(map, h, w, &g, ow, oh, ref);
        for (int i = 0; i < ow * oh; i++)
            CHECK(fabs(heat[i] - ref[i]) < 2e-5, "trial %d map %dx%d out %dx%d pixel %d: %g vs %g", trial, w, h,
                  ow, oh, i, heat[i], ref[i]);
        free(map);
        free(heat);
        free(ref);
    }
}

TEST(heatmap_shorter_side_crop_zeroes_margins) {
    /* Image 400x300, shorter side resized to 256 (about 341x256), centre
     * crop 224x224: sx = sy = 300/256, the network sees x in
     * [58.5*sx, (58.5+224)*sx) = [68.6, 331.1), y in [16*sy, (16+224)*sy) =
     * [18.75, 281.25); everything else was cropped away. */
    const double sx = 300.0 / 256, sy = 300.0 / 256;
    cam_geometry g = {(341 - 224) / 2.0 * sx, (256 - 224) / 2.0 * sy, sx, sy, 224, 224, 400, 300};
    float map[49];
    unsigned seed = 3;
    for (int i = 0; i < 49; i++) map[i] = check_randf(&seed, 2.0f, 9.0f); /* min well above 0 */
    map[24] = 1.0f; /* the minimum in the middle: visible pixels near the crop edges are > 0 */
    static const int outs[][2] = {{400, 300}, {200, 150}, {97, 61}};
    for (int oi = 0; oi < 3; oi++) {
        int ow = outs[oi][0], oh = outs[oi][1];
        float *heat = malloc(sizeof(float) * ow * oh);
        double *ref = malloc(sizeof(double) * ow * oh);
        char err[256] = "";
        CHECK(cam_heatmap(map, 7, 7, &g, ow, oh, heat, err, sizeof err) == CAM_OK, "%s", err);
        ref_heatmap(map, 7, 7, &g, ow, oh, ref);
        int inside = 0, outside = 0;
        float mx = 0;
        for (int Y = 0; Y < oh; Y++)
            for (int X = 0; X < ow; X++) {
                double x = (X + 0.5) * 400 / ow, y = (Y + 0.5) * 300 / oh;
                int seen = x >= g.x0 && x < g.x0 + 224 * sx && y >= g.y0 && y < g.y0 + 224 * sy;
                float v = heat[(size_t)Y * ow + X];
                if (!seen) {
                    CHECK(v == 0.0f, "out %dx%d: cropped pixel (%d,%d) = %g", ow, oh, X, Y, v);
                    outside++;
                } else {
                    inside++;
                }
                CHECK(fabs(v - ref[(size_t)Y * ow + X]) < 2e-5, "out %dx%d (%d,%d): %g vs %g", ow, oh, X, Y, v,
                      ref[(size_t)Y * ow + X]);
                mx = v > mx ? v : mx;
            }
        CHECK(inside > 0 && outside > 0, "inside %d outside %d", inside, outside);
        CHECK(mx == 1.0f, "max %g", mx);
        /* Full-size output: pixel centres X + 0.5; columns 0..68 and
         * 331..399, rows 0..18 and 281..299 are cropped away. */
        if (ow == 400)
            for (int i = 0; i < 400; i++) {
                int vis_x = i >= 69 && i <= 330, vis_y = i >= 19 && i <= 280;
                if (!vis_x) CHECK(heat[150 * 400 + i] == 0.0f, "cropped column %d", i);
                if (i < 300 && !vis_y) CHECK(heat[i * 400 + 200] == 0.0f, "cropped row %d", i);
                if (vis_x && vis_y && i < 300) CHECK(heat[i * 400 + i] > 0.0f, "visible pixel (%d,%d) is 0", i, i);
            }
        free(heat);
        free(ref);
    }
}

TEST(heatmap_normalised_min0_max1) {
    unsigned seed = 11;
    for (int trial = 0; trial < 30; trial++) {
        int w = 2 + (int)check_randf(&seed, 0, 12), h = 2 + (int)check_randf(&seed, 0, 12);
        int ow = 10 + (int)check_randf(&seed, 0, 400), oh = 10 + (int)check_randf(&seed, 0, 400);
        float scale = check_randf(&seed, 1e-3f, 1e3f), shift = check_randf(&seed, -1e3f, 1e3f);
        float *map = malloc(sizeof(float) * w * h), *heat = malloc(sizeof(float) * ow * oh);
        for (int i = 0; i < w * h; i++) map[i] = shift + scale * check_randf(&seed, 0, 1);
        cam_geometry g = {0, 0, (double)ow / 224, (double)oh / 224, 224, 224, ow, oh};
        char err[256] = "";
        CHECK(cam_heatmap(map, h, w, &g, ow, oh, heat, err, sizeof err) == CAM_OK, "%s", err);
        float mn = 2, mx = -1;
        for (int i = 0; i < ow * oh; i++) mn = heat[i] < mn ? heat[i] : mn, mx = heat[i] > mx ? heat[i] : mx;
        CHECK(mn == 0.0f && mx == 1.0f, "trial %d: min %.9g max %.9g", trial, mn, mx);
        free(map);
        free(heat);
    }
}

TEST(heatmap_constant_and_invisible_are_zero) {
    float map[12], heat[50 * 40];
    for (int i = 0; i < 12; i++) map[i] = 0.37f;
    cam_geometry g = {0, 0, 50.0 / 224, 40.0 / 224, 224, 224, 50, 40};
    char err[256] = "";
    for (int i = 0; i < 50 * 40; i++) heat[i] = -1;
    CHECK(cam_heatmap(map, 3, 4, &g, 50, 40, heat, err, sizeof err) == CAM_OK, "%s", err);
    for (int i = 0; i < 50 * 40; i++) CHECK(heat[i] == 0.0f, "constant map pixel %d = %g", i, heat[i]);
    /* Network input entirely off the image (nonsense geometry, still valid). */
    map[5] = 2.0f;
    cam_geometry off = {1e6, 0, 1, 1, 224, 224, 50, 40};
    for (int i = 0; i < 50 * 40; i++) heat[i] = -1;
    CHECK(cam_heatmap(map, 3, 4, &off, 50, 40, heat, err, sizeof err) == CAM_OK, "%s", err);
    for (int i = 0; i < 50 * 40; i++) CHECK(heat[i] == 0.0f, "invisible pixel %d = %g", i, heat[i]);
}

TEST(heatmap_rejects_bad_arguments) {
    float map[4] = {0, 1, 2, 3}, heat[16];
    cam_geometry g = identity_geo(4, 4);
    char err[256];
    struct {
        const float *map;
        int h, w, ow, oh;
        cam_geometry geo;
        cam_status want;
    } cases[] = {
        {map, 0, 2, 4, 4, identity_geo(4, 4), CAM_EINVAL},
        {map, 2, -1, 4, 4, identity_geo(4, 4), CAM_EINVAL},
        {map, 2, 2, 0, 4, identity_geo(4, 4), CAM_EINVAL},
        {map, 2, 2, 4, 4, {0, 0, 0.0, 1, 4, 4, 4, 4}, CAM_EINVAL},
        {map, 2, 2, 4, 4, {0, 0, 1, -1, 4, 4, 4, 4}, CAM_EINVAL},
        {map, 2, 2, 4, 4, {NAN, 0, 1, 1, 4, 4, 4, 4}, CAM_EINVAL},
        {map, 2, 2, 4, 4, {0, 0, 1, INFINITY, 4, 4, 4, 4}, CAM_EINVAL},
        {map, 2, 2, 4, 4, {0, 0, 1, 1, 0, 4, 4, 4}, CAM_EINVAL},
        {map, 2, 2, 4, 4, {0, 0, 1, 1, 4, 4, 4, 0}, CAM_EINVAL},
        {NULL, 2, 2, 4, 4, identity_geo(4, 4), CAM_EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = 0;
        cam_status st = cam_heatmap(cases[i].map, cases[i].h, cases[i].w, &cases[i].geo, cases[i].ow, cases[i].oh,
                                    heat, err, sizeof err);
        CHECK(st == cases[i].want, "case %zu: %s", i, cam_status_str(st));
        CHECK(err[0] != 0, "case %zu: no message", i);
    }
    CHECK(cam_heatmap(map, 2, 2, NULL, 4, 4, heat, err, sizeof err) == CAM_EINVAL, "NULL geo");
    float bad[4] = {0, NAN, 1, 2};
    err[0] = 0;
    CHECK(cam_heatmap(bad, 2, 2, &g, 4, 4, heat, err, sizeof err) == CAM_EINVAL && err[0], "NaN map");
    float huge[4] = {-3e38f, 3e38f, 0, 0};
    CHECK(cam_heatmap(huge, 2, 2, &g, 4, 4, heat, err, sizeof err) == CAM_ELIMIT, "range overflow");
    /* err may be NULL */
    CHECK(cam_heatmap(map, 0, 2, &g, 4, 4, heat, NULL, 0) == CAM_EINVAL, "NULL err");
}

/* ---- boxes ----------------------------------------------------------------- */

/* A heat grid from text: '#' = 1, '.' = 0, a digit d = d / 10. */
static float *pattern(const char *const *rows, int h, int *w_out) {
    int w = (int)strlen(rows[0]);
    float *g = malloc(sizeof(float) * w * h);
    for (int y = 0; y < h; y++) {
        CHECK((int)strlen(rows[y]) == w, "ragged pattern row %d", y);
        for (int x = 0; x < w; x++) {
            char c = rows[y][x];
            g[y * w + x] = c == '#' ? 1.0f : c == '.' ? 0.0f : (float)(c - '0') / 10.0f;
        }
    }
    *w_out = w;
    return g;
}

static void run_boxes(const float *heat, int w, int h, int iw, int ih, float thr, cam_boxes_mode mode, float min_area,
                      cam_box *boxes, int max_boxes, int *n) {
    char err[256] = "";
    cam_status st = cam_boxes(heat, w, h, iw, ih, thr, mode, min_area, boxes, max_boxes, n, err, sizeof err);
    CHECK(st == CAM_OK, "cam_boxes: %s: %s", cam_status_str(st), err);
}

#define CHECK_BOX(b, X0, Y0, X1, Y1)                                                                        \
    CHECK((b).x0 == (X0) && (b).y0 == (Y0) && (b).x1 == (X1) && (b).y1 == (Y1), "box %d,%d..%d,%d want %d,%d..%d,%d", \
          (b).x0, (b).y0, (b).x1, (b).y1, X0, Y0, X1, Y1)

TEST(boxes_single_rectangle) {
    int w = 20, h = 15;
    float *g = calloc((size_t)w * h, sizeof(float));
    for (int y = 4; y <= 10; y++)
        for (int x = 3; x <= 8; x++) g[y * w + x] = 0.9f;
    g[7 * w + 5] = 1.0f;
    cam_box b[4];
    int n = -1;
    for (int mode = 0; mode < 2; mode++) {
        run_boxes(g, w, h, w, h, 0.2f, (cam_boxes_mode)mode, 0.0f, b, 4, &n);
        CHECK(n == 1, "mode %d: %d boxes", mode, n);
        CHECK_BOX(b[0], 3, 4, 8, 10);
        float want = (41 * 0.9f + 1.0f) / 42;
        CHECK(fabsf(b[0].score - want) < 1e-6f, "score %g want %g", b[0].score, want);
    }
    free(g);
}

TEST(boxes_two_blobs_largest_all_min_area) {
    static const char *const rows[] = {
        "........",
        ".#####..",
        ".#####..",
        ".#####..",
        ".#####..",
        ".#####..",
        ".......#",
        "......##",
    };
    int w, h = 8;
    float *g = pattern(rows, h, &w);
    cam_box b[4];
    int n;
    run_boxes(g, w, h, w, h, 0.5f, CAM_BOXES_LARGEST, 0.0f, b, 4, &n);
    CHECK(n == 1, "%d boxes", n);
    CHECK_BOX(b[0], 1, 1, 5, 5);
    run_boxes(g, w, h, w, h, 0.5f, CAM_BOXES_ALL, 0.0f, b, 4, &n);
    CHECK(n == 2, "%d boxes", n);
    CHECK_BOX(b[0], 1, 1, 5, 5);
    CHECK_BOX(b[1], 6, 6, 7, 7);
    /* min_area is a fraction of the 64-pixel grid and inclusive: 3/64 keeps
     * the 3-pixel blob, 4/64 drops it. */
    run_boxes(g, w, h, w, h, 0.5f, CAM_BOXES_ALL, 3.0f / 64, b, 4, &n);
    CHECK(n == 2, "min_area 3/64: %d boxes", n);
    run_boxes(g, w, h, w, h, 0.5f, CAM_BOXES_ALL, 4.0f / 64, b, 4, &n);
    CHECK(n == 1, "min_area 4/64: %d boxes", n);
    CHECK_BOX(b[0], 1, 1, 5, 5);
    run_boxes(g, w, h, w, h, 0.5f, CAM_BOXES_ALL, 26.0f / 64, b, 4, &n);
    CHECK(n == 0, "min_area 26/64: %d boxes", n);
    /* max_boxes caps the output, largest first; 0 writes nothing. */
    run_boxes(g, w, h, w, h, 0.5f, CAM_BOXES_ALL, 0.0f, b, 1, &n);
    CHECK(n == 1, "max_boxes 1: %d", n);
    CHECK_BOX(b[0], 1, 1, 5, 5);
    run_boxes(g, w, h, w, h, 0.5f, CAM_BOXES_LARGEST, 0.0f, NULL, 0, &n);
    CHECK(n == 0, "max_boxes 0: %d", n);
    free(g);
}

TEST(boxes_diagonal_connectivity) {
    /* Pixels touching only at corners are one component under 8-connectivity;
     * a one-pixel gap separates. */
    static const char *const diag[] = {
        "#.......#",
        ".#.....#.",
        "..#...#..",
        "...#.#...",
        "....#....",
        ".........",
        "#.#.#.#.#",
    };
    int w, h = 7;
    float *g = pattern(diag, h, &w);
    cam_box b[8];
    int n;
    run_boxes(g, w, h, w, h, 0.5f, CAM_BOXES_ALL, 0.0f, b, 8, &n);
    CHECK(n == 6, "%d components, want the V and five dots", n);
    CHECK_BOX(b[0], 0, 0, 8, 4);
    free(g);
    /* A checkerboard at least 2 wide is one component: every square touches
     * its diagonal neighbours.  Widths around the 8-pixel word of the run
     * scanner.  One column wide, the squares are isolated. */
    float col[5] = {1, 0, 1, 0, 1};
    run_boxes(col, 1, 5, 1, 5, 0.5f, CAM_BOXES_ALL, 0.0f, b, 8, &n);
    CHECK(n == 3, "checkerboard width 1: %d components", n);
    for (int cw = 2; cw <= 19; cw++) {
        int ch = 7;
        float *c = malloc(sizeof(float) * cw * ch);
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++) c[y * cw + x] = (float)((x + y) % 2 == 0);
        run_boxes(c, cw, ch, cw, ch, 0.5f, CAM_BOXES_ALL, 0.0f, b, 8, &n);
        CHECK(n == 1, "checkerboard width %d: %d components", cw, n);
        CHECK_BOX(b[0], 0, 0, cw - 1, ch - 1);
        free(c);
    }
}

TEST(boxes_u_comb_spiral_merge_late) {
    cam_box b[8];
    int n, w;
    /* U: the arms are separate runs until the last row joins them. */
    static const char *const u[] = {
        "#.....#", "#.....#", "#.....#", "#.....#", "#######",
    };
    float *g = pattern(u, 5, &w);
    run_boxes(g, w, 5, w, 5, 0.5f, CAM_BOXES_ALL, 0.0f, b, 8, &n);
    CHECK(n == 1, "U: %d components", n);
    CHECK_BOX(b[0], 0, 0, 6, 4);
    free(g);
    /* Comb whose teeth meet diagonally on the last row only, and an upside
     * down one: equivalences chain across many labels. */
    static const char *const comb[] = {
        "#.#.#.#.#.#.#.#.#.#", "#.#.#.#.#.#.#.#.#.#", "#.#.#.#.#.#.#.#.#.#", ".#.#.#.#.#.#.#.#.#.",
    };
    g = pattern(comb, 4, &w);
    run_boxes(g, w, 4, w, 4, 0.5f, CAM_BOXES_ALL, 0.0f, b, 8, &n);
    CHECK(n == 1, "comb: %d components", n);
    CHECK_BOX(b[0], 0, 0, 18, 3);
    free(g);
    /* Nested: a ring with an island inside, and a staircase of blocks that
     * joins right to left. */
    static const char *const nest[] = {
        "#########....#", "#.......#...##", "#..###..#..##.", "#..###..#.##..",
        "#.......#.#...", "#########.....",
    };
    g = pattern(nest, 6, &w);
    run_boxes(g, w, 6, w, 6, 0.5f, CAM_BOXES_ALL, 0.0f, b, 8, &n);
    CHECK(n == 3, "nest: %d components", n);
    CHECK_BOX(b[0], 0, 0, 8, 5);   /* ring: 32 pixels */
    CHECK_BOX(b[1], 10, 0, 13, 4); /* staircase: 8 pixels */
    CHECK_BOX(b[2], 3, 2, 5, 3);   /* island: 6 pixels */
    free(g);
    /* Square spiral with one-pixel gaps between its turns: one path. */
    for (int s = 5; s <= 41; s += 4) {
        float *sp = calloc((size_t)s * s, sizeof(float));
        int x = 0, y = 0, dx = 1, dy = 0, len = s - 1, seg = 0, on = 1;
        sp[0] = 1;
        while (len > 0) {
            for (int i = 0; i < len; i++) {
                x += dx, y += dy;
                on += sp[y * s + x] == 0;
                sp[y * s + x] = 1;
            }
            int t = dx;                 /* turn clockwise */
            dx = -dy, dy = t;
            seg++;
            if (seg >= 3 && seg % 2 == 1) len -= 2;
        }
        run_boxes(sp, s, s, s, s, 0.5f, CAM_BOXES_ALL, 0.0f, b, 8, &n);
        CHECK(n == 1, "spiral %d: %d components", s, n);
        CHECK_BOX(b[0], 0, 0, s - 1, s - 1);
        CHECK(fabsf(b[0].score - (float)on / (s * s)) < 1e-6f, "spiral %d score %g, %d pixels", s, b[0].score, on);
        free(sp);
    }
}

TEST(boxes_touching_borders) {
    cam_box b[8];
    int n, w;
    static const char *const rows[] = {
        "##.....##", "#.......#", ".........", "....#....", "#.......#", "##.....##",
    };
    float *g = pattern(rows, 6, &w);
    run_boxes(g, w, 6, w, 6, 0.5f, CAM_BOXES_ALL, 0.0f, b, 8, &n);
    CHECK(n == 5, "%d components", n);
    for (int i = 0; i < 4; i++) CHECK(b[i].x0 == 0 || b[i].x1 == 8, "corner box %d", i);
    CHECK_BOX(b[4], 4, 3, 4, 3);
    free(g);
    /* Mask = whole grid, widths around the word size, and 1x1. */
    for (int gw = 1; gw <= 17; gw++) {
        float *f = malloc(sizeof(float) * gw * 3);
        for (int i = 0; i < gw * 3; i++) f[i] = 1.0f;
        run_boxes(f, gw, 3, gw, 3, 0.5f, CAM_BOXES_LARGEST, 0.0f, b, 1, &n);
        CHECK(n == 1, "full width %d", gw);
        CHECK_BOX(b[0], 0, 0, gw - 1, 2);
        CHECK(b[0].score == 1.0f, "score %g", b[0].score);
        free(f);
    }
    float one = 0.5f;
    run_boxes(&one, 1, 1, 1, 1, 0.2f, CAM_BOXES_LARGEST, 0.0f, b, 1, &n);
    CHECK(n == 1, "1x1");
    CHECK_BOX(b[0], 0, 0, 0, 0);
}

TEST(boxes_threshold_inclusive_empty_full) {
    static const char *const rows[] = {
        "..........", ".55555....", ".5####5...", ".55555....", "..........", "........33",
    };
    int w, h = 6;
    float *g = pattern(rows, h, &w);
    cam_box b[4];
    int n;
    /* 0.5 equals the '5' pixels exactly (0.5 * max 1 is exact): included. */
    run_boxes(g, w, h, w, h, 0.5f, CAM_BOXES_LARGEST, 0.0f, b, 4, &n);
    CHECK(n == 1, "%d", n);
    CHECK_BOX(b[0], 1, 1, 6, 3);
    run_boxes(g, w, h, w, h, 0.50001f, CAM_BOXES_LARGEST, 0.0f, b, 4, &n);
    CHECK_BOX(b[0], 2, 2, 5, 2);
    /* 0.3 is not exactly representable: 0.3f * 1.0f == (float)(3 / 10.0f). */
    run_boxes(g, w, h, w, h, 0.3f, CAM_BOXES_ALL, 0.0f, b, 4, &n);
    CHECK(n == 2, "0.3: %d", n);
    CHECK_BOX(b[1], 8, 5, 9, 5);
    /* Above the maximum: no boxes, not an error. */
    run_boxes(g, w, h, w, h, 1.0001f, CAM_BOXES_LARGEST, 0.0f, b, 4, &n);
    CHECK(n == 0, "threshold > 1: %d", n);
    run_boxes(g, w, h, w, h, 1.0f, CAM_BOXES_LARGEST, 0.0f, b, 4, &n);
    CHECK(n == 1, "threshold 1: %d", n);
    CHECK_BOX(b[0], 2, 2, 5, 2);
    /* Threshold 0 (MaxBoxAcc's first point) keeps every pixel. */
    run_boxes(g, w, h, w, h, 0.0f, CAM_BOXES_LARGEST, 0.0f, b, 4, &n);
    CHECK_BOX(b[0], 0, 0, w - 1, h - 1);
    /* Unnormalised input: threshold times its maximum gives the same boxes. */
    for (int i = 0; i < w * h; i++) g[i] *= 8.0f;
    run_boxes(g, w, h, w, h, 0.5f, CAM_BOXES_LARGEST, 0.0f, b, 4, &n);
    CHECK_BOX(b[0], 1, 1, 6, 3);
    /* An all-zero heatmap (flat CAM): every pixel is >= 0.2 * 0. */
    memset(g, 0, sizeof(float) * w * h);
    run_boxes(g, w, h, w, h, 0.2f, CAM_BOXES_LARGEST, 0.0f, b, 4, &n);
    CHECK(n == 1, "flat: %d", n);
    CHECK_BOX(b[0], 0, 0, w - 1, h - 1);
    free(g);
}

TEST(boxes_scaled_to_image) {
    int w = 10, h = 10;
    float g[100] = {0};
    for (int y = 0; y < 10; y++)
        for (int x = 2; x <= 4; x++) g[y * w + x] = 1.0f;
    cam_box b[2];
    int n;
    /* Grid cell i covers image [i * 22.7, (i + 1) * 22.7): cells 2..4 ->
     * floor(45.4) = 45 .. ceil(113.5) - 1 = 113; rows 0..9 -> 0..226. */
    run_boxes(g, w, h, 227, 227, 0.5f, CAM_BOXES_LARGEST, 0.0f, b, 2, &n);
    CHECK_BOX(b[0], 45, 0, 113, 226);
    /* Integer ratio: cells 2..4 of 10 over 100 pixels -> 20..49. */
    run_boxes(g, w, h, 100, 50, 0.5f, CAM_BOXES_LARGEST, 0.0f, b, 2, &n);
    CHECK_BOX(b[0], 20, 0, 49, 49);
    /* Grid finer than the image: 10 cells over 3 pixels; cells 2..4 span
     * [0.6, 1.5) -> pixels 0..1. */
    run_boxes(g, w, h, 3, 1, 0.5f, CAM_BOXES_LARGEST, 0.0f, b, 2, &n);
    CHECK_BOX(b[0], 0, 0, 1, 0);
    /* Last cell maps onto the last pixel, never past it. */
    float e[12] = {0};
    e[11] = 1.0f;
    run_boxes(e, 4, 3, 31, 17, 0.5f, CAM_BOXES_LARGEST, 0.0f, b, 2, &n);
    CHECK_BOX(b[0], 23, 11, 30, 16); /* floor(3 * 31 / 4) = 23, floor(2 * 17 / 3) = 11 */
}

TEST(boxes_score_and_ties) {
    cam_box b[4];
    int n, w;
    /* L shape: the box also covers three background pixels. */
    static const char *const l[] = {"#..", "#..", "###"};
    float *g = pattern(l, 3, &w);
    g[0] = 0.6f;
    run_boxes(g, w, 3, w, 3, 0.5f, CAM_BOXES_LARGEST, 0.0f, b, 1, &n);
    CHECK_BOX(b[0], 0, 0, 2, 2);
    CHECK(fabsf(b[0].score - 4.6f / 9) < 1e-6f, "L score %g", b[0].score);
    free(g);
    /* Same area: the larger heat sum wins, wherever it is. */
    static const char *const tie[] = {"66.##", "66.##", ".....", "99...", "99..."};
    g = pattern(tie, 5, &w);
    run_boxes(g, w, 5, w, 5, 0.5f, CAM_BOXES_LARGEST, 0.0f, b, 1, &n);
    CHECK_BOX(b[0], 3, 0, 4, 1);
    run_boxes(g, w, 5, w, 5, 0.5f, CAM_BOXES_ALL, 0.0f, b, 4, &n);
    CHECK(n == 3, "%d", n);
    CHECK_BOX(b[0], 3, 0, 4, 1);
    CHECK_BOX(b[1], 0, 3, 1, 4);
    CHECK_BOX(b[2], 0, 0, 1, 1);
    /* Same area and heat: raster order of the first pixel. */
    for (int i = 0; i < 25; i++) g[i] = g[i] > 0 ? 1.0f : 0.0f;
    run_boxes(g, w, 5, w, 5, 0.5f, CAM_BOXES_LARGEST, 0.0f, b, 1, &n);
    CHECK_BOX(b[0], 0, 0, 1, 1);
    run_boxes(g, w, 5, w, 5, 0.5f, CAM_BOXES_ALL, 0.0f, b, 4, &n);
    CHECK_BOX(b[1], 3, 0, 4, 1);
    CHECK_BOX(b[2], 0, 3, 1, 4);
    free(g);
}

/* ---- random masks against a BFS labelling ---------------------------------- */

typedef struct {
    long area;
    int x0, y0, x1, y1;
    double heat;
    long first;
} ref_comp;

static int ref_cmp(const void *pa, const void *pb) {
    const ref_comp *a = pa, *b = pb;
    if (a->area != b->area) return a->area > b->area ? -1 : 1;
    if (a->heat != b->heat) return a->heat > b->heat ? -1 : 1;
    return (a->first > b->first) - (a->first < b->first);
}

/* Breadth-first flood fill over the 8 neighbours; components in raster order
 * of their first pixel, then sorted like cam_boxes. */
static int ref_components(const float *heat, int w, int h, float t, ref_comp *out) {
    int *lab = malloc(sizeof(int) * w * h), *queue = malloc(sizeof(int) * w * h);
    for (int i = 0; i < w * h; i++) lab[i] = -1;
    int nc = 0;
    for (int s = 0; s < w * h; s++) {
        if (lab[s] >= 0 || !(heat[s] >= t)) continue;
        ref_comp c = {0, s % w, s / w, s % w, s / w, 0.0, s};
        int qh = 0, qt = 0;
        queue[qt++] = s;
        lab[s] = nc;
        while (qh < qt) {
            int p = queue[qh++], px = p % w, py = p / w;
            c.area++;
            c.heat += heat[p];
            c.x0 = px < c.x0 ? px : c.x0, c.x1 = px > c.x1 ? px : c.x1;
            c.y0 = py < c.y0 ? py : c.y0, c.y1 = py > c.y1 ? py : c.y1;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int qx = px + dx, qy = py + dy;
                    if (qx < 0 || qy < 0 || qx >= w || qy >= h) continue;
                    int q = qy * w + qx;
                    if (lab[q] < 0 && heat[q] >= t) lab[q] = nc, queue[qt++] = q;
                }
        }
        out[nc++] = c;
    }
    free(lab);
    free(queue);
    qsort(out, (size_t)nc, sizeof *out, ref_cmp);
    return nc;
}

static void ref_scale(int g0, int g1, int n, int image_n, int *o0, int *o1) {
    int a = (int)floor((double)g0 * image_n / n), b = (int)ceil((double)(g1 + 1) * image_n / n) - 1;
    *o0 = a < 0 ? 0 : a > image_n - 1 ? image_n - 1 : a;
    *o1 = b < 0 ? 0 : b > image_n - 1 ? image_n - 1 : b;
}

TEST(boxes_random_vs_bfs) {
    unsigned seed = 12345;
    int total_comps = 0;
    for (int trial = 0; trial < 200; trial++) {
        int w = 1 + (int)check_randf(&seed, 0, 48), h = 1 + (int)check_randf(&seed, 0, 40);
        int iw = trial % 3 == 0 ? w : 1 + (int)check_randf(&seed, 0, 500);
        int ih = trial % 3 == 0 ? h : 1 + (int)check_randf(&seed, 0, 500);
        float density = check_randf(&seed, 0.05f, 0.8f);
        float thr = trial % 5 == 0 ? 0.5f : check_randf(&seed, 0.0f, 1.0f);
        /* Heat in multiples of 1/64: every sum is exact in float and double,
         * so ties in heat are real ties on both sides. */
        float *g = malloc(sizeof(float) * w * h);
        for (int i = 0; i < w * h; i++) {
            int on = check_randf(&seed, 0, 1) < density;
            int q = (int)check_randf(&seed, 0, 64);
            g[i] = on ? (float)(32 + q / 2) / 64.0f : (float)(q / 2) / 64.0f;
        }
        float mx = 0;
        for (int i = 0; i < w * h; i++) mx = g[i] > mx ? g[i] : mx;
        ref_comp *ref = malloc(sizeof(ref_comp) * (w * h + 1));
        int nref = ref_components(g, w, h, thr * mx, ref);
        total_comps += nref;
        int cap = w * h + 1;
        cam_box *b = malloc(sizeof(cam_box) * cap);
        int n;
        run_boxes(g, w, h, iw, ih, thr, CAM_BOXES_ALL, 0.0f, b, cap, &n);
        CHECK(n == nref, "trial %d (%dx%d, thr %g): %d components, BFS %d", trial, w, h, thr, n, nref);
        for (int i = 0; i < n; i++) {
            int x0, x1, y0, y1;
            ref_scale(ref[i].x0, ref[i].x1, w, iw, &x0, &x1);
            ref_scale(ref[i].y0, ref[i].y1, h, ih, &y0, &y1);
            CHECK(b[i].x0 == x0 && b[i].x1 == x1 && b[i].y0 == y0 && b[i].y1 == y1,
                  "trial %d comp %d (area %ld): %d,%d..%d,%d want %d,%d..%d,%d", trial, i, ref[i].area, b[i].x0,
                  b[i].y0, b[i].x1, b[i].y1, x0, y0, x1, y1);
            double s = 0;
            for (int y = ref[i].y0; y <= ref[i].y1; y++)
                for (int x = ref[i].x0; x <= ref[i].x1; x++) s += g[y * w + x];
            s /= (double)(ref[i].x1 - ref[i].x0 + 1) * (ref[i].y1 - ref[i].y0 + 1);
            CHECK(fabs(b[i].score - s) < 1e-6, "trial %d comp %d score %g want %g", trial, i, b[i].score, s);
        }
        /* LARGEST is the first of ALL; min_area keeps a prefix. */
        cam_box one;
        run_boxes(g, w, h, iw, ih, thr, CAM_BOXES_LARGEST, 0.0f, &one, 1, &n);
        CHECK(n == (nref > 0), "trial %d: LARGEST gave %d", trial, n);
        if (n) CHECK(memcmp(&one, &b[0], sizeof one) == 0, "trial %d: LARGEST differs from ALL[0]", trial);
        if (nref > 0) {
            long cut = ref[nref / 2].area;
            int keep = 0;
            while (keep < nref && ref[keep].area >= cut) keep++;
            run_boxes(g, w, h, iw, ih, thr, CAM_BOXES_ALL, (float)((cut - 0.5) / ((double)w * h)), b, cap, &n);
            CHECK(n == keep, "trial %d: min_area %ld px kept %d, want %d", trial, cut, n, keep);
        }
        free(g);
        free(ref);
        free(b);
    }
    CHECK(total_comps > 2000, "random masks too easy: %d components in all", total_comps);
}

TEST(boxes_rejects_bad_arguments) {
    float g[4] = {0, 1, 0, 1};
    cam_box b[2];
    int n = 7;
    char err[256];
    struct {
        int w, h, iw, ih;
        float thr, min_area;
        int mode, max_boxes;
    } cases[] = {
        {0, 2, 2, 2, 0.2f, 0, 0, 2},     {2, -1, 2, 2, 0.2f, 0, 0, 2},      {2, 2, 0, 2, 0.2f, 0, 0, 2},
        {2, 2, 2, -5, 0.2f, 0, 0, 2},    {2, 2, 2, 2, NAN, 0, 0, 2},        {2, 2, 2, 2, INFINITY, 0, 0, 2},
        {2, 2, 2, 2, 0.2f, NAN, 1, 2},   {2, 2, 2, 2, 0.2f, 0, 2, 2},       {2, 2, 2, 2, 0.2f, 0, -1, 2},
        {2, 2, 2, 2, 0.2f, 0, 0, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = 0;
        n = 7;
        cam_status st = cam_boxes(g, cases[i].w, cases[i].h, cases[i].iw, cases[i].ih, cases[i].thr,
                                  (cam_boxes_mode)cases[i].mode, cases[i].min_area, b, cases[i].max_boxes, &n, err,
                                  sizeof err);
        CHECK(st == CAM_EINVAL, "case %zu: %s", i, cam_status_str(st));
        CHECK(err[0] != 0 && n == 0, "case %zu: message '%s', n %d", i, err, n);
    }
    CHECK(cam_boxes(NULL, 2, 2, 2, 2, 0.2f, CAM_BOXES_ALL, 0, b, 2, &n, err, sizeof err) == CAM_EINVAL, "NULL heat");
    CHECK(cam_boxes(g, 2, 2, 2, 2, 0.2f, CAM_BOXES_ALL, 0, NULL, 2, &n, err, sizeof err) == CAM_EINVAL, "NULL boxes");
    CHECK(cam_boxes(g, 2, 2, 2, 2, 0.2f, CAM_BOXES_ALL, 0, b, 2, NULL, NULL, 0) == CAM_EINVAL, "NULL n_boxes");
    float bad[4] = {0, 1, INFINITY, 0};
    err[0] = 0;
    CHECK(cam_boxes(bad, 2, 2, 2, 2, 0.2f, CAM_BOXES_ALL, 0, b, 2, &n, err, sizeof err) == CAM_EINVAL && err[0],
          "infinite heat");
    bad[2] = NAN;
    CHECK(cam_boxes(bad, 2, 2, 2, 2, 0.2f, CAM_BOXES_ALL, 0, b, 2, &n, err, sizeof err) == CAM_EINVAL, "NaN heat");
    CHECK(cam_boxes(g, 65536, 65536, 2, 2, 0.2f, CAM_BOXES_ALL, 0, b, 2, &n, err, sizeof err) == CAM_ELIMIT,
          "2^32 pixels");
}

/* ---- IoU --------------------------------------------------------------------- */

TEST(iou_inclusive_corners) {
    cam_box a = {0, 0, 9, 9, 0}, b = a;
    CHECK(cam_box_iou(&a, &b) == 1.0, "identical");
    b = (cam_box){10, 0, 19, 9, 0};
    CHECK(cam_box_iou(&a, &b) == 0.0, "adjacent, disjoint");
    b = (cam_box){50, 50, 60, 60, 0};
    CHECK(cam_box_iou(&a, &b) == 0.0, "far apart");
    /* x 0..9 vs 5..14, same rows: 50 / (100 + 100 - 50) */
    b = (cam_box){5, 0, 14, 9, 0};
    CHECK(fabs(cam_box_iou(&a, &b) - 1.0 / 3) < 1e-12, "half shift: %g", cam_box_iou(&a, &b));
    CHECK(cam_box_iou(&b, &a) == cam_box_iou(&a, &b), "symmetric");
    b = (cam_box){5, 5, 14, 14, 0};
    CHECK(fabs(cam_box_iou(&a, &b) - 25.0 / 175) < 1e-12, "diagonal shift: %g", cam_box_iou(&a, &b));
    /* Sharing one column: 10 / 190. */
    b = (cam_box){9, 0, 18, 9, 0};
    CHECK(fabs(cam_box_iou(&a, &b) - 10.0 / 190) < 1e-12, "one shared column: %g", cam_box_iou(&a, &b));
    /* Contained: 4 / 100; single pixels. */
    b = (cam_box){3, 3, 4, 4, 0};
    CHECK(fabs(cam_box_iou(&a, &b) - 0.04) < 1e-12, "contained: %g", cam_box_iou(&a, &b));
    cam_box p = {7, 7, 7, 7, 0}, q = p;
    CHECK(cam_box_iou(&p, &q) == 1.0, "one pixel");
    /* Degenerate boxes have no area. */
    cam_box d = {5, 5, 4, 8, 0};
    CHECK(cam_box_iou(&a, &d) == 0.0 && cam_box_iou(&d, &d) == 0.0, "degenerate");
    /* The paper's criterion on a realistic pair (227x227 image). */
    cam_box gt = {61, 40, 180, 200, 0}, pr = {70, 50, 200, 190, 0};
    double inter = 111.0 * 141, uni = 120.0 * 161 + 131.0 * 141 - inter;
    CHECK(fabs(cam_box_iou(&gt, &pr) - inter / uni) < 1e-12, "realistic: %g", cam_box_iou(&gt, &pr));
}

/* ---- timings ----------------------------------------------------------------- */

TEST(perf_heatmap_and_boxes) {
    /* A 7x7 CAM with one strong blob and a weaker one, upsampled to the whole
     * image (stretch geometry), then LARGEST at 0.2.  Median of 50. */
    static const int sizes[][2] = {{227, 227}, {512, 341}, {1024, 768}};
    float map[49];
    for (int y = 0; y < 7; y++)
        for (int x = 0; x < 7; x++)
            map[y * 7 + x] = 9.0f * expf(-((x - 2.0f) * (x - 2.0f) + (y - 3.0f) * (y - 3.0f)) / 3.0f) +
                             4.0f * expf(-((x - 5.5f) * (x - 5.5f) + (y - 1.0f) * (y - 1.0f)) / 1.5f) - 1.0f;
    for (int s = 0; s < 3; s++) {
        int W = sizes[s][0], H = sizes[s][1];
        float *heat = malloc(sizeof(float) * W * H);
        cam_geometry g = {0, 0, W / 224.0, H / 224.0, 224, 224, W, H};
        double th[50], tb[50];
        cam_box b;
        int n = 0;
        char err[256] = "";
        for (int r = 0; r < 50; r++) {
            double t0 = now_ms();
            CHECK(cam_heatmap(map, 7, 7, &g, W, H, heat, err, sizeof err) == CAM_OK, "%s", err);
            double t1 = now_ms();
            CHECK(cam_boxes(heat, W, H, W, H, 0.2f, CAM_BOXES_LARGEST, 0, &b, 1, &n, err, sizeof err) == CAM_OK,
                  "%s", err);
            double t2 = now_ms();
            th[r] = t1 - t0;
            tb[r] = t2 - t1;
        }
        qsort(th, 50, sizeof(double), cmp_d);
        qsort(tb, 50, sizeof(double), cmp_d);
        CHECK(n == 1, "no box");
        printf("# %4dx%-4d heatmap %.3f ms  boxes %.3f ms  (median of 50)  box %d,%d..%d,%d score %.2f\n", W, H,
               th[25], tb[25], b.x0, b.y0, b.x1, b.y1, b.score);
        free(heat);
    }
}

int main(void) {
    RUN(heatmap_identity_is_normalised_map);
    RUN(heatmap_2x2_to_4x4_align_corners_false);
    RUN(heatmap_matches_reference_stretch);
    RUN(heatmap_shorter_side_crop_zeroes_margins);
    RUN(heatmap_normalised_min0_max1);
    RUN(heatmap_constant_and_invisible_are_zero);
    RUN(heatmap_rejects_bad_arguments);
    RUN(boxes_single_rectangle);
    RUN(boxes_two_blobs_largest_all_min_area);
    RUN(boxes_diagonal_connectivity);
    RUN(boxes_u_comb_spiral_merge_late);
    RUN(boxes_touching_borders);
    RUN(boxes_threshold_inclusive_empty_full);
    RUN(boxes_scaled_to_image);
    RUN(boxes_score_and_ties);
    RUN(boxes_random_vs_bfs);
    RUN(boxes_rejects_bad_arguments);
    RUN(iou_inclusive_corners);
    RUN(perf_heatmap_and_boxes);
    return check_summary();
}
