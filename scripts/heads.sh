#!/usr/bin/env bash
# One real run of every head beyond affine on rts and cluttered (issues 3 and 9), the studies' recipe (4 epochs, lr 2e-3).
# none/affine on these sets come from scripts/baselines.sh. Raw logs under results/heads/.
# Env: HEADS, HEADS_DATASETS pick heads and sets; OUT the folder; arguments go to train.py, e.g.
#   HEADS_DATASETS=cluttered HEADS="none affine projective tps iterative diffeo moments" \
#   OUT=results/heads_cluttered_1ep scripts/heads.sh --epochs=1
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-results/heads}
mkdir -p "$out"
for ds in ${HEADS_DATASETS:-rts cluttered}; do
  for v in ${HEADS:-projective tps iterative diffeo moments}; do
    cmd=(.venv/bin/python train.py --variant "$v" --dataset "$ds" --out-dir "$out/runs" --run-name "$v-$ds" --img "$out/$v-$ds.png" --epochs=4 --lr=0.002 "$@")
    echo "\$ ${cmd[*]}" > "$out/$v-$ds.log"
    "${cmd[@]}" >> "$out/$v-$ds.log" 2>&1 || echo "FAILED: $v $ds" >> "$out/$v-$ds.log"
  done
done
