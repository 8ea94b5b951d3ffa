"""The threshold gates: one visible test per gate, failing with value, threshold, interval
and the worst offending cases. A gate over zero cases fails."""

from harness.plugin import check_gate
from harness.results import RunResults


def test_gate(gate_name: str, routecheck_results: RunResults) -> None:
    check_gate(routecheck_results, gate_name)
