"""The results file: the one contract between a run and everything after it.

Gates, the HTML report, baseline comparison and the feedback loop read only this file.
Its schema is versioned; readers refuse versions they do not know.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.atomic import write_atomic
from harness.errors import ResultsFileError
from harness.gates import GateResult
from harness.golden import Category, Split, Target
from harness.metrics import Metrics
from harness.parse import ErrorKind
from harness.scoring import Outcome

SCHEMA_VERSION = 1


class ParsedOutput(BaseModel):
    """What the parser made of a raw output (strict or lenient)."""

    model_config = ConfigDict(frozen=True)

    valid: bool
    tool: str | None = None
    arguments: dict[str, Any] | None = None
    reason: str | None = None
    error: ErrorKind | None = None
    detail: str = ""
    extracted: bool = False


class CaseRecord(BaseModel):
    """One golden case, what the model said, and the verdict."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="catalog/id, unique within a run")
    id: str
    catalog: str
    category: Category
    split: Split
    prompt: str = Field(description="The request as text (a conversation joined by lines)")
    messages: list[dict[str, str]] = Field(description="Exactly what the model was sent")
    gold: Target
    accept: dict[str, list[Any]] = Field(default_factory=dict)
    output: str = Field(description="The raw model output")
    truncated: bool = False
    parsed: ParsedOutput
    predicted: str = Field(description="Confusion label: tool name, no_tool or invalid")
    outcome: Outcome
    passed: bool
    mismatched_arguments: list[str] = Field(default_factory=list)
    lenient_outcome: Outcome = Field(description="The outcome under the lenient parser")


class SliceReport(BaseModel):
    """Metrics for all cases and per category within one slice (all, dev or holdout)."""

    model_config = ConfigDict(frozen=True)

    overall: Metrics
    by_category: dict[str, Metrics]


class GoldenInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    catalog: str
    fingerprint: str
    files: list[str]
    n: int
    tools: list[str]
    match_rules: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Tool -> argument -> match policy from the catalog"
    )


class CheckpointInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    spec: str
    fingerprint: str
    details: dict[str, Any] = Field(default_factory=dict)


class RunResults(BaseModel):
    """Everything a run produced. See README, "The results file"."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = SCHEMA_VERSION
    run_id: str
    created_at: str = Field(description="UTC, ISO 8601")
    checkpoint: CheckpointInfo
    golden: list[GoldenInfo]
    golden_fingerprint: str = Field(description="Hash over every golden set's fingerprint")
    decoding: dict[str, Any]
    parse_mode: str = "strict"
    gate_split: str = Field(default="all", description="Which cases the gates were computed on")
    metrics: dict[str, SliceReport] = Field(
        description="Strict-parse metrics keyed by slice: all, dev, holdout"
    )
    lenient_metrics: dict[str, Metrics] = Field(
        description="Metrics under the lenient parser, per slice; never mixed into the above"
    )
    confusion: dict[str, dict[str, dict[str, int]]] = Field(
        description="Per catalog: gold tool -> predicted label -> count"
    )
    gates: list[GateResult] = Field(default_factory=list)
    timing: dict[str, float] = Field(default_factory=dict)
    cases: list[CaseRecord]

    def case(self, key: str) -> CaseRecord:
        for c in self.cases:
            if c.key == key:
                return c
        raise KeyError(key)


def write_results(results: RunResults, path: str | Path) -> Path:
    """Write ``results.json`` atomically."""
    return write_atomic(path, results.model_dump_json(indent=1))


def read_results(path: str | Path) -> RunResults:
    """Read a results file, refusing unknown schema versions with a clear message."""
    p = Path(path)
    if not p.is_file():
        raise ResultsFileError(f"{p}: results file not found")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsFileError(f"{p}: not a valid results file (bad JSON: {exc})") from None
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if version != SCHEMA_VERSION:
        raise ResultsFileError(
            f"{p}: schema_version {version!r} is not supported by this routecheck "
            f"(it reads version {SCHEMA_VERSION}); re-run the suites to regenerate it"
        )
    try:
        return RunResults.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ResultsFileError(f"{p}: invalid results file at {loc}: {first['msg']}") from None
