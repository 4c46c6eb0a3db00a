/* bench-kernels: the quantized matrix kernels against this machine's limits.
 *
 * First measures read bandwidth and SGEMM (1 and N threads), then for each weight type
 * and two weight shapes (4096x4096, 768x2048; N rows x K columns):
 *   matvec  y = W x, streamed: enough copies of W are cycled that the working set exceeds
 *           the last-level cache, so GB/s is of weight bytes read from memory; ratio to the
 *           read bandwidth measured with the same thread count.
 *   matmul  Y = X W^T with a batch of 128 rows; GFLOP/s = 2*M*N*K / t; ratio to the SGEMM
 *           rate measured with the same thread count.
 * Every case is first checked against the scalar reference. Prints min and median of the
 * repetitions (rates from the median). Run from a Release build, preferably as
 *   env -u OPENBLAS_CORETYPE build/gcc/bin/bench-kernels [--json] [--threads N] [--quick] [type...]
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "core/alloc.h"
#include "core/pool.h"
#include "core/rng.h"
#include "kernels/blas.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"

static const rw_dtype k_types[] = {RW_DTYPE_F32,  RW_DTYPE_F16,  RW_DTYPE_BF16, RW_DTYPE_Q8_0,
                                   RW_DTYPE_Q4_0, RW_DTYPE_Q4_1, RW_DTYPE_Q5_0, RW_DTYPE_Q5_1,
                                   RW_DTYPE_Q4_K, RW_DTYPE_Q5_K, RW_DTYPE_Q6_K};

typedef struct mv_case {
    rw_pool *pool;
    rw_dtype t;
    int64_t N, K;
    void **W; /* ncopies weights */
    int ncopies;
    const float *x;
    float *y;
    void *scratch;
} mv_case;

static void run_matvec(void *p) {
    mv_case *c = p;
    for (int i = 0; i < c->ncopies; i++)
        kern_matvec(c->pool, c->t, c->W[i], c->N, c->K, c->x, c->y, c->scratch);
}

typedef struct mm_case {
    rw_pool *pool;
    rw_dtype t;
    int64_t N, K, M;
    const void *W;
    const float *X;
    float *Y;
    void *scratch;
} mm_case;

/* Decode-like pool load: 100 jobs of a few microseconds each (a token's worth of small
 * matvecs), timed per job. Each job is 8192 dependent multiply-adds split over the
 * threads (ideal: 2 threads take half the 1-thread time). */
typedef struct pool_case {
    rw_pool *pool;
    float *buf; /* 8192 floats, plus one result slot per thread at 8192 + 16 * ith */
} pool_case;

static void pool_job(void *p, int ith, int nth) {
    pool_case *c = p;
    size_t b, e;
    rw_split_range(8192, ith, nth, &b, &e);
    float s = 0;
    for (size_t i = b; i < e; i++) s += c->buf[i] * c->buf[i];
    c->buf[8192 + 16 * (size_t)ith] = s;
}

static void run_pool(void *p) {
    pool_case *c = p;
    for (int j = 0; j < 100; j++) rw_pool_run(c->pool, pool_job, c);
}

static void run_matmul(void *p) {
    mm_case *c = p;
    kern_matmul(c->pool, c->t, c->W, c->N, c->K, c->X, c->M, c->Y, false, c->scratch);
}

/* |got - ref| against the scalar vec_dot on the same quantized activations. */
static int check_rows(rw_dtype t, const void *W, int64_t N, int64_t K, const float *x,
                      const float *y, int64_t ystride, const char *what) {
    const kern_type_traits *tr = kern_type_get_level(t, KERN_LEVEL_SCALAR);
    const kern_type_traits *at = kern_type_get(tr->vec_dot_type);
    size_t ab = kern_row_bytes(tr->vec_dot_type, K);
    void *a = malloc(ab);
    at->from_float_ref(x, a, K);
    float *wf = malloc((size_t)K * 4);
    int bad = 0;
    for (int64_t r = 0; r < N && !bad; r += N / 7 + 1) {
        const char *w = (const char *)W + (size_t)r * kern_row_bytes(t, K);
        float ref;
        tr->vec_dot(K, &ref, w, a);
        /* matmul's sgemm path uses f32 activations: compare with a double dot too */
        tr->to_float(w, wf, K);
        double d = 0, mag = 0;
        for (int64_t k = 0; k < K; k++) {
            d += (double)wf[k] * (double)x[k];
            mag += fabs((double)wf[k] * (double)x[k]);
        }
        double got = (double)y[r * ystride];
        double tol = 0.02 * mag / sqrt((double)K) + 1e-4 * mag; /* activation quantization */
        if (fabs(got - (double)ref) > tol && fabs(got - d) > 1e-4 * mag) {
            fprintf(stderr, "%s %s row %lld: %.6g, reference %.6g / %.6g\n", what, tr->name,
                    (long long)r, got, (double)ref, d);
            bad = 1;
        }
    }
    free(a);
    free(wf);
    return bad;
}

