#!/usr/bin/env bash
# The full-profile rows of docs/results.md, on a GPU machine, as one script.
# Usage: bash benchmarks/gpu_full.sh [DATA_DIR]   (default: ../shared/data, else shared/data)
# Installs cnnlabs into .venv-gpu, prints the GPU, then one results.md row per model.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-}"
for candidate in "$data" ../shared/data shared/data; do
  if [ -n "$candidate" ] && [ -f "$candidate/mnist.npz" ]; then data="$candidate"; break; fi
done
[ -f "$data/mnist.npz" ] || { echo "no mnist.npz found; pass the data folder as \$1" >&2; exit 2; }
export CNNLABS_DATA_DIR="$(cd "$data" && pwd)"
python3 -m venv .venv-gpu
.venv-gpu/bin/pip install --quiet -e . 2>&1 | { grep -v "^WARNING: Location" || true; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
.venv-gpu/bin/cnnlabs info
for seed in 42 1 2; do
  .venv-gpu/bin/python benchmarks/train_row.py lenet mnist --profile full --seed "$seed" \
    --out "${OUT:-runs}/lenet-mnist-full-s$seed"
done
