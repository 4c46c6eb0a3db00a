/* Feedback store: schema steps and the logging API (see feedback.h). All SQL is constant
 * with bound parameters. */
#include "data/feedback.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "data/internal.h"

const data_migration data_feedback_migrations[] = {
    {1,
     "CREATE TABLE interactions("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " time INTEGER NOT NULL, endpoint TEXT NOT NULL, query TEXT NOT NULL, response TEXT,"
     " latency_ms REAL, source_id TEXT);"
     "CREATE INDEX interactions_time ON interactions(time);"
     "CREATE TABLE retrieved("
     " interaction_id INTEGER NOT NULL REFERENCES interactions(id) ON DELETE CASCADE,"
     " rank INTEGER NOT NULL CHECK(rank >= 1), doc_id TEXT NOT NULL, score REAL,"
     " text TEXT, source_id TEXT, PRIMARY KEY(interaction_id, rank));"
     "CREATE TABLE feedback_events("
     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " interaction_id INTEGER NOT NULL REFERENCES interactions(id) ON DELETE CASCADE,"
     " time INTEGER NOT NULL,"
     " kind TEXT NOT NULL CHECK(kind IN ('up','down','click','correction','comment')),"
     " doc_id TEXT, text TEXT);"
     "CREATE INDEX feedback_events_interaction ON feedback_events(interaction_id);"},
    /* v2: which adapter versions served the interaction, and the critic's score per
     * retrieved document. Old rows get {} and NULL (unknown). */
    {2,
     "ALTER TABLE interactions ADD COLUMN adapters TEXT NOT NULL DEFAULT '{}';"
     "ALTER TABLE retrieved ADD COLUMN critic_score REAL;"
     "CREATE INDEX retrieved_doc ON retrieved(doc_id);"},
    {0, NULL},
};

static const char *const kind_names[] = {"up", "down", "click", "correction", "comment"};

const char *data_feedback_kind_name(data_feedback_kind k) {
    return (unsigned)k < 5 ? kind_names[k] : "?";
}

bool data_feedback_kind_parse(const char *s, data_feedback_kind *out) {
    int i = data_name_find(kind_names, 5, s);
    if (i < 0) return false;
    *out = (data_feedback_kind)i;
    return true;
}

