/* The op layer (infer/ops.h): arena-allocated outputs, kernel calls, tape records.
 *
 * Invariant: an op either returns a fully computed output or NULL with ctx->status set;
 * a record is pushed only after the output is computed, so the tape never holds an op whose
 * output is garbage. Saved buffers are copied into the arena (callers' arrays may die). */
#include "infer/ops.h"

#include <math.h>
#include <string.h>

#include "core/assert.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

void infer_ctx_init(infer_ctx *ctx, rw_arena *arena, rw_pool *pool, rw_tape *tape) {
    memset(ctx, 0, sizeof(*ctx));
    ctx->arena = arena;
    ctx->pool = pool;
    ctx->tape = tape;
    ctx->status = RW_OK;
}

rw_status infer_ctx_error(const infer_ctx *ctx, rw_err *err) {
    if (err && ctx->status != RW_OK) *err = ctx->err;
    return ctx->status;
}

static void ctx_fail(infer_ctx *ctx, rw_status st, const char *what, size_t n) {
    if (ctx->status != RW_OK) return;
    ctx->status = st;
    rw_err_set(&ctx->err, st, "step arena full: %s needs %zu more bytes (capacity %zu, used %zu)",
               what, n, ctx->arena->cap, ctx->arena->used);
}

void *infer_scratch(infer_ctx *ctx, size_t n) {
    if (ctx->status != RW_OK) return NULL;
    void *p = rw_arena_alloc(ctx->arena, n ? n : 1, 64);
    if (!p) ctx_fail(ctx, RW_E_NOMEM, "scratch", n);
    return p;
}

void infer_rollback(infer_ctx *ctx, size_t mark) {
    RW_ASSERT(!ctx->tape && mark <= ctx->arena->used, "rollback with a tape or past the end");
    ctx->arena->used = mark;
}

rw_tensor *infer_new(infer_ctx *ctx, rw_dtype type, int n_dims, const int64_t *ne) {
    if (ctx->status != RW_OK) return NULL;
    rw_tensor *t = rw_arena_alloc(ctx->arena, sizeof(rw_tensor), 16);
    if (!t) {
        ctx_fail(ctx, RW_E_NOMEM, "tensor descriptor", sizeof(rw_tensor));
        return NULL;
    }
    RW_ASSERT(rw_tensor_init(t, type, n_dims, ne, NULL), "bad tensor shape");
    size_t nb = rw_tensor_nbytes(t);
    t->data = rw_arena_alloc(ctx->arena, nb ? nb : 1, 64);
    if (!t->data) {
        ctx_fail(ctx, RW_E_NOMEM, "tensor data", nb);
        return NULL;
    }
    return t;
}

rw_tensor *infer_new_2d(infer_ctx *ctx, int64_t c, int64_t t) {
    int64_t ne[2] = {c, t};
    return infer_new(ctx, RW_DTYPE_F32, 2, ne);
}

rw_tensor *infer_zeros_2d(infer_ctx *ctx, int64_t c, int64_t t) {
    rw_tensor *r = infer_new_2d(ctx, c, t);
    if (r) memset(r->data, 0, rw_tensor_nbytes(r));
    return r;
}

static float *F(const rw_tensor *t) {
    return (float *)t->data;
}

static void check_f32(const rw_tensor *t, const char *op) {
    RW_ASSERT(t->type == RW_DTYPE_F32 && rw_tensor_is_contiguous(t),
              "%s: activation must be contiguous f32", op);
}

/* Copies `len` bytes into the arena for a tape record. */
static void *save(infer_ctx *ctx, const void *src, size_t len) {
    void *p = infer_scratch(ctx, len);
    if (p && src) memcpy(p, src, len);
    return p;
}

static bool recording(const infer_ctx *ctx, rw_tensor *const *src, int n) {
    if (!ctx->tape) return false;
    for (int i = 0; i < n; i++)
        if (rw_tensor_needs_grad(src[i])) return true;
    return false;
}

/* Pushes one record (flags dst). Returns dst, or NULL when the tape cannot grow. */
static rw_tensor *record(infer_ctx *ctx, rw_op op, rw_tensor *dst, rw_tensor *const *src, int n,
                         const float *f, const int32_t *iv, void *saved, size_t saved_len) {
    rw_tape_rec r;
    memset(&r, 0, sizeof(r));
    r.op = (int32_t)op;
    for (int k = 0; k < n; k++)
        r.src[k] = src[k];
    r.dst = dst;
    if (f) memcpy(r.f, f, sizeof(r.f));
    if (iv) memcpy(r.i, iv, sizeof(r.i));
    r.saved = saved;
    r.saved_len = saved_len;
    dst->flags |= RW_TENSOR_NEEDS_GRAD;
    rw_err e;
    rw_status st = rw_tape_push(ctx->tape, &r, &e);
    if (st != RW_OK) {
        if (ctx->status == RW_OK) {
            ctx->status = st;
            ctx->err = e;
        }
        return NULL;
    }
    return dst;
}

