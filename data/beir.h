/* BEIR evaluation folders and relevance judgements (qrels).
 *
 * A BEIR folder holds corpus.jsonl ({"_id","title","text"} per line), queries.jsonl
 * ({"_id","text"}) and qrels/<split>.tsv ("query-id\tcorpus-id\tscore" with that header).
 * TREC qrels ("qid iter docid rel", 4 fields) are read by the same qrels reader.
 *
 * Both readers stream: records are handed to a callback as borrowed views valid only during
 * that call, and nothing is kept. Errors name "<file>:<line>" and, for JSONL, the field
 * ("corpus.jsonl:12: field '_id': expected a string"). "_id" may be a JSON string or an
 * integer (written in decimal); "title" is optional; "text" is required.
 * Reference: BEIR (Thakur et al., 2021) data layout; trec_eval qrels format. */
#ifndef RW_DATA_BEIR_H
#define RW_DATA_BEIR_H

#include <stddef.h>

#include "core/status.h"

typedef struct data_beir_record {
    const char *id;    /* borrowed */
    const char *title; /* borrowed; "" when absent */
    const char *text;  /* borrowed */
    size_t line;       /* 1-based */
} data_beir_record;

typedef rw_status (*data_beir_record_fn)(void *user, const data_beir_record *rec, rw_err *err);

/* Streams a BEIR JSONL file (corpus.jsonl or queries.jsonl) record by record. Blank lines
 * are skipped. */
rw_status data_beir_read_jsonl(const char *path, data_beir_record_fn fn, void *user, rw_err *err);

typedef struct data_qrel_row {
    const char *qid;   /* borrowed */
    const char *docid; /* borrowed */
    long grade;        /* relevance score as written (> 0 means relevant) */
    size_t line;
} data_qrel_row;

typedef rw_status (*data_qrel_fn)(void *user, const data_qrel_row *row, rw_err *err);

/* Parses qrels held in memory: BEIR TSV (3 fields, optional header line whose third field is
 * not an integer) or TREC (4 fields: qid iter docid rel). Fields split on tabs or spaces;
 * one form per file. name is used in messages. */
rw_status data_qrels_parse(const char *buf, size_t len, const char *name, data_qrel_fn fn,
                           void *user, rw_err *err);
rw_status data_qrels_read(const char *path, data_qrel_fn fn, void *user, rw_err *err);

/* Paths inside a BEIR folder, written to buf (cap bytes); RW_E_RANGE when too long.
 * which: "corpus", "queries" or a qrels split name ("test", "dev", ...). */
rw_status data_beir_path(const char *dir, const char *which, char *buf, size_t cap, rw_err *err);

#endif
