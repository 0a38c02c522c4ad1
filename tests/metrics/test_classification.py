import bisect
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from metrics.classification import (
    Confusion,
    ScoreHistogram,
    ThresholdCurve,
    average_precision_score,
    confusion_at,
    curve_summary,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    threshold_curve,
)
from metrics.errors import MetricInputError, UndefinedMetricWarning

FAST = settings(max_examples=60, deadline=None)


@st.composite
def labelled_scores(draw, *, min_size=2, max_size=40, both_classes=True):
    """Labels with both classes, and scores drawn from few values (ties) or many."""
    n = draw(st.integers(min_size, max_size))
    y = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    if both_classes and len(set(y)) < 2:
        y[0], y[-1] = 0, 1
    tied = draw(st.booleans())
    values = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]) if tied else st.floats(-1e6, 1e6, allow_nan=False)
    s = draw(st.lists(values, min_size=n, max_size=n))
    return np.array(y), np.array(s, dtype=float)


def slow_confusion(y, s, threshold, weights=None):
    weights = [1.0] * len(y) if weights is None else weights
    counts = {"tp": 0.0, "fp": 0.0, "tn": 0.0, "fn": 0.0}
    for label, score, w in zip(y, s, weights):
        predicted = score >= threshold
        key = ("t" if predicted == bool(label) else "f") + ("p" if predicted else "n")
        counts[key] += w
    return counts


def assert_matches_sklearn_curves(y, s):
    curve = threshold_curve(y, s)
    fpr, tpr, roc_thresholds = skm.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_array_equal(curve.thresholds, roc_thresholds[1:])
    np.testing.assert_array_equal(curve.recall, tpr[1:])
    np.testing.assert_array_equal(curve.false_positive_rate, fpr[1:])
    precision, recall, pr_thresholds = skm.precision_recall_curve(y, s)
    np.testing.assert_array_equal(curve.thresholds, pr_thresholds[::-1])
    np.testing.assert_array_equal(curve.precision, precision[-2::-1])
    np.testing.assert_array_equal(curve.recall, recall[-2::-1])
    assert roc_auc_score(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-9)
    assert average_precision_score(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-9)


# ---- threshold curve, AUC, AP against scikit-learn -------------------------------------------


@FAST
@given(labelled_scores())
def test_curve_auc_ap_match_sklearn(data):
    assert_matches_sklearn_curves(*data)


@pytest.mark.parametrize(
    "y, s",
    [
        ([0, 1], [0.5, 0.5]),  # all scores equal
        ([0, 1, 0, 1, 1], [0.3] * 5),
        ([1, 0], [0.2, 0.9]),  # perfectly wrong
        ([0, 1], [1e-300, 2e-300]),  # tiny, distinct
        ([0, 1, 1, 0], [1e300, -1e300, 1e300, 0.0]),  # huge, both signs
        ([1, 1, 1, 0], [0.9, 0.8, 0.7, 0.1]),  # negatives are the minority class
        ([0, 0, 1, 1, 0, 1], [-0.0, 0.0, 0.0, 0.1, 0.1, -0.0]),  # signed zeros tie
    ],
)
def test_curve_edge_cases_match_sklearn(y, s):
    assert_matches_sklearn_curves(np.array(y), np.array(s))


def test_curve_counts_and_complements():
    curve = threshold_curve([0, 1, 1, 0, 1], [0.1, 0.9, 0.4, 0.4, 0.1])
    np.testing.assert_array_equal(curve.thresholds, [0.9, 0.4, 0.1])
    np.testing.assert_array_equal(curve.tp, [1, 2, 3])
    np.testing.assert_array_equal(curve.fp, [0, 1, 2])
    np.testing.assert_array_equal(curve.fn, [2, 1, 0])
    np.testing.assert_array_equal(curve.tn, [2, 1, 0])
    assert (curve.n_pos, curve.n_neg, len(curve)) == (3.0, 2.0, 3)
    assert curve.confusion(1) == Confusion.from_counts(tp=2, fp=1, tn=1, fn=1)


