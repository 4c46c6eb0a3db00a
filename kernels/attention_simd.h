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

/* q.k with one accumulator, chunks in order: attn_dot4 runs four independent copies of
 * exactly this arithmetic, so a score never depends on which variant computed it (results
 * do not depend on the tile or range split). */
static inline float SFX(attn_dot)(const float *q, const float *k, size_t D) {
    vf s = vzero();
    size_t d = 0;
    for (; d + VW <= D; d += VW)
        s = vfmadd(vload(q + d), vload(k + d), s);
    float r = vhsum(s);
    for (; d < D; d++)
        r += q[d] * k[d];
    return r;
}

/* out[0..4) = q.k_i for the four key rows k, k + kts, k + 2 kts, k + 3 kts. */
static inline void SFX(attn_dot4)(float *out, const float *q, const float *k, size_t kts,
                                  size_t D) {
    const float *k0 = k, *k1 = k + kts, *k2 = k + 2 * kts, *k3 = k + 3 * kts;
    vf s0 = vzero(), s1 = vzero(), s2 = vzero(), s3 = vzero();
    size_t d = 0;
    for (; d + VW <= D; d += VW) {
        vf qv = vload(q + d);
        s0 = vfmadd(qv, vload(k0 + d), s0);
        s1 = vfmadd(qv, vload(k1 + d), s1);
        s2 = vfmadd(qv, vload(k2 + d), s2);
        s3 = vfmadd(qv, vload(k3 + d), s3);
    }
    float r0 = vhsum(s0), r1 = vhsum(s1), r2 = vhsum(s2), r3 = vhsum(s3);
    for (; d < D; d++) {
        r0 += q[d] * k0[d];
        r1 += q[d] * k1[d];
        r2 += q[d] * k2[d];
        r3 += q[d] * k3[d];
    }
    out[0] = r0, out[1] = r1, out[2] = r2, out[3] = r3;
}

/* acc[0..D) += sum_i p[i] v_i over keys i in order (zero weights skipped, their v rows never
 * read). The accumulator stays in registers across keys, four vectors at a time. */
static inline void SFX(attn_pv)(float *acc, const float *p, const float *v, size_t vts, size_t nb,
                                size_t D) {
    size_t d = 0;
    for (; d + 4 * VW <= D; d += 4 * VW) {
        vf a0 = vload(acc + d), a1 = vload(acc + d + VW), a2 = vload(acc + d + 2 * VW),
           a3 = vload(acc + d + 3 * VW);
        for (size_t i = 0; i < nb; i++) {
            if (p[i] == 0.0f) continue;
            vf pv = vset1(p[i]);
            const float *vr = v + i * vts + d;
            a0 = vfmadd(pv, vload(vr), a0);
            a1 = vfmadd(pv, vload(vr + VW), a1);
            a2 = vfmadd(pv, vload(vr + 2 * VW), a2);
            a3 = vfmadd(pv, vload(vr + 3 * VW), a3);
        }
        vstore(acc + d, a0), vstore(acc + d + VW, a1), vstore(acc + d + 2 * VW, a2),
            vstore(acc + d + 3 * VW, a3);
    }
    for (; d + VW <= D; d += VW) {
        vf a0 = vload(acc + d);
        for (size_t i = 0; i < nb; i++)
            if (p[i] != 0.0f) a0 = vfmadd(vset1(p[i]), vload(v + i * vts + d), a0);
        vstore(acc + d, a0);
    }
    for (; d < D; d++) {
        float a0 = acc[d];
        for (size_t i = 0; i < nb; i++)
            if (p[i] != 0.0f) a0 += p[i] * v[i * vts + d];
        acc[d] = a0;
    }
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
        /* Scores, four keys at a time (the block's K rows stay in L1 across the tile). */
        const float *kb = a->k + s0 * a->k_ts + g * a->k_hs; /* key s0 of head g */
        for (size_t j = 0; j < nq; j++) {
            size_t e = qs[j].end <= s0 ? 0 : qs[j].end - s0 < nb ? qs[j].end - s0 : nb;
            size_t i = 0;
            for (; i + 4 <= e; i += 4)
                SFX(attn_dot4)(sc[j] + i, qs[j].q, kb + i * a->k_ts, a->k_ts, D);
            for (; i < e; i++)
                sc[j][i] = SFX(attn_dot)(qs[j].q, kb + i * a->k_ts, D);
            for (i = 0; i < e; i++) {
                sc[j][i] *= a->scale;
                if (qs[j].add) sc[j][i] += qs[j].add[s0 + i];
            }
            for (i = e; i < nb; i++)
                sc[j][i] = -INFINITY;
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
        /* Values: per query, accumulator in registers across the block's keys. */
        const float *vb = a->v + s0 * a->v_ts + g * a->v_hs; /* value s0 of head g */
        for (size_t j = 0; j < nq; j++)
            SFX(attn_pv)(acc + j * as, sc[j], vb, a->v_ts, nb, D);
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
