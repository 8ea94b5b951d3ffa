"""``routecheck calibrate``: how often each match policy agrees with a careful person.

The calibration set (``golden/calibration/*.jsonl``) holds hand-labelled pairs of a gold
value and a predicted value with a verdict written before any policy was tuned. For each
policy and threshold this prints agreement, precision of the policy's "match" decisions
and recall, each with a Wilson interval, on the ``tune`` and the ``sealed`` part apart.

Thresholds are chosen on the tune part only (best agreement among those whose precision
reaches ``--min-precision``); the sealed part then says how well the choice holds. The
default policy for free-text arguments is the candidate with the best sealed agreement
among those whose sealed precision reaches the same bar.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.calibration_score import Decision, PartScore, Rate, score_part
from harness.calibration_set import (
    DEFAULT_SET,
    PARTS,
    CalibrationFileError,
    CalibrationPair,
    Part,
    Verdict,
    load_calibration,
)
from harness.similarity import DEFAULT_SCORER, SCORERS, available_scorers, similar_match
from harness.stats import wilson_interval

__all__ = [
    "DEFAULT_SET",
    "DEFAULT_THRESHOLDS",
    "MIN_PRECISION",
    "PARTS",
    "CalibrationFileError",
    "CalibrationPair",
    "CalibrationReport",
    "Decision",
    "Part",
    "PartScore",
    "Rate",
    "Verdict",
    "build_policies",
    "calibrate",
    "format_table",
    "judge_decisions",
    "load_calibration",
    "main",
    "score_part",
]

DEFAULT_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
MIN_PRECISION = 0.97


@dataclass(frozen=True)
class Policy:
    """A way to decide match or mismatch for a pair; ``family`` groups thresholds of one scorer."""

    name: str
    family: str
    threshold: float | None
    decide: Callable[[CalibrationPair], Decision]


def _values_match_policy(policy: str) -> Callable[[CalibrationPair], Decision]:
    from harness.match import values_match

    def decide(pair: CalibrationPair) -> Decision:
        return any(values_match(pair.predicted, c, policy) for c in pair.candidates), None

    return decide


def _similar_policy(scorer: str, threshold: float) -> Callable[[CalibrationPair], Decision]:
    def decide(pair: CalibrationPair) -> Decision:
        matched, score = similar_match(pair.predicted, pair.candidates, threshold, scorer)
        return matched, score

    return decide


def _contains_or_similar_policy(
    scorer: str, threshold: float
) -> Callable[[CalibrationPair], Decision]:
    from harness.match import contains_phrase

    def decide(pair: CalibrationPair) -> Decision:
        if isinstance(pair.predicted, str) and any(
            isinstance(c, str) and contains_phrase(pair.predicted, c) for c in pair.candidates
        ):
            return True, 1.0
        return similar_match(pair.predicted, pair.candidates, threshold, scorer)

    return decide


def build_policies(scorers: Sequence[str], thresholds: Sequence[float]) -> list[Policy]:
    """The deterministic policies: exact, normalized, contains, then per scorer and
    threshold ``similar`` and ``contains-or-similar`` (the gold phrase found whole, or a
    similar enough text)."""
    policies = [
        Policy(name, name, None, _values_match_policy(name))
        for name in ("exact", "normalized", "contains")
    ]
    for scorer in scorers:
        for threshold in thresholds:
            policies.append(
                Policy(
                    f"similar:{scorer}@{threshold:g}",
                    f"similar:{scorer}",
                    threshold,
                    _similar_policy(scorer, threshold),
                )
            )
            policies.append(
                Policy(
                    f"contains-or-similar:{scorer}@{threshold:g}",
                    f"contains-or-similar:{scorer}",
                    threshold,
                    _contains_or_similar_policy(scorer, threshold),
                )
            )
    return policies


def judge_decisions(pairs: Sequence[CalibrationPair], spec: str) -> dict[str, Decision]:
    """Ask the judge about every pair (ids are the pair ids, so a mock judge replays by id)."""
    from harness.judge import JudgeItem, load_judge

    judge = load_judge(spec)
    items = [
        JudgeItem(
            id=p.id,
            tool=p.tool,
            argument=p.argument,
            gold=p.gold,
            accept=p.accept,
            predicted=p.predicted,
        )
        for p in pairs
    ]
    return {v.id: (v.match, None) for v in judge.judge(items)}


@dataclass
class PolicyResult:
    """One policy's decisions and scores on both parts."""

    name: str
    family: str
    threshold: float | None
    decisions: dict[str, Decision]
    parts: dict[Part, PartScore]
    chosen: bool = False

    def meets(self, part: Part, min_precision: float) -> bool:
        value = self.parts[part].precision.value
        return value is not None and value >= min_precision


