"""The HTML report: escaping of hostile text, self-containment, numbers, size at 10k cases."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import escape

from harness.compare import DELTA_METRICS, Comparison, compare_runs
from harness.gates import GateResult
from harness.golden import Target
from harness.metrics import Rate
from harness.render.html import (
    CHART_LABEL,
    CHART_PLOT,
    TEXT_LIMIT,
    chart_axis,
    delta_interval,
    fmt_value,
    json_for_script,
    render_report,
    text_diff,
    write_report,
)
from harness.results import GoldenInfo, RunResults
from harness.scoring import Outcome
from tests.reportdata import (
    CATALOG,
    HOSTILE_ATTR,
    HOSTILE_SCRIPT,
    MATCHING_CATALOG,
    case,
    outputs_where,
    run,
    synthetic_outputs,
    synthetic_rows,
    varied_outputs,
)

MAX_BYTES = 5 * 1024 * 1024


class Tags(HTMLParser):
    """Every start tag and attribute the browser would build from a document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_bodies: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_bodies.append(data)


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    tags.close()
    return tags


def small_rows() -> list[dict[str, Any]]:
    rows = [
        case(f"p{i}", "positive", f"where is ORD-{i}", split="holdout" if i % 3 == 0 else "dev")
        for i in range(8)
    ]
    rows += [case(f"n{i}", "chitchat", f"hi there {i}") for i in range(4)]
    return rows


@pytest.fixture
def pair(tmp_path: Path) -> tuple[RunResults, RunResults]:
    rows = small_rows()
    baseline = run(tmp_path, rows, outputs_where(rows, {"p1", "n1"}), name="base")
    current = run(tmp_path, rows, outputs_where(rows, {"p2", "p3", "n1"}), name="cur")
    return baseline, current


def hostile_run(tmp_path: Path, name: str = "hostile") -> RunResults:
    catalog = {**CATALOG, "name": f"cat{HOSTILE_SCRIPT}"}
    rows = small_rows()
    rows.append(
        case(
            f"id{HOSTILE_ATTR}",
            "positive",
            f"{HOSTILE_SCRIPT} and {HOSTILE_ATTR} </textarea></pre><!--",
            "search_products",
            {"query": f"{HOSTILE_SCRIPT}{HOSTILE_ATTR}"},
        )
    )
    outputs = outputs_where(rows, {"p2"})
    outputs[rows[-1]["id"]] = f"{HOSTILE_ATTR}{HOSTILE_SCRIPT}</script><script>alert(2)</script>"
    # The catalog name holds a "/", so the replay file names cases by their full key.
    outputs = {f"{catalog['name']}/{k}": v for k, v in outputs.items()}
    results = run(tmp_path, rows, outputs, name=name, catalog=catalog)
    # Fields the loaders would refuse, but a hand-edited results.json could hold.
    golden = [
        GoldenInfo(**{**g.model_dump(), "tools": [*g.tools, HOSTILE_ATTR]}) for g in results.golden
    ]
    confusion = {k: {**v, HOSTILE_SCRIPT: {HOSTILE_ATTR: 1}} for k, v in results.confusion.items()}
    gates = [
        *results.gates,
        GateResult(
            metric=HOSTILE_SCRIPT,
            op="<=",
            threshold=0.0,
            value=1.0,
            low=None,
            high=None,
            numerator=1,
            denominator=1,
            passed=False,
            offenders=[f"evil{HOSTILE_ATTR}"],
            message=f"bad gate {HOSTILE_SCRIPT}; worst cases: evil{HOSTILE_ATTR}",
        ),
    ]
    checkpoint = results.checkpoint.model_copy(
        update={"spec": f"mock:{HOSTILE_ATTR}", "fingerprint": HOSTILE_SCRIPT}
    )
    return results.model_copy(
        update={
            "golden": golden,
            "confusion": confusion,
            "gates": gates,
            "checkpoint": checkpoint,
            "run_id": f"run{HOSTILE_SCRIPT}",
            "decoding": {**results.decoding, HOSTILE_ATTR: HOSTILE_SCRIPT},
        }
    )


