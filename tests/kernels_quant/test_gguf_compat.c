/* Compatibility with llama.cpp's files. refs/models/bert-tiny-q4_k_m.gguf was written by
 * llama-quantize (ik_llama.cpp fork, -march=native) from bert-tiny-f16emb.gguf (F32
 * weights, F16 token embeddings): decoding its Q4_K/Q6_K blocks must give the source back
 * within each type's error, our quantizer must be at least as accurate, and every Q4_K
 * block must be byte-identical. qwen3-tiny-q8_0.gguf has no source here: its Q8_0 blocks
 * must survive dequantize -> re-quantize unchanged (ggml's quantizer maps each block's
 * largest element to +-127, so the reference quantizer is idempotent on its output).
 * The test carries its own minimal GGUF reader (header, metadata skipped, tensor table),
 * independent of infer/'s. Skips when ../shared is absent. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/convert.h"
#include "kernels/quant.h"
#include "rw_test.h"

typedef struct tinfo {
    char name[96];
    uint32_t type;
    int64_t ne[4];
    int n_dims;
    uint64_t offset;
} tinfo;

typedef struct gguf {
    char *buf;
    size_t len, pos;
    size_t data;
    int n;
    tinfo *t;
    int bad;
} gguf;

static uint64_t rd(gguf *g, size_t n) {
    uint64_t v = 0;
    if (g->pos + n > g->len) {
        g->bad = 1;
        return 0;
    }
    memcpy(&v, g->buf + g->pos, n);
    g->pos += n;
    return v;
}

static void skip_value(gguf *g, uint32_t type) {
    static const size_t sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) {
        uint64_t n = rd(g, 8);
        g->pos += n;
    } else if (type == 9) {
        uint32_t et = (uint32_t)rd(g, 4);
        uint64_t n = rd(g, 8);
        for (uint64_t i = 0; i < n && !g->bad; i++)
            skip_value(g, et);
    } else if (type < 13) {
        g->pos += sz[type];
    } else {
        g->bad = 1;
    }
    if (g->pos > g->len) g->bad = 1;
}

static int gguf_load(gguf *g, const char *path) {
    memset(g, 0, sizeof *g);
    g->buf = rw_test_read_file(path, &g->len);
    if (!g->buf || g->len < 24 || memcmp(g->buf, "GGUF", 4) != 0) return -1;
    g->pos = 4;
    if (rd(g, 4) != 3) return -1;
    uint64_t nt = rd(g, 8), nkv = rd(g, 8);
    uint64_t align = 32;
    for (uint64_t i = 0; i < nkv && !g->bad; i++) {
        uint64_t kl = rd(g, 8);
        int is_align = kl == 17 && g->pos + kl <= g->len &&
                       memcmp(g->buf + g->pos, "general.alignment", 17) == 0;
        g->pos += kl;
        uint32_t type = (uint32_t)rd(g, 4);
        if (is_align && type == 4)
            align = rd(g, 4);
        else
            skip_value(g, type);
    }
    g->t = calloc(nt, sizeof(tinfo));
    g->n = (int)nt;
    for (uint64_t i = 0; i < nt && !g->bad; i++) {
        uint64_t nl = rd(g, 8);
        if (nl >= sizeof g->t[i].name || g->pos + nl > g->len) return -1;
        memcpy(g->t[i].name, g->buf + g->pos, nl);
        g->pos += nl;
        g->t[i].n_dims = (int)rd(g, 4);
        if (g->t[i].n_dims > 4) return -1;
        for (int d = 0; d < 4; d++)
            g->t[i].ne[d] = d < g->t[i].n_dims ? (int64_t)rd(g, 8) : 1;
        g->t[i].type = (uint32_t)rd(g, 4);
        g->t[i].offset = rd(g, 8);
    }
    g->data = (g->pos + align - 1) / align * align;
    return g->bad ? -1 : 0;
}

static const tinfo *find(const gguf *g, const char *name) {
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->t[i].name, name) == 0) return &g->t[i];
    return NULL;
}

static int64_t nel(const tinfo *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

/* Mean squared error of a dequantized tensor against its source. */
static double mse(const float *a, const float *b, int64_t n) {
    double e = 0;
    for (int64_t i = 0; i < n; i++)
        e += ((double)a[i] - (double)b[i]) * ((double)a[i] - (double)b[i]);
    return e / (double)n;
}

