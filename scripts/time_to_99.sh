#!/usr/bin/env bash
# Issue 6's time to accuracy: the default run (python train.py: affine, clean MNIST, 6 epochs,
# Adam lr 4e-3) for seeds 1-3, one after another on an otherwise idle machine. Each run's
# metrics.json holds per-epoch test accuracy and epoch_seconds (training time, evaluation excluded);
# scripts/time_to_99.py tabulates them. Usage: scripts/time_to_99.sh [extra train.py flags]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-results/time_to_99_default}
mkdir -p "$out"
for seed in 1 2 3; do
  cmd=(.venv/bin/python train.py --seed="$seed" --eval=basic --out-dir "$out/runs" --run-name "default-seed$seed" --img "$out/default-seed$seed.png" "$@")
  echo "\$ ${cmd[*]}" > "$out/default-seed$seed.log"
  "${cmd[@]}" >> "$out/default-seed$seed.log" 2>&1 || echo "FAILED: seed $seed" >> "$out/default-seed$seed.log"
done
