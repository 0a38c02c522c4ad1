"""Push a metric's heavy work down to the warehouse: it returns sufficient statistics, not rows.

The team's query is wrapped, untouched, as a subquery; the wrapper aggregates its rows into the
statistics the metric needs, and :mod:`metrics` turns those into a value:

==============  ==========================  ==================================================
kind            inner columns               what the warehouse returns
==============  ==========================  ==================================================
classification  score, label [, segment]    counts per (segment, label, score bin)
experiment      variant, value              n, sum, sum of squares (and min, max) per variant
distribution    value                       counts per bin on the reference edges
regression      prediction, actual          n and error sums
value           value [, n]                 the single row as is
ranking         query_id, score, relevance  the rows themselves, up to the row cap
==============  ==========================  ==================================================

The wrapper is written once in PostgreSQL syntax around a stand-in table and transpiled by sqlglot
into the warehouse's dialect (type names, casts, quoting); the team's SQL, already judged by the
guard, is then put in place of the stand-in verbatim, so nothing in it is re-written.

Score bins are exact at every edge. Edges are ``i / bins``, the double nearest each decimal a
person would type (0.7 is edge 70 of 100, not ``linspace``'s 0.7000000000000001), and a row is
binned by ``floor(score * bins)`` corrected by one step against those same edges computed in SQL:
``0.7 * 100`` is ``69.99999999999999``, which alone would put a score of exactly 0.7 below the
threshold 0.7. Because IEEE division is correctly rounded, ``CAST(i AS DOUBLE) / bins`` in the
warehouse and ``i / bins`` in Python are the same double, so ``score >= edges[i]`` in SQL and in
numpy agree bit for bit, and confusion counts at any edge threshold equal the raw computation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlglot

from metrics.contract import Experiment, ExperimentMetric, Kind, Metric
from metrics.errors import MetricInputError
from storage.warehouse.errors import QueryRejectedError, WarehouseQueryError, WarehouseResultError
from storage.warehouse.guard import check_read_only_sql
from storage.warehouse.runner import Warehouse

__all__ = [
    "EXPECTED_COLUMNS",
    "PulledStatistics",
    "build_distribution_sql",
    "build_experiment_sql",
    "build_histogram_sql",
    "build_probe_sql",
    "build_regression_sql",
    "histogram_edges",
    "pull_statistics",
]

#: Columns the team's query must return, per kind.
EXPECTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "classification": ("score", "label"),
    "experiment": ("variant", "value"),
    "distribution": ("value",),
    "regression": ("prediction", "actual"),
    "value": ("value",),
    "ranking": ("query_id", "score", "relevance"),
}

_ROWS = "__northstar_rows__"
_PLAIN_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONFUSION_STATISTICS = frozenset(
    {
        "precision", "recall", "f1", "specificity", "accuracy", "balanced_accuracy",
        "false_positive_rate", "false_negative_rate", "prevalence",
    }
)


# --------------------------------------------------------------------------------------------
# Pure SQL builders
# --------------------------------------------------------------------------------------------


def _inner(inner_sql: str) -> str:
    text = inner_sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    if not text:
        raise ValueError("the inner SQL is empty")
    return text


def _wrap(outer_postgres: str, inner_sql: str, dialect: str) -> str:
    """Transpile the wrapper into ``dialect`` and put ``inner_sql`` in place of the stand-in."""
    outer = sqlglot.transpile(outer_postgres, read="postgres", write=dialect)[0]
    if outer.count(_ROWS) != 1:  # pragma: no cover - a transpiler change would show here
        raise AssertionError(f"wrapper lost its stand-in table: {outer}")
    # The newline before ')' keeps a trailing '-- comment' in the team's SQL from eating it.
    return outer.replace(_ROWS, f"(\n{_inner(inner_sql)}\n)")


def _column(name: str) -> str:
    """A column reference in the wrapper's PostgreSQL syntax, quoted only when it must be.

    Plain names stay unquoted so they fold to the warehouse's own case (Snowflake upper-cases
    an unquoted ``score`` in the team's query; a quoted ``"score"`` would then not match).
    """
    if _PLAIN_IDENTIFIER.match(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _double(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"edges must be finite inside the bins, got {value!r}")
    # repr() round-trips: the warehouse parses back the very same double.
    return f"CAST({value!r} AS DOUBLE PRECISION)"


def histogram_edges(bins: int) -> list[float]:
    """Uniform score edges over ``[0, 1]``: ``i / bins``, the double nearest each decimal.

    Examples
    --------
    >>> histogram_edges(4)
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> histogram_edges(100)[70] == 0.7
    True
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    return [i / bins for i in range(bins + 1)]


