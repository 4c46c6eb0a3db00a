/* Mining triplets, SFT examples and critic labels from feedback (mining.h). Each miner runs
 * one read query ordered by normalised query, then processes one query group at a time in
 * memory (a group is one question's interactions: small), so memory is bounded by the
 * largest group, not the store. */
#include "data/mining.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "data/internal.h"

const char *data_mine_kind_name(data_mine_kind k) {
    switch (k) {
    case DATA_MINE_TRIPLETS: return "triplets";
    case DATA_MINE_SFT: return "sft";
    case DATA_MINE_CRITIC: return "critic";
    }
    return "?";
}

int data_mine_kind_parse(const char *s, data_mine_kind *out) {
    for (int k = 0; s && k < 3; k++)
        if (strcmp(s, data_mine_kind_name((data_mine_kind)k)) == 0) {
            *out = (data_mine_kind)k;
            return 1;
        }
    return 0;
}

static const char *col(sqlite3_stmt *st, int i) {
    return (const char *)sqlite3_column_text(st, i);
}

/* Owned copy of v (NULL stays NULL); out of memory sets *st (first error wins) so the row loop
 * stops instead of treating the field as absent. */
static char *dup0(const char *v, rw_status *st, rw_err *err) {
    if (!v) return NULL;
    char *r = rw_strdup(v);
    if (!r && *st == RW_OK) *st = rw_err_set(err, RW_E_NOMEM, "out of memory copying a mined field");
    return r;
}

static rw_status count_drop(data_manifest *m, const char *reason, rw_err *err) {
    if (data_manifest_reject(m, reason) != RW_OK)
        return rw_err_set(err, RW_E_NOMEM, "out of memory counting drops");
    return RW_OK;
}

/* Checks the interaction's own source; counts a drop when it fails. 1 = usable. */
static int query_source_ok(data_manifest *m, const char *qsrc, rw_status *s, rw_err *err) {
    data_gov_reason r = data_manifest_check(m, qsrc);
    if (r == DATA_GOV_OK) return 1;
    char name[64];
    snprintf(name, sizeof name, "query_source_%s", data_gov_reason_name(r));
    *s = count_drop(m, name, err);
    return 0;
}

static rw_status emit(json_t *o, FILE *out, int64_t *n, rw_err *err) {
    char *txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!txt) return rw_err_set(err, RW_E_NOMEM, "out of memory writing an example");
    int ok = fputs(txt, out) >= 0 && fputc('\n', out) != EOF;
    free(txt);
    if (!ok) return rw_err_set(err, RW_E_IO, "write failed");
    (*n)++;
    return RW_OK;
}

/* ---- triplets ---------------------------------------------------------------------- */

typedef struct tdoc {
    char *doc_id, *text, *src;
    int best_rank;
    int evidence; /* trainable interactions that chose it */
    int64_t last_iid;
} tdoc;

typedef struct tgroup {
    char *qn, *anchor, *qsrc; /* anchor/qsrc: first trainable interaction */
    tdoc *d;
    size_t n, cap;
} tgroup;

static void tgroup_clear(tgroup *g) {
    for (size_t i = 0; i < g->n; i++) {
        rw_free(g->d[i].doc_id);
        rw_free(g->d[i].text);
        rw_free(g->d[i].src);
    }
    g->n = 0;
    rw_free(g->qn);
    rw_free(g->anchor);
    rw_free(g->qsrc);
    g->qn = g->anchor = g->qsrc = NULL;
}

static int cmp_rank(const void *a, const void *b) {
    const tdoc *x = *(const tdoc *const *)a, *y = *(const tdoc *const *)b;
    if (x->best_rank != y->best_rank) return x->best_rank < y->best_rank ? -1 : 1;
    return strcmp(x->doc_id, y->doc_id);
}

