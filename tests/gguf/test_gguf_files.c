/* infer/gguf against real files and through the rag-gguf CLI.
 *
 * References, all independent of infer/gguf.c:
 *  - a minimal GGUF walker written here (mini_scan) that finds tokenizer.ggml.model and the
 *    token count, and known vocabulary sizes (llama-spm 32000, bert-bge 30522, gpt-2 50257);
 *  - the models in ../shared/refs/models, made for and run by llama.cpp: `rag-gguf new`
 *    with the same vocabulary must produce the same tensor names, shapes and architecture
 *    keys, and the tokenizer.* values byte for byte;
 *  - bert-tiny-q4_k_m.gguf, written by llama-quantize: our Q4_K_M plan for
 *    bert-tiny-f16emb.gguf must pick the same type for every tensor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "infer/gguf.h"
#include "infer/gguf_quant.h"
#include "kernels/quant.h"
#include "rw_test.h"

static const char *const g_vocabs[] = {"bert-bge", "deepseek-coder", "falcon", "gpt-2", "llama-spm"};
static const char *const g_models[] = {"bert-tiny-f16emb", "bert-tiny-q4_k_m", "llama-tiny-f16emb",
                                       "qwen3-tiny-q8_0"};

/* ------------------------------------------------------------ independent walker */

typedef struct mini {
    const unsigned char *p;
    size_t n, pos;
    int bad;
} mini;

static uint64_t mget(mini *m, size_t k) {
    uint64_t v = 0;
    if (m->pos + k > m->n) {
        m->bad = 1;
        return 0;
    }
    for (size_t i = 0; i < k; i++) v |= (uint64_t)m->p[m->pos + i] << (8 * i);
    m->pos += k;
    return v;
}

static void mskip(mini *m, uint32_t t) {
    static const int sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (m->bad) return;
    if (t == 8) {
        uint64_t l = mget(m, 8);
        if (l > m->n - m->pos) m->bad = 1;
        else m->pos += l;
    } else if (t == 9) {
        uint32_t et = (uint32_t)mget(m, 4);
        uint64_t c = mget(m, 8);
        for (uint64_t i = 0; i < c && !m->bad; i++) mskip(m, et);
    } else if (t < 13) {
        m->pos += (size_t)sz[t];
        if (m->pos > m->n) m->bad = 1;
    } else {
        m->bad = 1;
    }
}

/* tokenizer model (into buf) and token count; 0 on success. */
static int mini_scan(const unsigned char *p, size_t n, char *model, size_t cap, uint64_t *ntok) {
    mini m = {p, n, 0, 0};
    if (n < 24 || memcmp(p, "GGUF", 4) != 0) return -1;
    m.pos = 8;
    mget(&m, 8);
    uint64_t nkv = mget(&m, 8);
    model[0] = '\0';
    *ntok = 0;
    for (uint64_t i = 0; i < nkv && !m.bad; i++) {
        uint64_t kl = mget(&m, 8);
        if (kl > n - m.pos) return -1;
        const char *k = (const char *)p + m.pos;
        m.pos += kl;
        uint32_t t = (uint32_t)mget(&m, 4);
        if (kl == 20 && memcmp(k, "tokenizer.ggml.model", 20) == 0 && t == 8) {
            size_t at = m.pos;
            uint64_t l = mget(&m, 8);
            snprintf(model, cap, "%.*s", (int)l, (const char *)p + at + 8);
            m.pos = at;
        }
        if (kl == 21 && memcmp(k, "tokenizer.ggml.tokens", 21) == 0 && t == 9) {
            size_t at = m.pos;
            m.pos += 4;
            *ntok = mget(&m, 8);
            m.pos = at;
        }
        mskip(&m, t);
    }
    return m.bad ? -1 : 0;
}

/* ------------------------------------------------------------ helpers */

static int shared_file(char *buf, size_t cap, const char *dir, const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "refs/%s/%s%s.gguf", dir, strcmp(dir, "vocab") == 0 ? "ggml-vocab-" : "", name);
    return rw_test_shared_path(rel, buf, cap) != NULL;
}

static int run_cli(const char *args, char **out) {
    char bin[4096];
    rw_test_bin("rag-gguf", bin, sizeof bin);
    size_t n = strlen(bin) + strlen(args) + 16;
    char *cmd = malloc(n);
    assert_non_null(cmd);
    snprintf(cmd, n, "'%s' %s 2>&1", bin, args);
    int rc = rw_test_run(cmd, out);
    free(cmd);
    return rc;
}

