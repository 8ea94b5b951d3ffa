"""Scoring: one golden case and one parse result in, one :class:`CaseVerdict` out.

Pure functions over plain data, so a library user can score outputs without pytest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.catalog import NO_TOOL, Catalog
from harness.golden import (
    GOLD_TOOL_ROLE,
    OTHER_TOOL_ROLE,
    Category,
    GoldCall,
    GoldenCase,
    Split,
)
from harness.grounding import case_conversation, ungrounded_arguments
from harness.match import argument_scores, arguments_match
from harness.parse import ErrorKind, ParseMode, ParseResult, parse_tool_call, parse_tool_calls


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
    UNGROUNDED = "ungrounded"
    """Right tool, but a grounded argument's value is not in the conversation: invented
    (silent corruption). Takes precedence over right or wrong arguments."""


SILENT_CORRUPTION = frozenset({Outcome.WRONG_TOOL, Outcome.WRONG_ARGUMENTS, Outcome.UNGROUNDED})


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
    argument_scores: dict[str, float] = Field(default_factory=dict)
    """Similarity scores of the arguments under a scored policy (``similar``)."""
    call_attempt: bool = False
    """The output calls a real tool or, invalid, tries to (see ``ParseResult.attempted_tool``)."""
    ungrounded_arguments: tuple[str, ...] = ()
    """Grounded arguments of the valid call(s) whose value is not in the conversation, on
    any case (``[i].name`` for the i-th of several calls)."""

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.CORRECT

    @property
    def key(self) -> str:
        return f"{self.catalog}/{self.case_id}" if self.catalog else self.case_id


def parse_output(
    text: object, case: GoldenCase, catalog: Catalog, mode: str = "strict"
) -> ParseResult:
    """Parse one raw output for one case (against its own tools, if any). Never raises.

    A case with a parallel target reads a JSON list of calls (or one object, one call).
    Any other case keeps the one-object contract; a list of several valid calls there is
    ``multiple_calls`` (invalid), anything else in a list is what the one-call parser says.
    """
    parse_mode: ParseMode = "lenient" if mode == "lenient" else "strict"
    catalog = case.catalog_for(catalog)
    if case.target.parallel:
        return parse_tool_calls(text, catalog, parse_mode)
    if not (isinstance(text, str) and text.lstrip().startswith("[")):
        return parse_tool_call(text, catalog, parse_mode)
    many = parse_tool_calls(text, catalog, parse_mode)
    if many.valid and len(many.calls) > 1:
        return ParseResult(
            valid=False,
            error=ErrorKind.MULTIPLE_CALLS,
            detail=f"{len(many.calls)} calls where one is expected",
            mode=parse_mode,
        )
    return parse_tool_call(text, catalog, parse_mode)


def _pair(
    predicted: list[ParseResult], gold: list[GoldCall], catalog: Catalog, used: set[int]
) -> bool:
    """Whether the gold calls can each take a distinct predicted call that matches it."""
    if not gold:
        return True
    first, rest = gold[0], gold[1:]
    tool = catalog.tool(first.tool)
    for i, call in enumerate(predicted):
        if i in used or call.tool != first.tool or tool is None:
            continue
        ok, _ = arguments_match(
            call.arguments or {}, first.arguments, tool, first.accept, first.optional
        )
        if ok and _pair(predicted, rest, catalog, used | {i}):
            return True
    return False


def _closest_mismatch(
    predicted: list[ParseResult], gold: list[GoldCall], catalog: Catalog
) -> list[str]:
    """For a failed parallel match: per gold call, the arguments its closest call misses."""
    names: list[str] = []
    for j, want in enumerate(gold):
        tool = catalog.tool(want.tool)
        best: list[str] | None = None
        for call in predicted:
            if call.tool != want.tool or tool is None:
                continue
            _, missed = arguments_match(
                call.arguments or {}, want.arguments, tool, want.accept, want.optional
            )
            if best is None or len(missed) < len(best):
                best = missed
        names.extend(f"[{j}].{n}" for n in best or [])
    return names


def score_case(
    case: GoldenCase,
    parsed: ParseResult,
    catalog: Catalog,
    decided: Mapping[str, bool] | None = None,
) -> CaseVerdict:
    """Judge one parsed output against its golden case.

    ``decided`` holds the judge's verdicts on arguments it decides (single-call targets).

    ``catalog`` is the folder's catalog; a case with its own tools is judged against them.
    A parallel target is matched as a multiset: every gold call needs its own matching
    predicted call, in any order, and no call may be left over; the case counts once.
    """
    catalog = case.catalog_for(catalog)
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
        return _no_match(common, Outcome.INVALID)
    common["ungrounded_arguments"] = tuple(_ungrounded(case, parsed, catalog))
    tool_match = parsed.tool == gold
    if gold == NO_TOOL:
        outcome = Outcome.CORRECT if tool_match else Outcome.FALSE_TOOL_CALL
        return CaseVerdict(
            **common, tool_match=tool_match, arguments_match=tool_match, outcome=outcome
        )
    if parsed.tool == NO_TOOL:
        return _no_match(common, Outcome.MISSED_CALL)
    if case.target.parallel:
        predicted = list(parsed.calls) or [parsed]
        wanted = case.gold_calls()
        if Counter(c.tool for c in predicted) != Counter(c.tool for c in wanted):
            return _no_match(common, Outcome.WRONG_TOOL)
        ok = _pair(predicted, wanted, catalog, set())
        mismatched = [] if ok else _closest_mismatch(predicted, wanted, catalog)
        return _arguments_verdict(common, ok, mismatched, ", ".join(mismatched) or "pairing")
    if not tool_match:
        return _no_match(common, Outcome.WRONG_TOOL)
    tool = catalog.tool(gold)
    assert tool is not None  # the golden loader checked the target tool
    ok, mismatched = arguments_match(
        parsed.arguments or {}, case.target.arguments, tool, case.accept, case.optional, decided
    )
    scores = argument_scores(parsed.arguments or {}, case.target.arguments, tool, case.accept)
    return _arguments_verdict(common, ok, mismatched, ", ".join(mismatched), argument_scores=scores)


def _ungrounded(case: GoldenCase, parsed: ParseResult, catalog: Catalog) -> list[str]:
    """The grounded arguments of a valid output's call(s) that the conversation lacks."""
    calls = list(parsed.calls) or ([parsed] if parsed.is_tool_call else [])
    said = case_conversation(case)
    names: list[str] = []
    for i, call in enumerate(calls):
        tool = catalog.tool(call.tool or "")
        if tool is None:
            continue
        missing = ungrounded_arguments(call.arguments or {}, tool, said)
        names.extend(f"[{i}].{n}" if len(calls) > 1 else n for n in missing)
    return names


