"""The weekly metric audit: one contract's week, composed into what a busy PM reads first.

:func:`compose_audit` takes a contract, its metrics' weekly series (:class:`WeeklyPoint`, oldest
first, the audited week last) and what only storage knows (unsigned versions, failed pulls and
deliveries, a pause) and returns an :class:`Audit`: a headline sentence, a "Decision needed:" line
when there is one, the north star against last week and the launch baseline, every guardrail and
efficiency bar with its status, model health, and contract hygiene.

Guardrail status comes from :func:`metrics.evaluation.evaluate_metric` (passed in as
``evaluate=`` so a different evaluator can be swapped in): the audit must never disagree with the
alerts the team already received. Pure code: no I/O, no clock.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from metrics.classification import ScoreHistogram
from metrics.contract import Contract, Direction, Kind, Layer, Metric, Role
from metrics.drift import compare_binned, psi_band
from metrics.errors import MetricInputError
from metrics.evaluation import NEAR_FRACTION, Evaluation, Finding, Observation, evaluate_metric, format_value
from metrics.experiment import ProportionArm, two_proportion_test
from metrics.explain import format_count, format_money
from metrics.fairness import disaggregate
from metrics.lint import Severity, lint_contract

__all__ = [
    "REVIEW_QUESTION",
    "Audit",
    "BoundLine",
    "HealthLine",
    "Hygiene",
    "NorthStar",
    "TrendSeries",
    "WeeklyPoint",
    "compose_audit",
    "pool_points",
]

REVIEW_QUESTION = "If we were building this today, would we measure the same thing?"
#: Weeks after launch averaged for the launch baseline when no baseline window or value is given.
LAUNCH_WEEKS = 2
#: Weeks drawn in the trend chart.
TREND_WEEKS = 12
#: Below this relative change, with no interval to judge it, the north star is called flat.
FLAT_FRACTION = 0.01
_WEEK = timedelta(days=7)
# Statistics whose movement is about false positives or about misses, for the money line.
_FALSE_POSITIVE_STATS = frozenset({"false_positive_rate", "precision", "specificity"})
_FALSE_NEGATIVE_STATS = frozenset({"false_negative_rate", "recall"})

Evaluator = Callable[..., Evaluation]


@dataclass(frozen=True)
class WeeklyPoint:
    """One metric over one week: what the week's snapshots add up to."""

    week_end: date
    value: float | None
    sample_size: float | None = None
    stats: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class NorthStar:
    metric: str
    title: str
    unit: str
    direction: Direction
    value: float | None
    sample_size: float | None
    last_week: float | None
    launch_baseline: float | None
    change: float | None  # relative, against last week
    change_vs_launch: float | None  # relative, against the launch baseline
    p_value: float | None
    significant: bool | None  # None: no interval available
    trend_word: str  # "flat", "up 4.2%", "down 3.0%", "has no value this week"

    @property
    def noise_text(self) -> str:
        if self.significant is None:
            return "no interval available"
        p = "p < 0.001" if self.p_value is not None and self.p_value < 0.001 else f"p = {self.p_value:.3f}"
        return f"beyond noise ({p})" if self.significant else f"within noise ({p})"


@dataclass(frozen=True)
class BoundLine:
    """A guardrail or efficiency bar this week."""

    metric: str
    title: str
    role: Role
    unit: str
    value: float | None
    bound_text: str
    limit_text: str  # "bound 2%", "floor 75%"
    status: str
    reason: str
    since: date | None = None  # week end of the first week of the current run of violations
    weeks_violated: int = 0
    cost: float | None = None
    cost_text: str | None = None  # "about 540 legitimate customers blocked, ≈ $8,100 of manual review"


@dataclass(frozen=True)
class HealthLine:
    metric: str
    check: str  # drift, staleness, silent_failure, fairness
    status: str
    text: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hygiene:
    lint: tuple[str, ...] = ()
    core_metrics: int = 0
    unsigned_versions: tuple[int, ...] = ()
    touchpoints_due: tuple[str, ...] = ()
    review_due: bool = False
    weeks_since_launch: int | None = None
    problems: tuple[str, ...] = ()  # failed pulls and deliveries, passed in


