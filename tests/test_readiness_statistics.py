import pytest
from scipy.stats import binomtest

from robust_snn.readiness.statistics import chip_yield, chips_needed, clopper_pearson, cvar, grade, percentile


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (47, 50), (500, 1000)])
def test_clopper_pearson_matches_scipy_exact_interval(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert clopper_pearson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_yield_counts_chips_at_or_above_spec():
    est = chip_yield([0.9, 0.85, 0.8, 0.95], spec=0.85)
    assert (est.passed, est.n_chips, est.value) == (3, 4, 0.75)
    assert est.ci[0] < 0.75 < est.ci[1]


def test_cvar_is_the_mean_of_the_worst_tail():
    accs = [i / 100 for i in range(100)]
    assert cvar(accs, 0.05) == pytest.approx(sum(range(5)) / 500)
    assert cvar([0.7, 0.9], 0.05) == 0.7


def test_percentile_interpolates_like_numpy():
    import numpy as np

    values = [0.3, 0.9, 0.5, 0.7, 0.1]
    assert percentile(values, 5) == pytest.approx(float(np.percentile(values, 5)))


def test_chips_needed_reaches_the_width_and_is_minimal():
    n = chips_needed(0.9, 0.1)
    low, high = clopper_pearson(round(0.9 * n), n)
    assert high - low <= 0.1
    low, high = clopper_pearson(round(0.9 * (n - 1)), n - 1)
    assert high - low > 0.1


@pytest.mark.parametrize("ci,fits,expected", [
    ((0.96, 0.99), True, "ready"),
    ((0.90, 0.99), True, "marginal"),
    ((0.80, 0.94), True, "not-ready"),
    ((0.96, 0.99), False, "not-ready"),
])
def test_grade_depends_on_the_interval_not_the_point_estimate(ci, fits, expected):
    assert grade(ci, 0.95, fits) == expected
