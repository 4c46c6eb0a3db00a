/* Forward passes of the decoder (llama, qwen2, qwen3) and encoder (bert) architectures,
 * written once over infer/ops.h, plus the KV cache.
 *
 * Decoder block (pre-norm):  h = x + Wo attn(rope(norm_q(Wq n)), rope(norm_k(Wk n)), Wv n),
 *                            n = rms(x) * attn_norm;  out = h + Wd (silu(Wg m) * Wu m),
 *                            m = rms(h) * ffn_norm.   (norm_q/norm_k: qwen3 per-head RMSNorm)
 * gemma3: embeddings * sqrt(C); rms after attention and after the FFN (post norms); GEGLU
 *         (gelu tanh) FFN; local layers (il % 6 < 5) use a sliding window and rope base 1e4.
 * Encoder block (post-norm): h = LN(x + Wo attn(Wq x + bq, ...) + bo);
 *                            out = LN(h + Wd gelu(Wu h + bu) + bd).
 * The KV cache stores post-rope keys and values f32, per layer [n_ctx][n_head_kv*head_dim],
 * so a cache prefix of S rows is a contiguous {kv_dim, S} tensor. */
#include "infer/model.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "kernels/blas.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

rw_status infer_kv_init(infer_kv_cache *kv, const infer_model *m, int64_t n_ctx, rw_err *err) {
    memset(kv, 0, sizeof(*kv));
    if (n_ctx <= 0) return rw_err_set(err, RW_E_INVALID, "KV cache: n_ctx %lld", (long long)n_ctx);
    const int64_t kvd = m->hp.n_head_kv * m->hp.head_dim;
    size_t n;
    if (!rw_size_mul((size_t)m->hp.n_layer * (size_t)kvd, (size_t)n_ctx, &n) ||
        !rw_size_mul(n, sizeof(float), &n))
        return rw_err_set(err, RW_E_RANGE, "KV cache size overflows (n_ctx %lld)",
                          (long long)n_ctx);
    kv->k = rw_aligned_alloc(64, n);
    kv->v = rw_aligned_alloc(64, n);
    if (!kv->k || !kv->v) {
        rw_aligned_free(kv->k);
        rw_aligned_free(kv->v);
        memset(kv, 0, sizeof(*kv));
        return rw_err_set(err, RW_E_NOMEM, "KV cache of %zu bytes x 2", n);
    }
    kv->n_layer = m->hp.n_layer;
    kv->n_ctx = n_ctx;
    kv->kv_dim = kvd;
    return RW_OK;
}

void infer_kv_deinit(infer_kv_cache *kv) {
    if (!kv) return;
    rw_aligned_free(kv->k);
    rw_aligned_free(kv->v);
    memset(kv, 0, sizeof(*kv));
}

/* A {kv_dim, S} view of the first S rows of a cache layer (no grad). */
static rw_tensor *cache_view(infer_ctx *ctx, float *base, int64_t kvd, int64_t S) {
    rw_tensor *t = infer_scratch(ctx, sizeof(rw_tensor));
    if (!t) return NULL;
    int64_t ne[2] = {kvd, S};
    RW_ASSERT(rw_tensor_init(t, RW_DTYPE_F32, 2, ne, base), "cache view");
    return t;
}

/* ------------------------------------------------------------------ fused decode matvecs
 *
 * Decoding one token spends most of its non-streaming time in pool dispatches (one per
 * matvec; on a loaded machine each costs a scheduler round trip). Linears that read the same
 * input row are run in one dispatch: q, k, v together, and gate, up together with the GLU
 * applied by the thread that produced the rows. Each output row is still one
 * kern_matvec_rows dot product of the activation converted once per linear (exactly what
 * kern_matvec does), so results equal the unfused path's. Used only for single rows in
 * inference (no tape, no LoRA, and the weights' own activation format: with
 * f32_activations, quantized weights go through infer_op_matmul's exact path). */

typedef struct mv_part {
    rw_dtype wt;
    const void *w;
    int64_t N, K;
    const void *a; /* activation row in wt's vec_dot_type */
    float *y;
} mv_part;

