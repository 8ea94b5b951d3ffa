"""``routecheck table``: runs side by side, as Markdown, from their results files.

A comparison of checkpoints (the zero-shot base model beside a fine-tuned router, say)
wants the same numbers for each, per split and per category, in a form a README or a pull
request can hold. The numbers are read from each run's ``results.json``, never recomputed
from anything else, so the table says exactly what the runs said.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from harness import golden
from harness.compare import load_baseline
from harness.errors import RoutecheckError
from harness.metrics import Metrics, Rate
from harness.results import RunResults

COLUMNS: tuple[tuple[str, str], ...] = (
    ("valid_tool_call_rate", "valid-tool-call"),
    ("tool_name_accuracy", "tool-name"),
    ("argument_match_accuracy", "argument-match"),
    ("false_tool_call_rate", "false-tool-call"),
    ("silent_corruption_rate", "silent corruption"),
    ("pass_rate", "pass"),
)
SPLITS = (*golden.SPLITS, "all")


class TableError(RoutecheckError, ValueError):
    """Runs that cannot share a table (different golden sets, a missing split)."""


def _cell(rate: Rate) -> str:
    return "-" if rate.value is None else f"{rate.value:.3f}"


def _row(label: str, metrics: Metrics, first: str = "") -> str:
    cells = [first, label] if first else [label]
    cells.append(str(metrics.n))
    cells.extend(_cell(metrics.rate(name)) for name, _ in COLUMNS)
    return "| " + " | ".join(cells) + " |"


def _header(first: str = "") -> list[str]:
    names = [first, "checkpoint"] if first else ["checkpoint"]
    names.append("n")
    names.extend(title for _, title in COLUMNS)
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="routecheck table",
        description=(
            "Print runs side by side as Markdown: the four numbers, silent corruption and "
            "pass rate, overall and per category, for each split. RUN is a results.json, a "
            "run folder, a run id or a saved baseline name."
        ),
    )
    parser.add_argument("runs", nargs="+", metavar="RUN", help="runs to put side by side")
    parser.add_argument(
        "--label",
        action="append",
        default=None,
        help="a name for each RUN, in order (default: each run's checkpoint)",
    )
    parser.add_argument(
        "--split",
        action="append",
        choices=SPLITS,
        default=None,
        help="splits to show, in order (default: every split with cases, then all)",
    )
    parser.add_argument(
        "--reports-dir",
        type=Path,
        default=Path("reports"),
        help="where saved baselines and runs live (default: reports)",
    )
    parser.add_argument("-o", "--output", type=Path, help="also write the table to this file")
    return parser


def table_main(argv: list[str] | None = None) -> int:
    """``routecheck table RUN [RUN ...]``. Exit status: 0 printed, 2 bad input."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage error (or --help)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        runs = [load_baseline(spec, args.reports_dir) for spec in args.runs]
        labels = args.label or [r.checkpoint.spec for r in runs]
        text = render_table(runs, labels, args.split)
        print(text, end="")
        if args.output is not None:
            from harness.atomic import write_atomic

            write_atomic(args.output, text)
    except (RoutecheckError, OSError) as exc:
        print(f"routecheck table: error: {exc}", file=sys.stderr)
        return 2
    return 0