static rw_status flush_triplets(tgroup *g, const data_mine_options *o, data_manifest *m, FILE *out,
                                int64_t *n, rw_err *err) {
    rw_status s = RW_OK;
    if (!g->anchor) return RW_OK; /* no trainable interaction in the group */
    tdoc **neg = rw_alloc_array(g->n ? g->n : 1, sizeof *neg);
    if (!neg) return rw_err_set(err, RW_E_NOMEM, "out of memory");
    size_t nn = 0;
    for (size_t i = 0; i < g->n; i++)
        if (g->d[i].evidence == 0 && g->d[i].text) neg[nn++] = &g->d[i];
    qsort(neg, nn, sizeof *neg, cmp_rank);
    size_t maxn = (size_t)o->max_negatives;
    for (size_t i = 0; i < g->n && s == RW_OK; i++) {
        tdoc *p = &g->d[i];
        if (p->evidence == 0) continue;
        if (p->evidence < o->min_evidence) {
            s = count_drop(m, "min_evidence", err);
            continue;
        }
        if (!p->text) {
            s = count_drop(m, "no_text", err);
            continue;
        }
        size_t used = 0;
        for (size_t k = 0; k < nn && used < maxn && s == RW_OK; k++) {
            if (strcmp(neg[k]->text, p->text) == 0) {
                s = count_drop(m, "duplicate", err);
                continue;
            }
            const char *ids[3] = {g->qsrc, p->src, neg[k]->src};
            if (data_manifest_admit(m, ids, 3) != DATA_GOV_OK) continue;
            json_t *j = json_object();
            if (!j) {
                s = rw_err_set(err, RW_E_NOMEM, "out of memory");
                break;
            }
            json_object_set_new(j, "anchor", json_string(g->anchor));
            json_object_set_new(j, "positive", json_string(p->text));
            json_object_set_new(j, "negative", json_string(neg[k]->text));
            json_object_set_new(j, "source", json_string(g->qsrc));
            s = emit(j, out, n, err);
            used++;
        }
        if (s == RW_OK && used == 0) s = count_drop(m, "no_hard_negative", err);
    }
    rw_free(neg);
    return s;
}

static rw_status mine_triplets(data_db *db, const data_mine_options *o, data_manifest *m, FILE *out,
                               int64_t *n, rw_err *err) {
    sqlite3_stmt *st = NULL;
    tgroup g = {0};
    rw_status s = data_prepare(
        db,
        "SELECT lower(trim(i.query)), i.id, i.query, coalesce(i.source_id, ?2), r.doc_id, r.rank,"
        " coalesce(r.text, d.text), coalesce(r.source_id, d.source_id),"
        " EXISTS(SELECT 1 FROM feedback_events e WHERE e.interaction_id = i.id"
        "        AND e.doc_id = r.doc_id AND e.kind IN ('click', 'up'))"
        " FROM interactions i JOIN retrieved r ON r.interaction_id = i.id"
        " LEFT JOIN documents d ON d.id = r.doc_id"
        " WHERE i.time >= ?1 ORDER BY 1, i.id, r.rank",
        &st, err);
    if (s != RW_OK) return s;
    sqlite3_bind_int64(st, 1, o->since);
    data_bind_text(st, 2, o->default_source);
    int rc = SQLITE_DONE;
    int64_t last_iid = -1;
    int iid_ok = 0;
    while (s == RW_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *qn = col(st, 0);
        if (!qn) qn = "";
        if (!g.qn || strcmp(g.qn, qn) != 0) {
            s = flush_triplets(&g, o, m, out, n, err);
            tgroup_clear(&g);
            if (s != RW_OK) break;
            g.qn = rw_strdup(qn);
            if (!g.qn) {
                s = rw_err_set(err, RW_E_NOMEM, "out of memory");
                break;
            }
        }
        int64_t iid = sqlite3_column_int64(st, 1);
        if (iid != last_iid) {
            last_iid = iid;
            iid_ok = query_source_ok(m, col(st, 3), &s, err);
            if (iid_ok && !g.anchor) {
                g.anchor = dup0(col(st, 2), &s, err);
                g.qsrc = dup0(col(st, 3), &s, err);
            }
        }
        if (!iid_ok) continue;
        const char *doc = col(st, 4);
        tdoc *d = NULL;
        for (size_t i = 0; i < g.n; i++)
            if (strcmp(g.d[i].doc_id, doc) == 0) d = &g.d[i];
        if (!d) {
            if (g.n == g.cap) {
                tdoc *nd = data_grow(g.d, &g.cap, sizeof *nd, 16);
                if (!nd) {
                    s = rw_err_set(err, RW_E_NOMEM, "out of memory");
                    break;
                }
                g.d = nd;
            }
            d = &g.d[g.n++];
            memset(d, 0, sizeof *d);
            d->doc_id = dup0(doc, &s, err);
            d->best_rank = sqlite3_column_int(st, 5);
            d->last_iid = -1;
        }
        if (!d->text && col(st, 6)) d->text = dup0(col(st, 6), &s, err);
        if (!d->src && col(st, 7)) d->src = dup0(col(st, 7), &s, err);
        if (sqlite3_column_int(st, 5) < d->best_rank) d->best_rank = sqlite3_column_int(st, 5);
        if (sqlite3_column_int(st, 8) && d->last_iid != iid) {
            d->evidence++;
            d->last_iid = iid;
        }
        if (!d->doc_id) s = rw_err_set(err, RW_E_NOMEM, "out of memory");
    }
    if (s == RW_OK && rc != SQLITE_DONE) s = data_sql_fail(db, err, "mine triplets");
    if (s == RW_OK) s = flush_triplets(&g, o, m, out, n, err);
    tgroup_clear(&g);
    rw_free(g.d);
    sqlite3_finalize(st);
    return s;
}

