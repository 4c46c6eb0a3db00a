/* rag-score: critic scoring of (query, document) pairs with a decoder:
 * score = p(yes) / (p(yes) + p(no)) for the token after a prompt built from the pair.
 *
 *   rag-score MODEL.gguf [INPUT] [--template TEXT] [--chat] [--yes TEXT] [--no TEXT]
 *             [--yes-id N --no-id N] [--lora FILE[:SCALE]]... [--threads N] [--f32]
 *
 * INPUT (default stdin): TSV lines "query<TAB>document" or JSONL lines
 * {"query": ..., "document": ...} (a line starting with '{' is JSON). Output: one JSON object
 * per pair {"index":i,"score":s,"logprob_yes":..,"logprob_no":..}. The template holds
 * {query} and {document}; with --chat it is rendered as a user message through the model's
 * chat template (generation prompt added). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "infer/chat_template.h"
#include "infer/generate.h"
#include "infer/runtime.h"

static const char *DEFAULT_TMPL =
    "Query: {query}\nDocument: {document}\nIs the document relevant to the query? Answer yes "
    "or no.\nAnswer:";

static void usage(FILE *f) {
    fprintf(f, "usage: rag-score MODEL.gguf [INPUT] [--template TEXT] [--chat] [--yes TEXT] "
               "[--no TEXT]\n"
               "                 [--yes-id N --no-id N] [--lora FILE[:SCALE]]... [--threads N] "
               "[--f32]\n"
               "INPUT: TSV query<TAB>document or JSONL {\"query\",\"document\"} (default stdin)\n");
}

/* Appends s[0..n) to a growable buffer. */
static bool put(char **b, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t nc = (*len + n + 1) * 2;
        char *x = rw_realloc(*b, nc);
        if (!x) return false;
        *b = x;
        *cap = nc;
    }
    memcpy(*b + *len, s, n);
    *len += n;
    (*b)[*len] = 0;
    return true;
}

/* The template with {query} and {document} substituted (heap, rw_free). */
static char *fill(const char *tmpl, const char *q, const char *d) {
    char *b = NULL;
    size_t len = 0, cap = 0;
    const char *p = tmpl;
    while (*p) {
        if (!strncmp(p, "{query}", 7)) {
            if (!put(&b, &len, &cap, q, strlen(q))) goto fail;
            p += 7;
        } else if (!strncmp(p, "{document}", 10)) {
            if (!put(&b, &len, &cap, d, strlen(d))) goto fail;
            p += 10;
        } else {
            if (!put(&b, &len, &cap, p, 1)) goto fail;
            p++;
        }
    }
    if (!b) put(&b, &len, &cap, "", 0);
    return b;
fail:
    rw_free(b);
    return NULL;
}

/* The candidate token ids for the yes and no answers: the first token where their
 * tokenizations differ. A shared leading token (SentencePiece turns " yes" into "▁" "▁yes")
 * would otherwise make both candidates the same id and every score exactly 0.5. */
static rw_status answer_tokens(const infer_tokenizer *t, const char *yes, const char *no,
                               int32_t *yid, int32_t *nid, rw_err *err) {
    infer_tok_ids y = {0}, n = {0};
    rw_status st = infer_tokenize(t, yes, strlen(yes), 0, &y, err);
    if (st == RW_OK) st = infer_tokenize(t, no, strlen(no), 0, &n, err);
    size_t k = 0;
    while (st == RW_OK && k < y.n && k < n.n && y.v[k] == n.v[k]) k++;
    if (st == RW_OK && (k == y.n || k == n.n))
        st = rw_err_set(err, RW_E_INVALID,
                        "answers '%s' and '%s' have no distinguishing token: pass --yes-id and "
                        "--no-id",
                        yes, no);
    if (st == RW_OK) {
        *yid = y.v[k];
        *nid = n.v[k];
    }
    infer_tok_ids_deinit(&y);
    infer_tok_ids_deinit(&n);
    return st;
}

