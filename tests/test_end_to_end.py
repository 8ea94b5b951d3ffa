"""The real bundled model, end to end through ``pytest suites/ --checkpoint=base``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.results import read_results

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_base_model_evaluates_golden_cases_end_to_end(pytester: pytest.Pytester) -> None:
    shutil.copytree(
        ROOT / "suites", pytester.path / "suites", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(ROOT / "golden" / "customer_support", pytester.path / "golden")
    result = pytester.runpytest_subprocess(
        "suites/test_golden.py",
        "--checkpoint=base",
        "--rc-golden=golden",
        "--rc-reports-dir=reports",
        "--rc-no-cache",
        "--rc-max-new-tokens=48",
        "-k",
        # With the catalog in front: "chat-001" alone would also pick "sealed-chat-001".
        "customer_support/pos-track-001 or customer_support/chat-001 or customer_support/info-005",
        "-p",
        "no:cacheprovider",
    )
    # The zero-shot base model may fail these cases; what must hold is that the run
    # completed through the real model and every case got a verdict.
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 3, result.stdout.str()
    assert "error" not in outcomes and "errors" not in outcomes
    (found,) = sorted((pytester.path / "reports").glob("*/results.json"))
    results = read_results(found)
    assert results.checkpoint.details["kind"] == "base"
    assert results.checkpoint.fingerprint.startswith("sha256:")
    assert results.decoding["do_sample"] is False
    assert {c.id for c in results.cases} == {"pos-track-001", "chat-001", "info-005"}
    assert all(c.output for c in results.cases)
    result.stdout.fnmatch_lines(["*routecheck: base*", "all * 3 *"])


def _gold_replay(pytester: pytest.Pytester) -> None:
    from harness.cli import main

    shutil.copytree(ROOT / "golden" / "travel_booking", pytester.path / "golden")
    assert main(["gold-replay", str(pytester.path / "golden"), "-o", "gold.jsonl"]) == 0


def test_packaged_suites_gate_and_leave_the_fuzz_suite_out(pytester: pytest.Pytester) -> None:
    import harness.suites.test_fuzz as fuzz

    _gold_replay(pytester)
    result = pytester.runpytest_subprocess(
        "--pyargs",
        "harness.suites",
        "--checkpoint=mock:gold.jsonl",
        "--rc-golden=golden",
        "--rc-reports-dir=reports",
        "-p",
        "no:cacheprovider",
    )
    n_fuzz = sum(name.startswith("test_") and callable(f) for name, f in vars(fuzz).items())
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()
    assert outcomes["deselected"] == n_fuzz >= 10
    assert outcomes["passed"] == 72 + 5  # every travel case and the five default gates
    assert not any(line.startswith("sealed ") for line in result.outlines)


def test_fuzz_suite_is_opt_in_and_reads_the_users_golden_sets(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYPOTHESIS_PROFILE", "ci")
    _gold_replay(pytester)
    args = ["--pyargs", "harness.suites.test_fuzz", "-m", "fuzz", "-p", "no:cacheprovider"]
    picked = ["-k", "round_trips or unknown_tool"]
    result = pytester.runpytest_subprocess(*args, "--rc-golden=golden", *picked)
    assert result.ret == 0, result.stdout.str()
    assert result.parseoutcomes()["passed"] == 2
    result = pytester.runpytest_subprocess(*args, "--rc-golden=nowhere", *picked)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*routecheck: nowhere: golden path not found*"])
