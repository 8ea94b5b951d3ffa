"""Wilson intervals and exact McNemar p-values against values computed by hand."""

from __future__ import annotations

import math

import pytest

from harness.stats import Z95, mcnemar_exact, wilson_interval


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (0, 10, 0.0, 0.2775),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (1, 10, 0.0179, 0.4042),
        (0, 1, 0.0, 0.7935),
        (1, 1, 0.2065, 1.0),
        (50, 100, 0.4038, 0.5962),
        (95, 100, 0.8882, 0.9785),
    ],
)
def test_wilson_known_values(successes: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(successes, n)
    assert interval is not None
    assert interval[0] == pytest.approx(low, abs=1e-4)
    assert interval[1] == pytest.approx(high, abs=1e-4)


def test_wilson_endpoints_are_exact() -> None:
    assert wilson_interval(0, 7) == (0.0, pytest.approx(0.3543, abs=1e-4))
    interval = wilson_interval(7, 7)
    assert interval is not None and interval[1] == 1.0


def test_wilson_contains_the_estimate_and_is_symmetric() -> None:
    for n in (1, 2, 5, 17, 100):
        for k in range(n + 1):
            interval = wilson_interval(k, n)
            assert interval is not None
            low, high = interval
            assert 0.0 <= low <= k / n <= high <= 1.0
            mirror = wilson_interval(n - k, n)
            assert mirror is not None
            assert mirror[0] == pytest.approx(1 - high, abs=1e-12)


def test_wilson_by_the_formula() -> None:
    k, n, z = 3, 20, Z95
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert wilson_interval(k, n) == pytest.approx((centre - half, centre + half))


def test_wilson_no_cases_and_bad_counts() -> None:
    assert wilson_interval(0, 0) is None
    assert wilson_interval(0, -1) is None
    with pytest.raises(ValueError, match="outside"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="outside"):
        wilson_interval(-1, 10)


def test_z95() -> None:
    assert abs(Z95 - 1.96) < 1e-3


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (0, 5, 0.0625),  # 2 * (1/2)^5
        (5, 0, 0.0625),
        (0, 0, 1.0),
        (1, 1, 1.0),
        (3, 3, 1.0),
        (1, 9, 22 / 1024),  # 2 * (C(10,0) + C(10,1)) / 2^10 = 2 * 11 / 1024
        (2, 8, 0.109375),  # 2 * (1 + 10 + 45) / 1024 = 112/1024
        (0, 10, 2 / 1024),  # 2 * (1/2)^10
        (0, 1, 1.0),
    ],
)
def test_mcnemar_exact(b: int, c: int, p: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(p)
