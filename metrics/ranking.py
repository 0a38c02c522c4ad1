"""Ranking metrics over long-format data: one row per (query, item) pair.

This is the shape a warehouse returns (``query_id, score, relevance``), so no query has to be
padded to a common length. Every function sorts once by query then descending score and
reduces with grouped numpy operations — no Python loop per query.

Tied scores: the order of tied items is arbitrary, so every metric here reports its *expected*
value over all orderings of tied items (the rule scikit-learn's ``ndcg_score`` uses, after
McSherry & Najork, 2008). The result never depends on row order.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import gammaln

from metrics._validation import ZeroDivision, as_1d_float, check_same_length
from metrics.errors import MetricInputError, UndefinedMetricWarning

__all__ = ["mrr_score", "ndcg_score", "precision_at_k", "recall_at_k"]


@dataclass(frozen=True)
class _Ranked:
    """Rows sorted by query, then descending score, with tie groups marked."""

    query: np.ndarray  # query code per row, sorted, 0..n_queries-1
    relevance: np.ndarray
    position: np.ndarray  # 0-based rank within the query
    group: np.ndarray  # tie-group id per row (ties share a group within one query)
    group_start: np.ndarray  # per group: rank of its first row
    group_size: np.ndarray
    group_query: np.ndarray
    n_queries: int


def _rank(query_ids, scores, relevance) -> _Ranked:
    s = as_1d_float(scores, name="scores")
    rel = as_1d_float(relevance, name="relevance")
    q = np.asarray(query_ids)
    if q.ndim != 1:
        raise MetricInputError(f"query_ids must be one-dimensional, got shape {q.shape}")
    check_same_length(query_ids=q, scores=s, relevance=rel)
    negative = rel < 0
    if negative.any():
        i = int(np.flatnonzero(negative)[0])
        raise MetricInputError(f"relevance must be non-negative; found {float(rel[i])!r} at index {i}")
    codes, _ = pd.factorize(q)
    if (codes < 0).any():
        i = int(np.flatnonzero(codes < 0)[0])
        raise MetricInputError(f"query_ids must not be missing; found {q[i]!r} at index {i}")

    order = np.lexsort((-s, codes))
    query, s, rel = codes[order], s[order], rel[order]
    n = query.size
    new_query = np.empty(n, dtype=bool)
    new_query[0] = True
    np.not_equal(query[1:], query[:-1], out=new_query[1:])
    query_start = np.flatnonzero(new_query)
    position = np.arange(n) - np.repeat(query_start, np.diff(np.append(query_start, n)))

    new_group = new_query.copy()
    new_group[1:] |= s[1:] != s[:-1]
    group_first_row = np.flatnonzero(new_group)
    return _Ranked(
        query=query,
        relevance=rel,
        position=position,
        group=np.cumsum(new_group) - 1,
        group_start=position[group_first_row],
        group_size=np.diff(np.append(group_first_row, n)),
        group_query=query[group_first_row],
        n_queries=int(query_start.size),
    )


def _check_k(k, *, allow_none: bool) -> int | None:
    if k is None and allow_none:
        return None
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise MetricInputError(f"k must be a positive integer, got {k!r}")
    if k <= 0:
        raise MetricInputError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _check_threshold(threshold) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"threshold must be a number, got {threshold!r}") from exc
    if not math.isfinite(value):
        raise MetricInputError(f"threshold must be finite, got {threshold!r}")
    return value


def _expected_in_top_k(ranked: _Ranked, weight: np.ndarray, k: int) -> np.ndarray:
    """Per query, the expected sum of ``weight`` over the top ``k`` under random tie order.

    A tie group straddling the cut-off contributes its mean weight once per slot it gets.
    """
    group_weight = np.bincount(ranked.group, weights=weight, minlength=ranked.group_size.size)
    slots = np.clip(k - ranked.group_start, 0, ranked.group_size)
    return np.bincount(
        ranked.group_query, weights=group_weight * slots / ranked.group_size, minlength=ranked.n_queries
    )


def ndcg_score(query_ids, scores, relevance, *, k: int | None = None) -> float:
    """Mean normalised discounted cumulative gain over queries.

    Matches :func:`sklearn.metrics.ndcg_score` (linear gains, ``log2`` discounts, ties
    averaged) on the same queries. A query whose relevance is all zero scores 0, as in
    scikit-learn.

    Parameters
    ----------
    query_ids : array-like, shape (n,)
        Query of each row (any hashable values).
    scores : array-like of float, shape (n,)
        Predicted scores; higher ranks first.
    relevance : array-like of float, shape (n,)
        Graded relevance, non-negative.
    k : int, optional
        Only the top ``k`` ranks count.

    Returns
    -------
    float

    Examples
    --------
    >>> round(ndcg_score(["a", "a", "a"], [0.9, 0.5, 0.1], [0, 1, 2]), 6)
    0.619906
    >>> ndcg_score(["a", "a", "b", "b"], [2, 1, 2, 1], [1, 0, 0, 1], k=1)
    0.5
    """
    k = _check_k(k, allow_none=True)
    ranked = _rank(query_ids, scores, relevance)
    discount = 1.0 / np.log2(ranked.position + 2.0)
    if k is not None:
        discount[ranked.position >= k] = 0.0

    # Tied items share their group's mean relevance at each of the group's ranks.
    group_gain = np.bincount(ranked.group, weights=ranked.relevance) / ranked.group_size
    dcg = np.bincount(ranked.query, weights=group_gain[ranked.group] * discount, minlength=ranked.n_queries)

    # The ideal order sorts relevance within each query; ranks (hence discounts) are unchanged.
    ideal = np.lexsort((-ranked.relevance, ranked.query))
    idcg = np.bincount(ranked.query, weights=ranked.relevance[ideal] * discount, minlength=ranked.n_queries)

    gain = np.zeros(ranked.n_queries)
    np.divide(dcg, idcg, out=gain, where=idcg > 0)
    return float(gain.mean())


def mrr_score(query_ids, scores, relevance, *, threshold: float = 1) -> float:
    """Mean reciprocal rank of the first relevant item (``relevance >= threshold``).

    A query with no relevant item contributes 0 (its relevant item was never ranked). When the
    first relevant item is tied with others, the expected reciprocal rank over the orderings
    of that tie is used.

    Examples
    --------
    >>> mrr_score([1, 1, 1, 2, 2], [0.9, 0.8, 0.7, 0.6, 0.5], [0, 1, 0, 1, 0])
    0.75
    >>> mrr_score([1, 1], [0.5, 0.5], [1, 0])  # tied: rank 1 or 2, equally likely
    0.75
    """
    threshold = _check_threshold(threshold)
    ranked = _rank(query_ids, scores, relevance)
    relevant = (ranked.relevance >= threshold).astype(np.float64)
    group_relevant = np.bincount(ranked.group, weights=relevant, minlength=ranked.group_size.size)

    # The first group per query holding a relevant item decides the reciprocal rank.
    candidates = np.flatnonzero(group_relevant > 0)
    _, first = np.unique(ranked.group_query[candidates], return_index=True)
    groups = candidates[first]
    start = ranked.group_start[groups].astype(np.float64)
    m = ranked.group_size[groups]
    r = group_relevant[groups].astype(np.int64)

    # Within a tie of m items holding r relevant ones, the first relevant lands at offset
    # j = 1..m-r+1 with probability C(m-j, r-1) / C(m, r).
    offsets_per_group = m - r + 1
    owner = np.repeat(np.arange(groups.size), offsets_per_group)
    j = np.arange(owner.size) - np.repeat(np.cumsum(offsets_per_group) - offsets_per_group, offsets_per_group) + 1
    mo, ro = m[owner], r[owner]
    log_p = _log_comb(mo - j, ro - 1) - _log_comb(mo, ro)
    reciprocal = np.bincount(owner, weights=np.exp(log_p) / (start[owner] + j), minlength=groups.size)
    return float(reciprocal.sum() / ranked.n_queries)


def _log_comb(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    return gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)


def precision_at_k(query_ids, scores, relevance, *, k: int, threshold: float = 1) -> float:
    """Mean over queries of the share of the top ``k`` that is relevant.

    The denominator is always ``k`` (the TREC convention): a query with fewer than ``k``
    items cannot reach 1. Ties across the cut-off count their expected share.

    Examples
    --------
    >>> precision_at_k(["a"] * 4, [4, 3, 2, 1], [1, 0, 1, 1], k=2)
    0.5
    """
    k = _check_k(k, allow_none=False)
    threshold = _check_threshold(threshold)
    ranked = _rank(query_ids, scores, relevance)
    hits = _expected_in_top_k(ranked, (ranked.relevance >= threshold).astype(np.float64), k)
    return float((hits / k).mean())


def recall_at_k(
    query_ids, scores, relevance, *, k: int, threshold: float = 1, zero_division: ZeroDivision = "warn"
) -> float:
    """Mean over queries of the share of relevant items ranked in the top ``k``.

    Recall is undefined for a query with no relevant item; ``zero_division`` decides:
    ``"warn"`` (0.0 for those queries and an
    :class:`~metrics.errors.UndefinedMetricWarning`), a number used for those queries, or
    ``"nan"`` to leave them out of the mean.

    Examples
    --------
    >>> recall_at_k(["a"] * 4, [4, 3, 2, 1], [1, 0, 1, 1], k=2)
    0.3333333333333333
    >>> recall_at_k(["a", "a", "b"], [2, 1, 1], [1, 1, 0], k=1, zero_division="nan")
    0.5
    """
    k = _check_k(k, allow_none=False)
    threshold = _check_threshold(threshold)
    ranked = _rank(query_ids, scores, relevance)
    relevant = (ranked.relevance >= threshold).astype(np.float64)
    hits = _expected_in_top_k(ranked, relevant, k)
    total = np.bincount(ranked.query, weights=relevant, minlength=ranked.n_queries)
    defined = total > 0
    recall = np.divide(hits, total, out=np.zeros_like(hits), where=defined)
    n_undefined = int((~defined).sum())
    if n_undefined:
        if zero_division == "nan":
            return float(recall[defined].mean()) if defined.any() else float("nan")
        if zero_division == "warn":
            warnings.warn(
                f"recall_at_k is undefined for {n_undefined} of {ranked.n_queries} queries with no "
                "relevant item; they count as 0.0. Pass zero_division= to choose the value explicitly.",
                UndefinedMetricWarning,
                stacklevel=2,
            )
        else:
            recall[~defined] = float(zero_division)
    return float(recall.mean())
