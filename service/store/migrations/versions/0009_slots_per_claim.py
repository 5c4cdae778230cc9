"""``regtune_studies.slots_per_claim``: how many trial slots one worker's claim takes.

A worker that claims a slot of an MLP study takes up to ``training.fused_trials`` (else its
``REGTUNE_FUSED_TRIALS``, 8) slots at once and trains them in one pass. The autoscaler's query
asked for one worker per slot, so a study of ``max_parallel: 8`` got 8 pods, one of which took
every slot while the other 7 idled. It now asks for one worker per ``slots_per_claim`` slots,
which the API stores when it creates the study. A row written before this migration has none
(null), counted as 1, as before.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("regtune_studies") as batch:
        batch.add_column(sa.Column("slots_per_claim", sa.Integer(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN in place, SQLite's too (3.35 and later): a batch's copy of the
    # table would drop the old one, and its claims with it (ON DELETE CASCADE)
    with op.batch_alter_table("regtune_studies", recreate="never") as batch:
        batch.drop_column("slots_per_claim")
