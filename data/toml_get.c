/* TOML tree access: node views, dotted-path lookup, typed getters with positioned errors,
 * unknown-key checks for recipes, and --set overrides (data/toml.h).
 *
 * Invariants: getters never modify the doc and write *out only on success; data_toml_set
 * leaves the doc unchanged when it fails (missing tables are built detached, then attached
 * by one append). Nodes made by --set carry file "--set". */
#include "data/toml.h"

#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "data/toml_internal.h"

static const char SET_FILE[] = "--set";

/* ---- Views --------------------------------------------------------------------------- */

const data_toml_node *data_toml_root(const data_toml_doc *doc) {
    return doc->root;
}
const char *data_toml_filename(const data_toml_doc *doc) {
    return doc->filename;
}
data_toml_kind data_toml_node_kind(const data_toml_node *n) {
    return n->kind;
}
uint32_t data_toml_node_line(const data_toml_node *n) {
    return n->line;
}
uint32_t data_toml_node_col(const data_toml_node *n) {
    return n->col;
}
const char *data_toml_node_file(const data_toml_node *n) {
    return n->file;
}
const char *data_toml_node_key(const data_toml_node *n) {
    return n->key;
}

const char *data_toml_kind_name(data_toml_kind k) {
    switch (k) {
    case DATA_TOML_TABLE:
        return "table";
    case DATA_TOML_ARRAY:
        return "array";
    case DATA_TOML_STRING:
        return "string";
    case DATA_TOML_INT:
        return "integer";
    case DATA_TOML_FLOAT:
        return "float";
    case DATA_TOML_BOOL:
        return "boolean";
    }
    return "?";
}

size_t data_toml_len(const data_toml_node *n) {
    return n->kind == DATA_TOML_TABLE || n->kind == DATA_TOML_ARRAY ? n->u.v.n : 0;
}

const data_toml_node *data_toml_at(const data_toml_node *n, size_t i) {
    RW_ASSERT(i < data_toml_len(n), "data_toml_at: index %zu out of %zu", i, data_toml_len(n));
    return n->u.v.items[i];
}

const char *data_toml_key_at(const data_toml_node *tbl, size_t i) {
    RW_ASSERT(tbl->kind == DATA_TOML_TABLE, "data_toml_key_at: not a table");
    return data_toml_at(tbl, i)->key;
}

const char *data_toml_as_str(const data_toml_node *n) {
    RW_ASSERT(n->kind == DATA_TOML_STRING, "not a string: %s", data_toml_kind_name(n->kind));
    return n->u.s;
}

int64_t data_toml_as_i64(const data_toml_node *n) {
    RW_ASSERT(n->kind == DATA_TOML_INT, "not an integer: %s", data_toml_kind_name(n->kind));
    return n->u.i;
}

double data_toml_as_f64(const data_toml_node *n) {
    RW_ASSERT(n->kind == DATA_TOML_FLOAT || n->kind == DATA_TOML_INT, "not a number: %s",
              data_toml_kind_name(n->kind));
    return n->kind == DATA_TOML_FLOAT ? n->u.f : (double)n->u.i;
}

bool data_toml_as_bool(const data_toml_node *n) {
    RW_ASSERT(n->kind == DATA_TOML_BOOL, "not a boolean: %s", data_toml_kind_name(n->kind));
    return n->u.b;
}

/* Appends to buf[*w..cap) with truncation. */
static void put(char *buf, size_t cap, size_t *w, const char *s) {
    while (*s && *w + 1 < cap)
        buf[(*w)++] = *s++;
    buf[*w] = '\0';
}

static void path_rec(const data_toml_node *n, char *buf, size_t cap, size_t *w) {
    if (!n->parent) return;
    path_rec(n->parent, buf, cap, w);
    if (n->key) {
        if (n->parent->parent) put(buf, cap, w, ".");
        put(buf, cap, w, n->key);
    } else {
        size_t i = 0;
        while (i < n->parent->u.v.n && n->parent->u.v.items[i] != n)
            i++;
        char idx[32];
        snprintf(idx, sizeof idx, "[%zu]", i);
        put(buf, cap, w, idx);
    }
}

