"""Alert state per metric, changed only by compare-and-set on ``revision``.

Two evaluations of one metric can overlap (a scheduled pull and a manual re-run, or two
replicas); the revision makes the second writer notice instead of posting a second alert.
A revision of 0 stands for "no state yet".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select, update

from storage.contracts import get_contract_by_id
from storage.db import insert_unless_duplicate
from storage.errors import InvalidValueError, RecordNotFoundError
from storage.models import AlertState, AlertStateBase, AlertStatus, check_member

ABSENT_REVISION = 0
ALERT_FIELDS = frozenset(AlertStateBase.model_fields)


def get_alert_state(*, session: Session, team_id: str, contract_id: int, metric: str) -> AlertState | None:
    """The metric's alert state, or None before its first evaluation."""
    statement = select(AlertState).where(
        AlertState.team_id == team_id, AlertState.contract_id == contract_id, AlertState.metric == metric
    )
    return session.exec(statement).first()


def get_alert_state_by_id(*, session: Session, team_id: str, state_id: int) -> AlertState | None:
    """The alert state with that id, if it belongs to the workspace (ids travel in button values)."""
    statement = select(AlertState).where(AlertState.team_id == team_id, AlertState.id == state_id)
    return session.exec(statement.execution_options(populate_existing=True)).first()


def list_alert_states(
    *, session: Session, team_id: str, contract_id: int | None = None, state: str | None = None
) -> Sequence[AlertState]:
    """Alert states of the workspace (one contract's, or one state's), by contract and metric."""
    statement = select(AlertState).where(AlertState.team_id == team_id)
    if contract_id is not None:
        statement = statement.where(AlertState.contract_id == contract_id)
    if state is not None:
        statement = statement.where(AlertState.state == state)
    return session.exec(statement.order_by(col(AlertState.contract_id), col(AlertState.metric))).all()


def upsert_alert_state(
    *,
    session: Session,
    team_id: str,
    contract_id: int,
    metric: str,
    expected_revision: int,
    **changes: Any,
) -> bool:
    """Write ``changes`` if the state is still at ``expected_revision``; False if it moved.

    ``expected_revision=0`` creates the state (False if someone else created it first); any
    other value updates it and bumps the revision by one. Re-read with :func:`get_alert_state`
    after a False to see what the other writer did.
    """
    unknown = sorted(set(changes) - ALERT_FIELDS)
    if unknown:
        raise InvalidValueError(f"alert state has no field(s) {', '.join(unknown)} (fields: {', '.join(sorted(ALERT_FIELDS))})")
    if "state" in changes:
        check_member(AlertStatus, changes["state"], what="alert state")
    if expected_revision == ABSENT_REVISION:
        if get_contract_by_id(session=session, team_id=team_id, contract_id=contract_id) is None:
            raise RecordNotFoundError(f"no contract with id {contract_id} in this workspace")
        row = AlertState(team_id=team_id, contract_id=contract_id, metric=metric, revision=1, **changes)
        return insert_unless_duplicate(session, row)
    statement = (
        update(AlertState)
        .where(
            col(AlertState.team_id) == team_id,
            col(AlertState.contract_id) == contract_id,
            col(AlertState.metric) == metric,
            col(AlertState.revision) == expected_revision,
        )
        .values(**changes, revision=expected_revision + 1)
    )
    return session.exec(statement).rowcount == 1
