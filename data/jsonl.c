/* Streaming JSONL reader (jsonl.h). One line is held at a time: a file is read in 64 KiB
 * chunks and each line assembled in a growable buffer capped at max_line_bytes (a longer
 * line is drained to its newline and reported, never buffered whole). Each line is checked
 * for UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF) before Jansson parses it,
 * so the byte offset of a bad sequence can be reported. Field rules follow MLX-LM's
 * tuner/datasets.py formats and sentence-transformers' column names. */
#include "data/jsonl.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "data/utf8.h"

enum { CHUNK = 1 << 16, DEFAULT_MAX_LINE = 16 << 20, MSG_CAP = 384 };

struct data_jsonl_reader {
    char *name;
    FILE *f;
    const unsigned char *mem;
    size_t mem_len, mem_pos;
    unsigned char *chunk; /* file mode: read buffer */
    size_t chunk_len, chunk_pos;
    bool eof;
    unsigned char *line;  /* file mode: current line */
    size_t line_len, line_cap;
    size_t line_no;
    data_jsonl_options opt;
    char *default_source;
    data_jsonl_format format;
    json_t *cur;
    data_chat_message *msgs;
    size_t msgs_cap;
    size_t n_read, n_skipped;
    size_t skipped_kind[DATA_JSONL_E_COUNT];
    char *kept[DATA_JSONL_KEEP_MESSAGES];
};

static const char *const format_names[] = {"auto",     "chat",     "completions",     "text",
                                           "pairs",    "triplets", "query-expansion", "critic"};

const char *data_jsonl_format_name(data_jsonl_format f) {
    return (unsigned)f < 8 ? format_names[f] : "?";
}

bool data_jsonl_format_parse(const char *s, data_jsonl_format *out) {
    for (int i = 0; s && i < 8; i++)
        if (strcmp(s, format_names[i]) == 0) {
            *out = (data_jsonl_format)i;
            return true;
        }
    return false;
}

static const char *const error_names[DATA_JSONL_E_COUNT] = {
    "bad_json", "missing_field", "wrong_type", "empty", "bad_value", "bad_utf8", "too_long",
    "unknown_format"};

const char *data_jsonl_error_name(data_jsonl_error e) {
    return (unsigned)e < DATA_JSONL_E_COUNT ? error_names[e] : "?";
}

/* One line's failure: kind and message (file:line: ...). */
typedef struct line_err {
    data_jsonl_error kind;
    char msg[MSG_CAP];
} line_err;

