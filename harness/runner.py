"""The runner: golden sets and a backend in, a :class:`RunResults` out.

Predictions are made once, in batches, through the backend (and the output cache); every
later step (per-case tests, gates, reports) only reads the results.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from harness.backends.base import Backend, DecodingConfig, GenerationRequest
from harness.gates import GateConfig, evaluate_gates
from harness.golden import SLICES, GoldenCase, GoldenSet, Split
from harness.metrics import compute_metrics, confusion_matrix, metrics_by_category
from harness.outputcache import OutputCache, generate_cached
from harness.parse import ParseResult, parse_tool_call
from harness.results import (
    CaseRecord,
    CheckpointInfo,
    GoldenInfo,
    ParsedOutput,
    RunResults,
    SliceReport,
)
from harness.scoring import CaseVerdict, score_case

GateSplit = Literal["all"] | Split


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: ``20261122-101500-a1b2c3``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


def _parsed(p: ParseResult) -> ParsedOutput:
    return ParsedOutput(
        valid=p.valid,
        tool=p.tool,
        arguments=p.arguments,
        reason=p.reason,
        error=p.error,
        detail=p.detail,
        extracted=p.extracted,
    )


def golden_fingerprint(sets: Sequence[GoldenSet]) -> str:
    digest = hashlib.sha256()
    for s in sorted(sets, key=lambda g: g.catalog.name):
        digest.update(f"{s.catalog.name}={s.fingerprint};".encode())
    return "sha256:" + digest.hexdigest()[:16]


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
    cache: OutputCache | None = None,
    progress: bool = False,
    run_id: str | None = None,
) -> RunResults:
    """Generate, parse, score and measure: the whole evaluation as one library call."""
    decoding = decoding or DecodingConfig()
    gates = gates or GateConfig()
    catalogs = {s.catalog.name: s.catalog for s in sets}
    cases = select_cases(sets, keys)
    requests = [
        GenerationRequest(id=c.key, messages=c.chat(catalogs[c.catalog].system_prompt()))
        for c in cases
    ]
    started = time.perf_counter()
    bar = None
    if progress and requests:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(requests), desc="routecheck: generating", unit="case", leave=False)
    try:
        outputs, cached = generate_cached(
            backend, requests, decoding, cache, bar.update if bar is not None else None
        )
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - started
    if len(outputs) != len(requests):
        raise RuntimeError(
            f"backend {backend.spec!r} returned {len(outputs)} outputs for {len(requests)} cases"
        )

    records: list[CaseRecord] = []
    verdicts: list[CaseVerdict] = []
    lenient: list[CaseVerdict] = []
    for case, request, out in zip(cases, requests, outputs, strict=True):
        catalog = catalogs[case.catalog]
        strict = parse_tool_call(out.text, catalog, "strict")
        loose = parse_tool_call(out.text, catalog, "lenient")
        verdict = score_case(case, strict, catalog)
        lenient_verdict = score_case(case, loose, catalog)
        verdicts.append(verdict)
        lenient.append(lenient_verdict)
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
                output=out.text,
                truncated=out.truncated,
                parsed=_parsed(strict),
                predicted=verdict.predicted,
                outcome=verdict.outcome,
                passed=verdict.passed,
                mismatched_arguments=list(verdict.mismatched_arguments),
                lenient_outcome=lenient_verdict.outcome,
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
    return RunResults(
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
                tools=s.catalog.tool_names,
            )
            for s in sets
        ],
        golden_fingerprint=golden_fingerprint(sets),
        decoding=decoding.as_dict(),
        gate_split=gate_split,
        metrics=metrics,
        lenient_metrics={split: compute_metrics(slice_of(lenient, split)) for split in SLICES},
        confusion={
            name: confusion_matrix(v for v in verdicts if v.catalog == name) for name in catalogs
        },
        gates=evaluate_gates(metrics[gate_split].overall, gated, gates),
        timing={
            "generate_seconds": round(elapsed, 3),
            "cases": float(len(requests)),
            "cached_cases": float(cached),
            "cases_per_second": round(n_generated / elapsed, 3) if n_generated and elapsed else 0.0,
        },
        cases=records,
    )
