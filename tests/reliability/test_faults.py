"""Faults: the database restarting, the warehouse away for an hour, Slack answering 500s.

After each fault the test reads the bot's database and what the Slack stand-in recorded: no
snapshot, alert or message lost, none duplicated. Time is a fake clock throughout; the database
restarts are real (``pg_ctl stop -m fast`` / ``start``) on a private PostgreSQL cluster
(:mod:`tests.reliability.pg_cluster`), never the shared server other test runs use.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from bot.app import build_app
from bot.blocks import ids
from bot.http import build_asgi
from bot.jobs.audit import post_audit
from bot.jobs.pull import pull_contract
from bot.scheduler import STALE_AFTER, make_runner, run_due_jobs
from bot.settings import Settings
from storage.db import make_engine, session_scope, upgrade_database
from storage.models import AlertState, JobClaim, MetricSnapshot, OutboxMessage, OutboxStatus, SnapshotStatus
from storage.outbox import enqueue_message
from storage.warehouse.runner import Warehouse, connect_warehouse
from tests.bot.conftest import FRAUD_CHANNEL_ID, SIGNING_SECRET, TEAM, SlackHttp, seed_contract, seed_snapshot
from tests.bot.guardrails import CHANNEL, DailyWarehouse, alert_state, pull_day, seed_guardrail_contract
from tests.bot.jobs.test_scheduler import TEAM as SCHEDULED_TEAM
from tests.bot.jobs.test_scheduler import sync as sync_scheduled_contract
from tests.bot.outbox_faults import OutboxStandIn
from tests.bot.test_outbox_worker import FakeClock, closed_port, make_worker
from tests.reliability.pg_cluster import ClusterUnavailable, PrivateCluster

# The scheduled contract pulls daily at 06:00 UTC; day n of the warehouse is DAY1 + n.
FIRST_PULL = datetime(2026, 11, 12, 6, tzinfo=UTC)
METRICS = ("checkout_completion", "slot_change_rate", "suggest_latency_p95")
NO_WAIT = FixedValueRetryIntervalCalculator(0)


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    """One private PostgreSQL for the module (initdb + start take about a second)."""
    try:
        cluster = PrivateCluster.create()
    except ClusterUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the database-restart tests need a private PostgreSQL cluster: {exc}")
        pytest.skip(f"the database-restart tests need a private PostgreSQL cluster: {exc}")
    yield cluster
    cluster.destroy()


@pytest.fixture
def restartable(cluster: PrivateCluster) -> Iterator[Engine]:
    """An engine on a fresh, migrated database of the private cluster (running, whatever the last test did)."""
    cluster.ensure_running()
    engine = make_engine(cluster.url(cluster.create_database()))
    upgrade_database(engine)
    yield engine
    engine.dispose()
    cluster.ensure_running()


def quick_retry_client(api_url: str) -> WebClient:
    """The app's client with the production retry handlers, minus their wall-clock waits."""
    return WebClient(
        token="xoxb-standin-token",
        base_url=api_url,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=NO_WAIT),
            RateLimitErrorRetryHandler(max_retry_count=2, interval_calculator=NO_WAIT),
            ServerErrorRetryHandler(max_retry_count=2, interval_calculator=NO_WAIT),
        ],
    )


# --- reading the end state ------------------------------------------------------------------


def good_snapshots(engine: Engine) -> Counter:
    """How many good snapshots each (metric, window start, window end) has."""
    with Session(engine) as session:
        rows = session.exec(select(MetricSnapshot).where(MetricSnapshot.status == SnapshotStatus.OK)).all()
    return Counter((r.metric, r.window_start, r.window_end) for r in rows)


def failed_snapshots(engine: Engine) -> list[MetricSnapshot]:
    with Session(engine) as session:
        return list(session.exec(select(MetricSnapshot).where(MetricSnapshot.status == SnapshotStatus.FAILED).order_by(MetricSnapshot.id)).all())


def outbox_rows(engine: Engine) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())


def claims(engine: Engine) -> list[JobClaim]:
    with Session(engine) as session:
        return list(session.exec(select(JobClaim).order_by(JobClaim.period)).all())


