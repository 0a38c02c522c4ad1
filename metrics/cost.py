"""Business cost of a classifier's mistakes, and the threshold that minimises it under guardrails.

Everything works from a sequence of candidate operating points: ``thresholds`` with the
``tp, fp, tn, fn`` counts at each, as produced by a threshold curve or a score histogram pulled
from the warehouse. Costs are in the contract's currency: ``fp * cost_fp + fn * cost_fn`` for the
window, or scaled to a weekly (or any) ``volume`` of items when one is given.

Constraints are the contract's guardrails ("FPR <= 1.5x baseline", "recall >= 0.8"). The chosen
threshold minimises cost among the points that meet all of them, and the result says which
constraint is binding, because "the guardrail costs us $4,000 a week" is the number a trade-off
discussion needs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from metrics._validation import ZeroDivision, as_counts, as_non_negative, check_same_length
from metrics.errors import MetricInputError, UndefinedMetricWarning

__all__ = [
    "CONSTRAINT_METRICS",
    "Constraint",
    "OperatingPoint",
    "ThresholdChoice",
    "expected_cost",
    "operating_points",
    "optimal_threshold",
    "scale_to_volume",
    "weekly_cost",
]

#: Metrics a :class:`Constraint` may bound. Rates are fractions; ``false_positives``,
#: ``false_negatives`` and ``predicted_positives`` are counts, scaled to ``volume`` when given
#: (e.g. "at most 500 manual reviews a week").
CONSTRAINT_METRICS = (
    "precision",
    "recall",
    "false_positive_rate",
    "false_negative_rate",
    "specificity",
    "predicted_positive_rate",
    "false_positives",
    "false_negatives",
    "predicted_positives",
)
_ALIASES = {
    "fpr": "false_positive_rate",
    "fnr": "false_negative_rate",
    "tpr": "recall",
    "true_positive_rate": "recall",
    "tnr": "specificity",
    "true_negative_rate": "specificity",
}
# Relative slack when comparing against a bound, so "FPR <= 1.5 x 0.01" holds at FPR = 0.015.
_BOUND_RTOL = 1e-12


# --------------------------------------------------------------------------- scalar helpers


def expected_cost(fp: float, fn: float, *, cost_fp: float, cost_fn: float) -> float:
    """Cost of ``fp`` false positives and ``fn`` false negatives.

    Examples
    --------
    >>> expected_cost(12, 3, cost_fp=15.0, cost_fn=400.0)
    1380.0
    """
    fp_, fn_ = as_non_negative(fp, name="fp"), as_non_negative(fn, name="fn")
    c_fp, c_fn = as_non_negative(cost_fp, name="cost_fp"), as_non_negative(cost_fn, name="cost_fn")
    return fp_ * c_fp + fn_ * c_fn


def scale_to_volume(count: float, n: float, *, volume: float) -> float:
    """Scale ``count`` observed among ``n`` items to ``volume`` items (e.g. a week's traffic).

    Examples
    --------
    >>> scale_to_volume(30, 10_000, volume=250_000)
    750.0
    """
    c, total = as_non_negative(count, name="count"), as_non_negative(n, name="n")
    vol = as_non_negative(volume, name="volume")
    if total == 0:
        raise MetricInputError("n must be positive to scale to a volume, got 0")
    return c / total * vol


def weekly_cost(
    fp: float,
    fn: float,
    n: float,
    *,
    weekly_volume: float,
    cost_fp: float,
    cost_fn: float,
) -> float:
    """Cost per week: the error rates seen in a window of ``n`` items, at ``weekly_volume`` items.

    Parameters
    ----------
    fp, fn : float
        False positives and false negatives in the window.
    n : float
        Items in the window (``tp + fp + tn + fn``).
    weekly_volume : float
        Items per week.
    cost_fp, cost_fn : float
        Cost of one false positive and of one false negative.

    Examples
    --------
    >>> weekly_cost(9, 2, 1_000, weekly_volume=10_000, cost_fp=15.0, cost_fn=400.0)
    9350.0
    """
    total = as_non_negative(n, name="n")
    if total == 0:
        raise MetricInputError("n must be positive to scale to a weekly volume, got 0")
    if as_non_negative(fp, name="fp") + as_non_negative(fn, name="fn") > total:
        raise MetricInputError(f"fp + fn ({fp} + {fn}) exceeds the window size n={n}")
    volume = as_non_negative(weekly_volume, name="weekly_volume")
    return expected_cost(fp, fn, cost_fp=cost_fp, cost_fn=cost_fn) / total * volume


# --------------------------------------------------------------------------- operating points


@dataclass(frozen=True)
class OperatingPoint:
    """One candidate threshold with its confusion counts, rates and cost.

    ``cost`` is for the window, or for ``volume`` items when a volume was given.
    """

    threshold: float
    tp: float
    fp: float
    tn: float
    fn: float
    precision: float
    recall: float
    fpr: float
    cost: float


@dataclass(frozen=True)
class Constraint:
    """A bound on one metric of the operating point, e.g. a guardrail from the contract.

    Parameters
    ----------
    metric : str
        One of :data:`CONSTRAINT_METRICS` (aliases ``fpr``, ``fnr``, ``tpr``, ``tnr`` accepted).
    op : {"<=", ">="}
    value : float
    label : str, optional
        How the constraint is named in messages ("FPR ≤ 1.5× baseline"); defaults to
        ``"<metric> <op> <value>"``.

    A point where the metric is undefined (precision with no predicted positives) never
    satisfies the constraint.

    Examples
    --------
    >>> Constraint("fpr", "<=", 0.015, label="FPR ≤ 1.5× baseline").metric
    'false_positive_rate'
    >>> Constraint("recall", ">=", 0.8).label
    'recall >= 0.8'
    """

    metric: str
    op: str
    value: float
    label: str | None = None

    def __post_init__(self) -> None:
        metric = _ALIASES.get(self.metric, self.metric)
        if metric not in CONSTRAINT_METRICS:
            raise MetricInputError(
                f"constraint metric {self.metric!r} is not one of {', '.join(CONSTRAINT_METRICS)}"
            )
        if self.op not in ("<=", ">="):
            raise MetricInputError(f"constraint op must be '<=' or '>=', got {self.op!r}")
        try:
            value = float(self.value)
        except (TypeError, ValueError) as exc:
            raise MetricInputError(f"constraint value must be a number, got {self.value!r}") from exc
        if not math.isfinite(value):
            raise MetricInputError(f"constraint value must be finite, got {self.value!r}")
        object.__setattr__(self, "metric", metric)
        object.__setattr__(self, "value", value)
        if self.label is None:
            object.__setattr__(self, "label", f"{metric} {self.op} {value:g}")

    def holds(self, values: np.ndarray) -> np.ndarray:
        """Boolean mask of the points meeting the bound (NaN, i.e. undefined, never does)."""
        slack = _BOUND_RTOL * max(1.0, abs(self.value))
        with np.errstate(invalid="ignore"):
            if self.op == "<=":
                return values <= self.value + slack
            return values >= self.value - slack


def operating_points(
    thresholds,
    tp,
    fp,
    tn,
    fn,
    *,
    cost_fp: float,
    cost_fn: float,
    volume: float | None = None,
    zero_division: ZeroDivision = "warn",
) -> list[OperatingPoint]:
    """Every candidate threshold as an :class:`OperatingPoint`.

    Parameters
    ----------
    thresholds : array-like of float
        Candidate thresholds (``±inf`` allowed, NaN not).
    tp, fp, tn, fn : array-like of non-negative float
        Confusion counts at each threshold, same length as ``thresholds``.
    cost_fp, cost_fn : float
        Cost of one false positive and of one false negative.
    volume : float, optional
        Scale counts-based cost to this many items (e.g. weekly volume).
    zero_division : "warn", float or "nan", default="warn"
        Value of a rate whose denominator is zero (precision with no predicted positives,
        recall with no positives, FPR with no negatives). ``"warn"`` gives 0.0 and one
        :class:`~metrics.errors.UndefinedMetricWarning` per affected rate.

    Examples
    --------
    >>> pts = operating_points([0.2, 0.5], tp=[90, 70], fp=[60, 10], tn=[840, 890], fn=[10, 30],
    ...                        cost_fp=15.0, cost_fn=400.0)
    >>> [(p.threshold, p.precision, p.recall, p.cost) for p in pts]
    [(0.2, 0.6, 0.9, 4900.0), (0.5, 0.875, 0.7, 12150.0)]
    """
    curve = _Curve.build(thresholds, tp, fp, tn, fn, cost_fp=cost_fp, cost_fn=cost_fn, volume=volume)
    _warn_undefined_once(curve, zero_division)
    return [curve.point(i, zero_division, warn=False) for i in range(curve.cost.size)]


# --------------------------------------------------------------------------- optimal threshold


@dataclass(frozen=True)
class ThresholdChoice:
    """The cost-minimising threshold under constraints, and why it is where it is.

    Attributes
    ----------
    point : OperatingPoint or None
        Cheapest point meeting every constraint; None when none does.
    binding : str or None
        Label of the constraint that moved the choice away from the unconstrained optimum
        (the one whose removal would lower the cost most); None when nothing binds.
    unconstrained_point : OperatingPoint
        Cheapest point ignoring the constraints.
    feasible : bool
        Whether any point meets every constraint.
    reasons : tuple of str
        Plain sentences explaining the choice or the infeasibility.
    constraint_cost : float or None
        ``point.cost - unconstrained_point.cost``: what the constraints cost (None if infeasible).
    """

    point: OperatingPoint | None
    binding: str | None
    unconstrained_point: OperatingPoint
    feasible: bool
    reasons: tuple[str, ...]
    constraint_cost: float | None


def optimal_threshold(
    thresholds,
    tp,
    fp,
    tn,
    fn,
    *,
    cost_fp: float,
    cost_fn: float,
    constraints: Sequence[Constraint] = (),
    volume: float | None = None,
    zero_division: ZeroDivision = "warn",
) -> ThresholdChoice:
    """Threshold minimising ``fp * cost_fp + fn * cost_fn`` subject to ``constraints``.

    Vectorised over the candidates (``O(n_points * n_constraints)``). Ties in cost go to the
    first candidate in input order. An infeasible problem is an answer, not an error:
    ``feasible=False`` with reasons naming the constraints that cannot be met.

    Parameters
    ----------
    thresholds, tp, fp, tn, fn, cost_fp, cost_fn, volume, zero_division
        As in :func:`operating_points`; ``zero_division`` only affects the two reported points.
    constraints : sequence of Constraint

    Examples
    --------
    >>> thresholds = [0.1, 0.3, 0.5, 0.7]
    >>> tp, fp = [98, 92, 80, 60], [300, 90, 30, 8]
    >>> tn, fn = [700 - x for x in fp], [100 - x for x in tp]
    >>> choice = optimal_threshold(thresholds, tp, fp, tn, fn, cost_fp=10.0, cost_fn=200.0,
    ...                            constraints=[Constraint("fpr", "<=", 0.05, label="FPR ≤ 5%")])
    >>> choice.unconstrained_point.threshold, choice.point.threshold, choice.binding
    (0.3, 0.5, 'FPR ≤ 5%')
    >>> choice.constraint_cost
    1800.0
    """
    constraints = tuple(constraints)
    for c in constraints:
        if not isinstance(c, Constraint):
            raise MetricInputError(f"constraints must be Constraint objects, got {c!r}")
    curve = _Curve.build(thresholds, tp, fp, tn, fn, cost_fp=cost_fp, cost_fn=cost_fn, volume=volume)
    cost = curve.cost
    best = int(np.argmin(cost))
    unconstrained = curve.point(best, zero_division)
    masks = [c.holds(curve.metric(c.metric)) for c in constraints]
    feasible_mask = np.logical_and.reduce(masks) if masks else np.ones(cost.size, dtype=bool)

    if not feasible_mask.any():
        return ThresholdChoice(
            point=None,
            binding=None,
            unconstrained_point=unconstrained,
            feasible=False,
            reasons=tuple(_infeasibility_reasons(curve, constraints, masks)),
            constraint_cost=None,
        )

    chosen_idx = int(np.flatnonzero(feasible_mask)[np.argmin(cost[feasible_mask])])
    chosen = curve.point(chosen_idx, zero_division)
    if feasible_mask[best]:
        reasons = ("the cost-minimising threshold meets every constraint",) if constraints else ()
        return ThresholdChoice(
            point=chosen,
            binding=None,
            unconstrained_point=unconstrained,
            feasible=True,
            reasons=reasons,
            constraint_cost=0.0,
        )

    reasons = []
    violated = [i for i, m in enumerate(masks) if not m[best]]
    for i in violated:
        c = constraints[i]
        reasons.append(
            f"the cost-minimising threshold {_fmt(curve.thresholds[best])} breaks {c.label} "
            f"({c.metric} = {_fmt(curve.metric(c.metric)[best])})"
        )
    # The binding constraint is the one whose removal would lower the cost the most; when
    # several must be relaxed together none lowers it alone, and the first violated one is named.
    binding_i, binding_saving, relaxed_cost = violated[0], 0.0, cost[chosen_idx]
    for i in range(len(constraints)):
        others = [m for j, m in enumerate(masks) if j != i]
        relaxed_mask = np.logical_and.reduce(others) if others else np.ones(cost.size, dtype=bool)
        relaxed = float(cost[relaxed_mask].min())
        saving = float(cost[chosen_idx]) - relaxed
        if saving > binding_saving:
            binding_i, binding_saving, relaxed_cost = i, saving, relaxed
    binding = constraints[binding_i].label
    if binding_saving > 0:
        reasons.append(
            f"{binding} is binding: relaxing it would lower the cost from "
            f"{_fmt(cost[chosen_idx])} to {_fmt(relaxed_cost)}"
        )
    else:
        reasons.append(f"{binding} is binding together with the other constraints it is listed with")
    return ThresholdChoice(
        point=chosen,
        binding=binding,
        unconstrained_point=unconstrained,
        feasible=True,
        reasons=tuple(reasons),
        constraint_cost=float(cost[chosen_idx] - cost[best]),
    )


# --------------------------------------------------------------------------- internals


@dataclass(frozen=True)
class _Curve:
    """Validated candidate points with every metric as an array (NaN where undefined)."""

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    tn: np.ndarray
    fn: np.ndarray
    cost: np.ndarray
    scale: np.ndarray

    @classmethod
    def build(cls, thresholds, tp, fp, tn, fn, *, cost_fp, cost_fn, volume) -> _Curve:
        thr = _as_thresholds(thresholds)
        counts = {}
        for name, arr in (("tp", tp), ("fp", fp), ("tn", tn), ("fn", fn)):
            c = as_counts(arr, name=name)
            if c.ndim != 1:
                raise MetricInputError(f"{name} must be one-dimensional, got shape {c.shape}")
            counts[name] = c
        check_same_length(thresholds=thr, **counts)
        n = counts["tp"] + counts["fp"] + counts["tn"] + counts["fn"]
        if (n == 0).any():
            raise MetricInputError(f"candidate {int(np.flatnonzero(n == 0)[0])} has no items (tp+fp+tn+fn = 0)")
        c_fp, c_fn = as_non_negative(cost_fp, name="cost_fp"), as_non_negative(cost_fn, name="cost_fn")
        scale = np.ones_like(n) if volume is None else as_non_negative(volume, name="volume") / n
        cost = (counts["fp"] * c_fp + counts["fn"] * c_fn) * scale
        return cls(thresholds=thr, cost=cost, scale=scale, **counts)

    def metric(self, name: str) -> np.ndarray:
        tp, fp, tn, fn = self.tp, self.fp, self.tn, self.fn
        if name == "false_positives":
            return fp * self.scale
        if name == "false_negatives":
            return fn * self.scale
        if name == "predicted_positives":
            return (tp + fp) * self.scale
        num, den = {
            "precision": (tp, tp + fp),
            "recall": (tp, tp + fn),
            "false_positive_rate": (fp, fp + tn),
            "false_negative_rate": (fn, tp + fn),
            "specificity": (tn, fp + tn),
            "predicted_positive_rate": (tp + fp, tp + fp + tn + fn),
        }[name]
        out = np.full(num.shape, np.nan)
        np.divide(num, den, out=out, where=den > 0)
        return out

    def point(self, i: int, zero_division: ZeroDivision, *, warn: bool = True) -> OperatingPoint:
        rates = {}
        for field, name in (("precision", "precision"), ("recall", "recall"), ("fpr", "false_positive_rate")):
            value = float(self.metric(name)[i])
            rates[field] = _resolve(value, name, zero_division, warn=warn)
        return OperatingPoint(
            threshold=float(self.thresholds[i]),
            tp=float(self.tp[i]),
            fp=float(self.fp[i]),
            tn=float(self.tn[i]),
            fn=float(self.fn[i]),
            cost=float(self.cost[i]),
            **rates,
        )


def _warn_undefined_once(curve: _Curve, zero_division: ZeroDivision) -> None:
    """One warning per undefined rate for the whole curve, instead of one per point."""
    if zero_division != "warn":
        return
    for name in ("precision", "recall", "false_positive_rate"):
        undefined = int(np.isnan(curve.metric(name)).sum())
        if undefined:
            warnings.warn(
                f"{name} is undefined (division by zero) at {undefined} of {curve.cost.size} "
                "thresholds; returning 0.0 there. Pass zero_division= to choose the value.",
                UndefinedMetricWarning,
                stacklevel=3,
            )


def _resolve(value: float, name: str, zero_division: ZeroDivision, *, warn: bool) -> float:
    if not math.isnan(value):
        return value
    if zero_division == "warn":
        if warn:
            warnings.warn(
                f"{name} is undefined (division by zero) at this threshold; returning 0.0. "
                "Pass zero_division= to choose the value.",
                UndefinedMetricWarning,
                stacklevel=4,
            )
        return 0.0
    if zero_division == "nan":
        return math.nan
    return float(zero_division)


def _infeasibility_reasons(curve: _Curve, constraints, masks) -> list[str]:
    reasons = []
    for c, mask in zip(constraints, masks):
        if mask.any():
            continue
        values = curve.metric(c.metric)
        defined = values[~np.isnan(values)]
        if defined.size == 0:
            reasons.append(f"no threshold meets {c.label}: {c.metric} is undefined at every threshold")
            continue
        best = defined.max() if c.op == ">=" else defined.min()
        reasons.append(f"no threshold meets {c.label}: the best achievable {c.metric} is {_fmt(best)}")
    if not reasons:
        labels = "; ".join(c.label for c in constraints)
        reasons.append(f"each constraint can be met alone, but no threshold meets all of them together: {labels}")
    return reasons


def _as_thresholds(values) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"thresholds must be numeric: {exc}") from exc
    if arr.ndim != 1:
        raise MetricInputError(f"thresholds must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise MetricInputError("thresholds is empty")
    if np.isnan(arr).any():
        raise MetricInputError(f"thresholds contain NaN (first at index {int(np.flatnonzero(np.isnan(arr))[0])})")
    return arr


def _fmt(x: float) -> str:
    return f"{float(x):.4g}"
