"""Fixtures shared by every test: a clean environment and a fresh bot database per test.

``engine`` / ``session`` run each test once on SQLite and, when NORTHSTAR_TEST_POSTGRES_URL is
set, once more on PostgreSQL in a schema of its own::

    def test_something(session):
        repository.sync_contract(session=session, team_id="T1", ...)

    def test_two_transactions(engine):
        with Session(engine) as first, Session(engine) as second: ...
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from storage.db import make_engine, upgrade_database

# Read before the autouse fixture below clears the environment of every test.
POSTGRES_URL = os.environ.get("NORTHSTAR_TEST_POSTGRES_URL")

_CLEARED = re.compile(r"^(NORTHSTAR_|SLACK_)|^DATABASE_URL$")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see none of the developer's tokens, database or warehouse settings."""
    for name in list(os.environ):
        if _CLEARED.match(name):
            monkeypatch.delenv(name)


def skip_without_postgres() -> None:
    reason = "PostgreSQL tests need NORTHSTAR_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1/test)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + "; CI must run them")  # a skipped backend would pass CI untested
    pytest.skip(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    # A test marked `postgres` needs the server even when it takes no database fixture.
    if item.get_closest_marker("postgres") is not None and not POSTGRES_URL:
        skip_without_postgres()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def blank_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database (no schema): SQLite in tmp_path, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'northstar.db'}")
        yield engine
        engine.dispose()
        return
    if not POSTGRES_URL:
        skip_without_postgres()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(POSTGRES_URL, connect_args={"options": f"-c search_path={schema}"})
    try:
        yield engine
    finally:
        # Release pooled connections first: DROP SCHEMA waits on their locks.
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(blank_engine: Engine) -> Engine:
    """An engine on a fresh database migrated to the latest schema."""
    upgrade_database(blank_engine)
    return blank_engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the fresh database; the test commits when it needs other sessions to see rows."""
    with Session(engine, expire_on_commit=False) as session:
        yield session