def daily_windows(first_end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    ends = [first_end + timedelta(days=n) for n in range(days)]
    return [(end - timedelta(days=1), end) for end in ends]


def assert_one_good_snapshot_each(engine: Engine, windows: list[tuple[datetime, datetime]]) -> None:
    counts = good_snapshots(engine)
    expected = {(metric, start, end) for metric in METRICS for start, end in windows}
    found = {key: n for key, n in counts.items() if (key[1], key[2]) in set(windows)}
    assert set(found) == expected, f"missing: {sorted(expected - set(found))}"
    assert {key: n for key, n in found.items() if n != 1} == {}, "a window was pulled twice"


def deliver_all(engine: Engine, standin: OutboxStandIn, clock: FakeClock, *, passes: int = 6) -> None:
    """Outbox passes until nothing is left (replies wait for their parent's ts, edits for their target's)."""
    worker = make_worker(engine, standin, clock, worker_id="final", pacing_per_channel_s=0)
    for _ in range(passes):
        worker.run_once()
        clock.advance(1)


def assert_each_posted_once(engine: Engine, standin: OutboxStandIn) -> None:
    rows = outbox_rows(engine)
    assert [(r.idempotency_key, r.status, r.last_error) for r in rows if r.status != OutboxStatus.DELIVERED] == []
    for row in rows:
        if row.kind == "post":
            posted = standin.posted_with_key(row.idempotency_key)
            assert len(posted) == 1, f"{row.idempotency_key} is in Slack {len(posted)} times"
            assert posted[0].ts == row.delivered_ts


# --- 1. the database restarts during a pull ---------------------------------------------------


def hooked_factory(url: str, on_query: Callable[[int], None]) -> Callable[[str], Warehouse]:
    """Warehouses on ``url`` that call ``on_query(n)`` before running the n-th query (counted from 1)."""
    counter = itertools.count(1)

    class Hooked(Warehouse):
        def run(self, sql, **kwargs):
            on_query(next(counter))
            return super().run(sql, **kwargs)

    def connect(name: str) -> Warehouse:
        plain = connect_warehouse(name, url)
        return Hooked(name=name, engine=plain.engine, dialect=plain.dialect)

    return connect


@pytest.mark.postgres
@pytest.mark.parametrize("outage", ["restarted-within-the-pull", "down-past-the-tick"])
def test_a_database_restart_during_a_scheduled_pull_loses_and_repeats_nothing(cluster, restartable, tmp_path: Path, outage):
    engine = restartable
    sync_scheduled_contract(engine)
    warehouse = DailyWarehouse(tmp_path / "daily.duckdb")
    for day in range(4):
        warehouse.set_day(day, 0.5)  # slot_change_rate breaches its bound of 0.3 every day

    def cut(query: int) -> None:
        # The second metric's query: the first metric's snapshot is already stored.
        if query == 2:
            cluster.stop()
            if outage == "restarted-within-the-pull":
                cluster.start()

    now = [FIRST_PULL]
    runner = make_runner(engine=engine, settings=hooked_factory(warehouse.url, cut), clock=lambda: now[0],
                         pull=lambda **kw: pull_contract(**kw, sleep=lambda s: None))

    def tick(at: datetime):
        now[0] = at
        return run_due_jobs(engine=engine, now=at, replica_id="replica-a", runner=runner)

    if outage == "restarted-within-the-pull":
        assert [r.outcome for r in tick(FIRST_PULL)] == ["ran"]
    else:
        # The run fails and so does recording it: the claim is left 'running', as after a crash.
        with pytest.raises(OperationalError):
            tick(FIRST_PULL)
        cluster.start()
        assert tick(FIRST_PULL + timedelta(minutes=1)) == []  # not taken over while it may still be running
        retried = tick(FIRST_PULL + STALE_AFTER + timedelta(minutes=1))
        assert [(r.run.period, r.outcome) for r in retried] == [("2026-11-12T06:00Z", "ran")]
    assert [r.outcome for r in tick(FIRST_PULL + timedelta(days=1))] == ["ran"]

    assert_one_good_snapshot_each(engine, daily_windows(datetime(2026, 11, 12, tzinfo=UTC), 2))
    assert [(c.period, c.status) for c in claims(engine) if c.job_key.startswith("pull:")] == [
        ("2026-11-12T06:00Z", "done"), ("2026-11-13T06:00Z", "done")]
    alerts = [r for r in outbox_rows(engine) if r.idempotency_key.startswith("alert:")]
    assert len(alerts) == 1, [r.idempotency_key for r in alerts]
    with Session(engine) as session:
        [state] = session.exec(select(AlertState).where(AlertState.metric == "slot_change_rate")).all()
    assert (state.state, state.outbox_key) == ("violated", alerts[0].idempotency_key)


# --- 2. the database restarts during delivery ---------------------------------------------------


class PassFailed(logging.Handler):
    """Set when the worker's loop logs a failed pass (what a database outage looks like to it)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "outbox pass failed":
            self.event.set()


@pytest.mark.postgres
@pytest.mark.parametrize("moment", ["after-slack-answered", "after-the-claim"])
def test_a_database_restart_during_delivery_posts_every_message_exactly_once(cluster, restartable, moment):
    engine = restartable
    clock = FakeClock()
    standin = OutboxStandIn(clock=clock, team_id=TEAM).start()
    try:
        with session_scope(engine) as session:
            for key, channel, thread in [("k:alert", CHANNEL, None), ("k:other", "C0OTHER", None),
                                         ("k:reply1", CHANNEL, "k:alert"), ("k:reply2", CHANNEL, "k:alert")]:
                enqueue_message(session=session, team_id=TEAM, idempotency_key=key, kind="post", channel=channel,
                                payload={"text": f"message {key}"}, thread_key=thread, now=clock())
        lease_s = 600
        worker = make_worker(engine, standin, clock, worker_id="w1", lease_s=lease_s, idle_poll_s=0.01)
        if moment == "after-slack-answered":
            original = worker._call

            def call_then_lose_the_database(client, message):
                outcome = original(client, message)
                if message.idempotency_key == "k:alert":
                    cluster.stop()  # Slack has the alert; its ts is not recorded
                return outcome

            worker._call = call_then_lose_the_database
        else:
            original_claim = worker._claim
            stopped = []

            def claim_then_lose_the_database(now):
                claimed = original_claim(now)
                if claimed[0] and not stopped:
                    stopped.append(True)
                    cluster.stop()  # rows marked 'sending', nothing posted yet
                return claimed

            worker._claim = claim_then_lose_the_database
        failed = PassFailed()
        logging.getLogger("bot.outbox_worker").addHandler(failed)
        stop = threading.Event()
        thread = threading.Thread(target=worker.run_forever, args=(stop,), name="outbox-under-test")
        thread.start()
        try:
            assert failed.event.wait(20), "the pass that met the outage never failed"
            cluster.start()
            # The rows the dead pass held wait for their lease, in case that worker were alive.
            clock.advance(lease_s + 1)
            standin.wait_for("chat.postMessage", count=4)
        finally:
            stop.set()
            thread.join(timeout=20)
            logging.getLogger("bot.outbox_worker").removeHandler(failed)
        assert not thread.is_alive()
        deliver_all(engine, standin, clock, passes=2)

        assert_each_posted_once(engine, standin)
        alert, *replies = [p for p in standin.posted_in(CHANNEL)]
        assert [p.text for p in standin.posted_in(CHANNEL)] == ["message k:alert", "message k:reply1", "message k:reply2"]
        assert {p.thread_ts for p in replies} == {alert.ts}
        assert len(standin.calls_to("chat.postMessage")) == 4
    finally:
        standin.stop()


# --- 3. the HTTP app while the database is down ----------------------------------------------


@pytest.mark.postgres
def test_while_the_database_is_down_the_app_answers_politely_and_recovers_without_a_restart(
        cluster, restartable, settings, slack_standin, executor, fraud_histograms, caplog):
    engine = restartable
    contract_ids = seed_contract(engine, TEAM)
    for metric, histogram in fraud_histograms.items():
        c = histogram.confusion_at(0.7)
        seed_snapshot(engine, TEAM, contract_ids, metric, histogram=histogram,
                      value=c.recall if metric == "fraud_recall" else c.false_positive_rate)
    client = quick_retry_client(slack_standin.api_url)
    app = build_app(settings, engine=engine, client=client, listener_executor=executor)
    http = SlackHttp(build_asgi(app, engine=engine, signing_secret=SIGNING_SECRET))
    assert http.get("/healthz").status_code == 200

    cluster.stop()
    health = http.get("/healthz")
    assert health.status_code == 503 and health.json()["status"] == "unavailable"
    assert "northstar_database_up 0" in http.get("/metrics").text

    def answer_to(response) -> str:
        assert response.status_code == 200, (response.status_code, response.text)
        assert executor.drain() == []
        [call] = [c for c in slack_standin.calls[before:] if c.method == "chat.postEphemeral"]
        text = call.params["text"] + json.dumps(call.params.get("blocks"))
        assert "Traceback" not in text and "OperationalError" not in text and "psycopg" not in text
        return text

    # /explain needs no database for what a term means: it answers from the glossary, and says so.
    before = len(slack_standin.calls)
    explained = answer_to(http.command("/explain", "precision"))
    assert "Precision" in explained and "without your contract" in explained and "legitimate customers" not in explained
    for command, text in [("/metric", "fraud_recall"), ("/contract", "list"), ("/tradeoff", "fraud_recall"),
                          ("/launch", "fraud-screening"), ("/audit", "fraud-screening")]:
        before = len(slack_standin.calls)
        assert "reach its database" in answer_to(http.command(command, text)), command
    before = len(slack_standin.calls)
    click = http.interactive({
        "type": "block_actions", "team": {"id": TEAM}, "user": {"id": "U0ANALYST", "team_id": TEAM},
        "channel": {"id": FRAUD_CHANNEL_ID, "name": "fraud-ml"}, "api_app_id": "A0NORTHSTAR", "trigger_id": "1.2.3",
        "container": {"type": "message", "message_ts": "1700000001.000100", "channel_id": FRAUD_CHANNEL_ID},
        "message": {"ts": "1700000001.000100", "text": "alert"},
        "actions": [{"action_id": ids.ACTION_ALERT_ACKNOWLEDGE, "value": "1", "type": "button", "action_ts": "1700000002.1"}],
    })
    assert "reach its database" in answer_to(click)

    cluster.start()
    assert http.get("/healthz").status_code == 200
    assert "northstar_database_up 1" in http.get("/metrics").text
    before = len(slack_standin.calls)
    assert "legitimate customers" in answer_to(http.command("/explain", "precision"))  # the contract's own terms again
    before = len(slack_standin.calls)
    assert "reach its database" not in answer_to(http.command("/metric", "fraud_recall"))


@pytest.mark.postgres
def test_under_oauth_a_database_outage_is_not_taken_for_a_missing_installation(cluster, restartable, executor):
    """Bolt reads the workspace's token from the database before any listener runs, and takes a
    failed read for "not installed": the user must not be sent to reinstall when waiting is the fix."""
    engine = restartable
    standin = OutboxStandIn(clock=FakeClock(), team_id=TEAM).start()
    try:
        settings = Settings(slack_signing_secret=SIGNING_SECRET, slack_client_id="111.222", slack_client_secret="client-secret-value",
                            encryption_key=Fernet.generate_key().decode(), slack_api_url=standin.api_url, default_workspace=TEAM)
        app = build_app(settings, engine=engine, listener_executor=executor)
        app.oauth_flow.settings.installation_store.save(Installation(
            app_id="A0NORTHSTAR", team_id=TEAM, bot_token="xoxb-installed-token", bot_id="B0NORTH", bot_user_id="U0BOT",
            bot_scopes=["commands", "chat:write"], user_id="U0INSTALLER", installed_at=time.time()))
        http = SlackHttp(build_asgi(app, engine=engine, signing_secret=SIGNING_SECRET))
        cluster.stop()
        response = http.command("/metric", "fraud_recall", response_url=f"{standin.base_url}/respond/metric")
        assert response.status_code == 200
        assert executor.drain() == []
        [answer] = standin.calls_to("respond")
        assert "try again in a few minutes" in answer.params["text"]
    finally:
        standin.stop()


# --- 4. the warehouse unreachable for an hour -----------------------------------------------


def test_an_hour_without_the_warehouse_alerts_once_retries_with_backoff_and_fills_every_window(engine: Engine, tmp_path: Path):
    sync_scheduled_contract(engine)
    warehouse = DailyWarehouse(tmp_path / "daily.duckdb")
    for day in range(5):
        warehouse.set_day(day, 0.1)  # healthy: nothing to alert about but the pipeline
    down = [False]
    unreachable = f"postgresql+psycopg://northstar@127.0.0.1:{closed_port()}/warehouse"

    def factory(name: str) -> Warehouse:
        return connect_warehouse(name, unreachable if down[0] else warehouse.url, statement_timeout_s=5)

    now = [FIRST_PULL]
    pauses: list[float] = []
    runner = make_runner(engine=engine, settings=factory, clock=lambda: now[0], pull=lambda **kw: pull_contract(**kw, sleep=pauses.append))
    attempts: list[tuple[datetime, str]] = []

    def tick(at: datetime) -> None:
        now[0] = at
        for result in run_due_jobs(engine=engine, now=at, replica_id="replica-a", runner=runner):
            if result.run.kind == "pull":
                attempts.append((at, result.outcome))

    tick(FIRST_PULL)  # Thursday's pull, with the warehouse up
    outage_start = FIRST_PULL + timedelta(days=1)
    down[0] = True
    minute = timedelta(minutes=1)
    at = outage_start
    while at < outage_start + timedelta(minutes=90):
        if at >= outage_start + timedelta(hours=1):
            down[0] = False
        tick(at)
        at += minute
    tick(FIRST_PULL + timedelta(days=2))  # Saturday's pull, as usual

    during = [(t, outcome) for t, outcome in attempts if outage_start <= t < at]
    failed_at = [t for t, outcome in during if outcome == "failed"]
    ran_at = [t for t, outcome in during if outcome == "ran"]
    assert len(ran_at) == 1 and ran_at[0] >= outage_start + timedelta(hours=1), during
    assert ran_at[0] - failed_at[-1] <= timedelta(hours=1)
    gaps = [b - a for a, b in zip(failed_at, failed_at[1:] + ran_at)]
    assert gaps[0] >= 2 * minute and gaps == sorted(gaps), f"retries should back off: {gaps}"
    assert 3 <= len(failed_at) <= 8

    # Every failed attempt is kept with its reason; the in-pull retries waited on the fake clock.
    failures = failed_snapshots(engine)
    assert {f.pulled_at for f in failures} == set(failed_at)
    assert all("could not connect to the warehouse" in f.error for f in failures)
    assert Counter(f.metric for f in failures) == {m: 3 * len(failed_at) for m in METRICS}
    assert set(pauses) == {2.0, 4.0}
    assert_one_good_snapshot_each(engine, daily_windows(datetime(2026, 11, 12, tzinfo=UTC), 3))

    rows = outbox_rows(engine)
    alerts = [r for r in rows if r.idempotency_key.startswith("alert:")]
    assert len(alerts) == 1 and "could not be pulled" in alerts[0].payload["text"]
    resolutions = [r for r in rows if r.idempotency_key.startswith("resolution:")]
    assert sorted(m for r in resolutions for m in METRICS if f":{m}:pipeline:" in r.idempotency_key) == sorted(METRICS)
    assert {r.thread_key for r in resolutions} == {alerts[0].idempotency_key}
    assert [r.kind for r in rows if r not in alerts and r not in resolutions] == ["update"]
    assert not [r for r in rows if r.idempotency_key.startswith("reminder:")]

    clock = FakeClock(at)
    standin = OutboxStandIn(clock=clock, team_id=SCHEDULED_TEAM).start()
    try:
        deliver_all(engine, standin, clock)
        assert_each_posted_once(engine, standin)
        posted = standin.posted_in("C0CHECKOUT")
        assert posted[0].metadata["event_payload"]["key"] == alerts[0].idempotency_key
        assert {p.thread_ts for p in posted[1:]} == {posted[0].ts}
    finally:
        standin.stop()


# --- 5. Slack answering 500 for a while ------------------------------------------------------

SLACK_METHODS = ("chat.postMessage", "chat.postEphemeral", "chat.update", "conversations.history", "conversations.replies",
                 "files.getUploadURLExternal", "files.completeUploadExternal", "views.open")


def test_slack_answering_500_for_half_an_hour_loses_and_repeats_no_message(engine: Engine, tmp_path: Path, executor, caplog):
    start = datetime(2026, 11, 11, 6, tzinfo=UTC)
    clock = FakeClock(start)
    standin = OutboxStandIn(clock=clock, team_id=TEAM).start()
    try:
        settings = Settings(slack_bot_token="xoxb-standin-token", slack_signing_secret=SIGNING_SECRET,
                            slack_api_url=standin.api_url, default_workspace=TEAM, database_url="sqlite://")
        app = build_app(settings, engine=engine, client=quick_retry_client(standin.api_url), clock=clock, listener_executor=executor)
        http = SlackHttp(build_asgi(app, engine=engine, signing_secret=SIGNING_SECRET))
        seed_guardrail_contract(engine, TEAM)
        warehouse = DailyWarehouse(tmp_path / "daily.duckdb")
        assert [i.kind for i in pull_day(engine, warehouse, TEAM, 0, 0.4, now=start).intents] == ["alert"]

        for method in SLACK_METHODS:
            standin.fail(method, status=500, times=None)
        worker = make_worker(engine, standin, clock, worker_id="w1")
        worker.run_once()
        clock.advance(60)

        # While Slack is down: a command and a click come in; the click's change is kept (and its
        # edit of the alert queued), the replies Slack refuses are logged with a reference.
        with caplog.at_level(logging.INFO):
            assert http.command("/explain", "precision", channel=CHANNEL, channel_name="checkout").status_code == 200
            click = http.interactive({
                "type": "block_actions", "team": {"id": TEAM}, "user": {"id": "U0ONCALL", "team_id": TEAM},
                "channel": {"id": CHANNEL, "name": "checkout"}, "api_app_id": "A0NORTHSTAR", "trigger_id": "1.2.3",
                "container": {"type": "message", "message_ts": "1700000001.000100", "channel_id": CHANNEL},
                "message": {"ts": "1700000001.000100", "text": "alert"},
                "actions": [{"action_id": ids.ACTION_ALERT_ACKNOWLEDGE, "value": str(alert_state(engine, TEAM).id),
                             "type": "button", "action_ts": "1700000002.1"}],
            })
            assert click.status_code == 200
            assert executor.drain() == []
        reported = [r.getMessage() for r in caplog.records if r.name == "bot.app" and r.levelno >= logging.ERROR]
        assert len([m for m in reported if "unhandled error (ref " in m]) == 2, reported
        assert "xoxb-standin-token" not in caplog.text
        assert alert_state(engine, TEAM).acknowledged_by == "U0ONCALL"

        # Alerts and audits keep being queued: the breach recovers, the weekly audit is due.
        clock.advance(60)
        assert [i.kind for i in pull_day(engine, warehouse, TEAM, 1, 0.1, now=clock()).intents] == ["resolution"]
        post_audit(engine=engine, team_id=TEAM, contract_name="checkout-assist", week_end=datetime(2026, 11, 12).date(), now=clock())

        for _ in range(30):  # half an hour of 500s, a pass a minute
            worker.run_once()
            clock.advance(60)
        given_up = [(r.idempotency_key, r.last_error) for r in outbox_rows(engine) if r.status == OutboxStatus.FAILED]
        assert given_up == []
        assert standin.timeline == []

        standin.clear_failures()
        for _ in range(12):
            worker.run_once()
            clock.advance(60)

        assert_each_posted_once(engine, standin)
        rows = outbox_rows(engine)
        alert = next(r for r in rows if r.idempotency_key.startswith("alert:"))
        resolution = next(r for r in rows if r.idempotency_key.startswith("resolution:"))
        in_channel = [p.metadata["event_payload"]["key"] for p in standin.posted_in(CHANNEL)]
        assert in_channel.index(alert.idempotency_key) < in_channel.index(resolution.idempotency_key)
        assert resolution.thread_ts == alert.delivered_ts
        edits = [c for c in standin.calls_to("chat.update") if c.response and c.response.get("ok")]
        assert len(edits) == len([r for r in rows if r.kind == "update"]) >= 1
        assert {c.params["ts"] for c in edits} == {alert.delivered_ts}
    finally:
        standin.stop()
