"""``openai-tools``: the catalog sent as ``tools`` (``tool_choice: "auto"``) to an
OpenAI-compatible server, and ``message.tool_calls`` read back.

The backend records the assistant message as the raw output, as JSON text:
``{"content": ..., "tool_calls": [...]}``. :func:`verdict_from_message` is the one reading
of such a message; the ``native`` format uses it too, after transformers has parsed the
model's own syntax into the same shape.
"""

from __future__ import annotations

from typing import Any

from harness.catalog import NO_TOOL, Catalog
from harness.formats.base import OutputFormat, catalog_tools
from harness.parse import (
    MAX_OUTPUT_CHARS,
    ErrorKind,
    ParseMode,
    ParseResult,
    _Reject,
    load_json_strict,
    validate_call,
)

NO_TOOL_INSTRUCTION = (
    "Call one of the tools when one fits the request. If no tool fits, do not call any "
    "tool: answer in one short sentence that says why."
)


def tools_system_prompt(catalog: Catalog) -> str:
    """The system message when tools travel beside it: the task and the no-tool rule."""
    return f"{catalog.description.rstrip()} {NO_TOOL_INSTRUCTION}".strip()


def _fail(kind: ErrorKind, detail: str, mode: ParseMode) -> ParseResult:
    return ParseResult(valid=False, error=kind, detail=detail, mode=mode)


def _content_text(content: Any) -> str | None:
    """Message content as text: a string, or the text parts of a list of parts."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        if all(isinstance(p, str) for p in parts) and len(parts) == len(content):
            return "".join(p for p in parts if isinstance(p, str))
    return None


def verdict_from_message(message: Any, catalog: Catalog, mode: ParseMode = "strict") -> ParseResult:
    """An assistant message (``content``, ``tool_calls``) in, a verdict out; never raises.

    No call and some text is ``no_tool`` with the text as the reason; one call is validated
    against the catalog, its arguments decoded when given as a JSON string; more than one
    call is ``multiple_calls``.
    """
    try:
        if not isinstance(message, dict):
            return _fail(ErrorKind.NOT_OBJECT, "the answer is not a message object", mode)
        calls = message.get("tool_calls")
        if calls is None or calls == []:
            text = _content_text(message.get("content"))
            if text is None and message.get("content") is not None:
                kind = type(message.get("content")).__name__
                return _fail(ErrorKind.WRONG_TYPE, f"content is {kind}, not text", mode)
            if not text or not text.strip():
                return _fail(ErrorKind.EMPTY, "no tool call and no text", mode)
            return ParseResult(
                valid=True, tool=NO_TOOL, arguments={}, reason=text.strip(), mode=mode
            )
        if not isinstance(calls, list):
            return _fail(ErrorKind.WRONG_TYPE, "tool_calls: must be a list", mode)
        if len(calls) > 1:
            names = [_call_name(c) for c in calls[:5]]
            return _fail(
                ErrorKind.MULTIPLE_CALLS,
                f"{len(calls)} tool calls where one is expected: {names}",
                mode,
            )
        return _one_call(calls[0], catalog, mode)
    except Exception as exc:  # a verdict, never a crash, whatever the message holds
        return _fail(ErrorKind.NOT_JSON, f"unreadable message ({type(exc).__name__})", mode)


def _function(call: Any) -> Any:
    if isinstance(call, dict) and "function" in call:
        return call["function"]
    return call


def _call_name(call: Any) -> str:
    fn = _function(call)
    name = fn.get("name") if isinstance(fn, dict) else None
    return name[:40] if isinstance(name, str) else "?"


def _one_call(call: Any, catalog: Catalog, mode: ParseMode) -> ParseResult:
    fn = _function(call)
    if not isinstance(fn, dict):
        return _fail(ErrorKind.NOT_OBJECT, "the tool call is not an object", mode)
    name = fn.get("name")
    if name is None or (isinstance(name, str) and not name.strip()):
        return _fail(ErrorKind.MISSING_TOOL, "the tool call has no function name", mode)
    if not isinstance(name, str):
        return _fail(ErrorKind.WRONG_TYPE, "function name: must be a string", mode)
    if name == NO_TOOL:
        return _fail(
            ErrorKind.UNKNOWN_TOOL,
            f"{NO_TOOL!r} is not a tool in this format; a no-tool answer is plain text",
            mode,
        )
    if "arguments" not in fn or fn["arguments"] is None:
        return _fail(ErrorKind.MISSING_ARGUMENTS, "the tool call has no arguments", mode)
    arguments = fn["arguments"]
    if isinstance(arguments, str):
        if len(arguments) > MAX_OUTPUT_CHARS:
            return _fail(ErrorKind.TOO_LARGE, f"arguments of {len(arguments)} characters", mode)
        try:
            arguments = load_json_strict(arguments)
        except _Reject as rej:
            return _fail(rej.kind, f"arguments: {rej.detail}", mode)
    return validate_call({"tool": name, "arguments": arguments}, catalog, mode)


class OpenAIToolsFormat(OutputFormat):
    """Tools beside the messages; the recorded assistant message read back."""

    name = "openai-tools"

    def system_prompt(self, catalog: Catalog) -> str:
        return tools_system_prompt(catalog)

    def tools(self, catalog: Catalog) -> tuple[dict[str, Any], ...]:
        return catalog_tools(catalog)

    def parse(self, text: str, catalog: Catalog, mode: ParseMode = "strict") -> ParseResult:
        try:
            if not isinstance(text, str):
                return _fail(ErrorKind.NOT_JSON, f"output is {type(text).__name__}", mode)
            message = load_json_strict(text)
        except _Reject as rej:
            return _fail(rej.kind, f"the recorded message: {rej.detail}", mode)
        except Exception as exc:
            return _fail(ErrorKind.NOT_JSON, f"unreadable output ({type(exc).__name__})", mode)
        return verdict_from_message(message, catalog, mode)


__all__ = ["OpenAIToolsFormat", "tools_system_prompt", "verdict_from_message"]
