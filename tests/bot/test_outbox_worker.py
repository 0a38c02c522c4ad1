"""The outbox worker against a real HTTP stand-in of Slack: every message delivered once, or failed with its reason."""

from __future__ import annotations

import base64
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.webhook import WebhookClient
from sqlalchemy import Engine

import bot.outbox_worker as outbox_worker
from bot.oauth import TokenDecryptionError
from bot.outbox_worker import (
    HISTORY_MARGIN,
    METADATA_EVENT_TYPE,
    OutboxWorker,
    failed_delivery_findings,
    make_worker_client,
    outbox_status,
)
from storage.db import session_scope
from storage.models import OutboxStatus
from storage.outbox import enqueue_message, get_message
from tests.bot.outbox_faults import OutboxStandIn

TEAM = "T0FRAUD01"
TOKEN = "xoxb-outbox-secret-token"
START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


class FakeClock:
    """Time that moves only when the worker sleeps or the test says so."""

    def __init__(self, start: datetime = START):
        self.now = start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        self.slept.append(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def standin(clock: FakeClock) -> Iterator[OutboxStandIn]:
    server = OutboxStandIn(clock=clock, team_id=TEAM).start()
    try:
        yield server
    finally:
        server.stop()


def make_worker(engine: Engine, standin: OutboxStandIn, clock: FakeClock, *, worker_id: str = "w1", timeout: float = 5, **options) -> OutboxWorker:
    options.setdefault("jitter", lambda: 0.0)  # backoff = half its step: 1 s, 2 s, 4 s …
    return OutboxWorker(
        engine=engine,
        client_for_team=lambda team: make_worker_client(token=TOKEN, base_url=standin.api_url, timeout=timeout),
        webhook_client_for=lambda url: WebhookClient(url=url, timeout=5, retry_handlers=[]),
        clock=clock,
        sleep=clock.sleep,
        worker_id=worker_id,
        **options,
    )


def enqueue(engine: Engine, clock: FakeClock, key: str, *, kind: str = "post", channel: str = "C0FRAUDML", payload: dict | None = None,
            team: str = TEAM, **extra):
    with session_scope(engine) as session:
        enqueue_message(
            session=session, team_id=team, idempotency_key=key, kind=kind, channel=channel,
            payload=payload if payload is not None else {"text": f"message {key}"}, now=clock(), **extra,
        )


def row(engine: Engine, key: str):
    with session_scope(engine) as session:
        message = get_message(session=session, idempotency_key=key)
        assert message is not None
        return message


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the plain path ---------------------------------------------------------------------------


def test_a_post_is_delivered_once_with_its_key_in_metadata_and_its_ts_recorded(engine, standin, clock):
    enqueue(engine, clock, "T0FRAUD01:audit:1", payload={"text": "weekly audit", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]})

    report = make_worker(engine, standin, clock).run_once()

    assert report.delivered == ["T0FRAUD01:audit:1"]
    [posted] = standin.posted_in("C0FRAUDML")
    assert posted.metadata == {"event_type": METADATA_EVENT_TYPE, "event_payload": {"key": "T0FRAUD01:audit:1"}}
    assert standin.calls_to("chat.postMessage")[0].params["blocks"][0]["text"]["text"] == "hi"
    assert standin.calls_to("chat.postMessage")[0].token == TOKEN
    delivered = row(engine, "T0FRAUD01:audit:1")
    assert (delivered.status, delivered.delivered_ts, delivered.attempts) == (OutboxStatus.DELIVERED, posted.ts, 1)
    assert make_worker(engine, standin, clock).run_once().claimed == 0
    assert len(standin.calls_to("chat.postMessage")) == 1


