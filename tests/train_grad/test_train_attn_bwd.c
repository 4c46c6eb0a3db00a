/* The tiled f32 attention backward (train_attn_bwd_segment) against the former scalar
 * double-precision loop (train_attn_bwd_segment_ref) on random shapes at awkward sizes:
 * T = 1, 3, 65, 130 (one row, a partial block, one past a block, two blocks + 2), head dims
 * 64 and 80, GQA 3:1 and MHA, causal / bidirectional, padding (n_valid < S), pos0 > 0 with
 * S > T, sliding windows, and a row that sees no key (lse = -inf).
 *
 * The lse the backward consumes is computed here independently in double (log-sum-exp of
 * the visible scaled scores), as the forward would save it. Tolerance: 1e-4 relative to the
 * largest entry of each gradient tensor (f32 GEMM rounding is ~1e-6 of that). The pooled
 * run must equal the single-thread run bit for bit (each kv head has one owner). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/pool.h"
#include "core/rng.h"
#include "rw_test.h"
#include "train/backward_attention_internal.h"

typedef struct shape {
    int64_t T, S, H, Hkv, D, pos0, n_valid, window;
    bool causal;
} shape;

static float *randv(rw_rng *r, size_t n, double sd) {
    float *p = rw_malloc(n * sizeof(float));
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(sd * rw_rng_normal(r));
    return p;
}

static double rel_err(const float *a, const float *b, size_t n) {
    double mx = 0, err = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs((double)b[i]) > mx) mx = fabs((double)b[i]);
        if (fabs((double)a[i] - (double)b[i]) > err) err = fabs((double)a[i] - (double)b[i]);
    }
    return mx > 0 ? err / mx : err;
}

static void run_case(const shape *sh, uint64_t seed, rw_pool *pool) {
    rw_rng r;
    rw_rng_seed(&r, seed);
    const int64_t T = sh->T, S = sh->S, H = sh->H, Hkv = sh->Hkv, D = sh->D;
    const size_t nq = (size_t)(T * H * D), nk = (size_t)(S * Hkv * D);
    float *q = randv(&r, nq, 1.0), *k = randv(&r, nk, 1.0), *v = randv(&r, nk, 1.0);
    float *dout = randv(&r, nq, 1.0);
    float *lse = rw_malloc((size_t)(T * H) * sizeof(float));
    assert_non_null(lse);
    const float scale = 1.0f / sqrtf((float)D);
    const int64_t rep = H / Hkv;
    for (int64_t t = 0; t < T; t++) {
        int64_t e = sh->n_valid, b = 0;
        if (sh->causal && sh->pos0 + t + 1 < e) e = sh->pos0 + t + 1;
        if (sh->window > 0 && sh->pos0 + t - sh->window + 1 > b) b = sh->pos0 + t - sh->window + 1;
        for (int64_t h = 0; h < H; h++) {
            const int64_t g = h / rep;
            double mx = -HUGE_VAL, sum = 0;
            for (int pass = 0; pass < 2; pass++)
                for (int64_t s = b; s < e; s++) {
                    double dot = 0;
                    for (int64_t d = 0; d < D; d++)
                        dot +=
                            (double)q[t * H * D + h * D + d] * (double)k[s * Hkv * D + g * D + d];
                    dot *= (double)scale;
                    if (pass == 0 && dot > mx) mx = dot;
                    if (pass == 1) sum += exp(dot - mx);
                }
            lse[t * H + h] = e > b ? (float)(mx + log(sum)) : -INFINITY;
        }
    }
    float *g_new[3], *g_ref[3], *g_pool[3];
    const size_t ns[3] = {nq, nk, nk};
    for (int i = 0; i < 3; i++) {
        /* start from a nonzero gradient: the backward accumulates */
        g_ref[i] = randv(&r, ns[i], 0.1);
        g_new[i] = rw_malloc(ns[i] * sizeof(float));
        g_pool[i] = rw_malloc(ns[i] * sizeof(float));
        assert_non_null(g_new[i]);
        assert_non_null(g_pool[i]);
        memcpy(g_new[i], g_ref[i], ns[i] * sizeof(float));
        memcpy(g_pool[i], g_ref[i], ns[i] * sizeof(float));
    }
    train_attn_seg a = {.q = q,
                        .k = k,
                        .v = v,
                        .dout = dout,
                        .lse = lse,
                        .H = H,
                        .Hkv = Hkv,
                        .D = D,
                        .T = T,
                        .S = S,
                        .pos0 = sh->pos0,
                        .n_valid = sh->n_valid,
                        .window = sh->window,
                        .causal = sh->causal,
                        .scale = scale};
    const int nth = pool ? rw_pool_threads(pool) : 1;
    size_t nf = train_attn_bwd_scratch_floats(&a, nth),
           nr = train_attn_bwd_scratch_floats_ref(&a, 1);
    float *scr = rw_malloc((nf > nr ? nf : nr) * sizeof(float));
    assert_non_null(scr);
    a.dq = g_ref[0], a.dk = g_ref[1], a.dv = g_ref[2];
    train_attn_bwd_segment_ref(&a, NULL, scr);
    a.dq = g_new[0], a.dk = g_new[1], a.dv = g_new[2];
    train_attn_bwd_segment(&a, NULL, scr);
    a.dq = g_pool[0], a.dk = g_pool[1], a.dv = g_pool[2];
    train_attn_bwd_segment(&a, pool, scr);
    static const char *names[3] = {"dq", "dk", "dv"};
    for (int i = 0; i < 3; i++) {
        double e = rel_err(g_new[i], g_ref[i], ns[i]);
        if (e > 1e-4)
            fprintf(stderr,
                    "T=%lld S=%lld H=%lld/%lld D=%lld pos0=%lld nv=%lld win=%lld causal=%d: %s rel "
                    "err %.3g\n",
                    (long long)T, (long long)S, (long long)H, (long long)Hkv, (long long)D,
                    (long long)sh->pos0, (long long)sh->n_valid, (long long)sh->window,
                    (int)sh->causal, names[i], e);
        assert_true(e <= 1e-4);
        assert_memory_equal(g_new[i], g_pool[i], ns[i] * sizeof(float));
    }
    for (int i = 0; i < 3; i++) {
        rw_free(g_new[i]);
        rw_free(g_ref[i]);
        rw_free(g_pool[i]);
    }
    rw_free(scr);
    rw_free(q);
    rw_free(k);
    rw_free(v);
    rw_free(dout);
    rw_free(lse);
}