@dataclass(frozen=True)
class TrendSeries:
    """What the trend chart draws: a metric's weeks, a baseline line and its allowed band."""

    title: str
    unit: str
    points: tuple[tuple[date, float | None], ...]
    baseline: float | None = None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Audit:
    contract: str
    title: str
    channel: str
    week_end: date
    headline: str
    decision: str | None
    paused_note: str | None
    north_star: NorthStar | None
    bounds: tuple[BoundLine, ...]
    health: tuple[HealthLine, ...]
    hygiene: Hygiene
    trend: tuple[TrendSeries, ...]
    currency: str = "USD"

    @property
    def violated(self) -> tuple[BoundLine, ...]:
        return tuple(b for b in self.bounds if b.status == "violated")


# --------------------------------------------------------------------------------------------
# Pooling snapshots into a week
# --------------------------------------------------------------------------------------------


def _histogram(stats: Mapping[str, Any] | None) -> ScoreHistogram | None:
    if not stats or not all(k in stats for k in ("edges", "pos", "neg", "segments")):
        return None
    try:
        return ScoreHistogram.from_dict(dict(stats))
    except (MetricInputError, TypeError, ValueError):
        return None


def _rate(metric: Metric, histogram: ScoreHistogram) -> float | None:
    spec = metric.spec()
    try:
        value = histogram.total().confusion_at(spec.threshold).value(spec.statistic, zero_division=math.nan)
    except MetricInputError:
        return None
    return None if math.isnan(value) else float(value)


def pool_points(metric: Metric, week_end: date, parts: Sequence[WeeklyPoint]) -> WeeklyPoint:
    """One week from the pulls inside it (daily pulls make seven parts).

    Classification histograms are merged and the statistic recomputed, so a week is the rate over
    all its rows, not an average of daily rates; distribution counts are summed; other values are
    averaged weighted by sample size.
    """
    parts = [p for p in parts if p.value is not None or p.stats]
    if len(parts) == 1:
        only = parts[0]
        return WeeklyPoint(week_end, only.value, only.sample_size, only.stats)
    if not parts:
        return WeeklyPoint(week_end, None)
    sizes = [p.sample_size for p in parts if p.sample_size is not None]
    total_n = float(sum(sizes)) if sizes else None
    if metric.kind is Kind.CLASSIFICATION:
        histograms = [_histogram(p.stats) for p in parts]
        if all(h is not None for h in histograms):
            try:
                merged = histograms[0]
                for h in histograms[1:]:
                    merged = merged.merge(h)
            except MetricInputError:
                merged = None
            if merged is not None:
                return WeeklyPoint(week_end, _rate(metric, merged), merged.n, merged.to_dict())
    stats: dict[str, Any] | None = None
    if metric.kind is Kind.DISTRIBUTION:
        counts = [p.stats.get("counts") for p in parts if p.stats]
        if counts and all(c is not None and len(c) == len(counts[0]) for c in counts):
            stats = {k: v for k, v in parts[-1].stats.items() if k not in ("drift", "counts")}
            stats["counts"] = [sum(c[i] for c in counts) for i in range(len(counts[0]))]
    valued = [p for p in parts if p.value is not None]
    if not valued:
        return WeeklyPoint(week_end, None, total_n, stats)
    if all(p.sample_size for p in valued):
        value = sum(p.value * p.sample_size for p in valued) / sum(p.sample_size for p in valued)
    else:
        value = sum(p.value for p in valued) / len(valued)
    return WeeklyPoint(week_end, value, total_n, stats if stats is not None else parts[-1].stats)


# --------------------------------------------------------------------------------------------
# Pieces
# --------------------------------------------------------------------------------------------


