"""One test per golden case (``pytest suites/`` from a checkout; the suite itself ships in
the package as ``harness.suites.test_golden``)."""

from harness.suites.test_golden import test_case  # noqa: F401
