import itertools
import math
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import ndcg_score as sk_ndcg_score

from metrics.errors import MetricInputError, UndefinedMetricWarning
from metrics.ranking import mrr_score, ndcg_score, precision_at_k, recall_at_k

FAST = settings(max_examples=60, deadline=None)


# ---- slow references: enumerate every ordering of tied items --------------------------------


def orderings(items):
    """Every ranking of ``items`` (score, relevance) consistent with the scores."""
    by_score = defaultdict(list)
    for score, rel in items:
        by_score[score].append(rel)
    groups = [by_score[score] for score in sorted(by_score, reverse=True)]
    for parts in itertools.product(*(itertools.permutations(group) for group in groups)):
        yield [rel for part in parts for rel in part]


def by_query(q, s, rel):
    queries = defaultdict(list)
    for qid, score, r in zip(q, s, rel):
        queries[qid].append((score, r))
    return queries


def slow_mean_over_ties(q, s, rel, per_ranking):
    values = []
    for items in by_query(q, s, rel).values():
        outcomes = [per_ranking(ranking) for ranking in orderings(items)]
        values.append(sum(outcomes) / len(outcomes))
    return sum(values) / len(values)


def slow_reciprocal_rank(ranking, threshold):
    for rank, r in enumerate(ranking, start=1):
        if r >= threshold:
            return 1.0 / rank
    return 0.0


def slow_dcg(ranking, k):
    return sum(r / math.log2(i + 2) for i, r in enumerate(ranking) if k is None or i < k)


@st.composite
def long_format(draw, *, max_items=5):
    """Few queries of up to ``max_items`` rows, scores from few values so ties are common."""
    rows = []
    for qid in range(draw(st.integers(1, 4))):
        n = draw(st.integers(1, max_items))
        for _ in range(n):
            rows.append((f"q{qid}", draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])), draw(st.integers(0, 3))))
    order = draw(st.permutations(range(len(rows))))
    rows = [rows[i] for i in order]
    q, s, rel = zip(*rows)
    return np.array(q), np.array(s), np.array(rel, dtype=float)


# ---- NDCG -------------------------------------------------------------------------------------


@st.composite
def square_queries(draw):
    n_queries, n_items = draw(st.integers(1, 4)), draw(st.integers(2, 6))
    tied = draw(st.booleans())
    score = st.sampled_from([0.0, 1.0, 2.0]) if tied else st.floats(-100, 100, allow_nan=False)
    shape = (n_queries, n_items)
    rel = np.array(draw(st.lists(st.integers(0, 4), min_size=n_queries * n_items, max_size=n_queries * n_items)))
    s = np.array(draw(st.lists(score, min_size=n_queries * n_items, max_size=n_queries * n_items)))
    k = draw(st.none() | st.integers(1, n_items + 1))
    return rel.reshape(shape).astype(float), s.reshape(shape), k


@FAST
@given(square_queries(), st.randoms(use_true_random=False))
def test_ndcg_matches_sklearn(data, random):
    rel, s, k = data
    q = np.repeat(np.arange(rel.shape[0]), rel.shape[1])
    order = list(range(q.size))
    random.shuffle(order)  # long format arrives in any row order
    ours = ndcg_score(q[order], s.ravel()[order], rel.ravel()[order], k=k)
    assert ours == pytest.approx(sk_ndcg_score(rel, s, k=k), abs=1e-12)


@FAST
@given(long_format(), st.none() | st.integers(1, 6))
def test_ndcg_matches_slow_tie_average_with_ragged_queries(data, k):
    q, s, rel = data

    def per_query_ndcg(items):
        ideal = slow_dcg(sorted((r for _, r in items), reverse=True), k)
        if ideal == 0:
            return 0.0
        dcgs = [slow_dcg(ranking, k) for ranking in orderings(items)]
        return sum(dcgs) / len(dcgs) / ideal

    queries = by_query(q, s, rel)
    expected = sum(per_query_ndcg(items) for items in queries.values()) / len(queries)
    assert ndcg_score(q, s, rel, k=k) == pytest.approx(expected, abs=1e-12)


