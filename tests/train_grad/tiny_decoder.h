/* Test helper: writes a tiny random decoder (llama or qwen3 layout, F32 weights) with the
 * GGUF writer, so the whole-model gradient checks and the training-loop test need no
 * files from /work/shared. Sizes are small enough for finite differences. */
#ifndef TESTS_TRAIN_GRAD_TINY_DECODER_H
#define TESTS_TRAIN_GRAD_TINY_DECODER_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "infer/gguf.h"

typedef struct tiny_dec {
    const char *arch; /* "llama", "qwen3" or "gemma3" */
    int C, H, HKV, FF, V, L;
    int swa;         /* gemma3: sliding window (post norms, GEGLU, embedding scale) */
    bool rope_freqs; /* llama 3 rope frequency factors */
} tiny_dec;

static inline int tiny_dec_write(const char *path, const tiny_dec *d, uint64_t seed) {
    rw_rng r;
    rw_rng_seed(&r, seed);
    infer_gguf_writer *w = NULL;
    if (infer_gguf_writer_create(&w, NULL) != RW_OK) return -1;
    char key[128];
#define KEY(s) (snprintf(key, sizeof(key), "%s." s, d->arch), key)
    infer_gguf_writer_set_str(w, "general.architecture", d->arch, NULL);
    infer_gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)d->C, NULL);
    infer_gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)d->L, NULL);
    infer_gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)d->FF, NULL);
    infer_gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)d->H, NULL);
    infer_gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)d->HKV, NULL);
    infer_gguf_writer_set_u32(w, KEY("context_length"), 128, NULL);
    infer_gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f, NULL);
    if (d->swa)
        infer_gguf_writer_set_u32(w, KEY("attention.sliding_window"), (uint32_t)d->swa, NULL);
#undef KEY
    const int D = d->C / d->H;
    const bool qk = strcmp(d->arch, "qwen3") == 0 || strcmp(d->arch, "gemma3") == 0;
    float *bufs[64];
    int nb = 0;
    char name[96];
#define ADD(nm, ne0, ne1, sd, mean)                                                                \
    do {                                                                                           \
        int64_t ne_[2] = {(ne0), (ne1)};                                                           \
        size_t n_ = (size_t)(ne0) * (size_t)((ne1) != 0 ? (ne1) : 1);                              \
        float *p_ = malloc(n_ * sizeof(float));                                                    \
        for (size_t i_ = 0; i_ < n_; i_++)                                                         \
            p_[i_] = (float)((mean) + (sd)*rw_rng_normal(&r));                                     \
        bufs[nb++] = p_;                                                                           \
        infer_gguf_writer_add_tensor(w, (nm), RW_DTYPE_F32, (ne1) != 0 ? 2 : 1, ne_, p_, NULL);    \
    } while (0)
    ADD("token_embd.weight", d->C, d->V, 0.5, 0.0);
    ADD("output_norm.weight", d->C, 0, 0.1, 1.0);
    ADD("output.weight", d->C, d->V, 0.3, 0.0);
    if (d->rope_freqs) {
        ADD("rope_freqs.weight", D / 2, 0, 0.5, 0.0);
        for (int i = 0; i < D / 2; i++)
            bufs[nb - 1][i] = 1.0f + 4.0f * fabsf(bufs[nb - 1][i]);
    }
    for (int il = 0; il < d->L; il++) {
#define NM(s) (snprintf(name, sizeof(name), "blk.%d." s, il), name)
        ADD(NM("attn_norm.weight"), d->C, 0, 0.1, 1.0);
        ADD(NM("attn_q.weight"), d->C, d->H * D, 0.3, 0.0);
        ADD(NM("attn_k.weight"), d->C, d->HKV * D, 0.3, 0.0);
        ADD(NM("attn_v.weight"), d->C, d->HKV * D, 0.3, 0.0);
        ADD(NM("attn_output.weight"), d->H * D, d->C, 0.3, 0.0);
        if (qk) {
            ADD(NM("attn_q_norm.weight"), D, 0, 0.1, 1.0);
            ADD(NM("attn_k_norm.weight"), D, 0, 0.1, 1.0);
        }
        ADD(NM("ffn_norm.weight"), d->C, 0, 0.1, 1.0);
        if (d->swa) {
            ADD(NM("post_attention_norm.weight"), d->C, 0, 0.1, 1.0);
            ADD(NM("post_ffw_norm.weight"), d->C, 0, 0.1, 1.0);
        }
        ADD(NM("ffn_gate.weight"), d->C, d->FF, 0.3, 0.0);
        ADD(NM("ffn_up.weight"), d->C, d->FF, 0.3, 0.0);
        ADD(NM("ffn_down.weight"), d->FF, d->C, 0.2, 0.0);
#undef NM
    }
