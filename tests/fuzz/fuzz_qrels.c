/* libFuzzer target for the qrels parser (data/beir.c: BEIR TSV with header, TREC 4-column)
 * feeding eval/run.c's qrels (duplicate detection, sorting). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "data/beir.h"
#include "eval/run.h"

static rw_status add(void *user, const data_qrel_row *row, rw_err *err) {
    return eval_qrels_add(user, row->qid, row->docid, row->grade, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = rw_malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    eval_qrels *q = NULL;
    rw_err err;
    if (eval_qrels_create(&q, &err) == RW_OK) {
        rw_status st = data_qrels_parse(buf, size, "fuzz.tsv", add, q, &err);
        if (st == RW_OK) st = eval_qrels_finalize(q, &err);
        if (st != RW_OK && err.msg[0] == '\0') __builtin_trap();
        if (st == RW_OK)
            for (size_t i = 0; i < eval_qrels_n_queries(q); i++) {
                long ideal[8];
                (void)eval_qrels_ideal(q, i, ideal, 8);
                (void)eval_qrels_grade(q, i, "x");
            }
        eval_qrels_destroy(q);
    }
    rw_free(buf);
    return 0;
}
