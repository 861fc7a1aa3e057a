#!/usr/bin/env bash
# Set up (once) and run the main job: ./run.sh [train.py options]
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ] || [ requirements.txt -nt .venv/.installed ]; then
  "$PY" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  touch .venv/.installed
fi
exec .venv/bin/python train.py "$@"
