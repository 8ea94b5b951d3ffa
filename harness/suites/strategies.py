"""Hypothesis strategies built from a catalog's own schemas: valid calls, JSON renderings of
a value, and values of the wrong type. The fuzz suite draws malformed outputs from these for
the user's catalogs; the harness's own tests use them for generated catalogs too.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from harness.catalog import NO_TOOL, Catalog, Tool
from harness.schema import json_type, validate_value

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
        ints: SearchStrategy[int]
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
