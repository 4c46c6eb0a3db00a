/* Tape storage: a growable array of records. Growth is geometric, so a step that records
 * the same ops as the previous one allocates nothing after the first step. */
#include "core/tape.h"

#include <string.h>

#include "core/alloc.h"

void rw_tape_init(rw_tape *t) { memset(t, 0, sizeof *t); }

void rw_tape_deinit(rw_tape *t) {
    rw_free(t->recs);
    memset(t, 0, sizeof *t);
}

rw_status rw_tape_push(rw_tape *t, const rw_tape_rec *rec, rw_err *err) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        rw_tape_rec *r = rw_realloc(t->recs, cap * sizeof *r);
        if (!r) return rw_err_set(err, RW_E_NOMEM, "tape: cannot grow to %zu records", cap);
        t->recs = r;
        t->cap = cap;
    }
    t->recs[t->n++] = *rec;
    if (t->n > t->high_water) t->high_water = t->n;
    return RW_OK;
}

void rw_tape_clear(rw_tape *t) { t->n = 0; }
