"""Scheduled runs: claimed once across replicas, caught up after downtime, reconciled with contracts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import Engine, func, text
from sqlmodel import Session, select

from bot.jobs.pull import pull_contract
from bot.scheduler import build_scheduler, make_runner, run_due_jobs, scheduled_contracts
from bot.settings import Settings
from metrics.contract import Contract
from storage.contracts import set_archived, sync_contract
from storage.db import make_engine, session_scope
from storage.models import JobClaim, MetricSnapshot, OutboxMessage
from storage.warehouse.runner import connect_warehouse
from tests.metrics.contract_factory import contract_data

TEAM = "T0NORTH"
CREATED = datetime(2026, 11, 10, tzinfo=UTC)
NOW = datetime(2026, 11, 13, 7, tzinfo=UTC)  # a Friday, an hour after the 06:00 pull


def sync(engine: Engine, **overrides) -> Contract:
    contract = Contract.model_validate(contract_data(schedule={"pull": "0 6 * * *", "audit": "0 9 * * mon", "timezone": "UTC"}, **overrides))
    with session_scope(engine) as session:
        sync_contract(session=session, team_id=TEAM, contract=contract, source_yaml="{}", author="test", now=CREATED)
    return contract


def count(engine: Engine, model) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def same_database(engine: Engine) -> Engine:
    """Another engine (own pool, own connections) on the fixture's database."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.dialect.name == "sqlite":
        return make_engine(url)
    with engine.connect() as connection:
        schema = connection.execute(text("SHOW search_path")).scalar_one()
    return make_engine(url, connect_args={"options": f"-c search_path={schema}"})


@pytest.fixture
def breaching_warehouse(tmp_path: Path) -> str:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t (x DOUBLE, ts TIMESTAMP)")
        # Every day at 0.5 against slot_change_rate's bound of 0.3.
        con.execute("INSERT INTO t SELECT 0.5, TIMESTAMP '2026-11-01' + INTERVAL (i) MINUTE FROM range(60 * 24 * 20) r(i)")
    return f"duckdb:///{path}"


def test_three_replicas_pull_and_alert_exactly_once(engine: Engine, breaching_warehouse: str):
    sync(engine)
    engines = [same_database(engine) for _ in range(3)]
    barrier = threading.Barrier(3)
    results: list = [None] * 3
    errors: list[BaseException] = []

    def replica(index: int) -> None:
        try:
            factory = lambda name: connect_warehouse(name, breaching_warehouse)  # noqa: E731
            runner = make_runner(engine=engines[index], settings=factory, clock=lambda: NOW,
                                 pull=lambda **kw: pull_contract(**kw, sleep=lambda s: None))
            barrier.wait()
            results[index] = run_due_jobs(engine=engines[index], now=NOW, replica_id=f"replica-{index}", runner=runner)
        except BaseException as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=replica, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for other in engines:
        other.dispose()
    assert errors == []
    outcomes = sorted(r.outcome for result in results for r in result)
    # The winner ran it; a loser either lost the claim or already saw the period claimed.
    assert outcomes.count("ran") == 1 and set(outcomes) <= {"ran", "skipped"}
    assert count(engine, MetricSnapshot) == 3  # three metrics, pulled once
    assert count(engine, OutboxMessage) == 1  # one grouped alert
    with Session(engine) as session:
        claim = session.exec(select(JobClaim)).one()
    assert (claim.job_key, claim.period, claim.status) == (f"pull:{TEAM}:checkout-assist", "2026-11-13T06:00Z", "done")


def test_catch_up_runs_each_missed_period_once_and_at_most_max(engine: Engine):
    sync(engine)
    ran: list[tuple[str, str]] = []
    record = lambda run: ran.append((run.kind, run.period))  # noqa: E731

    run_due_jobs(engine=engine, now=datetime(2026, 11, 10, 7, tzinfo=UTC), replica_id="a", runner=record)
    assert ran == [("pull", "2026-11-10T06:00Z")]
    ran.clear()
    # Down from Tuesday to Friday morning: Wednesday's, Thursday's and Friday's pulls, once each.
    run_due_jobs(engine=engine, now=NOW, replica_id="a", runner=record)
    assert ran == [("pull", "2026-11-11T06:00Z"), ("pull", "2026-11-12T06:00Z"), ("pull", "2026-11-13T06:00Z")]
    ran.clear()
    run_due_jobs(engine=engine, now=NOW + timedelta(minutes=1), replica_id="b", runner=record)
    assert ran == []
    # Down for three weeks: only the seven most recent pulls, and the audits missed since the first.
    run_due_jobs(engine=engine, now=datetime(2026, 12, 4, 7, tzinfo=UTC), replica_id="a", runner=record)
    pulls = [p for kind, p in ran if kind == "pull"]
    assert pulls == [f"2026-11-{d}T06:00Z" for d in range(28, 31)] + [f"2026-12-0{d}T06:00Z" for d in range(1, 5)]
    assert [p for kind, p in ran if kind == "audit"][-1] == "2026-11-30T09:00Z"


