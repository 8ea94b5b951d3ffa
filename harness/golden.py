"""Golden cases: what a router is asked and what it should answer, one JSON line each.

A golden folder holds a catalog (``catalog.json`` or ``catalog.py``) and any number of
``*.jsonl`` files. The loader refuses a bad file with an error naming file, line and field,
and never skips a line silently.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from harness.catalog import NO_TOOL, Catalog, load_catalog
from harness.errors import CatalogError, GoldenFileError
from harness.schema import validate_arguments


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


class Target(BaseModel):
    """The gold answer: a tool and its arguments, or ``no_tool``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class GoldenCase(BaseModel):
    """One golden case. ``messages`` (a conversation) replaces ``prompt`` when given."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    category: Category
    prompt: str | None = None
    messages: tuple[Message, ...] | None = None
    target: Target
    accept: dict[str, list[Any]] = Field(default_factory=dict)
    split: Split = "dev"
    catalog: str = ""
    source: str = Field(default="", description="file:line the case was read from")

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


_FIELDS = {"id", "category", "prompt", "messages", "target", "accept", "split"}


def _err(where: str, field: str, problem: str, fix: str) -> GoldenFileError:
    return GoldenFileError(f"{where}: {field}: {problem}. {fix}")


def parse_case(raw: Any, catalog: Catalog, where: str) -> GoldenCase:
    """Validate one decoded JSON line against the format and the catalog."""
    if not isinstance(raw, dict):
        raise _err(where, "line", "is not a JSON object", "Write one object per line")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise _err(where, unknown[0], "unknown field", f"Allowed fields: {sorted(_FIELDS)}")
    case_id = raw.get("id")
    if not isinstance(case_id, str) or not case_id.strip():
        raise _err(where, "id", "missing or not a non-empty string", 'Add "id": "unique-name"')
    where = f"{where} (id {case_id!r})"
    category = raw.get("category")
    if category not in {c.value for c in Category}:
        raise _err(
            where,
            "category",
            f"unknown category {category!r}",
            f"Use one of: {', '.join(c.value for c in Category)}",
        )
    cat = Category(category)
    prompt, messages = raw.get("prompt"), raw.get("messages")
    if (prompt is None) == (messages is None):
        raise _err(where, "prompt", "give exactly one of prompt or messages", "Remove one")
    if prompt is not None and (not isinstance(prompt, str) or not prompt.strip()):
        raise _err(where, "prompt", "must be a non-empty string", "Write the user's request")
    if messages is not None:
        ok = (
            isinstance(messages, list)
            and messages
            and all(
                isinstance(m, dict)
                and set(m) == {"role", "content"}
                and m["role"] in ("user", "assistant", "system", "tool")
                and isinstance(m["content"], str)
                for m in messages
            )
        )
        if not ok or messages[-1]["role"] != "user":
            raise _err(
                where,
                "messages",
                "must be a list of {role, content} ending with a user turn",
                'Write [{"role": "user", "content": "..."}]',
            )
    split = raw.get("split", "dev")
    if split not in SPLITS:
        raise _err(where, "split", f"unknown split {split!r}", f"Use one of: {', '.join(SPLITS)}")
    target = raw.get("target")
    if not isinstance(target, dict) or not isinstance(target.get("tool"), str):
        raise _err(where, "target", "must be an object with a 'tool' name", 'e.g. {"tool": "..."}')
    extra = sorted(set(target) - {"tool", "arguments"})
    if extra:
        raise _err(where, f"target.{extra[0]}", "unknown key", "A target has tool and arguments")
    tool_name = target["tool"]
    arguments = target.get("arguments", {})
    if not isinstance(arguments, dict):
        raise _err(where, "target.arguments", "must be an object", "Write {} or {name: value}")
    if not cat.wants_tool:
        if tool_name != NO_TOOL:
            raise _err(
                where,
                "target.tool",
                f"category {cat.value!r} is a no-tool category but the target is {tool_name!r}",
                'Use {"tool": "no_tool"} or change the category to positive',
            )
        if arguments:
            raise _err(where, "target.arguments", "no_tool takes no arguments", "Remove them")
    else:
        tool = catalog.tool(tool_name)
        if tool is None:
            raise _err(
                where,
                "target.tool",
                f"{tool_name!r} is not in catalog {catalog.name!r} "
                f"(tools: {', '.join(catalog.tool_names)})",
                "Fix the tool name or add the tool to the catalog",
            )
        problem = validate_arguments(arguments, tool.parameters)
        if problem is not None:
            kind, detail = problem
            raise _err(
                where,
                f"target.{detail.split(':')[0]}",
                f"{kind.replace('_', ' ')}: {detail.split(': ', 1)[-1]}",
                f"The target must be a valid call of {tool.signature()}",
            )
    accept = raw.get("accept", {})
    if not isinstance(accept, dict) or not all(isinstance(v, list) for v in accept.values()):
        raise _err(where, "accept", "must map argument names to lists", '{"reason": ["..."]}')
    for name in accept:
        if name not in arguments:
            raise _err(
                where,
                f"accept.{name}",
                "names an argument the target does not have",
                f"Use one of: {sorted(arguments)}",
            )
    return GoldenCase(
        id=case_id,
        category=cat,
        prompt=prompt,
        messages=tuple(Message(**m) for m in messages) if messages is not None else None,
        target=Target(tool=tool_name, arguments=arguments),
        accept=accept,
        split=split,
        catalog=catalog.name,
        source=where.split(" (id")[0],
    )


def read_jsonl(path: Path, catalog: Catalog) -> list[GoldenCase]:
    """Read one golden file; every non-blank line must be a valid case."""
    cases = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldenFileError(f"{path}: cannot read golden file: {exc}") from None
    # Split on newlines only: str.splitlines() also breaks at U+2028, U+0085 and other
    # characters that are legal inside a JSON string, which would cut a case in two.
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    for lineno, raw_line in enumerate(lines, start=1):
        line = raw_line.removesuffix("\r")
        where = f"{path}:{lineno}"
        if not line.strip():
            raise _err(where, "line", "is blank", "Remove blank lines (one case per line)")
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _err(
                where, "line", f"bad JSON ({exc.msg} at column {exc.colno})", "Fix the JSON"
            ) from None
        cases.append(parse_case(raw, catalog, where))
    return cases


def fingerprint_files(paths: Iterable[Path]) -> str:
    """A content hash of golden files (names and bytes), to tell whether two runs compare."""
    digest = hashlib.sha256()
    for p in sorted(paths, key=lambda q: q.name):
        digest.update(p.name.encode())
        digest.update(b"\0")
        digest.update(p.read_bytes())
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()[:16]


def load_golden_dir(folder: Path, files: list[Path] | None = None) -> GoldenSet:
    """Load a catalog folder: its catalog and all (or the given) ``*.jsonl`` files."""
    try:
        catalog = load_catalog(folder)
    except CatalogError as exc:
        raise GoldenFileError(str(exc)) from None
    paths = files if files is not None else sorted(folder.glob("*.jsonl"))
    if not paths:
        raise GoldenFileError(f"{folder}: no *.jsonl golden files in this folder")
    cases: list[GoldenCase] = []
    seen: dict[str, str] = {}
    for path in paths:
        for case in read_jsonl(path, catalog):
            if case.id in seen:
                raise _err(
                    case.source,
                    "id",
                    f"duplicate id {case.id!r} (first at {seen[case.id]})",
                    "Give every case a unique id",
                )
            seen[case.id] = case.source
            cases.append(case)
    catalog_files = [p for p in (folder / "catalog.json", folder / "catalog.py") if p.is_file()]
    return GoldenSet(
        catalog=catalog,
        cases=tuple(cases),
        files=tuple(str(p) for p in paths),
        fingerprint=fingerprint_files([*paths, *catalog_files]),
    )


def load_golden(path: str | Path) -> list[GoldenSet]:
    """Load golden sets from a catalog folder, a folder of catalog folders, or one file.

    A single ``.jsonl`` file takes its catalog from the folder it is in.
    """
    p = Path(path)
    if p.is_file():
        if p.suffix != ".jsonl":
            raise GoldenFileError(f"{p}: a golden file must be .jsonl")
        return [load_golden_dir(p.parent, [p])]
    if not p.is_dir():
        raise GoldenFileError(f"{p}: golden path not found (give a .jsonl file or a folder)")
    if (p / "catalog.json").is_file() or (p / "catalog.py").is_file():
        return [load_golden_dir(p)]
    sets = [
        load_golden_dir(sub)
        for sub in sorted(p.iterdir())
        if sub.is_dir() and ((sub / "catalog.json").is_file() or (sub / "catalog.py").is_file())
    ]
    if not sets:
        raise GoldenFileError(
            f"{p}: no golden sets here: expected catalog.json or catalog.py with *.jsonl "
            "files, in this folder or its sub-folders"
        )
    return sets
