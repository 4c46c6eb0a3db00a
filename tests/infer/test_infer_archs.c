/* Architecture variants the shared refs do not cover, against a naive float64 decoder written
 * here from the GGUF tensors (no infer/ code in the reference path): qwen2 (q/k/v biases,
 * NEOX rope, tied output), qwen3 (per-head q/k RMSNorm, explicit key_length != n_embd/H),
 * llama with Llama 3 rope frequency factors and partial rotary dims, GQA ratios 1 and 4,
 * gemma3 (post norms, GEGLU, embedding scale, sliding-window local layers with rope base 1e4
 * and a global layer). */
#pragma GCC diagnostic ignored "-Wdouble-promotion"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/rng.h"
#include "infer/gguf.h"
#include "infer/model.h"
#include "rw_test.h"

typedef struct variant {
    const char *arch;
    int C, H, Hkv, D, FF, V, L, n_rot;
    bool tied, qkv_bias, qk_norm, rope_freqs, neox;
    float base;
    int swa; /* gemma3: sliding window (post norms, GEGLU, embedding scale, local rope 1e4) */
} variant;

typedef struct wbuf {
    char name[64];
    int64_t ne0, ne1; /* ne1 = 0: 1-D */
    float *d;
} wbuf;

typedef struct tiny {
    wbuf w[128];
    int n;
} tiny;

static float *add(tiny *t, rw_rng *r, const char *name, int64_t ne0, int64_t ne1, double sd,
                  double mean) {
    wbuf *b = &t->w[t->n++];
    snprintf(b->name, sizeof(b->name), "%s", name);
    b->ne0 = ne0;
    b->ne1 = ne1;
    size_t n = (size_t)(ne0 * (ne1 ? ne1 : 1));
    b->d = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        b->d[i] = (float)(mean + sd * rw_rng_normal(r));
    return b->d;
}

static const float *get(const tiny *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->w[i].name, name)) return t->w[i].d;
    return NULL;
}

static void build(const variant *v, const char *path, tiny *t) {
    rw_rng r;
    rw_rng_seed(&r, 4242);
    memset(t, 0, sizeof(*t));
    char k[128], n[64];
    infer_gguf_writer *w = NULL;
    assert_int_equal(infer_gguf_writer_create(&w, NULL), RW_OK);
    infer_gguf_writer_set_str(w, "general.architecture", v->arch, NULL);
#define KEY(s) (snprintf(k, sizeof(k), "%s.%s", v->arch, s), k)
    infer_gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)v->C, NULL);
    infer_gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)v->L, NULL);
    infer_gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)v->FF, NULL);
    infer_gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)v->H, NULL);
    infer_gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)v->Hkv, NULL);
    infer_gguf_writer_set_u32(w, KEY("attention.key_length"), (uint32_t)v->D, NULL);
    infer_gguf_writer_set_u32(w, KEY("attention.value_length"), (uint32_t)v->D, NULL);
    infer_gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)v->n_rot, NULL);
    infer_gguf_writer_set_f32(w, KEY("rope.freq_base"), v->base, NULL);
    infer_gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-6f, NULL);
    if (v->swa)
        infer_gguf_writer_set_u32(w, KEY("attention.sliding_window"), (uint32_t)v->swa, NULL);