def test_curve_is_read_only():
    curve = threshold_curve([0, 1], [0.1, 0.9])
    with pytest.raises(ValueError):
        curve.tp[0] = 5


@FAST
@given(labelled_scores(max_size=25))
def test_curve_points_equal_confusion_at_each_threshold(data):
    y, s = data
    curve = threshold_curve(y, s)
    for i, t in enumerate(curve.thresholds):
        expected = slow_confusion(y, s, t)
        assert (curve.tp[i], curve.fp[i]) == (expected["tp"], expected["fp"])


def test_curve_summary_reuses_one_curve():
    y, s = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    curve, auc, ap = curve_summary(y, s)
    assert isinstance(curve, ThresholdCurve)
    assert auc == 0.75 == curve.roc_auc()
    assert ap == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)


def test_auc_is_rank_based():
    # A monotone transform of the scores changes no ranking, so neither AUC nor AP.
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    s = rng.normal(size=200)
    assert roc_auc_score(y, s) == pytest.approx(roc_auc_score(y, np.exp(s)), abs=1e-12)
    assert average_precision_score(y, s) == pytest.approx(average_precision_score(y, np.exp(s)), abs=1e-12)
    assert roc_auc_score(y, -s) == pytest.approx(1 - roc_auc_score(y, s), abs=1e-12)


@pytest.mark.parametrize("fn", [roc_auc_score, average_precision_score, threshold_curve])
@pytest.mark.parametrize("y, present", [([1, 1, 1], "positives"), ([0], "negatives")])
def test_single_class_is_an_input_error(fn, y, present):
    with pytest.raises(MetricInputError, match=f"only {present}"):
        fn(y, [0.5] * len(y))


@pytest.mark.parametrize("fn", [roc_auc_score, average_precision_score, threshold_curve])
@pytest.mark.parametrize(
    "y, s, message",
    [
        ([0, 1, 1], [0.1, 0.2], "mismatched lengths: y_true=3, y_score=2"),
        ([0, 1], [0.1, float("nan")], "y_score must be finite.*nan"),
        ([0, 1], [float("inf"), 0.1], "y_score must be finite.*inf"),
        ([0, 2], [0.1, 0.2], "binary labels 0/1; found 2"),
        ([], [], "y_true is empty"),
        ([[0, 1]], [[0.1, 0.2]], "one-dimensional"),
    ],
)
def test_bad_input_names_the_problem(fn, y, s, message):
    with pytest.raises(MetricInputError, match=message):
        fn(y, s)


# ---- confusion counts --------------------------------------------------------------------------


@FAST
@given(labelled_scores(both_classes=False, min_size=1), st.floats(-2e6, 2e6), st.booleans())
def test_confusion_at_matches_slow_reference(data, threshold, weighted):
    y, s = data
    weights = np.linspace(0.5, 2.0, len(y)) if weighted else None
    c = confusion_at(y, s, threshold=threshold, sample_weight=weights)
    expected = slow_confusion(y, s, threshold, weights)
    for name, value in expected.items():
        assert getattr(c, name) == pytest.approx(value, rel=1e-12)


def test_confusion_at_is_inclusive_and_matches_sklearn_confusion_matrix():
    y = np.array([0, 0, 1, 1, 1, 0])
    s = np.array([0.2, 0.5, 0.5, 0.7, 0.1, 0.9])
    c = confusion_at(y, s, threshold=0.5)
    tn, fp, fn, tp = skm.confusion_matrix(y, s >= 0.5).ravel()
    assert (c.tp, c.fp, c.tn, c.fn) == (tp, fp, tn, fn) == (2, 2, 1, 1)


