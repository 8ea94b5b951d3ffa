"""Tool catalogs: the tools a router may call and the schema of each tool's arguments.

A catalog is plain data. It can be written as a JSON file (JSON Schema per tool) or as a
Python module of Pydantic argument models; both become the same :class:`Catalog`, so the
parser and scorer never care where a catalog came from.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.errors import CatalogError
from harness.jsonl import DuplicateKeyError, unique_keys
from harness.schema import (
    DIALECT,
    check_schema,
    non_finite,
    resolve_pointer,
    walk_schema,
)

NO_TOOL = "no_tool"
"""The tool name of the explicit no-tool path: ``{"tool": "no_tool", "reason": "..."}``."""

MatchPolicy = str
"""The name of a match policy (see ``harness.match.POLICIES``): ``exact`` unless declared."""

MAX_DEPTH = 64
"""Deepest nesting of objects and arrays a catalog may hold. ``json`` and ``jsonschema``
recurse once or more per level, so a document thousands of levels deep (a generated or
corrupted file) would end in a RecursionError; 64 levels is 30 levels of nested object
arguments, beyond any tool's arguments (a model's output may nest 32)."""

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,127}$")
"""Tool names as APIs write them: letters, digits, ``_``, ``.``, ``:`` and ``-`` (kept as given)."""


class Tool(BaseModel):
    """One callable tool: its name, what it does, and a JSON Schema of its arguments."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    parameters: dict[str, Any] = Field(
        description="JSON Schema (Draft 2020-12) of the arguments: an object schema."
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(
                f"tool name {value!r} must be 1-128 letters, digits, '_', '.', ':' or '-'"
            )
        if value == NO_TOOL:
            raise ValueError(f"{NO_TOOL!r} is reserved for the no-tool path")
        return value

    def resolve(self, schema: Any) -> dict[str, Any]:
        """A subschema with its local ``$ref`` followed (checked to resolve at load time)."""
        seen = 0
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 32:
            target = resolve_pointer(self.parameters, schema["$ref"])
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **rest} if isinstance(target, dict) else rest
            seen += 1
        return schema if isinstance(schema, dict) else {}

    @property
    def properties(self) -> dict[str, dict[str, Any]]:
        props = self.parameters.get("properties", {})
        return {name: self.resolve(prop) for name, prop in props.items()}

    @property
    def required(self) -> list[str]:
        req: list[str] = self.parameters.get("required", [])
        return req

    def match_policy(self, argument: str) -> MatchPolicy:
        """The declared match policy of one argument (``exact`` unless the catalog says so)."""
        policy = self.properties.get(argument, {}).get("x-match", "exact")
        return str(policy)

    def defaults(self) -> dict[str, Any]:
        """Schema defaults of optional arguments, used to compare calls that omit them."""
        return {
            name: copy.deepcopy(prop["default"])
            for name, prop in self.properties.items()
            if "default" in prop and name not in self.required
        }

    def signature(self) -> str:
        """A Python-like signature for the system prompt, e.g. ``f(a: str, b: int = 1)``."""
        parts = []
        for name, prop in self.properties.items():
            text = f"{name}: {_type_label(prop, self)}"
            if name not in self.required:
                default = prop.get("default")
                text += f" = {json.dumps(default)}" if "default" in prop else " (optional)"
            parts.append(text)
        return f"{self.name}({', '.join(parts)})"


