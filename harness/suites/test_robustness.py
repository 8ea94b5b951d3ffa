"""One robustness test per golden case (``--rc-robustness``; left out of a run without it).

Hypothesis perturbs the case's request (typos, casing, wrappers, id spellings...) and the
test fails when a perturbed request gets another verdict than the request as written,
showing the smallest such request it found and the output it got.
"""

from harness.plugin import check_robustness
from harness.results import RunResults


def test_robustness(robustness_case: str, routecheck_results: RunResults) -> None:
    check_robustness(routecheck_results, robustness_case)
