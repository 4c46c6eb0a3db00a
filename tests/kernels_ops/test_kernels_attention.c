/* kernels/attention: every variant this CPU runs against a naive long-double attention
 * written here (full score row, explicit mask, softmax), over GQA, causal masking with a
 * KV-cache position offset, padding (valid length), additive masks, strided KV-cache
 * layouts, head/row ranges and the thread-pool driver; plus a hand-worked example. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "kernels/attention.h"
#include "kernels/ops_internal.h"
#include "rw_test.h"

static unsigned long long g_lcg = 777;
static float urand(float lo, float hi) {
    g_lcg = g_lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    double u = (double)(g_lcg >> 11) / 9007199254740992.0;
    return (float)((double)lo + u * ((double)hi - (double)lo));
}

static const kern_ops_table *g_tabs[3];
static size_t g_ntabs;
static int setup_tables(void **state) {
    (void)state;
    for (int l = KERN_LEVEL_SCALAR; l <= KERN_LEVEL_AVX512; l++) {
        const kern_ops_table *t = kern_ops_table_for((kern_level)l);
        if (t) g_tabs[g_ntabs++] = t;
    }
    return 0;
}

/* Naive attention on contiguous q [T,Hq,D], k/v [S,Hkv,D]: out [T,Hq,D], lse [T,Hq]. */
static void naive(double *out, double *lse, const float *q, const float *k, const float *v,
                  const float *add, size_t add_stride, size_t T, size_t S, size_t Hq, size_t Hkv,
                  size_t D, float scale, int causal, size_t pos0, size_t n_valid) {
    long double *sc = malloc((S ? S : 1) * sizeof *sc);
    for (size_t t = 0; t < T; t++)
        for (size_t h = 0; h < Hq; h++) {
            size_t g = h / (Hq / Hkv);
            long double mx = -HUGE_VALL;
            for (size_t s = 0; s < S; s++) {
                int vis = s < n_valid && (!causal || s <= pos0 + t);
                long double a = add ? (long double)add[t * add_stride + s] : 0.0L;
                if (!vis || isinf(a)) {
                    sc[s] = -HUGE_VALL;
                    continue;
                }
                long double d = 0;
                for (size_t i = 0; i < D; i++)
                    d += (long double)q[(t * Hq + h) * D + i] *
                         (long double)k[(s * Hkv + g) * D + i];
                sc[s] = (long double)scale * d + a;
                if (sc[s] > mx) mx = sc[s];
            }
            double *o = out + (t * Hq + h) * D;
            if (isinf(mx)) {
                for (size_t i = 0; i < D; i++)
                    o[i] = 0;
                lse[t * Hq + h] = -HUGE_VAL;
                continue;
            }
            long double z = 0;
            for (size_t s = 0; s < S; s++)
                z += expl(sc[s] - mx);
            for (size_t i = 0; i < D; i++) {
                long double acc = 0;
                for (size_t s = 0; s < S; s++)
                    acc += expl(sc[s] - mx) / z * (long double)v[(s * Hkv + g) * D + i];
                o[i] = (double)acc;
            }
            lse[t * Hq + h] = (double)(mx + logl(z));
        }
    free(sc);
}

/* Largest |error| seen per variant (reported at the end, for docs/kernels-ops.md). */
static double g_worst[3];

static void check_close(const char *what, const char *var, const float *a, const double *e,
                        size_t n, double atol, double rtol) {
    for (size_t i = 0; i < n; i++) {
        double av = (double)a[i], ev = e[i];
        if (isinf(ev) && av == ev) continue;
        for (size_t v = 0; v < g_ntabs; v++)
            if (strcmp(var, g_tabs[v]->name) == 0 && fabs(av - ev) > g_worst[v])
                g_worst[v] = fabs(av - ev);
        if (!(fabs(av - ev) <= atol + rtol * fabs(ev)))
            fail_msg("%s [%s]: index %zu got %.9g want %.9g (err %.3g)", what, var, i, av, ev,
                     fabs(av - ev));
    }
}

typedef struct acase {
    size_t T, S, Hq, Hkv, D;
    int causal;
    size_t pos0, n_valid;
    int add;         /* 0 none, 1 per row, 2 broadcast */
    float scale_mul; /* scale = scale_mul / sqrt(D) */
} acase;

