"""The robustness section as terminal lines and as the HTML report's "Robustness" panel."""

from __future__ import annotations

from typing import Any

from harness.results import RunResults
from harness.robust_results import RobustnessReport, RobustRate

MAX_FRAGILE_LINES = 10
"""Fragile cases named one by one in the terminal; the report lists them all."""


def robustness_lines(results: RunResults) -> list[str]:
    """What the terminal says about the robustness suite (nothing when it did not run)."""
    r = results.robustness
    if r is None:
        return []
    fragile = [c for c in r.cases if c.fragile]
    cut = sum(c.cut for c in r.cases)
    skipped = sum(c.skipped is not None for c in r.cases)
    lines = [
        "",
        f"robustness on the {r.split} split ({len(r.cases)} cases, {r.examples} perturbed "
        f"requests each, {r.generations} generations in {r.seconds:.0f} s): "
        f"{r.overall.text()}",
        "  (share of perturbed requests whose verdict equals the unperturbed one)",
    ]
    for title, rates in (("by category", r.by_category), ("by perturbation", r.by_kind)):
        lines.append(f"  {title}:")
        lines += [f"    {name:<16}{rate.text()}" for name, rate in rates.items()]
    lines.append(
        f"  {len(fragile)} fragile case(s)"
        + (f", {cut} whose shrinking was cut short" if cut else "")
        + (f", {skipped} skipped (no perturbation applies)" if skipped else "")
    )
    for c in fragile[:MAX_FRAGILE_LINES]:
        if c.shrunk is not None:
            lines.append(f"    {c.key}: {' + '.join(c.shrunk.kinds)}: {c.shrunk.prompt!r}")
        else:
            lines.append(f"    {c.key}: {c.n - c.same} of {c.n} perturbed requests flipped")
    if len(fragile) > MAX_FRAGILE_LINES:
        lines.append(f"    ... {len(fragile) - MAX_FRAGILE_LINES} more in the report")
    return lines


def _rate_row(name: str, rate: RobustRate) -> dict[str, Any]:
    return {"name": name, "rate": rate}


def robustness_panel(report: RobustnessReport | None) -> dict[str, Any] | None:
    """The template's view of the robustness section (``None``: no panel)."""
    if report is None:
        return None
    return {
        "report": report,
        "overall": report.overall,
        "categories": [_rate_row(k, v) for k, v in report.by_category.items()],
        "kinds": [_rate_row(k, v) for k, v in report.by_kind.items()],
        "fragile": [c for c in report.cases if c.fragile],
        "skipped": [c for c in report.cases if c.skipped is not None],
    }