const char *data_toml_node_path(const data_toml_node *n, char *buf, size_t cap) {
    RW_ASSERT(buf != NULL && cap > 0, "data_toml_node_path: empty buffer");
    size_t w = 0;
    buf[0] = '\0';
    path_rec(n, buf, cap, &w);
    return buf;
}

/* "[train]" or "the top level" for messages. */
static const char *table_label(const data_toml_node *tbl, char *buf, size_t cap) {
    if (!tbl->parent) return "the top level";
    char path[256];
    snprintf(buf, cap, "[%s]", data_toml_node_path(tbl, path, sizeof path));
    return buf;
}

const data_toml_node *data_toml_find(const data_toml_node *tbl, const char *path) {
    RW_ASSERT(tbl != NULL && path != NULL, "data_toml_find: NULL argument");
    const data_toml_node *n = tbl;
    const char *seg = path;
    for (;;) {
        if (n->kind != DATA_TOML_TABLE) return NULL;
        const char *dot = strchr(seg, '.');
        size_t sl = dot ? (size_t)(dot - seg) : strlen(seg);
        const data_toml_node *next = NULL;
        for (size_t i = 0; i < n->u.v.n; i++) {
            const char *k = n->u.v.items[i]->key;
            if (strncmp(k, seg, sl) == 0 && k[sl] == '\0') {
                next = n->u.v.items[i];
                break;
            }
        }
        if (!next) return NULL;
        n = next;
        if (!dot) return n;
        seg = dot + 1;
    }
}

/* ---- Typed getters ------------------------------------------------------------------- */

static rw_status lookup(const data_toml_node *tbl, const char *path, data_toml_kind want,
                        bool missing_ok, const data_toml_node **out, rw_err *err) {
    RW_ASSERT(tbl != NULL && tbl->kind == DATA_TOML_TABLE && path != NULL,
              "data_toml_get: needs a table and a path");
    const data_toml_node *n = data_toml_find(tbl, path);
    if (!n) {
        if (missing_ok) {
            *out = NULL;
            return RW_OK;
        }
        char lb[300];
        return rw_err_set(err, RW_E_NOTFOUND, "%s:%u:%u: missing key '%s' in %s", tbl->file,
                          tbl->line, tbl->col, path, table_label(tbl, lb, sizeof lb));
    }
    bool ok = n->kind == want || (want == DATA_TOML_FLOAT && n->kind == DATA_TOML_INT);
    if (!ok) {
        char full[256];
        return rw_err_set(err, RW_E_FORMAT, "%s:%u:%u: key '%s' must be %s %s, found %s", n->file,
                          n->line, n->col, data_toml_node_path(n, full, sizeof full),
                          want == DATA_TOML_INT || want == DATA_TOML_ARRAY ? "an" : "a",
                          data_toml_kind_name(want), data_toml_kind_name(n->kind));
    }
    *out = n;
    return RW_OK;
}

rw_status data_toml_get_str(const data_toml_node *tbl, const char *path, const char **out,
                            rw_err *err) {
    const data_toml_node *n;
    rw_status st = lookup(tbl, path, DATA_TOML_STRING, false, &n, err);
    if (st) return st;
    *out = n->u.s;
    return RW_OK;
}

rw_status data_toml_get_str_or(const data_toml_node *tbl, const char *path, const char *dflt,
                               const char **out, rw_err *err) {
    const data_toml_node *n;
    rw_status st = lookup(tbl, path, DATA_TOML_STRING, true, &n, err);
    if (st) return st;
    *out = n ? n->u.s : dflt;
    return RW_OK;
}