/* ---- SFT --------------------------------------------------------------------------- */

typedef struct sans {
    char *answer;
    int evidence;
} sans;

typedef struct sgroup {
    char *qn, *question, *qsrc;
    sans *a;
    size_t n, cap;
} sgroup;

static void sgroup_clear(sgroup *g) {
    for (size_t i = 0; i < g->n; i++) rw_free(g->a[i].answer);
    g->n = 0;
    rw_free(g->qn);
    rw_free(g->question);
    rw_free(g->qsrc);
    g->qn = g->question = g->qsrc = NULL;
}

static rw_status flush_sft(sgroup *g, const data_mine_options *o, data_manifest *m, FILE *out,
                           int64_t *n, rw_err *err) {
    rw_status s = RW_OK;
    for (size_t i = 0; i < g->n && s == RW_OK; i++) {
        if (g->a[i].evidence <= 0) continue; /* net down-voted: not a drop, not an example */
        if (g->a[i].evidence < o->min_evidence) {
            s = count_drop(m, "min_evidence", err);
            continue;
        }
        const char *ids[1] = {g->qsrc};
        if (data_manifest_admit(m, ids, 1) != DATA_GOV_OK) continue;
        json_t *j = json_object(), *msgs = json_array(), *u = json_object(), *a = json_object();
        if (!j || !msgs || !u || !a) {
            json_decref(j);
            json_decref(msgs);
            json_decref(u);
            json_decref(a);
            return rw_err_set(err, RW_E_NOMEM, "out of memory");
        }
        json_object_set_new(u, "role", json_string("user"));
        json_object_set_new(u, "content", json_string(g->question));
        json_object_set_new(a, "role", json_string("assistant"));
        json_object_set_new(a, "content", json_string(g->a[i].answer));
        json_array_append_new(msgs, u);
        json_array_append_new(msgs, a);
        json_object_set_new(j, "messages", msgs);
        json_object_set_new(j, "source", json_string(g->qsrc));
        s = emit(j, out, n, err);
    }
    return s;
}

