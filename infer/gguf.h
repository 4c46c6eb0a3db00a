/* GGUF v3 reader and writer (the model file format of the llama.cpp ecosystem).
 *
 * Reference: the GGUF specification (ggml docs/gguf.md), little-endian only:
 *   magic "GGUF", u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv x (string key, u32 value type, value),
 *   n_tensors x (string name, u32 n_dims, n_dims x u64 ne, u32 type, u64 offset),
 *   padding to `general.alignment` (default 32), then the tensor data section.
 *   A string is u64 length + bytes (no NUL). An array is u32 element type + u64 count +
 *   elements (strings and nested arrays inline).
 *
 * Reader invariants: the file is mmapped read-only and validated completely by
 * infer_gguf_open: every count, length, offset and size is checked for overflow and bounds
 * before use; keys and tensor names are unique and contain no NUL byte; every tensor's type
 * is known, its ne[0] is a multiple of the block size, its offset is a multiple of the
 * alignment and its bytes lie inside the file; tensors do not overlap. Versions 2 and 3
 * are accepted (same layout), version 1 and big-endian files are rejected. Error messages
 * name the field (key or tensor name) and the byte offset where the problem is.
 * After a successful open no accessor can read out of bounds, so accessors on a valid
 * handle only fail for "not found" and "wrong type".
 *
 * Ownership: every pointer the reader returns (key names, string views, array data, tensor
 * data) is a view into the mapping or into the handle, valid until infer_gguf_close.
 * Key and tensor names are NUL-terminated copies; string VALUES are (ptr,len) views into
 * the file and are NOT NUL-terminated (use infer_gguf_str_dup for a C string).
 * Numeric array data in the file may be unaligned: read elements with the accessors or
 * memcpy, never by casting `data` to a typed pointer. Tensor data is read-only memory.
 * Handles are not thread-safe for close, but concurrent reads of one open handle are fine
 * (accessors never mutate it). */
#ifndef INFER_GGUF_H
#define INFER_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"

/* Metadata value types, numbered as on disk. */
typedef enum infer_gguf_type {
    INFER_GGUF_UINT8 = 0,
    INFER_GGUF_INT8 = 1,
    INFER_GGUF_UINT16 = 2,
    INFER_GGUF_INT16 = 3,
    INFER_GGUF_UINT32 = 4,
    INFER_GGUF_INT32 = 5,
    INFER_GGUF_FLOAT32 = 6,
    INFER_GGUF_BOOL = 7,
    INFER_GGUF_STRING = 8,
    INFER_GGUF_ARRAY = 9,
    INFER_GGUF_UINT64 = 10,
    INFER_GGUF_INT64 = 11,
    INFER_GGUF_FLOAT64 = 12,
    INFER_GGUF_TYPE_COUNT = 13
} infer_gguf_type;

enum {
    INFER_GGUF_DEFAULT_ALIGNMENT = 32,
    INFER_GGUF_MAX_ARRAY_DEPTH = 4, /* nesting deeper than this is rejected */
};

/* "uint8", "string", "array", ...; "?" for an unknown value. */
const char *infer_gguf_type_name(infer_gguf_type t);
/* Bytes of one element of a fixed-size type (1..8); 0 for string, array and unknown. */
size_t infer_gguf_type_size(infer_gguf_type t);

/* A string value: a view, NOT NUL-terminated. */
typedef struct infer_gguf_str {
    const char *ptr;
    uint64_t len;
} infer_gguf_str;

/* A view of one metadata value (a scalar, a string or an array) in the GGUF encoding.
 * `data` points at the value's payload as it is stored on disk: for a scalar its bytes,
 * for a string its u64 length, for an array its first element (after type and count).
 * For arrays: elem_type, count and, for fixed-size elements, elem_size are set.
 * The view is valid as long as the memory it points to (reader: until close). */
typedef struct infer_gguf_value {
    infer_gguf_type type;
    infer_gguf_type elem_type; /* arrays only */
    uint64_t count;            /* arrays only: number of elements */
    size_t elem_size;          /* arrays of fixed-size elements: bytes per element, else 0 */
    const unsigned char *data; /* payload (see above); may be unaligned */
    size_t size;               /* bytes of the payload */
    /* private: element offsets (from data) of a string/array array, or NULL (then walked) */
    const uint64_t *offsets_;
} infer_gguf_value;

/* ---------------------------------------------------------------- reader */

typedef struct infer_gguf infer_gguf;

typedef struct infer_gguf_tensor_info {
    const char *name;  /* NUL-terminated, owned by the handle */
    rw_dtype type;
    int n_dims;        /* 0..4 as stored; ne[i] = 1 for i >= n_dims */
    int64_t ne[RW_MAX_DIMS];
    uint64_t offset;   /* from the start of the data section (multiple of the alignment) */
    uint64_t nbytes;   /* exact size of the data */
    uint64_t file_offset; /* byte offset of this tensor's info record (for messages) */
} infer_gguf_tensor_info;

