"""Run settings: one dataclass filled from ``[tool.routecheck]`` in pyproject.toml and the
command line (the command line wins). Every field documents itself; the pytest plugin and
the CLI build their options from these fields.
"""

from __future__ import annotations

import tomllib
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from harness.errors import RoutecheckError
from harness.gates import GateConfig
from harness.golden import SLICES

DEFAULT_GOLDEN = "golden"


@dataclass(frozen=True)
class RunSettings:
    """Everything a suites run needs besides the golden cases themselves."""

    checkpoint: str | None = field(
        default=None,
        metadata={
            "help": "What to evaluate: base, a model or LoRA adapter folder, a .gguf file, "
            "a Hub id, or mock:FILE.JSONL (replayed outputs)."
        },
    )
    golden: str = field(
        default=DEFAULT_GOLDEN,
        metadata={"help": "Golden cases: a catalog folder, a folder of them, or one .jsonl."},
    )
    reports_dir: str = field(
        default="reports", metadata={"help": "Where runs write <run-id>/results.json."}
    )
    gate_split: str = field(
        default="all",
        metadata={"help": f"Cases the gates are computed on: {', '.join(SLICES)}."},
    )
    split: str = field(default="all", metadata={"help": f"Cases to run: {', '.join(SLICES)}."})
    max_new_tokens: int = field(
        default=128, metadata={"help": "Upper bound on generated tokens per case."}
    )
    batch_size: int = field(default=16, metadata={"help": "Cases per generation batch."})
    base_model: str | None = field(
        default=None,
        metadata={"help": "Base model for a LoRA adapter (overrides adapter_config.json)."},
    )
    no_cache: bool = field(default=False, metadata={"help": "Bypass the on-disk output cache."})
    baseline: str | None = field(
        default=None,
        metadata={"help": "A previous results.json, or a NAME saved with --rc-save-baseline."},
    )
    save_baseline: str | None = field(
        default=None,
        metadata={"help": "Save this run as baseline NAME under <reports-dir>/baselines/."},
    )
    fail_on_regression: bool = field(
        default=False,
        metadata={"help": "Add a gate that fails when any case passed in the baseline fails now."},
    )
    gates: GateConfig = field(default_factory=GateConfig)

    def __post_init__(self) -> None:
        for name in ("gate_split", "split"):
            value = getattr(self, name)
            if value not in SLICES:
                raise RoutecheckError(
                    f"{name.replace('_', '-')} = {value!r} is not accepted; "
                    f"use one of: {', '.join(SLICES)}"
                )
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise RoutecheckError("max-new-tokens and batch-size must be positive integers")


def setting_fields() -> list[Any]:
    """The plain (non-gate) settings, for building options."""
    return [f for f in fields(RunSettings) if f.name != "gates"]


def field_default(f: Any) -> Any:
    if f.default is not MISSING:
        return f.default
    return f.default_factory()


def read_pyproject(rootdir: Path) -> dict[str, Any]:
    """The ``[tool.routecheck]`` table of ``rootdir/pyproject.toml`` (empty when absent)."""
    path = rootdir / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RoutecheckError(f"{path}: not valid TOML: {exc}") from None
    table = data.get("tool", {}).get("routecheck", {})
    if not isinstance(table, dict):
        raise RoutecheckError(f"{path}: [tool.routecheck] must be a table")
    return table


def build_settings(file_values: dict[str, Any], cli_values: dict[str, Any]) -> RunSettings:
    """Merge pyproject values and command-line values (``None`` means not given)."""
    plain = {f.name for f in setting_fields()}
    gate_names = set(GateConfig.option_names())
    unknown = sorted(set(file_values) - plain - gate_names)
    if unknown:
        raise RoutecheckError(
            f"[tool.routecheck]: unknown key(s) {unknown}; known: {sorted(plain | gate_names)}"
        )
    merged = {**file_values, **{k: v for k, v in cli_values.items() if v is not None}}
    gate_values = {k: merged.pop(k) for k in list(merged) if k in gate_names}
    try:
        gates = replace(GateConfig(), **{k: _gate_value(v) for k, v in gate_values.items()})
        return RunSettings(**merged, gates=gates)
    except (TypeError, ValueError) as exc:
        raise RoutecheckError(f"routecheck settings: {exc}") from None


def _gate_value(value: Any) -> float | None:
    """A gate threshold; ``off``/``none`` switches the gate off."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("off", "none")):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"gate threshold {value!r} is not a number or 'off'") from None
