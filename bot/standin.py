"""A local stand-in for Slack's Web API: a real HTTP server on 127.0.0.1 that records every call.

It answers the methods Northstar uses the way Slack does, rejects what Slack rejects (blocks past
Block Kit's limits, a missing channel, a message with neither text nor blocks) and fails on
demand (429 with Retry-After, 500, or a permanent error such as ``channel_not_found``)::

    standin = SlackStandIn().start()
    client = WebClient(token="xoxb-test", base_url=standin.api_url)
    standin.fail("chat.postMessage", status=429, retry_after=1)   # next call only
    standin.fail("chat.postMessage", error="channel_not_found", times=None)  # every call
    ...
    standin.calls_to("chat.postMessage")[0].params["text"]
    standin.stop()

It keeps connections alive between calls (HTTP/1.1) as Slack does, and ``stop()`` closes those
still open, so that nothing answers once Slack is meant to be gone.

Tests start one per test (the ``slack_standin`` fixture); ``northstar demo`` runs one in-process
and turns what it recorded into the transcript it prints and lays out as HTML.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

BOT_USER_ID = "UBOT00001"
DEFAULT_TEAM = "T0FRAUD01"

MAX_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
# Longer than a client keeps a connection idle (bot.slack_client), as real servers allow.
IDLE_TIMEOUT_S = 60.0


def _hang_up(sock: socket.socket) -> None:
    """End a connection from the server's side: the handler reading it sees EOF, the client a FIN."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # the client closed it first


def channel_id(channel: str) -> str:
    """The id Slack answers with: a post may name ``#fraud-ml``, the answer says ``CFRAUDML``."""
    channel = str(channel)
    if not channel.startswith("#"):
        return channel
    return "C" + "".join(ch for ch in channel[1:].upper() if ch.isalnum())


@dataclass
class Call:
    """One request the stand-in received."""

    method: str
    params: dict[str, Any]
    token: str | None
    body: bytes = b""
    at: float = field(default_factory=time.monotonic)
    response: dict[str, Any] | None = None


@dataclass
class Failure:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    times: int | None = 1  # None: every call until cleared


def _blocks_problem(blocks: Any, limit: int) -> str | None:
    """Slack's own rejection rules for blocks (independent of the app's checker)."""
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return "invalid_blocks_format"
    if not isinstance(blocks, list):
        return "invalid_blocks_format"
    if len(blocks) > limit:
        return "invalid_blocks"
    for block in blocks:
        kind = block.get("type")
        if kind == "section":
            text = (block.get("text") or {}).get("text", "")
            if len(text) > MAX_SECTION_TEXT or len(block.get("fields") or []) > 10:
                return "invalid_blocks"
            if not text and not block.get("fields"):
                return "invalid_blocks"
        if kind == "header" and len((block.get("text") or {}).get("text", "")) > MAX_HEADER_TEXT:
            return "invalid_blocks"
        for element in block.get("elements") or []:
            if element.get("type") == "button" and len((element.get("text") or {}).get("text", "")) > MAX_BUTTON_TEXT:
                return "invalid_blocks"
        if kind == "actions" and len(block.get("elements") or []) > 25:
            return "invalid_blocks"
    return None


