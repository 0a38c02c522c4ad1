"""Acknowledge and snooze guardrail alerts, and keep each alert message in step with its states.

The buttons carry only an alert state's id. Who clicked and in which workspace come from the
payload; the state is looked up inside that workspace and changed by compare-and-set on its
revision, so a double click (or two replicas) records once. Every change queues, in the same
transaction, an outbox ``update`` that edits the posted alert in place.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from bot.blocks.alerts import AlertStanding, alert_state_ids, build_alert_update
from metrics.contract import Contract as ContractSpec
from metrics.evaluation import format_value
from storage.alerts import get_alert_state_by_id, upsert_alert_state
from storage.contracts import get_contract_by_id, latest_parsed_contract
from storage.db import session_scope
from storage.models import AlertState, AlertStatus, OutboxKind, OutboxMessage
from storage.outbox import enqueue_message, get_message

__all__ = ["SNOOZE", "AlertOutcome", "acknowledge_alert", "enqueue_alert_update", "snooze_alert", "standing_of"]

logger = logging.getLogger(__name__)

SNOOZE = timedelta(hours=24)
#: Attempts when a pull (or another click) keeps changing the state between our read and write.
WRITE_ATTEMPTS = 3
NOT_HERE = "That alert isn't one of this workspace's, so nothing was changed."
OVER = "That breach is over already; nothing to do."


@dataclass(frozen=True)
class AlertOutcome:
    """What a click did: ``changed`` when it was recorded; ``notice`` is told to the clicker only."""

    changed: bool
    notice: str


class _Moved(Exception):
    """The alert state changed between our read and our write."""


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _units(spec: ContractSpec | None) -> dict[str, str]:
    return {m.name: m.unit for m in spec.metrics} if spec is not None else {}


def standing_of(row: AlertState, *, alert_key: str, unit: str | None, now: datetime) -> AlertStanding:
    """How the alert message keyed ``alert_key`` should show this state's breach at ``now``.

    ``unit`` is the metric's unit for a bound; None for a check (drift, pipeline), whose stored
    value is a statistic of its own and is not worth quoting.
    """
    if row.outbox_key != alert_key:
        # A later breach took the state over (or it cleared): this message's breach has ended.
        return AlertStanding(over=True)
    if row.state == AlertStatus.RECOVERED:
        value = format_value(row.last_value, unit) if unit is not None and row.last_value is not None else None
        return AlertStanding(over=True, recovered_value=value, recovered_at=row.since)
    hours = None
    if row.reminders and row.last_reminded_at is not None and row.since is not None:
        hours = (row.last_reminded_at - row.since).total_seconds() / 3600
    snoozed = row.snoozed_until is not None and row.snoozed_until > now
    return AlertStanding(
        acknowledged_by=row.acknowledged_by if row.acknowledged_at is not None else None,
        acknowledged_at=row.acknowledged_at,
        snoozed_by=row.snoozed_by if snoozed else None,
        snoozed_until=row.snoozed_until if snoozed else None,
        breached_hours=hours,
    )


def enqueue_alert_update(
    session: Session, *, team_id: str, alert_key: str, now: datetime, units: Mapping[str, str] | None = None
) -> OutboxMessage | None:
    """Queue an edit of the alert message ``alert_key`` showing where each of its breaches stands.

    Reads the states after the caller's writes, in the caller's transaction. The key is derived
    from the states' revisions, so the same states never queue the same edit twice. None when the
    alert message is not this workspace's (or was never queued).
    """
    original = get_message(session=session, idempotency_key=alert_key)
    if original is None or original.team_id != team_id or original.kind != OutboxKind.POST:
        return None
    units = units or {}
    rows = [row for state_id in alert_state_ids(original.payload)
            if (row := get_alert_state_by_id(session=session, team_id=team_id, state_id=state_id)) is not None]
    if not rows:
        return None
    standings = {row.id: standing_of(row, alert_key=alert_key, unit=units.get(row.metric), now=now) for row in rows}
    digest = hashlib.sha256(",".join(f"{row.id}:{row.revision}" for row in rows).encode()).hexdigest()[:16]
    # chat.update wants the channel id; a click tells us where the message really is.
    channel = next((row.message_channel for row in rows if row.message_channel), original.channel)
    return enqueue_message(
        session=session, team_id=team_id, idempotency_key=f"update:{alert_key}:{digest}", kind=OutboxKind.UPDATE,
        channel=channel, payload=build_alert_update(original.payload, standings), target_key=alert_key, now=now,
    )


def _parse_id(value: str) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _spec(session: Session, team_id: str, row: AlertState) -> ContractSpec | None:
    contract = get_contract_by_id(session=session, team_id=team_id, contract_id=row.contract_id)
    return latest_parsed_contract(session=session, team_id=team_id, name=contract.name) if contract is not None else None


def _change(
    engine: Engine, *, team_id: str, value: str, user_id: str, now: datetime, channel: str | None, decide
) -> AlertOutcome:
    """Look the state up in the clicker's workspace, let ``decide`` refuse or name the changes, write by CAS."""
    state_id = _parse_id(value)
    if state_id is None:
        return AlertOutcome(False, NOT_HERE)
    for _ in range(WRITE_ATTEMPTS):
        try:
            with session_scope(engine) as session:
                row = get_alert_state_by_id(session=session, team_id=team_id, state_id=state_id)
                if row is None:
                    return AlertOutcome(False, NOT_HERE)
                if row.state != AlertStatus.VIOLATED or row.outbox_key is None:
                    return AlertOutcome(False, OVER)
                # Most clicks are refused on the row alone (already acknowledged, snoozed): the
                # contract is read only when a decision or the redrawn message needs it.
                found: list[ContractSpec | None] = []

                def spec() -> ContractSpec | None:
                    if not found:
                        found.append(_spec(session, team_id, row))
                    return found[0]

                decided = decide(row, spec)
                if isinstance(decided, AlertOutcome):
                    return decided
                changes, notice = decided
                if channel and not row.message_channel:
                    changes["message_channel"] = channel
                if not upsert_alert_state(session=session, team_id=team_id, contract_id=row.contract_id, metric=row.metric,
                                          expected_revision=row.revision, **changes):
                    raise _Moved()
                enqueue_alert_update(session, team_id=team_id, alert_key=row.outbox_key, now=now, units=_units(spec()))
                return AlertOutcome(True, notice)
        except _Moved:
            logger.info("alert state %s moved while %s clicked it; reading it again", state_id, user_id)
    return AlertOutcome(False, "That alert is changing right now; please try again in a moment.")


