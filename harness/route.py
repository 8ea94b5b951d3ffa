"""Routing one request in an application: ask the model, check its answer, call the tool.

>>> result = route("Where is ORD-1234?", catalog, backend, tools={"track_order": track})
>>> if result.status == "invalid":
...     ask_the_user_to_rephrase(result.parse.detail)
>>> if result.status == "ungrounded":
...     ask_the_user_for(result.ungrounded)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from harness.backends.base import Backend, DecodingConfig, GenerationRequest
from harness.catalog import Catalog
from harness.formats import OutputFormat, get_format
from harness.grammar import check_constrainable, check_support, output_schema
from harness.grounding import ungrounded_arguments
from harness.parse import ParseResult

RouteStatus = Literal["called", "no_tool", "invalid", "ungrounded"]

ROUTE_LOOKUP = 16
"""Lookup decoding's draft depth for :func:`route` (a transformers backend's greedy
output is the same with it; a single request is where drafts save the most)."""

ROUTE_LOOKUP_TREE = 16
"""How many draft tokens :func:`route` verifies a pass, as a tree of the likeliest
continuations (a pass over 17 tokens costs about 1.5x a pass over one on a 2-core CPU, and
saves passes where the answer is predictable)."""

ROUTE_LOOKUP_TREE_FIRST = 8
"""The tree's size on the pass that reads the request: that pass is wide already (the
request and the template's tokens), so draft tokens cost more there. Chosen on the
reference router's dev split (80 constrained calls, taking turns): 8 took as many passes
as 16 (3.00 a call) and 4% less time; 4 took more passes."""

ROUTE_REQUEST_ID = "route"
"""The request id :func:`route` sends; a ``mock:`` replay file answers it with this id."""


@dataclass(frozen=True)
class RouteResult:
    """What happened: a tool was ``called``, the model chose ``no_tool``, its output was
    ``invalid`` (``parse.error`` and ``parse.detail`` say why; nothing was called), or its
    call was ``ungrounded``: a grounded argument's value is not in the request, so the
    tool was not called (``ungrounded`` names the arguments; ``tool`` and ``arguments``
    say what the model wanted)."""

    status: RouteStatus
    parse: ParseResult
    raw: str
    tool: str | None = None
    arguments: dict[str, Any] | None = None
    value: Any = None
    ungrounded: tuple[str, ...] = ()


def route(
    request: str,
    catalog: Catalog,
    backend: Backend,
    tools: Mapping[str, Callable[..., Any]],
    answer_directly: Callable[[str], Any] | None = None,
    config: DecodingConfig | None = None,
    output_format: OutputFormat | None = None,
    decoding: str | None = None,
) -> RouteResult:
    """Route ``request`` through the model and dispatch its validated answer.

    A valid call runs ``tools[name](**arguments)``; a ``no_tool`` answer runs
    ``answer_directly(reason)`` when given. A catalog tool missing from ``tools`` is a
    ``KeyError`` naming it. Invalid output is returned, never raised, so the caller can
    retry or ask the user to rephrase. A call whose grounded (``x-grounded``) argument has
    a value the request does not contain is never dispatched: it comes back ``ungrounded``.
    ``output_format`` (default ``json``) must be the one the model was evaluated in.
    ``decoding`` (``free`` or ``constrained``; default: the config's ``mode``, else
    ``free``) with ``constrained`` lets the model write only valid calls of ``catalog``
    (transformers backends, json format). Without ``config`` a transformers backend uses
    lookup decoding (a tree of :data:`ROUTE_LOOKUP_TREE` draft tokens a pass and
    :data:`ROUTE_LOOKUP_TREE_FIRST` on the first, up to :data:`ROUTE_LOOKUP` deep, drafted
    from the request and from the answers given to ``backend.add_lookup_corpus``, with
    the requests they answered when given): the same answer, fewer forward passes.
    """
    fmt = output_format or get_format("json")
    messages = [
        {"role": "system", "content": fmt.system_prompt(catalog)},
        {"role": "user", "content": request},
    ]
    config = config or DecodingConfig(
        batch_size=1,
        lookup=ROUTE_LOOKUP,
        lookup_tree=ROUTE_LOOKUP_TREE,
        lookup_tree_first=ROUTE_LOOKUP_TREE_FIRST,
    )
    mode = decoding or config.mode
    check_support(mode, backend.decodings, backend.spec, fmt.name)
    schema = None
    if mode == "constrained":
        check_constrainable(catalog)
        schema = output_schema(catalog, messages)
    call = GenerationRequest(
        id=ROUTE_REQUEST_ID, messages=messages, tools=fmt.tools(catalog), output_schema=schema
    )
    generation = backend.generate([call], dataclasses.replace(config, format=fmt.name, mode=mode))[
        0
    ]
    parsed = fmt.parse(generation.text, catalog)
    if not parsed.valid:
        return RouteResult(status="invalid", parse=parsed, raw=generation.text)
    if parsed.is_no_tool:
        reason = parsed.reason or ""
        value = answer_directly(reason) if answer_directly is not None else None
        return RouteResult(status="no_tool", parse=parsed, raw=generation.text, value=value)
    name = parsed.tool or ""
    if name not in tools:
        raise KeyError(
            f"the model called tool {name!r}, but no function was given for it "
            f"(tools given: {', '.join(sorted(tools)) or 'none'})"
        )
    arguments = dict(parsed.arguments or {})
    tool = catalog.tool(name)
    missing = ungrounded_arguments(arguments, tool, request) if tool is not None else []
    if missing:
        return RouteResult(
            status="ungrounded",
            parse=parsed,
            raw=generation.text,
            tool=name,
            arguments=arguments,
            ungrounded=tuple(missing),
        )
    return RouteResult(
        status="called",
        parse=parsed,
        raw=generation.text,
        tool=name,
        arguments=arguments,
        value=tools[name](**arguments),
    )
