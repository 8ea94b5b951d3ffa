"""The calibration set: hand-labelled pairs of a gold and a predicted free-text value.

Each JSONL line carries a verdict a person wrote before any policy was tuned, and the
part (``tune`` or ``sealed``) it belongs to; a malformed line is refused with its file,
line and field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from harness.errors import RoutecheckError

Verdict = Literal["match", "mismatch"]
Part = Literal["tune", "sealed"]
PARTS: tuple[Part, ...] = ("tune", "sealed")

DEFAULT_SET = Path(__file__).resolve().parent.parent / "golden" / "calibration"

_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "catalog": str,
    "tool": str,
    "argument": str,
    "gold": str,
    "accept": list,
    "predicted": str,
    "verdict": str,
    "note": str,
    "split": str,
    "lang": str,
}


class CalibrationFileError(RoutecheckError, ValueError):
    """A calibration JSONL file is malformed; the message names file, line and field."""


@dataclass(frozen=True)
class CalibrationPair:
    """One labelled pair: would a careful person accept ``predicted`` for ``gold``?"""

    id: str
    catalog: str
    tool: str
    argument: str
    gold: str
    accept: tuple[str, ...]
    predicted: str
    verdict: Verdict
    note: str
    split: Part
    lang: str
    source: str = ""

    @property
    def expected(self) -> bool:
        return self.verdict == "match"

    @property
    def candidates(self) -> list[str]:
        """The gold value, then the accepted ones: what a policy may match against."""
        return [self.gold, *self.accept]


def _pair_from_row(row: Any, where: str) -> CalibrationPair:
    if not isinstance(row, dict):
        raise CalibrationFileError(f"{where}: each line must be a JSON object, got {row!r}")
    unknown = sorted(set(row) - set(_FIELDS))
    if unknown:
        raise CalibrationFileError(
            f"{where}: unknown field {unknown[0]!r}; a pair has exactly the fields "
            f"{', '.join(_FIELDS)}"
        )
    for name, kind in _FIELDS.items():
        if name not in row:
            raise CalibrationFileError(f"{where}: field {name!r} is missing; add it")
        if not isinstance(row[name], kind):
            raise CalibrationFileError(
                f"{where}: field {name!r} must be a {getattr(kind, '__name__', kind)}, "
                f"got {row[name]!r}"
            )
    for name in ("id", "catalog", "tool", "argument", "gold", "lang"):
        if not row[name].strip():
            raise CalibrationFileError(f"{where}: field {name!r} is empty; give a value")
    for i, value in enumerate(row["accept"]):
        if not isinstance(value, str):
            raise CalibrationFileError(
                f"{where}: field 'accept' item {i} must be a string, got {value!r}"
            )
    if row["verdict"] not in get_args(Verdict):
        raise CalibrationFileError(
            f"{where}: field 'verdict' is {row['verdict']!r}; use 'match' or 'mismatch'"
        )
    if row["split"] not in PARTS:
        raise CalibrationFileError(
            f"{where}: field 'split' is {row['split']!r}; use 'tune' or 'sealed'"
        )
    return CalibrationPair(
        id=row["id"],
        catalog=row["catalog"],
        tool=row["tool"],
        argument=row["argument"],
        gold=row["gold"],
        accept=tuple(row["accept"]),
        predicted=row["predicted"],
        verdict=row["verdict"],
        note=row["note"],
        split=row["split"],
        lang=row["lang"],
        source=where,
    )


def load_calibration(path: str | Path) -> list[CalibrationPair]:
    """Every pair in a calibration folder (its ``*.jsonl`` files, sorted) or one file.

    Every line is validated; a bad one stops the load with ``file:line: field`` and the fix.
    """
    root = Path(path)
    if root.is_dir():
        files = sorted(root.glob("*.jsonl"))
    elif root.is_file():
        files = [root]
    else:
        raise CalibrationFileError(
            f"{root}: no such calibration folder or file; give --set a folder of *.jsonl pairs"
        )
    if not files:
        raise CalibrationFileError(f"{root}: no *.jsonl files in this calibration folder")
    pairs: list[CalibrationPair] = []
    seen: dict[str, str] = {}
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CalibrationFileError(f"{file}: not UTF-8 text ({exc.reason})") from None
        for lineno, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            where = f"{file}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CalibrationFileError(f"{where}: bad JSON ({exc.msg})") from None
            pair = _pair_from_row(row, where)
            if pair.id in seen:
                raise CalibrationFileError(
                    f"{where}: field 'id' {pair.id!r} repeats {seen[pair.id]}; ids must be unique"
                )
            seen[pair.id] = where
            pairs.append(pair)
    if not pairs:
        raise CalibrationFileError(f"{root}: the calibration set holds no pairs")
    return pairs
