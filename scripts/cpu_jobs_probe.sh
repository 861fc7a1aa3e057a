#!/usr/bin/env bash
# Does a 2-core CPU train more study-3 images per second as one run on 2 threads or as two runs
# side by side on 1 thread each (sweep.py --jobs 2)? A and B alternate, ROUNDS times, in one call,
# so machine noise hits both; the figure that counts is the ratio of the total images/s.
#   scripts/cpu_jobs_probe.sh [variant] [dataset]      # default: affine rotated (a 28-pixel cell)
# Needs a quiet machine (stop the CPU queue first: two jobs on two cores are what it measures).
# Each run: the study-3 recipe (sweeps/study3.yaml's flags), the first LIMIT training images, one epoch, 1000 test images.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
variant=${1:-affine}; dataset=${2:-rotated}; LIMIT=${LIMIT:-19200}; ROUNDS=${ROUNDS:-2}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
one() {  # name threads -> a run folder under $tmp
  OMP_NUM_THREADS=$2 "$PY" train.py --classifier=paper --loc-net=paper --st-downsample=0 --optimizer=adamw \
    --weight-decay=0.0001 --lr=0.003 --batch-size=128 --label-smoothing=0.1 --epochs=1 --eval=basic --seed=1 \
    --dataset="$dataset" --variant="$variant" --train-limit="$LIMIT" --test-limit=1000 --wandb=False \
    --out-dir "$tmp" --run-name "$1" --img "$tmp/$1.png" > "$tmp/$1.log" 2>&1 || { tail -3 "$tmp/$1.log" >&2; return 1; }
}
secs() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))[-1]['epoch_seconds'])" "$tmp/$1/metrics.json"; }
echo "variant=$variant dataset=$dataset images/run=$LIMIT rounds=$ROUNDS cores=$(nproc)"
for r in $(seq "$ROUNDS"); do
  one "a$r" 2; a=$("$PY" -c "print($LIMIT / $(secs "a$r"))")
  one "b${r}x" 1 & x=$!; one "b${r}y" 1 & y=$!
  wait $x && wait $y || { echo "a side-by-side run failed" >&2; exit 1; }
  # both runs' images over the slower one's training time (they start together; setup overlaps)
  b=$("$PY" -c "print(2 * $LIMIT / max($(secs "b${r}x"), $(secs "b${r}y")))")
  "$PY" -c "print(f'round $r: one run x 2 threads {$a:7.0f} img/s | two runs x 1 thread {$b:7.0f} img/s (total) | ratio {$b/$a:.2f}')"
done
