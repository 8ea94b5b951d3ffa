"""The robustness suite's search: Hypothesis perturbs each golden case, the model answers in
batches.

A model call per Hypothesis example, one at a time, would take hours; so the search runs in
rounds. In each round every case's Hypothesis property runs against an oracle that knows the
verdicts generated so far; a request it has not seen yet is put aside and treated as keeping
its verdict. After the round, everything put aside is generated in one batched backend call
(through the output cache) and the properties run again. Hypothesis is seeded per case with
no example database, so a round replays the previous one's draws and only goes further where
the new answers lead it.

Round one samples: each case draws ``examples`` perturbed requests with a property that never
fails, which gives the robustness rate. Then each case with a request whose verdict differs
from the unperturbed one runs a failing property, and Hypothesis shrinks that request, round
by round, to the smallest one that still flips: each round generates the first ``examples``
requests the shrinker tried and could not be answered yet (its boldest simplifications), up to
:data:`MAX_ROUNDS` rounds and :data:`SHRINK_BUDGET` x ``examples`` new generations per case.
Past either, the case's ``cut`` says the search stopped early, and the smallest flip found so
far is reported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings

from harness.backends.base import Backend, DecodingConfig, GenerationRequest
from harness.backends.mock import PERTURBED_SEPARATOR
from harness.catalog import Catalog
from harness.errors import RunIncompleteError
from harness.formats import OutputFormat
from harness.golden import GoldenCase, GoldenSet, Message
from harness.grammar import output_schema
from harness.hashing import sha256_hex
from harness.outputcache import GenerationStopped, OutputCache, generate_cached
from harness.perturb import CaseView, Perturbation, Perturbed, applicable, perturbed, select
from harness.results import CaseRecord, RunResults, escape_text
from harness.robust_results import (
    RobustCase,
    RobustExample,
    RobustnessReport,
    robustness_gate,
    summarize,
)
from harness.scoring import score_case
from harness.settings import RunSettings, perturbation_names, robustness_threshold

MAX_ROUNDS = 8
"""Shrinking rounds (each one batched generation) before a case's search is cut."""
SHRINK_BUDGET = 4
"""New generations a fragile case may ask for while shrinking, per unit of the budget."""
MAX_FLIPPED = 5
"""Sampled requests with a changed verdict kept per case (for the report and the loop)."""
MAX_STEPS = 2
"""Perturbations chained in one request (shrinking moves towards one)."""
SEPARATOR = PERTURBED_SEPARATOR
"""Request ids of perturbed requests: ``<case key>~perturbed-<hash>`` (replays strip it)."""


class _Flip(Exception):
    """A perturbed request whose verdict differs from the unperturbed one."""


@dataclass
class _Subject:
    """One golden case under search, and what the search has found so far."""

    case: GoldenCase
    catalog: Catalog
    baseline: bool
    view: CaseView
    kinds: list[Perturbation]
    sample: list[str] = field(default_factory=list)
    draws: dict[str, Perturbed] = field(default_factory=dict)
    shrunk: str | None = None
    spent: int = 0
    rounds: int = 0
    cut: bool = False
    skipped: str | None = None


def case_view(case: GoldenCase, tools: tuple[str, ...]) -> CaseView:
    """What the perturbations see: the last user turn and the gold (every call's arguments,
    for a parallel target, so none of them is touched)."""
    if case.target.parallel:
        arguments = {
            f"{i}.{k}": v for i, c in enumerate(case.target.calls) for k, v in c.arguments.items()
        }
        accept = {
            f"{i}.{k}": v for i, c in enumerate(case.target.calls) for k, v in c.accept.items()
        }
    else:
        arguments, accept = (
            dict(case.target.arguments),
            {k: list(v) for k, v in case.accept.items()},
        )
    return CaseView(
        prompt=last_user(case),
        tool=case.target.tool,
        arguments=arguments,
        accept=accept,
        wants_tool=case.category.wants_tool,
        tools=tools,
    )


def last_user(case: GoldenCase) -> str:
    if case.messages is None:
        return case.prompt or ""
    return [m.content for m in case.messages if m.role == "user"][-1]


def variant(case: GoldenCase, p: Perturbed) -> GoldenCase:
    """The golden case with the perturbed request and the gold that goes with it."""
    update: dict[str, object] = {}
    if case.messages is None:
        update["prompt"] = p.prompt
    else:
        turns = list(case.messages)
        i = max(j for j, m in enumerate(turns) if m.role == "user")
        turns[i] = Message(role="user", content=p.prompt)
        update["messages"] = tuple(turns)
    if not case.target.parallel:  # parallel targets only get invariant perturbations
        update["target"] = case.target.model_copy(update={"arguments": dict(p.arguments)})
        update["accept"] = {k: list(v) for k, v in p.accept.items()}
    return case.model_copy(update=update)