def assert_inert(page: str) -> None:
    tags = parse(page)
    names = [t for t, _ in tags.tags]
    assert "img" not in names
    scripts = [a for t, a in tags.tags if t == "script"]
    assert scripts == [{"type": "application/json", "id": "routecheck-summary"}, {}]
    assert page.count("</script>") == 2
    for tag, attrs in tags.tags:
        for name in attrs:
            assert not name.startswith("on"), (tag, name)
    assert HOSTILE_SCRIPT not in page
    assert HOSTILE_ATTR not in page
    assert "alert(2)</script>" not in page


def test_hostile_strings_are_escaped_everywhere(tmp_path: Path) -> None:
    results = hostile_run(tmp_path)
    page = render_report(results)
    assert_inert(page)
    escaped_script = "&lt;script&gt;alert(1)&lt;/script&gt;"
    escaped_attr = "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"  # the template engine's form
    assert page.count(escaped_script) >= 5  # prompt, gold, output, catalog, run id, ...
    assert escaped_attr in page
    # The hostile case is listed (it fails) with prompt, gold and output as text.
    hostile_key = results.cases[-1].key
    assert f'data-key="{escape(hostile_key)}"' in page
    assert "&lt;/textarea&gt;&lt;/pre&gt;&lt;!--" in page
    # The JSON summary holds the hostile checkpoint, escaped for a script element.
    summary = json.loads(parse(page).script_bodies[0])
    assert summary["checkpoint"] == f"mock:{HOSTILE_ATTR}"
    assert summary["run_id"] == f"run{HOSTILE_SCRIPT}"


def test_hostile_strings_are_escaped_in_a_comparison(tmp_path: Path) -> None:
    current = hostile_run(tmp_path, "cur")
    baseline_results = hostile_run(tmp_path, "base")
    # The baseline passed the hostile case: it is a regression, shown with its old output.
    hostile_key = current.cases[-1].key
    cases = [
        c.model_copy(update={"passed": True, "outcome": "correct", "output": HOSTILE_SCRIPT})
        if c.key == hostile_key
        else c
        for c in baseline_results.cases
    ]
    baseline = baseline_results.model_copy(
        update={
            "cases": cases,
            "run_id": f"base{HOSTILE_ATTR}",
            "checkpoint": baseline_results.checkpoint.model_copy(update={"spec": HOSTILE_SCRIPT}),
        }
    )
    comparison = compare_runs(current, baseline)
    assert hostile_key in comparison.regressions
    page = render_report(current, comparison)
    assert_inert(page)


def test_json_for_script_cannot_close_the_element() -> None:
    text = json_for_script({"a": "</script><!-- & \u2028", "<b>": 1})
    assert "<" not in text and ">" not in text and "&" not in text
    assert "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!-- & \u2028", "<b>": 1}


def test_control_characters_and_surrogates_are_shown_not_broken(tmp_path: Path) -> None:
    rows = small_rows()
    outputs = outputs_where(rows)
    outputs["p2"] = "bad\x00\x1b[31m\u202eoutput"
    results = run(tmp_path, rows, outputs)
    cases = [
        c.model_copy(update={"output": c.output + "\ud800"}) if c.id == "p2" else c
        for c in results.cases
    ]
    path = write_report(results.model_copy(update={"cases": cases}), tmp_path / "r.html")
    page = path.read_text(encoding="utf-8")
    assert "bad\u2400\u241b[31m\u202eoutput" in page
    assert "\x00" not in page and "\x1b" not in page


def test_report_is_self_contained(pair: tuple[RunResults, RunResults]) -> None:
    baseline, current = pair
    page = render_report(current, compare_runs(current, baseline))
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:[a-z]+:)?//""", page, re.I)
    assert not re.search(r"<link[^>]+stylesheet", page, re.I)
    assert not re.search(r"<script[^>]+src", page, re.I)
    assert "@import" not in page and "url(" not in page and "@font-face" not in page
    tags = parse(page)
    for tag, attrs in tags.tags:
        for name in ("src", "href"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("#", "data:")), (tag, name, value)
    csp = next(a for t, a in tags.tags if t == "meta" and a.get("http-equiv"))
    assert "default-src 'none'" in (csp["content"] or "")
    assert "script-src 'sha256-" in (csp["content"] or "")


