"""Launch decisions: request one, vote on it, expire it, read the record.

Each function opens one short transaction on the engine it is given and returns plain views
(:class:`LaunchView`), so a listener never holds a connection while it talks to Slack.

Where the experiment numbers come from
---------------------------------------
An experiment pull stores one ``metric_snapshots`` row per experiment metric under the metric
key :func:`experiment_snapshot_key` — ``"<experiment>:<metric>"``, e.g.
``"model-v2:fraud_recall"`` — with ``stats`` in the push-down format::

    {"type": "proportion" | "mean", "control": "<arm>", "treatment": "<arm>",
     "variants": {"<arm>": {"successes": int, "trials": int} | {"n": int, "sum": float, "sum_sq": float}}}

The colon cannot appear in a metric name (contract slugs), so an experiment key never collides
with an ordinary metric's snapshots, which keep the bare metric name. The latest successful
snapshot of each key is read (its stats are cumulative for the experiment), plus the latest
value of the contract's other core metrics, shown for context.

Delivery
--------
The scorecard message goes out one of two ways, chosen by the caller and never both, since
both would post it twice:

* ``enqueue=True``: the post (and later every edit, as an ``update`` aimed at the post's
  outbox key) is queued in the outbox in the same transaction as the decision, so a crash can
  lose neither; the outbox worker delivers it.
* ``enqueue=False`` (what the listeners use until the outbox worker runs in every deployment):
  the service returns the payload, the listener posts it with ``chat.postMessage`` and records
  where it landed with :func:`record_message`; votes edit it with ``chat.update``.

Who may vote
------------
Identity is the payload's user and workspace, checked against the signers of the contract
*version the scorecard was built from*. The decision row is locked for the whole vote
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite runs one writer at a time), so two signers'
last votes cannot both miss each other and leave an approved decision pending; the unique
(decision, role) constraint makes a double click count once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col, select, update

from bot.blocks.launch import build_launch_message
from metrics.contract import CORE_ROLES
from metrics.contract import Contract as ContractSpec
from metrics.errors import MetricInputError
from metrics.scorecard import BLOCK, Scorecard, arms_from_stats, build_scorecard
from storage import contracts as contract_repo
from storage import launches as launch_repo
from storage import outbox as outbox_repo
from storage import snapshots as snapshot_repo
from storage.db import session_scope
from storage.models import DecisionState, LaunchDecision, OutboxKind, VoteChoice

logger = logging.getLogger(__name__)

MIN_OVERRIDE_REASON_CHARS = 20
ROLE_NAMES = {"pm": "PM", "eng": "Eng", "ds": "DS"}


def experiment_snapshot_key(experiment: str, metric: str) -> str:
    """The ``metric_snapshots.metric`` value an experiment pull stores one metric's arms under."""
    return f"{experiment}:{metric}"


class LaunchRefused(Exception):
    """A launch request the user can fix; the message is shown to them as is."""


# --- views --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoteView:
    user_id: str
    role: str
    vote: str
    reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class LaunchView:
    """A decision with its frozen scorecard, the signers it needs and the votes so far."""

    id: str
    team_id: str
    contract: str
    contract_title: str
    contract_version: int
    experiment: str | None
    channel: str
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    state: str
    recommendation: str
    signers: Mapping[str, str]
    scorecard: Scorecard
    votes: tuple[VoteView, ...] = ()
    message_ts: str | None = None
    outbox_key: str | None = None

    @property
    def pending(self) -> bool:
        return self.state == DecisionState.PENDING

    @property
    def blocked(self) -> bool:
        return self.recommendation == BLOCK

    @property
    def needed_vote(self) -> str:
        """What every signer must cast for approval: an override when a guardrail blocks."""
        return VoteChoice.OVERRIDE if self.blocked else VoteChoice.APPROVE


@dataclass(frozen=True)
class RequestedLaunch:
    """A new decision and the scorecard message to post (already queued when ``queued``)."""

    view: LaunchView
    payload: dict[str, Any]
    queued: bool