def _observation(point: WeeklyPoint) -> Observation:
    # The window is the week, so evaluation's weekly scale is 1: the counts are the week's.
    end = datetime.combine(point.week_end, time(), tzinfo=UTC)
    return Observation(value=point.value, sample_size=point.sample_size, stats=point.stats, window_start=end - _WEEK, window_end=end)


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def launch_baseline(contract: Contract, metric: Metric, series: Sequence[WeeklyPoint], baseline_points: Mapping[str, WeeklyPoint]) -> float | None:
    # ``baseline_points``: this metric's pooled point per baseline window name.
    """The baseline windows' mean if any, else the metric's launch_baseline, else the first weeks after launch."""
    if contract.baselines:
        value = _mean([baseline_points[name].value for name in contract.baselines if name in baseline_points])
        if value is not None:
            return value
    if metric.launch_baseline is not None:
        return metric.launch_baseline
    if contract.launched_on is not None:
        after = [p.value for p in series if p.week_end > contract.launched_on and p.value is not None]
        return _mean(after[:LAUNCH_WEEKS])
    return None


def _relative(new: float | None, old: float | None) -> float | None:
    if new is None or old is None or old == 0:
        return None
    return new / old - 1


def _is_rate(metric: Metric, point: WeeklyPoint) -> bool:
    if point.value is None or not 0 <= point.value <= 1:
        return False
    return metric.unit == "%" or metric.kind is Kind.CLASSIFICATION


def _change_test(metric: Metric, this: WeeklyPoint, last: WeeklyPoint | None) -> tuple[bool | None, float | None]:
    """(significant, p) for a rate with known n, week on week; (None, None) when there is no interval."""
    if last is None or not (_is_rate(metric, this) and _is_rate(metric, last)):
        return None, None
    if not this.sample_size or not last.sample_size or this.sample_size < 1 or last.sample_size < 1:
        return None, None
    control = ProportionArm(round(last.value * last.sample_size), round(last.sample_size))
    treatment = ProportionArm(round(this.value * this.sample_size), round(this.sample_size))
    with warnings.catch_warnings():
        # Both weeks all-or-nothing: the test reports p = 1, which is the honest answer here.
        warnings.simplefilter("ignore")
        result = two_proportion_test(control, treatment)
    return result.significant, result.p_value


def _north_star(contract: Contract, metric: Metric, series: Sequence[WeeklyPoint], baseline_points: Mapping[str, WeeklyPoint], week_end: date) -> NorthStar:
    this = series[-1] if series and series[-1].week_end == week_end else WeeklyPoint(week_end, None)
    earlier = [p for p in series if p.week_end < week_end]
    last = earlier[-1] if earlier and earlier[-1].week_end == week_end - _WEEK else None
    baseline = launch_baseline(contract, metric, series, baseline_points)
    change = _relative(this.value, last.value if last else None)
    significant, p_value = _change_test(metric, this, last)
    if this.value is None:
        word = "has no value this week"
    elif change is None or significant is False or (significant is None and abs(change) < FLAT_FRACTION):
        word = "flat"
    else:
        word = f"{'up' if change > 0 else 'down'} {abs(change):.1%}"
    return NorthStar(
        metric=metric.name, title=metric.title, unit=metric.unit, direction=metric.direction, value=this.value,
        sample_size=this.sample_size, last_week=last.value if last else None, launch_baseline=baseline, change=change,
        change_vs_launch=_relative(this.value, baseline), p_value=p_value, significant=significant, trend_word=word,
    )


def _bound_baseline(contract: Contract, metric: Metric, baseline_points: Mapping[str, WeeklyPoint]) -> float | None:
    bound = metric.bound
    if bound is None:
        return None
    if isinstance(bound.baseline, str):
        point = baseline_points.get(bound.baseline)
        return point.value if point else None
    return contract.baseline_value(metric)


