/* bench/common: limits measurement, statistics and output shared by the bench programs. */
#include "bench_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/timer.h"
#include "kernels/blas.h"
#include "kernels/cpu.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

int bench_parse_args(int argc, char **argv, bench_opts *o) {
    o->json = false;
    o->quick = false;
    o->threads = rw_cpu_physical_cores();
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            o->json = true;
        else if (strcmp(argv[i], "--quick") == 0)
            o->quick = true;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            o->threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fprintf(stderr, "usage: %s [--json] [--quick] [--threads N]\n", argv[0]);
            return -1;
        } else
            break;
    }
    if (o->threads < 1) o->threads = 1;
    return i;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void bench_stats_from(double *s, int n, bench_stats *st) {
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += s[i];
    st->n = n;
    st->min = n ? s[0] : 0;
    st->median = n ? (n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2])) : 0;
    st->mean = n ? sum / n : 0;
}

void bench_time(bench_fn fn, void *ctx, int warmup, int reps, bench_stats *st) {
    double samples[256];
    if (reps > 256) reps = 256;
    for (int i = 0; i < warmup; i++)
        fn(ctx);
    for (int i = 0; i < reps; i++) {
        double t0 = rw_now_s();
        fn(ctx);
        samples[i] = rw_now_s() - t0;
    }
    bench_stats_from(samples, reps, st);
}

/* ---- read bandwidth ---- */

typedef struct bw_ctx {
    const uint64_t *buf;
    size_t n; /* uint64 words */
    uint64_t sink[64];
} bw_ctx;

#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint64_t read_avx2(const uint64_t *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 4)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 8)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 12)));
    }
    a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t out[4];
    _mm256_storeu_si256((__m256i *)out, a0);
    return out[0] + out[1] + out[2] + out[3];
}
#endif

static uint64_t read_scalar(const uint64_t *p, size_t n) {
    uint64_t a[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            a[k] += p[i + (size_t)k];
    return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

static void bw_worker(void *p, int ith, int nth) {
    bw_ctx *c = p;
    size_t b, e;
    rw_split_range(c->n / 16, ith, nth, &b, &e);
#if defined(__x86_64__)
    if (kern_cpu_level() >= KERN_LEVEL_AVX2) {
        c->sink[ith % 64] += read_avx2(c->buf + b * 16, (e - b) * 16);
        return;
    }
#endif
    c->sink[ith % 64] += read_scalar(c->buf + b * 16, (e - b) * 16);
}

static double measure_bw(rw_pool *pool, const uint64_t *buf, size_t n, int reps) {
    bw_ctx c;
    memset(&c, 0, sizeof c);
    c.buf = buf;
    c.n = n;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = rw_now_s();
        if (pool)
            rw_pool_run(pool, bw_worker, &c);
        else
            bw_worker(&c, 0, 1);
        double t = rw_now_s() - t0;
        if (r > 0 && t < best) best = t; /* first pass faults pages in */
    }
    if (c.sink[0] == 42) fprintf(stderr, " ");
    return (double)(n * sizeof(uint64_t)) / best / 1e9;
}

static double measure_sgemm(int threads, int size, int reps) {
    size_t nn = (size_t)size * (size_t)size;
    float *A = rw_aligned_alloc(64, nn * 4), *B = rw_aligned_alloc(64, nn * 4),
          *C = rw_aligned_alloc(64, nn * 4);
    if (!A || !B || !C) {
        rw_aligned_free(A);
        rw_aligned_free(B);
        rw_aligned_free(C);
        return 0;
    }
    for (size_t i = 0; i < nn; i++) {
        A[i] = (float)((i * 7) % 13) * 0.01f;
        B[i] = (float)((i * 5) % 11) * 0.01f;
    }
    kern_blas_set_threads(threads);
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) {
        double t0 = rw_now_s();
        kern_sgemm(false, false, size, size, size, 1.f, A, size, B, size, 0.f, C, size);
        double t = rw_now_s() - t0;
        if (r > 0 && t < best) best = t;
    }
    kern_blas_set_threads(1);
    rw_aligned_free(A);
    rw_aligned_free(B);
    rw_aligned_free(C);
    return 2.0 * size * (double)size * size / best / 1e9;
}

void bench_limits_measure(rw_pool *pool, bool quick, bench_limits *out) {
    /* 256 MiB even when quick: a 64 MiB buffer is partly served by the 32 MiB victim L3 of
     * the EPYC and read up to 1.5x the DRAM figure, which made decode's bound too high */
    size_t bytes = (size_t)256 << 20;
    size_t n = bytes / sizeof(uint64_t);
    uint64_t *buf = rw_aligned_alloc(64, bytes);
    memset(out, 0, sizeof *out);
    out->threads = pool ? rw_pool_threads(pool) : 1;
    if (buf) {
        for (size_t i = 0; i < n; i++)
            buf[i] = i;
        out->read_gbs[0] = measure_bw(NULL, buf, n, quick ? 3 : 6);
        out->read_gbs[1] = measure_bw(pool, buf, n, quick ? 3 : 6);
        rw_aligned_free(buf);
    }
    int sz = quick ? 1024 : 2048;
    out->sgemm_gflops[0] = measure_sgemm(1, sz, quick ? 1 : 3);
    out->sgemm_gflops[1] = measure_sgemm(out->threads, sz, quick ? 1 : 3);
}

