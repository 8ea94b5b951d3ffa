"""``routecheck table RUN [RUN ...]``: runs side by side as Markdown, per split and category."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.atomic import write_atomic
from harness.baselines import load_baseline
from harness.cli.common import EXIT_PASSED, add_reports_dir, parser, run_command
from harness.render.markdown import SPLITS, render_table


def build_parser() -> argparse.ArgumentParser:
    p = parser(
        "table",
        "Print runs side by side as Markdown: the four numbers, silent corruption and "
        "pass rate, overall and per category, for each split. RUN is a results.json, a "
        "run folder, a run id or a saved baseline name.",
        [
            "routecheck table base router --label 'base model' --label 'router'",
            "routecheck table reports/20261122-101500-c0ffee --split holdout -o table.md",
        ],
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="runs to put side by side")
    p.add_argument(
        "--label",
        action="append",
        default=None,
        help="a name for each RUN, in order (default: each run's checkpoint)",
    )
    p.add_argument(
        "--split",
        action="append",
        choices=SPLITS,
        default=None,
        help="splits to show, in order (default: every split with cases, then all)",
    )
    add_reports_dir(p)
    p.add_argument("-o", "--output", type=Path, help="also write the table to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    """``argv`` excludes ``table``."""
    return run_command("table", build_parser(), argv, _table)


def _table(args: argparse.Namespace) -> int:
    runs = [load_baseline(spec, args.reports_dir) for spec in args.runs]
    labels = args.label or [r.checkpoint.spec for r in runs]
    text = render_table(runs, labels, args.split)
    print(text, end="")
    if args.output is not None:
        write_atomic(args.output, text)
    return EXIT_PASSED
