#!/usr/bin/env bash
# The robustness report of docs/robustness.md: affine and iterative trained on rts (4 epochs, seed 1),
# on every one of our test sets that fits their 42x42 input (the 28x28 ones padded; cluttered, 60x60,
# cannot be) and on an RTS set from an independent generator. Raw output: results/robustness/evaluate.log
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
[ -f results/robustness/external/rts_anywhere.npz ] ||
  $PY scripts/make_external_rts.py --out results/robustness/external/rts_anywhere.npz
$PY evaluate.py results/robustness/runs/affine-rts-s1 results/robustness/runs/iterative-rts-s1 --sets all \
  --test-file rts-anywhere=results/robustness/external/rts_anywhere.npz --out results/robustness "$@"