def build_histogram_sql(inner_sql: str, *, bins: int, segment_column: str | None = None, dialect: str) -> str:
    """Wrap a classification query so it returns ``[segment,] label, bin, n_rows``.

    ``bin`` is the index on :func:`histogram_edges` (scores clamped into ``[0, 1]``; the last bin
    is closed on the right); rows with a NULL score fall in bin NULL so they can be reported.
    """
    histogram_edges(bins)
    b = f"CAST({int(bins)} AS DOUBLE PRECISION)"
    segment_select = f"q.{_column(segment_column)} AS segment, " if segment_column else ""
    segment_carry = "segment, " if segment_column else ""
    segment_group = "segment, " if segment_column else ""
    return _wrap(
        f"""
        SELECT {segment_group}label, bin, COUNT(*) AS n_rows
        FROM (
            SELECT {segment_carry}label,
                   CASE WHEN bin_guess >= {int(bins)} THEN {int(bins) - 1} ELSE CAST(bin_guess AS INTEGER) END AS bin
            FROM (
                SELECT {segment_carry}label,
                       CASE WHEN s < guess / {b} THEN guess - 1
                            WHEN s >= (guess + 1) / {b} THEN guess + 1
                            ELSE guess END AS bin_guess
                FROM (
                    SELECT {segment_carry}label, s, FLOOR(s * {b}) AS guess
                    FROM (
                        SELECT {segment_carry}label,
                               CASE WHEN s0 < 0 THEN CAST(0 AS DOUBLE PRECISION)
                                    WHEN s0 > 1 THEN CAST(1 AS DOUBLE PRECISION)
                                    ELSE s0 END AS s
                        FROM (
                            SELECT {segment_select}q.label AS label, CAST(q.score AS DOUBLE PRECISION) AS s0
                            FROM {_ROWS} AS q
                        ) AS typed
                    ) AS clamped
                ) AS guessed
            ) AS corrected
        ) AS binned
        GROUP BY {segment_group}label, bin
        """,
        inner_sql,
        dialect,
    )


def _bin_case(column: str, interior: Sequence[float], first_bin: int) -> str:
    """Nested CASE locating ``column`` among ``interior`` edges: depth log2(bins), not bins."""
    if not interior:
        return str(first_bin)
    middle = len(interior) // 2
    left = _bin_case(column, interior[:middle], first_bin)
    right = _bin_case(column, interior[middle + 1 :], first_bin + middle + 1)
    return f"CASE WHEN {column} < {_double(interior[middle])} THEN {left} ELSE {right} END"


def _open_edges(edges: Sequence[float]) -> list[float]:
    arr = [float(e) for e in edges]
    if len(arr) < 2:
        raise ValueError(f"edges must hold at least 2 values, got {len(arr)}")
    if any(math.isnan(e) for e in arr) or any(b <= a for a, b in zip(arr, arr[1:])):
        raise ValueError(f"edges must be strictly increasing numbers, got {arr!r}")
    return arr


