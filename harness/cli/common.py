"""What every subcommand shares: its parser's shape, its examples and its exit statuses."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.errors import RoutecheckError

EXIT_PASSED = 0
"""The command did its work; for a run, every gate passed (failing cases are still listed)."""
EXIT_GATE_FAILED = 1
"""A gate failed (for ``compare``: a case regressed, with ``--fail-on-regression``)."""
EXIT_BAD_INPUT = 2
"""The command did not complete: bad input, a missing file, a write failure."""

EXIT_STATUSES: tuple[tuple[str, str], ...] = (
    (str(EXIT_PASSED), "every gate passed (failing cases are still listed and counted)"),
    (str(EXIT_GATE_FAILED), "a gate failed"),
    (
        "other",
        "the run did not complete (bad input, a backend or write failure; pytest's own: "
        "2 interrupted, 3 internal error, 4 usage error, 5 no tests collected)",
    ),
)
"""What ``routecheck run`` (and ``pytest suites/``) exits with: the one place it is written."""

TOOL_STATUSES: tuple[tuple[str, str], ...] = (
    (str(EXIT_PASSED), "done"),
    (str(EXIT_BAD_INPUT), "did not complete: bad input or a file that cannot be read or written"),
)
"""What the subcommands that gate nothing (table, gold-replay, data, train, feedback) exit with."""


def epilog(examples: Sequence[str], statuses: Sequence[tuple[str, str]]) -> str:
    """The end of a help text: examples to copy, then what each exit status means."""
    lines = ["examples:", *(f"  {e}" for e in examples), "", "exit status:"]
    lines += [f"  {code:<6} {meaning}" for code, meaning in statuses]
    return "\n".join(lines)


def parser(
    name: str,
    description: str,
    examples: Sequence[str],
    statuses: Sequence[tuple[str, str]] = TOOL_STATUSES,
) -> argparse.ArgumentParser:
    """A parser whose usage reads ``routecheck NAME`` and whose help ends with the epilog."""
    return argparse.ArgumentParser(
        prog=f"routecheck {name}",
        description=description,
        epilog=epilog(examples, statuses),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def parse(p: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace | int:
    """Parsed arguments, or the exit status argparse chose (0 after --help, 2 on a usage
    error, which it has already printed)."""
    try:
        return p.parse_args(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT


def run_command(
    name: str,
    p: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    body: Callable[[argparse.Namespace], int],
) -> int:
    """Parse ``argv`` (the process's arguments when None) and run ``body``; bad input or a
    file that cannot be read or written ends the command with one line on stderr and
    :data:`EXIT_BAD_INPUT`, never a traceback."""
    args = parse(p, sys.argv[1:] if argv is None else argv)
    if isinstance(args, int):
        return args
    try:
        return body(args)
    except (RoutecheckError, OSError) as exc:
        print(f"routecheck {name}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def add_reports_dir(p: argparse.ArgumentParser) -> None:
    """``--reports-dir``: where runs and saved baselines are looked up by name."""
    p.add_argument(
        "--reports-dir",
        type=Path,
        default=Path("reports"),
        help="where saved baselines and runs live (default: reports)",
    )
