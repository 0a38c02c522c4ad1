"""Load and replicas: signed commands and clicks at 200/s against `northstar run --http`, then two
replicas with schedulers on one PostgreSQL schema posting every scheduled audit exactly once.

Usage::

    python benchmarks/bench_load.py [--rate 200] [--seconds 60] [--workers 2] [--short] [--no-replicas]
        [--database postgresql+psycopg://postgres@127.0.0.1:5432/test] [--json summary.json]

Phase 1, load. A fresh schema holds the fraud contract (twelve weeks of snapshots and experiment
data), two contracts sharing a channel, contracts with breached guardrails (alert states and
their posted alerts) and pending launch decisions. ``northstar run --http --no-scheduler
--workers 2`` runs as its own processes (one per core of a 2-core machine; its CPU time and
memory are summed over them); the Slack Web API stand-in runs in a process of its own and records every
call; this process only sends. Requests go out open loop (request *i* is due at ``i / rate``)
over ``--connections`` keep-alive connections, mixed:

* ``/explain precision``, ``/metric fraud_recall``, ``/contract show fraud-screening``, and a
  smaller share of ``/tradeoff`` (a chart per answer, the heaviest command);
* Acknowledge on a guardrail alert (the first click records it, later ones hear who did);
* Approve on a launch scorecard by someone who is not a signer (refused politely), and by each
  signer in turn on fresh decisions (the last one approves the launch);
* the "which contract?" button under an answer in a channel that two contracts share.

Every request carries its own user id (signers excepted), so each reply is matched to its
request in the stand-in's record. An error is a non-2xx answer, a failed request, an ack later
than Slack's 3 seconds, a request still unsent when the run is cut off (30 s after its end), a
missing reply after ``--reply-timeout``, a reply that is not the expected one (an error message,
a usage hint), or a Slack call the stand-in refused. Reported: achieved rate, errors, ack p50/p95/p99/max
(target p99 < 100 ms), final reply percentiles per kind, the server's RSS every second (start,
peak, end, slope over the second half), its CPU time, and the machine.

Phase 2, replicas (``--replicas 2``, the default; ``--no-replicas`` skips it). A second fresh
schema holds ``--audit-contracts`` contracts per audit round, each in a channel of its own.
Round 1's audit fell due a moment before the replicas start (caught up on start); round *r* is
due at the (r-1)-th minute boundary after that. Two ``northstar run --http`` processes with their
schedulers and outbox workers share the schema and the stand-in; once every audit is delivered
the stand-in's ``chat.postMessage`` record must hold each audit message exactly once.

Exit code 1 when there was any error or an audit was missing or posted twice; a missed latency
target is printed (MISSED / met) but does not fail the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np
from slack_sdk.signature import SignatureVerifier

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks._harness import (  # noqa: E402
    CHANNEL_ID,
    CHANNEL_NAME,
    DEFAULT_DATABASE,
    FRAUD_YAML,
    SlowSlack,
    command_body,
    cpu_by_process,
    cpu_seconds,
    free_port,
    fresh_schema,
    machine,
    percentiles,
    rss_bytes,
    schema_url,
    seed_contract,
    start_server,
    stop_server,
    wait_healthy,
    weekly_histograms,
)
from bot.standin import DEFAULT_TEAM  # noqa: E402

SIGNING_SECRET = "bench-" + os.urandom(16).hex()
BOT_TOKEN = "xoxb-bench-" + os.urandom(8).hex()
TEAM = DEFAULT_TEAM
SIGNERS = ("U0FRAUDPM", "U0FRAUDENG", "U0FRAUDDS")  # the fraud contract's pm, eng, ds
ROLE_LABELS = dict(zip(SIGNERS, ("PM", "Eng", "DS")))
SHARED_CHANNEL_ID, SHARED_CHANNEL_NAME = "C0RISKSHARED", "risk-shared"
ACK_TARGET_P99_S = 0.100
# Slack shows the user an error when the ack takes longer than this: such a request failed.
SLACK_ACK_DEADLINE_S = 3.0
# A run that has not finished sending by then is cut off: a stuck server cannot hold it forever.
HARD_STOP_S = 30
# Memory counts as stable when the second half's trend adds less than this per minute.
STABLE_GROWTH_PER_MIN = 0.02
MIN_JUDGED_S = 20
ERROR_TEXT = "Something went wrong"

# Shares of the mix (normalised); /tradeoff comes from --tradeoff-share.
MIX = {
    "explain": 0.35,
    "metric": 0.15,
    "contract_show": 0.10,
    "acknowledge": 0.12,
    "approve_refused": 0.08,
    "approve": 0.08,
    "choose_contract": 0.12,
}
# What the reply to each kind must contain (the usage hint or an error message would not).
EXPECTED = {
    "explain": ("Precision",),
    "metric": ("fraud caught",),
    "contract_show": ("Card fraud screening",),
    "tradeoff": ("fraud caught",),
    "acknowledge": ("cknowledged",),
    "approve_refused": ("Only the signers of fraud-screening",),
    "approve": (":white_check_mark: approved",),
    "choose_contract": ("fraud caught",),
}


# --- the stand-in, in a process of its own --------------------------------------------------


def _texts(blocks: Any) -> list[str]:
    """Every text a message's blocks show, in order."""
    if isinstance(blocks, dict):
        found = [blocks["text"]] if isinstance(blocks.get("text"), str) else []
        return found + [t for key, value in blocks.items() if key != "text" or not isinstance(value, str) for t in _texts(value)]
    if isinstance(blocks, list):
        return [t for item in blocks for t in _texts(item)]
    return []


def _summary(call) -> tuple:
    """What the load process needs of one recorded call (never the uploaded bytes)."""
    params = call.params
    blocks = params.get("blocks")
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            blocks = None
    text = "\n".join([str(params.get("text") or ""), *_texts(blocks)])
    metadata = params.get("metadata")
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            metadata = None
    key = ((metadata or {}).get("event_payload") or {}).get("key") if isinstance(metadata, dict) else None
    response = call.response or {}
    return (
        call.method,
        params.get("user"),
        params.get("channel") or params.get("channel_id"),
        params.get("ts"),
        text[:4000],
        key,
        call.at,
        bool(response.get("ok", True)) if call.response is not None else None,
        response.get("error"),
    )


