#!/usr/bin/env bash
# The full-profile rows of docs/results.md, on a GPU machine, as one script.
# Usage: bash benchmarks/gpu_full.sh [SHARED_DATA_DIR]   (default: ../shared/data, else shared/data)
# Installs cnnlabs into .venv-gpu, builds a data cache in a temporary folder
# (links to the .npz files and chest_xray/, CIFAR-10 unpacked from its JPEG
# archive), prints
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
[ -d "$shared/chest_xray" ] && ln -s "$shared/chest_xray" "$CNNLABS_DATA_DIR/chest_xray"
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
.venv-gpu/bin/python benchmarks/medical.py pneumoniamnist resnet_medmnist --profile full \
  --seeds 42 1 2 --out "$out" 2>&1 | grep -E "^\| |^\{"
# Transfer learning needs the ImageNet weights: a network connection, or the file
# pre-placed in ~/.keras/models (the error names it). Without them this row is skipped.
.venv-gpu/bin/python benchmarks/medical.py chest_xray --backbone mobilenetv2 --profile full \
  --out "$out/chest_xray-mobilenetv2-full" 2>&1 | grep -E "^\| |^\{|Error" \
  || echo "chest X-ray transfer row: not measured (no output; see the error above)"