/* Maps and validates `path`. On failure *out is untouched and err names the file, the
 * field and the byte offset. RW_E_IO (open/mmap), RW_E_FORMAT (bad magic, version, type,
 * duplicate, misaligned...), RW_E_RANGE (length/count/offset past the end, overflow),
 * RW_E_NOMEM. */
rw_status infer_gguf_open(const char *path, infer_gguf **out, rw_err *err);
/* Same over a caller's buffer (borrowed; must outlive the handle). For tests and fuzzing. */
rw_status infer_gguf_open_memory(const void *data, size_t size, infer_gguf **out, rw_err *err);
/* Unmaps and frees; NULL does nothing. */
void infer_gguf_close(infer_gguf *g);

uint32_t infer_gguf_version(const infer_gguf *g);
uint64_t infer_gguf_n_kv(const infer_gguf *g);
uint64_t infer_gguf_n_tensors(const infer_gguf *g);
uint32_t infer_gguf_alignment(const infer_gguf *g);
uint64_t infer_gguf_data_offset(const infer_gguf *g); /* byte offset of the data section */
uint64_t infer_gguf_file_size(const infer_gguf *g);
/* The whole mapped file (read-only, file_size bytes). */
const void *infer_gguf_base(const infer_gguf *g);

/* Metadata by index (0 <= i < n_kv, in file order). */
const char *infer_gguf_key(const infer_gguf *g, uint64_t i); /* NUL-terminated */
const infer_gguf_value *infer_gguf_kv_value(const infer_gguf *g, uint64_t i);
/* Index of a key, or -1 when absent. */
int64_t infer_gguf_find_key(const infer_gguf *g, const char *key);
/* The value of a key; NULL when absent. */
const infer_gguf_value *infer_gguf_get(const infer_gguf *g, const char *key);

/* Typed getters. RW_E_NOTFOUND when the key is absent, RW_E_FORMAT when its type does not
 * fit (message names key, stored type and value). *out is written only on success.
 *   get_u32/get_i32/get_u64/get_i64: any integer type (and bool) whose value fits.
 *   get_f32/get_f64: float32 or float64 (f64 -> f32 must be finite or already inf/nan).
 *   get_bool: bool only. get_str: string only (view into the file).
 *   get_arr: array only (any element type). */
rw_status infer_gguf_get_u32(const infer_gguf *g, const char *key, uint32_t *out, rw_err *err);
rw_status infer_gguf_get_i32(const infer_gguf *g, const char *key, int32_t *out, rw_err *err);
rw_status infer_gguf_get_u64(const infer_gguf *g, const char *key, uint64_t *out, rw_err *err);
rw_status infer_gguf_get_i64(const infer_gguf *g, const char *key, int64_t *out, rw_err *err);
rw_status infer_gguf_get_f32(const infer_gguf *g, const char *key, float *out, rw_err *err);
rw_status infer_gguf_get_f64(const infer_gguf *g, const char *key, double *out, rw_err *err);
rw_status infer_gguf_get_bool(const infer_gguf *g, const char *key, bool *out, rw_err *err);
rw_status infer_gguf_get_str(const infer_gguf *g, const char *key, infer_gguf_str *out, rw_err *err);
rw_status infer_gguf_get_arr(const infer_gguf *g, const char *key, infer_gguf_value *out,
                             rw_err *err);

/* Value-level conversions (used by the getters; work on array elements too). */
rw_status infer_gguf_value_int(const infer_gguf_value *v, int64_t *out);   /* ints, bool */
rw_status infer_gguf_value_uint(const infer_gguf_value *v, uint64_t *out); /* ints >= 0, bool */
rw_status infer_gguf_value_float(const infer_gguf_value *v, double *out);  /* f32, f64 */
rw_status infer_gguf_value_str(const infer_gguf_value *v, infer_gguf_str *out); /* string */

/* Array elements (RW_E_RANGE when i >= count, RW_E_FORMAT on an element type mismatch).
 * arr_elem gives a value view of any element (nested arrays included); string elements
 * and elements of string arrays are O(1) for top-level arrays of the reader. */
rw_status infer_gguf_arr_elem(const infer_gguf_value *arr, uint64_t i, infer_gguf_value *out);
rw_status infer_gguf_arr_str(const infer_gguf_value *arr, uint64_t i, infer_gguf_str *out);
rw_status infer_gguf_arr_int(const infer_gguf_value *arr, uint64_t i, int64_t *out);
rw_status infer_gguf_arr_float(const infer_gguf_value *arr, uint64_t i, double *out);
/* Copies a whole numeric array converted to float/int32 into dst[count]: float from f32/f64
 * (and integer types), int32 from any integer type whose every value fits. */
rw_status infer_gguf_arr_to_f32(const infer_gguf_value *arr, float *dst, rw_err *err);
rw_status infer_gguf_arr_to_i32(const infer_gguf_value *arr, int32_t *dst, rw_err *err);

