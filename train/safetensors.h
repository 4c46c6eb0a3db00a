/* safetensors reader and writer (Hugging Face's tensor file format, used by PEFT's
 * adapter_model.safetensors).
 *
 * No packaged C safetensors library exists in the Debian registry this project uses, so the
 * format is read and written here with Jansson. Format (huggingface/safetensors README):
 *   u64 little-endian N, then N bytes of UTF-8 JSON (may be padded with trailing spaces),
 *   then the byte buffer. The JSON object maps each tensor name to
 *   {"dtype": "F32"|"F16"|"BF16"|..., "shape": [d0, d1, ...], "data_offsets": [begin, end]}
 *   with offsets relative to the start of the byte buffer, plus an optional
 *   "__metadata__" object of string -> string. Row-major (C order) data, little-endian.
 * Reader rules (strict, for untrusted files): N <= 100 MB and inside the file; the header is
 * valid JSON whose top level is an object; every entry has exactly those three keys of the
 * right types; dtype is known (F32, F16, BF16 are readable to f32; others are rejected by
 * train_st_to_f32 with RW_E_UNSUPPORTED); at most 8 dims, each >= 0; byte size = product
 * of shape * dtype size without overflow and equal to end - begin; the tensors tile the
 * byte buffer exactly (sorted by begin they are contiguous from 0 to its end: no holes, no
 * overlaps, no trailing bytes); names are unique and non-empty. Errors name the tensor and
 * field (or the byte offset).
 * Writer: F32 tensors, keys sorted, header padded with spaces to a multiple of 8, data
 * in header order; written atomically (temp file, fsync, rename).
 *
 * Ownership: a parsed train_st owns its name strings and the tensor array; tensor data are
 * views into the caller's buffer, valid while it lives. */
#ifndef TRAIN_SAFETENSORS_H
#define TRAIN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

enum { TRAIN_ST_MAX_DIMS = 8 };

typedef enum train_st_dtype {
    TRAIN_ST_F32 = 0,
    TRAIN_ST_F16,
    TRAIN_ST_BF16,
    TRAIN_ST_F64,
    TRAIN_ST_I64,
    TRAIN_ST_I32,
    TRAIN_ST_I16,
    TRAIN_ST_I8,
    TRAIN_ST_U8,
    TRAIN_ST_BOOL,
} train_st_dtype;

typedef struct train_st_tensor {
    char *name;
    train_st_dtype dtype;
    int n_dims;
    int64_t shape[TRAIN_ST_MAX_DIMS];
    const unsigned char *data; /* view, may be unaligned */
    size_t nbytes;
    uint64_t n_elems;
} train_st_tensor;

typedef struct train_st {
    train_st_tensor *t;
    size_t n;
} train_st;

rw_status train_st_parse(const void *buf, size_t len, const char *name, train_st *out,
                         rw_err *err);
void train_st_free(train_st *s);
/* Index of a tensor by name, or -1. */
long train_st_find(const train_st *s, const char *name);
/* Converts a F32/F16/BF16 tensor to dst[n_elems]. */
rw_status train_st_to_f32(const train_st_tensor *t, float *dst, rw_err *err);

typedef struct train_st_out {
    const char *name;
    int n_dims;
    int64_t shape[TRAIN_ST_MAX_DIMS];
    const float *data; /* row-major, product(shape) floats */
} train_st_out;

/* Writes F32 tensors (and optional metadata pairs meta[2i] -> meta[2i+1]) to path. */
rw_status train_st_write(const char *path, const train_st_out *t, size_t n,
                         const char *const *meta, size_t n_meta, rw_err *err);

#endif
