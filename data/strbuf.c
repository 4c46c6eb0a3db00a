/* Growable arrays and the string builder (see strbuf.h). Capacities double from a small
 * first size, so n appends cost O(n) copies in all. */
#include "data/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

void *data_grow(void *v, size_t *cap, size_t elem, size_t first) {
    size_t nc, bytes;
    if (*cap == 0)
        nc = first;
    else if (!rw_size_mul(*cap, 2, &nc))
        return NULL;
    if (!rw_size_mul(nc, elem, &bytes)) return NULL;
    void *nv = rw_realloc(v, bytes);
    if (nv) *cap = nc;
    return nv;
}

/* Room for extra more bytes and the NUL. */
static bool reserve(data_strbuf *b, size_t extra) {
    if (b->failed) return false;
    size_t need;
    if (!rw_size_add(b->n, extra, &need) || !rw_size_add(need, 1, &need)) {
        b->failed = true;
        return false;
    }
    if (need <= b->cap) return true;
    size_t cap = b->cap;
    while (cap < need) {
        char *ns = data_grow(b->s, &cap, 1, 64);
        if (!ns) {
            b->failed = true;
            return false;
        }
        b->s = ns;
        b->cap = cap;
    }
    return true;
}

bool data_strbuf_put(data_strbuf *b, const void *p, size_t n) {
    if (!reserve(b, n)) return false;
    if (n) memcpy(b->s + b->n, p, n);
    b->n += n;
    b->s[b->n] = '\0';
    return true;
}

bool data_strbuf_puts(data_strbuf *b, const char *s) { return data_strbuf_put(b, s, strlen(s)); }

bool data_strbuf_putc(data_strbuf *b, char c) { return data_strbuf_put(b, &c, 1); }

bool data_strbuf_printf(data_strbuf *b, const char *fmt, ...) {
    if (b->failed) return false;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return false;
    }
    if (!reserve(b, (size_t)n)) return false;
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
    return true;
}

char *data_strbuf_take(data_strbuf *b) {
    if (!b->s) data_strbuf_put(b, "", 0); /* "" rather than NULL for an empty success */
    char *s = b->failed ? NULL : b->s;
    if (!s) rw_free(b->s);
    memset(b, 0, sizeof *b);
    return s;
}

void data_strbuf_deinit(data_strbuf *b) {
    rw_free(b->s);
    memset(b, 0, sizeof *b);
}
