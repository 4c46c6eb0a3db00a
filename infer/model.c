/* Model loading (GGUF metadata + tensor validation) and the linear layer with LoRA.
 *
 * Reference for key and tensor names: llama.cpp's LLM_ARCH / LLM_TENSOR tables (read for
 * facts). Every tensor the architecture needs is checked for presence, a supported type and
 * its exact ne before any forward pass can run, so forward code trusts shapes. */
#include "infer/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

static const char *const ARCH_NAMES[INFER_ARCH_COUNT] = {"llama", "qwen2",  "qwen3",
                                                         "bert",  "gemma3", "nomic-bert"};

const char *infer_arch_name(infer_arch a) {
    return (unsigned)a < INFER_ARCH_COUNT ? ARCH_NAMES[a] : "?";
}

void infer_model_destroy(infer_model *m) {
    if (!m) return;
    rw_free(m->layers);
    rw_free(m->views);
    rw_free(m->tensors);
    infer_gguf_close(m->gguf);
    rw_free(m);
}

/* Looks up `name`; checks type support and shape {ne0, ne1} (ne1 < 0: 1-D of ne0). */
static rw_status tensor(infer_model *m, const char *name, int64_t ne0, int64_t ne1, bool required,
                        rw_tensor **out, rw_err *err) {
    int64_t idx = infer_gguf_find_tensor(m->gguf, name);
    if (idx < 0) {
        *out = NULL;
        if (!required) return RW_OK;
        return rw_err_set(err, RW_E_NOTFOUND, "%s model: tensor '%s' is missing", m->arch_name,
                          name);
    }
    rw_tensor *t = &m->tensors[idx];
    const kern_type_traits *tr = kern_type_get(t->type);
    if (!tr || !tr->vec_dot || !tr->to_float) {
        const rw_dtype_info *di = rw_dtype_get((uint32_t)t->type);
        return rw_err_set(err, RW_E_UNSUPPORTED, "tensor '%s': type %s is not supported", name,
                          di ? di->name : "?");
    }
    const int want_dims = ne1 < 0 ? 1 : 2;
    const bool ok = t->ne[0] == ne0 && (ne1 < 0 ? rw_tensor_nrows(t) == 1 : t->ne[1] == ne1) &&
                    t->ne[2] == 1 && t->ne[3] == 1;
    if (!ok)
        return rw_err_set(err, RW_E_FORMAT,
                          "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld%s%lld] "
                          "(%d-D)",
                          name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                          (long long)t->ne[3], (long long)ne0, ne1 < 0 ? "" : ", ",
                          (long long)(ne1 < 0 ? 0 : ne1), want_dims);
    if (ne1 < 0 && t->type != RW_DTYPE_F32)
        return rw_err_set(err, RW_E_UNSUPPORTED, "tensor '%s': norm/bias vectors must be F32",
                          name);
    *out = t;
    return RW_OK;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        st = (x);                                                                                  \
        if (st != RW_OK) goto fail;                                                                \
    } while (0)

static rw_status key_i64(infer_model *m, const char *suffix, bool required, int64_t dflt,
                         int64_t *out, rw_err *err) {
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", m->arch_name, suffix);
    if (!required && infer_gguf_find_key(m->gguf, key) < 0) {
        *out = dflt;
        return RW_OK;
    }
    int64_t v;
    rw_status st = infer_gguf_get_i64(m->gguf, key, &v, err);
    if (st != RW_OK) return st;
    if (v <= 0 && required)
        return rw_err_set(err, RW_E_FORMAT, "key '%s' = %lld must be positive", key, (long long)v);
    *out = v;
    return RW_OK;
}

static rw_status key_f32(infer_model *m, const char *suffix, float dflt, float *out, rw_err *err) {
    char key[128];
    snprintf(key, sizeof(key), "%s.%s", m->arch_name, suffix);
    if (infer_gguf_find_key(m->gguf, key) < 0) {
        *out = dflt;
        return RW_OK;
    }
    return infer_gguf_get_f32(m->gguf, key, out, err);
}

static rw_status linear(infer_model *m, const char *name, int64_t n_in, int64_t n_out, bool bias,
                        infer_linear *l, rw_err *err) {
    char buf[96];
    memset(l, 0, sizeof(*l));
    snprintf(buf, sizeof(buf), "%s.weight", name);
    rw_status st = tensor(m, buf, n_in, n_out, true, &l->w, err);
    if (st != RW_OK) return st;
    snprintf(buf, sizeof(buf), "%s.bias", name);
    return tensor(m, buf, n_out, -1, bias, &l->b, err);
}

