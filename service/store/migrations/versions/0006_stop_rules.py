"""Study stopping rules (``budget.stop``): the best value so far and what stopped the study.

``regtune_studies.best_value`` and ``best_trial`` are the best COMPLETE trial of a study with a
stop rule (null without one), ``best_at`` the ``n_done`` at which that best last improved by
more than ``budget.stop.min_delta`` (patience counts from it), and ``stopped_by`` the rule that
ended the study ('value' or 'patience'): no claim takes a slot from then on, and the study
completes once nothing runs. All are written in the transaction that counts a finished trial.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("regtune_studies") as batch:
        batch.add_column(sa.Column("best_value", sa.Float(), nullable=True))
        batch.add_column(sa.Column("best_trial", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("best_at", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("stopped_by", sa.String(16), nullable=True))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN in place, SQLite's too (3.35 and later): a batch's copy of the
    # table would drop the old one, and its claims with it (ON DELETE CASCADE)
    with op.batch_alter_table("regtune_studies", recreate="never") as batch:
        batch.drop_column("stopped_by")
        batch.drop_column("best_at")
        batch.drop_column("best_trial")
        batch.drop_column("best_value")
