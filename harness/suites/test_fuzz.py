"""Fuzz the output parser with malformed outputs built from the user's own catalogs.

Opt-in: marked ``fuzz``, which a plain gate run deselects; run it with ``-m fuzz``. It needs
no checkpoint: the catalogs come from the golden sets the run would read (``--rc-golden``).
Every valid call drawn from a tool's own schema must round-trip, and every way of breaking
one (truncation, a dropped argument, a wrong type, an unknown tool or key, prose around it,
duplicate keys, NaN, deep nesting, an oversized string) must be refused with the right
error kind, never with an exception. Example counts follow the Hypothesis profile
(``HYPOTHESIS_PROFILE=ci|dev``, see ``hypothesis_profiles``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from harness.catalog import NO_TOOL, Catalog, Tool
from harness.errors import RoutecheckError
from harness.golden import load_golden
from harness.match import canonical
from harness.parse import (
    MAX_DEPTH,
    MAX_OUTPUT_CHARS,
    ErrorKind,
    ParseMode,
    ParseResult,
    parse_tool_call,
)
from harness.suites import hypothesis_profiles  # noqa: F401  (registers and loads the profile)
from harness.suites.strategies import json_texts, tool_calls, valid_calls, wrong_type_values

pytestmark = pytest.mark.fuzz

MODES: tuple[ParseMode, ...] = ("strict", "lenient")


@pytest.fixture(scope="module")
def fuzz_catalogs(pytestconfig: pytest.Config) -> SearchStrategy[Catalog]:
    """The catalogs of the golden sets this run reads, to draw calls from."""
    from harness.plugin import run_settings

    try:
        sets = load_golden(run_settings(pytestconfig).golden)
    except RoutecheckError as exc:
        pytest.fail(f"routecheck: {exc}", pytrace=False)
    return st.sampled_from([s.catalog for s in sets])


def parse_both(text: Any, catalog: Catalog) -> list[ParseResult]:
    return [parse_tool_call(text, catalog, mode) for mode in MODES]


def same_call(result: ParseResult, call: dict[str, Any]) -> bool:
    if not result.valid or result.tool != call["tool"]:
        return False
    if call["tool"] == NO_TOOL:
        return result.reason == call["reason"] and result.arguments == {}
    return canonical(result.arguments) == canonical(call["arguments"])


def draw_call(
    data: st.DataObject, catalogs: SearchStrategy[Catalog]
) -> tuple[Catalog, dict[str, Any], Tool]:
    """A catalog and a valid call of one of its real tools."""
    catalog = data.draw(catalogs, label="catalog")
    call = data.draw(tool_calls(catalog), label="call")
    tool = catalog.tool(call["tool"])
    assert tool is not None
    return catalog, call, tool


def attempted(result: ParseResult, tool: Tool) -> bool:
    """A broken call of ``tool`` still counts as an attempt to call it.

    (Unless an argument is itself named ``tool``: its value may be read first.)
    """
    return "tool" in tool.properties or result.attempted_tool is not None


# --- never raises, round trips ------------------------------------------------------------


@given(text=st.text(), data=st.data())
def test_any_text_gives_a_parse_result(
    fuzz_catalogs: SearchStrategy[Catalog], text: str, data: st.DataObject
) -> None:
    catalog = data.draw(fuzz_catalogs, label="catalog")
    for result in parse_both(text, catalog):
        assert isinstance(result, ParseResult)
        assert result.valid == (result.error is None)


@given(data=st.data())
def test_every_valid_call_round_trips(
    fuzz_catalogs: SearchStrategy[Catalog], data: st.DataObject
) -> None:
    catalog = data.draw(fuzz_catalogs, label="catalog")
    call = data.draw(valid_calls(catalog), label="call")
    text = data.draw(json_texts(call), label="text")
    strict, lenient = parse_both(text, catalog)
    assert same_call(strict, call), (catalog.name, text, strict)
    assert same_call(lenient, call) and not lenient.extracted


# --- every mutation is refused with the right kind ----------------------------------------


@given(data=st.data())
def test_truncation_at_every_position(
    fuzz_catalogs: SearchStrategy[Catalog], data: st.DataObject
) -> None:
    catalog, call, _ = draw_call(data, fuzz_catalogs)
    text = data.draw(json_texts(call)).rstrip()
    for end in range(len(text)):
        result = parse_tool_call(text[:end], catalog)
        assert result.error in (ErrorKind.NOT_JSON, ErrorKind.EMPTY), (text[:end], result)
    assert parse_tool_call(text, catalog).valid


@given(data=st.data())
def test_dropped_required_argument(
    fuzz_catalogs: SearchStrategy[Catalog], data: st.DataObject
) -> None:
    catalog, call, tool = draw_call(data, fuzz_catalogs)
    assume(tool.required)
    dropped = data.draw(st.sampled_from(tool.required))
    arguments = {k: v for k, v in call["arguments"].items() if k != dropped}
    text = data.draw(json_texts({"tool": call["tool"], "arguments": arguments}))
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.MISSING_ARGUMENT
        assert result.detail.startswith(f"arguments.{dropped}: ")
        assert attempted(result, tool)


@given(data=st.data())
def test_wrong_type(fuzz_catalogs: SearchStrategy[Catalog], data: st.DataObject) -> None:
    catalog, call, tool = draw_call(data, fuzz_catalogs)
    assume(tool.properties)
    name = data.draw(st.sampled_from(sorted(tool.properties)))
    value = data.draw(wrong_type_values(tool.properties[name]))
    mutated = {"tool": call["tool"], "arguments": {**call["arguments"], name: value}}
    text = data.draw(json_texts(mutated))
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.WRONG_TYPE, (tool.properties[name], value, result)
        assert result.detail.startswith(f"arguments.{name}: expected ")
        assert attempted(result, tool)


@given(data=st.data())
def test_unknown_tool(fuzz_catalogs: SearchStrategy[Catalog], data: st.DataObject) -> None:
    catalog, call, _ = draw_call(data, fuzz_catalogs)
    name = data.draw(st.text().filter(lambda n: n not in catalog.tool_names and n != NO_TOOL))
    text = data.draw(json_texts({**call, "tool": name}))
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.UNKNOWN_TOOL


@given(data=st.data())
def test_extra_top_level_key(fuzz_catalogs: SearchStrategy[Catalog], data: st.DataObject) -> None:
    catalog, call, _ = draw_call(data, fuzz_catalogs)
    key = data.draw(st.text().filter(lambda k: k not in ("tool", "arguments")))
    text = data.draw(json_texts({**call, key: data.draw(st.integers() | st.text())}))
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.EXTRA_KEYS


@given(data=st.data())
def test_extra_key_on_no_tool(fuzz_catalogs: SearchStrategy[Catalog], data: st.DataObject) -> None:
    catalog = data.draw(fuzz_catalogs, label="catalog")
    key = data.draw(st.text().filter(lambda k: k not in ("tool", "reason")))
    text = data.draw(json_texts({"tool": NO_TOOL, "reason": data.draw(st.text()), key: 1}))
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.EXTRA_KEYS
        assert result.attempted_tool is None


@given(data=st.data())
def test_unknown_argument(fuzz_catalogs: SearchStrategy[Catalog], data: st.DataObject) -> None:
    catalog, call, tool = draw_call(data, fuzz_catalogs)
    name = data.draw(st.text().filter(lambda n: n not in tool.properties))
    mutated = {"tool": call["tool"], "arguments": {**call["arguments"], name: 1}}
    text = data.draw(json_texts(mutated))
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.UNEXPECTED_ARGUMENT
        assert result.detail.startswith("arguments.")


_PROSE_CHARS = "abcdefghijklmnopqrstuvwxyz .,:;!?'-\n"
prose = st.tuples(st.sampled_from("abcdefghijklmnopqrstuvwxyz"), st.text(_PROSE_CHARS)).map("".join)


@given(before=prose, after=st.text(_PROSE_CHARS), fence=st.booleans(), data=st.data())
def test_prose_or_fence_around_a_call(
    fuzz_catalogs: SearchStrategy[Catalog],
    before: str,
    after: str,
    fence: bool,
    data: st.DataObject,
) -> None:
    catalog, call, tool = draw_call(data, fuzz_catalogs)
    body = data.draw(json_texts(call))
    if fence:
        wrapped = data.draw(st.sampled_from(["", before + "\n"])) + f"```json\n{body}\n```" + after
    else:
        wrapped = before + body + after
    strict = parse_tool_call(wrapped, catalog, "strict")
    assert strict.error is ErrorKind.NOT_JSON, (wrapped, strict)
    assert attempted(strict, tool)
    lenient = parse_tool_call(wrapped, catalog, "lenient")
    assert same_call(lenient, call), (wrapped, lenient)
    assert lenient.extracted and lenient.mode == "lenient"


@given(in_arguments=st.booleans(), data=st.data())
def test_duplicate_keys(
    fuzz_catalogs: SearchStrategy[Catalog], in_arguments: bool, data: st.DataObject
) -> None:
    catalog, call, _ = draw_call(data, fuzz_catalogs)
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


def argument_name(tool: Tool) -> SearchStrategy[str]:
    names = sorted(tool.properties)
    return st.sampled_from(names) if names else st.just("x")


@given(
    literal=st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e400", "[1, NaN]"]),
    data=st.data(),
)
def test_non_finite_numbers(
    fuzz_catalogs: SearchStrategy[Catalog], literal: str, data: st.DataObject
) -> None:
    catalog, call, tool = draw_call(data, fuzz_catalogs)
    text = with_raw_value(call, data.draw(argument_name(tool)), literal)
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.NON_FINITE, (text, result)


@given(depth=st.integers(MAX_DEPTH - 1, 4 * MAX_DEPTH), data=st.data())
def test_deep_nesting(
    fuzz_catalogs: SearchStrategy[Catalog], depth: int, data: st.DataObject
) -> None:
    catalog, call, tool = draw_call(data, fuzz_catalogs)
    opener = data.draw(st.sampled_from(["[", '{"a":']))
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "1" + closer * depth
    text = with_raw_value(call, data.draw(argument_name(tool)), nested)
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.TOO_DEEP, result


@given(extra=st.integers(0, 1000), data=st.data())
def test_oversized_string(
    fuzz_catalogs: SearchStrategy[Catalog], extra: int, data: st.DataObject
) -> None:
    catalog, call, tool = draw_call(data, fuzz_catalogs)
    oversized = json.dumps("x" * (MAX_OUTPUT_CHARS + extra))
    text = with_raw_value(call, data.draw(argument_name(tool)), oversized)
    assert len(text) > MAX_OUTPUT_CHARS
    for result in parse_both(text, catalog):
        assert result.error is ErrorKind.TOO_LARGE
