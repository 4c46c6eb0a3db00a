/* The workbench database: one SQLite file holding the sources, feedback and registry
 * stores (docs/data.md explains why one file: withdrawing a source and tainting the
 * adapters trained on it must commit in one transaction, and documents, interactions and
 * adapters refer to sources by foreign key).
 *
 * Invariants: data_db_open leaves the file at DATA_DB_SCHEMA_VERSION (PRAGMA user_version),
 * in WAL mode, with foreign keys on and a busy timeout, or fails without changing it.
 * Every write made through the data_ API runs inside one transaction (BEGIN IMMEDIATE).
 * Timestamps are unix seconds (INTEGER, UTC) in the database; the CLI prints ISO-8601 UTC.
 *
 * Threads: a data_db handle is one SQLite connection and is NOT thread-safe: open one
 * handle per thread (or per process). Handles in different threads or processes may write
 * the same file at once; writers queue on SQLite's lock for up to the busy timeout. */
#ifndef RW_DATA_DB_H
#define RW_DATA_DB_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

typedef struct data_db data_db;

/* Version history (each store module carries its own steps, applied in order):
 *   1  sources, documents, interactions, retrieved, feedback_events, adapters,
 *      production, registry_events.
 *   2  interactions.adapters (JSON of adapter versions used), retrieved.critic_score,
 *      adapter_sources (back-filled from adapters.manifest), append-only triggers. */
enum { DATA_DB_SCHEMA_VERSION = 2 };

/* Opens (creating when absent) and migrates the database at path. A file whose version is
 * newer than this build is refused (RW_E_UNSUPPORTED). *out is owned; close it. */
rw_status data_db_open(const char *path, data_db **out, rw_err *err);
void data_db_close(data_db *db);

/* Schema version found in the file before this open migrated it (0 for a new file). */
int data_db_opened_version(const data_db *db);
/* Borrowed; valid until close. */
const char *data_db_path(const data_db *db);

/* The database path: flag if non-NULL, else $RW_DB if set and non-empty, else "rag.db"
 * in the current folder. Borrowed. */
const char *data_db_default_path(const char *flag);

/* Current time, unix seconds. */
int64_t data_now(void);
/* "YYYY-MM-DDTHH:MM:SSZ" (UTC) into buf (at least 21 bytes); "-" for t <= 0. */
void data_time_format(int64_t t, char *buf, unsigned cap);
/* Accepts unix seconds ("1700000000"), "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ". */
bool data_time_parse(const char *s, int64_t *out);

#endif
