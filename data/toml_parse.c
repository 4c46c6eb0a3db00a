/* TOML 1.0 lexer and parser for recipes: text -> node tree (data/toml.h).
 *
 * Reference: the TOML 1.0.0 specification (toml.io/en/v1.0.0), followed exactly for what is
 * supported; dates/times are rejected and U+0000 is refused in strings (see toml.h).
 * Invariants: the input is validated as UTF-8 before parsing, so the lexer may step over any
 * byte >= 0x80 as part of a string or comment. Line and column are computed lazily from byte
 * offsets (column counts code points). Nesting of tables, arrays and inline tables is capped
 * at TOML_MAX_DEPTH so freeing and dumping recurse boundedly. The first error wins: every
 * function returns the status and leaves the message in p->err. */
#include "data/toml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "data/file.h"
#include "data/strbuf.h"
#include "data/toml_internal.h"
#include "data/utf8.h"

/* ---- Nodes --------------------------------------------------------------------------- */

data_toml_node *toml_node_new(data_toml_kind kind, const char *file, uint32_t line, uint32_t col) {
    data_toml_node *n = rw_calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->file = file;
    n->line = line;
    n->col = col;
    return n;
}

void toml_node_free(data_toml_node *n) {
    if (!n) return;
    if (n->kind == DATA_TOML_TABLE || n->kind == DATA_TOML_ARRAY) {
        for (size_t i = 0; i < n->u.v.n; i++)
            toml_node_free(n->u.v.items[i]);
        rw_free(n->u.v.items);
    } else if (n->kind == DATA_TOML_STRING) {
        rw_free(n->u.s);
    }
    rw_free(n->key);
    rw_free(n);
}

bool toml_node_append(data_toml_node *parent, data_toml_node *child) {
    if (parent->u.v.n == parent->u.v.cap) {
        data_toml_node **items = data_grow(parent->u.v.items, &parent->u.v.cap, sizeof *items, 4);
        if (!items) return false;
        parent->u.v.items = items;
    }
    parent->u.v.items[parent->u.v.n++] = child;
    child->parent = parent;
    return true;
}

data_toml_node *toml_table_get(const data_toml_node *tbl, const char *key) {
    for (size_t i = 0; i < tbl->u.v.n; i++)
        if (strcmp(tbl->u.v.items[i]->key, key) == 0) return tbl->u.v.items[i];
    return NULL;
}

void toml_free_keys(char **keys, size_t n) {
    if (!keys) return;
    for (size_t i = 0; i < n; i++)
        rw_free(keys[i]);
    rw_free(keys);
}

/* ---- Parser state and errors --------------------------------------------------------- */

typedef struct toml_parser {
    const char *s;
    size_t len, pos;
    const char *file;
    rw_err *err;
    /* Lazy line:col cache: position lc_pos is at line lc_line, column lc_col. */
    size_t lc_pos;
    uint32_t lc_line, lc_col;
    data_toml_node *cur; /* table receiving key/values */
    int cur_depth;       /* nesting depth of cur (root 0) */
    int depth;           /* nesting depth while parsing a value */
    char keyname[160];   /* last key, dotted, for messages */
} toml_parser;

/* A source position: byte offset plus its line:col, taken while the cursor is there so that
 * the lazy line:col cache only ever moves forward on the success path. */
typedef struct tpos {
    size_t off;
    uint32_t line, col;
} tpos;

static uint32_t sat_inc(uint32_t v) {
    return v == UINT32_MAX ? v : v + 1;
}

static void locate(toml_parser *p, size_t pos, uint32_t *line, uint32_t *col) {
    if (pos > p->len) pos = p->len;
    if (pos < p->lc_pos) {
        p->lc_pos = 0;
        p->lc_line = 1;
        p->lc_col = 1;
    }
    while (p->lc_pos < pos) {
        unsigned char c = (unsigned char)p->s[p->lc_pos++];
        if (c == '\n') {
            p->lc_line = sat_inc(p->lc_line);
            p->lc_col = 1;
        } else if ((c & 0xC0) != 0x80) {
            p->lc_col = sat_inc(p->lc_col);
        }
    }
    *line = p->lc_line;
    *col = p->lc_col;
}

