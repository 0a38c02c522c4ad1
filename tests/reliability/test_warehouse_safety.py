"""Warehouse safety through the scheduled pull: on a real PostgreSQL warehouse, and between workspaces.

The runner's own refusals (DDL, DML, DML inside a CTE, ``SELECT … INTO``, ``nextval``, a plpgsql
function that writes, a statement past its timeout) are tested one by one in
tests/storage/warehouse/test_runner.py. Here the same dangers arrive the way they would in
production: inside a synced contract, run by the scheduler next to other teams' pulls.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.jobs.pull import pull_contract
from bot.scheduler import make_runner, run_due_jobs
from bot.settings import Settings, warehouse_teams_from_env, warehouse_urls_from_env
from metrics.contract import Contract
from storage.contracts import sync_contract
from storage.db import session_scope
from storage.models import MetricSnapshot, SnapshotStatus
from storage.warehouse.runner import connect_warehouse
from tests.metrics.contract_factory import contract_data

POSTGRES_URL = os.environ.get("NORTHSTAR_TEST_POSTGRES_URL")
TEAM = "T0NORTH"
CREATED = datetime(2026, 11, 10, tzinfo=UTC)
NOW = datetime(2026, 11, 13, 7, tzinfo=UTC)  # an hour after the 06:00 pulls
TIMEOUT_S = 1.5
FAST_SQL = "SELECT AVG(x) AS value, COUNT(*) AS n FROM t WHERE ts >= :window_start AND ts < :window_end"
# pg_sleep is allowed by the guard (a dashboard query may legitimately be slow); the timeout is what stops it.
SLOW_SQL = "SELECT AVG(x) + pg_sleep(60)::text::int AS value, COUNT(*) AS n FROM t WHERE ts >= :window_start AND ts < :window_end"
WRITING_SQL = "SELECT AVG(x) + sneaky() AS value, COUNT(*) AS n FROM t WHERE ts >= :window_start AND ts < :window_end"



@pytest.fixture
def warehouse_schema() -> Iterator[tuple[str, Engine]]:
    admin = sa.create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    schema = f"ns_wh_{uuid.uuid4().hex[:12]}"
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
        c.exec_driver_sql(f"CREATE TABLE {schema}.t (x DOUBLE PRECISION, ts TIMESTAMP)")
        c.exec_driver_sql(f"INSERT INTO {schema}.t SELECT 0.1, TIMESTAMP '2026-11-12' + g * INTERVAL '1 minute' FROM generate_series(0, 1439) g")
        c.exec_driver_sql(
            f"CREATE FUNCTION {schema}.sneaky() RETURNS integer LANGUAGE plpgsql AS $$ "
            f"BEGIN INSERT INTO {schema}.t VALUES (99, now()); RETURN 0; END $$"
        )
    try:
        yield schema, admin
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def sync(engine: Engine, name: str, sql: str) -> None:
    metrics = [
        {"name": "checkout_completion", "layer": "business", "role": "north_star", "direction": "increase", "sql": FAST_SQL},
        {"name": "slot_change_rate", "layer": "product", "role": "guardrail", "direction": "decrease", "sql": sql, "bound": {"max": 0.3}},
    ]
    data = contract_data(name=name, metrics=metrics, schedule={"pull": "0 6 * * *", "audit": "0 9 * * mon", "timezone": "UTC"})
    with session_scope(engine) as session:
        sync_contract(session=session, team_id=TEAM, contract=Contract.model_validate(data), source_yaml="{}", author="test", now=CREATED)


def snapshots(engine: Engine, metric: str) -> list[MetricSnapshot]:
    with Session(engine) as session:
        return list(session.exec(select(MetricSnapshot).where(MetricSnapshot.metric == metric).order_by(MetricSnapshot.id)).all())


@pytest.mark.postgres
def test_a_slow_query_is_cancelled_at_the_timeout_and_does_not_hold_up_other_contracts(engine: Engine, warehouse_schema):
    schema, admin = warehouse_schema
    sync(engine, "a-slow", SLOW_SQL)  # sorted first, so a sequential run would make the others wait behind it
    sync(engine, "b-fast", FAST_SQL)
    sync(engine, "c-fast", FAST_SQL)
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finished: dict[str, float] = {}
    lock = threading.Lock()

    def pull(**kw):
        report = pull_contract(**kw, sleep=lambda s: None)
        with lock:
            finished[kw["contract_name"]] = time.monotonic()
        return report

    runner = make_runner(engine=engine, settings=lambda name: connect_warehouse(name, url, statement_timeout_s=TIMEOUT_S),
                         clock=lambda: NOW, pull=pull)
    started = time.monotonic()
    results = run_due_jobs(engine=engine, now=NOW, replica_id="replica", runner=runner)

    outcomes = {r.run.contract_name: r.outcome for r in results if r.run.kind == "pull"}
    # The slow contract's run is recorded as failed, so the period is tried again later.
    assert outcomes == {"a-slow": "failed", "b-fast": "ran", "c-fast": "ran"}
    # Three attempts, each cut at the timeout, for the slow metric; the fast contracts were done
    # before its second attempt began (run one after another, they would finish after it).
    assert finished["a-slow"] - started >= 3 * TIMEOUT_S
    assert max(finished["b-fast"], finished["c-fast"]) < finished["a-slow"] - 2 * TIMEOUT_S
    slow = [s for s in snapshots(engine, "slot_change_rate") if s.value is None]
    assert [s.status for s in slow] == [SnapshotStatus.FAILED] * 3
    assert all("timeout" in (s.error or "") for s in slow), [s.error for s in slow]
    # Cancelled on the server, not merely abandoned by the client.
    with admin.connect() as c:
        running = c.exec_driver_sql("SELECT count(*) FROM pg_stat_activity WHERE position('pg_sleep(60)' in query) > 0 AND pid <> pg_backend_pid()").scalar()
    assert running == 0


@pytest.mark.postgres
def test_a_function_that_writes_is_stopped_by_the_read_only_transaction_and_not_retried(engine: Engine, warehouse_schema):
    schema, admin = warehouse_schema
    sync(engine, "sneaky", WRITING_SQL)
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with admin.connect() as c:
        before = c.exec_driver_sql(f"SELECT count(*), max(x) FROM {schema}.t").one()

    report = pull_contract(engine=engine, settings_or_warehouse_factory=lambda name: connect_warehouse(name, url, statement_timeout_s=5),
                           team_id=TEAM, contract_name="sneaky", now=NOW, sleep=lambda s: None)

    with admin.connect() as c:
        assert c.exec_driver_sql(f"SELECT count(*), max(x) FROM {schema}.t").one() == before
    outcome = {m.metric: m for m in report.metrics}["slot_change_rate"]
    assert outcome.status == SnapshotStatus.FAILED and outcome.attempts == 1  # permanent: retrying cannot help
    assert "read-only" in outcome.error
    assert {m.metric: m.status for m in report.metrics}["checkout_completion"] == SnapshotStatus.OK


# --------------------------------------------------------------------------- warehouses and workspaces


@pytest.fixture
def shared_warehouse(tmp_path) -> str:
    import duckdb

    path = tmp_path / "shared.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t (x DOUBLE, ts TIMESTAMP)")
        con.execute("INSERT INTO t SELECT 0.1, TIMESTAMP '2026-11-12' + INTERVAL (i) MINUTE FROM range(1440) r(i)")
    return f"duckdb:///{path}"


def settings_for(url: str, *, oauth: bool, teams: str | None = None) -> Settings:
    env = {"NORTHSTAR_WAREHOUSE_DEMO_URL": url, **({"NORTHSTAR_WAREHOUSE_DEMO_TEAMS": teams} if teams is not None else {})}
    extra = {"slack_client_id": "111.222", "slack_client_secret": "c0ffee0123456789"} if oauth else {}
    return Settings(database_url="sqlite://", warehouses=warehouse_urls_from_env(env), warehouse_teams=warehouse_teams_from_env(env), **extra)


def pull_for(engine: Engine, settings: Settings, team: str):
    contract = Contract.model_validate(contract_data(schedule={"pull": "0 6 * * *", "audit": "0 9 * * mon", "timezone": "UTC"}))
    with session_scope(engine) as session:
        sync_contract(session=session, team_id=team, contract=contract, source_yaml="{}", author="test", now=CREATED)
    return pull_contract(engine=engine, settings_or_warehouse_factory=settings, team_id=team, contract_name=contract.name, now=NOW,
                         sleep=lambda s: None)


@pytest.mark.parametrize(("oauth", "teams", "opened_to"), [
    (False, None, {"T0NORTH", "T0OTHER"}),  # one workspace per deployment: its contracts use its warehouses
    (True, None, set()),  # many workspaces, none named: nobody
    (True, "T0NORTH, T0THIRD", {"T0NORTH"}),
])
def test_a_warehouse_is_queried_only_for_the_workspaces_it_is_open_to(engine: Engine, shared_warehouse, oauth, teams, opened_to):
    settings = settings_for(shared_warehouse, oauth=oauth, teams=teams)
    for team in ("T0NORTH", "T0OTHER"):
        report = pull_for(engine, settings, team)
        statuses = {m.status for m in report.metrics}
        if team in opened_to:
            assert statuses == {SnapshotStatus.OK}, report.metrics
        else:
            assert statuses == {SnapshotStatus.FAILED}
            assert all("NORTHSTAR_WAREHOUSE_DEMO_TEAMS" in m.error and "not open to" in m.error for m in report.metrics)
            with Session(engine) as session:
                stored = session.exec(select(MetricSnapshot).where(MetricSnapshot.team_id == team)).all()
            assert stored and all(s.value is None for s in stored)