def test_a_failing_run_is_recorded_and_does_not_stop_the_others(engine: Engine):
    sync(engine)
    sync(engine, name="other-contract")

    def flaky(run):
        if run.contract_name == "checkout-assist":
            raise RuntimeError("warehouse exploded")

    results = run_due_jobs(engine=engine, now=NOW, replica_id="a", runner=flaky)
    assert sorted((r.run.contract_name, r.outcome) for r in results) == [("checkout-assist", "failed"), ("other-contract", "ran")]
    with Session(engine) as session:
        failed = session.exec(select(JobClaim).where(JobClaim.status == "failed")).one()
    assert "warehouse exploded" in failed.error
    # A failed period is not retried every minute.
    assert run_due_jobs(engine=engine, now=NOW + timedelta(minutes=1), replica_id="b", runner=flaky) == []


def test_reconcile_adds_contract_jobs_once_and_removes_archived_ones(engine: Engine):
    sync(engine)
    sync(engine, name="other-contract")
    scheduler = build_scheduler(engine=engine, settings=Settings(warehouses={}), clock=lambda: NOW, replica_id="a",
                                runner=lambda run: None)
    ids = {job.id for job in scheduler.get_jobs()}
    assert f"pull:{TEAM}:checkout-assist" in ids and f"audit:{TEAM}:other-contract" in ids
    assert str(scheduler.get_job(f"pull:{TEAM}:checkout-assist").trigger.timezone) == "UTC"
    with session_scope(engine) as session:
        set_archived(session=session, team_id=TEAM, name="other-contract", archived_at=NOW)
    tick = scheduler.get_job("northstar:tick")
    tick.func()
    tick.func()  # reconciling twice changes nothing
    after = [job.id for job in scheduler.get_jobs()]
    assert len(after) == len(set(after))
    assert not any("other-contract" in job_id for job_id in after)
    assert f"pull:{TEAM}:checkout-assist" in after
    assert [c.name for c in scheduled_contracts(engine)] == ["checkout-assist"]


def test_a_failing_minute_job_is_logged_and_holds_up_neither_the_runs_nor_the_other_jobs(engine: Engine, caplog):
    sync(engine)
    ran, seen = [], []

    def broken(now: datetime) -> None:
        raise RuntimeError("expiry exploded")

    scheduler = build_scheduler(engine=engine, settings=Settings(warehouses={}), clock=lambda: NOW, replica_id="a",
                                runner=lambda run: ran.append(run.kind), minute_jobs=[broken, seen.append])
    with caplog.at_level("ERROR", logger="bot.scheduler"):
        scheduler.get_job("northstar:tick").func()
    assert "pull" in ran, "the due pull ran before the minute jobs"
    assert seen == [NOW], "the job after the failing one still ran, with the tick's time"
    assert [r.getMessage() for r in caplog.records if r.name == "bot.scheduler"] == ["minute job broken failed"]
    # A contract's own cron job runs only its runs, not the minute jobs.
    scheduler.get_job(f"pull:{TEAM}:checkout-assist").func(f"pull:{TEAM}:checkout-assist")
    assert seen == [NOW]


def test_the_first_tick_runs_as_soon_as_the_scheduler_starts(engine: Engine):
    # A replica back from downtime catches up at once, not a minute after it started.
    sync(engine)
    scheduler = build_scheduler(engine=engine, settings=Settings(warehouses={}), clock=lambda: NOW, replica_id="a",
                                runner=lambda run: None)
    scheduler.start(paused=True)
    try:
        tick = scheduler.get_job("northstar:tick")
        assert tick.next_run_time <= datetime.now(UTC)
    finally:
        scheduler.shutdown(wait=False)
