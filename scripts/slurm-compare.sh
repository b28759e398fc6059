#!/bin/bash
# One shard of a `shaderfit compare` per task of a Slurm job array; every argument is
# compare's. Submit as many tasks as shards, from the directory the results go to:
#
#   sbatch --array=0-3 --gres=gpu:1 scripts/slurm-compare.sh --models mlp_bn,lenet --epochs 16
#
# Each task writes compare-JOB-TASK.json (and its log compare-JOB_TASK.log) there; when every
# task has finished, join them:
#
#   shaderfit compare merge compare-JOB-*.json --report compare/
#
# `shaderfit` must be on the nodes' PATH, or SHADERFIT name it (sbatch passes the submitting
# shell's environment on, SHADERFIT_DATA included).
#SBATCH --job-name=shaderfit-compare
#SBATCH --output=compare-%A_%a.log
set -euo pipefail
shaderfit="${SHADERFIT:-shaderfit}"
# Shards are numbered from 0 whatever the array's first index (--array=1-4 works too).
shard=$((SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN))
exec "$shaderfit" compare "$@" --shard "$shard/$SLURM_ARRAY_TASK_COUNT" \
  --json "compare-$SLURM_ARRAY_JOB_ID-$SLURM_ARRAY_TASK_ID.json"
