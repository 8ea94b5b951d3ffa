"""Baseline comparison: case pairing, McNemar, refusals, saved baselines and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.baselines import BaselineError, list_baselines, load_baseline, save_baseline
from harness.cli.compare import main as compare_main
from harness.compare import (
    Comparison,
    ComparisonError,
    compare_runs,
    format_p,
    mcnemar_reading,
)
from harness.errors import ResultsFileError, RoutecheckError
from harness.results import RunResults, write_results
from harness.stats import mcnemar_exact
from tests.reportdata import case, outputs_where, run

IDS = [f"k{i:02d}" for i in range(10)]


def rows_for(ids: list[str], prompt_suffix: str = "") -> list[dict[str, Any]]:
    rows = []
    for i, case_id in enumerate(ids):
        category = "positive" if i % 3 else "chitchat"
        split = "holdout" if i % 4 == 0 else "dev"
        rows.append(case(case_id, category, f"request {case_id}{prompt_suffix}", split=split))
    return rows


def two_runs(
    tmp_path: Path, base_fail: set[str], cur_fail: set[str]
) -> tuple[RunResults, RunResults]:
    rows = rows_for(IDS)
    baseline = run(tmp_path, rows, outputs_where(rows, base_fail), name="baseline")
    current = run(tmp_path, rows, outputs_where(rows, cur_fail), name="current")
    return baseline, current


def test_regressions_fixes_and_still_counted_per_case(tmp_path: Path) -> None:
    baseline, current = two_runs(tmp_path, {"k00", "k01", "k02"}, {"k02", "k03", "k04", "k05"})
    c = compare_runs(current, baseline)
    assert c.regressions == ["shop/k03", "shop/k04", "shop/k05"]
    assert c.fixes == ["shop/k00", "shop/k01"]
    assert c.still_failing == ["shop/k02"]
    assert c.still_passing == [f"shop/{k}" for k in IDS[6:]]
    assert c.added == [] and c.removed == []
    assert c.n_paired == 10
    assert c.same_golden and c.warnings == []
    assert c.mcnemar_p == mcnemar_exact(3, 2)
    assert c.changes["shop/k03"].baseline_outcome == "correct"
    assert c.changes["shop/k03"].current_outcome != "correct"
    assert c.changes["shop/k00"].status == "fix"
    assert "shop/k09" not in c.changes
    assert c.status("shop/k09") == "still_passing"
    assert c.status("shop/k03") == "regression"
    assert c.status("nope") is None


def test_mcnemar_p_matches_a_hand_computed_value(tmp_path: Path) -> None:
    # 6 regressions, 1 fix: p = 2 * (C(7,0) + C(7,1)) / 2**7 = 16/128 = 0.125
    baseline, current = two_runs(tmp_path, {"k00"}, {f"k0{i}" for i in range(1, 7)})
    c = compare_runs(current, baseline)
    assert (len(c.regressions), len(c.fixes)) == (6, 1)
    assert c.mcnemar_p == pytest.approx(0.125)
    assert c.reading() == "p = 0.12: weak evidence; could well be noise (6 regressions, 1 fix)"


def test_identical_runs_have_p_one(tmp_path: Path) -> None:
    baseline, current = two_runs(tmp_path, {"k01"}, {"k01"})
    c = compare_runs(current, baseline)
    assert c.mcnemar_p == 1.0
    assert c.regressions == [] and c.fixes == []
    assert all(d.verdict == "same" for d in c.deltas["all"].values())
    assert "no case changed" in c.reading()


def test_metric_deltas_per_slice_with_direction(tmp_path: Path) -> None:
    # k00, k03, k06, k09 are chitchat (gold no_tool); failing them is a false tool call.
    baseline, current = two_runs(tmp_path, set(), {"k00", "k03", "k01"})
    c = compare_runs(current, baseline)
    assert set(c.deltas) == {"all", "dev", "holdout"}
    assert set(c.deltas["all"]) == {
        "valid_tool_call_rate",
        "tool_name_accuracy",
        "argument_match_accuracy",
        "false_tool_call_rate",
        "silent_corruption_rate",
        "false_call_attempt_rate",
        "ungrounded_rate",
    }
    ftc = c.deltas["all"]["false_tool_call_rate"]
    assert ftc.lower_is_better
    assert ftc.delta == pytest.approx(2 / 10)
    assert ftc.verdict == "worse"
    acc = c.deltas["all"]["tool_name_accuracy"]
    assert not acc.lower_is_better
    now = current.metrics["all"].overall.tool_name_accuracy.value
    then = baseline.metrics["all"].overall.tool_name_accuracy.value
    assert now is not None and then is not None
    assert acc.delta == pytest.approx(now - then)
    assert acc.verdict == "worse"
    # The other way round the same change is better.
    back = compare_runs(baseline, current)
    assert back.deltas["all"]["false_tool_call_rate"].verdict == "better"
    assert back.deltas["all"]["false_tool_call_rate"].delta == pytest.approx(-0.2)
    # k00 is the only holdout case of the three.
    assert c.deltas["holdout"]["false_tool_call_rate"].delta == pytest.approx(1 / 3)


def test_added_and_removed_cases_are_listed_and_warned(tmp_path: Path) -> None:
    base_rows = rows_for(IDS[:9])
    cur_rows = rows_for([*IDS[1:], "k10"])
    baseline = run(tmp_path, base_rows, outputs_where(base_rows, {"k00"}), name="b")
    current = run(tmp_path, cur_rows, outputs_where(cur_rows, {"k10", "k02"}), name="c")
    c = compare_runs(current, baseline)
    assert c.added == ["shop/k09", "shop/k10"]
    assert c.removed == ["shop/k00"]
    assert c.regressions == ["shop/k02"]
    assert c.fixes == []
    assert c.n_paired == 8
    assert c.changes["shop/k00"].status == "removed"
    assert c.changes["shop/k00"].baseline_outcome is not None
    assert c.changes["shop/k10"].status == "added"
    assert not c.same_golden
    assert any("golden sets differ" in w for w in c.warnings)
    assert any("only some cases overlap" in w for w in c.warnings)


def test_same_golden_partial_selection_warns(tmp_path: Path) -> None:
    baseline, current = two_runs(tmp_path, set(), {"k01"})
    subset = current.model_copy(update={"cases": current.cases[:6]})
    c = compare_runs(subset, baseline)
    assert c.same_golden
    assert len(c.removed) == 4
    assert [w for w in c.warnings if "only some cases overlap" in w]


def test_changed_gold_on_shared_cases_is_warned(tmp_path: Path) -> None:
    rows = rows_for(IDS)
    baseline = run(tmp_path, rows, outputs_where(rows), name="b")
    edited = rows_for(IDS, prompt_suffix=" (reworded)")
    current = run(tmp_path, edited, outputs_where(edited), name="c")
    c = compare_runs(current, baseline)
    assert not c.same_golden
    assert any("10 cases in both runs changed prompt or gold" in w for w in c.warnings)
    assert c.n_paired == 10


def test_refuses_different_schema_versions(tmp_path: Path) -> None:
    baseline, current = two_runs(tmp_path, set(), set())
    old = baseline.model_copy(update={"schema_version": 0})
    with pytest.raises(ComparisonError, match="schema version"):
        compare_runs(current, old)
    assert issubclass(ComparisonError, RoutecheckError)
    assert issubclass(ComparisonError, ValueError)


def test_refuses_different_golden_sets_with_little_overlap(tmp_path: Path) -> None:
    base_rows = rows_for(IDS)
    cur_rows = rows_for([*IDS[:4], *(f"x{i}" for i in range(6))])
    baseline = run(tmp_path, base_rows, outputs_where(base_rows), name="b")
    current = run(tmp_path, cur_rows, outputs_where(cur_rows), name="c")
    with pytest.raises(ComparisonError, match="fewer than half"):
        compare_runs(current, baseline)
    # Exactly half in common is still comparable (with warnings).
    cur_rows = rows_for([*IDS[:5], *(f"x{i}" for i in range(5))])
    current = run(tmp_path, cur_rows, outputs_where(cur_rows), name="c2")
    assert compare_runs(current, baseline).n_paired == 5


def test_refuses_runs_without_a_common_case(tmp_path: Path) -> None:
    baseline, current = two_runs(tmp_path, set(), set())
    left = baseline.model_copy(update={"cases": baseline.cases[:5]})
    right = current.model_copy(update={"cases": current.cases[5:]})
    with pytest.raises(ComparisonError, match="share no case"):
        compare_runs(right, left)


def test_warns_on_different_decoding_and_parse_mode(tmp_path: Path) -> None:
    baseline, current = two_runs(tmp_path, set(), set())
    other = current.model_copy(
        update={"decoding": {**current.decoding, "max_new_tokens": 64}, "parse_mode": "lenient"}
    )
    c = compare_runs(other, baseline)
    assert any("max_new_tokens 128 -> 64" in w for w in c.warnings)
    assert any("parse mode differs" in w for w in c.warnings)


def test_runs_in_different_formats_compare_with_a_warning(tmp_path: Path) -> None:
    baseline, current = two_runs(tmp_path, set(), {"k01"})
    other = current.model_copy(update={"format": "openai-tools"})
    c = compare_runs(other, baseline)
    assert any("output format differs: json (baseline) -> openai-tools" in w for w in c.warnings)
    assert c.regressions == compare_runs(current, baseline).regressions
    assert not any("format" in w for w in compare_runs(current, baseline).warnings)


def test_comparison_round_trips_as_json(tmp_path: Path) -> None:
    baseline, current = two_runs(tmp_path, {"k00"}, {"k01"})
    c = compare_runs(current, baseline)
    assert Comparison.model_validate_json(c.model_dump_json()) == c


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.03, "p = 0.03: unlikely to be noise"),
        (0.4, "p = 0.4: consistent with noise"),
        (0.004, "p = 0.004: very unlikely to be noise"),
        (0.0001, "p < 0.001: very unlikely to be noise"),
        (0.1, "p = 0.1: weak evidence; could well be noise"),
    ],
)
def test_plain_language_reading(p: float, text: str) -> None:
    assert mcnemar_reading(p, 3, 1).startswith(text)
    assert format_p(p) == text.split(":")[0]


# --- baselines ---------------------------------------------------------------------------


def test_save_and_load_baseline_by_name(tmp_path: Path) -> None:
    baseline, _ = two_runs(tmp_path, {"k00"}, set())
    reports = tmp_path / "reports"
    path = save_baseline(baseline, "main", reports)
    assert path == reports / "baselines" / "main.json"
    assert load_baseline("main", reports) == baseline
    assert load_baseline(str(path), reports) == baseline
    assert list_baselines(reports) == ["main"]
    # Saving again replaces it atomically (no temporary files left behind).
    save_baseline(baseline.model_copy(update={"run_id": "again"}), "main", reports)
    assert load_baseline("main", reports).run_id == "again"
    assert sorted(p.name for p in (reports / "baselines").iterdir()) == ["main.json"]


def test_load_baseline_from_run_folder_and_run_id(tmp_path: Path) -> None:
    baseline, _ = two_runs(tmp_path, set(), set())
    reports = tmp_path / "reports"
    write_results(baseline, reports / "20260101-000000-abcdef" / "results.json")
    assert load_baseline(str(reports / "20260101-000000-abcdef"), reports) == baseline
    assert load_baseline("20260101-000000-abcdef", reports) == baseline


@pytest.mark.parametrize(
    "name", ["", "../escape", "a/b", ".hidden", "main.json", "x" * 65, "sp ace", "-flag"]
)
def test_unsafe_baseline_names_are_refused(tmp_path: Path, name: str) -> None:
    baseline, _ = two_runs(tmp_path, set(), set())
    with pytest.raises(BaselineError, match="not allowed"):
        save_baseline(baseline, name, tmp_path / "reports")
    assert not (tmp_path / "reports").exists()


def test_unknown_baseline_names_what_exists(tmp_path: Path) -> None:
    baseline, _ = two_runs(tmp_path, set(), set())
    reports = tmp_path / "reports"
    save_baseline(baseline, "v1", reports)
    with pytest.raises(BaselineError, match="saved baselines: v1"):
        load_baseline("v2", reports)
    with pytest.raises(BaselineError, match="no baselines are saved"):
        load_baseline("v2", tmp_path / "elsewhere")


def test_load_baseline_refuses_a_corrupt_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ResultsFileError, match="bad JSON"):
        load_baseline(str(bad), tmp_path)


# --- command line ------------------------------------------------------------------------


@pytest.fixture
def result_files(tmp_path: Path) -> tuple[Path, Path]:
    baseline, current = two_runs(tmp_path, {"k00"}, {"k01", "k02"})
    a = write_results(baseline, tmp_path / "a" / "results.json")
    b = write_results(current, tmp_path / "b" / "results.json")
    return a, b


def test_compare_main_prints_summary_and_writes_html(
    result_files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = result_files
    out = tmp_path / "diff" / "diff.html"
    assert compare_main([str(a), str(b), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 regressions, 1 fix, 0 still failing, 7 still passing" in text
    assert "McNemar exact p = 1: consistent with noise" in text
    assert "tool_name_accuracy" in text and "-0.100" in text
    assert "regressions: shop/k01, shop/k02" in text
    assert f"wrote {out}" in text
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert 'data-status="regression"' in page


def test_compare_main_fail_on_regression_and_save_baseline(
    result_files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = result_files
    reports = tmp_path / "reports"
    argv = [str(a), str(b), "--fail-on-regression", "--reports-dir", str(reports)]
    assert compare_main([*argv, "--save-baseline", "main"]) == 1
    assert load_baseline("main", reports).run_id == "current"
    assert compare_main([str(a), str(a), "--fail-on-regression"]) == 0
    # A saved name works as either side.
    assert compare_main(["main", str(b), "--reports-dir", str(reports)]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    "problem",
    ["missing", "corrupt", "schema", "unrelated", "bad-name", "usage"],
)
def test_compare_main_bad_input_exits_2_with_one_line(
    problem: str,
    result_files: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = result_files
    argv: list[str]
    if problem == "missing":
        argv = [str(tmp_path / "nope.json"), str(b)]
    elif problem == "corrupt":
        bad = tmp_path / "corrupt.json"
        bad.write_text('{"schema_version": 1, "run_id": 3}', encoding="utf-8")
        argv = [str(a), str(bad)]
    elif problem == "schema":
        raw = json.loads(a.read_text(encoding="utf-8"))
        raw["schema_version"] = 99
        old = tmp_path / "old.json"
        old.write_text(json.dumps(raw), encoding="utf-8")
        argv = [str(old), str(b)]
    elif problem == "unrelated":
        rows = rows_for([f"z{i}" for i in range(10)])
        other = run(tmp_path, rows, outputs_where(rows), name="other")
        argv = [str(a), str(write_results(other, tmp_path / "other.json"))]
    elif problem == "bad-name":
        argv = [str(a), str(b), "--save-baseline", "../up"]
    else:
        argv = [str(a)]
    out = tmp_path / "never.html"
    assert compare_main([*argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err
    if problem != "usage":
        assert err.startswith("routecheck compare: error: ")
        assert len(err.splitlines()) == 1
    assert not out.exists()


def test_compare_main_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert compare_main(["--help"]) == 0
    assert "BASELINE" in capsys.readouterr().out.upper()


# --- module boundaries -------------------------------------------------------------------


def _harness_imports() -> dict[str, set[str]]:
    """Each harness module -> the harness modules it imports anywhere (lazy imports too)."""
    import ast

    root = Path(__file__).resolve().parent.parent / "harness"
    modules: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        name = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # Imports under ``if TYPE_CHECKING:`` never run: they cannot make a cycle.
        typing_only = {
            id(n)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for stmt in block.body
            for n in ast.walk(stmt)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_no_import_cycles_and_compare_knows_no_renderer() -> None:
    graph = _harness_imports()
    assert graph["harness.compare"].isdisjoint(
        {m for m in graph if m.startswith(("harness.render", "harness.cli"))}
        | {"harness.baselines"}
    )
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join([*path, name]))
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert "harness.render.html" in done and "harness.cli.compare" in done


def test_warns_when_one_run_decoded_constrained(tmp_path: Path) -> None:
    baseline, current = two_runs(tmp_path, set(), set())
    old = {k: v for k, v in baseline.decoding.items() if k != "mode"}
    legacy = baseline.model_copy(update={"decoding": old})  # a file from before the mode
    free = current.model_copy(update={"decoding": {**current.decoding, "mode": "free"}})
    assert compare_runs(free, legacy).warnings == compare_runs(current, baseline).warnings
    constrained = current.model_copy(
        update={"decoding": {**current.decoding, "mode": "constrained"}}
    )
    warnings = compare_runs(constrained, legacy).warnings
    assert any("decoding differs: free (baseline) -> constrained" in w for w in warnings)
    assert not any("decoding settings differ" in w for w in warnings)


def test_a_setting_added_since_the_baseline_was_written_is_its_default(tmp_path: Path) -> None:
    baseline, current = two_runs(tmp_path, set(), set())
    older = {k: v for k, v in baseline.decoding.items() if k != "lookup_tree_first"}
    legacy = baseline.model_copy(update={"decoding": older})
    assert "lookup_tree_first" in current.decoding
    assert not any("decoding settings differ" in w for w in compare_runs(current, legacy).warnings)
    drafted = current.model_copy(update={"decoding": {**current.decoding, "lookup_tree_first": 8}})
    warnings = compare_runs(drafted, legacy).warnings
    assert any("decoding settings differ" in w and "lookup_tree_first" in w for w in warnings)
