#!/usr/bin/env bash
# The test command: installs dependencies, builds the Sanitize configuration (clang,
# ASan+UBSan, warnings as errors, fuzz targets) in build/sanitize, and runs every test
# through CTest: first the numeric suites with RW_KERNELS=scalar (the scalar references),
# then everything with the run-time-selected SIMD kernels. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
build=build/sanitize
cmake -S . -B "$build" -G Ninja \
  -DCMAKE_C_COMPILER=clang \
  -DCMAKE_BUILD_TYPE=Sanitize \
  -DRW_WERROR=ON -DRW_FUZZ=ON -DRW_BENCH=ON \
  -DRW_FUZZ_SECONDS="${RW_FUZZ_SECONDS:-15}" >/dev/null
cmake --build "$build" -j "$jobs"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Tests set their own BLAS thread counts; keep OpenBLAS from oversubscribing 2 cores.
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

cd "$build"
echo "== numeric suites with RW_KERNELS=scalar"
RW_KERNELS=scalar ctest --output-on-failure -j "$jobs" -L numeric --timeout 900
echo "== every test, SIMD kernels chosen at run time"
ctest --output-on-failure -j "$jobs" --timeout 900