static int64_t nrows(const rw_tensor *t) {
    return rw_tensor_nrows(t);
}

/* ------------------------------------------------------------------ matmul */

rw_tensor *infer_op_matmul(infer_ctx *ctx, rw_tensor *w, rw_tensor *x) {
    if (!w || !x || ctx->status != RW_OK) return NULL;
    check_f32(x, "matmul");
    const int64_t K = w->ne[0], N = nrows(w), M = nrows(x);
    RW_ASSERT(x->ne[0] == K, "matmul: X has %lld columns, W %s expects %lld", (long long)x->ne[0],
              w->name ? w->name : "?", (long long)K);
    rw_tensor *y = infer_new_2d(ctx, N, M);
    if (!y) return NULL;
    const int nth = ctx->pool ? rw_pool_threads(ctx->pool) : 1;
    const rw_dtype wt = w->type;
    const bool plain = wt == RW_DTYPE_F32 || wt == RW_DTYPE_F16 || wt == RW_DTYPE_BF16;
    if (plain || !ctx->f32_activations) {
        size_t sb =
            M == 1 ? kern_matvec_scratch_bytes(wt, K) : kern_matmul_scratch_bytes(wt, N, K, M, nth);
        void *scr = infer_scratch(ctx, sb);
        if (!scr) return NULL;
        if (M == 1)
            kern_matvec(ctx->pool, wt, w->data, N, K, F(x), F(y), scr);
        else
            kern_matmul(ctx->pool, wt, w->data, N, K, F(x), M, F(y), false, scr);
    } else {
        /* Exact path: dequantize blocks of weight rows to f32, multiply in f32. */
        const int64_t R = 256;
        size_t save_used = ctx->arena->used;
        float *wf = infer_scratch(ctx, (size_t)(R * K) * sizeof(float));
        float *yc = infer_scratch(ctx, (size_t)(R * M) * sizeof(float));
        size_t sb = kern_matmul_scratch_bytes(RW_DTYPE_F32, R, K, M, nth);
        void *scr = infer_scratch(ctx, sb);
        if (!wf || !yc || !scr) return NULL;
        const size_t rb = kern_row_bytes(wt, K);
        for (int64_t r0 = 0; r0 < N; r0 += R) {
            int64_t nr = N - r0 < R ? N - r0 : R;
            kern_dequantize(wt, (const unsigned char *)w->data + (size_t)r0 * rb, wf, nr, K);
            kern_matmul(ctx->pool, RW_DTYPE_F32, wf, nr, K, F(x), M, yc, false, scr);
            for (int64_t m = 0; m < M; m++)
                memcpy(F(y) + m * N + r0, yc + m * nr, (size_t)nr * sizeof(float));
        }
        ctx->arena->used = save_used; /* scratch released; y was allocated before */
    }
    rw_tensor *src[2] = {w, x};
    if (recording(ctx, src, 2)) return record(ctx, RW_OP_MATMUL, y, src, 2, NULL, NULL, NULL, 0);
    return y;
}

/* ------------------------------------------------------------------ elementwise */

static rw_tensor *binary(infer_ctx *ctx, rw_op op, rw_tensor *a, rw_tensor *b) {
    if (!a || !b || ctx->status != RW_OK) return NULL;
    check_f32(a, "add/mul");
    check_f32(b, "add/mul");
    const int64_t C = a->ne[0], T = nrows(a);
    const bool bcast = nrows(b) == 1 && T != 1;
    RW_ASSERT(b->ne[0] == C && (bcast || nrows(b) == T), "add/mul: shapes differ");
    rw_tensor *y = infer_new(ctx, RW_DTYPE_F32, a->n_dims, a->ne);
    if (!y) return NULL;
    for (int64_t t = 0; t < T; t++) {
        const float *bb = F(b) + (bcast ? 0 : t * C);
        if (op == RW_OP_ADD)
            kern_add_f32(F(y) + t * C, F(a) + t * C, bb, (size_t)C);
        else
            kern_mul_f32(F(y) + t * C, F(a) + t * C, bb, (size_t)C);
    }
    rw_tensor *src[2] = {a, b};
    int32_t iv[RW_TAPE_NI] = {bcast ? 1 : 0, 0, 0, 0};
    if (recording(ctx, src, 2)) return record(ctx, op, y, src, 2, NULL, iv, NULL, 0);
    return y;
}

