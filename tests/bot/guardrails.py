"""A small guardrail contract, a warehouse whose value is chosen per day, and an outbox delivery pass.

Shared by the alert-button and audit/pause tests, which drive real pulls with a frozen clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.jobs.pull import pull_contract
from bot.outbox_worker import OutboxWorker, make_worker_client
from metrics.contract import Contract
from storage.alerts import list_alert_states
from storage.contracts import get_contract, sync_contract
from storage.db import session_scope
from storage.models import AlertState, OutboxMessage
from storage.warehouse.runner import connect_warehouse
from tests.metrics.contract_factory import BASE, contract_data

NAME = "checkout-assist"
CHANNEL = "C0CHECKOUT"
SIGNERS = ("U0PM", "U0ENG", "U0DS")
GUARDRAIL = "slot_change_rate"  # bound: at most 0.3
DAY1 = datetime(2026, 11, 10, tzinfo=UTC)


class Clock:
    """The app's frozen clock: tests move it by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def guardrail_contract() -> Contract:
    # The north star and the one guardrail; one bound keeps every alert about one breach.
    return Contract.model_validate(contract_data(metrics=BASE["metrics"][:2]))


def seed_guardrail_contract(engine: Engine, team: str) -> int:
    with session_scope(engine) as session:
        result = sync_contract(session=session, team_id=team, contract=guardrail_contract(), source_yaml="{}", author="test")
        return result.contract_row.id


class DailyWarehouse:
    """A DuckDB file whose ``x`` on day ``n`` (from DAY1) is whatever the test sets for it."""

    def __init__(self, path: Path) -> None:
        self.url = f"duckdb:///{path}"
        with duckdb.connect(str(path)) as con:
            con.execute("CREATE TABLE t (x DOUBLE, ts TIMESTAMP)")
        self.path = path

    def set_day(self, day: int, value: float) -> None:
        start = (DAY1 + timedelta(days=day)).replace(tzinfo=None)
        with duckdb.connect(str(self.path)) as con:
            con.execute("DELETE FROM t WHERE ts >= ?::TIMESTAMP AND ts < ?::TIMESTAMP + INTERVAL 1 DAY", [start, start])
            con.execute("INSERT INTO t SELECT ?, ?::TIMESTAMP + INTERVAL (i) SECOND FROM range(500) r(i)", [value, start])

    def factory(self, name: str):
        return connect_warehouse(name, self.url)


def pull_day(engine: Engine, warehouse: DailyWarehouse, team: str, day: int, value: float, *, now: datetime):
    """Pull day ``day`` (holding ``value``) as the scheduler would at ``now``."""
    warehouse.set_day(day, value)
    start = DAY1 + timedelta(days=day)
    return pull_contract(engine=engine, settings_or_warehouse_factory=warehouse.factory, team_id=team, contract_name=NAME,
                         window_start=start, window_end=start + timedelta(days=1), now=now, sleep=lambda s: None)


def deliver(engine: Engine, api_url: str, clock: Clock) -> None:
    """One outbox pass against the stand-in (what the worker thread does in production)."""
    worker = OutboxWorker(
        engine=engine, client_for_team=lambda team: make_worker_client(token="xoxb-standin-token", base_url=api_url, timeout=5),
        worker_id="test", clock=clock, sleep=lambda s: None, pacing_per_channel_s=0, jitter=lambda: 0.0,
    )
    # An edit waits for its target's ts, and a thread reply for its parent's: a second pass sends them.
    worker.run_once()
    worker.run_once()


def outbox(engine: Engine, *, kind: str | None = None) -> list[OutboxMessage]:
    with Session(engine) as session:
        statement = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind is not None:
            statement = statement.where(OutboxMessage.kind == kind)
        return list(session.exec(statement).all())


def alert_state(engine: Engine, team: str) -> AlertState:
    with Session(engine) as session:
        contract = get_contract(session=session, team_id=team, name=NAME)
        return next(s for s in list_alert_states(session=session, team_id=team, contract_id=contract.id) if s.metric == GUARDRAIL)
