/* rag-adapter import-peft failure paths through the CLI: a PEFT folder that parses but does
 * not fit the base model must exit 1 with a message naming the folder and the weight, and
 * must leave nothing at OUT (nor the temporary beside it). Base model: the llama reference in
 * ../shared/refs (skips, exit 77, when shared is absent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rw_test.h"
#include "train/safetensors.h"

#define MODEL "refs/models/llama-tiny-f16emb.gguf"

static void test_import_does_not_fit(void **state) {
    (void)state;
    char base[600], bin[600], dir[700], path[800], out[700], cmd[3000];
    assert_non_null(rw_test_shared_path(MODEL, base, sizeof base));
    rw_test_bin("rag-adapter", bin, sizeof bin);
    snprintf(dir, sizeof dir, "%s/peft-nofit", rw_test_tmpdir());
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"peft_type\":\"LORA\",\"r\":2,\"lora_alpha\":4,\"target_modules\":[\"v_proj\"]}", f);
    fclose(f);
    /* layer 99 does not exist in the two-layer base */
    static float zeros[2 * 4096];
    train_st_out t[2] = {
        {.name = "base_model.model.model.layers.99.self_attn.v_proj.lora_A.weight", .n_dims = 2,
         .shape = {2, 64}, .data = zeros},
        {.name = "base_model.model.model.layers.99.self_attn.v_proj.lora_B.weight", .n_dims = 2,
         .shape = {64, 2}, .data = zeros},
    };
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    rw_err err;
    if (train_st_write(path, t, 2, NULL, 0, &err)) fail_msg("%s", err.msg);
    snprintf(out, sizeof out, "%s/out.gguf", rw_test_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s' import-peft '%s' --base '%s' '%s' 2>&1", bin, dir, base, out);
    char *msg = NULL;
    int rc = rw_test_run(cmd, &msg);
    assert_non_null(msg);
    int ok = rc == 1 && strstr(msg, "blk.99.attn_v.weight") && strstr(msg, "peft-nofit");
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", msg);
    free(msg);
    if (!ok) fail_msg("rc %d, message: %s", rc, copy);
    struct stat sb;
    assert_int_not_equal(stat(out, &sb), 0); /* nothing at OUT */
    snprintf(path, sizeof path, "%s.tmp", out);
    assert_int_not_equal(stat(path, &sb), 0); /* and no temporary left behind */
}

int main(void) {
    char base[600];
    if (!rw_test_shared_path(MODEL, base, sizeof base)) return RW_TEST_SKIP;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_import_does_not_fit)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
