"""Scoring: one golden case and one parse result in, one :class:`CaseVerdict` out.

Pure functions over plain data, so a library user can score outputs without pytest.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from harness.catalog import NO_TOOL, Catalog
from harness.golden import Category, GoldenCase, Split
from harness.match import arguments_match
from harness.parse import ErrorKind, ParseResult


class Outcome(StrEnum):
    """What happened on one case. Exactly one applies."""

    CORRECT = "correct"
    INVALID = "invalid"
    """Not a valid call: a bug the agent loop can see and retry."""
    FALSE_TOOL_CALL = "false_tool_call"
    """Gold is no_tool, the model called a real tool: the most damaging routing failure."""
    MISSED_CALL = "missed_call"
    """Gold is a tool, the model said no_tool."""
    WRONG_TOOL = "wrong_tool"
    """Gold is a tool, the model validly called another one (silent corruption)."""
    WRONG_ARGUMENTS = "wrong_arguments"
    """Right tool, wrong arguments (silent corruption)."""


SILENT_CORRUPTION = frozenset({Outcome.WRONG_TOOL, Outcome.WRONG_ARGUMENTS})


class CaseVerdict(BaseModel):
    """The verdict on one case: enough to compute every metric and to explain a failure."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    catalog: str
    category: Category
    split: Split
    gold_tool: str
    predicted: str
    """The confusion-matrix label: a tool name, ``no_tool`` or ``invalid``."""
    valid: bool
    tool_match: bool
    arguments_match: bool
    """Right tool and arguments match (a correct ``no_tool`` counts: it has none to get wrong)."""
    outcome: Outcome
    error: ErrorKind | None = None
    detail: str = ""
    mismatched_arguments: tuple[str, ...] = ()
    call_attempt: bool = False
    """The output calls a real tool or, invalid, tries to (see ``ParseResult.attempted_tool``)."""

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.CORRECT

    @property
    def key(self) -> str:
        return f"{self.catalog}/{self.case_id}" if self.catalog else self.case_id


def score_case(case: GoldenCase, parsed: ParseResult, catalog: Catalog) -> CaseVerdict:
    """Judge one parsed output against its golden case."""
    gold = case.target.tool
    common: dict[str, Any] = {
        "case_id": case.id,
        "catalog": case.catalog,
        "category": case.category,
        "split": case.split,
        "gold_tool": gold,
        "predicted": parsed.label,
        "valid": parsed.valid,
        "error": parsed.error,
        "detail": parsed.detail,
        "call_attempt": parsed.is_tool_call or parsed.attempted_tool is not None,
    }
    if not parsed.valid:
        return CaseVerdict(
            **common, tool_match=False, arguments_match=False, outcome=Outcome.INVALID
        )
    tool_match = parsed.tool == gold
    if gold == NO_TOOL:
        outcome = Outcome.CORRECT if tool_match else Outcome.FALSE_TOOL_CALL
        return CaseVerdict(
            **common, tool_match=tool_match, arguments_match=tool_match, outcome=outcome
        )
    if parsed.tool == NO_TOOL:
        return CaseVerdict(
            **common, tool_match=False, arguments_match=False, outcome=Outcome.MISSED_CALL
        )
    if not tool_match:
        return CaseVerdict(
            **common, tool_match=False, arguments_match=False, outcome=Outcome.WRONG_TOOL
        )
    tool = catalog.tool(gold)
    assert tool is not None  # the golden loader checked the target tool
    ok, mismatched = arguments_match(
        parsed.arguments or {}, case.target.arguments, tool, case.accept
    )
    if not ok:
        common["detail"] = f"arguments differ: {', '.join(mismatched)}"
    return CaseVerdict(
        **common,
        tool_match=True,
        arguments_match=ok,
        outcome=Outcome.CORRECT if ok else Outcome.WRONG_ARGUMENTS,
        mismatched_arguments=tuple(mismatched),
    )
