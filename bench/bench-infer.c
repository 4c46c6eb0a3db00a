/* bench-infer: end-to-end inference speed, next to llama.cpp's figures on the same shapes.
 *
 *   bench-infer [--json] [--threads N] [--quick] [--models DIR] [MODEL.gguf...]
 *
 * Without MODEL arguments it builds (or reuses from DIR, default ./bench-models) the peer
 * configuration of /work/shared/notes/peer-speed.md, exactly as `rag-gguf new --preset bench`
 * and `rag-gguf quantize` would (same library calls): a llama of 124.7 M parameters (hidden
 * 768, 12 layers, 12 heads, 4 KV heads, FFN 2048) with the llama SPM vocabulary (32000) in
 * F16, Q8_0 and Q4_K_M, and a bge-small-shaped bert (hidden 384, 12 layers, FFN 1536) with the
 * bert-bge vocabulary (30522) in F16 and Q8_0. The vocabularies come from
 * $RW_SHARED_DIR/refs/vocab (default /work/shared); when absent the embedded default
 * vocabulary is used and a note says so (then the shapes, and the figures, differ).
 *
 * Figures (llama-bench's definitions): prefill = tokens/s of one 128-token prompt from an
 * empty cache (pp128); decode = tokens/s of 64 single-token steps from an empty cache (tg64),
 * with the weight-streaming bound = read bandwidth (re-measured just before each decode
 * timing: the load on a shared machine drifts) / bytes of weights read per token (every
 * tensor except an untied token-embedding table); embed = sentences/s of 64 sentences
 * of ~31 tokens (28..34) in one call. Each at 1 thread and at N threads (default: physical
 * cores). The machine's limits (read bandwidth, SGEMM) are measured in the same run; prefill's
 * ratio is against the SGEMM bound (2 flops per weight per token at the measured SGEMM rate),
 * decode's against the streaming bound. llama.cpp's figure for the same case (peer-speed.md)
 * is printed next to ours ("peer" and "vs_peer" in JSON). Before timing, a session's prefill
 * logits are checked against a cache-free forward of the same tokens. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_util.h"
#include "core/arena.h"
#include "core/timer.h"
#include "infer/embed.h"
#include "infer/generate.h"
#include "infer/gguf.h"
#include "infer/gguf_model.h"
#include "infer/gguf_quant.h"
#include "infer/model.h"

enum { PROMPT = 128, GEN = 64, EMB_B = 64 };

/* llama.cpp (ik_llama.cpp 8337e4cd) on the same shapes and machine class, from
 * /work/shared/notes/peer-speed.md: [1 thread, 2 threads]. Encoder: 4 batches of 16. */
typedef struct peer_fig {
    const char *arch, *type;
    double prefill[2], decode[2], embed[2];
} peer_fig;
static const peer_fig PEER[] = {
    {"llama", "f16", {1198, 2343}, {103, 174}, {0, 0}},
    {"llama", "q8_0", {2129, 3913}, {271, 430}, {0, 0}},
    {"llama", "q4_0", {2143, 4081}, {311, 504}, {0, 0}},
    {"llama", "q4_K", {2140, 3938}, {325, 516}, {0, 0}},
    {"llama", "q6_K", {1732, 3316}, {277, 511}, {0, 0}},
    {"bert", "f16", {0, 0}, {0, 0}, {49.4, 92.6}},
    {"bert", "q8_0", {0, 0}, {0, 0}, {64.3, 137.9}},
};

/* The peer's figure for (arch, weight type, bench, thread index), 0 when none or when m is
 * not the peer's shape (llama 768 x 12 layers, vocab 32000; bert 384 x 12, vocab 30522). */
static double peer_value(const infer_model *m, const char *arch, const char *type, int which,
                         int ti) {
    const bool bert = m->arch == INFER_ARCH_BERT;
    if (m->hp.n_layer != 12 || m->hp.n_embd != (bert ? 384 : 768) ||
        m->hp.n_vocab != (bert ? 30522 : 32000) || m->hp.n_ff != (bert ? 1536 : 2048))
        return 0;
    for (size_t i = 0; i < sizeof(PEER) / sizeof(PEER[0]); i++) {
        const peer_fig *p = &PEER[i];
        if (strcmp(p->arch, arch) || strcmp(p->type, type)) continue;
        const double *v = which == 0 ? p->prefill : which == 1 ? p->decode : p->embed;
        return v[ti];
    }
    return 0;
}

