/* rag-train end to end on a tiny llama (1 layer, width 64, the default byte-level BPE
 * vocabulary with ChatML):
 *   - persona: 200 generated chat examples whose assistant answers all end with the
 *     signature "Ahoy matey!"; the held-out loss must fall by more than half, and greedy
 *     rag-generate with the trained adapter must produce the signature's "matey" where the
 *     base model does not (an independent program: infer's runtime loads the GGUF LoRA);
 *   - resume: a run stopped after 6 of 12 steps (checkpoint at 4) and resumed logs the same
 *     loss and validation loss at every step as the uninterrupted run, bit for bit (the
 *     %.17g text of a double is equal iff the doubles are), and writes the same adapter
 *     bytes; with 2 threads;
 *   - refusals: an existing checkpoint without --resume, a changed recipe, a changed base
 *     model, a corrupted checkpoint; a NaN loss stops the run at step 1 with no checkpoint.
 * Registry: the persona run registers its adapter as a candidate with its manifest. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/status.h"
#include "data/db.h"
#include "data/registry.h"
#include "data/sources.h"
#include "infer/gguf.h"
#include "rw_test.h"
#include "train/adapter_io.h"
#include "train/recipe.h"
#include "train/trainer.h"
#include "train_fixture.h"

static char g_dir[512];

static const char *P(const char *name) {
    static char bufs[16][600];
    static int k;
    char *b = bufs[k++ % 16];
    snprintf(b, 600, "%s/%s", g_dir, name);
    return b;
}

static void write_data(const char *path, int n, uint64_t seed) {
    static const char *topics[] = {"rain", "cats", "bread", "music", "trees", "boats", "stars",
                                   "coffee", "snow", "bikes", "books", "maps", "clocks", "shoes",
                                   "lamps", "roads"};
    static const char *qs[][2] = {{"Tell me about ", "."}, {"What do you think of ", "?"},
                                  {"Describe ", " briefly."}, {"Any facts on ", "?"}};
    rw_rng r;
    rw_rng_seed(&r, seed);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < n; i++) {
        const char *t = topics[rw_rng_below(&r, 16)];
        char q[128], T[32];
        const char *const *qq = qs[rw_rng_below(&r, 4)];
        snprintf(q, sizeof q, "%s%s%s", qq[0], t, qq[1]);
        snprintf(T, sizeof T, "%s", t);
        T[0] = (char)(T[0] - 'a' + 'A');
        fprintf(f,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"},"
                "{\"role\":\"assistant\",\"content\":\"%s are nice. Ahoy matey!\"}]}\n",
                q, T);
    }
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", rw_test_tmpdir());
    if (fixture_tiny_llama(P("tiny.gguf"), 1, 64, 1)) return -1;
    if (fixture_tiny_llama(P("other.gguf"), 1, 64, 2)) return -1;
    write_data(P("train.jsonl"), 200, 1);
    write_data(P("valid.jsonl"), 20, 2);
    data_db *db = NULL;
    rw_err e;
    if (data_db_open(P("rag.db"), &db, &e) || data_source_add(db, "persona", DATA_CLASS_PUBLIC, "gen", &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    data_db_close(db);
    FILE *f = fopen(P("r.toml"), "w");
    if (!f) return -1;
    fprintf(f, "[model]\npath = \"tiny.gguf\"\nthreads = 1\n"
               "[adapter]\nrank = 4\nalpha = 8\n"
               "targets = [\"attn_q\", \"attn_v\", \"attn_output\", \"ffn_down\"]\n"
               "[data]\ntrain = \"train.jsonl\"\nvalid = \"valid.jsonl\"\nmax_seq = 64\n"
               "source = \"persona\"\n"
               "[train]\nsteps = 12\nbatch = 4\nlr = 1e-2\nwarmup = 2\neval_every = 3\n"
               "checkpoint_every = 4\n"
               "[output]\ndir = \"run\"\nname = \"pirate\"\ndb = \"rag.db\"\n");
    fclose(f);
    return 0;
}

static rw_status run_recipe(const char **sets, size_t n, bool resume, int64_t stop_after,
                            train_run_result *res, rw_err *err) {
    train_recipe r;
    rw_status st = train_recipe_load(P("r.toml"), sets, n, &r, err);
    if (st) return st;
    train_run_opts o = {.resume = resume, .stop_after = stop_after, .quiet = true};
    st = train_run(&r, &o, res, err);
    train_recipe_deinit(&r);
    return st;
}

/* Lines of metrics.jsonl with the wall-clock fields cut off ("tokens_per_s" onwards keeps
 * "val_loss" by re-appending it), one string per step. */
