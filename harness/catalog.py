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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.errors import CatalogError

NO_TOOL = "no_tool"
"""The tool name of the explicit no-tool path: ``{"tool": "no_tool", "reason": "..."}``."""

MatchPolicy = Literal["exact", "normalized", "contains"]
MATCH_POLICIES: tuple[MatchPolicy, ...] = ("exact", "normalized", "contains")
"""How a predicted argument value is compared with the gold value (see ``harness.match``)."""

JSON_TYPES = ("string", "integer", "number", "boolean", "null", "array", "object")

# Keywords the validator in ``harness.schema`` understands. Anything else in a catalog is
# refused at load time rather than silently ignored at scoring time.
SUPPORTED_KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "pattern",
        "items",
        "minItems",
        "maxItems",
        "anyOf",
        "description",
        "title",
        "default",
        "examples",
        "x-match",
    }
)

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class Tool(BaseModel):
    """One callable tool: its name, what it does, and a JSON Schema of its arguments."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    parameters: dict[str, Any] = Field(
        description="JSON Schema of the arguments: an object with properties and required."
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(f"tool name {value!r} must be an identifier (letters, digits, _)")
        if value == NO_TOOL:
            raise ValueError(f"{NO_TOOL!r} is reserved for the no-tool path")
        return value

    @property
    def properties(self) -> dict[str, dict[str, Any]]:
        props: dict[str, dict[str, Any]] = self.parameters.get("properties", {})
        return props

    @property
    def required(self) -> list[str]:
        req: list[str] = self.parameters.get("required", [])
        return req

    def match_policy(self, argument: str) -> MatchPolicy:
        """The declared match policy of one argument (``exact`` unless the catalog says so)."""
        policy = self.properties.get(argument, {}).get("x-match", "exact")
        for known in MATCH_POLICIES:
            if policy == known:
                return known
        return "exact"

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
            text = f"{name}: {_type_label(prop)}"
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
            schemas[tool.name] = {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": tool.name,
                "description": tool.description,
                "type": "object",
                "properties": {
                    "tool": {"const": tool.name},
                    "arguments": tool.parameters,
                },
                "required": ["tool", "arguments"],
                "additionalProperties": False,
            }
        schemas[NO_TOOL] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": NO_TOOL,
            "type": "object",
            "properties": {"tool": {"const": NO_TOOL}, "reason": {"type": "string"}},
            "required": ["tool", "reason"],
            "additionalProperties": False,
        }
        return schemas


def _type_label(prop: Mapping[str, Any]) -> str:
    if "enum" in prop:
        return "|".join(json.dumps(v) for v in prop["enum"])
    if "anyOf" in prop:
        return " | ".join(_type_label(p) for p in prop["anyOf"])
    names = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
    kind = prop.get("type", "any")
    if isinstance(kind, list):
        return " | ".join(names.get(str(k), str(k)) for k in kind)
    if kind == "array":
        return f"list[{_type_label(prop.get('items', {}))}]"
    return names.get(kind, str(kind))


def _inline_refs(schema: Any, defs: Mapping[str, Any], where: str) -> Any:
    """Replace local ``$ref`` pointers (as Pydantic emits for enums) with their targets."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            ref = schema["$ref"]
            prefix = "#/$defs/"
            if (
                not isinstance(ref, str)
                or not ref.startswith(prefix)
                or ref[len(prefix) :] not in defs
            ):
                raise CatalogError(f"{where}: cannot resolve $ref {ref!r}")
            merged = {k: v for k, v in schema.items() if k != "$ref"}
            merged.update(_inline_refs(defs[ref[len(prefix) :]], defs, where))
            return merged
        return {k: _inline_refs(v, defs, where) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline_refs(v, defs, where) for v in schema]
    return schema


def _check_property(prop: Any, where: str) -> None:
    if not isinstance(prop, dict):
        raise CatalogError(f"{where}: a property schema must be an object, got {prop!r}")
    unknown = sorted(set(prop) - SUPPORTED_KEYWORDS)
    if unknown:
        raise CatalogError(
            f"{where}: unsupported JSON Schema keyword(s) {unknown}; "
            f"supported: {sorted(SUPPORTED_KEYWORDS)}"
        )
    kind = prop.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for k in kinds:
        if k not in JSON_TYPES:
            raise CatalogError(f"{where}: unknown type {k!r}; use one of {list(JSON_TYPES)}")
    if "x-match" in prop and prop["x-match"] not in MATCH_POLICIES:
        raise CatalogError(
            f"{where}: x-match must be one of {list(MATCH_POLICIES)}, got {prop['x-match']!r}"
        )
    for i, sub in enumerate(prop.get("anyOf", [])):
        _check_property(sub, f"{where}.anyOf[{i}]")
    if "items" in prop:
        _check_property(prop["items"], f"{where}.items")


