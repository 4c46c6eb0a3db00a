/* train/checkpoint: HDF5 checkpoints round-trip exactly, are written atomically, and
 * truncated, byte-flipped, foreign or mismatched files are refused with a clear message
 * and no crash.
 *
 * References: the values written are generated here (bit patterns compared with memcmp,
 * so NaN payloads and -0.0 must survive too); corruption is made by this test on the
 * written bytes. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/status.h"
#include "rw_test.h"
#include "train/checkpoint.h"

enum { NP = 1000 };

static void make(train_ckpt *c, float *p, float *m, float *v) {
    memset(c, 0, sizeof *c);
    rw_rng r;
    rw_rng_seed(&r, 7);
    for (int i = 0; i < NP; i++) {
        p[i] = (float)rw_rng_normal(&r);
        m[i] = (float)rw_rng_normal(&r) * 1e-3f;
        v[i] = (float)rw_rng_uniform(&r) * 1e-6f;
    }
    p[3] = -0.0f;
    p[4] = 1e-40f; /* subnormal */
    c->step = 123;
    c->adam_t = 123;
    c->rng[0] = 0xdeadbeefcafef00dull;
    c->rng[1] = 1;
    c->rng[2] = UINT64_MAX;
    c->rng[3] = 42;
    c->dropout_rng[0] = 0x0123456789abcdefull;
    c->dropout_rng[1] = 0;
    c->dropout_rng[2] = 7;
    c->dropout_rng[3] = UINT64_MAX - 1;
    c->epoch = 2;
    c->position = 17;
    c->shuffle_seed = 99;
    c->tokens_seen = 45678;
    c->threads = 3;
    c->metrics_offset = 4096;
    c->elapsed_s = 12.5;
    memset(c->recipe_sha256, 'a', 64);
    memset(c->base_sha256, 'b', 64);
    c->n_params = NP;
    c->params = p;
    c->adam_m = m;
    c->adam_v = v;
}

static char g_path[512];
static float P[NP], M[NP], V[NP];

static void write_ref(void) {
    train_ckpt c;
    make(&c, P, M, V);
    snprintf(g_path, sizeof g_path, "%s/ck.h5", rw_test_tmpdir());
    rw_err err;
    if (train_ckpt_write(g_path, &c, &err)) fail_msg("write: %s", err.msg);
}

static void test_round_trip(void **state) {
    (void)state;
    write_ref();
    train_ckpt c, r;
    float p[NP], m[NP], v[NP];
    make(&c, p, m, v);
    rw_err err;
    if (train_ckpt_read(g_path, &r, &err)) fail_msg("read: %s", err.msg);
    assert_int_equal(r.step, 123);
    assert_int_equal(r.adam_t, 123);
    assert_memory_equal(r.rng, c.rng, sizeof c.rng);
    assert_memory_equal(r.dropout_rng, c.dropout_rng, sizeof c.dropout_rng);
    assert_int_equal(r.epoch, 2);
    assert_int_equal(r.position, 17);
    assert_int_equal(r.shuffle_seed, 99);
    assert_int_equal(r.tokens_seen, 45678);
    assert_int_equal(r.threads, 3);
    assert_int_equal(r.metrics_offset, 4096);
    assert_true(r.elapsed_s == 12.5);
    assert_string_equal(r.recipe_sha256, c.recipe_sha256);
    assert_string_equal(r.base_sha256, c.base_sha256);
    assert_int_equal(r.n_params, NP);
    assert_memory_equal(r.params, p, sizeof p);
    assert_memory_equal(r.adam_m, m, sizeof m);
    assert_memory_equal(r.adam_v, v, sizeof v);
    /* identity checks */
    assert_int_equal(train_ckpt_check(&r, g_path, c.recipe_sha256, c.base_sha256, NP, 3, &err), RW_OK);
    char other[65];
    memset(other, 'c', 64);
    other[64] = 0;
    assert_int_equal(train_ckpt_check(&r, g_path, c.recipe_sha256, other, NP, 3, &err), RW_E_STATE);
    assert_non_null(strstr(err.msg, "another base model"));
    assert_int_equal(train_ckpt_check(&r, g_path, other, c.base_sha256, NP, 3, &err), RW_E_STATE);
    assert_non_null(strstr(err.msg, "another recipe"));
    assert_int_equal(train_ckpt_check(&r, g_path, c.recipe_sha256, c.base_sha256, NP + 1, 3, &err),
                     RW_E_STATE);
    assert_int_equal(train_ckpt_check(&r, g_path, c.recipe_sha256, c.base_sha256, NP, 2, &err),
                     RW_E_STATE);
    assert_non_null(strstr(err.msg, "--threads 3"));
    train_ckpt_deinit(&r);
    /* no temporary file left behind */
    DIR *d = opendir(rw_test_tmpdir());
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) fail_msg("temporary file left: %s", e->d_name);
    closedir(d);
}

