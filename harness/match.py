"""Argument matching: is a predicted call's argument set the gold one?

Exact by default, as the seed compares (``==`` on the parsed JSON, but type-aware: ``1``
is not ``1.0`` and ``true`` is not ``1``), except that a whole number is accepted where
the schema says ``number``. An argument (or any nested value) may declare a policy with
``"x-match"``; the policy applies inside arrays and objects too, and a nested schema may
declare its own. Each policy's name says what it ignores:

- ``exact``: nothing.
- ``casefold``: letter case (after Unicode NFKC).
- ``casefold-space``: letter case and runs of whitespace.
- ``text``: letter case, whitespace and sentence punctuation (``. , ; : ! ? ' "``,
  brackets), but never operators or signs (``+ - * / ^ = < > %``), digits or a decimal
  point: ``"3x + 2"`` never matches ``"3x - 2"``.
- ``contains``: the predicted text contains the gold phrase as whole words, under ``text``.
- ``bfcl``: BFCL's own string rule, for parity with its leaderboard: drop spaces and only
  ``, . / - _ * ^``, lowercase, and read ``'`` as ``"``. It confuses ``3/4`` with ``34``;
  use it only to compare with BFCL.
- ``id``: letter case and everything between the pieces of an identifier (a piece is a run
  of ASCII letters, a run of digits, or any other single letter): ``ORD-5590``,
  ``ord 5590`` and ``ORD5590`` are one id; ``ORD-559`` is another.

Each policy also says when a value *occurs in* a text (for grounded arguments, see
``harness.grounding``): the value in the policy's form is found in the text in that form,
not cut out of a longer run of letters or digits (``ORD-77`` does not occur in
``ORD-7781``).

- ``judge``: the opt-in judge model's verdict (:mod:`harness.judging`); without one, the
  argument's ``x-judge-fallback`` policy (default ``contains-or-similar``).

``normalized`` is the old name of ``text`` and kept as a deprecated alias. Enum and
``const`` values are always compared exactly: a value the API does not declare is wrong.
More policies register by name with :func:`register_policy`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.schema import json_type

if TYPE_CHECKING:
    from harness.catalog import Tool

StringRule = Callable[[str, str], bool]
"""A policy: whether a predicted string matches a gold string."""

OccursRule = Callable[[str, str], bool]
"""A policy's grounding test: whether a value (first) occurs in a text (second)."""

POLICIES: dict[str, StringRule] = {}
"""Every match policy by name; ``x-match`` values are checked against it at load time."""

OCCURS: dict[str, OccursRule] = {}
"""Every policy's grounding test by name (the ``text``-form default unless registered)."""

DEPRECATED_POLICIES = {"normalized": "text"}


def register_policy(name: str, rule: StringRule, occurs: OccursRule | None = None) -> None:
    """Make ``"x-match": name`` available to catalogs (before they are loaded).

    ``occurs`` says when a value occurs in a conversation under this policy, for grounded
    arguments; without it, the value and the text are compared in ``text`` form (case,
    whitespace and sentence punctuation ignored), as whole pieces.
    """
    POLICIES[name] = rule
    OCCURS[name] = occurs or occurs_as_text


_SPACE = re.compile(r"\s+", re.UNICODE)
_KEEP = frozenset("+-*/^=<>%#@&$|~\\")
_BFCL_DROP = re.compile(r"[ ,./\-_*^]")


def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).casefold()


def casefold_text(value: str) -> str:
    """``value`` without letter case (NFKC, casefold), surrounding space stripped."""
    return _fold(value).strip()


def casefold_space_text(value: str) -> str:
    """``value`` without letter case, with every whitespace run one space."""
    return _SPACE.sub(" ", _fold(value)).strip()