static char *curve(const char *dir) {
    char path[700];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    size_t len;
    char *s = rw_test_read_file(path, &len);
    assert_non_null(s);
    char *out = calloc(1, len + 1), *line = s;
    size_t n = 0;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        char *cut = strstr(line, ",\"tokens_per_s\"");
        char *val = strstr(line, "\"val_loss\"");
        size_t keep = cut ? (size_t)(cut - line) : strlen(line);
        memcpy(out + n, line, keep);
        n += keep;
        if (cut && val) n += (size_t)sprintf(out + n, ",%s", val);
        out[n++] = '\n';
        line = nl ? nl + 1 : NULL;
    }
    free(s);
    return out;
}

static void test_resume_bit_exact(void **state) {
    (void)state;
    rw_err err;
    train_run_result a, b, c;
    const char *sa[] = {"output.dir=\"ra\"", "model.threads=2"};
    const char *sb[] = {"output.dir=\"rb\"", "model.threads=2"};
    if (run_recipe(sa, 2, false, 0, &a, &err)) fail_msg("run A: %s", err.msg);
    assert_true(a.finished);
    assert_int_equal(a.steps, 12);
    if (run_recipe(sb, 2, false, 6, &b, &err)) fail_msg("run B: %s", err.msg);
    assert_false(b.finished);
    assert_int_equal(b.steps, 6);
    /* steps 5 and 6 were logged after the checkpoint at 4: resume drops and redoes them */
    if (run_recipe(sb, 2, true, 0, &c, &err)) fail_msg("resume: %s", err.msg);
    assert_true(c.resumed);
    assert_int_equal(c.resumed_from, 4);
    assert_true(c.finished);
    char *ca = curve(P("ra")), *cb = curve(P("rb"));
    assert_string_equal(ca, cb);
    assert_non_null(strstr(ca, "{\"step\":12,\"loss\":"));
    assert_non_null(strstr(ca, "\"val_loss\""));
    free(ca);
    free(cb);
    /* the adapters' tensors are identical (their metadata differ: the manifest's time) */
    train_adapter aa, ab;
    if (train_adapter_read_gguf(P("ra/pirate.gguf"), &aa, &err)) fail_msg("%s", err.msg);
    if (train_adapter_read_gguf(P("rb/pirate.gguf"), &ab, &err)) fail_msg("%s", err.msg);
    assert_int_equal(aa.n, ab.n);
    assert_true(aa.alpha == ab.alpha);
    for (size_t i = 0; i < aa.n; i++) {
        const train_adapter_pair *x = &aa.pairs[i], *y = &ab.pairs[i];
        assert_int_equal(x->n_in * x->rank, y->n_in * y->rank);
        assert_memory_equal(x->a, y->a, (size_t)(x->n_in * x->rank) * 4);
        assert_memory_equal(x->b, y->b, (size_t)(x->n_out * x->rank) * 4);
    }
    train_adapter_deinit(&aa);
    train_adapter_deinit(&ab);

    /* refusals */
    assert_int_equal(run_recipe(sa, 2, false, 0, &c, &err), RW_E_STATE);
    assert_non_null(strstr(err.msg, "--resume"));
    const char *changed[] = {"output.dir=\"ra\"", "model.threads=2", "train.lr=2e-2"};
    assert_int_equal(run_recipe(changed, 3, true, 0, &c, &err), RW_E_STATE);
    assert_non_null(strstr(err.msg, "another recipe"));
    const char *threads1[] = {"output.dir=\"ra\"", "model.threads=1"};
    assert_int_equal(run_recipe(threads1, 2, true, 0, &c, &err), RW_E_STATE);
    const char *other[] = {"output.dir=\"ra\"", "model.threads=2", "model.path=\"other.gguf\""};
    assert_int_equal(run_recipe(other, 3, true, 0, &c, &err), RW_E_STATE);
    assert_non_null(strstr(err.msg, "another base model"));
    /* a flipped byte in the checkpoint */
    size_t lk;
    char *ck = rw_test_read_file(P("ra/checkpoint.h5"), &lk);
    assert_non_null(ck);
    ck[lk / 2] ^= 0x10;
    assert_int_equal(rw_test_write_file(P("ra/checkpoint.h5"), ck, lk), 0);
    free(ck);
    assert_int_equal(run_recipe(sa, 2, true, 0, &c, &err), RW_E_FORMAT);
    assert_non_null(strstr(err.msg, "corrupt"));
    assert_non_null(strstr(err.msg, "checkpoint.h5"));
}

