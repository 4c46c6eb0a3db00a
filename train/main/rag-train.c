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

#include "core/log.h"
#include "core/status.h"
#include "train/recipe.h"
#include "train/trainer.h"

enum { MAX_SETS = 64 };

static void usage(FILE *f) {
    fprintf(f, "usage: rag-train --recipe FILE.toml [--set section.key=value ...] [--resume]\n"
               "                 [--threads N] [--quiet] [--stop-after N]\n"
               "Trains the adapter the recipe describes (see recipes/persona.toml and\n"
               "docs/training.md); outputs go to [output].dir.\n");
}

int main(int argc, char **argv) {
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
    if (o.quiet) rw_log_set_level(RW_LOG_WARN);
    o.progress = o.quiet ? NULL : stderr;

    train_recipe r;
    rw_err err;
    rw_err_clear(&err);
    if (train_recipe_load(recipe, sets, n_sets, &r, &err) != RW_OK) {
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
