/* rag-admin: command-line front end of the data/ stores — adapter registry (list, register,
 * promote, reject, rollback, history, export), sources (add, list, consent, withdraw), feedback
 * statistics and mining. Human-readable tables by default, one JSON document with --json.
 * Database: --db PATH, else $RW_DB, else ./rag.db (data_db_default_path).
 * Exit status: 0 success, 1 the operation failed (message on stderr), 2 usage error. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "data/db.h"
#include "data/feedback.h"
#include "data/file.h"
#include "data/governance.h"
#include "data/json_alloc.h"
#include "data/mining.h"
#include "data/registry.h"
#include "data/sources.h"

static const char usage[] =
    "usage: rag-admin [--db PATH] [--json] COMMAND [ARGS]\n"
    "\n"
    "Registry:\n"
    "  adapters [--component C]             list adapters; warns about tainted production\n"
    "  register ID --component C --version V --file ADAPTER.gguf --base-sha256 HEX\n"
    "           --manifest MANIFEST.json [--parent ID] [--metrics METRICS.json]\n"
    "  promote ID [--reason TEXT]           make ID the production adapter of its component\n"
    "  reject ID --reason TEXT              reject a candidate\n"
    "  rollback COMPONENT [--reason TEXT]   restore the previous production adapter\n"
    "  history [COMPONENT]                  the append-only registry events log\n"
    "  export ID --out PATH [--format gguf|peft]   copy the adapter out (sha256 verified)\n"
    "Sources and governance:\n"
    "  sources                              list sources, consent and withdrawal\n"
    "  source add ID --class public|community|personal|restricted [--description TEXT]\n"
    "  consent SOURCE --who WHO --scope SCOPE [--ref REF] [--when TIME]\n"
    "  withdraw SOURCE --reason TEXT        withdraw; taints every adapter trained on it\n"
    "Feedback:\n"
    "  feedback stats [--since TIME]\n"
    "  mine triplets|sft|critic --out FILE.jsonl --manifest FILE.json [--min-evidence N]\n"
    "       [--max-negatives N] [--default-source ID] [--since TIME]\n"
    "\n"
    "Components: embed, critic, persona:<name>. TIME: unix seconds, YYYY-MM-DD or\n"
    "YYYY-MM-DDTHH:MM:SSZ (UTC). --db defaults to $RW_DB, then ./rag.db.\n";

enum { MAX_POS = 8 };

typedef struct args {
    const char *db, *component, *version, *file, *base_sha256, *manifest, *parent, *metrics;
    const char *reason, *out, *format, *cls, *description, *who, *scope, *ref, *when, *since;
    const char *min_evidence, *max_negatives, *default_source;
    int json, help;
    const char *pos[MAX_POS];
    int npos;
} args;

static int parse_args(int argc, char **argv, args *a) {
    struct {
        const char *name;
        const char **dst;
    } opts[] = {
        {"--db", &a->db},           {"--component", &a->component},
        {"--version", &a->version}, {"--file", &a->file},
        {"--base-sha256", &a->base_sha256}, {"--manifest", &a->manifest},
        {"--parent", &a->parent},   {"--metrics", &a->metrics},
        {"--reason", &a->reason},   {"--out", &a->out},
        {"--format", &a->format},   {"--class", &a->cls},
        {"--description", &a->description}, {"--who", &a->who},
        {"--scope", &a->scope},     {"--ref", &a->ref},
        {"--when", &a->when},       {"--since", &a->since},
        {"--min-evidence", &a->min_evidence}, {"--max-negatives", &a->max_negatives},
        {"--default-source", &a->default_source},
    };
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--json") == 0) {
            a->json = 1;
            continue;
        }
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->help = 1;
            continue;
        }
        if (strncmp(s, "--", 2) == 0) {
            size_t k;
            for (k = 0; k < sizeof opts / sizeof opts[0]; k++)
                if (strcmp(s, opts[k].name) == 0) break;
            if (k == sizeof opts / sizeof opts[0]) {
                fprintf(stderr, "rag-admin: unknown option %s\n", s);
                return -1;
            }
            if (i + 1 >= argc) {
                fprintf(stderr, "rag-admin: %s needs a value\n", s);
                return -1;
            }
            *opts[k].dst = argv[++i];
            continue;
        }
        if (a->npos == MAX_POS) {
            fprintf(stderr, "rag-admin: too many arguments\n");
            return -1;
        }
        a->pos[a->npos++] = s;
    }
    return 0;
}

static int fail(const rw_err *err) {
    fprintf(stderr, "rag-admin: %s\n", err->msg);
    return 1;
}

static int usage_error(const char *msg) {
    fprintf(stderr, "rag-admin: %s\n(run rag-admin --help)\n", msg);
    return 2;
}

static void tfmt(int64_t t, char *buf) { data_time_format(t, buf, 32); }

static void print_json(json_t *j) {
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) puts(s);
    free(s);
    json_decref(j);
}

static json_t *jstr_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *jtime(int64_t t) {
    char b[32];
    if (t <= 0) return json_null();
    tfmt(t, b);
    return json_string(b);
}

/* Reads a small text file (manifest, metrics) whole: these are JSON documents written by
 * our own tools, capped at 16 MiB. Owned; NULL with err filled on failure. */