def test_update_edits_the_delivered_target_by_its_ts(engine, standin, clock):
    enqueue(engine, clock, "k:post")
    enqueue(engine, clock, "k:edit", kind="update", payload={"text": "edited"}, target_key="k:post")
    worker = make_worker(engine, standin, clock)

    worker.run_once()
    worker.run_once()

    [update] = standin.calls_to("chat.update")
    assert update.params["ts"] == row(engine, "k:post").delivered_ts
    assert update.params["text"] == "edited"
    assert row(engine, "k:edit").status == OutboxStatus.DELIVERED


def test_upload_sends_the_bytes_to_the_thread_of_its_parent(engine, standin, clock):
    enqueue(engine, clock, "k:audit")
    content = b"\x89PNG chart bytes"
    enqueue(engine, clock, "k:chart", kind="upload", thread_key="k:audit", payload={
        "file_b64": base64.b64encode(content).decode(), "filename": "recall.png", "title": "Recall", "initial_comment": "this week",
    })
    worker = make_worker(engine, standin, clock)

    worker.run_once()
    clock.advance(1)
    worker.run_once()

    assert list(standin.uploads.values()) == [content]
    [complete] = standin.calls_to("files.completeUploadExternal")
    assert complete.params["thread_ts"] == row(engine, "k:audit").delivered_ts
    assert complete.params["initial_comment"] == "this week"
    assert row(engine, "k:chart").status == OutboxStatus.DELIVERED


def test_ephemeral_goes_to_its_user(engine, standin, clock):
    enqueue(engine, clock, "k:eph", kind="ephemeral", payload={"text": "only you", "user": "U0ANALYST"})

    make_worker(engine, standin, clock).run_once()

    [call] = standin.calls_to("chat.postEphemeral")
    assert (call.params["user"], call.params["channel"]) == ("U0ANALYST", "C0FRAUDML")
    assert row(engine, "k:eph").status == OutboxStatus.DELIVERED


def test_respond_posts_the_body_to_the_response_url(engine, standin, clock):
    url = f"{standin.base_url}/respond/abc"
    enqueue(engine, clock, "k:resp", kind="respond", payload={"response_url": url, "text": "done", "response_type": "ephemeral"})

    make_worker(engine, standin, clock).run_once()

    [call] = standin.calls_to("respond")
    assert (call.params["url"], call.params["text"]) == ("/respond/abc", "done")
    assert "response_url" not in call.params
    assert row(engine, "k:resp").status == OutboxStatus.DELIVERED


def test_an_expired_response_url_fails_for_good(engine, standin, clock):
    enqueue(engine, clock, "k:resp", kind="respond", payload={"response_url": f"{standin.base_url}/respond/old", "text": "late"})
    standin.fail("respond", status=404, error="expired_url")

    make_worker(engine, standin, clock).run_once()

    failed = row(engine, "k:resp")
    assert (failed.status, failed.last_error) == (OutboxStatus.FAILED, "expired_url")


# --- failures ---------------------------------------------------------------------------------


def test_429_waits_exactly_retry_after_without_spending_an_attempt(engine, standin, clock):
    enqueue(engine, clock, "k:1")
    standin.fail("chat.postMessage", status=429, retry_after=7)
    worker = make_worker(engine, standin, clock)
    start = clock()

    report = worker.run_once()

    limited = row(engine, "k:1")
    assert report.retried == ["k:1"]
    assert (limited.status, limited.next_attempt_at, limited.attempts) == (OutboxStatus.PENDING, start + timedelta(seconds=7), 0)
    clock.advance(6.9)
    assert worker.run_once().claimed == 0
    clock.advance(0.1)
    assert worker.run_once().delivered == ["k:1"]
    assert len(standin.calls_to("chat.postMessage")) == 2
    assert len(standin.posted_with_key("k:1")) == 1


