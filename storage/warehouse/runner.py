"""Run one metric query against a team's warehouse, read-only, bounded in time and rows.

Layers of defence, outermost first:

1. :func:`~storage.warehouse.guard.check_read_only_sql` rejects anything that is not a single
   ``SELECT``/``WITH`` statement before a connection is opened;
2. the statement runs inside a read-only transaction where the engine has one (PostgreSQL,
   Redshift, Trino…) and is always rolled back, so a user-defined function that writes from
   inside a ``SELECT`` is refused by the server; a DuckDB file is opened in read-only mode;
3. a statement timeout (PostgreSQL ``SET LOCAL statement_timeout``; DuckDB has none, so a timer
   thread interrupts the connection) and a row cap (at most ``row_cap + 1`` rows are fetched).

Driver errors are translated once, here, into :mod:`storage.warehouse.errors`; no message
carries the connection URL's password.
"""

from __future__ import annotations

import re
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError, StatementError

from storage.warehouse.errors import (
    QueryRejectedError,
    WarehouseConnectionError,
    WarehouseError,
    WarehouseNotConfiguredError,
    WarehousePermissionError,
    WarehouseQueryError,
    WarehouseResultError,
    WarehouseTimeoutError,
)
from storage.warehouse.guard import check_read_only_sql

__all__ = [
    "Warehouse",
    "connect_warehouse",
    "redact",
    "sqlglot_dialect",
    "warehouse_urls_from_env",
]

_ENV_PATTERN = re.compile(r"^NORTHSTAR_WAREHOUSE_([A-Za-z][A-Za-z0-9_]*)_URL$")

# SQLAlchemy backend name -> sqlglot dialect name, where they differ or are worth stating.
_SQLGLOT_DIALECTS = {
    "postgresql": "postgres",
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "redshift": "redshift",
    "redshift+psycopg2": "redshift",
    "trino": "trino",
    "presto": "presto",
    "sqlite": "sqlite",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mssql": "tsql",
    "oracle": "oracle",
    "databricks": "databricks",
    "clickhouse": "clickhouse",
    "awsathena": "athena",
}

# SQLSTATE classes and codes (PostgreSQL, Redshift and other ANSI-speaking drivers).
_TIMEOUT_STATES = {"57014"}  # query_canceled: statement_timeout or a cancel request
_PERMISSION_STATES = {"25006", "42501"}  # read_only_sql_transaction, insufficient_privilege
_CONNECTION_STATE_PREFIXES = ("08", "28", "3D", "57P")  # connection, authorization, unknown db, shutdown


def redact(url: str | URL) -> str:
    """``url`` with its password (in the authority or the query string) replaced by ``***``.

    Examples
    --------
    >>> redact("postgresql+psycopg://app:s3cret@db.internal:5432/analytics")
    'postgresql+psycopg://app:***@db.internal:5432/analytics'
    >>> redact("snowflake://app@acct/db?password=s3cret&warehouse=wh")
    'snowflake://app@acct/db?password=***&warehouse=wh'
    """
    text = url.render_as_string(hide_password=False) if isinstance(url, URL) else str(url)
    # Regexes rather than make_url: an unparseable URL must be redacted too, and it is the one
    # most likely to end up in an error message.
    text = re.sub(r"(://[^:/?#@\s]*:)[^@/\s]*@", r"\1***@", text)
    text = re.sub(r"(?i)([?&](?:password|passwd|pwd|secret|token|private_key_passphrase)=)[^&#\s]*", r"\1***", text)
    return text


def _password(url: str) -> str | None:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    secrets = [parsed.password] + [v for k, v in parsed.query.items() if k.lower() in {"password", "passwd", "pwd"}]
    found = [str(s if isinstance(s, str) else s[0]) for s in secrets if s]
    return found[0] if found else None


def sqlglot_dialect(url: str | URL) -> str:
    """The sqlglot dialect for a SQLAlchemy URL (``postgresql+psycopg://…`` -> ``postgres``)."""
    backend = make_url(url).get_backend_name()
    return _SQLGLOT_DIALECTS.get(backend, backend)


