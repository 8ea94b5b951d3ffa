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

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from harness.catalog import Catalog
from harness.errors import RoutecheckError
from harness.parse import ParseMode, ParseResult

if TYPE_CHECKING:
    from harness.backends.base import Backend

FORMATS = ("json", "native", "openai-tools")
"""Every output format, in the order the docs list them."""


class FormatError(RoutecheckError, ValueError):
    """A format that does not exist, or that this backend or tokenizer cannot produce."""


class OutputFormat(ABC):
    """One way of prompting for and reading a tool call. Parsing never raises."""

    name: str = ""

    @abstractmethod
    def system_prompt(self, catalog: Catalog) -> str:
        """The system message of every request of ``catalog``."""

    def tools(self, catalog: Catalog) -> tuple[dict[str, Any], ...] | None:
        """Tools passed beside the messages (``None``: the system prompt lists them)."""
        return None

    @abstractmethod
    def parse(self, text: str, catalog: Catalog, mode: ParseMode = "strict") -> ParseResult:
        """A raw output in, a verdict out; never raises, whatever ``text`` holds."""


def catalog_tools(catalog: Catalog) -> tuple[dict[str, Any], ...]:
    """The catalog in the OpenAI function shape that chat templates and servers accept."""
    return tuple(
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": {
                    **tool.parameters,
                    "properties": {
                        name: {k: v for k, v in prop.items() if not k.startswith("x-")}
                        for name, prop in tool.properties.items()
                    },
                },
            },
        }
        for tool in catalog.tools
    )


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
