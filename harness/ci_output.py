"""Output for CI systems: a job summary in Markdown and workflow annotations.

A reviewer looking at a pull request's checks should see the verdict without opening an
artifact: when ``GITHUB_STEP_SUMMARY`` names a file, the run appends its headline, gates,
per-category table and top regressions to it; ``--rc-annotations=github`` prints failing
gates and regressions as workflow commands, which GitHub shows on the run's page.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from harness.metrics import HEADLINE

if TYPE_CHECKING:
    from harness.compare import Comparison
    from harness.results import RunResults

ANNOTATION_STYLES = ("none", "github")
TOP_REGRESSIONS = 10


def _cell(text: str) -> str:
    """Markdown table cell: pipes and newlines would break the row."""
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _rate(value: float | None) -> str:
    return "no cases" if value is None else f"{value:.3f}"


def summary_markdown(results: RunResults, comparison: Comparison | None = None) -> str:
    """Headline, gates, the gated split per category, and the top regressions."""
    gates_ok = all(g.passed for g in results.gates)
    verdict = "passed" if gates_ok else "FAILED"
    split = results.gate_split
    lines = [
        f"### routecheck: gates {verdict} on `{split}`",
        "",
        f"Checkpoint `{_cell(results.checkpoint.spec)}`, run `{results.run_id}`, "
        f"{results.metrics[split].overall.n} cases in the gated split.",
        "",
        "| gate | value | 95% interval | threshold | |",
        "|---|---|---|---|---|",
    ]
    for g in results.gates:
        interval = "–" if g.low is None or g.high is None else f"[{g.low:.3f}, {g.high:.3f}]"
        mark = "pass" if g.passed else "**FAIL**"
        lines.append(
            f"| {g.metric} | {_rate(g.value)} | {interval} | {g.op} {g.threshold:g} | {mark} |"
        )
    lines += ["", f"| category ({split}) | n | " + " | ".join(HEADLINE) + " |"]
    lines.append("|---|---|" + "---|" * len(HEADLINE))
    for category, m in results.metrics[split].by_category.items():
        if m.n:
            cells = " | ".join(_rate(m.rate(name).value) for name in HEADLINE)
            lines.append(f"| {category} | {m.n} | {cells} |")
    if comparison is not None:
        lines += [
            "",
            f"Against baseline `{_cell(comparison.baseline_run_id)}`: "
            f"{len(comparison.regressions)} regressions, {len(comparison.fixes)} fixes, "
            f"exact McNemar p = {comparison.mcnemar_p:.4g}.",
        ]
        for key in comparison.regressions[:TOP_REGRESSIONS]:
            lines.append(f"- regressed: `{_cell(key)}` ({results.case(key).outcome.value})")
        if len(comparison.regressions) > TOP_REGRESSIONS:
            lines.append(f"- and {len(comparison.regressions) - TOP_REGRESSIONS} more")
    return "\n".join(lines) + "\n"


def append_step_summary(
    results: RunResults,
    comparison: Comparison | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path | None:
    """Append the summary to ``$GITHUB_STEP_SUMMARY`` when it is set; return the path."""
    target = (os.environ if environ is None else environ).get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8", errors="backslashreplace") as fh:
        fh.write(summary_markdown(results, comparison))
    return path


def _escape_data(text: str) -> str:
    """Workflow-command message escaping (``%``, CR and LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(results: RunResults, comparison: Comparison | None = None) -> list[str]:
    """``::error`` lines for failing gates, ``::warning`` lines for regressed cases."""
    lines = []
    for g in results.gates:
        if not g.passed:
            title = _escape_property(f"routecheck gate {g.metric} ({results.gate_split})")
            lines.append(f"::error title={title}::{_escape_data(g.message)}")
    if comparison is not None:
        for key in comparison.regressions[:TOP_REGRESSIONS]:
            record = results.case(key)
            title = _escape_property(f"routecheck regression {key}")
            message = (
                f"{key} passed in baseline {comparison.baseline_run_id} and now fails: "
                f"{record.outcome.value}; output {record.output[:200]!r}"
            )
            lines.append(f"::warning title={title}::{_escape_data(message)}")
    return lines


__all__ = [
    "ANNOTATION_STYLES",
    "append_step_summary",
    "github_annotations",
    "summary_markdown",
]
