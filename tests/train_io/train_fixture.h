/* Test helper for train/ I/O tests: a tiny random llama GGUF (the project's default
 * byte-level BPE vocabulary with ChatML tokens) written with infer/gguf_model.h. */
#ifndef TESTS_TRAIN_FIXTURE_H
#define TESTS_TRAIN_FIXTURE_H

#include <stdio.h>

#include "infer/gguf_model.h"

/* Writes a llama model with n_layer layers of width n_embd to path; 0 on success. */
static inline int fixture_tiny_llama(const char *path, uint32_t n_layer, uint32_t n_embd,
                                     uint64_t seed) {
    infer_gguf_model_spec s;
    rw_err e;
    if (infer_gguf_model_preset(INFER_GGUF_ARCH_LLAMA, "tiny", &s, &e)) return -1;
    s.n_layer = n_layer;
    s.n_embd = n_embd;
    s.n_head = 2;
    s.n_head_kv = 1;
    s.n_ff = 2 * n_embd;
    s.n_ctx = 256;
    s.seed = seed;
    if (infer_gguf_model_new(&s, NULL, path, NULL, &e)) {
        fprintf(stderr, "fixture_tiny_llama: %s\n", e.msg);
        return -1;
    }
    return 0;
}

#endif
