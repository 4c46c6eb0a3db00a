/* Quantize plan and conversion (see gguf_quant.h for the rules and their source). */
#include "infer/gguf_quant.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

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
    (void)in, (void)path, (void)ftype, (void)stats;
    return rw_err_set(err, RW_E_UNSUPPORTED, "quantize needs kernels/quant.h (not merged yet)");
}
