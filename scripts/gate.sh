#!/usr/bin/env bash
# The main job: gate a router with the golden suites. With no arguments it evaluates the
# committed reference router on the customer-support golden set (see [tool.routecheck] in
# pyproject.toml); any pytest or routecheck option can be added, e.g.
#   bash scripts/gate.sh --checkpoint=base
#   bash scripts/gate.sh --checkpoint=path/to/adapter --rc-baseline=main
#
# The exit status is the run's, unchanged: 0 the verdict passed, 1 a gate failed (or, with
# --rc-verdict=cases, a case), 3 the run did not complete, 4 it could not start (bad
# options or files); 2 and 5 are pytest's (interrupted, no tests). A failed set-up exits 3:
# nothing was judged, so it must never read as "gates failed".
set -uo pipefail
cd "$(dirname "$0")/.."
if ! bash scripts/setup.sh; then
  echo "gate.sh: scripts/setup.sh failed, so the gate run did not start (exit 3)" >&2
  exit 3
fi
exec .venv/bin/python -m pytest suites/ -q "$@"