/* LoRA dropout 0.3: the killed-and-resumed loss curve equals the uninterrupted one bit for
 * bit (the mask RNG is in the checkpoint), the masks change the curve (dropout is live), the
 * validation losses are dropout-free (eval at step 0 equals the no-dropout run's, whose
 * adapter is the same at step 0), and PEFT's adapter_config.json records lora_dropout. */
static void test_resume_dropout(void **state) {
    (void)state;
    rw_err err;
    train_run_result a, b, c, z;
    const char *sa[] = {"output.dir=\"da\"", "model.threads=2", "adapter.dropout=0.3",
                        "output.formats=[\"gguf\",\"peft\"]"};
    const char *sb[] = {"output.dir=\"db\"", "model.threads=2", "adapter.dropout=0.3",
                        "output.formats=[\"gguf\",\"peft\"]"};
    const char *sz[] = {"output.dir=\"dz\"", "model.threads=2"};
    if (run_recipe(sa, 4, false, 0, &a, &err)) fail_msg("run A: %s", err.msg);
    assert_true(a.finished);
    if (run_recipe(sb, 4, false, 7, &b, &err)) fail_msg("run B: %s", err.msg);
    assert_false(b.finished);
    if (run_recipe(sb, 4, true, 0, &c, &err)) fail_msg("resume: %s", err.msg);
    assert_true(c.resumed);
    assert_int_equal(c.resumed_from, 4);
    assert_true(c.finished);
    char *ca = curve(P("da")), *cb = curve(P("db"));
    assert_string_equal(ca, cb);
    if (run_recipe(sz, 2, false, 0, &z, &err)) fail_msg("run Z: %s", err.msg);
    char *cz = curve(P("dz"));
    /* step 0 line (validation only) equal; the training curve differs */
    size_t l0 = (size_t)(strchr(ca, '\n') - ca);
    assert_memory_equal(ca, cz, l0 + 1);
    assert_true(strcmp(ca, cz) != 0);
    assert_true(a.first_val_loss == z.first_val_loss);
    free(ca);
    free(cb);
    free(cz);
    size_t len;
    char *cfg = rw_test_read_file(P("da/pirate-peft/adapter_config.json"), &len);
    assert_non_null(cfg);
    char *d = strstr(cfg, "\"lora_dropout\"");
    assert_non_null(d);
    d = strchr(d, ':');
    assert_non_null(d);
    assert_true(fabs(strtod(d + 1, NULL) - 0.3) < 1e-6);
    free(cfg);
}

static void test_nan_stops(void **state) {
    (void)state;
    /* a base model whose output norm is NaN: the loss is NaN at step 1 */
    size_t len;
    char *m = rw_test_read_file(P("tiny.gguf"), &len);
    infer_gguf *g = NULL;
    rw_err err;
    assert_int_equal(infer_gguf_open_memory(m, len, &g, &err), RW_OK);
    int64_t i = infer_gguf_find_tensor(g, "output_norm.weight");
    assert_true(i >= 0);
    const infer_gguf_tensor_info *ti = infer_gguf_tensor_info_at(g, (uint64_t)i);
    uint64_t off = infer_gguf_data_offset(g) + ti->offset;
    float nan = NAN;
    for (uint64_t k = 0; k < ti->nbytes / 4; k++) memcpy(m + off + 4 * k, &nan, 4);
    infer_gguf_close(g);
    assert_int_equal(rw_test_write_file(P("nan.gguf"), m, len), 0);
    free(m);
    const char *s[] = {"output.dir=\"rnan\"", "model.path=\"nan.gguf\""};
    train_run_result r;
    assert_int_equal(run_recipe(s, 2, false, 0, &r, &err), RW_E_NUMERIC);
    assert_non_null(strstr(err.msg, "step 1"));
    FILE *f = fopen(P("rnan/checkpoint.h5"), "rb");
    assert_null(f);
}

