"""Thin doors to the trainers: ``routecheck data``, ``train`` and ``feedback``.

Each trainer keeps its own parser (``build_parser()``) and ``main``; the door checks the
arguments with that parser renamed ``routecheck NAME`` and given examples and exit statuses,
so help and usage errors name the command the user typed, then hands over. Trainers are
imported only when their command runs (they pull in torch and TRL).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from harness.cli.common import TOOL_STATUSES, epilog, parse


def door(name: str, module: str, examples: Sequence[str]) -> Callable[[list[str] | None], int]:
    """``main(argv)`` for ``routecheck NAME``, handing over to ``module.main``."""

    def main(argv: list[str] | None = None) -> int:
        args = list(sys.argv[1:] if argv is None else argv)
        trainer = importlib.import_module(module)
        p: argparse.ArgumentParser = trainer.build_parser()
        p.prog = f"routecheck {name}"
        p.epilog = epilog(examples, TOOL_STATUSES)
        p.formatter_class = argparse.RawDescriptionHelpFormatter
        checked = parse(p, args)
        if isinstance(checked, int):
            return checked
        status: int = trainer.main(args)
        return status

    return main


data = door(
    "data",
    "trainers.datagen",
    [
        "routecheck data --catalog golden/customer_support --out data/train.jsonl",
        "routecheck data --catalog golden/travel_booking --out data/travel.jsonl --rows 2000",
    ],
)
train = door(
    "train",
    "trainers.sft",
    [
        "routecheck train --data data/train.jsonl --output-dir routers/mine",
        "routecheck train --data data/train.jsonl --output-dir routers/mine --epochs 2",
    ],
)
feedback = door(
    "feedback",
    "trainers.feedback",
    [
        "routecheck feedback reports/RUN-ID/results.json",
        "routecheck feedback reports/RUN-ID/results.json --out data/fb.jsonl --variants 5",
    ],
)