def test_headline_numbers_gates_and_deltas(pair: tuple[RunResults, RunResults]) -> None:
    baseline, current = pair
    comparison = compare_runs(current, baseline)
    page = render_report(current, comparison)
    overall = current.metrics["all"].overall
    for metric in DELTA_METRICS:
        rate = overall.rate(metric)
        assert rate.value is not None
        shown = re.search(
            rf'<span data-metric="{metric}" data-slice="all" data-value="([^"]+)">([^<]+)</span>',
            page,
        )
        assert shown is not None, metric
        assert float(shown.group(1)) == rate.value
        assert shown.group(2) == f"{rate.value:.3f}" == fmt_value(rate.value)
        assert f"95% CI {rate.low:.3f}–{rate.high:.3f}" in page
        delta = comparison.deltas["all"][metric]
        assert f'data-delta="{metric}"' in page
        if delta.verdict != "same":
            assert f"{delta.delta:+.3f} vs baseline" in page
    for gate in current.gates:
        assert f'data-gate="{gate.metric}"' in page
    failed = sum(not g.passed for g in current.gates)
    assert (f"{failed} of {len(current.gates)} gates failed" in page) == bool(failed)
    assert comparison.reading().split(" (")[0] in page
    assert current.checkpoint.spec in page and current.checkpoint.fingerprint in page
    assert current.run_id in page and "baseline" in page.lower()


def test_slice_table_and_confusion_matrix(pair: tuple[RunResults, RunResults]) -> None:
    _, current = pair
    page = render_report(current)
    for split in ("all", "dev", "holdout"):
        for category in ("overall", "positive", "underspecified", "info_request", "chitchat"):
            assert f'data-slice="{split}" data-category="{category}"' in page
    # No chitchat in holdout: an empty category reads as a dash, never as 0 or 1.
    assert re.search(
        r'<td class="num muted" data-metric="pass_rate" data-slice="holdout" '
        r'data-category="chitchat">–</td>',
        page,
    )
    matrix = current.confusion["shop"]
    assert matrix["track_order"] == {"track_order": 8}  # wrong arguments, right tool
    assert matrix["no_tool"] == {"no_tool": 3, "track_order": 1}
    assert 'class="diag" style="--a:0.72" title="gold track_order → track_order: 8 of 8">8' in page
    assert 'class="off" style="--a:0.27" title="gold no_tool → track_order: 1 of 4">1</td>' in page
    for label in ("track_order", "refund_order", "search_products", "no_tool", "invalid"):
        assert f"<span>{label}</span>" in page


def test_cases_ordered_and_filterable(pair: tuple[RunResults, RunResults]) -> None:
    baseline, current = pair
    comparison = compare_runs(current, baseline)
    page = render_report(current, comparison)
    statuses = re.findall(r'class="case (?:full|row)"[^>]* data-status="(\w+)"', page)
    assert statuses == ["regression"] * 2 + ["fix"] * 1 + ["failing"] * 1 + ["passing"] * 8
    # Failures in full, passing cases as compact rows hidden until asked for.
    assert page.count('class="case full"') == 4
    assert page.count('<div class="case row" hidden data-status="passing"') == 8
    for name in ("status", "category", "split"):
        assert f'name="{name}"' in page
    assert 'value="passing">' in page  # unchecked by default
    assert "showing 4 of 12" in page
    # Regressions show what the baseline said, fixes what was wrong before.
    assert page.count("Baseline output (correct)") == 2
    assert "Baseline output (wrong arguments)" in page


def test_report_without_comparison_has_two_statuses(pair: tuple[RunResults, RunResults]) -> None:
    _, current = pair
    page = render_report(current)
    assert 'value="regression"' not in page and 'value="fix"' not in page
    assert "Regression report" not in page and "Evaluation report" in page


def test_comparison_for_another_run_is_refused(pair: tuple[RunResults, RunResults]) -> None:
    baseline, current = pair
    comparison = compare_runs(current, baseline)
    with pytest.raises(ValueError, match="comparison is for run"):
        render_report(baseline, comparison)


def test_non_rate_gate_and_no_gates_render(pair: tuple[RunResults, RunResults]) -> None:
    baseline, current = pair
    comparison: Comparison = compare_runs(current, baseline)
    regression_gate = GateResult(
        metric="regressions",
        op="<=",
        threshold=0.0,
        value=2.0,
        low=None,
        high=None,
        numerator=2,
        denominator=3,
        passed=False,
        offenders=comparison.regressions,
        message="regressions = 2; regressed cases: " + ", ".join(comparison.regressions),
    )
    page = render_report(
        current.model_copy(update={"gates": [*current.gates, regression_gate]}), comparison
    )
    assert 'data-gate="regressions"' in page
    assert '<a href="#c' in page  # offenders link to their cases
    page = render_report(current.model_copy(update={"gates": []}))
    assert "No gates were configured" in page