static char *slurp(const char *path, rw_err *err) {
    char *b = NULL;
    size_t n = 0;
    return data_file_read(path, 16u << 20, &b, &n, err) == RW_OK ? b : NULL;
}

static json_t *adapter_json(const data_adapter *a) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(a->id));
    json_object_set_new(o, "component", json_string(a->component));
    json_object_set_new(o, "version", json_string(a->version));
    json_object_set_new(o, "status", json_string(data_adapter_status_name(a->status)));
    json_object_set_new(o, "in_production", json_boolean(a->in_production));
    json_object_set_new(o, "path", json_string(a->path));
    json_object_set_new(o, "sha256", json_string(a->sha256));
    json_object_set_new(o, "base_sha256", json_string(a->base_sha256));
    json_object_set_new(o, "parent_id", jstr_or_null(a->parent_id));
    json_object_set_new(o, "prev_production", jstr_or_null(a->prev_production));
    json_t *m = json_loads(a->metrics, 0, NULL);
    json_object_set_new(o, "metrics", m ? m : json_object());
    json_object_set_new(o, "created_at", jtime(a->created_at));
    json_object_set_new(o, "updated_at", jtime(a->updated_at));
    return o;
}

static int cmd_adapters(data_db *db, const args *a) {
    rw_err err;
    data_adapter *v = NULL, *prod = NULL;
    size_t n = 0, np = 0;
    if (data_registry_list(db, a->component, &v, &n, &err) != RW_OK) return fail(&err);
    if (data_registry_production(db, &prod, &np, &err) != RW_OK) {
        data_adapter_list_free(v, n);
        return fail(&err);
    }
    if (a->json) {
        json_t *root = json_object(), *arr = json_array(), *warn = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(arr, adapter_json(&v[i]));
        for (size_t i = 0; i < np; i++)
            if (prod[i].status == DATA_AD_TAINTED)
                json_array_append_new(warn, json_pack("{s:s,s:s,s:s}", "component", prod[i].component,
                                                      "adapter", prod[i].id, "problem",
                                                      "tainted production adapter"));
        json_object_set_new(root, "adapters", arr);
        json_object_set_new(root, "warnings", warn);
        print_json(root);
    } else {
        printf("%-24s %-20s %-10s %-12s %-4s %-12s %s\n", "ID", "COMPONENT", "VERSION", "STATUS",
               "PROD", "SHA256", "CREATED");
        for (size_t i = 0; i < n; i++) {
            char t[32];
            tfmt(v[i].created_at, t);
            printf("%-24s %-20s %-10s %-12s %-4s %.12s %s\n", v[i].id, v[i].component, v[i].version,
                   data_adapter_status_name(v[i].status), v[i].in_production ? "*" : "", v[i].sha256, t);
        }
        if (n == 0) printf("(no adapters)\n");
        for (size_t i = 0; i < np; i++)
            if (prod[i].status == DATA_AD_TAINTED)
                printf("WARNING: production adapter %s of %s is tainted (trained on a withdrawn "
                       "source); retrain and promote a replacement\n",
                       prod[i].id, prod[i].component);
    }
    data_adapter_list_free(v, n);
    data_adapter_list_free(prod, np);
    return 0;
}

