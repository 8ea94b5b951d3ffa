"""Saved baselines: runs kept under a name, and the lookup that finds a run from a spec.

A baseline is a results.json copied to ``<reports_dir>/baselines/<NAME>.json``. Anything
that asks for a run (``--rc-baseline``, ``routecheck compare``, ``routecheck table``)
accepts a results.json path, a run folder, a saved baseline name or a run id.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.compare import ComparisonError
from harness.results import RunResults, read_results, write_results

BASELINES_DIR = "baselines"
"""Saved baselines live in ``<reports_dir>/baselines/<NAME>.json``."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class BaselineError(ComparisonError):
    """A baseline cannot be found or saved (a comparison cannot start without it)."""


def check_baseline_name(name: str) -> str:
    """A baseline name is a plain file name: letters, digits, ``.``, ``_``, ``-``."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name.endswith(".json"):
        raise BaselineError(
            f"baseline name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit, without a .json suffix (e.g. 'main')"
        )
    return name


def baseline_path(name: str, reports_dir: str | Path) -> Path:
    """Where the baseline ``name`` is saved under ``reports_dir``."""
    return Path(reports_dir) / BASELINES_DIR / f"{check_baseline_name(name)}.json"


def list_baselines(reports_dir: str | Path) -> list[str]:
    """Names of the baselines saved under ``reports_dir``."""
    folder = Path(reports_dir) / BASELINES_DIR
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if _NAME_RE.match(p.stem))


def save_baseline(results: RunResults, name: str, reports_dir: str | Path) -> Path:
    """Save a run as the named baseline (atomically; an existing one is replaced)."""
    path = baseline_path(name, reports_dir)
    return write_results(results, path)


def load_baseline(spec: str, reports_dir: str | Path) -> RunResults:
    """Load a run from ``spec``: a results.json path, a run folder holding one, a baseline
    saved under ``reports_dir/baselines/``, or a run id under ``reports_dir``."""
    reports = Path(reports_dir)
    p = Path(spec)
    if p.is_file():
        return read_results(p)
    if p.is_dir() and (p / "results.json").is_file():
        return read_results(p / "results.json")
    if _NAME_RE.match(spec) and not spec.endswith(".json"):
        saved = reports / BASELINES_DIR / f"{spec}.json"
        if saved.is_file():
            return read_results(saved)
        run = reports / spec / "results.json"
        if run.is_file():
            return read_results(run)
    names = list_baselines(reports)
    known = f"saved baselines: {', '.join(names)}" if names else "no baselines are saved"
    raise BaselineError(
        f"{spec!r}: no such results file, run folder, or baseline name under "
        f"{reports / BASELINES_DIR} ({known})"
    )