def test_long_texts_are_clipped(tmp_path: Path) -> None:
    rows = small_rows()
    outputs = outputs_where(rows)
    outputs["p2"] = "x" * (TEXT_LIMIT + 1234)
    page = render_report(run(tmp_path, rows, outputs))
    assert "x" * TEXT_LIMIT in page and "x" * (TEXT_LIMIT + 1) not in page
    assert "1,234 more characters in results.json" in page


def test_write_report_is_atomic_and_creates_folders(
    pair: tuple[RunResults, RunResults], tmp_path: Path
) -> None:
    _, current = pair
    out_dir = tmp_path / "deep" / "er"
    path = write_report(current, out_dir / "report.html")
    assert path.read_text(encoding="utf-8") == render_report(current)
    assert [p.name for p in out_dir.iterdir()] == ["report.html"]


# --- charts, colours, why a case failed, finding cases -------------------------------------


def varied_pair(tmp_path: Path, gate_split: Any = "holdout") -> tuple[RunResults, RunResults]:
    """A baseline and a current run of 120 cases with every kind of failure and match rules."""
    rows = synthetic_rows(120)
    common: dict[str, Any] = {"catalog": MATCHING_CATALOG, "gate_split": gate_split}
    baseline = run(tmp_path, rows, varied_outputs(rows, 9, shift=2), name="vb", **common)
    current = run(tmp_path, rows, varied_outputs(rows, 7), name="vc", **common)
    return baseline, current


def elements(page: str, tag: str, attribute: str) -> list[dict[str, str | None]]:
    return [a for t, a in parse(page).tags if t == tag and attribute in a]


def meets(value: float, gate: GateResult) -> bool:
    return value <= gate.threshold if gate.op == "<=" else value >= gate.threshold


def test_interval_charts_hold_every_slice_with_its_own_gate_colour(tmp_path: Path) -> None:
    baseline, current = varied_pair(tmp_path)
    page = render_report(current, compare_runs(current, baseline))
    gates = {g.metric: g for g in current.gates}
    points = elements(page, "circle", "data-metric")
    expected = 0
    for split, report in current.metrics.items():
        groups = {"overall": report.overall, **report.by_category}
        for category, m in groups.items():
            for metric in DELTA_METRICS:
                rate = m.rate(metric)
                if rate.value is None:
                    continue
                expected += 1
                found = [
                    p
                    for p in points
                    if (p["data-metric"], p["data-split"], p["data-category"])
                    == (metric, split, category)
                ]
                assert len(found) == 1, (metric, split, category)
                point = found[0]
                assert float(point["data-value"] or "nan") == rate.value
                assert float(point["data-low"] or "nan") == rate.low
                assert float(point["data-high"] or "nan") == rate.high
                if metric not in gates:  # a metric without a gate is drawn neutral
                    assert point["class"] == "pt none", (metric, split, category)
                    continue
                ok = meets(rate.value, gates[metric])
                assert point["class"] == f"pt {'ok' if ok else 'bad'}", (metric, split, category)
    assert len(points) == expected > 40
    # Some category misses a gate that its overall row meets, and is drawn red all the same.
    assert any(
        not meets(m.rate(metric).value or 0.0, gates[metric])
        and meets(r.overall.rate(metric).value or 0.0, gates[metric])
        for r in current.metrics.values()
        for m in r.by_category.values()
        for metric in DELTA_METRICS
        if metric in gates and m.rate(metric).value is not None
    )
    # The table colours every row by its own gate too.
    cells = re.findall(
        r'<td class="num( ok| bad)?" title="[^"]*" data-metric="(\w+)" data-slice="(\w+)" '
        r'data-category="(\w+)">([0-9.]+)',
        page,
    )
    assert cells
    for cls, metric, split, category, shown in cells:
        if metric not in gates:
            continue
        ok = meets(float(shown), gates[metric])
        assert cls == (" ok" if ok else " bad"), (metric, split, category)


