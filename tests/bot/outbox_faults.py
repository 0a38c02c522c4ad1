"""The Slack stand-in with what the outbox tests need on top: a channel timeline, slowness, response_url.

:class:`OutboxStandIn` keeps every message it accepted in :attr:`timeline` (with the metadata it
was sent with and the ts it got, taken from the test's clock), answers ``conversations.history``
and ``conversations.replies`` from it the way Slack does (``oldest``, ``include_all_metadata``),
accepts ``response_url`` posts under ``/respond/…`` and can answer a method late::

    standin = OutboxStandIn(clock=fake_clock).start()
    standin.delay("chat.postMessage", seconds=1.0)   # the next call answers after 1 s
    standin.fail("respond", status=404, error="expired_url")
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlparse

from bot.standin import Call, SlackStandIn


@dataclass(frozen=True)
class Posted:
    """A message as it stands in a channel."""

    channel: str
    ts: str
    text: str | None
    thread_ts: str | None
    metadata: dict[str, Any] | None


class OutboxStandIn(SlackStandIn):
    def __init__(self, *, clock: Callable[[], datetime], **kwargs: Any):
        super().__init__(**kwargs)
        self.clock = clock
        self.timeline: list[Posted] = []
        self._delays: dict[str, list[float]] = {}
        self._last_ts = 0.0
        self._ts_lock = threading.Lock()

    def delay(self, method: str, *, seconds: float, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` only after ``seconds`` (having done the work)."""
        with self._lock:
            self._delays.setdefault(method, []).extend([seconds] * times)

    def posted_in(self, channel: str) -> list[Posted]:
        with self._lock:
            return [p for p in self.timeline if p.channel == channel]

    def posted_with_key(self, key: str) -> list[Posted]:
        with self._lock:
            return [p for p in self.timeline if ((p.metadata or {}).get("event_payload") or {}).get("key") == key]

    # --- request handling ----------------------------------------------------------------
    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        path = urlparse(request.path).path
        method = "respond" if path.startswith("/respond/") else path.removeprefix("/api/")
        with self._lock:
            plan = self._delays.get(method)
            pause = plan.pop(0) if plan else None
        try:
            if method == "respond":
                self._respond(request, path, pause)
                return
            if pause is not None:
                # Slack does the work, but the answer comes after the client stopped waiting.
                self._slow(request, pause)
                return
            super()._handle(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on a late answer, as a timed-out client does

    def _slow(self, request: BaseHTTPRequestHandler, pause: float) -> None:
        done = threading.Event()
        original = request.wfile

        class LateWriter:
            def write(self, data: bytes) -> int:
                done.wait()
                return original.write(data)

            def flush(self) -> None:
                original.flush()

        # Process the call now (so it takes effect), hold the answer back for ``pause`` seconds.
        request.wfile = LateWriter()  # type: ignore[assignment]
        timer = threading.Timer(pause, done.set)
        timer.start()
        super()._handle(request)
        timer.join()

    def _respond(self, request: BaseHTTPRequestHandler, path: str, pause: float | None) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length)
        self._record(Call(method="respond", params={"url": path, **json.loads(raw or b"{}")}, token=None, body=raw))
        if pause is not None:
            time.sleep(pause)
        with self._lock:
            failure = self._next_failure("respond")
        if failure is not None:
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            status = failure.status if failure.status != 200 else 404
            self._send(request, status, (failure.error or "server error").encode(), content_type="text/plain", headers=headers)
            return
        self._send(request, 200, b"ok", content_type="text/plain")

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method in ("conversations.history", "conversations.replies"):
            return self._history(method, params)
        answer = super()._answer(method, params)
        if method == "chat.postMessage" and answer.get("ok"):
            metadata = params.get("metadata")
            if isinstance(metadata, str):
                metadata = json.loads(metadata)
            with self._lock:
                self.timeline.append(
                    Posted(channel=params["channel"], ts=answer["ts"], text=params.get("text"), thread_ts=params.get("thread_ts"), metadata=metadata)
                )
        return answer

    def _history(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        error = self._channel_error(params.get("channel"))
        if error:
            return {"ok": False, "error": error}
        oldest = float(params.get("oldest") or 0)
        with_metadata = str(params.get("include_all_metadata")).lower() in ("true", "1")
        with self._lock:
            in_channel = [p for p in self.timeline if p.channel == params.get("channel") and float(p.ts) > oldest]
        if method == "conversations.replies":
            parent = params.get("ts")
            found = [p for p in in_channel if p.ts == parent or p.thread_ts == parent]
        else:
            found = [p for p in in_channel if p.thread_ts is None]
            found.reverse()  # history is newest first, replies oldest first
        messages = []
        for p in found:
            message: dict[str, Any] = {"type": "message", "text": p.text, "ts": p.ts}
            if p.thread_ts is not None:
                message["thread_ts"] = p.thread_ts
            if with_metadata and p.metadata is not None:
                message["metadata"] = p.metadata
            messages.append(message)
        return {"ok": True, "messages": messages, "has_more": False}

    def _next_ts(self) -> str:
        # Slack's ts is its clock at posting time, unique per channel: the test's clock, nudged.
        with self._ts_lock:
            ts = max(self.clock().timestamp(), self._last_ts + 0.000001)
            self._last_ts = ts
        return f"{ts:.6f}"
