#!/usr/bin/env bash
# The whole check, as CI runs it: set-up with the dev extra, then lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy
# -n auto: one worker per core (at most 4: each worker imports torch); pass -n 0 to run in one process.
.venv/bin/python -m pytest -n auto --maxprocesses 4 "$@"