def acknowledge_alert(engine: Engine, *, team_id: str, value: str, user_id: str, now: datetime,
                      channel: str | None = None) -> AlertOutcome:
    """Any member of the workspace may acknowledge: it records who and when and stops reminders."""

    def decide(row: AlertState, spec: Callable[[], ContractSpec | None]):
        if row.acknowledged_at is not None:
            return AlertOutcome(False, f"Already acknowledged by <@{row.acknowledged_by}> at {_when(row.acknowledged_at)}.")
        changes = {"acknowledged_by": user_id, "acknowledged_at": now}
        return changes, f"Acknowledged {row.metric}: no more reminders for this breach."

    return _change(engine, team_id=team_id, value=value, user_id=user_id, now=now, channel=channel, decide=decide)


def _signers(spec: ContractSpec | None) -> str:
    names = " ".join(f"<@{user}>" for user in dict.fromkeys((spec.signers if spec else {}).values()))
    return names or "nobody (the contract names no signers)"


def snooze_alert(engine: Engine, *, team_id: str, value: str, user_id: str, now: datetime,
                 channel: str | None = None) -> AlertOutcome:
    """Only the contract's signers may snooze: quiet for 24 h unless the value worsens past the margin."""

    def decide(row: AlertState, spec: Callable[[], ContractSpec | None]):
        # Identity is the payload's user checked against the stored contract's signers.
        contract = spec()
        if contract is None or user_id not in contract.signers.values():
            return AlertOutcome(False, f"Only the contract's signers can snooze this alert: {_signers(contract)}.")
        if row.snoozed_until is not None and row.snoozed_until > now:
            return AlertOutcome(False, f"Already snoozed until {_when(row.snoozed_until)} by <@{row.snoozed_by}>.")
        until = now + SNOOZE
        changes = {"snoozed_until": until, "snoozed_by": user_id, "snooze_value": row.last_value}
        return changes, f"Snoozed {row.metric} until {_when(until)}. It will speak up sooner if it gets worse."

    return _change(engine, team_id=team_id, value=value, user_id=user_id, now=now, channel=channel, decide=decide)
