/* Allocation failures injected at every rw_malloc of the JSONL reader, the manifest
 * builder and the registry/source listings: each call must fail cleanly with RW_E_NOMEM
 * (or succeed), never crash or leak (ASan's leak check runs at exit). */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "data/db.h"
#include "data/governance.h"
#include "data/jsonl.h"
#include "data/registry.h"
#include "data/sources.h"
#include "rw_test.h"

static int read_all(const char *text, size_t len) {
    data_jsonl_reader *r = NULL;
    rw_err err;
    data_jsonl_options opt = {.policy = DATA_JSONL_SKIP, .default_source = "s"};
    rw_status s = data_jsonl_open_mem(text, len, "m", &opt, &r, &err);
    if (s != RW_OK) return s;
    data_example ex;
    bool got = true;
    while (got && (s = data_jsonl_next(r, &ex, &got, &err)) == RW_OK) {
    }
    data_jsonl_close(r);
    return s;
}

static void test_jsonl_oom(void **state) {
    (void)state;
    const char text[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
                        "{\"role\":\"assistant\",\"content\":\"b\"}]}\nbad\n"
                        "{\"messages\":[{\"role\":\"user\",\"content\":\"c\"}]}\n";
    int ok_seen = 0;
    for (long k = 0; k < 50 && !ok_seen; k++) {
        rw_alloc_fail_after(k);
        int s = read_all(text, sizeof text - 1);
        rw_alloc_fail_after(-1);
        assert_true(s == RW_OK || s == RW_E_NOMEM);
        ok_seen = s == RW_OK;
    }
    assert_true(ok_seen);
}

static void test_manifest_and_lists_oom(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/oom.db", rw_test_tmpdir());
    data_db *db = NULL;
    rw_err err;
    assert_int_equal(data_db_open(path, &db, &err), RW_OK);
    assert_int_equal(data_source_add(db, "wiki", DATA_CLASS_PUBLIC, "d", &err), RW_OK);
    assert_int_equal(data_source_add(db, "forum", DATA_CLASS_COMMUNITY, "d", &err), RW_OK);
    assert_int_equal(data_source_consent(db, "forum", "w", 0, "s", "r", &err), RW_OK);
    int ok_seen = 0;
    for (long k = 0; k < 200 && !ok_seen; k++) {
        rw_alloc_fail_after(k);
        data_manifest *m = NULL;
        rw_status s = data_manifest_create(db, "p", &m, &err);
        char *js = NULL;
        if (s == RW_OK) {
            const char *ids[] = {"wiki", "forum"};
            data_manifest_admit(m, ids, 2);
            s = data_manifest_reject(m, "duplicate");
            if (s == RW_OK) s = data_manifest_json(m, &js, &err);
        }
        data_source *v = NULL;
        size_t n = 0;
        if (s == RW_OK) s = data_source_list(db, &v, &n, &err);
        rw_alloc_fail_after(-1);
        assert_true(s == RW_OK || s == RW_E_NOMEM);
        ok_seen = s == RW_OK;
        rw_free(js);
        data_source_list_free(v, n);
        data_manifest_destroy(m);
    }
    assert_true(ok_seen);
    data_db_close(db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsonl_oom),
        cmocka_unit_test(test_manifest_and_lists_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
