/* Random-weight model writer (see gguf_model.h). Metadata keys per architecture mirror the
 * reference files in ../shared/refs/models, which llama.cpp loads and runs. */
#include "infer/gguf_model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "infer/vocab_default.h"
#include "kernels/quant.h"

static const char *const g_arch_names[] = {"llama", "qwen3", "bert"};

rw_status infer_gguf_arch_parse(const char *s, infer_gguf_arch *out, rw_err *err) {
    for (int i = 0; i < 3; i++)
        if (strcmp(s, g_arch_names[i]) == 0) {
            *out = (infer_gguf_arch)i;
            return RW_OK;
        }
    return rw_err_set(err, RW_E_INVALID, "unknown architecture '%s' (expected llama, qwen3 or bert)", s);
}

const char *infer_gguf_arch_str(infer_gguf_arch a) {
    return (unsigned)a < 3 ? g_arch_names[a] : "?";
}

rw_status infer_gguf_model_preset(infer_gguf_arch arch, const char *preset,
                                  infer_gguf_model_spec *out, rw_err *err) {
    infer_gguf_model_spec s = {.arch = arch, .type = RW_DTYPE_F32, .init = INFER_GGUF_INIT_FANIN};
    bool bert = arch == INFER_GGUF_ARCH_BERT;
    if (strcmp(preset, "tiny") == 0) {
        s.n_layer = 2, s.n_embd = 256, s.n_head = 4, s.n_head_kv = bert ? 4 : 2, s.n_ff = 512;
    } else if (strcmp(preset, "small") == 0) {
        s.n_layer = 4, s.n_embd = 512, s.n_head = 8, s.n_head_kv = bert ? 8 : 4, s.n_ff = 1024;
    } else if (strcmp(preset, "bench") == 0) {
        s.init = INFER_GGUF_INIT_STD02;
        if (bert)
            s.n_layer = 12, s.n_embd = 384, s.n_head = 12, s.n_head_kv = 12, s.n_ff = 1536;
        else
            s.n_layer = 12, s.n_embd = 768, s.n_head = 12, s.n_head_kv = 4, s.n_ff = 2048;
    } else {
        return rw_err_set(err, RW_E_INVALID, "unknown preset '%s' (expected tiny, small or bench)",
                          preset);
    }
    s.n_ctx = bert ? 512 : 2048;
    snprintf(s.name, sizeof s.name, "%s-%s-random", infer_gguf_arch_str(arch), preset);
    *out = s;
    return RW_OK;
}

/* ------------------------------------------------------------------ tensors */

typedef enum init_kind { INIT_MATRIX, INIT_EMBED, INIT_NORM, INIT_BIAS, INIT_NORM_BIAS } init_kind;