typedef struct mv_group {
    mv_part p[3];
    int n;
    int64_t total; /* rows over all parts (or N of one part with glu) */
    int glu;       /* 0 none, 1 swiglu, 2 geglu: p[0] gate, p[1] up, out = glu(gate, up) */
    float *out;
} mv_group;

static void mv_group_worker(void *ctx, int ith, int nth) {
    const mv_group *g = ctx;
    size_t b, e;
    rw_split_range((size_t)g->total, ith, nth, &b, &e);
    if (b >= e) return;
    if (g->glu) {
        for (int i = 0; i < 2; i++)
            kern_matvec_rows(g->p[i].wt, g->p[i].w, g->p[i].K, g->p[i].a, g->p[i].y, (int64_t)b,
                             (int64_t)e);
        if (g->glu == 1)
            kern_swiglu_f32(g->out + b, g->p[0].y + b, g->p[1].y + b, e - b);
        else
            kern_geglu_f32(g->out + b, g->p[0].y + b, g->p[1].y + b, e - b);
        return;
    }
    int64_t off = 0;
    for (int i = 0; i < g->n; i++) {
        const int64_t lo = off, hi = off + g->p[i].N;
        off = hi;
        const int64_t r0 = (int64_t)b > lo ? (int64_t)b : lo, r1 = (int64_t)e < hi ? (int64_t)e : hi;
        if (r0 < r1)
            kern_matvec_rows(g->p[i].wt, g->p[i].w, g->p[i].K, g->p[i].a, g->p[i].y, r0 - lo,
                             r1 - lo);
    }
}

/* True when l can join a fused single-row dispatch in this context. */
static bool fusable(const infer_ctx *ctx, const infer_linear *l) {
    if (!l->w || l->n_lora > 0 || l->w->n_dims != 2) return false;
    const rw_dtype wt = l->w->type;
    const bool plain = wt == RW_DTYPE_F32 || wt == RW_DTYPE_F16 || wt == RW_DTYPE_BF16;
    return plain || !ctx->f32_activations;
}

/* out[i] = l_i x for one row x ({K, 1}); glu != 0 writes glu(l_0 x, l_1 x) to out[0] only.
 * Biases are added after. Returns false (nothing done) when not applicable. */
static bool fused_rows(infer_ctx *ctx, const infer_linear *const *ls, int n, rw_tensor *x, int glu,
                       rw_tensor **out) {
    if (!x || !infer_ctx_ok(ctx) || ctx->tape || rw_tensor_nrows(x) != 1) return false;
    for (int i = 0; i < n; i++)
        if (!fusable(ctx, ls[i]) || (glu && ls[i]->b)) return false;
    RW_ASSERT(n >= 1 && n <= 3, "fused matvec: %d linears", n);
    rw_tensor *ys[3] = {NULL, NULL, NULL};
    mv_group g;
    memset(&g, 0, sizeof(g));
    g.n = n;
    g.glu = glu;
    const int64_t K = x->ne[0];
    for (int i = 0; i < n; i++) {
        const rw_tensor *w = ls[i]->w;
        RW_ASSERT(w->ne[0] == K, "fused matvec: X has %lld columns, W %s expects %lld",
                  (long long)K, w->name ? w->name : "?", (long long)w->ne[0]);
        rw_tensor *y = infer_new_2d(ctx, w->ne[1], 1);
        if (!y) return true; /* ctx carries the error */
        const kern_type_traits *t = kern_type_get(w->type);
        const void *a = x->data;
        if (t->vec_dot_type != RW_DTYPE_F32) {
            /* q/k/v (gate/up) usually share an activation format: quantize x once */
            const int j = i - 1;
            if (j >= 0 && kern_type_get(g.p[j].wt)->vec_dot_type == t->vec_dot_type) {
                a = g.p[j].a;
            } else {
                void *q = infer_scratch(ctx, kern_matvec_scratch_bytes(w->type, K));
                if (!q) return true;
                kern_quantize_activations(w->type, x->data, q, 1, K);
                a = q;
            }
        }
        g.p[i] = (mv_part){w->type, w->data, w->ne[1], K, a, y->data};
        g.total += w->ne[1];
        ys[i] = y;
    }
    rw_tensor *o = NULL;
    if (glu) {
        RW_ASSERT(n == 2 && g.p[0].N == g.p[1].N && !ls[0]->b && !ls[1]->b,
                  "fused glu: gate and up differ or have biases");
        g.total = g.p[0].N;
        o = infer_new_2d(ctx, g.p[0].N, 1);
        if (!o) return true;
        g.out = o->data;
    }
    if (ctx->pool)
        rw_pool_run(ctx->pool, mv_group_worker, &g);
    else
        mv_group_worker(&g, 0, 1);
    if (glu) {
        out[0] = o;
        return true;
    }
    for (int i = 0; i < n; i++)
        out[i] = ls[i]->b ? infer_op_add(ctx, ys[i], ls[i]->b) : ys[i];
    return true;
}

