/* libFuzzer target for the rag-train recipe schema (train/recipe.h) on top of the TOML
 * parser (fuzzed on its own by fuzz_toml).
 *
 * Property checked on every input: loading never crashes or leaks; a recipe that loads has
 * its invariants (exactly one of steps/epochs, rank >= 1, a valid hash, a non-empty target
 * set) and loads again to the same hash (the hash is a function of the document). Seeds:
 * tests/fuzz/corpus/recipe/. */
#include <stdint.h>
#include <string.h>

#include "core/assert.h"
#include "train/recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    train_recipe r, r2;
    rw_err err;
    if (train_recipe_parse((const char *)data, size, "fuzz/r.toml", NULL, 0, &r, &err) != RW_OK)
        return 0;
    RW_ASSERT((r.steps > 0) != (r.epochs > 0), "steps/epochs");
    RW_ASSERT(r.rank >= 1 && r.targets != 0, "rank/targets");
    RW_ASSERT(data_sha256_valid(r.sha256), "hash");
    RW_ASSERT(train_recipe_parse((const char *)data, size, "fuzz/r.toml", NULL, 0, &r2, &err) ==
                  RW_OK,
              "second load failed");
    RW_ASSERT(strcmp(r.sha256, r2.sha256) == 0, "hash not stable");
    train_recipe_deinit(&r2);
    train_recipe_deinit(&r);
    return 0;
}
