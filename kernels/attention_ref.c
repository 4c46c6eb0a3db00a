/* Reference attention (the specification of kernels/attention.h) and the thread driver.
 *
 * Two passes per (query row, head) in double: the maximum visible score, then the
 * exp-weighted sum of value rows and its normaliser. Scores are recomputed in the second
 * pass so no [S] scratch is needed; the accumulator [D] lives on the stack
 * (D <= KERN_ATTN_MAX_D). */
#include "kernels/attention.h"

#include <math.h>

#include "core/assert.h"
#include "kernels/ops_internal.h"

void kern_attn_resolve(kern_attn_args *r, const kern_attn_args *a) {
    *r = *a;
    size_t D = a->head_dim;
    RW_ASSERT(D > 0 && D <= KERN_ATTN_MAX_D, "attention: head_dim %zu outside 1..%d", D,
              (int)KERN_ATTN_MAX_D);
    RW_ASSERT(a->n_head_kv > 0 && a->n_head % a->n_head_kv == 0,
              "attention: n_head %zu is not a multiple of n_head_kv %zu", a->n_head, a->n_head_kv);
    RW_ASSERT(a->n_valid <= a->n_kv, "attention: n_valid %zu > n_kv %zu", a->n_valid, a->n_kv);
    if (!r->q_ts) r->q_ts = a->n_head * D;
    if (!r->q_hs) r->q_hs = D;
    if (!r->o_ts) r->o_ts = a->n_head * D;
    if (!r->o_hs) r->o_hs = D;
    if (!r->k_ts) r->k_ts = a->n_head_kv * D;
    if (!r->k_hs) r->k_hs = D;
    if (!r->v_ts) r->v_ts = a->n_head_kv * D;
    if (!r->v_hs) r->v_hs = D;
}

/* Keys [0, end) may be visible to query row t (padding and causal limits). */
static size_t visible_end(const kern_attn_args *a, size_t t) {
    size_t end = a->n_valid;
    if (a->causal && a->pos0 + t + 1 < end) end = a->pos0 + t + 1;
    return end;
}

static double ref_score(const kern_attn_args *a, const float *qr, size_t t, size_t g, size_t s) {
    const float *kr = a->k + s * a->k_ts + g * a->k_hs; /* [D] */
    double dot = 0.0;
    for (size_t d = 0; d < a->head_dim; d++)
        dot += (double)qr[d] * (double)kr[d];
    double sc = (double)a->scale * dot;
    if (a->add) sc += (double)a->add[t * a->add_stride + s];
    return sc;
}

void kern_attention_f32_ref(const kern_attn_args *args, size_t h0, size_t h1, size_t t0,
                            size_t t1) {
    kern_attn_args a;
    kern_attn_resolve(&a, args);
    RW_ASSERT(h0 <= h1 && h1 <= a.n_head && t0 <= t1 && t1 <= a.n_q,
              "attention: range h[%zu,%zu) t[%zu,%zu) outside %zu heads, %zu rows", h0, h1, t0, t1,
              a.n_head, a.n_q);
    size_t D = a.head_dim, grp = a.n_head / a.n_head_kv;
    double acc[KERN_ATTN_MAX_D];
    for (size_t t = t0; t < t1; t++) {
        size_t end = visible_end(&a, t);
        for (size_t h = h0; h < h1; h++) {
            size_t g = h / grp;
            const float *qr = a.q + t * a.q_ts + h * a.q_hs; /* [D] */
            float *orow = a.out + t * a.o_ts + h * a.o_hs;   /* [D] */
            double m = -HUGE_VAL;
            for (size_t s = 0; s < end; s++) {
                double sc = ref_score(&a, qr, t, g, s);
                if (sc > m || isnan(sc)) m = sc; /* a NaN score poisons the row */
                if (isnan(m)) break;
            }
            if (m == -HUGE_VAL) {
                for (size_t d = 0; d < D; d++)
                    orow[d] = 0.0f;
                if (a.lse) a.lse[t * a.n_head + h] = -INFINITY;
                continue;
            }
            double l = 0.0;
            for (size_t d = 0; d < D; d++)
                acc[d] = 0.0;
            for (size_t s = 0; s < end; s++) {
                double p = exp(ref_score(&a, qr, t, g, s) - m);
                if (p == 0.0) continue; /* hidden key: never touch its v row (may hold NaN) */
                const float *vr = a.v + s * a.v_ts + g * a.v_hs; /* [D] */
                l += p;
                for (size_t d = 0; d < D; d++)
                    acc[d] += p * (double)vr[d];
            }
            for (size_t d = 0; d < D; d++)
                orow[d] = (float)(acc[d] / l);
            if (a.lse) a.lse[t * a.n_head + h] = (float)(m + log(l));
        }
    }
}

