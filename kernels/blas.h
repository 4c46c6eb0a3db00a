/* The one place the project calls BLAS (OpenBLAS through cblas), so thread counts and the
 * kernel core in use are controlled and reported from here.
 *
 * Matrices are row-major. kern_sgemm computes C = alpha * op(A) * op(B) + beta * C with
 * op(A) M x K, op(B) K x N, C M x N (leading dimensions in elements). OpenBLAS's own thread
 * count is process-wide: the matmul drivers (kernels/matmul.h) call sgemm from inside the
 * project's pool with OpenBLAS set to 1 thread, so the two never oversubscribe the cores;
 * a caller that wants one big multi-threaded sgemm sets kern_blas_set_threads(n) first. */
#ifndef RW_KERNELS_BLAS_H
#define RW_KERNELS_BLAS_H

#include <stdbool.h>
#include <stdint.h>

void kern_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                int64_t ldc);

/* OpenBLAS's thread count (openblas_set_num_threads / openblas_get_num_threads). */
void kern_blas_set_threads(int n);
int kern_blas_get_threads(void);
/* OpenBLAS's kernel core name, e.g. "Cooperlake" or "Haswell" (static string). */
const char *kern_blas_corename(void);
/* Value of OPENBLAS_CORETYPE in the environment, or NULL when unset. */
const char *kern_blas_coretype_env(void);

#endif