rw_tensor *infer_op_add(infer_ctx *ctx, rw_tensor *a, rw_tensor *b) {
    return binary(ctx, RW_OP_ADD, a, b);
}
rw_tensor *infer_op_mul(infer_ctx *ctx, rw_tensor *a, rw_tensor *b) {
    return binary(ctx, RW_OP_MUL, a, b);
}

rw_tensor *infer_op_scale(infer_ctx *ctx, rw_tensor *a, float s) {
    if (!a || ctx->status != RW_OK) return NULL;
    check_f32(a, "scale");
    rw_tensor *y = infer_new(ctx, RW_DTYPE_F32, a->n_dims, a->ne);
    if (!y) return NULL;
    kern_scale_f32(F(y), F(a), s, (size_t)rw_tensor_nelements(a));
    float f[RW_TAPE_NF] = {s, 0, 0, 0};
    if (recording(ctx, &a, 1)) return record(ctx, RW_OP_SCALE, y, &a, 1, f, NULL, NULL, 0);
    return y;
}

rw_tensor *infer_op_silu(infer_ctx *ctx, rw_tensor *a) {
    if (!a || ctx->status != RW_OK) return NULL;
    check_f32(a, "silu");
    rw_tensor *y = infer_new(ctx, RW_DTYPE_F32, a->n_dims, a->ne);
    if (!y) return NULL;
    kern_silu_f32(F(y), F(a), (size_t)rw_tensor_nelements(a));
    if (recording(ctx, &a, 1)) return record(ctx, RW_OP_SILU, y, &a, 1, NULL, NULL, NULL, 0);
    return y;
}

rw_tensor *infer_op_gelu(infer_ctx *ctx, rw_tensor *a, bool erf_form) {
    if (!a || ctx->status != RW_OK) return NULL;
    check_f32(a, "gelu");
    rw_tensor *y = infer_new(ctx, RW_DTYPE_F32, a->n_dims, a->ne);
    if (!y) return NULL;
    if (erf_form)
        kern_gelu_erf_f32(F(y), F(a), (size_t)rw_tensor_nelements(a));
    else
        kern_gelu_tanh_f32(F(y), F(a), (size_t)rw_tensor_nelements(a));
    int32_t iv[RW_TAPE_NI] = {erf_form ? 1 : 0, 0, 0, 0};
    if (recording(ctx, &a, 1)) return record(ctx, RW_OP_GELU, y, &a, 1, NULL, iv, NULL, 0);
    return y;
}

static rw_tensor *gated(infer_ctx *ctx, rw_op op, rw_tensor *g, rw_tensor *u) {
    if (!g || !u || ctx->status != RW_OK) return NULL;
    check_f32(g, "glu");
    check_f32(u, "glu");
    RW_ASSERT(rw_tensor_nelements(g) == rw_tensor_nelements(u), "glu: shapes differ");
    rw_tensor *y = infer_new(ctx, RW_DTYPE_F32, g->n_dims, g->ne);
    if (!y) return NULL;
    size_t n = (size_t)rw_tensor_nelements(g);
    if (op == RW_OP_SWIGLU)
        kern_swiglu_f32(F(y), F(g), F(u), n);
    else
        kern_geglu_f32(F(y), F(g), F(u), n);
    rw_tensor *src[2] = {g, u};
    if (recording(ctx, src, 2)) return record(ctx, op, y, src, 2, NULL, NULL, NULL, 0);
    return y;
}

rw_tensor *infer_op_swiglu(infer_ctx *ctx, rw_tensor *gate, rw_tensor *up) {
    return gated(ctx, RW_OP_SWIGLU, gate, up);
}
rw_tensor *infer_op_geglu(infer_ctx *ctx, rw_tensor *gate, rw_tensor *up) {
    return gated(ctx, RW_OP_GEGLU, gate, up);
}

/* ------------------------------------------------------------------ embed / norms */

rw_tensor *infer_op_embed(infer_ctx *ctx, rw_tensor *table, const int32_t *ids, int64_t n) {
    if (!table || ctx->status != RW_OK) return NULL;
    const int64_t C = table->ne[0], V = nrows(table);
    rw_tensor *y = infer_new_2d(ctx, C, n);
    if (!y) return NULL;
    const kern_type_traits *tr = kern_type_get(table->type);
    RW_ASSERT(tr && tr->to_float, "embed: unsupported table type %d", (int)table->type);
    for (int64_t t = 0; t < n; t++) {
        RW_ASSERT(ids[t] >= 0 && ids[t] < V, "embed: token id %d outside the vocabulary (%lld)",
                  (int)ids[t], (long long)V);
        tr->to_float((const unsigned char *)table->data + (size_t)ids[t] * table->nb[1],
                     F(y) + t * C, C);
    }
    if (recording(ctx, &table, 1)) {
        void *s = save(ctx, ids, (size_t)n * sizeof(int32_t));
        if (!s) return NULL;
        return record(ctx, RW_OP_EMBED, y, &table, 1, NULL, NULL, s, (size_t)n * sizeof(int32_t));
    }
    return y;
}

