"""Judge one pulled snapshot against its contract: bounds, noise controls and model health.

Every pull produces one :class:`Evaluation` per metric, holding :class:`Finding` objects, one per
check that applies: the metric's bound, drift, staleness, silent failure, completeness, fairness
and, when the pull itself failed, the data pipeline. A finding carries the numbers (value, the
bound's low and high limits, the baseline), a status and one line in the team's own words::

    premium-customer false positives 2.4% against a 2% bound: about 540 legitimate customers
    blocked a week, ≈ $8,100 of manual review

Statuses, from best to worst: ``ok``; ``near`` (inside the bound but within 10% of it);
``at_risk`` (the point estimate is beyond the bound, the sampling noise could still explain it);
``violated`` (beyond the bound beyond reasonable doubt, or a health check tripped);
``insufficient_data`` (too few rows to judge, or no value) sits apart: it never raises nor clears
an alert.

Noise controls: a bound is judged only once the sample size reaches ``min_sample_size`` (the
metric's own, else the contract's ``noise.min_sample_size``). For a rate with a known denominator
(classification rates, proportions) ``violated`` needs the whole Wilson 95% interval beyond the
bound; a point estimate alone beyond it is ``at_risk``.

Pure code: the caller reads snapshots and computes a named baseline window's value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from metrics.classification import Confusion, ScoreHistogram
from metrics.contract import Contract, Direction, Kind, Layer, Metric, Role
from metrics.drift import compare_binned
from metrics.errors import MetricInputError
from metrics.explain import format_count, format_money
from metrics.fairness import disaggregate

__all__ = [
    "NEAR_FRACTION",
    "SILENT_FAILURE_WINDOW",
    "Evaluation",
    "Finding",
    "Observation",
    "evaluate_metric",
    "pipeline_finding",
    "wilson_interval",
]

Status = Literal["ok", "near", "at_risk", "violated", "insufficient_data"]
Severity = Literal["info", "warning", "critical"]
Check = Literal["bound", "drift", "staleness", "silent_failure", "completeness", "fairness", "pipeline"]

#: A value within this fraction of its bound (still inside) is reported as ``near``.
NEAR_FRACTION = 0.10
#: Snapshots averaged for the silent-failure check, and the fewest that make an average.
SILENT_FAILURE_WINDOW = 7
SILENT_FAILURE_MIN_HISTORY = 3
#: Two-sided 95% normal quantile for the Wilson interval.
Z_95 = 1.959963984540054

_STATUS_ORDER = {"ok": 0, "insufficient_data": 1, "near": 2, "at_risk": 3, "violated": 4}
_WEEK = timedelta(days=7)

# Classification rates that are a share of one group of rows: numerator and denominator, so the
# Wilson interval can be taken on the denominator the rate is really measured on (a premium
# false positive rate is a share of legitimate premium transactions, not of all of them).
_PROPORTIONS = {
    "precision": (lambda c: c.tp, lambda c: c.tp + c.fp),
    "recall": (lambda c: c.tp, lambda c: c.tp + c.fn),
    "specificity": (lambda c: c.tn, lambda c: c.tn + c.fp),
    "false_positive_rate": (lambda c: c.fp, lambda c: c.fp + c.tn),
    "false_negative_rate": (lambda c: c.fn, lambda c: c.fn + c.tp),
    "accuracy": (lambda c: c.tp + c.tn, lambda c: c.n),
    "prevalence": (lambda c: c.tp + c.fn, lambda c: c.n),
}
# Which errors a statistic's movement is about, for the money sentence.
_FALSE_POSITIVE_STORY = frozenset({"precision", "specificity", "false_positive_rate"})
_FALSE_NEGATIVE_STORY = frozenset({"recall", "false_negative_rate"})


@dataclass(frozen=True)
class Observation:
    """What one pull produced for a metric, as evaluation needs it (a snapshot without storage)."""

    value: float | None
    sample_size: float | None = None
    stats: Mapping[str, Any] | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None

    @property
    def window(self) -> timedelta | None:
        if self.window_start is None or self.window_end is None:
            return None
        return self.window_end - self.window_start


@dataclass(frozen=True)
class Finding:
    """One check on one metric: the numbers, a status and a line in the team's words.

    ``key`` names the alert this finding drives: the metric's name for its bound, and
    ``metric:check`` for the other checks, so a drift alert and a bound alert on the same metric
    are raised and resolved independently. ``worse_when`` says which way ``value`` moving makes
    the problem worse (used by snooze to re-alert on a worsening breach).
    """

    metric: str
    check: Check
    status: Status
    severity: Severity
    reason: str
    title: str = ""
    value: float | None = None
    low: float | None = None
    high: float | None = None
    baseline: float | None = None
    interval: tuple[float, float] | None = None
    sample_size: float | None = None
    unit: str = ""
    worse_when: Literal["higher", "lower"] = "higher"
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.metric if self.check == "bound" else f"{self.metric}:{self.check}"

    @property
    def breached(self) -> bool:
        """True when this finding should raise (or keep up) an alert."""
        return self.status == "violated"

    @property
    def judged(self) -> bool:
        """False when there was too little data to say either way: the alert state holds."""
        return self.status != "insufficient_data"


@dataclass(frozen=True)
class Evaluation:
    """Every finding for one metric in one pull."""

    metric: str
    findings: tuple[Finding, ...]

    @property
    def status(self) -> Status:
        if not self.findings:
            return "insufficient_data"
        return max((f.status for f in self.findings), key=_STATUS_ORDER.__getitem__)

    @property
    def breaches(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.breached)

    def finding(self, check: Check) -> Finding | None:
        return next((f for f in self.findings if f.check == check), None)


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def wilson_interval(successes: float, trials: float, *, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion.

    Unlike the normal approximation it stays inside [0, 1] and does not collapse to a point at
    0% or 100%, which matters for small false positive rates.

    Examples
    --------
    >>> low, high = wilson_interval(24, 1000)
    >>> round(low, 4), round(high, 4)
    (0.0162, 0.0355)
    """
    if trials <= 0:
        raise MetricInputError(f"trials must be positive, got {trials!r}")
    if not 0 <= successes <= trials:
        raise MetricInputError(f"successes must lie in [0, trials={trials!r}], got {successes!r}")
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    # Exact ends at 0% and 100%, where rounding would otherwise leave a hair's breadth.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def _histogram(stats: Mapping[str, Any] | None) -> ScoreHistogram | None:
    if not stats or not all(k in stats for k in ("edges", "pos", "neg", "segments")):
        return None
    try:
        return ScoreHistogram.from_dict(dict(stats))
    except MetricInputError:
        return None


