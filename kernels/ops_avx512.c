/* AVX-512 (F/BW/DQ/VL) instantiation of the float ops (template: ops_simd.h, primitives:
 * ops_vec_avx512.h). Only reached through the dispatch table when the CPU has them. */
#include "kernels/ops.h"

#if defined(__x86_64__)
#include "kernels/ops_internal.h"
#include "kernels/ops_vec_avx512.h"
#define SFX(name) name##_avx512
#define SFX_NAME "avx512"
#include "kernels/ops_simd.h"
#else
typedef int kern_ops_avx512_unused;
#endif
