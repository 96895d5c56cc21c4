#!/usr/bin/env bash
# The full-profile rows of docs/results.md, on a GPU machine, as one script.
# Usage: bash benchmarks/gpu_full.sh [SHARED_DATA_DIR]   (default: ../shared/data, else shared/data)
# Installs cnnlabs into .venv-gpu (with tensorflow[and-cuda] on Linux), builds a
# data cache in a temporary folder (links to the .npz files and chest_xray/,
# CIFAR-10 unpacked from its JPEG archive), stops unless TensorFlow sees a GPU,
# prints the GPU, then the results.md rows of each run; a run that fails says
# FAILED and the next one goes on. Run folders and logs go to $OUT (default runs/).
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
mkdir -p "$out/logs"
python3 -m venv .venv-gpu
extra=""
[ "$(uname -s)" = Linux ] && extra="tensorflow[and-cuda]"  # the CUDA libraries, from pip
.venv-gpu/bin/pip install --quiet -e . $extra 2>&1 | { grep -v "^WARNING: Location" || true; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
.venv-gpu/bin/cnnlabs info
.venv-gpu/bin/python -c "import sys; from cnnlabs import config; sys.exit(not config.gpu_names())" \
  || { echo "TensorFlow sees no GPU: these are GPU rows, so nothing was run." >&2; exit 3; }
# One benchmark: its results.md rows, or FAILED with the end of its log; the next one runs anyway.
bench() {
  local log="$out/logs/$(echo "$*" | tr -c 'A-Za-z0-9_.-' '_').log"
  if .venv-gpu/bin/python "$@" >"$log" 2>&1; then
    grep -E "^\| |^\{" "$log" || true
  else
    echo "FAILED, not measured: $* (log: $log)"; tail -n 5 "$log"
  fi
}
for seed in 42 1 2; do
  bench benchmarks/train_row.py lenet mnist --profile full --seed "$seed" \
    --out "$out/lenet-mnist-full-s$seed"
done
for model in minivggnet alexnet_cifar minigooglenet resnet_cifar; do
  bench benchmarks/train_row.py "$model" cifar10 --profile full --out "$out/$model-cifar10-full"
done
bench benchmarks/medical.py pneumoniamnist resnet_medmnist --profile full --seeds 42 1 2 \
  --out "$out"
# Transfer learning needs the ImageNet weights: a network connection, or the file
# pre-placed in the Keras cache (~/.keras/models; the error names it).
bench benchmarks/medical.py chest_xray --backbone mobilenetv2 --profile full \
  --out "$out/chest_xray-mobilenetv2-full"
