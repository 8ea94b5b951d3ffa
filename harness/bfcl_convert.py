"""BFCL's schema dialect and possible answers as JSON Schema and gold calls.

BFCL writes ``dict``, ``float``, ``tuple``, ``any`` and defaults as strings; its answers
are lists of acceptable values, nested objects included. Everything changed on the way is
appended to ``notes`` so the import manifest can list it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from harness.errors import CatalogError
from harness.schema import validate_arguments, validate_value

MAX_COMBINATIONS = 64
"""Acceptable nested objects are the product of their keys' lists; more than this are cut
(and the cut is listed in the manifest)."""

_TYPES = {
    "dict": "object",
    "float": "number",
    "tuple": "array",
    "string": "string",
    "integer": "integer",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
    "number": "number",
    "null": "null",
}


def _typed_default(value: Any, kind: str | None) -> tuple[bool, Any]:
    """BFCL writes many defaults as strings (``"false"``, ``"1.2"``): the typed value, if any."""
    if not isinstance(value, str) or kind in (None, "string"):
        return True, value
    text = value.strip()
    if kind == "boolean" and text.lower() in ("true", "false"):
        return True, text.lower() == "true"
    if kind == "integer":
        try:
            return True, int(text)
        except ValueError:
            return False, None
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return False, None
        return True, number
    return False, None


def convert_schema(schema: Any, where: str, notes: list[str]) -> Any:
    """One BFCL schema in JSON Schema (Draft 2020-12); changes are appended to ``notes``."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    raw_type = schema.get("type")
    kind = _TYPES.get(raw_type) if isinstance(raw_type, str) else None
    if isinstance(raw_type, str) and raw_type != "any" and kind is None:
        raise CatalogError(f"{where}: BFCL type {raw_type!r} has no JSON Schema equivalent")
    for key, value in schema.items():
        if key == "type":
            if kind is not None:
                out["type"] = kind
        elif key == "optional":
            continue  # BFCL's marker; optionality is "not in required"
        elif key == "properties":
            if not isinstance(value, dict):
                raise CatalogError(
                    f"{where}.properties: must be an object of parameter schemas, "
                    f"not {type(value).__name__}"
                )
            out["properties"] = {
                name: convert_schema(sub, f"{where}.{name}", notes) for name, sub in value.items()
            }
        elif key == "items":
            out["items"] = convert_schema(value, f"{where}[]", notes)
        elif key == "default":
            ok, typed = _typed_default(value, kind)
            if ok and validate_value(typed, {k: v for k, v in out.items()}, where) is None:
                out["default"] = typed
                if typed is not value:
                    notes.append(f"{where}: default {value!r} read as {typed!r}")
            else:
                notes.append(f"{where}: default {value!r} dropped (not a {kind or 'value'})")
        else:
            out[key] = value
    if kind == "object" and "properties" not in out and raw_type == "dict":
        out["properties"] = {}
        out["additionalProperties"] = True
    if "default" in out and validate_value(out["default"], out, where) is not None:
        notes.append(f"{where}: default {out.pop('default')!r} dropped (fails its own schema)")
    return out


def convert_function(fn: Any, where: str, notes: list[str]) -> dict[str, Any]:
    """A BFCL function as a routecheck tool (name kept exactly as given)."""
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise CatalogError(f"{where}: a function needs a name")
    params = convert_schema(fn.get("parameters", {}), f"{where}.{fn['name']}", notes)
    if isinstance(params, dict):
        props = params.get("properties", {})
        declared = params.get("required", [])
        if not isinstance(declared, list) or not all(isinstance(r, str) for r in declared):
            # Iterating a string would read its letters as names, silently.
            raise CatalogError(
                f"{where}.{fn['name']}.required: must be a list of parameter names, "
                f"not {declared!r:.80}"
            )
        required = [r for r in declared if r in props]
        if required != declared:
            dropped = sorted(set(declared) - set(required))
            notes.append(
                f"{where}.{fn['name']}: required names not in properties dropped: {dropped}"
            )
        params["required"] = required
        params.pop("additionalProperties", None)
    return {"name": fn["name"], "description": fn.get("description", ""), "parameters": params}


def _options(values: list[Any]) -> Iterator[Any]:
    """Every acceptable value of one BFCL answer list, nested objects expanded.

    Inside an acceptable object (and an object inside an acceptable array) BFCL writes each
    key's value as a list of acceptable values again, ``""`` meaning the key may be left out.
    """
    for value in values:
        if isinstance(value, dict):
            keys = list(value)
            expanded = []
            for k in keys:
                choices = value[k] if isinstance(value[k], list) else [value[k]]
                options = list(_options([c for c in choices if c != ""]))
                expanded.append(options + ([_OMIT] if "" in choices or not options else []))
            for combo in itertools.islice(itertools.product(*expanded), MAX_COMBINATIONS):
                yield {k: v for k, v in zip(keys, combo, strict=True) if v is not _OMIT}
        elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
            per_item = [list(_options([v])) for v in value]
            yield from (
                list(combo)
                for combo in itertools.islice(itertools.product(*per_item), MAX_COMBINATIONS)
            )
        else:
            yield value


class _Omit:
    def __repr__(self) -> str:
        return "<omitted>"


_OMIT = _Omit()


def convert_call(
    name: str, answer: dict[str, Any], tool: Any, where: str, notes: list[str]
) -> dict[str, Any]:
    """One possible-answer call as a gold call: target, accept and optional."""
    arguments: dict[str, Any] = {}
    accept: dict[str, list[Any]] = {}
    optional: list[str] = []
    required = set(tool.required)
    for arg, values in answer.items():
        values = values if isinstance(values, list) else [values]
        if arg not in tool.properties:
            if "" in values:
                notes.append(
                    f"{where}.{arg}: not a parameter of {name}; may be omitted, so left out"
                )
                continue
            raise CatalogError(f"{where}: answer argument {arg!r} is not a parameter of {name}")
        omittable = "" in values and arg not in required
        candidates = list(_options([v for v in values if v != ""]))
        if "" in values and arg in required:
            if tool.properties[arg].get("type") == "string":
                candidates.append("")
            else:
                notes.append(f"{where}.{arg}: '' (may be omitted) ignored: argument is required")
        kept: list[Any] = []
        reasons: list[str] = []
        for value in candidates:
            problem = validate_value(value, tool.properties[arg], f"{name}.{arg}")
            if problem is None and tool.properties[arg]:
                problem = validate_arguments({arg: value}, _only(tool.parameters, arg))
            if problem is not None:
                notes.append(f"{where}.{arg}: acceptable value {value!r} dropped ({problem[1]})")
                reasons.append(f"{value!r}: {problem[1]}")
                continue
            if not any(json.dumps(value) == json.dumps(k) for k in kept):
                kept.append(value)
        if omittable:
            optional.append(arg)
        if kept:
            arguments[arg] = kept[0]
            if kept[1:]:
                accept[arg] = kept[1:]
        elif not omittable:
            raise CatalogError(
                f"{where}.{arg}: no acceptable value fits the function's own schema "
                f"({'; '.join(reasons) or 'none given'}): BFCL's answer contradicts its schema"
            )
    missing = sorted(required - set(arguments))
    if missing:
        raise CatalogError(f"{where}: required argument {missing[0]!r} has no answer")
    call: dict[str, Any] = {"tool": name, "arguments": arguments}
    if accept:
        call["accept"] = accept
    if optional:
        call["optional"] = optional
    return call


def _only(parameters: dict[str, Any], arg: str) -> dict[str, Any]:
    """The parameters schema with ``arg`` alone required, to check one value in context."""
    return {**parameters, "required": [arg]}