def test_a_429_holds_back_the_rest_of_the_channel_but_not_other_channels(engine, standin, clock):
    enqueue(engine, clock, "a:1", channel="CA")
    enqueue(engine, clock, "a:2", channel="CA")
    enqueue(engine, clock, "b:1", channel="CB")
    standin.fail("chat.postMessage", status=429, retry_after=30)

    report = make_worker(engine, standin, clock).run_once()

    assert report.retried == ["a:1"] and report.deferred == ["a:2"] and report.delivered == ["b:1"]
    assert row(engine, "a:2").next_attempt_at == START + timedelta(seconds=30)
    assert [c.params["channel"] for c in standin.calls_to("chat.postMessage")] == ["CA", "CB"]


def test_500_then_success_checks_the_channel_then_posts_once(engine, standin, clock):
    enqueue(engine, clock, "k:1")
    standin.fail("chat.postMessage", status=500)
    worker = make_worker(engine, standin, clock)

    assert worker.run_once().retried == ["k:1"]
    retried = row(engine, "k:1")
    assert retried.last_error.startswith("unconfirmed: HTTP 500")
    assert retried.next_attempt_at == START + timedelta(seconds=1)  # 2 s step, no jitter: half of it

    clock.advance(1)
    assert worker.run_once().delivered == ["k:1"]
    assert len(standin.calls_to("conversations.history")) == 1
    assert len(standin.posted_with_key("k:1")) == 1
    assert row(engine, "k:1").attempts == 2


def test_without_history_access_the_check_is_skipped_with_a_warning_and_the_message_posted(engine, standin, clock, caplog):
    enqueue(engine, clock, "k:1")
    standin.fail("chat.postMessage", status=500)
    standin.fail("conversations.history", error="missing_scope")
    worker = make_worker(engine, standin, clock)
    worker.run_once()
    clock.advance(1)

    with caplog.at_level(logging.WARNING, logger="bot.outbox_worker"):
        assert worker.run_once().delivered == ["k:1"]

    assert "missing_scope" in caplog.text and "k:1" in caplog.text
    assert len(standin.posted_with_key("k:1")) == 1


def test_a_timed_out_post_that_slack_made_is_adopted_not_posted_again(engine, standin, clock):
    enqueue(engine, clock, "k:1")
    standin.delay("chat.postMessage", seconds=1.0)
    worker = make_worker(engine, standin, clock, timeout=0.3)

    assert worker.run_once().retried == ["k:1"]
    assert row(engine, "k:1").last_error.startswith("unconfirmed: ")

    clock.advance(1)
    report = worker.run_once()

    [posted] = standin.posted_with_key("k:1")
    assert report.adopted == ["k:1"]
    assert len(standin.calls_to("chat.postMessage")) == 1
    assert row(engine, "k:1").delivered_ts == posted.ts


def test_connection_refused_backs_off_and_needs_no_check(engine, standin, clock):
    enqueue(engine, clock, "k:1")
    dead = make_worker_client(token=TOKEN, base_url=f"http://127.0.0.1:{closed_port()}/api/", timeout=2)
    live = make_worker_client(token=TOKEN, base_url=standin.api_url, timeout=5)
    clients = iter([dead, live])
    worker = make_worker(engine, standin, clock)
    worker.client_for_team = lambda team: next(clients)

    assert worker.run_once().retried == ["k:1"]
    assert row(engine, "k:1").last_error.startswith("connection failed")

    clock.advance(1)
    assert worker.run_once().delivered == ["k:1"]
    assert standin.calls_to("conversations.history") == []
    assert len(standin.posted_with_key("k:1")) == 1


@pytest.mark.parametrize(
    "error",
    ["channel_not_found", "not_in_channel", "invalid_blocks", "is_archived", "invalid_auth", "token_revoked",
     "account_inactive", "msg_too_long", "no_text"],
)
def test_a_permanent_error_fails_at_once_with_one_warning_and_no_retry(engine, standin, clock, caplog, error):
    enqueue(engine, clock, "k:1")
    standin.fail("chat.postMessage", error=error, times=None)
    worker = make_worker(engine, standin, clock)

    with caplog.at_level(logging.WARNING, logger="bot.outbox_worker"):
        report = worker.run_once()
        clock.advance(3600)
        worker.run_once()

    failed = row(engine, "k:1")
    assert report.failed == ["k:1"]
    assert (failed.status, failed.last_error) == (OutboxStatus.FAILED, error)
    assert len(standin.calls_to("chat.postMessage")) == 1
    [warning] = [r for r in caplog.records if r.name == "bot.outbox_worker"]
    assert "k:1" in warning.getMessage() and error in warning.getMessage()
    assert TOKEN not in caplog.text


