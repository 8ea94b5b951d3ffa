"""End-to-end runs of ``pytest suites/`` on the mock backend, driven through ``pytester``."""

from __future__ import annotations

import json
import subprocess
import sys
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
            # ... attempt (u1) and invented (no grounded argument: 0 of 4 valid calls)
            "all *8 *0.750 *0.625 *0.667 *0.125 *0.125 *0.125 *0.000",
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
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # found before anything is generated
    result.stderr.fnmatch_lines(["ERROR: routecheck: *no output for 1 case(s) (shop/c2)*"])
    assert "Traceback" not in result.stderr.str()
    assert not (pytester.path / "reports").exists() or not list(
        (pytester.path / "reports").glob("*/results.json")
    )


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
        (["--checkpoint=openai:localhost#m"], "*expected openai:http(s)://HOST*"),
        (["--checkpoint=empty.gguf"], "*not a GGUF file*"),
        (["--checkpoint=mock:outputs.jsonl", "--rc-reports-dir=notes.txt"], "*reports folder*"),
        (["--checkpoint=mock:outputs.jsonl", "--rc-verdict=some"], "*verdict = 'some'*"),
        (["--checkpoint=mock:outputs.jsonl", "-p", "xdist", "-n", "2"], "*pytest-xdist*"),
    ],
)
def test_bad_input_is_a_usage_error(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    _write_project(pytester, GOLD)
    (pytester.path / "notes.txt").write_text("hello")
    (pytester.path / "emptydir").mkdir()
    (pytester.path / "empty.gguf").write_bytes(b"")
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


# --- exit statuses: one meaning each ------------------------------------------------------

LOOSE_GATES = (
    "--rc-max-false-tool-call-rate=0.2",
    "--rc-min-valid-tool-call-rate=0.7",
    "--rc-min-tool-name-accuracy=0.5",
    "--rc-min-argument-match-accuracy=0.6",
    "--rc-max-silent-corruption-rate=0.2",
)


def test_passing_gates_exit_0_even_with_failing_cases(pytester: pytest.Pytester) -> None:
    _write_project(pytester, MISTAKES)
    result = _run(pytester, "--checkpoint=mock:outputs.jsonl", *LOOSE_GATES)
    result.assert_outcomes(passed=4 + 5, failed=4)  # the failing cases are still shown
    assert result.ret == 0
    assert result.stdout.lines[-1] == (
        "routecheck verdict: PASS: all 5 gates pass on the all split; 4 failing case(s) are "
        "reported but do not decide the verdict (--rc-verdict=cases makes them count)"
    )
    results = _results(pytester)
    assert (results.verdict, results.verdict_rule, results.completed) == ("pass", "gates", True)


def test_verdict_cases_makes_every_case_count(pytester: pytest.Pytester) -> None:
    _write_project(pytester, MISTAKES)
    result = _run(pytester, "--checkpoint=mock:outputs.jsonl", "--rc-verdict=cases", *LOOSE_GATES)
    assert result.ret == 1
    assert result.stdout.lines[-1] == (
        "routecheck verdict: FAIL: 4 of 8 cases fail (--rc-verdict=cases)"
    )
    assert _results(pytester).verdict == "fail"


def test_a_failing_gate_exits_1_and_names_the_split(pytester: pytest.Pytester) -> None:
    _write_project(pytester, MISTAKES)
    result = _run(pytester, "--checkpoint=mock:outputs.jsonl", "--rc-gate-split=dev")
    assert result.ret == 1
    assert result.stdout.lines[-1].startswith("routecheck verdict: FAIL: ")
    assert " gates fail on the dev split: " in result.stdout.lines[-1]
    assert _results(pytester).verdict == "fail"


FAULTS = {
    "backend": (
        "import pytest\n"
        "from harness.backends.mock import MockBackend\n"
        "def _boom(self, requests, config, progress=None):\n"
        "    raise ConnectionError('connection reset by peer')\n"
        "MockBackend.generate = _boom\n"
    ),
    "write": (
        "import errno, harness.render.html\n"
        "def _full(*args, **kwargs):\n"
        "    raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "harness.render.html.write_report = _full\n"
    ),
}


@pytest.mark.parametrize(
    ("fault", "message", "cases"),
    [
        ("backend", "*the backend 'mock:outputs.jsonl' failed after 0 of 8 cases*reset*", 0),
        ("write", "*writing the run's files under reports*No space left on device*", 8),
    ],
)
def test_a_run_that_does_not_complete_exits_3_with_one_paragraph(
    pytester: pytest.Pytester, fault: str, message: str, cases: int
) -> None:
    _write_project(pytester, GOLD)
    pytester.makeconftest(FAULTS[fault])
    result = _run(pytester, "--checkpoint=mock:outputs.jsonl")
    assert result.ret == 3
    result.stdout.fnmatch_lines(["routecheck: the run did not complete: " + message])
    assert result.stdout.lines[-1].startswith("routecheck verdict: INCOMPLETE: ")
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert "passed" not in result.parseoutcomes()  # no case is judged without results
    results = _results(pytester)
    assert not results.completed and results.verdict == "incomplete"
    assert len(results.cases) == cases


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("fail_on_regression = 'false'", "*fail_on_regression = 'false' is a str; it must be*"),
        ("golden = 5", "*golden = 5 is a int; it must be a string*"),
        ("batch_size = '8'", "*batch_size = '8' is a str; it must be a whole number*"),
    ],
)
def test_wrongly_typed_pyproject_values_are_refused(
    pytester: pytest.Pytester, toml: str, message: str
) -> None:
    _write_project(pytester, GOLD)
    pytester.makefile(".toml", pyproject=f"[tool.routecheck]\n{toml}\n")
    result = _run(pytester, "--checkpoint=mock:outputs.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: routecheck: *pyproject.toml: [[]tool.routecheck[]]: " + message[1:]]
    )


