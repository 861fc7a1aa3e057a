#!/usr/bin/env bash
# Study 3 on a CPU, in the background, resumable: the cells the GPU box did not finish, those that
# answer the most first: the new heads' seed-1 runs the GPU cut a few epochs short (continued from
# their checkpoints where this machine has them), seed 1 of the projective and elastic sets, which
# had none, then the rest of seed 1, the CoordConv twins, then seeds 2 and 3 (deciding cells first); after each run, the
# metrics of new models (scripts/study3_metrics.sh) and their sets' independent test sets
# (scripts/study3_external.sh, logs results/study3/{metrics,external}.log), then the tables and the
# figure (scripts/study3_refresh.py). Stop it any time
# (kill, or the session ends): each run checkpoints inside its epoch and the same command continues.
#   nohup scripts/study3_cpu.sh >> results/study3/study3_cpu.log 2>&1 &   (appends: the log keeps every stretch)
# What a run and the whole grid cost on this machine: python scripts/head_costs.py (a floor; the
# finished runs' own times: results/study3/table.md).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
out=${WORK:-results/study3}/sweeps
run() {  # sweep file, then --where conditions
  local sw=$1; shift
  local where=()
  for c in "$@"; do where+=(--where "$c"); done
  echo "== $(date -u +%FT%TZ) $sw ${*}"
  local stamp; stamp=$(mktemp)
  "$PY" sweep.py "sweeps/$sw.yaml" --out-dir "$out" "${where[@]}" -- --wandb=False
  local rc=$?
  # nothing finished (every run was done already): no model to keep or score; a restart walks the list in seconds
  [ -n "$(find "$out" -name final.json -newer "$stamp" -print -quit)" ]; local new=$?; rm -f "$stamp"
  [ $rc -le 1 ] || exit $rc  # 1: some run failed (the sweep says which); a signal: stop here
  [ $new -eq 0 ] || return 0
  "$PY" scripts/study3_pack.py "$out" --in-place || echo "study3_pack.py --in-place failed (rc $?): see above"
  # the metrics of every newly kept model, and its set's models on the independent test set, here in
  # the queue: two jobs on two cores run each 5-7x slower
  [ -n "${WORK:-}" ] && return
  PY=$PY scripts/study3_metrics.sh > results/study3/metrics.log 2>&1 || echo "study3_metrics.sh failed (rc $?): run it by hand"
  local sets  # the sets of the models kept since the independent table was last written (all, before it exists)
  sets=$("$PY" scripts/kept_models.py --newer results/study3/external/table.md --datasets) || { echo "kept_models.py failed: see above"; sets=""; }
  # shellcheck disable=SC2086  # one set name per word
  [ -z "$sets" ] || PY=$PY scripts/study3_external.sh $sets > results/study3/external.log 2>&1 || echo "study3_external.sh failed (rc $?): run it by hand"
  # table.md, the tables in docs/study3.md and README, the figure: what the runs now say (the text around them is hand-written)
  "$PY" scripts/study3_refresh.py > /dev/null || echo "study3_refresh.py failed (rc $?): run it by hand"
}
# One list, in the order that answers the most per CPU-minute: first the runs with a checkpoint a few
# epochs from the end, then the cells with no run at all; the RTS follow-up on the validation split
# (sweeps/study3_rts_val.yaml: would 32 epochs or a higher learning rate close RTS's gap?
# sweeps/study3_rts_ema.yaml: would an average of the weights, with a warm-up?) once the
# two plain-CNN cells are done; CoordConv's seed 1 on RTS (the set where study 2 saw it help) beside
# its Conv twins; then the rest of seed 1's 28- and 42-pixel cells before the 60-pixel (TC) ones,
# which cost 2-4x as much each.
for cell in study3_newheads:rotated:glimpse study3_newheads:rts:glimpse study3_newheads:cluttered:glimpse \
            study3_newheads:rotated:polar study3_newheads:rts:polar study3_newheads:cluttered:polar \
            study3:projective:tps study3_newheads:rotated:pstn study3_newheads:rts:pstn study3:elastic:tps \
            study3:rts:iterative study3_newheads:cluttered:pstn study3:projective:none study3:elastic:none study3_rts_val:: study3_rts_ema:: \
            study3:rotated:affine study3:rts:affine study3_coordconv:rts:affine study3_coordconv:rts:iterative \
            study3:cluttered:affine study3:projective:affine \
            study3:elastic:affine study3:projective:iterative study3:elastic:iterative \
            study3:rts:projective study3:rts:moments study3:rotated:iterative study3:rotated:projective study3:rotated:moments \
            study3:projective:projective study3:projective:moments study3:elastic:projective study3:elastic:moments; do
  IFS=: read -r sw ds var <<< "$cell"
  if [ -n "$ds" ]; then run "$sw" seed=1 "dataset=$ds" "variant=$var"; else run "$sw"; fi  # "name::": the whole sweep
