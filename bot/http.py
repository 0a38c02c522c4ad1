"""The ASGI app for HTTP mode: Slack's requests, a health check and Prometheus metrics.

Bolt's sync ``App.dispatch`` never runs on the event loop, so a slow listener never blocks
every other request on this replica. Slash commands and button clicks, whose listeners all
acknowledge with an empty 200 and answer through the Web API, are acknowledged here as soon as
their signature checks out, and handed to Bolt on the listener pool after the answer has gone:
Bolt acknowledges only once a listener thread has started, so under load the acknowledgement
would wait behind every answer being computed. The rest (modal submissions, events) wait for
Bolt on Starlette's thread pool.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import timedelta

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient
from sqlalchemy import Engine, func, select
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from storage.db import check_schema_current, current_revision, utcnow
from storage.errors import StorageError

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PULL_FAILURE_WINDOW = timedelta(hours=24)


def request_kind(body: bytes, content_type: str) -> str:
    """command, interactivity or event: the label requests are counted under."""
    if content_type.startswith("application/json"):
        return "event"
    if body.startswith(b"payload="):
        return "interactivity"
    if b"command=" in body:
        return "command"
    return "other"


def malformed_payload(body: object) -> str | None:
    """What is wrong with an interactivity payload's shape, in the fields Bolt's listener matching
    indexes without checking (``actions``, ``view``), or None when they are as Slack sends them."""
    if not isinstance(body, dict):
        return None
    if "actions" in body:
        actions = body["actions"]
        if not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions):
            return "actions is not a list of objects"
        for action in actions:
            for key in ("action_id", "block_id"):
                if key in action and not isinstance(action[key], str):
                    return f"actions[].{key} is not a string"
    if body.get("type") in ("view_submission", "view_closed") or "view" in body:
        view = body.get("view")
        if not isinstance(view, dict):
            return "view is not an object"
        for key in ("callback_id", "private_metadata", "id", "hash"):
            if key in view and not isinstance(view[key], str):
                return f"view.{key} is not a string"
        if "state" in view and not isinstance(view["state"], dict):
            return "view.state is not an object"
    return None


def needs_only_an_empty_ack(body: dict) -> bool:
    """A slash command or a button click: every listener of this app acknowledges those with an
    empty 200 and answers through the Web API (modal submissions, whose acknowledgement carries
    validation errors, and events, whose may carry a challenge, are not)."""
    if body.get("ssl_check"):
        return False
    command = body.get("command")
    return (isinstance(command, str) and bool(command)) or body.get("type") == "block_actions"


def early_kind(bolt_request: BoltRequest) -> str:
    """What an early-acknowledged request is, for a log line."""
    return "command" if bolt_request.body.get("command") else "button click"


def relay_late_answer(bolt_request: BoltRequest, status: int, text: str) -> None:
    """An answer to an early-acknowledged request that is not its listener's own.

    A listener answers through the Web API; this is Bolt's answer (a workspace whose
    installation is missing, no listener for the request) or :data:`BUSY`, told to the user
    through the request's response_url since the acknowledgement has already gone.
    """
    body = bolt_request.body
    if status == 404:
        logger.warning("no listener answered a %s request", early_kind(bolt_request))
        return
    response_url = body.get("response_url")
    if status != 200 or not text or not isinstance(response_url, str):
        return
    try:
        WebhookClient(response_url, timeout=10).send(text=text, response_type="ephemeral", replace_original=False)
    except Exception:  # the user's answer is lost either way: say so in the log, never raise here
        logger.exception("could not relay Bolt's answer to a %s", early_kind(bolt_request))


class RequestMetrics:
    """Request counts and latency histograms in Prometheus' text format, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = defaultdict(lambda: [0] * len(LATENCY_BUCKETS))
        self._sum: dict[str, float] = defaultdict(float)
        self._count: dict[str, int] = defaultdict(int)
        self._declined: dict[str, int] = defaultdict(int)

    def decline(self, kind: str) -> None:
        with self._lock:
            self._declined[kind] += 1

    def observe(self, kind: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(kind, str(status))] += 1
            buckets = self._buckets[kind]
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    buckets[i] += 1
            self._sum[kind] += seconds
            self._count[kind] += 1

    def render(self) -> list[str]:
        lines = [
            "# HELP northstar_slack_requests_total Requests from Slack by kind and HTTP status.",
            "# TYPE northstar_slack_requests_total counter",
        ]
        with self._lock:
            for (kind, status), count in sorted(self._requests.items()):
                lines.append(f'northstar_slack_requests_total{{kind="{kind}",status="{status}"}} {count}')
            lines += [
                "# HELP northstar_slack_request_seconds Time to answer Slack (the ack), by kind.",
                "# TYPE northstar_slack_request_seconds histogram",
            ]
            for kind in sorted(self._count):
                for bound, count in zip(LATENCY_BUCKETS, self._buckets[kind]):
                    lines.append(f'northstar_slack_request_seconds_bucket{{kind="{kind}",le="{bound}"}} {count}')
                lines.append(f'northstar_slack_request_seconds_bucket{{kind="{kind}",le="+Inf"}} {self._count[kind]}')
                lines.append(f'northstar_slack_request_seconds_sum{{kind="{kind}"}} {self._sum[kind]:.6f}')
                lines.append(f'northstar_slack_request_seconds_count{{kind="{kind}"}} {self._count[kind]}')
            lines += [
                "# HELP northstar_slack_requests_declined_total Requests answered busy, and not run, because too many were waiting.",
                "# TYPE northstar_slack_requests_declined_total counter",
            ]
            for kind, count in sorted(self._declined.items()):
                lines.append(f'northstar_slack_requests_declined_total{{kind="{kind}"}} {count}')
        return lines


