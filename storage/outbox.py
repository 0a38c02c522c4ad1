"""The outbox: Slack calls persisted with the change they report, delivered later by a worker.

Enqueueing is idempotent on the caller's key, so a retried transaction or a re-run job cannot
queue a message twice. A message that replies to (``thread_key``) or edits (``target_key``)
another one waits until that one is delivered and has a Slack ts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import aliased
from sqlmodel import Session, and_, col, exists, or_, select, update

from storage.db import insert_unless_duplicate, utcnow
from storage.errors import IdempotencyKeyConflictError, InvalidValueError
from storage.models import OutboxKind, OutboxMessage, OutboxStatus, check_member


def enqueue_message(
    *,
    session: Session,
    team_id: str,
    idempotency_key: str,
    kind: str,
    channel: str,
    payload: dict[str, Any],
    thread_key: str | None = None,
    thread_ts: str | None = None,
    target_key: str | None = None,
    enterprise_id: str | None = None,
    not_before: datetime | None = None,
    now: datetime | None = None,
) -> OutboxMessage:
    """Queue a Slack call; the same key returns the message already queued and adds nothing."""
    check_member(OutboxKind, kind, what="outbox kind")
    if kind == OutboxKind.UPDATE and target_key is None and not payload.get("ts"):
        raise InvalidValueError(
            "an 'update' message needs target_key (the idempotency key of the message to edit) "
            "or, for a message posted outside the outbox, its ts in the payload"
        )
    existing = get_message(session=session, idempotency_key=idempotency_key)
    if existing is None:
        now = now or utcnow()
        message = OutboxMessage(
            team_id=team_id,
            enterprise_id=enterprise_id,
            idempotency_key=idempotency_key,
            kind=kind,
            channel=channel,
            thread_key=thread_key,
            thread_ts=thread_ts,
            target_key=target_key,
            payload=payload,
            status=OutboxStatus.PENDING,
            next_attempt_at=not_before or now,
            created_at=now,
        )
        if insert_unless_duplicate(session, message):
            return message
        # Another transaction queued the same key between our read and our insert.
        existing = get_message(session=session, idempotency_key=idempotency_key)
        assert existing is not None
    if existing.team_id != team_id:
        raise IdempotencyKeyConflictError(
            f"outbox key {idempotency_key!r} is already used by another workspace: keys must include the team id"
        )
    return existing


def get_message(*, session: Session, idempotency_key: str) -> OutboxMessage | None:
    """The message queued under a key (for a worker resolving a thread or update target)."""
    return session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == idempotency_key)).first()


def claim_due_messages(
    *,
    session: Session,
    now: datetime,
    limit: int,
    worker_id: str,
    lease_expired_before: datetime | None = None,
) -> list[OutboxMessage]:
    """Hand up to ``limit`` due messages to ``worker_id``, each to one worker only.

    Due means pending with ``next_attempt_at <= now`` and, for replies and edits, a delivered
    parent. With ``lease_expired_before``, messages left in 'sending' by a worker that claimed
    them before that time are taken over too. Claiming counts as an attempt and fills
    ``thread_ts`` from the delivered parent. Commit soon after: the claim is what other workers
    see.
    """
    parent = aliased(OutboxMessage)

    def delivered(key: Any) -> Any:
        return or_(
            key.is_(None),
            exists().where(parent.idempotency_key == key, parent.status == OutboxStatus.DELIVERED),
        )

    due = and_(col(OutboxMessage.status) == OutboxStatus.PENDING, col(OutboxMessage.next_attempt_at) <= now)
    if lease_expired_before is not None:
        abandoned = and_(col(OutboxMessage.status) == OutboxStatus.SENDING, col(OutboxMessage.claimed_at) < lease_expired_before)
        due = or_(due, abandoned)
    candidates = (
        select(OutboxMessage.id)
        .where(due, delivered(col(OutboxMessage.thread_key)), delivered(col(OutboxMessage.target_key)))
        .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Rows another worker is claiming right now are skipped, not waited for: workers never
        # queue behind each other and never see the same row.
        candidates = candidates.with_for_update(skip_locked=True, of=OutboxMessage)
    claimed_ids = []
    for message_id in session.exec(candidates).all():
        # The condition is repeated so that, without row locks (SQLite), a row another worker
        # claimed after our read is not claimed twice.
        claim = (
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == message_id, due)
            .values(status=OutboxStatus.SENDING, claimed_by=worker_id, claimed_at=now, attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session="fetch")
        )
        if session.exec(claim).rowcount == 1:
            claimed_ids.append(message_id)
    if not claimed_ids:
        return []
    statement = select(OutboxMessage).where(col(OutboxMessage.id).in_(claimed_ids)).order_by(col(OutboxMessage.id))
    messages = list(session.exec(statement.execution_options(populate_existing=True)).all())
    for message in messages:
        if message.thread_key is not None and message.thread_ts is None:
            thread_parent = get_message(session=session, idempotency_key=message.thread_key)
            message.thread_ts = thread_parent.delivered_ts if thread_parent is not None else None
            session.add(message)
    session.flush()
    return messages


def mark_delivered(
    *, session: Session, message_id: int, ts: str | None, delivered_at: datetime | None = None, channel: str | None = None
) -> bool:
    """Record Slack's ts (and the channel id it answered with) for a message being sent.

    False if it was not in 'sending'. Keeping the id matters because edits need it: a message
    queued for "#fraud-ml" can only be updated through "C0…".
    """
    values: dict[str, Any] = {"status": OutboxStatus.DELIVERED, "delivered_ts": ts, "delivered_at": delivered_at or utcnow(), "last_error": None}
    if channel:
        values["channel"] = channel
    statement = (
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id, col(OutboxMessage.status) == OutboxStatus.SENDING)
        .values(**values)
    )
    return session.exec(statement).rowcount == 1


def mark_failed(
    *,
    session: Session,
    message_id: int,
    error: str,
    permanent: bool,
    next_attempt_at: datetime | None = None,
) -> bool:
    """Record a failed attempt: give up (``permanent``) or put it back for ``next_attempt_at``.

    False if the message was not in 'sending'. The retry policy is the caller's.
    """
    values: dict[str, Any] = {"last_error": error, "claimed_by": None, "claimed_at": None}
    if permanent:
        values["status"] = OutboxStatus.FAILED
    else:
        if next_attempt_at is None:
            raise InvalidValueError("a retryable failure needs next_attempt_at")
        values.update(status=OutboxStatus.PENDING, next_attempt_at=next_attempt_at)
    statement = (
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id, col(OutboxMessage.status) == OutboxStatus.SENDING)
        .values(**values)
    )
    return session.exec(statement).rowcount == 1


def list_outbox(
    *, session: Session, team_id: str | None = None, status: str | None = None, limit: int | None = None
) -> Sequence[OutboxMessage]:
    """Queued messages in the order they were queued; every workspace's when ``team_id`` is None."""
    statement = select(OutboxMessage)
    if team_id is not None:
        statement = statement.where(OutboxMessage.team_id == team_id)
    if status is not None:
        check_member(OutboxStatus, status, what="outbox status")
        statement = statement.where(OutboxMessage.status == status)
    statement = statement.order_by(col(OutboxMessage.id))
    if limit is not None:
        statement = statement.limit(limit)
    return session.exec(statement).all()


