"""The pytest plugin: options, parametrization, the exit status and the terminal summary.

All work is done by :class:`harness.session.EvaluationSession`; the hooks here only wire
it to pytest. Tests opt in by asking for the ``golden_case`` or ``gate_name`` fixtures
(the bundled ``harness.suites`` do), so the plugin is inert in any other test suite, except
that tests marked ``fuzz`` run only under ``-m fuzz``.

Exit statuses mean one thing each: 0 the verdict passed, 1 it failed, 3 the run started
but did not complete, 4 it could not start (see :mod:`harness.session`).
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Generator
from typing import Any

import pytest

from harness.errors import RoutecheckError
from harness.gates import GateConfig
from harness.golden import SPLITS, Category
from harness.plugin_robustness import (
    check_robustness as check_robustness,
)
from harness.plugin_robustness import (
    drop_robustness_placeholders,
    robustness_gate_names,
    robustness_keys,
    robustness_params,
)
from harness.plugin_robustness import (
    robustness_case as robustness_case,
)
from harness.render.robustness import robustness_lines
from harness.render.terminal import summary_lines
from harness.results import CaseRecord, RunResults
from harness.session import (
    EXIT_FAILED,
    EXIT_INCOMPLETE,
    EXIT_PASSED,
    EvaluationSession,
)
from harness.settings import (
    RunSettings,
    build_settings,
    field_default,
    read_pyproject,
    setting_fields,
)

_SESSION_KEY = pytest.StashKey[EvaluationSession]()
_ERROR_KEY = pytest.StashKey[str]()
_FAILURE_KEY = pytest.StashKey[str]()
_WANTED_KEY = pytest.StashKey[bool]()
_CASE_IDS_KEY = pytest.StashKey[set[str]]()
_OTHER_FAILURES_KEY = pytest.StashKey[int]()


XDIST_REFUSED = (
    "routecheck: the golden suites cannot run under pytest-xdist (-n/--numprocesses): each "
    "worker would generate every case again and write its own results, and the gates need "
    "all cases in one place. Run them without -n; the backend already generates in batches "
    "(--rc-batch-size)."
)
_XDIST_MARK = "routecheck-refuses-xdist"


def _option_name(field_name: str) -> str:
    if field_name == "checkpoint":
        return "--checkpoint"
    return "--rc-" + field_name.replace("_", "-")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("routecheck", "routecheck: gate a tool-routing model")
    for f in setting_fields():
        default = field_default(f)
        help_text = f"{f.metadata['help']} (default: {default})"
        if isinstance(default, bool):
            group.addoption(
                _option_name(f.name),
                action="store_true",
                default=None,
                dest=f"rc_{f.name}",
                help=help_text,
            )
        else:
            group.addoption(
                _option_name(f.name),
                default=None,
                dest=f"rc_{f.name}",
                type=int if isinstance(default, int) else str,
                help=help_text,
            )
    defaults = GateConfig()
    for name in GateConfig.option_names():
        group.addoption(
            "--rc-" + name.replace("_", "-"),
            default=None,
            dest=f"rc_{name}",
            metavar="RATE|off",
            help=f"{GateConfig.help_text(name)} (default: {getattr(defaults, name)})",
        )


def pytest_configure(config: pytest.Config) -> None:
    for category in Category:
        config.addinivalue_line("markers", f"{category.value}: golden cases of this category")
    for split in SPLITS:
        config.addinivalue_line("markers", f"{split}: golden cases of the {split} split")
    config.addinivalue_line("markers", "gate: routecheck threshold gates")
    config.pluginmanager.register(_FailureCounter(config), "routecheck-failure-counter")
    config.addinivalue_line(
        "markers", "fuzz: routecheck's parser fuzzing over your catalogs (opt-in: -m fuzz)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the fuzz suite out of a run unless ``-m`` names it: a gate run judges the
    checkpoint, not the harness. The robustness suite is left out unless ``--rc-robustness``."""
    drop_robustness_placeholders(items)
    if "fuzz" in (config.getoption("markexpr", "") or ""):
        return
    fuzz = [item for item in items if item.get_closest_marker("fuzz") is not None]
    if fuzz:
        config.hook.pytest_deselected(items=fuzz)
        items[:] = [item for item in items if item.get_closest_marker("fuzz") is None]


def run_settings(config: pytest.Config) -> RunSettings:
    """The settings of this run: ``[tool.routecheck]`` overridden by the command line."""
    cli = {f.name: config.getoption(f"rc_{f.name}") for f in setting_fields()}
    cli.update({n: config.getoption(f"rc_{n}") for n in GateConfig.option_names()})
    return build_settings(read_pyproject(config.rootpath), cli)


