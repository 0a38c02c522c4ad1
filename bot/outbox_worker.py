"""The outbox worker: delivers queued Slack calls so that none is lost and none is posted twice.

Each pass (:meth:`OutboxWorker.run_once`) claims due messages (marking them 'sending' and
committing before any call, so two workers never hold the same row), makes one Slack call per
message, and records the answer: ``delivered`` with Slack's ts, back to ``pending`` for a later
attempt, or ``failed`` with the reason.

Retry policy belongs to the worker, not to slack-sdk: the clients it builds have no retry
handlers (``retry_handlers=[]``). A client that did retry inside the call would hold a claimed
row through its own sleeps and hide a 429's ``Retry-After`` from the worker; retries here are
persisted, so they survive a restart. What each answer means:

* HTTP 429: try again at exactly now + ``Retry-After``. Not counted as an attempt (the message
  is fine; the workspace is busy), and the channel's remaining messages in the pass wait too.
* 5xx, ``internal_error``-like errors, timeouts, refused or dropped connections: exponential
  backoff with jitter (capped at ``backoff_cap_s``). These are Slack or the network being down,
  not anything wrong with the message, and such outages can last hours: the message is retried
  until ``outage_patience_s`` after it was queued, however many attempts that takes.
* Other errors Slack may accept later (ones not known to be permanent): counted; after
  ``max_attempts`` the message fails.
* Permanent errors (:data:`PERMANENT_ERRORS`: ``channel_not_found``, ``invalid_auth``, …): failed
  at once with the reason, one warning line naming the key, never retried.

Exactly once, for ``post``: every message carries its idempotency key in Slack message
metadata (``{"event_type": "northstar_outbox", "event_payload": {"key": ...}}``). When the
previous attempt's outcome is unknown -- the process died between Slack's answer and the
commit (the row is still 'sending' when its lease runs out), or the call timed out or got a 5xx
after the request left -- the worker first looks for that key in the channel
(``conversations.history``, or ``conversations.replies`` for a thread reply, with
``include_all_metadata=true`` and ``oldest`` = the last claim − :data:`HISTORY_MARGIN`) and adopts
the ts it finds instead of posting again.

**Scopes**: besides ``chat:write`` and ``files:write`` this needs ``channels:history`` (public
channels) and ``groups:history`` (private channels) for that lookup. Without them the lookup
answers ``missing_scope``; the worker logs it and posts (a possible duplicate rather than a lost
message).

What cannot be checked this way, and is therefore at-least-once after an unknown outcome:

* ``upload``: ``files.completeUploadExternal`` takes no metadata, so a file whose upload
  completed just before a crash is uploaded again.
* ``ephemeral``: ephemeral messages are not in any history; a repeat is seen only by its user.
* ``respond``: a ``response_url`` cannot be read back; a repeat uses one of its five uses.
* ``update`` needs no check: editing a message twice to the same content is harmless.

Ordering: posts and uploads to one channel and thread go out in the order they were queued (a
message waits while an earlier one of the same thread is still pending); replies wait for their
parent's ts (:func:`storage.outbox.claim_due_messages`). Pacing: at most one message per
``pacing_per_channel_s`` per channel, tracked per worker process (several replicas can together
exceed it; Slack tolerates short bursts and their 429s are honoured). Within a pass the worker
serves other channels while one waits, sleeps only when every remaining message has to wait and
then at most ``max_pacing_sleep_s``; a longer wait hands the message back (not counted) for when
its channel is free.

Leases: a row claimed more than ``lease_s`` ago and still 'sending' is taken over by the next
pass. The lease must exceed one pass's worst case (``batch_size`` × (client timeout + pacing)),
or a slow but alive worker's message could be taken over and posted by another.
"""

from __future__ import annotations

import base64
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.slack_client import PooledWebClient, redact_tokens_in_sdk_logs
from storage.db import session_scope
from storage.models import OutboxKind, OutboxMessage, OutboxStatus
from storage.outbox import (
    claim_due_messages,
    list_abandoned_claims,
    list_outbox,
    mark_delivered,
    mark_failed,
    release_message,
)

