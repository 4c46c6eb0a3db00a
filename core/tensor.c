/* Tensor descriptor helpers. */
#include "core/tensor.h"

bool rw_tensor_init(rw_tensor *t, rw_dtype type, int n_dims, const int64_t *ne, void *data) {
    const rw_dtype_info *ti = rw_dtype_get((uint32_t)type);
    if (!ti || n_dims < 1 || n_dims > RW_MAX_DIMS) return false;
    rw_tensor r = {.type = type, .n_dims = n_dims, .data = data};
    for (int i = 0; i < RW_MAX_DIMS; i++) r.ne[i] = i < n_dims ? ne[i] : 1;
    for (int i = 0; i < RW_MAX_DIMS; i++)
        if (r.ne[i] < 0) return false;
    if (r.ne[0] % ti->block_size != 0) return false;
    uint64_t row;
    if (!rw_dtype_row_bytes(type, (uint64_t)r.ne[0], &row)) return false;
    r.nb[0] = ti->type_size;
    r.nb[1] = (size_t)row;
    for (int i = 2; i < RW_MAX_DIMS; i++) {
        size_t s;
        if (__builtin_mul_overflow(r.nb[i - 1], (size_t)r.ne[i - 1], &s)) return false;
        r.nb[i] = s;
    }
    size_t total;
    if (__builtin_mul_overflow(r.nb[3], (size_t)r.ne[3], &total)) return false;
    *t = r;
    return true;
}

int64_t rw_tensor_nelements(const rw_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }

int64_t rw_tensor_nrows(const rw_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

size_t rw_tensor_nbytes(const rw_tensor *t) { return t->nb[3] * (size_t)t->ne[3]; }

bool rw_tensor_is_contiguous(const rw_tensor *t) {
    const rw_dtype_info *ti = rw_dtype_get((uint32_t)t->type);
    uint64_t row;
    if (!ti || t->nb[0] != ti->type_size) return false;
    if (!rw_dtype_row_bytes(t->type, (uint64_t)t->ne[0], &row) || t->nb[1] != row) return false;
    for (int i = 2; i < RW_MAX_DIMS; i++)
        if (t->nb[i] != t->nb[i - 1] * (size_t)t->ne[i - 1]) return false;
    return true;
}
