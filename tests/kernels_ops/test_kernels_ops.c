/* kernels/ops: every float op against (a) hand-worked values, (b) an independent long-double
 * implementation written here, and (c) for each SIMD variant this CPU runs, the scalar
 * reference at awkward lengths and misaligned starts. Also the NaN/Inf and masking
 * policies of docs/kernels-ops.md. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/ops_internal.h"
#include "rw_test.h"

static const size_t k_lens[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255, 257, 1000};
#define N_LENS (sizeof k_lens / sizeof k_lens[0])

/* Deterministic uniform floats in [lo, hi) from a small LCG (independent of core/rng). */
static unsigned long long g_lcg = 12345;
static float urand(float lo, float hi) {
    g_lcg = g_lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    double u = (double)(g_lcg >> 11) / 9007199254740992.0;
    return (float)((double)lo + u * ((double)hi - (double)lo));
}
static void fill(float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++)
        x[i] = urand(lo, hi);
}

/* The variant tables this CPU can run (the reference first). */
static const kern_ops_table *g_tabs[3];
static size_t g_ntabs;
static int setup_tables(void **state) {
    (void)state;
    g_ntabs = 0;
    for (int l = KERN_LEVEL_SCALAR; l <= KERN_LEVEL_AVX512; l++) {
        const kern_ops_table *t = kern_ops_table_for((kern_level)l);
        if (t) g_tabs[g_ntabs++] = t;
    }
    fprintf(stderr, "# dispatch uses %s; testing %zu variants\n", kern_ops_variant(), g_ntabs);
    return 0;
}

/* |a - e| <= atol + rtol |e| elementwise, NaN only against NaN, same-signed infinities. */
static void check_close(const char *what, const char *var, const float *a, const double *e,
                        size_t n, double atol, double rtol) {
    for (size_t i = 0; i < n; i++) {
        double av = (double)a[i], ev = e[i];
        if (isnan(ev) && isnan(av)) continue;
        if (isinf(ev) && av == ev) continue;
        if (!(fabs(av - ev) <= atol + rtol * fabs(ev)))
            fail_msg("%s [%s] n=%zu: index %zu got %.9g want %.9g (err %.3g)", what, var, n, i, av,
                     ev, fabs(av - ev));
    }
}

static void check_close_f(const char *what, const char *var, const float *a, const float *e,
                          size_t n, double atol, double rtol) {
    double *ed = malloc(n * sizeof *ed);
    for (size_t i = 0; i < n; i++)
        ed[i] = (double)e[i];
    check_close(what, var, a, ed, n, atol, rtol);
    free(ed);
}

/* ---- independent long-double implementations ----------------------------------------- */

static void ld_softmax_row(double *y, double *lse, const float *x, const float *m, size_t n,
                           size_t n_valid, int log_form) {
    long double mx = -HUGE_VALL;
    for (size_t j = 0; j < n_valid; j++) {
        if (m && isinf(m[j]) && m[j] < 0) continue;
        long double z = (long double)x[j] + (m ? (long double)m[j] : 0.0L);
        if (z > mx) mx = z;
    }
    long double s = 0.0L;
    for (size_t j = 0; j < n_valid; j++) {
        if (m && isinf(m[j]) && m[j] < 0) continue;
        s += expl((long double)x[j] + (m ? (long double)m[j] : 0.0L) - mx);
    }
    long double l = mx + logl(s);
    for (size_t j = 0; j < n; j++) {
        int excl = j >= n_valid || (m && isinf(m[j]) && m[j] < 0) || isinf(mx);
        long double z = excl ? 0.0L : (long double)x[j] + (m ? (long double)m[j] : 0.0L);
        if (log_form)
            y[j] = excl ? -HUGE_VAL : (double)(z - l);
        else
            y[j] = excl ? 0.0 : (double)expl(z - l);
    }
    *lse = isinf(mx) ? -HUGE_VAL : (double)l;
}

static double ld_gelu_erf(float x) {
    long double v = (long double)x;
    return (double)(0.5L * v * erfcl(-v / sqrtl(2.0L)));
}
static double ld_gelu_tanh(float x) {
    long double v = (long double)x,
                u = sqrtl(2.0L / 3.14159265358979323846L) * (v + 0.044715L * v * v * v);
    if (u > -4.0L) return (double)(0.5L * v * (1.0L + tanhl(u)));
    return (double)(v * expl(2.0L * u) / (1.0L + expl(2.0L * u))); /* tanh cancels here */
}
static double ld_silu(float x) {
    long double v = (long double)x;
    return (double)(v / (1.0L + expl(-v)));
}

/* ---- hand-worked values --------------------------------------------------------------- */