static void test_tiled_vs_ref(void **state) {
    (void)state;
    rw_pool *pool = NULL;
    rw_err err;
    assert_int_equal(rw_pool_create(3, &pool, &err), RW_OK);
    static const int64_t Ts[] = {1, 3, 65, 130};
    static const int64_t Ds[] = {64, 80};
    uint64_t seed = 1;
    for (size_t ti = 0; ti < 4; ti++)
        for (size_t di = 0; di < 2; di++) {
            const int64_t T = Ts[ti], D = Ds[di];
            /* causal GQA 3:1 */
            shape a = {T, T, 6, 2, D, 0, T, 0, true};
            run_case(&a, seed++, pool);
            /* bidirectional + padding */
            shape b = {T, T + 5, 6, 2, D, 0, T + 2, 0, false};
            run_case(&b, seed++, pool);
            /* causal, pos0 > 0, S > T */
            shape c = {T, T + 7, 6, 2, D, 7, T + 7, 0, true};
            run_case(&c, seed++, pool);
            /* causal sliding window with pos0 */
            shape d = {T, T + 3, 6, 2, D, 3, T + 3, 17, true};
            run_case(&d, seed++, pool);
            /* bidirectional sliding window, MHA */
            shape e = {T, T, 4, 4, D, 0, T, 9, false};
            run_case(&e, seed++, pool);
            /* padding hides every key of the first rows' window: rows with lse = -inf */
            shape f = {T, T + 10, 3, 1, D, 10, 20, 5, true};
            run_case(&f, seed++, pool);
        }
    rw_pool_destroy(pool);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_tiled_vs_ref)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