@dataclass(frozen=True)
class VoteOutcome:
    """What a click or a submitted reason did.

    ``refusal`` is the polite sentence for the clicker when nothing was recorded; ``changed``
    says the message must be redrawn (a vote, or an expiry noticed on the click); ``payload`` is
    the redrawn message; ``view`` is None only when the decision is not in this workspace.
    """

    view: LaunchView | None
    refusal: str | None = None
    changed: bool = False
    payload: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.refusal is None


# --- requesting ---------------------------------------------------------------------------------


def request_decision(
    engine: Engine,
    *,
    team_id: str,
    contract_name: str,
    requested_by: str,
    now: datetime,
    experiment: str | None = None,
    enqueue: bool = False,
    enterprise_id: str | None = None,
) -> RequestedLaunch:
    """Build the scorecard from the latest snapshots and freeze it in a pending decision.

    Raises :class:`LaunchRefused` when the contract, the experiment or its data is missing.
    """
    with session_scope(engine) as session:
        version = contract_repo.get_version(session=session, team_id=team_id, name=contract_name)
        if version is None:
            raise LaunchRefused(f"No contract called “{contract_name}” in this workspace. Try `/contract list`.")
        contract = contract_repo.parse_version(version)
        chosen = contract.experiment(experiment)
        if chosen is None:
            names = ", ".join(e.name for e in contract.experiments)
            if not names:
                raise LaunchRefused(f"{contract.name} declares no experiment: add one under `experiments:` to decide a launch.")
            raise LaunchRefused(f"{contract.name} has no experiment “{experiment}”. Its experiments: {names}.")
        arms = _latest_arms(session, team_id, version.contract_id, chosen)
        if not arms:
            raise LaunchRefused(
                f"No experiment data for {contract.name} / {chosen.name} yet: the pull stores it under "
                f"`{experiment_snapshot_key(chosen.name, '<metric>')}`. Try again once it has run."
            )
        values = _latest_values(session, team_id, version.contract_id, contract, exclude=set(chosen.metrics))
        card = build_scorecard(contract, chosen.name, arms, values=values)
        row = launch_repo.create_decision(
            session=session,
            team_id=team_id,
            enterprise_id=enterprise_id,
            contract_id=version.contract_id,
            contract_version_id=version.id,
            experiment=chosen.name,
            requested_by=requested_by,
            requested_at=now,
            channel=contract.channel,
            scorecard=card.to_dict(),
            recommendation=card.recommendation,
            expires_at=now + timedelta(days=contract.launch.expires_after_days),
        )
        view = _view(session, row, contract=contract, version=version.version)
        payload = build_launch_message(view)
        if enqueue:
            key = _post_key(team_id, row.id)
            outbox_repo.enqueue_message(
                session=session, team_id=team_id, enterprise_id=enterprise_id, idempotency_key=key,
                kind=OutboxKind.POST, channel=view.channel, payload=payload, now=now,
            )
            launch_repo.set_decision_message(session=session, team_id=team_id, decision_id=row.id, outbox_key=key)
            view = _view(session, _reload(session, team_id, row.id), contract=contract, version=version.version)
        return RequestedLaunch(view=view, payload=payload, queued=enqueue)


def record_message(engine: Engine, *, team_id: str, decision_id: str, channel: str, ts: str) -> None:
    """Remember where a directly posted scorecard landed (Slack's channel id, which chat.update needs)."""
    with session_scope(engine) as session:
        session.exec(  # type: ignore[call-overload]
            update(LaunchDecision)
            .where(col(LaunchDecision.team_id) == team_id, col(LaunchDecision.id) == decision_id)
            .values(channel=channel, message_ts=ts, revision=LaunchDecision.revision + 1)
        )


