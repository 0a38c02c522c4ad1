"""The demo warehouse: every example contract's SQL runs on it, and the incidents are there to find."""

import hashlib
import importlib.util
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest

from metrics.classification import confusion_at
from metrics.contract import Kind, parse_contract
from metrics.drift import population_stability_index

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = sorted((REPO / "examples" / "contracts").glob("*.yml"))
SMALL = 0.1


def _load_generator():
    # Loaded by file path, as the CLI does: examples/ is not a package.
    spec = importlib.util.spec_from_file_location("demo_warehouse_under_test", REPO / "examples" / "demo_warehouse.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo_warehouse = _load_generator()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return demo_warehouse.generate(tmp_path_factory.mktemp("demo") / "demo.duckdb", scale=SMALL)


@pytest.fixture(scope="module")
def con(warehouse):
    connection = duckdb.connect(str(warehouse.path), read_only=True)
    yield connection
    connection.close()


def _contracts():
    return [parse_contract(path.read_text(), source=str(path)) for path in CONTRACTS]


def _at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


def _week(warehouse, audited_week: int) -> tuple[datetime, datetime]:
    """Window of audited week 1..12 (the four launch-baseline weeks come first)."""
    start, end = warehouse.weekly_windows[demo_warehouse.BASELINE_WEEKS + audited_week - 1]
    return _at(start), _at(end)


def _run(con, sql: str, window: tuple[datetime, datetime]):
    # The product binds :window_start/:window_end through SQLAlchemy; DuckDB's own API names them $.
    text = sql.replace(":window_start", "$window_start").replace(":window_end", "$window_end")
    return con.execute(text, {"window_start": window[0], "window_end": window[1]}).df()


def _fpr(con, where: str, window) -> float:
    return _rate(con, f"SELECT fraud_score >= 0.7 FROM transactions WHERE NOT is_fraud AND {where} "
                      "AND ts >= $1 AND ts < $2", window)


def _rate(con, sql: str, window) -> float:
    flags = con.execute(f"SELECT AVG(CAST(x AS DOUBLE)) FROM ({sql}) AS t(x)", list(window)).fetchone()[0]
    return float(flags)


# ------------------------------------------------------------------------------------ shape


def test_summary_describes_the_calendar_and_incidents(warehouse):
    assert warehouse.as_of == date(2026, 11, 23)
    assert warehouse.start == date(2026, 8, 3)
    # The contracts' launch baselines are the first weeks of the data.
    assert warehouse.launch_baseline == (date(2026, 8, 3), date(2026, 8, 31))
    assert warehouse.incidents["premium_fp_breach"][0] == date(2026, 11, 2)  # audited week 10
    assert warehouse.incidents["high_fp_segment"] == "latam"
    assert warehouse.experiment_window == (date(2026, 11, 9), date(2026, 11, 23))
    assert len(warehouse.weekly_windows) == 16
    assert all(start.weekday() == 0 for start, _ in warehouse.weekly_windows)


def test_every_table_is_written_with_the_counts_reported(warehouse, con):
    expected = {
        "transactions", "fraud_experiment", "support_conversations", "support_experiment",
        "rec_impressions", "rec_judgments", "wake_events", "voice_sessions", "device_weeks",
    }
    assert set(warehouse.tables) == expected
    for name, rows in warehouse.tables.items():
        assert rows > 0
        assert con.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0] == rows


def test_data_spans_the_requested_weeks(warehouse, con):
    first, last = con.execute("SELECT MIN(ts), MAX(ts) FROM transactions").fetchone()
    assert first >= _at(warehouse.start) and first < _at(warehouse.start) + timedelta(hours=6)
    assert last < _at(warehouse.as_of) and last > _at(warehouse.as_of) - timedelta(hours=6)
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'transactions'").fetchall())
    assert types["ts"] == "TIMESTAMP" and types["is_fraud"] == "BOOLEAN" and types["region"] == "VARCHAR"


def _metric_cases():
    cases = []
    for contract in _contracts():
        for metric in contract.metrics:
            cases.append(pytest.param(contract, metric, id=f"{contract.name}:{metric.name}"))
    return cases


_COLUMNS = {
    Kind.VALUE: {"value"},
    Kind.CLASSIFICATION: {"score", "label"},
    Kind.RANKING: {"query_id", "score", "relevance"},
    Kind.DISTRIBUTION: {"value"},
}


