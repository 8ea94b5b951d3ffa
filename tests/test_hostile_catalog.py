"""Hostile catalogs and hostile values against them: a backtracking ``pattern``, policy
extensions of the wrong JSON type, documents too deep or with numbers JSON cannot hold, and
``$ref`` loops. Each is a clear :class:`CatalogError` at load time or an invalid call, never
a traceback or a hang."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from harness.catalog import Catalog, catalog_from_dict, load_catalog
from harness.errors import CatalogError
from harness.grammar import grounded_values, output_schema
from harness.parse import parse_tool_call
from harness.schema import PATTERN_TIMEOUT, validate_arguments

SLOW = "^(a|a)*$"
"""Backtracks exponentially on ``"a" * n + "!"`` in ``re`` and in ``regex`` alike."""

NESTED = "^(a+)+$"
"""Exponential in ``re`` on ``"a" * n + "!"``; ``regex`` answers it at once."""

HOSTILE = "a" * 40 + "!"


class Hung(Exception):
    """The guarded block ran past its time (raised from a SIGALRM handler)."""


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Fail instead of hanging: ``re`` checks for signals while it backtracks, so an alarm
    ends the unfixed validation; the block must also finish in ``seconds`` of wall time."""
    alarm = hasattr(signal, "setitimer")  # without it (Windows) only the time is checked

    def ring(signum: int, frame: Any) -> None:
        raise Hung(f"still running after {seconds * 3} s")

    if alarm:
        previous = signal.signal(signal.SIGALRM, ring)
        signal.setitimer(signal.ITIMER_REAL, seconds * 3)
    start = time.monotonic()
    try:
        yield
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - start < seconds


def one_tool(props: dict[str, Any], **schema: Any) -> dict[str, Any]:
    """A catalog of one tool ``t`` whose arguments are ``props`` (``schema`` adds keywords,
    a ``properties`` among them replacing ``props``)."""
    return {
        "name": "cat",
        "description": "d",
        "tools": [
            {
                "name": "t",
                "description": "x",
                "parameters": {"type": "object", "properties": props, **schema},
            }
        ],
    }


def call(arguments: dict[str, Any]) -> str:
    return json.dumps({"tool": "t", "arguments": arguments})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(text, encoding="utf-8")
    return path


# --- 1. a backtracking pattern: bounded, and the value is refused ------------------------


@pytest.mark.parametrize("pattern", [NESTED, SLOW])
def test_backtracking_pattern_returns_in_time_and_is_invalid(pattern: str) -> None:
    catalog = catalog_from_dict(one_tool({"a": {"type": "string", "pattern": pattern}}))
    with within(5):
        result = parse_tool_call(call({"a": HOSTILE}), catalog)
    assert not result.valid
    assert result.error == "invalid_value"
    assert result.detail.startswith("arguments.a: ")


def test_a_pattern_check_that_runs_out_says_so() -> None:
    catalog = catalog_from_dict(one_tool({"a": {"type": "string", "pattern": SLOW}}))
    with within(5):
        result = parse_tool_call(call({"a": HOSTILE}), catalog)
    assert f"pattern check exceeded {PATTERN_TIMEOUT} s" in result.detail


def test_a_pattern_that_runs_out_under_not_is_no_pass() -> None:
    """``not`` would turn the failed search into a pass; an unchecked value is refused."""
    catalog = catalog_from_dict(one_tool({"a": {"type": "string", "not": {"pattern": SLOW}}}))
    with within(5):
        result = parse_tool_call(call({"a": HOSTILE}), catalog)
    assert not result.valid
    assert "pattern check exceeded" in result.detail