/* Checks API, mini walker and `rag-gguf info` agree on model and vocabulary size. */
static void check_file(const char *path, int64_t known_ntok) {
    rw_err err;
    infer_gguf *g = NULL;
    if (infer_gguf_open(path, &g, &err) != RW_OK) fail_msg("%s", err.msg);
    size_t n;
    char *raw = rw_test_read_file(path, &n);
    assert_non_null(raw);
    char model[64];
    uint64_t ntok = 0;
    assert_int_equal(mini_scan((const unsigned char *)raw, n, model, sizeof model, &ntok), 0);
    free(raw);
    if (known_ntok > 0) assert_int_equal(ntok, (uint64_t)known_ntok);
    infer_gguf_str s;
    assert_int_equal(infer_gguf_get_str(g, "tokenizer.ggml.model", &s, &err), RW_OK);
    assert_true(infer_gguf_str_eq(s, model));
    infer_gguf_value toks;
    assert_int_equal(infer_gguf_get_arr(g, "tokenizer.ggml.tokens", &toks, &err), RW_OK);
    assert_int_equal(toks.count, ntok);
    /* last token readable, every tensor view in bounds */
    assert_int_equal(infer_gguf_arr_str(&toks, ntok - 1, &s), RW_OK);
    for (uint64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
        rw_tensor t;
        assert_int_equal(infer_gguf_tensor_at(g, i, &t), RW_OK);
        assert_true((const char *)t.data + rw_tensor_nbytes(&t) <=
                    (const char *)infer_gguf_base(g) + infer_gguf_file_size(g));
    }
    infer_gguf_close(g);
    char args[4200], *out = NULL, want[160];
    snprintf(args, sizeof args, "info '%s'", path);
    assert_int_equal(run_cli(args, &out), 0);
    snprintf(want, sizeof want, "tokenizer:    %s", model);
    if (!strstr(out, want)) fail_msg("%s: info lacks '%s'", path, want);
    snprintf(want, sizeof want, "vocabulary size %llu", (unsigned long long)ntok);
    if (!strstr(out, want)) fail_msg("%s: info lacks '%s'", path, want);
    free(out);
}

static void test_shared_vocabs(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof g_vocabs / sizeof g_vocabs[0]; i++) {
        char p[4096];
        if (!shared_file(p, sizeof p, "vocab", g_vocabs[i])) skip();
        int64_t known = strcmp(g_vocabs[i], "llama-spm") == 0   ? 32000
                        : strcmp(g_vocabs[i], "bert-bge") == 0 ? 30522
                        : strcmp(g_vocabs[i], "gpt-2") == 0    ? 50257
                                                               : -1;
        check_file(p, known);
    }
}

static void test_shared_models(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof g_models / sizeof g_models[0]; i++) {
        char p[4096];
        if (!shared_file(p, sizeof p, "models", g_models[i])) skip();
        int64_t known = g_models[i][0] == 'b' ? 30522 : g_models[i][0] == 'l' ? 32000 : 50257;
        check_file(p, known);
    }
}

/* Our Q4_K_M plan on bert-tiny-f16emb equals llama-quantize's choice in bert-tiny-q4_k_m. */
static void test_quant_plan_matches_llama_quantize(void **state) {
    (void)state;
    char p1[4096], p2[4096];
    if (!shared_file(p1, sizeof p1, "models", "bert-tiny-f16emb") ||
        !shared_file(p2, sizeof p2, "models", "bert-tiny-q4_k_m"))
        skip();
    rw_err err;
    infer_gguf *a = NULL, *b = NULL;
    assert_int_equal(infer_gguf_open(p1, &a, &err), RW_OK);
    assert_int_equal(infer_gguf_open(p2, &b, &err), RW_OK);
    uint64_t n = infer_gguf_n_tensors(a);
    assert_int_equal(n, infer_gguf_n_tensors(b));
    rw_dtype *types = calloc(n, sizeof *types);
    assert_int_equal(infer_gguf_quant_plan(a, INFER_GGUF_FTYPE_Q4_K_M, types, &err), RW_OK);
    for (uint64_t i = 0; i < n; i++) {
        const infer_gguf_tensor_info *t = infer_gguf_tensor_info_at(a, i);
        int64_t j = infer_gguf_find_tensor(b, t->name);
        assert_true(j >= 0);
        rw_dtype want = infer_gguf_tensor_info_at(b, (uint64_t)j)->type;
        /* the source stores F16 token_embd; llama-quantize re-types every quantized tensor, and
         * non-quantized ones keep the source type (F32 here) */
        if (types[i] != want)
            fail_msg("%s: plan %s, llama-quantize %s", t->name, rw_dtype_get(types[i])->name,
                     rw_dtype_get(want)->name);
    }
    free(types);
    infer_gguf_close(a);
    infer_gguf_close(b);
}

