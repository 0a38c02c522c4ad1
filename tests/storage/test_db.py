from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, text
from sqlalchemy.exc import StatementError
from sqlmodel import Session, select

from storage import db
from storage.db import (
    check_schema_current,
    current_revision,
    head_revision,
    make_engine,
    normalize_url,
    session_scope,
    upgrade_database,
)
from storage.errors import DatabaseUnavailableError, ImmutableRecordError, InvalidValueError, SchemaOutOfDateError, UnsupportedDatabaseError
from storage.models import Contract, ContractVersion, metadata
from tests.conftest import POSTGRES_URL


@pytest.mark.parametrize(
    "url",
    ["postgres://u:p@db/northstar", "postgresql://u:p@db/northstar", "postgresql+psycopg://u:p@db/northstar"],
)
def test_every_postgres_spelling_uses_psycopg(url: str) -> None:
    engine = make_engine(url)  # builds without connecting
    assert engine.url.drivername == "postgresql+psycopg"
    assert engine.url.host == "db" and engine.url.database == "northstar"


def test_other_databases_are_refused_without_echoing_the_password() -> None:
    with pytest.raises(UnsupportedDatabaseError) as caught:
        normalize_url("mysql://admin:hunter2@db/northstar")
    assert "hunter2" not in str(caught.value)
    assert "SQLite or PostgreSQL" in str(caught.value)


def test_sqlite_file_gets_its_directory_foreign_keys_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "northstar.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert path.exists()
    engine.dispose()


def test_sqlite_in_memory_is_one_database_for_every_connection() -> None:
    engine = make_engine("sqlite://")
    upgrade_database(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_migrations_create_exactly_the_models(blank_engine: Engine) -> None:
    upgrade_database(blank_engine)
    with blank_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(context, metadata) == []


def test_upgrade_twice_is_harmless(blank_engine: Engine) -> None:
    upgrade_database(blank_engine)
    upgrade_database(blank_engine)
    assert current_revision(blank_engine) == head_revision()
    check_schema_current(blank_engine)


def test_upgrade_accepts_a_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'by-url.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_schema_check_names_the_command_when_there_is_no_schema(blank_engine: Engine) -> None:
    assert current_revision(blank_engine) is None
    with pytest.raises(SchemaOutOfDateError, match=r"^no schema: run `northstar db upgrade`$"):
        check_schema_current(blank_engine)


def test_schema_check_names_both_revisions_when_behind(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    current = current_revision(engine)
    monkeypatch.setattr(db, "head_revision", lambda: "9999")
    with pytest.raises(SchemaOutOfDateError) as caught:
        check_schema_current(engine)
    assert str(caught.value) == f"database schema is at revision {current}, the code needs 9999: run `northstar db upgrade`"


def test_schema_check_refuses_a_schema_from_a_newer_release(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00dcafe'"))
    with pytest.raises(SchemaOutOfDateError, match="f00dcafe.*does not know"):
        check_schema_current(engine)


def test_timestamps_come_back_aware_and_in_utc(engine: Engine) -> None:
    created = datetime(2026, 9, 7, 8, 30, tzinfo=timezone(timedelta(hours=2)))
    with session_scope(engine) as session:
        session.add(Contract(team_id="T1", name="c", created_at=created))
    with Session(engine) as session:
        row = session.exec(select(Contract)).one()
        assert row.created_at == created
        assert row.created_at.tzinfo is UTC
        # Comparison in SQL must see the same instant, whatever offset the bound value has.
        later = datetime(2026, 9, 7, 6, 31, tzinfo=UTC)
        assert session.exec(select(func.count()).select_from(Contract).where(Contract.created_at < later)).one() == 1


def test_naive_timestamps_are_refused(session: Session) -> None:
    session.add(Contract(team_id="T1", name="c", created_at=datetime(2026, 9, 7, 8, 30)))
    with pytest.raises(StatementError) as caught:
        session.flush()
    assert isinstance(caught.value.orig, InvalidValueError)


def test_session_scope_commits_or_rolls_back(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(Contract(team_id="T1", name="kept", created_at=datetime.now(UTC)))
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        session.add(Contract(team_id="T1", name="dropped", created_at=datetime.now(UTC)))
        session.flush()
        raise RuntimeError("boom")
    with Session(engine) as session:
        assert [c.name for c in session.exec(select(Contract))] == ["kept"]


def test_a_contract_version_cannot_be_changed(session: Session) -> None:
    now = datetime.now(UTC)
    contract = Contract(team_id="T1", name="c", created_at=now, latest_version=1)
    session.add(contract)
    session.flush()
    version = ContractVersion(
        contract_id=contract.id, team_id="T1", version=1, source_yaml="x", parsed={}, content_hash="h", author="U1", created_at=now
    )
    session.add(version)
    session.commit()
    version.source_yaml = "rewritten"
    session.add(version)
    with pytest.raises(ImmutableRecordError):
        session.flush()


def test_an_unreachable_database_is_reported_without_its_password() -> None:
    engine = make_engine("postgresql://northstar:s3cret@127.0.0.1:1/northstar")  # nothing listens on port 1
    with pytest.raises(DatabaseUnavailableError) as caught:
        check_schema_current(engine)
    assert "127.0.0.1:1" in str(caught.value) and "s3cret" not in str(caught.value)
    engine.dispose()


# --- pooled connections the server closed -------------------------------------------------------


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


@pytest.mark.postgres
def test_a_pooled_connection_the_server_ended_is_replaced_before_anyone_uses_it() -> None:
    engine = make_engine(POSTGRES_URL, connect_args={"application_name": "northstar-pool-test"})
    admin = make_engine(POSTGRES_URL)
    try:
        first = _backend_pid(engine)  # back in the pool, idle
        with admin.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and first in _backends_named(admin, "northstar-pool-test"):
            time.sleep(0.01)
        # No round trip is spent on a live connection, so this read is the first thing the pool
        # learns of the termination: it must get a new connection, not an error.
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()
        admin.dispose()


@pytest.mark.postgres
def test_a_connection_idle_past_the_limit_is_pinged_and_replaced_when_the_ping_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("storage.db.PING_AFTER_IDLE_SECONDS", 0.0)
    engine = make_engine(POSTGRES_URL)
    pings: list[object] = []

    def failing_ping(dbapi_connection):
        pings.append(dbapi_connection)
        raise engine.dialect.loaded_dbapi.OperationalError("no answer")

    try:
        first = _backend_pid(engine)
        monkeypatch.setattr(engine.dialect, "do_ping", failing_ping)
        time.sleep(0.01)
        second = _backend_pid(engine)
        assert len(pings) == 1 and second != first  # the stale one was pinged; the new one was not
    finally:
        engine.dispose()


def _backends_named(admin: Engine, application_name: str) -> set[int]:
    with admin.connect() as connection:
        rows = connection.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"), {"name": application_name})
        return {row.pid for row in rows}
