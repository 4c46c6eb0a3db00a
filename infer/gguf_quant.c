/* Quantize plan and conversion (see gguf_quant.h for the rules and their source). */
#include "infer/gguf_quant.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "kernels/quant.h"

static const struct {
    infer_gguf_ftype ft;
    const char *name;
    rw_dtype base;
} g_ftypes[] = {
    {INFER_GGUF_FTYPE_F32, "F32", RW_DTYPE_F32},       {INFER_GGUF_FTYPE_F16, "F16", RW_DTYPE_F16},
    {INFER_GGUF_FTYPE_Q4_0, "Q4_0", RW_DTYPE_Q4_0},    {INFER_GGUF_FTYPE_Q4_1, "Q4_1", RW_DTYPE_Q4_1},
    {INFER_GGUF_FTYPE_Q8_0, "Q8_0", RW_DTYPE_Q8_0},    {INFER_GGUF_FTYPE_Q5_0, "Q5_0", RW_DTYPE_Q5_0},
    {INFER_GGUF_FTYPE_Q5_1, "Q5_1", RW_DTYPE_Q5_1},    {INFER_GGUF_FTYPE_Q4_K_M, "Q4_K_M", RW_DTYPE_Q4_K},
    {INFER_GGUF_FTYPE_Q5_K_M, "Q5_K_M", RW_DTYPE_Q5_K}, {INFER_GGUF_FTYPE_Q6_K, "Q6_K", RW_DTYPE_Q6_K},
};
enum { N_FTYPES = sizeof g_ftypes / sizeof g_ftypes[0] };

const char *infer_gguf_ftype_name(uint32_t ftype) {
    for (int i = 0; i < N_FTYPES; i++)
        if ((uint32_t)g_ftypes[i].ft == ftype) return g_ftypes[i].name;
    if (ftype == 32) return "BF16";
    return "?";
}

rw_status infer_gguf_ftype_parse(const char *s, infer_gguf_ftype *out, rw_err *err) {
    for (int i = 2; i < N_FTYPES; i++) /* F32/F16 are not quantize targets */
        if (strcasecmp(s, g_ftypes[i].name) == 0) {
            *out = g_ftypes[i].ft;
            return RW_OK;
        }
    return rw_err_set(err, RW_E_INVALID,
                      "unknown quantization type '%s' (expected Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, "
                      "Q4_K_M, Q5_K_M or Q6_K)", s);
}

static rw_dtype base_type(infer_gguf_ftype ft) {
    for (int i = 0; i < N_FTYPES; i++)
        if (g_ftypes[i].ft == ft) return g_ftypes[i].base;
    return RW_DTYPE_F32;
}

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static bool use_more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static rw_dtype fallback(rw_dtype t) {
    switch (t) {
    case RW_DTYPE_Q4_K: return RW_DTYPE_Q5_0;
    case RW_DTYPE_Q5_K: return RW_DTYPE_Q5_1;
    case RW_DTYPE_Q6_K: return RW_DTYPE_Q8_0;
    default: return RW_DTYPE_F16;
    }
}

rw_status infer_gguf_quant_plan(const infer_gguf *in, infer_gguf_ftype ft, rw_dtype *types,
                                rw_err *err) {
    bool known = false;
    for (int i = 2; i < N_FTYPES; i++) known |= g_ftypes[i].ft == ft;
    if (!known) return rw_err_set(err, RW_E_INVALID, "file type %d is not a quantize target", (int)ft);
    const rw_dtype base = base_type(ft);
    const bool km = ft == INFER_GGUF_FTYPE_Q4_K_M || ft == INFER_GGUF_FTYPE_Q5_K_M;
    const uint64_t n = infer_gguf_n_tensors(in);
    const bool has_output = infer_gguf_find_tensor(in, "output.weight") >= 0;
    int n_attn_v = 0, n_ffn_down = 0, i_attn_v = 0, i_ffn_down = 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *name = infer_gguf_tensor_info_at(in, i)->name;
        n_attn_v += strstr(name, "attn_v.weight") != NULL;
        n_ffn_down += strstr(name, "ffn_down.weight") != NULL;
    }
    for (uint64_t i = 0; i < n; i++) {
        const infer_gguf_tensor_info *t = infer_gguf_tensor_info_at(in, i);
        const char *name = t->name;
        bool quantize = ends_with(name, "weight") && t->n_dims >= 2 &&
                        !ends_with(name, "_norm.weight") &&
                        strcmp(name, "position_embd.weight") != 0 &&
                        strcmp(name, "token_types.weight") != 0;
        if (!quantize) {
            types[i] = t->type;
            continue;
        }
        rw_dtype nt = base;
        if (strcmp(name, "output.weight") == 0 ||
            (!has_output && strcmp(name, "token_embd.weight") == 0)) {
            if (t->ne[0] % 256 != 0)
                nt = RW_DTYPE_Q8_0;
            else if (nt != RW_DTYPE_Q8_0)
                nt = RW_DTYPE_Q6_K;
        } else if (strstr(name, "attn_v.weight")) {
            if (km && use_more_bits(i_attn_v, n_attn_v)) nt = RW_DTYPE_Q6_K;
            i_attn_v++;
        } else if (strstr(name, "ffn_down")) {
            if (km && use_more_bits(i_ffn_down, n_ffn_down)) nt = RW_DTYPE_Q6_K;
            i_ffn_down++;
        } else if (strstr(name, "attn_qkv.weight")) {
            if (ft == INFER_GGUF_FTYPE_Q4_K_M) nt = RW_DTYPE_Q5_K;
        }
        while (t->ne[0] % rw_dtype_get((uint32_t)nt)->block_size != 0) nt = fallback(nt);
        types[i] = nt;
    }
    return RW_OK;
}

