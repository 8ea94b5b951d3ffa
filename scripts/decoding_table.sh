#!/usr/bin/env bash
# The README's free-vs-constrained table: the golden suites on the reference router with
# free decoding (the suites' default) and with --rc-decoding=constrained, side by side per
# split and category (reports in reports/decoding; extra arguments go to both runs).
set -euo pipefail
cd "$(dirname "$0")/.."
REPORTS_DIR=${REPORTS_DIR:-reports/decoding} BASE_VS_ROUTER_RUNS="router router-constrained" \
  exec bash scripts/base_vs_router.sh "$@"
