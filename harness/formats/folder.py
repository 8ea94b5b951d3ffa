"""A golden folder's own output format, and which format each folder of a run uses.

A folder whose cases only make sense in one format (imported from a benchmark that scores
the model's native tool calls, say) says so in its catalog file: ``"x-format": "native"``
at the top level of ``catalog.json``, or ``FORMAT = "native"`` in ``catalog.py``. The
``catalog.py`` constant is read from the module's source, not by running it, so a bad
value is reported with its line before any catalog code runs twice.

Precedence, per folder: ``--rc-format`` on the command line wins for every folder; then
the folder's own format; then ``format`` under ``[tool.routecheck]``; then ``json``.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from harness.errors import GoldenFileError
from harness.formats.base import FORMATS

FORMAT_KEY = "x-format"
"""The top-level key of ``catalog.json`` that names the folder's output format."""

PY_FORMAT_NAME = "FORMAT"
"""The module-level constant of ``catalog.py`` that names the folder's output format."""

MIXED = "mixed"
"""The run-level format of a run whose folders used more than one format."""


def _bad(where: str, value: object) -> GoldenFileError:
    return GoldenFileError(
        f"{where}: {value!r} is not an output format; use one of {', '.join(FORMATS)} "
        "(or remove it to use the run's format)"
    )


def _checked(value: object, where: str) -> str:
    if not isinstance(value, str) or value not in FORMATS:
        raise _bad(where, value)
    return value


def _json_format(path: Path) -> str | None:
    """``x-format`` of a catalog.json (already read once by the catalog loader)."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # the catalog loader has reported it, naming the file
    if not isinstance(data, dict) or FORMAT_KEY not in data:
        return None
    return _checked(data[FORMAT_KEY], f"{path}: {FORMAT_KEY}")


def _py_format(path: Path) -> str | None:
    """``FORMAT = "..."`` at the top level of a catalog.py, read without running it."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return None  # importing the module reports it, naming the file and line
    found: str | None = None
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if not any(isinstance(t, ast.Name) and t.id == PY_FORMAT_NAME for t in targets):
            continue
        where = f"{path}:{node.lineno}: {PY_FORMAT_NAME}"
        if not isinstance(value, ast.Constant):
            raise GoldenFileError(
                f'{where}: must be a string literal such as {PY_FORMAT_NAME} = "native" '
                f"(one of {', '.join(FORMATS)}), so it can be read without running the module"
            )
        found = _checked(value.value, where)
    return found


def folder_format(folder: Path) -> str | None:
    """The output format ``folder``'s catalog file declares, or ``None``.

    The same file the catalog loader reads: ``catalog.json`` when present, else
    ``catalog.py``. A value that is not a format is refused, naming the file and field.
    """
    json_file, py_file = folder / "catalog.json", folder / "catalog.py"
    if json_file.is_file():
        return _json_format(json_file)
    if py_file.is_file():
        return _py_format(py_file)
    return None


def resolve_formats(
    declared: Iterable[tuple[str, str | None]], run_format: str, forced: bool
) -> dict[str, str]:
    """Catalog name -> the format its cases run in, from ``(catalog, declared)`` pairs.

    ``run_format`` is the run's setting (the command line's, pyproject's or ``json``);
    ``forced`` says it came from the command line, which wins over every folder.
    """
    return {name: run_format if forced or own is None else own for name, own in declared}


def run_format(formats: Mapping[str, str], default: str) -> str:
    """The run-level format: the one every folder used, :data:`MIXED`, or ``default``."""
    used = set(formats.values())
    if not used:
        return default
    return used.pop() if len(used) == 1 else MIXED


def format_label(run_level: str, formats: Mapping[str, str]) -> str:
    """``json``, or ``mixed (billing: native, travel: json)`` for a mixed run."""
    if run_level != MIXED or not formats:
        return run_level
    return f"{MIXED} (" + ", ".join(f"{k}: {v}" for k, v in sorted(formats.items())) + ")"
