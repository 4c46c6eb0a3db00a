/* Backward of scaled dot-product attention (RW_OP_ATTENTION), flash-attention style: the
 * probabilities are recomputed from the saved log-sum-exp, never stored as [H,T,S].
 *
 * For query t, head h (kv head g = h / (H/Hkv)), visible keys s (causal: s <= pos0 + t;
 * padding: s < n_valid; sliding window: pos0 + t - s < window; packed batches: within the
 * query's own sequence):
 *   p_s  = exp(scale q.k_s - lse)          dp_s = dO . v_s
 *   dv_s += p_s dO                          ds_s = p_s (dp_s - sum_s' p_s' dp_s')
 *   dq   += scale sum_s ds_s k_s            dk_s += scale ds_s q
 *
 * Fast path (train_attn_bwd_segment): per head and block of BQ query rows, the key range
 * [kb, ke) any row of the block can see (causal/window blocks only touch their band), then
 * f32 GEMMs through kern_sgemm (row-major):
 *   Sb = scale Q_b K^T,  P = exp(Sb - lse) (0 outside each row's visible range),
 *   dP = dO_b V^T,  Dr = rowsum(P o dP),  dS = scale P o (dP - Dr),
 *   dV += P^T dO_b,  dQ_b += dS K,  dK += dS^T Q_b.
 * Work is split over kv heads: the thread owning g writes dK[:, g], dV[:, g] and dQ of the
 * heads of g, heads then query blocks in increasing order, so the result does not depend
 * on the thread count. The former scalar double loop stays as train_attn_bwd_segment_ref
 * (tests compare the two).
 *
 * Record: src q{H*D,T}, k{Hkv*D,S}, v; f[0] = scale; i = {H, Hkv, D, causal}; saved:
 * lse[T*H] f32, then int64 pos0, n_valid, n_seq, window, then int32 seq_lens[n_seq]. */
#include "train/backward_attention_internal.h"

#include <math.h>
#include <string.h>

#include "core/pool.h"
#include "kernels/blas.h"
#include "kernels/ops.h"
#include "train/autograd_internal.h"

enum { BQ = 64 };

typedef struct attn_job {
    const train_attn_seg *a;
    float *scratch;
    size_t per_thread; /* floats */
} attn_job;

/* Visible key range of query row t: [*beg, *end) (empty when end <= beg). */
static void row_range(const train_attn_seg *j, int64_t t, int64_t *beg, int64_t *end) {
    int64_t e = j->n_valid < j->S ? j->n_valid : j->S, b = 0;
    if (j->causal && j->pos0 + t + 1 < e) e = j->pos0 + t + 1;
    if (j->window > 0 && j->pos0 + t - j->window + 1 > b) b = j->pos0 + t - j->window + 1;
    *beg = b;
    *end = e;
}

/* ------------------------------------------------------------ reference (double) path */

static void attn_bwd_group_ref(const train_attn_seg *j, int64_t g, float *p, float *ds) {
    const int64_t H = j->H, Hkv = j->Hkv, D = j->D, rep = H / Hkv;
    const int64_t qs = H * D, ks = Hkv * D;
    for (int64_t h = g * rep; h < (g + 1) * rep; h++) {
        for (int64_t t = 0; t < j->T; t++) {
            const float lse = j->lse[t * H + h];
            if (isinf(lse) && lse < 0) continue; /* row saw no key: out = 0 */
            int64_t beg, end;
            row_range(j, t, &beg, &end);
            const float *qr = j->q + t * qs + h * D, *dor = j->dout + t * qs + h * D;
            double sum = 0;
            for (int64_t s = beg; s < end; s++) {
                const float *kr = j->k + s * ks + g * D, *vr = j->v + s * ks + g * D;
                double dot = 0, dp = 0;
                for (int64_t d = 0; d < D; d++) {
                    dot += (double)qr[d] * (double)kr[d];
                    dp += (double)dor[d] * (double)vr[d];
                }
                const double pv = exp((double)j->scale * dot - (double)lse);
                p[s] = (float)pv;
                ds[s] = (float)dp;
                sum += pv * dp;
            }
            for (int64_t s = beg; s < end; s++) {
                const double dsv = (double)p[s] * ((double)ds[s] - sum) * (double)j->scale;
                if (j->dv) {
                    float *dvr = j->dv + s * ks + g * D;
                    for (int64_t d = 0; d < D; d++)
                        dvr[d] += p[s] * dor[d];
                }
                if (j->dq) {
                    const float *kr = j->k + s * ks + g * D;
                    float *dqr = j->dq + t * qs + h * D;
                    for (int64_t d = 0; d < D; d++)
                        dqr[d] += (float)(dsv * (double)kr[d]);
                }
                if (j->dk) {
                    float *dkr = j->dk + s * ks + g * D;
                    for (int64_t d = 0; d < D; d++)
                        dkr[d] += (float)(dsv * (double)qr[d]);
                }
            }
        }
    }
}

