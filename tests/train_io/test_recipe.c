/* train/recipe: the rag-train TOML schema.
 *
 * References: hand-written recipes whose expected fields are C literals here; malformed
 * recipes whose expected file:line:col was counted by hand; the shipped recipes/persona.toml
 * must load. The hash property is checked by construction: equal math -> equal hash,
 * volatile key changed -> equal hash, a math key changed -> different hash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "rw_test.h"
#include "train/recipe.h"

static const char *k_min = "[model]\n"
                           "path = \"m.gguf\"\n"
                           "[data]\n"
                           "train = \"t.jsonl\"\n"
                           "[train]\n"
                           "steps = 10\n";

static void load_ok(const char *text, const char *const *sets, size_t n, train_recipe *r) {
    rw_err err;
    rw_err_clear(&err);
    rw_status st = train_recipe_parse(text, strlen(text), "dir/r.toml", sets, n, r, &err);
    if (st) fail_msg("recipe failed: %s\n%s", err.msg, text);
}

static void test_defaults(void **state) {
    (void)state;
    train_recipe r;
    load_ok(k_min, NULL, 0, &r);
    assert_string_equal(r.model_path, "dir/m.gguf");
    assert_string_equal(r.train_path, "dir/t.jsonl");
    assert_null(r.valid_path);
    assert_string_equal(r.chat_template, "auto");
    assert_int_equal(r.rank, 8);
    assert_true(r.alpha == 8.0);
    assert_int_equal(r.targets, (1u << TRAIN_T_ATTN_Q) | (1u << TRAIN_T_ATTN_V));
    assert_int_equal(r.layer_first, 0);
    assert_int_equal(r.layer_last, -1);
    assert_int_equal(r.steps, 10);
    assert_int_equal(r.batch, 4);
    assert_int_equal(r.grad_accum, 1);
    assert_int_equal(r.schedule, TRAIN_SCHED_COSINE);
    assert_int_equal(r.on_error, DATA_JSONL_SKIP);
    assert_true(r.fmt_gguf);
    assert_false(r.fmt_peft);
    assert_string_equal(r.component, "persona:persona");
    assert_true(data_sha256_valid(r.sha256));
    train_recipe_deinit(&r);
}

static void test_full(void **state) {
    (void)state;
    const char *text = "[model]\npath = \"/abs/m.gguf\"\nchat_template = \"chatml\"\nthreads = 2\n"
                       "[adapter]\nrank = 16\nalpha = 32\ndropout = 0.1\nrslora = true\n"
                       "targets = [\"attn_q\", \"ffn_down\"]\nlayers = \"2-5\"\n"
                       "[data]\ntrain = \"t.jsonl\"\nvalid = \"v.jsonl\"\nformat = \"chat\"\n"
                       "max_seq = 256\npacking = true\non_error = \"fatal\"\nsource = \"wiki\"\n"
                       "[train]\nepochs = 2\nbatch = 2\ngrad_accum = 3\nlr = 3e-4\n"
                       "schedule = \"linear\"\nwarmup = 5\nweight_decay = 0.01\nclip = 0.5\n"
                       "seed = 42\neval_every = 7\ncheckpoint_every = 9\ncheckpointing = true\n"
                       "[output]\ndir = \"out\"\nname = \"bob\"\nformats = [\"peft\"]\n"
                       "dtype = \"f16\"\nregister = true\ndb = \"x.db\"\n";
    train_recipe r;
    load_ok(text, NULL, 0, &r);
    assert_string_equal(r.model_path, "/abs/m.gguf");
    assert_int_equal(r.threads, 2);
    assert_int_equal(r.rank, 16);
    assert_true(r.alpha == 32.0);
    assert_true(r.dropout == 0.1);
    assert_true(r.rslora);
    assert_int_equal(r.targets, (1u << TRAIN_T_ATTN_Q) | (1u << TRAIN_T_FFN_DOWN));
    assert_int_equal(r.layer_first, 2);
    assert_int_equal(r.layer_last, 5);
    char csv[128];
    assert_string_equal(train_recipe_targets_csv(&r, csv, sizeof csv), "attn_q,ffn_down");
    assert_string_equal(r.valid_path, "dir/v.jsonl");
    assert_int_equal(r.format, DATA_JSONL_CHAT);
    assert_int_equal(r.max_seq, 256);
    assert_true(r.packing);
    assert_int_equal(r.on_error, DATA_JSONL_FATAL);
    assert_string_equal(r.source, "wiki");
    assert_int_equal(r.steps, 0);
    assert_int_equal(r.epochs, 2);
    assert_int_equal(r.grad_accum, 3);
    assert_true(r.lr == 3e-4);
    assert_int_equal(r.schedule, TRAIN_SCHED_LINEAR);
    assert_int_equal(r.seed, 42);
    assert_true(r.checkpointing);
    assert_false(r.fmt_gguf);
    assert_true(r.fmt_peft);
    assert_true(r.out_f16);
    assert_true(r.do_register);
    assert_string_equal(r.db_path, "dir/x.db");
    assert_string_equal(r.component, "persona:bob");
    train_recipe_deinit(&r);
}

static void test_set_and_hash(void **state) {
    (void)state;
    train_recipe a, b, c, d;
    load_ok(k_min, NULL, 0, &a);
    const char *s1[] = {"train.lr=5e-4", "adapter.rank=4"};
    load_ok(k_min, s1, 2, &b);
    assert_true(b.lr == 5e-4);
    assert_int_equal(b.rank, 4);
    assert_string_not_equal(a.sha256, b.sha256);
    /* volatile keys: output folder, eval cadence, model path (hash of the file is separate) */
    const char *s2[] = {"output.dir=elsewhere", "train.eval_every=3", "model.path=/x/y.gguf",
                        "train.log_every=5"};
    load_ok(k_min, s2, 4, &c);
    assert_string_equal(a.sha256, c.sha256);
    assert_string_equal(c.model_path, "/x/y.gguf");
    /* the hash ignores formatting and key order */
    const char *reordered = "[train]\nsteps = 10 # ten\n[data]\ntrain = 't.jsonl'\n"
                            "[model]\npath = \"m.gguf\"\n";
    load_ok(reordered, NULL, 0, &d);
    assert_string_equal(a.sha256, d.sha256);
    train_recipe_deinit(&a);
    train_recipe_deinit(&b);
    train_recipe_deinit(&c);
    train_recipe_deinit(&d);
}