def _cost(contract: Contract, metric: Metric, point: WeeklyPoint) -> tuple[float | None, str | None]:
    """The week's false positives (or misses) and what they cost, from the snapshot's histogram."""
    if metric.kind is not Kind.CLASSIFICATION:
        return None, None
    histogram = _histogram(point.stats)
    if histogram is None:
        return None, None
    spec = metric.spec()
    try:
        confusion = histogram.total().confusion_at(spec.threshold)
    except MetricInputError:
        return None, None
    business = contract.business
    if spec.statistic in _FALSE_POSITIVE_STATS:
        count, cost = confusion.fp, confusion.fp * business.cost_false_positive
        who, means = f"{business.negative}s {business.acted}", business.false_positive_cost_means
    elif spec.statistic in _FALSE_NEGATIVE_STATS:
        count, cost = confusion.fn, confusion.fn * business.cost_false_negative
        who, means = f"{business.positive}s missed", business.false_negative_cost_means
    else:
        return None, None
    return cost, f"about {format_count(count)} {who}, ≈ {format_money(cost, business.currency)} of {means}"


def _limit_text(metric: Metric, finding: Finding | None) -> str:
    if finding is None:
        return "no bound"
    if finding.high is not None and (finding.low is None or metric.direction is Direction.DECREASE):
        return f"bound {format_value(finding.high, metric.unit)}"
    if finding.low is not None:
        return f"floor {format_value(finding.low, metric.unit)}"
    return "bound not judged"


def _bound_line(contract: Contract, metric: Metric, series: Sequence[WeeklyPoint], baseline_points: Mapping[str, WeeklyPoint], week_end: date, evaluate: Evaluator) -> BoundLine:
    baseline = _bound_baseline(contract, metric, baseline_points)
    bound_text = metric.bound.describe(baseline) if metric.bound else "no bound"
    this = series[-1] if series and series[-1].week_end == week_end else WeeklyPoint(week_end, None)

    def judge(index: int) -> Finding | None:
        point = series[index]
        history = [_observation(p) for p in reversed(series[:index])]
        return evaluate(contract, metric, _observation(point), history=history, baseline_value=baseline).finding("bound")

    finding = judge(len(series) - 1) if series and series[-1] is this else None
    status = finding.status if finding else "insufficient_data"
    reason = finding.reason if finding else f"{metric.title}: no value this week"
    since, weeks = None, 0
    cost = cost_text = None
    if status == "violated":
        # Walk back through consecutive weeks still violated to say since when.
        index = len(series) - 1
        expected = week_end
        while index >= 0 and series[index].week_end == expected:
            earlier = judge(index) if index != len(series) - 1 else finding
            if earlier is None or earlier.status != "violated":
                break
            since, weeks = series[index].week_end, weeks + 1
            index, expected = index - 1, expected - _WEEK
        cost, cost_text = _cost(contract, metric, this)
    return BoundLine(
        metric=metric.name, title=metric.title, role=metric.role, unit=metric.unit, value=this.value, bound_text=bound_text,
        limit_text=_limit_text(metric, finding), status=status, reason=reason, since=since, weeks_violated=weeks,
        cost=cost, cost_text=cost_text,
    )


def _drift_line(metric: Metric, point: WeeklyPoint, reference_counts: Sequence[float] | None = None) -> HealthLine | None:
    """PSI band this week: the pull's own comparison, else against the reference counts, else the value."""
    stats = dict(point.stats or {})
    if reference_counts and "reference_counts" not in stats:
        stats["reference_counts"] = list(reference_counts)
    reference = metric.spec().reference
    against = f"the {reference} window" if reference else "its reference"
    drift = stats.get("drift")
    if drift is None and stats.get("reference_counts") and stats.get("counts") and sum(stats["counts"]) > 0:
        try:
            result = compare_binned(list(stats["reference_counts"]), list(stats["counts"]))
            drift = {"psi": result.psi, "band": result.band, "significant": result.significant}
        except MetricInputError:
            drift = None
    if drift is None:
        if point.value is None:
            return HealthLine(metric.name, "drift", "insufficient_data", f"{metric.title}: no drift value this week")
        psi = float(point.value)
        try:
            drift = {"psi": psi, "band": psi_band(psi), "significant": None}
        except MetricInputError:
            return HealthLine(metric.name, "drift", "insufficient_data", f"{metric.title}: drift value {psi!r} cannot be read")
    band = drift["band"]
    status = {"stable": "ok", "moderate": "near", "significant": "violated"}[band]
    if band == "significant" and drift.get("significant") is False:
        status = "near"  # a big PSI on few rows: the chi-square test cannot tell it from chance
    text = f"{metric.title}: PSI {float(drift['psi']):.2f} against {against}, {band}"
    return HealthLine(metric.name, "drift", status, text, {"psi": float(drift["psi"]), "band": band})


