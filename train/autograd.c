/* The tape walker (train/autograd.h): seeds the output gradient, then visits records
 * newest first and dispatches to the op's backward (train/backward_*.c).
 *
 * Invariant: when a record is visited, every record that consumed its output has already
 * been visited (the tape is in execution order), so rec->dst->grad is complete. */
#include "train/autograd.h"

#include <string.h>

#include "core/assert.h"
#include "train/autograd_internal.h"

const char *train_op_name(int32_t op) {
    switch (op) {
    case RW_OP_MATMUL:
        return "matmul";
    case RW_OP_ADD:
        return "add";
    case RW_OP_MUL:
        return "mul";
    case RW_OP_SCALE:
        return "scale";
    case RW_OP_EMBED:
        return "embed";
    case RW_OP_RMSNORM:
        return "rmsnorm";
    case RW_OP_LAYERNORM:
        return "layernorm";
    case RW_OP_ROPE:
        return "rope";
    case RW_OP_ATTENTION:
        return "attention";
    case RW_OP_SILU:
        return "silu";
    case RW_OP_GELU:
        return "gelu";
    case RW_OP_SWIGLU:
        return "swiglu";
    case RW_OP_GEGLU:
        return "geglu";
    case RW_OP_SOFTMAX:
        return "softmax";
    case RW_OP_CROSS_ENTROPY:
        return "cross_entropy";
    case RW_OP_MEAN_POOL:
        return "mean_pool";
    case RW_OP_L2_NORMALIZE:
        return "l2_normalize";
    case RW_OP_COSSIM:
        return "cossim";
    case RW_OP_RESHAPE:
        return "reshape";
    case RW_OP_COPY:
        return "copy";
    case TRAIN_OP_BCE_YESNO:
        return "bce_yesno";
    case TRAIN_OP_RECOMPUTE_DECODER:
        return "recompute_decoder";
    case TRAIN_OP_RECOMPUTE_ENCODER:
        return "recompute_encoder";
    default:
        return "?";
    }
}

void *train_bwd_scratch(train_bwd *b, size_t bytes) {
    if (b->st != RW_OK) return NULL;
    rw_arena *a = b->ctx->arena;
    void *p = rw_arena_alloc(a, bytes ? bytes : 1, 64);
    if (!p) {
        b->st = rw_err_set(&b->err, RW_E_NOMEM,
                           "step arena full in backward of %s: %zu more bytes needed (capacity "
                           "%zu, used %zu)",
                           train_op_name(b->op), bytes, a->cap, a->used);
    }
    return p;
}

int train_bwd_threads(const train_bwd *b) {
    return b->ctx->pool ? rw_pool_threads(b->ctx->pool) : 1;
}

float *train_bwd_grad(train_bwd *b, rw_tensor *t) {
    if (!t || !rw_tensor_needs_grad(t) || b->st != RW_OK) return NULL;
    if (t->grad) {
        RW_ASSERT(
            t->grad->type == RW_DTYPE_F32 && rw_tensor_nelements(t->grad) == rw_tensor_nelements(t),
            "gradient of %s: must be f32 with the tensor's element count", t->name ? t->name : "?");
        return (float *)t->grad->data;
    }
    if (t->flags & RW_TENSOR_PARAM) {
        b->st =
            rw_err_set(&b->err, RW_E_STATE, "backward of %s: parameter '%s' has no gradient tensor",
                       train_op_name(b->op), t->name ? t->name : "?");
        return NULL;
    }
    rw_tensor *g = train_bwd_scratch(b, sizeof(rw_tensor));
    if (!g) return NULL;
    RW_ASSERT(rw_tensor_init(g, RW_DTYPE_F32, t->n_dims, t->ne, NULL), "gradient shape");
    size_t nb = rw_tensor_nbytes(g);
    g->data = train_bwd_scratch(b, nb);
    if (!g->data) return NULL;
    memset(g->data, 0, nb);
    t->grad = g;
    return (float *)g->data;
}

void train_bwd_walk(train_bwd *b, rw_tape *tape, size_t first) {
    for (size_t k = tape->n; k-- > first && b->st == RW_OK;) {
        const rw_tape_rec *r = &tape->recs[k];
        if (!r->dst || !r->dst->grad) continue; /* nothing flowed into this output */
        const float *dy = (const float *)r->dst->grad->data;
        b->op = r->op;
        switch (r->op) {
        case RW_OP_MATMUL:
            train_bwd_matmul(b, r, dy);
            break;
        case RW_OP_ADD:
        case RW_OP_MUL:
            train_bwd_add_mul(b, r, dy);
            break;
        case RW_OP_SCALE:
            train_bwd_scale(b, r, dy);
            break;
        case RW_OP_EMBED:
            train_bwd_embed(b, r, dy);
            break;
        case RW_OP_RMSNORM:
            train_bwd_rmsnorm(b, r, dy);
            break;
        case RW_OP_LAYERNORM:
            train_bwd_layernorm(b, r, dy);
            break;
        case RW_OP_ROPE:
            train_bwd_rope(b, r, dy);
            break;
        case RW_OP_ATTENTION:
            train_bwd_attention(b, r, dy);
            break;
        case RW_OP_SILU:
        case RW_OP_GELU:
            train_bwd_activation(b, r, dy);
            break;
        case RW_OP_SWIGLU:
        case RW_OP_GEGLU:
            train_bwd_glu(b, r, dy);
            break;
        case RW_OP_SOFTMAX:
            train_bwd_softmax(b, r, dy);
            break;
        case RW_OP_CROSS_ENTROPY:
            train_bwd_cross_entropy(b, r, dy);
            break;
        case RW_OP_MEAN_POOL:
            train_bwd_mean_pool(b, r, dy);
            break;
        case RW_OP_L2_NORMALIZE:
            train_bwd_l2_normalize(b, r, dy);
            break;
        case RW_OP_COSSIM:
            train_bwd_cossim(b, r, dy);
            break;
        case RW_OP_RESHAPE:
            train_bwd_reshape(b, r, dy);
            break;
        case RW_OP_COPY:
            train_bwd_copy(b, r, dy);
            break;
        case TRAIN_OP_BCE_YESNO:
            train_bwd_bce_yesno(b, r, dy);
            break;
        case TRAIN_OP_RECOMPUTE_DECODER:
        case TRAIN_OP_RECOMPUTE_ENCODER:
            train_bwd_recompute(b, r, dy);
            break;
        default:
            RW_ASSERT(0, "backward: unknown op kind %d on the tape", (int)r->op);
        }
    }
}

rw_status train_backward(infer_ctx *ctx, rw_tensor *out, const float *dout, float scale,
                         rw_err *err) {
    RW_ASSERT(ctx && ctx->tape && out, "train_backward needs a context with a tape and an output");
    if (ctx->status != RW_OK) return infer_ctx_error(ctx, err);
    if (!(out->flags & RW_TENSOR_NEEDS_GRAD))
        return rw_err_set(err, RW_E_STATE,
                          "backward: the output %s was not produced on the tape "
                          "(no parameter reaches it)",
                          out->name ? out->name : "tensor");
    train_bwd b = {.ctx = ctx, .st = RW_OK, .op = RW_OP_NONE};
    float *g = train_bwd_grad(&b, out);
    if (g) {
        const size_t n = (size_t)rw_tensor_nelements(out);
        for (size_t i = 0; i < n; i++)
            g[i] += scale * (dout ? dout[i] : 1.0f);
        train_bwd_walk(&b, ctx->tape, 0);
    }
    if (b.st != RW_OK) {
        if (err) *err = b.err;
        return b.st;
    }
    return RW_OK;
}