@pytest.mark.parametrize(("contract", "metric"), _metric_cases())
def test_every_contract_metric_runs_for_a_week_window(warehouse, con, contract, metric):
    for audited_week in (1, 10, 12):
        rows = _run(con, metric.sql, _week(warehouse, audited_week))
        needed = set(_COLUMNS[metric.kind])
        if metric.classification is not None and metric.classification.segment_column:
            needed.add(metric.classification.segment_column)
        assert needed <= set(rows.columns), f"{metric.name} returned {list(rows.columns)}"
        assert len(rows) > 0
        if metric.kind is Kind.VALUE:
            assert len(rows) == 1 and np.isfinite(float(rows["value"][0]))
        if metric.kind is Kind.CLASSIFICATION:
            assert rows["score"].between(0, 1).all()
            assert set(rows["label"].unique()) == {0, 1}


def _experiment_cases():
    cases = []
    for contract in _contracts():
        for experiment in contract.experiments:
            for name, spec in experiment.metrics.items():
                cases.append(pytest.param(experiment, spec, id=f"{contract.name}:{experiment.name}:{name}"))
    return cases


@pytest.mark.parametrize(("experiment", "spec"), _experiment_cases())
def test_every_experiment_metric_runs_with_both_arms(warehouse, con, experiment, spec):
    rows = _run(con, spec.sql, _week(warehouse, 12))
    assert {"variant", "value"} <= set(rows.columns)
    assert set(rows["variant"]) == {experiment.control, experiment.treatment}
    if spec.type == "proportion":
        assert set(rows["value"].unique()) <= {0, 1}


# -------------------------------------------------------------------------------- incidents


def test_fraud_prevalence_is_about_two_percent(con):
    prevalence = con.execute("SELECT AVG(CAST(is_fraud AS DOUBLE)) FROM transactions").fetchone()[0]
    assert 0.018 < prevalence < 0.022


def test_threshold_gives_the_documented_recall_and_overall_false_positive_rate(warehouse, con):
    window = _week(warehouse, 1)
    rows = _run(con, "SELECT fraud_score AS score, CAST(is_fraud AS INTEGER) AS label FROM transactions "
                     "WHERE ts >= :window_start AND ts < :window_end", window)
    confusion = confusion_at(rows["label"], rows["score"], threshold=0.7)
    assert 0.76 < confusion.recall < 0.88
    assert 0.007 < confusion.false_positive_rate < 0.013
    assert con.execute("SELECT COUNT(*) FROM transactions WHERE blocked <> (fraud_score >= 0.7)").fetchone()[0] == 0


def test_premium_false_positive_breach_shows_in_week_10_and_recovers_by_week_12(warehouse, con):
    fpr = {week: _fpr(con, "customer_tier = 'premium'", _week(warehouse, week)) for week in (9, 10, 11, 12)}
    print("premium FPR by audited week:", {w: round(v, 4) for w, v in fpr.items()})
    assert fpr[9] < 0.02
    assert 0.024 < fpr[10] < 0.034
    assert fpr[11] > 0.02  # the fix is rolling out during week 11
    assert fpr[12] < 0.016
    start, end = warehouse.incidents["premium_fp_breach"]
    assert _fpr(con, "customer_tier = 'premium'", (_at(start), _at(end))) > 0.02
    assert _fpr(con, "customer_tier = 'premium'", (_at(end), _at(end + timedelta(days=2)))) < 0.02


def test_high_false_positive_region_is_about_three_times_the_others(warehouse, con):
    segment = warehouse.incidents["high_fp_segment"]
    window = (_week(warehouse, 1)[0], _week(warehouse, 12)[1])
    high = _fpr(con, f"region = '{segment}'", window)
    others = _fpr(con, f"region <> '{segment}'", window)
    assert 2.6 < high / others < 3.4


def test_score_drift_stands_out_in_its_week_only(warehouse, con):
    sql = "SELECT fraud_score AS value FROM transactions WHERE ts >= :window_start AND ts < :window_end"
    baseline = _run(con, sql, tuple(_at(d) for d in warehouse.launch_baseline))["value"]
    drift_start = _at(warehouse.incidents["drift_week"])
    psi = {}
    for week in range(1, 13):
        window = _week(warehouse, week)
        psi[window[0] == drift_start, week] = population_stability_index(baseline, _run(con, sql, window)["value"])
    drifted = [value for (is_drift, _), value in psi.items() if is_drift]
    steady = [value for (is_drift, _), value in psi.items() if not is_drift]
    assert len(drifted) == 1 and drifted[0] > 0.25
    assert max(steady) < 0.05


def test_volume_drops_by_about_seventy_percent_on_one_day(warehouse, con):
    daily = dict(con.execute("SELECT CAST(ts AS DATE), COUNT(*) FROM transactions GROUP BY 1").fetchall())
    drop_day = warehouse.incidents["volume_drop_day"]
    usual = np.median([n for day, n in daily.items() if day.weekday() == drop_day.weekday() and day != drop_day])
    assert 0.2 < daily[drop_day] / usual < 0.4
    assert min(n for day, n in daily.items() if day != drop_day) > 0.8 * np.median(list(daily.values()))


