/* rag-gguf: inspect, create and quantize GGUF model files.
 *
 *   rag-gguf info FILE
 *   rag-gguf new --arch llama|qwen3|bert --preset tiny|small|bench [--layers N --hidden N
 *                --heads N --kv-heads N --ffn N --ctx N] [--vocab FROM.gguf] [--seed N]
 *                [--type f32|f16] [--name NAME] OUT.gguf
 *   rag-gguf quantize IN.gguf OUT.gguf TYPE
 *
 * Thin: parsing arguments and printing; the work is in infer/gguf*.c. Exit 0 on success,
 * 1 on a failure (message on stderr), 2 on bad usage. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "infer/gguf.h"
#include "infer/gguf_compat.h"
#include "infer/gguf_model.h"
#include "infer/gguf_quant.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage:\n"
            "  rag-gguf info FILE\n"
            "  rag-gguf new --arch llama|qwen3|bert --preset tiny|small|bench\n"
            "               [--layers N] [--hidden N] [--heads N] [--kv-heads N] [--ffn N] [--ctx N]\n"
            "               [--vocab FROM.gguf] [--seed N] [--type f32|f16] [--name NAME] OUT.gguf\n"
            "  rag-gguf quantize IN.gguf OUT.gguf TYPE\n"
            "      TYPE: Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K_M Q5_K_M Q6_K\n"
            "Without --vocab, `new` embeds the project's default vocabulary (byte-level BPE for\n"
            "llama/qwen3, WordPiece for bert).\n");
}

/* ------------------------------------------------------------------ info */

/* Prints a string view escaped and cut at max bytes. */
static void print_str(infer_gguf_str s, size_t max) {
    putchar('"');
    size_t n = s.len < max ? (size_t)s.len : max;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c < 32 || c == 127)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('"');
    if (s.len > max) printf("...(%" PRIu64 " bytes)", s.len);
}

static void print_scalar(const infer_gguf_value *v) {
    int64_t i;
    uint64_t u;
    double d;
    infer_gguf_str s;
    if (v->type == INFER_GGUF_BOOL)
        fputs(v->data[0] ? "true" : "false", stdout);
    else if (v->type == INFER_GGUF_UINT64 && infer_gguf_value_uint(v, &u) == RW_OK)
        printf("%" PRIu64, u);
    else if (infer_gguf_value_int(v, &i) == RW_OK)
        printf("%" PRId64, i);
    else if (infer_gguf_value_float(v, &d) == RW_OK)
        printf("%.9g", d);
    else if (infer_gguf_value_str(v, &s) == RW_OK)
        print_str(s, 72);
}

static void print_value(const infer_gguf_value *v, int depth) {
    if (v->type != INFER_GGUF_ARRAY) {
        print_scalar(v);
        return;
    }
    printf("[%s x %" PRIu64 "]", infer_gguf_type_name(v->elem_type), v->count);
    uint64_t show = v->elem_type == INFER_GGUF_STRING ? 6 : 8;
    if (depth > 0) show = 3;
    fputs(" ", stdout);
    for (uint64_t k = 0; k < v->count && k < show; k++) {
        infer_gguf_value e;
        if (infer_gguf_arr_elem(v, k, &e) != RW_OK) break;
        if (k) fputs(", ", stdout);
        if (e.type == INFER_GGUF_STRING) {
            infer_gguf_str s;
            infer_gguf_value_str(&e, &s);
            print_str(s, 24);
        } else {
            print_value(&e, depth + 1);
        }
    }
    if (v->count > show) printf(", ... (%" PRIu64 " total)", v->count);
}

static void print_shape(const infer_gguf_tensor_info *t, char *buf, size_t cap) {
    size_t k = 0;
    int nd = t->n_dims < 1 ? 1 : t->n_dims;
    for (int d = 0; d < nd && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, d ? " x %" PRId64 : "%" PRId64, t->ne[d]);
}

static const char *human(double x, char *buf, size_t cap) {
    const char *u[] = {"", "K", "M", "G", "T"};
    int i = 0;
    while (x >= 1000 && i < 4) x /= 1000, i++;
    snprintf(buf, cap, i ? "%.2f%s" : "%.0f%s", x, u[i]);
    return buf;
}

