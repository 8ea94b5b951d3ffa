"""Metrics over a list of verdicts: the seed's four numbers, the failure rates beside them,
per-category and per-split breakdowns, and a confusion matrix.

Every rate is declared once, as a :class:`MetricSpec` in :data:`METRICS`: its name, label,
hint, direction, and which verdicts it counts over which. :func:`compute_metrics`, the gates
(``harness.gates``) and every renderer read that table, so a metric cannot mean one thing
in the numbers and another in a gate's list of offending cases.

The seed's denominators are kept exactly:

- valid-tool-call rate      = valid outputs / n
- tool-name accuracy        = outputs naming the gold tool (no_tool included) / n
- argument-match accuracy   = valid outputs with the gold tool and matching arguments / valid
- false-tool-call rate      = cases whose gold is no_tool where a real tool was called / n

The ungrounded rate is over valid calls of a real tool (``no_tool`` answers and invalid
outputs carry no value ``route()`` would dispatch): those with a grounded argument whose
value is not in the conversation, whatever the case's gold.

Every rate carries a 95% Wilson interval. A rate over zero cases has ``value=None`` and
reads "no cases": never a division error, never a silent 1.0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.catalog import NO_TOOL
from harness.golden import Category
from harness.scoring import SILENT_CORRUPTION, CaseVerdict, Outcome
from harness.stats import wilson_interval

Direction = Literal["higher", "lower"]
"""Which way is better for a metric."""


def _every(_: CaseVerdict) -> bool:
    return True


def _valid(v: CaseVerdict) -> bool:
    return v.valid


def _false_call_attempt(v: CaseVerdict) -> bool:
    """On a no-tool case, a valid call of a real tool or an invalid output that tried one."""
    return v.gold_tool == NO_TOOL and (v.outcome is Outcome.FALSE_TOOL_CALL or v.call_attempt)


def _valid_call(v: CaseVerdict) -> bool:
    """A valid output that calls a real tool: the calls ``route()`` would dispatch."""
    return v.valid and v.predicted != NO_TOOL


def _ungrounded(v: CaseVerdict) -> bool:
    return bool(v.ungrounded_arguments)


@dataclass(frozen=True)
class MetricSpec:
    """One rate: what it is called, which way is better, and how it is counted.

    The rate is ``counts`` over the verdicts that ``over`` keeps. The cases that *offend* a
    gate on it are derived from the same two predicates (those counted for a lower-is-better
    rate, those not counted for a higher-is-better one), never written a second time.
    """

    name: str
    label: str
    """Human name, e.g. ``false-tool-call rate``."""
    column: str
    """A one-word column header for narrow tables (the terminal summary)."""
    hint: str
    """What the numerator is, in a few words."""
    direction: Direction
    counts: Callable[[CaseVerdict], bool]
    """Numerator: the verdict counts toward the rate (evaluated only on kept verdicts)."""
    over: Callable[[CaseVerdict], bool] = _every
    """Denominator: the verdict is part of the rate at all (every case unless said)."""
    over_label: str = "n"
    """The denominator in words, for legends and docs."""
    headline: bool = False
    """One of the seed's four numbers."""
    summary: bool = False
    """Shown in the terminal summary table."""

    @property
    def lower_is_better(self) -> bool:
        return self.direction == "lower"

    def offends(self, verdict: CaseVerdict) -> bool:
        """The verdict pulls this rate the wrong way: a case to name when its gate fails."""
        if not self.over(verdict):
            return False
        return self.counts(verdict) if self.lower_is_better else not self.counts(verdict)

    def rate(self, verdicts: Sequence[CaseVerdict]) -> Rate:
        kept = [v for v in verdicts if self.over(v)]
        return Rate.of(sum(self.counts(v) for v in kept), len(kept))


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        name="valid_tool_call_rate",
        label="valid-tool-call rate",
        column="valid",
        hint="outputs that are valid calls",
        direction="higher",
        counts=_valid,
        headline=True,
        summary=True,
    ),
    MetricSpec(
        name="tool_name_accuracy",
        label="tool-name accuracy",
        column="tool",
        hint="outputs naming the gold tool",
        direction="higher",
        counts=lambda v: v.tool_match,
        headline=True,
        summary=True,
    ),
    MetricSpec(
        name="argument_match_accuracy",
        label="argument-match accuracy",
        column="args",
        hint="valid outputs, right arguments",
        direction="higher",
        counts=lambda v: v.arguments_match,
        over=_valid,
        over_label="valid outputs",
        headline=True,
        summary=True,
    ),
    MetricSpec(
        name="false_tool_call_rate",
        label="false-tool-call rate",
        column="false",
        hint="tool called when none fits",
        direction="lower",
        counts=lambda v: v.outcome is Outcome.FALSE_TOOL_CALL,
        headline=True,
        summary=True,
    ),
    MetricSpec(
        name="missed_call_rate",
        label="missed-call rate",
        column="missed",
        hint="no_tool when a tool fits",
        direction="lower",
        counts=lambda v: v.outcome is Outcome.MISSED_CALL,
    ),
    MetricSpec(
        name="silent_corruption_rate",
        label="silent-corruption rate",
        column="silent",
        hint="valid call, wrong tool or args",
        direction="lower",
        counts=lambda v: v.outcome in SILENT_CORRUPTION,
        summary=True,
    ),
    MetricSpec(
        name="false_call_attempt_rate",
        label="false-call-attempt rate",
        column="attempt",
        hint="tool tried when none fits, valid or not",
        direction="lower",
        counts=_false_call_attempt,
        summary=True,
    ),
    MetricSpec(
        name="ungrounded_rate",
        label="ungrounded rate",
        column="invented",
        hint="valid calls with an invented grounded value",
        direction="lower",
        counts=_ungrounded,
        over=_valid_call,
        over_label="valid calls",
        summary=True,
    ),
    MetricSpec(
        name="pass_rate",
        label="pass rate",
        column="pass",
        hint="cases that passed",
        direction="higher",
        counts=lambda v: v.passed,
    ),
)
"""Every rate, in the order tables show them."""