def _confusion(metric: Metric, stats: Mapping[str, Any] | None) -> Confusion | None:
    histogram = _histogram(stats)
    if histogram is None:
        return None
    try:
        return histogram.total().confusion_at(metric.spec().threshold)
    except MetricInputError:
        return None


def _proportion(metric: Metric, observation: Observation) -> tuple[float, float] | None:
    """(successes, trials) behind the value when it is a proportion, else None."""
    value = observation.value
    if value is None or not 0 <= value <= 1:
        return None
    if metric.kind is Kind.CLASSIFICATION:
        statistic = metric.spec().statistic
        confusion = _confusion(metric, observation.stats)
        if statistic not in _PROPORTIONS or confusion is None:
            return None
        numerator, denominator = _PROPORTIONS[statistic]
        trials = denominator(confusion)
        return (numerator(confusion), trials) if trials > 0 else None
    if metric.kind in (Kind.VALUE, Kind.EXPERIMENT) and metric.unit == "%":
        n = observation.sample_size
        if n is None or n <= 0:
            return None
        return value * n, n
    return None


# --------------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------------


def _plural(noun: str) -> str:
    if noun.endswith(("s", "x", "sh", "ch")):
        return noun + "es"
    if noun.endswith("y") and not noun.endswith(("ay", "ey", "oy", "uy")):
        return noun[:-1] + "ies"
    return noun + "s"


def format_value(value: float | None, unit: str) -> str:
    """A metric value in its unit: ``2.4%``, ``134 ms``, ``$3.10``, ``0.31``."""
    if value is None:
        return "no value"
    if unit == "%":
        return f"{100 * value:.3g}%" if abs(100 * value) < 10 else f"{100 * value:.1f}%".replace(".0%", "%")
    if unit == "$":
        return format_money(value)
    text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return f"{text} {unit}".strip() if unit else text


