"""Launch decisions and the signers' votes on them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select, update

from storage.contracts import get_contract_by_id, get_version_by_id
from storage.db import Reader, insert_unless_duplicate, utcnow
from storage.errors import InvalidValueError, RecordNotFoundError
from storage.models import DecisionState, LaunchDecision, LaunchVote, Recommendation, SignerRole, VoteChoice, check_member


def new_decision_id() -> str:
    """An unguessable id: it is a button value, and a guessable one would let anyone vote."""
    return uuid.uuid4().hex


def create_decision(
    *,
    session: Session,
    team_id: str,
    contract_id: int,
    contract_version_id: int,
    requested_by: str,
    channel: str,
    scorecard: dict[str, Any],
    recommendation: str,
    expires_at: datetime,
    experiment: str | None = None,
    outbox_key: str | None = None,
    enterprise_id: str | None = None,
    requested_at: datetime | None = None,
) -> LaunchDecision:
    """A pending launch decision with its scorecard frozen as it was at request time."""
    check_member(Recommendation, recommendation, what="recommendation")
    if get_contract_by_id(session=session, team_id=team_id, contract_id=contract_id) is None:
        raise RecordNotFoundError(f"no contract with id {contract_id} in this workspace")
    version = get_version_by_id(session=session, team_id=team_id, version_id=contract_version_id)
    if version is None or version.contract_id != contract_id:
        raise RecordNotFoundError(f"contract {contract_id} has no version with id {contract_version_id}")
    row = LaunchDecision(
        id=new_decision_id(),
        team_id=team_id,
        enterprise_id=enterprise_id,
        contract_id=contract_id,
        contract_version_id=contract_version_id,
        experiment=experiment,
        requested_by=requested_by,
        requested_at=requested_at or utcnow(),
        channel=channel,
        scorecard=scorecard,
        recommendation=recommendation,
        state=DecisionState.PENDING,
        expires_at=expires_at,
        outbox_key=outbox_key,
    )
    session.add(row)
    session.flush()
    return row


def get_decision(*, session: Session, team_id: str, decision_id: str) -> LaunchDecision | None:
    """The decision with that id; None when it does not exist or belongs to another workspace."""
    statement = select(LaunchDecision).where(LaunchDecision.team_id == team_id, LaunchDecision.id == decision_id)
    return session.exec(statement).first()


def list_decisions(
    *,
    session: Session,
    team_id: str,
    contract_id: int | None = None,
    state: str | None = None,
    expires_before: datetime | None = None,
    limit: int | None = None,
) -> Sequence[LaunchDecision]:
    """Decisions of the workspace, newest request first."""
    statement = select(LaunchDecision).where(LaunchDecision.team_id == team_id)
    if contract_id is not None:
        statement = statement.where(LaunchDecision.contract_id == contract_id)
    if state is not None:
        statement = statement.where(LaunchDecision.state == state)
    if expires_before is not None:
        statement = statement.where(col(LaunchDecision.expires_at) < expires_before)
    statement = statement.order_by(col(LaunchDecision.requested_at).desc(), col(LaunchDecision.id))
    if limit is not None:
        statement = statement.limit(limit)
    return session.exec(statement).all()


def set_decision_state(
    *, session: Session, team_id: str, decision_id: str, state: str, decided_at: datetime | None = None
) -> bool:
    """Close a pending decision as approved, rejected or expired; False if it was no longer pending.

    The condition on ``state = 'pending'`` is the compare-and-set: of an approval and an expiry
    racing, exactly one wins.
    """
    check_member(DecisionState, state, what="decision state")
    if state == DecisionState.PENDING:
        raise InvalidValueError("a decision cannot be set back to pending")
    statement = (
        update(LaunchDecision)
        .where(
            col(LaunchDecision.team_id) == team_id,
            col(LaunchDecision.id) == decision_id,
            col(LaunchDecision.state) == DecisionState.PENDING,
        )
        .values(state=state, decided_at=decided_at or utcnow(), revision=LaunchDecision.revision + 1)
    )
    return session.exec(statement).rowcount == 1


def set_decision_message(
    *, session: Session, team_id: str, decision_id: str, message_ts: str | None = None, outbox_key: str | None = None
) -> bool:
    """Remember where the decision's message is, so votes can update it in place."""
    values: dict[str, Any] = {}
    if message_ts is not None:
        values["message_ts"] = message_ts
    if outbox_key is not None:
        values["outbox_key"] = outbox_key
    if not values:
        return False
    statement = (
        update(LaunchDecision)
        .where(col(LaunchDecision.team_id) == team_id, col(LaunchDecision.id) == decision_id)
        .values(**values, revision=LaunchDecision.revision + 1)
    )
    return session.exec(statement).rowcount == 1


def record_vote(
    *,
    session: Session,
    team_id: str,
    decision_id: str,
    user_id: str,
    role: str,
    vote: str,
    reason: str | None = None,
    created_at: datetime | None = None,
) -> LaunchVote | None:
    """Record a signer's vote; None when that role has already voted on this decision.

    Safe under concurrent clicks: the unique (decision, role) constraint picks one vote.
    Raises :class:`RecordNotFoundError` when the decision is not in this workspace.
    """
    check_member(SignerRole, role, what="signer role")
    check_member(VoteChoice, vote, what="vote")
    if get_decision(session=session, team_id=team_id, decision_id=decision_id) is None:
        raise RecordNotFoundError(f"no launch decision {decision_id!r} in this workspace")
    row = LaunchVote(
        team_id=team_id,
        decision_id=decision_id,
        user_id=user_id,
        role=role,
        vote=vote,
        reason=reason,
        created_at=created_at or utcnow(),
    )
    return row if insert_unless_duplicate(session, row) else None


_VOTES = LaunchVote.__table__
_VOTES_OF_DECISION = (
    sa.select(_VOTES)
    .where(_VOTES.c.team_id == sa.bindparam("team_id"), _VOTES.c.decision_id == sa.bindparam("decision_id"))
    .order_by(_VOTES.c.created_at, _VOTES.c.id)
)


def list_votes(*, session: Reader, team_id: str, decision_id: str) -> Sequence[sa.Row]:
    """Votes on a decision in the order they were cast, as read-only rows (built once: every click reads them)."""
    return session.execute(_VOTES_OF_DECISION, {"team_id": team_id, "decision_id": decision_id}).all()
