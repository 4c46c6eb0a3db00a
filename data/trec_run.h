/* TREC run files: `qid Q0 docid rank score tag`, one retrieved document per line.
 *
 * The parser streams rows to a callback and never keeps the whole run; strings handed to
 * the callback are views into a scratch line buffer, valid only during that call.
 * Accepted forms (one per file, never mixed):
 *   6 fields  qid Q0 docid rank score tag   (rank a non-negative integer, score finite)
 *   3 fields  qid docid score               (no rank column: row.rank = -1)
 * Fields are separated by spaces or tabs; blank lines are skipped; a trailing CR is dropped.
 * Malformed lines fail with "<file>:<line>: ..." naming the field and the offending value.
 * Reference: the trec_eval README (run format); ordering is decided by the consumer
 * (eval/run.c orders by the rank column, trec_eval by score). */
#ifndef RW_DATA_TREC_RUN_H
#define RW_DATA_TREC_RUN_H

#include <stddef.h>
#include <stdio.h>

#include "core/status.h"

typedef struct data_trec_row {
    const char *qid;   /* borrowed, valid during the callback */
    const char *docid; /* borrowed */
    const char *tag;   /* borrowed; "" in the 3-field form */
    long rank;         /* -1 when the file has no rank column */
    double score;
    size_t line; /* 1-based line number */
} data_trec_row;

/* Called once per row; a non-OK return stops parsing and is returned as is. */
typedef rw_status (*data_trec_row_fn)(void *user, const data_trec_row *row, rw_err *err);

/* Parses a run held in memory (len bytes, need not be NUL-terminated); name is the file
 * name used in error messages. */
rw_status data_trec_run_parse(const char *buf, size_t len, const char *name, data_trec_row_fn fn,
                              void *user, rw_err *err);

/* Reads and parses the run file at path. */
rw_status data_trec_run_read(const char *path, data_trec_row_fn fn, void *user, rw_err *err);

/* Writes one 6-field line; ids must not contain whitespace (RW_E_INVALID otherwise). */
rw_status data_trec_run_write_row(FILE *f, const char *qid, const char *docid, long rank,
                                  double score, const char *tag, rw_err *err);

#endif
