/* Template of the SIMD attention kernel, instantiated per ISA like ops_simd.h (the
 * including file provides the vector primitives and SFX). Contract: kernels/attention.h.
 *
 * Per (query row, head): keys are visited in blocks of ATTN_KB; a block's scores
 * (scale q.k + add, dot products vectorised over D) go to a stack buffer, then the online
 * softmax update: m' = max(m, block max), rescale the accumulator and normaliser by
 * e^(m - m'), add e^(s - m') v_s. All in f32; results match the double reference within
 * the bounds in docs/kernels-ops.md. NaN scores are skipped by the maximum (as in the
 * reference) but poison the sums. */

#include <math.h>

#include "core/assert.h"

enum { ATTN_KB = 64 }; /* keys per block: scores stay in registers/L1 */

static inline float SFX(attn_dot)(const float *a, const float *b, size_t D) {
    vf s0 = vzero(), s1 = vzero();
    size_t d = 0;
    for (; d + 2 * VW <= D; d += 2 * VW) {
        s0 = vfmadd(vload(a + d), vload(b + d), s0);
        s1 = vfmadd(vload(a + d + VW), vload(b + d + VW), s1);
    }
    for (; d + VW <= D; d += VW) s0 = vfmadd(vload(a + d), vload(b + d), s0);
    float s = vhsum(vadd(s0, s1));
    for (; d < D; d++) s += a[d] * b[d];
    return s;
}

/* acc[0..D) += p * v[0..D) */
static inline void SFX(attn_axpy)(float *acc, float p, const float *v, size_t D) {
    vf pv = vset1(p);
    size_t d = 0;
    for (; d + VW <= D; d += VW) vstore(acc + d, vfmadd(pv, vload(v + d), vload(acc + d)));
    for (; d < D; d++) acc[d] += p * v[d];
}

static inline void SFX(attn_scale)(float *acc, float s, size_t D) {
    vf sv = vset1(s);
    size_t d = 0;
    for (; d + VW <= D; d += VW) vstore(acc + d, vmul(vload(acc + d), sv));
    for (; d < D; d++) acc[d] *= s;
}

void SFX(kern_attention_f32)(const kern_attn_args *args, size_t h0, size_t h1, size_t t0,
                             size_t t1) {
    kern_attn_args a;
    kern_attn_resolve(&a, args);
    RW_ASSERT(h0 <= h1 && h1 <= a.n_head && t0 <= t1 && t1 <= a.n_q,
              "attention: range h[%zu,%zu) t[%zu,%zu) outside %zu heads, %zu rows", h0, h1, t0,
              t1, a.n_head, a.n_q);
    size_t D = a.head_dim, grp = a.n_head / a.n_head_kv;
    float acc[KERN_ATTN_MAX_D]; /* [D] running sum of p v */
    float sc[ATTN_KB];          /* [ATTN_KB] block scores, then weights */
    for (size_t t = t0; t < t1; t++) {
        size_t end = a.n_valid;
        if (a.causal && a.pos0 + t + 1 < end) end = a.pos0 + t + 1;
        const float *addr = a.add ? a.add + t * a.add_stride : NULL; /* [S] */
        for (size_t h = h0; h < h1; h++) {
            size_t g = h / grp;
            const float *qr = a.q + t * a.q_ts + h * a.q_hs; /* [D] */
            float *orow = a.out + t * a.o_ts + h * a.o_hs;   /* [D] */
            float m = -INFINITY, l = 0.0f;
            for (size_t d = 0; d < D; d++) acc[d] = 0.0f;
            for (size_t s0 = 0; s0 < end; s0 += ATTN_KB) {
                size_t nb = end - s0 < ATTN_KB ? end - s0 : ATTN_KB;
                float bm = -INFINITY;
                for (size_t j = 0; j < nb; j++) {
                    const float *kr = a.k + (s0 + j) * a.k_ts + g * a.k_hs; /* [D] */
                    float v = a.scale * SFX(attn_dot)(qr, kr, D);
                    if (addr) v += addr[s0 + j];
                    sc[j] = v;
                    if (v > bm) bm = v;
                }
                if (bm == -INFINITY) continue;
                size_t npad = (nb + VW - 1) / VW * VW;
                for (size_t j = nb; j < npad; j++) sc[j] = -INFINITY;
                float mn = bm > m ? bm : m;
                if (m != mn) {
                    float alpha = expf(m - mn); /* 0 when m = -inf */
                    l *= alpha;
                    SFX(attn_scale)(acc, alpha, D);
                    m = mn;
                }
                vf mv = vset1(m), ls = vzero();
                for (size_t j = 0; j < npad; j += VW) {
                    vf p = vexp(vsub(vload(sc + j), mv));
                    vstore(sc + j, p);
                    ls = vadd(ls, p);
                }
                l += vhsum(ls);
                for (size_t j = 0; j < nb; j++) {
                    if (sc[j] == 0.0f) continue; /* hidden key: its v row is never read */
                    SFX(attn_axpy)(acc, sc[j], a.v + (s0 + j) * a.v_ts + g * a.v_hs, D);
                }
            }
            if (m == -INFINITY) {
                for (size_t d = 0; d < D; d++) orow[d] = 0.0f;
                if (a.lse) a.lse[t * a.n_head + h] = -INFINITY;
                continue;
            }
            SFX(attn_scale)(acc, 1.0f / l, D);
            for (size_t d = 0; d < D; d++) orow[d] = acc[d];
            if (a.lse) a.lse[t * a.n_head + h] = m + logf(l);
        }
    }
}
