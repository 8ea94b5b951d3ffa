"""The argument validator: each supported keyword, and the error kind it reports."""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import CatalogError
from harness.schema import json_type, validate_arguments, validate_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "boolean"),
        (0, "integer"),
        (1.5, "number"),
        ("s", "string"),
        ([1], "array"),
        ({"a": 1}, "object"),
        (b"x", "bytes"),
    ],
)
def test_json_type(value: Any, expected: str) -> None:
    assert json_type(value) == expected


@pytest.mark.parametrize(
    ("value", "schema"),
    [
        ("a", {"type": "string"}),
        (1, {"type": "integer"}),
        (1, {"type": "number"}),
        (1.5, {"type": "number"}),
        (False, {"type": "boolean"}),
        (None, {"type": "null"}),
        ([], {"type": "array"}),
        ({}, {"type": "object"}),
        (None, {"type": ["string", "null"]}),
        ("b", {"enum": ["a", "b"]}),
        (2, {"type": "integer", "enum": [1, 2]}),
        ("x", {"const": "x"}),
        (5, {"minimum": 5, "maximum": 5}),
        (5, {"exclusiveMinimum": 4, "exclusiveMaximum": 6}),
        ("ab", {"minLength": 2, "maxLength": 2}),
        ("ORD-12", {"pattern": r"^ORD-\d+$"}),
        ([1, 2], {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "integer"}}),
        (None, {"anyOf": [{"type": "string"}, {"type": "null"}]}),
        ("anything", {}),
        (True, {"minimum": 5}),  # bounds apply to numbers only, and a boolean is not one
        ({"a": [1, {"b": "x"}]}, {"type": "object", "properties": {"a": {"type": "array"}}}),
        ("2026-02-28", {"type": "string", "format": "date"}),
        ([1.5, 2], {"type": "array", "items": {"type": "number"}}),
    ],
)
def test_valid_values(value: Any, schema: dict[str, Any]) -> None:
    assert validate_value(value, schema, "arguments.x") is None


@pytest.mark.parametrize(
    ("value", "schema", "kind", "detail"),
    [
        (1, {"type": "string"}, "wrong_type", "expected string, got integer"),
        (3.0, {"type": "integer"}, "wrong_type", "expected integer, got number"),
        (True, {"type": "integer"}, "wrong_type", "expected integer, got boolean"),
        (True, {"type": "number"}, "wrong_type", "expected number, got boolean"),
        ("1", {"type": "number"}, "wrong_type", "expected number, got string"),
        (1, {"type": ["string", "null"]}, "wrong_type", "expected string|null, got integer"),
        (5, {"anyOf": [{"type": "string"}, {"type": "null"}]}, "wrong_type", "expected string"),
        ("c", {"enum": ["a", "b"]}, "invalid_value", "'c' is not one of ['a', 'b']"),
        (True, {"enum": [1]}, "invalid_value", "is not one of [1]"),
        (1.0, {"enum": [1]}, "invalid_value", "is not one of [1]"),
        ("y", {"const": "x"}, "invalid_value", "must be 'x'"),
        (float("nan"), {"type": "number"}, "non_finite", "NaN and Infinity are not JSON"),
        (float("inf"), {}, "non_finite", "NaN and Infinity"),
        (4, {"minimum": 5}, "invalid_value", "4 < minimum 5"),
        (6, {"maximum": 5}, "invalid_value", "6 > maximum 5"),
        (4, {"exclusiveMinimum": 4}, "invalid_value", "4 <= exclusiveMinimum 4"),
        (6, {"exclusiveMaximum": 6}, "invalid_value", "6 >= exclusiveMaximum 6"),
        ("2026-02-30", {"format": "date"}, "invalid_value", "is not a valid date"),
        ("a", {"oneOf": [{"type": "string"}, {"minLength": 1}]}, "invalid_value", "arguments.x"),
        ({"k": 1}, {"properties": {"k": {"type": "string"}}}, "wrong_type", "arguments.x.k: "),
        ("a", {"minLength": 2}, "invalid_value", "shorter than 2 characters"),
        ("abc", {"maxLength": 2}, "invalid_value", "longer than 2 characters"),
        ("X-1", {"pattern": r"^ORD-"}, "invalid_value", "does not match '^ORD-'"),
        ([], {"minItems": 1}, "invalid_value", "fewer than 1 items"),
        ([1, 2], {"maxItems": 1}, "invalid_value", "more than 1 items"),
        ([1, "2"], {"items": {"type": "integer"}}, "wrong_type", "arguments.x[1]: expected"),
    ],
)
def test_invalid_values(value: Any, schema: dict[str, Any], kind: str, detail: str) -> None:
    problem = validate_value(value, schema, "arguments.x")
    assert problem is not None
    assert problem[0] == kind
    assert problem[1].startswith("arguments.x")
    assert detail in problem[1]


def test_long_values_are_shortened_in_details() -> None:
    problem = validate_value("z" * 500, {"enum": ["a"]}, "arguments.x")
    assert problem is not None
    assert len(problem[1]) < 120
    assert "..." in problem[1]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "object", "properties": {"a": {"pattern": "("}}}, "not a valid JSON Schema"),
        ({"type": "object", "properties": {"a": {"enum": "economy"}}}, "'enum' takes a list"),
        ({"type": "object", "properties": {"a": {"minimum": "1"}}}, "'minimum' a number"),
        ({"type": "object", "properties": {"a": {"$ref": "#/$defs/B"}}}, "does not resolve"),
        ({"type": "object", "properties": {"a": {"typo": 1}}}, "unknown JSON Schema keyword"),
        ({"type": "object", "patternProperties": {"(": {}}}, "not a valid JSON Schema"),
    ],
)
def test_check_schema_refuses_at_load_time(schema: dict[str, Any], expected: str) -> None:
    from harness.schema import check_schema

    with pytest.raises(CatalogError, match=expected) as err:
        check_schema(schema, "cat.json: tools[0]")
    assert str(err.value).startswith("cat.json: tools[0].parameters")


PARAMS = {
    "type": "object",
    "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
    "required": ["a"],
}


def test_validate_arguments_valid() -> None:
    assert validate_arguments({"a": "x"}, PARAMS) is None
    assert validate_arguments({"a": "x", "b": 2}, PARAMS) is None


def test_validate_arguments_order_of_checks() -> None:
    # Unknown names first, then missing required ones, then values.
    assert validate_arguments({"zz": 1, "b": "bad"}, PARAMS) == (
        "unexpected_argument",
        "arguments.zz: not an argument of this tool",
    )
    assert validate_arguments({"b": "bad"}, PARAMS) == (
        "missing_argument",
        "arguments.a: required argument is missing",
    )
    assert validate_arguments({"a": "x", "b": "bad"}, PARAMS) == (
        "wrong_type",
        "arguments.b: expected integer, got string",
    )


def test_validate_arguments_without_properties() -> None:
    assert validate_arguments({}, {}) is None
    problem = validate_arguments({"x": 1}, {})
    assert problem is not None and problem[0] == "unexpected_argument"


def test_unexpected_argument_is_named_when_others_are_declared_in_branches() -> None:
    params = {
        "type": "object",
        "allOf": [{"properties": {"a": {"type": "integer"}}}],
        "oneOf": [{"properties": {"b": {"type": "integer"}}}],
        "unevaluatedProperties": False,
    }
    assert validate_arguments({"a": 1, "b": 2}, params) is None
    assert validate_arguments({"a": 1, "b": 2, "c": 3}, params) == (
        "unexpected_argument",
        "arguments.c: not an argument of this tool",
    )
