/* The SFT training loop (train/trainer.h explains the step, the cursor and determinism).
 *
 * Invariants: the parameter block changes only in train_adamw_step; the gradient block is
 * zero at the start of every step; a checkpoint is written only after a step whose loss and
 * gradients were finite; metrics lines are flushed before the checkpoint that records their
 * offset; the LoRA dropout mask RNG advances only in training steps (validation and the
 * arena-sizing trial step leave it as it was), and it is saved in checkpoints. */
#include "train/trainer.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/assert.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/rng.h"
#include "core/tape.h"
#include "data/db.h"
#include "data/governance.h"
#include "data/registry.h"
#include "data/sha256.h"
#include "infer/chat_template.h"
#include "infer/model.h"
#include "infer/tokenizer.h"
#include "kernels/blas.h"
#include "train/adapter_io.h"
#include "train/autograd.h"
#include "train/checkpoint.h"
#include "train/io_util.h"
#include "train/lora.h"
#include "train/metrics_log.h"
#include "train/optim.h"
#include "train/packed.h"
#include "train/sft_data.h"

enum { TRAIN_MAX_BATCH = 1024 }; /* rows per micro-batch (recipe.c caps batch lower) */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Everything one run holds. */
typedef struct run {
    const train_recipe *r;
    infer_model *m;
    infer_tokenizer *tok;
    data_db *db;
    data_manifest *man;
    train_sft_set train, valid;
    train_lora *lora;
    train_adamw opt;
    bool opt_ok;
    rw_pool *pool;
    int threads;
    rw_arena arena;
    bool arena_ok;
    rw_tape tape;
    int32_t *targets; /* [batch * max_seq] */
    int32_t *ids;     /* [batch * max_seq] packed micro-batch */
    int32_t *lens;    /* [batch] */
    bool packed;      /* train_packed_supported(m): one forward per micro-batch */
    train_metrics *metrics;
    char base_sha[DATA_SHA256_HEX];
    char *ckpt_path, *metrics_path;
    /* cursor */
    int64_t epoch, position;
    uint32_t *order; /* [n_rows] order of the current epoch */
    int64_t order_epoch;
    rw_rng rng;
} run;

/* Order of epoch e: identity shuffled by an RNG seeded from (seed, e). */
static void epoch_order(run *R, int64_t e) {
    size_t n = R->train.n_rows;
    for (size_t i = 0; i < n; i++) R->order[i] = (uint32_t)i;
    rw_rng g;
    rw_rng_seed(&g, R->r->seed * UINT64_C(0x9E3779B97F4A7C15) + (uint64_t)e + 1);
    rw_rng_shuffle_u32(&g, R->order, (uint32_t)n);
    R->order_epoch = e;
}

/* Next row index from the cursor. */
static uint32_t next_row(run *R) {
    if (R->order_epoch != R->epoch) epoch_order(R, R->epoch);
    uint32_t idx = R->order[R->position];
    if (++R->position == (int64_t)R->train.n_rows) {
        R->position = 0;
        R->epoch++;
    }
    return idx;
}

/* Forward (+ backward seeded with `scale` when grad) of one row; *loss gets the row's mean
 * masked cross-entropy. */
static rw_status row_step(run *R, const train_sft_row *row, bool grad, float scale, double *loss,
                          rw_err *err) {
    rw_arena_reset(&R->arena);
    rw_tape_clear(&R->tape);
    infer_ctx ctx;
    infer_ctx_init(&ctx, &R->arena, R->pool, grad ? &R->tape : NULL);
    ctx.f32_activations = true;
    train_sft_targets(row, R->targets);
    rw_tensor *logits = grad && R->r->checkpointing
                            ? train_decoder_forward_ckpt(&ctx, R->m, row->ids, row->n)
                            : infer_decoder_forward(&ctx, R->m, NULL, row->ids, row->n, true);
    rw_tensor *l = infer_op_cross_entropy(&ctx, logits, R->targets);
    if (!l) return infer_ctx_error(&ctx, err);
    *loss = (double)((float *)l->data)[0];
    if (grad) return train_backward(&ctx, l, NULL, scale, err);
    return RW_OK;
}