const char *bench_git_sha(void) {
    static char sha[64];
    if (sha[0]) return sha;
#ifdef RW_GIT_SHA
    snprintf(sha, sizeof sha, "%s", RW_GIT_SHA);
#else
    FILE *p = popen("git rev-parse --short HEAD 2>/dev/null", "r");
    if (p) {
        if (!fgets(sha, sizeof sha, p)) sha[0] = 0;
        pclose(p);
    }
    sha[strcspn(sha, "\r\n")] = 0;
#endif
    if (!sha[0]) snprintf(sha, sizeof sha, "unknown");
    return sha;
}

const char *bench_cpu_name(void) {
    static char name[128];
    if (name[0]) return name;
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            const char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ')
                    c++;
                snprintf(name, sizeof name, "%s", c);
                name[strcspn(name, "\r\n")] = 0;
            }
            break;
        }
    }
    if (f) fclose(f);
    if (!name[0]) snprintf(name, sizeof name, "unknown");
    return name;
}

/* JSON string body with quotes and backslashes escaped. */
static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if ((unsigned char)*s >= 0x20) fputc(*s, f);
    }
    fputc('"', f);
}

void bench_json_line(FILE *f, const char *bench, const char *type, const char *shape, int threads,
                     double value, const char *unit, double limit, const bench_stats *st,
                     const char *extra) {
    fputs("{\"bench\":", f);
    json_str(f, bench);
    fputs(",\"type\":", f);
    json_str(f, type ? type : "");
    fputs(",\"shape\":", f);
    json_str(f, shape ? shape : "");
    fprintf(f, ",\"threads\":%d,\"value\":%.6g,\"unit\":", threads, value);
    json_str(f, unit);
    if (limit > 0)
        fprintf(f, ",\"ratio\":%.4f", value / limit);
    else
        fputs(",\"ratio\":null", f);
    if (st) fprintf(f, ",\"min_s\":%.6g,\"median_s\":%.6g,\"reps\":%d", st->min, st->median, st->n);
    fputs(",\"git\":", f);
    json_str(f, bench_git_sha());
    fputs(",\"cpu\":", f);
    json_str(f, bench_cpu_name());
    fputs(",\"blas_core\":", f);
    json_str(f, kern_blas_corename());
    fputs(",\"kernels\":", f);
    json_str(f, kern_level_name(kern_cpu_level()));
    if (extra && extra[0]) fprintf(f, ",%s", extra);
    fputs("}\n", f);
}

void bench_print_header(const bench_opts *o, const bench_limits *lim) {
    const char *ct = kern_blas_coretype_env();
    if (ct)
        fprintf(
            stderr,
            "warning: OPENBLAS_CORETYPE=%s is set: OpenBLAS may run slower kernels than this CPU "
            "supports (run with `env -u OPENBLAS_CORETYPE`)\n",
            ct);
    char cpu[256];
    kern_cpu_describe(cpu, sizeof cpu);
    if (o->json) {
        bench_json_line(stdout, "limit", "read_bandwidth", "", 1, lim->read_gbs[0], "GB/s", 0, NULL,
                        NULL);
        bench_json_line(stdout, "limit", "read_bandwidth", "", lim->threads, lim->read_gbs[1],
                        "GB/s", 0, NULL, NULL);
        bench_json_line(stdout, "limit", "sgemm", "", 1, lim->sgemm_gflops[0], "GFLOP/s", 0, NULL,
                        NULL);
        bench_json_line(stdout, "limit", "sgemm", "", lim->threads, lim->sgemm_gflops[1], "GFLOP/s",
                        0, NULL, NULL);
        return;
    }
    printf("cpu:        %s\n", bench_cpu_name());
    printf("kernels:    %s\n", cpu);
    printf("blas core:  %s%s%s\n", kern_blas_corename(), ct ? "  (OPENBLAS_CORETYPE=" : "",
           ct ? ct : "");
    if (ct)
        printf("            ^ forced by the environment: run with `env -u OPENBLAS_CORETYPE`)\n");
    printf("git:        %s\n", bench_git_sha());
    printf("limits:     read %.1f GB/s (1 thread), %.1f GB/s (%d threads); SGEMM %.0f GFLOP/s (1 "
           "thread), "
           "%.0f GFLOP/s (%d threads)\n",
           lim->read_gbs[0], lim->read_gbs[1], lim->threads, lim->sgemm_gflops[0],
           lim->sgemm_gflops[1], lim->threads);
    printf(
        "note:       shared machine: figures are noisy; compare the ratios taken in one run\n\n");
}
