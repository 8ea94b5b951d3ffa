"""The job summary and workflow annotations for CI systems, on real mock-backend runs."""

from __future__ import annotations

from pathlib import Path

from harness.ci_output import append_step_summary, github_annotations, summary_markdown
from harness.compare import compare_runs
from harness.results import RunResults
from tests import reportdata


def _pair(tmp_path: Path) -> tuple[RunResults, RunResults, list[str]]:
    rows = reportdata.synthetic_rows(30)
    base = reportdata.run(tmp_path, rows, reportdata.outputs_where(rows), name="g", run_id="b")
    failing = [r["id"] for r in rows if r["category"] != "positive"][:3]
    cur = reportdata.run(
        tmp_path, rows, reportdata.outputs_where(rows, failing), name="g", run_id="c"
    )
    return base, cur, failing


def test_summary_names_split_gates_categories_and_regressions(tmp_path: Path) -> None:
    base, cur, failing = _pair(tmp_path)
    comparison = compare_runs(cur, base)
    text = summary_markdown(cur, comparison)
    assert text.startswith(f"### routecheck: gates FAILED on `{cur.gate_split}`")
    for g in cur.gates:
        assert f"| {g.metric} |" in text
    assert "| false_tool_call_rate |" in text and "**FAIL**" in text
    for key in failing:
        assert f"regressed: `shop/{key}`" in text
    assert f"{len(comparison.regressions)} regressions" in text
    assert "passed on" in summary_markdown(base) and "FAIL" not in summary_markdown(base)


def test_step_summary_is_appended_only_when_asked(tmp_path: Path) -> None:
    _base, cur, _ = _pair(tmp_path)
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n", encoding="utf-8")
    assert append_step_summary(cur, None, environ={}) is None
    assert append_step_summary(cur, None, environ={"GITHUB_STEP_SUMMARY": str(target)}) == target
    content = target.read_text(encoding="utf-8")
    assert content.startswith("earlier step\n### routecheck")


def test_annotations_escape_workflow_commands(tmp_path: Path) -> None:
    base, cur, failing = _pair(tmp_path)
    lines = github_annotations(cur, compare_runs(cur, base))
    errors = [x for x in lines if x.startswith("::error ")]
    warnings = [x for x in lines if x.startswith("::warning ")]
    assert len(errors) == sum(not g.passed for g in cur.gates) > 0
    assert len(warnings) == len(failing)
    for line in lines:
        assert "\n" not in line and "\r" not in line
        title = line.split("title=", 1)[1].split("::", 1)[0]
        assert ":" not in title and "," not in title
    assert github_annotations(base) == []
