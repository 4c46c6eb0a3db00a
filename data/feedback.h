/* Feedback store: every served interaction (endpoint, query, response, adapter versions,
 * latency), the documents retrieved for it (rank, doc id, retrieval and critic scores), and
 * user feedback events (up, down, click on a document, correction text, free comment),
 * linked by interaction id.
 *
 * Invariants: an interaction and its retrieved rows are written in one transaction (a
 * reader never sees an interaction without its documents); events refer to an existing
 * interaction (foreign key). Times are unix seconds.
 * Threads: one data_db handle per thread; several threads/processes may log at once. */
#ifndef RW_DATA_FEEDBACK_H
#define RW_DATA_FEEDBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "data/db.h"

typedef struct data_retrieved {
    const char *doc_id;    /* required */
    double score;          /* retrieval score */
    double critic_score;   /* NAN when no critic ran */
    const char *text;      /* optional: the passage as served (mining uses it) */
    const char *source_id; /* optional: else the documents table's source */
} data_retrieved;

typedef struct data_interaction {
    int64_t time;              /* 0 = now */
    const char *endpoint;      /* "/v1/search", "/v1/chat/completions", ... (required) */
    const char *query;         /* required */
    const char *response;      /* optional */
    const char *adapters_json; /* JSON object {"embed":"v3",...}; NULL = {} */
    double latency_ms;
    const char *source_id;     /* source the query traffic belongs to; optional */
    const data_retrieved *docs; /* rank i+1 = docs[i] */
    size_t n_docs;
} data_interaction;

typedef enum data_feedback_kind {
    DATA_FB_UP,         /* doc_id optional: on the answer, or on one document */
    DATA_FB_DOWN,       /* doc_id optional */
    DATA_FB_CLICK,      /* doc_id required */
    DATA_FB_CORRECTION, /* text required: the corrected answer */
    DATA_FB_COMMENT,    /* text required */
} data_feedback_kind;

const char *data_feedback_kind_name(data_feedback_kind k);
bool data_feedback_kind_parse(const char *s, data_feedback_kind *out);

/* Logs one interaction with its retrieved documents; *id_out (optional) gets its id. */
rw_status data_feedback_log(data_db *db, const data_interaction *it, int64_t *id_out, rw_err *err);
/* Records one event on interaction_id (RW_E_NOTFOUND when it does not exist). */
rw_status data_feedback_event(data_db *db, int64_t interaction_id, data_feedback_kind kind,
                              const char *doc_id, const char *text, int64_t time, rw_err *err);

typedef struct data_feedback_stats {
    int64_t interactions, retrieved;
    int64_t events[5]; /* indexed by data_feedback_kind */
    int64_t first_time, last_time;
    double mean_latency_ms;
} data_feedback_stats;

/* Counts over interactions with time >= since (0 = all). */
rw_status data_feedback_stats_get(data_db *db, int64_t since, data_feedback_stats *out, rw_err *err);

#endif
