/* Matrix products through a weight W of any supported type (kernels/quant.h), split over
 * the threads of a core/pool.h pool.
 *
 * Shapes (ggml order: ne[0] is the inner dimension). W is N rows x K columns, row-major,
 * rows of K elements of type wtype (K a multiple of the block size); activations are f32,
 * row-major, contiguous.
 *   kern_matvec     y[N]      = W[N x K] . x[K]                 (decode)
 *   kern_matmul     Y[M x N]  = X[M x K] . W^T                 (prefill, batch embedding)
 *   kern_matmul_dx  dX[M x K] (+)= dY[M x N] . W[N x K]         (backward through frozen W)
 * `accumulate` adds into the output instead of overwriting it.
 *
 * Threads: pool may be NULL (runs on the caller). Work is split by a pure function of
 * (thread index, thread count) and every output element is reduced by one thread in a
 * fixed order, so results are bit-identical from run to run for a given thread count and
 * kern_cpu_level(). The sgemm paths call OpenBLAS from each pool thread and therefore set
 * OpenBLAS to 1 thread (process-wide, kern_blas_set_threads) when it is not already.
 * Kernels never allocate: callers pass `scratch` of at least the *_scratch_bytes size,
 * aligned to 64 bytes (rw_aligned_alloc). Strategy for matmul, chosen by measurement
 * (tables in matmul.c, docs/kernels.md): with AVX-512 VNNI, Q8_0/Q4_0 weights from M >= 4
 * and Q4_K/Q6_K from M >= 8 use the int8 panel path (kern_matmul_int8), and at the AVX2
 * level (or AVX-512 without VNNI) all four from M >= 8; otherwise batches M < 48 quantize
 * X once and use the SIMD vec_dot, and M >= 48 dequantizes tiles of W into scratch and
 * calls sgemm. matmul_dx always uses dequantized tiles and sgemm.
 */
#ifndef RW_KERNELS_MATMUL_H
#define RW_KERNELS_MATMUL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/pool.h"
#include "kernels/cpu.h"

size_t kern_matvec_scratch_bytes(rw_dtype wtype, int64_t K);
void kern_matvec(rw_pool *pool, rw_dtype wtype, const void *W, int64_t N, int64_t K, const float *x,
                 float *y, void *scratch);

/* Single-thread row range: y[r] = W[r] . a for r in [r0, r1), with a one activation row
 * already converted to the weight type's vec_dot_type (kern_quantize_activations). */
void kern_matvec_rows(rw_dtype wtype, const void *W, int64_t K, const void *a, float *y, int64_t r0,
                      int64_t r1);

/* Converts M rows of K f32 values into the activation format of wtype (its vec_dot_type;
 * a plain copy for F32/F16/BF16 weights); writes M * kern_row_bytes(vec_dot_type, K). */
void kern_quantize_activations(rw_dtype wtype, const float *X, void *dst, int64_t M, int64_t K);

size_t kern_matmul_scratch_bytes(rw_dtype wtype, int64_t N, int64_t K, int64_t M, int n_threads);
void kern_matmul(rw_pool *pool, rw_dtype wtype, const void *W, int64_t N, int64_t K, const float *X,
                 int64_t M, float *Y, bool accumulate, void *scratch);

/* Single-thread range: Y[m][r] (row stride N) for weight rows r in [r0, r1) and every m,
 * from activations A already in vec_dot_type (M rows). */
void kern_matmul_rows(rw_dtype wtype, const void *W, int64_t N, int64_t K, const void *A, int64_t M,
                      float *Y, bool accumulate, int64_t r0, int64_t r1);

size_t kern_matmul_dx_scratch_bytes(rw_dtype wtype, int64_t N, int64_t K, int64_t M, int n_threads);
void kern_matmul_dx(rw_pool *pool, rw_dtype wtype, const void *W, int64_t N, int64_t K,
                    const float *dY, int64_t M, float *dX, bool accumulate, void *scratch);

/* The integer path kern_matmul uses for Q8_0/Q4_0/Q4_K/Q6_K weights at batch sizes where
 * it wins (activations quantized to Q8_0 once, weights repacked into 16-row int8 panels;
 * layout in matmul_internal.h). `level` caps the kernels used (and is itself capped at
 * kern_cpu_level()): KERN_LEVEL_SCALAR the scalar reference; KERN_LEVEL_AVX2 the 256-bit
 * kernel (AVX2 vpmaddubsw/vpmaddwd, or AVX-VNNI vpdpbusd when the CPU has it);
 * KERN_LEVEL_AVX512 the AVX-512 VNNI vpdpbusd kernel, or the 256-bit one on AVX-512 CPUs
 * without VNNI. Every level gives bit-identical results. Exposed so tests can hold the
 * levels equal. */
bool kern_matmul_int8_supported(rw_dtype wtype);
size_t kern_matmul_int8_scratch_bytes(int64_t K, int64_t M, int n_threads);
void kern_matmul_int8(rw_pool *pool, kern_level level, rw_dtype wtype, const void *W, int64_t N,
                      int64_t K, const float *X, int64_t M, float *Y, bool accumulate,
                      void *scratch);

#endif
