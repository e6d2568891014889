/* gemm.c: Gemm and MatMul on top of cam__sgemm (single-threaded OpenBLAS).
 *
 * Parallelism is ours: a product is cut into row blocks, or column blocks
 * when there are too few rows (an M=1 classifier head), and each thread
 * calls cam__sgemm on its block of the output. */
#include "ops.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- the parallel product ------------------------------------------------ */

/* Below this many flops a product runs on the calling thread: waking the
 * pool costs more than it saves. */
#define MM_PAR_FLOPS 2e5
/* Column blocks are multiples of this, keeping each block's rows aligned
 * to the BLAS kernel's column unroll and whole cache lines. */
#define MM_COL_UNIT 16
/* Row blocks shorter than this make the BLAS packing overhead dominate. */
#define MM_MIN_ROWS 16

typedef struct {
    bool ta, tb;
    int M, N, K;
    float alpha;
    const float *a;
    int lda;
    const float *b;
    int ldb;
    float *y;                      /* [M, N], row stride N */
    /* Gemm: y = alpha*AB + beta*C[i*c_rs + j*c_cs] (C broadcast), then act */
    const float *c;
    float beta;
    int64_t c_rs, c_cs;
    const cam__act *act;
    bool by_cols;
} mm_job;

/* Output rows [m0, m1) x columns [n0, n1). */
static void mm_block(const mm_job *j, int m0, int m1, int n0, int n1) {
    int m = m1 - m0, nn = n1 - n0;
    if (m <= 0 || nn <= 0) return;
    float *y = j->y + (size_t)m0 * j->N + n0;
    float beta = 0.0f;
    if (j->c && j->beta != 0.0f) {
        /* broadcast beta*C into the block, then let sgemm accumulate onto it */
        for (int i = 0; i < m; i++) {
            const float *cr = j->c + (int64_t)(m0 + i) * j->c_rs;
            float *yr = y + (size_t)i * j->N;
            if (j->c_cs)
                for (int k = 0; k < nn; k++) yr[k] = j->beta * cr[n0 + k];
            else
                for (int k = 0; k < nn; k++) yr[k] = j->beta * cr[0];
        }
        beta = 1.0f;
    }
    const float *a = j->ta ? j->a + m0 : j->a + (size_t)m0 * j->lda;
    const float *b = j->tb ? j->b + (size_t)n0 * j->ldb : j->b + n0;
    cam__sgemm(j->ta, j->tb, m, nn, j->K, j->alpha, a, j->lda, b, j->ldb, beta, y, j->N);
    if (j->act && j->act->kind != CAM__ACT_NONE)
        for (int i = 0; i < m; i++) cam__act_apply(j->act, y + (size_t)i * j->N, (size_t)nn);
}

static void mm_task(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const mm_job *j = arg;
    if (j->by_cols) {
        int64_t n1 = e * MM_COL_UNIT;
        mm_block(j, 0, j->M, (int)(b * MM_COL_UNIT), (int)(n1 < j->N ? n1 : j->N));
    } else {
        mm_block(j, (int)b, (int)e, 0, j->N);
    }
}

/* Runs one product, split across the pool when it is big enough. */
static void mm_run(const cam__ctx *ctx, mm_job *j) {
    double flops = 2.0 * j->M * j->N * (j->K > 0 ? j->K : 1);
    int threads = cam__ctx_threads(ctx);
    if (threads <= 1 || flops < MM_PAR_FLOPS) {
        mm_block(j, 0, j->M, 0, j->N);
        return;
    }
    if (j->M >= MM_MIN_ROWS * threads) {
        double per_row = flops / j->M;
        int64_t grain = (int64_t)(MM_PAR_FLOPS / per_row) + 1;
        if (grain < MM_MIN_ROWS) grain = MM_MIN_ROWS;
        j->by_cols = false;
        cam__ctx_parallel(ctx, j->M, grain, mm_task, j);
    } else {
        double per_unit = flops / j->N * MM_COL_UNIT;
        int64_t grain = (int64_t)(MM_PAR_FLOPS / per_unit) + 1;
        j->by_cols = true;
        cam__ctx_parallel(ctx, (j->N + MM_COL_UNIT - 1) / MM_COL_UNIT, grain, mm_task, j);
    }
}

static bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

/* ---- Gemm ---------------------------------------------------------------- */

typedef struct {
    bool ta, tb;
    float alpha, beta;
    bool c_exact;                  /* opset < 7 with broadcast=0: C must be [M, N] */
    /* resolved by shape() */
    int M, N, K;
    int64_t c_rs, c_cs;            /* C element (i, j) = c[i*c_rs + j*c_cs] */
} gemm_params;

