/* train/safetensors + train/adapter_io: safetensors parsing (hand-built file, malformed
 * headers), GGUF LoRA <-> PEFT round trip byte for byte, the llama q/k row permutation
 * against a separate implementation written here from convert_hf_to_gguf's reshape
 * (n_head, 2, D/2) -> swapaxes(1, 2), rsLoRA alpha, llama.cpp-rule loading of the GGUF
 * LoRA by infer_lora_load against a base model, and train_adapter_read_gguf on malformed
 * adapters built with infer's GGUF writer (and byte by byte for what the writer refuses). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/status.h"
#include "infer/gguf.h"
#include "infer/lora.h"
#include "infer/model.h"
#include "rw_test.h"
#include "train/adapter_io.h"
#include "train/safetensors.h"
#include "train_fixture.h"

/* 8-byte length + header + data into buf; returns total length. */
static size_t build_st(unsigned char *buf, const char *hdr, const void *data, size_t dlen) {
    size_t hl = strlen(hdr);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((hl >> (8 * i)) & 0xff);
    memcpy(buf + 8, hdr, hl);
    memcpy(buf + 8 + hl, data, dlen);
    return 8 + hl + dlen;
}

static void test_st_hand_built(void **state) {
    (void)state;
    unsigned char buf[1024], data[12];
    float f[2] = {1.5f, -2.0f};
    memcpy(data, f, 8);
    /* f16 1.0 = 0x3c00, -0.5 = 0xb800 (IEEE binary16, little-endian) */
    data[8] = 0x00, data[9] = 0x3c, data[10] = 0x00, data[11] = 0xb8;
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"b\":{\"dtype\":\"F16\",\"shape\":[1,2],\"data_offsets\":[8,12]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  ";
    size_t len = build_st(buf, hdr, data, sizeof data);
    train_st s;
    rw_err err;
    if (train_st_parse(buf, len, "hand", &s, &err)) fail_msg("%s", err.msg);
    assert_int_equal(s.n, 2);
    long ia = train_st_find(&s, "a"), ib = train_st_find(&s, "b");
    assert_true(ia >= 0 && ib >= 0);
    assert_int_equal(s.t[ia].n_dims, 1);
    assert_int_equal(s.t[ia].shape[0], 2);
    assert_int_equal(s.t[ib].n_dims, 2);
    assert_int_equal(s.t[ib].shape[1], 2);
    float va[2], vb[2];
    assert_int_equal(train_st_to_f32(&s.t[ia], va, &err), RW_OK);
    assert_int_equal(train_st_to_f32(&s.t[ib], vb, &err), RW_OK);
    assert_true(va[0] == 1.5f && va[1] == -2.0f);
    assert_true(vb[0] == 1.0f && vb[1] == -0.5f);
    train_st_free(&s);
}

static void test_st_malformed(void **state) {
    (void)state;
    static const struct {
        const char *hdr;
        size_t dlen;
        const char *needle;
    } cases[] = {
        {"[1,2]", 0, "not a JSON object"},
        {"{\"a\":", 0, "header JSON"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, "'a'"},
        {"{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12"},
        /* a span larger than the shape needs (8 bytes for one f32) is as wrong as a short one */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "needs 4"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape[0]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, "outside"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "outside"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "starts at"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "after the last"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, "starts at"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, "header JSON"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "__metadata__"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
         "dims"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
         "shape"},
    };
    unsigned char buf[1024], data[16] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = build_st(buf, cases[i].hdr, data, cases[i].dlen);
        train_st s;
        rw_err err;
        rw_err_clear(&err);
        if (train_st_parse(buf, len, "m.st", &s, &err) == RW_OK) fail_msg("case %zu accepted", i);
        if (!strstr(err.msg, cases[i].needle) || !strstr(err.msg, "m.st"))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].needle);
    }
    /* header length beyond the file, and too short files */
    train_st s;
    rw_err err;
    memset(buf, 0xff, 8);
    assert_int_not_equal(train_st_parse(buf, 16, "m.st", &s, &err), RW_OK);
    assert_non_null(strstr(err.msg, "exceeds"));
    assert_int_not_equal(train_st_parse(buf, 7, "m.st", &s, &err), RW_OK);
}