def _latest_arms(session: Session, team_id: str, contract_id: int, experiment) -> dict[str, tuple]:
    arms = {}
    for name in experiment.metrics:
        row = snapshot_repo.latest_snapshot(
            session=session, team_id=team_id, contract_id=contract_id, metric=experiment_snapshot_key(experiment.name, name)
        )
        if row is None or not row.stats:
            continue
        try:
            arms[name] = arms_from_stats(row.stats, control=experiment.control, treatment=experiment.treatment)
        except MetricInputError:
            # A malformed snapshot shows as "no usable data" on the card rather than failing the request.
            logger.warning("unreadable experiment snapshot %s for %s", row.id, name)
    return arms


def _latest_values(session: Session, team_id: str, contract_id: int, contract: ContractSpec, *, exclude: set[str]) -> dict[str, float]:
    values = {}
    for metric in contract.metrics:
        if metric.role not in CORE_ROLES or metric.name in exclude:
            continue
        row = snapshot_repo.latest_snapshot(session=session, team_id=team_id, contract_id=contract_id, metric=metric.name)
        if row is not None and row.value is not None:
            values[metric.name] = row.value
    return values


# --- voting -------------------------------------------------------------------------------------


def check_vote(engine: Engine, *, team_id: str, decision_id: str, user_id: str, vote: str, now: datetime) -> VoteOutcome:
    """May this user cast this vote now? Records nothing, except an expiry that is due."""
    return _vote(engine, team_id=team_id, decision_id=decision_id, user_id=user_id, vote=vote, reason=None, now=now,
                 dry_run=True, enqueue=False)


def cast_vote(
    engine: Engine,
    *,
    team_id: str,
    decision_id: str,
    user_id: str,
    vote: str,
    now: datetime,
    reason: str | None = None,
    enqueue: bool = False,
) -> VoteOutcome:
    """Record a signer's vote and close the decision when it is decided.

    A user who signs for several roles votes for each of them at once. Approved when every
    signer approved (or, when the scorecard blocks, overrode with a reason of at least
    :data:`MIN_OVERRIDE_REASON_CHARS` characters); rejected on any rejection.
    """
    return _vote(engine, team_id=team_id, decision_id=decision_id, user_id=user_id, vote=vote, reason=reason, now=now,
                 dry_run=False, enqueue=enqueue)


def _vote(engine: Engine, *, team_id: str, decision_id: str, user_id: str, vote: str, reason: str | None, now: datetime,
          dry_run: bool, enqueue: bool) -> VoteOutcome:
    with session_scope(engine) as session:
        row = _lock(session, team_id, decision_id)
        if row is None:
            return VoteOutcome(view=None, refusal="I can't find that launch decision in this workspace, so nothing was recorded.")
        found = contract_repo.parsed_version_by_id(session=session, team_id=team_id, version_id=row.contract_version_id)
        assert found is not None  # a decision always points at a version of its own workspace
        version, contract = found
        view = _view(session, row, contract=contract, version=version)
        roles = [role for role, signer in contract.signers.items() if signer == user_id]
        if not roles:
            return VoteOutcome(view=view, refusal=_not_a_signer(view))
        if view.pending and now >= view.expires_at:
            launch_repo.set_decision_state(session=session, team_id=team_id, decision_id=row.id, state=DecisionState.EXPIRED, decided_at=now)
            return _redrawn(session, team_id, row.id, contract, version, enqueue,
                            refusal=f"This launch decision expired on {_when(view.expires_at)}; request a new one with `/launch {view.contract}`.")
        if not view.pending:
            return VoteOutcome(view=view, refusal=f"This launch decision is already {view.state}; nothing more can be recorded.")
        if vote == VoteChoice.APPROVE and view.blocked:
            return VoteOutcome(view=view, refusal="A guardrail blocks this launch: approve it only with Override… and a written reason.")
        if vote == VoteChoice.OVERRIDE and not view.blocked:
            return VoteOutcome(view=view, refusal="Nothing blocks this launch, so there is nothing to override: use Approve.")
        voted = {v.role for v in view.votes}
        open_roles = [r for r in roles if r not in voted]
        if not open_roles:
            return VoteOutcome(view=view, refusal=f"You have already voted on this launch as {_roles(roles)}.")
        if dry_run:
            return VoteOutcome(view=view)
        if vote == VoteChoice.OVERRIDE and len((reason or "").strip()) < MIN_OVERRIDE_REASON_CHARS:
            return VoteOutcome(view=view, refusal=f"An override needs a written reason of at least {MIN_OVERRIDE_REASON_CHARS} characters.")
        recorded = [
            launch_repo.record_vote(session=session, team_id=team_id, decision_id=row.id, user_id=user_id, role=role,
                                    vote=vote, reason=(reason or "").strip() or None, created_at=now)
            for role in open_roles
        ]
        if not any(recorded):
            return VoteOutcome(view=view, refusal=f"You have already voted on this launch as {_roles(roles)}.")
        votes = {v.role: v.vote for v in launch_repo.list_votes(session=session, team_id=team_id, decision_id=row.id)}
        if VoteChoice.REJECT in votes.values():
            final = DecisionState.REJECTED
        elif all(votes.get(role) == view.needed_vote for role in contract.signers):
            final = DecisionState.APPROVED
        else:
            final = None
        if final is not None:
            launch_repo.set_decision_state(session=session, team_id=team_id, decision_id=row.id, state=final, decided_at=now)
        return _redrawn(session, team_id, row.id, contract, version, enqueue)