class SlackStandIn:
    """The server, its recorded calls and its failure plan. Thread-safe."""

    def __init__(self, *, team_id: str = DEFAULT_TEAM, known_channels: set[str] | None = None):
        self.team_id = team_id
        self.known_channels = known_channels  # None: every channel exists
        self.calls: list[Call] = []
        self.uploads: dict[str, bytes] = {}
        self._failures: dict[str, list[Failure]] = {}
        self._lock = threading.Condition()
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._stopped = False
        self.connections_accepted = 0

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> SlackStandIn:
        standin = self
        self._stopped = False

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as Slack: a client may send many calls over one connection.
            protocol_version = "HTTP/1.1"
            # Without it a small answer waits for the client's delayed ACK (~40 ms on Linux).
            disable_nagle_algorithm = True
            # An idle connection's thread ends after this; the client opens a new one.
            timeout = IDLE_TIMEOUT_S

            def setup(self) -> None:
                super().setup()
                with standin._lock:
                    standin.connections_accepted += 1
                    if not standin._stopped:
                        standin._connections.add(self.connection)
                        return
                # Accepted just before stop(): it must not answer either.
                _hang_up(self.connection)

            def finish(self) -> None:
                with standin._lock:
                    standin._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                standin._handle(self)

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # stop() waits for the serving loop to notice, up to one poll interval (0.5 s by default):
        # a test suite stops a stand-in per test.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="slack-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and close every open connection: Slack is unreachable from here on."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            self._stopped = True
        self.close_connections()

    def close_connections(self) -> None:
        """Close every open connection, as a server does with idle ones; the next call connects again."""
        with self._lock:
            open_now = list(self._connections)
        for sock in open_now:
            _hang_up(sock)

    @property
    def open_connections(self) -> int:
        """Client connections open right now (kept alive between calls)."""
        with self._lock:
            return len(self._connections)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        """What to pass as ``WebClient(base_url=...)`` / ``SLACK_API_URL``."""
        return f"{self.base_url}/api/"

    # --- failure plan --------------------------------------------------------------------
    def fail(self, method: str, *, status: int = 200, error: str | None = None, retry_after: int | None = None, times: int | None = 1) -> None:
        """Make the next ``times`` calls of ``method`` fail (``times=None``: until :meth:`clear_failures`).

        ``status=429`` answers ``ratelimited`` with ``Retry-After``; ``status=500`` a server error;
        ``error=...`` with status 200 a permanent Slack error (``ok: false``).
        """
        if status == 429 and error is None:
            error = "ratelimited"
            retry_after = 1 if retry_after is None else retry_after
        with self._lock:
            self._failures.setdefault(method, []).append(Failure(status=status, error=error, retry_after=retry_after, times=times))

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def _next_failure(self, method: str) -> Failure | None:
        plan = self._failures.get(method)
        if not plan:
            return None
        failure = plan[0]
        if failure.times is not None:
            failure.times -= 1
            if failure.times <= 0:
                plan.pop(0)
        return failure

    # --- inspection ----------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Block until ``method`` was called ``count`` times (listeners run after the ack)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [c for c in self.calls if c.method == method]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = ", ".join(c.method for c in self.calls) or "nothing"
                    raise AssertionError(f"{method} called {len(found)} times, wanted {count}; calls so far: {seen}")
                self._lock.wait(remaining)

    def messages(self) -> list[dict[str, Any]]:
        """Every posted, ephemeral or updated message's params, in order."""
        wanted = {"chat.postMessage", "chat.postEphemeral", "chat.update"}
        with self._lock:
            return [c.params for c in self.calls if c.method in wanted]

    # --- request handling ----------------------------------------------------------------
    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length)
        path = urlparse(request.path).path
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ") or None
        if path.startswith("/upload/"):
            self._record(Call(method="upload", params={"file_id": path.rsplit("/", 1)[-1]}, token=token, body=raw))
            with self._lock:
                self.uploads[path.rsplit("/", 1)[-1]] = raw
            self._send(request, 200, b"OK - " + str(len(raw)).encode(), content_type="text/plain")
            return
        method = path.removeprefix("/api/")
        params = self._params(request.headers.get("Content-Type") or "", raw)
        token = token or params.pop("token", None)
        call = Call(method=method, params=params, token=token, body=raw)
        self._record(call)
        with self._lock:
            failure = self._next_failure(method)
        if failure is not None:
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            if failure.status >= 500:
                self._send(request, failure.status, b"server error", content_type="text/plain", headers=headers)
                return
            self._json(request, {"ok": False, "error": failure.error or "fatal_error"}, status=failure.status, headers=headers)
            return
        if not token:
            self._json(request, {"ok": False, "error": "not_authed"})
            return
        answer = self._answer(method, params)
        call.response = answer
        self._json(request, answer)

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)
            self._lock.notify_all()

    @staticmethod
    def _params(content_type: str, raw: bytes) -> dict[str, Any]:
        if content_type.startswith("application/json"):
            return json.loads(raw or b"{}")
        parsed = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        for key in ("blocks", "view", "files", "attachments"):
            if isinstance(parsed.get(key), str):
                try:
                    parsed[key] = json.loads(parsed[key])
                except ValueError:
                    pass
        return parsed

    def _channel_error(self, channel: Any) -> str | None:
        if not channel:
            return "channel_not_found"
        if self.known_channels is not None and channel not in self.known_channels and not str(channel).startswith("U"):
            return "channel_not_found"
        return None

    def _message_error(self, params: dict[str, Any]) -> str | None:
        error = self._channel_error(params.get("channel"))
        if error:
            return error
        if not params.get("text") and not params.get("blocks") and not params.get("attachments"):
            return "no_text"
        if params.get("blocks") is not None:
            return _blocks_problem(params["blocks"], MAX_BLOCKS)
        return None

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "url": "https://standin.slack.com/", "team": "Stand-in", "user": "northstar",
                    "team_id": self.team_id, "user_id": BOT_USER_ID, "bot_id": "B0STANDIN", "is_enterprise_install": False}
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            error = self._message_error(params)
            if error:
                return {"ok": False, "error": error}
            if method == "chat.postEphemeral":
                if not params.get("user"):
                    return {"ok": False, "error": "user_not_in_channel"}
                return {"ok": True, "message_ts": self._next_ts()}
            if method == "chat.update" and not params.get("ts"):
                return {"ok": False, "error": "message_not_found"}
            ts = params.get("ts") or self._next_ts()
            return {"ok": True, "channel": channel_id(params["channel"]), "ts": ts, "message": {"text": params.get("text"), "ts": ts}}
        if method in ("views.open", "views.update", "views.push"):
            view = params.get("view")
            if isinstance(view, str):
                view = json.loads(view)
            if method == "views.open" and not params.get("trigger_id"):
                return {"ok": False, "error": "invalid_trigger_id"}
            if method == "views.update" and not (params.get("view_id") or params.get("external_id")):
                return {"ok": False, "error": "not_found"}
            if not isinstance(view, dict) or _blocks_problem(view.get("blocks", []), MAX_VIEW_BLOCKS):
                return {"ok": False, "error": "invalid_arguments"}
            view_id = params.get("view_id") or f"V{next(self._ts):08d}"
            return {"ok": True, "view": {**view, "id": view_id, "hash": f"hash-{view_id}"}}
        if method == "files.getUploadURLExternal":
            if not params.get("filename") or not params.get("length"):
                return {"ok": False, "error": "invalid_arguments"}
            file_id = f"F{next(self._ts):08d}"
            return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = params.get("files")
            if isinstance(files, str):
                files = json.loads(files)
            if not files:
                return {"ok": False, "error": "invalid_arguments"}
            channel = params.get("channel_id") or params.get("channels")
            if channel:
                error = self._channel_error(channel)
                if error:
                    return {"ok": False, "error": error}
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title") or params.get("title")} for f in files]}
        if method == "files.info":
            return {"ok": True, "file": {"id": params.get("file"), "shares": {}}}
        if method == "conversations.open":
            users = params.get("users")
            if not users:
                return {"ok": False, "error": "users_list_not_supplied"}
            return {"ok": True, "channel": {"id": "D" + str(users).split(",")[0][1:], "is_im": True}}
        if method == "conversations.history":
            error = self._channel_error(params.get("channel"))
            if error:
                return {"ok": False, "error": error}
            posted = [
                {"type": "message", "text": c.params.get("text"), "ts": str(i)}
                for i, c in enumerate(self.calls_to("chat.postMessage"), start=1)
                if c.params.get("channel") == params.get("channel")
            ]
            return {"ok": True, "messages": list(reversed(posted)), "has_more": False}
        return {"ok": False, "error": "unknown_method"}

    def _next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    @staticmethod
    def _json(request: BaseHTTPRequestHandler, payload: dict, *, status: int = 200, headers: dict | None = None) -> None:
        SlackStandIn._send(request, status, json.dumps(payload).encode(), content_type="application/json", headers=headers)

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: bytes, *, content_type: str, headers: dict | None = None) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            request.send_header(key, value)
        request.end_headers()
        request.wfile.write(body)