/* `rag-gguf new` with the reference's vocabulary reproduces its structure. */
static void check_new_against(const char *arch, const char *model, const char *vocab) {
    char pm[4096], pv[4096];
    if (!shared_file(pm, sizeof pm, "models", model) || !shared_file(pv, sizeof pv, "vocab", vocab))
        skip();
    char out[4200], args[9000], *txt = NULL;
    snprintf(out, sizeof out, "%s/new-%s.gguf", rw_test_tmpdir(), arch);
    snprintf(args, sizeof args, "new --arch %s --preset tiny --vocab '%s' --seed 3 '%s'", arch, pv, out);
    if (run_cli(args, &txt) != 0) fail_msg("rag-gguf %s: %s", args, txt);
    free(txt);
    rw_err err;
    infer_gguf *ref = NULL, *g = NULL;
    assert_int_equal(infer_gguf_open(pm, &ref, &err), RW_OK);
    if (infer_gguf_open(out, &g, &err) != RW_OK) fail_msg("%s", err.msg);
    assert_int_equal(infer_gguf_n_tensors(g), infer_gguf_n_tensors(ref));
    for (uint64_t i = 0; i < infer_gguf_n_tensors(ref); i++) {
        const infer_gguf_tensor_info *r = infer_gguf_tensor_info_at(ref, i);
        int64_t j = infer_gguf_find_tensor(g, r->name);
        if (j < 0) fail_msg("%s: tensor %s missing", arch, r->name);
        const infer_gguf_tensor_info *t = infer_gguf_tensor_info_at(g, (uint64_t)j);
        assert_int_equal(t->n_dims, r->n_dims);
        for (int d = 0; d < 4; d++)
            if (t->ne[d] != r->ne[d]) fail_msg("%s: %s ne[%d] %lld vs %lld", arch, r->name, d,
                                               (long long)t->ne[d], (long long)r->ne[d]);
    }
    /* every key of the reference except the generator's own descriptions */
    for (uint64_t i = 0; i < infer_gguf_n_kv(ref); i++) {
        const char *k = infer_gguf_key(ref, i);
        if (strcmp(k, "general.name") == 0 || strcmp(k, "general.description") == 0 ||
            strcmp(k, "general.file_type") == 0 || strcmp(k, "general.quantization_version") == 0)
            continue;
        const infer_gguf_value *rv = infer_gguf_kv_value(ref, i), *v = infer_gguf_get(g, k);
        if (!v) fail_msg("%s: key %s missing", arch, k);
        if (v->type != rv->type || v->size != rv->size || memcmp(v->data, rv->data, v->size) != 0)
            fail_msg("%s: key %s differs from the reference", arch, k);
    }
    /* weights: matrices ~ N(0, 1/fan_in), norms 1 */
    rw_tensor t;
    assert_int_equal(infer_gguf_get_tensor(g, "blk.0.ffn_down.weight", &t, &err), RW_OK);
    const float *f = t.data;
    double sq = 0;
    int64_t n = rw_tensor_nelements(&t);
    for (int64_t i = 0; i < n; i++) sq += (double)f[i] * (double)f[i];
    double sd = sqrt(sq / (double)n), want = 1.0 / sqrt((double)t.ne[0]);
    if (fabs(sd - want) > 0.03 * want) fail_msg("%s: ffn_down sd %g, expected %g", arch, sd, want);
    const char *norm = strcmp(arch, "bert") == 0 ? "blk.0.layer_output_norm.weight" : "blk.0.ffn_norm.weight";
    assert_int_equal(infer_gguf_get_tensor(g, norm, &t, &err), RW_OK);
    for (int64_t i = 0; i < t.ne[0]; i++) assert_true(((const float *)t.data)[i] == 1.0f);
    infer_gguf_close(g);
    infer_gguf_close(ref);
}

