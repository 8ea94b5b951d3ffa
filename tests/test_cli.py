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


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import harness
    from harness.cli import version

    assert main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == f"routecheck {version()}"
    assert version() == harness.__version__  # pyproject's version, installed or not


@pytest.mark.parametrize(
    "name", ["run", "compare", "table", "gold-replay", "data", "train", "feedback"]
)
def test_every_help_names_the_command_with_examples_and_exit_statuses(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"usage: routecheck {name} " in out
    examples = out.split("examples:")[1].split("exit status:")[0]
    assert [line.split()[:2] for line in examples.strip().splitlines()] == [
        ["routecheck", name]
    ] * 2
    assert "exit status:" in out and "  0 " in out
    assert "python -m" not in out


def test_run_help_shows_routecheck_options_first(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli.common import EXIT_STATUSES
    from harness.gates import GateConfig
    from harness.plugin import _option_name
    from harness.settings import setting_fields

    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    names = [_option_name(f.name) for f in setting_fields()]
    names += ["--rc-" + n.replace("_", "-") for n in GateConfig.option_names()]
    positions = [out.index(f"  {n}") for n in names]
    assert positions == sorted(positions)  # in the plugin's order
    assert out.index("routecheck run --pytest-help") > positions[-1]
    assert "--junitxml" in out  # named as a pytest option, not listed as ours
    for code, meaning in EXIT_STATUSES:
        assert f"  {code:<6} {meaning[:40]}" in out
    # Defaults come from [tool.routecheck] when the current folder's pyproject sets them.
    assert "default: golden/customer_support from pyproject.toml" in out.replace("\n      ", " ")


def test_run_pytest_help_is_pytest_s(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--pytest-help"]) == 0
    out = capsys.readouterr().out
    assert "usage:" in out and "--junit-xml" in out and "--basetemp" in out


def test_suites_path_finds_the_bundled_suites() -> None:
    from harness.cli.run import suites_path

    assert Path(suites_path()) == ROOT / "harness" / "suites"  # packaged, works from a wheel
    assert (Path(suites_path()) / "test_gates.py").is_file()
