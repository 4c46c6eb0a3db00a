/* Private to data/toml_*.c: the node layout and helpers shared by the parser, the getters,
 * --set overrides and the dumper.
 *
 * Invariants: a table's items are its values in file order, each with key != NULL and keys
 * unique; an array's items have key == NULL. parent is NULL only for the root. Every string
 * and key is valid UTF-8 without NUL. `file` is borrowed: the doc's filename or "--set". */
#ifndef RW_DATA_TOML_INTERNAL_H
#define RW_DATA_TOML_INTERNAL_H

#include "data/toml.h"

enum {
    TOML_F_HEADER = 1u << 0,   /* table defined by a [header] */
    TOML_F_IMPLICIT = 1u << 1, /* table created as a prefix of a [header] */
    TOML_F_DOTTED = 1u << 2,   /* table created (or extended) by dotted keys */
    TOML_F_FROZEN = 1u << 3,   /* inline table or static array: closed to later additions */
    TOML_F_AOT = 1u << 4,      /* array made by [[header]] */
};

enum { TOML_MAX_DEPTH = 128 };

struct data_toml_node {
    data_toml_kind kind;
    unsigned flags;
    uint32_t line, col;
    const char *file;
    char *key;              /* owned; NULL for root and array items */
    data_toml_node *parent; /* borrowed */
    union {
        char *s; /* owned */
        int64_t i;
        double f;
        bool b;
        struct {
            data_toml_node **items; /* owned, n used of cap */
            size_t n, cap;
        } v;
    } u;
};

struct data_toml_doc {
    data_toml_node *root;
    char *filename;
};

/* Node helpers (toml_parse.c). */
data_toml_node *toml_node_new(data_toml_kind kind, const char *file, uint32_t line, uint32_t col);
void toml_node_free(data_toml_node *n);
/* Appends child (ownership moves on success only); returns false on allocation failure. */
bool toml_node_append(data_toml_node *parent, data_toml_node *child);
/* Child of a table by key, or NULL. */
data_toml_node *toml_table_get(const data_toml_node *tbl, const char *key);

/* --set pieces: the dotted key before '=' (*keys owned, *value_at = offset after '='), then
 * the value from offset `at` to the end (blanks allowed around it; depth = nesting so far). */
rw_status toml_parse_set_key(const char *text, size_t len, const char *file, char ***keys,
                             size_t *nkeys, size_t *value_at, rw_err *err);
rw_status toml_parse_set_value(const char *text, size_t len, size_t at, const char *file,
                               const char *keyname, int depth, data_toml_node **out, rw_err *err);
void toml_free_keys(char **keys, size_t n);

#endif
