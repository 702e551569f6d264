#!/usr/bin/env bash
# Train four recipes side by side on one GPU, one process each, and wait for all of them:
# the paper's protocol on DRIVE and CHASE_DB1 (configs/drive.yaml, configs/chase.yaml,
# 150 epochs) and the patch recipes configs/drive-gpu.yaml, configs/chase-gpu.yaml.
# SA-UNet is small (26 GFLOPs per 592x592 image), so the runs share the GPU; on one H200
# the four together kept it 99-100% busy (docs/training.md).
# RECIPES="..." picks others by name, from configs/ or research/configs/.
#
# Usage: tools/train_gpu.sh DATA_ROOT RUNS_DIR [MINUTES] [section.key=value ...]
#   MINUTES  (default 7) the patch recipes' time budget, and a safety stop for the paper
#            recipes (checked between epochs; a stopped run keeps its best checkpoint and
#            is still evaluated on the test split).
# Example:   tools/train_gpu.sh ../shared/data runs/gpu 7
# Each run writes RUNS_DIR/<recipe>/ (see `saunet train --help`) and RUNS_DIR/<recipe>.log.
set -euo pipefail
data=${1:?usage: tools/train_gpu.sh DATA_ROOT RUNS_DIR [MINUTES] [overrides...]}
runs=${2:?usage: tools/train_gpu.sh DATA_ROOT RUNS_DIR [MINUTES] [overrides...]}
minutes=${3:-7}
shift $(($# < 3 ? $# : 3))
python=${PYTHON:-python3}
recipes=${RECIPES:-"drive chase drive-gpu chase-gpu"}
n=$(wc -w <<<"$recipes")
threads=$(( $(nproc) / n > 0 ? $(nproc) / n : 1 ))
mkdir -p "$runs"
export PYTHONUNBUFFERED=1
pids=()
names=()
for r in $recipes; do
  config="configs/$r.yaml"
  [ -f "$config" ] || config="research/configs/$r.yaml"
  [ -f "$config" ] || { echo "tools/train_gpu.sh: no recipe $r in configs/ or research/configs/" >&2; exit 2; }
  "$python" -m saunet train --config "$config" --data-root "$data" --out "$runs/$r" \
    "train.max_minutes=$minutes" "train.threads=$threads" "$@" >"$runs/$r.log" 2>&1 &
  pids+=($!)
  names+=("$r")
  echo "started $r (pid $!), log $runs/$r.log"
done
failed=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then echo "finished ${names[$i]}"; else echo "FAILED ${names[$i]}, see $runs/${names[$i]}.log"; failed=1; fi
done
exit $failed
