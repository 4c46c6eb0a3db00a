/* GGUF LoRA and PEFT adapter files (train/adapter_io.h has the formats and the llama q/k
 * permutation).
 *
 * Invariants: every reader validates names, pair completeness, shapes and ranks before
 * allocating by them; out-parameters are written only on success. */
#include "train/adapter_io.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "data/file.h"
#include "infer/gguf.h"
#include "infer/lora.h"
#include "kernels/convert.h"
#include "train/io_util.h"
#include "train/safetensors.h"

void train_adapter_deinit(train_adapter *a) {
    if (!a) return;
    for (size_t i = 0; i < a->n; i++) {
        rw_free(a->pairs[i].a);
        rw_free(a->pairs[i].b);
    }
    rw_free(a->pairs);
    memset(a, 0, sizeof *a);
}

const char *train_adapter_base_name(const train_adapter_pair *p, char *buf, size_t cap) {
    snprintf(buf, cap, "blk.%lld.%s.weight", (long long)p->layer, train_target_name(p->target));
    return buf;
}

/* "blk.<L>.<target>.weight" -> layer, target. */
static bool parse_base(const char *s, int64_t *layer, train_target *t) {
    if (strncmp(s, "blk.", 4) != 0) return false;
    const char *p = s + 4;
    if (*p < '0' || *p > '9') return false;
    char *end;
    errno = 0;
    long long l = strtoll(p, &end, 10);
    if (errno || *end != '.' || l < 0 || l > 100000) return false;
    p = end + 1;
    const char *dot = strchr(p, '.');
    if (!dot || strcmp(dot, ".weight") != 0) return false;
    char name[32];
    size_t n = (size_t)(dot - p);
    if (n >= sizeof name) return false;
    memcpy(name, p, n);
    name[n] = 0;
    if (!train_target_parse(name, t)) return false;
    *layer = l;
    return true;
}

static int pair_cmp(const void *x, const void *y) {
    const train_adapter_pair *a = x, *b = y;
    if (a->layer != b->layer) return a->layer < b->layer ? -1 : 1;
    return (int)a->target - (int)b->target;
}

/* Permutes the rows of b[n_out][r] for llama q/k. forward: HF -> GGUF, else GGUF -> HF. */
static rw_status permute_rows(float *b, int64_t n_out, int64_t r, int64_t heads, bool forward,
                              rw_err *err) {
    if (heads <= 0 || n_out % heads != 0 || (n_out / heads) % 2 != 0)
        return rw_err_set(err, RW_E_INVALID,
                          "llama q/k permutation: %lld rows do not split into %lld heads of even size",
                          (long long)n_out, (long long)heads);
    int64_t D = n_out / heads, half = D / 2;
    size_t bytes = (size_t)(n_out * r) * sizeof(float);
    float *tmp = rw_malloc(bytes);
    if (!tmp) return rw_err_set(err, RW_E_NOMEM, "out of memory permuting lora_b");
    memcpy(tmp, b, bytes);
    for (int64_t h = 0; h < heads; h++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++) {
                int64_t g = h * D + 2 * i + j, f = h * D + j * half + i;
                int64_t dst = forward ? g : f, src = forward ? f : g;
                memcpy(b + dst * r, tmp + src * r, (size_t)r * sizeof(float));
            }
    rw_free(tmp);
    return RW_OK;
}

static bool is_llama(const char *arch) { return !strcmp(arch, "llama"); }

/* ---- from a training run -------------------------------------------------------------- */

