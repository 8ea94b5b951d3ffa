"""The format seam's shared parts: the base class, the error, the catalog as OpenAI tools.

Kept apart from the package ``__init__`` so the format modules import it without a cycle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from harness.catalog import Catalog
from harness.errors import RoutecheckError
from harness.parse import ParseMode, ParseResult

if TYPE_CHECKING:
    from harness.golden import GoldenCase

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

    def parse_case(
        self, text: str, case: GoldenCase, catalog: Catalog, mode: ParseMode = "strict"
    ) -> ParseResult:
        """Parse the output of one case, against the case's own tools when it has some."""
        return self.parse(text, case.catalog_for(catalog), mode)


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