#undef KEY
    add(t, &r, "token_embd.weight", v->C, v->V, 0.5, 0);
    add(t, &r, "output_norm.weight", v->C, 0, 0.05, 1);
    if (!v->tied) add(t, &r, "output.weight", v->C, v->V, 0.3, 0);
    if (v->rope_freqs) {
        float *f = add(t, &r, "rope_freqs.weight", v->n_rot / 2, 0, 0.5, 0);
        for (int i = 0; i < v->n_rot / 2; i++)
            f[i] = 1.0f + fabsf(f[i]) * 4;
    }
    for (int l = 0; l < v->L; l++) {
#define N(s) (snprintf(n, sizeof(n), "blk.%d.%s", l, s), n)
        add(t, &r, N("attn_norm.weight"), v->C, 0, 0.05, 1);
        add(t, &r, N("attn_q.weight"), v->C, v->H * v->D, 0.25, 0);
        add(t, &r, N("attn_k.weight"), v->C, v->Hkv * v->D, 0.25, 0);
        add(t, &r, N("attn_v.weight"), v->C, v->Hkv * v->D, 0.25, 0);
        if (v->qkv_bias) {
            add(t, &r, N("attn_q.bias"), v->H * v->D, 0, 0.2, 0);
            add(t, &r, N("attn_k.bias"), v->Hkv * v->D, 0, 0.2, 0);
            add(t, &r, N("attn_v.bias"), v->Hkv * v->D, 0, 0.2, 0);
        }
        if (v->qk_norm) {
            add(t, &r, N("attn_q_norm.weight"), v->D, 0, 0.1, 1);
            add(t, &r, N("attn_k_norm.weight"), v->D, 0, 0.1, 1);
        }
        add(t, &r, N("attn_output.weight"), v->H * v->D, v->C, 0.2, 0);
        add(t, &r, N("ffn_norm.weight"), v->C, 0, 0.05, 1);
        if (v->swa) {
            add(t, &r, N("post_attention_norm.weight"), v->C, 0, 0.1, 1);
            add(t, &r, N("post_ffw_norm.weight"), v->C, 0, 0.1, 1);
        }
        add(t, &r, N("ffn_gate.weight"), v->C, v->FF, 0.2, 0);
        add(t, &r, N("ffn_up.weight"), v->C, v->FF, 0.2, 0);
        add(t, &r, N("ffn_down.weight"), v->FF, v->C, 0.15, 0);
#undef N
    }
    for (int i = 0; i < t->n; i++) {
        int64_t ne[2] = {t->w[i].ne0, t->w[i].ne1};
        assert_int_equal(infer_gguf_writer_add_tensor(w, t->w[i].name, RW_DTYPE_F32,
                                                      t->w[i].ne1 ? 2 : 1, ne, t->w[i].d, NULL),
                         RW_OK);
    }
    assert_int_equal(infer_gguf_writer_write(w, path, NULL), RW_OK);
    infer_gguf_writer_destroy(w);
}

/* ---- naive float64 reference ---- */

/* y[n] = sum_k W[n*K + k] x[k] (+ b[n]) */
static void mv(double *y, const float *W, const float *b, const double *x, int N, int K) {
    for (int i = 0; i < N; i++) {
        double a = b ? b[i] : 0;
        for (int k = 0; k < K; k++)
            a += (double)W[i * K + k] * x[k];
        y[i] = a;
    }
}

static void rms(double *y, const double *x, const float *w, int C, double eps) {
    double s = 0;
    for (int c = 0; c < C; c++)
        s += x[c] * x[c];
    double r = 1 / sqrt(s / C + eps);
    for (int c = 0; c < C; c++)
        y[c] = x[c] * r * w[c];
}

static void rope(double *v, const variant *V, int pos, const float *ff, double base) {
    for (int i = 0; i < V->n_rot / 2; i++) {
        double th = pos * pow(base, -2.0 * i / V->n_rot) / (ff ? ff[i] : 1.0);
        int a = V->neox ? i : 2 * i, b = V->neox ? i + V->n_rot / 2 : 2 * i + 1;
        double xa = v[a], xb = v[b];
        v[a] = xa * cos(th) - xb * sin(th);
        v[b] = xa * sin(th) + xb * cos(th);
    }
}