static void print_arch(const infer_gguf *g) {
    infer_gguf_str arch;
    if (infer_gguf_get_str(g, "general.architecture", &arch, NULL) != RW_OK) {
        printf("architecture: (general.architecture missing)\n");
        return;
    }
    char a[64];
    snprintf(a, sizeof a, "%.*s", (int)(arch.len < 40 ? arch.len : 40), arch.ptr);
    printf("architecture: %s", a);
    static const struct {
        const char *key, *label;
    } f[] = {{"block_count", "layers"},
             {"embedding_length", "hidden"},
             {"attention.head_count", "heads"},
             {"attention.head_count_kv", "kv-heads"},
             {"feed_forward_length", "ffn"},
             {"context_length", "context"}};
    const char *sep = ": ";
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        char k[128];
        uint32_t v;
        snprintf(k, sizeof k, "%s.%s", a, f[i].key);
        if (infer_gguf_get_u32(g, k, &v, NULL) == RW_OK) {
            printf("%s%s %u", sep, f[i].label, v);
            sep = ", ";
        }
    }
    static const struct {
        const char *key, *label;
    } ff[] = {{"rope.freq_base", "rope base"},
              {"attention.layer_norm_rms_epsilon", "rms eps"},
              {"attention.layer_norm_epsilon", "norm eps"}};
    for (size_t i = 0; i < sizeof ff / sizeof ff[0]; i++) {
        char k[128];
        double v;
        snprintf(k, sizeof k, "%s.%s", a, ff[i].key);
        if (infer_gguf_get_f64(g, k, &v, NULL) == RW_OK) {
            printf("%s%s %g", sep, ff[i].label, v);
            sep = ", ";
        }
    }
    bool causal;
    char k[128];
    snprintf(k, sizeof k, "%s.attention.causal", a);
    if (infer_gguf_get_bool(g, k, &causal, NULL) == RW_OK) printf("%s%s", sep, causal ? "causal" : "non-causal");
    uint32_t pool;
    snprintf(k, sizeof k, "%s.pooling_type", a);
    if (infer_gguf_get_u32(g, k, &pool, NULL) == RW_OK) printf(", pooling %u", pool);
    bool tied = infer_gguf_find_tensor(g, "token_embd.weight") >= 0 &&
                infer_gguf_find_tensor(g, "output.weight") < 0 && strcmp(a, "bert") != 0 &&
                infer_gguf_n_tensors(g) > 0;
    if (tied) printf(", tied output");
    printf("\n");
}

static void print_tokenizer(const infer_gguf *g) {
    infer_gguf_str model, pre;
    infer_gguf_value toks;
    if (infer_gguf_get_str(g, "tokenizer.ggml.model", &model, NULL) != RW_OK) {
        printf("tokenizer:    none (no tokenizer.ggml.model)\n");
        return;
    }
    printf("tokenizer:    %.*s", (int)(model.len < 40 ? model.len : 40), model.ptr);
    if (infer_gguf_get_str(g, "tokenizer.ggml.pre", &pre, NULL) == RW_OK)
        printf(" (pre-tokenizer %.*s)", (int)(pre.len < 40 ? pre.len : 40), pre.ptr);
    if (infer_gguf_get_arr(g, "tokenizer.ggml.tokens", &toks, NULL) == RW_OK)
        printf(", vocabulary size %" PRIu64, toks.count);
    else
        printf(", vocabulary size unknown (no tokenizer.ggml.tokens)");
    infer_gguf_value merges;
    if (infer_gguf_get_arr(g, "tokenizer.ggml.merges", &merges, NULL) == RW_OK)
        printf(", %" PRIu64 " merges", merges.count);
    static const char *const ids[] = {"bos", "eos", "unknown", "padding", "cls", "seperator"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char k[96];
        uint32_t v;
        snprintf(k, sizeof k, "tokenizer.ggml.%s_token_id", ids[i]);
        if (infer_gguf_get_u32(g, k, &v, NULL) == RW_OK)
            printf(", %s %u", strcmp(ids[i], "seperator") == 0 ? "sep" : ids[i], v);
    }
    printf("\n");
}

