"""``routecheck``: the command line. Each subcommand is one module and a thin door to a
library function.

- ``routecheck run [pytest args]``       the suites (same as ``pytest suites/ ...``)
- ``routecheck compare A.json B.json``   baseline comparison and HTML diff, offline
- ``routecheck table A.json B.json``     runs side by side as Markdown, per split and category
- ``routecheck data ...``                generate SFT training rows for a catalog
- ``routecheck train ...``               LoRA SFT on the base model (TRL)
- ``routecheck feedback results.json``   failing dev cases -> new SFT rows
- ``routecheck gold-replay GOLDEN -o F`` a mock replay file whose outputs are the gold answers
- ``routecheck history [REPORTS_DIR]``  every run on one golden set over time (HTML + Markdown)
- ``routecheck import bfcl SRC --out DIR``  BFCL categories as golden folders
- ``routecheck calibrate``               free-text match policies against hand-labelled pairs
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

from harness.cli.common import EXIT_BAD_INPUT
from harness.errors import RoutecheckError

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("harness.cli.run:main", "run the suites (arguments go to pytest)"),
    "compare": ("harness.cli.compare:main", "compare two results.json files, write an HTML diff"),
    "table": ("harness.cli.table:main", "print runs side by side as Markdown tables"),
    "data": ("harness.cli.trainers:data", "generate SFT rows for a catalog"),
    "train": ("harness.cli.trainers:train", "train a LoRA router with TRL"),
    "feedback": ("harness.cli.trainers:feedback", "turn failing dev cases into SFT rows"),
    "gold-replay": ("harness.cli.gold_replay:main", "write a mock replay file of gold answers"),
    "history": ("harness.cli.history:main", "every run in a reports folder over time"),
    "import": ("harness.cli.importer:main", "import a public suite as golden folders (bfcl)"),
    "calibrate": ("harness.calibrate:main", "measure free-text match policies on a labelled set"),
}
"""Subcommand -> (``module:function`` taking the remaining arguments, one-line help).
Modules are imported only when their command runs."""


def version() -> str:
    """The installed distribution's version, or the package's own when not installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("routecheck")
    except PackageNotFoundError:
        import harness

        return harness.__version__


def _command(name: str) -> Callable[[list[str]], int]:
    module, _, attr = COMMANDS[name][0].partition(":")
    func: Callable[[list[str]], int] = getattr(importlib.import_module(module), attr)
    return func


def _usage() -> str:
    lines = ["usage: routecheck COMMAND [ARGS]", "       routecheck --version", "", "commands:"]
    lines += [f"  {name:<12} {text}" for name, (_, text) in COMMANDS.items()]
    lines += [
        "",
        "`routecheck COMMAND --help` shows a command's options, examples and exit statuses.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else EXIT_BAD_INPUT
    if args[0] in ("-V", "--version"):
        print(f"routecheck {version()}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(
            f"routecheck: unknown command {name!r}; known: {', '.join(COMMANDS)}", file=sys.stderr
        )
        return EXIT_BAD_INPUT
    try:
        return _command(name)(rest)
    except RoutecheckError as exc:
        print(f"routecheck {name}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # The reader went away (`routecheck run --help | head`): not an error of ours.
        # Point stdout at devnull so the interpreter's final flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


__all__ = ["COMMANDS", "main", "version"]
