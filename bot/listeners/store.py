"""What the listeners read and write, on top of storage's repository functions.

Every call takes the workspace (``team_id``) first and every query filters by it: a contract
of the same name in another workspace is invisible. Each method opens its own short
transaction, so a listener never holds a database connection while it talks to Slack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from metrics.classification import ScoreHistogram
from metrics.contract import Contract
from storage import contracts as contract_repo
from storage import snapshots as snapshot_repo
from storage.db import read_scope, session_scope


@dataclass(frozen=True)
class SnapshotView:
    """A stored snapshot, detached from the session."""

    metric: str
    window_start: datetime
    window_end: datetime
    value: float | None
    sample_size: float | None
    stats: dict[str, Any] | None
    status: str

    @property
    def histogram(self) -> ScoreHistogram | None:
        """The score histogram a classification pull stored, if any."""
        stats = self.stats or {}
        data = stats.get("histogram") if isinstance(stats.get("histogram"), (dict, str)) else None
        if data is None and "edges" in stats:
            data = stats
        return ScoreHistogram.from_dict(data) if data is not None else None


@dataclass(frozen=True)
class VersionView:
    version: int
    author: str
    created_at: datetime
    source_yaml: str
    contract: Contract


@dataclass(frozen=True)
class SignatureView:
    role: str
    user_id: str
    signed_at: datetime


@dataclass(frozen=True)
class SaveResult:
    version: int
    created: bool


def _snapshot_view(row) -> SnapshotView:
    return SnapshotView(
        metric=row.metric,
        window_start=row.window_start,
        window_end=row.window_end,
        value=row.value,
        sample_size=row.sample_size,
        stats=row.stats,
        status=row.status,
    )


class Store:
    """The bot's database as the listeners see it."""

    def __init__(self, engine: Engine):
        self.engine = engine

    # --- contracts -------------------------------------------------------------------------
    def contracts(self, team_id: str) -> list[Contract]:
        with read_scope(self.engine) as connection:
            return contract_repo.latest_parsed_contracts(session=connection, team_id=team_id)

    def contract(self, team_id: str, name: str) -> Contract | None:
        with read_scope(self.engine) as connection:
            return contract_repo.latest_parsed_contract(session=connection, team_id=team_id, name=name)

    def has_contracts(self, team_id: str) -> bool:
        with session_scope(self.engine) as session:
            return bool(contract_repo.list_contracts(session=session, team_id=team_id, include_archived=True))

    def versions(self, team_id: str, name: str) -> list[VersionView]:
        with session_scope(self.engine) as session:
            rows = contract_repo.list_versions(session=session, team_id=team_id, name=name)
            return [self._version_view(row) for row in rows]

    def version(self, team_id: str, name: str, version: int | None = None) -> VersionView | None:
        with read_scope(self.engine) as connection:
            row = contract_repo.get_version(session=connection, team_id=team_id, name=name, version=version)
        return self._version_view(row) if row is not None else None

    @staticmethod
    def _version_view(row) -> VersionView:
        return VersionView(
            version=row.version,
            author=row.author,
            created_at=row.created_at,
            source_yaml=row.source_yaml,
            contract=contract_repo.parse_version(row),
        )

    def save_contract(self, team_id: str, contract: Contract, *, source_yaml: str, author: str) -> SaveResult:
        with session_scope(self.engine) as session:
            result = contract_repo.sync_contract(
                session=session, team_id=team_id, contract=contract, source_yaml=source_yaml, author=author
            )
            return SaveResult(version=result.version_row.version, created=result.created)

    def sign(self, team_id: str, name: str, *, version: int, role: str, user_id: str) -> bool:
        """Record a signature; False when that role already signed this version."""
        with session_scope(self.engine) as session:
            signature = contract_repo.sign_version(
                session=session, team_id=team_id, name=name, version=version, role=role, user_id=user_id
            )
            return signature is not None

    def set_paused(self, team_id: str, name: str, until: datetime | None) -> bool:
        """Pause the contract's alerts until ``until`` (None resumes); False if there is no such contract."""
        with session_scope(self.engine) as session:
            return contract_repo.set_paused(session=session, team_id=team_id, name=name, until=until) is not None

    def signatures(self, team_id: str, name: str, version: int | None = None) -> list[SignatureView]:
        with read_scope(self.engine) as connection:
            rows = contract_repo.list_signatures(session=connection, team_id=team_id, name=name, version=version)
            return [SignatureView(role=r.role, user_id=r.user_id, signed_at=r.signed_at) for r in rows]

    # --- snapshots -------------------------------------------------------------------------
    def latest_snapshot(self, team_id: str, contract_name: str, metric: str) -> SnapshotView | None:
        with read_scope(self.engine) as connection:
            rows = snapshot_repo.newest_snapshots_by_name(
                session=connection, team_id=team_id, contract_name=contract_name, metric=metric, limit=1
            )
        return _snapshot_view(rows[0]) if rows else None

    def recent_snapshots(self, team_id: str, contract_name: str, metric: str, *, limit: int = 12) -> Sequence[SnapshotView]:
        """Successful snapshots, oldest first, at most ``limit`` of them."""
        with read_scope(self.engine) as connection:
            rows = snapshot_repo.newest_snapshots_by_name(
                session=connection, team_id=team_id, contract_name=contract_name, metric=metric, limit=limit
            )
        return [_snapshot_view(row) for row in reversed(rows)]