static const float *wdata(infer_ctx *ctx, rw_tensor *w) {
    if (!w) return NULL;
    RW_ASSERT(w->type == RW_DTYPE_F32, "norm weight %s must be f32", w->name ? w->name : "?");
    (void)ctx;
    return F(w);
}

rw_tensor *infer_op_rmsnorm(infer_ctx *ctx, rw_tensor *x, rw_tensor *w, float eps) {
    if (!x || ctx->status != RW_OK) return NULL;
    check_f32(x, "rmsnorm");
    const int64_t C = x->ne[0], T = nrows(x);
    RW_ASSERT(!w || w->ne[0] == C, "rmsnorm: weight length %lld != %lld",
              (long long)(w ? w->ne[0] : 0), (long long)C);
    rw_tensor *y = infer_new(ctx, RW_DTYPE_F32, x->n_dims, x->ne);
    if (!y) return NULL;
    rw_tensor *src[2] = {x, w};
    const bool rec = recording(ctx, src, w ? 2 : 1);
    float *rstd = rec ? infer_scratch(ctx, (size_t)T * sizeof(float)) : NULL;
    if (rec && !rstd) return NULL;
    kern_rmsnorm_f32(F(y), rstd, F(x), wdata(ctx, w), (size_t)T, (size_t)C, eps);
    float f[RW_TAPE_NF] = {eps, 0, 0, 0};
    if (rec) return record(ctx, RW_OP_RMSNORM, y, src, 2, f, NULL, rstd, (size_t)T * sizeof(float));
    return y;
}

rw_tensor *infer_op_layernorm(infer_ctx *ctx, rw_tensor *x, rw_tensor *w, rw_tensor *b, float eps) {
    if (!x || ctx->status != RW_OK) return NULL;
    check_f32(x, "layernorm");
    const int64_t C = x->ne[0], T = nrows(x);
    rw_tensor *y = infer_new(ctx, RW_DTYPE_F32, x->n_dims, x->ne);
    if (!y) return NULL;
    rw_tensor *src[3] = {x, w, b};
    const bool rec = recording(ctx, src, 3);
    float *mr = rec ? infer_scratch(ctx, 2 * (size_t)T * sizeof(float)) : NULL;
    if (rec && !mr) return NULL;
    kern_layernorm_f32(F(y), mr, mr ? mr + T : NULL, F(x), wdata(ctx, w), wdata(ctx, b), (size_t)T,
                       (size_t)C, eps);
    float f[RW_TAPE_NF] = {eps, 0, 0, 0};
    if (rec)
        return record(ctx, RW_OP_LAYERNORM, y, src, 3, f, NULL, mr, 2 * (size_t)T * sizeof(float));
    return y;
}

rw_tensor *infer_op_reshape_2d(infer_ctx *ctx, rw_tensor *x, int64_t c, int64_t t) {
    if (!x || ctx->status != RW_OK) return NULL;
    RW_ASSERT(c * t == rw_tensor_nelements(x) && rw_tensor_is_contiguous(x), "reshape: bad size");
    rw_tensor *y = rw_arena_alloc(ctx->arena, sizeof(rw_tensor), 16);
    if (!y) {
        ctx_fail(ctx, RW_E_NOMEM, "tensor descriptor", sizeof(rw_tensor));
        return NULL;
    }
    int64_t ne[2] = {c, t};
    RW_ASSERT(rw_tensor_init(y, x->type, 2, ne, x->data), "reshape");
    int32_t iv[RW_TAPE_NI] = {0, 0, 0, 0};
    if (recording(ctx, &x, 1)) return record(ctx, RW_OP_RESHAPE, y, &x, 1, NULL, iv, NULL, 0);
    return y;
}