def _redrawn(session: Session, team_id: str, decision_id: str, contract: ContractSpec, version: int, enqueue: bool,
             *, refusal: str | None = None) -> VoteOutcome:
    row = _reload(session, team_id, decision_id)
    view = _view(session, row, contract=contract, version=version)
    payload = build_launch_message(view)
    if enqueue and row.outbox_key:
        # Keyed on what the edit shows (votes so far, state), so each change queues exactly one edit.
        outbox_repo.enqueue_message(
            session=session, team_id=team_id, enterprise_id=row.enterprise_id,
            idempotency_key=f"{row.outbox_key}:{len(view.votes)}:{view.state}", kind=OutboxKind.UPDATE,
            channel=row.channel, payload=payload, target_key=row.outbox_key,
        )
    return VoteOutcome(view=view, refusal=refusal, changed=True, payload=payload)


def _not_a_signer(view: LaunchView) -> str:
    if not view.signers:
        return f"{view.contract} names no signers, so nobody can vote on its launches. Add `signers:` to the contract."
    names = ", ".join(f"<@{user}> ({ROLE_NAMES.get(role, role)})" for role, user in view.signers.items())
    return f"Only the signers of {view.contract} can vote on this launch: {names}."


# --- expiry -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpiredLaunch:
    """A decision this call expired and its redrawn message (already queued when it was posted via the outbox)."""

    view: LaunchView
    payload: dict[str, Any]


def expire_decisions(engine: Engine, now: datetime, *, enqueue: bool = False) -> list[ExpiredLaunch]:
    """Expire every pending decision, in every workspace, whose time ran out before ``now``.

    For the scheduler's minute tick. Safe to run on several replicas at once: the
    compare-and-set on the state expires each decision once, and only the run that expired it
    returns it. With ``enqueue`` the message edit is queued in the same transaction, whether
    the scorecard was posted through the outbox or directly (then by its recorded ts);
    otherwise the caller edits the messages (``view.channel`` / ``view.message_ts``) with the
    payload.
    """
    with session_scope(engine) as session:
        due = session.exec(
            select(LaunchDecision.team_id, LaunchDecision.id).where(
                col(LaunchDecision.state) == DecisionState.PENDING, col(LaunchDecision.expires_at) <= now
            )
        ).all()
    expired = []
    for team_id, decision_id in due:
        with session_scope(engine) as session:
            if not launch_repo.set_decision_state(session=session, team_id=team_id, decision_id=decision_id,
                                                  state=DecisionState.EXPIRED, decided_at=now):
                continue
            row = _reload(session, team_id, decision_id)
            found = contract_repo.parsed_version_by_id(session=session, team_id=team_id, version_id=row.contract_version_id)
            assert found is not None
            version, contract = found
            outcome = _redrawn(session, team_id, decision_id, contract, version, enqueue)
            assert outcome.view is not None and outcome.payload is not None
            if enqueue and row.outbox_key is None and row.message_ts is not None:
                outbox_repo.enqueue_message(
                    session=session, team_id=team_id, enterprise_id=row.enterprise_id,
                    idempotency_key=f"{_post_key(team_id, decision_id)}:expired", kind=OutboxKind.UPDATE,
                    channel=row.channel, payload={**outcome.payload, "ts": row.message_ts}, now=now,
                )
            expired.append(ExpiredLaunch(view=outcome.view, payload=outcome.payload))
    return expired


