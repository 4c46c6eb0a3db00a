/* rag-adapter: convert LoRA adapters between GGUF (llama.cpp) and PEFT (Hugging Face).
 *
 *   rag-adapter export-peft ADAPTER.gguf OUT_DIR [--base-name NAME]
 *   rag-adapter import-peft PEFT_DIR --base MODEL.gguf OUT.gguf [--f16]
 *   rag-adapter info ADAPTER.gguf
 *
 * import-peft takes the architecture and head counts from the base model (the llama q/k
 * permutation needs them) and checks the result loads against it (infer_lora_load).
 * Thin: the work is in train/adapter_io.c. Exit 0 on success, 1 on failure, 2 on usage. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "data/json_alloc.h"
#include "infer/lora.h"
#include "infer/model.h"
#include "train/adapter_io.h"

static void usage(FILE *f) {
    fprintf(f, "usage:\n"
               "  rag-adapter export-peft ADAPTER.gguf OUT_DIR [--base-name NAME]\n"
               "  rag-adapter import-peft PEFT_DIR --base MODEL.gguf OUT.gguf [--f16]\n"
               "  rag-adapter info ADAPTER.gguf\n");
}

static int fail(const rw_err *e) {
    fprintf(stderr, "rag-adapter: %s\n", e->msg);
    return 1;
}

int main(int argc, char **argv) {
    data_json_alloc_init(); /* Jansson through rw_malloc (data/json_alloc.h) */
    if (argc < 3) {
        usage(stderr);
        return 2;
    }
    rw_err err;
    rw_err_clear(&err);
    train_adapter a;
    if (!strcmp(argv[1], "info") && argc == 3) {
        if (train_adapter_read_gguf(argv[2], &a, &err)) return fail(&err);
        printf("architecture %s, alpha %g, %zu pairs\n", a.arch, (double)a.alpha, a.n);
        for (size_t i = 0; i < a.n; i++) {
            char b[96];
            printf("  %-28s in %lld out %lld rank %lld\n",
                   train_adapter_base_name(&a.pairs[i], b, sizeof b), (long long)a.pairs[i].n_in,
                   (long long)a.pairs[i].n_out, (long long)a.pairs[i].rank);
        }
        train_adapter_deinit(&a);
        return 0;
    }
    if (!strcmp(argv[1], "export-peft") && (argc == 4 || argc == 6)) {
        const char *base_name = argc == 6 && !strcmp(argv[4], "--base-name") ? argv[5] : NULL;
        if (argc == 6 && !base_name) {
            usage(stderr);
            return 2;
        }
        if (train_adapter_read_gguf(argv[2], &a, &err)) return fail(&err);
        rw_status st = train_adapter_write_peft(&a, argv[3], base_name, &err);
        train_adapter_deinit(&a);
        if (st) return fail(&err);
        printf("wrote %s/adapter_config.json and adapter_model.safetensors\n", argv[3]);
        return 0;
    }
    if (!strcmp(argv[1], "import-peft")) {
        const char *dir = argv[2], *base = NULL, *out = NULL;
        bool f16 = false;
        for (int i = 3; i < argc; i++) {
            if (!strcmp(argv[i], "--base") && i + 1 < argc) base = argv[++i];
            else if (!strcmp(argv[i], "--f16")) f16 = true;
            else if (!out) out = argv[i];
            else {
                usage(stderr);
                return 2;
            }
        }
        if (!base || !out) {
            usage(stderr);
            return 2;
        }
        /* Written beside OUT and renamed only once it loads against the base, so a refused
         * import never leaves an adapter at OUT that a later run could pick up. */
        char tmp[4096];
        if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", out) >= sizeof tmp) {
            fprintf(stderr, "rag-adapter: output path too long\n");
            return 2;
        }
        infer_model *m = NULL;
        if (infer_model_load(base, &m, &err)) return fail(&err);
        rw_status st = train_adapter_read_peft(dir, m->arch_name, m->hp.n_head, m->hp.n_head_kv, &a,
                                               &err);
        bool written = false;
        if (st == RW_OK) {
            st = train_adapter_write_gguf(&a, tmp, f16, NULL, &err);
            written = st == RW_OK;
            train_adapter_deinit(&a);
        }
        infer_lora *l = NULL;
        if (st == RW_OK && (st = infer_lora_load(tmp, m, &l, &err)) != RW_OK)
            rw_err_prefix(&err, "%s: the converted adapter does not fit %s: ", dir, base);
        infer_lora_destroy(l);
        infer_model_destroy(m);
        if (st == RW_OK && rename(tmp, out) != 0)
            st = rw_err_set(&err, RW_E_IO, "%s: cannot rename from %s: %s", out, tmp,
                            strerror(errno));
        if (st) {
            if (written) remove(tmp);
            return fail(&err);
        }
        printf("wrote %s\n", out);
        return 0;
    }
    usage(stderr);
    return 2;
}
