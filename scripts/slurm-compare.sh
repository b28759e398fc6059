#!/bin/bash
# One shard of a `shaderfit compare` per task of a Slurm job array; every argument is
# compare's. Submit as many tasks as shards, from the directory the results go to:
#
#   sbatch --array=0-3 --gres=gpu:1 scripts/slurm-compare.sh --models mlp_bn,lenet --epochs 16
#
# Task number i of the array (its position: --array=0-3, 1-4 and 0-6:2 each number their
# four tasks 0 to 3) runs shard i of as many shards as the array has tasks, and records its
# finished runs in compare-i-of-N.json as each finishes, with its log in compare-JOB_TASK.log.
# A task requeued or rerun goes on from that file, training only what it lacks. To rerun some
# shards (their tasks failed or ran out of time), name them by number and give the number of
# shards; each task's id is then its shard:
#
#   SHADERFIT_SHARDS=4 sbatch --array=1,3 --gres=gpu:1 scripts/slurm-compare.sh --models ...
#
# (a listed array, --array=1,3,7, needs SHADERFIT_SHARDS too: Slurm does not say where in the
# list a task is). When every shard has finished, join them:
#
#   shaderfit compare merge compare-*-of-4.json --report compare/
#
# `shaderfit` must be on the nodes' PATH, or SHADERFIT name it (sbatch passes the submitting
# shell's environment on, SHADERFIT_DATA included).
#SBATCH --job-name=shaderfit-compare
#SBATCH --output=compare-%A_%a.log
set -euo pipefail
shaderfit="${SHADERFIT:-shaderfit}"
fail() {
  echo "slurm-compare.sh: $*" >&2
  exit 2
}
if [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then
  fail "SLURM_ARRAY_TASK_ID is not set: this script is one task of a Slurm job array; submit it with sbatch, e.g. sbatch --array=0-3 scripts/slurm-compare.sh --models mlp_bn,lenet"
fi
id=$SLURM_ARRAY_TASK_ID
if [ -n "${SHADERFIT_SHARDS:-}" ]; then
  [[ "$SHADERFIT_SHARDS" =~ ^[1-9][0-9]*$ ]] || fail "SHADERFIT_SHARDS is '$SHADERFIT_SHARDS'; expected the number of shards, a whole number >= 1"
  n=$SHADERFIT_SHARDS
  shard=$id
  ((shard < n)) || fail "task $id is not a shard of $n (SHADERFIT_SHARDS): with SHADERFIT_SHARDS=$n the array's task ids are shards 0 to $((n - 1))"
else
  n=$SLURM_ARRAY_TASK_COUNT
  min=$SLURM_ARRAY_TASK_MIN
  step=${SLURM_ARRAY_TASK_STEP:-1}
  # A range (with or without a step) holds every id from its first to its last, a step apart;
  # a listed array does not, and its tasks' positions are nowhere to be read.
  if ((step < 1)) || (((SLURM_ARRAY_TASK_MAX - min) / step + 1 != n)) || (((id - min) % step != 0)); then
    fail "the array's task ids are not a range (a listed array, --array=1,3,7?): Slurm does not say where task $id is in it; set SHADERFIT_SHARDS to the number of shards and give each task its shard as its id (SHADERFIT_SHARDS=4 sbatch --array=1,3 ...)"
  fi
  shard=$(((id - min) / step))
fi
exec "$shaderfit" compare "$@" --shard "$shard/$n" --json "compare-$shard-of-$n.json"
