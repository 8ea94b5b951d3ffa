"""The golden-case model: a request, the call (or calls) it should get, and its split.

Loading and validating golden files is :mod:`harness.golden`'s job; these are the
immutable values every other module reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from harness.catalog import Catalog


class Category(StrEnum):
    """The four kinds of request. Only ``positive`` wants a tool call."""

    POSITIVE = "positive"
    UNDERSPECIFIED = "underspecified"
    INFO_REQUEST = "info_request"
    CHITCHAT = "chitchat"

    @property
    def wants_tool(self) -> bool:
        return self is Category.POSITIVE


Split = Literal["dev", "holdout", "sealed"]
"""Which part of a golden set a case belongs to. ``dev`` is what training and the feedback
loop may look at; ``holdout`` is never trained on; ``sealed`` is never trained on and no
recipe choice is made on it either."""
SPLITS: tuple[Split, ...] = get_args(Split)
SLICES: tuple[str, ...] = ("all", *SPLITS)
"""The slices a run reports metrics for: every case, then each split. The one list of split
names that options, markers, results files and tables read."""


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["user", "assistant", "system", "tool"]
    content: str


class GoldCall(BaseModel):
    """One gold call of a parallel target, with its own accepted values and omissions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    accept: dict[str, list[Any]] = Field(default_factory=dict)
    optional: tuple[str, ...] = ()


PARALLEL_SEPARATOR = "+"


def parallel_label(tools: Iterable[str]) -> str:
    """The confusion-matrix label of several calls: their distinct tools, sorted, joined."""
    return PARALLEL_SEPARATOR.join(sorted(set(tools)))


class Target(BaseModel):
    """The gold answer: a tool and its arguments, or ``no_tool``, or parallel ``calls``.

    For a parallel target ``tool`` is the label of its calls (``a+b``) and ``arguments``
    is empty; ``calls`` holds the calls, in no particular order.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    calls: tuple[GoldCall, ...] = ()

    @model_serializer(mode="wrap")
    def _drop_empty_calls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if not self.calls:
            data.pop("calls", None)
        return data

    @property
    def parallel(self) -> bool:
        return bool(self.calls)


class GoldenCase(BaseModel):
    """One golden case. ``messages`` (a conversation) replaces ``prompt`` when given."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    category: Category
    prompt: str | None = None
    messages: tuple[Message, ...] | None = None
    target: Target
    accept: dict[str, list[Any]] = Field(default_factory=dict)
    optional: tuple[str, ...] = Field(
        default=(), description="Arguments that may be left out (given, they must match)"
    )
    split: Split = "dev"
    catalog: str = ""
    source: str = Field(default="", description="file:line the case was read from")
    tools: Catalog | None = Field(
        default=None, description="This case's own tools, replacing the folder's catalog"
    )

    def catalog_for(self, folder: Catalog) -> Catalog:
        """The tools this case offers: its own, or its folder's catalog."""
        return self.tools if self.tools is not None else folder

    def gold_calls(self) -> list[GoldCall]:
        """Every gold call with its accepted values and omissions (one unless parallel)."""
        if self.target.calls:
            return list(self.target.calls)
        return [
            GoldCall(
                tool=self.target.tool,
                arguments=self.target.arguments,
                accept=self.accept,
                optional=self.optional,
            )
        ]

    @property
    def key(self) -> str:
        """Unique across catalogs: ``catalog/id``."""
        return f"{self.catalog}/{self.id}" if self.catalog else self.id

    def chat(self, system_prompt: str) -> list[dict[str, str]]:
        """The chat messages a model sees: the catalog's system prompt, then the request."""
        turns = (
            [m.model_dump() for m in self.messages]
            if self.messages is not None
            else [{"role": "user", "content": self.prompt or ""}]
        )
        if turns and turns[0]["role"] == "system":
            return turns
        return [{"role": "system", "content": system_prompt}, *turns]

    @property
    def text(self) -> str:
        """The request as one string, for reports and de-duplication."""
        if self.messages is not None:
            return "\n".join(f"{m.role}: {m.content}" for m in self.messages)
        return self.prompt or ""


class GoldenSet(BaseModel):
    """A catalog and its cases, as loaded from one folder (or one file)."""

    model_config = ConfigDict(frozen=True)

    catalog: Catalog
    cases: tuple[GoldenCase, ...]
    files: tuple[str, ...]
    fingerprint: str
    format: str | None = None
    """The output format the folder's catalog file declares (``x-format``), if any."""

    def catalog_for(self, case: GoldenCase) -> Catalog:
        """The tools one of this set's cases offers (its own or the folder's)."""
        return case.catalog_for(self.catalog)

    @property
    def tool_labels(self) -> list[str]:
        """The tool rows of this set's confusion matrix: the folder catalog's tools, then,
        when cases carry their own tools, the two roles their calls are counted under
        (hundreds of per-case names would make a matrix nobody can read)."""
        labels = list(self.catalog.tool_names)
        if any(case.tools is not None for case in self.cases):
            labels += [GOLD_TOOL_ROLE, OTHER_TOOL_ROLE]
        return labels


GOLD_TOOL_ROLE = "(the gold tool)"
"""Confusion label, for cases with their own tools, of a call of the case's gold tool(s)."""
OTHER_TOOL_ROLE = "(another offered tool)"
"""Confusion label, for cases with their own tools, of a valid call of any other tool."""
