/* Adapter registry: schema steps and the atomic operations of registry.h.
 *
 * Every operation: BEGIN IMMEDIATE, read and check state, write, append an event, COMMIT.
 * data_crash_point() marks the gaps between statements so tests can kill a writer there
 * (RW_DATA_CRASH_AT=promote:1 ... promote:4) and check the registry afterwards. */
/* realpath() is XSI: */
#define _XOPEN_SOURCE 700
#include "data/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "data/internal.h"
#include "data/sha256.h"

const data_migration data_registry_migrations[] = {
    {1,
     "CREATE TABLE adapters("
     " id TEXT PRIMARY KEY NOT NULL,"
     " component TEXT NOT NULL, version TEXT NOT NULL,"
     " path TEXT NOT NULL, sha256 TEXT NOT NULL, base_sha256 TEXT NOT NULL,"
     " parent_id TEXT REFERENCES adapters(id),"
     " manifest TEXT NOT NULL DEFAULT '{}', metrics TEXT NOT NULL DEFAULT '{}',"
     " status TEXT NOT NULL CHECK(status IN"
     "  ('candidate','production','superseded','rejected','rolled-back','tainted')),"
     " prev_production TEXT REFERENCES adapters(id),"
     " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
     " UNIQUE(component, version));"
     "CREATE TABLE production("
     " component TEXT PRIMARY KEY NOT NULL,"
     " adapter_id TEXT NOT NULL REFERENCES adapters(id),"
     " since INTEGER NOT NULL);"
     "CREATE TABLE registry_events("
     " id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
     " kind TEXT NOT NULL CHECK(kind IN"
     "  ('register','promote','reject','rollback','taint','withdraw')),"
     " component TEXT, adapter_id TEXT, previous_id TEXT, source_id TEXT,"
     " reason TEXT NOT NULL DEFAULT '');"},
    /* v2: sources used by each adapter, as a table (withdrawal finds the adapters to taint
     * with an index instead of parsing every manifest), back-filled from the manifests of
     * v1; and the events log becomes append-only. */
    {2,
     "CREATE TABLE adapter_sources("
     " adapter_id TEXT NOT NULL REFERENCES adapters(id) ON DELETE CASCADE,"
     " source_id TEXT NOT NULL, examples INTEGER NOT NULL DEFAULT 0,"
     " PRIMARY KEY(adapter_id, source_id));"
     "CREATE INDEX adapter_sources_source ON adapter_sources(source_id);"
     "INSERT OR IGNORE INTO adapter_sources(adapter_id, source_id, examples)"
     " SELECT a.id, json_extract(s.value, '$.id'), coalesce(json_extract(s.value, '$.examples'), 0)"
     " FROM adapters a, json_each(a.manifest, '$.sources') s"
     " WHERE json_valid(a.manifest) AND json_type(s.value, '$.id') = 'text';"
     "CREATE TRIGGER registry_events_no_update BEFORE UPDATE ON registry_events"
     " BEGIN SELECT RAISE(ABORT, 'registry_events is append-only'); END;"
     "CREATE TRIGGER registry_events_no_delete BEFORE DELETE ON registry_events"
     " BEGIN SELECT RAISE(ABORT, 'registry_events is append-only'); END;"},
    {0, NULL},
};

static const char *const status_names[] = {"candidate", "production", "superseded",
                                           "rejected",  "rolled-back", "tainted"};

const char *data_adapter_status_name(data_adapter_status s) {
    return (unsigned)s < 6 ? status_names[s] : "?";
}

bool data_adapter_status_parse(const char *s, data_adapter_status *out) {
    int i = data_name_find(status_names, 6, s);
    if (i < 0) return false;
    *out = (data_adapter_status)i;
    return true;
}

static bool name_chars(const char *s, size_t n, const char *extra) {
    if (n == 0 || n > 128) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c && strchr(extra, c))))
            return false;
    }
    return true;
}

