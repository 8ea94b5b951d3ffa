#!/usr/bin/env bash
# The README's BFCL baseline: import BFCL's simple_python and irrelevance categories from a
# local copy (default ../shared/bfcl), run the suites on the bundled base model (zero-shot)
# and on the reference router in json format, and print both side by side. The imported
# data is written under reports/ (not committed). Gate failures (exit status 1) are
# expected here: these numbers are a baseline, not a target.
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-../shared/bfcl}
bash scripts/setup.sh
out=reports/bfcl
rm -rf "$out/golden"
.venv/bin/routecheck import bfcl "$src" --category simple_python --category irrelevance \
  --answers "$src/possible_answer" --out "$out/golden"
for spec in base:base router:routers/customer_support; do
  name=${spec%%:*}
  checkpoint=${spec#*:}
  echo "== $name ($checkpoint)" >&2
  set +e
  .venv/bin/python -m pytest suites/test_golden.py suites/test_gates.py -q --no-header \
    -p no:cacheprovider --checkpoint="$checkpoint" --rc-golden="$out/golden" \
    --rc-gate-split=all --rc-reports-dir="$out" --rc-save-baseline="$name" --rc-max-listed=0 \
    | tail -n 3 >&2
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ] && [ "$status" -ne 1 ]; then
    echo "the $name run did not complete (exit status $status)" >&2
    exit "$status"
  fi
done
exec .venv/bin/routecheck table base router --reports-dir "$out" \
  --label "base model (zero-shot)" --label "reference router"
