/* Template of the SIMD attention kernel, instantiated per ISA like ops_simd.h (the
 * including file provides the vector primitives and SFX). Contract: kernels/attention.h.
 *
 * Queries sharing a kv head are processed in tiles (GQA heads of one row, or several
 * rows), so every key/value row is loaded once per tile. Per query: keys are visited in
 * blocks of ATTN_KB; a block's scores (scale q.k + add, dot products vectorised over D) go
 * to a stack buffer, then the online softmax update: m' = max(m, block max), rescale the
 * accumulator and normaliser by e^(m - m'), add e^(s - m') v_s. All in f32; results match the
 * double reference within the bounds in docs/kernels-ops.md. NaN scores are skipped by the maximum
 * (as in the reference) but poison the sums. */

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
    for (; d + VW <= D; d += VW)
        s0 = vfmadd(vload(a + d), vload(b + d), s0);
    float s = vhsum(vadd(s0, s1));
    for (; d < D; d++)
        s += a[d] * b[d];
    return s;
}

/* acc[0..D) += p * v[0..D) */
static inline void SFX(attn_axpy)(float *acc, float p, const float *v, size_t D) {
    vf pv = vset1(p);
    size_t d = 0;
    for (; d + VW <= D; d += VW)
        vstore(acc + d, vfmadd(pv, vload(v + d), vload(acc + d)));
    for (; d < D; d++)
        acc[d] += p * v[d];
}

static inline void SFX(attn_scale)(float *acc, float s, size_t D) {
    vf sv = vset1(s);
    size_t d = 0;
    for (; d + VW <= D; d += VW)
        vstore(acc + d, vmul(vload(acc + d), sv));
    for (; d < D; d++)
        acc[d] *= s;
}

/* One (query row, head) of a tile: its inputs and online-softmax state. */
typedef struct SFX(attn_q) {
    const float *q;   /* [D] */
    const float *add; /* [S] additive mask row, or NULL */
    float *out;       /* [D] */
    float *lse;       /* or NULL */
    size_t end;       /* keys [0, end) may be visible */
    float m, l;       /* running max and normaliser */
} SFX(attn_q);

/* Queries that share one kv head and are processed together, so each key and value row is
 * loaded once per tile instead of once per query (GQA heads, or several rows for MHA). */
enum { ATTN_QT = 8 };

