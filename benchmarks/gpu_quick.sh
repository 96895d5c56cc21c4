#!/usr/bin/env bash
# A short GPU slot: under 9 minutes end to end on one H100/H200-class GPU, installation
# included. Usage: bash benchmarks/gpu_quick.sh [SHARED_DATA_DIR]
#   (default: ../shared/data, else shared/data; BUDGET=seconds for the whole script, 510)
# In priority order, each step printing its rows as soon as they are measured:
#   1. the airbench94 recipe (`full` profile): as many runs as fit, at least 3; mean, min
#      and max test accuracy and seconds to 94% (benchmarks/airbench.py);
#   2. training steps/s of one model of each CIFAR-10 family, float32 against mixed
#      precision with XLA, and their ratio, in one process (benchmarks/precision_speed.py);
#   3. LeNet `full` on MNIST (one seed), then 4. MiniVGGNet `full` on CIFAR-10, each only if
#      its estimated time is left.
# Every step runs under `timeout` with the time left, so the script ends within BUDGET
# seconds after the installation. It installs cnnlabs into .venv-gpu (with
# tensorflow[and-cuda] on Linux) unless TensorFlow already imports there, builds a data
# cache in a temporary folder, and stops unless TensorFlow sees a GPU. The CIFAR-10 copy
# is JPEG (quality 75): its accuracies are about half a point below the exact images'.
# gpu_full.sh is the long-slot script. Logs and run folders go to $OUT (default runs/).
set -u -o pipefail
cd "$(dirname "$0")/.."
budget="${BUDGET:-510}"
shared="${1:-}"
for candidate in "$shared" ../shared/data shared/data; do
  if [ -n "$candidate" ] && [ -f "$candidate/mnist.npz" ]; then shared="$candidate"; break; fi
done
[ -f "$shared/mnist.npz" ] || { echo "no mnist.npz found; pass the data folder as \$1" >&2; exit 2; }
[ -f "$shared/cifar10_jpg.tar.gz" ] || { echo "no cifar10_jpg.tar.gz in $shared" >&2; exit 2; }
shared="$(cd "$shared" && pwd)"
out="${OUT:-runs}"
mkdir -p "$out/logs"

python=.venv-gpu/bin/python
if ! "$python" -c "import tensorflow, cnnlabs" 2>/dev/null; then
  python3 -m venv .venv-gpu
  extra=""
  [ "$(uname -s)" = Linux ] && extra="tensorflow[and-cuda]"  # the CUDA libraries, from pip
  .venv-gpu/bin/pip install --quiet -e . $extra 2>&1 | { grep -v "^WARNING: Location" || true; }
fi
export CNNLABS_DATA_DIR="$(mktemp -d)"
ln -s "$shared"/*.npz "$CNNLABS_DATA_DIR/"
mkdir -p "$CNNLABS_DATA_DIR/cifar10"
tar -xzf "$shared/cifar10_jpg.tar.gz" -C "$CNNLABS_DATA_DIR/cifar10"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
"$python" -c "import sys; from cnnlabs import config; sys.exit(not config.gpu_names())" \
  || { echo "TensorFlow sees no GPU: these are GPU rows, so nothing was run." >&2; exit 3; }
echo "set up in ${SECONDS} s; budget ${budget} s"

left() { echo $((budget - SECONDS)); }
# step NAME ESTIMATE_SECONDS COMMAND...: run COMMAND if ESTIMATE_SECONDS are left, under
# `timeout` with the time left; print its table rows as they come, or why it did not run.
step() {
  local name="$1" estimate="$2"; shift 2
  local log="$out/logs/quick_${name}.log"
  if [ "$(left)" -lt "$estimate" ]; then
    echo "SKIPPED $name: $(left) s left, about $estimate s needed"; return
  fi
  echo "== $name (at ${SECONDS} s; $(left) s left)"
  timeout --signal=INT --kill-after=15 "$(left)" "$python" -u "$@" 2>&1 | tee "$log" \
    | { grep --line-buffered -E "^\| |^stopping" || true; }
  local status="${PIPESTATUS[0]}"
  if [ "$status" -eq 124 ] || [ "$status" -eq 130 ]; then
    echo "STOPPED $name at the budget (log: $log)"
  elif [ "$status" -ne 0 ]; then
    echo "FAILED $name (exit $status; log: $log)"; tail -n 5 "$log"
  fi
}

# 1. airbench94: at least 3 runs; no new run once the time kept for step 2 is reached.
minutes=$(awk -v left="$(left)" 'BEGIN { m = (left - 150) / 60; printf "%.1f", (m < 1 ? 1 : m) }')
step airbench94 60 benchmarks/airbench.py --profile full --runs 20 --min-runs 3 \
  --minutes "$minutes" --out "$out/quick-airbench94"
# 2. float32 against mixed precision with XLA, one CIFAR family after another.
step precision_speed 45 benchmarks/precision_speed.py --budget $(( $(left) - 40 ))
# 3. and 4., if time is left.
step lenet_full 90 benchmarks/train_row.py lenet mnist --profile full --seed 42 \
  --out "$out/quick-lenet-mnist-full"
step minivggnet_full 300 benchmarks/train_row.py minivggnet cifar10 --profile full \
  --out "$out/quick-minivggnet-cifar10-full"
echo "done in ${SECONDS} s"
