"""End-to-end runs of ``pytest suites/`` on the mock backend, driven through ``pytester``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.results import read_results
from tests.strategies import shop_catalog_dict

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

CATALOG = shop_catalog_dict()


def _case(cid: str, category: str, prompt: str, tool: str, split: str = "dev", **args: str) -> dict:
    target: dict = {"tool": tool}
    if args:
        target["arguments"] = args
    return {"id": cid, "category": category, "prompt": prompt, "target": target, "split": split}


CASES = [
    _case("p1", "positive", "where is ORD-1", "track_order", order_id="ORD-1"),
    _case("p2", "positive", "where is ORD-2", "track_order", order_id="ORD-2"),
    _case("p3", "positive", "human please, app broken", "escalate", reason="app broken"),
    _case("p4", "positive", "ORD-4 status?", "track_order", "holdout", order_id="ORD-4"),
    _case("u1", "underspecified", "track my order", "no_tool"),
    _case("i1", "info_request", "what are your hours?", "no_tool"),
    _case("c1", "chitchat", "hi there", "no_tool", "holdout"),
    _case("c2", "chitchat", "thanks!", "no_tool"),
]

GOLD = {
    "p1": '{"tool":"track_order","arguments":{"order_id":"ORD-1"}}',
    "p2": '{"tool":"track_order","arguments":{"order_id":"ORD-2"}}',
    "p3": '{"tool":"escalate","arguments":{"reason":"App broken."}}',
    "p4": '{"tool":"track_order","arguments":{"order_id":"ORD-4"}}',
    "u1": '{"tool":"no_tool","reason":"need order_id"}',
    "i1": '{"tool":"no_tool","reason":"answer directly"}',
    "c1": '{"tool":"no_tool","reason":"greeting"}',
    "c2": '{"tool":"no_tool","reason":"thanks"}',
}

# Known mistakes, each a different outcome:
#   p2 wrong arguments (silent corruption), p3 prose around JSON (invalid in strict mode),
#   u1 a tool call where no tool fits (false tool call), c2 broken JSON (invalid).
MISTAKES = {
    **GOLD,
    "p2": '{"tool":"track_order","arguments":{"order_id":"ORD-3"}}',
    "p3": 'Sure! {"tool":"escalate","arguments":{"reason":"app broken"}}',
    "u1": '{"tool":"track_order","arguments":{"order_id":"ORD-0"}}',
    "c2": '{"tool":"no_tool","reason":',
}


def _write_project(pytester: pytest.Pytester, outputs: dict[str, str] | None) -> None:
    golden = pytester.path / "golden" / "shop"
    golden.mkdir(parents=True)
    (golden / "catalog.json").write_text(json.dumps(CATALOG))
    (golden / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CASES))
    suites = pytester.path / "suites"
    suites.mkdir()
    for name in ("test_golden.py", "test_gates.py"):
        (suites / name).write_text((ROOT / "suites" / name).read_text())
    if outputs is not None:
        lines = [json.dumps({"id": k, "output": v}) for k, v in outputs.items()]
        (pytester.path / "outputs.jsonl").write_text("\n".join(lines) + "\n")


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "suites",
        "--rc-golden=golden",
        "--rc-reports-dir=reports",
        "-p",
        "no:cacheprovider",
        *args,
    )


def _results(pytester: pytest.Pytester):  # type: ignore[no-untyped-def]
    found = sorted((pytester.path / "reports").glob("*/results.json"))
    assert len(found) == 1, found
    return read_results(found[0])


def test_gold_outputs_pass_every_case_and_gate(pytester: pytest.Pytester) -> None:
    _write_project(pytester, GOLD)
    result = _run(pytester, "--checkpoint=mock:outputs.jsonl")
    result.assert_outcomes(passed=len(CASES) + 5)
    assert result.ret == 0
    results = _results(pytester)
    assert results.metrics["all"].overall.pass_rate.value == 1.0
    assert all(g.passed for g in results.gates)
    result.stdout.fnmatch_lines(["*routecheck: mock:outputs.jsonl*", "all *8 *1.000*"])


def test_known_mistakes_fail_the_named_gates_with_hand_computed_numbers(
    pytester: pytest.Pytester,
) -> None:
    _write_project(pytester, MISTAKES)
    result = _run(pytester, "--checkpoint=mock:outputs.jsonl", "-rf")
    assert result.ret == 1
    # By hand, over 8 cases: valid = 6 (p3, c2 invalid) -> 6/8 = 0.75;
    # right tool = p1, p2, p4, i1, c1 -> 5/8 = 0.625; argument matches among the 6 valid
    # = p1, p4, i1, c1 -> 4/6 = 0.6667; false tool calls = u1 -> 1/8 = 0.125;
    # silent corruption = p2 -> 1/8 = 0.125.
    results = _results(pytester)
    m = results.metrics["all"].overall
    assert (m.valid_tool_call_rate.numerator, m.valid_tool_call_rate.denominator) == (6, 8)
    assert (m.tool_name_accuracy.numerator, m.tool_name_accuracy.denominator) == (5, 8)
    assert (m.argument_match_accuracy.numerator, m.argument_match_accuracy.denominator) == (4, 6)
    assert (m.false_tool_call_rate.numerator, m.false_tool_call_rate.denominator) == (1, 8)
    assert (m.silent_corruption_rate.numerator, m.silent_corruption_rate.denominator) == (1, 8)
    result.stdout.fnmatch_lines(
        [
            "all *8 *0.750 *0.625 *0.667 *0.125 *0.125",
            "*FAIL false_tool_call_rate = 0.1250 (1/8)*gate <= 0.02: FAILED; worst cases: shop/u1",
            "*FAIL valid_tool_call_rate = 0.7500 (6/8)*",
        ]
    )
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 4 + 5  # four cases and all five gates
    result.stdout.fnmatch_lines(
        [
            "*test_case?shop/p3?*",
            "*prompt : 'human please, app broken'*",
            "*error  : not_json*",
        ]
    )


def test_marker_selects_one_category(pytester: pytest.Pytester) -> None:
    _write_project(pytester, GOLD)
    result = _run(pytester, "--checkpoint=mock:outputs.jsonl", "-m", "chitchat")
    result.assert_outcomes(passed=2, deselected=len(CASES) - 2 + 5)
    results = _results(pytester)
    assert {c.key for c in results.cases} == {"shop/c1", "shop/c2"}


def test_gate_threshold_from_the_command_line_and_off(pytester: pytest.Pytester) -> None:
    _write_project(pytester, MISTAKES)
    result = _run(
        pytester,
        "--checkpoint=mock:outputs.jsonl",
        "-m",
        "gate",
        "--rc-max-false-tool-call-rate=0.2",
        "--rc-min-valid-tool-call-rate=off",
        "--rc-min-tool-name-accuracy=0.5",
        "--rc-min-argument-match-accuracy=0.6",
        "--rc-max-silent-corruption-rate=0.2",
    )
    result.assert_outcomes(passed=4, deselected=len(CASES))
    assert result.ret == 0


def test_gates_from_pyproject(pytester: pytest.Pytester) -> None:
    _write_project(pytester, MISTAKES)
    pytester.makefile(
        ".toml",
        pyproject="[tool.routecheck]\ncheckpoint = 'mock:outputs.jsonl'\n"
        "max_false_tool_call_rate = 0.2\nmin_valid_tool_call_rate = 'off'\n"
        "min_tool_name_accuracy = 0.5\nmin_argument_match_accuracy = 0.6\n"
        "max_silent_corruption_rate = 0.2\n",
    )
    result = _run(pytester, "-m", "gate")
    result.assert_outcomes(passed=4, deselected=len(CASES))


def test_zero_case_gate_fails(pytester: pytest.Pytester) -> None:
    _write_project(pytester, GOLD)
    result = _run(
        pytester, "--checkpoint=mock:outputs.jsonl", "--rc-gate-split=holdout", "-m", "gate or dev"
    )
    # Only dev cases are selected, so the holdout slice the gates read is empty.
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*no cases to measure; a gate never passes vacuously*"])


def test_mock_file_missing_a_case_is_an_error(pytester: pytest.Pytester) -> None:
    outputs = dict(GOLD)
    del outputs["c2"]
    _write_project(pytester, outputs)
    result = _run(pytester, "--checkpoint=mock:outputs.jsonl")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*no output for case 'shop/c2'*"])
    assert "passed" not in result.parseoutcomes() or result.parseoutcomes()["passed"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--checkpoint=does/not/exist/here"], "*nothing found at*Accepted: base*"),
        (["--checkpoint=mock:missing.jsonl"], "*replay file not found*"),
        (["--checkpoint=notes.txt"], "*is a file but not a .gguf*Accepted*"),
        (["--checkpoint=emptydir"], "*holds no checkpoint (found: nothing*"),
        (["--checkpoint=mock:outputs.jsonl", "--rc-golden=nowhere"], "*golden path not found*"),
        (["--checkpoint=mock:outputs.jsonl", "--rc-gate-split=both"], "*gate-split = 'both'*"),
        (
            ["--checkpoint=mock:outputs.jsonl", "--rc-min-valid-tool-call-rate=lots"],
            "*not a number*",
        ),
        (
            ["--checkpoint=mock:outputs.jsonl", "--rc-max-false-tool-call-rate=2"],
            "*must be in [[]0, 1]*",
        ),
        ([], "*no checkpoint to evaluate*"),
    ],
)
def test_bad_input_is_a_usage_error(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    _write_project(pytester, GOLD)
    (pytester.path / "notes.txt").write_text("hello")
    (pytester.path / "emptydir").mkdir()
    result = _run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: routecheck: " + message])
    assert "Traceback" not in result.stderr.str()


def test_broken_golden_file_names_file_and_line(pytester: pytest.Pytester) -> None:
    _write_project(pytester, GOLD)
    cases = pytester.path / "golden" / "shop" / "cases.jsonl"
    lines = cases.read_text().splitlines()
    lines[2] = lines[2].replace('"positive"', '"postive"')
    cases.write_text("\n".join(lines) + "\n")
    result = _run(pytester, "--checkpoint=mock:outputs.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*cases.jsonl:3 (id 'p3'): category: unknown category 'postive'*"])


def test_baseline_save_compare_and_fail_on_regression(pytester: pytest.Pytester) -> None:
    _write_project(pytester, GOLD)
    first = _run(pytester, "--checkpoint=mock:outputs.jsonl", "--rc-save-baseline=main")
    assert first.ret == 0
    first.stdout.fnmatch_lines(["baseline saved: reports/baselines/main.json"])
    assert (pytester.path / "reports" / "baselines" / "main.json").is_file()
    # Now the router regresses on four cases.
    lines = [json.dumps({"id": k, "output": v}) for k, v in MISTAKES.items()]
    (pytester.path / "outputs.jsonl").write_text("\n".join(lines) + "\n")
    second = _run(
        pytester,
        "--checkpoint=mock:outputs.jsonl",
        "--rc-baseline=main",
        "--rc-fail-on-regression",
        "-m",
        "gate",
    )
    assert second.ret == 1
    second.stdout.fnmatch_lines(
        [
            "*FAIL regressions = 4 (pass -> fail) against 0 fixes; exact McNemar p = 0.125*",
            "against baseline: 4 regressions, 0 fixes, exact McNemar p = 0.125",
        ]
    )
    outcomes = second.parseoutcomes()
    assert outcomes["failed"] == 6  # five metric gates and the regression gate
    reports = sorted((pytester.path / "reports").glob("2*/report.html"))
    assert len(reports) == 2
    html = reports[-1].read_text()
    assert "regression" in html.lower()


def test_unknown_baseline_is_a_usage_error(pytester: pytest.Pytester) -> None:
    _write_project(pytester, GOLD)
    result = _run(pytester, "--checkpoint=mock:outputs.jsonl", "--rc-baseline=nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: routecheck: *nope*"])
