"""The report's figures: chart positions and ticks, and confusion-matrix cells, for the
inline SVG and tables the template draws.

No plotting library and no network: every point carries its metric, split, category and
value, so tests compare the drawing with results.json.
"""

from __future__ import annotations

import math
from typing import Any

from harness.catalog import NO_TOOL
from harness.compare import DELTA_METRICS, Comparison, MetricDelta
from harness.gates import GateResult
from harness.golden import SLICES, Category
from harness.metrics import Metrics, confusion_labels
from harness.render.labels import metric_text
from harness.results import RunResults, SliceReport

CHART_LABEL = 150
"""Width of a chart's row labels, in SVG units."""

CHART_PLOT = 300
"""Width of a chart's plot area, in SVG units."""

CHART_ROW = 20
"""Height of one chart row, in SVG units."""

CHART_TOP = 10
CHART_BOTTOM = 26


def meets_gate(value: float | None, gate: GateResult | None) -> bool | None:
    """Whether ``value`` is on the passing side of ``gate``; None when either is missing, so
    the table and the charts colour only what a gate judges."""
    if gate is None or value is None:
        return None
    return value <= gate.threshold if gate.op == "<=" else value >= gate.threshold


def metric_groups(report: SliceReport) -> list[tuple[str, Metrics]]:
    """A slice's overall metrics, then its categories in the golden set's order."""
    known = [c.value for c in Category]
    groups: list[tuple[str, Metrics]] = [("overall", report.overall)]
    groups += [(c, report.by_category[c]) for c in known if c in report.by_category]
    groups += [(k, v) for k, v in report.by_category.items() if k not in known]
    return groups


def _nice_step(span: float) -> float:
    """A round tick step giving about four ticks over ``span``."""
    for step in (0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25):
        if span / step <= 5:
            return step
    return 0.5


def chart_axis(lo: float, hi: float) -> tuple[float, float, list[dict[str, Any]]]:
    """A domain widened to round ticks, and the ticks with their x positions."""
    step = _nice_step(max(hi - lo, 1e-9))
    lo = max(-1.0, math.floor(lo / step + 1e-9) * step)
    hi = min(1.0, math.ceil(hi / step - 1e-9) * step)
    if hi - lo < step:
        hi = min(1.0, lo + step) if lo + step <= 1.0 else hi
        lo = hi - step
    ticks = []
    k = 0
    while lo + k * step <= hi + 1e-9:
        v = round(lo + k * step, 9) + 0.0  # no 1e-17 or -0 labels
        ticks.append({"x": _x(v, lo, hi), "text": f"{v:+.3g}" if lo < 0 and v else f"{v:.3g}"})
        k += 1
    return lo, hi, ticks


def _x(value: float, lo: float, hi: float) -> str:
    """The x position of ``value`` in a plot over the domain ``lo``..``hi``."""
    return f"{CHART_LABEL + CHART_PLOT * (value - lo) / (hi - lo):.1f}"


def _frame(
    rows: list[dict[str, Any]], lo: float, hi: float, ticks: list[dict[str, Any]]
) -> dict[str, Any]:
    height = CHART_TOP + CHART_ROW * len(rows) + CHART_BOTTOM
    for i, row in enumerate(rows):
        row["y"] = CHART_TOP + CHART_ROW * i + CHART_ROW // 2
        row["sep"] = i > 0 and row["split"] != rows[i - 1]["split"]
        row["line_y"] = CHART_TOP + CHART_ROW * i
    return {
        "rows": rows,
        "ticks": ticks,
        "width": CHART_LABEL + CHART_PLOT + 16,
        "height": height,
        "plot_left": CHART_LABEL,
        "plot_right": CHART_LABEL + CHART_PLOT,
        "axis_y": height - CHART_BOTTOM + 4,
        "tick_y": height - CHART_BOTTOM + 18,
        "lo": lo,
        "hi": hi,
    }


