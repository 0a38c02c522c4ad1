"""The Web API client every Slack call goes through: retries Slack's limits call for, connections kept open."""

from __future__ import annotations

import functools
import io
import logging
import os
import re
import select
import ssl
import threading
import time
from collections.abc import Callable
from http.client import HTTPConnection, HTTPResponse, HTTPSConnection
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request

from slack_bolt.middleware import Middleware
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.compute_slots import slot_released
from bot.settings import ConfigError, Settings

DEFAULT_API_URL = "https://slack.com/api/"

# slack-sdk logs every request's parameters and every answer's body at DEBUG, on this logger:
# oauth.v2.access answers with the new workspace's tokens, a token refresh sends one.
SDK_WEB_LOGGER = "slack_sdk.web.base_client"
# xoxb- bot, xoxp- user, xoxe- / xoxe.xoxp- refresh, xapp- app-level, and Slack's other xox?- kinds.
_SLACK_TOKEN = re.compile(r"\b(xox[a-z]|xapp)[.-][A-Za-z0-9.-]+")


class RedactSlackTokens(logging.Filter):
    """Replace Slack tokens in a record's message with ``xoxb-***`` (the kind stays readable)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the handler's to report, not this filter's
            return True
        redacted = _SLACK_TOKEN.sub(r"\1-***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def redact_tokens_in_sdk_logs() -> None:
    """Keep tokens out of slack-sdk's DEBUG records, whatever the logging configuration. Idempotent."""
    sdk = logging.getLogger(SDK_WEB_LOGGER)
    if not any(isinstance(f, RedactSlackTokens) for f in sdk.filters):
        sdk.addFilter(RedactSlackTokens())


def retry_handlers(*, max_retry_count: int = 2) -> list:
    """429s wait for Retry-After; 5xx and dropped connections back off and retry."""
    return [
        ConnectionErrorRetryHandler(max_retry_count=max_retry_count),
        RateLimitErrorRetryHandler(max_retry_count=max_retry_count),
        ServerErrorRetryHandler(max_retry_count=max_retry_count),
    ]


def api_base_url(settings: Settings) -> str:
    url = settings.slack_api_url or DEFAULT_API_URL
    # slack-sdk joins base_url and the method name by plain concatenation.
    return url if url.endswith("/") else url + "/"


def make_client(settings: Settings, *, token: str | None = None, timeout: int = 30) -> WebClient:
    """A WebClient for ``settings`` (``SLACK_API_URL`` points it at a stand-in for tests and the demo)."""
    if token is None and settings.slack_bot_token is not None:
        token = settings.slack_bot_token.get_secret_value()
    return PooledWebClient(token=token, base_url=api_base_url(settings), timeout=timeout, retry_handlers=retry_handlers())


# --- keep-alive -------------------------------------------------------------------------------

_PoolKey = tuple[str, str, "ssl.SSLContext | None"]


class IdleConnections:
    """Open HTTP connections waiting for their next request, shared by every :class:`PooledWebClient`.

    A connection is taken out for one request and put back once its response is read, so two
    threads never use one connection at the same time. The most recently used connection is
    reused first; past ``max_idle`` connections (all hosts together) the longest idle is closed.
    """

    def __init__(self, *, max_idle: int = 64, max_idle_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.max_idle = max_idle
        # Servers close idle connections after a while (Slack's edge too); retiring ours before
        # they do keeps the race of a request sent as the server closes rare.
        self.max_idle_seconds = max_idle_seconds
        self._clock = clock
        self._idle: list[tuple[_PoolKey, HTTPConnection, float]] = []
        self._lock = threading.Lock()

    def take(self, key: _PoolKey) -> HTTPConnection | None:
        """An open connection to ``key``'s server, or None: the caller opens a new one."""
        while True:
            with self._lock:
                found = next((i for i in range(len(self._idle) - 1, -1, -1) if self._idle[i][0] == key), None)
                if found is None:
                    return None
                _, connection, since = self._idle.pop(found)
            if self._clock() - since <= self.max_idle_seconds and not _closed_by_peer(connection):
                return connection
            connection.close()

    def put(self, key: _PoolKey, connection: HTTPConnection) -> None:
        with self._lock:
            self._idle.append((key, connection, self._clock()))
            evicted = self._idle[: max(0, len(self._idle) - self.max_idle)]
            del self._idle[: len(evicted)]
        for _, old, _ in evicted:
            old.close()

    def close(self) -> None:
        """Close every idle connection (connections in use are closed by their request when done)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for _, connection, _ in idle:
            connection.close()

    def forget_inherited(self) -> None:
        """In a forked child: the parent's connections are the parent's to use (and its lock may be held)."""
        self._lock = threading.Lock()
        idle, self._idle = self._idle, []
        for _, connection, _ in idle:
            connection.close()  # only this process's descriptor: the parent's connection stays open

    def __len__(self) -> int:
        with self._lock:
            return len(self._idle)


def _closed_by_peer(connection: HTTPConnection) -> bool:
    """Whether the server closed this idle connection: an idle socket is readable only at EOF (or on garbage)."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


#: The process's idle connections: every PooledWebClient shares them unless given its own.
IDLE_CONNECTIONS = IdleConnections()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=IDLE_CONNECTIONS.forget_inherited)


@functools.cache
def _default_tls_context() -> ssl.SSLContext:
    # What http.client would build for every connection (loading the CA store each time), built once.
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