def test_pyproject_paths_resolve_against_its_folder(pytester: pytest.Pytester) -> None:
    """Run from a sub-folder: golden, reports and the mock file are found next to pyproject."""
    _write_project(pytester, GOLD)
    pytester.makefile(
        ".toml",
        pyproject="[tool.routecheck]\ncheckpoint = 'mock:outputs.jsonl'\ngolden = 'golden'\n"
        "reports_dir = 'reports'\n",
    )
    sub = pytester.path / "elsewhere"
    sub.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(pytester.path / "suites"),
            f"--rootdir={pytester.path}",
            "-p",
            "no:cacheprovider",
        ],
        cwd=sub,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _results(pytester).metrics["all"].overall.n == len(CASES)
    assert not (sub / "reports").exists()


def test_a_baseline_of_another_golden_set_is_refused_before_generating(
    pytester: pytest.Pytester,
) -> None:
    _write_project(pytester, GOLD)
    first = _run(pytester, "--checkpoint=mock:outputs.jsonl", "--rc-save-baseline=main")
    assert first.ret == 0
    cases = pytester.path / "golden" / "shop" / "cases.jsonl"
    other = [dict(c, id=f"x{c['id']}") for c in CASES]
    cases.write_text("".join(json.dumps(c) + "\n" for c in other))
    lines = [json.dumps({"id": f"x{k}", "output": v}) for k, v in GOLD.items()]
    (pytester.path / "outputs.jsonl").write_text("\n".join(lines) + "\n")
    result = _run(pytester, "--checkpoint=mock:outputs.jsonl", "--rc-baseline=main")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: routecheck: --rc-baseline main: *shares 0 of 8 cases*"])
    assert len(list((pytester.path / "reports").glob("2*/results.json"))) == 1  # no new run


@pytest.mark.parametrize("name", ["bad name!", "../../x", "main.json", ""])
def test_a_bad_save_baseline_name_is_refused_before_generating(
    pytester: pytest.Pytester, name: str
) -> None:
    """Checked after generating, the name would throw the whole run away."""
    _write_project(pytester, GOLD)
    result = _run(pytester, "--checkpoint=mock:outputs.jsonl", f"--rc-save-baseline={name}")
    if not name:  # an empty option means "do not save"
        assert result.ret == 0
        return
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: routecheck: baseline name {name!r} is not allowed*"])
    assert not list((pytester.path / "reports").glob("2*/results.json"))


def test_verdict_line_is_coloured_only_on_a_terminal(tmp_path: Path) -> None:
    from harness.plugin import verdict_line
    from tests.test_runner import build_run

    results, _, _ = build_run(tmp_path, gate_split="holdout")
    failing = results.model_copy(update={"verdict": "fail"})
    plain = verdict_line(failing)
    assert plain.startswith("routecheck verdict: FAIL: ") and "on the holdout split" in plain
    assert "\x1b[" not in plain
    coloured = verdict_line(failing, tty=True)
    assert coloured == f"\x1b[1;31m{plain}\x1b[0m"
    stopped = results.model_copy(
        update={"verdict": "incomplete", "completed": False, "incomplete_reason": "disk full"}
    )
    assert verdict_line(stopped) == (
        "routecheck verdict: INCOMPLETE: the run did not complete (disk full)"
    )


def test_ci_systems_get_a_job_summary_and_annotations(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_project(pytester, MISTAKES)
    summary = pytester.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = _run(pytester, "--checkpoint=mock:outputs.jsonl", "--rc-annotations=github")
    assert result.ret == 1
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("### routecheck: gates FAILED on `all`")
    assert "| false_tool_call_rate | 0.125 |" in text
    result.stdout.fnmatch_lines(
        ["::error title=routecheck gate false_tool_call_rate (all)::false_tool_call_rate = *"]
    )


def test_bound_gates_are_stricter_and_say_so(pytester: pytest.Pytester) -> None:
    _write_project(pytester, GOLD)
    result = _run(pytester, "--checkpoint=mock:outputs.jsonl", "--rc-gate-on=bound")
    # Eight perfect cases: every estimate passes, but no lower bound reaches 0.95.
    assert result.ret == 1
    assert result.stdout.lines[-1].startswith("routecheck verdict: FAIL: ")
    assert "on the all split (interval bounds)" in result.stdout.lines[-1]
    assert _results(pytester).gate_on == "bound"
    result.stdout.fnmatch_lines(["*valid_tool_call_rate = 1.0000 (8/8)*gate lower bound 0.6*"])


def test_long_failure_lists_collapse_and_the_table_comes_last(pytester: pytest.Pytester) -> None:
    _write_project(pytester, MISTAKES)
    listed = _run(pytester, "--checkpoint=mock:outputs.jsonl")
    listed.stdout.fnmatch_lines(["*prompt : 'human please, app broken'*"])
    collapsed = _run(pytester, "--checkpoint=mock:outputs.jsonl", "--rc-max-listed=2")
    assert collapsed.ret == 1
    out = collapsed.stdout.str()
    assert "prompt : " not in out and "short test summary info" not in out
    collapsed.stdout.fnmatch_lines(
        [
            "*4 cases failed, more than --rc-max-listed=2, so they are not listed one by one: "
            "see reports/*/report.html*",
            "*routecheck: mock:outputs.jsonl*",
            "gates on the all split:",
            "FAIL false_tool_call_rate = 0.1250 (1/8)*",
            "*9 failed, 4 passed*",
            "routecheck verdict: FAIL: *",
        ]
    )
