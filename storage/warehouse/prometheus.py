"""Efficiency metrics (latency, cost per inference) read from Prometheus' HTTP API.

One instant query per pull (``GET /api/v1/query?query=…&time=…``); the result must be a single
number: a scalar, or a vector with exactly one sample. Failures are translated into the same
:mod:`storage.warehouse.errors` tree as SQL warehouses, so callers handle one family of errors.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from urllib.parse import urljoin

import httpx

from storage.warehouse.errors import (
    WarehouseConnectionError,
    WarehousePermissionError,
    WarehouseQueryError,
    WarehouseResultError,
    WarehouseTimeoutError,
)
from storage.warehouse.runner import redact

__all__ = ["prometheus_instant_query"]


def prometheus_instant_query(
    base_url: str,
    promql: str,
    *,
    at: datetime,
    client: httpx.Client | None = None,
    timeout: float = 10,
    metric: str | None = None,
) -> float:
    """Evaluate ``promql`` at ``at`` and return its single value.

    Parameters
    ----------
    base_url : str
        Prometheus (or a compatible API such as Thanos or Mimir), e.g. ``http://prom:9090``.
    promql : str
        Must evaluate to a scalar or a one-sample vector, e.g.
        ``histogram_quantile(0.95, sum(rate(latency_bucket[1h])) by (le))``.
    at : datetime
        Evaluation time; a naive datetime is taken as UTC.
    client : httpx.Client, optional
        Injected for tests (``httpx.MockTransport``) or to share a connection pool.

    Raises
    ------
    WarehouseConnectionError, WarehouseTimeoutError, WarehousePermissionError
        Unreachable, too slow (also Prometheus' own 503/query timeout), or 401/403.
    WarehouseQueryError
        Prometheus rejected the PromQL (400/422 ``bad_data``).
    WarehouseResultError
        The answer is not exactly one number.
    """
    where = {"warehouse": redact(base_url), "metric": metric}
    moment = at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)
    url = urljoin(base_url.rstrip("/") + "/", "api/v1/query")
    params = {"query": promql, "time": f"{moment.timestamp():.3f}", "timeout": f"{timeout:g}s"}
    own_client = client is None
    http = client if client is not None else httpx.Client(timeout=timeout)
    try:
        response = http.get(url, params=params, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise WarehouseTimeoutError(f"Prometheus did not answer within {timeout:g} s", **where) from exc
    except httpx.HTTPError as exc:
        raise WarehouseConnectionError(f"could not reach Prometheus: {type(exc).__name__}: {redact(str(exc))}", **where) from exc
    finally:
        if own_client:
            http.close()
    return _parse(response, where)


def _parse(response: httpx.Response, where: dict) -> float:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    detail = f"{response.status_code} {error or response.reason_phrase}"
    if response.status_code in (401, 403):
        raise WarehousePermissionError(f"Prometheus refused the query: {detail}", **where)
    if response.status_code == 503 or (isinstance(body, dict) and body.get("errorType") == "timeout"):
        raise WarehouseTimeoutError(f"Prometheus gave up on the query: {detail}", **where)
    if response.status_code in (400, 422):
        raise WarehouseQueryError(f"Prometheus rejected the PromQL: {detail}", **where)
    if response.status_code >= 300 or not isinstance(body, dict):
        raise WarehouseConnectionError(f"unexpected answer from Prometheus: {detail}", **where)
    if body.get("status") != "success":
        raise WarehouseQueryError(f"Prometheus reported {body.get('errorType', 'an error')}: {error}", **where)
    data = body.get("data") or {}
    result_type, result = data.get("resultType"), data.get("result")
    if result_type == "scalar":
        sample = result
    elif result_type == "vector":
        if not result:
            raise WarehouseResultError("the PromQL returned no series at that time (is the metric being scraped?)", **where)
        if len(result) > 1:
            labels = ", ".join(str(series.get("metric", {})) for series in result[:3])
            raise WarehouseResultError(
                f"the PromQL returned {len(result)} series ({labels}…); aggregate it to one, e.g. with sum() or max()",
                **where,
            )
        sample = result[0].get("value")
    else:
        raise WarehouseResultError(f"expected a scalar or an instant vector, got {result_type!r}", **where)
    try:
        value = float(sample[1])
    except (TypeError, ValueError, IndexError) as exc:
        raise WarehouseResultError(f"could not read a number from the sample {sample!r}", **where) from exc
    if math.isnan(value):
        raise WarehouseResultError("the PromQL evaluated to NaN (no data in the range?)", **where)
    return value