def _key(case: GoldenCase, p: Perturbed) -> str:
    return sha256_hex(
        json.dumps([case.key, p.prompt, p.arguments, p.accept], sort_keys=True, default=str)
    )


def _identical(s: _Subject, p: Perturbed) -> bool:
    return p.prompt == s.view.prompt and dict(p.arguments) == dict(s.view.arguments)


def _subject(
    case: GoldenCase, record: CaseRecord, catalog: Catalog, kinds: Sequence[Perturbation]
) -> _Subject:
    view = case_view(case, tuple(t.name for t in case.catalog_for(catalog).tools))
    pool = [k for k in kinds if k.effect == "invariant"] if case.target.parallel else list(kinds)
    subject = _Subject(case, catalog, record.passed, view, applicable(view, pool))
    if not subject.kinds:
        names = ", ".join(k.name for k in pool) or "none (a parallel target takes invariant ones)"
        subject.skipped = (
            f"no perturbation applies to this case's request ({view.prompt[:60]!r}); tried: "
            f"{names}. Every word of it carries part of the answer, or the chosen "
            "perturbations need what it lacks (an id in the gold, a no-tool gold)"
        )
    return subject


def _run(s: _Subject, examples: int, shrink: bool, check: Callable[[Perturbed], None]) -> None:
    """One Hypothesis run of ``check`` over this case's perturbations, seeded by its key."""
    phases = [Phase.generate, Phase.shrink] if shrink else [Phase.generate]

    @settings(
        database=None,
        max_examples=examples,
        phases=phases,
        deadline=None,
        derandomize=False,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
    )
    @given(perturbed(s.view, s.kinds, max_steps=MAX_STEPS))
    def prop(p: Perturbed) -> None:
        check(p)

    seeded = seed(int(sha256_hex(s.case.key)[:12], 16))(prop)
    with contextlib.suppress(_Flip):
        seeded()


Pending = dict[str, tuple[_Subject, Perturbed]]


def _sample(s: _Subject, examples: int, known: dict[str, RobustExample], pending: Pending) -> None:
    def check(p: Perturbed) -> None:
        if _identical(s, p):
            return  # the request as it was teaches nothing
        key = _key(s.case, p)
        if key not in s.draws:
            s.draws[key] = p
            s.sample.append(key)
        if key not in known:
            pending[key] = (s, p)

    _run(s, examples, False, check)


def _shrink(s: _Subject, examples: int, known: dict[str, RobustExample], pending: Pending) -> bool:
    """One shrinking round; whether it asked for new generations (at most ``examples``)."""
    asked = False
    asked_now = [0]
    cap = examples

    def check(p: Perturbed) -> None:
        nonlocal asked
        if _identical(s, p):
            return
        key = _key(s.case, p)
        got = known.get(key)
        if got is None:
            if key in pending or asked_now[0] >= cap:
                return  # the shrinker's first tries are its boldest: those go first
            if s.spent >= SHRINK_BUDGET * examples:
                s.cut = True
                return
            pending[key] = (s, p)
            s.draws.setdefault(key, p)
            s.spent += 1
            asked_now[0] += 1
            asked = True
            return
        if got.passed != s.baseline:
            s.shrunk = key
            raise _Flip

    _run(s, examples, True, check)
    return asked