static void test_softmax_hand(void **state) {
    (void)state;
    /* e^1, e^2, e^3 over their sum e(1 + e + e^2) = 30.19287485: */
    const float x[3] = {1, 2, 3};
    const float want[3] = {0.09003057f, 0.24472847f, 0.66524096f};
    const float want_log[3] = {-2.40760596f, -1.40760596f, -0.40760596f};
    for (size_t v = 0; v < g_ntabs; v++) {
        float y[3], lse;
        g_tabs[v]->softmax(y, &lse, x, NULL, 0, 1, 3, 3);
        rw_assert_allclose(y, want, 3, 1e-7, 1e-6);
        assert_true(fabsf(lse - 3.40760596f) < 1e-6f);
        g_tabs[v]->log_softmax(y, &lse, x, NULL, 0, 1, 3, 3);
        rw_assert_allclose(y, want_log, 3, 1e-6, 1e-6);
        /* A mask of -inf on the last entry: softmax of [1, 2] = [0.26894142, 0.73105858]. */
        const float mask[3] = {0, 0, -INFINITY};
        const float want2[3] = {0.26894142f, 0.73105858f, 0.0f};
        g_tabs[v]->softmax(y, &lse, x, mask, 0, 1, 3, 3);
        rw_assert_allclose(y, want2, 3, 1e-7, 1e-6);
        /* Same through n_valid = 2. */
        g_tabs[v]->softmax(y, NULL, x, NULL, 0, 1, 3, 2);
        rw_assert_allclose(y, want2, 3, 1e-7, 1e-6);
    }
}

static void test_norms_hand(void **state) {
    (void)state;
    const float x[4] = {1, 2, 3, 4};
    /* rmsnorm: mean(x^2) = 7.5, r = 1/sqrt(7.5) = 0.36514837 */
    const float want_rms[4] = {0.36514837f, 0.73029674f, 1.09544512f, 1.46059349f};
    /* layernorm: mean 2.5, var 1.25, r = 0.89442719 */
    const float want_ln[4] = {-1.34164079f, -0.44721360f, 0.44721360f, 1.34164079f};
    const float w[4] = {1, 1, 2, 1}, b[4] = {0, 0, 0, 1};
    const float want_ln_wb[4] = {-1.34164079f, -0.44721360f, 0.89442719f, 2.34164079f};
    for (size_t v = 0; v < g_ntabs; v++) {
        float y[4], r, mu;
        g_tabs[v]->rmsnorm(y, &r, x, NULL, 1, 4, 0.0f);
        rw_assert_allclose(y, want_rms, 4, 0, 1e-6);
        assert_true(fabsf(r - 0.36514837f) < 1e-7f);
        g_tabs[v]->layernorm(y, &mu, &r, x, NULL, NULL, 1, 4, 0.0f);
        rw_assert_allclose(y, want_ln, 4, 0, 1e-6);
        assert_true(mu == 2.5f && fabsf(r - 0.89442719f) < 1e-7f);
        g_tabs[v]->layernorm(y, NULL, NULL, x, w, b, 1, 4, 0.0f);
        rw_assert_allclose(y, want_ln_wb, 4, 0, 1e-6);
        /* l2: ||[1,2,3,4]|| = sqrt(30) = 5.47722558; a zero row stays zero. */
        const float want_l2[4] = {0.18257419f, 0.36514837f, 0.54772256f, 0.73029674f};
        float nrm;
        g_tabs[v]->l2_normalize(y, &nrm, x, 1, 4, 1e-12f);
        rw_assert_allclose(y, want_l2, 4, 0, 1e-6);
        assert_true(fabsf(nrm - 5.47722558f) < 1e-6f);
        const float z[4] = {0, 0, 0, 0};
        g_tabs[v]->l2_normalize(y, &nrm, z, 1, 4, 1e-12f);
        assert_true(y[0] == 0 && y[3] == 0 && nrm == 1e-12f);
        /* A constant row with BERT's eps: var 0, r = 1e6, y = b exactly. */
        const float c[4] = {3, 3, 3, 3};
        g_tabs[v]->layernorm(y, &mu, &r, c, w, b, 1, 4, 1e-12f);
        assert_true(y[0] == 0 && y[1] == 0 && y[2] == 0 && y[3] == 1);
        assert_true(fabsf(r - 1e6f) < 1.0f);
    }
}

