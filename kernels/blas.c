/* OpenBLAS wrapper: row-major cblas_sgemm and OpenBLAS's process-wide thread and core
 * queries. openblas_* are declared here (cblas.h declares them too, but not in every
 * packaging of the header). */
#include "kernels/blas.h"

#include <cblas.h>
#include <stdlib.h>

#include "core/assert.h"

void kern_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                int64_t ldc) {
    RW_ASSERT(M >= 0 && N >= 0 && K >= 0 && M <= INT32_MAX && N <= INT32_MAX && K <= INT32_MAX,
              "sgemm shape %lld x %lld x %lld", (long long)M, (long long)N, (long long)K);
    if (M == 0 || N == 0) return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N, (blasint)K, alpha, A,
                (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
}

void kern_blas_set_threads(int n) {
    openblas_set_num_threads(n < 1 ? 1 : n);
}

int kern_blas_get_threads(void) {
    return openblas_get_num_threads();
}

const char *kern_blas_corename(void) {
    return openblas_get_corename();
}

const char *kern_blas_coretype_env(void) {
    return getenv("OPENBLAS_CORETYPE");
}
