/* kernels/-private pieces of the integer matmul path (matmul_int8.c, matmul_int8_avx512.c).
 *
 * Weights (Q8_0 or Q4_0) are repacked per thread into panels of KERN_PANEL_ROWS rows, one
 * 640-byte record per 32-element block b (all little-endian, 64-byte aligned):
 *   int8  w[8][16][4]  w[g][r][j] = signed level of row r, element 4g + j of the block
 *                      (Q8_0: q; Q4_0: q - 8), rows past the panel's end are 0
 *   float dw[16]       the row's block scale (f16 decoded), 0 for missing rows
 *   int32 corr[16]     -128 * sum_j w of the row's block
 * Activations are quantized once to Q8_0 and stored as u8 levels a + 128 (row-major,
 * M x K bytes) with their f32 scales da (M x K/32). One vpdpbusd then multiplies 4 bytes
 * of one activation row (broadcast) with 4 bytes of 16 weight rows, and starting the
 * per-block int32 sum from corr removes the +128: the block's integer dot
 * sum_j a_j * w_j is exact. Each output then accumulates, block by block in order,
 *   acc = fmaf((float)isum, dw * da, acc)
 * so every level is bit-identical to the scalar reference. */
#ifndef RW_KERNELS_MATMUL_INTERNAL_H
#define RW_KERNELS_MATMUL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"

enum {
    KERN_PANEL_ROWS = 16,
    KERN_PANEL_BLOCK_BYTES = 640, /* 512 + 64 + 64 */
    KERN_PANEL_MR = 4             /* activation rows per micro-tile (AVX-512 kernel) */
};

/* Packs nr (1..16) rows of W (Q8_0 or Q4_0, row stride row_bytes) into panel
 * (K/32 * KERN_PANEL_BLOCK_BYTES bytes, 64-byte aligned). */
void kern_int8_pack_panel_ref(rw_dtype t, const void *W, size_t row_bytes, int nr, int64_t K,
                              void *panel);
void kern_int8_pack_panel_avx512(rw_dtype t, const void *W, size_t row_bytes, int nr, int64_t K,
                                 void *panel);

/* One activation row of K floats -> u8 levels (Q8_0 q + 128) and K/32 decoded scales,
 * exactly as kern_quantize_row_q8_0_ref. tmp: K/32 Q8_0 blocks of scratch (ref only). */
void kern_int8_quantize_act_ref(const float *x, uint8_t *au, float *da, int64_t K, void *tmp);
void kern_int8_quantize_act_avx512(const float *x, uint8_t *au, float *da, int64_t K);

/* Y[m * ldy + r] (=|+=) panel row r . activation row m, for r < nr, m < M. au: M x K bytes,
 * da: M x K/32 floats. */
void kern_int8_panel_gemm_ref(const void *panel, int64_t K, const uint8_t *au, const float *da,
                              int64_t M, float *Y, int64_t ldy, int nr, bool accumulate);
void kern_int8_panel_gemm_avx512(const void *panel, int64_t K, const uint8_t *au,
                                 const float *da, int64_t M, float *Y, int64_t ldy, int nr,
                                 bool accumulate);

#endif
