"""``routecheck``: the command line. Each sub-command is a thin door to a library function.

- ``routecheck run [pytest args]``       the suites (same as ``pytest suites/ ...``)
- ``routecheck compare A.json B.json``   baseline comparison and HTML diff, offline
- ``routecheck table A.json B.json``     runs side by side as Markdown, per split and category
- ``routecheck data ...``                generate SFT training rows for a catalog
- ``routecheck train ...``               LoRA SFT on the base model (TRL)
- ``routecheck feedback results.json``   failing dev cases -> new SFT rows
- ``routecheck gold-replay GOLDEN -o F`` a mock replay file whose outputs are the gold answers
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from harness.atomic import write_atomic
from harness.errors import RoutecheckError

SUITES_DIR = Path(__file__).resolve().parent / "suites"  # the packaged harness.suites


def _run(argv: list[str]) -> int:
    import pytest

    target = str(SUITES_DIR) if SUITES_DIR.is_dir() else "suites"
    return int(pytest.main([target, *argv]))


def _gold_replay(argv: list[str]) -> int:
    from harness.backends.mock import gold_replay_rows
    from harness.golden import load_golden

    parser = argparse.ArgumentParser(
        prog="routecheck gold-replay",
        description="Write a mock: replay file whose outputs are the gold answers.",
    )
    parser.add_argument("golden", help="golden folder or .jsonl file")
    parser.add_argument("-o", "--out", required=True, help="replay JSONL to write")
    args = parser.parse_args(argv)
    rows = gold_replay_rows(load_golden(args.golden))
    write_atomic(args.out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"wrote {len(rows)} gold outputs to {args.out}")
    return 0


def _lazy(module: str) -> Callable[[list[str]], int]:
    def call(argv: list[str]) -> int:
        import importlib

        main: Callable[[list[str]], int] = importlib.import_module(module).main
        return main(argv)

    return call


def _compare(argv: list[str]) -> int:
    from harness.compare import compare_main

    return compare_main(argv)


def _table(argv: list[str]) -> int:
    from harness.table import table_main

    return table_main(argv)


COMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "run": (_run, "run the suites (arguments go to pytest)"),
    "compare": (_compare, "compare two results.json files, write an HTML diff"),
    "table": (_table, "print runs side by side as Markdown tables"),
    "data": (_lazy("trainers.datagen"), "generate SFT rows for a catalog"),
    "train": (_lazy("trainers.sft"), "train a LoRA router with TRL"),
    "feedback": (_lazy("trainers.feedback"), "turn failing dev cases into SFT rows"),
    "gold-replay": (_gold_replay, "write a mock replay file of gold answers"),
}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: routecheck COMMAND [ARGS]\n\ncommands:")
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:<12} {text}")
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(
            f"routecheck: unknown command {name!r}; known: {', '.join(COMMANDS)}", file=sys.stderr
        )
        return 2
    try:
        return COMMANDS[name][0](rest)
    except RoutecheckError as exc:
        print(f"routecheck {name}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
