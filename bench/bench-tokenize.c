/* bench-tokenize: encoding throughput (MB/s of input text) of each tokenizer kind.
 *
 *   bench-tokenize [--json] [--quick] [--threads N] [--mb N] [--reps R] [--vocab-dir DIR]
 *
 * Text: N MB (default 10; 2 with --quick) of deterministic mixed text (English prose, code,
 * numbers and dates, JSON, Greek / Cyrillic / CJK / emoji lines), encoded in documents of
 * about 4 KiB (RAG chunk sized) with add_special and without special parsing.
 * Vocabularies: DIR/ggml-vocab-{llama-spm,gpt-2,falcon,deepseek-coder,bert-bge}.gguf (DIR
 * defaults to $RW_SHARED_DIR/refs/vocab). Before timing, each encoder is checked against the
 * llama.cpp test vectors next to its vocabulary; a mismatch skips it and fails the run.
 * One warm-up pass, then R timed passes (default 3), min and median. Figures: 1 thread,
 * and N threads sharing one tokenizer (documents split over the pool: the tokenizer is
 * thread-safe). The limit beside each figure is the read bandwidth measured in the same run
 * (bench_util); a tokenizer is compute-bound, so the ratio says how far from streaming
 * speed it runs. --json: one object per line (bench_json_line) with "bench":"tokenize",
 * "type":<kind>, "value":MB/s, "unit":"MB/s" and "vocab", "tokens", "bytes_per_token". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "core/alloc.h"
#include "core/pool.h"
#include "core/rng.h"
#include "infer/tokenizer.h"

/* ------------------------------------------------------------------ mixed text */

static const char *const k_words[] = {
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be",
    "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have",
    "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has",
    "there", "been", "if", "more", "when", "will", "would", "who", "so", "no", "retrieval",
    "document", "embedding", "training", "adapter", "model", "query", "relevance", "vector",
    "index", "language", "learning", "evaluation", "feedback", "local", "private", "weekend",
    "Information", "System", "Research", "Library", "Science", "University", "Journal",
    "analysis", "performance", "measurement", "classification", "indexing", "aerodynamic",
    "boundary", "layer", "pressure", "supersonic", "heat", "transfer", "experimental"};

static const char *const k_snippets[] = {
    "static int add(int a, int b) {\n    return a + b; // sum\n}\n",
    "for (size_t i = 0; i < n; i++) { y[i] += alpha * x[i]; }\n",
    "def tokenize(text: str) -> list[int]:\n    return [ord(c) for c in text]\n",
    "{\"id\": 1234, \"title\": \"Boundary layers\", \"score\": 0.875, \"tags\": [\"a\", \"b\"]}\n",
    "SELECT id, title FROM docs WHERE score > 0.5 ORDER BY score DESC LIMIT 10;\n",
    "The meeting is on 2024-05-17 at 14:30; budget: $1,250,000 (up 3.5%).\n",
    "Η γρήγορη καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο.\n",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.\n",
    "日本語のテキストと中文文本，还有한국어 문장도 섞여 있습니다。\n",
    "Emoji: 🦙 🚀 👍🏽 ✅ — “quoted” text… and naïve café résumé.\n",
    "    indented   line\twith\ttabs and  double  spaces\n\n",
};