static void test_bert_q4_k_m(void **state) {
    (void)state;
    char p1[1024], p2[1024];
    if (!rw_test_shared_path("refs/models/bert-tiny-f16emb.gguf", p1, sizeof p1) ||
        !rw_test_shared_path("refs/models/bert-tiny-q4_k_m.gguf", p2, sizeof p2))
        skip();
    gguf src, q;
    assert_int_equal(gguf_load(&src, p1), 0);
    assert_int_equal(gguf_load(&q, p2), 0);
    size_t blocks[RW_DTYPE_COUNT] = {0}, same[RW_DTYPE_COUNT] = {0};
    for (int i = 0; i < q.n; i++) {
        const tinfo *t = &q.t[i];
        if (t->type == RW_DTYPE_F32) continue;
        const kern_type_traits *tt = kern_type_get((rw_dtype)t->type);
        if (!tt) fail_msg("%s: type %u not supported", t->name, t->type);
        const tinfo *s = find(&src, t->name);
        assert_non_null(s);
        int64_t n = nel(s), k = s->ne[0], rows = n / k;
        float *x = malloc((size_t)n * sizeof(float)), *yt = malloc((size_t)n * 4),
              *ym = malloc((size_t)n * 4);
        const char *sd = src.buf + src.data + s->offset;
        if (s->type == RW_DTYPE_F32)
            memcpy(x, sd, (size_t)n * 4);
        else if (s->type == RW_DTYPE_F16)
            kern_f16_to_f32_row((const uint16_t *)sd, x, n);
        else
            fail_msg("%s: source type %u", s->name, s->type);
        size_t bytes = kern_row_bytes(tt->type, k) * (size_t)rows;
        char *mine = malloc(bytes);
        assert_int_equal(kern_quantize(tt->type, x, mine, rows, k), bytes);
        const char *theirs = q.buf + q.data + t->offset;
        assert_true(q.data + t->offset + bytes <= q.len);
        size_t nblk = bytes / tt->type_size, diff = 0;
        for (size_t b = 0; b < nblk; b++)
            diff +=
                memcmp(mine + b * tt->type_size, theirs + b * tt->type_size, tt->type_size) != 0;
        blocks[t->type] += nblk;
        same[t->type] += nblk - diff;
        /* Decoding llama.cpp's bytes must give the source back within the type's error
         * (this checks our reading of the layout), and our quantizer must be as good. */
        kern_dequantize(tt->type, theirs, yt, rows, k);
        kern_dequantize(tt->type, mine, ym, rows, k);
        double x2 = 0;
        for (int64_t e = 0; e < n; e++)
            x2 += (double)x[e] * (double)x[e];
        double rel_t = sqrt(mse(yt, x, n) / (x2 / (double)n)),
               rel_m = sqrt(mse(ym, x, n) / (x2 / (double)n));
        double bound = tt->type == RW_DTYPE_Q6_K ? 0.03 : 0.11;
        print_message(
            "%-26s %s %6zu blocks, %6zu identical; rel rms err llama.cpp %.4f ours %.4f\n", t->name,
            tt->name, nblk, nblk - diff, rel_t, rel_m);
        if (rel_t > bound || rel_m > bound || rel_m > rel_t * 1.02)
            fail_msg("%s: relative rms error llama.cpp %.4f, ours %.4f (bound %.3f)", t->name,
                     rel_t, rel_m, bound);
        free(x);
        free(yt);
        free(ym);
        free(mine);
    }
    /* Q4_K: ggml's reference algorithm with the FMA contractions of a -march=native build,
     * byte for byte (docs/kernels.md); Q6_K: this file was written by ik_llama.cpp, whose
     * Q6_K quantizer is not ggml's reference, so only the error is compared. */
    assert_true(blocks[RW_DTYPE_Q4_K] > 0 && blocks[RW_DTYPE_Q6_K] > 0);
    assert_int_equal(same[RW_DTYPE_Q4_K], blocks[RW_DTYPE_Q4_K]); /* every Q4_K byte */
    free(src.buf);
    free(src.t);
    free(q.buf);
    free(q.t);
}

static void test_qwen3_q8_0_idempotent(void **state) {
    (void)state;
    char p[1024];
    if (!rw_test_shared_path("refs/models/qwen3-tiny-q8_0.gguf", p, sizeof p)) skip();
    gguf q;
    assert_int_equal(gguf_load(&q, p), 0);
    int checked = 0;
    for (int i = 0; i < q.n; i++) {
        const tinfo *t = &q.t[i];
        if (t->type != RW_DTYPE_Q8_0) continue;
        int64_t n = nel(t), k = t->ne[0], rows = n / k;
        size_t bytes = kern_row_bytes(RW_DTYPE_Q8_0, k) * (size_t)rows;
        const char *theirs = q.buf + q.data + t->offset;
        float *x = malloc((size_t)n * 4);
        char *mine = malloc(bytes);
        kern_dequantize(RW_DTYPE_Q8_0, theirs, x, rows, k);
        kern_quantize(RW_DTYPE_Q8_0, x, mine, rows, k);
        if (memcmp(mine, theirs, bytes) != 0) fail_msg("%s: re-quantized bytes differ", t->name);
        checked++;
        free(x);
        free(mine);
    }
    assert_true(checked > 0);
    free(q.buf);
    free(q.t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bert_q4_k_m),
        cmocka_unit_test(test_qwen3_q8_0_idempotent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
