#!/usr/bin/env bash
# The GPU measurement run: every figure a GPU machine is borrowed for, in one go, on a machine
# that gets a copy of the repository, starts bare and gives back only the files written under
# one folder.
#
#   bash benches/gpu-session.sh --out DIR [--bin target/release/shaderfit] [--data assets/mnist]
#                               [--epochs 3] [--allow-cpu] [--dry-run]
#
# It measures: the devices; `bench --plan` of mlp and cnn; square f32 GEMMs at 1024, 2048 and
# 4096 with PyTorch's beside them (TF32 off); mlp and cnn seconds per epoch against PyTorch
# eager (--epochs, the median of those after the first); `train --recipe fast99`'s time to 99%
# test accuracy against PyTorch on the same recipe. DIR ends up holding three files (a borrowed
# machine gives back at most eight): summary.md, every figure (epoch times in ms) with the
# device and the date; steps.txt, how each step went; raw.tar, every step's output and log,
# appended as each step ends, so that a run cut short still brings back what it did.
#
# Each step has its own timeout; their sum, printed first, is the run's estimate and stays
# under 8 minutes. A step that fails or times out is recorded (DIR/steps.txt) and the next one
# runs. A CPU adapter is refused unless --allow-cpu. --dry-run (with --allow-cpu, on a machine
# without a GPU) uses small GEMMs and still runs every step: the test `tests/gpu_session.rs`
# runs it on lavapipe so that the real run works the first time. PyTorch's steps are skipped,
# saying why, where python3 cannot import torch.
#
# On a borrowed machine (the `device` tool): build here first (`cargo build --release`) and,
# once, fetch the Vulkan loader packages into .gl/ (the tool's README gives the apt-get line),
# then run, as one call:
#   command: bash benches/gpu-session.sh --out "$OUT"
#   carry:   ["target/release/shaderfit", ".gl"]       timeout_s: 540
set -u
cd "$(dirname "$0")/.."

bin=target/release/shaderfit
data=assets/mnist
out=""
epochs=3
allow_cpu=0
dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --allow-cpu) allow_cpu=1; shift ;;
    --dry-run) dry=1; shift ;;
    *) echo "error: unknown argument '$1'; see the header of $0" >&2; exit 2 ;;
  esac
done
if [ -z "$out" ]; then
  echo "error: --out DIR is required (on the device machine: --out \"\$OUT\")" >&2
  exit 2
fi
if [ ! -x "$bin" ]; then
  echo "error: $bin is not an executable; build it with cargo build --release and carry it" >&2
  exit 2
fi
if [ ! -f "$data/train-labels-idx1-ubyte.gz" ] && [ ! -f "$data/train-labels-idx1-ubyte" ]; then
  echo "error: $data holds no MNIST files; expected the tracked assets/mnist" >&2
  exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
date -u +%Y-%m-%dT%H:%M:%SZ >"$work/date.txt"
: >"$work/steps.txt"
rm -f "$out/raw.tar"
# keep STEM: appends the work files STEM.* to DIR/raw.tar and copies the step log into DIR.
keep() {
  (cd "$work" && tar -rf "$out/raw.tar" "$1".* 2>/dev/null)
  cp "$work/steps.txt" "$out/steps.txt"
}

# The Vulkan loader and GL libraries brought along (.gl/*.deb), unpacked where the loader looks.
if compgen -G ".gl/*.deb" >/dev/null && [ "$(id -u)" = 0 ]; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$icd" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then
  export VK_DRIVER_FILES=$icd
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi

if [ "$dry" = 1 ]; then
  sizes=64,128
else
  sizes=1024,2048,4096
fi

