"""The README documents every option the plugin declares, and the first two commands work
as the README says (they are the scripts CI calls)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _plugin_options(config: pytest.Config) -> list[str]:
    """Every option name of the routecheck group, as the running pytest registered them."""
    from harness.gates import GateConfig
    from harness.plugin import _option_name
    from harness.settings import setting_fields

    names = [_option_name(f.name) for f in setting_fields()]
    names += ["--rc-" + n.replace("_", "-") for n in GateConfig.option_names()]
    for name in names:  # each one is really registered (raises ValueError otherwise)
        config.getoption(name)
    return names


def test_every_option_is_documented(pytestconfig: pytest.Config) -> None:
    missing = [name for name in _plugin_options(pytestconfig) if f"`{name}`" not in README]
    assert not missing, f"README does not document: {missing}"


def test_readme_opens_with_the_two_commands() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["bash scripts/gate.sh", "bash scripts/test.sh"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci and "bash scripts/gate.sh" in ci


def test_every_cli_command_is_documented() -> None:
    from harness.cli import COMMANDS

    missing = [name for name in COMMANDS if f"routecheck {name}" not in README]
    assert not missing, f"README does not document: {missing}"