typedef struct bad_case {
    const char *text;
    const char *set; /* optional --set */
    rw_status code;
    const char *needle; /* substring of the message */
} bad_case;

static void test_malformed(void **state) {
    (void)state;
    static const bad_case cases[] = {
        /* unknown key, with its position (line 6, col 1) */
        {"[model]\npath = \"m\"\n[data]\ntrain = \"t\"\n[train]\nlrr = 1\nsteps = 1\n", NULL,
         RW_E_FORMAT, "unknown key 'lrr'"},
        {"[model]\npath = \"m\"\n[data]\ntrain = \"t\"\n[train]\nlrr = 1\nsteps = 1\n", NULL,
         RW_E_FORMAT, "dir/r.toml:6:1"},
        {"[model]\npath = \"m\"\n[data]\ntrain = \"t\"\n[trian]\nsteps = 1\n", NULL, RW_E_FORMAT,
         "unknown key 'trian'"},
        /* missing [model] path */
        {"[model]\n[data]\ntrain = \"t\"\n[train]\nsteps = 1\n", NULL, RW_E_NOTFOUND, "path"},
        {"[data]\ntrain = \"t\"\n[train]\nsteps = 1\n", NULL, RW_E_NOTFOUND, "[model]"},
        /* wrong type: position of the key (line 6, col 1) */
        {"[model]\npath = \"m\"\n[data]\ntrain = \"t\"\n[train]\nlr = \"fast\"\nsteps = 1\n", NULL,
         RW_E_FORMAT, "dir/r.toml:6:1"},
        /* ranges */
        {"[model]\npath = \"m\"\n[adapter]\nrank = 0\n[data]\ntrain = \"t\"\n[train]\nsteps = 1\n",
         NULL, RW_E_RANGE, "adapter.rank"},
        {"[model]\npath = \"m\"\n[data]\ntrain = \"t\"\n[train]\nsteps = 1\nlr = -1.0\n", NULL,
         RW_E_RANGE, "train.lr"},
        /* steps and epochs */
        {"[model]\npath = \"m\"\n[data]\ntrain = \"t\"\n[train]\nsteps = 1\nepochs = 1\n", NULL,
         RW_E_INVALID, "exactly one"},
        {"[model]\npath = \"m\"\n[data]\ntrain = \"t\"\n", NULL, RW_E_INVALID, "exactly one"},
        /* enumerations */
        {"[model]\npath = \"m\"\n[adapter]\ntargets = [\"attn_x\"]\n[data]\ntrain = \"t\"\n"
         "[train]\nsteps = 1\n",
         NULL, RW_E_FORMAT, "adapter.targets[0]"},
        {"[model]\npath = \"m\"\n[adapter]\nlayers = \"3-1\"\n[data]\ntrain = \"t\"\n"
         "[train]\nsteps = 1\n",
         NULL, RW_E_RANGE, "3-1"},
        {"[model]\npath = \"m\"\n[adapter]\nlayers = \"1,x\"\n[data]\ntrain = \"t\"\n"
         "[train]\nsteps = 1\n",
         NULL, RW_E_FORMAT, "adapter.layers"},
        {"[model]\npath = \"m\"\n[data]\ntrain = \"t\"\non_error = \"ignore\"\n[train]\nsteps = 1\n",
         NULL, RW_E_RANGE, "data.on_error"},
        {"[model]\npath = \"m\"\n[data]\ntrain = \"t\"\nformat = \"pairs\"\n[train]\nsteps = 1\n",
         NULL, RW_E_RANGE, "data.format"},
        {"[model]\npath = \"m\"\n[data]\ntrain = \"t\"\n[train]\nsteps = 1\n[output]\n"
         "formats = [\"onnx\"]\n",
         NULL, RW_E_FORMAT, "output.formats[0]"},
        {"[model]\npath = \"m\"\n[data]\ntrain = \"t\"\n[train]\nsteps = 1\n[output]\n"
         "name = \"Bad Name\"\n",
         NULL, RW_E_RANGE, "output.name"},
        {"[model]\npath = \"m\"\n[data]\ntrain = \"t\"\n[train]\nsteps = 1\nschedule = \"step\"\n",
         NULL, RW_E_RANGE, "train.schedule"},
        /* --set: bad assignment, type change, schema error from a new key */
        {"[model]\npath = \"m\"\n[data]\ntrain = \"t\"\n[train]\nsteps = 1\n", "train.steps=\"x\"",
         RW_E_INVALID, "--set"},
        {"[model]\npath = \"m\"\n[data]\ntrain = \"t\"\n[train]\nsteps = 1\n", "train.bogus=1",
         RW_E_FORMAT, "unknown key 'bogus'"},
        /* TOML syntax errors keep the parser's file:line:col */
        {"[model]\npath = \"m\n", NULL, RW_E_FORMAT, "dir/r.toml:2:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case *c = &cases[i];
        train_recipe r;
        memset(&r, 0x5a, sizeof r);
        rw_err err;
        rw_err_clear(&err);
        const char *sets[1] = {c->set};
        rw_status st = train_recipe_parse(c->text, strlen(c->text), "dir/r.toml", sets,
                                          c->set ? 1 : 0, &r, &err);
        if (st != c->code || !strstr(err.msg, c->needle))
            fail_msg("case %zu: got %d '%s', want %d containing '%s'", i, st, err.msg, c->code,
                     c->needle);
        /* out untouched on failure */
        assert_int_equal(((unsigned char *)&r)[0], 0x5a);
    }
}

static void test_layers(void **state) {
    (void)state;
    int64_t f, l;
    assert_int_equal(train_layers_parse("all", &f, &l, NULL), RW_OK);
    assert_true(f == 0 && l == -1);
    assert_int_equal(train_layers_parse("5", &f, &l, NULL), RW_OK);
    assert_true(f == 5 && l == 5);
    assert_int_equal(train_layers_parse("0-11", &f, &l, NULL), RW_OK);
    assert_true(f == 0 && l == 11);
    const char *bad[] = {"", "-1", "1-", "1,", ",1", "a", "1 - 2", "2-1", "1;2", "0-3,8", "999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (train_layers_parse(bad[i], &f, &l, NULL) == RW_OK) fail_msg("accepted '%s'", bad[i]);
}

static void test_shipped_recipes(void **state) {
    (void)state;
    const char *src = getenv("RW_SOURCE_DIR");
    if (!src) skip();
    const char *names[] = {"recipes/persona.toml", "recipes/quickstart.toml"};
    for (int i = 0; i < 2; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", src, names[i]);
        train_recipe r;
        rw_err err;
        rw_err_clear(&err);
        if (train_recipe_load(path, NULL, 0, &r, &err)) fail_msg("%s: %s", path, err.msg);
        train_recipe_deinit(&r);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),   cmocka_unit_test(test_full),
        cmocka_unit_test(test_set_and_hash), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_layers),     cmocka_unit_test(test_shipped_recipes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
