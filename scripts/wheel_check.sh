#!/usr/bin/env bash
# The suites from a built wheel, as a user gets them from `pip install routecheck`: build
# the wheel, install it into a fresh virtual environment (no system site-packages; the
# wheel with --no-deps plus only its light [project] dependencies, no torch), then, from a
# folder outside the repository, gate a gold replay with `routecheck run` and
# `pytest --pyargs harness.suites` (exit status 0), gate a replay that answers no_tool to
# everything (exit status 1: the check can fail), and run the opt-in fuzz suite.
# PYTHON picks the interpreter that builds the wheel and the venv (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
PY=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "wheel-check: building the wheel" >&2
"$PY" -m pip wheel . --no-deps -q --disable-pip-version-check -w "$work/dist"
wheel=$(ls "$work"/dist/routecheck-*.whl)

echo "wheel-check: installing $(basename "$wheel") into a fresh venv" >&2
"$PY" -m venv "$work/venv"
vpy="$work/venv/bin/python"
"$PY" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
  >"$work/requirements.txt"
"$vpy" -m pip install -q --disable-pip-version-check -r "$work/requirements.txt"
"$vpy" -m pip install -q --disable-pip-version-check --no-deps "$wheel"

mkdir "$work/outside"
cd "$work/outside"
installed=$("$vpy" -c 'import harness, pathlib; print(pathlib.Path(harness.__file__).parent)')
case "$installed" in
  "$work/venv/"*) ;;
  *) echo "wheel-check: harness imported from $installed, not the venv" >&2; exit 1 ;;
esac
"$work/venv/bin/routecheck" gold-replay "$repo/golden" -o gold.jsonl
"$vpy" - <<'PY'
import json
rows = [json.loads(line) for line in open("gold.jsonl", encoding="utf-8")]
with open("no_tool.jsonl", "w", encoding="utf-8") as out:
    for row in rows:
        row["output"] = json.dumps({"tool": "no_tool", "reason": "unsure"})
        out.write(json.dumps(row) + "\n")
PY

expect() {  # expect STATUS COMMAND...: run COMMAND, fail unless it exits with STATUS
  local want=$1
  shift
  set +e
  "$@" >"$work/out.txt" 2>&1
  local got=$?
  set -e
  if [ "$got" -ne "$want" ]; then
    tail -n 30 "$work/out.txt" >&2
    echo "wheel-check: FAILED: exit status $got, expected $want: $*" >&2
    exit 1
  fi
  echo "wheel-check: ok (exit $got): ${*:1:3} ..." >&2
}
common=(--rc-golden="$repo/golden" --rc-reports-dir=reports -q -p no:cacheprovider)
expect 0 "$work/venv/bin/routecheck" run --checkpoint=mock:gold.jsonl "${common[@]}"
grep -q "passed" "$work/out.txt"
expect 0 "$vpy" -m pytest --pyargs harness.suites --checkpoint=mock:gold.jsonl "${common[@]}"
expect 1 "$work/venv/bin/routecheck" run --checkpoint=mock:no_tool.jsonl "${common[@]}"
grep -q "FAIL tool_name_accuracy" "$work/out.txt"
HYPOTHESIS_PROFILE=ci expect 0 "$vpy" -m pytest --pyargs harness.suites.test_fuzz -m fuzz \
  --rc-golden="$repo/golden" -q -p no:cacheprovider
echo "wheel-check: passed" >&2
