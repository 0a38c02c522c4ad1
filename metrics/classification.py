"""Binary classification metrics: confusion counts, threshold curves, AUC, AP, score histograms.

Three entry points cover the ways Northstar sees a classifier:

* raw arrays (``y_true``, ``y_score``) — :func:`confusion_at`, :func:`threshold_curve`,
  :func:`roc_auc_score`, :func:`average_precision_score`;
* hard predictions — :func:`precision_score`, :func:`recall_score`, :func:`f1_score`;
* a score histogram pushed down to the warehouse — :class:`ScoreHistogram`, which answers the
  same questions exactly at bin edges without the raw rows.

Conventions: a row is *predicted positive* when ``score >= threshold``. Values match
scikit-learn where scikit-learn defines them; ill-defined ratios go through an explicit
``zero_division`` choice (see :func:`metrics._validation.safe_divide`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import pandas as pd

from metrics._validation import (
    ZeroDivision,
    as_1d_float,
    as_binary_labels,
    as_counts,
    check_same_length,
    safe_divide,
)
from metrics.errors import MetricInputError

__all__ = [
    "Confusion",
    "ScoreHistogram",
    "ThresholdCurve",
    "average_precision_score",
    "confusion_at",
    "curve_summary",
    "f1_score",
    "precision_score",
    "recall_score",
    "roc_auc_score",
    "threshold_curve",
]

# Reductions over curves run in blocks so their temporaries stay small next to the curve
# itself (a 10M-row curve is 240 MB; a block's temporaries are a few MB).
_BLOCK = 1 << 20


# --------------------------------------------------------------------------------------------
# Confusion counts
# --------------------------------------------------------------------------------------------

# name -> (numerator, denominator) over the four counts; every ratio property reads this table
# so that ``rate(name, zero_division=...)`` and the properties cannot disagree.
_RATIOS = {
    "precision": (lambda c: c.tp, lambda c: c.tp + c.fp),
    "recall": (lambda c: c.tp, lambda c: c.tp + c.fn),
    "f1": (lambda c: 2 * c.tp, lambda c: 2 * c.tp + c.fp + c.fn),
    "specificity": (lambda c: c.tn, lambda c: c.tn + c.fp),
    "false_positive_rate": (lambda c: c.fp, lambda c: c.fp + c.tn),
    "false_negative_rate": (lambda c: c.fn, lambda c: c.fn + c.tp),
    "accuracy": (lambda c: c.tp + c.tn, lambda c: c.n),
    "prevalence": (lambda c: c.tp + c.fn, lambda c: c.n),
}
_ALIASES = {
    "true_positive_rate": "recall",
    "sensitivity": "recall",
    "true_negative_rate": "specificity",
    "false_accept_rate": "false_positive_rate",
    "false_reject_rate": "false_negative_rate",
}
_RATE_NAMES = tuple(sorted([*_RATIOS, "balanced_accuracy", *_ALIASES]))
_COUNT_NAMES = ("tp", "fp", "tn", "fn", "n", "predicted_positive")


@dataclass(frozen=True)
class Confusion:
    """Confusion counts of a binary decision, with the rates derived from them.

    Counts are floats so that weighted counts and per-volume scaling (:meth:`scaled`) fit the
    same type. Rates that divide by zero (for example precision when nothing is predicted
    positive) follow ``zero_division="warn"``: they warn with
    :class:`~metrics.errors.UndefinedMetricWarning` and return 0.0. Call :meth:`rate` to choose
    another value.

    In verification and fraud vocabulary the *false accept rate* is the false positive rate
    and the *false reject rate* is the false negative rate; both names are available.

    Examples
    --------
    >>> c = Confusion.from_counts(tp=8, fp=2, tn=85, fn=5)
    >>> c.precision, c.recall
    (0.8, 0.6153846153846154)
    >>> c.false_accept_rate == c.false_positive_rate
    True
    >>> Confusion.from_counts(tp=0, fp=0, tn=5, fn=1).rate("precision", zero_division=1.0)
    1.0
    """

    tp: float
    fp: float
    tn: float
    fn: float

    def __post_init__(self) -> None:
        for name in ("tp", "fp", "tn", "fn"):
            value = getattr(self, name)
            try:
                number = float(value)
            except (TypeError, ValueError) as exc:
                raise MetricInputError(f"{name} must be a number, got {value!r}") from exc
            if not math.isfinite(number) or number < 0:
                raise MetricInputError(f"{name} must be a finite non-negative count, got {number!r}")
            # Frozen: plain assignment is blocked, and normalising to float is still wanted.
            object.__setattr__(self, name, number)

    @classmethod
    def from_counts(cls, *, tp: float, fp: float, tn: float, fn: float) -> Confusion:
        """Build from the four counts (each finite and non-negative)."""
        return cls(tp=tp, fp=fp, tn=tn, fn=fn)

    # ---- counts --------------------------------------------------------------------------
    @property
    def n(self) -> float:
        """Total number of rows (or total weight)."""
        return self.tp + self.fp + self.tn + self.fn

    @property
    def predicted_positive(self) -> float:
        """Rows acted on (score >= threshold): ``tp + fp``."""
        return self.tp + self.fp

    # ---- rates ---------------------------------------------------------------------------
    def rate(self, name: str, *, zero_division: ZeroDivision = "warn") -> float:
        """Return the rate called ``name``, resolving 0/0 through ``zero_division``.

        ``name`` is any ratio property of this class (``"precision"``, ``"recall"``, ``"f1"``,
        ``"specificity"``, ``"false_positive_rate"``, ``"false_negative_rate"``,
        ``"accuracy"``, ``"balanced_accuracy"``, ``"prevalence"``) or an alias
        (``"false_accept_rate"``, ``"false_reject_rate"``, ``"true_positive_rate"``,
        ``"sensitivity"``, ``"true_negative_rate"``).

        Examples
        --------
        >>> Confusion.from_counts(tp=0, fp=0, tn=3, fn=1).rate("precision", zero_division="nan")
        nan
        """
        canonical = _ALIASES.get(name, name)
        if canonical == "balanced_accuracy":
            # Defined only when both classes are present; half a recall is not a balance.
            positives, negatives = self.tp + self.fn, self.tn + self.fp
            denominator = 1.0 if positives and negatives else 0.0
            if denominator:
                return 0.5 * (self.tp / positives + self.tn / negatives)
            return safe_divide(0.0, 0.0, metric="balanced_accuracy", zero_division=zero_division)
        if canonical not in _RATIOS:
            raise MetricInputError(f"unknown rate {name!r}; expected one of {', '.join(_RATE_NAMES)}")
        numerator, denominator = _RATIOS[canonical]
        return safe_divide(numerator(self), denominator(self), metric=canonical, zero_division=zero_division)

    @property
    def precision(self) -> float:
        """``tp / (tp + fp)``: of the rows acted on, the share that were positive."""
        return self.rate("precision")

    @property
    def recall(self) -> float:
        """``tp / (tp + fn)``: the share of positives caught (true positive rate)."""
        return self.rate("recall")

    @property
    def f1(self) -> float:
        """``2 tp / (2 tp + fp + fn)``, the harmonic mean of precision and recall."""
        return self.rate("f1")

    @property
    def specificity(self) -> float:
        """``tn / (tn + fp)``: the share of negatives left alone."""
        return self.rate("specificity")

    @property
    def false_positive_rate(self) -> float:
        """``fp / (fp + tn)``; also called the false accept rate."""
        return self.rate("false_positive_rate")

    @property
    def false_negative_rate(self) -> float:
        """``fn / (fn + tp)``; also called the false reject rate."""
        return self.rate("false_negative_rate")

    @property
    def false_accept_rate(self) -> float:
        """Alias of :attr:`false_positive_rate`."""
        return self.rate("false_positive_rate")

    @property
    def false_reject_rate(self) -> float:
        """Alias of :attr:`false_negative_rate`."""
        return self.rate("false_negative_rate")

    @property
    def accuracy(self) -> float:
        """``(tp + tn) / n``."""
        return self.rate("accuracy")

    @property
    def balanced_accuracy(self) -> float:
        """Mean of recall and specificity; undefined unless both classes are present."""
        return self.rate("balanced_accuracy")

    @property
    def prevalence(self) -> float:
        """``(tp + fn) / n``: the share of rows that are positive."""
        return self.rate("prevalence")

    def value(self, name: str, *, zero_division: ZeroDivision = "warn") -> float:
        """Return a count (``"tp"``, ``"n"``, ``"predicted_positive"``…) or a rate by name."""
        if name in _COUNT_NAMES:
            return float(getattr(self, name))
        if _ALIASES.get(name, name) in (*_RATIOS, "balanced_accuracy"):
            return self.rate(name, zero_division=zero_division)
        raise MetricInputError(
            f"unknown statistic {name!r}; expected one of {', '.join(_COUNT_NAMES + _RATE_NAMES)}"
        )

    def scaled(self, volume: float) -> Confusion:
        """Return the counts per ``volume`` rows, for "per week" business arithmetic.

        Examples
        --------
        >>> Confusion.from_counts(tp=2, fp=1, tn=6, fn=1).scaled(10_000).fp
        1000.0
        """
        try:
            volume = float(volume)
        except (TypeError, ValueError) as exc:
            raise MetricInputError(f"volume must be a number, got {volume!r}") from exc
        if not math.isfinite(volume) or volume <= 0:
            raise MetricInputError(f"volume must be a finite positive number, got {volume!r}")
        if self.n == 0:
            raise MetricInputError("cannot scale a confusion with no rows (n=0)")
        factor = volume / self.n
        return Confusion(tp=self.tp * factor, fp=self.fp * factor, tn=self.tn * factor, fn=self.fn * factor)

    def to_dict(self) -> dict[str, float]:
        """Return the four counts as a JSON-ready dict."""
        return {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn}


def _labels_and_scores(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    y = as_binary_labels(y_true, name="y_true")
    s = as_1d_float(y_score, name="y_score")
    check_same_length(y_true=y, y_score=s)
    return y, s


def _as_threshold(threshold) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"threshold must be a number, got {threshold!r}") from exc
    if not math.isfinite(value):
        raise MetricInputError(f"threshold must be finite, got {threshold!r}")
    return value


def confusion_at(y_true, y_score, *, threshold: float, sample_weight=None) -> Confusion:
    """Confusion counts when rows with ``score >= threshold`` are predicted positive.

    Parameters
    ----------
    y_true : array-like of {0, 1} or bool, shape (n,)
    y_score : array-like of float, shape (n,)
        Finite scores; higher means more likely positive.
    threshold : float
        Decision threshold (inclusive).
    sample_weight : array-like of float, shape (n,), optional
        Non-negative row weights; counts become sums of weights.

    Returns
    -------
    Confusion

    Examples
    --------
    >>> c = confusion_at([0, 0, 1, 1], [0.1, 0.6, 0.6, 0.9], threshold=0.6)
    >>> (c.tp, c.fp, c.tn, c.fn)
    (2.0, 1.0, 1.0, 0.0)
    """
    y, s = _labels_and_scores(y_true, y_score)
    t = _as_threshold(threshold)
    predicted = s >= t
    if sample_weight is None:
        tp = np.count_nonzero(predicted & y)
        fp = np.count_nonzero(predicted) - tp
        fn = np.count_nonzero(y) - tp
        tn = y.size - tp - fp - fn
        return Confusion(tp=tp, fp=fp, tn=tn, fn=fn)
    w = as_1d_float(sample_weight, name="sample_weight")
    check_same_length(y_true=y, sample_weight=w)
    as_counts(w, name="sample_weight")
    return Confusion(
        tp=float(w[predicted & y].sum()),
        fp=float(w[predicted & ~y].sum()),
        tn=float(w[~predicted & ~y].sum()),
        fn=float(w[~predicted & y].sum()),
    )


# --------------------------------------------------------------------------------------------
# Hard-prediction scores
# --------------------------------------------------------------------------------------------


def _hard_confusion(y_true, y_pred) -> Confusion:
    y = as_binary_labels(y_true, name="y_true")
    p = as_binary_labels(y_pred, name="y_pred")
    check_same_length(y_true=y, y_pred=p)
    tp = np.count_nonzero(y & p)
    fp = np.count_nonzero(p) - tp
    fn = np.count_nonzero(y) - tp
    return Confusion(tp=tp, fp=fp, tn=y.size - tp - fp - fn, fn=fn)


def precision_score(y_true, y_pred, *, zero_division: ZeroDivision = "warn") -> float:
    """Precision of hard 0/1 predictions, as :func:`sklearn.metrics.precision_score`.

    ``zero_division`` applies when nothing is predicted positive: ``"warn"`` (0.0 and an
    :class:`~metrics.errors.UndefinedMetricWarning`), a number, or ``"nan"``.

    Examples
    --------
    >>> precision_score([0, 1, 1, 0], [1, 1, 0, 0])
    0.5
    """
    return _hard_confusion(y_true, y_pred).rate("precision", zero_division=zero_division)


def recall_score(y_true, y_pred, *, zero_division: ZeroDivision = "warn") -> float:
    """Recall of hard 0/1 predictions, as :func:`sklearn.metrics.recall_score`.

    ``zero_division`` applies when ``y_true`` holds no positives.

    Examples
    --------
    >>> recall_score([0, 1, 1, 0], [1, 1, 0, 0])
    0.5
    """
    return _hard_confusion(y_true, y_pred).rate("recall", zero_division=zero_division)


def f1_score(y_true, y_pred, *, zero_division: ZeroDivision = "warn") -> float:
    """F1 of hard 0/1 predictions, as :func:`sklearn.metrics.f1_score`.

    Computed as ``2 tp / (2 tp + fp + fn)``; ``zero_division`` applies only when there are no
    positives and none are predicted (scikit-learn's rule).

    Examples
    --------
    >>> round(f1_score([0, 1, 1, 0], [1, 1, 1, 0]), 4)
    0.8
    """
    return _hard_confusion(y_true, y_pred).rate("f1", zero_division=zero_division)


# --------------------------------------------------------------------------------------------
# Threshold curves, ROC AUC, average precision
# --------------------------------------------------------------------------------------------


def _blocks(length: int) -> Iterator[slice]:
    for start in range(0, length, _BLOCK):
        yield slice(start, min(start + _BLOCK, length))


def _auc_from_cumulative(tp: np.ndarray, fp: np.ndarray) -> float:
    """Trapezoidal ROC AUC from cumulative counts at descending thresholds.

    Summed in counts rather than rates: for integer counts every term is an integer and the
    int64 sum is exact, so the only rounding is the final division.
    """
    n_pos, n_neg = tp[-1], fp[-1]
    total = 0
    prev_tp = prev_fp = tp.dtype.type(0)
    for block in _blocks(tp.size):
        t, f = tp[block], fp[block]
        d_fp = np.diff(f, prepend=prev_fp)
        heights = t + np.concatenate(([prev_tp], t[:-1]))
        total += np.dot(d_fp, heights)
        prev_tp, prev_fp = t[-1], f[-1]
    return float(total) / (2.0 * float(n_pos) * float(n_neg))


def _ap_from_cumulative(tp: np.ndarray, fp: np.ndarray) -> float:
    """Average precision (step integral, no interpolation) from cumulative counts."""
    total = 0.0
    prev_tp = tp.dtype.type(0)
    for block in _blocks(tp.size):
        t, f = tp[block], fp[block]
        d_tp = np.diff(t, prepend=prev_tp)
        total += float(np.dot(d_tp, t / (t + f)))
        prev_tp = t[-1]
    return total / float(tp[-1])


def _require_both_classes(n_pos: float, n_neg: float, *, what: str) -> None:
    if n_pos == 0 or n_neg == 0:
        present, missing = ("negatives", "positives") if n_pos == 0 else ("positives", "negatives")
        raise MetricInputError(
            f"{what} needs both classes, but y_true holds only {present} "
            f"(n_pos={n_pos:g}, n_neg={n_neg:g}); no {missing} to compare against"
        )


@dataclass(frozen=True, eq=False)
class EdgeConfusions:
    """Confusion counts at every candidate threshold of a histogram at once, as arrays.

    Entry ``i`` is what :meth:`ScoreHistogram.confusion_at` gives at ``thresholds[i]`` (the
    histogram's lower bin edges, ascending). Sweeping a threshold (``/tradeoff``'s cost curve,
    a guardrail checked at each candidate) reads these instead of summing the bins per point.
    """

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    tn: np.ndarray
    fn: np.ndarray

    @property
    def n(self) -> np.ndarray:
        return self.tp + self.fp + self.tn + self.fn

    def rate(self, name: str, *, zero_division: float) -> np.ndarray:
        """The rate called ``name`` (as :meth:`Confusion.rate` names it) at every threshold; 0/0 gives ``zero_division``."""
        canonical = _ALIASES.get(name, name)
        if canonical == "balanced_accuracy":
            positives, negatives = self.tp + self.fn, self.tn + self.fp
            defined = (positives > 0) & (negatives > 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                values = 0.5 * (self.tp / positives + self.tn / negatives)
            return np.where(defined, values, float(zero_division))
        if canonical not in _RATIOS:
            raise MetricInputError(f"unknown rate {name!r}; expected one of {', '.join(_RATE_NAMES)}")
        numerator, denominator = _RATIOS[canonical]
        top, bottom = np.asarray(numerator(self), dtype=float), np.asarray(denominator(self), dtype=float)
        return np.divide(top, bottom, out=np.full(top.shape, float(zero_division)), where=bottom != 0)


@dataclass(frozen=True, eq=False)
class ThresholdCurve:
    """Cumulative confusion counts at every distinct threshold, descending.

    Point ``i`` is the decision "predicted positive when ``score >= thresholds[i]``". The points
    are those of :func:`sklearn.metrics.roc_curve` with ``drop_intermediate=False`` (without
    its leading ``inf`` point) and, reversed, of :func:`sklearn.metrics.precision_recall_curve`
    (without its final ``(precision=1, recall=0)`` point).

    Only ``thresholds``, ``tp`` and ``fp`` are stored; the rates are computed on access, which
    keeps a curve over millions of distinct scores at three arrays.

    Examples
    --------
    >>> curve = threshold_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> curve.thresholds
    array([0.8 , 0.4 , 0.35, 0.1 ])
    >>> curve.precision
    array([1.        , 0.5       , 0.66666667, 0.5       ])
    >>> curve.roc_auc(), curve.average_precision()
    (0.75, 0.8333333333333333)
    """

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    n_pos: float
    n_neg: float

    def __post_init__(self) -> None:
        check_same_length(thresholds=self.thresholds, tp=self.tp, fp=self.fp)
        _require_both_classes(self.n_pos, self.n_neg, what="a threshold curve")
        for name in ("thresholds", "tp", "fp"):
            getattr(self, name).flags.writeable = False

    def __len__(self) -> int:
        return int(self.thresholds.size)

    @property
    def fn(self) -> np.ndarray:
        """Positives below each threshold."""
        return self.n_pos - self.tp

    @property
    def tn(self) -> np.ndarray:
        """Negatives below each threshold."""
        return self.n_neg - self.fp

    @property
    def precision(self) -> np.ndarray:
        """``tp / (tp + fp)``; always defined since each threshold is an observed score."""
        return self.tp / (self.tp + self.fp)

    @property
    def recall(self) -> np.ndarray:
        """``tp / n_pos`` (true positive rate)."""
        return self.tp / self.n_pos

    @property
    def false_positive_rate(self) -> np.ndarray:
        """``fp / n_neg`` (false accept rate)."""
        return self.fp / self.n_neg

    def roc_auc(self) -> float:
        """Area under the ROC curve (trapezoidal; ties count one half)."""
        return _auc_from_cumulative(self.tp, self.fp)

    def average_precision(self) -> float:
        """Average precision: ``sum((R_i - R_{i-1}) * P_i)``, no interpolation."""
        return _ap_from_cumulative(self.tp, self.fp)

    def confusion(self, index: int) -> Confusion:
        """Confusion counts at point ``index``."""
        tp, fp = float(self.tp[index]), float(self.fp[index])
        return Confusion(tp=tp, fp=fp, tn=self.n_neg - fp, fn=self.n_pos - tp)


def _cumulative_counts(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores descending, with positives and negatives at or above each.

    One unstable ``np.sort`` of the scores alone (no argsort, no gather of labels): ties are
    collapsed, so stability buys nothing. Labels enter through the minority class only — its
    scores are sorted and located among the distinct scores, which is cheap when one class is
    rare and still linear-logarithmic otherwise.
    """
    n = s.size
    ordered = np.sort(s)
    run_start = np.empty(n, dtype=bool)
    run_start[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=run_start[1:])
    starts = np.flatnonzero(run_start)
    del run_start
    distinct = ordered[starts]
    del ordered

    n_pos = int(np.count_nonzero(y))
    minority = y if n_pos <= n - n_pos else ~y
    located = np.searchsorted(distinct, np.sort(s[minority]))
    minority_at = np.bincount(located, minlength=distinct.size)
    del located
    minority_above = np.cumsum(minority_at[::-1])
    del minority_at

    # Rows at or above distinct[j] are n - starts[j]; reuse that buffer for the majority class.
    np.subtract(n, starts, out=starts)
    majority_above = starts[::-1]
    np.subtract(majority_above, minority_above, out=majority_above)

    if minority is y:
        return distinct[::-1], minority_above, majority_above
    return distinct[::-1], majority_above, minority_above


def threshold_curve(y_true, y_score) -> ThresholdCurve:
    """Confusion counts at every distinct score, descending.

    Parameters
    ----------
    y_true : array-like of {0, 1} or bool, shape (n,)
        Must hold both classes.
    y_score : array-like of float, shape (n,)
        Finite scores.

    Returns
    -------
    ThresholdCurve

    Examples
    --------
    >>> curve = threshold_curve([0, 1, 1], [0.2, 0.2, 0.9])
    >>> curve.tp, curve.fp
    (array([1, 2]), array([0, 1]))
    """
    y, s = _labels_and_scores(y_true, y_score)
    thresholds, tp, fp = _cumulative_counts(y, s)
    return ThresholdCurve(thresholds=thresholds, tp=tp, fp=fp, n_pos=float(tp[-1]), n_neg=float(fp[-1]))


def curve_summary(y_true, y_score) -> tuple[ThresholdCurve, float, float]:
    """Return ``(curve, roc_auc, average_precision)`` from a single sort.

    Examples
    --------
    >>> _, auc, ap = curve_summary([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> auc, ap
    (0.75, 0.8333333333333333)
    """
    curve = threshold_curve(y_true, y_score)
    return curve, curve.roc_auc(), curve.average_precision()


def roc_auc_score(y_true, y_score) -> float:
    """Area under the ROC curve, as :func:`sklearn.metrics.roc_auc_score` (binary).

    Tied scores count one half. Raises :class:`~metrics.errors.MetricInputError` when
    ``y_true`` holds a single class (scikit-learn warns and returns NaN).

    Examples
    --------
    >>> roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    return threshold_curve(y_true, y_score).roc_auc()


def average_precision_score(y_true, y_score) -> float:
    """Average precision, as :func:`sklearn.metrics.average_precision_score` (binary).

    Both classes are required: with no negatives every threshold has precision 1 and the
    metric says nothing about the model, so it is reported as bad input rather than 1.0.

    Examples
    --------
    >>> round(average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
    0.8333
    """
    return threshold_curve(y_true, y_score).average_precision()


# --------------------------------------------------------------------------------------------
# Score histograms (what the warehouse push-down returns)
# --------------------------------------------------------------------------------------------

_ALL = "all"
# A threshold this close to an edge (relative) is taken to mean that edge: thresholds typed by
# people (0.3) rarely equal linspace's edges (0.30000000000000004) bit for bit.
_EDGE_RTOL = 1e-9


def uniform_edges(bins: int) -> np.ndarray:
    """Edges ``i / bins`` for ``i = 0..bins``.

    Division is correctly rounded, so a typed threshold such as 0.7 equals edge 70 of 100 bit
    for bit; ``np.linspace`` gives 0.7000000000000001 there, which would put a score of exactly
    0.7 in the bin below and make ``confusion_at(0.7)`` disagree with the raw rows. The
    warehouse push-down bins on the same edges.
    """
    return np.arange(bins + 1, dtype=np.float64) / bins


def _as_edges(edges) -> np.ndarray:
    arr = as_1d_float(edges, name="edges")
    if arr.size < 2:
        raise MetricInputError(f"edges must hold at least 2 values, got {arr.size}")
    steps = np.diff(arr)
    if (steps <= 0).any():
        i = int(np.flatnonzero(steps <= 0)[0])
        raise MetricInputError(
            f"edges must be strictly increasing; edges[{i}]={float(arr[i])!r} >= edges[{i + 1}]={float(arr[i + 1])!r}"
        )
    arr = arr.copy()
    arr.flags.writeable = False
    return arr


def _as_segment_names(segments, count: int) -> tuple[str, ...]:
    if segments is None:
        if count != 1:
            raise MetricInputError(f"segments must be named when there are {count} rows of counts")
        return (_ALL,)
    names = tuple(str(name) for name in segments)
    if len(names) != count:
        raise MetricInputError(f"got {len(names)} segment names for {count} rows of counts")
    if len(set(names)) != len(names):
        dupes = sorted({name for name in names if names.count(name) > 1})
        raise MetricInputError(f"segment names must be unique; repeated: {', '.join(dupes)}")
    return names


def _bin_index(s: np.ndarray, edges: np.ndarray, *, uniform: bool) -> np.ndarray:
    """Bin of each score: ``edges[i] <= s < edges[i+1]``, the last bin closed on the right.

    For (near-)uniform edges: arithmetic binning, then a one-step correction against the actual
    edges, so the result is exactly what ``searchsorted`` would give at a fraction of its cost.
    """
    bins = edges.size - 1
    if not uniform:
        idx = np.searchsorted(edges, s, side="right") - 1
        return np.minimum(idx, bins - 1, out=idx)
    lo, hi = edges[0], edges[-1]
    guess = s - lo
    guess *= bins / (hi - lo)
    idx = guess.astype(np.intp)
    np.clip(idx, 0, bins - 1, out=idx)
    idx -= s < edges[idx]
    idx += (s >= edges[idx + 1]) & (idx < bins - 1)
    return idx


# Rows binned per block: big enough to amortise Python overhead, small enough that the
# temporaries stay in cache and reuse the allocator's memory instead of faulting in fresh pages
# for every 10M-row intermediate (which costs more than the arithmetic).
_BIN_BLOCK = 1 << 16


def _binned_counts(y: np.ndarray, s: np.ndarray, codes: np.ndarray | None, edges: np.ndarray, n_segments: int) -> np.ndarray:
    """Counts of shape (segments, 2, bins) over (segment code, label, bin)."""
    n_bins = edges.size - 1
    lo, hi = edges[0], edges[-1]
    outside = (s < lo) | (s > hi)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise MetricInputError(f"y_score[{i}]={float(s[i])!r} lies outside the histogram edges [{float(lo)!r}, {float(hi)!r}]")
    del outside
    # Every edge within a quarter bin of its uniform position keeps the arithmetic guess within
    # one bin of the truth, which the one-step correction in _bin_index then fixes.
    width = (hi - lo) / n_bins
    uniform = bool(np.all(np.abs(edges - (lo + width * np.arange(n_bins + 1))) < 0.25 * width))
    counts = np.zeros(n_segments * 2 * n_bins, dtype=np.int64)
    for start in range(0, s.size, _BIN_BLOCK):
        block = slice(start, start + _BIN_BLOCK)
        # One bincount over a combined index instead of a histogram call per label and segment.
        idx = _bin_index(s[block], edges, uniform=uniform)
        np.add(idx, n_bins, out=idx, where=y[block])
        if codes is not None:
            idx += codes[block] * (2 * n_bins)
        counts += np.bincount(idx, minlength=counts.size)
    return counts.reshape(n_segments, 2, n_bins)


def _counts_json(arr: np.ndarray) -> list:
    # Integral counts are written as JSON integers: smaller, and readable in the database.
    if np.all(arr == np.round(arr)) and np.abs(arr).max(initial=0) < 2**53:
        return arr.astype(np.int64).tolist()
    return arr.tolist()


@dataclass(frozen=True, eq=False)
class ScoreHistogram:
    """Positive and negative counts over fixed score bins, per segment.

    Bin ``i`` covers ``[edges[i], edges[i+1])``; the last bin is closed on the right. ``pos``
    and ``neg`` have shape ``(len(segments), bins)``. An unsegmented histogram has the single
    segment ``"all"``. Decisions are exact at bin edges: ``confusion_at(edges[i])`` predicts
    positive every row in bins ``i`` and above, which is ``score >= edges[i]``.

    Examples
    --------
    >>> h = ScoreHistogram.from_arrays([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], bins=10)
    >>> h.confusion_at(0.3).precision
    0.6666666666666666
    >>> h.n, h.n_pos, h.segments
    (4.0, 2.0, ('all',))
    >>> ScoreHistogram.from_dict(h.to_dict()) == h
    True
    """

    edges: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    segments: tuple[str, ...] = field(default=(_ALL,))

    def __post_init__(self) -> None:
        edges = _as_edges(self.edges)
        bins = edges.size - 1
        arrays = {}
        for name in ("pos", "neg"):
            arr = as_counts(getattr(self, name), name=name)
            if arr.ndim == 1:
                arr = arr[np.newaxis, :]
            if arr.ndim != 2 or arr.shape[1] != bins:
                raise MetricInputError(
                    f"{name} must have shape (segments, {bins}) for {bins + 1} edges, got {arr.shape}"
                )
            arr = arr.copy()
            arr.flags.writeable = False
            arrays[name] = arr
        if arrays["pos"].shape != arrays["neg"].shape:
            raise MetricInputError(
                f"pos and neg shapes differ: {arrays['pos'].shape} vs {arrays['neg'].shape}"
            )
        names = _as_segment_names(self.segments, arrays["pos"].shape[0])
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "pos", arrays["pos"])
        object.__setattr__(self, "neg", arrays["neg"])
        object.__setattr__(self, "segments", names)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScoreHistogram):
            return NotImplemented
        return (
            self.segments == other.segments
            and np.array_equal(self.edges, other.edges)
            and np.array_equal(self.pos, other.pos)
            and np.array_equal(self.neg, other.neg)
        )

    __hash__ = None  # mutable-looking contents; equality is by value

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, y_true, y_score, *, bins: int = 100, edges=None, segments=None) -> ScoreHistogram:
        """Histogram raw rows.

        Parameters
        ----------
        y_true : array-like of {0, 1} or bool, shape (n,)
        y_score : array-like of float, shape (n,)
            Every score must lie within ``[edges[0], edges[-1]]``.
        bins : int, default 100
            Number of equal-width bins over ``[0, 1]``; ignored when ``edges`` is given.
        edges : array-like of float, optional
            Strictly increasing bin edges.
        segments : array-like, shape (n,), optional
            Segment of each row (any values; names are their ``str``), sorted by name.

        Examples
        --------
        >>> h = ScoreHistogram.from_arrays([1, 0, 1], [0.9, 0.2, 0.4], bins=2,
        ...                                segments=["en", "ar", "ar"])
        >>> h.segments, h.pos.tolist()
        (('ar', 'en'), [[1.0, 0.0], [0.0, 1.0]])
        """
        y, s = _labels_and_scores(y_true, y_score)
        if edges is None:
            if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
                raise MetricInputError(f"bins must be a positive integer, got {bins!r}")
            edges = uniform_edges(int(bins))
        edges = _as_edges(edges)
        if segments is None:
            names: tuple[str, ...] = (_ALL,)
            codes = None
        else:
            seg = np.asarray(segments)
            if seg.ndim != 1:
                raise MetricInputError(f"segments must be one-dimensional, got shape {seg.shape}")
            check_same_length(y_true=y, segments=seg)
            codes, uniques = pd.factorize(seg, sort=True)
            if (codes < 0).any():
                raise MetricInputError("segments must not contain missing values (None/NaN)")
            names = _as_segment_names([str(u) for u in uniques], len(uniques))
        counts = _binned_counts(y, s, codes, edges, len(names))
        return cls(edges=edges, pos=counts[:, 1, :], neg=counts[:, 0, :], segments=names)

    @classmethod
    def from_counts(cls, edges, pos, neg, segments=None) -> ScoreHistogram:
        """Build from per-bin counts, shape ``(bins,)`` or ``(len(segments), bins)``.

        This is the shape of a warehouse push-down: bin index counts per label and segment.

        Examples
        --------
        >>> h = ScoreHistogram.from_counts([0, 0.5, 1], pos=[1, 3], neg=[6, 2])
        >>> h.confusion_at(0.5).recall
        0.75
        """
        return cls(edges=edges, pos=pos, neg=neg, segments=(_ALL,) if segments is None else segments)

    def to_dict(self) -> dict:
        """Return a JSON-serialisable dict; :meth:`from_dict` restores it exactly."""
        return {
            "edges": self.edges.tolist(),
            "segments": list(self.segments),
            "pos": _counts_json(self.pos),
            "neg": _counts_json(self.neg),
        }

    @classmethod
    def from_dict(cls, data: dict) -> ScoreHistogram:
        """Inverse of :meth:`to_dict` (accepts the dict or its JSON text)."""
        if isinstance(data, str):
            data = json.loads(data)
        try:
            return cls(edges=data["edges"], pos=data["pos"], neg=data["neg"], segments=data["segments"])
        except KeyError as exc:
            raise MetricInputError(f"histogram dict is missing key {exc.args[0]!r}") from exc

    # ---- combining -------------------------------------------------------------------------
    def merge(self, other: ScoreHistogram) -> ScoreHistogram:
        """Add counts of another window or other segments; edges must be identical.

        Segments present in both are added; segments in only one are kept.
        """
        if not np.array_equal(self.edges, other.edges):
            raise MetricInputError(
                f"cannot merge histograms with different edges: {self.edges.size - 1} bins over "
                f"[{float(self.edges[0])!r}, {float(self.edges[-1])!r}] vs {other.edges.size - 1} bins over "
                f"[{float(other.edges[0])!r}, {float(other.edges[-1])!r}]"
            )
        names = self.segments + tuple(name for name in other.segments if name not in self.segments)
        position = {name: i for i, name in enumerate(names)}
        pos = np.zeros((len(names), self.edges.size - 1))
        neg = np.zeros_like(pos)
        for hist in (self, other):
            rows = [position[name] for name in hist.segments]
            pos[rows] += hist.pos
            neg[rows] += hist.neg
        return ScoreHistogram(edges=self.edges, pos=pos, neg=neg, segments=names)

    def total(self) -> ScoreHistogram:
        """Collapse all segments into the single segment ``"all"``."""
        return ScoreHistogram(
            edges=self.edges, pos=self.pos.sum(axis=0), neg=self.neg.sum(axis=0), segments=(_ALL,)
        )

    def segment(self, name: str) -> ScoreHistogram:
        """The histogram of one segment."""
        if name not in self.segments:
            raise MetricInputError(f"unknown segment {name!r}; known: {', '.join(self.segments)}")
        i = self.segments.index(name)
        return ScoreHistogram(edges=self.edges, pos=self.pos[i], neg=self.neg[i], segments=(name,))

    # ---- totals ----------------------------------------------------------------------------
    @property
    def n_pos(self) -> float:
        return float(self.pos.sum())

    @property
    def n_neg(self) -> float:
        return float(self.neg.sum())

    @property
    def n(self) -> float:
        return self.n_pos + self.n_neg

    # ---- decisions -------------------------------------------------------------------------
    def _edge_index(self, threshold) -> int:
        """Index of the first bin predicted positive at ``threshold``."""
        t = _as_threshold(threshold)
        edges = self.edges
        if t < edges[0]:
            return 0
        if t > edges[-1]:
            return edges.size - 1
        nearest = int(np.argmin(np.abs(edges - t)))
        if abs(edges[nearest] - t) <= _EDGE_RTOL * max(1.0, abs(edges[nearest])):
            if nearest == edges.size - 1:
                raise MetricInputError(
                    f"threshold {t!r} is the top edge; the last bin is closed on the right, so "
                    f"rows scoring exactly {float(edges[-1])!r} cannot be told apart from the rest of it"
                )
            return nearest
        above = int(np.searchsorted(edges, t))
        raise MetricInputError(
            f"threshold {t!r} is not a bin edge; the histogram is exact only at edges. "
            f"Nearest edges: {float(edges[above - 1])!r} and {float(edges[above])!r}"
        )

    def confusion_at(self, threshold: float) -> Confusion:
        """Confusion counts (all segments together) at a bin edge.

        Thresholds below the lowest edge predict everything positive, above the top edge
        nothing; any other threshold must be a bin edge other than the top one, else
        :class:`~metrics.errors.MetricInputError` names the nearest edges.
        """
        first = self._edge_index(threshold)
        tp = float(self.pos[:, first:].sum())
        fp = float(self.neg[:, first:].sum())
        return Confusion(tp=tp, fp=fp, tn=self.n_neg - fp, fn=self.n_pos - tp)

    def confusions_at_edges(self) -> EdgeConfusions:
        """:meth:`confusion_at` at every bin edge but the top one, in one pass over the bins.

        Examples
        --------
        >>> h = ScoreHistogram.from_counts([0.0, 0.5, 1.0], pos=[1, 3], neg=[4, 2])
        >>> sweep = h.confusions_at_edges()
        >>> sweep.thresholds.tolist(), sweep.tp.tolist(), sweep.fp.tolist()
        ([0.0, 0.5], [4.0, 3.0], [6.0, 2.0])
        """
        # Rows predicted positive at the lower edge of bin i are those of bins i and above.
        tp = np.cumsum(self.pos.sum(axis=0)[::-1])[::-1].astype(float)
        fp = np.cumsum(self.neg.sum(axis=0)[::-1])[::-1].astype(float)
        # Summed in another order than the totals: keep float rounding from making a count negative.
        tn, fn = np.maximum(self.n_neg - fp, 0.0), np.maximum(self.n_pos - tp, 0.0)
        return EdgeConfusions(thresholds=self.edges[:-1].astype(float), tp=tp, fp=fp, tn=tn, fn=fn)

    def by_segment(self, stat_name: str, threshold: float, *, zero_division: ZeroDivision = "warn") -> dict[str, float]:
        """A statistic of :class:`Confusion` (rate or count) per segment at ``threshold``.

        Examples
        --------
        >>> h = ScoreHistogram.from_arrays([0, 0, 1, 0], [0.9, 0.1, 0.8, 0.6], bins=2,
        ...                                segments=["ar", "ar", "en", "en"])
        >>> h.by_segment("false_positive_rate", 0.5)
        {'ar': 0.5, 'en': 1.0}
        """
        first = self._edge_index(threshold)
        result = {}
        for i, name in enumerate(self.segments):
            n_pos, n_neg = float(self.pos[i].sum()), float(self.neg[i].sum())
            tp, fp = float(self.pos[i, first:].sum()), float(self.neg[i, first:].sum())
            confusion = Confusion(tp=tp, fp=fp, tn=n_neg - fp, fn=n_pos - tp)
            result[name] = confusion.value(stat_name, zero_division=zero_division)
        return result

    def threshold_curve(self) -> ThresholdCurve:
        """Curve with one point per non-empty bin, at its lower edge, descending.

        Empty bins are skipped: like a raw curve, which has points only at observed scores,
        every point then has at least one predicted positive.
        """
        pos = self.pos.sum(axis=0)[::-1]
        neg = self.neg.sum(axis=0)[::-1]
        keep = (pos + neg) > 0
        tp = np.cumsum(pos)[keep]
        fp = np.cumsum(neg)[keep]
        thresholds = self.edges[:-1][::-1][keep]
        n_pos = float(tp[-1]) if tp.size else 0.0
        n_neg = float(fp[-1]) if fp.size else 0.0
        return ThresholdCurve(thresholds=thresholds, tp=tp, fp=fp, n_pos=n_pos, n_neg=n_neg)

    def roc_auc(self) -> float:
        """ROC AUC by the trapezoid over bins (rows within a bin count as tied)."""
        return self.threshold_curve().roc_auc()

    def average_precision(self) -> float:
        """Average precision over bin edges (rows within a bin count as tied)."""
        return self.threshold_curve().average_precision()
