"""Tables of the bot's own database (sqlmodel).

Every row belongs to one Slack workspace (``team_id``) and every repository query filters on it.
Timestamps are timezone-aware UTC on the way in and on the way out, on SQLite as on PostgreSQL.
Vocabularies (roles, states, kinds) are plain strings guarded by CHECK constraints rather than
database enums, so that adding a value is a one-line migration on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, Dialect, Index, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapper
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from storage.db import utcnow
from storage.errors import ImmutableRecordError, InvalidValueError

# Named constraints let Alembic's SQLite batch mode drop and recreate them in later revisions.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata = SQLModel.metadata


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always hands back aware UTC datetimes.

    SQLite keeps no offset, so values are stored as naive UTC there and re-labelled on read;
    naive input is refused because its meaning depends on the host's clock.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidValueError(f"timestamp {value.isoformat()} has no time zone: pass an aware datetime (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- vocabularies ---------------------------------------------------------------------------


class SignerRole(StrEnum):
    PM = "pm"
    ENG = "eng"
    DS = "ds"


class SnapshotStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"


class AlertStatus(StrEnum):
    OK = "ok"
    VIOLATED = "violated"
    RECOVERED = "recovered"


class Recommendation(StrEnum):
    SHIP = "ship"
    HOLD = "hold"
    BLOCK = "block"


class DecisionState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class VoteChoice(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    OVERRIDE = "override"


class ReviewVerdict(StrEnum):
    STILL_RIGHT = "still_right"
    REVISIT = "revisit"


class JobStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class OutboxKind(StrEnum):
    POST = "post"
    UPDATE = "update"
    UPLOAD = "upload"
    EPHEMERAL = "ephemeral"
    RESPOND = "respond"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


def check_member(vocabulary: type[StrEnum], value: str, *, what: str) -> str:
    """Return ``value`` if it belongs to ``vocabulary``; raise InvalidValueError naming it otherwise.

    Checked in Python before writing because a CHECK violation surfaces as the same
    IntegrityError as a unique violation, which callers treat as "already done".
    """
    allowed = [member.value for member in vocabulary]
    if value not in allowed:
        raise InvalidValueError(f"{what} {value!r} is not one of {', '.join(allowed)}")
    return str(value)


def _in(column: str, vocabulary: type[StrEnum]) -> CheckConstraint:
    values = ", ".join(f"'{member.value}'" for member in vocabulary)
    return CheckConstraint(f"{column} IN ({values})", name=column)


def _timestamp(*, nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=UTCDateTime(), nullable=True)
    return Field(sa_type=UTCDateTime(), nullable=False)


def _stamped() -> Any:
    """A required timestamp that defaults to now when the caller brings no clock."""
    return Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)


# --- contracts ------------------------------------------------------------------------------


class Contract(SQLModel, table=True):
    """A contract by name in one workspace; its content lives in immutable versions."""

    __tablename__ = "contracts"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True)
    enterprise_id: str | None = None
    name: str
    created_at: datetime = _stamped()
    latest_version: int = 0
    paused_until: datetime | None = _timestamp(nullable=True)
    archived_at: datetime | None = _timestamp(nullable=True)


class ContractVersion(SQLModel, table=True):
    """One version of a contract's YAML, kept as written: never updated, never deleted."""

    __tablename__ = "contract_versions"
    __table_args__ = (UniqueConstraint("contract_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contracts.id", index=True)
    team_id: str = Field(index=True)
    version: int
    source_yaml: str = Field(sa_type=Text)
    parsed: dict[str, Any] = Field(sa_type=JSON)
    content_hash: str
    author: str
    source_path: str | None = None
    created_at: datetime = _stamped()


@event.listens_for(ContractVersion, "before_update")
def _refuse_version_update(_mapper: Mapper[Any], _connection: Any, target: ContractVersion) -> None:
    # Who signed what depends on the text staying exactly as it was signed.
    raise ImmutableRecordError(f"contract version {target.version} (id {target.id}) is immutable: sync a new version instead")


class ContractSignature(SQLModel, table=True):
    """A signer's sign-off on one contract version; one per role."""

    __tablename__ = "contract_signatures"
    __table_args__ = (UniqueConstraint("contract_version_id", "role"), _in("role", SignerRole))

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True)
    contract_version_id: int = Field(foreign_key="contract_versions.id", index=True)
    role: str
    user_id: str
    signed_at: datetime = _stamped()


class ReviewAnswer(SQLModel, table=True):
    """An answer to the periodic "would we measure the same thing today?" review."""

    __tablename__ = "review_answers"
    __table_args__ = (_in("answer", ReviewVerdict),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True)
    contract_id: int = Field(foreign_key="contracts.id", index=True)
    user_id: str
    answer: str
    period: str
    created_at: datetime = _stamped()


# --- snapshots and alerts -------------------------------------------------------------------