/* A random adapter on the fixture's shapes: C = 32, 2 heads, 1 kv head (D = 16). */
static void make_adapter(train_adapter *a, int64_t r, uint64_t seed) {
    memset(a, 0, sizeof *a);
    snprintf(a->arch, sizeof a->arch, "llama");
    a->alpha = 16.0f;
    a->n_head = 2;
    a->n_head_kv = 1;
    static const struct {
        int64_t layer;
        train_target t;
        int64_t n_in, n_out;
    } spec[] = {{0, TRAIN_T_ATTN_Q, 32, 32},   {0, TRAIN_T_ATTN_K, 32, 16},
                {0, TRAIN_T_ATTN_V, 32, 16},   {0, TRAIN_T_FFN_DOWN, 64, 32},
                {1, TRAIN_T_ATTN_Q, 32, 32},   {1, TRAIN_T_ATTN_OUTPUT, 32, 32}};
    a->n = sizeof spec / sizeof spec[0];
    a->pairs = calloc(a->n, sizeof *a->pairs);
    rw_rng rng;
    rw_rng_seed(&rng, seed);
    for (size_t i = 0; i < a->n; i++) {
        train_adapter_pair *p = &a->pairs[i];
        p->layer = spec[i].layer;
        p->target = spec[i].t;
        p->n_in = spec[i].n_in;
        p->n_out = spec[i].n_out;
        p->rank = r;
        p->a = malloc((size_t)(r * p->n_in) * 4);
        p->b = malloc((size_t)(r * p->n_out) * 4);
        for (int64_t k = 0; k < r * p->n_in; k++) p->a[k] = (float)rw_rng_normal(&rng);
        for (int64_t k = 0; k < r * p->n_out; k++) p->b[k] = (float)rw_rng_normal(&rng);
    }
}

static void free_test_adapter(train_adapter *a) {
    for (size_t i = 0; i < a->n; i++) {
        free(a->pairs[i].a);
        free(a->pairs[i].b);
    }
    free(a->pairs);
}

static char *tmp(const char *name) {
    static char bufs[8][512];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, 512, "%s/%s", rw_test_tmpdir(), name);
    return b;
}

