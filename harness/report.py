"""The HTML report: one self-contained file a reviewer opens from disk.

Everything is inline (CSS, a small filtering script, no fonts, no network). Every string
that came from a model, a golden file or a catalog is escaped before it reaches the page,
and a Content-Security-Policy admits only the report's own script, so even a missed escape
could not run code.

Size is bounded whatever the run's size (under 5 MB): regressions, fixes and failures are
shown in full (texts clipped at :data:`TEXT_LIMIT` characters) until :data:`FULL_BUDGET`
bytes, every other case as a one-line row until :data:`CASES_BUDGET` bytes; cases beyond
are counted, and all remain in results.json. Passing cases start hidden (a filter shows
them), so even a 10,000-case report opens in well under two seconds.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic
from harness.catalog import NO_TOOL
from harness.compare import (
    DELTA_METRICS,
    CaseChange,
    Comparison,
    MetricDelta,
    keys_by_status,
)
from harness.golden import SLICES, SPLITS, Category
from harness.metrics import LOWER_IS_BETTER, RATE_NAMES, Metrics, Rate, confusion_labels
from harness.results import CaseRecord, RunResults
from harness.scoring import Outcome

TEXT_LIMIT = 2_000
"""Characters of a prompt or output shown per case; the rest is in results.json."""

CASES_BUDGET = 4_500_000
"""Bytes of the case list; the rest of a report takes well under 0.5 MB."""

FULL_BUDGET = 2_500_000
"""Bytes of the case list spent on cases shown in full (regressions, fixes, failures)."""

SNIPPET = 80
"""Characters of the prompt in a one-line row."""

LAZY_FROM = 400
"""Above this many listed cases the browser lays out only those near the viewport."""

STATUSES = ("regression", "fix", "failing", "passing")

METRIC_LABELS = {
    "valid_tool_call_rate": "Valid tool calls",
    "tool_name_accuracy": "Tool-name accuracy",
    "argument_match_accuracy": "Argument match",
    "false_tool_call_rate": "False tool calls",
    "silent_corruption_rate": "Silent corruption",
    "missed_call_rate": "Missed calls",
    "pass_rate": "Pass rate",
}

TABLE_METRICS = (*DELTA_METRICS, "pass_rate")

OUTCOME_LABELS = {
    Outcome.CORRECT: "correct",
    Outcome.INVALID: "invalid",
    Outcome.FALSE_TOOL_CALL: "false tool call",
    Outcome.MISSED_CALL: "missed call",
    Outcome.WRONG_TOOL: "wrong tool",
    Outcome.WRONG_ARGUMENTS: "wrong arguments",
}

# Control characters would be invisible (or break the layout); show them as symbols.
_VISIBLE = {i: 0x2400 + i for i in range(0x20) if i not in (0x09, 0x0A)} | {0x7F: 0x2421}


# --- formatting ------------------------------------------------------------------------


def h(value: object) -> str:
    """Escape text for HTML content and attribute values alike."""
    return html.escape(str(value), quote=True)


def fmt_value(value: float | None) -> str:
    """How the report shows a rate: three decimals, ``n/a`` over no cases."""
    return "n/a" if value is None else f"{value:.3f}"


def fmt_delta(delta: float | None) -> str:
    return "n/a" if delta is None else f"{delta:+.3f}"


def fmt_interval(rate: Rate) -> str:
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


def _clip(text: str, limit: int = TEXT_LIMIT) -> tuple[str, int]:
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def _pre(text: str, cls: str = "") -> str:
    shown, more = _clip(text)
    body = h(shown.translate(_VISIBLE))
    if not text:
        body = '<span class="muted">(empty)</span>'
    note = f'<span class="more">… {more:,} more characters in results.json</span>' if more else ""
    return f'<pre class="{cls}">{body}{note}</pre>'


def _metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def _delta_html(d: MetricDelta | None, attrs: str = "", suffix: str = "") -> str:
    """The change against the baseline: arrow for the direction, colour for good or bad."""
    if d is None:
        return ""
    if d.delta is None:
        text = "n/a"
    elif d.verdict == "same":
        text = "no change"
    else:
        text = f"{'▲' if d.delta > 0 else '▼'} {fmt_delta(d.delta)}{suffix}"
    cls = "na" if d.verdict == "n/a" else d.verdict
    title = f"baseline {fmt_value(d.baseline.value)} → current {fmt_value(d.current.value)}" + (
        "; lower is better" if d.lower_is_better else ""
    )
    return f'<span class="delta {cls}" title="{h(title)}"{attrs}>{h(text)}</span>'


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


# --- sections --------------------------------------------------------------------------


def _header(results: RunResults, comparison: Comparison | None) -> str:
    gates = results.gates
    failed = [g for g in gates if not g.passed]
    if not gates:
        verdict = '<span class="verdict none">No gates</span>'
    elif failed:
        verdict = (
            f'<span class="verdict fail" data-gates="failed">'
            f"{len(failed)} of {len(gates)} gates failed</span>"
        )
    else:
        verdict = (
            f'<span class="verdict pass" data-gates="passed">All {len(gates)} gates passed</span>'
        )
    ck = results.checkpoint
    n = len(results.cases)
    splits = Counter(c.split for c in results.cases)
    catalogs = ", ".join(f"{g.catalog} ({g.n:,})" for g in results.golden)
    timing = results.timing
    speed = ""
    if timing.get("generate_seconds"):
        speed = f"{timing['generate_seconds']:.1f} s generating"
        if timing.get("cached_cases"):
            speed += f", {int(timing['cached_cases']):,} cached"
    decoding = ", ".join(f"{k}={v}" for k, v in results.decoding.items())
    rows = [
        ("Checkpoint", f'<code class="wrap">{h(ck.spec)}</code>'),
        ("Fingerprint", f"<code>{h(ck.fingerprint)}</code>"),
        ("Created", h(_time(results.created_at))),
        (
            "Cases",
            f"{n:,} ("
            + ", ".join(f"{splits[s]:,} {s}" for s in SPLITS if s in splits)
            + ")"
            + (f" · {h(speed)}" if speed else ""),
        ),
        ("Golden", f"{h(catalogs)} · <code>{h(results.golden_fingerprint)}</code>"),
        (
            "Scoring",
            f"{h(results.parse_mode)} parser · gates on {h(results.gate_split)} cases · "
            f"{h(decoding)}",
        ),
    ]
    meta = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    title = "Regression report" if comparison else "Evaluation report"
    return (
        '<header class="top">'
        f'<div class="titlebar"><div><div class="brand">routecheck · {title}</div>'
        f'<h1>Run <span class="runid">{h(results.run_id)}</span></h1></div>{verdict}</div>'
        f'<dl class="meta">{meta}</dl>'
        "</header>"
    )


def _time(stamp: str) -> str:
    return stamp.replace("T", " ").replace("+00:00", " UTC")


def _comparison_panel(comparison: Comparison) -> str:
    c = comparison
    chips = [
        ("regression", "regressions", len(c.regressions)),
        ("fix", "fixes", len(c.fixes)),
        ("failing", "still failing", len(c.still_failing)),
        ("passing", "still passing", len(c.still_passing)),
        ("neutral", "added", len(c.added)),
        ("neutral", "removed", len(c.removed)),
    ]
    chip_html = "".join(
        f'<span class="stat {cls}" data-count="{h(label)}"><b>{n:,}</b> {h(label)}</span>'
        for cls, label, n in chips
    )
    significant = c.mcnemar_p < 0.05 and (c.regressions or c.fixes)
    direction = ""
    if significant:
        direction = " worse" if len(c.regressions) > len(c.fixes) else " better"
    reading = (
        f'<p class="mcnemar{direction}" data-mcnemar-p="{c.mcnemar_p!r}">'
        f"<b>Exact McNemar test</b> on the {c.n_paired:,} paired cases: "
        f'<span class="reading">{h(c.reading())}</span></p>'
    )
    warnings = "".join(f"<li>{h(w)}</li>" for w in c.warnings)
    warn_html = f'<ul class="warnings">{warnings}</ul>' if warnings else ""
    removed = ""
    if c.removed:
        shown = c.removed[:200]
        items = "".join(
            f'<li><code>{h(k)}</code> <span class="muted">'
            f"({h(_outcome_text(c.changes[k].baseline_outcome))} in the baseline)</span></li>"
            for k in shown
        )
        more = f"<li>… {len(c.removed) - len(shown):,} more</li>" if len(c.removed) > 200 else ""
        removed = (
            f'<details class="removed"><summary>{_plural(len(c.removed), "case")} only in '
            f"the baseline</summary><ul>{items}{more}</ul></details>"
        )
    return (
        '<section class="panel compare" id="comparison">'
        "<h2>Against the baseline</h2>"
        f'<p class="sub">Baseline run <code>{h(c.baseline_run_id)}</code> · '
        f'<code class="wrap">{h(c.baseline_checkpoint)}</code> · '
        f"{h(_time(c.baseline_created_at))}</p>"
        f'<div class="stats">{chip_html}</div>{reading}{warn_html}{removed}'
        "</section>"
    )


def _outcome_text(outcome: Outcome | None) -> str:
    return "absent" if outcome is None else OUTCOME_LABELS.get(outcome, str(outcome))


def _gate_for(results: RunResults, metric: str) -> tuple[str, float] | None:
    for g in results.gates:
        if g.metric == metric:
            return g.op, g.threshold
    return None


def _meets(value: float | None, gate: tuple[str, float] | None) -> bool | None:
    if gate is None or value is None:
        return None
    op, threshold = gate
    return value <= threshold if op == "<=" else value >= threshold


_HINTS = {
    "valid_tool_call_rate": "outputs that are valid calls",
    "tool_name_accuracy": "outputs naming the gold tool",
    "argument_match_accuracy": "valid outputs, right arguments",
    "false_tool_call_rate": "tool called when none fits",
    "silent_corruption_rate": "valid call, wrong tool or args",
}


def _hint(metric: str) -> str:
    return _HINTS.get(metric, metric)


def _cards(results: RunResults, comparison: Comparison | None) -> str:
    split = results.gate_split if results.gate_split in results.metrics else "all"
    report = results.metrics.get(split)
    if report is None:
        return ""
    m = report.overall
    deltas = comparison.deltas.get(split, {}) if comparison else {}
    cards = []
    gates = {g.metric: g for g in results.gates}
    for metric in DELTA_METRICS:
        rate = m.rate(metric)
        gate = gates.get(metric)
        state = "" if gate is None else (" ok" if gate.passed else " bad")
        gate_html = ""
        if gate is not None:
            mark = "✓" if gate.passed else "✗"
            gate_html = (
                f'<span class="gate{state}" title="gate">{_op(gate.op)} {gate.threshold:g} '
                f"{mark}</span>"
            )
        hint = _hint(metric) + (" · lower is better" if metric in LOWER_IS_BETTER else "")
        delta = _delta_html(deltas.get(metric), f' data-delta="{h(metric)}"', " vs baseline")
        cards.append(
            f'<div class="card{state}">'
            f'<div class="label" title="{h(metric)}"><span>{h(_metric_label(metric))}</span>'
            f"{gate_html}</div>"
            f'<div class="value"><span data-metric="{h(metric)}" data-slice="{h(split)}" '
            f'data-value="{"" if rate.value is None else repr(rate.value)}">'
            f"{fmt_value(rate.value)}</span>{delta}</div>"
            f'<div class="ci">95% CI {fmt_interval(rate)} · {rate.numerator:,}/'
            f"{rate.denominator:,}</div>"
            f'<div class="foot">{h(hint)}</div>'
            "</div>"
        )
    lenient = results.lenient_metrics.get(split)
    lenient_html = ""
    if lenient is not None and lenient.n:
        parts = " · ".join(
            f"{_metric_label(k).lower()} {fmt_value(lenient.rate(k).value)}"
            for k in ("valid_tool_call_rate", "tool_name_accuracy", "pass_rate")
        )
        lenient_html = (
            f'<p class="note">Under the lenient parser (for reference, never gated): {parts}</p>'
        )
    scope = "all splits" if split == "all" else f"{h(split)} split"
    return (
        '<section class="panel" id="headline">'
        f'<h2>Headline numbers <span class="sub">{scope}, {m.n:,} cases · '
        "95% Wilson intervals</span></h2>"
        f'<div class="cards headline">{"".join(cards)}</div>{lenient_html}</section>'
    )


def _gates_table(results: RunResults, anchors: dict[str, str]) -> str:
    if not results.gates:
        return (
            '<section class="panel" id="gates"><h2>Gates</h2>'
            '<p class="muted">No gates were configured for this run.</p></section>'
        )
    rows = []
    for g in results.gates:
        is_rate = g.metric in RATE_NAMES
        value = fmt_value(g.value) if is_rate else ("n/a" if g.value is None else f"{g.value:g}")
        ci = f"{g.low:.3f}–{g.high:.3f}" if g.low is not None and g.high is not None else ""
        message = _gate_message(g.message, g.offenders if not g.passed else [], anchors)
        badge = (
            '<span class="badge pass">pass</span>'
            if g.passed
            else ('<span class="badge fail">fail</span>')
        )
        rows.append(
            f'<tr class="{"ok" if g.passed else "bad"}" data-gate="{h(g.metric)}">'
            f"<td>{badge}</td><td><code>{h(g.metric)}</code></td>"
            f'<td class="num">{_op(g.op)} {g.threshold:g}</td>'
            f'<td class="num"><b>{h(value)}</b></td><td class="num muted">{ci}</td>'
            f'<td class="num muted">{g.numerator:,}/{g.denominator:,}</td>'
            f'<td class="msg">{message}</td></tr>'
        )
    return (
        '<section class="panel" id="gates"><h2>Gates</h2>'
        '<div class="scroll"><table class="gates"><thead><tr><th></th><th>Metric</th>'
        '<th class="num">Gate</th><th class="num">Value</th><th class="num">95% CI</th>'
        '<th class="num">Count</th><th>Message</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _op(op: str) -> str:
    return {"<=": "≤", ">=": "≥"}.get(op, h(op))


def _case_link(key: str, anchors: dict[str, str]) -> str:
    if key in anchors:
        return f'<a href="#{anchors[key]}"><code>{h(key)}</code></a>'
    return f"<code>{h(key)}</code>"


def _gate_message(message: str, offenders: Sequence[str], anchors: dict[str, str]) -> str:
    """The gate's message, escaped, with its trailing list of cases turned into links."""
    tail = ", ".join(offenders)
    if offenders and message.endswith(tail):
        head = message[: len(message) - len(tail)]
        return h(head) + ", ".join(_case_link(k, anchors) for k in offenders)
    return h(message)


