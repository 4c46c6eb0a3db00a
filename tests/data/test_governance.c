/* Governance: the trainability rule against a hand-written truth table, adversarial mixed
 * inputs (restricted, withdrawn, no consent, unknown ids, case and whitespace tricks) never
 * reaching a training set, manifest counts and JSON, and withdrawal tainting adapters. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "data/db.h"
#include "data/governance.h"
#include "data/registry.h"
#include "data/sources.h"
#include "rw_test.h"

static void test_rule_table(void **state) {
    (void)state;
    /* Truth table written from the issue text: public trainable unless withdrawn;
     * community/personal need consent and no withdrawal; restricted never. */
    struct {
        data_class c;
        bool consent, withdrawn;
        bool trainable;
    } t[] = {
        {DATA_CLASS_PUBLIC, false, false, true},     {DATA_CLASS_PUBLIC, true, false, true},
        {DATA_CLASS_PUBLIC, false, true, false},     {DATA_CLASS_PUBLIC, true, true, false},
        {DATA_CLASS_COMMUNITY, false, false, false}, {DATA_CLASS_COMMUNITY, true, false, true},
        {DATA_CLASS_COMMUNITY, true, true, false},   {DATA_CLASS_COMMUNITY, false, true, false},
        {DATA_CLASS_PERSONAL, false, false, false},  {DATA_CLASS_PERSONAL, true, false, true},
        {DATA_CLASS_PERSONAL, true, true, false},    {DATA_CLASS_RESTRICTED, false, false, false},
        {DATA_CLASS_RESTRICTED, true, false, false}, {DATA_CLASS_RESTRICTED, true, true, false},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        data_gov_reason r = data_gov_rule(t[i].c, t[i].consent, t[i].withdrawn);
        if ((r == DATA_GOV_OK) != t[i].trainable)
            fail_msg("row %zu: class %s consent %d withdrawn %d gave %s", i,
                     data_class_name(t[i].c), t[i].consent, t[i].withdrawn, data_gov_reason_name(r));
    }
    assert_int_equal(data_gov_rule(DATA_CLASS_RESTRICTED, true, true), DATA_GOV_RESTRICTED);
    assert_int_equal(data_gov_rule(DATA_CLASS_COMMUNITY, false, false), DATA_GOV_NO_CONSENT);
    assert_int_equal(data_gov_rule((data_class)17, true, false), DATA_GOV_RESTRICTED);
}

static data_db *setup(char *path, size_t cap) {
    static int seq;
    snprintf(path, cap, "%s/g%d.db", rw_test_tmpdir(), ++seq);
    data_db *db = NULL;
    rw_err err;
    assert_int_equal(data_db_open(path, &db, &err), RW_OK);
    struct {
        const char *id;
        data_class c;
        bool consent;
    } src[] = {
        {"wiki", DATA_CLASS_PUBLIC, false},        {"forum", DATA_CLASS_COMMUNITY, true},
        {"forum-raw", DATA_CLASS_COMMUNITY, false}, {"mail", DATA_CLASS_PERSONAL, true},
        {"diary", DATA_CLASS_PERSONAL, false},     {"hr", DATA_CLASS_RESTRICTED, true},
        {"old-wiki", DATA_CLASS_PUBLIC, false},
    };
    for (size_t i = 0; i < sizeof src / sizeof src[0]; i++) {
        assert_int_equal(data_source_add(db, src[i].id, src[i].c, "test", &err), RW_OK);
        if (src[i].consent)
            assert_int_equal(data_source_consent(db, src[i].id, "owner", 0, "training", "ref-1", &err),
                             RW_OK);
    }
    assert_int_equal(data_gov_withdraw(db, "old-wiki", "licence revoked", 0, NULL, &err), RW_OK);
    return db;
}

