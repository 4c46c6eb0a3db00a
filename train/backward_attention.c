/* Backward of scaled dot-product attention (RW_OP_ATTENTION), flash-attention style: the
 * probabilities are recomputed from the saved log-sum-exp, never stored as [H,T,S].
 *
 * For query t, head h (kv head g = h / (H/Hkv)), visible keys s (causal: s <= pos0 + t;
 * padding: s < n_valid; sliding window: pos0 + t - s < window; packed batches: within the
 * query's own sequence):
 *   p_s  = exp(scale q.k_s - lse)          dp_s = dO . v_s
 *   dv_s += p_s dO                          ds_s = p_s (dp_s - sum_s' p_s' dp_s')
 *   dq   += scale sum_s ds_s k_s            dk_s += scale ds_s q
 * Work is split over kv heads: the thread owning g writes dK[:, g], dV[:, g] and dQ of
 * the heads of g, each in a fixed order, so the result does not depend on the thread count.
 *
 * Record: src q{H*D,T}, k{Hkv*D,S}, v; f[0] = scale; i = {H, Hkv, D, causal}; saved:
 * lse[T*H] f32, then int64 pos0, n_valid, n_seq, window, then int32 seq_lens[n_seq]. */
#include "train/autograd_internal.h"

#include <math.h>
#include <string.h>

#include "core/pool.h"

typedef struct attn_job {
    const float *q, *k, *v, *dout, *lse;
    float *dq, *dk, *dv;
    int64_t H, Hkv, D, T, S, pos0, n_valid, window; /* window <= 0: none */
    bool causal;
    float scale;
    float *scratch; /* [nth][2*S] */
} attn_job;

static void attn_bwd_group(const attn_job *j, int64_t g, float *p, float *ds) {
    const int64_t H = j->H, Hkv = j->Hkv, D = j->D, rep = H / Hkv;
    const int64_t qs = H * D, ks = Hkv * D;
    for (int64_t h = g * rep; h < (g + 1) * rep; h++) {
        for (int64_t t = 0; t < j->T; t++) {
            const float lse = j->lse[t * H + h];
            if (isinf(lse) && lse < 0) continue; /* row saw no key: out = 0 */
            int64_t end = j->n_valid, beg = 0;
            if (j->causal && j->pos0 + t + 1 < end) end = j->pos0 + t + 1;
            if (j->window > 0 && j->pos0 + t - j->window + 1 > beg)
                beg = j->pos0 + t - j->window + 1;
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

static void attn_bwd_worker(void *ctx, int ith, int nth) {
    const attn_job *j = ctx;
    size_t g0, g1;
    rw_split_range((size_t)j->Hkv, ith, nth, &g0, &g1);
    float *p = j->scratch + (size_t)ith * 2 * (size_t)j->S;
    for (size_t g = g0; g < g1; g++)
        attn_bwd_group(j, (int64_t)g, p, p + j->S);
}

static void run_segment(train_bwd *b, attn_job *j) {
    if (j->T <= 0 || j->S <= 0) return;
    if (b->ctx->pool)
        rw_pool_run(b->ctx->pool, attn_bwd_worker, j);
    else
        attn_bwd_worker(j, 0, 1);
}

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
    float *scr = train_bwd_scratch(b, (size_t)nth * 2 * (size_t)S * sizeof(float));
    if (!scr) return;
    attn_job j = {.q = q->data,
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
                  .scale = r->f[0],
                  .scratch = scr};
    const int64_t n_seq = extra[2];
    if (n_seq <= 0) {
        run_segment(b, &j);
        return;
    }
    int64_t off = 0;
    for (int64_t s = 0; s < n_seq; s++) {
        int32_t L;
        memcpy(&L, lens_p + s, sizeof(L));
        attn_job sj = j;
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
        run_segment(b, &sj);
        off += L;
    }
}
