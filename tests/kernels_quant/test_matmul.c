/* kernels/matmul.h drivers against a naive double-accumulated reference written here:
 * y = W x, Y = X W^T, dX = dY W for every weight type, odd shapes (N, M not multiples of
 * anything, K = 1..33 blocks), misaligned pointers, 1..3 threads, accumulate on/off, and
 * bit-identical repeats for a fixed thread count.
 * Tolerance: drivers that quantize activations (small batches) are compared with a bound
 * derived from the activation format (per element |x - x_q| <= 0.6 * block max / 127,
 * times |W|); the sgemm paths with 1e-4 relative to sum |W||x|. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/pool.h"
#include "core/rng.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "rw_test.h"

static const rw_dtype k_types[] = {RW_DTYPE_F32,  RW_DTYPE_F16,  RW_DTYPE_BF16, RW_DTYPE_Q8_0,
                                   RW_DTYPE_Q4_0, RW_DTYPE_Q4_1, RW_DTYPE_Q5_0, RW_DTYPE_Q5_1,
                                   RW_DTYPE_Q4_K, RW_DTYPE_Q5_K, RW_DTYPE_Q6_K};

typedef struct prob {
    rw_dtype t;
    int64_t N, K, M;
    uint8_t *wbuf; /* W at wbuf + 4 (misaligned) */
    float *wf;     /* dequantized W [N x K] */
    float *X;      /* [M x K] */
} prob;

static void make(prob *p, rw_rng *r, rw_dtype t, int64_t N, int64_t K, int64_t M) {
    p->t = t;
    p->N = N;
    p->K = K;
    p->M = M;
    float *w = malloc((size_t)(N * K) * 4);
    for (int64_t i = 0; i < N * K; i++)
        w[i] = (float)(rw_rng_normal(r) * 0.05);
    size_t rb = kern_row_bytes(t, K);
    p->wbuf = malloc(rb * (size_t)N + 4);
    kern_quantize(t, w, p->wbuf + 4, N, K);
    p->wf = w;
    kern_dequantize(t, p->wbuf + 4, p->wf, N, K);
    p->X = malloc((size_t)(M * K) * 4 + 4);
    for (int64_t i = 0; i < M * K; i++)
        p->X[i] = (float)rw_rng_normal(r);
}

static void drop(prob *p) {
    free(p->wbuf);
    free(p->wf);
    free(p->X);
}

/* Bound on |sum_k W[n,k] (x_k - xq_k)| for the activation format of t, plus f32 noise. */
static double tol_row(const prob *p, int64_t n, const float *x, int quantized_act) {
    const kern_type_traits *t = kern_type_get(p->t);
    double mag = 0, err = 0;
    int64_t bs = t->vec_dot_type == RW_DTYPE_Q8_K ? 256 : 32;
    for (int64_t k0 = 0; k0 < p->K; k0 += bs) {
        double amax = 0;
        for (int64_t k = k0; k < k0 + bs && k < p->K; k++)
            amax = fmax(amax, fabs((double)x[k]));
        for (int64_t k = k0; k < k0 + bs && k < p->K; k++) {
            double w = fabs((double)p->wf[n * p->K + k]);
            mag += w * fabs((double)x[k]);
            err += w * 0.6 * amax / 127;
        }
    }
    double t16 = t->vec_dot_type == RW_DTYPE_Q8_1 ? 2e-3 * mag : 0;
    return (quantized_act && t->vec_dot_type != RW_DTYPE_F32 ? err + t16 : 0) + 1e-4 * mag + 1e-6;
}

static void check_matmul(prob *p, rw_pool *pool, int nth) {
    size_t sb = kern_matmul_scratch_bytes(p->t, p->N, p->K, p->M, nth);
    void *scratch = rw_aligned_alloc(64, sb);
    float *Y = malloc((size_t)(p->M * p->N) * 4), *Y2 = malloc((size_t)(p->M * p->N) * 4);
    kern_matmul(pool, p->t, p->wbuf + 4, p->N, p->K, p->X, p->M, Y, false, scratch);
    for (int64_t m = 0; m < p->M; m++)
        for (int64_t n = 0; n < p->N; n++) {
            double ref = 0;
            for (int64_t k = 0; k < p->K; k++)
                ref += (double)p->wf[n * p->K + k] * (double)p->X[m * p->K + k];
            double tol = tol_row(p, n, p->X + m * p->K, 1);
            if (fabs((double)Y[m * p->N + n] - ref) > tol)
                fail_msg("%s matmul N%lld K%lld M%lld [%lld,%lld]: %.7g vs %.7g (tol %.3g)",
                         kern_type_get(p->t)->name, (long long)p->N, (long long)p->K,
                         (long long)p->M, (long long)m, (long long)n, (double)Y[m * p->N + n], ref,
                         tol);
        }
    /* reproducible, and accumulate adds */
    kern_matmul(pool, p->t, p->wbuf + 4, p->N, p->K, p->X, p->M, Y2, false, scratch);
    assert_memory_equal(Y, Y2, (size_t)(p->M * p->N) * 4);
    kern_matmul(pool, p->t, p->wbuf + 4, p->N, p->K, p->X, p->M, Y2, true, scratch);
    /* sgemm may fold the old value in at any point of its sum: tolerance on the scale of Y */
    float ymax = 0;
    for (int64_t i = 0; i < p->M * p->N; i++)
        ymax = fmaxf(ymax, fabsf(Y[i]));
    for (int64_t i = 0; i < p->M * p->N; i++)
        assert_true(fabsf(Y2[i] - 2 * Y[i]) <= 1e-5f * ymax + 1e-6f);
    rw_aligned_free(scratch);
    free(Y);
    free(Y2);
}