@dataclass
class Explorer:
    """Generates the pending requests of a round in one batched, cached backend call."""

    backend: Backend
    decoding: DecodingConfig
    fmt: OutputFormat
    cache: OutputCache | None
    progress: bool = True
    known: dict[str, RobustExample] = field(default_factory=dict)
    generations: int = 0

    def generate(self, pending: Pending, label: str) -> None:
        if not pending:
            return
        keys = list(pending)
        variants = {k: variant(pending[k][0].case, pending[k][1]) for k in keys}
        requests = []
        for k in keys:
            s = pending[k][0]
            tools = s.case.catalog_for(s.catalog)
            messages = variants[k].chat(self.fmt.system_prompt(tools))
            requests.append(
                GenerationRequest(
                    id=f"{s.case.key}{SEPARATOR}{k[:12]}",
                    messages=messages,
                    tools=self.fmt.tools(tools),
                    # constrained decoding: the perturbed request gets its own grammar (a
                    # grounded id's enum comes from the perturbed text, as in a real request)
                    output_schema=(
                        output_schema(tools, messages)
                        if self.decoding.mode == "constrained"
                        else None
                    ),
                )
            )
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(requests), desc=f"routecheck: {label}", unit="req", leave=False)
        decoding = dataclasses.replace(self.decoding, format=self.fmt.name)
        try:
            outputs, _ = generate_cached(
                self.backend, requests, decoding, self.cache, bar.update if bar else None
            )
        except GenerationStopped as exc:
            raise RunIncompleteError(f"the robustness suite stopped: {exc}") from exc
        finally:
            if bar is not None:
                bar.close()
        self.generations += len(requests)
        for k, out in zip(keys, outputs, strict=True):
            s, p = pending[k]
            case = variants[k]
            text = out.text if isinstance(out.text, str) else repr(out.text)
            verdict = score_case(
                case, self.fmt.parse_case(text, case, s.catalog, "strict"), s.catalog
            )
            stored, escaped = escape_text(text)
            self.known[k] = RobustExample(
                prompt=p.prompt,
                kinds=list(p.kinds),
                steps=list(p.steps),
                arguments={} if s.case.target.parallel else dict(p.arguments),
                accept={} if s.case.target.parallel else {a: list(v) for a, v in p.accept.items()},
                output=stored,
                output_escaped=escaped,
                outcome=verdict.outcome,
                passed=verdict.passed,
            )


def _finish(s: _Subject, known: dict[str, RobustExample]) -> RobustCase:
    by_kind: dict[str, list[int]] = {}
    same = 0
    flipped: list[RobustExample] = []
    for key in s.sample:
        got = known[key]
        kept = got.passed == s.baseline
        same += kept
        if not kept and len(flipped) < MAX_FLIPPED:
            flipped.append(got)
        for kind in dict.fromkeys(got.kinds):
            counts = by_kind.setdefault(kind, [0, 0])
            counts[0] += kept
            counts[1] += 1
    return RobustCase(
        key=s.case.key,
        category=s.case.category,
        split=s.case.split,
        baseline_passed=s.baseline,
        n=len(s.sample),
        same=same,
        by_kind=by_kind,
        shrunk=known[s.shrunk] if s.shrunk is not None else None,
        flipped=flipped,
        rounds=s.rounds,
        cut=s.cut,
        skipped=s.skipped,
    )


def explore(
    sets: Sequence[GoldenSet],
    records: dict[str, CaseRecord],
    explorer: Explorer,
    kinds: Sequence[Perturbation],
    examples: int,
    split: str,
) -> RobustnessReport:
    """Perturb every case of ``records`` (its verdict is the unperturbed one) in ``split``."""
    started = time.perf_counter()
    subjects = [
        _subject(case, records[case.key], s.catalog, kinds)
        for s in sets
        for case in s.cases
        if case.key in records and (split == "all" or case.split == split)
    ]
    active = [s for s in subjects if s.skipped is None]
    pending: Pending = {}
    for s in active:
        _sample(s, examples, explorer.known, pending)
        s.rounds = 1
    explorer.generate(pending, "robustness, sampling")
    known = explorer.known
    active = [s for s in active if any(known[k].passed != s.baseline for k in s.sample)]
    for round_no in range(2, MAX_ROUNDS + 2):
        pending = {}
        active = [s for s in active if _shrink(s, examples, known, pending)]
        if not active:
            break
        for s in active:
            s.rounds = round_no
        if round_no == MAX_ROUNDS + 1:
            for s in active:
                s.cut = True  # it still had requests to try
            break
        explorer.generate(pending, f"robustness, shrinking (round {round_no})")
    return summarize(
        [_finish(s, known) for s in subjects],
        [k.name for k in kinds],
        split=split,
        examples=examples,
        generations=explorer.generations,
        seconds=round(time.perf_counter() - started, 3),
    )


def add_robustness(
    results: RunResults,
    sets: Sequence[GoldenSet],
    explorer: Explorer,
    settings: RunSettings,
    keys: set[str] | None = None,
) -> RunResults:
    """``results`` with its ``robustness`` section (and the robustness gate when asked for),
    over the cases of ``keys`` (every case of the run when ``None``)."""
    records = {c.key: c for c in results.cases if keys is None or c.key in keys}
    report = explore(
        sets,
        records,
        explorer,
        select(perturbation_names(settings.perturbations)),
        settings.robustness_examples,
        settings.robustness_split,
    )
    update: dict[str, object] = {"robustness": report}
    threshold = robustness_threshold(settings.min_robustness)
    if threshold is not None:
        update["gates"] = [*results.gates, robustness_gate(report, threshold, settings.gate_on)]
    return results.model_copy(update=update)
