/* bench-train: one LoRA SFT step (batch 4 x seq 256, rank 16, alpha 32 on the 7 targets
 * attn_q attn_k attn_v attn_output ffn_gate ffn_up ffn_down of every layer; masked
 * cross-entropy on every token; global-norm clip; AdamW) on the `rag-gguf new --arch llama
 * --preset bench` decoder (hidden 768, 12 layers, 12 heads, 4 KV heads, FFN 2048, vocab
 * 32000), as PyTorch was measured in /work/shared/notes/machine-limits-and-pytorch.md.
 *
 *   env -u OPENBLAS_CORETYPE build/gcc/bin/bench-train [--json] [--quick] [--threads N]
 *        [--models DIR] [--steps N]
 *
 * Configurations: base F16 and Q4_K_M x threads 1 and N (default 2) x gradient
 * checkpointing off/on. Each runs in its own child process (this program re-executed with
 * --child) so its peak RSS (getrusage ru_maxrss) is its own. The models are created with
 * `rag-gguf new` (+ `rag-gguf quantize`) next to this executable's rag-gguf, in --models DIR
 * (default /tmp/bench-train-models), or reused when already there. With
 * /work/shared/refs/vocab/ggml-vocab-llama-spm.gguf present the model takes that 32000-token
 * vocabulary (--vocab); otherwise the embedded default vocabulary (noted in the output).
 * Token ids are random (seeded): speed does not depend on the text.
 *
 * FLOPs counted per step (T = tokens of the step, t = 256 tokens per sequence, C hidden,
 * L layers, P = weights of every linear layer incl. the output head, r rank):
 *   frozen linears:  forward 2*P*T, backward 2*P*T (input gradients only: no weight grads)
 *   attention:       forward 4*t^2*C*L per sequence (QK^T and PV, full square as PyTorch
 *                    computes it), backward 2x forward
 *   LoRA:            forward 2*r*(n_in+n_out)*T per pair, backward 2x forward (dA, dB, dX)
 * i.e. 4*P*T + 3*attn_fwd + 3*lora_fwd (~455 GFLOP for this model, the figure PyTorch's
 * table implies: 1.75 s at 261 GFLOP/s). Gradient checkpointing recomputes the forward;
 * the recompute is not counted (useful FLOPs only), so its GFLOP/s is comparable.
 *
 * The step mirrors train/trainer.c's batch_step: the 4 sequences run packed as one forward
 * of 1024 tokens (train/packed.h: attention within each sequence, positions from 0). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "core/timer.h"
#include "core/alloc.h"
#include "core/arena.h"
#include "core/pool.h"
#include "core/rng.h"
#include "core/tape.h"
#include "infer/model.h"
#include "infer/ops.h"
#include "kernels/blas.h"
#include "train/autograd.h"
#include "train/lora.h"
#include "train/optim.h"
#include "train/packed.h"

enum { BATCH = 4, SEQ = 256, RANK = 16 };

/* ---- the child: one configuration ------------------------------------------------------ */

typedef struct child_result {
    double median_s, min_s, flops, rss_mib;
    int steps;
} child_result;

/* Useful FLOPs of one step (formula in the header). */
static double step_flops(infer_model *m, const train_lora *l) {
    double P = 0;
    const infer_hparams *hp = &m->hp;
    for (int64_t il = 0; il < hp->n_layer; il++) {
        static const char *const names[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                            "ffn_gate", "ffn_up", "ffn_down"};
        for (size_t k = 0; k < 7; k++) {
            char nm[64];
            snprintf(nm, sizeof nm, "blk.%" PRId64 ".%s.weight", il, names[k]);
            const infer_linear *lin = infer_model_linear(m, nm);
            if (lin && lin->w) P += (double)lin->w->ne[0] * (double)lin->w->ne[1];
        }
    }
    P += (double)hp->n_embd * (double)hp->n_vocab; /* output head (tied or not) */
    double T = (double)BATCH * SEQ, lora = 0;
    for (size_t k = 0; k < train_lora_n_pairs(l); k++) {
        const train_lora_pair *p = train_lora_pair_at(l, k);
        lora += 2.0 * (double)p->rank * (double)(p->n_in + p->n_out) * T;
    }
    double attn = (double)BATCH * 4.0 * SEQ * SEQ * (double)hp->n_embd * (double)hp->n_layer;
    return 4.0 * P * T + 3.0 * attn + 3.0 * lora;
}