def _outcomes(results: RunResults) -> str:
    counts = Counter(c.outcome for c in results.cases)
    n = len(results.cases)
    if not n:
        return ""
    segments = []
    legend = []
    for outcome in Outcome:
        k = counts.get(outcome, 0)
        legend.append(
            f'<span class="lg"><i class="sw o-{outcome.value}"></i>'
            f"{h(OUTCOME_LABELS[outcome])} <b>{k:,}</b></span>"
        )
        if k:
            segments.append(
                f'<span class="seg o-{outcome.value}" style="width:{100 * k / n:.3f}%" '
                f'title="{h(OUTCOME_LABELS[outcome])}: {k:,} ({100 * k / n:.1f}%)"></span>'
            )
    all_metrics = results.metrics.get("all")
    errors = all_metrics.overall.error_kinds if all_metrics else {}
    error_html = ""
    if errors:
        items = "".join(
            f"<li><code>{h(kind)}</code> <b>{count:,}</b></li>"
            for kind, count in sorted(errors.items(), key=lambda kv: -kv[1])
        )
        error_html = (
            f'<div class="errors"><span class="muted">Invalid outputs by error:</span>'
            f"<ul>{items}</ul></div>"
        )
    return (
        '<section class="panel" id="outcomes"><h2>Outcomes '
        f'<span class="sub">all {n:,} cases</span></h2>'
        f'<div class="bar">{"".join(segments)}</div>'
        f'<div class="legend">{"".join(legend)}</div>{error_html}</section>'
    )


