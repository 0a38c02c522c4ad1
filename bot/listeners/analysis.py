"""Turn a contract and its stored snapshots into the numbers the commands show.

Pure: contract and snapshots in, plain dataclasses out, for the Block Kit builders and the
chart. Everything is computed from stored histograms, never from the warehouse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from metrics.classification import ScoreHistogram
from metrics.contract import BOUNDED_ROLES, Contract, Direction, Kind, Metric
from metrics.cost import Constraint

from bot.listeners.store import SnapshotView

ALTERNATIVE_STEPS = (-0.2, -0.1, 0.1, 0.2)


@dataclass(frozen=True)
class Row:
    """One threshold of the trade-off table, counts and cost per week."""

    threshold: float
    precision: float
    recall: float
    fp_per_week: float
    fn_per_week: float
    cost_per_week: float
    label: str = ""


@dataclass(frozen=True)
class Tradeoff:
    contract: Contract
    metric: Metric
    current: Row
    rows: tuple[Row, ...]
    optimal: Row | None
    binding: str | None
    guardrail_notes: tuple[str, ...]
    curve_thresholds: tuple[float, ...] = field(default=())
    curve_cost: tuple[float, ...] = field(default=())
    curve_precision: tuple[float, ...] = field(default=())
    curve_recall: tuple[float, ...] = field(default=())


def classification_threshold(metric: Metric) -> float:
    spec = metric.spec()
    return float(getattr(spec, "threshold", 0.5))


def bound_status(contract: Contract, metric: Metric, value: float | None) -> str:
    """``ok``, ``violated``, ``no bound`` or ``no data``, judged against the contract's bound."""
    if metric.bound is None:
        return "no bound"
    if value is None:
        return "no data"
    low, high = metric.bound.limits(contract.baseline_value(metric))
    if (high is not None and value > high) or (low is not None and value < low):
        return "violated"
    return "ok"


def row_at(histogram: ScoreHistogram, contract: Contract, threshold: float, label: str = "") -> Row:
    """The operating point at ``threshold`` (exact at bin edges), scaled to a week."""
    c = histogram.confusion_at(threshold)
    business = contract.business
    scale = business.weekly_volume / c.n if c.n else 0.0
    return Row(
        threshold=threshold,
        precision=c.rate("precision", zero_division=1.0),
        recall=c.rate("recall", zero_division=1.0),
        fp_per_week=c.fp * scale,
        fn_per_week=c.fn * scale,
        cost_per_week=(c.fp * business.cost_false_positive + c.fn * business.cost_false_negative) * scale,
        label=label,
    )


def _guardrail_constraint(contract: Contract, metric: Metric) -> Constraint | None:
    """A guardrail as a constraint on the operating point, when its statistic is one."""
    if metric.kind is not Kind.CLASSIFICATION or metric.bound is None:
        return None
    statistic = getattr(metric.spec(), "statistic", None)
    low, high = metric.bound.limits(contract.baseline_value(metric))
    try:
        if high is not None:
            return Constraint(statistic, "<=", high, label=f"{metric.title} ≤ {high:.4g}")
        if low is not None:
            return Constraint(statistic, ">=", low, label=f"{metric.title} ≥ {low:.4g}")
    except ValueError:
        return None
    return None


def _constraint_values(histogram: ScoreHistogram, statistic: str, candidates: np.ndarray) -> np.ndarray:
    """A guardrail's statistic at each candidate threshold, measured on its own population."""
    if np.array_equal(histogram.edges[:-1], candidates):
        return histogram.confusions_at_edges().rate(statistic, zero_division=float("nan"))
    # Binned differently from the headline metric: read it point by point (exact at its edges only).
    return np.array([histogram.confusion_at(t).rate(statistic, zero_division=float("nan")) for t in candidates])