static void test_rope_hand(void **state) {
    (void)state;
    /* One head, D = 4, pos 1, base 10000: theta_0 = 1, theta_1 = 10000^(-1/2) = 0.01. */
    const float x[4] = {1, 0, 0, 1};
    const int32_t pos = 1;
    const float c1 = 0.54030231f, s1 = 0.84147098f, c2 = 0.99995000f, s2 = 0.00999983f;
    /* NORMAL pairs (0,1) and (2,3): (1,0) -> (c1, s1); (0,1) -> (-s2, c2) */
    const float want_n[4] = {c1, s1, -s2, c2};
    /* NEOX pairs (0,2) and (1,3): (1,0) -> y0=c1, y2=s1; (0,1) -> y1=-s2, y3=c2 */
    const float want_x[4] = {c1, -s2, s1, c2};
    /* Partial rotary n_rot = 2: only the first pair (theta = 1) turns. */
    const float want_p[4] = {c1, s1, 0, 1};
    /* freq_scale 0.5 halves the angles: pair (0,1) by 0.5 rad. */
    const float want_s[4] = {0.87758256f, 0.47942554f, -0.00499998f, 0.99998750f};
    for (size_t v = 0; v < g_ntabs; v++) {
        float y[4];
        kern_rope_cfg cfg = {KERN_ROPE_NORMAL, 4, 10000.0f, 1.0f};
        g_tabs[v]->rope(y, x, 4, &pos, 1, 1, 4, &cfg, false);
        rw_assert_allclose(y, want_n, 4, 1e-7, 1e-6);
        float back[4];
        g_tabs[v]->rope(back, y, 4, &pos, 1, 1, 4, &cfg, true);
        rw_assert_allclose(back, x, 4, 1e-7, 1e-6);
        cfg.mode = KERN_ROPE_NEOX;
        g_tabs[v]->rope(y, x, 4, &pos, 1, 1, 4, &cfg, false);
        rw_assert_allclose(y, want_x, 4, 1e-7, 1e-6);
        cfg.mode = KERN_ROPE_NORMAL;
        cfg.n_rot = 2;
        g_tabs[v]->rope(y, x, 4, &pos, 1, 1, 4, &cfg, false);
        rw_assert_allclose(y, want_p, 4, 1e-7, 1e-6);
        cfg.n_rot = 4;
        cfg.freq_scale = 0.5f;
        g_tabs[v]->rope(y, x, 4, &pos, 1, 1, 4, &cfg, false);
        rw_assert_allclose(y, want_s, 4, 1e-7, 1e-6);
    }
}

static void test_activations_hand(void **state) {
    (void)state;
    const float x[3] = {-1.0f, 0.0f, 1.0f};
    /* silu(1) = 1/(1+e^-1); gelu_erf(1) = Phi(1) = 0.84134475; gelu_tanh(1) = 0.84119199. */
    const float silu[3] = {-0.26894142f, 0.0f, 0.73105858f};
    const float gerf[3] = {-0.15865525f, 0.0f, 0.84134475f};
    const float gtanh[3] = {-0.15880801f, 0.0f, 0.84119199f};
    const float ex[3] = {0.36787944f, 1.0f, 2.71828183f};
    for (size_t v = 0; v < g_ntabs; v++) {
        float y[3];
        g_tabs[v]->silu(y, x, 3);
        rw_assert_allclose(y, silu, 3, 1e-7, 1e-6);
        g_tabs[v]->gelu_erf(y, x, 3);
        rw_assert_allclose(y, gerf, 3, 1e-7, 1e-6);
        g_tabs[v]->gelu_tanh(y, x, 3);
        rw_assert_allclose(y, gtanh, 3, 1e-7, 1e-6);
        g_tabs[v]->exp(y, x, 3);
        rw_assert_allclose(y, ex, 3, 0, 1e-6);
    }
}

/* ---- against the long-double implementation, every variant, awkward lengths --------- */

static void test_softmax_vs_ld(void **state) {
    (void)state;
    enum { T = 3 };
    for (size_t li = 0; li < N_LENS; li++) {
        size_t N = k_lens[li];
        float *xb = malloc((T * N + 1) * sizeof *xb), *mb = malloc((T * N + 1) * sizeof *mb);
        float *yb = malloc((T * N + 1) * sizeof *yb), lse[T];
        double *e = malloc(T * N * sizeof *e), el[T];
        float *x = xb + 1, *m = mb + 1, *y = yb + 1; /* misaligned starts */
        fill(x, T * N, -30.0f, 30.0f);
        x[0] += 1000.0f; /* stability: a large offset in row 0 */
        for (size_t i = 0; i < T * N; i++)
            m[i] = urand(0, 1) < 0.25f ? -INFINITY : urand(-2, 2);
        size_t n_valid = N > 2 ? N - 2 : N;
        for (int masked = 0; masked < 2; masked++) {
            for (int lg = 0; lg < 2; lg++) {
                for (size_t t = 0; t < T; t++)
                    ld_softmax_row(e + t * N, &el[t], x + t * N, masked ? m + t * N : NULL, N,
                                   n_valid, lg);
                for (size_t v = 0; v < g_ntabs; v++) {
                    (lg ? g_tabs[v]->log_softmax : g_tabs[v]->softmax)(y, lse, x, masked ? m : NULL,
                                                                       N, T, N, n_valid);
                    check_close(lg ? "log_softmax" : "softmax", g_tabs[v]->name, y, e, T * N,
                                lg ? 2e-5 : 1e-9, lg ? 1e-6 : 2e-6);
                    check_close("softmax lse", g_tabs[v]->name, lse, el, T, 1e-5, 1e-6);
                }
            }
        }
        /* mask_stride 0 broadcasts one row. */
        for (size_t t = 0; t < T; t++)
            ld_softmax_row(e + t * N, &el[t], x + t * N, m, N, N, 0);
        for (size_t v = 0; v < g_ntabs; v++) {
            g_tabs[v]->softmax(y, NULL, x, m, 0, T, N, N);
            check_close("softmax broadcast mask", g_tabs[v]->name, y, e, T * N, 1e-9, 2e-6);
        }
        free(xb), free(mb), free(yb), free(e);
    }
}

