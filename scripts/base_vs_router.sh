#!/usr/bin/env bash
# The README's base-vs-router table: run the golden suites on the bundled base model
# (zero-shot, same prompt) in json, on the base model in its native tool-call format (the
# hermes template), and on the reference router, then print the three side by side per
# split and category. Extra arguments go to every pytest run, e.g. --rc-no-cache.
# REPORTS_DIR picks where the runs go (default reports/base_vs_router);
# BASE_VS_ROUTER_RUNS picks the runs, in order (default "base base-native router";
# bfcl_baseline.sh keeps the two json runs; decoding_table.sh runs router and
# router-constrained, the reference router with --rc-decoding=constrained).
# Gate failures (exit status 1) are expected for the base model and are not an error here.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
reports=${REPORTS_DIR:-reports/base_vs_router}
runs=${BASE_VS_ROUTER_RUNS:-base base-native router}
for name in $runs; do
  case "$name" in
    base | base-native | router | router-constrained) ;;
    *)
      echo "BASE_VS_ROUTER_RUNS: unknown run '$name'; use base, base-native, router and router-constrained" >&2
      exit 2 ;;
  esac
done
names=()
labels=()
for name in $runs; do
  case "$name" in
    base)
      checkpoint=base flags=()
      label="base model (zero-shot, json)" ;;
    base-native)
      checkpoint=base flags=(--rc-format=native --rc-chat-template=hermes)
      label="base model (zero-shot, native)" ;;
    router)
      checkpoint=routers/customer_support flags=()
      label="reference router" ;;
    router-constrained)
      checkpoint=routers/customer_support flags=(--rc-decoding=constrained)
      label="reference router (constrained)" ;;
  esac
  echo "== $name ($checkpoint${flags[*]:+ ${flags[*]}})" >&2
  set +e
  .venv/bin/python -m pytest suites/test_golden.py suites/test_gates.py -q --no-header \
    -p no:cacheprovider --checkpoint="$checkpoint" --rc-reports-dir="$reports" \
    --rc-save-baseline="$name" --rc-max-listed=0 ${flags[@]+"${flags[@]}"} "$@" \
    | tail -n 3 >&2
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ] && [ "$status" -ne 1 ]; then
    echo "the $name run failed with exit status $status" >&2
    exit "$status"
  fi
  names+=("$name")
  labels+=(--label "$label")
done
exec .venv/bin/routecheck table "${names[@]}" --reports-dir "$reports" "${labels[@]}"
