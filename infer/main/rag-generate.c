/* rag-generate: text generation with a GGUF decoder (llama, qwen2, qwen3), streamed.
 *
 *   rag-generate MODEL.gguf (--prompt TEXT | --prompt-ids 1,2,3) [options]
 *
 * --json prints one object {"prompt_ids":[...],"top10":[[id,logit],...] (logits of the final
 * prompt position), "generated_ids":[...],"text":"..."} instead of streaming. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "infer/chat_template.h"
#include "infer/generate.h"
#include "infer/runtime.h"
#include "kernels/ops.h"

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: rag-generate MODEL.gguf (--prompt TEXT | --prompt-ids 1,2,3) [options]\n"
        "  -n, --max-tokens N   tokens to generate (default 64)\n"
        "  --temp T             temperature; 0 = greedy (default 0)\n"
        "  --top-k K --top-p P --min-p P --seed S   sampling filters\n"
        "  --stop STR           stop when the text contains STR (repeatable)\n"
        "  --chat               render --prompt as a user message with the model's chat\n"
        "                       template (--system TEXT adds a system message)\n"
        "  --messages FILE      chat messages: a JSON array of {\"role\",\"content\"} (implies\n"
        "                       --chat; replaces --prompt)\n"
        "  --template NAME      chat template (chatml, llama3, llama2, gemma, phi3, mistral)\n"
        "  --no-bos             do not add BOS (default: as the vocabulary says)\n"
        "  --lora FILE[:SCALE]  apply a LoRA adapter (repeatable)\n"
        "  --threads N          worker threads (default: physical cores)\n"
        "  --ctx N              context size (default: min(model, 4096))\n"
        "  --f32                exact f32 activations for quantized weights (slower)\n"
        "  --json               print one JSON object (prompt_ids, top10, generated_ids, text)\n");
}

typedef struct opts {
    const char *model, *prompt, *prompt_ids, *system, *tmpl, *messages;
    infer_cli_common co; /* --threads, --lora, --f32 */
    const char *stop[16];
    int n_stop;
    int64_t n_predict, n_ctx;
    bool json, chat, no_bos;
    infer_sampler_cfg sc;
} opts;

/* 0: run; 1: --help was printed; -1: bad usage (message on stderr). */
static int parse(int argc, char **argv, opts *o) {
    rw_err e;
    int64_t x;
    rw_err_clear(&e);
    memset(o, 0, sizeof(*o));
    o->n_predict = 64;
    infer_sampler_cfg_default(&o->sc);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool used;
        if (infer_cli_common_opt(&o->co, argc, argv, &i, &used, &e)) goto bad;
        if (used) continue;
#define VAL()                                                                                      \
    do {                                                                                           \
        if (!v) {                                                                                  \
            fprintf(stderr, "rag-generate: %s needs a value\n", a);                                \
            return -1;                                                                             \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "--prompt") || !strcmp(a, "-p")) {
            VAL();
            o->prompt = v;
        } else if (!strcmp(a, "--prompt-ids")) {
            VAL();
            o->prompt_ids = v;
        } else if (!strcmp(a, "--system")) {
            VAL();
            o->system = v;
        } else if (!strcmp(a, "--messages")) {
            VAL();
            o->messages = v;
            o->chat = true;
        } else if (!strcmp(a, "--template")) {
            VAL();
            o->tmpl = v;
            o->chat = true;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens")) {
            VAL();
            if (infer_parse_i64_arg(a, v, 0, INT64_C(1) << 24, &o->n_predict, &e)) goto bad;
        } else if (!strcmp(a, "--temp")) {
            VAL();
            if (infer_parse_f32_arg(a, v, 0.0, 1e6, &o->sc.temp, &e)) goto bad;
        } else if (!strcmp(a, "--top-k")) {
            VAL();
            if (infer_parse_i64_arg(a, v, 0, INT32_MAX, &x, &e)) goto bad;
            o->sc.top_k = (int)x;
        } else if (!strcmp(a, "--top-p")) {
            VAL();
            if (infer_parse_f32_arg(a, v, 0.0, 1.0, &o->sc.top_p, &e)) goto bad;
        } else if (!strcmp(a, "--min-p")) {
            VAL();
            if (infer_parse_f32_arg(a, v, 0.0, 1.0, &o->sc.min_p, &e)) goto bad;
        } else if (!strcmp(a, "--seed")) {
            VAL();
            if (infer_parse_u64_arg(a, v, &o->sc.seed, &e)) goto bad;
        } else if (!strcmp(a, "--stop")) {
            VAL();
            /* an empty stop string would match at once (and underflow the hold-back length) */
            if (!v[0] || o->n_stop >= 16) {
                fprintf(stderr, "rag-generate: --stop needs a non-empty string (at most 16)\n");
                return -1;
            }
            o->stop[o->n_stop++] = v;
        } else if (!strcmp(a, "--ctx")) {
            VAL();
            if (infer_parse_i64_arg(a, v, 0, INT64_C(1) << 24, &o->n_ctx, &e)) goto bad;
        } else if (!strcmp(a, "--json"))
            o->json = true;
        else if (!strcmp(a, "--chat"))
            o->chat = true;
        else if (!strcmp(a, "--no-bos"))
            o->no_bos = true;
        else if (a[0] == '-') {
            fprintf(stderr, "rag-generate: unknown option %s\n", a);
            return -1;
        } else if (!o->model)
            o->model = a;
        else {
            fprintf(stderr, "rag-generate: unexpected argument %s\n", a);
            return -1;
        }
#undef VAL
    }
    if (!o->model || (!!o->prompt + !!o->prompt_ids + !!o->messages) != 1) {
        usage(stderr);
        return -1;
    }
    return 0;
