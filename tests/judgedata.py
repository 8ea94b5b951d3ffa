"""A small golden set with free-text arguments, its router replay and judge replays, for
the judge's tests (mock judges replay answers by ``<case id>#<argument>``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CATALOG: dict[str, Any] = {
    "name": "shop",
    "description": "You route customer-support requests to tools.",
    "tools": [
        {
            "name": "refund",
            "description": "Refund an order.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string"},
                    "reason": {
                        "type": "string",
                        "description": "Why the customer wants the money back.",
                        "x-match": "judge",
                    },
                },
                "required": ["order_id", "reason"],
            },
        },
        {
            "name": "escalate",
            "description": "Hand the conversation to a person.",
            "parameters": {
                "type": "object",
                "properties": {"reason": {"type": "string", "x-match": "contains-or-similar"}},
                "required": ["reason"],
            },
        },
    ],
}


def _refund(case_id: str, order: str, reason: str) -> dict[str, Any]:
    return {
        "id": case_id,
        "category": "positive",
        "prompt": f"refund {order} please",
        "target": {"tool": "refund", "arguments": {"order_id": order, "reason": reason}},
    }


CASES = [
    _refund("r1", "ORD-1", "arrived broken"),
    _refund("r2", "ORD-2", "wrong size"),
    _refund("r3", "ORD-3", "never arrived"),
    {
        "id": "e1",
        "category": "positive",
        "prompt": "I am furious, get me a person",
        "target": {"tool": "escalate", "arguments": {"reason": "customer is angry"}},
    },
    {"id": "n1", "category": "chitchat", "prompt": "hello", "target": {"tool": "no_tool"}},
]

ROUTER = {
    # deterministic: no match (contains-or-similar); a judge may well say yes
    "r1": {"tool": "refund", "arguments": {"order_id": "ORD-1", "reason": "damaged on arrival"}},
    # deterministic: no match; the wrong fact
    "r2": {"tool": "refund", "arguments": {"order_id": "ORD-2", "reason": "arrived broken"}},
    # deterministic: exact match
    "r3": {"tool": "refund", "arguments": {"order_id": "ORD-3", "reason": "never arrived"}},
    # deterministic: contains the gold phrase
    "e1": {"tool": "escalate", "arguments": {"reason": "the customer is angry"}},
    "n1": {"tool": "no_tool", "reason": "small talk"},
}

ANSWERS = {"r1#reason": "Yes", "r2#reason": "no", "r3#reason": "no", "e1#reason": "no."}
"""A judge replay: it disagrees with the deterministic verdict on r1, r3 and e1."""


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_golden(root: Path) -> Path:
    """The golden folder (one catalog, ``shop``) under ``root``."""
    folder = root / "golden" / "shop"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "catalog.json").write_text(json.dumps(CATALOG), encoding="utf-8")
    write_jsonl(folder / "cases.jsonl", CASES)
    return folder


def write_router(root: Path) -> str:
    rows = [{"id": k, "output": json.dumps(v)} for k, v in ROUTER.items()]
    return f"mock:{write_jsonl(root / 'router.jsonl', rows)}"


def write_judge(root: Path, answers: dict[str, str] | None = None, name: str = "judge") -> str:
    rows = [{"id": k, "output": v} for k, v in (ANSWERS if answers is None else answers).items()]
    return f"mock:{write_jsonl(root / f'{name}.jsonl', rows)}"
