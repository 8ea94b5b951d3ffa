"""The report in a real browser (Debian's /usr/bin/chromium through Playwright).

Opens reports from disk (file://), as a reviewer would: no console errors, the headline
numbers match results.json, the filters hide and show the right cases, hostile text stays
text, the charts' points equal results.json, a 390 px phone shows no element wider than the
screen except the tables that say they scroll, filters set from chips and legend live in
the URL and come back on load, and a 10,000-case report loads in under a second. A
screenshot (report.png) is saved beside each report.

Playwright never downloads a browser here: it drives the system Chromium (``chromium`` on
the PATH, Debian's ``/usr/bin/chromium``, or ``ROUTECHECK_CHROMIUM``). Without it the tests
are skipped on a developer's machine, but fail when ``CI`` is set: CI must run them.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.compare import DELTA_METRICS, Comparison, compare_runs
from harness.render.html import write_report
from harness.results import RunResults, read_results, write_results
from tests.reportdata import (
    HOSTILE_ATTR,
    HOSTILE_SCRIPT,
    MATCHING_CATALOG,
    case,
    gold_output,
    run,
    synthetic_outputs,
    synthetic_rows,
    varied_outputs,
)

CHROMIUM = Path(
    os.environ.get("ROUTECHECK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
)
LOAD_LIMIT_SECONDS = 1.0
"""How long the 10,000-case report may take to load (the navigation's load event)."""
TOGGLE_LIMIT_SECONDS = 2.0
"""How long showing all 10,000 cases at once may take (filter, style and layout)."""
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
IN_CI = bool(os.environ.get("CI"))
MISSING = f"{CHROMIUM} not installed (apt-get install chromium)"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and not IN_CI, reason=MISSING)

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{MISSING}; CI is set, so the browser test must run", pytrace=False)
    if IN_CI:
        import playwright.sync_api as sync_api
    else:
        sync_api = pytest.importorskip("playwright.sync_api")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            user_data_dir=str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


