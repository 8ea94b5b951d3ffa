"""The judge in a run: which arguments it is asked about, and which of its verdicts count.

The judge (:mod:`harness.judge`) is asked once per run, in one batch after generation,
about every free-text argument (policy ``judge``, ``contains``, ``similar`` or
``contains-or-similar``) of every output that names the right tool of a single-call case.
Its verdict decides an ``x-match: judge`` argument (and, with ``--rc-judge-decides=similar``,
the ``similar`` and ``contains-or-similar`` ones); for every other argument it is recorded
beside the deterministic verdict only. A run without a judge, or whose judge fails, is
still decided: by each argument's deterministic policy, never by a missing verdict.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.catalog import NO_TOOL, Catalog, Tool
from harness.golden import GoldenCase
from harness.judge import JUDGE_VERSION, Judge, JudgeItem
from harness.match import FREE_TEXT_POLICIES, JUDGE_POLICY, SCORED_POLICIES, canonical
from harness.parse import ParseResult
from harness.results import JudgedArgument, JudgeRunInfo, storable

JUDGE_DECIDES = ("judge", "similar")
"""``judge``: the judge decides ``x-match: judge`` arguments only; ``similar``: also the
``similar`` and ``contains-or-similar`` ones. Elsewhere its verdict is recorded only."""


@dataclass(frozen=True)
class RunJudge:
    """A judge for a run and the arguments whose verdict it decides."""

    judge: Judge
    decides: str = "judge"


@dataclass(frozen=True)
class _Answer:
    policy: str
    value: str
    """The produced value asked about, as canonical JSON (a lenient parse may differ)."""
    answer: str
    """``yes``, ``no`` or ``unavailable``."""
    raw: str


def _question_tool(case: GoldenCase, parsed: ParseResult, catalog: Catalog) -> Tool | None:
    """The tool whose arguments the judge may be asked about: a single-call case whose
    output is valid and names the gold tool (a parallel target is left to its policies)."""
    gold = case.target.tool
    if case.target.parallel or not parsed.valid or parsed.tool != gold or gold == NO_TOOL:
        return None
    return case.catalog_for(catalog).tool(gold)


def judged_arguments(
    case: GoldenCase, parsed: ParseResult, catalog: Catalog
) -> list[tuple[str, str, Any]]:
    """``(argument, policy, produced value)`` for every free-text argument compared."""
    tool = _question_tool(case, parsed, catalog)
    if tool is None:
        return []
    produced = parsed.arguments or {}
    out = []
    for name in case.target.arguments:
        policy = tool.match_policy(name)
        if policy not in FREE_TEXT_POLICIES or name not in produced:
            continue
        if policy != JUDGE_POLICY and not isinstance(produced[name], str):
            continue
        out.append((name, policy, produced[name]))
    return out


def _item(case: GoldenCase, catalog: Catalog, name: str, value: Any) -> JudgeItem:
    tool = case.catalog_for(catalog).tool(case.target.tool)
    description = tool.properties.get(name, {}).get("description", "") if tool else ""
    return JudgeItem(
        id=f"{case.key}#{name}",
        tool=case.target.tool,
        argument=name,
        gold=case.target.arguments[name],
        predicted=value,
        accept=tuple(case.accept.get(name, ())),
        description=description if isinstance(description, str) else "",
    )


@dataclass
class JudgeOutcome:
    """What the judge said in a run, and how it turns into verdicts and records."""

    judge: RunJudge | None
    answers: dict[tuple[str, str], _Answer] = field(default_factory=dict)
    cached: int = 0
    seconds: float = 0.0
    error: str | None = None
    fallbacks: int = 0
    """``x-match: judge`` arguments compared with no judge verdict (their fallback decided)."""

    def _counts(self, policy: str) -> bool:
        if policy == JUDGE_POLICY:
            return True
        decides = self.judge.decides if self.judge is not None else "judge"
        return decides == "similar" and policy in SCORED_POLICIES

    def _answers(self, case: GoldenCase, parsed: ParseResult, catalog: Catalog) -> Any:
        for name, policy, value in judged_arguments(case, parsed, catalog):
            found = self.answers.get((case.key, name))
            if found is not None and found.value == canonical(value):
                yield name, policy, found

    def decided(self, case: GoldenCase, parsed: ParseResult, catalog: Catalog) -> dict[str, bool]:
        """The arguments of ``parsed`` whose match the judge decides, and its verdicts."""
        return {
            name: found.answer == "yes"
            for name, policy, found in self._answers(case, parsed, catalog)
            if found.answer != "unavailable" and self._counts(policy)
        }

    def records(
        self,
        case: GoldenCase,
        parsed: ParseResult,
        catalog: Catalog,
        deterministic_mismatched: Sequence[str],
    ) -> dict[str, JudgedArgument]:
        """Per judged argument: the judge's answer beside the deterministic verdict."""
        out = {}
        for name, policy, found in self._answers(case, parsed, catalog):
            counted = found.answer != "unavailable" and self._counts(policy)
            out[name] = JudgedArgument(
                answer=found.answer,
                deterministic=name not in deterministic_mismatched,
                counted="judge" if counted else "deterministic",
                raw=found.raw,
            )
        return out

    def info(self, records: Sequence[Mapping[str, JudgedArgument]]) -> JudgeRunInfo | None:
        """The run's judge metadata (``None``: no judge, and no argument needed one)."""
        if self.judge is None and not self.fallbacks:
            return None
        judged = [r for case in records for r in case.values()]
        backend = self.judge.judge.backend if self.judge is not None else None
        return JudgeRunInfo(
            spec=backend.spec if backend is not None else None,
            fingerprint=backend.fingerprint() if backend is not None else None,
            version=JUDGE_VERSION if backend is not None else None,
            decides=self.judge.decides if self.judge is not None else "judge",
            asked=len(self.answers),
            cached=self.cached,
            unavailable=sum(a.answer == "unavailable" for a in self.answers.values()),
            disagreements=sum(
                r.answer != "unavailable" and (r.answer == "yes") != r.deterministic for r in judged
            ),
            fallback_arguments=self.fallbacks,
            error=self.error,
            seconds=round(self.seconds, 3),
        )


