/* Integer matmul path for Q8_0/Q4_0/Q4_K/Q6_K weights: Y[M x N] = X[M x K] . W^T with activations
 * quantized to Q8_0 and int8 x int8 -> int32 block dot products (layout and exactness
 * rules in matmul_internal.h). This file holds the scalar reference kernels and the
 * driver; matmul_int8_avx512.c the AVX-512 VNNI kernels and matmul_int8_avx2.c the 256-bit
 * ones (AVX2 vpmaddubsw, or AVX-VNNI vpdpbusd when the CPU has it), all bit-identical to
 * these. The driver runs the AVX-512 kernels only where the CPU has AVX-512 VNNI, and
 * otherwise the 256-bit ones at any level >= AVX2.
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

/* Levels of one weight block (32 elements for Q8_0/Q4_0, 256 for Q4_K/Q6_K) into lv, and
 * per 32-element sub-block s0/x1 (matmul_internal.h). Returns the number of 32-blocks. */
static int block_levels(rw_dtype t, const char *blk, int8_t lv[256], float s0[8], float x1[8]) {
    if (t == RW_DTYPE_Q8_0) {
        kern_block_q8_0 b;
        memcpy(&b, blk, sizeof b);
        memcpy(lv, b.qs, 32);
        s0[0] = kern_f16_to_f32(b.d);
        x1[0] = 0;
        return 1;
    }
    if (t == RW_DTYPE_Q4_0) {
        kern_block_q4_0 b;
        memcpy(&b, blk, sizeof b);
        for (int j = 0; j < 16; j++) {
            lv[j] = (int8_t)((b.qs[j] & 0x0F) - 8);
            lv[j + 16] = (int8_t)((b.qs[j] >> 4) - 8);
        }
        s0[0] = kern_f16_to_f32(b.d);
        x1[0] = 0;
        return 1;
    }
    if (t == RW_DTYPE_Q4_K) {
        kern_block_q4_k b;
        memcpy(&b, blk, sizeof b);
        const float d = kern_f16_to_f32(b.d), dmin = kern_f16_to_f32(b.dmin);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            kern_get_scale_min_k4(j, b.scales, &sc, &m);
            s0[j] = d * (float)sc;
            x1[j] = dmin * (float)m;
        }
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                lv[64 * c + l] = (int8_t)(b.qs[32 * c + l] & 0x0F);
                lv[64 * c + 32 + l] = (int8_t)(b.qs[32 * c + l] >> 4);
            }
        return 8;
    }
    RW_ASSERT(t == RW_DTYPE_Q6_K, "int8 panels take Q8_0/Q4_0/Q4_K/Q6_K, not %d", (int)t);
    kern_block_q6_k b;
    memcpy(&b, blk, sizeof b);
    const float d = kern_f16_to_f32(b.d);
    for (int j = 0; j < 8; j++) {
        s0[j] = d * (float)b.scales[2 * j];
        x1[j] = d * (float)b.scales[2 * j + 1];
    }
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t lo = b.ql[64 * h + l], hi = b.ql[64 * h + 32 + l], qh = b.qh[32 * h + l];
            int8_t *o = lv + 128 * h + l;
            o[0] = (int8_t)(((lo & 0x0F) | ((qh & 3) << 4)) - 32);
            o[32] = (int8_t)(((hi & 0x0F) | (((qh >> 2) & 3) << 4)) - 32);
            o[64] = (int8_t)(((lo >> 4) | (((qh >> 4) & 3) << 4)) - 32);
            o[96] = (int8_t)(((hi >> 4) | (((qh >> 6) & 3) << 4)) - 32);
        }
    return 8;
}

void kern_int8_pack_panel_ref(rw_dtype t, const void *W, size_t row_bytes, int nr, int64_t K,
                              void *panel) {
    const kern_type_traits *tt = kern_type_get(t);
    const kern_i8_kind kind = kern_i8_kind_of(t);
    const size_t rec_bytes = kern_i8_record_bytes(kind);
    const int64_t bs = tt->block_size, nsb = K / bs;
    for (int64_t sb = 0; sb < nsb; sb++) {
        int8_t lv[16][256];
        float s0[16][8], x1[16][8];
        int nsub = (int)(bs / 32);
        for (int r = 0; r < 16; r++) {
            memset(lv[r], 0, sizeof lv[r]);
            memset(s0[r], 0, sizeof s0[r]);
            memset(x1[r], 0, sizeof x1[r]);
            if (r < nr)
                block_levels(t, (const char *)W + (size_t)r * row_bytes + (size_t)sb * tt->type_size,
                             lv[r], s0[r], x1[r]);
        }
        for (int j = 0; j < nsub; j++) {
            uint8_t *rec = (uint8_t *)panel + (size_t)(sb * nsub + j) * rec_bytes;
            int8_t *w = (int8_t *)rec;
            float fs0[16], fx1[16];
            int32_t c0[16], c1[16];
            for (int r = 0; r < 16; r++) {
                int32_t sum0 = 0, sum1 = 0;
                for (int k = 0; k < 32; k++) {
                    int8_t q = lv[r][32 * j + k];
                    w[(k / 4) * 64 + r * 4 + k % 4] = q;
                    if (kind == KERN_I8_HALVES && k >= 16)
                        sum1 += q;
                    else
                        sum0 += q;
                }
                c0[r] = -128 * sum0;
                c1[r] = -128 * sum1;
                fs0[r] = s0[r][j];
                fx1[r] = x1[r][j];
            }
            memcpy(rec + 512, fs0, 64);
            memcpy(rec + 576, c0, 64);
            if (kind != KERN_I8_ONE) memcpy(rec + 640, fx1, 64);
            if (kind == KERN_I8_HALVES) memcpy(rec + 704, c1, 64);
        }
    }
}