static rw_status load_hparams(infer_model *m, rw_err *err) {
    rw_status st;
    infer_hparams *hp = &m->hp;
    TRY(key_i64(m, "embedding_length", true, 0, &hp->n_embd, err));
    TRY(key_i64(m, "block_count", true, 0, &hp->n_layer, err));
    TRY(key_i64(m, "feed_forward_length", true, 0, &hp->n_ff, err));
    TRY(key_i64(m, "attention.head_count", true, 0, &hp->n_head, err));
    TRY(key_i64(m, "attention.head_count_kv", false, hp->n_head, &hp->n_head_kv, err));
    TRY(key_i64(m, "context_length", false, 2048, &hp->n_ctx_train, err));
    if (hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv != 0)
        return rw_err_set(err, RW_E_FORMAT,
                          "%s.attention.head_count_kv = %lld must divide "
                          "head_count = %lld",
                          m->arch_name, (long long)hp->n_head_kv, (long long)hp->n_head);
    int64_t dflt_hd = hp->n_embd / hp->n_head;
    TRY(key_i64(m, "attention.key_length", false, dflt_hd, &hp->head_dim, err));
    int64_t vlen;
    TRY(key_i64(m, "attention.value_length", false, hp->head_dim, &vlen, err));
    if (vlen != hp->head_dim || hp->head_dim <= 0 || hp->head_dim > 512 || hp->head_dim % 2)
        return rw_err_set(err, RW_E_UNSUPPORTED,
                          "%s: head dim %lld (key) / %lld (value) is not "
                          "supported",
                          m->arch_name, (long long)hp->head_dim, (long long)vlen);
    if (infer_arch_is_encoder(m->arch)) {
        TRY(key_f32(m, "attention.layer_norm_epsilon", 1e-12f, &hp->norm_eps, err));
        if (m->arch == INFER_ARCH_NOMIC_BERT) {
            hp->rope.mode = KERN_ROPE_NEOX;
            hp->rope.n_rot = (size_t)hp->head_dim;
            hp->rope.freq_scale = 1.0f;
            TRY(key_f32(m, "rope.freq_base", 1000.0f, &hp->rope.freq_base, err));
        }
        int64_t pt;
        TRY(key_i64(m, "pooling_type", false, INFER_POOL_MEAN, &pt, err));
        if (pt < 0 || pt > 3)
            return rw_err_set(err, RW_E_UNSUPPORTED,
                              "%s.pooling_type = %lld is not supported "
                              "(0 none, 1 mean, 2 cls, 3 last)",
                              m->arch_name, (long long)pt);
        hp->pooling = (infer_pooling)pt;
        hp->causal = false;
    } else {
        TRY(key_f32(m, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->norm_eps, err));
        hp->causal = true;
        /* embedding decoders (e.g. Qwen3-Embedding) may name their pooling; default last */
        int64_t pt;
        TRY(key_i64(m, "pooling_type", false, INFER_POOL_LAST, &pt, err));
        hp->pooling = pt >= 1 && pt <= 3 ? (infer_pooling)pt : INFER_POOL_LAST;
        int64_t n_rot;
        TRY(key_i64(m, "rope.dimension_count", false, hp->head_dim, &n_rot, err));
        if (n_rot <= 0 || n_rot > hp->head_dim || n_rot % 2)
            return rw_err_set(err, RW_E_FORMAT,
                              "%s.rope.dimension_count = %lld invalid for head "
                              "dim %lld",
                              m->arch_name, (long long)n_rot, (long long)hp->head_dim);
        hp->rope.n_rot = (size_t)n_rot;
        hp->rope.mode = m->arch == INFER_ARCH_LLAMA ? KERN_ROPE_NORMAL : KERN_ROPE_NEOX;
        TRY(key_f32(m, "rope.freq_base", 10000.0f, &hp->rope.freq_base, err));
        float factor = 1.0f;
        char key[128];
        snprintf(key, sizeof(key), "%s.rope.scaling.type", m->arch_name);
        infer_gguf_str stype;
        if (infer_gguf_get_str(m->gguf, key, &stype, NULL) == RW_OK &&
            infer_gguf_str_eq(stype, "linear"))
            TRY(key_f32(m, "rope.scaling.factor", 1.0f, &factor, err));
        hp->rope.freq_scale = factor > 0 ? 1.0f / factor : 1.0f;
    }
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    hp->embd_scale = 1.0f;
    if (m->arch == INFER_ARCH_GEMMA3) {
        /* llama.cpp's gemma3 hparams: local layers (il % 6 < 5) use a sliding window and rope
         * base 10000; embeddings scaled by sqrt(n_embd); the 62-layer 27B scales q by
         * 1/sqrt(n_embd/n_head). */
        TRY(key_i64(m, "attention.sliding_window", true, 0, &hp->n_swa, err));
        hp->swa_pattern = 6;
        hp->rope_base_swa = 10000.0f;
        hp->embd_scale = sqrtf((float)hp->n_embd);
        if (hp->n_layer == 62) hp->attn_scale = 1.0f / sqrtf((float)(hp->n_embd / hp->n_head));
    }
    return RW_OK;
fail:
    return st;
}

