/* Line-by-line reading of a text held in memory, and whitespace field splitting: the common
 * front end of the TREC run and qrels readers.
 *
 * Invariants: the input is never modified; each line is copied into the iterator's scratch
 * buffer (NUL-terminated, trailing CR dropped) so callers may split it in place; a line
 * holding a NUL byte is an error naming <name>:<line>. Line numbers count from 1. */
#ifndef RW_DATA_LINES_H
#define RW_DATA_LINES_H

#include <stddef.h>

#include "core/status.h"

typedef struct data_lines {
    const char *buf; /* borrowed: the text, len bytes (need not be NUL-terminated) */
    size_t len, pos;
    size_t lineno;   /* number of the line last returned */
    const char *name; /* borrowed: file name for messages */
    char *line;      /* owned scratch: the current line */
    size_t cap;
} data_lines;

void data_lines_init(data_lines *it, const char *buf, size_t len, const char *name);
/* Next line into *line (a view into the scratch, valid until the next call): 1 on a line,
 * 0 at the end, a negative status with err filled on a NUL byte or out of memory. */
int data_lines_next(data_lines *it, char **line, rw_err *err);
void data_lines_deinit(data_lines *it);

/* Splits s in place on spaces/tabs into fields[0..cap); returns the field count, counting
 * one past cap at most (so "more than cap" is detectable). */
size_t data_split_fields(char *s, char **fields, size_t cap);

#endif
