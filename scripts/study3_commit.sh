#!/usr/bin/env bash
# Commit the study-3 queue's progress: what scripts/study3_refresh.py rewrote (results/, the tables
# in README and docs/) and the checkpoint of the run in flight, which .gitignore otherwise keeps out,
# so that a machine that goes away mid-run (a session's end) loses at most the steps since the run's
# last checkpoint, not the run. A finished run's checkpoint is untracked again once its model.pt
# (the kept weights, written by study3_pack.py after the run) is there. Each commit of a checkpoint
# stays in the history (2-3 MB): commit progress every half hour or so, not every minute.
# Refuses when something outside results/, README.md and docs/ is staged (it would ride along).
# The tables (README, docs/, results/study3/table.md) are rewritten by scripts/study3_refresh.py
# right before the commit, and again if a run or its scores landed meanwhile: a run's final.json may land
# between the queue's own refreshes (it packs, scores and tabulates after the run), and a commit
# of the run without its tables fails the freshness tests.
# Usage: scripts/study3_commit.sh "message"      (PY: the Python to use, default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
msg=${1:?usage: scripts/study3_commit.sh "commit message"}
PY=${PY:-.venv/bin/python}
if ! git diff --cached --quiet -- . ':!results' ':!README.md' ':!docs'; then
  echo "error: files outside results/, README.md and docs/ are staged; commit or unstage them first (git diff --cached --stat)" >&2
  exit 2
fi
while IFS= read -r -d '' ck; do
  dir=$(dirname "$ck")
  if [ -e "$dir/final.json" ] && [ -e "$dir/model.pt" ]; then
    git rm -q --cached --ignore-unmatch -- "$ck"
  elif [ ! -e "$dir/final.json" ]; then
    git add -f -- "$ck"
  fi
done < <(find results/study3/sweeps -name checkpoint.pt -print0)
[ -x "$PY" ] || { echo "error: no Python at $PY: run ./run.sh once to make .venv, or pass PY=/path/to/python" >&2; exit 2; }
# what the tables are made from: finished runs, and the scores the queue writes minutes after each
inputs() {  # a folder not made yet (or gone mid-walk) is no error
  { find results/study3/sweeps results/study3/metrics results/study3/external -name '*.json' -printf '%p %T@\n' 2>/dev/null || true; } | sort | cksum
}
fresh=0
for _ in 1 2 3; do
  before=$(inputs)
  "$PY" scripts/study3_refresh.py > /dev/null || { echo "error: scripts/study3_refresh.py failed (see above); nothing committed: fix it, then commit again" >&2; exit 1; }
  git add -A -- results README.md docs
  if [ "$(inputs)" = "$before" ]; then fresh=1; break; fi  # else a run or its scores landed during the refresh: again
done
[ $fresh = 1 ] || echo "warning: the queue kept writing results during three refreshes; the tables may trail the newest of them: commit again in a minute" >&2
if git diff --cached --quiet; then
  echo "nothing to commit"
  exit 0
fi
git commit -q -m "$msg"
git log --oneline -1