__all__ = [
    "HISTORY_MARGIN",
    "METADATA_EVENT_TYPE",
    "PERMANENT_ERRORS",
    "DeliveryFinding",
    "DeliveryReport",
    "OutboxRow",
    "OutboxWorker",
    "failed_delivery_findings",
    "make_worker_client",
    "outbox_status",
]

logger = logging.getLogger(__name__)

METADATA_EVENT_TYPE = "northstar_outbox"

#: Slack errors that no retry can fix: the message fails at once with this reason.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "invalid_blocks",
        "invalid_blocks_format",
        "is_archived",
        "invalid_auth",
        "token_revoked",
        "account_inactive",
        "msg_too_long",
        "no_text",
        "not_authed",
        "missing_scope",
        "invalid_arguments",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "user_not_in_channel",
        "restricted_action",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        # response_url answers
        "expired_url",
        "used_url",
        "no_active_hooks",
        "no_service",
    }
)
# Slack-side failures after which the request may or may not have taken effect.
_UNCERTAIN_ERRORS = frozenset({"internal_error", "fatal_error", "request_timeout", "service_unavailable"})

#: How far before the last claim the duplicate check looks, for clock skew between us and Slack.
HISTORY_MARGIN = timedelta(minutes=2)
# Pages of history read when looking for a message's key; a busy channel past this is posted to.
_HISTORY_PAGES = 5
_HISTORY_PAGE_SIZE = 200

# Written at the start of last_error when the attempt may have reached Slack: the next attempt
# of a post looks for it in the channel before posting.
UNCONFIRMED = "unconfirmed: "

_TIMELINE_KINDS = frozenset({OutboxKind.POST, OutboxKind.UPLOAD})
_PACED_KINDS = frozenset({OutboxKind.POST, OutboxKind.UPLOAD, OutboxKind.EPHEMERAL})


def make_worker_client(*, token: str, base_url: str = "https://slack.com/api/", timeout: float = 30) -> WebClient:
    """A WebClient for the worker: no retry handlers, the worker's own policy decides."""
    redact_tokens_in_sdk_logs()
    return PooledWebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[])  # type: ignore[arg-type]


def _make_webhook_client(url: str) -> WebhookClient:
    return WebhookClient(url=url, timeout=30, retry_handlers=[])


# --- outcomes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Delivered:
    ts: str | None
    adopted: bool = False  # found already posted in the channel
    channel: str | None = None  # the channel id Slack answered with (a post may name "#channel")


@dataclass(frozen=True)
class _Retry:
    error: str
    # Known wait (a 429's Retry-After): not counted as an attempt, no backoff.
    retry_after: float | None = None
    # The request may have taken effect (timeout, 5xx).
    uncertain: bool = False
    # Slack or the network is down (5xx, timeouts, refused connections): the message is not at fault.
    outage: bool = False


@dataclass(frozen=True)
class _Permanent:
    error: str


_Outcome = _Delivered | _Retry | _Permanent


@dataclass
class DeliveryReport:
    """What one pass did, by idempotency key."""

    delivered: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        return len(self.delivered) + len(self.adopted) + len(self.retried) + len(self.failed) + len(self.deferred)


