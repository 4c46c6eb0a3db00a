/* rag-embed: sentence embeddings, one text per stdin line -> one JSON object per line.
 *
 *   rag-embed MODEL.gguf [--json] [--batch N] [--pooling mean|cls|last] [--no-normalize]
 *             [--lora FILE[:SCALE]]... [--threads N] [--f32]
 *
 * Output: {"index":i,"embedding":[...]} per input line, in input order (pooled and
 * L2-normalised as the model says unless overridden). Texts are batched (default 64). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "infer/embed.h"
#include "infer/runtime.h"

static void usage(FILE *f) {
    fprintf(f, "usage: rag-embed MODEL.gguf [--json] [--batch N] [--pooling mean|cls|last]\n"
               "                 [--no-normalize] [--lora FILE[:SCALE]]... [--threads N] [--f32]\n"
               "reads one text per line on stdin; prints {\"index\":i,\"embedding\":[...]} per "
               "line\n");
}

/* Reads one line (without the newline) into *buf; false at EOF. */
static bool read_line(char **buf, size_t *cap, FILE *in) {
    size_t n = 0;
    int c;
    bool any = false;
    while ((c = fgetc(in)) != EOF) {
        any = true;
        if (c == '\n') break;
        if (n + 2 > *cap) {
            size_t nc = *cap ? *cap * 2 : 256;
            char *b = rw_realloc(*buf, nc);
            if (!b) return false;
            *buf = b;
            *cap = nc;
        }
        (*buf)[n++] = (char)c;
    }
    if (!any) return false;
    if (!*buf) {
        *buf = rw_malloc(1);
        if (!*buf) return false;
        *cap = 1;
    }
    if (n > 0 && (*buf)[n - 1] == '\r') n--;
    (*buf)[n] = 0;
    return true;
}

int main(int argc, char **argv) {
    rw_err aerr;
    rw_err_clear(&aerr);
    const char *model = NULL;
    infer_cli_common co = {0};
    int64_t batch = 64;
    infer_embed_cfg cfg;
    infer_embed_cfg_default(&cfg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--no-normalize")) {
            cfg.normalize = false;
            continue;
        }
        bool used;
        if (infer_cli_common_opt(&co, argc, argv, &i, &used, &aerr)) goto bad_arg;
        if (used) continue;
        if (a[0] != '-') {
            if (model) {
                usage(stderr);
                return 2;
            }
            model = a;
            continue;
        }
        if (!v) {
            fprintf(stderr, "rag-embed: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--batch")) {
            if (infer_parse_i64_arg(a, v, 1, 4096, &batch, &aerr)) goto bad_arg;
        } else if (!strcmp(a, "--pooling")) {
            if (!strcmp(v, "mean"))
                cfg.pooling = INFER_POOL_MEAN;
            else if (!strcmp(v, "cls"))
                cfg.pooling = INFER_POOL_CLS;
            else if (!strcmp(v, "last"))
                cfg.pooling = INFER_POOL_LAST;
            else {
                fprintf(stderr, "rag-embed: --pooling '%s' (mean, cls, last)\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "rag-embed: unknown option %s\n", a);
            return 2;
        }
    }
    if (!model || batch <= 0) {
        usage(stderr);
        return 2;
    }
    rw_err err;
    rw_err_clear(&err);
    infer_runtime rt;
    cfg.n_threads = co.threads;
    cfg.f32_activations = co.f32;
    if (infer_runtime_open(model, co.lora, co.n_lora, &rt, &err) != RW_OK) {
        fprintf(stderr, "rag-embed: %s\n", err.msg);
        return 1;
    }
    int rc = 1;
    infer_embedder *e = NULL;
    char **texts = rw_calloc((size_t)batch, sizeof(char *));
    size_t *caps = rw_calloc((size_t)batch, sizeof(size_t));
    float *vec = NULL;
    if (!texts || !caps) goto done;
    if (!rt.tok) {
        rw_err_set(&err, RW_E_INVALID, "%s has no tokenizer", model);
        goto done;
    }
    if (infer_embedder_create(rt.model, &cfg, &e, &err) != RW_OK) goto done;
    const int64_t C = infer_embedder_dim(e);
    vec = rw_alloc_array((size_t)(batch * C), sizeof(float));
    if (!vec) goto done;
    int64_t index = 0;
    for (;;) {
        int64_t n = 0;
        while (n < batch && read_line(&texts[n], &caps[n], stdin))
            n++;
        if (n == 0) break;
        if (infer_embed_texts(e, rt.tok, (const char *const *)texts, n, vec, &err) != RW_OK) {
            rw_err_prefix(&err, "lines %lld..%lld: ", (long long)index + 1, (long long)(index + n));
            goto done;
        }
        for (int64_t b = 0; b < n; b++, index++) {
            printf("{\"index\":%lld,\"embedding\":[", (long long)index);
            for (int64_t c = 0; c < C; c++)
                printf(c ? ",%.9g" : "%.9g", (double)vec[b * C + c]);
            fputs("]}\n", stdout);
        }
        if (n < batch) break;
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "rag-embed: %s\n", err.msg[0] ? err.msg : "out of memory");
    for (int64_t b = 0; texts && b < batch; b++)
        rw_free(texts[b]);
    rw_free(texts);
    rw_free(caps);
    rw_free(vec);
    infer_embedder_destroy(e);
    infer_runtime_close(&rt);
    return rc;
bad_arg:
    fprintf(stderr, "rag-embed: %s\n", aerr.msg);
    return 2;
}
