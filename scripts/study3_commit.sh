#!/usr/bin/env bash
# Commit the study-3 queue's progress: what scripts/study3_refresh.py rewrote (results/, the tables
# in README and docs/) and the checkpoint of the run in flight, which .gitignore otherwise keeps out,
# so that a machine that goes away mid-run (a session's end) loses at most the steps since the run's
# last checkpoint, not the run. A finished run's checkpoint (its folder has final.json) is untracked
# again; its model.pt is what is kept. Usage: scripts/study3_commit.sh "message"
set -euo pipefail
cd "$(dirname "$0")/.."
msg=${1:?usage: scripts/study3_commit.sh "commit message"}
root=${WORK:-results/study3}/sweeps
while IFS= read -r -d '' ck; do
  dir=$(dirname "$ck")
  if [ -e "$dir/final.json" ]; then
    git rm -q --cached --ignore-unmatch "$ck"
  else
    git add -f "$ck"
  fi
done < <(find "$root" -name checkpoint.pt -print0)
# checkpoints still tracked whose files are gone (a run folder removed by hand)
git ls-files -z --deleted -- "$root" | xargs -0 -r git rm -q --cached --
git add -A results README.md docs
git commit -q -m "$msg"
git log --oneline -1