def _standin_main(connection, delay_s: float) -> None:
    standin = SlowSlack(team_id=TEAM, delay_s=delay_s).start()
    connection.send(standin.api_url)
    try:
        while True:
            request, argument = connection.recv()
            # Slicing and len() of the record are atomic; the stand-in only ever appends to it.
            if request == "calls":
                connection.send([_summary(c) for c in standin.calls[argument:]])
            elif request == "count":
                connection.send(len(standin.calls))
            else:
                connection.send(None)
                return
    except (EOFError, KeyboardInterrupt):
        return
    finally:
        standin.stop()


@dataclass(frozen=True)
class Recorded:
    method: str
    user: str | None
    channel: str | None
    ts: str | None
    text: str
    key: str | None
    at: float
    ok: bool | None
    error: str | None


class StandInProcess:
    """The Slack stand-in (:mod:`bot.standin`) in a child process, so that serving the server's
    Web API calls competes neither with the load for this process's interpreter lock nor skews
    its clock readings."""

    def __init__(self, *, delay_s: float = 0.0):
        context = multiprocessing.get_context("fork")  # started before any thread of this process
        self._connection, child = context.Pipe()
        self.process = context.Process(target=_standin_main, args=(child, delay_s), name="slack-standin", daemon=True)
        self.process.start()
        self.api_url: str = self._connection.recv()

    def count(self) -> int:
        self._connection.send(("count", None))
        return self._connection.recv()

    def calls(self, since: int = 0) -> list[Recorded]:
        self._connection.send(("calls", since))
        return [Recorded(*row) for row in self._connection.recv()]

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                self._connection.send(("stop", None))
                self._connection.recv()
            except (BrokenPipeError, EOFError):
                pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


# --- phase 1: seed --------------------------------------------------------------------------


def contract_yaml(name: str, channel: str, *, title: str | None = None, audit: str | None = None, pull: str | None = None,
                  timezone: str | None = None) -> str:
    """The fraud example renamed into ``channel``, with another schedule when given."""
    text = FRAUD_YAML.replace("name: fraud-screening", f"name: {name}").replace('channel: "#fraud-ml"', f'channel: "#{channel}"')
    if title:
        text = text.replace("title: Card fraud screening", f"title: {title}")
    if audit:
        text = text.replace('audit: "0 9 * * mon"', f'audit: "{audit}"')
    if pull:
        text = text.replace('pull: "0 6 * * *"', f'pull: "{pull}"')
    if timezone:
        text = text.replace("timezone: Europe/London", f"timezone: {timezone}")
    return text


@dataclass
class Seeded:
    alert_states: list[tuple[int, str]]  # (state id, channel id)
    decisions: list[tuple[str, str]]  # (decision id, message ts)


def _proportions(control: tuple[int, int], treatment: tuple[int, int]) -> dict:
    """An experiment pull's stats for a proportion metric: (successes, trials) per arm."""
    arm = lambda pair: {"successes": pair[0], "trials": pair[1]}  # noqa: E731
    return {"type": "proportion", "control": "control", "treatment": "v2", "variants": {"control": arm(control), "v2": arm(treatment)}}


def _means(control: float, treatment: float, n: int = 20_000, sd: float = 5.0) -> dict:
    """An experiment pull's stats for a mean metric: count, sum and sum of squares per arm."""
    arm = lambda mean: {"n": n, "sum": n * mean, "sum_sq": n * mean**2 + (n - 1) * sd**2}  # noqa: E731
    return {"type": "mean", "control": "control", "treatment": "v2", "variants": {"control": arm(control), "v2": arm(treatment)}}


def seed_load(engine, *, alert_contracts: int, decisions: int) -> Seeded:
    """Everything phase 1's requests touch; see the module docstring."""
    from bot.blocks.alerts import build_alert
    from bot.launches import experiment_snapshot_key, request_decision
    from metrics.evaluation import Finding
    from storage import launches as launch_repo
    from storage import snapshots as snapshot_repo
    from storage.alerts import get_alert_state, upsert_alert_state
    from storage.db import session_scope
    from storage.models import AlertStatus
    from storage.outbox import enqueue_message

    history = weekly_histograms()
    fraud_ids = seed_contract(engine, TEAM, history=history)
    for name in ("risk-a", "risk-b"):
        seed_contract(engine, TEAM, contract_yaml(name, SHARED_CHANNEL_NAME, title=f"Risk {name[-1].upper()}"), history=history)

    # The experiment's arms, so that /launch builds a scorecard that does not block.
    now = datetime.now(UTC)
    arms = {"fraud_recall": _proportions((800, 1000), (880, 1000)), "premium_false_positive_rate": _proportions((150, 10_000), (150, 10_000)),
            "scoring_latency_p95": _means(100.0, 100.0)}
    with session_scope(engine) as session:
        for metric, stats in arms.items():
            snapshot_repo.add_snapshot(
                session=session, team_id=TEAM, contract_id=fraud_ids[0], contract_version_id=fraud_ids[1],
                metric=experiment_snapshot_key("model-v2", metric), window_start=now - timedelta(days=14), window_end=now, stats=stats,
            )
    first = request_decision(engine, team_id=TEAM, contract_name="fraud-screening", requested_by="U0REQUESTER", now=now)
    assert first.view.recommendation != "block", first.view.recommendation
    found_decisions = []
    with session_scope(engine) as session:
        for number in range(decisions):
            row = launch_repo.create_decision(
                session=session, team_id=TEAM, contract_id=fraud_ids[0], contract_version_id=fraud_ids[1], requested_by="U0REQUESTER",
                channel=CHANNEL_ID, scorecard=first.view.scorecard.to_dict(), recommendation=first.view.recommendation,
                expires_at=now + timedelta(days=7), experiment="model-v2", requested_at=now,
            )
            row.message_ts = f"1700000000.{number:06d}"
            session.add(row)
            found_decisions.append((row.id, row.message_ts))

    # Contracts with breached guardrails: each breach's state and its posted alert with buttons.
    states = []
    guardrails = ("premium_false_positive_rate", "false_positive_rate_by_region", "customer_appeal_rate")
    for number in range(1, alert_contracts + 1):
        name = f"alerts-{number:02d}"
        contract_id, _ = seed_contract(engine, TEAM, contract_yaml(name, name))
        channel_id = f"C0ALERTS{number:02d}"
        with session_scope(engine) as session:
            for metric in guardrails:
                key = f"alert:{TEAM}:{name}:{metric}:bench"
                assert upsert_alert_state(session=session, team_id=TEAM, contract_id=contract_id, metric=metric, expected_revision=0,
                                          state=AlertStatus.VIOLATED, since=now, last_value=0.05, outbox_key=key,
                                          message_channel=channel_id, message_ts=f"1700000100.{number:03d}")
            session.flush()
            rows = [get_alert_state(session=session, team_id=TEAM, contract_id=contract_id, metric=m) for m in guardrails]
            for row in rows:
                finding = Finding(metric=row.metric, check="bound", status="violated", severity="critical",
                                  reason=f"{row.metric} is 5% (at most 2%)", title=row.metric, value=0.05, high=0.02, unit="%")
                payload = build_alert(contract_title=name, findings=[(finding, row.id)], signers=dict(zip(("pm", "eng", "ds"), SIGNERS)),
                                      since=now)
                enqueue_message(session=session, team_id=TEAM, idempotency_key=row.outbox_key, kind="post", channel=f"#{name}",
                                payload=payload, now=now)
                states.append((row.id, channel_id))
    return Seeded(alert_states=states, decisions=found_decisions)


