"""Render a realistic mock report (with a baseline) and screenshot it in headless Chromium.

Used by ``scripts/screenshots.sh``; writes ``report-desktop.png`` (1440 px wide) and
``report-phone.png`` (390 px wide) into the folder given (``docs/img`` by default).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.compare import compare_runs
from harness.render.html import write_report
from tests.reportdata import MATCHING_CATALOG, run, synthetic_rows, varied_outputs

SHOTS = {"report-desktop.png": (1440, 1800), "report-phone.png": (390, 2400)}


def build(folder: Path) -> Path:
    """A 240-case baseline and current run of the mock router, gated on the holdout split;
    the current run's report against the baseline. Paths and times are fixed so that the
    screenshots change only when the report does."""
    rows = synthetic_rows(240)
    common: dict[str, Any] = {"catalog": MATCHING_CATALOG, "gate_split": "holdout"}
    runs = []
    for name, outputs, run_id, created in (
        ("baseline", varied_outputs(rows, 9, shift=2), "20261101-090000-b45e11", "2026-11-01"),
        ("current", varied_outputs(rows, 6), "20261122-101500-c0ffee", "2026-11-22"),
    ):
        result = run(folder, rows, outputs, name=name, run_id=run_id, **common)
        checkpoint = result.checkpoint.model_copy(
            update={"spec": f"mock:routers/shop-{name}/replay.jsonl"}
        )
        runs.append(
            result.model_copy(
                update={"checkpoint": checkpoint, "created_at": f"{created}T10:15:00+00:00"}
            )
        )
    baseline, current = runs
    report = folder / "report" / "report.html"
    return write_report(current, report, compare_runs(current, baseline))


def chromium() -> str:
    """The system Chromium: ROUTECHECK_CHROMIUM, chromium on the PATH, or Debian's."""
    found = os.environ.get("ROUTECHECK_CHROMIUM") or shutil.which("chromium")
    path = Path(found or "/usr/bin/chromium")
    if not path.exists():
        sys.exit(f"screenshots: {path} not found; install Chromium (apt-get install chromium)")
    return str(path)


def shoot(report: Path, out: Path) -> list[Path]:
    """Open the report at each width and save the top of the page as PNG."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium(), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            for name, (width, height) in SHOTS.items():
                page = browser.new_page(
                    viewport={"width": width, "height": height}, color_scheme="light"
                )
                page.goto(report.resolve().as_uri(), wait_until="load")
                path = out / name
                page.screenshot(path=str(path), full_page=False)
                page.close()
                written.append(path)
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/screenshots.sh", description=__doc__)
    parser.add_argument("out", nargs="?", default="docs/img", help="folder for the PNG files")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="routecheck-shots-") as tmp:
        report = build(Path(tmp))
        for path in shoot(report, Path(args.out)):
            print(f"{path} ({path.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
