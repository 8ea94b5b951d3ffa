"""The similar policy: hand-computed scores, and properties over any unicode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tests.strategies  # noqa: F401  (loads the shared Hypothesis profiles)
from harness.similarity import (
    DEFAULT_SCORER,
    DEFAULT_THRESHOLD,
    SCORERS,
    available_scorers,
    content_words,
    fold,
    similar_match,
    similarity,
)

# Any code point, lone surrogates included: a model's output may carry anything.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
SCORER_NAMES = available_scorers()


def test_fold_drops_case_accents_apostrophes_and_punctuation() -> None:
    assert fold("Doesn't  WORK!") == "doesnt work"
    assert fold("München") == "munchen"
    assert fold("Straße") == "strasse"
    assert fold("l’article, ne—correspond") == "larticle ne correspond"


def test_content_words_drop_function_words_and_unify_negations() -> None:
    assert content_words(fold("The kettle does not turn on")) == ["kettle", "not", "turn", "on"]
    assert content_words(fold("kettle doesn't turn on")) == ["kettle", "not", "turn", "on"]


@pytest.mark.parametrize(
    ("predicted", "gold", "expected"),
    [
        # identical after folding and dropping "does"
        ("kettle does not turn on", "kettle doesn't turn on", 1.0),
        # [package, arrived] vs [package, arrived, empty]: 2 * 2 / (2 + 3)
        ("package arrived", "package arrived empty", 0.8),
        # [courier, insulted] vs [insulted, courier] ("customer" is a function word):
        # the longest common word subsequence is 1 word, 2 * 1 / 4
        ("customer insulted the courier", "courier insulted the customer", 0.5),
        # [kettle, turns, on] vs [kettle, not, turn, on]: turns ~ turn, so 3 common words,
        # 2 * 3 / 7, halved because only one side is negated
        ("kettle turns on", "kettle doesnt turn on", 3 / 7),
        # [neighbor, moved, away] vs [neighbour, moved, away]: spelling variant, all 3 common
        ("the neighbor moved away", "the neighbour moved away", 1.0),
        # [vienna] vs [venice]: Indel similarity 0.5 < 0.8, no common word
        ("Vienna", "Venice", 0.0),
    ],
)
def test_words_scorer_on_hand_computed_pairs(predicted: str, gold: str, expected: float) -> None:
    assert similarity(predicted, gold, "words") == pytest.approx(expected)


def test_ratio_scorer_is_rapidfuzz_ratio_scaled() -> None:
    # Indel: 2 * 2 matching characters / 6 characters
    assert similarity("abc", "abd", "ratio") == pytest.approx(4 / 6)


def test_empty_and_punctuation_only_values() -> None:
    assert similarity("", "") == 1.0
    assert similarity("!!!", "?") == 1.0  # both fold to nothing
    assert similarity("", "wrong size") == 0.0
    assert similarity("n/a", "wrong size") < DEFAULT_THRESHOLD


def test_similar_match_takes_the_best_candidate() -> None:
    matched, score = similar_match("sweater too big", ["wrong size", "sweater much too big"])
    # [sweater, too, big] vs [sweater, much, too, big]: 2 * 3 / 7
    assert score == pytest.approx(6 / 7)
    assert matched is (DEFAULT_THRESHOLD <= 6 / 7)
    assert similar_match("wrong size", ["never arrived"]) == (False, 0.0)


def test_similar_match_compares_non_strings_by_json_equality() -> None:
    assert similar_match(1, ["1"]) == (False, 0.0)
    assert similar_match([1, 2], [[1, 2]]) == (True, 1.0)
    assert similar_match(None, ["n/a"]) == (False, 0.0)


def test_bad_threshold_and_unknown_scorer_are_user_errors() -> None:
    with pytest.raises(ValueError, match="within \\[0, 1\\]"):
        similar_match("a", ["b"], threshold=1.5)
    with pytest.raises(ValueError, match="unknown similarity scorer 'nope'"):
        similarity("a", "b", "nope")


def test_default_scorer_is_offered() -> None:
    assert DEFAULT_SCORER in SCORERS and DEFAULT_SCORER in SCORER_NAMES
    assert 0.0 < DEFAULT_THRESHOLD <= 1.0


@pytest.mark.parametrize("scorer", SCORER_NAMES)
@given(a=ANY_TEXT, b=ANY_TEXT)
def test_any_unicode_scores_in_range_and_symmetric(scorer: str, a: str, b: str) -> None:
    ab, ba = similarity(a, b, scorer), similarity(b, a, scorer)
    assert 0.0 <= ab <= 1.0
    assert ab == pytest.approx(ba)


@pytest.mark.parametrize("scorer", SCORER_NAMES)
@given(a=ANY_TEXT, accept=st.lists(ANY_TEXT, max_size=3))
def test_identical_values_always_match(scorer: str, a: str, accept: list[str]) -> None:
    assert similarity(a, a, scorer) == 1.0
    assert similar_match(a, [*accept, a], 1.0, scorer) == (True, 1.0)


@given(predicted=st.one_of(ANY_TEXT, st.integers(), st.none(), st.lists(st.booleans())))
def test_model_output_of_any_type_never_raises(predicted: object) -> None:
    matched, score = similar_match(predicted, ["wrong size", "zu groß"])
    assert isinstance(matched, bool) and 0.0 <= score <= 1.0


def test_bundled_reason_accept_lists_hold_no_copies() -> None:
    """An accepted reason that holds the gold (or an earlier entry) as whole words and has
    the same content words can never change a verdict, under ``contains`` or ``similar``;
    golden/README.md says to leave it out."""
    from harness.match import contains_phrase

    folder = Path(__file__).resolve().parent.parent / "golden" / "customer_support"
    copies = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            case = json.loads(line)
            gold = case["target"].get("arguments", {}).get("reason")
            if gold is None:
                continue
            earlier = [gold]
            for entry in case.get("accept", {}).get("reason", []):
                words = content_words(fold(entry))
                if any(
                    contains_phrase(entry, e) and content_words(fold(e)) == words for e in earlier
                ):
                    copies.append((case["id"], entry))
                earlier.append(entry)
    assert copies == []
