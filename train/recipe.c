/* Training recipe schema over data/toml.h (train/recipe.h explains the keys).
 *
 * Invariants: train_recipe_from_doc writes *out only on success; every error names the
 * key's file:line:col (data_toml getters and data_toml_check_keys supply it). */
#include "train/recipe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

static const char *const k_targets[TRAIN_T_COUNT] = {
    "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
};
static const char *const k_hf[TRAIN_T_COUNT] = {
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
};

const char *train_target_name(train_target t) {
    return (unsigned)t < TRAIN_T_COUNT ? k_targets[t] : NULL;
}
const char *train_target_hf_name(train_target t) {
    return (unsigned)t < TRAIN_T_COUNT ? k_hf[t] : NULL;
}
const char *train_target_hf_parent(train_target t) {
    return t <= TRAIN_T_ATTN_OUTPUT ? "self_attn" : "mlp";
}
bool train_target_parse(const char *s, train_target *out) {
    for (int i = 0; i < TRAIN_T_COUNT; i++)
        if (!strcmp(s, k_targets[i])) {
            *out = (train_target)i;
            return true;
        }
    return false;
}
bool train_target_parse_hf(const char *s, train_target *out) {
    for (int i = 0; i < TRAIN_T_COUNT; i++)
        if (!strcmp(s, k_hf[i])) {
            *out = (train_target)i;
            return true;
        }
    return false;
}

const char *train_schedule_name(train_sched_kind s) {
    switch (s) {
    case TRAIN_SCHED_CONSTANT: return "constant";
    case TRAIN_SCHED_LINEAR: return "linear";
    case TRAIN_SCHED_COSINE: return "cosine";
    }
    return "?";
}

const char *const train_recipe_volatile_keys[] = {
    "model.path",         "train.log_every",  "train.eval_every", "train.checkpoint_every",
    "output.dir",         "output.name",      "output.formats",   "output.dtype",
    "output.register",    "output.db",        "output.component", NULL,
};
/* Placeholder assignment per volatile key (same TOML class as the real value). */
static const char *const k_volatile_set[] = {
    "model.path=\"-\"",      "train.log_every=0",  "train.eval_every=0",
    "train.checkpoint_every=0", "output.dir=\"-\"", "output.name=\"-\"",
    "output.formats=[]",     "output.dtype=\"-\"", "output.register=false",
    "output.db=\"-\"",       "output.component=\"-\"",
};

/* "file:line:col" of a node into buf. */
static const char *where(const data_toml_node *n, char *buf, size_t cap) {
    snprintf(buf, cap, "%s:%u:%u", data_toml_node_file(n), data_toml_node_line(n),
             data_toml_node_col(n));
    return buf;
}

/* Error for key `k` of table t with a range message. */
static rw_status bad_value(const data_toml_node *t, const char *sect, const char *k,
                           rw_err *err, const char *what) {
    const data_toml_node *n = data_toml_find(t, k);
    char w[300];
    return rw_err_set(err, RW_E_RANGE, "%s: key '%s.%s' %s", n ? where(n, w, sizeof w) : "?",
                      sect, k, what);
}

/* A path relative to the recipe's folder (absolute paths kept). Owned. */
static char *resolve(const char *recipe_path, const char *p) {
    if (p[0] == '/' || !recipe_path) return rw_strdup(p);
    const char *slash = strrchr(recipe_path, '/');
    if (!slash) return rw_strdup(p);
    size_t dl = (size_t)(slash - recipe_path) + 1, pl = strlen(p);
    char *s = rw_malloc(dl + pl + 1);
    if (!s) return NULL;
    memcpy(s, recipe_path, dl);
    memcpy(s + dl, p, pl + 1);
    return s;
}

rw_status train_layers_parse(const char *spec, int64_t *first, int64_t *last, rw_err *err) {
    if (!strcmp(spec, "all")) {
        *first = 0;
        *last = -1;
        return RW_OK;
    }
    const char *p = spec;
    char *end;
    long a, b;
    if (*p < '0' || *p > '9') goto bad;
    errno = 0;
    a = strtol(p, &end, 10);
    if (errno) goto bad;
    p = end;
    b = a;
    if (*p == '-') {
        p++;
        if (*p < '0' || *p > '9') goto bad;
        b = strtol(p, &end, 10);
        if (errno) goto bad;
        p = end;
    }
    if (*p) goto bad;
    if (a > b || b > 100000)
        return rw_err_set(err, RW_E_RANGE, "layer range '%s' is empty or too large", spec);
    *first = a;
    *last = b;
    return RW_OK;
bad:
    return rw_err_set(err, RW_E_FORMAT,
                      "bad layer list '%s' at '%s' (expected \"all\", \"5\" or \"0-11\")", spec,
                      p);
}