static void test_new_llama(void **state) { (void)state, check_new_against("llama", "llama-tiny-f16emb", "llama-spm"); }
static void test_new_qwen3(void **state) { (void)state, check_new_against("qwen3", "qwen3-tiny-q8_0", "gpt-2"); }
static void test_new_bert(void **state) { (void)state, check_new_against("bert", "bert-tiny-f16emb", "bert-bge"); }

/* Embedded default vocabularies: structure llama.cpp's loader relies on. Needs no shared/. */
static void test_new_default_vocab(void **state) {
    (void)state;
    const char *arch[] = {"llama", "qwen3", "bert"};
    for (int a = 0; a < 3; a++) {
        char out[4200], out2[4200], args[9000], *txt = NULL;
        snprintf(out, sizeof out, "%s/def-%s.gguf", rw_test_tmpdir(), arch[a]);
        snprintf(out2, sizeof out2, "%s/def2-%s.gguf", rw_test_tmpdir(), arch[a]);
        snprintf(args, sizeof args, "new --arch %s --preset tiny --seed 1 --type f32 '%s'", arch[a], out);
        if (run_cli(args, &txt) != 0) fail_msg("%s", txt);
        free(txt);
        snprintf(args, sizeof args, "new --arch %s --preset tiny --seed 1 '%s'", arch[a], out2);
        assert_int_equal(run_cli(args, NULL), 0);
        size_t n1, n2;
        char *b1 = rw_test_read_file(out, &n1), *b2 = rw_test_read_file(out2, &n2);
        assert_int_equal(n1, n2); /* deterministic for a seed */
        assert_memory_equal(b1, b2, n1);
        free(b1);
        free(b2);
        rw_err err;
        infer_gguf *g = NULL;
        assert_int_equal(infer_gguf_open(out, &g, &err), RW_OK);
        infer_gguf_value toks, types;
        assert_int_equal(infer_gguf_get_arr(g, "tokenizer.ggml.tokens", &toks, &err), RW_OK);
        assert_int_equal(infer_gguf_get_arr(g, "tokenizer.ggml.token_type", &types, &err), RW_OK);
        assert_int_equal(toks.count, types.count);
        rw_tensor emb;
        assert_int_equal(infer_gguf_get_tensor(g, "token_embd.weight", &emb, &err), RW_OK);
        assert_int_equal(emb.ne[1], (int64_t)toks.count);
        infer_gguf_str s, model;
        /* llama.cpp maps token text -> id: every token string must be unique */
        for (uint64_t x = 0; x < toks.count; x++) {
            infer_gguf_str tx, ty;
            infer_gguf_arr_str(&toks, x, &tx);
            assert_true(tx.len > 0);
            for (uint64_t y = x + 1; y < toks.count; y++) {
                infer_gguf_arr_str(&toks, y, &ty);
                if (tx.len == ty.len && memcmp(tx.ptr, ty.ptr, (size_t)tx.len) == 0)
                    fail_msg("%s: tokens %llu and %llu are both '%.*s'", arch[a], (unsigned long long)x,
                             (unsigned long long)y, (int)tx.len, tx.ptr);
            }
        }
        assert_int_equal(infer_gguf_get_str(g, "tokenizer.ggml.model", &model, &err), RW_OK);
        if (a < 2) {
            assert_true(infer_gguf_str_eq(model, "gpt2"));
            /* byte tokens: ids 0..255 are GPT-2's byte-to-unicode strings ('!' is byte 33,
             * byte 0 is U+0100, space is U+0120 'Ġ') */
            assert_int_equal(infer_gguf_arr_str(&toks, 33, &s), RW_OK), assert_true(infer_gguf_str_eq(s, "!"));
            assert_int_equal(infer_gguf_arr_str(&toks, 0, &s), RW_OK), assert_true(infer_gguf_str_eq(s, "\xc4\x80"));
            assert_int_equal(infer_gguf_arr_str(&toks, 32, &s), RW_OK), assert_true(infer_gguf_str_eq(s, "\xc4\xa0"));
            infer_gguf_value merges;
            assert_int_equal(infer_gguf_get_arr(g, "tokenizer.ggml.merges", &merges, &err), RW_OK);
            assert_true(merges.count >= 200);
            /* each merge "a b": a, b and ab are tokens */
            for (uint64_t m = 0; m < merges.count; m++) {
                infer_gguf_str ms;
                assert_int_equal(infer_gguf_arr_str(&merges, m, &ms), RW_OK);
                const char *sp = memchr(ms.ptr + 1, ' ', (size_t)ms.len - 1);
                assert_non_null(sp);
                size_t la = (size_t)(sp - ms.ptr), lb = (size_t)ms.len - la - 1;
                int fa = 0, fb = 0, fab = 0;
                for (uint64_t k = 0; k < toks.count; k++) {
                    infer_gguf_str t;
                    infer_gguf_arr_str(&toks, k, &t);
                    fa |= t.len == la && memcmp(t.ptr, ms.ptr, la) == 0;
                    fb |= t.len == lb && memcmp(t.ptr, sp + 1, lb) == 0;
                    fab |= t.len == la + lb && memcmp(t.ptr, ms.ptr, la) == 0 && memcmp(t.ptr + la, sp + 1, lb) == 0;
                }
                if (!(fa && fb && fab)) fail_msg("merge %llu '%.*s' lacks tokens", (unsigned long long)m, (int)ms.len, ms.ptr);
            }
            uint32_t eos;
            assert_int_equal(infer_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &eos, &err), RW_OK);
            assert_int_equal(infer_gguf_arr_str(&toks, eos, &s), RW_OK);
            assert_true(infer_gguf_str_eq(s, "<|im_end|>"));
            int64_t tt;
            assert_int_equal(infer_gguf_arr_int(&types, eos, &tt), RW_OK), assert_int_equal(tt, 3);
        } else {
            assert_true(infer_gguf_str_eq(model, "bert"));
            const char *sp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
            for (int k = 0; k < 5; k++) {
                assert_int_equal(infer_gguf_arr_str(&toks, (uint64_t)k, &s), RW_OK);
                assert_true(infer_gguf_str_eq(s, sp[k]));
            }
            uint32_t v;
            assert_int_equal(infer_gguf_get_u32(g, "tokenizer.ggml.cls_token_id", &v, &err), RW_OK), assert_int_equal(v, 2);
            assert_int_equal(infer_gguf_get_u32(g, "tokenizer.ggml.seperator_token_id", &v, &err), RW_OK), assert_int_equal(v, 3);
            int found_the = 0;
            for (uint64_t k = 0; k < toks.count; k++) {
                infer_gguf_arr_str(&toks, k, &s);
                found_the |= infer_gguf_str_eq(s, "\xe2\x96\x81the");
            }
            assert_true(found_the);
        }
        infer_gguf_close(g);
        /* the CLI prints a readable summary */
        snprintf(args, sizeof args, "info '%s'", out);
        assert_int_equal(run_cli(args, &txt), 0);
        assert_non_null(strstr(txt, "parameters:"));
        assert_non_null(strstr(txt, "vocabulary size"));
        free(txt);
    }
}