def _metric_cell(
    rate: Rate,
    metric: str,
    split: str,
    category: str,
    gate: tuple[str, float] | None,
    delta: MetricDelta | None,
) -> str:
    if rate.value is None:
        return (
            f'<td class="num muted" data-metric="{h(metric)}" data-slice="{h(split)}" '
            f'data-category="{h(category)}">–</td>'
        )
    ok = _meets(rate.value, gate)
    cls = "" if ok is None else (" ok" if ok else " bad")
    title = f"95% CI {fmt_interval(rate)} ({rate.numerator:,}/{rate.denominator:,})"
    return (
        f'<td class="num{cls}" title="{h(title)}" data-metric="{h(metric)}" '
        f'data-slice="{h(split)}" data-category="{h(category)}">'
        f"{fmt_value(rate.value)}"
        f'<span class="cnt">{rate.numerator:,}/{rate.denominator:,}</span>'
        f"{_delta_html(delta)}</td>"
    )


def _slices_table(results: RunResults, comparison: Comparison | None) -> str:
    head = "".join(
        f'<th class="num" title="{h(m)}{" (lower is better)" if m in LOWER_IS_BETTER else ""}">'
        f"{h(_metric_label(m))}{' ↓' if m in LOWER_IS_BETTER else ''}</th>"
        for m in TABLE_METRICS
    )
    body = []
    for split in SLICES:
        report = results.metrics.get(split)
        if report is None or (split != "all" and not report.overall.n):
            continue
        deltas = comparison.deltas.get(split, {}) if comparison else {}
        gated = split == results.gate_split
        groups: list[tuple[str, Metrics]] = [("overall", report.overall)]
        groups += [
            (c.value, report.by_category[c.value])
            for c in Category
            if c.value in report.by_category
        ]
        groups += [
            (k, v) for k, v in report.by_category.items() if k not in {c.value for c in Category}
        ]
        for i, (category, m) in enumerate(groups):
            first = i == 0
            label = (
                f'<th rowspan="{len(groups)}" class="split">{h(split)}'
                + ('<span class="gated">gated</span>' if gated else "")
                + "</th>"
                if first
                else ""
            )
            cells = "".join(
                _metric_cell(
                    m.rate(metric),
                    metric,
                    split,
                    category,
                    _gate_for(results, metric) if first else None,
                    deltas.get(metric) if first else None,
                )
                for metric in TABLE_METRICS
            )
            cls = "overall" if first else ("empty" if m.n == 0 else "")
            body.append(
                f'<tr class="{cls}">{label}<td class="cat">{h(category)}</td>'
                f'<td class="num">{m.n:,}</td>{cells}</tr>'
            )
    return (
        '<section class="panel" id="slices"><h2>By split and category '
        '<span class="sub">↓ lower is better · hover a value for its interval</span></h2>'
        '<div class="scroll"><table class="slices"><thead><tr><th>Split</th><th>Category</th>'
        f'<th class="num">n</th>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
        "</table></div></section>"
    )