class Watched:
    """A page with every console error, page error and dialog recorded."""

    def __init__(self, context: Any) -> None:
        self.page = context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on(
            "console",
            lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None,
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        self.page.on("dialog", on_dialog)

    def open(self, path: Path) -> float:
        started = time.perf_counter()
        self.page.goto(path.resolve().as_uri(), wait_until="load")
        return time.perf_counter() - started

    def visible(self) -> list[dict[str, str]]:
        """The data-* attributes of every case row the filters leave visible."""
        rows: list[dict[str, str]] = self.page.evaluate(
            "() => Array.from(document.querySelectorAll('#caselist > .case'))"
            ".filter(el => el.offsetParent !== null)"
            ".map(el => Object.assign({key: el.querySelector('.key').textContent}, el.dataset))"
        )
        return rows


def review_runs(tmp_path: Path) -> tuple[RunResults, RunResults]:
    """A baseline and a current run of 60 cases; the current one has a hostile case."""
    rows = synthetic_rows(59)
    hostile = case(
        "hostile-001",
        "positive",
        f"Search for {HOSTILE_SCRIPT} please {HOSTILE_ATTR}",
        "search_products",
        {"query": HOSTILE_SCRIPT},
        split="holdout",
    )
    rows.append(hostile)
    base_out = synthetic_outputs(rows, fail_every=7)
    base_out["hostile-001"] = gold_output(hostile)
    cur_out = synthetic_outputs(rows, fail_every=11)
    cur_out["hostile-001"] = f"{HOSTILE_ATTR}{HOSTILE_SCRIPT}"
    baseline = run(tmp_path, rows, base_out, name="baseline", run_id="20261101-090000-b45e11")
    current = run(tmp_path, rows, cur_out, name="current", run_id="20261122-101500-c0ffee")
    return baseline, current


def test_report_in_a_real_browser(browser: Any, tmp_path: Path) -> None:
    baseline, current = review_runs(tmp_path)
    folder = tmp_path / "report"
    results_path = write_results(current, folder / "results.json")
    comparison = compare_runs(current, baseline)
    report = write_report(current, folder / "report.html", comparison)
    saved = read_results(results_path)

    w = Watched(browser)
    w.open(report)
    page = w.page
    assert w.errors == []

    # Headline numbers as results.json has them.
    overall = saved.metrics[saved.gate_split].overall
    for metric in DELTA_METRICS:
        rate = overall.rate(metric)
        assert rate.value is not None
        shown = page.locator(f'.headline [data-metric="{metric}"]')
        assert shown.inner_text() == f"{rate.value:.3f}", metric
        assert float(shown.get_attribute("data-value") or "nan") == rate.value
    assert comparison.reading() in page.locator(".mcnemar .reading").inner_text()
    failed = [g for g in saved.gates if not g.passed]
    verdict = page.locator(".verdict").inner_text()
    assert (f"{len(failed)} of {len(saved.gates)} gates failed" in verdict) == bool(failed)

    # Default view: every case except the passing ones.
    keys_by_status = {
        "regression": set(comparison.regressions),
        "fix": set(comparison.fixes),
    }
    n_passing_now = sum(c.passed for c in saved.cases)
    n_fixes = len(comparison.fixes)
    default = w.visible()
    assert len(default) == len(saved.cases) - n_passing_now + n_fixes
    assert {r["status"] for r in default} <= {"regression", "fix", "failing"}
    assert page.locator("#shown").inner_text() == f"showing {len(default)} of {len(saved.cases)}"

    # Status: only regressions.
    for status in ("fix", "failing"):
        page.uncheck(f'input[name="status"][value="{status}"]')
    shown = w.visible()
    assert {r["key"] for r in shown} == keys_by_status["regression"]
    assert all(r["status"] == "regression" for r in shown)
    assert page.locator("#shown").inner_text() == f"showing {len(shown)} of {len(saved.cases)}"

    # Everything, then without the positive category, then only holdout.
    for status in ("fix", "failing", "passing"):
        page.check(f'input[name="status"][value="{status}"]')
    assert len(w.visible()) == len(saved.cases)
    page.uncheck('input[name="category"][value="positive"]')
    shown = w.visible()
    assert len(shown) == sum(c.category != "positive" for c in saved.cases)
    assert all(r["category"] != "positive" for r in shown)
    page.check('input[name="category"][value="positive"]')
    page.uncheck('input[name="split"][value="dev"]')
    shown = w.visible()
    assert len(shown) == sum(c.split == "holdout" for c in saved.cases)
    assert {r["split"] for r in shown} == {"holdout"}
    page.check('input[name="split"][value="dev"]')

    # Search finds the hostile case by its literal text.
    page.fill("#q", "<script>")
    shown = w.visible()
    assert [r["key"] for r in shown] == ["shop/hostile-001"]
    page.fill("#q", "no such text anywhere")
    assert w.visible() == []
    assert page.locator("#empty").is_visible()
    page.fill("#q", "")

    # The hostile case is text: nothing ran, no element was injected.
    hostile = page.locator('#caselist > .case[data-key="shop/hostile-001"]')
    text = hostile.inner_text()
    assert "<script>alert(1)</script>" in text
    assert HOSTILE_ATTR in text
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.evaluate("document.querySelectorAll('script').length") == 2
    assert w.dialogs == []

    # Back to the default view for the screenshot a reviewer would see.
    page.uncheck('input[name="status"][value="passing"]')
    page.screenshot(path=str(folder / "report.png"), full_page=True)
    assert (folder / "report.png").stat().st_size > 10_000
    assert w.errors == [] and w.dialogs == []
    page.close()


def test_10k_case_report_opens_in_under_a_second(browser: Any, tmp_path: Path) -> None:
    rows = synthetic_rows(10_000)
    current = run(tmp_path, rows, synthetic_outputs(rows), name="big")
    folder = tmp_path / "report"
    report = write_report(current, folder / "report.html")
    size = report.stat().st_size
    assert size < 5 * 1024 * 1024

    w = Watched(browser)
    # The best of three loads: other processes on a shared machine only ever add time.
    loads = []
    for _ in range(3):
        wall = w.open(report)
        nav = w.page.evaluate(
            "() => { const n = performance.getEntriesByType('navigation')[0];"
            " return {load: n.loadEventEnd, dom: n.domContentLoadedEventEnd}; }"
        )
        loads.append((nav["load"] / 1000, wall, nav["dom"] / 1000))
    load, wall, dom = min(loads)
    print(
        f"\n10k-case report: {size / 1e6:.2f} MB; load {load:.2f} s (navigation, best of 3; "
        f"all: {', '.join(f'{x[0]:.2f}' for x in loads)}), {wall:.2f} s wall, "
        f"DOM ready {dom:.2f} s"
    )
    assert wall < TOGGLE_LIMIT_SECONDS  # includes starting the page and reading the file
    assert load < LOAD_LIMIT_SECONDS
    assert w.errors == []

    failing = sum(not c.passed for c in current.cases)
    assert len(w.visible()) == failing
    # Ticking "passing" shows all 10,000 rows (filter, style and layout) at once.
    toggle_ms = w.page.evaluate(
        """() => {
          const box = document.querySelector('input[name="status"][value="passing"]');
          const started = performance.now();
          box.click();
          document.body.offsetHeight;
          return performance.now() - started;
        }"""
    )
    print(f"showing all 10,000 cases took {toggle_ms / 1000:.2f} s")
    assert toggle_ms / 1000 < TOGGLE_LIMIT_SECONDS
    assert len(w.visible()) == 10_000
    assert w.page.locator("#shown").inner_text() == "showing 10,000 of 10,000"
    w.page.screenshot(path=str(folder / "report.png"))
    assert w.errors == [] and w.dialogs == []
    w.page.close()


# --- layout, charts and finding cases --------------------------------------------------------

OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const bad = [];
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (!r.width && !r.height) continue;
    if (r.right <= width + 0.5 && r.left >= -0.5) continue;
    const box = el.parentElement && el.parentElement.closest(".scroll");
    if (box) {
      const b = box.getBoundingClientRect();
      const hint = box.querySelector(":scope > .scroll-hint");
      const says = box.classList.contains("overflows") && hint && hint.offsetParent !== null;
      if (says && b.right <= width + 0.5 && b.left >= -0.5) continue;
    }
    bad.push(`${el.tagName}.${el.className} ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
  return {bad: bad.slice(0, 20), page: document.documentElement.scrollWidth, width};
}"""


def varied_report(tmp_path: Path) -> tuple[Path, RunResults, Comparison]:
    """A 120-case run gated on holdout, against a baseline; its results.json read back."""
    rows = synthetic_rows(120)
    common: dict[str, Any] = {"catalog": MATCHING_CATALOG, "gate_split": "holdout"}
    baseline = run(tmp_path, rows, varied_outputs(rows, 9, shift=2), name="vb", **common)
    current = run(tmp_path, rows, varied_outputs(rows, 7), name="vc", **common)
    folder = tmp_path / "report"
    saved = read_results(write_results(current, folder / "results.json"))
    comparison = compare_runs(saved, baseline)
    return write_report(saved, folder / "report.html", comparison), saved, comparison


def test_phone_and_desktop_layout_and_charts(browser: Any, tmp_path: Path) -> None:
    report, saved, comparison = varied_report(tmp_path)
    w = Watched(browser)
    page = w.page
    for viewport in (PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        w.open(report)
        # Let the script mark the scroll containers that overflow at this width.
        page.wait_for_function(
            f"document.body.dataset.measured === '{viewport['width']}'", timeout=5000
        )
        found = page.evaluate(OVERFLOW)
        assert found["bad"] == [], (viewport, found)
        assert found["page"] <= found["width"], viewport
        # Gate and Value are on screen for every gate.
        for cls in ("gate-op", "value"):
            for box in page.locator(f"table.gates td.{cls}").all():
                b = box.bounding_box()
                assert b is not None and b["x"] >= 0 and b["x"] + b["width"] <= viewport["width"]
        # Matrix column labels are whole words on one line, never letter groups.
        lines = page.evaluate(
            "() => Array.from(document.querySelectorAll('.confusion th.col span'))"
            ".map(s => s.getClientRects().length)"
        )
        assert lines and set(lines) == {1}
    # The check itself catches an element wider than the screen.
    page.evaluate(
        "() => { const d = document.createElement('div'); d.id = 'wide';"
        " d.style.width = '2000px'; d.style.height = '5px';"
        " document.querySelector('main').appendChild(d); }"
    )
    assert any(b.startswith("DIV.") for b in page.evaluate(OVERFLOW)["bad"])
    page.set_viewport_size(PHONE)
    w.open(report)
    page.wait_for_function("document.body.dataset.measured === '390'", timeout=5000)
    page.screenshot(path=str(report.parent / "phone.png"), full_page=True)
    assert page.locator(".scroll.overflows .scroll-hint").first.is_visible()

    # Every chart point equals results.json, and is red exactly when it misses its gate.
    gates = {g.metric: g for g in saved.gates}
    points = page.evaluate(
        "() => Array.from(document.querySelectorAll('circle[data-metric]'))"
        ".map(c => Object.assign({cls: c.getAttribute('class')}, c.dataset))"
    )
    expected = {
        (metric, split, category): m.rate(metric)
        for split, r in saved.metrics.items()
        for category, m in {"overall": r.overall, **r.by_category}.items()
        for metric in DELTA_METRICS
        if m.rate(metric).value is not None
    }
    assert len(points) == len(expected)
    for p in points:
        rate = expected[(p["metric"], p["split"], p["category"])]
        assert float(p["value"]) == rate.value
        assert float(p["low"]) == rate.low and float(p["high"]) == rate.high
        g = gates.get(p["metric"])
        if g is None:  # a metric without a gate is drawn neutral
            assert p["cls"] == "pt none"
            continue
        ok = rate.value <= g.threshold if g.op == "<=" else rate.value >= g.threshold
        assert p["cls"] == ("pt ok" if ok else "pt bad")
    deltas = page.evaluate(
        "() => Array.from(document.querySelectorAll('circle[data-delta]')).map(c => c.dataset)"
    )
    assert deltas
    for d in deltas:
        per = (
            comparison.deltas[d["split"]]
            if d["category"] == "overall"
            else comparison.category_deltas[d["split"]][d["category"]]
        )
        assert float(d["value"]) == per[d["delta"]].delta
    bar = page.locator("#outcomes .bar")
    assert bar.get_attribute("data-n") == str(sum(c.split == "holdout" for c in saved.cases))
    assert w.errors == [] and w.dialogs == []
    page.close()


def test_filters_chips_sorting_and_url_state(browser: Any, tmp_path: Path) -> None:
    report, saved, comparison = varied_report(tmp_path)
    w = Watched(browser)
    page = w.page
    w.open(report)

    # The legend sets the outcome filter, for every status, and the URL says so.
    holdout = [c for c in saved.cases if c.split == "holdout"]
    outcome = next(c.outcome.value for c in holdout if not c.passed)
    page.click(f'#outcomes .legend [data-value="{outcome}"]')
    shown = w.visible()
    assert len(shown) == sum(c.outcome.value == outcome for c in saved.cases) > 0
    assert {r["outcome"] for r in shown} == {outcome}
    assert f"outcome={outcome}" in page.evaluate("location.hash")

    # An error chip lists the invalid outputs of that kind.
    kind = next(str(c.parsed.error) for c in holdout if c.parsed.error is not None)
    page.click(f'#outcomes [data-pick="error"][data-value="{kind}"]')
    shown = w.visible()
    assert len(shown) == sum(str(c.parsed.error) == kind for c in saved.cases) > 0
    assert {r["error"] for r in shown} == {kind}
    state = page.evaluate("location.hash")
    assert "error=" in state and "outcome=invalid" in state

    # Loading with a filter in the URL shows only those rows, with the boxes to match.
    fresh = Watched(browser)
    fresh.page.goto(report.resolve().as_uri() + state, wait_until="load")
    again = fresh.visible()
    assert sorted(r["key"] for r in again) == sorted(r["key"] for r in shown)
    assert fresh.page.is_checked('input[name="outcome"][value="invalid"]')
    assert not fresh.page.is_checked('input[name="outcome"][value="correct"]')
    fresh.page.goto(report.resolve().as_uri() + "#outcome=wrong_tool", wait_until="load")
    wrong_tool = fresh.visible()
    assert {r["outcome"] for r in wrong_tool} == {"wrong_tool"}
    assert len(wrong_tool) == sum(c.outcome.value == "wrong_tool" for c in saved.cases)
    assert fresh.errors == []
    fresh.page.close()

    # The regressions count in the comparison lists the regressions.
    page.click('#comparison [data-pick="status"][data-value="regression"]')
    regressed = w.visible()
    assert {r["key"] for r in regressed} == set(comparison.regressions)
    assert "status=regression" in page.evaluate("location.hash")

    # Groups of identical outputs: one choice lists exactly their cases.
    page.goto(report.resolve().as_uri(), wait_until="load")
    page.select_option("#group", "g0")
    grouped = w.visible()
    outputs = {saved.case(r["key"]).output for r in grouped}
    assert len(grouped) >= 3 and len(outputs) == 1
    assert len(grouped) == sum(not c.passed and c.output in outputs for c in saved.cases)
    assert "group=g0" in page.evaluate("location.hash")
    page.select_option("#group", "")

    # Sorting by id, then by category; then passing rows expand to their output.
    page.check('input[name="status"][value="passing"]')
    page.select_option("#sort", "id")
    keys = [r["key"] for r in w.visible()]
    assert len(keys) == len(saved.cases) and keys == sorted(keys)
    page.select_option("#sort", "category")
    cats = [r["category"] for r in w.visible()]
    assert cats == sorted(cats)
    row = page.locator('#caselist > .case.row[data-status="passing"]').first
    more = row.locator(".rowmore")
    assert not more.is_visible()
    row.click()
    assert more.is_visible() and more.inner_text().startswith("{")
    assert w.errors == [] and w.dialogs == []
    page.close()


def test_robustness_panel_opens_its_examples_and_links_to_hidden_cases(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run with the robustness suite: the panel's overall rate is results.json's, a
    fragile case's smallest flip opens on a click, and its link shows the case in the list
    although the default view hides it (it passes unperturbed)."""
    from tests.test_robustness import LOWER_ID_RULE, _replay, _run

    monkeypatch.setenv("ROUTECHECK_CACHE_DIR", str(tmp_path / "rc-cache"))
    replay = _replay(tmp_path, [LOWER_ID_RULE])
    keys = {"customer_support/pos-track-001", "customer_support/chat-001"}
    ev = _run(
        f"mock:{replay}", tmp_path, keys, robustness_examples=10, perturbations="typo,id_format"
    )
    assert ev.files is not None and ev.files.report is not None
    saved = read_results(ev.files.results)
    assert saved.robustness is not None

    w = Watched(browser)
    w.open(ev.files.report)
    page = w.page
    assert w.errors == []
    panel = page.locator("#robustness")
    shown = panel.locator("[data-robustness]")
    assert float(shown.get_attribute("data-robustness") or "nan") == saved.robustness.overall.value
    assert shown.inner_text() == f"{saved.robustness.overall.value:.3f}"

    fragile = panel.locator("details.fragile")
    assert fragile.count() == 1
    assert fragile.get_attribute("data-fragile") == "customer_support/pos-track-001"
    example = fragile.locator("dl")
    assert not example.is_visible()  # closed until asked
    fragile.locator("summary").click(position={"x": 400, "y": 5})
    assert example.is_visible()
    assert "Where is my order ord-4410?" in example.inner_text()

    link = fragile.locator("summary a")
    anchor = link.get_attribute("href") or ""
    row = page.locator(f"#caselist > {anchor}")
    assert row.locator(".key").inner_text() == "customer_support/pos-track-001"
    assert not row.is_visible()  # passing, so the default view leaves it out
    link.click()
    row.wait_for(state="visible", timeout=5000)  # the hashchange handler runs after the click
    assert page.locator("#shown").inner_text() == "showing 1 of 2"
    assert not page.locator("#empty").is_visible()
    top = page.evaluate(f"() => document.querySelector('{anchor}').getBoundingClientRect().top")
    assert 0 <= top < page.viewport_size["height"]  # scrolled to it
    page.screenshot(path=str(tmp_path / "robustness.png"), full_page=True)
    assert w.errors == [] and w.dialogs == []
    page.close()
