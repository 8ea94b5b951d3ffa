"""Baseline comparison: which cases regressed, which were fixed, and whether it is noise.

Two runs are paired case by case on their ``catalog/id`` key. A case that passed in the
baseline and fails now is a regression; the reverse is a fix. The exact McNemar test on
those two counts says whether the change is larger than chance would explain.

Comparisons that mean nothing are refused rather than reported: different results-file
schemas, or different golden sets that share fewer than half of their cases.

This module only compares: saved baselines live in :mod:`harness.baselines`, the text and
HTML output in :mod:`harness.render`, the command in :mod:`harness.cli.compare`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness import golden
from harness.backends.base import DecodingConfig
from harness.errors import RoutecheckError
from harness.metrics import LOWER_IS_BETTER, SUMMARY, Rate
from harness.results import CaseRecord, RunResults
from harness.scoring import Outcome
from harness.stats import mcnemar_exact

DELTA_METRICS: tuple[str, ...] = SUMMARY
"""The metrics whose change a comparison reports: those the metric table marks ``summary``."""

SLICES = golden.SLICES

CaseStatus = Literal["regression", "fix", "still_failing", "still_passing", "added", "removed"]
Verdict = Literal["better", "worse", "same", "n/a"]

_SAME = 1e-12


class ComparisonError(RoutecheckError, ValueError):
    """Two runs cannot be compared meaningfully (or, as a ``BaselineError``, one of them
    cannot be found)."""


class CaseChange(BaseModel):
    """One case that did not simply stay passing, with what the baseline made of it."""

    model_config = ConfigDict(frozen=True)

    key: str
    status: CaseStatus
    baseline_outcome: Outcome | None = None
    current_outcome: Outcome | None = None
    baseline_output: str | None = None
    baseline_predicted: str | None = None
    gold_changed: bool = Field(
        default=False, description="The case's prompt or gold target differs between the runs"
    )


class MetricDelta(BaseModel):
    """One metric in both runs and the change, read with the metric's direction."""

    model_config = ConfigDict(frozen=True)

    metric: str
    baseline: Rate
    current: Rate
    delta: float | None = Field(description="current - baseline; None if either has no cases")
    lower_is_better: bool
    verdict: Verdict


class Comparison(BaseModel):
    """The case-by-case and metric-by-metric difference between two runs."""

    model_config = ConfigDict(frozen=True)

    baseline_run_id: str
    current_run_id: str
    baseline_checkpoint: str
    current_checkpoint: str
    baseline_created_at: str
    current_created_at: str
    same_golden: bool
    regressions: list[str] = Field(description="Keys that passed in the baseline and fail now")
    fixes: list[str] = Field(description="Keys that failed in the baseline and pass now")
    still_failing: list[str]
    still_passing: list[str]
    added: list[str] = Field(description="Keys only in the current run")
    removed: list[str] = Field(description="Keys only in the baseline run")
    changes: dict[str, CaseChange] = Field(
        description="Every case except those still passing, by key"
    )
    deltas: dict[str, dict[str, MetricDelta]] = Field(
        description="Slice (all, dev, holdout) -> metric -> delta"
    )
    category_deltas: dict[str, dict[str, dict[str, MetricDelta]]] = Field(
        default_factory=dict,
        description="Slice -> category -> metric -> delta, for categories in both runs",
    )
    mcnemar_p: float = Field(description="Exact McNemar p-value, b = regressions, c = fixes")
    warnings: list[str] = Field(default_factory=list)

    @property
    def n_paired(self) -> int:
        """Cases present in both runs."""
        return (
            len(self.regressions)
            + len(self.fixes)
            + len(self.still_failing)
            + len(self.still_passing)
        )

    def status(self, key: str) -> CaseStatus | None:
        """The status of a case key, or None if neither run holds it."""
        change = self.changes.get(key)
        if change is not None:
            return change.status
        return "still_passing" if key in set(self.still_passing) else None

    def reading(self) -> str:
        """The McNemar result in one plain-language line."""
        return mcnemar_reading(self.mcnemar_p, len(self.regressions), len(self.fixes))


def format_p(p: float) -> str:
    """A p-value as a reviewer reads it: two significant digits, floored at 0.001."""
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.2g}"


