/* rag-train: train a LoRA adapter from a TOML recipe (train/trainer.h, docs/training.md).
 *
 *   rag-train --recipe persona.toml [--set section.key=value ...] [--resume] [--threads N]
 *             [--quiet] [--stop-after N]
 *
 * --threads N is applied as --set model.threads=N, so it is part of the recipe's identity
 * (the thread count fixes the reduction order, hence the bit-exact loss curve); resume with
 * the same value. --stop-after N stops after N steps as a kill would (for tests and demos).
 * Exit 0 on success, 1 on a failure (message on stderr), 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/status.h"
#include "data/json_alloc.h"
#include "train/recipe.h"
#include "train/trainer.h"

enum { MAX_SETS = 64 };

/* "key=value" with key a path key and value a relative path (bare or "quoted"): returns a
 * heap "key=\"<cwd>/value\"" (the recipe would resolve it against the recipe's folder);
 * NULL when s is left as is. *bad set when the path cannot be rewritten safely. */
static char *cwd_path_set(const char *s, bool *bad) {
    static const char *const keys[] = {"model.path", "data.train", "data.valid", "output.dir",
                                       "output.db"};
    *bad = false;
    const char *eq = strchr(s, '=');
    if (!eq) return NULL;
    size_t kl = (size_t)(eq - s);
    bool is_path = false;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strlen(keys[i]) == kl && !strncmp(s, keys[i], kl)) is_path = true;
    if (!is_path) return NULL;
    const char *v = eq + 1;
    size_t vl = strlen(v);
    if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
        v++;
        vl -= 2;
    }
    if (vl == 0 || v[0] == '/') return NULL;
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd) || strpbrk(cwd, "\"\\") || memchr(v, '\\', vl)) {
        *bad = true;
        return NULL;
    }
    size_t n = kl + strlen(cwd) + vl + 8;
    char *out = rw_malloc(n);
    if (!out) {
        *bad = true;
        return NULL;
    }
    snprintf(out, n, "%.*s=\"%s/%.*s\"", (int)kl, s, cwd, (int)vl, v);
    return out;
}

static void usage(FILE *f) {
    fprintf(f, "usage: rag-train --recipe FILE.toml [--set section.key=value ...] [--resume]\n"
               "                 [--threads N] [--quiet] [--stop-after N]\n"
               "Trains the adapter the recipe describes (see recipes/persona.toml and\n"
               "docs/training.md); outputs go to [output].dir.\n");
}

int main(int argc, char **argv) {
    data_json_alloc_init(); /* Jansson through rw_malloc (data/json_alloc.h) */
    const char *recipe = NULL;
    const char *sets[MAX_SETS + 1];
    char threads_set[64] = "";
    size_t n_sets = 0;
    train_run_opts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--recipe") && has_val) {
            recipe = argv[++i];
        } else if (!strcmp(a, "--set") && has_val) {
            if (n_sets == MAX_SETS) {
                fprintf(stderr, "rag-train: at most %d --set\n", MAX_SETS);
                return 2;
            }
            sets[n_sets++] = argv[++i];
        } else if (!strcmp(a, "--threads") && has_val) {
            char *end;
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 1 || t > 1024) {
                fprintf(stderr, "rag-train: --threads needs 1..1024, got '%s'\n", argv[i]);
                return 2;
            }
            snprintf(threads_set, sizeof threads_set, "model.threads=%ld", t);
            sets[MAX_SETS] = threads_set;
        } else if (!strcmp(a, "--stop-after") && has_val) {
            char *end;
            o.stop_after = strtoll(argv[++i], &end, 10);
            if (*end || o.stop_after < 1) {
                fprintf(stderr, "rag-train: --stop-after needs a positive count\n");
                return 2;
            }
        } else if (!strcmp(a, "--resume")) {
            o.resume = true;
        } else if (!strcmp(a, "--quiet")) {
            o.quiet = true;
        } else {
            fprintf(stderr, "rag-train: unknown or incomplete argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!recipe) {
        usage(stderr);
        return 2;
    }
    /* --threads goes last so it wins over any --set model.threads. */
    bool have_threads = threads_set[0] != 0 && sets[MAX_SETS] == threads_set;
    if (have_threads) sets[n_sets++] = threads_set;
    char *owned[MAX_SETS + 1] = {0};
    for (size_t i = 0; i < n_sets; i++) {
        bool bad;
        owned[i] = cwd_path_set(sets[i], &bad);
        if (bad) {
            fprintf(stderr, "rag-train: cannot make --set %s relative to the current directory; "
                            "give an absolute path\n", sets[i]);
            for (size_t k = 0; k < i; k++) rw_free(owned[k]);
            return 2;
        }
        if (owned[i]) sets[i] = owned[i];
    }
    if (o.quiet) rw_log_set_level(RW_LOG_WARN);
    o.progress = o.quiet ? NULL : stderr;

    train_recipe r;
    rw_err err;
    rw_err_clear(&err);
    rw_status lst = train_recipe_load(recipe, sets, n_sets, &r, &err);
    for (size_t i = 0; i < n_sets; i++) rw_free(owned[i]);
    if (lst != RW_OK) {
        fprintf(stderr, "rag-train: %s\n", err.msg);
        return 1;
    }
    train_run_result res;
    rw_status st = train_run(&r, &o, &res, &err);
    if (st != RW_OK) {
        fprintf(stderr, "rag-train: %s\n", err.msg);
        train_recipe_deinit(&r);
        return 1;
    }
    if (!o.quiet || res.finished) {
        printf("steps %lld/%lld%s", (long long)res.steps, (long long)res.total_steps,
               res.finished ? "" : " (stopped)");
        bool ran = res.tokens_per_s > 0; /* steps ran in this process */
        bool v0 = res.first_val_loss == res.first_val_loss, v1 = res.last_val_loss == res.last_val_loss;
        if (ran) printf(", loss %.4f", res.last_loss);
        if (v0 && v1) printf(", val loss %.4f -> %.4f", res.first_val_loss, res.last_val_loss);
        else if (v1) printf(", val loss %.4f", res.last_val_loss);
        if (ran) printf(", %.0f tokens/s", res.tokens_per_s);
        printf("\n");
        if (res.adapter_path[0]) printf("%s: %s\n", r.full ? "model" : "adapter", res.adapter_path);
        if (res.adapter_id[0]) printf("registered: %s (candidate, %s)\n", res.adapter_id, r.component);
    }
    train_recipe_deinit(&r);
    return 0;
}
