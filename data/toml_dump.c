/* Canonical TOML serializer: the same tree always gives the same bytes, so sha256 of the
 * dump identifies a recipe in checkpoints and reports (data/toml.h).
 *
 * Form: keys sorted bytewise (strcmp) at every level. A table prints its scalar and array
 * values first ("key = value"), then each sub-table under a "[path]" header and each
 * non-empty array whose items are all tables as "[[path]]" blocks; tables elsewhere (inside
 * arrays) print inline "{ k = v }". Strings are basic strings escaping only '"', '\\' and
 * control characters; floats use the shortest %.{1..17}g that reads back exactly, with ".0"
 * added when needed so they stay floats. Recursion depth is bounded by TOML_MAX_DEPTH. */
#include "data/toml.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "data/strbuf.h"
#include "data/toml_internal.h"

static void out_string(data_strbuf *b, const char *s) {
    data_strbuf_puts(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        switch (c) {
        case '"':
            data_strbuf_puts(b, "\\\"");
            break;
        case '\\':
            data_strbuf_puts(b, "\\\\");
            break;
        case '\b':
            data_strbuf_puts(b, "\\b");
            break;
        case '\t':
            data_strbuf_puts(b, "\\t");
            break;
        case '\n':
            data_strbuf_puts(b, "\\n");
            break;
        case '\f':
            data_strbuf_puts(b, "\\f");
            break;
        case '\r':
            data_strbuf_puts(b, "\\r");
            break;
        default:
            if (c < 0x20 || c == 0x7F) {
                snprintf(esc, sizeof esc, "\\u%04X", c);
                data_strbuf_puts(b, esc);
            } else {
                data_strbuf_put(b, (const char *)&c, 1);
            }
        }
    }
    data_strbuf_puts(b, "\"");
}

static void out_key(data_strbuf *b, const char *k) {
    bool bare = *k != '\0';
    for (const char *s = k; *s && bare; s++) {
        char c = *s;
        bare = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    }
    if (bare)
        data_strbuf_puts(b, k);
    else
        out_string(b, k);
}