def ask_judge(
    judge: RunJudge | None,
    cases: Sequence[GoldenCase],
    parses: Sequence[ParseResult],
    catalogs: Mapping[str, Catalog],
) -> JudgeOutcome:
    """Ask the judge about every free-text argument of the (strict) parses, in one batch.

    A failing judge is data: its missing verdicts are ``unavailable`` and ``error`` says
    why; the deterministic policies then decide. Never raises on the judge's behalf.
    """
    outcome = JudgeOutcome(judge=judge)
    questions: list[tuple[tuple[str, str], str, str, JudgeItem]] = []
    for case, parsed in zip(cases, parses, strict=True):
        catalog = catalogs[case.catalog]
        for name, policy, value in judged_arguments(case, parsed, catalog):
            if judge is None:
                outcome.fallbacks += policy == JUDGE_POLICY
                continue
            item = _item(case, catalog, name, value)
            questions.append(((case.key, name), policy, canonical(value), item))
    if judge is None or not questions:
        return outcome
    started = time.perf_counter()
    verdicts, outcome.cached, outcome.error = judge.judge.judge_tolerant(
        [item for *_, item in questions]
    )
    outcome.seconds = time.perf_counter() - started
    for (key, policy, value, _), verdict in zip(questions, verdicts, strict=True):
        if verdict is None:
            outcome.answers[key] = _Answer(policy, value, "unavailable", "")
            outcome.fallbacks += policy == JUDGE_POLICY
            continue
        # An unclear answer is "no", as the judge's contract says; ``raw`` shows it.
        raw, _ = storable(verdict.raw)
        outcome.answers[key] = _Answer(policy, value, "yes" if verdict.match else "no", raw)
    return outcome
