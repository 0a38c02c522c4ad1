"""The weekly audit job: read a contract's weeks from storage, compose, and queue the messages.

:func:`compose_audit` only reads; :func:`post_audit` queues the channel message, the trend chart
(an ``upload`` in the message's thread) and the thread replies in one transaction, under keys
derived from the team, the contract and the week. Running the same week again (a retry, a second
replica, a catch-up after a restart) therefore queues nothing new.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.audit_chart import audit_chart
from bot.blocks.audit import build_audit_message
from metrics.audit import Audit, WeeklyPoint, pool_points
from metrics.audit import compose_audit as compose_pure
from metrics.contract import SIGNER_ROLES
from metrics.contract import Contract as ContractSpec
from storage.contracts import get_contract, get_version, parse_version
from storage.db import session_scope
from storage.errors import RecordNotFoundError
from storage.models import ContractSignature, ContractVersion, MetricSnapshot, OutboxMessage, OutboxStatus, SnapshotStatus
from storage.outbox import enqueue_message, get_message
from storage.snapshots import snapshots_in_windows

__all__ = ["AuditMessage", "audit_key", "compose_audit", "post_audit"]

#: Weeks read for the trend, the since-when walk and the silent-failure average.
WEEKS = 12
_WEEK = timedelta(days=7)


def audit_key(team_id: str, contract_name: str, week_end: date) -> str:
    """The idempotency key of a week's audit message; its chart and replies derive from it."""
    return f"audit:{team_id}:{contract_name}:{week_end:%Y-%m-%d}"


@dataclass(frozen=True)
class AuditMessage:
    """A composed audit, ready to queue: its payloads (message first, then replies) and chart."""

    team_id: str
    audit: Audit
    payloads: list[dict]
    chart: bytes | None
    key: str

    @property
    def channel(self) -> str:
        return self.audit.channel