class PooledWebClient(WebClient):
    """A WebClient that keeps its connections open between calls (HTTP/1.1 keep-alive).

    slack-sdk sends every call through ``urlopen``, which opens a new TCP connection (and against
    Slack a new TLS session) per call and closes it after the answer. This client sends the very
    request slack-sdk built over a connection taken from :data:`IDLE_CONNECTIONS` and answers as
    ``urlopen`` would: a non-2xx status raises ``HTTPError``, a failure before the request left
    raises ``URLError``, a failure after raises the raw error. slack-sdk's retry handlers and the
    outbox worker's reading of errors stay as they are. Through a proxy it is plain ``urlopen``.
    """

    def __init__(self, *args: Any, connections: IdleConnections | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.connections = connections if connections is not None else IDLE_CONNECTIONS

    def _perform_urllib_http_request(self, *, url: str, args: dict[str, dict[str, Any]]) -> dict[str, Any]:
        # The call, its retries and their back-off are waits: a listener's compute slot is free meanwhile.
        with slot_released():
            return super()._perform_urllib_http_request(url=url, args=args)

    def _upload_file(self, **kwargs: Any) -> Any:
        with slot_released():
            return super()._upload_file(**kwargs)

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if self.proxy is not None or req.type not in ("http", "https"):
            return super()._perform_urllib_http_request_internal(url, req)
        context = (self.ssl or _default_tls_context()) if req.type == "https" else None
        key: _PoolKey = (req.type, req.host, context)
        # urlopen's request headers, less its "Connection: close".
        headers = {name.title(): value for name, value in req.header_items()}
        if req.data is not None:
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")

        connection = self.connections.take(key)
        response = None
        if connection is not None:
            response = self._exchange(connection, req, headers, reused=True)
        if response is None:
            # No idle connection, or the server closed the idle one as this request went out and
            # hung up without a byte of answer, as a server retiring an idle connection does: it
            # did not act on it, so sending it on a new connection sends it once.
            connection = self._connect(key)
            response = self._exchange(connection, req, headers, reused=False)
        assert response is not None and connection is not None
        try:
            raw = response.read()
        except BaseException:
            connection.close()
            raise
        if connection.sock is not None:  # http.client drops the socket when the server said it closes
            self.connections.put(key, connection)

        if not 200 <= response.status < 300:
            raise HTTPError(req.full_url, response.status, response.reason, response.msg, io.BytesIO(raw))
        if response.msg.get_content_type() == "application/gzip":  # admin.analytics.getFile
            body: str | bytes = raw
            shown = "(binary)"
        else:
            body = shown = raw.decode(response.msg.get_content_charset() or "utf-8")
        if self._logger.level <= logging.DEBUG:
            self._logger.debug(
                "Received the following response - "
                f"status: {response.status}, headers: {dict(response.msg)}, body: {shown}"
            )
        return {"status": response.status, "headers": response.msg, "body": body}

    def _connect(self, key: _PoolKey) -> HTTPConnection:
        scheme, host, context = key
        if scheme == "https":
            return HTTPSConnection(host, timeout=self.timeout, context=context)
        return HTTPConnection(host, timeout=self.timeout)

    def _exchange(self, connection: HTTPConnection, req: Request, headers: dict, *, reused: bool) -> HTTPResponse | None:
        """Send ``req`` and read the status line and headers; None when a reused connection was found closed."""
        if connection.timeout != self.timeout:
            connection.timeout = self.timeout
            if connection.sock is not None:
                connection.sock.settimeout(self.timeout)
        try:
            connection.request(req.get_method(), req.selector, req.data, headers)
        except OSError as exc:
            connection.close()
            if reused and isinstance(exc, (BrokenPipeError, ConnectionResetError)):
                return None
            # As urlopen: the request did not leave (refused, unresolvable, timed out connecting).
            raise URLError(exc) from exc
        except BaseException:
            connection.close()
            raise
        try:
            return connection.getresponse()
        except ConnectionResetError:  # RemoteDisconnected too: closed before a byte of answer
            connection.close()
            if reused:
                return None
            raise
        except BaseException:
            connection.close()
            raise


def pooled_copy(client: WebClient) -> PooledWebClient:
    """``client``'s settings (token, URL, timeout, TLS, proxy, headers, team, logger, retries) on a PooledWebClient."""
    pooled = PooledWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        logger=client.logger,
        retry_handlers=list(client.retry_handlers),
    )
    # Copied after construction, which would otherwise overwrite the original's User-Agent;
    # default_params holds the team_id the original was built with.
    pooled.headers = dict(client.headers)
    pooled.default_params = dict(client.default_params)
    return pooled


class PooledClientMiddleware(Middleware):
    """Bolt global middleware: listeners (``client``, ``say``) call Slack through a PooledWebClient.

    Bolt builds a plain WebClient for every request before any middleware runs. Registered with
    ``app.use`` this runs after Bolt's authorization, so the copy carries the workspace's token.
    """

    def process(self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse | None:  # noqa: A002 (Bolt's name)
        client = req.context.get("client")
        if client is not None and not isinstance(client, PooledWebClient):
            # ``say`` is built from the context's client when a listener first asks for it.
            req.context["client"] = pooled_copy(client)
        return next()


def require(settings: Settings, *fields: str) -> None:
    """Fail fast naming the environment variable of every missing setting a mode needs."""
    missing = []
    for name in fields:
        if getattr(settings, name) in (None, ""):
            alias = type(settings).model_fields[name].validation_alias
            choices = getattr(alias, "choices", None)
            missing.append(str(choices[0]) if choices else name.upper())
    if missing:
        raise ConfigError(f"missing configuration: set {', '.join(missing)}")
