/* data/ stores: migrations (empty file, v1 fixture, future version), SHA-256 vectors,
 * feedback logging, concurrent writers in several processes, registry life cycle, and a
 * writer killed inside promote at every gap between statements. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "data/db.h"
#include "data/feedback.h"
#include "data/governance.h"
#include "data/registry.h"
#include "data/sha256.h"
#include "data/sources.h"
#include "rw_test.h"

static int g_seq;

static void db_path(char *buf, size_t cap) {
    snprintf(buf, cap, "%s/t%d.db", rw_test_tmpdir(), ++g_seq);
}

static int64_t count_sql(const char *path, const char *sql) {
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static void exec_sql(const char *path, const char *sql) {
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) fprintf(stderr, "sql error: %s\n", msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(h);
    assert_int_equal(rc, SQLITE_OK);
}

static void test_migrate_empty(void **state) {
    (void)state;
    char path[512];
    db_path(path, sizeof path);
    data_db *db = NULL;
    rw_err err;
    assert_int_equal(data_db_open(path, &db, &err), RW_OK);
    assert_int_equal(data_db_opened_version(db), 0);
    data_db_close(db);
    assert_int_equal(count_sql(path, "PRAGMA user_version"), DATA_DB_SCHEMA_VERSION);
    assert_int_equal(count_sql(path, "SELECT count(*) FROM sqlite_master WHERE name IN ('sources',"
                                     "'documents','interactions','retrieved','feedback_events',"
                                     "'adapters','production','registry_events','adapter_sources')"),
                     9);
    /* WAL survives in the file header. */
    sqlite3 *h;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(h);
    assert_int_equal(data_db_open(path, &db, &err), RW_OK);
    assert_int_equal(data_db_opened_version(db), DATA_DB_SCHEMA_VERSION);
    data_db_close(db);
}

/* The version-1 schema, written out here independently of the migration code, with data. */
static const char *v1_fixture =
    "CREATE TABLE sources(id TEXT PRIMARY KEY NOT NULL, classification TEXT NOT NULL"
    " CHECK(classification IN ('public','community','personal','restricted')),"
    " description TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, consent_who TEXT,"
    " consent_at INTEGER, consent_scope TEXT, consent_ref TEXT, withdrawn_at INTEGER,"
    " withdrawn_reason TEXT);"
    "CREATE TABLE documents(id TEXT PRIMARY KEY NOT NULL, source_id TEXT NOT NULL REFERENCES"
    " sources(id), title TEXT, text TEXT, created_at INTEGER NOT NULL);"
    "CREATE INDEX documents_source ON documents(source_id);"
    "CREATE TABLE interactions(id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
    " endpoint TEXT NOT NULL, query TEXT NOT NULL, response TEXT, latency_ms REAL, source_id TEXT);"
    "CREATE INDEX interactions_time ON interactions(time);"
    "CREATE TABLE retrieved(interaction_id INTEGER NOT NULL REFERENCES interactions(id) ON DELETE"
    " CASCADE, rank INTEGER NOT NULL CHECK(rank >= 1), doc_id TEXT NOT NULL, score REAL, text TEXT,"
    " source_id TEXT, PRIMARY KEY(interaction_id, rank));"
    "CREATE TABLE feedback_events(id INTEGER PRIMARY KEY AUTOINCREMENT, interaction_id INTEGER NOT"
    " NULL REFERENCES interactions(id) ON DELETE CASCADE, time INTEGER NOT NULL, kind TEXT NOT NULL"
    " CHECK(kind IN ('up','down','click','correction','comment')), doc_id TEXT, text TEXT);"
    "CREATE INDEX feedback_events_interaction ON feedback_events(interaction_id);"
    "CREATE TABLE adapters(id TEXT PRIMARY KEY NOT NULL, component TEXT NOT NULL, version TEXT NOT"
    " NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL, base_sha256 TEXT NOT NULL, parent_id TEXT"
    " REFERENCES adapters(id), manifest TEXT NOT NULL DEFAULT '{}', metrics TEXT NOT NULL DEFAULT"
    " '{}', status TEXT NOT NULL CHECK(status IN ('candidate','production','superseded','rejected',"
    "'rolled-back','tainted')), prev_production TEXT REFERENCES adapters(id), created_at INTEGER NOT"
    " NULL, updated_at INTEGER NOT NULL, UNIQUE(component, version));"
    "CREATE TABLE production(component TEXT PRIMARY KEY NOT NULL, adapter_id TEXT NOT NULL"
    " REFERENCES adapters(id), since INTEGER NOT NULL);"
    "CREATE TABLE registry_events(id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, kind"
    " TEXT NOT NULL CHECK(kind IN ('register','promote','reject','rollback','taint','withdraw')),"
    " component TEXT, adapter_id TEXT, previous_id TEXT, source_id TEXT, reason TEXT NOT NULL"
    " DEFAULT '');"
    "INSERT INTO sources VALUES('wiki','public','',1,NULL,NULL,NULL,NULL,NULL,NULL);"
    "INSERT INTO sources VALUES('forum','community','',1,'mod',2,'train','ticket-1',NULL,NULL);"
    "INSERT INTO interactions(time,endpoint,query,response,latency_ms,source_id)"
    " VALUES(100,'/v1/search','old query',NULL,12.5,'forum');"
    "INSERT INTO retrieved VALUES(1,1,'d1',0.9,'text one','wiki');"
    "INSERT INTO feedback_events(interaction_id,time,kind,doc_id,text) VALUES(1,101,'click','d1',NULL);"
    "INSERT INTO adapters VALUES('e1','embed','1','/nonexistent','00','00',NULL,"
    " '{\"sources\":[{\"id\":\"wiki\",\"examples\":7},{\"id\":\"forum\",\"examples\":3}]}','{}',"
    " 'production',NULL,1,1);"
    "INSERT INTO production VALUES('embed','e1',1);"
    "INSERT INTO registry_events(time,kind,component,adapter_id) VALUES(1,'promote','embed','e1');"
    "PRAGMA user_version = 1;";