def database_gauges(engine: Engine) -> list[str]:
    """Outbox depth and recent pull failures, read from the bot's database at scrape time."""
    from storage.models import MetricSnapshot, OutboxMessage, OutboxStatus, SnapshotStatus

    with engine.connect() as connection:
        pending = connection.execute(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING)
        ).scalar_one()
        failures = connection.execute(
            select(func.count())
            .select_from(MetricSnapshot)
            .where(MetricSnapshot.status == SnapshotStatus.FAILED, MetricSnapshot.pulled_at >= utcnow() - PULL_FAILURE_WINDOW)
        ).scalar_one()
    return [
        "# HELP northstar_outbox_depth Messages waiting in the outbox for delivery to Slack.",
        "# TYPE northstar_outbox_depth gauge",
        f"northstar_outbox_depth {pending}",
        "# HELP northstar_pull_failures Metric pulls that failed in the last 24 hours.",
        "# TYPE northstar_pull_failures gauge",
        f"northstar_pull_failures {failures}",
    ]


#: Listeners waiting for a thread, per process, beyond which commands and clicks are declined
#: with BUSY instead of queued: past it answers would come later than anyone waits for them,
#: and the queue (and memory) would grow without bound; below it answers are at most a few
#: seconds late under a burst.
MAX_WAITING_FOR_A_LISTENER = 256
BUSY = "Northstar is busy answering other requests, so it did not run this one. Please try again in a minute."