static const acase k_cases[] = {
    {1, 1, 1, 1, 1, 0, 0, 1, 0, 1.0f},
    {4, 4, 4, 4, 16, 0, 0, 4, 0, 1.0f},        /* MHA, bidirectional */
    {6, 6, 8, 2, 64, 1, 0, 6, 0, 1.0f},        /* GQA 4:1, causal prefill */
    {1, 200, 14, 2, 64, 1, 199, 200, 0, 1.0f}, /* decode step with a cache, GQA 7:1 */
    {5, 12, 4, 1, 33, 1, 7, 12, 0, 1.0f},      /* causal chunk at offset 7 (MQA) */
    {10, 10, 4, 4, 7, 0, 0, 6, 0, 1.0f},       /* encoder with padding, valid length 6 */
    {9, 130, 6, 3, 128, 0, 0, 100, 1, 1.0f},   /* padding + per-row additive mask */
    {3, 257, 2, 1, 31, 1, 254, 257, 2, 8.0f},  /* 5 key blocks, broadcast mask, sharp */
    {4, 70, 2, 2, 17, 0, 0, 70, 0, 20.0f},     /* very sharp softmax across blocks */
    {3, 5, 2, 1, 8, 0, 0, 0, 0, 1.0f},         /* nothing visible: zeros, lse -inf */
};

static void run_case(const acase *c, int strided_cache) {
    size_t T = c->T, S = c->S, Hq = c->Hq, Hkv = c->Hkv, D = c->D;
    float *q = malloc(T * Hq * D * sizeof *q), *k = malloc(S * Hkv * D * sizeof *k);
    float *v = malloc(S * Hkv * D * sizeof *v), *add = malloc(T * S * sizeof *add);
    float *out = malloc(T * Hq * D * sizeof *out), *lse = malloc(T * Hq * sizeof *lse);
    double *eo = malloc(T * Hq * D * sizeof *eo), *el = malloc(T * Hq * sizeof *el);
    for (size_t i = 0; i < T * Hq * D; i++)
        q[i] = urand(-1, 1);
    for (size_t i = 0; i < S * Hkv * D; i++)
        k[i] = urand(-1, 1), v[i] = urand(-1, 1);
    /* Keys growing along s so the running max moves in every block. */
    for (size_t s = 0; s < S; s++)
        for (size_t i = 0; i < Hkv * D; i++)
            k[s * Hkv * D + i] *= 0.5f + (float)s / (float)(S ? S : 1);
    for (size_t i = 0; i < T * S; i++)
        add[i] = urand(0, 1) < 0.2f ? -INFINITY : urand(-1, 1);
    float scale = c->scale_mul / sqrtf((float)D);
    size_t add_stride = c->add == 1 ? S : 0;
    naive(eo, el, q, k, v, c->add ? add : NULL, add_stride, T, S, Hq, Hkv, D, scale, c->causal,
          c->pos0, c->n_valid);

    /* Optionally store K/V as a cache [Hkv, Smax, D] with Smax > S. */
    size_t Smax = S + 3;
    float *kc = malloc(Hkv * Smax * D * sizeof *kc), *vc = malloc(Hkv * Smax * D * sizeof *vc);
    for (size_t i = 0; i < Hkv * Smax * D; i++)
        kc[i] = vc[i] = NAN; /* never read */
    for (size_t s = 0; s < S; s++)
        for (size_t g = 0; g < Hkv; g++)
            for (size_t i = 0; i < D; i++) {
                kc[(g * Smax + s) * D + i] = k[(s * Hkv + g) * D + i];
                vc[(g * Smax + s) * D + i] = v[(s * Hkv + g) * D + i];
            }
    kern_attn_args a = {0};
    a.out = out, a.lse = lse, a.q = q;
    a.k = strided_cache ? kc : k;
    a.v = strided_cache ? vc : v;
    a.add = c->add ? add : NULL, a.add_stride = add_stride;
    a.n_q = T, a.n_kv = S, a.n_head = Hq, a.n_head_kv = Hkv, a.head_dim = D;
    if (strided_cache) a.k_ts = a.v_ts = D, a.k_hs = a.v_hs = Smax * D;
    a.scale = scale, a.causal = c->causal != 0, a.pos0 = c->pos0, a.n_valid = c->n_valid;

    char what[96];
    snprintf(what, sizeof what, "attention T=%zu S=%zu H=%zu/%zu D=%zu%s", T, S, Hq, Hkv, D,
             strided_cache ? " cache-layout" : "");
    for (size_t vi = 0; vi < g_ntabs; vi++) {
        for (size_t i = 0; i < T * Hq * D; i++)
            out[i] = 1234.5f;
        g_tabs[vi]->attention(&a, 0, Hq, 0, T);
        check_close(what, g_tabs[vi]->name, out, eo, T * Hq * D, 2e-6, 2e-5);
        check_close(what, g_tabs[vi]->name, lse, el, T * Hq, 2e-6, 1e-6);
    }
    /* Probabilities recomputed from the saved lse: rows sum to 1 (0 when nothing is
     * visible) and p . v reproduces the output. */
    {
        float *pr = malloc(Hq * T * (S ? S : 1) * sizeof *pr);
        a.lse = lse;
        kern_attention_f32_ref(&a, 0, Hq, 0, T);
        kern_attention_probs_f32(pr, &a, 0, Hq, 0, T);
        for (size_t h = 0; h < Hq; h++)
            for (size_t t = 0; t < T; t++) {
                const float *p = pr + (h * T + t) * S;
                double sum = 0;
                for (size_t s = 0; s < S; s++)
                    sum += (double)p[s];
                assert_true(fabs(sum - (isinf(el[t * Hq + h]) ? 0.0 : 1.0)) < 1e-5);
                for (size_t i = 0; i < D; i++) {
                    double o = 0;
                    for (size_t s = 0; s < S; s++)
                        if (p[s] != 0.0f)
                            o += (double)p[s] * (double)v[(s * Hkv + h / (Hq / Hkv)) * D + i];
                    if (fabs(o - eo[(t * Hq + h) * D + i]) > 1e-5)
                        fail_msg("%s probs: t=%zu h=%zu i=%zu p.v %.9g want %.9g", what, t, h, i, o,
                                 eo[(t * Hq + h) * D + i]);
                }
            }
        free(pr);
    }
    /* Ranges: only heads [h0,h1) x rows [t0,t1) are written. */
    if (Hq > 1 && T > 1) {
        size_t h0 = 1, h1 = Hq, t0 = T / 2, t1 = T;
        for (size_t vi = 0; vi < g_ntabs; vi++) {
            for (size_t i = 0; i < T * Hq * D; i++)
                out[i] = 1234.5f;
            g_tabs[vi]->attention(&a, h0, h1, t0, t1);
            for (size_t t = 0; t < T; t++)
                for (size_t h = 0; h < Hq; h++) {
                    const float *o = out + (t * Hq + h) * D;
                    if (h >= h0 && h < h1 && t >= t0 && t < t1)
                        check_close("attention range", g_tabs[vi]->name, o, eo + (t * Hq + h) * D,
                                    D, 2e-6, 2e-5);
                    else
                        for (size_t i = 0; i < D; i++)
                            assert_true(o[i] == 1234.5f);
                }
        }
    }
    free(q), free(k), free(v), free(add), free(out), free(lse), free(eo), free(el), free(kc),
        free(vc);
}

