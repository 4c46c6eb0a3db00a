/* kernels/-private declarations of the quant kernels at each ISA level.
 * The _ref functions are the specification; _avx2/_avx512 have the same signatures and
 * live in files compiled with those ISA flags (never call them without checking
 * kern_cpu_level()). */
#ifndef RW_KERNELS_QUANT_INTERNAL_H
#define RW_KERNELS_QUANT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/cpu.h"
#include "kernels/quant.h"

/* kern_cpu_level(), read once per process (getenv is not free on hot paths). */
kern_level kern_level_cached(void);

/* Round to nearest, ties to even, for |v| < 2^22; the same bit trick ggml's nearest_int
 * uses, so the K-quant searches round identically (NaN/huge give garbage, never UB). */
static inline int kern_nearest_int(float v) {
    float t = v + 12582912.f;
    int32_t i;
    __builtin_memcpy(&i, &t, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

void kern_f16_to_f32_row_ref(const uint16_t *src, float *dst, int64_t n);
void kern_f32_to_f16_row_ref(const float *src, uint16_t *dst, int64_t n);
void kern_bf16_to_f32_row_ref(const uint16_t *src, float *dst, int64_t n);
void kern_f32_to_bf16_row_ref(const float *src, uint16_t *dst, int64_t n);
void kern_f16_to_f32_row_avx2(const uint16_t *src, float *dst, int64_t n);
void kern_f32_to_f16_row_avx2(const float *src, uint16_t *dst, int64_t n);
void kern_bf16_to_f32_row_avx2(const uint16_t *src, float *dst, int64_t n);

#define KERN_DECLARE_TYPE_REF(t)                                                                   \
    void kern_dequant_row_##t##_ref(const void *src, float *dst, int64_t n);                       \
    void kern_quantize_row_##t##_ref(const float *src, void *dst, int64_t n);

KERN_DECLARE_TYPE_REF(f32)
KERN_DECLARE_TYPE_REF(f16)
KERN_DECLARE_TYPE_REF(bf16)
KERN_DECLARE_TYPE_REF(q4_0)
KERN_DECLARE_TYPE_REF(q4_1)
KERN_DECLARE_TYPE_REF(q5_0)
KERN_DECLARE_TYPE_REF(q5_1)
KERN_DECLARE_TYPE_REF(q8_0)
KERN_DECLARE_TYPE_REF(q8_1)
KERN_DECLARE_TYPE_REF(q4_k)
KERN_DECLARE_TYPE_REF(q5_k)
KERN_DECLARE_TYPE_REF(q6_k)
KERN_DECLARE_TYPE_REF(q8_k)

#define KERN_DECLARE_DOT(w, a, v)                                                                  \
    void kern_vec_dot_##w##_##a##_##v(int64_t n, float *s, const void *wp, const void *ap);
#define KERN_DECLARE_DOTS(v)                                                                       \
    KERN_DECLARE_DOT(f32, f32, v)                                                                  \
    KERN_DECLARE_DOT(f16, f32, v)                                                                  \
    KERN_DECLARE_DOT(bf16, f32, v)                                                                 \
    KERN_DECLARE_DOT(q4_0, q8_0, v)                                                                \
    KERN_DECLARE_DOT(q4_1, q8_1, v)                                                                \
    KERN_DECLARE_DOT(q5_0, q8_0, v)                                                                \
    KERN_DECLARE_DOT(q5_1, q8_1, v)                                                                \
    KERN_DECLARE_DOT(q8_0, q8_0, v)                                                                \
    KERN_DECLARE_DOT(q4_k, q8_k, v)                                                                \
    KERN_DECLARE_DOT(q5_k, q8_k, v)                                                                \
    KERN_DECLARE_DOT(q6_k, q8_k, v)

KERN_DECLARE_DOTS(ref)
KERN_DECLARE_DOTS(avx2)
KERN_DECLARE_DOT(f32, f32, avx512)
KERN_DECLARE_DOT(f16, f32, avx512)
KERN_DECLARE_DOT(bf16, f32, avx512)
KERN_DECLARE_DOT(q4_0, q8_0, avx512)
KERN_DECLARE_DOT(q8_0, q8_0, avx512)
KERN_DECLARE_DOT(q4_k, q8_k, avx512)
KERN_DECLARE_DOT(q6_k, q8_k, avx512)

/* vec_dot_rows SIMD variants (kernels/quant_rows_avx2.c, quant_rows_avx512.c; the K-quants
 * in kernels/quant_rows_kquant_avx2.c, quant_rows_kquant_avx512.c). */
#define KERN_DECLARE_DOT_ROWS(w, a, v)                                                             \
    void kern_vec_dot_rows_##w##_##a##_##v(int64_t n, float *s, const void *wp, size_t w_stride,  \
                                           int64_t nrows, const void *ap);
KERN_DECLARE_DOT_ROWS(q8_0, q8_0, avx2)
KERN_DECLARE_DOT_ROWS(q4_0, q8_0, avx2)
KERN_DECLARE_DOT_ROWS(q8_0, q8_0, avx512)
KERN_DECLARE_DOT_ROWS(q4_0, q8_0, avx512)
/* quant_rows_q5_avx512.c: Q5_K, Q5_0, Q4_1, Q5_1 at AVX-512 VNNI (vec_dot and vec_dot_rows). */
KERN_DECLARE_DOT(q5_k, q8_k, avx512)
KERN_DECLARE_DOT(q5_0, q8_0, avx512)
KERN_DECLARE_DOT(q4_1, q8_1, avx512)
KERN_DECLARE_DOT(q5_1, q8_1, avx512)
KERN_DECLARE_DOT_ROWS(q5_k, q8_k, avx512)
KERN_DECLARE_DOT_ROWS(q5_0, q8_0, avx512)
KERN_DECLARE_DOT_ROWS(q4_1, q8_1, avx512)
KERN_DECLARE_DOT_ROWS(q5_1, q8_1, avx512)
KERN_DECLARE_DOT_ROWS(q4_k, q8_k, avx2)
KERN_DECLARE_DOT_ROWS(q6_k, q8_k, avx2)
KERN_DECLARE_DOT_ROWS(q4_k, q8_k, avx512)
KERN_DECLARE_DOT_ROWS(q6_k, q8_k, avx512)

/* Dequantize (to_float) SIMD variants: same results as _ref bit for bit (each element is
 * one product of the same f32 operands). */
void kern_dequant_row_f16_avx2(const void *src, float *dst, int64_t n);
void kern_dequant_row_bf16_avx2(const void *src, float *dst, int64_t n);
void kern_dequant_row_q8_0_avx2(const void *src, float *dst, int64_t n);
void kern_dequant_row_q4_0_avx2(const void *src, float *dst, int64_t n);
void kern_dequant_row_q4_k_avx2(const void *src, float *dst, int64_t n);
void kern_dequant_row_q6_k_avx2(const void *src, float *dst, int64_t n);
void kern_dequant_row_q4_1_avx2(const void *src, float *dst, int64_t n);
void kern_dequant_row_q5_0_avx2(const void *src, float *dst, int64_t n);
void kern_dequant_row_q5_1_avx2(const void *src, float *dst, int64_t n);
void kern_dequant_row_q5_k_avx2(const void *src, float *dst, int64_t n);

/* Activation quantizers (quant_act_avx2.c): bit-identical to the _ref ones. */
void kern_quantize_row_q8_0_avx2(const float *src, void *dst, int64_t n);
void kern_quantize_row_q8_1_avx2(const float *src, void *dst, int64_t n);
void kern_quantize_row_q8_k_avx2(const float *src, void *dst, int64_t n);

#endif
