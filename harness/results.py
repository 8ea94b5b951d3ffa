"""The results file: the one contract between a run and everything after it.

Gates, the HTML report, baseline comparison and the feedback loop read only this file.
Its schema is versioned; readers refuse versions they do not know.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.atomic import write_atomic
from harness.errors import ResultsFileError
from harness.formats import folder as folder_formats
from harness.gates import GateResult
from harness.golden import Category, Split, Target
from harness.metrics import Metrics
from harness.parse import ParsedFields
from harness.robust_results import RobustnessReport
from harness.scoring import Outcome

SCHEMA_VERSION = 3
"""Version 2 added ``completed``, ``incomplete_reason``, ``verdict``, ``verdict_rule`` and
``CaseRecord.output_escaped``; version 1 files still read (as complete runs, no verdict).
Version 3 added ``robustness`` (the robustness suite's section; ``null`` when it did not
run), the ``ungrounded`` outcome, ``CaseRecord.ungrounded_arguments`` and the
``ungrounded_rate`` and ``ungrounded_arguments`` metrics; older files read with none."""

READABLE_VERSIONS = (1, 2, 3)

Verdict = Literal["pass", "fail", "incomplete"]

_UNSTORABLE = re.compile(r"[\\\ud800-\udfff]")
_ESCAPE = re.compile(r"\\(\\|u[0-9a-f]{4})")


def escape_text(text: str, force: bool = False) -> tuple[str, bool]:
    """``text`` made storable as UTF-8, and whether it was escaped.

    Lone surrogates (which a model or a server can return, and which UTF-8 cannot hold)
    become ``\\udXXX`` and backslashes are doubled, so :func:`unescape_text` gives the exact
    original back. Text that encodes as it is stays as it is, unless ``force``.
    """
    if not force:
        try:
            text.encode("utf-8")
            return text, False
        except UnicodeEncodeError:
            pass

    def one(m: re.Match[str]) -> str:
        ch = m.group()
        return "\\\\" if ch == "\\" else f"\\u{ord(ch):04x}"

    return _UNSTORABLE.sub(one, text), True


def unescape_text(text: str) -> str:
    """The inverse of :func:`escape_text` for text it changed."""
    return _ESCAPE.sub(lambda m: "\\" if m.group(1) == "\\" else chr(int(m.group(1)[1:], 16)), text)


def storable(value: Any) -> tuple[Any, bool]:
    """A JSON value with every string (keys too) made storable, and whether any changed."""
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        changed = False
        for k, v in value.items():
            key, k_changed = storable(k)
            item, v_changed = storable(v)
            out[key] = item
            changed = changed or k_changed or v_changed
        return out, changed
    if isinstance(value, list | tuple):
        pairs = [storable(v) for v in value]
        return [v for v, _ in pairs], any(c for _, c in pairs)
    return value, False


class ParsedOutput(ParsedFields):
    """What the parser made of a raw output (strict or lenient)."""

    extracted: bool = False


class JudgedArgument(BaseModel):
    """The judge's verdict on one argument, beside the deterministic one (``--rc-judge``)."""

    model_config = ConfigDict(frozen=True)

    answer: Literal["yes", "no", "unavailable"] = Field(
        description="The judge's answer (anything but yes reads as no); unavailable: it failed"
    )
    deterministic: bool = Field(description="Whether the argument's deterministic policy matched")
    counted: Literal["judge", "deterministic"] = Field(
        description="Which of the two verdicts decided the argument"
    )
    raw: str = Field(default="", description="The judge's raw answer (escaped like outputs)")


