/* libFuzzer target for the gate rule parser (eval/gate.c): any byte string must parse or
 * fail with a message; parsed rules must evaluate on a small comparison without crashing. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "eval/compare.h"
#include "eval/gate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *rule = rw_malloc(size + 1);
    if (!rule) return 0;
    memcpy(rule, data, size);
    rule[size] = '\0';
    eval_gate *g = NULL;
    rw_err err;
    if (eval_gate_create(&g, &err) == RW_OK) {
        rw_status st = eval_gate_add_rule(g, rule, &err);
        if (st != RW_OK && err.msg[0] == '\0') __builtin_trap();
        if (st == RW_OK) {
            /* two queries, metrics mrr@10 and p@5 */
            eval_metric ms[2] = {{EVAL_MRR, 10}, {EVAL_P, 5}};
            char q0[] = "a", q1[] = "b";
            char *qids[2] = {q0, q1};
            double vb[4] = {0.5, 0.2, 1.0, 0.4}, vc[4] = {1.0, 0.4, 0.5, 0.2};
            double mb[2] = {0.75, 0.3}, mc[2] = {0.75, 0.3};
            eval_results b = {.n_metrics = 2, .metrics = ms, .n_queries = 2, .qids = qids, .values = vb, .mean = mb};
            eval_results c = b;
            c.values = vc;
            c.mean = mc;
            eval_stats_opts o = eval_stats_defaults();
            o.resamples = 20;
            o.permutations = 20;
            eval_comparison cmp;
            if (eval_compare(&b, &c, &o, &cmp, &err) == RW_OK) {
                eval_decision d;
                if (eval_gate_decide(g, &cmp, &d, &err) == RW_OK) eval_decision_deinit(&d);
                eval_comparison_deinit(&cmp);
            }
        }
        eval_gate_destroy(g);
    }
    rw_free(rule);
    return 0;
}