def test_confusion_rates_match_sklearn():
    y = np.array([0, 0, 1, 1, 1, 0, 1, 0, 0, 0])
    p = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    c = confusion_at(y, p, threshold=1)
    assert c.precision == pytest.approx(skm.precision_score(y, p))
    assert c.recall == pytest.approx(skm.recall_score(y, p))
    assert c.f1 == pytest.approx(skm.f1_score(y, p))
    assert c.accuracy == pytest.approx(skm.accuracy_score(y, p))
    assert c.balanced_accuracy == pytest.approx(skm.balanced_accuracy_score(y, p))
    assert c.specificity == pytest.approx(skm.recall_score(y, p, pos_label=0))
    assert c.false_positive_rate == pytest.approx(1 - c.specificity)
    assert c.false_negative_rate == pytest.approx(1 - c.recall)
    assert c.prevalence == pytest.approx(y.mean())
    assert (c.n, c.predicted_positive) == (10.0, 5.0)


def test_false_accept_and_reject_are_fpr_and_fnr():
    c = Confusion.from_counts(tp=7, fp=3, tn=17, fn=2)
    assert c.false_accept_rate == c.false_positive_rate == 3 / 20
    assert c.false_reject_rate == c.false_negative_rate == 2 / 9
    assert c.rate("false_accept_rate") == c.false_positive_rate


@pytest.mark.parametrize(
    "name", ["precision", "recall", "f1", "specificity", "false_positive_rate", "false_negative_rate",
             "accuracy", "balanced_accuracy", "prevalence", "false_accept_rate", "false_reject_rate"],
)
def test_undefined_rates_warn_and_return_zero(name):
    empty = Confusion.from_counts(tp=0, fp=0, tn=0, fn=0)
    with pytest.warns(UndefinedMetricWarning, match="undefined"):
        assert getattr(empty, name) == 0.0
    assert empty.rate(name, zero_division=1.0) == 1.0
    assert math.isnan(empty.rate(name, zero_division="nan"))


def test_balanced_accuracy_needs_both_classes():
    only_negatives = Confusion.from_counts(tp=0, fp=1, tn=3, fn=0)
    with pytest.warns(UndefinedMetricWarning):
        assert only_negatives.balanced_accuracy == 0.0
    assert only_negatives.specificity == 0.75


def test_rate_rejects_unknown_name():
    with pytest.raises(MetricInputError, match="unknown rate 'precission'"):
        Confusion.from_counts(tp=1, fp=1, tn=1, fn=1).rate("precission")


def test_scaled_gives_counts_per_volume_and_keeps_rates():
    c = Confusion.from_counts(tp=9, fp=91, tn=9800, fn=100)
    weekly = c.scaled(50_000)
    assert weekly.n == pytest.approx(50_000)
    assert weekly.fp == pytest.approx(455.0)
    assert weekly.precision == pytest.approx(c.precision)
    with pytest.raises(MetricInputError, match="volume must be a finite positive number, got -1"):
        c.scaled(-1)
    with pytest.raises(MetricInputError, match="n=0"):
        Confusion.from_counts(tp=0, fp=0, tn=0, fn=0).scaled(10)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "x"])
def test_confusion_rejects_bad_counts(bad):
    with pytest.raises(MetricInputError, match="fp must be"):
        Confusion.from_counts(tp=1, fp=bad, tn=1, fn=1)


def test_confusion_at_rejects_bad_weights_and_threshold():
    with pytest.raises(MetricInputError, match="sample_weight must be non-negative; found .*-1.0"):
        confusion_at([0, 1], [0.1, 0.2], threshold=0.1, sample_weight=[1, -1])
    with pytest.raises(MetricInputError, match="sample_weight=1"):
        confusion_at([0, 1], [0.1, 0.2], threshold=0.1, sample_weight=[1])
    with pytest.raises(MetricInputError, match="threshold must be finite, got nan"):
        confusion_at([0, 1], [0.1, 0.2], threshold=float("nan"))


