/* Test-only BM25 ranker (see bm25.h). idf = ln(1 + (N - df + 0.5) / (df + 0.5)); score =
 * sum over query tokens (repeats included) of idf * tf*(k1+1) / (tf + k1*(1 - b + b*len/avglen)).
 * BM25_TFIDF_RAW scores sum idf * tf with no saturation or length normalisation (a weaker
 * ranker for comparison tests). Plain malloc: this is test code. */
#include "bm25.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/beir.h"
#include "data/trec_run.h"
#include "eval/internal.h"

static const char *const stopwords[] = {
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are",
    "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
    "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for",
    "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself",
    "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just",
    "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once",
    "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she",
    "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them",
    "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which",
    "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself",
    "yourselves", "s", "t", "don", "also", "may", "might", "must", "shall", "upon"};

typedef struct doc {
    char *id;
    unsigned *terms; /* sorted distinct term ids */
    unsigned *tf;
    size_t n_terms, len;
} doc;

typedef struct ctx {
    eval_strtab vocab, stop;
    doc *docs;
    size_t n_docs, cap_docs;
    FILE *out;
    bm25_kind kind;
    double k1, b, avglen;
    size_t *df;
    size_t depth;
    const char *tag;
    int failed;
} ctx;

/* Tokenises text into vocabulary ids (interning new words when add != 0; unknown words are
 * dropped otherwise). Returns the number of tokens written to *ids (malloc'd). */
