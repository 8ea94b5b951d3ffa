"""The runner: golden sets and a backend in, a :class:`RunResults` out.

Predictions are made once, in batches, through the backend (and the output cache); every
later step (per-case tests, gates, reports) only reads the results.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from harness.backends.base import Backend, DecodingConfig, Generation, GenerationRequest
from harness.catalog import Catalog
from harness.errors import CheckpointError, RunIncompleteError
from harness.formats import OutputFormat, get_format
from harness.formats.folder import run_format
from harness.gates import GateConfig, evaluate_gates
from harness.golden import SLICES, GoldenCase, GoldenSet, Split
from harness.grammar import check_constrainable, check_support, output_schema
from harness.hashing import short_fingerprint
from harness.judging import RunJudge, ask_judge
from harness.metrics import compute_metrics, confusion_matrix, metrics_by_category
from harness.outputcache import GenerationStopped, OutputCache, generate_cached
from harness.parse import ParseResult
from harness.results import (
    CaseRecord,
    CheckpointInfo,
    GoldenInfo,
    ParsedOutput,
    RunResults,
    SliceReport,
    escape_text,
    storable,
)
from harness.scoring import CaseVerdict, confusion_view, score_case

GateSplit = Literal["all"] | Split


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: ``20261122-101500-a1b2c3``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


class RunStopped(RunIncompleteError):
    """Generation stopped part-way; ``results`` scores the cases that did finish."""

    def __init__(self, message: str, results: RunResults) -> None:
        super().__init__(message)
        self.results = results


def _parsed(p: ParseResult) -> tuple[ParsedOutput, bool]:
    """The parse result as stored, with any unstorable model text escaped (and whether)."""
    values, escaped = storable(
        {"tool": p.tool, "arguments": p.arguments, "reason": p.reason, "detail": p.detail}
    )
    problems, problems_escaped = storable(list(p.problems))
    parsed = ParsedOutput(
        valid=p.valid,
        error=p.error,
        extracted=p.extracted,
        problems=tuple(problems),
        **values,
    )
    escaped = escaped or problems_escaped
    return parsed, escaped


def _stored_text(out: Generation, force: bool = False) -> tuple[str, bool]:
    """A backend's output as results files hold it: text, escaped when UTF-8 cannot hold it
    (or when ``force``: a string parsed from it had to be escaped)."""
    text: object = out.text
    if not isinstance(text, str):  # a backend bug must not lose the run: keep it visibly
        text = f"<non-text output: {json.dumps(text, default=repr)[:2000]}>"
    return escape_text(str(text), force)


def golden_fingerprint(sets: Sequence[GoldenSet]) -> str:
    return short_fingerprint(
        "".join(
            f"{s.catalog.name}={s.fingerprint};" for s in sorted(sets, key=lambda g: g.catalog.name)
        )
    )


def constrained_requests(
    requests: list[GenerationRequest],
    cases: Sequence[GoldenCase],
    catalogs: dict[str, Catalog],
    backend: Backend,
    format_name: str,
) -> list[GenerationRequest]:
    """The requests with each case's output grammar; refuses, before any model call, a
    backend, format or catalog (a case's own tools too) that cannot be constrained."""
    check_support("constrained", backend.decodings, backend.spec, format_name)
    checked: set[int] = set()
    out = []
    for case, request in zip(cases, requests, strict=True):
        catalog = case.catalog_for(catalogs[case.catalog])
        if id(catalog) not in checked:
            where = f"case {case.key}" if catalog is not catalogs[case.catalog] else ""
            check_constrainable(catalog, where)
            checked.add(id(catalog))
        schema = output_schema(catalog, request.messages)
        out.append(dataclasses.replace(request, output_schema=schema))
    return out


def select_cases(sets: Sequence[GoldenSet], keys: set[str] | None = None) -> list[GoldenCase]:
    """All cases, or just those whose ``catalog/id`` key is in ``keys``."""
    return [c for s in sets for c in s.cases if keys is None or c.key in keys]


def run_suite(
    sets: Sequence[GoldenSet],
    backend: Backend,
    decoding: DecodingConfig | None = None,
    *,
    keys: set[str] | None = None,
    gates: GateConfig | None = None,
    gate_split: GateSplit = "all",
    gate_on: str = "estimate",
    cache: OutputCache | None = None,
    progress: bool = False,
    run_id: str | None = None,
    output_format: OutputFormat | None = None,
    formats: Mapping[str, OutputFormat] | None = None,
    judge: RunJudge | None = None,
) -> RunResults:
    """Generate, parse, score and measure: the whole evaluation as one library call.

    ``output_format`` (default ``json``) builds the prompts and reads the outputs;
    ``formats`` maps a catalog name to its own format (a folder's ``x-format``), for the
    catalogs it names. Requests are generated format by format, each with its own
    :class:`DecodingConfig`, so a json request's cache key is the same in any run.
    ``judge`` (opt-in) is asked about free-text arguments in one batch after generation.
    """
    fmt = output_format or get_format("json")
    base_decoding = decoding or DecodingConfig()
    gates = gates or GateConfig()
    catalogs = {s.catalog.name: s.catalog for s in sets}
    fmt_of = {name: (formats or {}).get(name, fmt) for name in catalogs}
    decodings = {f.name: dataclasses.replace(base_decoding, format=f.name) for f in fmt_of.values()}
    label = run_format({c: f.name for c, f in fmt_of.items()}, fmt.name)
    decoding = dataclasses.replace(base_decoding, format=label)
    cases = select_cases(sets, keys)
    requests = [
        GenerationRequest(
            id=c.key,
            messages=c.chat(fmt_of[c.catalog].system_prompt(c.catalog_for(catalogs[c.catalog]))),
            tools=fmt_of[c.catalog].tools(c.catalog_for(catalogs[c.catalog])),
        )
        for c in cases
    ]
    if decoding.mode == "constrained":
        requests = constrained_requests(requests, cases, catalogs, backend, fmt.name)
    bind = getattr(backend, "bind_cases", None)
    if callable(bind):  # replaying backends say up front which cases they cannot answer
        missing: list[str] = bind([(c.key, c.id) for c in cases])
        if missing:
            shown = ", ".join(missing[:5]) + (
                f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            )
            raise CheckpointError(
                f"--checkpoint {backend.spec}: no output for {len(missing)} case(s) ({shown}); "
                "a mock file must hold an output for every case it is run on"
            )
    started = time.perf_counter()
    bar = None
    if progress and requests:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(requests), desc="routecheck: generating", unit="case", leave=False)
    stopped: GenerationStopped | None = None
    found: list[Generation | None] = [None] * len(requests)
    cached = 0
    try:
        for name, config in decodings.items():
            group = [i for i, c in enumerate(cases) if fmt_of[c.catalog].name == name]
            if not group:
                continue
            try:
                outputs, hits = generate_cached(
                    backend,
                    [requests[i] for i in group],
                    config,
                    cache,
                    bar.update if bar is not None else None,
                )
            except GenerationStopped as exc:
                stopped = exc
                for i, gen in zip(group, exc.outputs, strict=True):
                    found[i] = gen
                break
            for i, gen in zip(group, outputs, strict=True):
                found[i] = gen
            cached += hits
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - started
    done = [i for i, g in enumerate(found) if g is not None]
    cases = [cases[i] for i in done]
    requests = [requests[i] for i in done]
    outputs = [g for g in found if g is not None]

    records: list[CaseRecord] = []
    verdicts: list[CaseVerdict] = []
    lenient: list[CaseVerdict] = []
    parses = [
        (
            fmt_of[case.catalog].parse_case(out.text, case, catalogs[case.catalog], "strict"),
            fmt_of[case.catalog].parse_case(out.text, case, catalogs[case.catalog], "lenient"),
        )
        for case, out in zip(cases, outputs, strict=True)
    ]
    judged = ask_judge(judge, cases, [p for p, _ in parses], catalogs)
    for case, request, out, (strict, loose) in zip(cases, requests, outputs, parses, strict=True):
        catalog = catalogs[case.catalog]
        case_fmt = fmt_of[case.catalog]
        verdict = score_case(case, strict, catalog, judged.decided(case, strict, catalog))
        lenient_verdict = score_case(case, loose, catalog, judged.decided(case, loose, catalog))
        judge_record = (
            judged.records(
                case, strict, catalog, score_case(case, strict, catalog).mismatched_arguments
            )
            if judged.answers
            else {}
        )
        verdicts.append(verdict)
        lenient.append(lenient_verdict)
        parsed, parsed_escaped = _parsed(strict)
        text, text_escaped = _stored_text(out, force=parsed_escaped)
        records.append(
            CaseRecord(
                key=case.key,
                id=case.id,
                catalog=case.catalog,
                category=case.category,
                split=case.split,
                prompt=case.text,
                messages=list(request.messages),
                gold=case.target,
                accept=case.accept,
                output=text,
                output_escaped=text_escaped,
                truncated=out.truncated,
                parsed=parsed,
                predicted=verdict.predicted,
                outcome=verdict.outcome,
                passed=verdict.passed,
                mismatched_arguments=list(verdict.mismatched_arguments),
                argument_scores=dict(verdict.argument_scores),
                lenient_outcome=lenient_verdict.outcome,
                judge=judge_record,
                format=case_fmt.name,
                ungrounded_arguments=list(verdict.ungrounded_arguments),
            )
        )

    def slice_of(vs: list[CaseVerdict], split: str) -> list[CaseVerdict]:
        return vs if split == "all" else [v for v in vs if v.split == split]

    metrics = {
        split: SliceReport(
            overall=compute_metrics(slice_of(verdicts, split)),
            by_category=metrics_by_category(slice_of(verdicts, split)),
        )
        for split in SLICES
    }
    gated = slice_of(verdicts, gate_split)
    n_generated = len(requests) - cached
    results = RunResults(
        run_id=run_id or new_run_id(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        checkpoint=CheckpointInfo(
            spec=backend.spec, fingerprint=backend.fingerprint(), details=backend.describe()
        ),
        golden=[
            GoldenInfo(
                catalog=s.catalog.name,
                fingerprint=s.fingerprint,
                files=[Path(f).as_posix() for f in s.files],
                n=len(s.cases),
                tools=s.tool_labels,
                match_rules={
                    t.name: {a: t.match_policy(a) for a in t.properties} for t in s.catalog.tools
                },
            )
            for s in sets
        ],
        golden_fingerprint=golden_fingerprint(sets),
        decoding=decoding.as_dict(),
        format=label,
        formats={name: f.name for name, f in fmt_of.items()},
        gate_split=gate_split,
        gate_on=gate_on,
        metrics=metrics,
        lenient_metrics={split: compute_metrics(slice_of(lenient, split)) for split in SLICES},
        confusion={
            name: confusion_matrix(
                confusion_view(v, c)
                for v, c in zip(verdicts, cases, strict=True)
                if v.catalog == name
            )
            for name in catalogs
        },
        gates=evaluate_gates(metrics[gate_split].overall, gated, gates, on=gate_on),
        timing={
            "generate_seconds": round(elapsed, 3),
            "cases": float(len(requests)),
            "cached_cases": float(cached),
            "cases_per_second": round(n_generated / elapsed, 3) if n_generated and elapsed else 0.0,
            **({"judge_seconds": round(judged.seconds, 3)} if judge is not None else {}),
        },
        cases=records,
        judge=judged.info([r.judge for r in records]),
        completed=stopped is None,
        incomplete_reason=None if stopped is None else str(stopped),
    )
    if stopped is not None:
        raise RunStopped(str(stopped), results) from stopped
    return results