/* ------------------------------------------------------------------ batched attention
 *
 * Inference attention over many query rows (prefill, encoder batches) as two SGEMMs per
 * (sequence, head): scores = scale Q_h K_g^T ([Lq x S]), a row softmax over each query's
 * visible keys (causal: keys <= pos0 + t; keys >= n_valid hidden), out_h = P V_g. Same
 * formula as kernels/attention.h's driver (which streams keys with an online softmax per
 * query), at SGEMM speed. Items (sequence, head, block of 64 query rows) are split over the
 * pool; each thread owns two [64 x S] buffers; a causal block multiplies only the keys its
 * last row can see. Not used with a tape (training needs the kernel's lse), sliding
 * windows or additive masks, or when the arena lacks room (then the kernel path runs). */

enum { ATTN_QB = 64 }; /* query rows per work item: bounds the scratch, balances threads */

typedef struct attn_job {
    const float *q, *k, *v;
    float *out;
    int64_t H, Hkv, D, n_item, n_blk, T, S, n_valid, pos0;
    const int32_t *lens; /* packed sequences (self-attention within each) or NULL */
    const int64_t *offs;
    bool causal;
    float scale;
    float *scr; /* per thread: 2 * min(max_lq, ATTN_QB) * max_s floats */
    size_t scr_each;
} attn_job;

static void attn_job_worker(void *ctx, int ith, int nth) {
    const attn_job *j = ctx;
    size_t b0, b1;
    rw_split_range((size_t)j->n_item, ith, nth, &b0, &b1);
    float *sc = j->scr + (size_t)ith * j->scr_each, *pr = sc + j->scr_each / 2;
    const int64_t H = j->H, D = j->D, HD = H * D, KD = j->Hkv * D, grp = H / j->Hkv;
    for (size_t it = b0; it < b1; it++) {
        /* item = (sequence, head, block of ATTN_QB query rows) */
        const int64_t blk = (int64_t)it % j->n_blk, sh = (int64_t)it / j->n_blk;
        const int64_t sq = sh / H, h = sh % H, g = h / grp;
        int64_t off = 0, Lq = j->T, S = j->S, nv_max = j->n_valid, p0 = j->pos0, koff = 0;
        if (j->lens) {
            off = koff = j->offs[sq];
            Lq = S = nv_max = j->lens[sq];
            p0 = 0;
        }
        const int64_t t0 = blk * ATTN_QB;
        if (t0 >= Lq) continue;
        const int64_t nq = Lq - t0 < ATTN_QB ? Lq - t0 : ATTN_QB;
        /* keys any row of the block can see (causal: up to pos0 + last row) */
        int64_t Se = nv_max < S ? nv_max : S;
        if (j->causal && p0 + t0 + nq < Se) Se = p0 + t0 + nq;
        const float *Q = j->q + (off + t0) * HD + h * D;
        const float *K = j->k + koff * KD + g * D;
        const float *V = j->v + koff * KD + g * D;
        float *O = j->out + (off + t0) * HD + h * D;
        kern_sgemm(false, true, nq, Se, D, j->scale, Q, HD, K, KD, 0.0f, sc, Se);
        for (int64_t t = 0; t < nq; t++) {
            int64_t nv = Se;
            if (j->causal && p0 + t0 + t + 1 < nv) nv = p0 + t0 + t + 1;
            kern_softmax_f32(pr + t * Se, NULL, sc + t * Se, NULL, 0, 1, (size_t)Se, (size_t)nv);
        }
        kern_sgemm(false, false, nq, D, Se, 1.0f, pr, Se, V, KD, 0.0f, O, HD);
    }
}