# --- phase 1: plan and send -----------------------------------------------------------------


@dataclass
class Request:
    index: int
    kind: str
    due: float  # seconds after the start, then absolute (monotonic) once sent
    wire: bytes = b""
    user: str | None = None  # whose ephemeral reply answers it
    reply_ts: str | None = None  # the message a signer's vote redraws
    sent: float = 0.0
    acked: float = 0.0
    status: int | None = None
    error: str | None = None
    replied: float | None = None
    reply_text: str | None = None
    bad_reply: str | None = None


def _wire(body: str, port: int, timestamp: str) -> bytes:
    """The whole HTTP request, signed as Slack signs it."""
    data = body.encode()
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=body)
    head = (
        f"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(data)}\r\nX-Slack-Request-Timestamp: {timestamp}\r\nX-Slack-Signature: {signature}\r\n\r\n"
    )
    return head.encode() + data


def _click(action_id: str, value: str, *, user: str, channel: tuple[str, str], message_ts: str, action_ts: str, block_id: str) -> str:
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "northstar"},
        "user": {"id": user, "team_id": TEAM},
        "channel": {"id": channel[0], "name": channel[1]},
        "api_app_id": "A0NORTHSTAR",
        "trigger_id": f"{user}.{action_ts}.bench",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel[0]},
        "message": {"ts": message_ts, "text": "message"},
        "actions": [{"type": "button", "action_id": action_id, "block_id": block_id, "value": value, "action_ts": action_ts}],
    }
    return urlencode({"payload": json.dumps(payload)})


def kinds_for(count: int, tradeoff_share: float, seed: int = 7) -> list[str]:
    """``count`` request kinds in the mix's proportions, shuffled with a fixed seed."""
    shares = {**{k: v * (1 - tradeoff_share) / sum(MIX.values()) for k, v in MIX.items()}, "tradeoff": tradeoff_share}
    kinds: list[str] = []
    for kind, share in shares.items():
        kinds += [kind] * round(count * share)
    kinds = (kinds + ["explain"] * count)[:count]
    random.Random(seed).shuffle(kinds)
    return kinds