/* A micro-batch of n <= batch rows: *loss gets its token-weighted mean masked cross-entropy
 * and, when grad, the gradient of scale * that loss is accumulated. Packed (train/packed.h):
 * one forward of sum(n_i) tokens, attention confined to each row, positions restarting per
 * row; otherwise (sliding-window models) one forward per row, row b's backward seeded with
 * scale * n_target_b / n_target. The two agree to float rounding
 * (tests/train_io/test_packed.c). */
static rw_status batch_step(run *R, const train_sft_row *const *rows, size_t n, bool grad,
                            float scale, double *loss, rw_err *err) {
    int64_t n_tgt = 0;
    for (size_t i = 0; i < n; i++) n_tgt += rows[i]->n_target;
    if (!R->packed || n == 1) {
        double sum = 0;
        for (size_t i = 0; i < n; i++) {
            double w = (double)rows[i]->n_target / (double)n_tgt, l = 0;
            rw_status st = row_step(R, rows[i], grad, (float)((double)scale * w), &l, err);
            if (st) return st;
            sum += l * w;
        }
        *loss = sum;
        return RW_OK;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(R->ids + off, rows[i]->ids, (size_t)rows[i]->n * sizeof(int32_t));
        train_sft_targets(rows[i], R->targets + off);
        R->lens[i] = rows[i]->n;
        off += (size_t)rows[i]->n;
    }
    rw_arena_reset(&R->arena);
    rw_tape_clear(&R->tape);
    infer_ctx ctx;
    infer_ctx_init(&ctx, &R->arena, R->pool, grad ? &R->tape : NULL);
    ctx.f32_activations = true;
    rw_tensor *logits = train_decoder_forward_packed(&ctx, R->m, R->ids, R->lens, (int64_t)n,
                                                     grad && R->r->checkpointing);
    rw_tensor *l = infer_op_cross_entropy(&ctx, logits, R->targets);
    if (!l) return infer_ctx_error(&ctx, err);
    *loss = (double)((float *)l->data)[0];
    if (grad) return train_backward(&ctx, l, NULL, scale, err);
    return RW_OK;
}

/* Sizes the step arena: runs forward+backward on the longest row, doubling the arena until
 * it fits, then zeroes the gradients (parameters, moments and RNG are untouched). */
static rw_status size_arena(run *R, rw_err *err) {
    /* the micro-batch of the longest rows (packed), or the longest row */
    size_t nb = R->packed ? (size_t)R->r->batch : 1;
    if (nb > R->train.n_rows) nb = R->train.n_rows;
    const train_sft_row *longest[TRAIN_MAX_BATCH];
    RW_ASSERT(nb <= TRAIN_MAX_BATCH, "batch %zu above %d", nb, TRAIN_MAX_BATCH);
    for (size_t k = 0; k < nb; k++) longest[k] = NULL;
    for (size_t i = 0; i < R->train.n_rows; i++) {
        const train_sft_row *c = &R->train.rows[i];
        for (size_t k = 0; k < nb; k++)
            if (!longest[k] || c->n > longest[k]->n) {
                const train_sft_row *t = longest[k];
                longest[k] = c;
                c = t;
                if (!c) break;
            }
    }
    int64_t tok = 0;
    for (size_t k = 0; k < nb; k++) tok += longest[k]->n;
    size_t cap = infer_model_arena_bytes(R->m, tok, longest[0]->n, R->threads, true) * 4 + (16u << 20);
    for (int tries = 0; tries < 12; tries++) {
        rw_status st = rw_arena_init(&R->arena, cap, err);
        if (st) return st;
        R->arena_ok = true;
        double loss;
        rw_err e2;
        /* the trial step must not advance the dropout mask stream (a resumed run sizes its
         * arena too, after restoring that stream from the checkpoint) */
        rw_rng drop_save = *train_lora_dropout_rng(R->lora);
        st = batch_step(R, longest, nb, true, 1.0f, &loss, &e2);
        *train_lora_dropout_rng(R->lora) = drop_save;
        train_lora_zero_grad(R->lora);
        if (st == RW_OK) {
            RW_LOGD("step arena: %zu MiB", cap >> 20);
            return RW_OK;
        }
        rw_arena_deinit(&R->arena);
        R->arena_ok = false;
        if (st != RW_E_NOMEM) {
            if (err) *err = e2;
            return st;
        }
        cap *= 2;
    }
    return rw_err_set(err, RW_E_NOMEM, "step arena: a %" PRId64 "-token micro-batch does not "
                      "fit in %zu MiB", tok, cap >> 20);
}

