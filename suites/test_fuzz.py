"""The opt-in parser fuzzing over your catalogs (``pytest suites/ -m fuzz``); it ships in
the package as ``harness.suites.test_fuzz``."""

from harness.suites.test_fuzz import *  # noqa: F403