def _confusion(results: RunResults) -> str:
    blocks = []
    tools_of = {g.catalog: g.tools for g in results.golden}
    for catalog, matrix in results.confusion.items():
        tools = tools_of.get(catalog, [])
        cols = confusion_labels(tools)
        cols += sorted({p for row in matrix.values() for p in row} - set(cols))
        rows = [*tools, NO_TOOL]
        rows += sorted(set(matrix) - set(rows))
        total = sum(sum(r.values()) for r in matrix.values())
        head = "".join(
            f'<th class="col{" inv" if c == "invalid" else ""}"><span>{h(c)}</span></th>'
            for c in cols
        )
        body = []
        for gold in rows:
            row = matrix.get(gold, {})
            row_total = sum(row.values())
            if not row_total and gold not in matrix and gold != NO_TOOL and gold not in tools:
                continue
            cells = []
            for col in cols:
                k = row.get(col, 0)
                share = k / row_total if row_total else 0.0
                if not k:
                    cells.append('<td class="z">·</td>')
                    continue
                kind = "diag" if col == gold else "off"
                alpha = 0.12 + 0.6 * share
                cells.append(
                    f'<td class="{kind}" style="--a:{alpha:.2f}" '
                    f'title="gold {h(gold)} → {h(col)}: {k:,} of {row_total:,}">{k:,}</td>'
                )
            acc = row.get(gold, 0) / row_total if row_total else None
            body.append(
                f'<tr><th class="row"><code>{h(gold)}</code></th>{"".join(cells)}'
                f'<td class="tot">{row_total:,}</td>'
                f'<td class="tot">{fmt_value(acc)}</td></tr>'
            )
        blocks.append(
            f'<div class="matrix"><h3>{h(catalog)} <span class="sub">{total:,} cases · rows: '
            "gold tool, columns: predicted</span></h3>"
            '<div class="scroll"><table class="confusion"><thead><tr><th class="corner">'
            f'gold ↓ / predicted →</th>{head}<th class="tot">n</th>'
            f'<th class="tot">recall</th></tr></thead><tbody>{"".join(body)}</tbody>'
            "</table></div></div>"
        )
    if not blocks:
        return ""
    return (
        '<section class="panel" id="confusion"><h2>Confusion matrices</h2>'
        f"{''.join(blocks)}</section>"
    )


# --- cases -----------------------------------------------------------------------------


def _status_of(case: CaseRecord, statuses: dict[str, str]) -> tuple[str, bool]:
    """(display status, new in this run)."""
    raw = statuses.get(case.key)
    if raw == "regression" or raw == "fix":
        return raw, False
    return ("passing" if case.passed else "failing"), raw == "added"


def _gold_text(case: CaseRecord) -> str:
    if case.gold.tool == NO_TOOL:
        return NO_TOOL
    return json.dumps(
        {"tool": case.gold.tool, "arguments": case.gold.arguments}, ensure_ascii=False
    )


def _attrs(case: CaseRecord, status: str, anchor: str | None, catalogs: bool) -> str:
    """The data-* attributes the filters read (and an id for links to failing cases)."""
    out = f' id="{anchor}"' if anchor else ""
    if status == "passing":
        out += " hidden"
    out += (
        f' data-status="{status}" data-category="{h(str(case.category))}" '
        f'data-split="{h(case.split)}"'
    )
    if catalogs:
        out += f' data-catalog="{h(case.catalog)}"'
    if not case.passed:
        out += f' data-outcome="{h(str(case.outcome))}"'
    return out


def _outcome_badge(case: CaseRecord) -> str:
    if case.passed:
        return ""
    return f'<span class="oc o-{h(str(case.outcome))}">{h(_outcome_text(case.outcome))}</span>'


def _badges(case: CaseRecord, status: str, new: bool) -> str:
    label = {"regression": "regression", "fix": "fixed", "failing": "fail", "passing": "pass"}
    return (
        f'<span class="badge st-{status}">{label[status]}</span>'
        f'<code class="key">{h(case.key)}</code>'
        f'<span class="tag">{h(str(case.category))}</span><span class="tag">{h(case.split)}</span>'
        + ('<span class="tag new">new</span>' if new else "")
        + _outcome_badge(case)
    )


def _case_full(
    case: CaseRecord,
    status: str,
    new: bool,
    anchor: str,
    change: CaseChange | None,
    catalogs: bool,
) -> str:
    parsed = case.parsed
    error = ""
    if parsed.error is not None or parsed.detail:
        kind = f"<code>{h(parsed.error)}</code> " if parsed.error is not None else ""
        error = f'<p class="err">{kind}{h(parsed.detail)}</p>'
    if case.mismatched_arguments:
        names = ", ".join(f"<code>{h(a)}</code>" for a in case.mismatched_arguments)
        error += f'<p class="err">mismatched arguments: {names}</p>'
    predicted = (
        f'<p class="pred">predicted <code>{h(case.predicted)}</code>'
        + (" · truncated at max_new_tokens" if case.truncated else "")
        + (
            f" · lenient parser: {h(_outcome_text(case.lenient_outcome))}"
            if case.lenient_outcome != case.outcome
            else ""
        )
        + "</p>"
    )
    accept = ""
    if case.accept:
        alts = "; ".join(
            f"{h(k)}: {h(json.dumps(v, ensure_ascii=False))}" for k, v in case.accept.items()
        )
        accept = f'<p class="pred">also accepted: {alts}</p>'
    before = ""
    if change is not None and change.baseline_outcome is not None:
        label = _outcome_text(change.baseline_outcome)
        if status in ("regression", "fix") or change.baseline_outcome != case.outcome:
            extra = " (prompt or gold changed since)" if change.gold_changed else ""
            output = change.baseline_output if change.baseline_output is not None else ""
            before = (
                f'<details class="before"><summary>Baseline output ({h(label)}){extra}'
                f"</summary>{_pre(output)}</details>"
            )
    return (
        f'<article class="case full"{_attrs(case, status, anchor, catalogs)} '
        f'data-key="{h(case.key)}">'
        f'<div class="head">{_badges(case, status, new)}</div>'
        '<div class="cols">'
        f"<div><h4>Prompt</h4>{_pre(case.prompt, 'prompt')}</div>"
        f"<div><h4>Gold</h4>{_pre(_gold_text(case), 'gold')}{accept}</div>"
        f"<div><h4>Output</h4>{_pre(case.output, 'out')}{error}{predicted}</div>"
        f"</div>{before}</article>"
    )


def _case_row(case: CaseRecord, status: str, new: bool, anchor: str | None, catalogs: bool) -> str:
    """One line per case. Its badge, category and split are drawn by CSS from the data-*
    attributes, which keeps a 10,000-case report small."""
    snippet, more = _clip(" ".join(case.prompt.split()), SNIPPET)
    what = case.predicted
    if case.parsed.error is not None:
        what += f" ({case.parsed.error})"
    return (
        f'<div class="case row"{_attrs(case, status, anchor, catalogs)}>'
        f'<code class="key">{h(case.key)}</code>'
        + ('<span class="tag new">new</span>' if new else "")
        + _outcome_badge(case)
        + f'<span class="snip">{h(snippet.translate(_VISIBLE))}{"…" if more else ""}</span>'
        f'<span class="what">→ {h(what)}</span></div>'
    )