static size_t tokenize(ctx *c, const char *text, int add, unsigned **ids) {
    size_t cap = 64, n = 0;
    unsigned *v = malloc(cap * sizeof *v);
    char word[256];
    const char *p = text;
    while (*p) {
        while (*p && !isalnum((unsigned char)*p)) p++;
        size_t w = 0;
        while (*p && isalnum((unsigned char)*p)) {
            if (w + 1 < sizeof word) word[w++] = (char)tolower((unsigned char)*p);
            p++;
        }
        if (!w) continue;
        word[w] = '\0';
        if (eval_strtab_find(&c->stop, word) >= 0) continue;
        uint32_t id;
        if (add) {
            eval_strtab_intern(&c->vocab, word, &id, NULL);
        } else {
            long f = eval_strtab_find(&c->vocab, word);
            if (f < 0) continue;
            id = (uint32_t)f;
        }
        if (n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = id;
    }
    *ids = v;
    return n;
}

static int cmp_u(const void *a, const void *b) {
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return (x > y) - (x < y);
}

static rw_status add_doc(void *user, const data_beir_record *rec, rw_err *err) {
    (void)err;
    ctx *c = user;
    size_t tl = strlen(rec->title), xl = strlen(rec->text);
    char *full = malloc(tl + xl + 2);
    memcpy(full, rec->title, tl);
    full[tl] = ' ';
    memcpy(full + tl + 1, rec->text, xl + 1);
    unsigned *ids;
    size_t n = tokenize(c, full, 1, &ids);
    free(full);
    qsort(ids, n, sizeof *ids, cmp_u);
    doc d = {.id = strdup(rec->id), .len = n};
    d.terms = malloc((n ? n : 1) * sizeof *d.terms);
    d.tf = malloc((n ? n : 1) * sizeof *d.tf);
    for (size_t i = 0; i < n; i++) {
        if (d.n_terms && d.terms[d.n_terms - 1] == ids[i]) {
            d.tf[d.n_terms - 1]++;
        } else {
            d.terms[d.n_terms] = ids[i];
            d.tf[d.n_terms++] = 1;
        }
    }
    free(ids);
    if (c->n_docs == c->cap_docs) {
        c->cap_docs = c->cap_docs ? c->cap_docs * 2 : 256;
        c->docs = realloc(c->docs, c->cap_docs * sizeof *c->docs);
    }
    c->docs[c->n_docs++] = d;
    return RW_OK;
}

typedef struct scored {
    double s;
    const char *id;
} scored;

static int cmp_scored(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return strcmp(x->id, y->id);
}

static unsigned tf_of(const doc *d, unsigned t) {
    size_t lo = 0, hi = d->n_terms;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (d->terms[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->n_terms && d->terms[lo] == t ? d->tf[lo] : 0;
}

static rw_status rank_query(void *user, const data_beir_record *rec, rw_err *err) {
    ctx *c = user;
    unsigned *ids;
    size_t n = tokenize(c, rec->text, 0, &ids);
    qsort(ids, n, sizeof *ids, cmp_u);
    size_t nd = n; /* every query token counts (a repeated term weighs more), as the README's
                    * reference ranker evidently does: distinct terms give CISI MRR@10 0.51 */
    scored *s = malloc((c->n_docs ? c->n_docs : 1) * sizeof *s);
    size_t ns = 0;
    double N = (double)c->n_docs;
    for (size_t d = 0; d < c->n_docs; d++) {
        const doc *dd = &c->docs[d];
        double score = 0;
        for (size_t i = 0; i < nd; i++) {
            unsigned tf = tf_of(dd, ids[i]);
            if (!tf) continue;
            double df = (double)c->df[ids[i]];
            double idf = log(1.0 + (N - df + 0.5) / (df + 0.5));
            if (c->kind == BM25_OKAPI) {
                double norm = c->k1 * (1.0 - c->b + c->b * (double)dd->len / c->avglen);
                score += idf * (double)tf * (c->k1 + 1.0) / ((double)tf + norm);
            } else {
                score += idf * (double)tf;
            }
        }
        if (score > 0) s[ns++] = (scored){score, dd->id};
    }
    qsort(s, ns, sizeof *s, cmp_scored);
    for (size_t i = 0; i < ns && i < c->depth; i++)
        if (data_trec_run_write_row(c->out, rec->id, s[i].id, (long)(i + 1), s[i].s, c->tag, err) != RW_OK)
            c->failed = 1;
    free(s);
    free(ids);
    return RW_OK;
}

int bm25_write_run(const char *dir, const char *run_path, bm25_kind kind, double k1, double b,
                   size_t depth, const char *tag) {
    ctx c = {.kind = kind, .k1 = k1, .b = b, .depth = depth, .tag = tag};
    eval_strtab_init(&c.vocab);
    eval_strtab_init(&c.stop);
    for (size_t i = 0; i < sizeof stopwords / sizeof stopwords[0]; i++) {
        uint32_t id;
        eval_strtab_intern(&c.stop, stopwords[i], &id, NULL);
    }
    char path[4096];
    rw_err err;
    int rc = 1;
    snprintf(path, sizeof path, "%s/corpus.jsonl", dir);
    if (data_beir_read_jsonl(path, add_doc, &c, &err) != RW_OK) {
        fprintf(stderr, "bm25: %s\n", err.msg);
        goto done;
    }
    c.df = calloc(c.vocab.n + 1, sizeof *c.df);
    double total = 0;
    for (size_t d = 0; d < c.n_docs; d++) {
        total += (double)c.docs[d].len;
        for (size_t i = 0; i < c.docs[d].n_terms; i++) c.df[c.docs[d].terms[i]]++;
    }
    c.avglen = c.n_docs ? total / (double)c.n_docs : 1.0;
    c.out = fopen(run_path, "w");
    if (!c.out) goto done;
    snprintf(path, sizeof path, "%s/queries.jsonl", dir);
    if (data_beir_read_jsonl(path, rank_query, &c, &err) != RW_OK) {
        fprintf(stderr, "bm25: %s\n", err.msg);
        goto done;
    }
    rc = c.failed;
done:
    if (c.out && fclose(c.out) != 0) rc = 1;
    for (size_t d = 0; d < c.n_docs; d++) {
        free(c.docs[d].id);
        free(c.docs[d].terms);
        free(c.docs[d].tf);
    }
    free(c.docs);
    free(c.df);
    eval_strtab_deinit(&c.vocab);
    eval_strtab_deinit(&c.stop);
    return rc;
}