static void attn_bwd_worker_ref(void *ctx, int ith, int nth) {
    const attn_job *jb = ctx;
    const train_attn_seg *j = jb->a;
    size_t g0, g1;
    rw_split_range((size_t)j->Hkv, ith, nth, &g0, &g1);
    float *p = jb->scratch + (size_t)ith * jb->per_thread;
    for (size_t g = g0; g < g1; g++)
        attn_bwd_group_ref(j, (int64_t)g, p, p + j->S);
}

size_t train_attn_bwd_scratch_floats_ref(const train_attn_seg *a, int nth) {
    return (size_t)(nth < 1 ? 1 : nth) * 2 * (size_t)(a->S > 0 ? a->S : 0);
}

void train_attn_bwd_segment_ref(const train_attn_seg *a, rw_pool *pool, float *scratch) {
    if (a->T <= 0 || a->S <= 0) return;
    attn_job jb = {.a = a, .scratch = scratch, .per_thread = 2 * (size_t)a->S};
    if (pool)
        rw_pool_run(pool, attn_bwd_worker_ref, &jb);
    else
        attn_bwd_worker_ref(&jb, 0, 1);
}

/* ------------------------------------------------------------------ tiled f32 path */

/* One head h (kv head g), query rows [t0, t1). P and dS: [BQ * S] scratch each. */
static void attn_bwd_block(const train_attn_seg *j, int64_t g, int64_t h, int64_t t0, int64_t t1,
                           float *P, float *dS) {
    const int64_t H = j->H, D = j->D, qs = H * D, ks = j->Hkv * D;
    /* row ranges only move right with t: the block sees [beg(t0), end(t1 - 1)) */
    int64_t kb, ke, unused;
    row_range(j, t0, &kb, &unused);
    row_range(j, t1 - 1, &unused, &ke);
    if (ke <= kb) return;
    const int64_t M = t1 - t0, N = ke - kb;
    const float *Q = j->q + t0 * qs + h * D, *dO = j->dout + t0 * qs + h * D;
    const float *K = j->k + kb * ks + g * D, *V = j->v + kb * ks + g * D;
    kern_sgemm(false, true, M, N, D, j->scale, Q, qs, K, ks, 0.0f, P, N);
    kern_sgemm(false, true, M, N, D, 1.0f, dO, qs, V, ks, 0.0f, dS, N);
    bool any = false;
    for (int64_t i = 0; i < M; i++) {
        float *pr = P + i * N, *dr = dS + i * N;
        const float lse = j->lse[(t0 + i) * H + h];
        int64_t b, e;
        row_range(j, t0 + i, &b, &e);
        if (b < kb) b = kb;
        if (e > ke) e = ke;
        if ((isinf(lse) && lse < 0) || e <= b) { /* row saw no key: out = 0, no gradient */
            memset(pr, 0, (size_t)N * sizeof(float));
            memset(dr, 0, (size_t)N * sizeof(float));
            continue;
        }
        any = true;
        const int64_t lo = b - kb, hi = e - kb;
        for (int64_t s = lo; s < hi; s++)
            pr[s] -= lse;
        kern_exp_f32(pr + lo, pr + lo, (size_t)(hi - lo));
        double sum = 0;
        for (int64_t s = lo; s < hi; s++)
            sum += (double)pr[s] * (double)dr[s];
        const float fs = (float)sum;
        for (int64_t s = lo; s < hi; s++)
            dr[s] = j->scale * pr[s] * (dr[s] - fs);
        if (lo > 0) {
            memset(pr, 0, (size_t)lo * sizeof(float));
            memset(dr, 0, (size_t)lo * sizeof(float));
        }
        if (hi < N) {
            memset(pr + hi, 0, (size_t)(N - hi) * sizeof(float));
            memset(dr + hi, 0, (size_t)(N - hi) * sizeof(float));
        }
    }
    if (!any) return;
    if (j->dv)
        kern_sgemm(true, false, N, D, M, 1.0f, P, N, dO, qs, 1.0f, j->dv + kb * ks + g * D, ks);
    if (j->dq)
        kern_sgemm(false, false, M, D, N, 1.0f, dS, N, K, ks, 1.0f, j->dq + t0 * qs + h * D, qs);
    if (j->dk)
        kern_sgemm(true, false, N, D, M, 1.0f, dS, N, Q, qs, 1.0f, j->dk + kb * ks + g * D, ks);
}