/* Token-weighted mean validation loss. */
static rw_status eval_loss(run *R, double *out, rw_err *err) {
    size_t n = R->valid.n_rows;
    if (R->r->eval_batches > 0) {
        size_t lim = (size_t)R->r->eval_batches * (size_t)R->r->batch;
        if (lim < n) n = lim;
    }
    double sum = 0;
    int64_t tok = 0;
    rw_status st = RW_OK;
    /* Evaluation sees the adapter without dropout, and draws nothing from the mask RNG (so
     * the training masks do not depend on eval_every). */
    train_lora_set_dropout(R->lora, false);
    const train_sft_row *mb[TRAIN_MAX_BATCH];
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        int64_t t = 0;
        for (; k < (size_t)R->r->batch && i < n; k++, i++) {
            mb[k] = &R->valid.rows[i];
            t += mb[k]->n_target;
        }
        double l;
        if ((st = batch_step(R, mb, k, false, 0.0f, &l, err))) break;
        sum += l * (double)t;
        tok += t;
    }
    train_lora_set_dropout(R->lora, true);
    if (st) return st;
    *out = tok ? sum / (double)tok : (double)NAN;
    return RW_OK;
}

static rw_status write_ckpt(run *R, int64_t step, int64_t tokens_seen, double elapsed, rw_err *err) {
    train_ckpt c;
    memset(&c, 0, sizeof c);
    c.step = step;
    c.adam_t = R->opt.t;
    memcpy(c.rng, R->rng.s, sizeof c.rng);
    memcpy(c.dropout_rng, train_lora_dropout_rng(R->lora)->s, sizeof c.dropout_rng);
    c.epoch = R->epoch;
    c.position = R->position;
    c.shuffle_seed = R->r->seed;
    c.tokens_seen = tokens_seen;
    c.threads = R->threads;
    c.elapsed_s = elapsed;
    memcpy(c.recipe_sha256, R->r->sha256, DATA_SHA256_HEX);
    memcpy(c.base_sha256, R->base_sha, DATA_SHA256_HEX);
    c.n_params = train_lora_n_params(R->lora);
    c.params = train_lora_params(R->lora);
    c.adam_m = R->opt.m;
    c.adam_v = R->opt.v;
    rw_status st = train_metrics_sync(R->metrics, &c.metrics_offset, err);
    if (st) return st;
    return train_ckpt_write(R->ckpt_path, &c, err);
}

static void run_free(run *R) {
    train_metrics_close(R->metrics);
    rw_free(R->targets);
    rw_free(R->ids);
    rw_free(R->lens);
    rw_free(R->order);
    if (R->arena_ok) rw_arena_deinit(&R->arena);
    rw_tape_deinit(&R->tape);
    if (R->opt_ok) train_adamw_deinit(&R->opt);
    train_lora_destroy(R->lora);
    train_sft_set_deinit(&R->train);
    train_sft_set_deinit(&R->valid);
    data_manifest_destroy(R->man);
    data_db_close(R->db);
    infer_tokenizer_destroy(R->tok);
    infer_model_destroy(R->m);
    rw_pool_destroy(R->pool);
    rw_free(R->ckpt_path);
    rw_free(R->metrics_path);
}