def test_wake_word_false_accepts_are_highest_in_one_language(warehouse, con):
    language = warehouse.incidents["high_false_accept_language"]
    rates = dict(con.execute("SELECT language, AVG(CAST(score >= 0.8 AS DOUBLE)) FROM wake_events "
                             "WHERE NOT is_wake_word GROUP BY 1").fetchall())
    others = [rate for name, rate in rates.items() if name != language]
    assert rates[language] > 2.5 * max(others)


# ----------------------------------------------------------------------------- guardrails


def test_guardrails_other_than_the_injected_ones_hold(warehouse, con):
    audited = (_week(warehouse, 1)[0], _week(warehouse, 12)[1])
    every_week = [_week(warehouse, week) for week in range(1, 13)]

    def value(sql, window):
        return float(_run(con, sql, window)["value"][0])

    for window in every_week:
        assert value("SELECT quantile_cont(latency_ms, 0.95) AS value FROM support_conversations "
                     "WHERE ts >= :window_start AND ts < :window_end", window) < 300
        assert value("SELECT AVG(model_cost_usd) AS value FROM support_conversations "
                     "WHERE ts >= :window_start AND ts < :window_end", window) < 0.04
        assert value("SELECT MEDIAN(hours_to_resolution) AS value FROM support_conversations "
                     "WHERE escalated AND ts >= :window_start AND ts < :window_end", window) < 6.0 * 1.2
        assert value("SELECT quantile_cont(latency_ms, 0.95) AS value FROM transactions "
                     "WHERE ts >= :window_start AND ts < :window_end", window) < 120
        assert value("SELECT quantile_cont(latency_ms, 0.95) AS value FROM rec_impressions "
                     "WHERE ts >= :window_start AND ts < :window_end", window) < 80
        assert value("SELECT AVG(CASE WHEN purchased THEN 1.0 ELSE 0.0 END) AS value FROM rec_impressions "
                     "WHERE clicked AND ts >= :window_start AND ts < :window_end", window) > 0.95 * 0.031
        assert value("SELECT AVG(CAST(score >= 0.8 AS DOUBLE)) AS value FROM wake_events "
                     "WHERE NOT is_wake_word AND ts >= :window_start AND ts < :window_end", window) < 0.01
        assert value("SELECT quantile_cont(latency_ms, 0.95) AS value FROM wake_events "
                     "WHERE is_wake_word AND ts >= :window_start AND ts < :window_end", window) < 250
    # Wake words are 1% of events: at the test's small scale a week holds ~100, so the false
    # reject rate is checked over the audited period.
    assert value("SELECT AVG(CAST(score < 0.8 AS DOUBLE)) AS value FROM wake_events "
                 "WHERE is_wake_word AND ts >= :window_start AND ts < :window_end", audited) < 0.04
    fpr_region = _fpr(con, "TRUE", audited)
    assert fpr_region < 0.012 * 1.5


# ---------------------------------------------------------------------------- experiments


def _arms(con, sql, window):
    rows = _run(con, sql, window)
    return rows.groupby("variant")["value"].agg(["mean", "count"])


def _experiment(name: str):
    for contract in _contracts():
        for experiment in contract.experiments:
            if experiment.name == name:
                return experiment
    raise LookupError(name)


def test_fraud_v2_catches_more_fraud_but_breaks_the_premium_guardrail(warehouse, con):
    experiment = _experiment("model-v2")
    window = tuple(_at(d) for d in warehouse.experiment_window)
    recall = _arms(con, experiment.metrics["fraud_recall"].sql, window)["mean"]
    assert 1.15 < recall["v2"] / recall["control"] < 1.35
    premium = _arms(con, experiment.metrics["premium_false_positive_rate"].sql, window)["mean"]
    assert premium["control"] < 0.02 < premium["v2"]
    latency = _arms(con, experiment.metrics["scoring_latency_p95"].sql, window)["mean"]
    assert abs(latency["v2"] / latency["control"] - 1) < 0.05