/* Returns the attention output, or NULL with nothing done (and ctx untouched) when the
 * batched path does not apply; the caller then uses infer_op_attention. */
static rw_tensor *attention_gemm(infer_ctx *ctx, rw_tensor *q, rw_tensor *k, rw_tensor *v,
                                 const infer_attn_cfg *cfg) {
    if (!q || !k || !v || !infer_ctx_ok(ctx) || ctx->tape) return NULL;
    const int64_t T = rw_tensor_nrows(q), S = rw_tensor_nrows(k);
    const int64_t H = cfg->n_head, Hkv = cfg->n_head_kv, D = cfg->head_dim;
    if (cfg->window > 0 && cfg->window < S) return NULL;
    if (H % Hkv != 0 || q->type != RW_DTYPE_F32 || k->type != RW_DTYPE_F32 ||
        v->type != RW_DTYPE_F32)
        return NULL;
    int64_t max_l = T, max_s = S, n_seq = 1;
    if (cfg->n_seq > 0) {
        n_seq = cfg->n_seq;
        max_l = 0;
        for (int64_t b = 0; b < n_seq; b++)
            if (cfg->seq_lens[b] > max_l) max_l = cfg->seq_lens[b];
        max_s = max_l;
        if (T / n_seq < 8) return NULL; /* short sequences: the kernel is as fast */
    } else if (T < 8) {
        return NULL; /* decode: the streaming kernel */
    }
    const int nth = ctx->pool ? rw_pool_threads(ctx->pool) : 1;
    const int64_t n_blk = (max_l + ATTN_QB - 1) / ATTN_QB;
    const size_t each = (size_t)(2 * (max_l < ATTN_QB ? max_l : ATTN_QB) * max_s);
    const size_t offs_b = (size_t)n_seq * sizeof(int64_t);
    const size_t need = (size_t)nth * each * sizeof(float) + offs_b + (size_t)(H * D * T) * 4 + 512;
    if (ctx->arena->cap - ctx->arena->used < need) return NULL;
    rw_tensor *y = infer_new_2d(ctx, H * D, T);
    float *scr = infer_scratch(ctx, (size_t)nth * each * sizeof(float));
    int64_t *offs = infer_scratch(ctx, offs_b);
    if (!y || !scr || !offs) return NULL;
    if (cfg->n_seq > 0) {
        int64_t o = 0;
        for (int64_t b = 0; b < n_seq; b++) {
            offs[b] = o;
            o += cfg->seq_lens[b];
        }
        RW_ASSERT(o == T && S == T, "attention: sequence lengths sum to %lld, rows %lld",
                  (long long)o, (long long)T);
    }
    attn_job j = {.q = q->data,
                  .k = k->data,
                  .v = v->data,
                  .out = y->data,
                  .H = H,
                  .Hkv = Hkv,
                  .D = D,
                  .n_item = n_seq * H * n_blk,
                  .n_blk = n_blk,
                  .T = T,
                  .S = S,
                  .n_valid = cfg->n_valid > 0 && cfg->n_valid < S ? cfg->n_valid : S,
                  .pos0 = cfg->pos0,
                  .lens = cfg->n_seq > 0 ? cfg->seq_lens : NULL,
                  .offs = offs,
                  .causal = cfg->causal,
                  .scale = cfg->scale,
                  .scr = scr,
                  .scr_each = each};
    if (kern_blas_get_threads() != 1) kern_blas_set_threads(1); /* sgemm inside pool threads */
    if (ctx->pool)
        rw_pool_run(ctx->pool, attn_job_worker, &j);
    else
        attn_job_worker(&j, 0, 1);
    return y;
}