def test_delta_charts_per_category_with_intervals(tmp_path: Path) -> None:
    baseline, current = varied_pair(tmp_path)
    comparison = compare_runs(current, baseline)
    page = render_report(current, comparison)
    points = elements(page, "circle", "data-delta")
    assert points
    for p in points:
        split, category, metric = p["data-split"], p["data-category"], p["data-delta"]
        assert split is not None and category is not None and metric is not None
        if category == "overall":
            d = comparison.deltas[split][metric]
        else:
            d = comparison.category_deltas[split][category][metric]
        assert d.delta is not None
        assert float(p["data-value"] or "nan") == d.delta
        low, high = float(p["data-low"] or "nan"), float(p["data-high"] or "nan")
        assert low <= d.delta <= high
    categories = {p["data-category"] for p in points}
    assert {"positive", "chitchat"} <= categories
    assert render_report(current).count("data-delta=") == 0


def test_delta_interval_is_newcombes() -> None:
    """Newcombe (1998), example (a): 56/70 - 48/80, method 10 gives 0.0524 to 0.3339."""
    from harness.compare import metric_delta

    d = metric_delta("tool_name_accuracy", Rate.of(48, 80), Rate.of(56, 70))
    interval = delta_interval(d)
    assert interval is not None
    assert interval[0] == pytest.approx(0.0524, abs=5e-4)
    assert interval[1] == pytest.approx(0.3339, abs=5e-4)
    assert delta_interval(metric_delta("pass_rate", Rate.of(0, 0), Rate.of(1, 2))) is None


def test_outcome_bar_counts_the_gate_split(tmp_path: Path) -> None:
    _, current = varied_pair(tmp_path, "holdout")
    page = render_report(current)
    holdout = [c for c in current.cases if c.split == "holdout"]
    bar = elements(page, "div", "data-n")
    assert bar == [{"class": "bar", "data-split": "holdout", "data-n": str(len(holdout))}]
    segments = [
        a for t, a in parse(page).tags if t == "button" and a.get("class", "").startswith("seg")
    ]
    for seg in segments:
        k = sum(c.outcome.value == seg["data-outcome"] for c in holdout)
        assert seg["data-k"] == str(k) and k > 0
    assert sum(int(s["data-k"] or 0) for s in segments) == len(holdout) < len(current.cases)
    assert f"{len(holdout)} holdout cases, the split the gates read" in page


def test_mismatched_arguments_show_rule_and_diff(tmp_path: Path) -> None:
    rows = [
        case("a1", "positive", "find shoes", "search_products", {"query": "Blue Shoes"}),
        case("a2", "positive", "refund", "refund_order", {"order_id": "ORD-1", "reason": "broken"}),
        case("a3", "positive", "track", "track_order", {"order_id": "ORD-7"}),
        case("a4", "positive", "refund", "refund_order", {"order_id": "ORD-2", "reason": "torn"}),
    ]
    outputs = {
        "a1": json.dumps(
            {"tool": "search_products", "arguments": {"query": f"red {HOSTILE_SCRIPT}"}}
        ),
        "a2": json.dumps(
            {"tool": "refund_order", "arguments": {"order_id": "ORD-1", "reason": "late"}}
        ),
        "a3": json.dumps({"tool": "track_order", "arguments": {"order_id": "ORD-8"}}),
        "a4": json.dumps({"tool": "refund_order", "arguments": {"order_id": "ORD-2"}}),
    }
    results = run(tmp_path, rows, outputs, catalog=MATCHING_CATALOG)
    assert results.golden[0].match_rules["search_products"] == {"query": "normalized"}
    page = render_report(results)
    assert_inert_markup(page)
    args = {(a["data-argument"], a["data-rule"]) for a in elements(page, "div", "data-rule")}
    assert args == {
        ("query", "normalized"),
        ("reason", "contains"),
        ("order_id", "exact"),
    }
    assert '<del title="in gold, not in the output">8</del>' not in page  # gold is 7
    deleted, inserted = "in gold, not in the output", "in the output, not in gold"
    assert f'<del title="{deleted}">7</del><ins title="{inserted}">8</ins>' in page
    assert "(missing)" in page
    assert escape(HOSTILE_SCRIPT) in page or "&lt;script&gt;" in page
    # A record made before match rules were recorded says so instead of guessing.
    old = results.model_copy(
        update={"golden": [g.model_copy(update={"match_rules": {}}) for g in results.golden]}
    )
    assert 'data-rule="not recorded"' in render_report(old)