static int cmd_register(data_db *db, const args *a) {
    if (a->npos != 2 || !a->component || !a->version || !a->file || !a->base_sha256 || !a->manifest)
        return usage_error("register ID --component C --version V --file F --base-sha256 H "
                           "--manifest M");
    rw_err err;
    char *man = slurp(a->manifest, &err);
    if (!man) return fail(&err);
    char *met = NULL;
    if (a->metrics) {
        met = slurp(a->metrics, &err);
        if (!met) {
            rw_free(man);
            return fail(&err);
        }
    }
    data_adapter_new n = {.id = a->pos[1], .component = a->component, .version = a->version,
                          .path = a->file, .base_sha256 = a->base_sha256, .parent_id = a->parent,
                          .manifest_json = man, .metrics_json = met};
    rw_status s = data_registry_register(db, &n, &err);
    rw_free(man);
    rw_free(met);
    if (s != RW_OK) return fail(&err);
    data_adapter ad;
    if (data_registry_get(db, a->pos[1], &ad, &err) != RW_OK) return fail(&err);
    if (a->json)
        print_json(adapter_json(&ad));
    else
        printf("registered %s (%s %s) as %s, sha256 %s\n", ad.id, ad.component, ad.version,
               data_adapter_status_name(ad.status), ad.sha256);
    data_adapter_deinit(&ad);
    return 0;
}

static int simple_result(const args *a, const char *action, const char *id, const char *extra) {
    if (a->json) {
        json_t *o = json_pack("{s:b,s:s,s:s}", "ok", 1, "action", action, "id", id);
        if (extra) json_object_set_new(o, "detail", json_string(extra));
        print_json(o);
    } else {
        printf("%s %s%s%s\n", action, id, extra ? ": " : "", extra ? extra : "");
    }
    return 0;
}

static int cmd_history(data_db *db, const args *a) {
    rw_err err;
    data_registry_event *v = NULL;
    size_t n = 0;
    if (data_registry_history(db, a->npos > 1 ? a->pos[1] : NULL, &v, &n, &err) != RW_OK)
        return fail(&err);
    if (a->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(
                arr, json_pack("{s:I,s:o,s:s,s:o,s:o,s:o,s:o,s:s}", "id", (json_int_t)v[i].id, "time",
                               jtime(v[i].time), "kind", v[i].kind, "component",
                               jstr_or_null(v[i].component), "adapter_id", jstr_or_null(v[i].adapter_id),
                               "previous_id", jstr_or_null(v[i].previous_id), "source_id",
                               jstr_or_null(v[i].source_id), "reason", v[i].reason));
        print_json(json_pack("{s:o}", "events", arr));
    } else {
        printf("%-20s %-9s %-18s %-20s %-20s %s\n", "TIME", "EVENT", "COMPONENT", "ADAPTER",
               "PREVIOUS/SOURCE", "REASON");
        for (size_t i = 0; i < n; i++) {
            char t[32];
            tfmt(v[i].time, t);
            printf("%-20s %-9s %-18s %-20s %-20s %s\n", t, v[i].kind, v[i].component ? v[i].component : "-",
                   v[i].adapter_id ? v[i].adapter_id : "-",
                   v[i].previous_id ? v[i].previous_id : (v[i].source_id ? v[i].source_id : "-"),
                   v[i].reason);
        }
        if (n == 0) printf("(no events)\n");
    }
    data_registry_event_list_free(v, n);
    return 0;
}

