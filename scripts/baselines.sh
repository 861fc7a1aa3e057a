#!/usr/bin/env bash
# One real run per dataset for `none` and `affine` (issue 2's table), the studies' recipe (4 epochs, lr 2e-3).
# Usage: scripts/baselines.sh [extra train.py flags]; raw logs under results/baselines/.
set -uo pipefail
cd "$(dirname "$0")/.."
out=results/baselines
mkdir -p "$out"
for ds in mnist rotated rts projective elastic cluttered; do
  for v in none affine; do
    cmd=(.venv/bin/python train.py --variant "$v" --dataset "$ds" --out-dir "$out/runs" --run-name "$v-$ds" --img "$out/$v-$ds.png" --epochs=4 --lr=0.002 "$@")
    echo "\$ ${cmd[*]}" > "$out/$v-$ds.log"
    "${cmd[@]}" >> "$out/$v-$ds.log" 2>&1 || echo "FAILED: $v $ds" >> "$out/$v-$ds.log"
  done
done