def _bound_phrase(metric: Metric, low: float | None, high: float | None, baseline: float | None) -> str:
    """"a 2% bound", "a 75% floor", "a 1.8% bound (1.5× the 1.2% baseline)"; both when two-sided."""
    bound = metric.bound
    parts = []
    for limit, word, factor in (
        (high, "bound", bound.max_ratio_to_baseline if bound else None),
        (low, "floor", bound.min_ratio_to_baseline if bound else None),
    ):
        if limit is None:
            continue
        text = f"a {format_value(limit, metric.unit)} {word}"
        if factor is not None and baseline is not None and math.isclose(limit, factor * baseline):
            text += f" ({factor:g}× the {format_value(baseline, metric.unit)} baseline)"
        parts.append(text)
    return " and ".join(parts)


def _weekly_scale(observation: Observation, contract: Contract, rows: float) -> float | None:
    """Factor turning the window's counts into a week's.

    The window's own length when known: a metric over a subset (premium customers) would be
    overstated by the contract's total weekly volume. Otherwise the weekly volume over the rows.
    """
    window = observation.window
    if window is not None and window.total_seconds() > 0:
        return _WEEK / window
    if rows > 0:
        return contract.business.weekly_volume / rows
    return None


def _money_tail(contract: Contract, metric: Metric, observation: Observation) -> str:
    """", about 540 legitimate customers blocked a week, ≈ $8,100 of manual review" or ""."""
    if metric.kind is not Kind.CLASSIFICATION:
        return ""
    statistic = metric.spec().statistic
    confusion = _confusion(metric, observation.stats)
    if confusion is None:
        return ""
    scale = _weekly_scale(observation, contract, confusion.n)
    if scale is None:
        return ""
    business = contract.business
    if statistic in _FALSE_POSITIVE_STORY:
        count = confusion.fp * scale
        cost = count * business.cost_false_positive
        who = f"{_plural(business.negative)} {business.acted}"
        means = business.false_positive_cost_means
    elif statistic in _FALSE_NEGATIVE_STORY:
        count = confusion.fn * scale
        cost = count * business.cost_false_negative
        who = f"{_plural(business.positive)} missed"
        means = business.false_negative_cost_means
    else:
        return ""
    return f": about {format_count(count)} {who} a week, ≈ {format_money(cost, business.currency)} of {means}"


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _min_sample_size(contract: Contract, metric: Metric) -> int:
    return metric.min_sample_size if metric.min_sample_size is not None else contract.noise.min_sample_size


def _too_small(contract: Contract, metric: Metric, observation: Observation) -> str | None:
    floor = _min_sample_size(contract, metric)
    n = observation.sample_size
    if n is not None and n < floor:
        return f"{metric.title}: only {format_count(n)} rows in this window, fewer than the {floor:,} needed to judge it"
    return None


def _bound_finding(contract: Contract, metric: Metric, observation: Observation, baseline_value: float | None) -> Finding | None:
    bound = metric.bound
    if bound is None:
        return None
    common = {
        "metric": metric.name,
        "check": "bound",
        "title": metric.title,
        "value": observation.value,
        "sample_size": observation.sample_size,
        "unit": metric.unit,
        "worse_when": "lower" if metric.direction is Direction.INCREASE else "higher",
    }
    severity: Severity = "critical" if metric.role is Role.GUARDRAIL else "warning"
    baseline = baseline_value if baseline_value is not None else contract.baseline_value(metric)
    relative = bound.max_ratio_to_baseline is not None or bound.min_ratio_to_baseline is not None
    absolute = bound.max is not None or bound.min is not None
    if relative and baseline is None and not absolute:
        where = f"the {bound.baseline} window" if isinstance(bound.baseline, str) else "its baseline"
        return Finding(
            status="insufficient_data", severity="info", baseline=None,
            reason=f"{metric.title}: no value yet for {where}, so its ratio bound cannot be judged", **common,
        )
    low, high = bound.limits(baseline)
    common.update(low=low, high=high, baseline=baseline)
    if observation.value is None:
        problem = (observation.stats or {}).get("value_error")
        detail = f" ({problem})" if problem else ""
        return Finding(status="insufficient_data", severity="info", reason=f"{metric.title}: no value in this window{detail}", **common)
    too_small = _too_small(contract, metric, observation)
    if too_small:
        return Finding(status="insufficient_data", severity="info", reason=too_small, **common)
    value = observation.value
    above = high is not None and value > high
    below = low is not None and value < low
    proportion = _proportion(metric, observation)
    interval = wilson_interval(*proportion) if proportion is not None else None
    common["interval"] = interval
    against = _bound_phrase(metric, low if below else None, high if above else None, baseline)
    if not above and not below:
        near = (high is not None and value >= high - NEAR_FRACTION * abs(high)) or (
            low is not None and value <= low + NEAR_FRACTION * abs(low)
        )
        limit_words = _bound_phrase(metric, low, high, baseline)
        if near:
            return Finding(
                status="near", severity="info",
                reason=f"{metric.title} {format_value(value, metric.unit)}, close to {limit_words}", **common,
            )
        return Finding(
            status="ok", severity="info",
            reason=f"{metric.title} {format_value(value, metric.unit)}, within {limit_words}", **common,
        )
    # Beyond the bound: is it beyond reasonable doubt?
    certain = interval is None or (above and interval[0] > high) or (below and interval[1] < low)
    tail = _money_tail(contract, metric, observation)
    if certain:
        return Finding(
            status="violated", severity=severity,
            reason=f"{metric.title} {format_value(value, metric.unit)} against {against}{tail}", **common,
        )
    low_i, high_i = interval
    return Finding(
        status="at_risk", severity="warning",
        reason=(
            f"{metric.title} {format_value(value, metric.unit)} against {against}, but with "
            f"{format_count(proportion[1])} rows it could be noise (95% interval "
            f"{format_value(low_i, metric.unit)}–{format_value(high_i, metric.unit)}){tail}"
        ),
        **common,
    )


