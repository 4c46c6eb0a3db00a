/* Strict TOML parser for recipes (weekend.toml, persona.toml, eval gate tables).
 *
 * No packaged C TOML library exists in the Debian registry this project uses, so the project
 * owns this small strict parser of the TOML 1.0 subset recipes need (docs/toml.md). Where a
 * construct is supported it follows TOML 1.0 exactly: comments, bare/quoted/dotted keys,
 * [tables], [[arrays of tables]], {inline tables}, the four string forms with every escape,
 * integers (decimal with '_', 0x/0o/0b; overflow is an error), floats (inf, nan), booleans,
 * arrays. Deviations: dates/times are rejected ("not supported in recipes", RW_E_UNSUPPORTED)
 * and U+0000 (only reachable through \u0000) is rejected in strings and keys so every string
 * is a C string. Input must be valid UTF-8.
 *
 * Errors: rw_status + rw_err whose message starts "file:line:col: " (1-based line, column in
 * code points) and names the key when known. Codes: RW_E_FORMAT (syntax, redefinition, bad
 * UTF-8, type mismatch, unknown key), RW_E_RANGE (integer/float overflow, nesting > 128),
 * RW_E_UNSUPPORTED (dates), RW_E_NOTFOUND (missing key), RW_E_INVALID (bad --set),
 * RW_E_IO (file), RW_E_NOMEM.
 *
 * Ownership: the doc owns every node and string. Node pointers and strings returned by the
 * getters are borrowed, valid until data_toml_free(doc) or until data_toml_set() replaces that
 * value. Objects are not thread-safe; concurrent reads of an unmodified doc are fine. */
#ifndef RW_DATA_TOML_H
#define RW_DATA_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

typedef enum data_toml_kind {
    DATA_TOML_TABLE,
    DATA_TOML_ARRAY,
    DATA_TOML_STRING,
    DATA_TOML_INT,   /* int64_t */
    DATA_TOML_FLOAT, /* double */
    DATA_TOML_BOOL,
} data_toml_kind;

typedef struct data_toml_node data_toml_node;
typedef struct data_toml_doc data_toml_doc;

/* ---- Parsing ------------------------------------------------------------------------- */

/* Parses len bytes of text (need not be NUL-terminated). filename is used only in messages
 * ("<string>" when NULL) and is copied. On success *out is an owned doc. */
rw_status data_toml_parse(const char *text, size_t len, const char *filename, data_toml_doc **out,
                          rw_err *err);
/* Reads and parses a file (path appears in every message). */
rw_status data_toml_parse_file(const char *path, data_toml_doc **out, rw_err *err);
/* Frees the doc and every node. NULL does nothing. */
void data_toml_free(data_toml_doc *doc);

/* The root table (never NULL for a parsed doc), and the filename given at parse time. */
const data_toml_node *data_toml_root(const data_toml_doc *doc);
const char *data_toml_filename(const data_toml_doc *doc);

/* ---- Nodes --------------------------------------------------------------------------- */

data_toml_kind data_toml_node_kind(const data_toml_node *n);
/* "table", "array", "string", "integer", "float", "boolean". */
const char *data_toml_kind_name(data_toml_kind k);
/* Where the node was defined: for a key/value the key's position, for a [table] its header,
 * for an array item the value. Nodes made by data_toml_set report file "--set", line 1. */
uint32_t data_toml_node_line(const data_toml_node *n);
uint32_t data_toml_node_col(const data_toml_node *n);
const char *data_toml_node_file(const data_toml_node *n);
/* The node's key in its parent table; NULL for the root and for array items. */
const char *data_toml_node_key(const data_toml_node *n);
/* Writes the node's path for messages ("train", "job[1].data", "" for the root) into buf
 * (truncated to cap); returns buf. */
const char *data_toml_node_path(const data_toml_node *n, char *buf, size_t cap);

/* Number of keys of a table (file order) or items of an array; 0 for scalars. */
size_t data_toml_len(const data_toml_node *n);
/* i-th value of a table (file order) or array; i < data_toml_len(n). */
const data_toml_node *data_toml_at(const data_toml_node *n, size_t i);
/* i-th key of a table (file order). */
const char *data_toml_key_at(const data_toml_node *tbl, size_t i);

/* Looks up a dotted path ("train.lr") from a table; each segment is one key, so keys that
 * contain '.' are reachable only by iteration. NULL when missing or when a segment crosses a
 * non-table. */