def _session(config: pytest.Config) -> EvaluationSession | None:
    """Build the session on first need. Bad input is kept as one usage paragraph, raised
    when collection finishes (pytest turns errors raised here into collection tracebacks).
    """
    if _SESSION_KEY in config.stash:
        return config.stash[_SESSION_KEY]
    if _ERROR_KEY in config.stash:
        return None
    if hasattr(config, "workerinput"):
        config.stash[_ERROR_KEY] = XDIST_REFUSED
        return None
    try:
        session = EvaluationSession.start(run_settings(config))
    except RoutecheckError as exc:
        config.stash[_ERROR_KEY] = f"routecheck: {exc}"
        return None
    config.stash[_SESSION_KEY] = session
    return session


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    wants_case = "golden_case" in metafunc.fixturenames
    wants_gate = "gate_name" in metafunc.fixturenames
    if "robustness_case" in metafunc.fixturenames:
        session = _session(metafunc.config)
        params = robustness_params(session.settings, session.cases()) if session else []
        metafunc.parametrize("robustness_case", params, indirect=True)
        return
    if not (wants_case or wants_gate):
        return
    session = _session(metafunc.config)
    if hasattr(metafunc.config, "workerinput"):
        # One placeholder test per function: the controller sees its id and refuses the run.
        name = "golden_case" if wants_case else "gate_name"
        metafunc.parametrize(name, [pytest.param(None, id=_XDIST_MARK)], indirect=True)
        return
    if wants_case:
        params = [
            pytest.param(
                case.key,
                id=case.key,
                marks=[getattr(pytest.mark, case.category.value), getattr(pytest.mark, case.split)],
            )
            for case in (session.cases() if session is not None else [])
        ]
        metafunc.parametrize("golden_case", params, indirect=True)
    if wants_gate:
        names = []
        if session is not None:
            names = [metric for metric, _, _ in session.settings.gates.gates()]
            if session.settings.fail_on_regression:
                names.append("regressions")
            names.extend(robustness_gate_names(session.settings))
        metafunc.parametrize(
            "gate_name",
            [pytest.param(n, id=n, marks=pytest.mark.gate) for n in names],
            indirect=True,
        )


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return  # a worker: the controller refuses the run (pytest_xdist_node_collection_finished)
    if _ERROR_KEY in config.stash:
        raise pytest.UsageError(config.stash[_ERROR_KEY])
    if _SESSION_KEY not in config.stash:
        return
    selected: set[str] = {
        str(item.callspec.params["golden_case"])
        for item in session.items
        if isinstance(item, pytest.Function)
        and hasattr(item, "callspec")
        and "golden_case" in item.callspec.params
    }
    has_gates = any(
        isinstance(item, pytest.Function)
        and hasattr(item, "callspec")
        and "gate_name" in item.callspec.params
        for item in session.items
    )
    robust = robustness_keys(session.items)
    selected |= robust
    ev = config.stash[_SESSION_KEY]
    ev.robust_selected = robust or None
    # Gates alone (no case tests selected) are computed over every case of the split.
    ev.selected = selected if selected or not has_gates else None
    config.stash[_WANTED_KEY] = bool(selected) or has_gates
    config.stash[_CASE_IDS_KEY] = {
        item.nodeid
        for item in session.items
        if isinstance(item, pytest.Function)
        and hasattr(item, "callspec")
        and ("golden_case" in item.callspec.params or "robustness_case" in item.callspec.params)
    }
    config.stash[_OTHER_FAILURES_KEY] = 0
    if config.stash[_WANTED_KEY]:
        try:
            ev.check_outputs()
        except RoutecheckError as exc:
            raise pytest.UsageError(f"routecheck: {exc}") from None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """On the xdist controller: refuse the run as soon as a worker collected a golden suite."""
    if any(i.endswith(f"[{_XDIST_MARK}]") for i in ids):
        raise pytest.UsageError(XDIST_REFUSED)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """Generate and score before the first test, so a failure is one paragraph and exit 3
    instead of the same error repeated by every test."""
    config = session.config
    if config.option.collectonly or not config.stash.get(_WANTED_KEY, False):
        return None
    ev = config.stash[_SESSION_KEY]
    try:
        ev.run()
    except RoutecheckError as exc:
        config.stash[_FAILURE_KEY] = str(exc)
    except OSError as exc:
        config.stash[_FAILURE_KEY] = (
            f"a file operation failed: {exc}; check the folders the run reads and writes"
        )
    except Exception as exc:  # an unknown kind: still one verdict, with its traceback
        config.stash[_FAILURE_KEY] = f"unexpected {type(exc).__name__}: {exc}\n" + "".join(
            traceback.format_exc()
        )
    if _FAILURE_KEY in config.stash:
        return True  # no test can be judged without results: run none
    return None