void kern_int8_panel_gemm_ref(kern_i8_kind kind, const void *panel, int64_t K, const uint8_t *au,
                              const float *da, const float *sa, int64_t M, float *Y, int64_t ldy,
                              int nr, bool accumulate) {
    const int64_t nb = K / 32;
    const size_t rec_bytes = kern_i8_record_bytes(kind);
    for (int64_t m = 0; m < M; m++)
        for (int r = 0; r < nr; r++) {
            float acc = 0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *rec = (const uint8_t *)panel + (size_t)b * rec_bytes;
                const int8_t *w = (const int8_t *)rec;
                float f0, f1 = 0;
                int32_t i0, i1 = 0;
                memcpy(&f0, rec + 512 + 4 * r, 4);
                memcpy(&i0, rec + 576 + 4 * r, 4);
                if (kind != KERN_I8_ONE) memcpy(&f1, rec + 640 + 4 * r, 4);
                if (kind == KERN_I8_HALVES) memcpy(&i1, rec + 704 + 4 * r, 4);
                const uint8_t *a = au + (size_t)m * (size_t)K + (size_t)b * 32;
                for (int k = 0; k < 32; k++) {
                    int32_t p = (int32_t)a[k] * (int32_t)w[(k / 4) * 64 + r * 4 + k % 4];
                    if (kind == KERN_I8_HALVES && k >= 16)
                        i1 += p;
                    else
                        i0 += p;
                }
                const float d = da[m * nb + b];
                acc = fmaf((float)i0, f0 * d, acc);
                if (kind == KERN_I8_MIN) acc = fmaf(-f1, sa[m * nb + b], acc);
                if (kind == KERN_I8_HALVES) acc = fmaf((float)i1, f1 * d, acc);
            }
            float *y = &Y[m * ldy + r];
            *y = accumulate ? *y + acc : acc;
        }
}

void kern_int8_quantize_act_ref(const float *x, uint8_t *au, float *da, float *sa, int64_t K,
                                void *tmp) {
    kern_block_q8_0 *q = tmp;
    kern_quantize_row_q8_0_ref(x, q, K);
    for (int64_t i = 0; i < K / 32; i++) {
        int32_t s = 0;
        da[i] = kern_f16_to_f32(q[i].d);
        for (int k = 0; k < 32; k++) {
            au[i * 32 + k] = (uint8_t)(q[i].qs[k] + 128);
            s += q[i].qs[k];
        }
        sa[i] = da[i] * (float)s;
    }
}

/* ---- driver ---- */

bool kern_matmul_int8_supported(rw_dtype wtype) {
    return wtype == RW_DTYPE_Q8_0 || wtype == RW_DTYPE_Q4_0 || wtype == RW_DTYPE_Q4_K ||
           wtype == RW_DTYPE_Q6_K;
}

static size_t round64(size_t n) {
    return (n + 63) & ~(size_t)63;
}

/* Sized for the largest record (HALVES), whatever the type. */
static size_t panel_bytes(int64_t K) {
    return (size_t)(K / 32) * kern_i8_record_bytes(KERN_I8_HALVES);
}

size_t kern_matmul_int8_scratch_bytes(int64_t K, int64_t M, int n_threads) {
    if (n_threads < 1) n_threads = 1;
    size_t nb = (size_t)(K / 32);
    size_t act = round64((size_t)M * (size_t)K) + 2 * round64((size_t)M * nb * sizeof(float));
    size_t per_thread = round64(panel_bytes(K)) + round64(nb * sizeof(kern_block_q8_0)) +
                        round64((size_t)M * 16 * sizeof(float));
    return act + (size_t)n_threads * per_thread;
}

/* Which kernels a level runs (kern_matmul_int8). */
typedef enum i8_impl { I8_REF, I8_AVX2, I8_AVX512 } i8_impl;