static rw_tensor *attention(infer_ctx *ctx, rw_tensor *q, rw_tensor *k, rw_tensor *v,
                            const infer_attn_cfg *cfg) {
    rw_tensor *y = attention_gemm(ctx, q, k, v, cfg);
    if (y) return y;
    /* One decoded row over a short cache costs less than a pool dispatch (a scheduler round
     * trip on a loaded machine): run it on the calling thread. */
    if (q && k && ctx->pool && !ctx->tape && rw_tensor_nrows(q) == 1 &&
        rw_tensor_nrows(k) * cfg->n_head * cfg->head_dim < ((int64_t)1 << 20)) {
        rw_pool *pool = ctx->pool;
        ctx->pool = NULL;
        y = infer_op_attention(ctx, q, k, v, cfg);
        ctx->pool = pool;
        return y;
    }
    return infer_op_attention(ctx, q, k, v, cfg);
}

bool infer_decoder_packed_supported(const infer_model *m) {
    return !infer_arch_is_encoder(m->arch) && m->hp.n_swa <= 0;
}

/* One decoder block. kv: append to the cache and attend over it (infer_decoder_layer);
 * lens (n_seq > 0, kv NULL): a packed batch, attention confined to each sequence. */
static rw_tensor *decoder_block(infer_ctx *ctx, const infer_model *m, int64_t il, rw_tensor *x,
                                const int32_t *pos, infer_kv_cache *kv, const int32_t *lens,
                                int64_t n_seq) {
    if (!x || !infer_ctx_ok(ctx)) return NULL;
    const infer_hparams *hp = &m->hp;
    const infer_layer *L = &m->layers[il];
    const int64_t T = rw_tensor_nrows(x), H = hp->n_head, Hkv = hp->n_head_kv, D = hp->head_dim;

    rw_tensor *n = infer_op_rmsnorm(ctx, x, L->attn_norm, hp->norm_eps);
    rw_tensor *q, *k, *v;
    const infer_linear *qkv[3] = {&L->q, &L->k, &L->v};
    rw_tensor *qkv_out[3] = {NULL, NULL, NULL};
    if (fused_rows(ctx, qkv, 3, n, 0, qkv_out)) {
        q = qkv_out[0], k = qkv_out[1], v = qkv_out[2];
    } else {
        q = infer_linear_forward(ctx, &L->q, n);
        k = infer_linear_forward(ctx, &L->k, n);
        v = infer_linear_forward(ctx, &L->v, n);
    }
    if (L->q_norm) {
        /* per-head RMSNorm over D: view {D, H*T} */
        q = infer_op_reshape_2d(
            ctx,
            infer_op_rmsnorm(ctx, infer_op_reshape_2d(ctx, q, D, H * T), L->q_norm, hp->norm_eps),
            H * D, T);
        k = infer_op_reshape_2d(
            ctx,
            infer_op_rmsnorm(ctx, infer_op_reshape_2d(ctx, k, D, Hkv * T), L->k_norm, hp->norm_eps),
            Hkv * D, T);
    }
    kern_rope_cfg rope = hp->rope;
    const bool local = hp->n_swa > 0 && il % hp->swa_pattern < hp->swa_pattern - 1;
    if (local) {
        rope.freq_base = hp->rope_base_swa;
        rope.freq_scale = 1.0f;
    }
    q = infer_op_rope(ctx, q, H, D, pos, &rope, m->rope_freqs);
    k = infer_op_rope(ctx, k, Hkv, D, pos, &rope, m->rope_freqs);
    if (!q || !k || !v) return NULL;

    infer_attn_cfg ac = {.n_head = H,
                         .n_head_kv = Hkv,
                         .head_dim = D,
                         .scale = hp->attn_scale,
                         .causal = true,
                         .pos0 = pos[0],
                         .window = local ? hp->n_swa : 0,
                         .seq_lens = n_seq > 0 ? lens : NULL,
                         .n_seq = n_seq > 0 ? n_seq : 0};
    rw_tensor *kk = k, *vv = v;
    if (kv) {
        const int64_t kvd = kv->kv_dim, p0 = kv->n_past;
        if (p0 + T > kv->n_ctx) {
            if (ctx->status == RW_OK) {
                ctx->status = RW_E_RANGE;
                rw_err_set(&ctx->err, RW_E_RANGE,
                           "context full: %lld cached + %lld new tokens > "
                           "n_ctx %lld",
                           (long long)p0, (long long)T, (long long)kv->n_ctx);
            }
            return NULL;
        }
        float *kb = kv->k + (size_t)il * (size_t)kv->n_ctx * (size_t)kvd;
        float *vb = kv->v + (size_t)il * (size_t)kv->n_ctx * (size_t)kvd;
        memcpy(kb + p0 * kvd, k->data, (size_t)(T * kvd) * sizeof(float));
        memcpy(vb + p0 * kvd, v->data, (size_t)(T * kvd) * sizeof(float));
        /* A local (sliding-window) layer's queries p0..p0+T-1 see no key before
         * p0 - window + 1: the view starts there, so decode reads window keys, not the
         * whole cache (key j of the view is position s0 + j; pos0 shifts with it). */
        const int64_t s0 = local && p0 >= hp->n_swa ? p0 - hp->n_swa + 1 : 0;
        kk = cache_view(ctx, kb + s0 * kvd, kvd, p0 + T - s0);
        vv = cache_view(ctx, vb + s0 * kvd, kvd, p0 + T - s0);
        ac.pos0 = p0 - s0;
    }
    rw_tensor *a = infer_linear_forward(ctx, &L->o, attention(ctx, q, kk, vv, &ac));
    if (L->post_attn_norm) a = infer_op_rmsnorm(ctx, a, L->post_attn_norm, hp->norm_eps);
    rw_tensor *h = infer_op_add(ctx, x, a);

    rw_tensor *mm = infer_op_rmsnorm(ctx, h, L->ffn_norm, hp->norm_eps);
    const bool gemma = m->arch == INFER_ARCH_GEMMA3;
    const infer_linear *gu[2] = {&L->gate, &L->up};
    rw_tensor *g = NULL;
    if (!fused_rows(ctx, gu, 2, mm, gemma ? 2 : 1, &g)) {
        rw_tensor *gate = infer_linear_forward(ctx, &L->gate, mm);
        rw_tensor *up = infer_linear_forward(ctx, &L->up, mm);
        g = gemma ? infer_op_geglu(ctx, gate, up) : infer_op_swiglu(ctx, gate, up);
    }
    rw_tensor *f = infer_linear_forward(ctx, &L->down, g);
    if (L->post_ffn_norm) f = infer_op_rmsnorm(ctx, f, L->post_ffn_norm, hp->norm_eps);
    return infer_op_add(ctx, h, f);
}

