"""Argument matching: is a predicted call's argument set the gold one?

Exact by default, as the seed compares (``==`` on the parsed JSON, but type-aware: ``1``
is not ``1.0`` and ``true`` is not ``1``). An argument declared ``"x-match": "normalized"``
in the catalog compares strings ignoring case, whitespace and punctuation, and accepts an
integer where the gold is an equal number. A golden case's ``accept`` lists further values
that count as a match for one argument.

``"x-match": "contains"`` is for free text such as a refund reason: the predicted string
must contain the gold phrase (or an accepted one) as whole words, after normalizing. A
reason that states the key fact in more words ("the jacket fell apart after one wash")
matches the gold "fell apart after one wash"; a reason that misses it does not.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from harness.catalog import MatchPolicy, Tool

_PUNCT_SPACE = re.compile(r"[\W_]+", re.UNICODE)


def normalize_text(value: str) -> str:
    """Case-, whitespace- and punctuation-insensitive form of a string."""
    folded = unicodedata.normalize("NFKC", value).casefold()
    return _PUNCT_SPACE.sub(" ", folded).strip()


def canonical(value: Any) -> str:
    """A canonical JSON text: equal texts mean equal values of equal JSON types."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def contains_phrase(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` as whole words, both normalized."""
    hay, needle = normalize_text(text), normalize_text(phrase)
    if not needle:
        return not hay
    return f" {needle} " in f" {hay} "


def values_match(predicted: Any, gold: Any, policy: MatchPolicy) -> bool:
    """Compare one argument value under a match policy."""
    if policy == "contains" and isinstance(predicted, str) and isinstance(gold, str):
        return contains_phrase(predicted, gold)
    if policy in ("normalized", "contains"):
        if isinstance(predicted, str) and isinstance(gold, str):
            return normalize_text(predicted) == normalize_text(gold)
        numeric = (int, float)
        if (
            isinstance(predicted, numeric)
            and isinstance(gold, numeric)
            and not isinstance(predicted, bool)
            and not isinstance(gold, bool)
        ):
            # Exact int/float comparison: float() would overflow on huge integers.
            return bool(predicted == gold)
    return canonical(predicted) == canonical(gold)


def arguments_match(
    predicted: Mapping[str, Any],
    gold: Mapping[str, Any],
    tool: Tool,
    accept: Mapping[str, Sequence[Any]] | None = None,
) -> tuple[bool, list[str]]:
    """Whether every argument matches, and the names of those that do not.

    Schema defaults fill optional arguments on both sides first, so a call that omits
    ``passengers`` matches a gold that says ``passengers: 1`` when the default is 1.
    """
    defaults = tool.defaults()
    pred = {**defaults, **predicted}
    want = {**defaults, **gold}
    accept = accept or {}
    mismatched = []
    for name in sorted(set(pred) | set(want)):
        if name not in pred or name not in want:
            mismatched.append(name)
            continue
        policy = tool.match_policy(name)
        candidates = [want[name], *accept.get(name, ())]
        if not any(values_match(pred[name], c, policy) for c in candidates):
            mismatched.append(name)
    return not mismatched, mismatched
