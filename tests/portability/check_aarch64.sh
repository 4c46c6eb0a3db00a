#!/usr/bin/env bash
# Portability check: core/ and kernels/ must compile for aarch64 without the x86 SIMD files
# (cmake/rw.cmake drops *_avx2.c / *_avx512.c off x86; C code names those kernels only under
# KERN_X86), and leave no kern_/rw_ symbol undefined. Compile and partial link only: the
# arm64 OpenBLAS is not installed. Exit 77 (skip) without the cross compiler.
# usage: check_aarch64.sh SOURCE_DIR BINARY_DIR
set -euo pipefail
src=$1 bin=$2
cc=aarch64-linux-gnu-gcc
command -v "$cc" >/dev/null || { echo "skip: $cc not installed (scripts/install-deps.sh installs it)"; exit 77; }
cblas=$(dirname "$(find /usr/include -name cblas.h -print -quit)")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
n=0
for f in "$src"/core/*.c "$src"/kernels/*.c; do
  case $f in *_avx2.c | *_avx512.c) continue ;; esac
  "$cc" -std=c11 -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$bin/include/core" \
    -I"$bin/include/kernels" -I"$cblas" -c "$f" -o "$out/$(basename "$f").o"
  n=$((n + 1))
done
aarch64-linux-gnu-ld -r -o "$out/all.o" "$out"/*.o
undef=$(aarch64-linux-gnu-nm -u "$out/all.o" | awk '{print $2}' | grep -E '^(kern_|rw_)' || true)
if [ -n "$undef" ]; then
  echo "FAIL: undefined on aarch64:"; echo "$undef"; exit 1
fi
echo "ok: $n files of core/ and kernels/ compile for aarch64, no kern_/rw_ symbol undefined"
