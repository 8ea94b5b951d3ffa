"""``json``: routecheck's own contract, ``{"tool": NAME, "arguments": {...}}`` or
``{"tool": "no_tool", "reason": "..."}``, parsed by :func:`harness.parse.parse_tool_call`."""

from __future__ import annotations

from harness.catalog import Catalog
from harness.formats.base import OutputFormat
from harness.golden import GoldenCase
from harness.parse import ParseMode, ParseResult, parse_tool_call
from harness.scoring import parse_output


class JsonFormat(OutputFormat):
    """The catalog's tools and the contract in the system prompt; one JSON object back."""

    name = "json"

    def system_prompt(self, catalog: Catalog) -> str:
        return catalog.system_prompt()

    def parse(self, text: str, catalog: Catalog, mode: ParseMode = "strict") -> ParseResult:
        return parse_tool_call(text, catalog, mode)

    def parse_case(
        self, text: str, case: GoldenCase, catalog: Catalog, mode: ParseMode = "strict"
    ) -> ParseResult:
        """A parallel case reads a JSON list of calls; a one-call case refuses several."""
        return parse_output(text, case, catalog, mode)