class Catalog(BaseModel):
    """A named set of tools and the sentence that introduces them in the system prompt."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str = Field(
        description="First line of the system prompt, e.g. 'You route customer-support requests'."
    )
    tools: tuple[Tool, ...]

    def tool(self, name: str) -> Tool | None:
        for tool in self.tools:
            if tool.name == name:
                return tool
        return None

    @property
    def tool_names(self) -> list[str]:
        return [tool.name for tool in self.tools]

    def system_prompt(self) -> str:
        """The system message in the seed's style: tools, signatures, and the no-tool rule."""
        lines = [self.description.rstrip() + " Available tools:"]
        for tool in self.tools:
            lines.append(f"- {tool.signature()}: {tool.description.strip()}")
        lines.append(
            'Respond with exactly one JSON object: {"tool":"<name>","arguments":{...}}. '
            'If no tool fits, respond with {"tool":"no_tool","reason":"..."}.'
        )
        return "\n".join(lines)

    def json_schemas(self) -> dict[str, dict[str, Any]]:
        """Each tool's full output schema (``{"tool": name, "arguments": {...}}``)."""
        schemas: dict[str, dict[str, Any]] = {}
        for tool in self.tools:
            arguments = {k: v for k, v in tool.parameters.items() if k not in ("$defs", "$schema")}
            schema: dict[str, Any] = {
                "$schema": DIALECT,
                "title": tool.name,
                "description": tool.description,
                "type": "object",
                "properties": {"tool": {"const": tool.name}, "arguments": arguments},
                "required": ["tool", "arguments"],
                "additionalProperties": False,
            }
            if "$defs" in tool.parameters:
                # "#/$defs/..." pointers resolve from the root of this schema too.
                schema["$defs"] = tool.parameters["$defs"]
            schemas[tool.name] = schema
        schemas[NO_TOOL] = {
            "$schema": DIALECT,
            "title": NO_TOOL,
            "type": "object",
            "properties": {"tool": {"const": NO_TOOL}, "reason": {"type": "string"}},
            "required": ["tool", "reason"],
            "additionalProperties": False,
        }
        return schemas


def _type_label(prop: Mapping[str, Any], tool: Tool, depth: int = 0) -> str:
    prop = tool.resolve(prop)
    if depth > 4:
        return "..."
    if "enum" in prop and isinstance(prop["enum"], list):
        return "|".join(json.dumps(v) for v in prop["enum"])
    if "const" in prop:
        return json.dumps(prop["const"])
    for key in ("anyOf", "oneOf"):
        if isinstance(prop.get(key), list):
            return " | ".join(_type_label(p, tool, depth + 1) for p in prop[key])
    if isinstance(prop.get("allOf"), list) and "type" not in prop:
        return " & ".join(_type_label(p, tool, depth + 1) for p in prop["allOf"])
    names = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
    kind = prop.get("type", "any")
    if isinstance(kind, list):
        return " | ".join(names.get(str(k), str(k)) for k in kind)
    if kind == "array":
        if isinstance(prop.get("prefixItems"), list):
            inner = ", ".join(_type_label(p, tool, depth + 1) for p in prop["prefixItems"])
            return f"tuple[{inner}]"
        return f"list[{_type_label(prop.get('items', {}), tool, depth + 1)}]"
    if kind == "object" and isinstance(prop.get("properties"), dict) and prop["properties"]:
        req = prop.get("required", [])
        fields = ", ".join(
            f"{k}{'' if k in req else '?'}: {_type_label(v, tool, depth + 1)}"
            for k, v in prop["properties"].items()
        )
        return "{" + fields + "}"
    if kind == "object":
        return "dict"
    return names.get(kind, str(kind))


def _check_grounded(path: str, value: Any, top_level: bool) -> None:
    """``x-grounded`` is ``true``/``false`` or a policy name, on a top-level argument."""
    from harness.match import POLICIES

    # ``in`` on a list or dict value would be a TypeError (unhashable), not this error.
    if not (isinstance(value, bool) or (isinstance(value, str) and value in POLICIES)):
        raise CatalogError(
            f"{path}: x-grounded must be true, false or a match policy name "
            f"({', '.join(sorted(POLICIES))}), got {_short(value)} ({type(value).__name__}). "
            'Write one value, e.g. "x-grounded": true or "x-grounded": "id".'
        )
    if not top_level:
        raise CatalogError(
            f"{path}: x-grounded applies to a top-level argument (a property of the "
            "arguments object, or a $defs entry one refers to). Move it there."
        )