def _fairness_line(contract: Contract, metric: Metric, point: WeeklyPoint) -> HealthLine | None:
    spec = metric.spec()
    if spec.segment_column is None:
        return None
    histogram = _histogram(point.stats)
    if histogram is None or len(histogram.segments) < 2:
        return HealthLine(metric.name, "fairness", "insufficient_data", f"{metric.title}: fewer than two segments this week")
    statistic = spec.disparity_statistic or spec.statistic
    try:
        values = histogram.by_segment(statistic, spec.threshold, zero_division=0.0)
    except MetricInputError:
        return None
    sizes = {name: int(histogram.segment(name).n) for name in histogram.segments}
    floor = metric.min_sample_size if metric.min_sample_size is not None else contract.noise.min_sample_size
    label = metric.title if statistic == spec.statistic else statistic.replace("_", " ")
    try:
        disparity = disaggregate(values, min_n=sizes, min_samples=floor)
    except MetricInputError:
        return HealthLine(metric.name, "fairness", "insufficient_data", f"{metric.title}: no segment has the {floor:,} rows needed to compare segments")
    sentence = disparity.describe(label, percent=metric.unit == "%" or statistic != "f1")
    limit = spec.max_disparity
    status = "ok"
    if limit is not None and len(disparity.values) >= 2:
        if disparity.ratio > limit:
            status, sentence = "violated", f"{sentence}, beyond the {limit:g}× disparity bound"
        elif disparity.ratio > limit * (1 - NEAR_FRACTION):
            status, sentence = "near", f"{sentence}, close to the {limit:g}× disparity bound"
    details = {"highest": disparity.highest, "lowest": disparity.lowest, "ratio": disparity.ratio}
    return HealthLine(metric.name, "fairness", status, sentence, details)


def _health(contract: Contract, metric: Metric, series: Sequence[WeeklyPoint], baselines: Mapping[str, WeeklyPoint], week_end: date, evaluate: Evaluator) -> list[HealthLine]:
    if not series or series[-1].week_end != week_end:
        return []
    point = series[-1]
    lines: list[HealthLine] = []
    if metric.kind is Kind.DISTRIBUTION:
        reference = baselines.get(metric.spec().reference or "")
        line = _drift_line(metric, point, (reference.stats or {}).get("counts") if reference else None)
        if line:
            lines.append(line)
    history = [_observation(p) for p in reversed(series[:-1])]
    evaluation = evaluate(contract, metric, _observation(point), history=history)
    staleness = evaluation.finding("staleness")
    if staleness is not None and metric.layer is Layer.MODEL and staleness.judged:
        text = staleness.reason
        if staleness.status == "violated" and "retraining trigger" not in text:
            text += " (retraining trigger)"
        lines.append(HealthLine(metric.name, "staleness", staleness.status, text, dict(staleness.details)))
    silent = evaluation.finding("silent_failure")
    if silent is not None and silent.status == "violated":
        lines.append(HealthLine(metric.name, "silent_failure", silent.status, silent.reason))
    if metric.kind is Kind.CLASSIFICATION:
        line = _fairness_line(contract, metric, point)
        if line:
            lines.append(line)
    return lines