class _FailureCounter:
    """Counts failures that are not a case's own verdict (gates, set-up errors, other tests):
    under the default verdict those still fail the run, failing cases do not."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        stash = self.config.stash
        if not report.failed or _OTHER_FAILURES_KEY not in stash:
            return
        if report.when != "call" or report.nodeid not in stash[_CASE_IDS_KEY]:
            stash[_OTHER_FAILURES_KEY] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Set the exit status from the verdict: 0 pass, 1 fail, 3 incomplete (see module doc)."""
    config = session.config
    if _FAILURE_KEY in config.stash:
        session.exitstatus = EXIT_INCOMPLETE
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line(f"routecheck: the run did not complete: {config.stash[_FAILURE_KEY]}")
        return
    ev = config.stash.get(_SESSION_KEY, None)
    if ev is None or ev.results is None or int(exitstatus) not in (EXIT_PASSED, EXIT_FAILED):
        return
    failed = ev.results.verdict == "fail" or config.stash.get(_OTHER_FAILURES_KEY, 0) > 0
    if ev.settings.verdict == "cases":
        failed = failed or int(exitstatus) == EXIT_FAILED
    session.exitstatus = EXIT_FAILED if failed else EXIT_PASSED


@pytest.fixture(scope="session")
def routecheck_results(request: pytest.FixtureRequest) -> RunResults:
    """The run's results, generated once per session on first use."""
    session = _session(request.config)
    if session is None:
        pytest.fail("routecheck: the session failed to start", pytrace=False)
    return session.run()


@pytest.fixture
def golden_case(request: pytest.FixtureRequest, routecheck_results: RunResults) -> CaseRecord:
    key: str = request.param
    return routecheck_results.case(key)


@pytest.fixture
def gate_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def _format_case(record: CaseRecord) -> str:
    gold = json.dumps(record.gold.model_dump(), ensure_ascii=False)
    error = record.parsed.error.value if record.parsed.error else "-"
    lines = [
        f"{record.key} [{record.category.value}, {record.split}]: {record.outcome.value}",
        f"  prompt : {record.prompt!r}",
        f"  gold   : {gold}",
        f"  output : {record.output!r}" + (" (truncated)" if record.truncated else ""),
        f"  error  : {error}" + (f" ({record.parsed.detail})" if record.parsed.detail else ""),
    ]
    return "\n".join(lines)


def check_case(record: CaseRecord) -> None:
    """Fail with the prompt, gold, raw output and error kind when a case did not pass."""
    __tracebackhide__ = True
    if not record.passed:
        pytest.fail(_format_case(record), pytrace=False)


def check_gate(results: RunResults, name: str) -> None:
    """Fail with the value, threshold, interval and worst cases when a gate fails."""
    __tracebackhide__ = True
    for gate in results.gates:
        if gate.metric == name:
            if not gate.passed:
                pytest.fail(gate.message, pytrace=False)
            return
    pytest.fail(f"gate {name!r} was not evaluated in this run", pytrace=False)


def _failing_case_reports(tr: Any) -> list[Any]:
    return [r for r in tr.stats.get("failed", []) if "::test_case[" in getattr(r, "nodeid", "")]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(
    terminalreporter: Any, exitstatus: int, config: pytest.Config
) -> Generator[None, None, None]:
    """The routecheck table comes last, after pytest's failure list, which collapses to a
    count and the report's path when more cases fail than ``--rc-max-listed``."""
    ev = config.stash.get(_SESSION_KEY, None)
    tr = terminalreporter
    collapsed = 0
    if ev is not None and ev.results is not None:
        failing = _failing_case_reports(tr)
        if len(failing) > ev.settings.max_listed:
            # pytest's own failure sections and short summary would list every case; the
            # table below names every failing gate, and the report every failing case.
            collapsed = len(failing)
            tbstyle, reportchars = config.option.tbstyle, tr.reportchars
            config.option.tbstyle = "no"
            tr.reportchars = reportchars.replace("f", "")
    try:
        return (yield)
    finally:
        if collapsed:
            config.option.tbstyle, tr.reportchars = tbstyle, reportchars
        if ev is not None and ev.results is not None:
            if collapsed:
                where = ev.files.report if ev.files is not None else "the run's report.html"
                tr.write_sep("-", f"{collapsed} failing cases")
                tr.write_line(
                    f"{collapsed} cases failed, more than --rc-max-listed="
                    f"{ev.settings.max_listed}, so they are not listed one by one: see {where} "
                    "(or run with --rc-max-listed=N to list them here)"
                )
            _summary(tr, ev)


