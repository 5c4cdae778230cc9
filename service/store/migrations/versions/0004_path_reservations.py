"""λ paths: the slots a path reserves for its further points, counted apart from running trials.

``regtune_studies.n_reserved`` counts them against the budget (``n_done + n_running + n_reserved
< n_trials``) but not against ``max_parallel``, which bounds the claims running at once (one per
path); ``regtune_claims.reserved`` marks such a slot, so whoever releases it (the path, the
sweep) lowers the right count.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("regtune_studies") as batch:
        batch.add_column(sa.Column("n_reserved", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("regtune_claims") as batch:
        batch.add_column(
            sa.Column("reserved", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN in place, SQLite's too (3.35 and later): a batch's copy of
    # regtune_studies would drop the old one, and its claims with it (ON DELETE CASCADE)
    with op.batch_alter_table("regtune_claims", recreate="never") as batch:
        batch.drop_column("reserved")
    with op.batch_alter_table("regtune_studies", recreate="never") as batch:
        batch.drop_column("n_reserved")