static __attribute__((format(printf, 4, 5))) int fail_line(const data_jsonl_reader *r, line_err *le,
                                                           data_jsonl_error kind, const char *fmt,
                                                           ...) {
    le->kind = kind;
    int n = snprintf(le->msg, sizeof le->msg, "%s:%zu: ", r->name, r->line_no);
    if (n < 0 || (size_t)n >= sizeof le->msg) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(le->msg + n, sizeof le->msg - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static rw_status open_common(const char *name, const data_jsonl_options *opt,
                             data_jsonl_reader **out, rw_err *err) {
    data_jsonl_reader *r = rw_calloc(1, sizeof *r);
    if (!r) return rw_err_set(err, RW_E_NOMEM, "out of memory");
    if (opt) r->opt = *opt;
    if (r->opt.max_line_bytes == 0) r->opt.max_line_bytes = DEFAULT_MAX_LINE;
    r->format = r->opt.format;
    r->name = rw_strdup(name ? name : "(memory)");
    if (r->opt.default_source) r->default_source = rw_strdup(r->opt.default_source);
    if (!r->name || (r->opt.default_source && !r->default_source)) {
        data_jsonl_close(r);
        return rw_err_set(err, RW_E_NOMEM, "out of memory");
    }
    if ((unsigned)r->format > DATA_JSONL_CRITIC) {
        data_jsonl_close(r);
        return rw_err_set(err, RW_E_INVALID, "%s: bad format value %d", name, (int)r->format);
    }
    *out = r;
    return RW_OK;
}

rw_status data_jsonl_open(const char *path, const data_jsonl_options *opt, data_jsonl_reader **out,
                          rw_err *err) {
    data_jsonl_reader *r = NULL;
    rw_status s = open_common(path, opt, &r, err);
    if (s != RW_OK) return s;
    r->f = fopen(path, "rb");
    if (!r->f) {
        s = rw_err_set(err, RW_E_IO, "%s: cannot open: %s", path, strerror(errno));
        data_jsonl_close(r);
        return s;
    }
    r->chunk = rw_malloc(CHUNK);
    if (!r->chunk) {
        data_jsonl_close(r);
        return rw_err_set(err, RW_E_NOMEM, "out of memory");
    }
    *out = r;
    return RW_OK;
}

rw_status data_jsonl_open_mem(const void *buf, size_t len, const char *name,
                              const data_jsonl_options *opt, data_jsonl_reader **out, rw_err *err) {
    data_jsonl_reader *r = NULL;
    rw_status s = open_common(name, opt, &r, err);
    if (s != RW_OK) return s;
    r->mem = buf;
    r->mem_len = buf ? len : 0;
    *out = r;
    return RW_OK;
}

void data_jsonl_close(data_jsonl_reader *r) {
    if (!r) return;
    if (r->f) fclose(r->f);
    json_decref(r->cur);
    rw_free(r->chunk);
    rw_free(r->line);
    rw_free(r->msgs);
    rw_free(r->name);
    rw_free(r->default_source);
    for (int i = 0; i < DATA_JSONL_KEEP_MESSAGES; i++) rw_free(r->kept[i]);
    rw_free(r);
}

/* Next raw line (without '\n') as a view; *too_long when it exceeded the cap (the view is
 * then empty). Returns 0 at end of input, 1 for a line, -1 on I/O or memory failure. */
static int next_raw(data_jsonl_reader *r, const unsigned char **p, size_t *n, bool *too_long,
                    rw_err *err) {
    *too_long = false;
    if (r->mem) {
        if (r->mem_pos >= r->mem_len) return 0;
        const unsigned char *start = r->mem + r->mem_pos;
        size_t rest = r->mem_len - r->mem_pos;
        const unsigned char *nl = memchr(start, '\n', rest);
        size_t len = nl ? (size_t)(nl - start) : rest;
        r->mem_pos += len + (nl ? 1 : 0);
        r->line_no++;
        if (len > r->opt.max_line_bytes) {
            *too_long = true;
            len = 0;
        }
        *p = start;
        *n = len;
        return 1;
    }
    if (!r->f) return 0;
    r->line_len = 0;
    bool any = false;
    for (;;) {
        if (r->chunk_pos == r->chunk_len) {
            if (r->eof) break;
            r->chunk_len = fread(r->chunk, 1, CHUNK, r->f);
            r->chunk_pos = 0;
            if (r->chunk_len == 0) {
                if (ferror(r->f)) {
                    rw_err_set(err, RW_E_IO, "%s:%zu: read error: %s", r->name, r->line_no + 1,
                               strerror(errno));
                    return -1;
                }
                r->eof = true;
                break;
            }
        }
        any = true;
        const unsigned char *start = r->chunk + r->chunk_pos;
        size_t avail = r->chunk_len - r->chunk_pos;
        const unsigned char *nl = memchr(start, '\n', avail);
        size_t take = nl ? (size_t)(nl - start) : avail;
        r->chunk_pos += take + (nl ? 1 : 0);
        if (!*too_long) {
            if (take > r->opt.max_line_bytes - r->line_len) {
                *too_long = true; /* keep draining to the newline, keep nothing */
                r->line_len = 0;
            } else {
                size_t need = r->line_len + take + 1;
                if (need > r->line_cap) {
                    size_t nc = r->line_cap ? r->line_cap : 256;
                    while (nc < need) nc *= 2;
                    unsigned char *nb = rw_realloc(r->line, nc);
                    if (!nb) {
                        rw_err_set(err, RW_E_NOMEM, "%s:%zu: out of memory", r->name, r->line_no + 1);
                        return -1;
                    }
                    r->line = nb;
                    r->line_cap = nc;
                }
                memcpy(r->line + r->line_len, start, take);
                r->line_len += take;
            }
        }
        if (nl) break;
    }
    if (!any) return 0;
    r->line_no++;
    *p = r->line ? r->line : (const unsigned char *)"";
    *n = *too_long ? 0 : r->line_len;
    return 1;
}

static bool blank(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') return false;
    return true;
}

static bool only_space(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') return false;
    return true;
}

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* A required non-empty string field of obj; path names it in messages. */
static int get_str(const data_jsonl_reader *r, json_t *obj, const char *key, const char *path,
                   const char **out, line_err *le) {
    json_t *v = json_object_get(obj, key);
    if (!v) return fail_line(r, le, DATA_JSONL_E_MISSING_FIELD, "field '%s' is missing", path);
    if (!json_is_string(v))
        return fail_line(r, le, DATA_JSONL_E_WRONG_TYPE, "field '%s' must be a string, got %s", path,
                         type_name(v));
    const char *s = json_string_value(v);
    if (json_string_length(v) != strlen(s))
        return fail_line(r, le, DATA_JSONL_E_BAD_VALUE, "field '%s' contains a NUL character", path);
    if (only_space(s)) return fail_line(r, le, DATA_JSONL_E_EMPTY, "field '%s' is empty", path);
    *out = s;
    return 0;
}

static data_jsonl_format detect(json_t *o) {
    if (json_object_get(o, "messages")) return DATA_JSONL_CHAT;
    if (json_object_get(o, "prompt") && json_object_get(o, "completion")) return DATA_JSONL_COMPLETIONS;
    if (json_object_get(o, "anchor") && json_object_get(o, "positive"))
        return json_object_get(o, "negative") ? DATA_JSONL_TRIPLETS : DATA_JSONL_PAIRS;
    if (json_object_get(o, "query") && json_object_get(o, "document") && json_object_get(o, "label"))
        return DATA_JSONL_CRITIC;
    if (json_object_get(o, "query") && json_object_get(o, "output")) return DATA_JSONL_QUERY_EXPANSION;
    if (json_object_get(o, "text")) return DATA_JSONL_TEXT;
    return DATA_JSONL_AUTO;
}

static int parse_chat(data_jsonl_reader *r, json_t *o, data_example *ex, line_err *le) {
    json_t *m = json_object_get(o, "messages");
    if (!m) return fail_line(r, le, DATA_JSONL_E_MISSING_FIELD, "field 'messages' is missing");
    if (!json_is_array(m))
        return fail_line(r, le, DATA_JSONL_E_WRONG_TYPE, "field 'messages' must be an array, got %s",
                         type_name(m));
    size_t n = json_array_size(m);
    if (n == 0) return fail_line(r, le, DATA_JSONL_E_EMPTY, "field 'messages' is empty");
    if (n > r->msgs_cap) {
        data_chat_message *nm = rw_alloc_array(n, sizeof *nm);
        if (!nm) return fail_line(r, le, DATA_JSONL_E_TOO_LONG, "messages: out of memory (%zu)", n);
        rw_free(r->msgs);
        r->msgs = nm;
        r->msgs_cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(m, i);
        char path[64];
        if (!json_is_object(e))
            return fail_line(r, le, DATA_JSONL_E_WRONG_TYPE,
                             "field 'messages[%zu]' must be an object, got %s", i, type_name(e));
        snprintf(path, sizeof path, "messages[%zu].role", i);
        if (get_str(r, e, "role", path, &r->msgs[i].role, le)) return -1;
        const char *role = r->msgs[i].role;
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") &&
            strcmp(role, "tool"))
            return fail_line(r, le, DATA_JSONL_E_BAD_VALUE,
                             "field '%s': '%.40s' is not system, user, assistant or tool", path, role);
        snprintf(path, sizeof path, "messages[%zu].content", i);
        if (get_str(r, e, "content", path, &r->msgs[i].content, le)) return -1;
    }
    ex->messages = r->msgs;
    ex->n_messages = n;
    return 0;
}

static int parse_fields(data_jsonl_reader *r, json_t *o, data_example *ex, line_err *le) {
    switch (r->format) {
    case DATA_JSONL_CHAT: return parse_chat(r, o, ex, le);
    case DATA_JSONL_COMPLETIONS:
        if (get_str(r, o, "prompt", "prompt", &ex->prompt, le)) return -1;
        return get_str(r, o, "completion", "completion", &ex->completion, le);
    case DATA_JSONL_TEXT: return get_str(r, o, "text", "text", &ex->text, le);
    case DATA_JSONL_TRIPLETS:
        if (get_str(r, o, "negative", "negative", &ex->negative, le)) return -1;
        /* fall through */
    case DATA_JSONL_PAIRS:
        if (get_str(r, o, "anchor", "anchor", &ex->anchor, le)) return -1;
        return get_str(r, o, "positive", "positive", &ex->positive, le);
    case DATA_JSONL_QUERY_EXPANSION:
        if (get_str(r, o, "query", "query", &ex->query, le)) return -1;
        return get_str(r, o, "output", "output", &ex->output, le);
    case DATA_JSONL_CRITIC: {
        if (get_str(r, o, "query", "query", &ex->query, le)) return -1;
        if (get_str(r, o, "document", "document", &ex->document, le)) return -1;
        json_t *l = json_object_get(o, "label");
        if (!l) return fail_line(r, le, DATA_JSONL_E_MISSING_FIELD, "field 'label' is missing");
        if (json_is_boolean(l)) {
            ex->label = json_is_true(l);
        } else if (json_is_integer(l)) {
            json_int_t v = json_integer_value(l);
            if (v != 0 && v != 1)
                return fail_line(r, le, DATA_JSONL_E_BAD_VALUE, "field 'label' must be 0 or 1, got %lld",
                                 (long long)v);
            ex->label = (int)v;
        } else {
            return fail_line(r, le, DATA_JSONL_E_WRONG_TYPE,
                             "field 'label' must be 0, 1, true or false, got %s", type_name(l));
        }
        return 0;
    }
    case DATA_JSONL_AUTO: break;
    }
    return fail_line(r, le, DATA_JSONL_E_UNKNOWN_FORMAT, "no format");
}

static void list_keys(json_t *o, char *buf, size_t cap) {
    const char *k;
    json_t *v;
    size_t used = 0;
    buf[0] = '\0';
    json_object_foreach(o, k, v) {
        (void)v;
        int n = snprintf(buf + used, cap - used, "%s%.32s", used ? ", " : "", k);
        if (n < 0 || (size_t)n >= cap - used) break;
        used += (size_t)n;
    }
}

/* Parses one non-blank line into ex; 0 on success, -1 with le filled. */
static int parse_line(data_jsonl_reader *r, const unsigned char *p, size_t n, data_example *ex,
                      line_err *le) {
    if (r->line_no == 1 && n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) {
        p += 3;
        n -= 3;
    }
    if (n && p[n - 1] == '\r') n--;
    size_t bad = data_utf8_invalid_at(p, n);
    if (bad != n)
        return fail_line(r, le, DATA_JSONL_E_BAD_UTF8, "invalid UTF-8 at byte %zu of the line (0x%02x)",
                         bad, p[bad]);
    json_error_t je;
    json_decref(r->cur);
    r->cur = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!r->cur)
        return fail_line(r, le, DATA_JSONL_E_BAD_JSON, "bad JSON at column %d: %s", je.column, je.text);
    json_t *o = r->cur;
    if (!json_is_object(o))
        return fail_line(r, le, DATA_JSONL_E_WRONG_TYPE, "the line must be a JSON object, got %s",
                         type_name(o));
    if (r->format == DATA_JSONL_AUTO) {
        data_jsonl_format f = detect(o);
        if (f == DATA_JSONL_AUTO) {
            char keys[160];
            list_keys(o, keys, sizeof keys);
            return fail_line(r, le, DATA_JSONL_E_UNKNOWN_FORMAT,
                             "keys {%s} match no format (messages | prompt+completion | text | "
                             "anchor+positive[+negative] | query+output | query+document+label)",
                             keys);
        }
        r->format = f;
    }
    memset(ex, 0, sizeof *ex);
    if (parse_fields(r, o, ex, le)) return -1;
    json_t *src = json_object_get(o, "source");
    if (src) {
        if (!json_is_string(src))
            return fail_line(r, le, DATA_JSONL_E_WRONG_TYPE, "field 'source' must be a string, got %s",
                             type_name(src));
        if (get_str(r, o, "source", "source", &ex->source, le)) return -1;
    } else {
        ex->source = r->default_source;
    }
    ex->format = r->format;
    ex->line = r->line_no;
    return 0;
}

