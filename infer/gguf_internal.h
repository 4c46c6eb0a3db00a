/* Private to infer/gguf*.c: the value-encoding validator shared by the reader (parsing a
 * file) and the writer (checking a caller's hand-encoded value before copying it). */
#ifndef INFER_GGUF_INTERNAL_H
#define INFER_GGUF_INTERNAL_H

#include "infer/gguf.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "GGUF I/O assumes a little-endian host"
#endif

/* A bounds-checked read cursor over [p, p+size). `base_off` is added to positions in
 * messages (the cursor's byte 0 is file byte base_off); `what` names the field. */
typedef struct infer_gguf_cursor {
    const unsigned char *p;
    size_t size;
    size_t pos;
    size_t base_off;
    char what[160];
    rw_err *err;
} infer_gguf_cursor;

/* Parses `count` elements of elem_type at the cursor (array payload), filling *offsets_out
 * (heap, rw_free; NULL when elem_type is fixed-size or count is 0) with each element's
 * offset from the payload start when offsets_out is non-NULL. depth = nesting level of the
 * array (1 for a top-level array). Advances the cursor past the payload. */
rw_status infer_gguf_parse_array_payload(infer_gguf_cursor *c, infer_gguf_type elem_type,
                                         uint64_t count, int depth, uint64_t **offsets_out);

/* Parses one value of type t at the cursor into a view; for top-level arrays with variable
 * sized elements, *offsets_out receives the offsets table (may be NULL). */
rw_status infer_gguf_parse_value(infer_gguf_cursor *c, infer_gguf_type t, int depth,
                                 infer_gguf_value *v, uint64_t **offsets_out);

#endif
