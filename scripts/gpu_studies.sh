#!/usr/bin/env bash
# Studies 1 and 2 (and bench.py) on one GPU box, several runs side by side.
#   OUT=results/gpu JOBS1=6 JOBS2=10 DEADLINE=480 scripts/gpu_studies.sh [extra train.py flags]
# Runs are resumable: after the deadline every running train.py checkpoints and stops; the same
# command continues. PY picks the interpreter (default: python3).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
out=${OUT:-results/gpu}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" 2>&1
"$PY" -c "import torch, kornia, timm; print('torch', torch.__version__, 'kornia', kornia.__version__, 'timm', timm.__version__, 'cuda', torch.cuda.is_available())" >> "$out/gpu.txt" 2>&1
# every fixed test set once, before parallel runs would each build it
"$PY" -c "
from common import data
for n in data.DATASETS: data.load_test_set(n, data.resolve_data_root(None), data.resolve_cache_dir(None))
" || exit 1
if [ "${BENCH:-1}" = 1 ]; then
  timeout "${BENCH_SECONDS:-120}" "$PY" bench.py --device cuda --epoch --json "$out/bench_gpu.json" > "$out/bench_gpu.log" 2>&1
fi
timeout -k 90 -s TERM "${DEADLINE:-480}" "$PY" sweep.py sweeps/study1.yaml --jobs "${JOBS1:-6}" --out-dir "$out/sweeps" -- "$@" > "$out/study1.log" 2>&1 &
timeout -k 90 -s TERM "${DEADLINE:-480}" "$PY" sweep.py sweeps/study2.yaml --jobs "${JOBS2:-10}" --out-dir "$out/sweeps" -- "$@" > "$out/study2.log" 2>&1 &
wait
