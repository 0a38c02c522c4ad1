"""Tests for metrics.experiment against statsmodels and SciPy, plus a simulation of peeking."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import integrate, stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans

from metrics.errors import MetricInputError, UndefinedMetricWarning
from metrics.experiment import (
    MeanArm,
    ProportionArm,
    minimum_detectable_effect,
    required_sample_size,
    sample_ratio_mismatch,
    sequential_test,
    two_proportion_test,
    welch_t_test,
)


@st.composite
def proportion_arm(draw, min_trials=1):
    trials = draw(st.integers(min_trials, 100_000))
    return ProportionArm(draw(st.integers(0, trials)), trials)


@st.composite
def informative_proportion_pair(draw):
    """Two arms whose pooled rate is strictly between 0 and 1 (the z-test is defined)."""
    c, t = draw(proportion_arm(min_trials=2)), draw(proportion_arm(min_trials=2))
    total = c.successes + t.successes
    assume(0 < total < c.trials + t.trials)
    return c, t


samples = arrays(
    np.float64,
    st.integers(2, 80),
    elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
).filter(lambda a: np.ptp(a) > 1e-3)

alphas = st.sampled_from([0.01, 0.05, 0.1, 0.2])


def delta_method_by_finite_differences(mean_c, mean_t, var_c, var_t):
    """Standard error of mean_t / mean_c - 1 from a numerically differentiated gradient."""
    f = lambda c, t: t / c - 1  # noqa: E731
    h_c, h_t = 1e-6 * max(abs(mean_c), 1e-3), 1e-6 * max(abs(mean_t), 1e-3)
    d_c = (f(mean_c + h_c, mean_t) - f(mean_c - h_c, mean_t)) / (2 * h_c)
    d_t = (f(mean_c, mean_t + h_t) - f(mean_c, mean_t - h_t)) / (2 * h_t)
    return math.sqrt(d_c**2 * var_c + d_t**2 * var_t)


# --------------------------------------------------------------------------- arms


@settings(max_examples=50, deadline=None)
@given(samples)
def test_mean_arm_moments_match_numpy(values):
    arm = MeanArm.from_values(values)
    assert arm.mean == pytest.approx(np.mean(values), rel=1e-9, abs=1e-9)
    assert arm.variance == pytest.approx(np.var(values, ddof=1), rel=1e-6, abs=1e-6)
    assert MeanArm.from_dict(arm.to_dict()) == arm


def test_arms_round_trip_and_accept_integral_floats():
    arm = ProportionArm(successes=12.0, trials=100)
    assert arm == ProportionArm(12, 100) and isinstance(arm.successes, int)
    assert ProportionArm.from_dict({"successes": 12, "trials": 100}) == arm


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: ProportionArm(11, 10), "successes \\(11\\) cannot exceed trials \\(10\\)"),
        (lambda: ProportionArm(-1, 10), "successes.*-1"),
        (lambda: ProportionArm(1.5, 10), "successes.*1.5"),
        (lambda: ProportionArm(0, 0), "trials must be positive"),
        (lambda: ProportionArm(float("nan"), 10), "successes"),
        (lambda: MeanArm(0, 0.0, 0.0), "n must be positive"),
        (lambda: MeanArm(3, 6.0, 1.0), "sum_sq .* is smaller than sum\\*\\*2 / n"),
        (lambda: MeanArm(3, float("nan"), 1.0), "sum must be finite"),
        (lambda: MeanArm(1, 2.0, 4.0).variance, "n >= 2"),
        (lambda: MeanArm.from_values([]), "non-empty"),
    ],
)
def test_arm_bad_input(make, match):
    with pytest.raises(MetricInputError, match=match):
        make()


# --------------------------------------------------------------------------- two proportions


@settings(max_examples=80, deadline=None)
@given(informative_proportion_pair(), alphas)
def test_two_proportion_test_matches_statsmodels(pair, alpha):
    c, t = pair
    assume(c.successes > 0)  # relative lift defined
    res = two_proportion_test(c, t, alpha=alpha)
    z, p = proportions_ztest([t.successes, c.successes], [t.trials, c.trials])
    assert res.statistic == pytest.approx(z, rel=1e-9, abs=1e-12)
    assert res.p_value == pytest.approx(p, rel=1e-7, abs=1e-15)
    low, high = confint_proportions_2indep(
        t.successes, t.trials, c.successes, c.trials, method="wald", compare="diff", alpha=alpha
    )
    assert res.abs_ci == pytest.approx((low, high), rel=1e-9, abs=1e-12)
    assert res.absolute_lift == pytest.approx(t.rate - c.rate, abs=1e-15)
    assert res.relative_lift == pytest.approx(t.rate / c.rate - 1, rel=1e-12, abs=1e-15)
    se = delta_method_by_finite_differences(c.rate, t.rate, c.rate * (1 - c.rate) / c.n, t.rate * (1 - t.rate) / t.n)
    crit = stats.norm.ppf(1 - alpha / 2)
    assert res.rel_ci == pytest.approx((res.relative_lift - crit * se, res.relative_lift + crit * se), rel=1e-5, abs=1e-9)
    assert res.significant == (p < alpha)


def test_two_proportion_test_all_equal_outcomes_warns_and_reports_no_difference():
    with pytest.warns(UndefinedMetricWarning, match="same outcome"):
        res = two_proportion_test(ProportionArm(50, 50), ProportionArm(80, 80))
    assert (res.statistic, res.p_value, res.significant) == (0.0, 1.0, False)


def test_two_proportion_test_zero_control_rate_warns_for_relative_lift():
    with pytest.warns(UndefinedMetricWarning, match="relative lift is undefined"):
        res = two_proportion_test(ProportionArm(0, 100), ProportionArm(5, 100))
    assert math.isnan(res.relative_lift) and all(math.isnan(x) for x in res.rel_ci)
    assert res.absolute_lift == pytest.approx(0.05)


def test_two_proportion_test_rejects_mixed_arms():
    with pytest.raises(MetricInputError, match="treatment must be a ProportionArm"):
        two_proportion_test(ProportionArm(1, 10), MeanArm(10, 1.0, 1.0))
    with pytest.raises(MetricInputError, match="alpha"):
        two_proportion_test(ProportionArm(1, 10), ProportionArm(2, 10), alpha=0)


def test_relative_interval_covers_the_truth_at_nominal_rate():
    # Coverage check of the delta method: independent of any formula in the code.
    rng = np.random.default_rng(11)
    n, p_c, p_t = 4000, 0.10, 0.12
    truth = p_t / p_c - 1
    covered = 0
    for _ in range(400):
        res = two_proportion_test(ProportionArm(rng.binomial(n, p_c), n), ProportionArm(rng.binomial(n, p_t), n))
        covered += res.rel_ci[0] <= truth <= res.rel_ci[1]
    assert 0.92 <= covered / 400 <= 0.98


# --------------------------------------------------------------------------- Welch


@settings(max_examples=60, deadline=None)
@given(samples, samples, alphas)
def test_welch_t_test_matches_scipy_and_statsmodels(x_c, x_t, alpha):
    c, t = MeanArm.from_values(x_c), MeanArm.from_values(x_t)
    assume(abs(c.mean) > 1e-3)
    res = welch_t_test(c, t, alpha=alpha)
    oracle = stats.ttest_ind(x_t, x_c, equal_var=False)
    assert res.statistic == pytest.approx(oracle.statistic, rel=1e-6, abs=1e-9)
    assert res.p_value == pytest.approx(oracle.pvalue, rel=1e-6, abs=1e-12)
    from_stats = stats.ttest_ind_from_stats(t.mean, t.std, t.n, c.mean, c.std, c.n, equal_var=False)
    assert res.p_value == pytest.approx(from_stats.pvalue, rel=1e-9, abs=1e-15)
    low, high = CompareMeans.from_data(x_t, x_c).tconfint_diff(alpha=alpha, usevar="unequal")
    assert res.abs_ci == pytest.approx((low, high), rel=1e-6, abs=1e-9)
    # Relative interval: delta method with the same critical value as the absolute one.
    crit = (res.abs_ci[1] - res.absolute_lift) / math.sqrt(c.variance / c.n + t.variance / t.n)
    se = delta_method_by_finite_differences(c.mean, t.mean, c.variance / c.n, t.variance / t.n)
    assert res.rel_ci == pytest.approx((res.relative_lift - crit * se, res.relative_lift + crit * se), rel=1e-4, abs=1e-6)
    assert res.significant == (res.p_value < alpha)


def test_welch_zero_variance_is_flagged():
    const_a, const_b = MeanArm.from_values([2.0, 2.0, 2.0]), MeanArm.from_values([3.0, 3.0])
    with pytest.warns(UndefinedMetricWarning, match="zero variance"):
        res = welch_t_test(const_a, const_b)
    assert (res.statistic, res.p_value, res.abs_ci) == (math.inf, 0.0, (1.0, 1.0))
    with pytest.warns(UndefinedMetricWarning, match="zero variance"):
        res = welch_t_test(const_a, const_a)
    assert (res.statistic, res.p_value) == (0.0, 1.0)


def test_welch_needs_two_rows_per_arm():
    with pytest.raises(MetricInputError, match="control needs n >= 2"):
        welch_t_test(MeanArm(1, 1.0, 1.0), MeanArm.from_values([1.0, 2.0]))


# --------------------------------------------------------------------------- sequential


def mixture_likelihood_ratio(diff, var, tau, theta=0.0):
    """Normal-mixture likelihood ratio by numerical integration over the mixing density."""

    def integrand(u):
        # u is the standardised alternative: theta_alt = theta + u * tau
        alt = theta + u * tau
        log_ratio = (-(diff - alt) ** 2 + (diff - theta) ** 2) / (2 * var)
        return math.exp(log_ratio) * stats.norm.pdf(u)

    # The integrand is a normal bump (the posterior of u); integrate well past its tails.
    centre = (diff - theta) * tau / (var + tau**2)
    width = math.sqrt(var / (var + tau**2))
    value, _ = integrate.quad(integrand, centre - 40 * width, centre + 40 * width, points=[centre], limit=200)
    return value


@pytest.mark.parametrize(
    ("control", "treatment", "tau"),
    [
        (ProportionArm(500, 5000), ProportionArm(560, 5000), 0.02),
        (ProportionArm(40, 300), ProportionArm(30, 280), 0.05),
        (MeanArm.from_values(np.linspace(0, 10, 50)), MeanArm.from_values(np.linspace(1, 12, 60)), 1.0),
    ],
)
def test_sequential_p_value_and_boundary_match_numerical_mixture(control, treatment, tau):
    res = sequential_test(control, treatment, tau=tau)
    if isinstance(control, ProportionArm):
        pooled = (control.successes + treatment.successes) / (control.n + treatment.n)
        var_null = pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n)
        var = control.rate * (1 - control.rate) / control.n + treatment.rate * (1 - treatment.rate) / treatment.n
    else:
        var = var_null = control.variance / control.n + treatment.variance / treatment.n
    lr0 = mixture_likelihood_ratio(res.estimate, var_null, tau)
    assert res.always_valid_p == pytest.approx(min(1.0, 1 / lr0), rel=1e-6)
    # The confidence sequence ends where the likelihood ratio reaches 1 / alpha.
    for edge in (res.cs_low, res.cs_high):
        assert mixture_likelihood_ratio(res.estimate, var, tau, theta=edge) == pytest.approx(1 / 0.05, rel=1e-6)


@settings(max_examples=80, deadline=None)
@given(informative_proportion_pair(), st.floats(1e-3, 0.5), alphas)
def test_always_valid_p_is_never_below_fixed_horizon_p_for_proportions(pair, tau, alpha):
    c, t = pair
    assume(0 < c.successes < c.trials and 0 < t.successes < t.trials)
    seq = sequential_test(c, t, tau=tau, alpha=alpha)
    fixed = two_proportion_test(c, t, alpha=alpha)
    assert seq.always_valid_p >= fixed.p_value * (1 - 1e-9)
    assert seq.cs_low <= seq.estimate <= seq.cs_high
    # Valid at every look, so never narrower than the one-look Wald interval.
    assert seq.cs_high - seq.cs_low >= (fixed.abs_ci[1] - fixed.abs_ci[0]) * (1 - 1e-9)


@settings(max_examples=60, deadline=None)
@given(samples, samples)
def test_always_valid_p_is_never_below_fixed_horizon_normal_p_for_means(x_c, x_t):
    c, t = MeanArm.from_values(x_c), MeanArm.from_values(x_t)
    seq = sequential_test(c, t)
    z = (t.mean - c.mean) / math.sqrt(c.variance / c.n + t.variance / t.n)
    assert seq.always_valid_p >= 2 * stats.norm.sf(abs(z)) * (1 - 1e-9)


def test_peeking_weekly_keeps_false_positives_at_alpha_while_naive_peeking_does_not():
    rng = np.random.default_rng(2024)
    experiments, peeks, per_peek, rate, alpha = 200, 20, 200, 0.1, 0.05
    conv_c = rng.binomial(per_peek, rate, size=(experiments, peeks)).cumsum(axis=1)
    conv_t = rng.binomial(per_peek, rate, size=(experiments, peeks)).cumsum(axis=1)
    naive_hits = sequential_hits = 0
    for e in range(experiments):
        naive = sequential = False
        previous = None
        for k in range(peeks):
            n = per_peek * (k + 1)
            c, t = ProportionArm(int(conv_c[e, k]), n), ProportionArm(int(conv_t[e, k]), n)
            naive |= two_proportion_test(c, t, alpha=alpha).significant
            previous = sequential_test(c, t, alpha=alpha, tau=0.03, previous=previous)
            sequential |= previous.significant
        naive_hits += naive
        sequential_hits += sequential
    assert naive_hits / experiments > 2 * alpha
    assert sequential_hits / experiments <= alpha + 0.02


def test_sequential_detects_a_real_effect():
    rng = np.random.default_rng(7)
    n = 20_000
    c = ProportionArm(rng.binomial(n, 0.10), n)
    t = ProportionArm(rng.binomial(n, 0.12), n)
    res = sequential_test(c, t, tau=0.02)
    assert res.significant and res.cs_low > 0


def test_previous_look_gives_running_minimum_and_intersection():
    first = sequential_test(ProportionArm(100, 1000), ProportionArm(140, 1000), tau=0.03)
    second = sequential_test(ProportionArm(210, 2000), ProportionArm(215, 2000), tau=0.03, previous=first)
    alone = sequential_test(ProportionArm(210, 2000), ProportionArm(215, 2000), tau=0.03)
    assert second.always_valid_p == min(first.always_valid_p, alone.always_valid_p)
    assert second.cs_low == max(first.cs_low, alone.cs_low)
    assert second.cs_high == min(first.cs_high, alone.cs_high)


def test_sequential_without_variation_is_flagged():
    with pytest.warns(UndefinedMetricWarning, match="no variation"):
        res = sequential_test(ProportionArm(0, 10), ProportionArm(0, 12), tau=0.01)
    assert (res.always_valid_p, res.cs_low, res.cs_high, res.significant) == (1.0, -math.inf, math.inf, False)


def test_sequential_all_or_nothing_arms_still_test_the_difference():
    res = sequential_test(ProportionArm(0, 40), ProportionArm(40, 40), tau=0.2)
    assert res.significant and res.cs_low > 0
    assert math.isfinite(res.cs_high)


@pytest.mark.parametrize("tau", [0, -1.0, float("nan")])
def test_sequential_rejects_bad_tau(tau):
    with pytest.raises(MetricInputError, match="tau"):
        sequential_test(ProportionArm(1, 10), ProportionArm(2, 10), tau=tau)


# --------------------------------------------------------------------------- planning


@settings(max_examples=60, deadline=None)
@given(
    st.floats(0.01, 0.99),
    st.integers(50, 1_000_000),
    st.sampled_from([0.01, 0.05, 0.1]),
    st.floats(0.5, 0.99),
    st.sampled_from([0.5, 1.0, 2.0]),
)
def test_mde_matches_statsmodels_normal_ind_power(baseline, n, alpha, power, ratio):
    mde = minimum_detectable_effect(baseline, n, alpha=alpha, power=power, ratio=ratio)
    # statsmodels' power at that effect is the target, plus the opposite rejection tail it also
    # counts. (Its solve_power is only accurate to ~1e-3 at large n, so power() is the oracle.)
    achieved = NormalIndPower().power(
        effect_size=mde / math.sqrt(baseline * (1 - baseline)), nobs1=n, alpha=alpha, ratio=ratio
    )
    opposite_tail = stats.norm.cdf(-2 * stats.norm.ppf(1 - alpha / 2))
    assert power - 1e-9 <= achieved <= power + opposite_tail + 1e-9


@settings(max_examples=60, deadline=None)
@given(
    st.floats(1.0, 1e4),
    st.floats(0.01, 0.5),
    st.sampled_from([0.01, 0.05, 0.1]),
    st.floats(0.5, 0.99),
    st.sampled_from([0.5, 1.0, 3.0]),
)
def test_required_sample_size_reaches_power_and_inverts_mde(sd, standardized, alpha, power, ratio):
    mde = standardized * sd
    n = required_sample_size(100.0, mde, sd=sd, alpha=alpha, power=power, ratio=ratio)
    achieved = NormalIndPower().power(effect_size=standardized, nobs1=n, alpha=alpha, ratio=ratio)
    assert achieved >= power - 1e-9
    if n > 2:  # one fewer unit is not enough (up to the opposite tail statsmodels adds)
        short = NormalIndPower().power(effect_size=standardized, nobs1=n - 1, alpha=alpha, ratio=ratio)
        assert short < power + stats.norm.cdf(-2 * stats.norm.ppf(1 - alpha / 2)) + 1e-9
    assert minimum_detectable_effect(100.0, n, sd=sd, alpha=alpha, power=power, ratio=ratio) <= mde * (1 + 1e-9)


def test_sample_size_textbook_value():
    # 10% baseline, 1 point absolute, 80% power, alpha 0.05: (1.96 + 0.8416)^2 * 0.09 * 2 / 0.0001
    assert required_sample_size(0.10, 0.01) == math.ceil((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) ** 2 * 1800)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: minimum_detectable_effect(1.2, 100), "baseline rate must be in \\(0, 1\\)"),
        (lambda: minimum_detectable_effect(0.1, 0), "n_per_arm"),
        (lambda: minimum_detectable_effect(0.1, 100, power=1.0), "power"),
        (lambda: minimum_detectable_effect(5.0, 100, sd=-1.0), "sd must be positive"),
        (lambda: required_sample_size(0.1, 0.0), "mde"),
        (lambda: required_sample_size(0.1, 0.01, ratio=0), "ratio"),
    ],
)
def test_planning_bad_input(call, match):
    with pytest.raises(MetricInputError, match=match):
        call()


# --------------------------------------------------------------------------- SRM


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 5).flatmap(
        lambda k: st.tuples(
            st.lists(st.integers(0, 100_000), min_size=k, max_size=k).filter(lambda xs: sum(xs) > 0),
            st.lists(st.floats(0.01, 100), min_size=k, max_size=k),
        )
    )
)
def test_srm_matches_scipy_chisquare(case):
    observed, ratios = case
    res = sample_ratio_mismatch(observed, ratios)
    expected = np.sum(observed) * np.asarray(ratios) / np.sum(ratios)
    oracle = stats.chisquare(observed, f_exp=expected)
    assert res.chi2 == pytest.approx(oracle.statistic, rel=1e-9, abs=1e-9)
    assert res.p_value == pytest.approx(oracle.pvalue, rel=1e-7, abs=1e-15)
    assert res.mismatch == (oracle.pvalue < 0.001)


def test_srm_exact_planned_split_has_p_one():
    res = sample_ratio_mismatch([2000, 6000, 2000], [0.2, 0.6, 0.2])
    assert (res.chi2, res.p_value, res.mismatch) == (0.0, 1.0, False)
    assert res.expected_counts == (2000.0, 6000.0, 2000.0)


def test_srm_flags_a_broken_split():
    assert sample_ratio_mismatch([50_000, 51_200], [1, 1]).mismatch
    assert not sample_ratio_mismatch([50_000, 50_200], [1, 1]).mismatch


@pytest.mark.parametrize(
    ("observed", "ratios", "match"),
    [
        ([10, 20], [1, 1, 1], "2 arms but expected_ratios has 3"),
        ([10], [1], "at least two arms"),
        ([10, -1], [1, 1], "non-negative whole numbers"),
        ([10, 2.5], [1, 1], "non-negative whole numbers"),
        ([0, 0], [1, 1], "sums to zero"),
        ([10, 20], [1, 0], "expected_ratios must all be positive"),
        ([10, 20], [1, float("nan")], "expected_ratios must be finite"),
    ],
)
def test_srm_bad_input(observed, ratios, match):
    with pytest.raises(MetricInputError, match=match):
        sample_ratio_mismatch(observed, ratios)
