/* Scalar references for the K-quants (Q4_K, Q5_K, Q6_K) and their activation format Q8_K.
 *
 * The quantizers reproduce ggml's quantize_row_q{4,5,6}_K_ref: per 32-element sub-block a
 * weighted least-squares search over candidate scales (make_qkx2 style, weights
 * sqrt(mean x^2) + |x|) for Q4_K/Q5_K, and the symmetric make_qx style search (weights
 * x^2, 18 candidate scales) per 16-element sub-block for Q6_K; super-block scales and mins
 * quantized to 6 (Q4_K/Q5_K) or 8 (Q6_K) bits, then every element re-rounded against the
 * stored scales. Operation order is kept expression by expression: the f32 results (and so
 * the bytes) depend on it, and on where a*b+c is computed with one rounding: ggml is
 * built with -march=native, and gcc then contracts a*b+c into FMAs. Those sites are written
 * here as explicit fmaf()/nearest_fma() calls (found from the code gcc generates for this
 * file and checked: refs/models/bert-tiny-q4_k_m.gguf's Q4_K tensors come out byte for
 * byte, tests/kernels_quant/test_gguf_compat.c), so the result no longer depends on our
 * own compiler or flags. docs/kernels.md has the details.
 * Q8_K (activations only): x ~ d * q with q in -127..127, d = max|x| / 127 signed so that
 * the element of largest magnitude maps to -127. */
#include "kernels/quant_internal.h"

#include <math.h>
#include <string.h>

#include "core/assert.h"
#include "kernels/convert.h"

#define F16(x) kern_f16_to_f32(x)
#define GROUP_MAX_EPS 1e-15f

static inline int imin(int a, int b) {
    return a < b ? a : b;
}
static inline int imax(int a, int b) {
    return a > b ? a : b;
}

/* nearest_int(a * b) with the product and the 1.5 * 2^23 offset rounded once, as an
 * FMA-contracting build of ggml computes it. */
