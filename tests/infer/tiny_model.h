/* Test helper: writes tiny random llama-architecture GGUF models and LoRA adapters with
 * the GGUF writer, so model/LoRA/sampling tests run without /work/shared. */
#ifndef TESTS_INFER_TINY_MODEL_H
#define TESTS_INFER_TINY_MODEL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "infer/gguf.h"

enum { TINY_C = 32, TINY_H = 2, TINY_HKV = 1, TINY_FF = 64, TINY_V = 64, TINY_L = 1 };

static inline float *tiny_rand(rw_rng *r, size_t n, double sd, double mean) {
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(mean + sd * rw_rng_normal(r));
    return p;
}

/* Writes a llama model (F32, untied output) to path; returns 0 on success. */
static inline int tiny_llama_write(const char *path, uint64_t seed) {
    rw_rng r;
    rw_rng_seed(&r, seed);
    infer_gguf_writer *w = NULL;
    if (infer_gguf_writer_create(&w, NULL) != RW_OK) return -1;
    infer_gguf_writer_set_str(w, "general.architecture", "llama", NULL);
    infer_gguf_writer_set_u32(w, "llama.embedding_length", TINY_C, NULL);
    infer_gguf_writer_set_u32(w, "llama.block_count", TINY_L, NULL);
    infer_gguf_writer_set_u32(w, "llama.feed_forward_length", TINY_FF, NULL);
    infer_gguf_writer_set_u32(w, "llama.attention.head_count", TINY_H, NULL);
    infer_gguf_writer_set_u32(w, "llama.attention.head_count_kv", TINY_HKV, NULL);
    infer_gguf_writer_set_u32(w, "llama.context_length", 128, NULL);
    infer_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f, NULL);
    const int D = TINY_C / TINY_H;
    struct {
        const char *name;
        int64_t ne0, ne1;
        double sd, mean;
    } ts[] = {
        {"token_embd.weight", TINY_C, TINY_V, 0.5, 0},
        {"output_norm.weight", TINY_C, 0, 0.05, 1},
        {"output.weight", TINY_C, TINY_V, 0.3, 0},
        {"blk.0.attn_norm.weight", TINY_C, 0, 0.05, 1},
        {"blk.0.attn_q.weight", TINY_C, TINY_H * D, 0.2, 0},
        {"blk.0.attn_k.weight", TINY_C, TINY_HKV * D, 0.2, 0},
        {"blk.0.attn_v.weight", TINY_C, TINY_HKV * D, 0.2, 0},
        {"blk.0.attn_output.weight", TINY_H * D, TINY_C, 0.2, 0},
        {"blk.0.ffn_norm.weight", TINY_C, 0, 0.05, 1},
        {"blk.0.ffn_gate.weight", TINY_C, TINY_FF, 0.2, 0},
        {"blk.0.ffn_up.weight", TINY_C, TINY_FF, 0.2, 0},
        {"blk.0.ffn_down.weight", TINY_FF, TINY_C, 0.15, 0},
    };
    enum { NT = sizeof(ts) / sizeof(ts[0]) };
    float *bufs[NT];
    for (int i = 0; i < NT; i++) {
        int64_t ne[2] = {ts[i].ne0, ts[i].ne1};
        int nd = ts[i].ne1 ? 2 : 1;
        size_t n = (size_t)(ts[i].ne0 * (ts[i].ne1 ? ts[i].ne1 : 1));
        bufs[i] = tiny_rand(&r, n, ts[i].sd, ts[i].mean);
        infer_gguf_writer_add_tensor(w, ts[i].name, RW_DTYPE_F32, nd, ne, bufs[i], NULL);
    }
    rw_err e;
    int rc = infer_gguf_writer_write(w, path, &e) == RW_OK ? 0 : -1;
    if (rc) fprintf(stderr, "tiny_llama_write: %s\n", e.msg);
    for (int i = 0; i < NT; i++)
        free(bufs[i]);
    infer_gguf_writer_destroy(w);
    return rc;
}

typedef struct tiny_pair {
    const char *base;
    int64_t n_in, n_out, r; /* shapes written: a [n_in, r], b [r, n_out] */
    bool skip_b;
} tiny_pair;

/* Writes an adapter with the given pairs (random f32 A and B) and metadata. */
static inline int tiny_lora_write(const char *path, const char *arch, const char *gtype,
                                  float alpha, const tiny_pair *pairs, int n, uint64_t seed,
                                  const char *bad_name) {
    rw_rng r;
    rw_rng_seed(&r, seed);
    infer_gguf_writer *w = NULL;
    if (infer_gguf_writer_create(&w, NULL) != RW_OK) return -1;
    infer_gguf_writer_set_str(w, "general.architecture", arch, NULL);
    infer_gguf_writer_set_str(w, "general.type", gtype, NULL);
    infer_gguf_writer_set_str(w, "adapter.type", "lora", NULL);
    infer_gguf_writer_set_f32(w, "adapter.lora.alpha", alpha, NULL);
    float *bufs[32];
    int nb = 0;
    char name[128];
    for (int i = 0; i < n; i++) {
        int64_t na[2] = {pairs[i].n_in, pairs[i].r}, nbb[2] = {pairs[i].r, pairs[i].n_out};
        bufs[nb] = tiny_rand(&r, (size_t)(na[0] * na[1]), 0.3, 0);
        snprintf(name, sizeof(name), "%s.lora_a", pairs[i].base);
        infer_gguf_writer_add_tensor(w, name, RW_DTYPE_F32, 2, na, bufs[nb++], NULL);
        if (pairs[i].skip_b) continue;
        bufs[nb] = tiny_rand(&r, (size_t)(nbb[0] * nbb[1]), 0.3, 0);
        snprintf(name, sizeof(name), "%s.lora_b", pairs[i].base);
        infer_gguf_writer_add_tensor(w, name, RW_DTYPE_F32, 2, nbb, bufs[nb++], NULL);
    }
    if (bad_name) {
        int64_t ne[1] = {4};
        bufs[nb] = tiny_rand(&r, 4, 1, 0);
        infer_gguf_writer_add_tensor(w, bad_name, RW_DTYPE_F32, 1, ne, bufs[nb++], NULL);
    }
    int rc = infer_gguf_writer_write(w, path, NULL) == RW_OK ? 0 : -1;
    for (int i = 0; i < nb; i++)
        free(bufs[i]);
    infer_gguf_writer_destroy(w);
    return rc;
}

#endif