static void test_round_trip(void **state) {
    (void)state;
    train_adapter a, g, p;
    make_adapter(&a, 4, 11);
    rw_err err;
    char *g1 = tmp("a1.gguf"), *g2 = tmp("a2.gguf"), *dir = tmp("peft");
    if (train_adapter_write_gguf(&a, g1, false, NULL, &err)) fail_msg("%s", err.msg);
    if (train_adapter_read_gguf(g1, &g, &err)) fail_msg("%s", err.msg);
    assert_int_equal(g.n, a.n);
    assert_true(g.alpha == 16.0f);
    assert_int_equal(g.n_head, 2);
    assert_int_equal(g.n_head_kv, 1);
    if (train_adapter_write_peft(&g, dir, "tiny", &err)) fail_msg("%s", err.msg);
    if (train_adapter_read_peft(dir, "llama", 2, 1, &p, &err)) fail_msg("%s", err.msg);
    if (train_adapter_write_gguf(&p, g2, false, NULL, &err)) fail_msg("%s", err.msg);
    size_t l1, l2;
    char *b1 = rw_test_read_file(g1, &l1), *b2 = rw_test_read_file(g2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    free(b1);
    free(b2);

    /* The safetensors content: lora_A unchanged; llama q/k lora_B rows in HF order, checked
     * with an independent loop over HF rows: f = h*D + j*(D/2) + i  <-  g = h*D + 2i + j. */
    size_t sl;
    char path[600];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    char *sb = rw_test_read_file(path, &sl);
    train_st s;
    if (train_st_parse(sb, sl, path, &s, &err)) fail_msg("%s", err.msg);
    assert_int_equal(s.n, 2 * a.n);
    for (size_t i = 0; i < a.n; i++) {
        const train_adapter_pair *q = &a.pairs[i];
        static const char *hf[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
        char ka[160], kb[160];
        const char *par = q->target <= TRAIN_T_ATTN_OUTPUT ? "self_attn" : "mlp";
        snprintf(ka, sizeof ka, "base_model.model.model.layers.%d.%s.%s.lora_A.weight", (int)q->layer, par, hf[q->target]);
        snprintf(kb, sizeof kb, "base_model.model.model.layers.%d.%s.%s.lora_B.weight", (int)q->layer, par, hf[q->target]);
        long ia = train_st_find(&s, ka), ib = train_st_find(&s, kb);
        if (ia < 0 || ib < 0) fail_msg("missing %s", ka);
        assert_int_equal(s.t[ia].shape[0], q->rank);
        assert_int_equal(s.t[ia].shape[1], q->n_in);
        assert_int_equal(s.t[ib].shape[0], q->n_out);
        assert_int_equal(s.t[ib].shape[1], q->rank);
        assert_memory_equal(s.t[ia].data, q->a, (size_t)(q->rank * q->n_in) * 4);
        float *B = malloc((size_t)(q->n_out * q->rank) * 4);
        train_st_to_f32(&s.t[ib], B, &err);
        bool perm = q->target == TRAIN_T_ATTN_Q || q->target == TRAIN_T_ATTN_K;
        int64_t H = q->target == TRAIN_T_ATTN_Q ? 2 : 1, D = q->n_out / H;
        for (int64_t f = 0; f < q->n_out; f++) {
            int64_t src = f;
            if (perm) {
                int64_t h = f / D, rem = f % D, j = rem / (D / 2), ii = rem % (D / 2);
                src = h * D + 2 * ii + j;
            }
            if (memcmp(B + f * q->rank, q->b + src * q->rank, (size_t)q->rank * 4) != 0)
                fail_msg("pair %zu: HF row %lld is not GGUF row %lld", i, (long long)f, (long long)src);
        }
        free(B);
    }
    train_st_free(&s);
    free(sb);
    /* config */
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    char *cfg = rw_test_read_file(path, &sl);
    assert_non_null(strstr(cfg, "\"peft_type\": \"LORA\""));
    assert_non_null(strstr(cfg, "\"r\": 4"));
    assert_non_null(strstr(cfg, "\"q_proj\""));
    assert_non_null(strstr(cfg, "\"down_proj\""));
    assert_null(strstr(cfg, "\"gate_proj\""));
    free(cfg);
    train_adapter_deinit(&g);
    train_adapter_deinit(&p);
    free_test_adapter(&a);
}

static void write_text(const char *path, const char *s) {
    assert_int_equal(rw_test_write_file(path, s, strlen(s)), 0);
}

static void test_peft_import_rules(void **state) {
    (void)state;
    train_adapter a, p;
    make_adapter(&a, 4, 12);
    rw_err err;
    char *dir = tmp("peft2");
    if (train_adapter_write_peft(&a, dir, NULL, &err)) fail_msg("%s", err.msg);
    char cfgp[600];
    snprintf(cfgp, sizeof cfgp, "%s/adapter_config.json", dir);
    /* rsLoRA: llama.cpp divides by r, so alpha 8 with r = 4 is exported as 8 * sqrt(4) = 16 */
    write_text(cfgp, "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":8,\"use_rslora\":true}");
    if (train_adapter_read_peft(dir, "llama", 2, 1, &p, &err)) fail_msg("%s", err.msg);
    assert_true(fabsf(p.alpha - 16.0f) < 1e-6f);
    train_adapter_deinit(&p);
    write_text(cfgp, "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":8,\"use_dora\":true}");
    assert_int_equal(train_adapter_read_peft(dir, "llama", 2, 1, &p, &err), RW_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "use_dora"));
    write_text(cfgp, "{\"peft_type\":\"PREFIX_TUNING\"}");
    assert_int_equal(train_adapter_read_peft(dir, "llama", 2, 1, &p, &err), RW_E_UNSUPPORTED);
    write_text(cfgp, "{\"peft_type\":\"LORA\",\"r\":8}");
    assert_int_equal(train_adapter_read_peft(dir, "llama", 2, 1, &p, &err), RW_E_FORMAT);
    assert_non_null(strstr(err.msg, "r=8"));
    write_text(cfgp, "{\"peft_type\":\"LORA\",\"r\":4,\"rank_pattern\":{\"q_proj\":8}}");
    assert_int_equal(train_adapter_read_peft(dir, "llama", 2, 1, &p, &err), RW_E_UNSUPPORTED);
    write_text(cfgp, "{\"peft_type\":");
    assert_int_equal(train_adapter_read_peft(dir, "llama", 2, 1, &p, &err), RW_E_FORMAT);
    assert_non_null(strstr(err.msg, "adapter_config.json:"));
    /* modules_to_save tensors are refused by name */
    write_text(cfgp, "{\"peft_type\":\"LORA\",\"r\":1}");
    char stp[600];
    snprintf(stp, sizeof stp, "%s/adapter_model.safetensors", dir);
    float one[4] = {1, 2, 3, 4};
    train_st_out t[1] = {{.name = "base_model.model.lm_head.weight", .n_dims = 2, .shape = {2, 2},
                          .data = one}};
    assert_int_equal(train_st_write(stp, t, 1, NULL, 0, &err), RW_OK);
    assert_int_equal(train_adapter_read_peft(dir, "llama", 2, 1, &p, &err), RW_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "lm_head"));
    /* llama export without head counts is refused */
    a.n_head = 0;
    assert_int_equal(train_adapter_write_peft(&a, tmp("peft3"), NULL, &err), RW_E_INVALID);
    free_test_adapter(&a);
}

