"""Tests of the bot's own database; shared helpers below."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from metrics.contract import Contract, parse_contract

T0 = datetime(2026, 9, 7, 6, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def contract_yaml(*, name: str = "checkout-assist", decision: str = "Suggest the next step at checkout.", comment: str = "") -> str:
    """A small valid contract; ``comment`` lets a test change formatting without changing content."""
    return f"""\
# {comment}
name: {name}
channel: "#ml-checkout"
decision: {decision}
business:
  positive: abandoned cart
  negative: completed cart
  action: nudge
  unit: cart
  weekly_volume: 10000
  cost_false_positive: 1
  cost_false_negative: 20
metrics:
  - name: conversion
    layer: business
    role: north_star
    direction: increase
    sql: SELECT AVG(converted) AS value FROM carts WHERE ts >= :window_start AND ts < :window_end
"""


def contract_of(yaml: str) -> Contract:
    return parse_contract(yaml, source="test.yml")


_WAITING = text(
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE NOT l.granted AND a.datname = current_database()"
)


def wait_until_blocked(engine: Engine, *, seconds: float = 5.0) -> None:
    """Return once another connection waits on a lock (PostgreSQL), or after a short pause (SQLite).

    SQLite has no view of waiting connections; its busy handler waits far longer than the pause.
    """
    if engine.dialect.name != "postgresql":
        time.sleep(0.3)
        return
    deadline = time.monotonic() + seconds
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(_WAITING).scalar_one()
            if waiting:
                return
            connection.rollback()
            time.sleep(0.02)
    raise AssertionError("the second transaction never waited on the first")


def run_in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Start ``target`` in a thread; its result (or exception) lands in the returned list."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(target())
        except BaseException as exc:  # handed to the test thread, which re-raises it
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def result_of(thread: threading.Thread, outcome: list[object], *, timeout: float = 30) -> object:
    thread.join(timeout)
    assert not thread.is_alive(), "the thread did not finish"
    (value,) = outcome
    if isinstance(value, BaseException):
        raise value
    return value
