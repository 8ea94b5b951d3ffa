"""``routecheck table``: runs side by side, numbers taken from each results file."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.baselines import save_baseline
from harness.cli import main as cli_main
from harness.render.markdown import TableError, render_table
from harness.results import RunResults, write_results
from tests.reportdata import case, outputs_where, run

ROWS = [
    case("p1", "positive", split="dev"),
    case("p2", "positive", split="holdout"),
    case("p3", "positive", split="holdout"),
    case("c1", "chitchat", split="dev"),
    case("u1", "underspecified", split="holdout"),
    case("i1", "info_request", split="dev"),
]


def two_runs(tmp_path: Path) -> tuple[RunResults, RunResults]:
    weak = run(tmp_path, ROWS, outputs_where(ROWS, {"p2", "u1", "c1"}), name="weak")
    strong = run(tmp_path, ROWS, outputs_where(ROWS, set()), name="strong")
    return weak, strong


def test_rows_carry_each_runs_own_numbers_per_split_and_category(tmp_path: Path) -> None:
    weak, strong = two_runs(tmp_path)
    text = render_table([weak, strong], ["weak", "strong"])
    lines = text.splitlines()
    holdout = lines.index("**holdout** (3 cases)")
    # holdout: p2 (wrong arguments) and u1 (false tool call) fail for the weak run.
    weak_row = next(line for line in lines[holdout:] if line.startswith("| weak |"))
    cells = [c.strip() for c in weak_row.strip("|").split("|")]
    metrics = weak.metrics["holdout"].overall
    assert cells[1] == "3"
    assert cells[2] == f"{metrics.valid_tool_call_rate.value:.3f}"
    assert cells[5] == f"{metrics.false_tool_call_rate.value:.3f}" == "0.333"
    assert cells[7] == "0.333"  # pass rate: only p3 passes
    strong_row = next(line for line in lines[holdout:] if line.startswith("| strong |"))
    assert strong_row.split("|")[-3].strip() == "1.000"  # pass rate, before ungrounded
    # Per category, only categories with cases in the split appear.
    dev = lines.index("**dev** (3 cases)")
    dev_block = lines[dev:holdout]
    assert any(line.startswith("| chitchat | weak | 1 |") for line in dev_block)
    assert not any(line.startswith("| underspecified |") for line in dev_block)


def test_runs_on_different_golden_sets_are_refused(tmp_path: Path) -> None:
    weak, _ = two_runs(tmp_path)
    other_rows = [*ROWS, case("extra", "chitchat")]
    other = run(tmp_path, other_rows, outputs_where(other_rows), name="other")
    with pytest.raises(TableError, match="different golden sets"):
        render_table([weak, other], ["a", "b"])


def test_labels_must_match_runs(tmp_path: Path) -> None:
    weak, strong = two_runs(tmp_path)
    with pytest.raises(TableError, match="1 labels for 2 runs"):
        render_table([weak, strong], ["only one"])


def test_cli_reads_saved_baselines_and_writes_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weak, strong = two_runs(tmp_path)
    reports = tmp_path / "reports"
    save_baseline(weak, "weak", reports)
    strong_file = write_results(strong, tmp_path / "strong.json")
    out = tmp_path / "table.md"
    status = cli_main(
        [
            "table",
            "weak",
            str(strong_file),
            "--reports-dir",
            str(reports),
            "--label",
            "weak",
            "--label",
            "strong",
            "--split",
            "holdout",
            "-o",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert status == 0
    assert printed == out.read_text(encoding="utf-8")
    assert "**holdout**" in printed and "**dev**" not in printed


def test_cli_names_a_missing_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = cli_main(["table", "nope", "--reports-dir", str(tmp_path)])
    assert status == 2
    assert "'nope': no such results file" in capsys.readouterr().err


def test_the_last_column_is_the_ungrounded_rate(tmp_path: Path) -> None:
    weak, strong = two_runs(tmp_path)
    lines = render_table([weak, strong], ["weak", "strong"]).splitlines()
    header = next(line for line in lines if line.startswith("| checkpoint |"))
    assert header.rstrip(" |").endswith("| pass | ungrounded")
    row = next(line for line in lines if line.startswith("| weak |"))  # the dev split's
    rate = weak.metrics["dev"].overall.ungrounded_rate
    assert rate.value is not None and rate.denominator > 0
    assert row.rstrip(" |").endswith(f"| {rate.value:.3f}")
