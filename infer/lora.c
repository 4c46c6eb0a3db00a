/* LoRA adapter loading, validation, attachment and merge (infer/lora.h).
 *
 * Validation follows llama.cpp's adapter loader rules (checked here before anything is
 * attached, so a refused adapter leaves the model untouched). Merge computes, per adapted
 * weight, W' = dequant(W) + sum_i s_i B_i A_i in f32 (A_i: r rows of n_in, B_i: n_out rows
 * of r), then requantizes with the reference quantizer. */
#include "infer/lora.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "kernels/blas.h"
#include "kernels/quant.h"

typedef struct lora_pair {
    char base[INFER_LORA_BASE_MAX];
    rw_tensor *a, *b;
} lora_pair;

struct infer_lora {
    infer_gguf *g;
    rw_tensor *tensors; /* one view per GGUF tensor */
    lora_pair *pairs;
    size_t n_pairs;
    float alpha;
};

void infer_lora_destroy(infer_lora *l) {
    if (!l) return;
    rw_free(l->pairs);
    rw_free(l->tensors);
    infer_gguf_close(l->g);
    rw_free(l);
}

float infer_lora_alpha(const infer_lora *l) {
    return l->alpha;
}
size_t infer_lora_n_pairs(const infer_lora *l) {
    return l->n_pairs;
}
int64_t infer_lora_rank(const infer_lora *l, size_t i) {
    return l->pairs[i].b->ne[0];
}
const char *infer_lora_base_name(const infer_lora *l, size_t i) {
    return l->pairs[i].base;
}

float infer_lora_scale(const infer_lora *l, size_t i, float user_scale) {
    int64_t r = infer_lora_rank(l, i);
    return l->alpha != 0.0f ? user_scale * l->alpha / (float)r : user_scale;
}

static rw_status need_str(const infer_gguf *g, const char *key, const char *want, rw_err *err) {
    infer_gguf_str s;
    rw_status st = infer_gguf_get_str(g, key, &s, err);
    if (st != RW_OK) return st;
    if (!infer_gguf_str_eq(s, want))
        return rw_err_set(err, RW_E_FORMAT, "%s = '%.*s', expected '%s'", key,
                          (int)(s.len > 40 ? 40 : s.len), s.ptr, want);
    return RW_OK;
}

static bool ends_with(const char *s, const char *suf, size_t *stem) {
    size_t n = strlen(s), m = strlen(suf);
    if (n <= m || strcmp(s + n - m, suf) != 0) return false;
    *stem = n - m;
    return true;
}

/* The other half of tensor `name` (stem chars, then ".lora_a" or ".lora_b"): its index, or -1. */
static int64_t other_half(const infer_gguf *g, const char *name, size_t stem, bool is_a) {
    char other[INFER_LORA_BASE_MAX + 8];
    memcpy(other, name, stem);
    memcpy(other + stem, is_a ? ".lora_b" : ".lora_a", sizeof ".lora_a");
    return infer_gguf_find_tensor(g, other);
}