def _no_match(common: dict[str, Any], outcome: Outcome) -> CaseVerdict:
    """A verdict whose tool did not match, so its arguments cannot either."""
    return CaseVerdict(**common, tool_match=False, arguments_match=False, outcome=outcome)


def _arguments_verdict(
    common: dict[str, Any], ok: bool, mismatched: list[str], shown: str, **extra: Any
) -> CaseVerdict:
    """The right tool (or tools): correct, wrong arguments, or ungrounded (a grounded value
    not in the conversation, whether or not it matches), which ``detail`` names."""
    outcome = Outcome.CORRECT if ok else Outcome.WRONG_ARGUMENTS
    if not ok:
        common["detail"] = f"arguments differ: {shown}"
    if common["ungrounded_arguments"]:
        outcome = Outcome.UNGROUNDED
        names = ", ".join(common["ungrounded_arguments"])
        common["detail"] = f"not in the conversation: {names}" + (
            f"; arguments differ: {shown}" if not ok else ""
        )
    return CaseVerdict(
        **common,
        tool_match=True,
        arguments_match=ok,
        outcome=outcome,
        mismatched_arguments=tuple(mismatched),
        **extra,
    )


def confusion_view(verdict: CaseVerdict, case: GoldenCase) -> CaseVerdict:
    """The verdict as the confusion matrix counts it.

    A case with its own tools is counted by role, not by name: its gold row is
    ``(the gold tool)`` (or ``no_tool``), and a valid call is ``(the gold tool)`` when it
    names the gold tool(s) and ``(another offered tool)`` otherwise. Other cases unchanged.
    """
    if case.tools is None:
        return verdict
    gold = NO_TOOL if verdict.gold_tool == NO_TOOL else GOLD_TOOL_ROLE
    if verdict.predicted in (NO_TOOL, "invalid"):
        predicted = verdict.predicted
    else:
        predicted = GOLD_TOOL_ROLE if verdict.tool_match else OTHER_TOOL_ROLE
    return verdict.model_copy(update={"gold_tool": gold, "predicted": predicted})
