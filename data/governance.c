/* Governance rules, the training manifest builder and source withdrawal (governance.h).
 *
 * The manifest holds a snapshot of the sources table sorted by id (SQLite's BINARY
 * collation is memcmp order, the same as strcmp), looked up by binary search with exact
 * byte comparison. Caller-defined drop reasons are a short list searched linearly. */
#include "data/governance.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "data/file.h"
#include "data/internal.h"

static const char *const reason_names[DATA_GOV_N_REASONS] = {
    "ok", "no_source", "unknown_source", "restricted", "withdrawn", "no_consent"};

const char *data_gov_reason_name(data_gov_reason r) {
    return (unsigned)r < DATA_GOV_N_REASONS ? reason_names[r] : "?";
}

data_gov_reason data_gov_rule(data_class cls, bool has_consent, bool withdrawn) {
    if (cls == DATA_CLASS_RESTRICTED) return DATA_GOV_RESTRICTED;
    if (withdrawn) return DATA_GOV_WITHDRAWN;
    if (cls == DATA_CLASS_PUBLIC) return DATA_GOV_OK;
    if (cls == DATA_CLASS_COMMUNITY || cls == DATA_CLASS_PERSONAL)
        return has_consent ? DATA_GOV_OK : DATA_GOV_NO_CONSENT;
    return DATA_GOV_RESTRICTED; /* unknown class values are treated as the strictest */
}

typedef struct extra_reason {
    char *name;
    int64_t count;
} extra_reason;

struct data_manifest {
    char *purpose;
    int64_t created_at;
    data_source *src; /* sorted by id */
    size_t n_src;
    int64_t *examples; /* per source */
    int64_t accepted;
    int64_t gov_rejected[DATA_GOV_N_REASONS];
    extra_reason *extra;
    size_t n_extra, cap_extra;
};

rw_status data_manifest_create(data_db *db, const char *purpose, data_manifest **out, rw_err *err) {
    data_manifest *m = rw_calloc(1, sizeof *m);
    if (!m) return rw_err_set(err, RW_E_NOMEM, "out of memory");
    rw_status s = data_source_list(db, &m->src, &m->n_src, err);
    if (s != RW_OK) goto fail;
    m->purpose = rw_strdup(purpose ? purpose : "");
    m->examples = rw_calloc(m->n_src ? m->n_src : 1, sizeof *m->examples);
    if (!m->purpose || !m->examples) {
        s = rw_err_set(err, RW_E_NOMEM, "out of memory");
        goto fail;
    }
    m->created_at = data_now();
    *out = m;
    return RW_OK;
fail:
    data_manifest_destroy(m);
    return s;
}

void data_manifest_destroy(data_manifest *m) {
    if (!m) return;
    data_source_list_free(m->src, m->n_src);
    rw_free(m->examples);
    rw_free(m->purpose);
    for (size_t i = 0; i < m->n_extra; i++) rw_free(m->extra[i].name);
    rw_free(m->extra);
    rw_free(m);
}

static ptrdiff_t find_source(const data_manifest *m, const char *id) {
    size_t lo = 0, hi = m->n_src;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->src[mid].id, id);
        if (c == 0) return (ptrdiff_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

data_gov_reason data_manifest_check(const data_manifest *m, const char *source_id) {
    if (!source_id || !*source_id) return DATA_GOV_NO_SOURCE;
    ptrdiff_t i = find_source(m, source_id);
    if (i < 0) return DATA_GOV_UNKNOWN_SOURCE;
    const data_source *s = &m->src[i];
    return data_gov_rule(s->cls, s->has_consent, s->withdrawn_at > 0);
}

data_gov_reason data_manifest_admit(data_manifest *m, const char *const *ids, size_t n) {
    if (n == 0) {
        m->gov_rejected[DATA_GOV_NO_SOURCE]++;
        return DATA_GOV_NO_SOURCE;
    }
    for (size_t i = 0; i < n; i++) {
        data_gov_reason r = data_manifest_check(m, ids[i]);
        if (r != DATA_GOV_OK) {
            m->gov_rejected[r]++;
            return r;
        }
    }
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = strcmp(ids[i], ids[j]) == 0;
        if (!seen) m->examples[find_source(m, ids[i])]++;
    }
    m->accepted++;
    return DATA_GOV_OK;
}