def _summary(tr: Any, ev: EvaluationSession) -> None:
    assert ev.results is not None
    results = ev.results
    tr.write_sep("=", f"routecheck: {results.checkpoint.spec}")
    for line in summary_lines(results):
        # Gate lines in colour on a terminal (write_line drops markup elsewhere).
        tr.write_line(line, green=line.startswith("PASS "), red=line.startswith("FAIL "))
    for line in robustness_lines(results):
        tr.write_line(line)
    if ev.comparison is not None:
        c = ev.comparison
        tr.write_line(
            f"against baseline: {len(c.regressions)} regressions, {len(c.fixes)} fixes, "
            f"exact McNemar p = {c.mcnemar_p:.4g}"
        )
    if ev.files is not None:
        tr.write_line(f"results: {ev.files.results}")
        if ev.files.report is not None:
            tr.write_line(f"report:  {ev.files.report}")
        if ev.files.baseline_saved is not None:
            tr.write_line(f"baseline saved: {ev.files.baseline_saved}")
    _ci_output(tr, ev)


def _ci_output(tr: Any, ev: EvaluationSession) -> None:
    """The job summary (when ``GITHUB_STEP_SUMMARY`` is set) and workflow annotations."""
    from harness.ci_output import append_step_summary, github_annotations

    assert ev.results is not None
    try:
        path = append_step_summary(ev.results, ev.comparison)
    except OSError as exc:  # a CI convenience must not turn a verdict into a crash
        tr.write_line(f"routecheck: could not append the job summary: {exc}")
    else:
        if path is not None:
            tr.write_line(f"job summary: appended to {path}")
    if ev.settings.annotations == "github":
        for line in github_annotations(ev.results, ev.comparison):
            tr.write_line(line)


_COLOURS = {"pass": "\x1b[1;32m", "fail": "\x1b[1;31m", "incomplete": "\x1b[1;33m"}


def verdict_line(results: RunResults, tty: bool = False) -> str:
    """The run's last line: the verdict, why, and the split the gates were computed on."""
    verdict = results.verdict or results.judged(results.verdict_rule)
    gates = results.gates
    failed_gates = [g.metric for g in gates if not g.passed]
    failed_cases = sum(not c.passed for c in results.cases)
    where = f"on the {results.gate_split} split" + (
        " (interval bounds)" if results.gate_on == "bound" else ""
    )
    if verdict == "incomplete":
        why = f"the run did not complete ({results.incomplete_reason or 'see above'})"
    elif failed_gates:
        why = f"{len(failed_gates)} of {len(gates)} gates fail {where}: {', '.join(failed_gates)}"
    elif results.verdict_rule == "cases" and failed_cases:
        why = f"{failed_cases} of {len(results.cases)} cases fail (--rc-verdict=cases)"
    else:
        why = f"all {len(gates)} gates pass {where}"
        if failed_cases:
            why += (
                f"; {failed_cases} failing case(s) are reported but do not decide the verdict "
                "(--rc-verdict=cases makes them count)"
            )
    text = f"routecheck verdict: {verdict.upper()}: {why}"
    return f"{_COLOURS[verdict]}{text}\x1b[0m" if tty else text


def pytest_unconfigure(config: pytest.Config) -> None:
    """Write the verdict line last, after pytest's own counts."""
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is None:
        return
    tty = bool(getattr(tr, "hasmarkup", False))
    ev = config.stash.get(_SESSION_KEY, None)
    if _FAILURE_KEY in config.stash:
        line = "routecheck verdict: INCOMPLETE: the run did not complete (see above); exit 3"
        if ev is not None and ev.files is not None:
            line += f"; what finished is in {ev.files.results}"
        tr.write_line(f"{_COLOURS['incomplete']}{line}\x1b[0m" if tty else line)
    elif ev is not None and ev.results is not None:
        line = verdict_line(ev.results, tty)
        others = config.stash.get(_OTHER_FAILURES_KEY, 0)
        if ev.results.verdict == "pass" and others:
            # The verdict passed, yet a gate test's set-up or another test failed: exit 1.
            line += f"; but {others} other test(s) failed, so the exit status is 1"
        tr.write_line(line)