bool data_component_valid(const char *c) {
    if (!c) return false;
    if (strcmp(c, "embed") == 0 || strcmp(c, "critic") == 0) return true;
    if (strncmp(c, "persona:", 8) != 0) return false;
    size_t n = strlen(c + 8);
    return n <= 64 && name_chars(c + 8, n, "._-");
}

static bool id_valid(const char *id) {
    return id && name_chars(id, strlen(id), "ABCDEFGHIJKLMNOPQRSTUVWXYZ._:-");
}

static rw_status log_event(data_db *db, const char *kind, const char *component,
                           const char *adapter_id, const char *previous_id, const char *source_id,
                           const char *reason, rw_err *err) {
    sqlite3_stmt *st = NULL;
    rw_status s = data_prepare(db,
                               "INSERT INTO registry_events(time, kind, component, adapter_id,"
                               " previous_id, source_id, reason) VALUES(?1,?2,?3,?4,?5,?6,?7)",
                               &st, err);
    if (s != RW_OK) return s;
    sqlite3_bind_int64(st, 1, data_now());
    data_bind_text(st, 2, kind);
    data_bind_text(st, 3, component);
    data_bind_text(st, 4, adapter_id);
    data_bind_text(st, 5, previous_id);
    data_bind_text(st, 6, source_id);
    data_bind_text(st, 7, reason ? reason : "");
    s = data_step_done(db, st, err, "append registry event");
    sqlite3_finalize(st);
    return s;
}

rw_status data_registry_log_event(data_db *db, const char *kind, const char *component,
                                  const char *adapter_id, const char *source_id,
                                  const char *reason, rw_err *err) {
    return log_event(db, kind, component, adapter_id, NULL, source_id, reason, err);
}

static rw_status exec_bound(data_db *db, const char *sql, const char *a, const char *b,
                            const char *c, rw_err *err, const char *what) {
    sqlite3_stmt *st = NULL;
    rw_status s = data_prepare(db, sql, &st, err);
    if (s != RW_OK) return s;
    const char *args[3] = {a, b, c};
    int np = sqlite3_bind_parameter_count(st);
    for (int i = 0; i < np && i < 3; i++) data_bind_text(st, i + 1, args[i]);
    if (np >= 4) sqlite3_bind_int64(st, 4, data_now());
    s = data_step_done(db, st, err, what);
    sqlite3_finalize(st);
    return s;
}

/* Validates the manifest and inserts adapter_sources rows; *n_withdrawn counts sources in it
 * that are withdrawn already. */
static rw_status record_sources(data_db *db, const char *id, const char *manifest,
                                int *n_withdrawn, char *first_withdrawn, size_t cap, rw_err *err) {
    json_error_t je;
    json_t *m = json_loads(manifest, 0, &je);
    sqlite3_stmt *ins = NULL, *wd = NULL;
    rw_status s = RW_OK;
    *n_withdrawn = 0;
    if (!m || !json_is_object(m)) {
        s = rw_err_set(err, RW_E_FORMAT, "adapter '%s': manifest is not a JSON object (line %d: %s)",
                       id, m ? 1 : je.line, m ? "top level" : je.text);
        goto done;
    }
    json_t *srcs = json_object_get(m, "sources");
    if (!json_is_array(srcs)) {
        s = rw_err_set(err, RW_E_FORMAT, "adapter '%s': manifest field 'sources' is not an array",
                       id);
        goto done;
    }
    s = data_prepare(db,
                     "INSERT INTO adapter_sources(adapter_id, source_id, examples) VALUES(?1,?2,?3)"
                     " ON CONFLICT DO UPDATE SET examples = examples + excluded.examples",
                     &ins, err);
    if (s != RW_OK) goto done;
    s = data_prepare(db, "SELECT 1 FROM sources WHERE id = ?1 AND withdrawn_at IS NOT NULL", &wd,
                     err);
    if (s != RW_OK) goto done;
    size_t i;
    json_t *e;
    json_array_foreach(srcs, i, e) {
        json_t *sid = json_object_get(e, "id"), *ex = json_object_get(e, "examples");
        if (!json_is_string(sid) || (ex && !json_is_integer(ex))) {
            s = rw_err_set(err, RW_E_FORMAT,
                           "adapter '%s': manifest sources[%zu] needs string 'id' and integer "
                           "'examples'",
                           id, i);
            goto done;
        }
        sqlite3_bind_text(ins, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 2, json_string_value(sid), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 3, ex ? (sqlite3_int64)json_integer_value(ex) : 0);
        s = data_step_done(db, ins, err, "record adapter source");
        if (s != RW_OK) goto done;
        sqlite3_bind_text(wd, 1, json_string_value(sid), -1, SQLITE_TRANSIENT);
        if (sqlite3_step(wd) == SQLITE_ROW) {
            if (*n_withdrawn == 0) snprintf(first_withdrawn, cap, "%s", json_string_value(sid));
            (*n_withdrawn)++;
        }
        sqlite3_reset(wd);
    }
done:
    sqlite3_finalize(ins);
    sqlite3_finalize(wd);
    json_decref(m);
    return s;
}