rw_status data_manifest_reject(data_manifest *m, const char *reason) {
    for (size_t i = 0; i < m->n_extra; i++)
        if (strcmp(m->extra[i].name, reason) == 0) {
            m->extra[i].count++;
            return RW_OK;
        }
    for (int r = 0; r < DATA_GOV_N_REASONS; r++)
        if (strcmp(reason_names[r], reason) == 0) {
            m->gov_rejected[r]++;
            return RW_OK;
        }
    if (m->n_extra == m->cap_extra) {
        extra_reason *nv = data_grow(m->extra, &m->cap_extra, sizeof *nv, 8);
        if (!nv) return RW_E_NOMEM;
        m->extra = nv;
    }
    char *name = rw_strdup(reason);
    if (!name) return RW_E_NOMEM;
    m->extra[m->n_extra].name = name;
    m->extra[m->n_extra].count = 1;
    m->n_extra++;
    return RW_OK;
}

int64_t data_manifest_accepted(const data_manifest *m) { return m->accepted; }

int64_t data_manifest_rejected(const data_manifest *m, const char *reason) {
    for (int r = 1; r < DATA_GOV_N_REASONS; r++)
        if (strcmp(reason_names[r], reason) == 0) return m->gov_rejected[r];
    for (size_t i = 0; i < m->n_extra; i++)
        if (strcmp(m->extra[i].name, reason) == 0) return m->extra[i].count;
    return 0;
}

int64_t data_manifest_source_examples(const data_manifest *m, const char *source_id) {
    ptrdiff_t i = source_id ? find_source(m, source_id) : -1;
    return i < 0 ? 0 : m->examples[i];
}

static const char *const rules_text[] = {
    ("source ids match registered sources exactly (no case folding or trimming); unknown ids "
     "are rejected"),
    "restricted sources are never trainable",
    "withdrawn sources are never trainable",
    "community and personal sources need a consent record",
    "an example built from several sources needs every one of them to pass",
};

rw_status data_manifest_json(const data_manifest *m, char **out, rw_err *err) {
    json_t *root = json_object(), *rules = json_array(), *srcs = json_array(), *rej = json_object();
    rw_status s = RW_OK;
    char when[32];
    if (!root || !rules || !srcs || !rej) goto oom;
    data_time_format(m->created_at, when, sizeof when);
    json_object_set_new(root, "format", json_string("rag-workbench.manifest/1"));
    json_object_set_new(root, "purpose", json_string(m->purpose));
    json_object_set_new(root, "created_at", json_string(when));
    for (size_t i = 0; i < sizeof rules_text / sizeof rules_text[0]; i++)
        json_array_append_new(rules, json_string(rules_text[i]));
    int64_t n_rej = 0;
    for (size_t i = 0; i < m->n_src; i++) {
        if (m->examples[i] == 0) continue;
        json_t *o = json_object();
        if (!o) goto oom;
        json_object_set_new(o, "id", json_string(m->src[i].id));
        json_object_set_new(o, "classification", json_string(data_class_name(m->src[i].cls)));
        json_object_set_new(o, "examples", json_integer(m->examples[i]));
        if (m->src[i].has_consent)
            json_object_set_new(o, "consent_ref",
                                json_string(m->src[i].consent_ref ? m->src[i].consent_ref : ""));
        json_array_append_new(srcs, o);
    }
    for (int r = 1; r < DATA_GOV_N_REASONS; r++) {
        json_object_set_new(rej, reason_names[r], json_integer(m->gov_rejected[r]));
        n_rej += m->gov_rejected[r];
    }
    for (size_t i = 0; i < m->n_extra; i++) {
        json_object_set_new(rej, m->extra[i].name, json_integer(m->extra[i].count));
        n_rej += m->extra[i].count;
    }
    json_object_set_new(root, "rules", rules);
    rules = NULL;
    json_object_set_new(root, "sources", srcs);
    srcs = NULL;
    json_object_set_new(root, "examples_accepted", json_integer(m->accepted));
    json_object_set_new(root, "examples_rejected", json_integer(n_rej));
    json_object_set_new(root, "rejected", rej);
    rej = NULL;
    char *txt = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!txt) goto oom;
    *out = rw_strdup(txt);
    free(txt);
    if (!*out) goto oom;
    json_decref(root);
    return RW_OK;
