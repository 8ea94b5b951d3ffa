"""``routecheck import SUITE ...``: public suites as golden folders (today: ``bfcl``)."""

from __future__ import annotations

import sys

from harness.cli.common import EXIT_BAD_INPUT

SUITES = {"bfcl": "harness.bfcl:main"}


def main(argv: list[str] | None = None) -> int:
    """``argv`` excludes ``import``; its first word names the suite."""
    import importlib

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(
            "usage: routecheck import SUITE [ARGS]\n\nsuites:\n  bfcl   the Berkeley Function "
            "Calling Leaderboard's categories (routecheck import bfcl --help)"
        )
        return 0 if args else EXIT_BAD_INPUT
    if args[0] not in SUITES:
        print(
            f"routecheck import: unknown suite {args[0]!r}; known: {', '.join(SUITES)}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    module, _, attr = SUITES[args[0]].partition(":")
    run: int = getattr(importlib.import_module(module), attr)(args[1:])
    return run
