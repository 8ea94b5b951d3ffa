"""Runs over time: every run in a reports folder on one golden set, as a page and a table.

A gate says whether one checkpoint may ship; a team also wants to see where its router has
been going. ``routecheck history`` reads each ``<run>/results.json`` under a reports folder,
keeps the runs on one golden set (the one with the most runs, or the one asked for), and
writes a self-contained HTML page (each gated metric over time with its interval and
threshold, checkpoints, fingerprints, links to each run's report) and a Markdown table.

Results files are read as plain JSON, so runs written by older or newer versions of the
results schema still show up; a file that cannot be read is listed, never fatal.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic
from harness.errors import RoutecheckError
from harness.hashing import csp_hash

METRICS: tuple[tuple[str, str, bool], ...] = (
    ("valid_tool_call_rate", "valid-tool-call rate", True),
    ("tool_name_accuracy", "tool-name accuracy", True),
    ("argument_match_accuracy", "argument-match accuracy", True),
    ("false_tool_call_rate", "false-tool-call rate", False),
    ("silent_corruption_rate", "silent-corruption rate", False),
)
"""(name, label, higher is better) for the metrics drawn over time."""


class HistoryError(RoutecheckError):
    """The reports folder holds nothing to draw."""


@dataclass(frozen=True)
class Point:
    """One metric of one run: value and 95% interval (``None`` when over zero cases)."""

    value: float | None
    low: float | None
    high: float | None
    numerator: int = 0
    denominator: int = 0


@dataclass
class RunSummary:
    """What the history needs of one results file."""

    run_id: str
    created_at: str
    checkpoint: str
    checkpoint_fingerprint: str
    golden_fingerprint: str
    gate_split: str
    n: int
    report: str | None
    metrics: dict[str, Point] = field(default_factory=dict)
    thresholds: dict[str, tuple[str, float]] = field(default_factory=dict)
    gates_passed: bool | None = None


@dataclass
class History:
    """The runs drawn, in time order, and the files that were skipped (with why)."""

    golden_fingerprint: str
    runs: list[RunSummary]
    skipped: list[tuple[str, str]]
    other_sets: dict[str, int]


def _point(raw: Any) -> Point:
    if not isinstance(raw, dict):
        return Point(None, None, None)

    def num(key: str) -> float | None:
        v = raw.get(key)
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    return Point(
        num("value"),
        num("low"),
        num("high"),
        int(raw.get("numerator") or 0),
        int(raw.get("denominator") or 0),
    )


def summarize_run(path: Path, root: Path) -> RunSummary:
    """One results file as a :class:`RunSummary` (raises ``ValueError`` when unreadable)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not readable as JSON ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("metrics"), dict):
        raise ValueError("not a routecheck results file (no metrics)")
    split = str(raw.get("gate_split") or "all")
    slice_ = raw["metrics"].get(split) or raw["metrics"].get("all") or {}
    overall = slice_.get("overall", {}) if isinstance(slice_, dict) else {}
    ckpt = raw.get("checkpoint")
    checkpoint: dict[str, Any] = ckpt if isinstance(ckpt, dict) else {}
    report = path.parent / "report.html"
    gates = [g for g in raw.get("gates") or [] if isinstance(g, dict)]
    summary = RunSummary(
        run_id=str(raw.get("run_id") or path.parent.name),
        created_at=str(raw.get("created_at") or ""),
        checkpoint=str(checkpoint.get("spec") or "?"),
        checkpoint_fingerprint=str(checkpoint.get("fingerprint") or ""),
        golden_fingerprint=str(raw.get("golden_fingerprint") or ""),
        gate_split=split,
        n=int(overall.get("n") or 0) if isinstance(overall, dict) else 0,
        report=os.path.relpath(report, root) if report.is_file() else None,
        gates_passed=all(bool(g.get("passed")) for g in gates) if gates else None,
    )
    for name, _, _ in METRICS:
        summary.metrics[name] = _point(overall.get(name) if isinstance(overall, dict) else None)
    for g in gates:
        if isinstance(g.get("threshold"), int | float) and g.get("metric"):
            summary.thresholds[str(g["metric"])] = (str(g.get("op", "")), float(g["threshold"]))
    return summary


def collect_history(reports_dir: str | Path, golden_fingerprint: str | None = None) -> History:
    """Every run under ``reports_dir`` on one golden set, oldest first."""
    root = Path(reports_dir)
    if not root.is_dir():
        raise HistoryError(f"{root}: no such reports folder (runs write <reports-dir>/<run-id>/)")
    runs: list[RunSummary] = []
    skipped: list[tuple[str, str]] = []
    for path in sorted(root.glob("*/results.json")):
        try:
            runs.append(summarize_run(path, root))
        except ValueError as exc:
            skipped.append((str(path), str(exc)))
    if not runs:
        raise HistoryError(
            f"{root}: no results.json in any run folder; run the suites with "
            f"--rc-reports-dir={root} first"
        )
    counts = Counter(r.golden_fingerprint for r in runs)
    if golden_fingerprint is None:
        golden_fingerprint = counts.most_common(1)[0][0]
    elif golden_fingerprint not in counts:
        known = ", ".join(f"{k[:12]} ({v} runs)" for k, v in counts.most_common())
        raise HistoryError(f"no run on golden set {golden_fingerprint!r}; sets here: {known}")
    chosen = [r for r in runs if r.golden_fingerprint == golden_fingerprint]
    chosen.sort(key=lambda r: (r.created_at, r.run_id))
    others = {k: v for k, v in counts.items() if k != golden_fingerprint}
    return History(golden_fingerprint, chosen, skipped, others)