static int cmd_sources(data_db *db, const args *a) {
    rw_err err;
    data_source *v = NULL;
    size_t n = 0;
    if (data_source_list(db, &v, &n, &err) != RW_OK) return fail(&err);
    if (a->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_pack("{s:s,s:s,s:s,s:o}", "id", v[i].id, "classification",
                                  data_class_name(v[i].cls), "description", v[i].description,
                                  "created_at", jtime(v[i].created_at));
            if (v[i].has_consent)
                json_object_set_new(o, "consent",
                                    json_pack("{s:s,s:o,s:s,s:s}", "who", v[i].consent_who, "at",
                                              jtime(v[i].consent_at), "scope", v[i].consent_scope,
                                              "ref", v[i].consent_ref ? v[i].consent_ref : ""));
            else
                json_object_set_new(o, "consent", json_null());
            json_object_set_new(o, "withdrawn_at", jtime(v[i].withdrawn_at));
            json_object_set_new(o, "withdrawn_reason", jstr_or_null(v[i].withdrawn_reason));
            data_gov_reason r = data_gov_rule(v[i].cls, v[i].has_consent, v[i].withdrawn_at > 0);
            json_object_set_new(o, "trainable", json_boolean(r == DATA_GOV_OK));
            if (r != DATA_GOV_OK) json_object_set_new(o, "refused_because", json_string(data_gov_reason_name(r)));
            json_array_append_new(arr, o);
        }
        print_json(json_pack("{s:o}", "sources", arr));
    } else {
        printf("%-20s %-11s %-9s %-24s %-20s %s\n", "ID", "CLASS", "TRAINABLE", "CONSENT (WHO/SCOPE)",
               "WITHDRAWN", "DESCRIPTION");
        for (size_t i = 0; i < n; i++) {
            char t[32], c[64];
            tfmt(v[i].withdrawn_at, t);
            snprintf(c, sizeof c, "%s/%s", v[i].has_consent ? v[i].consent_who : "-",
                     v[i].has_consent ? v[i].consent_scope : "-");
            data_gov_reason r = data_gov_rule(v[i].cls, v[i].has_consent, v[i].withdrawn_at > 0);
            printf("%-20s %-11s %-9s %-24s %-20s %s\n", v[i].id, data_class_name(v[i].cls),
                   r == DATA_GOV_OK ? "yes" : data_gov_reason_name(r), c, t, v[i].description);
        }
        if (n == 0) printf("(no sources)\n");
    }
    data_source_list_free(v, n);
    return 0;
}

static int cmd_withdraw(data_db *db, const args *a) {
    if (a->npos != 2 || !a->reason) return usage_error("withdraw SOURCE --reason TEXT");
    rw_err err;
    data_withdraw_result r;
    if (data_gov_withdraw(db, a->pos[1], a->reason, 0, &r, &err) != RW_OK) return fail(&err);
    if (a->json) {
        print_json(json_pack("{s:b,s:s,s:s,s:I,s:I}", "ok", 1, "action", "withdraw", "source",
                             a->pos[1], "tainted", (json_int_t)r.n_tainted, "tainted_in_production",
                             (json_int_t)r.n_tainted_production));
    } else {
        printf("withdrew %s; %zu adapter(s) tainted, %zu of them in production\n", a->pos[1],
               r.n_tainted, r.n_tainted_production);
        if (r.n_tainted_production)
            printf("WARNING: tainted adapters are still serving; retrain without %s and promote "
                   "(rag-admin adapters lists them)\n",
                   a->pos[1]);
    }
    return 0;
}

static int parse_time_opt(const char *s, int64_t *out) {
    if (!s) {
        *out = 0;
        return 1;
    }
    return data_time_parse(s, out);
}

