"""PostgreSQL tells idle workers when there may be work: ``NOTIFY regtune_work``.

A trigger on ``regtune_studies`` notifies the channel ``regtune_work`` (``scheduling.wake``)
whenever a row changes so that a claim that found nothing may now find a slot:

- a study becomes claimable: its Optuna study is set, after the row was created without one;
- its status changes (queued, resumed, ended);
- its budget or parallelism grows (``n_trials``, ``max_parallel``);
- slots are given back unfinished (``n_done + n_running + n_reserved`` falls: a trial handed back
  or failed for a retry, a dead worker's slot swept, a path's unused reservation released).

A trial that finishes (one ``n_running`` becomes one ``n_done``) notifies nobody: its own worker
claims again at once, and waking every idle worker for each trial would make a pool of 32
workers run 31 empty claims per trial. PostgreSQL delivers a notification when the transaction
commits and folds identical ones of a transaction into one. SQLite needs no trigger: a waiting
worker reads its file's ``data_version`` instead.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

FUNCTION = "regtune_notify_work"
CHANNEL = "regtune_work"
"""The channel's name, as ``scheduling.wake`` listens on it."""

ROOM_GROWS = """
    OLD.optuna_study_id IS NULL AND NEW.optuna_study_id IS NOT NULL
    OR NEW.status IS DISTINCT FROM OLD.status
    OR NEW.n_trials > OLD.n_trials
    OR NEW.max_parallel > OLD.max_parallel
    OR NEW.n_running < OLD.n_running AND NEW.n_done = OLD.n_done
    OR NEW.n_done + NEW.n_running + NEW.n_reserved < OLD.n_done + OLD.n_running + OLD.n_reserved
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        f"CREATE TRIGGER {FUNCTION}_room AFTER UPDATE ON regtune_studies "
        f"FOR EACH ROW WHEN ({ROOM_GROWS}) EXECUTE FUNCTION {FUNCTION}()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP TRIGGER IF EXISTS {FUNCTION}_room ON regtune_studies")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