class OutboxWorker:
    """Delivers the outbox to Slack; one instance per thread, any number per database."""

    def __init__(
        self,
        *,
        engine: Engine,
        client_for_team: Callable[[str], WebClient],
        worker_id: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        webhook_client_for: Callable[[str], WebhookClient] = _make_webhook_client,
        batch_size: int = 20,
        max_attempts: int = 8,
        outage_patience_s: float = 24 * 3600.0,
        pacing_per_channel_s: float = 1.0,
        backoff_base_s: float = 2.0,
        backoff_cap_s: float = 300.0,
        lease_s: float = 900.0,
        idle_poll_s: float = 1.0,
        max_pacing_sleep_s: float = 2.0,
        jitter: Callable[[], float] = random.random,
        logger: logging.Logger = logger,
    ):
        self.engine = engine
        self.client_for_team = client_for_team
        self.worker_id = worker_id
        self.clock = clock
        self.sleep = sleep
        self.webhook_client_for = webhook_client_for
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.outage_patience = timedelta(seconds=outage_patience_s)
        self.pacing = timedelta(seconds=pacing_per_channel_s)
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.lease = timedelta(seconds=lease_s)
        self.idle_poll_s = idle_poll_s
        self.max_pacing_sleep_s = max_pacing_sleep_s
        self.jitter = jitter
        self.logger = logger
        # When each channel last got a message from this worker, and until when a 429 closed it.
        self._last_send: dict[str, datetime] = {}
        self._closed_until: dict[str, datetime] = {}
        # Each workspace's client for the current pass (None: its token could not be had).
        self._pass_clients: dict[str, WebClient | None] = {}

    # --- the loop -------------------------------------------------------------------------

    def run_forever(self, stop_event: threading.Event) -> None:
        """Deliver until ``stop_event`` is set; a pass that fails is logged and the loop goes on."""
        while not stop_event.is_set():
            try:
                report = self.run_once()
            except Exception:
                # A database outage must not kill the thread: the rows wait, the next pass retries.
                self.logger.exception("outbox pass failed")
                report = None
            if report is None or report.claimed == 0 or report.claimed == len(report.deferred):
                stop_event.wait(self.idle_poll_s)

    def run_once(self, now: datetime | None = None) -> DeliveryReport:
        """Claim due messages, deliver them in order with pacing, and record each result."""
        now = now or self.clock()
        report = DeliveryReport()
        self._pass_clients = {}
        claimed, abandoned = self._claim(now)
        waiting = self._defer_out_of_order(claimed, now, report)
        # Per channel, in queue order; channels take turns so that one busy channel's pacing does
        # not hold the others back.
        queues: dict[str, list[OutboxMessage]] = {}
        for message in waiting:
            queues.setdefault(message.channel, []).append(message)
        while queues:
            now = self.clock()
            progressed = False
            next_free: datetime | None = None
            for channel in list(queues):
                queue = queues[channel]
                free_at = self._channel_free_at(queue[0], now)
                if free_at > now:
                    next_free = free_at if next_free is None else min(next_free, free_at)
                    continue
                message = queue.pop(0)
                outcome = self._deliver(message, previous_claim=abandoned.get(message.id), now=now)
                now = self.clock()
                self._record(message, outcome, now, report)
                if isinstance(outcome, _Retry) and outcome.retry_after is not None:
                    # The rest of this channel would meet the same limit: give it back unspent.
                    self._release_all(queue, self._closed_until[message.channel], report)
                    queue.clear()
                elif not isinstance(outcome, _Delivered) and message.kind in _TIMELINE_KINDS:
                    # Later messages of the same thread must not overtake this one.
                    kept = [m for m in queue if not self._same_thread(m, message)]
                    self._release_all([m for m in queue if m not in kept], self._next_attempt_of(message), report)
                    queue[:] = kept
                progressed = True
                if not queue:
                    del queues[channel]
            if not progressed and next_free is not None:
                wait = (next_free - now).total_seconds()
                if wait > self.max_pacing_sleep_s:
                    # Too long to hold the rows: hand them back for when their channel is free.
                    for queue in queues.values():
                        self._release_all(queue, self._channel_free_at(queue[0], now), report)
                    break
                self.sleep(wait)
        return report

    # --- claiming and ordering --------------------------------------------------------------

    def _claim(self, now: datetime) -> tuple[list[OutboxMessage], dict[int, datetime]]:
        lease_expired_before = now - self.lease
        with session_scope(self.engine) as session:
            abandoned = list_abandoned_claims(session=session, lease_expired_before=lease_expired_before)
            claimed = claim_due_messages(
                session=session, now=now, limit=self.batch_size, worker_id=self.worker_id, lease_expired_before=lease_expired_before
            )
        if abandoned:
            taken = [m.idempotency_key for m in claimed if m.id in abandoned]
            if taken:
                self.logger.info("outbox: taking over %d message(s) left in 'sending': %s", len(taken), ", ".join(taken))
        return claimed, {m.id: abandoned[m.id] for m in claimed if m.id in abandoned}  # type: ignore[index]

    def _defer_out_of_order(self, claimed: Sequence[OutboxMessage], now: datetime, report: DeliveryReport) -> list[OutboxMessage]:
        """Hand back timeline messages that an earlier, undelivered message of their thread must precede."""
        batch_ids = {m.id for m in claimed}
        ready = []
        with session_scope(self.engine) as session:
            for message in claimed:
                earlier = None
                if message.kind in _TIMELINE_KINDS:
                    earlier = self._earlier_undelivered(session, message, batch_ids)
                if earlier is None:
                    ready.append(message)
                    continue
                # Not before the earlier one's next attempt; and while that one is being sent, not
                # so soon that this row is claimed and handed back in a tight loop.
                when = max(earlier.next_attempt_at, message.next_attempt_at, now + self.pacing)
                release_message(session=session, message_id=message.id, next_attempt_at=when)  # type: ignore[arg-type]
                report.deferred.append(message.idempotency_key)
        return ready

    @staticmethod
    def _earlier_undelivered(session: Session, message: OutboxMessage, batch_ids: set[int | None]) -> OutboxMessage | None:
        thread = (
            col(OutboxMessage.thread_key).is_(None) if message.thread_key is None else col(OutboxMessage.thread_key) == message.thread_key
        )
        statement = (
            select(OutboxMessage)
            .where(
                col(OutboxMessage.team_id) == message.team_id,
                col(OutboxMessage.channel) == message.channel,
                thread,
                col(OutboxMessage.kind).in_(list(_TIMELINE_KINDS)),
                col(OutboxMessage.id) < message.id,
                col(OutboxMessage.status).in_([OutboxStatus.PENDING, OutboxStatus.SENDING]),
                col(OutboxMessage.id).not_in([i for i in batch_ids if i is not None]),
            )
            .order_by(col(OutboxMessage.id))
            .limit(1)
        )
        return session.exec(statement).first()

    @staticmethod
    def _same_thread(a: OutboxMessage, b: OutboxMessage) -> bool:
        return a.kind in _TIMELINE_KINDS and a.thread_key == b.thread_key

    def _next_attempt_of(self, message: OutboxMessage) -> datetime:
        with session_scope(self.engine) as session:
            row = session.get(OutboxMessage, message.id)
            return row.next_attempt_at if row is not None else self.clock()

    def _release_all(self, messages: Iterable[OutboxMessage], when: datetime, report: DeliveryReport) -> None:
        messages = list(messages)
        if not messages:
            return
        with session_scope(self.engine) as session:
            for message in messages:
                release_message(session=session, message_id=message.id, next_attempt_at=when)  # type: ignore[arg-type]
                report.deferred.append(message.idempotency_key)

    def _channel_free_at(self, message: OutboxMessage, now: datetime) -> datetime:
        free_at = self._closed_until.get(message.channel, now)
        if message.kind in _PACED_KINDS and message.channel in self._last_send:
            free_at = max(free_at, self._last_send[message.channel] + self.pacing)
        return free_at

    # --- recording --------------------------------------------------------------------------

    def _record(self, message: OutboxMessage, outcome: _Outcome, now: datetime, report: DeliveryReport) -> None:
        key = message.idempotency_key
        with session_scope(self.engine) as session:
            if isinstance(outcome, _Delivered):
                if not mark_delivered(session=session, message_id=message.id, ts=outcome.ts, delivered_at=now, channel=outcome.channel):  # type: ignore[arg-type]
                    self.logger.warning("outbox: %s was delivered but another worker had taken it over", key)
                (report.adopted if outcome.adopted else report.delivered).append(key)
                return
            if isinstance(outcome, _Permanent):
                mark_failed(session=session, message_id=message.id, error=outcome.error, permanent=True)  # type: ignore[arg-type]
                self.logger.warning("outbox: %s failed for good: %s", key, outcome.error)
                report.failed.append(key)
                return
            error = (UNCONFIRMED if outcome.uncertain else "") + outcome.error
            if outcome.retry_after is not None:
                when = now + timedelta(seconds=outcome.retry_after)
                self._closed_until[message.channel] = when
                release_message(session=session, message_id=message.id, next_attempt_at=when, error=error)  # type: ignore[arg-type]
                report.retried.append(key)
                return
            if message.attempts >= self.max_attempts and not (outcome.outage and now - message.created_at < self.outage_patience):
                reason = f"gave up after {message.attempts} attempts: {outcome.error}"
                mark_failed(session=session, message_id=message.id, error=reason, permanent=True)  # type: ignore[arg-type]
                self.logger.warning("outbox: %s failed for good: %s", key, reason)
                report.failed.append(key)
                return
            when = now + timedelta(seconds=self._backoff(message.attempts))
            mark_failed(session=session, message_id=message.id, error=error, permanent=False, next_attempt_at=when)  # type: ignore[arg-type]
            report.retried.append(key)

    def _backoff(self, attempts: int) -> float:
        # Half fixed, half random: retries from many rows that failed together spread out, and
        # none comes back sooner than half its step.
        step = min(self.backoff_cap_s, self.backoff_base_s * 2 ** max(attempts - 1, 0))
        return step * (0.5 + self.jitter() / 2)

    # --- delivery ---------------------------------------------------------------------------

    def _deliver(self, message: OutboxMessage, *, previous_claim: datetime | None, now: datetime) -> _Outcome:
        needs_check = message.kind == OutboxKind.POST and (
            previous_claim is not None or (message.last_error or "").startswith(UNCONFIRMED)
        )
        outcome = self._attempt(message, needs_check=needs_check, previous_claim=previous_claim, now=now)
        if needs_check and isinstance(outcome, _Retry) and not outcome.uncertain:
            # An earlier attempt may have posted and this one did not find out: the next attempt
            # must look again (this pass's takeover claim time is not kept, so it looks further back).
            outcome = replace(outcome, uncertain=True)
        return outcome

    def _attempt(self, message: OutboxMessage, *, needs_check: bool, previous_claim: datetime | None, now: datetime) -> _Outcome:
        try:
            if message.kind == OutboxKind.RESPOND:
                return self._respond(message)
            client = self._client_for(message.team_id)
            if client is None:
                return _Retry(error=f"no Slack client for workspace {message.team_id}; see the log", outage=True)
            if needs_check:
                since = previous_claim or message.created_at
                found = self._find_posted(client, message, oldest=since - HISTORY_MARGIN)
                if found is not None:
                    self.logger.info("outbox: %s was already in %s as %s; not posting again", message.idempotency_key, message.channel, found)
                    return _Delivered(ts=found, adopted=True)
            self._last_send[message.channel] = now
            return self._call(client, message)
        except SlackApiError as exc:
            return _classify_api_error(exc)
        except URLError as exc:
            # URLError wraps failures before the request was sent (refused, DNS): nothing reached Slack.
            if isinstance(exc.reason, TimeoutError):
                return _Retry(error=f"timeout connecting: {exc.reason}", outage=True)
            return _Retry(error=f"connection failed: {exc.reason}", outage=True)
        except (TimeoutError, ConnectionError, OSError) as exc:
            # The request left; whether Slack acted on it is unknown.
            return _Retry(error=f"{type(exc).__name__}: {exc}", uncertain=True, outage=True)

    def _client_for(self, team_id: str) -> WebClient | None:
        """The workspace's client, or None when its token cannot be had.

        A token that no longer decrypts (a replaced encryption key) or an installation row that
        cannot be read is one workspace's problem: its messages wait like in an outage, while
        the rest of the pass goes on to the other workspaces.
        """
        if team_id in self._pass_clients:
            return self._pass_clients[team_id]
        try:
            client: WebClient | None = self.client_for_team(team_id)
        except Exception:
            self.logger.exception("outbox: cannot make a Slack client for workspace %s; its messages wait", team_id)
            client = None
        # Once per pass and workspace: one lookup (and one log line) for a batch of its messages.
        self._pass_clients[team_id] = client
        return client

    def _call(self, client: WebClient, message: OutboxMessage) -> _Outcome:
        payload = dict(message.payload or {})
        kind = message.kind
        if kind == OutboxKind.POST:
            response = client.chat_postMessage(
                **_without(payload, "channel", "thread_ts", "metadata"),
                channel=message.channel,
                thread_ts=message.thread_ts,
                metadata={"event_type": METADATA_EVENT_TYPE, "event_payload": {"key": message.idempotency_key}},
            )
            return _Delivered(ts=response.get("ts"), channel=response.get("channel"))
        if kind == OutboxKind.UPDATE:
            if message.target_key is None:
                # A message posted outside the outbox: its channel id and ts were given.
                target_ts, target_channel = payload.get("ts"), message.channel
            else:
                target_ts, target_channel = self._delivered(message.target_key)
            if target_ts is None:
                return _Permanent(error=f"the message to edit ({message.target_key}) has no ts")
            # chat.update takes only a channel id, while a post may have named "#channel".
            response = client.chat_update(**_without(payload, "channel", "ts"), channel=target_channel or message.channel, ts=target_ts)
            return _Delivered(ts=response.get("ts") or target_ts)
        if kind == OutboxKind.EPHEMERAL:
            response = client.chat_postEphemeral(
                **_without(payload, "channel", "thread_ts"), channel=message.channel, thread_ts=message.thread_ts
            )
            return _Delivered(ts=response.get("message_ts"))
        if kind == OutboxKind.UPLOAD:
            response = client.files_upload_v2(
                channel=message.channel,
                file=base64.b64decode(payload["file_b64"]),
                filename=payload["filename"],
                title=payload.get("title"),
                initial_comment=payload.get("initial_comment"),
                thread_ts=message.thread_ts,
            )
            file = response.get("file") or {}
            return _Delivered(ts=_share_ts(file, message.channel))
        return _Permanent(error=f"unknown outbox kind {kind!r}")

    def _respond(self, message: OutboxMessage) -> _Outcome:
        payload = dict(message.payload or {})
        url = payload.pop("response_url", None)
        if not url:
            return _Permanent(error="a 'respond' message needs response_url in its payload")
        response = self.webhook_client_for(url).send_dict(payload)
        if response.status_code == 200:
            return _Delivered(ts=None)
        body = (response.body or "").strip() or f"HTTP {response.status_code}"
        if response.status_code == 429:
            return _Retry(error="ratelimited", retry_after=_retry_after(response.headers))
        if response.status_code >= 500:
            return _Retry(error=f"HTTP {response.status_code}: {body}", uncertain=True, outage=True)
        return _Permanent(error=body)

    def _delivered(self, key: str | None) -> tuple[str | None, str | None]:
        """The ts and channel id of a delivered message, (None, None) when it is not delivered."""
        if key is None:
            return None, None
        with session_scope(self.engine) as session:
            row = session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).first()
            return (row.delivered_ts, row.channel) if row is not None else (None, None)

    def _find_posted(self, client: WebClient, message: OutboxMessage, *, oldest: datetime) -> str | None:
        """The ts of the message carrying this key in its channel (or thread), if Slack has it."""
        arguments: dict[str, Any] = {
            "channel": message.channel,
            "oldest": f"{oldest.timestamp():.6f}",
            "include_all_metadata": True,
            "limit": _HISTORY_PAGE_SIZE,
        }
        read = client.conversations_history
        if message.thread_ts is not None:
            read = client.conversations_replies
            arguments["ts"] = message.thread_ts
        cursor = None
        try:
            for _ in range(_HISTORY_PAGES):
                response = read(**arguments, cursor=cursor) if cursor else read(**arguments)
                for posted in response.get("messages") or []:
                    metadata = posted.get("metadata") or {}
                    if metadata.get("event_type") == METADATA_EVENT_TYPE and (metadata.get("event_payload") or {}).get("key") == message.idempotency_key:
                        return posted.get("ts")
                cursor = (response.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return None
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            if exc.response is not None and exc.response.status_code == 429 or error not in PERMANENT_ERRORS:
                raise  # the worker's own retry applies to the lookup like to the post
            # Without history access (e.g. missing channels:history) a possible repeat beats a lost message.
            self.logger.warning("outbox: cannot check %s for %s before posting again (%s)", message.channel, message.idempotency_key, error)
        return None


def _without(payload: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in keys}


def _share_ts(file: dict[str, Any], channel: str) -> str | None:
    shares = file.get("shares") or {}
    for visibility in ("public", "private"):
        for share in (shares.get(visibility) or {}).get(channel) or []:
            if share.get("ts"):
                return str(share["ts"])
    return None


def _retry_after(headers: Any) -> float:
    value = None
    if headers is not None:
        for name in ("Retry-After", "retry-after"):
            found = headers.get(name)
            if found:
                value = found[0] if isinstance(found, list) else found
                break
    try:
        return max(float(value), 0.0) if value is not None else 1.0
    except ValueError:
        return 1.0


def _classify_api_error(exc: SlackApiError) -> _Outcome:
    response = exc.response
    status = response.status_code if response is not None else None
    error = None
    if response is not None and isinstance(response.data, dict):
        error = response.data.get("error")
    if status == 429:
        return _Retry(error="ratelimited", retry_after=_retry_after(response.headers))
    if status is not None and status >= 500:
        # The body of a 5xx is often an HTML page, not one of Slack's error codes.
        code = f": {error}" if error and error.isidentifier() else ""
        return _Retry(error=f"HTTP {status}{code}", uncertain=True, outage=True)
    if error in PERMANENT_ERRORS:
        return _Permanent(error=error)  # type: ignore[arg-type]
    if error == "ratelimited":
        return _Retry(error="ratelimited", retry_after=_retry_after(response.headers if response is not None else None))
    # Unknown errors are retried (with a limit): giving up on a message Slack might accept later loses it.
    return _Retry(error=error or str(exc), uncertain=error in _UNCERTAIN_ERRORS, outage=error in _UNCERTAIN_ERRORS)


# --- reading the outbox -----------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxRow:
    """One queued message as ``northstar outbox`` shows it."""

    key: str
    team_id: str
    kind: str
    channel: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_ts: str | None
    created_at: datetime


def outbox_status(engine: Engine, *, failed_only: bool = False, team_id: str | None = None, limit: int | None = None) -> list[OutboxRow]:
    """Every queued message (or only the failed ones), oldest first, for ``northstar outbox [--failed]``."""
    with session_scope(engine) as session:
        rows = list_outbox(session=session, team_id=team_id, status=OutboxStatus.FAILED if failed_only else None, limit=limit)
        return [
            OutboxRow(
                key=row.idempotency_key,
                team_id=row.team_id,
                kind=row.kind,
                channel=row.channel,
                status=row.status,
                attempts=row.attempts,
                next_attempt_at=row.next_attempt_at,
                last_error=row.last_error,
                delivered_ts=row.delivered_ts,
                created_at=row.created_at,
            )
            for row in rows
        ]


@dataclass(frozen=True)
class DeliveryFinding:
    """A message that will never reach Slack, told in the words an audit shows."""

    key: str
    channel: str
    kind: str
    error: str
    attempts: int
    queued_at: datetime
    reason: str


def failed_delivery_findings(
    engine: Engine, *, team_id: str, channel: str | None = None, since: datetime | None = None
) -> list[DeliveryFinding]:
    """Permanent delivery failures in a workspace (optionally one contract's channel, queued since ``since``).

    The next audit lists them so that a message Slack refused (the bot removed from the channel,
    blocks too large, a revoked token) is noticed instead of silently missing.
    """
    with session_scope(engine) as session:
        statement = select(OutboxMessage).where(
            col(OutboxMessage.team_id) == team_id, col(OutboxMessage.status) == OutboxStatus.FAILED
        )
        if channel is not None:
            statement = statement.where(col(OutboxMessage.channel) == channel)
        if since is not None:
            statement = statement.where(col(OutboxMessage.created_at) >= since)
        rows = session.exec(statement.order_by(col(OutboxMessage.id))).all()
        return [
            DeliveryFinding(
                key=row.idempotency_key,
                channel=row.channel,
                kind=row.kind,
                error=row.last_error or "unknown error",
                attempts=row.attempts,
                queued_at=row.created_at,
                reason=f"a {row.kind} to <#{row.channel}> queued {row.created_at:%Y-%m-%d %H:%M} UTC was not delivered: "
                f"{_explain(row.last_error)}",
            )
            for row in rows
        ]


_EXPLANATIONS = {
    "channel_not_found": "the channel does not exist or the bot cannot see it",
    "not_in_channel": "the bot is not in the channel: invite it with /invite",
    "is_archived": "the channel is archived",
    "invalid_blocks": "Slack rejected the message layout",
    "msg_too_long": "the message is too long",
    "invalid_auth": "the workspace's token is not valid: reinstall Northstar",
    "token_revoked": "the workspace's token was revoked: reinstall Northstar",
    "account_inactive": "the bot's account is deactivated: reinstall Northstar",
}


def _explain(error: str | None) -> str:
    if not error:
        return "unknown error"
    return f"{_EXPLANATIONS[error]} ({error})" if error in _EXPLANATIONS else error
