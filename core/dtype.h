/* Element types, numbered exactly as ggml/GGUF number them (the values are on disk).
 *
 * Quantized types store blocks of `block_size` elements in `type_size` bytes; a row's
 * length must be a multiple of its block size. The table covers every type a GGUF file
 * may name so the reader can size any tensor; kernels/ implements the subset DESIGN.md
 * lists (rw_dtype_info(t)->supported says which). */
#ifndef RW_CORE_DTYPE_H
#define RW_CORE_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum rw_dtype {
    RW_DTYPE_F32 = 0,
    RW_DTYPE_F16 = 1,
    RW_DTYPE_Q4_0 = 2,
    RW_DTYPE_Q4_1 = 3,
    RW_DTYPE_Q5_0 = 6,
    RW_DTYPE_Q5_1 = 7,
    RW_DTYPE_Q8_0 = 8,
    RW_DTYPE_Q8_1 = 9,
    RW_DTYPE_Q2_K = 10,
    RW_DTYPE_Q3_K = 11,
    RW_DTYPE_Q4_K = 12,
    RW_DTYPE_Q5_K = 13,
    RW_DTYPE_Q6_K = 14,
    RW_DTYPE_Q8_K = 15,
    RW_DTYPE_IQ2_XXS = 16,
    RW_DTYPE_IQ2_XS = 17,
    RW_DTYPE_IQ3_XXS = 18,
    RW_DTYPE_IQ1_S = 19,
    RW_DTYPE_IQ4_NL = 20,
    RW_DTYPE_IQ3_S = 21,
    RW_DTYPE_IQ2_S = 22,
    RW_DTYPE_IQ4_XS = 23,
    RW_DTYPE_I8 = 24,
    RW_DTYPE_I16 = 25,
    RW_DTYPE_I32 = 26,
    RW_DTYPE_I64 = 27,
    RW_DTYPE_F64 = 28,
    RW_DTYPE_IQ1_M = 29,
    RW_DTYPE_BF16 = 30,
    RW_DTYPE_TQ1_0 = 34,
    RW_DTYPE_TQ2_0 = 35,
    RW_DTYPE_COUNT = 36
} rw_dtype;

typedef struct rw_dtype_info {
    const char *name;  /* "q4_K" style, as ggml prints it */
    uint32_t block_size; /* elements per block (1 for plain types) */
    uint32_t type_size;  /* bytes per block */
    bool quantized;
    bool supported; /* kernels/ can dequantize and multiply it */
} rw_dtype_info;

/* NULL for values that name no type (gaps such as 4, 5, 31..33, or >= RW_DTYPE_COUNT). */
const rw_dtype_info *rw_dtype_get(uint32_t type);

/* Bytes of a row of n elements; false when n is not a multiple of the block size or the
 * size overflows. */
bool rw_dtype_row_bytes(rw_dtype t, uint64_t n, uint64_t *bytes);

/* Looks a type up by name, case-insensitively ("Q4_K", "f16"); false when unknown. */
bool rw_dtype_from_name(const char *name, rw_dtype *out);

#endif