__attribute__((format(printf, 4, 5))) static rw_status perr(toml_parser *p, size_t pos,
                                                            rw_status code, const char *fmt, ...) {
    char msg[RW_ERR_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    uint32_t line, col;
    locate(p, pos, &line, &col);
    return rw_err_set(p->err, code, "%s:%u:%u: %s", p->file, line, col, msg);
}

static tpos mark(toml_parser *p) {
    tpos t = {.off = p->pos};
    locate(p, p->pos, &t.line, &t.col);
    return t;
}

static rw_status nomem(toml_parser *p) {
    return perr(p, p->pos, RW_E_NOMEM, "out of memory");
}

/* Describes the character at pos for "found ..." messages. */
static const char *describe(const toml_parser *p, size_t pos, char *buf, size_t cap) {
    if (pos >= p->len) return "end of file";
    unsigned char c = (unsigned char)p->s[pos];
    if (c == '\n' || (c == '\r' && pos + 1 < p->len && p->s[pos + 1] == '\n')) return "end of line";
    if (c < 0x20 || c == 0x7F) {
        snprintf(buf, cap, "control character U+%04X", c);
    } else if (c < 0x80) {
        snprintf(buf, cap, "'%c'", c);
    } else {
        size_t n = 1;
        while (pos + n < p->len && n < 4 && ((unsigned char)p->s[pos + n] & 0xC0) == 0x80)
            n++;
        snprintf(buf, cap, "'%.*s'", (int)n, p->s + pos);
    }
    return buf;
}

/* ---- UTF-8 --------------------------------------------------------------------------- */

static size_t utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- Lexical helpers ----------------------------------------------------------------- */

static int peek(const toml_parser *p, size_t off) {
    return p->pos + off < p->len ? (unsigned char)p->s[p->pos + off] : -1;
}

static bool at_newline(const toml_parser *p) {
    int c = peek(p, 0);
    return c == '\n' || (c == '\r' && peek(p, 1) == '\n');
}

static void eat_newline(toml_parser *p) {
    p->pos += peek(p, 0) == '\r' ? 2 : 1;
}

static void skip_ws(toml_parser *p) {
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t'))
        p->pos++;
}

static bool is_bad_control(int c) {
    return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7F;
}

/* Skips a comment when one starts here; stops before its newline. */
static rw_status skip_comment(toml_parser *p) {
    if (peek(p, 0) != '#') return RW_OK;
    p->pos++;
    while (p->pos < p->len && !at_newline(p)) {
        int c = peek(p, 0);
        if (is_bad_control(c))
            return perr(p, p->pos, RW_E_FORMAT, "control character U+%04X in comment", (unsigned)c);
        p->pos++;
    }
    return RW_OK;
}

/* Skips blanks, newlines and comments (inside arrays). */
static rw_status skip_ws_nl(toml_parser *p) {
    for (;;) {
        skip_ws(p);
        if (peek(p, 0) == '#') {
            rw_status st = skip_comment(p);
            if (st) return st;
        } else if (at_newline(p)) {
            eat_newline(p);
        } else {
            return RW_OK;
        }
    }
}

/* After a value or header: blanks, an optional comment, then a newline or end of file. */
static rw_status expect_eol(toml_parser *p, const char *after) {
    skip_ws(p);
    rw_status st = skip_comment(p);
    if (st) return st;
    if (p->pos >= p->len) return RW_OK;
    if (at_newline(p)) {
        eat_newline(p);
        return RW_OK;
    }
    char buf[32];
    return perr(p, p->pos, RW_E_FORMAT, "expected end of line after %s, found %s", after,
                describe(p, p->pos, buf, sizeof buf));
}

/* ---- Strings ------------------------------------------------------------------------- */

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One escape after the backslash at p->pos. */
static rw_status parse_escape(toml_parser *p, data_strbuf *b) {
    size_t at = p->pos;
    int c = peek(p, 1);
    char ch;
    switch (c) {
    case 'b':
        ch = '\b';
        break;
    case 't':
        ch = '\t';
        break;
    case 'n':
        ch = '\n';
        break;
    case 'f':
        ch = '\f';
        break;
    case 'r':
        ch = '\r';
        break;
    case '"':
        ch = '"';
        break;
    case '\\':
        ch = '\\';
        break;
    case 'u':
    case 'U': {
        size_t nd = c == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (size_t k = 0; k < nd; k++) {
            int h = hexval(peek(p, 2 + k));
            if (h < 0)
                return perr(p, at, RW_E_FORMAT, "escape \\%c needs exactly %zu hex digits", c, nd);
            if (cp > 0x10FFFF) continue; /* already invalid; avoid overflow */
            cp = cp * 16 + (uint32_t)h;
        }
        if (cp > 0x10FFFF)
            return perr(p, at, RW_E_FORMAT, "escape \\%c%.*s is beyond U+10FFFF", c, (int)nd,
                        p->s + at + 2);
        if (cp >= 0xD800 && cp <= 0xDFFF)
            return perr(p, at, RW_E_FORMAT, "escape \\%c%.*s is a surrogate, not a scalar value", c,
                        (int)nd, p->s + at + 2);
        if (cp == 0)
            return perr(p, at, RW_E_FORMAT, "U+0000 in a string is not supported in recipes");
        char u8[4];
        if (!data_strbuf_put(b, u8, utf8_encode(cp, u8))) return nomem(p);
        p->pos += 2 + nd;
        return RW_OK;
    }
    default: {
        char buf[32];
        return perr(p, at, RW_E_FORMAT, "invalid escape: backslash followed by %s",
                    describe(p, at + 1, buf, sizeof buf));
    }
    }
    if (!data_strbuf_putc(b, ch)) return nomem(p);
    p->pos += 2;
    return RW_OK;
}

/* Basic ("...") or literal ('...') string, single- or multi-line; p->pos at the first quote.
 * *out is owned by the caller on success. */
static rw_status parse_string(toml_parser *p, bool allow_multi, char **out) {
    size_t start = p->pos;
    char q = p->s[p->pos];
    bool basic = q == '"';
    bool multi = allow_multi && peek(p, 1) == q && peek(p, 2) == q;
    data_strbuf b = {0};
    rw_status st = RW_OK;
    if (!data_strbuf_put(&b, "", 0)) return nomem(p);
    p->pos += multi ? 3 : 1;
    if (multi && at_newline(p)) eat_newline(p); /* a newline right after the opener is trimmed */
    for (;;) {
        int c = peek(p, 0);
        if (c < 0) {
            st = perr(p, start, RW_E_FORMAT, "unterminated string");
            goto fail;
        }
        if (c == q) {
            if (!multi) {
                p->pos++;
                break;
            }
            size_t nq = 0;
            while (peek(p, nq) == q)
                nq++;
            if (nq >= 3) { /* up to two quotes may sit just before the closing delimiter */
                size_t extra = nq - 3 > 2 ? 2 : nq - 3;
                for (size_t k = 0; k < extra; k++)
                    if (!data_strbuf_putc(&b, q)) goto oom;
                p->pos += extra + 3;
                break;
            }
            for (size_t k = 0; k < nq; k++)
                if (!data_strbuf_putc(&b, q)) goto oom;
            p->pos += nq;
            continue;
        }
        if (at_newline(p)) {
            if (!multi) {
                st = perr(p, p->pos, RW_E_FORMAT, "newline in a single-line string");
                goto fail;
            }
            eat_newline(p); /* CRLF is normalised to LF so dumps do not depend on the platform */
            if (!data_strbuf_putc(&b, '\n')) goto oom;
            continue;
        }
        if (is_bad_control(c)) {
            st = perr(p, p->pos, RW_E_FORMAT, "control character U+%04X in a string (escape it)",
                      (unsigned)c);
            goto fail;
        }
        if (c == '\\' && basic) {
            if (multi) { /* line-ending backslash: trims blanks and newlines up to the next text */
                size_t k = 1;
                while (peek(p, k) == ' ' || peek(p, k) == '\t')
                    k++;
                int d = peek(p, k);
                if (d == '\n' || (d == '\r' && peek(p, k + 1) == '\n')) {
                    p->pos += k;
                    for (;;) {
                        skip_ws(p);
                        if (!at_newline(p)) break;
                        eat_newline(p);
                    }
                    continue;
                }
            }
            st = parse_escape(p, &b);
            if (st) goto fail;
            continue;
        }
        if (!data_strbuf_putc(&b, (char)c)) goto oom;
        p->pos++;
    }
    *out = b.s;
    return RW_OK;
oom:
    st = nomem(p);
fail:
    data_strbuf_deinit(&b);
    return st;
}

/* ---- Keys ---------------------------------------------------------------------------- */

static bool is_bare(int c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static rw_status parse_simple_key(toml_parser *p, char **out) {
    int c = peek(p, 0);
    if (c == '"' || c == '\'') return parse_string(p, false, out);
    size_t start = p->pos;
    while (is_bare(peek(p, 0)))
        p->pos++;
    if (p->pos == start) {
        char buf[32];
        return perr(p, start, RW_E_FORMAT, "expected a key, found %s",
                    describe(p, start, buf, sizeof buf));
    }
    char *k = rw_strndup(p->s + start, p->pos - start);
    if (!k) return nomem(p);
    *out = k;
    return RW_OK;
}

/* Dotted key: simple keys joined by '.', blanks allowed around dots. On success *keys (owned,
 * *nk entries) and kpos[] (byte offset of each segment, up to TOML_MAX_DEPTH). */
static rw_status parse_key(toml_parser *p, char ***keys, size_t *nk, tpos *kpos) {
    char **ks = NULL;
    size_t n = 0;
    rw_status st;
    for (;;) {
        if (n == TOML_MAX_DEPTH) {
            st = perr(p, p->pos, RW_E_RANGE, "dotted key has more than %d parts", TOML_MAX_DEPTH);
            goto fail;
        }
        char **grown = rw_realloc(ks, (n + 1) * sizeof *ks);
        if (!grown) {
            st = nomem(p);
            goto fail;
        }
        ks = grown;
        kpos[n] = mark(p);
        st = parse_simple_key(p, &ks[n]);
        if (st) goto fail;
        n++;
        skip_ws(p);
        if (peek(p, 0) != '.') break;
        p->pos++;
        skip_ws(p);
    }
    /* Message context: the dotted key as written (simplified, truncated). */
    size_t w = 0;
    p->keyname[0] = '\0';
    for (size_t i = 0; i < n && w + 1 < sizeof p->keyname; i++) {
        int r = snprintf(p->keyname + w, sizeof p->keyname - w, "%s%s", i ? "." : "", ks[i]);
        if (r < 0) break;
        w += (size_t)r;
    }
    *keys = ks;
    *nk = n;
    return RW_OK;
fail:
    toml_free_keys(ks, n);
    return st;
}

/* ---- Numbers, booleans --------------------------------------------------------------- */

static bool is_digit_base(int c, int base) {
    if (base == 16) return hexval(c) >= 0;
    if (base == 8) return c >= '0' && c <= '7';
    if (base == 2) return c == '0' || c == '1';
    return c >= '0' && c <= '9';
}

/* Digits of `base` where each '_' sits between two digits; advances *i. */
static bool scan_digits(const char *t, size_t n, size_t *i, int base) {
    if (*i >= n || !is_digit_base((unsigned char)t[*i], base)) return false;
    while (*i < n) {
        int c = (unsigned char)t[*i];
        if (is_digit_base(c, base)) {
            (*i)++;
        } else if (c == '_' && *i + 1 < n && is_digit_base((unsigned char)t[*i + 1], base)) {
            (*i)++;
        } else {
            break;
        }
    }
    return true;
}

static bool is_num_char(int c) {
    return is_bare(c) || c == '+' || c == '.';
}

static rw_status parse_number(toml_parser *p, data_toml_node *n) {
    size_t start = p->pos;
    size_t tn = 0;
    while (start + tn < p->len && is_num_char((unsigned char)p->s[start + tn]))
        tn++;
    const char *t = p->s + start;
    p->pos = start + tn;

    size_t i = 0;
    bool neg = false, sign = false;
    if (tn && (t[0] == '+' || t[0] == '-')) {
        neg = t[0] == '-';
        sign = true;
        i = 1;
    }
    /* Dates and times (1979-05-27, 07:32:00) are outside the recipe subset. */
    if (!sign) {
        size_t d = 0;
        while (start + d < p->len && p->s[start + d] >= '0' && p->s[start + d] <= '9')
            d++;
        char after = start + d < p->len ? p->s[start + d] : '\0';
        if ((d == 4 && after == '-') || (d == 2 && after == ':'))
            return perr(p, start, RW_E_UNSUPPORTED,
                        "dates and times are not supported in recipes (key '%s')", p->keyname);
    }
    if (tn - i == 3 && (memcmp(t + i, "inf", 3) == 0 || memcmp(t + i, "nan", 3) == 0)) {
        n->kind = DATA_TOML_FLOAT;
        n->u.f = t[i] == 'i' ? (double)INFINITY : (double)NAN;
        if (neg) n->u.f = -n->u.f;
        return RW_OK;
    }
    if (tn - i >= 2 && t[i] == '0' && (t[i + 1] == 'x' || t[i + 1] == 'o' || t[i + 1] == 'b')) {
        int base = t[i + 1] == 'x' ? 16 : t[i + 1] == 'o' ? 8 : 2;
        if (sign)
            return perr(p, start, RW_E_FORMAT, "sign not allowed on '%.*s' (key '%s')", (int)tn, t,
                        p->keyname);
        size_t j = i + 2;
        if (!scan_digits(t, tn, &j, base) || j != tn)
            return perr(p, start, RW_E_FORMAT, "invalid integer '%.*s' (key '%s')", (int)tn, t,
                        p->keyname);
        uint64_t v = 0;
        for (size_t k = i + 2; k < tn; k++) {
            if (t[k] == '_') continue;
            uint64_t d = (uint64_t)hexval((unsigned char)t[k]);
            if (v > ((uint64_t)INT64_MAX - d) / (uint64_t)base)
                return perr(p, start, RW_E_RANGE, "integer '%.*s' overflows int64 (key '%s')",
                            (int)tn, t, p->keyname);
            v = v * (uint64_t)base + d;
        }
        n->kind = DATA_TOML_INT;
        n->u.i = (int64_t)v;
        return RW_OK;
    }
    size_t j = i;
    if (!scan_digits(t, tn, &j, 10))
        return perr(p, start, RW_E_FORMAT, "invalid number '%.*s' (key '%s')", (int)tn, t,
                    p->keyname);
    if (t[i] == '0' && j - i > 1)
        return perr(p, start, RW_E_FORMAT, "leading zero in '%.*s' (key '%s')", (int)tn, t,
                    p->keyname);
    size_t int_end = j;
    bool is_float = false;
    if (j < tn && t[j] == '.') {
        j++;
        if (!scan_digits(t, tn, &j, 10))
            return perr(p, start, RW_E_FORMAT,
                        "invalid float '%.*s': a digit must follow '.' (key '%s')", (int)tn, t,
                        p->keyname);
        is_float = true;
    }
    if (j < tn && (t[j] == 'e' || t[j] == 'E')) {
        j++;
        if (j < tn && (t[j] == '+' || t[j] == '-')) j++;
        if (!scan_digits(t, tn, &j, 10))
            return perr(p, start, RW_E_FORMAT, "invalid float exponent in '%.*s' (key '%s')",
                        (int)tn, t, p->keyname);
        is_float = true;
    }
    if (j != tn)
        return perr(p, start, RW_E_FORMAT, "invalid number '%.*s' (key '%s')", (int)tn, t,
                    p->keyname);
    if (!is_float) {
        uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (size_t k = i; k < int_end; k++) {
            if (t[k] == '_') continue;
            uint64_t d = (uint64_t)(t[k] - '0');
            if (v > (lim - d) / 10)
                return perr(p, start, RW_E_RANGE, "integer '%.*s' overflows int64 (key '%s')",
                            (int)tn, t, p->keyname);
            v = v * 10 + d;
        }
        n->kind = DATA_TOML_INT;
        n->u.i = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
        return RW_OK;
    }
    /* Grammar checked: strtod sees only [sign]digits[.digits][e[sign]digits]. */
    char small[128];
    char *buf = tn < sizeof small ? small : rw_malloc(tn + 1);
    if (!buf) return nomem(p);
    size_t w = 0;
    for (size_t k = 0; k < tn; k++)
        if (t[k] != '_') buf[w++] = t[k];
    buf[w] = '\0';
    errno = 0;
    char *end;
    double v = strtod(buf, &end);
    bool ok = end == buf + w;
    if (buf != small) rw_free(buf);
    if (!ok) return perr(p, start, RW_E_FORMAT, "invalid float (key '%s')", p->keyname);
    if (isinf(v))
        return perr(p, start, RW_E_RANGE, "float '%.*s' is out of range (key '%s')", (int)tn, t,
                    p->keyname);
    n->kind = DATA_TOML_FLOAT;
    n->u.f = v;
    return RW_OK;
}

/* ---- Values -------------------------------------------------------------------------- */

static rw_status parse_value(toml_parser *p, data_toml_node **out);
static rw_status insert_kv(toml_parser *p, data_toml_node *tbl, char **keys, size_t nk,
                           const tpos *kpos, data_toml_node *val);

static void freeze(data_toml_node *n) {
    if (n->kind != DATA_TOML_TABLE && n->kind != DATA_TOML_ARRAY) return;
    n->flags |= TOML_F_FROZEN;
    for (size_t i = 0; i < n->u.v.n; i++)
        freeze(n->u.v.items[i]);
}

static rw_status enter(toml_parser *p, size_t at, int levels) {
    p->depth += levels;
    if (p->depth > TOML_MAX_DEPTH)
        return perr(p, at, RW_E_RANGE, "nesting deeper than %d levels (key '%s')", TOML_MAX_DEPTH,
                    p->keyname);
    return RW_OK;
}

static rw_status parse_array(toml_parser *p, data_toml_node *arr) {
    char buf[32];
    rw_status st = enter(p, p->pos, 1);
    if (st) return st;
    p->pos++;
    for (;;) {
        if ((st = skip_ws_nl(p))) return st;
        if (peek(p, 0) == ']') break;
        data_toml_node *item;
        if ((st = parse_value(p, &item))) return st;
        if (!toml_node_append(arr, item)) {
            toml_node_free(item);
            return nomem(p);
        }
        if ((st = skip_ws_nl(p))) return st;
        if (peek(p, 0) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p, 0) == ']') break;
        return perr(p, p->pos, RW_E_FORMAT, "expected ',' or ']' in array '%s', found %s",
                    p->keyname, describe(p, p->pos, buf, sizeof buf));
    }
    p->pos++;
    p->depth--;
    return RW_OK;
}

static rw_status parse_inline_table(toml_parser *p, data_toml_node *tbl) {
    char buf[32];
    tpos kpos[TOML_MAX_DEPTH];
    rw_status st = enter(p, p->pos, 1);
    if (st) return st;
    p->pos++;
    skip_ws(p);
    if (peek(p, 0) == '}') {
        p->pos++;
        p->depth--;
        return RW_OK;
    }
    for (;;) {
        char **keys = NULL;
        size_t nk = 0;
        if ((st = parse_key(p, &keys, &nk, kpos))) return st;
        if (peek(p, 0) != '=') {
            st = perr(p, p->pos, RW_E_FORMAT, "expected '=' after key '%s', found %s", p->keyname,
                      describe(p, p->pos, buf, sizeof buf));
            toml_free_keys(keys, nk);
            return st;
        }
        p->pos++;
        skip_ws(p);
        data_toml_node *val = NULL;
        int saved = p->depth;
        st = enter(p, kpos[0].off, (int)nk - 1);
        if (!st) st = parse_value(p, &val);
        p->depth = saved;
        if (!st) st = insert_kv(p, tbl, keys, nk, kpos, val);
        toml_free_keys(keys, nk);
        if (st) return st;
        skip_ws(p);
        if (peek(p, 0) == ',') {
            p->pos++;
            skip_ws(p);
            if (peek(p, 0) == '}')
                return perr(p, p->pos, RW_E_FORMAT,
                            "trailing comma not allowed in inline table '%s'", p->keyname);
            continue;
        }
        if (peek(p, 0) == '}') break;
        return perr(p, p->pos, RW_E_FORMAT,
                    "expected ',' or '}' in inline table, found %s (inline tables are one line)",
                    describe(p, p->pos, buf, sizeof buf));
    }
    p->pos++;
    p->depth--;
    return RW_OK;
}

static bool word_at(const toml_parser *p, const char *w, size_t n) {
    return p->len - p->pos >= n && memcmp(p->s + p->pos, w, n) == 0 && !is_num_char(peek(p, n));
}

static rw_status parse_value(toml_parser *p, data_toml_node **out) {
    uint32_t line, col;
    size_t start = p->pos;
    char buf[32];
    locate(p, start, &line, &col);
    data_toml_node *n = toml_node_new(DATA_TOML_BOOL, p->file, line, col);
    if (!n) return nomem(p);
    rw_status st = RW_OK;
    int c = peek(p, 0);
    if (c == '"' || c == '\'') {
        n->kind = DATA_TOML_STRING;
        st = parse_string(p, true, &n->u.s);
    } else if (c == '[') {
        n->kind = DATA_TOML_ARRAY;
        st = parse_array(p, n);
        freeze(n);
    } else if (c == '{') {
        n->kind = DATA_TOML_TABLE;
        st = parse_inline_table(p, n);
        freeze(n);
    } else if (word_at(p, "true", 4)) {
        n->u.b = true;
        p->pos += 4;
    } else if (word_at(p, "false", 5)) {
        n->u.b = false;
        p->pos += 5;
    } else if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'i' || c == 'n') {
        st = parse_number(p, n);
    } else {
        st = perr(p, start, RW_E_FORMAT, "expected a value for key '%s', found %s", p->keyname,
                  describe(p, start, buf, sizeof buf));
    }
    if (st) {
        toml_node_free(n);
        return st;
    }
    *out = n;
    return RW_OK;
}

