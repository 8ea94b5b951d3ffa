"""Why an argument did not match: its rule, both values and a word or character diff.

The pieces are plain text; the template escapes them like every other string.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from harness.results import CaseRecord

DIFF_LIMIT = 400
"""Characters of each side of an argument diff; longer values are clipped."""

WORD_DIFF_FROM = 60
"""Values at least this long are diffed word by word, shorter ones character by character."""

_TOKENS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


def text_diff(gold: str, predicted: str) -> list[tuple[str, str]]:
    """``gold`` turned into ``predicted`` as (``eq``/``del``/``ins``, text) pieces: word by
    word for long values, character by character for short ones (escaped by the template)."""
    gold, predicted = gold[:DIFF_LIMIT], predicted[:DIFF_LIMIT]
    words = max(len(gold), len(predicted)) >= WORD_DIFF_FROM
    a = _TOKENS.findall(gold) if words else list(gold)
    b = _TOKENS.findall(predicted) if words else list(predicted)
    pieces: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(("eq", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(("del", "".join(a[i1:i2])))
        if j2 > j1:
            pieces.append(("ins", "".join(b[j1:j2])))
    return pieces


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def argument_diffs(
    case: CaseRecord, rules: dict[str, dict[str, dict[str, str]]]
) -> list[dict[str, Any]]:
    """Why each mismatched argument failed: its match rule, gold and predicted values, a diff,
    the values the case also accepts, the rule's similarity score when the record has one, and
    the judge's verdict beside the deterministic one when a judge was asked."""
    if not case.mismatched_arguments:
        return []
    tool_rules = rules.get(case.catalog, {}).get(case.gold.tool)
    predicted = case.parsed.arguments or {}
    scores = getattr(case, "argument_scores", None)
    out = []
    for name in case.mismatched_arguments:
        rule = "not recorded" if tool_rules is None else tool_rules.get(name, "exact")
        gold = _json(case.gold.arguments[name]) if name in case.gold.arguments else None
        pred = _json(predicted[name]) if name in predicted else None
        score = scores.get(name) if isinstance(scores, dict) else None
        judged = getattr(case, "judge", {}).get(name)
        out.append(
            {
                "name": name,
                "rule": rule,
                "gold": gold,
                "predicted": pred,
                "diff": text_diff(gold, pred) if gold is not None and pred is not None else [],
                "accept": [_json(v) for v in case.accept.get(name, [])],
                "score": score if isinstance(score, (int, float)) else None,
                "judge": judged,
            }
        )
    return out
