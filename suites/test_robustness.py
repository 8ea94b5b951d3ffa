"""One robustness test per golden case under ``--rc-robustness`` (the suite itself ships in
the package as ``harness.suites.test_robustness``)."""

from harness.suites.test_robustness import test_robustness  # noqa: F401
