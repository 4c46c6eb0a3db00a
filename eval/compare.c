/* Paired comparison of two evaluated runs (see compare.h). */
#include "eval/compare.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "eval/internal.h"

void eval_comparison_column(const eval_comparison *c, size_t m, double *a, double *b) {
    size_t nm = c->base->n_metrics;
    for (size_t i = 0; i < c->base->n_queries; i++) {
        a[i] = c->base->values[i * nm + m];
        b[i] = c->cand->values[i * nm + m];
    }
}

/* Bootstrap CIs of every metric (baseline, candidate, paired difference) in one pass over
 * the resamples: the same draws as eval_bootstrap_ci / eval_bootstrap_diff_ci with this
 * seed (rw_rng seeded once, n draws per resample) and the same summation order, so the
 * bounds are bit-identical to those functions and to the gate's ci_low / ci_high, at a
 * fraction of the cost. Returns RW_E_NOMEM when the B x n_metrics table does not fit. */
static rw_status bootstrap_all(const eval_comparison *c, eval_metric_cmp *out, rw_err *err) {
    size_t n = c->base->n_queries, nm = c->n_metrics, B = c->opts.resamples, cells;
    if (!rw_size_mul(B, nm, &cells) || cells > ((size_t)32 << 20))
        return RW_E_RANGE; /* caller falls back to one metric at a time */
    rw_status st = RW_OK;
    uint32_t *idx = rw_alloc_array(n, sizeof *idx);
    double *vb = rw_alloc_array(cells, sizeof *vb), *vc = rw_alloc_array(cells, sizeof *vc);
    double *vd = rw_alloc_array(cells, sizeof *vd), *col = rw_alloc_array(B, sizeof *col);
    if (!idx || !vb || !vc || !vd || !col) {
        st = rw_err_set(err, RW_E_NOMEM, "compare: out of memory for %zu bootstrap resamples", B);
        goto done;
    }
    const double *a = c->base->values, *b = c->cand->values;
    rw_rng rng;
    rw_rng_seed(&rng, c->opts.seed);
    for (size_t r = 0; r < B; r++) {
        for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)rw_rng_below(&rng, n);
        for (size_t m = 0; m < nm; m++) {
            double sa = 0, sb = 0, sd = 0;
            for (size_t i = 0; i < n; i++) {
                double x = a[(size_t)idx[i] * nm + m], y = b[(size_t)idx[i] * nm + m];
                sa += x;
                sb += y;
                sd += y - x;
            }
            vb[r * nm + m] = sa / (double)n;
            vc[r * nm + m] = sb / (double)n;
            vd[r * nm + m] = sd / (double)n;
        }
    }
    for (size_t m = 0; m < nm; m++) {
        eval_metric_cmp *x = &out[m];
        for (size_t r = 0; r < B; r++) col[r] = vb[r * nm + m];
        eval_percentile_ci(col, B, c->opts.level, &x->base_lo, &x->base_hi);
        for (size_t r = 0; r < B; r++) col[r] = vc[r * nm + m];
        eval_percentile_ci(col, B, c->opts.level, &x->cand_lo, &x->cand_hi);
        for (size_t r = 0; r < B; r++) col[r] = vd[r * nm + m];
        eval_percentile_ci(col, B, c->opts.level, &x->diff_lo, &x->diff_hi);
    }
done:
    rw_free(idx);
    rw_free(vb);
    rw_free(vc);
    rw_free(vd);
    rw_free(col);
    return st;
}

rw_status eval_compare(const eval_results *base, const eval_results *cand,
                       const eval_stats_opts *opts, eval_comparison *out, rw_err *err) {
    rw_status st = eval_stats_check(opts, err);
    if (st != RW_OK) return st;
    if (base->n_queries != cand->n_queries)
        return rw_err_set(err, RW_E_INVALID, "compare: baseline has %zu queries, candidate %zu",
                          base->n_queries, cand->n_queries);
    if (base->n_queries == 0)
        return rw_err_set(err, RW_E_INVALID, "compare: no query with a relevant document");
    for (size_t i = 0; i < base->n_queries; i++)
        if (strcmp(base->qids[i], cand->qids[i]) != 0)
            return rw_err_set(err, RW_E_INVALID, "compare: query %zu is '%.64s' in the baseline but '%.64s' in the candidate",
                              i, base->qids[i], cand->qids[i]);
    if (base->n_metrics != cand->n_metrics)
        return rw_err_set(err, RW_E_INVALID, "compare: different metric sets");
    for (size_t m = 0; m < base->n_metrics; m++)
        if (!eval_metric_equal(base->metrics[m], cand->metrics[m]))
            return rw_err_set(err, RW_E_INVALID, "compare: different metric sets");
    size_t n = base->n_queries, nm = base->n_metrics;
    eval_comparison c = {.opts = *opts, .n_metrics = nm, .base = base, .cand = cand};
    double *a = rw_alloc_array(n, sizeof *a), *b = rw_alloc_array(n, sizeof *b);
    c.m = rw_calloc(nm ? nm : 1, sizeof *c.m);
    if (!a || !b || !c.m) {
        st = rw_err_set(err, RW_E_NOMEM, "compare: out of memory");
        goto fail;
    }
    for (size_t m = 0; m < nm; m++) {
        eval_metric_cmp *x = &c.m[m];
        eval_comparison_column(&c, m, a, b);
        x->metric = base->metrics[m];
        x->base = base->mean[m];
        x->cand = cand->mean[m];
        x->diff = x->cand - x->base;
        for (size_t i = 0; i < n; i++) {
            double d = b[i] - a[i];
            if (d > 1e-12)
                x->wins++;
            else if (d < -1e-12)
                x->losses++;
            else
                x->ties++;
        }
        if ((st = eval_permutation_test(a, b, n, opts, &x->p_value, err)) != RW_OK) goto fail;
        x->cohen_d = eval_cohens_d(a, b, n);
    }
    st = bootstrap_all(&c, c.m, err);
    if (st == RW_E_RANGE) { /* too many resamples x metrics for one table */
        st = RW_OK;
        for (size_t m = 0; m < nm && st == RW_OK; m++) {
            eval_metric_cmp *x = &c.m[m];
            eval_comparison_column(&c, m, a, b);
            if ((st = eval_bootstrap_ci(a, n, opts, &x->base_lo, &x->base_hi, err)) == RW_OK &&
                (st = eval_bootstrap_ci(b, n, opts, &x->cand_lo, &x->cand_hi, err)) == RW_OK)
                st = eval_bootstrap_diff_ci(a, b, n, opts, &x->diff_lo, &x->diff_hi, err);
        }
    }
    if (st != RW_OK) goto fail;
    rw_free(a);
    rw_free(b);
    *out = c;
    return RW_OK;
fail:
    rw_free(a);
    rw_free(b);
    rw_free(c.m);
    return st;
}

void eval_comparison_deinit(eval_comparison *c) {
    if (!c) return;
    rw_free(c->m);
    memset(c, 0, sizeof *c);
}
