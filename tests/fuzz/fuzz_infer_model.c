/* Fuzz target: a GGUF buffer as a model (validation, then a 3-token forward when the model
 * is small) and as a LoRA adapter against a fixed tiny llama base written at start-up.
 * Invariants checked: no crash, no leak, no out-of-bounds read whatever the metadata says
 * (sanitizers), and a loaded model's forward never trips an assertion. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../infer/tiny_model.h"
#include "core/arena.h"
#include "infer/gguf.h"
#include "infer/lora.h"
#include "infer/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static infer_model *g_base; /* built once per process (fuzz targets may keep state) */

static void forward_small(const infer_model *m) {
    const infer_hparams *hp = &m->hp;
    if (infer_model_weight_bytes(m) > ((uint64_t)4 << 20) || hp->n_layer > 4 || hp->n_embd > 1024 ||
        hp->n_ff > 4096 || hp->n_vocab > 65536)
        return;
    size_t ab = infer_model_arena_bytes(m, 3, 4, 1, true) * 2;
    rw_arena ar;
    if (rw_arena_init(&ar, ab, NULL) != RW_OK) return;
    infer_ctx ctx;
    infer_ctx_init(&ctx, &ar, NULL, NULL);
    int32_t ids[3] = {0, (int32_t)(hp->n_vocab - 1), (int32_t)(hp->n_vocab / 2)};
    int32_t len = 3;
    if (m->arch == INFER_ARCH_BERT) {
        if (hp->n_pos >= 3) infer_encoder_embed(&ctx, m, ids, &len, 1, -1, true);
    } else {
        infer_kv_cache kv;
        if (infer_kv_init(&kv, m, 4, NULL) == RW_OK) {
            infer_decoder_forward(&ctx, m, &kv, ids, 3, false);
            infer_kv_deinit(&kv);
        }
    }
    rw_arena_deinit(&ar);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    char path[64];
    snprintf(path, sizeof(path), "/tmp/fuzz_infer_base_%d.gguf", (int)getpid());
    if (tiny_llama_write(path, 1) != 0 || infer_model_load(path, &g_base, NULL) != RW_OK) abort();
    unlink(path); /* the mapping stays valid */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    infer_gguf *g = NULL;
    if (infer_gguf_open_memory(data, size, &g, NULL) == RW_OK) {
        infer_model *m = NULL;
        rw_err err;
        if (infer_model_open_gguf(g, "fuzz", &m, &err) == RW_OK) {
            forward_small(m);
            infer_model_destroy(m);
        }
    }
    if (infer_gguf_open_memory(data, size, &g, NULL) == RW_OK) {
        infer_lora *l = NULL;
        if (infer_lora_open_gguf(g, "fuzz", g_base, &l, NULL) == RW_OK) {
            if (infer_model_attach_lora(g_base, l, 0.5f, NULL) == RW_OK) forward_small(g_base);
            infer_model_detach_loras(g_base);
            infer_lora_destroy(l);
        }
    }
    return 0;
}
