/* libFuzzer target for the recipe TOML parser (data/toml.h).
 *
 * Property checked on every input: parsing never crashes or leaks; when it succeeds, the
 * canonical dump parses again and dumps to the identical bytes (dump is a fixed point), and
 * every getter/iteration path over the tree is safe. Also drives data_toml_set with the
 * input as an assignment. Seeds: tests/fuzz/corpus/toml/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "data/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const data_toml_node *n, int depth) {
    char path[128];
    (void)data_toml_node_path(n, path, sizeof path);
    size_t len = data_toml_len(n);
    for (size_t i = 0; i < len; i++) {
        const data_toml_node *c = data_toml_at(n, i);
        if (data_toml_node_kind(n) == DATA_TOML_TABLE) {
            const char *k = data_toml_key_at(n, i);
            RW_ASSERT(data_toml_find(n, k) != NULL || strchr(k, '.') != NULL,
                      "key '%s' not found by lookup", k);
        }
        walk(c, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rw_err err;
    data_toml_doc *doc = NULL, *doc2 = NULL;
    char *d1 = NULL, *d2 = NULL;
    size_t n1 = 0, n2 = 0;
    if (data_toml_parse((const char *)data, size, "fuzz.toml", &doc, &err) == RW_OK) {
        walk(data_toml_root(doc), 0);
        RW_ASSERT(data_toml_dump_str(doc, &d1, &n1, &err) == RW_OK, "dump: %s", err.msg);
        if (data_toml_parse(d1, n1, "dump.toml", &doc2, &err) != RW_OK)
            RW_ASSERT(0, "reparse of dump failed: %s\n--- dump ---\n%s", err.msg, d1);
        RW_ASSERT(data_toml_dump_str(doc2, &d2, &n2, &err) == RW_OK, "dump2: %s", err.msg);
        RW_ASSERT(n1 == n2 && memcmp(d1, d2, n1) == 0, "dump not a fixed point:\n%s\n---\n%s", d1,
                  d2);
        /* Overrides on the parsed doc, using the first line of the input as assignment. */
        char line[256];
        size_t l = 0;
        while (l < size && l + 1 < sizeof line && data[l] != '\n' && data[l] != '\0') {
            line[l] = (char)data[l];
            l++;
        }
        line[l] = '\0';
        if (data_toml_set(doc, line, &err) == RW_OK) {
            rw_free(d1);
            d1 = NULL;
            RW_ASSERT(data_toml_dump_str(doc, &d1, &n1, &err) == RW_OK, "dump3: %s", err.msg);
            data_toml_free(doc2);
            doc2 = NULL;
            if (data_toml_parse(d1, n1, "dump.toml", &doc2, &err) != RW_OK)
                RW_ASSERT(0, "reparse after --set '%s' failed: %s\n%s", line, err.msg, d1);
        }
    }
    rw_free(d1);
    rw_free(d2);
    data_toml_free(doc);
    data_toml_free(doc2);
    return 0;
}
