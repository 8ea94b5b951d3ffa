"""Golden cases: what a router is asked and what it should answer, one JSON line each.

A golden folder holds a catalog (``catalog.json`` or ``catalog.py``) and any number of
``*.jsonl`` files. The loader refuses a bad file with an error naming file, line and field,
and never skips a line silently.

The catalog file may name the folder's own output format (``"x-format"`` in
``catalog.json``, ``FORMAT`` in ``catalog.py``; :mod:`harness.formats.folder`).

A line may carry its own ``tools`` (any catalog format), which replace the folder's
catalog for that case; ``optional`` names arguments that may be left out; and ``target``
may be a list of calls (a parallel answer, matched as a multiset, in any order).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.cases import (
    GOLD_TOOL_ROLE,
    OTHER_TOOL_ROLE,
    PARALLEL_SEPARATOR,
    SLICES,
    SPLITS,
    Category,
    GoldCall,
    GoldenCase,
    GoldenSet,
    Message,
    Split,
    Target,
    parallel_label,
)
from harness.catalog import MAX_DEPTH as CATALOG_MAX_DEPTH
from harness.catalog import (
    NO_TOOL,
    Catalog,
    Tool,
    catalog_from_dict,
    load_catalog,
    tools_from_list,
)
from harness.errors import CatalogError, GoldenFileError
from harness.formats.folder import folder_format
from harness.grounding import conversation_text, grounded_arguments, value_occurs
from harness.jsonl import DuplicateKeyError, unique_keys
from harness.parse import MAX_DEPTH as MAX_OUTPUT_DEPTH
from harness.parse import nesting_depth
from harness.schema import validate_arguments

__all__ = [
    "GOLD_TOOL_ROLE",
    "OTHER_TOOL_ROLE",
    "PARALLEL_SEPARATOR",
    "SLICES",
    "SPLITS",
    "Category",
    "GoldCall",
    "GoldenCase",
    "GoldenSet",
    "Message",
    "Split",
    "Target",
    "check_unique_catalogs",
    "fingerprint_files",
    "load_golden",
    "load_golden_dir",
    "parallel_label",
    "parse_case",
    "read_jsonl",
]


_FIELDS = {"id", "category", "prompt", "messages", "target", "accept", "optional", "split", "tools"}

MAX_DEPTH = CATALOG_MAX_DEPTH
"""The deepest nesting of arrays and objects a golden line may have (the catalogs' limit):
far beyond any real case, and far below the depth at which recursive code (the JSON
decoder, the schema checks, the report writers) fails with a RecursionError."""

_TOKEN = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|[\[\]{}:,]'
)
"""The tokens of a JSON line that matter to :func:`_oversized`: strings, numbers, punctuation."""


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
    try:
        case_id.encode("utf-8")
    except UnicodeEncodeError:
        # Accepted, it would crash every writer of a UTF-8 file (replays, reports) later.
        raise _err(
            where, "id", "holds a lone surrogate (a \\ud800-\\udfff escape), which UTF-8 "
            "cannot encode", "Remove the escape from the id",
        ) from None  # fmt: skip
    where = f"{where} (id {case_id!r})"
    category = raw.get("category")
    if not isinstance(category, str) or category not in {c.value for c in Category}:
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
    own = _case_tools(raw, catalog, case_id, where)
    offered = own if own is not None else catalog
    said = conversation_text(messages) if messages is not None else str(prompt)
    target_raw = raw.get("target")
    if isinstance(target_raw, list):
        if not cat.wants_tool:
            raise _err(
                where, "target", f"category {cat.value!r} is a no-tool category but the "
                "target is a list of calls", "Use {\"tool\": \"no_tool\"} or category positive"
            )  # fmt: skip
        if not target_raw:
            raise _err(where, "target", "an empty list of calls", "Give at least one call")
        for key in ("accept", "optional"):
            if key in raw:
                raise _err(
                    where, key, "a parallel target takes accept/optional per call",
                    f'Move "{key}" into each call of the target list',
                )  # fmt: skip
        calls = tuple(
            _gold_call(c, offered, f"target[{i}]", where, parallel=True, said=said)
            for i, c in enumerate(target_raw)
        )
        target = Target(tool=parallel_label(c.tool for c in calls), calls=calls)
        accept: dict[str, list[Any]] = {}
        optional: tuple[str, ...] = ()
    else:
        if not isinstance(target_raw, dict) or not isinstance(target_raw.get("tool"), str):
            raise _err(
                where, "target", "must be an object with a 'tool' name (or a list of them)",
                'e.g. {"tool": "..."}',
            )  # fmt: skip
        extra = sorted(set(target_raw) - {"tool", "arguments"})
        if extra:
            raise _err(
                where, f"target.{extra[0]}", "unknown key", "A target has tool and arguments"
            )
        merged = {
            **target_raw,
            "accept": raw.get("accept", {}),
            "optional": raw.get("optional", []),
        }
        if not cat.wants_tool:
            if target_raw["tool"] != NO_TOOL:
                raise _err(
                    where,
                    "target.tool",
                    f"category {cat.value!r} is a no-tool category but the target is "
                    f"{target_raw['tool']!r}",
                    'Use {"tool": "no_tool"} or change the category to positive',
                )
            arguments = target_raw.get("arguments", {})
            if arguments:
                raise _err(where, "target.arguments", "no_tool takes no arguments", "Remove them")
            if raw.get("accept") or raw.get("optional"):
                raise _err(where, "accept", "a no_tool target has no arguments", "Remove it")
            target = Target(tool=NO_TOOL)
            accept, optional = {}, ()
        else:
            call = _gold_call(merged, offered, "target", where, parallel=False, said=said)
            target = Target(tool=call.tool, arguments=call.arguments)
            accept, optional = call.accept, call.optional
    if target.tool != NO_TOOL:
        calls_written = [{"tool": c.tool, "arguments": c.arguments} for c in target.calls]
        written = calls_written or {"tool": target.tool, "arguments": target.arguments}
        depth = nesting_depth(json.dumps(written))
        if depth > MAX_OUTPUT_DEPTH:  # the output parser refuses it: no model could pass
            raise _err(
                where, "target", f"the gold call nests {depth} deep, and an output nested "
                f"past {MAX_OUTPUT_DEPTH} is refused as too_deep",
                "Flatten the arguments",
            )  # fmt: skip
    return GoldenCase(
        id=case_id,
        category=cat,
        prompt=prompt,
        messages=tuple(Message(**m) for m in messages) if messages is not None else None,
        target=target,
        accept=accept,
        optional=optional,
        split=split,
        catalog=catalog.name,
        source=where.split(" (id")[0],
        tools=own,
    )


def _case_tools(raw: dict[str, Any], catalog: Catalog, case_id: str, where: str) -> Catalog | None:
    """A line's own ``tools`` (a list in any catalog format, or a catalog object)."""
    if "tools" not in raw:
        return None
    data = raw["tools"]
    name = f"{catalog.name}/{case_id}"
    try:
        if isinstance(data, dict):
            own = catalog_from_dict(data, source=f"{where}: tools", name=name)
            own = own.model_copy(update={"name": name})
        else:
            tools = tools_from_list(data, f"{where}: tools")
            own = Catalog(name=name, description=catalog.description, tools=tools)
    except CatalogError as exc:
        raise GoldenFileError(str(exc)) from None
    if not own.tools:
        raise _err(where, "tools", "is empty", "List the tools this case offers, or remove it")
    return own


def _gold_call(
    raw: Any, catalog: Catalog, field: str, where: str, *, parallel: bool, said: str
) -> GoldCall:
    """One gold call, checked against the tools the case offers and, for its grounded
    arguments, against what the conversation ``said``."""
    keys = {"tool", "arguments", "accept", "optional"} if parallel else None
    if not isinstance(raw, dict) or not isinstance(raw.get("tool"), str):
        raise _err(where, field, "must be an object with a 'tool' name", 'e.g. {"tool": "..."}')
    if keys is not None:
        extra = sorted(set(raw) - keys)
        if extra:
            raise _err(
                where, f"{field}.{extra[0]}", "unknown key",
                "A call has tool, arguments, accept and optional",
            )  # fmt: skip
    tool_name = raw["tool"]
    arguments = raw.get("arguments", {})
    if not isinstance(arguments, dict):
        raise _err(where, f"{field}.arguments", "must be an object", "Write {} or {name: value}")
    tool = catalog.tool(tool_name)
    if tool is None:
        raise _err(
            where,
            f"{field}.tool",
            f"{tool_name!r} is not in catalog {catalog.name!r} "
            f"(tools: {', '.join(catalog.tool_names)})",
            "Fix the tool name or add the tool to the catalog",
        )
    problem = validate_arguments(arguments, tool.parameters)
    if problem is not None:
        kind, detail = problem
        raise _err(
            where,
            f"{field}.{detail.split(':')[0]}",
            f"{kind.replace('_', ' ')}: {detail.split(': ', 1)[-1]}",
            f"The target must be a valid call of {tool.signature()}",
        )
    accept_field = f"{field}.accept" if parallel else "accept"
    accept = raw.get("accept", {})
    if not isinstance(accept, dict) or not all(isinstance(v, list) for v in accept.values()):
        raise _err(where, accept_field, "must map argument names to lists", '{"reason": ["..."]}')
    for name in accept:
        if name not in arguments:
            raise _err(
                where,
                f"{accept_field}.{name}",
                "names an argument the target does not have",
                f"Use one of: {sorted(arguments)}",
            )
        for value in accept[name]:
            problem = validate_arguments({**arguments, name: value}, tool.parameters)
            if problem is not None:
                raise _err(
                    where, f"{accept_field}.{name}",
                    f"accepted value {value!r} is not a valid argument ({problem[1]})",
                    "Remove it: a call with it would be refused before matching",
                )  # fmt: skip
    optional_field = f"{field}.optional" if parallel else "optional"
    optional = raw.get("optional", [])
    if not isinstance(optional, list) or not all(isinstance(n, str) for n in optional):
        raise _err(where, optional_field, "must be a list of argument names", '["unit"]')
    for name in optional:
        if name not in tool.properties:
            raise _err(
                where, f"{optional_field}.{name}", f"is not an argument of {tool_name!r}",
                f"Use one of: {sorted(tool.properties)}",
            )  # fmt: skip
        if name in tool.required:
            raise _err(
                where, f"{optional_field}.{name}", "is a required argument of the tool",
                "A required argument cannot be left out: remove it from optional",
            )  # fmt: skip
    _check_grounded(tool, arguments, accept, said, (field, accept_field), where)
    return GoldCall(tool=tool_name, arguments=arguments, accept=accept, optional=tuple(optional))


def _check_grounded(
    tool: Tool,
    arguments: dict[str, Any],
    accept: dict[str, list[Any]],
    said: str,
    fields: tuple[str, str],
    where: str,
) -> None:
    """Refuse a gold (or accepted) value of a grounded argument the conversation lacks: the
    case would demand the very invention a grounded argument forbids. ``fields`` names
    where the call's arguments and its accepted values are written."""
    for name, policy in grounded_arguments(tool).items():
        gold = [(f"{fields[0]}.arguments.{name}", arguments[name])] if name in arguments else []
        others = [(f"{fields[1]}.{name}", v) for v in accept.get(name, [])]
        for at, value in gold + others:
            if not value_occurs(value, said, policy):
                raise _err(
                    where, at,
                    f"{name!r} of {tool.name!r} is grounded (x-grounded), but the value "
                    f"{value!r} does not occur in the case's conversation (under policy "
                    f"{policy!r})",
                    "Write the value in the request, or fix the gold value; an argument the "
                    "router must compute or reformat is not grounded (or is grounded under "
                    'a looser policy, such as "x-grounded": "id")',
                )  # fmt: skip


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
        cases.append(parse_case(_decode(line, where), catalog, where))
    return cases


def _decode(line: str, where: str) -> Any:
    """One golden line as JSON, every way it can fail turned into an error naming a field."""
    try:
        # A key given twice is refused (naming it), not silently overwritten.
        raw = json.loads(line, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        raise _err(
            where, "line", f"bad JSON ({exc.msg} at column {exc.colno})", "Fix the JSON"
        ) from None
    except DuplicateKeyError as dup:
        raise _err(
            where, dup.key, "the key appears twice in one object (JSON keeps only the last)",
            "Remove one of the two",
        ) from None  # fmt: skip
    except (RecursionError, ValueError) as exc:
        # Nested too deeply or an integer too long: the scan names the field.
        found = _oversized(line)
        if found is not None:
            raise _err(where, *found) from None
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
        raise _err(where, "line", f"cannot be decoded ({why})", "Fix the JSON") from None
    # Decodable yet deeper than the checks and writers that follow can recurse.
    found = _oversized(line)
    if found is not None:
        raise _err(where, *found)
    return raw


def _oversized(line: str) -> tuple[str, str, str] | None:
    """``(field, problem, fix)`` for a value nested deeper than :data:`MAX_DEPTH` or an
    integer longer than Python reads, else None. A scan without recursion, so it can name
    the field where the decoder could only fail."""
    limit = sys.get_int_max_str_digits()
    # One entry per open array or object: its current index, or its current key's token.
    stack: list[str | int | None] = []
    last = ""
    for match in _TOKEN.finditer(line):
        token = match.group()
        head = token[0]
        if head in "[{":
            if len(stack) >= MAX_DEPTH:
                return (
                    _field(stack), f"nested more than {MAX_DEPTH} arrays or objects deep",
                    "Flatten the value: no tool call nests this deep",
                )  # fmt: skip
            stack.append(0 if head == "[" else None)
        elif head in "]}":
            if stack:
                stack.pop()
        elif head == '"':
            last = token
        elif head == ":":
            if stack:
                stack[-1] = last
        elif head == ",":
            top = stack[-1] if stack else None
            if isinstance(top, int):
                stack[-1] = top + 1
        elif limit and token.lstrip("-").isdigit() and len(token.lstrip("-")) > limit:
            return (
                _field(stack),
                f"an integer of {len(token.lstrip('-'))} digits (at most {limit} can be read)",
                "Write a shorter number",
            )
    return None


def _field(stack: list[str | int | None], shown: int = 5) -> str:
    """A field name such as ``target.arguments.city`` or ``target[0][0]...`` from the scan
    of :func:`_oversized` (its first ``shown`` steps: a deep path is thousands long)."""
    parts: list[str] = []
    for entry in stack[:shown]:
        if isinstance(entry, int):
            parts.append(f"[{entry}]")
            continue
        try:
            key = json.loads(entry) if entry is not None else "?"
        except ValueError:
            key = entry
        parts.append(f".{key}")
    name = "".join(parts).removeprefix(".") or "line"
    return name + ("..." if len(stack) > shown else "")


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
    declared = folder_format(folder)
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
    if not cases:
        # An empty set would reach the gates and fail them as if the router had: refuse it.
        raise GoldenFileError(
            f"{', '.join(map(str, paths))}: no golden case in "
            f"{'this file' if len(paths) == 1 else 'these files'}; write one JSON case per line"
        )
    catalog_files = [p for p in (folder / "catalog.json", folder / "catalog.py") if p.is_file()]
    return GoldenSet(
        catalog=catalog,
        cases=tuple(cases),
        files=tuple(str(p) for p in paths),
        fingerprint=fingerprint_files([*paths, *catalog_files]),
        format=declared,
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
    check_unique_catalogs(sets)
    return sets


def check_unique_catalogs(sets: Iterable[GoldenSet]) -> None:
    """Refuse two golden sets whose catalogs share a name: cases are keyed by it."""
    first: dict[str, str] = {}
    for s in sets:
        folder = str(Path(s.files[0]).parent) if s.files else "?"
        if s.catalog.name in first:
            raise GoldenFileError(
                f"{folder}: catalog name {s.catalog.name!r} is also the name of the catalog in "
                f"{first[s.catalog.name]}. Cases and results are keyed by catalog name, so "
                "each golden folder needs its own: rename one of the two catalogs."
            )
        first[s.catalog.name] = folder