rw_tensor *infer_rows(infer_ctx *ctx, rw_tensor *x, int64_t t0, int64_t n) {
    if (!x || ctx->status != RW_OK) return NULL;
    check_f32(x, "rows");
    RW_ASSERT(t0 >= 0 && n >= 0 && t0 + n <= nrows(x), "rows: range out of bounds");
    rw_tensor *y = rw_arena_alloc(ctx->arena, sizeof(rw_tensor), 16);
    if (!y) {
        ctx_fail(ctx, RW_E_NOMEM, "tensor descriptor", sizeof(rw_tensor));
        return NULL;
    }
    int64_t ne[2] = {x->ne[0], n};
    RW_ASSERT(rw_tensor_init(y, RW_DTYPE_F32, 2, ne, F(x) + t0 * x->ne[0]), "rows");
    int32_t iv[RW_TAPE_NI] = {(int32_t)t0, 0, 0, 0};
    if (recording(ctx, &x, 1)) return record(ctx, RW_OP_RESHAPE, y, &x, 1, NULL, iv, NULL, 0);
    return y;
}

/* ------------------------------------------------------------------ rope / attention */

/* Rope with per-pair frequency factors (kern_rope_f32 has no factor argument).
 * The per-pair inverse frequencies f_i = scale * base^(-2i/n_rot) / ff[i] are computed
 * once per call (double), cos/sin once per token and chunk of pairs (double, rounded to
 * f32 like the SIMD kernel), and every head of the token is rotated with f32
 * multiply-adds over contiguous lanes (NEOX: halves; NORMAL: interleaved pairs through
 * expanded cos/sin rows), which the compiler vectorises. */
enum { ROPE_FF_CHUNK = 128 }; /* pairs per cos/sin chunk: bounds the stack tables */

void infer_rope_ff_f32(float *y, const float *x, size_t stride, const int32_t *pos, int64_t T,
                       int64_t H, int64_t D, const kern_rope_cfg *cfg, const float *ff,
                       bool inverse) {
    const int64_t half = (int64_t)cfg->n_rot / 2;
    RW_ASSERT(cfg->n_rot % 2 == 0 && (int64_t)cfg->n_rot <= D && stride >= (size_t)(H * D) &&
                  (cfg->mode == KERN_ROPE_NORMAL || cfg->mode == KERN_ROPE_NEOX),
              "rope: n_rot %zu, head_dim %lld, stride %zu, mode %d", cfg->n_rot, (long long)D,
              stride, (int)cfg->mode);
    const bool neox = cfg->mode == KERN_ROPE_NEOX;
    double f[ROPE_FF_CHUNK];
    float cs[2 * ROPE_FF_CHUNK], sn[2 * ROPE_FF_CHUNK];
    for (int64_t i0 = 0; i0 < half; i0 += ROPE_FF_CHUNK) {
        const int64_t nc = half - i0 < ROPE_FF_CHUNK ? half - i0 : ROPE_FF_CHUNK;
        for (int64_t i = 0; i < nc; i++)
            f[i] = (double)cfg->freq_scale *
                   pow((double)cfg->freq_base, -2.0 * (double)(i0 + i) / (double)cfg->n_rot) /
                   (double)ff[i0 + i];
        for (int64_t t = 0; t < T; t++) {
            for (int64_t i = 0; i < nc; i++) {
                const double th = (double)pos[t] * f[i];
                const float c = (float)cos(th), sv = (float)(inverse ? -sin(th) : sin(th));
                if (neox) {
                    cs[i] = c;
                    sn[i] = sv;
                } else { /* lanes 2i, 2i+1: y = x*cos + swap(x)*(-sin, +sin) */
                    cs[2 * i] = cs[2 * i + 1] = c;
                    sn[2 * i] = -sv;
                    sn[2 * i + 1] = sv;
                }
            }
            for (int64_t h = 0; h < H; h++) {
                const float *xh = x + (size_t)t * stride + (size_t)(h * D);
                float *yh = y + (size_t)t * stride + (size_t)(h * D);
                if (neox) {
                    const float *xa = xh + i0, *xb = xh + i0 + half;
                    float *ya = yh + i0, *yb = yh + i0 + half;
                    for (int64_t i = 0; i < nc; i++) {
                        const float a = xa[i], b = xb[i];
                        ya[i] = a * cs[i] - b * sn[i];
                        yb[i] = a * sn[i] + b * cs[i];
                    }
                } else {
                    const float *xs = xh + 2 * i0;
                    float *ys = yh + 2 * i0;
                    for (int64_t j = 0; j < 2 * nc; j += 2) {
                        const float a = xs[j], b = xs[j + 1];
                        ys[j] = a * cs[j] + b * sn[j];
                        ys[j + 1] = b * cs[j + 1] + a * sn[j + 1];
                    }
                }
            }
        }
    }
    if (y != x)
        for (int64_t t = 0; t < T; t++)
            for (int64_t h = 0; h < H; h++)
                if ((int64_t)cfg->n_rot < D)
                    memcpy(y + (size_t)t * stride + (size_t)(h * D) + cfg->n_rot,
                           x + (size_t)t * stride + (size_t)(h * D) + cfg->n_rot,
                           (size_t)(D - (int64_t)cfg->n_rot) * sizeof(float));
}

