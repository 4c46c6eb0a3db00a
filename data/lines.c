/* Line iteration and field splitting for the TREC run and qrels readers (see lines.h). */
#include "data/lines.h"

#include <string.h>

#include "core/alloc.h"

void data_lines_init(data_lines *it, const char *buf, size_t len, const char *name) {
    memset(it, 0, sizeof *it);
    it->buf = buf;
    it->len = len;
    it->name = name;
}

int data_lines_next(data_lines *it, char **line, rw_err *err) {
    if (it->pos >= it->len) return 0;
    const char *start = it->buf + it->pos;
    const char *nl = memchr(start, '\n', it->len - it->pos);
    size_t n = nl ? (size_t)(nl - start) : it->len - it->pos;
    it->pos += n + (nl ? 1 : 0);
    it->lineno++;
    if (n > 0 && start[n - 1] == '\r') n--;
    if (memchr(start, '\0', n))
        return rw_err_set(err, RW_E_FORMAT, "%s:%zu: NUL byte in line", it->name, it->lineno);
    if (n + 1 > it->cap) {
        size_t ncap = n + 1 < 256 ? 256 : n + 1;
        char *nb = rw_realloc(it->line, ncap);
        if (!nb)
            return rw_err_set(err, RW_E_NOMEM, "%s:%zu: out of memory for a %zu-byte line",
                              it->name, it->lineno, n);
        it->line = nb;
        it->cap = ncap;
    }
    memcpy(it->line, start, n);
    it->line[n] = '\0';
    *line = it->line;
    return 1;
}

void data_lines_deinit(data_lines *it) {
    rw_free(it->line);
    it->line = NULL;
    it->cap = 0;
}

static int is_sep(char c) { return c == ' ' || c == '\t'; }

size_t data_split_fields(char *s, char **fields, size_t cap) {
    size_t n = 0;
    while (*s) {
        while (*s && is_sep(*s)) s++;
        if (!*s) break;
        if (n < cap) fields[n] = s;
        n++;
        while (*s && !is_sep(*s)) s++;
        if (*s) *s++ = '\0';
        if (n > cap) break;
    }
    return n;
}