def signer_votes(count: int) -> list[tuple[int, int]]:
    """(signer, decision) for each of ``count`` signer clicks: every decision gets the pm's vote in
    the first third of the run, the eng's in the second and the ds's (approving it) in the last,
    so that no two votes on one decision are close in time and each redraw names its click."""
    per_round = max(1, math.ceil(count / len(SIGNERS)))
    return [(min(j // per_round, len(SIGNERS) - 1), j % per_round) for j in range(count)]


def plan(rate: float, seconds: float, tradeoff_share: float, seeded: Seeded, port: int, *, prefix: str, first_decision: int = 0) -> list[Request]:
    """Every request of a run, built and signed before the clock starts."""
    count = int(rate * seconds)
    kinds = kinds_for(count, tradeoff_share)
    votes = iter(signer_votes(kinds.count("approve")))
    timestamp = str(int(time.time()))
    choice = json.dumps({"c": "/metric", "t": "fraud_recall", "n": "risk-a"}, separators=(",", ":"))
    fraud = (CHANNEL_ID, CHANNEL_NAME)
    requests = []
    for i, kind in enumerate(kinds):
        user = f"{prefix}{i:08d}"
        item = Request(index=i, kind=kind, due=i / rate, user=user)
        action_ts = f"{timestamp}.{prefix}{i:06d}"
        if kind == "explain":
            body = command_body("/explain", "precision", user)
        elif kind == "metric":
            body = command_body("/metric", "fraud_recall", user)
        elif kind == "contract_show":
            body = command_body("/contract", "show fraud-screening", user)
        elif kind == "tradeoff":
            body = command_body("/tradeoff", "", user)
        elif kind == "acknowledge":
            state_id, channel_id = seeded.alert_states[i % len(seeded.alert_states)]
            body = _click("alert_acknowledge", str(state_id), user=user, channel=(channel_id, "alerts"), message_ts="1700000100.000001",
                          action_ts=action_ts, block_id=f"alert-{state_id}")
        elif kind == "approve_refused":
            decision_id, ts = seeded.decisions[i % len(seeded.decisions)]
            body = _click("launch_approve", decision_id, user=user, channel=fraud, message_ts=ts, action_ts=action_ts, block_id="launch_actions")
        elif kind == "approve":
            signer, decision = next(votes)
            decision_id, ts = seeded.decisions[first_decision + decision]
            item.user, item.reply_ts = SIGNERS[signer], ts
            body = _click("launch_approve", decision_id, user=SIGNERS[signer], channel=fraud, message_ts=ts, action_ts=action_ts,
                          block_id="launch_actions")
        elif kind == "choose_contract":
            body = _click("choose_contract:0", choice, user=user, channel=(SHARED_CHANNEL_ID, SHARED_CHANNEL_NAME), message_ts="1700000200.000001",
                          action_ts=action_ts, block_id="choose")
        else:
            raise AssertionError(kind)
        item.wire = _wire(body, port, timestamp)
        requests.append(item)
    return requests


def decisions_needed(rate: float, seconds: float, tradeoff_share: float) -> int:
    kinds = kinds_for(int(rate * seconds), tradeoff_share)
    return max(1, math.ceil(kinds.count("approve") / len(SIGNERS)))


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Status and whether the server will close the connection; the body is read and dropped."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("connection closed before an answer")
    status = int(status_line.split()[1])
    length, chunked, close = 0, False, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            close = True
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, close


@dataclass
class Samples:
    """The server's RSS and CPU time, once a second: (seconds since start, bytes, CPU seconds)."""

    points: list[tuple[float, int, float]] = field(default_factory=list)


async def send_all(port: int, requests: list[Request], *, connections: int, seconds: float, pid: int | None = None,
                   samples: Samples | None = None, timeout: float = 10.0) -> float:
    """Send ``requests`` on schedule over ``connections`` keep-alive connections; returns the wall time."""
    loop = asyncio.get_running_loop()
    work: asyncio.Queue[Request | None] = asyncio.Queue()
    hard_stop = loop.time() + seconds + HARD_STOP_S

    async def connect():
        return await asyncio.open_connection("127.0.0.1", port)

    opened = [await connect() for _ in range(connections)]  # opened before the clock starts

    async def client(streams) -> None:
        reader, writer = streams
        while True:
            item = await work.get()
            if item is None or loop.time() > hard_stop:
                break
            try:
                if writer is None:
                    reader, writer = await connect()
                item.sent = loop.time()
                writer.write(item.wire)
                item.status, close = await asyncio.wait_for(_read_response(reader), timeout)
                item.acked = loop.time()
                if close:
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, IndexError) as exc:
                item.acked = loop.time()
                item.error = type(exc).__name__
                if writer is not None:
                    writer.close()
                writer = None
        if writer is not None:
            writer.close()

    async def sample(started: float) -> None:
        while pid is not None and samples is not None:
            rss, cpu = rss_bytes(pid), cpu_seconds(pid)
            if rss is None or cpu is None:
                return
            samples.points.append((loop.time() - started, rss, cpu))
            await asyncio.sleep(1.0)

    clients = [asyncio.create_task(client(streams)) for streams in opened]
    started = loop.time()
    sampler = asyncio.create_task(sample(started))
    for item in requests:
        delay = started + item.due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if loop.time() > hard_stop:
            break
        item.due += started
        work.put_nowait(item)
    for _ in clients:
        work.put_nowait(None)
    # Past the hard stop nothing more is sent; what is on its way gets its own timeout to answer.
    await asyncio.wait(clients, timeout=max(0.1, hard_stop - loop.time()) + timeout)
    wall = loop.time() - started
    sampler.cancel()
    for task in clients:
        task.cancel()
    for item in requests:
        if item.sent and item.status is None and item.error is None:
            item.error = f"no answer {HARD_STOP_S + timeout:g} s after the run's end"
    return wall


# --- phase 1: replies -----------------------------------------------------------------------


def match_replies(standin: StandInProcess, requests: list[Request], *, since: int, timeout: float) -> list[Recorded]:
    """Find each acknowledged request's reply in the stand-in's record, waiting up to ``timeout``
    for the stragglers; returns the calls that answered nobody's request (refusals to signers)."""
    by_user = {r.user: r for r in requests if r.kind != "approve"}
    by_dm = {"D" + r.user[1:]: r for r in requests if r.kind == "tradeoff"}
    votes: dict[str, list[Request]] = defaultdict(list)
    for r in sorted((r for r in requests if r.kind == "approve" and r.sent), key=lambda r: r.sent):
        votes[r.reply_ts].append(r)
    expected = sum(1 for r in requests if r.status == 200)
    deadline = time.monotonic() + timeout
    calls: list[Recorded] = []
    while True:
        calls += standin.calls(since + len(calls))
        found = _assign(calls, requests, by_user, by_dm, votes)
        if found >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    signers = set(SIGNERS)
    return [c for c in calls if c.method == "chat.postEphemeral" and c.user in signers]


def _assign(calls: list[Recorded], requests: list[Request], by_user, by_dm, votes) -> int:
    """Match ``calls`` to requests (from scratch: the record only grows); returns how many are answered."""
    ephemeral: dict[str, Recorded] = {}
    uploads: dict[str, float] = {}
    updates: dict[str, list[Recorded]] = defaultdict(list)
    for call in calls:
        if call.method == "chat.postEphemeral" and call.user in by_user:
            ephemeral.setdefault(call.user, call)
        elif call.method == "files.completeUploadExternal" and call.channel in by_dm:
            uploads.setdefault(call.channel, call.at)
        elif call.method == "chat.update" and call.ts in votes:
            updates[call.ts].append(call)
    for user, r in by_user.items():
        call = ephemeral.get(user)
        r.reply_text, r.replied = (call.text, call.at) if call is not None else (None, None)
        if r.kind == "tradeoff" and call is not None:
            # The chart, uploaded to the asker's DM after the answer, is the last part of it.
            chart = uploads.get("D" + user[1:])
            r.replied = max(call.at, chart) if chart is not None else None
    for ts, clicks in votes.items():
        for r, call in zip(clicks, sorted(updates[ts], key=lambda c: c.at)):
            r.reply_text, r.replied = call.text, call.at
    return sum(1 for r in requests if r.replied is not None)


def judge(requests: list[Request]) -> None:
    for r in requests:
        if r.reply_text is None:
            continue
        if ERROR_TEXT in r.reply_text:
            r.bad_reply = r.reply_text[:200]
        elif not any(expected in r.reply_text for expected in EXPECTED[r.kind]):
            r.bad_reply = r.reply_text[:200]
        elif r.kind == "approve" and f"<@{r.user}> ({ROLE_LABELS[r.user]}) :white_check_mark: approved" not in r.reply_text:
            r.bad_reply = "the redrawn scorecard does not show the vote: " + r.reply_text[:200]


# --- phase 1: report ------------------------------------------------------------------------


def memory_report(samples: Samples) -> dict[str, Any]:
    points = samples.points
    if len(points) < 2:
        return {"samples": len(points)}
    times = np.array([p[0] for p in points])
    rss = np.array([p[1] for p in points]) / 2**20
    half = times >= times[-1] / 2
    slope = float(np.polyfit(times[half], rss[half], 1)[0]) * 60 if half.sum() >= 2 else 0.0
    return {
        "samples": len(points), "start_mb": float(rss[0]), "peak_mb": float(rss.max()), "end_mb": float(rss[-1]),
        "second_half_slope_mb_per_min": slope,
        # A trend over a few seconds says nothing: a short run reports the figures only.
        "stable": slope < STABLE_GROWTH_PER_MIN * float(rss[half].mean()) if times[-1] >= MIN_JUDGED_S else None,
    }


def report_load(requests: list[Request], wall: float, args, samples: Samples, server_cpu: float | None, stray: list[Recorded],
                refused_calls: list[Recorded]) -> dict[str, Any]:
    print(f"\nmachine: {machine()}")
    print(f"load: {len(requests)} requests planned at {args.rate:g}/s for {args.seconds:g} s over {args.connections} connections; "
          f"mix {dict(Counter(r.kind for r in requests))}")
    sent = [r for r in requests if r.sent]
    acked = [r for r in requests if r.status is not None and 200 <= r.status < 300]
    print(f"achieved: {len(sent) / wall:.1f} sent/s, {len(acked) / wall:.1f} acknowledged/s over {wall:.1f} s")
    lag = [r.sent - r.due for r in sent]
    if lag:
        print(f"send lag behind schedule: p99 {np.percentile(lag, 99) * 1000:.1f} ms, max {max(lag) * 1000:.1f} ms "
              f"(large when all {args.connections} connections were waiting on the server, or this process could not keep up)")
    failed = [r for r in requests if r.sent and not (r.status is not None and 200 <= r.status < 300)]
    late = [r for r in acked if r.acked - r.sent > SLACK_ACK_DEADLINE_S]
    unsent = [r for r in requests if not r.sent]
    missing = [r for r in acked if r.replied is None]
    bad = [r for r in acked if r.bad_reply]
    acks = [r.acked - r.sent for r in acked]
    ack_p99 = float(np.percentile(acks, 99)) if acks else None
    print(f"\nack (request sent → HTTP answer), all kinds: {percentiles(acks)}")
    print(f"ack counted from when each was due (adds waiting for a free connection): {percentiles([r.acked - r.due for r in acked])}")
    met = ack_p99 is not None and ack_p99 < ACK_TARGET_P99_S
    print(f"  p99 target {ACK_TARGET_P99_S * 1000:.0f} ms: {'met' if met else 'MISSED'}")
    print("final reply (request sent → last Slack call of the answer), per kind:")
    per_kind = {}
    for kind in sorted({r.kind for r in requests}):
        mine = [r for r in acked if r.kind == kind]
        replies = [r.replied - r.sent for r in mine if r.replied is not None]
        per_kind[kind] = {"acked": len(mine), "replied": len(replies),
                          "reply_p95_ms": float(np.percentile(replies, 95) * 1000) if replies else None}
        print(f"  {kind:<16} {len(mine):6d} acked  reply {percentiles(replies)}")
    print("server-side ack histogram by kind (le seconds: count), warm-up included: " + args.server_histogram)
    if server_cpu is not None:
        print(f"server CPU: {server_cpu:.1f} s over {wall:.1f} s ({server_cpu / wall:.2f} of a core; "
              f"{server_cpu / max(len(acked), 1) * 1000:.1f} ms per request, replies included)")
    memory = memory_report(samples)
    if memory.get("samples", 0) >= 2:
        print(f"server RSS, {memory['samples']} samples 1 s apart: start {memory['start_mb']:.1f} MB, peak {memory['peak_mb']:.1f} MB, "
              f"end {memory['end_mb']:.1f} MB; second-half slope {memory['second_half_slope_mb_per_min']:+.2f} MB/min → "
              + {True: "memory stable", False: "memory GROWING", None: f"too short to judge (under {MIN_JUDGED_S} s)"}[memory["stable"]])
    else:
        print(f"server RSS: only {memory.get('samples', 0)} samples (run too short to judge)")
    errors = len(failed) + len(late) + len(unsent) + len(missing) + len(bad) + len(stray) + len(refused_calls)
    print(f"\nerrors: {errors} — {len(failed)} non-2xx or failed, {len(late)} acknowledged after Slack's {SLACK_ACK_DEADLINE_S:g} s, "
          f"{len(unsent)} never sent, {len(missing)} without a reply "
          f"after {args.reply_timeout:g} s, {len(bad)} unexpected replies, {len(refused_calls)} Slack calls refused by the stand-in, "
          f"{len(stray)} refusals to signers")
    for label, rows in (("failed", failed), ("without a reply", missing), ("unexpected reply", bad)):
        for r in rows[:3]:
            print(f"  e.g. {label}: #{r.index} {r.kind} status={r.status} error={r.error} reply={(r.bad_reply or r.reply_text or '')[:160]!r}")
    for call in (refused_calls + stray)[:3]:
        print(f"  e.g. {call.method} to {call.user or call.channel}: ok={call.ok} error={call.error} text={call.text[:120]!r}")
    return {
        "planned": len(requests), "sent": len(sent), "acked": len(acked), "wall_s": wall, "errors": errors,
        "failed": len(failed), "late_acks": len(late), "unsent": len(unsent), "missing_replies": len(missing), "unexpected_replies": len(bad),
        "refused_calls": len(refused_calls), "signer_refusals": len(stray),
        "ack_ms": dict(zip(("p50", "p95", "p99"), (float(x) for x in np.percentile(acks, [50, 95, 99]) * 1000))) if acks else None,
        "ack_target_met": met, "per_kind": per_kind, "server_cpu_s": server_cpu, "memory": memory,
    }


def server_histogram(base: str) -> str:
    try:
        lines = httpx.get(f"{base}/metrics", timeout=5).text.splitlines()
    except httpx.HTTPError as exc:
        return f"unavailable ({type(exc).__name__})"
    rows: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        if line.startswith("northstar_slack_request_seconds_bucket"):
            kind = line.split('kind="')[1].split('"')[0]
            rows[kind].append(line.split('le="')[1].replace('"}', ":"))
    return "; ".join(f"{kind}: " + ", ".join(values) for kind, values in sorted(rows.items()))


def run_load_phase(args, standin: StandInProcess, log) -> dict[str, Any]:
    from storage.db import make_engine, upgrade_database

    with fresh_schema(args.database, "bench_load") as schema:
        database_url = schema_url(args.database, schema)
        engine = make_engine(database_url)
        upgrade_database(engine)
        warmup_seconds = min(1.0 if args.short else 2.0, args.seconds)
        decisions = decisions_needed(args.rate, args.seconds, args.tradeoff_share)
        warm_decisions = decisions_needed(args.rate, warmup_seconds, args.tradeoff_share)
        started = time.monotonic()
        seeded = seed_load(engine, alert_contracts=args.alert_contracts, decisions=decisions + warm_decisions)
        engine.dispose()
        print(f"schema {schema}: fraud contract with 12 weeks of snapshots and experiment data, 2 contracts sharing "
              f"#{SHARED_CHANNEL_NAME}, {len(seeded.alert_states)} breached guardrails, {len(seeded.decisions)} pending launch decisions "
              f"(seeded in {time.monotonic() - started:.1f} s)")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(database_url, standin.api_url, port, log, signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN,
                              workers=args.workers)
        try:
            wait_healthy(server, base, timeout=60)
            print(f"server pid {server.pid} on {base} (--no-scheduler, --workers {args.workers}; CPU and memory are of all its processes); Slack stand-in pid {standin.process.pid} on {standin.api_url}; "
                  f"load generator pid {os.getpid()}")

            # The first seconds at the full rate are not measured: first-use costs (imports on first
            # call, pools, threads) are shown on their own so that a cold start stays visible.
            mark = standin.count()
            warmup = plan(args.rate, warmup_seconds, args.tradeoff_share, seeded, port, prefix="UW", first_decision=decisions)
            asyncio.run(send_all(port, warmup, connections=args.connections, seconds=warmup_seconds))
            match_replies(standin, warmup, since=mark, timeout=args.reply_timeout)
            print(f"warm-up ({len(warmup)} requests, not counted): ack {percentiles([r.acked - r.sent for r in warmup if r.status == 200])}")

            mark = standin.count()
            requests = plan(args.rate, args.seconds, args.tradeoff_share, seeded, port, prefix="UL")
            samples = Samples()
            cpu_before, own_before = cpu_seconds(server.pid), time.process_time()
            by_process_before = cpu_by_process(server.pid)
            stand_before = cpu_seconds(standin.process.pid)
            wall = asyncio.run(send_all(port, requests, connections=args.connections, seconds=args.seconds, pid=server.pid, samples=samples))
            own_cpu = time.process_time() - own_before
            cpu_after = cpu_seconds(server.pid)
            by_process = {pid: seconds - by_process_before.get(pid, 0.0) for pid, seconds in cpu_by_process(server.pid).items()}
            stray = match_replies(standin, requests, since=mark, timeout=args.reply_timeout)
            stand_cpu = (cpu_seconds(standin.process.pid) or 0) - (stand_before or 0)
            judge(requests)
            refused = [c for c in standin.calls(mark) if c.ok is False]
            args.server_histogram = server_histogram(base)
            server_cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
            summary = report_load(requests, wall, args, samples, server_cpu, stray, refused)
            # The kernel spreads connections over the workers' sockets by their addresses: even on
            # average, and this shows how even it was in this run.
            print("server CPU by process: " + ", ".join(
                f"{'supervisor' if pid == server.pid else 'worker'} {pid} {seconds:.1f} s" for pid, seconds in sorted(by_process.items())))
            print(f"load generator: {own_cpu:.1f} CPU s ({own_cpu / wall:.2f} of a core); Slack stand-in: {stand_cpu:.1f} CPU s "
                  f"({stand_cpu / wall:.2f} of a core), replies included")
            return summary
        finally:
            stop_server(server)


# --- phase 2: replicas ----------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledAudit:
    contract: str
    channel: str
    due: datetime
    key: str


def audit_key(team_id: str, contract: str, due: datetime) -> str:
    """The outbox key of the audit due then (:func:`bot.jobs.audit.audit_key`, for the week ending on
    the due date in the contract's time zone, UTC here); its chart and replies extend it. Spelt
    out rather than imported: importing the audit job costs this process seconds of CPU."""
    return f"audit:{team_id}:{contract}:{due:%Y-%m-%d}"


def seed_audits(engine, *, rounds: int, per_round: int, now: datetime) -> list[ScheduledAudit]:
    """``per_round`` contracts per round, each audited daily at its round's minute (UTC), in a channel
    of its own; pulls never fall due. Round 1's minute has just passed, round *r*'s is r-1 minutes
    later. Every contract is made to look ten minutes old: a contract created after its audit's
    time (seeding may cross a minute) would rightly not be audited until the next day."""
    from sqlmodel import col, update

    from storage.db import session_scope
    from storage.models import Contract

    history = weekly_histograms()
    boundary = now.replace(second=0, microsecond=0)
    audits = []
    for round_number in range(1, rounds + 1):
        due = boundary + timedelta(minutes=round_number - 1)
        for number in range(1, per_round + 1):
            name = f"audit-{round_number}-{number:02d}"
            text = contract_yaml(name, name, title=f"Audited {round_number}.{number}", audit=f"{due.minute} {due.hour} * * *",
                                 pull="0 0 1 1 *", timezone="UTC")
            seed_contract(engine, TEAM, text, history=history)
            audits.append(ScheduledAudit(contract=name, channel=f"#{name}", due=due, key=audit_key(TEAM, name, due)))
    with session_scope(engine) as session:
        names = [a.contract for a in audits]
        session.exec(update(Contract).where(col(Contract.name).in_(names)).values(created_at=now - timedelta(minutes=10)))
    return audits


def _outbox_progress(engine, keys: list[str]) -> tuple[int, int, int]:
    """(audits queued, audit rows not yet delivered, audit rows failed) in the outbox."""
    from sqlmodel import Session, col, select

    from storage.models import OutboxMessage, OutboxStatus

    with Session(engine) as session:
        rows = session.exec(select(OutboxMessage.idempotency_key, OutboxMessage.status).where(col(OutboxMessage.idempotency_key).like("audit:%"))).all()
    queued = {key for key, _ in rows}
    return (sum(1 for k in keys if k in queued), sum(1 for _, s in rows if s in (OutboxStatus.PENDING, OutboxStatus.SENDING)),
            sum(1 for _, s in rows if s == OutboxStatus.FAILED))


def run_replicas_phase(args, standin: StandInProcess, logs) -> dict[str, Any]:
    from sqlmodel import Session, col, select

    from storage.db import make_engine, upgrade_database
    from storage.models import JobClaim, OutboxMessage

    started = time.monotonic()
    with fresh_schema(args.database, "bench_replicas") as schema:
        database_url = schema_url(args.database, schema)
        engine = make_engine(database_url)
        upgrade_database(engine)
        audits = seed_audits(engine, rounds=args.audit_rounds, per_round=args.audit_contracts, now=datetime.now(UTC))
        last_due = max(a.due for a in audits)
        print(f"\nschema {schema}: {len(audits)} contracts, each in its channel, audits due at "
              + ", ".join(sorted({f'{a.due:%H:%M} UTC' for a in audits})) + f" ({args.audit_contracts} each; seeded in {time.monotonic() - started:.1f} s)")
        mark = standin.count()
        servers = []
        try:
            for number in range(args.replicas):
                port = free_port()
                servers.append((start_server(database_url, standin.api_url, port, logs[number], signing_secret=SIGNING_SECRET,
                                             bot_token=BOT_TOKEN, scheduler=True), f"http://127.0.0.1:{port}"))
            for server, base in servers:
                wait_healthy(server, base, timeout=60)
            print(f"{args.replicas} replicas with scheduler and outbox worker: pids {', '.join(str(s.pid) for s, _ in servers)} "
                  f"(healthy {time.monotonic() - started:.1f} s after seeding began)")

            # Done when every audit is queued and nothing of it is left to deliver, after the last round fell due.
            deadline = max(time.time(), last_due.timestamp()) + args.audit_timeout
            keys = [a.key for a in audits]
            while True:
                queued, undelivered, failed = _outbox_progress(engine, keys)
                if (queued == len(keys) and undelivered == 0 and time.time() >= last_due.timestamp()) or time.time() > deadline:
                    break
                if any(server.poll() is not None for server, _ in servers):
                    break
                time.sleep(0.5)
            alive = [server.poll() is None for server, _ in servers]
            print(f"audits delivered {time.monotonic() - started:.1f} s after seeding began")
        finally:
            for server, _ in servers:
                stop_server(server)
        with Session(engine) as session:
            claims = session.exec(select(JobClaim).where(col(JobClaim.job_key).like("audit:%"))).all()
            rows = session.exec(select(OutboxMessage).where(col(OutboxMessage.idempotency_key).like("audit:%"))).all()
            delivered_by = Counter(m.claimed_by for m in rows)
            outbox = {m.idempotency_key: f"{m.status} after {m.attempts} attempt(s){': ' + m.last_error if m.last_error else ''}" for m in rows}
        engine.dispose()
    pids = {str(server.pid): number for number, (server, _) in enumerate(servers, start=1)}

    calls = standin.calls(mark)
    posted = Counter(c.key for c in calls if c.method == "chat.postMessage" and c.key and c.key.startswith("audit:"))
    uploads = Counter(c.channel for c in calls if c.method == "files.completeUploadExternal")
    counts = {a.key: posted.get(a.key, 0) for a in audits}
    missing = [k for k, n in counts.items() if n == 0]
    twice = {k: n for k, n in posted.items() if n > 1}
    unexpected = [k for k in posted if not any(k == a.key or k.startswith(a.key + ":") for a in audits)]
    channels = {a.channel: a for a in audits}
    upload_counts = {a.contract: sum(n for ch, n in uploads.items() if ch in (a.channel, "C" + a.channel[1:].upper().replace("-", ""))) for a in channels.values()}
    print(f"audits expected: {len(audits)}; audit messages posted: {sum(counts.values())} "
          f"(per audit: {dict(sorted(Counter(counts.values()).items()))} — count: how many audits); "
          f"thread replies posted: {sum(n for k, n in posted.items() if ':reply:' in k)}; charts uploaded: {sum(upload_counts.values())}")
    print(f"missing: {len(missing)}; posted more than once (message or reply): {len(twice)}; unexpected audit posts: {len(unexpected)}")
    # A replica claims as host:pid:nonce.
    by_replica = Counter(f"replica {pids.get(c.claimed_by.split(':')[-2], '?')}" for c in claims)
    print(f"audit runs claimed: {len(claims)} ({', '.join(f'{n} by {name}' for name, n in sorted(by_replica.items()))}); "
          f"audit outbox rows delivered by each outbox worker: {sorted(delivered_by.values(), reverse=True)}")
    if not all(alive):
        print("a replica exited during the run: see its output below")
    exactly_once = not missing and not twice and not unexpected and all(n == 1 for n in upload_counts.values()) and all(alive)
    print("every scheduled audit posted exactly once" if exactly_once else "NOT exactly once")
    for key in missing[:3]:
        runs = [f"{c.period} {c.status} by {c.claimed_by}{' (' + c.error + ')' if c.error else ''}" for c in claims if key.startswith(c.job_key + ":")]
        print(f"  e.g. missing {key}: claims {runs or 'none'}, outbox {outbox.get(key, 'nothing queued')}")
    for key, n in list(twice.items())[:3]:
        print(f"  e.g. {key} posted {n} times")
    return {
        "expected": len(audits), "posted": sum(counts.values()), "missing": missing, "duplicates": twice, "unexpected": unexpected,
        "uploads": upload_counts, "claims_by_replica": dict(by_replica), "replicas_alive": alive, "exactly_once": exactly_once,
    }


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=None, help="requests per second (default 200; 50 with --short)")
    parser.add_argument("--seconds", type=float, default=None, help="how long to send (default 60; 5 with --short)")
    parser.add_argument("--short", action="store_true", help="the test suite's version: 50/s for 5 s, one audit round")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections the load is spread over (default 64)")
    parser.add_argument("--workers", type=int, default=2, help="HTTP worker processes of the server in phase 1 (default 2)")
    parser.add_argument("--tradeoff-share", type=float, default=0.05, help="fraction of requests that are /tradeoff (default 0.05)")
    parser.add_argument("--alert-contracts", type=int, default=None, help="contracts with three breached guardrails each (default 10; 3 with --short)")
    parser.add_argument("--database", default=DEFAULT_DATABASE, help=f"PostgreSQL URL (default {DEFAULT_DATABASE})")
    parser.add_argument("--slack-latency-ms", type=float, default=0.0,
                        help="delay the stand-in adds to every Web API call, like the real Slack's (default 0)")
    parser.add_argument("--reply-timeout", type=float, default=30.0, help="how long to wait for the last replies (default 30 s)")
    parser.add_argument("--replicas", type=int, default=2, help="replicas in phase 2 (default 2)")
    parser.add_argument("--no-replicas", dest="replicas", action="store_const", const=0, help="skip phase 2")
    parser.add_argument("--no-load", action="store_true", help="skip phase 1")
    parser.add_argument("--audit-rounds", type=int, default=None, help="minutes with audits due in phase 2 (default 3; 1 with --short)")
    parser.add_argument("--audit-contracts", type=int, default=4, help="contracts audited per round (default 4)")
    parser.add_argument("--audit-timeout", type=float, default=60.0, help="how long after the last round the audits may take (default 60 s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    args.rate = args.rate if args.rate is not None else (50.0 if args.short else 200.0)
    args.seconds = args.seconds if args.seconds is not None else (5.0 if args.short else 60.0)
    args.audit_rounds = args.audit_rounds if args.audit_rounds is not None else (1 if args.short else 3)
    args.alert_contracts = args.alert_contracts if args.alert_contracts is not None else (3 if args.short else 10)
    if args.rate <= 0 or args.seconds <= 0 or args.connections <= 0 or not 0 <= args.tradeoff_share <= 0.5:
        parser.error("rate, seconds and connections must be positive; tradeoff-share between 0 and 0.5")
    if args.rate * args.seconds > 100_000 or args.seconds > 600:
        parser.error("at most 100,000 requests and 600 s per run")
    if not 1 <= args.workers <= 16:
        parser.error("workers 1-16")
    if not 0 <= args.replicas <= 4 or not 1 <= args.audit_rounds <= 10 or not 1 <= args.audit_contracts <= 50:
        parser.error("replicas 0-4, audit-rounds 1-10, audit-contracts 1-50")
    if not 1 <= args.alert_contracts <= 100 or not 0 <= args.slack_latency_ms <= 5000 or args.reply_timeout <= 0:
        parser.error("alert-contracts 1-100, slack-latency-ms 0-5000, reply-timeout positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    standin = StandInProcess(delay_s=args.slack_latency_ms / 1000)  # forked first, before any thread starts
    logs = [tempfile.TemporaryFile() for _ in range(1 + args.replicas)]
    summary: dict[str, Any] = {"machine": machine()}
    ok = True
    try:
        if not args.no_load:
            summary["load"] = run_load_phase(args, standin, logs[0])
            ok = ok and summary["load"]["errors"] == 0
        if args.replicas:
            summary["replicas"] = run_replicas_phase(args, standin, logs[1:])
            ok = ok and summary["replicas"]["exactly_once"]
    finally:
        standin.stop()
        for number, log in enumerate(logs):
            log.seek(0)
            output = log.read().decode(errors="replace").strip()
            output = "\n".join(line for line in output.splitlines() if "`token` will be unused" not in line)
            if output:
                name = "load server" if number == 0 else f"replica {number}"
                print(f"\n{name} output (last 3000 characters):\n{output[-3000:]}")
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2, default=str))
    print("\nresult: " + ("no errors" if ok else "ERRORS (see above)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
