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
them), so even a 10,000-case report opens in well under two seconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from harness.atomic import write_atomic
from harness.catalog import NO_TOOL
from harness.compare import DELTA_METRICS, CaseChange, Comparison, keys_by_status
from harness.gates import GateResult
from harness.golden import Category
from harness.metrics import RATE_NAMES, Metrics, confusion_labels
from harness.render.labels import metric_text, outcome_text
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
    "TEXT_LIMIT",
    "content_security_policy",
    "fmt_delta",
    "fmt_interval",
    "fmt_value",
    "json_for_script",
    "render_report",
    "write_report",
]

CASES_BUDGET = 4_500_000
"""Bytes of the case list; the rest of a report takes well under 0.5 MB."""

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
        "dev": splits.get("dev", 0),
        "holdout": splits.get("holdout", 0),
        "speed": speed,
        "catalogs": ", ".join(f"{g.catalog} ({g.n:,})" for g in results.golden),
        "decoding": ", ".join(f"{k}={v}" for k, v in results.decoding.items()),
    }


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
    counts = Counter(c.outcome for c in results.cases)
    n = len(results.cases)
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
    all_metrics = results.metrics.get("all")
    errors = all_metrics.overall.error_kinds if all_metrics else {}
    ordered = sorted(errors.items(), key=lambda kv: -kv[1])
    return {"n": n, "segments": segments, "errors": ordered}


def _meets(value: float | None, gate: GateResult | None) -> bool | None:
    if gate is None or value is None:
        return None
    return value <= gate.threshold if gate.op == "<=" else value >= gate.threshold


def _slice_rows(results: RunResults, comparison: Comparison | None) -> list[dict[str, Any]]:
    """The split/category table, overall row first; only overall rows carry gate colours
    and deltas."""
    gates: dict[str, GateResult] = {}
    for g in results.gates:
        gates.setdefault(g.metric, g)
    known = [c.value for c in Category]
    rows: list[dict[str, Any]] = []
    for split in ("all", "dev", "holdout"):
        report = results.metrics.get(split)
        if report is None:
            continue
        deltas = comparison.deltas.get(split, {}) if comparison else {}
        groups: list[tuple[str, Metrics]] = [("overall", report.overall)]
        groups += [(c, report.by_category[c]) for c in known if c in report.by_category]
        groups += [(k, v) for k, v in report.by_category.items() if k not in known]
        for i, (category, m) in enumerate(groups):
            first = i == 0
            cells = []
            for metric in TABLE_METRICS:
                rate = m.rate(metric)
                ok = _meets(rate.value, gates.get(metric)) if first else None
                cells.append(
                    {
                        "rate": rate,
                        "metric": metric,
                        "split": split,
                        "category": category,
                        "cls": "" if ok is None else (" ok" if ok else " bad"),
                        "delta": deltas.get(metric) if first else None,
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


def _matrices(results: RunResults) -> list[dict[str, Any]]:
    blocks = []
    tools_of = {g.catalog: g.tools for g in results.golden}
    for catalog, matrix in results.confusion.items():
        tools = tools_of.get(catalog, [])
        cols = confusion_labels(tools)
        cols += sorted({p for row in matrix.values() for p in row} - set(cols))
        gold_rows = [*tools, NO_TOOL]
        gold_rows += sorted(set(matrix) - set(gold_rows))
        rows = []
        for gold in gold_rows:
            row = matrix.get(gold, {})
            total = sum(row.values())
            if not total and gold not in matrix and gold != NO_TOOL and gold not in tools:
                continue
            cells = [
                {
                    "col": col,
                    "k": row.get(col, 0),
                    "alpha": f"{0.12 + 0.6 * (row.get(col, 0) / total if total else 0.0):.2f}",
                }
                for col in cols
            ]
            recall = row.get(gold, 0) / total if total else None
            rows.append({"gold": gold, "cells": cells, "total": total, "recall": recall})
        total_all = sum(sum(r.values()) for r in matrix.values())
        blocks.append({"catalog": catalog, "total": total_all, "cols": cols, "rows": rows})
    return blocks


# --- cases ------------------------------------------------------------------------------


@dataclass
class _Listed:
    """The case list as rendered, and what it tells the rest of the page."""

    parts: list[str]
    anchors: dict[str, str]
    counts: dict[str, int]
    omitted: Counter[str]
    n_full: int
    n_rows: int


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
    listed = _Listed([], {}, {s: len(groups[s]) for s in STATUSES}, Counter(), 0, 0)
    order = [(status, i, case, new) for status in STATUSES for i, case, new in groups[status]]
    # Failures in full first (passing cases come last in this order and are never in full).
    used = 0
    for status, i, case, new in order:
        if status == "passing" or used >= FULL_BUDGET:
            break
        change: CaseChange | None = comparison.changes.get(case.key) if comparison else None
        piece = str(macros.case_full(case, status, new, f"c{i}", change, catalogs))
        used += len(piece.encode("utf-8", "replace"))
        listed.anchors[case.key] = f"c{i}"
        listed.parts.append(piece)
    listed.n_full = len(listed.parts)
    # Every other case as a one-line row, while the whole list stays under its budget.
    rest = order[listed.n_full :]
    # Passing cases get no id: gates link to failures, never to passing cases.
    items = [
        (case, status, new, None if status == "passing" else f"c{i}", *_row_text(case))
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


def _row_text(case: CaseRecord) -> tuple[str, int, str]:
    """A row's prompt snippet, how many characters it leaves out, and what was predicted."""
    snippet, more = clip(" ".join(case.prompt.split()), SNIPPET)
    what = case.predicted
    if case.parsed.error is not None:
        what += f" ({case.parsed.error})"
    return snippet, more, what


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
    return {
        "listed": len(listed.parts),
        "visible": visible,
        "statuses": [(s, counts[s]) for s in present],
        "categories": [(c.value, cat_counts.get(c.value, 0)) for c in Category],
        "splits": [(s, split_counts.get(s, 0)) for s in ("dev", "holdout")],
        "catalogs": sorted(Counter(c.catalog for c in results.cases).items()),
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
            table_metrics=TABLE_METRICS,
            slice_rows=_slice_rows(results, comparison),
            matrices=_matrices(results),
            case_list=_case_list(results, comparison, listed),
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
