"""Distribution drift between a reference window and a current window.

Two ways in, same numbers out:

* from raw samples (``population_stability_index(reference, current)``): bins are fixed on the
  *reference* (its quantiles), so the reference is spread evenly and the current window is
  judged against it;
* from binned counts (``*_from_counts``): what the warehouse push-down returns after binning on
  :func:`reference_bin_edges`, so millions of rows never leave the warehouse.

Bin convention, shared with the SQL push-down: bin ``i`` holds ``edges[i] <= x < edges[i + 1]``
(the last bin also holds ``x == edges[-1]``). The outer edges from :func:`reference_bin_edges` are
``-inf`` and ``+inf`` so no current value falls outside.

Smoothing: PSI and KL are infinite when a bin is empty in one window only. Proportions are
therefore smoothed the same way everywhere: ``epsilon`` is added to every *zero* proportion and
the vector is renormalised to sum to one. JS divergence uses the same smoothed proportions so the
three numbers describe the same pair of distributions. Divergences are in nats (natural log).

PSI alone over-reacts on small windows: with a few hundred rows per window and ten bins, sampling
noise alone pushes PSI past 0.1 routinely. :func:`compare_binned` therefore pairs the PSI band with
a chi-square test of homogeneity and only calls drift *significant* when both agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from metrics._validation import as_1d_float, as_counts, check_same_length
from metrics.errors import MetricInputError

__all__ = [
    "PSI_SIGNIFICANT",
    "PSI_STABLE",
    "DriftResult",
    "bin_counts",
    "compare_binned",
    "js_divergence",
    "js_divergence_from_counts",
    "kl_divergence",
    "kl_divergence_from_counts",
    "ks_statistic",
    "population_stability_index",
    "population_stability_index_from_counts",
    "psi_band",
    "reference_bin_edges",
]

#: Below this PSI the population is conventionally considered unchanged.
PSI_STABLE = 0.1
#: At or above this PSI the shift is conventionally considered significant.
PSI_SIGNIFICANT = 0.25

PsiBand = Literal["stable", "moderate", "significant"]


# --------------------------------------------------------------------------- binning


def reference_bin_edges(reference, *, bins: int = 10) -> np.ndarray:
    """Quantile bin edges of ``reference``, with open outer edges.

    Parameters
    ----------
    reference : array-like of float
        Reference sample (e.g. the launch window's scores or a feature).
    bins : int, default=10
        Number of quantile bins requested. Tied quantiles are merged, so a reference with few
        distinct values yields fewer bins.

    Returns
    -------
    edges : ndarray of shape (n_bins + 1,)
        Strictly increasing; ``edges[0] == -inf`` and ``edges[-1] == +inf``.

    Examples
    --------
    >>> reference_bin_edges([1, 2, 3, 4], bins=2)
    array([-inf,  2.5,  inf])
    >>> reference_bin_edges([5, 5, 5], bins=4)
    array([-inf,   5.,  inf])
    """
    ref = as_1d_float(reference, name="reference")
    _check_bins(bins)
    interior = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    return np.concatenate(([-np.inf], interior, [np.inf]))


def bin_counts(values, edges) -> np.ndarray:
    """Count ``values`` in the bins delimited by ``edges``.

    Bin ``i`` holds ``edges[i] <= x < edges[i + 1]``; the last bin also holds ``x == edges[-1]``.

    Parameters
    ----------
    values : array-like of float
    edges : array-like of float
        Strictly increasing, at least two edges.

    Returns
    -------
    counts : ndarray of int64, shape (len(edges) - 1,)

    Raises
    ------
    MetricInputError
        If edges are not strictly increasing or a value lies outside ``[edges[0], edges[-1]]``.

    Examples
    --------
    >>> bin_counts([0.1, 0.5, 0.5, 2.0], [-np.inf, 0.5, np.inf])
    array([1, 3])
    """
    vals = as_1d_float(values, name="values")
    edges = _check_edges(edges)
    n_bins = edges.size - 1
    idx = np.searchsorted(edges, vals, side="right") - 1
    # Values equal to the last finite edge belong to the last bin, as in numpy.histogram.
    idx[vals == edges[-1]] = n_bins - 1
    outside = (idx < 0) | (idx >= n_bins)
    if outside.any():
        first = vals[np.flatnonzero(outside)[0]]
        raise MetricInputError(
            f"{int(outside.sum())} value(s) lie outside the edges [{edges[0]!r}, {edges[-1]!r}] "
            f"(first: {first!r}); use reference_bin_edges() for open outer edges"
        )
    return np.bincount(idx, minlength=n_bins).astype(np.int64)


# --------------------------------------------------------------------------- divergences


def population_stability_index(reference, current, *, bins: int = 10, epsilon: float = 1e-4) -> float:
    """Population stability index of ``current`` against ``reference``.

    ``PSI = sum_i (q_i - p_i) * ln(q_i / p_i)`` over quantile bins of the reference, where ``p``
    and ``q`` are the smoothed reference and current proportions (see the module docstring:
    ``epsilon`` is added to zero proportions, then each vector is renormalised). PSI is the
    symmetrised KL divergence, ``KL(p||q) + KL(q||p)``, in nats.

    Parameters
    ----------
    reference, current : array-like of float
        Samples; they may differ in length.
    bins : int, default=10
        Quantile bins computed on ``reference`` (see :func:`reference_bin_edges`).
    epsilon : float, default=1e-4
        Proportion given to a bin that is empty in one window.

    Returns
    -------
    float
        Non-negative; 0 when the binned distributions are identical.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = rng.normal(size=5_000)
    >>> round(population_stability_index(ref, ref), 6)
    0.0
    >>> population_stability_index(ref, rng.normal(1.0, size=5_000)) > PSI_SIGNIFICANT
    True
    """
    ref_counts, cur_counts = _binned_pair(reference, current, bins)
    return population_stability_index_from_counts(ref_counts, cur_counts, epsilon=epsilon)


def kl_divergence(reference, current, *, bins: int = 10, epsilon: float = 1e-4) -> float:
    """Kullback-Leibler divergence ``KL(reference || current)`` in nats, from samples.

    Binned and smoothed exactly as :func:`population_stability_index`; equals
    ``scipy.stats.entropy(p, q)`` on the smoothed reference and current proportions ``p``, ``q``.

    Examples
    --------
    >>> ref = np.arange(1000.0)
    >>> kl_divergence(ref, ref)
    0.0
    """
    ref_counts, cur_counts = _binned_pair(reference, current, bins)
    return kl_divergence_from_counts(ref_counts, cur_counts, epsilon=epsilon)


def js_divergence(reference, current, *, bins: int = 10, epsilon: float = 1e-4) -> float:
    """Jensen-Shannon divergence in nats, from samples.

    Binned and smoothed exactly as :func:`population_stability_index`. Symmetric, bounded by
    ``ln 2``, and equal to ``scipy.spatial.distance.jensenshannon(p, q) ** 2`` (natural log).

    Examples
    --------
    >>> bool(js_divergence([0.0, 1.0, 2.0, 3.0], [10.0, 11.0, 12.0, 13.0], bins=2) <= np.log(2))
    True
    """
    ref_counts, cur_counts = _binned_pair(reference, current, bins)
    return js_divergence_from_counts(ref_counts, cur_counts, epsilon=epsilon)


def population_stability_index_from_counts(reference_counts, current_counts, *, epsilon: float = 1e-4) -> float:
    """Population stability index from per-bin counts of the two windows.

    Parameters
    ----------
    reference_counts, current_counts : array-like of non-negative float
        Counts in the same bins (same length), e.g. from :func:`bin_counts` or the warehouse.
    epsilon : float, default=1e-4
        Proportion given to an empty bin before renormalising.

    Examples
    --------
    >>> round(population_stability_index_from_counts([50, 50], [60, 40]), 4)
    0.0405
    """
    p, q = _smoothed_pair(reference_counts, current_counts, epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def kl_divergence_from_counts(reference_counts, current_counts, *, epsilon: float = 1e-4) -> float:
    """``KL(reference || current)`` in nats from per-bin counts (smoothed as in the module doc).

    Examples
    --------
    >>> round(kl_divergence_from_counts([50, 50], [60, 40]), 4)
    0.0204
    """
    p, q = _smoothed_pair(reference_counts, current_counts, epsilon)
    return float(np.sum(p * np.log(p / q)))


def js_divergence_from_counts(reference_counts, current_counts, *, epsilon: float = 1e-4) -> float:
    """Jensen-Shannon divergence in nats from per-bin counts (smoothed as in the module doc).

    Examples
    --------
    >>> round(js_divergence_from_counts([1, 0], [0, 1]), 3)  # close to ln 2 = 0.693
    0.692
    """
    p, q = _smoothed_pair(reference_counts, current_counts, epsilon)
    m = 0.5 * (p + q)
    js = 0.5 * np.sum(p * np.log(p / m)) + 0.5 * np.sum(q * np.log(q / m))
    # Rounding can leave a tiny negative for identical inputs; the divergence is >= 0.
    return float(max(js, 0.0))


def ks_statistic(reference, current) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs.

    Equal to ``scipy.stats.ks_2samp(reference, current).statistic``; computed on sorted arrays
    with ``searchsorted`` in ``O((n + m) log(n + m))``.

    Examples
    --------
    >>> ks_statistic([1, 2, 3], [1, 2, 3])
    0.0
    >>> ks_statistic([1, 2], [3, 4])
    1.0
    """
    ref = np.sort(as_1d_float(reference, name="reference"))
    cur = np.sort(as_1d_float(current, name="current"))
    # The ECDF gap can only change at observed points, so evaluating there is exact.
    points = np.concatenate((ref, cur))
    cdf_ref = np.searchsorted(ref, points, side="right") / ref.size
    cdf_cur = np.searchsorted(cur, points, side="right") / cur.size
    return float(np.max(np.abs(cdf_ref - cdf_cur)))


def psi_band(value: float) -> PsiBand:
    """Conventional reading of a PSI value.

    ``"stable"`` below :data:`PSI_STABLE` (0.1), ``"moderate"`` up to :data:`PSI_SIGNIFICANT`
    (0.25, exclusive), ``"significant"`` from there on.

    Examples
    --------
    >>> psi_band(0.05), psi_band(0.1), psi_band(0.3)
    ('stable', 'moderate', 'significant')
    """
    v = float(value)
    if np.isnan(v) or v < 0:
        raise MetricInputError(f"PSI must be a non-negative number, got {value!r}")
    if v < PSI_STABLE:
        return "stable"
    if v < PSI_SIGNIFICANT:
        return "moderate"
    return "significant"


# --------------------------------------------------------------------------- combined verdict


@dataclass(frozen=True)
class DriftResult:
    """Drift between two binned windows, with a significance test to temper PSI.

    Attributes
    ----------
    psi, kl, js : float
        Divergences in nats (KL is ``KL(reference || current)``).
    band : {"stable", "moderate", "significant"}
        :func:`psi_band` of ``psi``.
    chi2, p_value : float
        Pearson chi-square test of homogeneity on the 2 x bins table (bins empty in both
        windows dropped).
    significant : bool
        ``band != "stable"`` and ``p_value < alpha``.
    n_reference, n_current : int
        Rows in each window.
    alpha : float
        Level used for ``significant``.
    """

    psi: float
    kl: float
    js: float
    band: PsiBand
    chi2: float
    p_value: float
    significant: bool
    n_reference: int
    n_current: int
    alpha: float = 0.05


def compare_binned(reference_counts, current_counts, *, alpha: float = 0.05, epsilon: float = 1e-4) -> DriftResult:
    """Compare two windows binned on the same edges.

    PSI on a few hundred rows crosses 0.1 by chance alone, so a PSI band beyond ``"stable"`` is
    only reported as ``significant`` when a chi-square test of homogeneity also rejects "same
    distribution" at ``alpha``. On large windows the test rejects for tiny shifts, so the PSI band
    guards the other side: both must agree.

    The test is ``scipy.stats.chi2_contingency`` on the 2 x bins table without Yates' correction
    (so the statistic does not change definition when only two bins remain). Bins empty in both
    windows are dropped because they carry no information and would make expected counts zero.
    With a single non-empty bin the windows are identical: ``chi2 = 0``, ``p_value = 1``.

    Parameters
    ----------
    reference_counts, current_counts : array-like of non-negative float
        Counts per bin, same length, each with a positive total.
    alpha : float, default=0.05
    epsilon : float, default=1e-4
        Smoothing for PSI, KL and JS (see the module docstring).

    Examples
    --------
    >>> small = compare_binned([30, 30, 30, 30], [20, 45, 20, 35])
    >>> small.band, small.significant
    ('moderate', False)
    >>> big = compare_binned([3000, 3000, 3000, 3000], [2000, 4500, 2000, 3500])
    >>> big.band, big.significant
    ('moderate', True)
    """
    _check_alpha(alpha)
    ref, cur = _count_pair(reference_counts, current_counts)
    p, q = _smoothed_from_counts(ref, cur, epsilon)
    psi = float(np.sum((q - p) * np.log(q / p)))
    kl = float(np.sum(p * np.log(p / q)))
    m = 0.5 * (p + q)
    js = float(max(0.5 * np.sum(p * np.log(p / m)) + 0.5 * np.sum(q * np.log(q / m)), 0.0))

    keep = (ref + cur) > 0
    if keep.sum() < 2:
        chi2, p_value = 0.0, 1.0
    else:
        res = stats.chi2_contingency(np.vstack((ref[keep], cur[keep])), correction=False)
        chi2, p_value = float(res.statistic), float(res.pvalue)

    band = psi_band(psi)
    return DriftResult(
        psi=psi,
        kl=kl,
        js=js,
        band=band,
        chi2=chi2,
        p_value=p_value,
        significant=bool(band != "stable" and p_value < alpha),
        n_reference=int(round(ref.sum())),
        n_current=int(round(cur.sum())),
        alpha=float(alpha),
    )


# --------------------------------------------------------------------------- helpers


def _check_bins(bins) -> None:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise MetricInputError(f"bins must be an integer >= 2, got {bins!r}")


def _check_alpha(alpha) -> None:
    if not 0.0 < float(alpha) < 1.0:
        raise MetricInputError(f"alpha must be in (0, 1), got {alpha!r}")


def _check_edges(edges) -> np.ndarray:
    try:
        arr = np.asarray(edges, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"edges must be numeric: {exc}") from exc
    if arr.ndim != 1 or arr.size < 2:
        raise MetricInputError(f"edges must be a 1-D array of at least 2 values, got shape {arr.shape}")
    if np.isnan(arr).any():
        raise MetricInputError("edges contain NaN")
    if not (np.diff(arr) > 0).all():
        raise MetricInputError(f"edges must be strictly increasing, got {arr.tolist()!r}")
    return arr


def _binned_pair(reference, current, bins):
    ref = as_1d_float(reference, name="reference")
    cur = as_1d_float(current, name="current")
    edges = reference_bin_edges(ref, bins=bins)
    return bin_counts(ref, edges), bin_counts(cur, edges)


def _count_pair(reference_counts, current_counts):
    ref = as_counts(reference_counts, name="reference_counts")
    cur = as_counts(current_counts, name="current_counts")
    for name, arr in (("reference_counts", ref), ("current_counts", cur)):
        if arr.ndim != 1 or arr.size == 0:
            raise MetricInputError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    check_same_length(reference_counts=ref, current_counts=cur)
    for name, arr in (("reference_counts", ref), ("current_counts", cur)):
        if arr.sum() <= 0:
            raise MetricInputError(f"{name} sums to zero; a window needs at least one row")
    return ref, cur


def _smoothed(proportions: np.ndarray, epsilon: float) -> np.ndarray:
    smoothed = np.where(proportions == 0, epsilon, proportions)
    return smoothed / smoothed.sum()


def _smoothed_from_counts(ref: np.ndarray, cur: np.ndarray, epsilon) -> tuple[np.ndarray, np.ndarray]:
    eps = float(epsilon)
    if not (np.isfinite(eps) and 0.0 < eps < 1.0):
        raise MetricInputError(f"epsilon must be in (0, 1), got {epsilon!r}")
    return _smoothed(ref / ref.sum(), eps), _smoothed(cur / cur.sum(), eps)


def _smoothed_pair(reference_counts, current_counts, epsilon):
    ref, cur = _count_pair(reference_counts, current_counts)
    return _smoothed_from_counts(ref, cur, epsilon)
