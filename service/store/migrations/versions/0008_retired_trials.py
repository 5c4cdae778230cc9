"""``regtune_retired_trials``: the /metrics histograms of deleted studies' trials.

``regtune_trial_duration_seconds`` and ``regtune_claim_latency_seconds`` are read from the
trials stored. Deleting a study deleted its trials from them, and Prometheus reads a histogram
that goes down as a restart (a ``rate`` over it jumps). Deleting a study now adds its trials'
tallies to this table's one row, which /metrics adds back. Studies deleted before this migration
are not in it.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "regtune_retired_trials",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("tallies", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    op.bulk_insert(table, [{"id": 1, "tallies": {}, "updated_at": now}])  # the one row


def downgrade() -> None:
    op.drop_table("regtune_retired_trials")
