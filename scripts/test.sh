#!/usr/bin/env bash
# The test command: the harness's own tests (slow ones included), the fuzz suite, coverage.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-ci}
exec .venv/bin/python -m pytest tests suites/test_fuzz.py \
  --cov=harness --cov-report=term --cov-fail-under=90 -q "$@"