static void test_cli_errors(void **state) {
    (void)state;
    char *out = NULL, args[4300], bad[4200];
    assert_int_equal(run_cli("new --arch gpt9 x.gguf", &out), 2);
    assert_non_null(strstr(out, "gpt9"));
    free(out);
    assert_int_equal(run_cli("new --arch llama --preset huge x.gguf", &out), 2);
    free(out);
    assert_int_equal(run_cli("new --arch llama --heads 3 --hidden 256 /tmp/never.gguf", &out), 1);
    assert_non_null(strstr(out, "multiple"));
    free(out);
    snprintf(bad, sizeof bad, "%s/bad.gguf", rw_test_tmpdir());
    rw_test_write_file(bad, "GGUF\x03\0\0\0", 8);
    snprintf(args, sizeof args, "info '%s'", bad);
    assert_int_equal(run_cli(args, &out), 1);
    assert_non_null(strstr(out, "bad.gguf"));
    free(out);
    assert_int_equal(run_cli("quantize a b Q3_Z", &out), 2);
    free(out);
}

/* Relative RMS error of a quantized tensor against f32 values. */
static double rel_rmse(const rw_tensor *q, const float *ref) {
    int64_t n = rw_tensor_nelements(q);
    float *d = malloc((size_t)n * sizeof *d);
    assert_non_null(d);
    kern_dequantize(q->type, q->data, d, rw_tensor_nrows(q), q->ne[0]);
    double e = 0, r = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = (double)d[i] - (double)ref[i];
        e += x * x;
        r += (double)ref[i] * (double)ref[i];
    }
    free(d);
    return sqrt(e / (r > 0 ? r : 1));
}