rw_tensor *infer_decoder_layer(infer_ctx *ctx, const infer_model *m, int64_t il, rw_tensor *x,
                               const int32_t *pos, infer_kv_cache *kv) {
    return decoder_block(ctx, m, il, x, pos, kv, NULL, 0);
}

rw_tensor *infer_decoder_layer_packed(infer_ctx *ctx, const infer_model *m, int64_t il,
                                      rw_tensor *x, const int32_t *pos, const int32_t *lens,
                                      int64_t n_seq) {
    RW_ASSERT(infer_decoder_packed_supported(m) && n_seq > 0 && lens,
              "packed decoder layer: %s model (window %lld), %lld sequences", m->arch_name,
              (long long)m->hp.n_swa, (long long)n_seq);
    return decoder_block(ctx, m, il, x, pos, NULL, lens, n_seq);
}

rw_tensor *infer_decoder_hidden(infer_ctx *ctx, const infer_model *m, infer_kv_cache *kv,
                                const int32_t *ids, int64_t T) {
    if (!infer_ctx_ok(ctx)) return NULL;
    RW_ASSERT(!infer_arch_is_encoder(m->arch), "decoder forward on an encoder model");
    for (int64_t t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= m->hp.n_vocab) {
            ctx->status = RW_E_RANGE;
            rw_err_set(&ctx->err, RW_E_RANGE,
                       "token id %d at position %lld outside the "
                       "vocabulary (%lld)",
                       (int)ids[t], (long long)t, (long long)m->hp.n_vocab);
            return NULL;
        }
    int32_t *pos = infer_scratch(ctx, (size_t)T * sizeof(int32_t));
    if (!pos) return NULL;
    const int64_t p0 = kv ? kv->n_past : 0;
    for (int64_t t = 0; t < T; t++)
        pos[t] = (int32_t)(p0 + t);
    rw_tensor *x = infer_op_embed(ctx, m->tok_embd, ids, T);
    if (m->hp.embd_scale != 1.0f) x = infer_op_scale(ctx, x, m->hp.embd_scale);
    for (int64_t il = 0; il < m->hp.n_layer; il++) {
        const size_t mark = infer_mark(ctx);
        rw_tensor *y = infer_decoder_layer(ctx, m, il, x, pos, kv);
        if (y && !ctx->tape) {
            /* inference: keep only the residual stream (x is dead once y exists) */
            memcpy(x->data, y->data, rw_tensor_nbytes(y));
            infer_rollback(ctx, mark);
            y = x;
        }
        x = y;
    }
    if (x && kv) kv->n_past += T;
    return x;
}