rw_status infer_gguf_quantize(const infer_gguf *in, const char *path, infer_gguf_ftype ftype,
                              infer_gguf_quant_stats *stats, rw_err *err) {
    const uint64_t n = infer_gguf_n_tensors(in);
    infer_gguf_quant_stats s = {.n_tensors = n};
    infer_gguf_writer *w = NULL;
    void **bufs = NULL; /* owned outputs, freed after the write */
    float *tmp = NULL;
    rw_status st;
    rw_dtype *types = rw_alloc_array(n ? (size_t)n : 1, sizeof *types);
    bufs = rw_calloc(n ? (size_t)n : 1, sizeof *bufs);
    if (!types || !bufs) {
        st = rw_err_set(err, RW_E_NOMEM, "out of memory planning %llu tensors", (unsigned long long)n);
        goto done;
    }
    if ((st = infer_gguf_quant_plan(in, ftype, types, err))) goto done;
    if ((st = infer_gguf_writer_create(&w, err))) goto done;
    if ((st = infer_gguf_writer_copy_kv(w, in, "", err)) ||
        (st = infer_gguf_writer_set_u32(w, "general.file_type", (uint32_t)ftype, err)) ||
        (st = infer_gguf_writer_set_u32(w, "general.quantization_version", 2, err)))
        goto done;
    for (uint64_t i = 0; i < n; i++) {
        rw_tensor t;
        if (infer_gguf_tensor_at(in, i, &t) != RW_OK) {
            st = rw_err_set(err, RW_E_RANGE, "tensor #%llu does not fit in memory", (unsigned long long)i);
            goto done;
        }
        const void *data = t.data;
        size_t in_bytes = rw_tensor_nbytes(&t), out_bytes = in_bytes;
        if (types[i] != t.type) {
            if (t.type != RW_DTYPE_F32 && t.type != RW_DTYPE_F16 && t.type != RW_DTYPE_BF16) {
                st = rw_err_set(err, RW_E_UNSUPPORTED,
                                "tensor '%s' is already %s: requantizing is not supported (start "
                                "from an F32/F16/BF16 file)", t.name, rw_dtype_get((uint32_t)t.type)->name);
                goto done;
            }
            const int64_t nrows = rw_tensor_nrows(&t), npr = t.ne[0];
            const float *src = t.data;
            if (t.type != RW_DTYPE_F32) {
                tmp = rw_alloc_array((size_t)rw_tensor_nelements(&t), sizeof *tmp);
                if (!tmp) {
                    st = rw_err_set(err, RW_E_NOMEM, "tensor '%s': out of memory", t.name);
                    goto done;
                }
                kern_dequantize(t.type, t.data, tmp, nrows, npr);
                src = tmp;
            }
            out_bytes = kern_row_bytes(types[i], npr) * (size_t)nrows;
            bufs[i] = rw_malloc(out_bytes ? out_bytes : 1);
            if (!bufs[i]) {
                st = rw_err_set(err, RW_E_NOMEM, "tensor '%s': out of memory (%zu bytes)", t.name, out_bytes);
                goto done;
            }
            kern_quantize(types[i], src, bufs[i], nrows, npr);
            rw_free(tmp);
            tmp = NULL;
            data = bufs[i];
            s.n_quantized++;
        }
        s.bytes_in += in_bytes;
        s.bytes_out += out_bytes;
        if ((st = infer_gguf_writer_add_tensor(w, t.name, types[i], t.n_dims, t.ne, data, err))) goto done;
    }
    if ((st = infer_gguf_writer_write(w, path, err))) goto done;
    if (stats) *stats = s;
done:
    infer_gguf_writer_destroy(w);
    if (bufs)
        for (uint64_t i = 0; i < n; i++) rw_free(bufs[i]);
    rw_free(bufs);
    rw_free(tmp);
    rw_free(types);
    return st;
}