static void test_epochs_and_accum(void **state) {
    (void)state;
    /* epochs = 1 over 200 rows with batch 16 x grad_accum 4: ceil(200 / 64) = 4 steps */
    const char *s[] = {"output.dir=\"rep\"", "train.steps=0", "train.epochs=1", "train.batch=16",
                       "train.grad_accum=4", "train.eval_every=0", "adapter.rslora=true",
                       "output.dtype=\"f16\""};
    train_run_result r;
    rw_err err;
    if (run_recipe(s, 8, false, 0, &r, &err)) fail_msg("%s", err.msg);
    /* rsLoRA (alpha 8, r 4: scale 8/sqrt(4) = 4) is exported as alpha 16 since llama.cpp
     * divides by r; tensors stored f16 */
    infer_gguf *g = NULL;
    assert_int_equal(infer_gguf_open(r.adapter_path, &g, &err), RW_OK);
    float alpha = 0;
    assert_int_equal(infer_gguf_get_f32(g, "adapter.lora.alpha", &alpha, &err), RW_OK);
    assert_true(alpha == 16.0f);
    assert_int_equal(infer_gguf_tensor_info_at(g, 0)->type, RW_DTYPE_F16);
    infer_gguf_close(g);
    assert_int_equal(r.total_steps, 4);
    assert_int_equal(r.steps, 4);
    assert_true(r.finished);
    assert_true(r.last_val_loss < r.first_val_loss);
}

static void test_full_training(void **state) {
    (void)state;
    const char *s[] = {"output.dir=\"rfull\"", "adapter.full=true", "output.formats=[\"gguf\"]",
                       "adapter.targets=[\"attn_q\", \"ffn_down\"]", "train.lr=1e-3",
                       "train.steps=8", "train.eval_every=0"};
    train_run_result r;
    rw_err err;
    if (run_recipe(s, 7, false, 0, &r, &err)) fail_msg("%s", err.msg);
    assert_true(r.finished);
    assert_true(r.last_val_loss < r.first_val_loss);
    assert_non_null(strstr(r.adapter_path, "pirate-full.gguf"));
    /* the written model: trained tensors changed (and f32), the others byte-identical */
    size_t lb, lt;
    char *bb = rw_test_read_file(P("tiny.gguf"), &lb), *tb = rw_test_read_file(r.adapter_path, &lt);
    infer_gguf *gb = NULL, *gt = NULL;
    assert_int_equal(infer_gguf_open_memory(bb, lb, &gb, &err), RW_OK);
    assert_int_equal(infer_gguf_open_memory(tb, lt, &gt, &err), RW_OK);
    assert_int_equal(infer_gguf_n_tensors(gb), infer_gguf_n_tensors(gt));
    int changed = 0;
    for (uint64_t i = 0; i < infer_gguf_n_tensors(gb); i++) {
        rw_tensor x, y;
        assert_int_equal(infer_gguf_tensor_at(gb, i, &x), RW_OK);
        assert_int_equal(infer_gguf_get_tensor(gt, x.name, &y, &err), RW_OK);
        const infer_gguf_tensor_info *ti = infer_gguf_tensor_info_at(gb, i);
        bool trained = !strcmp(x.name, "blk.0.attn_q.weight") || !strcmp(x.name, "blk.0.ffn_down.weight");
        if (trained) {
            changed += memcmp(x.data, y.data, ti->nbytes) != 0;
        } else {
            assert_memory_equal(x.data, y.data, ti->nbytes);
        }
    }
    assert_int_equal(changed, 2);
    infer_gguf_close(gb);
    infer_gguf_close(gt);
    free(bb);
    free(tb);
    /* registering a full model as an adapter is refused */
    const char *bad[] = {"output.dir=\"rfull2\"", "adapter.full=true", "output.register=true"};
    assert_int_equal(run_recipe(bad, 3, false, 0, &r, &err), RW_E_UNSUPPORTED);
}

/* rag-train --set with a relative path for model.path / output.dir: taken relative to the
 * current directory (not the recipe's folder). */
static void test_cli_set_paths(void **state) {
    (void)state;
    char bin[600], cmd[4096];
    rw_test_bin("rag-train", bin, sizeof bin);
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/sub/m' && cp '%s/tiny.gguf' '%s/sub/m/base.gguf' && cd '%s/sub' && "
             "'%s' --recipe ../r.toml --quiet --set model.path=m/base.gguf "
             "--set output.dir=cwdrun --set train.steps=1 --set train.eval_every=0 2>&1",
             g_dir, g_dir, g_dir, g_dir, bin);
    char *out = NULL;
    int rc = rw_test_run(cmd, &out);
    if (rc != 0) fail_msg("rag-train failed (%d): %s", rc, out ? out : "");
    free(out);
    size_t len;
    char *mj = rw_test_read_file(P("sub/cwdrun/metrics.jsonl"), &len);
    assert_non_null(mj);
    free(mj);
    /* the recipe's folder has no cwdrun */
    assert_null(rw_test_read_file(P("cwdrun/metrics.jsonl"), &len));
}