def test_after_max_attempts_the_message_fails_with_the_last_error(engine, standin, clock):
    enqueue(engine, clock, "k:1")
    standin.fail("chat.postMessage", error="some_new_error", times=None)  # not known to be permanent
    worker = make_worker(engine, standin, clock, max_attempts=3)

    for _ in range(3):
        worker.run_once()
        clock.advance(60)
    worker.run_once()

    failed = row(engine, "k:1")
    assert failed.status == OutboxStatus.FAILED
    assert failed.last_error == "gave up after 3 attempts: some_new_error"
    assert len(standin.calls_to("chat.postMessage")) == 3
    assert standin.posted_with_key("k:1") == []


def test_a_slack_outage_is_waited_out_past_max_attempts_until_the_patience_runs_out(engine, standin, clock):
    enqueue(engine, clock, "k:1")
    standin.fail("chat.postMessage", status=503, times=None)
    worker = make_worker(engine, standin, clock, max_attempts=3, outage_patience_s=600)

    for _ in range(5):  # five minutes of 503s: more attempts than max_attempts, less than the patience
        worker.run_once()
        clock.advance(60)
    waiting = row(engine, "k:1")
    assert (waiting.status, waiting.attempts) == (OutboxStatus.PENDING, 5)

    clock.advance(600)
    worker.run_once()
    failed = row(engine, "k:1")
    assert (failed.status, failed.last_error) == (OutboxStatus.FAILED, "gave up after 6 attempts: HTTP 503")
    assert standin.posted_with_key("k:1") == []


def test_backoff_grows_and_jitter_spreads_it(engine, standin, clock):
    worker = make_worker(engine, standin, clock, jitter=lambda: 1.0, backoff_cap_s=10)
    assert [worker._backoff(n) for n in (1, 2, 3, 4, 5)] == [2, 4, 8, 10, 10]
    worker.jitter = lambda: 0.0
    assert worker._backoff(3) == 4


# --- crash between Slack's answer and the commit ------------------------------------------------


class Crash(BaseException):
    """The process dying: nothing after it runs, not even except Exception handlers."""


@pytest.mark.parametrize("threaded", [False, True], ids=["top-level", "reply"])
def test_a_worker_killed_after_slack_answered_is_not_posted_twice(engine, standin, clock, monkeypatch, threaded):
    worker = make_worker(engine, standin, clock, lease_s=600)
    extra = {}
    if threaded:
        enqueue(engine, clock, "k:parent")
        worker.run_once()
        extra = {"thread_key": "k:parent"}
        clock.advance(5)
    enqueue(engine, clock, "k:1", **extra)
    claimed_at = clock()

    def die(**kwargs):
        raise Crash

    monkeypatch.setattr(outbox_worker, "mark_delivered", die)
    with pytest.raises(Crash):
        worker.run_once()
    monkeypatch.undo()

    [posted] = standin.posted_with_key("k:1")
    stuck = row(engine, "k:1")
    assert (stuck.status, stuck.claimed_at) == (OutboxStatus.SENDING, claimed_at)
    # Within the lease, nobody touches it: the first worker might still be alive.
    clock.advance(599)
    assert make_worker(engine, standin, clock, worker_id="w2", lease_s=600).run_once().claimed == 0

    clock.advance(2)
    report = make_worker(engine, standin, clock, worker_id="w2", lease_s=600).run_once()

    assert report.adopted == ["k:1"]
    assert len(standin.posted_with_key("k:1")) == 1
    assert len(standin.calls_to("chat.postMessage")) == (2 if threaded else 1)
    lookup = standin.calls_to("conversations.replies" if threaded else "conversations.history")[-1]
    assert float(lookup.params["oldest"]) == pytest.approx((claimed_at - HISTORY_MARGIN).timestamp())
    assert str(lookup.params["include_all_metadata"]).lower() in ("true", "1")
    delivered = row(engine, "k:1")
    assert (delivered.status, delivered.delivered_ts) == (OutboxStatus.DELIVERED, posted.ts)