typedef struct gen {
    const infer_gguf_model_spec *spec;
    infer_gguf_writer *w;
    void **bufs; /* owned tensor data, freed after the write */
    size_t n_bufs, cap_bufs;
    uint64_t n_params;
} gen;

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static rw_status add(gen *g, const char *name, int n_dims, int64_t ne0, int64_t ne1, init_kind k,
                     rw_err *err) {
    int64_t ne[2] = {ne0, ne1};
    size_t n = (size_t)ne0 * (size_t)(n_dims > 1 ? ne1 : 1);
    rw_status st = RW_OK;
    float *f = rw_alloc_array(n, sizeof *f);
    void *out = NULL;
    if (!f) return rw_err_set(err, RW_E_NOMEM, "tensor '%s': out of memory", name);
    rw_rng r;
    rw_rng_seed(&r, g->spec->seed * 0x9E3779B97F4A7C15ull ^ fnv1a(name));
    double sd = 0.02;
    if (g->spec->init == INFER_GGUF_INIT_FANIN) {
        if (k == INIT_MATRIX) sd = 1.0 / sqrt((double)ne0);
        if (k == INIT_EMBED) sd = 1.0 / sqrt((double)g->spec->n_embd);
    }
    for (size_t i = 0; i < n; i++) {
        switch (k) {
        case INIT_NORM: f[i] = 1.0f; break;
        case INIT_NORM_BIAS: f[i] = 0.0f; break;
        default: f[i] = (float)(sd * rw_rng_normal(&r)); break;
        }
    }
    /* 1-D tensors, position and token-type embeddings stay F32 (as in the reference files;
     * llama.cpp adds the token-type row to F32 activations directly). */
    rw_dtype type = n_dims >= 2 && strcmp(name, "position_embd.weight") != 0 &&
                            strcmp(name, "token_types.weight") != 0
                        ? g->spec->type
                        : RW_DTYPE_F32;
    if (type == RW_DTYPE_F32) {
        out = f;
        f = NULL;
    } else {
        size_t bytes = kern_row_bytes(type, ne0) * (size_t)ne1;
        out = rw_malloc(bytes);
        if (!out) {
            st = rw_err_set(err, RW_E_NOMEM, "tensor '%s': out of memory", name);
            goto done;
        }
        kern_quantize(type, f, out, ne1, ne0);
    }
    if (g->n_bufs == g->cap_bufs) {
        size_t cap = g->cap_bufs ? 2 * g->cap_bufs : 64;
        void **nb = rw_realloc(g->bufs, cap * sizeof *nb);
        if (!nb) {
            st = rw_err_set(err, RW_E_NOMEM, "out of memory");
            goto done;
        }
        g->bufs = nb;
        g->cap_bufs = cap;
    }
    g->bufs[g->n_bufs++] = out;
    st = infer_gguf_writer_add_tensor(g->w, name, type, n_dims, ne, out, err);
    out = NULL;
    if (!st) g->n_params += n;
done:
    rw_free(out);
    rw_free(f);
    return st;
}

static rw_status add_tensors(gen *g, uint32_t n_vocab, uint32_t n_types, rw_err *err) {
    const infer_gguf_model_spec *s = g->spec;
    const int64_t E = s->n_embd, F = s->n_ff, hd = s->n_embd / s->n_head;
    const int64_t Q = hd * s->n_head, KV = hd * s->n_head_kv;
    char nm[64];
    rw_status st;
#define ADD(n_dims, a, b, k) \
    if ((st = add(g, nm, n_dims, a, b, k, err))) return st
#define NAME(...) snprintf(nm, sizeof nm, __VA_ARGS__)
    if (s->arch == INFER_GGUF_ARCH_BERT) {
        NAME("token_embd.weight"); ADD(2, E, n_vocab, INIT_EMBED);
        NAME("token_types.weight"); ADD(2, E, n_types, INIT_EMBED);
        NAME("position_embd.weight"); ADD(2, E, s->n_ctx, INIT_EMBED);
        NAME("token_embd_norm.weight"); ADD(1, E, 1, INIT_NORM);
        NAME("token_embd_norm.bias"); ADD(1, E, 1, INIT_NORM_BIAS);
        for (uint32_t l = 0; l < s->n_layer; l++) {
            static const char *const proj[] = {"attn_q", "attn_k", "attn_v", "attn_output"};
            for (int p = 0; p < 4; p++) {
                NAME("blk.%u.%s.weight", l, proj[p]); ADD(2, E, E, INIT_MATRIX);
                NAME("blk.%u.%s.bias", l, proj[p]); ADD(1, E, 1, INIT_BIAS);
            }
            NAME("blk.%u.attn_output_norm.weight", l); ADD(1, E, 1, INIT_NORM);
            NAME("blk.%u.attn_output_norm.bias", l); ADD(1, E, 1, INIT_NORM_BIAS);
            NAME("blk.%u.ffn_up.weight", l); ADD(2, E, F, INIT_MATRIX);
            NAME("blk.%u.ffn_up.bias", l); ADD(1, F, 1, INIT_BIAS);
            NAME("blk.%u.ffn_down.weight", l); ADD(2, F, E, INIT_MATRIX);
            NAME("blk.%u.ffn_down.bias", l); ADD(1, E, 1, INIT_BIAS);
            NAME("blk.%u.layer_output_norm.weight", l); ADD(1, E, 1, INIT_NORM);
            NAME("blk.%u.layer_output_norm.bias", l); ADD(1, E, 1, INIT_NORM_BIAS);
        }
        return RW_OK;
    }
    bool qwen3 = s->arch == INFER_GGUF_ARCH_QWEN3;
    NAME("token_embd.weight"); ADD(2, E, n_vocab, INIT_EMBED);
    NAME("output_norm.weight"); ADD(1, E, 1, INIT_NORM);
    if (!qwen3) {
        NAME("output.weight"); ADD(2, E, n_vocab, INIT_MATRIX);
    }
    for (uint32_t l = 0; l < s->n_layer; l++) {
        NAME("blk.%u.attn_norm.weight", l); ADD(1, E, 1, INIT_NORM);
        NAME("blk.%u.attn_q.weight", l); ADD(2, E, Q, INIT_MATRIX);
        NAME("blk.%u.attn_k.weight", l); ADD(2, E, KV, INIT_MATRIX);
        NAME("blk.%u.attn_v.weight", l); ADD(2, E, KV, INIT_MATRIX);
        if (qwen3) {
            NAME("blk.%u.attn_q_norm.weight", l); ADD(1, hd, 1, INIT_NORM);
            NAME("blk.%u.attn_k_norm.weight", l); ADD(1, hd, 1, INIT_NORM);
        }
        NAME("blk.%u.attn_output.weight", l); ADD(2, Q, E, INIT_MATRIX);
        NAME("blk.%u.ffn_norm.weight", l); ADD(1, E, 1, INIT_NORM);
        NAME("blk.%u.ffn_gate.weight", l); ADD(2, E, F, INIT_MATRIX);
        NAME("blk.%u.ffn_up.weight", l); ADD(2, E, F, INIT_MATRIX);
        NAME("blk.%u.ffn_down.weight", l); ADD(2, F, E, INIT_MATRIX);
    }
#undef ADD
#undef NAME
    return RW_OK;
}

