/* Opening the workbench database, running each store's migrations, statement helpers.
 *
 * Migration protocol: inside one BEGIN IMMEDIATE transaction, read PRAGMA user_version;
 * for every version v above it up to DATA_DB_SCHEMA_VERSION, apply the step v of the
 * sources, feedback and registry modules (in that order: later stores refer to sources),
 * then set user_version = DATA_DB_SCHEMA_VERSION and commit. A crash leaves the old version
 * intact (SQLite DDL is transactional). Several processes opening a fresh file at once are
 * serialised by the write lock, and the loser sees the new version and does nothing. */
#include "data/db.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "data/internal.h"

enum { DATA_BUSY_TIMEOUT_MS = 30000 };

rw_status data_sql_fail(data_db *db, rw_err *err, const char *what) {
    int ext = sqlite3_extended_errcode(db->h);
    rw_status code = (ext & 0xff) == SQLITE_CONSTRAINT ? RW_E_STATE : RW_E_DB;
    return rw_err_set(err, code, "%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

rw_status data_prepare(data_db *db, const char *sql, sqlite3_stmt **st, rw_err *err) {
    if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return data_sql_fail(db, err, "prepare");
    }
    return RW_OK;
}

rw_status data_step_done(data_db *db, sqlite3_stmt *st, rw_err *err, const char *what) {
    int rc = sqlite3_step(st);
    rw_status s = RW_OK;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) s = data_sql_fail(db, err, what);
    sqlite3_reset(st);
    return s;
}

rw_status data_exec(data_db *db, const char *sql, rw_err *err) {
    char *msg = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        rw_status s = rw_err_set(err, RW_E_DB, "%s: %s", db->path, msg ? msg : "sqlite error");
        sqlite3_free(msg);
        return s;
    }
    return RW_OK;
}

rw_status data_begin(data_db *db, rw_err *err) { return data_exec(db, "BEGIN IMMEDIATE", err); }

rw_status data_commit(data_db *db, rw_err *err) {
    rw_status s = data_exec(db, "COMMIT", err);
    if (s != RW_OK) data_rollback(db);
    return s;
}

void data_rollback(data_db *db) {
    if (!sqlite3_get_autocommit(db->h)) sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

int data_name_find(const char *const *names, int n, const char *s) {
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

int data_bind_text(sqlite3_stmt *st, int i, const char *s) {
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

char *data_col_dup(sqlite3_stmt *st, int col, int *oom) {
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return NULL;
    const unsigned char *t = sqlite3_column_text(st, col);
    char *r = rw_strdup(t ? (const char *)t : "");
    if (!r && oom) *oom = 1;
    return r;
}

rw_status data_read_rows(data_db *db, sqlite3_stmt *st, size_t elem, data_row_read_fn read,
                         data_row_deinit_fn deinit, const char *what, void **out, size_t *n,
                         rw_err *err) {
    unsigned char *v = NULL; /* [cap][elem] */
    size_t len = 0, cap = 0;
    rw_status s = RW_OK;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            unsigned char *nv = data_grow(v, &cap, elem, 8);
            if (!nv) {
                s = rw_err_set(err, RW_E_NOMEM, "%s: out of memory (%zu rows)", what, len);
                goto fail;
            }
            v = nv;
        }
        s = read(st, v + len * elem, err);
        if (s != RW_OK) goto fail;
        len++;
    }
    if (rc != SQLITE_DONE) {
        s = data_sql_fail(db, err, what);
        goto fail;
    }
    sqlite3_finalize(st);
    *out = v;
    *n = len;
    return RW_OK;
fail:
    sqlite3_finalize(st);
    for (size_t i = 0; i < len; i++) deinit(v + i * elem);
    rw_free(v);
    return s;
}

rw_status data_read_one(data_db *db, sqlite3_stmt *st, size_t elem, data_row_read_fn read,
                        const char *what, const char *id, void *row, rw_err *err) {
    _Alignas(max_align_t) unsigned char tmp[1024]; /* the row until it is whole */
    RW_ASSERT(elem <= sizeof tmp, "data_read_one: %zu-byte rows", elem);
    rw_status s;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        s = read(st, tmp, err);
        if (s == RW_OK) memcpy(row, tmp, elem);
    } else if (rc == SQLITE_DONE) {
        s = rw_err_set(err, RW_E_NOTFOUND, "%s '%s' not found", what, id ? id : "(null)");
    } else {
        char op[64];
        snprintf(op, sizeof op, "read %s", what);
        s = data_sql_fail(db, err, op);
    }
    sqlite3_finalize(st);
    return s;
}

void data_crash_point(const char *name) {
    const char *at = getenv("RW_DATA_CRASH_AT");
    if (at && strcmp(at, name) == 0) _exit(86);
}

int data_source_id_valid(const char *id) {
    if (!id) return 0;
    size_t n = strlen(id);
    if (n == 0 || n > 128) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!ok && i > 0) ok = c == '.' || c == '_' || c == ':' || c == '/' || c == '-';
        if (!ok) return 0;
    }
    return 1;
}

static rw_status read_user_version(data_db *db, int *out, rw_err *err) {
    sqlite3_stmt *st = NULL;
    rw_status s = data_prepare(db, "PRAGMA user_version", &st, err);
    if (s != RW_OK) return s;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
    } else {
        s = data_sql_fail(db, err, "read user_version");
    }
    sqlite3_finalize(st);
    return s;
}

static const data_migration *step_of(const data_migration *m, int v) {
    for (; m->sql; m++)
        if (m->version == v) return m;
    return NULL;
}

