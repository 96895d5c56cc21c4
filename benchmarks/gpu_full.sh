#!/usr/bin/env bash
# The full-profile rows of docs/results.md, on a GPU machine, as one script.
# Usage: bash benchmarks/gpu_full.sh [SHARED_DATA_DIR]   (default: ../shared/data, else shared/data)
# Installs cnnlabs into .venv-gpu, builds a data cache in a temporary folder
# (links to the .npz files, CIFAR-10 unpacked from its JPEG archive), prints
# the GPU, then one results.md row per run. Set OUT to keep the run folders.
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${1:-}"
for candidate in "$shared" ../shared/data shared/data; do
  if [ -n "$candidate" ] && [ -f "$candidate/mnist.npz" ]; then shared="$candidate"; break; fi
done
[ -f "$shared/mnist.npz" ] || { echo "no mnist.npz found; pass the data folder as \$1" >&2; exit 2; }
shared="$(cd "$shared" && pwd)"
export CNNLABS_DATA_DIR="$(mktemp -d)"
ln -s "$shared"/*.npz "$CNNLABS_DATA_DIR/"
if [ -f "$shared/cifar10_jpg.tar.gz" ]; then
  mkdir -p "$CNNLABS_DATA_DIR/cifar10"
  tar -xzf "$shared/cifar10_jpg.tar.gz" -C "$CNNLABS_DATA_DIR/cifar10"
fi
out="${OUT:-runs}"
python3 -m venv .venv-gpu
.venv-gpu/bin/pip install --quiet -e . 2>&1 | { grep -v "^WARNING: Location" || true; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
.venv-gpu/bin/cnnlabs info
row() { .venv-gpu/bin/python benchmarks/train_row.py "$@" 2>&1 | grep -E "^\| |^\{" ; }
for seed in 42 1 2; do
  row lenet mnist --profile full --seed "$seed" --out "$out/lenet-mnist-full-s$seed"
done
for model in minivggnet alexnet_cifar minigooglenet resnet_cifar; do
  row "$model" cifar10 --profile full --out "$out/$model-cifar10-full"
done