static float *to_f32(const rw_tensor *t) {
    int64_t n = rw_tensor_nelements(t);
    float *d = malloc((size_t)n * sizeof *d);
    assert_non_null(d);
    kern_dequantize(t->type, t->data, d, rw_tensor_nrows(t), t->ne[0]);
    return d;
}

/* rag-gguf quantize Q4_K_M of bert-tiny-f16emb against llama-quantize's bert-tiny-q4_k_m:
 * identical header (metadata, tensor infos, offsets), identical unquantized tensors, and
 * quantized tensors at most 2% worse (relative RMS error vs the F16 source) than llama's. */
static void test_quantize_matches_llama_quantize(void **state) {
    (void)state;
    char src[4096], ref[4096], out[4200], args[9000];
    if (!shared_file(src, sizeof src, "models", "bert-tiny-f16emb") ||
        !shared_file(ref, sizeof ref, "models", "bert-tiny-q4_k_m"))
        skip();
    snprintf(out, sizeof out, "%s/bert-q4km.gguf", rw_test_tmpdir());
    snprintf(args, sizeof args, "quantize '%s' '%s' Q4_K_M", src, out);
    char *txt = NULL;
    if (run_cli(args, &txt) != 0) fail_msg("%s", txt);
    free(txt);
    rw_err err;
    infer_gguf *gs = NULL, *gr = NULL, *go = NULL;
    assert_int_equal(infer_gguf_open(src, &gs, &err), RW_OK);
    assert_int_equal(infer_gguf_open(ref, &gr, &err), RW_OK);
    assert_int_equal(infer_gguf_open(out, &go, &err), RW_OK);
    assert_int_equal(infer_gguf_file_size(go), infer_gguf_file_size(gr));
    assert_int_equal(infer_gguf_data_offset(go), infer_gguf_data_offset(gr));
    assert_memory_equal(infer_gguf_base(go), infer_gguf_base(gr), infer_gguf_data_offset(gr));
    for (uint64_t i = 0; i < infer_gguf_n_tensors(gr); i++) {
        rw_tensor tr, to, ts;
        assert_int_equal(infer_gguf_tensor_at(gr, i, &tr), RW_OK);
        assert_int_equal(infer_gguf_tensor_at(go, i, &to), RW_OK);
        assert_int_equal(infer_gguf_get_tensor(gs, tr.name, &ts, &err), RW_OK);
        assert_int_equal(to.type, tr.type);
        if (tr.type == ts.type) {
            assert_memory_equal(to.data, tr.data, rw_tensor_nbytes(&tr));
            continue;
        }
        float *f = to_f32(&ts);
        double eo = rel_rmse(&to, f), er = rel_rmse(&tr, f);
        if (eo > er * 1.02 + 1e-6) fail_msg("%s (%s): rel. RMSE %.5f vs llama-quantize %.5f", tr.name,
                                          rw_dtype_get(tr.type)->name, eo, er);
        if (getenv("RW_GGUF_VERBOSE"))
            fprintf(stderr, "%-28s %-5s rel. RMSE ours %.6f, llama-quantize %.6f\n", tr.name,
                    rw_dtype_get(tr.type)->name, eo, er);
        free(f);
    }
    infer_gguf_close(gs);
    infer_gguf_close(gr);
    infer_gguf_close(go);
}

/* Every quantize target on a generated f32 llama: plan applied, error within the format's
 * precision (bounds are loose multiples of the per-format step: 8-bit ~0.4%, 4-bit ~10%). */