static rw_status mine_sft(data_db *db, const data_mine_options *o, data_manifest *m, FILE *out,
                          int64_t *n, rw_err *err) {
    sqlite3_stmt *st = NULL;
    sgroup g = {0};
    rw_status s = data_prepare(
        db,
        "SELECT lower(trim(i.query)), i.query, i.response, coalesce(i.source_id, ?2),"
        " (SELECT count(*) FROM feedback_events e WHERE e.interaction_id = i.id"
        "   AND e.kind = 'up' AND e.doc_id IS NULL),"
        " (SELECT count(*) FROM feedback_events e WHERE e.interaction_id = i.id"
        "   AND e.kind = 'down' AND e.doc_id IS NULL),"
        " (SELECT e.text FROM feedback_events e WHERE e.interaction_id = i.id"
        "   AND e.kind = 'correction' ORDER BY e.time DESC, e.id DESC LIMIT 1)"
        " FROM interactions i WHERE i.time >= ?1 AND EXISTS(SELECT 1 FROM feedback_events e"
        "   WHERE e.interaction_id = i.id AND e.doc_id IS NULL"
        "   AND e.kind IN ('up', 'down', 'correction'))"
        " ORDER BY 1, i.id",
        &st, err);
    if (s != RW_OK) return s;
    sqlite3_bind_int64(st, 1, o->since);
    data_bind_text(st, 2, o->default_source);
    int rc = SQLITE_DONE;
    while (s == RW_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *qn = col(st, 0) ? col(st, 0) : "";
        if (!g.qn || strcmp(g.qn, qn) != 0) {
            s = flush_sft(&g, o, m, out, n, err);
            sgroup_clear(&g);
            if (s != RW_OK) break;
            g.qn = rw_strdup(qn);
            if (!g.qn) {
                s = rw_err_set(err, RW_E_NOMEM, "out of memory");
                break;
            }
        }
        if (!query_source_ok(m, col(st, 3), &s, err)) continue;
        if (!g.question) {
            g.question = dup0(col(st, 1), &s, err);
            g.qsrc = dup0(col(st, 3), &s, err);
        }
        const char *corr = col(st, 6);
        const char *answer = corr ? corr : col(st, 2);
        int ev = corr ? 1 : sqlite3_column_int(st, 4) - sqlite3_column_int(st, 5);
        if (!answer || !*answer) {
            if (ev > 0) s = count_drop(m, "no_text", err);
            continue;
        }
        sans *a = NULL;
        for (size_t i = 0; i < g.n; i++)
            if (strcmp(g.a[i].answer, answer) == 0) a = &g.a[i];
        if (!a) {
            if (g.n == g.cap) {
                sans *na = data_grow(g.a, &g.cap, sizeof *na, 8);
                if (!na) {
                    s = rw_err_set(err, RW_E_NOMEM, "out of memory");
                    break;
                }
                g.a = na;
            }
            a = &g.a[g.n++];
            a->answer = rw_strdup(answer);
            a->evidence = 0;
            if (!a->answer) {
                g.n--;
                s = rw_err_set(err, RW_E_NOMEM, "out of memory");
                break;
            }
        }
        a->evidence += ev;
    }
    if (s == RW_OK && rc != SQLITE_DONE) s = data_sql_fail(db, err, "mine sft");
    if (s == RW_OK) s = flush_sft(&g, o, m, out, n, err);
    sgroup_clear(&g);
    rw_free(g.a);
    sqlite3_finalize(st);
    return s;
}

/* ---- critic labels ----------------------------------------------------------------- */

typedef struct cjudg {
    char *key_qn, *key_doc, *question, *qsrc, *text, *dsrc;
    int net;
    int any; /* saw at least one trainable judgment */
} cjudg;

static void cj_clear(cjudg *c) {
    rw_free(c->key_qn);
    rw_free(c->key_doc);
    rw_free(c->question);
    rw_free(c->qsrc);
    rw_free(c->text);
    rw_free(c->dsrc);
    memset(c, 0, sizeof *c);
}

static rw_status flush_critic(cjudg *c, const data_mine_options *o, data_manifest *m, FILE *out,
                              int64_t *n, rw_err *err) {
    if (!c->any) return RW_OK;
    if (c->net < o->min_evidence && c->net > -o->min_evidence) return count_drop(m, "min_evidence", err);
    if (!c->text) return count_drop(m, "no_text", err);
    const char *ids[2] = {c->qsrc, c->dsrc};
    if (data_manifest_admit(m, ids, 2) != DATA_GOV_OK) return RW_OK;
    json_t *j = json_object();
    if (!j) return rw_err_set(err, RW_E_NOMEM, "out of memory");
    json_object_set_new(j, "query", json_string(c->question));
    json_object_set_new(j, "document", json_string(c->text));
    json_object_set_new(j, "label", json_integer(c->net > 0 ? 1 : 0));
    json_object_set_new(j, "source", json_string(c->qsrc));
    return emit(j, out, n, err);
}