static void test_softmax_policy(void **state) {
    (void)state;
    for (size_t v = 0; v < g_ntabs; v++) {
        for (size_t li = 0; li < N_LENS; li++) {
            size_t N = k_lens[li];
            float *x = malloc(N * sizeof *x), *m = malloc(N * sizeof *m),
                  *y = malloc(N * sizeof *y), lse = 0;
            fill(x, N, -5, 5);
            /* Every entry masked: zeros, lse -inf; log-softmax all -inf. */
            for (size_t j = 0; j < N; j++)
                m[j] = -INFINITY;
            x[N / 2] = NAN; /* masked entries are never read */
            g_tabs[v]->softmax(y, &lse, x, m, 0, 1, N, N);
            for (size_t j = 0; j < N; j++)
                assert_true(y[j] == 0.0f);
            assert_true(isinf(lse) && lse < 0);
            g_tabs[v]->log_softmax(y, &lse, x, m, 0, 1, N, N);
            for (size_t j = 0; j < N; j++)
                assert_true(isinf(y[j]) && y[j] < 0);
            /* n_valid = 0 behaves the same. */
            g_tabs[v]->softmax(y, &lse, x, NULL, 0, 1, N, 0);
            for (size_t j = 0; j < N; j++)
                assert_true(y[j] == 0.0f);
            assert_true(isinf(lse) && lse < 0);
            /* Columns past n_valid are not read: a NaN there changes nothing. */
            fill(x, N, -5, 5);
            if (N > 1) {
                x[N - 1] = NAN;
                g_tabs[v]->softmax(y, NULL, x, NULL, 0, 1, N, N - 1);
                double s = 0;
                for (size_t j = 0; j + 1 < N; j++)
                    s += (double)y[j];
                assert_true(fabs(s - 1.0) < 1e-5 && y[N - 1] == 0.0f);
            }
            /* A NaN or +inf among included entries: included entries NaN, excluded 0. */
            for (int kind = 0; kind < 2; kind++) {
                fill(x, N, -5, 5);
                for (size_t j = 0; j < N; j++)
                    m[j] = (j % 3 == 2) ? -INFINITY : 0.0f;
                x[0] = kind ? INFINITY : NAN;
                g_tabs[v]->softmax(y, &lse, x, m, 0, 1, N, N);
                for (size_t j = 0; j < N; j++)
                    assert_true(m[j] == 0.0f ? isnan(y[j]) : y[j] == 0.0f);
                assert_true(isnan(lse));
                g_tabs[v]->log_softmax(y, &lse, x, m, 0, 1, N, N);
                for (size_t j = 0; j < N; j++)
                    assert_true(m[j] == 0.0f ? isnan(y[j]) : (isinf(y[j]) && y[j] < 0));
                /* In place: the same policy (the row is inspected before it is written). */
                if (N > 1) x[1] = -INFINITY;
                memcpy(y, x, N * sizeof *y);
                g_tabs[v]->softmax(y, NULL, y, m, 0, 1, N, N);
                for (size_t j = 0; j < N; j++)
                    assert_true((m[j] == 0.0f && j != 1) ? isnan(y[j]) : y[j] == 0.0f);
            }
            /* A -inf logit is excluded like a masked one. */
            fill(x, N, -5, 5);
            x[0] = -INFINITY;
            g_tabs[v]->softmax(y, NULL, x, NULL, 0, 1, N, N);
            assert_true(y[0] == 0.0f);
            if (N > 1) assert_false(isnan(y[1]));
            free(x), free(m), free(y);
        }
    }
}

