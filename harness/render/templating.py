"""The Jinja2 environment of the HTML report: its filters, its assets and its policy.

Templates are package files under ``templates/``; so are the CSS and the script, which are
inlined into every report. The Content-Security-Policy is computed here from the script's
own text, so the page runs that script and nothing else.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from harness.catalog import NO_TOOL
from harness.compare import Comparison, MetricDelta
from harness.hashing import csp_hash
from harness.metrics import Rate
from harness.render.labels import metric_text, outcome_text
from harness.results import CaseRecord

TEXT_LIMIT = 2_000
"""Characters of a prompt or output shown per case; the rest is in results.json."""

STATUS_LABELS = {"regression": "regression", "fix": "fixed", "failing": "fail", "passing": "pass"}
STATUS_NAMES = {
    "regression": "regressions",
    "fix": "fixes",
    "failing": "failing",
    "passing": "passing",
}

# Control characters would be invisible (or break the layout); show them as symbols.
_VISIBLE = {i: 0x2400 + i for i in range(0x20) if i not in (0x09, 0x0A)} | {0x7F: 0x2421}

_TEMPLATES = "templates"


# --- formatting (the template's filters) ------------------------------------------------


def fmt_value(value: float | None) -> str:
    """How the report shows a rate: three decimals, ``n/a`` over no cases."""
    return "n/a" if value is None else f"{value:.3f}"


def fmt_delta(delta: float | None) -> str:
    """A change with its sign: ``+0.021``."""
    return "n/a" if delta is None else f"{delta:+.3f}"


def fmt_interval(rate: Rate) -> str:
    """A 95% interval as ``low–high``, or ``no cases``."""
    if rate.low is None or rate.high is None:
        return "no cases"
    return f"{rate.low:.3f}–{rate.high:.3f}"


def json_for_script(data: Any) -> str:
    """JSON safe to place inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    for raw, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def clip(text: str, limit: int = TEXT_LIMIT) -> tuple[str, int]:
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def _delta_text(d: MetricDelta, suffix: str = "") -> str:
    """The change against the baseline: an arrow for the direction, then the signed value."""
    if d.delta is None:
        return "n/a"
    if d.verdict == "same":
        return "no change"
    return f"{'▲' if d.delta > 0 else '▼'} {fmt_delta(d.delta)}{suffix}"


def _mcnemar_direction(c: Comparison) -> str:
    if c.mcnemar_p < 0.05 and (c.regressions or c.fixes):
        return " worse" if len(c.regressions) > len(c.fixes) else " better"
    return ""


def _gold_text(case: CaseRecord) -> str:
    if case.gold.tool == NO_TOOL:
        return NO_TOOL
    return json.dumps(
        {"tool": case.gold.tool, "arguments": case.gold.arguments}, ensure_ascii=False
    )


# --- the template -----------------------------------------------------------------------


def asset(name: str) -> str:
    return (resources.files("harness.render") / _TEMPLATES / name).read_text(encoding="utf-8")


def _load(name: str) -> str:
    """A template's source with line breaks and the indentation after them removed."""
    return re.sub(r"\n[ \t]*", "", asset(name))


@cache
def environment() -> jinja2.Environment:
    """The template environment, built once: autoescaping on, undefined names an error."""
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_load),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        num=lambda n: f"{n:,}",
        value=fmt_value,
        interval=fmt_interval,
        g=lambda x: f"{x:g}",
        pyrepr=repr,
        op=lambda op: {"<=": "≤", ">=": "≥"}.get(op, op),
        time=lambda stamp: stamp.replace("T", " ").replace("+00:00", " UTC"),
        outcome=outcome_text,
        text=metric_text,
        clip=clip,
        visible=lambda text: text.translate(_VISIBLE),
        json_text=lambda v: json.dumps(v, ensure_ascii=False),
    )
    env.globals.update(
        delta_text=_delta_text,
        mcnemar_direction=_mcnemar_direction,
        gold_text=_gold_text,
        status_labels=STATUS_LABELS,
        status_names=STATUS_NAMES,
    )
    return env


@cache
def assets() -> tuple[Markup, Markup, str]:
    """The CSS and script to inline, and the CSP that admits exactly that script."""
    css, script = asset("report.css"), asset("report.js")
    digest = csp_hash(script).removeprefix("sha256-")
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )
    return Markup(css), Markup(script), csp


def content_security_policy() -> str:
    """The policy every report carries (its script hash is computed from the package file)."""
    return assets()[2]