const char *train_recipe_targets_csv(const train_recipe *r, char *buf, size_t cap) {
    size_t n = 0;
    if (cap) buf[0] = 0;
    for (int i = 0; i < TRAIN_T_COUNT; i++)
        if (r->targets & (1u << i)) {
            int k = snprintf(buf + n, cap > n ? cap - n : 0, "%s%s", n ? "," : "", k_targets[i]);
            if (k > 0) n += (size_t)k;
        }
    return buf;
}

static bool name_ok(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

/* Gets an int key into [lo, hi]. */
static rw_status get_int(const data_toml_node *t, const char *sect, const char *k, int64_t dflt,
                         int64_t lo, int64_t hi, int64_t *out, rw_err *err) {
    int64_t v;
    rw_status st = data_toml_get_i64_or(t, k, dflt, &v, err);
    if (st) return st;
    if (v < lo || v > hi) {
        char what[96];
        snprintf(what, sizeof what, "= %lld is out of range [%lld, %lld]", (long long)v,
                 (long long)lo, (long long)hi);
        return bad_value(t, sect, k, err, what);
    }
    *out = v;
    return RW_OK;
}

static rw_status get_real(const data_toml_node *t, const char *sect, const char *k, double dflt,
                          double lo, double hi, double *out, rw_err *err) {
    double v;
    rw_status st = data_toml_get_f64_or(t, k, dflt, &v, err);
    if (st) return st;
    if (!(v >= lo && v <= hi)) {
        char what[96];
        snprintf(what, sizeof what, "= %g is out of range [%g, %g]", v, lo, hi);
        return bad_value(t, sect, k, err, what);
    }
    *out = v;
    return RW_OK;
}

/* Optional sub-table (an empty one is used when absent). */
static rw_status section(const data_toml_node *root, const char *name, const data_toml_node **out,
                         bool required, rw_err *err) {
    const data_toml_node *n = data_toml_find(root, name);
    if (!n) {
        if (required) {
            char w[300];
            return rw_err_set(err, RW_E_NOTFOUND, "%s: missing section [%s]",
                              where(root, w, sizeof w), name);
        }
        *out = NULL;
        return RW_OK;
    }
    return data_toml_get_table(root, name, out, err);
}

#define TRY(x)                                                                                 \
    do {                                                                                       \
        st = (x);                                                                              \
        if (st) goto fail;                                                                     \
    } while (0)
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static rw_status hash_doc(const data_toml_doc *doc, char hex[DATA_SHA256_HEX], rw_err *err) {
    char *text = NULL, *text2 = NULL;
    size_t len = 0, len2 = 0;
    data_toml_doc *copy = NULL;
    rw_status st;
    TRY(data_toml_dump_str(doc, &text, &len, err));
    TRY(data_toml_parse(text, len, "<canonical>", &copy, err));
    for (size_t i = 0; i < N_OF(k_volatile_set); i++) TRY(data_toml_set(copy, k_volatile_set[i], err));
    TRY(data_toml_dump_str(copy, &text2, &len2, err));
    TRY(data_sha256_buf(text2, len2, hex, err));
fail:
    data_toml_free(copy);
    rw_free(text);
    rw_free(text2);
    return st;
}

rw_status train_recipe_from_doc(const data_toml_doc *doc, const char *path, train_recipe *out,
                                rw_err *err) {
    static const char *const k_root[] = {"model", "adapter", "data", "train", "output"};
    static const char *const k_model[] = {"path", "chat_template", "threads"};
    static const char *const k_adapter[] = {"kind", "rank", "alpha", "dropout",
                                            "rslora", "targets", "layers", "full"};
    static const char *const k_data[] = {"train", "valid", "format", "max_seq",
                                         "packing", "on_error", "source"};
    static const char *const k_train[] = {
        "steps", "epochs", "batch", "grad_accum", "lr", "min_lr_ratio", "schedule",
        "warmup", "weight_decay", "clip", "seed", "eval_every", "eval_batches",
        "checkpoint_every", "checkpointing", "log_every"};
    static const char *const k_output[] = {"dir", "name", "formats", "dtype",
                                           "register", "db", "component"};
    train_recipe r;
    memset(&r, 0, sizeof r);
    rw_status st;
    const data_toml_node *root = data_toml_root(doc), *m, *a, *d, *t, *o;
    const char *s;
    int64_t iv;
    char w[300];
    data_toml_doc *empty_doc = NULL;
    const data_toml_node *empty = NULL;

    TRY(data_toml_check_keys(root, k_root, N_OF(k_root), err));
    TRY(section(root, "model", &m, true, err));
    TRY(section(root, "adapter", &a, false, err));
    TRY(section(root, "data", &d, true, err));
    TRY(section(root, "train", &t, false, err));
    TRY(section(root, "output", &o, false, err));
    /* Absent optional sections read as an empty table (the root of an empty doc). */
    TRY(data_toml_parse("", 0, "<empty>", &empty_doc, err));
    empty = data_toml_root(empty_doc);
    if (!a) a = empty;
    if (!t) t = empty;
    if (!o) o = empty;

    TRY(data_toml_check_keys(m, k_model, N_OF(k_model), err));
    TRY(data_toml_check_keys(a, k_adapter, N_OF(k_adapter), err));
    TRY(data_toml_check_keys(d, k_data, N_OF(k_data), err));
    TRY(data_toml_check_keys(t, k_train, N_OF(k_train), err));
    TRY(data_toml_check_keys(o, k_output, N_OF(k_output), err));

    r.recipe_path = rw_strdup(path ? path : "<recipe>");
    if (!r.recipe_path) goto nomem;

    /* [model] */
    TRY(data_toml_get_str(m, "path", &s, err));
    if (!(r.model_path = resolve(path, s))) goto nomem;
    TRY(data_toml_get_str_or(m, "chat_template", "auto", &s, err));
    if (!(r.chat_template = rw_strdup(s))) goto nomem;
    TRY(get_int(m, "model", "threads", 0, 0, 1024, &iv, err));
    r.threads = (int)iv;

    /* [adapter] */
    TRY(data_toml_get_str_or(a, "kind", "lora", &s, err));
    if (strcmp(s, "lora") != 0) {
        st = bad_value(a, "adapter", "kind", err, "must be \"lora\"");
        goto fail;
    }
    TRY(data_toml_get_bool_or(a, "full", false, &r.full, err));
    TRY(get_int(a, "adapter", "rank", 8, 1, 4096, &iv, err));
    r.rank = (int)iv;
    TRY(get_real(a, "adapter", "alpha", (double)r.rank, 0.0, 1e6, &r.alpha, err));
    TRY(get_real(a, "adapter", "dropout", 0.0, 0.0, 0.95, &r.dropout, err));
    TRY(data_toml_get_bool_or(a, "rslora", false, &r.rslora, err));
    const data_toml_node *tg = data_toml_find(a, "targets");
    if (!tg) {
        r.targets = (1u << TRAIN_T_ATTN_Q) | (1u << TRAIN_T_ATTN_V);
    } else {
        TRY(data_toml_get_array(a, "targets", &tg, err));
        if (data_toml_len(tg) == 0) {
            st = bad_value(a, "adapter", "targets", err, "is empty");
            goto fail;
        }
        for (size_t i = 0; i < data_toml_len(tg); i++) {
            const data_toml_node *it = data_toml_at(tg, i);
            train_target tt;
            if (data_toml_node_kind(it) != DATA_TOML_STRING ||
                !train_target_parse(data_toml_as_str(it), &tt)) {
                st = rw_err_set(err, RW_E_FORMAT,
                                "%s: adapter.targets[%zu] must be one of attn_q, attn_k, attn_v, "
                                "attn_output, ffn_gate, ffn_up, ffn_down",
                                where(it, w, sizeof w), i);
                goto fail;
            }
            r.targets |= 1u << tt;
        }
    }
    TRY(data_toml_get_str_or(a, "layers", "all", &s, err));
    if (!(r.layers_spec = rw_strdup(s))) goto nomem;
    st = train_layers_parse(s, &r.layer_first, &r.layer_last, err);
    if (st) {
        rw_err_prefix(err, "%s: adapter.layers: ", where(data_toml_find(a, "layers"), w, sizeof w));
        goto fail;
    }

    /* [data] */
    TRY(data_toml_get_str(d, "train", &s, err));
    if (!(r.train_path = resolve(path, s))) goto nomem;
    if (data_toml_find(d, "valid")) {
        TRY(data_toml_get_str(d, "valid", &s, err));
        if (!(r.valid_path = resolve(path, s))) goto nomem;
    }
    TRY(data_toml_get_str_or(d, "format", "auto", &s, err));
    if (!data_jsonl_format_parse(s, &r.format) || r.format > DATA_JSONL_TEXT) {
        st = bad_value(d, "data", "format", err, "must be auto, chat, completions or text");
        goto fail;
    }
    TRY(get_int(d, "data", "max_seq", 512, 8, 1 << 20, &iv, err));
    r.max_seq = (int)iv;
    TRY(data_toml_get_bool_or(d, "packing", false, &r.packing, err));
    TRY(data_toml_get_str_or(d, "on_error", "skip", &s, err));
    if (!strcmp(s, "skip")) r.on_error = DATA_JSONL_SKIP;
    else if (!strcmp(s, "fatal")) r.on_error = DATA_JSONL_FATAL;
    else {
        st = bad_value(d, "data", "on_error", err, "must be \"skip\" or \"fatal\"");
        goto fail;
    }
    if (data_toml_find(d, "source")) {
        TRY(data_toml_get_str(d, "source", &s, err));
        if (!(r.source = rw_strdup(s))) goto nomem;
    }

    /* [train] */
    TRY(get_int(t, "train", "steps", 0, 0, INT64_C(1) << 40, &r.steps, err));
    TRY(get_int(t, "train", "epochs", 0, 0, 1 << 20, &r.epochs, err));
    if ((r.steps > 0) == (r.epochs > 0)) {
        st = rw_err_set(err, RW_E_INVALID, "%s: [train] needs exactly one of steps or epochs > 0",
                        where(t == empty ? root : t, w, sizeof w));
        goto fail;
    }
    TRY(get_int(t, "train", "batch", 4, 1, 1 << 16, &iv, err));
    r.batch = (int)iv;
    TRY(get_int(t, "train", "grad_accum", 1, 1, 1 << 16, &iv, err));
    r.grad_accum = (int)iv;
    TRY(get_real(t, "train", "lr", 1e-4, 1e-12, 10.0, &r.lr, err));
    TRY(get_real(t, "train", "min_lr_ratio", 0.0, 0.0, 1.0, &r.min_lr_ratio, err));
    TRY(data_toml_get_str_or(t, "schedule", "cosine", &s, err));
    if (!strcmp(s, "constant")) r.schedule = TRAIN_SCHED_CONSTANT;
    else if (!strcmp(s, "linear")) r.schedule = TRAIN_SCHED_LINEAR;
    else if (!strcmp(s, "cosine")) r.schedule = TRAIN_SCHED_COSINE;
    else {
        st = bad_value(t, "train", "schedule", err, "must be constant, linear or cosine");
        goto fail;
    }
    TRY(get_int(t, "train", "warmup", 0, 0, INT64_C(1) << 40, &r.warmup, err));
    TRY(get_real(t, "train", "weight_decay", 0.0, 0.0, 10.0, &r.weight_decay, err));
    TRY(get_real(t, "train", "clip", 1.0, 0.0, 1e9, &r.clip, err));
    TRY(get_int(t, "train", "seed", 0, 0, INT64_MAX, &iv, err));
    r.seed = (uint64_t)iv;
    TRY(get_int(t, "train", "eval_every", 0, 0, INT64_C(1) << 40, &r.eval_every, err));
    TRY(get_int(t, "train", "eval_batches", 0, 0, INT64_C(1) << 40, &r.eval_batches, err));
    TRY(get_int(t, "train", "checkpoint_every", 0, 0, INT64_C(1) << 40, &r.checkpoint_every, err));
    TRY(get_int(t, "train", "log_every", 1, 1, INT64_C(1) << 40, &r.log_every, err));
    TRY(data_toml_get_bool_or(t, "checkpointing", false, &r.checkpointing, err));

    /* [output] */
    TRY(data_toml_get_str_or(o, "dir", "runs", &s, err));
    if (!(r.out_dir = resolve(path, s))) goto nomem;
    TRY(data_toml_get_str_or(o, "name", "persona", &s, err));
    if (!name_ok(s)) {
        st = bad_value(o, "output", "name", err, "must be 1-64 of [a-z0-9._-]");
        goto fail;
    }
    if (!(r.name = rw_strdup(s))) goto nomem;
    const data_toml_node *fm = data_toml_find(o, "formats");
    if (!fm) {
        r.fmt_gguf = true;
    } else {
        TRY(data_toml_get_array(o, "formats", &fm, err));
        for (size_t i = 0; i < data_toml_len(fm); i++) {
            const data_toml_node *it = data_toml_at(fm, i);
            const char *v = data_toml_node_kind(it) == DATA_TOML_STRING ? data_toml_as_str(it) : "";
            if (!strcmp(v, "gguf")) r.fmt_gguf = true;
            else if (!strcmp(v, "peft")) r.fmt_peft = true;
            else {
                st = rw_err_set(err, RW_E_FORMAT, "%s: output.formats[%zu] must be \"gguf\" or \"peft\"",
                                where(it, w, sizeof w), i);
                goto fail;
            }
        }
        if (!r.fmt_gguf && !r.fmt_peft) {
            st = bad_value(o, "output", "formats", err, "is empty");
            goto fail;
        }
    }
    TRY(data_toml_get_str_or(o, "dtype", "f32", &s, err));
    if (!strcmp(s, "f16")) r.out_f16 = true;
    else if (strcmp(s, "f32") != 0) {
        st = bad_value(o, "output", "dtype", err, "must be \"f32\" or \"f16\"");
        goto fail;
    }
    TRY(data_toml_get_bool_or(o, "register", false, &r.do_register, err));
    if (data_toml_find(o, "db")) {
        TRY(data_toml_get_str(o, "db", &s, err));
        if (!(r.db_path = resolve(path, s))) goto nomem;
    }
    if (data_toml_find(o, "component")) {
        TRY(data_toml_get_str(o, "component", &s, err));
        if (!(r.component = rw_strdup(s))) goto nomem;
    } else {
        size_t n = strlen(r.name) + 16;
        if (!(r.component = rw_malloc(n))) goto nomem;
        snprintf(r.component, n, "persona:%s", r.name);
    }
    TRY(hash_doc(doc, r.sha256, err));
    data_toml_free(empty_doc);
    *out = r;
    return RW_OK;
nomem:
    st = rw_err_set(err, RW_E_NOMEM, "out of memory reading recipe");
fail:
    train_recipe_deinit(&r);
    data_toml_free(empty_doc);
    return st;
}

void train_recipe_deinit(train_recipe *r) {
    if (!r) return;
    rw_free(r->recipe_path);
    rw_free(r->model_path);
    rw_free(r->chat_template);
    rw_free(r->layers_spec);
    rw_free(r->train_path);
    rw_free(r->valid_path);
    rw_free(r->source);
    rw_free(r->out_dir);
    rw_free(r->name);
    rw_free(r->db_path);
    rw_free(r->component);
    memset(r, 0, sizeof *r);
}

rw_status train_recipe_parse(const char *text, size_t len, const char *path,
                             const char *const *sets, size_t n_sets, train_recipe *out,
                             rw_err *err) {
    data_toml_doc *doc = NULL;
    rw_status st = data_toml_parse(text, len, path, &doc, err);
    for (size_t i = 0; st == RW_OK && i < n_sets; i++) {
        st = data_toml_set(doc, sets[i], err);
        if (st) rw_err_prefix(err, "--set %s: ", sets[i]);
    }
    if (st == RW_OK) st = train_recipe_from_doc(doc, path, out, err);
    data_toml_free(doc);
    return st;
}

rw_status train_recipe_load(const char *path, const char *const *sets, size_t n_sets,
                            train_recipe *out, rw_err *err) {
    data_toml_doc *doc = NULL;
    rw_status st = data_toml_parse_file(path, &doc, err);
    for (size_t i = 0; st == RW_OK && i < n_sets; i++) {
        st = data_toml_set(doc, sets[i], err);
        if (st) rw_err_prefix(err, "--set %s: ", sets[i]);
    }
    if (st == RW_OK) st = train_recipe_from_doc(doc, path, out, err);
    data_toml_free(doc);
    return st;
}
