"""Prometheus instant queries: answers parsed, failures translated, one test over a real socket."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from storage.warehouse.errors import (
    WarehouseConnectionError,
    WarehousePermissionError,
    WarehouseQueryError,
    WarehouseResultError,
    WarehouseTimeoutError,
)
from storage.warehouse.prometheus import prometheus_instant_query

AT = datetime(2026, 9, 7, 6, 0, tzinfo=timezone.utc)


def _vector(*values):
    return {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {"job": f"j{i}"}, "value": [AT.timestamp(), v]} for i, v in enumerate(values)]},
    }


def _client(status: int, body, seen: list | None = None) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, json=body)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_vector_with_one_sample_and_the_request_it_sends():
    seen: list[httpx.Request] = []
    with _client(200, _vector("87.5"), seen) as client:
        value = prometheus_instant_query("http://prom:9090/", "histogram_quantile(0.95, x)", at=AT, client=client)
    assert value == 87.5
    request = seen[0]
    assert request.url.path == "/api/v1/query"
    assert request.url.params["query"] == "histogram_quantile(0.95, x)"
    assert float(request.url.params["time"]) == AT.timestamp()


def test_base_url_with_a_path_prefix_is_kept():
    seen: list[httpx.Request] = []
    with _client(200, {"status": "success", "data": {"resultType": "scalar", "result": [0, "0.25"]}}, seen) as client:
        assert prometheus_instant_query("http://gw/prometheus", "vector(0.25)", at=AT, client=client) == 0.25
    assert seen[0].url.path == "/prometheus/api/v1/query"


def test_naive_time_is_utc():
    seen: list[httpx.Request] = []
    with _client(200, _vector("1"), seen) as client:
        prometheus_instant_query("http://prom", "up", at=datetime(2026, 9, 7, 6, 0), client=client)
    assert float(seen[0].url.params["time"]) == AT.timestamp()


@pytest.mark.parametrize(
    "status, body, error, message",
    [
        (200, _vector(), WarehouseResultError, "no series"),
        (200, _vector("1", "2"), WarehouseResultError, "2 series"),
        (200, _vector("NaN"), WarehouseResultError, "NaN"),
        (200, {"status": "success", "data": {"resultType": "matrix", "result": []}}, WarehouseResultError, "matrix"),
        (400, {"status": "error", "errorType": "bad_data", "error": "parse error at char 3"}, WarehouseQueryError, "parse error"),
        (422, {"status": "error", "errorType": "execution", "error": "many-to-many"}, WarehouseQueryError, "many-to-many"),
        (503, {"status": "error", "errorType": "timeout", "error": "query timed out"}, WarehouseTimeoutError, "timed out"),
        (401, {}, WarehousePermissionError, "401"),
        (500, "oops", WarehouseConnectionError, "500"),
    ],
)
def test_failures_are_translated(status, body, error, message):
    with _client(status, body) as client, pytest.raises(error, match=message) as caught:
        prometheus_instant_query("http://prom", "up", at=AT, client=client, metric="latency_p95")
    assert caught.value.metric == "latency_p95"


def test_transport_timeout_and_connection_failure():
    def slow(request):
        raise httpx.ReadTimeout("read timed out", request=request)

    def refused(request):
        raise httpx.ConnectError("connection refused", request=request)

    with httpx.Client(transport=httpx.MockTransport(slow)) as client, pytest.raises(WarehouseTimeoutError):
        prometheus_instant_query("http://prom", "up", at=AT, client=client)
    with httpx.Client(transport=httpx.MockTransport(refused)) as client, pytest.raises(WarehouseConnectionError) as caught:
        prometheus_instant_query("http://user:hunter2@prom", "up", at=AT, client=client)
    assert "hunter2" not in str(caught.value)


# --------------------------------------------------------------------------- real socket


class _Prometheus(BaseHTTPRequestHandler):
    """Just enough of Prometheus' query API: ``up`` is 1, anything else is a parse error."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path != "/api/v1/query":
            self._send(404, {"status": "error", "error": "not found"})
        elif query.get("query") == ["up"]:
            self._send(200, _vector("1"))
        else:
            self._send(400, {"status": "error", "errorType": "bad_data", "error": "1:1: parse error: unexpected"})

    def _send(self, status, body):
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def prometheus_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Prometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_real_http_server(prometheus_server):
    assert prometheus_instant_query(prometheus_server, "up", at=AT, timeout=5) == 1.0
    with pytest.raises(WarehouseQueryError, match="parse error"):
        prometheus_instant_query(prometheus_server, "up{", at=AT, timeout=5)


def test_nothing_listening_is_a_connection_error(prometheus_server):
    with pytest.raises(WarehouseConnectionError):
        prometheus_instant_query("http://127.0.0.1:1", "up", at=AT, timeout=2)
