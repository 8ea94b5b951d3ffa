"""``routecheck run [options]``: the bundled suites, the same as ``pytest suites/ ...``.

Every argument goes to pytest. ``--help`` shows routecheck's own options (built from the
same settings and gate fields the pytest plugin declares) and says how to see pytest's.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

from harness.cli.common import EXIT_STATUSES, epilog
from harness.errors import RoutecheckError
from harness.gates import GateConfig
from harness.settings import field_default, read_pyproject, setting_fields

PYTEST_HELP = "--pytest-help"
"""Shows pytest's own help for the suites run."""

EXAMPLES = (
    "routecheck run --checkpoint=routers/customer_support --rc-gate-split=holdout",
    "routecheck run --checkpoint=path/to/adapter --rc-baseline=main -q",
)


def suites_path() -> str:
    """Where the bundled suites are: the packaged ``harness.suites``, so a plain install
    (a wheel, not only a source checkout) runs them."""
    return str(Path(__file__).resolve().parent.parent / "suites")


def _option_name(field_name: str) -> str:
    from harness.plugin import _option_name as plugin_option_name

    return plugin_option_name(field_name)


def _options(pyproject: dict[str, Any]) -> list[tuple[str, str]]:
    """(option, help) for every routecheck option, defaults as pyproject.toml resolves them."""

    def shown(name: str, default: Any) -> str:
        if name in pyproject:
            return f"default: {pyproject[name]} from pyproject.toml"
        return f"default: {default}"

    rows = []
    for f in setting_fields():
        default = field_default(f)
        option = _option_name(f.name)
        if not isinstance(default, bool):
            option += "=" + f.name.upper()
        rows.append((option, f"{f.metadata['help']} ({shown(f.name, default)})"))
    gates = GateConfig()
    for name in GateConfig.option_names():
        option = "--rc-" + name.replace("_", "-") + "=RATE|off"
        text = f"{GateConfig.help_text(name)} ({shown(name, getattr(gates, name))})"
        rows.append((option, text))
    return rows


def help_text() -> str:
    """routecheck's options first, then where pytest's options are."""
    try:
        pyproject = read_pyproject(Path.cwd())
    except RoutecheckError:
        pyproject = {}
    lines = [
        "usage: routecheck run [options] [pytest options]",
        "",
        "Run the golden-case and gate suites on a checkpoint (the same as "
        f"`pytest {suites_path()}`).",
        "",
        "routecheck options (also read from [tool.routecheck] in pyproject.toml):",
    ]
    for option, text in _options(pyproject):
        lines.append(f"  {option}")
        lines.extend(
            textwrap.wrap(text, width=88, initial_indent=" " * 6, subsequent_indent=" " * 6)
        )
    lines += [
        "",
        f"Every other option goes to pytest: `routecheck run {PYTEST_HELP}` lists them "
        "(-q, -k EXPR, -x, --junitxml=FILE, ...).",
        "",
        epilog(EXAMPLES, EXIT_STATUSES),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``argv`` excludes ``run``."""
    import pytest

    args = list(sys.argv[1:] if argv is None else argv)
    if PYTEST_HELP in args:
        return int(pytest.main([suites_path(), "--help"]))
    if "-h" in args or "--help" in args:
        print(help_text())
        return 0
    if not any(a == "--rootdir" or a.startswith("--rootdir=") for a in args):
        # The suites live in the installed package; the project (its pyproject.toml and
        # [tool.routecheck]) is the folder the command runs in.
        args = [f"--rootdir={Path.cwd()}", *args]
    return int(pytest.main([suites_path(), *args]))