def normalize_parameters(parameters: Any, where: str) -> dict[str, Any]:
    """Check a tool's argument schema and bring it to the one shape the validator reads."""
    if not isinstance(parameters, dict):
        raise CatalogError(f"{where}: parameters must be a JSON Schema object")
    try:
        schema = _inline_refs(parameters, parameters.get("$defs", {}), where)
    except RecursionError:
        raise CatalogError(f"{where}: recursive $ref; argument schemas must be finite") from None
    if schema.get("type", "object") != "object":
        raise CatalogError(f"{where}: parameters must have type 'object'")
    props = schema.get("properties", {})
    if not isinstance(props, dict):
        raise CatalogError(f"{where}.properties must be an object")
    for name, prop in props.items():
        _check_property(prop, f"{where}.properties.{name}")
    required = schema.get("required", [])
    if not isinstance(required, list) or any(r not in props for r in required):
        raise CatalogError(f"{where}.required must list names from properties, got {required!r}")
    # Arguments the schema does not name are always an error for a router: unknown
    # arguments would be passed to a real system.
    return {
        "type": "object",
        "properties": {k: {kk: vv for kk, vv in v.items()} for k, v in props.items()},
        "required": list(required),
        "additionalProperties": False,
    }


def catalog_from_dict(data: Any, source: str = "<dict>") -> Catalog:
    """Build a catalog from its JSON form, naming the file and field of any mistake."""
    if not isinstance(data, dict):
        raise CatalogError(f"{source}: a catalog must be a JSON object with name and tools")
    for key in ("name", "tools"):
        if key not in data:
            raise CatalogError(f"{source}: missing field {key!r}")
    raw_tools = data["tools"]
    if not isinstance(raw_tools, list) or not raw_tools:
        raise CatalogError(f"{source}: 'tools' must be a non-empty list")
    tools = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_tools):
        where = f"{source}: tools[{i}]"
        if not isinstance(raw, dict):
            raise CatalogError(f"{where} must be an object")
        params = normalize_parameters(raw.get("parameters", {}), f"{where}.parameters")
        try:
            tool = Tool(
                name=raw.get("name", ""),
                description=raw.get("description", ""),
                parameters=params,
            )
        except ValidationError as exc:
            msg = "; ".join(e["msg"] for e in exc.errors())
            raise CatalogError(f"{where}: {msg}") from None
        if tool.name in seen:
            raise CatalogError(f"{where}: duplicate tool name {tool.name!r}")
        seen.add(tool.name)
        tools.append(tool)
    return Catalog(
        name=str(data["name"]), description=str(data.get("description", "")), tools=tuple(tools)
    )


def catalog_from_models(
    name: str, description: str, tools: Mapping[str, tuple[str, type[BaseModel]]]
) -> Catalog:
    """Build a catalog from Pydantic argument models, one per tool (the seed's style).

    ``tools`` maps a tool name to ``(description, ArgsModel)``. Use
    ``Field(json_schema_extra={"x-match": "normalized"})`` to relax an argument's match.
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
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CatalogError(f"{p}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        except UnicodeDecodeError as exc:
            raise CatalogError(f"{p}: byte {exc.start} is not UTF-8; save it as UTF-8") from None
        return catalog_from_dict(data, source=str(p))
    if p.suffix == ".py":
        module_name = f"_routecheck_catalog_{abs(hash(str(p.resolve())))}"
        spec = importlib.util.spec_from_file_location(module_name, p)
        if spec is None or spec.loader is None:
            raise CatalogError(f"{p}: cannot import as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's module: report it, do not crash the run
            raise CatalogError(f"{p}: importing it failed: {type(exc).__name__}: {exc}") from None
        catalog = getattr(module, "CATALOG", None)
        if not isinstance(catalog, Catalog):
            raise CatalogError(f"{p}: the module must define CATALOG = catalog_from_models(...)")
        return catalog
    raise CatalogError(f"{p}: a catalog is a .json file or a .py module")