def _check_policies(parameters: dict[str, Any], where: str) -> None:
    from harness.match import POLICIES, SCORED_POLICIES

    base = f"{where}.parameters"
    top = {f"{base}.properties.{name}" for name in parameters.get("properties", {})}
    for path, sub in walk_schema(parameters, base):
        if "x-grounded" in sub:
            defs = f"{base}.$defs."
            on_top = path in top or (path.startswith(defs) and "." not in path[len(defs) :])
            _check_grounded(path, sub["x-grounded"], on_top)
        policy = sub.get("x-match")
        if "x-match" in sub and not (isinstance(policy, str) and policy in POLICIES):
            raise CatalogError(
                f"{path}: x-match must be one of {sorted(POLICIES)}, got {_short(policy)} "
                f"({type(policy).__name__}). Use one known policy name as a string, e.g. "
                '"x-match": "text" (see harness.match).'
            )
        _check_judge(path, sub, f"{where}.parameters")
        if "x-threshold" in sub:
            value = sub["x-threshold"]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0.0 <= value <= 1.0
            ):
                raise CatalogError(
                    f"{path}: x-threshold must be a number within [0, 1], got {value!r}. "
                    "Write e.g. 0.85 (the calibrated default; see routecheck calibrate)."
                )
            if _scored_policy(sub) not in SCORED_POLICIES:
                raise CatalogError(
                    f"{path}: x-threshold applies only to x-match "
                    f"{' or '.join(sorted(SCORED_POLICIES))}, not {sub.get('x-match', 'exact')!r}"
                )


def _scored_policy(sub: dict[str, Any]) -> Any:
    """The policy an ``x-threshold`` applies to: a ``judge`` argument's is its fallback's."""
    from harness.match import JUDGE_POLICY, fallback_policy

    policy = sub.get("x-match")
    return fallback_policy(sub) if policy == JUDGE_POLICY else policy


def _check_judge(path: str, sub: dict[str, Any], root: str) -> None:
    """``x-match: judge`` only on a tool's own arguments (the judge is asked per argument),
    and ``x-judge-fallback`` only beside it, naming a deterministic policy."""
    from harness.match import JUDGE_POLICY, POLICIES

    judged = sub.get("x-match") == JUDGE_POLICY
    top = path.removeprefix(root)
    nested = not re.fullmatch(r"\.(properties|\$defs|definitions)\.[^.\[\]]+", top)
    if judged and nested:
        raise CatalogError(
            f"{path}: x-match judge applies to a tool's own arguments (or a $defs entry they "
            "refer to), not to a nested value; declare it on the argument itself"
        )
    if "x-judge-fallback" not in sub:
        return
    fallback = sub["x-judge-fallback"]
    if not judged:
        raise CatalogError(
            f"{path}: x-judge-fallback applies only beside x-match judge, not "
            f"{sub.get('x-match', 'exact')!r}"
        )
    choices = sorted(p for p in POLICIES if p != JUDGE_POLICY)
    if not isinstance(fallback, str) or fallback not in choices:
        raise CatalogError(
            f"{path}: x-judge-fallback must be one of {choices}, got {_short(fallback)}: the "
            "policy that decides when no judge is given (default contains-or-similar)"
        )


def normalize_parameters(parameters: Any, where: str) -> dict[str, Any]:
    """Check a tool's argument schema at load time and close it to unknown arguments.

    ``where`` names the file and the tool. The schema is kept as written (``$ref``,
    ``oneOf``, ``format`` and the rest are applied by ``jsonschema``), except that
    arguments it does not name are refused, as a real system would receive them.
    """
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    if not isinstance(parameters, dict):
        raise CatalogError(
            f"{where}.parameters: must be a JSON Schema object, got {type(parameters).__name__}."
            ' Write {"type": "object", "properties": {...}}.'
        )
    deep = too_deep(parameters, f"{where}.parameters")
    if deep is not None:
        raise CatalogError(
            f"{deep}: nested deeper than {MAX_DEPTH} levels. Flatten the schema (move shared "
            "parts under '$defs'); no tool's arguments nest that deep."
        )
    bad = non_finite(parameters, f"{where}.parameters")
    if bad is not None:
        raise CatalogError(
            f"{bad}. Write a finite number (a literal such as 1e999 overflows to Infinity), "
            "or leave the keyword out."
        )
    schema = copy.deepcopy(parameters)
    schema.pop("$schema", None)
    if schema.get("type", "object") != "object":
        raise CatalogError(
            f"{where}.parameters.type: {schema.get('type')!r}: the arguments of a call are "
            'an object. Use "type": "object" with properties.'
        )
    schema.setdefault("type", "object")
    check_schema(schema, where)
    _check_policies(schema, where)
    props = schema.get("properties", {})
    required = schema.get("required", [])
    if not any(k in schema for k in ("allOf", "anyOf", "oneOf", "$ref", "patternProperties")):
        missing = [r for r in required if r not in props]
        if missing:
            raise CatalogError(
                f"{where}.parameters.required: {missing[0]!r} is not in properties. Add the "
                "property or remove it from required."
            )
    if "additionalProperties" not in schema and "unevaluatedProperties" not in schema:
        # Arguments the schema does not name are always an error for a router: unknown
        # arguments would be passed to a real system. (unevaluatedProperties also sees the
        # properties of allOf/oneOf branches and $ref targets.)
        schema["unevaluatedProperties"] = False
    return schema