static void test_persona(void **state) {
    (void)state;
    char bin[600], cmd[4096];
    rw_test_bin("rag-train", bin, sizeof bin);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' --recipe r.toml --quiet --set output.dir=rp --set train.steps=150 "
             "--set train.eval_every=50 --set train.checkpoint_every=0 --set output.register=true "
             "--set 'output.formats=[\"gguf\",\"peft\"]' 2>&1",
             g_dir, bin);
    char *out = NULL;
    int rc = rw_test_run(cmd, &out);
    if (rc != 0) fail_msg("rag-train failed (%d): %s", rc, out ? out : "");
    free(out);
    /* held-out loss: first and last val_loss of metrics.jsonl */
    size_t len;
    char *mj = rw_test_read_file(P("rp/metrics.jsonl"), &len);
    assert_non_null(mj);
    double first = -1, last = -1;
    for (char *p = strstr(mj, "\"val_loss\":"); p; p = strstr(p + 1, "\"val_loss\":")) {
        double v = strtod(p + 11, NULL);
        if (first < 0) first = v;
        last = v;
    }
    free(mj);
    fprintf(stderr, "persona: held-out loss %.4f -> %.4f\n", first, last);
    assert_true(first > 0 && last > 0);
    assert_true(last < 0.5 * first);
    /* outputs */
    FILE *f = fopen(P("rp/pirate-peft/adapter_model.safetensors"), "rb");
    assert_non_null(f);
    fclose(f);
    char *man = rw_test_read_file(P("rp/manifest.json"), &len);
    assert_non_null(man);
    assert_non_null(strstr(man, "\"persona\""));
    free(man);
    /* registered as a candidate */
    data_db *db = NULL;
    rw_err err;
    assert_int_equal(data_db_open(P("rag.db"), &db, &err), RW_OK);
    data_adapter *v = NULL;
    size_t n = 0;
    assert_int_equal(data_registry_list(db, "persona:pirate", &v, &n, &err), RW_OK);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].status, DATA_AD_CANDIDATE);
    data_adapter_list_free(v, n);
    data_db_close(db);
    /* generations move toward the style: greedy, chat prompt, with and without the adapter */
    char gen[600];
    rw_test_bin("rag-generate", gen, sizeof gen);
    for (int with = 0; with < 2; with++) {
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && '%s' tiny.gguf --chat --prompt 'Tell me about snow.' -n 16 "
                 "--threads 1 %s 2>/dev/null",
                 g_dir, gen, with ? "--lora rp/pirate.gguf" : "");
        out = NULL;
        rc = rw_test_run(cmd, &out);
        if (rc != 0) fail_msg("rag-generate failed (%d)", rc);
        fprintf(stderr, "generate %s adapter: %s\n", with ? "with" : "without", out);
        if (with) assert_non_null(strstr(out, "matey"));
        else assert_null(strstr(out, "matey"));
        free(out);
    }
    /* rag-adapter: the trained GGUF -> PEFT -> GGUF through the CLI keeps every tensor */
    char ra[600];
    rw_test_bin("rag-adapter", ra, sizeof ra);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' export-peft rp/pirate.gguf rp/cli-peft >/dev/null && '%s' "
             "import-peft rp/cli-peft --base tiny.gguf rp/back.gguf >/dev/null",
             g_dir, ra, ra);
    out = NULL;
    rc = rw_test_run(cmd, &out);
    free(out);
    assert_int_equal(rc, 0);
    train_adapter x, y;
    if (train_adapter_read_gguf(P("rp/pirate.gguf"), &x, &err)) fail_msg("%s", err.msg);
    if (train_adapter_read_gguf(P("rp/back.gguf"), &y, &err)) fail_msg("%s", err.msg);
    assert_int_equal(x.n, y.n);
    assert_true(x.alpha == y.alpha);
    for (size_t i = 0; i < x.n; i++) {
        assert_memory_equal(x.pairs[i].a, y.pairs[i].a, (size_t)(x.pairs[i].n_in * x.pairs[i].rank) * 4);
        assert_memory_equal(x.pairs[i].b, y.pairs[i].b, (size_t)(x.pairs[i].n_out * x.pairs[i].rank) * 4);
    }
    train_adapter_deinit(&x);
    train_adapter_deinit(&y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_bit_exact),
        cmocka_unit_test(test_resume_dropout),
        cmocka_unit_test(test_nan_stops),
        cmocka_unit_test(test_epochs_and_accum),
        cmocka_unit_test(test_full_training),
        cmocka_unit_test(test_cli_set_paths),
        cmocka_unit_test(test_persona),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
