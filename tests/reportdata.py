"""Realistic runs for the compare and report tests: a tiny golden folder, the mock backend.

No model is involved: outputs are replayed from a JSONL file written next to the golden set.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.backends.mock import MockBackend
from harness.golden import load_golden
from harness.results import RunResults
from harness.runner import GateSplit, run_suite

HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_ATTR = '"><img src=x onerror=alert(1)>'

CATALOG: dict[str, Any] = {
    "name": "shop",
    "description": "You route online-shop requests to tools.",
    "tools": [
        {
            "name": "track_order",
            "description": "Where an order is.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "minLength": 1}},
                "required": ["order_id"],
            },
        },
        {
            "name": "refund_order",
            "description": "Refund an order.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string", "minLength": 1},
                    "reason": {"type": "string"},
                },
                "required": ["order_id"],
            },
        },
        {
            "name": "search_products",
            "description": "Search the shop.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "minLength": 1}},
                "required": ["query"],
            },
        },
    ],
}

NO_TOOL_CATEGORIES = ("underspecified", "info_request", "chitchat")


def case(
    case_id: str,
    category: str = "positive",
    prompt: str | None = None,
    tool: str = "track_order",
    arguments: Mapping[str, Any] | None = None,
    split: str = "dev",
) -> dict[str, Any]:
    """One golden line; no-tool categories get a no_tool target."""
    if category != "positive":
        target: dict[str, Any] = {"tool": "no_tool"}
    else:
        target = {"tool": tool, "arguments": dict(arguments or {"order_id": f"ORD-{case_id}"})}
    return {
        "id": case_id,
        "category": category,
        "prompt": prompt or f"request {case_id}",
        "target": target,
        "split": split,
    }


def gold_output(row: Mapping[str, Any]) -> str:
    """The output a perfect router would give for a golden line."""
    target = row["target"]
    if target["tool"] == "no_tool":
        return json.dumps({"tool": "no_tool", "reason": "no tool fits"})
    return json.dumps({"tool": target["tool"], "arguments": target["arguments"]})


def wrong_output(row: Mapping[str, Any]) -> str:
    """A plausible failing output: a false call, a wrong tool, or wrong arguments."""
    target = row["target"]
    if target["tool"] == "no_tool":
        return json.dumps({"tool": "track_order", "arguments": {"order_id": "ORD-0"}})
    if target["tool"] == "track_order":
        return json.dumps({"tool": "track_order", "arguments": {"order_id": "ORD-WRONG"}})
    return json.dumps({"tool": "search_products", "arguments": {"query": "something"}})


def write_golden(
    folder: Path, rows: Iterable[Mapping[str, Any]], catalog: Mapping[str, Any] | None = None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "catalog.json").write_text(json.dumps(catalog or CATALOG), encoding="utf-8")
    (folder / "cases.jsonl").write_text(
        "".join(json.dumps(dict(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return folder


def run(
    tmp_path: Path,
    rows: list[dict[str, Any]],
    outputs: Mapping[str, str],
    *,
    name: str = "run",
    run_id: str | None = None,
    catalog: Mapping[str, Any] | None = None,
    gate_split: GateSplit = "all",
) -> RunResults:
    """Write a golden folder and a replay file under ``tmp_path/name`` and run them."""
    base = tmp_path / name
    golden = write_golden(base / "golden", rows, catalog)
    replay = base / "replay.jsonl"
    replay.write_text(
        "".join(json.dumps({"id": k, "output": v}) + "\n" for k, v in outputs.items()),
        encoding="utf-8",
    )
    return run_suite(
        load_golden(golden), MockBackend(replay), run_id=run_id or name, gate_split=gate_split
    )


def outputs_where(rows: Iterable[Mapping[str, Any]], failing: Iterable[str] = ()) -> dict[str, str]:
    """Gold outputs for every row, wrong ones for the ids in ``failing``."""
    bad = set(failing)
    return {r["id"]: wrong_output(r) if r["id"] in bad else gold_output(r) for r in rows}


def synthetic_rows(n: int) -> list[dict[str, Any]]:
    """``n`` varied golden lines over every category, both splits and all tools."""
    tools: list[tuple[str, Callable[[int], dict[str, Any]]]] = [
        ("track_order", lambda i: {"order_id": f"ORD-{i:05d}"}),
        ("refund_order", lambda i: {"order_id": f"ORD-{i:05d}", "reason": "arrived broken"}),
        ("search_products", lambda i: {"query": f"blue running shoes size {i % 13 + 36}"}),
    ]
    rows = []
    for i in range(n):
        split = "holdout" if i % 5 == 0 else "dev"
        if i % 4 == 3:
            category = NO_TOOL_CATEGORIES[i % 3]
            prompt = f"Hello, what are your opening hours? ({i})"
            rows.append(case(f"c{i:05d}", category, prompt, split=split))
            continue
        tool, args = tools[i % 3]
        prompt = f"Customer {i} asks: please use {tool.replace('_', ' ')} for this one."
        rows.append(case(f"c{i:05d}", "positive", prompt, tool, args(i), split))
    return rows


def synthetic_outputs(rows: list[dict[str, Any]], fail_every: int = 9) -> dict[str, str]:
    """Mostly correct outputs; every ``fail_every``-th case fails in one of several ways."""
    out: dict[str, str] = {}
    for i, r in enumerate(rows):
        if i % fail_every == 4:
            kind = (i // fail_every) % 3
            if kind == 0:
                out[r["id"]] = wrong_output(r)
            elif kind == 1:
                out[r["id"]] = "Sure! I will look that up for you: " + gold_output(r)
            else:
                out[r["id"]] = '{"tool": "cancel_everything", "arguments": {}}'
        else:
            out[r["id"]] = gold_output(r)
    return out


MATCHING_CATALOG: dict[str, Any] = {
    **CATALOG,
    "tools": [
        CATALOG["tools"][0],
        {
            **CATALOG["tools"][1],
            "parameters": {
                **CATALOG["tools"][1]["parameters"],
                "properties": {
                    "order_id": {"type": "string", "minLength": 1},
                    "reason": {"type": "string", "x-match": "contains"},
                },
            },
        },
        {
            **CATALOG["tools"][2],
            "parameters": {
                **CATALOG["tools"][2]["parameters"],
                "properties": {
                    "query": {"type": "string", "minLength": 1, "x-match": "normalized"}
                },
            },
        },
    ],
}
"""The shop catalog with match rules: ``reason`` by ``contains``, ``query`` ``normalized``."""


def varied_outputs(
    rows: list[dict[str, Any]], fail_every: int = 7, shift: int = 0
) -> dict[str, str]:
    """Mostly correct outputs; every ``fail_every``-th case fails in one of seven ways (false
    and missed calls, wrong tool, wrong arguments, prose, an unknown tool), several of them
    with the very same output, as a router that learned one bad habit gives."""
    out: dict[str, str] = {}
    for i, r in enumerate(rows):
        target = r["target"]
        if (i + shift) % fail_every != 3:
            out[r["id"]] = gold_output(r)
            continue
        kind = ((i + shift) // fail_every) % 7
        if target["tool"] == "no_tool":
            out[r["id"]] = (
                json.dumps({"tool": "refund_order", "arguments": {"order_id": "ORD-0"}})
                if kind % 2
                else "I can help with that! What is your order number?"
            )
        elif kind == 0:
            out[r["id"]] = json.dumps({"tool": "no_tool", "reason": "need an order id"})
        elif kind == 1:
            args = dict(target["arguments"])
            key = next(iter(args))
            args[key] = str(args[key]).replace("0", "O", 1) + " please"
            out[r["id"]] = json.dumps({"tool": target["tool"], "arguments": args})
        elif kind == 2:
            out[r["id"]] = json.dumps({"tool": "search_products", "arguments": {"query": "order"}})
        elif kind == 3:
            out[r["id"]] = "Sure! Let me check: " + gold_output(r)
        elif kind == 4:
            out[r["id"]] = json.dumps({"tool": "cancel_order", "arguments": {}})
        elif kind == 5:
            out[r["id"]] = json.dumps({"tool": target["tool"], "arguments": {}})
        else:
            out[r["id"]] = '{"tool": "track_order", "arguments": {"order_id": '
    return out