bad:
    fprintf(stderr, "rag-generate: %s\n", e.msg);
    return -1;
}

/* Prompt ids from --prompt-ids, or the (chat-rendered) --prompt through the tokenizer. */
static rw_status prompt_ids(const opts *o, const infer_runtime *rt, int32_t **ids, int64_t *n,
                            rw_err *err) {
    if (o->prompt_ids) return infer_parse_ids(o->prompt_ids, ids, n, err);
    if (!rt->tok)
        return rw_err_set(err, RW_E_INVALID, "the model has no tokenizer: use --prompt-ids");
    const char *text = o->prompt;
    infer_chat_text ct;
    memset(&ct, 0, sizeof(ct));
    rw_status st;
    unsigned flags = o->no_bos ? 0 : INFER_TOK_ADD_SPECIAL;
    if (o->chat) {
        infer_chat_tmpl t;
        if (o->tmpl) {
            t = infer_chat_tmpl_from_name(o->tmpl);
        } else if ((st = infer_chat_tmpl_from_gguf(rt->model->gguf, &t, err)) != RW_OK) {
            return st;
        }
        infer_chat_msg msgs[64];
        size_t nm = 0;
        json_t *arr = NULL;
        if (o->system) msgs[nm++] = (infer_chat_msg){"system", o->system};
        if (o->messages) {
            json_error_t je;
            arr = json_load_file(o->messages, 0, &je);
            if (!arr || !json_is_array(arr) || json_array_size(arr) + nm > 64) {
                json_decref(arr);
                return rw_err_set(err, RW_E_FORMAT, "%s:%d:%d: %s", o->messages, je.line, je.column,
                                  arr ? "expected an array of at most 63 messages" : je.text);
            }
            for (size_t i = 0; i < json_array_size(arr); i++) {
                json_t *m = json_array_get(arr, i);
                const char *role = json_string_value(json_object_get(m, "role"));
                const char *content = json_string_value(json_object_get(m, "content"));
                if (!role || !content) {
                    json_decref(arr);
                    return rw_err_set(err, RW_E_FORMAT,
                                      "%s: message %zu needs string \"role\" "
                                      "and \"content\"",
                                      o->messages, i);
                }
                msgs[nm++] = (infer_chat_msg){role, content};
            }
        } else {
            msgs[nm++] = (infer_chat_msg){"user", o->prompt};
        }
        st = infer_chat_render(t, msgs, nm, true, &ct, err);
        json_decref(arr);
        if (st != RW_OK) return st;
        text = ct.text;
        flags |= INFER_TOK_PARSE_SPECIAL;
    }
    infer_tok_ids v = {0};
    st = infer_tokenize(rt->tok, text, strlen(text), flags, &v, err);
    infer_chat_text_deinit(&ct);
    if (st != RW_OK) return st;
    if (v.n == 0) {
        infer_tok_ids_deinit(&v);
        return rw_err_set(err, RW_E_INVALID, "the prompt has no tokens");
    }
    *ids = v.v;
    *n = (int64_t)v.n;
    return RW_OK;
}

