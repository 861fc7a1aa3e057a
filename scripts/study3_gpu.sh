#!/usr/bin/env bash
# Study 3 on one GPU box, in one call: choose the recipe on the validation split, then the final
# runs with it, seed 1 of every cell first, several runs side by side; then pack what came out.
#   OUT=/tmp/out JOBS=16 SEARCH_S=190 TOTAL_S=520 scripts/study3_gpu.sh [extra train.py flags]
# SEARCH_S=0 skips the search (the sweep files carry the chosen recipe); SWEEPS and SEEDS pick the
# final runs (default: study3 study3_coordconv study3_newheads, seeds 1 2 3); PARTIAL=1 also packs unfinished runs'
# checkpoints, to be resumed on another machine.
# Every run is resumable: at a deadline each running train.py checkpoints and stops, and the same
# command continues (finished runs are skipped). DATA names the MNIST root, PY the interpreter.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
out=${OUT:-results/study3}
work=${WORK:-results/study3}
jobs=${JOBS:-16}
start=$SECONDS
mkdir -p "$out" "$work/sweeps"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 WANDB_MODE=offline
[ -n "${DATA:-}" ] && export STN_DATA_ROOT="$DATA"
log="$out/study3_gpu.log"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1; nproc
  "$PY" -c "import torch, kornia, timm; print('torch', torch.__version__, 'kornia', kornia.__version__, 'timm', timm.__version__, 'cuda', torch.cuda.is_available())"; } >> "$log" 2>&1
# every fixed test set once, before parallel runs would each build it
"$PY" -c "
from common import data
for n in ['rotated', 'rts', 'projective', 'elastic', 'cluttered']: data.load_test_set(n, data.resolve_data_root(None), data.resolve_cache_dir(None))
" >> "$log" 2>&1 || exit 1
echo "setup done at $((SECONDS - start)) s" >> "$log"

# 1. the recipe, on the validation split
if [ "${SEARCH_S:-190}" -gt 0 ]; then
timeout -k 60 -s TERM "${SEARCH_S:-190}" "$PY" sweep.py sweeps/study3_recipe.yaml --jobs "$jobs" --out-dir "$work/sweeps" -- --wandb=False "$@" >> "$log" 2>&1
"$PY" scripts/study3_choose.py "$work/sweeps/study3_recipe" > "$out/recipe.md" 2>&1
recipe=$("$PY" scripts/study3_choose.py --flags "$work/sweeps/study3_recipe" 2>/dev/null) || recipe=""
echo "recipe at $((SECONDS - start)) s: ${recipe:-none chosen (no finished search runs), so the sweep files defaults}" >> "$log"
fi

# 2. the final runs with it, seed by seed (seed 1 of every cell first)
for seed in ${SEEDS:-1 2 3}; do
  for sw in ${SWEEPS:-study3 study3_coordconv study3_newheads}; do
    left=$(( ${TOTAL_S:-520} - (SECONDS - start) ))
    [ "$left" -gt 20 ] || break 2
    # shellcheck disable=SC2086
    timeout -k 60 -s TERM "$left" "$PY" sweep.py "sweeps/$sw.yaml" --jobs "$jobs" --where "seed=$seed" --out-dir "$work/sweeps" -- ${recipe:-} --wandb=False "$@" >> "$log" 2>&1
  done
done
echo "final runs stopped at $((SECONDS - start)) s" >> "$log"

# 3. pack: every run's config, metrics, logs and figures; finished runs' weights (no optimizer)
"$PY" scripts/study3_pack.py "$work/sweeps" "$out" >> "$log" 2>&1
echo "packed at $((SECONDS - start)) s" >> "$log"