def _drift_finding(contract: Contract, metric: Metric, observation: Observation, reference_counts: Sequence[float] | None) -> Finding | None:
    if metric.kind is not Kind.DISTRIBUTION:
        return None
    stats = dict(observation.stats or {})
    common = {"metric": metric.name, "check": "drift", "title": metric.title, "sample_size": observation.sample_size}
    drift = stats.get("drift")
    if drift is None and reference_counts is not None and stats.get("counts") and sum(stats["counts"]) > 0:
        try:
            result = compare_binned(list(reference_counts), list(stats["counts"]))
        except MetricInputError:
            result = None
        if result is not None:
            drift = {"psi": result.psi, "band": result.band, "p_value": result.p_value, "significant": result.significant}
    reference = metric.spec().reference
    against = f"the {reference} window" if reference else "its reference"
    if drift is None:
        return Finding(status="insufficient_data", severity="info", reason=f"{metric.title}: no reference counts to compare with {against}", **common)
    too_small = _too_small(contract, metric, observation)
    psi = float(drift["psi"])
    common.update(value=psi, high=None, details={"band": drift["band"], "p_value": drift["p_value"]})
    if too_small:
        return Finding(status="insufficient_data", severity="info", reason=too_small, **common)
    p_value = float(drift["p_value"])
    p_text = "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"
    if drift["significant"] and drift["band"] == "significant":
        return Finding(
            status="violated", severity="warning",
            reason=f"{metric.title}: PSI {psi:.2f} against {against}, a significant shift (chi-square {p_text}); check the inputs and whether the model still fits",
            **common,
        )
    if drift["band"] != "stable" or drift["significant"]:
        return Finding(
            status="at_risk", severity="info",
            reason=f"{metric.title}: PSI {psi:.2f} against {against} ({drift['band']} shift, chi-square {p_text}); worth watching",
            **common,
        )
    return Finding(status="ok", severity="info", reason=f"{metric.title}: PSI {psi:.2f}, stable against {against}", **common)


def _staleness_finding(contract: Contract, metric: Metric, observation: Observation) -> Finding | None:
    if metric.layer is not Layer.MODEL or metric.launch_baseline is None or metric.launch_baseline == 0:
        return None
    launch = metric.launch_baseline
    common = {
        "metric": metric.name, "check": "staleness", "title": metric.title, "value": observation.value,
        "baseline": launch, "sample_size": observation.sample_size, "unit": metric.unit,
        "worse_when": "lower" if metric.direction is Direction.INCREASE else "higher",
    }
    if observation.value is None:
        return Finding(status="insufficient_data", severity="info", reason=f"{metric.title}: no value in this window", **common)
    too_small = _too_small(contract, metric, observation)
    if too_small:
        return Finding(status="insufficient_data", severity="info", reason=too_small, **common)
    value = observation.value
    worse = (launch - value) if metric.direction is Direction.INCREASE else (value - launch)
    drop = worse / abs(launch)
    limit = contract.health.staleness_drop
    side = "below" if metric.direction is Direction.INCREASE else "above"
    common["details"] = {"relative_drop": drop, "trigger": limit}
    if metric.direction is Direction.INCREASE:
        common["low"] = launch * (1 - limit)
    else:
        common["high"] = launch * (1 + limit)
    words = f"{metric.title} {format_value(value, metric.unit)} is {abs(drop):.1%} {side} its launch baseline of {format_value(launch, metric.unit)}"
    if drop > limit:
        return Finding(
            status="violated", severity="warning",
            reason=f"{words} (retraining trigger: {limit:.0%}); time to retrain{_money_tail(contract, metric, observation)}",
            **common,
        )
    if drop > limit * (1 - NEAR_FRACTION):
        return Finding(status="near", severity="info", reason=f"{words}, nearing the {limit:.0%} retraining trigger", **common)
    return Finding(status="ok", severity="info", reason=f"{metric.title} holds its launch baseline of {format_value(launch, metric.unit)}", **common)


