/* Tokenizer from GGUF metadata: a thin layer that fills an infer_tok_spec from the
 * tokenizer.ggml.* keys (names as llama.cpp's convert scripts write them, including the
 * historical spelling "seperator_token_id") and calls infer_tokenizer_create.
 * Token and merge strings are views into the mapped file, so the spec only holds pointer
 * and length arrays; the tokenizer copies what it keeps, and the GGUF may be closed after. */
#include "infer/tokenizer.h"

#include <string.h>

#include "core/alloc.h"
#include "infer/gguf.h"

static rw_status get_id(const infer_gguf *g, const char *key, int32_t *id, bool *set,
                        rw_err *err) {
    if (!infer_gguf_get(g, key)) return RW_OK;
    int64_t v;
    const infer_gguf_value *val = infer_gguf_get(g, key);
    if (infer_gguf_value_int(val, &v) != RW_OK || v < INT32_MIN || v > INT32_MAX) {
        return rw_err_set(err, RW_E_FORMAT, "%s: not an integer token id (type %s)", key,
                          infer_gguf_type_name(val->type));
    }
    *id = (int32_t)v;
    *set = true;
    return RW_OK;
}

static rw_status get_flag(const infer_gguf *g, const char *key, bool *flag, bool *set,
                          rw_err *err) {
    if (!infer_gguf_get(g, key)) return RW_OK;
    rw_status st = infer_gguf_get_bool(g, key, flag, err);
    if (st == RW_OK) *set = true;
    return st;
}

/* Pointers and lengths of a string array (views into the file). */
static rw_status get_strs(const infer_gguf *g, const char *key, const char ***strs,
                          size_t **lens, size_t *n, rw_err *err) {
    infer_gguf_value arr;
    rw_status st = infer_gguf_get_arr(g, key, &arr, err);
    if (st) return st;
    if (arr.elem_type != INFER_GGUF_STRING) {
        return rw_err_set(err, RW_E_FORMAT, "%s: array of %s, expected strings", key,
                          infer_gguf_type_name(arr.elem_type));
    }
    if (arr.count > (uint64_t)INT32_MAX) {
        return rw_err_set(err, RW_E_RANGE, "%s: %llu entries", key, (unsigned long long)arr.count);
    }
    size_t cnt = (size_t)arr.count;
    const char **s = rw_alloc_array(cnt ? cnt : 1, sizeof *s);
    size_t *l = rw_alloc_array(cnt ? cnt : 1, sizeof *l);
    if (!s || !l) {
        rw_free(s);
        rw_free(l);
        return rw_err_set(err, RW_E_NOMEM, "%s: %zu strings", key, cnt);
    }
    for (size_t i = 0; i < cnt; i++) {
        infer_gguf_str v;
        st = infer_gguf_arr_str(&arr, i, &v);
        if (st || v.len > UINT32_MAX) {
            rw_free(s);
            rw_free(l);
            return rw_err_set(err, RW_E_FORMAT, "%s[%zu]: unreadable string", key, i);
        }
        s[i] = v.ptr ? v.ptr : "";
        l[i] = (size_t)v.len;
    }
    *strs = s;
    *lens = l;
    *n = cnt;
    return RW_OK;
}