cam_status cam__op_Gemm_check(cam__node *n, char *err, size_t errlen) {
    if (n->n_out != 1 || n->n_in < 2 || n->n_in > 3)
        return cam__fail(err, errlen, CAM_EFORMAT, "Gemm node '%s': expects 2 or 3 inputs and 1 output", n->name);
    /* C became optional in opset 11 */
    if (n->opset < 11 && (n->n_in < 3 || n->in[2] < 0))
        return cam__fail(err, errlen, CAM_EFORMAT, "Gemm node '%s': input C is required before opset 11", n->name);
    gemm_params *p = calloc(1, sizeof *p);
    if (!p) return CAM_ENOMEM;
    p->ta = cam__attr_int(n, "transA", 0) != 0;
    p->tb = cam__attr_int(n, "transB", 0) != 0;
    p->alpha = cam__attr_float(n, "alpha", 1.0f);
    p->beta = cam__attr_float(n, "beta", 1.0f);
    p->c_exact = n->opset < 7 && cam__attr_int(n, "broadcast", 0) == 0;
    free(n->params);
    n->params = p;
    return CAM_OK;
}

cam_status cam__op_Gemm_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err,
                              size_t errlen) {
    gemm_params *p = n->params;
    const cam__tensor *A = in[0], *B = in[1], *C = n->n_in > 2 ? in[2] : NULL;
    if (A->dtype != CAM_FLOAT || B->dtype != CAM_FLOAT || (C && C->dtype != CAM_FLOAT))
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "Gemm node '%s': only float32 is supported", n->name);
    if (A->rank != 2 || B->rank != 2)
        return cam__fail(err, errlen, CAM_EFORMAT, "Gemm node '%s': A and B must be 2-D (ranks %d, %d)", n->name,
                         A->rank, B->rank);
    int64_t M = p->ta ? A->dims[1] : A->dims[0], K = p->ta ? A->dims[0] : A->dims[1];
    int64_t K2 = p->tb ? B->dims[1] : B->dims[0], N = p->tb ? B->dims[0] : B->dims[1];
    if (K != K2)
        return cam__fail(err, errlen, CAM_EFORMAT, "Gemm node '%s': inner dimensions differ (%lld vs %lld)", n->name,
                         (long long)K, (long long)K2);
    if (!fits_int(M) || !fits_int(N) || !fits_int(K))
        return cam__fail(err, errlen, CAM_ELIMIT, "Gemm node '%s': dimensions exceed the BLAS int range", n->name);
    p->M = (int)M;
    p->N = (int)N;
    p->K = (int)K;
    p->c_rs = p->c_cs = 0;
    if (C) {
        /* unidirectional broadcast of C to [M, N] */
        int64_t cm = C->rank == 2 ? C->dims[0] : 1, cn = C->rank >= 1 ? C->dims[C->rank - 1] : 1;
        bool ok = C->rank <= 2 && (cm == M || cm == 1) && (cn == N || cn == 1);
        if (p->c_exact && !(C->rank == 2 && cm == M && cn == N)) ok = false;
        if (!ok)
            return cam__fail(err, errlen, CAM_EFORMAT, "Gemm node '%s': C (rank %d) does not broadcast to [%lld, %lld]",
                             n->name, C->rank, (long long)M, (long long)N);
        p->c_cs = cn == 1 ? 0 : 1;
        p->c_rs = cm == 1 ? 0 : cn;
    }
    out[0]->dtype = CAM_FLOAT;
    if (!cam__tensor_set_shape(out[0], 2, (int64_t[]){M, N}))
        return cam__fail(err, errlen, CAM_ELIMIT, "Gemm node '%s': output too large", n->name);
    n->scratch = 0;
    n->flops = 2.0 * (double)M * (double)N * (double)K;
    return CAM_OK;
}

void cam__op_Gemm_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                          const cam__ctx *ctx) {
    const gemm_params *p = n->params;
    const cam__tensor *C = n->n_in > 2 ? in[2] : NULL;
    mm_job j = {.ta = p->ta, .tb = p->tb, .M = p->M, .N = p->N, .K = p->K, .alpha = p->alpha,
                .a = cam__f32(in[0]), .lda = (int)in[0]->dims[1], .b = cam__f32(in[1]), .ldb = (int)in[1]->dims[1],
                .y = cam__f32(out[0]), .c = C ? cam__f32(C) : NULL, .beta = p->beta, .c_rs = p->c_rs,
                .c_cs = p->c_cs, .act = &n->act};
    mm_run(ctx, &j);
}