/* Row slice [r0, r0+n) of a {K, N} tensor (or elements of a 1-D bias) as a contiguous view. */
static void slice_rows(rw_tensor *dst, const rw_tensor *src, int64_t r0, int64_t n) {
    *dst = *src;
    if (src->n_dims <= 1) {
        dst->ne[0] = n;
        dst->nb[1] = src->nb[0] * (size_t)n;
        dst->data = (unsigned char *)src->data + (size_t)r0 * src->nb[0];
    } else {
        dst->ne[1] = n;
        dst->data = (unsigned char *)src->data + (size_t)r0 * src->nb[1];
    }
    for (int i = 2; i < RW_MAX_DIMS; i++)
        dst->nb[i] = dst->nb[i - 1] * (size_t)dst->ne[i - 1];
}

/* nomic-bert: blk.N.attn_qkv.weight {C, HD + 2 KVD} (+ optional bias) split into q, k, v
 * views (rows [0,HD) q, [HD, HD+KVD) k, the rest v, as llama.cpp slices it). */
static rw_status fused_qkv(infer_model *m, int64_t il, rw_tensor *views, infer_layer *L,
                           rw_err *err) {
    const infer_hparams *hp = &m->hp;
    const int64_t C = hp->n_embd, HD = hp->n_head * hp->head_dim,
                  KVD = hp->n_head_kv * hp->head_dim;
    char n[96];
    rw_tensor *w, *b;
    snprintf(n, sizeof(n), "blk.%lld.attn_qkv.weight", (long long)il);
    rw_status st = tensor(m, n, C, HD + 2 * KVD, true, &w, err);
    if (st != RW_OK) return st;
    snprintf(n, sizeof(n), "blk.%lld.attn_qkv.bias", (long long)il);
    if ((st = tensor(m, n, HD + 2 * KVD, -1, false, &b, err)) != RW_OK) return st;
    const int64_t off[3] = {0, HD, HD + KVD}, len[3] = {HD, KVD, KVD};
    infer_linear *ls[3] = {&L->q, &L->k, &L->v};
    for (int i = 0; i < 3; i++) {
        memset(ls[i], 0, sizeof(*ls[i]));
        slice_rows(&views[i], w, off[i], len[i]);
        ls[i]->w = &views[i];
        if (b) {
            slice_rows(&views[3 + i], b, off[i], len[i]);
            ls[i]->b = &views[3 + i];
        }
    }
    return RW_OK;
}