static int cmd_info(const char *path) {
    infer_gguf *g = NULL;
    rw_err err;
    rw_err_clear(&err);
    if (infer_gguf_open(path, &g, &err) != RW_OK) {
        fprintf(stderr, "rag-gguf info: %s\n", err.msg);
        return 1;
    }
    char hb[32];
    printf("file:         %s\n", path);
    printf("size:         %" PRIu64 " bytes (%.1f MiB)\n", infer_gguf_file_size(g),
           (double)infer_gguf_file_size(g) / 1048576.0);
    printf("gguf:         version %u, %" PRIu64 " metadata keys, %" PRIu64
           " tensors, alignment %u, data at byte %" PRIu64 "\n",
           infer_gguf_version(g), infer_gguf_n_kv(g), infer_gguf_n_tensors(g),
           infer_gguf_alignment(g), infer_gguf_data_offset(g));
    /* We read some layouts llama.cpp refuses: say so instead of letting the user find out
     * when llama.cpp / Ollama will not load the file. */
    rw_err cerr;
    rw_err_clear(&cerr);
    if (infer_gguf_check_llama_compat(g, &cerr) != RW_OK)
        fprintf(stderr, "rag-gguf info: warning: %s: llama.cpp would not load this file: %s\n",
                path, cerr.msg);
    printf("\nmetadata:\n");
    for (uint64_t i = 0; i < infer_gguf_n_kv(g); i++) {
        const infer_gguf_value *v = infer_gguf_kv_value(g, i);
        printf("  %-44s %-8s ", infer_gguf_key(g, i),
               v->type == INFER_GGUF_ARRAY ? "array" : infer_gguf_type_name(v->type));
        print_value(v, 0);
        printf("\n");
    }
    uint64_t n_params = 0, bytes_by_type[RW_DTYPE_COUNT] = {0}, n_by_type[RW_DTYPE_COUNT] = {0};
    if (infer_gguf_n_tensors(g) > 0) {
        printf("\ntensors:\n  %-4s %-36s %-6s %-22s %12s\n", "#", "name", "type", "shape (ne)", "bytes");
        for (uint64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
            const infer_gguf_tensor_info *t = infer_gguf_tensor_info_at(g, i);
            char shape[96];
            print_shape(t, shape, sizeof shape);
            const rw_dtype_info *di = rw_dtype_get((uint32_t)t->type);
            printf("  %-4" PRIu64 " %-36s %-6s %-22s %12" PRIu64 "\n", i, t->name, di->name, shape,
                   t->nbytes);
            n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
            bytes_by_type[t->type] += t->nbytes;
            n_by_type[t->type]++;
        }
        printf("\nparameters:   %" PRIu64 " (%s)\n", n_params, human((double)n_params, hb, sizeof hb));
        printf("types:        ");
        const char *sep = "";
        for (int t = 0; t < RW_DTYPE_COUNT; t++)
            if (n_by_type[t]) {
                printf("%s%s x%" PRIu64 " (%.2f MiB)", sep, rw_dtype_get((uint32_t)t)->name,
                       n_by_type[t], (double)bytes_by_type[t] / 1048576.0);
                sep = ", ";
            }
        printf("\n");
    } else {
        printf("\ntensors:      none (vocabulary-only file)\n");
    }
    uint32_t ft;
    if (infer_gguf_get_u32(g, "general.file_type", &ft, NULL) == RW_OK)
        printf("file type:    %u (%s)\n", ft, infer_gguf_ftype_name(ft));
    print_arch(g);
    print_tokenizer(g);
    infer_gguf_close(g);
    return 0;
}

/* ------------------------------------------------------------------ new */

static bool parse_u32(const char *s, uint32_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v > UINT32_MAX || s[0] == '-') return false;
    *out = (uint32_t)v;
    return true;
}

