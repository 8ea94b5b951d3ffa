"""Argument validation by ``jsonschema`` (Draft 2020-12, with its format checker).

A thin layer: it checks a catalog's argument schemas at load time (metaschema, regexes,
``$ref`` targets, unknown keywords) and maps the errors of a model's arguments onto
routecheck's error kinds, with a JSON path such as ``arguments.legs[1].city``. Two rules
are routecheck's own and stricter than the draft: ``3.0`` is not an ``integer`` (a router
that writes it has the type wrong) and ``enum``/``const`` compare JSON types too (``1.0``
is not ``1`` and ``true`` is not ``1``).

Regular expressions (``pattern``, ``patternProperties``) run on the third-party ``regex``
engine with a time bound, not on Python's ``re``: a catalog pattern that backtracks
(``^(a+)+$``) and a hostile model value would otherwise stall a run for hours. A value
whose check runs out of time is refused, never passed.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import regex  # type: ignore[import-untyped]
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


PATTERN_TIMEOUT = 0.1
"""Seconds one regex search of a ``pattern`` or ``patternProperties`` check may run.

A backtracking engine takes exponential time on some pattern/value pairs (``^(a+)+$``
against ``"aaaa...!"``), and the value is a model's output, which may be hostile: without a
bound one argument can stall a whole run. A sane pattern needs microseconds on an argument;
a search that runs out reports a violation ("pattern check exceeded 0.1 s")."""

PATTERN_BUDGET = 1.0
"""Seconds all the regex searches of one validation may take together: an output of 64 KiB
can hold thousands of strings, each of which could use up :data:`PATTERN_TIMEOUT`."""


class _Clock:
    """The deadline of one validation's regex searches, and the first search that ran out."""

    __slots__ = ("deadline", "exceeded", "slow")

    def __init__(self) -> None:
        self.deadline = time.monotonic() + PATTERN_BUDGET
        self.exceeded: str | None = None
        # (pattern, text) pairs that ran out: ``unevaluatedProperties`` and the keywords
        # beside it search the same names again, and would spend the bound each time.
        self.slow: set[tuple[str, str]] = set()


_CLOCK: ContextVar[_Clock | None] = ContextVar("routecheck_pattern_clock", default=None)


@contextmanager
def pattern_budget() -> Iterator[_Clock]:
    """Share :data:`PATTERN_BUDGET` among the regex searches run inside the block; the
    clock's ``exceeded`` then says whether any search ran out (a value it checked is invalid,
    whatever the schema's ``not`` or ``anyOf`` made of the failed search)."""
    clock = _Clock()
    token = _CLOCK.set(clock)
    try:
        yield clock
    finally:
        _CLOCK.reset(token)