def test_a_worker_killed_before_slack_saw_the_message_posts_it_after_the_lease(engine, standin, clock, monkeypatch):
    enqueue(engine, clock, "k:1")
    worker = make_worker(engine, standin, clock, lease_s=60)

    def die(*args, **kwargs):
        raise Crash

    monkeypatch.setattr(worker, "_call", die)
    with pytest.raises(Crash):
        worker.run_once()

    clock.advance(61)
    report = make_worker(engine, standin, clock, worker_id="w2", lease_s=60).run_once()

    assert report.delivered == ["k:1"]
    assert len(standin.calls_to("conversations.history")) == 1
    assert len(standin.posted_with_key("k:1")) == 1


# --- pacing and order -------------------------------------------------------------------------


def test_five_messages_to_one_channel_take_four_seconds_and_let_another_channel_in(engine, standin, clock):
    for n in range(5):
        enqueue(engine, clock, f"a:{n}", channel="CA")
    enqueue(engine, clock, "b:0", channel="CB")
    enqueue(engine, clock, "b:1", channel="CB")

    report = make_worker(engine, standin, clock).run_once()

    assert len(report.delivered) == 7
    a_times = [float(p.ts) for p in standin.posted_in("CA")]
    assert [p.text for p in standin.posted_in("CA")] == [f"message a:{n}" for n in range(5)]
    assert all(later - earlier >= 1.0 for earlier, later in zip(a_times, a_times[1:]))
    assert a_times[-1] - a_times[0] >= 4.0
    assert clock() - START >= timedelta(seconds=4)
    order = [c.params["channel"] for c in standin.calls_to("chat.postMessage")]
    assert order[:4] == ["CA", "CB", "CA", "CB"]  # CB is served while CA waits its turn


def test_a_long_pacing_wait_hands_the_message_back_instead_of_sleeping(engine, standin, clock):
    enqueue(engine, clock, "a:0", channel="CA")
    enqueue(engine, clock, "a:1", channel="CA")
    worker = make_worker(engine, standin, clock, pacing_per_channel_s=10)

    report = worker.run_once()

    assert report.delivered == ["a:0"] and report.deferred == ["a:1"]
    assert clock.slept == []
    waiting = row(engine, "a:1")
    assert (waiting.status, waiting.attempts, waiting.next_attempt_at) == (OutboxStatus.PENDING, 0, START + timedelta(seconds=10))


def test_replies_queued_before_their_parent_follow_it_with_its_ts(engine, standin, clock):
    enqueue(engine, clock, "k:reply1", thread_key="k:parent")
    enqueue(engine, clock, "k:reply2", thread_key="k:parent")
    worker = make_worker(engine, standin, clock)
    assert worker.run_once().claimed == 0

    enqueue(engine, clock, "k:parent")
    assert worker.run_once().delivered == ["k:parent"]
    clock.advance(1)
    assert worker.run_once().delivered == ["k:reply1", "k:reply2"]

    parent, reply1, reply2 = standin.posted_in("C0FRAUDML")
    assert parent.metadata["event_payload"]["key"] == "k:parent"
    assert (reply1.text, reply2.text) == ("message k:reply1", "message k:reply2")
    assert reply1.thread_ts == reply2.thread_ts == parent.ts
    assert row(engine, "k:reply2").thread_ts == parent.ts