static void test_norms_vs_ld(void **state) {
    (void)state;
    enum { T = 3 };
    for (size_t li = 0; li < N_LENS; li++) {
        size_t C = k_lens[li];
        float *xb = malloc((T * C + 1) * sizeof *xb), *yb = malloc((T * C + 1) * sizeof *yb);
        float *wb = malloc((C + 1) * sizeof *wb), *bb = malloc((C + 1) * sizeof *bb);
        float *x = xb + 1, *y = yb + 1, *w = wb + 1, *b = bb + 1, r[T], mu[T];
        double *e = malloc(T * C * sizeof *e), er[T], emu[T];
        fill(x, T * C, -3, 3);
        for (size_t c = 0; c < C; c++)
            x[c] += 100.0f; /* a row with a large mean */
        fill(w, C, 0.5f, 1.5f);
        fill(b, C, -1, 1);
        const float eps = 1e-5f;
        /* rmsnorm */
        for (size_t t = 0; t < T; t++) {
            long double ss = 0;
            for (size_t c = 0; c < C; c++)
                ss += (long double)x[t * C + c] * (long double)x[t * C + c];
            long double rr = 1.0L / sqrtl(ss / (long double)C + (long double)eps);
            er[t] = (double)rr;
            for (size_t c = 0; c < C; c++)
                e[t * C + c] = (double)((long double)x[t * C + c] * rr * (long double)w[c]);
        }
        for (size_t v = 0; v < g_ntabs; v++) {
            g_tabs[v]->rmsnorm(y, r, x, w, T, C, eps);
            check_close("rmsnorm", g_tabs[v]->name, y, e, T * C, 1e-6, 2e-6);
            check_close("rmsnorm rstd", g_tabs[v]->name, r, er, T, 0, 1e-6);
        }
        /* l2 normalize */
        for (size_t t = 0; t < T; t++) {
            long double ss = 0;
            for (size_t c = 0; c < C; c++)
                ss += (long double)x[t * C + c] * (long double)x[t * C + c];
            long double nn = sqrtl(ss);
            er[t] = (double)nn;
            for (size_t c = 0; c < C; c++)
                e[t * C + c] = (double)((long double)x[t * C + c] / nn);
        }
        for (size_t v = 0; v < g_ntabs; v++) {
            g_tabs[v]->l2_normalize(y, r, x, T, C, 1e-12f);
            check_close("l2_normalize", g_tabs[v]->name, y, e, T * C, 1e-7, 2e-7);
            check_close("l2_normalize norm", g_tabs[v]->name, r, er, T, 0, 1e-7);
        }
        /* layernorm */
        for (size_t t = 0; t < T; t++) {
            long double s = 0, q = 0;
            for (size_t c = 0; c < C; c++)
                s += (long double)x[t * C + c];
            long double m = s / (long double)C;
            for (size_t c = 0; c < C; c++)
                q += ((long double)x[t * C + c] - m) * ((long double)x[t * C + c] - m);
            long double rr = 1.0L / sqrtl(q / (long double)C + (long double)eps);
            emu[t] = (double)m, er[t] = (double)rr;
            for (size_t c = 0; c < C; c++)
                e[t * C + c] = (double)(((long double)x[t * C + c] - m) * rr * (long double)w[c] +
                                        (long double)b[c]);
        }
        for (size_t v = 0; v < g_ntabs; v++) {
            g_tabs[v]->layernorm(y, mu, r, x, w, b, T, C, eps);
            /* x - mean in f32 loses digits when |mean| >> std: 1e-5 relative to the input
             * scale (the SIMD path subtracts in f32). */
            check_close("layernorm", g_tabs[v]->name, y, e, T * C, 2e-5, 2e-6);
            check_close("layernorm mean", g_tabs[v]->name, mu, emu, T, 0, 1e-6);
            check_close("layernorm rstd", g_tabs[v]->name, r, er, T, 0, 2e-6);
            /* In place. */
            memcpy(y, x, T * C * sizeof *y);
            g_tabs[v]->layernorm(y, NULL, NULL, y, w, b, T, C, eps);
            check_close("layernorm in place", g_tabs[v]->name, y, e, T * C, 2e-5, 2e-6);
        }
        free(xb), free(yb), free(wb), free(bb), free(e);
    }
}

/* Independent rope: multiply the pair (a + ib) by e^(i theta) in long double. */
static void ld_rope(double *y, const float *x, size_t stride, const int32_t *pos, size_t T,
                    size_t H, size_t D, const kern_rope_cfg *cfg, int inverse) {
    size_t half = cfg->n_rot / 2;
    for (size_t t = 0; t < T; t++)
        for (size_t h = 0; h < H; h++) {
            const float *xh = x + t * stride + h * D;
            double *yh = y + (t * H + h) * D;
            for (size_t d = 0; d < D; d++)
                yh[d] = (double)xh[d];
            for (size_t i = 0; i < half; i++) {
                long double inv_freq = powl((long double)cfg->freq_base,
                                            -(long double)(2 * i) / (long double)cfg->n_rot);
                long double th = (long double)pos[t] * (long double)cfg->freq_scale * inv_freq;
                if (inverse) th = -th;
                size_t a = cfg->mode == KERN_ROPE_NEOX ? i : 2 * i;
                size_t b = cfg->mode == KERN_ROPE_NEOX ? i + half : 2 * i + 1;
                long double re = (long double)xh[a], im = (long double)xh[b];
                yh[a] = (double)(re * cosl(th) - im * sinl(th));
                yh[b] = (double)(re * sinl(th) + im * cosl(th));
            }
        }
}