static void test_source_ids(void **state) {
    (void)state;
    char path[512];
    data_db *db = setup(path, sizeof path);
    rw_err err;
    const char *bad[] = {"Wiki", " wiki", "wiki ", "wi ki", "", "-x", "wiki\n", "wïki", "a\tb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(data_source_add(db, bad[i], DATA_CLASS_PUBLIC, "", &err), RW_E_INVALID);
    assert_int_equal(data_source_add(db, NULL, DATA_CLASS_PUBLIC, "", &err), RW_E_INVALID);
    assert_int_equal(data_source_add(db, "wiki", DATA_CLASS_RESTRICTED, "", &err), RW_E_STATE);
    /* Consent refused after withdrawal; withdrawing twice refused; unknown source. */
    assert_int_equal(data_source_consent(db, "old-wiki", "x", 0, "training", "r", &err), RW_E_STATE);
    assert_int_equal(data_gov_withdraw(db, "old-wiki", "again", 0, NULL, &err), RW_E_STATE);
    assert_int_equal(data_gov_withdraw(db, "nope", "x", 0, NULL, &err), RW_E_NOTFOUND);
    assert_int_equal(data_gov_withdraw(db, "wiki", "", 0, NULL, &err), RW_E_INVALID);
    assert_int_equal(data_source_consent(db, "nope", "x", 0, "training", "r", &err), RW_E_NOTFOUND);
    data_source s;
    assert_int_equal(data_source_get(db, "forum", &s, &err), RW_OK);
    assert_true(s.has_consent);
    assert_string_equal(s.consent_ref, "ref-1");
    assert_int_equal(s.cls, DATA_CLASS_COMMUNITY);
    data_source_deinit(&s);
    assert_int_equal(data_source_get(db, "old-wiki", &s, &err), RW_OK);
    assert_true(s.withdrawn_at > 0);
    assert_string_equal(s.withdrawn_reason, "licence revoked");
    data_source_deinit(&s);
    /* Documents need a registered source. */
    assert_int_equal(data_document_put(db, "d1", "wiki", "t", "x", &err), RW_OK);
    assert_int_equal(data_document_put(db, "d2", "WIKI", "t", "x", &err), RW_E_STATE);
    data_db_close(db);
}

static void test_adversarial_mix(void **state) {
    (void)state;
    char path[512];
    data_db *db = setup(path, sizeof path);
    rw_err err;
    data_manifest *m = NULL;
    assert_int_equal(data_manifest_create(db, "adversarial", &m, &err), RW_OK);
    /* Each example: its source ids, and whether it may be trained on (decided by hand). */
    struct {
        const char *ids[3];
        size_t n;
        bool ok;
        const char *reason;
    } ex[] = {
        {{"wiki"}, 1, true, NULL},
        {{"forum"}, 1, true, NULL},
        {{"mail"}, 1, true, NULL},
        {{"forum", "wiki"}, 2, true, NULL},
        {{"wiki", "wiki"}, 2, true, NULL},
        {{"hr"}, 1, false, "restricted"},
        {{"wiki", "hr"}, 2, false, "restricted"},
        {{"old-wiki"}, 1, false, "withdrawn"},
        {{"forum", "old-wiki"}, 2, false, "withdrawn"},
        {{"forum-raw"}, 1, false, "no_consent"},
        {{"diary"}, 1, false, "no_consent"},
        {{"wiki", "diary"}, 2, false, "no_consent"},
        {{"Wiki"}, 1, false, "unknown_source"},
        {{"WIKI"}, 1, false, "unknown_source"},
        {{" wiki"}, 1, false, "unknown_source"},
        {{"wiki "}, 1, false, "unknown_source"},
        {{"wiki\n"}, 1, false, "unknown_source"},
        {{"wiki\t"}, 1, false, "unknown_source"},
        {{"HR"}, 1, false, "unknown_source"},
        {{"hr "}, 1, false, "unknown_source"},
        {{"forum-raw "}, 1, false, "unknown_source"},
        {{"no-such-source"}, 1, false, "unknown_source"},
        {{"wiki", "Forum"}, 2, false, "unknown_source"},
        {{""}, 1, false, "no_source"},
        {{NULL}, 1, false, "no_source"},
        {{NULL}, 0, false, "no_source"},
    };
    size_t n = sizeof ex / sizeof ex[0];
    int64_t want_ok = 0;
    for (size_t i = 0; i < n; i++) {
        data_gov_reason r = data_manifest_admit(m, ex[i].ids, ex[i].n);
        if ((r == DATA_GOV_OK) != ex[i].ok)
            fail_msg("example %zu (%s): got %s", i, ex[i].ids[0] ? ex[i].ids[0] : "(null)",
                     data_gov_reason_name(r));
        if (!ex[i].ok) assert_string_equal(data_gov_reason_name(r), ex[i].reason);
        want_ok += ex[i].ok;
    }
    assert_int_equal(data_manifest_accepted(m), want_ok);
    assert_int_equal(data_manifest_rejected(m, "restricted"), 2);
    assert_int_equal(data_manifest_rejected(m, "withdrawn"), 2);
    assert_int_equal(data_manifest_rejected(m, "no_consent"), 3);
    assert_int_equal(data_manifest_rejected(m, "unknown_source"), 11);
    assert_int_equal(data_manifest_rejected(m, "no_source"), 3);
    /* Examples counted once per distinct source. */
    assert_int_equal(data_manifest_source_examples(m, "wiki"), 3);
    assert_int_equal(data_manifest_source_examples(m, "forum"), 2);
    assert_int_equal(data_manifest_source_examples(m, "hr"), 0);
    assert_int_equal(data_manifest_source_examples(m, "old-wiki"), 0);
    assert_int_equal(data_manifest_reject(m, "duplicate"), RW_OK);
    assert_int_equal(data_manifest_reject(m, "duplicate"), RW_OK);
    assert_int_equal(data_manifest_rejected(m, "duplicate"), 2);
    /* The JSON lists only sources that contributed, never a refused one. */
    char *js = NULL;
    assert_int_equal(data_manifest_json(m, &js, &err), RW_OK);
    json_error_t je;
    json_t *root = json_loads(js, 0, &je);
    assert_non_null(root);
    json_t *srcs = json_object_get(root, "sources");
    assert_true(json_is_array(srcs));
    assert_int_equal(json_array_size(srcs), 3);
    size_t i;
    json_t *e;
    json_array_foreach(srcs, i, e) {
        const char *id = json_string_value(json_object_get(e, "id"));
        assert_true(strcmp(id, "wiki") == 0 || strcmp(id, "forum") == 0 || strcmp(id, "mail") == 0);
    }
    assert_int_equal(json_integer_value(json_object_get(root, "examples_accepted")), want_ok);
    assert_int_equal(json_integer_value(json_object_get(root, "examples_rejected")), 23);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "rejected"), "duplicate")), 2);
    assert_true(json_array_size(json_object_get(root, "rules")) >= 4);
    json_decref(root);
    rw_free(js);
    char mpath[600];
    snprintf(mpath, sizeof mpath, "%s/manifest.json", rw_test_tmpdir());
    assert_int_equal(data_manifest_write(m, mpath, &err), RW_OK);
    char *back = rw_test_read_file(mpath, NULL);
    assert_non_null(strstr(back, "\"rag-workbench.manifest/1\""));
    free(back);
    data_manifest_destroy(m);
    data_db_close(db);
}