def _agreement(result: PolicyResult, part: Part) -> float:
    return result.parts[part].agreement.value or 0.0


def choose_threshold(results: Sequence[PolicyResult], min_precision: float) -> PolicyResult:
    """The tune-part choice within one family: best tune agreement at the precision bar.

    Ties go to the higher threshold (fewer false matches). When no threshold reaches the
    bar, the most precise one is taken, then the better agreement.
    """
    eligible = [r for r in results if r.meets("tune", min_precision)]
    if eligible:
        return max(eligible, key=lambda r: (_agreement(r, "tune"), r.threshold or 0.0))
    return max(
        results,
        key=lambda r: (r.parts["tune"].precision.value or 0.0, _agreement(r, "tune")),
    )


@dataclass
class CalibrationReport:
    """Everything ``calibrate`` prints: per-policy scores, choices and disagreements."""

    source: str
    pairs: list[CalibrationPair]
    results: list[PolicyResult]
    min_precision: float
    recommended: str | None
    candidates: list[str] = field(default_factory=list)

    def result(self, name: str) -> PolicyResult:
        return next(r for r in self.results if r.name == name)

    def disagreements(self, name: str) -> list[dict[str, Any]]:
        """Pairs where policy ``name`` decides otherwise than the verdict."""
        result = self.result(name)
        rows = []
        for pair in self.pairs:
            decided, score = result.decisions[pair.id]
            if decided != pair.expected:
                rows.append(
                    {
                        "id": pair.id,
                        "split": pair.split,
                        "verdict": pair.verdict,
                        "decided": "match" if decided else "mismatch",
                        "score": score,
                        "gold": pair.gold,
                        "accept": list(pair.accept),
                        "predicted": pair.predicted,
                        "note": pair.note,
                    }
                )
        return rows

    def as_dict(self) -> dict[str, Any]:
        counts = {
            part: {
                "pairs": sum(p.split == part for p in self.pairs),
                "match": sum(p.split == part and p.expected for p in self.pairs),
            }
            for part in PARTS
        }
        return {
            "set": self.source,
            "pairs": len(self.pairs),
            "parts": counts,
            "min_precision": self.min_precision,
            "policies": [
                {
                    "policy": r.name,
                    "family": r.family,
                    "threshold": r.threshold,
                    "chosen_on_tune": r.chosen,
                    **{part: r.parts[part].as_dict() for part in PARTS},
                }
                for r in self.results
            ],
            "candidates": self.candidates,
            "recommended": self.recommended,
            "disagreements": {name: self.disagreements(name) for name in self.candidates},
        }


def calibrate(
    pairs: Sequence[CalibrationPair],
    policies: Sequence[Policy],
    *,
    extra: dict[str, dict[str, Decision]] | None = None,
    min_precision: float = MIN_PRECISION,
    source: str = "",
) -> CalibrationReport:
    """Score every policy, choose each family's threshold on tune, recommend on sealed.

    ``extra`` holds decisions computed elsewhere (the judge), keyed by policy name.
    """
    results: list[PolicyResult] = []
    by_part = {part: [p for p in pairs if p.split == part] for part in PARTS}

    def add(
        name: str, family: str, threshold: float | None, decisions: dict[str, Decision]
    ) -> None:
        parts = {part: score_part(by_part[part], decisions) for part in PARTS}
        results.append(PolicyResult(name, family, threshold, decisions, parts))

    for policy in policies:
        add(policy.name, policy.family, policy.threshold, {p.id: policy.decide(p) for p in pairs})
    for name, decisions in (extra or {}).items():
        add(name, name, None, decisions)

    candidates: list[str] = []
    for family in dict.fromkeys(r.family for r in results):
        members = [r for r in results if r.family == family]
        pick = choose_threshold(members, min_precision) if len(members) > 1 else members[0]
        pick.chosen = True
        candidates.append(pick.name)
    eligible = [r for r in results if r.chosen and r.meets("sealed", min_precision)]
    recommended = max(eligible, key=lambda r: _agreement(r, "sealed")).name if eligible else None
    return CalibrationReport(
        source=source,
        pairs=list(pairs),
        results=results,
        min_precision=min_precision,
        recommended=recommended,
        candidates=candidates,
    )


def _cell(rate: Rate) -> str:
    interval = wilson_interval(rate.k, rate.n)
    if interval is None or rate.value is None:
        return f"{'-':>20}"
    return f"{rate.value:.3f} [{interval[0]:.2f}-{interval[1]:.2f}]".rjust(20)