def metric_charts(results: RunResults) -> list[dict[str, Any]]:
    """Per headline metric: every split and category as a point with its 95% interval, coloured
    by whether it meets the metric's gate, against the gate threshold."""
    gates: dict[str, GateResult] = {}
    for g in results.gates:
        gates.setdefault(g.metric, g)
    charts = []
    for metric in DELTA_METRICS:
        gate = gates.get(metric)
        rows: list[dict[str, Any]] = []
        for split in SLICES:
            report = results.metrics.get(split)
            if report is None:
                continue
            for category, m in metric_groups(report):
                rate = m.rate(metric)
                if rate.value is None or rate.low is None or rate.high is None:
                    continue
                ok = meets_gate(rate.value, gate)
                rows.append(
                    {
                        "split": split,
                        "category": category,
                        "rate": rate,
                        "cls": "none" if ok is None else ("ok" if ok else "bad"),
                    }
                )
        if not rows:
            continue
        lows = [r["rate"].low for r in rows] + ([gate.threshold] if gate else [])
        highs = [r["rate"].high for r in rows] + ([gate.threshold] if gate else [])
        lo, hi, ticks = chart_axis(max(0.0, min(lows)), min(1.0, max(highs)))
        for r in rows:
            rate = r["rate"]
            r.update(
                x=_x(rate.value, lo, hi), x_low=_x(rate.low, lo, hi), x_high=_x(rate.high, lo, hi)
            )
        chart = _frame(rows, lo, hi, ticks)
        chart.update(
            metric=metric,
            text=metric_text(metric),
            gate=gate,
            gate_x=_x(min(max(gate.threshold, lo), hi), lo, hi) if gate else None,
        )
        charts.append(chart)
    return charts


def delta_interval(d: MetricDelta) -> tuple[float, float] | None:
    """Newcombe's 95% interval of current minus baseline, from the two Wilson intervals.

    It treats the runs as independent samples, so for paired cases it is conservative."""
    b, c = d.baseline, d.current
    if d.delta is None or None in (b.value, b.low, b.high, c.value, c.low, c.high):
        return None
    assert b.value is not None and b.low is not None and b.high is not None
    assert c.value is not None and c.low is not None and c.high is not None
    low = d.delta - math.hypot(c.value - c.low, b.high - b.value)
    high = d.delta + math.hypot(c.high - c.value, b.value - b.low)
    return low, high


def delta_charts(comparison: Comparison | None) -> list[dict[str, Any]]:
    """Per headline metric: the change against the baseline of every split and category, with
    its 95% interval; green where the change is for the better."""
    if comparison is None:
        return []
    charts = []
    for metric in DELTA_METRICS:
        rows: list[dict[str, Any]] = []
        for split in SLICES:
            overall = comparison.deltas.get(split, {}).get(metric)
            per_cat = comparison.category_deltas.get(split, {})
            known = [c.value for c in Category]
            order = [c for c in known if c in per_cat] + [c for c in per_cat if c not in known]
            pairs = [("overall", overall)] + [(c, per_cat[c].get(metric)) for c in order]
            for category, d in pairs:
                if d is None:
                    continue
                interval = delta_interval(d)
                if interval is None or d.delta is None:
                    continue
                rows.append(
                    {
                        "split": split,
                        "category": category,
                        "delta": d,
                        "low": interval[0],
                        "high": interval[1],
                        "cls": {"better": "ok", "worse": "bad"}.get(d.verdict, "none"),
                    }
                )
        if not rows:
            continue
        reach = max(max(abs(r["low"]), abs(r["high"])) for r in rows)
        lo, hi, ticks = chart_axis(-min(1.0, reach), min(1.0, reach))
        for r in rows:
            r.update(
                x=_x(r["delta"].delta, lo, hi),
                x_low=_x(max(r["low"], lo), lo, hi),
                x_high=_x(min(r["high"], hi), lo, hi),
            )
        chart = _frame(rows, lo, hi, ticks)
        chart.update(metric=metric, text=metric_text(metric), zero_x=_x(0.0, lo, hi))
        charts.append(chart)
    return charts


def confusion_matrices(results: RunResults) -> list[dict[str, Any]]:
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