def build_distribution_sql(inner_sql: str, *, edges: Sequence[float], dialect: str) -> str:
    """Wrap a distribution query so it returns ``bin, n_rows`` on ``edges``.

    Bin ``i`` holds ``edges[i] <= value < edges[i + 1]``; the outer bins are open (values below
    ``edges[1]`` are bin 0, values from ``edges[-2]`` up are the last bin), so only the interior
    edges appear in the SQL. NULL values fall in bin NULL.
    """
    arr = _open_edges(edges)
    case = _bin_case("v", arr[1:-1], 0)
    return _wrap(
        f"""
        SELECT bin, COUNT(*) AS n_rows
        FROM (
            SELECT CASE WHEN v IS NULL THEN NULL ELSE {case} END AS bin
            FROM (SELECT CAST(q.value AS DOUBLE PRECISION) AS v FROM {_ROWS} AS q) AS typed
        ) AS binned
        GROUP BY bin
        """,
        inner_sql,
        dialect,
    )


def build_experiment_sql(inner_sql: str, *, dialect: str) -> str:
    """Wrap an experiment query so it returns per ``variant``: ``n_rows, sum_value, sum_squares,
    min_value, max_value`` over non-NULL values."""
    return _wrap(
        f"""
        SELECT variant, COUNT(v) AS n_rows, SUM(v) AS sum_value, SUM(v * v) AS sum_squares,
               MIN(v) AS min_value, MAX(v) AS max_value
        FROM (SELECT q.variant AS variant, CAST(q.value AS DOUBLE PRECISION) AS v FROM {_ROWS} AS q) AS typed
        GROUP BY variant
        """,
        inner_sql,
        dialect,
    )


def build_regression_sql(inner_sql: str, *, dialect: str) -> str:
    """Wrap a regression query so it returns one row of error sums (``e = prediction - actual``)
    over rows where both are non-NULL: ``n_rows, sum_error, sum_squared_error, sum_abs_error,
    sum_abs_pct_error, n_pct`` (rows with a nonzero actual, which MAPE
    is taken over) ``, n_null``."""
    return _wrap(
        f"""
        SELECT COUNT(e) AS n_rows,
               SUM(e) AS sum_error,
               SUM(e * e) AS sum_squared_error,
               SUM(ABS(e)) AS sum_abs_error,
               SUM(CASE WHEN a <> 0 THEN ABS(e) / ABS(a) END) AS sum_abs_pct_error,
               COUNT(CASE WHEN a <> 0 AND e IS NOT NULL THEN 1 END) AS n_pct,
               COUNT(*) - COUNT(e) AS n_null
        FROM (
            SELECT p - a AS e, a
            FROM (
                SELECT CAST(q.prediction AS DOUBLE PRECISION) AS p, CAST(q.actual AS DOUBLE PRECISION) AS a
                FROM {_ROWS} AS q
            ) AS typed
        ) AS errors
        """,
        inner_sql,
        dialect,
    )


def build_probe_sql(inner_sql: str, *, dialect: str) -> str:
    """The team's query returning no rows: its column names, at the cost of planning it."""
    return _wrap(f"SELECT * FROM {_ROWS} AS q WHERE 1 = 0", inner_sql, dialect)


# --------------------------------------------------------------------------------------------
# Pulling
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PulledStatistics:
    """What one pull produced: the metric's value, its sample size and the statistics behind it.

    ``stats`` is plain JSON (no NaN or infinity) so it can be stored in a snapshot and the value
    or a trade-off recomputed later without the warehouse.
    """

    kind: str
    value: float | None
    sample_size: float | None
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "sample_size": self.sample_size, "stats": self.stats}


