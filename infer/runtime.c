/* Model + tokenizer + LoRA bundle for programs (infer/runtime.h). */
#include "infer/runtime.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

rw_status infer_parse_lora_spec(const char *spec, char *path, size_t cap, float *scale,
                                rw_err *err) {
    const char *colon = strrchr(spec, ':');
    float s = 1.0f;
    size_t n = strlen(spec);
    if (colon && colon[1]) {
        char *end;
        errno = 0;
        double v = strtod(colon + 1, &end);
        if (*end == 0 && errno == 0 && isfinite(v)) {
            s = (float)v;
            n = (size_t)(colon - spec);
        }
    }
    if (n == 0 || n >= cap)
        return rw_err_set(err, RW_E_INVALID, "--lora '%s': expected FILE or FILE:SCALE", spec);
    memcpy(path, spec, n);
    path[n] = 0;
    *scale = s;
    return RW_OK;
}

void infer_runtime_close(infer_runtime *rt) {
    if (!rt) return;
    if (rt->model) infer_model_detach_loras(rt->model);
    for (int i = 0; i < rt->n_lora; i++)
        infer_lora_destroy(rt->lora[i]);
    infer_tokenizer_destroy(rt->tok);
    infer_model_destroy(rt->model);
    memset(rt, 0, sizeof(*rt));
}

rw_status infer_runtime_open(const char *model_path, const char *const *lora_specs, int n_lora,
                             infer_runtime *rt, rw_err *err) {
    rw_status st;
    memset(rt, 0, sizeof(*rt));
    if (n_lora > INFER_MAX_LORA)
        return rw_err_set(err, RW_E_RANGE, "at most %d adapters (%d given)", INFER_MAX_LORA,
                          n_lora);
    if ((st = infer_model_load(model_path, &rt->model, err)) != RW_OK) return st;
    if (infer_gguf_find_key(rt->model->gguf, "tokenizer.ggml.model") >= 0) {
        if ((st = infer_tokenizer_from_gguf(rt->model->gguf, &rt->tok, err)) != RW_OK) {
            rw_err_prefix(err, "%s: tokenizer: ", model_path);
            goto fail;
        }
    }
    for (int i = 0; i < n_lora; i++) {
        char path[4096];
        float scale;
        if ((st = infer_parse_lora_spec(lora_specs[i], path, sizeof(path), &scale, err)) != RW_OK)
            goto fail;
        if ((st = infer_lora_load(path, rt->model, &rt->lora[rt->n_lora], err)) != RW_OK) goto fail;
        rt->n_lora++;
        if ((st = infer_model_attach_lora(rt->model, rt->lora[rt->n_lora - 1], scale, err)) !=
            RW_OK)
            goto fail;
    }
    return RW_OK;
fail:
    infer_runtime_close(rt);
    return st;
}

rw_status infer_parse_ids(const char *s, int32_t **ids, int64_t *n, rw_err *err) {
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    int32_t *v = rw_alloc_array(cap, sizeof(int32_t));
    if (!v) return rw_err_set(err, RW_E_NOMEM, "ids");
    int64_t k = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < 0 || x > INT32_MAX || (*end && *end != ',') ||
            (*end == ',' && !end[1])) { /* a trailing comma is an empty item */
            rw_free(v);
            return rw_err_set(err, RW_E_INVALID, "token ids: bad item at byte %zu of '%s'",
                              (size_t)(p - s), s);
        }
        v[k++] = (int32_t)x;
        p = *end ? end + 1 : end;
    }
    if (k == 0) {
        rw_free(v);
        return rw_err_set(err, RW_E_INVALID, "token ids: empty list");
    }
    *ids = v;
    *n = k;
    return RW_OK;
}

rw_status infer_parse_i64_arg(const char *opt, const char *s, int64_t lo, int64_t hi,
                              int64_t *out, rw_err *err) {
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s || *end || errno || x < lo || x > hi)
        return rw_err_set(err, RW_E_INVALID, "%s '%s': expected an integer in [%lld, %lld]", opt, s,
                          (long long)lo, (long long)hi);
    *out = (int64_t)x;
    return RW_OK;
}

rw_status infer_parse_u64_arg(const char *opt, const char *s, uint64_t *out, rw_err *err) {
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (end == s || *end || errno || s[0] == '-')
        return rw_err_set(err, RW_E_INVALID, "%s '%s': expected a non-negative integer", opt, s);
    *out = (uint64_t)x;
    return RW_OK;
}

rw_status infer_parse_f32_arg(const char *opt, const char *s, double lo, double hi, float *out,
                              rw_err *err) {
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(x) || x < lo || x > hi)
        return rw_err_set(err, RW_E_INVALID, "%s '%s': expected a number in [%g, %g]", opt, s, lo,
                          hi);
    *out = (float)x;
    return RW_OK;
}

rw_status infer_cli_common_opt(infer_cli_common *c, int argc, char **argv, int *i, bool *used,
                               rw_err *err) {
    const char *a = argv[*i];
    bool threads = !strcmp(a, "--threads") || !strcmp(a, "-t"), lora = !strcmp(a, "--lora");
    *used = false;
    if (!strcmp(a, "--f32")) {
        c->f32 = true;
        *used = true;
        return RW_OK;
    }
    if (!threads && !lora) return RW_OK;
    if (*i + 1 >= argc) return rw_err_set(err, RW_E_INVALID, "%s needs a value", a);
    const char *v = argv[*i + 1];
    if (threads) {
        int64_t t;
        rw_status st = infer_parse_i64_arg(a, v, 0, 1024, &t, err);
        if (st) return st;
        c->threads = (int)t;
    } else {
        if (c->n_lora >= INFER_MAX_LORA)
            return rw_err_set(err, RW_E_INVALID, "at most %d --lora", INFER_MAX_LORA);
        c->lora[c->n_lora++] = v;
    }
    *i += 1;
    *used = true;
    return RW_OK;
}
