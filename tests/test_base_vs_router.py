"""``scripts/base_vs_router.sh`` and ``scripts/bfcl_baseline.sh`` with fake commands: which
runs they make, with which flags, and the one table they print (no model is loaded)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.baselines import save_baseline
from harness.cli import main as cli_main
from tests.reportdata import case, outputs_where, run

ROOT = Path(__file__).resolve().parent.parent
PYTEST_FLAGS = (
    "-m pytest suites/test_golden.py suites/test_gates.py -q --no-header -p no:cacheprovider"
)
LABELS = ("base model (zero-shot, json)", "base model (zero-shot, native)", "reference router")

FAKE_PYTHON = """#!/usr/bin/env bash
printf 'python %s\\n' "$*" >> "$LOG"
echo "summary line"
exit "${PYTEST_STATUS:-1}"
"""
FAKE_ROUTECHECK = """#!/usr/bin/env bash
line="routecheck"
for a in "$@"; do line="$line [$a]"; done
echo "$line" >> "$LOG"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the scripts beside fake ``.venv/bin/python`` and ``.venv/bin/routecheck``."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    (tmp_path / "scripts").mkdir()
    for name in ("base_vs_router.sh", "bfcl_baseline.sh"):
        shutil.copy(ROOT / "scripts" / name, tmp_path / "scripts" / name)
    (tmp_path / "scripts" / "setup.sh").write_text("exit 0\n")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, text in (("python", FAKE_PYTHON), ("routecheck", FAKE_ROUTECHECK)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return tmp_path


def _run(
    project: Path, script: str, *args: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    environ = {
        k: v for k, v in os.environ.items() if k not in ("REPORTS_DIR", "BASE_VS_ROUTER_RUNS")
    }
    environ.update(env, LOG=str(project / "log"))
    done = subprocess.run(
        ["bash", str(project / "scripts" / script), *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
    )
    log = project / "log"
    return done, log.read_text().splitlines() if log.is_file() else []


def _pytest_line(checkpoint: str, name: str, reports: str, *extra: str) -> str:
    return " ".join(
        [
            "python",
            PYTEST_FLAGS,
            f"--checkpoint={checkpoint}",
            f"--rc-reports-dir={reports}",
            f"--rc-save-baseline={name}",
            "--rc-max-listed=0",
            *extra,
        ]
    )


def test_three_runs_then_one_table_with_three_labels(project: Path) -> None:
    done, log = _run(project, "base_vs_router.sh", "--rc-no-cache")
    assert done.returncode == 0, done.stderr
    reports = "reports/base_vs_router"
    assert log == [
        _pytest_line("base", "base", reports, "--rc-no-cache"),
        _pytest_line(
            "base",
            "base-native",
            reports,
            "--rc-format=native",
            "--rc-chat-template=hermes",
            "--rc-no-cache",
        ),
        _pytest_line("routers/customer_support", "router", reports, "--rc-no-cache"),
        "routecheck [table] [base] [base-native] [router] [--reports-dir] "
        f"[{reports}] [--label] [{LABELS[0]}] [--label] [{LABELS[1]}] [--label] [{LABELS[2]}]",
    ]
    assert "== base-native (base --rc-format=native --rc-chat-template=hermes)" in done.stderr


def test_reports_dir_and_runs_pick_the_folder_and_the_runs(project: Path) -> None:
    done, log = _run(
        project, "base_vs_router.sh", REPORTS_DIR="out/x", BASE_VS_ROUTER_RUNS="router base"
    )
    assert done.returncode == 0, done.stderr
    assert log == [
        _pytest_line("routers/customer_support", "router", "out/x"),
        _pytest_line("base", "base", "out/x"),
        f"routecheck [table] [router] [base] [--reports-dir] [out/x] [--label] [{LABELS[2]}] "
        f"[--label] [{LABELS[0]}]",
    ]


def test_a_run_that_did_not_complete_stops_the_script(project: Path) -> None:
    done, log = _run(project, "base_vs_router.sh", PYTEST_STATUS="3")
    assert done.returncode == 3
    assert "the base run failed with exit status 3" in done.stderr
    assert len(log) == 1  # no second run, no table


def test_an_unknown_run_name_is_refused_before_any_run(project: Path) -> None:
    done, log = _run(project, "base_vs_router.sh", BASE_VS_ROUTER_RUNS="base typo")
    assert done.returncode == 2
    assert "unknown run 'typo'" in done.stderr
    assert log == []  # checked before the first run


def test_bfcl_baseline_keeps_the_two_json_runs(project: Path) -> None:
    done, log = _run(project, "bfcl_baseline.sh", "bfcl-src", BASE_VS_ROUTER_RUNS="base-native")
    assert done.returncode == 0, done.stderr
    golden = ("--rc-golden=reports/bfcl/golden", "--rc-gate-split=all")
    assert log[0].startswith("routecheck [import] [bfcl] [bfcl-src]")
    assert log[1:] == [
        _pytest_line("base", "base", "reports/bfcl", *golden),
        _pytest_line("routers/customer_support", "router", "reports/bfcl", *golden),
        "routecheck [table] [base] [router] [--reports-dir] [reports/bfcl] "
        f"[--label] [{LABELS[0]}] [--label] [{LABELS[2]}]",
    ]


def test_the_table_reads_three_saved_runs_with_their_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [case("p1", "positive", split="dev"), case("c1", "chitchat", split="holdout")]
    reports = tmp_path / "reports"
    for name, failing in (("base", {"p1", "c1"}), ("base-native", {"c1"}), ("router", set())):
        save_baseline(run(tmp_path, rows, outputs_where(rows, failing), name=name), name, reports)
    argv = ["table", "base", "base-native", "router", "--reports-dir", str(reports)]
    argv += [x for label in LABELS for x in ("--label", label)]
    assert cli_main([*argv, "--split", "all"]) == 0
    lines = capsys.readouterr().out.splitlines()
    overall = [line for line in lines if line.startswith("| base model") or "router |" in line]
    # pass rates by hand: base 0 of 2, native 1 of 2 (p1), router 2 of 2.
    assert [line.split("|")[1].strip() for line in overall[:3]] == list(LABELS)
    header = next(line for line in lines if line.startswith("| checkpoint"))
    column = [c.strip() for c in header.split("|")].index("pass")
    assert [line.split("|")[column].strip() for line in overall[:3]] == ["0.000", "0.500", "1.000"]