def mcnemar_reading(p: float, regressions: int, fixes: int) -> str:
    """E.g. ``p = 0.03: unlikely to be noise (7 regressions, 1 fix)``."""
    counts = f"{_plural(regressions, 'regression')}, {_plural(fixes, 'fix', 'fixes')}"
    if regressions + fixes == 0:
        return f"{format_p(p)}: no case changed between pass and fail"
    if p < 0.01:
        meaning = "very unlikely to be noise"
    elif p < 0.05:
        meaning = "unlikely to be noise"
    elif p < 0.2:
        meaning = "weak evidence; could well be noise"
    else:
        meaning = "consistent with noise"
    return f"{format_p(p)}: {meaning} ({counts})"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _verdict(delta: float | None, lower_is_better: bool) -> Verdict:
    if delta is None:
        return "n/a"
    if abs(delta) < _SAME:
        return "same"
    improved = delta < 0 if lower_is_better else delta > 0
    return "better" if improved else "worse"


def metric_delta(metric: str, baseline: Rate, current: Rate) -> MetricDelta:
    """The change of one rate between two runs, with its direction."""
    delta = (
        None if baseline.value is None or current.value is None else current.value - baseline.value
    )
    lower = metric in LOWER_IS_BETTER
    return MetricDelta(
        metric=metric,
        baseline=baseline,
        current=current,
        delta=delta,
        lower_is_better=lower,
        verdict=_verdict(delta, lower),
    )


def _case_changed(a: CaseRecord, b: CaseRecord) -> bool:
    return a.prompt != b.prompt or a.gold != b.gold or a.accept != b.accept


