"""Pulling a contract: snapshots kept, failures retried and recorded, alerts queued exactly once."""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from bot.blocks.alerts import ACTION_ALERT_ACKNOWLEDGE, ACTION_ALERT_SNOOZE
from bot.jobs.pull import pull_contract, pull_window, run_pull_command
from metrics.contract import Contract, parse_contract
from storage.alerts import get_alert_state
from storage.contracts import sync_contract
from storage.db import session_scope
from storage.models import MetricSnapshot, OutboxMessage
from storage.snapshots import latest_snapshot
from storage.warehouse.errors import WarehouseTimeoutError
from storage.warehouse.runner import Warehouse, connect_warehouse
from tests.metrics.contract_factory import contract_data

ROOT = Path(__file__).resolve().parents[3]
TEAM = "T0NORTH"
DAY1 = datetime(2026, 11, 10, tzinfo=UTC)


def sync(engine: Engine, contract: Contract, source: str = "") -> int:
    with session_scope(engine) as session:
        return sync_contract(session=session, team_id=TEAM, contract=contract, source_yaml=source or "{}", author="test").contract_row.id


def outbox(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())


class DownWarehouse(Warehouse):
    """A warehouse whose every statement times out."""

    def run(self, sql, *, params=None, metric=None, row_cap=None, timeout_s=None):
        raise WarehouseTimeoutError("the query was cancelled after 30.0 s", warehouse=self.name, metric=metric)


@pytest.fixture
def small_warehouse(tmp_path: Path) -> str:
    path = tmp_path / "small.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t (x DOUBLE, ts TIMESTAMP)")
        for offset in range(4):
            day = (DAY1 + timedelta(days=offset)).replace(tzinfo=None)
            con.execute("INSERT INTO t SELECT 0.1, ?::TIMESTAMP + INTERVAL (i) SECOND FROM range(500) r(i)", [day])
    return f"duckdb:///{path}"


def test_pull_window_is_the_last_complete_local_day():
    contract = parse_contract((ROOT / "examples/contracts/fraud-screening.yml").read_text())  # Europe/London
    start, end = pull_window(datetime(2026, 7, 2, 5, 30, tzinfo=UTC), contract)
    assert (start, end) == (datetime(2026, 6, 30, 23, tzinfo=UTC), datetime(2026, 7, 1, 23, tzinfo=UTC))
    # The day the clocks go back is 25 hours long.
    start, end = pull_window(datetime(2026, 10, 26, 12, tzinfo=UTC), contract)
    assert end - start == timedelta(hours=25)


def test_failed_pulls_are_kept_retried_and_alerted_once(engine: Engine, small_warehouse: str):
    contract = Contract.model_validate(contract_data())
    contract_id = sync(engine, contract)
    good = lambda name: connect_warehouse(name, small_warehouse)  # noqa: E731
    down = lambda name: DownWarehouse(name=name, engine=connect_warehouse(name, small_warehouse).engine, dialect="duckdb")  # noqa: E731
    pauses: list[float] = []

    def pull(factory, day: int, hours_later: int = 6):
        start = DAY1 + timedelta(days=day)
        return pull_contract(engine=engine, settings_or_warehouse_factory=factory, team_id=TEAM, contract_name=contract.name,
                             window_start=start, window_end=start + timedelta(days=1),
                             now=start + timedelta(days=1, hours=hours_later), sleep=pauses.append)

    first = pull(good, 0)
    assert [m.status for m in first.metrics] == ["ok"] * 3 and outbox(engine) == []

    failed = pull(down, 1)
    assert [(m.status, m.attempts) for m in failed.metrics] == [("failed", 3)] * 3
    assert pauses == [2.0, 4.0] * 3  # backoff doubles between attempts
    with Session(engine) as session:
        rows = session.exec(select(MetricSnapshot).where(MetricSnapshot.metric == "slot_change_rate").order_by(MetricSnapshot.id)).all()
        assert [(r.status, r.attempt) for r in rows] == [("ok", 1), ("failed", 1), ("failed", 2), ("failed", 3)]
        assert "cancelled after 30.0 s" in rows[-1].error
        # The good snapshot is still the latest good one.
        kept = latest_snapshot(session=session, team_id=TEAM, contract_id=contract_id, metric="slot_change_rate")
        assert kept.window_start == DAY1 and kept.value == pytest.approx(0.1)
    messages = outbox(engine)
    assert len(messages) == 1, "three failed attempts of three metrics make one pipeline alert"
    assert "could not be pulled (3 failed attempts in a row)" in messages[0].payload["text"]

    pull(down, 1, hours_later=7)  # failing again an hour later: nothing new
    assert len(outbox(engine)) == 1

    recovered = pull(good, 2)
    assert not recovered.failed
    later = outbox(engine)[1:]
    replies = [m for m in later if m.kind == "post"]
    assert [m.idempotency_key.split(":")[0] for m in replies] == ["resolution"] * 3
    assert {m.thread_key for m in replies} == {messages[0].idempotency_key}
    # The grouped alert itself is edited once to say all three recovered, buttons gone.
    [edit] = [m for m in later if m.kind == "update"]
    assert edit.target_key == messages[0].idempotency_key
    statuses = [b for b in edit.payload["blocks"] if b.get("block_id", "").startswith("alert-status-")]
    assert len(statuses) == 3 and all("Recovered on" in str(b) for b in statuses)
    assert not [b for b in edit.payload["blocks"] if b["type"] == "actions"]


