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

/* Sorts vals[n] in place and writes the percentile CI at `level` (stats.c). */
void eval_percentile_ci(double *vals, size_t n, double level, double *lo, double *hi);

/* ---- charts (chart.c): SVG documents drawn with Cairo's SVG surface ----
 * Each function returns an owned (rw_malloc) NUL-terminated SVG document in *svg. */

typedef struct eval_bar_series {
    const char *label; /* legend text */
    const double *v, *lo, *hi; /* [n] value and CI whisker ends (lo/hi may be NULL) */
    double rgb[3];
} eval_bar_series;

/* Grouped bars: one group per name, one bar per series, whiskers from lo to hi. */
rw_status eval_chart_bars(const char *title, const char *const *names, size_t n,
                          const eval_bar_series *series, size_t n_series, char **svg, rw_err *err);
/* Histogram of per-query differences d[n] (candidate - baseline) over [-range, range] in
 * n_bins bins; losses red, ties grey, wins green. */
rw_status eval_chart_winloss(const char *title, const double *d, size_t n, char **svg, rw_err *err);
/* Line chart of up to 4 series sharing x; NaN y values are skipped. */
typedef struct eval_line_series {
    const char *label;
    const double *x, *y;
    size_t n;
    double rgb[3];
} eval_line_series;
rw_status eval_chart_lines(const char *title, const char *xlabel, const eval_line_series *s,
                           size_t n_series, char **svg, rw_err *err);