/* ---- Tables -------------------------------------------------------------------------- */

static void where(const data_toml_node *n, char *buf, size_t cap) {
    snprintf(buf, cap, "%s:%u:%u", n->file, n->line, n->col);
}

/* Inserts key path keys[0..nk) = val into tbl, creating dotted-key tables. Takes ownership of
 * val (freed on failure) and of keys[nk-1] on success (set to NULL). */
static rw_status insert_kv(toml_parser *p, data_toml_node *tbl, char **keys, size_t nk,
                           const tpos *kpos, data_toml_node *val) {
    char at[256];
    rw_status st = RW_OK;
    for (size_t i = 0; i + 1 < nk; i++) {
        data_toml_node *child = toml_table_get(tbl, keys[i]);
        if (!child) {
            child = toml_node_new(DATA_TOML_TABLE, p->file, kpos[i].line, kpos[i].col);
            if (!child || !(child->key = rw_strdup(keys[i])) || !toml_node_append(tbl, child)) {
                toml_node_free(child);
                st = nomem(p);
                goto fail;
            }
            child->flags = TOML_F_DOTTED;
        } else if (child->kind != DATA_TOML_TABLE) {
            where(child, at, sizeof at);
            st = perr(p, kpos[i].off, RW_E_FORMAT, "key '%s': '%s' is already a %s (defined at %s)",
                      p->keyname, keys[i], data_toml_kind_name(child->kind), at);
            goto fail;
        } else if (child->flags & TOML_F_FROZEN) {
            where(child, at, sizeof at);
            st = perr(p, kpos[i].off, RW_E_FORMAT,
                      "key '%s': cannot add to inline table '%s' (defined at %s)", p->keyname,
                      keys[i], at);
            goto fail;
        } else if (child->flags & TOML_F_HEADER) {
            where(child, at, sizeof at);
            st = perr(p, kpos[i].off, RW_E_FORMAT,
                      "key '%s': table '%s' was defined by a [header] at %s; add keys there",
                      p->keyname, keys[i], at);
            goto fail;
        } else {
            child->flags = (child->flags & ~(unsigned)TOML_F_IMPLICIT) | TOML_F_DOTTED;
        }
        tbl = child;
    }
    data_toml_node *old = toml_table_get(tbl, keys[nk - 1]);
    if (old) {
        where(old, at, sizeof at);
        st = perr(p, kpos[nk - 1].off, RW_E_FORMAT, "duplicate key '%s' (first defined at %s)",
                  p->keyname, at);
        goto fail;
    }
    val->line = kpos[nk - 1].line;
    val->col = kpos[nk - 1].col;
    val->key = keys[nk - 1];
    if (!toml_node_append(tbl, val)) {
        val->key = NULL;
        st = nomem(p);
        goto fail;
    }
    keys[nk - 1] = NULL;
    return RW_OK;
fail:
    toml_node_free(val);
    return st;
}

