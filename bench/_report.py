"""Where a benchmark writes its numbers: checked before the run, written atomically after.

A benchmark runs for many minutes; a ``--json`` path it cannot write must stop it at the
start, not lose the numbers at the end.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic


def json_target_problem(path: Path | None) -> str | None:
    """Why ``path`` cannot take the report (None when it can): its folder is made if missing."""
    if path is None:
        return None
    if path.is_dir():
        return f"--json {path}: is a folder, not a file"
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"--json {path}: cannot make its folder {folder} ({exc.strerror or exc})"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"--json {path}: its folder {folder} is not writable"
    return None


def check_json_target(path: Path | None) -> None:
    """Stop with exit status 2 and the reason when ``path`` cannot take the report."""
    problem = json_target_problem(path)
    if problem is not None:
        print(problem, file=sys.stderr)
        raise SystemExit(2)


def write_json(path: Path, payload: Any) -> None:
    """Write the report atomically (a reader never sees half of it), making its folder."""
    write_atomic(path, json.dumps(payload, indent=2) + "\n")