static void attn_bwd_worker(void *ctx, int ith, int nth) {
    const attn_job *jb = ctx;
    const train_attn_seg *j = jb->a;
    const int64_t rep = j->H / j->Hkv;
    size_t g0, g1;
    rw_split_range((size_t)j->Hkv, ith, nth, &g0, &g1);
    float *P = jb->scratch + (size_t)ith * jb->per_thread;
    float *dS = P + (size_t)BQ * (size_t)j->S;
    for (size_t g = g0; g < g1; g++)
        for (int64_t h = (int64_t)g * rep; h < ((int64_t)g + 1) * rep; h++)
            for (int64_t t0 = 0; t0 < j->T; t0 += BQ)
                attn_bwd_block(j, (int64_t)g, h, t0, t0 + BQ < j->T ? t0 + BQ : j->T, P, dS);
}

size_t train_attn_bwd_scratch_floats(const train_attn_seg *a, int nth) {
    return (size_t)(nth < 1 ? 1 : nth) * 2 * (size_t)BQ * (size_t)(a->S > 0 ? a->S : 0);
}

void train_attn_bwd_segment(const train_attn_seg *a, rw_pool *pool, float *scratch) {
    if (a->T <= 0 || a->S <= 0) return;
    /* OpenBLAS's thread count is process-wide: one thread inside our own workers. */
    if (kern_blas_get_threads() != 1) kern_blas_set_threads(1);
    attn_job jb = {.a = a, .scratch = scratch, .per_thread = 2 * (size_t)BQ * (size_t)a->S};
    if (pool)
        rw_pool_run(pool, attn_bwd_worker, &jb);
    else
        attn_bwd_worker(&jb, 0, 1);
}

/* ------------------------------------------------------------------ tape entry */

void train_bwd_attention(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    rw_tensor *q = r->src[0], *k = r->src[1], *v = r->src[2];
    const int64_t H = r->i[0], Hkv = r->i[1], D = r->i[2];
    const int64_t T = rw_tensor_nrows(q), S = rw_tensor_nrows(k);
    float *dq = train_bwd_grad(b, q);
    float *dk = train_bwd_grad(b, k);
    float *dv = train_bwd_grad(b, v);
    if (b->st != RW_OK || (!dq && !dk && !dv)) return;
    const float *lse = r->saved;
    int64_t extra[4];
    memcpy(extra, (const unsigned char *)r->saved + (size_t)(T * H) * sizeof(float), sizeof(extra));
    const int32_t *lens_p = (const int32_t *)((const unsigned char *)r->saved +
                                              (size_t)(T * H) * sizeof(float) + sizeof(extra));
    const int nth = train_bwd_threads(b);
    train_attn_seg j = {.q = q->data,
                        .k = k->data,
                        .v = v->data,
                        .dout = dy,
                        .lse = lse,
                        .dq = dq,
                        .dk = dk,
                        .dv = dv,
                        .H = H,
                        .Hkv = Hkv,
                        .D = D,
                        .T = T,
                        .S = S,
                        .pos0 = extra[0],
                        .n_valid = extra[1],
                        .window = extra[3],
                        .causal = r->i[3] != 0,
                        .scale = r->f[0]};
    float *scr = train_bwd_scratch(b, train_attn_bwd_scratch_floats(&j, nth) * sizeof(float));
    if (!scr) return;
    rw_pool *pool = b->ctx->pool;
    const int64_t n_seq = extra[2];
    if (n_seq <= 0) {
        train_attn_bwd_segment(&j, pool, scr);
        return;
    }
    int64_t off = 0;
    for (int64_t s = 0; s < n_seq; s++) {
        int32_t L;
        memcpy(&L, lens_p + s, sizeof(L));
        train_attn_seg sj = j;
        sj.q = j.q + off * H * D;
        sj.dout = j.dout + off * H * D;
        sj.dq = dq ? dq + off * H * D : NULL;
        sj.k = j.k + off * Hkv * D;
        sj.v = j.v + off * Hkv * D;
        sj.dk = dk ? dk + off * Hkv * D : NULL;
        sj.dv = dv ? dv + off * Hkv * D : NULL;
        sj.lse = lse + off * H;
        sj.T = sj.S = sj.n_valid = L;
        sj.pos0 = 0;
        train_attn_bwd_segment(&sj, pool, scr);
        off += L;
    }
}