/* [a.b] or [[a.b]] at p->pos. */
static rw_status parse_header(toml_parser *p, data_toml_node *root) {
    char buf[32], at[256];
    tpos h = mark(p);
    size_t hpos = h.off;
    uint32_t line = h.line, col = h.col;
    tpos kpos[TOML_MAX_DEPTH];
    bool aot = peek(p, 1) == '[';
    char **keys = NULL;
    size_t nk = 0;
    rw_status st;
    p->pos += aot ? 2 : 1;
    skip_ws(p);
    if ((st = parse_key(p, &keys, &nk, kpos))) return st;
    if (peek(p, 0) != ']' || (aot && peek(p, 1) != ']')) {
        size_t bad = p->pos + (peek(p, 0) == ']' ? 1 : 0);
        st = perr(p, bad, RW_E_FORMAT, "expected '%s' to close table header [%s%s, found %s",
                  aot ? "]]" : "]", aot ? "[" : "", p->keyname, describe(p, bad, buf, sizeof buf));
        goto done;
    }
    p->pos += aot ? 2 : 1;
    data_toml_node *tbl = root;
    int depth = 0;
    for (size_t i = 0; i + 1 < nk; i++) {
        data_toml_node *child = toml_table_get(tbl, keys[i]);
        if (!child) {
            child = toml_node_new(DATA_TOML_TABLE, p->file, line, col);
            if (!child || !(child->key = rw_strdup(keys[i])) || !toml_node_append(tbl, child)) {
                toml_node_free(child);
                st = nomem(p);
                goto done;
            }
            child->flags = TOML_F_IMPLICIT;
        } else if (child->kind == DATA_TOML_ARRAY && (child->flags & TOML_F_AOT)) {
            depth++;
            child = child->u.v.items[child->u.v.n - 1];
        } else if (child->kind != DATA_TOML_TABLE || (child->flags & TOML_F_FROZEN)) {
            where(child, at, sizeof at);
            st = perr(p, kpos[i].off, RW_E_FORMAT,
                      "table [%s]: '%s' is already %s %s (defined at %s)", p->keyname, keys[i],
                      child->kind == DATA_TOML_TABLE ? "an inline" : "a",
                      data_toml_kind_name(child->kind), at);
            goto done;
        }
        tbl = child;
        depth++;
    }
    const char *last = keys[nk - 1];
    data_toml_node *node = toml_table_get(tbl, last);
    if (aot) {
        if (node && !(node->kind == DATA_TOML_ARRAY && (node->flags & TOML_F_AOT))) {
            where(node, at, sizeof at);
            st = perr(p, hpos, RW_E_FORMAT,
                      "[[%s]]: key already defined as %s %s at %s, not an array of tables",
                      p->keyname, node->kind == DATA_TOML_ARRAY ? "a static" : "a",
                      data_toml_kind_name(node->kind), at);
            goto done;
        }
        if (!node) {
            node = toml_node_new(DATA_TOML_ARRAY, p->file, line, col);
            if (!node || !(node->key = rw_strdup(last)) || !toml_node_append(tbl, node)) {
                toml_node_free(node);
                st = nomem(p);
                goto done;
            }
            node->flags = TOML_F_AOT;
        }
        data_toml_node *elem = toml_node_new(DATA_TOML_TABLE, p->file, line, col);
        if (!elem || !toml_node_append(node, elem)) {
            toml_node_free(elem);
            st = nomem(p);
            goto done;
        }
        elem->flags = TOML_F_HEADER;
        p->cur = elem;
        depth += 2;
    } else {
        if (!node) {
            node = toml_node_new(DATA_TOML_TABLE, p->file, line, col);
            if (!node || !(node->key = rw_strdup(last)) || !toml_node_append(tbl, node)) {
                toml_node_free(node);
                st = nomem(p);
                goto done;
            }
        } else if (node->kind != DATA_TOML_TABLE ||
                   (node->flags & (TOML_F_HEADER | TOML_F_DOTTED | TOML_F_FROZEN))) {
            where(node, at, sizeof at);
            const char *how = node->kind != DATA_TOML_TABLE   ? "as a non-table value"
                              : (node->flags & TOML_F_HEADER) ? "by an earlier header"
                              : (node->flags & TOML_F_DOTTED) ? "by dotted keys"
                                                              : "as an inline table";
            if (node->kind == DATA_TOML_ARRAY && (node->flags & TOML_F_AOT))
                how = "as an array of tables (use [[...]])";
            st = perr(p, hpos, RW_E_FORMAT, "table [%s] already defined %s at %s", p->keyname, how,
                      at);
            goto done;
        } else {
            node->line = line; /* an implicit table takes the position of its own header */
            node->col = col;
        }
        node->flags = TOML_F_HEADER;
        p->cur = node;
        depth += 1;
    }
    p->cur_depth = depth;
    if (depth > TOML_MAX_DEPTH)
        st = perr(p, hpos, RW_E_RANGE, "table [%s] nested deeper than %d levels", p->keyname,
                  TOML_MAX_DEPTH);
    else
        st = expect_eol(p, "table header");
done:
    toml_free_keys(keys, nk);
    return st;
}

