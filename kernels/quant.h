/* Quantized block formats, bit-exact with ggml, and their type-traits table.
 *
 * A quantized row of n elements (n a multiple of the block size) is n / block_size blocks
 * stored back to back; a weight matrix W of N rows x K columns (ggml ne = {K, N}) is N such
 * rows of K elements, row-major. The structs below are the on-disk layout: field order,
 * sizes and offsets are pinned with _Static_assert, and 16-bit scales are f16 bit patterns
 * (kernels/convert.h). Reference: ggml-common.h / ggml-quants.c (layouts and reference
 * quantizers read for facts, not copied).
 *
 * Per type the traits give:
 *   to_float        row dequantize to f32 (SIMD when allowed, else the scalar reference)
 *   from_float_ref  the reference quantizer: the same arithmetic and rounding as ggml's
 *                   quantize_row_*_ref (incl. the K-quant scale searches), so the bytes we
 *                   write are the bytes llama.cpp writes for the same f32 input
 *   vec_dot_type    the format activations are converted to before vec_dot (Q8_0, Q8_1,
 *                   Q8_K for quantized weights; F32 for F32/F16/BF16 weights)
 *   vec_dot         s = sum_i w[i] * a[i] for one weight row w (this type) and one
 *                   activation row a (vec_dot_type), n elements, accumulated in f32
 * Activation quantization (the from_float of Q8_0/Q8_1/Q8_K) is deterministic and scalar,
 * so every SIMD level sees the same integers: integer dot products are bit-exact across
 * levels; float accumulation order differs between levels (<= 1e-5 relative).
 *
 * NaN/Inf policy: inputs to the quantizers must be finite (a NaN or Inf in a block gives
 * an unspecified but memory-safe block: no UB, no out-of-range writes); the 16-bit float
 * types carry NaN/Inf through exactly. Kernels never allocate, log or fail. Pointers must
 * be aligned to the element type (2 bytes for blocks and 16-bit types, 4 for f32/Q8_K). */
#ifndef RW_KERNELS_QUANT_H
#define RW_KERNELS_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"
#include "kernels/cpu.h"

enum { KERN_QK = 32, KERN_QK_K = 256, KERN_K_SCALE_SIZE = 12 };

/* d: f16 scale. x = d * (q - 8), q in 0..15; qs[j] holds element j (low nibble) and j+16
 * (high nibble). */
typedef struct kern_block_q4_0 {
    uint16_t d;
    uint8_t qs[KERN_QK / 2];
} kern_block_q4_0;

/* x = d * q + m, q in 0..15, same nibble order as q4_0. */
typedef struct kern_block_q4_1 {
    uint16_t d, m;
    uint8_t qs[KERN_QK / 2];
} kern_block_q4_1;

/* x = d * (q - 16), q = low nibble | (bit j of the little-endian u32 qh) << 4 for element
 * j, bit j+16 for element j+16. */
typedef struct kern_block_q5_0 {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[KERN_QK / 2];
} kern_block_q5_0;

/* x = d * q + m, q 5-bit as in q5_0. */
typedef struct kern_block_q5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[KERN_QK / 2];
} kern_block_q5_1;

/* x = d * q, q in -127..127 (weights may hold -128 only if written by another tool). */
typedef struct kern_block_q8_0 {
    uint16_t d;
    int8_t qs[KERN_QK];
} kern_block_q8_0;

/* Activation format for q4_1/q5_1: x = d * q, s = d * sum(q) (f16). */
typedef struct kern_block_q8_1 {
    uint16_t d, s;
    int8_t qs[KERN_QK];
} kern_block_q8_1;

/* 8 sub-blocks of 32: x = d*sc[j]*q - dmin*m[j], q in 0..15, 6-bit sc/m packed in
 * scales[12] (kern_get_scale_min_k4). qs: for each 64-element half-chunk c (0..3),
 * qs[32c + l] holds element 64c + l (low nibble) and 64c + 32 + l (high nibble). */
typedef struct kern_block_q4_k {
    uint16_t d, dmin;
    uint8_t scales[KERN_K_SCALE_SIZE];
    uint8_t qs[KERN_QK_K / 2];
} kern_block_q4_k;

/* As q4_K with 5-bit q: the 5th bit of element 64c + l is bit 2c of qh[l], of element
 * 64c + 32 + l bit 2c+1 of qh[l]. */
