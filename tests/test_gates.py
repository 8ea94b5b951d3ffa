"""Threshold gates: configuration, pass and fail, offenders, and no vacuous passes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from harness.catalog import NO_TOOL
from harness.gates import GateConfig, GateResult, evaluate_gates
from harness.golden import Category
from harness.metrics import compute_metrics, metric_spec
from harness.scoring import CaseVerdict, Outcome


def verdict(case_id: str, outcome: Outcome, gold: str = "track_order") -> CaseVerdict:
    valid = outcome is not Outcome.INVALID
    tool_match = outcome in (Outcome.CORRECT, Outcome.WRONG_ARGUMENTS)
    return CaseVerdict(
        case_id=case_id,
        catalog="shop",
        category=Category.POSITIVE if gold != NO_TOOL else Category.CHITCHAT,
        split="dev",
        gold_tool=gold,
        predicted="invalid" if not valid else gold,
        valid=valid,
        tool_match=tool_match,
        arguments_match=outcome is Outcome.CORRECT,
        outcome=outcome,
    )


def by_metric(results: list[GateResult]) -> dict[str, GateResult]:
    return {r.metric: r for r in results}


def test_defaults_and_order() -> None:
    config = GateConfig()
    assert config.gates() == [
        ("false_tool_call_rate", "<=", 0.02),
        ("valid_tool_call_rate", ">=", 0.98),
        ("tool_name_accuracy", ">=", 0.95),
        ("argument_match_accuracy", ">=", 0.95),
        ("silent_corruption_rate", "<=", 0.05),
    ]
    assert GateConfig.option_names() == [
        "max_false_tool_call_rate",
        "min_valid_tool_call_rate",
        "min_tool_name_accuracy",
        "min_argument_match_accuracy",
        "max_silent_corruption_rate",
        "max_false_call_attempt_rate",
        "max_ungrounded_rate",
    ]


def test_every_gate_reads_its_direction_from_the_metric_table() -> None:
    config = GateConfig(max_false_call_attempt_rate=0.1)
    for metric, op, _ in config.gates():
        assert op == ("<=" if metric_spec(metric).lower_is_better else ">=")
    assert ("false_call_attempt_rate", "<=", 0.1) in config.gates()


def test_false_call_attempt_gate_is_off_by_default_and_counts_invalid_attempts() -> None:
    assert "false_call_attempt_rate" not in [g[0] for g in GateConfig().gates()]
    attempt = verdict("bad-args", Outcome.INVALID, gold=NO_TOOL).model_copy(
        update={"call_attempt": True}
    )
    garbage = verdict("garbage", Outcome.INVALID, gold=NO_TOOL)
    verdicts = [verdict(f"c{i}", Outcome.CORRECT, gold=NO_TOOL) for i in range(7)]
    verdicts += [attempt, garbage, verdict("ftc", Outcome.FALSE_TOOL_CALL, gold=NO_TOOL)]
    config = GateConfig(
        max_false_tool_call_rate=0.1,
        min_valid_tool_call_rate=None,
        min_tool_name_accuracy=None,
        min_argument_match_accuracy=None,
        max_silent_corruption_rate=None,
        max_false_call_attempt_rate=0.1,
    )
    results = by_metric(evaluate_gates(compute_metrics(verdicts), verdicts, config))
    # The seed's false-tool-call rate sees only the valid call: 1/10, at the threshold.
    assert results["false_tool_call_rate"].passed
    # Attempts add the invalid call (bad arguments), not the output naming no tool: 2/10.
    attempts = results["false_call_attempt_rate"]
    assert (attempts.numerator, attempts.denominator) == (2, 10)
    assert not attempts.passed
    assert attempts.offenders == ["shop/bad-args", "shop/ftc"]


def test_a_gate_named_against_its_metric_direction_is_refused() -> None:
    @dataclass(frozen=True)
    class Backwards(GateConfig):
        min_false_tool_call_rate: float | None = 0.5

    with pytest.raises(TypeError, match="false_tool_call_rate is lower is better"):
        Backwards()


def test_disabled_gates_are_skipped() -> None:
    config = GateConfig(min_valid_tool_call_rate=None, max_silent_corruption_rate=None)
    assert [g[0] for g in config.gates()] == [
        "false_tool_call_rate",
        "tool_name_accuracy",
        "argument_match_accuracy",
    ]


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_threshold_outside_unit_interval(value: float) -> None:
    with pytest.raises(ValueError, match=r"gate min_tool_name_accuracy must be in \[0, 1\]"):
        GateConfig(min_tool_name_accuracy=value)


def test_help_text() -> None:
    assert "false-tool-call" in GateConfig.help_text("max_false_tool_call_rate")
    with pytest.raises(KeyError):
        GateConfig.help_text("nope")


def test_all_pass() -> None:
    verdicts = [verdict(f"c{i}", Outcome.CORRECT) for i in range(50)]
    results = evaluate_gates(compute_metrics(verdicts), verdicts, GateConfig())
    assert len(results) == 5  # the false-call-attempt gate is off by default
    assert all(r.passed for r in results)
    valid = by_metric(results)["valid_tool_call_rate"]
    assert valid.value == 1.0 and (valid.numerator, valid.denominator) == (50, 50)
    assert valid.offenders == []
    assert valid.message.startswith("valid_tool_call_rate = 1.0000 (50/50), 95% CI [")
    assert valid.message.endswith("gate >= 0.98: ok")


def test_failures_name_value_interval_and_worst_cases() -> None:
    verdicts = [verdict(f"c{i}", Outcome.CORRECT) for i in range(16)]
    verdicts += [verdict("bad1", Outcome.INVALID), verdict("bad2", Outcome.WRONG_TOOL)]
    verdicts += [verdict("ftc", Outcome.FALSE_TOOL_CALL, gold=NO_TOOL)]
    verdicts += [verdict("args", Outcome.WRONG_ARGUMENTS)]
    results = by_metric(evaluate_gates(compute_metrics(verdicts), verdicts, GateConfig()))

    valid = results["valid_tool_call_rate"]
    # 19 of 20 outputs valid: 0.95 < 0.98.
    assert not valid.passed and valid.value == 0.95
    assert valid.offenders == ["shop/bad1"]
    assert valid.message == (
        f"valid_tool_call_rate = 0.9500 (19/20), 95% CI [{valid.low:.4f}, {valid.high:.4f}]; "
        "gate >= 0.98: FAILED; worst cases: shop/bad1"
    )
    false_calls = results["false_tool_call_rate"]
    assert not false_calls.passed and false_calls.offenders == ["shop/ftc"]
    assert false_calls.value == 1 / 20
    silent = results["silent_corruption_rate"]
    # wrong tool (bad2) and wrong arguments (args): 2/20 = 0.10 > 0.05.
    assert not silent.passed and silent.offenders == ["shop/bad2", "shop/args"]
    args = results["argument_match_accuracy"]
    # valid outputs without matching arguments: bad2, ftc, args -> 16/19.
    assert (args.numerator, args.denominator) == (16, 19)
    assert args.offenders == ["shop/bad2", "shop/ftc", "shop/args"]
    names = results["tool_name_accuracy"]
    assert names.offenders == ["shop/bad1", "shop/bad2", "shop/ftc"]


def test_gate_at_exactly_the_threshold_passes() -> None:
    verdicts = [verdict(f"c{i}", Outcome.CORRECT) for i in range(49)]
    verdicts.append(verdict("ftc", Outcome.FALSE_TOOL_CALL, gold=NO_TOOL))
    config = GateConfig(max_false_tool_call_rate=0.02)
    result = by_metric(evaluate_gates(compute_metrics(verdicts), verdicts, config))
    assert result["false_tool_call_rate"].value == 0.02
    assert result["false_tool_call_rate"].passed


def test_offenders_are_capped() -> None:
    verdicts = [verdict(f"c{i}", Outcome.INVALID) for i in range(30)]
    results = by_metric(
        evaluate_gates(compute_metrics(verdicts), verdicts, GateConfig(), max_offenders=3)
    )
    assert results["valid_tool_call_rate"].offenders == ["shop/c0", "shop/c1", "shop/c2"]


def test_zero_cases_fail_every_gate() -> None:
    results = evaluate_gates(compute_metrics([]), [], GateConfig())
    assert len(results) == 5
    for result in results:
        assert not result.passed
        assert result.value is None and result.denominator == 0
        assert result.message == (
            f"{result.metric}: no cases to measure; a gate never passes vacuously"
        )


def test_no_valid_output_fails_the_argument_gate() -> None:
    verdicts = [verdict("c1", Outcome.INVALID)]
    config = GateConfig(
        max_false_tool_call_rate=None,
        min_valid_tool_call_rate=None,
        min_tool_name_accuracy=None,
        max_silent_corruption_rate=None,
    )
    (result,) = evaluate_gates(compute_metrics(verdicts), verdicts, config)
    assert result.metric == "argument_match_accuracy"
    assert not result.passed and "no cases to measure" in result.message


def test_bound_gates_read_the_far_end_of_the_interval() -> None:
    # 1 false call in 100 no-tool cases: 0.01 passes <= 0.02 on the estimate, but its 95%
    # interval reaches 0.0545, so a conservative gate fails; 99/100 valid is the mirror.
    verdicts = [verdict("c0", Outcome.FALSE_TOOL_CALL, NO_TOOL)]
    verdicts += [verdict(f"c{i}", Outcome.CORRECT, NO_TOOL) for i in range(1, 100)]
    m = compute_metrics(verdicts)
    config = GateConfig(min_tool_name_accuracy=None, min_argument_match_accuracy=None)
    estimate = by_metric(evaluate_gates(m, verdicts, config))
    bound = by_metric(evaluate_gates(m, verdicts, config, on="bound"))
    assert estimate["false_tool_call_rate"].passed
    assert not bound["false_tool_call_rate"].passed
    assert "upper bound 0.05" in bound["false_tool_call_rate"].message
    # 100/100 valid: the estimate passes >= 0.98, but the lower bound (0.963) does not: a
    # bound gate at 0.98 needs about 190 cases with none wrong.
    assert estimate["valid_tool_call_rate"].passed and not bound["valid_tool_call_rate"].passed
    assert "lower bound 0.9630 >= 0.98" in bound["valid_tool_call_rate"].message
    with pytest.raises(ValueError, match="estimate, bound"):
        evaluate_gates(m, verdicts, config, on="median")