static rw_status parse_keyval_line(toml_parser *p) {
    char buf[32];
    tpos kpos[TOML_MAX_DEPTH];
    char **keys = NULL;
    size_t nk = 0;
    rw_status st = parse_key(p, &keys, &nk, kpos);
    if (st) return st;
    if (peek(p, 0) != '=') {
        st = perr(p, p->pos, RW_E_FORMAT, "expected '=' after key '%s', found %s", p->keyname,
                  describe(p, p->pos, buf, sizeof buf));
        goto done;
    }
    p->pos++;
    skip_ws(p);
    data_toml_node *val = NULL;
    p->depth = p->cur_depth;
    st = enter(p, kpos[0].off, (int)nk - 1);
    if (!st) st = parse_value(p, &val);
    if (!st) st = insert_kv(p, p->cur, keys, nk, kpos, val);
    if (!st) {
        char what[200];
        snprintf(what, sizeof what, "value of key '%s'", p->keyname);
        st = expect_eol(p, what);
    }
done:
    toml_free_keys(keys, nk);
    return st;
}

static rw_status parse_document(toml_parser *p, data_toml_node *root) {
    rw_status st;
    p->cur = root;
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len) return RW_OK;
        int c = peek(p, 0);
        if (c == '#') {
            if ((st = expect_eol(p, "comment"))) return st;
        } else if (at_newline(p)) {
            eat_newline(p);
        } else if (c == '[') {
            if ((st = parse_header(p, root))) return st;
        } else {
            if ((st = parse_keyval_line(p))) return st;
        }
    }
}

