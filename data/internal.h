/* data/ private declarations: the connection struct, migration tables of each store,
 * statement helpers, and the test crash hook. Not for use outside data/. */
#ifndef RW_DATA_INTERNAL_H
#define RW_DATA_INTERNAL_H

#include <sqlite3.h>
#include <stdint.h>

#include "core/status.h"
#include "data/db.h"
#include "data/strbuf.h" /* data_grow for the stores' row buffers */

struct data_db {
    sqlite3 *h;
    char *path;
    int opened_version;
};

/* One migration step of one store: the SQL that takes the store from version-1 to version.
 * Constant SQL only (no user data). Arrays end with {0, NULL}. */
typedef struct data_migration {
    int version;
    const char *sql;
} data_migration;

extern const data_migration data_sources_migrations[];
extern const data_migration data_feedback_migrations[];
extern const data_migration data_registry_migrations[];

/* Fills err with "what: <sqlite message>" and returns RW_E_DB (RW_E_STATE for constraint
 * failures so callers can tell "refused" from "broken"). */
rw_status data_sql_fail(data_db *db, rw_err *err, const char *what);
rw_status data_prepare(data_db *db, const char *sql, sqlite3_stmt **st, rw_err *err);
/* Steps a statement that returns no rows; resets it. */
rw_status data_step_done(data_db *db, sqlite3_stmt *st, rw_err *err, const char *what);
rw_status data_exec(data_db *db, const char *sql, rw_err *err);
rw_status data_begin(data_db *db, rw_err *err);
rw_status data_commit(data_db *db, rw_err *err);
void data_rollback(data_db *db);

/* Index of s in names[0..n) (exact match), or -1; s may be NULL. Serves the parse side of
 * every enum <-> text table of the stores (classes, feedback kinds, adapter statuses). */
int data_name_find(const char *const *names, int n, const char *s);

/* Binds s as TEXT, or NULL when s is NULL. */
int data_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Owned copy of a TEXT column, NULL when the column is NULL (or allocation failed and
 * *oom is set). */
char *data_col_dup(sqlite3_stmt *st, int col, int *oom);


/* Reads one row into *row (elem bytes); on failure owns nothing and fills err. */
typedef rw_status (*data_row_read_fn)(sqlite3_stmt *st, void *row, rw_err *err);
/* Releases what one row owns. */
typedef void (*data_row_deinit_fn)(void *row);
/* Steps st (prepared and bound) to the end, reading each row into a growing array of
 * elem-byte records. On success *out (owned: deinit each record, then rw_free) and *n; on
 * failure every record read is released and err names what ("list sources: ..."). Always
 * finalizes st. */
rw_status data_read_rows(data_db *db, sqlite3_stmt *st, size_t elem, data_row_read_fn read,
                         data_row_deinit_fn deinit, const char *what, void **out, size_t *n,
                         rw_err *err);

/* Steps st (prepared, its key bound) once: a row is read by read (elem bytes, at most 1024)
 * into *row, written only on success; no row is RW_E_NOTFOUND "<what> '<id>' not found"; a
 * failed step is data_sql_fail(db, err, "read <what>"). Always finalizes st. */
rw_status data_read_one(data_db *db, sqlite3_stmt *st, size_t elem, data_row_read_fn read,
                        const char *what, const char *id, void *row, rw_err *err);

/* Test hook: when $RW_DATA_CRASH_AT equals name, the process ends at once with _exit(86)
 * (no rollback, no atexit): used by tests to kill a writer between two statements of one
 * transaction. */
void data_crash_point(const char *name);

/* Source-id rule shared by sources and governance: 1-128 bytes of [a-z0-9._:/-], starting
 * with a letter or digit. Lookups are exact; anything else is an unknown source. */
int data_source_id_valid(const char *id);

/* Appends one registry event (registry.c); used by governance.c inside its transaction. */
rw_status data_registry_log_event(data_db *db, const char *kind, const char *component,
                                  const char *adapter_id, const char *source_id,
                                  const char *reason, rw_err *err);

#endif
