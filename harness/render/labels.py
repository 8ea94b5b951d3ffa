"""How each metric and outcome is named on screen, in one lookup for every renderer.

All renderers ask :func:`metric_text`, so the words for a metric can later come from a
single table of metric definitions by changing this one function.
"""

from __future__ import annotations

from typing import NamedTuple

from harness.metrics import metric_spec
from harness.scoring import Outcome


class MetricText(NamedTuple):
    """The words a renderer needs for one metric."""

    label: str
    """Title case, for headings and cards: ``Valid tool calls``."""
    column: str
    """A Markdown column title: ``valid-tool-call``."""
    short: str
    """A terminal column of ten characters at most: ``valid``."""
    hint: str
    """What the metric counts, in a few words."""
    lower_is_better: bool


_TITLES: dict[str, tuple[str, str]] = {
    "valid_tool_call_rate": ("Valid tool calls", "valid-tool-call"),
    "tool_name_accuracy": ("Tool-name accuracy", "tool-name"),
    "argument_match_accuracy": ("Argument match", "argument-match"),
    "false_tool_call_rate": ("False tool calls", "false-tool-call"),
    "silent_corruption_rate": ("Silent corruption", "silent corruption"),
    "missed_call_rate": ("Missed calls", "missed-call"),
    "pass_rate": ("Pass rate", "pass"),
    "false_call_attempt_rate": ("False call attempts", "false-call-attempt"),
    "ungrounded_rate": ("Ungrounded calls", "ungrounded"),
}
"""Display titles (card heading, Markdown column); everything else is in the metric table."""


def metric_text(metric: str) -> MetricText:
    """The label, column titles, hint and direction of ``metric`` (any name is accepted).

    What a metric counts and which way is better come from the metric table
    (:data:`harness.metrics.METRICS`); only the display titles are kept here.
    """
    try:
        spec = metric_spec(metric)
    except KeyError:
        return MetricText(metric.replace("_", " "), metric, metric, metric, False)
    label, column = _TITLES.get(metric, (spec.label[:1].upper() + spec.label[1:], spec.label))
    return MetricText(label, column, spec.column, spec.hint, spec.lower_is_better)


OUTCOME_LABELS: dict[str, str] = {
    Outcome.CORRECT.value: "correct",
    Outcome.INVALID.value: "invalid",
    Outcome.FALSE_TOOL_CALL.value: "false tool call",
    Outcome.MISSED_CALL.value: "missed call",
    Outcome.WRONG_TOOL.value: "wrong tool",
    Outcome.WRONG_ARGUMENTS.value: "wrong arguments",
    Outcome.UNGROUNDED.value: "ungrounded",
}


def outcome_text(outcome: Outcome | str | None) -> str:
    """An outcome in words; ``absent`` for a case a run does not hold."""
    if outcome is None:
        return "absent"
    return OUTCOME_LABELS.get(str(outcome), str(outcome))
