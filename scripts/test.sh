#!/usr/bin/env bash
# The test command: the harness's own tests (slow ones included; tests/test_fuzz.py runs the
# shipped fuzz suite's properties over every bundled and generated catalog), under
# coverage. Coverage starts before pytest so that the routecheck plugin, which pytest loads
# at start-up, is measured too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-ci}
.venv/bin/python -m coverage erase
.venv/bin/python -m coverage run -m pytest tests -q "$@"
.venv/bin/python -m coverage combine -q
.venv/bin/python -m coverage report --fail-under=90