static void expect_refused(const char *path, const char *what) {
    train_ckpt r;
    memset(&r, 0x5a, sizeof r);
    rw_err err;
    rw_err_clear(&err);
    rw_status st = train_ckpt_read(path, &r, &err);
    if (st == RW_OK) fail_msg("%s: corrupt checkpoint accepted", what);
    if (!strstr(err.msg, path)) fail_msg("%s: message does not name the file: %s", what, err.msg);
    assert_int_equal(((unsigned char *)&r)[0], 0x5a);
}

static void test_truncated(void **state) {
    (void)state;
    write_ref();
    size_t len;
    char *buf = rw_test_read_file(g_path, &len);
    assert_non_null(buf);
    char path[600];
    snprintf(path, sizeof path, "%s/trunc.h5", rw_test_tmpdir());
    size_t cuts[] = {0, 1, 7, 100, 511, 512, 513, 600, 1024, len / 2, len - 4096, len - 100,
                     len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        if (cuts[i] >= len) continue;
        assert_int_equal(rw_test_write_file(path, buf, cuts[i]), 0);
        char what[64];
        snprintf(what, sizeof what, "truncated at %zu", cuts[i]);
        expect_refused(path, what);
    }
    /* extended by a byte */
    char *ext = malloc(len + 1);
    memcpy(ext, buf, len);
    ext[len] = 0;
    assert_int_equal(rw_test_write_file(path, ext, len + 1), 0);
    expect_refused(path, "extended");
    free(ext);
    free(buf);
}

static void test_flipped(void **state) {
    (void)state;
    write_ref();
    size_t len;
    char *buf = rw_test_read_file(g_path, &len);
    assert_non_null(buf);
    char path[600];
    snprintf(path, sizeof path, "%s/flip.h5", rw_test_tmpdir());
    rw_rng r;
    rw_rng_seed(&r, 3);
    size_t offs[40] = {0, 3, 8, 20, 40, 512, 513, 520, 560, 700, 1000, len - 1};
    for (int i = 12; i < 40; i++) offs[i] = (size_t)rw_rng_below(&r, len);
    for (size_t i = 0; i < 40; i++) {
        char save = buf[offs[i]];
        buf[offs[i]] ^= (char)(1u << (i % 8));
        assert_int_equal(rw_test_write_file(path, buf, len), 0);
        char what[64];
        snprintf(what, sizeof what, "bit flip at byte %zu", offs[i]);
        expect_refused(path, what);
        buf[offs[i]] = save;
    }
    free(buf);
}

static void test_foreign(void **state) {
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/foreign.h5", rw_test_tmpdir());
    expect_refused(path, "missing file");
    const char junk[] = "this is not a checkpoint";
    assert_int_equal(rw_test_write_file(path, junk, sizeof junk), 0);
    expect_refused(path, "text");
    char big[2048];
    memset(big, 0, sizeof big);
    memcpy(big, "RWCKPT1\nsize=2048\nsha256=zz\n", 28);
    assert_int_equal(rw_test_write_file(path, big, sizeof big), 0);
    expect_refused(path, "bad header");
}

/* A checkpoint of another format version (here /1, before the dropout RNG was saved, and a
 * future /3): refused with both versions named, even though its digest is valid. The file is
 * a /2 file whose user block says another version; the reader must refuse on the version
 * before looking further. */
static void test_version(void **state) {
    (void)state;
    write_ref();
    size_t len;
    char *buf = rw_test_read_file(g_path, &len);
    assert_non_null(buf);
    char *f = strstr(buf, "format=rag-workbench.checkpoint/2\n");
    assert_non_null(f);
    char path[600];
    snprintf(path, sizeof path, "%s/v1.h5", rw_test_tmpdir());
    const char vers[] = {'1', '3'};
    for (int i = 0; i < 2; i++) {
        f[strlen("format=rag-workbench.checkpoint/")] = vers[i];
        assert_int_equal(rw_test_write_file(path, buf, len), 0);
        train_ckpt r;
        rw_err err;
        assert_int_equal(train_ckpt_read(path, &r, &err), RW_E_FORMAT);
        char want[64];
        snprintf(want, sizeof want, "format version %c, this build reads version 2", vers[i]);
        if (!strstr(err.msg, want)) fail_msg("message lacks '%s': %s", want, err.msg);
        assert_non_null(strstr(err.msg, path));
        if (vers[i] == '1') assert_non_null(strstr(err.msg, "dropout"));
    }
    free(buf);
}

static void test_overwrite(void **state) {
    (void)state;
    write_ref();
    train_ckpt c;
    float p[NP], m[NP], v[NP];
    make(&c, p, m, v);
    c.step = 200;
    p[0] = 5.0f;
    rw_err err;
    if (train_ckpt_write(g_path, &c, &err)) fail_msg("write: %s", err.msg);
    train_ckpt r;
    if (train_ckpt_read(g_path, &r, &err)) fail_msg("read: %s", err.msg);
    assert_int_equal(r.step, 200);
    assert_true(r.params[0] == 5.0f);
    train_ckpt_deinit(&r);
    /* unwritable folder: error, nothing crashes */
    assert_int_not_equal(train_ckpt_write("/nonexistent-dir/x.h5", &c, &err), RW_OK);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.h5"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_flipped),    cmocka_unit_test(test_foreign),
        cmocka_unit_test(test_overwrite), cmocka_unit_test(test_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