void cam__op_Gemm_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                            const cam__ctx *ctx) {
    (void)ctx;
    const gemm_params *p = n->params;
    const cam__tensor *C = n->n_in > 2 ? in[2] : NULL;
    const float *a = cam__f32(in[0]), *b = cam__f32(in[1]);
    int64_t lda = in[0]->dims[1], ldb = in[1]->dims[1];
    float *y = cam__f32(out[0]);
    for (int i = 0; i < p->M; i++)
        for (int j = 0; j < p->N; j++) {
            double s = 0;
            for (int k = 0; k < p->K; k++) {
                float av = p->ta ? a[k * lda + i] : a[i * lda + k];
                float bv = p->tb ? b[j * ldb + k] : b[k * ldb + j];
                s += (double)av * bv;
            }
            double v = p->alpha * s;
            if (C && p->beta != 0.0f) v += (double)p->beta * cam__f32(C)[i * p->c_rs + j * p->c_cs];
            y[(size_t)i * p->N + j] = (float)v;
        }
    cam__act_apply(&n->act, y, out[0]->numel);
}

/* ---- MatMul -------------------------------------------------------------- */

typedef struct {
    int M, N, K;
    int br;                        /* broadcast batch rank */
    int64_t bdims[CAM__MAX_RANK];
    int64_t a_bs[CAM__MAX_RANK], b_bs[CAM__MAX_RANK];  /* batch strides in matrices, 0 = broadcast */
    int64_t nbatch;
    bool fold;                     /* B shared by all batches, A contiguous: one [nbatch*M, K] product */
} matmul_params;

cam_status cam__op_MatMul_check(cam__node *n, char *err, size_t errlen) {
    if (n->n_in != 2 || n->n_out != 1)
        return cam__fail(err, errlen, CAM_EFORMAT, "MatMul node '%s': expects 2 inputs and 1 output", n->name);
    matmul_params *p = calloc(1, sizeof *p);
    if (!p) return CAM_ENOMEM;
    free(n->params);
    n->params = p;
    return CAM_OK;
}

/* numpy matmul: a 1-D A is a row [1, K] and a 1-D B a column [K, 1], their
 * unit dim dropped from the result; leading dims broadcast. */
cam_status cam__op_MatMul_shape(cam__node *n, cam__tensor *const *in, cam__tensor *const *out, char *err,
                                size_t errlen) {
    matmul_params *p = n->params;
    const cam__tensor *A = in[0], *B = in[1];
    if (A->dtype != CAM_FLOAT || B->dtype != CAM_FLOAT)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "MatMul node '%s': only float32 is supported", n->name);
    if (A->rank < 1 || B->rank < 1)
        return cam__fail(err, errlen, CAM_EFORMAT, "MatMul node '%s': scalar operand", n->name);
    int ra = A->rank, rb = B->rank;
    int64_t M = ra == 1 ? 1 : A->dims[ra - 2], K = A->dims[ra - 1];
    int64_t K2 = rb == 1 ? B->dims[0] : B->dims[rb - 2], N = rb == 1 ? 1 : B->dims[rb - 1];
    if (K != K2)
        return cam__fail(err, errlen, CAM_EFORMAT, "MatMul node '%s': inner dimensions differ (%lld vs %lld)",
                         n->name, (long long)K, (long long)K2);
    if (!fits_int(M) || !fits_int(N) || !fits_int(K))
        return cam__fail(err, errlen, CAM_ELIMIT, "MatMul node '%s': dimensions exceed the BLAS int range", n->name);
    int bra = ra > 2 ? ra - 2 : 0, brb = rb > 2 ? rb - 2 : 0;
    p->br = bra > brb ? bra : brb;
    int orank = p->br + (ra > 1) + (rb > 1);
    if (orank > CAM__MAX_RANK)
        return cam__fail(err, errlen, CAM_EUNSUPPORTED, "MatMul node '%s': output rank %d too large", n->name, orank);
    int64_t od[CAM__MAX_RANK], sa = 1, sb = 1;
    p->nbatch = 1;
    bool a_full = true, b_shared = true;
    for (int i = p->br - 1; i >= 0; i--) {
        int ia = i - (p->br - bra), ib = i - (p->br - brb);
        int64_t da = ia >= 0 ? A->dims[ia] : 1, db = ib >= 0 ? B->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return cam__fail(err, errlen, CAM_EFORMAT, "MatMul node '%s': batch dims %lld and %lld do not broadcast",
                             n->name, (long long)da, (long long)db);
        p->bdims[i] = da == 1 ? db : da;
        p->a_bs[i] = da == 1 ? 0 : sa;
        p->b_bs[i] = db == 1 ? 0 : sb;
        if (da != p->bdims[i]) a_full = false;
        if (db != 1) b_shared = false;
        sa *= da;
        sb *= db;
        p->nbatch *= p->bdims[i];
        od[i] = p->bdims[i];
    }
    int r = p->br;
    if (ra > 1) od[r++] = M;
    if (rb > 1) od[r++] = N;
    p->M = (int)M;
    p->N = (int)N;
    p->K = (int)K;
    p->fold = a_full && b_shared && fits_int(p->nbatch * M);
    out[0]->dtype = CAM_FLOAT;
    if (!cam__tensor_set_shape(out[0], orank, od))
        return cam__fail(err, errlen, CAM_ELIMIT, "MatMul node '%s': output too large", n->name);
    n->scratch = 0;
    n->flops = 2.0 * (double)p->nbatch * (double)M * (double)N * (double)K;
    return CAM_OK;
}

