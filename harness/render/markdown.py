"""Markdown: runs side by side, per split and category, from their results files.

A comparison of checkpoints (the zero-shot base model beside a fine-tuned router, say)
wants the same numbers for each, per split and per category, in a form a README or a pull
request can hold. The numbers are read from each run's ``results.json``, never recomputed
from anything else, so the table says exactly what the runs said.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness import golden
from harness.errors import RoutecheckError
from harness.metrics import Metrics, Rate
from harness.render.labels import metric_text
from harness.results import RunResults

TABLE_METRICS: tuple[str, ...] = (
    "valid_tool_call_rate",
    "tool_name_accuracy",
    "argument_match_accuracy",
    "false_tool_call_rate",
    "silent_corruption_rate",
    "pass_rate",
    "ungrounded_rate",
)
SPLITS = (*golden.SPLITS, "all")


class TableError(RoutecheckError, ValueError):
    """Runs that cannot share a table (different golden sets, a missing split)."""


def _cell(rate: Rate) -> str:
    return "-" if rate.value is None else f"{rate.value:.3f}"


def _row(label: str, metrics: Metrics, first: str = "") -> str:
    cells = [first, label] if first else [label]
    cells.append(str(metrics.n))
    cells.extend(_cell(metrics.rate(name)) for name in TABLE_METRICS)
    return "| " + " | ".join(cells) + " |"


def _header(first: str = "") -> list[str]:
    names = [first, "checkpoint"] if first else ["checkpoint"]
    names.append("n")
    names.extend(metric_text(name).column for name in TABLE_METRICS)
    return ["| " + " | ".join(names) + " |", "|" + " --- |" * len(names)]


def splits_with_cases(runs: Sequence[RunResults]) -> list[str]:
    """The default splits: each one some run has cases in, then all."""
    return [
        s
        for s in SPLITS
        if s == "all" or any(s in r.metrics and r.metrics[s].overall.n for r in runs)
    ]


def render_table(
    runs: Sequence[RunResults], labels: Sequence[str], splits: Sequence[str] | None = None
) -> str:
    """Markdown: per split, the overall numbers of each run, then each category's."""
    if len(runs) != len(labels):
        raise TableError(f"{len(labels)} labels for {len(runs)} runs")
    if not runs:
        raise TableError("give at least one run")
    fingerprints = {r.golden_fingerprint for r in runs}
    if len(fingerprints) > 1:
        raise TableError(
            "the runs were made on different golden sets (fingerprints "
            + ", ".join(sorted(fingerprints))
            + "): their numbers are not comparable"
        )
    out: list[str] = []
    for split in splits if splits is not None else splits_with_cases(runs):
        missing = [
            label for run, label in zip(runs, labels, strict=True) if split not in run.metrics
        ]
        if missing:
            raise TableError(f"split {split!r} is not in the results of {', '.join(missing)}")
        n = runs[0].metrics[split].overall.n
        out.append(f"**{split}** ({n} cases)")
        out.append("")
        out.extend(_header())
        out.extend(
            _row(label, run.metrics[split].overall) for run, label in zip(runs, labels, strict=True)
        )
        out.append("")
        out.extend(_header("category"))
        categories = list(runs[0].metrics[split].by_category)
        for category in categories:
            for run, label in zip(runs, labels, strict=True):
                per = run.metrics[split].by_category.get(category)
                if per is not None and per.n:
                    out.append(_row(label, per, first=category))
        out.append("")
    return "\n".join(out).rstrip() + "\n"
