"""Argument matching: exact and type-aware by default, normalized when declared, accept lists
and schema defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.catalog import Tool, catalog_from_dict
from harness.match import arguments_match, canonical, normalize_text, values_match


def make_tool() -> Tool:
    catalog = catalog_from_dict(
        {
            "name": "travel",
            "tools": [
                {
                    "name": "book",
                    "description": "book a trip.",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "city": {"type": "string", "x-match": "normalized"},
                            "code": {"type": "string"},
                            "price": {"type": "number", "x-match": "normalized"},
                            "passengers": {"type": "integer", "default": 1},
                            "note": {"type": "string"},
                        },
                        "required": ["city", "code"],
                    },
                }
            ],
        }
    )
    tool = catalog.tool("book")
    assert tool is not None
    return tool


TOOL = make_tool()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("New  York", "new york"),
        ("  New York!! ", "new york"),
        ("New-York", "new-york"),
        ("NEW_YORK", "new york"),
        ("3x + 2", "3x + 2"),
        ("costs 3.50.", "costs 3.50"),
        ("Straße", "strasse"),
        ("ｆｕｌｌ width", "full width"),
        ("", ""),
    ],
)
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_canonical_is_type_aware_and_key_order_free() -> None:
    assert canonical({"b": 1, "a": [1, 2]}) == canonical({"a": [1, 2], "b": 1})
    assert canonical(1) != canonical(1.0)
    assert canonical(True) != canonical(1)
    assert canonical("é") == '"é"'


@pytest.mark.parametrize(
    ("predicted", "gold", "expected"),
    [
        ("ORD-1", "ORD-1", True),
        ("ord-1", "ORD-1", False),
        (1, 1, True),
        (1, 1.0, False),
        (1.0, 1, False),
        (True, 1, False),
        (None, None, True),
        ([1, 2], [1, 2], True),
        ([2, 1], [1, 2], False),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, True),
    ],
)
def test_exact_is_type_aware(predicted: Any, gold: Any, expected: bool) -> None:
    assert values_match(predicted, gold, "exact") is expected


@pytest.mark.parametrize(
    ("predicted", "gold", "expected"),
    [
        ("new york city", "New York City", True),
        ("New-York", "new york", False),  # a dash may be a minus: never ignored
        ("Boston", "new york", False),
        (3, 3.0, True),
        (3.0, 3, True),
        (3, 3.5, False),
        (True, 1, False),
        (1, True, False),
        ("3", 3, False),
        (10**400, 1.0, False),
        (10**400, 10**400, True),
        (2**53 + 1, float(2**53), False),
    ],
)
def test_normalized(predicted: Any, gold: Any, expected: bool) -> None:
    assert values_match(predicted, gold, "normalized") is expected


def test_arguments_match_exact() -> None:
    gold = {"city": "Paris", "code": "AF1"}
    assert arguments_match({"city": "Paris", "code": "AF1"}, gold, TOOL) == (True, [])
    assert arguments_match({"city": "Paris", "code": "af1"}, gold, TOOL) == (False, ["code"])


def test_arguments_match_normalized_argument() -> None:
    gold = {"city": "New York", "code": "AF1", "price": 120}
    predicted = {"city": "new york!", "code": "AF1", "price": 120.0}
    assert arguments_match(predicted, gold, TOOL) == (True, [])


def test_arguments_match_reports_missing_and_extra_arguments() -> None:
    gold = {"city": "Paris", "code": "AF1", "note": "aisle"}
    ok, mismatched = arguments_match({"city": "Rome", "code": "AF1", "price": 3}, gold, TOOL)
    assert not ok
    assert mismatched == ["city", "note", "price"]


def test_schema_defaults_fill_omitted_arguments() -> None:
    gold = {"city": "Paris", "code": "AF1", "passengers": 1}
    assert arguments_match({"city": "Paris", "code": "AF1"}, gold, TOOL) == (True, [])
    assert arguments_match(gold, {"city": "Paris", "code": "AF1"}, TOOL) == (True, [])
    assert arguments_match({"city": "Paris", "code": "AF1", "passengers": 2}, gold, TOOL) == (
        False,
        ["passengers"],
    )


def test_accept_lists_alternatives() -> None:
    gold = {"city": "Paris", "code": "AF1"}
    accept = {"code": ["AF-1", "AF 1"]}
    assert arguments_match({"city": "Paris", "code": "AF 1"}, gold, TOOL, accept) == (True, [])
    assert arguments_match({"city": "Paris", "code": "AF1"}, gold, TOOL, accept) == (True, [])
    assert arguments_match({"city": "Paris", "code": "af-1"}, gold, TOOL, accept) == (
        False,
        ["code"],
    )


def test_accept_alternatives_use_the_argument_policy() -> None:
    gold = {"city": "Paris", "code": "AF1"}
    accept = {"city": ["Paris, France"]}
    assert arguments_match({"city": "paris france", "code": "AF1"}, gold, TOOL, accept)[0]


def test_exact_is_the_default_for_unknown_arguments() -> None:
    assert TOOL.match_policy("not_an_argument") == "exact"


def test_contains_policy_needs_the_gold_phrase_as_whole_words() -> None:
    from harness.match import contains_phrase, values_match

    assert values_match(
        "The jacket fell apart after ONE wash!", "fell apart after one wash", "contains"
    )
    assert values_match("fell apart after one wash", "fell apart after one wash", "contains")
    assert not values_match("wash", "fell apart after one wash", "contains")
    assert not values_match("price dropped", "price drop", "contains")  # whole words only
    assert not values_match("sent", "wrong item sent", "contains")
    assert values_match(3, 3.0, "contains")  # non-strings fall back to normalized
    assert not contains_phrase("anything", "")
    assert contains_phrase("", "")


def test_reason_policy_is_declared_in_the_catalog() -> None:
    from harness.catalog import load_catalog

    catalog = load_catalog(Path(__file__).resolve().parent.parent / "golden" / "customer_support")
    tool = catalog.tool("request_refund")
    assert tool is not None
    assert tool.match_policy("reason") == "contains-or-similar"
    assert tool.properties["reason"]["x-threshold"] == 0.85
    assert tool.match_policy("order_id") == "exact"


# --- policies by name, recursion, optional arguments -------------------------------------


@pytest.mark.parametrize(
    ("policy", "predicted", "gold", "expected"),
    [
        ("exact", "Paris", "paris", False),
        ("casefold", "PARIS", "paris", True),
        ("casefold", "New  York", "new york", False),
        ("casefold-space", "New  York ", "new york", True),
        ("casefold-space", "inches?", "inches", False),
        ("casefold", "inches?", "inches", False),
        ("text", "inches?", "inches", True),
        ("text", "3x + 2", "3x - 2", False),
        ("text", "x^2", "x2", False),
        ("text", "a = b", "a < b", False),
        ("text", "1.5", "15", False),
        ("text", "-5", "5", False),
        ("text", "10%", "10", False),
        ("normalized", "3x + 2", "3x - 2", False),  # the deprecated alias of text
        ("bfcl", "3x + 2", "3X+2", True),
        ("bfcl", "3x - 2", "3x 2", True),  # BFCL's own rule drops '-': parity only
        ("bfcl", "3x + 2", "3x - 2", False),
        ("bfcl", "inches?", "inches", False),
        ("contains", "it was 3x - 2 today", "3x - 2", True),
        ("contains", "it was 3x + 2 today", "3x - 2", False),
    ],
)
def test_policies_say_what_they_ignore(
    policy: str, predicted: str, gold: str, expected: bool
) -> None:
    assert values_match(predicted, gold, policy) is expected


def test_policy_registry_takes_new_policies() -> None:
    from harness.match import POLICIES, register_policy

    register_policy("test-length", lambda a, b: len(a) == len(b))
    try:
        assert values_match("abc", "xyz", "test-length")
        catalog_from_dict(
            {"name": "t", "tools": [{"name": "f", "parameters": {"type": "object",
             "properties": {"a": {"type": "string", "x-match": "test-length"}}}}]}
        )  # fmt: skip
    finally:
        POLICIES.pop("test-length")


def nested_tool() -> Tool:
    params = {
        "type": "object",
        "properties": {
            "cities": {"type": "array", "items": {"type": "string", "x-match": "casefold"}},
            "weights": {"type": "array", "items": {"type": "number"}},
            "counts": {"type": "array", "items": {"type": "integer"}},
            "leg": {
                "type": "object",
                "properties": {
                    "to": {"type": "string", "x-match": "text"},
                    "cabin": {"type": "string", "enum": ["Economy", "Business"]},
                    "km": {"type": "number"},
                },
            },
            "unit": {"type": "string", "default": "cm"},
        },
    }
    tool = catalog_from_dict({"name": "n", "tools": [{"name": "f", "parameters": params}]}).tools[0]
    return tool


NESTED = nested_tool()


@pytest.mark.parametrize(
    ("predicted", "gold", "expected"),
    [
        ({"cities": ["SANTA BARBARA"]}, {"cities": ["Santa Barbara"]}, True),
        ({"cities": ["Santa Barbara", "x"]}, {"cities": ["Santa Barbara"]}, False),
        ({"weights": [12, 0.5]}, {"weights": [12.0, 0.5]}, True),
        ({"counts": [12.0]}, {"counts": [12]}, False),
        ({"leg": {"to": "oslo.", "km": 3}}, {"leg": {"to": "Oslo", "km": 3.0}}, True),
        ({"leg": {"to": "Oslo", "cabin": "economy"}}, {"leg": {"to": "Oslo", "cabin": "Economy"}},
         False),
        ({"leg": {"to": "Oslo"}}, {"leg": {"to": "Oslo", "km": 3.0}}, False),
    ],
)  # fmt: skip
def test_policies_apply_inside_arrays_and_objects(
    predicted: dict[str, Any], gold: dict[str, Any], expected: bool
) -> None:
    assert arguments_match(predicted, gold, NESTED)[0] is expected


def test_optional_arguments_may_be_left_out_but_must_match_when_given() -> None:
    gold = {"cities": ["Oslo"], "unit": "mm"}
    assert arguments_match({"cities": ["Oslo"]}, gold, NESTED, optional=["unit"]) == (True, [])
    assert arguments_match({"cities": ["Oslo"], "unit": "mm"}, gold, NESTED, optional=["unit"])[0]
    assert arguments_match({"cities": ["Oslo"], "unit": "in"}, gold, NESTED, optional=["unit"]) == (
        False,
        ["unit"],
    )
    # Without "optional", leaving it out means the default ("cm"), which is not "mm".
    assert arguments_match({"cities": ["Oslo"]}, gold, NESTED) == (False, ["unit"])
    # Optional and absent from the gold: giving a value the gold lacks is a mismatch.
    assert arguments_match({"weights": [1]}, {}, NESTED, optional=["weights"]) == (
        False,
        ["weights"],
    )


def test_bfcl_policy_is_bfcls_own_code() -> None:
    from harness.match import bfcl_text

    assert bfcl_text("April 1, 2024") == bfcl_text("april 1 2024") == "april12024"
    assert bfcl_text("it's") == 'it"s'
    assert bfcl_text("a\tb") == "a\tb"  # only spaces, as in BFCL's regex