/* A NUL-terminated heap copy of a string view (free with rw_free); NULL on failure. */
char *infer_gguf_str_dup(infer_gguf_str s);
/* true when the view equals the C string exactly. */
bool infer_gguf_str_eq(infer_gguf_str s, const char *c);

/* Tensors by index (file order) or name. */
const infer_gguf_tensor_info *infer_gguf_tensor_info_at(const infer_gguf *g, uint64_t i);
int64_t infer_gguf_find_tensor(const infer_gguf *g, const char *name); /* -1 when absent */
/* A contiguous rw_tensor view of a tensor (data and name point into the handle; the data
 * is read-only). RW_E_NOTFOUND with the name when absent. n_dims of the view is at least 1. */
rw_status infer_gguf_get_tensor(const infer_gguf *g, const char *name, rw_tensor *out,
                                rw_err *err);
rw_status infer_gguf_tensor_at(const infer_gguf *g, uint64_t i, rw_tensor *out);

/* ---------------------------------------------------------------- writer */

/* A builder: metadata in insertion order (setting an existing key replaces its value in
 * place), tensors in insertion order. Values are copied into the builder; tensor data is
 * BORROWED until infer_gguf_writer_write returns. The alignment is `general.alignment` when
 * set (must be a uint32 power of two), else 32. */
typedef struct infer_gguf_writer infer_gguf_writer;

rw_status infer_gguf_writer_create(infer_gguf_writer **out, rw_err *err);
void infer_gguf_writer_destroy(infer_gguf_writer *w);

rw_status infer_gguf_writer_set_u8(infer_gguf_writer *w, const char *key, uint8_t v, rw_err *err);
rw_status infer_gguf_writer_set_i8(infer_gguf_writer *w, const char *key, int8_t v, rw_err *err);
rw_status infer_gguf_writer_set_u16(infer_gguf_writer *w, const char *key, uint16_t v, rw_err *err);
rw_status infer_gguf_writer_set_i16(infer_gguf_writer *w, const char *key, int16_t v, rw_err *err);
rw_status infer_gguf_writer_set_u32(infer_gguf_writer *w, const char *key, uint32_t v, rw_err *err);
rw_status infer_gguf_writer_set_i32(infer_gguf_writer *w, const char *key, int32_t v, rw_err *err);
rw_status infer_gguf_writer_set_u64(infer_gguf_writer *w, const char *key, uint64_t v, rw_err *err);
rw_status infer_gguf_writer_set_i64(infer_gguf_writer *w, const char *key, int64_t v, rw_err *err);
rw_status infer_gguf_writer_set_f32(infer_gguf_writer *w, const char *key, float v, rw_err *err);
rw_status infer_gguf_writer_set_f64(infer_gguf_writer *w, const char *key, double v, rw_err *err);
rw_status infer_gguf_writer_set_bool(infer_gguf_writer *w, const char *key, bool v, rw_err *err);
/* NUL-terminated value. */
rw_status infer_gguf_writer_set_str(infer_gguf_writer *w, const char *key, const char *v,
                                    rw_err *err);
/* Array of a fixed-size type: `n` host-order elements of infer_gguf_type_size(elem_type). */
rw_status infer_gguf_writer_set_arr(infer_gguf_writer *w, const char *key,
                                    infer_gguf_type elem_type, const void *data, uint64_t n,
                                    rw_err *err);
/* Array of strings; lens may be NULL (then strlen of each). */
rw_status infer_gguf_writer_set_arr_str(infer_gguf_writer *w, const char *key,
                                        const char *const *strs, const size_t *lens, uint64_t n,
                                        rw_err *err);
/* Any value given as a view in the on-disk encoding (e.g. from a reader, or hand-encoded
 * nested arrays). The payload is validated and copied. */
rw_status infer_gguf_writer_set_value(infer_gguf_writer *w, const char *key,
                                      const infer_gguf_value *v, rw_err *err);
/* Copies every key of `src` that starts with `prefix` ("" copies all), keeping src order. */
rw_status infer_gguf_writer_copy_kv(infer_gguf_writer *w, const infer_gguf *src,
                                    const char *prefix, rw_err *err);
/* Removes a key if present (no-op otherwise). */
void infer_gguf_writer_remove(infer_gguf_writer *w, const char *key);

/* Adds a tensor: ne[0..n_dims) (1 <= n_dims <= 4), data of exactly the tensor's byte size
 * (borrowed until write). RW_E_INVALID on a duplicate name, bad type or shape. */
rw_status infer_gguf_writer_add_tensor(infer_gguf_writer *w, const char *name, rw_dtype type,
                                       int n_dims, const int64_t *ne, const void *data,
                                       rw_err *err);
uint64_t infer_gguf_writer_n_tensors(const infer_gguf_writer *w);

/* Writes the file atomically: a temporary file in the same folder, fsync, rename over
 * `path`, fsync of the folder. On failure the temporary file is removed and `path` is
 * untouched. */
rw_status infer_gguf_writer_write(infer_gguf_writer *w, const char *path, rw_err *err);

#endif