static int cmd_feedback(data_db *db, const args *a) {
    if (a->npos != 2 || strcmp(a->pos[1], "stats") != 0) return usage_error("feedback stats [--since TIME]");
    int64_t since;
    if (!parse_time_opt(a->since, &since)) return usage_error("--since: bad time");
    rw_err err;
    data_feedback_stats st;
    if (data_feedback_stats_get(db, since, &st, &err) != RW_OK) return fail(&err);
    if (a->json) {
        json_t *ev = json_object();
        for (int k = 0; k < 5; k++)
            json_object_set_new(ev, data_feedback_kind_name((data_feedback_kind)k),
                                json_integer(st.events[k]));
        print_json(json_pack("{s:I,s:I,s:o,s:o,s:o,s:f}", "interactions", (json_int_t)st.interactions,
                             "retrieved", (json_int_t)st.retrieved, "events", ev, "first",
                             jtime(st.first_time), "last", jtime(st.last_time), "mean_latency_ms",
                             st.mean_latency_ms));
    } else {
        char f[32], l[32];
        tfmt(st.first_time, f);
        tfmt(st.last_time, l);
        printf("interactions      %lld (%s .. %s)\n", (long long)st.interactions, f, l);
        printf("retrieved docs    %lld\n", (long long)st.retrieved);
        printf("mean latency      %.1f ms\n", st.mean_latency_ms);
        for (int k = 0; k < 5; k++)
            printf("%-17s %lld\n", data_feedback_kind_name((data_feedback_kind)k), (long long)st.events[k]);
    }
    return 0;
}

/* A count option: digits only, 1..1000000 (atoi would read "abc" as 0 and "-5" as -5). */
static bool parse_count(const char *s, int *out) {
    char *end = NULL;
    if (!isdigit((unsigned char)*s)) return false;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 1 || v > 1000000) return false;
    *out = (int)v;
    return true;
}

static int cmd_mine(data_db *db, const args *a) {
    data_mine_kind kind;
    if (a->npos != 2 || !data_mine_kind_parse(a->pos[1], &kind) || !a->out || !a->manifest)
        return usage_error("mine triplets|sft|critic --out FILE --manifest FILE");
    data_mine_options o = {.default_source = a->default_source};
    if (!parse_time_opt(a->since, &o.since)) return usage_error("--since: bad time");
    if (a->min_evidence && !parse_count(a->min_evidence, &o.min_evidence))
        return usage_error("--min-evidence: expected an integer in 1..1000000");
    if (a->max_negatives && !parse_count(a->max_negatives, &o.max_negatives))
        return usage_error("--max-negatives: expected an integer in 1..1000000");
    rw_err err;
    data_manifest *m = NULL;
    char purpose[96];
    snprintf(purpose, sizeof purpose, "rag-admin mine %s", a->pos[1]);
    if (data_manifest_create(db, purpose, &m, &err) != RW_OK) return fail(&err);
    /* The dataset goes to a temp file and replaces --out only once it and its manifest are
     * complete: a failed run leaves the previous dataset (and manifest) as they were. */
    data_atomic_file out;
    if (data_atomic_open(&out, a->out, &err) != RW_OK) {
        data_manifest_destroy(m);
        return fail(&err);
    }
    int64_t n = 0;
    rw_status s = data_mine(db, kind, &o, m, out.f, &n, &err);
    if (s == RW_OK) s = data_manifest_write(m, a->manifest, &err);
    if (s == RW_OK)
        s = data_atomic_commit(&out, &err);
    else
        data_atomic_abort(&out);
    if (s != RW_OK) {
        data_manifest_destroy(m);
        return fail(&err);
    }
    char *js = NULL;
    if (data_manifest_json(m, &js, &err) == RW_OK) {
        if (a->json)
            puts(js);
        else {
            json_t *root = json_loads(js, 0, NULL), *rej = json_object_get(root, "rejected");
            printf("wrote %lld %s example(s) to %s; manifest %s\n", (long long)n, a->pos[1], a->out,
                   a->manifest);
            const char *k;
            json_t *v;
            json_object_foreach(rej, k, v) {
                if (json_integer_value(v)) printf("  dropped %-28s %lld\n", k, (long long)json_integer_value(v));
            }
            json_decref(root);
        }
    }
    rw_free(js);
    data_manifest_destroy(m);
    return 0;
}

