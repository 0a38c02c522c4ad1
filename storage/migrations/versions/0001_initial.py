"""Initial schema: contracts and their versions, snapshots, alerts, launches, jobs, outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(), nullable=False),
        sa.Column("enterprise_id", sa.String(), nullable=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
        sa.UniqueConstraint("team_id", "name", name=op.f("uq_contracts_team_id_name")),
    )
    op.create_index(op.f("ix_contracts_team_id"), "contracts", ["team_id"])
    op.create_table(
        "job_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_key", sa.String(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('running', 'done', 'failed')", name=op.f("ck_job_claims_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_claims")),
        sa.UniqueConstraint("job_key", "period", name=op.f("uq_job_claims_job_key_period")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(), nullable=False),
        sa.Column("enterprise_id", sa.String(), nullable=True),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("thread_key", sa.String(), nullable=True),
        sa.Column("thread_ts", sa.String(), nullable=True),
        sa.Column("target_key", sa.String(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_ts", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('post', 'update', 'upload', 'ephemeral', 'respond')", name=op.f("ck_outbox_kind")),
        sa.CheckConstraint("status IN ('pending', 'sending', 'delivered', 'failed')", name=op.f("ck_outbox_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_index(op.f("ix_outbox_team_id"), "outbox", ["team_id"])
    op.create_table(
        "alert_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("last_evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("message_channel", sa.String(), nullable=True),
        sa.Column("message_ts", sa.String(), nullable=True),
        sa.Column("outbox_key", sa.String(), nullable=True),
        sa.Column("acknowledged_by", sa.String(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("snoozed_by", sa.String(), nullable=True),
        sa.Column("snooze_value", sa.Float(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.CheckConstraint("state IN ('ok', 'violated', 'recovered')", name=op.f("ck_alert_states_state")),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], name=op.f("fk_alert_states_contract_id_contracts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_states")),
        sa.UniqueConstraint("contract_id", "metric", name=op.f("uq_alert_states_contract_id_metric")),
    )
    op.create_index(op.f("ix_alert_states_team_id"), "alert_states", ["team_id"])
    op.create_table(
        "contract_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source_yaml", sa.Text(), nullable=False),
        sa.Column("parsed", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("author", sa.String(), nullable=False),
        sa.Column("source_path", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], name=op.f("fk_contract_versions_contract_id_contracts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_versions")),
        sa.UniqueConstraint("contract_id", "version", name=op.f("uq_contract_versions_contract_id_version")),
    )
    op.create_index(op.f("ix_contract_versions_contract_id"), "contract_versions", ["contract_id"])
    op.create_index(op.f("ix_contract_versions_team_id"), "contract_versions", ["team_id"])
    op.create_table(
        "review_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("answer", sa.String(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("answer IN ('still_right', 'revisit')", name=op.f("ck_review_answers_answer")),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], name=op.f("fk_review_answers_contract_id_contracts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_answers")),
    )
    op.create_index(op.f("ix_review_answers_contract_id"), "review_answers", ["contract_id"])
    op.create_index(op.f("ix_review_answers_team_id"), "review_answers", ["team_id"])
    op.create_table(
        "contract_signatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(), nullable=False),
        sa.Column("contract_version_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('pm', 'eng', 'ds')", name=op.f("ck_contract_signatures_role")),
        sa.ForeignKeyConstraint(["contract_version_id"], ["contract_versions.id"], name=op.f("fk_contract_signatures_contract_version_id_contract_versions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_signatures")),
        sa.UniqueConstraint("contract_version_id", "role", name=op.f("uq_contract_signatures_contract_version_id_role")),
    )
    op.create_index(op.f("ix_contract_signatures_contract_version_id"), "contract_signatures", ["contract_version_id"])
    op.create_index(op.f("ix_contract_signatures_team_id"), "contract_signatures", ["team_id"])
    op.create_table(
        "launch_decisions",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("team_id", sa.String(), nullable=False),
        sa.Column("enterprise_id", sa.String(), nullable=True),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("contract_version_id", sa.Integer(), nullable=False),
        sa.Column("experiment", sa.String(), nullable=True),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("scorecard", sa.JSON(), nullable=False),
        sa.Column("recommendation", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_ts", sa.String(), nullable=True),
        sa.Column("outbox_key", sa.String(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.CheckConstraint("recommendation IN ('ship', 'hold', 'block')", name=op.f("ck_launch_decisions_recommendation")),
        sa.CheckConstraint("state IN ('pending', 'approved', 'rejected', 'expired')", name=op.f("ck_launch_decisions_state")),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], name=op.f("fk_launch_decisions_contract_id_contracts")),
        sa.ForeignKeyConstraint(["contract_version_id"], ["contract_versions.id"], name=op.f("fk_launch_decisions_contract_version_id_contract_versions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_launch_decisions")),
    )
    op.create_index(op.f("ix_launch_decisions_contract_id"), "launch_decisions", ["contract_id"])
    op.create_index(op.f("ix_launch_decisions_team_id"), "launch_decisions", ["team_id"])
    op.create_table(
        "metric_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("contract_version_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("sample_size", sa.Float(), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("pulled_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('ok', 'failed')", name=op.f("ck_metric_snapshots_status")),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], name=op.f("fk_metric_snapshots_contract_id_contracts")),
        sa.ForeignKeyConstraint(["contract_version_id"], ["contract_versions.id"], name=op.f("fk_metric_snapshots_contract_version_id_contract_versions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_snapshots")),
    )
    op.create_index("ix_metric_snapshots_contract_metric_window_end", "metric_snapshots", ["contract_id", "metric", "window_end"])
    op.create_index(op.f("ix_metric_snapshots_team_id"), "metric_snapshots", ["team_id"])
    op.create_table(
        "launch_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(), nullable=False),
        sa.Column("decision_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("vote", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('pm', 'eng', 'ds')", name=op.f("ck_launch_votes_role")),
        sa.CheckConstraint("vote IN ('approve', 'reject', 'override')", name=op.f("ck_launch_votes_vote")),
        sa.ForeignKeyConstraint(["decision_id"], ["launch_decisions.id"], name=op.f("fk_launch_votes_decision_id_launch_decisions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_launch_votes")),
        sa.UniqueConstraint("decision_id", "role", name=op.f("uq_launch_votes_decision_id_role")),
    )
    op.create_index(op.f("ix_launch_votes_decision_id"), "launch_votes", ["decision_id"])
    op.create_index(op.f("ix_launch_votes_team_id"), "launch_votes", ["team_id"])


def downgrade() -> None:
    # Indexes and constraints go with their tables.
    op.drop_table("launch_votes")
    op.drop_table("metric_snapshots")
    op.drop_table("launch_decisions")
    op.drop_table("contract_signatures")
    op.drop_table("review_answers")
    op.drop_table("contract_versions")
    op.drop_table("alert_states")
    op.drop_table("outbox")
    op.drop_table("job_claims")
    op.drop_table("contracts")