def tool_from_dict(raw: Any, where: str) -> Tool:
    """One tool in any of the formats teams have: routecheck's own, OpenAI or MCP."""
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: a tool must be an object, got {type(raw).__name__}")
    if raw.get("type") == "function" and isinstance(raw.get("function"), dict):
        raw = raw["function"]  # OpenAI: {"type": "function", "function": {...}}
        where = f"{where}.function"
    if "inputSchema" in raw and "parameters" not in raw:
        params: Any = raw["inputSchema"]  # MCP
    else:
        params = raw.get("parameters")
    name = raw.get("name", "")
    if not isinstance(name, str) or not name:
        raise CatalogError(f"{where}.name: missing or not a string. Give every tool a name.")
    where = f"{where} (tool {name!r})"
    parameters = normalize_parameters(params, where)
    description = raw.get("description", "")
    try:
        return Tool(
            name=name,
            description=description if isinstance(description, str) else str(description),
            parameters=parameters,
        )
    except ValidationError as exc:
        msg = "; ".join(e["msg"] for e in exc.errors())
        raise CatalogError(f"{where}: {msg}") from None


def tools_from_list(raw_tools: Any, source: str) -> tuple[Tool, ...]:
    """A list of tools (any format), refusing two tools of the same name."""
    if not isinstance(raw_tools, list):
        raise CatalogError(f"{source}: 'tools' must be a list of tool objects")
    tools: list[Tool] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_tools):
        tool = tool_from_dict(raw, f"{source}: tools[{i}]")
        if tool.name in seen:
            raise CatalogError(
                f"{source}: tools[{i}]: duplicate tool name {tool.name!r}. Rename one tool."
            )
        seen.add(tool.name)
        tools.append(tool)
    return tuple(tools)


DEFAULT_DESCRIPTION = "You route requests to tools."


def catalog_from_dict(data: Any, source: str = "<dict>", name: str | None = None) -> Catalog:
    """Build a catalog from its JSON form, naming the file and field of any mistake.

    Accepted: routecheck's own ``{"name", "description", "tools"}``; a bare list of
    OpenAI tools (``{"type": "function", "function": {...}}``) or MCP tools (with
    ``inputSchema``); or MCP's ``{"tools": [...]}``. Without a ``name`` field the catalog
    takes ``name`` (the folder's name when loaded from a file).
    """
    if isinstance(data, list):
        data = {"tools": data}
    if not isinstance(data, dict):
        raise CatalogError(
            f"{source}: a catalog is a JSON object with name and tools, or a list of tools"
        )
    if "tools" not in data:
        raise CatalogError(f"{source}: missing field 'tools'. List the tools under \"tools\".")
    catalog_name = data.get("name", name)
    if not isinstance(catalog_name, str) or not catalog_name:
        raise CatalogError(f"{source}: missing field 'name'. Give the catalog a name.")
    tools = tools_from_list(data["tools"], source)
    description = data.get("description") or DEFAULT_DESCRIPTION
    return Catalog(name=catalog_name, description=str(description), tools=tools)


def catalog_from_models(
    name: str, description: str, tools: Mapping[str, tuple[str, type[BaseModel]]]
) -> Catalog:
    """Build a catalog from Pydantic argument models, one per tool (the seed's style).

    ``tools`` maps a tool name to ``(description, ArgsModel)``. Use
    ``Field(json_schema_extra={"x-match": "text"})`` to relax an argument's match.
    """
    raw = {
        "name": name,
        "description": description,
        "tools": [
            {"name": tool, "description": desc, "parameters": model.model_json_schema()}
            for tool, (desc, model) in tools.items()
        ],
    }
    return catalog_from_dict(raw, source=f"catalog {name!r}")


