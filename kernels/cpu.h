/* CPU feature detection for run-time kernel dispatch.
 *
 * kern_cpu_get() reads CPUID/XGETBV once (features the OS does not save state for are
 * reported absent). The environment variable RW_KERNELS selects a ceiling:
 * "scalar" forces the scalar references, "avx2" caps at AVX2, "avx512" or unset allows
 * everything detected. Dispatch tables are filled from kern_cpu_level(). */
#ifndef RW_KERNELS_CPU_H
#define RW_KERNELS_CPU_H

#include <stdbool.h>

typedef struct kern_cpu_features {
    bool sse3, ssse3, fma, f16c, avx, avx2;
    bool avx512f, avx512bw, avx512dq, avx512vl, avx512vnni, avx512bf16, avx_vnni;
    bool neon, dotprod; /* aarch64 */
} kern_cpu_features;

/* 1 when the build compiles the *_avx2.c / *_avx512.c files (x86 targets, cmake/rw.cmake);
 * elsewhere every level above scalar is absent and code must not name those kernels. */
#if defined(__x86_64__) || defined(__i386__)
#define KERN_X86 1
#else
#define KERN_X86 0
#endif

typedef enum kern_level {
    KERN_LEVEL_SCALAR = 0,
    KERN_LEVEL_AVX2 = 1,   /* AVX2 + FMA + F16C */
    KERN_LEVEL_AVX512 = 2, /* AVX512 F/BW/DQ/VL (+VNNI, BF16 checked separately) */
} kern_level;

/* Detected features, before the RW_KERNELS ceiling. Thread-safe after the first call. */
const kern_cpu_features *kern_cpu_get(void);
/* Highest level the hardware supports, before the RW_KERNELS ceiling. */
kern_level kern_cpu_hw_level(void);
/* Highest level allowed by hardware and RW_KERNELS. */
kern_level kern_cpu_level(void);
const char *kern_level_name(kern_level l);
/* One line such as "avx512 (avx2 fma f16c avx512f avx512bw avx512vnni avx512bf16)". */
void kern_cpu_describe(char *buf, int cap);

#endif