int main(int argc, char **argv) {
    rw_err aerr;
    rw_err_clear(&aerr);
    const char *model = NULL, *input = NULL, *tmpl = DEFAULT_TMPL, *yes = NULL, *no = NULL;
    infer_cli_common co = {0};
    long yes_id = -1, no_id = -1;
    int64_t num;
    bool chat = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--chat")) {
            chat = true;
            continue;
        }
        bool used;
        if (infer_cli_common_opt(&co, argc, argv, &i, &used, &aerr)) goto bad_arg;
        if (used) continue;
        if (a[0] != '-') {
            if (!model)
                model = a;
            else if (!input)
                input = a;
            else {
                usage(stderr);
                return 2;
            }
            continue;
        }
        if (!v) {
            fprintf(stderr, "rag-score: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--template"))
            tmpl = v;
        else if (!strcmp(a, "--yes"))
            yes = v;
        else if (!strcmp(a, "--no"))
            no = v;
        else if (!strcmp(a, "--yes-id")) {
            if (infer_parse_i64_arg(a, v, 0, INT32_MAX, &num, &aerr)) goto bad_arg;
            yes_id = (long)num;
        } else if (!strcmp(a, "--no-id")) {
            if (infer_parse_i64_arg(a, v, 0, INT32_MAX, &num, &aerr)) goto bad_arg;
            no_id = (long)num;
        } else {
            fprintf(stderr, "rag-score: unknown option %s\n", a);
            return 2;
        }
    }
    if (!model) {
        usage(stderr);
        return 2;
    }
    rw_err err;
    rw_err_clear(&err);
    infer_runtime rt;
    if (infer_runtime_open(model, co.lora, co.n_lora, &rt, &err) != RW_OK) {
        fprintf(stderr, "rag-score: %s\n", err.msg);
        return 1;
    }
    int rc = 1;
    FILE *in = stdin;
    infer_session *s = NULL;
    char *line = NULL, *prompt = NULL;
    size_t cap = 0;
    infer_chat_tmpl ct = 0;
    if (!rt.tok) {
        rw_err_set(&err, RW_E_INVALID, "%s has no tokenizer", model);
        goto done;
    }
    if (chat && infer_chat_tmpl_from_gguf(rt.model->gguf, &ct, &err) != RW_OK) goto done;
    int32_t yid = (int32_t)yes_id, nid = (int32_t)no_id;
    if (yes_id < 0 || no_id < 0) {
        int32_t y, n;
        if (answer_tokens(rt.tok, yes ? yes : (chat ? "yes" : " yes"),
                          no ? no : (chat ? "no" : " no"), &y, &n, &err))
            goto done;
        if (yes_id < 0) yid = y;
        if (no_id < 0) nid = n;
    }
    if (yid == nid) {
        rw_err_set(&err, RW_E_INVALID, "the yes and no candidates are the same token %d", yid);
        goto done;
    }
    infer_session_cfg cfg;
    infer_session_cfg_default(&cfg);
    cfg.n_threads = co.threads;
    cfg.f32_activations = co.f32;
    if (infer_session_create(rt.model, &cfg, &s, &err) != RW_OK) goto done;
    if (input && !(in = fopen(input, "r"))) {
        rw_err_set(&err, RW_E_IO, "cannot open %s", input);
        goto done;
    }
    ssize_t got;
    long lineno = 0, index = 0;
    while ((got = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = 0;
        if (got == 0) continue;
        const char *q = NULL, *d = NULL;
        json_t *j = NULL;
        if (line[0] == '{') {
            json_error_t je;
            j = json_loads(line, 0, &je);
            q = j ? json_string_value(json_object_get(j, "query")) : NULL;
            d = j ? json_string_value(json_object_get(j, "document")) : NULL;
            if (!q || !d) {
                rw_err_set(&err, RW_E_FORMAT, "line %ld: %s", lineno,
                           j ? "needs string fields \"query\" and \"document\"" : je.text);
                json_decref(j);
                goto done;
            }
        } else {
            char *tab = strchr(line, '\t');
            if (!tab) {
                rw_err_set(&err, RW_E_FORMAT, "line %ld: expected query<TAB>document", lineno);
                goto done;
            }
            *tab = 0;
            q = line;
            d = tab + 1;
        }
        rw_free(prompt);
        prompt = fill(tmpl, q, d);
        json_decref(j);
        if (!prompt) goto done;
        const char *text = prompt;
        infer_chat_text rendered = {0};
        unsigned flags = INFER_TOK_ADD_SPECIAL;
        if (chat) {
            infer_chat_msg msg = {"user", prompt};
            if (infer_chat_render(ct, &msg, 1, true, &rendered, &err) != RW_OK) goto done;
            text = rendered.text;
            flags |= INFER_TOK_PARSE_SPECIAL;
        }
        infer_tok_ids ids = {0};
        rw_status st = infer_tokenize(rt.tok, text, strlen(text), flags, &ids, &err);
        infer_chat_text_deinit(&rendered);
        double score = 0;
        float lp[2] = {0, 0};
        if (st == RW_OK)
            st = infer_yes_no_score(s, ids.v, (int64_t)ids.n, yid, nid, &score, lp, &err);
        infer_tok_ids_deinit(&ids);
        if (st != RW_OK) {
            rw_err_prefix(&err, "line %ld: ", lineno);
            goto done;
        }
        printf("{\"index\":%ld,\"score\":%.9g,\"logprob_yes\":%.9g,\"logprob_no\":%.9g}\n", index++,
               score, (double)lp[0], (double)lp[1]);
        fflush(stdout);
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "rag-score: %s\n", err.msg[0] ? err.msg : "out of memory");
    if (in && in != stdin) fclose(in);
    free(line);
    rw_free(prompt);
    infer_session_destroy(s);
    infer_runtime_close(&rt);
    return rc;
bad_arg:
    fprintf(stderr, "rag-score: %s\n", aerr.msg);
    return 2;
}