def test_many_hostile_strings_share_one_budget() -> None:
    catalog = catalog_from_dict(
        one_tool({"a": {"type": "array", "items": {"type": "string", "pattern": SLOW}}})
    )
    values = ["a" * (30 + i % 20) + "!" * (1 + i // 20) for i in range(300)]
    with within(10):
        result = parse_tool_call(call({"a": values}), catalog)
    assert not result.valid
    assert result.error == "invalid_value"


@pytest.mark.parametrize(
    "closing",
    [{}, {"additionalProperties": False}, {"additionalProperties": {"type": "string"}}],
)
def test_pattern_properties_on_a_hostile_name_return_in_time(closing: dict[str, Any]) -> None:
    catalog = catalog_from_dict(
        one_tool({}, patternProperties={SLOW: {"type": "string"}}, **closing)
    )
    with within(5):
        result = parse_tool_call(call({HOSTILE: "x"}), catalog)
    assert not result.valid
    assert "could not be checked" in result.detail


def test_pattern_properties_still_apply() -> None:
    catalog = catalog_from_dict(one_tool({}, patternProperties={"^x_": {"type": "string"}}))
    params = catalog.tools[0].parameters
    assert validate_arguments({"x_1": "v"}, params) is None
    assert validate_arguments({"x_1": 1}, params) == (
        "wrong_type",
        "arguments.x_1: expected string, got integer",
    )
    assert validate_arguments({"y_1": "v"}, params) == (
        "unexpected_argument",
        "arguments.y_1: not an argument of this tool",
    )


def test_grounded_values_on_a_backtracking_pattern_return_in_time() -> None:
    prop = {"type": "string", "pattern": "(a|a)*$", "x-grounded": True}
    with within(5):
        assert grounded_values(prop, f"my id is {HOSTILE}") == []


def test_grounding_still_finds_values() -> None:
    prop = {"type": "string", "pattern": r"ORD-\d+", "x-grounded": True}
    assert grounded_values(prop, "where are ORD-12 and ORD-7, ORD-12?") == ["ORD-12", "ORD-7"]


def test_constrained_grammar_on_a_hostile_request_returns_in_time() -> None:
    catalog = catalog_from_dict(
        one_tool({"a": {"type": "string", "pattern": "(a|a)*$", "x-grounded": True}})
    )
    with within(5):
        schema = output_schema(catalog, [{"role": "user", "content": HOSTILE}])
    assert "(a|a)*$" in json.dumps(schema)


# --- 2. x-match / x-grounded of the wrong JSON type ------------------------------------


@pytest.mark.parametrize("field", ["x-match", "x-grounded"])
@pytest.mark.parametrize("value", [["text"], {"policy": "text"}])
def test_unhashable_policy_is_a_catalog_error(tmp_path: Path, field: str, value: Any) -> None:
    path = write(tmp_path, json.dumps(one_tool({"a": {"type": "string", field: value}})))
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert str(path) in message
    assert "(tool 't').parameters.properties.a" in message
    assert f"{field} must be" in message
    assert "'text'" in message or "text," in message  # the allowed names are listed


# --- 3. documents JSON (or Python) cannot hold -------------------------------------------


def test_a_very_deep_document_is_a_catalog_error(tmp_path: Path) -> None:
    path = write(tmp_path, '{"name":"cat","tools":' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(CatalogError, match="nested") as caught:
        load_catalog(path)
    assert str(path) in str(caught.value)


def test_a_deep_schema_is_a_catalog_error_naming_the_path(tmp_path: Path) -> None:
    inner: dict[str, Any] = {"type": "string"}
    for _ in range(300):
        inner = {"not": inner}
    path = write(tmp_path, json.dumps(one_tool({"a": inner})))
    with pytest.raises(CatalogError, match="nested deeper than 64 levels") as caught:
        load_catalog(path)
    assert f"{path}: tools[0].parameters.properties.a.not.not" in str(caught.value)


def test_a_deep_python_schema_is_a_catalog_error() -> None:
    inner: dict[str, Any] = {"type": "string"}
    for _ in range(300):
        inner = {"not": inner}
    with pytest.raises(CatalogError, match=r"\(tool 't'\)\.parameters\.properties\.a\.not"):
        catalog_from_dict(one_tool({"a": inner}))


def test_reasonably_nested_arguments_still_load_and_validate() -> None:
    inner: dict[str, Any] = {"type": "string"}
    value: Any = "x"
    for _ in range(20):
        inner = {"type": "object", "properties": {"k": inner}, "required": ["k"]}
        value = {"k": value}
    catalog = catalog_from_dict(one_tool({"a": inner}))
    assert validate_arguments({"a": value}, catalog.tools[0].parameters) is None


def test_an_integer_beyond_pythons_digit_limit_is_a_catalog_error(tmp_path: Path) -> None:
    text = json.dumps(one_tool({"a": {"type": "integer", "maximum": 1}}), indent=1)
    path = write(tmp_path, text.replace('"maximum": 1', '"maximum": ' + "9" * 5000))
    with pytest.raises(CatalogError, match="digits") as caught:
        load_catalog(path)
    line = text.splitlines().index(next(x for x in text.splitlines() if "maximum" in x)) + 1
    assert f"{path}:{line}:" in str(caught.value)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize("field", ["minimum", "default", "maximum"])
def test_non_finite_numbers_are_a_catalog_error(tmp_path: Path, literal: str, field: str) -> None:
    text = (
        '{"name":"cat","tools":[{"name":"t","parameters":{"type":"object","properties":'
        f'{{"a":{{"type":"number","{field}":{literal}}}}}}}}}]}}'
    )
    path = write(tmp_path, text)
    with pytest.raises(CatalogError, match="NaN and Infinity are not JSON") as caught:
        load_catalog(path)
    assert f"{path}: tools[0] (tool 't').parameters.properties.a.{field}" in str(caught.value)


def test_non_finite_numbers_in_a_python_catalog_are_a_catalog_error() -> None:
    prop = {"type": "number", "enum": [1.0, float("nan")]}
    with pytest.raises(CatalogError, match=r"properties\.a\.enum\[1\]: NaN"):
        catalog_from_dict(one_tool({"a": prop}))


# --- 4. $ref cycles -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "at", "chain"),
    [
        (
            {"$defs": {"A": {"$ref": "#/$defs/A"}}, "properties": {"a": {"$ref": "#/$defs/A"}}},
            "parameters.$defs.A.$ref",
            "#/$defs/A -> #/$defs/A",
        ),
        (
            {
                "$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}},
                "properties": {"a": {"$ref": "#/$defs/A"}},
            },
            "parameters.$defs.A.$ref",
            "#/$defs/A -> #/$defs/B -> #/$defs/A",
        ),
        (
            {"properties": {"a": {"type": "string"}}, "allOf": [{"$ref": "#"}]},
            "parameters.allOf[0].$ref",
            "#/allOf/0 -> # -> #/allOf/0",
        ),
        (
            {
                "$defs": {"A": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/A"}]}},
                "properties": {"a": {"$ref": "#/$defs/A"}},
            },
            "parameters.$defs.A.anyOf[1].$ref",
            "#/$defs/A/anyOf/1 -> #/$defs/A -> #/$defs/A/anyOf/1",
        ),
    ],
)
def test_a_ref_cycle_that_never_descends_is_a_catalog_error(
    tmp_path: Path, schema: dict[str, Any], at: str, chain: str
) -> None:
    path = write(tmp_path, json.dumps(one_tool({}, **schema)))
    with pytest.raises(CatalogError, match="reference cycle") as caught:
        load_catalog(path)
    message = str(caught.value)
    assert f"{path}: tools[0] (tool 't').{at}:" in message
    assert f"({chain})" in message


def tree_catalog() -> Catalog:
    node = {
        "type": "object",
        "properties": {
            "value": {"type": "integer"},
            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
        },
        "required": ["value"],
        "additionalProperties": False,
    }
    return catalog_from_dict(
        one_tool({"root": {"$ref": "#/$defs/Node"}}, **{"$defs": {"Node": node}})
    )


def test_a_recursive_tree_schema_loads_and_validates() -> None:
    catalog = tree_catalog()
    good = {"root": {"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]}}
    assert parse_tool_call(call(good), catalog).valid
    bad = {"root": {"value": 1, "children": [{"value": 2, "children": [{"value": "x"}]}]}}
    result = parse_tool_call(call(bad), catalog)
    assert not result.valid
    assert (
        result.detail
        == "arguments.root.children[0].children[0].value: expected integer, got string"
    )


def test_recursion_through_properties_and_items_loads() -> None:
    catalog_from_dict(one_tool({"a": {"$ref": "#"}}))
    lists = {"L": {"type": "array", "items": {"$ref": "#/$defs/L"}}}
    catalog = catalog_from_dict(one_tool({"a": {"$ref": "#/$defs/L"}}, **{"$defs": lists}))
    assert validate_arguments({"a": [[[]], []]}, catalog.tools[0].parameters) is None
    assert validate_arguments({"a": [[1]]}, catalog.tools[0].parameters) is not None


@pytest.mark.parametrize("token", ["²", "9" * 5000, "-1"])
def test_a_ref_with_a_strange_list_index_does_not_resolve(token: str) -> None:
    schema = {"allOf": [{"type": "object"}], "properties": {"a": {"$ref": f"#/allOf/{token}"}}}
    with pytest.raises(CatalogError, match="does not resolve"):
        catalog_from_dict(one_tool({}, **schema))


def test_a_catalog_json_key_written_twice_is_refused(tmp_path: Path) -> None:
    """JSON keeps the last of two equal keys silently: a typo'd copy would win unseen."""
    folder = tmp_path / "dup"
    folder.mkdir()
    (folder / "catalog.json").write_text(
        '{"name": "dup", "description": "d", "tools": [{"name": "t", "description": "d", '
        '"parameters": {"type": "object", "type": "array"}}]}'
    )
    with pytest.raises(CatalogError, match=r"key 'type' appears twice in one object"):
        load_catalog(folder)