def too_deep(value: Any, where: str, limit: int = MAX_DEPTH) -> str | None:
    """The path of the first value nested deeper than ``limit`` levels, or ``None``. Iterative,
    so a document of any depth is measured without recursing."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict | list) and depth >= limit:
            return path
        if isinstance(node, dict):
            stack += [(v, f"{path}.{_cut(str(k), 40)}", depth + 1) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(node)]
    return None


def _short(value: Any, limit: int = 60) -> str:
    """``repr`` of a value, cut to ``limit`` characters for an error message."""
    return _cut(repr(value), limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _long_number_line(text: str) -> int:
    """The line of the first integer literal longer than Python reads (``json`` says only
    that there is one), or 1."""
    limit = sys.get_int_max_str_digits()
    for run in re.finditer(r"\d+", text):
        if len(run.group(0)) > limit > 0:
            return text.count("\n", 0, run.start()) + 1
    return 1


def _load_json_catalog(p: Path) -> Catalog:
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError(
            f"{p}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}). "
            "Save the catalog as UTF-8 (JSON files are UTF-8 by definition)."
        ) from None
    except OSError as exc:
        raise CatalogError(f"{p}: cannot read the catalog ({exc.strerror}).") from None
    try:
        data = json.loads(text, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{p}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except DuplicateKeyError as dup:
        raise CatalogError(
            f"{p}: key {dup.key!r} appears twice in one object (JSON would keep only the last, "
            "silently). Remove one of the two."
        ) from None
    except RecursionError:
        raise CatalogError(
            f"{p}: nested far deeper than {MAX_DEPTH} levels of objects and arrays; not a "
            "catalog a tool schema needs. Flatten it (shared parts go under '$defs')."
        ) from None
    except ValueError:
        # Python refuses integer literals of more than 4300 digits (sys.int_max_str_digits).
        raise CatalogError(
            f"{p}:{_long_number_line(text)}: a number has more than "
            f"{sys.get_int_max_str_digits()} digits. Write a realistic limit or value."
        ) from None
    deep = too_deep(data, "")
    if deep is not None:
        raise CatalogError(
            f"{p}: {deep.removeprefix('.') or 'the document'}: nested deeper than {MAX_DEPTH} "
            "levels of objects and arrays. Flatten the schema (shared parts go under '$defs'); "
            "no tool's arguments nest that deep."
        )
    return catalog_from_dict(data, source=str(p), name=p.parent.name)


def _load_py_catalog(p: Path) -> Catalog:
    module_name = f"_routecheck_catalog_{abs(hash(str(p.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, p)
    if spec is None or spec.loader is None:
        raise CatalogError(f"{p}: cannot import as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except CatalogError:
        sys.modules.pop(module_name, None)
        raise
    except BaseException as exc:
        sys.modules.pop(module_name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        tb = exc.__traceback__
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == str(p):
                line = tb.tb_lineno
            tb = tb.tb_next
        at = f"{p}:{line}" if line is not None else str(p)
        raise CatalogError(
            f"{at}: the catalog module raised {type(exc).__name__}: {exc}. Fix the module so "
            "that importing it defines CATALOG = catalog_from_models(...)."
        ) from None
    catalog = getattr(module, "CATALOG", None)
    if not isinstance(catalog, Catalog):
        raise CatalogError(f"{p}: the module must define CATALOG = catalog_from_models(...)")
    return catalog


def load_catalog(path: str | Path) -> Catalog:
    """Load a catalog from a ``.json`` file, a ``.py`` module defining ``CATALOG``, or a folder
    holding ``catalog.json`` or ``catalog.py``."""
    p = Path(path)
    if p.is_dir():
        for candidate in ("catalog.json", "catalog.py"):
            if (p / candidate).is_file():
                return load_catalog(p / candidate)
        raise CatalogError(f"{p}: no catalog.json or catalog.py in this folder")
    if not p.is_file():
        raise CatalogError(f"{p}: catalog file not found")
    if p.suffix == ".json":
        return _load_json_catalog(p)
    if p.suffix == ".py":
        return _load_py_catalog(p)
    raise CatalogError(f"{p}: a catalog is a .json file or a .py module")
