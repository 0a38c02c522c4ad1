"""Accept only a single read-only SELECT/WITH statement, judged by a real SQL parser.

A regex cannot tell ``SELECT 'DROP TABLE x'`` from ``SELECT 1; DROP TABLE x``, nor see a
``DELETE`` hidden in a CTE; sqlglot's syntax tree can. The guard is the first line of defence;
the runner also opens read-only transactions where the engine supports them, because a
user-defined function could still write from inside a SELECT.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

# Nodes that change data, schema, session state or the file system.
_WRITE_NODES: tuple[type[exp.Expression], ...] = tuple(
    node
    for node in (
        getattr(exp, name, None)
        for name in (
            "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "AlterTable",
            "TruncateTable", "Command", "Copy", "Into", "Lock", "Grant", "Revoke", "Set",
            "Transaction", "Commit", "Rollback", "Use", "Attach", "Detach", "Install", "Load",
            "Pragma", "Analyze", "LoadData", "Export", "Refresh",
        )
    )
    if isinstance(node, type)
)

# Functions that write, sleep the server, reach outside it or change session state.
_FORBIDDEN_FUNCTIONS = frozenset(
    {
        "nextval", "setval", "set_config", "pg_terminate_backend", "pg_cancel_backend",
        "pg_reload_conf", "pg_rotate_logfile", "pg_advisory_lock", "pg_advisory_xact_lock",
        "pg_try_advisory_lock", "lo_import", "lo_export", "lo_unlink", "lo_create",
        "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_file_write",
        "dblink", "dblink_exec", "dblink_connect", "pg_logical_emit_message", "txid_current",
        "pg_switch_wal", "pg_create_restore_point", "query_to_xml", "copy_to", "system",
        "write_csv", "write_parquet", "shell", "pg_sleep_for", "pg_sleep_until",
    }
)

_READ_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except)


@dataclass(frozen=True)
class SqlCheck:
    """The verdict on one query: problems in plain words, and the named parameters it uses."""

    problems: tuple[str, ...]
    parameters: frozenset[str]
    tree: exp.Expression | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _function_name(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return None


def check_read_only_sql(sql: str, *, dialect: str | None = None) -> SqlCheck:
    """Check that ``sql`` is one read-only ``SELECT``/``WITH`` statement.

    Returns every problem found rather than the first, so a linter can report them together.
    """
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (ParseError, TokenError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return SqlCheck(problems=(f"the SQL does not parse: {first}",), parameters=frozenset())
    if not statements:
        return SqlCheck(problems=("the SQL is empty",), parameters=frozenset())
    problems: list[str] = []
    if len(statements) > 1:
        kinds = ", ".join(type(s).__name__.upper() for s in statements)
        problems.append(f"expected a single statement, found {len(statements)} ({kinds}); remove the extra ';' statements")
    tree = statements[0]
    if not isinstance(tree, _READ_ROOTS):
        first_word = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else type(tree).__name__.upper()
        problems.append(f"only SELECT or WITH … SELECT is allowed, found {first_word}")
    for statement in statements:
        for node in statement.walk():
            if isinstance(node, _WRITE_NODES) and node is not statement:
                where = "inside a CTE" if node.find_ancestor(exp.CTE) else "inside the query"
                label = "SELECT … INTO" if isinstance(node, exp.Into) else "FOR UPDATE/SHARE" if isinstance(node, exp.Lock) else type(node).__name__.upper()
                problems.append(f"{label} {where} would change the warehouse; metric queries must only read")
            name = _function_name(node)
            if name in _FORBIDDEN_FUNCTIONS:
                problems.append(f"function {name}() is not allowed in a metric query: it writes, blocks or reaches outside the warehouse")
    parameters = frozenset(
        str(node.this) for node in tree.find_all(exp.Placeholder) if node.this
    )
    return SqlCheck(problems=tuple(dict.fromkeys(problems)), parameters=parameters, tree=tree)