static void test_migrate_v1_to_v2(void **state) {
    (void)state;
    char path[512];
    db_path(path, sizeof path);
    exec_sql(path, v1_fixture);
    data_db *db = NULL;
    rw_err err;
    assert_int_equal(data_db_open(path, &db, &err), RW_OK);
    assert_int_equal(data_db_opened_version(db), 1);
    /* The old data is intact and readable through the v2 API. */
    data_feedback_stats fs;
    assert_int_equal(data_feedback_stats_get(db, 0, &fs, &err), RW_OK);
    assert_int_equal(fs.interactions, 1);
    assert_int_equal(fs.retrieved, 1);
    assert_int_equal(fs.events[DATA_FB_CLICK], 1);
    data_adapter a;
    /* Unknown ids: RW_E_NOTFOUND naming the id, the out-parameter untouched. */
    memset(&a, 0x5a, sizeof a);
    data_adapter a_mark = a;
    assert_int_equal(data_registry_get(db, "nope", &a, &err), RW_E_NOTFOUND);
    assert_string_equal(err.msg, "adapter 'nope' not found");
    assert_memory_equal(&a, &a_mark, sizeof a);
    data_source src;
    memset(&src, 0x5a, sizeof src);
    data_source src_mark = src;
    assert_int_equal(data_source_get(db, "nope", &src, &err), RW_E_NOTFOUND);
    assert_string_equal(err.msg, "source 'nope' not found");
    assert_memory_equal(&src, &src_mark, sizeof src);
    assert_int_equal(data_registry_get(db, "e1", &a, &err), RW_OK);
    assert_int_equal(a.status, DATA_AD_PRODUCTION);
    assert_true(a.in_production);
    data_adapter_deinit(&a);
    /* Withdrawing 'forum' must find e1 through the back-filled adapter_sources. */
    data_withdraw_result wr;
    assert_int_equal(data_gov_withdraw(db, "forum", "user request", 0, &wr, &err), RW_OK);
    assert_int_equal(wr.n_tainted, 1);
    assert_int_equal(wr.n_tainted_production, 1);
    data_db_close(db);
    assert_int_equal(count_sql(path, "PRAGMA user_version"), 2);
    assert_int_equal(count_sql(path, "SELECT count(*) FROM interactions WHERE adapters = '{}'"), 1);
    assert_int_equal(count_sql(path, "SELECT count(*) FROM retrieved WHERE critic_score IS NULL"), 1);
    assert_int_equal(count_sql(path, "SELECT examples FROM adapter_sources WHERE source_id='wiki'"), 7);
    assert_int_equal(count_sql(path, "SELECT count(*) FROM adapter_sources"), 2);
    /* v2 made the events log append-only. */
    sqlite3 *h;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(h, "UPDATE registry_events SET reason='x'", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(h, "DELETE FROM registry_events", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
}

static void test_future_and_bad_files(void **state) {
    (void)state;
    char path[512];
    db_path(path, sizeof path);
    exec_sql(path, "CREATE TABLE x(a); PRAGMA user_version = 99;");
    data_db *db = NULL;
    rw_err err;
    assert_int_equal(data_db_open(path, &db, &err), RW_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "99"));
    assert_null(db);
    assert_int_equal(count_sql(path, "PRAGMA user_version"), 99);
    db_path(path, sizeof path);
    assert_int_equal(rw_test_write_file(path, "this is not a database at all, not at all....", 46), 0);
    assert_int_not_equal(data_db_open(path, &db, &err), RW_OK);
    assert_int_not_equal(data_db_open("", &db, &err), RW_OK);
    assert_int_not_equal(data_db_open("/nonexistent-dir/x/y.db", &db, &err), RW_OK);
    /* A v1 file whose data breaks a v2 step is left at v1: here a v1 'adapters' table is
     * missing, so the registry step fails and the whole migration rolls back. */
    db_path(path, sizeof path);
    exec_sql(path, "CREATE TABLE sources(id TEXT PRIMARY KEY); PRAGMA user_version = 1;");
    assert_int_not_equal(data_db_open(path, &db, &err), RW_OK);
    assert_int_equal(count_sql(path, "PRAGMA user_version"), 1);
    assert_int_equal(count_sql(path, "SELECT count(*) FROM sqlite_master WHERE name='interactions'"), 0);
}

static void test_time_and_paths(void **state) {
    (void)state;
    char buf[32];
    /* 1700000000 = 2023-11-14T22:13:20Z (worked by hand: 19675 days + 80000 s). */
    data_time_format(1700000000, buf, sizeof buf);
    assert_string_equal(buf, "2023-11-14T22:13:20Z");
    int64_t t = 0;
    assert_true(data_time_parse("2023-11-14T22:13:20Z", &t));
    assert_int_equal(t, 1700000000);
    assert_true(data_time_parse("2000-03-01", &t));
    assert_int_equal(t, 951868800);
    assert_true(data_time_parse("42", &t));
    assert_int_equal(t, 42);
    assert_false(data_time_parse("2023-13-01", &t));
    assert_false(data_time_parse("2023-11-14 22:13:20", &t));
    assert_false(data_time_parse("", &t));
    assert_string_equal(data_db_default_path("x.db"), "x.db");
    setenv("RW_DB", "/tmp/env.db", 1);
    assert_string_equal(data_db_default_path(NULL), "/tmp/env.db");
    unsetenv("RW_DB");
    assert_string_equal(data_db_default_path(NULL), "rag.db");
}

static void test_sha256(void **state) {
    (void)state;
    char hex[DATA_SHA256_HEX];
    rw_err err;
    /* FIPS 180-4 / NIST example vectors. */
    assert_int_equal(data_sha256_buf("abc", 3, hex, &err), RW_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char path[512];
    snprintf(path, sizeof path, "%s/empty.bin", rw_test_tmpdir());
    assert_int_equal(rw_test_write_file(path, "", 0), 0);
    assert_int_equal(data_sha256_file(path, hex, &err), RW_OK);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* One million 'a' spans many 64 KiB read blocks. */
    size_t n = 1000000;
    char *a = malloc(n);
    memset(a, 'a', n);
    snprintf(path, sizeof path, "%s/million.bin", rw_test_tmpdir());
    assert_int_equal(rw_test_write_file(path, a, n), 0);
    free(a);
    assert_int_equal(data_sha256_file(path, hex, &err), RW_OK);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    assert_int_equal(data_sha256_file("/nonexistent/file", hex, &err), RW_E_IO);
    assert_true(data_sha256_valid("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    assert_false(data_sha256_valid("CDC76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    assert_false(data_sha256_valid("abc"));
}

/* A byte range of an open descriptor: the same NIST vectors, cut out of larger files. */
static void test_sha256_range(void **state) {
    (void)state;
    char hex[DATA_SHA256_HEX];
    rw_err err;
    char path[512];
    snprintf(path, sizeof path, "%s/range.bin", rw_test_tmpdir());
    assert_int_equal(rw_test_write_file(path, "xxabcyy", 7), 0);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(data_sha256_fd_range(fd, 2, 3, path, hex, &err), RW_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(data_sha256_fd_range(fd, 7, 0, path, hex, &err), RW_OK); /* empty */
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 0); /* pread: offset untouched */
    memcpy(hex, "untouched", 10);
    assert_int_equal(data_sha256_fd_range(fd, 5, 5, path, hex, &err), RW_E_IO); /* past the end */
    assert_non_null(strstr(err.msg, "byte 7"));
    assert_non_null(strstr(err.msg, "range.bin"));
    assert_string_equal(hex, "untouched");
    close(fd);
    /* One million 'a' after a 7-byte prefix, before a tail: many 64 KiB blocks, odd offset. */
    size_t n = 1000000;
    char *a = malloc(n + 11);
    memset(a, 'z', n + 11);
    memset(a + 7, 'a', n);
    snprintf(path, sizeof path, "%s/range_million.bin", rw_test_tmpdir());
    assert_int_equal(rw_test_write_file(path, a, n + 11), 0);
    free(a);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(data_sha256_fd_range(fd, 7, n, path, hex, &err), RW_OK);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    close(fd);
}

static void test_feedback_roundtrip(void **state) {
    (void)state;
    char path[512];
    db_path(path, sizeof path);
    data_db *db = NULL;
    rw_err err;
    assert_int_equal(data_db_open(path, &db, &err), RW_OK);
    data_retrieved docs[2] = {{"d1", 0.9, 0.75, "one", NULL}, {"d2", 0.5, (double)NAN, NULL, NULL}};
    data_interaction it = {.time = 1000, .endpoint = "/v1/search", .query = "q?", .response = "a",
                           .adapters_json = "{\"embed\":\"v3\"}", .latency_ms = 5.5,
                           .docs = docs, .n_docs = 2};
    int64_t id = 0;
    assert_int_equal(data_feedback_log(db, &it, &id, &err), RW_OK);
    assert_true(id > 0);
    assert_int_equal(data_feedback_event(db, id, DATA_FB_UP, NULL, NULL, 0, &err), RW_OK);
    assert_int_equal(data_feedback_event(db, id, DATA_FB_CLICK, "d2", NULL, 0, &err), RW_OK);
    assert_int_equal(data_feedback_event(db, id, DATA_FB_CORRECTION, NULL, "better", 0, &err), RW_OK);
    assert_int_equal(data_feedback_event(db, id + 100, DATA_FB_UP, NULL, NULL, 0, &err),
                     RW_E_NOTFOUND);
    assert_int_equal(data_feedback_event(db, id, DATA_FB_CLICK, NULL, NULL, 0, &err), RW_E_INVALID);
    assert_int_equal(data_feedback_event(db, id, DATA_FB_COMMENT, NULL, "", 0, &err), RW_E_INVALID);
    data_interaction bad = it;
    bad.adapters_json = "[1]";
    assert_int_equal(data_feedback_log(db, &bad, NULL, &err), RW_E_FORMAT);
    bad = it;
    bad.endpoint = "";
    assert_int_equal(data_feedback_log(db, &bad, NULL, &err), RW_E_INVALID);
    data_feedback_stats st;
    assert_int_equal(data_feedback_stats_get(db, 0, &st, &err), RW_OK);
    assert_int_equal(st.interactions, 1);
    assert_int_equal(st.retrieved, 2);
    assert_int_equal(st.events[DATA_FB_UP], 1);
    assert_int_equal(st.events[DATA_FB_CLICK], 1);
    assert_int_equal(st.events[DATA_FB_CORRECTION], 1);
    assert_int_equal(st.events[DATA_FB_DOWN], 0);
    assert_true(fabs(st.mean_latency_ms - 5.5) < 1e-12);
    assert_int_equal(st.first_time, 1000);
    assert_int_equal(data_feedback_stats_get(db, 2000, &st, &err), RW_OK);
    assert_int_equal(st.interactions, 0);
    data_db_close(db);
    assert_int_equal(count_sql(path, "SELECT count(*) FROM retrieved WHERE critic_score = 0.75"), 1);
    assert_int_equal(count_sql(path, "SELECT count(*) FROM retrieved WHERE critic_score IS NULL"), 1);
}

enum { N_WRITERS = 6, N_PER_WRITER = 40 };

static void test_concurrent_writers(void **state) {
    (void)state;
    char path[512];
    db_path(path, sizeof path);
    pid_t pids[N_WRITERS];
    for (int w = 0; w < N_WRITERS; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) {
            /* Every child opens the (possibly not yet created) file itself: the first
             * migration races too. */
            data_db *db = NULL;
            rw_err err;
            if (data_db_open(path, &db, &err) != RW_OK) {
                fprintf(stderr, "child %d: %s\n", w, err.msg);
                _exit(2);
            }
            for (int i = 0; i < N_PER_WRITER; i++) {
                char q[64];
                snprintf(q, sizeof q, "writer %d query %d", w, i);
                data_retrieved docs[3] = {{"a", 1, (double)NAN, NULL, NULL},
                                          {"b", 0.5, (double)NAN, NULL, NULL},
                                          {"c", 0.25, (double)NAN, NULL, NULL}};
                data_interaction it = {.endpoint = "/v1/search", .query = q, .docs = docs,
                                       .n_docs = 3};
                int64_t id;
                if (data_feedback_log(db, &it, &id, &err) != RW_OK ||
                    data_feedback_event(db, id, DATA_FB_CLICK, "b", NULL, 0, &err) != RW_OK) {
                    fprintf(stderr, "child %d: %s\n", w, err.msg);
                    _exit(3);
                }
            }
            data_db_close(db);
            _exit(0);
        }
    }
    for (int w = 0; w < N_WRITERS; w++) {
        int st = 0;
        assert_int_equal(waitpid(pids[w], &st, 0), pids[w]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    assert_int_equal(count_sql(path, "SELECT count(*) FROM interactions"), N_WRITERS * N_PER_WRITER);
    assert_int_equal(count_sql(path, "SELECT count(*) FROM retrieved"), 3 * N_WRITERS * N_PER_WRITER);
    assert_int_equal(count_sql(path, "SELECT count(*) FROM feedback_events"), N_WRITERS * N_PER_WRITER);
    assert_int_equal(count_sql(path, "SELECT count(DISTINCT query) FROM interactions"),
                     N_WRITERS * N_PER_WRITER);
}

static const char *const BASE = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void make_adapter_file(const char *name, const char *content, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", rw_test_tmpdir(), name);
    assert_int_equal(rw_test_write_file(path, content, strlen(content)), 0);
}

static void reg(data_db *db, const char *id, const char *comp, const char *ver, const char *file,
                const char *manifest) {
    data_adapter_new a = {.id = id, .component = comp, .version = ver, .path = file,
                          .base_sha256 = BASE, .manifest_json = manifest};
    rw_err err;
    rw_status s = data_registry_register(db, &a, &err);
    if (s != RW_OK) fprintf(stderr, "register %s: %s\n", id, err.msg);
    assert_int_equal(s, RW_OK);
}

static data_adapter_status status_of(data_db *db, const char *id, bool *in_prod) {
    data_adapter a;
    rw_err err;
    assert_int_equal(data_registry_get(db, id, &a, &err), RW_OK);
    data_adapter_status s = a.status;
    if (in_prod) *in_prod = a.in_production;
    data_adapter_deinit(&a);
    return s;
}

/* Rollback re-checks the previous adapter's file like promote does: a file changed or deleted
 * since registration never goes back into service, and production stays as it was. */
static void test_rollback_verifies_file(void **state) {
    (void)state;
    char path[512], fe[512], ff[512];
    db_path(path, sizeof path);
    make_adapter_file("rb-e.gguf", "GGUF adapter E", fe, sizeof fe);
    make_adapter_file("rb-f.gguf", "GGUF adapter F", ff, sizeof ff);
    data_db *db = NULL;
    rw_err err;
    assert_int_equal(data_db_open(path, &db, &err), RW_OK);
    reg(db, "crit-1", "critic", "1", fe, "{\"sources\":[]}");
    reg(db, "crit-2", "critic", "2", ff, "{\"sources\":[]}");
    assert_int_equal(data_registry_promote(db, "crit-1", "first", &err), RW_OK);
    assert_int_equal(data_registry_promote(db, "crit-2", "second", &err), RW_OK);
    bool inp;
    make_adapter_file("rb-e.gguf", "GGUF adapter E, modified", fe, sizeof fe);
    assert_int_equal(data_registry_rollback(db, "critic", "smoke", NULL, &err), RW_E_FORMAT);
    assert_non_null(strstr(err.msg, "crit-1"));
    assert_int_equal(status_of(db, "crit-2", &inp), DATA_AD_PRODUCTION);
    assert_true(inp);
    assert_int_equal(unlink(fe), 0);
    assert_int_equal(data_registry_rollback(db, "critic", "smoke", NULL, &err), RW_E_IO);
    assert_int_equal(status_of(db, "crit-2", &inp), DATA_AD_PRODUCTION);
    make_adapter_file("rb-e.gguf", "GGUF adapter E", fe, sizeof fe);
    assert_int_equal(data_registry_rollback(db, "critic", "smoke", NULL, &err), RW_OK);
    assert_int_equal(status_of(db, "crit-1", &inp), DATA_AD_PRODUCTION);
    assert_true(inp);
    data_db_close(db);
}

static void test_registry_lifecycle(void **state) {
    (void)state;
    char path[512], fa[512], fb[512], fc[512];
    db_path(path, sizeof path);
    make_adapter_file("a.gguf", "GGUF adapter A", fa, sizeof fa);
    make_adapter_file("b.gguf", "GGUF adapter B", fb, sizeof fb);
    make_adapter_file("c.gguf", "GGUF adapter C", fc, sizeof fc);
    data_db *db = NULL;
    rw_err err;
    assert_int_equal(data_db_open(path, &db, &err), RW_OK);
    const char *man = "{\"sources\":[]}";
    reg(db, "emb-1", "embed", "1", fa, man);
    reg(db, "emb-2", "embed", "2", fb, man);
    reg(db, "emb-3", "embed", "3", fc, man);
    reg(db, "p-1", "persona:support", "1", fa, man);
    /* Duplicates and bad inputs. */
    data_adapter_new dup = {.id = "emb-9", .component = "embed", .version = "1", .path = fa,
                            .base_sha256 = BASE, .manifest_json = man};
    assert_int_equal(data_registry_register(db, &dup, &err), RW_E_STATE);
    dup.version = "9";
    dup.component = "Embed";
    assert_int_equal(data_registry_register(db, &dup, &err), RW_E_INVALID);
    dup.component = "persona:";
    assert_int_equal(data_registry_register(db, &dup, &err), RW_E_INVALID);
    dup.component = "embed";
    dup.base_sha256 = "xyz";
    assert_int_equal(data_registry_register(db, &dup, &err), RW_E_INVALID);
    dup.base_sha256 = BASE;
    dup.manifest_json = "{\"sources\":3}";
    assert_int_equal(data_registry_register(db, &dup, &err), RW_E_FORMAT);
    dup.manifest_json = "not json";
    assert_int_equal(data_registry_register(db, &dup, &err), RW_E_FORMAT);
    dup.manifest_json = man;
    dup.path = "/nonexistent.gguf";
    assert_int_equal(data_registry_register(db, &dup, &err), RW_E_IO);

    bool inp;
    assert_int_equal(data_registry_promote(db, "emb-1", "first", &err), RW_OK);
    assert_int_equal(status_of(db, "emb-1", &inp), DATA_AD_PRODUCTION);
    assert_true(inp);
    assert_int_equal(data_registry_promote(db, "emb-1", "again", &err), RW_E_STATE);
    assert_int_equal(data_registry_promote(db, "emb-2", "better MRR", &err), RW_OK);
    assert_int_equal(status_of(db, "emb-1", &inp), DATA_AD_SUPERSEDED);
    assert_false(inp);
    assert_int_equal(status_of(db, "emb-2", &inp), DATA_AD_PRODUCTION);
    assert_true(inp);
    char *restored = NULL;
    assert_int_equal(data_registry_rollback(db, "embed", "smoke failed", &restored, &err), RW_OK);
    assert_string_equal(restored, "emb-1");
    rw_free(restored);
    assert_int_equal(status_of(db, "emb-2", &inp), DATA_AD_ROLLED_BACK);
    assert_int_equal(status_of(db, "emb-1", &inp), DATA_AD_PRODUCTION);
    assert_true(inp);
    /* emb-1 had no predecessor. */
    assert_int_equal(data_registry_rollback(db, "embed", "again", NULL, &err), RW_E_STATE);
    assert_int_equal(data_registry_rollback(db, "critic", "none", NULL, &err), RW_E_STATE);
    assert_int_equal(data_registry_reject(db, "emb-3", "worse P@5", &err), RW_OK);
    assert_int_equal(data_registry_promote(db, "emb-3", "no", &err), RW_E_STATE);
    assert_int_equal(data_registry_reject(db, "emb-1", "no", &err), RW_E_STATE);
    assert_int_equal(data_registry_promote(db, "nope", "no", &err), RW_E_NOTFOUND);
    /* Production list: one per component. */
    assert_int_equal(data_registry_promote(db, "p-1", "", &err), RW_OK);
    data_adapter *v = NULL;
    size_t n = 0;
    assert_int_equal(data_registry_production(db, &v, &n, &err), RW_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].component, "embed");
    assert_string_equal(v[0].id, "emb-1");
    assert_string_equal(v[1].id, "p-1");
    data_adapter_list_free(v, n);
    assert_int_equal(data_registry_list(db, "embed", &v, &n, &err), RW_OK);
    assert_int_equal(n, 3);
    data_adapter_list_free(v, n);
    /* History: events in order. */
    data_registry_event *ev = NULL;
    assert_int_equal(data_registry_history(db, "embed", &ev, &n, &err), RW_OK);
    const char *kinds[] = {"register", "register", "register", "promote", "promote", "rollback",
                           "reject"};
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++) assert_string_equal(ev[i].kind, kinds[i]);
    assert_string_equal(ev[4].adapter_id, "emb-2");
    assert_string_equal(ev[4].previous_id, "emb-1");
    assert_string_equal(ev[4].reason, "better MRR");
    assert_string_equal(ev[5].previous_id, "emb-2");
    data_registry_event_list_free(ev, n);
    /* Export: verified copy; PEFT refused; a tampered file is refused. */
    char out[512];
    snprintf(out, sizeof out, "%s/exported.gguf", rw_test_tmpdir());
    assert_int_equal(data_registry_export(db, "emb-2", DATA_EXPORT_GGUF, out, &err), RW_OK);
    char *got = rw_test_read_file(out, NULL);
    assert_string_equal(got, "GGUF adapter B");
    free(got);
    assert_int_equal(data_registry_export(db, "emb-2", DATA_EXPORT_PEFT, out, &err), RW_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "not available in this build yet"));
    make_adapter_file("b.gguf", "GGUF adapter B, tampered", fb, sizeof fb);
    snprintf(out, sizeof out, "%s/exported2.gguf", rw_test_tmpdir());
    assert_int_equal(data_registry_export(db, "emb-2", DATA_EXPORT_GGUF, out, &err), RW_E_FORMAT);
    assert_int_not_equal(access(out, F_OK), 0);
    assert_int_equal(data_registry_promote(db, "emb-2", "tampered", &err), RW_E_FORMAT);
    assert_int_equal(status_of(db, "emb-1", NULL), DATA_AD_PRODUCTION);
    data_db_close(db);
}

/* A child promotes emb-2 over emb-1 and dies with _exit() at one gap inside the transaction.
 * Afterwards the registry must show exactly the old state. */
static void test_promote_crash(void **state) {
    (void)state;
    char path[512], fa[512], fb[512];
    db_path(path, sizeof path);
    make_adapter_file("ca.gguf", "crash A", fa, sizeof fa);
    make_adapter_file("cb.gguf", "crash B", fb, sizeof fb);
    data_db *db = NULL;
    rw_err err;
    assert_int_equal(data_db_open(path, &db, &err), RW_OK);
    reg(db, "emb-1", "embed", "1", fa, "{\"sources\":[]}");
    reg(db, "emb-2", "embed", "2", fb, "{\"sources\":[]}");
    assert_int_equal(data_registry_promote(db, "emb-1", "", &err), RW_OK);
    data_db_close(db);
    const char *points[] = {"promote:1", "promote:2", "promote:3", "promote:4"};
    for (size_t k = 0; k < 4; k++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            setenv("RW_DATA_CRASH_AT", points[k], 1);
            data_db *cdb = NULL;
            rw_err cerr;
            if (data_db_open(path, &cdb, &cerr) != RW_OK) _exit(2);
            data_registry_promote(cdb, "emb-2", "crash test", &cerr);
            _exit(3); /* not reached when the crash point fires */
        }
        int st = 0;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 86);
        assert_int_equal(data_db_open(path, &db, &err), RW_OK);
        bool inp;
        assert_int_equal(status_of(db, "emb-1", &inp), DATA_AD_PRODUCTION);
        assert_true(inp);
        assert_int_equal(status_of(db, "emb-2", &inp), DATA_AD_CANDIDATE);
        assert_false(inp);
        data_db_close(db);
        assert_int_equal(count_sql(path, "SELECT count(*) FROM production"), 1);
        assert_int_equal(count_sql(path, "SELECT count(*) FROM registry_events WHERE kind='promote'"), 1);
    }
    /* kill -9 while promotes run in a loop: whatever instant it lands, one production. */
    for (int round = 0; round < 5; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            data_db *cdb = NULL;
            rw_err cerr;
            if (data_db_open(path, &cdb, &cerr) != RW_OK) _exit(2);
            for (;;) {
                data_registry_promote(cdb, "emb-2", "loop", &cerr);
                data_registry_rollback(cdb, "embed", "loop", NULL, &cerr);
                data_registry_promote(cdb, "emb-1", "loop", &cerr);
            }
        }
        struct timespec ts = {0, (20 + 15 * round) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        assert_int_equal(count_sql(path, "SELECT count(*) FROM production WHERE component='embed'"), 1);
        assert_int_equal(count_sql(path, "SELECT count(*) FROM adapters a JOIN production p"
                                         " ON p.adapter_id = a.id WHERE a.status = 'production'"),
                         1);
        assert_int_equal(count_sql(path, "SELECT count(*) FROM adapters WHERE status = 'production'"), 1);
    }
    /* Without a crash the promote goes through. */
    assert_int_equal(data_db_open(path, &db, &err), RW_OK);
    bool inp = false;
    if (status_of(db, "emb-2", &inp) != DATA_AD_PRODUCTION) {
        assert_int_equal(data_registry_promote(db, "emb-2", "", &err), RW_OK);
    }
    assert_int_equal(status_of(db, "emb-2", &inp), DATA_AD_PRODUCTION);
    assert_true(inp);
    data_db_close(db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_empty),     cmocka_unit_test(test_migrate_v1_to_v2),
        cmocka_unit_test(test_future_and_bad_files), cmocka_unit_test(test_time_and_paths),
        cmocka_unit_test(test_sha256), cmocka_unit_test(test_sha256_range),            cmocka_unit_test(test_feedback_roundtrip),
        cmocka_unit_test(test_concurrent_writers), cmocka_unit_test(test_registry_lifecycle),
        cmocka_unit_test(test_rollback_verifies_file),
        cmocka_unit_test(test_promote_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
