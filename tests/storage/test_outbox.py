from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, func, text
from sqlmodel import Session, select

from storage import repository as repo
from storage.errors import IdempotencyKeyConflictError, InvalidValueError
from storage.models import OutboxMessage
from tests.storage import DAY, T0, result_of, run_in_thread

NOW = T0 + DAY


def enqueue(session: Session, key: str, **fields: object) -> OutboxMessage:
    fields.setdefault("kind", "post")
    fields.setdefault("now", T0)
    return repo.enqueue_message(
        session=session, team_id=str(fields.pop("team_id", "T1")), idempotency_key=key, channel="C1",
        payload=fields.pop("payload", {"text": key}), **fields,  # type: ignore[arg-type]
    )


def rows(session: Session) -> int:
    return session.exec(select(func.count()).select_from(OutboxMessage)).one()


def test_enqueue_is_idempotent_on_the_key(session: Session) -> None:
    first = enqueue(session, "T1:alert:1", payload={"text": "first"})
    again = enqueue(session, "T1:alert:1", payload={"text": "second"})
    assert again.id == first.id and again.payload == {"text": "first"}
    assert rows(session) == 1


def test_enqueue_of_the_same_key_from_two_transactions_keeps_one(engine: Engine) -> None:
    with Session(engine) as first:
        enqueue(first, "T1:audit:w36")

        def second_enqueue() -> object:
            with Session(engine) as second:
                message = enqueue(second, "T1:audit:w36", payload={"text": "again"})
                second.commit()
                return message.payload

        thread, outcome = run_in_thread(second_enqueue)
        first.commit()
    assert result_of(thread, outcome) == {"text": "T1:audit:w36"}
    with Session(engine) as session:
        assert rows(session) == 1


def test_a_key_used_by_another_workspace_is_a_conflict(session: Session) -> None:
    enqueue(session, "alert:1", team_id="T1")
    with pytest.raises(IdempotencyKeyConflictError):
        enqueue(session, "alert:1", team_id="T2")


def test_update_needs_a_target(session: Session) -> None:
    with pytest.raises(InvalidValueError, match="target_key"):
        enqueue(session, "T1:update", kind="update")
    # A message posted outside the outbox is named by its ts, and is due at once.
    by_ts = enqueue(session, "T1:update-by-ts", kind="update", payload={"text": "edited", "ts": "1700000000.000100"})
    assert [m.id for m in repo.claim_due_messages(session=session, now=NOW, limit=10, worker_id="w")] == [by_ts.id]
    with pytest.raises(InvalidValueError):
        enqueue(session, "T1:dm", kind="email")


def test_claim_takes_due_messages_only(session: Session) -> None:
    due = enqueue(session, "due")
    enqueue(session, "later", not_before=NOW + DAY)
    claimed = repo.claim_due_messages(session=session, now=NOW, limit=10, worker_id="w1")
    assert [m.id for m in claimed] == [due.id]
    (message,) = claimed
    assert (message.status, message.claimed_by, message.claimed_at, message.attempts) == ("sending", "w1", NOW, 1)
    assert repo.claim_due_messages(session=session, now=NOW, limit=10, worker_id="w2") == []


def test_replies_and_edits_wait_for_their_parent(session: Session) -> None:
    parent = enqueue(session, "alert")
    reply = enqueue(session, "reminder", thread_key="alert")
    edit = enqueue(session, "resolve", kind="update", target_key="alert")
    assert [m.id for m in repo.claim_due_messages(session=session, now=NOW, limit=10, worker_id="w")] == [parent.id]
    assert parent.id is not None and repo.mark_delivered(session=session, message_id=parent.id, ts="1700000000.000100")
    claimed = repo.claim_due_messages(session=session, now=NOW, limit=10, worker_id="w")
    assert [m.id for m in claimed] == [reply.id, edit.id]
    assert claimed[0].thread_ts == "1700000000.000100"