/* logits of the last position, [V] */
static void naive_forward(const variant *v, const tiny *t, const int32_t *ids, int T, double *out) {
    const int C = v->C, H = v->H, Hk = v->Hkv, D = v->D, F = v->FF;
    double *x = calloc((size_t)(T * C), sizeof(double));
    double *K = calloc((size_t)(T * Hk * D), sizeof(double)),
           *Vv = calloc((size_t)(T * Hk * D), sizeof(double));
    double *Q = calloc((size_t)(T * H * D), sizeof(double));
    double n[256], a[256], o[256], g[256], u[256];
    char nm[64];
    const float *emb = get(t, "token_embd.weight"), *ff = get(t, "rope_freqs.weight");
    const double escale = v->swa ? sqrt((double)C) : 1.0;
    for (int s = 0; s < T; s++)
        for (int c = 0; c < C; c++)
            x[s * C + c] = emb[ids[s] * C + c] * escale;
    for (int l = 0; l < v->L; l++) {
        const bool local = v->swa && l % 6 < 5;
        const double base = local ? 10000.0 : v->base;
#define W(s) (snprintf(nm, sizeof(nm), "blk.%d.%s", l, s), get(t, nm))
        for (int s = 0; s < T; s++) {
            rms(n, x + s * C, W("attn_norm.weight"), C, 1e-6);
            mv(Q + s * H * D, W("attn_q.weight"), W("attn_q.bias"), n, H * D, C);
            mv(K + s * Hk * D, W("attn_k.weight"), W("attn_k.bias"), n, Hk * D, C);
            mv(Vv + s * Hk * D, W("attn_v.weight"), W("attn_v.bias"), n, Hk * D, C);
            for (int h = 0; h < H; h++) {
                if (v->qk_norm) {
                    rms(a, Q + s * H * D + h * D, W("attn_q_norm.weight"), D, 1e-6);
                    memcpy(Q + s * H * D + h * D, a, sizeof(double) * (size_t)D);
                }
                rope(Q + s * H * D + h * D, v, s, ff, base);
            }
            for (int h = 0; h < Hk; h++) {
                if (v->qk_norm) {
                    rms(a, K + s * Hk * D + h * D, W("attn_k_norm.weight"), D, 1e-6);
                    memcpy(K + s * Hk * D + h * D, a, sizeof(double) * (size_t)D);
                }
                rope(K + s * Hk * D + h * D, v, s, ff, base);
            }
        }
        double *nx = calloc((size_t)(T * C), sizeof(double));
        for (int s = 0; s < T; s++) {
            for (int h = 0; h < H; h++) {
                int gk = h / (H / Hk);
                double sc[64], mx = -1e300, z = 0;
                const int j0 = local && s - v->swa + 1 > 0 ? s - v->swa + 1 : 0;
                for (int j = 0; j < j0; j++)
                    sc[j] = -INFINITY;
                for (int j = j0; j <= s; j++) {
                    double d = 0;
                    for (int e = 0; e < D; e++)
                        d += Q[s * H * D + h * D + e] * K[j * Hk * D + gk * D + e];
                    sc[j] = d / sqrt((double)D);
                    mx = fmax(mx, sc[j]);
                }
                for (int j = 0; j <= s; j++)
                    z += exp(sc[j] - mx);
                for (int e = 0; e < D; e++) {
                    double acc = 0;
                    for (int j = 0; j <= s; j++)
                        acc += exp(sc[j] - mx) / z * Vv[j * Hk * D + gk * D + e];
                    a[h * D + e] = acc;
                }
            }
            mv(o, W("attn_output.weight"), NULL, a, C, H * D);
            if (v->swa) {
                rms(n, o, W("post_attention_norm.weight"), C, 1e-6);
                memcpy(o, n, sizeof(double) * (size_t)C);
            }
            for (int c = 0; c < C; c++)
                nx[s * C + c] = x[s * C + c] + o[c];
            rms(n, nx + s * C, W("ffn_norm.weight"), C, 1e-6);
            mv(g, W("ffn_gate.weight"), NULL, n, F, C);
            mv(u, W("ffn_up.weight"), NULL, n, F, C);
            for (int i = 0; i < F; i++) {
                double gl = v->swa ? 0.5 * g[i] *
                                         (1 + tanh(sqrt(2 / 3.14159265358979323846) *
                                                   (g[i] + 0.044715 * g[i] * g[i] * g[i])))
                                   : g[i] / (1 + exp(-g[i]));
                g[i] = gl * u[i];
            }
            mv(o, W("ffn_down.weight"), NULL, g, C, F);
            if (v->swa) {
                rms(n, o, W("post_ffw_norm.weight"), C, 1e-6);
                memcpy(o, n, sizeof(double) * (size_t)C);
            }
            for (int c = 0; c < C; c++)
                nx[s * C + c] += o[c];
        }
        memcpy(x, nx, sizeof(double) * (size_t)(T * C));
        free(nx);
#undef W
    }
    rms(n, x + (T - 1) * C, get(t, "output_norm.weight"), C, 1e-6);
    const float *ow = v->tied ? emb : get(t, "output.weight");
    mv(out, ow, NULL, n, v->V, C);
    free(x);
    free(K);
    free(Vv);
    free(Q);
}

