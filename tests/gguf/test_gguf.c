/* infer/gguf: writer -> reader round trip of every metadata type, hand-encoded files (an
 * encoder written here, independent of infer/gguf_write.c), a malformed-input suite
 * (truncation at every byte, hostile counts and offsets, duplicates, bad types/versions),
 * allocation-failure injection, and the real GGUF files of ../shared/refs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "infer/gguf.h"
#include "infer/gguf_compat.h"
#include "infer/gguf_model.h"
#include "infer/gguf_quant.h"
#include "rw_test.h"

/* ------------------------------------------------------------ a tiny independent encoder */

typedef struct eb {
    unsigned char *p;
    size_t n, cap;
} eb;

static void eb_put(eb *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void eb_u8(eb *b, uint8_t v) { eb_put(b, &v, 1); }
static void eb_u32(eb *b, uint32_t v) {
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    eb_put(b, x, 4);
}
static void eb_u64(eb *b, uint64_t v) {
    eb_u32(b, (uint32_t)v);
    eb_u32(b, (uint32_t)(v >> 32));
}
static void eb_str(eb *b, const char *s) {
    eb_u64(b, strlen(s));
    eb_put(b, s, strlen(s));
}
static void eb_pad(eb *b, size_t a) {
    while (b->n % a) eb_u8(b, 0);
}
static void eb_header(eb *b, uint32_t version, uint64_t nt, uint64_t nkv) {
    eb_put(b, "GGUF", 4);
    eb_u32(b, version);
    eb_u64(b, nt);
    eb_u64(b, nkv);
}

static rw_status open_buf(const eb *b, infer_gguf **g, rw_err *err) {
    return infer_gguf_open_memory(b->p, b->n, g, err);
}

/* Expects the buffer to be rejected with `code` and a message containing `needle`. */
static void expect_reject(const eb *b, rw_status code, const char *needle) {
    infer_gguf *g = NULL;
    rw_err err;
    rw_err_clear(&err);
    rw_status st = open_buf(b, &g, &err);
    if (st == RW_OK) {
        infer_gguf_close(g);
        fail_msg("accepted, expected rejection containing '%s'", needle);
    }
    assert_null(g);
    if (code != 0 && st != code)
        fail_msg("status %d (%s), expected %d; message: %s", st, err.msg, code, needle);
    if (!strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

/* A valid file: 2 kv (u32 and a string array), 2 tensors (f32 [4], q8_0 [32,2]). */
static void make_valid(eb *b, size_t *data_end) {
    eb_header(b, 3, 2, 2);
    eb_str(b, "a.int");
    eb_u32(b, 4);
    eb_u32(b, 7);
    eb_str(b, "a.strs");
    eb_u32(b, 9);
    eb_u32(b, 8);
    eb_u64(b, 2);
    eb_str(b, "xy");
    eb_str(b, "");
    eb_str(b, "t.f32");
    eb_u32(b, 1);
    eb_u64(b, 4);
    eb_u32(b, 0);
    eb_u64(b, 0);
    eb_str(b, "t.q8");
    eb_u32(b, 2);
    eb_u64(b, 32);
    eb_u64(b, 2);
    eb_u32(b, 8);
    eb_u64(b, 32);
    eb_pad(b, 32);
    size_t base = b->n;
    for (int i = 0; i < 4; i++) {
        float f = (float)i + 0.5f;
        eb_put(b, &f, 4);
    }
    eb_pad(b, 32);
    for (int i = 0; i < 68; i++) eb_u8(b, (uint8_t)i);
    *data_end = b->n;
    (void)base;
}

static void test_hand_encoded_valid(void **state) {
    (void)state;
    eb b = {0};
    size_t end;
    make_valid(&b, &end);
    infer_gguf *g = NULL;
    rw_err err;
    assert_int_equal(open_buf(&b, &g, &err), RW_OK);
    assert_int_equal(infer_gguf_version(g), 3);
    assert_int_equal(infer_gguf_n_kv(g), 2);
    assert_int_equal(infer_gguf_n_tensors(g), 2);
    assert_int_equal(infer_gguf_alignment(g), 32);
    uint32_t u;
    assert_int_equal(infer_gguf_get_u32(g, "a.int", &u, &err), RW_OK);
    assert_int_equal(u, 7);
    infer_gguf_value a;
    assert_int_equal(infer_gguf_get_arr(g, "a.strs", &a, &err), RW_OK);
    assert_int_equal(a.count, 2);
    infer_gguf_str s;
    assert_int_equal(infer_gguf_arr_str(&a, 0, &s), RW_OK);
    assert_true(infer_gguf_str_eq(s, "xy"));
    assert_int_equal(infer_gguf_arr_str(&a, 1, &s), RW_OK);
    assert_int_equal(s.len, 0);
    assert_int_equal(infer_gguf_arr_str(&a, 2, &s), RW_E_RANGE);
    rw_tensor t;
    assert_int_equal(infer_gguf_get_tensor(g, "t.f32", &t, &err), RW_OK);
    assert_int_equal(t.ne[0], 4);
    assert_true(((const float *)t.data)[3] == 3.5f);
    assert_string_equal(t.name, "t.f32");
    assert_int_equal(infer_gguf_get_tensor(g, "t.q8", &t, &err), RW_OK);
    assert_int_equal(t.type, RW_DTYPE_Q8_0);
    assert_int_equal(t.ne[1], 2);
    assert_int_equal(rw_tensor_nbytes(&t), 68);
    assert_int_equal(((const unsigned char *)t.data)[67], 67);
    assert_int_equal(infer_gguf_get_tensor(g, "nope", &t, &err), RW_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "nope"));
    assert_int_equal(infer_gguf_get_u32(g, "a.strs", &u, &err), RW_E_FORMAT);
    assert_non_null(strstr(err.msg, "a.strs"));
    assert_int_equal(infer_gguf_get_u32(g, "missing", &u, &err), RW_E_NOTFOUND);
    infer_gguf_close(g);
    free(b.p);
}

/* Truncating a valid file anywhere before the end of its tensor data must fail cleanly. */
static void test_truncated_everywhere(void **state) {
    (void)state;
    eb b = {0};
    size_t end;
    make_valid(&b, &end);
    for (size_t cut = 0; cut < end; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1); /* exact-size copy: ASan sees overreads */
        memcpy(copy, b.p, cut);
        infer_gguf *g = NULL;
        rw_err err;
        rw_err_clear(&err);
        rw_status st = infer_gguf_open_memory(copy, cut, &g, &err);
        if (st == RW_OK) fail_msg("truncated at %zu of %zu bytes: accepted", cut, end);
        assert_true(err.msg[0] != '\0');
        free(copy);
    }
    free(b.p);
}

static void test_malformed(void **state) {
    (void)state;
    eb b = {0};
    /* bad magic */
    eb_put(&b, "GGUX", 4), eb_u32(&b, 3), eb_u64(&b, 0), eb_u64(&b, 0);
    expect_reject(&b, RW_E_FORMAT, "bad magic");
    /* version 1 rejected, 4 rejected, big-endian rejected, v2 accepted */
    b.n = 0, eb_header(&b, 1, 0, 0);
    expect_reject(&b, RW_E_UNSUPPORTED, "version 1");
    b.n = 0, eb_header(&b, 4, 0, 0);
    expect_reject(&b, RW_E_FORMAT, "version 4");
    b.n = 0, eb_header(&b, 0x03000000u, 0, 0);
    expect_reject(&b, RW_E_UNSUPPORTED, "big-endian");
    b.n = 0, eb_header(&b, 2, 0, 0);
    infer_gguf *g = NULL;
    rw_err err;
    assert_int_equal(open_buf(&b, &g, &err), RW_OK);
    assert_int_equal(infer_gguf_version(g), 2);
    infer_gguf_close(g);
    /* huge counts */
    b.n = 0, eb_header(&b, 3, 0, UINT64_MAX);
    expect_reject(&b, RW_E_RANGE, "n_kv");
    b.n = 0, eb_header(&b, 3, UINT64_MAX / 2, 0);
    expect_reject(&b, RW_E_RANGE, "n_tensors");
    /* key length past the end */
    b.n = 0, eb_header(&b, 3, 0, 1), eb_u64(&b, 1u << 30), eb_put(&b, "abcdefghijklm", 13);
    expect_reject(&b, RW_E_RANGE, "key #0");
    /* string value length past the end, message names the key */
    b.n = 0, eb_header(&b, 3, 0, 1), eb_str(&b, "k.s"), eb_u32(&b, 8), eb_u64(&b, UINT64_MAX);
    expect_reject(&b, RW_E_RANGE, "'k.s'");
    /* array count past the end: numeric, strings, nested */
    b.n = 0, eb_header(&b, 3, 0, 1), eb_str(&b, "k.a"), eb_u32(&b, 9), eb_u32(&b, 6),
    eb_u64(&b, UINT64_MAX / 2);
    expect_reject(&b, RW_E_RANGE, "'k.a'");
    b.n = 0, eb_header(&b, 3, 0, 1), eb_str(&b, "k.a"), eb_u32(&b, 9), eb_u32(&b, 8),
    eb_u64(&b, 1ull << 60);
    expect_reject(&b, RW_E_RANGE, "count");
    b.n = 0, eb_header(&b, 3, 0, 1), eb_str(&b, "k.a"), eb_u32(&b, 9), eb_u32(&b, 9),
    eb_u64(&b, 1ull << 62);
    expect_reject(&b, RW_E_RANGE, "count");
    /* unknown value type, unknown array element type */
    b.n = 0, eb_header(&b, 3, 0, 1), eb_str(&b, "k.x"), eb_u32(&b, 13), eb_u32(&b, 0);
    expect_reject(&b, RW_E_FORMAT, "unknown value type 13");
    b.n = 0, eb_header(&b, 3, 0, 1), eb_str(&b, "k.x"), eb_u32(&b, 9), eb_u32(&b, 99), eb_u64(&b, 0);
    expect_reject(&b, RW_E_FORMAT, "unknown array element type 99");
    /* bool other than 0/1 */
    b.n = 0, eb_header(&b, 3, 0, 1), eb_str(&b, "k.b"), eb_u32(&b, 7), eb_u8(&b, 2);
    expect_reject(&b, RW_E_FORMAT, "bool");
    /* nesting too deep */
    b.n = 0, eb_header(&b, 3, 0, 1), eb_str(&b, "k.n"), eb_u32(&b, 9);
    for (int i = 0; i < 6; i++) eb_u32(&b, 9), eb_u64(&b, 1);
    eb_u32(&b, 0), eb_u64(&b, 0);
    expect_reject(&b, RW_E_FORMAT, "nested");
    /* duplicate keys */
    b.n = 0, eb_header(&b, 3, 0, 2);
    eb_str(&b, "k.d"), eb_u32(&b, 0), eb_u8(&b, 1);
    eb_str(&b, "k.d"), eb_u32(&b, 0), eb_u8(&b, 2);
    expect_reject(&b, RW_E_FORMAT, "duplicate key 'k.d'");
    /* NUL in a key */
    b.n = 0, eb_header(&b, 3, 0, 1), eb_u64(&b, 3), eb_put(&b, "a\0b", 3), eb_u32(&b, 0), eb_u8(&b, 1);
    expect_reject(&b, RW_E_FORMAT, "NUL");
    /* alignment: wrong type, not a power of two */
    b.n = 0, eb_header(&b, 3, 0, 1), eb_str(&b, "general.alignment"), eb_u32(&b, 5), eb_u32(&b, 32);
    expect_reject(&b, RW_E_FORMAT, "general.alignment");
    b.n = 0, eb_header(&b, 3, 0, 1), eb_str(&b, "general.alignment"), eb_u32(&b, 4), eb_u32(&b, 24);
    expect_reject(&b, RW_E_FORMAT, "power of two");

#define TENSOR_FILE(nd_, ne_list, type_, off_, datasz)                                 \
    do {                                                                              \
        b.n = 0, eb_header(&b, 3, 1, 0), eb_str(&b, "w");                             \
        eb_u32(&b, nd_);                                                              \
        uint64_t ne_[] = ne_list;                                                     \
        for (size_t q = 0; q < sizeof ne_ / sizeof ne_[0]; q++) eb_u64(&b, ne_[q]);   \
        eb_u32(&b, type_), eb_u64(&b, off_), eb_pad(&b, 32);                           \
        for (size_t q = 0; q < (datasz); q++) eb_u8(&b, 0);                           \
    } while (0)
#define L(...) {__VA_ARGS__}
    TENSOR_FILE(1, L(8), 0, 0, 32);
    assert_int_equal(open_buf(&b, &g, &err), RW_OK);
    infer_gguf_close(g);
    TENSOR_FILE(5, L(1, 1, 1, 1, 1), 0, 0, 32);
    expect_reject(&b, RW_E_FORMAT, "n_dims 5");
    TENSOR_FILE(1, L(8), 3, 0, 32); /* q4_1 needs blocks of 32 */
    expect_reject(&b, RW_E_FORMAT, "not a multiple");
    TENSOR_FILE(1, L(8), 4, 0, 32); /* type 4 does not exist */
    expect_reject(&b, RW_E_FORMAT, "unknown tensor type 4");
    TENSOR_FILE(1, L(8), 0, 16, 64); /* misaligned data offset */
    expect_reject(&b, RW_E_FORMAT, "alignment");
    TENSOR_FILE(1, L(8), 0, 32, 32); /* data past the end */
    expect_reject(&b, RW_E_RANGE, "past the end");
    TENSOR_FILE(1, L(16), 0, 0, 32); /* 64 bytes needed, 32 present */
    expect_reject(&b, RW_E_RANGE, "'w'");
    TENSOR_FILE(2, L(1ull << 62, 1ull << 62), 0, 0, 32);
    expect_reject(&b, RW_E_RANGE, "overflow");
    TENSOR_FILE(4, L(0, 1ull << 57, 1ull << 57, 1), 0, 0, 32); /* found by fuzz_gguf */
    expect_reject(&b, RW_E_RANGE, "overflow");
    TENSOR_FILE(1, L(UINT64_MAX), 0, 0, 32);
    expect_reject(&b, RW_E_RANGE, "negative");
    TENSOR_FILE(1, L(8), 0, UINT64_MAX - 31, 32);
    expect_reject(&b, RW_E_RANGE, "past the end");
    /* duplicate tensor names, overlapping tensors */
    b.n = 0, eb_header(&b, 3, 2, 0);
    for (int i = 0; i < 2; i++) eb_str(&b, "w"), eb_u32(&b, 1), eb_u64(&b, 8), eb_u32(&b, 0), eb_u64(&b, (uint64_t)i * 32);
    eb_pad(&b, 32);
    for (int i = 0; i < 64; i++) eb_u8(&b, 0);
    expect_reject(&b, RW_E_FORMAT, "duplicate tensor name 'w'");
    b.n = 0, eb_header(&b, 3, 2, 0);
    eb_str(&b, "w1"), eb_u32(&b, 1), eb_u64(&b, 16), eb_u32(&b, 0), eb_u64(&b, 0);
    eb_str(&b, "w2"), eb_u32(&b, 1), eb_u64(&b, 8), eb_u32(&b, 0), eb_u64(&b, 32);
    eb_pad(&b, 32);
    for (int i = 0; i < 96; i++) eb_u8(&b, 0);
    expect_reject(&b, RW_E_FORMAT, "overlaps");
    /* an empty tensor between two overlapping ones does not hide the overlap */
    b.n = 0, eb_header(&b, 3, 3, 0);
    eb_str(&b, "a"), eb_u32(&b, 1), eb_u64(&b, 16), eb_u32(&b, 0), eb_u64(&b, 0);
    eb_str(&b, "z"), eb_u32(&b, 1), eb_u64(&b, 0), eb_u32(&b, 0), eb_u64(&b, 32);
    eb_str(&b, "b"), eb_u32(&b, 1), eb_u64(&b, 8), eb_u32(&b, 0), eb_u64(&b, 32);
    eb_pad(&b, 32);
    for (int i = 0; i < 96; i++) eb_u8(&b, 0);
    expect_reject(&b, RW_E_FORMAT, "overlaps");
    /* data section missing entirely (file ends in the padding) */
    b.n = 0, eb_header(&b, 3, 1, 0), eb_str(&b, "w"), eb_u32(&b, 1), eb_u64(&b, 0), eb_u32(&b, 0), eb_u64(&b, 0);
    expect_reject(&b, RW_E_RANGE, "data section");
#undef TENSOR_FILE
#undef L
    free(b.p);
}

/* ------------------------------------------------------------ writer round trip */

static void test_roundtrip_all_types(void **state) {
    (void)state;
    rw_err err;
    infer_gguf_writer *w = NULL;
    assert_int_equal(infer_gguf_writer_create(&w, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_set_u8(w, "t.u8", 200, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_set_i8(w, "t.i8", -100, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_set_u16(w, "t.u16", 65000, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_set_i16(w, "t.i16", -32000, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_set_u32(w, "t.u32", 4000000000u, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_set_i32(w, "t.i32", -2000000000, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_set_f32(w, "t.f32", 1.5e-7f, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_set_bool(w, "t.bool", true, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_set_str(w, "t.str", "héllo", &err), RW_OK);
    assert_int_equal(infer_gguf_writer_set_u64(w, "t.u64", UINT64_MAX, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_set_i64(w, "t.i64", INT64_MIN, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_set_f64(w, "t.f64", -1e300, &err), RW_OK);
    /* arrays of every fixed type */
    uint8_t a_u8[3] = {1, 2, 255};
    int8_t a_i8[3] = {-1, 0, 127};
    uint16_t a_u16[2] = {1, 65535};
    int16_t a_i16[2] = {-32768, 5};
    uint32_t a_u32[2] = {0, 4294967295u};
    int32_t a_i32[3] = {-1, 2, -3};
    float a_f32[2] = {0.25f, -8.0f};
    uint8_t a_bool[3] = {1, 0, 1};
    uint64_t a_u64[1] = {1ull << 63};
    int64_t a_i64[2] = {-5, 1ll << 40};
    double a_f64[2] = {3.141592653589793, -0.0};
    struct {
        const char *k;
        infer_gguf_type t;
        const void *d;
        uint64_t n;
    } arrs[] = {{"a.u8", INFER_GGUF_UINT8, a_u8, 3},    {"a.i8", INFER_GGUF_INT8, a_i8, 3},
                {"a.u16", INFER_GGUF_UINT16, a_u16, 2}, {"a.i16", INFER_GGUF_INT16, a_i16, 2},
                {"a.u32", INFER_GGUF_UINT32, a_u32, 2}, {"a.i32", INFER_GGUF_INT32, a_i32, 3},
                {"a.f32", INFER_GGUF_FLOAT32, a_f32, 2}, {"a.bool", INFER_GGUF_BOOL, a_bool, 3},
                {"a.u64", INFER_GGUF_UINT64, a_u64, 1}, {"a.i64", INFER_GGUF_INT64, a_i64, 2},
                {"a.f64", INFER_GGUF_FLOAT64, a_f64, 2}, {"a.empty", INFER_GGUF_INT32, NULL, 0}};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++)
        assert_int_equal(infer_gguf_writer_set_arr(w, arrs[i].k, arrs[i].t, arrs[i].d, arrs[i].n, &err), RW_OK);
    const char *strs[] = {"alpha", "", "gamma with space", "\xe2\x96\x81x"};
    assert_int_equal(infer_gguf_writer_set_arr_str(w, "a.str", strs, NULL, 4, &err), RW_OK);
    /* nested: [[1,2],[3]] of u16, and [["a"],[]] of strings, hand-encoded payloads */
    eb nb = {0};
    eb_u32(&nb, 2), eb_u64(&nb, 2);
    {
        uint16_t v[3] = {1, 2, 3};
        eb_put(&nb, &v[0], 2), eb_put(&nb, &v[1], 2);
        eb_u32(&nb, 2), eb_u64(&nb, 1), eb_put(&nb, &v[2], 2);
    }
    infer_gguf_value nv = {.type = INFER_GGUF_ARRAY, .elem_type = INFER_GGUF_ARRAY, .count = 2,
                           .data = nb.p, .size = nb.n};
    assert_int_equal(infer_gguf_writer_set_value(w, "a.nested", &nv, &err), RW_OK);
    eb ns = {0};
    eb_u32(&ns, 8), eb_u64(&ns, 1), eb_str(&ns, "a"), eb_u32(&ns, 8), eb_u64(&ns, 0);
    nv.data = ns.p, nv.size = ns.n;
    assert_int_equal(infer_gguf_writer_set_value(w, "a.nested_str", &nv, &err), RW_OK);
    /* a bad hand-encoded payload is refused */
    nv.size = ns.n - 1;
    assert_int_not_equal(infer_gguf_writer_set_value(w, "a.bad", &nv, &err), RW_OK);
    /* replacing keeps one entry */
    assert_int_equal(infer_gguf_writer_set_u32(w, "t.u32", 4000000000u, &err), RW_OK);
    /* tensors */
    float tf[6] = {1, 2, 3, 4, 5, 6};
    unsigned char tq[34 * 2];
    for (int i = 0; i < 68; i++) tq[i] = (unsigned char)(i * 7);
    assert_int_equal(infer_gguf_writer_add_tensor(w, "x.f32", RW_DTYPE_F32, 2, (int64_t[]){3, 2}, tf, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_add_tensor(w, "x.q8", RW_DTYPE_Q8_0, 2, (int64_t[]){32, 2}, tq, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_add_tensor(w, "x.f32", RW_DTYPE_F32, 1, (int64_t[]){1}, tf, &err), RW_E_INVALID);
    assert_int_equal(infer_gguf_writer_add_tensor(w, "x.bad", RW_DTYPE_Q8_0, 1, (int64_t[]){16}, tq, &err), RW_E_INVALID);
    char path[4200];
    snprintf(path, sizeof path, "%s/rt.gguf", rw_test_tmpdir());
    assert_int_equal(infer_gguf_writer_write(w, path, &err), RW_OK);
    infer_gguf_writer_destroy(w);

    infer_gguf *g = NULL;
    if (infer_gguf_open(path, &g, &err) != RW_OK) fail_msg("%s", err.msg);
    assert_int_equal(infer_gguf_n_kv(g), 12 + 12 + 1 + 2);
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    int64_t i64;
    float f32;
    double f64;
    bool bl;
    infer_gguf_str s;
    assert_int_equal(infer_gguf_get_u32(g, "t.u8", &u32, &err), RW_OK), assert_int_equal(u32, 200);
    assert_int_equal(infer_gguf_get_i32(g, "t.i8", &i32, &err), RW_OK), assert_int_equal(i32, -100);
    assert_int_equal(infer_gguf_get_u32(g, "t.i8", &u32, &err), RW_E_FORMAT); /* negative */
    assert_non_null(strstr(err.msg, "int8 -100"));
    assert_int_equal(infer_gguf_get_u32(g, "t.u16", &u32, &err), RW_OK), assert_int_equal(u32, 65000);
    assert_int_equal(infer_gguf_get_i32(g, "t.i16", &i32, &err), RW_OK), assert_int_equal(i32, -32000);
    assert_int_equal(infer_gguf_get_u32(g, "t.u32", &u32, &err), RW_OK), assert_true(u32 == 4000000000u);
    assert_int_equal(infer_gguf_get_i32(g, "t.u32", &i32, &err), RW_E_FORMAT); /* does not fit */
    assert_int_equal(infer_gguf_get_i32(g, "t.i32", &i32, &err), RW_OK), assert_int_equal(i32, -2000000000);
    assert_int_equal(infer_gguf_get_f32(g, "t.f32", &f32, &err), RW_OK), assert_true(f32 == 1.5e-7f);
    assert_int_equal(infer_gguf_get_u32(g, "t.f32", &u32, &err), RW_E_FORMAT);
    assert_int_equal(infer_gguf_get_bool(g, "t.bool", &bl, &err), RW_OK), assert_true(bl);
    assert_int_equal(infer_gguf_get_str(g, "t.str", &s, &err), RW_OK), assert_true(infer_gguf_str_eq(s, "héllo"));
    assert_int_equal(infer_gguf_get_u64(g, "t.u64", &u64, &err), RW_OK), assert_true(u64 == UINT64_MAX);
    assert_int_equal(infer_gguf_get_i64(g, "t.u64", &i64, &err), RW_E_FORMAT);
    assert_int_equal(infer_gguf_get_i64(g, "t.i64", &i64, &err), RW_OK), assert_true(i64 == INT64_MIN);
    assert_int_equal(infer_gguf_get_f64(g, "t.f64", &f64, &err), RW_OK), assert_true(f64 == -1e300);
    assert_int_equal(infer_gguf_get_f32(g, "t.f64", &f32, &err), RW_E_FORMAT); /* out of f32 range */
    assert_int_equal(infer_gguf_get_str(g, "t.u8", &s, &err), RW_E_FORMAT);
    /* arrays: byte-exact payloads against the source buffers */
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) {
        infer_gguf_value a;
        assert_int_equal(infer_gguf_get_arr(g, arrs[i].k, &a, &err), RW_OK);
        assert_int_equal(a.elem_type, arrs[i].t);
        assert_int_equal(a.count, arrs[i].n);
        assert_int_equal(a.size, arrs[i].n * infer_gguf_type_size(arrs[i].t));
        if (a.size) assert_memory_equal(a.data, arrs[i].d, a.size);
    }
    infer_gguf_value a;
    int64_t iv;
    double dv;
    assert_int_equal(infer_gguf_get_arr(g, "a.i16", &a, &err), RW_OK);
    assert_int_equal(infer_gguf_arr_int(&a, 0, &iv), RW_OK), assert_int_equal(iv, -32768);
    assert_int_equal(infer_gguf_get_arr(g, "a.f64", &a, &err), RW_OK);
    assert_int_equal(infer_gguf_arr_float(&a, 0, &dv), RW_OK), assert_true(dv == 3.141592653589793);
    assert_int_equal(infer_gguf_get_arr(g, "a.i32", &a, &err), RW_OK);
    int32_t i32s[3];
    float f32s[3];
    assert_int_equal(infer_gguf_arr_to_i32(&a, i32s, &err), RW_OK), assert_int_equal(i32s[2], -3);
    assert_int_equal(infer_gguf_arr_to_f32(&a, f32s, &err), RW_OK), assert_true(f32s[1] == 2.0f);
    assert_int_equal(infer_gguf_get_arr(g, "a.u32", &a, &err), RW_OK);
    assert_int_equal(infer_gguf_arr_to_i32(&a, i32s, &err), RW_E_RANGE);
    assert_int_equal(infer_gguf_get_arr(g, "a.str", &a, &err), RW_OK);
    assert_int_equal(a.count, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(infer_gguf_arr_str(&a, (uint64_t)i, &s), RW_OK);
        assert_true(infer_gguf_str_eq(s, strs[i]));
    }
    char *dup = infer_gguf_str_dup(s);
    assert_string_equal(dup, strs[3]);
    rw_free(dup);
    assert_int_equal(infer_gguf_arr_int(&a, 0, &iv), RW_E_FORMAT);
    /* nested arrays: payload bytes identical, elements walk correctly */
    assert_int_equal(infer_gguf_get_arr(g, "a.nested", &a, &err), RW_OK);
    assert_int_equal(a.elem_type, INFER_GGUF_ARRAY);
    assert_int_equal(a.size, nb.n);
    assert_memory_equal(a.data, nb.p, nb.n);
    infer_gguf_value e;
    assert_int_equal(infer_gguf_arr_elem(&a, 1, &e), RW_OK);
    assert_int_equal(e.count, 1);
    assert_int_equal(infer_gguf_arr_int(&e, 0, &iv), RW_OK), assert_int_equal(iv, 3);
    assert_int_equal(infer_gguf_get_arr(g, "a.nested_str", &a, &err), RW_OK);
    assert_memory_equal(a.data, ns.p, ns.n);
    assert_int_equal(infer_gguf_arr_elem(&a, 0, &e), RW_OK);
    assert_int_equal(infer_gguf_arr_str(&e, 0, &s), RW_OK), assert_true(infer_gguf_str_eq(s, "a"));
    assert_int_equal(infer_gguf_arr_elem(&a, 1, &e), RW_OK), assert_int_equal(e.count, 0);
    /* key order is insertion order */
    assert_string_equal(infer_gguf_key(g, 0), "t.u8");
    assert_int_equal(infer_gguf_find_key(g, "a.nested_str"), 26);
    /* tensors */
    rw_tensor t;
    assert_int_equal(infer_gguf_get_tensor(g, "x.f32", &t, &err), RW_OK);
    assert_int_equal(t.ne[0], 3), assert_int_equal(t.ne[1], 2);
    assert_memory_equal(t.data, tf, sizeof tf);
    assert_int_equal(((uintptr_t)t.data - (uintptr_t)infer_gguf_base(g)) % 32, 0);
    assert_int_equal(infer_gguf_get_tensor(g, "x.q8", &t, &err), RW_OK);
    assert_memory_equal(t.data, tq, sizeof tq);
    assert_int_equal(((uintptr_t)t.data - (uintptr_t)infer_gguf_base(g)) % 32, 0);
    infer_gguf_close(g);
    free(nb.p);
    free(ns.p);
}

/* copy_kv and a custom alignment, then rewrite to an identical file. */
static void test_copy_and_alignment(void **state) {
    (void)state;
    rw_err err;
    infer_gguf_writer *w = NULL;
    assert_int_equal(infer_gguf_writer_create(&w, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_set_u32(w, "general.alignment", 64, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", &err), RW_OK);
    assert_int_equal(infer_gguf_writer_set_str(w, "other.x", "y", &err), RW_OK);
    float d[5] = {1, 2, 3, 4, 5};
    assert_int_equal(infer_gguf_writer_add_tensor(w, "a", RW_DTYPE_F32, 1, (int64_t[]){5}, d, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_add_tensor(w, "b", RW_DTYPE_F32, 1, (int64_t[]){3}, d, &err), RW_OK);
    char p1[4200], p2[4200];
    snprintf(p1, sizeof p1, "%s/al1.gguf", rw_test_tmpdir());
    snprintf(p2, sizeof p2, "%s/al2.gguf", rw_test_tmpdir());
    assert_int_equal(infer_gguf_writer_write(w, p1, &err), RW_OK);
    infer_gguf_writer_destroy(w);
    infer_gguf *g = NULL;
    assert_int_equal(infer_gguf_open(p1, &g, &err), RW_OK);
    assert_int_equal(infer_gguf_alignment(g), 64);
    assert_int_equal(infer_gguf_data_offset(g) % 64, 0);
    assert_int_equal(infer_gguf_tensor_info_at(g, 1)->offset, 64);
    /* copy with prefix */
    assert_int_equal(infer_gguf_writer_create(&w, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_copy_kv(w, g, "tokenizer.", &err), RW_OK);
    assert_int_equal(infer_gguf_writer_write(w, p2, &err), RW_OK);
    infer_gguf_writer_destroy(w);
    infer_gguf *g2 = NULL;
    assert_int_equal(infer_gguf_open(p2, &g2, &err), RW_OK);
    assert_int_equal(infer_gguf_n_kv(g2), 1);
    infer_gguf_close(g2);
    /* copy all + all tensors -> byte-identical file */
    assert_int_equal(infer_gguf_writer_create(&w, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_copy_kv(w, g, "", &err), RW_OK);
    for (uint64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
        rw_tensor t;
        assert_int_equal(infer_gguf_tensor_at(g, i, &t), RW_OK);
        assert_int_equal(infer_gguf_writer_add_tensor(w, t.name, t.type, t.n_dims, t.ne, t.data, &err), RW_OK);
    }
    assert_int_equal(infer_gguf_writer_write(w, p2, &err), RW_OK);
    infer_gguf_writer_destroy(w);
    infer_gguf_close(g);
    size_t n1, n2;
    char *b1 = rw_test_read_file(p1, &n1), *b2 = rw_test_read_file(p2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    free(b1);
    free(b2);
    /* writing into a missing folder fails cleanly */
    assert_int_equal(infer_gguf_writer_create(&w, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_write(w, "/nonexistent-dir/x.gguf", &err), RW_E_IO);
    infer_gguf_writer_destroy(w);
    assert_int_equal(infer_gguf_open("/nonexistent-dir/x.gguf", &g, &err), RW_E_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.gguf"));
}

/* Every allocation failure in open and in the writer returns RW_E_NOMEM (ASan checks leaks). */
static void test_alloc_failures(void **state) {
    (void)state;
    eb b = {0};
    size_t end;
    make_valid(&b, &end);
    rw_err err;
    int ok = 0;
    for (long n = 0; n < 200 && !ok; n++) {
        infer_gguf *g = NULL;
        rw_alloc_fail_after(n);
        rw_status st = open_buf(&b, &g, &err);
        rw_alloc_fail_after(-1);
        if (st == RW_OK) {
            ok = 1;
            infer_gguf_close(g);
        } else if (st != RW_E_NOMEM) {
            fail_msg("fail_after %ld: status %d: %s", n, st, err.msg);
        }
    }
    assert_true(ok);
    char path[4200];
    snprintf(path, sizeof path, "%s/nomem.gguf", rw_test_tmpdir());
    const char *strs[] = {"a", "b"};
    float d[4] = {0};
    ok = 0;
    for (long n = 0; n < 200 && !ok; n++) {
        infer_gguf_writer *w = NULL;
        rw_alloc_fail_after(n);
        rw_status st = infer_gguf_writer_create(&w, &err);
        if (!st) st = infer_gguf_writer_set_str(w, "k.s", "v", &err);
        if (!st) st = infer_gguf_writer_set_arr_str(w, "k.a", strs, NULL, 2, &err);
        if (!st) st = infer_gguf_writer_set_u32(w, "k.s", 3, &err);
        if (!st) st = infer_gguf_writer_add_tensor(w, "t", RW_DTYPE_F32, 1, (int64_t[]){4}, d, &err);
        if (!st) st = infer_gguf_writer_write(w, path, &err);
        rw_alloc_fail_after(-1);
        infer_gguf_writer_destroy(w);
        if (st == RW_OK) ok = 1;
        else if (st != RW_E_NOMEM) fail_msg("writer fail_after %ld: status %d: %s", n, st, err.msg);
    }
    assert_true(ok);
    free(b.p);
}

/* Model generation (both embedded vocabularies) and quantize: every allocation failure
 * returns RW_E_NOMEM, leaves no file behind and leaks nothing. */
static void test_alloc_failures_model_quantize(void **state) {
    (void)state;
    rw_err err;
    char path[4200], qpath[4200];
    snprintf(path, sizeof path, "%s/nomem-model.gguf", rw_test_tmpdir());
    snprintf(qpath, sizeof qpath, "%s/nomem-q.gguf", rw_test_tmpdir());
    for (int arch = 0; arch < 3; arch++) {
        infer_gguf_model_spec spec;
        assert_int_equal(infer_gguf_model_preset((infer_gguf_arch)arch, "tiny", &spec, &err), RW_OK);
        spec.n_layer = 1, spec.n_embd = 32, spec.n_head = 2, spec.n_head_kv = arch == 2 ? 2 : 1;
        spec.n_ff = 64, spec.n_ctx = 16;
        int ok = 0;
        for (long n = 0; n < 5000 && !ok; n++) {
            remove(path);
            rw_alloc_fail_after(n);
            rw_status st = infer_gguf_model_new(&spec, NULL, path, NULL, &err);
            rw_alloc_fail_after(-1);
            if (st == RW_OK) ok = 1;
            else if (st != RW_E_NOMEM) fail_msg("arch %d fail_after %ld: %d %s", arch, n, st, err.msg);
            else {
                FILE *f = fopen(path, "rb");
                if (f) {
                    fclose(f);
                    fail_msg("arch %d: file left behind after a failure", arch);
                }
            }
        }
        assert_true(ok);
    }
    /* the last model (bert, hidden 32: rows not a multiple of 256 -> fallbacks) quantized */
    infer_gguf *g = NULL;
    assert_int_equal(infer_gguf_open(path, &g, &err), RW_OK);
    int ok = 0;
    for (long n = 0; n < 2000 && !ok; n++) {
        rw_alloc_fail_after(n);
        rw_status st = infer_gguf_quantize(g, qpath, INFER_GGUF_FTYPE_Q4_K_M, NULL, &err);
        rw_alloc_fail_after(-1);
        if (st == RW_OK) ok = 1;
        else if (st != RW_E_NOMEM) fail_msg("quantize fail_after %ld: %d %s", n, st, err.msg);
    }
    assert_true(ok);
    infer_gguf_close(g);
    /* hidden 32 < 256: K types fall back (Q4_K -> Q5_0, Q6_K -> Q8_0) */
    assert_int_equal(infer_gguf_open(qpath, &g, &err), RW_OK);
    rw_tensor t;
    assert_int_equal(infer_gguf_get_tensor(g, "blk.0.attn_q.weight", &t, &err), RW_OK);
    assert_int_equal(t.type, RW_DTYPE_Q5_0);
    assert_int_equal(infer_gguf_get_tensor(g, "token_embd.weight", &t, &err), RW_OK);
    assert_int_equal(t.type, RW_DTYPE_Q8_0);
    infer_gguf_close(g);
}

/* Random byte flips of a valid file: never crash (ASan/UBSan), accept or reject cleanly. */
static void test_random_corruption(void **state) {
    (void)state;
    eb b = {0};
    size_t end;
    make_valid(&b, &end);
    rw_rng r;
    rw_rng_seed(&r, 7);
    unsigned char *copy = malloc(b.n);
    for (int it = 0; it < 20000; it++) {
        memcpy(copy, b.p, b.n);
        int flips = 1 + (int)rw_rng_below(&r, 4);
        for (int f = 0; f < flips; f++) copy[rw_rng_below(&r, b.n)] = (unsigned char)rw_rng_u64(&r);
        infer_gguf *g = NULL;
        rw_err err;
        if (infer_gguf_open_memory(copy, b.n, &g, &err) == RW_OK) {
            for (uint64_t i = 0; i < infer_gguf_n_kv(g); i++) {
                const infer_gguf_value *v = infer_gguf_kv_value(g, i);
                if (v->type == INFER_GGUF_ARRAY)
                    for (uint64_t k = 0; k < v->count && k < 4; k++) {
                        infer_gguf_value e;
                        assert_int_equal(infer_gguf_arr_elem(v, k, &e), RW_OK);
                    }
            }
            for (uint64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
                rw_tensor t;
                if (infer_gguf_tensor_at(g, i, &t) == RW_OK && rw_tensor_nbytes(&t) > 0) {
                    volatile unsigned char last = ((const unsigned char *)t.data)[rw_tensor_nbytes(&t) - 1];
                    (void)last;
                }
            }
            infer_gguf_close(g);
        }
    }
    free(copy);
    free(b.p);
}

/* Two f32 [4] tensors named n0/n1 with the given data offsets (hand-encoded). */
static void make_two(eb *b, const char *n0, uint64_t off0, const char *n1, uint64_t off1) {
    eb_header(b, 3, 2, 0);
    const char *names[2] = {n0, n1};
    uint64_t offs[2] = {off0, off1};
    for (int i = 0; i < 2; i++) {
        eb_str(b, names[i]);
        eb_u32(b, 1);
        eb_u64(b, 4);
        eb_u32(b, 0);
        eb_u64(b, offs[i]);
    }
    eb_pad(b, 32);
    for (int i = 0; i < 96; i++) eb_u8(b, 0);
}

static void expect_compat(const eb *b, const char *needle) {
    infer_gguf *g = NULL;
    rw_err err;
    rw_err_clear(&err);
    /* every layout here is valid GGUF: we read it, and only the llama.cpp check objects */
    assert_int_equal(open_buf(b, &g, &err), RW_OK);
    rw_status st = infer_gguf_check_llama_compat(g, &err);
    infer_gguf_close(g);
    if (!needle) {
        if (st != RW_OK) fail_msg("unexpected llama.cpp incompatibility: %s", err.msg);
        return;
    }
    if (st == RW_OK) fail_msg("accepted, expected a llama.cpp warning containing '%s'", needle);
    if (!strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

/* llama.cpp (gguf.cpp) wants tensor data in info order, each padded to the alignment, and
 * names < 64 bytes; both are legal GGUF, so we open such files and the check flags them. */
static void test_llama_compat(void **state) {
    (void)state;
    eb b = {0};
    size_t end;
    make_valid(&b, &end);
    expect_compat(&b, NULL);
    b.n = 0;
    make_two(&b, "a", 0, "b", 32);
    expect_compat(&b, NULL);
    b.n = 0;
    make_two(&b, "a", 32, "b", 0); /* reversed order */
    expect_compat(&b, "llama.cpp expects 0");
    b.n = 0;
    make_two(&b, "a", 0, "b", 64); /* a gap */
    expect_compat(&b, "llama.cpp expects 32");
    char name[80];
    memset(name, 'n', 63);
    name[63] = 0;
    b.n = 0;
    make_two(&b, "a", 0, name, 32); /* 63 bytes: the longest llama.cpp takes */
    expect_compat(&b, NULL);
    name[63] = 'n';
    name[64] = 0;
    b.n = 0;
    make_two(&b, "a", 0, name, 32);
    expect_compat(&b, "name is 64 bytes");
    free(b.p);
    /* what our writer produces: odd sizes, several tensors, default alignment */
    infer_gguf_writer *w = NULL;
    assert_int_equal(infer_gguf_writer_create(&w, NULL), RW_OK);
    float data[40] = {0};
    for (int i = 1; i <= 5; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "t%d", i);
        int64_t ne[1] = {3 * i};
        assert_int_equal(infer_gguf_writer_add_tensor(w, nm, RW_DTYPE_F32, 1, ne, data, NULL),
                         RW_OK);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/compat.gguf", rw_test_tmpdir());
    assert_int_equal(infer_gguf_writer_write(w, path, NULL), RW_OK);
    infer_gguf_writer_destroy(w);
    infer_gguf *g = NULL;
    rw_err err;
    assert_int_equal(infer_gguf_open(path, &g, &err), RW_OK);
    assert_int_equal(infer_gguf_check_llama_compat(g, &err), RW_OK);
    infer_gguf_close(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_encoded_valid),  cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_malformed),           cmocka_unit_test(test_roundtrip_all_types),
        cmocka_unit_test(test_copy_and_alignment),  cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_alloc_failures_model_quantize),
        cmocka_unit_test(test_random_corruption),
        cmocka_unit_test(test_llama_compat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
