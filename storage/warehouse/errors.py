"""Errors raised by the warehouse connectors.

Driver errors are translated once, at the boundary, into this tree; messages name the warehouse
and the metric and never contain credentials::

    NorthstarError
    └── WarehouseError                      a metric could not be read from a warehouse
        ├── QueryRejectedError              the SQL is not a single read-only SELECT/WITH
        ├── WarehouseNotConfiguredError     no NORTHSTAR_WAREHOUSE_<NAME>_URL for that name
        ├── WarehouseConnectionError        the warehouse could not be reached
        ├── WarehousePermissionError        the warehouse refused (permissions, read-only)
        ├── WarehouseQueryError             the warehouse rejected the SQL (syntax, missing column)
        ├── WarehouseTimeoutError           the statement ran past the timeout and was cancelled
        └── WarehouseResultError            the result is not what the metric's kind needs
"""

from __future__ import annotations

from metrics.errors import NorthstarError


class WarehouseError(NorthstarError):
    """A metric could not be read from a warehouse."""

    def __init__(self, message: str, *, warehouse: str | None = None, metric: str | None = None) -> None:
        self.warehouse = warehouse
        self.metric = metric
        where = " ".join(part for part in (f"warehouse {warehouse!r}" if warehouse else "", f"metric {metric!r}" if metric else "") if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.reason = message


class QueryRejectedError(WarehouseError):
    """The SQL is not a single read-only SELECT/WITH statement."""


class WarehouseNotConfiguredError(WarehouseError):
    """No connection URL is configured under that warehouse name."""


class WarehouseConnectionError(WarehouseError):
    """The warehouse could not be reached."""


class WarehousePermissionError(WarehouseError):
    """The warehouse refused the query (permissions or a read-only transaction)."""


class WarehouseQueryError(WarehouseError):
    """The warehouse rejected the SQL (syntax, unknown column, type error)."""


class WarehouseTimeoutError(WarehouseError):
    """The statement ran past the timeout and was cancelled."""


class WarehouseResultError(WarehouseError):
    """The query's result does not have the columns or shape the metric's kind needs."""