rw_status infer_tokenizer_from_gguf(const infer_gguf *g, infer_tokenizer **out, rw_err *err) {
    rw_status st;
    infer_tok_spec spec;
    infer_tok_spec_init(&spec);
    const char **tokens = NULL, **merges = NULL;
    size_t *tlens = NULL, *mlens = NULL;
    float *scores = NULL;
    int32_t *types = NULL;
    char *model = NULL, *pre = NULL, *name = NULL;
    infer_gguf_str sv;

    if ((st = infer_gguf_get_str(g, "tokenizer.ggml.model", &sv, err))) goto fail;
    model = infer_gguf_str_dup(sv);
    if (!model) goto nomem;
    if (strcmp(model, "llama") == 0) spec.kind = INFER_TOK_SPM;
    else if (strcmp(model, "gpt2") == 0) spec.kind = INFER_TOK_BPE;
    else if (strcmp(model, "bert") == 0) spec.kind = INFER_TOK_WPM;
    else {
        st = rw_err_set(err, RW_E_UNSUPPORTED,
                        "tokenizer.ggml.model: \"%.64s\" (supported: llama, gpt2, bert)", model);
        goto fail;
    }
    if (infer_gguf_get(g, "tokenizer.ggml.pre")) {
        if ((st = infer_gguf_get_str(g, "tokenizer.ggml.pre", &sv, err))) goto fail;
        if (!(pre = infer_gguf_str_dup(sv))) goto nomem;
        spec.pre = pre;
    }
    if (infer_gguf_get(g, "general.name") &&
        infer_gguf_get_str(g, "general.name", &sv, NULL) == RW_OK) {
        if (!(name = infer_gguf_str_dup(sv))) goto nomem;
        spec.model_name = name;
    }
    if ((st = get_strs(g, "tokenizer.ggml.tokens", &tokens, &tlens, &spec.n_tokens, err))) goto fail;
    spec.tokens = tokens;
    spec.token_lens = tlens;
    size_t nv = spec.n_tokens;
    const infer_gguf_value *v = infer_gguf_get(g, "tokenizer.ggml.scores");
    if (v) {
        if (v->type != INFER_GGUF_ARRAY || v->count != nv) {
            st = rw_err_set(err, RW_E_FORMAT, "tokenizer.ggml.scores: expected an array of %zu", nv);
            goto fail;
        }
        if (!(scores = rw_alloc_array(nv ? nv : 1, sizeof *scores))) goto nomem;
        if ((st = infer_gguf_arr_to_f32(v, scores, err))) goto fail;
        spec.scores = scores;
    }
    v = infer_gguf_get(g, "tokenizer.ggml.token_type");
    if (v) {
        if (v->type != INFER_GGUF_ARRAY || v->count != nv) {
            st = rw_err_set(err, RW_E_FORMAT, "tokenizer.ggml.token_type: expected an array of %zu",
                            nv);
            goto fail;
        }
        if (!(types = rw_alloc_array(nv ? nv : 1, sizeof *types))) goto nomem;
        if ((st = infer_gguf_arr_to_i32(v, types, err))) goto fail;
        spec.types = types;
    }
    if (spec.kind == INFER_TOK_BPE) {
        if (!infer_gguf_get(g, "tokenizer.ggml.merges")) {
            st = rw_err_set(err, RW_E_FORMAT, "tokenizer.ggml.merges: missing for a gpt2 tokenizer");
            goto fail;
        }
        if ((st = get_strs(g, "tokenizer.ggml.merges", &merges, &mlens, &spec.n_merges, err))) {
            goto fail;
        }
        spec.merges = merges;
        spec.merge_lens = mlens;
    }
    if ((st = get_id(g, "tokenizer.ggml.bos_token_id", &spec.bos, &spec.bos_set, err)) ||
        (st = get_id(g, "tokenizer.ggml.eos_token_id", &spec.eos, &spec.eos_set, err)) ||
        (st = get_id(g, "tokenizer.ggml.eot_token_id", &spec.eot, &spec.eot_set, err)) ||
        (st = get_id(g, "tokenizer.ggml.eom_token_id", &spec.eom, &spec.eom_set, err)) ||
        (st = get_id(g, "tokenizer.ggml.unknown_token_id", &spec.unk, &spec.unk_set, err)) ||
        (st = get_id(g, "tokenizer.ggml.seperator_token_id", &spec.sep, &spec.sep_set, err)) ||
        (st = get_id(g, "tokenizer.ggml.padding_token_id", &spec.pad, &spec.pad_set, err)) ||
        (st = get_id(g, "tokenizer.ggml.mask_token_id", &spec.mask, &spec.mask_set, err))) {
        goto fail;
    }
    /* BERT's [CLS] is its BOS */
    if (infer_gguf_get(g, "tokenizer.ggml.cls_token_id") &&
        (st = get_id(g, "tokenizer.ggml.cls_token_id", &spec.bos, &spec.bos_set, err))) {
        goto fail;
    }
    if ((st = get_flag(g, "tokenizer.ggml.add_bos_token", &spec.add_bos, &spec.add_bos_set, err)) ||
        (st = get_flag(g, "tokenizer.ggml.add_eos_token", &spec.add_eos, &spec.add_eos_set, err)) ||
        (st = get_flag(g, "tokenizer.ggml.add_sep_token", &spec.add_sep, &spec.add_sep_set, err)) ||
        (st = get_flag(g, "tokenizer.ggml.add_space_prefix", &spec.add_space_prefix,
                       &spec.add_space_prefix_set, err))) {
        goto fail;
    }
    st = infer_tokenizer_create(&spec, out, err);
    goto done;
nomem:
    st = rw_err_set(err, RW_E_NOMEM, "tokenizer: out of memory reading GGUF metadata");
fail:
done:
    rw_free(tokens);
    rw_free(tlens);
    rw_free(merges);
    rw_free(mlens);
    rw_free(scores);
    rw_free(types);
    rw_free(model);
    rw_free(pre);
    rw_free(name);
    return st;
}

rw_status infer_tokenizer_load(const char *path, infer_tokenizer **out, rw_err *err) {
    infer_gguf *g = NULL;
    rw_status st = infer_gguf_open(path, &g, err);
    if (st) return st;
    st = infer_tokenizer_from_gguf(g, out, err);
    if (st) rw_err_prefix(err, "%s: ", path);
    infer_gguf_close(g);
    return st;
}
