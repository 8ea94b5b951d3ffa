"""The harness's own property tests of the output parser and the metrics.

The parser properties of the shipped fuzz suite (``harness.suites.test_fuzz``, opt-in for
users over their catalogs) run here over every bundled catalog and over generated ones;
the rest need no catalog at all. Every property runs the loaded Hypothesis profile's
example count (200 under ``ci``, see ``harness/suites/hypothesis_profiles.py``).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from harness.catalog import NO_TOOL, Catalog
from harness.metrics import RATE_NAMES, compute_metrics, metrics_by_category
from harness.parse import MAX_DEPTH, ErrorKind, ParseResult
from harness.scoring import CaseVerdict, Outcome
from harness.suites.hypothesis_profiles import PROFILE
from harness.suites.test_fuzz import (  # noqa: F401  (collected here over more catalogs)
    parse_both,
    test_any_text_gives_a_parse_result,
    test_deep_nesting,
    test_dropped_required_argument,
    test_duplicate_keys,
    test_every_valid_call_round_trips,
    test_extra_key_on_no_tool,
    test_extra_top_level_key,
    test_non_finite_numbers,
    test_oversized_string,
    test_prose_or_fence_around_a_call,
    test_truncation_at_every_position,
    test_unknown_argument,
    test_unknown_tool,
    test_wrong_type,
)
from tests import strategies as S

CS: Catalog = S.customer_support_catalog()


@pytest.fixture(scope="module")
def fuzz_catalogs() -> SearchStrategy[Catalog]:
    """Every bundled catalog and generated ones, for the shipped fuzz suite's properties."""
    return st.one_of(st.sampled_from(S.bundled_catalogs()), S.catalogs(max_tools=3))


# --- never raises -------------------------------------------------------------------------


@given(st.binary())
def test_any_bytes_decoded_give_a_parse_result(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    for result in parse_both(text, CS):
        assert isinstance(result, ParseResult)


_JSONISH = st.text(alphabet='{}[]":,0123456789.eE+-\\ \ntrufalsnNIiy_', max_size=120)


@given(_JSONISH)
def test_json_like_noise_gives_a_parse_result(text: str) -> None:
    strict, lenient = parse_both(text, CS)
    assert isinstance(strict, ParseResult) and isinstance(lenient, ParseResult)
    if strict.valid:
        # A valid strict output is one bare object: lenient mode reads it the same way.
        assert lenient.valid and not lenient.extracted
        assert (lenient.tool, lenient.arguments) == (strict.tool, strict.arguments)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


@given(json_values.flatmap(lambda v: st.tuples(st.just(v), S.json_texts(v))))
def test_any_json_value_is_judged_by_the_contract(pair: tuple[Any, str]) -> None:
    value, text = pair
    strict, lenient = parse_both(text, CS)
    if depth_of(value) > MAX_DEPTH:
        assert strict.error is ErrorKind.TOO_DEEP
    elif not isinstance(value, dict):
        assert strict.error is ErrorKind.NOT_OBJECT
    elif "tool" not in value:
        assert strict.error is ErrorKind.MISSING_TOOL
    else:
        assert strict.error not in (ErrorKind.NOT_JSON, ErrorKind.EMPTY, ErrorKind.NOT_OBJECT)
    # Lenient mode may cut an object out of an array or a string, but reads an object alike.
    assert isinstance(lenient, ParseResult)
    if isinstance(value, dict):
        assert (lenient.valid, lenient.error, lenient.extracted) == (
            strict.valid,
            strict.error,
            False,
        )


# --- metric invariants --------------------------------------------------------------------


@given(S.verdict_lists())
def test_metric_rates_and_denominators(verdicts: list[CaseVerdict]) -> None:
    m = compute_metrics(verdicts)
    n = len(verdicts)
    valid = sum(v.valid for v in verdicts)
    assert m.n == n
    for name in RATE_NAMES:
        rate = m.rate(name)
        assert 0 <= rate.numerator <= rate.denominator
        if rate.denominator == 0:
            assert rate.value is None and rate.low is None and rate.high is None
            assert str(rate) == "no cases"
        else:
            assert rate.value is not None and rate.low is not None and rate.high is not None
            assert 0.0 <= rate.low <= rate.value <= rate.high <= 1.0
    # The seed's denominators.
    assert m.valid_tool_call_rate.denominator == n
    assert m.tool_name_accuracy.denominator == n
    assert m.false_tool_call_rate.denominator == n
    assert m.argument_match_accuracy.denominator == valid
    assert m.valid_tool_call_rate.numerator == valid
    assert m.argument_match_accuracy.numerator <= m.valid_tool_call_rate.numerator
    assert m.pass_rate.numerator <= m.tool_name_accuracy.numerator
    assert sum(m.error_kinds.values()) == n - valid
    # Every false tool call is also a false call attempt; both over n.
    assert m.false_call_attempt_rate.denominator == n
    assert m.false_call_attempt_rate.numerator >= m.false_tool_call_rate.numerator
    # The ungrounded rate is over valid calls of a real tool; every ungrounded outcome and
    # every call with an invented value counts, one value or more each.
    calls = [v for v in verdicts if v.valid and v.predicted != NO_TOOL]
    assert m.ungrounded_rate.denominator == len(calls)
    assert m.ungrounded_rate.numerator == sum(bool(v.ungrounded_arguments) for v in calls)
    assert m.ungrounded_rate.numerator >= sum(v.outcome is Outcome.UNGROUNDED for v in verdicts)
    assert m.ungrounded_arguments >= m.ungrounded_rate.numerator


@given(S.verdict_lists(), st.randoms(use_true_random=False))
def test_metrics_ignore_order(verdicts: list[CaseVerdict], rng: random.Random) -> None:
    shuffled = list(verdicts)
    rng.shuffle(shuffled)
    assert compute_metrics(shuffled) == compute_metrics(verdicts)
    assert metrics_by_category(shuffled) == metrics_by_category(verdicts)


@given(S.verdict_lists())
def test_categories_partition_the_cases(verdicts: list[CaseVerdict]) -> None:
    overall = compute_metrics(verdicts)
    parts = metrics_by_category(verdicts).values()
    assert sum(p.n for p in parts) == overall.n
    for name in RATE_NAMES:
        assert sum(p.rate(name).numerator for p in parts) == overall.rate(name).numerator
        assert sum(p.rate(name).denominator for p in parts) == overall.rate(name).denominator


def test_metrics_of_no_cases() -> None:
    m = compute_metrics([])
    assert m.n == 0
    assert all(m.rate(name).value is None for name in RATE_NAMES)


def test_profile_is_loaded() -> None:
    from hypothesis import settings

    expected = {"ci": 200, "dev": 1000}
    if PROFILE in expected:
        assert settings.default.max_examples == expected[PROFILE]
        assert settings.default.derandomize == (PROFILE == "ci")
