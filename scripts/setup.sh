#!/usr/bin/env bash
# Set up segbench in ./.venv on a fresh machine.
#   bash scripts/setup.sh        runtime install (torch pinned by constraints.txt), editable
#   bash scripts/setup.sh dev    plus the test tools and the peer libraries used as test oracles
# Safe to rerun: pip skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# torch first, pinned, so that no later requirement can pull a CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || "${PIP[@]}" -c constraints.txt "torch==2.13.0"
if [ "${1:-}" = "dev" ]; then
  "${PIP[@]}" -c constraints.txt -e ".[dev,nifti]"
else
  "${PIP[@]}" -c constraints.txt -e .
fi