def _cases(results: RunResults, comparison: Comparison | None) -> tuple[str, dict[str, str]]:
    statuses: dict[str, str] = (
        dict(keys_by_status(comparison, (c.key for c in results.cases))) if comparison else {}
    )
    groups: dict[str, list[tuple[int, CaseRecord, bool]]] = {s: [] for s in STATUSES}
    for i, case in enumerate(results.cases):
        status, new = _status_of(case, statuses)
        groups[status].append((i, case, new))
    catalogs = len({c.catalog for c in results.cases}) > 1
    anchors: dict[str, str] = {}
    parts: list[str] = []
    used = full_used = 0
    omitted: Counter[str] = Counter()
    n_full = n_rows = 0
    for status in STATUSES:
        for i, case, new in groups[status]:
            # Passing cases get no id: gates link to failures, never to passing cases.
            anchor = None if status == "passing" else f"c{i}"
            if anchor is not None and full_used < FULL_BUDGET:
                change = comparison.changes.get(case.key) if comparison else None
                piece = _case_full(case, status, new, anchor, change, catalogs)
                size = len(piece.encode("utf-8", "replace"))
                full_used += size
                n_full += 1
            elif used < CASES_BUDGET:
                piece = _case_row(case, status, new, anchor, catalogs)
                size = len(piece.encode("utf-8", "replace"))
                n_rows += 1
            else:
                omitted[status] += 1
                continue
            used += size
            if anchor is not None:
                anchors[case.key] = anchor
            parts.append(piece)

    counts = {s: len(groups[s]) for s in STATUSES}
    present = [s for s in STATUSES if counts[s] or s in ("failing", "passing")]
    if comparison is None:
        present = ["failing", "passing"]
    status_names = {
        "regression": "regressions",
        "fix": "fixes",
        "failing": "failing",
        "passing": "passing",
    }
    status_boxes = "".join(
        f'<label class="chk st-{s}"><input type="checkbox" name="status" value="{s}"'
        f"{'' if s == 'passing' else ' checked'}> {status_names[s]} "
        f'<span class="n">{counts[s]:,}</span></label>'
        for s in present
    )
    cat_counts = Counter(str(c.category) for c in results.cases)
    cat_boxes = "".join(
        f'<label class="chk"><input type="checkbox" name="category" value="{h(c.value)}" '
        f'checked> {h(c.value)} <span class="n">{cat_counts.get(c.value, 0):,}</span></label>'
        for c in Category
    )
    split_counts = Counter(c.split for c in results.cases)
    split_boxes = "".join(
        f'<label class="chk"><input type="checkbox" name="split" value="{s}" checked> {s} '
        f'<span class="n">{split_counts.get(s, 0):,}</span></label>'
        for s in SPLITS
        if split_counts.get(s)
    )
    catalog_names = sorted({c.catalog for c in results.cases})
    catalog_group = ""
    if len(catalog_names) > 1:
        cat_n = Counter(c.catalog for c in results.cases)
        catalog_group = (
            "<fieldset><legend>Catalog</legend>"
            + "".join(
                f'<label class="chk"><input type="checkbox" name="catalog" value="{h(c)}" '
                f'checked> {h(c)} <span class="n">{cat_n[c]:,}</span></label>'
                for c in catalog_names
            )
            + "</fieldset>"
        )
    filters = (
        '<form class="filters" id="filters" autocomplete="off">'
        f"<fieldset><legend>Status</legend>{status_boxes}</fieldset>"
        f"<fieldset><legend>Category</legend>{cat_boxes}</fieldset>"
        f"<fieldset><legend>Split</legend>{split_boxes}</fieldset>{catalog_group}"
        '<fieldset class="search"><legend>Search</legend><input type="search" id="q" '
        'placeholder="id, prompt or output text"></fieldset>'
        "</form>"
    )
    n_omitted = sum(omitted.values())
    notes = []
    if n_rows and n_full < len(results.cases):
        notes.append(
            f"{n_full:,} cases are shown in full and {n_rows:,} as one-line rows, "
            "to keep this file small"
        )
    if n_omitted:
        detail = ", ".join(f"{k:,} {s}" for s, k in omitted.items())
        notes.append(f"{n_omitted:,} cases are not listed ({detail}); all are in results.json")
    note_html = f'<p class="note">{"; ".join(notes)}.</p>' if notes else ""
    visible = sum(counts[s] for s in present if s != "passing") - sum(
        omitted[s] for s in present if s != "passing"
    )
    empty = (
        f'<p class="empty" id="empty"{" hidden" if visible else ""}>'
        "No case matches these filters (passing cases are listed when “passing” is ticked).</p>"
    )
    html_out = (
        '<section class="panel" id="cases"><h2>Cases '
        f'<span class="sub" id="shown" data-total="{len(parts)}">'
        f"showing {visible:,} of {len(parts):,}</span></h2>"
        f"{filters}{note_html}"
        '<noscript><p class="note">Filters need JavaScript; passing cases are hidden '
        "without it.</p></noscript>"
        f'<div class="{"caselist lazy" if len(parts) > LAZY_FROM else "caselist"}" '
        f'id="caselist">{"".join(parts)}</div>{empty}</section>'
    )
    return html_out, anchors


def _summary_json(results: RunResults, comparison: Comparison | None) -> dict[str, Any]:
    split = results.gate_split if results.gate_split in results.metrics else "all"
    data: dict[str, Any] = {
        "run_id": results.run_id,
        "checkpoint": results.checkpoint.spec,
        "created_at": results.created_at,
        "gate_split": split,
        "gates_passed": all(g.passed for g in results.gates) if results.gates else None,
        "metrics": (
            {m: results.metrics[split].overall.rate(m).value for m in DELTA_METRICS}
            if split in results.metrics
            else {}
        ),
        "cases": len(results.cases),
    }
    if comparison is not None:
        data["comparison"] = {
            "baseline_run_id": comparison.baseline_run_id,
            "regressions": len(comparison.regressions),
            "fixes": len(comparison.fixes),
            "mcnemar_p": comparison.mcnemar_p,
        }
    return data