rw_status data_registry_register(data_db *db, const data_adapter_new *a, rw_err *err) {
    if (!id_valid(a->id))
        return rw_err_set(err, RW_E_INVALID, "adapter id '%s' is invalid (1-128 of [A-Za-z0-9._:-])",
                          a->id ? a->id : "(null)");
    if (!data_component_valid(a->component))
        return rw_err_set(err, RW_E_INVALID,
                          "adapter '%s': component '%s' is not embed, critic or persona:<name>",
                          a->id, a->component ? a->component : "(null)");
    if (!a->version || !*a->version)
        return rw_err_set(err, RW_E_INVALID, "adapter '%s': version is empty", a->id);
    if (!data_sha256_valid(a->base_sha256))
        return rw_err_set(err, RW_E_INVALID,
                          "adapter '%s': base-model sha256 '%s' is not 64 lowercase hex digits",
                          a->id, a->base_sha256 ? a->base_sha256 : "(null)");
    if (!a->manifest_json)
        return rw_err_set(err, RW_E_INVALID, "adapter '%s': a training manifest is required", a->id);
    if (a->metrics_json) {
        json_error_t je;
        json_t *j = json_loads(a->metrics_json, 0, &je);
        int ok = j && json_is_object(j);
        json_decref(j);
        if (!ok) return rw_err_set(err, RW_E_FORMAT, "adapter '%s': metrics is not a JSON object", a->id);
    }
    char sha[DATA_SHA256_HEX];
    rw_status s = data_sha256_file(a->path, sha, err);
    if (s != RW_OK) return rw_err_prefix(err, "adapter '%s': ", a->id);
    /* Store the absolute path: promote and export may run from another folder. */
    char abs[PATH_MAX];
    if (!realpath(a->path, abs))
        return rw_err_set(err, RW_E_IO, "adapter '%s': cannot resolve %s: %s", a->id, a->path,
                          strerror(errno));
    sqlite3_stmt *st = NULL;
    s = data_begin(db, err);
    if (s != RW_OK) return s;
    s = data_prepare(db,
                     "INSERT INTO adapters(id, component, version, path, sha256, base_sha256,"
                     " parent_id, manifest, metrics, status, created_at, updated_at)"
                     " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,'candidate',?10,?10)",
                     &st, err);
    if (s != RW_OK) goto fail;
    data_bind_text(st, 1, a->id);
    data_bind_text(st, 2, a->component);
    data_bind_text(st, 3, a->version);
    data_bind_text(st, 4, abs);
    data_bind_text(st, 5, sha);
    data_bind_text(st, 6, a->base_sha256);
    data_bind_text(st, 7, a->parent_id);
    data_bind_text(st, 8, a->manifest_json);
    data_bind_text(st, 9, a->metrics_json ? a->metrics_json : "{}");
    sqlite3_bind_int64(st, 10, data_now());
    s = data_step_done(db, st, err, "register adapter");
    if (s == RW_E_STATE)
        rw_err_set(err, RW_E_STATE,
                   "adapter '%s': id, or version '%s' of %s, exists already (or parent '%s' is "
                   "unknown)",
                   a->id, a->version, a->component, a->parent_id ? a->parent_id : "-");
    if (s != RW_OK) goto fail;
    int n_wd = 0;
    char first_wd[160] = "";
    s = record_sources(db, a->id, a->manifest_json, &n_wd, first_wd, sizeof first_wd, err);
    if (s != RW_OK) goto fail;
    s = log_event(db, "register", a->component, a->id, NULL, NULL, "", err);
    if (s != RW_OK) goto fail;
    if (n_wd > 0) {
        s = exec_bound(db, "UPDATE adapters SET status = 'tainted', updated_at = ?4 WHERE id = ?1",
                       a->id, NULL, NULL, err, "taint adapter");
        if (s != RW_OK) goto fail;
        s = log_event(db, "taint", a->component, a->id, NULL, first_wd,
                      "registered with a withdrawn source in its manifest", err);
        if (s != RW_OK) goto fail;
    }
    sqlite3_finalize(st);
    return data_commit(db, err);
fail:
    sqlite3_finalize(st);
    data_rollback(db);
    return s;
}

