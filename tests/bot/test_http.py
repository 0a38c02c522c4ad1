"""HTTP mode: signatures, health, metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from tests.bot.conftest import SIGNING_SECRET, SlackHttp


def _command_body() -> str:
    return urlencode({"command": "/explain", "text": "help", "team_id": "T0FRAUD01", "user_id": "U1", "channel_id": "C1"})


def test_a_signed_command_is_acknowledged(slack_http: SlackHttp, slack_standin):
    response = slack_http.command("/explain", "help")
    assert response.status_code == 200
    usage = slack_standin.wait_for("chat.postEphemeral")[0].params
    assert "/explain <term>" in usage["text"]


def test_a_bad_signature_is_refused(slack_http: SlackHttp, slack_standin):
    response = slack_http.post(_command_body(), content_type="application/x-www-form-urlencoded", signature="v0=" + "0" * 64)
    assert response.status_code == 401
    assert [c.method for c in slack_standin.calls if c.method != "auth.test"] == []


def test_a_stale_timestamp_is_refused_even_when_correctly_signed(slack_http: SlackHttp):
    stale = int(time.time()) - 301
    response = slack_http.post(_command_body(), content_type="application/x-www-form-urlencoded", timestamp=stale)
    assert response.status_code == 401


def test_a_future_timestamp_is_refused(slack_http: SlackHttp):
    response = slack_http.post(_command_body(), content_type="application/x-www-form-urlencoded", timestamp=int(time.time()) + 301)
    assert response.status_code == 401


def test_missing_signature_headers_are_refused(slack_http: SlackHttp):
    response = slack_http.post(_command_body(), content_type="application/x-www-form-urlencoded",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 401


def test_a_body_signed_with_another_secret_is_refused(slack_http: SlackHttp, bolt_app, engine):
    from bot.http import build_asgi

    impostor = SlackHttp(build_asgi(bolt_app, engine=engine, signing_secret=SIGNING_SECRET), secret=SIGNING_SECRET[::-1])
    assert impostor.command("/explain", "help").status_code == 401


def test_failed_signature_bodies_never_reach_the_logs(slack_http: SlackHttp, caplog):
    secret_words = "confidential-launch-plan"
    body = urlencode({"command": "/explain", "text": secret_words, "team_id": "T1", "user_id": "U1", "channel_id": "C1"})
    bolt = logging.getLogger("slack_bolt")
    previous = bolt.level
    bolt.setLevel(logging.DEBUG)  # even a debugging deployment must not log the body
    try:
        with caplog.at_level(logging.DEBUG):
            response = slack_http.post(body, content_type="application/x-www-form-urlencoded", signature="v0=bad")
    finally:
        bolt.setLevel(previous)
    assert response.status_code == 401
    assert secret_words not in caplog.text
    assert logging.getLogger("slack_bolt.RequestVerification").getEffectiveLevel() >= logging.WARNING


def test_healthz_reports_a_current_schema(slack_http: SlackHttp):
    response = slack_http.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["pid"] == os.getpid()  # which worker process answered


def test_healthz_fails_without_a_schema(bolt_app, tmp_path):
    from bot.http import build_asgi
    from storage.db import make_engine

    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    response = SlackHttp(build_asgi(bolt_app, engine=empty)).get("/healthz")
    empty.dispose()
    assert response.status_code == 503
    assert "northstar db upgrade" in response.json()["reason"]
    assert response.json()["pid"] == os.getpid()


def test_metrics_count_requests_and_read_the_outbox(slack_http: SlackHttp, slack_standin):
    slack_http.command("/explain", "help")
    slack_standin.wait_for("chat.postEphemeral")
    text = slack_http.get("/metrics").text
    assert 'northstar_slack_requests_total{kind="command",status="200"} 1' in text
    assert 'northstar_slack_request_seconds_count{kind="command"} 1' in text
    assert "northstar_outbox_depth 0" in text
    assert "northstar_pull_failures 0" in text
    assert "northstar_database_up 1" in text


def test_the_ack_does_not_wait_for_slow_work(slack_http: SlackHttp, slack_standin, seeded, monkeypatch):
    from bot.listeners.store import Store

    original = Store.contracts

    def slow_contracts(self, team_id):
        time.sleep(1.5)
        return original(self, team_id)

    monkeypatch.setattr(Store, "contracts", slow_contracts)
    started = time.monotonic()
    response = slack_http.command("/tradeoff")
    acked_in = time.monotonic() - started
    assert response.status_code == 200
    assert acked_in < 1.0
    assert slack_standin.wait_for("chat.postEphemeral")[0].at - started >= 1.5


# --- commands and clicks are acknowledged before Bolt runs them ------------------------------


class RecordingExecutor(ThreadPoolExecutor):
    """Bolt's listener pool, noting in ``events`` when a listener is handed to it."""

    def __init__(self, events: list[str]):
        super().__init__(max_workers=4)
        self.events = events

    def submit(self, fn, /, *args, **kwargs):
        self.events.append("listener")
        return super().submit(fn, *args, **kwargs)


