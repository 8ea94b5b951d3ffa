"""Threshold gates: the numbers a checkpoint must reach to ship.

A gate compares a metric's point estimate with a threshold. A gate over zero cases fails:
a gate never passes vacuously.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from harness.metrics import Metrics
from harness.scoring import SILENT_CORRUPTION, CaseVerdict, Outcome


@dataclass(frozen=True)
class GateConfig:
    """Thresholds; ``None`` switches a gate off. Also settable in ``[tool.routecheck]``."""

    max_false_tool_call_rate: float | None = field(
        default=0.02,
        metadata={"help": "Highest false-tool-call rate allowed (gold no_tool, a tool called)."},
    )
    min_valid_tool_call_rate: float | None = field(
        default=0.98, metadata={"help": "Lowest share of outputs that are valid calls."}
    )
    min_tool_name_accuracy: float | None = field(
        default=0.95, metadata={"help": "Lowest share of outputs naming the gold tool."}
    )
    min_argument_match_accuracy: float | None = field(
        default=0.95, metadata={"help": "Lowest share of valid outputs with matching arguments."}
    )
    max_silent_corruption_rate: float | None = field(
        default=0.05,
        metadata={
            "help": "Highest share of cases answered by a valid call of the wrong tool "
            "or with wrong arguments."
        },
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"gate {f.name} must be in [0, 1], got {value}")

    def gates(self) -> list[tuple[str, Literal["<=", ">="], float]]:
        """(metric, comparison, threshold) for every enabled gate, in a fixed order."""
        out: list[tuple[str, Literal["<=", ">="], float]] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            op: Literal["<=", ">="] = "<=" if f.name.startswith("max_") else ">="
            out.append((f.name[4:], op, float(value)))
        return out

    @classmethod
    def option_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def help_text(cls, name: str) -> str:
        for f in fields(cls):
            if f.name == name:
                return str(f.metadata.get("help", ""))
        raise KeyError(name)


class GateResult(BaseModel):
    """One gate's verdict, with what a reviewer needs to act on a failure."""

    model_config = ConfigDict(frozen=True)

    metric: str
    op: Literal["<=", ">="]
    threshold: float
    value: float | None
    low: float | None
    high: float | None
    numerator: int
    denominator: int
    passed: bool
    offenders: list[str]
    message: str


# Which failing verdicts "offend" each metric, to name the worst cases in a failure.
_OFFENDS: dict[str, Any] = {
    "false_tool_call_rate": lambda v: v.outcome is Outcome.FALSE_TOOL_CALL,
    "valid_tool_call_rate": lambda v: not v.valid,
    "tool_name_accuracy": lambda v: not v.tool_match,
    "argument_match_accuracy": lambda v: v.valid and not v.arguments_match,
    "silent_corruption_rate": lambda v: v.outcome in SILENT_CORRUPTION,
    "missed_call_rate": lambda v: v.outcome is Outcome.MISSED_CALL,
}


def evaluate_gates(
    metrics: Metrics, verdicts: list[CaseVerdict], config: GateConfig, max_offenders: int = 10
) -> list[GateResult]:
    """Check every enabled gate against ``metrics`` (computed from ``verdicts``)."""
    results = []
    for metric, op, threshold in config.gates():
        rate = metrics.rate(metric)
        offenders = [v.key for v in verdicts if _OFFENDS[metric](v)][:max_offenders]
        if rate.value is None:
            passed = False
            message = f"{metric}: no cases to measure; a gate never passes vacuously"
        else:
            passed = rate.value <= threshold if op == "<=" else rate.value >= threshold
            verdict = "ok" if passed else "FAILED"
            message = (
                f"{metric} = {rate.value:.4f} ({rate.numerator}/{rate.denominator}), "
                f"95% CI [{rate.low:.4f}, {rate.high:.4f}]; gate {op} {threshold}: {verdict}"
            )
            if not passed and offenders:
                message += f"; worst cases: {', '.join(offenders)}"
        results.append(
            GateResult(
                metric=metric,
                op=op,
                threshold=threshold,
                value=rate.value,
                low=rate.low,
                high=rate.high,
                numerator=rate.numerator,
                denominator=rate.denominator,
                passed=passed,
                offenders=offenders,
                message=message,
            )
        )
    return results
