/* bench-attn-bwd: the attention backward alone (train/backward_attention.c) on one causal
 * sequence of the bench-train model's attention shape (T = 256, 12 heads, 4 kv heads,
 * head dim 64): the tiled f32 GEMM path against the former scalar double loop (_ref),
 * 1 thread and --threads N (default 2). Both run on the same random inputs in one process,
 * so compare the ratio (the machine is shared and figures are noisy).
 *
 *   build/gcc/bin/bench-attn-bwd [--quick] [--threads N] */
#include <math.h>
#include <stdio.h>

#include "bench_util.h"
#include "core/alloc.h"
#include "core/pool.h"
#include "core/rng.h"
#include "train/backward_attention_internal.h"

typedef struct bctx {
    train_attn_seg a;
    rw_pool *pool;
    float *scratch;
    bool ref;
} bctx;

static void run_once(void *p) {
    bctx *c = p;
    if (c->ref)
        train_attn_bwd_segment_ref(&c->a, c->pool, c->scratch);
    else
        train_attn_bwd_segment(&c->a, c->pool, c->scratch);
}

int main(int argc, char **argv) {
    bench_opts o;
    if (bench_parse_args(argc, argv, &o) < 0) return 2;
    if (o.threads < 1) o.threads = 2;
    const int64_t T = 256, H = 12, Hkv = 4, D = 64;
    const size_t nq = (size_t)(T * H * D), nk = (size_t)(T * Hkv * D);
    float *buf = rw_malloc((3 * nq + 4 * nk + (size_t)(T * H)) * sizeof(float));
    if (!buf) return 1;
    rw_rng r;
    rw_rng_seed(&r, 7);
    for (size_t i = 0; i < 3 * nq + 4 * nk; i++)
        buf[i] = (float)rw_rng_normal(&r);
    train_attn_seg a = {.q = buf,
                        .dout = buf + nq,
                        .dq = buf + 2 * nq,
                        .k = buf + 3 * nq,
                        .v = buf + 3 * nq + nk,
                        .dk = buf + 3 * nq + 2 * nk,
                        .dv = buf + 3 * nq + 3 * nk,
                        .lse = buf + 3 * nq + 4 * nk,
                        .H = H,
                        .Hkv = Hkv,
                        .D = D,
                        .T = T,
                        .S = T,
                        .pos0 = 0,
                        .n_valid = T,
                        .window = 0,
                        .causal = true,
                        .scale = 1.0f / 8.0f};
    /* a plausible lse: log(visible keys) + small offset (values only need to be finite) */
    float *lse = buf + 3 * nq + 4 * nk;
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < H; h++)
            lse[t * H + h] = (float)log((double)(t + 1)) + 2.0f;
    rw_pool *pool = NULL;
    rw_err err;
    if (rw_pool_create(o.threads, &pool, &err) != RW_OK) return 1;
    size_t nf = train_attn_bwd_scratch_floats(&a, o.threads);
    float *scr = rw_malloc(nf * sizeof(float));
    if (!scr) return 1;
    const int reps = o.quick ? 3 : 10;
    /* as bench-train counts it: 2 x forward (QK^T and PV over the full T x T square) */
    const double flop = 2.0 * 4.0 * (double)T * (double)T * (double)D * (double)H;
    printf("attention backward, T=%lld H=%lld Hkv=%lld D=%lld causal (median of %d)\n",
           (long long)T, (long long)H, (long long)Hkv, (long long)D, reps);
    printf("%-8s %4s %10s %9s\n", "path", "thr", "ms", "GFLOP/s");
    for (int ref = 1; ref >= 0; ref--)
        for (int pt = 0; pt < 2; pt++) {
            bctx c = {.a = a, .pool = pt ? pool : NULL, .scratch = scr, .ref = ref != 0};
            bench_stats st;
            bench_time(run_once, &c, 1, reps, &st);
            printf("%-8s %4d %10.2f %9.1f\n", ref ? "ref f64" : "tiled", pt ? o.threads : 1,
                   st.median * 1e3, flop / st.median * 1e-9);
        }
    rw_pool_destroy(pool);
    rw_free(scr);
    rw_free(buf);
    return 0;
}