# ---- hard-prediction scores against scikit-learn ------------------------------------------------


@st.composite
def hard_predictions(draw):
    n = draw(st.integers(1, 30))
    y = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    p = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    return np.array(y), np.array(p)


PAIRS = [(precision_score, skm.precision_score), (recall_score, skm.recall_score), (f1_score, skm.f1_score)]


@FAST
@given(hard_predictions(), st.sampled_from([0.0, 1.0, "nan"]))
def test_hard_scores_match_sklearn(data, zero_division):
    y, p = data
    sk_zero_division = np.nan if zero_division == "nan" else zero_division
    for ours, theirs in PAIRS:
        expected = theirs(y, p, zero_division=sk_zero_division)
        got = ours(y, p, zero_division=zero_division)
        assert got == pytest.approx(expected, nan_ok=True), ours.__name__


@pytest.mark.parametrize("ours, theirs", PAIRS)
def test_hard_scores_warn_like_sklearn(ours, theirs):
    y, p = np.array([0, 0, 0]), np.array([0, 0, 0])  # no positives, none predicted
    with pytest.warns(UndefinedMetricWarning):
        assert ours(y, p) == 0.0
    with pytest.warns(skm._classification.UndefinedMetricWarning):
        assert theirs(y, p) == 0.0


def test_f1_is_defined_when_only_precision_is_not():
    # Nothing predicted but positives exist: precision is 0/0, F1 = 0 / 3 is defined (sklearn's rule).
    assert f1_score([1, 1, 1], [0, 0, 0]) == 0.0 == skm.f1_score([1, 1, 1], [0, 0, 0], zero_division=1.0)


def test_hard_scores_reject_non_binary_predictions():
    with pytest.raises(MetricInputError, match="y_pred must hold binary labels 0/1; found 0.5"):
        precision_score([0, 1], [0.5, 1])


# ---- score histograms ---------------------------------------------------------------------------


def slow_histogram(y, s, edges, segments=None):
    """Bin by the definition, one row at a time."""
    segments = ["all"] * len(y) if segments is None else [str(g) for g in segments]
    names = sorted(set(segments))
    bins = len(edges) - 1
    pos = {name: [0] * bins for name in names}
    neg = {name: [0] * bins for name in names}
    for label, score, seg in zip(y, s, segments):
        i = min(bisect.bisect_right(list(edges), score) - 1, bins - 1)
        (pos if label else neg)[seg][i] += 1
    return names, pos, neg


@st.composite
def histogram_data(draw):
    bins = draw(st.integers(1, 12))
    edges = np.arange(bins + 1) / bins
    n = draw(st.integers(1, 50))
    # Edges themselves and their neighbours are where binning goes wrong, so draw them often.
    near_edges = [float(e) for e in edges] + [float(np.nextafter(e, 2)) for e in edges[:-1]] + [
        float(np.nextafter(e, -1)) for e in edges[1:]
    ]
    score = st.one_of(st.sampled_from(near_edges), st.floats(0.0, 1.0))
    s = draw(st.lists(score, min_size=n, max_size=n))
    y = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    segments = draw(st.none() | st.lists(st.sampled_from(["ar", "en", "fr"]), min_size=n, max_size=n))
    return np.array(y), np.array(s), bins, edges, segments


@FAST
@given(histogram_data())
def test_histogram_counts_match_slow_binning(data):
    y, s, bins, edges, segments = data
    h = ScoreHistogram.from_arrays(y, s, bins=bins, segments=segments)
    names, pos, neg = slow_histogram(y, s, edges, segments)
    assert h.segments == tuple(names)
    np.testing.assert_array_equal(h.edges, edges)
    np.testing.assert_array_equal(h.pos, [pos[name] for name in names])
    np.testing.assert_array_equal(h.neg, [neg[name] for name in names])


