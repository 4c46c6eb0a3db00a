/* Scalar references for the 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1)
 * and the float types: dequantize, reference quantize, vec_dot.
 *
 * The quantizers follow ggml's quantize_row_*_ref arithmetic step by step (same scale
 * choice, same operation order, same rounding: roundf for Q8, truncation after +8.5/+0.5
 * offsets for the 4/5-bit types), so output bytes match llama.cpp for finite input. Float
 * -> int conversions are clamped in float first so NaN/Inf input cannot invoke UB. As in
 * quant_kquants_ref.c, `x * id + offset` is one fmaf(): the rounding of the ggml build
 * llama.cpp ships (-march=native, where gcc contracts it).
 * vec_dot: exact int32 sum per block, then f32 accumulation over blocks in order. */
#include "kernels/quant_internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "core/assert.h"
#include "kernels/convert.h"

#define F16(x) kern_f16_to_f32(x)

/* (int)t for t in [0, hi], with NaN -> 0; the same as C's truncating cast plus MIN(hi, .)
 * on the finite values ggml's quantizers produce. */
static inline int trunc_clamp(float t, int hi) {
    if (!(t >= 0.f)) return 0;
    if (t >= (float)hi) return hi;
    return (int)t;
}

/* ---- float types ---- */

void kern_dequant_row_f32_ref(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void kern_quantize_row_f32_ref(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void kern_dequant_row_f16_ref(const void *src, float *dst, int64_t n) {
    kern_f16_to_f32_row_ref(src, dst, n);
}

void kern_quantize_row_f16_ref(const float *src, void *dst, int64_t n) {
    kern_f32_to_f16_row_ref(src, dst, n);
}

void kern_dequant_row_bf16_ref(const void *src, float *dst, int64_t n) {
    kern_bf16_to_f32_row_ref(src, dst, n);
}

void kern_quantize_row_bf16_ref(const float *src, void *dst, int64_t n) {
    kern_f32_to_bf16_row_ref(src, dst, n);
}

void kern_vec_dot_f32_f32_ref(int64_t n, float *s, const void *wp, const void *ap) {
    const float *w = wp, *a = ap;
    float sum = 0.f;
    for (int64_t i = 0; i < n; i++)
        sum += w[i] * a[i];
    *s = sum;
}

void kern_vec_dot_f16_f32_ref(int64_t n, float *s, const void *wp, const void *ap) {
    const uint16_t *w = wp;
    const float *a = ap;
    float sum = 0.f;
    for (int64_t i = 0; i < n; i++)
        sum += F16(w[i]) * a[i];
    *s = sum;
}

void kern_vec_dot_bf16_f32_ref(int64_t n, float *s, const void *wp, const void *ap) {
    const uint16_t *w = wp;
    const float *a = ap;
    float sum = 0.f;
    for (int64_t i = 0; i < n; i++)
        sum += kern_bf16_to_f32(w[i]) * a[i];
    *s = sum;
}

/* ---- Q4_0 ---- */

void kern_quantize_row_q4_0_ref(const float *x, void *dst, int64_t n) {
    RW_ASSERT(n % KERN_QK == 0, "n=%lld", (long long)n);
    kern_block_q4_0 *y = dst;
    for (int64_t i = 0; i < n / KERN_QK; i++, x += KERN_QK) {
        float amax = 0.f, max = 0.f;
        for (int j = 0; j < KERN_QK; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        y[i].d = kern_f32_to_f16(d);
        for (int j = 0; j < KERN_QK / 2; j++) {
            int q0 = trunc_clamp(fmaf(x[j], id, 8.5f), 15);
            int q1 = trunc_clamp(fmaf(x[j + KERN_QK / 2], id, 8.5f), 15);
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void kern_dequant_row_q4_0_ref(const void *src, float *y, int64_t n) {
    const kern_block_q4_0 *x = src;
    for (int64_t i = 0; i < n / KERN_QK; i++, y += KERN_QK) {
        const float d = F16(x[i].d);
        for (int j = 0; j < KERN_QK / 2; j++) {
            y[j] = (float)((x[i].qs[j] & 0xF) - 8) * d;
            y[j + KERN_QK / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void kern_vec_dot_q4_0_q8_0_ref(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q4_0 *w = wp;
    const kern_block_q8_0 *a = ap;
    float sum = 0.f;
    for (int64_t i = 0; i < n / KERN_QK; i++) {
        int32_t si = 0;
        for (int j = 0; j < KERN_QK / 2; j++) {
            si += ((w[i].qs[j] & 0xF) - 8) * a[i].qs[j];
            si += ((w[i].qs[j] >> 4) - 8) * a[i].qs[j + KERN_QK / 2];
        }
        sum += (float)si * (F16(w[i].d) * F16(a[i].d));
    }
    *s = sum;
}

/* ---- Q4_1 ---- */

void kern_quantize_row_q4_1_ref(const float *x, void *dst, int64_t n) {
    RW_ASSERT(n % KERN_QK == 0, "n=%lld", (long long)n);
    kern_block_q4_1 *y = dst;
    for (int64_t i = 0; i < n / KERN_QK; i++, x += KERN_QK) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < KERN_QK; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        y[i].d = kern_f32_to_f16(d);
        y[i].m = kern_f32_to_f16(min);
        for (int j = 0; j < KERN_QK / 2; j++) {
            int q0 = trunc_clamp(fmaf(x[j] - min, id, 0.5f), 15);
            int q1 = trunc_clamp(fmaf(x[j + KERN_QK / 2] - min, id, 0.5f), 15);
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void kern_dequant_row_q4_1_ref(const void *src, float *y, int64_t n) {
    const kern_block_q4_1 *x = src;
    for (int64_t i = 0; i < n / KERN_QK; i++, y += KERN_QK) {
        const float d = F16(x[i].d), m = F16(x[i].m);
        for (int j = 0; j < KERN_QK / 2; j++) {
            y[j] = (float)(x[i].qs[j] & 0xF) * d + m;
            y[j + KERN_QK / 2] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

void kern_vec_dot_q4_1_q8_1_ref(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q4_1 *w = wp;
    const kern_block_q8_1 *a = ap;
    float sum = 0.f;
    for (int64_t i = 0; i < n / KERN_QK; i++) {
        int32_t si = 0;
        for (int j = 0; j < KERN_QK / 2; j++) {
            si += (w[i].qs[j] & 0xF) * a[i].qs[j];
            si += (w[i].qs[j] >> 4) * a[i].qs[j + KERN_QK / 2];
        }
        sum += (float)si * (F16(w[i].d) * F16(a[i].d)) + F16(w[i].m) * F16(a[i].s);
    }
    *s = sum;
}

/* ---- Q5_0 ---- */

void kern_quantize_row_q5_0_ref(const float *x, void *dst, int64_t n) {
    RW_ASSERT(n % KERN_QK == 0, "n=%lld", (long long)n);
    kern_block_q5_0 *y = dst;
    for (int64_t i = 0; i < n / KERN_QK; i++, x += KERN_QK) {
        float amax = 0.f, max = 0.f;
        for (int j = 0; j < KERN_QK; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -16;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        y[i].d = kern_f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < KERN_QK / 2; j++) {
            int q0 = trunc_clamp(fmaf(x[j], id, 16.5f), 31);
            int q1 = trunc_clamp(fmaf(x[j + KERN_QK / 2], id, 16.5f), 31);
            y[i].qs[j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= ((uint32_t)(q0 & 0x10) >> 4) << j;
            qh |= ((uint32_t)(q1 & 0x10) >> 4) << (j + KERN_QK / 2);
        }
        memcpy(y[i].qh, &qh, sizeof qh);
    }
}

static inline int q5_get(const uint8_t *qs, uint32_t qh, int j) {
    int lo = j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4);
    return lo | (int)(((qh >> j) & 1u) << 4);
}

void kern_dequant_row_q5_0_ref(const void *src, float *y, int64_t n) {
    const kern_block_q5_0 *x = src;
    for (int64_t i = 0; i < n / KERN_QK; i++, y += KERN_QK) {
        const float d = F16(x[i].d);
        uint32_t qh;
        memcpy(&qh, x[i].qh, sizeof qh);
        for (int j = 0; j < KERN_QK; j++)
            y[j] = (float)(q5_get(x[i].qs, qh, j) - 16) * d;
    }
}

void kern_vec_dot_q5_0_q8_0_ref(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q5_0 *w = wp;
    const kern_block_q8_0 *a = ap;
    float sum = 0.f;
    for (int64_t i = 0; i < n / KERN_QK; i++) {
        uint32_t qh;
        memcpy(&qh, w[i].qh, sizeof qh);
        int32_t si = 0;
        for (int j = 0; j < KERN_QK; j++)
            si += (q5_get(w[i].qs, qh, j) - 16) * a[i].qs[j];
        sum += (float)si * (F16(w[i].d) * F16(a[i].d));
    }
    *s = sum;
}

/* ---- Q5_1 ---- */

void kern_quantize_row_q5_1_ref(const float *x, void *dst, int64_t n) {
    RW_ASSERT(n % KERN_QK == 0, "n=%lld", (long long)n);
    kern_block_q5_1 *y = dst;
    for (int64_t i = 0; i < n / KERN_QK; i++, x += KERN_QK) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < KERN_QK; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 31;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        y[i].d = kern_f32_to_f16(d);
        y[i].m = kern_f32_to_f16(min);
        uint32_t qh = 0;
        for (int j = 0; j < KERN_QK / 2; j++) {
            int q0 = trunc_clamp(fmaf(x[j] - min, id, 0.5f), 31);
            int q1 = trunc_clamp(fmaf(x[j + KERN_QK / 2] - min, id, 0.5f), 31);
            y[i].qs[j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= ((uint32_t)(q0 & 0x10) >> 4) << j;
            qh |= ((uint32_t)(q1 & 0x10) >> 4) << (j + KERN_QK / 2);
        }
        memcpy(y[i].qh, &qh, sizeof qh);
    }
}

void kern_dequant_row_q5_1_ref(const void *src, float *y, int64_t n) {
    const kern_block_q5_1 *x = src;
    for (int64_t i = 0; i < n / KERN_QK; i++, y += KERN_QK) {
        const float d = F16(x[i].d), m = F16(x[i].m);
        uint32_t qh;
        memcpy(&qh, x[i].qh, sizeof qh);
        for (int j = 0; j < KERN_QK; j++)
            y[j] = (float)q5_get(x[i].qs, qh, j) * d + m;
    }
}

void kern_vec_dot_q5_1_q8_1_ref(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q5_1 *w = wp;
    const kern_block_q8_1 *a = ap;
    float sum = 0.f;
    for (int64_t i = 0; i < n / KERN_QK; i++) {
        uint32_t qh;
        memcpy(&qh, w[i].qh, sizeof qh);
        int32_t si = 0;
        for (int j = 0; j < KERN_QK; j++)
            si += q5_get(w[i].qs, qh, j) * a[i].qs[j];
        sum += (float)si * (F16(w[i].d) * F16(a[i].d)) + F16(w[i].m) * F16(a[i].s);
    }
    *s = sum;
}

/* ---- Q8_0 / Q8_1 ---- */

/* roundf(v) for |v| <= 127.x, NaN -> 0 (ggml: roundf, half away from zero). */
static inline int8_t round_q8(float v) {
    if (!(v == v)) return 0;
    if (v > 127.f) return 127;
    if (v < -127.f) return -127;
    return (int8_t)roundf(v);
}

void kern_quantize_row_q8_0_ref(const float *x, void *dst, int64_t n) {
    RW_ASSERT(n % KERN_QK == 0, "n=%lld", (long long)n);
    kern_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / KERN_QK; i++, x += KERN_QK) {
        float amax = 0.f;
        for (int j = 0; j < KERN_QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        y[i].d = kern_f32_to_f16(d);
        for (int j = 0; j < KERN_QK; j++)
            y[i].qs[j] = round_q8(x[j] * id);
    }
}

void kern_dequant_row_q8_0_ref(const void *src, float *y, int64_t n) {
    const kern_block_q8_0 *x = src;
    for (int64_t i = 0; i < n / KERN_QK; i++, y += KERN_QK) {
        const float d = F16(x[i].d);
        for (int j = 0; j < KERN_QK; j++)
            y[j] = (float)x[i].qs[j] * d;
    }
}

void kern_vec_dot_q8_0_q8_0_ref(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q8_0 *w = wp;
    const kern_block_q8_0 *a = ap;
    float sum = 0.f;
    for (int64_t i = 0; i < n / KERN_QK; i++) {
        int32_t si = 0;
        for (int j = 0; j < KERN_QK; j++)
            si += w[i].qs[j] * a[i].qs[j];
        sum += (float)si * (F16(w[i].d) * F16(a[i].d));
    }
    *s = sum;
}

void kern_quantize_row_q8_1_ref(const float *x, void *dst, int64_t n) {
    RW_ASSERT(n % KERN_QK == 0, "n=%lld", (long long)n);
    kern_block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / KERN_QK; i++, x += KERN_QK) {
        float amax = 0.f;
        for (int j = 0; j < KERN_QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        y[i].d = kern_f32_to_f16(d);
        int sum = 0;
        for (int j = 0; j < KERN_QK; j++) {
            y[i].qs[j] = round_q8(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = kern_f32_to_f16((float)sum * d);
    }
}

void kern_dequant_row_q8_1_ref(const void *src, float *y, int64_t n) {
    const kern_block_q8_1 *x = src;
    for (int64_t i = 0; i < n / KERN_QK; i++, y += KERN_QK) {
        const float d = F16(x[i].d);
        for (int j = 0; j < KERN_QK; j++)
            y[j] = (float)x[i].qs[j] * d;
    }
}
