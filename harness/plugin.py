"""The pytest plugin: options, parametrization and the terminal summary, nothing more.

All work is done by :class:`harness.session.EvaluationSession`; the hooks here only wire
it to pytest. Tests opt in by asking for the ``golden_case`` or ``gate_name`` fixtures
(the bundled ``harness.suites`` do), so the plugin is inert in any other test suite, except
that tests marked ``fuzz`` run only under ``-m fuzz``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.errors import RoutecheckError
from harness.gates import GateConfig
from harness.golden import SLICES, SPLITS, Category
from harness.metrics import SUMMARY, Metrics, metric_spec
from harness.results import CaseRecord, RunResults
from harness.session import EvaluationSession
from harness.settings import (
    RunSettings,
    build_settings,
    field_default,
    read_pyproject,
    setting_fields,
)

_SESSION_KEY = pytest.StashKey[EvaluationSession]()
_ERROR_KEY = pytest.StashKey[str]()


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
    config.addinivalue_line(
        "markers", "fuzz: routecheck's parser fuzzing over your catalogs (opt-in: -m fuzz)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the fuzz suite out of a run unless ``-m`` names it: a gate run judges the
    checkpoint, not the harness."""
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
    if not (wants_case or wants_gate):
        return
    session = _session(metafunc.config)
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
        metafunc.parametrize(
            "gate_name",
            [pytest.param(n, id=n, marks=pytest.mark.gate) for n in names],
            indirect=True,
        )


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
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
    ev = config.stash[_SESSION_KEY]
    # Gates alone (no case tests selected) are computed over every case of the split.
    ev.selected = selected if selected or not has_gates else None


@pytest.fixture(scope="session")
def routecheck_results(request: pytest.FixtureRequest) -> RunResults:
    """The run's results, generated once per session on first use."""
    session = _session(request.config)
    assert session is not None, "routecheck: the session failed to start"
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


def _row(label: str, m: Metrics) -> str:
    cells = []
    for name in SUMMARY:
        rate = m.rate(name)
        cells.append(f"{rate.value:>10.3f}" if rate.value is not None else f"{'no cases':>10}")
    return f"{label:<26}{m.n:>6}" + "".join(cells)


def summary_lines(results: RunResults) -> list[str]:
    """The terminal table: the metrics marked ``summary`` in the metric table, per slice."""
    columns = "".join(f"{metric_spec(name).column:>10}" for name in SUMMARY)
    header = f"{'slice':<26}{'n':>6}{columns}"
    lines = [header, "-" * len(header)]
    for split in SLICES:
        report = results.metrics.get(split)
        if report is None or (split != "all" and not report.overall.n):
            continue  # a split with no cases in this run (or older than the results file)
        lines.append(_row(split, report.overall))
        for category, m in report.by_category.items():
            if m.n:
                lines.append(_row(f"  {category}", m))
    lines.append("")
    legend = []
    for name in SUMMARY:
        spec = metric_spec(name)
        over = f" (on {spec.over_label})" if spec.over_label != "n" else ""
        legend.append(f"{spec.column} = {spec.label}{over}")
    lines.append(", ".join(legend))
    for gate in results.gates:
        lines.append(("PASS " if gate.passed else "FAIL ") + gate.message)
    return lines


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _SESSION_KEY not in config.stash:
        return
    ev = config.stash[_SESSION_KEY]
    if ev.results is None:
        return
    tr = terminalreporter
    results = ev.results
    tr.write_sep("=", f"routecheck: {results.checkpoint.spec}")
    for line in summary_lines(results):
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
