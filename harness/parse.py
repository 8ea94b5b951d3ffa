"""The output contract and its parser: a model's raw text in, a typed verdict out.

A router's output is exactly one JSON object, ``{"tool": NAME, "arguments": {...}}`` or
``{"tool": "no_tool", "reason": "..."}``. :func:`parse_tool_call` never raises on model
output, however hostile: every way an output can be wrong is an :class:`ErrorKind`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from harness.catalog import NO_TOOL, Catalog
from harness.schema import argument_problems, validate_arguments

MAX_OUTPUT_CHARS = 64 * 1024
"""Outputs longer than this are refused unread (``too_large``): a router never needs it."""

MAX_DEPTH = 32
"""Deepest nesting of arrays/objects accepted (``too_deep``); a tool call needs about four."""

ParseMode = Literal["strict", "lenient"]


class ErrorKind(StrEnum):
    """Why an output is not a valid tool call. The value is what results files store."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    TOO_DEEP = "too_deep"
    NOT_JSON = "not_json"
    DUPLICATE_KEY = "duplicate_key"
    NON_FINITE = "non_finite"
    NOT_OBJECT = "not_object"
    MISSING_TOOL = "missing_tool"
    UNKNOWN_TOOL = "unknown_tool"
    EXTRA_KEYS = "extra_keys"
    MISSING_ARGUMENTS = "missing_arguments"
    MISSING_REASON = "missing_reason"
    MISSING_ARGUMENT = "missing_argument"
    UNEXPECTED_ARGUMENT = "unexpected_argument"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
    MULTIPLE_CALLS = "multiple_calls"


class ParsedFields(BaseModel):
    """What every reading of an output says: the parser's result and the record a run
    stores share these fields, so they cannot drift apart."""

    model_config = ConfigDict(frozen=True)

    valid: bool
    tool: str | None = None
    arguments: dict[str, Any] | None = None
    reason: str | None = None
    error: ErrorKind | None = None
    detail: str = ""
    problems: tuple[str, ...] = ()
    """Every schema error of the arguments (``detail`` holds the one reported first)."""


class ParseResult(ParsedFields):
    """A validated call (``valid``) or the first reason the output is not one.

    For a valid output, ``tool`` is a catalog tool or ``no_tool``; ``arguments`` holds the
    call's arguments (empty for ``no_tool``) and ``reason`` the no-tool reason.
    """

    mode: ParseMode = "strict"
    extracted: bool = False
    """Lenient mode only: the JSON object was cut out of surrounding prose or a fence."""
    calls: tuple[ParseResult, ...] = ()
    """A JSON list of calls (a parallel answer): each call, validated."""
    attempted_tool: str | None = None
    """Invalid outputs only: the real tool the output tried to call (an unknown tool, bad
    arguments, prose around the call, a truncated call), for the false-call-attempt rate."""

    @property
    def is_tool_call(self) -> bool:
        """A valid call of a real tool (the kind of output that touches real systems)."""
        return self.valid and self.tool not in (None, NO_TOOL)

    @property
    def is_no_tool(self) -> bool:
        return self.valid and self.tool == NO_TOOL

    @property
    def label(self) -> str:
        """The confusion-matrix column: the tool name, ``no_tool``, or ``invalid``."""
        return self.tool if self.valid and self.tool is not None else "invalid"


def _fail(kind: ErrorKind, detail: str, mode: ParseMode, extracted: bool = False) -> ParseResult:
    return ParseResult(valid=False, error=kind, detail=detail, mode=mode, extracted=extracted)


