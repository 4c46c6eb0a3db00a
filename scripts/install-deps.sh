#!/usr/bin/env bash
# Installs every Debian package rag-workbench needs. Idempotent: runs `apt-get update`
# only when something is missing, and prints nothing when all is present.
# Works as root or through sudo. Add a package here whenever the project starts using it.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang libclang-rt-14-dev llvm
  # numeric
  libopenblas-dev liblapacke-dev libgsl-dev
  # storage and formats
  libsqlite3-dev libjansson-dev libhdf5-dev libssl-dev
  # text
  libpcre2-dev libutf8proc-dev
  # server
  libmicrohttpd-dev
  # tests (the aarch64 cross compiler checks that core/ and kernels/ build off x86)
  libcmocka-dev gcc-aarch64-linux-gnu
  # reports: SVG charts, and headless rendering check of report.html
  libcairo2-dev chromium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
