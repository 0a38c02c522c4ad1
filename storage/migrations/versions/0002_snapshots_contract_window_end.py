"""Index snapshots by contract and window end, for reads of every metric of a contract

A read of all of a contract's metrics over a range of windows (the weekly audit) cannot use
(contract_id, metric, window_end) past its first column, so SQLite picked the team_id index
instead and scanned every snapshot of the workspace: an audit got slower as the table grew.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_metric_snapshots_contract_window_end", "metric_snapshots", ["contract_id", "window_end"])


def downgrade() -> None:
    op.drop_index("ix_metric_snapshots_contract_window_end", table_name="metric_snapshots")