static int cmd_new(int argc, char **argv) {
    const char *arch_s = NULL, *preset = NULL, *vocab_path = NULL, *out = NULL, *type_s = "f32",
               *name = NULL;
    uint32_t layers = 0, hidden = 0, heads = 0, kv = 0, ffn = 0, ctx = 0;
    unsigned long long seed = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint32_t *u = NULL;
        if (strcmp(a, "--layers") == 0) u = &layers;
        else if (strcmp(a, "--hidden") == 0) u = &hidden;
        else if (strcmp(a, "--heads") == 0) u = &heads;
        else if (strcmp(a, "--kv-heads") == 0) u = &kv;
        else if (strcmp(a, "--ffn") == 0) u = &ffn;
        else if (strcmp(a, "--ctx") == 0) u = &ctx;
        if (u) {
            if (!v || !parse_u32(v, u) || *u == 0) {
                fprintf(stderr, "rag-gguf new: %s needs a positive integer, got '%s'\n", a, v ? v : "");
                return 2;
            }
            i++;
            continue;
        }
        if (a[0] == '-' && a[1] == '-' && !v) {
            fprintf(stderr, "rag-gguf new: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--arch") == 0) arch_s = argv[++i];
        else if (strcmp(a, "--preset") == 0) preset = argv[++i];
        else if (strcmp(a, "--vocab") == 0) vocab_path = argv[++i];
        else if (strcmp(a, "--type") == 0) type_s = argv[++i];
        else if (strcmp(a, "--name") == 0) name = argv[++i];
        else if (strcmp(a, "--seed") == 0) {
            char *end;
            errno = 0;
            seed = strtoull(argv[++i], &end, 10);
            if (errno || *end || argv[i][0] == '-') {
                fprintf(stderr, "rag-gguf new: --seed needs a non-negative integer, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "rag-gguf new: unknown option '%s'\n", a);
            return 2;
        } else if (!out) {
            out = a;
        } else {
            fprintf(stderr, "rag-gguf new: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!arch_s || !out) {
        fprintf(stderr, "rag-gguf new: --arch and OUT.gguf are required\n");
        usage(stderr);
        return 2;
    }
    rw_err err;
    rw_err_clear(&err);
    infer_gguf_arch arch;
    infer_gguf_model_spec spec;
    if (infer_gguf_arch_parse(arch_s, &arch, &err) ||
        infer_gguf_model_preset(arch, preset ? preset : "tiny", &spec, &err)) {
        fprintf(stderr, "rag-gguf new: %s\n", err.msg);
        return 2;
    }
    if (layers) spec.n_layer = layers;
    if (hidden) spec.n_embd = hidden;
    if (heads) {
        spec.n_head = heads;
        if (!kv) spec.n_head_kv = arch == INFER_GGUF_ARCH_BERT ? heads : spec.n_head_kv;
    }
    if (kv) spec.n_head_kv = kv;
    if (arch == INFER_GGUF_ARCH_BERT && !kv) spec.n_head_kv = spec.n_head;
    if (arch != INFER_GGUF_ARCH_BERT && spec.n_head % spec.n_head_kv != 0 && !kv) spec.n_head_kv = spec.n_head;
    if (ffn) spec.n_ff = ffn;
    if (ctx) spec.n_ctx = ctx;
    spec.seed = seed;
    if (strcmp(type_s, "f32") == 0) spec.type = RW_DTYPE_F32;
    else if (strcmp(type_s, "f16") == 0) spec.type = RW_DTYPE_F16;
    else {
        fprintf(stderr, "rag-gguf new: --type must be f32 or f16, got '%s'\n", type_s);
        return 2;
    }
    if (name) snprintf(spec.name, sizeof spec.name, "%s", name);
    else snprintf(spec.name + strlen(spec.name), sizeof spec.name - strlen(spec.name), "-s%llu", seed);
    infer_gguf *vocab = NULL;
    if (vocab_path && infer_gguf_open(vocab_path, &vocab, &err) != RW_OK) {
        fprintf(stderr, "rag-gguf new: --vocab: %s\n", err.msg);
        return 1;
    }
    uint64_t n_params = 0;
    rw_status st = infer_gguf_model_new(&spec, vocab, out, &n_params, &err);
    infer_gguf_close(vocab);
    if (st) {
        fprintf(stderr, "rag-gguf new: %s\n", err.msg);
        return 1;
    }
    char hb[32];
    printf("wrote %s: %s, %u layers, hidden %u, %u heads (%u kv), ffn %u, %s, %" PRIu64
           " parameters (%s), vocabulary %s\n",
           out, infer_gguf_arch_str(arch), spec.n_layer, spec.n_embd, spec.n_head, spec.n_head_kv,
           spec.n_ff, type_s, n_params, human((double)n_params, hb, sizeof hb),
           vocab_path ? vocab_path : "embedded default");
    return 0;
}

/* ------------------------------------------------------------------ quantize */

static int cmd_quantize(int argc, char **argv) {
    if (argc != 3) {
        usage(stderr);
        return 2;
    }
    infer_gguf_ftype ft;
    rw_err err;
    rw_err_clear(&err);
    if (infer_gguf_ftype_parse(argv[2], &ft, &err) != RW_OK) {
        fprintf(stderr, "rag-gguf quantize: %s\n", err.msg);
        return 2;
    }
    infer_gguf *in = NULL;
    if (infer_gguf_open(argv[0], &in, &err) != RW_OK) {
        fprintf(stderr, "rag-gguf quantize: %s\n", err.msg);
        return 1;
    }
    infer_gguf_quant_stats stats;
    rw_status st = infer_gguf_quantize(in, argv[1], ft, &stats, &err);
    infer_gguf_close(in);
    if (st) {
        fprintf(stderr, "rag-gguf quantize: %s\n", err.msg);
        return 1;
    }
    printf("wrote %s: %s, %" PRIu64 " tensors (%" PRIu64 " quantized), %.2f MiB -> %.2f MiB\n",
           argv[1], infer_gguf_ftype_name((uint32_t)ft), stats.n_tensors, stats.n_quantized,
           (double)stats.bytes_in / 1048576.0, (double)stats.bytes_out / 1048576.0);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "info") == 0) {
        if (argc != 3) {
            usage(stderr);
            return 2;
        }
        return cmd_info(argv[2]);
    }
    if (strcmp(argv[1], "new") == 0) return cmd_new(argc - 2, argv + 2);
    if (strcmp(argv[1], "quantize") == 0) return cmd_quantize(argc - 2, argv + 2);
    fprintf(stderr, "rag-gguf: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
