/* libFuzzer target for the JSONL dataset reader (data/jsonl.h): the input is read once with
 * format detection under the SKIP policy and a small line cap, then once per forced format
 * under FATAL (continuing after each error), so every field check sees arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "data/jsonl.h"

static void drain(const uint8_t *data, size_t size, data_jsonl_format f, data_jsonl_policy p,
                  size_t max_line) {
    data_jsonl_reader *r = NULL;
    data_jsonl_options opt = {.format = f, .policy = p, .default_source = "fuzz",
                              .max_line_bytes = max_line};
    rw_err err;
    if (data_jsonl_open_mem(data, size, "fuzz.jsonl", &opt, &r, &err) != RW_OK) return;
    for (int guard = 0; guard < 100000; guard++) {
        data_example ex;
        bool got = false;
        rw_status s = data_jsonl_next(r, &ex, &got, &err);
        if (s == RW_OK && !got) break;
        if (s != RW_OK && s != RW_E_FORMAT) break;
        if (s == RW_OK) {
            /* Touch every view so ASan checks it. */
            size_t sum = strlen(ex.source ? ex.source : "");
            for (size_t i = 0; i < ex.n_messages; i++)
                sum += strlen(ex.messages[i].role) + strlen(ex.messages[i].content);
            const char *v[] = {ex.prompt, ex.completion, ex.text,  ex.anchor,  ex.positive,
                               ex.negative, ex.query,    ex.output, ex.document};
            for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) sum += v[i] ? strlen(v[i]) : 0;
            if (sum == (size_t)-1) break;
        }
    }
    for (size_t i = 0; i < data_jsonl_n_skipped(r) && i < DATA_JSONL_KEEP_MESSAGES; i++)
        (void)strlen(data_jsonl_skip_message(r, i));
    data_jsonl_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    drain(data, size, DATA_JSONL_AUTO, DATA_JSONL_SKIP, 4096);
    for (int f = DATA_JSONL_CHAT; f <= DATA_JSONL_CRITIC; f++)
        drain(data, size, (data_jsonl_format)f, DATA_JSONL_FATAL, 0);
    return 0;
}
