/* AVX2+FMA instantiation of the float ops (template: ops_simd.h, primitives:
 * ops_vec_avx2.h). Compiled with -mavx2 -mfma -mf16c; only reached through the dispatch
 * table when the CPU has them. */
#include "kernels/ops.h"

#if defined(__x86_64__)
#include "kernels/ops_internal.h"
#include "kernels/ops_vec_avx2.h"
#define SFX(name) name##_avx2
#define SFX_NAME "avx2"
#include "kernels/ops_simd.h"
#else
typedef int kern_ops_avx2_unused;
#endif