def normalize_text(value: str) -> str:
    """The ``text`` form: case, whitespace and sentence punctuation ignored.

    Kept: letters, digits, symbols, operators and signs, and a ``.`` that is a decimal
    point (a digit follows it).
    """
    folded = _fold(value)
    out = []
    for i, ch in enumerate(folded):
        if ch in _KEEP or (ch == "." and i + 1 < len(folded) and folded[i + 1].isdigit()):
            out.append(ch)
        elif ch.isspace() or unicodedata.category(ch).startswith("P"):
            out.append(" ")
        else:
            out.append(ch)
    return _SPACE.sub(" ", "".join(out)).strip()


def bfcl_text(value: str) -> str:
    """BFCL's string normalization, as its checker writes it: drop spaces and
    ``, . / - _ * ^``, lowercase, and read ``'`` as ``"``."""
    return _BFCL_DROP.sub("", value).lower().replace("'", '"')


def contains_phrase(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` as whole words, both in ``text`` form."""
    hay, needle = normalize_text(text), normalize_text(phrase)
    if not needle:
        return not hay
    return f" {needle} " in f" {hay} "


_ID_PIECE = re.compile(r"[a-z]+|\d+|[^\W\d_]")


def id_pieces(value: str) -> list[str]:
    """The ``id`` form: runs of ASCII letters, runs of digits and single other letters,
    case folded; whatever lies between them (``-``, ``_``, spaces, ``#``) is dropped."""
    return _ID_PIECE.findall(_fold(value))


def _piece_char(ch: str) -> bool:
    """A character that continues an id piece: an ASCII letter or any digit. (Other
    letters are pieces on their own, so a word in an unspaced script can occur.)"""
    return ch.isdigit() or (ch.isascii() and ch.isalpha())


def occurs_bounded(needle: str, hay: str) -> bool:
    """Whether ``needle`` is a substring of ``hay`` that does not cut a run of letters or
    digits at either end (``ord-77`` is in ``ord-77 and`` but not in ``ord-7781``).
    The empty needle occurs anywhere: an empty value invents nothing."""
    if not needle:
        return True
    start = hay.find(needle)
    while start >= 0:
        end = start + len(needle)
        cut_left = start > 0 and _piece_char(hay[start - 1]) and _piece_char(needle[0])
        cut_right = end < len(hay) and _piece_char(hay[end]) and _piece_char(needle[-1])
        if not (cut_left or cut_right):
            return True
        start = hay.find(needle, start + 1)
    return False


def occurs_as_text(value: str, text: str) -> bool:
    """The default grounding test: ``value`` occurs in ``text``, both in ``text`` form."""
    return occurs_bounded(normalize_text(value), normalize_text(text))


def occurs_as_id(value: str, text: str) -> bool:
    """``value``'s id pieces occur, consecutively and whole, among ``text``'s."""
    want, have = id_pieces(value), id_pieces(text)
    if not want:
        return True
    return any(have[i : i + len(want)] == want for i in range(len(have) - len(want) + 1))


register_policy("exact", lambda a, b: a == b, occurs_bounded)
register_policy(
    "casefold",
    lambda a, b: casefold_text(a) == casefold_text(b),
    lambda v, t: occurs_bounded(casefold_text(v), _fold(t)),
)
register_policy(
    "casefold-space",
    lambda a, b: casefold_space_text(a) == casefold_space_text(b),
    lambda v, t: occurs_bounded(casefold_space_text(v), casefold_space_text(t)),
)
register_policy("text", lambda a, b: normalize_text(a) == normalize_text(b))
register_policy("normalized", lambda a, b: normalize_text(a) == normalize_text(b))
register_policy("contains", contains_phrase)
register_policy(
    "bfcl", lambda a, b: bfcl_text(a) == bfcl_text(b), lambda v, t: bfcl_text(v) in bfcl_text(t)
)
register_policy("id", lambda a, b: id_pieces(a) == id_pieces(b), occurs_as_id)

SCORED_POLICIES = frozenset({"similar", "contains-or-similar"})
"""Policies that compare a score with the argument's ``x-threshold``; the rules registered
for them use the default threshold (``values_match`` reads the schema's own)."""


def _scored_rule(policy: str) -> StringRule:
    def rule(a: str, b: str) -> bool:
        from harness.similarity import DEFAULT_THRESHOLD

        return similarity_score(a, b, policy) >= DEFAULT_THRESHOLD

    return rule


for _name in sorted(SCORED_POLICIES):
    register_policy(_name, _scored_rule(_name))

JUDGE_POLICY = "judge"
"""The opt-in judge decides (``--rc-judge``); without one, ``x-judge-fallback`` does."""

DEFAULT_JUDGE_FALLBACK = "contains-or-similar"
"""The deterministic policy of a ``judge`` argument when no judge verdict is available."""

FREE_TEXT_POLICIES = frozenset({JUDGE_POLICY, "contains", *SCORED_POLICIES})
"""Policies whose arguments a judge, when given, is asked about (and its verdict recorded)."""

register_policy(JUDGE_POLICY, _scored_rule(DEFAULT_JUDGE_FALLBACK))


def fallback_policy(schema: Mapping[str, Any]) -> str:
    """The policy a ``judge`` argument falls back on: its ``x-judge-fallback`` (checked at
    load time) or :data:`DEFAULT_JUDGE_FALLBACK`."""
    value = schema.get("x-judge-fallback", DEFAULT_JUDGE_FALLBACK)
    return value if isinstance(value, str) and value in POLICIES else DEFAULT_JUDGE_FALLBACK


def deterministic_policy(tool: Tool, argument: str) -> str:
    """The policy that decides ``argument`` without a judge verdict."""
    policy = tool.match_policy(argument)
    if policy == JUDGE_POLICY:
        return fallback_policy(tool.properties.get(argument, {}))
    return policy


def canonical(value: Any) -> str:
    """A canonical JSON text: equal texts mean equal values of equal JSON types."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _says_number(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "number" or (isinstance(kind, list) and "number" in kind)


def _as(value: Any, kind: type, fallback: Any) -> Any:
    return value if isinstance(value, kind) else fallback


def values_match(
    predicted: Any,
    gold: Any,
    policy: str = "exact",
    schema: Mapping[str, Any] | None = None,
    tool: Tool | None = None,
) -> bool:
    """Compare one value under a match policy, recursively through arrays and objects.

    ``schema`` is the value's JSON Schema (``$ref`` followed through ``tool``): it gives
    nested ``x-match`` policies, the ``number`` type that accepts a whole number, and the
    enums that are always exact.
    """
    sub: Mapping[str, Any] = tool.resolve(schema) if tool is not None else (schema or {})
    policy = str(sub.get("x-match", policy))
    if policy == JUDGE_POLICY:  # no judge verdict here: the deterministic fallback decides
        policy = fallback_policy(sub)
    branches = [b for k in ("anyOf", "oneOf") for b in (sub.get(k) or []) if isinstance(b, dict)]
    if branches and any(values_match(predicted, gold, policy, b, tool) for b in branches):
        return True
    if "enum" in sub or "const" in sub:
        return canonical(predicted) == canonical(gold)
    if isinstance(predicted, str) and isinstance(gold, str):
        if policy in SCORED_POLICIES:
            return similarity_score(predicted, gold, policy, sub) >= threshold_of(sub)
        rule = POLICIES.get(policy, POLICIES["exact"])
        return rule(predicted, gold)
    if _is_number(predicted) and _is_number(gold):
        if json_type(predicted) == json_type(gold) or _says_number(sub) or policy != "exact":
            # Exact int/float comparison: float() would overflow on huge integers.
            return bool(predicted == gold)
        return False
    if isinstance(predicted, list) and isinstance(gold, list):
        if len(predicted) != len(gold):
            return False
        prefix: list[Any] = _as(sub.get("prefixItems"), list, [])
        items: dict[str, Any] = _as(sub.get("items"), dict, {})
        return all(
            values_match(p, g, policy, prefix[i] if i < len(prefix) else items, tool)
            for i, (p, g) in enumerate(zip(predicted, gold, strict=True))
        )
    if isinstance(predicted, dict) and isinstance(gold, dict):
        if predicted.keys() != gold.keys():
            return False
        props: dict[str, Any] = _as(sub.get("properties"), dict, {})
        rest: dict[str, Any] = _as(sub.get("additionalProperties"), dict, {})
        return all(
            values_match(predicted[k], gold[k], policy, props.get(k, rest), tool) for k in gold
        )
    return canonical(predicted) == canonical(gold)


def threshold_of(schema: Mapping[str, Any]) -> float:
    """An argument's ``x-threshold`` (checked at load time), or the calibrated default."""
    from harness.similarity import DEFAULT_THRESHOLD

    value = schema.get("x-threshold", DEFAULT_THRESHOLD)
    return float(value) if _is_number(value) else DEFAULT_THRESHOLD


def similarity_score(
    predicted: str, gold: str, policy: str, schema: Mapping[str, Any] | None = None
) -> float:
    """The score a scored policy compares with its threshold: the similarity of the two
    texts; under ``contains-or-similar`` a gold phrase found whole in the prediction is 1.0."""
    from harness.similarity import similarity

    if policy == "contains-or-similar" and POLICIES["contains"](predicted, gold):
        return 1.0
    return similarity(predicted, gold)


def argument_scores(
    predicted: Mapping[str, Any],
    gold: Mapping[str, Any],
    tool: Tool,
    accept: Mapping[str, Sequence[Any]] | None = None,
) -> dict[str, float]:
    """For each top-level argument under a scored policy, the best score against the gold
    and every accepted value: recorded so a reviewer sees how near a miss was."""
    accept = accept or {}
    scores: dict[str, float] = {}
    for name, want in gold.items():
        policy = deterministic_policy(tool, name)
        got = predicted.get(name)
        if policy not in SCORED_POLICIES or not isinstance(got, str):
            continue
        texts = [c for c in (want, *accept.get(name, ())) if isinstance(c, str)]
        if texts:
            scores[name] = round(max(similarity_score(got, t, policy) for t in texts), 4)
    return scores


def arguments_match(
    predicted: Mapping[str, Any],
    gold: Mapping[str, Any],
    tool: Tool,
    accept: Mapping[str, Sequence[Any]] | None = None,
    optional: Sequence[str] = (),
    decided: Mapping[str, bool] | None = None,
) -> tuple[bool, list[str]]:
    """Whether every argument matches, and the names of those that do not.

    ``decided`` holds verdicts made elsewhere (the judge's) for arguments present on both
    sides; they replace the policy's comparison for those arguments.

    Schema defaults fill optional arguments on both sides first, so a call that omits
    ``passengers`` matches a gold that says ``passengers: 1`` when the default is 1. An
    argument named in ``optional`` (the golden case's "may be omitted") may be left out;
    when given, it must match.
    """
    defaults = tool.defaults()
    pred = {**defaults, **predicted}
    want = {**defaults, **gold}
    accept = accept or {}
    props = tool.parameters.get("properties", {})
    mismatched = []
    for name in sorted(set(pred) | set(want)):
        if name not in predicted and name in optional:
            continue  # left out, as the case allows (whatever the schema default says)
        if name not in pred or name not in want:
            mismatched.append(name)
            continue
        if decided is not None and name in decided:
            if not decided[name]:
                mismatched.append(name)
            continue
        policy = tool.match_policy(name)
        candidates = [want[name], *accept.get(name, ())]
        schema = props.get(name, {})
        if not any(values_match(pred[name], c, policy, schema, tool) for c in candidates):
            mismatched.append(name)
    return not mismatched, mismatched
