/* libFuzzer target for the TREC run parser (data/trec_run.c) and the run ordering in
 * eval/run.c: arbitrary bytes must give RW_OK or an error with a message, never a crash,
 * a leak or a read outside the buffer. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "data/trec_run.h"
#include "eval/run.h"

static rw_status add_row(void *user, const data_trec_row *row, rw_err *err) {
    return eval_run_add(user, row->qid, row->docid, row->rank, row->score, row->line, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* Copy into an exact-size heap block so ASan catches any read past the end. */
    char *buf = rw_malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    eval_run *r = NULL;
    rw_err err;
    if (eval_run_create(&r, &err) == RW_OK) {
        rw_status st = data_trec_run_parse(buf, size, "fuzz.run", add_row, r, &err);
        if (st == RW_OK) st = eval_run_finalize(r, &err);
        if (st == RW_OK) {
            for (size_t i = 0; i < eval_run_n_queries(r); i++)
                for (size_t j = 0; j < eval_run_len(r, i); j++) (void)eval_run_doc(r, i, j);
        } else if (err.msg[0] == '\0') {
            __builtin_trap(); /* every error carries a message */
        }
        eval_run_destroy(r);
    }
    rw_free(buf);
    return 0;
}