def _silent_failure_finding(contract: Contract, metric: Metric, observation: Observation, history: Sequence[Observation]) -> Finding | None:
    # Only windows as long as this one are comparable: a month-long baseline pull would dwarf a day.
    sizes = [
        h.sample_size for h in history
        if h.sample_size is not None and (observation.window is None or h.window is None or h.window == observation.window)
    ][:SILENT_FAILURE_WINDOW]
    if len(sizes) < SILENT_FAILURE_MIN_HISTORY:
        return None
    average = sum(sizes) / len(sizes)
    if average <= 0:
        return None
    floor = (1 - contract.health.silent_failure_drop) * average
    n = observation.sample_size if observation.sample_size is not None else 0.0
    common = {
        "metric": metric.name, "check": "silent_failure", "title": metric.title, "value": n, "low": floor,
        "baseline": average, "sample_size": n, "worse_when": "lower",
    }
    units = contract.business.units
    if n < floor:
        return Finding(
            status="violated", severity="critical",
            reason=(
                f"{metric.title}: only {format_count(n)} {units} in this window against a trailing average of "
                f"{format_count(average)} (alert below {format_count(floor)}); predictions or logging may be failing silently"
            ),
            **common,
        )
    return Finding(status="ok", severity="info", reason=f"{metric.title}: {format_count(n)} {units}, in line with the trailing average", **common)


def _completeness(stats: Mapping[str, Any], sample_size: float | None) -> float | None:
    if "completeness" in stats:
        return float(stats["completeness"])
    row = stats.get("row")
    if isinstance(row, Mapping) and row.get("completeness") is not None:
        return float(row["completeness"])
    missing = stats.get("dropped_rows", stats.get("null_rows"))
    if missing is None or sample_size is None:
        return None
    total = sample_size + float(missing)
    return 1.0 if total <= 0 else sample_size / total


def _completeness_finding(contract: Contract, metric: Metric, observation: Observation) -> Finding | None:
    completeness = _completeness(observation.stats or {}, observation.sample_size)
    if completeness is None:
        return None
    floor = contract.health.completeness_min
    common = {
        "metric": metric.name, "check": "completeness", "title": metric.title, "value": completeness, "low": floor,
        "sample_size": observation.sample_size, "unit": "%", "worse_when": "lower",
    }
    if completeness < floor:
        return Finding(
            status="violated", severity="warning",
            reason=f"{metric.title}: {format_value(completeness, '%')} of rows complete, below the {format_value(floor, '%')} floor; rows with missing inputs are left out of the metric",
            **common,
        )
    return Finding(status="ok", severity="info", reason=f"{metric.title}: {format_value(completeness, '%')} of rows complete", **common)