static void test_quantize_all_types(void **state) {
    (void)state;
    static const struct {
        const char *name;
        rw_dtype main;
        double max_err;
    } q[] = {{"Q8_0", RW_DTYPE_Q8_0, 0.01}, {"Q4_0", RW_DTYPE_Q4_0, 0.15},
             {"Q4_1", RW_DTYPE_Q4_1, 0.15}, {"Q5_0", RW_DTYPE_Q5_0, 0.08},
             {"Q5_1", RW_DTYPE_Q5_1, 0.08}, {"Q4_K_M", RW_DTYPE_Q4_K, 0.15},
             {"Q5_K_M", RW_DTYPE_Q5_K, 0.08}, {"Q6_K", RW_DTYPE_Q6_K, 0.04}};
    char src[4200], out[4200], args[9000], *txt = NULL;
    snprintf(src, sizeof src, "%s/q-src.gguf", rw_test_tmpdir());
    snprintf(args, sizeof args, "new --arch llama --preset tiny --layers 8 --seed 5 '%s'", src);
    assert_int_equal(run_cli(args, NULL), 0);
    rw_err err;
    infer_gguf *gs = NULL;
    assert_int_equal(infer_gguf_open(src, &gs, &err), RW_OK);
    for (size_t k = 0; k < sizeof q / sizeof q[0]; k++) {
        snprintf(out, sizeof out, "%s/q-%s.gguf", rw_test_tmpdir(), q[k].name);
        snprintf(args, sizeof args, "quantize '%s' '%s' %s", src, out, q[k].name);
        if (run_cli(args, &txt) != 0) fail_msg("%s", txt);
        free(txt);
        infer_gguf *g = NULL;
        assert_int_equal(infer_gguf_open(out, &g, &err), RW_OK);
        uint32_t ft, qv;
        infer_gguf_ftype want_ft;
        assert_int_equal(infer_gguf_ftype_parse(q[k].name, &want_ft, &err), RW_OK);
        assert_int_equal(infer_gguf_get_u32(g, "general.file_type", &ft, &err), RW_OK);
        assert_int_equal(ft, (uint32_t)want_ft);
        assert_int_equal(infer_gguf_get_u32(g, "general.quantization_version", &qv, &err), RW_OK);
        assert_int_equal(qv, 2);
        bool km = strstr(q[k].name, "_K_M") != NULL;
        int n_v6 = 0;
        for (uint64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
            rw_tensor t, ts;
            assert_int_equal(infer_gguf_tensor_at(g, i, &t), RW_OK);
            assert_int_equal(infer_gguf_get_tensor(gs, t.name, &ts, &err), RW_OK);
            rw_dtype want = q[k].main;
            if (t.n_dims < 2) want = RW_DTYPE_F32;
            else if (strcmp(t.name, "output.weight") == 0) want = q[k].main == RW_DTYPE_Q8_0 ? RW_DTYPE_Q8_0 : RW_DTYPE_Q6_K;
            if (km && (strstr(t.name, "attn_v") || strstr(t.name, "ffn_down")) && t.type == RW_DTYPE_Q6_K) {
                want = RW_DTYPE_Q6_K;
                n_v6++;
            }
            if (t.type != want) fail_msg("%s: %s is %s, expected %s", q[k].name, t.name,
                                         rw_dtype_get(t.type)->name, rw_dtype_get(want)->name);
            if (t.type == RW_DTYPE_F32) continue;
            double e = rel_rmse(&t, ts.data);
            if (e > q[k].max_err) fail_msg("%s: %s rel. RMSE %g > %g", q[k].name, t.name, e, q[k].max_err);
        }
        /* use_more_bits over 8 layers picks layers 0, 2, 5, 7: 4 attn_v + 4 ffn_down */
        if (km) assert_int_equal(n_v6, 8);
        infer_gguf_close(g);
    }
    /* requantizing is refused with a message */
    snprintf(args, sizeof args, "quantize '%s/q-Q8_0.gguf' '%s/x.gguf' Q4_0", rw_test_tmpdir(), rw_test_tmpdir());
    assert_int_equal(run_cli(args, &txt), 1);
    assert_non_null(strstr(txt, "requantiz"));
    free(txt);
    infer_gguf_close(gs);
}

int main(void) {
    const struct CMUnitTest local[] = {
        cmocka_unit_test(test_new_default_vocab),
        cmocka_unit_test(test_cli_errors),
        cmocka_unit_test(test_quantize_all_types),
    };
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_shared_vocabs),       cmocka_unit_test(test_shared_models),
        cmocka_unit_test(test_quant_plan_matches_llama_quantize),
        cmocka_unit_test(test_new_llama),           cmocka_unit_test(test_new_qwen3),
        cmocka_unit_test(test_new_bert),
        cmocka_unit_test(test_quantize_matches_llama_quantize),
    };
    int rc = cmocka_run_group_tests_name("gguf_local", local, NULL, NULL);
    if (rc) return rc;
    if (!rw_test_shared_dir()) return RW_TEST_SKIP; /* message printed by rw_test_shared_dir */
    return cmocka_run_group_tests_name("gguf_shared", shared, NULL, NULL);
}