static void test_withdraw_taints(void **state) {
    (void)state;
    char path[512], f1[512], f2[512], f3[512];
    data_db *db = setup(path, sizeof path);
    rw_err err;
    snprintf(f1, sizeof f1, "%s/w1.gguf", rw_test_tmpdir());
    snprintf(f2, sizeof f2, "%s/w2.gguf", rw_test_tmpdir());
    snprintf(f3, sizeof f3, "%s/w3.gguf", rw_test_tmpdir());
    rw_test_write_file(f1, "one", 3);
    rw_test_write_file(f2, "two", 3);
    rw_test_write_file(f3, "three", 5);
    const char *base = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    data_adapter_new a = {.id = "e1", .component = "embed", .version = "1", .path = f1,
                          .base_sha256 = base,
                          .manifest_json = "{\"sources\":[{\"id\":\"forum\",\"examples\":4},"
                                           "{\"id\":\"wiki\",\"examples\":9}]}"};
    assert_int_equal(data_registry_register(db, &a, &err), RW_OK);
    data_adapter_new b = {.id = "e2", .component = "embed", .version = "2", .path = f2,
                          .base_sha256 = base,
                          .manifest_json = "{\"sources\":[{\"id\":\"wiki\",\"examples\":9}]}"};
    assert_int_equal(data_registry_register(db, &b, &err), RW_OK);
    data_adapter_new c = {.id = "c1", .component = "critic", .version = "1", .path = f3,
                          .base_sha256 = base,
                          .manifest_json = "{\"sources\":[{\"id\":\"forum\",\"examples\":1}]}"};
    assert_int_equal(data_registry_register(db, &c, &err), RW_OK);
    assert_int_equal(data_registry_promote(db, "e1", "", &err), RW_OK);
    data_withdraw_result wr;
    assert_int_equal(data_gov_withdraw(db, "forum", "consent revoked by moderators", 0, &wr, &err),
                     RW_OK);
    assert_int_equal(wr.n_tainted, 2);
    assert_int_equal(wr.n_tainted_production, 1);
    data_adapter ad;
    assert_int_equal(data_registry_get(db, "e1", &ad, &err), RW_OK);
    assert_int_equal(ad.status, DATA_AD_TAINTED);
    assert_true(ad.in_production); /* still serving, reported until replaced */
    data_adapter_deinit(&ad);
    assert_int_equal(data_registry_promote(db, "c1", "", &err), RW_E_STATE);
    assert_non_null(strstr(err.msg, "tainted"));
    char out[600];
    snprintf(out, sizeof out, "%s/x.gguf", rw_test_tmpdir());
    assert_int_equal(data_registry_export(db, "e1", DATA_EXPORT_GGUF, out, &err), RW_E_STATE);
    data_adapter *prod = NULL;
    size_t n = 0;
    assert_int_equal(data_registry_production(db, &prod, &n, &err), RW_OK);
    assert_int_equal(n, 1);
    assert_int_equal(prod[0].status, DATA_AD_TAINTED);
    data_adapter_list_free(prod, n);
    /* A retrained adapter replaces it; rollback to the tainted one is refused. */
    assert_int_equal(data_registry_promote(db, "e2", "retrained without forum", &err), RW_OK);
    assert_int_equal(data_registry_get(db, "e1", &ad, &err), RW_OK);
    assert_int_equal(ad.status, DATA_AD_TAINTED);
    assert_false(ad.in_production);
    data_adapter_deinit(&ad);
    assert_int_equal(data_registry_rollback(db, "embed", "try", NULL, &err), RW_E_STATE);
    /* Registering with a withdrawn source in the manifest taints at once. */
    data_adapter_new d = {.id = "e3", .component = "embed", .version = "3", .path = f3,
                          .base_sha256 = base,
                          .manifest_json = "{\"sources\":[{\"id\":\"forum\",\"examples\":2}]}"};
    assert_int_equal(data_registry_register(db, &d, &err), RW_OK);
    assert_int_equal(data_registry_get(db, "e3", &ad, &err), RW_OK);
    assert_int_equal(ad.status, DATA_AD_TAINTED);
    data_adapter_deinit(&ad);
    /* The history holds withdraw and taint events with the reason. */
    data_registry_event *ev = NULL;
    assert_int_equal(data_registry_history(db, NULL, &ev, &n, &err), RW_OK);
    int n_taint = 0, n_withdraw = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ev[i].kind, "taint") == 0) n_taint++;
        if (strcmp(ev[i].kind, "withdraw") == 0 && ev[i].source_id &&
            strcmp(ev[i].source_id, "forum") == 0) {
            n_withdraw++;
            assert_string_equal(ev[i].reason, "consent revoked by moderators");
        }
    }
    assert_int_equal(n_taint, 3);
    assert_int_equal(n_withdraw, 1);
    data_registry_event_list_free(ev, n);
    /* A manifest snapshot taken now refuses forum. */
    data_manifest *m;
    assert_int_equal(data_manifest_create(db, "after", &m, &err), RW_OK);
    assert_int_equal(data_manifest_check(m, "forum"), DATA_GOV_WITHDRAWN);
    data_manifest_destroy(m);
    data_db_close(db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_table),
        cmocka_unit_test(test_source_ids),
        cmocka_unit_test(test_adversarial_mix),
        cmocka_unit_test(test_withdraw_taints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
