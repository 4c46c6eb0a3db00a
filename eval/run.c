/* Qrels and runs in memory (see run.h for the ordering rule).
 *
 * Invariants: qrels judgements of a query are kept sorted by document index once
 * `sorted` is set (lazily, on first lookup); a finalized run has each query's rows in rank
 * order and no duplicate document per query. Ids are interned in eval_strtab tables. */
#include "eval/run.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "data/beir.h"
#include "data/strbuf.h"
#include "data/trec_run.h"
#include "eval/internal.h"

typedef struct judgement {
    uint32_t doc;
    long grade;
    size_t line;
} judgement;

typedef struct qrels_query {
    judgement *j;
    size_t n, cap;
    char *text; /* owned, NULL when unknown */
} qrels_query;

struct eval_qrels {
    eval_strtab qids, docs;
    qrels_query *q; /* [qids.n] */
    size_t cap_q;
    int sorted;
};

typedef struct run_row {
    uint32_t doc;
    long rank;
    double score;
    size_t line;
} run_row;

typedef struct run_query {
    run_row *rows;
    size_t n, cap;
} run_query;

struct eval_run {
    eval_strtab qids, docs;
    run_query *q;
    size_t cap_q, n_rows;
    int finalized;
};

/* Room for need elements through data_grow (callers add one element at a time, so one
 * doubling is enough), the new tail zeroed so per-query structs start empty. */
static rw_status grow_array(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return RW_OK;
    size_t old = *cap;
    void *np = data_grow(*p, cap, elem, 8);
    if (!np) return RW_E_NOMEM;
    RW_ASSERT(need <= *cap, "grow_array: %zu elements needed, %zu after one doubling", need, *cap);
    memset((char *)np + old * elem, 0, (*cap - old) * elem);
    *p = np;
    return RW_OK;
}

rw_status eval_qrels_create(eval_qrels **out, rw_err *err) {
    eval_qrels *q = rw_calloc(1, sizeof *q);
    if (!q) return rw_err_set(err, RW_E_NOMEM, "qrels: out of memory");
    eval_strtab_init(&q->qids);
    eval_strtab_init(&q->docs);
    *out = q;
    return RW_OK;
}

void eval_qrels_destroy(eval_qrels *q) {
    if (!q) return;
    for (size_t i = 0; i < q->qids.n; i++) {
        rw_free(q->q[i].j);
        rw_free(q->q[i].text);
    }
    rw_free(q->q);
    eval_strtab_deinit(&q->qids);
    eval_strtab_deinit(&q->docs);
    rw_free(q);
}

static rw_status qrels_query_index(eval_qrels *q, const char *qid, uint32_t *qi, rw_err *err) {
    /* grow first so that cap_q >= qids.n holds even when interning then fails */
    rw_status st = grow_array((void **)&q->q, &q->cap_q, q->qids.n + 1, sizeof *q->q);
    if (st == RW_OK) st = eval_strtab_intern(&q->qids, qid, qi, NULL);
    if (st != RW_OK) return rw_err_set(err, st, "qrels: out of memory adding query '%.64s'", qid);
    return RW_OK;
}

static rw_status qrels_add_line(eval_qrels *q, const char *qid, const char *docid, long grade,
                                size_t line, rw_err *err) {
    uint32_t qi, di;
    rw_status st = qrels_query_index(q, qid, &qi, err);
    if (st != RW_OK) return st;
    if (eval_strtab_intern(&q->docs, docid, &di, NULL) != RW_OK)
        return rw_err_set(err, RW_E_NOMEM, "qrels: out of memory");
    qrels_query *qq = &q->q[qi];
    if (grow_array((void **)&qq->j, &qq->cap, qq->n + 1, sizeof *qq->j) != RW_OK)
        return rw_err_set(err, RW_E_NOMEM, "qrels: out of memory");
    qq->j[qq->n++] = (judgement){.doc = di, .grade = grade, .line = line};
    q->sorted = 0;
    return RW_OK;
}

rw_status eval_qrels_add(eval_qrels *q, const char *qid, const char *docid, long grade,
                         rw_err *err) {
    return qrels_add_line(q, qid, docid, grade, 0, err);
}