class _Reject(Exception):
    """Internal: raised by JSON hooks, caught inside the parser, never escapes it."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _Reject(ErrorKind.DUPLICATE_KEY, f"key {key[:60]!r} appears twice")
        obj[key] = value
    return obj


def _constant_hook(name: str) -> Any:
    raise _Reject(ErrorKind.NON_FINITE, f"{name} is not valid JSON")


def _float_hook(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Reject(ErrorKind.NON_FINITE, f"number {text[:40]} overflows to infinity")
    return value


def _structural(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """Yield ``(index, char)`` for the characters of ``text`` outside JSON string literals.

    The one string-aware scanner behind the depth guard and the object finders, so a brace
    or quote inside a string can never confuse one of them and not the others.
    """
    in_string = escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        else:
            yield i, ch


def nesting_depth(text: str) -> int:
    """Deepest bracket nesting outside string literals (a cheap guard before ``json.loads``)."""
    depth = deepest = 0
    for _, ch in _structural(text):
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def load_json_strict(text: str) -> Any:
    """Parse one JSON document, refusing duplicate keys, NaN/Infinity and deep nesting.

    Raises ``_Reject`` (internal) with the error kind; callers in this module catch it.
    """
    if len(text) > MAX_OUTPUT_CHARS:
        raise _Reject(ErrorKind.TOO_LARGE, f"{len(text)} characters > limit {MAX_OUTPUT_CHARS}")
    if not text.strip():
        raise _Reject(ErrorKind.EMPTY, "the output is empty")
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        raise _Reject(ErrorKind.TOO_DEEP, f"nesting depth {depth} > limit {MAX_DEPTH}")
    try:
        return json.loads(
            text,
            object_pairs_hook=_pairs_hook,
            parse_constant=_constant_hook,
            parse_float=_float_hook,
        )
    except _Reject:
        raise
    except json.JSONDecodeError as exc:
        raise _Reject(ErrorKind.NOT_JSON, f"{exc.msg} at char {exc.pos}") from None
    except (ValueError, RecursionError) as exc:
        # e.g. an integer literal beyond Python's digit limit
        raise _Reject(ErrorKind.TOO_LARGE, str(exc)[:120]) from None


def embedded_json_problem(text: str) -> tuple[ErrorKind, str] | None:
    """The first reason strict JSON reading refuses an object embedded in ``text``
    (duplicate key, NaN/Infinity, an oversized number, nesting past :data:`MAX_DEPTH`).

    For output formats whose own reader runs a lenient ``json.loads`` (a chat template's
    tool-call syntax): the same call must get the same verdict in every format. Spans that
    are not JSON at all are left to that reader.
    """
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        return ErrorKind.TOO_DEEP, f"nesting depth {depth} > limit {MAX_DEPTH}"
    at = 0
    for i, ch in _structural(text):
        if ch != "{" or i < at:
            continue
        end, _ = scan_object(text, i)
        if end is None:  # never closes; the depth guard above bounds how many such scans
            continue
        at = end
        try:
            load_json_strict(text[i:end])
        except _Reject as rej:
            if rej.kind is not ErrorKind.NOT_JSON:
                return rej.kind, rej.detail
    return None


def scan_object(text: str, start: int, max_depth: int | None = None) -> tuple[int | None, bool]:
    """Scan the JSON object opening at ``text[start]`` (a ``{``), braces inside strings aside.

    Returns ``(end, too_deep)``: ``end`` is the index just past its closing ``}`` (``None``
    when it never closes); ``too_deep`` is true when braces nested past ``max_depth``.
    """
    depth = 0
    for i, ch in _structural(text, start):
        if ch == "{":
            depth += 1
            if max_depth is not None and depth > max_depth:
                return None, True
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1, False
    return None, False


_OUT, _IN, _ESCAPED = 0, 1, 2
"""Scanner states: outside a string, inside one, just after a backslash inside one."""

_TOO_DEEP = -1


class _Lane:
    """Scans that share a string state from here on, so they see every later character alike.

    Each scan's depth is ``count - base``; scans are kept by base, so one step moves them all.
    """

    __slots__ = ("bases", "count", "state")

    def __init__(self) -> None:
        self.state = _OUT
        self.count = 0
        self.bases: dict[int, list[int]] = {}

    def size(self) -> int:
        return sum(len(v) for v in self.bases.values())

    def step(self, i: int, ch: str, ends: dict[int, int]) -> None:
        if self.state == _IN:
            self.state = _ESCAPED if ch == "\\" else _OUT if ch == '"' else _IN
        elif self.state == _ESCAPED or ch == '"':
            self.state = _IN
        elif ch == "{":
            self.count += 1
            for start in self.bases.pop(self.count - MAX_DEPTH - 1, ()):
                ends[start] = _TOO_DEEP
        elif ch == "}":
            self.count -= 1
            for start in self.bases.pop(self.count, ()):
                ends[start] = i + 1

    def absorb(self, other: _Lane) -> None:
        shift = self.count - other.count
        for base, starts in other.bases.items():
            self.bases.setdefault(base + shift, []).extend(starts)


def extract_json_object(text: str) -> str | None:
    """Find the first balanced ``{...}`` in ``text`` (string-aware), for lenient mode.

    The result is what scanning from each ``{`` in turn would give (the first scan that
    closes wins; ``None`` once a scan nests deeper than :data:`MAX_DEPTH`, as such an object
    is refused as ``too_deep`` anyway), but in one pass: rescanning from every brace takes
    time quadratic in the length of a hostile output such as ``{"{\\"{\\"...``.
    """
    first = text.find("{")
    if first == -1:
        return None
    end, too_deep = scan_object(text, first, MAX_DEPTH)
    if too_deep:
        return None
    if end is not None:
        return text[first:end]
    # Every scan that starts outside a string at the same index runs in step with the
    # others from there on: at most three lanes (one per scanner state) hold them all.
    ends: dict[int, int] = {}
    starts: list[int] = []
    lanes: list[_Lane] = []
    for i in range(first, len(text)):
        ch = text[i]
        if ch == "{":
            starts.append(i)
            lane = next((ln for ln in lanes if ln.state == _OUT), None)
            if lane is None:
                lane = _Lane()
                lanes.append(lane)
            lane.bases.setdefault(lane.count, []).append(i)
        for lane in lanes:
            lane.step(i, ch, ends)
        if len(lanes) > 1:
            merged: dict[int, _Lane] = {}
            for lane in lanes:
                if not lane.bases:
                    continue
                other = merged.get(lane.state)
                if other is None:
                    merged[lane.state] = lane
                    continue
                big, small = (other, lane) if other.size() >= lane.size() else (lane, other)
                big.absorb(small)
                merged[lane.state] = big
            lanes = list(merged.values())
        elif lanes and not lanes[0].bases:
            lanes = []
    for start in starts:
        found = ends.get(start)
        if found == _TOO_DEEP:
            return None
        if found is not None:
            return text[start:found]
    return None


def _member_problem(
    data: dict[str, Any],
    key: str,
    kind: type[str] | type[dict[str, Any]],
    missing: ErrorKind,
    missing_detail: str,
    owner: str | None = None,
) -> tuple[ErrorKind, str] | None:
    """The first problem of a call object beside ``tool``: a key other than ``key``, no
    ``key``, or a ``key`` of the wrong type. ``owner`` (``no_tool``) is named in the extra-keys
    detail; without it, each extra key shown is clipped, as it may be a model's long text."""
    extra = sorted(set(data) - {"tool", key})
    if extra:
        if owner is None:
            return ErrorKind.EXTRA_KEYS, f"unexpected keys: {[k[:40] for k in extra[:5]]}"
        return ErrorKind.EXTRA_KEYS, f"unexpected keys for {owner}: {extra[:5]}"
    if key not in data:
        return missing, missing_detail
    if not isinstance(data[key], kind):
        return ErrorKind.WRONG_TYPE, f"{key}: must be {'a string' if kind is str else 'an object'}"
    return None


def validate_call(data: Any, catalog: Catalog, mode: ParseMode = "strict") -> ParseResult:
    """Check an already-decoded JSON value against the output contract and the catalog."""
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "null"
        return _fail(ErrorKind.NOT_OBJECT, f"top level is {kind}, not an object", mode)
    if "tool" not in data:
        return _fail(ErrorKind.MISSING_TOOL, "no 'tool' key", mode)
    tool_name = data["tool"]
    if not isinstance(tool_name, str):
        return _fail(ErrorKind.WRONG_TYPE, "tool: must be a string", mode)
    if tool_name == NO_TOOL:
        shape = _member_problem(
            data, "reason", str, ErrorKind.MISSING_REASON, "no_tool needs a 'reason'", "no_tool"
        )
        if shape is not None:
            return _fail(*shape, mode)
        return ParseResult(valid=True, tool=NO_TOOL, arguments={}, reason=data["reason"], mode=mode)
    tool = catalog.tool(tool_name)
    if tool is None:
        shown = tool_name if len(tool_name) <= 60 else tool_name[:57] + "..."
        return _fail(
            ErrorKind.UNKNOWN_TOOL,
            f"tool {shown!r} is not in catalog {catalog.name!r} ({', '.join(catalog.tool_names)})",
            mode,
        )
    shape = _member_problem(
        data, "arguments", dict, ErrorKind.MISSING_ARGUMENTS, "no 'arguments' object"
    )
    if shape is not None:
        return _fail(*shape, mode)
    arguments = data["arguments"]
    problem = validate_arguments(arguments, tool.parameters)
    if problem is not None:
        failed = _fail(ErrorKind(problem[0]), problem[1], mode)
        every = argument_problems(arguments, tool.parameters)
        return failed.model_copy(update={"problems": tuple(every)}) if len(every) > 1 else failed
    return ParseResult(valid=True, tool=tool.name, arguments=arguments, mode=mode)


_TOOL_KEY = re.compile(r'"tool"\s*:\s*("(?:[^"\\]|\\.)*")')


def attempted_tool(text: str) -> str | None:
    """The tool named by the first ``"tool": "..."`` in ``text``, unless it is ``no_tool``.

    Read from the raw text, not a decoded object, so a call cut off by the token limit or
    wrapped in prose still counts as the attempt it is.
    """
    found = _TOOL_KEY.search(text)
    if found is None:
        return None
    try:
        name = json.loads(found.group(1))
    except ValueError:
        return None
    if not isinstance(name, str) or name == NO_TOOL:
        return None
    return name if len(name) <= 60 else name[:57] + "..."


def parse_tool_call(text: Any, catalog: Catalog, mode: ParseMode = "strict") -> ParseResult:
    """Parse and validate one raw model output. Never raises, whatever ``text`` holds.

    Strict mode (the default, and the only one in the headline numbers) accepts exactly one
    JSON object, optionally surrounded by whitespace. Lenient mode first cuts one object
    out of prose or a code fence; its results are reported apart.
    """
    result = _parse(text, catalog, mode)
    if result.valid or not isinstance(text, str) or result.error is ErrorKind.TOO_LARGE:
        return result
    try:
        tried = attempted_tool(text)
    except Exception:  # a hostile output never crashes the parser
        tried = None
    return result if tried is None else result.model_copy(update={"attempted_tool": tried})


def _parse(text: Any, catalog: Catalog, mode: ParseMode) -> ParseResult:
    try:
        if not isinstance(text, str):
            return _fail(ErrorKind.NOT_JSON, f"output is {type(text).__name__}, not text", mode)
        if len(text) > MAX_OUTPUT_CHARS:
            return _fail(
                ErrorKind.TOO_LARGE, f"{len(text)} characters > limit {MAX_OUTPUT_CHARS}", mode
            )
        extracted = False
        body = text
        if mode == "lenient":
            stripped = text.strip()
            if not (stripped.startswith("{") and stripped.endswith("}")):
                found = extract_json_object(text)
                if found is not None:
                    body, extracted = found, True
        try:
            data = load_json_strict(body)
        except _Reject as rej:
            return _fail(rej.kind, rej.detail, mode, extracted)
        result = validate_call(data, catalog, mode)
        return result.model_copy(update={"extracted": extracted}) if extracted else result
    except Exception as exc:
        return _fail(ErrorKind.NOT_JSON, f"unparseable output ({type(exc).__name__})", mode)


def parse_tool_calls(text: Any, catalog: Catalog, mode: ParseMode = "strict") -> ParseResult:
    """Like :func:`parse_tool_call`, but a JSON list of call objects is a parallel answer.

    A valid list has ``calls`` (each validated; ``no_tool`` is not a call) and ``tool``
    set to the label of its distinct tools, sorted and joined with ``+``. Never raises.
    """
    try:
        stripped = text.strip() if isinstance(text, str) else ""
        if not stripped.startswith("["):
            return parse_tool_call(text, catalog, mode)
        try:
            data = load_json_strict(stripped)
        except _Reject as rej:
            return _fail(rej.kind, rej.detail, mode)
        if not isinstance(data, list) or not data:
            return _fail(ErrorKind.NOT_OBJECT, "top level is an empty list, not a call", mode)
        calls = []
        for i, item in enumerate(data):
            one = validate_call(item, catalog, mode)
            if not one.valid:
                return _fail(one.error or ErrorKind.NOT_JSON, f"[{i}]: {one.detail}", mode)
            if one.tool == NO_TOOL:
                return _fail(ErrorKind.EXTRA_KEYS, f"[{i}]: no_tool inside a list of calls", mode)
            calls.append(one)
        label = "+".join(sorted({c.tool for c in calls if c.tool is not None}))
        return ParseResult(valid=True, tool=label, arguments=None, calls=tuple(calls), mode=mode)
    except Exception as exc:
        return _fail(ErrorKind.NOT_JSON, f"unparseable output ({type(exc).__name__})", mode)
