"""Counterfactual comparisons from per-arm sufficient statistics.

The warehouse returns, per variant, ``successes/trials`` (proportions) or ``n/sum/sum_sq``
(means); everything here works from those numbers alone, so a launch claim can be recomputed
from a stored snapshot without the raw rows.

* :func:`two_proportion_test`, :func:`welch_t_test`: fixed-horizon lift with confidence
  intervals, for an analysis done once at the planned sample size.
* :func:`sequential_test`: an always-valid p-value and confidence sequence for teams that look
  every week; naive repeated testing inflates false positives well beyond ``alpha``.
* :func:`minimum_detectable_effect`, :func:`required_sample_size`: planning.
* :func:`sample_ratio_mismatch`: the first check on any experiment, since a broken split
  invalidates every other number.

Lift convention: ``absolute_lift = treatment - control`` and
``relative_lift = treatment / control - 1``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from metrics.errors import MetricInputError, UndefinedMetricWarning

__all__ = [
    "LiftResult",
    "MeanArm",
    "ProportionArm",
    "SRMResult",
    "SequentialResult",
    "minimum_detectable_effect",
    "required_sample_size",
    "sample_ratio_mismatch",
    "sequential_test",
    "two_proportion_test",
    "welch_t_test",
]

#: p-value below which a sample ratio mismatch is declared. Deliberately strict: SRM is checked
#: on every experiment at every look, and a false alarm stops a launch.
SRM_THRESHOLD = 0.001


# --------------------------------------------------------------------------- arms


@dataclass(frozen=True)
class ProportionArm:
    """One variant of a conversion-style metric: ``successes`` out of ``trials``.

    Examples
    --------
    >>> arm = ProportionArm(successes=120, trials=1000)
    >>> arm.rate
    0.12
    >>> ProportionArm.from_dict(arm.to_dict()) == arm
    True
    """

    successes: int
    trials: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "successes", _whole(self.successes, "successes"))
        object.__setattr__(self, "trials", _whole(self.trials, "trials"))
        if self.trials == 0:
            raise MetricInputError("trials must be positive, got 0")
        if self.successes > self.trials:
            raise MetricInputError(
                f"successes ({self.successes}) cannot exceed trials ({self.trials})"
            )

    @property
    def rate(self) -> float:
        """``successes / trials``."""
        return self.successes / self.trials

    @property
    def n(self) -> int:
        """Number of trials (the sample size)."""
        return self.trials

    def to_dict(self) -> dict[str, int]:
        """Plain dict for storing in a snapshot."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ProportionArm:
        """Inverse of :meth:`to_dict`."""
        return cls(successes=data["successes"], trials=data["trials"])