typedef struct dec_case {
    infer_session *s;
    int32_t *ids;
    int64_t n_gen, n_vocab;
} dec_case;

static void run_prefill(void *p) {
    dec_case *c = p;
    infer_session_reset(c->s);
    rw_err e;
    if (infer_session_prefill(c->s, c->ids, PROMPT, &e) != RW_OK) {
        fprintf(stderr, "bench-infer: prefill: %s\n", e.msg);
        abort();
    }
}

static void run_decode(void *p) {
    dec_case *c = p;
    /* llama-bench's tg: single-token steps from an empty cache */
    infer_session_reset(c->s);
    for (int64_t g = 0; g < c->n_gen; g++)
        if (infer_session_decode(c->s, (int32_t)((g * 7 + 3) % c->n_vocab), NULL) != RW_OK) abort();
}

typedef struct enc_case {
    infer_embedder *e;
    int32_t *ids, *lens;
    float *out;
} enc_case;

static void run_encode(void *p) {
    enc_case *c = p;
    if (infer_embed_ids(c->e, c->ids, c->lens, EMB_B, c->out, NULL) != RW_OK) abort();
}

static const char *wtype(const infer_model *m) {
    const rw_dtype_info *di = rw_dtype_get((uint32_t)m->layers[0].up.w->type);
    return di ? di->name : "?";
}

/* Cross-check of the fast paths before timing: a session fed one token at a time (fused
 * single-row matvecs, the streaming attention kernel) must give the logits of a cache-free
 * forward of the same 16 tokens (batched matmuls, SGEMM attention), with f32 activations
 * (tight) and with the weights' own activation format (loose, see below). */
static int check_decoder(const infer_model *m, rw_pool *pool) {
    enum { N = 16 };
    int rc = 0;
    for (int f32 = 1; f32 >= 0; f32--) {
        infer_session_cfg cfg;
        infer_session_cfg_default(&cfg);
        cfg.pool = pool;
        cfg.n_ctx = N;
        cfg.n_batch = 1;
        cfg.f32_activations = f32;
        infer_session *s = NULL;
        if (infer_session_create(m, &cfg, &s, NULL) != RW_OK) return -1;
        int32_t ids[N];
        for (int i = 0; i < N; i++)
            ids[i] = (int32_t)((i * 97 + 5) % m->hp.n_vocab);
        infer_session_prefill(s, ids, N, NULL);
        rw_arena ar;
        rw_arena_init(&ar, infer_model_arena_bytes(m, N, N, rw_pool_threads(pool), f32) * 2, NULL);
        infer_ctx ctx;
        infer_ctx_init(&ctx, &ar, pool, NULL);
        ctx.f32_activations = f32;
        rw_tensor *lg = infer_decoder_forward(&ctx, m, NULL, ids, N, false);
        double worst = 0, mag = 0;
        for (int64_t i = 0; lg && i < m->hp.n_vocab; i++) {
            worst = fmax(worst, fabs((double)s->logits[i] - (double)((float *)lg->data)[i]));
            mag = fmax(mag, fabs((double)((float *)lg->data)[i]));
        }
        /* f32: same math up to summation order. Quantized activations: an f32 difference of
         * one ulp can flip an 8-bit rounding, and flips compound over the layers (llama.cpp
         * itself moves logits by 0.05-0.1 this way), so only gross errors are caught. */
        const double tol = (f32 ? 1e-3 : 5e-2) * fmax(1.0, mag);
        fprintf(stderr, "bench-infer: check (f32 activations %d): max diff %.3g, max |logit| %.3g\n",
                f32, worst, mag);
        if (!lg || !(worst <= tol)) {
            fprintf(stderr, "bench-infer: check failed (f32 activations %d: max diff %g, max |logit| %g)\n",
                    f32, worst, mag);
            rc = -1;
        }
        rw_arena_deinit(&ar);
        infer_session_destroy(s);
    }
    return rc;
}

