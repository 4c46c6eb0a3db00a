#!/usr/bin/env bash
# The first-run command: installs dependencies, builds Release (gcc, run-time SIMD
# dispatch) in build/release, and runs the main job on the embedded default, end to end:
#   1. rag-gguf new      a tiny random-weight llama with the project's embedded vocabulary
#   2. rag-admin         registers the data source of the example chats (governance)
#   3. rag-train         trains a LoRA persona adapter on recipes/data/quickstart (generated
#                        "Forecaster" chats) with recipes/quickstart.toml
#   4. rag-generate      answers one held-out question greedily, without and with the adapter
# Everything lands in build/quickstart/. Nothing leaves the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
build=build/release
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRW_TESTS=OFF >/dev/null
cmake --build "$build" -j "$jobs"

out=build/quickstart
bin="$build/bin"
mkdir -p "$out"

echo
echo "== 1. rag-gguf new: a tiny random-weight llama (embedded vocabulary)"
"$bin/rag-gguf" new --arch llama --preset tiny --seed 1 "$out/tiny.gguf"
"$bin/rag-gguf" info "$out/tiny.gguf" | grep -E '^(parameters|architecture|tokenizer):'

echo
echo "== 2. rag-admin: the example chats come from a public source"
if ! "$bin/rag-admin" --db "$out/rag.db" sources --json | grep -q '"quickstart-persona"'; then
  "$bin/rag-admin" --db "$out/rag.db" source add quickstart-persona --class public \
    --description "generated quickstart persona chats"
fi
"$bin/rag-admin" --db "$out/rag.db" sources

echo
echo "== 3. rag-train: a LoRA persona adapter (recipes/quickstart.toml)"
rm -rf "$out/run"   # a fresh run each time (a kept run would need --resume)
"$bin/rag-train" --recipe recipes/quickstart.toml

question="What is your advice on the garden?"
echo
echo "== 4. rag-generate, greedy, for a question it did not train on: \"$question\""
echo "-- base model:"
"$bin/rag-generate" "$out/tiny.gguf" --chat --template chatml --prompt "$question" -n 60 --temp 0
echo
echo "-- with the adapter ($out/run/quickstart.gguf):"
"$bin/rag-generate" "$out/tiny.gguf" --chat --template chatml --prompt "$question" -n 60 --temp 0 \
  --lora "$out/run/quickstart.gguf"
echo
echo "Done. Metrics: $out/run/metrics.jsonl; data manifest: $out/run/manifest.json"