static int run(data_db *db, const args *a) {
    const char *c = a->pos[0];
    rw_err err;
    if (strcmp(c, "adapters") == 0) return cmd_adapters(db, a);
    if (strcmp(c, "register") == 0) return cmd_register(db, a);
    if (strcmp(c, "promote") == 0) {
        if (a->npos != 2) return usage_error("promote ID [--reason TEXT]");
        if (data_registry_promote(db, a->pos[1], a->reason ? a->reason : "", &err) != RW_OK)
            return fail(&err);
        return simple_result(a, "promoted", a->pos[1], NULL);
    }
    if (strcmp(c, "reject") == 0) {
        if (a->npos != 2 || !a->reason) return usage_error("reject ID --reason TEXT");
        if (data_registry_reject(db, a->pos[1], a->reason, &err) != RW_OK) return fail(&err);
        return simple_result(a, "rejected", a->pos[1], NULL);
    }
    if (strcmp(c, "rollback") == 0) {
        if (a->npos != 2) return usage_error("rollback COMPONENT [--reason TEXT]");
        char *rid = NULL;
        if (data_registry_rollback(db, a->pos[1], a->reason ? a->reason : "", &rid, &err) != RW_OK)
            return fail(&err);
        char detail[256];
        snprintf(detail, sizeof detail, "restored %s", rid);
        rw_free(rid);
        return simple_result(a, "rolled back", a->pos[1], detail);
    }
    if (strcmp(c, "history") == 0) return cmd_history(db, a);
    if (strcmp(c, "export") == 0) {
        if (a->npos != 2 || !a->out) return usage_error("export ID --out PATH [--format gguf|peft]");
        data_export_format f = DATA_EXPORT_GGUF;
        if (a->format && strcmp(a->format, "peft") == 0)
            f = DATA_EXPORT_PEFT;
        else if (a->format && strcmp(a->format, "gguf") != 0)
            return usage_error("--format must be gguf or peft");
        if (data_registry_export(db, a->pos[1], f, a->out, &err) != RW_OK) return fail(&err);
        return simple_result(a, "exported", a->pos[1], a->out);
    }
    if (strcmp(c, "sources") == 0) return cmd_sources(db, a);
    if (strcmp(c, "source") == 0) {
        data_class cls;
        if (a->npos != 3 || strcmp(a->pos[1], "add") != 0 || !a->cls)
            return usage_error("source add ID --class CLASS [--description TEXT]");
        if (!data_class_parse(a->cls, &cls))
            return usage_error("--class must be public, community, personal or restricted");
        if (data_source_add(db, a->pos[2], cls, a->description, &err) != RW_OK) return fail(&err);
        return simple_result(a, "added source", a->pos[2], data_class_name(cls));
    }
    if (strcmp(c, "consent") == 0) {
        int64_t when = 0;
        if (a->npos != 2 || !a->who || !a->scope)
            return usage_error("consent SOURCE --who WHO --scope SCOPE [--ref REF] [--when TIME]");
        if (!parse_time_opt(a->when, &when)) return usage_error("--when: bad time");
        if (data_source_consent(db, a->pos[1], a->who, when, a->scope, a->ref, &err) != RW_OK)
            return fail(&err);
        return simple_result(a, "recorded consent for", a->pos[1], NULL);
    }
    if (strcmp(c, "withdraw") == 0) return cmd_withdraw(db, a);
    if (strcmp(c, "feedback") == 0) return cmd_feedback(db, a);
    if (strcmp(c, "mine") == 0) return cmd_mine(db, a);
    return usage_error("unknown command");
}

int main(int argc, char **argv) {
    data_json_alloc_init(); /* Jansson through rw_malloc (data/json_alloc.h) */
    args a;
    memset(&a, 0, sizeof a);
    if (parse_args(argc, argv, &a) != 0) return 2;
    if (a.help) {
        fputs(usage, stdout);
        return 0;
    }
    if (a.npos == 0) {
        fputs(usage, stderr);
        return 2;
    }
    data_db *db = NULL;
    rw_err err;
    if (data_db_open(data_db_default_path(a.db), &db, &err) != RW_OK) return fail(&err);
    int rc = run(db, &a);
    data_db_close(db);
    return rc;
}
