#!/usr/bin/env bash
# The GPU figures in one command: Qwen2.5-VL-7B and -3B and Qwen3-VL-Reranker-2B and -8B architectures (random bf16 weights built
# directly on the GPU, no download), yes/no vs generate at 448x448 and 1024x768, batch 1/2/4/8,
# plus memory flatness over 200 images on the 7B shape, plus the throughput engine (sequential vs prepared
# ahead, batch 1 vs auto vs 8, padding, a second query, TFLOP/s against the card's peak) on the 7B shape at
# 448x448, 1024x768 and a mix of phone/screenshot sizes. Writes JSON + text under benchmarks/out/gpu/
# and prints the combined table last. Refuses at once without CUDA.
#   usage: bash benchmarks/run_gpu.sh            (PYTHON=... to pick the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}
OUT=${OUT_DIR:-benchmarks/out/gpu}
$PY -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "run_gpu.sh: no CUDA GPU visible to torch; nothing measured")'
mkdir -p "$OUT"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null \
  || $PY -c 'import torch; print(torch.cuda.get_device_name(0))'; } | tee "$OUT/gpu.txt"
for arch in qwen2.5-vl-7b-arch qwen2.5-vl-3b-arch; do
  $PY benchmarks/throughput.py --model "$arch" --device cuda --batch-sizes 1,2,4,8 --images 32 \
      --image-sizes 448x448,1024x768 --max-pixels 1003520 --out "$OUT/throughput-$arch.json" | tee "$OUT/throughput-$arch.txt"
done
$PY benchmarks/memory.py --model qwen2.5-vl-7b-arch --device cuda --images 200 --max-pixels 1003520 \
    --out "$OUT/memory-qwen2.5-vl-7b-arch.json" | tee "$OUT/memory-qwen2.5-vl-7b-arch.txt"
for sizes in 448x448 1024x768 3024x4032,1024x768,512x512,1920x1080; do
  tag=$( [ "${sizes#*,}" = "$sizes" ] && echo "$sizes" || echo mixed )
  $PY benchmarks/engine.py --model qwen2.5-vl-7b-arch --device cuda --images 64 --batch 8 --image-sizes "$sizes" \
      --max-pixels 1003520 --out "$OUT/engine-7b-$tag.json" | tee "$OUT/engine-7b-$tag.txt"
done
# The three families side by side: Qwen3-VL-Reranker-2B and -8B shapes at their own default pixel budget.
for arch in qwen3-vl-reranker-2b-arch qwen3-vl-reranker-8b-arch; do
  for sizes in 1024x768 3024x4032,1024x768,512x512,1920x1080; do
    tag=$( [ "${sizes#*,}" = "$sizes" ] && echo "$sizes" || echo mixed )
    $PY benchmarks/engine.py --model "$arch" --device cuda --images 64 --batch 8 --image-sizes "$sizes" \
        --out "$OUT/engine-$arch-$tag.json" | tee "$OUT/engine-$arch-$tag.txt"
  done
done
$PY benchmarks/summarize.py "$OUT"/*.json | tee "$OUT/summary.md"
cat "$OUT"/engine-7b-*.txt