def pull_statistics(
    warehouse: Warehouse,
    metric: Metric,
    *,
    window_start: datetime | date,
    window_end: datetime | date,
    reference_edges: Sequence[float] | None = None,
    reference_counts: Sequence[float] | None = None,
    experiment_metric: ExperimentMetric | None = None,
    experiment: Experiment | None = None,
) -> PulledStatistics:
    """Run ``metric``'s SQL for one window with the heavy work pushed down, and compute its value.

    Parameters
    ----------
    warehouse : Warehouse
    metric : Metric
        The contract metric; its ``kind`` and spec decide the wrapper and the statistic.
    window_start, window_end : datetime or date
        Bound to ``:window_start`` / ``:window_end`` by the driver.
    reference_edges : sequence of float, optional
        Distribution bin edges (from the reference window); defaults to ``distribution.edges``.
    reference_counts : sequence of float, optional
        The reference window's counts on the same edges; when given, the drift statistic
        (psi/kl/js) is the value, otherwise the value is None and only counts are returned.
    experiment_metric : ExperimentMetric, optional
        Read this metric per arm of an experiment instead (its SQL and type).
    experiment : Experiment, optional
        Names of the control and treatment arms for ``experiment_metric``.

    Raises
    ------
    QueryRejectedError
        The SQL is not a single read-only statement.
    WarehouseResultError
        The query lacks a column the kind needs, or its rows are not what the kind needs.
    WarehouseError
        Any other failure in the warehouse (timeout, permission, syntax, connection).
    """
    params = {"window_start": window_start, "window_end": window_end}
    name = metric.name
    if experiment_metric is not None:
        arms = (experiment.control, experiment.treatment) if experiment is not None else ("control", "treatment")
        return _pull_experiment(warehouse, experiment_metric.sql, experiment_metric.type, arms, params, name)
    kind = Kind(metric.kind)
    spec = metric.spec()
    if kind is Kind.EXPERIMENT:
        return _pull_experiment(warehouse, metric.sql, spec.type, (spec.control, spec.treatment), params, name)
    if kind is Kind.CLASSIFICATION:
        return _pull_classification(warehouse, metric, spec, params)
    if kind is Kind.DISTRIBUTION:
        edges = reference_edges if reference_edges is not None else spec.edges
        if edges is None:
            raise MetricInputError(
                f"metric {name!r}: distribution push-down needs bin edges; pass reference_edges "
                "(from the reference window) or set distribution.edges"
            )
        return _pull_distribution(warehouse, metric, spec, edges, reference_counts, params)
    if kind is Kind.REGRESSION:
        return _pull_regression(warehouse, metric, spec, params)
    if kind is Kind.RANKING:
        return _pull_ranking(warehouse, metric, spec, params)
    return _pull_value(warehouse, metric, params)


# ---- helpers ------------------------------------------------------------------------------


def _check_inner(warehouse: Warehouse, sql: str, metric: str) -> None:
    # Judge the team's SQL on its own first: wrapped, "SELECT 1; DROP t" would only be reported
    # as "does not parse", which hides what is actually wrong with it.
    check = check_read_only_sql(sql, dialect=warehouse.dialect)
    if not check.ok:
        raise QueryRejectedError("; ".join(check.problems), warehouse=warehouse.name, metric=metric)


def _lower_columns(frame: pd.DataFrame) -> pd.DataFrame:
    # Warehouses that fold unquoted names to upper case (Snowflake) return SCORE for score.
    frame.columns = [str(c).lower() for c in frame.columns]
    return frame


def _require_columns(warehouse: Warehouse, columns, needed: Sequence[str], metric: str) -> None:
    have = {str(c).lower() for c in columns}
    missing = [c for c in needed if c.lower() not in have]
    if missing:
        listed = " and ".join(f"a column named {c}" for c in missing)
        raise WarehouseResultError(
            f"the query must return {listed} (it returns: {', '.join(sorted(have)) or 'no columns'})",
            warehouse=warehouse.name,
            metric=metric,
        )


def _run_wrapped(warehouse: Warehouse, inner_sql: str, wrapped_sql: str, needed: Sequence[str], params, metric: str) -> pd.DataFrame:
    """Run a wrapper; if the warehouse rejects it, say which expected column is missing."""
    _check_inner(warehouse, inner_sql, metric)
    try:
        return _lower_columns(warehouse.run(wrapped_sql, params=params, metric=metric))
    except WarehouseQueryError:
        # Only on failure: probing first would cost every healthy pull a round trip.
        probe = warehouse.run(build_probe_sql(inner_sql, dialect=warehouse.dialect), params=params, metric=metric)
        _require_columns(warehouse, probe.columns, needed, metric)
        raise


