/* AVX512 instantiation of the attention kernel (template: attention_simd.h, primitives:
 * ops_vec_avx512.h). Only reached through the dispatch table when the CPU supports it. */
#include "kernels/attention.h"

#if defined(__x86_64__)
#include "kernels/ops_internal.h"
#include "kernels/ops_vec_avx512.h"
#define SFX(name) name##_avx512
#include "kernels/attention_simd.h"
#else
typedef int kern_attention_avx512_unused;
#endif
