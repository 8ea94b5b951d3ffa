"""A small JSON Schema validator for tool arguments, returning routecheck's error kinds.

Only the keywords a catalog may use (see ``harness.catalog.SUPPORTED_KEYWORDS``) are read;
the catalog loader refuses the others, so nothing is silently ignored here.
"""

from __future__ import annotations

import math
import re
from typing import Any

from harness.errors import CatalogError

# (error kind, detail) or None when the value is valid.
Problem = tuple[str, str] | None


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value (``bool`` is not a number here)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _type_ok(value: Any, kind: str) -> bool:
    actual = json_type(value)
    if kind == "number":
        return actual in ("integer", "number")
    if kind == "integer" and actual == "number":
        # 3.0 is not an integer argument: a router that writes it has the type wrong.
        return False
    return actual == kind


def validate_value(value: Any, schema: dict[str, Any], where: str) -> Problem:
    """Check one argument value against its property schema."""
    if "anyOf" in schema:
        problems = [validate_value(value, sub, where) for sub in schema["anyOf"]]
        if any(p is None for p in problems):
            return None
        return problems[0] if problems else None
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_type_ok(value, k) for k in kinds):
            return "wrong_type", f"{where}: expected {'|'.join(kinds)}, got {json_type(value)}"
    if "const" in schema and value != schema["const"]:
        return "invalid_value", f"{where}: must be {schema['const']!r}"
    if "enum" in schema and not any(
        value == option and json_type(value) == json_type(option) for option in schema["enum"]
    ):
        return "invalid_value", f"{where}: {_short(value)} is not one of {schema['enum']}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return "non_finite", f"{where}: NaN and Infinity are not JSON"
        if "minimum" in schema and value < schema["minimum"]:
            return "invalid_value", f"{where}: {value} < minimum {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return "invalid_value", f"{where}: {value} > maximum {schema['maximum']}"
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            return "invalid_value", f"{where}: {value} <= {schema['exclusiveMinimum']}"
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            return "invalid_value", f"{where}: {value} >= {schema['exclusiveMaximum']}"
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            return "invalid_value", f"{where}: shorter than {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return "invalid_value", f"{where}: longer than {schema['maxLength']} characters"
        if "pattern" in schema:
            try:
                matched = re.search(schema["pattern"], value) is not None
            except re.error as exc:
                raise CatalogError(f"{where}: bad pattern {schema['pattern']!r}: {exc}") from None
            if not matched:
                return "invalid_value", f"{where}: does not match {schema['pattern']!r}"
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            return "invalid_value", f"{where}: fewer than {schema['minItems']} items"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return "invalid_value", f"{where}: more than {schema['maxItems']} items"
        if "items" in schema:
            for i, item in enumerate(value):
                problem = validate_value(item, schema["items"], f"{where}[{i}]")
                if problem is not None:
                    return problem
    return None


def validate_arguments(arguments: dict[str, Any], parameters: dict[str, Any]) -> Problem:
    """Check a call's arguments: no unknown names, every required one present, each valid."""
    props: dict[str, Any] = parameters.get("properties", {})
    for name in arguments:
        if name not in props:
            where = f"arguments.{_short(name, quote=False)}"
            return "unexpected_argument", f"{where}: not an argument of this tool"
    for name in parameters.get("required", []):
        if name not in arguments:
            return "missing_argument", f"arguments.{name}: required argument is missing"
    for name, value in arguments.items():
        problem = validate_value(value, props[name], f"arguments.{name}")
        if problem is not None:
            return problem
    return None


def _short(value: Any, limit: int = 60, quote: bool = True) -> str:
    text = repr(value) if quote else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
