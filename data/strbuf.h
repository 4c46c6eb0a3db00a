/* Growable buffers: data_grow for arrays of records and data_strbuf, a NUL-terminated string
 * builder. Shared by data/ (stores, TOML parser and writer) and eval/ (runs, reports, SVG
 * charts) so there is one growth and overflow rule.
 *
 * Invariants: sizes are overflow-checked (rw_size_mul / rw_size_add) and memory comes from
 * rw_realloc. A data_strbuf's failure is sticky: once an append runs out of memory (or the
 * size would overflow) every later append is a no-op and returns false, so a writer can
 * append a whole document and check once; s stays NUL-terminated and valid to free.
 * Ownership: the caller owns s (data_strbuf_deinit or data_strbuf_take). */
#ifndef RW_DATA_STRBUF_H
#define RW_DATA_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

/* Returns v reallocated to hold twice *cap elements of elem bytes (first when *cap is 0)
 * and updates *cap; NULL on overflow or out of memory, with v and *cap unchanged (v still
 * owned by the caller). */
void *data_grow(void *v, size_t *cap, size_t elem, size_t first);

typedef struct data_strbuf {
    char *s;       /* owned; NULL until the first append, then NUL-terminated */
    size_t n, cap; /* bytes used (without the NUL), bytes allocated */
    bool failed;   /* sticky: an append ran out of memory */
} data_strbuf;

/* Zero-initialisation ({0}) is an empty builder; no init function is needed. */
bool data_strbuf_put(data_strbuf *b, const void *p, size_t n);
bool data_strbuf_puts(data_strbuf *b, const char *s);
bool data_strbuf_putc(data_strbuf *b, char c);
bool data_strbuf_printf(data_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The string (owned by the caller; "" allocated when nothing was appended), NULL when an
 * append failed or memory runs out; b is left empty either way. */
char *data_strbuf_take(data_strbuf *b);
/* Frees the string and empties b. */
void data_strbuf_deinit(data_strbuf *b);

#endif
