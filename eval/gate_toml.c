/* Gate configuration from a recipe's [gate] table (keys listed in gate.h). */
#include "eval/gate.h"

#include <stdio.h>
#include <string.h>

#include "data/toml.h"

static rw_status where(rw_err *err, const data_toml_node *n, const char *key) {
    return rw_err_prefix(err, "%s:%u:%u: gate.%s: ", data_toml_node_file(n), (unsigned)data_toml_node_line(n),
                         (unsigned)data_toml_node_col(n), key);
}

rw_status eval_gate_from_toml(const data_toml_node *tbl, eval_gate **out, rw_err *err) {
    static const char *const keys[] = {"require",   "max_regressed_queries", "regression_metric", "seed",
                                       "resamples", "permutations",          "confidence"};
    eval_gate *g = NULL;
    rw_status st = data_toml_check_keys(tbl, keys, sizeof keys / sizeof keys[0], err);
    if (st != RW_OK) return st;
    if ((st = eval_gate_create(&g, err)) != RW_OK) return st;
    const data_toml_node *req = data_toml_find(tbl, "require");
    if (req) {
        if ((st = data_toml_get_array(tbl, "require", &req, err)) != RW_OK) goto fail;
        for (size_t i = 0; i < data_toml_len(req); i++) {
            const data_toml_node *item = data_toml_at(req, i);
            if (data_toml_node_kind(item) != DATA_TOML_STRING) {
                st = rw_err_set(err, RW_E_FORMAT, "%s:%u:%u: gate.require[%zu] must be a string, found %s",
                                data_toml_node_file(item), (unsigned)data_toml_node_line(item),
                                (unsigned)data_toml_node_col(item), i,
                                data_toml_kind_name(data_toml_node_kind(item)));
                goto fail;
            }
            if ((st = eval_gate_add_rule(g, data_toml_as_str(item), err)) != RW_OK) {
                char key[32];
                snprintf(key, sizeof key, "require[%zu]", i);
                where(err, item, key);
                goto fail;
            }
        }
    }
    double frac = -1;
    if ((st = data_toml_get_f64_or(tbl, "max_regressed_queries", -1, &frac, err)) != RW_OK) goto fail;
    if (data_toml_find(tbl, "max_regressed_queries") && (frac < 0 || frac > 1)) {
        st = rw_err_set(err, RW_E_INVALID, "%s:%u:%u: gate.max_regressed_queries = %g: must be in [0, 1]",
                        data_toml_node_file(data_toml_find(tbl, "max_regressed_queries")),
                        (unsigned)data_toml_node_line(data_toml_find(tbl, "max_regressed_queries")),
                        (unsigned)data_toml_node_col(data_toml_find(tbl, "max_regressed_queries")), frac);
        goto fail;
    }
    if ((st = eval_gate_set_max_regressed(g, frac, err)) != RW_OK) goto fail;
    const char *rm = NULL;
    if ((st = data_toml_get_str_or(tbl, "regression_metric", NULL, &rm, err)) != RW_OK) goto fail;
    if (rm) {
        eval_metric m;
        if ((st = eval_metric_parse(rm, strlen(rm), &m, err)) != RW_OK) {
            where(err, data_toml_find(tbl, "regression_metric"), "regression_metric");
            goto fail;
        }
        eval_gate_set_regression_metric(g, m);
    }
    eval_stats_opts o = eval_stats_defaults();
    int64_t seed = (int64_t)o.seed, res = (int64_t)o.resamples, perm = (int64_t)o.permutations;
    if ((st = data_toml_get_i64_or(tbl, "seed", seed, &seed, err)) != RW_OK ||
        (st = data_toml_get_i64_or(tbl, "resamples", res, &res, err)) != RW_OK ||
        (st = data_toml_get_i64_or(tbl, "permutations", perm, &perm, err)) != RW_OK ||
        (st = data_toml_get_f64_or(tbl, "confidence", o.level, &o.level, err)) != RW_OK)
        goto fail;
    if (seed < 0 || res < 1 || perm < 1) {
        st = rw_err_set(err, RW_E_INVALID, "%s: [gate] seed must be >= 0, resamples and permutations >= 1",
                        data_toml_node_file(tbl));
        goto fail;
    }
    o.seed = (uint64_t)seed;
    o.resamples = (size_t)res;
    o.permutations = (size_t)perm;
    if ((st = eval_stats_check(&o, err)) != RW_OK) {
        rw_err_prefix(err, "%s: [gate] ", data_toml_node_file(tbl));
        goto fail;
    }
    eval_gate_set_stats(g, &o);
    *out = g;
    return RW_OK;
fail:
    eval_gate_destroy(g);
    return st;
}

rw_status eval_gate_load(const char *recipe_path, eval_gate **out, rw_err *err) {
    data_toml_doc *doc = NULL;
    rw_status st = data_toml_parse_file(recipe_path, &doc, err);
    if (st != RW_OK) return st;
    const data_toml_node *tbl = NULL;
    st = data_toml_get_table(data_toml_root(doc), "gate", &tbl, err);
    if (st == RW_OK) st = eval_gate_from_toml(tbl, out, err);
    data_toml_free(doc);
    return st;
}
