"""``native``: the checkpoint's own chat template with ``tools=...``, its own call syntax back.

The prompt is ``tokenizer.apply_chat_template(messages, tools=...)`` with the catalog in the
OpenAI function shape; the answer is read by transformers' response parsing
(``tokenizer.parse_response``), with TRL's ``add_response_schema`` for templates that ship
without a response template. A template that ignores ``tools`` (SmolLM2's own has no tools
branch) or an answer syntax no parser knows is a usage error, never a quiet fall back to
``json``. :data:`HERMES_TEMPLATE` is a standard ChatML tool-calling template (the
Hermes/Qwen2.5 kind: ``<tool_call>{"name": ..., "arguments": ...}</tool_call>``) that can be
put on any ChatML tokenizer (``--rc-chat-template=hermes``, ``routecheck train --format
native``); vLLM's ``hermes`` tool parser and transformers' response templates read it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.catalog import NO_TOOL, Catalog
from harness.formats.base import FormatError, OutputFormat, catalog_tools
from harness.formats.openai_tools import tools_system_prompt, verdict_from_message
from harness.parse import (
    MAX_OUTPUT_CHARS,
    ErrorKind,
    ParseMode,
    ParseResult,
    embedded_json_problem,
)

ResponseParser = Callable[[str], dict[str, Any]]

HERMES_TEMPLATE = (
    "{%- if tools %}{{- '<|im_start|>system\\n' }}"
    "{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}"
    "{%- else %}{{- 'You are a helpful assistant.' }}{%- endif %}"
    '{{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.'
    "\\n\\nYou are provided with function signatures within <tools></tools> XML tags:"
    '\\n<tools>" }}'
    '{%- for tool in tools %}{{- "\\n" }}{{- tool | tojson }}{%- endfor %}'
    '{{- "\\n</tools>\\n\\nFor each function call, return a json object with function name '
    "and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n"
    '{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call>'
    '<|im_end|>\\n" }}'
    "{%- else %}{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}{%- endif %}"
    "{%- for message in messages %}"
    '{%- if (message.role == "user") or (message.role == "system" and not loop.first) or '
    '(message.role == "assistant" and not message.tool_calls) %}'
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- elif message.role == \"assistant\" %}{{- '<|im_start|>' + message.role }}"
    "{%- if message.content %}{{- '\\n' + message.content }}{%- endif %}"
    "{%- for tool_call in message.tool_calls %}"
    "{%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}"
    "{%- endif %}"
    '{{- \'\\n<tool_call>\\n{"name": "\' }}{{- tool_call.name }}'
    '{{- \'", "arguments": \' }}'
    "{%- if tool_call.arguments is string %}{{- tool_call.arguments }}"
    "{%- else %}{{- tool_call.arguments | tojson }}{%- endif %}"
    "{{- '}\\n</tool_call>' }}{%- endfor %}{{- '<|im_end|>\\n' }}"
    '{%- elif message.role == "tool" %}'
    '{%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}'
    "{{- '<|im_start|>user' }}{%- endif %}"
    "{{- '\\n<tool_response>\\n' }}{{- message.content }}{{- '\\n</tool_response>' }}"
    '{%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}'
    "{{- '<|im_end|>\\n' }}{%- endif %}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
"""The Qwen2.5 tool-calling template (Hermes syntax), with a neutral default system line;
arguments given as a JSON string are written as they are (as newer Qwen templates do)."""

HERMES_RESPONSE_TEMPLATE: dict[str, Any] = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "tool_calls": {
            "open": "<tool_call>",
            "close_pattern": r"</tool_call>\s*",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {"close_pattern": r"<\|im_end\|>\s*", "content": "text"},
    },
}
"""transformers' response template for :data:`HERMES_TEMPLATE` (as TRL sets for Qwen)."""

CHAT_TEMPLATES = {"hermes": HERMES_TEMPLATE}
"""Templates known by name to ``--rc-chat-template`` (a path to a .jinja file also works)."""

_PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": "routecheck_probe_tool",
        "description": "probe",
        "parameters": {"type": "object", "properties": {}},
    },
}


def native_row(messages: Sequence[Mapping[str, Any]], catalog: Catalog) -> dict[str, Any]:
    """A training row of the json format rewritten for the native one.

    The system prompt becomes the tools-beside-the-messages one, the catalog goes in
    ``tools`` and the answer becomes an assistant ``tool_calls`` entry (arguments as a JSON
    string, so a dataset's columns keep one shape) or, for ``no_tool``, plain text.
    """
    *prompt, answer = messages
    data = json.loads(str(answer["content"]))
    if data["tool"] == NO_TOOL:
        assistant: dict[str, Any] = {"role": "assistant", "content": data["reason"]}
    else:
        arguments = json.dumps(data["arguments"], ensure_ascii=False)
        function = {"name": data["tool"], "arguments": arguments}
        assistant = {
            "role": "assistant",
            "tool_calls": [{"type": "function", "function": function}],
        }
    turns = [dict(m) for m in prompt if m["role"] != "system"]
    system = {"role": "system", "content": tools_system_prompt(catalog)}
    return {"messages": [system, *turns, assistant], "tools": list(catalog_tools(catalog))}


