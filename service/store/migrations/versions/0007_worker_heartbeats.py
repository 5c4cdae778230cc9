"""Each worker's own heartbeat settings: ``regtune_workers.heartbeat_interval`` and
``grace_period``.

A worker records its ``REGTUNE_HEARTBEAT_INTERVAL`` and ``REGTUNE_GRACE_PERIOD`` when it
registers, and the sweep judges its silence, its trials and its slots by its own grace period,
not the sweeping process's: a worker that beats every 30 s with a grace period of 90 s is not
dead to an API at the defaults (5 s, 20 s). A row registered before this migration has neither
(null): it is judged by the sweeping process's grace period, as every worker was.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("regtune_workers") as batch:
        batch.add_column(sa.Column("heartbeat_interval", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("grace_period", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("regtune_workers") as batch:
        batch.drop_column("grace_period")
        batch.drop_column("heartbeat_interval")
