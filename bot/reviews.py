"""Answers to the audit's review question ("would we measure the same thing today?").

The Still right / Revisit buttons carry only the contract's name; it is looked up again in the
clicker's workspace. An answer belongs to the week of the audit it was given on, and each person
answers once per week: a second click (or a double click) records nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from storage.contracts import latest_parsed_contract, list_review_answers, record_review_answer
from storage.db import session_scope
from storage.models import Contract, OutboxKind, OutboxMessage, ReviewVerdict

__all__ = ["ANSWER_LABELS", "ReviewOutcome", "audit_week", "record_review", "review_period"]

ANSWER_LABELS = {ReviewVerdict.STILL_RIGHT: "Still right", ReviewVerdict.REVISIT: "Revisit"}
NOT_HERE = "That audit isn't about one of this workspace's contracts, so nothing was recorded."


@dataclass(frozen=True)
class ReviewOutcome:
    recorded: bool
    notice: str


def review_period(week_end: date) -> str:
    """The ISO week an audit covers: its week ends at midnight starting ``week_end``."""
    year, week, _ = (week_end - timedelta(days=1)).isocalendar()
    return f"{year}-W{week:02d}"


def audit_week(session: Session, *, team_id: str, contract_name: str, message_ts: str | None) -> date | None:
    """The week_end of the audit that was clicked: the one delivered as ``message_ts``, else the latest queued."""
    prefix = f"audit:{team_id}:{contract_name}:"
    statement = select(OutboxMessage).where(
        OutboxMessage.team_id == team_id, OutboxMessage.kind == OutboxKind.POST, col(OutboxMessage.thread_key).is_(None),
        col(OutboxMessage.idempotency_key).startswith(prefix, autoescape=True),
    )
    rows = list(session.exec(statement))
    clicked = [r for r in rows if message_ts and r.delivered_ts == message_ts] or sorted(rows, key=lambda r: r.idempotency_key)[-1:]
    for row in clicked:
        try:
            return date.fromisoformat(row.idempotency_key.removeprefix(prefix))
        except ValueError:
            return None
    return None


def record_review(
    engine: Engine, *, team_id: str, contract_name: str, user_id: str, answer: str, now: datetime, message_ts: str | None = None
) -> ReviewOutcome:
    """Record ``user_id``'s answer for the clicked audit's week, once per person and week."""
    label = ANSWER_LABELS[ReviewVerdict(answer)]
    with session_scope(engine) as session:
        # Locking the contract row serialises two clicks of one person on PostgreSQL, so the
        # "already answered?" check below cannot pass for both.
        statement = select(Contract).where(Contract.team_id == team_id, Contract.name == contract_name).with_for_update()
        contract = session.exec(statement).first()
        if contract is None:
            return ReviewOutcome(False, NOT_HERE)
        week_end = audit_week(session, team_id=team_id, contract_name=contract_name, message_ts=message_ts)
        if week_end is None:
            spec = latest_parsed_contract(session=session, team_id=team_id, name=contract_name)
            timezone = spec.schedule.timezone if spec is not None else "UTC"
            week_end = now.astimezone(ZoneInfo(timezone)).date()
        period = review_period(week_end)
        mine = [a for a in list_review_answers(session=session, team_id=team_id, contract_id=contract.id, period=period) if a.user_id == user_id]
        if mine:
            given = ANSWER_LABELS.get(ReviewVerdict(mine[0].answer), mine[0].answer)
            return ReviewOutcome(False, f"You already answered “{given}” for {contract_name}, week ending {week_end:%Y-%m-%d}.")
        record_review_answer(session=session, team_id=team_id, contract_id=contract.id, user_id=user_id, answer=answer,
                             period=period, created_at=now)
    return ReviewOutcome(True, f"Recorded “{label}” for {contract_name}, week ending {week_end:%Y-%m-%d}. Thank you.")
