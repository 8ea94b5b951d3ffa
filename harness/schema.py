"""Argument validation by ``jsonschema`` (Draft 2020-12, with its format checker).

A thin layer: it checks a catalog's argument schemas at load time (metaschema, regexes,
``$ref`` targets, unknown keywords) and maps the errors of a model's arguments onto
routecheck's error kinds, with a JSON path such as ``arguments.legs[1].city``. Two rules
are routecheck's own and stricter than the draft: ``3.0`` is not an ``integer`` (a router
that writes it has the type wrong) and ``enum``/``const`` compare JSON types too (``1.0``
is not ``1`` and ``true`` is not ``1``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from jsonschema import (  # type: ignore[import-untyped]
    Draft202012Validator,
    FormatChecker,
    validators,
)
from jsonschema.exceptions import (  # type: ignore[import-untyped]
    SchemaError,
    ValidationError,
)

from harness.errors import CatalogError

Problem = tuple[str, str] | None
"""(error kind, detail) or None when the value is valid."""

DIALECT = "https://json-schema.org/draft/2020-12/schema"

# Every keyword of Draft 2020-12 (core, applicator, validation, format, meta-data, content,
# unevaluated). Any other key in a schema position is refused at load time unless it starts
# with ``x-``: a typo such as ``minimun`` would otherwise be ignored by every validator.
KNOWN_KEYWORDS = frozenset(
    {
        "$schema", "$id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$defs",
        "$comment", "$vocabulary", "definitions",
        "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
        "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
        "uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties",
        "required", "dependentRequired",
        "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas",
        "prefixItems", "items", "contains", "properties", "patternProperties",
        "additionalProperties", "propertyNames", "unevaluatedItems", "unevaluatedProperties",
        "format", "title", "description", "default", "deprecated", "readOnly", "writeOnly",
        "examples", "contentEncoding", "contentMediaType", "contentSchema",
    }
)  # fmt: skip

_ONE_SCHEMA = (
    "items", "additionalProperties", "not", "if", "then", "else", "contains",
    "propertyNames", "unevaluatedItems", "unevaluatedProperties", "contentSchema",
)  # fmt: skip
_LIMIT_DETAILS = {
    "minLength": "shorter than {value} characters",
    "maxLength": "longer than {value} characters",
    "minItems": "fewer than {value} items",
    "maxItems": "more than {value} items",
    "pattern": "does not match {value!r}",
}
"""How a failed length, size or pattern keyword reads, after the value's path."""

