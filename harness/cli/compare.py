"""``routecheck compare BASELINE CURRENT``: regressions, fixes, deltas and McNemar, offline."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.baselines import check_baseline_name, load_baseline, save_baseline
from harness.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_GATE_FAILED,
    EXIT_PASSED,
    add_reports_dir,
    parser,
    run_command,
)
from harness.compare import compare_runs
from harness.render.terminal import comparison_lines


def build_parser() -> argparse.ArgumentParser:
    p = parser(
        "compare",
        "Compare a run with a baseline: regressions, fixes, metric deltas and an exact "
        "McNemar test. BASELINE and CURRENT are results.json files, run folders, run ids "
        "or saved baseline names.",
        [
            "routecheck compare main reports/20261122-101500-c0ffee -o diff.html",
            "routecheck compare old/results.json new/results.json --fail-on-regression",
        ],
        [
            (str(EXIT_PASSED), "compared (without --fail-on-regression, whatever changed)"),
            (str(EXIT_GATE_FAILED), "a case regressed, with --fail-on-regression"),
            (str(EXIT_BAD_INPUT), "did not complete: a run cannot be read or compared"),
        ],
    )
    p.add_argument("baseline", help="the earlier run (A)")
    p.add_argument("current", help="the run under review (B)")
    p.add_argument("-o", "--output", type=Path, help="write the HTML diff report here")
    add_reports_dir(p)
    p.add_argument(
        "--save-baseline",
        metavar="NAME",
        help="also save CURRENT as the baseline NAME under REPORTS_DIR/baselines/",
    )
    p.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit with status 1 when any case regressed",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """``argv`` excludes ``compare``."""
    return run_command("compare", build_parser(), argv, _compare)


def _compare(args: argparse.Namespace) -> int:
    if args.save_baseline is not None:
        check_baseline_name(args.save_baseline)
    baseline = load_baseline(args.baseline, args.reports_dir)
    current = load_baseline(args.current, args.reports_dir)
    comparison = compare_runs(current, baseline)
    for line in comparison_lines(comparison):
        print(line)
    if args.output is not None:
        from harness.render.html import write_report

        path = write_report(current, args.output, comparison)
        print(f"wrote {path}")
    if args.save_baseline is not None:
        saved = save_baseline(current, args.save_baseline, args.reports_dir)
        print(f"saved baseline {args.save_baseline!r} to {saved}")
    if args.fail_on_regression and comparison.regressions:
        return EXIT_GATE_FAILED
    return EXIT_PASSED