typedef struct kern_block_q5_k {
    uint16_t d, dmin;
    uint8_t scales[KERN_K_SCALE_SIZE];
    uint8_t qh[KERN_QK_K / 8];
    uint8_t qs[KERN_QK_K / 2];
} kern_block_q5_k;

/* 16 sub-blocks of 16: x = d * scales[j] * (q - 32), q 6-bit: low 4 bits in ql, high 2 in
 * qh. For each 128-element half h and l in 0..31: elements 128h + l + {0,32,64,96} take
 * ql[64h + l] low, ql[64h + 32 + l] low, ql[64h + l] high, ql[64h + 32 + l] high nibbles
 * and bits {0-1, 2-3, 4-5, 6-7} of qh[32h + l]. */
typedef struct kern_block_q6_k {
    uint8_t ql[KERN_QK_K / 2];
    uint8_t qh[KERN_QK_K / 4];
    int8_t scales[KERN_QK_K / 16];
    uint16_t d;
} kern_block_q6_k;

/* Activation format for the K-quants: x = d * q (f32 d), bsums[j] = sum of qs[16j..16j+15]. */
typedef struct kern_block_q8_k {
    float d;
    int8_t qs[KERN_QK_K];
    int16_t bsums[KERN_QK_K / 16];
} kern_block_q8_k;

/* Row kernels. n is the element count (a multiple of the type's block size). */
typedef void (*kern_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*kern_from_float_fn)(const float *src, void *dst, int64_t n);
/* *s = dot(w[0..n), a[0..n)): w in the weight type, a in its vec_dot_type. */
typedef void (*kern_vec_dot_fn)(int64_t n, float *s, const void *w, const void *a);
/* s[r] = dot(w + r * w_stride, a) for r in [0, nrows): several weight rows against one
 * activation row, so SIMD kernels load and widen the activations once for a group of rows.
 * Each s[r] equals vec_dot's result within the float-accumulation tolerance (block sums
 * are exact integers at every level). */
typedef void (*kern_vec_dot_rows_fn)(int64_t n, float *s, const void *w, size_t w_stride,
                                     int64_t nrows, const void *a);

typedef struct kern_type_traits {
    rw_dtype type;
    const char *name;   /* ggml's name: "q4_K" */
    int64_t block_size; /* elements per block */
    size_t type_size;   /* bytes per block */
    rw_dtype vec_dot_type;
    kern_to_float_fn to_float;
    kern_from_float_fn from_float_ref;
    kern_vec_dot_fn vec_dot;
    kern_vec_dot_rows_fn vec_dot_rows; /* NULL: callers loop over vec_dot (kern_vec_dot_rows) */
    /* from_float_ref at SIMD speed, bit-identical to it; set for the activation formats
     * (what kern_quantize_activations calls), else from_float_ref itself */
    kern_from_float_fn from_float;
} kern_type_traits;

/* Traits at the level kern_cpu_level() selects; NULL for a type kernels/ does not support
 * as a weight (supported: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K) or as an
 * activation format (Q8_1, Q8_K: to_float and from_float_ref only, vec_dot NULL).
 * The pointer is static; thread-safe. */
const kern_type_traits *kern_type_get(rw_dtype type);
/* Traits with the kernels of one level (capped by what the hardware has); tests use this
 * to compare each level with KERN_LEVEL_SCALAR, which is the specification. */
const kern_type_traits *kern_type_get_level(rw_dtype type, kern_level level);

/* t->vec_dot_rows when the level has one, else vec_dot row by row. */
void kern_vec_dot_rows(const kern_type_traits *t, int64_t n, float *s, const void *w,
                       size_t w_stride, int64_t nrows, const void *a);

/* Bytes of one row of n elements of type (n must be a multiple of the block size). */
size_t kern_row_bytes(rw_dtype type, int64_t n);

/* Quantizes nrows rows of n_per_row f32 values into dst with the reference quantizer
 * (F32 copies, F16/BF16 convert); returns the bytes written (nrows * row bytes). This is
 * what file writers call. Asserts on an unsupported type or a bad row length. */
size_t kern_quantize(rw_dtype type, const float *src, void *dst, int64_t nrows, int64_t n_per_row);

/* Dequantizes nrows rows into f32 (to_float per row). */
void kern_dequantize(rw_dtype type, const void *src, float *dst, int64_t nrows, int64_t n_per_row);

/* The 6-bit scale j (0..7) and min of a q4_K/q5_K scales[12] array. */
static inline void kern_get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

#endif
