"""Benchmark the HTTP bot end to end: signed slash commands in, acks and replies measured.

Usage::

    python benchmarks/bench_http.py [--rate 50] [--seconds 20] [--clients 16] [--tradeoff-share 0.5]
        [--database postgresql+psycopg://postgres@127.0.0.1:5432/test]

What it does:

1. creates a fresh PostgreSQL schema in ``--database``, migrates it, and seeds the fraud
   contract with twelve weeks of classification snapshots (score histograms built from seeded
   fraud-like scores, as the bot's tests do);
2. starts the Slack Web API stand-in (``bot.standin``) in this process;
3. starts ``northstar run --http --no-scheduler`` as a separate process on 127.0.0.1, pointed at
   that schema and the stand-in, and waits for ``/healthz``;
4. sends signed ``/explain precision`` and ``/tradeoff`` commands at ``--rate`` per second from
   ``--clients`` threads for ``--seconds`` (open loop: request *i* is due at ``i / rate``), each
   from its own user id so its ephemeral reply can be matched in the stand-in's record;
5. reports throughput, p50/p95/p99 of the ack (HTTP response of ``/slack/events``) and of the
   final reply (the stand-in receiving the matching ``chat.postEphemeral``) per command, errors,
   and the machine; then stops the server and drops the schema.

Targets at 50 requests/second: p99 ack < 50 ms, p95 final ``/explain`` reply < 150 ms.
"""

from __future__ import annotations

import argparse
import queue
import secrets
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from slack_sdk.signature import SignatureVerifier

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._harness import (  # noqa: E402
    DEFAULT_DATABASE,
    WEEKS,
    SlowSlack,
    command_body,
    cpu_seconds,
    free_port,
    fresh_schema,
    machine,
    percentiles,
    schema_url,
    seed,
    stop_server,
    wait_healthy,
)
from benchmarks._harness import start_server as start_northstar  # noqa: E402
from bot.standin import DEFAULT_TEAM, SlackStandIn  # noqa: E402
from storage.db import make_engine, upgrade_database  # noqa: E402

SIGNING_SECRET = "bench-" + secrets.token_hex(16)
BOT_TOKEN = "xoxb-bench-" + secrets.token_hex(8)
ACK_TARGET_P99_S = 0.050
EXPLAIN_REPLY_TARGET_P95_S = 0.150
HARD_STOP_S = 30


def start_server(database_url: str, api_url: str, port: int, log):
    return start_northstar(database_url, api_url, port, log, signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)


# --- load -----------------------------------------------------------------------------------


@dataclass
class Sent:
    index: int
    command: str
    user: str
    due: float
    sent: float = 0.0
    acked: float = 0.0
    status: int | None = None
    error: str | None = None
    replied: float | None = None



def plan(rate: float, seconds: float, tradeoff_share: float) -> list[Sent]:
    """Every request up front: which command, whose, and when it is due (relative seconds)."""
    count = int(rate * seconds)
    every = round(1 / tradeoff_share) if tradeoff_share > 0 else 0
    requests = []
    for i in range(count):
        command = "/tradeoff" if every and i % every == every - 1 else "/explain"
        # The user id carries the request number, so the ephemeral reply names its request.
        requests.append(Sent(index=i, command=command, user=f"UB{i:09d}", due=i / rate))
    return requests


