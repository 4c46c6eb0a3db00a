/* libFuzzer target for the GGUF reader: open any bytes, and when they are accepted walk
 * every accessor (keys, typed getters, array elements incl. nested and strings, tensor
 * views and the last byte of each tensor, the llama.cpp layout check) so out-of-bounds reads
 * trip ASan. Inputs are copied to an exact-size heap buffer so reading one byte past the end
 * is caught. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "infer/gguf.h"
#include "infer/gguf_compat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned g_sink;

static void walk(const infer_gguf_value *v, int depth) {
    if (v->type != INFER_GGUF_ARRAY) {
        int64_t i;
        double d;
        infer_gguf_str s;
        if (infer_gguf_value_int(v, &i) == RW_OK) g_sink += (unsigned)i;
        if (infer_gguf_value_float(v, &d) == RW_OK) g_sink += (unsigned)(d == d);
        if (infer_gguf_value_str(v, &s) == RW_OK && s.len) g_sink += (unsigned char)s.ptr[s.len - 1];
        return;
    }
    uint64_t n = v->count < 64 ? v->count : 64;
    for (uint64_t k = 0; k < n; k++) {
        infer_gguf_value e;
        if (infer_gguf_arr_elem(v, k, &e) != RW_OK) abort(); /* validated at open */
        walk(&e, depth + 1);
    }
    if (v->count > 0) {
        infer_gguf_value e;
        if (infer_gguf_arr_elem(v, v->count - 1, &e) != RW_OK) abort();
        walk(&e, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    infer_gguf *g = NULL;
    rw_err err;
    if (infer_gguf_open_memory(copy, size, &g, &err) == RW_OK) {
        for (uint64_t i = 0; i < infer_gguf_n_kv(g); i++) {
            const char *k = infer_gguf_key(g, i);
            if (infer_gguf_find_key(g, k) != (int64_t)i) abort();
            walk(infer_gguf_kv_value(g, i), 0);
            uint32_t u;
            float f;
            infer_gguf_str s;
            infer_gguf_value a;
            (void)infer_gguf_get_u32(g, k, &u, &err);
            (void)infer_gguf_get_f32(g, k, &f, &err);
            (void)infer_gguf_get_str(g, k, &s, &err);
            if (infer_gguf_get_arr(g, k, &a, &err) == RW_OK && a.elem_size && a.count < 4096) {
                float *fb = malloc((size_t)a.count * sizeof *fb + 1);
                int32_t *ib = malloc((size_t)a.count * sizeof *ib + 1);
                if (fb && ib) {
                    (void)infer_gguf_arr_to_f32(&a, fb, &err);
                    (void)infer_gguf_arr_to_i32(&a, ib, &err);
                }
                free(fb);
                free(ib);
            }
        }
        for (uint64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
            rw_tensor t;
            const infer_gguf_tensor_info *ti = infer_gguf_tensor_info_at(g, i);
            if (infer_gguf_find_tensor(g, ti->name) != (int64_t)i) abort();
            if (infer_gguf_tensor_at(g, i, &t) == RW_OK && rw_tensor_nbytes(&t) > 0)
                g_sink += ((const uint8_t *)t.data)[rw_tensor_nbytes(&t) - 1];
        }
        g_sink += (unsigned)infer_gguf_check_llama_compat(g, &err);
        infer_gguf_close(g);
    }
    free(copy);
    return 0;
}