static void run_variant(const variant *v) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s-%d.gguf", rw_test_tmpdir(), v->arch, v->n_rot);
    tiny t;
    build(v, path, &t);
    infer_model *m = NULL;
    rw_err e;
    rw_status st = infer_model_load(path, &m, &e);
    if (st) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(st, RW_OK);
    assert_int_equal(m->hp.tied_output, v->tied);
    assert_int_equal(m->hp.head_dim, v->D);
    int32_t ids[9] = {3, 1, 4, 1, 5, 9, 2, 6, 5};
    double *ref = malloc(sizeof(double) * (size_t)v->V);
    rw_arena ar;
    assert_int_equal(rw_arena_init(&ar, 16u << 20, NULL), RW_OK);
    infer_kv_cache kv;
    assert_int_equal(infer_kv_init(&kv, m, 16, NULL), RW_OK);
    /* prefill 5 tokens, then decode 4 one at a time; compare every step's last logits */
    for (int T = 5; T <= 9; T++) {
        naive_forward(v, &t, ids, T, ref);
        rw_arena_reset(&ar);
        infer_ctx ctx;
        infer_ctx_init(&ctx, &ar, NULL, NULL);
        rw_tensor *lg = T == 5 ? infer_decoder_forward(&ctx, m, &kv, ids, 5, false)
                               : infer_decoder_forward(&ctx, m, &kv, ids + T - 1, 1, false);
        assert_non_null(lg);
        double worst = 0;
        for (int i = 0; i < v->V; i++)
            worst = fmax(worst, fabs(((float *)lg->data)[i] - ref[i]));
        if (worst > 1e-4) fprintf(stderr, "%s T=%d: max err %g\n", v->arch, T, worst);
        assert_true(worst <= 1e-4);
    }
    infer_kv_deinit(&kv);
    rw_arena_deinit(&ar);
    infer_model_destroy(m);
    for (int i = 0; i < t.n; i++)
        free(t.w[i].d);
    free(ref);
}

static void test_qwen2(void **s) {
    (void)s;
    variant v = {"qwen2", 32, 4, 2, 8, 48, 40, 2, 8, true, true, false, false, true, 1e6f, 0};
    run_variant(&v);
}
static void test_qwen3(void **s) {
    (void)s;
    variant v = {"qwen3", 32, 4, 1, 16, 48, 40, 2, 16, true, false, true, false, true, 1e6f, 0};
    run_variant(&v);
}
static void test_llama3_rope_freqs_partial(void **s) {
    (void)s;
    variant v = {"llama", 32, 4, 4, 8, 48, 40, 2, 6, false, false, false, true, false, 5e5f, 0};
    run_variant(&v);
}
/* 7 layers: local layers 0-4 and 6 (window 3), global layer 5 */
static void test_gemma3(void **s) {
    (void)s;
    variant v = {"gemma3", 32, 4, 2, 16, 48, 40, 7, 16, true, false, true, false, true, 1e6f, 3};
    run_variant(&v);
}

/* gemma3 local layers read only the window's keys from the KV cache (the view starts at
 * position p0 - window + 1). Reference: one cache-free forward of the whole sequence, whose
 * attention masks the full [T][T] score matrix (causal + window). Chunks of several sizes
 * (multi-row chunks starting past the window, single-token decodes) must give the same
 * logits at every position. */