int main(int argc, char **argv) {
    bench_opts o;
    int first_type = bench_parse_args(argc, argv, &o);
    if (first_type < 0) return 2;
    /* optional trailing type names (q8_0 q4_K ...) restrict the table */
    rw_pool *pools[2] = {NULL, NULL};
    if (rw_pool_create(1, &pools[0], NULL) != RW_OK ||
        rw_pool_create(o.threads, &pools[1], NULL) != RW_OK) {
        fprintf(stderr, "bench-kernels: cannot create thread pools\n");
        return 1;
    }
    bench_limits lim;
    bench_limits_measure(pools[1], o.quick, &lim);
    bench_print_header(&o, &lim);
    kern_blas_set_threads(1);

    {
        pool_case pc = {NULL, calloc(8192 + 16 * (size_t)o.threads, sizeof(float))};
        for (int th = 0; th < 2; th++) {
            pc.pool = pools[th];
            bench_stats ps;
            bench_time(run_pool, &pc, 3, o.quick ? 5 : 21, &ps);
            int nth = rw_pool_threads(pools[th]);
            if (o.json)
                bench_json_line(stdout, "pool", "-", "100x8192", nth, ps.median / 100 * 1e6,
                                "us/job", 0, &ps, NULL);
            else
                printf("pool:       100 jobs of 8192 elements, %d thread(s): %.2f / %.2f us per job "
                       "(min/med)\n",
                       nth, ps.min / 100 * 1e6, ps.median / 100 * 1e6);
        }
        free(pc.buf);
    }
    const int64_t shapes[2][2] = {{4096, 4096}, {768, 2048}};
    const int64_t M = 128;
    const size_t stream_bytes = (size_t)(o.quick ? 64 : 160) << 20; /* > L3 (32 MiB here) */
    int reps = o.quick ? 3 : 7, failures = 0;
    rw_rng rng;
    rw_rng_seed(&rng, 1);
    if (!o.json)
        printf("%-5s %-10s %3s | %-30s | %-32s\n", "type", "shape", "thr",
               "matvec GB/s (min/med ms) %bw", "matmul b128 GFLOP/s (med ms) %sgemm");
    for (size_t s = 0; s < 2; s++) {
        int64_t N = shapes[s][0], K = shapes[s][1];
        char shape[32];
        snprintf(shape, sizeof shape, "%lldx%lld", (long long)N, (long long)K);
        float *wf = malloc((size_t)(N * K) * 4), *X = malloc((size_t)(M * K) * 4);
        float *y = malloc((size_t)N * 4), *Y = malloc((size_t)(M * N) * 4);
        for (int64_t i = 0; i < N * K; i++)
            wf[i] = (float)(rw_rng_normal(&rng) * 0.02);
        for (int64_t i = 0; i < M * K; i++)
            X[i] = (float)rw_rng_normal(&rng);
        for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
            rw_dtype t = k_types[ti];
            const kern_type_traits *tr = kern_type_get(t);
            int wanted = first_type >= argc;
            for (int a = first_type; a < argc; a++)
                wanted |= strcmp(argv[a], tr->name) == 0;
            if (!wanted) continue;
            size_t wbytes = kern_row_bytes(t, K) * (size_t)N;
            int ncopies = (int)(stream_bytes / wbytes) + 1;
            void **W = malloc(sizeof(void *) * (size_t)ncopies);
            for (int i = 0; i < ncopies; i++) {
                W[i] = rw_aligned_alloc(64, wbytes);
                if (i == 0)
                    kern_quantize(t, wf, W[0], N, K);
                else
                    memcpy(W[i], W[0], wbytes);
            }
            for (int th = 0; th < 2; th++) {
                int nth = rw_pool_threads(pools[th]);
                if (th == 1 && nth == 1) continue;
                /* matvec */
                void *sv = rw_aligned_alloc(64, kern_matvec_scratch_bytes(t, K));
                mv_case mv = {pools[th], t, N, K, W, ncopies, X, y, sv};
                kern_matvec(pools[th], t, W[0], N, K, X, y, sv);
                failures += check_rows(t, W[0], N, K, X, y, 1, "matvec");
                bench_stats st;
                bench_time(run_matvec, &mv, 1, reps, &st);
                double per = st.median / ncopies;
                double gbs = (double)wbytes / per / 1e9;
                double bw = lim.read_gbs[th == 0 ? 0 : 1];
                /* matmul */
                size_t sb = kern_matmul_scratch_bytes(t, N, K, M, nth);
                void *sm = rw_aligned_alloc(64, sb);
                mm_case mm = {pools[th], t, N, K, M, W[0], X, Y, sm};
                run_matmul(&mm);
                failures += check_rows(t, W[0], N, K, X, Y, 1, "matmul"); /* Y row 0 */
                bench_stats sm_st;
                bench_time(run_matmul, &mm, 1, reps, &sm_st);
                double gf = 2.0 * (double)M * (double)N * (double)K / sm_st.median / 1e9;
                double sg = lim.sgemm_gflops[th == 0 ? 0 : 1];
                if (o.json) {
                    bench_stats stv = st;
                    stv.min /= ncopies;
                    stv.median /= ncopies;
                    stv.mean /= ncopies;
                    bench_json_line(stdout, "matvec", tr->name, shape, nth, gbs, "GB/s", bw, &stv,
                                    NULL);
                    bench_json_line(stdout, "matmul", tr->name, shape, nth, gf, "GFLOP/s", sg,
                                    &sm_st, "\"batch\":128");
                } else {
                    printf("%-5s %-10s %3d | %6.1f (%6.3f/%6.3f) %5.0f%% | %6.0f (%7.2f) %5.0f%%\n",
                           tr->name, shape, nth, gbs, st.min / ncopies * 1e3, per * 1e3,
                           100 * gbs / bw, gf, sm_st.median * 1e3, 100 * gf / sg);
                }
                fflush(stdout);
                rw_aligned_free(sv);
                rw_aligned_free(sm);
            }
            for (int i = 0; i < ncopies; i++)
                rw_aligned_free(W[i]);
            free(W);
        }
        free(wf);
        free(X);
        free(y);
        free(Y);
    }
    rw_pool_destroy(pools[0]);
    rw_pool_destroy(pools[1]);
    if (failures) fprintf(stderr, "bench-kernels: %d result check(s) failed\n", failures);
    return failures ? 1 : 0;
}
