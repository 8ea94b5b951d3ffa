"""Reusable Hypothesis strategies: random catalogs, valid calls drawn from a catalog's own
argument schemas, JSON renderings of a value, and lists of consistent case verdicts.

Importing this module also loads the shared Hypothesis profile (``suites/hypothesis_profiles.py``).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from harness.catalog import NO_TOOL, Catalog, Tool, catalog_from_dict, load_catalog
from harness.golden import Category, GoldenCase, Target
from harness.parse import ErrorKind, ParseResult
from harness.schema import json_type, validate_value
from harness.scoring import CaseVerdict, score_case

REPO_ROOT = Path(__file__).resolve().parents[1]
CUSTOMER_SUPPORT = REPO_ROOT / "golden" / "customer_support" / "catalog.py"


def _load_profiles() -> None:
    if "hypothesis_profiles" in sys.modules:
        return
    path = REPO_ROOT / "suites" / "hypothesis_profiles.py"
    spec = importlib.util.spec_from_file_location("hypothesis_profiles", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["hypothesis_profiles"] = module
    spec.loader.exec_module(module)


_load_profiles()


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


# --- valid values and calls ---------------------------------------------------------------


def values_for(schema: dict[str, Any]) -> SearchStrategy[Any]:
    """Values valid under one property schema (bounds, lengths, patterns and enums respected).

    Covers every keyword a catalog may use; a final check against the validator itself
    keeps any combination the generators do not model exactly from producing a bad value.
    """
    return _candidates(schema).filter(lambda v: validate_value(v, schema, "value") is None)


_json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=10)


def _candidates(schema: dict[str, Any]) -> SearchStrategy[Any]:
    if "anyOf" in schema:
        return st.one_of([values_for(sub) for sub in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([_candidates({**schema, "type": k}) for k in kind])
    if kind == "string":
        low = schema.get("minLength", 0)
        high = schema.get("maxLength", low + 30)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"]).filter(lambda s: low <= len(s) <= high)
        return st.text(min_size=low, max_size=high)
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        int_low = None if low is None else math.ceil(low)
        int_high = None if high is None else math.floor(high)
        if int_low is not None and int_high is not None and int_low > int_high:
            ints = st.nothing()
        else:
            ints = st.integers(int_low, int_high)
        if kind == "integer":
            return ints
        # A number argument admits integers too.
        floats = st.floats(
            low,
            high,
            allow_nan=False,
            allow_infinity=False,
            exclude_min=low is not None and "minimum" not in schema,
            exclude_max=high is not None and "maximum" not in schema,
        )
        return floats | ints
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = values_for(schema["items"]) if "items" in schema else _json_scalars
        return st.lists(
            items, min_size=schema.get("minItems", 0), max_size=schema.get("maxItems", 5)
        )
    if kind == "object":
        return st.dictionaries(st.text(max_size=5), _json_scalars, max_size=3)
    return _json_scalars


def arguments_for(tool: Tool) -> SearchStrategy[dict[str, Any]]:
    """Argument sets valid for ``tool``: every required argument, some optional ones."""
    props = tool.properties
    required = {n: values_for(props[n]) for n in tool.required}
    optional = {n: values_for(s) for n, s in props.items() if n not in tool.required}
    return st.fixed_dictionaries(required, optional=optional)


def tool_calls(catalog: Catalog) -> SearchStrategy[dict[str, Any]]:
    """Valid calls of the catalog's real tools: ``{"tool": ..., "arguments": {...}}``."""
    return st.sampled_from(catalog.tools).flatmap(
        lambda tool: arguments_for(tool).map(lambda a: {"tool": tool.name, "arguments": a})
    )


no_tool_calls = st.text(max_size=40).map(lambda r: {"tool": NO_TOOL, "reason": r})


def valid_calls(catalog: Catalog) -> SearchStrategy[dict[str, Any]]:
    """Valid outputs: a real tool call (mostly) or the no-tool path."""
    return st.one_of(tool_calls(catalog), tool_calls(catalog), no_tool_calls)


# --- JSON renderings ----------------------------------------------------------------------

whitespace = st.text(alphabet=" \t\n\r", max_size=3)


@st.composite
def json_texts(draw: st.DrawFn, value: Any) -> str:
    """``value`` as JSON text with random whitespace, key order and escaping.

    Either a hand-rendered form (whitespace between every token, keys shuffled at every
    level) or ``json.dumps`` with a random indent and ``ensure_ascii``.
    """
    ascii_only = draw(st.booleans())

    def scalar(v: Any) -> str:
        return json.dumps(v, ensure_ascii=ascii_only)

    def render(v: Any) -> str:
        if isinstance(v, dict):
            keys = draw(st.permutations(list(v)))
            items = [
                f"{draw(whitespace)}{scalar(k)}{draw(whitespace)}:{draw(whitespace)}"
                f"{render(v[k])}{draw(whitespace)}"
                for k in keys
            ]
            return "{" + (",".join(items) if items else draw(whitespace)) + "}"
        if isinstance(v, list):
            items = [f"{draw(whitespace)}{render(x)}{draw(whitespace)}" for x in v]
            return "[" + (",".join(items) if items else draw(whitespace)) + "]"
        return scalar(v)

    if draw(st.booleans()):
        return draw(whitespace) + render(value) + draw(whitespace)
    indent = draw(st.none() | st.integers(0, 4) | st.just("\t"))
    return json.dumps(value, indent=indent, ensure_ascii=ascii_only, sort_keys=draw(st.booleans()))


# --- wrong values -------------------------------------------------------------------------

_SAMPLES: dict[str, Any] = {
    "string": "x",
    "integer": 7,
    "number": 1.5,
    "boolean": True,
    "null": None,
    "array": [1],
    "object": {"k": 1},
}


def allowed_types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a property schema admits (``number`` admits integers)."""
    if "anyOf" in schema:
        return set().union(*(allowed_types(s) for s in schema["anyOf"]))
    kind = schema.get("type")
    kinds = set(kind if isinstance(kind, list) else [kind]) if kind else set(_SAMPLES)
    if "number" in kinds:
        kinds.add("integer")
    return kinds


def wrong_type_values(schema: dict[str, Any]) -> SearchStrategy[Any]:
    """Values whose JSON type the schema does not admit."""
    allowed = allowed_types(schema)
    wrong = [v for t, v in _SAMPLES.items() if t not in allowed]
    assert all(json_type(v) not in allowed for v in wrong)
    return st.sampled_from(wrong)


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
    return catalog_from_dict(shop_catalog_dict(reason_match=None))


SHOP = _small_catalog()
_ORDER_IDS = ["ORD-1", "ORD-2"]


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
                    prompt="request",
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