static rw_status load_tensors(infer_model *m, rw_err *err) {
    rw_status st;
    infer_hparams *hp = &m->hp;
    const int64_t C = hp->n_embd, HD = hp->n_head * hp->head_dim,
                  KVD = hp->n_head_kv * hp->head_dim, FF = hp->n_ff;
    int64_t idx = infer_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (idx < 0)
        return rw_err_set(err, RW_E_NOTFOUND, "%s model: tensor 'token_embd.weight' is missing",
                          m->arch_name);
    hp->n_vocab = m->tensors[idx].ne[1];
    TRY(tensor(m, "token_embd.weight", C, hp->n_vocab, true, &m->tok_embd, err));
    m->layers = rw_calloc((size_t)hp->n_layer, sizeof(infer_layer));
    if (!m->layers) return rw_err_set(err, RW_E_NOMEM, "model layers");
    const bool bert = infer_arch_is_encoder(m->arch);
    const bool nomic = m->arch == INFER_ARCH_NOMIC_BERT;
    if (nomic) {
        m->views = rw_calloc((size_t)hp->n_layer * 6, sizeof(rw_tensor));
        if (!m->views) return rw_err_set(err, RW_E_NOMEM, "model views");
        hp->n_pos = hp->n_ctx_train; /* rope: no learned positions */
    }
    if (bert && !nomic) {
        int64_t pidx = infer_gguf_find_tensor(m->gguf, "position_embd.weight");
        hp->n_pos = pidx >= 0 ? m->tensors[pidx].ne[1] : 0;
        TRY(tensor(m, "position_embd.weight", C, hp->n_pos, true, &m->pos_embd, err));
    }
    if (bert) {
        int64_t tidx = infer_gguf_find_tensor(m->gguf, "token_types.weight");
        if (tidx >= 0)
            TRY(tensor(m, "token_types.weight", C, m->tensors[tidx].ne[1], true, &m->type_embd,
                       err));
        TRY(tensor(m, "token_embd_norm.weight", C, -1, true, &m->embd_norm, err));
        TRY(tensor(m, "token_embd_norm.bias", C, -1, true, &m->embd_norm_b, err));
    } else {
        TRY(tensor(m, "output_norm.weight", C, -1, true, &m->out_norm, err));
        TRY(tensor(m, "rope_freqs.weight", (int64_t)hp->rope.n_rot / 2, -1, false, &m->rope_freqs,
                   err));
        memset(&m->output, 0, sizeof(m->output));
        TRY(tensor(m, "output.weight", C, hp->n_vocab, false, &m->output.w, err));
    }
    for (int64_t il = 0; il < hp->n_layer; il++) {
        infer_layer *L = &m->layers[il];
        char n[96], b[96];
#define NAME(s) (snprintf(n, sizeof(n), "blk.%lld." s, (long long)il), n)
        const bool qkv_bias = (bert && !nomic) || m->arch == INFER_ARCH_QWEN2;
        if (nomic) {
            TRY(fused_qkv(m, il, &m->views[il * 6], L, err));
        } else {
            TRY(linear(m, NAME("attn_q"), C, HD, qkv_bias, &L->q, err));
            TRY(linear(m, NAME("attn_k"), C, KVD, qkv_bias, &L->k, err));
            TRY(linear(m, NAME("attn_v"), C, KVD, qkv_bias, &L->v, err));
        }
        TRY(linear(m, NAME("attn_output"), HD, C, bert && !nomic, &L->o, err));
        if (bert) {
            TRY(tensor(m, NAME("attn_output_norm.weight"), C, -1, true, &L->attn_norm, err));
            TRY(tensor(m, NAME("attn_output_norm.bias"), C, -1, true, &L->attn_norm_b, err));
            if (nomic) TRY(linear(m, NAME("ffn_gate"), C, FF, false, &L->gate, err));
            TRY(linear(m, NAME("ffn_up"), C, FF, !nomic, &L->up, err));
            TRY(linear(m, NAME("ffn_down"), FF, C, !nomic, &L->down, err));
            TRY(tensor(m, NAME("layer_output_norm.weight"), C, -1, true, &L->ffn_norm, err));
            TRY(tensor(m, NAME("layer_output_norm.bias"), C, -1, true, &L->ffn_norm_b, err));
        } else {
            TRY(tensor(m, NAME("attn_norm.weight"), C, -1, true, &L->attn_norm, err));
            TRY(tensor(m, NAME("ffn_norm.weight"), C, -1, true, &L->ffn_norm, err));
            const bool gemma3 = m->arch == INFER_ARCH_GEMMA3;
            const bool qk_norm = m->arch == INFER_ARCH_QWEN3 || gemma3;
            TRY(tensor(m, NAME("post_attention_norm.weight"), C, -1, gemma3, &L->post_attn_norm,
                       err));
            TRY(tensor(m, NAME("post_ffw_norm.weight"), C, -1, gemma3, &L->post_ffn_norm, err));
            TRY(tensor(m, NAME("attn_q_norm.weight"), hp->head_dim, -1, qk_norm, &L->q_norm, err));
            TRY(tensor(m, NAME("attn_k_norm.weight"), hp->head_dim, -1, qk_norm, &L->k_norm, err));
            TRY(linear(m, NAME("ffn_gate"), C, FF, false, &L->gate, err));
            TRY(linear(m, NAME("ffn_up"), C, FF, false, &L->up, err));
            TRY(linear(m, NAME("ffn_down"), FF, C, false, &L->down, err));
        }
        (void)b;
#undef NAME
    }
    return RW_OK;
fail:
    return st;
}