static void test_gemma3_window_cache(void **s) {
    (void)s;
    variant v = {"gemma3", 32, 4, 2, 16, 48, 40, 7, 16, true, false, true, false, true, 1e6f, 4};
    char path[512];
    snprintf(path, sizeof(path), "%s/gemma3-window.gguf", rw_test_tmpdir());
    tiny t;
    build(&v, path, &t);
    infer_model *m = NULL;
    assert_int_equal(infer_model_load(path, &m, NULL), RW_OK);
    assert_int_equal(m->hp.n_swa, 4);
    enum { N = 26 };
    int32_t ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = (i * 7 + 3) % v.V;
    rw_arena ar;
    assert_int_equal(rw_arena_init(&ar, 32u << 20, NULL), RW_OK);
    infer_ctx ctx;
    infer_ctx_init(&ctx, &ar, NULL, NULL);
    rw_tensor *full = infer_decoder_forward(&ctx, m, NULL, ids, N, true);
    assert_non_null(full);
    float *ref = malloc(sizeof(float) * (size_t)(N * v.V));
    memcpy(ref, full->data, sizeof(float) * (size_t)(N * v.V));
    infer_kv_cache kv;
    assert_int_equal(infer_kv_init(&kv, m, N, NULL), RW_OK);
    const int chunks[] = {2, 1, 1, 6, 1, 9, 1, 1, 4};
    int o = 0;
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        rw_arena_reset(&ar);
        infer_ctx_init(&ctx, &ar, NULL, NULL);
        rw_tensor *lg = infer_decoder_forward(&ctx, m, &kv, ids + o, chunks[c], true);
        assert_non_null(lg);
        rw_assert_allclose(lg->data, ref + o * v.V, (size_t)(chunks[c] * v.V), 1e-5, 1e-5);
        o += chunks[c];
    }
    assert_int_equal(o, N);
    infer_kv_deinit(&kv);
    rw_arena_deinit(&ar);
    infer_model_destroy(m);
    for (int i = 0; i < t.n; i++)
        free(t.w[i].d);
    free(ref);
}

/* infer_decoder_layer_packed: three sequences back to back (positions restarting at 0)
 * give, row for row, the logits of each sequence's own forward (infer_decoder_forward, no
 * cache). Inference context (no tape), so long sequences take the batched-GEMM attention
 * and short ones the kernel; qwen3 (q/k norms, NEOX rope) and llama with rope factors. */
static void check_packed(const variant *v) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s-packed.gguf", rw_test_tmpdir(), v->arch);
    tiny t;
    build(v, path, &t);
    infer_model *m = NULL;
    assert_int_equal(infer_model_load(path, &m, NULL), RW_OK);
    assert_true(infer_decoder_packed_supported(m));
    enum { NS = 3, TT = 9 + 3 + 17 };
    const int32_t lens[NS] = {9, 3, 17};
    int32_t ids[TT], pos[TT];
    for (int i = 0, o = 0; i < NS; o += lens[i], i++)
        for (int j = 0; j < lens[i]; j++) {
            ids[o + j] = (o * 5 + j * 3 + 1) % v->V;
            pos[o + j] = j;
        }
    rw_arena ar;
    assert_int_equal(rw_arena_init(&ar, 32u << 20, NULL), RW_OK);
    infer_ctx ctx;
    infer_ctx_init(&ctx, &ar, NULL, NULL);
    rw_tensor *x = infer_op_embed(&ctx, m->tok_embd, ids, TT);
    for (int64_t il = 0; il < m->hp.n_layer; il++)
        x = infer_decoder_layer_packed(&ctx, m, il, x, pos, lens, NS);
    rw_tensor *lg = infer_linear_forward(&ctx, &m->output,
                                         infer_op_rmsnorm(&ctx, x, m->out_norm, m->hp.norm_eps));
    assert_non_null(lg);
    for (int i = 0, o = 0; i < NS; o += lens[i], i++) {
        rw_tensor *one = infer_decoder_forward(&ctx, m, NULL, ids + o, lens[i], true);
        assert_non_null(one);
        rw_assert_allclose((float *)lg->data + o * v->V, one->data, (size_t)(lens[i] * v->V), 1e-5,
                           1e-5);
    }
    rw_arena_deinit(&ar);
    infer_model_destroy(m);
    for (int i = 0; i < t.n; i++)
        free(t.w[i].d);
}

static void test_decoder_packed(void **s) {
    (void)s;
    variant q = {"qwen3", 32, 4, 1, 16, 48, 40, 2, 16, true, false, true, false, true, 1e6f, 0};
    check_packed(&q);
    variant l = {"llama", 32, 4, 4, 8, 48, 40, 2, 6, false, false, false, true, false, 5e5f, 0};
    check_packed(&l);
}

/* ---- nomic-bert: fused QKV (with bias), rope NEOX, SwiGLU, post-LayerNorm, mean pooling ---- */