static void test_rope_vs_ld(void **state) {
    (void)state;
    const size_t Ds[] = {2, 6, 16, 34, 64, 80, 128, 160, 256};
    for (size_t di = 0; di < sizeof Ds / sizeof Ds[0]; di++) {
        size_t D = Ds[di], H = 3, T = 4, stride = H * D + 5;
        float *xb = malloc((T * stride + 1) * sizeof *xb),
              *yb = malloc((T * stride + 1) * sizeof *yb);
        float *x = xb + 1, *y = yb + 1, *yc = malloc(T * H * D * sizeof *yc);
        double *e = malloc(T * H * D * sizeof *e);
        fill(x, T * stride, -2, 2);
        const int32_t pos[4] = {0, 1, 17, 4095};
        for (int mode = 0; mode < 2; mode++)
            for (int partial = 0; partial < 2; partial++)
                for (int inv = 0; inv < 2; inv++) {
                    kern_rope_cfg cfg = {(kern_rope_mode)mode,
                                         partial && D >= 4 ? D / 2 & ~(size_t)1 : D,
                                         mode ? 1000000.0f : 10000.0f, partial ? 0.25f : 1.0f};
                    ld_rope(e, x, stride, pos, T, H, D, &cfg, inv);
                    for (size_t v = 0; v < g_ntabs; v++) {
                        g_tabs[v]->rope(y, x, stride, pos, T, H, D, &cfg, inv);
                        for (size_t t = 0; t < T; t++)
                            memcpy(yc + t * H * D, y + t * stride, H * D * sizeof *yc);
                        /* cos/sin are rounded to f32 (about 6e-8 each), then a 2-term sum. */
                        check_close("rope", g_tabs[v]->name, yc, e, T * H * D, 5e-7, 1e-6);
                        /* in place */
                        memcpy(y, x, T * stride * sizeof *y);
                        g_tabs[v]->rope(y, y, stride, pos, T, H, D, &cfg, inv);
                        for (size_t t = 0; t < T; t++)
                            memcpy(yc + t * H * D, y + t * stride, H * D * sizeof *yc);
                        check_close("rope in place", g_tabs[v]->name, yc, e, T * H * D, 5e-7, 1e-6);
                    }
                }
        free(xb), free(yb), free(yc), free(e);
    }
}

/* The stated bound for vexp, silu, gelu (SIMD variants): |y - ref| <= 1e-6 |ref| + 1e-37
 * (relative; the absolute term only matters near the f32 subnormal range). Also reports the max
 * relative error seen where |ref| >= 1e-30. */
typedef double (*ld_fn)(float);
static double ld_exp(float x) {
    return (double)expl((long double)x);
}

