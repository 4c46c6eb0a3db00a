/* Adapter registry: every trained LoRA adapter (component, version, file and sha256, base
 * model sha256, parent, training manifest, metrics, status), the current production adapter
 * per component, and an append-only events log.
 *
 * Components: "embed", "critic" or "persona:<name>" (name of [a-z0-9._-], 1-64 bytes).
 * Statuses: candidate -> production -> superseded (replaced by a newer promote) or
 * rolled-back (replaced by rollback); candidate -> rejected; any -> tainted (a source in its
 * manifest was withdrawn). "superseded" is this project's addition to the list: it
 * names a former production adapter kept for rollback.
 *
 * Invariants (each operation is one BEGIN IMMEDIATE transaction, so a crash at any point
 * leaves either the old or the new state, never a component without production):
 *   - production(component) names at most one adapter; that adapter's status is
 *     'production', or 'tainted' when a withdrawal hit it while serving;
 *   - a tainted or rejected adapter is never promoted, nor restored by rollback;
 *   - registry_events rows are never updated or deleted (triggers refuse it).
 * Threads: those of data_db. */
#ifndef RW_DATA_REGISTRY_H
#define RW_DATA_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "data/db.h"

typedef enum data_adapter_status {
    DATA_AD_CANDIDATE,
    DATA_AD_PRODUCTION,
    DATA_AD_SUPERSEDED,
    DATA_AD_REJECTED,
    DATA_AD_ROLLED_BACK,
    DATA_AD_TAINTED,
} data_adapter_status;

const char *data_adapter_status_name(data_adapter_status s);
bool data_adapter_status_parse(const char *s, data_adapter_status *out);
/* True for "embed", "critic", "persona:<name>". */
bool data_component_valid(const char *component);

typedef struct data_adapter_new {
    const char *id;            /* unique, 1-128 of [A-Za-z0-9._:-] */
    const char *component;
    const char *version;       /* unique per component */
    const char *path;          /* GGUF LoRA file; its sha256 is computed at registration */
    const char *base_sha256;   /* 64 hex digits */
    const char *parent_id;     /* optional: adapter this one continued from */
    const char *manifest_json; /* training manifest (data/governance.h), required */
    const char *metrics_json;  /* optional JSON object */
} data_adapter_new;

typedef struct data_adapter {
    char *id, *component, *version, *path, *sha256, *base_sha256;
    char *parent_id;       /* NULL when none */
    char *manifest, *metrics;
    char *prev_production; /* production adapter when this one was promoted; NULL if none */
    data_adapter_status status;
    bool in_production;    /* named by production(component) now */
    int64_t created_at, updated_at;
} data_adapter;

typedef struct data_registry_event {
    int64_t id, time;
    char *kind;        /* register, promote, reject, rollback, taint, withdraw */
    char *component;   /* NULL for withdraw */
    char *adapter_id;  /* promote/rollback: the adapter now in production */
    char *previous_id; /* promote/rollback: the one it replaced */
    char *source_id;   /* taint/withdraw */
    char *reason;
} data_registry_event;

/* Registers a candidate. The manifest must be a JSON object with a "sources" array of
 * {"id": str, "examples": int}; a manifest naming a source that is already withdrawn makes
 * the adapter tainted at once. RW_E_STATE when id or (component, version) exists. */
rw_status data_registry_register(data_db *db, const data_adapter_new *a, rw_err *err);
/* Makes id the production adapter of its component; the previous one becomes superseded
 * and is remembered for rollback. Verifies the file's sha256 first (RW_E_FORMAT on
 * mismatch). RW_E_STATE when id is tainted, rejected or already in production. */
rw_status data_registry_promote(data_db *db, const char *id, const char *reason, rw_err *err);
/* candidate -> rejected. */
rw_status data_registry_reject(data_db *db, const char *id, const char *reason, rw_err *err);
/* Restores the production adapter that preceded the current one of component; the current
 * one becomes rolled-back (or stays tainted). *restored_id (optional, owned) gets its id. */
rw_status data_registry_rollback(data_db *db, const char *component, const char *reason,
                                 char **restored_id, rw_err *err);

rw_status data_registry_get(data_db *db, const char *id, data_adapter *out, rw_err *err);
void data_adapter_deinit(data_adapter *a);
/* Adapters of component (NULL = all), ordered by component, created_at, id. */
rw_status data_registry_list(data_db *db, const char *component, data_adapter **out, size_t *n,
                             rw_err *err);
/* Adapters currently in production (one per component), ordered by component. Callers
 * report those with status DATA_AD_TAINTED until a retrained adapter replaces them. */
rw_status data_registry_production(data_db *db, data_adapter **out, size_t *n, rw_err *err);
void data_adapter_list_free(data_adapter *v, size_t n);
/* Events of component (NULL = all, including withdrawals), oldest first. */
rw_status data_registry_history(data_db *db, const char *component, data_registry_event **out,
                                size_t *n, rw_err *err);
void data_registry_event_list_free(data_registry_event *v, size_t n);

typedef enum data_export_format { DATA_EXPORT_GGUF, DATA_EXPORT_PEFT } data_export_format;

/* Copies the adapter's GGUF LoRA file to dest (temp file + fsync + rename), verifying the
 * sha256 of the source before and of the copy after. Tainted adapters are refused.
 * DATA_EXPORT_PEFT returns RW_E_UNSUPPORTED: PEFT export needs GGUF parsing, which lives in
 * infer/ and which data/ may not link. */
rw_status data_registry_export(data_db *db, const char *id, data_export_format fmt,
                               const char *dest, rw_err *err);

#endif