static int run_child(const char *model, int threads, bool ckpt, int steps, child_result *out) {
    rw_err err;
    infer_model *m = NULL;
    train_lora *l = NULL;
    rw_pool *pool = NULL;
    train_adamw opt;
    bool opt_ok = false, arena_ok = false;
    rw_arena arena;
    rw_tape tape;
    rw_tape_init(&tape);
    int rc = 1;
    int32_t *ids = NULL, *tg = NULL;
    double *samples = NULL;
    if (infer_model_load(model, &m, &err)) goto fail;
    train_lora_cfg lc;
    train_lora_cfg_default(&lc);
    lc.targets = TRAIN_LORA_DEFAULT_TARGETS;
    lc.rank = RANK;
    lc.alpha = 2.0f * RANK;
    if (train_lora_create(m, &lc, &l, &err)) goto fail;
    size_t np = train_lora_n_params(l);
    train_adamw_cfg ac;
    train_adamw_cfg_default(&ac);
    if (train_adamw_init(&opt, np, &ac, &err)) goto fail;
    opt_ok = true;
    if (threads > 1 && rw_pool_create(threads, &pool, &err)) goto fail;
    kern_blas_set_threads(threads);
    ids = rw_alloc_array((size_t)BATCH * SEQ, sizeof(int32_t));
    tg = rw_alloc_array((size_t)BATCH * SEQ, sizeof(int32_t));
    samples = rw_alloc_array((size_t)steps + 1, sizeof(double));
    if (!ids || !tg || !samples) goto fail;
    rw_rng g;
    rw_rng_seed(&g, 42);
    for (size_t i = 0; i < (size_t)BATCH * SEQ; i++)
        ids[i] = (int32_t)rw_rng_below(&g, (uint64_t)m->hp.n_vocab);
    int32_t lens[BATCH];
    for (int b = 0; b < BATCH; b++) {
        lens[b] = SEQ;
        for (int i = 0; i < SEQ; i++)
            tg[b * SEQ + i] = i + 1 < SEQ ? ids[b * SEQ + i + 1] : -1;
    }
    size_t cap = infer_model_arena_bytes(m, BATCH * SEQ, SEQ, threads, true) * 4 + (16u << 20);
    float *grads = train_lora_grads(l), *params = train_lora_params(l);
    /* step 0 sizes the arena (doubling until a step fits) and is not timed */
    for (int s = 0; s <= steps; s++) {
        double t0 = rw_now_s();
        bool retry;
        do {
            retry = false;
            if (!arena_ok) {
                if (rw_arena_init(&arena, cap, &err)) goto fail;
                arena_ok = true;
            }
            rw_arena_reset(&arena);
            rw_tape_clear(&tape);
            infer_ctx ctx;
            infer_ctx_init(&ctx, &arena, pool, &tape);
            ctx.f32_activations = true;
            rw_tensor *lg = train_decoder_forward_packed(&ctx, m, ids, lens, BATCH, ckpt);
            rw_tensor *loss = infer_op_cross_entropy(&ctx, lg, tg);
            rw_status st =
                loss ? train_backward(&ctx, loss, NULL, 1.0f, &err) : infer_ctx_error(&ctx, &err);
            if (st == RW_E_NOMEM && s == 0 && cap < ((size_t)1 << 36)) {
                rw_arena_deinit(&arena);
                arena_ok = false;
                cap *= 2;
                train_lora_zero_grad(l);
                retry = true;
            } else if (st) {
                goto fail;
            }
        } while (retry);
        train_clip_grad_norm(grads, np, 1.0);
        train_adamw_step(&opt, params, grads, 1e-4f);
        train_lora_zero_grad(l);
        samples[s] = rw_now_s() - t0;
    }
    bench_stats st;
    bench_stats_from(samples + 1, steps, &st);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    out->median_s = st.median;
    out->min_s = st.min;
    out->steps = steps;
    out->flops = step_flops(m, l);
    out->rss_mib = (double)ru.ru_maxrss / 1024.0;
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "bench-train child: %s\n", err.msg);
out:
    rw_free(ids);
    rw_free(tg);
    rw_free(samples);
    if (arena_ok) rw_arena_deinit(&arena);
    rw_tape_deinit(&tape);
    if (opt_ok) train_adamw_deinit(&opt);
    train_lora_destroy(l);
    infer_model_destroy(m);
    rw_pool_destroy(pool);
    return rc;
}