void kern_attention_probs_f32(float *probs, const kern_attn_args *args, size_t h0, size_t h1,
                              size_t t0, size_t t1) {
    kern_attn_args a;
    kern_attn_resolve(&a, args);
    RW_ASSERT(a.lse != NULL, "attention probs: lse from the forward call is required");
    RW_ASSERT(h0 <= h1 && h1 <= a.n_head && t0 <= t1 && t1 <= a.n_q,
              "attention probs: range h[%zu,%zu) t[%zu,%zu) outside %zu heads, %zu rows", h0, h1,
              t0, t1, a.n_head, a.n_q);
    size_t grp = a.n_head / a.n_head_kv, S = a.n_kv;
    for (size_t h = h0; h < h1; h++)
        for (size_t t = t0; t < t1; t++) {
            float *pr = probs + (h * a.n_q + t) * S; /* [S] */
            double l = (double)a.lse[t * a.n_head + h];
            size_t end = visible_end(&a, t);
            const float *qr = a.q + t * a.q_ts + h * a.q_hs; /* [D] */
            for (size_t s = 0; s < S; s++)
                pr[s] = (s < end && l != -HUGE_VAL)
                            ? (float)exp(ref_score(&a, qr, t, h / grp, s) - l)
                            : 0.0f;
        }
}

/* ---- thread driver -------------------------------------------------------------------- */

enum { ATTN_ROWS_PER_ITEM = 16 };

typedef struct attn_job {
    const kern_attn_args *a;
    size_t n_blk; /* query blocks per head */
} attn_job;

/* Items are (query block, head) pairs, block-major; a thread's contiguous slice becomes one
 * kernel call per query block with a head range, so heads sharing a kv head stay together
 * (the SIMD kernel tiles them) both in decode (one block) and in prefill. */
static void attn_worker(void *ctx, int ith, int nth) {
    const attn_job *j = ctx;
    size_t H = j->a->n_head, b, e;
    rw_split_range(H * j->n_blk, ith, nth, &b, &e);
    while (b < e) {
        size_t blk = b / H, h0 = b % H;
        size_t h1 = (blk + 1) * H <= e ? H : e - blk * H;
        size_t t0 = blk * ATTN_ROWS_PER_ITEM;
        size_t t1 = t0 + ATTN_ROWS_PER_ITEM < j->a->n_q ? t0 + ATTN_ROWS_PER_ITEM : j->a->n_q;
        kern_attention_f32(j->a, h0, h1, t0, t1);
        b = blk * H + h1;
    }
}

void kern_attention_f32_pool(rw_pool *pool, const kern_attn_args *a) {
    if (a->n_q == 0 || a->n_head == 0) return;
    attn_job j = {a, (a->n_q + ATTN_ROWS_PER_ITEM - 1) / ATTN_ROWS_PER_ITEM};
    if (!pool || rw_pool_threads(pool) <= 1) {
        kern_attention_f32(a, 0, a->n_head, 0, a->n_q);
        return;
    }
    rw_pool_run(pool, attn_worker, &j);
}