class PatternUnchecked(Exception):
    """A regex search that could not tell: it ran out of time (``reason`` says which bound),
    or the pattern does not compile (a schema that never went through :func:`check_schema`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Any:
    """A catalog regex compiled by ``regex`` (``re``-compatible syntax, but with a timeout)."""
    return regex.compile(pattern)


def search_pattern(pattern: str, text: str) -> bool:
    """Whether ``pattern`` occurs in ``text``, within the time bounds; :class:`PatternUnchecked`
    when that cannot be told in time (recorded on the current :func:`pattern_budget`) or the
    pattern does not compile."""
    clock = _CLOCK.get()
    limit = PATTERN_TIMEOUT
    reason = f"pattern check exceeded {PATTERN_TIMEOUT} s"
    if clock is not None and clock.deadline - time.monotonic() < limit:
        limit = clock.deadline - time.monotonic()
        reason = f"pattern checks exceeded {PATTERN_BUDGET} s in total"
    try:
        if limit <= 0 or (clock is not None and (pattern, text) in clock.slow):
            raise TimeoutError(reason)
        return compile_pattern(pattern).search(text, timeout=limit) is not None
    except regex.error as exc:
        raise PatternUnchecked(f"invalid pattern: {exc}") from None
    except TimeoutError:
        if clock is not None:
            clock.slow.add((pattern, text))
            if clock.exceeded is None:
                clock.exceeded = (
                    f"could not be checked against pattern {_short(pattern)} ({reason})"
                )
        raise PatternUnchecked(reason) from None


class _Unchecked(ValidationError):  # type: ignore[misc]
    """A value whose regex check ran out of time: a violation, reported as such."""


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    """``pattern`` on the time-bounded engine (else as ``jsonschema``'s own)."""
    if not validator.is_type(instance, "string"):
        return
    try:
        found = search_pattern(pattern, instance)
    except PatternUnchecked as exc:
        yield _Unchecked(f"could not be checked against pattern {pattern!r} ({exc.reason})")
        return
    if not found:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _key_matches(pattern: str, key: str) -> bool | _Unchecked:
    """Whether a property name matches a ``patternProperties`` regex, or the error when the
    search ran out of time."""
    try:
        return search_pattern(pattern, key)
    except PatternUnchecked as exc:
        return _Unchecked(
            f"property name {_short(key)} could not be checked against pattern "
            f"{pattern!r} ({exc.reason})"
        )


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    """``patternProperties`` on the time-bounded engine."""
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            matched = _key_matches(pattern, key)
            if isinstance(matched, _Unchecked):
                yield matched
            elif matched:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, extra: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    """``additionalProperties`` with ``patternProperties`` names matched on the time-bounded
    engine (each pattern on its own: ``jsonschema`` joins them with ``|``)."""
    if not validator.is_type(instance, "object"):
        return
    declared = schema.get("properties", {})
    extras: list[str] = []
    for key in instance:
        if key in declared:
            continue
        hits = [_key_matches(p, key) for p in schema.get("patternProperties", {})]
        unchecked = [hit for hit in hits if isinstance(hit, _Unchecked)]
        if unchecked:
            yield unchecked[0]
        elif not any(hits):
            extras.append(key)
    if validator.is_type(extra, "object"):
        for key in extras:
            yield from validator.descend(instance[key], extra, path=key)
    elif not extra and extras:
        names = ", ".join(repr(key) for key in sorted(extras))
        yield ValidationError(f"Additional properties are not allowed ({names} unexpected)")


def _evaluated_keys(validator: Any, instance: dict[str, Any], schema: Any) -> set[str]:
    """The property names ``schema`` evaluates in ``instance``, as ``jsonschema``'s
    ``find_evaluated_property_keys_by_schema`` finds them (the same keywords, the same
    order), but with ``patternProperties`` matched on the time-bounded engine."""
    if not isinstance(schema, dict):
        return set()
    keys: set[str] = set()
    for keyword in ("$ref", "$dynamicRef"):
        if (ref := schema.get(keyword)) is not None:
            resolved = validator._resolver.lookup(ref)
            inner = validator.evolve(schema=resolved.contents, _resolver=resolved.resolver)
            keys |= _evaluated_keys(inner, instance, resolved.contents)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        keys |= properties.keys() & instance.keys()
    for keyword in ("additionalProperties", "unevaluatedProperties"):
        if (sub := schema.get(keyword)) is not None:
            keys |= {k for k, v in instance.items() if _no_error(validator.descend(v, sub))}
    for pattern in schema.get("patternProperties", {}):
        # An unchecked name counts as evaluated: the patternProperties keyword reports it.
        keys |= {k for k in instance if _key_matches(pattern, k)}
    for name, sub in (schema.get("dependentSchemas") or {}).items():
        if name in instance:
            keys |= _evaluated_keys(validator, instance, sub)
    for keyword in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(keyword, []):
            if _no_error(validator.descend(instance, sub)):
                keys |= _evaluated_keys(validator, instance, sub)
    if "if" in schema:
        if validator.evolve(schema=schema["if"]).is_valid(instance):
            keys |= _evaluated_keys(validator, instance, schema["if"])
            keys |= _evaluated_keys(validator, instance, schema.get("then"))
        else:
            keys |= _evaluated_keys(validator, instance, schema.get("else"))
    return keys


def _no_error(errors: Iterator[ValidationError]) -> bool:
    return next(errors, None) is None


def _unevaluated_properties(
    validator: Any, unevaluated: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    """``unevaluatedProperties`` whose ``patternProperties`` lookups are time-bounded (the
    loader adds ``false`` to every tool, so this runs on every call)."""
    if not validator.is_type(instance, "object"):
        return
    evaluated = _evaluated_keys(validator, instance, schema)
    bad = [
        key
        for key in instance
        if key not in evaluated
        and not _no_error(validator.descend(instance[key], unevaluated, path=key))
    ]
    if not bad:
        return
    names = ", ".join(repr(key) for key in sorted(bad))
    if unevaluated is False:
        yield ValidationError(f"Unevaluated properties are not allowed ({names} unexpected)")
    else:
        yield ValidationError(
            f"Unevaluated properties are not valid under the given schema ({names} unevaluated "
            "and invalid)"
        )


_TYPES = Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer)
ArgumentValidator = validators.extend(
    Draft202012Validator,
    validators={
        "enum": _enum,
        "const": _const,
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
        "unevaluatedProperties": _unevaluated_properties,
    },
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


def non_finite(value: Any, where: str) -> str | None:
    """Where NaN or Infinity sits in a value (``where.minimum: NaN and Infinity are not
    JSON``), or ``None``: the check golden targets and model outputs get, for catalogs."""
    problem = _bad_float(value, where)
    return None if problem is None else problem[1]


_KIND = {
    "type": "wrong_type",
    "required": "missing_argument",
    "additionalProperties": "unexpected_argument",
    "unevaluatedProperties": "unexpected_argument",
}


def _describe(error: ValidationError, where: str) -> tuple[str, str]:
    at = _path(where, error.absolute_path)
    if isinstance(error, _Unchecked):
        return "invalid_value", f"{at}: {error.message}"
    kind = _KIND.get(str(error.validator), "invalid_value")
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
    with pattern_budget() as clock:
        errors = list(_validator(schema).iter_errors(value))
    if not errors:
        if clock.exceeded is not None:
            # A search ran out where its failure made the value pass (``not``, ``anyOf``):
            # an unchecked value is still refused.
            return "invalid_value", f"{where}: a value {clock.exceeded}"
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
    with pattern_budget() as clock:
        errors = list(_validator(parameters).iter_errors(arguments))
    if not errors:
        return [] if clock.exceeded is None else [f"arguments: a value {clock.exceeded}"]
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
    return _at(root, _pointer(root, ref))


def _index(part: str) -> int:
    """A pointer token as a list index, or ``-1`` (``str.isdigit`` also admits ``"²"``, and
    ``int`` refuses thousands of digits)."""
    return int(part) if part.isascii() and part.isdigit() and len(part) < 19 else -1


def _pointer(root: Any, ref: str) -> tuple[str, ...]:
    """The tokens a local pointer walks, written one way (``01`` is ``1``); KeyError if none."""
    node: Any = root
    tokens: list[str] = []
    for raw in ref[2:].split("/") if ref != "#" else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and 0 <= _index(part) < len(node):
            part = str(_index(part))
            node = node[int(part)]
        else:
            raise KeyError(part)
        tokens.append(part)
    return tuple(tokens)


def _at(root: Any, tokens: tuple[str, ...]) -> Any:
    """The node at canonical pointer ``tokens`` (each resolved when it was made)."""
    node = root
    for token in tokens:
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def _dotted(root: Any, tokens: tuple[str, ...], base: str) -> str:
    """``tokens`` as an error path in :func:`walk_schema`'s style (``.allOf[0].not``)."""
    out, node = base, root
    for token in tokens:
        if isinstance(node, list):
            out, node = f"{out}[{token}]", node[int(token)]
        else:
            out, node = f"{out}.{token}", node[token]
    return out


_SAME_VALUE = ("not", "if", "then", "else")
"""Keywords whose subschema applies to the very value (not a property or item of it)."""


def _same_value_edges(root: Any, tokens: tuple[str, ...]) -> list[tuple[tuple[str, ...], str]]:
    """The subschemas that apply to the same value as the one at ``tokens``, each with the
    keyword that leads there: a reference or an in-place applicator (``allOf``, ``not``...)."""
    node = _at(root, tokens)
    if not isinstance(node, dict):
        return []
    edges: list[tuple[tuple[str, ...], str]] = []
    for keyword in ("$ref", "$dynamicRef"):
        ref = node.get(keyword)
        if isinstance(ref, str) and (ref == "#" or ref.startswith("#/")):
            with suppress(KeyError):  # refused by check_schema as "does not resolve"
                edges.append((_pointer(root, ref), keyword))
    edges += [((*tokens, k), k) for k in _SAME_VALUE if k in node]
    for keyword in ("allOf", "anyOf", "oneOf"):
        if isinstance(node.get(keyword), list):
            edges += [((*tokens, keyword, str(i)), keyword) for i in range(len(node[keyword]))]
    if isinstance(node.get("dependentSchemas"), dict):
        edges += [
            ((*tokens, "dependentSchemas", n), "dependentSchemas") for n in node["dependentSchemas"]
        ]
    return edges


def _schema_tokens(schema: Any, tokens: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The pointer of every subschema, in :func:`walk_schema`'s order (booleans skipped)."""
    if not isinstance(schema, dict):
        return
    yield tokens
    for key in _ONE_SCHEMA:
        if key in schema:
            yield from _schema_tokens(schema[key], (*tokens, key))
    for key in _SCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            for i, sub in enumerate(schema[key]):
                yield from _schema_tokens(sub, (*tokens, key, str(i)))
    for key in _SCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            for name, sub in schema[key].items():
                yield from _schema_tokens(sub, (*tokens, key, name))


def _check_ref_cycles(schema: dict[str, Any], base: str) -> None:
    """Refuse a ``$ref`` cycle that never descends into a property or item, such as
    ``{"$defs": {"A": {"$ref": "#/$defs/A"}}}``: ``jsonschema`` would follow it until Python's
    recursion limit on every call. A tree (a node whose ``properties`` refer back to the
    node) descends into the value at each turn, so it ends, and is kept."""
    done: set[tuple[str, ...]] = set()
    for start in _schema_tokens(schema):
        if start in done:
            continue
        # Iterative depth-first search over same-value edges; ``stack`` is the current path.
        stack = [(start, iter(_same_value_edges(schema, start)))]
        on_path = {start: 0}
        labels: list[str] = []
        while stack:
            node, edges = stack[-1]
            step = next(edges, None)
            if step is None:
                stack.pop()
                del on_path[node]
                done.add(node)
                if labels:
                    labels.pop()
                continue
            target, keyword = step
            if target in on_path:
                _refuse_cycle(
                    schema,
                    base,
                    [n for n, _ in stack[on_path[target] :]],
                    [*labels[on_path[target] :], keyword],
                )
            if target not in done:
                on_path[target] = len(stack)
                stack.append((target, iter(_same_value_edges(schema, target))))
                labels.append(keyword)


def _refuse_cycle(
    schema: dict[str, Any], base: str, nodes: list[tuple[str, ...]], keywords: list[str]
) -> None:
    """Raise the error for a same-value cycle through ``nodes`` (``keywords[i]`` leads on from
    ``nodes[i]``), naming the first reference in it."""
    first = next(i for i, k in enumerate(keywords) if k in ("$ref", "$dynamicRef"))
    at = _dotted(schema, nodes[first], base)
    ref = _at(schema, nodes[first])[keywords[first]]

    def pointer(tokens: tuple[str, ...]) -> str:
        return "#" + "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)

    chain = " -> ".join(pointer(n) for n in [*nodes[first:], *nodes[: first + 1]])
    raise CatalogError(
        f"{at}.{keywords[first]}: {ref!r} is a reference cycle ({chain}) that never descends "
        "into a property or item of the value, so validating any call would recurse forever. "
        'Point the $ref at a schema that says what the value is (e.g. {"type": "string"}); '
        "a recursive schema must recurse inside 'properties' or 'items'."
    )


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
                _compile_both(sub["pattern"])
            except (re.error, regex.error) as exc:
                raise CatalogError(
                    f"{path}.pattern: invalid regular expression {sub['pattern']!r} ({exc}). "
                    "Fix the pattern: every call would otherwise be refused."
                ) from None
        for name in sub.get("patternProperties") or {}:
            try:
                _compile_both(name)
            except (re.error, regex.error) as exc:
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
    _check_ref_cycles(schema, f"{where}.parameters")


def _compile_both(pattern: str) -> None:
    """Compile a catalog regex as ``re`` (the ``regex`` format, other readers) and as
    ``regex`` (the validator) do; either engine's ``error`` when one refuses it."""
    re.compile(pattern)
    compile_pattern(pattern)


def _short(value: Any, limit: int = 60, quote: bool = True) -> str:
    text = repr(value) if quote else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
