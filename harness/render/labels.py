"""How each metric and outcome is named on screen, in one lookup for every renderer.

All renderers ask :func:`metric_text`, so the words for a metric can later come from a
single table of metric definitions by changing this one function.
"""

from __future__ import annotations

from typing import NamedTuple

from harness.metrics import LOWER_IS_BETTER
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


_TEXTS: dict[str, tuple[str, str, str, str]] = {
    "valid_tool_call_rate": (
        "Valid tool calls",
        "valid-tool-call",
        "valid",
        "outputs that are valid calls",
    ),
    "tool_name_accuracy": (
        "Tool-name accuracy",
        "tool-name",
        "tool",
        "outputs naming the gold tool",
    ),
    "argument_match_accuracy": (
        "Argument match",
        "argument-match",
        "args",
        "valid outputs, right arguments",
    ),
    "false_tool_call_rate": (
        "False tool calls",
        "false-tool-call",
        "false",
        "tool called when none fits",
    ),
    "silent_corruption_rate": (
        "Silent corruption",
        "silent corruption",
        "silent",
        "valid call, wrong tool or args",
    ),
    "missed_call_rate": ("Missed calls", "missed-call", "missed", "missed_call_rate"),
    "pass_rate": ("Pass rate", "pass", "pass", "pass_rate"),
}


def metric_text(metric: str) -> MetricText:
    """The label, column titles, hint and direction of ``metric`` (any name is accepted)."""
    label, column, short, hint = _TEXTS.get(
        metric, (metric.replace("_", " "), metric, metric, metric)
    )
    return MetricText(label, column, short, hint, metric in LOWER_IS_BETTER)


OUTCOME_LABELS: dict[str, str] = {
    Outcome.CORRECT.value: "correct",
    Outcome.INVALID.value: "invalid",
    Outcome.FALSE_TOOL_CALL.value: "false tool call",
    Outcome.MISSED_CALL.value: "missed call",
    Outcome.WRONG_TOOL.value: "wrong tool",
    Outcome.WRONG_ARGUMENTS.value: "wrong arguments",
}


def outcome_text(outcome: Outcome | str | None) -> str:
    """An outcome in words; ``absent`` for a case a run does not hold."""
    if outcome is None:
        return "absent"
    return OUTCOME_LABELS.get(str(outcome), str(outcome))