class JudgeRunInfo(BaseModel):
    """The run's judge: what it was and what it did (see README, "The judge (opt-in)")."""

    model_config = ConfigDict(frozen=True)

    spec: str | None = Field(description="--rc-judge as given; null: no judge was run")
    fingerprint: str | None = None
    version: str | None = Field(default=None, description="The question's version (judge-v1)")
    decides: str = Field(default="judge", description="--rc-judge-decides: judge or similar")
    asked: int = 0
    cached: int = 0
    unavailable: int = Field(default=0, description="Questions the judge failed to answer")
    disagreements: int = Field(
        default=0, description="Judged arguments where the judge and the policy disagree"
    )
    fallback_arguments: int = Field(
        default=0, description="x-match judge arguments decided by their fallback policy"
    )
    error: str | None = Field(default=None, description="Why the judge failed, if it did")
    seconds: float = 0.0


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
    output: str = Field(description="The raw model output (escaped when output_escaped)")
    output_escaped: bool = Field(
        default=False,
        description="The output, or a string parsed from it, held text UTF-8 cannot store "
        "(lone surrogates): output and the parsed strings are escaped (backslashes doubled, "
        "surrogates as \\uXXXX); raw_output() gives the exact original",
    )
    truncated: bool = False
    parsed: ParsedOutput
    predicted: str = Field(description="Confusion label: tool name, no_tool or invalid")
    outcome: Outcome
    passed: bool
    mismatched_arguments: list[str] = Field(default_factory=list)
    argument_scores: dict[str, float] = Field(
        default_factory=dict,
        description="Similarity score per argument under a scored policy (similar)",
    )
    lenient_outcome: Outcome = Field(description="The outcome under the lenient parser")
    judge: dict[str, JudgedArgument] = Field(
        default_factory=dict,
        description="Per free-text argument the judge was asked about: its verdict",
    )
    format: str | None = Field(
        default=None,
        description="The output format this case ran in (its folder's); older files: None",
    )
    ungrounded_arguments: list[str] = Field(
        default_factory=list,
        description="Grounded arguments of the call whose value is not in the conversation",
    )

    def raw_output(self) -> str:
        """The output exactly as the model returned it."""
        return unescape_text(self.output) if self.output_escaped else self.output


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
    format: str = Field(default="json", description="Output format: json, native, openai-tools")
    formats: dict[str, str] = Field(
        default_factory=dict,
        description="Catalog -> the output format its cases ran in; format is 'mixed' when "
        "these differ (older files: empty, every case ran in format)",
    )
    gate_split: str = Field(default="all", description="Which cases the gates were computed on")
    gate_on: str = Field(
        default="estimate",
        description="What the gates compared: the point estimate or the 95% interval's bound",
    )
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
    completed: bool = Field(
        default=True,
        description="False when the run stopped early: cases holds only what was generated",
    )
    incomplete_reason: str | None = Field(default=None, description="Why the run stopped")
    verdict: Verdict | None = Field(
        default=None, description="pass, fail or incomplete; what the exit status says"
    )
    verdict_rule: str = Field(default="gates", description="gates or cases (--rc-verdict)")
    cases: list[CaseRecord]
    robustness: RobustnessReport | None = Field(
        default=None, description="The robustness suite's rates and fragile cases, when it ran"
    )
    judge: JudgeRunInfo | None = Field(
        default=None, description="The judge (--rc-judge), or null: none and none needed"
    )

    def format_of(self, case: CaseRecord) -> str:
        """The format ``case`` ran in, for files of any age."""
        return case.format or self.formats.get(case.catalog) or self.format

    @property
    def format_label(self) -> str:
        """``json``, or ``mixed (billing: native, travel: json)``: what a header shows."""
        return folder_formats.format_label(self.format, self.formats)

    def judged(self, rule: str) -> Verdict:
        """The verdict under ``rule``: ``gates`` counts the gates only, ``cases`` every case too."""
        if not self.completed:
            return "incomplete"
        ok = all(g.passed for g in self.gates)
        if rule == "cases":
            ok = ok and all(c.passed for c in self.cases)
        return "pass" if ok else "fail"

    def case(self, key: str) -> CaseRecord:
        for c in self.cases:
            if c.key == key:
                return c
        raise KeyError(key)


def write_results(results: RunResults, path: str | Path) -> Path:
    """Write ``results.json`` atomically.

    Any text that still cannot be encoded (a lone surrogate from somewhere other than a
    model output) is written as a JSON ``\\u`` escape rather than crashing the writer.
    """
    try:
        payload = results.model_dump_json(indent=1)
    except ValueError:  # pydantic's serialization error on unencodable text
        payload = json.dumps(results.model_dump(mode="json"), indent=1, ensure_ascii=True)
    return write_atomic(path, payload)


def read_results(path: str | Path) -> RunResults:
    """Read a results file, refusing unknown schema versions with a clear message."""
    p = Path(path)
    if not p.is_file():
        raise ResultsFileError(f"{p}: results file not found")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultsFileError(f"{p}: not a valid results file (bad JSON: {exc})") from None
    except RecursionError:
        raise ResultsFileError(
            f"{p}: not a valid results file (bad JSON: arrays or objects nested too deeply)"
        ) from None
    except ValueError as exc:  # an integer longer than Python reads (sys.set_int_max_str_digits)
        raise ResultsFileError(
            f"{p}: not a valid results file (bad JSON: {str(exc).split(';')[0]})"
        ) from None
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if version not in READABLE_VERSIONS:
        raise ResultsFileError(
            f"{p}: schema_version {version!r} is not supported by this routecheck "
            f"(it reads versions {', '.join(map(str, READABLE_VERSIONS))}); re-run the suites "
            "to regenerate it"
        )
    # Older versions lack fields that have defaults: read them as the current version, so
    # comparing an old baseline with a new run needs no special case.
    raw["schema_version"] = SCHEMA_VERSION
    try:
        return RunResults.model_validate(raw)
    except RecursionError:  # nesting the decoder read but validation cannot walk
        raise ResultsFileError(
            f"{p}: not a valid results file (arrays or objects nested too deeply)"
        ) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ResultsFileError(f"{p}: invalid results file at {loc}: {first['msg']}") from None
