/* Sources store: schema steps and accessors for sources and documents. Withdrawal lives
 * in governance.c because it also taints registry adapters in the same transaction. */
#include "data/sources.h"

#include <string.h>

#include "core/alloc.h"
#include "data/internal.h"

const data_migration data_sources_migrations[] = {
    {1,
     "CREATE TABLE sources("
     " id TEXT PRIMARY KEY NOT NULL,"
     " classification TEXT NOT NULL"
     "  CHECK(classification IN ('public','community','personal','restricted')),"
     " description TEXT NOT NULL DEFAULT '',"
     " created_at INTEGER NOT NULL,"
     " consent_who TEXT, consent_at INTEGER, consent_scope TEXT, consent_ref TEXT,"
     " withdrawn_at INTEGER, withdrawn_reason TEXT);"
     "CREATE TABLE documents("
     " id TEXT PRIMARY KEY NOT NULL,"
     " source_id TEXT NOT NULL REFERENCES sources(id),"
     " title TEXT, text TEXT, created_at INTEGER NOT NULL);"
     "CREATE INDEX documents_source ON documents(source_id);"},
    {0, NULL},
};

static const char *const class_names[] = {"public", "community", "personal", "restricted"};

const char *data_class_name(data_class c) {
    return (unsigned)c < 4 ? class_names[c] : "?";
}

bool data_class_parse(const char *s, data_class *out) {
    int i = data_name_find(class_names, 4, s);
    if (i < 0) return false;
    *out = (data_class)i;
    return true;
}

rw_status data_source_add(data_db *db, const char *id, data_class cls, const char *description,
                          rw_err *err) {
    if (!data_source_id_valid(id))
        return rw_err_set(err, RW_E_INVALID,
                          "source id '%s' is invalid (1-128 of [a-z0-9._:/-], starting with a "
                          "letter or digit)",
                          id ? id : "(null)");
    if ((unsigned)cls > DATA_CLASS_RESTRICTED)
        return rw_err_set(err, RW_E_INVALID, "source '%s': bad classification %d", id, (int)cls);
    sqlite3_stmt *st = NULL;
    rw_status s = data_begin(db, err);
    if (s != RW_OK) return s;
    s = data_prepare(db,
                     "INSERT INTO sources(id, classification, description, created_at) "
                     "VALUES(?1, ?2, ?3, ?4)",
                     &st, err);
    if (s != RW_OK) goto fail;
    data_bind_text(st, 1, id);
    data_bind_text(st, 2, class_names[cls]);
    data_bind_text(st, 3, description ? description : "");
    sqlite3_bind_int64(st, 4, data_now());
    s = data_step_done(db, st, err, "add source");
    if (s == RW_E_STATE) rw_err_set(err, RW_E_STATE, "source '%s' exists already", id);
    if (s != RW_OK) goto fail;
    sqlite3_finalize(st);
    return data_commit(db, err);
fail:
    sqlite3_finalize(st);
    data_rollback(db);
    return s;
}

rw_status data_source_consent(data_db *db, const char *id, const char *who, int64_t when,
                              const char *scope, const char *ref, rw_err *err) {
    if (!who || !*who || !scope || !*scope)
        return rw_err_set(err, RW_E_INVALID, "consent for '%s' needs who and scope",
                          id ? id : "(null)");
    sqlite3_stmt *st = NULL;
    rw_status s = data_begin(db, err);
    if (s != RW_OK) return s;
    s = data_prepare(db, "SELECT withdrawn_at FROM sources WHERE id = ?1", &st, err);
    if (s != RW_OK) goto fail;
    data_bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        s = rc == SQLITE_DONE ? rw_err_set(err, RW_E_NOTFOUND, "source '%s' not found", id)
                              : data_sql_fail(db, err, "read source");
        goto fail;
    }
    if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
        s = rw_err_set(err, RW_E_STATE, "source '%s' is withdrawn; consent cannot be recorded", id);
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    s = data_prepare(db,
                     "UPDATE sources SET consent_who = ?2, consent_at = ?3, consent_scope = ?4,"
                     " consent_ref = ?5 WHERE id = ?1",
                     &st, err);
    if (s != RW_OK) goto fail;
    data_bind_text(st, 1, id);
    data_bind_text(st, 2, who);
    sqlite3_bind_int64(st, 3, when > 0 ? when : data_now());
    data_bind_text(st, 4, scope);
    data_bind_text(st, 5, ref ? ref : "");
    s = data_step_done(db, st, err, "record consent");
    if (s != RW_OK) goto fail;
    sqlite3_finalize(st);
    return data_commit(db, err);
