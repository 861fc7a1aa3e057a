#!/usr/bin/env bash
# Study 3's finished models on test sets we did not make: scripts/make_external_sets.py writes the
# five protocols again with other tools and other draws; each kept model is scored on our test set
# and on that one, side by side (evaluate.py --out: sets.md, sets.json, sets.png). Any other
# results/study3/external/<set>_<variant>.npz (e.g. cluttered_anywhere) is scored the same way.
# Only models not scored there yet (or trained again since: models.json holds the weights' sha256) are
# evaluated, as one batch: results/study3/external/<name>/<UTC stamp>/ (a set's first reports sit in
# <name>/ itself); to score a set's models again, delete its folder.
#   scripts/study3_external.sh                     # every set; all the batches in one table: results/study3/external/table.md
#   scripts/study3_external.sh projective elastic  # only these sets (after new models of theirs); the table keeps the rest
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
ext=results/study3/external
only=" ${*:-rotated rts projective elastic cluttered} "
for set in $only; do
  case " rotated rts projective elastic cluttered " in *" $set "*) ;; *) echo "error: unknown set $set; name some of (space-separated) rotated rts projective elastic cluttered" >&2; exit 2;; esac
done
exec 9> results/study3/.evaluate.lock  # evaluate.py writes into the run folders: one script at a time
flock 9
for set in $only; do
  [ -f "$ext/$set.npz" ] || "$PY" scripts/make_external_sets.py --sets "$set" --out-dir "$ext"
done
for npz in "$ext"/*.npz; do
  name=$(basename "$npz" .npz); set=${name%%_*}
  case "$only" in *" $set "*) ;; *) continue;; esac
  mapfile -t runs < <("$PY" scripts/kept_models.py --dataset "$set" --unscored "$ext/$name"; echo "rc=$?")
  [ "${runs[-1]}" = rc=0 ] || exit 2  # a damaged config.json or report: named on stderr
  unset 'runs[-1]'
  [ ${#runs[@]} -gt 0 ] || continue
  echo "== $name: ${#runs[@]} models not scored there yet"
  # the runs' own eval/ folders are scratch here (untracked); their full reports live in results/study3/metrics
  batch=$ext/$name/$(date -u +%Y%m%dT%H%M%SZ)
  "$PY" evaluate.py "${runs[@]}" --sets "$set" --test-file "$set-ext=$npz" --curves false --wandb false --out "$batch"
  "$PY" scripts/kept_models.py --fingerprints "${runs[@]}" > "$batch/.models.json.tmp" && mv "$batch/.models.json.tmp" "$batch/models.json"  # which weights were scored
  # which bytes they were scored on: the set's record (its sha256; torchvision-made sets differ in bytes between CPUs,
  # results/study3/external/sets_across_machines.log)
  [ ! -f "$npz.md" ] || cp "$npz.md" "$batch/set.npz.md"
done
"$PY" scripts/study3_external_table.py > "$ext/.table.md.tmp" && mv "$ext/.table.md.tmp" "$ext/table.md" && cat "$ext/table.md"