static char *make_text(size_t bytes, size_t *len) {
    char *buf = rw_malloc(bytes + 256);
    if (!buf) return NULL;
    rw_rng rng;
    rw_rng_seed(&rng, 42);
    size_t n = 0;
    const size_t nw = sizeof k_words / sizeof *k_words;
    const size_t ns = sizeof k_snippets / sizeof *k_snippets;
    while (n < bytes) {
        if (rw_rng_below(&rng, 5) == 0) {
            const char *s = k_snippets[rw_rng_below(&rng, ns)];
            size_t k = strlen(s);
            if (n + k > bytes) break;
            memcpy(buf + n, s, k);
            n += k;
            continue;
        }
        /* a sentence of 8..24 words, sometimes with a number */
        size_t words = 8 + (size_t)rw_rng_below(&rng, 17);
        for (size_t w = 0; w < words && n + 32 < bytes; w++) {
            const char *s = k_words[rw_rng_below(&rng, nw)];
            size_t k = strlen(s);
            if (w) buf[n++] = ' ';
            memcpy(buf + n, s, k);
            if (w == 0 && s[0] >= 'a' && s[0] <= 'z') buf[n] = (char)(s[0] - 32);
            n += k;
            if (rw_rng_below(&rng, 12) == 0) {
                n += (size_t)snprintf(buf + n, 16, " %u", (unsigned)rw_rng_below(&rng, 100000));
            }
        }
        if (n + 2 >= bytes) break;
        buf[n++] = rw_rng_below(&rng, 3) ? '.' : ',';
        buf[n++] = rw_rng_below(&rng, 6) ? ' ' : '\n';
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* ------------------------------------------------------------------ checks and timing */

/* The first `max` llama.cpp test vectors must match before anything is timed. */
static int check_vectors(const infer_tokenizer *t, const char *gguf_path, int max) {
    char path[1200];
    snprintf(path, sizeof path, "%s.inp", gguf_path);
    FILE *fi = fopen(path, "rb");
    snprintf(path, sizeof path, "%s.out", gguf_path);
    FILE *fo = fopen(path, "rb");
    int bad = 0;
    if (!fi || !fo) {
        fprintf(stderr, "bench-tokenize: no test vectors next to %s: not checked\n", gguf_path);
        goto done;
    }
    static char inp[1 << 16], line[1 << 16];
    size_t n = fread(inp, 1, sizeof inp - 1, fi);
    inp[n] = 0;
    const char *sep = "\n__ggml_vocab_test__\n";
    char *p = inp;
    for (int k = 0; k < max; k++) {
        char *q = strstr(p, sep);
        if (!q || !fgets(line, sizeof line, fo)) break;
        infer_tok_ids ids = {0};
        rw_err err;
        if (infer_tokenize(t, p, (size_t)(q - p), 0, &ids, &err)) bad = 1;
        char *s = line;
        for (size_t i = 0; i < ids.n; i++) {
            char *e;
            long v = strtol(s, &e, 10);
            if (e == s || v != ids.v[i]) bad = 1;
            s = e;
        }
        if (strspn(s, " \n") != strlen(s)) bad = 1; /* expected more ids */
        infer_tok_ids_deinit(&ids);
        p = q + strlen(sep);
    }
done:
    if (fi) fclose(fi);
    if (fo) fclose(fo);
    return bad;
}

typedef struct doc {
    size_t off, len;
} doc;

typedef struct run_ctx {
    const infer_tokenizer *t;
    const char *text;
    const doc *docs;
    size_t nd;
    rw_pool *pool;
    size_t tokens[64]; /* per thread */
    int failed;
} run_ctx;

static void encode_range(void *p, int ith, int nth) {
    run_ctx *c = p;
    size_t b, e;
    rw_split_range(c->nd, ith, nth, &b, &e);
    infer_tok_ids ids = {0};
    rw_err err;
    size_t total = 0;
    for (size_t i = b; i < e; i++) {
        ids.n = 0;
        if (infer_tokenize(c->t, c->text + c->docs[i].off, c->docs[i].len, INFER_TOK_ADD_SPECIAL,
                           &ids, &err)) {
            c->failed = 1;
            break;
        }
        total += ids.n;
    }
    infer_tok_ids_deinit(&ids);
    c->tokens[ith] = total;
}

static void run_pool(void *p) {
    run_ctx *c = p;
    rw_pool_run(c->pool, encode_range, c);
}

int main(int argc, char **argv) {
    bench_opts o;
    int i = bench_parse_args(argc, argv, &o);
    if (i < 0) return 2;
    int reps = 0;
    double mb = 0;
    const char *dir = NULL;
    char dirbuf[1024];
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) o.json = true;
        else if (strcmp(argv[i], "--quick") == 0) o.quick = true;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) o.threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc) mb = atof(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--vocab-dir") == 0 && i + 1 < argc) dir = argv[++i];
        else {
            fprintf(stderr, "usage: bench-tokenize [--json] [--quick] [--threads N] [--mb N] "
                            "[--reps R] [--vocab-dir DIR]\n");
            return 2;
        }
    }
    if (o.threads < 1) o.threads = 1;
    if (o.threads > 64) o.threads = 64;
    if (reps == 0) reps = o.quick ? 2 : 3;
    if (mb == 0) mb = o.quick ? 2 : 10;
    if (reps < 1 || reps > 100 || !(mb > 0 && mb <= 1024)) {
        fprintf(stderr, "bench-tokenize: --reps 1..100, --mb (0, 1024]\n");
        return 2;
    }
    if (!dir) {
        const char *sh = getenv("RW_SHARED_DIR");
        snprintf(dirbuf, sizeof dirbuf, "%s/refs/vocab", sh ? sh : "../shared");
        dir = dirbuf;
    }
    rw_pool *pools[2] = {NULL, NULL};
    if (rw_pool_create(1, &pools[0], NULL) || rw_pool_create(o.threads, &pools[1], NULL)) {
        fprintf(stderr, "bench-tokenize: cannot create thread pools\n");
        return 1;
    }
    bench_limits lim;
    bench_limits_measure(pools[1], o.quick, &lim);
    bench_print_header(&o, &lim);

    size_t len;
    char *text = make_text((size_t)(mb * 1e6), &len);
    if (!text) return 1;
    /* documents of ~4 KiB, cut after a newline or space */
    size_t cap = len / 2048 + 2, nd = 0;
    doc *docs = rw_alloc_array(cap, sizeof *docs);
    if (!docs) return 1;
    for (size_t off = 0; off < len;) {
        size_t end = off + 4096 < len ? off + 4096 : len;
        while (end < len && end > off + 2048 && text[end - 1] != '\n' && text[end - 1] != ' ') end--;
        docs[nd].off = off;
        docs[nd].len = end - off;
        nd++;
        off = end;
    }
    char shape[64];
    snprintf(shape, sizeof shape, "%.0fMB/%zu-docs", (double)len / 1e6, nd);
    if (!o.json) {
        printf("text: %.1f MB of mixed text in %zu documents of ~4 KiB; %d reps\n",
               (double)len / 1e6, nd, reps);
        printf("%-16s %-20s %3s %10s %10s %10s %9s\n", "vocabulary", "type", "thr", "MB/s min",
               "MB/s med", "B/token", "ratio bw");
    }
    static const struct {
        const char *file, *type;
    } vocabs[] = {{"llama-spm", "spm"},
                  {"gpt-2", "bpe-gpt2"},
                  {"falcon", "bpe-falcon"},
                  {"deepseek-coder", "bpe-deepseek-coder"},
                  {"bert-bge", "wpm"}};
    int rc = 0;
    for (size_t v = 0; v < sizeof vocabs / sizeof *vocabs; v++) {
        char path[1100];
        snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", dir, vocabs[v].file);
        infer_tokenizer *t = NULL;
        rw_err err;
        if (infer_tokenizer_load(path, &t, &err)) {
            fprintf(stderr, "bench-tokenize: %s (skipped)\n", err.msg);
            continue;
        }
        if (check_vectors(t, path, 46)) {
            fprintf(stderr, "bench-tokenize: %s does not match its test vectors: not timed\n",
                    vocabs[v].file);
            rc = 1;
            infer_tokenizer_destroy(t);
            continue;
        }
        for (int p = 0; p < 2; p++) {
            if (p == 1 && o.threads == 1) break;
            run_ctx c = {.t = t, .text = text, .docs = docs, .nd = nd, .pool = pools[p]};
            bench_stats st;
            bench_time(run_pool, &c, 1, reps, &st);
            if (c.failed) {
                fprintf(stderr, "bench-tokenize: encoding failed\n");
                rc = 1;
                break;
            }
            size_t ntok = 0;
            for (int k = 0; k < rw_pool_threads(pools[p]); k++) ntok += c.tokens[k];
            int nth = rw_pool_threads(pools[p]);
            double mbs = (double)len / st.min / 1e6;
            double limit = lim.read_gbs[p] * 1e3; /* MB/s */
            if (o.json) {
                char extra[256];
                snprintf(extra, sizeof extra,
                         "\"vocab\":\"%s\",\"tokens\":%zu,\"bytes_per_token\":%.3f,"
                         "\"median_mbs\":%.3f",
                         vocabs[v].file, ntok, (double)len / (double)ntok,
                         (double)len / st.median / 1e6);
                bench_json_line(stdout, "tokenize", vocabs[v].type, shape, nth, mbs, "MB/s", limit,
                                &st, extra);
            } else {
                printf("%-16s %-20s %3d %10.2f %10.2f %10.2f %9.5f\n", vocabs[v].file,
                       vocabs[v].type, nth, mbs, (double)len / st.median / 1e6,
                       (double)len / (double)ntok, limit > 0 ? mbs / limit : 0.0);
            }
            fflush(stdout);
        }
        infer_tokenizer_destroy(t);
    }
    rw_free(docs);
    rw_free(text);
    rw_pool_destroy(pools[0]);
    rw_pool_destroy(pools[1]);
    return rc;
}
