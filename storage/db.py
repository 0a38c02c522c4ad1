"""Engines, sessions and the schema revision of the bot's own database.

SQLite is the embedded default, PostgreSQL the choice for several replicas. Nothing here runs at
import time: the process builds one engine from its settings with :func:`make_engine` and passes
it (or sessions made from it) to whatever needs the database.
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from storage.errors import DatabaseUnavailableError, SchemaOutOfDateError, UnsupportedDatabaseError

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
UPGRADE_COMMAND = "northstar db upgrade"

# A pooled PostgreSQL connection idle for longer than this is pinged before use; one used more
# recently is only checked for a close the server announced (see _drop_dead_connections).
PING_AFTER_IDLE_SECONDS = 30.0

# Long enough to ride out another thread's short write transaction, short enough that a stuck
# writer surfaces as an error rather than a hung process.
SQLITE_BUSY_TIMEOUT_SECONDS = 30


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (what every timestamp column stores)."""
    return datetime.now(UTC)


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL, choosing psycopg (v3) for PostgreSQL whatever spelling is used.

    ``postgres://`` (Heroku and friends) and driverless ``postgresql://`` would otherwise pick
    psycopg2, which is not installed.
    """
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    if text.startswith("postgres://"):
        text = "postgresql://" + text.removeprefix("postgres://")
    try:
        parsed = make_url(text)
    except ArgumentError as exc:
        raise UnsupportedDatabaseError(f"cannot parse database URL {_redact(text)!r}: expected sqlite:///path or postgresql://…") from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise UnsupportedDatabaseError(
            f"database URL {parsed.render_as_string(hide_password=True)!r}: Northstar runs on SQLite or PostgreSQL "
            "(sqlite:///path/northstar.db or postgresql://user@host/db)"
        )
    return parsed


def make_engine(url: str | URL, *, connect_args: Mapping[str, Any] | None = None, echo: bool = False) -> Engine:
    """Build the engine for the bot's database.

    SQLite gets foreign keys, WAL (readers do not block the writer) and ``BEGIN IMMEDIATE``
    transactions; PostgreSQL gets psycopg, and pooled connections the server has closed are
    replaced before use. ``connect_args`` are passed to the driver (e.g.
    ``{"options": "-c search_path=tenant"}`` on PostgreSQL).
    """
    parsed = normalize_url(url)
    args = dict(connect_args or {})
    if parsed.get_backend_name() == "sqlite":
        return _make_sqlite_engine(parsed, args, echo=echo)
    engine = create_engine(parsed, connect_args=args, echo=echo)
    _drop_dead_connections(engine)
    return engine


def _drop_dead_connections(engine: Engine) -> None:
    """Replace a pooled connection the server has closed before anyone uses it.

    SQLAlchemy's ``pool_pre_ping`` pays a round trip on every checkout, which on the listeners'
    hot path was a third of each read. A server that shuts down or restarts (``pg_ctl stop``, a
    crash of another backend, a failover that ends sessions) tells its clients before closing
    them, so a connection it has closed has data waiting: that costs one poll to see. A
    connection idle for a long time may instead have been cut silently by something in between
    (a firewall, a proxy), so it still gets the full ping. Raising ``DisconnectionError`` here
    makes the pool discard the connection and check out another.
    """
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None:
            return  # just connected
        if _readable_while_idle(dbapi_connection):
            raise DisconnectionError("the database server closed this connection")
        if time.monotonic() - idle_since > PING_AFTER_IDLE_SECONDS:
            try:
                engine.dialect.do_ping(dbapi_connection)
            except engine.dialect.loaded_dbapi.Error as exc:
                raise DisconnectionError("the database server did not answer a ping") from exc


def _readable_while_idle(dbapi_connection: Any) -> bool:
    """Whether an idle connection has something to read: a closed socket, or the server's
    goodbye (an idle session is sent nothing else unless it LISTENs, which the bot never does)."""
    if dbapi_connection.closed:
        return True
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except Exception:  # psycopg raises its OperationalError for a lost connection: dead either way
        return True


def _make_sqlite_engine(url: URL, connect_args: dict[str, Any], *, echo: bool) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    # The scheduler, the outbox worker and the listeners share the engine from several threads.
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_SECONDS)
    options: dict[str, Any] = {}
    if in_memory:
        # Every pooled connection to :memory: would otherwise be a different, empty database.
        options["poolclass"] = StaticPool
    engine = create_engine(url, connect_args=connect_args, echo=echo, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin: the module's
        # own handling defers BEGIN and breaks SAVEPOINT, which the repositories rely on.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Take the write lock up front: a deferred transaction that reads and then writes fails
        # with "database is locked" instead of waiting when another thread wrote in between.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def database_unreachable(error: BaseException) -> bool:
    """Whether ``error`` means the database could not be reached rather than refused a statement.

    PEP 249's OperationalError covers what goes wrong with the database itself, not the query:
    a refused or cut connection, a server shutting down or restarting, a locked SQLite file.
    Nothing but trying again later helps, so callers say exactly that instead of reporting a bug.
    """
    if isinstance(error, DatabaseUnavailableError):
        return True
    return isinstance(error, OperationalError) or (isinstance(error, DBAPIError) and error.connection_invalidated)


#: What a repository read runs on: a session, or a bare connection from :func:`read_scope`.
Reader = Session | Connection


@contextmanager
def read_scope(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only.

    The listeners read on every request, and for a read a Session's identity map and unit of
    work cost several times the query itself; repository reads written in Core (prebuilt
    statements with bound parameters, compiled once per process) take either. On PostgreSQL the
    connection runs without a transaction: each statement sees what was committed when it
    started (as under the default READ COMMITTED), and the BEGIN and ROLLBACK round trips that
    would wrap every read are saved, for the bot and for the database server.
    """
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Set on the driver's connection (no round trip) and undone when it goes back to the pool.
            connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises.

    Rows stay readable after the commit (``expire_on_commit=False``), so a caller may hand them
    to a Block Kit builder once the transaction is over.
    """
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def insert_unless_duplicate(session: Session, row: Any) -> bool:
    """Insert ``row`` inside a SAVEPOINT; return False if a unique constraint already holds it.

    The savepoint keeps the surrounding transaction usable after the violation (PostgreSQL
    aborts the whole transaction otherwise). Under a race the loser's INSERT waits for the
    winner's commit and then fails, so exactly one caller gets True. Callers validate values and
    parents first: any IntegrityError here is read as "already there".
    """
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


# --- schema revision ------------------------------------------------------------------------


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic configuration pointing at the packaged migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        rendered = normalize_url(url).render_as_string(hide_password=False)
        # ConfigParser treats % as interpolation; passwords may contain it.
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The schema revision this code needs."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise SchemaOutOfDateError(f"the migrations have {len(heads)} heads ({', '.join(heads)}); merge them into one")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has no Northstar schema."""
    try:
        with engine.connect() as connection:
            heads = MigrationContext.configure(connection).get_current_heads()
    except OperationalError as exc:
        raise DatabaseUnavailableError(f"cannot reach the database at {_describe(engine)}: {exc.orig}") from exc
    return heads[0] if heads else None


