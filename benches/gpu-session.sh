#!/usr/bin/env bash
# Every GPU figure of the README's speed targets in one go, for a GPU machine held for a short
# time: adapter, shaderfit's GEMMs and step profiles, PyTorch's FP32 GEMM (TF32 off), shaderfit
# against PyTorch eager on mlp and cnn, and the time to 99% test accuracy.
#
#   benches/gpu-session.sh [SHADERFIT_BINARY] [MNIST_DIR] [OUT_DIR]
#
# Defaults: target/release/shaderfit, ../shared/data/mnist, ./gpu-session. Each step's output
# goes to OUT_DIR/<step>.txt; a failing step is reported and the others still run.
set -u
bin=${1:-target/release/shaderfit}
data=${2:-../shared/data/mnist}
out=${3:-gpu-session}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"

step() {
    local name=$1
    shift
    echo "== $name: $*"
    "$@" >"$out/$name.txt" 2>&1 || echo "   FAILED (exit $?), see $out/$name.txt"
    tail -n 4 "$out/$name.txt"
}

step devices "$bin" devices
step bench "$bin" bench --sizes 1024,2048,4096 --model mlp --model cnn
step torch_gemm python3 "$here/peers/torch_gemm.py" --sizes 1024,2048,4096
for model in mlp cnn; do
    step "compare_$model" python3 "$here/peers/compare.py" --peer torch --model "$model" \
        --epochs 3 --data "$data" --shaderfit "$bin"
done
step until99 "$bin" train --model cnn --optimizer rmsprop --epochs 10 --until-accuracy 0.99 \
    --data "$data"