rw_status infer_model_open_gguf(infer_gguf *g, const char *label, infer_model **out, rw_err *err) {
    rw_status st;
    infer_model *m = rw_calloc(1, sizeof(*m));
    if (!m) {
        infer_gguf_close(g);
        return rw_err_set(err, RW_E_NOMEM, "model");
    }
    m->gguf = g;
    infer_gguf_str s;
    TRY(infer_gguf_get_str(m->gguf, "general.architecture", &s, err));
    infer_gguf_str gt;
    if (infer_gguf_get_str(m->gguf, "general.type", &gt, NULL) == RW_OK &&
        infer_gguf_str_eq(gt, "adapter")) {
        st = rw_err_set(err, RW_E_INVALID,
                        "file is a LoRA adapter (general.type = adapter), "
                        "not a model: pass it with --lora");
        goto fail;
    }
    m->arch = INFER_ARCH_COUNT;
    for (int a = 0; a < INFER_ARCH_COUNT; a++)
        if (infer_gguf_str_eq(s, ARCH_NAMES[a])) m->arch = (infer_arch)a;
    if (m->arch == INFER_ARCH_COUNT) {
        st = rw_err_set(err, RW_E_UNSUPPORTED,
                        "general.architecture = '%.*s' is not supported (llama, qwen2, qwen3, "
                        "gemma3, bert, nomic-bert)",
                        (int)(s.len > 40 ? 40 : s.len), s.ptr);
        goto fail;
    }
    snprintf(m->arch_name, sizeof(m->arch_name), "%s", ARCH_NAMES[m->arch]);
    m->n_tensors = (size_t)infer_gguf_n_tensors(m->gguf);
    m->tensors = rw_calloc(m->n_tensors ? m->n_tensors : 1, sizeof(rw_tensor));
    if (!m->tensors) {
        st = rw_err_set(err, RW_E_NOMEM, "tensor table");
        goto fail;
    }
    for (size_t i = 0; i < m->n_tensors; i++)
        TRY(infer_gguf_tensor_at(m->gguf, i, &m->tensors[i]));
    TRY(load_hparams(m, err));
    TRY(load_tensors(m, err));
    if (!infer_arch_is_encoder(m->arch) && !m->output.w) {
        m->hp.tied_output = true;
        m->output.w = m->tok_embd;
    }
    *out = m;
    return RW_OK;
fail:
    rw_err_prefix(err, "%s: ", label ? label : "model");
    infer_model_destroy(m);
    return st;
}

rw_status infer_model_load(const char *path, infer_model **out, rw_err *err) {
    infer_gguf *g = NULL;
    rw_status st = infer_gguf_open(path, &g, err);
    if (st != RW_OK) {
        rw_err_prefix(err, "%s: ", path);
        return st;
    }
    return infer_model_open_gguf(g, path, out, err);
}

infer_linear *infer_model_linear(infer_model *m, const char *name) {
    if (!strcmp(name, "output.weight"))
        return m->hp.tied_output ? NULL : (m->output.w ? &m->output : NULL);
    for (int64_t il = 0; il < m->hp.n_layer; il++) {
        infer_layer *L = &m->layers[il];
        infer_linear *all[7] = {&L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down};
        for (int k = 0; k < 7; k++)
            if (all[k]->w && all[k]->w->name && !strcmp(all[k]->w->name, name)) return all[k];
    }
    return NULL;
}

uint64_t infer_model_weight_bytes(const infer_model *m) {
    uint64_t s = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        s += rw_tensor_nbytes(&m->tensors[i]);
    return s;
}

/* x * mask, mask[i] = 0 with probability p else 1/(1-p) (LoRA input dropout, training). */
static rw_tensor *lora_dropout(infer_ctx *ctx, rw_tensor *x, float p, rw_rng *rng) {
    if (!x || !infer_ctx_ok(ctx)) return NULL;
    rw_tensor *mask = infer_new(ctx, RW_DTYPE_F32, x->n_dims, x->ne);
    if (!mask) return NULL;
    const float keep = 1.0f / (1.0f - p);
    float *mv = mask->data;
    for (int64_t i = 0; i < rw_tensor_nelements(x); i++)
        mv[i] = rw_rng_uniform(rng) < (double)p ? 0.0f : keep;
    return infer_op_mul(ctx, x, mask);
}

