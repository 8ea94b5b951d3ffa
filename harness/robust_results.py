"""The ``robustness`` section of results.json: how often a perturbed request keeps its verdict.

A rate here is the share of perturbed requests whose verdict (pass or fail) equals the
unperturbed request's verdict, with a 95% Wilson interval. The requests of one case are
pooled with every other case's, so the interval treats them as independent draws: read it as
a lower bound on the uncertainty, not an exact one.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.gates import GateResult
from harness.golden import Category, Split
from harness.scoring import Outcome
from harness.stats import wilson_interval


class RobustExample(BaseModel):
    """One perturbed request, the gold that goes with it, and what the model answered."""

    model_config = ConfigDict(frozen=True)

    prompt: str = Field(description="The perturbed request (the last user turn)")
    kinds: list[str] = Field(description="The perturbations applied, in order")
    steps: list[str] = Field(description="What each perturbation did")
    arguments: dict[str, Any] = Field(description="The gold arguments after any transform")
    accept: dict[str, list[Any]] = Field(default_factory=dict)
    output: str = Field(description="The raw model output (escaped when output_escaped)")
    output_escaped: bool = False
    outcome: Outcome
    passed: bool


class RobustCase(BaseModel):
    """One golden case under perturbation."""

    model_config = ConfigDict(frozen=True)

    key: str
    category: Category
    split: Split
    baseline_passed: bool = Field(description="The unperturbed request's verdict")
    n: int = Field(default=0, description="Distinct perturbed requests sampled")
    same: int = Field(default=0, description="Of those, requests with the unperturbed verdict")
    by_kind: dict[str, list[int]] = Field(
        default_factory=dict, description="Perturbation -> [same, n] over the sampled requests"
    )
    shrunk: RobustExample | None = Field(
        default=None, description="The smallest request found whose verdict differs"
    )
    flipped: list[RobustExample] = Field(
        default_factory=list, description="Sampled requests whose verdict differs (a few)"
    )
    rounds: int = Field(default=0, description="Generation rounds the search took")
    cut: bool = Field(default=False, description="Shrinking stopped at the round or generation cap")
    skipped: str | None = Field(default=None, description="Why no perturbation applies")

    @property
    def fragile(self) -> bool:
        return self.same < self.n


class RobustRate(BaseModel):
    """A robustness rate with its 95% Wilson interval (``None`` values over no requests)."""

    model_config = ConfigDict(frozen=True)

    same: int
    n: int
    value: float | None
    low: float | None
    high: float | None

    @classmethod
    def of(cls, same: int, n: int) -> RobustRate:
        interval = wilson_interval(same, n)
        low, high = interval if interval is not None else (None, None)
        return cls(same=same, n=n, value=same / n if n else None, low=low, high=high)

    def text(self) -> str:
        if self.value is None:
            return "no perturbed requests"
        return f"{self.value:.3f} ({self.same}/{self.n}), 95% CI [{self.low:.3f}, {self.high:.3f}]"


class RobustnessReport(BaseModel):
    """Everything the robustness suite found, per case and pooled."""

    model_config = ConfigDict(frozen=True)

    split: str
    examples: int = Field(description="Budget: perturbed requests drawn per case")
    perturbations: list[str]
    generations: int = Field(description="Model calls the suite made (cache hits included)")
    seconds: float
    overall: RobustRate
    by_category: dict[str, RobustRate]
    by_kind: dict[str, RobustRate]
    cases: list[RobustCase]

    def case(self, key: str) -> RobustCase:
        for c in self.cases:
            if c.key == key:
                return c
        raise KeyError(key)


def summarize(cases: list[RobustCase], kinds: list[str], **fields: Any) -> RobustnessReport:
    """Pool the per-case counts into rates overall, per category and per perturbation."""
    by_category: dict[str, list[int]] = {}
    by_kind: dict[str, list[int]] = {k: [0, 0] for k in kinds}
    for c in cases:
        cat = by_category.setdefault(c.category.value, [0, 0])
        cat[0] += c.same
        cat[1] += c.n
        for kind, (same, n) in c.by_kind.items():
            counts = by_kind.setdefault(kind, [0, 0])
            counts[0] += same
            counts[1] += n
    return RobustnessReport(
        perturbations=kinds,
        overall=RobustRate.of(sum(c.same for c in cases), sum(c.n for c in cases)),
        by_category={k: RobustRate.of(*v) for k, v in by_category.items()},
        by_kind={k: RobustRate.of(*v) for k, v in by_kind.items()},
        cases=cases,
        **fields,
    )


def robustness_gate(report: RobustnessReport, threshold: float, on: str) -> GateResult:
    """``--rc-min-robustness`` as a gate over the pooled rate (``on`` as ``--rc-gate-on``)."""
    rate = report.overall
    fragile = [c.key for c in report.cases if c.fragile]
    if rate.value is None:
        passed = False
        message = "robustness: no perturbed requests to measure; a gate never passes vacuously"
    else:
        compared = (rate.low or 0.0) if on == "bound" else rate.value
        basis = f"lower bound {compared:.4f} " if on == "bound" else ""
        passed = compared >= threshold
        message = (
            f"robustness = {rate.value:.4f} ({rate.same}/{rate.n} perturbed requests of the "
            f"{report.split} split kept their verdict), 95% CI [{rate.low:.4f}, "
            f"{rate.high:.4f}]; gate {basis}>= {threshold}: {'ok' if passed else 'FAILED'}"
        )
        if not passed and fragile:
            message += f"; fragile cases: {', '.join(fragile[:10])}"
    return GateResult(
        metric="robustness",
        op=">=",
        threshold=threshold,
        value=rate.value,
        low=rate.low,
        high=rate.high,
        numerator=rate.same,
        denominator=rate.n,
        passed=passed,
        offenders=fragile[:10],
        message=message,
    )