rw_status data_feedback_log(data_db *db, const data_interaction *it, int64_t *id_out, rw_err *err) {
    if (!it->endpoint || !*it->endpoint)
        return rw_err_set(err, RW_E_INVALID, "interaction: endpoint is empty");
    if (!it->query) return rw_err_set(err, RW_E_INVALID, "interaction: query is missing");
    if (it->n_docs && !it->docs)
        return rw_err_set(err, RW_E_INVALID, "interaction: %zu documents but no array", it->n_docs);
    for (size_t i = 0; i < it->n_docs; i++)
        if (!it->docs[i].doc_id || !*it->docs[i].doc_id)
            return rw_err_set(err, RW_E_INVALID, "interaction: retrieved[%zu].doc_id is empty", i);
    if (it->adapters_json) {
        json_error_t je;
        json_t *j = json_loads(it->adapters_json, 0, &je);
        int ok = j && json_is_object(j);
        json_decref(j);
        if (!ok)
            return rw_err_set(err, RW_E_FORMAT, "interaction: adapters is not a JSON object: %s",
                              it->adapters_json);
    }
    sqlite3_stmt *ins = NULL, *doc = NULL;
    rw_status s = data_begin(db, err);
    if (s != RW_OK) return s;
    s = data_prepare(db,
                     "INSERT INTO interactions(time, endpoint, query, response, latency_ms,"
                     " source_id, adapters) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                     &ins, err);
    if (s != RW_OK) goto fail;
    sqlite3_bind_int64(ins, 1, it->time > 0 ? it->time : data_now());
    data_bind_text(ins, 2, it->endpoint);
    data_bind_text(ins, 3, it->query);
    data_bind_text(ins, 4, it->response);
    sqlite3_bind_double(ins, 5, it->latency_ms);
    data_bind_text(ins, 6, it->source_id);
    data_bind_text(ins, 7, it->adapters_json ? it->adapters_json : "{}");
    s = data_step_done(db, ins, err, "log interaction");
    if (s != RW_OK) goto fail;
    int64_t id = sqlite3_last_insert_rowid(db->h);
    if (it->n_docs) {
        s = data_prepare(db,
                         "INSERT INTO retrieved(interaction_id, rank, doc_id, score, critic_score,"
                         " text, source_id) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                         &doc, err);
        if (s != RW_OK) goto fail;
        for (size_t i = 0; i < it->n_docs; i++) {
            const data_retrieved *d = &it->docs[i];
            sqlite3_bind_int64(doc, 1, id);
            sqlite3_bind_int64(doc, 2, (int64_t)i + 1);
            data_bind_text(doc, 3, d->doc_id);
            sqlite3_bind_double(doc, 4, d->score);
            if (isnan(d->critic_score))
                sqlite3_bind_null(doc, 5);
            else
                sqlite3_bind_double(doc, 5, d->critic_score);
            data_bind_text(doc, 6, d->text);
            data_bind_text(doc, 7, d->source_id);
            s = data_step_done(db, doc, err, "log retrieved document");
            if (s != RW_OK) goto fail;
        }
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(doc);
    s = data_commit(db, err);
    if (s == RW_OK && id_out) *id_out = id;
    return s;
fail:
    sqlite3_finalize(ins);
    sqlite3_finalize(doc);
    data_rollback(db);
    return s;
}

rw_status data_feedback_event(data_db *db, int64_t interaction_id, data_feedback_kind kind,
                              const char *doc_id, const char *text, int64_t time, rw_err *err) {
    if ((unsigned)kind > DATA_FB_COMMENT)
        return rw_err_set(err, RW_E_INVALID, "feedback: bad kind %d", (int)kind);
    if (kind == DATA_FB_CLICK && (!doc_id || !*doc_id))
        return rw_err_set(err, RW_E_INVALID, "feedback: click needs a doc id");
    if ((kind == DATA_FB_CORRECTION || kind == DATA_FB_COMMENT) && (!text || !*text))
        return rw_err_set(err, RW_E_INVALID, "feedback: %s needs text", kind_names[kind]);
    sqlite3_stmt *st = NULL;
    rw_status s = data_begin(db, err);
    if (s != RW_OK) return s;
    s = data_prepare(db,
                     "INSERT INTO feedback_events(interaction_id, time, kind, doc_id, text)"
                     " VALUES(?1, ?2, ?3, ?4, ?5)",
                     &st, err);
    if (s != RW_OK) goto fail;
    sqlite3_bind_int64(st, 1, interaction_id);
    sqlite3_bind_int64(st, 2, time > 0 ? time : data_now());
    data_bind_text(st, 3, kind_names[kind]);
    data_bind_text(st, 4, doc_id && *doc_id ? doc_id : NULL);
    data_bind_text(st, 5, text);
    s = data_step_done(db, st, err, "record feedback");
    if (s == RW_E_STATE)
        s = rw_err_set(err, RW_E_NOTFOUND, "feedback: interaction %lld does not exist",
                   (long long)interaction_id);
    if (s != RW_OK) goto fail;
    sqlite3_finalize(st);
    return data_commit(db, err);
fail:
    sqlite3_finalize(st);
    data_rollback(db);
    return s;
}

rw_status data_feedback_stats_get(data_db *db, int64_t since, data_feedback_stats *out, rw_err *err) {
    data_feedback_stats r;
    memset(&r, 0, sizeof r);
    sqlite3_stmt *st = NULL;
    rw_status s = data_prepare(db,
                               "SELECT count(*), min(time), max(time), avg(latency_ms),"
                               " (SELECT count(*) FROM retrieved r JOIN interactions j"
                               "   ON j.id = r.interaction_id WHERE j.time >= ?1)"
                               " FROM interactions WHERE time >= ?1",
                               &st, err);
    if (s != RW_OK) return s;
    sqlite3_bind_int64(st, 1, since);
    if (sqlite3_step(st) != SQLITE_ROW) {
        s = data_sql_fail(db, err, "feedback stats");
        goto done;
    }
    r.interactions = sqlite3_column_int64(st, 0);
    r.first_time = sqlite3_column_int64(st, 1);
    r.last_time = sqlite3_column_int64(st, 2);
    r.mean_latency_ms = sqlite3_column_double(st, 3);
    r.retrieved = sqlite3_column_int64(st, 4);
    sqlite3_finalize(st);
    st = NULL;
    s = data_prepare(db,
                     "SELECT e.kind, count(*) FROM feedback_events e JOIN interactions i"
                     " ON i.id = e.interaction_id WHERE i.time >= ?1 GROUP BY e.kind",
                     &st, err);
    if (s != RW_OK) return s;
    sqlite3_bind_int64(st, 1, since);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        data_feedback_kind k;
        if (data_feedback_kind_parse((const char *)sqlite3_column_text(st, 0), &k))
            r.events[k] = sqlite3_column_int64(st, 1);
    }
    if (rc != SQLITE_DONE) {
        s = data_sql_fail(db, err, "feedback stats");
        goto done;
    }
    *out = r;
done:
    sqlite3_finalize(st);
    return s;
}