def test_histogram_binning_is_exact_on_uneven_and_irregular_edges():
    for edges in (np.array([0.0, 0.1, 0.35, 0.4, 1.0]), np.linspace(-3.0, 7.0, 1001), np.geomspace(1e-6, 1.0, 50)):
        rng = np.random.default_rng(0)
        s = np.concatenate([edges, np.nextafter(edges, np.inf)[:-1], np.nextafter(edges, -np.inf)[1:],
                            rng.uniform(edges[0], edges[-1], 500)])
        y = rng.integers(0, 2, s.size)
        h = ScoreHistogram.from_arrays(y, s, edges=edges)
        _, pos, neg = slow_histogram(y, s, edges)
        np.testing.assert_array_equal(h.pos[0], pos["all"])
        np.testing.assert_array_equal(h.neg[0], neg["all"])


@FAST
@given(histogram_data(), st.data())
def test_histogram_confusion_at_edge_equals_raw_confusion(data, draw):
    y, s, bins, edges, segments = data
    h = ScoreHistogram.from_arrays(y, s, bins=bins, segments=segments)
    t = draw.draw(st.sampled_from(list(edges[:-1])))
    assert h.confusion_at(t) == confusion_at(y, s, threshold=t)


RATE_NAMES = ("precision", "recall", "f1", "specificity", "false_positive_rate", "false_negative_rate", "accuracy",
              "prevalence", "balanced_accuracy", "false_accept_rate", "false_reject_rate", "true_negative_rate")


@FAST
@given(histogram_data(), st.sampled_from(RATE_NAMES), st.sampled_from([0.0, 1.0, float("nan")]))
def test_histogram_sweep_equals_confusion_at_every_edge(data, rate, zero_division):
    y, s, bins, edges, segments = data
    h = ScoreHistogram.from_arrays(y, s, bins=bins, segments=segments)
    sweep = h.confusions_at_edges()
    np.testing.assert_array_equal(sweep.thresholds, edges[:-1])
    rates = sweep.rate(rate, zero_division=zero_division)
    for i, t in enumerate(edges[:-1]):
        expected = h.confusion_at(t)
        assert (sweep.tp[i], sweep.fp[i], sweep.tn[i], sweep.fn[i]) == (expected.tp, expected.fp, expected.tn, expected.fn)
        wanted = expected.rate(rate, zero_division="nan" if math.isnan(zero_division) else zero_division)
        assert rates[i] == pytest.approx(wanted, nan_ok=True), (rate, t)


def test_histogram_sweep_of_weighted_counts_never_goes_negative():
    # Fractional counts summed in two orders differ in the last bits; a count must not dip below 0.
    pos = np.array([0.1, 0.2, 0.3, 1e-17]) * 3
    h = ScoreHistogram.from_counts(np.linspace(0.0, 1.0, 5), pos=pos, neg=pos[::-1])
    sweep = h.confusions_at_edges()
    assert (sweep.tn >= 0).all() and (sweep.fn >= 0).all()
    with pytest.raises(MetricInputError, match="unknown rate"):
        sweep.rate("lift", zero_division=0.0)


@FAST
@given(histogram_data(), st.integers(0, 50))
def test_histogram_merge_of_two_halves_equals_whole(data, cut):
    y, s, bins, _, segments = data
    cut = min(cut, len(y) - 1)
    if cut == 0:
        cut = len(y)
    seg = None if segments is None else np.array(segments)
    whole = ScoreHistogram.from_arrays(y, s, bins=bins, segments=seg)
    first = ScoreHistogram.from_arrays(y[:cut], s[:cut], bins=bins, segments=None if seg is None else seg[:cut])
    if cut == len(y):
        assert first == whole
        return
    second = ScoreHistogram.from_arrays(y[cut:], s[cut:], bins=bins, segments=None if seg is None else seg[cut:])
    merged = first.merge(second)
    order = [merged.segments.index(name) for name in whole.segments]
    np.testing.assert_array_equal(merged.pos[order], whole.pos)
    np.testing.assert_array_equal(merged.neg[order], whole.neg)
    assert sorted(merged.segments) == list(whole.segments)