def _within_week(day: date, week_end: date) -> bool:
    return week_end - _WEEK < day <= week_end


def _hygiene(contract: Contract, week_end: date, unsigned_versions: Sequence[int], problems: Sequence[str]) -> Hygiene:
    lint = tuple(
        f"{f.severity.value}: {f.subject}: {f.message}"
        for f in lint_contract(contract).findings
        if f.severity in (Severity.ERROR, Severity.WARNING)
    )
    touchpoints: list[str] = []
    review_due = False
    weeks_since = None
    launched = contract.launched_on
    if launched is not None and launched <= week_end:
        weeks_since = (week_end - launched).days // 7
        for t in contract.validation_touchpoints:
            if _within_week(launched + t.after_weeks * _WEEK, week_end):
                touchpoints.append(f"{t.check} (check due at {t.after_weeks} weeks)")
        every = contract.review_every_weeks
        if every:
            cycles = (week_end - launched).days // (7 * every)
            review_due = cycles >= 1 and _within_week(launched + cycles * every * _WEEK, week_end)
    return Hygiene(
        lint=lint, core_metrics=sum(1 for m in contract.metrics if m.is_core), unsigned_versions=tuple(unsigned_versions),
        touchpoints_due=tuple(touchpoints), review_due=review_due, weeks_since_launch=weeks_since, problems=tuple(problems),
    )


def _trend(contract: Contract, north: NorthStar | None, series: Mapping[str, Sequence[WeeklyPoint]], bounds: Sequence[BoundLine], baseline_points: Mapping[str, Mapping[str, WeeklyPoint]]) -> tuple[TrendSeries, ...]:
    out: list[TrendSeries] = []
    if north is not None:
        points = tuple((p.week_end, p.value) for p in series.get(north.metric, ())[-TREND_WEEKS:])
        metric = contract.metric(north.metric)
        low, high = metric.bound.limits(None) if metric.bound else (None, None)
        out.append(TrendSeries(north.title, north.unit, points, north.launch_baseline, low, high))
    # The guardrail most in trouble is drawn under it, with the band it must stay inside.
    order = {"violated": 0, "at_risk": 1, "near": 2, "ok": 3, "insufficient_data": 4}
    guarded = sorted((b for b in bounds if b.role is Role.GUARDRAIL), key=lambda b: order.get(b.status, 5))
    if guarded:
        worst = guarded[0]
        metric = contract.metric(worst.metric)
        baseline = _bound_baseline(contract, metric, baseline_points.get(metric.name, {}))
        low, high = metric.bound.limits(baseline)
        points = tuple((p.week_end, p.value) for p in series.get(worst.metric, ())[-TREND_WEEKS:])
        out.append(TrendSeries(worst.title, worst.unit, points, baseline, low, high))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------------


def _noun(lines: Sequence[BoundLine]) -> str:
    roles = {line.role for line in lines}
    one = "guardrail" if roles == {Role.GUARDRAIL} else "efficiency bar" if roles == {Role.EFFICIENCY} else "bound"
    return one if len(lines) == 1 else one + "s"


def _violation_phrase(line: BoundLine, currency: str) -> str:
    text = f"{line.title} {format_value(line.value, line.unit)} ({line.limit_text})"
    if line.cost is not None:
        text += f", ≈ {format_money(line.cost, currency)} this week"
    return text


def _headline(contract: Contract, north: NorthStar | None, bounds: Sequence[BoundLine], health: Sequence[HealthLine]) -> str:
    parts = [f"North star {north.trend_word}" if north else "No north star"]
    violated = [b for b in bounds if b.status == "violated"]
    currency = contract.business.currency
    if violated:
        shown = "; ".join(_violation_phrase(b, currency) for b in violated[:2])
        more = f"; and {len(violated) - 2} more" if len(violated) > 2 else ""
        parts.append(f"{len(violated)} {_noun(violated)} violated: {shown}{more}")
    else:
        near = [b for b in bounds if b.status in ("near", "at_risk")]
        judged = [b for b in bounds if b.status != "insufficient_data"]
        if near:
            parts.append(f"{len(near)} {_noun(near)} close to {'its' if len(near) == 1 else 'their'} bound")
        elif judged:
            parts.append("every guardrail within bounds")
    retrain = [h for h in health if h.check == "staleness" and h.status == "violated"]
    if retrain:
        parts.append(f"retraining trigger on {', '.join(contract.metric(h.metric).title for h in retrain)}")
    return "; ".join(parts)


