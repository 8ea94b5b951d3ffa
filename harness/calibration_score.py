"""How well a policy's decisions agree with the labelled verdicts of a calibration part.

Counts and rates only, each rate with its Wilson interval, so that the choice of a
threshold and the printed table read the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness.calibration_set import CalibrationPair
from harness.stats import wilson_interval

Decision = tuple[bool, float | None]
"""A policy's decision on one pair: match or not, and the score it was decided on."""


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n`` with its Wilson 95% interval; value and interval are None when n is 0."""

    k: int
    n: int

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None

    def as_dict(self) -> dict[str, Any]:
        interval = wilson_interval(self.k, self.n)
        return {
            "k": self.k,
            "n": self.n,
            "value": self.value,
            "low": interval[0] if interval else None,
            "high": interval[1] if interval else None,
        }


@dataclass(frozen=True)
class PartScore:
    """Confusion counts of one policy on one part; "positive" is a match verdict."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def agreement(self) -> Rate:
        return Rate(self.tp + self.tn, self.n)

    @property
    def precision(self) -> Rate:
        return Rate(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> Rate:
        return Rate(self.tp, self.tp + self.fn)

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "agreement": self.agreement.as_dict(),
            "precision": self.precision.as_dict(),
            "recall": self.recall.as_dict(),
        }


def score_part(pairs: Iterable[CalibrationPair], decisions: dict[str, Decision]) -> PartScore:
    """Count agreement of ``decisions`` with the pairs' verdicts."""
    tp = fp = fn = tn = 0
    for pair in pairs:
        decided = decisions[pair.id][0]
        if decided and pair.expected:
            tp += 1
        elif decided:
            fp += 1
        elif pair.expected:
            fn += 1
        else:
            tn += 1
    return PartScore(tp=tp, fp=fp, fn=fn, tn=tn)