def run_load(base: str, requests: list[Sent], clients: int, seconds: float) -> float:
    """Send ``requests`` on schedule from ``clients`` threads; returns the wall time taken."""
    verifier = SignatureVerifier(SIGNING_SECRET)
    work: queue.Queue[Sent | None] = queue.Queue()
    hard_stop = time.monotonic() + seconds + HARD_STOP_S  # a stuck server cannot hold the run forever

    ready = threading.Barrier(clients + 1)

    def client_loop() -> None:
        # Clients are built before the clock starts: building one costs tens of milliseconds of CPU.
        with httpx.Client(base_url=base, timeout=10.0) as client:
            ready.wait()
            while True:
                item = work.get()
                if item is None or time.monotonic() > hard_stop:
                    return
                body = command_body(item.command, "precision" if item.command == "/explain" else "", item.user)
                timestamp = str(int(time.time()))
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Slack-Request-Timestamp": timestamp,
                    "X-Slack-Signature": verifier.generate_signature(timestamp=timestamp, body=body),
                }
                item.sent = time.monotonic()
                try:
                    response = client.post("/slack/events", content=body.encode(), headers=headers)
                    item.status = response.status_code
                except httpx.HTTPError as exc:
                    item.error = type(exc).__name__
                item.acked = time.monotonic()

    threads = [threading.Thread(target=client_loop, name=f"client-{i}", daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.monotonic()
    for item in requests:
        delay = started + item.due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        item.due += started
        work.put(item)
    for _ in threads:
        work.put(None)
    for thread in threads:
        thread.join(timeout=max(0.0, hard_stop - time.monotonic()))
    return time.monotonic() - started


def collect_replies(standin: SlackStandIn, requests: list[Sent], timeout: float) -> None:
    """Match each ``chat.postEphemeral`` to its request by user id; wait for the stragglers."""
    by_user = {item.user: item for item in requests}
    expected = sum(1 for item in requests if item.status == 200)
    deadline = time.monotonic() + timeout
    while True:
        calls = [c for c in standin.calls_to("chat.postEphemeral") if c.params.get("user") in by_user]
        if len(calls) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for call in calls:
        item = by_user.get(call.params.get("user"))
        if item is not None and item.replied is None:
            item.replied = call.at


# --- report ---------------------------------------------------------------------------------



def report(requests: list[Sent], wall: float, args, standin: SlackStandIn, server_cpu: float | None) -> bool:
    print(f"\nmachine: {machine()}")
    print(f"load: {len(requests)} requests planned at {args.rate:g}/s for {args.seconds:g} s from {args.clients} clients, "
          f"{args.tradeoff_share:.0%} /tradeoff, stand-in latency {args.slack_latency_ms:g} ms")
    acked = [r for r in requests if r.status == 200]
    print(f"throughput: {len(acked) / wall:.1f} acked requests/s over {wall:.1f} s")
    if server_cpu is not None:
        # Above ~1 CPU-second per second the server's one interpreter lock is the ceiling.
        print(f"server CPU: {server_cpu:.1f} s over the run ({server_cpu / wall:.2f} of a core; "
              f"{server_cpu / max(len(acked), 1) * 1000:.1f} ms per request, replies included)")
    late = [r.sent - r.due for r in requests if r.sent]
    if late:
        print(f"send lag behind schedule: p99 {np.percentile(late, 99) * 1000:.1f} ms (client side; large means the clients could not keep up)")
    ok = True
    all_acks = [r.acked - r.sent for r in acked]
    for command in ("/explain", "/tradeoff"):
        mine = [r for r in requests if r.command == command]
        if not mine:
            continue
        done = [r for r in mine if r.status == 200]
        acks = [r.acked - r.sent for r in done]
        replies = [r.replied - r.sent for r in done if r.replied is not None]
        unsent = [r for r in mine if not r.sent]
        bad_status = [r for r in mine if r.sent and r.status != 200]
        missing = [r for r in done if r.replied is None]
        print(f"\n{command}  ({len(mine) - len(unsent)} sent)")
        print(f"  ack          {percentiles(acks)}")
        print(f"  final reply  {percentiles(replies)}")
        print(f"  errors: {len(bad_status)} non-200 or failed, {len(missing)} without a reply, "
              f"{len(unsent)} never sent (run cut off {HARD_STOP_S} s after its end)")
        if bad_status or missing or unsent:
            ok = False
        if command == "/explain" and replies and np.percentile(replies, 95) >= EXPLAIN_REPLY_TARGET_P95_S:
            ok = False
            print(f"  MISSED: p95 final reply target {EXPLAIN_REPLY_TARGET_P95_S * 1000:.0f} ms")
    if all_acks and np.percentile(all_acks, 99) >= ACK_TARGET_P99_S:
        ok = False
        print(f"\nMISSED: p99 ack target {ACK_TARGET_P99_S * 1000:.0f} ms (all commands: {percentiles(all_acks)})")
    other = [c for c in standin.calls if c.response is not None and not c.response.get("ok", True)]
    if other:
        print(f"\nstand-in answered {len(other)} Slack calls with ok=false, e.g. {other[0].method}: {other[0].response}")
        ok = False
    print("\ntargets met" if ok else "\ntargets NOT met")
    return ok


def run(args, schema: str):
    """Seed ``schema``, start the server and the stand-in, warm up, measure, report."""
    database_url = schema_url(args.database, schema)
    standin = SlowSlack(team_id=DEFAULT_TEAM, delay_s=args.slack_latency_ms / 1000).start()
    server = None
    log = tempfile.TemporaryFile()
    try:
        engine = make_engine(database_url)
        upgrade_database(engine)
        seed(engine, DEFAULT_TEAM)
        engine.dispose()
        print(f"schema {schema}: migrated, fraud contract with {WEEKS} weeks of snapshots")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(database_url, standin.api_url, port, log)
        wait_healthy(server, base)
        print(f"server pid {server.pid} on {base}, Slack stand-in on {standin.api_url}")

        # Two seconds at the full rate first, so first-use costs (imports, connection pools,
        # threads) are not measured; their worst case is printed so a cold start stays visible.
        warmup = plan(args.rate, min(2.0, args.seconds), args.tradeoff_share)
        for item in warmup:
            item.user = "UW" + item.user[2:]
        run_load(base, warmup, args.clients, 2.0)
        collect_replies(standin, warmup, timeout=args.reply_timeout)
        warm_acks = [r.acked - r.sent for r in warmup if r.status == 200]
        print(f"warm-up ({len(warmup)} requests, not counted): ack {percentiles(warm_acks)}")

        requests = plan(args.rate, args.seconds, args.tradeoff_share)
        cpu_before, own_before = cpu_seconds(server.pid), time.process_time()
        wall = run_load(base, requests, args.clients, args.seconds)
        collect_replies(standin, requests, timeout=args.reply_timeout)
        cpu_after, own_cpu = cpu_seconds(server.pid), time.process_time() - own_before
        server_cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
        ok = report(requests, wall, args, standin, server_cpu)
        print(f"this process (clients + stand-in): {own_cpu:.1f} CPU s ({own_cpu / wall:.2f} of a core)")
        # The server's own view of the ack (from receiving the request to answering it), which
        # leaves out client-side queueing on this machine.
        server_view = [line for line in httpx.get(f"{base}/metrics").text.splitlines()
                       if line.startswith("northstar_slack_request_seconds_bucket") and 'kind="command"' in line]
        print("server-side ack histogram, warm-up included (le seconds: count): "
              + ", ".join(line.split('le="')[1].replace('"}', ':') for line in server_view))
    except BaseException:
        log.seek(0)
        sys.stderr.write(log.read().decode(errors="replace")[-5000:])
        raise
    finally:
        if server is not None:
            stop_server(server)
        standin.stop()
    return ok, log


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to send (default 20)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent client threads (default 16)")
    parser.add_argument("--tradeoff-share", type=float, default=0.5, help="fraction of requests that are /tradeoff (default 0.5)")
    parser.add_argument("--database", default=DEFAULT_DATABASE, help=f"PostgreSQL URL (default {DEFAULT_DATABASE})")
    parser.add_argument("--slack-latency-ms", type=float, default=0.0,
                        help="delay the stand-in adds to every Web API call, like the real Slack's (default 0)")
    parser.add_argument("--reply-timeout", type=float, default=30.0, help="how long to wait for the last replies (default 30 s)")
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0 or args.clients <= 0 or not 0 <= args.tradeoff_share <= 1 or not 0 <= args.slack_latency_ms <= 5000:
        parser.error("rate, seconds and clients must be positive; tradeoff-share between 0 and 1")
    if args.rate * args.seconds > 100_000:
        parser.error("at most 100,000 requests per run")

    with fresh_schema(args.database, "bench_http") as schema:
        ok, log = run(args, schema)
    log.seek(0)
    server_output = log.read().decode(errors="replace").strip()
    if server_output:
        print("\nserver output (last 2000 characters):\n" + server_output[-2000:])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
