#!/usr/bin/env bash
# Compares two shaderfit binaries on this machine in one run: the 1024^3 GEMM, and seconds
# per epoch of mlp (2 epochs, the second's) and cnn (1 epoch), validation included, each
# binary with its default shaders and the newer one also with --checked-shaders.
#   bash benches/before-after.sh OLD_BINARY NEW_BINARY [DATA_DIR]
# Prints one table (markdown) to stdout; progress to stderr.
set -euo pipefail
old="$1"; new="$2"; data="${3:-assets/mnist}"
epoch_seconds() { # the last epoch line's seconds
  grep -o 'Epoch [0-9]*/[0-9]* - [0-9.]*s' | tail -1 | sed 's/.* - \([0-9.]*\)s/\1/'
}
gemm_gflops() {
  grep -E '^ +1024³' | awk '{print $(NF-1)}'
}
echo "| binary | 1024³ GEMM GFLOP/s | mlp s/epoch | cnn s/epoch |"
echo "| --- | --- | --- | --- |"
for run in "before:$old:" "after:$new:" "after, --checked-shaders:$new:--checked-shaders"; do
  IFS=: read -r name bin flag <<<"$run"
  echo "== $name" >&2
  g=$("$bin" bench --sizes 1024 --model linear $flag 2>/dev/null | gemm_gflops)
  m=$("$bin" train --model mlp --epochs 2 --data "$data" $flag 2>&1 | epoch_seconds)
  c=$("$bin" train --model cnn --epochs 1 --data "$data" $flag 2>&1 | epoch_seconds)
  echo "| $name | $g | $m | $c |"
done
