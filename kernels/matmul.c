/* Matrix-product drivers over the pool: matvec (decode), matmul (batch), matmul_dx
 * (backward through a frozen weight).
 *
 * Split: matvec and matmul give each thread a contiguous range of weight rows (outputs are
 * disjoint, each dot reduced by one thread); matmul_dx gives each thread a contiguous range
 * of weight blocks along K and walks the N rows in a fixed order, so every output element
 * is summed in the same order for a given thread count. Large batches dequantize tiles of
 * weight rows (tile_rows_for) into per-thread scratch and call sgemm (OpenBLAS at 1 thread
 * inside our pool); small batches use vec_dot on activations quantized once. */
#include "kernels/matmul.h"

#include <string.h>

#include "core/assert.h"
#include "kernels/blas.h"
#include "kernels/quant.h"
#include "kernels/quant_internal.h"

/* Weight rows per dequantized tile: as many as fit in KERN_TILE_BYTES of f32 (16..
 * 512, a multiple of 16). Larger tiles mean fewer sgemm calls, and each call re-packs the
 * activations X, so small tiles cost more than they save in cache. */
enum { KERN_TILE_BYTES = 8 << 20 };
/* Batches at or above this use dequantize + sgemm, smaller ones VNNI/AVX2 vec_dot on
 * quantized activations. Measured on the 2-core EPYC (4096x4096 weight, 1 thread, ms):
 *   M        8          16         32         64      (dot / dequant+sgemm)
 *   q8_0  14.8/38.5  27.1/34.9  46.9/56.3  73.1/74.4
 *   q4_0   6.5/23.7  25.3/34.6  36.8/41.8 134.3/85.6
 *   q4_K  13.4/35.2  26.4/37.7  44.2/55.8  82.7/70.8
 *   q6_K  14.1/29.5  17.6/27.1  59.8/56.1 117.4/72.0
 * (noisy shared machine; the crossover sits between 32 and 64). */
enum { KERN_MATMUL_SGEMM_MIN_M = 48 };
/* Q8_0/Q4_0/Q4_K/Q6_K weights at AVX-512 VNNI from these batch sizes on use the int8
 * panel path (matmul_int8.c) instead of either of the above. Its fixed cost is repacking W
 * (~1-2 ms for 4096x4096 on one core), so vec_dot wins only for small batches. Measured
 * on the 2-core EPYC (4096x4096, 1 thread, min of 7, ms; load average ~6.5, so only the
 * trend is reliable):
 *   M         1          2          4          8          16          32    (int8 / dot)
 *   q8_0  2.44/0.70  2.37/1.28  2.80/7.27  3.22/9.87  8.07/20.53  9.60/38.72
 *   q4_0  2.03/0.75  2.13/1.50  2.38/3.35  2.85/10.73 3.62/19.15  9.29/46.55
 *   q4_K  2.19/0.61  3.71/1.22  2.82/2.54  3.66/8.80  8.47/17.94 10.50/40.14
 *   q6_K  6.99/0.77  3.41/1.52  6.83/3.77  7.91/10.90 9.53/23.51 11.51/47.08
 * and at M = 128 int8 runs 2-5x faster than dequantize + sgemm (bench-kernels). */
/* Without AVX-512 VNNI (AVX2 level, RW_KERNELS=avx2, or AVX-512 CPUs without VNNI) the
 * int8 path runs the 256-bit kernel (matmul_int8_avx2.c: vpmaddubsw, or AVX-VNNI vpdpbusd
 * where present), from M >= KERN_MATMUL_INT8_MIN_M_AVX2 for all four types. Measured with
 * RW_KERNELS=avx2 on the 2-core EPYC (Zen 4, no AVX-VNNI, so the vpmaddubsw form; 4096x4096,
 * 1 thread, thread CPU time to discount the other jobs on the machine, min of 7, ms):
 *   M         1          2          4          8          16          32    (int8 / dot)
 *   q8_0  3.66/0.78  4.06/1.83  4.94/3.11  6.39/6.15  8.66/11.81 12.91/20.99
 *   q4_0  3.03/0.85  3.25/1.62  3.86/3.58  4.53/6.86  6.30/13.41  9.19/26.21
 *   q4_K  3.84/0.88  4.02/1.82  4.57/3.83  5.67/7.35  7.04/14.36 10.17/28.41
 *   q6_K  4.19/0.85  4.71/1.90  5.23/3.86  6.09/7.81  7.58/13.78 10.79/27.10
 * (q8_0 breaks even at 8; the others win from between 4 and 8), and at M = 128 int8 takes
 * 28-42 ms against 56-57 ms for dequantize + sgemm (docs/kernels.md). AVX-VNNI would move the
 * crossover down, not up, so the same threshold serves it. */
