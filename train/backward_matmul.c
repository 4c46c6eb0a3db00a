/* Backward of the matrix products: RW_OP_MATMUL (Y{N,M} = W{K,N} . X{K,M}) and
 * RW_OP_COSSIM (S{Nb,Na} = A{C,Na} . B{C,Nb}^T).
 *
 * Row-major views (ggml order: a {C,T} tensor is T rows of C):
 *   dX[M x K] += dY[M x N] . W[N x K]      (kern_sgemm for f32 W, kern_matmul_dx otherwise:
 *                                            a frozen quantized weight gets no gradient)
 *   dW[N x K] += dY^T[N x M] . X[M x K]    (W must be an f32 parameter)
 * OpenBLAS sgemm partitions work statically, so results repeat for a given thread count. */
#include "train/autograd_internal.h"

#include "core/assert.h"
#include "kernels/blas.h"
#include "kernels/matmul.h"

void train_bwd_matmul(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    rw_tensor *w = r->src[0], *x = r->src[1];
    const int64_t K = w->ne[0], N = rw_tensor_nrows(w), M = rw_tensor_nrows(x);
    float *dx = train_bwd_grad(b, x);
    if (dx) {
        if (w->type == RW_DTYPE_F32) {
            kern_sgemm(false, false, M, K, N, 1.0f, dy, N, (const float *)w->data, K, 1.0f, dx, K);
        } else {
            const int nth = train_bwd_threads(b);
            void *scr = train_bwd_scratch(b, kern_matmul_dx_scratch_bytes(w->type, N, K, M, nth));
            if (!scr) return;
            kern_matmul_dx(b->ctx->pool, w->type, w->data, N, K, dy, M, dx, true, scr);
        }
    }
    float *dw = train_bwd_grad(b, w);
    if (dw) {
        RW_ASSERT(w->type == RW_DTYPE_F32, "matmul backward: trainable weight %s must be f32",
                  w->name ? w->name : "?");
        kern_sgemm(true, false, N, K, M, 1.0f, dy, N, (const float *)x->data, K, 1.0f, dw, K);
    }
}

void train_bwd_cossim(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    rw_tensor *a = r->src[0], *c = r->src[1];
    const int64_t C = a->ne[0], Na = rw_tensor_nrows(a), Nb = rw_tensor_nrows(c);
    /* dst row i (anchor i) holds Nb scores: dA[Na x C] += dS[Na x Nb] . B[Nb x C] */
    float *da = train_bwd_grad(b, a);
    if (da)
        kern_sgemm(false, false, Na, C, Nb, 1.0f, dy, Nb, (const float *)c->data, C, 1.0f, da, C);
    float *dc = train_bwd_grad(b, c);
    if (dc)
        kern_sgemm(true, false, Nb, C, Na, 1.0f, dy, Nb, (const float *)a->data, C, 1.0f, dc, C);
}