def _local_midnight(day: date, timezone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def _point(row: MetricSnapshot) -> WeeklyPoint:
    return WeeklyPoint(week_end=row.window_end.date(), value=row.value, sample_size=row.sample_size, stats=row.stats)


#: Parsed contracts by (team, version id, content hash). Versions are immutable, so a version
#: parsed once stays valid for the life of the process; the weekly run composes each contract
#: more than once (with and without the chart, again on a retry).
_PARSED: dict[tuple[str, int | None, str], ContractSpec] = {}
_PARSED_LIMIT = 4096


def _parsed(version: ContractVersion) -> ContractSpec:
    key = (version.team_id, version.id, version.content_hash)
    spec = _PARSED.get(key)
    if spec is None:
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.clear()
        spec = _PARSED[key] = parse_version(version)
    return spec


def _unsigned_versions(session: Session, team_id: str, contract_id: int, spec: ContractSpec) -> list[int]:
    """Versions some named signer has not signed (only roles the contract names can sign)."""
    wanted = {role for role in SIGNER_ROLES if role in spec.signers} or set(SIGNER_ROLES)
    # Every version with its signatures in one query, rather than one per version.
    statement = (
        select(ContractVersion.version, ContractSignature.role)
        .select_from(ContractVersion)
        .outerjoin(
            ContractSignature,
            (col(ContractSignature.contract_version_id) == col(ContractVersion.id)) & (col(ContractSignature.team_id) == team_id),
        )
        .where(ContractVersion.contract_id == contract_id, ContractVersion.team_id == team_id)
    )
    roles: dict[int, set[str]] = {}
    for version, role in session.exec(statement):
        found = roles.setdefault(version, set())
        if role is not None:
            found.add(role)
    return [version for version in sorted(roles) if not wanted <= roles[version]]


def _failed_deliveries(session: Session, team_id: str, channel: str, start: datetime, end: datetime) -> list[str]:
    statement = select(OutboxMessage).where(
        OutboxMessage.team_id == team_id,
        OutboxMessage.channel == channel,
        OutboxMessage.status == OutboxStatus.FAILED,
        col(OutboxMessage.created_at) > start,
        col(OutboxMessage.created_at) <= end,
    )
    return [f"a message could not be delivered to {m.channel}: {m.last_error or 'unknown error'}" for m in session.exec(statement)]


def compose_audit(
    *,
    engine: Engine,
    team_id: str,
    contract_name: str,
    week_end: date,
    now: datetime,
    weeks: int = WEEKS,
    with_chart: bool = True,
    problems: Sequence[str] = (),
) -> AuditMessage:
    """Read the contract's last ``weeks`` weeks and compose the audit of the week ending ``week_end``.

    Weeks end at local midnight in the contract's time zone; the pulls whose window ends inside a
    week are pooled into it. Failed pulls of the week and failed deliveries to the contract's
    channel are added to ``problems``. Raises :class:`RecordNotFoundError` for an unknown contract.
    """
    with session_scope(engine) as session:
        row = get_contract(session=session, team_id=team_id, name=contract_name)
        version = get_version(session=session, team_id=team_id, name=contract_name) if row else None
        if row is None or version is None:
            raise RecordNotFoundError(f"no contract named {contract_name!r} in this workspace")
        spec = _parsed(version)
        end = _local_midnight(week_end, spec.schedule.timezone)
        start = end - weeks * _WEEK
        windows = [
            (start, end, SnapshotStatus.OK),
            (end - _WEEK, end, SnapshotStatus.FAILED),
            *(
                (_local_midnight(window.start, spec.schedule.timezone), _local_midnight(window.end, spec.schedule.timezone), SnapshotStatus.OK)
                for window in spec.baselines.values()
            ),
        ]
        # The weeks, the week's failed pulls and the baseline windows, every metric, in one query.
        rows, failed, *baseline_found = snapshots_in_windows(session=session, team_id=team_id, contract_id=row.id, windows=windows)
        baseline_rows = dict(zip(spec.baselines, baseline_found, strict=True))
        unsigned = _unsigned_versions(session, team_id, row.id, spec)
        deliveries = _failed_deliveries(session, team_id, spec.channel, end - _WEEK, now)
        paused_until = row.paused_until

    by_week: dict[str, dict[int, list[WeeklyPoint]]] = defaultdict(lambda: defaultdict(list))
    for snapshot in rows:
        # Week i covers (end - (i+1) weeks, end - i weeks]: a window belongs to the week it ends in.
        index = int((end - snapshot.window_end) / _WEEK + 1e-9)
        by_week[snapshot.metric][index].append(_point(snapshot))
    series: dict[str, list[WeeklyPoint]] = {}
    for metric in spec.metrics:
        weekly = by_week.get(metric.name, {})
        series[metric.name] = [
            pool_points(metric, week_end - i * _WEEK, weekly[i]) for i in sorted(weekly, reverse=True) if weekly[i]
        ]
    baseline_points: dict[str, dict[str, WeeklyPoint]] = defaultdict(dict)
    for name, window_rows in baseline_rows.items():
        for metric in spec.metrics:
            parts = [_point(r) for r in window_rows if r.metric == metric.name]
            if parts:
                baseline_points[metric.name][name] = pool_points(metric, spec.baselines[name].end, parts)
    seen = set()
    failures = []
    for snapshot in failed:
        if snapshot.metric not in seen:
            seen.add(snapshot.metric)
            failures.append(f"{snapshot.metric}: a pull failed this week ({snapshot.error or 'no error recorded'})")
    audit = compose_pure(
        spec, series, week_end=week_end, baseline_points=baseline_points, unsigned_versions=unsigned,
        problems=[*failures, *deliveries, *problems], paused_until=paused_until, now=now,
    )
    payloads = build_audit_message(audit)
    chart = audit_chart(audit) if with_chart else None
    return AuditMessage(team_id=team_id, audit=audit, payloads=payloads, chart=chart, key=audit_key(team_id, contract_name, week_end))


def _enqueue_all(session: Session, message: AuditMessage, now: datetime) -> list[OutboxMessage]:
    """Queue every part not queued yet; return only the rows this call added."""
    channel, key = message.channel, message.key
    queued: list[OutboxMessage] = []

    def enqueue(**kwargs) -> OutboxMessage | None:
        if get_message(session=session, idempotency_key=kwargs["idempotency_key"]) is not None:
            return None
        return enqueue_message(session=session, team_id=message.team_id, channel=channel, now=now, **kwargs)

    queued.append(enqueue(idempotency_key=key, kind="post", payload=message.payloads[0]))
    if message.chart is not None:
        upload = {
            "file_b64": base64.b64encode(message.chart).decode("ascii"),
            "filename": f"audit-{message.audit.contract}-{message.audit.week_end:%Y-%m-%d}.png",
            "title": f"{message.audit.title}: trend to {message.audit.week_end:%Y-%m-%d}",
            "initial_comment": "North star and the guardrail most in trouble, last weeks",
        }
        queued.append(enqueue(idempotency_key=f"{key}:chart", kind="upload", payload=upload, thread_key=key))
    for number, payload in enumerate(message.payloads[1:], start=1):
        queued.append(enqueue(idempotency_key=f"{key}:reply:{number}", kind="post", payload=payload, thread_key=key))
    return [row for row in queued if row is not None]


def post_audit(
    *,
    engine: Engine,
    team_id: str,
    contract_name: str,
    week_end: date,
    now: datetime,
    session: Session | None = None,
    message: AuditMessage | None = None,
    with_chart: bool = True,
) -> list[OutboxMessage]:
    """Queue the week's audit: message, chart in its thread, replies; returns the rows queued now.

    All rows are written in one transaction: ``session`` when the caller brings one (it commits),
    else a transaction of our own. A week already queued returns ``[]`` without composing again.
    """
    key = audit_key(team_id, contract_name, week_end)

    def already(s: Session) -> bool:
        return get_message(session=s, idempotency_key=key) is not None

    if session is not None and already(session):
        return []
    if session is None:
        with session_scope(engine) as probe:
            if already(probe):
                return []
    if message is None:
        message = compose_audit(engine=engine, team_id=team_id, contract_name=contract_name, week_end=week_end, now=now, with_chart=with_chart)

    if session is not None:
        return _enqueue_all(session, message, now)
    with session_scope(engine) as s:
        return _enqueue_all(s, message, now)