def test_missing_warehouse_configuration_is_a_permanent_failure(engine: Engine):
    contract = Contract.model_validate(contract_data())
    sync(engine, contract)

    def unconfigured(name: str) -> Warehouse:
        return connect_warehouse(name, None)

    report = pull_contract(engine=engine, settings_or_warehouse_factory=unconfigured, team_id=TEAM, contract_name=contract.name,
                           now=DAY1, sleep=lambda s: None)
    assert all("NORTHSTAR_WAREHOUSE_DEMO_URL" in m.error for m in report.metrics)
    assert len(outbox(engine)) == 1


# --- the demo warehouse, end to end ----------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("demo_warehouse", ROOT / "examples/demo_warehouse.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    return module.generate(path, seed=7, end=date(2026, 11, 23), weeks=16, scale=0.25)


def test_breach_week_alerts_premium_false_positives_once(engine: Engine, demo):
    source = (ROOT / "examples/contracts/fraud-screening.yml").read_text()
    contract = parse_contract(source)
    contract_id = sync(engine, contract, source)
    factory = lambda name: connect_warehouse(name, f"duckdb:///{demo.path}")  # noqa: E731
    breach_start, _ = demo.incidents["premium_fp_breach"]
    start = datetime.combine(breach_start, datetime.min.time(), tzinfo=UTC)
    end = start + timedelta(days=7)
    now = end + timedelta(hours=6)

    report = pull_contract(engine=engine, settings_or_warehouse_factory=factory, team_id=TEAM, contract_name=contract.name,
                           window_start=start, window_end=end, now=now, sleep=lambda s: None)
    assert not report.failed, report.summary()
    premium = next(f for f in report.findings if f.key == "premium_false_positive_rate")
    assert premium.status == "violated" and premium.interval[0] > 0.02
    assert "legitimate customers blocked a week" in premium.reason and "manual review" in premium.reason

    alerts = [m for m in outbox(engine) if m.idempotency_key.startswith("alert:")]
    assert len(alerts) == 1
    message = alerts[0]
    assert message.channel == "#fraud-ml"
    assert "premium-customer false positives" in message.payload["text"]
    with Session(engine) as session:
        state = get_alert_state(session=session, team_id=TEAM, contract_id=contract_id, metric="premium_false_positive_rate")
    assert state.state == "violated" and state.outbox_key == message.idempotency_key
    buttons = [e for b in message.payload["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert {(b["action_id"], b["value"]) for b in buttons} >= {(ACTION_ALERT_ACKNOWLEDGE, str(state.id)), (ACTION_ALERT_SNOOZE, str(state.id))}
    assert "<@U0FRAUDPM>" in str(message.payload["blocks"])

    # The reference window for drift was pulled once and kept; pulling again reuses it.
    again = pull_contract(engine=engine, settings_or_warehouse_factory=factory, team_id=TEAM, contract_name=contract.name,
                          window_start=start, window_end=end, now=now + timedelta(hours=1), sleep=lambda s: None)
    assert not again.failed and again.intents == []
    assert len([m for m in outbox(engine) if m.idempotency_key.startswith("alert:")]) == 1
    with Session(engine) as session:
        reference_pulls = session.exec(
            select(func.count()).select_from(MetricSnapshot).where(MetricSnapshot.metric == "score_drift", MetricSnapshot.window_end != end)
        ).one()
    assert reference_pulls == 1


def test_run_pull_command_pulls_every_active_contract_and_summarises(engine: Engine, small_warehouse: str):
    contract = Contract.model_validate(contract_data())
    sync(engine, contract)
    lines: list[str] = []
    summary = run_pull_command(
        engine=engine, settings=lambda name: connect_warehouse(name, small_warehouse), team_id=TEAM, names=[],
        at=DAY1 + timedelta(days=3, hours=6), backfill_days=3, progress=lines.append, sleep=lambda s: None,
    )
    assert summary == lines and len(lines) == 3
    assert all("3/3 metrics pulled" in line for line in lines)
    assert lines[0].startswith("checkout-assist 2026-11-10 00:00")
