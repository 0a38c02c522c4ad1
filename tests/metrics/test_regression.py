import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from metrics.errors import MetricInputError, UndefinedMetricWarning
from metrics.regression import (
    RegressionSums,
    mean_absolute_error,
    mean_absolute_percentage_error,
    root_mean_squared_error,
)

FAST = settings(max_examples=60, deadline=None)

PAIRS = [
    (root_mean_squared_error, skm.root_mean_squared_error),
    (mean_absolute_error, skm.mean_absolute_error),
    (mean_absolute_percentage_error, skm.mean_absolute_percentage_error),
]


@st.composite
def regression_pairs(draw, *, allow_zero=True):
    n = draw(st.integers(1, 40))
    # Magnitudes below 1e-6 are left to the edge-case tests: a percentage error over a
    # subnormal actual overflows float64 and is reported as bad input, by design.
    value = st.floats(-1e6, 1e6, allow_nan=False).filter(lambda v: abs(v) >= 1e-6)
    if allow_zero:
        value = st.one_of(value, st.just(0.0))
    t = draw(st.lists(value, min_size=n, max_size=n))
    p = draw(st.lists(value, min_size=n, max_size=n))
    return np.array(t), np.array(p)


@FAST
@given(regression_pairs())
def test_array_metrics_match_sklearn(data):
    t, p = data
    for ours, theirs in PAIRS:
        assert ours(t, p) == pytest.approx(theirs(t, p), rel=1e-12, abs=0), ours.__name__


@FAST
@given(regression_pairs())
def test_sums_match_exact_rational_reference(data):
    t, p = data
    sums = RegressionSums.from_arrays(t, p)
    rows = [(Fraction(a), Fraction(b)) for a, b in zip(t.tolist(), p.tolist())]
    errors = [b - a for a, b in rows]
    pct = [abs(b - a) / abs(a) for a, b in rows if a != 0]
    assert sums.n == len(rows)
    assert sums.n_pct == len(pct)
    assert sums.mean_error == pytest.approx(float(sum(errors) / len(rows)), rel=1e-9, abs=1e-9)
    assert sums.mae == pytest.approx(float(sum(map(abs, errors)) / len(rows)), rel=1e-12)
    assert sums.rmse == pytest.approx(math.sqrt(float(sum(e * e for e in errors) / len(rows))), rel=1e-12)
    if pct:
        assert sums.mape == pytest.approx(float(sum(pct) / len(pct)), rel=1e-12)


@FAST
@given(regression_pairs(), st.integers(1, 39))
def test_sums_merge_of_two_halves_equals_whole(data, cut):
    t, p = data
    cut = min(cut, len(t) - 1)
    if cut == 0:
        return
    merged = RegressionSums.from_arrays(t[:cut], p[:cut]).merge(RegressionSums.from_arrays(t[cut:], p[cut:]))
    whole = RegressionSums.from_arrays(t, p)
    for name in ("n", "n_pct"):
        assert getattr(merged, name) == getattr(whole, name)
    for name in ("rmse", "mae"):
        assert getattr(merged, name) == pytest.approx(getattr(whole, name), rel=1e-12)
    assert merged.mean_error == pytest.approx(whole.mean_error, rel=1e-9, abs=1e-6)


def test_sums_agree_with_array_functions_without_zero_actuals():
    t = np.array([100.0, 250.0, -40.0, 3.0])
    p = np.array([90.0, 260.0, -30.0, 4.5])
    sums = RegressionSums.from_arrays(t, p)
    assert sums.rmse == pytest.approx(root_mean_squared_error(t, p), rel=1e-15)
    assert sums.mae == pytest.approx(mean_absolute_error(t, p), rel=1e-15)
    assert sums.mape == pytest.approx(mean_absolute_percentage_error(t, p), rel=1e-15)
    assert sums.mean_error == pytest.approx(np.mean(p - t))


def test_zero_actuals_follow_sklearn_on_arrays_and_are_excluded_from_sums():
    t, p = [0.0, 100.0], [1.0, 110.0]
    assert mean_absolute_percentage_error(t, p) == skm.mean_absolute_percentage_error(t, p)
    assert mean_absolute_percentage_error(t, p) > 1e15  # 1 / eps dominates
    sums = RegressionSums.from_arrays(t, p)
    assert sums.mape == pytest.approx(0.1)
    assert (sums.n_pct, sums.n_zero_actual) == (1.0, 1.0)