fail:
    sqlite3_finalize(st);
    data_rollback(db);
    return s;
}

#define SOURCE_COLS                                                                       \
    "id, classification, description, created_at, consent_who, consent_at, consent_scope," \
    " consent_ref, withdrawn_at, withdrawn_reason"

static rw_status read_row(sqlite3_stmt *st, data_source *o, rw_err *err) {
    int oom = 0;
    memset(o, 0, sizeof *o);
    o->id = data_col_dup(st, 0, &oom);
    const char *cls = (const char *)sqlite3_column_text(st, 1);
    if (!cls || !data_class_parse(cls, &o->cls)) o->cls = DATA_CLASS_RESTRICTED;
    o->description = data_col_dup(st, 2, &oom);
    o->created_at = sqlite3_column_int64(st, 3);
    o->has_consent = sqlite3_column_type(st, 4) != SQLITE_NULL;
    o->consent_who = data_col_dup(st, 4, &oom);
    o->consent_at = sqlite3_column_int64(st, 5);
    o->consent_scope = data_col_dup(st, 6, &oom);
    o->consent_ref = data_col_dup(st, 7, &oom);
    o->withdrawn_at = sqlite3_column_int64(st, 8);
    o->withdrawn_reason = data_col_dup(st, 9, &oom);
    if (oom || !o->id) {
        data_source_deinit(o);
        return rw_err_set(err, RW_E_NOMEM, "out of memory reading a source");
    }
    return RW_OK;
}

static rw_status read_row_v(sqlite3_stmt *st, void *row, rw_err *err) { return read_row(st, row, err); }

rw_status data_source_get(data_db *db, const char *id, data_source *out, rw_err *err) {
    sqlite3_stmt *st = NULL;
    rw_status s = data_prepare(db, "SELECT " SOURCE_COLS " FROM sources WHERE id = ?1", &st, err);
    if (s != RW_OK) return s;
    data_bind_text(st, 1, id);
    return data_read_one(db, st, sizeof *out, read_row_v, "source", id, out, err);
}

void data_source_deinit(data_source *s) {
    if (!s) return;
    rw_free(s->id);
    rw_free(s->description);
    rw_free(s->consent_who);
    rw_free(s->consent_scope);
    rw_free(s->consent_ref);
    rw_free(s->withdrawn_reason);
    memset(s, 0, sizeof *s);
}

static void deinit_v(void *row) { data_source_deinit(row); }

rw_status data_source_list(data_db *db, data_source **out, size_t *n, rw_err *err) {
    sqlite3_stmt *st = NULL;
    rw_status s = data_prepare(db, "SELECT " SOURCE_COLS " FROM sources ORDER BY id", &st, err);
    if (s != RW_OK) return s;
    void *v = NULL;
    s = data_read_rows(db, st, sizeof(data_source), read_row_v, deinit_v, "list sources", &v, n, err);
    if (s == RW_OK) *out = v;
    return s;
}

void data_source_list_free(data_source *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) data_source_deinit(&v[i]);
    rw_free(v);
}

rw_status data_document_put(data_db *db, const char *id, const char *source_id, const char *title,
                            const char *text, rw_err *err) {
    if (!id || !*id) return rw_err_set(err, RW_E_INVALID, "document id is empty");
    sqlite3_stmt *st = NULL;
    rw_status s = data_begin(db, err);
    if (s != RW_OK) return s;
    s = data_prepare(db,
                     "INSERT INTO documents(id, source_id, title, text, created_at)"
                     " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(id) DO UPDATE SET"
                     " source_id = excluded.source_id, title = excluded.title, text = excluded.text",
                     &st, err);
    if (s != RW_OK) goto fail;
    data_bind_text(st, 1, id);
    data_bind_text(st, 2, source_id);
    data_bind_text(st, 3, title);
    data_bind_text(st, 4, text);
    sqlite3_bind_int64(st, 5, data_now());
    s = data_step_done(db, st, err, "put document");
    if (s == RW_E_STATE)
        rw_err_set(err, RW_E_STATE, "document '%s': source '%s' is not registered", id,
                   source_id ? source_id : "(null)");
    if (s != RW_OK) goto fail;
    sqlite3_finalize(st);
    return data_commit(db, err);
fail:
    sqlite3_finalize(st);
    data_rollback(db);
    return s;
}
