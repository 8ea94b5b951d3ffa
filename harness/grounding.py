"""Grounded arguments: values that must come from the user, never from the model.

An argument declared ``"x-grounded": true`` (an order id, an email address) must have a value
that occurs in the conversation: the text of every message except the system prompt. A
router that invents one (``ORD-1`` when the user gave no id, ``ORD-7711`` when they wrote
``ORD-7781``) makes a call that is valid and silently wrong. The value is compared under the
argument's match policy (each policy's ``occurs`` test in :mod:`harness.match`), or under
the policy ``x-grounded`` names instead of ``true`` (``"x-grounded": "id"`` when the router
is expected to write ``ord 5561`` as ``ORD-5561``).

Values that are not strings are compared by their JSON text (``2``, ``true``; a whole
float also as the integer it equals), arrays and objects value by value. ``null`` and an
empty string invent nothing and are grounded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from harness.match import OCCURS, occurs_as_text

if TYPE_CHECKING:
    from harness.cases import GoldenCase
    from harness.catalog import Tool

GROUNDED = "x-grounded"
"""The schema keyword: ``true`` (the argument's match policy) or a policy name."""


def grounding_policy(tool: Tool, argument: str) -> str | None:
    """The policy ``argument`` of ``tool`` is grounded under, or ``None`` if it is not."""
    declared = tool.properties.get(argument, {}).get(GROUNDED, False)
    if declared is True:
        return tool.match_policy(argument)
    return declared if isinstance(declared, str) else None


def grounded_arguments(tool: Tool) -> dict[str, str]:
    """Every grounded argument of ``tool`` with the policy it is compared under."""
    policies = {name: grounding_policy(tool, name) for name in tool.properties}
    return {name: policy for name, policy in policies.items() if policy is not None}


def conversation_text(turns: Iterable[Mapping[str, str]]) -> str:
    """What the user (and any tool or assistant turn) said: every non-system message."""
    return "\n".join(t["content"] for t in turns if t.get("role") != "system")


def case_conversation(case: GoldenCase) -> str:
    """The conversation of a golden case, as :func:`conversation_text` reads it."""
    if case.messages is not None:
        return conversation_text(m.model_dump() for m in case.messages)
    return case.prompt or ""


def _renderings(value: Any) -> list[str]:
    """The texts a scalar may be written as: its JSON text, a whole float also as an int."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return [json.dumps(value), str(int(value))]
    try:
        return [json.dumps(value, ensure_ascii=False)]
    except ValueError:  # an integer too long to print: no text could hold it
        return []


def value_occurs(value: Any, text: str, policy: str) -> bool:
    """Whether ``value`` occurs in ``text`` under ``policy``. Never raises on data."""
    if value is None:
        return True
    if isinstance(value, list):
        return all(value_occurs(v, text, policy) for v in value)
    if isinstance(value, dict):
        return all(value_occurs(v, text, policy) for v in value.values())
    rule = OCCURS.get(policy, occurs_as_text)
    if isinstance(value, str):
        return rule(value, text)
    return any(rule(r, text) for r in _renderings(value))


def ungrounded_arguments(arguments: Mapping[str, Any], tool: Tool, conversation: str) -> list[str]:
    """The grounded arguments of a call whose value does not occur in ``conversation``."""
    return [
        name
        for name, policy in grounded_arguments(tool).items()
        if name in arguments and not value_occurs(arguments[name], conversation, policy)
    ]
