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
# BFCL is scored in json format: only the json runs of base_vs_router.sh (it adds
# --rc-max-listed=0 itself).
BASE_VS_ROUTER_RUNS="base router" REPORTS_DIR="$out" exec bash scripts/base_vs_router.sh \
  --rc-golden="$out/golden" --rc-gate-split=all