def test_support_drafts_v3_is_a_clean_win_with_the_planned_split(warehouse, con):
    experiment = _experiment("drafts-v3")
    window = tuple(_at(d) for d in warehouse.experiment_window)
    resolution = _arms(con, experiment.metrics["self_service_resolution_rate"].sql, window)
    lift = resolution["mean"]["drafts_v3"] - resolution["mean"]["control"]
    assert 0.025 < lift < 0.05
    # Assignment is balanced within each day, so there is no sample-ratio mismatch.
    counts = resolution["count"]
    assert abs(counts["drafts_v3"] - counts["control"]) <= 14
    hours = _arms(con, experiment.metrics["escalated_time_to_resolution"].sql, window)["mean"]
    assert hours["drafts_v3"] < 1.05 * hours["control"]
    latency = _arms(con, experiment.metrics["answer_latency_p95"].sql, window)["mean"]
    assert latency["drafts_v3"] < 1.05 * latency["control"]


def test_fraud_experiment_arms_match_the_planned_split(warehouse, con):
    counts = dict(con.execute("SELECT variant, COUNT(*) FROM fraud_experiment GROUP BY 1").fetchall())
    assert abs(counts["v2"] - counts["control"]) <= 14


# ---------------------------------------------------------------------- determinism, speed


_FINGERPRINT_QUERIES = [
    "SELECT COUNT(*), SUM(fraud_score), SUM(amount), SUM(CAST(blocked AS INT)), MIN(ts), MAX(ts) FROM transactions",
    "SELECT region, customer_tier, COUNT(*), SUM(CAST(appealed AS INT)), SUM(latency_ms) FROM transactions GROUP BY ALL ORDER BY ALL",
    "SELECT variant, SUM(CAST(resolved_by_bot AS INT)), SUM(hours_to_resolution) FROM support_conversations GROUP BY 1 ORDER BY 1",
    "SELECT SUM(CAST(clicked AS INT)), SUM(CAST(purchased AS INT)), SUM(user_id) FROM rec_impressions",
    "SELECT SUM(score * relevance), COUNT(DISTINCT query_id) FROM rec_judgments",
    "SELECT language, SUM(score), SUM(CAST(is_wake_word AS INT)) FROM wake_events GROUP BY 1 ORDER BY 1",
    "SELECT SUM(CAST(first_try_success AS INT)) FROM voice_sessions",
    "SELECT SUM(CAST(mic_disabled AS INT)) FROM device_weeks",
    "SELECT variant, SUM(CAST(blocked AS INT)), SUM(latency_ms) FROM fraud_experiment GROUP BY 1 ORDER BY 1",
]


def _fingerprint(path: Path) -> str:
    with duckdb.connect(str(path), read_only=True) as connection:
        results = [connection.execute(sql).fetchall() for sql in _FINGERPRINT_QUERIES]
    return hashlib.sha256(repr(results).encode()).hexdigest()


def test_same_seed_writes_the_same_data_and_another_seed_does_not(tmp_path):
    first = demo_warehouse.generate(tmp_path / "a.duckdb", seed=11, scale=0.02)
    second = demo_warehouse.generate(tmp_path / "b.duckdb", seed=11, scale=0.02)
    other = demo_warehouse.generate(tmp_path / "c.duckdb", seed=12, scale=0.02)
    assert first.tables == second.tables
    assert _fingerprint(first.path) == _fingerprint(second.path)
    assert _fingerprint(first.path) != _fingerprint(other.path)


def test_generating_again_replaces_the_file(tmp_path):
    path = tmp_path / "demo.duckdb"
    path.write_text("not a database")
    demo_warehouse.generate(path, scale=0.02)
    summary = demo_warehouse.generate(path, scale=0.02)
    with duckdb.connect(str(path), read_only=True) as connection:
        assert connection.execute("SELECT COUNT(*) FROM transactions").fetchone()[0] == summary.tables["transactions"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.duckdb"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"end": date(2026, 11, 24)}, "Monday"),
        ({"weeks": 8}, "at least 12"),
        ({"scale": 0.0}, "positive"),
    ],
)
def test_rejects_a_calendar_the_story_cannot_fit(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        demo_warehouse.generate(tmp_path / "demo.duckdb", **kwargs)


def test_runs_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "cli.duckdb"
    assert demo_warehouse.main([str(out), "--scale", "0.02", "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "transactions" in printed and "premium_fp_breach: 2026-11-02 to 2026-11-14" in printed
    assert out.exists()


def test_full_scale_generation_is_fast_enough_for_the_demo(tmp_path):
    began = time.perf_counter()
    summary = demo_warehouse.generate(tmp_path / "full.duckdb")
    elapsed = time.perf_counter() - began
    print(f"scale 1.0: {sum(summary.tables.values()):,} rows in {elapsed:.1f}s", file=sys.stderr)
    weekly = summary.tables["transactions"] / 16
    assert 140_000 < weekly < 160_000  # the fraud contract's weekly_volume is 150,000
    # Generous: about 4 s on a laptop; the bound only catches an accidental slow path.
    assert elapsed < 15