rw_status train_adapter_from_lora(const train_lora *l, const infer_model *m, bool rslora,
                                  train_adapter *out, rw_err *err) {
    train_adapter a;
    memset(&a, 0, sizeof a);
    rw_status st = RW_OK;
    size_t n = train_lora_n_pairs(l);
    snprintf(a.arch, sizeof a.arch, "%s", m->arch_name);
    a.n_head = m->hp.n_head;
    a.n_head_kv = m->hp.n_head_kv;
    a.pairs = rw_calloc(n ? n : 1, sizeof *a.pairs);
    if (!a.pairs) goto nomem;
    int64_t r0 = 0;
    for (size_t i = 0; i < n; i++) {
        const train_lora_pair *p = train_lora_pair_at(l, i);
        train_adapter_pair *q = &a.pairs[a.n];
        if (!parse_base(p->base, &q->layer, &q->target)) {
            st = rw_err_set(err, RW_E_UNSUPPORTED, "LoRA pair on '%s' has no adapter-format name",
                            p->base);
            goto fail;
        }
        q->n_in = p->n_in;
        q->n_out = p->n_out;
        q->rank = p->rank;
        r0 = p->rank;
        size_t na = (size_t)(p->n_in * p->rank), nb = (size_t)(p->n_out * p->rank);
        q->a = rw_alloc_array(na, sizeof(float));
        q->b = rw_alloc_array(nb, sizeof(float));
        a.n++;
        if (!q->a || !q->b) goto nomem;
        memcpy(q->a, p->a->data, na * sizeof(float));
        memcpy(q->b, p->b->data, nb * sizeof(float));
    }
    a.alpha = train_lora_alpha(l);
    if (rslora && r0 > 0) a.alpha = (float)((double)a.alpha * sqrt((double)r0));
    qsort(a.pairs, a.n, sizeof *a.pairs, pair_cmp);
    *out = a;
    return RW_OK;
nomem:
    st = rw_err_set(err, RW_E_NOMEM, "out of memory copying the adapter");
fail:
    train_adapter_deinit(&a);
    return st;
}

/* ---- GGUF ------------------------------------------------------------------------------ */

rw_status train_adapter_write_gguf(const train_adapter *a, const char *path, bool f16,
                                   const train_adapter_meta *meta, rw_err *err) {
    infer_gguf_writer *w = NULL;
    rw_status st = infer_gguf_writer_create(&w, err);
    if (st) return st;
    size_t *order = rw_alloc_array(a->n ? a->n : 1, sizeof *order);
    uint16_t **h = rw_calloc(2 * (a->n ? a->n : 1), sizeof *h);
    if (!order || !h) {
        st = rw_err_set(err, RW_E_NOMEM, "out of memory writing %s", path);
        goto out;
    }
    char key[96];
    if ((st = infer_gguf_writer_set_str(w, "general.architecture", a->arch, err)) ||
        (st = infer_gguf_writer_set_str(w, "general.type", "adapter", err)) ||
        (meta && meta->name && (st = infer_gguf_writer_set_str(w, "general.name", meta->name, err))) ||
        (st = infer_gguf_writer_set_str(w, "adapter.type", "lora", err)) ||
        (st = infer_gguf_writer_set_f32(w, "adapter.lora.alpha", a->alpha, err)))
        goto out;
    if (a->n_head > 0) {
        snprintf(key, sizeof key, "%s.attention.head_count", a->arch);
        if ((st = infer_gguf_writer_set_u32(w, key, (uint32_t)a->n_head, err))) goto out;
    }
    if (a->n_head_kv > 0) {
        snprintf(key, sizeof key, "%s.attention.head_count_kv", a->arch);
        if ((st = infer_gguf_writer_set_u32(w, key, (uint32_t)a->n_head_kv, err))) goto out;
    }
    if (meta && meta->manifest_json &&
        (st = infer_gguf_writer_set_str(w, "rag_workbench.manifest", meta->manifest_json, err)))
        goto out;
    if (meta && meta->recipe_sha256 &&
        (st = infer_gguf_writer_set_str(w, "rag_workbench.recipe_sha256", meta->recipe_sha256, err)))
        goto out;
    if (meta && meta->base_sha256 &&
        (st = infer_gguf_writer_set_str(w, "rag_workbench.base_sha256", meta->base_sha256, err)))
        goto out;
    for (size_t i = 0; i < a->n; i++) order[i] = i;
    for (size_t i = 1; i < a->n; i++)
        for (size_t j = i; j > 0 && pair_cmp(&a->pairs[order[j - 1]], &a->pairs[order[j]]) > 0; j--) {
            size_t x = order[j];
            order[j] = order[j - 1];
            order[j - 1] = x;
        }
    for (size_t k = 0; k < a->n; k++) {
        const train_adapter_pair *p = &a->pairs[order[k]];
        char base[80], name[96];
        train_adapter_base_name(p, base, sizeof base);
        int64_t ne_a[2] = {p->n_in, p->rank}, ne_b[2] = {p->rank, p->n_out};
        const void *da = p->a, *db = p->b;
        if (f16) {
            size_t na = (size_t)(p->n_in * p->rank), nb = (size_t)(p->n_out * p->rank);
            h[2 * k] = rw_alloc_array(na, 2);
            h[2 * k + 1] = rw_alloc_array(nb, 2);
            if (!h[2 * k] || !h[2 * k + 1]) {
                st = rw_err_set(err, RW_E_NOMEM, "out of memory writing %s", path);
                goto out;
            }
            kern_f32_to_f16_row(p->a, h[2 * k], (int64_t)na);
            kern_f32_to_f16_row(p->b, h[2 * k + 1], (int64_t)nb);
            da = h[2 * k];
            db = h[2 * k + 1];
        }
        rw_dtype dt = f16 ? RW_DTYPE_F16 : RW_DTYPE_F32;
        snprintf(name, sizeof name, "%s.lora_a", base);
        if ((st = infer_gguf_writer_add_tensor(w, name, dt, 2, ne_a, da, err))) goto out;
        snprintf(name, sizeof name, "%s.lora_b", base);
        if ((st = infer_gguf_writer_add_tensor(w, name, dt, 2, ne_b, db, err))) goto out;
    }
    st = infer_gguf_writer_write(w, path, err);
out:
    for (size_t i = 0; h && i < 2 * a->n; i++) rw_free(h[i]);
    rw_free(h);
    rw_free(order);
    infer_gguf_writer_destroy(w);
    return st;
}

