"""The launch scorecard: one experiment read against the contract that was signed before it ran.

Pure code: the contract, the experiment's name and per-arm sufficient statistics in, a
:class:`Scorecard` out. The scorecard is frozen into the launch decision as JSON
(:meth:`Scorecard.to_dict`), so what the signers voted on can be shown again unchanged even
after the contract or the data move on.

How a metric is judged depends on its role:

* north star and secondary metrics get a verdict ``win`` / ``flat`` / ``loss``: ``flat`` when the
  confidence interval of the lift includes zero, otherwise win or loss in the metric's direction;
* guardrails and efficiency bars ``hold`` or are ``violated``: violated when the treatment value
  breaks the metric's bound, or when the lift shows harm, judged by the bound's ``judged_by``:
  ``no_significant_harm`` (the default; the interval lies wholly on the harmful side of zero, at
  the contract's ``launch.alpha``, not corrected for the number of metrics because a guardrail
  exists to be sensitive) or ``non_inferiority`` (holds only when the interval excludes a loss
  larger than ``margin``, in the metric's own units);
* anti-gaming and diagnostic metrics are reported (``info``) but not scored.

When the experiment is ``sequential`` the team peeks every week, so every verdict uses the
always-valid confidence sequence rather than the fixed-horizon interval (which is still shown).

Score = Σ weight × verdict (win +1, flat 0, loss −1) + ``weights.guardrail_violation`` per violated
guardrail or efficiency bar. Recommendation: any violation → ``block``; a sample-ratio mismatch
or a guardrail without data → ``hold``; score > 0 with a north-star win → ``ship``; else ``hold``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from metrics.contract import Contract, Direction, Layer, Metric, Role
from metrics.errors import MetricInputError, UndefinedMetricWarning
from metrics.experiment import (
    Arm,
    MeanArm,
    ProportionArm,
    minimum_detectable_effect,
    sample_ratio_mismatch,
    sequential_test,
    two_proportion_test,
    welch_t_test,
)

__all__ = [
    "MetricResult",
    "Scorecard",
    "arms_from_stats",
    "build_scorecard",
    "format_value",
]

WIN, FLAT, LOSS = "win", "flat", "loss"
HOLDS, VIOLATED = "holds", "violated"
INFO, MISSING = "info", "missing"
SHIP, HOLD, BLOCK = "ship", "hold", "block"

SCORED_ROLES = (Role.NORTH_STAR, Role.SECONDARY)
BAR_ROLES = (Role.GUARDRAIL, Role.EFFICIENCY)
OUTCOME_LAYERS = (Layer.PRODUCT, Layer.BUSINESS)
_VERDICT_POINTS = {WIN: 1, FLAT: 0, LOSS: -1}


# --------------------------------------------------------------------------- input


def arms_from_stats(stats: Mapping[str, Any], *, control: str, treatment: str) -> tuple[Arm, Arm]:
    """The two arms of an experiment push-down result.

    ``stats`` is what an experiment pull stores: ``{"type": "proportion" | "mean", "variants":
    {name: {"successes", "trials"} | {"n", "sum", "sum_sq"}}}``. Raises
    :class:`MetricInputError` naming a missing arm or an unknown type.

    Examples
    --------
    >>> c, t = arms_from_stats({"type": "proportion", "variants": {"control": {"successes": 5, "trials": 10},
    ...                         "v2": {"successes": 6, "trials": 10}}}, control="control", treatment="v2")
    >>> c.rate, t.rate
    (0.5, 0.6)
    """
    kind = stats.get("type")
    variants = stats.get("variants") or {}
    cls = {"proportion": ProportionArm, "mean": MeanArm}.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise MetricInputError(f"experiment stats type must be 'proportion' or 'mean', got {kind!r}")
    arms = []
    for arm in (control, treatment):
        if arm not in variants:
            raise MetricInputError(f"experiment stats have no arm {arm!r} (arms: {', '.join(sorted(variants)) or 'none'})")
        try:
            arms.append(cls.from_dict(variants[arm]))
        except (KeyError, TypeError) as exc:
            raise MetricInputError(f"arm {arm!r} is missing {exc} for a {kind} metric") from exc
    return arms[0], arms[1]


# --------------------------------------------------------------------------- output


@dataclass(frozen=True)
class MetricResult:
    """One metric of the experiment as the signers see it.

    ``abs_ci`` / ``rel_ci`` are the fixed-horizon ``1 - alpha`` intervals; ``cs`` is the
    always-valid confidence sequence for the absolute lift (sequential experiments only);
    ``verdict`` is one of win, flat, loss, holds, violated, info, missing. Non-finite numbers
    are stored as None so the result survives JSON (and PostgreSQL's JSON type).
    """

    name: str
    title: str
    role: str
    layer: str
    direction: str
    type: str
    unit: str
    verdict: str
    control_value: float | None = None
    treatment_value: float | None = None
    control_n: int | None = None
    treatment_n: int | None = None
    absolute_lift: float | None = None
    abs_ci: tuple[float | None, float | None] | None = None
    relative_lift: float | None = None
    rel_ci: tuple[float | None, float | None] | None = None
    p_value: float | None = None
    always_valid_p: float | None = None
    cs: tuple[float | None, float | None] | None = None
    weight: float = 0.0
    points: float = 0.0
    bound: str | None = None
    violation: str | None = None
    detectable_relative_effect: float | None = None
    note: str | None = None

    @property
    def is_proportion(self) -> bool:
        return self.type == "proportion"


@dataclass(frozen=True)
class Scorecard:
    """The whole read-out: per-metric results, score, recommendation and the one-line why."""

    contract: str
    experiment: str
    control: str
    treatment: str
    alpha: float
    sequential: bool
    metrics: tuple[MetricResult, ...]
    score: float
    recommendation: str
    summary: str
    flags: tuple[str, ...] = ()
    srm_p_value: float | None = None
    srm_mismatch: bool = False
    context: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def metric(self, name: str) -> MetricResult | None:
        return next((m for m in self.metrics if m.name == name), None)

    @property
    def violations(self) -> list[MetricResult]:
        return [m for m in self.metrics if m.verdict == VIOLATED]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data (tuples as lists, NaN and infinities as None)."""
        return _json_safe(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scorecard:
        """Inverse of :meth:`to_dict`."""
        names = {f.name for f in fields(MetricResult)}
        metrics = []
        for item in data.get("metrics") or ():
            values = {k: v for k, v in item.items() if k in names}
            for key in ("abs_ci", "rel_ci", "cs"):
                if values.get(key) is not None:
                    values[key] = tuple(values[key])
            metrics.append(MetricResult(**values))
        return cls(
            contract=data["contract"],
            experiment=data["experiment"],
            control=data["control"],
            treatment=data["treatment"],
            alpha=data["alpha"],
            sequential=data["sequential"],
            metrics=tuple(metrics),
            score=data["score"],
            recommendation=data["recommendation"],
            summary=data["summary"],
            flags=tuple(data.get("flags") or ()),
            srm_p_value=data.get("srm_p_value"),
            srm_mismatch=bool(data.get("srm_mismatch")),
            context=tuple(data.get("context") or ()),
        )


# --------------------------------------------------------------------------- building


def build_scorecard(
    contract: Contract,
    experiment_name: str | None,
    arms: Mapping[str, tuple[Arm, Arm]],
    *,
    values: Mapping[str, float | None] | None = None,
) -> Scorecard:
    """Read an experiment against its contract.

    Parameters
    ----------
    contract : Contract
    experiment_name : str or None
        The experiment to read; the contract's first one when None.
    arms : mapping of metric name to (control, treatment)
        Cumulative sufficient statistics per metric of the experiment. A metric without arms is
        reported as ``missing``.
    values : mapping of metric name to float, optional
        Latest observed values of the contract's other core metrics (from ordinary value
        snapshots), shown for context and never scored: they are not a comparison.

    Raises
    ------
    MetricInputError
        When the contract has no such experiment.
    """
    experiment = contract.experiment(experiment_name)
    if experiment is None:
        known = ", ".join(e.name for e in contract.experiments) or "none"
        raise MetricInputError(f"contract {contract.name!r} has no experiment {experiment_name!r} (experiments: {known})")
    alpha = contract.launch.alpha
    results: list[MetricResult] = []
    flags: list[str] = []
    for name, spec in experiment.metrics.items():
        metric = contract.metric(name)
        assert metric is not None  # the contract validator guarantees experiment metrics exist
        pair = arms.get(name)
        if pair is None:
            results.append(_missing(contract, metric, spec.type, "no experiment data yet"))
            continue
        try:
            results.append(_judge(contract, metric, spec.type, pair, alpha=alpha, sequential=experiment.sequential,
                                  mde=experiment.minimum_detectable_effect))
        except MetricInputError as exc:
            results.append(_missing(contract, metric, spec.type, str(exc)))

    srm_p, srm = _srm(arms, experiment.metrics, experiment.planned_split)
    score = sum(r.points for r in results)
    violated = [r for r in results if r.verdict == VIOLATED]
    blind_bars = [r for r in results if r.verdict == MISSING and Role(r.role) in BAR_ROLES]
    star = next((r for r in results if r.role == Role.NORTH_STAR), None)
    if violated:
        recommendation = BLOCK
    elif srm or blind_bars:
        recommendation = HOLD
    elif score > 0 and star is not None and star.verdict == WIN:
        recommendation = SHIP
    else:
        recommendation = HOLD

    if srm:
        flags.append(
            f"Sample ratio mismatch (p = {srm_p:.2g}): the arms are not split {experiment.planned_split[0]:g}/"
            f"{experiment.planned_split[1]:g} as planned, so every number here is suspect until the assignment is fixed."
        )
    underpowered = [r for r in results if r.detectable_relative_effect is not None
                    and experiment.minimum_detectable_effect is not None
                    and r.detectable_relative_effect > experiment.minimum_detectable_effect]
    for r in underpowered:
        flags.append(
            f"Too little data for {r.title}: it can only detect a {_pct(r.detectable_relative_effect)} change so far, "
            f"the experiment was planned to see {_pct(experiment.minimum_detectable_effect)}."
        )
    model_wins = [r for r in results if r.layer == Layer.MODEL and r.verdict == WIN]
    outcomes = [r for r in results if r.layer in OUTCOME_LAYERS and Role(r.role) in SCORED_ROLES]
    if model_wins and outcomes and not any(r.verdict == WIN for r in outcomes):
        flags.append(
            f"The model improved, the product did not: {_names(model_wins)} won but {_names(outcomes)} did not move."
        )
    elif model_wins and not outcomes:
        flags.append(
            f"The model improved ({_names(model_wins)}), but no product or business outcome is measured in this "
            "experiment: the win is not yet a product win."
        )
    for r in results:
        if r.verdict == MISSING:
            flags.append(f"No usable data for {r.title}: {r.note}.")

    context = tuple(
        {"name": m.name, "title": m.title, "role": m.role.value, "unit": m.unit, "value": _finite(values.get(m.name))}
        for m in contract.metrics
        if values and m.name in values and m.name not in experiment.metrics and m.is_core
    )
    return Scorecard(
        contract=contract.name,
        experiment=experiment.name,
        control=experiment.control,
        treatment=experiment.treatment,
        alpha=alpha,
        sequential=experiment.sequential,
        metrics=tuple(results),
        score=round(score, 6),
        recommendation=recommendation,
        summary=_summary(results, recommendation, srm=srm, blind=blind_bars),
        flags=tuple(flags),
        srm_p_value=srm_p,
        srm_mismatch=srm,
        context=context,
    )


def _missing(contract: Contract, metric: Metric, kind: str, why: str) -> MetricResult:
    return MetricResult(
        name=metric.name, title=metric.title, role=metric.role.value, layer=metric.layer.value,
        direction=metric.direction.value, type=kind, unit=metric.unit, verdict=MISSING,
        weight=contract.weight_for(metric), bound=_bound_text(contract, metric), note=why,
    )


def _judge(contract: Contract, metric: Metric, kind: str, pair: tuple[Arm, Arm], *, alpha: float,
           sequential: bool, mde: float | None) -> MetricResult:
    control, treatment = pair
    if kind == "proportion" and not (isinstance(control, ProportionArm) and isinstance(treatment, ProportionArm)):
        raise MetricInputError(f"{metric.name} is a proportion in the experiment but its arms are not successes/trials")
    if kind == "mean" and not (isinstance(control, MeanArm) and isinstance(treatment, MeanArm)):
        raise MetricInputError(f"{metric.name} is a mean in the experiment but its arms are not n/sum/sum_sq")
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        # Undefined pieces (a zero control rate, no variation yet) come back as NaN; they are
        # reported on the card instead of surfacing as warnings in a Slack handler.
        warnings.simplefilter("always", UndefinedMetricWarning)
        lift = two_proportion_test(control, treatment, alpha=alpha) if kind == "proportion" else welch_t_test(control, treatment, alpha=alpha)
        seq = sequential_test(control, treatment, alpha=alpha) if sequential else None
    notes.extend(str(w.message) for w in caught if issubclass(w.category, UndefinedMetricWarning))

    low, high = (seq.cs_low, seq.cs_high) if seq is not None else lift.abs_ci
    better = 1 if metric.direction is Direction.INCREASE else -1
    # Signed so that positive is always "better": lets one rule serve both directions.
    good_low, good_high = sorted((better * low, better * high))
    role = metric.role
    verdict, violation, points = INFO, None, 0.0
    weight = contract.weight_for(metric)
    if role in SCORED_ROLES:
        verdict = WIN if good_low > 0 else LOSS if good_high < 0 else FLAT
        points = weight * _VERDICT_POINTS[verdict]
    elif role in BAR_ROLES:
        verdict = HOLDS
        bound = metric.bound
        limit_low, limit_high = bound.limits(contract.baseline_value(metric)) if bound is not None else (None, None)
        t_value = lift.treatment_value
        if limit_high is not None and t_value > limit_high:
            violation = f"{format_value(t_value, metric, kind)} against a {format_value(limit_high, metric, kind)} bound"
        elif limit_low is not None and t_value < limit_low:
            violation = f"{format_value(t_value, metric, kind)} below its {format_value(limit_low, metric, kind)} floor"
        elif bound is not None and bound.judged_by == "non_inferiority":
            margin = float(bound.margin or 0.0)
            if not good_low > -margin:
                violation = (f"not shown within the {format_value(margin, metric, kind, signed=False)} "
                             f"non-inferiority margin ({_abs_range(low, high, metric, kind)})")
        elif good_high < 0:
            violation = f"significantly worse ({_abs_range(low, high, metric, kind)})"
        if violation is not None:
            verdict = VIOLATED
            points = contract.weights.guardrail_violation
    detectable = _detectable(control, treatment, kind, alpha) if role in SCORED_ROLES and mde is not None else None
    return MetricResult(
        name=metric.name, title=metric.title, role=role.value, layer=metric.layer.value,
        direction=metric.direction.value, type=kind, unit=metric.unit, verdict=verdict,
        control_value=_finite(lift.control_value), treatment_value=_finite(lift.treatment_value),
        control_n=int(control.n), treatment_n=int(treatment.n),
        absolute_lift=_finite(lift.absolute_lift), abs_ci=_pair(lift.abs_ci),
        relative_lift=_finite(lift.relative_lift), rel_ci=_pair(lift.rel_ci),
        p_value=_finite(lift.p_value),
        always_valid_p=_finite(seq.always_valid_p) if seq is not None else None,
        cs=_pair((seq.cs_low, seq.cs_high)) if seq is not None else None,
        weight=weight, points=points, bound=_bound_text(contract, metric), violation=violation,
        detectable_relative_effect=_finite(detectable), note="; ".join(notes) or None,
    )


def _detectable(control: Arm, treatment: Arm, kind: str, alpha: float) -> float | None:
    """Relative effect the current sample can detect at 80% power; None when undefined."""
    try:
        ratio = treatment.n / control.n
        if kind == "proportion":
            base = control.rate  # type: ignore[union-attr]
            absolute = minimum_detectable_effect(base, control.n, alpha=alpha, ratio=ratio)
        else:
            base = control.mean  # type: ignore[union-attr]
            absolute = minimum_detectable_effect(base, control.n, sd=control.std, alpha=alpha, ratio=ratio)  # type: ignore[union-attr]
    except MetricInputError:
        return None
    return absolute / abs(base) if base else None


def _srm(arms: Mapping[str, tuple[Arm, Arm]], metric_names, planned: tuple[float, float]) -> tuple[float | None, bool]:
    """Check the split on the metric with the widest population.

    The widest population is the closest thing to "units assigned"; a narrower one (fraud
    transactions only, blocked ones only) can shift between arms because of the treatment
    itself, which is an effect, not a broken split.
    """
    candidates = [arms[n] for n in metric_names if n in arms]
    if not candidates:
        return None, False
    control, treatment = max(candidates, key=lambda pair: pair[0].n + pair[1].n)
    result = sample_ratio_mismatch([control.n, treatment.n], list(planned))
    return result.p_value, result.mismatch


# --------------------------------------------------------------------------- words


def format_value(value: float | None, metric: Metric | MetricResult, kind: str | None = None, *, signed: bool = False) -> str:
    """A value in the metric's unit: percentages for rates, the unit otherwise."""
    if value is None or not math.isfinite(value):
        return "—"
    unit = metric.unit
    kind = kind or getattr(metric, "type", None)
    sign = "+" if signed else ""
    if unit == "%" or (kind == "proportion" and not unit):
        return f"{100 * value:{sign}.1f}".rstrip("0").rstrip(".") + "%"
    text = f"{value:{sign},.3g}"
    if unit == "$":
        return (text[0] + "$" + text[1:]) if text[0] in "+-" else "$" + text
    return f"{text} {unit}".rstrip() if unit and unit not in ("ms", "s") else f"{text}{unit}"


def _pct(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{100 * value:+.0f}%"


def _abs_range(low: float, high: float, metric: Metric, kind: str) -> str:
    return f"change {format_value(low, metric, kind, signed=True)}…{format_value(high, metric, kind, signed=True)}"


def _lift_phrase(r: MetricResult) -> str:
    title = r.title[:1].upper() + r.title[1:]
    if r.relative_lift is not None and r.rel_ci is not None and None not in r.rel_ci:
        return f"{title} {_pct(r.relative_lift)} (CI {_pct(r.rel_ci[0])}…{_pct(r.rel_ci[1])})"
    return f"{title} {format_value(r.absolute_lift, r, signed=True)}"


def _summary(results: list[MetricResult], recommendation: str, *, srm: bool, blind: list[MetricResult]) -> str:
    """One sentence a business reader can act on."""
    scored = [r for r in results if Role(r.role) in SCORED_ROLES and r.verdict != MISSING]
    star = next((r for r in scored if r.role == Role.NORTH_STAR), None)
    lead = star or max(scored, key=lambda r: (r.verdict == WIN, abs(r.points), r.weight), default=None)
    opening = _lift_phrase(lead) if lead is not None else "No north star or secondary metric measured"
    if recommendation == BLOCK:
        worst = [r for r in results if r.verdict == VIOLATED]
        reasons = "; ".join(f"{r.title} {r.violation}" for r in worst)
        return f"{opening}, but {reasons}: blocked."
    if srm:
        return f"{opening}, but the arms are not split as planned (sample ratio mismatch): hold until the assignment is fixed."
    if blind:
        return f"{opening}, but {_names(blind)} has no data yet, so its bound cannot be checked: hold."
    if recommendation == SHIP:
        return f"{opening}, with every guardrail holding: ship."
    if star is None:
        return f"{opening}; the north star is not measured in this experiment: hold."
    if star.verdict == FLAT:
        return f"{opening}: no detectable change in the north star yet, hold."
    if star.verdict == LOSS:
        return f"{opening}: the north star got worse, hold."
    return f"{opening}, but the weighted score is not positive: hold."


def _names(results: list[MetricResult]) -> str:
    names = [r.title for r in results]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _bound_text(contract: Contract, metric: Metric) -> str | None:
    if metric.bound is None:
        return None
    text = metric.bound.describe(contract.baseline_value(metric))
    if metric.bound.judged_by == "non_inferiority":
        text += f", non-inferiority margin {metric.bound.margin:g}"
    return text


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _pair(values) -> tuple[float | None, float | None]:
    return (_finite(values[0]), _finite(values[1]))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
