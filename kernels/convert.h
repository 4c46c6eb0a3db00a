/* Exact scalar and row conversions between f32 and the 16-bit float formats.
 *
 * f16 is IEEE 754 binary16 (1-5-10), bf16 is the top half of a binary32 (1-8-7); both are
 * stored as uint16_t bit patterns, as ggml stores them. f32 -> 16-bit rounds to nearest,
 * ties to even; overflow gives +-Inf; f16 subnormals are produced and read exactly; NaN
 * stays NaN (quiet, sign kept; the payload's top bits are kept where they fit). 16-bit ->
 * f32 is exact. Row variants take n elements and never allocate; they use F16C/AVX-512
 * when kern_cpu_level() allows and give bit-identical results to the scalar functions. */
#ifndef RW_KERNELS_CONVERT_H
#define RW_KERNELS_CONVERT_H

#include <stdint.h>

float kern_f16_to_f32(uint16_t h);
uint16_t kern_f32_to_f16(float f);
float kern_bf16_to_f32(uint16_t h);
uint16_t kern_f32_to_bf16(float f);

/* Rows of n elements (src and dst must not overlap). */
void kern_f16_to_f32_row(const uint16_t *src, float *dst, int64_t n);
void kern_f32_to_f16_row(const float *src, uint16_t *dst, int64_t n);
void kern_bf16_to_f32_row(const uint16_t *src, float *dst, int64_t n);
void kern_f32_to_bf16_row(const float *src, uint16_t *dst, int64_t n);

#endif