def test_a_reply_does_not_overtake_an_earlier_reply_that_is_waiting_to_retry(engine, standin, clock):
    enqueue(engine, clock, "k:parent")
    worker = make_worker(engine, standin, clock)
    worker.run_once()
    clock.advance(1)
    enqueue(engine, clock, "k:reply1", thread_key="k:parent")
    enqueue(engine, clock, "k:reply2", thread_key="k:parent")
    standin.fail("chat.postMessage", status=500)

    first = worker.run_once()
    assert first.retried == ["k:reply1"] and first.deferred == ["k:reply2"]
    # reply2 alone is due (its hand-back time came first): it must still wait for reply1.
    clock.advance(0.5)
    with session_scope(engine) as session:
        reply2 = get_message(session=session, idempotency_key="k:reply2")
        reply2.next_attempt_at = clock()
        session.add(reply2)
    assert worker.run_once().deferred == ["k:reply2"]

    for _ in range(4):
        clock.advance(2)
        worker.run_once()

    texts = [p.text for p in standin.posted_in("C0FRAUDML")]
    assert texts == ["message k:parent", "message k:reply1", "message k:reply2"]


def test_a_workspace_whose_token_cannot_be_had_waits_without_holding_up_the_others(engine, standin, clock, caplog):
    broken = "T0BROKEN1"
    enqueue(engine, clock, "k:broken1", team=broken, channel="C0OTHER")
    enqueue(engine, clock, "k:broken2", team=broken, channel="C0OTHER")
    enqueue(engine, clock, "k:fine")
    worker = make_worker(engine, standin, clock)
    working_client = worker.client_for_team
    asked: list[str] = []

    def client_for_team(team: str):
        asked.append(team)
        if team == broken and not repaired:
            raise TokenDecryptionError(f"stored bot_token for team {team} does not decrypt: check NORTHSTAR_ENCRYPTION_KEY")
        return working_client(team)

    repaired = False
    worker.client_for_team = client_for_team
    with caplog.at_level(logging.ERROR, logger="bot.outbox_worker"):
        report = worker.run_once()

    assert report.delivered == ["k:fine"]
    assert report.retried == ["k:broken1"] and report.deferred == ["k:broken2"] and report.failed == []
    assert asked.count(broken) == 1, "one lookup per workspace and pass"
    assert [r.getMessage() for r in caplog.records if r.name == "bot.outbox_worker"] == [f"outbox: cannot make a Slack client for workspace {broken}; its messages wait"]
    assert row(engine, "k:broken1").status == "pending" and broken in (row(engine, "k:broken1").last_error or "")

    # Like an outage, the messages outlast max_attempts while the key is being put right.
    for _ in range(10):
        clock.advance(400)
        worker.run_once()
    assert row(engine, "k:broken1").status == "pending" and row(engine, "k:broken1").attempts > worker.max_attempts
    repaired = True
    clock.advance(400)
    worker.run_once()
    assert [p.text for p in standin.posted_in("C0OTHER")] == ["message k:broken1", "message k:broken2"]


# --- several workers --------------------------------------------------------------------------


def first_call_waits_at(barrier: threading.Barrier, client_for_team):
    waited = False

    def wrapped(team: str):
        nonlocal waited
        if not waited:
            waited = True
            barrier.wait()
        return client_for_team(team)

    return wrapped


