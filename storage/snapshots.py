"""Metric snapshots: one row per pull of one metric over one window, never rewritten."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import union_all
from sqlmodel import Session, col, select

from storage.contracts import get_contract_by_id, get_version_by_id, rows_of_named_contract
from storage.db import Reader, utcnow
from storage.errors import RecordNotFoundError
from storage.models import MetricSnapshot, SnapshotStatus, check_member


def add_snapshot(
    *,
    session: Session,
    team_id: str,
    contract_id: int,
    contract_version_id: int,
    metric: str,
    window_start: datetime,
    window_end: datetime,
    value: float | None = None,
    sample_size: float | None = None,
    stats: dict[str, Any] | None = None,
    status: str = SnapshotStatus.OK,
    error: str | None = None,
    attempt: int = 1,
    pulled_at: datetime | None = None,
) -> MetricSnapshot:
    """Append what one pull produced; a failed pull is kept beside, never over, the good ones."""
    check_member(SnapshotStatus, status, what="snapshot status")
    if get_contract_by_id(session=session, team_id=team_id, contract_id=contract_id) is None:
        raise RecordNotFoundError(f"no contract with id {contract_id} in this workspace")
    version = get_version_by_id(session=session, team_id=team_id, version_id=contract_version_id)
    if version is None or version.contract_id != contract_id:
        raise RecordNotFoundError(f"contract {contract_id} has no version with id {contract_version_id}")
    row = MetricSnapshot(
        team_id=team_id,
        contract_id=contract_id,
        contract_version_id=contract_version_id,
        metric=metric,
        window_start=window_start,
        window_end=window_end,
        value=value,
        sample_size=sample_size,
        stats=stats,
        status=status,
        error=error,
        attempt=attempt,
        pulled_at=pulled_at or utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def _newest_first() -> tuple[Any, ...]:
    return (col(MetricSnapshot.window_end).desc(), col(MetricSnapshot.pulled_at).desc(), col(MetricSnapshot.id).desc())


def latest_snapshot(
    *, session: Session, team_id: str, contract_id: int, metric: str, status: str | None = SnapshotStatus.OK
) -> MetricSnapshot | None:
    """The snapshot with the latest window (the latest pull of it); any status when ``status`` is None."""
    statement = select(MetricSnapshot).where(
        MetricSnapshot.team_id == team_id, MetricSnapshot.contract_id == contract_id, MetricSnapshot.metric == metric
    )
    if status is not None:
        statement = statement.where(MetricSnapshot.status == status)
    return session.exec(statement.order_by(*_newest_first()).limit(1)).first()


_SNAPSHOTS = MetricSnapshot.__table__
# A metric's newest pulls, by contract name: what the listeners read on every /metric, /explain
# and /tradeoff, built once.
_NEWEST_BY_CONTRACT_NAME = (
    rows_of_named_contract(_SNAPSHOTS)
    .where(_SNAPSHOTS.c.metric == sa.bindparam("metric"), _SNAPSHOTS.c.status == sa.bindparam("status"))
    .order_by(_SNAPSHOTS.c.window_end.desc(), _SNAPSHOTS.c.pulled_at.desc(), _SNAPSHOTS.c.id.desc())
    .limit(sa.bindparam("limit"))
)


def newest_snapshots_by_name(
    *, session: Reader, team_id: str, contract_name: str, metric: str, limit: int, status: str = SnapshotStatus.OK
) -> Sequence[sa.Row]:
    """A metric's most recent snapshots of one status, newest window first, found by contract name.

    Rows carry :class:`MetricSnapshot`'s columns; a workspace without that contract gets none.
    """
    parameters = {"team_id": team_id, "name": contract_name, "metric": metric, "status": status, "limit": limit}
    return session.execute(_NEWEST_BY_CONTRACT_NAME, parameters).all()


def snapshots_between(
    *,
    session: Session,
    team_id: str,
    contract_id: int,
    start: datetime,
    end: datetime,
    metric: str | None = None,
    status: str | None = SnapshotStatus.OK,
) -> list[MetricSnapshot]:
    """Snapshots whose window lies within [start, end], oldest window first.

    A window pulled more than once appears once, as its latest pull, so a series never counts a
    day twice.
    """
    statement = select(MetricSnapshot).where(
        MetricSnapshot.team_id == team_id,
        MetricSnapshot.contract_id == contract_id,
        col(MetricSnapshot.window_start) >= start,
        col(MetricSnapshot.window_end) <= end,
    )
    if metric is not None:
        statement = statement.where(MetricSnapshot.metric == metric)
    if status is not None:
        statement = statement.where(MetricSnapshot.status == status)
    latest: dict[tuple[str, datetime, datetime], MetricSnapshot] = {}
    for row in session.exec(statement.order_by(col(MetricSnapshot.pulled_at), col(MetricSnapshot.id))):
        latest[(row.metric, row.window_start, row.window_end)] = row
    return sorted(latest.values(), key=lambda row: (row.window_end, row.metric))


def recent_snapshots(
    *,
    session: Session,
    team_id: str,
    contract_id: int,
    limit: int,
    metric: str | None = None,
    status: str | None = None,
) -> Sequence[MetricSnapshot]:
    """The most recent pulls, newest window first, failures included unless ``status`` is given."""
    statement = select(MetricSnapshot).where(MetricSnapshot.team_id == team_id, MetricSnapshot.contract_id == contract_id)
    if metric is not None:
        statement = statement.where(MetricSnapshot.metric == metric)
    if status is not None:
        statement = statement.where(MetricSnapshot.status == status)
    return session.exec(statement.order_by(*_newest_first()).limit(limit)).all()


def snapshots_in_windows(
    *,
    session: Session,
    team_id: str,
    contract_id: int,
    windows: Sequence[tuple[datetime, datetime, str | None]],
) -> list[list[MetricSnapshot]]:
    """For each ``(start, end, status)``, what :func:`snapshots_between` returns for it, in one query.

    A reader needing several ranges of a contract (an audit's weeks, the week's failed pulls,
    its baseline windows) pays one round trip and decodes each row's stats once.
    """
    if not windows:
        return []
    parts = []
    for start, end, status in windows:
        # window_end >= start holds for any window with window_start >= start; said outright, it
        # bounds each range's scan of (contract_id, window_end) from below, so a long history
        # before the range is not read.
        part = select(MetricSnapshot.id).where(
            MetricSnapshot.team_id == team_id,
            MetricSnapshot.contract_id == contract_id,
            col(MetricSnapshot.window_end) >= start,
            col(MetricSnapshot.window_end) <= end,
            col(MetricSnapshot.window_start) >= start,
        )
        parts.append(part.where(MetricSnapshot.status == status) if status is not None else part)
    # Ids per range, rows once: one index range scan per window, and a row in two ranges (a
    # baseline inside the audited weeks) is fetched and decoded once.
    statement = select(MetricSnapshot).where(col(MetricSnapshot.id).in_(union_all(*parts)))
    latest: list[dict[tuple[str, datetime, datetime], MetricSnapshot]] = [{} for _ in windows]
    for row in session.exec(statement.order_by(col(MetricSnapshot.pulled_at), col(MetricSnapshot.id))):
        for i, (start, end, status) in enumerate(windows):
            if row.window_start >= start and start <= row.window_end <= end and (status is None or row.status == status):
                latest[i][(row.metric, row.window_start, row.window_end)] = row
    return [sorted(found.values(), key=lambda row: (row.window_end, row.metric)) for found in latest]
