"""``routecheck history [REPORTS_DIR]``: every run on one golden set over time."""

from __future__ import annotations

import sys

from harness.cli.common import EXIT_BAD_INPUT, EXIT_PASSED, parse, parser
from harness.errors import RoutecheckError
from harness.history import history_markdown, write_history


def main(argv: list[str] | None = None) -> int:
    """``argv`` excludes ``history``."""
    p = parser(
        "history",
        "Every run in a reports folder on one golden set, over time: a self-contained HTML "
        "page (each gated metric with its 95% interval against the gate threshold, "
        "checkpoints, fingerprints, links to each run's report) and a Markdown table.",
        ["routecheck history", "routecheck history reports/ --out site/history.html"],
    )
    p.add_argument(
        "reports_dir", nargs="?", default="reports", help="reports folder (default: reports)"
    )
    p.add_argument("--out", help="HTML file to write (default: REPORTS_DIR/history.html)")
    p.add_argument(
        "--golden-fingerprint",
        help="draw the runs on this golden set (default: the set with the most runs)",
    )
    args = parse(p, sys.argv[1:] if argv is None else argv)
    if isinstance(args, int):
        return args
    try:
        html_path, md_path, history = write_history(
            args.reports_dir, args.out, args.golden_fingerprint
        )
    except (RoutecheckError, OSError) as exc:
        print(f"routecheck history: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(history_markdown(history), end="")
    for path, why in history.skipped:
        print(f"skipped {path}: {why}")
    if history.other_sets:
        print(f"left out {sum(history.other_sets.values())} run(s) on other golden sets")
    print(f"history: {html_path}\ntable:   {md_path}")
    return EXIT_PASSED