def compare_runs(current: RunResults, baseline: RunResults) -> Comparison:
    """Pair two runs case by case and metric by metric.

    Raises :class:`ComparisonError` when the comparison would be meaningless: different
    schema versions, no case in common, or different golden sets sharing fewer than half
    of the larger run's cases.
    """
    if current.schema_version != baseline.schema_version:
        raise ComparisonError(
            f"cannot compare results of schema version {current.schema_version} (current) "
            f"with schema version {baseline.schema_version} (baseline); re-run the older one"
        )
    cur = {c.key: c for c in current.cases}
    base = {c.key: c for c in baseline.cases}
    common = [k for k in cur if k in base]
    larger = max(len(cur), len(base))
    same_golden = current.golden_fingerprint == baseline.golden_fingerprint
    if larger and not common:
        raise ComparisonError(
            f"the runs share no case (current {len(cur)} cases, baseline {len(base)}): "
            "there is nothing to compare"
        )
    if not same_golden and 2 * len(common) < larger:
        raise ComparisonError(
            f"the runs used different golden sets ({baseline.golden_fingerprint} -> "
            f"{current.golden_fingerprint}) and share only {len(common)} of {larger} cases "
            "(fewer than half): the comparison would be meaningless; re-run the baseline on "
            "the current golden set"
        )

    warnings: list[str] = []
    if not same_golden:
        warnings.append(
            f"the golden sets differ ({baseline.golden_fingerprint} -> "
            f"{current.golden_fingerprint}); {len(common)} of {larger} cases are compared "
            "pairwise, and metric deltas mix the two sets"
        )
    added = [k for k in cur if k not in base]
    removed = [k for k in base if k not in cur]
    if added or removed:
        warnings.append(
            f"only some cases overlap: {len(common)} in both runs, "
            f"{len(added)} only in the current run, {len(removed)} only in the baseline"
        )
    if current.format_label != baseline.format_label:
        warnings.append(
            f"output format differs: {baseline.format_label} (baseline) -> "
            f"{current.format_label}; the "
            "verdicts are the same kind, but the model was prompted and read differently"
        )
    if current.parse_mode != baseline.parse_mode:
        warnings.append(
            f"parse mode differs: {baseline.parse_mode} (baseline) -> {current.parse_mode}"
        )
    # A setting a results file lacks was written before the setting existed: its default
    # is what that run did (free decoding before constrained existed, no lookup drafts).
    defaults = DecodingConfig().as_dict()
    base_decoding = {**defaults, **baseline.decoding}
    cur_decoding = {**defaults, **current.decoding}
    if cur_decoding["mode"] != base_decoding["mode"]:
        warnings.append(
            f"decoding differs: {base_decoding['mode']} (baseline) -> {cur_decoding['mode']}; "
            "constrained decoding lets the model write only valid calls, so validity and "
            "tool choices are not measured alike"
        )
    base_rest = {k: v for k, v in base_decoding.items() if k != "mode"}
    cur_rest = {k: v for k, v in cur_decoding.items() if k != "mode"}
    if cur_rest != base_rest:
        warnings.append(f"decoding settings differ: {_dict_diff(base_rest, cur_rest)}")

    lists: dict[CaseStatus, list[str]] = {
        "regression": [],
        "fix": [],
        "still_failing": [],
        "still_passing": [],
    }
    changes: dict[str, CaseChange] = {}
    n_gold_changed = 0
    for key in common:
        now, then = cur[key], base[key]
        status: CaseStatus
        if then.passed and now.passed:
            status = "still_passing"
        elif then.passed:
            status = "regression"
        elif now.passed:
            status = "fix"
        else:
            status = "still_failing"
        gold_changed = _case_changed(now, then)
        n_gold_changed += gold_changed
        lists[status].append(key)
        if status != "still_passing":
            changes[key] = CaseChange(
                key=key,
                status=status,
                baseline_outcome=then.outcome,
                current_outcome=now.outcome,
                baseline_output=then.output,
                baseline_predicted=then.predicted,
                gold_changed=gold_changed,
            )
    if n_gold_changed:
        warnings.append(
            f"{_plural(n_gold_changed, 'case')} in both runs changed prompt or gold target; "
            "they are compared as they are"
        )
    for key in added:
        changes[key] = CaseChange(key=key, status="added", current_outcome=cur[key].outcome)
    for key in removed:
        then = base[key]
        changes[key] = CaseChange(
            key=key,
            status="removed",
            baseline_outcome=then.outcome,
            baseline_output=then.output,
            baseline_predicted=then.predicted,
        )

    deltas: dict[str, dict[str, MetricDelta]] = {}
    category_deltas: dict[str, dict[str, dict[str, MetricDelta]]] = {}
    for split in SLICES:
        if split not in current.metrics or split not in baseline.metrics:
            continue
        if split != "all" and not (
            current.metrics[split].overall.n or baseline.metrics[split].overall.n
        ):
            continue  # a split neither run has cases in
        now_m, then_m = current.metrics[split].overall, baseline.metrics[split].overall
        deltas[split] = {m: metric_delta(m, then_m.rate(m), now_m.rate(m)) for m in DELTA_METRICS}
        now_c, then_c = current.metrics[split].by_category, baseline.metrics[split].by_category
        category_deltas[split] = {
            c: {m: metric_delta(m, then_c[c].rate(m), now_c[c].rate(m)) for m in DELTA_METRICS}
            for c in now_c
            if c in then_c
        }

    return Comparison(
        baseline_run_id=baseline.run_id,
        current_run_id=current.run_id,
        baseline_checkpoint=baseline.checkpoint.spec,
        current_checkpoint=current.checkpoint.spec,
        baseline_created_at=baseline.created_at,
        current_created_at=current.created_at,
        same_golden=same_golden,
        regressions=lists["regression"],
        fixes=lists["fix"],
        still_failing=lists["still_failing"],
        still_passing=lists["still_passing"],
        added=added,
        removed=removed,
        changes=changes,
        deltas=deltas,
        category_deltas=category_deltas,
        mcnemar_p=mcnemar_exact(len(lists["regression"]), len(lists["fix"])),
        warnings=warnings,
    )


def _dict_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
    return ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in keys)


def keys_by_status(comparison: Comparison, keys: Iterable[str]) -> dict[str, CaseStatus]:
    """The status of each of ``keys`` (current-run keys) in ``comparison``."""
    out: dict[str, CaseStatus] = {}
    passing = set(comparison.still_passing)
    for key in keys:
        change = comparison.changes.get(key)
        if change is not None:
            out[key] = change.status
        elif key in passing:
            out[key] = "still_passing"
    return out
