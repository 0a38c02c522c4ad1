"""One import point for the bot's repository functions.

Every function is a verb, keyword-only, session first, and filters on ``team_id`` wherever a row
belongs to a workspace; a lookup returns None and the caller turns that into a message::

    from storage import repository as repo
    contract = repo.get_contract(session=session, team_id=team_id, name="fraud-screening")

They flush but never commit: the caller owns the transaction (see ``storage.db.session_scope``),
so an outbox message and the state change it reports commit together.
"""

from __future__ import annotations

from storage.alerts import ABSENT_REVISION, get_alert_state, list_alert_states, upsert_alert_state
from storage.contracts import (
    SyncResult,
    get_contract,
    get_contract_by_id,
    get_version,
    get_version_by_id,
    latest_parsed_contract,
    latest_parsed_contracts,
    list_contracts,
    list_review_answers,
    list_signatures,
    list_versions,
    parse_version,
    record_review_answer,
    set_archived,
    set_paused,
    sign_version,
    sync_contract,
)
from storage.jobs import claim_job, finish_job, get_job_claim, reclaim_job
from storage.launches import (
    create_decision,
    get_decision,
    list_decisions,
    list_votes,
    new_decision_id,
    record_vote,
    set_decision_message,
    set_decision_state,
)
from storage.outbox import claim_due_messages, enqueue_message, get_message, list_outbox, mark_delivered, mark_failed
from storage.snapshots import add_snapshot, latest_snapshot, recent_snapshots, snapshots_between

__all__ = [
    "ABSENT_REVISION",
    "SyncResult",
    "add_snapshot",
    "claim_due_messages",
    "claim_job",
    "create_decision",
    "enqueue_message",
    "finish_job",
    "get_alert_state",
    "get_contract",
    "get_contract_by_id",
    "get_decision",
    "get_job_claim",
    "get_message",
    "get_version",
    "get_version_by_id",
    "latest_parsed_contract",
    "latest_parsed_contracts",
    "latest_snapshot",
    "list_alert_states",
    "list_contracts",
    "list_decisions",
    "list_outbox",
    "list_review_answers",
    "list_signatures",
    "list_versions",
    "list_votes",
    "mark_delivered",
    "mark_failed",
    "new_decision_id",
    "parse_version",
    "recent_snapshots",
    "reclaim_job",
    "record_review_answer",
    "record_vote",
    "set_archived",
    "set_decision_message",
    "set_decision_state",
    "set_paused",
    "sign_version",
    "snapshots_between",
    "sync_contract",
    "upsert_alert_state",
]
