"""``routecheck gold-replay GOLDEN -o FILE``: a mock replay file whose outputs are the gold
answers, to check a golden set (and the harness) with a perfect "model"."""

from __future__ import annotations

import argparse
import sys

from harness.atomic import write_atomic
from harness.cli.common import EXIT_PASSED, parse, parser
from harness.jsonl import dumps_line


def build_parser() -> argparse.ArgumentParser:
    p = parser(
        "gold-replay",
        "Write a mock: replay file whose outputs are the gold answers.",
        [
            "routecheck gold-replay golden/customer_support -o perfect.jsonl",
            "routecheck gold-replay golden -o every-catalog-perfect.jsonl",
        ],
    )
    p.add_argument("golden", help="golden folder or .jsonl file")
    p.add_argument("-o", "--out", required=True, help="replay JSONL to write")
    return p


def main(argv: list[str] | None = None) -> int:
    """``argv`` excludes ``gold-replay``; library errors are turned into status 2 by
    :func:`harness.cli.main`."""
    from harness.backends.mock import gold_replay_rows
    from harness.golden import load_golden

    args = parse(build_parser(), sys.argv[1:] if argv is None else argv)
    if isinstance(args, int):
        return args
    rows = gold_replay_rows(load_golden(args.golden))
    # dumps_line escapes a lone surrogate (a gold argument may hold one) UTF-8 cannot write.
    write_atomic(args.out, "".join(dumps_line(r) for r in rows))
    print(f"wrote {len(rows)} gold outputs to {args.out}")
    return EXIT_PASSED