def test_mean_error_sign_is_over_prediction():
    assert RegressionSums.from_arrays([10, 10], [12, 13]).mean_error == 2.5


@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e200, 1e-200])
def test_extreme_magnitudes_do_not_overflow_or_vanish(scale):
    t = np.array([0.0, 1.0, 2.0]) * scale
    p = np.array([3.0, 1.0, 6.0]) * scale
    # errors 3s, 0, 4s: RMSE = s * sqrt(25 / 3), MAE = 7 s / 3
    assert root_mean_squared_error(t, p) == pytest.approx(scale * math.sqrt(25 / 3), rel=1e-12)
    assert mean_absolute_error(t, p) == pytest.approx(7 * scale / 3, rel=1e-12)


def test_rmse_matches_sklearn_bit_for_bit_on_ordinary_data():
    rng = np.random.default_rng(0)
    t, p = rng.normal(size=1000), rng.normal(size=1000)
    assert root_mean_squared_error(t, p) == skm.root_mean_squared_error(t, p)
    assert mean_absolute_error(t, p) == skm.mean_absolute_error(t, p)


def test_single_row_and_perfect_predictions():
    assert root_mean_squared_error([2.0], [5.0]) == 3.0
    assert mean_absolute_error([1, 2, 3], [1, 2, 3]) == 0.0
    assert root_mean_squared_error([1, 2, 3], [1, 2, 3]) == 0.0


def test_overflowing_difference_is_an_input_error():
    with pytest.raises(MetricInputError, match="overflows float64 at index 0"):
        root_mean_squared_error([-1.5e308], [1.5e308])
    with pytest.raises(MetricInputError, match="mean_absolute_percentage_error overflows"):
        mean_absolute_percentage_error([0.0], [1e300])
    with pytest.raises(MetricInputError, match="sum_squared_error must be finite"):
        RegressionSums.from_arrays([0.0], [1e200])
    with pytest.raises(MetricInputError, match="sum_abs_pct_error must be finite"):
        RegressionSums.from_arrays([2.2e-311], [1.0])


@pytest.mark.parametrize("fn", [root_mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
                                RegressionSums.from_arrays])
@pytest.mark.parametrize(
    "t, p, message",
    [
        ([1, 2, 3], [1, 2], "mismatched lengths: y_true=3, y_pred=2"),
        ([1, float("nan")], [1, 2], "y_true must be finite.*nan"),
        ([1, 2], [1, float("inf")], "y_pred must be finite.*inf"),
        ([], [], "y_true is empty"),
        (["a"], [1], "y_true must be numeric"),
    ],
)
def test_bad_input_names_the_problem(fn, t, p, message):
    with pytest.raises(MetricInputError, match=message):
        fn(t, p)


def test_sums_json_round_trip_and_validation():
    sums = RegressionSums.from_arrays([1.0, 0.0, 4.0], [2.0, 1.0, 3.0])
    assert RegressionSums.from_dict(json.loads(json.dumps(sums.to_dict()))) == sums
    with pytest.raises(MetricInputError, match="missing n_pct"):
        RegressionSums.from_dict({k: v for k, v in sums.to_dict().items() if k != "n_pct"})
    with pytest.raises(MetricInputError, match="sum_abs_error must be non-negative, got -1.0"):
        RegressionSums.from_dict({**sums.to_dict(), "sum_abs_error": -1})
    with pytest.raises(MetricInputError, match=r"n_pct \(5\) cannot exceed n \(3\)"):
        RegressionSums.from_dict({**sums.to_dict(), "n_pct": 5})
    # A negative total error is an ordinary bias, not bad input.
    assert RegressionSums.from_dict({**sums.to_dict(), "sum_error": -2}).mean_error == pytest.approx(-2 / 3)


def test_empty_sums_warn_and_merge_identity():
    zero = RegressionSums.zero()
    sums = RegressionSums.from_arrays([1.0, 2.0], [2.0, 2.0])
    assert zero.merge(sums) == sums
    with pytest.warns(UndefinedMetricWarning):
        assert zero.mae == 0.0
    only_zero_actuals = RegressionSums.from_arrays([0.0], [1.0])
    with pytest.warns(UndefinedMetricWarning, match="mape is undefined"):
        assert only_zero_actuals.mape == 0.0