def _fairness_finding(contract: Contract, metric: Metric, observation: Observation) -> Finding | None:
    if metric.kind is not Kind.CLASSIFICATION:
        return None
    spec = metric.spec()
    if spec.segment_column is None or spec.max_disparity is None:
        return None
    statistic = spec.disparity_statistic or spec.statistic
    label = f"{metric.title}" if statistic == spec.statistic else statistic.replace("_", " ")
    common = {
        "metric": metric.name, "check": "fairness", "title": f"{metric.title} across segments", "high": spec.max_disparity,
        "sample_size": observation.sample_size, "unit": "×",
    }
    histogram = _histogram(observation.stats)
    if histogram is None or len(histogram.segments) < 2:
        return Finding(status="insufficient_data", severity="info", reason=f"{metric.title}: fewer than two segments in this window", **common)
    floor = _min_sample_size(contract, metric)
    values: dict[str, float] = {}
    sizes: dict[str, int] = {}
    for name in histogram.segments:
        try:
            confusion = histogram.segment(name).confusion_at(spec.threshold)
        except MetricInputError:
            return None
        denominator = _PROPORTIONS[statistic][1](confusion) if statistic in _PROPORTIONS else confusion.n
        if denominator <= 0:
            continue
        values[name] = confusion.value(statistic, zero_division=0.0)
        sizes[name] = int(denominator)
    try:
        disparity = disaggregate(values, min_n=sizes, min_samples=floor)
    except MetricInputError:
        return Finding(
            status="insufficient_data", severity="info",
            reason=f"{metric.title}: no segment has the {floor:,} rows needed to compare segments", **common,
        )
    common.update(
        value=disparity.ratio if math.isfinite(disparity.ratio) else None,
        details={
            "highest": disparity.highest, "lowest": disparity.lowest, "values": disparity.values,
            "excluded": disparity.excluded, "ratio": disparity.ratio, "difference": disparity.difference,
        },
    )
    if len(disparity.values) < 2:
        return Finding(status="insufficient_data", severity="info", reason=disparity.describe(label), **common)
    sentence = disparity.describe(label, percent=metric.unit == "%" or statistic in _PROPORTIONS)
    if disparity.ratio > spec.max_disparity:
        return Finding(
            status="violated", severity="critical" if metric.role is Role.GUARDRAIL else "warning",
            reason=f"{sentence}, beyond the {spec.max_disparity:g}× disparity bound", **common,
        )
    if disparity.ratio > spec.max_disparity * (1 - NEAR_FRACTION):
        return Finding(status="near", severity="info", reason=f"{sentence}, close to the {spec.max_disparity:g}× disparity bound", **common)
    return Finding(status="ok", severity="info", reason=f"{sentence}, within the {spec.max_disparity:g}× disparity bound", **common)


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def evaluate_metric(
    contract: Contract,
    metric: Metric,
    observation: Observation,
    *,
    history: Sequence[Observation] = (),
    baseline_value: float | None = None,
    reference_counts: Sequence[float] | None = None,
) -> Evaluation:
    """Every check that applies to ``metric`` for one pulled window.

    Parameters
    ----------
    contract, metric
        The contract version the snapshot was pulled under, and the metric.
    observation
        The snapshot's value, sample size, statistics and window.
    history
        Earlier good snapshots of the metric, newest first (for the silent-failure average).
    baseline_value
        The value of a named baseline window for a ratio bound, computed by the caller from the
        snapshots in that window; a numeric ``baseline:`` in the contract needs nothing here.
    reference_counts
        The reference window's counts on the snapshot's edges, for drift when the statistics do
        not already carry the comparison.
    """
    checks = (
        _bound_finding(contract, metric, observation, baseline_value),
        _drift_finding(contract, metric, observation, reference_counts),
        _staleness_finding(contract, metric, observation),
        _silent_failure_finding(contract, metric, observation, history),
        _completeness_finding(contract, metric, observation),
        _fairness_finding(contract, metric, observation),
    )
    return Evaluation(metric=metric.name, findings=tuple(f for f in checks if f is not None))


def pipeline_finding(metric: Metric, *, failures: int, error: str | None, threshold: int = 3, permanent: bool = False) -> Finding:
    """The data-pipeline finding for a metric whose pulls keep failing.

    ``failures`` counts failed attempts since the last good pull. Transient errors (timeouts, a
    warehouse that is down) are retried, so the alert waits for ``threshold`` of them; an error
    retrying cannot fix (the SQL is rejected, a column is missing) breaches at once.
    """
    breached = failures > 0 and (permanent or failures >= threshold)
    common = {
        "metric": metric.name, "check": "pipeline", "title": f"{metric.title} data pipeline", "value": float(failures),
        "high": float(threshold - 1), "worse_when": "higher", "details": {"error": error, "permanent": permanent},
    }
    if breached:
        why = "the query cannot succeed as written" if permanent else f"{failures} failed attempts in a row"
        return Finding(
            status="violated", severity="critical",
            reason=f"{metric.title} could not be pulled ({why}): {error or 'unknown error'}", **common,
        )
    if failures:
        return Finding(status="at_risk", severity="info", reason=f"{metric.title}: {failures} failed attempt(s), retrying: {error}", **common)
    return Finding(status="ok", severity="info", reason=f"{metric.title} pulled", **common)