def test_ndcg_all_zero_relevance_query_scores_zero_like_sklearn():
    rel = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 2.0]])
    s = np.array([[0.3, 0.2, 0.1], [0.9, 0.1, 0.5]])
    q = np.repeat([0, 1], 3)
    assert ndcg_score(q, s.ravel(), rel.ravel()) == pytest.approx(sk_ndcg_score(rel, s), abs=1e-12)
    assert ndcg_score(q[:3], s.ravel()[:3], rel.ravel()[:3]) == 0.0


def test_ndcg_perfect_ranking_is_one_and_extreme_scores_are_fine():
    assert ndcg_score([1, 1, 1], [3.0, 2.0, 1.0], [5, 2, 0]) == pytest.approx(1.0)
    assert ndcg_score([1, 1, 1], [1e300, 1e-300, -1e300], [5, 2, 0]) == pytest.approx(1.0)
    assert ndcg_score([1, 1], [1e-300, 2e-300], [1, 0]) == pytest.approx(sk_ndcg_score([[1, 0]], [[1e-300, 2e-300]]))


# ---- MRR, precision@k, recall@k against slow references ----------------------------------------


@FAST
@given(long_format(), st.sampled_from([1, 2, 3]))
def test_mrr_matches_slow_tie_average(data, threshold):
    q, s, rel = data
    expected = slow_mean_over_ties(q, s, rel, lambda ranking: slow_reciprocal_rank(ranking, threshold))
    assert mrr_score(q, s, rel, threshold=threshold) == pytest.approx(expected, abs=1e-12)


@FAST
@given(long_format(), st.integers(1, 6), st.sampled_from([1, 2]))
def test_precision_at_k_matches_slow_tie_average(data, k, threshold):
    q, s, rel = data
    expected = slow_mean_over_ties(q, s, rel, lambda ranking: sum(r >= threshold for r in ranking[:k]) / k)
    assert precision_at_k(q, s, rel, k=k, threshold=threshold) == pytest.approx(expected, abs=1e-12)


@FAST
@given(long_format(), st.integers(1, 6))
def test_recall_at_k_matches_slow_tie_average(data, k):
    q, s, rel = data
    queries = by_query(q, s, rel)
    values = []
    for items in queries.values():
        total = sum(r >= 1 for _, r in items)
        if total:
            outcomes = [sum(r >= 1 for r in ranking[:k]) / total for ranking in orderings(items)]
            values.append(sum(outcomes) / len(outcomes))
    expected = sum(values) / len(values) if values else math.nan
    assert recall_at_k(q, s, rel, k=k, zero_division="nan") == pytest.approx(expected, abs=1e-12, nan_ok=True)


def test_mrr_hand_computed():
    # q1: first relevant at rank 2; q2: at rank 1; q3: none.
    q = ["q1", "q1", "q1", "q2", "q2", "q3"]
    s = [0.9, 0.8, 0.1, 0.4, 0.3, 0.5]
    rel = [0, 2, 1, 1, 0, 0]
    assert mrr_score(q, s, rel) == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert mrr_score(q, s, rel, threshold=2) == pytest.approx(0.5 / 3)


def test_mrr_large_tie_is_finite_and_exact():
    # 400 tied items, 3 relevant: E[1/rank] from the closed form, summed with exact fractions.
    from fractions import Fraction
    from math import comb

    m, r = 400, 3
    expected = sum(Fraction(comb(m - j, r - 1), comb(m, r)) / j for j in range(1, m - r + 2))
    rel = [1] * r + [0] * (m - r)
    assert mrr_score([0] * m, [0.5] * m, rel) == pytest.approx(float(expected), rel=1e-10)


