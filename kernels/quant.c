/* The type-traits table: one entry per supported type and level, filled once.
 *
 * Level tables start from the scalar references and overwrite the entries a SIMD level
 * implements, so a type without a SIMD kernel silently runs its reference. Which variant
 * each entry uses is listed in docs/kernels.md. */
#include "kernels/quant.h"

#include <pthread.h>
#include <string.h>

#include "core/assert.h"
#include "kernels/quant_internal.h"

static kern_type_traits g_tables[3][RW_DTYPE_COUNT];
static kern_level g_level;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

#define SET(tab, T, nm, bs, sz, vdt, t, a)                                                         \
    tab[T] = (kern_type_traits) {                                                                  \
        T, nm, bs, sz, vdt, kern_dequant_row_##t##_ref, kern_quantize_row_##t##_ref,               \
            kern_vec_dot_##t##_##a##_ref, NULL, kern_quantize_row_##t##_ref                        \
    }
#define SET_ACT(tab, T, nm, bs, sz, t)                                                             \
    tab[T] = (kern_type_traits) {                                                                  \
        T, nm, bs, sz, T, kern_dequant_row_##t##_ref, kern_quantize_row_##t##_ref, NULL, NULL,     \
            kern_quantize_row_##t##_ref                                                            \
    }

static void fill_ref(kern_type_traits *t) {
    SET(t, RW_DTYPE_F32, "f32", 1, 4, RW_DTYPE_F32, f32, f32);
    SET(t, RW_DTYPE_F16, "f16", 1, 2, RW_DTYPE_F32, f16, f32);
    SET(t, RW_DTYPE_BF16, "bf16", 1, 2, RW_DTYPE_F32, bf16, f32);
    SET(t, RW_DTYPE_Q4_0, "q4_0", KERN_QK, sizeof(kern_block_q4_0), RW_DTYPE_Q8_0, q4_0, q8_0);
    SET(t, RW_DTYPE_Q4_1, "q4_1", KERN_QK, sizeof(kern_block_q4_1), RW_DTYPE_Q8_1, q4_1, q8_1);
    SET(t, RW_DTYPE_Q5_0, "q5_0", KERN_QK, sizeof(kern_block_q5_0), RW_DTYPE_Q8_0, q5_0, q8_0);
    SET(t, RW_DTYPE_Q5_1, "q5_1", KERN_QK, sizeof(kern_block_q5_1), RW_DTYPE_Q8_1, q5_1, q8_1);
    SET(t, RW_DTYPE_Q8_0, "q8_0", KERN_QK, sizeof(kern_block_q8_0), RW_DTYPE_Q8_0, q8_0, q8_0);
    SET(t, RW_DTYPE_Q4_K, "q4_K", KERN_QK_K, sizeof(kern_block_q4_k), RW_DTYPE_Q8_K, q4_k, q8_k);
    SET(t, RW_DTYPE_Q5_K, "q5_K", KERN_QK_K, sizeof(kern_block_q5_k), RW_DTYPE_Q8_K, q5_k, q8_k);
    SET(t, RW_DTYPE_Q6_K, "q6_K", KERN_QK_K, sizeof(kern_block_q6_k), RW_DTYPE_Q8_K, q6_k, q8_k);
    SET_ACT(t, RW_DTYPE_Q8_1, "q8_1", KERN_QK, sizeof(kern_block_q8_1), q8_1);
    SET_ACT(t, RW_DTYPE_Q8_K, "q8_K", KERN_QK_K, sizeof(kern_block_q8_k), q8_k);
}