def assert_inert_markup(page: str) -> None:
    names = [t for t, _ in parse(page).tags]
    assert "img" not in names and names.count("script") == 2
    assert HOSTILE_SCRIPT not in page


@given(st.text(max_size=80), st.text(max_size=80))
def test_text_diff_rebuilds_both_sides(gold: str, predicted: str) -> None:
    pieces = text_diff(gold, predicted)
    assert "".join(t for op, t in pieces if op != "ins") == gold
    assert "".join(t for op, t in pieces if op != "del") == predicted
    assert all(op in ("eq", "del", "ins") and t for op, t in pieces)


@given(st.floats(0, 1), st.floats(0, 1), st.booleans())
def test_chart_axis_covers_the_values_with_round_ticks(a: float, b: float, signed: bool) -> None:
    low, high = (-max(a, b), max(a, b)) if signed else (min(a, b), max(a, b))
    lo, hi, ticks = chart_axis(low, high)
    assert lo <= low + 1e-9 and high - 1e-9 <= hi and hi > lo
    assert lo >= -1.0 and hi <= 1.0
    assert 2 <= len(ticks) <= 7
    xs = [float(t["x"]) for t in ticks]
    assert xs == sorted(xs)
    assert all(CHART_LABEL - 0.1 <= x <= CHART_LABEL + CHART_PLOT + 0.1 for x in xs)
    assert all("e" not in t["text"] and t["text"] != "-0" for t in ticks)


def test_identical_failures_are_grouped_and_filters_listed(tmp_path: Path) -> None:
    baseline, current = varied_pair(tmp_path)
    page = render_report(current, compare_runs(current, baseline))
    by_output: dict[str, list[str]] = {}
    for c in current.cases:
        if not c.passed:
            by_output.setdefault(c.output.strip(), []).append(c.key)
    largest = max(by_output.values(), key=len)
    assert len(largest) >= 3
    assert f"<b>{len(largest)} cases</b> answered:" in page
    grouped = re.findall(r'data-group="(g\d+)"', page)
    assert grouped.count("g0") == len(largest) + 1  # every member, and the group itself
    for name in ("outcome", "error", "category", "split", "status"):
        assert f'name="{name}"' in page
    gated = [c for c in current.cases if c.split == current.gate_split]
    assert {str(c.parsed.error) for c in gated if c.parsed.error}
    for kind in {str(c.parsed.error) for c in gated if c.parsed.error}:
        assert f'data-pick="error" data-value="{kind}"' in page
    assert 'id="sort"' in page and 'class="rowmore"' in page
    for outcome in Outcome:
        if any(c.outcome is outcome for c in current.cases):
            assert f'data-pick="outcome" data-value="{outcome.value}"' in page


def test_scroll_containers_say_they_scroll(pair: tuple[RunResults, RunResults]) -> None:
    baseline, current = pair
    page = render_report(current, compare_runs(current, baseline))
    scrollers = elements(page, "div", "data-scroll")
    assert [s["data-scroll"] for s in scrollers] == ["the table", "the matrix"]
    assert page.count('class="scroll-hint"') == len(scrollers)


# --- size and speed ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> RunResults:
    rows = synthetic_rows(10_000)
    return run(tmp_path_factory.mktemp("big"), rows, synthetic_outputs(rows), name="big")


def test_10k_case_report_is_small_and_fast(big_run: RunResults, tmp_path: Path) -> None:
    assert len(big_run.cases) == 10_000
    started = time.perf_counter()
    path = write_report(big_run, tmp_path / "report.html")
    seconds = time.perf_counter() - started
    size = path.stat().st_size
    print(f"\n10k-case report: {size / 1e6:.2f} MB, rendered in {seconds:.2f} s")
    assert size < MAX_BYTES
    assert seconds < 10.0
    page = path.read_text(encoding="utf-8")
    failing = sum(not c.passed for c in big_run.cases)
    assert page.count('class="case full"') == failing  # every failure in full
    assert page.count('class="case row"') == 10_000 - failing