rw_tensor *infer_op_rope(infer_ctx *ctx, rw_tensor *x, int64_t n_head, int64_t head_dim,
                         const int32_t *pos, const kern_rope_cfg *cfg, rw_tensor *freq_factors) {
    if (!x || ctx->status != RW_OK) return NULL;
    check_f32(x, "rope");
    RW_ASSERT(x->ne[0] == n_head * head_dim, "rope: row of %lld != %lld heads x %lld",
              (long long)x->ne[0], (long long)n_head, (long long)head_dim);
    const int64_t T = nrows(x);
    rw_tensor *y = infer_new(ctx, RW_DTYPE_F32, x->n_dims, x->ne);
    if (!y) return NULL;
    if (freq_factors) {
        RW_ASSERT(freq_factors->type == RW_DTYPE_F32 &&
                      freq_factors->ne[0] >= (int64_t)cfg->n_rot / 2,
                  "rope: freq factors must be f32 {n_rot/2}");
        infer_rope_ff_f32(F(y), F(x), (size_t)x->ne[0], pos, T, n_head, head_dim, cfg,
                          F(freq_factors), false);
    } else {
        kern_rope_f32(F(y), F(x), (size_t)x->ne[0], pos, (size_t)T, (size_t)n_head,
                      (size_t)head_dim, cfg, false);
    }
    if (recording(ctx, &x, 1)) {
        void *s = save(ctx, pos, (size_t)T * sizeof(int32_t));
        if (!s) return NULL;
        float f[RW_TAPE_NF] = {cfg->freq_base, cfg->freq_scale, 0, 0};
        int32_t iv[RW_TAPE_NI] = {(int32_t)cfg->mode, (int32_t)cfg->n_rot, (int32_t)n_head,
                                  (int32_t)head_dim};
        /* src[1]: the frequency factors (never trained) or NULL */
        rw_tensor *src[2] = {x, freq_factors};
        return record(ctx, RW_OP_ROPE, y, src, 2, f, iv, s, (size_t)T * sizeof(int32_t));
    }
    return y;
}

rw_tensor *infer_op_attention(infer_ctx *ctx, rw_tensor *q, rw_tensor *k, rw_tensor *v,
                              const infer_attn_cfg *cfg) {
    if (!q || !k || !v || ctx->status != RW_OK) return NULL;
    check_f32(q, "attention");
    check_f32(k, "attention");
    check_f32(v, "attention");
    const int64_t H = cfg->n_head, Hkv = cfg->n_head_kv, D = cfg->head_dim;
    const int64_t T = nrows(q), S = nrows(k);
    RW_ASSERT(q->ne[0] == H * D && k->ne[0] == Hkv * D && v->ne[0] == Hkv * D && nrows(v) == S,
              "attention: shapes");
    rw_tensor *y = infer_new_2d(ctx, H * D, T);
    if (!y) return NULL;
    rw_tensor *src[3] = {q, k, v};
    const bool rec = recording(ctx, src, 3);
    float *lse = rec ? infer_scratch(ctx, (size_t)(T * H) * sizeof(float)) : NULL;
    if (rec && !lse) return NULL;
    kern_attn_args a;
    memset(&a, 0, sizeof(a));
    a.out = F(y);
    a.lse = lse;
    a.q = F(q);
    a.k = F(k);
    a.v = F(v);
    a.n_q = (size_t)T;
    a.n_kv = (size_t)S;
    a.n_head = (size_t)H;
    a.n_head_kv = (size_t)Hkv;
    a.head_dim = (size_t)D;
    a.scale = cfg->scale;
    a.causal = cfg->causal;
    a.pos0 = (size_t)cfg->pos0;
    a.n_valid = (size_t)(cfg->n_valid > 0 && cfg->n_valid < S ? cfg->n_valid : S);
    if (cfg->window > 0 && cfg->window < S) {
        RW_ASSERT(cfg->n_seq == 0, "attention: sliding window with a packed batch");
        float *mask = infer_scratch(ctx, (size_t)(T * S) * sizeof(float));
        if (!mask) return NULL;
        for (int64_t t = 0; t < T; t++)
            for (int64_t j = 0; j < S; j++)
                mask[t * S + j] = cfg->pos0 + t - j >= cfg->window ? -INFINITY : 0.0f;
        a.add = mask;
        a.add_stride = (size_t)S;
    }
    if (cfg->n_seq > 0) {
        RW_ASSERT(T == S, "attention: packed batch needs T == S");
        int64_t off = 0;
        for (int64_t b = 0; b < cfg->n_seq; b++) {
            const int64_t L = cfg->seq_lens[b];
            kern_attn_args sa = a;
            sa.out = F(y) + off * H * D;
            sa.lse = lse ? lse + off * H : NULL;
            sa.q = F(q) + off * H * D;
            sa.k = F(k) + off * Hkv * D;
            sa.v = F(v) + off * Hkv * D;
            sa.n_q = sa.n_kv = sa.n_valid = (size_t)L;
            sa.pos0 = 0;
            if (L > 0) kern_attention_f32_pool(ctx->pool, &sa);
            off += L;
        }
        RW_ASSERT(off == T, "attention: sequence lengths sum to %lld, rows %lld", (long long)off,
                  (long long)T);
    } else {
        kern_attention_f32_pool(ctx->pool, &a);
    }
    if (rec) {
        float f[RW_TAPE_NF] = {cfg->scale, 0, 0, 0};
        int32_t iv[RW_TAPE_NI] = {(int32_t)H, (int32_t)Hkv, (int32_t)D,
                                  (int32_t)(cfg->causal ? 1 : 0)};
        /* saved: lse[T*H] (f32), then int64 pos0, n_valid, n_seq, window, then int32
         * seq_lens[n_seq] */
        size_t len = (size_t)(T * H) * sizeof(float);
        int64_t extra[4] = {cfg->pos0, (int64_t)a.n_valid, cfg->n_seq, cfg->window};
        size_t ls = (size_t)cfg->n_seq * sizeof(int32_t);
        unsigned char *s = infer_scratch(ctx, len + sizeof(extra) + ls);
        if (!s) return NULL;
        memcpy(s, lse, len);
        memcpy(s + len, extra, sizeof(extra));
        if (ls) memcpy(s + len + sizeof(extra), cfg->seq_lens, ls);
        return record(ctx, RW_OP_ATTENTION, y, src, 3, f, iv, s, len + sizeof(extra) + ls);
    }
    return y;
}