def load_chat_template(value: str) -> str:
    """A template named in :data:`CHAT_TEMPLATES`, or the text of a ``.jinja`` file."""
    if value in CHAT_TEMPLATES:
        return CHAT_TEMPLATES[value]
    path = Path(value).expanduser()
    if path.is_file():
        return path.read_text(encoding="utf-8")
    raise FormatError(
        f"--rc-chat-template {value}: neither a known template ({', '.join(CHAT_TEMPLATES)}) "
        "nor a .jinja file"
    )


def template_name(tokenizer: Any) -> str:
    """A short name for the tokenizer's template in messages: its model, or ``hermes``."""
    if getattr(tokenizer, "chat_template", None) == HERMES_TEMPLATE:
        return "hermes"
    return str(getattr(tokenizer, "name_or_path", "") or "this tokenizer's")


def check_tools_template(tokenizer: Any, where: str) -> None:
    """Refuse a chat template that drops ``tools`` (the definitions never reach the prompt)."""
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    try:
        text = tokenizer.apply_chat_template(
            messages, tools=[_PROBE_TOOL], tokenize=False, add_generation_prompt=True
        )
    except Exception as exc:
        text, problem = "", f"rendering it with tools failed ({type(exc).__name__}: {exc})"
    else:
        problem = "it has no tools branch: the tool definitions never reach the prompt"
    if "routecheck_probe_tool" not in str(text):
        raise FormatError(
            f"--checkpoint {where} --rc-format native: the chat template of "
            f"{template_name(tokenizer)} cannot take tools; {problem}. Use a checkpoint whose "
            "template renders tools= (Qwen, Llama 3.1+, Mistral, Hermes...), put the standard "
            "ChatML tool template on it with --rc-chat-template=hermes (or a .jinja file), "
            "or evaluate it with --rc-format json"
        )


def ensure_response_template(tokenizer: Any, where: str) -> None:
    """Give the tokenizer a response template: its own, ours for hermes, or TRL's."""
    if getattr(tokenizer, "response_template", None) is not None:
        return
    if getattr(tokenizer, "chat_template", None) == HERMES_TEMPLATE:
        tokenizer.response_template = HERMES_RESPONSE_TEMPLATE
        return
    problem = "TRL is not installed (pip install 'routecheck[train]')"
    try:
        from trl.chat_template_utils import add_response_schema

        add_response_schema(tokenizer)
        if getattr(tokenizer, "response_template", None) is not None:
            return
        problem = "TRL set no response template for it"
    except ImportError:
        pass
    except ValueError:
        problem = "TRL's add_response_schema does not know this template"
    raise FormatError(
        f"--checkpoint {where} --rc-format native: no parser knows the tool-call syntax of "
        f"the template of {template_name(tokenizer)} ({problem}; supported: templates that "
        "ship a response_template, the Qwen 2.5/3, Llama 3.1/3.2, GLM-4, gpt-oss, LFM2, "
        "Gemma 4 and DeepSeek-R1 templates TRL knows, and --rc-chat-template=hermes)"
    )


def tokenizer_parser(tokenizer: Any) -> ResponseParser:
    """``tokenizer.parse_response`` as a one-argument reader of raw outputs."""

    def parse(text: str) -> dict[str, Any]:
        message: dict[str, Any] = tokenizer.parse_response(text, prefix="")
        return message

    return parse


def hermes_parser() -> ResponseParser:
    """A reader of Hermes-syntax outputs without a tokenizer (for replayed outputs)."""
    from transformers.utils.chat_parsing import parse_response

    def parse(text: str) -> dict[str, Any]:
        message: dict[str, Any] = parse_response(text, HERMES_RESPONSE_TEMPLATE, prefix="")
        return message

    return parse


class NativeFormat(OutputFormat):
    """Tools through the chat template; the model's own syntax read by ``parser``."""

    name = "native"

    def __init__(self, parser: ResponseParser) -> None:
        self.parser = parser

    def system_prompt(self, catalog: Catalog) -> str:
        return tools_system_prompt(catalog)

    def tools(self, catalog: Catalog) -> tuple[dict[str, Any], ...]:
        return catalog_tools(catalog)

    def parse(self, text: str, catalog: Catalog, mode: ParseMode = "strict") -> ParseResult:
        if not isinstance(text, str):
            kind = type(text).__name__
            return ParseResult(valid=False, error=ErrorKind.NOT_JSON, detail=kind, mode=mode)
        if len(text) > MAX_OUTPUT_CHARS:
            return ParseResult(
                valid=False,
                error=ErrorKind.TOO_LARGE,
                detail=f"{len(text)} characters > limit {MAX_OUTPUT_CHARS}",
                mode=mode,
            )
        problem = embedded_json_problem(text)  # the template's reader is lenient json.loads
        if problem is not None:
            kind, detail = problem
            return ParseResult(valid=False, error=kind, detail=detail, mode=mode)
        try:
            message = self.parser(text)
        except Exception as exc:
            first = (str(exc).splitlines() or [""])[0][:160]
            detail = f"the tool-call syntax does not parse ({type(exc).__name__}: {first})"
            return ParseResult(valid=False, error=ErrorKind.NOT_JSON, detail=detail, mode=mode)
        return verdict_from_message(message, catalog, mode)


__all__ = [
    "CHAT_TEMPLATES",
    "HERMES_RESPONSE_TEMPLATE",
    "HERMES_TEMPLATE",
    "NativeFormat",
    "ResponseParser",
    "check_tools_template",
    "ensure_response_template",
    "hermes_parser",
    "load_chat_template",
    "native_row",
    "tokenizer_parser",
]