def test_10k_failing_cases_with_long_outputs_stay_under_the_limit(big_run: RunResults) -> None:
    """The worst case: everything fails with a long output; the budget keeps the file small."""
    long_output = "{" + "y" * 5_000
    cases = [
        c.model_copy(
            update={
                "passed": False,
                "outcome": Outcome.INVALID,
                "output": long_output,
                "prompt": "é" * 3_000,
                "gold": Target(tool="search_products", arguments={"query": "z" * 3_000}),
            }
        )
        for c in big_run.cases
    ]
    page = render_report(big_run.model_copy(update={"cases": cases}))
    size = len(page.encode("utf-8"))
    assert size < MAX_BYTES
    assert "cases are not listed" in page
    assert "all are in results.json" in page


# --- template injection and the browser test's CI rule -------------------------------------

TEMPLATE_SYNTAX = "{{ 7*7 }} {% if true %}yes{% endif %} {# gone #}"


def test_template_syntax_quotes_and_surrogates_in_data_stay_inert(tmp_path: Path) -> None:
    """Model text, prompts and ids that look like markup or like template code are shown as
    text: nothing closes the script element, nothing is evaluated, quotes cannot end an
    attribute, and a lone surrogate cannot stop the page from being written."""
    prompt = f'</script><script>alert(1)</script> {TEMPLATE_SYNTAX} it\'s "quoted"'
    rows = small_rows()
    rows.append(case("q'\"x", "positive", prompt, "search_products", {"query": TEMPLATE_SYNTAX}))
    outputs = outputs_where(rows, {"p2"})
    outputs["q'\"x"] = f"</script><script>alert(1)</script>{TEMPLATE_SYNTAX}"
    results = run(tmp_path, rows, outputs)
    cases = [
        c.model_copy(update={"output": c.output + "\ud800 tail"}) if c.id == "q'\"x" else c
        for c in results.cases
    ]
    path = write_report(results.model_copy(update={"cases": cases}), tmp_path / "r.html")
    page = path.read_text(encoding="utf-8")
    assert_inert(page)
    assert "\ud800" not in page and "? tail" in page
    assert page.count(str(escape(TEMPLATE_SYNTAX))) >= 3  # prompt, gold and output, as typed
    assert "49" not in page.split('id="cases"')[1].split("q&#39;&#34;x")[1][:4000]
    assert 'data-key="shop/q&#39;&#34;x"' in page
    # The prompt is one text node: no tag inside it.
    start = page.index('data-key="shop/q&#39;&#34;x"')
    pre = page[page.index('<pre class="prompt">', start) : page.index("</pre>", start)]
    assert "<" not in pre[len('<pre class="prompt">') :]


def test_browser_test_fails_in_ci_without_chromium(tmp_path: Path) -> None:
    """Without chromium the browser tests skip on a developer's machine and fail in CI."""
    root = Path(__file__).resolve().parent.parent
    argv = [sys.executable, "-m", "pytest", str(root / "tests" / "test_browser.py")]
    argv += ["-q", "-p", "no:cacheprovider", "-k", "10k"]
    base = {k: v for k, v in os.environ.items() if k != "CI"}
    base["ROUTECHECK_CHROMIUM"] = str(tmp_path / "no-chromium-here")
    dev = subprocess.run(argv, cwd=root, env=base, capture_output=True, text=True)
    assert dev.returncode == 0, dev.stdout
    assert "1 skipped" in dev.stdout
    ci = subprocess.run(argv, cwd=root, env={**base, "CI": "true"}, capture_output=True, text=True)
    assert ci.returncode == 1, ci.stdout
    assert "CI is set, so the browser test must run" in ci.stdout


def test_an_invalid_output_shows_every_schema_error(tmp_path: Path) -> None:
    rows = small_rows()
    outputs = outputs_where(rows)
    target = next(r for r in rows if r["category"] == "positive")
    outputs[target["id"]] = json.dumps(
        {"tool": target["target"]["tool"], "arguments": {"order_id": 7, "bogus": "<b>x</b>"}}
    )
    results = run(tmp_path, rows, outputs, name="schema")
    record = next(c for c in results.cases if c.id == target["id"])
    assert record.outcome.value == "invalid" and len(record.parsed.problems) >= 2
    page = render_report(results)
    for problem in record.parsed.problems:
        assert html.escape(problem, quote=False) in page
    assert "<b>x</b>" not in page
