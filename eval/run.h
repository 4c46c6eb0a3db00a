/* In-memory relevance judgements (qrels) and runs (ranked document ids per query).
 *
 * Ordering rule of a run (documented in docs/eval.md): documents of a query are ordered by
 * the rank column (ascending); rows with equal ranks by score (descending), then doc id
 * (byte order). Only when ranks are absent (3-field run files, or rank < 0 given to
 * eval_run_add) are they ordered by score (descending), ties by doc id (ascending).
 * trec_eval instead ignores the rank column and orders by score (ties by doc id in
 * descending order), so the two can differ on runs whose ranks disagree with their scores.
 * A document listed twice for one query, or a run mixing rows with and without ranks, is
 * an error. Queries keep the order in which they were first seen.
 * Objects are not thread-safe; ids are copied (the caller keeps ownership of its strings). */
#ifndef RW_EVAL_RUN_H
#define RW_EVAL_RUN_H

#include <stddef.h>

#include "core/status.h"

typedef struct eval_qrels eval_qrels;
typedef struct eval_run eval_run;

rw_status eval_qrels_create(eval_qrels **out, rw_err *err);
void eval_qrels_destroy(eval_qrels *q);
/* Adds one judgement; grade > 0 means relevant. A repeated (qid, docid) pair is an error. */
rw_status eval_qrels_add(eval_qrels *q, const char *qid, const char *docid, long grade,
                         rw_err *err);
/* Sorts the judgements and rejects repeated (qid, docid) pairs; idempotent. Called by
 * eval_qrels_load and eval_evaluate. */
rw_status eval_qrels_finalize(eval_qrels *q, rw_err *err);
/* Loads a qrels file (BEIR TSV or TREC 4-column) or a BEIR folder (qrels/test.tsv and, when
 * present, the query texts of queries.jsonl). */
rw_status eval_qrels_load(const char *path, eval_qrels **out, rw_err *err);
/* Loads query texts from a BEIR queries.jsonl (for reports). */
rw_status eval_qrels_load_queries(eval_qrels *q, const char *path, rw_err *err);
/* Sets one query text (copied). */
rw_status eval_qrels_set_query_text(eval_qrels *q, const char *qid, const char *text, rw_err *err);
/* Query text or NULL; borrowed, valid until q is destroyed. */
const char *eval_qrels_query_text(const eval_qrels *q, const char *qid);
size_t eval_qrels_n_queries(const eval_qrels *q);
/* Index of qid in the qrels or -1. */
long eval_qrels_find(const eval_qrels *q, const char *qid);
/* i-th query id (first-seen order); borrowed. */
const char *eval_qrels_qid(const eval_qrels *q, size_t i);
/* Number of relevant (grade > 0) documents of query i. */
size_t eval_qrels_n_relevant(const eval_qrels *q, size_t i);
/* Grade of (query i, docid), 0 when unjudged. */
long eval_qrels_grade(const eval_qrels *q, size_t i, const char *docid);
/* Positive grades of query i sorted descending into out (cap entries); returns how many
 * positive grades the query has (may exceed cap). */
size_t eval_qrels_ideal(const eval_qrels *q, size_t i, long *out, size_t cap);

rw_status eval_run_create(eval_run **out, rw_err *err);
void eval_run_destroy(eval_run *r);
/* Adds one retrieved document; rank < 0 means "no rank" (order by score). line is used
 * in duplicate errors (0 when not from a file). */
rw_status eval_run_add(eval_run *r, const char *qid, const char *docid, long rank, double score,
                       size_t line, rw_err *err);
/* Sets the ranking of qid from an in-memory list (best first): ranks 1..n. */
rw_status eval_run_set_ranking(eval_run *r, const char *qid, const char *const *docids, size_t n,
                               rw_err *err);
/* Reads a TREC run file (see data/trec_run.h). */
rw_status eval_run_load(const char *path, eval_run **out, rw_err *err);
/* Sorts every query (see the ordering rule above) and checks duplicates; idempotent. The
 * query accessors below require a finalized run. */
rw_status eval_run_finalize(eval_run *r, rw_err *err);
size_t eval_run_n_queries(const eval_run *r);
size_t eval_run_n_rows(const eval_run *r);
/* Index of qid in the run or -1. */
long eval_run_find(const eval_run *r, const char *qid);
/* i-th query id of the run; borrowed, valid until r is destroyed. */
const char *eval_run_qid(const eval_run *r, size_t i);
/* Number of documents of query i and the doc id at position j (0 = best); borrowed, valid
 * until r is destroyed. */
size_t eval_run_len(const eval_run *r, size_t i);
const char *eval_run_doc(const eval_run *r, size_t i, size_t j);

#endif