/* Reads (component, status, path, sha256) of id and whether it is in production. */
typedef struct ad_state {
    char component[160];
    char status[32];
    char path[4096];
    char sha256[DATA_SHA256_HEX];
    char prev[160];
    int has_prev;
    int in_production;
} ad_state;

static rw_status read_state(data_db *db, const char *id, ad_state *o, rw_err *err) {
    sqlite3_stmt *st = NULL;
    rw_status s = data_prepare(db,
                               "SELECT a.component, a.status, a.path, a.sha256, a.prev_production,"
                               " (SELECT count(*) FROM production p WHERE p.adapter_id = a.id)"
                               " FROM adapters a WHERE a.id = ?1",
                               &st, err);
    if (s != RW_OK) return s;
    data_bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        memset(o, 0, sizeof *o);
        snprintf(o->component, sizeof o->component, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(o->status, sizeof o->status, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(o->path, sizeof o->path, "%s", (const char *)sqlite3_column_text(st, 2));
        snprintf(o->sha256, sizeof o->sha256, "%s", (const char *)sqlite3_column_text(st, 3));
        o->has_prev = sqlite3_column_type(st, 4) != SQLITE_NULL;
        if (o->has_prev)
            snprintf(o->prev, sizeof o->prev, "%s", (const char *)sqlite3_column_text(st, 4));
        o->in_production = sqlite3_column_int(st, 5) > 0;
    } else if (rc == SQLITE_DONE) {
        s = rw_err_set(err, RW_E_NOTFOUND, "adapter '%s' not found", id ? id : "(null)");
    } else {
        s = data_sql_fail(db, err, "read adapter");
    }
    sqlite3_finalize(st);
    return s;
}

/* Current production adapter id of component into buf ("" when none). */
static rw_status read_production(data_db *db, const char *component, char *buf, size_t cap,
                                 rw_err *err) {
    sqlite3_stmt *st = NULL;
    rw_status s = data_prepare(db, "SELECT adapter_id FROM production WHERE component = ?1", &st, err);
    if (s != RW_OK) return s;
    data_bind_text(st, 1, component);
    int rc = sqlite3_step(st);
    buf[0] = '\0';
    if (rc == SQLITE_ROW)
        snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    else if (rc != SQLITE_DONE)
        s = data_sql_fail(db, err, "read production");
    sqlite3_finalize(st);
    return s;
}

rw_status data_registry_promote(data_db *db, const char *id, const char *reason, rw_err *err) {
    ad_state a;
    rw_status s = read_state(db, id, &a, err);
    if (s != RW_OK) return s;
    /* Hash outside the transaction (it may take seconds); the transaction re-checks that
     * the recorded hash has not changed since. */
    char sha[DATA_SHA256_HEX];
    s = data_sha256_file(a.path, sha, err);
    if (s != RW_OK) return rw_err_prefix(err, "promote '%s': ", id);
    if (strcmp(sha, a.sha256) != 0)
        return rw_err_set(err, RW_E_FORMAT,
                          "promote '%s': file %s has sha256 %s but the registry recorded %s", id,
                          a.path, sha, a.sha256);
    s = data_begin(db, err);
    if (s != RW_OK) return s;
    s = read_state(db, id, &a, err);
    if (s != RW_OK) goto fail;
    if (strcmp(sha, a.sha256) != 0 || a.in_production || strcmp(a.status, "tainted") == 0 ||
        strcmp(a.status, "rejected") == 0) {
        s = rw_err_set(err, RW_E_STATE, "promote '%s': refused, adapter is %s%s", id,
                       a.in_production ? "already in production" : a.status,
                       strcmp(a.status, "tainted") == 0
                           ? " (trained on a withdrawn source; retrain without it)"
                           : "");
        goto fail;
    }
    char old[160];
    s = read_production(db, a.component, old, sizeof old, err);
    if (s != RW_OK) goto fail;
    if (old[0]) {
        s = exec_bound(db,
                       "UPDATE adapters SET status = 'superseded', updated_at = ?4"
                       " WHERE id = ?1 AND status = 'production'",
                       old, NULL, NULL, err, "demote old production");
        if (s != RW_OK) goto fail;
    }
    data_crash_point("promote:1");
    s = exec_bound(db,
                   "UPDATE adapters SET status = 'production', prev_production = ?2,"
                   " updated_at = ?4 WHERE id = ?1",
                   id, old[0] ? old : NULL, NULL, err, "set production status");
    if (s != RW_OK) goto fail;
    data_crash_point("promote:2");
    s = exec_bound(db,
                   "INSERT INTO production(component, adapter_id, since) VALUES(?1, ?2, ?4)"
                   " ON CONFLICT(component) DO UPDATE SET adapter_id = excluded.adapter_id,"
                   " since = excluded.since",
                   a.component, id, NULL, err, "update production");
    if (s != RW_OK) goto fail;
    data_crash_point("promote:3");
    s = log_event(db, "promote", a.component, id, old[0] ? old : NULL, NULL, reason, err);
    if (s != RW_OK) goto fail;
    data_crash_point("promote:4");
    return data_commit(db, err);
fail:
    data_rollback(db);
    return s;
}

rw_status data_registry_reject(data_db *db, const char *id, const char *reason, rw_err *err) {
    ad_state a;
    rw_status s = data_begin(db, err);
    if (s != RW_OK) return s;
    s = read_state(db, id, &a, err);
    if (s != RW_OK) goto fail;
    if (strcmp(a.status, "candidate") != 0 || a.in_production) {
        s = rw_err_set(err, RW_E_STATE, "reject '%s': only a candidate can be rejected (it is %s)",
                       id, a.status);
        goto fail;
    }
    s = exec_bound(db, "UPDATE adapters SET status = 'rejected', updated_at = ?4 WHERE id = ?1", id,
                   NULL, NULL, err, "reject adapter");
    if (s != RW_OK) goto fail;
    s = log_event(db, "reject", a.component, id, NULL, NULL, reason, err);
    if (s != RW_OK) goto fail;
    return data_commit(db, err);
fail:
    data_rollback(db);
    return s;
}

rw_status data_registry_rollback(data_db *db, const char *component, const char *reason,
                                 char **restored_id, rw_err *err) {
    ad_state cur, prev;
    char cur_id[160];
    rw_status s = data_begin(db, err);
    if (s != RW_OK) return s;
    s = read_production(db, component, cur_id, sizeof cur_id, err);
    if (s != RW_OK) goto fail;
    if (!cur_id[0]) {
        s = rw_err_set(err, RW_E_STATE, "rollback %s: no production adapter", component);
        goto fail;
    }
    s = read_state(db, cur_id, &cur, err);
    if (s != RW_OK) goto fail;
    if (!cur.has_prev) {
        s = rw_err_set(err, RW_E_STATE, "rollback %s: '%s' has no previous production adapter",
                       component, cur_id);
        goto fail;
    }
    s = read_state(db, cur.prev, &prev, err);
    if (s != RW_OK) goto fail;
    if (strcmp(prev.status, "tainted") == 0 || strcmp(prev.status, "rejected") == 0) {
        s = rw_err_set(err, RW_E_STATE,
                       "rollback %s: previous adapter '%s' is %s and cannot return to production",
                       component, cur.prev, prev.status);
        goto fail;
    }
    /* Like promote: never put back into service a file that is gone or changed since it was
     * registered (adapter files are megabytes, so hashing inside the transaction is cheap). */
    char sha[DATA_SHA256_HEX];
    s = data_sha256_file(prev.path, sha, err);
    if (s != RW_OK) {
        rw_err_prefix(err, "rollback %s to '%s': ", component, cur.prev);
        goto fail;
    }
    if (strcmp(sha, prev.sha256) != 0) {
        s = rw_err_set(err, RW_E_FORMAT,
                       "rollback %s: previous adapter '%s' file %s has sha256 %s but the registry "
                       "recorded %s",
                       component, cur.prev, prev.path, sha, prev.sha256);
        goto fail;
    }
    s = exec_bound(db,
                   "UPDATE adapters SET status = 'rolled-back', updated_at = ?4"
                   " WHERE id = ?1 AND status = 'production'",
                   cur_id, NULL, NULL, err, "roll back adapter");
    if (s != RW_OK) goto fail;
    data_crash_point("rollback:1");
    s = exec_bound(db, "UPDATE adapters SET status = 'production', updated_at = ?4 WHERE id = ?1",
                   cur.prev, NULL, NULL, err, "restore adapter");
    if (s != RW_OK) goto fail;
    s = exec_bound(db, "UPDATE production SET adapter_id = ?2, since = ?4 WHERE component = ?1",
                   component, cur.prev, NULL, err, "update production");
    if (s != RW_OK) goto fail;
    s = log_event(db, "rollback", component, cur.prev, cur_id, NULL, reason, err);
    if (s != RW_OK) goto fail;
    char *rid = NULL;
    if (restored_id) {
        rid = rw_strdup(cur.prev);
        if (!rid) {
            s = rw_err_set(err, RW_E_NOMEM, "out of memory");
            goto fail;
        }
    }
    s = data_commit(db, err);
    if (s != RW_OK) {
        rw_free(rid);
        return s;
    }
    if (restored_id) *restored_id = rid;
    return RW_OK;
fail:
    data_rollback(db);
    return s;
}

#define AD_COLS                                                                              \
    "a.id, a.component, a.version, a.path, a.sha256, a.base_sha256, a.parent_id, a.manifest," \
    " a.metrics, a.prev_production, a.status, a.created_at, a.updated_at,"                    \
    " (SELECT count(*) FROM production p WHERE p.adapter_id = a.id)"

static rw_status read_adapter_row(sqlite3_stmt *st, data_adapter *o, rw_err *err) {
    int oom = 0;
    memset(o, 0, sizeof *o);
    char **f[] = {&o->id,       &o->component, &o->version,  &o->path,     &o->sha256,
                  &o->base_sha256, &o->parent_id, &o->manifest, &o->metrics, &o->prev_production};
    for (int i = 0; i < 10; i++) *f[i] = data_col_dup(st, i, &oom);
    if (!data_adapter_status_parse((const char *)sqlite3_column_text(st, 10), &o->status))
        o->status = DATA_AD_TAINTED;
    o->created_at = sqlite3_column_int64(st, 11);
    o->updated_at = sqlite3_column_int64(st, 12);
    o->in_production = sqlite3_column_int(st, 13) > 0;
    if (oom) {
        data_adapter_deinit(o);
        return rw_err_set(err, RW_E_NOMEM, "out of memory reading an adapter");
    }
    return RW_OK;
}

void data_adapter_deinit(data_adapter *a) {
    if (!a) return;
    char *f[] = {a->id,       a->component, a->version,  a->path,    a->sha256,
                 a->base_sha256, a->parent_id, a->manifest, a->metrics, a->prev_production};
    for (int i = 0; i < 10; i++) rw_free(f[i]);
    memset(a, 0, sizeof *a);
}

static rw_status read_adapter_v(sqlite3_stmt *st, void *row, rw_err *err) {
    return read_adapter_row(st, row, err);
}

rw_status data_registry_get(data_db *db, const char *id, data_adapter *out, rw_err *err) {
    sqlite3_stmt *st = NULL;
    rw_status s = data_prepare(db, "SELECT " AD_COLS " FROM adapters a WHERE a.id = ?1", &st, err);
    if (s != RW_OK) return s;
    data_bind_text(st, 1, id);
    return data_read_one(db, st, sizeof *out, read_adapter_v, "adapter", id, out, err);
}
static void adapter_deinit_v(void *row) { data_adapter_deinit(row); }

static rw_status list_adapters(data_db *db, const char *sql, const char *arg, data_adapter **out,
                               size_t *n, rw_err *err) {
    sqlite3_stmt *st = NULL;
    rw_status s = data_prepare(db, sql, &st, err);
    if (s != RW_OK) return s;
    if (sqlite3_bind_parameter_count(st) > 0) data_bind_text(st, 1, arg);
    void *v = NULL;
    s = data_read_rows(db, st, sizeof(data_adapter), read_adapter_v, adapter_deinit_v,
                       "list adapters", &v, n, err);
    if (s == RW_OK) *out = v;
    return s;
}

rw_status data_registry_list(data_db *db, const char *component, data_adapter **out, size_t *n,
                             rw_err *err) {
    return list_adapters(db,
                         component ? "SELECT " AD_COLS " FROM adapters a WHERE a.component = ?1"
                                     " ORDER BY a.component, a.created_at, a.id"
                                   : "SELECT " AD_COLS " FROM adapters a"
                                     " ORDER BY a.component, a.created_at, a.id",
                         component, out, n, err);
}

rw_status data_registry_production(data_db *db, data_adapter **out, size_t *n, rw_err *err) {
    return list_adapters(db,
                         "SELECT " AD_COLS " FROM production p0 JOIN adapters a"
                         " ON a.id = p0.adapter_id ORDER BY p0.component",
                         NULL, out, n, err);
}

void data_adapter_list_free(data_adapter *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) data_adapter_deinit(&v[i]);
    rw_free(v);
}