oom:
    s = rw_err_set(err, RW_E_NOMEM, "out of memory building the manifest");
    json_decref(root);
    json_decref(rules);
    json_decref(srcs);
    json_decref(rej);
    return s;
}

rw_status data_manifest_write(const data_manifest *m, const char *path, rw_err *err) {
    char *txt = NULL;
    rw_status s = data_manifest_json(m, &txt, err);
    if (s != RW_OK) return s;
    data_atomic_file af;
    s = data_atomic_open(&af, path, err);
    if (s != RW_OK) goto done;
    if (fputs(txt, af.f) == EOF || fputc('\n', af.f) == EOF) {
        s = rw_err_set(err, RW_E_IO, "%s: write failed: %s", path, strerror(errno));
        data_atomic_abort(&af);
        goto done;
    }
    s = data_atomic_commit(&af, err);
done:
    rw_free(txt);
    return s;
}

rw_status data_gov_withdraw(data_db *db, const char *source_id, const char *reason, int64_t when,
                            data_withdraw_result *out, rw_err *err) {
    if (!reason || !*reason)
        return rw_err_set(err, RW_E_INVALID, "withdraw '%s': a reason is required",
                          source_id ? source_id : "(null)");
    sqlite3_stmt *st = NULL, *up = NULL;
    data_withdraw_result r = {0, 0};
    rw_status s = data_begin(db, err);
    if (s != RW_OK) return s;
    s = data_prepare(db, "SELECT withdrawn_at FROM sources WHERE id = ?1", &st, err);
    if (s != RW_OK) goto fail;
    data_bind_text(st, 1, source_id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        s = rc == SQLITE_DONE ? rw_err_set(err, RW_E_NOTFOUND, "withdraw: source '%s' not found",
                                           source_id ? source_id : "(null)")
                              : data_sql_fail(db, err, "read source");
        goto fail;
    }
    if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
        char t[32];
        data_time_format(sqlite3_column_int64(st, 0), t, sizeof t);
        s = rw_err_set(err, RW_E_STATE, "withdraw: source '%s' was already withdrawn at %s",
                       source_id, t);
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    s = data_prepare(db, "UPDATE sources SET withdrawn_at = ?2, withdrawn_reason = ?3 WHERE id = ?1",
                     &up, err);
    if (s != RW_OK) goto fail;
    data_bind_text(up, 1, source_id);
    sqlite3_bind_int64(up, 2, when > 0 ? when : data_now());
    data_bind_text(up, 3, reason);
    s = data_step_done(db, up, err, "withdraw source");
    if (s != RW_OK) goto fail;
    sqlite3_finalize(up);
    up = NULL;
    s = data_registry_log_event(db, "withdraw", NULL, NULL, source_id, reason, err);
    if (s != RW_OK) goto fail;
    s = data_prepare(db,
                     "SELECT a.id, a.component,"
                     " (SELECT count(*) FROM production p WHERE p.adapter_id = a.id)"
                     " FROM adapter_sources x JOIN adapters a ON a.id = x.adapter_id"
                     " WHERE x.source_id = ?1 AND a.status <> 'tainted' ORDER BY a.id",
                     &st, err);
    if (s != RW_OK) goto fail;
    s = data_prepare(db, "UPDATE adapters SET status = 'tainted', updated_at = ?2 WHERE id = ?1",
                     &up, err);
    if (s != RW_OK) goto fail;
    data_bind_text(st, 1, source_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *aid = (const char *)sqlite3_column_text(st, 0);
        const char *comp = (const char *)sqlite3_column_text(st, 1);
        data_bind_text(up, 1, aid);
        sqlite3_bind_int64(up, 2, data_now());
        s = data_step_done(db, up, err, "taint adapter");
        if (s != RW_OK) goto fail;
        s = data_registry_log_event(db, "taint", comp, aid, source_id, reason, err);
        if (s != RW_OK) goto fail;
        r.n_tainted++;
        if (sqlite3_column_int(st, 2) > 0) r.n_tainted_production++;
    }
    if (rc != SQLITE_DONE) {
        s = data_sql_fail(db, err, "find adapters to taint");
        goto fail;
    }
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    s = data_commit(db, err);
    if (s == RW_OK && out) *out = r;
    return s;
fail:
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    data_rollback(db);
    return s;
}