/* Copies a GGUF tensor (f32/f16/bf16) to a new f32 array. */
static rw_status tensor_f32(const infer_gguf *g, const infer_gguf_tensor_info *ti, float **out,
                            const char *path, rw_err *err) {
    rw_tensor t;
    rw_status st = infer_gguf_get_tensor(g, ti->name, &t, err);
    if (st) return st;
    size_t n = (size_t)(ti->ne[0] * ti->ne[1]);
    float *v = rw_alloc_array(n ? n : 1, sizeof(float));
    if (!v) return rw_err_set(err, RW_E_NOMEM, "%s: out of memory for '%s'", path, ti->name);
    if (ti->type == RW_DTYPE_F32) {
        memcpy(v, t.data, n * sizeof(float));
    } else if (ti->type == RW_DTYPE_F16 || ti->type == RW_DTYPE_BF16) {
        const unsigned char *s = t.data;
        for (size_t i = 0; i < n; i++) {
            uint16_t x;
            memcpy(&x, s + 2 * i, 2);
            v[i] = ti->type == RW_DTYPE_F16 ? kern_f16_to_f32(x) : kern_bf16_to_f32(x);
        }
    } else {
        rw_free(v);
        return rw_err_set(err, RW_E_UNSUPPORTED, "%s: tensor '%s' must be f32, f16 or bf16", path,
                          ti->name);
    }
    *out = v;
    return RW_OK;
}