def test_delivery_and_failure_bookkeeping(session: Session) -> None:
    message = enqueue(session, "m")
    assert message.id is not None
    assert not repo.mark_delivered(session=session, message_id=message.id, ts="1.1")  # not claimed yet
    repo.claim_due_messages(session=session, now=NOW, limit=1, worker_id="w")
    assert repo.mark_failed(session=session, message_id=message.id, error="ratelimited", permanent=False, next_attempt_at=NOW + DAY)
    session.refresh(message)
    assert (message.status, message.next_attempt_at, message.last_error, message.claimed_by) == ("pending", NOW + DAY, "ratelimited", None)
    assert repo.claim_due_messages(session=session, now=NOW, limit=1, worker_id="w") == []
    (again,) = repo.claim_due_messages(session=session, now=NOW + DAY, limit=1, worker_id="w")
    assert again.attempts == 2
    assert repo.mark_failed(session=session, message_id=message.id, error="channel_not_found", permanent=True)
    assert [m.id for m in repo.list_outbox(session=session, status="failed")] == [message.id]
    with pytest.raises(InvalidValueError):
        repo.mark_failed(session=session, message_id=message.id, error="x", permanent=False)


def test_an_abandoned_send_is_taken_over_after_its_lease(session: Session) -> None:
    message = enqueue(session, "m")
    repo.claim_due_messages(session=session, now=NOW, limit=1, worker_id="dead")
    assert repo.claim_due_messages(session=session, now=NOW, limit=1, worker_id="w", lease_expired_before=NOW) == []
    (taken,) = repo.claim_due_messages(session=session, now=NOW + DAY, limit=1, worker_id="w", lease_expired_before=NOW + DAY)
    assert taken.id == message.id and taken.claimed_by == "w" and taken.attempts == 2


def test_two_workers_never_get_the_same_message(engine: Engine) -> None:
    with Session(engine) as session:
        ids = [enqueue(session, f"m{i}").id for i in range(10)]
        session.commit()
    with Session(engine) as first:
        mine = [m.id for m in repo.claim_due_messages(session=first, now=NOW, limit=5, worker_id="w1")]
        if engine.dialect.name == "postgresql":
            # While the first worker's claim is still open, the second skips its rows instead of
            # waiting for them (a lock wait would fail fast here rather than hang the test).
            with Session(engine) as second:
                second.exec(text("SET LOCAL lock_timeout = '2s'"))  # type: ignore[call-overload]
                theirs = [m.id for m in repo.claim_due_messages(session=second, now=NOW, limit=10, worker_id="w2")]
                second.commit()
            first.commit()
        else:
            # SQLite runs one writer at a time: the second worker starts after the first commits.
            first.commit()
            with Session(engine) as second:
                theirs = [m.id for m in repo.claim_due_messages(session=second, now=NOW, limit=10, worker_id="w2")]
                second.commit()
    assert len(mine) == 5 and len(theirs) == 5
    assert set(mine).isdisjoint(theirs) and sorted(mine + theirs) == sorted(ids)


def test_many_workers_draining_concurrently_send_each_message_once(engine: Engine) -> None:
    with Session(engine) as session:
        ids = [enqueue(session, f"m{i}").id for i in range(24)]
        session.commit()
    workers = 4
    barrier = threading.Barrier(workers)

    def drain(worker: str) -> object:
        taken: list[int | None] = []
        barrier.wait()
        while True:
            with Session(engine) as session:
                batch = [m.id for m in repo.claim_due_messages(session=session, now=NOW, limit=3, worker_id=worker)]
                session.commit()
            if not batch:
                return taken
            taken.extend(batch)

    started = [run_in_thread(lambda worker=f"w{i}": drain(worker)) for i in range(workers)]
    taken = [message_id for thread, outcome in started for message_id in result_of(thread, outcome)]  # type: ignore[attr-defined]
    assert sorted(taken) == sorted(ids)
