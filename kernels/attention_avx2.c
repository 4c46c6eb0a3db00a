/* AVX2 instantiation of the attention kernel (template: attention_simd.h, primitives:
 * ops_vec_avx2.h). Only reached through the dispatch table when the CPU supports it. */
#include "kernels/attention.h"

#if defined(__x86_64__)
#include "kernels/ops_internal.h"
#include "kernels/ops_vec_avx2.h"
#define SFX(name) name##_avx2
#include "kernels/attention_simd.h"
#else
typedef int kern_attention_avx2_unused;
#endif