def format_table(report: CalibrationReport, all_disagreements: bool = False) -> str:
    """The human-readable report: one table per part, choices, then disagreements."""
    data = report.as_dict()
    lines = [
        f"calibration set {report.source}: {len(report.pairs)} pairs "
        f"(tune {data['parts']['tune']['pairs']}, sealed {data['parts']['sealed']['pairs']}); "
        f"precision bar {report.min_precision:g}",
        "",
    ]
    width = max(len(r.name) for r in report.results) + 2
    for part in PARTS:
        counts = data["parts"][part]
        lines.append(f"{part}: {counts['pairs']} pairs, {counts['match']} labelled match")
        lines.append(f"  {'policy':<{width}}{'agreement':>20}  {'precision':>20}  {'recall':>20}")
        for r in report.results:
            score = r.parts[part]
            mark = ""
            if r.name == report.recommended:
                mark = "  <- recommended"
            elif r.chosen and r.threshold is not None:
                mark = "  <- chosen on tune"
            lines.append(
                f"  {r.name:<{width}}{_cell(score.agreement)}  {_cell(score.precision)}  "
                f"{_cell(score.recall)}{mark}"
            )
        lines.append("")
    lines.append("thresholds chosen on tune: " + ", ".join(report.candidates))
    lines.append(
        f"recommended (best sealed agreement with sealed precision >= {report.min_precision:g}): "
        f"{report.recommended or 'none reaches the bar'}"
    )
    shown = report.candidates if all_disagreements else [report.recommended or ""]
    for name in shown:
        if not name:
            continue
        rows = report.disagreements(name)
        lines.append("")
        lines.append(f"disagreements of {name} ({len(rows)}):")
        for row in rows:
            shown_score = "" if row["score"] is None else f" score={row['score']:.2f}"
            lines.append(
                f"  {row['id']} [{row['split']}] person={row['verdict']} "
                f"policy={row['decided']}{shown_score}: gold={row['gold']!r} "
                f"predicted={row['predicted']!r}"
            )
    return "\n".join(lines) + "\n"


def _shown_path(path: str) -> str:
    """``path`` relative to the working folder when it lies inside it, as a user typed it."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--thresholds {text!r}: give comma-separated numbers in [0, 1], e.g. 0.7,0.8"
        ) from None
    if not values or any(not 0.0 <= v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"--thresholds {text!r}: each value must be in [0, 1]")
    return values


def main(argv: list[str]) -> int:
    from harness.cli.common import parser as command_parser

    parser = command_parser(
        "calibrate",
        "Measure how often each argument match policy agrees with hand-labelled "
        "verdicts, on the tune and the sealed part of a calibration set.",
        ["routecheck calibrate", "routecheck calibrate --catalog customer_support --json"],
    )
    parser.add_argument(
        "--set",
        dest="set_path",
        default=str(DEFAULT_SET),
        help="calibration folder of *.jsonl pairs, or one file (default: golden/calibration)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--judge",
        metavar="SPEC",
        help="also measure a judge model given as a backend spec "
        "(mock:FILE, openai:URL#MODEL, a model folder)",
    )
    parser.add_argument(
        "--scorers",
        default=DEFAULT_SCORER,
        help="comma-separated similarity scorers to measure, or 'all' "
        f"(known: {', '.join(SCORERS)}; default {DEFAULT_SCORER})",
    )
    parser.add_argument(
        "--thresholds",
        type=_floats,
        default=list(DEFAULT_THRESHOLDS),
        help="comma-separated thresholds for the similar policy (default 0.5 to 0.95 by 0.05)",
    )
    parser.add_argument("--catalog", help="only the pairs of this catalog")
    parser.add_argument(
        "--min-precision",
        type=float,
        default=MIN_PRECISION,
        help=f"precision a policy must reach to be chosen (default {MIN_PRECISION})",
    )
    parser.add_argument(
        "--all-disagreements",
        action="store_true",
        help="list the disagreements of every chosen policy, not only the recommended one",
    )
    args = parser.parse_args(argv)

    pairs = load_calibration(args.set_path)
    if args.catalog:
        known = sorted({p.catalog for p in pairs})
        pairs = [p for p in pairs if p.catalog == args.catalog]
        if not pairs:
            raise CalibrationFileError(
                f"--catalog {args.catalog!r}: no pairs in {args.set_path}; "
                f"catalogs: {', '.join(known)}"
            )
    if args.scorers.strip() == "all":
        scorers = available_scorers()
    else:
        scorers = [s.strip() for s in args.scorers.split(",") if s.strip()]
        unknown = [s for s in scorers if s not in SCORERS]
        if unknown:
            parser.error(f"--scorers: unknown {unknown[0]!r}; known: {', '.join(SCORERS)}")
    extra = {f"judge:{args.judge}": judge_decisions(pairs, args.judge)} if args.judge else None
    report = calibrate(
        pairs,
        build_policies(scorers, args.thresholds),
        extra=extra,
        min_precision=args.min_precision,
        source=_shown_path(args.set_path),
    )
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_table(report, args.all_disagreements), end="")
    return 0
