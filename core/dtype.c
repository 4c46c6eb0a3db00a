/* ggml's type table: block sizes and byte sizes match ggml.c's type_traits exactly. */
#include "core/dtype.h"

#include <strings.h>

static const rw_dtype_info g_types[RW_DTYPE_COUNT] = {
    [RW_DTYPE_F32] = {"f32", 1, 4, false, true},
    [RW_DTYPE_F16] = {"f16", 1, 2, false, true},
    [RW_DTYPE_Q4_0] = {"q4_0", 32, 18, true, true},
    [RW_DTYPE_Q4_1] = {"q4_1", 32, 20, true, true},
    [RW_DTYPE_Q5_0] = {"q5_0", 32, 22, true, true},
    [RW_DTYPE_Q5_1] = {"q5_1", 32, 24, true, true},
    [RW_DTYPE_Q8_0] = {"q8_0", 32, 34, true, true},
    [RW_DTYPE_Q8_1] = {"q8_1", 32, 36, true, false},
    [RW_DTYPE_Q2_K] = {"q2_K", 256, 84, true, false},
    [RW_DTYPE_Q3_K] = {"q3_K", 256, 110, true, false},
    [RW_DTYPE_Q4_K] = {"q4_K", 256, 144, true, true},
    [RW_DTYPE_Q5_K] = {"q5_K", 256, 176, true, true},
    [RW_DTYPE_Q6_K] = {"q6_K", 256, 210, true, true},
    [RW_DTYPE_Q8_K] = {"q8_K", 256, 292, true, false},
    [RW_DTYPE_IQ2_XXS] = {"iq2_xxs", 256, 66, true, false},
    [RW_DTYPE_IQ2_XS] = {"iq2_xs", 256, 74, true, false},
    [RW_DTYPE_IQ3_XXS] = {"iq3_xxs", 256, 98, true, false},
    [RW_DTYPE_IQ1_S] = {"iq1_s", 256, 50, true, false},
    [RW_DTYPE_IQ4_NL] = {"iq4_nl", 32, 18, true, false},
    [RW_DTYPE_IQ3_S] = {"iq3_s", 256, 110, true, false},
    [RW_DTYPE_IQ2_S] = {"iq2_s", 256, 82, true, false},
    [RW_DTYPE_IQ4_XS] = {"iq4_xs", 256, 136, true, false},
    [RW_DTYPE_I8] = {"i8", 1, 1, false, false},
    [RW_DTYPE_I16] = {"i16", 1, 2, false, false},
    [RW_DTYPE_I32] = {"i32", 1, 4, false, false},
    [RW_DTYPE_I64] = {"i64", 1, 8, false, false},
    [RW_DTYPE_F64] = {"f64", 1, 8, false, false},
    [RW_DTYPE_IQ1_M] = {"iq1_m", 256, 56, true, false},
    [RW_DTYPE_BF16] = {"bf16", 1, 2, false, true},
    [RW_DTYPE_TQ1_0] = {"tq1_0", 256, 54, true, false},
    [RW_DTYPE_TQ2_0] = {"tq2_0", 256, 66, true, false},
};

const rw_dtype_info *rw_dtype_get(uint32_t type) {
    if (type >= RW_DTYPE_COUNT || g_types[type].name == NULL) return NULL;
    return &g_types[type];
}

bool rw_dtype_row_bytes(rw_dtype t, uint64_t n, uint64_t *bytes) {
    const rw_dtype_info *ti = rw_dtype_get((uint32_t)t);
    if (!ti || n % ti->block_size != 0) return false;
    uint64_t blocks = n / ti->block_size, r;
    if (__builtin_mul_overflow(blocks, (uint64_t)ti->type_size, &r)) return false;
    *bytes = r;
    return true;
}

bool rw_dtype_from_name(const char *name, rw_dtype *out) {
    for (uint32_t i = 0; i < RW_DTYPE_COUNT; i++) {
        if (g_types[i].name && strcasecmp(g_types[i].name, name) == 0) {
            *out = (rw_dtype)i;
            return true;
        }
    }
    return false;
}