/* ------------------------------------------------------------------ heads */

rw_tensor *infer_op_softmax(infer_ctx *ctx, rw_tensor *x) {
    if (!x || ctx->status != RW_OK) return NULL;
    check_f32(x, "softmax");
    const int64_t N = x->ne[0], T = nrows(x);
    rw_tensor *y = infer_new(ctx, RW_DTYPE_F32, x->n_dims, x->ne);
    if (!y) return NULL;
    kern_softmax_f32(F(y), NULL, F(x), NULL, 0, (size_t)T, (size_t)N, (size_t)N);
    if (recording(ctx, &x, 1)) return record(ctx, RW_OP_SOFTMAX, y, &x, 1, NULL, NULL, NULL, 0);
    return y;
}

rw_tensor *infer_op_cross_entropy(infer_ctx *ctx, rw_tensor *logits, const int32_t *targets) {
    if (!logits || ctx->status != RW_OK) return NULL;
    check_f32(logits, "cross_entropy");
    const int64_t V = logits->ne[0], T = nrows(logits);
    rw_tensor *y = infer_new_2d(ctx, 1, 1);
    size_t len = (size_t)T * (sizeof(int32_t) + sizeof(float));
    unsigned char *s = infer_scratch(ctx, len);
    if (!y || !s) return NULL;
    int32_t *tg = (int32_t *)s;
    float *lse = (float *)(s + (size_t)T * sizeof(int32_t));
    memcpy(tg, targets, (size_t)T * sizeof(int32_t));
    double sum = 0;
    int64_t cnt = 0;
    for (int64_t t = 0; t < T; t++) {
        const float *z = F(logits) + t * V;
        float mx = -INFINITY;
        for (int64_t j = 0; j < V; j++)
            mx = z[j] > mx ? z[j] : mx;
        double acc = 0;
        for (int64_t j = 0; j < V; j++)
            acc += exp((double)z[j] - (double)mx);
        lse[t] = (float)((double)mx + log(acc));
        if (tg[t] < 0) continue;
        RW_ASSERT(tg[t] < V, "cross_entropy: target %d >= V", (int)tg[t]);
        sum += (double)lse[t] - (double)z[tg[t]];
        cnt++;
    }
    F(y)[0] = cnt ? (float)(sum / (double)cnt) : 0.0f;
    int32_t iv[RW_TAPE_NI] = {(int32_t)cnt, 0, 0, 0};
    if (recording(ctx, &logits, 1))
        return record(ctx, RW_OP_CROSS_ENTROPY, y, &logits, 1, NULL, iv, s, len);
    return y;
}