# The steps and their timeouts (seconds): their sum is the estimate. The plan's is the
# longest: with this adapter's kernels it runs the tuner, whose choices every later step
# reads back from its file.
budget=(devices:20 plan:75 bench:60 torch_gemm:40 mlp:30 torch_mlp:40 cnn:40 torch_cnn:50 fast99:30 torch_fast99:40)
total=0
for b in "${budget[@]}"; do total=$((total + ${b#*:})); done
echo "GPU measurement run: ${#budget[@]} steps, at most ${total} s ($((total / 60)) min $((total % 60)) s) by their timeouts; outputs in $out"
limit() { for b in "${budget[@]}"; do [ "${b%%:*}" = "$1" ] && echo "${b#*:}"; done; }

torch_ok=0
if python3 -c "import torch" >/dev/null 2>&1; then torch_ok=1; fi

# step NAME CMD...: runs CMD under NAME's timeout, its output in NAME.txt (json_step: its
# stdout in NAME.json, its stderr in NAME.txt), and records how it went.
run_step() {
  local name=$1 stdout=$2; shift 2
  local secs; secs=$(limit "$name")
  local start=$SECONDS
  echo "== $name (at most ${secs}s): $*"
  if [ "$stdout" = "$name.txt" ]; then
    timeout --kill-after=5 "$secs" "$@" >"$work/$name.txt" 2>&1
  else
    timeout --kill-after=5 "$secs" "$@" >"$work/$stdout" 2>"$work/$name.txt"
  fi
  local code=$?
  local took=$((SECONDS - start))
  case $code in
    0) echo -e "$name\tok (${took}s)" >>"$work/steps.txt" ;;
    124|137) echo -e "$name\ttimed out after ${secs}s" >>"$work/steps.txt"; echo "   timed out" ;;
    *) echo -e "$name\tfailed (exit $code, ${took}s; see $name.txt)" >>"$work/steps.txt"; echo "   failed (exit $code)" ;;
  esac
  tail -n 3 "$work/$name.txt"
  keep "$name"
  return 0
}
step() { local name=$1; shift; run_step "$name" "$name.txt" "$@"; }
json_step() { local name=$1; shift; run_step "$name" "$name.json" "$@"; }

# torch_step NAME ARGS...: a PyTorch step, or its reason for being skipped.
torch_step() {
  local name=$1; shift
  if [ "$torch_ok" = 1 ]; then
    step "$name" python3 "$@"
  else
    echo -e "$name\tskipped: python3 cannot import torch" >>"$work/steps.txt"
    echo "== $name: skipped (python3 cannot import torch)"
    keep steps
  fi
}

summarize() {
  python3 benches/peers/summarize.py "$work" >"$out/summary.md"
  keep date
}

keep date
step devices "$bin" devices
if ! grep -q "type: \(DiscreteGpu\|IntegratedGpu\|VirtualGpu\)" "$work/devices.txt"; then
  if [ "$allow_cpu" = 0 ]; then
    echo "error: no GPU adapter (see devices.txt in raw.tar); refusing to measure a CPU adapter (--allow-cpu for a dry run)" >&2
    echo -e "run\trefused: no GPU adapter" >>"$work/steps.txt"
    summarize
    exit 3
  fi
  echo "   no GPU adapter: measuring the CPU adapter, as --allow-cpu asks"
fi

json_step plan "$bin" bench --plan --kernels-for this --model mlp --model cnn --json
json_step bench "$bin" bench --sizes "$sizes" --model mlp --model cnn --json
torch_step torch_gemm benches/peers/torch_gemm.py --sizes "$sizes"

declare -A optimizer=([mlp]=adam [cnn]=rmsprop)
for model in mlp cnn; do
  step "$model" "$bin" train --model "$model" --optimizer "${optimizer[$model]}" --epochs "$epochs" \
    --data "$data" --history "$work/$model.history.json" --verbose 2
  torch_step "torch_$model" benches/peers/torch_bench.py --model "$model" --epochs "$epochs" --data "$data"
done
step fast99 "$bin" train --recipe fast99 --until-accuracy 0.99 --data "$data" \
  --history "$work/fast99.history.json" --verbose 2
torch_step torch_fast99 benches/peers/torch_bench.py --recipe fast99 --data "$data"

summarize
echo
cat "$out/summary.md"
