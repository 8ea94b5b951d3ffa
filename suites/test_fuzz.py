"""Property-based fuzzing of the output parser and the metrics.

Runs without a checkpoint: nothing here asks for the routecheck plugin's fixtures. Every
property runs the loaded Hypothesis profile's example count (200 under ``CI``, see
``hypothesis_profiles.py``).
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from harness.catalog import NO_TOOL, Catalog
from harness.match import canonical
from harness.metrics import RATE_NAMES, compute_metrics, metrics_by_category
from harness.parse import MAX_DEPTH, MAX_OUTPUT_CHARS, ErrorKind, ParseResult, parse_tool_call
from harness.scoring import CaseVerdict


def _load_strategies() -> ModuleType:
    """``tests/strategies.py`` by path: ``suites/`` need not be run from the repository root."""
    path = Path(__file__).resolve().parents[1] / "tests" / "strategies.py"
    loaded = sys.modules.get("tests.strategies")
    if loaded is not None and Path(str(loaded.__file__)).resolve() == path:
        return loaded
    spec = importlib.util.spec_from_file_location("routecheck_fuzz_strategies", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


S = _load_strategies()  # also registers and loads the Hypothesis profile
PROFILE: str = sys.modules["hypothesis_profiles"].PROFILE

CS: Catalog = S.customer_support_catalog()
MODES = ("strict", "lenient")

catalog_and_call = S.any_catalog.flatmap(lambda c: st.tuples(st.just(c), S.tool_calls(c)))
"""A catalog (bundled or generated) and a valid call of one of its real tools."""


def parse_both(text: Any, catalog: Catalog) -> list[ParseResult]:
    return [parse_tool_call(text, catalog, mode) for mode in MODES]


def same_call(result: ParseResult, call: dict[str, Any]) -> bool:
    if not result.valid or result.tool != call["tool"]:
        return False
    if call["tool"] == NO_TOOL:
        return result.reason == call["reason"] and result.arguments == {}
    return canonical(result.arguments) == canonical(call["arguments"])


def tool_of(catalog: Catalog, call: dict[str, Any]) -> Any:
    tool = catalog.tool(call["tool"])
    assert tool is not None
    return tool


# --- never raises -------------------------------------------------------------------------


@given(st.text())
def test_any_text_gives_a_parse_result(text: str) -> None:
    for result in parse_both(text, CS):
        assert isinstance(result, ParseResult)
        assert result.valid == (result.error is None)


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


# --- round trips --------------------------------------------------------------------------


@given(S.valid_calls(CS).flatmap(lambda c: st.tuples(st.just(c), S.json_texts(c))))
def test_round_trip_customer_support(pair: tuple[dict[str, Any], str]) -> None:
    call, text = pair
    strict, lenient = parse_both(text, CS)
    assert same_call(strict, call), (text, strict)
    assert same_call(lenient, call) and not lenient.extracted


@given(
    S.catalogs().flatmap(
        lambda cat: S.valid_calls(cat).flatmap(
            lambda call: st.tuples(st.just(cat), st.just(call), S.json_texts(call))
        )
    )
)
def test_round_trip_generated_catalogs(triple: tuple[Catalog, dict[str, Any], str]) -> None:
    catalog, call, text = triple
    strict, lenient = parse_both(text, catalog)
    assert same_call(strict, call), (catalog.system_prompt(), text, strict)
    assert same_call(lenient, call)


@given(st.data())
def test_round_trip_bundled_catalogs(data: st.DataObject) -> None:
    catalog = data.draw(st.sampled_from(S.bundled_catalogs()), label="catalog")
    call = data.draw(S.valid_calls(catalog), label="call")
    text = data.draw(S.json_texts(call), label="text")
    strict, lenient = parse_both(text, catalog)
    assert same_call(strict, call), (catalog.name, text, strict)
    assert same_call(lenient, call)


# --- every mutation is rejected with the right kind ---------------------------------------


@given(catalog_and_call, st.data())
def test_truncation_at_every_position(pair: tuple[Catalog, dict], data: st.DataObject) -> None:
    catalog, call = pair
    text = data.draw(S.json_texts(call)).rstrip()
    for end in range(len(text)):
        result = parse_tool_call(text[:end], catalog)
        assert result.error in (ErrorKind.NOT_JSON, ErrorKind.EMPTY), (text[:end], result)
    assert parse_tool_call(text, catalog).valid


@given(catalog_and_call, st.data())
def test_dropped_required_argument(pair: tuple[Catalog, dict], data: st.DataObject) -> None:
    catalog, call = pair
    tool = tool_of(catalog, call)
    assume(tool.required)
    dropped = data.draw(st.sampled_from(tool.required))
    arguments = {k: v for k, v in call["arguments"].items() if k != dropped}
    text = data.draw(S.json_texts({"tool": call["tool"], "arguments": arguments}))
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.MISSING_ARGUMENT
        assert result.detail.startswith(f"arguments.{dropped}: ")


@given(catalog_and_call, st.data())
def test_wrong_type(pair: tuple[Catalog, dict], data: st.DataObject) -> None:
    catalog, call = pair
    tool = tool_of(catalog, call)
    assume(tool.properties)
    name = data.draw(st.sampled_from(sorted(tool.properties)))
    value = data.draw(S.wrong_type_values(tool.properties[name]))
    mutated = {"tool": call["tool"], "arguments": {**call["arguments"], name: value}}
    text = data.draw(S.json_texts(mutated))
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.WRONG_TYPE, (tool.properties[name], value, result)
        assert result.detail.startswith(f"arguments.{name}: expected ")


@given(catalog_and_call, st.data())
def test_unknown_tool(pair: tuple[Catalog, dict], data: st.DataObject) -> None:
    catalog, call = pair
    name = data.draw(st.text().filter(lambda n: n not in catalog.tool_names and n != NO_TOOL))
    text = data.draw(S.json_texts({**call, "tool": name}))
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.UNKNOWN_TOOL


@given(catalog_and_call, st.data())
def test_extra_top_level_key(pair: tuple[Catalog, dict], data: st.DataObject) -> None:
    catalog, call = pair
    key = data.draw(st.text().filter(lambda k: k not in ("tool", "arguments")))
    value = data.draw(json_values)
    text = data.draw(S.json_texts({**call, key: value}))
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.EXTRA_KEYS


@given(S.any_catalog, st.text(), st.data())
def test_extra_key_on_no_tool(catalog: Catalog, reason: str, data: st.DataObject) -> None:
    key = data.draw(st.text().filter(lambda k: k not in ("tool", "reason")))
    text = data.draw(S.json_texts({"tool": NO_TOOL, "reason": reason, key: 1}))
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.EXTRA_KEYS


@given(catalog_and_call, st.data())
def test_unknown_argument(pair: tuple[Catalog, dict], data: st.DataObject) -> None:
    catalog, call = pair
    tool = tool_of(catalog, call)
    name = data.draw(st.text().filter(lambda n: n not in tool.properties))
    mutated = {
        "tool": call["tool"],
        "arguments": {**call["arguments"], name: data.draw(json_values)},
    }
    text = data.draw(S.json_texts(mutated))
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.UNEXPECTED_ARGUMENT
        assert result.detail.startswith("arguments.")


_PROSE_CHARS = "abcdefghijklmnopqrstuvwxyz .,:;!?'-\n"
prose = st.tuples(st.sampled_from("abcdefghijklmnopqrstuvwxyz"), st.text(_PROSE_CHARS)).map("".join)


@given(catalog_and_call, prose, st.text(_PROSE_CHARS), st.booleans(), st.data())
def test_prose_or_fence_around_a_call(
    pair: tuple[Catalog, dict], before: str, after: str, fence: bool, data: st.DataObject
) -> None:
    catalog, call = pair
    body = data.draw(S.json_texts(call))
    if fence:
        wrapped = data.draw(st.sampled_from(["", before + "\n"])) + f"```json\n{body}\n```" + after
    else:
        wrapped = before + body + after
    strict = parse_tool_call(wrapped, catalog, "strict")
    assert strict.error is ErrorKind.NOT_JSON, (wrapped, strict)
    lenient = parse_tool_call(wrapped, catalog, "lenient")
    assert same_call(lenient, call), (wrapped, lenient)
    assert lenient.extracted and lenient.mode == "lenient"


@given(catalog_and_call, st.booleans())
def test_duplicate_keys(pair: tuple[Catalog, dict], in_arguments: bool) -> None:
    catalog, call = pair
    tool = json.dumps(call["tool"])
    arguments = json.dumps(call["arguments"])
    if in_arguments and call["arguments"]:
        key, value = next(iter(call["arguments"].items()))
        arguments = "{" + f"{json.dumps(key)}: {json.dumps(value)}, " + arguments[1:]
        text = f'{{"tool": {tool}, "arguments": {arguments}}}'
    else:
        text = f'{{"tool": {tool}, "arguments": {arguments}, "tool": {tool}}}'
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.DUPLICATE_KEY, (text, result)


_SENTINEL = "\u0001routecheck-sentinel\u0001"


def with_raw_value(call: dict[str, Any], name: str, raw: str) -> str:
    """The call as JSON with argument ``name`` set to the raw JSON text ``raw``."""
    text = json.dumps({"tool": call["tool"], "arguments": {**call["arguments"], name: _SENTINEL}})
    placeholder = json.dumps(_SENTINEL)
    assert text.count(placeholder) == 1
    return text.replace(placeholder, raw)


def argument_name(catalog: Catalog, call: dict[str, Any]) -> st.SearchStrategy[str]:
    names = sorted(tool_of(catalog, call).properties)
    return st.sampled_from(names) if names else S.identifiers


@given(
    catalog_and_call,
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e400", "[1, NaN]"]),
    st.data(),
)
def test_non_finite_numbers(pair: tuple[Catalog, dict], literal: str, data: st.DataObject) -> None:
    catalog, call = pair
    text = with_raw_value(call, data.draw(argument_name(catalog, call)), literal)
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.NON_FINITE, (text, result)


@given(catalog_and_call, st.integers(MAX_DEPTH - 1, 4 * MAX_DEPTH), st.data())
def test_deep_nesting(pair: tuple[Catalog, dict], depth: int, data: st.DataObject) -> None:
    catalog, call = pair
    opener = data.draw(st.sampled_from(["[", '{"a":']))
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "1" + closer * depth
    text = with_raw_value(call, data.draw(argument_name(catalog, call)), nested)
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.TOO_DEEP, result


@given(catalog_and_call, st.integers(0, 1000), st.data())
def test_oversized_string(pair: tuple[Catalog, dict], extra: int, data: st.DataObject) -> None:
    catalog, call = pair
    text = with_raw_value(
        call, data.draw(argument_name(catalog, call)), json.dumps("x" * (MAX_OUTPUT_CHARS + extra))
    )
    assert len(text) > MAX_OUTPUT_CHARS
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.TOO_LARGE


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