rw_tensor *infer_op_mean_pool(infer_ctx *ctx, rw_tensor *x, const int32_t *lens, int64_t n_seq) {
    if (!x || ctx->status != RW_OK) return NULL;
    check_f32(x, "mean_pool");
    const int64_t C = x->ne[0];
    rw_tensor *y = infer_zeros_2d(ctx, C, n_seq);
    if (!y) return NULL;
    int64_t off = 0;
    for (int64_t b = 0; b < n_seq; b++) {
        float *o = F(y) + b * C;
        for (int64_t t = 0; t < lens[b]; t++)
            kern_add_f32(o, o, F(x) + (off + t) * C, (size_t)C);
        if (lens[b] > 0) kern_scale_f32(o, o, 1.0f / (float)lens[b], (size_t)C);
        off += lens[b];
    }
    RW_ASSERT(off <= nrows(x), "mean_pool: lengths exceed rows");
    if (recording(ctx, &x, 1)) {
        void *s = save(ctx, lens, (size_t)n_seq * sizeof(int32_t));
        if (!s) return NULL;
        return record(ctx, RW_OP_MEAN_POOL, y, &x, 1, NULL, NULL, s,
                      (size_t)n_seq * sizeof(int32_t));
    }
    return y;
}

rw_tensor *infer_op_gather_rows(infer_ctx *ctx, rw_tensor *x, const int32_t *rows, int64_t n) {
    if (!x || ctx->status != RW_OK) return NULL;
    check_f32(x, "gather_rows");
    const int64_t C = x->ne[0];
    rw_tensor *y = infer_new_2d(ctx, C, n);
    if (!y) return NULL;
    for (int64_t b = 0; b < n; b++) {
        RW_ASSERT(rows[b] >= 0 && rows[b] < nrows(x), "gather_rows: row out of range");
        memcpy(F(y) + b * C, F(x) + (int64_t)rows[b] * C, (size_t)C * sizeof(float));
    }
    if (recording(ctx, &x, 1)) {
        void *s = save(ctx, rows, (size_t)n * sizeof(int32_t));
        if (!s) return NULL;
        return record(ctx, RW_OP_COPY, y, &x, 1, NULL, NULL, s, (size_t)n * sizeof(int32_t));
    }
    return y;
}

rw_tensor *infer_op_l2_normalize(infer_ctx *ctx, rw_tensor *x) {
    if (!x || ctx->status != RW_OK) return NULL;
    check_f32(x, "l2_normalize");
    const int64_t C = x->ne[0], T = nrows(x);
    rw_tensor *y = infer_new(ctx, RW_DTYPE_F32, x->n_dims, x->ne);
    float *norms = infer_scratch(ctx, (size_t)T * sizeof(float));
    if (!y || !norms) return NULL;
    for (int64_t t = 0; t < T; t++) {
        const float *r = F(x) + t * C;
        double acc = 0;
        for (int64_t c = 0; c < C; c++)
            acc += (double)r[c] * (double)r[c];
        double nrm = sqrt(acc);
        norms[t] = (float)nrm;
        double inv = 1.0 / (nrm > 1e-12 ? nrm : 1e-12);
        for (int64_t c = 0; c < C; c++)
            F(y)[t * C + c] = (float)((double)r[c] * inv);
    }
    if (recording(ctx, &x, 1))
        return record(ctx, RW_OP_L2_NORMALIZE, y, &x, 1, NULL, NULL, norms,
                      (size_t)T * sizeof(float));
    return y;
}

rw_tensor *infer_op_cossim(infer_ctx *ctx, rw_tensor *a, rw_tensor *b) {
    if (!a || !b || ctx->status != RW_OK) return NULL;
    check_f32(a, "cossim");
    check_f32(b, "cossim");
    const int64_t C = a->ne[0], Na = nrows(a), Nb = nrows(b);
    RW_ASSERT(b->ne[0] == C, "cossim: widths differ");
    rw_tensor *y = infer_new_2d(ctx, Nb, Na);
    if (!y) return NULL;
    for (int64_t i = 0; i < Na; i++)
        for (int64_t j = 0; j < Nb; j++) {
            double acc = 0;
            for (int64_t c = 0; c < C; c++)
                acc += (double)F(a)[i * C + c] * (double)F(b)[j * C + c];
            F(y)[i * Nb + j] = (float)acc;
        }
    rw_tensor *src[2] = {a, b};
    if (recording(ctx, src, 2)) return record(ctx, RW_OP_COSSIM, y, src, 2, NULL, NULL, NULL, 0);
    return y;
}
