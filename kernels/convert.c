/* f32 <-> f16/bf16 conversions. The scalar functions are the specification (IEEE 754
 * round-to-nearest-even, subnormals exact, NaN quieted with sign and top payload bits kept,
 * as the F16C instructions do); row functions dispatch to F16C when allowed and are tested
 * bit-identical to the scalar loop on all 65536 16-bit patterns and on f32 edge cases. */
#include "kernels/convert.h"

#include <string.h>

#include "kernels/cpu.h"
#include "kernels/quant_internal.h"

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float kern_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24 is exact in f32 */
        float v = (float)man * 0x1p-24f;
        return bits_f32(f32_bits(v) | sign);
    }
    if (exp == 31) {
        if (man == 0) return bits_f32(sign | 0x7f800000u);
        return bits_f32(sign | 0x7fc00000u | (man << 13));
    }
    return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t kern_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {
        if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
        return (uint16_t)(sign | 0x7c00u);
    }
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to Inf */
    if (ax < 0x38800000u) {                                   /* below 2^-14: subnormal */
        if (ax <= 0x33000000u) return (uint16_t)sign;         /* <= 2^-25 rounds to 0 */
        uint32_t e = ax >> 23;
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* 14..24: value = m * 2^-shift units of 2^-24 */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = ax - 0x38000000u; /* rebias exponent 127 -> 15 */
    r = r + 0xfffu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

float kern_bf16_to_f32(uint16_t h) {
    return bits_f32((uint32_t)h << 16);
}

uint16_t kern_f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

void kern_f16_to_f32_row_ref(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        dst[i] = kern_f16_to_f32(src[i]);
}

void kern_f32_to_f16_row_ref(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        dst[i] = kern_f32_to_f16(src[i]);
}

void kern_bf16_to_f32_row_ref(const uint16_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        dst[i] = kern_bf16_to_f32(src[i]);
}

void kern_f32_to_bf16_row_ref(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        dst[i] = kern_f32_to_bf16(src[i]);
}

void kern_f16_to_f32_row(const uint16_t *src, float *dst, int64_t n) {
#if KERN_X86
    if (kern_level_cached() >= KERN_LEVEL_AVX2) {
        kern_f16_to_f32_row_avx2(src, dst, n);
        return;
    }
#endif
    kern_f16_to_f32_row_ref(src, dst, n);
}

void kern_f32_to_f16_row(const float *src, uint16_t *dst, int64_t n) {
#if KERN_X86
    if (kern_level_cached() >= KERN_LEVEL_AVX2) {
        kern_f32_to_f16_row_avx2(src, dst, n);
        return;
    }
#endif
    kern_f32_to_f16_row_ref(src, dst, n);
}

void kern_bf16_to_f32_row(const uint16_t *src, float *dst, int64_t n) {
#if KERN_X86
    if (kern_level_cached() >= KERN_LEVEL_AVX2) {
        kern_bf16_to_f32_row_avx2(src, dst, n);
        return;
    }
#endif
    kern_bf16_to_f32_row_ref(src, dst, n);
}

void kern_f32_to_bf16_row(const float *src, uint16_t *dst, int64_t n) {
    kern_f32_to_bf16_row_ref(src, dst, n); /* used only when writing files: not hot */
}
