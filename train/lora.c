/* Trainable LoRA parameter sets in one flat block (train/lora.h).
 *
 * Reference for the initialisation and scaling: PEFT's LoraLayer (reset_lora_parameters:
 * kaiming_uniform_(A, a=sqrt(5)) -> bound 1/sqrt(fan_in), B zeros; scaling alpha/r, or
 * alpha/sqrt(r) with use_rslora; lora_dropout on the adapter input). Read for facts only. */
#include "train/lora.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "core/rng.h"
#include "kernels/quant.h"

typedef struct full_entry {
    rw_tensor *t;   /* the model's descriptor (repointed) */
    rw_tensor orig; /* its original contents, restored on destroy */
    rw_tensor grad; /* view into the gradient block */
    size_t off;
} full_entry;

struct train_lora {
    infer_model *m;
    train_lora_pair *pairs;
    infer_linear **lins; /* [n_pairs] the linear each pair is attached to */
    rw_tensor *views;    /* [4 * n_pairs]: a, b, grad a, grad b */
    size_t n_pairs;
    full_entry *full;
    size_t n_full;
    float alpha;
    float dropout;         /* cfg->dropout */
    rw_rng drop_rng;       /* dropout masks */
    float *params, *grads; /* owned, n floats each */
    size_t n;
    bool attached;
};

void train_lora_cfg_default(train_lora_cfg *cfg) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->targets = NULL;
    cfg->layer_first = 0;
    cfg->layer_last = -1;
    cfg->rank = 8;
    cfg->alpha = 16.0f;
    cfg->seed = 1;
}

/* Next comma-separated token of *s (spaces trimmed) into buf; false at the end. */
static bool next_token(const char **s, char *buf, size_t cap) {
    const char *p = *s;
    while (*p == ',' || isspace((unsigned char)*p))
        p++;
    if (!*p) return false;
    const char *e = p;
    while (*e && *e != ',')
        e++;
    const char *te = e;
    while (te > p && isspace((unsigned char)te[-1]))
        te--;
    size_t n = (size_t)(te - p);
    if (n >= cap) n = cap - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    *s = e;
    return true;
}

size_t train_lora_n_pairs(const train_lora *l) {
    return l->n_pairs;
}
const train_lora_pair *train_lora_pair_at(const train_lora *l, size_t i) {
    RW_ASSERT(i < l->n_pairs, "pair index");
    return &l->pairs[i];
}
size_t train_lora_n_full(const train_lora *l) {
    return l->n_full;
}
rw_tensor *train_lora_full_at(const train_lora *l, size_t i) {
    RW_ASSERT(i < l->n_full, "full tensor index");
    return l->full[i].t;
}
float train_lora_alpha(const train_lora *l) {
    return l->alpha;
}
size_t train_lora_n_params(const train_lora *l) {
    return l->n;
}
float *train_lora_params(train_lora *l) {
    return l->params;
}
float *train_lora_grads(train_lora *l) {
    return l->grads;
}
void train_lora_zero_grad(train_lora *l) {
    memset(l->grads, 0, l->n * sizeof(float));
}
rw_rng *train_lora_dropout_rng(train_lora *l) {
    return &l->drop_rng;
}

void train_lora_set_dropout(train_lora *l, bool enabled) {
    for (size_t k = 0; k < l->n_pairs; k++) {
        infer_linear *lin = l->lins[k];
        for (int i = 0; i < lin->n_lora; i++)
            if (lin->lora[i].a == l->pairs[k].a) lin->lora[i].dropout = enabled ? l->dropout : 0.0f;
    }
}

static void detach(train_lora *l) {
    if (!l->attached) return;
    for (size_t k = 0; k < l->n_pairs; k++) {
        infer_linear *lin = l->lins[k];
        for (int i = 0; i < lin->n_lora; i++)
            if (lin->lora[i].a == l->pairs[k].a) {
                memmove(&lin->lora[i], &lin->lora[i + 1],
                        (size_t)(lin->n_lora - i - 1) * sizeof(lin->lora[0]));
                lin->n_lora--;
                memset(&lin->lora[lin->n_lora], 0, sizeof(lin->lora[0])); /* no stale dropout */
                break;
            }
    }
    for (size_t k = 0; k < l->n_full; k++)
        *l->full[k].t = l->full[k].orig;
    l->attached = false;
}

void train_lora_destroy(train_lora *l) {
    if (!l) return;
    detach(l);
    rw_free(l->pairs);
    rw_free(l->lins);
    rw_free(l->views);
    rw_free(l->full);
    rw_free(l->params);
    rw_free(l->grads);
    rw_free(l);
}