rw_status train_adapter_read_gguf(const char *path, train_adapter *out, rw_err *err) {
    infer_gguf *g = NULL;
    rw_status st = infer_gguf_open(path, &g, err);
    if (st) return st;
    train_adapter a;
    memset(&a, 0, sizeof a);
    infer_gguf_str s;
    char key[96];
    /* type keys, alpha, names, pairs and shapes; what is left is the format's own */
    if ((st = infer_lora_check_gguf(g, path, err))) goto fail;
    if ((st = infer_gguf_get_str(g, "general.architecture", &s, err)) || s.len == 0 ||
        s.len >= sizeof a.arch) {
        st = rw_err_set(err, RW_E_FORMAT, "%s: general.architecture missing or too long", path);
        goto fail;
    }
    memcpy(a.arch, s.ptr, (size_t)s.len);
    a.arch[s.len] = 0;
    if (infer_gguf_get(g, "adapter.lora.alpha") &&
        (st = infer_gguf_get_f32(g, "adapter.lora.alpha", &a.alpha, err)))
        goto fail;
    uint32_t u;
    snprintf(key, sizeof key, "%s.attention.head_count", a.arch);
    if (infer_gguf_get_u32(g, key, &u, NULL) == RW_OK) a.n_head = u;
    snprintf(key, sizeof key, "%s.attention.head_count_kv", a.arch);
    if (infer_gguf_get_u32(g, key, &u, NULL) == RW_OK) a.n_head_kv = u;
    uint64_t nt = infer_gguf_n_tensors(g); /* even: every tensor is half of a pair */
    a.pairs = rw_calloc(nt / 2, sizeof *a.pairs);
    if (!a.pairs) {
        st = rw_err_set(err, RW_E_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (uint64_t i = 0; i < nt; i++) {
        char base[INFER_LORA_BASE_MAX];
        const int64_t ib = infer_lora_gguf_pair(g, i, base);
        if (ib < 0) continue; /* a lora_b: read with its lora_a */
        const infer_gguf_tensor_info *ti = infer_gguf_tensor_info_at(g, i);
        const infer_gguf_tensor_info *tb = infer_gguf_tensor_info_at(g, (uint64_t)ib);
        train_adapter_pair *p = &a.pairs[a.n];
        if (!parse_base(base, &p->layer, &p->target)) {
            st = rw_err_set(err, RW_E_UNSUPPORTED,
                            "%s: tensor '%s': base '%s' is not blk.N.<attn_q|...|ffn_down>.weight",
                            path, ti->name, base);
            goto fail;
        }
        p->n_in = ti->ne[0];
        p->rank = ti->ne[1];
        p->n_out = tb->ne[1];
        a.n++;
        if ((st = tensor_f32(g, ti, &p->a, path, err)) || (st = tensor_f32(g, tb, &p->b, path, err)))
            goto fail;
    }
    /* distinct names can still parse to one pair ("blk.01." and "blk.1.") */
    for (size_t i = 0; i < a.n; i++)
        for (size_t j = i + 1; j < a.n; j++)
            if (pair_cmp(&a.pairs[i], &a.pairs[j]) == 0) {
                char bn[64];
                st = rw_err_set(err, RW_E_FORMAT, "%s: two pairs adapt %s", path,
                                train_adapter_base_name(&a.pairs[i], bn, sizeof bn));
                goto fail;
            }
    qsort(a.pairs, a.n, sizeof *a.pairs, pair_cmp);
    infer_gguf_close(g);
    *out = a;
    return RW_OK;
fail:
    infer_gguf_close(g);
    train_adapter_deinit(&a);
    return st;
}

/* ---- PEFT ------------------------------------------------------------------------------ */

static void peft_key(const train_adapter_pair *p, const char *ab, char *buf, size_t cap) {
    snprintf(buf, cap, "base_model.model.model.layers.%lld.%s.%s.lora_%s.weight",
             (long long)p->layer, train_target_hf_parent(p->target),
             train_target_hf_name(p->target), ab);
}

rw_status train_adapter_write_peft(const train_adapter *a, const char *dir, const char *base_model,
                                   rw_err *err) {
    rw_status st = RW_OK;
    train_st_out *t = NULL;
    char (*names)[128] = NULL;
    float **perm = NULL;
    json_t *cfg = NULL;
    char *cfg_txt = NULL, *p_cfg = NULL, *p_st = NULL;
    if (a->n == 0) return rw_err_set(err, RW_E_INVALID, "%s: adapter has no pairs", dir);
    int64_t r = a->pairs[0].rank;
    for (size_t i = 1; i < a->n; i++)
        if (a->pairs[i].rank != r)
            return rw_err_set(err, RW_E_UNSUPPORTED,
                              "%s: PEFT export needs one rank (pair %zu has %lld, pair 0 %lld)", dir,
                              i, (long long)a->pairs[i].rank, (long long)r);
    bool llama = is_llama(a->arch);
    if (llama && (a->n_head <= 0 || a->n_head_kv <= 0))
        return rw_err_set(err, RW_E_INVALID,
                          "%s: llama PEFT export needs the head counts (llama.attention.head_count"
                          "[_kv] in the adapter)",
                          dir);
    if ((st = train_io_mkdirs(dir, err))) return st;
    t = rw_calloc(2 * a->n, sizeof *t);
    names = rw_calloc(2 * a->n, sizeof *names);
    perm = rw_calloc(a->n, sizeof *perm);
    if (!t || !names || !perm) goto nomem;
    unsigned targets = 0;
    int64_t layers_lo = INT64_MAX, layers_hi = -1;
    for (size_t i = 0; i < a->n; i++) {
        const train_adapter_pair *p = &a->pairs[i];
        targets |= 1u << p->target;
        if (p->layer < layers_lo) layers_lo = p->layer;
        if (p->layer > layers_hi) layers_hi = p->layer;
        peft_key(p, "A", names[2 * i], sizeof names[0]);
        peft_key(p, "B", names[2 * i + 1], sizeof names[0]);
        const float *b = p->b;
        if (llama && (p->target == TRAIN_T_ATTN_Q || p->target == TRAIN_T_ATTN_K)) {
            size_t nb = (size_t)(p->n_out * p->rank) * sizeof(float);
            if (!(perm[i] = rw_malloc(nb))) goto nomem;
            memcpy(perm[i], p->b, nb);
            if ((st = permute_rows(perm[i], p->n_out, p->rank,
                                   p->target == TRAIN_T_ATTN_Q ? a->n_head : a->n_head_kv, false,
                                   err)))
                goto out;
            b = perm[i];
        }
        t[2 * i] = (train_st_out){.name = names[2 * i], .n_dims = 2, .shape = {p->rank, p->n_in},
                                  .data = p->a};
        t[2 * i + 1] = (train_st_out){.name = names[2 * i + 1], .n_dims = 2,
                                      .shape = {p->n_out, p->rank}, .data = b};
    }
    /* adapter_config.json: the fields PEFT's LoraConfig reads (notes §2.2). */
    cfg = json_object();
    json_t *tm = json_array(), *lt = json_array();
    if (!cfg || !tm || !lt) {
        json_decref(tm);
        json_decref(lt);
        goto nomem;
    }
    for (int i = 0; i < TRAIN_T_COUNT; i++)
        if (targets & (1u << i)) json_array_append_new(tm, json_string(train_target_hf_name((train_target)i)));
    for (int64_t l = layers_lo; l <= layers_hi; l++) json_array_append_new(lt, json_integer(l));
    json_object_set_new(cfg, "peft_type", json_string("LORA"));
    json_object_set_new(cfg, "task_type", json_string("CAUSAL_LM"));
    json_object_set_new(cfg, "base_model_name_or_path", base_model ? json_string(base_model) : json_null());
    json_object_set_new(cfg, "r", json_integer(r));
    json_object_set_new(cfg, "lora_alpha", json_real((double)a->alpha));
    json_object_set_new(cfg, "lora_dropout", json_real((double)a->dropout));
    json_object_set_new(cfg, "target_modules", tm);
    json_object_set_new(cfg, "layers_to_transform", lt);
    json_object_set_new(cfg, "use_rslora", json_false());
    json_object_set_new(cfg, "use_dora", json_false());
    json_object_set_new(cfg, "fan_in_fan_out", json_false());
    json_object_set_new(cfg, "bias", json_string("none"));
    json_object_set_new(cfg, "inference_mode", json_true());
    json_object_set_new(cfg, "init_lora_weights", json_true());
    json_object_set_new(cfg, "modules_to_save", json_null());
    json_object_set_new(cfg, "rank_pattern", json_object());
    json_object_set_new(cfg, "alpha_pattern", json_object());
    cfg_txt = json_dumps(cfg, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
    p_cfg = train_io_join(dir, "adapter_config.json");
    p_st = train_io_join(dir, "adapter_model.safetensors");
    if (!cfg_txt || !p_cfg || !p_st) goto nomem;
    const char *meta[] = {"format", "pt"};
    if ((st = train_st_write(p_st, t, 2 * a->n, meta, 1, err))) goto out;
    st = data_file_write_atomic(p_cfg, cfg_txt, strlen(cfg_txt), err);
    goto out;
nomem:
    st = rw_err_set(err, RW_E_NOMEM, "%s: out of memory writing PEFT files", dir);
out:
    for (size_t i = 0; perm && i < a->n; i++) rw_free(perm[i]);
    rw_free(perm);
    rw_free(t);
    rw_free(names);
    json_decref(cfg);
    free(cfg_txt);
    rw_free(p_cfg);
    rw_free(p_st);
    return st;
}

/* "base_model.model.model.layers.<L>.<parent>.<module>.lora_<A|B>.weight" -> fields. */
static bool parse_peft_key(const char *k, int64_t *layer, train_target *t, char *ab) {
    static const char pre[] = "base_model.model.model.layers.";
    if (strncmp(k, pre, sizeof pre - 1) != 0) return false;
    const char *p = k + sizeof pre - 1;
    if (*p < '0' || *p > '9') return false;
    char *end;
    errno = 0;
    long long l = strtoll(p, &end, 10);
    if (errno || *end != '.' || l > 100000) return false;
    p = end + 1;
    char parent[16], mod[16];
    const char *d1 = strchr(p, '.');
    if (!d1 || (size_t)(d1 - p) >= sizeof parent) return false;
    memcpy(parent, p, (size_t)(d1 - p));
    parent[d1 - p] = 0;
    p = d1 + 1;
    const char *d2 = strchr(p, '.');
    if (!d2 || (size_t)(d2 - p) >= sizeof mod) return false;
    memcpy(mod, p, (size_t)(d2 - p));
    mod[d2 - p] = 0;
    if (!train_target_parse_hf(mod, t) || strcmp(parent, train_target_hf_parent(*t)) != 0)
        return false;
    if (!strcmp(d2, ".lora_A.weight")) *ab = 'A';
    else if (!strcmp(d2, ".lora_B.weight")) *ab = 'B';
    else return false;
    *layer = l;
    return true;
}

rw_status train_adapter_read_peft(const char *dir, const char *arch, int64_t n_head,
                                  int64_t n_head_kv, train_adapter *out, rw_err *err) {
    rw_status st = RW_OK;
    char *p_cfg = train_io_join(dir, "adapter_config.json");
    char *p_st = train_io_join(dir, "adapter_model.safetensors");
    char *cfg_txt = NULL, *st_buf = NULL;
    size_t cfg_len = 0, st_len = 0;
    json_t *cfg = NULL;
    train_st sf = {0};
    train_adapter a;
    memset(&a, 0, sizeof a);
    if (!p_cfg || !p_st) goto nomem;
    if ((st = data_file_read(p_cfg, 1 << 20, &cfg_txt, &cfg_len, err))) goto fail;
    json_error_t je;
    cfg = json_loadb(cfg_txt, cfg_len, 0, &je);
    if (!cfg || !json_is_object(cfg)) {
        st = rw_err_set(err, RW_E_FORMAT, "%s:%d:%d: %s", p_cfg, je.line, je.column,
                        cfg ? "not a JSON object" : je.text);
        goto fail;
    }
    json_t *v = json_object_get(cfg, "peft_type");
    if (!json_is_string(v) || strcmp(json_string_value(v), "LORA") != 0) {
        st = rw_err_set(err, RW_E_UNSUPPORTED, "%s: peft_type must be \"LORA\"", p_cfg);
        goto fail;
    }
    v = json_object_get(cfg, "r");
    json_int_t r = json_is_integer(v) ? json_integer_value(v) : 8;
    if (v && !json_is_integer(v)) {
        st = rw_err_set(err, RW_E_FORMAT, "%s: field 'r' must be an integer", p_cfg);
        goto fail;
    }
    v = json_object_get(cfg, "lora_alpha");
    double alpha = v ? json_number_value(v) : 8.0;
    if (v && !json_is_number(v)) {
        st = rw_err_set(err, RW_E_FORMAT, "%s: field 'lora_alpha' must be a number", p_cfg);
        goto fail;
    }
    static const char *const unsupported_true[] = {"use_dora", "fan_in_fan_out"};
    for (int i = 0; i < 2; i++)
        if (json_is_true(json_object_get(cfg, unsupported_true[i]))) {
            st = rw_err_set(err, RW_E_UNSUPPORTED, "%s: %s = true is not supported", p_cfg,
                            unsupported_true[i]);
            goto fail;
        }
    static const char *const patterns[] = {"rank_pattern", "alpha_pattern"};
    for (int i = 0; i < 2; i++) {
        json_t *pv = json_object_get(cfg, patterns[i]);
        if (pv && !json_is_null(pv) && (!json_is_object(pv) || json_object_size(pv) != 0)) {
            st = rw_err_set(err, RW_E_UNSUPPORTED, "%s: a non-empty %s is not supported", p_cfg,
                            patterns[i]);
            goto fail;
        }
    }
    bool rslora = json_is_true(json_object_get(cfg, "use_rslora"));
    if ((st = data_file_read(p_st, (size_t)1 << 34, &st_buf, &st_len, err))) goto fail;
    if ((st = train_st_parse(st_buf, st_len, p_st, &sf, err))) goto fail;
    a.pairs = rw_calloc(sf.n / 2 + 1, sizeof *a.pairs);
    if (!a.pairs) goto nomem;
    snprintf(a.arch, sizeof a.arch, "%s", arch);
    a.n_head = n_head;
    a.n_head_kv = n_head_kv;
    bool llama = is_llama(arch);
    for (size_t i = 0; i < sf.n; i++) {
        int64_t layer;
        train_target tg;
        char ab;
        if (!parse_peft_key(sf.t[i].name, &layer, &tg, &ab)) {
            st = rw_err_set(err, RW_E_UNSUPPORTED,
                            "%s: tensor '%s' is not a lora_A/lora_B weight of a decoder "
                            "q/k/v/o/gate/up/down projection (modules_to_save and embeddings "
                            "cannot go to GGUF LoRA)",
                            p_st, sf.t[i].name);
            goto fail;
        }
        if (ab != 'A') continue;
        char bkey[160];
        train_adapter_pair tmp = {.layer = layer, .target = tg};
        peft_key(&tmp, "B", bkey, sizeof bkey);
        long ib = train_st_find(&sf, bkey);
        if (ib < 0) {
            st = rw_err_set(err, RW_E_FORMAT, "%s: '%s' has no '%s'", p_st, sf.t[i].name, bkey);
            goto fail;
        }
        const train_st_tensor *ta = &sf.t[i], *tb = &sf.t[ib];
        if (ta->n_dims != 2 || tb->n_dims != 2 || ta->shape[0] != r || tb->shape[1] != r ||
            ta->shape[1] <= 0 || tb->shape[0] <= 0) {
            st = rw_err_set(err, RW_E_FORMAT,
                            "%s: '%s' must be (r=%lld, in) and its lora_B (out, r)", p_st,
                            ta->name, (long long)r);
            goto fail;
        }
        train_adapter_pair *p = &a.pairs[a.n];
        *p = tmp;
        p->rank = r;
        p->n_in = ta->shape[1];
        p->n_out = tb->shape[0];
        p->a = rw_alloc_array(ta->n_elems, sizeof(float));
        p->b = rw_alloc_array(tb->n_elems, sizeof(float));
        a.n++;
        if (!p->a || !p->b) goto nomem;
        if ((st = train_st_to_f32(ta, p->a, err)) || (st = train_st_to_f32(tb, p->b, err))) goto fail;
        if (llama && (tg == TRAIN_T_ATTN_Q || tg == TRAIN_T_ATTN_K) &&
            (st = permute_rows(p->b, p->n_out, p->rank, tg == TRAIN_T_ATTN_Q ? n_head : n_head_kv,
                               true, err))) {
            rw_err_prefix(err, "%s: ", p_st);
            goto fail;
        }
    }
    if (a.n * 2 != sf.n || a.n == 0) {
        st = rw_err_set(err, RW_E_FORMAT, "%s: lora_A and lora_B tensors do not pair up (%zu tensors)",
                        p_st, sf.n);
        goto fail;
    }
    a.alpha = (float)(rslora ? alpha * sqrt((double)r) : alpha);
    qsort(a.pairs, a.n, sizeof *a.pairs, pair_cmp);
    *out = a;
    memset(&a, 0, sizeof a);
    goto done;
nomem:
    st = rw_err_set(err, RW_E_NOMEM, "%s: out of memory reading PEFT files", dir);
fail:
done:
    train_adapter_deinit(&a);
    train_st_free(&sf);
    json_decref(cfg);
    rw_free(cfg_txt);
    rw_free(st_buf);
    rw_free(p_cfg);
    rw_free(p_st);
    return st;
}