def test_histogram_on_grid_scores_reproduces_raw_curve_auc_ap():
    # Scores exactly on lower bin edges lose nothing to binning, so every statistic is exact.
    rng = np.random.default_rng(7)
    edges = np.arange(21) / 20
    s = edges[rng.integers(0, 20, 400)]
    y = (rng.random(400) < s).astype(int)
    h = ScoreHistogram.from_arrays(y, s, edges=edges)
    raw = threshold_curve(y, s)
    binned = h.threshold_curve()
    np.testing.assert_array_equal(binned.thresholds, raw.thresholds)
    np.testing.assert_array_equal(binned.tp, raw.tp)
    np.testing.assert_array_equal(binned.fp, raw.fp)
    assert h.roc_auc() == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert h.average_precision() == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)


def test_histogram_auc_treats_a_bin_as_a_tie():
    h = ScoreHistogram.from_counts([0.0, 0.5, 1.0], pos=[1, 3], neg=[6, 2])
    # Bin scores stand in for every row: 0.25 for the low bin, 0.75 for the high one.
    y = [1] * 1 + [0] * 6 + [1] * 3 + [0] * 2
    s = [0.25] * 7 + [0.75] * 5
    assert h.roc_auc() == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert h.average_precision() == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    assert (h.n, h.n_pos, h.n_neg) == (12.0, 4.0, 8.0)


def test_histogram_threshold_must_be_an_edge():
    h = ScoreHistogram.from_arrays([0, 1, 1], [0.1, 0.5, 0.9], bins=10)
    assert h.confusion_at(0.3) == h.confusion_at(h.edges[3])  # 0.3 != edges[3] bit for bit
    with pytest.raises(MetricInputError, match=r"0.35 is not a bin edge.*Nearest edges: 0.3.* and 0.4"):
        h.confusion_at(0.35)
    with pytest.raises(MetricInputError, match="top edge"):
        h.confusion_at(1.0)
    assert h.confusion_at(-5) == Confusion.from_counts(tp=2, fp=1, tn=0, fn=0)
    assert h.confusion_at(5) == Confusion.from_counts(tp=0, fp=0, tn=1, fn=2)


def test_histogram_by_segment_equals_raw_confusion_per_segment():
    rng = np.random.default_rng(11)
    s = rng.random(300)
    y = rng.integers(0, 2, 300)
    seg = rng.choice(["ar", "en", "fr"], 300)
    h = ScoreHistogram.from_arrays(y, s, bins=20, segments=seg)
    fpr = h.by_segment("false_positive_rate", 0.6)
    counts = h.by_segment("predicted_positive", 0.6)
    for name in ("ar", "en", "fr"):
        raw = confusion_at(y[seg == name], s[seg == name], threshold=h.edges[12])
        assert fpr[name] == raw.false_positive_rate
        assert counts[name] == raw.predicted_positive
        assert h.segment(name).confusion_at(0.6) == raw
    assert h.total().confusion_at(0.6) == h.confusion_at(0.6) == confusion_at(y, s, threshold=h.edges[12])
    with pytest.raises(MetricInputError, match="unknown statistic 'fprr'"):
        h.by_segment("fprr", 0.6)


def test_histogram_by_segment_undefined_rate_follows_zero_division():
    h = ScoreHistogram.from_arrays([0, 0, 1], [0.9, 0.2, 0.7], bins=2, segments=["a", "a", "b"])
    with pytest.warns(UndefinedMetricWarning):
        assert h.by_segment("false_positive_rate", 0.5) == {"a": 0.5, "b": 0.0}
    assert math.isnan(h.by_segment("false_positive_rate", 0.5, zero_division="nan")["b"])