static void check_matvec(prob *p, rw_pool *pool) {
    void *scratch = rw_aligned_alloc(64, kern_matvec_scratch_bytes(p->t, p->K));
    float *xin = malloc((size_t)p->K * 4 + 4);
    memcpy(xin + 1, p->X, (size_t)p->K * 4); /* misaligned activations */
    float *y = malloc((size_t)p->N * 4);
    kern_matvec(pool, p->t, p->wbuf + 4, p->N, p->K, xin + 1, y, scratch);
    for (int64_t n = 0; n < p->N; n++) {
        double ref = 0;
        for (int64_t k = 0; k < p->K; k++)
            ref += (double)p->wf[n * p->K + k] * (double)p->X[k];
        double tol = tol_row(p, n, p->X, 1);
        if (fabs((double)y[n] - ref) > tol)
            fail_msg("%s matvec N%lld K%lld row %lld: %.7g vs %.7g (tol %.3g)",
                     kern_type_get(p->t)->name, (long long)p->N, (long long)p->K, (long long)n,
                     (double)y[n], ref, tol);
    }
    rw_aligned_free(scratch);
    free(xin);
    free(y);
}

static void check_dx(prob *p, rw_pool *pool, int nth) {
    /* dY is p->X viewed as [M x N] when K >= N; build a fresh one */
    rw_rng r;
    rw_rng_seed(&r, 99);
    float *dY = malloc((size_t)(p->M * p->N) * 4);
    for (int64_t i = 0; i < p->M * p->N; i++)
        dY[i] = (float)rw_rng_normal(&r);
    float *dX = malloc((size_t)(p->M * p->K) * 4), *dX2 = malloc((size_t)(p->M * p->K) * 4);
    void *scratch = rw_aligned_alloc(64, kern_matmul_dx_scratch_bytes(p->t, p->N, p->K, p->M, nth));
    kern_matmul_dx(pool, p->t, p->wbuf + 4, p->N, p->K, dY, p->M, dX, false, scratch);
    for (int64_t m = 0; m < p->M; m++)
        for (int64_t k = 0; k < p->K; k++) {
            double ref = 0, mag = 0;
            for (int64_t n = 0; n < p->N; n++) {
                ref += (double)dY[m * p->N + n] * (double)p->wf[n * p->K + k];
                mag += fabs((double)dY[m * p->N + n] * (double)p->wf[n * p->K + k]);
            }
            if (fabs((double)dX[m * p->K + k] - ref) > 1e-4 * mag + 1e-6)
                fail_msg("%s dx [%lld,%lld]: %.7g vs %.7g", kern_type_get(p->t)->name, (long long)m,
                         (long long)k, (double)dX[m * p->K + k], ref);
        }
    for (int64_t i = 0; i < p->M * p->K; i++)
        dX2[i] = 1.0f;
    kern_matmul_dx(pool, p->t, p->wbuf + 4, p->N, p->K, dY, p->M, dX2, true, scratch);
    for (int64_t i = 0; i < p->M * p->K; i++)
        assert_true(fabsf(dX2[i] - 1.0f - dX[i]) <= 1e-5f * (1 + fabsf(dX[i])));
    rw_aligned_free(scratch);
    free(dY);
    free(dX);
    free(dX2);
}

static void test_drivers(void **state) {
    (void)state;
    rw_rng r;
    rw_rng_seed(&r, 21);
    rw_pool *pools[3] = {NULL, NULL, NULL};
    assert_int_equal(rw_pool_create(2, &pools[1], NULL), RW_OK);
    assert_int_equal(rw_pool_create(3, &pools[2], NULL), RW_OK);
    const int64_t Ns[] = {1, 5, 37};
    const int64_t nbs[] = {1, 3, 7, 33};
    const int64_t Ms[] = {1, 3, 17, 49}; /* 49: the dequantize + sgemm path */
    for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
        int64_t bs = kern_type_get(k_types[ti])->block_size;
        if (bs == 1) bs = 32;
        for (size_t a = 0; a < 3; a++)
            for (size_t b = 0; b < 4; b++) {
                if (bs == 256 && nbs[b] > 7) continue;
                int64_t K = nbs[b] * bs + (kern_type_get(k_types[ti])->block_size == 1 ? 3 : 0);
                int64_t M = Ms[(a + b) % 4];
                int pi = (int)((a + b + ti) % 3);
                prob p;
                make(&p, &r, k_types[ti], Ns[a], K, M);
                check_matvec(&p, pools[pi]);
                check_matmul(&p, pools[pi], pi + 1);
                check_dx(&p, pools[pi], pi + 1);
                drop(&p);
            }
        /* a larger case: 2 threads, both matmul paths' thread splits */
        prob p;
        make(&p, &r, k_types[ti], 101, 4096, 50);
        check_matmul(&p, pools[1], 2);
        check_dx(&p, pools[2], 3);
        drop(&p);
    }
    /* tiles: K = 65536 gives 32-row dequantized tiles, so 37 rows on one thread cross a
     * tile boundary (matmul and dx) */
    const rw_dtype tiled[] = {RW_DTYPE_Q8_0, RW_DTYPE_Q4_K, RW_DTYPE_Q5_1};
    for (size_t ti = 0; ti < 3; ti++) {
        prob p;
        make(&p, &r, tiled[ti], 37, 65536, 48);
        check_matmul(&p, NULL, 1);
        check_dx(&p, NULL, 1);
        drop(&p);
    }
    rw_pool_destroy(pools[1]);
    rw_pool_destroy(pools[2]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drivers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