/* Loads model, tokenizer, template, database, manifest and both data sets. */
static rw_status setup(run *R, const train_run_opts *o, rw_err *err) {
    const train_recipe *r = R->r;
    rw_status st;
    if (r->full && (r->do_register || r->fmt_peft))
        return rw_err_set(err, RW_E_UNSUPPORTED,
                          "%s: [adapter] full = true writes a whole model, not an adapter: set "
                          "output.register = false and output.formats = [\"gguf\"]",
                          r->recipe_path);
    if ((st = data_sha256_file(r->model_path, R->base_sha, err))) return st;
    if ((st = infer_model_load(r->model_path, &R->m, err))) return st;
    if (!R->m->hp.causal)
        return rw_err_set(err, RW_E_UNSUPPORTED, "%s: SFT needs a decoder model, %s is an encoder",
                          r->model_path, R->m->arch_name);
    if ((st = infer_tokenizer_from_gguf(R->m->gguf, &R->tok, err))) return rw_err_prefix(err, "%s: ", r->model_path);
    infer_chat_tmpl tmpl = INFER_CHAT_NONE;
    if (!strcmp(r->chat_template, "auto")) {
        rw_err e2;
        if (infer_chat_tmpl_from_gguf(R->m->gguf, &tmpl, &e2) != RW_OK) {
            tmpl = INFER_CHAT_NONE;
            if (!o->quiet) RW_LOGI("no chat template recognised in the model (%s)", e2.msg);
        }
    } else if ((tmpl = infer_chat_tmpl_from_name(r->chat_template)) == INFER_CHAT_NONE) {
        return rw_err_set(err, RW_E_INVALID, "%s: unknown [model].chat_template '%s'",
                          r->recipe_path, r->chat_template);
    }
    const char *dbp = r->db_path ? r->db_path : data_db_default_path(NULL);
    if ((st = data_db_open(dbp, &R->db, err))) return st;
    char purpose[256];
    snprintf(purpose, sizeof purpose, "persona %s (rag-train %s)", r->name, r->recipe_path);
    if ((st = data_manifest_create(R->db, purpose, &R->man, err))) return st;
    train_sft_opts so = {.tok = R->tok, .tmpl = tmpl, .format = r->format, .on_error = r->on_error,
                         .default_source = r->source, .max_seq = r->max_seq,
                         .packing = r->packing, .manifest = R->man};
    if ((st = train_sft_load(r->train_path, &so, &R->train, err))) return st;
    if (r->valid_path && (st = train_sft_load(r->valid_path, &so, &R->valid, err))) return st;
    if (R->train.n_rows == 0)
        return rw_err_set(err, RW_E_INVALID,
                          "%s: no trainable examples (%zu skipped lines, %zu refused by governance "
                          "- register their source with `rag-admin source add` -, %zu without an "
                          "assistant token)",
                          r->train_path, R->train.n_lines_skipped, R->train.n_rejected,
                          R->train.n_no_target);
    if (R->train.n_rows > UINT32_MAX) return rw_err_set(err, RW_E_RANGE, "too many rows");
    if (!o->quiet)
        RW_LOGI("data: %zu train rows (%" PRId64 " tokens, %" PRId64 " with loss), %zu validation "
                "rows; %zu lines skipped, %zu refused by governance, %zu truncated",
                R->train.n_rows, R->train.n_tokens, R->train.n_targets, R->valid.n_rows,
                R->train.n_lines_skipped + R->valid.n_lines_skipped,
                R->train.n_rejected + R->valid.n_rejected, R->train.n_truncated + R->valid.n_truncated);
    return RW_OK;
}

/* Full training: a copy of the base GGUF (metadata and untouched tensors as they are) with
 * every trained tensor stored as f32 from the parameter block. */
static rw_status write_full_model(run *R, const char *path, const char *manifest, rw_err *err) {
    infer_gguf *g = R->m->gguf;
    infer_gguf_writer *w = NULL;
    rw_status st = infer_gguf_writer_create(&w, err);
    if (st) return st;
    if ((st = infer_gguf_writer_copy_kv(w, g, "", err)) ||
        (st = infer_gguf_writer_set_str(w, "rag_workbench.manifest", manifest, err)) ||
        (st = infer_gguf_writer_set_str(w, "rag_workbench.recipe_sha256", R->r->sha256, err)) ||
        (st = infer_gguf_writer_set_str(w, "rag_workbench.base_sha256", R->base_sha, err)))
        goto out;
    for (uint64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
        const infer_gguf_tensor_info *ti = infer_gguf_tensor_info_at(g, i);
        const rw_tensor *trained = NULL;
        for (size_t k = 0; k < train_lora_n_full(R->lora); k++) {
            const rw_tensor *t = train_lora_full_at(R->lora, k);
            if (t->name && !strcmp(t->name, ti->name)) trained = t;
        }
        rw_tensor view;
        if ((st = infer_gguf_tensor_at(g, i, &view))) goto out;
        st = trained ? infer_gguf_writer_add_tensor(w, ti->name, RW_DTYPE_F32, ti->n_dims, ti->ne,
                                                    trained->data, err)
                     : infer_gguf_writer_add_tensor(w, ti->name, ti->type, ti->n_dims, ti->ne,
                                                    view.data, err);
        if (st) goto out;
    }
    st = infer_gguf_writer_write(w, path, err);
out:
    infer_gguf_writer_destroy(w);
    return st;
}

