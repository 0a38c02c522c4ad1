"""The read-only runner against real DuckDB and PostgreSQL warehouses.

Every refusal test checks the warehouse afterwards: refusing with the right error is not enough
if the write happened anyway.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime

import duckdb
import pytest
import sqlalchemy as sa

from storage.warehouse.errors import (
    QueryRejectedError,
    WarehouseConnectionError,
    WarehouseNotConfiguredError,
    WarehousePermissionError,
    WarehouseQueryError,
    WarehouseResultError,
    WarehouseTimeoutError,
)
from storage.warehouse.runner import connect_warehouse, redact, sqlglot_dialect, warehouse_urls_from_env

# Read at import time: an autouse fixture may clear the environment before tests run.
POSTGRES_URL = os.environ.get("NORTHSTAR_TEST_POSTGRES_URL")
needs_postgres = pytest.mark.skipif(not POSTGRES_URL, reason="set NORTHSTAR_TEST_POSTGRES_URL to run against PostgreSQL")

WINDOW = {"window_start": datetime(2026, 9, 1), "window_end": datetime(2026, 9, 8)}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def duckdb_warehouse(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as seed:
        seed.execute("CREATE TABLE events (id INTEGER, note VARCHAR, ts TIMESTAMP)")
        seed.execute(
            "INSERT INTO events SELECT range, 'row ' || range, TIMESTAMP '2026-09-01' + range * INTERVAL 1 HOUR FROM range(500)"
        )
        seed.execute("CREATE SEQUENCE ids")
    warehouse = connect_warehouse("lake", f"duckdb:///{path}", statement_timeout_s=1, row_cap=100)
    yield warehouse
    warehouse.dispose()


@pytest.fixture
def postgres_schema():
    if not POSTGRES_URL:
        pytest.skip("set NORTHSTAR_TEST_POSTGRES_URL to run against PostgreSQL")
    schema = f"ns_runner_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
        c.exec_driver_sql(f"CREATE TABLE {schema}.events (id INTEGER, note TEXT, ts TIMESTAMP)")
        c.exec_driver_sql(
            f"INSERT INTO {schema}.events SELECT g, 'row ' || g, TIMESTAMP '2026-09-01' + g * INTERVAL '1 hour' "
            "FROM generate_series(0, 499) AS g"
        )
        c.exec_driver_sql(f"CREATE SEQUENCE {schema}.ids")
        c.exec_driver_sql(
            f"CREATE FUNCTION {schema}.sneaky() RETURNS integer LANGUAGE plpgsql AS $$ "
            f"BEGIN INSERT INTO {schema}.events VALUES (-1, 'written', now()); RETURN 1; END $$"
        )
    try:
        yield schema, admin
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def postgres_warehouse(postgres_schema):
    schema, _ = postgres_schema
    separator = "&" if "?" in POSTGRES_URL else "?"
    warehouse = connect_warehouse(
        "pg", f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}", statement_timeout_s=1, row_cap=100
    )
    yield warehouse
    warehouse.dispose()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=[pytest.mark.postgres, needs_postgres])])
def warehouse(request):
    return request.getfixturevalue(f"{request.param}_warehouse")


def _state(warehouse) -> tuple:
    """Tables and row count, read through the runner itself."""
    count = warehouse.run("SELECT COUNT(*) AS n FROM events", params={}).iloc[0, 0]
    if warehouse.dialect == "postgres":
        tables = warehouse.run(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1", params={}
        )
    else:
        tables = warehouse.run("SELECT table_name FROM information_schema.tables ORDER BY 1", params={})
    return int(count), tuple(tables["table_name"])


# --------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    "url, expected",
    [
        ("postgresql+psycopg://app:s3cret@db:5432/x", "postgresql+psycopg://app:***@db:5432/x"),
        ("postgresql://app:p%40ss@db/x", "postgresql://app:***@db/x"),
        ("snowflake://app@acct/db?warehouse=wh&password=s3cret", "snowflake://app@acct/db?warehouse=wh&password=***"),
        ("duckdb:///tmp/x.duckdb", "duckdb:///tmp/x.duckdb"),
    ],
)
def test_redact_hides_passwords(url, expected):
    assert redact(url) == expected
    assert "s3cret" not in redact(url) and "p%40ss" not in redact(url)


def test_redact_accepts_sqlalchemy_urls():
    assert redact(sa.engine.make_url("postgresql://u:hunter2@h/d")) == "postgresql://u:***@h/d"


def test_warehouse_urls_from_env_lowercases_names_and_ignores_others():
    env = {
        "NORTHSTAR_WAREHOUSE_DEMO_URL": "duckdb:///demo.duckdb",
        "NORTHSTAR_WAREHOUSE_Fraud_Lake_URL": " postgresql://u@h/d ",
        "NORTHSTAR_WAREHOUSE__URL": "ignored",
        "NORTHSTAR_WAREHOUSE_EMPTY_URL": "",
        "DATABASE_URL": "sqlite://",
    }
    assert warehouse_urls_from_env(env) == {"demo": "duckdb:///demo.duckdb", "fraud_lake": "postgresql://u@h/d"}


@pytest.mark.parametrize(
    "url, dialect",
    [
        ("postgresql+psycopg://u@h/d", "postgres"),
        ("duckdb:///x.duckdb", "duckdb"),
        ("snowflake://u@acct/db", "snowflake"),
        ("bigquery://project/dataset", "bigquery"),
        ("redshift+psycopg2://u@h/d", "redshift"),
        ("trino://u@h:8080/catalog", "trino"),
        ("sqlite:///x.db", "sqlite"),
        ("mssql+pyodbc://u@dsn", "tsql"),
    ],
)
def test_sqlglot_dialect_from_url(url, dialect):
    assert sqlglot_dialect(url) == dialect


def test_missing_url_is_not_configured():
    with pytest.raises(WarehouseNotConfiguredError, match="NORTHSTAR_WAREHOUSE_SALES_URL"):
        connect_warehouse("sales", None)


def test_warehouse_dialect_and_repr_hide_nothing_secret(tmp_path):
    warehouse = connect_warehouse("w", "postgresql+psycopg://app:hunter2@127.0.0.1:1/x")
    try:
        assert warehouse.dialect == "postgres"
        assert "hunter2" not in repr(warehouse) and "hunter2" not in warehouse.url
    finally:
        warehouse.dispose()


# --------------------------------------------------------------------------- both engines


def test_runs_a_select_with_bound_window(warehouse):
    frame = warehouse.run(
        "SELECT COUNT(*) AS n FROM events WHERE ts >= :window_start AND ts < :window_end", params=WINDOW
    )
    assert list(frame.columns) == ["n"]
    assert int(frame.iloc[0, 0]) == 7 * 24


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE stolen AS SELECT * FROM events",
        "DROP TABLE events",
        "DELETE FROM events",
        "UPDATE events SET note = 'x'",
        "INSERT INTO events VALUES (1, 'x', NULL)",
        "SELECT 1 AS value; DROP TABLE events",
        "WITH gone AS (DELETE FROM events RETURNING id) SELECT COUNT(*) FROM gone",
        "SELECT nextval('ids') AS value",
        "SELECT * INTO stolen FROM events",
    ],
    ids=["ddl-create", "ddl-drop", "delete", "update", "insert", "stacked-drop", "dml-in-cte", "nextval", "select-into"],
)
def test_writes_are_rejected_before_running(warehouse, sql):
    before = _state(warehouse)
    with pytest.raises(QueryRejectedError) as caught:
        warehouse.run(sql, params={}, metric="m")
    assert caught.value.metric == "m" and caught.value.warehouse == warehouse.name
    assert _state(warehouse) == before


def test_window_values_are_bound_not_formatted(warehouse):
    before = _state(warehouse)
    hostile = "x' OR '1'='1"
    frame = warehouse.run("SELECT COUNT(*) AS n FROM events WHERE note = :window_start", params={"window_start": hostile})
    # Formatted into the text, the quote would close the literal and match every row.
    assert int(frame.iloc[0, 0]) == 0
    frame = warehouse.run(
        "SELECT COUNT(*) AS n FROM events WHERE note = :window_start OR note = :window_end",
        params={"window_start": "'; DROP TABLE events; --", "window_end": "row 3"},
    )
    assert int(frame.iloc[0, 0]) == 1
    assert _state(warehouse) == before


def test_unbound_parameter_is_rejected(warehouse):
    with pytest.raises(QueryRejectedError, match=":window_end"):
        warehouse.run("SELECT id FROM events WHERE ts < :window_end", params={})


def test_row_cap(warehouse):
    assert len(warehouse.run("SELECT id FROM events LIMIT 100", params={})) == 100
    with pytest.raises(WarehouseResultError, match="row cap of 100"):
        warehouse.run("SELECT id FROM events", params={})


def test_unknown_column_is_a_query_error(warehouse):
    with pytest.raises(WarehouseQueryError, match="nope"):
        warehouse.run("SELECT nope FROM events", params={})


def test_duckdb_timeout_interrupts_and_connection_recovers(duckdb_warehouse):
    started = time.monotonic()
    with pytest.raises(WarehouseTimeoutError, match="1 s timeout"):
        duckdb_warehouse.run(
            "SELECT COUNT(*) AS n FROM range(1000000000) AS a, range(1000000000) AS b WHERE a.range + b.range = 7", params={}
        )
    assert time.monotonic() - started < 2.0
    # The pooled connection is reused: a late interrupt must not hit the next statement.
    assert int(duckdb_warehouse.run("SELECT COUNT(*) AS n FROM events", params={}).iloc[0, 0]) == 500


def test_duckdb_file_is_opened_read_only(duckdb_warehouse):
    # Underneath the guard: even a write sent straight to the engine is refused.
    with duckdb_warehouse.engine.connect() as connection:
        with pytest.raises(sa.exc.DBAPIError, match="read-only"):
            connection.exec_driver_sql("DELETE FROM events")
    assert _state(duckdb_warehouse)[0] == 500


def test_missing_duckdb_file_is_a_connection_error(tmp_path):
    warehouse = connect_warehouse("lake", f"duckdb:///{tmp_path / 'missing.duckdb'}")
    try:
        with pytest.raises(WarehouseConnectionError):
            warehouse.run("SELECT 1 AS value", params={})
    finally:
        warehouse.dispose()


# --------------------------------------------------------------------------- PostgreSQL only


@pytest.mark.postgres
def test_postgres_timeout_cancels_the_statement(postgres_warehouse):
    started = time.monotonic()
    with pytest.raises(WarehouseTimeoutError, match="timeout"):
        postgres_warehouse.run("SELECT pg_sleep(5) AS value", params={}, metric="slow")
    assert time.monotonic() - started < 2.0


@pytest.mark.postgres
def test_postgres_function_that_writes_is_refused_by_read_only_transaction(postgres_warehouse):
    before = _state(postgres_warehouse)
    # The guard cannot see inside a user-defined function; the read-only transaction can.
    with pytest.raises(WarehousePermissionError, match="read-only transaction"):
        postgres_warehouse.run("SELECT sneaky() AS value", params={}, metric="m")
    assert _state(postgres_warehouse) == before


@pytest.mark.postgres
def test_postgres_sequence_is_untouched(postgres_warehouse, postgres_schema):
    schema, admin = postgres_schema
    with pytest.raises(QueryRejectedError, match="nextval"):
        postgres_warehouse.run("SELECT nextval('ids') AS value", params={})
    with admin.connect() as c:
        assert c.exec_driver_sql(f"SELECT is_called FROM {schema}.ids").scalar() is False


@pytest.mark.postgres
def test_postgres_unreachable_port_does_not_leak_password():
    url = sa.engine.make_url(POSTGRES_URL).set(password="hunter2-secret", port=1).render_as_string(hide_password=False)
    warehouse = connect_warehouse("pg", url, statement_timeout_s=2)
    try:
        with pytest.raises(WarehouseConnectionError) as caught:
            warehouse.run("SELECT 1 AS value", params={})
    finally:
        warehouse.dispose()
    assert "hunter2-secret" not in str(caught.value)
    assert "hunter2-secret" not in repr(caught.value.args)


@pytest.mark.postgres
def test_postgres_unknown_role_does_not_leak_password():
    url = (
        sa.engine.make_url(POSTGRES_URL)
        .set(username="nobody_" + uuid.uuid4().hex[:6], password="hunter2-secret")
        .render_as_string(hide_password=False)
    )
    warehouse = connect_warehouse("pg", url, statement_timeout_s=2)
    try:
        with pytest.raises(WarehouseConnectionError) as caught:
            warehouse.run("SELECT 1 AS value", params={})
    finally:
        warehouse.dispose()
    assert "hunter2-secret" not in str(caught.value)


def test_unknown_host_does_not_leak_password():
    warehouse = connect_warehouse("pg", "postgresql+psycopg://app:hunter2-secret@northstar-no-such-host.invalid/db", statement_timeout_s=2)
    try:
        with pytest.raises(WarehouseConnectionError) as caught:
            warehouse.run("SELECT 1 AS value", params={})
    finally:
        warehouse.dispose()
    assert "hunter2-secret" not in str(caught.value)