/* Matrix offsets of A and B for batch index t. */
static void matmul_batch(const matmul_params *p, int64_t t, size_t *ao, size_t *bo) {
    int64_t a = 0, b = 0;
    for (int i = p->br - 1; i >= 0; i--) {
        int64_t idx = t % p->bdims[i];
        t /= p->bdims[i];
        a += idx * p->a_bs[i];
        b += idx * p->b_bs[i];
    }
    *ao = (size_t)a * (size_t)p->M * (size_t)p->K;
    *bo = (size_t)b * (size_t)p->K * (size_t)p->N;
}

typedef struct {
    const matmul_params *p;
    const float *a, *b;
    float *y;
} matmul_job;

/* one whole batch matrix per item, single-threaded each */
static void matmul_batch_task(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    const matmul_job *j = arg;
    const matmul_params *p = j->p;
    for (int64_t t = b; t < e; t++) {
        size_t ao, bo;
        matmul_batch(p, t, &ao, &bo);
        cam__sgemm(false, false, p->M, p->N, p->K, 1.0f, j->a + ao, p->K, j->b + bo, p->N, 0.0f,
                   j->y + (size_t)t * p->M * p->N, p->N);
    }
}

void cam__op_MatMul_forward(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                            const cam__ctx *ctx) {
    const matmul_params *p = n->params;
    const float *a = cam__f32(in[0]), *b = cam__f32(in[1]);
    float *y = cam__f32(out[0]);
    if (out[0]->numel == 0) return;
    mm_job j = {.M = p->M, .N = p->N, .K = p->K, .alpha = 1.0f, .lda = p->K, .ldb = p->N};
    if (p->fold || p->nbatch == 1) {
        j.M = (int)(p->nbatch * p->M);
        j.a = a;
        j.b = b;
        j.y = y;
        mm_run(ctx, &j);
        return;
    }
    if (p->nbatch >= cam__ctx_threads(ctx)) {
        matmul_job mj = {p, a, b, y};
        double per = 2.0 * p->M * p->N * (p->K > 0 ? p->K : 1);
        cam__ctx_parallel(ctx, p->nbatch, (int64_t)(MM_PAR_FLOPS / per) + 1, matmul_batch_task, &mj);
        return;
    }
    for (int64_t t = 0; t < p->nbatch; t++) {  /* few big matrices: split each one */
        size_t ao, bo;
        matmul_batch(p, t, &ao, &bo);
        j.a = a + ao;
        j.b = b + bo;
        j.y = y + (size_t)t * p->M * p->N;
        mm_run(ctx, &j);
    }
}

void cam__op_MatMul_reference(const cam__node *n, const cam__tensor *const *in, cam__tensor *const *out,
                              const cam__ctx *ctx) {
    (void)ctx;
    const matmul_params *p = n->params;
    const float *a = cam__f32(in[0]), *b = cam__f32(in[1]);
    float *y = cam__f32(out[0]);
    for (int64_t t = 0; t < p->nbatch; t++) {
        size_t ao, bo;
        matmul_batch(p, t, &ao, &bo);
        for (int i = 0; i < p->M; i++)
            for (int jj = 0; jj < p->N; jj++) {
                double s = 0;
                for (int k = 0; k < p->K; k++)
                    s += (double)a[ao + (size_t)i * p->K + k] * b[bo + (size_t)k * p->N + jj];
                y[((size_t)t * p->M + i) * p->N + jj] = (float)s;
            }
    }
}
