"""The output grammar of constrained decoding: the contract's JSON shape, built from a catalog.

``--rc-decoding=constrained`` lets a model write only outputs this grammar accepts: one
compact JSON object (no spaces, as routecheck's prompt and trained routers write it) that
is ``{"tool":NAME,"arguments":{...}}`` for a catalog tool, its arguments valid under the
tool's schema, or ``{"tool":"no_tool","reason":"..."}``. The grammar is a JSON Schema
(engine-neutral); :mod:`llguidance` turns it into a token mask in the transformers backend.

A grounded argument (``"x-grounded": true`` with a ``pattern``) may only take a value the
pattern finds in the request's user messages, when it finds any: the schema becomes an
``enum`` of those matches, so a router cannot write an id the user never gave.

A catalog the engine cannot express is refused before any model call, naming the tool,
the argument path and the feature: constrained decoding never quietly becomes free.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import regex  # type: ignore[import-untyped]

from harness.catalog import NO_TOOL, Catalog, Tool
from harness.errors import CatalogError
from harness.schema import (
    PATTERN_TIMEOUT,
    ArgumentValidator,
    compile_pattern,
    pattern_budget,
    walk_schema,
)

DECODINGS = ("free", "constrained")
"""``free``: the model writes anything (the default); ``constrained``: only valid calls."""

ENGINE = "llguidance"

JSON_OPTIONS: Any = {
    "whitespace_flexible": False,
    "item_separator": ",",
    "key_separator": ":",
}
"""Compact JSON: long forced runs (``","arguments":{"``) that jump-forward appends at once."""

_APPLICATORS = ("allOf", "anyOf", "oneOf", "$ref", "if", "dependentSchemas", "not")


class GrammarError(CatalogError):
    """A catalog whose argument schemas the grammar engine cannot express."""


def check_decoding(name: str) -> str | None:
    """The problem with a ``--rc-decoding`` value, or ``None`` when it is one of ours."""
    if name in DECODINGS:
        return None
    return f"--rc-decoding {name!r}: choose one of {', '.join(DECODINGS)}"


def _closed(schema: Any) -> Any:
    """``schema`` without ``x-`` keys and with ``unevaluatedProperties`` read as
    ``additionalProperties`` where they mean the same (an object with no applicators):
    the catalog loader closes every argument object that way, and the engine knows only
    the latter."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items() if not k.startswith("x-")}
    for key in ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas"):
        if isinstance(schema.get(key), dict):  # names here are data, not keywords
            out[key] = {name: _closed(sub) for name, sub in schema[key].items()}
    if (
        "unevaluatedProperties" in out
        and "additionalProperties" not in out
        and not any(k in out for k in _APPLICATORS)
    ):
        out["additionalProperties"] = out.pop("unevaluatedProperties")
    return out


def _user_text(messages: Sequence[dict[str, Any]] | None) -> str:
    return "\n".join(str(m.get("content") or "") for m in messages or () if m.get("role") == "user")


def grounded_values(prop: dict[str, Any], text: str) -> list[str]:
    """The distinct matches (in order) of a grounded argument's ``pattern`` in ``text`` that
    are valid values of the argument.

    The search is time-bounded (:data:`harness.schema.PATTERN_TIMEOUT`), as in validation: a
    catalog pattern that backtracks on the request's text must not stall the run. When any
    search runs out, no values are returned, so the argument keeps its schema unnarrowed
    rather than narrowed to an incomplete list.
    """
    try:
        pattern = compile_pattern(prop["pattern"])
    except (regex.error, TypeError):
        return []
    validator = ArgumentValidator(prop)
    found: list[str] = []
    with pattern_budget() as clock:
        try:
            matches = [m.group(0) for m in pattern.finditer(text, timeout=PATTERN_TIMEOUT)]
        except TimeoutError:
            return []
        for value in matches:
            if value and value not in found and validator.is_valid(value):
                found.append(value)
    return [] if clock.exceeded is not None else found