def test_two_workers_never_deliver_the_same_message_twice(engine, standin):
    clock = FakeClock()
    keys = [f"k:{n}" for n in range(40)]
    for n, key in enumerate(keys):
        enqueue(engine, clock, key, channel=f"C{n % 8}")
    workers = [make_worker(engine, standin, clock, worker_id=f"w{i}", batch_size=5, pacing_per_channel_s=0) for i in range(2)]
    # Each worker's first delivery waits until the other has claimed a batch too, so the two
    # really overlap however the threads happen to be scheduled.
    both_claimed = threading.Barrier(len(workers), timeout=10)
    for worker in workers:
        worker.client_for_team = first_call_waits_at(both_claimed, worker.client_for_team)
    errors: list[BaseException] = []
    delivered_by: dict[str, list[str]] = {w.worker_id: [] for w in workers}
    start = threading.Barrier(len(workers))

    def drain(worker: OutboxWorker) -> None:
        try:
            start.wait()
            for _ in range(100):
                if all(r.status == "delivered" for r in outbox_status(engine)):
                    return
                delivered_by[worker.worker_id] += worker.run_once().delivered
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(c.params["metadata"]["event_payload"]["key"] for c in standin.calls_to("chat.postMessage")) == sorted(keys)
    assert {r.status for r in outbox_status(engine)} == {"delivered"}
    assert sorted(delivered_by["w0"] + delivered_by["w1"]) == sorted(keys)
    assert delivered_by["w0"] and delivered_by["w1"], "both workers should have taken part"


def test_run_forever_delivers_until_stopped(engine, standin, clock):
    enqueue(engine, clock, "k:1")
    worker = make_worker(engine, standin, clock, idle_poll_s=0.01)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    thread.start()
    try:
        standin.wait_for("chat.postMessage")
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(standin.posted_with_key("k:1")) == 1


# --- reading the outbox -----------------------------------------------------------------------


def test_status_and_findings_show_permanent_failures(engine, standin, clock):
    enqueue(engine, clock, "k:ok", channel="C0FRAUDML")
    enqueue(engine, clock, "k:gone", channel="C0GONE")
    standin.known_channels = {"C0FRAUDML"}

    make_worker(engine, standin, clock).run_once()

    assert [(r.key, r.status) for r in outbox_status(engine)] == [("k:ok", "delivered"), ("k:gone", "failed")]
    [failed] = outbox_status(engine, failed_only=True)
    assert (failed.key, failed.last_error) == ("k:gone", "channel_not_found")
    [finding] = failed_delivery_findings(engine, team_id=TEAM)
    assert (finding.key, finding.channel, finding.error) == ("k:gone", "C0GONE", "channel_not_found")
    assert "<#C0GONE>" in finding.reason and "channel_not_found" in finding.reason
    assert failed_delivery_findings(engine, team_id=TEAM, channel="C0FRAUDML") == []
    assert failed_delivery_findings(engine, team_id="T0OTHER02") == []
    assert failed_delivery_findings(engine, team_id=TEAM, since=START + timedelta(seconds=1)) == []


def test_an_edit_goes_to_the_channel_id_slack_answered_with(engine, slack_standin):
    # chat.update accepts only a channel id; a post may have named the channel "#fraud-ml".
    with session_scope(engine) as session:
        enqueue_message(session=session, team_id="T0EDIT", idempotency_key="edit:post", kind="post", channel="#fraud-ml", payload={"text": "first"})
        enqueue_message(session=session, team_id="T0EDIT", idempotency_key="edit:update", kind="update", channel="#fraud-ml", target_key="edit:post", payload={"text": "second"})
    clock = [datetime.now(UTC) + timedelta(seconds=1)]
    worker = OutboxWorker(
        engine=engine, client_for_team=lambda team: make_worker_client(token="xoxb-t", base_url=slack_standin.api_url),
        worker_id="edit", clock=lambda: clock[0], sleep=lambda s: None, jitter=lambda: 0.5,
    )
    for _ in range(5):
        worker.run_once(clock[0])
        clock[0] += timedelta(seconds=2)
    updates = slack_standin.calls_to("chat.update")
    with session_scope(engine) as session:
        rows = [(m.idempotency_key, m.status, m.last_error, m.channel) for m in (get_message(session=session, idempotency_key=k) for k in ("edit:post", "edit:update"))]
    assert len(updates) == 1, (rows, [c.method for c in slack_standin.calls])
    assert updates[0].params["channel"] == "CFRAUDML"