static void test_attention_cases(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) {
        run_case(&k_cases[i], 0);
        run_case(&k_cases[i], 1);
    }
    for (size_t v = 0; v < g_ntabs; v++)
        fprintf(stderr, "# attention %-7s max abs err vs long double %.2e\n", g_tabs[v]->name,
                g_worst[v]);
}

/* Random shapes and masks: 60 configurations drawn from a fixed seed. */
static void test_attention_random(void **state) {
    (void)state;
    for (int it = 0; it < 60; it++) {
        acase c;
        c.Hkv = 1 + (size_t)urand(0, 3);
        c.Hq = c.Hkv * (1 + (size_t)urand(0, 4));
        c.D = 1 + (size_t)urand(0, 140);
        c.S = 1 + (size_t)urand(0, 150);
        c.T = 1 + (size_t)urand(0, 12);
        c.causal = urand(0, 1) < 0.5f;
        c.pos0 = c.causal ? (size_t)urand(0, (float)c.S) : 0;
        c.n_valid = urand(0, 1) < 0.5f ? c.S : (size_t)urand(0, (float)c.S + 1);
        c.add = (int)urand(0, 3);
        c.scale_mul = urand(0.5f, 6.0f);
        run_case(&c, it % 2);
    }
}

static void test_attention_hand(void **state) {
    (void)state;
    /* q = [1,0]; keys [1,0], [0,1]; values [1,2], [3,4]; scale 1: scores [1, 0],
     * p = [e/(e+1), 1/(e+1)] = [0.73105858, 0.26894142],
     * out = [0.731*1 + 0.269*3, 0.731*2 + 0.269*4] = [1.53788284, 2.53788284],
     * lse = log(e + 1) = 1.31326169. Causal at pos0 = 0 sees only key 0: out = v0. */
    const float q[2] = {1, 0}, k[4] = {1, 0, 0, 1}, v[4] = {1, 2, 3, 4};
    const float want[2] = {1.53788284f, 2.53788284f}, want_c[2] = {1, 2};
    for (size_t vi = 0; vi < g_ntabs; vi++) {
        float out[2], lse;
        kern_attn_args a = {0};
        a.out = out, a.lse = &lse, a.q = q, a.k = k, a.v = v;
        a.n_q = 1, a.n_kv = 2, a.n_head = 1, a.n_head_kv = 1, a.head_dim = 2;
        a.scale = 1.0f, a.n_valid = 2;
        g_tabs[vi]->attention(&a, 0, 1, 0, 1);
        rw_assert_allclose(out, want, 2, 1e-7, 1e-6);
        assert_true(fabsf(lse - 1.31326169f) < 1e-6f);
        a.causal = true;
        g_tabs[vi]->attention(&a, 0, 1, 0, 1);
        rw_assert_allclose(out, want_c, 2, 1e-7, 1e-6);
        assert_true(fabsf(lse - 1.0f) < 1e-6f);
    }
}

