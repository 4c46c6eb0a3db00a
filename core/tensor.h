/* The tensor descriptor shared by every layer: a typed view of up to 4 dimensions.
 *
 * Dimension order follows ggml/GGUF: ne[0] is the innermost (contiguous) dimension, so a
 * weight of shape ne = {C_in, C_out} stores C_out rows of C_in elements. nb[i] is the byte
 * stride of dimension i. For quantized types nb[0] is the block's byte size and ne[0]
 * is a multiple of the block size. The descriptor never owns `data`. */
#ifndef RW_CORE_TENSOR_H
#define RW_CORE_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"

enum { RW_MAX_DIMS = 4 };

typedef struct rw_tensor {
    rw_dtype type;
    int n_dims;
    int64_t ne[RW_MAX_DIMS]; /* elements per dimension; unused dims are 1 */
    size_t nb[RW_MAX_DIMS];  /* byte strides */
    void *data;              /* borrowed */
    const char *name;        /* borrowed, may be NULL */
    /* Autograd (used only when a tape is attached, see core/tape.h): */
    uint32_t flags;          /* RW_TENSOR_* */
    struct rw_tensor *grad;  /* same shape, f32; set by train/ during backward; borrowed */
} rw_tensor;

enum {
    RW_TENSOR_PARAM = 1u << 0,      /* a trainable parameter (LoRA A/B, or a fully trained f32) */
    RW_TENSOR_NEEDS_GRAD = 1u << 1, /* on a path from a parameter: ops record themselves */
};

static inline bool rw_tensor_needs_grad(const rw_tensor *t) {
    return t && (t->flags & (RW_TENSOR_PARAM | RW_TENSOR_NEEDS_GRAD)) != 0;
}

/* Fills a contiguous descriptor; false when ne[0] is not a multiple of the block size or
 * sizes overflow. */
bool rw_tensor_init(rw_tensor *t, rw_dtype type, int n_dims, const int64_t *ne, void *data);
int64_t rw_tensor_nelements(const rw_tensor *t);
size_t rw_tensor_nbytes(const rw_tensor *t);
/* Number of rows (product of ne[1..]). */
int64_t rw_tensor_nrows(const rw_tensor *t);
bool rw_tensor_is_contiguous(const rw_tensor *t);

#endif