@dataclass(frozen=True)
class MeanArm:
    """One variant of a continuous metric as sufficient statistics ``n``, ``sum``, ``sum_sq``.

    Examples
    --------
    >>> arm = MeanArm.from_values([1.0, 2.0, 3.0, 4.0])
    >>> arm.mean, round(arm.variance, 6)
    (2.5, 1.666667)
    >>> MeanArm.from_dict(arm.to_dict()) == arm
    True
    """

    n: int
    sum: float
    sum_sq: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", _whole(self.n, "n"))
        if self.n == 0:
            raise MetricInputError("n must be positive, got 0")
        for name in ("sum", "sum_sq"):
            value = getattr(self, name)
            try:
                v = float(value)
            except (TypeError, ValueError) as exc:
                raise MetricInputError(f"{name} must be a number, got {value!r}") from exc
            if not math.isfinite(v):
                raise MetricInputError(f"{name} must be finite, got {value!r}")
            object.__setattr__(self, name, v)
        # Cauchy-Schwarz: sum_sq >= sum**2 / n; allow rounding from the warehouse.
        floor = self.sum**2 / self.n
        if self.sum_sq < floor - 1e-9 * max(abs(floor), 1.0):
            raise MetricInputError(
                f"sum_sq ({self.sum_sq!r}) is smaller than sum**2 / n ({floor!r}); "
                "the statistics are inconsistent"
            )

    @classmethod
    def from_values(cls, values) -> MeanArm:
        """Sufficient statistics of raw values (for tests and small in-memory data)."""
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
            raise MetricInputError("values must be a non-empty 1-D array of finite numbers")
        return cls(n=int(arr.size), sum=float(arr.sum()), sum_sq=float(np.dot(arr, arr)))

    @property
    def mean(self) -> float:
        """``sum / n``."""
        return self.sum / self.n

    @property
    def variance(self) -> float:
        """Sample variance (``ddof=1``); needs ``n >= 2``."""
        if self.n < 2:
            raise MetricInputError(f"variance needs n >= 2, got n={self.n}")
        # Rounding in sum_sq - sum**2/n can dip below zero for constant data.
        return max((self.sum_sq - self.sum**2 / self.n) / (self.n - 1), 0.0)

    @property
    def std(self) -> float:
        """Sample standard deviation (``ddof=1``)."""
        return math.sqrt(self.variance)

    def to_dict(self) -> dict[str, float]:
        """Plain dict for storing in a snapshot."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MeanArm:
        """Inverse of :meth:`to_dict`."""
        return cls(n=data["n"], sum=data["sum"], sum_sq=data["sum_sq"])


Arm = ProportionArm | MeanArm


# --------------------------------------------------------------------------- fixed horizon


@dataclass(frozen=True)
class LiftResult:
    """Lift of treatment over control with confidence intervals.

    Attributes
    ----------
    control_value, treatment_value : float
        Rate or mean of each arm.
    absolute_lift : float
        ``treatment_value - control_value``.
    abs_ci : tuple of float
        ``(low, high)`` two-sided ``1 - alpha`` interval for ``absolute_lift``.
    relative_lift : float
        ``treatment_value / control_value - 1``; NaN (with an
        :class:`~metrics.errors.UndefinedMetricWarning`) when the control value is 0.
    rel_ci : tuple of float
        Delta-method interval for ``relative_lift`` (NaN when it is undefined).
    p_value, statistic : float
        Two-sided test of "no difference".
    alpha : float
    significant : bool
        ``p_value < alpha``.
    method : str
        Which test produced the numbers.
    """

    control_value: float
    treatment_value: float
    absolute_lift: float
    abs_ci: tuple[float, float]
    relative_lift: float
    rel_ci: tuple[float, float]
    p_value: float
    statistic: float
    alpha: float
    significant: bool
    method: str


def two_proportion_test(control: ProportionArm, treatment: ProportionArm, *, alpha: float = 0.05) -> LiftResult:
    """Two-sided z-test for a difference in proportions, with Wald intervals.

    The p-value uses the *pooled* standard error (the variance under "no difference"), equal to
    ``statsmodels.stats.proportion.proportions_ztest``. The interval for the difference uses the
    *unpooled* Wald standard error, equal to
    ``statsmodels.stats.proportion.confint_proportions_2indep(..., method="wald")``, because an
    interval must hold for every difference, not just zero. Near ``alpha`` the two can disagree;
    ``significant`` follows the p-value. The relative interval is the delta method for
    ``p_t / p_c``:
    ``se = sqrt(var_t / p_c**2 + p_t**2 * var_c / p_c**4)`` with ``var = p(1-p)/n``.

    When both arms are all-successes or all-failures the pooled standard error is 0: the
    difference is exactly 0, so the statistic is 0 and the p-value 1, with an
    :class:`~metrics.errors.UndefinedMetricWarning`.

    Examples
    --------
    >>> res = two_proportion_test(ProportionArm(100, 1000), ProportionArm(130, 1000))
    >>> round(res.absolute_lift, 3), round(res.relative_lift, 2), round(res.p_value, 4)
    (0.03, 0.3, 0.0355)
    >>> res.significant
    True
    """
    _check_arms(control, treatment, ProportionArm)
    _check_alpha(alpha)
    p_c, p_t = control.rate, treatment.rate
    n_c, n_t = control.trials, treatment.trials
    diff = p_t - p_c
    pooled = (control.successes + treatment.successes) / (n_c + n_t)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    if se_pooled == 0:
        warnings.warn(
            "two-proportion z statistic is undefined: every trial in both arms has the same "
            "outcome; reporting statistic 0 and p-value 1",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        z, p_value = 0.0, 1.0
    else:
        z = diff / se_pooled
        p_value = float(2 * stats.norm.sf(abs(z)))

    var_c, var_t = p_c * (1 - p_c) / n_c, p_t * (1 - p_t) / n_t
    crit = float(stats.norm.ppf(1 - alpha / 2))
    half = crit * math.sqrt(var_c + var_t)
    relative, rel_ci = _relative_lift(p_c, p_t, var_c, var_t, crit)
    return LiftResult(
        control_value=p_c,
        treatment_value=p_t,
        absolute_lift=diff,
        abs_ci=(diff - half, diff + half),
        relative_lift=relative,
        rel_ci=rel_ci,
        p_value=p_value,
        statistic=float(z),
        alpha=float(alpha),
        significant=bool(p_value < alpha),
        method="two-proportion z-test (pooled), Wald interval",
    )


def welch_t_test(control: MeanArm, treatment: MeanArm, *, alpha: float = 0.05) -> LiftResult:
    """Welch's unequal-variance t-test for a difference in means, from sufficient statistics.

    Equal to ``scipy.stats.ttest_ind_from_stats(..., equal_var=False)``. The interval for the
    difference uses the t distribution with Welch-Satterthwaite degrees of freedom
    ``df = (v_t + v_c)**2 / (v_t**2/(n_t-1) + v_c**2/(n_c-1))`` with ``v = s**2/n``; the relative
    interval is the delta method for ``m_t / m_c`` with the same critical value.

    When both arms have zero variance the statistic is undefined: it is reported as 0 (p = 1)
    if the means are equal and as +-inf (p = 0) otherwise, with an
    :class:`~metrics.errors.UndefinedMetricWarning`.

    Examples
    --------
    >>> c = MeanArm(n=500, sum=500 * 10.0, sum_sq=500 * (10.0**2 + 4.0))
    >>> t = MeanArm(n=500, sum=500 * 10.5, sum_sq=500 * (10.5**2 + 4.0))
    >>> res = welch_t_test(c, t)
    >>> round(res.absolute_lift, 2), round(res.relative_lift, 3), res.significant
    (0.5, 0.05, True)
    """
    _check_arms(control, treatment, MeanArm)
    _check_alpha(alpha)
    for name, arm in (("control", control), ("treatment", treatment)):
        if arm.n < 2:
            raise MetricInputError(f"{name} needs n >= 2 for a variance, got n={arm.n}")
    m_c, m_t = control.mean, treatment.mean
    v_c, v_t = control.variance / control.n, treatment.variance / treatment.n
    diff = m_t - m_c
    se = math.sqrt(v_c + v_t)
    if se == 0:
        warnings.warn(
            "Welch t statistic is undefined: both arms have zero variance",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        t_stat = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        p_value = 1.0 if diff == 0 else 0.0
        crit = 0.0
    else:
        df = (v_c + v_t) ** 2 / (v_c**2 / (control.n - 1) + v_t**2 / (treatment.n - 1))
        t_stat = diff / se
        p_value = float(2 * stats.t.sf(abs(t_stat), df))
        crit = float(stats.t.ppf(1 - alpha / 2, df))
    half = crit * se
    relative, rel_ci = _relative_lift(m_c, m_t, v_c, v_t, crit)
    return LiftResult(
        control_value=m_c,
        treatment_value=m_t,
        absolute_lift=diff,
        abs_ci=(diff - half, diff + half),
        relative_lift=relative,
        rel_ci=rel_ci,
        p_value=p_value,
        statistic=float(t_stat),
        alpha=float(alpha),
        significant=bool(p_value < alpha),
        method="Welch t-test",
    )


# --------------------------------------------------------------------------- sequential


@dataclass(frozen=True)
class SequentialResult:
    """Always-valid inference at one look of a continuously monitored experiment.

    Attributes
    ----------
    always_valid_p : float
        P-value that stays valid however often and whenever the experiment is looked at
        (running minimum over looks when ``previous`` is passed).
    cs_low, cs_high : float
        Confidence sequence for ``treatment - control``: it covers the true difference at
        every look simultaneously with probability ``1 - alpha``.
    significant : bool
        ``always_valid_p < alpha``.
    estimate : float
        Observed difference ``treatment - control``.
    tau : float
        Standard deviation of the normal mixing distribution that was used.
    alpha : float
    """

    always_valid_p: float
    cs_low: float
    cs_high: float
    significant: bool
    estimate: float
    tau: float
    alpha: float


def sequential_test(
    control: Arm,
    treatment: Arm,
    *,
    alpha: float = 0.05,
    tau: float | None = None,
    previous: SequentialResult | None = None,
) -> SequentialResult:
    """Mixture sequential probability ratio test (mSPRT) for a difference in means or rates.

    Implements the normal-mixture mSPRT of Johari, Pekelis & Walsh, "Always Valid Inference:
    Continuous Monitoring of A/B Tests" (Operations Research, 2022; arXiv:1512.04922, 2017),
    under the normal approximation of the difference ``d = treatment - control`` with variance
    ``V``. With a ``N(0, tau**2)`` mixture over the true difference, the likelihood ratio
    against ``theta`` is::

        L(theta) = sqrt(V / (V + tau**2)) * exp(tau**2 * (d - theta)**2 / (2 * V * (V + tau**2)))

    which is a martingale under ``theta``, so by Ville's inequality ``P(sup L >= 1/alpha) <=
    alpha``. The always-valid p-value is ``min(1, 1 / L(0))`` and the confidence sequence is
    ``{theta : L(theta) < 1/alpha}``.

    ``V`` uses the pooled variance under "no difference" for the p-value of proportions (as the
    fixed-horizon z-test does) and the per-arm variances otherwise (falling back to the pooled
    one when every arm is all-successes or all-failures). For a fixed ``tau`` the
    always-valid p-value is never smaller than the fixed-horizon normal p-value on the same data:
    that is the price of being allowed to peek.

    Parameters
    ----------
    control, treatment : ProportionArm or MeanArm
        Cumulative statistics at this look (both of the same kind).
    alpha : float, default=0.05
    tau : float, optional
        Mixing standard deviation, in the metric's units: the size of effect the test is tuned
        to find. It must stay the same for every look of one experiment. Default: 0.1 times the
        pooled standard deviation of the metric (a standardised effect of 0.1); pass the
        smallest effect of interest to fix it for the experiment's lifetime.
    previous : SequentialResult, optional
        Result of the previous look: the p-value becomes the running minimum and the interval
        the running intersection (if the intersection is empty the normal approximation is off,
        and the current interval is kept).

    Examples
    --------
    >>> c, t = ProportionArm(500, 5000), ProportionArm(600, 5000)
    >>> seq = sequential_test(c, t, tau=0.02)
    >>> round(seq.always_valid_p, 4), seq.significant
    (0.032, True)
    >>> seq.always_valid_p >= two_proportion_test(c, t).p_value
    True
    """
    _check_alpha(alpha)
    if isinstance(control, ProportionArm):
        _check_arms(control, treatment, ProportionArm)
        p_c, p_t = control.rate, treatment.rate
        diff = p_t - p_c
        var = p_c * (1 - p_c) / control.n + p_t * (1 - p_t) / treatment.n
        pooled = (control.successes + treatment.successes) / (control.n + treatment.n)
        var_null = pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n)
        pooled_sd = math.sqrt(pooled * (1 - pooled))
    else:
        _check_arms(control, treatment, MeanArm)
        for name, arm in (("control", control), ("treatment", treatment)):
            if arm.n < 2:
                raise MetricInputError(f"{name} needs n >= 2 for a variance, got n={arm.n}")
        diff = treatment.mean - control.mean
        var = control.variance / control.n + treatment.variance / treatment.n
        var_null = var
        dof = control.n + treatment.n - 2
        pooled_sd = math.sqrt(((control.n - 1) * control.variance + (treatment.n - 1) * treatment.variance) / dof)

    if tau is None:
        tau = 0.1 * pooled_sd
    else:
        tau = float(tau)
        if not (math.isfinite(tau) and tau > 0):
            raise MetricInputError(f"tau must be a positive number, got {tau!r}")

    if var_null == 0 or tau == 0:
        warnings.warn(
            "sequential test is undefined: no variation in the data yet; "
            "reporting p-value 1 and an unbounded interval",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        p_value, low, high = 1.0, -math.inf, math.inf
        tau = tau or math.nan
    else:
        tau2 = tau * tau
        log_lr0 = 0.5 * math.log(var_null / (var_null + tau2)) + tau2 * diff**2 / (
            2 * var_null * (var_null + tau2)
        )
        p_value = float(min(1.0, math.exp(-log_lr0)))
        # Per-arm variances vanish when each arm is all-or-nothing (0/10 vs 10/10); the
        # pooled variance is then the only usable scale for the interval.
        var = var if var > 0 else var_null
        half = math.sqrt(var * (var + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((var + tau2) / var)))
        low, high = diff - half, diff + half

    if previous is not None:
        p_value = min(p_value, previous.always_valid_p)
        if max(low, previous.cs_low) <= min(high, previous.cs_high):
            low, high = max(low, previous.cs_low), min(high, previous.cs_high)
    return SequentialResult(
        always_valid_p=p_value,
        cs_low=low,
        cs_high=high,
        significant=bool(p_value < alpha),
        estimate=diff,
        tau=tau,
        alpha=float(alpha),
    )


# --------------------------------------------------------------------------- planning


def minimum_detectable_effect(
    baseline: float,
    n_per_arm: int,
    *,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> float:
    """Smallest absolute difference a two-sided test detects with the given power.

    ``mde = (z_{1-alpha/2} + z_{power}) * sd * sqrt(1/n + 1/(ratio * n))``: the normal
    approximation, ignoring the opposite tail (under 1e-4 of power at usual settings). For a
    proportion (``sd=None``) ``sd = sqrt(p (1 - p))`` of the baseline rate in both arms, which
    matches ``statsmodels.stats.power.NormalIndPower`` with ``effect_size = mde / sd``.

    Parameters
    ----------
    baseline : float
        Baseline rate in (0, 1) when ``sd`` is None; otherwise the baseline mean (used only for
        validation, since the absolute MDE of a mean does not depend on it).
    n_per_arm : int
        Sample size of the control arm; the treatment arm has ``ratio * n_per_arm``.
    sd : float, optional
        Standard deviation of a continuous metric.
    alpha, power : float
    ratio : float, default=1.0
        Treatment size over control size.

    Returns
    -------
    float
        Absolute effect; divide by ``baseline`` for a relative MDE.

    Examples
    --------
    >>> round(minimum_detectable_effect(0.10, 10_000), 4)
    0.0119
    >>> round(minimum_detectable_effect(50.0, 400, sd=20.0), 3)
    3.962
    """
    std = _planning_sd(baseline, sd)
    n = _positive(n_per_arm, "n_per_arm")
    z = _z_sum(alpha, power)
    r = _positive(ratio, "ratio")
    return z * std * math.sqrt(1 / n + 1 / (r * n))


def required_sample_size(
    baseline: float,
    mde: float,
    *,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> int:
    """Control-arm sample size needed to detect an absolute difference ``mde``.

    The inverse of :func:`minimum_detectable_effect`, rounded up:
    ``n = ceil((z_{1-alpha/2} + z_{power})**2 * sd**2 * (1 + 1/ratio) / mde**2)``. The treatment
    arm needs ``ceil(ratio * n)``.

    Examples
    --------
    >>> required_sample_size(0.10, 0.01)
    14128
    >>> required_sample_size(50.0, 4.0, sd=20.0)
    393
    """
    std = _planning_sd(baseline, sd)
    effect = float(mde)
    if not (math.isfinite(effect) and effect != 0):
        raise MetricInputError(f"mde must be a non-zero finite number, got {mde!r}")
    z = _z_sum(alpha, power)
    r = _positive(ratio, "ratio")
    n = (z * std / effect) ** 2 * (1 + 1 / r)
    # Guard against 14128.000000000002 rounding up to one extra unit.
    return int(math.ceil(n - 1e-9))


# --------------------------------------------------------------------------- sample ratio mismatch


@dataclass(frozen=True)
class SRMResult:
    """Chi-square goodness-of-fit of the observed split against the planned one.

    Attributes
    ----------
    chi2, p_value : float
    mismatch : bool
        ``p_value < threshold`` (default 0.001).
    expected_counts : tuple of float
        Counts the planned ratios imply for the observed total.
    threshold : float
    """

    chi2: float
    p_value: float
    mismatch: bool
    expected_counts: tuple[float, ...]
    threshold: float = SRM_THRESHOLD


def sample_ratio_mismatch(
    observed_counts: Sequence[int],
    expected_ratios: Sequence[float],
    *,
    threshold: float = SRM_THRESHOLD,
) -> SRMResult:
    """Test whether units were split across arms as planned.

    Equal to ``scipy.stats.chisquare(observed, f_exp=total * ratios / sum(ratios))``. The
    default threshold is strict (0.001) because the check runs on every look of every
    experiment.

    Parameters
    ----------
    observed_counts : sequence of int
        Units per arm.
    expected_ratios : sequence of float
        Planned split, any positive scale (``[50, 50]`` or ``[0.5, 0.5]``).

    Examples
    --------
    >>> sample_ratio_mismatch([5000, 5000], [1, 1]).p_value
    1.0
    >>> sample_ratio_mismatch([5000, 5400], [1, 1]).mismatch
    True
    """
    obs = np.asarray(observed_counts, dtype=np.float64)
    ratios = np.asarray(expected_ratios, dtype=np.float64)
    for name, arr in (("observed_counts", obs), ("expected_ratios", ratios)):
        if arr.ndim != 1 or arr.size < 2:
            raise MetricInputError(f"{name} must list at least two arms, got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise MetricInputError(f"{name} must be finite, got {arr.tolist()!r}")
    if obs.size != ratios.size:
        raise MetricInputError(
            f"observed_counts has {obs.size} arms but expected_ratios has {ratios.size}"
        )
    if (obs < 0).any() or (obs != np.round(obs)).any():
        raise MetricInputError(f"observed_counts must be non-negative whole numbers, got {obs.tolist()!r}")
    if (ratios <= 0).any():
        raise MetricInputError(f"expected_ratios must all be positive, got {ratios.tolist()!r}")
    if obs.sum() == 0:
        raise MetricInputError("observed_counts sums to zero")
    if not 0 < threshold < 1:
        raise MetricInputError(f"threshold must be in (0, 1), got {threshold!r}")
    expected = obs.sum() * ratios / ratios.sum()
    chi2 = float(np.sum((obs - expected) ** 2 / expected))
    p_value = float(stats.chi2.sf(chi2, obs.size - 1))
    return SRMResult(
        chi2=chi2,
        p_value=p_value,
        mismatch=bool(p_value < threshold),
        expected_counts=tuple(float(e) for e in expected),
        threshold=float(threshold),
    )


# --------------------------------------------------------------------------- helpers


def _whole(value, name: str) -> int:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"{name} must be a whole number, got {value!r}") from exc
    if isinstance(value, bool) or not math.isfinite(v) or v < 0 or v != int(v):
        raise MetricInputError(f"{name} must be a non-negative whole number, got {value!r}")
    return int(v)


def _positive(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"{name} must be a number, got {value!r}") from exc
    if not (math.isfinite(v) and v > 0):
        raise MetricInputError(f"{name} must be positive, got {value!r}")
    return v


def _check_alpha(alpha) -> None:
    if not 0.0 < float(alpha) < 1.0:
        raise MetricInputError(f"alpha must be in (0, 1), got {alpha!r}")


def _check_arms(control, treatment, kind) -> None:
    for name, arm in (("control", control), ("treatment", treatment)):
        if not isinstance(arm, kind):
            raise MetricInputError(f"{name} must be a {kind.__name__}, got {type(arm).__name__}")


def _relative_lift(base: float, new: float, var_base: float, var_new: float, crit: float):
    """``new / base - 1`` and its delta-method interval; NaN with a warning when base is 0."""
    if base == 0:
        warnings.warn(
            "relative lift is undefined when the control value is 0; reporting NaN",
            UndefinedMetricWarning,
            stacklevel=3,
        )
        return math.nan, (math.nan, math.nan)
    ratio = new / base
    se = math.sqrt(var_new / base**2 + new**2 * var_base / base**4)
    return ratio - 1, (ratio - 1 - crit * se, ratio - 1 + crit * se)


def _planning_sd(baseline, sd) -> float:
    try:
        b = float(baseline)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"baseline must be a number, got {baseline!r}") from exc
    if not math.isfinite(b):
        raise MetricInputError(f"baseline must be finite, got {baseline!r}")
    if sd is None:
        if not 0 < b < 1:
            raise MetricInputError(f"baseline rate must be in (0, 1) when sd is not given, got {baseline!r}")
        return math.sqrt(b * (1 - b))
    return _positive(sd, "sd")


def _z_sum(alpha, power) -> float:
    _check_alpha(alpha)
    if not 0.0 < float(power) < 1.0:
        raise MetricInputError(f"power must be in (0, 1), got {power!r}")
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))