rw_tensor *infer_decoder_forward(infer_ctx *ctx, const infer_model *m, infer_kv_cache *kv,
                                 const int32_t *ids, int64_t T, bool all_logits) {
    rw_tensor *x = infer_decoder_hidden(ctx, m, kv, ids, T);
    if (!x) return NULL;
    if (!all_logits && T > 1) x = infer_rows(ctx, x, T - 1, 1);
    x = infer_op_rmsnorm(ctx, x, m->out_norm, m->hp.norm_eps);
    return infer_linear_forward(ctx, &m->output, x);
}

/* ------------------------------------------------------------------ encoder */

rw_tensor *infer_encoder_layer(infer_ctx *ctx, const infer_model *m, int64_t il, rw_tensor *x,
                               const int32_t *lens, int64_t n_seq) {
    if (!x || !infer_ctx_ok(ctx)) return NULL;
    const infer_hparams *hp = &m->hp;
    const infer_layer *L = &m->layers[il];
    rw_tensor *q = infer_linear_forward(ctx, &L->q, x);
    rw_tensor *k = infer_linear_forward(ctx, &L->k, x);
    rw_tensor *v = infer_linear_forward(ctx, &L->v, x);
    if (hp->rope.n_rot > 0) { /* nomic-bert: rope at positions 0.. within each sequence */
        const int64_t T = rw_tensor_nrows(x);
        int32_t *pos = infer_scratch(ctx, (size_t)T * sizeof(int32_t));
        if (!pos) return NULL;
        int64_t o = 0;
        for (int64_t b = 0; b < n_seq; b++)
            for (int32_t t = 0; t < lens[b]; t++)
                pos[o++] = t;
        q = infer_op_rope(ctx, q, hp->n_head, hp->head_dim, pos, &hp->rope, NULL);
        k = infer_op_rope(ctx, k, hp->n_head_kv, hp->head_dim, pos, &hp->rope, NULL);
    }
    infer_attn_cfg ac = {.n_head = hp->n_head,
                         .n_head_kv = hp->n_head_kv,
                         .head_dim = hp->head_dim,
                         .scale = 1.0f / sqrtf((float)hp->head_dim),
                         .causal = hp->causal,
                         .seq_lens = lens,
                         .n_seq = n_seq};
    rw_tensor *a = attention(ctx, q, k, v, &ac);
    rw_tensor *h = infer_op_add(ctx, x, infer_linear_forward(ctx, &L->o, a));
    h = infer_op_layernorm(ctx, h, L->attn_norm, L->attn_norm_b, hp->norm_eps);
    rw_tensor *f;
    if (L->gate.w) { /* gate before up in two statements: argument order is unspecified in C,
                      * and it would set the tape order (and so gradient rounding) */
        rw_tensor *g = infer_linear_forward(ctx, &L->gate, h);
        rw_tensor *u = infer_linear_forward(ctx, &L->up, h);
        f = infer_op_swiglu(ctx, g, u);
    } else {
        f = infer_op_gelu(ctx, infer_linear_forward(ctx, &L->up, h), false);
    }
    rw_tensor *o = infer_op_add(ctx, h, infer_linear_forward(ctx, &L->down, f));
    return infer_op_layernorm(ctx, o, L->ffn_norm, L->ffn_norm_b, hp->norm_eps);
}