_BY_NAME = {spec.name: spec for spec in METRICS}

RATE_NAMES: tuple[str, ...] = tuple(spec.name for spec in METRICS)
HEADLINE: tuple[str, ...] = tuple(spec.name for spec in METRICS if spec.headline)
"""The seed's four numbers, in the seed's order."""
SUMMARY: tuple[str, ...] = tuple(spec.name for spec in METRICS if spec.summary)
"""The columns of the terminal summary."""
LOWER_IS_BETTER = frozenset(spec.name for spec in METRICS if spec.lower_is_better)


def metric_spec(name: str) -> MetricSpec:
    """The table entry for ``name``; a ``KeyError`` that lists the known names otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(RATE_NAMES)}") from None


def metric_label(name: str) -> str:
    """The human name of a metric (``false-tool-call rate``); unknown names read as words."""
    spec = _BY_NAME.get(name)
    return spec.label if spec is not None else name.replace("_", " ")


def metric_hint(name: str) -> str:
    """What a metric counts, in a few words (the name itself when it is not in the table)."""
    spec = _BY_NAME.get(name)
    return spec.hint if spec is not None else name


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
    """All numbers for one slice of cases: one :class:`Rate` field per :data:`METRICS` entry."""

    model_config = ConfigDict(frozen=True)

    n: int
    valid_tool_call_rate: Rate
    tool_name_accuracy: Rate
    argument_match_accuracy: Rate
    false_tool_call_rate: Rate
    missed_call_rate: Rate
    silent_corruption_rate: Rate
    pass_rate: Rate
    false_call_attempt_rate: Rate = Field(
        default_factory=lambda: Rate.of(0, 0),
        description="Absent from results files written before it existed: read as no cases",
    )
    ungrounded_rate: Rate = Field(
        default_factory=lambda: Rate.of(0, 0),
        description="Absent from results files written before it existed: read as no cases",
    )
    ungrounded_arguments: int = Field(
        default=0, description="Grounded argument values not in the conversation, all calls"
    )
    error_kinds: dict[str, int]

    def rate(self, name: str) -> Rate:
        metric_spec(name)  # a KeyError naming the known metrics for anything else
        value: Rate = getattr(self, name)
        return value


def compute_metrics(verdicts: Iterable[CaseVerdict]) -> Metrics:
    """Every rate of :data:`METRICS`, and the parse-error counts, for any set of verdicts."""
    vs = list(verdicts)
    return Metrics(
        n=len(vs),
        error_kinds=dict(sorted(Counter(str(v.error) for v in vs if v.error).items())),
        ungrounded_arguments=sum(len(v.ungrounded_arguments) for v in vs),
        **{spec.name: spec.rate(vs) for spec in METRICS},
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