/* ---- the parent --------------------------------------------------------------------- */

static int run_cmd(char *const argv[]) {
    pid_t p = fork();
    if (p < 0) return -1;
    if (p == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) dup2(fd, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    int ws;
    if (waitpid(p, &ws, 0) < 0) return -1;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

static bool exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Runs one configuration in a child; parses its result line. */
static int spawn_child(const char *self, const char *model, int threads, bool ckpt, int steps,
                       child_result *r) {
    int fds[2];
    if (pipe(fds)) return -1;
    pid_t p = fork();
    if (p < 0) return -1;
    if (p == 0) {
        close(fds[0]);
        dup2(fds[1], 1);
        char th[16], sp[16];
        snprintf(th, sizeof th, "%d", threads);
        snprintf(sp, sizeof sp, "%d", steps);
        char *argv[] = {(char *)self, "--child", (char *)model, th, ckpt ? "1" : "0", sp, NULL};
        execv(self, argv);
        _exit(127);
    }
    close(fds[1]);
    char buf[512];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof buf - 1 && (got = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)got;
    buf[n] = 0;
    close(fds[0]);
    int ws;
    if (waitpid(p, &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) return -1;
    if (sscanf(buf, "%lf %lf %lf %lf %d", &r->median_s, &r->min_s, &r->flops, &r->rss_mib,
               &r->steps) != 5)
        return -1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 6 && !strcmp(argv[1], "--child")) {
        child_result r;
        if (run_child(argv[2], atoi(argv[3]), atoi(argv[4]) != 0, atoi(argv[5]), &r)) return 1;
        printf("%.9g %.9g %.9g %.6g %d\n", r.median_s, r.min_s, r.flops, r.rss_mib, r.steps);
        return 0;
    }
    bench_opts o;
    int first = bench_parse_args(argc, argv, &o);
    if (first < 0) return 2;
    const char *models = "/tmp/bench-train-models";
    int steps = 0;
    for (int i = first; i < argc; i++) {
        if (!strcmp(argv[i], "--models") && i + 1 < argc)
            models = argv[++i];
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else {
            fprintf(stderr,
                    "bench-train: unknown argument '%s' (--json --quick --threads N "
                    "--models DIR --steps N)\n",
                    argv[i]);
            return 2;
        }
    }
    if (steps <= 0) steps = o.quick ? 1 : 3;
    char self[1024];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) return 1;
    self[sl] = 0;
    char gguf_tool[1100], f16[1200], q4[1200];
    snprintf(gguf_tool, sizeof gguf_tool, "%.*s/rag-gguf", (int)(strrchr(self, '/') - self), self);
    mkdir(models, 0755);
    snprintf(f16, sizeof f16, "%s/bench-f16.gguf", models);
    snprintf(q4, sizeof q4, "%s/bench-q4_k_m.gguf", models);
    const char *vocab = "/work/shared/refs/vocab/ggml-vocab-llama-spm.gguf";
    bool have_vocab = exists(vocab);
    if (!have_vocab)
        fprintf(stderr, "note: %s absent: the models use the embedded default vocabulary\n", vocab);
    if (!exists(f16)) {
        char *a1[] = {gguf_tool, "new",    "--arch", "llama",   "--preset",    "bench", "--seed",
                      "1",       "--type", "f16",    "--vocab", (char *)vocab, f16,     NULL};
        if (!have_vocab) {
            a1[10] = f16;
            a1[11] = NULL;
        }
        if (run_cmd(a1)) {
            fprintf(stderr, "bench-train: %s new failed\n", gguf_tool);
            return 1;
        }
    }
    if (!exists(q4)) {
        char *a2[] = {gguf_tool, "quantize", f16, q4, "Q4_K_M", NULL};
        if (run_cmd(a2)) {
            fprintf(stderr, "bench-train: %s quantize failed\n", gguf_tool);
            return 1;
        }
    }
    rw_pool *pool = NULL;
    rw_err err;
    if (o.threads > 1 && rw_pool_create(o.threads, &pool, &err)) return 1;
    bench_limits lim;
    bench_limits_measure(pool, o.quick, &lim);
    rw_pool_destroy(pool);
    bench_print_header(&o, &lim);
    double load[1] = {-1};
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf) {
        if (fscanf(lf, "%lf", &load[0]) != 1) load[0] = -1;
        fclose(lf);
    }
    /* PyTorch 1.13.1, same shapes (notes): tokens/s and peak RSS GiB, by threads/ckpt */
    const double pt_tok[2][2] = {{374, 0}, {590, 460}}; /* [2 threads?][ckpt] */
    const double pt_gib[2][2] = {{3.9, 0}, {4.0, 2.4}};
    if (!o.json) {
        printf("load average %.2f (shared machine: figures are medians of %d steps)\n", load[0],
               steps);
        printf("%-8s %3s %5s %9s %8s %8s %9s %9s %12s\n", "base", "thr", "ckpt", "step s", "tok/s",
               "GFLOP/s", "%sgemm", "RSS MiB", "PyTorch t/s,GiB");
    }
    const char *types[2] = {"F16", "Q4_K_M"};
    const char *paths[2] = {f16, q4};
    int ths[2] = {1, o.threads};
    for (int ti = 0; ti < 2; ti++)
        for (int hi = 0; hi < 2; hi++) {
            if (hi == 1 && o.threads == 1) continue;
            for (int ck = 0; ck < 2; ck++) {
                child_result r;
                if (spawn_child(self, paths[ti], ths[hi], ck != 0, steps, &r)) {
                    fprintf(stderr, "bench-train: configuration %s threads %d ckpt %d failed\n",
                            types[ti], ths[hi], ck);
                    continue;
                }
                double tok_s = (double)(BATCH * SEQ) / r.median_s;
                double gf = r.flops / r.median_s * 1e-9;
                double sg = lim.sgemm_gflops[hi];
                double ptt = pt_tok[hi][ck], ptg = pt_gib[hi][ck];
                char shape[96];
                snprintf(shape, sizeof shape, "b%dx%d_r%d_%s", BATCH, SEQ, RANK,
                         ck ? "ckpt" : "nockpt");
                if (o.json) {
                    bench_stats st = {
                        .min = r.min_s, .median = r.median_s, .mean = r.median_s, .n = r.steps};
                    char extra[512];
                    snprintf(extra, sizeof extra,
                             "\"tokens_per_s\":%.1f,\"gflop_per_step\":%.2f,\"peak_rss_mib\":%.1f,"
                             "\"checkpointing\":%s,\"pytorch_tokens_per_s\":%.0f,"
                             "\"pytorch_peak_rss_gib\":%.1f,\"load_avg\":%.2f,\"vocab\":\"%s\"",
                             tok_s, r.flops * 1e-9, r.rss_mib, ck ? "true" : "false", ptt, ptg,
                             load[0], have_vocab ? "llama-spm" : "embedded");
                    bench_json_line(stdout, "train_lora_step", types[ti], shape, ths[hi], gf,
                                    "GFLOP/s", sg, &st, extra);
                } else {
                    char pt[32] = "-";
                    if (ptt > 0) snprintf(pt, sizeof pt, "%.0f, %.1f", ptt, ptg);
                    printf("%-8s %3d %5s %9.3f %8.1f %8.1f %8.1f%% %9.0f %12s\n", types[ti],
                           ths[hi], ck ? "yes" : "no", r.median_s, tok_s, gf,
                           sg > 0 ? 100.0 * gf / sg : 0.0, r.rss_mib, pt);
                }
                fflush(stdout);
            }
        }
    return 0;
}