def test_histogram_json_round_trip():
    h = ScoreHistogram.from_arrays([0, 1, 1, 0], [0.1, 0.5, 0.9, 0.95], bins=4, segments=["x", "y", "x", "y"])
    text = json.dumps(h.to_dict())
    back = ScoreHistogram.from_dict(json.loads(text))
    assert back == h
    assert ScoreHistogram.from_dict(text) == h
    assert json.loads(text)["pos"] == [[0, 0, 0, 1], [0, 0, 1, 0]]  # counts stay integers
    weighted = ScoreHistogram.from_counts([0, 1], pos=[0.5], neg=[1.25])
    assert ScoreHistogram.from_dict(json.loads(json.dumps(weighted.to_dict()))) == weighted
    with pytest.raises(MetricInputError, match="missing key 'edges'"):
        ScoreHistogram.from_dict({"pos": [], "neg": [], "segments": []})


def test_histogram_from_counts_validates():
    with pytest.raises(MetricInputError, match=r"pos must be non-negative; found .*-1.0.* at index \(1,\)"):
        ScoreHistogram.from_counts([0, 0.5, 1], pos=[1, -1], neg=[0, 0])
    with pytest.raises(MetricInputError, match=r"neg must have shape \(segments, 2\)"):
        ScoreHistogram.from_counts([0, 0.5, 1], pos=[1, 1], neg=[0, 0, 0])
    with pytest.raises(MetricInputError, match="strictly increasing; edges\\[1\\]=0.5 >= edges\\[2\\]=0.5"):
        ScoreHistogram.from_counts([0, 0.5, 0.5], pos=[1, 1], neg=[0, 0])
    with pytest.raises(MetricInputError, match="got 1 segment names for 2 rows"):
        ScoreHistogram.from_counts([0, 1], pos=[[1], [2]], neg=[[0], [0]], segments=["a"])
    with pytest.raises(MetricInputError, match="repeated: a"):
        ScoreHistogram.from_counts([0, 1], pos=[[1], [2]], neg=[[0], [0]], segments=["a", "a"])


def test_histogram_merge_requires_identical_edges():
    a = ScoreHistogram.from_arrays([0, 1], [0.1, 0.9], bins=10)
    b = ScoreHistogram.from_arrays([0, 1], [0.1, 0.9], bins=20)
    with pytest.raises(MetricInputError, match="different edges: 10 bins.* vs 20 bins"):
        a.merge(b)


def test_histogram_rejects_bad_rows():
    with pytest.raises(MetricInputError, match=r"y_score\[1\]=1.5 lies outside the histogram edges"):
        ScoreHistogram.from_arrays([0, 1], [0.1, 1.5])
    with pytest.raises(MetricInputError, match="bins must be a positive integer, got 0"):
        ScoreHistogram.from_arrays([0, 1], [0.1, 0.5], bins=0)
    with pytest.raises(MetricInputError, match="y_score must be finite"):
        ScoreHistogram.from_arrays([0, 1], [0.1, float("nan")])
    with pytest.raises(MetricInputError, match="unknown segment 'de'; known: all"):
        ScoreHistogram.from_arrays([0, 1], [0.1, 0.5]).segment("de")


def test_histogram_curve_needs_both_classes():
    h = ScoreHistogram.from_arrays([1, 1], [0.1, 0.5])
    with pytest.raises(MetricInputError, match="only positives"):
        h.roc_auc()


def test_default_edges_put_a_score_on_a_typed_threshold_in_the_bin_above():
    # 0.7 typed in a contract must be edge 70 exactly, or a score of 0.7 lands in bin 69.
    y = np.array([0, 0, 1, 1])
    s = np.array([0.7, 0.29, 0.57, 0.7])
    hist = ScoreHistogram.from_arrays(y, s, bins=100)
    for threshold in (0.7, 0.29, 0.57):
        assert hist.confusion_at(threshold) == confusion_at(y, s, threshold=threshold)