rw_tensor *infer_encoder_input(infer_ctx *ctx, const infer_model *m, const int32_t *ids,
                               const int32_t *lens, int64_t n_seq) {
    if (!infer_ctx_ok(ctx)) return NULL;
    RW_ASSERT(infer_arch_is_encoder(m->arch), "encoder forward on a decoder model");
    int64_t total = 0;
    for (int64_t b = 0; b < n_seq; b++) {
        if (lens[b] <= 0 || lens[b] > m->hp.n_pos) {
            ctx->status = RW_E_RANGE;
            rw_err_set(&ctx->err, RW_E_RANGE, "sequence %lld has %d tokens (1..%lld allowed)",
                       (long long)b, (int)lens[b], (long long)m->hp.n_pos);
            return NULL;
        }
        total += lens[b];
    }
    for (int64_t t = 0; t < total; t++)
        if (ids[t] < 0 || ids[t] >= m->hp.n_vocab) {
            ctx->status = RW_E_RANGE;
            rw_err_set(&ctx->err, RW_E_RANGE, "token id %d outside the vocabulary (%lld)",
                       (int)ids[t], (long long)m->hp.n_vocab);
            return NULL;
        }
    int32_t *pos = infer_scratch(ctx, (size_t)total * sizeof(int32_t));
    int32_t *types = infer_scratch(ctx, (size_t)total * sizeof(int32_t));
    if (!pos || !types) return NULL;
    int64_t o = 0;
    for (int64_t b = 0; b < n_seq; b++)
        for (int32_t t = 0; t < lens[b]; t++, o++) {
            pos[o] = t;
            types[o] = 0;
        }
    rw_tensor *x = infer_op_embed(ctx, m->tok_embd, ids, total);
    if (m->pos_embd) x = infer_op_add(ctx, x, infer_op_embed(ctx, m->pos_embd, pos, total));
    if (m->type_embd) x = infer_op_add(ctx, x, infer_op_embed(ctx, m->type_embd, types, total));
    x = infer_op_layernorm(ctx, x, m->embd_norm, m->embd_norm_b, m->hp.norm_eps);
    return x;
}

rw_tensor *infer_encoder_hidden(infer_ctx *ctx, const infer_model *m, const int32_t *ids,
                                const int32_t *lens, int64_t n_seq) {
    rw_tensor *x = infer_encoder_input(ctx, m, ids, lens, n_seq);
    if (!x) return NULL;
    for (int64_t il = 0; il < m->hp.n_layer; il++) {
        const size_t mark = infer_mark(ctx);
        rw_tensor *y = infer_encoder_layer(ctx, m, il, x, lens, n_seq);
        if (y && !ctx->tape) {
            memcpy(x->data, y->data, rw_tensor_nbytes(y));
            infer_rollback(ctx, mark);
            y = x;
        }
        x = y;
    }
    return x;
}

rw_tensor *infer_encoder_pool(infer_ctx *ctx, const infer_model *m, rw_tensor *x,
                              const int32_t *lens, int64_t n_seq, int pooling, bool normalize) {
    if (!x || !infer_ctx_ok(ctx)) return NULL;
    infer_pooling p = pooling < 0 ? m->hp.pooling : (infer_pooling)pooling;
    rw_tensor *y;
    if (p == INFER_POOL_MEAN || p == INFER_POOL_NONE) {
        y = infer_op_mean_pool(ctx, x, lens, n_seq);
    } else {
        int32_t *rows = infer_scratch(ctx, (size_t)n_seq * sizeof(int32_t));
        if (!rows) return NULL;
        int32_t off = 0;
        for (int64_t b = 0; b < n_seq; b++) {
            rows[b] = p == INFER_POOL_CLS ? off : off + lens[b] - 1;
            off += lens[b];
        }
        y = infer_op_gather_rows(ctx, x, rows, n_seq);
    }
    return normalize ? infer_op_l2_normalize(ctx, y) : y;
}

rw_tensor *infer_encoder_embed(infer_ctx *ctx, const infer_model *m, const int32_t *ids,
                               const int32_t *lens, int64_t n_seq, int pooling, bool normalize) {
    rw_tensor *x = infer_encoder_hidden(ctx, m, ids, lens, n_seq);
    return infer_encoder_pool(ctx, m, x, lens, n_seq, pooling, normalize);
}