typedef struct i8_ctx {
    i8_impl impl;
    kern_i8_dot dot; /* I8_AVX2 */
    rw_dtype wtype;
    const void *W;
    int64_t N, K, M;
    const float *X;
    float *Y;
    bool accumulate;
    uint8_t *au;
    float *da, *sa;
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
        float *d = c->da + (int64_t)m * nb, *sa = c->sa + (int64_t)m * nb;
#if KERN_X86
        if (c->impl == I8_AVX512) {
            kern_int8_quantize_act_avx512(x, a, d, sa, c->K);
            continue;
        }
        if (c->impl == I8_AVX2) {
            kern_int8_quantize_act_avx2(x, a, d, sa, c->K);
            continue;
        }
#endif
        kern_int8_quantize_act_ref(x, a, d, sa, c->K, tmp);
    }
}

static void gemm_worker(void *p, int ith, int nth) {
    const i8_ctx *c = p;
    const int64_t npanels = (c->N + KERN_PANEL_ROWS - 1) / KERN_PANEL_ROWS;
    size_t b, e;
    rw_split_range((size_t)npanels, ith, nth, &b, &e);
    void *panel = c->thread_scratch + (size_t)ith * c->per_thread;
    const kern_i8_kind kind = kern_i8_kind_of(c->wtype);
    /* per-thread scratch: panel, Q8_0 row (quant_worker), accumulators (M x 16 floats) */
    float *accbuf = (float *)((char *)panel + round64(panel_bytes(c->K)) +
                              round64((size_t)(c->K / 32) * sizeof(kern_block_q8_0)));
    const size_t rb = kern_row_bytes(c->wtype, c->K);
    for (size_t pi = b; pi < e; pi++) {
        int64_t r0 = (int64_t)pi * KERN_PANEL_ROWS;
        int nr = (int)(c->N - r0 < KERN_PANEL_ROWS ? c->N - r0 : KERN_PANEL_ROWS);
        const char *w = (const char *)c->W + (size_t)r0 * rb;
#if KERN_X86
        if (c->impl == I8_AVX512) {
            kern_int8_pack_panel_avx512(c->wtype, w, rb, nr, c->K, panel);
            kern_int8_panel_gemm_avx512(kind, panel, c->K, c->au, c->da, c->sa, c->M, c->Y + r0,
                                        c->N, nr, c->accumulate, accbuf);
            continue;
        }
        if (c->impl == I8_AVX2) {
            kern_int8_pack_panel_avx2(c->wtype, w, rb, nr, c->K, panel);
            kern_int8_panel_gemm_avx2(c->wtype, c->dot, panel, c->K, c->au, c->da, c->sa, c->M,
                                      c->Y + r0, c->N, nr, c->accumulate, accbuf);
            continue;
        }
#endif
        (void)accbuf;
        kern_int8_pack_panel_ref(c->wtype, w, rb, nr, c->K, panel);
        kern_int8_panel_gemm_ref(kind, panel, c->K, c->au, c->da, c->sa, c->M, c->Y + r0, c->N,
                                 nr, c->accumulate);
    }
}

void kern_matmul_int8(rw_pool *pool, kern_level level, rw_dtype wtype, const void *W, int64_t N,
                      int64_t K, const float *X, int64_t M, float *Y, bool accumulate,
                      void *scratch) {
    RW_ASSERT(kern_matmul_int8_supported(wtype), "int8 matmul takes Q8_0/Q4_0/Q4_K/Q6_K weights");
    RW_ASSERT(K % kern_type_get(wtype)->block_size == 0, "K %lld is not a multiple of the block",
              (long long)K);
    if (level > kern_level_cached()) level = kern_level_cached();
    const kern_cpu_features *f = kern_cpu_get();
    i8_impl impl = level == KERN_LEVEL_SCALAR                     ? I8_REF
                   : level >= KERN_LEVEL_AVX512 && f->avx512vnni ? I8_AVX512
                                                                  : I8_AVX2;
    kern_i8_dot dot = f->avx_vnni ? KERN_I8_DOT_AVXVNNI : KERN_I8_DOT_MADDUBS;
    const size_t nb = (size_t)(K / 32);
    char *s = scratch;
    i8_ctx c = {impl, dot, wtype, W, N, K, M, X, Y, accumulate, NULL, NULL, NULL, NULL, 0};
    c.au = (uint8_t *)s;
    s += round64((size_t)M * (size_t)K);
    c.da = (float *)s;
    s += round64((size_t)M * nb * sizeof(float));
    c.sa = (float *)s;
    s += round64((size_t)M * nb * sizeof(float));
    c.thread_scratch = s;
    c.per_thread = round64(panel_bytes(K)) + round64(nb * sizeof(kern_block_q8_0)) +
                   round64((size_t)M * 16 * sizeof(float));
    if (pool) {
        rw_pool_run(pool, quant_worker, &c);
        rw_pool_run(pool, gemm_worker, &c);
    } else {
        quant_worker(&c, 0, 1);
        gemm_worker(&c, 0, 1);
    }
}