static rw_status check_gguf(const infer_gguf *g, rw_err *err) {
    rw_status st;
    if ((st = need_str(g, "general.type", "adapter", err)) != RW_OK) return st;
    if ((st = need_str(g, "adapter.type", "lora", err)) != RW_OK) return st;
    if (infer_gguf_find_key(g, "adapter.lora.alpha") >= 0) {
        float alpha;
        if ((st = infer_gguf_get_f32(g, "adapter.lora.alpha", &alpha, err)) != RW_OK) return st;
        if (!isfinite(alpha)) /* scale = alpha / rank would poison every output with NaN/Inf */
            return rw_err_set(err, RW_E_FORMAT, "adapter.lora.alpha = %g is not finite",
                              (double)alpha);
    }
    const uint64_t nt = infer_gguf_n_tensors(g);
    uint64_t n_pairs = 0;
    for (uint64_t i = 0; i < nt; i++) {
        const infer_gguf_tensor_info *t = infer_gguf_tensor_info_at(g, i);
        size_t stem;
        const bool is_a = ends_with(t->name, ".lora_a", &stem);
        if (!is_a && !ends_with(t->name, ".lora_b", &stem))
            return rw_err_set(err, RW_E_FORMAT,
                              "tensor '%s': unexpected suffix (want .lora_a or .lora_b)", t->name);
        if (stem >= INFER_LORA_BASE_MAX)
            return rw_err_set(err, RW_E_FORMAT, "tensor '%s': name too long (base over %d bytes)",
                              t->name, INFER_LORA_BASE_MAX - 1);
        if (t->ne[2] != 1 || t->ne[3] != 1)
            return rw_err_set(
                err, RW_E_FORMAT, "tensor '%s': ne=[%lld, %lld, %lld, %lld] is not 2-D", t->name,
                (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
        /* Tensor names are unique in a GGUF (the reader refuses duplicates), so a present
         * other half makes the pair complete and listed once. */
        const int64_t j = other_half(g, t->name, stem, is_a);
        if (j < 0)
            return rw_err_set(err, RW_E_FORMAT, "'%.*s': lora_%s is missing (both halves needed)",
                              (int)stem, t->name, is_a ? "b" : "a");
        if (!is_a) continue;
        n_pairs++;
        const infer_gguf_tensor_info *b = infer_gguf_tensor_info_at(g, (uint64_t)j);
        if (t->ne[1] != b->ne[0] || t->ne[0] < 1 || b->ne[1] < 1)
            return rw_err_set(err, RW_E_FORMAT,
                              "'%.*s': lora_a ne=[%lld, %lld] and lora_b ne=[%lld, %lld] do not "
                              "fit lora_a [n_in, r], lora_b [r, n_out]",
                              (int)stem, t->name, (long long)t->ne[0], (long long)t->ne[1],
                              (long long)b->ne[0], (long long)b->ne[1]);
        if (t->ne[1] < 1) /* rank 0: scale alpha / rank divides by zero */
            return rw_err_set(err, RW_E_FORMAT, "'%.*s': LoRA rank is 0 (lora_a ne[1] = 0)",
                              (int)stem, t->name);
    }
    if (n_pairs == 0) return rw_err_set(err, RW_E_FORMAT, "adapter has no lora tensors");
    return RW_OK;
}

rw_status infer_lora_check_gguf(const infer_gguf *g, const char *label, rw_err *err) {
    rw_status st = check_gguf(g, err);
    if (st != RW_OK) rw_err_prefix(err, "%s: ", label);
    return st;
}

int64_t infer_lora_gguf_pair(const infer_gguf *g, uint64_t i, char *base) {
    const infer_gguf_tensor_info *t = infer_gguf_tensor_info_at(g, i);
    size_t stem;
    if (!ends_with(t->name, ".lora_a", &stem)) return -1;
    RW_ASSERT(stem < INFER_LORA_BASE_MAX, "'%s': not a checked adapter", t->name);
    memcpy(base, t->name, stem);
    base[stem] = 0;
    return other_half(g, t->name, stem, true);
}

rw_status infer_lora_load(const char *path, const infer_model *base, infer_lora **out,
                          rw_err *err) {
    infer_gguf *g = NULL;
    rw_status st = infer_gguf_open(path, &g, err); /* its messages name the path */
    if (st != RW_OK) return st;
    return infer_lora_open_gguf(g, path, base, out, err);
}

rw_status infer_lora_open_gguf(infer_gguf *g, const char *path, const infer_model *base,
                               infer_lora **out, rw_err *err) {
    rw_status st = infer_lora_check_gguf(g, path, err); /* its messages name the path */
    if (st != RW_OK) {
        infer_gguf_close(g);
        return st;
    }
    infer_lora *l = rw_calloc(1, sizeof(*l));
    if (!l) {
        infer_gguf_close(g);
        return rw_err_set(err, RW_E_NOMEM, "lora");
    }
    l->g = g;
    infer_gguf_str arch;
    if ((st = infer_gguf_get_str(l->g, "general.architecture", &arch, err)) != RW_OK) goto fail;
    if (!infer_gguf_str_eq(arch, base->arch_name)) {
        st =
            rw_err_set(err, RW_E_FORMAT, "general.architecture = '%.*s' but the base model is '%s'",
                       (int)(arch.len > 40 ? 40 : arch.len), arch.ptr, base->arch_name);
        goto fail;
    }
    l->alpha = 0.0f; /* absent = no alpha scaling; present: checked finite above */
    if (infer_gguf_find_key(l->g, "adapter.lora.alpha") >= 0 &&
        (st = infer_gguf_get_f32(l->g, "adapter.lora.alpha", &l->alpha, err)) != RW_OK)
        goto fail;
    const size_t nt = (size_t)infer_gguf_n_tensors(l->g);
    l->tensors = rw_calloc(nt, sizeof(rw_tensor)); /* nt >= 2: checked above */
    l->pairs = rw_calloc(nt, sizeof(lora_pair));
    if (!l->tensors || !l->pairs) {
        st = rw_err_set(err, RW_E_NOMEM, "lora tensors");
        goto fail;
    }
    for (size_t i = 0; i < nt; i++) {
        if ((st = infer_gguf_tensor_at(l->g, i, &l->tensors[i])) != RW_OK) goto fail;
        const kern_type_traits *tr = kern_type_get(l->tensors[i].type);
        if (!tr || !tr->vec_dot) {
            st = rw_err_set(err, RW_E_UNSUPPORTED, "tensor '%s': unsupported type %u",
                            l->tensors[i].name, (unsigned)l->tensors[i].type);
            goto fail;
        }
    }
    for (size_t i = 0; i < nt; i++) {
        lora_pair *p = &l->pairs[l->n_pairs];
        const int64_t ib = infer_lora_gguf_pair(l->g, i, p->base);
        if (ib < 0) continue; /* a lora_b: reached from its lora_a */
        p->a = &l->tensors[i];
        p->b = &l->tensors[ib];
        l->n_pairs++;
        infer_linear *lin = infer_model_linear((infer_model *)base, p->base);
        if (!lin) {
            st = rw_err_set(err, RW_E_NOTFOUND,
                            "'%s': no such adaptable weight in the %s base "
                            "model",
                            p->base, base->arch_name);
            goto fail;
        }
        const rw_tensor *w = lin->w;
        if (p->a->ne[0] != w->ne[0] || p->b->ne[1] != w->ne[1]) {
            st = rw_err_set(err, RW_E_FORMAT,
                            "'%s': lora_a ne=[%lld, %lld], lora_b ne=[%lld, %lld] do not fit the "
                            "base weight ne=[%lld, %lld] (want lora_a [n_in, r], lora_b [r, "
                            "n_out])",
                            p->base, (long long)p->a->ne[0], (long long)p->a->ne[1],
                            (long long)p->b->ne[0], (long long)p->b->ne[1], (long long)w->ne[0],
                            (long long)w->ne[1]);
            goto fail;
        }
    }
    *out = l;
    return RW_OK;
fail:
    rw_err_prefix(err, "%s: ", path);
    infer_lora_destroy(l);
    return st;
}

rw_status infer_model_attach_lora(infer_model *m, infer_lora *l, float user_scale, rw_err *err) {
    for (size_t k = 0; k < l->n_pairs; k++) {
        infer_linear *lin = infer_model_linear(m, l->pairs[k].base);
        if (!lin || lin->n_lora >= INFER_MAX_LORA)
            return rw_err_set(err, RW_E_RANGE, "'%s': more than %d adapters attached",
                              l->pairs[k].base, INFER_MAX_LORA);
    }
    for (size_t k = 0; k < l->n_pairs; k++) {
        infer_linear *lin = infer_model_linear(m, l->pairs[k].base);
        infer_lora_ref *r = &lin->lora[lin->n_lora++];
        r->a = l->pairs[k].a;
        r->b = l->pairs[k].b;
        r->scale = infer_lora_scale(l, k, user_scale);
    }
    return RW_OK;
}

void infer_model_detach_loras(infer_model *m) {
    m->output.n_lora = 0;
    for (int64_t il = 0; il < m->hp.n_layer; il++) {
        infer_layer *L = &m->layers[il];
        infer_linear *all[7] = {&L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down};
        for (int k = 0; k < 7; k++)
            all[k]->n_lora = 0;
    }
}

/* W (n_out x n_in f32, row-major) += s * B (n_out x r) . A (r x n_in). */
static rw_status merge_one(float *w, const infer_lora_ref *r, int64_t n_in, int64_t n_out,
                           rw_err *err) {
    const int64_t R = r->a->ne[1];
    float *a = rw_alloc_array((size_t)(R * n_in), sizeof(float));
    float *b = rw_alloc_array((size_t)(R * n_out), sizeof(float));
    if (!a || !b) {
        rw_free(a);
        rw_free(b);
        return rw_err_set(err, RW_E_NOMEM, "lora merge buffers");
    }
    kern_dequantize(r->a->type, r->a->data, a, R, n_in);
    kern_dequantize(r->b->type, r->b->data, b, n_out, R);
    kern_sgemm(false, false, n_out, n_in, R, r->scale, b, R, a, n_in, 1.0f, w, n_in);
    rw_free(a);
    rw_free(b);
    return RW_OK;
}

rw_status infer_lora_merge_export(const infer_model *m, const char *out_path, bool out_type_f32,
                                  rw_err *err) {
    rw_status st;
    infer_gguf_writer *w = NULL;
    void **bufs = rw_calloc(m->n_tensors ? m->n_tensors : 1, sizeof(void *));
    if (!bufs) return rw_err_set(err, RW_E_NOMEM, "merge");
    if ((st = infer_gguf_writer_create(&w, err)) != RW_OK) goto done;
    if ((st = infer_gguf_writer_copy_kv(w, m->gguf, "", err)) != RW_OK) goto done;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const rw_tensor *t = &m->tensors[i];
        infer_linear *lin = infer_model_linear((infer_model *)m, t->name);
        const void *data = t->data;
        rw_dtype type = t->type;
        if (lin && lin->n_lora > 0) {
            const int64_t n_in = t->ne[0], n_out = t->ne[1];
            float *wf = rw_alloc_array((size_t)(n_in * n_out), sizeof(float));
            if (!wf) {
                st = rw_err_set(err, RW_E_NOMEM, "merge of '%s'", t->name);
                goto done;
            }
            bufs[i] = wf;
            kern_dequantize(t->type, t->data, wf, n_out, n_in);
            for (int k = 0; k < lin->n_lora; k++)
                if ((st = merge_one(wf, &lin->lora[k], n_in, n_out, err)) != RW_OK) goto done;
            if (!out_type_f32 && t->type != RW_DTYPE_F32) {
                void *q = rw_alloc_array((size_t)n_out, kern_row_bytes(t->type, n_in));
                if (!q) {
                    st = rw_err_set(err, RW_E_NOMEM, "merge of '%s'", t->name);
                    goto done;
                }
                kern_quantize(t->type, wf, q, n_out, n_in);
                rw_free(wf);
                bufs[i] = q;
            } else {
                type = RW_DTYPE_F32;
            }
            data = bufs[i];
        }
        int nd = t->n_dims < 1 ? 1 : t->n_dims;
        if ((st = infer_gguf_writer_add_tensor(w, t->name, type, nd, t->ne, data, err)) != RW_OK)
            goto done;
    }
    st = infer_gguf_writer_write(w, out_path, err);
done:
    infer_gguf_writer_destroy(w);
    for (size_t i = 0; i < m->n_tensors; i++)
        rw_free(bufs[i]);
    rw_free(bufs);
    return st;
}