rw_tensor *infer_linear_forward(infer_ctx *ctx, const infer_linear *l, rw_tensor *x) {
    rw_tensor *y = infer_op_matmul(ctx, l->w, x);
    if (l->b && y && !ctx->tape) {
        /* inference: add the bias in place (y is fresh; saves a tensor and a pass) */
        const int64_t N = y->ne[0], T = rw_tensor_nrows(y);
        RW_ASSERT(l->b->type == RW_DTYPE_F32 && rw_tensor_nelements(l->b) == N,
                  "linear: bias of %lld values for %lld outputs",
                  (long long)rw_tensor_nelements(l->b), (long long)N);
        float *yv = y->data;
        for (int64_t t = 0; t < T; t++)
            kern_add_f32(yv + t * N, yv + t * N, l->b->data, (size_t)N);
    } else if (l->b) {
        y = infer_op_add(ctx, y, l->b);
    }
    for (int i = 0; i < l->n_lora; i++) {
        rw_tensor *xi = x;
        if (l->lora[i].dropout > 0.0f && l->lora[i].rng)
            xi = lora_dropout(ctx, x, l->lora[i].dropout, l->lora[i].rng);
        rw_tensor *ax = infer_op_matmul(ctx, l->lora[i].a, xi); /* {r, T} */
        rw_tensor *bax = infer_op_matmul(ctx, l->lora[i].b, ax); /* {n_out, T} */
        y = infer_op_add(ctx, y, infer_op_scale(ctx, bax, l->lora[i].scale));
    }
    return y;
}

static size_t max_size(size_t a, size_t b) {
    return a > b ? a : b;
}

static size_t scratch_for(const rw_tensor *w, int64_t M, int nth, bool f32act) {
    if (!w) return 0;
    size_t s = max_size(kern_matmul_scratch_bytes(w->type, w->ne[1], w->ne[0], M, nth),
                        kern_matvec_scratch_bytes(w->type, w->ne[0]));
    if (f32act)
        s = max_size(s, (size_t)(256 * w->ne[0] + 256 * M) * 4 +
                            kern_matmul_scratch_bytes(RW_DTYPE_F32, 256, w->ne[0], M, nth) + 256);
    return s;
}

size_t infer_linear_arena_bytes(const infer_linear *l, int64_t M, int nth, bool f32act) {
    if (!l->w) return 0;
    const int64_t N = l->w->ne[1];
    /* output, matmul scratch, and per adapter: A x, B (A x), its scaled copy, the sum */
    size_t n = (size_t)(N * M) * 4 + scratch_for(l->w, M, nth, f32act) + 256;
    for (int i = 0; i < l->n_lora; i++)
        n += (size_t)((l->lora[i].a->ne[1] + 3 * N) * M) * 4 +
             max_size(scratch_for(l->lora[i].a, M, nth, f32act),
                      scratch_for(l->lora[i].b, M, nth, f32act)) +
             1024;
    return n;
}

size_t infer_model_arena_bytes(const infer_model *m, int64_t T, int64_t S, int nth, bool f32act) {
    const infer_hparams *hp = &m->hp;
    const int64_t C = hp->n_embd, HD = hp->n_head * hp->head_dim,
                  KVD = hp->n_head_kv * hp->head_dim, FF = hp->n_ff;
    size_t per_tok = (size_t)(8 * C + 4 * HD + 6 * KVD + 4 * FF + 2 * hp->n_head) * 4;
    size_t sc = 0;
    const infer_layer *L = &m->layers[0];
    const infer_linear *ls[7] = {&L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down};
    for (int i = 0; i < 7; i++) {
        sc = max_size(sc, scratch_for(ls[i]->w, T, nth, f32act));
        for (int k = 0; k < ls[i]->n_lora; k++)
            sc += (size_t)(ls[i]->lora[k].a->ne[1] * T) * 16;
    }
    sc = max_size(sc, scratch_for(m->output.w, 1, nth, f32act));
    /* fused single-row dispatches (forward.c) keep one converted activation row per linear
     * (q, k, v) alive at once */
    for (int i = 0; i < 7; i++)
        if (ls[i]->w) sc += kern_matvec_scratch_bytes(ls[i]->w->type, ls[i]->w->ne[0]) + 64;
    /* sliding-window layers build an additive [T][S] mask */
    const size_t mask = hp->n_swa > 0 ? (size_t)T * (size_t)(S > T ? S : T) * 4 : 0;
    return (size_t)T * per_tok * 2 + sc + mask + (size_t)hp->n_vocab * 8 + ((size_t)8 << 20);
}