def _call_asgi(asgi, body: str, headers: dict[str, str], events: list[str]) -> tuple[int, bytes]:
    """One request straight through the ASGI app, noting in ``events`` when the answer starts."""
    answer: dict = {"body": b""}

    async def run() -> None:
        async def receive() -> dict:
            return {"type": "http.request", "body": body.encode(), "more_body": False}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                events.append("answered")
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/slack/events", "raw_path": b"/slack/events", "query_string": b"", "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 5000), "server": ("northstar.test", 80),
        }
        await asgi(scope, receive, send)

    asyncio.run(run())
    return answer["status"], answer["body"]


def _signed(body: str, content_type: str, secret: str = SIGNING_SECRET) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


@pytest.fixture(params=["bolt-hands-over", "dispatched-on-the-pool"])
def recorded(request, settings, engine, web_client):
    """The early-acknowledging ASGI app as most tests build it (the dispatch on Starlette's thread
    pool) and as `run --http` does (the dispatch on the listener pool too)."""
    from bot.app import build_app
    from bot.http import build_asgi

    events: list[str] = []
    executor = RecordingExecutor(events)
    on_pool = request.param == "dispatched-on-the-pool"
    app = build_app(settings, engine=engine, client=web_client, listener_executor=executor)
    yield build_asgi(app, engine=engine, signing_secret=SIGNING_SECRET, listener_pool=executor if on_pool else None), events
    executor.shutdown(wait=True)


def test_a_command_is_answered_before_its_listener_is_started(recorded, slack_standin):
    asgi, events = recorded
    body = urlencode({"command": "/explain", "text": "help", "team_id": "T0FRAUD01", "user_id": "U1", "channel_id": "C1",
                      "response_url": "https://hooks.slack.invalid/commands/1"})
    status, _ = _call_asgi(asgi, body, _signed(body, "application/x-www-form-urlencoded"), events)
    assert status == 200
    # Bolt acknowledges only once a listener thread has started: under load the answer would queue
    # behind every reply being computed. Here the answer has gone before anything is handed over
    # (on the listener pool, the dispatch and then the listener).
    assert events[0] == "answered" and "listener" in events[1:]
    assert "/explain <term>" in slack_standin.wait_for("chat.postEphemeral")[0].params["text"]


def test_a_click_is_answered_before_its_listener_is_started(recorded, slack_standin):
    asgi, events = recorded
    payload = {"type": "block_actions", "team": {"id": "T0FRAUD01"}, "user": {"id": "U1", "team_id": "T0FRAUD01"},
               "channel": {"id": "C1", "name": "fraud"}, "api_app_id": "A0NORTHSTAR", "trigger_id": "1.2.3",
               "container": {"type": "message", "message_ts": "1.1", "channel_id": "C1"},
               "actions": [{"type": "button", "action_id": "alert_acknowledge", "block_id": "b", "value": "999999", "action_ts": "1.2"}]}
    body = urlencode({"payload": json.dumps(payload)})
    status, _ = _call_asgi(asgi, body, _signed(body, "application/x-www-form-urlencoded"), events)
    assert status == 200
    assert events[0] == "answered" and "listener" in events[1:]
    assert slack_standin.wait_for("chat.postEphemeral")[0].params["user"] == "U1"


@pytest.fixture
def saturated(settings, engine, web_client):
    """The ASGI app of a process whose listeners are all taken (``max_waiting`` 0)."""
    from bot.app import build_app
    from bot.http import build_asgi

    events: list[str] = []
    executor = RecordingExecutor(events)
    app = build_app(settings, engine=engine, client=web_client, listener_executor=executor)
    yield build_asgi(app, engine=engine, signing_secret=SIGNING_SECRET, listener_pool=executor, max_waiting=0), events
    executor.shutdown(wait=True)


def test_past_the_limit_of_waiting_listeners_a_command_is_declined_at_once_and_not_run(saturated, slack_standin):
    # A process that cannot keep up says so rather than answer later than anyone waits.
    from bot.http import BUSY

    asgi, events = saturated
    body = urlencode({"command": "/explain", "text": "help", "team_id": "T0FRAUD01", "user_id": "U1", "channel_id": "C1"})
    status, answer = _call_asgi(asgi, body, _signed(body, "application/x-www-form-urlencoded"), events)
    assert status == 200
    assert json.loads(answer) == {"response_type": "ephemeral", "text": BUSY}
    assert events == ["answered"]  # never handed to a listener
    metrics = _get(asgi, "/metrics")
    assert 'northstar_slack_requests_declined_total{kind="command"} 1' in metrics
    assert [c.method for c in slack_standin.calls if c.method != "auth.test"] == []