static void event_deinit(void *row) {
    data_registry_event *e = row;
    rw_free(e->kind);
    rw_free(e->component);
    rw_free(e->adapter_id);
    rw_free(e->previous_id);
    rw_free(e->source_id);
    rw_free(e->reason);
}

static rw_status read_event_row(sqlite3_stmt *st, void *row, rw_err *err) {
    data_registry_event *e = row;
    int oom = 0;
    memset(e, 0, sizeof *e);
    e->id = sqlite3_column_int64(st, 0);
    e->time = sqlite3_column_int64(st, 1);
    e->kind = data_col_dup(st, 2, &oom);
    e->component = data_col_dup(st, 3, &oom);
    e->adapter_id = data_col_dup(st, 4, &oom);
    e->previous_id = data_col_dup(st, 5, &oom);
    e->source_id = data_col_dup(st, 6, &oom);
    e->reason = data_col_dup(st, 7, &oom);
    if (oom) {
        event_deinit(e);
        return rw_err_set(err, RW_E_NOMEM, "out of memory reading history");
    }
    return RW_OK;
}

rw_status data_registry_history(data_db *db, const char *component, data_registry_event **out,
                                size_t *n, rw_err *err) {
    sqlite3_stmt *st = NULL;
    rw_status s = data_prepare(db,
                               "SELECT id, time, kind, component, adapter_id, previous_id,"
                               " source_id, reason FROM registry_events"
                               " WHERE ?1 IS NULL OR component = ?1 ORDER BY id",
                               &st, err);
    if (s != RW_OK) return s;
    data_bind_text(st, 1, component);
    void *v = NULL;
    s = data_read_rows(db, st, sizeof(data_registry_event), read_event_row, event_deinit,
                       "read history", &v, n, err);
    if (s == RW_OK) *out = v;
    return s;
}