static void test_gguf_loads_in_infer(void **state) {
    (void)state;
    char *mp = tmp("base.gguf"), *ap = tmp("ad16.gguf");
    assert_int_equal(fixture_tiny_llama(mp, 2, 32, 5), 0);
    train_adapter a, back;
    make_adapter(&a, 2, 13);
    rw_err err;
    train_adapter_meta meta = {.name = "t", .manifest_json = "{\"sources\":[]}"};
    if (train_adapter_write_gguf(&a, ap, true, &meta, &err)) fail_msg("%s", err.msg);
    infer_model *m = NULL;
    if (infer_model_load(mp, &m, &err)) fail_msg("%s", err.msg);
    infer_lora *l = NULL;
    if (infer_lora_load(ap, m, &l, &err)) fail_msg("infer_lora_load: %s", err.msg);
    assert_int_equal(infer_lora_n_pairs(l), a.n);
    assert_true(infer_lora_alpha(l) == 16.0f);
    infer_lora_destroy(l);
    infer_model_destroy(m);
    /* f16 storage reads back as the f16 rounding of each value */
    if (train_adapter_read_gguf(ap, &back, &err)) fail_msg("%s", err.msg);
    for (size_t i = 0; i < a.n; i++)
        for (int64_t k = 0; k < a.pairs[i].rank * a.pairs[i].n_in; k++)
            assert_true(fabsf(back.pairs[i].a[k] - a.pairs[i].a[k]) <=
                        fabsf(a.pairs[i].a[k]) * 1.0f / 1024.0f + 1e-7f);
    train_adapter_deinit(&back);
    free_test_adapter(&a);
}

/* A hand-built adapter GGUF (infer's writer, not train_adapter_write_gguf): the keys minus
 * `drop`, adapter.type = atype, then n tensors of 0.25 * (k + 1) each. */
typedef struct gg_tensor {
    const char *name;
    int n_dims;
    int64_t ne[3];
} gg_tensor;

static void write_gg(const char *path, const char *drop, const char *atype, float alpha,
                     const gg_tensor *t, int n) {
    static float data[1024];
    for (int k = 0; k < 1024; k++)
        data[k] = 0.25f * (float)(k + 1);
    infer_gguf_writer *w = NULL;
    assert_int_equal(infer_gguf_writer_create(&w, NULL), RW_OK);
    const char *keys[3][2] = {
        {"general.architecture", "llama"}, {"general.type", "adapter"}, {"adapter.type", atype}};
    for (int k = 0; k < 3; k++)
        if (!drop || strcmp(drop, keys[k][0]))
            assert_int_equal(infer_gguf_writer_set_str(w, keys[k][0], keys[k][1], NULL), RW_OK);
    assert_int_equal(infer_gguf_writer_set_f32(w, "adapter.lora.alpha", alpha, NULL), RW_OK);
    for (int i = 0; i < n; i++) {
        rw_err e;
        if (infer_gguf_writer_add_tensor(w, t[i].name, RW_DTYPE_F32, t[i].n_dims, t[i].ne, data,
                                         &e))
            fail_msg("%s", e.msg);
    }
    assert_int_equal(infer_gguf_writer_write(w, path, NULL), RW_OK);
    infer_gguf_writer_destroy(w);
}

/* GGUF v3 built byte by byte (the writer refuses tensor names over 63 bytes, which the
 * format and the reader allow): general.architecture / general.type / adapter.type strings,
 * then tensors `a` ne [8, 4] and `b` ne [4, 8], f32, at data offsets 0 and 128. */