const data_toml_node *data_toml_find(const data_toml_node *tbl, const char *path);

/* Unchecked scalar views (RW_ASSERT on wrong kind). data_toml_as_f64 accepts ints too. */
const char *data_toml_as_str(const data_toml_node *n);
int64_t data_toml_as_i64(const data_toml_node *n);
double data_toml_as_f64(const data_toml_node *n);
bool data_toml_as_bool(const data_toml_node *n);

/* ---- Typed getters ------------------------------------------------------------------- *
 * Look up `path` from table `tbl`. Missing key: RW_E_NOTFOUND "file:line:col: missing key
 * 'lr' in [train]" (position of the table). Wrong type: RW_E_FORMAT "file:line:col: key
 * 'train.lr' must be a float, found string" (position of the key). An integer is accepted
 * where a float is expected (converted exactly when |v| <= 2^53, else rounded). The _or
 * variants write `dflt` when the key is missing but still fail on a wrong type. *out is
 * written only on success. */
rw_status data_toml_get_str(const data_toml_node *tbl, const char *path, const char **out,
                            rw_err *err);
rw_status data_toml_get_i64(const data_toml_node *tbl, const char *path, int64_t *out, rw_err *err);
rw_status data_toml_get_f64(const data_toml_node *tbl, const char *path, double *out, rw_err *err);
rw_status data_toml_get_bool(const data_toml_node *tbl, const char *path, bool *out, rw_err *err);
rw_status data_toml_get_table(const data_toml_node *tbl, const char *path,
                              const data_toml_node **out, rw_err *err);
rw_status data_toml_get_array(const data_toml_node *tbl, const char *path,
                              const data_toml_node **out, rw_err *err);

rw_status data_toml_get_str_or(const data_toml_node *tbl, const char *path, const char *dflt,
                               const char **out, rw_err *err);
rw_status data_toml_get_i64_or(const data_toml_node *tbl, const char *path, int64_t dflt,
                               int64_t *out, rw_err *err);
rw_status data_toml_get_f64_or(const data_toml_node *tbl, const char *path, double dflt,
                               double *out, rw_err *err);
rw_status data_toml_get_bool_or(const data_toml_node *tbl, const char *path, bool dflt, bool *out,
                                rw_err *err);

/* Strictness: every key of `tbl` must be one of allowed[0..n). Otherwise RW_E_FORMAT
 * "unknown key 'lrr' in [train] at weekend.toml:12:1 (allowed: lr, epochs)". */
rw_status data_toml_check_keys(const data_toml_node *tbl, const char *const allowed[], size_t n,
                               rw_err *err);

/* ---- Overrides (--set section.key=value) --------------------------------------------- *
 * `assignment` is "dotted.key=value"; the key uses TOML key syntax (bare, quoted, dotted) and
 * the value is parsed as a TOML value (3e-4, "x.jsonl", true, [1, 2], {a = 1}). For
 * convenience a value that is not valid TOML and does not start with '"', '\'', '[' or '{'
 * is taken as a string, trimmed of surrounding blanks (--set data.path=runs/a.jsonl).
 * Missing tables are created; a key crossing an array of tables or a non-table fails.
 * Replacing an existing value keeps its position and requires the same class: string,
 * number (int and float interchange), boolean, array or table; otherwise RW_E_INVALID.
 * On failure the doc is unchanged. */
rw_status data_toml_set(data_toml_doc *doc, const char *assignment, rw_err *err);

/* ---- Canonical dump ------------------------------------------------------------------ *
 * Canonical TOML text: keys sorted bytewise at every level; in each table the scalar/array
 * key-values first, then sub-tables as [a.b] headers and arrays whose items are all tables
 * (non-empty) as [[a]]; strings as basic strings with minimal escapes; integers in decimal;
 * floats in the shortest form that reads back exactly (always with '.', 'e', inf or nan).
 * Equal trees dump to equal bytes, so sha256 of the dump identifies a recipe. */
rw_status data_toml_dump(const data_toml_doc *doc, FILE *f, rw_err *err);
/* Same text into an owned NUL-terminated buffer (*out freed with rw_free), length in *len. */
rw_status data_toml_dump_str(const data_toml_doc *doc, char **out, size_t *len, rw_err *err);

#endif
