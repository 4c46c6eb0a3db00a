#!/usr/bin/env bash
# The first-run command: installs dependencies, builds Release (gcc, run-time SIMD
# dispatch) in build/release, and runs the main job on the embedded default: for now,
# generates a tiny llama model with `rag-gguf new` and prints `rag-gguf info` of it.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
build=build/release
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRW_TESTS=OFF >/dev/null
cmake --build "$build" -j "$jobs"

out=build/quickstart
mkdir -p "$out"
bin="$build/bin"
echo "== rag-gguf new: a tiny random-weight llama with the project's embedded vocabulary"
"$bin/rag-gguf" new --arch llama --preset tiny --seed 1 --type f32 "$out/tiny-llama.gguf"
echo "== rag-gguf info"
"$bin/rag-gguf" info "$out/tiny-llama.gguf"