static void parser_init(toml_parser *p, const char *text, size_t len, const char *file,
                        rw_err *err) {
    memset(p, 0, sizeof *p);
    p->s = text;
    p->len = len;
    p->file = file;
    p->err = err;
    p->lc_line = 1;
    p->lc_col = 1;
}

/* Checks UTF-8 validity; reports the first bad byte with its line:col. */
static rw_status check_utf8(toml_parser *p) {
    size_t bad = data_utf8_invalid_at((const unsigned char *)p->s, p->len);
    if (bad == p->len) return RW_OK;
    return perr(p, bad, RW_E_FORMAT, "invalid UTF-8 (byte 0x%02X at offset %zu)",
                (unsigned)(unsigned char)p->s[bad], bad);
}

rw_status data_toml_parse(const char *text, size_t len, const char *filename, data_toml_doc **out,
                          rw_err *err) {
    RW_ASSERT(out != NULL && (text != NULL || len == 0), "data_toml_parse: bad arguments");
    toml_parser p;
    rw_status st;
    data_toml_doc *doc = rw_calloc(1, sizeof *doc);
    if (!doc) return rw_err_set(err, RW_E_NOMEM, "%s: out of memory", filename ? filename : "");
    doc->filename = rw_strdup(filename ? filename : "<string>");
    if (!doc->filename) {
        st = rw_err_set(err, RW_E_NOMEM, "%s: out of memory", filename ? filename : "");
        goto fail;
    }
    parser_init(&p, text ? text : "", len, doc->filename, err);
    if ((st = check_utf8(&p))) goto fail;
    doc->root = toml_node_new(DATA_TOML_TABLE, doc->filename, 1, 1);
    if (!doc->root) {
        st = nomem(&p);
        goto fail;
    }
    doc->root->flags = TOML_F_HEADER;
    if ((st = parse_document(&p, doc->root))) goto fail;
    *out = doc;
    return RW_OK;
fail:
    data_toml_free(doc);
    return st;
}