/* Adapter outputs, manifest and registration after the last step. */
static rw_status finish(run *R, train_run_result *res, double first_val, double last_val,
                        double tok_s, int64_t steps, rw_err *err) {
    const train_recipe *r = R->r;
    rw_status st = RW_OK;
    char *man_json = NULL, *gguf_path = NULL, *man_path = NULL, *peft_dir = NULL, *tmp_name = NULL;
    train_adapter ad;
    memset(&ad, 0, sizeof ad);
    if ((st = data_manifest_json(R->man, &man_json, err))) goto out;
    man_path = train_io_join(r->out_dir, "manifest.json");
    size_t nl = strlen(r->name) + 16;
    tmp_name = rw_malloc(nl);
    if (!man_path || !tmp_name) goto nomem;
    if ((st = data_manifest_write(R->man, man_path, err))) goto out;
    if (r->full) {
        snprintf(tmp_name, nl, "%s-full.gguf", r->name);
        if (!(gguf_path = train_io_join(r->out_dir, tmp_name))) goto nomem;
        if ((st = write_full_model(R, gguf_path, man_json, err))) goto out;
        if (res) snprintf(res->adapter_path, sizeof res->adapter_path, "%s", gguf_path);
        goto out;
    }
    if ((st = train_adapter_from_lora(R->lora, R->m, r->rslora, &ad, err))) goto out;
    ad.dropout = (float)r->dropout;
    snprintf(tmp_name, nl, "%s.gguf", r->name);
    if (!(gguf_path = train_io_join(r->out_dir, tmp_name))) goto nomem;
    if (r->fmt_gguf || r->do_register) {
        train_adapter_meta meta = {.name = r->name, .manifest_json = man_json,
                                   .recipe_sha256 = r->sha256, .base_sha256 = R->base_sha};
        if ((st = train_adapter_write_gguf(&ad, gguf_path, r->out_f16, &meta, err))) goto out;
        if (res) snprintf(res->adapter_path, sizeof res->adapter_path, "%s", gguf_path);
    }
    if (r->fmt_peft) {
        snprintf(tmp_name, nl, "%s-peft", r->name);
        if (!(peft_dir = train_io_join(r->out_dir, tmp_name))) goto nomem;
        const char *bm = strrchr(r->model_path, '/');
        if ((st = train_adapter_write_peft(&ad, peft_dir, bm ? bm + 1 : r->model_path, err))) goto out;
    }
    if (r->do_register) {
        char ad_sha[DATA_SHA256_HEX], version[40], id[160], metrics[512];
        if ((st = data_sha256_file(gguf_path, ad_sha, err))) goto out;
        snprintf(version, sizeof version, "%.12s", ad_sha);
        snprintf(id, sizeof id, "%s-%s", r->name, version);
        snprintf(metrics, sizeof metrics,
                 "{\"steps\":%" PRId64 ",\"val_loss_start\":%.9g,\"val_loss_end\":%.9g,"
                 "\"tokens_per_s\":%.1f,\"recipe_sha256\":\"%s\"}",
                 steps, isfinite(first_val) ? first_val : -1.0, isfinite(last_val) ? last_val : -1.0,
                 tok_s, r->sha256);
        data_adapter_new an = {.id = id, .component = r->component, .version = version,
                               .path = gguf_path, .base_sha256 = R->base_sha,
                               .manifest_json = man_json, .metrics_json = metrics};
        rw_err e2;
        st = data_registry_register(R->db, &an, &e2);
        if (st == RW_E_STATE) {
            RW_LOGW("registry: %s (already registered)", e2.msg);
            st = RW_OK;
        } else if (st) {
            if (err) *err = e2;
            goto out;
        }
        if (res) snprintf(res->adapter_id, sizeof res->adapter_id, "%s", id);
    }
    goto out;
nomem:
    st = rw_err_set(err, RW_E_NOMEM, "out of memory writing outputs");
out:
    train_adapter_deinit(&ad);
    rw_free(man_json);
    rw_free(gguf_path);
    rw_free(man_path);
    rw_free(peft_dir);
    rw_free(tmp_name);
    return st;
}

