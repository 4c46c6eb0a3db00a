/* eval/ private declarations: an interning string table (string -> dense index). */
#ifndef RW_EVAL_INTERNAL_H
#define RW_EVAL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Open-addressing hash table of owned strings; index i is the i-th distinct string added.
 * Invariant: slots has a power-of-two size >= 2*n; slot value 0 = empty, else index+1. */
typedef struct eval_strtab {
    char **strs; /* [n] owned */
    size_t n, cap_strs;
    uint32_t *slots; /* [n_slots] */
    size_t n_slots;
} eval_strtab;

void eval_strtab_init(eval_strtab *t);
void eval_strtab_deinit(eval_strtab *t);
/* Index of s, adding it when absent (*added set when non-NULL). RW_E_NOMEM on failure. */
rw_status eval_strtab_intern(eval_strtab *t, const char *s, uint32_t *idx, int *added);
/* Index of s or -1. */
long eval_strtab_find(const eval_strtab *t, const char *s);

#endif