/* 1-, 5- and 15-minute load averages from /proc/loadavg (-1 when unreadable). */
static void load_avg(double la[3]) {
    la[0] = la[1] = la[2] = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return;
    if (fscanf(f, "%lf %lf %lf", &la[0], &la[1], &la[2]) != 3) la[0] = la[1] = la[2] = -1;
    fclose(f);
}

static void report(const bench_opts *o, const char *bench, const char *type, const char *shape,
                   int nth, double value, const char *unit, double limit, const char *lname,
                   double peer, const bench_stats *st) {
    if (o->json) {
        char extra[160];
        double la[3];
        load_avg(la);
        if (peer > 0)
            snprintf(extra, sizeof extra, "\"peer\":%.6g,\"vs_peer\":%.4f,\"load1\":%.2f", peer,
                     value / peer, la[0]);
        else
            snprintf(extra, sizeof extra, "\"peer\":null,\"load1\":%.2f", la[0]);
        bench_json_line(stdout, bench, type, shape, nth, value, unit, limit, st, extra);
    } else {
        printf("%-8s %-7s %-24s t=%d %8.1f %-6s", bench, type, shape, nth, value, unit);
        if (peer > 0)
            printf(" | llama.cpp %7.1f  x%.2f", peer, value / peer);
        else
            printf(" | %-25s", "");
        if (limit > 0) printf(" | %5.1f%% of %s %.0f", 100 * value / limit, lname, limit);
        printf("  (median %.4f s, min %.4f s)\n", st->median, st->min);
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------ model cache */

static const char *shared_dir(void) {
    const char *d = getenv("RW_SHARED_DIR");
    return d && d[0] ? d : "/work/shared";
}

static int file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* DIR/<arch>-bench-f16.gguf (rag-gguf new --preset bench --type f16 --vocab ...). */
static int make_base(const char *dir, infer_gguf_arch arch, char *out, size_t cap) {
    const bool bert = arch == INFER_GGUF_ARCH_BERT;
    snprintf(out, cap, "%s/%s-bench-f16.gguf", dir, infer_gguf_arch_str(arch));
    if (file_exists(out)) return 0;
    char vpath[512];
    snprintf(vpath, sizeof vpath, "%s/refs/vocab/%s", shared_dir(),
             bert ? "ggml-vocab-bert-bge.gguf" : "ggml-vocab-llama-spm.gguf");
    rw_err err;
    rw_err_clear(&err);
    infer_gguf *vocab = NULL;
    if (!file_exists(vpath))
        fprintf(stderr,
                "bench-infer: note: %s not found: %s uses the embedded default vocabulary, so its "
                "shape (and speed) differs from the llama.cpp figures\n",
                vpath, out);
    else if (infer_gguf_open(vpath, &vocab, &err) != RW_OK) {
        fprintf(stderr, "bench-infer: %s\n", err.msg);
        return -1;
    }
    infer_gguf_model_spec spec;
    if (infer_gguf_model_preset(arch, "bench", &spec, &err) != RW_OK) {
        infer_gguf_close(vocab);
        fprintf(stderr, "bench-infer: %s\n", err.msg);
        return -1;
    }
    spec.type = RW_DTYPE_F16;
    spec.seed = 1;
    fprintf(stderr, "bench-infer: writing %s\n", out);
    rw_status st = infer_gguf_model_new(&spec, vocab, out, NULL, &err);
    infer_gguf_close(vocab);
    if (st != RW_OK) {
        fprintf(stderr, "bench-infer: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* DIR/<arch>-bench-<ftype>.gguf quantized from the f16 file (rag-gguf quantize). */
static int make_quant(const char *base, const char *dir, infer_gguf_arch arch, const char *ft_s,
                      char *out, size_t cap) {
    snprintf(out, cap, "%s/%s-bench-%s.gguf", dir, infer_gguf_arch_str(arch), ft_s);
    if (file_exists(out)) return 0;
    rw_err err;
    rw_err_clear(&err);
    infer_gguf_ftype ft;
    infer_gguf *in = NULL;
    if (infer_gguf_ftype_parse(ft_s, &ft, &err) != RW_OK ||
        infer_gguf_open(base, &in, &err) != RW_OK) {
        fprintf(stderr, "bench-infer: %s\n", err.msg);
        return -1;
    }
    fprintf(stderr, "bench-infer: writing %s\n", out);
    rw_status st = infer_gguf_quantize(in, out, ft, NULL, &err);
    infer_gguf_close(in);
    if (st != RW_OK) {
        fprintf(stderr, "bench-infer: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* Fills paths[] with the peer configuration's models; returns how many, or -1. */
static int default_models(const char *dir, char paths[][640]) {
    if (mkdir(dir, 0755) != 0 && !file_exists(dir)) {
        struct stat sb;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "bench-infer: cannot create models folder %s\n", dir);
            return -1;
        }
    }
    int n = 0;
    char base[640];
    if (make_base(dir, INFER_GGUF_ARCH_LLAMA, base, sizeof base)) return -1;
    snprintf(paths[n++], 640, "%s", base);
    if (make_quant(base, dir, INFER_GGUF_ARCH_LLAMA, "q8_0", paths[n], 640)) return -1;
    n++;
    if (make_quant(base, dir, INFER_GGUF_ARCH_LLAMA, "q4_k_m", paths[n], 640)) return -1;
    n++;
    if (make_base(dir, INFER_GGUF_ARCH_BERT, base, sizeof base)) return -1;
    snprintf(paths[n++], 640, "%s", base);
    if (make_quant(base, dir, INFER_GGUF_ARCH_BERT, "q8_0", paths[n], 640)) return -1;
    n++;
    return n;
}

int main(int argc, char **argv) {
    bench_opts o;
    const char *models_dir = "bench-models";
    /* --models DIR is ours; the rest goes to bench_parse_args */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--models") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "bench-infer: --models needs a folder\n");
                return 2;
            }
            models_dir = argv[i + 1];
            memmove(argv + i, argv + i + 2, sizeof(char *) * (size_t)(argc - i - 2));
            argc -= 2;
            i--;
        }
    int first = bench_parse_args(argc, argv, &o);
    if (first < 0) {
        fprintf(stderr, "usage: bench-infer [--json] [--threads N] [--quick] [--models DIR] "
                        "[MODEL.gguf...]\n");
        return 2;
    }
    static char paths[8][640];
    int n_models = 0;
    if (first >= argc) {
        n_models = default_models(models_dir, paths);
        if (n_models < 0) return 1;
    } else {
        for (int a = first; a < argc && n_models < 8; a++)
            snprintf(paths[n_models++], 640, "%s", argv[a]);
    }
    rw_pool *pools[2] = {NULL, NULL};
    int nths[2] = {1, o.threads > 0 ? o.threads : rw_cpu_physical_cores()};
    if (rw_pool_create(1, &pools[0], NULL) != RW_OK ||
        rw_pool_create(nths[1], &pools[1], NULL) != RW_OK)
        return 1;
    bench_limits lim;
    bench_limits_measure(pools[1], o.quick, &lim);
    bench_print_header(&o, &lim);
    double la[3];
    load_avg(la);
    if (!o.json)
        printf("load avg:   %.2f %.2f %.2f (at start)\n\n", la[0], la[1], la[2]);
    const int reps = o.quick ? 2 : 5;
    for (int a = 0; a < n_models; a++) {
        infer_model *m = NULL;
        rw_err err;
        if (infer_model_load(paths[a], &m, &err) != RW_OK) {
            fprintf(stderr, "bench-infer: %s\n", err.msg);
            return 1;
        }
        const char *type = wtype(m);
        const char *arch = m->arch == INFER_ARCH_BERT ? "bert" : m->arch_name;
        for (int ti = 0; ti < 2; ti++) {
            if (ti == 1 && nths[1] == 1) break;
            rw_pool *pool = pools[ti];
            const int nth = nths[ti];
            const int pi = nth == 1 ? 0 : nth == 2 ? 1 : -1; /* the peer ran 1 and 2 threads */
            bench_stats st;
            char shape[96];
            if (m->arch != INFER_ARCH_BERT) {
                if (ti == 0 && check_decoder(m, pool)) return 1;
                infer_session_cfg cfg;
                infer_session_cfg_default(&cfg);
                cfg.pool = pool;
                cfg.n_ctx = PROMPT + GEN + 8;
                infer_session *s = NULL;
                if (infer_session_create(m, &cfg, &s, &err) != RW_OK) {
                    fprintf(stderr, "bench-infer: %s\n", err.msg);
                    return 1;
                }
                int32_t ids[PROMPT];
                for (int i = 0; i < PROMPT; i++)
                    ids[i] = (int32_t)((i * 37 + 11) % m->hp.n_vocab);
                dec_case c = {s, ids, o.quick ? 16 : GEN, m->hp.n_vocab};
                uint64_t wb = infer_model_weight_bytes(m);
                if (!m->hp.tied_output) wb -= rw_tensor_nbytes(m->tok_embd);
                /* weights that multiply each token: every 2-D tensor but the embedding table */
                double n_w = 0;
                for (size_t i = 0; i < m->n_tensors; i++)
                    if (m->tensors[i].n_dims == 2 && &m->tensors[i] != m->tok_embd)
                        n_w += (double)rw_tensor_nelements(&m->tensors[i]);
                if (m->hp.tied_output) n_w += (double)rw_tensor_nelements(m->tok_embd);
                const double sgemm_bound = lim.sgemm_gflops[ti] * 1e9 / (2.0 * n_w);
                bench_time(run_prefill, &c, 1, reps, &st);
                snprintf(shape, sizeof(shape), "%s pp%d", arch, PROMPT);
                report(&o, "prefill", type, shape, nth, PROMPT / st.median, "tok/s", sgemm_bound,
                       "SGEMM bound", pi >= 0 ? peer_value(m, arch, type, 0, pi) : 0, &st);
                /* the load on a shared machine drifts: re-measure the bandwidth next to
                 * the decode timing it bounds */
                bench_limits near;
                bench_limits_measure(pools[1], true, &near);
                bench_time(run_decode, &c, 1, reps, &st);
                double bound = near.read_gbs[ti] * 1e9 / (double)wb; /* tokens/s */
                snprintf(shape, sizeof(shape), "%s tg%lld (%.0f MB/tok)", arch,
                         (long long)c.n_gen, (double)wb / 1e6);
                report(&o, "decode", type, shape, nth, (double)c.n_gen / st.median, "tok/s",
                       bound, "stream bound", pi >= 0 ? peer_value(m, arch, type, 1, pi) : 0, &st);
                infer_session_destroy(s);
            } else {
                infer_embed_cfg cfg;
                infer_embed_cfg_default(&cfg);
                cfg.pool = pool;
                infer_embedder *e = NULL;
                if (infer_embedder_create(m, &cfg, &e, &err) != RW_OK) return 1;
                int64_t tot = 0;
                int32_t *lens = malloc(sizeof(int32_t) * EMB_B);
                for (int b = 0; b < EMB_B; b++)
                    tot += lens[b] = 28 + (b * 5) % 7; /* 28..34, mean ~31 */
                enc_case c = {e, malloc(sizeof(int32_t) * (size_t)tot), lens,
                              malloc(sizeof(float) * EMB_B * (size_t)m->hp.n_embd)};
                for (int64_t i = 0; i < tot; i++)
                    c.ids[i] = (int32_t)((i * 131 + 7) % (int)m->hp.n_vocab);
                bench_time(run_encode, &c, 1, reps, &st);
                snprintf(shape, sizeof(shape), "%s %dx~%.0f", arch, EMB_B, (double)tot / EMB_B);
                report(&o, "embed", type, shape, nth, EMB_B / st.median, "emb/s", 0, "",
                       pi >= 0 ? peer_value(m, arch, type, 2, pi) : 0, &st);
                free(c.ids);
                free(c.lens);
                free(c.out);
                infer_embedder_destroy(e);
            }
        }
        infer_model_destroy(m);
    }
    rw_pool_destroy(pools[0]);
    rw_pool_destroy(pools[1]);
    return 0;
}
