"""Output formats: how a catalog is put to a model and how its answer is read back.

* ``json`` (the default): routecheck's own contract, one JSON object per answer;
* ``native``: the tokenizer's own chat template rendered with ``tools=...`` and the answer
  read back in the model family's tool-call syntax (transformers' response parsing);
* ``openai-tools``: the catalog sent as ``tools`` to an OpenAI-compatible server and
  ``message.tool_calls`` read back.

Every format turns a raw output into the same :class:`harness.parse.ParseResult`, so
metrics, gates, reports and baselines do not care which one a run used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.formats.base import FORMATS, FormatError, OutputFormat, catalog_tools

if TYPE_CHECKING:
    from harness.backends.base import Backend


def get_format(name: str, backend: Backend | None = None) -> OutputFormat:
    """The format called ``name``; ``native`` reads outputs with ``backend``'s parser."""
    if name == "json":
        from harness.formats.json import JsonFormat

        return JsonFormat()
    if name == "openai-tools":
        from harness.formats.openai_tools import OpenAIToolsFormat

        return OpenAIToolsFormat()
    if name == "native":
        from harness.formats.native import NativeFormat

        if backend is None:
            raise FormatError("--rc-format native needs the backend that reads the outputs")
        return NativeFormat(backend.response_parser())
    raise FormatError(check_format_name(name))


def check_format_name(name: str) -> str:
    """The message for an unknown format name (empty when the name is known)."""
    if name in FORMATS:
        return ""
    return (
        f"--rc-format {name!r} is not a known output format; use json (routecheck's "
        "one-object contract), native (the checkpoint's own chat template and tool-call "
        "syntax) or openai-tools (message.tool_calls from an OpenAI-compatible server)"
    )


__all__ = [
    "FORMATS",
    "FormatError",
    "OutputFormat",
    "catalog_tools",
    "check_format_name",
    "get_format",
]