def _fmt(p: Point) -> str:
    return "–" if p.value is None else f"{p.value:.3f}"


def history_markdown(history: History) -> str:
    """A Markdown table: one row per run, the gated split's numbers."""
    head = ["run", "checkpoint", "split", "n", *(label for _, label, _ in METRICS), "gates"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in history.runs:
        verdict = {True: "pass", False: "FAIL", None: "–"}[r.gates_passed]
        cells = [r.run_id, f"`{r.checkpoint}`", r.gate_split, str(r.n)]
        cells += [_fmt(r.metrics[name]) for name, _, _ in METRICS]
        lines.append("| " + " | ".join([*cells, verdict]) + " |")
    return "\n".join(lines) + "\n"


def _chart(history: History, name: str, label: str, higher: bool) -> dict[str, Any]:
    """Geometry of one inline SVG chart: points with whiskers and the threshold line."""
    width, height, pad_l, pad_r, pad_t, pad_b = 560, 180, 44, 12, 14, 26
    runs = history.runs
    step = (width - pad_l - pad_r) / max(len(runs) - 1, 1)

    def y(v: float) -> float:
        return round(pad_t + (1.0 - v) * (height - pad_t - pad_b), 1)

    points = []
    for i, r in enumerate(runs):
        p = r.metrics[name]
        if p.value is None:
            continue
        threshold = r.thresholds.get(name)
        ok = None
        if threshold is not None:
            op, t = threshold
            ok = p.value >= t if op == ">=" else p.value <= t
        points.append(
            {
                "x": round(pad_l + i * step, 1),
                "y": y(p.value),
                "y_low": y(p.low if p.low is not None else p.value),
                "y_high": y(p.high if p.high is not None else p.value),
                "ok": ok,
                "title": f"{r.run_id} {r.checkpoint}: {p.value:.3f} "
                f"[{p.low or 0:.3f}, {p.high or 0:.3f}] ({p.numerator}/{p.denominator})",
                "value": f"{p.value:.4f}",
                "run": r.run_id,
            }
        )
    latest = next((r.thresholds[name] for r in reversed(runs) if name in r.thresholds), None)
    return {
        "name": name,
        "label": label,
        "direction": "higher is better" if higher else "lower is better",
        "width": width,
        "height": height,
        "pad_l": pad_l,
        "x_end": width - pad_r,
        "ticks": [{"y": y(t), "text": f"{t:.2f}"} for t in (0.0, 0.25, 0.5, 0.75, 1.0)],
        "threshold": None
        if latest is None
        else {"y": y(latest[1]), "text": f"gate {latest[0]} {latest[1]:g}"},
        "points": points,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
    }


_TEMPLATE = Path(__file__).parent / "render" / "templates" / "history.html.j2"


def history_html(history: History) -> str:
    """The self-contained page: inline CSS and SVG, no script, a strict CSP."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(_TEMPLATE.read_text(encoding="utf-8"))
    css = _CSS
    style_hash = csp_hash(css).removeprefix("sha256-")
    return template.render(
        history=history,
        charts=[_chart(history, n, label, hi) for n, label, hi in METRICS],
        metrics=METRICS,
        fmt=_fmt,
        css=css,
        style_hash=style_hash,
    )


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1180px;padding:16px;
color:#1b1f24;background:#fff}
h1{font-size:20px;margin:0 0 4px}.sub{color:#57606a;margin:0 0 16px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px}
figure{margin:0;border:1px solid #d0d7de;border-radius:6px;padding:8px}
figcaption{font-weight:600}figcaption small{font-weight:400;color:#57606a}
svg{width:100%;height:auto}.grid{stroke:#eaeef2}.tick{font-size:10px;fill:#57606a}
.line{fill:none;stroke:#8c959f;stroke-width:1}.whisker{stroke:#57606a;stroke-width:1.5}
.pt{fill:#0969da}.pt.ok{fill:#1a7f37}.pt.bad{fill:#cf222e}
.gate{stroke:#bf8700;stroke-dasharray:4 3}.gatelabel{font-size:10px;fill:#9a6700}
.scroll{overflow-x:auto}.hint{color:#57606a;font-size:12px}
table{border-collapse:collapse;width:100%;margin-top:16px;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #d0d7de;padding:4px 8px;text-align:right;white-space:nowrap}
th:nth-child(-n+2),td:nth-child(-n+2){text-align:left}code{font-size:12px}
.pass{color:#1a7f37}.fail{color:#cf222e}
@media (prefers-color-scheme:dark){body{background:#0d1117;color:#e6edf3}
figure,th,td{border-color:#30363d}.grid{stroke:#21262d}}
"""


def write_history(
    reports_dir: str | Path, out: str | Path | None = None, golden_fingerprint: str | None = None
) -> tuple[Path, Path, History]:
    """Write ``history.html`` and ``history.md`` (into ``reports_dir`` unless told)."""
    history = collect_history(reports_dir, golden_fingerprint)
    html_path = Path(out) if out else Path(reports_dir) / "history.html"
    if out:
        # Links to run reports are relative to the reports folder; keep them working.
        for r in history.runs:
            if r.report:
                target = Path(reports_dir) / r.report
                r.report = os.path.relpath(target, html_path.parent)
    write_atomic(html_path, history_html(history))
    md_path = write_atomic(html_path.with_suffix(".md"), history_markdown(history))
    return html_path, md_path, history


__all__ = [
    "History",
    "HistoryError",
    "RunSummary",
    "collect_history",
    "history_html",
    "history_markdown",
    "write_history",
]