def _arguments(tool: Tool, index: int, text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """One tool's argument schema for the grammar, and the definitions it needs at the root."""
    params = copy.deepcopy(tool.parameters)
    for name, prop in params.get("properties", {}).items():
        if isinstance(prop, dict) and prop.get("x-grounded") is True and "pattern" in prop:
            values = grounded_values(prop, text)
            if values:
                params["properties"][name] = {"type": "string", "enum": values}
    params = _closed(params)
    if "$ref" not in json.dumps(params):
        return params, {}
    # Local pointers ("#/$defs/X") resolve from the root of the combined schema, where this
    # tool's whole schema lives under its own name.
    home = f"#/$defs/tool{index}"

    def rebase(node: Any) -> Any:
        if isinstance(node, list):
            return [rebase(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {k: rebase(v) for k, v in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            out["$ref"] = home + ref[1:]
        return out

    return {"$ref": home}, {f"tool{index}": rebase(params)}


def output_schema(
    catalog: Catalog, messages: Sequence[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The grammar of every valid output for ``catalog`` (``messages`` ground arguments)."""
    text = _user_text(messages)
    branches: list[dict[str, Any]] = []
    defs: dict[str, Any] = {}
    for index, tool in enumerate(catalog.tools):
        arguments, needed = _arguments(tool, index, text)
        defs.update(needed)
        branches.append(
            {
                "type": "object",
                "properties": {"tool": {"const": tool.name}, "arguments": arguments},
                "required": ["tool", "arguments"],
                "additionalProperties": False,
            }
        )
    branches.append(
        {
            "type": "object",
            "properties": {"tool": {"const": NO_TOOL}, "reason": {"type": "string"}},
            "required": ["tool", "reason"],
            "additionalProperties": False,
        }
    )
    schema: dict[str, Any] = {"anyOf": branches}
    if defs:
        schema["$defs"] = defs
    return schema


@lru_cache(maxsize=256)
def engine_problem(schema_json: str) -> str | None:
    """What the engine says is wrong with a JSON schema (``None``: it can express it)."""
    import llguidance

    grammar = llguidance.LLMatcher.grammar_from_json_schema(schema_json, overrides=JSON_OPTIONS)
    is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar)
    if not is_error:
        return None
    return " ".join(messages[0].split()) if messages else "the engine refused it"


def _feature(tool: Tool, index: int) -> tuple[str, str] | None:
    """The deepest argument path of ``tool`` the engine refuses, and the engine's words."""
    arguments, defs = _arguments(tool, index, "")
    if defs:
        arguments = defs[f"tool{index}"]
    root_defs = {"$defs": defs} if defs else {}
    failing: list[tuple[str, str]] = []
    for path, sub in walk_schema(arguments, "arguments"):
        problem = engine_problem(json.dumps({**sub, **root_defs}, sort_keys=True))
        if problem is not None:
            failing.append((path, problem))
    if not failing:
        return None
    return max(failing, key=lambda f: f[0].count(".") + f[0].count("["))


def check_constrainable(catalog: Catalog, where: str = "") -> None:
    """Refuse a catalog the grammar engine cannot express, naming tool, path and feature.

    Raises :class:`GrammarError`; also when the engine is not installed.
    """
    try:
        import llguidance  # noqa: F401
    except ImportError as exc:
        raise GrammarError(
            f"--rc-decoding constrained needs the {ENGINE} package (pip install {ENGINE}): {exc}"
        ) from None
    if engine_problem(json.dumps(output_schema(catalog), sort_keys=True)) is None:
        return
    for index, tool in enumerate(catalog.tools):
        found = _feature(tool, index)
        if found is not None:
            path, problem = found
            raise GrammarError(
                f"{where or 'catalog ' + repr(catalog.name)}: tool {tool.name!r}: {path}: "
                f"{ENGINE} cannot express this schema ({problem}), so --rc-decoding "
                "constrained cannot hold this tool to it. Simplify the schema there or use "
                "--rc-decoding free."
            )
    whole = engine_problem(json.dumps(output_schema(catalog), sort_keys=True))
    raise GrammarError(
        f"{where or 'catalog ' + repr(catalog.name)}: {ENGINE} cannot express the output "
        f"grammar ({whole}); use --rc-decoding free."
    )


def check_support(
    mode: str, decodings: Sequence[str], checkpoint: str | None, format_name: str
) -> None:
    """Refuse ``constrained`` where it cannot be honoured: a backend that cannot mask its
    model's tokens (``mock:`` replays, OpenAI-compatible servers) or a format other than
    ``json`` (whose grammar this is)."""
    if mode == "free":
        return
    if check_decoding(mode):
        raise CatalogError(str(check_decoding(mode)))
    if mode not in decodings:
        raise GrammarError(
            f"--rc-decoding {mode}: the backend for --checkpoint {checkpoint} cannot hold "
            "a model to a grammar (only transformers checkpoints can); use --rc-decoding free"
        )
    if format_name != "json":
        raise GrammarError(
            f"--rc-decoding {mode}: the grammar is the json format's contract; "
            f"--rc-format {format_name} cannot be constrained (use --rc-format json)"
        )
