/* Integer matmul path for Q8_0/Q4_0 weights: Y[M x N] = X[M x K] . W^T with activations
 * quantized to Q8_0 and int8 x int8 -> int32 block dot products (layout and exactness
 * rules in matmul_internal.h). This file holds the scalar reference kernels and the
 * driver; matmul_int8_avx512.c the VNNI kernels, bit-identical to these.
 *
 * Driver: a first pool job quantizes the M activation rows (split by rows); a second
 * gives each thread a contiguous range of 16-row panels; the thread packs one panel into
 * its scratch (80 KiB for K = 4096, stays in L2) and runs it against every activation
 * row, so the weights are read from memory once and unpacked once per call. */
#include "kernels/matmul.h"

#include <math.h>
#include <string.h>

#include "core/assert.h"
#include "core/pool.h"
#include "kernels/convert.h"
#include "kernels/matmul_internal.h"
#include "kernels/quant.h"
#include "kernels/quant_internal.h"

/* Signed levels of one block of row data into q[32]; returns the f32 scale. */
static float block_levels(rw_dtype t, const char *blk, int8_t q[32]) {
    if (t == RW_DTYPE_Q8_0) {
        kern_block_q8_0 b;
        memcpy(&b, blk, sizeof b);
        memcpy(q, b.qs, 32);
        return kern_f16_to_f32(b.d);
    }
    kern_block_q4_0 b;
    memcpy(&b, blk, sizeof b);
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)((b.qs[j] & 0x0F) - 8);
        q[j + 16] = (int8_t)((b.qs[j] >> 4) - 8);
    }
    return kern_f16_to_f32(b.d);
}

void kern_int8_pack_panel_ref(rw_dtype t, const void *W, size_t row_bytes, int nr, int64_t K,
                              void *panel) {
    RW_ASSERT(t == RW_DTYPE_Q8_0 || t == RW_DTYPE_Q4_0, "int8 panels take Q8_0/Q4_0");
    const int64_t nb = K / 32;
    const size_t bsz = t == RW_DTYPE_Q8_0 ? sizeof(kern_block_q8_0) : sizeof(kern_block_q4_0);
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *rec = (uint8_t *)panel + (size_t)b * KERN_PANEL_BLOCK_BYTES;
        int8_t *w = (int8_t *)rec;
        float dw[16];
        int32_t corr[16];
        for (int r = 0; r < 16; r++) {
            int8_t q[32] = {0};
            dw[r] = 0;
            if (r < nr)
                dw[r] = block_levels(t, (const char *)W + (size_t)r * row_bytes + (size_t)b * bsz, q);
            int32_t s = 0;
            for (int k = 0; k < 32; k++) {
                w[(k / 4) * 64 + r * 4 + k % 4] = q[k];
                s += q[k];
            }
            corr[r] = -128 * s;
        }
        memcpy(rec + 512, dw, 64);
        memcpy(rec + 576, corr, 64);
    }
}

void kern_int8_panel_gemm_ref(const void *panel, int64_t K, const uint8_t *au, const float *da,
                              int64_t M, float *Y, int64_t ldy, int nr, bool accumulate) {
    const int64_t nb = K / 32;
    for (int64_t m = 0; m < M; m++)
        for (int r = 0; r < nr; r++) {
            float acc = 0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *rec = (const uint8_t *)panel + (size_t)b * KERN_PANEL_BLOCK_BYTES;
                const int8_t *w = (const int8_t *)rec;
                float dw;
                int32_t isum;
                memcpy(&dw, rec + 512 + 4 * r, 4);
                memcpy(&isum, rec + 576 + 4 * r, 4);
                const uint8_t *a = au + (size_t)m * (size_t)K + (size_t)b * 32;
                for (int k = 0; k < 32; k++)
                    isum += (int32_t)a[k] * (int32_t)w[(k / 4) * 64 + r * 4 + k % 4];
                acc = fmaf((float)isum, dw * da[m * nb + b], acc);
            }
            float *y = &Y[m * ldy + r];
            *y = accumulate ? *y + acc : acc;
        }
}

void kern_int8_quantize_act_ref(const float *x, uint8_t *au, float *da, int64_t K, void *tmp) {
    kern_block_q8_0 *q = tmp;
    kern_quantize_row_q8_0_ref(x, q, K);
    for (int64_t i = 0; i < K / 32; i++) {
        da[i] = kern_f16_to_f32(q[i].d);
        for (int k = 0; k < 32; k++)
            au[i * 32 + k] = (uint8_t)(q[i].qs[k] + 128);
    }
}

/* ---- driver ---- */