#define TOML_GETTERS(name, ctype, kind, expr)                                                      \
    rw_status data_toml_get_##name##_or(const data_toml_node *tbl, const char *path, ctype dflt,   \
                                        ctype *out, rw_err *err) {                                 \
        const data_toml_node *n;                                                                   \
        rw_status st = lookup(tbl, path, kind, true, &n, err);                                     \
        if (st) return st;                                                                         \
        *out = n ? (expr) : dflt;                                                                  \
        return RW_OK;                                                                              \
    }                                                                                              \
    rw_status data_toml_get_##name(const data_toml_node *tbl, const char *path, ctype *out,        \
                                   rw_err *err) {                                                  \
        const data_toml_node *n;                                                                   \
        rw_status st = lookup(tbl, path, kind, false, &n, err);                                    \
        if (st) return st;                                                                         \
        *out = (expr);                                                                             \
        return RW_OK;                                                                              \
    }

TOML_GETTERS(i64, int64_t, DATA_TOML_INT, n->u.i)
TOML_GETTERS(f64, double, DATA_TOML_FLOAT, data_toml_as_f64(n))
TOML_GETTERS(bool, bool, DATA_TOML_BOOL, n->u.b)

rw_status data_toml_get_table(const data_toml_node *tbl, const char *path,
                              const data_toml_node **out, rw_err *err) {
    return lookup(tbl, path, DATA_TOML_TABLE, false, out, err);
}

rw_status data_toml_get_array(const data_toml_node *tbl, const char *path,
                              const data_toml_node **out, rw_err *err) {
    return lookup(tbl, path, DATA_TOML_ARRAY, false, out, err);
}

/* ---- Unknown keys -------------------------------------------------------------------- */

rw_status data_toml_check_keys(const data_toml_node *tbl, const char *const allowed[], size_t n,
                               rw_err *err) {
    RW_ASSERT(tbl != NULL && tbl->kind == DATA_TOML_TABLE, "data_toml_check_keys: not a table");
    for (size_t i = 0; i < tbl->u.v.n; i++) {
        const data_toml_node *c = tbl->u.v.items[i];
        bool ok = false;
        for (size_t k = 0; k < n && !ok; k++)
            ok = strcmp(c->key, allowed[k]) == 0;
        if (ok) continue;
        char list[300], lb[300];
        size_t w = 0;
        list[0] = '\0';
        for (size_t k = 0; k < n; k++) {
            if (k) put(list, sizeof list, &w, ", ");
            put(list, sizeof list, &w, allowed[k]);
        }
        if (n == 0) put(list, sizeof list, &w, "none");
        return rw_err_set(err, RW_E_FORMAT, "unknown key '%s' in %s at %s:%u:%u (allowed: %s)",
                          c->key, table_label(tbl, lb, sizeof lb), c->file, c->line, c->col, list);
    }
    return RW_OK;
}

/* ---- --set overrides ----------------------------------------------------------------- */

static int kind_class(data_toml_kind k) {
    switch (k) {
    case DATA_TOML_STRING:
        return 0;
    case DATA_TOML_INT:
    case DATA_TOML_FLOAT:
        return 1;
    case DATA_TOML_BOOL:
        return 2;
    case DATA_TOML_ARRAY:
        return 3;
    case DATA_TOML_TABLE:
        return 4;
    }
    return -1;
}

/* Bare-word fallback: the trimmed value as a string node, or NULL when it does not qualify
 * (empty, starts like a TOML string/array/table, or holds control characters). */
static data_toml_node *bare_word(const char *v, size_t len, size_t at, bool *oom) {
    *oom = false;
    while (len && (*v == ' ' || *v == '\t'))
        v++, len--, at++;
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (!len || strchr("\"'[{", v[0])) return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7F) return NULL;
    }
    data_toml_node *n = toml_node_new(DATA_TOML_STRING, SET_FILE, 1, (uint32_t)(at + 1));
    if (n) n->u.s = rw_strndup(v, len);
    if (!n || !n->u.s) {
        toml_node_free(n);
        *oom = true;
        return NULL;
    }
    return n;
}