static rw_status migrate(data_db *db, rw_err *err) {
    rw_status s = data_begin(db, err);
    if (s != RW_OK) return s;
    int cur = 0;
    s = read_user_version(db, &cur, err);
    if (s != RW_OK) goto fail;
    db->opened_version = cur;
    if (cur > DATA_DB_SCHEMA_VERSION) {
        s = rw_err_set(err, RW_E_UNSUPPORTED,
                       "%s: schema version %d is newer than this build (%d); upgrade rag-workbench",
                       db->path, cur, DATA_DB_SCHEMA_VERSION);
        goto fail;
    }
    if (cur < 0) {
        s = rw_err_set(err, RW_E_FORMAT, "%s: negative user_version %d", db->path, cur);
        goto fail;
    }
    const data_migration *stores[] = {data_sources_migrations, data_feedback_migrations,
                                      data_registry_migrations};
    for (int v = cur + 1; v <= DATA_DB_SCHEMA_VERSION; v++) {
        for (size_t k = 0; k < sizeof stores / sizeof stores[0]; k++) {
            const data_migration *m = step_of(stores[k], v);
            if (!m) continue;
            s = data_exec(db, m->sql, err);
            if (s != RW_OK) {
                rw_err_prefix(err, "migration to version %d: ", v);
                goto fail;
            }
        }
    }
    if (cur != DATA_DB_SCHEMA_VERSION) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", (int)DATA_DB_SCHEMA_VERSION);
        s = data_exec(db, sql, err);
        if (s != RW_OK) goto fail;
        /* A foreign key broken by a migration must not commit. */
        sqlite3_stmt *fk = NULL;
        s = data_prepare(db, "PRAGMA foreign_key_check", &fk, err);
        if (s != RW_OK) goto fail;
        int bad = sqlite3_step(fk) == SQLITE_ROW;
        sqlite3_finalize(fk);
        if (bad) {
            s = rw_err_set(err, RW_E_FORMAT, "%s: foreign key violation after migration", db->path);
            goto fail;
        }
    }
    return data_commit(db, err);
fail:
    data_rollback(db);
    return s;
}

/* journal_mode=WAL returns the mode in force; anything else (e.g. a read-only medium) is
 * refused because the concurrency rules of db.h assume WAL. Switching needs an exclusive
 * lock and SQLite does not always run the busy handler for it (several processes opening a
 * fresh file at once), so SQLITE_BUSY/LOCKED is retried here for the busy timeout. */
static rw_status set_wal(data_db *db, rw_err *err) {
    for (int waited_ms = 0;; waited_ms += 5) {
        sqlite3_stmt *st = NULL;
        rw_status s = data_prepare(db, "PRAGMA journal_mode=WAL", &st, err);
        if (s != RW_OK) return s;
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const unsigned char *mode = sqlite3_column_text(st, 0);
            int wal = mode && strcmp((const char *)mode, "wal") == 0;
            sqlite3_finalize(st);
            if (!wal) return rw_err_set(err, RW_E_DB, "%s: cannot switch to WAL journal mode", db->path);
            return RW_OK;
        }
        int busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
        if (!busy || waited_ms >= DATA_BUSY_TIMEOUT_MS) {
            s = data_sql_fail(db, err, "set WAL mode");
            sqlite3_finalize(st);
            return s;
        }
        sqlite3_finalize(st);
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

rw_status data_db_open(const char *path, data_db **out, rw_err *err) {
    if (!path || !*path) return rw_err_set(err, RW_E_INVALID, "database path is empty");
    data_db *db = rw_calloc(1, sizeof *db);
    if (!db) return rw_err_set(err, RW_E_NOMEM, "%s: out of memory", path);
    rw_status s = RW_OK;
    db->path = rw_strdup(path);
    if (!db->path) {
        s = rw_err_set(err, RW_E_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    int rc = sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        s = rw_err_set(err, RW_E_DB, "%s: cannot open: %s", path,
                       db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(db->h, 1);
    sqlite3_busy_timeout(db->h, DATA_BUSY_TIMEOUT_MS);
    s = set_wal(db, err);
    if (s != RW_OK) goto fail;
    s = data_exec(db, "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;", err);
    if (s != RW_OK) goto fail;
    s = migrate(db, err);
    if (s != RW_OK) goto fail;
    *out = db;
    return RW_OK;
fail:
    data_db_close(db);
    return s;
}

void data_db_close(data_db *db) {
    if (!db) return;
    if (db->h) sqlite3_close_v2(db->h);
    rw_free(db->path);
    rw_free(db);
}

int data_db_opened_version(const data_db *db) { return db->opened_version; }
const char *data_db_path(const data_db *db) { return db->path; }

const char *data_db_default_path(const char *flag) {
    if (flag && *flag) return flag;
    const char *e = getenv("RW_DB");
    if (e && *e) return e;
    return "rag.db";
}

int64_t data_now(void) { return (int64_t)time(NULL); }

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's civil algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

void data_time_format(int64_t t, char *buf, unsigned cap) {
    if (t <= 0) {
        snprintf(buf, cap, "-");
        return;
    }
    int64_t days = t / 86400, rem = t % 86400, y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(buf, cap, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60));
}

static int digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

bool data_time_parse(const char *s, int64_t *out) {
    if (!s || !*s) return false;
    size_t n = strlen(s);
    size_t i = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == n && n <= 18) {
        *out = strtoll(s, NULL, 10);
        return true;
    }
    int y, mo, d, hh = 0, mi = 0, ss = 0;
    if (n != 10 && n != 20) return false;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d))
        return false;
    if (n == 20) {
        if (s[10] != 'T' || !digits(s + 11, 2, &hh) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
            s[16] != ':' || !digits(s + 17, 2, &ss) || s[19] != 'Z')
            return false;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || hh > 23 || mi > 59 || ss > 60) return false;
    *out = days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss;
    return true;
}
