"""Catalogs from JSON files and Pydantic models, and every way a catalog is refused."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from harness.catalog import (
    NO_TOOL,
    Catalog,
    catalog_from_dict,
    catalog_from_models,
    load_catalog,
    normalize_parameters,
)
from harness.errors import CatalogError
from tests.strategies import CUSTOMER_SUPPORT, bundled_catalogs


def shop_dict() -> dict[str, Any]:
    return {
        "name": "shop",
        "description": "You route shop requests to tools.",
        "tools": [
            {
                "name": "track_order",
                "description": "get the status of an order.",
                "parameters": {
                    "type": "object",
                    "properties": {"order_id": {"type": "string", "description": "ORD-n"}},
                    "required": ["order_id"],
                },
            },
            {
                "name": "book",
                "description": "book seats.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "city": {"type": "string", "x-match": "normalized"},
                        "seats": {"type": "integer", "minimum": 1, "default": 1},
                        "price": {"type": "number"},
                        "window": {"type": "boolean"},
                        "cabin": {"type": "string", "enum": ["economy", "business"]},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                        "code": {"type": ["string", "integer"]},
                    },
                    "required": ["city"],
                },
            },
        ],
    }


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def with_property(prop: Any) -> dict[str, Any]:
    data = shop_dict()
    data["tools"][0]["parameters"]["properties"]["order_id"] = prop
    return data


# --- loading ------------------------------------------------------------------------------


def test_load_from_json_file(tmp_path: Path) -> None:
    catalog = load_catalog(write_json(tmp_path / "catalog.json", shop_dict()))
    assert catalog.name == "shop"
    assert catalog.tool_names == ["track_order", "book"]
    track = catalog.tool("track_order")
    assert track is not None
    assert track.required == ["order_id"]
    assert track.parameters["unevaluatedProperties"] is False
    assert catalog.tool("nope") is None


def test_load_from_folder_prefers_json(tmp_path: Path) -> None:
    write_json(tmp_path / "catalog.json", shop_dict())
    (tmp_path / "catalog.py").write_text("raise RuntimeError('not imported')\n")
    assert load_catalog(tmp_path).name == "shop"


def test_load_from_folder_with_python_module(tmp_path: Path) -> None:
    (tmp_path / "catalog.py").write_text(
        "from pydantic import BaseModel\n"
        "from harness.catalog import catalog_from_models\n"
        "class A(BaseModel):\n"
        "    q: str\n"
        "CATALOG = catalog_from_models('mod', 'You route.', {'ask': ('ask it.', A)})\n"
    )
    catalog = load_catalog(tmp_path)
    assert catalog.name == "mod"
    assert catalog.tool_names == ["ask"]


def test_bundled_customer_support_catalog() -> None:
    catalog = load_catalog(CUSTOMER_SUPPORT)
    assert catalog.name == "customer_support"
    assert catalog.tool_names == ["track_order", "request_refund", "escalate"]
    refund = catalog.tool("request_refund")
    assert refund is not None
    assert refund.required == ["order_id", "reason"]
    assert refund.match_policy("reason") == "contains-or-similar"
    assert refund.match_policy("order_id") == "exact"
    # The folder form finds the same module.
    assert load_catalog(CUSTOMER_SUPPORT.parent).tool_names == catalog.tool_names


def test_every_bundled_catalog_loads() -> None:
    catalogs = bundled_catalogs()
    assert "customer_support" in [c.name for c in catalogs]
    for catalog in catalogs:
        assert catalog.tools
        prompt = catalog.system_prompt()
        for tool in catalog.tools:
            assert f"- {tool.signature()}: " in prompt
        assert set(catalog.json_schemas()) == {*catalog.tool_names, NO_TOOL}


class Cabin(StrEnum):
    ECONOMY = "economy"
    BUSINESS = "business"


class BookArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: str = Field(description="Destination", json_schema_extra={"x-match": "normalized"})
    cabin: Cabin = Field(description="Cabin class")
    seats: int = Field(default=1, ge=1, le=9)
    note: str | None = None
    mode: Literal["fast", "slow"] = "fast"


def test_catalog_from_models_resolves_enum_refs() -> None:
    catalog = catalog_from_models("travel", "You book trips.", {"book": ("book a trip.", BookArgs)})
    tool = catalog.tool("book")
    assert tool is not None
    props = tool.properties
    # Pydantic writes the enum as {"$ref": "#/$defs/Cabin"}: kept, and followed on read.
    assert props["cabin"]["enum"] == ["economy", "business"]
    assert props["cabin"]["type"] == "string"
    assert props["cabin"]["description"] == "Cabin class"
    assert tool.parameters["properties"]["cabin"]["$ref"] == "#/$defs/Cabin"
    assert props["seats"]["minimum"] == 1 and props["seats"]["maximum"] == 9
    assert tool.required == ["city", "cabin"]
    assert tool.match_policy("city") == "normalized"
    assert tool.defaults() == {"seats": 1, "note": None, "mode": "fast"}
    assert tool.signature() == (
        'book(city: str, cabin: "economy"|"business", seats: int = 1, '
        'note: str | null = null, mode: "fast"|"slow" = "fast")'
    )


def test_defaults_are_copies() -> None:
    data = shop_dict()
    data["tools"][1]["parameters"]["properties"]["tags"]["default"] = ["a"]
    tool = catalog_from_dict(data).tool("book")
    assert tool is not None
    tool.defaults()["tags"].append("b")
    assert tool.defaults()["tags"] == ["a"]


def test_required_argument_default_is_not_filled() -> None:
    data = shop_dict()
    data["tools"][1]["parameters"]["properties"]["city"]["default"] = "Paris"
    tool = catalog_from_dict(data).tool("book")
    assert tool is not None
    assert "city" not in tool.defaults()


# --- system prompt and schemas ------------------------------------------------------------


def test_system_prompt_lists_signatures_and_no_tool_rule() -> None:
    prompt = catalog_from_dict(shop_dict()).system_prompt()
    lines = prompt.splitlines()
    assert lines[0] == "You route shop requests to tools. Available tools:"
    assert lines[1] == "- track_order(order_id: str): get the status of an order."
    assert lines[2] == (
        "- book(city: str, seats: int = 1, price: float (optional), window: bool (optional), "
        'cabin: "economy"|"business" (optional), tags: list[str] (optional), '
        "note: str | null (optional), code: str | int (optional)): book seats."
    )
    assert '{"tool":"no_tool","reason":"..."}' in lines[-1]
    assert '{"tool":"<name>","arguments":{...}}' in lines[-1]


def test_customer_support_prompt_matches_the_seed_style() -> None:
    prompt = load_catalog(CUSTOMER_SUPPORT).system_prompt()
    assert prompt.startswith("You route customer-support requests to tools. Available tools:\n")
    assert "- track_order(order_id: str): get the status of an order." in prompt
    assert "- request_refund(order_id: str, reason: str): file a refund." in prompt
    assert "- escalate(reason: str): hand off to a human agent." in prompt
    assert 'If no tool fits, respond with {"tool":"no_tool","reason":"..."}.' in prompt


def test_json_schemas() -> None:
    catalog = catalog_from_dict(shop_dict())
    schemas = catalog.json_schemas()
    assert list(schemas) == ["track_order", "book", NO_TOOL]
    track = schemas["track_order"]
    assert track["properties"]["tool"] == {"const": "track_order"}
    assert track["properties"]["arguments"]["required"] == ["order_id"]
    assert track["required"] == ["tool", "arguments"]
    assert track["additionalProperties"] is False
    assert schemas[NO_TOOL]["required"] == ["tool", "reason"]
    assert schemas[NO_TOOL]["properties"]["reason"] == {"type": "string"}
    json.dumps(schemas)  # plain JSON


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prop", "path", "expected"),
    [
        ({"type": "str"}, "order_id", "not a valid JSON Schema"),
        ({"type": ["string", "text"]}, "order_id.type", "not a valid JSON Schema"),
        ({"type": "string", "x-match": "fuzzy"}, "order_id", "x-match must be one of"),
        ("string", "order_id", "not a valid JSON Schema"),
        ({"anyOf": [{"type": "string"}, {"type": "chars"}]}, "order_id.anyOf[1]", "not a valid"),
        ({"type": "array", "items": {"type": "x"}}, "order_id.items", "not a valid JSON Schema"),
        ({"type": "string", "enum": "economy"}, "order_id.enum", "'enum' takes a list"),
        ({"type": "integer", "minimum": "1"}, "order_id.minimum", "'minimum' a number"),
        ({"type": "string", "pattern": "(["}, "order_id", "not a valid JSON Schema"),
        ({"type": "string", "minimun": 1}, "order_id", "unknown JSON Schema keyword 'minimun'"),
        ({"$ref": "#/$defs/Missing"}, "order_id.$ref", "does not resolve"),
        ({"$ref": "http://example.com/s.json"}, "order_id.$ref", "never fetches"),
    ],
)
def test_bad_property_schema(prop: Any, path: str, expected: str) -> None:
    with pytest.raises(CatalogError) as err:
        catalog_from_dict(with_property(prop), source="cat.json")
    message = str(err.value)
    prefix = "cat.json: tools[0] (tool 'track_order').parameters.properties."
    assert message.startswith(prefix + path), message
    assert expected in message


def test_invalid_pattern_is_refused_at_load_and_names_the_fix() -> None:
    # The metaschema's "regex" format catches it; the message names path and fix.
    with pytest.raises(CatalogError, match=r"properties\.order_id.*pattern.*Fix the value"):
        catalog_from_dict(with_property({"type": "string", "pattern": "a{2,1}"}))


@pytest.mark.parametrize(
    "top",
    [
        {"oneOf": [{"required": ["order_id"]}, {"required": ["email"]}]},
        {"minProperties": 1},
        {"allOf": [{"properties": {"email": {"type": "string", "format": "email"}}}]},
    ],
)
def test_top_level_keywords_are_enforced(top: dict[str, Any]) -> None:
    from harness.schema import validate_arguments

    data = shop_dict()
    params = data["tools"][0]["parameters"]
    params["properties"]["email"] = {"type": "string", "format": "email"}
    params["required"] = []
    params.update(top)
    tool = catalog_from_dict(data).tool("track_order")
    assert tool is not None
    assert validate_arguments({"order_id": "ORD-1"}, tool.parameters) is None
    bad = {} if "allOf" not in top else {"email": "not an email"}
    problem = validate_arguments(bad, tool.parameters)
    assert problem is not None and problem[0] in ("invalid_value", "missing_argument"), problem
    assert validate_arguments({"order_id": "x", "other": 1}, tool.parameters) == (
        "unexpected_argument",
        "arguments.other: not an argument of this tool",
    )
    # A name declared inside a branch is not the unexpected one.
    both = {"email": "a@b.example", "order_id": "x", "other": 1}
    assert validate_arguments(both, tool.parameters) == (
        "unexpected_argument",
        "arguments.other: not an argument of this tool",
    )


def test_real_world_schema_features_load_and_validate() -> None:
    from harness.schema import validate_arguments

    params = {
        "type": "object",
        "$defs": {
            "Leg": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "nights": {"type": "integer"}},
                "required": ["city"],
                "additionalProperties": False,
            }
        },
        "properties": {
            "legs": {"type": "array", "items": {"$ref": "#/$defs/Leg"}, "minItems": 1},
            "note": {"type": ["string", "null"]},
            "when": {"type": "string", "format": "date"},
            "pay": {"oneOf": [{"type": "integer"}, {"type": "string", "pattern": "^card-"}]},
        },
        "required": ["legs"],
    }
    catalog = catalog_from_dict({"name": "t", "tools": [{"name": "plan", "parameters": params}]})
    tool = catalog.tool("plan")
    assert tool is not None
    ok = {"legs": [{"city": "Oslo", "nights": 2}], "note": None, "when": "2026-05-01", "pay": 3}
    assert validate_arguments(ok, tool.parameters) is None
    assert validate_arguments({"legs": [{"city": "Oslo", "nights": 1.5}]}, tool.parameters) == (
        "wrong_type",
        "arguments.legs[0].nights: expected integer, got number",
    )
    problem = validate_arguments({"legs": [{"city": "a"}], "when": "May 1"}, tool.parameters)
    assert problem == ("invalid_value", "arguments.when: 'May 1' is not a valid date")
    assert tool.signature() == (
        "plan(legs: list[{city: str, nights?: int}], note: str | null (optional), "
        "when: str (optional), pay: int | str (optional))"
    )


def test_duplicate_tool() -> None:
    data = shop_dict()
    data["tools"][1]["name"] = "track_order"
    with pytest.raises(CatalogError, match=r"tools\[1\]: duplicate tool name 'track_order'"):
        catalog_from_dict(data)


def test_no_tool_is_reserved() -> None:
    data = shop_dict()
    data["tools"][0]["name"] = NO_TOOL
    with pytest.raises(
        CatalogError, match=r"tools\[0\] \(tool 'no_tool'\): .*'no_tool' is reserved"
    ):
        catalog_from_dict(data)


@pytest.mark.parametrize("name", ["", "has space", "-abc", "a" * 129, 42, "a/b"])
def test_bad_tool_name(name: Any) -> None:
    data = shop_dict()
    data["tools"][0]["name"] = name
    with pytest.raises(CatalogError, match=r"tools\[0\]"):
        catalog_from_dict(data)


@pytest.mark.parametrize("name", ["math.factorial", "get-weather", "ns:tool", "1st_tool"])
def test_tool_names_with_dots_and_dashes_are_kept(name: str) -> None:
    data = shop_dict()
    data["tools"][0]["name"] = name
    catalog = catalog_from_dict(data)
    assert catalog.tool_names[0] == name
    assert f"- {name}(order_id: str)" in catalog.system_prompt()


def test_ref_siblings_and_nested_refs_are_followed() -> None:
    params = {
        "type": "object",
        "properties": {
            "a": {"$ref": "#/$defs/A", "default": "x"},
            "b": {"type": "array", "items": {"$ref": "#/$defs/A"}},
        },
        "$defs": {"A": {"type": "string", "enum": ["x", "y"]}},
    }
    tool = catalog_from_dict({"name": "t", "tools": [{"name": "f", "parameters": params}]}).tools[0]
    assert tool.properties["a"] == {"default": "x", "type": "string", "enum": ["x", "y"]}
    assert tool.signature() == 'f(a: "x"|"y" = "x", b: list["x"|"y"] (optional))'
    from harness.schema import validate_arguments

    assert validate_arguments({"b": ["x", "z"]}, tool.parameters) == (
        "invalid_value",
        "arguments.b[1]: 'z' is not one of ['x', 'y']",
    )
    assert normalize_parameters(params, "w")["properties"]["a"]["$ref"] == "#/$defs/A"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([], "must be a JSON Schema object"),
        ({"type": "array"}, "the arguments of a call are an object"),
        ({"properties": []}, "not a valid JSON Schema"),
        ({"properties": {"a": {}}, "required": ["b"]}, "'b' is not in properties"),
        ({"properties": {"a": {}}, "required": "a"}, "not a valid JSON Schema"),
    ],
)
def test_bad_parameters(params: Any, expected: str) -> None:
    data = shop_dict()
    data["tools"][0]["parameters"] = params
    with pytest.raises(CatalogError, match=expected):
        catalog_from_dict(data)


def test_parameters_default_to_no_arguments() -> None:
    data = shop_dict()
    del data["tools"][0]["parameters"]
    tool = catalog_from_dict(data).tool("track_order")
    assert tool is not None
    assert tool.properties == {} and tool.required == []
    assert tool.signature() == "track_order()"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (3, "a catalog is a JSON object"),
        ({"tools": []}, "missing field 'name'"),
        ({"name": "x"}, "missing field 'tools'"),
        ({"name": "x", "tools": {"a": 1}}, "'tools' must be a list"),
        ({"name": "x", "tools": ["a"]}, r"tools\[0\]: a tool must be an object"),
    ],
)
def test_bad_catalog_shape(data: Any, expected: str) -> None:
    with pytest.raises(CatalogError, match=expected):
        catalog_from_dict(data, source="c.json")


def test_bad_json_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text('{\n  "name": "x",\n  "tools": [,]\n}\n')
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert str(err.value).startswith(f"{path}:3: not valid JSON")


def test_catalog_json_errors_name_the_file(tmp_path: Path) -> None:
    path = write_json(tmp_path / "catalog.json", with_property({"type": "strng"}))
    with pytest.raises(CatalogError, match=f"^{path}: tools\\[0\\]"):
        load_catalog(path)


def test_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"no catalog\.json or catalog\.py in this folder"):
        load_catalog(tmp_path)
    with pytest.raises(CatalogError, match="catalog file not found"):
        load_catalog(tmp_path / "nope.json")
    other = tmp_path / "catalog.yaml"
    other.write_text("name: x\n")
    with pytest.raises(CatalogError, match=r"a catalog is a \.json file or a \.py module"):
        load_catalog(other)


def test_python_module_without_catalog(tmp_path: Path) -> None:
    path = tmp_path / "catalog.py"
    path.write_text("CATALOG = {'name': 'not a Catalog'}\n")
    with pytest.raises(CatalogError, match="must define CATALOG"):
        load_catalog(path)


def test_catalog_is_frozen() -> None:
    catalog = catalog_from_dict(shop_dict())
    assert isinstance(catalog, Catalog)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        catalog.name = "other"  # type: ignore[misc]


# --- catalog formats ----------------------------------------------------------------------

ARGS = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def test_openai_tool_list(tmp_path: Path) -> None:
    tools = [
        {"type": "function", "function": {"name": "math.factorial", "description": "n!",
                                          "parameters": ARGS}},
    ]  # fmt: skip
    folder = tmp_path / "maths"
    folder.mkdir()
    catalog = load_catalog(write_json(folder / "catalog.json", tools))
    assert catalog.name == "maths"  # a bare list takes the folder's name
    assert catalog.tool_names == ["math.factorial"]
    assert catalog.tools[0].required == ["n"]


def test_mcp_tools_with_input_schema() -> None:
    data = {"tools": [{"name": "get-weather", "description": "w", "inputSchema": ARGS}]}
    catalog = catalog_from_dict(data, name="mcp")
    assert catalog.name == "mcp"
    assert catalog.tools[0].name == "get-weather"
    assert catalog.tools[0].properties == {"n": {"type": "integer"}}


def test_catalog_with_its_own_name_and_openai_tools() -> None:
    data = {"name": "x", "tools": [{"type": "function", "function": {"name": "f"}}]}
    assert catalog_from_dict(data).tools[0].signature() == "f()"


def test_latin1_catalog_is_one_clear_paragraph(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_bytes('{"name": "caf\u00e9", "tools": []}'.encode("latin-1"))
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    message = str(err.value)
    assert message.startswith(f"{path}: not UTF-8 text (byte 0xe9")
    assert "Save the catalog as UTF-8" in message and "\n" not in message


def test_catalog_module_that_raises_is_one_clear_paragraph(tmp_path: Path) -> None:
    path = tmp_path / "catalog.py"
    path.write_text("x = 1\nraise RuntimeError('no network here')\n")
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    message = str(err.value)
    assert message.startswith(f"{path}:2: the catalog module raised RuntimeError: no network")
    assert err.value.__cause__ is None and err.value.__suppress_context__