static size_t put(unsigned char *buf, size_t o, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++)
        buf[o + (size_t)i] = (unsigned char)(v >> (8 * i));
    return o + (size_t)bytes;
}
static size_t put_str(unsigned char *buf, size_t o, const char *s) {
    o = put(buf, o, strlen(s), 8);
    memcpy(buf + o, s, strlen(s));
    return o + strlen(s);
}
static void write_raw_gg(const char *path, const char *a, const char *b) {
    static unsigned char buf[4096];
    memset(buf, 0, sizeof buf);
    memcpy(buf, "GGUF", 4);
    size_t o = put(buf, 4, 3, 4); /* version */
    o = put(buf, o, 2, 8); /* tensors */
    o = put(buf, o, 3, 8); /* keys */
    const char *kv[3][2] = {
        {"general.architecture", "llama"}, {"general.type", "adapter"}, {"adapter.type", "lora"}};
    for (int k = 0; k < 3; k++) {
        o = put_str(buf, o, kv[k][0]);
        o = put(buf, o, 8, 4); /* GGUF_TYPE_STRING */
        o = put_str(buf, o, kv[k][1]);
    }
    const char *names[2] = {a, b};
    const uint64_t ne[2][2] = {{8, 4}, {4, 8}};
    for (int t = 0; t < 2; t++) {
        o = put_str(buf, o, names[t]);
        o = put(buf, o, 2, 4); /* n_dims */
        o = put(buf, o, ne[t][0], 8);
        o = put(buf, o, ne[t][1], 8);
        o = put(buf, o, 0, 4);                 /* GGML_TYPE_F32 */
        o = put(buf, o, (uint64_t)t * 128, 8); /* offset in the data section */
    }
    o = (o + 31) / 32 * 32 + 256; /* alignment 32, then two 128-byte tensors of zeros */
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, o, f), o);
    fclose(f);
}