rw_status data_jsonl_next(data_jsonl_reader *r, data_example *out, bool *got, rw_err *err) {
    for (;;) {
        const unsigned char *p = NULL;
        size_t n = 0;
        bool too_long = false;
        int rc = next_raw(r, &p, &n, &too_long, err);
        if (rc < 0) return err ? err->code : RW_E_IO;
        if (rc == 0) {
            json_decref(r->cur);
            r->cur = NULL;
            *got = false;
            return RW_OK;
        }
        line_err le;
        data_example ex;
        int bad;
        if (too_long) {
            bad = fail_line(r, &le, DATA_JSONL_E_TOO_LONG, "line longer than %zu bytes",
                            r->opt.max_line_bytes);
        } else {
            if (blank(p, n)) continue;
            bad = parse_line(r, p, n, &ex, &le);
        }
        if (!bad) {
            r->n_read++;
            *out = ex;
            *got = true;
            return RW_OK;
        }
        if (r->opt.policy == DATA_JSONL_FATAL) return rw_err_set(err, RW_E_FORMAT, "%s", le.msg);
        if (r->n_skipped < DATA_JSONL_KEEP_MESSAGES) r->kept[r->n_skipped] = rw_strdup(le.msg);
        r->n_skipped++;
        r->skipped_kind[le.kind]++;
    }
}

data_jsonl_format data_jsonl_format_of(const data_jsonl_reader *r) { return r->format; }
size_t data_jsonl_n_read(const data_jsonl_reader *r) { return r->n_read; }
size_t data_jsonl_n_skipped(const data_jsonl_reader *r) { return r->n_skipped; }

size_t data_jsonl_n_skipped_kind(const data_jsonl_reader *r, data_jsonl_error e) {
    return (unsigned)e < DATA_JSONL_E_COUNT ? r->skipped_kind[e] : 0;
}

const char *data_jsonl_skip_message(const data_jsonl_reader *r, size_t i) {
    if (i >= DATA_JSONL_KEEP_MESSAGES || i >= r->n_skipped) return NULL;
    return r->kept[i] ? r->kept[i] : "(message lost: out of memory)";
}