static void out_float(data_strbuf *b, double v) {
    char buf[40];
    if (isnan(v)) {
        data_strbuf_puts(b, "nan");
        return;
    }
    if (isinf(v)) {
        data_strbuf_puts(b, v < 0 ? "-inf" : "inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    data_strbuf_puts(b, buf);
    if (!strpbrk(buf, ".e")) data_strbuf_puts(b, ".0");
}

static int cmp_key(const void *a, const void *b) {
    const data_toml_node *x = *(const data_toml_node *const *)a;
    const data_toml_node *y = *(const data_toml_node *const *)b;
    return strcmp(x->key, y->key);
}

/* The table's children sorted by key (owned by the caller), or NULL (failed set) on failure. */
static data_toml_node **sorted(data_strbuf *b, const data_toml_node *tbl) {
    size_t n = tbl->u.v.n;
    data_toml_node **s = rw_alloc_array(n ? n : 1, sizeof *s);
    if (!s) {
        b->failed = true;
        return NULL;
    }
    if (n) memcpy(s, tbl->u.v.items, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_key);
    return s;
}

static void out_value(data_strbuf *b, const data_toml_node *n);

static void out_inline_table(data_strbuf *b, const data_toml_node *t) {
    if (t->u.v.n == 0) {
        data_strbuf_puts(b, "{}");
        return;
    }
    data_toml_node **s = sorted(b, t);
    if (!s) return;
    data_strbuf_puts(b, "{ ");
    for (size_t i = 0; i < t->u.v.n; i++) {
        if (i) data_strbuf_puts(b, ", ");
        out_key(b, s[i]->key);
        data_strbuf_puts(b, " = ");
        out_value(b, s[i]);
    }
    data_strbuf_puts(b, " }");
    rw_free(s);
}

static void out_value(data_strbuf *b, const data_toml_node *n) {
    char buf[32];
    switch (n->kind) {
    case DATA_TOML_STRING:
        out_string(b, n->u.s);
        break;
    case DATA_TOML_INT:
        snprintf(buf, sizeof buf, "%" PRId64, n->u.i);
        data_strbuf_puts(b, buf);
        break;
    case DATA_TOML_FLOAT:
        out_float(b, n->u.f);
        break;
    case DATA_TOML_BOOL:
        data_strbuf_puts(b, n->u.b ? "true" : "false");
        break;
    case DATA_TOML_ARRAY:
        data_strbuf_puts(b, "[");
        for (size_t i = 0; i < n->u.v.n; i++) {
            if (i) data_strbuf_puts(b, ", ");
            out_value(b, n->u.v.items[i]);
        }
        data_strbuf_puts(b, "]");
        break;
    case DATA_TOML_TABLE:
        out_inline_table(b, n);
        break;
    }
}

static bool is_aot(const data_toml_node *n) {
    if (n->kind != DATA_TOML_ARRAY || n->u.v.n == 0) return false;
    for (size_t i = 0; i < n->u.v.n; i++)
        if (n->u.v.items[i]->kind != DATA_TOML_TABLE) return false;
    return true;
}

/* Header path of a sub-table: prefix (already rendered) + "." + key. */
static char *join_path(data_strbuf *b, const char *prefix, const char *key) {
    data_strbuf p = {0};
    if (*prefix) {
        data_strbuf_puts(&p, prefix);
        data_strbuf_puts(&p, ".");
    }
    out_key(&p, key);
    if (p.failed) {
        data_strbuf_deinit(&p);
        b->failed = true;
        return NULL;
    }
    return p.s;
}

static void out_table_body(data_strbuf *b, const data_toml_node *t, const char *path) {
    data_toml_node **s = sorted(b, t);
    if (!s) return;
    size_t n = t->u.v.n;
    for (size_t i = 0; i < n; i++) {
        if (s[i]->kind == DATA_TOML_TABLE || is_aot(s[i])) continue;
        out_key(b, s[i]->key);
        data_strbuf_puts(b, " = ");
        out_value(b, s[i]);
        data_strbuf_puts(b, "\n");
    }
    for (size_t i = 0; i < n && !b->failed; i++) {
        bool tbl = s[i]->kind == DATA_TOML_TABLE;
        if (!tbl && !is_aot(s[i])) continue;
        char *sub = join_path(b, path, s[i]->key);
        if (!sub) break;
        if (tbl) {
            if (b->n) data_strbuf_puts(b, "\n");
            data_strbuf_puts(b, "[");
            data_strbuf_puts(b, sub);
            data_strbuf_puts(b, "]\n");
            out_table_body(b, s[i], sub);
        } else {
            for (size_t k = 0; k < s[i]->u.v.n; k++) {
                if (b->n) data_strbuf_puts(b, "\n");
                data_strbuf_puts(b, "[[");
                data_strbuf_puts(b, sub);
                data_strbuf_puts(b, "]]\n");
                out_table_body(b, s[i]->u.v.items[k], sub);
            }
        }
        rw_free(sub);
    }
    rw_free(s);
}

rw_status data_toml_dump_str(const data_toml_doc *doc, char **outp, size_t *len, rw_err *err) {
    RW_ASSERT(doc != NULL && outp != NULL, "data_toml_dump_str: NULL argument");
    data_strbuf b = {0};
    data_strbuf_puts(&b, "");
    out_table_body(&b, doc->root, "");
    if (b.failed) {
        data_strbuf_deinit(&b);
        return rw_err_set(err, RW_E_NOMEM, "%s: out of memory while dumping", doc->filename);
    }
    *outp = b.s;
    if (len) *len = b.n;
    return RW_OK;
}

rw_status data_toml_dump(const data_toml_doc *doc, FILE *f, rw_err *err) {
    char *text;
    size_t n;
    rw_status st = data_toml_dump_str(doc, &text, &n, err);
    if (st) return st;
    if (fwrite(text, 1, n, f) != n || fflush(f) != 0)
        st = rw_err_set(err, RW_E_IO, "%s: cannot write the dump", doc->filename);
    rw_free(text);
    return st;
}
