"""Tests for metrics.cost: brute-force search as the oracle, scikit-learn for the rates."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import precision_score, recall_score

from metrics.cost import (
    Constraint,
    expected_cost,
    operating_points,
    optimal_threshold,
    scale_to_volume,
    weekly_cost,
)
from metrics.errors import MetricInputError, UndefinedMetricWarning


def curve_from_scores(y, scores, thresholds):
    """Confusion counts at each threshold (predict positive when score >= threshold)."""
    y = np.asarray(y, dtype=bool)
    pred = np.asarray(scores)[None, :] >= np.asarray(thresholds)[:, None]
    tp = (pred & y).sum(axis=1)
    fp = (pred & ~y).sum(axis=1)
    return tp, fp, (~pred & ~y).sum(axis=1), (~pred & y).sum(axis=1)


@st.composite
def scored_curve(draw):
    n = draw(st.integers(5, 60))
    y = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    scores = np.array(draw(st.lists(st.integers(0, 20), min_size=n, max_size=n))) / 20
    thresholds = np.array(sorted(draw(st.sets(st.integers(0, 21), min_size=1, max_size=22)))) / 20
    return y, scores, thresholds


def slow_metric(name, tp, fp, tn, fn, scale):
    ratios = {
        "precision": (tp, tp + fp),
        "recall": (tp, tp + fn),
        "false_positive_rate": (fp, fp + tn),
        "false_negative_rate": (fn, tp + fn),
        "specificity": (tn, tn + fp),
        "predicted_positive_rate": (tp + fp, tp + fp + tn + fn),
    }
    if name in ratios:
        num, den = ratios[name]
        return None if den == 0 else num / den
    return {"false_positives": fp, "false_negatives": fn, "predicted_positives": tp + fp}[name] * scale


def slow_optimum(thresholds, tp, fp, tn, fn, cost_fp, cost_fn, constraints, volume=None):
    """Index of the cheapest point meeting every constraint, by a plain loop (None if none)."""
    best = None
    for i in range(len(thresholds)):
        n = tp[i] + fp[i] + tn[i] + fn[i]
        scale = 1.0 if volume is None else volume / n
        ok = True
        for c in constraints:
            v = slow_metric(c.metric, tp[i], fp[i], tn[i], fn[i], scale)
            if v is None or not (v <= c.value + 1e-12 if c.op == "<=" else v >= c.value - 1e-12):
                ok = False
        cost = (fp[i] * cost_fp + fn[i] * cost_fn) * scale
        if ok and (best is None or cost < best[1]):
            best = (i, cost)
    return best


constraint_strategy = st.builds(
    Constraint,
    metric=st.sampled_from(["precision", "recall", "fpr", "false_negative_rate", "predicted_positives"]),
    op=st.sampled_from(["<=", ">="]),
    value=st.floats(0, 1),
)


# --------------------------------------------------------------------------- scalar helpers


def test_expected_and_weekly_cost():
    assert expected_cost(12, 3, cost_fp=15.0, cost_fn=400.0) == 12 * 15 + 3 * 400
    # 9 FPs and 2 FNs per 1,000 items, 10,000 items a week
    assert weekly_cost(9, 2, 1_000, weekly_volume=10_000, cost_fp=15.0, cost_fn=400.0) == pytest.approx(90 * 15 + 20 * 400)
    assert scale_to_volume(30, 10_000, volume=250_000) == pytest.approx(750.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: expected_cost(-1, 0, cost_fp=1, cost_fn=1), "fp must be finite and non-negative, got -1"),
        (lambda: expected_cost(1, 0, cost_fp=float("nan"), cost_fn=1), "cost_fp"),
        (lambda: weekly_cost(1, 1, 0, weekly_volume=10, cost_fp=1, cost_fn=1), "n must be positive"),
        (lambda: weekly_cost(6, 5, 10, weekly_volume=10, cost_fp=1, cost_fn=1), "exceeds the window size"),
        (lambda: scale_to_volume(1, 0, volume=10), "n must be positive"),
    ],
)
def test_scalar_bad_input(call, match):
    with pytest.raises(MetricInputError, match=match):
        call()


# --------------------------------------------------------------------------- operating points


@settings(max_examples=50, deadline=None)
@given(scored_curve())
def test_operating_point_rates_match_sklearn(case):
    y, scores, thresholds = case
    tp, fp, tn, fn = curve_from_scores(y, scores, thresholds)
    points = operating_points(thresholds, tp, fp, tn, fn, cost_fp=2.0, cost_fn=5.0, zero_division=0.0)
    for t, p in zip(thresholds, points):
        pred = scores >= t
        assert p.threshold == t
        assert p.precision == pytest.approx(precision_score(y, pred, zero_division=0.0))
        assert p.recall == pytest.approx(recall_score(y, pred, zero_division=0.0))
        if (~y).any():  # FPR = 1 - specificity, the recall of the negative class
            assert p.fpr == pytest.approx(1 - recall_score(~y, ~pred))
        else:
            assert p.fpr == 0.0
        assert p.cost == 2.0 * (pred & ~y).sum() + 5.0 * (~pred & y).sum()


def test_operating_points_scale_cost_to_volume():
    pts = operating_points([0.5], [10], [20], [960], [10], cost_fp=1.0, cost_fn=10.0, volume=100_000)
    assert pts[0].cost == pytest.approx((20 * 1.0 + 10 * 10.0) * 100)


def test_undefined_rates_warn_once_per_curve():
    thresholds = np.linspace(0, 1, 500)
    tp = np.zeros(500)
    with pytest.warns(UndefinedMetricWarning) as record:
        pts = operating_points(thresholds, tp, tp, tp + 100, tp + 5, cost_fp=1.0, cost_fn=1.0)
    assert len(record) == 1 and "precision is undefined" in str(record[0].message)
    assert all(p.precision == 0.0 for p in pts)
    pts = operating_points([1.0], [0], [0], [9], [1], cost_fp=1.0, cost_fn=1.0, zero_division="nan")
    assert math.isnan(pts[0].precision)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0.1, 0.2], [1], [1], [1], [1]), "mismatched lengths"),
        (([0.1], [-1], [1], [1], [1]), "tp must be non-negative"),
        (([float("nan")], [1], [1], [1], [1]), "thresholds contain NaN"),
        (([], [], [], [], []), "thresholds is empty"),
        (([0.1], [0], [0], [0], [0]), "candidate 0 has no items"),
    ],
)
def test_curve_bad_input(args, match):
    with pytest.raises(MetricInputError, match=match):
        optimal_threshold(*args, cost_fp=1.0, cost_fn=1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metric": "auc", "op": "<=", "value": 1}, "constraint metric 'auc'"),
        ({"metric": "recall", "op": "<", "value": 1}, "op must be"),
        ({"metric": "recall", "op": ">=", "value": float("nan")}, "value must be finite"),
    ],
)
def test_constraint_bad_input(kwargs, match):
    with pytest.raises(MetricInputError, match=match):
        Constraint(**kwargs)


# --------------------------------------------------------------------------- optimal threshold


@settings(max_examples=120, deadline=None)
@given(
    scored_curve(),
    st.floats(0, 100),
    st.floats(0, 100),
    st.lists(constraint_strategy, max_size=3),
    st.one_of(st.none(), st.floats(1, 1e6)),
)
def test_optimal_threshold_matches_brute_force(case, cost_fp, cost_fn, constraints, volume):
    y, scores, thresholds = case
    tp, fp, tn, fn = curve_from_scores(y, scores, thresholds)
    choice = optimal_threshold(
        thresholds, tp, fp, tn, fn, cost_fp=cost_fp, cost_fn=cost_fn,
        constraints=constraints, volume=volume, zero_division=0.0,
    )
    unconstrained = slow_optimum(thresholds, tp, fp, tn, fn, cost_fp, cost_fn, (), volume)
    assert choice.unconstrained_point.cost == pytest.approx(unconstrained[1])
    expected = slow_optimum(thresholds, tp, fp, tn, fn, cost_fp, cost_fn, constraints, volume)
    if expected is None:
        assert not choice.feasible and choice.point is None and choice.reasons
        assert choice.binding is None and choice.constraint_cost is None
        return
    assert choice.feasible
    assert choice.point.threshold == thresholds[expected[0]]
    assert choice.point.cost == pytest.approx(expected[1])
    assert choice.constraint_cost == pytest.approx(expected[1] - unconstrained[1], abs=1e-9)
    if choice.binding is None:
        assert choice.point.cost == pytest.approx(choice.unconstrained_point.cost)
    else:
        # The named constraint is the one whose removal lowers the cost the most.
        labels = [c.label for c in constraints]
        binding = constraints[labels.index(choice.binding)]
        others = [c for c in constraints if c is not binding]
        relaxed = slow_optimum(thresholds, tp, fp, tn, fn, cost_fp, cost_fn, others, volume)
        for c in constraints:
            alt = slow_optimum(thresholds, tp, fp, tn, fn, cost_fp, cost_fn, [d for d in constraints if d is not c], volume)
            assert relaxed[1] <= alt[1] + 1e-9


def test_binding_constraint_is_named_and_priced():
    thresholds = [0.1, 0.3, 0.5, 0.7]
    tp, fp = np.array([98, 92, 80, 60]), np.array([300, 90, 30, 8])
    tn, fn = 700 - fp, 100 - tp
    fpr_cap = Constraint("fpr", "<=", 0.05, label="FPR ≤ 1.5× baseline")
    loose_recall = Constraint("recall", ">=", 0.5, label="recall ≥ 50%")
    choice = optimal_threshold(
        thresholds, tp, fp, tn, fn, cost_fp=10.0, cost_fn=200.0, constraints=[loose_recall, fpr_cap]
    )
    assert choice.feasible
    assert choice.unconstrained_point.threshold == 0.3
    assert choice.point.threshold == 0.5
    assert choice.binding == "FPR ≤ 1.5× baseline"
    assert choice.constraint_cost == pytest.approx((300 + 20 * 200) - (900 + 8 * 200))
    assert any("breaks FPR ≤ 1.5× baseline" in r for r in choice.reasons)


def test_no_binding_constraint_when_the_optimum_already_complies():
    choice = optimal_threshold(
        [0.2, 0.8], [9, 5], [1, 0], [89, 90], [1, 5], cost_fp=1.0, cost_fn=1.0,
        constraints=[Constraint("recall", ">=", 0.5)],
    )
    assert (choice.binding, choice.constraint_cost, choice.point.threshold) == (None, 0.0, 0.2)


def test_infeasible_constraints_are_explained_not_raised():
    thresholds = [0.2, 0.8]
    tp, fp, tn, fn = [9, 5], [30, 10], [60, 80], [1, 5]
    impossible = Constraint("precision", ">=", 0.9, label="precision ≥ 90%")
    choice = optimal_threshold(thresholds, tp, fp, tn, fn, cost_fp=1.0, cost_fn=1.0, constraints=[impossible])
    assert not choice.feasible and choice.point is None
    assert choice.reasons == ("no threshold meets precision ≥ 90%: the best achievable precision is 0.3333",)

    jointly = [Constraint("recall", ">=", 0.9), Constraint("fpr", "<=", 0.12)]
    choice = optimal_threshold(thresholds, tp, fp, tn, fn, cost_fp=1.0, cost_fn=1.0, constraints=jointly)
    assert not choice.feasible
    assert "no threshold meets all of them together" in choice.reasons[0]


def test_undefined_precision_never_satisfies_a_precision_bound():
    # At threshold 1.0 nothing is flagged: precision is undefined, not "perfect".
    choice = optimal_threshold(
        [0.5, 1.0], [5, 0], [5, 0], [85, 90], [5, 10], cost_fp=100.0, cost_fn=1.0,
        constraints=[Constraint("precision", ">=", 0.4)], zero_division=1.0,
    )
    assert choice.unconstrained_point.threshold == 1.0
    assert choice.point.threshold == 0.5


@settings(max_examples=40, deadline=None)
@given(scored_curve(), st.floats(0.1, 100), st.floats(0.1, 100), st.floats(0.01, 1000), st.randoms(use_true_random=False))
def test_choice_is_invariant_to_cost_scale_and_candidate_order(case, cost_fp, cost_fn, factor, rnd):
    y, scores, thresholds = case
    tp, fp, tn, fn = curve_from_scores(y, scores, thresholds)
    base = optimal_threshold(thresholds, tp, fp, tn, fn, cost_fp=cost_fp, cost_fn=cost_fn, zero_division=0.0)
    scaled = optimal_threshold(
        thresholds, tp, fp, tn, fn, cost_fp=cost_fp * factor, cost_fn=cost_fn * factor, zero_division=0.0
    )
    assert scaled.point.cost == pytest.approx(base.point.cost * factor)
    order = list(range(len(thresholds)))
    rnd.shuffle(order)
    shuffled = optimal_threshold(
        thresholds[order], tp[order], fp[order], tn[order], fn[order], cost_fp=cost_fp, cost_fn=cost_fn, zero_division=0.0
    )
    assert shuffled.point.cost == pytest.approx(base.point.cost)


def test_thousands_of_thresholds_are_fast():
    rng = np.random.default_rng(5)
    y = rng.random(200_000) < 0.05
    scores = np.clip(rng.normal(0.3 + 0.4 * y, 0.15), 0, 1)
    thresholds = np.linspace(0, 1, 5_001)
    order = np.argsort(-scores)
    # Counts at each threshold from cumulative sums over sorted scores.
    sorted_scores, sorted_y = scores[order], y[order]
    k = np.searchsorted(-sorted_scores, -thresholds, side="right")
    cum_tp = np.concatenate(([0], np.cumsum(sorted_y)))
    tp = cum_tp[k]
    fp = k - tp
    fn, tn = y.sum() - tp, (~y).sum() - fp
    constraints = [Constraint("fpr", "<=", 0.02), Constraint("recall", ">=", 0.3)]
    start = time.perf_counter()
    choice = optimal_threshold(thresholds, tp, fp, tn, fn, cost_fp=15.0, cost_fn=400.0, constraints=constraints, zero_division=0.0)
    assert time.perf_counter() - start < 0.5
    assert choice.feasible and choice.point.fpr <= 0.02 and choice.point.recall >= 0.3