static rw_status add_hparams(infer_gguf_writer *w, const infer_gguf_model_spec *s, rw_err *err) {
    const char *a = infer_gguf_arch_str(s->arch);
    char k[96];
    rw_status st;
    uint32_t hd = s->n_embd / s->n_head;
#define U32(suffix, v) \
    (snprintf(k, sizeof k, "%s.%s", a, suffix), (st = infer_gguf_writer_set_u32(w, k, v, err)))
#define F32(suffix, v) \
    (snprintf(k, sizeof k, "%s.%s", a, suffix), (st = infer_gguf_writer_set_f32(w, k, v, err)))
    if (U32("context_length", s->n_ctx) || U32("embedding_length", s->n_embd) ||
        U32("block_count", s->n_layer) || U32("feed_forward_length", s->n_ff) ||
        U32("attention.head_count", s->n_head))
        return st;
    if (s->arch == INFER_GGUF_ARCH_BERT) {
        if (F32("attention.layer_norm_epsilon", 1e-12f)) return st;
        snprintf(k, sizeof k, "%s.attention.causal", a);
        if ((st = infer_gguf_writer_set_bool(w, k, false, err))) return st;
        if (U32("pooling_type", 1)) return st; /* mean */
        return RW_OK;
    }
    bool qwen3 = s->arch == INFER_GGUF_ARCH_QWEN3;
    if (U32("attention.head_count_kv", s->n_head_kv) ||
        F32("attention.layer_norm_rms_epsilon", qwen3 ? 1e-6f : 1e-5f) ||
        F32("rope.freq_base", qwen3 ? 1e6f : 1e4f) || U32("rope.dimension_count", hd) ||
        U32("attention.key_length", hd) || U32("attention.value_length", hd))
        return st;
#undef U32
#undef F32
    return RW_OK;
}