static rw_status mine_critic(data_db *db, const data_mine_options *o, data_manifest *m, FILE *out,
                             int64_t *n, rw_err *err) {
    sqlite3_stmt *st = NULL;
    cjudg c = {0};
    rw_status s = data_prepare(
        db,
        "SELECT lower(trim(i.query)), i.query, coalesce(i.source_id, ?2), e.doc_id, e.kind,"
        " coalesce((SELECT r.text FROM retrieved r WHERE r.interaction_id = i.id"
        "           AND r.doc_id = e.doc_id ORDER BY r.rank LIMIT 1), d.text),"
        " coalesce((SELECT r.source_id FROM retrieved r WHERE r.interaction_id = i.id"
        "           AND r.doc_id = e.doc_id ORDER BY r.rank LIMIT 1), d.source_id)"
        " FROM feedback_events e JOIN interactions i ON i.id = e.interaction_id"
        " LEFT JOIN documents d ON d.id = e.doc_id"
        " WHERE i.time >= ?1 AND e.doc_id IS NOT NULL AND e.kind IN ('up', 'down')"
        " ORDER BY 1, e.doc_id, e.id",
        &st, err);
    if (s != RW_OK) return s;
    sqlite3_bind_int64(st, 1, o->since);
    data_bind_text(st, 2, o->default_source);
    int rc = SQLITE_DONE;
    while (s == RW_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *qn = col(st, 0) ? col(st, 0) : "", *doc = col(st, 3);
        if (!c.key_qn || strcmp(c.key_qn, qn) != 0 || strcmp(c.key_doc, doc) != 0) {
            s = flush_critic(&c, o, m, out, n, err);
            cj_clear(&c);
            if (s != RW_OK) break;
            c.key_qn = rw_strdup(qn);
            c.key_doc = rw_strdup(doc);
            if (!c.key_qn || !c.key_doc) {
                s = rw_err_set(err, RW_E_NOMEM, "out of memory");
                break;
            }
        }
        if (!query_source_ok(m, col(st, 2), &s, err)) continue;
        if (!c.any) {
            c.question = dup0(col(st, 1), &s, err);
            c.qsrc = dup0(col(st, 2), &s, err);
        }
        if (!c.text && col(st, 5)) c.text = dup0(col(st, 5), &s, err);
        if (!c.dsrc && col(st, 6)) c.dsrc = dup0(col(st, 6), &s, err);
        c.any = 1;
        c.net += strcmp(col(st, 4), "up") == 0 ? 1 : -1;
    }
    if (s == RW_OK && rc != SQLITE_DONE) s = data_sql_fail(db, err, "mine critic labels");
    if (s == RW_OK) s = flush_critic(&c, o, m, out, n, err);
    cj_clear(&c);
    sqlite3_finalize(st);
    return s;
}

rw_status data_mine(data_db *db, data_mine_kind kind, const data_mine_options *opt,
                    data_manifest *m, FILE *out, int64_t *n_written, rw_err *err) {
    data_mine_options o = {0};
    if (opt) o = *opt;
    if (o.min_evidence <= 0) o.min_evidence = 1;
    if (o.max_negatives <= 0) o.max_negatives = 3;
    int64_t n = 0;
    rw_status s;
    switch (kind) {
    case DATA_MINE_TRIPLETS: s = mine_triplets(db, &o, m, out, &n, err); break;
    case DATA_MINE_SFT: s = mine_sft(db, &o, m, out, &n, err); break;
    case DATA_MINE_CRITIC: s = mine_critic(db, &o, m, out, &n, err); break;
    default: return rw_err_set(err, RW_E_INVALID, "mine: bad kind %d", (int)kind);
    }
    if (s == RW_OK && fflush(out) != 0) s = rw_err_set(err, RW_E_IO, "mine: flush failed");
    if (s == RW_OK && n_written) *n_written = n;
    return s;
}