def test_past_the_limit_of_waiting_listeners_a_click_is_declined_through_its_response_url(saturated, slack_standin):
    from bot.http import BUSY

    asgi, events = saturated
    _Captured.posts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Captured)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        payload = {"type": "block_actions", "team": {"id": "T0FRAUD01"}, "user": {"id": "U1", "team_id": "T0FRAUD01"},
                   "channel": {"id": "C1", "name": "fraud"}, "api_app_id": "A0NORTHSTAR", "trigger_id": "1.2.3",
                   "response_url": f"http://127.0.0.1:{server.server_port}/actions/1",
                   "container": {"type": "message", "message_ts": "1.1", "channel_id": "C1"},
                   "actions": [{"type": "button", "action_id": "alert_acknowledge", "block_id": "b", "value": "1", "action_ts": "1.2"}]}
        body = urlencode({"payload": json.dumps(payload)})
        status, _ = _call_asgi(asgi, body, _signed(body, "application/x-www-form-urlencoded"), events)
    finally:
        server.shutdown()
        server.server_close()
    assert status == 200
    assert _Captured.posts == [{"text": BUSY, "response_type": "ephemeral", "replace_original": False}]
    assert events == ["answered"]
    assert [c.method for c in slack_standin.calls if c.method != "auth.test"] == []


def _get(asgi, path: str) -> str:
    async def run() -> str:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://northstar.test") as client:
            return (await client.get(path)).text

    return asyncio.run(run())


def test_the_listener_pool_counts_the_listeners_waiting_for_a_thread():
    from bot.runner import ListenerPool

    release = threading.Event()
    pool = ListenerPool(max_workers=2)
    try:
        futures = [pool.submit(release.wait, 10) for _ in range(5)]
        deadline = time.monotonic() + 5
        while pool.waiting() != 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool.waiting() == 3  # two running, three queued
        release.set()
        assert all(f.result(timeout=5) for f in futures)
        assert pool.waiting() == 0
    finally:
        release.set()
        pool.shutdown(wait=True)


def test_a_command_signed_with_another_secret_is_refused_and_never_run(recorded, slack_standin):
    asgi, events = recorded
    body = urlencode({"command": "/explain", "text": "help", "team_id": "T0FRAUD01", "user_id": "U1", "channel_id": "C1"})
    status, _ = _call_asgi(asgi, body, _signed(body, "application/x-www-form-urlencoded", secret=SIGNING_SECRET[::-1]), events)
    assert status == 401
    assert events == ["answered"]
    assert [c.method for c in slack_standin.calls if c.method != "auth.test"] == []


def test_requests_whose_answer_carries_something_still_wait_for_bolt(recorded):
    # A URL verification's answer is its challenge (a modal submission's, its field errors).
    asgi, events = recorded
    body = json.dumps({"type": "url_verification", "challenge": "c-42", "token": "legacy"})
    status, answer = _call_asgi(asgi, body, _signed(body, "application/json"), events)
    assert status == 200 and json.loads(answer)["challenge"] == "c-42"


class _Captured(BaseHTTPRequestHandler):
    posts: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        type(self).posts.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


def test_what_bolt_would_have_said_in_the_acknowledgement_goes_to_the_response_url(caplog):
    from slack_bolt.request import BoltRequest

    from bot.http import relay_late_answer

    _Captured.posts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Captured)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/commands/1"
        request = BoltRequest(body=urlencode({"command": "/metric", "text": "x", "response_url": url}), headers={})
        relay_late_answer(request, 200, "Northstar can't find its installation for this workspace.")
        assert _Captured.posts == [{"text": "Northstar can't find its installation for this workspace.", "response_type": "ephemeral",
                                    "replace_original": False}]
        with caplog.at_level(logging.WARNING, logger="bot.http"):
            relay_late_answer(request, 404, "")
        assert len(_Captured.posts) == 1
        assert "no listener answered a command request" in caplog.text
    finally:
        server.shutdown()
        server.server_close()


def test_bolts_dispatch_on_the_listener_pool_holds_no_compute_slot(settings, engine, web_client, slack_standin):
    # Bolt's authorization may call Slack (auth.test under OAuth, on every request): done while
    # holding a slot, four such calls would stop every listener of the process from computing.
    from slack_bolt.middleware import Middleware

    from bot import compute_slots
    from bot.app import build_app
    from bot.http import build_asgi
    from bot.runner import ListenerPool

    seen: list[object] = []

    class SlotSeen(Middleware):
        def process(self, *, req, resp, next):  # noqa: A002 (Bolt's name)
            seen.append(getattr(compute_slots._held, "slots", None))
            return next()

    pool = ListenerPool(max_workers=2, slots=compute_slots.ComputeSlots(1))
    try:
        app = build_app(settings, engine=engine, client=web_client, listener_executor=pool)
        app.use(SlotSeen())
        asgi = build_asgi(app, engine=engine, signing_secret=SIGNING_SECRET, listener_pool=pool)
        body = urlencode({"command": "/explain", "text": "help", "team_id": "T0FRAUD01", "user_id": "U1", "channel_id": "C1"})
        status, _ = _call_asgi(asgi, body, _signed(body, "application/x-www-form-urlencoded"), [])
        assert status == 200
        assert "/explain <term>" in slack_standin.wait_for("chat.postEphemeral")[0].params["text"]
    finally:
        pool.shutdown(wait=True)
    assert seen == [None]