static void test_gguf_malformed(void **state) {
    (void)state;
    const char *p = tmp("bad.gguf");
    const gg_tensor ok[] = {{"blk.1.attn_v.weight.lora_b", 2, {4, 6, 1}},
                            {"blk.1.attn_v.weight.lora_a", 2, {8, 4, 1}}};
    /* the well-formed file reads back exactly what was written */
    write_gg(p, NULL, "lora", 8.0f, ok, 2);
    train_adapter a;
    rw_err err;
    if (train_adapter_read_gguf(p, &a, &err)) fail_msg("%s", err.msg);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.arch, "llama");
    assert_true(a.alpha == 8.0f);
    assert_int_equal(a.pairs[0].layer, 1);
    assert_int_equal(a.pairs[0].target, TRAIN_T_ATTN_V);
    assert_int_equal(a.pairs[0].n_in, 8);
    assert_int_equal(a.pairs[0].rank, 4);
    assert_int_equal(a.pairs[0].n_out, 6);
    for (int k = 0; k < 32; k++)
        assert_true(a.pairs[0].a[k] == 0.25f * (float)(k + 1));
    for (int k = 0; k < 24; k++)
        assert_true(a.pairs[0].b[k] == 0.25f * (float)(k + 1));
    train_adapter_deinit(&a);

    const gg_tensor lone_a[] = {{"blk.0.attn_q.weight.lora_a", 2, {8, 4, 1}}};
    const gg_tensor lone_b[] = {{"blk.0.attn_q.weight.lora_b", 2, {4, 8, 1}}};
    const gg_tensor ranks[] = {{"blk.0.attn_q.weight.lora_a", 2, {8, 4, 1}},
                               {"blk.0.attn_q.weight.lora_b", 2, {3, 8, 1}}};
    const gg_tensor rank0[] = {{"blk.0.attn_q.weight.lora_a", 2, {8, 0, 1}},
                               {"blk.0.attn_q.weight.lora_b", 2, {0, 8, 1}}};
    const gg_tensor nin0[] = {{"blk.0.attn_q.weight.lora_a", 2, {0, 4, 1}},
                              {"blk.0.attn_q.weight.lora_b", 2, {4, 8, 1}}};
    const gg_tensor three_d[] = {{"blk.0.attn_q.weight.lora_a", 3, {8, 2, 2}},
                                 {"blk.0.attn_q.weight.lora_b", 2, {2, 8, 1}}};
    const gg_tensor suffix[] = {{"blk.0.attn_q.weight.lora_a", 2, {8, 4, 1}},
                                {"blk.0.attn_q.weight.lora_b", 2, {4, 8, 1}},
                                {"blk.0.attn_q.weight.lora_c", 2, {4, 8, 1}}};
    const gg_tensor target[] = {{"blk.0.attn_qkv.weight.lora_a", 2, {8, 4, 1}},
                                {"blk.0.attn_qkv.weight.lora_b", 2, {4, 8, 1}}};
    const gg_tensor twice[] = {{"blk.1.ffn_up.weight.lora_a", 2, {8, 4, 1}},
                               {"blk.1.ffn_up.weight.lora_b", 2, {4, 8, 1}},
                               {"blk.01.ffn_up.weight.lora_a", 2, {8, 4, 1}},
                               {"blk.01.ffn_up.weight.lora_b", 2, {4, 8, 1}}};
    static const struct {
        const char *drop, *atype;
        float alpha;
        int which, n;
        const char *needle;
    } cases[] = {
        {"general.type", "lora", 8.0f, 0, 2, "general.type"},
        {"adapter.type", "lora", 8.0f, 0, 2, "adapter.type"},
        {"general.architecture", "lora", 8.0f, 0, 2, "general.architecture"},
        {NULL, "ia3", 8.0f, 0, 2, "adapter.type = 'ia3'"},
        {NULL, "lora", NAN, 0, 2, "adapter.lora.alpha = nan is not finite"},
        {NULL, "lora", 8.0f, 1, 1, "'blk.0.attn_q.weight': lora_b is missing"},
        {NULL, "lora", 8.0f, 2, 1, "'blk.0.attn_q.weight': lora_a is missing"},
        {NULL, "lora", 8.0f, 3, 2, "lora_a ne=[8, 4] and lora_b ne=[3, 8] do not fit"},
        {NULL, "lora", 8.0f, 4, 2, "'blk.0.attn_q.weight': LoRA rank is 0"},
        {NULL, "lora", 8.0f, 5, 2, "lora_a ne=[0, 4] and lora_b ne=[4, 8] do not fit"},
        {NULL, "lora", 8.0f, 6, 2, "'blk.0.attn_q.weight.lora_a': ne=[8, 2, 2, 1] is not 2-D"},
        {NULL, "lora", 8.0f, 7, 3, "'blk.0.attn_q.weight.lora_c': unexpected suffix"},
        {NULL, "lora", 8.0f, 8, 2, "base 'blk.0.attn_qkv.weight' is not blk.N"},
        {NULL, "lora", 8.0f, 9, 4, "two pairs adapt blk.1.ffn_up.weight"},
        {NULL, "lora", 8.0f, 0, 0, "adapter has no lora tensors"},
    };
    const gg_tensor *sets[] = {ok,   lone_a,  lone_b, ranks,  rank0,
                               nin0, three_d, suffix, target, twice};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_gg(p, cases[i].drop, cases[i].atype, cases[i].alpha, sets[cases[i].which],
                 cases[i].n);
        train_adapter out;
        memset(&out, 0xab, sizeof out);
        rw_err_clear(&err);
        rw_status st = train_adapter_read_gguf(p, &out, &err);
        if (st == RW_OK || !strstr(err.msg, cases[i].needle) || !strstr(err.msg, "bad.gguf: "))
            fail_msg("case %zu: want '%s', got %d: %s", i, cases[i].needle, (int)st, err.msg);
        assert_int_equal(out.n, (size_t)0xabababababababab); /* untouched on failure */
    }
    /* the raw builder itself is right: short names read back */
    write_raw_gg(p, "blk.2.ffn_down.weight.lora_a", "blk.2.ffn_down.weight.lora_b");
    if (train_adapter_read_gguf(p, &a, &err)) fail_msg("%s", err.msg);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.pairs[0].target, TRAIN_T_FFN_DOWN);
    train_adapter_deinit(&a);
    /* a base name of 96 bytes (one over the limit) */
    char mid[84], la[160], lb[160];
    memset(mid, 'x', 83);
    mid[83] = 0;
    snprintf(la, sizeof la, "blk.0.%s.weight.lora_a", mid);
    snprintf(lb, sizeof lb, "blk.0.%s.weight.lora_b", mid);
    assert_int_equal(strlen(la) - strlen(".lora_a"), 96);
    write_raw_gg(p, la, lb);
    rw_err_clear(&err);
    assert_int_equal(train_adapter_read_gguf(p, &a, &err), RW_E_FORMAT);
    if (!strstr(err.msg, "name too long")) fail_msg("%s", err.msg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_st_hand_built),       cmocka_unit_test(test_st_malformed),
        cmocka_unit_test(test_round_trip),          cmocka_unit_test(test_peft_import_rules),
        cmocka_unit_test(test_gguf_loads_in_infer), cmocka_unit_test(test_gguf_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