def _decision(contract: Contract, bounds: Sequence[BoundLine], health: Sequence[HealthLine], hygiene: Hygiene) -> str | None:
    asks: list[str] = []
    for line in bounds:
        if line.status == "violated" and line.role is Role.GUARDRAIL:
            weeks = f" for {line.weeks_violated} weeks" if line.weeks_violated > 1 else " this week"
            asks.append(f"{line.title} has been beyond its bound{weeks}: roll back, fix, or change the bound with the signers")
    retrain = [contract.metric(h.metric).title for h in health if h.check == "staleness" and h.status == "violated"]
    if retrain:
        asks.append(f"retrain or accept the drop in {', '.join(retrain)}")
    if hygiene.review_due:
        asks.append("answer the metric review below")
    if not asks:
        return None
    return "Decision needed: " + "; ".join(asks[:3]) + (f"; and {len(asks) - 3} more" if len(asks) > 3 else "")


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def compose_audit(
    contract: Contract,
    series: Mapping[str, Sequence[WeeklyPoint]],
    *,
    week_end: date,
    baseline_points: Mapping[str, Mapping[str, WeeklyPoint]] | None = None,
    unsigned_versions: Sequence[int] = (),
    problems: Sequence[str] = (),
    paused_until: datetime | None = None,
    now: datetime | None = None,
    evaluate: Evaluator = evaluate_metric,
) -> Audit:
    """Compose one week's audit of ``contract``.

    Parameters
    ----------
    series
        Weekly points per metric name, oldest first; the audited week is the one ending on
        ``week_end`` (a metric whose last point ends earlier has no value this week).
    baseline_points
        Per metric name, its pooled point in each named baseline window (``contract.baselines``):
        the launch baseline, ratio bounds' baselines and drift references come from them.
    unsigned_versions, problems
        Contract versions missing a signer; failed pulls and deliveries, already in words.
    paused_until, now
        A pause still running at ``now`` is said at the top.
    evaluate
        The evaluator giving guardrail status and health findings (:func:`evaluate_metric`).
    """
    baseline_points = dict(baseline_points or {})
    star = contract.north_star
    north = _north_star(contract, star, series.get(star.name, ()), baseline_points.get(star.name, {}), week_end) if star else None
    bounds = tuple(
        _bound_line(contract, m, series.get(m.name, ()), baseline_points.get(m.name, {}), week_end, evaluate)
        for m in contract.metrics
        if m.role in (Role.GUARDRAIL, Role.EFFICIENCY) and m.bound is not None
    )
    health = tuple(
        line for m in contract.metrics for line in _health(contract, m, series.get(m.name, ()), baseline_points.get(m.name, {}), week_end, evaluate)
    )
    hygiene = _hygiene(contract, week_end, unsigned_versions, problems)
    paused_note = None
    if paused_until is not None and (now is None or paused_until > now):
        paused_note = f"Paused until {paused_until:%Y-%m-%d %H:%M} UTC: no pulls or alerts until then; this audit shows the last data pulled."
    return Audit(
        contract=contract.name,
        title=contract.display_name,
        channel=contract.channel,
        week_end=week_end,
        headline=_headline(contract, north, bounds, health),
        decision=_decision(contract, bounds, health, hygiene),
        paused_note=paused_note,
        north_star=north,
        bounds=bounds,
        health=health,
        hygiene=hygiene,
        trend=_trend(contract, north, series, bounds, baseline_points),
        currency=contract.business.currency,
    )
