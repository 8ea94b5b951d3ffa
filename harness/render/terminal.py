"""Plain-text renderers: the table a pytest run ends with, and the ``compare`` summary.

Both return lines rather than printing, so the pytest plugin, the command line and tests
can each send them where they belong.
"""

from __future__ import annotations

from harness.compare import Comparison
from harness.golden import SLICES, SPLITS
from harness.metrics import SUMMARY, Metrics, metric_spec
from harness.render.judged import judge_lines
from harness.results import RunResults


def _row(label: str, m: Metrics) -> str:
    cells = []
    for name in SUMMARY:
        rate = m.rate(name)
        cells.append(f"{rate.value:>10.3f}" if rate.value is not None else f"{'no cases':>10}")
    return f"{label:<26}{m.n:>6}" + "".join(cells)


def summary_lines(results: RunResults) -> list[str]:
    """The terminal table: the metrics marked ``summary`` in the metric table, per slice."""
    columns = "".join(f"{metric_spec(name).column:>10}" for name in SUMMARY)
    header = f"{'slice':<26}{'n':>6}{columns}"
    lines = [header, "-" * len(header)]
    for split in SLICES:
        report = results.metrics.get(split)
        if report is None or (split != "all" and not report.overall.n):
            continue  # a split with no cases in this run (or older than the results file)
        lines.append(_row(split, report.overall))
        for category, m in report.by_category.items():
            if m.n:
                lines.append(_row(f"  {category}", m))
    lines.append("")
    legend = []
    for name in SUMMARY:
        spec = metric_spec(name)
        over = f" (on {spec.over_label})" if spec.over_label != "n" else ""
        legend.append(f"{spec.column} = {spec.label}{over}")
    lines.append(", ".join(legend))
    if results.gates:
        bound = " (interval bounds)" if results.gate_on == "bound" else ""
        lines.append(f"gates on the {results.gate_split} split{bound}:")
    for gate in results.gates:
        lines.append(("PASS " if gate.passed else "FAIL ") + gate.message)
    lines.extend(judge_lines(results))
    return lines


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _fmt_delta(delta: float | None) -> str:
    return "n/a" if delta is None else f"{delta:+.3f}"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def comparison_lines(comparison: Comparison) -> list[str]:
    """The short text summary ``routecheck compare`` prints."""
    c = comparison
    lines = [
        f"baseline {c.baseline_run_id} ({c.baseline_checkpoint})",
        f" current {c.current_run_id} ({c.current_checkpoint})",
        f"cases: {c.n_paired} paired: {_plural(len(c.regressions), 'regression')}, "
        f"{_plural(len(c.fixes), 'fix', 'fixes')}, {len(c.still_failing)} still failing, "
        f"{len(c.still_passing)} still passing; {len(c.added)} added, {len(c.removed)} removed",
        f"McNemar exact {c.reading()}",
    ]
    overall = c.deltas.get("all", {})
    if overall:
        lines.append(
            f"{'metric (all cases)':<24} {'baseline':>8} {'current':>8} {'delta':>7}"
            f"{'':<8} " + " ".join(f"{s:>7}" for s in SPLITS)
        )
    for metric, d in overall.items():
        note = "" if d.verdict in ("same", "n/a") else d.verdict
        per_split = " ".join(
            f"{_fmt_delta(c.deltas[s][metric].delta) if s in c.deltas else 'n/a':>7}"
            for s in SPLITS
        )
        lines.append(
            f"{metric:<24} {_fmt(d.baseline.value):>8} {_fmt(d.current.value):>8} "
            f"{_fmt_delta(d.delta):>7} {note:<7} {per_split}"
        )
    lines.extend(f"warning: {w}" for w in c.warnings)
    if c.regressions:
        shown = c.regressions[:10]
        more = f" (+{len(c.regressions) - len(shown)} more)" if len(c.regressions) > 10 else ""
        lines.append(f"regressions: {', '.join(shown)}{more}")
    return lines
