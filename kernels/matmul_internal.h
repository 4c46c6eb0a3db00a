/* kernels/-private pieces of the integer matmul path (matmul_int8.c, matmul_int8_avx512.c,
 * matmul_int8_avx2.c).
 *
 * Weights (Q8_0, Q4_0, Q4_K, Q6_K) are repacked per thread into panels of KERN_PANEL_ROWS
 * rows, one record per 32-element block b (layout below; w[g][r][j] = int8 level of row r,
 * element 4g + j of the block; rows past the panel's end are 0). Activations are
 * quantized once to Q8_0 and stored as u8 levels a + 128 (row-major, M x K bytes) with their f32 scales da (M x K/32). One vpdpbusd then multiplies 4 bytes
 * of one activation row (broadcast) with 4 bytes of 16 weight rows, and starting the
 * per-block int32 sum from the correction removes the +128: the block's integer dot
 * sum_j a_j * w_j is exact. Each output then accumulates block by block in a fixed order
 * of float operations (below), so every level is bit-identical to the scalar reference. */
#ifndef RW_KERNELS_MATMUL_INTERNAL_H
#define RW_KERNELS_MATMUL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"

enum {
    KERN_PANEL_ROWS = 16,
    KERN_PANEL_MR = 4 /* activation rows per micro-tile (AVX-512 kernel) */
};

/* How a weight type's 32-element blocks map to int8 levels:
 *   ONE     Q8_0 (q), Q4_0 (q - 8): one scale s0 = d per block
 *   MIN     Q4_K: levels q (0..15), s0 = d * sc_j, x1 = dmin * m_j, so the block adds
 *           s0 * da * isum - x1 * (da * sum a): the activation row's block sum sa
 *   HALVES  Q6_K: levels q - 32, s0 = d * sc of elements 0-15, x1 = d * sc of 16-31;
 *           the int32 sums of the two halves (vpdpbusd groups 0-3 and 4-7) are kept apart
 * Panel record per block (bytes): w[8][16][4] @0, float s0[16] @512, int32 c0[16] @576,
 * float x1[16] @640 (MIN, HALVES), int32 c1[16] @704 (HALVES). c0/c1 are -128 times the
 * level sum of the groups they start (ONE/MIN: all 8; HALVES: 0-3 and 4-7). Per block
 * and output, in this order (fmaf semantics, one rounding each):
 *   ONE     acc = fma(i, s0*da, acc)
 *   MIN     acc = fma(i, s0*da, acc); acc = fma(-x1, sa, acc)
 *   HALVES  acc = fma(i0, s0*da, acc); acc = fma(i1, x1*da, acc) */
typedef enum kern_i8_kind { KERN_I8_ONE = 0, KERN_I8_MIN = 1, KERN_I8_HALVES = 2 } kern_i8_kind;

static inline kern_i8_kind kern_i8_kind_of(rw_dtype t) {
    return t == RW_DTYPE_Q4_K ? KERN_I8_MIN : t == RW_DTYPE_Q6_K ? KERN_I8_HALVES : KERN_I8_ONE;
}

static inline size_t kern_i8_record_bytes(kern_i8_kind k) {
    return k == KERN_I8_ONE ? 640 : k == KERN_I8_MIN ? 704 : 768;
}

/* Packs nr (1..16) rows of W (row stride row_bytes) into panel
 * (K/32 * kern_i8_record_bytes bytes, 64-byte aligned); missing rows are zero. */
void kern_int8_pack_panel_ref(rw_dtype t, const void *W, size_t row_bytes, int nr, int64_t K,
                              void *panel);
void kern_int8_pack_panel_avx512(rw_dtype t, const void *W, size_t row_bytes, int nr, int64_t K,
                                 void *panel);
void kern_int8_pack_panel_avx2(rw_dtype t, const void *W, size_t row_bytes, int nr, int64_t K,
                               void *panel);

/* One activation row of K floats -> u8 levels (Q8_0 q + 128), K/32 decoded scales da and
 * block sums sa = da * (float)sum q, exactly as kern_quantize_row_q8_0_ref. tmp: K/32 Q8_0
 * blocks of scratch (ref only). */
void kern_int8_quantize_act_ref(const float *x, uint8_t *au, float *da, float *sa, int64_t K,
                                void *tmp);
void kern_int8_quantize_act_avx512(const float *x, uint8_t *au, float *da, float *sa, int64_t K);
void kern_int8_quantize_act_avx2(const float *x, uint8_t *au, float *da, float *sa, int64_t K);

/* Y[m * ldy + r] (=|+=) panel row r . activation row m, for r < nr, m < M. au: M x K bytes,
 * da, sa: M x K/32 floats. accbuf (SIMD only): M x 16 floats, 64-byte aligned, for the
 * accumulators between K chunks. */
void kern_int8_panel_gemm_ref(kern_i8_kind kind, const void *panel, int64_t K, const uint8_t *au,
                              const float *da, const float *sa, int64_t M, float *Y, int64_t ldy,
                              int nr, bool accumulate);
void kern_int8_panel_gemm_avx512(kern_i8_kind kind, const void *panel, int64_t K,
                                 const uint8_t *au, const float *da, const float *sa, int64_t M,
                                 float *Y, int64_t ldy, int nr, bool accumulate, float *accbuf);

/* Integer-dot form of the 256-bit kernel (matmul_int8_avx2.c): AVX2 vpmaddubsw/vpmaddwd,
 * AVX-VNNI vpdpbusd (VEX), or the same vpdpbusd ymm encoded for AVX-512 VNNI + VL (tests
 * only: it runs the VNNI code on machines without AVX-VNNI). The caller checks the CPU. */
typedef enum kern_i8_dot {
    KERN_I8_DOT_MADDUBS = 0,
    KERN_I8_DOT_AVXVNNI = 1,
    KERN_I8_DOT_VNNI_EVEX = 2
} kern_i8_dot;
/* As kern_int8_panel_gemm_avx512, taking the weight type t (Q8_0 and Q4_0 share a kind but
 * not the bound that keeps vpmaddubsw exact). */
void kern_int8_panel_gemm_avx2(rw_dtype t, kern_i8_dot dot, const void *panel, int64_t K,
                               const uint8_t *au, const float *da, const float *sa, int64_t M,
                               float *Y, int64_t ldy, int nr, bool accumulate, float *accbuf);

#endif