def check_schema_current(engine: Engine) -> None:
    """Refuse to run against a schema older (or newer) than this code.

    Raises :class:`SchemaOutOfDateError` naming both revisions and the command that fixes it.
    """
    current = current_revision(engine)
    needed = head_revision()
    if current == needed:
        return
    if current is None:
        raise SchemaOutOfDateError(f"no schema: run `{UPGRADE_COMMAND}`")
    if not _is_known(current):
        raise SchemaOutOfDateError(
            f"database schema is at revision {current}, which this version of Northstar does not know "
            f"(it needs {needed}): the database was upgraded by a newer release; deploy that release"
        )
    raise SchemaOutOfDateError(f"database schema is at revision {current}, the code needs {needed}: run `{UPGRADE_COMMAND}`")


def upgrade_database(engine_or_url: Engine | str | URL, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (the latest by default); safe to run on a current schema."""
    if isinstance(engine_or_url, Engine):
        _upgrade(engine_or_url, revision)
        return
    engine = make_engine(engine_or_url)
    try:
        _upgrade(engine, revision)
    finally:
        engine.dispose()


def _upgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    try:
        with engine.begin() as connection:
            # env.py runs the migrations on this connection, so they see the engine's own
            # settings (SQLite pragmas, a PostgreSQL search_path).
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except OperationalError as exc:
        raise DatabaseUnavailableError(f"cannot upgrade the database at {_describe(engine)}: {exc.orig}") from exc
    logger.info("database at %s is at schema revision %s", _describe(engine), revision)


def _is_known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except Exception:  # alembic raises several unrelated types for an unknown revision id
        return False


def _describe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _redact(text: str) -> str:
    # Never echo a password back from an unparseable URL.
    head, sep, tail = text.partition("@")
    if not sep:
        return text
    scheme, _, credentials = head.rpartition("//")
    user = credentials.split(":", 1)[0]
    return f"{scheme}//{user}:***@{tail}" if scheme else f"{user}:***@{tail}"