bool kern_matmul_int8_supported(rw_dtype wtype) {
    return wtype == RW_DTYPE_Q8_0 || wtype == RW_DTYPE_Q4_0;
}

static size_t round64(size_t n) {
    return (n + 63) & ~(size_t)63;
}

static size_t panel_bytes(int64_t K) {
    return (size_t)(K / 32) * KERN_PANEL_BLOCK_BYTES;
}

size_t kern_matmul_int8_scratch_bytes(int64_t K, int64_t M, int n_threads) {
    if (n_threads < 1) n_threads = 1;
    size_t nb = (size_t)(K / 32);
    size_t act = round64((size_t)M * (size_t)K) + round64((size_t)M * nb * sizeof(float));
    size_t per_thread = round64(panel_bytes(K)) + round64(nb * sizeof(kern_block_q8_0));
    return act + (size_t)n_threads * per_thread;
}

typedef struct i8_ctx {
    kern_level level;
    rw_dtype wtype;
    const void *W;
    int64_t N, K, M;
    const float *X;
    float *Y;
    bool accumulate;
    uint8_t *au;
    float *da;
    char *thread_scratch;
    size_t per_thread;
} i8_ctx;

static void quant_worker(void *p, int ith, int nth) {
    const i8_ctx *c = p;
    size_t b, e;
    rw_split_range((size_t)c->M, ith, nth, &b, &e);
    const int64_t nb = c->K / 32;
    kern_block_q8_0 *tmp =
        (kern_block_q8_0 *)(c->thread_scratch + (size_t)ith * c->per_thread + round64(panel_bytes(c->K)));
    for (size_t m = b; m < e; m++) {
        const float *x = c->X + m * (size_t)c->K;
        uint8_t *a = c->au + m * (size_t)c->K;
        float *d = c->da + (int64_t)m * nb;
        if (c->level >= KERN_LEVEL_AVX512)
            kern_int8_quantize_act_avx512(x, a, d, c->K);
        else
            kern_int8_quantize_act_ref(x, a, d, c->K, tmp);
    }
}

static void gemm_worker(void *p, int ith, int nth) {
    const i8_ctx *c = p;
    const int64_t npanels = (c->N + KERN_PANEL_ROWS - 1) / KERN_PANEL_ROWS;
    size_t b, e;
    rw_split_range((size_t)npanels, ith, nth, &b, &e);
    void *panel = c->thread_scratch + (size_t)ith * c->per_thread;
    const size_t rb = kern_row_bytes(c->wtype, c->K);
    for (size_t pi = b; pi < e; pi++) {
        int64_t r0 = (int64_t)pi * KERN_PANEL_ROWS;
        int nr = (int)(c->N - r0 < KERN_PANEL_ROWS ? c->N - r0 : KERN_PANEL_ROWS);
        const char *w = (const char *)c->W + (size_t)r0 * rb;
        if (c->level >= KERN_LEVEL_AVX512) {
            kern_int8_pack_panel_avx512(c->wtype, w, rb, nr, c->K, panel);
            kern_int8_panel_gemm_avx512(panel, c->K, c->au, c->da, c->M, c->Y + r0, c->N, nr,
                                        c->accumulate);
        } else {
            kern_int8_pack_panel_ref(c->wtype, w, rb, nr, c->K, panel);
            kern_int8_panel_gemm_ref(panel, c->K, c->au, c->da, c->M, c->Y + r0, c->N, nr,
                                     c->accumulate);
        }
    }
}

void kern_matmul_int8(rw_pool *pool, kern_level level, rw_dtype wtype, const void *W, int64_t N,
                      int64_t K, const float *X, int64_t M, float *Y, bool accumulate,
                      void *scratch) {
    RW_ASSERT(kern_matmul_int8_supported(wtype), "int8 matmul takes Q8_0/Q4_0 weights");
    RW_ASSERT(K % 32 == 0, "K %lld is not a multiple of 32", (long long)K);
    if (level > kern_level_cached()) level = kern_level_cached();
    const size_t nb = (size_t)(K / 32);
    char *s = scratch;
    i8_ctx c = {level, wtype, W, N, K, M, X, Y, accumulate, NULL, NULL, NULL, 0};
    c.au = (uint8_t *)s;
    s += round64((size_t)M * (size_t)K);
    c.da = (float *)s;
    s += round64((size_t)M * nb * sizeof(float));
    c.thread_scratch = s;
    c.per_thread = round64(panel_bytes(K)) + round64(nb * sizeof(kern_block_q8_0));
    if (pool) {
        rw_pool_run(pool, quant_worker, &c);
        rw_pool_run(pool, gemm_worker, &c);
    } else {
        quant_worker(&c, 0, 1);
        gemm_worker(&c, 0, 1);
    }
}