def build_asgi(app: App, *, engine: Engine, signing_secret: str | None = None, metrics: RequestMetrics | None = None,
               clock: Callable[[], float] = time.perf_counter, listener_pool: Executor | None = None,
               max_waiting: int = MAX_WAITING_FOR_A_LISTENER) -> Starlette:
    """Starlette app: ``POST /slack/events``, OAuth install routes when configured, ``/healthz``, ``/metrics``.

    With ``signing_secret`` (the app's own), commands and clicks are acknowledged before Bolt
    runs them. Their dispatch then goes to ``listener_pool`` (Bolt's listener executor; a
    :class:`~bot.runner.ListenerPool` counts what waits in it), or without one to Starlette's
    thread pool, and never through the event loop. With ``max_waiting`` or more already
    waiting (a soft limit: listeners waiting for a compute slot are not counted), they are
    declined with :data:`BUSY` and not run. Without ``signing_secret``, every request waits
    for its listener's acknowledgement.
    """
    metrics = metrics or RequestMetrics()
    verifier = SignatureVerifier(signing_secret) if signing_secret else None
    dispatching = 0  # only the event loop's thread reads and writes it
    pool_waiting = getattr(listener_pool, "waiting", None)
    backlog = pool_waiting if callable(pool_waiting) else (lambda: dispatching)

    def run_acknowledged(bolt_request: BoltRequest) -> None:
        # Slack has its answer: marked as acknowledged, Bolt hands the listener to its pool and
        # returns, where it would otherwise hold this thread, polling every 10 ms, until the
        # listener's own ack(). Bolt's authorization may call Slack (auth.test under OAuth), so
        # the dispatch takes no compute slot; the listener takes its own.
        bolt_request.context.ack()
        try:
            bolt_response = app.dispatch(bolt_request)
            if bolt_response.status != 200 or bolt_response.body:
                relay_late_answer(bolt_request, bolt_response.status, str(bolt_response.body or ""))
        except Exception:  # nobody waits on this thread's result: the log is the only place left to say it
            logger.exception("dispatching an acknowledged request failed")

    async def hand_over(bolt_request: BoltRequest) -> None:
        # Runs once the acknowledgement has been written, so the answer never waits for a thread.
        nonlocal dispatching
        if listener_pool is not None:
            submit = getattr(listener_pool, "submit_without_slot", listener_pool.submit)
            try:
                submit(run_acknowledged, bolt_request)
            except RuntimeError:  # the pool is shut down: this process is stopping
                logger.warning("stopping: a %s was acknowledged but will not be answered", early_kind(bolt_request))
            return
        dispatching += 1
        try:
            await run_in_threadpool(run_acknowledged, bolt_request)
        finally:
            dispatching -= 1

    async def slack_events(request: Request) -> Response:
        started = clock()
        body = await request.body()
        kind = request_kind(body, request.headers.get("content-type", ""))
        try:
            # Bolt reads the body before it checks the signature, and fails on a field of an
            # unexpected type: that is a bad request, not a server error, and its body stays out of the log.
            bolt_request = to_bolt_request(request, body)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            logger.warning("refused a request Bolt could not read (%s)", type(exc).__name__)
            metrics.observe(kind, 400, clock() - started)
            return PlainTextResponse("bad request", status_code=400)
        if (problem := malformed_payload(bolt_request.body)) is not None:
            # Bolt's listener matching would raise on it and answer 500; Slack never sends such a body.
            logger.warning("refused an interactivity payload: %s", problem)
            metrics.observe(kind, 400, clock() - started)
            return PlainTextResponse("bad request", status_code=400)
        if (
            verifier is not None
            and needs_only_an_empty_ack(bolt_request.body)
            and verifier.is_valid_request(body, dict(request.headers))
        ):
            # Bolt checks the signature again and answers 401 to anything that fails it here.
            metrics.observe(kind, 200, clock() - started)
            if backlog() < max_waiting:
                return Response(status_code=200, background=BackgroundTask(hand_over, bolt_request))
            # A process that cannot keep up says so at once rather than answer too late.
            metrics.decline(kind)
            logger.warning("busy: %d requests wait for a listener, so a %s was declined", backlog(), early_kind(bolt_request))
            if bolt_request.body.get("command"):
                return JSONResponse({"response_type": "ephemeral", "text": BUSY})
            return Response(status_code=200, background=BackgroundTask(relay_late_answer, bolt_request, 200, BUSY))
        bolt_response = await run_in_threadpool(app.dispatch, bolt_request)
        metrics.observe(kind, bolt_response.status, clock() - started)
        return to_starlette_response(bolt_response)

    async def oauth_install(request: Request) -> Response:
        bolt_response = await run_in_threadpool(app.oauth_flow.handle_installation, to_bolt_request(request, b""))
        return to_starlette_response(bolt_response)

    async def oauth_redirect(request: Request) -> Response:
        bolt_response = await run_in_threadpool(app.oauth_flow.handle_callback, to_bolt_request(request, b""))
        return to_starlette_response(bolt_response)

    def _health() -> tuple[int, dict]:
        # The pid says which worker process answered when `run --http` has several.
        try:
            check_schema_current(engine)
            return 200, {"status": "ok", "database": "reachable", "schema": current_revision(engine), "pid": os.getpid()}
        except StorageError as exc:
            return 503, {"status": "unavailable", "reason": str(exc), "pid": os.getpid()}

    async def healthz(request: Request) -> Response:
        status, payload = await run_in_threadpool(_health)
        return JSONResponse(payload, status_code=status)

    def _metrics_text() -> str:
        lines = metrics.render()
        try:
            lines += database_gauges(engine)
            up = 1
        except Exception:  # a scrape must answer even when the database is down
            logger.exception("could not read database gauges for /metrics")
            up = 0
        lines += [
            "# HELP northstar_database_up Whether the bot's database answered the last scrape.",
            "# TYPE northstar_database_up gauge",
            f"northstar_database_up {up}",
        ]
        return "\n".join(lines) + "\n"

    async def metrics_endpoint(request: Request) -> Response:
        text = await run_in_threadpool(_metrics_text)
        return PlainTextResponse(text, media_type=PROMETHEUS_CONTENT_TYPE)

    routes = [
        Route("/slack/events", slack_events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    if app.oauth_flow is not None:
        routes += [
            Route(app.oauth_flow.install_path, oauth_install, methods=["GET"]),
            Route(app.oauth_flow.redirect_uri_path, oauth_redirect, methods=["GET"]),
        ]
    return Starlette(routes=routes)
