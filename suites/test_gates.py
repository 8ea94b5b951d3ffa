"""One test per threshold gate (``pytest suites/`` from a checkout; the suite itself ships
in the package as ``harness.suites.test_gates``)."""

from harness.suites.test_gates import test_gate  # noqa: F401