#if KERN_X86
static void fill_avx2(kern_type_traits *t) {
    t[RW_DTYPE_F16].to_float = kern_dequant_row_f16_avx2;
    t[RW_DTYPE_BF16].to_float = kern_dequant_row_bf16_avx2;
    t[RW_DTYPE_Q8_0].to_float = kern_dequant_row_q8_0_avx2;
    t[RW_DTYPE_Q4_0].to_float = kern_dequant_row_q4_0_avx2;
    t[RW_DTYPE_Q4_K].to_float = kern_dequant_row_q4_k_avx2;
    t[RW_DTYPE_Q6_K].to_float = kern_dequant_row_q6_k_avx2;
    t[RW_DTYPE_Q4_1].to_float = kern_dequant_row_q4_1_avx2;
    t[RW_DTYPE_Q5_0].to_float = kern_dequant_row_q5_0_avx2;
    t[RW_DTYPE_Q5_1].to_float = kern_dequant_row_q5_1_avx2;
    t[RW_DTYPE_Q5_K].to_float = kern_dequant_row_q5_k_avx2;
    t[RW_DTYPE_Q8_0].from_float = kern_quantize_row_q8_0_avx2;
    t[RW_DTYPE_Q8_1].from_float = kern_quantize_row_q8_1_avx2;
    t[RW_DTYPE_Q8_K].from_float = kern_quantize_row_q8_k_avx2;
#define D(T, w, a) t[T].vec_dot = kern_vec_dot_##w##_##a##_avx2
    D(RW_DTYPE_F32, f32, f32);
    D(RW_DTYPE_F16, f16, f32);
    D(RW_DTYPE_BF16, bf16, f32);
    D(RW_DTYPE_Q4_0, q4_0, q8_0);
    D(RW_DTYPE_Q4_1, q4_1, q8_1);
    D(RW_DTYPE_Q5_0, q5_0, q8_0);
    D(RW_DTYPE_Q5_1, q5_1, q8_1);
    D(RW_DTYPE_Q8_0, q8_0, q8_0);
    D(RW_DTYPE_Q4_K, q4_k, q8_k);
    D(RW_DTYPE_Q5_K, q5_k, q8_k);
    D(RW_DTYPE_Q6_K, q6_k, q8_k);
#undef D
    t[RW_DTYPE_Q8_0].vec_dot_rows = kern_vec_dot_rows_q8_0_q8_0_avx2;
    t[RW_DTYPE_Q4_0].vec_dot_rows = kern_vec_dot_rows_q4_0_q8_0_avx2;
    t[RW_DTYPE_Q4_K].vec_dot_rows = kern_vec_dot_rows_q4_k_q8_k_avx2;
    t[RW_DTYPE_Q6_K].vec_dot_rows = kern_vec_dot_rows_q6_k_q8_k_avx2;
}

static void fill_avx512(kern_type_traits *t) {
#define D(T, w, a) t[T].vec_dot = kern_vec_dot_##w##_##a##_avx512
    D(RW_DTYPE_F32, f32, f32);
    D(RW_DTYPE_F16, f16, f32);
    D(RW_DTYPE_BF16, bf16, f32);
    D(RW_DTYPE_Q4_0, q4_0, q8_0);
    D(RW_DTYPE_Q8_0, q8_0, q8_0);
    D(RW_DTYPE_Q4_K, q4_k, q8_k);
    D(RW_DTYPE_Q6_K, q6_k, q8_k);
#undef D
    t[RW_DTYPE_Q8_0].vec_dot_rows = kern_vec_dot_rows_q8_0_q8_0_avx512;
    t[RW_DTYPE_Q4_0].vec_dot_rows = kern_vec_dot_rows_q4_0_q8_0_avx512;
    /* quant_rows_q5_avx512.c */
    t[RW_DTYPE_Q5_K].vec_dot = kern_vec_dot_q5_k_q8_k_avx512;
    t[RW_DTYPE_Q5_K].vec_dot_rows = kern_vec_dot_rows_q5_k_q8_k_avx512;
    t[RW_DTYPE_Q5_0].vec_dot = kern_vec_dot_q5_0_q8_0_avx512;
    t[RW_DTYPE_Q5_0].vec_dot_rows = kern_vec_dot_rows_q5_0_q8_0_avx512;
    t[RW_DTYPE_Q4_1].vec_dot = kern_vec_dot_q4_1_q8_1_avx512;
    t[RW_DTYPE_Q4_1].vec_dot_rows = kern_vec_dot_rows_q4_1_q8_1_avx512;
    t[RW_DTYPE_Q5_1].vec_dot = kern_vec_dot_q5_1_q8_1_avx512;
    t[RW_DTYPE_Q5_1].vec_dot_rows = kern_vec_dot_rows_q5_1_q8_1_avx512;
    t[RW_DTYPE_Q4_K].vec_dot_rows = kern_vec_dot_rows_q4_k_q8_k_avx512;
    t[RW_DTYPE_Q6_K].vec_dot_rows = kern_vec_dot_rows_q6_k_q8_k_avx512;
}
#endif

static void init_tables(void) {
    g_level = kern_cpu_level();
    kern_level hw = kern_cpu_hw_level();
    if (hw == KERN_LEVEL_AVX512 && !kern_cpu_get()->avx512vnni)
        hw = KERN_LEVEL_AVX2; /* our AVX-512 quant kernels also need VNNI */
    if (g_level > hw) g_level = hw;
    for (int l = 0; l < 3; l++)
        fill_ref(g_tables[l]);
#if KERN_X86
    if (hw >= KERN_LEVEL_AVX2) {
        fill_avx2(g_tables[KERN_LEVEL_AVX2]);
        fill_avx2(g_tables[KERN_LEVEL_AVX512]);
    }
    if (hw >= KERN_LEVEL_AVX512) fill_avx512(g_tables[KERN_LEVEL_AVX512]);
#endif
}

kern_level kern_level_cached(void) {
    pthread_once(&g_once, init_tables);
    return g_level;
}