static void sweep(const char *what, void (*fn)(float *, const float *, size_t), ld_fn ref,
                  const char *var, float lo, float hi, double rtol) {
    enum { N = 20001 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    double *e = malloc(N * sizeof *e);
    for (size_t i = 0; i < N; i++)
        x[i] = lo + (hi - lo) * (float)i / (float)(N - 1);
    for (size_t i = 0; i < N; i++)
        e[i] = ref(x[i]);
    fn(y, x, N);
    double worst = 0;
    for (size_t i = 0; i < N; i++)
        if (fabs(e[i]) >= 1e-30) {
            double r = fabs((double)y[i] - e[i]) / fabs(e[i]);
            if (r > worst) worst = r;
        }
    fprintf(stderr, "# %-10s %-7s max rel err %.2e on [%g, %g]\n", what, var, worst, (double)lo,
            (double)hi);
    check_close(what, var, y, e, N, 1e-37, rtol);
    free(x), free(y), free(e);
}

static void test_activation_bounds(void **state) {
    (void)state;
    for (size_t v = 0; v < g_ntabs; v++) {
        const char *n = g_tabs[v]->name;
        sweep("exp", g_tabs[v]->exp, ld_exp, n, -103.0f, 88.7f, 1e-6);
        sweep("silu", g_tabs[v]->silu, ld_silu, n, -80.0f, 80.0f, 1e-6);
        sweep("gelu_tanh", g_tabs[v]->gelu_tanh, ld_gelu_tanh, n, -12.0f, 12.0f, 1e-6);
        sweep("gelu_erf", g_tabs[v]->gelu_erf, ld_gelu_erf, n, -13.0f, 13.0f, 1e-6);
        sweep("gelu_erf", g_tabs[v]->gelu_erf, ld_gelu_erf, n, -200.0f, 200.0f, 1e-6);
        sweep("gelu_tanh", g_tabs[v]->gelu_tanh, ld_gelu_tanh, n, -200.0f, 200.0f, 1e-6);
    }
}

static void test_activations_lengths(void **state) {
    (void)state;
    for (size_t li = 0; li < N_LENS; li++) {
        size_t n = k_lens[li];
        float *gb = malloc((n + 1) * sizeof *gb), *ub = malloc((n + 1) * sizeof *ub);
        float *yb = malloc((n + 1) * sizeof *yb), *rb = malloc((n + 1) * sizeof *rb);
        float *g = gb + 1, *u = ub + 1, *y = yb + 1, *r = rb + 1;
        double *e = malloc(n * sizeof *e);
        fill(g, n, -8, 8);
        fill(u, n, -2, 2);
        for (size_t v = 0; v < g_ntabs; v++) {
            const kern_ops_table *tb = g_tabs[v];
            for (size_t i = 0; i < n; i++)
                e[i] = ld_silu(g[i]) * (double)u[i];
            tb->swiglu(y, g, u, n);
            check_close("swiglu", tb->name, y, e, n, 1e-30, 1e-5);
            for (size_t i = 0; i < n; i++)
                e[i] = ld_gelu_tanh(g[i]) * (double)u[i];
            tb->geglu(y, g, u, n);
            check_close("geglu", tb->name, y, e, n, 1e-30, 1e-5);
            for (size_t i = 0; i < n; i++)
                e[i] = ld_gelu_erf(g[i]) * (double)u[i];
            tb->geglu_erf(y, g, u, n);
            check_close("geglu_erf", tb->name, y, e, n, 1e-30, 1e-5);
            /* In place (y aliases gate). */
            memcpy(y, g, n * sizeof *y);
            tb->swiglu(y, y, u, n);
            kern_swiglu_f32_ref(r, g, u, n);
            check_close_f("swiglu in place", tb->name, y, r, n, 1e-30, 1e-5);
            /* Exact elementwise ops. */
            tb->add(y, g, u, n);
            for (size_t i = 0; i < n; i++)
                assert_true(y[i] == g[i] + u[i]);
            tb->mul(y, g, u, n);
            for (size_t i = 0; i < n; i++)
                assert_true(y[i] == g[i] * u[i]);
            tb->scale(y, g, 0.37f, n);
            for (size_t i = 0; i < n; i++)
                assert_true(y[i] == 0.37f * g[i]);
            memcpy(y, u, n * sizeof *y);
            tb->axpy(y, -1.25f, g, n);
            for (size_t i = 0; i < n; i++)
                e[i] = (double)u[i] + (double)-1.25f * (double)g[i];
            check_close("axpy", tb->name, y, e, n, 0, 1.2e-7);
        }
        free(gb), free(ub), free(yb), free(rb), free(e);
    }
}

static void test_activation_nan_policy(void **state) {
    (void)state;
    enum { N = 19 };
    for (size_t v = 0; v < g_ntabs; v++) {
        const kern_ops_table *tb = g_tabs[v];
        float x[N], y[N], one[N];
        for (size_t i = 0; i < N; i++)
            x[i] = (float)i - 9.0f, one[i] = 1.0f;
        x[3] = NAN, x[11] = NAN, x[5] = INFINITY, x[13] = -INFINITY;
        void (*fns[])(float *, const float *, size_t) = {tb->silu, tb->gelu_tanh, tb->gelu_erf};
        for (size_t f = 0; f < 3; f++) {
            fns[f](y, x, N);
            assert_true(isnan(y[3]) && isnan(y[11]));
            assert_true(y[5] == INFINITY); /* act(+inf) = +inf */
            assert_true(y[13] == 0.0f);    /* act(-inf) = 0 (the sign of the zero is free) */
        }
        tb->exp(y, x, N);
        assert_true(isnan(y[3]) && isnan(y[11]) && y[5] == INFINITY && y[13] == 0.0f);
        tb->swiglu(y, x, one, N);
        assert_true(isnan(y[3]) && isnan(y[11]));
        tb->rmsnorm(y, NULL, x + 4, NULL, 1, 15, 1e-6f); /* NaN in the row poisons it */
        for (size_t i = 0; i < 15; i++)
            assert_true(isnan(y[i]));
    }
}

/* ---- selection ------------------------------------------------------------------------ */

typedef struct ld_pair {
    float v;
    int32_t i;
} ld_pair;
static int cmp_pair(const void *a, const void *b) {
    const ld_pair *p = a, *q = b;
    if (p->v > q->v) return -1;
    if (p->v < q->v) return 1;
    return (p->i > q->i) - (p->i < q->i);
}

static void test_argmax_topk(void **state) {
    (void)state;
    for (size_t v = 0; v < g_ntabs; v++) {
        const kern_ops_table *tb = g_tabs[v];
        /* Hand cases. */
        const float a[6] = {1, 5, 2, 5, NAN, 3};
        assert_int_equal(tb->argmax(a, 6), 1);
        const float nans[3] = {NAN, NAN, NAN};
        assert_int_equal(tb->argmax(nans, 3), 0);
        assert_int_equal(tb->argmax(a, 0), 0);
        const float ninf[3] = {NAN, -INFINITY, -INFINITY};
        assert_int_equal(tb->argmax(ninf, 3), 1);
        float vals[4];
        int32_t idx[4];
        assert_int_equal(tb->topk(vals, idx, a, 6, 4), 4);
        assert_int_equal(idx[0], 1);
        assert_int_equal(idx[1], 3);
        assert_int_equal(idx[2], 5);
        assert_int_equal(idx[3], 2);
        assert_true(vals[0] == 5 && vals[2] == 3);
        assert_int_equal(tb->topk(vals, idx, nans, 3, 2), 0);
        assert_int_equal(tb->topk(vals, idx, a, 6, 0), 0);
        assert_int_equal(tb->topk(NULL, idx, a, 3, 4), 3); /* k > n */
        assert_int_equal(idx[0], 1);
        assert_int_equal(idx[1], 2);
        assert_int_equal(idx[2], 0);
        /* Random with many ties, NaN, at awkward lengths and a misaligned start. */
        for (size_t li = 0; li < N_LENS; li++) {
            size_t n = k_lens[li];
            float *xb = malloc((n + 1) * sizeof *xb), *x = xb + 1;
            for (size_t i = 0; i < n; i++)
                x[i] = (float)(int)urand(0, 20);
            if (n > 4) x[n / 3] = NAN, x[n - 1] = 25.0f, x[n - 2] = 25.0f;
            ld_pair *p = malloc(n * sizeof *p);
            size_t m = 0;
            for (size_t i = 0; i < n; i++)
                if (!isnan(x[i])) p[m].v = x[i], p[m].i = (int32_t)i, m++;
            qsort(p, m, sizeof *p, cmp_pair);
            assert_int_equal(tb->argmax(x, n), m ? (size_t)p[0].i : 0);
            size_t ks[] = {1, 3, 40, n + 2};
            for (size_t ki = 0; ki < 4; ki++) {
                size_t k = ks[ki];
                int32_t *id = malloc(k * sizeof *id);
                float *vs = malloc(k * sizeof *vs);
                size_t got = tb->topk(vs, id, x, n, k);
                assert_int_equal(got, k < m ? k : m);
                for (size_t j = 0; j < got; j++) {
                    if (id[j] != p[j].i)
                        fail_msg("topk [%s] n=%zu k=%zu: rank %zu idx %d want %d", tb->name, n, k,
                                 j, id[j], p[j].i);
                    assert_true(vs[j] == p[j].v);
                }
                free(id), free(vs);
            }
            free(p), free(xb);
        }
    }
}

/* Dispatched entry points reach the chosen table (run twice by CTest: SIMD and scalar). */
static void test_dispatch_entry_points(void **state) {
    (void)state;
    const char *env = getenv("RW_KERNELS");
    if (env && strcmp(env, "scalar") == 0) assert_string_equal(kern_ops_variant(), "scalar");
    float x[33], y[33], r[33];
    fill(x, 33, -4, 4);
    kern_gelu_erf_f32(y, x, 33);
    kern_gelu_erf_f32_ref(r, x, 33);
    check_close_f("dispatch gelu_erf", kern_ops_variant(), y, r, 33, 1e-30, 1e-5);
    kern_softmax_f32(y, NULL, x, NULL, 0, 3, 11, 11);
    kern_softmax_f32_ref(r, NULL, x, NULL, 0, 3, 11, 11);
    check_close_f("dispatch softmax", kern_ops_variant(), y, r, 33, 1e-9, 2e-6);
    assert_int_equal(kern_argmax_f32(x, 33), kern_argmax_f32_ref(x, 33));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_hand),
        cmocka_unit_test(test_norms_hand),
        cmocka_unit_test(test_rope_hand),
        cmocka_unit_test(test_activations_hand),
        cmocka_unit_test(test_softmax_vs_ld),
        cmocka_unit_test(test_softmax_policy),
        cmocka_unit_test(test_norms_vs_ld),
        cmocka_unit_test(test_rope_vs_ld),
        cmocka_unit_test(test_activation_bounds),
        cmocka_unit_test(test_activations_lengths),
        cmocka_unit_test(test_activation_nan_policy),
        cmocka_unit_test(test_argmax_topk),
        cmocka_unit_test(test_dispatch_entry_points),
    };
    return cmocka_run_group_tests(tests, setup_tables, NULL);
}