# --- reading ------------------------------------------------------------------------------------


def get_launch(engine: Engine, *, team_id: str, decision_id: str) -> LaunchView | None:
    """One decision of the workspace; None for an unknown id or another workspace's."""
    with session_scope(engine) as session:
        row = launch_repo.get_decision(session=session, team_id=team_id, decision_id=decision_id)
        return _view(session, row) if row is not None else None


def list_launches(engine: Engine, team_id: str, contract: str | None = None) -> list[LaunchView]:
    """Every decision of the workspace (of one contract when named), newest first, with its votes."""
    with session_scope(engine) as session:
        contract_id = None
        if contract is not None:
            found = contract_repo.get_contract(session=session, team_id=team_id, name=contract)
            if found is None:
                return []
            contract_id = found.id
        rows = launch_repo.list_decisions(session=session, team_id=team_id, contract_id=contract_id)
        return [_view(session, row) for row in rows]


# --- helpers ------------------------------------------------------------------------------------


_DECISIONS = LaunchDecision.__table__
_DECISION = sa.select(_DECISIONS).where(_DECISIONS.c.team_id == sa.bindparam("team_id"), _DECISIONS.c.id == sa.bindparam("decision_id"))
# Built once: every Approve, Reject and Override click locks and rereads its decision.
_DECISION_FOR_UPDATE = _DECISION.with_for_update()


def _lock(session: Session, team_id: str, decision_id: str) -> sa.Row | None:
    """The decision, locked until the transaction ends (concurrent votes on it queue), as a read-only row."""
    return session.execute(_DECISION_FOR_UPDATE, {"team_id": team_id, "decision_id": decision_id}).first()


def _reload(session: Session, team_id: str, decision_id: str) -> sa.Row:
    """The decision as this transaction's writes left it."""
    row = session.execute(_DECISION, {"team_id": team_id, "decision_id": decision_id}).first()
    assert row is not None
    return row


def _view(session: Session, row: LaunchDecision | sa.Row, *, contract: ContractSpec | None = None, version: int | None = None) -> LaunchView:
    if contract is None or version is None:
        found = contract_repo.parsed_version_by_id(session=session, team_id=row.team_id, version_id=row.contract_version_id)
        assert found is not None
        version, contract = found
    votes = launch_repo.list_votes(session=session, team_id=row.team_id, decision_id=row.id)
    return LaunchView(
        id=row.id,
        team_id=row.team_id,
        contract=contract.name,
        contract_title=contract.display_name,
        contract_version=version,
        experiment=row.experiment,
        channel=row.channel,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        expires_at=row.expires_at,
        decided_at=row.decided_at,
        state=row.state,
        recommendation=row.recommendation,
        signers=dict(contract.signers),
        scorecard=Scorecard.from_dict(row.scorecard),
        votes=tuple(VoteView(user_id=v.user_id, role=v.role, vote=v.vote, reason=v.reason, created_at=v.created_at) for v in votes),
        message_ts=row.message_ts,
        outbox_key=row.outbox_key,
    )


def _post_key(team_id: str, decision_id: str) -> str:
    return f"launch:{team_id}:{decision_id}"


def _roles(roles: Sequence[str]) -> str:
    return " and ".join(ROLE_NAMES.get(r, r) for r in roles)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
