/* Sources store: where documents and training examples come from, their classification,
 * consent record and withdrawal. Documents carry a source id (foreign key).
 *
 * Source ids: 1-128 bytes of [a-z0-9._:/-], first a letter or digit (lowercase only, so
 * "Wiki" and "wiki" can never both exist). Lookups are exact byte matches: no case folding,
 * no trimming; an id that is not in the table is unknown (and never trainable).
 * Thread rules: those of data_db (one handle per thread). */
#ifndef RW_DATA_SOURCES_H
#define RW_DATA_SOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "data/db.h"

typedef enum data_class {
    DATA_CLASS_PUBLIC,
    DATA_CLASS_COMMUNITY,
    DATA_CLASS_PERSONAL,
    DATA_CLASS_RESTRICTED,
} data_class;

const char *data_class_name(data_class c);
/* Exact lowercase names "public", "community", "personal", "restricted". */
bool data_class_parse(const char *s, data_class *out);

typedef struct data_source {
    char *id;
    data_class cls;
    char *description;
    int64_t created_at;
    bool has_consent;     /* a consent record exists */
    char *consent_who;    /* NULL when no consent */
    int64_t consent_at;
    char *consent_scope;
    char *consent_ref;
    int64_t withdrawn_at; /* 0 when not withdrawn */
    char *withdrawn_reason;
} data_source;

/* Adds a source (RW_E_INVALID for a bad id, RW_E_STATE when it exists already). */
rw_status data_source_add(data_db *db, const char *id, data_class cls, const char *description,
                          rw_err *err);
/* Records consent (who, when (0 = now), scope, reference); replaces an earlier record.
 * Refused for a withdrawn source (RW_E_STATE): withdrawal is final. */
rw_status data_source_consent(data_db *db, const char *id, const char *who, int64_t when,
                              const char *scope, const char *ref, rw_err *err);
/* Fills *out (owned strings: data_source_deinit). RW_E_NOTFOUND when absent. */
rw_status data_source_get(data_db *db, const char *id, data_source *out, rw_err *err);
void data_source_deinit(data_source *s);
/* All sources ordered by id; *out owned (data_source_list_free). */
rw_status data_source_list(data_db *db, data_source **out, size_t *n, rw_err *err);
void data_source_list_free(data_source *v, size_t n);

/* Adds or replaces a document (id, source id, optional title and text). */
rw_status data_document_put(data_db *db, const char *id, const char *source_id, const char *title,
                            const char *text, rw_err *err);

#endif
