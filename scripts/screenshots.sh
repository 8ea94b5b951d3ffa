#!/usr/bin/env bash
# Regenerate the report screenshots in docs/img/ (desktop 1440 px, phone 390 px) from a
# realistic mock run with a baseline, rendered and shot in headless Chromium.
# Usage: scripts/screenshots.sh [OUT_DIR]   (needs Chromium: apt-get install chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" scripts/screenshots.py "$@"