/* Collects (or counts, when l->pairs is NULL) the pairs cfg selects. */
static rw_status collect(train_lora *l, const train_lora_cfg *cfg, int64_t lf, int64_t ll,
                         size_t *count, rw_err *err) {
    infer_model *m = l->m;
    const char *targets = cfg->targets ? cfg->targets : TRAIN_LORA_DEFAULT_TARGETS;
    size_t n = 0;
    char tok[64], name[96];
    const char *s = targets;
    while (next_token(&s, tok, sizeof(tok))) {
        bool any = false;
        const bool head = strcmp(tok, "output") == 0;
        for (int64_t il = head ? 0 : lf; il <= (head ? 0 : ll); il++) {
            if (head)
                snprintf(name, sizeof(name), "output.weight");
            else
                snprintf(name, sizeof(name), "blk.%lld.%s.weight", (long long)il, tok);
            infer_linear *lin = infer_model_linear(m, name);
            if (!lin) continue;
            any = true;
            if (l->pairs) {
                train_lora_pair *p = &l->pairs[n];
                snprintf(p->base, sizeof(p->base), "%s", name);
                p->layer = head ? -1 : il;
                p->n_in = lin->w->ne[0];
                p->n_out = rw_tensor_nrows(lin->w);
                p->rank = cfg->rank;
                l->lins[n] = lin;
            }
            n++;
        }
        if (!any && cfg->targets) /* the default list may name modules an arch lacks */
            return rw_err_set(err, RW_E_NOTFOUND,
                              "LoRA target '%s' matches no linear weight of this %s model in "
                              "layers %lld..%lld",
                              tok, m->arch_name, (long long)lf, (long long)ll);
    }
    *count = n;
    return RW_OK;
}

static bool is_full_target(const char *name, const char *list) {
    if (!list || !name) return false;
    char tok[64];
    const char *s = list;
    while (next_token(&s, tok, sizeof(tok)))
        if (tok[0] && strstr(name, tok)) return true;
    return false;
}

