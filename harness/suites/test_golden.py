"""One test per golden case: does the router answer this request correctly?

Parametrized by the routecheck plugin from the golden sets (``--rc-golden``); the test id
is ``catalog/case-id`` and each case carries its category and split as markers, so
``pytest suites/ -m "chitchat and holdout"`` runs just those.
"""

from harness.plugin import check_case
from harness.results import CaseRecord


def test_case(golden_case: CaseRecord) -> None:
    check_case(golden_case)
