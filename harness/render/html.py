"""The HTML report: one self-contained file a reviewer opens from disk.

The page is a Jinja2 template (``templates/report.html.j2``) with autoescaping on, so every
string that came from a model, a golden file or a catalog is escaped by the template engine,
never by hand. The CSS and the small filtering script are package files inlined at render
time, and the Content-Security-Policy admits only that script, by the hash of the very text
inlined, so even an escaping mistake could not run code.

Size is bounded whatever the run's size (under 5 MB): regressions, fixes and failures are
shown in full (texts clipped at :data:`TEXT_LIMIT` characters) until :data:`FULL_BUDGET`
bytes, every other case as a one-line row until :data:`CASES_BUDGET` bytes; cases beyond
are counted, and all remain in results.json. Passing cases start hidden (a filter shows
them), so even a 10,000-case report opens in under a second.

Charts are inline SVG drawn by the template from positions computed here (no library, no
network); each point carries its metric, split, category and value, so tests compare them
with results.json. Filters, sorting and grouping run in the small script, which keeps the
filter state in the address (``report.html#outcome=missed_call``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from harness.atomic import write_atomic
from harness.compare import (
    DELTA_METRICS,
    CaseChange,
    Comparison,
    keys_by_status,
)
from harness.gates import GateResult
from harness.golden import SLICES, SPLITS, Category
from harness.metrics import RATE_NAMES
from harness.render.charts import (
    CHART_LABEL,
    CHART_PLOT,
    chart_axis,
    confusion_matrices,
    delta_charts,
    delta_interval,
    meets_gate,
    metric_charts,
    metric_groups,
)
from harness.render.diffs import argument_diffs, text_diff
from harness.render.judged import judge_view
from harness.render.labels import metric_text, outcome_text
from harness.render.robustness import robustness_panel
from harness.render.templating import (
    TEXT_LIMIT,
    assets,
    clip,
    content_security_policy,
    environment,
    fmt_delta,
    fmt_interval,
    fmt_value,
    json_for_script,
)
from harness.results import CaseRecord, RunResults
from harness.scoring import Outcome

__all__ = [
    "CHART_LABEL",
    "CHART_PLOT",
    "TEXT_LIMIT",
    "argument_diffs",
    "chart_axis",
    "content_security_policy",
    "delta_interval",
    "fmt_delta",
    "fmt_interval",
    "fmt_value",
    "json_for_script",
    "render_report",
    "text_diff",
    "write_report",
]

CASES_BUDGET = 4_800_000
"""Bytes of the case list; the rest of a report (charts included) takes well under 0.4 MB."""

FULL_BUDGET = 2_500_000
"""Bytes of the case list spent on cases shown in full (regressions, fixes, failures)."""

SNIPPET = 80
"""Characters of the prompt in a one-line row."""

LAZY_FROM = 400
"""Above this many listed cases the browser lays out only those near the viewport."""

ROW_BREAK = "<!--row-->"
"""What the template writes before each one-line row; escaped text can never contain it."""

STATUSES = ("regression", "fix", "failing", "passing")

TABLE_METRICS = (*DELTA_METRICS, "pass_rate")

# --- view data for the sections ---------------------------------------------------------


def _head(results: RunResults) -> dict[str, Any]:
    splits = Counter(c.split for c in results.cases)
    timing = results.timing
    speed = ""
    if timing.get("generate_seconds"):
        speed = f"{timing['generate_seconds']:.1f} s generating"
        if timing.get("cached_cases"):
            speed += f", {int(timing['cached_cases']):,} cached"
    return {
        "failed": sum(not g.passed for g in results.gates),
        "splits": [(name, splits[name]) for name in SPLITS if splits.get(name)],
        "speed": speed,
        "catalogs": ", ".join(f"{g.catalog} ({g.n:,})" for g in results.golden),
        "decoding": ", ".join(f"{k}={v}" for k, v in results.decoding.items() if k != "mode"),
        "decoding_mode": results.decoding.get("mode", "free"),
        "judge": judge_view(results),
        "weights": _weights(results.checkpoint.details),
    }


def _weights(details: dict[str, Any]) -> tuple[str, str] | None:
    """``(dtype, label)`` for weights other than float32 (``--rc-dtype``); None otherwise."""
    dtype, head = details.get("dtype"), details.get("head_dtype")
    if not dtype or dtype == "float32":
        return None
    label = f"{dtype} weights" + (f", {head} head" if head and head != dtype else "")
    return str(dtype), label


def _gate_split(results: RunResults) -> str:
    return results.gate_split if results.gate_split in results.metrics else "all"


def _headline(results: RunResults, comparison: Comparison | None) -> dict[str, Any] | None:
    split = _gate_split(results)
    report = results.metrics.get(split)
    if report is None:
        return None
    m = report.overall
    deltas = comparison.deltas.get(split, {}) if comparison else {}
    gates = {g.metric: g for g in results.gates}
    cards = [
        {
            "metric": metric,
            "text": metric_text(metric),
            "rate": m.rate(metric),
            "gate": gates.get(metric),
            "delta": deltas.get(metric),
        }
        for metric in DELTA_METRICS
    ]
    lenient = results.lenient_metrics.get(split)
    lenient_text = ""
    if lenient is not None and lenient.n:
        lenient_text = " · ".join(
            f"{metric_text(k).label.lower()} {fmt_value(lenient.rate(k).value)}"
            for k in ("valid_tool_call_rate", "tool_name_accuracy", "pass_rate")
        )
    return {"split": split, "n": m.n, "cards": cards, "lenient": lenient_text}


def _gate_rows(gates: list[GateResult]) -> list[dict[str, Any]]:
    """Each gate with its shown value, interval, and its message split into text and links
    (the trailing list of offending cases becomes links to them)."""
    rows = []
    for g in gates:
        if g.metric in RATE_NAMES:
            value = fmt_value(g.value)
        else:
            value = "n/a" if g.value is None else f"{g.value:g}"
        offenders = g.offenders if not g.passed else []
        tail = ", ".join(offenders)
        head, links = g.message, []
        if offenders and g.message.endswith(tail):
            head, links = g.message[: len(g.message) - len(tail)], list(offenders)
        interval = f"{g.low:.3f}–{g.high:.3f}" if g.low is not None and g.high is not None else ""
        rows.append({"gate": g, "value": value, "interval": interval, "head": head, "links": links})
    return rows


def _outcome_bar(results: RunResults) -> dict[str, Any] | None:
    """Outcome counts over the cases the gates read (the gate split), not over all cases."""
    split = _gate_split(results)
    cases = [c for c in results.cases if split == "all" or c.split == split]
    counts = Counter(c.outcome for c in cases)
    n = len(cases)
    if not n:
        return None
    segments = [
        {
            "value": outcome.value,
            "label": outcome_text(outcome),
            "k": counts.get(outcome, 0),
            "width": f"{100 * counts.get(outcome, 0) / n:.3f}",
            "percent": f"{100 * counts.get(outcome, 0) / n:.1f}",
        }
        for outcome in Outcome
    ]
    split_metrics = results.metrics.get(split)
    errors = split_metrics.overall.error_kinds if split_metrics else {}
    ordered = sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))
    return {"n": n, "split": split, "segments": segments, "errors": ordered}


def _slice_rows(results: RunResults, comparison: Comparison | None) -> list[dict[str, Any]]:
    """The split/category table, overall row first; every row is coloured by its own gate
    status (a category below a threshold is red even when the overall passes)."""
    gates: dict[str, GateResult] = {}
    for g in results.gates:
        gates.setdefault(g.metric, g)
    rows: list[dict[str, Any]] = []
    for split in SLICES:
        report = results.metrics.get(split)
        if report is None or (split != "all" and not report.overall.n):
            continue
        deltas = comparison.deltas.get(split, {}) if comparison else {}
        by_cat = comparison.category_deltas.get(split, {}) if comparison else {}
        groups = metric_groups(report)
        for i, (category, m) in enumerate(groups):
            first = i == 0
            cells = []
            for metric in TABLE_METRICS:
                rate = m.rate(metric)
                ok = meets_gate(rate.value, gates.get(metric))
                delta = deltas.get(metric) if first else by_cat.get(category, {}).get(metric)
                cells.append(
                    {
                        "rate": rate,
                        "metric": metric,
                        "split": split,
                        "category": category,
                        "cls": "" if ok is None else (" ok" if ok else " bad"),
                        "delta": delta,
                    }
                )
            rows.append(
                {
                    "cls": "overall" if first else ("empty" if m.n == 0 else ""),
                    "rowspan": len(groups) if first else 0,
                    "split": split,
                    "gated": split == results.gate_split,
                    "category": category,
                    "n": m.n,
                    "cells": cells,
                }
            )
    return rows


# --- cases ------------------------------------------------------------------------------

ROW_MORE = 300
"""Characters of the output shown when a one-line row is expanded."""

GROUPS_SHOWN = 12
"""How many groups of identical failing outputs the report lists."""


def _identical_outputs(results: RunResults) -> dict[str, list[str]]:
    """Failing cases that gave the very same output (2 or more), largest group first."""
    by_output: dict[tuple[str, str], list[str]] = {}
    for case in results.cases:
        if case.passed:
            continue
        by_output.setdefault((case.catalog, case.output.strip()), []).append(case.key)
    groups = sorted((keys for keys in by_output.values() if len(keys) > 1), key=lambda k: -len(k))
    return {f"g{i}": keys for i, keys in enumerate(groups)}


@dataclass
class _Listed:
    """The case list as rendered, and what it tells the rest of the page."""

    parts: list[str]
    anchors: dict[str, str]
    counts: dict[str, int]
    omitted: Counter[str]
    n_full: int
    n_rows: int
    groups: dict[str, list[str]]


def _status_of(case: CaseRecord, statuses: dict[str, str]) -> tuple[str, bool]:
    """(display status, new in this run)."""
    raw = statuses.get(case.key)
    if raw == "regression" or raw == "fix":
        return raw, False
    return ("passing" if case.passed else "failing"), raw == "added"


def _list_cases(results: RunResults, comparison: Comparison | None) -> _Listed:
    """Render each case (in full or as a row) in status order until the byte budgets run out."""
    statuses: dict[str, str] = (
        dict(keys_by_status(comparison, (c.key for c in results.cases))) if comparison else {}
    )
    groups: dict[str, list[tuple[int, CaseRecord, bool]]] = {s: [] for s in STATUSES}
    for i, case in enumerate(results.cases):
        status, new = _status_of(case, statuses)
        groups[status].append((i, case, new))
    catalogs = len({c.catalog for c in results.cases}) > 1
    macros: Any = environment().get_template("cases.html.j2").module
    same = _identical_outputs(results)
    group_of = {key: gid for gid, keys in same.items() for key in keys}
    rules = {g.catalog: g.match_rules for g in results.golden}
    listed = _Listed([], {}, {s: len(groups[s]) for s in STATUSES}, Counter(), 0, 0, same)
    order = [(status, i, case, new) for status in STATUSES for i, case, new in groups[status]]
    # Failures in full first (passing cases come last in this order and are never in full).
    used = 0
    for status, i, case, new in order:
        if status == "passing" or used >= FULL_BUDGET:
            break
        change: CaseChange | None = comparison.changes.get(case.key) if comparison else None
        why = argument_diffs(case, rules)
        group = group_of.get(case.key)
        piece = str(macros.case_full(case, status, new, f"c{i}", change, catalogs, why, group))
        used += len(piece.encode("utf-8", "replace"))
        listed.anchors[case.key] = f"c{i}"
        listed.parts.append(piece)
    listed.n_full = len(listed.parts)
    # Every other case as a one-line row, while the whole list stays under its budget.
    rest = order[listed.n_full :]
    # Passing cases get no id (gates link to failures), except those the robustness panel
    # names: a fragile case passes unperturbed, and its link must find its row.
    fragile = (
        {c.key for c in results.robustness.cases if c.fragile} if results.robustness else set()
    )
    items = [
        (
            case,
            status,
            new,
            None if status == "passing" and case.key not in fragile else f"c{i}",
            group_of.get(case.key),
            *_row_text(case),
        )
        for status, i, case, new in rest
    ]
    rows = str(macros.case_rows(items, catalogs)).split(ROW_BREAK)[1:]
    for (case, status, _, anchor, *_), piece in zip(items, rows, strict=True):
        if used >= CASES_BUDGET:
            listed.omitted[status] += 1
            continue
        used += len(piece.encode("utf-8", "replace"))
        if anchor is not None:
            listed.anchors[case.key] = anchor
        listed.parts.append(piece)
    listed.n_rows = len(listed.parts) - listed.n_full
    return listed


def _row_text(case: CaseRecord) -> tuple[str, int, str, str, int]:
    """A row's prompt snippet, how many characters it leaves out, what was predicted, and
    the start of the output (shown when the row is expanded) with what it leaves out."""
    snippet, more = clip(" ".join(case.prompt.split()), SNIPPET)
    what = case.predicted
    if case.parsed.error is not None:
        what += f" ({case.parsed.error})"
    output, output_more = clip(case.output, ROW_MORE)
    return snippet, more, what, output, output_more


def _case_list(results: RunResults, comparison: Comparison | None, listed: _Listed) -> Any:
    counts, omitted = listed.counts, listed.omitted
    present = [s for s in STATUSES if counts[s] or s in ("failing", "passing")]
    if comparison is None:
        present = ["failing", "passing"]
    cat_counts = Counter(str(c.category) for c in results.cases)
    split_counts = Counter(c.split for c in results.cases)
    notes = []
    if listed.n_rows and listed.n_full < len(results.cases):
        notes.append(
            f"{listed.n_full:,} cases are shown in full and {listed.n_rows:,} as one-line rows, "
            "to keep this file small"
        )
    n_omitted = sum(omitted.values())
    if n_omitted:
        detail = ", ".join(f"{k:,} {s}" for s, k in omitted.items())
        notes.append(f"{n_omitted:,} cases are not listed ({detail}); all are in results.json")
    visible = sum(counts[s] - omitted[s] for s in present if s != "passing")
    outcome_counts = Counter(c.outcome.value for c in results.cases)
    error_counts = Counter(str(c.parsed.error) for c in results.cases if c.parsed.error is not None)
    by_key = {c.key: c for c in results.cases}
    groups = []
    for gid, keys in list(listed.groups.items())[:GROUPS_SHOWN]:
        first = by_key[keys[0]]
        output, more = clip(first.output.strip(), SNIPPET * 2)
        outcomes = Counter(by_key[k].outcome for k in keys)
        groups.append(
            {
                "id": gid,
                "members": keys,
                "output": output,
                "more": more,
                "outcome": outcomes.most_common(1)[0][0],
            }
        )
    return {
        "listed": len(listed.parts),
        "visible": visible,
        "statuses": [(s, counts[s]) for s in present],
        "categories": [(c.value, cat_counts.get(c.value, 0)) for c in Category],
        "splits": [(s, split_counts[s]) for s in SPLITS if split_counts.get(s)],
        "catalogs": sorted(Counter(c.catalog for c in results.cases).items()),
        "outcomes": [(o.value, outcome_counts.get(o.value, 0)) for o in Outcome],
        "errors": sorted(error_counts.items(), key=lambda kv: (-kv[1], kv[0])),
        "groups": groups,
        "n_groups": len(listed.groups),
        "notes": notes,
        "lazy": len(listed.parts) > LAZY_FROM,
        # Each piece was rendered by the template's own macros, escaping included.
        "parts": Markup("".join(listed.parts)),
    }


def _summary_json(results: RunResults, comparison: Comparison | None) -> dict[str, Any]:
    split = _gate_split(results)
    data: dict[str, Any] = {
        "run_id": results.run_id,
        "checkpoint": results.checkpoint.spec,
        "created_at": results.created_at,
        "gate_split": split,
        "gates_passed": all(g.passed for g in results.gates) if results.gates else None,
        "metrics": (
            {m: results.metrics[split].overall.rate(m).value for m in DELTA_METRICS}
            if split in results.metrics
            else {}
        ),
        "cases": len(results.cases),
    }
    if comparison is not None:
        data["comparison"] = {
            "baseline_run_id": comparison.baseline_run_id,
            "regressions": len(comparison.regressions),
            "fixes": len(comparison.fixes),
            "mcnemar_p": comparison.mcnemar_p,
        }
    return data


def render_report(results: RunResults, comparison: Comparison | None = None) -> str:
    """The whole report as one HTML document (a ``str``; write it as UTF-8)."""
    if comparison is not None and comparison.current_run_id != results.run_id:
        raise ValueError(
            f"the comparison is for run {comparison.current_run_id!r}, "
            f"not for run {results.run_id!r}"
        )
    listed = _list_cases(results, comparison)
    title = f"routecheck · {results.run_id}"
    if comparison is not None:
        title += f" vs {comparison.baseline_run_id}"
    css, script, csp = assets()
    doc = (
        environment()
        .get_template("report.html.j2")
        .render(
            results=results,
            comparison=comparison,
            anchors=listed.anchors,
            title=title,
            csp=csp,
            css=css,
            script=script,
            head=_head(results),
            headline=_headline(results, comparison),
            gates=_gate_rows(results.gates),
            outcome_bar=_outcome_bar(results),
            metric_charts=metric_charts(results),
            delta_charts=delta_charts(comparison),
            table_metrics=TABLE_METRICS,
            slice_rows=_slice_rows(results, comparison),
            matrices=confusion_matrices(results),
            case_list=_case_list(results, comparison, listed),
            robustness_panel=robustness_panel(results.robustness),
            # json_for_script escapes everything that could end the script element.
            summary=Markup(json_for_script(_summary_json(results, comparison))),
        )
    )
    # Lone surrogates (possible in model output read from JSON) cannot be written as UTF-8.
    return doc.encode("utf-8", "replace").decode("utf-8")


def write_report(
    results: RunResults, path: str | Path, comparison: Comparison | None = None
) -> Path:
    """Render the report and write it atomically to ``path``."""
    return write_atomic(path, render_report(results, comparison))