/* Weight rows per vec_dot_rows call in the small-batch path. */
enum { KERN_DOT_ROWS = 4 };
enum {
    KERN_MATMUL_INT8_MIN_M = 4,
    KERN_MATMUL_INT8_MIN_M_KQUANT = 8,
    KERN_MATMUL_INT8_MIN_M_AVX2 = 8
};

static bool use_int8(rw_dtype wtype, int64_t M) {
    if (!kern_matmul_int8_supported(wtype)) return false;
    const kern_level level = kern_level_cached();
    if (level >= KERN_LEVEL_AVX512 && kern_cpu_get()->avx512vnni) {
        int64_t min_m = (wtype == RW_DTYPE_Q4_K || wtype == RW_DTYPE_Q6_K)
                            ? KERN_MATMUL_INT8_MIN_M_KQUANT
                            : KERN_MATMUL_INT8_MIN_M;
        return M >= min_m;
    }
    return level >= KERN_LEVEL_AVX2 && M >= KERN_MATMUL_INT8_MIN_M_AVX2;
}

static const kern_type_traits *traits(rw_dtype t) {
    const kern_type_traits *tt = kern_type_get(t);
    RW_ASSERT(tt != NULL && tt->vec_dot != NULL, "type %d cannot be a weight", (int)t);
    return tt;
}

static size_t act_row_bytes(const kern_type_traits *t, int64_t K) {
    return kern_row_bytes(t->vec_dot_type, K);
}

static size_t round_up64(size_t n) {
    return (n + 63) & ~(size_t)63;
}

static int64_t tile_rows_for(int64_t K) {
    int64_t r = (int64_t)KERN_TILE_BYTES / (K * (int64_t)sizeof(float) + 1);
    r = r / 16 * 16;
    return r < 16 ? 16 : (r > 512 ? 512 : r);
}

static void run(rw_pool *pool, rw_pool_fn fn, void *ctx) {
    if (pool)
        rw_pool_run(pool, fn, ctx);
    else
        fn(ctx, 0, 1);
}

static void ensure_blas_single(void) {
    if (kern_blas_get_threads() != 1) kern_blas_set_threads(1);
}

void kern_quantize_activations(rw_dtype wtype, const float *X, void *dst, int64_t M, int64_t K) {
    const kern_type_traits *t = traits(wtype);
    const kern_type_traits *at = kern_type_get(t->vec_dot_type);
    size_t rb = act_row_bytes(t, K);
    for (int64_t m = 0; m < M; m++)
        at->from_float(X + m * K, (char *)dst + (size_t)m * rb, K);
}

/* ---- matvec ---- */

size_t kern_matvec_scratch_bytes(rw_dtype wtype, int64_t K) {
    const kern_type_traits *t = traits(wtype);
    if (t->vec_dot_type == RW_DTYPE_F32) return 64;
    return round_up64(act_row_bytes(t, K));
}

void kern_matvec_rows(rw_dtype wtype, const void *W, int64_t K, const void *a, float *y, int64_t r0,
                      int64_t r1) {
    const kern_type_traits *t = traits(wtype);
    size_t rb = kern_row_bytes(wtype, K);
    if (r1 > r0) kern_vec_dot_rows(t, K, y + r0, (const char *)W + (size_t)r0 * rb, rb, r1 - r0, a);
}

typedef struct mv_ctx {
    rw_dtype wtype;
    const void *W;
    int64_t N, K;
    const void *a;
    float *y;
} mv_ctx;

static void mv_worker(void *p, int ith, int nth) {
    const mv_ctx *c = p;
    size_t b, e;
    rw_split_range((size_t)c->N, ith, nth, &b, &e);
    if (b < e) kern_matvec_rows(c->wtype, c->W, c->K, c->a, c->y, (int64_t)b, (int64_t)e);
}

