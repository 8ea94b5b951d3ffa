"""``routecheck history``: runs over time from real (mock-backend) results files."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from harness.cli.history import main
from harness.errors import RoutecheckError
from harness.history import collect_history, history_markdown, write_history
from harness.results import write_results
from tests import reportdata


def _runs(tmp_path: Path, n: int, cases: int = 24) -> Path:
    """``n`` results files on one golden set, each failing a different number of cases."""
    reports = tmp_path / "reports"
    rows = reportdata.synthetic_rows(cases)
    for i in range(n):
        failing = [r["id"] for r in rows[: i % 5]]
        res = reportdata.run(
            tmp_path, rows, reportdata.outputs_where(rows, failing), name="g", run_id=f"r{i:03d}"
        )
        res = res.model_copy(
            update={"created_at": f"2026-01-{1 + i // 24:02d}T{i % 24:02d}:00:00Z"}
        )
        folder = reports / res.run_id
        write_results(res, folder / "results.json")
        (folder / "report.html").write_text("<html></html>", encoding="utf-8")
    return reports


def test_history_orders_runs_and_keeps_the_numbers(tmp_path: Path) -> None:
    reports = _runs(tmp_path, 4)
    history = collect_history(reports)
    assert [r.run_id for r in history.runs] == ["r000", "r001", "r002", "r003"]
    for r in history.runs:
        raw = json.loads((reports / r.run_id / "results.json").read_text(encoding="utf-8"))
        overall = raw["metrics"][raw["gate_split"]]["overall"]
        assert r.metrics["tool_name_accuracy"].value == overall["tool_name_accuracy"]["value"]
        assert r.report == f"{r.run_id}/report.html"
    # Run i fails i cases, so the pass counts fall run by run.
    values = [r.metrics["tool_name_accuracy"].numerator for r in history.runs]
    assert values == sorted(values, reverse=True) and values[0] > values[-1]


def test_page_is_self_contained_and_draws_every_run(tmp_path: Path) -> None:
    reports = _runs(tmp_path, 3)
    html_path, md_path, history = write_history(reports)
    page = html_path.read_text(encoding="utf-8")
    assert "<script" not in page and "http://" not in page and "https://" not in page
    # Every chart has one point per run whose value equals the results file.
    for metric in ("valid_tool_call_rate", "false_tool_call_rate"):
        figure = page.split(f'data-metric="{metric}"')[1].split("</figure>")[0]
        drawn = re.findall(r'data-run="(r\d+)" data-value="([0-9.]+)"', figure)
        assert [d[0] for d in drawn] == ["r000", "r001", "r002"]
        for run, value in drawn:
            want = next(r for r in history.runs if r.run_id == run).metrics[metric].value
            assert want is not None and abs(float(value) - want) < 1e-4
    assert 'href="r002/report.html"' in page
    table = md_path.read_text(encoding="utf-8")
    assert table == history_markdown(history) and table.count("\n| r0") == 3


def test_hostile_checkpoint_names_are_escaped(tmp_path: Path) -> None:
    reports = _runs(tmp_path, 1)
    path = reports / "r000" / "results.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["checkpoint"]["spec"] = "<script>alert(1)</script>"
    path.write_text(json.dumps(raw), encoding="utf-8")
    html_path, _, _ = write_history(reports)
    page = html_path.read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_unreadable_files_are_listed_not_fatal(tmp_path: Path) -> None:
    reports = _runs(tmp_path, 2)
    (reports / "broken").mkdir()
    (reports / "broken" / "results.json").write_text("{not json", encoding="utf-8")
    (reports / "other").mkdir()
    (reports / "other" / "results.json").write_text('{"x": 1}', encoding="utf-8")
    history = collect_history(reports)
    assert len(history.runs) == 2
    assert sorted(Path(p).parent.name for p, _ in history.skipped) == ["broken", "other"]


def test_other_golden_sets_are_left_out_and_can_be_chosen(tmp_path: Path) -> None:
    reports = _runs(tmp_path, 3)
    path = reports / "r001" / "results.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["golden_fingerprint"] = "other-set"
    path.write_text(json.dumps(raw), encoding="utf-8")
    history = collect_history(reports)
    assert [r.run_id for r in history.runs] == ["r000", "r002"]
    assert history.other_sets == {"other-set": 1}
    assert [r.run_id for r in collect_history(reports, "other-set").runs] == ["r001"]
    with pytest.raises(RoutecheckError, match="no run on golden set"):
        collect_history(reports, "nope")


def test_empty_or_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RoutecheckError, match="no such reports folder"):
        collect_history(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RoutecheckError, match=r"no results\.json"):
        collect_history(tmp_path / "empty")


def test_fifty_runs_stay_small_and_fast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = _runs(tmp_path, 50, cases=12)
    start = time.perf_counter()
    assert main([str(reports), "--out", str(tmp_path / "site" / "h.html")]) == 0
    elapsed = time.perf_counter() - start
    page = (tmp_path / "site" / "h.html").read_text(encoding="utf-8")
    assert elapsed < 1.0, elapsed
    assert len(page) < 500_000
    assert 'href="../reports/r049/report.html"' in page
    assert "history:" in capsys.readouterr().out