rw_status train_lora_create(infer_model *m, const train_lora_cfg *cfg, train_lora **out,
                            rw_err *err) {
    rw_status st = RW_OK;
    train_lora *l = NULL;
    const int64_t L = m->hp.n_layer;
    const int64_t lf = cfg->layer_first, ll = cfg->layer_last < 0 ? L - 1 : cfg->layer_last;
    if (cfg->rank <= 0 || cfg->rank > 4096)
        return rw_err_set(err, RW_E_INVALID, "LoRA rank %lld outside 1..4096",
                          (long long)cfg->rank);
    if (lf < 0 || lf > ll || ll >= L)
        return rw_err_set(err, RW_E_INVALID,
                          "LoRA layer range %lld..%lld outside the model's "
                          "0..%lld",
                          (long long)lf, (long long)ll, (long long)(L - 1));
    if (!(cfg->alpha >= 0.0f) || !isfinite(cfg->alpha))
        return rw_err_set(err, RW_E_INVALID, "LoRA alpha %g must be >= 0", (double)cfg->alpha);
    if (!(cfg->dropout >= 0.0f && cfg->dropout < 1.0f))
        return rw_err_set(err, RW_E_INVALID, "LoRA dropout %g outside [0, 1)",
                          (double)cfg->dropout);
    l = rw_calloc(1, sizeof(*l));
    if (!l) return rw_err_set(err, RW_E_NOMEM, "train_lora");
    l->m = m;
    size_t np = 0;
    if ((st = collect(l, cfg, lf, ll, &np, err)) != RW_OK) goto fail;
    size_t nf = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        if (is_full_target(m->tensors[i].name, cfg->full_targets)) nf++;
    if (cfg->full_targets && cfg->full_targets[0] && nf == 0) {
        st = rw_err_set(err, RW_E_NOTFOUND, "full-training target '%s' matches no tensor",
                        cfg->full_targets);
        goto fail;
    }
    l->pairs = rw_calloc(np ? np : 1, sizeof(*l->pairs));
    l->lins = rw_calloc(np ? np : 1, sizeof(*l->lins));
    l->views = rw_calloc(4 * (np ? np : 1), sizeof(*l->views));
    l->full = rw_calloc(nf ? nf : 1, sizeof(*l->full));
    if (!l->pairs || !l->lins || !l->views || !l->full) {
        st = rw_err_set(err, RW_E_NOMEM, "LoRA pair tables (%zu pairs)", np);
        goto fail;
    }
    if ((st = collect(l, cfg, lf, ll, &np, err)) != RW_OK) goto fail;
    l->n_pairs = np;
    /* capacity check before anything is attached */
    for (size_t k = 0; k < np; k++) {
        int extra = 0;
        for (size_t j = 0; j <= k; j++)
            extra += l->lins[j] == l->lins[k];
        if (l->lins[k]->n_lora + extra > INFER_MAX_LORA) {
            st = rw_err_set(err, RW_E_RANGE, "'%s': more than %d adapters attached",
                            l->pairs[k].base, INFER_MAX_LORA);
            goto fail;
        }
    }
    /* layout */
    size_t n = 0;
    for (size_t k = 0; k < np; k++) {
        train_lora_pair *p = &l->pairs[k];
        p->off_a = n;
        n += (size_t)(p->n_in * p->rank);
        p->off_b = n;
        n += (size_t)(p->rank * p->n_out);
    }
    for (size_t i = 0, f = 0; i < m->n_tensors; i++) {
        rw_tensor *t = &m->tensors[i];
        if (!is_full_target(t->name, cfg->full_targets)) continue;
        if (t->type != RW_DTYPE_F32 && t->type != RW_DTYPE_F16 && t->type != RW_DTYPE_BF16) {
            st = rw_err_set(err, RW_E_UNSUPPORTED,
                            "full training of '%s': type %d is quantized "
                            "(only F32/F16/BF16 tensors can be trained in full)",
                            t->name, (int)t->type);
            goto fail;
        }
        l->full[f].t = t;
        l->full[f].off = n;
        n += (size_t)rw_tensor_nelements(t);
        f++;
    }
    l->n_full = nf;
    l->n = n;
    l->params = rw_calloc(n ? n : 1, sizeof(float));
    l->grads = rw_calloc(n ? n : 1, sizeof(float));
    if (!l->params || !l->grads) {
        st = rw_err_set(err, RW_E_NOMEM, "LoRA parameter blocks: 2 x %zu floats", n);
        goto fail;
    }
    l->alpha = cfg->alpha > 0.0f ? cfg->alpha : (float)cfg->rank;
    const double scale = cfg->rslora ? (double)l->alpha / sqrt((double)cfg->rank)
                                     : (double)l->alpha / (double)cfg->rank;
    rw_rng rng;
    rw_rng_seed(&rng, cfg->seed);
    for (size_t k = 0; k < np; k++) {
        train_lora_pair *p = &l->pairs[k];
        rw_tensor *va = &l->views[4 * k], *vb = va + 1, *ga = va + 2, *gb = va + 3;
        int64_t nea[2] = {p->n_in, p->rank}, neb[2] = {p->rank, p->n_out};
        RW_ASSERT(rw_tensor_init(va, RW_DTYPE_F32, 2, nea, l->params + p->off_a) &&
                      rw_tensor_init(vb, RW_DTYPE_F32, 2, neb, l->params + p->off_b) &&
                      rw_tensor_init(ga, RW_DTYPE_F32, 2, nea, l->grads + p->off_a) &&
                      rw_tensor_init(gb, RW_DTYPE_F32, 2, neb, l->grads + p->off_b),
                  "LoRA views");
        va->name = p->base;
        vb->name = p->base;
        va->flags = vb->flags = RW_TENSOR_PARAM;
        va->grad = ga;
        vb->grad = gb;
        p->a = va;
        p->b = vb;
        p->scale = (float)scale;
        const double bound = 1.0 / sqrt((double)p->n_in);
        float *a = l->params + p->off_a;
        for (int64_t i = 0; i < p->n_in * p->rank; i++)
            a[i] = (float)((2.0 * rw_rng_uniform(&rng) - 1.0) * bound);
    }
    for (size_t f = 0; f < nf; f++) {
        full_entry *e = &l->full[f];
        rw_tensor *t = e->t;
        e->orig = *t;
        float *dst = l->params + e->off;
        const kern_type_traits *tr = kern_type_get(t->type);
        const int64_t C = t->ne[0], R = rw_tensor_nrows(t);
        for (int64_t r = 0; r < R; r++)
            tr->to_float((const unsigned char *)t->data + (size_t)r * t->nb[1], dst + r * C, C);
        RW_ASSERT(rw_tensor_init(&e->grad, RW_DTYPE_F32, t->n_dims, t->ne, l->grads + e->off),
                  "full grad view");
        rw_tensor nt;
        RW_ASSERT(rw_tensor_init(&nt, RW_DTYPE_F32, t->n_dims, t->ne, dst), "full view");
        nt.name = t->name;
        nt.flags = RW_TENSOR_PARAM;
        nt.grad = &e->grad;
        *t = nt;
    }
    for (size_t k = 0; k < np; k++) {
        infer_linear *lin = l->lins[k];
        lin->lora[lin->n_lora++] = (infer_lora_ref){.a = l->pairs[k].a,
                                                    .b = l->pairs[k].b,
                                                    .scale = l->pairs[k].scale,
                                                    .dropout = cfg->dropout,
                                                    .rng = &l->drop_rng};
    }
    l->dropout = cfg->dropout;
    rw_rng_seed(&l->drop_rng, cfg->seed ^ 0x9e3779b97f4a7c15ull);
    l->attached = true;
    *out = l;
    return RW_OK;
fail:
    train_lora_destroy(l);
    return st;
}