rw_status data_toml_parse_file(const char *path, data_toml_doc **out, rw_err *err) {
    RW_ASSERT(path != NULL && out != NULL, "data_toml_parse_file: bad arguments");
    char *text = NULL;
    size_t len = 0;
    rw_status st = data_file_read(path, 0, &text, &len, err);
    if (st != RW_OK) return st;
    st = data_toml_parse(text, len, path, out, err);
    rw_free(text);
    return st;
}

void data_toml_free(data_toml_doc *doc) {
    if (!doc) return;
    toml_node_free(doc->root);
    rw_free(doc->filename);
    rw_free(doc);
}

/* ---- Pieces for --set (toml_get.c) --------------------------------------------------- */

rw_status toml_parse_set_key(const char *text, size_t len, const char *file, char ***keys,
                             size_t *nkeys, size_t *value_at, rw_err *err) {
    toml_parser p;
    tpos kpos[TOML_MAX_DEPTH];
    char buf[32];
    parser_init(&p, text, len, file, err);
    rw_status st = check_utf8(&p);
    if (st) return st;
    skip_ws(&p);
    char **ks = NULL;
    size_t nk = 0;
    if ((st = parse_key(&p, &ks, &nk, kpos))) return st;
    if (peek(&p, 0) != '=') {
        st = perr(&p, p.pos, RW_E_INVALID, "expected '=' after key '%s', found %s", p.keyname,
                  describe(&p, p.pos, buf, sizeof buf));
        toml_free_keys(ks, nk);
        return st;
    }
    *keys = ks;
    *nkeys = nk;
    *value_at = p.pos + 1;
    return RW_OK;
}

rw_status toml_parse_set_value(const char *text, size_t len, size_t at, const char *file,
                               const char *keyname, int depth, data_toml_node **out, rw_err *err) {
    toml_parser p;
    parser_init(&p, text, len, file, err);
    snprintf(p.keyname, sizeof p.keyname, "%s", keyname);
    p.pos = at;
    p.depth = depth;
    rw_status st = enter(&p, at, 0);
    if (st) return st;
    skip_ws(&p);
    data_toml_node *v = NULL;
    if ((st = parse_value(&p, &v))) return st;
    skip_ws(&p);
    if (p.pos != p.len) {
        char buf[32];
        st = perr(&p, p.pos, RW_E_FORMAT, "unexpected %s after the value of '%s'",
                  describe(&p, p.pos, buf, sizeof buf), keyname);
        toml_node_free(v);
        return st;
    }
    *out = v;
    return RW_OK;
}