def release_message(*, session: Session, message_id: int, next_attempt_at: datetime, error: str | None = None) -> bool:
    """Hand a message being sent back to 'pending' for ``next_attempt_at`` without counting the attempt.

    For a worker that claimed a message and then chose not to send it yet (pacing, an earlier
    message of the same thread still on its way, a rate limit that says nothing about the message
    itself). ``error`` replaces ``last_error`` when given. False if it was not in 'sending'.
    """
    values: dict[str, Any] = {
        "status": OutboxStatus.PENDING,
        "next_attempt_at": next_attempt_at,
        "claimed_by": None,
        "claimed_at": None,
        # Claiming counted an attempt (so a message in 'sending' has at least one) that was never made.
        "attempts": col(OutboxMessage.attempts) - 1,
    }
    if error is not None:
        values["last_error"] = error
    statement = (
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id, col(OutboxMessage.status) == OutboxStatus.SENDING)
        .values(**values)
    )
    return session.exec(statement).rowcount == 1


def list_abandoned_claims(*, session: Session, lease_expired_before: datetime) -> dict[int, datetime]:
    """Messages left in 'sending' by a worker that claimed them before ``lease_expired_before``, with that claim time.

    Read before :func:`claim_due_messages` takes them over (which overwrites ``claimed_at``): a
    worker that died after Slack answered leaves exactly such a row, and the old claim time bounds
    where to look for the message it may have posted.
    """
    statement = select(OutboxMessage.id, OutboxMessage.claimed_at).where(
        col(OutboxMessage.status) == OutboxStatus.SENDING, col(OutboxMessage.claimed_at) < lease_expired_before
    )
    return {message_id: claimed_at for message_id, claimed_at in session.exec(statement).all() if claimed_at is not None}