void data_registry_event_list_free(data_registry_event *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) event_deinit(&v[i]);
    rw_free(v);
}

/* Streams src into the open descriptor fd. */
static rw_status copy_to_fd(const char *src, int fd, const char *tmp, rw_err *err) {
    FILE *in = fopen(src, "rb");
    if (!in) return rw_err_set(err, RW_E_IO, "%s: cannot open: %s", src, strerror(errno));
    unsigned char buf[1 << 16];
    size_t got;
    rw_status s = RW_OK;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0) {
        size_t off = 0;
        while (off < got) {
            ssize_t w = write(fd, buf + off, got - off);
            if (w < 0) {
                if (errno == EINTR) continue;
                s = rw_err_set(err, RW_E_IO, "%s: write failed: %s", tmp, strerror(errno));
                goto done;
            }
            off += (size_t)w;
        }
    }
    if (ferror(in)) s = rw_err_set(err, RW_E_IO, "%s: read failed: %s", src, strerror(errno));
done:
    fclose(in);
    return s;
}

rw_status data_registry_export(data_db *db, const char *id, data_export_format fmt,
                               const char *dest, rw_err *err) {
    if (fmt == DATA_EXPORT_PEFT)
        return rw_err_set(err, RW_E_UNSUPPORTED,
                          "export --format peft: not available in this build yet (see issue: "
                          "Autograd/LoRA training); export the GGUF LoRA with --format gguf");
    if (!dest || !*dest) return rw_err_set(err, RW_E_INVALID, "export '%s': no destination", id);
    ad_state a;
    rw_status s = read_state(db, id, &a, err);
    if (s != RW_OK) return s;
    if (strcmp(a.status, "tainted") == 0)
        return rw_err_set(err, RW_E_STATE,
                          "export '%s': refused, the adapter is tainted (trained on a withdrawn "
                          "source)",
                          id);
    char sha[DATA_SHA256_HEX];
    s = data_sha256_file(a.path, sha, err);
    if (s != RW_OK) return rw_err_prefix(err, "export '%s': ", id);
    if (strcmp(sha, a.sha256) != 0)
        return rw_err_set(err, RW_E_FORMAT,
                          "export '%s': %s has sha256 %s, the registry recorded %s; not copied", id,
                          a.path, sha, a.sha256);
    size_t dl = strlen(dest);
    char *tmp = rw_malloc(dl + 16);
    if (!tmp) return rw_err_set(err, RW_E_NOMEM, "out of memory");
    snprintf(tmp, dl + 16, "%s.tmp.XXXXXX", dest);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        s = rw_err_set(err, RW_E_IO, "export '%s': cannot create %s: %s", id, tmp, strerror(errno));
        rw_free(tmp);
        return s;
    }
    s = copy_to_fd(a.path, fd, tmp, err);
    if (s == RW_OK && fsync(fd) != 0)
        s = rw_err_set(err, RW_E_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && s == RW_OK)
        s = rw_err_set(err, RW_E_IO, "%s: close failed: %s", tmp, strerror(errno));
    char sha2[DATA_SHA256_HEX];
    if (s == RW_OK) s = data_sha256_file(tmp, sha2, err);
    if (s == RW_OK && strcmp(sha2, a.sha256) != 0)
        s = rw_err_set(err, RW_E_IO, "export '%s': the copy %s has sha256 %s, expected %s", id, tmp,
                       sha2, a.sha256);
    if (s == RW_OK && rename(tmp, dest) != 0)
        s = rw_err_set(err, RW_E_IO, "export '%s': rename to %s failed: %s", id, dest,
                       strerror(errno));
    if (s != RW_OK) unlink(tmp);
    rw_free(tmp);
    return s;
}