_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),  # before int: bool is an int subclass
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value (``bool`` is not a number here)."""
    if value is None:
        return "null"
    for kind, name in _JSON_TYPES:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal JSON types (recursively), unlike Python's ``==``."""
    if json_type(a) != json_type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _enum(validator: Any, enums: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not any(_same(instance, option) for option in enums):
        yield ValidationError(f"{_short(instance)} is not one of {_short(enums, 200)}")


def _const(validator: Any, const: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not _same(instance, const):
        yield ValidationError(f"must be {_short(const)}")


def _is_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


_TYPES = Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer)
ArgumentValidator = validators.extend(
    Draft202012Validator,
    validators={"enum": _enum, "const": _const},
    type_checker=_TYPES,
)
_FORMATS = FormatChecker()


def _path(base: str, parts: Any) -> str:
    out = base
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{_short(part, quote=False)}"
    return out


def _bad_float(value: Any, where: str) -> Problem:
    """NaN or Infinity anywhere in a value: never JSON, whatever the schema says."""
    if isinstance(value, float) and not math.isfinite(value):
        return "non_finite", f"{where}: NaN and Infinity are not JSON"
    if isinstance(value, list):
        for i, item in enumerate(value):
            if (problem := _bad_float(item, f"{where}[{i}]")) is not None:
                return problem
    if isinstance(value, dict):
        for key, item in value.items():
            if (problem := _bad_float(item, _path(where, [key]))) is not None:
                return problem
    return None


_KIND = {
    "type": "wrong_type",
    "required": "missing_argument",
    "additionalProperties": "unexpected_argument",
    "unevaluatedProperties": "unexpected_argument",
}


def _describe(error: ValidationError, where: str) -> tuple[str, str]:
    kind = _KIND.get(str(error.validator), "invalid_value")
    at = _path(where, error.absolute_path)
    value = error.validator_value
    if error.validator == "type":
        kinds = value if isinstance(value, list) else [value]
        return kind, f"{at}: expected {'|'.join(map(str, kinds))}, got {json_type(error.instance)}"
    if error.validator == "required":
        missing = [n for n in value if isinstance(error.instance, dict) and n not in error.instance]
        name = missing[0] if missing else "?"
        return kind, f"{_path(at, [name])}: required argument is missing"
    if kind == "unexpected_argument":
        known = _declared(error.schema)
        instance = error.instance if isinstance(error.instance, dict) else {}
        extra = [k for k in instance if k not in known]
        name = extra[0] if extra else "?"
        return kind, f"{_path(at, [name])}: not an argument of this tool"
    bounds = {
        "minimum": "<", "maximum": ">", "exclusiveMinimum": "<=", "exclusiveMaximum": ">=",
    }  # fmt: skip
    if error.validator in bounds:
        return (
            kind,
            f"{at}: {error.instance} {bounds[str(error.validator)]} {error.validator} {value}",
        )
    limit = _LIMIT_DETAILS.get(str(error.validator))
    if limit is not None:
        return kind, f"{at}: {limit.format(value=value)}"
    if error.validator == "format":
        return kind, f"{at}: {_short(error.instance)} is not a valid {value}"
    if error.validator in ("anyOf", "oneOf") and error.context:
        # Report the first branch's reason: it names what was expected.
        inner = min(error.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
        sub_kind, sub_detail = _describe(inner, where)
        return sub_kind, sub_detail
    return kind, f"{at}: {error.message}"


def _declared(schema: Any, depth: int = 0) -> set[str]:
    """Property names a schema declares, its ``allOf``/``anyOf``/``oneOf`` branches included."""
    if not isinstance(schema, dict) or depth > 8:
        return set()
    names = set(schema.get("properties") or {})
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key) or []:
            names |= _declared(sub, depth + 1)
    for key in ("then", "else"):
        names |= _declared(schema.get(key), depth + 1)
    return names


@lru_cache(maxsize=4096)
def _compiled(schema_text: str) -> Any:
    return ArgumentValidator(json.loads(schema_text), format_checker=_FORMATS)


def _validator(schema: dict[str, Any]) -> Any:
    return _compiled(json.dumps(schema, sort_keys=True))


def _first(errors: list[ValidationError]) -> ValidationError:
    """The error to report: unknown names, then missing ones, then the shallowest value."""
    order = {"unexpected_argument": 0, "missing_argument": 1, "wrong_type": 2}

    def rank(e: ValidationError) -> tuple[int, int, str]:
        return (len(e.absolute_path), order.get(_KIND.get(str(e.validator), ""), 3), e.message)

    return min(errors, key=rank)


def validate_value(value: Any, schema: dict[str, Any], where: str) -> Problem:
    """Check one value against a schema; the detail names the JSON path from ``where``."""
    problem = _bad_float(value, where)
    if problem is not None:
        return problem
    errors = list(_validator(schema).iter_errors(value))
    if not errors:
        return None
    return _describe(_first(errors), where)


def validate_arguments(arguments: dict[str, Any], parameters: dict[str, Any]) -> Problem:
    """Check a call's arguments: no unknown names, every required one present, each valid.

    A schema that says nothing about other names is closed here, as the catalog loader
    closes it: an argument the tool does not declare would reach a real system.
    """
    if "additionalProperties" not in parameters and "unevaluatedProperties" not in parameters:
        parameters = {**parameters, "unevaluatedProperties": False}
    return validate_value(arguments, parameters, "arguments")


def argument_problems(arguments: dict[str, Any], parameters: dict[str, Any]) -> list[str]:
    """Every schema error of a call's arguments, the one :func:`validate_arguments` reports
    first, then the rest: a reviewer fixing a template wants all of them at once."""
    if "additionalProperties" not in parameters and "unevaluatedProperties" not in parameters:
        parameters = {**parameters, "unevaluatedProperties": False}
    errors = list(_validator(parameters).iter_errors(arguments))
    if not errors:
        return []
    first = _first(errors)
    ordered = [first, *sorted((e for e in errors if e is not first), key=lambda e: e.message)]
    out: list[str] = []
    for error in ordered:
        described = _describe(error, "arguments")
        if described[1] not in out:
            out.append(described[1])
    return out


def walk_schema(schema: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema of ``schema`` with its JSON path (booleans skipped)."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for key in _ONE_SCHEMA:
        if key in schema:
            yield from walk_schema(schema[key], f"{path}.{key}")
    for key in _SCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            for i, sub in enumerate(schema[key]):
                yield from walk_schema(sub, f"{path}.{key}[{i}]")
    for key in _SCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            for name, sub in schema[key].items():
                yield from walk_schema(sub, f"{path}.{key}.{name}")


def resolve_pointer(root: dict[str, Any], ref: str) -> Any:
    """The target of a local JSON pointer such as ``#/$defs/Cabin``; KeyError if none."""
    node: Any = root
    for raw in ref[2:].split("/") if ref != "#" else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(part)
    return node


def check_schema(schema: dict[str, Any], where: str) -> None:
    """Refuse, at load time, an argument schema that could not be applied as written.

    ``where`` names the file and tool; every error adds the JSON path and the fix.
    """
    try:
        ArgumentValidator.check_schema(schema, format_checker=_FORMATS)
    except SchemaError as exc:
        at = _path(f"{where}.parameters", exc.absolute_path)
        keyword = exc.absolute_path[-1] if exc.absolute_path else "the schema"
        raise CatalogError(
            f"{at}: not a valid JSON Schema (Draft 2020-12): {exc.message}. Fix the value of "
            f"{keyword!r} (e.g. 'enum' takes a list, 'minimum' a number, 'type' a JSON type)."
        ) from None
    for path, sub in walk_schema(schema, f"{where}.parameters"):
        unknown = sorted(k for k in sub if k not in KNOWN_KEYWORDS and not k.startswith("x-"))
        if unknown:
            raise CatalogError(
                f"{path}: unknown JSON Schema keyword {unknown[0]!r}; no validator would "
                "apply it. Fix the spelling, or prefix a note of your own with 'x-'."
            )
        if "pattern" in sub:
            try:
                re.compile(sub["pattern"])
            except re.error as exc:
                raise CatalogError(
                    f"{path}.pattern: invalid regular expression {sub['pattern']!r} ({exc}). "
                    "Fix the pattern: every call would otherwise be refused."
                ) from None
        for name in sub.get("patternProperties") or {}:
            try:
                re.compile(name)
            except re.error as exc:
                raise CatalogError(
                    f"{path}.patternProperties: invalid regular expression {name!r} ({exc})."
                    " Fix the pattern."
                ) from None
        ref = sub.get("$ref")
        if ref is not None:
            if not isinstance(ref, str) or not ref.startswith("#"):
                raise CatalogError(
                    f"{path}.$ref: {ref!r} points outside the tool's schema; routecheck "
                    "never fetches schemas. Copy the target under '$defs' and use "
                    "'#/$defs/<name>'."
                )
            try:
                resolve_pointer(schema, ref)
            except KeyError:
                raise CatalogError(
                    f"{path}.$ref: {ref!r} does not resolve (no such key). Add it under "
                    "'$defs' or fix the pointer."
                ) from None


def _short(value: Any, limit: int = 60, quote: bool = True) -> str:
    text = repr(value) if quote else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