def _number(value) -> float | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _whole(value) -> int:
    number = _number(value)
    return 0 if number is None else int(round(number))


def _json_key(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    return float(value) if math.isfinite(float(value)) else None


# ---- classification -----------------------------------------------------------------------


def _label(value, warehouse: Warehouse, metric: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    number = _number(value)
    if number not in (0.0, 1.0):
        raise WarehouseResultError(
            f"the label column must hold 0 or 1 (or booleans), found {value!r}",
            warehouse=warehouse.name,
            metric=metric,
        )
    return int(number)


def _pull_classification(warehouse: Warehouse, metric: Metric, spec, params) -> PulledStatistics:
    from metrics.classification import ScoreHistogram

    segment_column = spec.segment_column
    needed = EXPECTED_COLUMNS["classification"] + ((segment_column,) if segment_column else ())
    sql = build_histogram_sql(metric.sql, bins=spec.bins, segment_column=segment_column, dialect=warehouse.dialect)
    frame = _run_wrapped(warehouse, metric.sql, sql, needed, params, metric.name)
    edges = histogram_edges(spec.bins)
    counts: dict[str, np.ndarray] = {}
    dropped = 0
    for row in frame.itertuples(index=False):
        record = row._asdict()
        n = _whole(record["n_rows"])
        segment = record.get("segment") if segment_column else "all"
        if record["bin"] is None or pd.isna(record["bin"]) or record["label"] is None or pd.isna(record["label"]) or (
            segment_column and (segment is None or pd.isna(segment))
        ):
            dropped += n
            continue
        key = _json_key(segment)
        grid = counts.setdefault(key, np.zeros((2, spec.bins), dtype=np.int64))
        grid[_label(record["label"], warehouse, metric.name), int(record["bin"])] += n
    segments = sorted(counts) if counts else ["all"]
    pos = [counts[s][1].tolist() if s in counts else [0] * spec.bins for s in segments]
    neg = [counts[s][0].tolist() if s in counts else [0] * spec.bins for s in segments]
    stats: dict[str, Any] = {
        "edges": edges,
        "segments": segments,
        "pos": pos,
        "neg": neg,
        "threshold": spec.threshold,
        "statistic": spec.statistic,
        "dropped_rows": dropped,
    }
    histogram = ScoreHistogram.from_counts(edges, pos, neg, segments)
    total = histogram.total()
    value, problem = _classification_value(total, spec.statistic, spec.threshold)
    if problem:
        stats["value_error"] = problem
    if segment_column:
        stats["by_segment"] = {
            name: _classification_value(histogram.segment(name), spec.statistic, spec.threshold)[0] for name in segments
        }
    return PulledStatistics(kind="classification", value=value, sample_size=total.n, stats=stats)


def _classification_value(histogram, statistic: str, threshold: float) -> tuple[float | None, str | None]:
    """The statistic, or None and the reason when it is undefined for this window."""
    try:
        if statistic == "roc_auc":
            return _finite_or_none(histogram.roc_auc()), None
        if statistic == "average_precision":
            return _finite_or_none(histogram.average_precision()), None
        return _finite_or_none(histogram.confusion_at(threshold).value(statistic, zero_division="nan")), None
    except MetricInputError as exc:
        # One class only, no rows, or a threshold off the bin edges: no value rather than a guess.
        return None, str(exc)


# ---- experiment ---------------------------------------------------------------------------


def _pull_experiment(warehouse: Warehouse, inner_sql: str, kind: str, arms: tuple[str, str], params, metric: str) -> PulledStatistics:
    from metrics.experiment import MeanArm, ProportionArm

    sql = build_experiment_sql(inner_sql, dialect=warehouse.dialect)
    frame = _run_wrapped(warehouse, inner_sql, sql, EXPECTED_COLUMNS["experiment"], params, metric)
    variants: dict[str, dict[str, float]] = {}
    for row in frame.itertuples(index=False):
        record = row._asdict()
        if record["variant"] is None or pd.isna(record["variant"]):
            continue
        n = _whole(record["n_rows"])
        total = _number(record["sum_value"]) or 0.0
        squares = _number(record["sum_squares"]) or 0.0
        name = _json_key(record["variant"])
        if kind == "proportion" and n:
            low, high = _number(record["min_value"]), _number(record["max_value"])
            # With every value in [0, 1], sum == sum of squares holds only if each is 0 or 1.
            if low < 0 or high > 1 or not math.isclose(total, squares, rel_tol=1e-12, abs_tol=1e-9):
                raise WarehouseResultError(
                    f"a proportion experiment needs value 0 or 1 on every row; variant {name!r} has values "
                    f"from {low:g} to {high:g}",
                    warehouse=warehouse.name,
                    metric=metric,
                )
            variants[name] = {"successes": int(round(total)), "trials": n}
        else:
            variants[name] = {"n": n, "sum": total, "sum_sq": squares}
    values: dict[str, float | None] = {}
    for arm in arms:
        data = variants.get(arm)
        if not data or (data.get("trials") or data.get("n")) == 0:
            values[arm] = None
        elif kind == "proportion":
            values[arm] = ProportionArm.from_dict(data).rate
        else:
            values[arm] = MeanArm.from_dict(data).mean
    control, treatment = arms
    sample = sum((variants.get(a, {}).get("trials") or variants.get(a, {}).get("n") or 0) for a in arms)
    stats = {"type": kind, "control": control, "treatment": treatment, "variants": variants, "values": values}
    return PulledStatistics(kind="experiment", value=values[treatment], sample_size=float(sample), stats=stats)


# ---- distribution -------------------------------------------------------------------------


def _pull_distribution(warehouse: Warehouse, metric: Metric, spec, edges, reference_counts, params) -> PulledStatistics:
    from metrics.drift import compare_binned

    arr = _open_edges(edges)
    sql = build_distribution_sql(metric.sql, edges=arr, dialect=warehouse.dialect)
    frame = _run_wrapped(warehouse, metric.sql, sql, EXPECTED_COLUMNS["distribution"], params, metric.name)
    counts = [0] * (len(arr) - 1)
    nulls = 0
    for row in frame.itertuples(index=False):
        record = row._asdict()
        if record["bin"] is None or pd.isna(record["bin"]):
            nulls += _whole(record["n_rows"])
        else:
            counts[int(record["bin"])] += _whole(record["n_rows"])
    # JSON has no infinity: the open outer edges are written as null.
    stored_edges = [None] + arr[1:-1] + [None]
    stats: dict[str, Any] = {"edges": stored_edges, "counts": counts, "null_rows": nulls, "statistic": spec.statistic}
    value = None
    if reference_counts is not None and sum(counts) > 0:
        result = compare_binned(list(reference_counts), counts)
        value = _finite_or_none(getattr(result, spec.statistic))
        stats["drift"] = {
            "psi": result.psi, "kl": result.kl, "js": result.js, "band": result.band,
            "chi2": result.chi2, "p_value": result.p_value, "significant": result.significant,
        }
    return PulledStatistics(kind="distribution", value=value, sample_size=float(sum(counts)), stats=stats)


# ---- regression ---------------------------------------------------------------------------


def _pull_regression(warehouse: Warehouse, metric: Metric, spec, params) -> PulledStatistics:
    sql = build_regression_sql(metric.sql, dialect=warehouse.dialect)
    frame = _run_wrapped(warehouse, metric.sql, sql, EXPECTED_COLUMNS["regression"], params, metric.name)
    record = frame.iloc[0].to_dict()
    stats: dict[str, Any] = {
        "n": _whole(record["n_rows"]),
        "sum_error": _number(record["sum_error"]) or 0.0,
        "sum_squared_error": _number(record["sum_squared_error"]) or 0.0,
        "sum_abs_error": _number(record["sum_abs_error"]) or 0.0,
        "sum_abs_pct_error": _number(record["sum_abs_pct_error"]) or 0.0,
        "n_pct": _whole(record["n_pct"]),
        "null_rows": _whole(record["n_null"]),
        "statistic": spec.statistic,
    }
    value = _regression_value(stats, spec.statistic) if stats["n"] else None
    return PulledStatistics(kind="regression", value=value, sample_size=float(stats["n"]), stats=stats)


def _regression_value(stats: dict[str, Any], statistic: str) -> float | None:
    from metrics.regression import RegressionSums

    if statistic == "mape" and stats["n_pct"] == 0:
        # Every actual is zero: MAPE is undefined for this window.
        return None
    return _finite_or_none(getattr(RegressionSums.from_dict(stats), statistic))


# ---- ranking and value --------------------------------------------------------------------


def _pull_ranking(warehouse: Warehouse, metric: Metric, spec, params) -> PulledStatistics:
    from metrics import ranking

    _check_inner(warehouse, metric.sql, metric.name)
    frame = _lower_columns(warehouse.run(metric.sql, params=params, metric=metric.name))
    _require_columns(warehouse, frame.columns, EXPECTED_COLUMNS["ranking"], metric.name)
    frame = frame.dropna(subset=["query_id", "score", "relevance"])
    query_ids = [_json_key(q) for q in frame["query_id"]]
    scores = frame["score"].astype(float).tolist()
    relevance = frame["relevance"].astype(float).tolist()
    stats = {"query_id": query_ids, "score": scores, "relevance": relevance, "k": spec.k, "statistic": spec.statistic}
    n_queries = len(set(query_ids))
    value = None
    if query_ids:
        try:
            value = _finite_or_none(_ranking_value(ranking, spec.statistic, query_ids, scores, relevance, spec.k))
        except MetricInputError:
            value = None
    return PulledStatistics(kind="ranking", value=value, sample_size=float(n_queries), stats=stats)


def _ranking_value(ranking, statistic: str, query_ids, scores, relevance, k):
    if statistic == "ndcg":
        return ranking.ndcg_score(query_ids, scores, relevance, k=k)
    if statistic == "mrr":
        return ranking.mrr_score(query_ids, scores, relevance)
    if statistic == "precision_at_k":
        return ranking.precision_at_k(query_ids, scores, relevance, k=k)
    # Queries with nothing relevant have no recall; they are left out of the mean.
    return ranking.recall_at_k(query_ids, scores, relevance, k=k, zero_division="nan")


def _pull_value(warehouse: Warehouse, metric: Metric, params) -> PulledStatistics:
    _check_inner(warehouse, metric.sql, metric.name)
    try:
        frame = _lower_columns(warehouse.run(metric.sql, params=params, metric=metric.name, row_cap=1))
        rows = "none" if frame.empty else None
    except WarehouseResultError:
        frame, rows = None, "more than one"
    if rows is not None:
        raise WarehouseResultError(
            f"a value metric's query must return exactly one row, got {rows}",
            warehouse=warehouse.name,
            metric=metric.name,
        )
    _require_columns(warehouse, frame.columns, EXPECTED_COLUMNS["value"], metric.name)
    record = frame.iloc[0].to_dict()
    value = _number(record["value"])
    sample_size = _number(record["n"]) if "n" in record else None
    stats = {"row": {str(k): _json_value(v) for k, v in record.items()}}
    return PulledStatistics(kind="value", value=value, sample_size=sample_size, stats=stats)


def _json_value(value):
    if value is None or (not isinstance(value, (str, bytes)) and pd.isna(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return value.isoformat()
    try:
        return _number(value)
    except (TypeError, ValueError):
        return str(value)