def warehouse_urls_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Warehouse URLs by name from ``NORTHSTAR_WAREHOUSE_<NAME>_URL`` variables (name lower-cased).

    Examples
    --------
    >>> warehouse_urls_from_env({"NORTHSTAR_WAREHOUSE_DEMO_URL": "duckdb:///demo.duckdb", "HOME": "/"})
    {'demo': 'duckdb:///demo.duckdb'}
    """
    urls: dict[str, str] = {}
    for key, value in environ.items():
        match = _ENV_PATTERN.match(key)
        if match and value.strip():
            urls[match.group(1).lower()] = value.strip()
    return urls


def connect_warehouse(name: str, url: str | None, *, statement_timeout_s: float = 30, row_cap: int = 100_000) -> Warehouse:
    """A :class:`Warehouse` for ``url`` under ``name``. Creates an engine; connects lazily.

    Raises :class:`WarehouseNotConfiguredError` when ``url`` is empty and
    :class:`WarehouseConnectionError` when it is not a URL SQLAlchemy can use.
    """
    if not url:
        raise WarehouseNotConfiguredError(
            f"no URL configured; set NORTHSTAR_WAREHOUSE_{name.upper()}_URL", warehouse=name
        )
    if statement_timeout_s <= 0:
        raise ValueError(f"statement_timeout_s must be positive, got {statement_timeout_s!r}")
    if row_cap < 1:
        raise ValueError(f"row_cap must be at least 1, got {row_cap!r}")
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise WarehouseConnectionError(f"{redact(url)} is not a database URL", warehouse=name) from None
    backend = parsed.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "duckdb":
        if _duckdb_is_file(parsed):
            connect_args["read_only"] = True
    elif backend == "postgresql" and parsed.get_driver_name() in {"psycopg", "psycopg2"}:
        # Fail fast on an unreachable host instead of the OS default of minutes.
        connect_args["connect_timeout"] = max(1, int(min(statement_timeout_s, 10)))
    try:
        with warnings.catch_warnings():
            # duckdb-engine warns on engine creation when the installed duckdb is newer than the
            # versions it was tested against; that is informational, not a fault of this query.
            warnings.filterwarnings("ignore", module="duckdb_engine")
            engine = sa.create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as exc:
        raise WarehouseConnectionError(
            f"no SQLAlchemy driver installed for {backend!r} ({type(exc).__name__})", warehouse=name
        ) from None
    return Warehouse(
        name=name,
        engine=engine,
        dialect=_SQLGLOT_DIALECTS.get(backend, backend),
        statement_timeout_s=float(statement_timeout_s),
        row_cap=int(row_cap),
        _secret=_password(url),
    )


def _duckdb_is_file(url: URL) -> bool:
    database = url.database or ""
    return bool(database) and database != ":memory:" and not database.startswith(("md:", "motherduck:"))


@dataclass
class Warehouse:
    """A named, read-only connection to one warehouse.

    Build with :func:`connect_warehouse`; pass to the push-down functions. ``dialect`` is the
    sqlglot dialect name used to check and generate SQL for this warehouse.
    """

    name: str
    engine: sa.Engine = field(repr=False)
    dialect: str
    statement_timeout_s: float = 30.0
    row_cap: int = 100_000
    _secret: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The connection URL with the password hidden."""
        return redact(self.engine.url)

    def dispose(self) -> None:
        """Close pooled connections (a DuckDB file stays locked while they are open)."""
        self.engine.dispose()

    def run(
        self,
        sql: str,
        *,
        params: Mapping[str, Any] | None = None,
        metric: str | None = None,
        row_cap: int | None = None,
        timeout_s: float | None = None,
    ) -> pd.DataFrame:
        """Run one read-only query and return its rows.

        ``:name`` placeholders in ``sql`` are bound from ``params`` by the driver, never
        formatted into the text. ``row_cap`` and ``timeout_s`` default to the warehouse's own.

        Raises
        ------
        QueryRejectedError
            The SQL is not a single read-only statement, or uses a parameter not in ``params``
            (nothing was executed).
        WarehouseTimeoutError, WarehousePermissionError, WarehouseQueryError,
        WarehouseConnectionError
            The warehouse refused or failed, translated from the driver's error.
        WarehouseResultError
            More than ``row_cap`` rows came back.
        """
        params = dict(params or {})
        cap = self.row_cap if row_cap is None else int(row_cap)
        timeout = self.statement_timeout_s if timeout_s is None else float(timeout_s)
        check = check_read_only_sql(sql, dialect=self.dialect)
        problems = list(check.problems)
        unbound = sorted(check.parameters - set(params))
        if unbound:
            problems.append("parameter(s) " + ", ".join(f":{p}" for p in unbound) + " are used but not bound")
        if problems:
            raise QueryRejectedError("; ".join(problems), warehouse=self.name, metric=metric)
        statement = sa.text(sql.strip().rstrip(";"))
        # Bind only what the statement uses: some drivers reject unused parameters.
        bound = {k: v for k, v in params.items() if k in check.parameters}
        try:
            with self.engine.connect() as connection:
                try:
                    return self._execute(connection, statement, bound, cap=cap, timeout=timeout, metric=metric)
                finally:
                    # Whatever the query did, none of it is kept.
                    if connection.in_transaction():
                        connection.rollback()
        except WarehouseError:
            raise
        except SQLAlchemyError as exc:
            raise self._translate(exc, metric=metric, timed_out=False) from exc

    # ---- engine-specific execution ---------------------------------------------------------
    def _execute(self, connection: sa.Connection, statement, params, *, cap: int, timeout: float, metric: str | None) -> pd.DataFrame:
        backend = connection.dialect.name
        if backend == "postgresql":
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            # SET cannot take bound parameters; the value is an integer we computed.
            connection.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000))}")
            return self._fetch(connection, statement, params, cap=cap, metric=metric, timer=None)
        if backend == "duckdb":
            raw = connection.connection.dbapi_connection
            timer = _Interrupter(timeout, raw.interrupt)
            return self._fetch(connection, statement, params, cap=cap, metric=metric, timer=timer)
        try:
            with connection.begin_nested():
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        except SQLAlchemyError:
            # Not every engine has read-only transactions (or savepoints); the guard and the
            # warehouse user's grants remain the defence there.
            if connection.in_transaction():
                connection.rollback()
        return self._fetch(connection, statement, params, cap=cap, metric=metric, timer=None)

    def _fetch(self, connection, statement, params, *, cap: int, metric: str | None, timer: _Interrupter | None) -> pd.DataFrame:
        started = time.monotonic()
        try:
            if timer is not None:
                timer.start()
            # A server-side cursor where the driver has one, so a runaway result is not
            # materialised in this process before the cap is checked.
            result = connection.execution_options(stream_results=True, max_row_buffer=min(cap + 1, 10_000)).execute(statement, params)
            columns = list(result.keys())
            rows = result.fetchmany(cap + 1)
            result.close()
        except SQLAlchemyError as exc:
            timed_out = timer is not None and timer.fired
            raise self._translate(exc, metric=metric, timed_out=timed_out, elapsed=time.monotonic() - started, timeout=timer.timeout if timer else None) from exc
        finally:
            if timer is not None:
                timer.cancel()
        if len(rows) > cap:
            raise WarehouseResultError(
                f"the query returned more than the row cap of {cap:,} rows; aggregate in SQL or narrow the window",
                warehouse=self.name,
                metric=metric,
            )
        return pd.DataFrame.from_records([tuple(r) for r in rows], columns=columns)

    # ---- error translation -----------------------------------------------------------------
    def _clean(self, text: str) -> str:
        first = next((line.strip() for line in str(text).splitlines() if line.strip()), "")
        if self._secret:
            first = first.replace(self._secret, "***")
        return redact(first)[:500]

    def _translate(
        self, exc: SQLAlchemyError, *, metric: str | None, timed_out: bool, elapsed: float | None = None, timeout: float | None = None
    ) -> WarehouseError:
        orig = getattr(exc, "orig", None)
        detail = self._clean(str(orig) if orig is not None else str(exc))
        kind = type(orig).__name__ if orig is not None else type(exc).__name__
        state = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
        where = {"warehouse": self.name, "metric": metric}
        if timed_out or state in _TIMEOUT_STATES or kind in {"InterruptException", "QueryCanceled"}:
            took = f" after {elapsed:.1f} s" if elapsed is not None else ""
            return WarehouseTimeoutError(f"the query was cancelled{took}: it ran past the {timeout or self.statement_timeout_s:g} s timeout ({detail})", **where)
        if (
            state.startswith(_CONNECTION_STATE_PREFIXES)
            or kind in {"IOException", "ConnectionException", "ConnectionTimeout"}
            or isinstance(exc, DBAPIError) and exc.connection_invalidated
            or (isinstance(exc, sa.exc.OperationalError) and not state)
        ):
            return WarehouseConnectionError(f"could not connect to the warehouse: {detail}", **where)
        lowered = detail.lower()
        if (
            state in _PERMISSION_STATES
            or kind in {"PermissionException", "InsufficientPrivilege", "ReadOnlySqlTransaction"}
            or "read-only" in lowered
            or "read only" in lowered
            or "permission denied" in lowered
        ):
            return WarehousePermissionError(f"the warehouse refused the query: {detail}", **where)
        if isinstance(exc, StatementError) and orig is None:
            return WarehouseQueryError(f"the query could not be sent: {detail}", **where)
        return WarehouseQueryError(f"the warehouse rejected the query: {detail}", **where)


class _Interrupter:
    """Call ``interrupt`` once if the statement is still running after ``timeout`` seconds."""

    def __init__(self, timeout: float, interrupt) -> None:
        self.fired = False
        self.timeout = timeout
        self._interrupt = interrupt
        self._timer = threading.Timer(timeout, self._fire)
        self._timer.daemon = True
        self._lock = threading.Lock()
        self._done = False

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            self._interrupt()

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        # The lock makes "finished" and "interrupted" mutually exclusive, so a late interrupt
        # cannot land on the next statement of a pooled connection.
        with self._lock:
            self._done = True
        self._timer.cancel()