void kern_matvec(rw_pool *pool, rw_dtype wtype, const void *W, int64_t N, int64_t K, const float *x,
                 float *y, void *scratch) {
    const kern_type_traits *t = traits(wtype);
    const void *a = x;
    if (t->vec_dot_type != RW_DTYPE_F32) {
        kern_quantize_activations(wtype, x, scratch, 1, K);
        a = scratch;
    }
    mv_ctx c = {wtype, W, N, K, a, y};
    run(pool, mv_worker, &c);
}

/* ---- matmul: Y[M x N] = X[M x K] . W^T ---- */

size_t kern_matmul_scratch_bytes(rw_dtype wtype, int64_t N, int64_t K, int64_t M, int n_threads) {
    (void)N;
    const kern_type_traits *t = traits(wtype);
    if (n_threads < 1) n_threads = 1;
    if (use_int8(wtype, M)) return kern_matmul_int8_scratch_bytes(K, M, n_threads);
    if (M >= KERN_MATMUL_SGEMM_MIN_M) {
        if (wtype == RW_DTYPE_F32) return 64;
        return (size_t)n_threads * round_up64((size_t)tile_rows_for(K) * (size_t)K * sizeof(float));
    }
    if (t->vec_dot_type == RW_DTYPE_F32) return 64;
    return round_up64((size_t)M * act_row_bytes(t, K));
}

void kern_matmul_rows(rw_dtype wtype, const void *W, int64_t N, int64_t K, const void *A, int64_t M,
                      float *Y, bool accumulate, int64_t r0, int64_t r1) {
    const kern_type_traits *t = traits(wtype);
    size_t rb = kern_row_bytes(wtype, K), ab = act_row_bytes(t, K);
    /* groups of KERN_DOT_ROWS weight rows stay in L1 while every activation row passes */
    for (int64_t r = r0; r < r1; r += KERN_DOT_ROWS) {
        const int64_t nr = r1 - r < KERN_DOT_ROWS ? r1 - r : KERN_DOT_ROWS;
        const char *w = (const char *)W + (size_t)r * rb;
        for (int64_t m = 0; m < M; m++) {
            float s[KERN_DOT_ROWS];
            kern_vec_dot_rows(t, K, s, w, rb, nr, (const char *)A + (size_t)m * ab);
            float *y = Y + m * N + r;
            for (int64_t i = 0; i < nr; i++)
                y[i] = accumulate ? y[i] + s[i] : s[i];
        }
    }
}

typedef struct mm_ctx {
    rw_dtype wtype;
    const void *W;
    int64_t N, K, M;
    const float *X;
    const void *A; /* quantized activations (vec_dot path) */
    float *Y;
    bool accumulate;
    char *scratch; /* per-thread tiles (sgemm path) */
    size_t tile_bytes;
} mm_ctx;

static void mm_dot_worker(void *p, int ith, int nth) {
    const mm_ctx *c = p;
    size_t b, e;
    rw_split_range((size_t)c->N, ith, nth, &b, &e);
    if (b < e)
        kern_matmul_rows(c->wtype, c->W, c->N, c->K, c->A, c->M, c->Y, c->accumulate, (int64_t)b,
                         (int64_t)e);
}

static void mm_sgemm_worker(void *p, int ith, int nth) {
    const mm_ctx *c = p;
    size_t b, e;
    rw_split_range((size_t)c->N, ith, nth, &b, &e);
    const float beta = c->accumulate ? 1.f : 0.f;
    if (c->wtype == RW_DTYPE_F32) {
        const float *W = c->W;
        if (b < e)
            kern_sgemm(false, true, c->M, (int64_t)(e - b), c->K, 1.f, c->X, c->K,
                       W + (size_t)b * (size_t)c->K, c->K, beta, c->Y + b, c->N);
        return;
    }
    const kern_type_traits *t = kern_type_get(c->wtype);
    size_t rb = kern_row_bytes(c->wtype, c->K);
    float *tile = (float *)(c->scratch + (size_t)ith * c->tile_bytes);
    const size_t tr = (size_t)tile_rows_for(c->K);
    for (size_t n0 = b; n0 < e; n0 += tr) {
        size_t tn = e - n0 < tr ? e - n0 : tr;
        for (size_t r = 0; r < tn; r++)
            t->to_float((const char *)c->W + (n0 + r) * rb, tile + r * (size_t)c->K, c->K);
        kern_sgemm(false, true, c->M, (int64_t)tn, c->K, 1.f, c->X, c->K, tile, c->K, beta,
                   c->Y + n0, c->N);
    }
}