static void test_attention_nan(void **state) {
    (void)state;
    /* A NaN in a visible key poisons the row; NaN in hidden keys (past n_valid) does not. */
    enum { S = 9, D = 8 };
    float q[D], k[S * D], v[S * D], out[D], lse;
    for (size_t i = 0; i < D; i++)
        q[i] = urand(-1, 1);
    for (size_t i = 0; i < S * D; i++)
        k[i] = urand(-1, 1), v[i] = urand(-1, 1);
    for (size_t i = 0; i < D; i++)
        k[8 * D + i] = v[8 * D + i] = NAN;
    for (size_t vi = 0; vi < g_ntabs; vi++) {
        kern_attn_args a = {0};
        a.out = out, a.lse = &lse, a.q = q, a.k = k, a.v = v;
        a.n_q = 1, a.n_kv = S, a.n_head = 1, a.n_head_kv = 1, a.head_dim = D;
        a.scale = 0.3f, a.n_valid = S - 1;
        g_tabs[vi]->attention(&a, 0, 1, 0, 1);
        for (size_t i = 0; i < D; i++)
            assert_false(isnan(out[i]));
        a.n_valid = S;
        g_tabs[vi]->attention(&a, 0, 1, 0, 1);
        for (size_t i = 0; i < D; i++)
            assert_true(isnan(out[i]));
        assert_true(isnan(lse));
    }
}

/* The pool driver gives bit-identical results for any thread count (prefill and decode). */
static void pool_case(size_t T, size_t S, size_t pos0, int nth) {
    size_t Hq = 6, Hkv = 2, D = 64;
    float *q = malloc(T * Hq * D * sizeof *q), *k = malloc(S * Hkv * D * sizeof *k);
    float *v = malloc(S * Hkv * D * sizeof *v);
    float *o1 = malloc(T * Hq * D * sizeof *o1), *o2 = malloc(T * Hq * D * sizeof *o2);
    float *o3 = malloc(T * Hq * D * sizeof *o3);
    float *l1 = malloc(T * Hq * sizeof *l1), *l2 = malloc(T * Hq * sizeof *l2);
    for (size_t i = 0; i < T * Hq * D; i++)
        q[i] = urand(-1, 1);
    for (size_t i = 0; i < S * Hkv * D; i++)
        k[i] = urand(-1, 1), v[i] = urand(-1, 1);
    kern_attn_args a = {0};
    a.q = q, a.k = k, a.v = v, a.n_q = T, a.n_kv = S, a.n_head = Hq, a.n_head_kv = Hkv;
    a.head_dim = D, a.scale = 0.125f, a.causal = true, a.pos0 = pos0, a.n_valid = S;
    a.out = o1, a.lse = l1;
    kern_attention_f32(&a, 0, Hq, 0, T);
    rw_pool *pool = NULL;
    assert_int_equal(rw_pool_create(nth, &pool, NULL), RW_OK);
    a.out = o2, a.lse = l2;
    kern_attention_f32_pool(pool, &a);
    assert_memory_equal(o1, o2, T * Hq * D * sizeof *o1);
    assert_memory_equal(l1, l2, T * Hq * sizeof *l1);
    a.out = o3, a.lse = NULL;
    kern_attention_f32_pool(NULL, &a);
    assert_memory_equal(o1, o3, T * Hq * D * sizeof *o1);
    rw_pool_destroy(pool);
    free(q), free(k), free(v), free(o1), free(o2), free(o3), free(l1), free(l2);
}

static void test_attention_pool(void **state) {
    (void)state;
    for (int nth = 2; nth <= 5; nth++) {
        pool_case(37, 37, 0, nth);  /* prefill: 3 query blocks x 6 heads */
        pool_case(1, 100, 99, nth); /* decode: one row, heads split */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_hand),   cmocka_unit_test(test_attention_cases),
        cmocka_unit_test(test_attention_random), cmocka_unit_test(test_attention_nan),
        cmocka_unit_test(test_attention_pool),
    };
    return cmocka_run_group_tests(tests, setup_tables, NULL);
}