static inline int nearest_fma(float a, float b) {
    float t = fmaf(a, b, 12582912.f);
    int32_t i;
    memcpy(&i, &t, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* Asymmetric quantization of n values to 0..nmax with weights: returns the scale, writes
 * the (positive) offset to *the_min so x ~ scale * L - the_min. */
static float search_scale_min(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                              float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++)
            L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1 / iscale;
    float best_err = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_fma(iscale, x[i] - min);
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = fmaf(scale, (float)L[i], min) - x[i];
        diff = diff * diff;
        best_err = fmaf(weights[i], diff, best_err);
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (fmaf(rdelta, (float)is, rmin) + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = nearest_fma(iscale, x[i] - min);
            l = imax(0, imin(nmax, l));
            Laux[i] = (uint8_t)l;
            float wl = weights[i] * (float)l; /* shared product: never fused */
            sum_l += wl;
            sum_l2 = fmaf(wl, (float)l, sum_l2);
            sum_xl = fmaf(wl, x[i], sum_xl);
        }
        float D = fmaf(sum_w, sum_l2, -(sum_l * sum_l));
        if (D > 0) {
            float this_scale = fmaf(-sum_x, sum_l, sum_w * sum_xl) / D;
            float this_min = fmaf(sum_l2, sum_x, -(sum_l * sum_xl)) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float err = 0;
            for (int i = 0; i < n; i++) {
                float diff = fmaf(this_scale, (float)Laux[i], this_min) - x[i];
                diff = diff * diff;
                err = fmaf(weights[i], diff, err);
            }
            if (err < best_err) {
                memcpy(L, Laux, (size_t)n);
                best_err = err;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Symmetric quantization of n values to -nmax..nmax-1 with weights x^2; returns the
 * scale and writes the levels (offset by nmax) of the best candidate to L. */
static float search_scale_sym(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = (float)-nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = nearest_fma(iscale, x[i]);
        l = imax(-nmax, imin(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx = fmaf(w * x[i], (float)l, sumlx);
        suml2 = fmaf(w * (float)l, (float)l, suml2);
    }
    float scale = suml2 != 0.f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -fmaf(0.1f, (float)is, (float)nmax) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = kern_nearest_int(iscale * x[i]);
            l = imax(-nmax, imin(nmax - 1, l));
            float w = x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                int l = kern_nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Shared by Q4_K and Q5_K: 8 sub-block scales/mins -> d, dmin, packed scales[12], and the
 * final levels L[256] (0..nmax). */
static void kq_scales_and_levels(const float *x, int nmax, float rmin, int nstep, uint16_t *d_out,
                                 uint16_t *dmin_out, uint8_t *packed, uint8_t *L) {
    float scales[KERN_QK_K / 32], mins[KERN_QK_K / 32], weights[32];
    uint8_t Laux[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < KERN_QK_K / 32; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = search_scale_min(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                     rmin, 0.1f, nstep);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    memset(packed, 0, KERN_K_SCALE_SIZE);
    for (int j = 0; j < KERN_QK_K / 32; j++) {
        uint8_t ls = (uint8_t)nearest_fma(inv_scale, scales[j]);
        uint8_t lm = (uint8_t)nearest_fma(inv_min, mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            packed[j - 4] |= (uint8_t)((ls >> 4) << 6);
            packed[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = kern_f32_to_f16(max_scale / 63.f);
    *dmin_out = kern_f32_to_f16(max_min / 63.f);
    for (int j = 0; j < KERN_QK_K / 32; j++) {
        uint8_t sc, m;
        kern_get_scale_min_k4(j, packed, &sc, &m);
        const float d = F16(*d_out) * (float)sc;
        if (d == 0.f) continue;
        const float dm = F16(*dmin_out) * (float)m;
        for (int ii = 0; ii < 32; ii++) {
            int l = kern_nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)imax(0, imin(nmax, l));
        }
    }
}

void kern_quantize_row_q4_k_ref(const float *x, void *dst, int64_t n) {
    RW_ASSERT(n % KERN_QK_K == 0, "n=%lld", (long long)n);
    kern_block_q4_k *y = dst;
    uint8_t L[KERN_QK_K];
    for (int64_t i = 0; i < n / KERN_QK_K; i++, x += KERN_QK_K) {
        kq_scales_and_levels(x, 15, -1.f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < KERN_QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++)
                q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void kern_dequant_row_q4_k_ref(const void *src, float *y, int64_t n) {
    const kern_block_q4_k *x = src;
    for (int64_t i = 0; i < n / KERN_QK_K; i++) {
        const float d = F16(x[i].d), min = F16(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int j = 0, is = 0; j < KERN_QK_K; j += 64, is += 2, q += 32) {
            uint8_t sc, m;
            kern_get_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = min * (float)m;
            kern_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = min * (float)m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void kern_quantize_row_q5_k_ref(const float *x, void *dst, int64_t n) {
    RW_ASSERT(n % KERN_QK_K == 0, "n=%lld", (long long)n);
    kern_block_q5_k *y = dst;
    uint8_t L[KERN_QK_K];
    for (int64_t i = 0; i < n / KERN_QK_K; i++, x += KERN_QK_K) {
        kq_scales_and_levels(x, 31, -0.5f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        uint8_t *qh = y[i].qh, *ql = y[i].qs;
        memset(qh, 0, KERN_QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int k = 0; k < KERN_QK_K; k += 64, ql += 32) {
            for (int j = 0; j < 32; j++) {
                int l1 = L[k + j], l2 = L[k + j + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
            m1 = (uint8_t)(m1 << 2);
            m2 = (uint8_t)(m2 << 2);
        }
    }
}

void kern_dequant_row_q5_k_ref(const void *src, float *y, int64_t n) {
    const kern_block_q5_k *x = src;
    for (int64_t i = 0; i < n / KERN_QK_K; i++) {
        const float d = F16(x[i].d), min = F16(x[i].dmin);
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        unsigned u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < KERN_QK_K; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
            uint8_t sc, m;
            kern_get_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = min * (float)m;
            kern_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = min * (float)m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
        }
    }
}

void kern_quantize_row_q6_k_ref(const float *x, void *dst, int64_t n) {
    RW_ASSERT(n % KERN_QK_K == 0, "n=%lld", (long long)n);
    kern_block_q6_k *y = dst;
    int8_t L[KERN_QK_K];
    float scales[KERN_QK_K / 16];
    for (int64_t i = 0; i < n / KERN_QK_K; i++, x += KERN_QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < KERN_QK_K / 16; ib++) {
            const float scale = search_scale_sym(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            if (fabsf(scale) > max_abs_scale) {
                max_abs_scale = fabsf(scale);
                max_scale = scale;
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -128.f / max_scale;
        y[i].d = kern_f32_to_f16(1 / iscale);
        for (int ib = 0; ib < KERN_QK_K / 16; ib++)
            y[i].scales[ib] = (int8_t)imin(127, nearest_fma(iscale, scales[ib]));
        for (int j = 0; j < KERN_QK_K / 16; j++) {
            float d = F16(y[i].d) * (float)y[i].scales[j];
            if (d == 0.f) continue; /* keep the search's levels: they decode to 0 anyway */
            for (int ii = 0; ii < 16; ii++) {
                int l = kern_nearest_int(x[16 * j + ii] / d);
                l = imax(-32, imin(31, l));
                L[16 * j + ii] = (int8_t)(l + 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < KERN_QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const uint8_t q1 = (uint8_t)(L[j + l + 0] & 0xF);
                const uint8_t q2 = (uint8_t)(L[j + l + 32] & 0xF);
                const uint8_t q3 = (uint8_t)(L[j + l + 64] & 0xF);
                const uint8_t q4 = (uint8_t)(L[j + l + 96] & 0xF);
                ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                  ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

void kern_dequant_row_q6_k_ref(const void *src, float *y, int64_t n) {
    const kern_block_q6_k *x = src;
    for (int64_t i = 0; i < n / KERN_QK_K; i++) {
        const float d = F16(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int k = 0; k < KERN_QK_K; k += 128, ql += 64, qh += 32, sc += 8, y += 128) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * (float)sc[is + 0] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

void kern_quantize_row_q8_k_ref(const float *x, void *dst, int64_t n) {
    RW_ASSERT(n % KERN_QK_K == 0, "n=%lld", (long long)n);
    kern_block_q8_k *y = dst;
    for (int64_t i = 0; i < n / KERN_QK_K; i++, x += KERN_QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < KERN_QK_K; j++) {
            float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0.f || !(amax <= 3.0e38f)) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < KERN_QK_K; j++) {
            int v = kern_nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)imax(-127, imin(127, v));
        }
        for (int j = 0; j < KERN_QK_K / 16; j++) {
            int sum = 0;
            for (int ii = 0; ii < 16; ii++)
                sum += y[i].qs[j * 16 + ii];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

void kern_dequant_row_q8_k_ref(const void *src, float *y, int64_t n) {
    const kern_block_q8_k *x = src;
    for (int64_t i = 0; i < n / KERN_QK_K; i++, y += KERN_QK_K)
        for (int j = 0; j < KERN_QK_K; j++)
            y[j] = x[i].d * (float)x[i].qs[j];
}

void kern_vec_dot_q4_k_q8_k_ref(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q4_k *w = wp;
    const kern_block_q8_k *a = ap;
    float sum = 0.f;
    for (int64_t i = 0; i < n / KERN_QK_K; i++) {
        int32_t sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            kern_get_scale_min_k4(j, w[i].scales, &sc, &m);
            const uint8_t *q = w[i].qs + 32 * (j / 2);
            const int8_t *qa = a[i].qs + 32 * j;
            int32_t si = 0;
            for (int l = 0; l < 32; l++)
                si += ((j & 1) ? (q[l] >> 4) : (q[l] & 0xF)) * qa[l];
            sumi += sc * si;
            summ += m * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
        }
        sum += a[i].d * F16(w[i].d) * (float)sumi - a[i].d * F16(w[i].dmin) * (float)summ;
    }
    *s = sum;
}

void kern_vec_dot_q5_k_q8_k_ref(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q5_k *w = wp;
    const kern_block_q8_k *a = ap;
    float sum = 0.f;
    for (int64_t i = 0; i < n / KERN_QK_K; i++) {
        int32_t sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            kern_get_scale_min_k4(j, w[i].scales, &sc, &m);
            const uint8_t *q = w[i].qs + 32 * (j / 2);
            const int8_t *qa = a[i].qs + 32 * j;
            int32_t si = 0;
            for (int l = 0; l < 32; l++) {
                int lo = (j & 1) ? (q[l] >> 4) : (q[l] & 0xF);
                int hi = (w[i].qh[l] >> j) & 1;
                si += (lo | (hi << 4)) * qa[l];
            }
            sumi += sc * si;
            summ += m * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
        }
        sum += a[i].d * F16(w[i].d) * (float)sumi - a[i].d * F16(w[i].dmin) * (float)summ;
    }
    *s = sum;
}

void kern_vec_dot_q6_k_q8_k_ref(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q6_k *w = wp;
    const kern_block_q8_k *a = ap;
    float sum = 0.f;
    for (int64_t i = 0; i < n / KERN_QK_K; i++) {
        int32_t sumi = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[i].ql + 64 * h, *qh = w[i].qh + 32 * h;
            const int8_t *sc = w[i].scales + 8 * h;
            const int8_t *qa = a[i].qs + 128 * h;
            for (int g = 0; g < 4; g++) { /* elements 128h + 32g + l */
                for (int half = 0; half < 2; half++) {
                    int32_t si = 0;
                    for (int l = 16 * half; l < 16 * half + 16; l++) {
                        int lo = (g & 1) ? ql[l + 32] : ql[l];
                        lo = (g & 2) ? (lo >> 4) : (lo & 0xF);
                        int q = (lo | (((qh[l] >> (2 * g)) & 3) << 4)) - 32;
                        si += q * qa[32 * g + l];
                    }
                    sumi += sc[2 * g + half] * si;
                }
            }
        }
        sum += a[i].d * F16(w[i].d) * (float)sumi;
    }
    *s = sum;
}
