"""The judge's part of a report: one summary, the same on the terminal and in the HTML."""

from __future__ import annotations

from typing import Any

from harness.results import RunResults

DISAGREEMENTS_LISTED = 10
"""Disagreements named one by one; the rest are counted (all are in results.json)."""


def disagreements(results: RunResults) -> list[tuple[str, str, str, bool]]:
    """``(case key, argument, judge answer, deterministic match)`` where the two differ."""
    return [
        (case.key, name, j.answer, j.deterministic)
        for case in results.cases
        for name, j in getattr(case, "judge", {}).items()
        if j.answer != "unavailable" and (j.answer == "yes") != j.deterministic
    ]


def judge_lines(results: RunResults) -> list[str]:
    """What the judge did, as plain lines (empty: no judge, and no argument needed one)."""
    info = getattr(results, "judge", None)
    if info is None:
        return []
    if info.spec is None:
        return [
            f"judge: not run (no --rc-judge): {info.fallback_arguments} x-match judge "
            "argument(s) were decided by their x-judge-fallback policy"
        ]
    decides = "x-match judge" if info.decides == "judge" else "x-match judge, similar"
    lines = [
        f"judge: {info.spec} ({info.version}, decides {decides} arguments): "
        f"{info.asked} argument(s) asked ({info.cached} cached), {info.disagreements} "
        f"disagree with the deterministic verdict, {info.unavailable} unavailable"
    ]
    if info.error:
        lines.append(
            f"warning: the judge failed: {info.error}; {info.unavailable} verdict(s) are "
            "unavailable and the deterministic policies decided them"
        )
    found = disagreements(results)
    if found:
        shown = ", ".join(
            f"{key} {name} (judge {answer}, policy {'match' if det else 'no match'})"
            for key, name, answer, det in found[:DISAGREEMENTS_LISTED]
        )
        more = len(found) - DISAGREEMENTS_LISTED
        lines.append(f"judge disagreements: {shown}" + (f" and {more} more" if more > 0 else ""))
    return lines


def judge_view(results: RunResults) -> dict[str, Any] | None:
    """The report header's judge entry: the summary lines and the disagreeing cases."""
    lines = judge_lines(results)
    if not lines:
        return None
    return {
        "lines": [line for line in lines if not line.startswith("judge disagreements")],
        "disagreements": disagreements(results)[:DISAGREEMENTS_LISTED],
        "more": max(0, len(disagreements(results)) - DISAGREEMENTS_LISTED),
    }
