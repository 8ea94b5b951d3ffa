"""JSON Lines: the one reader every JSONL file of the project goes through.

Lines are split on ``"\\n"`` only. ``str.splitlines()`` also breaks at U+2028, U+0085 and
other characters that ``json.dumps(..., ensure_ascii=False)`` leaves raw inside a string,
so a reader built on it rejects rows that our own writers produce.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import JsonlError


def iter_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` for each line of ``text``: split on ``"\\n"``, ``"\\r"`` dropped."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for lineno, line in enumerate(lines, start=1):
        yield lineno, line.removesuffix("\r")


class DuplicateKeyError(ValueError):
    """A JSON object gives the same key twice (``key`` names it)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key[:60]!r}")
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for every reader of files people write: a key given twice
    raises :class:`DuplicateKeyError` (plain ``json.loads`` keeps the last one silently)."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKeyError(key)
        obj[key] = value
    return obj


def parse_int(digits: str) -> int:
    """``int`` with a message of our own: Python refuses integers of more than
    ``sys.get_int_max_str_digits()`` digits with advice meant for programmers."""
    limit = sys.get_int_max_str_digits()
    if limit and len(digits.lstrip("-")) > limit:
        raise ValueError(f"an integer of {len(digits.lstrip('-'))} digits (at most {limit})")
    return int(digits)


def loads_strict(text: str) -> Any:
    """``json.loads`` that refuses an object with the same key twice.

    Plain ``json.loads`` silently keeps the last value, so a typo'd copy of a field would
    win unseen. A huge integer or nesting deeper than the interpreter can decode is refused
    too. Raises :class:`json.JSONDecodeError` for all of these, so callers need one handler.
    """
    try:
        return json.loads(text, object_pairs_hook=unique_keys, parse_int=parse_int)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        raise json.JSONDecodeError(str(exc), text, 0) from None
    except RecursionError:
        raise json.JSONDecodeError("arrays or objects nested too deeply", text, 0) from None


def read_jsonl(path: str | Path, *, skip_blank: bool = True) -> list[tuple[int, Any]]:
    """Every row of a UTF-8 JSONL file as ``(line number, value)``, duplicate keys refused.

    Raises :class:`JsonlError` naming the file and line for unreadable files and bad lines.
    """
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except IsADirectoryError:
        raise JsonlError(f"{p}: is a folder, not a JSONL file; give the path of a file") from None
    except FileNotFoundError:
        raise JsonlError(f"{p}: file not found") from None
    except OSError as exc:
        raise JsonlError(f"{p}: cannot be read ({exc.strerror}); check its permissions") from None
    except UnicodeDecodeError as exc:
        raise JsonlError(
            f"{p}: byte {exc.start} is not UTF-8 ({exc.reason}); save the file as UTF-8"
        ) from None
    rows: list[tuple[int, Any]] = []
    for lineno, line in iter_lines(text):
        if not line.strip():
            if skip_blank:
                continue
            raise JsonlError(f"{p}:{lineno}: blank line; remove it (one JSON value per line)")
        try:
            rows.append((lineno, loads_strict(line)))
        except json.JSONDecodeError as exc:
            raise JsonlError(
                f"{p}:{lineno}: bad JSON ({exc.msg} at column {exc.colno}); fix the line"
            ) from None
    return rows


def dumps_line(value: Any) -> str:
    """One JSONL line (with its ``"\\n"``), non-ASCII kept readable.

    A lone surrogate (read from a ``\\ud800`` escape) cannot be written as UTF-8: a value
    holding one is written all escaped instead, which reads back the same.
    """
    line = json.dumps(value, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(value)
    return line + "\n"