int main(int argc, char **argv) {
    opts o;
    int pr = parse(argc, argv, &o);
    if (pr) return pr > 0 ? 0 : 2;
    rw_err err;
    rw_err_clear(&err);
    infer_runtime rt;
    infer_session *s = NULL;
    infer_sampler smp = {0};
    int32_t *ids = NULL, *gen = NULL;
    char *text = NULL;
    size_t text_len = 0, printed = 0;
    int64_t n = 0, n_gen = 0;
    int rc = 1;
    if (infer_runtime_open(o.model, o.co.lora, o.co.n_lora, &rt, &err) != RW_OK) {
        fprintf(stderr, "rag-generate: %s\n", err.msg);
        return 1;
    }
    infer_session_cfg cfg;
    infer_session_cfg_default(&cfg);
    cfg.n_threads = o.co.threads;
    cfg.n_ctx = o.n_ctx;
    cfg.f32_activations = o.co.f32;
    if (prompt_ids(&o, &rt, &ids, &n, &err) != RW_OK) goto fail;
    if (cfg.n_ctx <= 0 && n + o.n_predict > 4096) cfg.n_ctx = n + o.n_predict;
    if (infer_session_create(rt.model, &cfg, &s, &err) != RW_OK) goto fail;
    if (infer_sampler_init(&smp, &o.sc, rt.model->hp.n_vocab, &err) != RW_OK) goto fail;
    gen = rw_alloc_array((size_t)(o.n_predict > 0 ? o.n_predict : 1), sizeof(int32_t));
    if (!gen) goto fail;
    if (infer_session_prefill(s, ids, n, &err) != RW_OK) goto fail;
    float top_v[10];
    int32_t top_i[10];
    size_t ntop = kern_topk_f32(top_v, top_i, s->logits, (size_t)rt.model->hp.n_vocab, 10);
    bool stopped = false;
    for (int64_t g = 0; g < o.n_predict && !stopped; g++) {
        int32_t id = infer_sample(&smp, s->logits);
        if (rt.tok && infer_tokenizer_is_eog(rt.tok, id)) break;
        gen[n_gen++] = id;
        if (rt.tok) {
            rw_free(text);
            text = NULL;
            if (infer_detokenize(rt.tok, gen, (size_t)n_gen, INFER_DETOK_SKIP_SPECIAL, &text,
                                 &text_len, &err) != RW_OK)
                goto fail;
            for (int k = 0; k < o.n_stop; k++) {
                char *hit = strstr(text, o.stop[k]);
                if (hit) {
                    text_len = (size_t)(hit - text);
                    text[text_len] = 0;
                    stopped = true;
                }
            }
            /* stream, holding back what could still become the start of a stop string */
            size_t hold = 0;
            for (int k = 0; k < o.n_stop && !stopped; k++)
                if (strlen(o.stop[k]) - 1 > hold) hold = strlen(o.stop[k]) - 1;
            size_t safe = text_len > hold ? text_len - hold : 0;
            if (!o.json && safe > printed) {
                fwrite(text + printed, 1, safe - printed, stdout);
                fflush(stdout);
                printed = safe;
            }
        }
        if (stopped || g + 1 == o.n_predict) break;
        if (infer_session_decode(s, id, &err) != RW_OK) goto fail;
    }
    if (o.json) {
        json_t *j = json_object(), *pa = json_array(), *ta = json_array(), *ga = json_array();
        for (int64_t i = 0; i < n; i++)
            json_array_append_new(pa, json_integer(ids[i]));
        for (size_t i = 0; i < ntop; i++) {
            json_t *pair = json_array();
            json_array_append_new(pair, json_integer(top_i[i]));
            json_array_append_new(pair, json_real((double)top_v[i]));
            json_array_append_new(ta, pair);
        }
        for (int64_t i = 0; i < n_gen; i++)
            json_array_append_new(ga, json_integer(gen[i]));
        json_object_set_new(j, "prompt_ids", pa);
        json_object_set_new(j, "top10", ta);
        json_object_set_new(j, "generated_ids", ga);
        json_object_set_new(j, "text", json_stringn(text ? text : "", text ? text_len : 0));
        char *out = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9));
        if (out) puts(out);
        free(out);
        json_decref(j);
    } else {
        if (text_len > printed) fwrite(text + printed, 1, text_len - printed, stdout);
        putchar('\n');
    }
    rc = 0;
fail:
    if (rc) fprintf(stderr, "rag-generate: %s\n", err.msg[0] ? err.msg : "out of memory");
    rw_free(text);
    rw_free(gen);
    rw_free(ids);
    infer_sampler_deinit(&smp);
    infer_session_destroy(s);
    infer_runtime_close(&rt);
    return rc;
}