static int cmp_judgement(const void *a, const void *b) {
    const judgement *x = a, *y = b;
    if (x->doc != y->doc) return x->doc < y->doc ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

/* Sorts judgements and rejects duplicates; name prefixes the message. */
static rw_status qrels_sort(eval_qrels *q, const char *name, rw_err *err) {
    for (size_t i = 0; i < q->qids.n; i++) {
        qrels_query *qq = &q->q[i];
        if (qq->n > 1) qsort(qq->j, qq->n, sizeof *qq->j, cmp_judgement);
        for (size_t k = 1; k < qq->n; k++)
            if (qq->j[k].doc == qq->j[k - 1].doc)
                return rw_err_set(err, RW_E_FORMAT,
                                  "%s:%zu: duplicate judgement for query '%.64s', document '%.64s' "
                                  "(first at line %zu)",
                                  name, qq->j[k].line, q->qids.strs[i], q->docs.strs[qq->j[k].doc],
                                  qq->j[k - 1].line);
    }
    q->sorted = 1;
    return RW_OK;
}

rw_status eval_qrels_finalize(eval_qrels *q, rw_err *err) {
    return q->sorted ? RW_OK : qrels_sort(q, "qrels", err);
}

static rw_status qrels_row_cb(void *user, const data_qrel_row *row, rw_err *err) {
    return qrels_add_line(user, row->qid, row->docid, row->grade, row->line, err);
}

static rw_status queries_cb(void *user, const data_beir_record *rec, rw_err *err) {
    return eval_qrels_set_query_text(user, rec->id, rec->text, err);
}

rw_status eval_qrels_load_queries(eval_qrels *q, const char *path, rw_err *err) {
    return data_beir_read_jsonl(path, queries_cb, q, err);
}

rw_status eval_qrels_load(const char *path, eval_qrels **out, rw_err *err) {
    eval_qrels *q = NULL;
    char buf[4096];
    const char *qpath = path;
    int is_dir = 0;
    FILE *probe = NULL;
    rw_status st = data_beir_path(path, "test", buf, sizeof buf, err);
    if (st != RW_OK) return st;
    /* A folder is recognised by its qrels/test.tsv. */
    probe = fopen(buf, "rb");
    if (probe) {
        fclose(probe);
        is_dir = 1;
        qpath = buf;
    } else {
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            return rw_err_set(err, RW_E_NOTFOUND,
                              "%s: a folder without qrels/test.tsv (expected a BEIR folder or a "
                              "qrels file)",
                              path);
    }
    st = eval_qrels_create(&q, err);
    if (st != RW_OK) return st;
    st = data_qrels_read(qpath, qrels_row_cb, q, err);
    if (st != RW_OK) goto fail;
    st = qrels_sort(q, qpath, err);
    if (st != RW_OK) goto fail;
    if (is_dir) {
        st = data_beir_path(path, "queries", buf, sizeof buf, err);
        if (st != RW_OK) goto fail;
        probe = fopen(buf, "rb");
        if (probe) {
            fclose(probe);
            st = eval_qrels_load_queries(q, buf, err);
            if (st != RW_OK) goto fail;
        }
    }
    *out = q;
    return RW_OK;
fail:
    eval_qrels_destroy(q);
    return st;
}

rw_status eval_qrels_set_query_text(eval_qrels *q, const char *qid, const char *text, rw_err *err) {
    long i = eval_strtab_find(&q->qids, qid);
    if (i < 0) return RW_OK; /* texts of unjudged queries are not needed */
    char *copy = rw_strdup(text);
    if (!copy) return rw_err_set(err, RW_E_NOMEM, "qrels: out of memory for query text");
    rw_free(q->q[i].text);
    q->q[i].text = copy;
    return RW_OK;
}

const char *eval_qrels_query_text(const eval_qrels *q, const char *qid) {
    long i = eval_strtab_find(&q->qids, qid);
    return i < 0 ? NULL : q->q[i].text;
}

size_t eval_qrels_n_queries(const eval_qrels *q) { return q->qids.n; }
long eval_qrels_find(const eval_qrels *q, const char *qid) { return eval_strtab_find(&q->qids, qid); }
const char *eval_qrels_qid(const eval_qrels *q, size_t i) { return q->qids.strs[i]; }

size_t eval_qrels_n_relevant(const eval_qrels *q, size_t i) {
    size_t n = 0;
    for (size_t k = 0; k < q->q[i].n; k++) n += q->q[i].j[k].grade > 0;
    return n;
}

long eval_qrels_grade(const eval_qrels *q, size_t i, const char *docid) {
    long d = eval_strtab_find(&q->docs, docid);
    if (d < 0) return 0;
    const qrels_query *qq = &q->q[i];
    RW_ASSERT(q->sorted, "eval_qrels_grade before eval_qrels_finalize");
    size_t lo = 0, hi = qq->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (qq->j[mid].doc < (uint32_t)d)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < qq->n && qq->j[lo].doc == (uint32_t)d ? qq->j[lo].grade : 0;
}

static int cmp_long_desc(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

size_t eval_qrels_ideal(const eval_qrels *q, size_t i, long *out, size_t cap) {
    const qrels_query *qq = &q->q[i];
    size_t n = 0;
    /* Collect positives; sort those written to out (all of them fit when cap >= count). */
    for (size_t k = 0; k < qq->n; k++) {
        if (qq->j[k].grade <= 0) continue;
        if (n < cap) out[n] = qq->j[k].grade;
        n++;
    }
    if (n <= cap) {
        qsort(out, n, sizeof *out, cmp_long_desc);
    }
    return n;
}

/* ---- runs ---- */

rw_status eval_run_create(eval_run **out, rw_err *err) {
    eval_run *r = rw_calloc(1, sizeof *r);
    if (!r) return rw_err_set(err, RW_E_NOMEM, "run: out of memory");
    eval_strtab_init(&r->qids);
    eval_strtab_init(&r->docs);
    *out = r;
    return RW_OK;
}

void eval_run_destroy(eval_run *r) {
    if (!r) return;
    for (size_t i = 0; i < r->qids.n; i++) rw_free(r->q[i].rows);
    rw_free(r->q);
    eval_strtab_deinit(&r->qids);
    eval_strtab_deinit(&r->docs);
    rw_free(r);
}

rw_status eval_run_add(eval_run *r, const char *qid, const char *docid, long rank, double score,
                       size_t line, rw_err *err) {
    uint32_t qi, di;
    if (grow_array((void **)&r->q, &r->cap_q, r->qids.n + 1, sizeof *r->q) != RW_OK ||
        eval_strtab_intern(&r->qids, qid, &qi, NULL) != RW_OK ||
        eval_strtab_intern(&r->docs, docid, &di, NULL) != RW_OK)
        return rw_err_set(err, RW_E_NOMEM, "run: out of memory adding query '%.64s'", qid);
    run_query *rq = &r->q[qi];
    if (grow_array((void **)&rq->rows, &rq->cap, rq->n + 1, sizeof *rq->rows) != RW_OK)
        return rw_err_set(err, RW_E_NOMEM, "run: out of memory");
    rq->rows[rq->n++] = (run_row){.doc = di, .rank = rank < 0 ? -1 : rank, .score = score, .line = line};
    r->n_rows++;
    r->finalized = 0;
    return RW_OK;
}

rw_status eval_run_set_ranking(eval_run *r, const char *qid, const char *const *docids, size_t n,
                               rw_err *err) {
    for (size_t i = 0; i < n; i++) {
        rw_status st = eval_run_add(r, qid, docids[i], (long)(i + 1), -(double)i, 0, err);
        if (st != RW_OK) return st;
    }
    return RW_OK;
}

typedef struct run_load_ctx {
    eval_run *r;
} run_load_ctx;

static rw_status run_row_cb(void *user, const data_trec_row *row, rw_err *err) {
    run_load_ctx *c = user;
    return eval_run_add(c->r, row->qid, row->docid, row->rank, row->score, row->line, err);
}

rw_status eval_run_load(const char *path, eval_run **out, rw_err *err) {
    eval_run *r = NULL;
    rw_status st = eval_run_create(&r, err);
    if (st != RW_OK) return st;
    run_load_ctx c = {r};
    st = data_trec_run_read(path, run_row_cb, &c, err);
    if (st == RW_OK) st = eval_run_finalize(r, err);
    if (st != RW_OK) {
        if (err && !strstr(err->msg, path)) rw_err_prefix(err, "%s: ", path);
        eval_run_destroy(r);
        return st;
    }
    *out = r;
    return RW_OK;
}

/* Sort context: qsort has no user pointer, so doc-id ties compare interned strings through
 * a pointer stored in each comparison pair. */
typedef struct sort_item {
    run_row row;
    const char *docid;
} sort_item;

static int cmp_ranked(const void *a, const void *b) {
    const sort_item *x = a, *y = b;
    if (x->row.rank != y->row.rank) return x->row.rank < y->row.rank ? -1 : 1;
    if (x->row.score != y->row.score) return x->row.score > y->row.score ? -1 : 1;
    return strcmp(x->docid, y->docid);
}

static int cmp_by_doc(const void *a, const void *b) {
    const sort_item *x = a, *y = b;
    if (x->row.doc != y->row.doc) return x->row.doc < y->row.doc ? -1 : 1;
    return (x->row.line > y->row.line) - (x->row.line < y->row.line);
}

rw_status eval_run_finalize(eval_run *r, rw_err *err) {
    if (r->finalized) return RW_OK;
    rw_status st = RW_OK;
    size_t with_rank = 0;
    for (size_t i = 0; i < r->qids.n; i++)
        for (size_t k = 0; k < r->q[i].n; k++) with_rank += r->q[i].rows[k].rank >= 0;
    if (with_rank != 0 && with_rank != r->n_rows)
        return rw_err_set(err, RW_E_INVALID,
                          "run mixes rows with ranks (%zu) and without ranks (%zu)", with_rank,
                          r->n_rows - with_rank);
    size_t maxn = 0;
    for (size_t i = 0; i < r->qids.n; i++)
        if (r->q[i].n > maxn) maxn = r->q[i].n;
    sort_item *items = maxn ? rw_alloc_array(maxn, sizeof *items) : NULL;
    if (maxn && !items) return rw_err_set(err, RW_E_NOMEM, "run: out of memory sorting");
    for (size_t i = 0; i < r->qids.n; i++) {
        run_query *rq = &r->q[i];
        for (size_t k = 0; k < rq->n; k++) items[k] = (sort_item){rq->rows[k], r->docs.strs[rq->rows[k].doc]};
        qsort(items, rq->n, sizeof *items, cmp_by_doc);
        for (size_t k = 1; k < rq->n; k++)
            if (items[k].row.doc == items[k - 1].row.doc) {
                if (items[k].row.line)
                    st = rw_err_set(err, RW_E_FORMAT,
                                    "line %zu: document '%.64s' listed twice for query '%.64s' "
                                    "(first at line %zu)",
                                    items[k].row.line, items[k].docid, r->qids.strs[i],
                                    items[k - 1].row.line);
                else
                    st = rw_err_set(err, RW_E_INVALID,
                                    "document '%.64s' listed twice for query '%.64s'",
                                    items[k].docid, r->qids.strs[i]);
                goto fail;
            }
        qsort(items, rq->n, sizeof *items, cmp_ranked);
        for (size_t k = 0; k < rq->n; k++) rq->rows[k] = items[k].row;
    }
    r->finalized = 1;
fail:
    rw_free(items);
    return st;
}

size_t eval_run_n_queries(const eval_run *r) { return r->qids.n; }
size_t eval_run_n_rows(const eval_run *r) { return r->n_rows; }
long eval_run_find(const eval_run *r, const char *qid) { return eval_strtab_find(&r->qids, qid); }
const char *eval_run_qid(const eval_run *r, size_t i) { return r->qids.strs[i]; }

size_t eval_run_len(const eval_run *r, size_t i) {
    RW_ASSERT(r->finalized, "eval_run_len on a run that is not finalized");
    return r->q[i].n;
}

const char *eval_run_doc(const eval_run *r, size_t i, size_t j) {
    RW_ASSERT(j < r->q[i].n, "eval_run_doc: position %zu beyond %zu", j, r->q[i].n);
    return r->docs.strs[r->q[i].rows[j].doc];
}