def test_precision_and_recall_at_k_hand_computed():
    q = ["a"] * 4 + ["b"] * 2
    s = [4, 3, 2, 1, 9, 8]
    rel = [1, 0, 1, 1, 0, 1]
    assert precision_at_k(q, s, rel, k=2) == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert recall_at_k(q, s, rel, k=2) == pytest.approx((1 / 3 + 1) / 2)
    # k beyond a query's length keeps k as the denominator.
    assert precision_at_k(["b"] * 2, [9, 8], [0, 1], k=4) == 0.25


def test_recall_at_k_zero_division_choices():
    q, s, rel = ["a", "a", "b"], [2, 1, 1], [1, 1, 0]
    with pytest.warns(UndefinedMetricWarning, match="undefined for 1 of 2 queries"):
        assert recall_at_k(q, s, rel, k=1) == 0.25
    assert recall_at_k(q, s, rel, k=1, zero_division=1.0) == 0.75
    assert recall_at_k(q, s, rel, k=1, zero_division="nan") == 0.5
    assert math.isnan(recall_at_k(["b"], [1], [0], k=1, zero_division="nan"))


def test_row_order_does_not_matter():
    rng = np.random.default_rng(5)
    q = rng.integers(0, 50, 2000)
    s = rng.integers(0, 20, 2000).astype(float)  # plenty of ties
    rel = rng.integers(0, 3, 2000).astype(float)
    perm = rng.permutation(2000)
    for fn, kwargs in [(ndcg_score, {"k": 5}), (mrr_score, {}), (precision_at_k, {"k": 3}),
                       (recall_at_k, {"k": 3, "zero_division": 0.0})]:
        assert fn(q, s, rel, **kwargs) == pytest.approx(fn(q[perm], s[perm], rel[perm], **kwargs), abs=1e-12)


# ---- bad input --------------------------------------------------------------------------------

ALL = [
    (ndcg_score, {}),
    (mrr_score, {}),
    (precision_at_k, {"k": 2}),
    (recall_at_k, {"k": 2}),
]


@pytest.mark.parametrize("fn, kwargs", ALL)
@pytest.mark.parametrize(
    "q, s, rel, message",
    [
        ([1, 1], [0.1, 0.2], [1, -1], "relevance must be non-negative; found -1.0 at index 1"),
        ([1, 1], [0.1, float("nan")], [1, 0], "scores must be finite.*nan"),
        ([1, 1], [0.1, float("inf")], [1, 0], "scores must be finite.*inf"),
        ([1, 1], [0.1, 0.2], [1, float("nan")], "relevance must be finite"),
        ([1, 1, 1], [0.1, 0.2], [1, 0], "mismatched lengths: query_ids=3, scores=2, relevance=2"),
        ([], [], [], "scores is empty"),
        ([1, None], [0.1, 0.2], [1, 0], "query_ids must not be missing; found None at index 1"),
    ],
)
def test_bad_input_names_the_problem(fn, kwargs, q, s, rel, message):
    with pytest.raises(MetricInputError, match=message):
        fn(q, s, rel, **kwargs)


@pytest.mark.parametrize("fn", [ndcg_score, precision_at_k, recall_at_k])
@pytest.mark.parametrize("k", [0, -3, 1.5, True])
def test_k_must_be_a_positive_integer(fn, k):
    with pytest.raises(MetricInputError, match=f"k must be a positive integer, got {k!r}"):
        fn([1, 1], [0.1, 0.2], [1, 0], k=k)


def test_large_input_is_vectorised():
    import time

    rng = np.random.default_rng(0)
    n = 1_000_000
    q = rng.integers(0, 100_000, n)
    s = rng.random(n)
    rel = rng.integers(0, 3, n).astype(float)
    start = time.perf_counter()
    for fn, kwargs in [(ndcg_score, {"k": 10}), (mrr_score, {}), (precision_at_k, {"k": 10})]:
        fn(q, s, rel, **kwargs)
    # A loop per query (100,000 of them) would take far longer than this.
    assert time.perf_counter() - start < 10
