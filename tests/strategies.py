"""Reusable Hypothesis strategies: random catalogs, valid calls drawn from a catalog's own
argument schemas, JSON renderings of a value, and lists of consistent case verdicts.

Importing this module also loads the shared Hypothesis profile
(``harness/suites/hypothesis_profiles.py``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from harness.catalog import NO_TOOL, Catalog, catalog_from_dict, load_catalog
from harness.golden import Category, GoldenCase, Target
from harness.parse import ErrorKind, ParseResult
from harness.scoring import CaseVerdict, score_case
from harness.suites import hypothesis_profiles  # noqa: F401  (registers and loads the profile)
from harness.suites.strategies import (  # noqa: F401  (re-exported: the tests import them here)
    allowed_types,
    arguments_for,
    json_texts,
    no_tool_calls,
    tool_calls,
    valid_calls,
    values_for,
    whitespace,
    wrong_type_values,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
CUSTOMER_SUPPORT = REPO_ROOT / "golden" / "customer_support" / "catalog.py"


@functools.cache
def customer_support_catalog() -> Catalog:
    """The bundled catalog (Pydantic models), loaded by path."""
    return load_catalog(CUSTOMER_SUPPORT)


@functools.cache
def bundled_catalogs() -> tuple[Catalog, ...]:
    """Every catalog under ``golden/`` (each folder's ``catalog.json`` or ``catalog.py``)."""
    folders = sorted(p.parent for p in (REPO_ROOT / "golden").glob("*/catalog.*"))
    return tuple(load_catalog(folder) for folder in dict.fromkeys(folders))


# --- catalogs --------------------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
identifiers = st.tuples(
    st.sampled_from(_LETTERS), st.text(alphabet=_LETTERS + "0123456789_", max_size=11)
).map("".join)
"""Names usable as tool or argument names (``[a-z][a-z0-9_]{0,11}``)."""

tool_names = identifiers.filter(lambda name: name != NO_TOOL)


@st.composite
def _string_schema(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    low = draw(st.none() | st.integers(0, 5))
    high = draw(st.none() | st.integers(low or 0, 30))
    if low is not None:
        schema["minLength"] = low
    if high is not None:
        schema["maxLength"] = high
    if draw(st.booleans()):
        schema["x-match"] = draw(st.sampled_from(["exact", "normalized"]))
    return schema


@st.composite
def _integer_schema(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    low = draw(st.none() | st.integers(-(10**6), 10**6))
    high = draw(st.none() | st.integers(low if low is not None else -(10**6), 10**7))
    if low is not None:
        schema["minimum"] = low
    if high is not None:
        schema["maximum"] = high
    return schema


@st.composite
def _number_schema(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "number"}
    finite = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
    low = draw(st.none() | finite)
    high = draw(st.none() | st.floats(low if low is not None else -1e9, 1e10))
    if low is not None:
        schema["minimum"] = low
    if high is not None:
        schema["maximum"] = high
    if draw(st.booleans()):
        schema["x-match"] = "normalized"
    return schema


_enum_schema = st.one_of(
    st.lists(st.text(max_size=8), min_size=1, max_size=5, unique=True).map(
        lambda values: {"type": "string", "enum": values}
    ),
    st.lists(st.integers(-50, 50), min_size=1, max_size=5, unique=True).map(
        lambda values: {"type": "integer", "enum": values}
    ),
)

_base_schema = st.one_of(
    _string_schema(),
    _integer_schema(),
    _number_schema(),
    st.just({"type": "boolean"}),
    _enum_schema,
)

_optional_schema = _base_schema.map(lambda s: {"anyOf": [s, {"type": "null"}], "default": None})
"""``Optional[T] = None``, as Pydantic writes it."""

property_schemas = st.one_of(_base_schema, _optional_schema)
"""One argument's schema: string, integer, number, boolean, enum, or an optional of those."""


@st.composite
def tool_dicts(draw: st.DrawFn, name: str | None = None) -> dict[str, Any]:
    """One tool in the JSON catalog form, with 0 to 4 arguments."""
    names = draw(st.lists(identifiers, max_size=4, unique=True))
    properties = {n: draw(property_schemas) for n in names}
    required = [
        n for n, s in properties.items() if "anyOf" not in s and draw(st.integers(0, 3)) > 0
    ]
    # Some optional non-null arguments carry a default (a valid value of their own type).
    for n, s in properties.items():
        if n not in required and "anyOf" not in s and draw(st.booleans()):
            s["default"] = draw(values_for(s))
    return {
        "name": name if name is not None else draw(tool_names),
        "description": draw(st.text(max_size=30)),
        "parameters": {"type": "object", "properties": properties, "required": required},
    }


@st.composite
def catalog_dicts(draw: st.DrawFn, max_tools: int = 4) -> dict[str, Any]:
    """A catalog in its JSON form: 1 to ``max_tools`` tools with distinct names."""
    names = draw(st.lists(tool_names, min_size=1, max_size=max_tools, unique=True))
    return {
        "name": draw(identifiers),
        "description": draw(st.text(max_size=40)),
        "tools": [draw(tool_dicts(name=n)) for n in names],
    }


def catalogs(max_tools: int = 4) -> SearchStrategy[Catalog]:
    """Random catalogs, built through the real loader (so they are valid by construction)."""
    return catalog_dicts(max_tools).map(lambda d: catalog_from_dict(d, source="<generated>"))


any_catalog = st.one_of(st.builds(customer_support_catalog), catalogs(max_tools=3))
"""The bundled customer_support catalog or a generated one."""


# --- verdicts -----------------------------------------------------------------------------


def track_order_tool() -> dict[str, Any]:
    """The ``track_order(order_id)`` tool many tests' small catalogs start from."""
    return {
        "name": "track_order",
        "description": "get the status of an order.",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    }


def shop_catalog_dict(*, reason_match: str | None = "normalized") -> dict[str, Any]:
    """The small "shop" catalog (track_order, escalate) as JSON, a fresh copy per call.

    ``reason_match`` is escalate's ``x-match`` policy for ``reason`` (None: exact).
    """
    reason: dict[str, Any] = {"type": "string"}
    if reason_match is not None:
        reason["x-match"] = reason_match
    escalate = {
        "name": "escalate",
        "description": "hand off to a human agent.",
        "parameters": {
            "type": "object",
            "properties": {"reason": reason},
            "required": ["reason"],
        },
    }
    return {
        "name": "shop",
        "description": "You route shop requests to tools.",
        "tools": [track_order_tool(), escalate],
    }


def _small_catalog() -> Catalog:
    """The shop catalog with ``order_id`` grounded, so the pool holds ungrounded calls."""
    data = shop_catalog_dict(reason_match=None)
    data["tools"][0]["parameters"]["properties"]["order_id"]["x-grounded"] = True
    return catalog_from_dict(data)


SHOP = _small_catalog()
_ORDER_IDS = ["ORD-1", "ORD-2"]
_POOL_PROMPT = "request ORD-1"
"""ORD-1 is in every pool case's request (grounded), ORD-2 never is (ungrounded)."""


def _targets(category: Category) -> list[Target]:
    if not category.wants_tool:
        return [Target(tool=NO_TOOL)]
    return [
        Target(tool=tool, arguments={"order_id" if tool == "track_order" else "reason": value})
        for tool in SHOP.tool_names
        for value in _ORDER_IDS
    ]


def _parse_results() -> list[ParseResult]:
    """Everything a parser could say about some output for the ``shop`` catalog."""
    results = [ParseResult(valid=False, error=kind) for kind in ErrorKind]
    results.append(ParseResult(valid=True, tool=NO_TOOL, arguments={}, reason="r"))
    results += [
        ParseResult(valid=True, tool=t.tool, arguments=t.arguments)
        for t in _targets(Category.POSITIVE)
    ]
    return results


@functools.cache
def verdict_pool() -> tuple[CaseVerdict, ...]:
    """One verdict, scored by the real scorer, for every combination of category, gold
    target, split and parse result on the ``shop`` catalog."""
    pool = []
    for category in Category:
        for target in _targets(category):
            for split in ("dev", "holdout"):
                case = GoldenCase(
                    id=f"c{len(pool)}",
                    category=category,
                    prompt=_POOL_PROMPT,
                    target=target,
                    split=split,
                    catalog=SHOP.name,
                )
                for parsed in _parse_results():
                    pool.append(score_case(case, parsed, SHOP))
    return tuple(pool)


def verdict_lists(max_size: int = 40) -> SearchStrategy[list[CaseVerdict]]:
    """Lists of real verdicts (any mix of categories, splits and outcomes), possibly empty."""
    valid = [v for v in verdict_pool() if v.valid]
    invalid = [v for v in verdict_pool() if not v.valid]
    # Half valid, half invalid: otherwise the 16 error kinds would crowd out the rest.
    return st.lists(st.sampled_from(valid) | st.sampled_from(invalid), max_size=max_size)
