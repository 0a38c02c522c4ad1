"""Push-down statistics equal the raw computation on the same rows, on DuckDB and PostgreSQL.

The oracle for every kind is the same query run without the wrapper, its rows fetched raw and
reduced with numpy and :mod:`metrics`.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import sqlglot

from metrics.classification import ScoreHistogram, confusion_at
from metrics.contract import ExperimentMetric, Metric
from metrics.drift import bin_counts, population_stability_index_from_counts, reference_bin_edges
from metrics.experiment import MeanArm
from metrics.ranking import ndcg_score
from metrics.regression import RegressionSums
from storage.warehouse.errors import QueryRejectedError, WarehouseResultError
from storage.warehouse.guard import check_read_only_sql
from storage.warehouse.pushdown import (
    build_distribution_sql,
    build_experiment_sql,
    build_histogram_sql,
    build_regression_sql,
    histogram_edges,
    pull_statistics,
)
from storage.warehouse.runner import connect_warehouse

# Read at import time: an autouse fixture may clear the environment before tests run.
POSTGRES_URL = os.environ.get("NORTHSTAR_TEST_POSTGRES_URL")
needs_postgres = pytest.mark.skipif(not POSTGRES_URL, reason="set NORTHSTAR_TEST_POSTGRES_URL to run against PostgreSQL")

START = datetime(2026, 9, 1)
WINDOW = {"window_start": START, "window_end": START + timedelta(days=7)}
IN_WINDOW = "ts >= :window_start AND ts < :window_end"
RAW_CAP = 1_000_000


# --------------------------------------------------------------------------- seeded data


def _tables() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(20260901)
    n = 4000
    ts = [START + timedelta(minutes=int(m)) for m in rng.integers(0, 14 * 24 * 60, n)]
    # The hand-placed rows below must fall inside the window that the tests read.
    ts[:10] = [START + timedelta(hours=h) for h in range(10)]
    # Two-decimal scores sit exactly on the edges of a 100-bin histogram, where floor(score*100)
    # goes wrong (0.57 * 100 = 56.99999999999999); a few lie outside [0, 1] or are missing.
    score = np.round(rng.uniform(0, 1, n), 2).astype(object)
    score[:6] = [0.7, 0.29, 0.57, 0.0, 1.0, 0.7]
    score[6:9] = [-0.25, 1.5, None]
    label = (rng.uniform(size=n) < np.where(np.array([s if s is not None else 0 for s in score], float) > 0.6, 0.5, 0.1)).astype(int)
    scored = pd.DataFrame(
        {"score": score, "label": label, "region": rng.choice(["emea", "amer", "apac"], n), "ts": ts}
    )
    arms = pd.DataFrame(
        {
            "variant": rng.choice(["control", "v2"], n),
            "converted": (rng.uniform(size=n) < 0.12).astype(int),
            "spend": np.round(rng.gamma(2.0, 30.0, n), 3),
            "ts": ts,
        }
    )
    value = rng.normal(0.4, 0.2, n).astype(object)
    value[:4] = [0.25, 0.5, 0.75, None]
    feature = pd.DataFrame({"value": value, "ts": ts})
    actual = np.round(rng.gamma(3.0, 10.0, n), 2)
    actual[:50] = 0.0
    forecast = pd.DataFrame({"prediction": np.round(actual + rng.normal(0, 4, n), 2), "actual": actual, "ts": ts})
    search = pd.DataFrame(
        {
            "query_id": [f"q{i // 8}" for i in range(800)],
            "score": np.round(rng.uniform(size=800), 1),
            "relevance": rng.integers(0, 4, 800),
            "ts": ts[:800],
        }
    )
    return {"scored": scored, "arms": arms, "feature": feature, "forecast": forecast, "search": search}


TABLES = _tables()


@pytest.fixture(scope="module")
def duckdb_url(tmp_path_factory):
    path = tmp_path_factory.mktemp("lake") / "lake.duckdb"
    with duckdb.connect(str(path)) as seed:
        for name, frame in TABLES.items():
            seed.register("frame", frame)
            casts = ", ".join(
                f"CAST({c} AS DOUBLE) AS {c}" if c in {"score", "value"} else c for c in frame.columns
            )
            seed.execute(f"CREATE TABLE {name} AS SELECT {casts} FROM frame")
            seed.unregister("frame")
    return f"duckdb:///{path}"


@pytest.fixture(scope="module")
def postgres_url():
    if not POSTGRES_URL:
        pytest.skip("set NORTHSTAR_TEST_POSTGRES_URL to run against PostgreSQL")
    schema = f"ns_pushdown_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    types = {"score": "DOUBLE PRECISION", "value": "DOUBLE PRECISION", "spend": "DOUBLE PRECISION",
             "prediction": "DOUBLE PRECISION", "actual": "DOUBLE PRECISION", "label": "INTEGER",
             "converted": "INTEGER", "relevance": "INTEGER", "ts": "TIMESTAMP"}
    with admin.begin() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
        for name, frame in TABLES.items():
            columns = ", ".join(f"{col} {types.get(col, 'TEXT')}" for col in frame.columns)
            c.exec_driver_sql(f"CREATE TABLE {schema}.{name} ({columns})")
            rows = [tuple(None if v is None else (v.item() if hasattr(v, "item") else v) for v in row) for row in frame.itertuples(index=False)]
            placeholders = ", ".join(["%s"] * len(frame.columns))
            c.connection.driver_connection.cursor().executemany(f"INSERT INTO {schema}.{name} VALUES ({placeholders})", rows)
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=[pytest.mark.postgres, needs_postgres])])
def warehouse(request):
    url = request.getfixturevalue(f"{request.param}_url")
    warehouse = connect_warehouse(request.param, url, statement_timeout_s=20)
    yield warehouse
    warehouse.dispose()


def _metric(kind: str, sql: str, **spec) -> Metric:
    return Metric(
        name=f"m_{kind}", layer="model", role="diagnostic", direction="increase", kind=kind, sql=sql,
        **({kind: spec} if spec else {}),
    )


def _raw(warehouse, sql: str) -> pd.DataFrame:
    frame = warehouse.run(sql, params=WINDOW, row_cap=RAW_CAP)
    frame.columns = [c.lower() for c in frame.columns]
    return frame


def _json(stats) -> None:
    # Snapshots store stats as strict JSON: no NaN, no infinity, no numpy scalars.
    json.dumps(stats, allow_nan=False)


# --------------------------------------------------------------------------- classification

CLASSIFICATION_SQL = f"SELECT score, label, region AS segment FROM scored WHERE {IN_WINDOW}"


@pytest.mark.parametrize("bins, threshold, segment_column", [(100, 0.7, None), (100, 0.7, "segment"), (7, 5 / 7, None)])
def test_histogram_equals_numpy_on_the_raw_rows(warehouse, bins, threshold, segment_column):
    metric = _metric("classification", CLASSIFICATION_SQL, statistic="recall", threshold=threshold, bins=bins, segment_column=segment_column)
    pulled = pull_statistics(warehouse, metric, **WINDOW)
    _json(pulled.stats)

    raw = _raw(warehouse, CLASSIFICATION_SQL).dropna(subset=["score"])
    y = raw["label"].to_numpy(int)
    s = np.clip(raw["score"].to_numpy(float), 0.0, 1.0)
    expected = ScoreHistogram.from_arrays(
        y, s, edges=histogram_edges(bins), segments=raw["segment"].to_numpy() if segment_column else None
    )
    assert ScoreHistogram.from_dict(pulled.stats) == expected
    assert pulled.stats["dropped_rows"] == 1  # the NULL score
    assert pulled.sample_size == len(raw)
    assert pulled.value == confusion_at(y, s, threshold=threshold).recall
    if segment_column:
        assert set(pulled.stats["by_segment"]) == {"amer", "apac", "emea"}


def test_threshold_off_the_edges_gives_no_value_and_says_why(warehouse):
    metric = _metric("classification", CLASSIFICATION_SQL, statistic="recall", threshold=0.7, bins=7)
    pulled = pull_statistics(warehouse, metric, **WINDOW)
    assert pulled.value is None and "0.7" in pulled.stats["value_error"]


def test_scores_on_edges_count_at_their_own_threshold(warehouse):
    metric = _metric("classification", CLASSIFICATION_SQL, statistic="precision", threshold=0.57, bins=100)
    histogram = ScoreHistogram.from_dict(pull_statistics(warehouse, metric, **WINDOW).stats)
    raw = _raw(warehouse, CLASSIFICATION_SQL).dropna(subset=["score"])
    y, s = raw["label"].to_numpy(int), np.clip(raw["score"].to_numpy(float), 0, 1)
    # The data has the trap in it: plain floor(score * 100) misplaces edge scores.
    assert (np.minimum(np.floor(s * 100), 99) != np.searchsorted(histogram_edges(100), s, side="right") - 1).any()
    assert {0.7, 0.29, 0.57} <= set(s.tolist())
    for threshold in (0.7, 0.29, 0.57, 0.01, 0.99, 0.5):
        got, want = histogram.confusion_at(threshold), confusion_at(y, s, threshold=threshold)
        assert (got.tp, got.fp, got.tn, got.fn) == (want.tp, want.fp, want.tn, want.fn), threshold


@pytest.mark.parametrize("statistic", ["false_positive_rate", "roc_auc", "average_precision", "f1"])
def test_classification_statistics_come_from_the_histogram(warehouse, statistic):
    metric = _metric("classification", CLASSIFICATION_SQL, statistic=statistic, threshold=0.7, bins=100)
    pulled = pull_statistics(warehouse, metric, **WINDOW)
    histogram = ScoreHistogram.from_dict(pulled.stats)
    if statistic in ("roc_auc", "average_precision"):
        assert pulled.value == pytest.approx(getattr(histogram, statistic)(), rel=1e-12)
    else:
        assert pulled.value == pytest.approx(histogram.confusion_at(0.7).value(statistic), rel=1e-12)


def test_missing_score_column_names_the_column_and_metric(warehouse):
    metric = _metric("classification", f"SELECT score AS fraud_score, label FROM scored WHERE {IN_WINDOW}")
    with pytest.raises(WarehouseResultError, match="a column named score") as caught:
        pull_statistics(warehouse, metric, **WINDOW)
    assert caught.value.metric == "m_classification"


def test_labels_other_than_zero_and_one_are_refused(warehouse):
    metric = _metric("classification", f"SELECT score, label + 1 AS label FROM scored WHERE {IN_WINDOW}")
    with pytest.raises(WarehouseResultError, match="0 or 1"):
        pull_statistics(warehouse, metric, **WINDOW)


# --------------------------------------------------------------------------- experiment


def _arm_sums(raw: pd.DataFrame) -> dict[str, MeanArm]:
    return {v: MeanArm.from_values(g["value"].to_numpy(float)) for v, g in raw.groupby("variant")}


def test_proportion_experiment_equals_raw(warehouse):
    sql = f"SELECT variant, converted AS value FROM arms WHERE {IN_WINDOW}"
    metric = _metric("experiment", sql, type="proportion", control="control", treatment="v2")
    pulled = pull_statistics(warehouse, metric, **WINDOW)
    _json(pulled.stats)
    raw = _raw(warehouse, sql)
    for variant, group in raw.groupby("variant"):
        assert pulled.stats["variants"][variant] == {"successes": int(group["value"].sum()), "trials": len(group)}
    assert pulled.value == raw.loc[raw.variant == "v2", "value"].mean()
    assert pulled.stats["values"]["control"] == raw.loc[raw.variant == "control", "value"].mean()
    assert pulled.sample_size == len(raw)


def test_mean_experiment_via_experiment_metric_equals_raw(warehouse):
    sql = f"SELECT variant, spend AS value FROM arms WHERE {IN_WINDOW}"
    # A contract metric of another kind, read per arm of an experiment.
    metric = _metric("value", f"SELECT AVG(spend) AS value FROM arms WHERE {IN_WINDOW}")
    pulled = pull_statistics(warehouse, metric, **WINDOW, experiment_metric=ExperimentMetric(type="mean", sql=sql))
    expected = _arm_sums(_raw(warehouse, sql))
    assert pulled.kind == "experiment"
    for variant, arm in expected.items():
        got = pulled.stats["variants"][variant]
        assert got["n"] == arm.n
        assert got["sum"] == pytest.approx(arm.sum, rel=1e-12)
        assert got["sum_sq"] == pytest.approx(arm.sum_sq, rel=1e-12)
    assert pulled.stats["values"]["control"] == pytest.approx(expected["control"].mean, rel=1e-12)
    assert pulled.value is None  # no arm named "treatment" without an Experiment naming v2


def test_proportion_needs_zero_one_values(warehouse):
    metric = _metric("experiment", f"SELECT variant, spend AS value FROM arms WHERE {IN_WINDOW}", type="proportion")
    with pytest.raises(WarehouseResultError, match="0 or 1"):
        pull_statistics(warehouse, metric, **WINDOW)


# --------------------------------------------------------------------------- distribution

DISTRIBUTION_SQL = f"SELECT value FROM feature WHERE {IN_WINDOW}"


@pytest.mark.parametrize("edge_source", ["reference", "finite"])
def test_distribution_counts_equal_bin_counts(warehouse, edge_source):
    if edge_source == "reference":
        reference = TABLES["feature"]["value"].dropna().to_numpy(float)[2000:]
        edges = reference_bin_edges(reference, bins=10).tolist()
    else:
        # Finite outer edges are still open: values beyond them land in the outer bins.
        edges = [0.0, 0.25, 0.5, 0.75, 1.0]
    metric = _metric("distribution", DISTRIBUTION_SQL, statistic="psi", edges=edges)
    raw = _raw(warehouse, DISTRIBUTION_SQL)["value"].dropna().to_numpy(float)
    open_edges = [-np.inf, *edges[1:-1], np.inf]
    expected = bin_counts(raw, open_edges)
    reference_counts = (expected[::-1] + 5).tolist()
    pulled = pull_statistics(warehouse, metric, **WINDOW, reference_edges=edges, reference_counts=reference_counts)
    _json(pulled.stats)
    assert pulled.stats["counts"] == expected.tolist()
    assert pulled.stats["edges"] == [None, *edges[1:-1], None]
    assert pulled.stats["null_rows"] == 1
    assert pulled.value == pytest.approx(population_stability_index_from_counts(reference_counts, expected), rel=1e-12)


def test_distribution_without_reference_counts_returns_counts_only(warehouse):
    metric = _metric("distribution", DISTRIBUTION_SQL, statistic="js", edges=[0.0, 0.5, 1.0])
    pulled = pull_statistics(warehouse, metric, **WINDOW)
    assert pulled.value is None and sum(pulled.stats["counts"]) == pulled.sample_size > 0


# --------------------------------------------------------------------------- regression

REGRESSION_SQL = f"SELECT prediction, actual FROM forecast WHERE {IN_WINDOW}"


@pytest.mark.parametrize("statistic", ["rmse", "mae", "mape", "mean_error"])
def test_regression_sums_equal_raw(warehouse, statistic):
    pulled = pull_statistics(warehouse, _metric("regression", REGRESSION_SQL, statistic=statistic), **WINDOW)
    _json(pulled.stats)
    raw = _raw(warehouse, REGRESSION_SQL)
    expected = RegressionSums.from_arrays(raw["actual"].to_numpy(float), raw["prediction"].to_numpy(float))
    got = RegressionSums.from_dict(pulled.stats)
    assert (got.n, got.n_pct) == (expected.n, expected.n_pct)
    assert 0 < got.n_pct < got.n  # the data has zero actuals, left out of MAPE
    for name in ("sum_error", "sum_squared_error", "sum_abs_error", "sum_abs_pct_error"):
        assert getattr(got, name) == pytest.approx(getattr(expected, name), rel=1e-9), name
    assert pulled.value == pytest.approx(getattr(expected, statistic), rel=1e-9)


# --------------------------------------------------------------------------- value and ranking


def test_value_is_the_single_row(warehouse):
    sql = f"SELECT AVG(spend) AS value, COUNT(*) AS n FROM arms WHERE {IN_WINDOW}"
    pulled = pull_statistics(warehouse, _metric("value", sql), **WINDOW)
    _json(pulled.stats)
    raw = _raw(warehouse, f"SELECT spend FROM arms WHERE {IN_WINDOW}")
    assert pulled.value == pytest.approx(raw["spend"].mean(), rel=1e-12)
    assert pulled.sample_size == len(raw)


@pytest.mark.parametrize(
    "sql, message",
    [
        (f"SELECT spend AS value FROM arms WHERE {IN_WINDOW}", "exactly one row, got more than one"),
        (f"SELECT spend AS value FROM arms WHERE {IN_WINDOW} AND spend < 0", "exactly one row, got none"),
        (f"SELECT AVG(spend) AS average FROM arms WHERE {IN_WINDOW}", "a column named value"),
    ],
)
def test_value_shape_errors(warehouse, sql, message):
    with pytest.raises(WarehouseResultError, match=message):
        pull_statistics(warehouse, _metric("value", sql), **WINDOW)


@pytest.mark.parametrize("statistic", ["ndcg", "mrr", "precision_at_k"])
def test_ranking_equals_raw(warehouse, statistic):
    sql = f"SELECT query_id, score, relevance FROM search WHERE {IN_WINDOW}"
    pulled = pull_statistics(warehouse, _metric("ranking", sql, statistic=statistic, k=5), **WINDOW)
    _json(pulled.stats)
    raw = _raw(warehouse, sql)
    if statistic == "ndcg":
        expected = ndcg_score(raw["query_id"], raw["score"].to_numpy(float), raw["relevance"].to_numpy(float), k=5)
        assert pulled.value == pytest.approx(expected, rel=1e-12)
    assert pulled.value is not None
    assert pulled.sample_size == raw["query_id"].nunique()


def test_ranking_rows_are_capped(warehouse):
    capped = connect_warehouse(warehouse.name, str(warehouse.engine.url.render_as_string(hide_password=False)), row_cap=10)
    try:
        with pytest.raises(WarehouseResultError, match="row cap of 10"):
            pull_statistics(capped, _metric("ranking", f"SELECT query_id, score, relevance FROM search WHERE {IN_WINDOW}"), **WINDOW)
    finally:
        capped.dispose()


def test_stacked_statement_is_rejected_by_name_not_as_a_parse_error(warehouse):
    metric = _metric("classification", f"SELECT score, label FROM scored WHERE {IN_WINDOW}; DROP TABLE scored")
    with pytest.raises(QueryRejectedError, match="single statement"):
        pull_statistics(warehouse, metric, **WINDOW)
    assert len(_raw(warehouse, f"SELECT score FROM scored WHERE {IN_WINDOW}")) > 0


# --------------------------------------------------------------------------- pure builders

INNER = "SELECT fraud_score AS score, is_fraud AS label, region AS \"Region Name\" FROM t WHERE ts >= :window_start AND ts < :window_end -- trailing note\n;"


@pytest.mark.parametrize("dialect", ["postgres", "duckdb", "snowflake", "bigquery", "trino", "redshift"])
def test_wrappers_parse_and_pass_the_guard_in_each_dialect(dialect):
    inner = INNER if dialect != "bigquery" else INNER.replace('"Region Name"', "`Region Name`")
    for sql in (
        build_histogram_sql(inner, bins=100, segment_column="Region Name", dialect=dialect),
        build_distribution_sql(inner, edges=[0, 0.1, 0.5, 2], dialect=dialect),
        build_experiment_sql(inner, dialect=dialect),
        build_regression_sql(inner, dialect=dialect),
    ):
        check = check_read_only_sql(sql, dialect=dialect)
        assert check.ok, (dialect, check.problems, sql)
        assert check.parameters == {"window_start", "window_end"}
        # The team's SQL is kept verbatim (minus the trailing ';'), not re-generated.
        assert "WHERE ts >= :window_start AND ts < :window_end -- trailing note\n)" in sql


def test_segment_column_is_quoted_for_the_dialect():
    assert 'q."Region Name" AS segment' in build_histogram_sql("SELECT 1", bins=2, segment_column="Region Name", dialect="postgres")
    assert "q.`Region Name` AS segment" in build_histogram_sql("SELECT 1", bins=2, segment_column="Region Name", dialect="bigquery")
    assert "q.region AS segment" in build_histogram_sql("SELECT 1", bins=2, segment_column="region", dialect="snowflake")


def test_histogram_edges_are_the_decimals_people_type():
    edges = histogram_edges(100)
    assert edges[70] == 0.7 and edges[29] == 0.29 and edges[57] == 0.57
    assert edges[0] == 0.0 and edges[-1] == 1.0 and len(edges) == 101


def test_distribution_case_is_shallow_and_exact_with_many_bins():
    rng = np.random.default_rng(7)
    edges = np.unique(np.round(rng.normal(size=999), 3))
    edges = [-np.inf, *edges.tolist(), np.inf]
    values = np.concatenate([rng.normal(size=5000), np.array(edges[1:-1])])
    sql = build_distribution_sql("SELECT v AS value FROM frame", edges=edges, dialect="duckdb")
    assert sql.count("CASE") == len(edges) - 2 + 1  # one CASE per interior edge, plus the NULL guard
    assert sqlglot.parse_one(sql, read="duckdb") is not None
    with duckdb.connect() as con:
        con.register("frame", pd.DataFrame({"v": values}))
        got = dict(con.execute(sql).fetchall())
    counts = [got.get(i, 0) for i in range(len(edges) - 1)]
    assert counts == bin_counts(values, edges).tolist()


@pytest.mark.parametrize("bad", [[0.0], [0.0, 0.0, 1.0], [1.0, 0.5]])
def test_distribution_edges_must_increase(bad):
    with pytest.raises(ValueError, match="edges"):
        build_distribution_sql("SELECT 1 AS value", edges=bad, dialect="duckdb")
