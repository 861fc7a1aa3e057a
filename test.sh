#!/usr/bin/env bash
# Set up (once) and run the test suite: ./test.sh [pytest options]
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ] || [ requirements-dev.txt -nt .venv/.installed-dev ] || [ requirements.txt -nt .venv/.installed-dev ]; then
  "$PY" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  touch .venv/.installed-dev
fi
exec .venv/bin/python -m pytest -q --durations=8 "$@"
