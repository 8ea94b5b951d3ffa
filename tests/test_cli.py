"""The ``routecheck`` command line: dispatch, help, errors, and gold-replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("run", "compare", "data", "train", "feedback", "gold-replay"):
        assert name in out
    assert main([]) == 2


def test_unknown_command_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate"]) == 2
    assert "unknown command 'evaluate'" in capsys.readouterr().err


def test_gold_replay_writes_a_perfect_mock_file(tmp_path: Path) -> None:
    out = tmp_path / "perfect.jsonl"
    assert main(["gold-replay", str(ROOT / "golden" / "travel_booking"), "-o", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 72
    assert all(r["id"].startswith("travel_booking/") for r in rows)
    first = json.loads(rows[0]["output"])
    assert "tool" in first


def test_library_errors_become_exit_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gold-replay", str(tmp_path / "nowhere"), "-o", str(tmp_path / "x.jsonl")]) == 2
    assert "golden path not found" in capsys.readouterr().err


def test_compare_and_run_dispatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 2
    assert "no such results file" in capsys.readouterr().err
    # `run` hands its arguments to pytest on the bundled suites; nothing is selected here.
    assert main(["run", "-q", "-k", "never_matches_anything", "-p", "no:cacheprovider"]) in (0, 5)