done
for sw in study3 study3_coordconv study3_newheads; do run "$sw" seed=1; done  # every seed-1 cell the list above left out
# Seeds 2 and 3 of the cells that decide the issues' questions, both seeds of a cell together (a
# mean ± sd per cell as soon as can be), cheap sets before TC: the lowest heads on RTS and R
# beside affine, their CoordConv twins and the new heads there, the paper's CNN; then the rest of
# issue 14 (its new heads on R, RTS and TC with three seeds, beside TC's recurrent head: the issue
# can close on these alone, study 3 only on the whole grid), the lowest heads on P and E, TC's
# other deciding cells; then every other cell, seed 2 before seed 3.
for cell in study3:rts:iterative study3_newheads:rts:glimpse study3:rts:affine study3_coordconv:rts:affine study3_coordconv:rts:iterative \
            study3:rotated:iterative study3_newheads:rotated:pstn study3_newheads:rts:pstn study3:rotated:affine \
            study3:rotated:none study3:rts:none \
            study3_newheads:cluttered:pstn study3:cluttered:iterative study3_newheads:cluttered:glimpse \
            study3_newheads:rotated:polar study3_newheads:rts:polar study3_newheads:cluttered:polar \
            study3:projective:tps study3:projective:affine study3:elastic:iterative study3:elastic:projective \
            study3:cluttered:none study3:cluttered:affine \
            study3_coordconv:cluttered:affine study3_coordconv:cluttered:iterative; do
  IFS=: read -r sw ds var <<< "$cell"
  for seed in 2 3; do run "$sw" "seed=$seed" "dataset=$ds" "variant=$var"; done
done
# Every other cell, one at a time, its seeds 2 and 3 together (a cell's mean ± sd as soon as can
# be), the 28- and 42-pixel sets before TC's 60-pixel ones (2-4x the cost each), in the sweeps'
# order; one call per run, so that each is packed, scored and tabulated before the next starts (one
# call for a whole sweep tabulated nothing until its last run). The sweeps' dry runs name the runs
# not finished yet.
for pass in small cluttered; do
  for sw in study3 study3_coordconv study3_newheads; do
    plan=$("$PY" sweep.py "sweeps/$sw.yaml" --out-dir "$out" --dry-run) || continue  # it says why above
    todo=$(grep -v "finished: would be skipped" <<< "$plan" | grep -e "--seed=[23] " | grep -o -- "--dataset=[a-z0-9_]* --variant=[a-z0-9_]*" | sort -u)
    [ -n "$todo" ] || continue
    cells=$(grep -e "--seed=1 " <<< "$plan" | grep -o -- "--dataset=[a-z0-9_]* --variant=[a-z0-9_]*" | grep -Fx -f <(echo "$todo")) || continue  # the grid's order
    while read -r ds var <&3; do  # the cells on fd 3: a command that reads stdin cannot eat them
      ds=${ds#--dataset=}; var=${var#--variant=}
      if [ "$ds" = cluttered ]; then [ $pass = cluttered ] || continue; else [ $pass = small ] || continue; fi
      for seed in 2 3; do run "$sw" "seed=$seed" "dataset=$ds" "variant=$var"; done
    done 3<<< "$cells"
  done
done