/* Runs the tile qs[0..nq) against kv head g. acc: [ATTN_QT, ATTN_ACC_STRIDE] scratch. */
static void SFX(attn_tile)(const kern_attn_args *a, size_t g, SFX(attn_q) * qs, size_t nq,
                           float *acc, float (*sc)[ATTN_KB]) {
    size_t D = a->head_dim, end = 0;
    /* Accumulator rows D rounded up plus one vector apart: never a multiple of 4 KiB, which
     * would make each row's loads wait on the previous row's stores (4K aliasing). */
    size_t as = (D + VW - 1) / VW * VW + VW;
    for (size_t j = 0; j < nq; j++) {
        qs[j].m = -INFINITY, qs[j].l = 0.0f;
        for (size_t d = 0; d < D; d++)
            acc[j * as + d] = 0.0f;
        if (qs[j].end > end) end = qs[j].end;
    }
    for (size_t s0 = 0; s0 < end; s0 += ATTN_KB) {
        size_t nb = end - s0 < ATTN_KB ? end - s0 : ATTN_KB;
        size_t npad = (nb + VW - 1) / VW * VW;
        /* Scores: key row outer, so it stays in L1 across the tile's queries. */
        for (size_t i = 0; i < nb; i++) {
            const float *kr = a->k + (s0 + i) * a->k_ts + g * a->k_hs; /* [D] */
            for (size_t j = 0; j < nq; j++) {
                if (s0 + i >= qs[j].end) {
                    sc[j][i] = -INFINITY;
                    continue;
                }
                float v = a->scale * SFX(attn_dot)(qs[j].q, kr, D);
                if (qs[j].add) v += qs[j].add[s0 + i];
                sc[j][i] = v;
            }
        }
        /* Online softmax update per query; sc becomes the weights e^(s - m). */
        for (size_t j = 0; j < nq; j++) {
            float bm = -INFINITY;
            for (size_t i = 0; i < nb; i++) {
                float v = sc[j][i];
                if (v > bm || v != v) bm = v; /* NaN sticks: it poisons the row */
            }
            for (size_t i = nb; i < npad; i++)
                sc[j][i] = -INFINITY;
            if (bm == -INFINITY) { /* nothing visible in this block */
                for (size_t i = 0; i < nb; i++)
                    sc[j][i] = 0.0f;
                continue;
            }
            float m = qs[j].m, mn = (bm > m || bm != bm) ? bm : m;
            if (!(m == mn)) {               /* also when NaN is involved */
                float alpha = expf(m - mn); /* 0 when m = -inf */
                qs[j].l *= alpha;
                SFX(attn_scale)(acc + j * as, alpha, D);
                qs[j].m = mn;
            }
            vf mv = vset1(qs[j].m), ls = vzero();
            for (size_t i = 0; i < npad; i += VW) {
                vf p = vexp(vsub(vload(sc[j] + i), mv));
                vstore(sc[j] + i, p);
                ls = vadd(ls, p);
            }
            qs[j].l += vhsum(ls);
        }
        /* Values: row outer again. */
        for (size_t i = 0; i < nb; i++) {
            const float *vr = a->v + (s0 + i) * a->v_ts + g * a->v_hs; /* [D] */
            for (size_t j = 0; j < nq; j++) {
                float p = sc[j][i];
                if (p == 0.0f) continue; /* hidden key: its v row is never read */
                SFX(attn_axpy)(acc + j * as, p, vr, D);
            }
        }
    }
    for (size_t j = 0; j < nq; j++) {
        float *o = qs[j].out, *aj = acc + j * as;
        if (qs[j].m == -INFINITY) {
            for (size_t d = 0; d < D; d++)
                o[d] = 0.0f;
            if (qs[j].lse) *qs[j].lse = -INFINITY;
            continue;
        }
        float inv = 1.0f / qs[j].l;
        vf iv = vset1(inv);
        size_t d = 0;
        for (; d + VW <= D; d += VW)
            vstore(o + d, vmul(vload(aj + d), iv));
        for (; d < D; d++)
            o[d] = aj[d] * inv;
        if (qs[j].lse) *qs[j].lse = qs[j].m + logf(qs[j].l);
    }
}

void SFX(kern_attention_f32)(const kern_attn_args *args, size_t h0, size_t h1, size_t t0,
                             size_t t1) {
    kern_attn_args a;
    kern_attn_resolve(&a, args);
    RW_ASSERT(h0 <= h1 && h1 <= a.n_head && t0 <= t1 && t1 <= a.n_q,
              "attention: range h[%zu,%zu) t[%zu,%zu) outside %zu heads, %zu rows", h0, h1, t0, t1,
              a.n_head, a.n_q);
    size_t grp = a.n_head / a.n_head_kv;
    float acc[ATTN_QT * (KERN_ATTN_MAX_D + 2 * VW)]; /* [ATTN_QT, as] running sums of p v */
    float sc[ATTN_QT][ATTN_KB];                      /* block scores, then weights */
    SFX(attn_q) qs[ATTN_QT];
    /* Per kv head g: the (t, h) pairs of the range with h in g's group, t-major, in tiles
     * of ATTN_QT. Each query's arithmetic does not depend on its tile-mates, so results
     * are the same for any range split. */
    for (size_t g = h0 / grp; g * grp < h1; g++) {
        size_t ha = g * grp > h0 ? g * grp : h0, hb = (g + 1) * grp < h1 ? (g + 1) * grp : h1;
        size_t nq = 0;
        for (size_t t = t0; t < t1; t++) {
            size_t end = a.n_valid;
            if (a.causal && a.pos0 + t + 1 < end) end = a.pos0 + t + 1;
            for (size_t h = ha; h < hb; h++) {
                SFX(attn_q) *e = &qs[nq++];
                e->q = a.q + t * a.q_ts + h * a.q_hs;
                e->add = a.add ? a.add + t * a.add_stride : NULL;
                e->out = a.out + t * a.o_ts + h * a.o_hs;
                e->lse = a.lse ? a.lse + t * a.n_head + h : NULL;
                e->end = end;
                if (nq == ATTN_QT) {
                    SFX(attn_tile)(&a, g, qs, nq, acc, sc);
                    nq = 0;
                }
            }
        }
        if (nq) SFX(attn_tile)(&a, g, qs, nq, acc, sc);
    }
}
