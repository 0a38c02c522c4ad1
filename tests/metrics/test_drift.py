"""Tests for metrics.drift: each divergence against SciPy or a slow loop written from the formula."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from scipy.spatial.distance import jensenshannon

from metrics.drift import (
    PSI_SIGNIFICANT,
    PSI_STABLE,
    bin_counts,
    compare_binned,
    js_divergence,
    js_divergence_from_counts,
    kl_divergence,
    kl_divergence_from_counts,
    ks_statistic,
    population_stability_index,
    population_stability_index_from_counts,
    psi_band,
    reference_bin_edges,
)
from metrics.errors import MetricInputError

EPS = 1e-4

counts_pair = st.integers(min_value=2, max_value=12).flatmap(
    lambda k: st.tuples(
        arrays(np.int64, k, elements=st.integers(0, 500)).filter(lambda a: a.sum() > 0),
        arrays(np.int64, k, elements=st.integers(0, 500)).filter(lambda a: a.sum() > 0),
    )
)
samples = arrays(
    np.float64,
    st.integers(1, 300),
    elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)


def slow_smoothed(counts, eps=EPS):
    """Proportions with eps added to empty bins, renormalised: the documented smoothing."""
    total = float(sum(counts))
    props = [c / total for c in counts]
    props = [eps if x == 0 else x for x in props]
    s = sum(props)
    return [x / s for x in props]


def slow_psi(ref, cur, eps=EPS):
    p, q = slow_smoothed(ref, eps), slow_smoothed(cur, eps)
    return sum((qi - pi) * math.log(qi / pi) for pi, qi in zip(p, q))


def slow_bin(values, edges):
    out = [0] * (len(edges) - 1)
    for v in values:
        for i in range(len(edges) - 1):
            last = i == len(edges) - 2
            if edges[i] <= v < edges[i + 1] or (last and v == edges[i + 1]):
                out[i] += 1
                break
    return out


# --------------------------------------------------------------------------- oracles


@settings(max_examples=60, deadline=None)
@given(counts_pair)
def test_psi_from_counts_matches_slow_formula(pair):
    ref, cur = pair
    assert population_stability_index_from_counts(ref, cur) == pytest.approx(slow_psi(ref, cur), rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(counts_pair)
def test_kl_and_js_match_scipy_on_smoothed_proportions(pair):
    ref, cur = pair
    p, q = slow_smoothed(ref), slow_smoothed(cur)
    assert kl_divergence_from_counts(ref, cur) == pytest.approx(stats.entropy(p, q), rel=1e-9, abs=1e-12)
    assert js_divergence_from_counts(ref, cur) == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-7, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(counts_pair)
def test_psi_is_symmetrised_kl(pair):
    ref, cur = pair
    both_ways = kl_divergence_from_counts(ref, cur) + kl_divergence_from_counts(cur, ref)
    assert population_stability_index_from_counts(ref, cur) == pytest.approx(both_ways, rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(counts_pair)
def test_divergence_invariants(pair):
    ref, cur = pair
    assert kl_divergence_from_counts(ref, cur) >= 0
    assert population_stability_index_from_counts(ref, cur) >= 0
    js = js_divergence_from_counts(ref, cur)
    assert js == pytest.approx(js_divergence_from_counts(cur, ref), rel=1e-12, abs=1e-15)
    assert 0 <= js <= math.log(2)


@settings(max_examples=40, deadline=None)
@given(counts_pair, st.integers(1, 50))
def test_divergences_depend_on_proportions_only(pair, factor):
    ref, cur = pair
    assert population_stability_index_from_counts(ref * factor, cur) == pytest.approx(
        population_stability_index_from_counts(ref, cur), rel=1e-9, abs=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(samples, samples)
def test_ks_statistic_matches_scipy(ref, cur):
    with warnings.catch_warnings():
        # The oracle warns about its p-value on tiny samples; only its statistic is compared.
        warnings.simplefilter("ignore", RuntimeWarning)
        oracle = stats.ks_2samp(ref, cur).statistic
    assert ks_statistic(ref, cur) == pytest.approx(oracle, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(samples, samples, st.integers(2, 12))
def test_sample_divergences_equal_count_divergences_on_reference_bins(ref, cur, bins):
    edges = reference_bin_edges(ref, bins=bins)
    rc, cc = slow_bin(ref, edges), slow_bin(cur, edges)
    assert population_stability_index(ref, cur, bins=bins) == pytest.approx(slow_psi(rc, cc), rel=1e-9, abs=1e-12)
    assert kl_divergence(ref, cur, bins=bins) == pytest.approx(
        stats.entropy(slow_smoothed(rc), slow_smoothed(cc)), rel=1e-9, abs=1e-12
    )
    assert js_divergence(ref, cur, bins=bins) == pytest.approx(
        jensenshannon(slow_smoothed(rc), slow_smoothed(cc)) ** 2, rel=1e-7, abs=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(samples, arrays(np.float64, st.integers(2, 8), elements=st.floats(-1e3, 1e3), unique=True))
def test_bin_counts_matches_slow_loop(values, inner):
    edges = np.concatenate(([-np.inf], np.sort(inner), [np.inf]))
    counts = bin_counts(values, edges)
    assert counts.tolist() == slow_bin(values, edges)
    assert counts.sum() == len(values)


@settings(max_examples=40, deadline=None)
@given(samples, st.integers(2, 20))
def test_reference_edges_are_open_strictly_increasing_and_roughly_even(ref, bins):
    edges = reference_bin_edges(ref, bins=bins)
    assert edges[0] == -np.inf and edges[-1] == np.inf
    assert (np.diff(edges) > 0).all()
    assert len(edges) - 1 <= bins
    # With distinct values, quantile bins hold about n / bins each.
    if len(np.unique(ref)) == len(ref) and len(ref) >= 10 * bins:
        counts = bin_counts(ref, edges)
        assert counts.max() <= len(ref) / bins + 2


# --------------------------------------------------------------------------- invariances and edge cases


def test_psi_of_a_distribution_against_itself_is_zero():
    ref = np.random.default_rng(1).lognormal(size=2_000)
    assert population_stability_index(ref, ref) == pytest.approx(0.0, abs=1e-15)
    assert kl_divergence(ref, ref) == pytest.approx(0.0, abs=1e-15)
    assert js_divergence(ref, ref) == pytest.approx(0.0, abs=1e-15)
    assert ks_statistic(ref, ref) == 0.0


def test_psi_grows_with_shift():
    rng = np.random.default_rng(2)
    ref = rng.normal(size=20_000)
    psis = [population_stability_index(ref, rng.normal(loc=shift, size=20_000)) for shift in (0.0, 0.2, 0.5, 1.0)]
    assert psis == sorted(psis)
    assert psis[0] < PSI_STABLE < psis[2] and psis[3] > PSI_SIGNIFICANT


def test_current_values_beyond_reference_range_are_counted_in_outer_bins():
    ref = np.linspace(0, 1, 100)
    counts = bin_counts([-50.0, 0.5, 50.0], reference_bin_edges(ref, bins=4))
    assert counts.tolist() == [1, 0, 1, 1]


def test_constant_reference_yields_two_bins():
    edges = reference_bin_edges([3.0] * 10, bins=10)
    assert edges.tolist() == [-np.inf, 3.0, np.inf]
    assert bin_counts([2.0, 3.0, 4.0], edges).tolist() == [1, 2]


def test_empty_bin_uses_documented_epsilon():
    # p = [0.5, 0.5]; q = [1, 0] -> [1, eps] / (1 + eps)
    q0, q1 = 1 / (1 + EPS), EPS / (1 + EPS)
    expected = (q0 - 0.5) * math.log(q0 / 0.5) + (q1 - 0.5) * math.log(q1 / 0.5)
    assert population_stability_index_from_counts([5, 5], [10, 0]) == pytest.approx(expected, rel=1e-12)
    assert population_stability_index_from_counts([5, 5], [10, 0], epsilon=1e-2) < expected


@pytest.mark.parametrize(
    ("value", "band"),
    [(0.0, "stable"), (0.0999, "stable"), (0.1, "moderate"), (0.2499, "moderate"), (0.25, "significant"), (3.0, "significant")],
)
def test_psi_band_boundaries(value, band):
    assert psi_band(value) == band


@pytest.mark.parametrize("bad", [float("nan"), -0.01])
def test_psi_band_rejects_impossible_values(bad):
    with pytest.raises(MetricInputError, match="PSI"):
        psi_band(bad)


# --------------------------------------------------------------------------- compare_binned


@settings(max_examples=60, deadline=None)
@given(counts_pair)
def test_compare_binned_matches_scipy_and_the_divergences(pair):
    ref, cur = pair
    res = compare_binned(ref, cur)
    keep = (ref + cur) > 0
    if keep.sum() >= 2:
        oracle = stats.chi2_contingency(np.vstack((ref[keep], cur[keep])), correction=False)
        assert res.chi2 == pytest.approx(oracle.statistic, rel=1e-9, abs=1e-12)
        assert res.p_value == pytest.approx(oracle.pvalue, rel=1e-9, abs=1e-12)
    else:
        assert (res.chi2, res.p_value) == (0.0, 1.0)
    assert res.psi == pytest.approx(population_stability_index_from_counts(ref, cur), rel=1e-12)
    assert res.kl == pytest.approx(kl_divergence_from_counts(ref, cur), rel=1e-12)
    assert res.js == pytest.approx(js_divergence_from_counts(ref, cur), rel=1e-12)
    assert res.band == psi_band(res.psi)
    assert res.significant == (res.band != "stable" and res.p_value < 0.05)
    assert (res.n_reference, res.n_current) == (ref.sum(), cur.sum())


def test_compare_binned_does_not_cry_drift_on_small_windows():
    # Same proportions, different sample sizes: only the large window is significant.
    small = compare_binned([30, 30, 30, 30], [20, 45, 20, 35])
    big = compare_binned([3000, 3000, 3000, 3000], [2000, 4500, 2000, 3500])
    assert small.psi == pytest.approx(big.psi)
    assert small.band == big.band == "moderate"
    assert not small.significant
    assert big.significant


def test_compare_binned_false_alarm_rate_under_the_null_is_bounded():
    # 300 rows per window, 10 bins, same distribution: PSI alone flags many windows.
    rng = np.random.default_rng(3)
    flags_psi = flags_combined = 0
    for _ in range(300):
        ref = rng.multinomial(300, [0.1] * 10)
        cur = rng.multinomial(300, [0.1] * 10)
        res = compare_binned(ref, cur)
        flags_psi += res.band != "stable"
        flags_combined += res.significant
    assert flags_psi > 0
    assert flags_combined / 300 <= 0.05 + 0.03


def test_compare_binned_drops_bins_empty_in_both():
    with_empty = compare_binned([10, 0, 20], [15, 0, 5])
    without = compare_binned([10, 20], [15, 5])
    assert with_empty.chi2 == pytest.approx(without.chi2)
    assert with_empty.p_value == pytest.approx(without.p_value)


def test_compare_binned_single_occupied_bin_is_no_drift():
    res = compare_binned([0, 7, 0], [0, 3, 0])
    assert (res.psi, res.chi2, res.p_value, res.significant) == (0.0, 0.0, 1.0, False)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: population_stability_index_from_counts([1, 2], [1, 2, 3]), "mismatched lengths"),
        (lambda: population_stability_index_from_counts([1, -2], [1, 2]), "non-negative.*-2"),
        (lambda: population_stability_index_from_counts([0, 0], [1, 2]), "reference_counts sums to zero"),
        (lambda: population_stability_index_from_counts([], []), "non-empty"),
        (lambda: population_stability_index_from_counts([1, float("nan")], [1, 2]), "finite"),
        (lambda: population_stability_index_from_counts([1, 2], [1, 2], epsilon=0), "epsilon"),
        (lambda: population_stability_index([1.0, float("nan")], [1.0]), "reference must be finite"),
        (lambda: population_stability_index([], [1.0]), "reference is empty"),
        (lambda: population_stability_index([1.0, 2.0], [1.0], bins=1), "bins"),
        (lambda: ks_statistic([1.0], []), "current is empty"),
        (lambda: bin_counts([5.0], [0.0, 1.0]), "outside"),
        (lambda: bin_counts([0.5], [1.0, 0.0]), "strictly increasing"),
        (lambda: compare_binned([1, 2], [1, 2], alpha=1.5), "alpha"),
    ],
)
def test_bad_input_raises_metric_input_error(call, match):
    with pytest.raises(MetricInputError, match=match):
        call()
