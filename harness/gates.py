"""Threshold gates: the numbers a checkpoint must reach to ship.

A gate compares a metric's point estimate with a threshold. A gate over zero cases fails:
a gate never passes vacuously. Which way a gate compares and which cases it names when it
fails both come from the metric's entry in ``harness.metrics.METRICS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from harness.metrics import Metrics, metric_spec
from harness.scoring import CaseVerdict


def _gate(default: float | None, help_text: str) -> Any:
    """A threshold field; its name (``min_``/``max_`` + a metric of the table) says the rest."""
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class GateConfig:
    """Thresholds; ``None`` switches a gate off. Also settable in ``[tool.routecheck]``.

    Each field is ``min_<metric>`` for a higher-is-better metric of ``harness.metrics.METRICS``
    or ``max_<metric>`` for a lower-is-better one (checked on construction).
    """

    max_false_tool_call_rate: float | None = _gate(
        0.02, "Highest false-tool-call rate allowed (gold no_tool, a tool called)."
    )
    min_valid_tool_call_rate: float | None = _gate(
        0.98, "Lowest share of outputs that are valid calls."
    )
    min_tool_name_accuracy: float | None = _gate(
        0.95, "Lowest share of outputs naming the gold tool."
    )
    min_argument_match_accuracy: float | None = _gate(
        0.95, "Lowest share of valid outputs with matching arguments."
    )
    max_silent_corruption_rate: float | None = _gate(
        0.05,
        "Highest share of cases answered by a valid call of the wrong tool "
        "or with wrong arguments.",
    )
    max_false_call_attempt_rate: float | None = _gate(
        None,
        "Highest share of cases whose gold is no_tool where the output called or tried to "
        "call a tool, valid or not (off unless set).",
    )
    max_ungrounded_rate: float | None = _gate(
        None,
        "Highest share of valid calls with a grounded (x-grounded) argument whose value is "
        "not in the conversation (off unless set).",
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            spec = metric_spec(f.name[4:])
            if f.name[:4] != ("max_" if spec.lower_is_better else "min_"):
                raise TypeError(f"gate {f.name}: {spec.name} is {spec.direction} is better")
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
            metric = f.name[4:]
            op: Literal["<=", ">="] = "<=" if metric_spec(metric).lower_is_better else ">="
            out.append((metric, op, float(value)))
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


GATE_ON = ("estimate", "bound")
"""What a gate compares with its threshold: the point estimate, or the far end of the 95%
interval (the upper end for a maximum, the lower end for a minimum)."""


def evaluate_gates(
    metrics: Metrics,
    verdicts: list[CaseVerdict],
    config: GateConfig,
    max_offenders: int = 10,
    on: str = "estimate",
) -> list[GateResult]:
    """Check every enabled gate against ``metrics`` (computed from ``verdicts``).

    With ``on="bound"`` a gate passes only when the whole interval is on the right side of
    the threshold: a conservative gate that a small golden set cannot pass by luck.
    """
    if on not in GATE_ON:
        raise ValueError(f"gate-on must be one of {', '.join(GATE_ON)}, got {on!r}")
    results = []
    for metric, op, threshold in config.gates():
        rate = metrics.rate(metric)
        offends = metric_spec(metric).offends
        offenders = [v.key for v in verdicts if offends(v)][:max_offenders]
        if rate.value is None:
            passed = False
            message = f"{metric}: no cases to measure; a gate never passes vacuously"
        else:
            if on == "bound":
                compared = (rate.high if op == "<=" else rate.low) or 0.0
                basis = f"{'upper' if op == '<=' else 'lower'} bound {compared:.4f} "
            else:
                compared, basis = rate.value, ""
            passed = compared <= threshold if op == "<=" else compared >= threshold
            verdict = "ok" if passed else "FAILED"
            message = (
                f"{metric} = {rate.value:.4f} ({rate.numerator}/{rate.denominator}), "
                f"95% CI [{rate.low:.4f}, {rate.high:.4f}]; gate {basis}{op} {threshold}: "
                f"{verdict}"
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