def render_report(results: RunResults, comparison: Comparison | None = None) -> str:
    """The whole report as one HTML document (a ``str``; write it as UTF-8)."""
    if comparison is not None and comparison.current_run_id != results.run_id:
        raise ValueError(
            f"the comparison is for run {comparison.current_run_id!r}, "
            f"not for run {results.run_id!r}"
        )
    cases_html, anchors = _cases(results, comparison)
    title = f"routecheck · {results.run_id}"
    if comparison is not None:
        title += f" vs {comparison.baseline_run_id}"
    gates_failed = any(not g.passed for g in results.gates)
    body = [
        _header(results, comparison),
        "<main>",
        _comparison_panel(comparison) if comparison else "",
        _cards(results, comparison),
        _gates_table(results, anchors),
        _outcomes(results),
        _slices_table(results, comparison),
        _confusion(results),
        cases_html,
        "</main>",
        "<footer>routecheck report · a single offline file; the full data is in "
        "results.json</footer>",
    ]
    doc = (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{h(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        '<link rel="icon" href="data:,">'
        f"<title>{h(title)}</title><style>{CSS}</style></head>"
        f'<body class="{"gates-failed" if gates_failed else "gates-ok"}">'
        f"{''.join(body)}"
        '<script type="application/json" id="routecheck-summary">'
        f"{json_for_script(_summary_json(results, comparison))}</script>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
    # Lone surrogates (possible in model output read from JSON) cannot be written as UTF-8.
    return doc.encode("utf-8", "replace").decode("utf-8")


def write_report(
    results: RunResults, path: str | Path, comparison: Comparison | None = None
) -> Path:
    """Render the report and write it atomically to ``path``."""
    return write_atomic(path, render_report(results, comparison))


# --- assets (inlined into every report) ----------------------------------------------

CSS = """
:root {
  --bg: #f4f5f7; --panel: #fff; --text: #1f2328; --muted: #656d76; --faint: #8c959f;
  --border: #dde1e6; --soft: #f1f3f5; --code: #f7f8fa; --accent: #0969da;
  --good: #1a7f37; --good-bg: #dff6e5; --bad: #c4242d; --bad-bg: #ffebe9;
  --warn: #7d4e00; --warn-bg: #fff5cc;
  --o-correct: #2da44e; --o-invalid: #6e7781; --o-false_tool_call: #d1242f;
  --o-missed_call: #d4680b; --o-wrong_tool: #8250df; --o-wrong_arguments: #bf8700;
  --diag: 45, 164, 78; --off: 209, 36, 47;
  --sans: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", "Liberation Sans", "DejaVu Sans", sans-serif;
  --mono: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono",
    "DejaVu Sans Mono", monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --panel: #161b22; --text: #e6edf3; --muted: #8d96a0; --faint: #6e7681;
    --border: #30363d; --soft: #1f252d; --code: #0d1117; --accent: #4493f8;
    --good: #3fb950; --good-bg: #12361f; --bad: #f85149; --bad-bg: #3d1418;
    --warn: #d29922; --warn-bg: #332600;
  }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.5 var(--sans);
  -webkit-font-smoothing: antialiased; }
code, pre { font-family: var(--mono); font-size: 12.5px; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
header.top {
  background: var(--panel); border-bottom: 1px solid var(--border); padding: 18px 0 14px;
}
header.top > *, main, footer { max-width: 1280px; margin-left: auto; margin-right: auto;
  padding-left: 24px; padding-right: 24px; }
.titlebar { display: flex; align-items: center; justify-content: space-between; gap: 16px; }
.brand { font-size: 11.5px; letter-spacing: .07em; text-transform: uppercase; color: var(--muted);
  font-weight: 600; }
h1 { margin: 2px 0 0; font-size: 22px; font-weight: 650; letter-spacing: -.01em; }
.runid { font-family: var(--mono); font-size: 20px; font-weight: 600; }
.verdict { font-weight: 650; padding: 7px 16px; border-radius: 999px; font-size: 14px;
  white-space: nowrap; }
.verdict.pass { background: var(--good-bg); color: var(--good); }
.verdict.fail { background: var(--bad-bg); color: var(--bad); }
.verdict.none { background: var(--soft); color: var(--muted); }
.verdict.pass::before { content: "✓  "; }
.verdict.fail::before { content: "✗  "; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 18px; margin-top: 12px;
  margin-bottom: 0; font-size: 13px; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; min-width: 0; }
.wrap { word-break: break-all; }
main { padding-top: 18px; padding-bottom: 8px; }
.panel { background: var(--panel); border: 1px solid var(--border); border-radius: 10px;
  padding: 16px 18px; margin-bottom: 16px; box-shadow: 0 1px 2px rgba(31, 35, 40, .04); }
h2 { font-size: 15.5px; margin: 0 0 12px; font-weight: 650; }
h3 { font-size: 14px; margin: 4px 0 8px; font-weight: 600; }
.sub { color: var(--muted); font-weight: 400; font-size: 12.5px; margin-left: 6px; }
p.sub { margin: -6px 0 10px; }
.muted { color: var(--muted); }
.note { color: var(--muted); font-size: 12.5px; margin: 10px 0 0; }
.scroll { overflow-x: auto; }

/* headline cards */
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--border); border-top: 3px solid var(--faint); border-radius: 8px;
  padding: 10px 14px 10px; min-width: 0; }
.card.ok { border-top-color: var(--good); }
.card.bad {
  border-top-color: var(--bad); background: linear-gradient(var(--bad-bg), var(--panel) 70%);
}
.card .label { font-size: 13px; font-weight: 600; display: flex; justify-content: space-between;
  gap: 6px; align-items: baseline; }
.card .value { display: flex; flex-direction: column; align-items: flex-start; margin: 2px 0 0; }
.card .value > span:first-child { font-size: 30px; font-weight: 650; letter-spacing: -.02em;
  font-variant-numeric: tabular-nums; }
.card .value .delta { font-size: 13px; line-height: 1.3; }
.card .ci { font-size: 12px; color: var(--muted); font-variant-numeric: tabular-nums; }
.card .foot { margin-top: 8px; padding-top: 6px; border-top: 1px solid var(--soft);
  font-size: 11.5px; color: var(--faint); }
.card .gate { white-space: nowrap; font-weight: 600; font-size: 12px; padding: 0 7px;
  border-radius: 999px; background: var(--soft); }
.card .gate.ok { background: var(--good-bg); }
.card .gate.bad { background: var(--bad-bg); }
.gate.ok { color: var(--good); }
.gate.bad { color: var(--bad); }
.delta { font-weight: 600; white-space: nowrap; font-variant-numeric: tabular-nums; }
.delta.better { color: var(--good); }
.delta.worse { color: var(--bad); }
.delta.same, .delta.na { color: var(--muted); font-weight: 500; }

/* tables */
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td {
  padding: 6px 10px; border-bottom: 1px solid var(--soft); text-align: left; vertical-align: top;
}
thead th { font-size: 11.5px; color: var(--muted); font-weight: 600;
  border-bottom: 1px solid var(--border);
  white-space: nowrap; vertical-align: bottom; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.bad { color: var(--bad); font-weight: 650; }
.cnt { font-size: 10.5px; color: var(--faint); font-weight: 400; margin-left: 5px; }
td .delta { font-size: 11px; margin-left: 6px; }
table.gates td { vertical-align: middle; }
table.gates td.msg { font-family: var(--mono); font-size: 11.5px; color: var(--muted);
  min-width: 320px;
  white-space: normal; overflow-wrap: anywhere; }
table.gates tr.bad td.msg { color: var(--text); }
.offenders { margin-top: 4px; font-family: var(--sans); font-size: 12px; }
.offenders a { margin-right: 6px; }
.slices th.split { text-transform: uppercase; font-size: 11.5px; letter-spacing: .05em;
  color: var(--muted);
  border-right: 1px solid var(--soft); }
.gated { display: block; text-transform: none; letter-spacing: 0; font-weight: 500;
  color: var(--accent);
  font-size: 11px; }
.slices tr.overall > * { border-top: 2px solid var(--border); }
.slices tr.overall td { font-weight: 650; }
.slices tr.overall td.cat { font-weight: 650; }
.slices tr.empty td { color: var(--faint); }
.slices td.cat { white-space: nowrap; }

/* outcome bar */
.bar {
  display: flex; height: 16px; border-radius: 8px; overflow: hidden; background: var(--soft);
  gap: 2px;
}
.seg { display: block; height: 100%; min-width: 3px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 20px; margin-top: 10px; font-size: 13px; }
.legend b { font-variant-numeric: tabular-nums; margin-left: 2px; }
.sw {
  display: inline-block; width: 10px; height: 10px; border-radius: 3px; margin-right: 6px;
  vertical-align: -1px;
}
.o-correct { background: var(--o-correct); } .o-invalid { background: var(--o-invalid); }
.o-false_tool_call {
  background: var(--o-false_tool_call); } .o-missed_call { background: var(--o-missed_call);
}
.o-wrong_tool {
  background: var(--o-wrong_tool); } .o-wrong_arguments { background: var(--o-wrong_arguments);
}
.errors {
  margin-top: 10px; font-size: 12.5px; display: flex; flex-wrap: wrap; gap: 4px 12px;
  align-items: baseline;
}
.errors ul { display: contents; list-style: none; }
.errors li { background: var(--soft); border-radius: 4px; padding: 0 7px; }

/* confusion */
.matrix + .matrix { margin-top: 18px; }
table.confusion { width: auto; }
.confusion td { text-align: center; min-width: 46px; font-variant-numeric: tabular-nums;
  border: 1px solid var(--soft); }
.confusion th.row { white-space: nowrap; border-right: 1px solid var(--border); }
.confusion th.col { text-align: center; vertical-align: bottom; }
.confusion th.col span { display: inline-block; max-width: 120px; overflow-wrap: anywhere;
  font-family: var(--mono); font-size: 11px; white-space: normal; }
.confusion th.col.inv span { font-style: italic; }
.confusion th.corner { font-weight: 500; color: var(--faint); }
.confusion td.z { color: var(--border); }
.confusion td.diag { background: rgba(var(--diag), var(--a)); font-weight: 650; }
.confusion td.off { background: rgba(var(--off), var(--a)); font-weight: 650; }
.confusion .tot { color: var(--muted); text-align: right; border: 0;
  border-bottom: 1px solid var(--soft);
  padding-left: 14px; }

/* comparison */
.stats { display: flex; flex-wrap: wrap; gap: 8px; margin: 4px 0 12px; }
.stat {
  padding: 5px 12px; border-radius: 8px; background: var(--soft); font-size: 13px;
  color: var(--muted);
}
.stat b {
  font-size: 18px; margin-right: 3px; font-variant-numeric: tabular-nums; color: var(--text);
}
.stat.regression { background: var(--bad-bg); color: var(--bad); }
.stat.regression b { color: var(--bad); }
.stat.fix { background: var(--good-bg); color: var(--good); }
.stat.fix b { color: var(--good); }
.mcnemar {
  margin: 0; padding: 8px 12px; border-radius: 6px; background: var(--soft); font-size: 13.5px;
}
.mcnemar.worse { background: var(--bad-bg); }
.mcnemar.better { background: var(--good-bg); }
.warnings { margin: 10px 0 0; padding: 8px 12px 8px 30px; background: var(--warn-bg);
  color: var(--warn);
  border-radius: 6px; font-size: 13px; }
details.removed { margin-top: 10px; font-size: 13px; }
details summary { cursor: pointer; color: var(--muted); }

/* cases */
.filters { display: flex; flex-wrap: wrap; gap: 10px 22px; align-items: flex-start;
  margin: 0 0 12px;
  padding: 10px 12px; background: var(--soft); border-radius: 8px; }
.filters fieldset {
  border: 0; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 5px; min-width: 0;
}
.filters legend { font-size: 10.5px; text-transform: uppercase; letter-spacing: .06em;
  color: var(--muted);
  font-weight: 650; padding: 0; margin-bottom: 4px; }
.chk { display: inline-flex; align-items: center; gap: 5px; padding: 2px 9px 2px 7px;
  border: 1px solid var(--border); border-radius: 999px; background: var(--panel);
  font-size: 12.5px;
  cursor: pointer; user-select: none; }
.chk:has(input:checked) { border-color: var(--accent); }
.chk input { margin: 0; accent-color: var(--accent); }
.chk .n { color: var(--faint); font-variant-numeric: tabular-nums; font-size: 11.5px; }
.search { flex: 1 1 240px; }
.search input { width: 100%; min-width: 220px; padding: 4px 10px; border: 1px solid var(--border);
  border-radius: 6px; font: inherit; font-size: 13px; background: var(--panel);
  color: var(--text); }
.case.full { border: 1px solid var(--border); border-left: 4px solid var(--bad);
  border-radius: 8px; padding: 10px 12px; margin: 0 0 10px; }
.case.full[data-status="regression"] {
  border-left-color: var(--bad); box-shadow: 0 0 0 1px var(--bad-bg);
}
.case.full[data-status="fix"] { border-left-color: var(--good); }
.case.full[data-status="failing"] { border-left-color: #e5a4a4; }
.head { display: flex; flex-wrap: wrap; gap: 6px 8px; align-items: center; }
.cols {
  display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr) minmax(0, 1.2fr); gap: 12px;
  margin-top: 8px;
}
@media (max-width: 900px) { .cols { grid-template-columns: minmax(0, 1fr); } }
.cols h4 { margin: 0 0 3px; font-size: 10.5px; text-transform: uppercase; letter-spacing: .06em;
  color: var(--muted); font-weight: 650; }
pre { margin: 0; background: var(--code); border: 1px solid var(--soft); border-radius: 6px;
  padding: 6px 9px;
  white-space: pre-wrap; overflow-wrap: anywhere; max-height: 220px; overflow: auto;
  unicode-bidi: isolate; }
pre.prompt { font-family: var(--sans); font-size: 13px; }
.more {
  display: block; color: var(--muted); font-style: italic; font-family: var(--sans);
  margin-top: 4px;
}
.err { margin: 5px 0 0; font-size: 12.5px; color: var(--bad); overflow-wrap: anywhere; }
.pred { margin: 4px 0 0; font-size: 12px; color: var(--muted); }
.before { margin-top: 8px; font-size: 12.5px; }
.before pre { margin-top: 4px; }
.case.row { display: flex; gap: 8px; align-items: center; padding: 4px 6px;
  border-bottom: 1px solid var(--soft); font-size: 12.5px; white-space: nowrap; min-width: 0; }
/* Long lists: lay out only the cases near the viewport (fast to open and to filter). */
.caselist.lazy > .case.full { content-visibility: auto; contain-intrinsic-size: auto 190px; }
.caselist.lazy > .case.row { content-visibility: auto; contain-intrinsic-size: auto 29px; }
.case.row:hover { background: var(--soft); }
.case.row::before { order: 0; content: "fail"; display: inline-block; min-width: 78px;
  text-align: center; font-size: 10.5px; font-weight: 700; padding: 1px 8px; border-radius: 999px;
  text-transform: uppercase; letter-spacing: .04em; background: var(--bad-bg); color: var(--bad); }
.case.row[data-status="passing"]::before { content: "pass"; background: var(--good-bg);
  color: var(--good); }
.case.row[data-status="regression"]::before { content: "regression"; background: var(--bad);
  color: #fff; }
.case.row[data-status="fix"]::before { content: "fixed"; background: var(--good); color: #fff; }
.case.row::after { order: 2; content: attr(data-category) " · " attr(data-split);
  font-size: 11.5px; color: var(--muted); background: var(--soft); padding: 0 7px;
  border-radius: 4px; }
.case.row > .key { order: 1; }
.case.row > .tag, .case.row > .oc { order: 3; }
.case.row > .snip { order: 4; }
.case.row > .what { order: 5; }
.case.row .key { font-weight: 500; }
.case.row .snip {
  overflow: hidden; text-overflow: ellipsis; color: var(--muted); flex: 1; min-width: 0;
}
.case.row .what { font-family: var(--mono); font-size: 11.5px; color: var(--faint); }
.badge { display: inline-block; font-size: 10.5px; font-weight: 700; padding: 1px 8px;
  border-radius: 999px;
  text-transform: uppercase; letter-spacing: .04em; white-space: nowrap; }
.badge.pass, .badge.st-passing { background: var(--good-bg); color: var(--good); }
.badge.fail, .badge.st-failing { background: var(--bad-bg); color: var(--bad); }
.badge.st-regression { background: var(--bad); color: #fff; }
.badge.st-fix { background: var(--good); color: #fff; }
.key { font-weight: 600; overflow-wrap: anywhere; }
.tag {
  font-size: 11.5px; color: var(--muted); background: var(--soft); padding: 0 7px;
  border-radius: 4px;
}
.tag.new { color: var(--accent); font-weight: 600; }
.oc { font-size: 11.5px; font-weight: 600; padding: 0 7px; border-radius: 4px; border: 1px solid; }
.oc.o-invalid {
  color: var(--o-invalid); } .oc.o-false_tool_call { color: var(--o-false_tool_call);
}
.oc.o-missed_call { color: var(--o-missed_call); } .oc.o-wrong_tool { color: var(--o-wrong_tool); }
.oc.o-wrong_arguments { color: var(--o-wrong_arguments); }
.oc[class*="o-"] { background: transparent; }
.empty { color: var(--muted); text-align: center; padding: 20px; }
footer { color: var(--faint); font-size: 12px; padding-bottom: 28px; }
@media print {
  .filters, noscript { display: none; } .panel { break-inside: avoid-page; box-shadow: none; };
}
"""

SCRIPT = """
(function () {
  "use strict";
  var form = document.getElementById("filters");
  var list = document.getElementById("caselist");
  if (!form || !list) return;
  var items = list.children;
  var total = items.length;
  var q = document.getElementById("q");
  var shown = document.getElementById("shown");
  var empty = document.getElementById("empty");
  function picked(name) {
    var boxes = form.querySelectorAll('input[name="' + name + '"]');
    if (!boxes.length) return null;
    var out = Object.create(null);
    for (var i = 0; i < boxes.length; i++) if (boxes[i].checked) out[boxes[i].value] = true;
    return out;
  }
  function apply() {
    var st = picked("status"), ca = picked("category");
    var sp = picked("split"), cl = picked("catalog");
    var text = q ? q.value.trim().toLowerCase() : "";
    var n = 0;
    for (var i = 0; i < total; i++) {
      var el = items[i], d = el.dataset;
      var ok = (!st || st[d.status] === true) && (!ca || ca[d.category] === true) &&
        (!sp || sp[d.split] === true) && (!cl || cl[d.catalog] === true);
      if (ok && text) {
        if (el.rcText === undefined) el.rcText = (d.key + " " + el.textContent).toLowerCase();
        ok = el.rcText.indexOf(text) !== -1;
      }
      if (el.hidden === ok) el.hidden = !ok;
      if (ok) n++;
    }
    shown.textContent =
      "showing " + n.toLocaleString("en-US") + " of " + total.toLocaleString("en-US");
    if (empty) empty.hidden = n > 0;
  }
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  if (q) q.addEventListener("input", apply);
  function reveal() {
    var id = location.hash.slice(1);
    var el = id ? document.getElementById(id) : null;
    if (el && el.parentNode === list && el.hidden) {
      el.hidden = false;
      el.scrollIntoView();
    }
  }
  window.addEventListener("hashchange", reveal);
  reveal();
})();
"""
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode()
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    f"script-src 'sha256-{_SCRIPT_HASH}'; base-uri 'none'; form-action 'none'"
)