rw_status data_toml_set(data_toml_doc *doc, const char *assignment, rw_err *err) {
    RW_ASSERT(doc != NULL && assignment != NULL, "data_toml_set: NULL argument");
    size_t len = strlen(assignment);
    char **keys = NULL;
    size_t nk = 0, at = 0;
    data_toml_node *val = NULL, *chain = NULL;
    char keyname[256];
    rw_status st = toml_parse_set_key(assignment, len, SET_FILE, &keys, &nk, &at, err);
    if (st) {
        if (st == RW_E_NOMEM) return st;
        if (err) err->code = RW_E_INVALID;
        return RW_E_INVALID;
    }
    size_t w = 0;
    keyname[0] = '\0';
    for (size_t i = 0; i < nk; i++) {
        if (i) put(keyname, sizeof keyname, &w, ".");
        put(keyname, sizeof keyname, &w, keys[i]);
    }
    /* Walk the existing prefix. */
    data_toml_node *tbl = doc->root;
    size_t i = 0;
    for (; i + 1 < nk; i++) {
        data_toml_node *c = toml_table_get(tbl, keys[i]);
        if (!c) break;
        if (c->kind != DATA_TOML_TABLE) {
            st = rw_err_set(err, RW_E_INVALID, "--set %s: '%s' is %s %s (%s:%u:%u), not a table",
                            keyname, keys[i],
                            c->kind == DATA_TOML_ARRAY && (c->flags & TOML_F_AOT)    ? "an"
                            : c->kind == DATA_TOML_INT || c->kind == DATA_TOML_ARRAY ? "an"
                                                                                     : "a",
                            c->kind == DATA_TOML_ARRAY && (c->flags & TOML_F_AOT)
                                ? "array of tables"
                                : data_toml_kind_name(c->kind),
                            c->file, c->line, c->col);
            goto fail;
        }
        tbl = c;
    }
    st = toml_parse_set_value(assignment, len, at, SET_FILE, keyname, (int)nk - 1, &val, err);
    if (st == RW_E_FORMAT || st == RW_E_UNSUPPORTED) {
        bool oom;
        val = bare_word(assignment + at, len - at, at, &oom);
        if (oom) {
            st = rw_err_set(err, RW_E_NOMEM, "--set %s: out of memory", keyname);
            goto fail;
        }
        if (val) st = RW_OK;
    }
    if (st) {
        if (st != RW_E_NOMEM && err) err->code = RW_E_INVALID;
        st = st == RW_E_NOMEM ? st : RW_E_INVALID;
        goto fail;
    }
    val->line = 1;
    if (i + 1 == nk) { /* the parent table exists */
        data_toml_node *old = toml_table_get(tbl, keys[nk - 1]);
        if (old) {
            if (kind_class(old->kind) != kind_class(val->kind)) {
                st = rw_err_set(err, RW_E_INVALID,
                                "--set %s: cannot replace %s (%s:%u:%u) with %s; the value class "
                                "(string, number, boolean, array, table) must stay the same",
                                keyname, data_toml_kind_name(old->kind), old->file, old->line,
                                old->col, data_toml_kind_name(val->kind));
                goto fail;
            }
            size_t idx = 0;
            while (tbl->u.v.items[idx] != old)
                idx++;
            val->key = old->key;
            old->key = NULL;
            val->parent = tbl;
            tbl->u.v.items[idx] = val;
            toml_node_free(old);
            toml_free_keys(keys, nk);
            return RW_OK;
        }
    }
    /* Build the missing tables keys[i..nk-1) detached, the value at the bottom. */
    val->key = keys[nk - 1];
    keys[nk - 1] = NULL;
    chain = val;
    for (size_t k = nk - 1; k-- > i;) {
        data_toml_node *t = toml_node_new(DATA_TOML_TABLE, SET_FILE, 1, 1);
        if (!t || !toml_node_append(t, chain)) {
            toml_node_free(t);
            st = rw_err_set(err, RW_E_NOMEM, "--set %s: out of memory", keyname);
            goto fail;
        }
        t->flags = TOML_F_DOTTED;
        t->key = keys[k];
        keys[k] = NULL;
        chain = t;
    }
    if (!toml_node_append(tbl, chain)) {
        st = rw_err_set(err, RW_E_NOMEM, "--set %s: out of memory", keyname);
        goto fail;
    }
    toml_free_keys(keys, nk);
    return RW_OK;
fail:
    toml_node_free(chain ? chain : val);
    toml_free_keys(keys, nk);
    return st;
}
