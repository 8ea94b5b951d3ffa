#!/usr/bin/env bash
# The README's base-vs-router table: run the golden suites on the bundled base model
# (zero-shot, same prompt) and on the reference router, then print both side by side per
# split and category. Extra arguments go to both pytest runs, e.g. --rc-no-cache;
# REPORTS_DIR picks where the runs go (default reports/base_vs_router).
# Gate failures (exit status 1) are expected for the base model and are not an error here.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
reports=${REPORTS_DIR:-reports/base_vs_router}
for spec in base:base router:routers/customer_support; do
  name=${spec%%:*}
  checkpoint=${spec#*:}
  echo "== $name ($checkpoint)" >&2
  set +e
  .venv/bin/python -m pytest suites/test_golden.py suites/test_gates.py -q --no-header \
    -p no:cacheprovider --checkpoint="$checkpoint" --rc-reports-dir="$reports" \
    --rc-save-baseline="$name" "$@" | tail -n 3 >&2
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ] && [ "$status" -ne 1 ]; then
    echo "the $name run failed with exit status $status" >&2
    exit "$status"
  fi
done
exec .venv/bin/routecheck table base router --reports-dir "$reports" \
  --label "base model (zero-shot)" --label "reference router"
