"""Metrics over a list of verdicts: the seed's four numbers, the failure rates beside them,
per-category and per-split breakdowns, and a confusion matrix.

The seed's denominators are kept exactly:

- valid-tool-call rate      = valid outputs / n
- tool-name accuracy        = outputs naming the gold tool (no_tool included) / n
- argument-match accuracy   = valid outputs with the gold tool and matching arguments / valid
- false-tool-call rate      = cases whose gold is no_tool where a real tool was called / n

Every rate carries a 95% Wilson interval. A rate over zero cases has ``value=None`` and
reads "no cases": never a division error, never a silent 1.0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from harness.catalog import NO_TOOL
from harness.golden import Category
from harness.scoring import SILENT_CORRUPTION, CaseVerdict, Outcome
from harness.stats import wilson_interval

HEADLINE = (
    "valid_tool_call_rate",
    "tool_name_accuracy",
    "argument_match_accuracy",
    "false_tool_call_rate",
)
"""The seed's four numbers, in the seed's order."""

LOWER_IS_BETTER = frozenset(
    {"false_tool_call_rate", "missed_call_rate", "silent_corruption_rate", "invalid_rate"}
)


class Rate(BaseModel):
    """A proportion with its counts and 95% Wilson interval."""

    model_config = ConfigDict(frozen=True)

    numerator: int
    denominator: int
    value: float | None
    low: float | None
    high: float | None

    @classmethod
    def of(cls, numerator: int, denominator: int) -> Rate:
        interval = wilson_interval(numerator, denominator)
        if interval is None:
            return cls(numerator=0, denominator=0, value=None, low=None, high=None)
        return cls(
            numerator=numerator,
            denominator=denominator,
            value=numerator / denominator,
            low=interval[0],
            high=interval[1],
        )

    def __str__(self) -> str:
        if self.value is None:
            return "no cases"
        counts = f"({self.numerator}/{self.denominator})"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] {counts}"


class Metrics(BaseModel):
    """All numbers for one slice of cases."""

    model_config = ConfigDict(frozen=True)

    n: int
    valid_tool_call_rate: Rate
    tool_name_accuracy: Rate
    argument_match_accuracy: Rate
    false_tool_call_rate: Rate
    missed_call_rate: Rate
    silent_corruption_rate: Rate
    pass_rate: Rate
    error_kinds: dict[str, int]

    def rate(self, name: str) -> Rate:
        value = getattr(self, name, None)
        if not isinstance(value, Rate):
            raise KeyError(f"unknown metric {name!r}; known: {', '.join(RATE_NAMES)}")
        return value


RATE_NAMES = (
    *HEADLINE,
    "missed_call_rate",
    "silent_corruption_rate",
    "pass_rate",
)


def compute_metrics(verdicts: Iterable[CaseVerdict]) -> Metrics:
    """The seed's four numbers and the failure rates beside them, for any set of verdicts."""
    vs = list(verdicts)
    n = len(vs)
    valid = sum(v.valid for v in vs)
    return Metrics(
        n=n,
        valid_tool_call_rate=Rate.of(valid, n),
        tool_name_accuracy=Rate.of(sum(v.tool_match for v in vs), n),
        argument_match_accuracy=Rate.of(sum(v.valid and v.arguments_match for v in vs), valid),
        false_tool_call_rate=Rate.of(sum(v.outcome is Outcome.FALSE_TOOL_CALL for v in vs), n),
        missed_call_rate=Rate.of(sum(v.outcome is Outcome.MISSED_CALL for v in vs), n),
        silent_corruption_rate=Rate.of(sum(v.outcome in SILENT_CORRUPTION for v in vs), n),
        pass_rate=Rate.of(sum(v.passed for v in vs), n),
        error_kinds=dict(sorted(Counter(str(v.error) for v in vs if v.error).items())),
    )


def _group(
    verdicts: Sequence[CaseVerdict], key: Callable[[CaseVerdict], str]
) -> dict[str, list[CaseVerdict]]:
    groups: dict[str, list[CaseVerdict]] = {}
    for v in verdicts:
        groups.setdefault(key(v), []).append(v)
    return groups


def metrics_by_category(verdicts: Sequence[CaseVerdict]) -> dict[str, Metrics]:
    """Metrics per category, in the fixed category order (empty ones included)."""
    groups = _group(verdicts, lambda v: v.category.value)
    return {c.value: compute_metrics(groups.get(c.value, [])) for c in Category}


def confusion_matrix(verdicts: Iterable[CaseVerdict]) -> dict[str, dict[str, int]]:
    """Counts of gold tool (rows) against predicted label (columns, ``invalid`` included)."""
    matrix: dict[str, dict[str, int]] = {}
    for v in verdicts:
        row = matrix.setdefault(v.gold_tool, {})
        row[v.predicted] = row.get(v.predicted, 0) + 1
    return matrix


def confusion_labels(tools: Sequence[str]) -> list[str]:
    """Column order for a confusion matrix: the catalog's tools, no_tool, invalid."""
    return [*tools, NO_TOOL, "invalid"]