static rw_status check_spec(const infer_gguf_model_spec *s, rw_err *err) {
    if (s->type != RW_DTYPE_F32 && s->type != RW_DTYPE_F16)
        return rw_err_set(err, RW_E_INVALID, "--type must be f32 or f16");
    if (s->n_layer < 1 || s->n_embd < 1 || s->n_head < 1 || s->n_ff < 1 || s->n_ctx < 1 ||
        s->n_layer > 1024 || s->n_embd > 65536 || s->n_ff > 262144 || s->n_ctx > 1u << 20)
        return rw_err_set(err, RW_E_INVALID, "layers/hidden/heads/ffn must be positive and sane "
                          "(layers %u, hidden %u, heads %u, ffn %u)", s->n_layer, s->n_embd, s->n_head, s->n_ff);
    if (s->n_embd % s->n_head != 0)
        return rw_err_set(err, RW_E_INVALID, "hidden %u is not a multiple of heads %u", s->n_embd, s->n_head);
    if (s->n_head_kv < 1 || s->n_head % s->n_head_kv != 0)
        return rw_err_set(err, RW_E_INVALID, "heads %u is not a multiple of kv-heads %u", s->n_head,
                          s->n_head_kv);
    if (s->arch == INFER_GGUF_ARCH_BERT && s->n_head_kv != s->n_head)
        return rw_err_set(err, RW_E_INVALID, "bert has no grouped-query attention (kv-heads %u != heads %u)",
                          s->n_head_kv, s->n_head);
    return RW_OK;
}

rw_status infer_gguf_model_new(const infer_gguf_model_spec *spec, const infer_gguf *vocab,
                               const char *path, uint64_t *n_params, rw_err *err) {
    rw_status st = check_spec(spec, err);
    if (st) return st;
    gen g = {.spec = spec};
    if ((st = infer_gguf_writer_create(&g.w, err))) return st;
    uint32_t n_vocab = 0, n_types = 2;
    if ((st = infer_gguf_writer_set_str(g.w, "general.architecture", infer_gguf_arch_str(spec->arch), err)) ||
        (st = infer_gguf_writer_set_str(g.w, "general.name", spec->name, err)) ||
        (st = add_hparams(g.w, spec, err)) ||
        (st = infer_gguf_writer_set_u32(g.w, "general.file_type", spec->type == RW_DTYPE_F16 ? 1 : 0, err)) ||
        (st = infer_gguf_writer_set_u32(g.w, "general.alignment", INFER_GGUF_DEFAULT_ALIGNMENT, err)))
        goto done;
    char desc[256];
    snprintf(desc, sizeof desc,
             "rag-workbench rag-gguf new: random weights, seed %llu, init %s, layers %u, hidden %u, "
             "heads %u, kv-heads %u, ffn %u",
             (unsigned long long)spec->seed, spec->init == INFER_GGUF_INIT_FANIN ? "fanin" : "std0.02",
             spec->n_layer, spec->n_embd, spec->n_head, spec->n_head_kv, spec->n_ff);
    if ((st = infer_gguf_writer_set_str(g.w, "general.description", desc, err))) goto done;
    if (vocab) {
        infer_gguf_value toks;
        if ((st = infer_gguf_get_arr(vocab, "tokenizer.ggml.tokens", &toks, err))) goto done;
        if (toks.elem_type != INFER_GGUF_STRING || toks.count == 0 || toks.count > UINT32_MAX) {
            st = rw_err_set(err, RW_E_FORMAT, "tokenizer.ggml.tokens must be a non-empty array of strings");
            goto done;
        }
        n_vocab = (uint32_t)toks.count;
        if ((st = infer_gguf_writer_copy_kv(g.w, vocab, "tokenizer.", err))) goto done;
        uint32_t tc;
        if (infer_gguf_get_u32(vocab, "tokenizer.ggml.token_type_count", &tc, NULL) == RW_OK && tc > 0 &&
            tc < 1024)
            n_types = tc;
    } else {
        infer_vocab_default_kind kind = spec->arch == INFER_GGUF_ARCH_BERT ? INFER_VOCAB_DEFAULT_WPM
                                                                          : INFER_VOCAB_DEFAULT_BPE;
        if ((st = infer_vocab_default_add(g.w, kind, &n_vocab, err))) goto done;
    }
    if (spec->arch == INFER_GGUF_ARCH_BERT &&
        (st = infer_gguf_writer_set_u32(g.w, "tokenizer.ggml.token_type_count", n_types, err)))
        goto done;
    if ((st = add_tensors(&g, n_vocab, n_types, err))) goto done;
    if ((st = infer_gguf_writer_write(g.w, path, err))) goto done;
    if (n_params) *n_params = g.n_params;
done:
    infer_gguf_writer_destroy(g.w);
    for (size_t i = 0; i < g.n_bufs; i++) rw_free(g.bufs[i]);
    rw_free(g.bufs);
    return st;
}
