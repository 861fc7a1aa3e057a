#!/usr/bin/env bash
# Study 3's evaluation metrics, for the question "which metrics tell models apart": evaluate.py on
# every finished kept model (scripts/kept_models.py: results/study3/sweeps/*/runs/*/model.pt), its eval.json and config
# mirrored under results/study3/metrics/<run>/ (the run folders' own eval/ stays untracked), then
# the per-run table and the rank agreement of each metric with the error, per training set.
#   scripts/study3_metrics.sh            # resumable: models already mirrored are skipped
# About a minute per model on a 2-core CPU with nothing else running.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
dst=results/study3/metrics
mkdir -p "$dst"
exec 9> results/study3/.evaluate.lock  # evaluate.py writes into the run folders: one script at a time
flock 9
failed=0
models=$("$PY" scripts/kept_models.py) || exit 2  # a damaged config.json: named on stderr
for run in $models; do
  name=$(basename "$run")
  [ -f "$dst/$name/eval/eval.json" ] && continue
  echo "== $(date -u +%FT%TZ) $name"
  if ! "$PY" evaluate.py "$run" --wandb=False > /dev/null || ! grep -q '"robustness"' "$run/eval/eval.json"; then
    echo "evaluate.py failed on $run (or wrote no curves); skipped" >&2; failed=1; continue
  fi
  mkdir -p "$dst/$name/eval"
  cp "$run/config.json" "$dst/$name/"
  cp "$run/eval/eval.json" "$run/eval/eval.md" "$dst/$name/eval/"
done
for seed in 1 2 3; do
  "$PY" scripts/metrics_table.py "$dst" --seed "$seed" > /dev/null 2>&1 || continue  # no evaluated run of this seed yet
  { echo "### seed $seed: metrics on each run's own test set"; echo
    "$PY" scripts/metrics_table.py "$dst" --seed "$seed"; echo
    echo "### seed $seed: rank agreement of each metric with the error (Spearman, +1 = same order)"; echo
    "$PY" scripts/metric_agreement.py "$dst" --seed "$seed"; echo; } > "$dst/.seed$seed.md.tmp"
  mv "$dst/.seed$seed.md.tmp" "$dst/seed$seed.md"
  cat "$dst/seed$seed.md"
done
exit $failed
