/* Data governance: the one place that decides whether a training example may be used, the
 * training manifest every run writes, and source withdrawal.
 *
 * Rule (checked in this order, first failure is the reason):
 *   1. the source id must name a registered source, byte for byte (no case folding, no
 *      trimming: " wiki" and "Wiki" are unknown sources)            -> unknown_source
 *   2. restricted sources are never trainable                        -> restricted
 *   3. withdrawn sources are never trainable                         -> withdrawn
 *   4. community and personal sources need a consent record          -> no_consent
 *   public sources without withdrawal pass.
 * An example built from several sources (query + documents) passes only if all of them do.
 *
 * The manifest snapshots the sources table when it is created, so one training run applies
 * one consistent view; a withdrawal after that taints the adapter at registration or at
 * withdrawal time (registry.h), whichever comes second. */
#ifndef RW_DATA_GOVERNANCE_H
#define RW_DATA_GOVERNANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "data/db.h"
#include "data/sources.h"

typedef enum data_gov_reason {
    DATA_GOV_OK,
    DATA_GOV_NO_SOURCE,      /* example carries no source id and no default was given */
    DATA_GOV_UNKNOWN_SOURCE,
    DATA_GOV_RESTRICTED,
    DATA_GOV_WITHDRAWN,
    DATA_GOV_NO_CONSENT,
    DATA_GOV_N_REASONS,
} data_gov_reason;

/* "ok", "no_source", "unknown_source", "restricted", "withdrawn", "no_consent". */
const char *data_gov_reason_name(data_gov_reason r);
/* The rule for a known source (steps 2-4). */
data_gov_reason data_gov_rule(data_class cls, bool has_consent, bool withdrawn);

typedef struct data_manifest data_manifest;

/* Snapshots the sources of db; purpose names the run ("embed weekly 2026-11-23"). */
rw_status data_manifest_create(data_db *db, const char *purpose, data_manifest **out, rw_err *err);
void data_manifest_destroy(data_manifest *m);
/* Verdict for one source id, without counting. NULL or "" gives DATA_GOV_NO_SOURCE. */
data_gov_reason data_manifest_check(const data_manifest *m, const char *source_id);
/* Verdict for one example built from n source ids (duplicates allowed). On OK the example is
 * counted once for each distinct source; otherwise it is counted as rejected for the first
 * failing reason. */
data_gov_reason data_manifest_admit(data_manifest *m, const char *const *source_ids, size_t n);
/* Counts an example dropped for a reason outside governance ("duplicate", "min_evidence",
 * "parse_error", ...). The name is copied. Returns RW_E_NOMEM on allocation failure. */
rw_status data_manifest_reject(data_manifest *m, const char *reason);
int64_t data_manifest_accepted(const data_manifest *m);
/* Count for a reason name (governance or caller-defined); 0 when never seen. */
int64_t data_manifest_rejected(const data_manifest *m, const char *reason);
/* Examples counted for source id (0 when unused). */
int64_t data_manifest_source_examples(const data_manifest *m, const char *source_id);
/* The manifest as JSON (owned, rw_free):
 * {"format":"rag-workbench.manifest/1","purpose":..,"created_at":"ISO",
 *  "rules":[...],"sources":[{"id","classification","examples","consent_ref"}],
 *  "examples_accepted":N,"examples_rejected":M,"rejected":{"reason":count,...}} */
rw_status data_manifest_json(const data_manifest *m, char **out, rw_err *err);
/* Writes the JSON to path atomically (temp file, fsync, rename). */
rw_status data_manifest_write(const data_manifest *m, const char *path, rw_err *err);

typedef struct data_withdraw_result {
    size_t n_tainted;            /* adapters newly marked tainted */
    size_t n_tainted_production; /* of which currently in production */
} data_withdraw_result;

/* Marks source_id withdrawn (when: 0 = now) and, in the same transaction, every adapter
 * whose manifest used it as tainted, with registry events (withdraw, taint) carrying the
 * reason. RW_E_NOTFOUND for an unknown source, RW_E_STATE when already withdrawn,
 * RW_E_INVALID without a reason. */
rw_status data_gov_withdraw(data_db *db, const char *source_id, const char *reason, int64_t when,
                            data_withdraw_result *out, rw_err *err);

#endif
