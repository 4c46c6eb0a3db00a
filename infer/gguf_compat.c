/* llama.cpp layout rules for an already validated GGUF (infer/gguf_compat.h). Works on the
 * accessors only; the file was bounds-checked at open, so nothing here can read out of range.
 * Padded sizes are computed with overflow checks: a hostile nbytes near UINT64_MAX must give
 * a message, not a wrapped offset that happens to match. */
#include "infer/gguf_compat.h"

#include <inttypes.h>
#include <string.h>

rw_status infer_gguf_check_llama_compat(const infer_gguf *g, rw_err *err) {
    const uint64_t align = infer_gguf_alignment(g);
    uint64_t expect = 0;
    for (uint64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
        const infer_gguf_tensor_info *t = infer_gguf_tensor_info_at(g, i);
        size_t len = strlen(t->name);
        if (len >= INFER_GGUF_LLAMA_MAX_NAME)
            return rw_err_set(err, RW_E_FORMAT,
                              "byte %" PRIu64 ": tensor #%" PRIu64 " name is %zu bytes; llama.cpp "
                              "refuses names of %d bytes or more",
                              t->file_offset, i, len, INFER_GGUF_LLAMA_MAX_NAME);
        if (t->offset != expect)
            return rw_err_set(err, RW_E_FORMAT,
                              "byte %" PRIu64 ": tensor '%s' data at offset %" PRIu64
                              ", llama.cpp expects %" PRIu64 " (tensors stored in order, each "
                              "padded to %" PRIu64 " bytes)",
                              t->file_offset, t->name, t->offset, expect, align);
        uint64_t pad = (align - t->nbytes % align) % align;
        if (t->nbytes > UINT64_MAX - pad || expect > UINT64_MAX - (t->nbytes + pad))
            return rw_err_set(err, RW_E_RANGE, "byte %" PRIu64 ": tensor '%s': padded size overflows",
                              t->file_offset, t->name);
        expect += t->nbytes + pad;
    }
    return RW_OK;
}
