#!/usr/bin/env bash
# The main job: gate a router with the golden suites. With no arguments it evaluates the
# committed reference router on the customer-support golden set (see [tool.routecheck] in
# pyproject.toml); any pytest or routecheck option can be added, e.g.
#   bash scripts/gate.sh --checkpoint=base
#   bash scripts/gate.sh --checkpoint=path/to/adapter --rc-baseline=main
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest suites/ -q "$@"
