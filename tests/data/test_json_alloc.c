/* data/json_alloc: after data_json_alloc_init, Jansson allocates through rw_malloc (the
 * allocation counter moves and an injected failure reaches Jansson); objects made before
 * the call are still freed correctly (ASan checks the pairing and leaks). Its own process:
 * the hook is process-wide. */
#include <jansson.h>
#include <string.h>

#include "core/alloc.h"
#include "data/json_alloc.h"
#include "rw_test.h"

static void test_hook(void **state) {
    (void)state;
    json_t *before = json_pack("{s:s}", "k", "made with libc malloc");
    assert_non_null(before);
    rw_alloc_fail_after(-1); /* reset the counter */
    json_t *o = json_object();
    assert_non_null(o);
    json_decref(o);
    assert_int_equal(rw_alloc_fail_after(-1), 0); /* not hooked yet */

    data_json_alloc_init();
    data_json_alloc_init(); /* idempotent */
    o = json_pack("{s:[i,i], s:s}", "a", 1, 2, "b", "text");
    assert_non_null(o);
    assert_true(rw_alloc_fail_after(-1) > 0);
    char *dump = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(dump, "{\"a\":[1,2],\"b\":\"text\"}");
    rw_free(dump);
    json_decref(o);

    rw_alloc_fail_after(0); /* the next allocation fails: Jansson sees it */
    json_t *s = json_string("x");
    rw_alloc_fail_after(-1);
    assert_null(s);
    json_error_t je;
    rw_alloc_fail_after(0);
    json_t *p = json_loads("{\"k\": [1, 2, 3]}", 0, &je);
    rw_alloc_fail_after(-1);
    assert_null(p); /* reported as a parse failure (Jansson 2.14 gives json_error_unknown here,
                     * not json_error_out_of_memory): why tests keep Jansson unhooked */

    json_object_set_new(before, "after", json_string("hooked")); /* mixed, then freed */
    assert_string_equal(json_string_value(json_object_get(before, "k")), "made with libc malloc");
    json_decref(before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
