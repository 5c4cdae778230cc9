"""Indexes for regtune's reads, and the lease that keeps the sweep in one API process.

The indexes on Optuna's ``trials`` table are new indexes beside Optuna's own (whose schema is
left as Optuna defines it), named ``regtune_ix_*`` so they can never collide with Optuna's:

- ``(study_id, trial_id)``: the trials of a study created since a given one (the per-process
  trial index in ``regtune.service.store.trials.index`` reads only those);
- ``(study_id, number)``: one trial by number;
- ``(study_id, state)`` over RUNNING and WAITING trials only: what the sweep, the stale-trial
  check and the claim of a waiting retry look for, without walking the finished ones.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OPEN_TRIALS = sa.text("state IN ('RUNNING', 'WAITING')")


def upgrade() -> None:
    op.create_index("regtune_ix_trials_study_trial", "trials", ["study_id", "trial_id"])
    op.create_index("regtune_ix_trials_study_number", "trials", ["study_id", "number"])
    op.create_index(
        "regtune_ix_trials_open",
        "trials",
        ["study_id", "state"],
        postgresql_where=OPEN_TRIALS,
        sqlite_where=OPEN_TRIALS,
    )
    op.create_index(
        "ix_regtune_studies_tenant_status_created",
        "regtune_studies",
        ["tenant", "status", "created_at"],
    )
    op.create_index(
        "ix_regtune_studies_tenant_created", "regtune_studies", ["tenant", "created_at"]
    )
    op.create_table(
        "regtune_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("regtune_leases")
    op.drop_index("ix_regtune_studies_tenant_created", "regtune_studies")
    op.drop_index("ix_regtune_studies_tenant_status_created", "regtune_studies")
    op.drop_index("regtune_ix_trials_open", "trials")
    op.drop_index("regtune_ix_trials_study_number", "trials")
    op.drop_index("regtune_ix_trials_study_trial", "trials")