class MetricSnapshotBase(SQLModel):
    """What a pull produced for one metric and window."""

    metric: str
    window_start: datetime = _timestamp()
    window_end: datetime = _timestamp()
    value: float | None = None
    sample_size: float | None = None
    stats: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    status: str = SnapshotStatus.OK
    error: str | None = Field(default=None, sa_type=Text)
    attempt: int = 1


class MetricSnapshot(MetricSnapshotBase, table=True):
    """Append-only: a re-pull adds a row, a failed pull never replaces a good one."""

    __tablename__ = "metric_snapshots"
    __table_args__ = (
        Index("ix_metric_snapshots_contract_metric_window_end", "contract_id", "metric", "window_end"),
        # Reads of every metric of a contract (the weekly audit) need the contract and window
        # without the metric; otherwise SQLite scans the whole workspace through team_id.
        Index("ix_metric_snapshots_contract_window_end", "contract_id", "window_end"),
        _in("status", SnapshotStatus),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True)
    contract_id: int = Field(foreign_key="contracts.id")
    contract_version_id: int = Field(foreign_key="contract_versions.id")
    pulled_at: datetime = _stamped()


class AlertStateBase(SQLModel):
    """The fields of an alert state that evaluation may change."""

    state: str = AlertStatus.OK
    since: datetime = _stamped()
    last_value: float | None = None
    last_evaluated_at: datetime = _stamped()
    last_reminded_at: datetime | None = _timestamp(nullable=True)
    reminders: int = 0
    message_channel: str | None = None
    message_ts: str | None = None
    outbox_key: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = _timestamp(nullable=True)
    snoozed_until: datetime | None = _timestamp(nullable=True)
    snoozed_by: str | None = None
    snooze_value: float | None = None


class AlertState(AlertStateBase, table=True):
    """Where one metric's alert stands; ``revision`` makes every update a compare-and-set."""

    __tablename__ = "alert_states"
    __table_args__ = (UniqueConstraint("contract_id", "metric"), _in("state", AlertStatus))

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True)
    contract_id: int = Field(foreign_key="contracts.id")
    metric: str
    revision: int = 1


# --- launches -------------------------------------------------------------------------------


class LaunchDecision(SQLModel, table=True):
    """A launch request and its outcome; the id travels in button values, so it is unguessable."""

    __tablename__ = "launch_decisions"
    __table_args__ = (_in("recommendation", Recommendation), _in("state", DecisionState))

    id: str = Field(primary_key=True)
    team_id: str = Field(index=True)
    enterprise_id: str | None = None
    contract_id: int = Field(foreign_key="contracts.id", index=True)
    contract_version_id: int = Field(foreign_key="contract_versions.id")
    experiment: str | None = None
    requested_by: str
    requested_at: datetime = _stamped()
    channel: str
    scorecard: dict[str, Any] = Field(sa_type=JSON)
    recommendation: str
    state: str = DecisionState.PENDING
    expires_at: datetime = _timestamp()
    decided_at: datetime | None = _timestamp(nullable=True)
    message_ts: str | None = None
    outbox_key: str | None = None
    revision: int = 1


class LaunchVote(SQLModel, table=True):
    """One signer's vote on a launch decision; one per role."""

    __tablename__ = "launch_votes"
    __table_args__ = (UniqueConstraint("decision_id", "role"), _in("role", SignerRole), _in("vote", VoteChoice))

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True)
    decision_id: str = Field(foreign_key="launch_decisions.id", index=True)
    user_id: str
    role: str
    vote: str
    reason: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _stamped()


# --- operations -----------------------------------------------------------------------------


class JobClaim(SQLModel, table=True):
    """Proof that one process took one scheduled run; the unique key is the lock."""

    __tablename__ = "job_claims"
    __table_args__ = (UniqueConstraint("job_key", "period"), _in("status", JobStatus))

    id: int | None = Field(default=None, primary_key=True)
    job_key: str
    period: str
    claimed_by: str
    claimed_at: datetime = _stamped()
    finished_at: datetime | None = _timestamp(nullable=True)
    status: str = JobStatus.RUNNING
    error: str | None = Field(default=None, sa_type=Text)


class OutboxMessage(SQLModel, table=True):
    """A Slack call waiting to be made, written in the same transaction as the change it reports."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        _in("kind", OutboxKind),
        _in("status", OutboxStatus),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True)
    enterprise_id: str | None = None
    idempotency_key: str = Field(unique=True)
    kind: str
    channel: str
    # The parent's idempotency key: a reply can be queued before its parent has a Slack ts.
    thread_key: str | None = None
    thread_ts: str | None = None
    # For 'update': the idempotency key of the message to edit.
    target_key: str | None = None
    payload: dict[str, Any] = Field(sa_type=JSON)
    status: str = OutboxStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime = _stamped()
    last_error: str | None = Field(default=None, sa_type=Text)
    delivered_ts: str | None = None
    created_at: datetime = _stamped()
    delivered_at: datetime | None = _timestamp(nullable=True)
    claimed_by: str | None = None
    claimed_at: datetime | None = _timestamp(nullable=True)