#undef ADD
    rw_err e;
    int rc = infer_gguf_writer_write(w, path, &e) == RW_OK ? 0 : -1;
    if (rc) fprintf(stderr, "tiny_dec_write: %s\n", e.msg);
    for (int i = 0; i < nb; i++)
        free(bufs[i]);
    infer_gguf_writer_destroy(w);
    return rc;
}

/* A tiny bert (post-norm encoder, biases, learned positions, one token type). */
static inline int tiny_bert_write(const char *path, int C, int H, int FF, int V, int L, int NPOS,
                                  uint64_t seed) {
    rw_rng r;
    rw_rng_seed(&r, seed);
    infer_gguf_writer *w = NULL;
    if (infer_gguf_writer_create(&w, NULL) != RW_OK) return -1;
    infer_gguf_writer_set_str(w, "general.architecture", "bert", NULL);
    infer_gguf_writer_set_u32(w, "bert.embedding_length", (uint32_t)C, NULL);
    infer_gguf_writer_set_u32(w, "bert.block_count", (uint32_t)L, NULL);
    infer_gguf_writer_set_u32(w, "bert.feed_forward_length", (uint32_t)FF, NULL);
    infer_gguf_writer_set_u32(w, "bert.attention.head_count", (uint32_t)H, NULL);
    infer_gguf_writer_set_u32(w, "bert.context_length", (uint32_t)NPOS, NULL);
    infer_gguf_writer_set_f32(w, "bert.attention.layer_norm_epsilon", 1e-12f, NULL);
    infer_gguf_writer_set_u32(w, "bert.pooling_type", 1, NULL);
    float *bufs[96];
    int nb = 0;
    char name[96];
#define ADDB(nm, ne0, ne1, sd, mean)                                                               \
    do {                                                                                           \
        int64_t ne_[2] = {(ne0), (ne1)};                                                           \
        size_t n_ = (size_t)(ne0) * (size_t)((ne1) != 0 ? (ne1) : 1);                              \
        float *p_ = malloc(n_ * sizeof(float));                                                    \
        for (size_t i_ = 0; i_ < n_; i_++)                                                         \
            p_[i_] = (float)((mean) + (sd)*rw_rng_normal(&r));                                     \
        bufs[nb++] = p_;                                                                           \
        infer_gguf_writer_add_tensor(w, (nm), RW_DTYPE_F32, (ne1) != 0 ? 2 : 1, ne_, p_, NULL);    \
    } while (0)
    ADDB("token_embd.weight", C, V, 0.5, 0.0);
    ADDB("position_embd.weight", C, NPOS, 0.2, 0.0);
    ADDB("token_types.weight", C, 2, 0.2, 0.0);
    ADDB("token_embd_norm.weight", C, 0, 0.1, 1.0);
    ADDB("token_embd_norm.bias", C, 0, 0.1, 0.0);
    for (int il = 0; il < L; il++) {
#define NMB(s) (snprintf(name, sizeof(name), "blk.%d." s, il), name)
        ADDB(NMB("attn_q.weight"), C, C, 0.3, 0.0);
        ADDB(NMB("attn_q.bias"), C, 0, 0.1, 0.0);
        ADDB(NMB("attn_k.weight"), C, C, 0.3, 0.0);
        ADDB(NMB("attn_k.bias"), C, 0, 0.1, 0.0);
        ADDB(NMB("attn_v.weight"), C, C, 0.3, 0.0);
        ADDB(NMB("attn_v.bias"), C, 0, 0.1, 0.0);
        ADDB(NMB("attn_output.weight"), C, C, 0.3, 0.0);
        ADDB(NMB("attn_output.bias"), C, 0, 0.1, 0.0);
        ADDB(NMB("attn_output_norm.weight"), C, 0, 0.1, 1.0);
        ADDB(NMB("attn_output_norm.bias"), C, 0, 0.1, 0.0);
        ADDB(NMB("ffn_up.weight"), C, FF, 0.3, 0.0);
        ADDB(NMB("ffn_up.bias"), FF, 0, 0.1, 0.0);
        ADDB(NMB("ffn_down.weight"), FF, C, 0.2, 0.0);
        ADDB(NMB("ffn_down.bias"), C, 0, 0.1, 0.0);
        ADDB(NMB("layer_output_norm.weight"), C, 0, 0.1, 1.0);
        ADDB(NMB("layer_output_norm.bias"), C, 0, 0.1, 0.0);
#undef NMB
    }
#undef ADDB
    rw_err e;
    int rc = infer_gguf_writer_write(w, path, &e) == RW_OK ? 0 : -1;
    if (rc) fprintf(stderr, "tiny_bert_write: %s\n", e.msg);
    for (int i = 0; i < nb; i++)
        free(bufs[i]);
    infer_gguf_writer_destroy(w);
    return rc;
}

#endif