static void ln(double *y, const double *x, const float *w, const float *b, int C, double eps) {
    double mu = 0, var = 0;
    for (int c = 0; c < C; c++)
        mu += x[c];
    mu /= C;
    for (int c = 0; c < C; c++)
        var += (x[c] - mu) * (x[c] - mu);
    var /= C;
    for (int c = 0; c < C; c++)
        y[c] = (x[c] - mu) / sqrt(var + eps) * w[c] + b[c];
}

static void test_nomic_bert(void **state) {
    (void)state;
    enum { C = 32, H = 4, D = 8, FF = 40, V = 30, L = 2, T = 7 };
    const double eps = 1e-12, base = 1000.0;
    char path[512], k[128], n[64];
    snprintf(path, sizeof(path), "%s/nomic.gguf", rw_test_tmpdir());
    rw_rng r;
    rw_rng_seed(&r, 77);
    tiny t;
    memset(&t, 0, sizeof(t));
    infer_gguf_writer *w = NULL;
    assert_int_equal(infer_gguf_writer_create(&w, NULL), RW_OK);
    infer_gguf_writer_set_str(w, "general.architecture", "nomic-bert", NULL);
#define KEY(x) (snprintf(k, sizeof(k), "nomic-bert.%s", x), k)
    infer_gguf_writer_set_u32(w, KEY("embedding_length"), C, NULL);
    infer_gguf_writer_set_u32(w, KEY("block_count"), L, NULL);
    infer_gguf_writer_set_u32(w, KEY("feed_forward_length"), FF, NULL);
    infer_gguf_writer_set_u32(w, KEY("attention.head_count"), H, NULL);
    infer_gguf_writer_set_u32(w, KEY("context_length"), 64, NULL);
    infer_gguf_writer_set_f32(w, KEY("attention.layer_norm_epsilon"), (float)eps, NULL);
    infer_gguf_writer_set_f32(w, KEY("rope.freq_base"), (float)base, NULL);
    infer_gguf_writer_set_u32(w, KEY("pooling_type"), 1, NULL);
#undef KEY
    add(&t, &r, "token_embd.weight", C, V, 0.5, 0);
    add(&t, &r, "token_types.weight", C, 2, 0.3, 0);
    add(&t, &r, "token_embd_norm.weight", C, 0, 0.1, 1);
    add(&t, &r, "token_embd_norm.bias", C, 0, 0.1, 0);
    for (int l = 0; l < L; l++) {
#define N(x) (snprintf(n, sizeof(n), "blk.%d.%s", l, x), n)
        add(&t, &r, N("attn_qkv.weight"), C, 3 * C, 0.25, 0);
        add(&t, &r, N("attn_qkv.bias"), 3 * C, 0, 0.2, 0);
        add(&t, &r, N("attn_output.weight"), C, C, 0.2, 0);
        add(&t, &r, N("attn_output_norm.weight"), C, 0, 0.1, 1);
        add(&t, &r, N("attn_output_norm.bias"), C, 0, 0.1, 0);
        add(&t, &r, N("ffn_up.weight"), C, FF, 0.2, 0);
        add(&t, &r, N("ffn_gate.weight"), C, FF, 0.2, 0);
        add(&t, &r, N("ffn_down.weight"), FF, C, 0.2, 0);
        add(&t, &r, N("layer_output_norm.weight"), C, 0, 0.1, 1);
        add(&t, &r, N("layer_output_norm.bias"), C, 0, 0.1, 0);
#undef N
    }
    for (int i = 0; i < t.n; i++) {
        int64_t ne[2] = {t.w[i].ne0, t.w[i].ne1};
        infer_gguf_writer_add_tensor(w, t.w[i].name, RW_DTYPE_F32, t.w[i].ne1 ? 2 : 1, ne, t.w[i].d,
                                     NULL);
    }
    assert_int_equal(infer_gguf_writer_write(w, path, NULL), RW_OK);
    infer_gguf_writer_destroy(w);

    /* naive reference, one sequence */
    const int32_t ids[T] = {1, 5, 9, 2, 29, 0, 14};
    static double x[T][C], qkv[T][3 * C], a[T][C], o[C], h[T][C], g[FF], u[FF], y[C];
    const float *emb = get(&t, "token_embd.weight"), *typ = get(&t, "token_types.weight");
    for (int s = 0; s < T; s++) {
        for (int c = 0; c < C; c++)
            o[c] = (double)emb[ids[s] * C + c] + typ[c];
        ln(x[s], o, get(&t, "token_embd_norm.weight"), get(&t, "token_embd_norm.bias"), C, eps);
    }
    variant rv = {"nomic-bert", C,     H,     H,     D,    FF,          V, L, D,
                  false,        false, false, false, true, (float)base, 0};
    for (int l = 0; l < L; l++) {
#define W(x) (snprintf(n, sizeof(n), "blk.%d.%s", l, x), get(&t, n))
        for (int s = 0; s < T; s++) {
            mv(qkv[s], W("attn_qkv.weight"), W("attn_qkv.bias"), x[s], 3 * C, C);
            for (int hh = 0; hh < H; hh++) {
                rope(qkv[s] + hh * D, &rv, s, NULL, base);
                rope(qkv[s] + C + hh * D, &rv, s, NULL, base);
            }
        }
        for (int s = 0; s < T; s++)
            for (int hh = 0; hh < H; hh++) {
                double sc[T], mx = -1e300, z = 0;
                for (int j = 0; j < T; j++) {
                    double d = 0;
                    for (int e = 0; e < D; e++)
                        d += qkv[s][hh * D + e] * qkv[j][C + hh * D + e];
                    sc[j] = d / sqrt((double)D);
                    mx = fmax(mx, sc[j]);
                }
                for (int j = 0; j < T; j++)
                    z += exp(sc[j] - mx);
                for (int e = 0; e < D; e++) {
                    double acc = 0;
                    for (int j = 0; j < T; j++)
                        acc += exp(sc[j] - mx) / z * qkv[j][2 * C + hh * D + e];
                    a[s][hh * D + e] = acc;
                }
            }
        for (int s = 0; s < T; s++) {
            mv(o, W("attn_output.weight"), NULL, a[s], C, C);
            for (int c = 0; c < C; c++)
                o[c] += x[s][c];
            ln(h[s], o, W("attn_output_norm.weight"), W("attn_output_norm.bias"), C, eps);
            mv(g, W("ffn_gate.weight"), NULL, h[s], FF, C);
            mv(u, W("ffn_up.weight"), NULL, h[s], FF, C);
            for (int i = 0; i < FF; i++)
                g[i] = g[i] / (1 + exp(-g[i])) * u[i];
            mv(o, W("ffn_down.weight"), NULL, g, C, FF);
            for (int c = 0; c < C; c++)
                o[c] += h[s][c];
            ln(x[s], o, W("layer_output_norm.weight"), W("layer_output_norm.bias"), C, eps);
        }
#undef W
    }
    double nn = 0;
    for (int c = 0; c < C; c++) {
        y[c] = 0;
        for (int s = 0; s < T; s++)
            y[c] += x[s][c] / T;
        nn += y[c] * y[c];
    }
    infer_model *m = NULL;
    rw_err e;
    rw_status st = infer_model_load(path, &m, &e);
    if (st) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(st, RW_OK);
    rw_arena ar;
    assert_int_equal(rw_arena_init(&ar, 16u << 20, NULL), RW_OK);
    infer_ctx ctx;
    infer_ctx_init(&ctx, &ar, NULL, NULL);
    /* packed with a second sequence in front: positions restart per sequence */
    int32_t all[T + 3] = {4, 4, 4, 1, 5, 9, 2, 29, 0, 14}, lens[2] = {3, T};
    rw_tensor *out = infer_encoder_embed(&ctx, m, all, lens, 2, -1, true);
    assert_non_null(out);
    for (int c = 0; c < C; c++)
        assert_true(fabs(((float *)out->data)[C + c] - y[c] / sqrt(nn)) < 1e-5);
    rw_arena_deinit(&ar);
    infer_model_destroy(m);
    for (int i = 0; i < t.n; i++)
        free(t.w[i].d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen2),
        cmocka_unit_test(test_qwen3),
        cmocka_unit_test(test_llama3_rope_freqs_partial),
        cmocka_unit_test(test_gemma3),
        cmocka_unit_test(test_gemma3_window_cache),
        cmocka_unit_test(test_decoder_packed),
        cmocka_unit_test(test_nomic_bert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