void kern_matmul(rw_pool *pool, rw_dtype wtype, const void *W, int64_t N, int64_t K, const float *X,
                 int64_t M, float *Y, bool accumulate, void *scratch) {
    const kern_type_traits *t = traits(wtype);
    if (use_int8(wtype, M)) { /* kern_matmul_int8 caps the level at kern_level_cached() */
        kern_matmul_int8(pool, KERN_LEVEL_AVX512, wtype, W, N, K, X, M, Y, accumulate, scratch);
        return;
    }
    mm_ctx c = {wtype, W, N, K, M, X, X, Y, accumulate, scratch, 0};
    if (M >= KERN_MATMUL_SGEMM_MIN_M) {
        ensure_blas_single();
        c.tile_bytes = round_up64((size_t)tile_rows_for(K) * (size_t)K * sizeof(float));
        run(pool, mm_sgemm_worker, &c);
        return;
    }
    if (t->vec_dot_type != RW_DTYPE_F32) {
        kern_quantize_activations(wtype, X, scratch, M, K);
        c.A = scratch;
    }
    run(pool, mm_dot_worker, &c);
}

/* ---- matmul_dx: dX[M x K] (+)= dY[M x N] . W[N x K] ---- */

size_t kern_matmul_dx_scratch_bytes(rw_dtype wtype, int64_t N, int64_t K, int64_t M,
                                    int n_threads) {
    (void)N;
    (void)M;
    traits(wtype);
    if (wtype == RW_DTYPE_F32) return 64;
    if (n_threads < 1) n_threads = 1;
    return (size_t)n_threads * round_up64((size_t)tile_rows_for(K) * (size_t)K * sizeof(float));
}

typedef struct dx_ctx {
    rw_dtype wtype;
    const void *W;
    int64_t N, K, M;
    const float *dY;
    float *dX;
    bool accumulate;
    char *scratch;
    size_t tile_bytes;
} dx_ctx;

static void dx_worker(void *p, int ith, int nth) {
    const dx_ctx *c = p;
    const kern_type_traits *t = kern_type_get(c->wtype);
    const int64_t bs = t->block_size;
    size_t b, e;
    rw_split_range((size_t)(c->K / bs), ith, nth, &b, &e);
    if (b >= e) return;
    const int64_t k0 = (int64_t)b * bs, kc = (int64_t)(e - b) * bs;
    if (c->wtype == RW_DTYPE_F32) {
        const float *W = c->W;
        kern_sgemm(false, false, c->M, kc, c->N, 1.f, c->dY, c->N, W + k0, c->K,
                   c->accumulate ? 1.f : 0.f, c->dX + k0, c->K);
        return;
    }
    size_t rb = kern_row_bytes(c->wtype, c->K);
    size_t off = b * t->type_size;
    float *tile = (float *)(c->scratch + (size_t)ith * c->tile_bytes);
    if (c->N == 0 && !c->accumulate)
        for (int64_t m = 0; m < c->M; m++)
            memset(c->dX + m * c->K + k0, 0, (size_t)kc * sizeof(float));
    const int64_t tr = tile_rows_for(c->K);
    for (int64_t n0 = 0; n0 < c->N; n0 += tr) {
        int64_t tn = c->N - n0 < tr ? c->N - n0 : tr;
        for (int64_t r = 0; r < tn; r++)
            t->to_float((const char *)c->W + (size_t)(n0 + r) * rb + off, tile + r * kc, kc);
        float beta = (n0 == 0 && !c->accumulate) ? 0.f : 1.f;
        kern_sgemm(false, false, c->M, kc, tn, 1.f, c->dY + n0, c->N, tile, kc, beta, c->dX + k0,
                   c->K);
    }
}

void kern_matmul_dx(rw_pool *pool, rw_dtype wtype, const void *W, int64_t N, int64_t K,
                    const float *dY, int64_t M, float *dX, bool accumulate, void *scratch) {
    traits(wtype);
    ensure_blas_single();
    dx_ctx c = {wtype,   W,
                N,       K,
                M,       dY,
                dX,      accumulate,
                scratch, round_up64((size_t)tile_rows_for(K) * (size_t)K * sizeof(float))};
    run(pool, dx_worker, &c);
}