def build_tradeoff(
    contract: Contract,
    metric: Metric,
    histogram: ScoreHistogram,
    *,
    guardrail_histograms: dict[str, ScoreHistogram] | None = None,
    threshold: float | None = None,
) -> Tradeoff:
    """Current threshold, a handful of alternatives, and the cheapest one the guardrails allow.

    Each guardrail is judged on its own population's histogram (premium customers, a region),
    so "cheapest allowed" means every guardrail holds where it is actually measured.
    """
    current_threshold = classification_threshold(metric) if threshold is None else threshold
    sweep = histogram.confusions_at_edges()
    candidates = [float(t) for t in sweep.thresholds]
    business = contract.business
    total = float(sweep.n[0]) if len(candidates) else 0.0
    scale = business.weekly_volume / total if total else 0.0
    # What row_at gives at each candidate, for the whole curve in one pass.
    costs = (sweep.fp * business.cost_false_positive + sweep.fn * business.cost_false_negative) * scale

    masks: list[tuple[str, np.ndarray]] = []
    notes: list[str] = []
    for guard in contract.metrics:
        if guard.role not in BOUNDED_ROLES or guard.name == metric.name:
            continue
        constraint = _guardrail_constraint(contract, guard)
        if constraint is None:
            continue
        guard_histogram = (guardrail_histograms or {}).get(guard.name)
        if guard_histogram is None:
            notes.append(f"{guard.title}: no stored histogram yet, not applied")
            continue
        values = _constraint_values(guard_histogram, constraint.metric, sweep.thresholds)
        masks.append((constraint.label or guard.name, constraint.holds(values)))

    best_free = int(np.argmin(costs))
    feasible = np.logical_and.reduce([m for _, m in masks]) if masks else np.ones(len(candidates), dtype=bool)
    optimal: Row | None = None
    binding: str | None = None
    if feasible.any():
        chosen = int(np.flatnonzero(feasible)[np.argmin(costs[feasible])])
        optimal = row_at(histogram, contract, candidates[chosen], "cost-optimal")
        if chosen != best_free:
            # The binding guardrail is the one whose removal would save the most.
            best_saving = -1.0
            for label, _ in masks:
                others = [m for other, m in masks if other != label]
                relaxed = np.logical_and.reduce(others) if others else np.ones(len(candidates), dtype=bool)
                saving = costs[chosen] - costs[relaxed].min()
                if saving > best_saving:
                    best_saving, binding = saving, label
    else:
        notes.append("no threshold satisfies every guardrail at once")

    current = row_at(histogram, contract, current_threshold, "current")
    wanted = {round(current_threshold + step, 6) for step in ALTERNATIVE_STEPS}
    alternatives = sorted(t for t in wanted if 0.0 < t < 1.0 and not math.isclose(t, current_threshold))
    rows = [current] + [row_at(histogram, contract, t) for t in alternatives]
    if optimal is not None and all(not math.isclose(r.threshold, optimal.threshold) for r in rows):
        rows.append(optimal)
    rows.sort(key=lambda r: r.threshold)
    return Tradeoff(
        contract=contract,
        metric=metric,
        current=current,
        rows=tuple(rows),
        optimal=optimal,
        binding=binding,
        guardrail_notes=tuple(notes),
        curve_thresholds=tuple(candidates),
        curve_cost=tuple(float(c) for c in costs),
        curve_precision=tuple(float(p) for p in sweep.rate("precision", zero_division=1.0)),
        curve_recall=tuple(float(r) for r in sweep.rate("recall", zero_division=1.0)),
    )


@dataclass(frozen=True)
class MetricSummary:
    contract: Contract
    metric: Metric
    latest: SnapshotView | None
    history: tuple[SnapshotView, ...]
    status: str
    change: float | None  # latest minus the previous value

    @property
    def trend(self) -> str:
        if self.change is None:
            return "not enough history"
        if abs(self.change) < 1e-12:
            return "flat"
        better = (self.change > 0) == (self.metric.direction is Direction.INCREASE)
        return f"{'up' if self.change > 0 else 'down'} ({'better' if better else 'worse'})"


def summarise_metric(contract: Contract, metric: Metric, history: Sequence[SnapshotView]) -> MetricSummary:
    latest = history[-1] if history else None
    previous = history[-2] if len(history) >= 2 else None
    change = None
    if latest is not None and previous is not None and latest.value is not None and previous.value is not None:
        change = latest.value - previous.value
    return MetricSummary(
        contract=contract,
        metric=metric,
        latest=latest,
        history=tuple(history),
        status=bound_status(contract, metric, latest.value if latest else None),
        change=change,
    )


@dataclass(frozen=True)
class Comovement:
    first: Metric
    second: Metric
    first_weight: float
    second_weight: float
    pairs: tuple[tuple[str, float, float], ...]  # (window end, first, second)
    together: int  # windows where both moved in their "better" direction or both in "worse"
    steps: int
    correlation: float | None


def comovement(contract: Contract, first: Metric, second: Metric, a: Sequence[SnapshotView], b: Sequence[SnapshotView]) -> Comovement:
    """How two metrics moved over the windows both were pulled for."""
    by_window = {s.window_end: s.value for s in b if s.value is not None}
    pairs = [(s.window_end, s.value, by_window[s.window_end]) for s in a if s.value is not None and s.window_end in by_window]
    together = steps = 0
    for (_, a0, b0), (_, a1, b1) in zip(pairs, pairs[1:]):
        da, db = a1 - a0, b1 - b0
        if da == 0 or db == 0:
            continue
        steps += 1
        a_better = (da > 0) == (first.direction is Direction.INCREASE)
        b_better = (db > 0) == (second.direction is Direction.INCREASE)
        together += a_better == b_better
    correlation = None
    if len(pairs) >= 3:
        xs = np.array([p[1] for p in pairs])
        ys = np.array([p[2] for p in pairs])
        if xs.std() > 0 and ys.std() > 0:
            correlation = float(np.corrcoef(xs, ys)[0, 1])
    return Comovement(
        first=first,
        second=second,
        first_weight=_weight(contract, first),
        second_weight=_weight(contract, second),
        pairs=tuple((end.date().isoformat(), x, y) for end, x, y in pairs),
        together=together,
        steps=steps,
        correlation=correlation,
    )


def _weight(contract: Contract, metric: Metric) -> float:
    if metric.role.value == "guardrail":
        return contract.weights.guardrail_violation
    return contract.weight_for(metric)
