/* CPUID-based feature detection (x86-64) with an OS-support check through XGETBV, so a
 * kernel never runs an instruction whose register state the OS does not preserve. */
#include "kernels/cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}
#endif

static kern_cpu_features g_features;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void detect(void) {
    kern_cpu_features f;
    memset(&f, 0, sizeof f);
#if defined(__x86_64__) || defined(__i386__)
    unsigned int a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        f.sse3 = c & (1u << 0);
        f.ssse3 = c & (1u << 9);
        f.fma = c & (1u << 12);
        f.f16c = c & (1u << 29);
        bool osxsave = c & (1u << 27);
        f.avx = (c & (1u << 28)) && osxsave;
        unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
        bool ymm_ok = (xcr0 & 0x6) == 0x6;
        bool zmm_ok = (xcr0 & 0xe6) == 0xe6;
        f.avx = f.avx && ymm_ok;
        if (!ymm_ok) f.fma = f.f16c = false;
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
            f.avx2 = ymm_ok && (b & (1u << 5));
            f.avx512f = zmm_ok && (b & (1u << 16));
            f.avx512dq = zmm_ok && (b & (1u << 17));
            f.avx512bw = zmm_ok && (b & (1u << 30));
            f.avx512vl = zmm_ok && (b & (1u << 31));
            f.avx512vnni = zmm_ok && (c & (1u << 11));
        }
        if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
            f.avx_vnni = ymm_ok && (a & (1u << 4));
            f.avx512bf16 = zmm_ok && (a & (1u << 5));
        }
    }
#elif defined(__aarch64__)
    f.neon = true;
#endif
    g_features = f;
}

const kern_cpu_features *kern_cpu_get(void) {
    pthread_once(&g_once, detect);
    return &g_features;
}

kern_level kern_cpu_hw_level(void) {
    const kern_cpu_features *f = kern_cpu_get();
    kern_level hw = KERN_LEVEL_SCALAR;
    if (f->avx2 && f->fma && f->f16c) hw = KERN_LEVEL_AVX2;
    if (hw == KERN_LEVEL_AVX2 && f->avx512f && f->avx512bw && f->avx512dq && f->avx512vl)
        hw = KERN_LEVEL_AVX512;
    return hw;
}

kern_level kern_cpu_level(void) {
    kern_level hw = kern_cpu_hw_level();
    const char *env = getenv("RW_KERNELS");
    kern_level cap = KERN_LEVEL_AVX512;
    if (env && strcmp(env, "scalar") == 0) cap = KERN_LEVEL_SCALAR;
    else if (env && strcmp(env, "avx2") == 0) cap = KERN_LEVEL_AVX2;
    return hw < cap ? hw : cap;
}

const char *kern_level_name(kern_level l) {
    switch (l) {
    case KERN_LEVEL_SCALAR: return "scalar";
    case KERN_LEVEL_AVX2: return "avx2";
    case KERN_LEVEL_AVX512: return "avx512";
    }
    return "?";
}

void kern_cpu_describe(char *buf, int cap) {
    const kern_cpu_features *f = kern_cpu_get();
    snprintf(buf, (size_t)cap, "%s (%s%s%s%s%s%s%s%s%s)", kern_level_name(kern_cpu_level()),
             f->avx2 ? "avx2 " : "", f->fma ? "fma " : "", f->f16c ? "f16c " : "",
             f->avx512f ? "avx512f " : "", f->avx512bw ? "avx512bw " : "",
             f->avx512vl ? "avx512vl " : "", f->avx512vnni ? "avx512vnni " : "",
             f->avx512bf16 ? "avx512bf16 " : "", f->avx_vnni ? "avx-vnni" : "");
}