rw_status train_run(const train_recipe *r, const train_run_opts *o, train_run_result *res,
                    rw_err *err) {
    static const train_run_opts k_defaults = {0};
    if (!o) o = &k_defaults;
    run R;
    memset(&R, 0, sizeof R);
    R.r = r;
    rw_tape_init(&R.tape);
    rw_status st;
    train_ckpt ck;
    memset(&ck, 0, sizeof ck);
    train_run_result out;
    memset(&out, 0, sizeof out);
    out.first_val_loss = out.last_val_loss = (double)NAN;

    R.threads = r->threads > 0 ? r->threads : rw_cpu_physical_cores();
    if (R.threads > 1 && (st = rw_pool_create(R.threads, &R.pool, err))) goto fail;
    kern_blas_set_threads(R.threads);
    if ((st = train_io_mkdirs(r->out_dir, err))) goto fail;
    R.ckpt_path = train_io_join(r->out_dir, "checkpoint.h5");
    R.metrics_path = train_io_join(r->out_dir, "metrics.jsonl");
    if (!R.ckpt_path || !R.metrics_path) goto nomem;
    struct stat sb;
    bool have_ckpt = stat(R.ckpt_path, &sb) == 0;
    if (have_ckpt && !o->resume) {
        st = rw_err_set(err, RW_E_STATE,
                        "%s exists: pass --resume to continue that run, or choose another "
                        "[output].dir (--set output.dir=...)",
                        R.ckpt_path);
        goto fail;
    }
    if (have_ckpt && (st = train_ckpt_read(R.ckpt_path, &ck, err))) goto fail;

    if ((st = setup(&R, o, err))) goto fail;
    train_lora_cfg lc;
    train_lora_cfg_default(&lc);
    char csv[160];
    lc.targets = train_recipe_targets_csv(r, csv, sizeof csv);
    lc.layer_first = r->layer_first;
    lc.layer_last = r->layer_last;
    lc.rank = r->rank;
    lc.alpha = (float)r->alpha;
    lc.rslora = r->rslora;
    lc.dropout = (float)r->dropout;
    lc.seed = r->seed;
    char *full_names = NULL;
    if (r->full) {
        /* exact weight names of the selected layers and targets (substring match in
         * train/lora.h: "blk.1.attn_q.weight" is not inside "blk.11.attn_q.weight") */
        int64_t last = r->layer_last < 0 ? R.m->hp.n_layer - 1 : r->layer_last;
        size_t cap = (size_t)(last - r->layer_first + 1) * TRAIN_T_COUNT * 40 + 1;
        if (!(full_names = rw_calloc(cap, 1))) goto nomem;
        size_t n = 0;
        for (int64_t il = r->layer_first; il <= last; il++)
            for (int t = 0; t < TRAIN_T_COUNT; t++) {
                if (!(r->targets & (1u << t))) continue;
                char nm[64];
                snprintf(nm, sizeof nm, "blk.%lld.%s.weight", (long long)il,
                         train_target_name((train_target)t));
                if (!infer_model_linear(R.m, nm)) continue;
                n += (size_t)snprintf(full_names + n, cap - n, "%s%s", n ? "," : "", nm);
            }
        lc.targets = "";
        lc.full_targets = full_names;
    }
    st = train_lora_create(R.m, &lc, &R.lora, err);
    rw_free(full_names);
    if (st) {
        rw_err_prefix(err, "%s: [adapter]: ", r->recipe_path);
        goto fail;
    }
    size_t np = train_lora_n_params(R.lora);
    train_adamw_cfg ac;
    train_adamw_cfg_default(&ac);
    ac.weight_decay = r->weight_decay;
    if ((st = train_adamw_init(&R.opt, np, &ac, err))) goto fail;
    R.opt_ok = true;
    if ((size_t)r->batch > TRAIN_MAX_BATCH) {
        st = rw_err_set(err, RW_E_RANGE, "%s: [train] batch %d above %d", r->recipe_path,
                        (int)r->batch, TRAIN_MAX_BATCH);
        goto fail;
    }
    R.packed = train_packed_supported(R.m);
    R.targets = rw_alloc_array((size_t)r->max_seq * (size_t)r->batch, sizeof(int32_t));
    R.ids = rw_alloc_array((size_t)r->max_seq * (size_t)r->batch, sizeof(int32_t));
    R.lens = rw_alloc_array((size_t)r->batch, sizeof(int32_t));
    if (!R.ids || !R.lens) goto nomem;
    R.order = rw_alloc_array(R.train.n_rows, sizeof(uint32_t));
    if (!R.targets || !R.order) goto nomem;
    R.order_epoch = -1;
    rw_rng_seed(&R.rng, r->seed);

    int64_t rows_per_step = (int64_t)r->batch * r->grad_accum;
    int64_t total = r->steps;
    if (total == 0)
        total = r->epochs * (((int64_t)R.train.n_rows + rows_per_step - 1) / rows_per_step);
    train_sched sched = {.kind = r->schedule, .lr = (float)r->lr,
                         .min_lr = (float)(r->lr * r->min_lr_ratio),
                         .warmup_steps = r->warmup < total ? r->warmup : total, .total_steps = total};
    int64_t step = 0, tokens_seen = 0;
    double elapsed_before = 0;
    uint64_t keep = 0;
    if (have_ckpt) {
        if ((st = train_ckpt_check(&ck, R.ckpt_path, r->sha256, R.base_sha, np, R.threads, err))) goto fail;
        if (ck.step > total) {
            st = rw_err_set(err, RW_E_STATE, "%s: checkpoint is at step %" PRId64 " past the "
                            "recipe's %" PRId64 " steps", R.ckpt_path, ck.step, total);
            goto fail;
        }
        if (ck.position < 0 || ck.position >= (int64_t)R.train.n_rows) {
            st = rw_err_set(err, RW_E_STATE, "%s: data cursor %" PRId64 " is outside the %zu rows "
                            "(did the data change?)", R.ckpt_path, ck.position, R.train.n_rows);
            goto fail;
        }
        memcpy(train_lora_params(R.lora), ck.params, np * sizeof(float));
        memcpy(R.opt.m, ck.adam_m, np * sizeof(float));
        memcpy(R.opt.v, ck.adam_v, np * sizeof(float));
        R.opt.t = ck.adam_t;
        memcpy(R.rng.s, ck.rng, sizeof ck.rng);
        memcpy(train_lora_dropout_rng(R.lora)->s, ck.dropout_rng, sizeof ck.dropout_rng);
        R.epoch = ck.epoch;
        R.position = ck.position;
        step = ck.step;
        tokens_seen = ck.tokens_seen;
        elapsed_before = ck.elapsed_s;
        keep = ck.metrics_offset;
        out.resumed = true;
        out.resumed_from = step;
        if (!o->quiet) RW_LOGI("resuming %s at step %" PRId64 "/%" PRId64, R.ckpt_path, step, total);
    }
    train_ckpt_deinit(&ck);
    if ((st = train_metrics_open(R.metrics_path, keep, &R.metrics, err))) goto fail;
    if ((st = size_arena(&R, err))) goto fail;

    bool have_val = R.valid.n_rows > 0;
    double val = (double)NAN;
    if (have_val && step == 0) {
        if ((st = eval_loss(&R, &val, err))) goto fail;
        out.first_val_loss = val;
        train_metrics_rec mr = {.step = 0, .has_val = true, .val_loss = val};
        if ((st = train_metrics_write(R.metrics, &mr, err))) goto fail;
    }
    if (!o->quiet)
        RW_LOGI("training %zu LoRA parameters (%zu pairs, rank %d) for %" PRId64 " steps, %d threads",
                np, train_lora_n_pairs(R.lora), r->rank, total, R.threads);

    bool progress_tty = o->progress && isatty(fileno(o->progress));
    uint32_t *rows = rw_alloc_array((size_t)rows_per_step, sizeof(uint32_t));
    if (!rows) goto nomem;
    double t0 = now_s(), compute_s = 0;
    int64_t tok_this_process = 0, steps_this_process = 0;
    float *grads = train_lora_grads(R.lora), *params = train_lora_params(R.lora);
    while (step < total) {
        double ts = now_s();
        int64_t n_tgt = 0, n_tok = 0;
        for (int64_t i = 0; i < rows_per_step; i++) {
            rows[i] = next_row(&R);
            n_tgt += R.train.rows[rows[i]].n_target;
            n_tok += R.train.rows[rows[i]].n;
        }
        double loss = 0;
        for (int64_t a = 0; a < r->grad_accum; a++) {
            const train_sft_row *mb[TRAIN_MAX_BATCH];
            int64_t t = 0;
            for (int64_t k = 0; k < r->batch; k++) {
                mb[k] = &R.train.rows[rows[a * r->batch + k]];
                t += mb[k]->n_target;
            }
            float w = (float)((double)t / (double)n_tgt);
            double l;
            if ((st = batch_step(&R, mb, (size_t)r->batch, true, w, &l, err))) {
                rw_err_prefix(err, "step %" PRId64 ": ", step + 1);
                goto fail_rows;
            }
            loss += l * (double)w;
        }
        if ((st = train_check_loss((float)loss, step + 1, err)) ||
            (st = train_check_finite(grads, np, "gradient", err))) {
            rw_err_prefix(err, "%s: training stopped (last good checkpoint kept%s): ",
                          r->recipe_path, keep || step ? "" : ": none yet");
            goto fail_rows;
        }
        double gnorm = r->clip > 0 ? train_clip_grad_norm(grads, np, r->clip)
                                   : train_grad_norm(grads, np);
        float lr = train_sched_lr(&sched, step);
        train_adamw_step(&R.opt, params, grads, lr);
        train_lora_zero_grad(R.lora);
        step++;
        steps_this_process++;
        tokens_seen += n_tok;
        tok_this_process += n_tok;
        compute_s += now_s() - ts;
        double tok_s = compute_s > 0 ? (double)tok_this_process / compute_s : 0;
        out.last_loss = loss;
        bool eval_now = have_val && ((r->eval_every > 0 && step % r->eval_every == 0) || step == total);
        if (eval_now) {
            if ((st = eval_loss(&R, &val, err))) goto fail_rows;
        }
        if (r->log_every <= 1 || step % r->log_every == 0 || eval_now || step == total) {
            train_metrics_rec mr = {.step = step, .has_train = true, .loss = loss, .lr = (double)lr,
                                    .grad_norm = gnorm, .tokens = n_tok, .tokens_per_s = tok_s,
                                    .elapsed_s = elapsed_before + (now_s() - t0),
                                    .has_val = eval_now, .val_loss = val};
            if ((st = train_metrics_write(R.metrics, &mr, err))) goto fail_rows;
        }
        train_progress(o->progress, step, total, loss, have_val ? val : -1.0, (double)lr, tok_s,
                       now_s() - t0, step == total);
        /* off a terminal (scripts, CI logs) the \r progress line is not drawn: log a line at
         * every validation and at the end instead */
        if (!o->quiet && !progress_tty && (eval_now || step == total)) {
            char vbuf[40] = "";
            if (eval_now) snprintf(vbuf, sizeof vbuf, " val_loss %.4f", val);
            RW_LOGI("step %" PRId64 "/%" PRId64 " loss %.4f%s lr %.2e %.0f tok/s", step, total,
                    loss, vbuf, (double)lr, tok_s);
        }
        if ((r->checkpoint_every > 0 && step % r->checkpoint_every == 0) || step == total) {
            if ((st = write_ckpt(&R, step, tokens_seen, elapsed_before + (now_s() - t0), err)))
                goto fail_rows;
        }
        if (o->stop_after > 0 && steps_this_process >= o->stop_after && step < total) break;
    }
    rw_free(rows);
    out.steps = step;
    out.total_steps = total;
    out.tokens_per_s = compute_s > 0 ? (double)tok_this_process / compute_s : 0;
    out.train_rows = (int64_t)R.train.n_rows;
    out.valid_rows = (int64_t)R.valid.n_rows;
    if (step == total) {
        out.finished = true;
        /* resumed from the final checkpoint: no step ran, evaluate once more */
        if (have_val && isnan(val) && (st = eval_loss(&R, &val, err))) goto fail;
        out.last_val_loss = val;
        if ((st = finish(&R, &out, out.first_val_loss, val, out.tokens_per_s, step, err))) goto fail;
    }
    run_free(&R);
    if (res) *res = out;
    return RW_OK;
fail_rows:
    rw_free(rows);
    goto fail;
nomem:
    st = rw_err_set(err, RW_E_NOMEM, "out of memory setting up the run");
fail:
    train_ckpt_deinit(&ck);
    run_free(&R);
    return st;
}