const kern_type_traits *kern_type_get_level(rw_dtype type, kern_level level) {
    pthread_once(&g_once, init_tables);
    if ((unsigned)type >= RW_DTYPE_COUNT || (unsigned)level > KERN_LEVEL_AVX512) return NULL;
    const kern_type_traits *t = &g_tables[level][type];
    return t->to_float ? t : NULL;
}

const kern_type_traits *kern_type_get(rw_dtype type) {
    return kern_type_get_level(type, kern_level_cached());
}

void kern_vec_dot_rows(const kern_type_traits *t, int64_t n, float *s, const void *w,
                       size_t w_stride, int64_t nrows, const void *a) {
    if (t->vec_dot_rows) {
        t->vec_dot_rows(n, s, w, w_stride, nrows, a);
        return;
    }
    for (int64_t r = 0; r < nrows; r++)
        t->vec_dot(n, &s[r], (const char *)w + (size_t)r * w_stride, a);
}

size_t kern_row_bytes(rw_dtype type, int64_t n) {
    const kern_type_traits *t = kern_type_get(type);
    RW_ASSERT(t != NULL, "unsupported type %d", (int)type);
    RW_ASSERT(n >= 0 && n % t->block_size == 0,
              "row of %lld elements is not a multiple of %s's %lld", (long long)n, t->name,
              (long long)t->block_size);
    return (size_t)(n / t->block_size) * t->type_size;
}

size_t kern_quantize(rw_dtype type, const float *src, void *dst, int64_t nrows, int64_t n_per_row) {
    const kern_type_traits *t = kern_type_get(type);
    RW_ASSERT(t != NULL, "unsupported type %d", (int)type);
    size_t rb = kern_row_bytes(type, n_per_row);
    for (int64_t r = 0; r < nrows; r++)
        t->from_float_ref(src + r * n_per_row, (char *)dst + (size_t)r * rb, n_per_row);
    return (size_t)nrows * rb;
}

void kern_dequantize(rw_dtype type, const void *src, float *dst, int64_t nrows, int64_t n_per_row) {
    const kern_type_traits *t = kern_type_get(type);
    RW_ASSERT(t != NULL, "unsupported type %d", (int)type);
    size_t rb = kern_row_bytes(type, n_per_row);
    for (int64_t r = 0; r < nrows; r++)
        t->to_float((const char *)src + (size_t)r * rb, dst + r * n_per_row, n_per_row);
}

/* Layout pins: ggml-common.h's sizes and offsets. */
_Static_assert(sizeof(kern_block_q4_0) == 18, "q4_0");
_Static_assert(offsetof(kern_block_q4_0, qs) == 2, "q4_0");
_Static_assert(sizeof(kern_block_q4_1) == 20, "q4_1");
_Static_assert(offsetof(kern_block_q4_1, m) == 2 && offsetof(kern_block_q4_1, qs) == 4, "q4_1");
_Static_assert(sizeof(kern_block_q5_0) == 22, "q5_0");
_Static_assert(offsetof(kern_block_q5_0, qh) == 2 && offsetof(kern_block_q5_0, qs) == 6, "q5_0");
_Static_assert(sizeof(kern_block_q5_1) == 24, "q5_1");
_Static_assert(offsetof(kern_block_q5_1, qh) == 4 && offsetof(kern_block_q5_1, qs) == 8, "q5_1");
_Static_assert(sizeof(kern_block_q8_0) == 34, "q8_0");
_Static_assert(offsetof(kern_block_q8_0, qs) == 2, "q8_0");
_Static_assert(sizeof(kern_block_q8_1) == 36, "q8_1");
_Static_assert(offsetof(kern_block_q8_1, s) == 2 && offsetof(kern_block_q8_1, qs) == 4, "q8_1");
_Static_assert(sizeof(kern_block_q4_k) == 144, "q4_K");
_Static_assert(offsetof(kern_block_q4_k, dmin) == 2 && offsetof(kern_block_q4_k, scales) == 4 &&
                   offsetof(kern_block_q4_k, qs) == 16,
               "q4_K");
_Static_assert(sizeof(kern_block_q5_k) == 176, "q5_K");
_Static_assert(offsetof(kern_block_q5_k, scales) == 4 && offsetof(kern_block_q5_k, qh) == 16 &&
                   offsetof(kern_block_q5_k, qs) == 48,
               "q5_K");
_Static_assert(sizeof(kern_block_q6_k) == 210, "q6_K");
_Static_assert(offsetof(kern_block_q6_k, qh) == 128 && offsetof(kern_block_q6_k, scales) == 192 &&
                   offsetof(kern_block_q6_k, d) == 208,
               "q6_K");
_Static_assert(sizeof(kern_block_q8_k) == 292, "q8_K");
_Static_assert(offsetof(kern_block_q8_k, qs) == 4 && offsetof(kern_block_q8_k, bsums) == 260,
               "q8_K");
