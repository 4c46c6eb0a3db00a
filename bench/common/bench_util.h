/* Shared helpers for every bench-* program: the machine's limits measured in the same run
 * (read bandwidth, SGEMM rate), timing statistics, one-JSON-object-per-line output, and
 * the identity of the run (git sha, CPU model, BLAS core).
 *
 * Usage: bench_init(argc, argv) parses the common flags (--json, --threads N,
 * --quick); measure limits once with bench_limits_measure(); time cases with
 * bench_time(); print with bench_report(). Not thread-safe (benchmarks are single
 * drivers). Figures on a shared machine are noisy: compare ratios taken in one run. */
#ifndef RW_BENCH_UTIL_H
#define RW_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/pool.h"

typedef struct bench_opts {
    bool json;   /* one JSON object per line on stdout instead of the table */
    bool quick;  /* fewer repetitions and smaller limits (smoke runs) */
    int threads; /* the "N threads" of the run; default physical cores */
} bench_opts;

/* Parses --json, --quick, --threads N; unknown flags are left for the caller (returns
 * the index of the first argument it did not consume, or -1 after printing usage). */
int bench_parse_args(int argc, char **argv, bench_opts *o);

typedef struct bench_stats {
    double min, median, mean; /* seconds */
    int n;
} bench_stats;

/* Sorts samples in place and fills st. */
void bench_stats_from(double *samples, int n, bench_stats *st);

typedef void (*bench_fn)(void *ctx);
/* Runs fn `warmup` times untimed, then `reps` timed runs (seconds each). */
void bench_time(bench_fn fn, void *ctx, int warmup, int reps, bench_stats *st);

typedef struct bench_limits {
    double read_gbs[2];     /* read bandwidth, [0] 1 thread, [1] n threads (GB/s, 1e9) */
    double sgemm_gflops[2]; /* OpenBLAS SGEMM 2048^3 (1024^3 with --quick), same split */
    int threads;            /* n */
} bench_limits;

/* Streams a buffer far larger than the last-level cache (256 MiB; 64 MiB with quick)
 * with `pool`'s threads and 1 thread; times OpenBLAS SGEMM at 1 and n threads (OpenBLAS's
 * thread count is restored to 1 afterwards). */
void bench_limits_measure(rw_pool *pool, bool quick, bench_limits *out);

/* "abc1234" from RW_GIT_SHA (compile definition) or `git rev-parse --short HEAD`;
 * "unknown" otherwise. Static string. */
const char *bench_git_sha(void);
/* CPU model name from /proc/cpuinfo ("unknown" if absent). Static string. */
const char *bench_cpu_name(void);

/* Prints the run header (CPU, kernel level, BLAS core, git sha, limits) as text or, with
 * json, one {"bench":"limit",...} line per limit. Warns on stderr when OPENBLAS_CORETYPE
 * is set (it forces slower kernels than the CPU supports). */
void bench_print_header(const bench_opts *o, const bench_limits *lim);

/* One JSON object on one line: bench, type, shape, threads, value, unit, ratio (value /
 * limit, or null when limit <= 0), min and median seconds, plus git, cpu, blas_core and
 * kernel level. `extra` is NULL or a preformatted `"key":value` list appended as is. */
void bench_json_line(FILE *f, const char *bench, const char *type, const char *shape, int threads,
                     double value, const char *unit, double limit, const bench_stats *st,
                     const char *extra);

#endif
