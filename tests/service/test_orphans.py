"""kill -9 of the API during POST /v1/studies leaves nothing behind (issue 15, item 8).

The regtune row is written before the Optuna study, so a creation cut short leaves a row
without an Optuna study id, which workers never claim and the sweep removes (with the Optuna
study it may have made) once it is older than ``CREATION_GRACE``. Optuna studies named like
regtune's but without a row (left by older versions) are removed as well.
"""

from __future__ import annotations

import signal
import threading
import uuid
from datetime import timedelta
from typing import Any

import httpx
import optuna
import sqlalchemy as sa

from regtune.service.spec.definition import EXAMPLE
from regtune.service.store.clock import utcnow
from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.scheduling.retries import storage_with_retries
from regtune.service.store.scheduling.sweep import (
    CREATION_GRACE,
    remove_orphaned_optuna_studies,
    remove_unfinished_studies,
)
from regtune.service.store.tables import StudyRow
from tests.support import Processes, study_row

LATER = timedelta(hours=1)


def test_half_created_studies_and_ownerless_optuna_studies_are_removed(
    database_url: str,
) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    storage = storage_with_retries(database_url)
    now = utcnow()
    with transaction(engine) as session:
        # killed after the row, before the Optuna study / after it, before linking / just now
        for name in ("no-optuna", "unlinked", "in-progress"):
            created = now if name == "in-progress" else now - 2 * CREATION_GRACE
            row = study_row(name, 0, "queued", created_at=created)
            row.optuna_study_id = None
            row.optuna_name = f"{name} [{uuid.uuid4().hex[:16]}]"
            session.add(row)
    names = {r.id: r.optuna_name for r in _rows(engine) if r.id in ("unlinked", "in-progress")}
    for name in names.values():
        optuna.create_study(storage=storage, study_name=name)
    ownerless = f"old [{uuid.uuid4().hex[:16]}]"  # an older version's orphan: no row at all
    optuna.create_study(storage=storage, study_name=ownerless)
    users_own = optuna.create_study(storage=storage, study_name="my experiment [draft]")

    assert sorted(remove_unfinished_studies(engine, storage)) == ["no-optuna", "unlinked"]
    assert remove_orphaned_optuna_studies(engine, storage) == [ownerless]
    remaining = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    assert remaining == {names["in-progress"], users_own.study_name}
    assert [r.id for r in _rows(engine)] == ["in-progress"]
    assert remove_unfinished_studies(engine, storage, now=now + LATER) == ["in-progress"]
    engine.dispose()


def _rows(engine: sa.Engine) -> list[StudyRow]:
    with transaction(engine) as session:
        return list(session.scalars(sa.select(StudyRow).order_by(StudyRow.id)))


def test_kill_9_of_the_api_during_post_leaves_no_orphan(
    sqlite_url: str, processes: Processes
) -> None:
    """POSTs cut short by SIGKILL as soon as their row is written (the Optuna study being made
    meanwhile); then the sweep runs. Before the fix, 4 POSTs in 10 left an Optuna study behind."""
    engine = make_engine(sqlite_url)
    outcomes: list[Any] = []
    caught = attempts = 0
    while attempts < 6 and caught < 2:  # two POSTs cut at the bad moment say enough
        attempt, attempts = attempts, attempts + 1
        stack = processes.stack(sqlite_url).start_api()
        assert stack.api is not None
        name = f"killed-{attempt}"

        def post(url: str = stack.url, name: str = name) -> None:
            try:
                response = httpx.post(f"{url}/v1/studies", json={**EXAMPLE, "name": name})
                outcomes.append(response.status_code)
            except httpx.HTTPError as exc:
                outcomes.append(type(exc).__name__)

        poster = threading.Thread(target=post)
        poster.start()
        while poster.is_alive():  # poll for the half-created row, then kill at once
            with engine.connect() as connection:
                linked = connection.execute(
                    sa.select(StudyRow.optuna_study_id).where(StudyRow.name == name)
                ).first()
            if linked is not None:
                if linked[0] is None:
                    stack.api.signal(signal.SIGKILL)
                    caught += 1
                break
            threading.Event().wait(0.002)
        poster.join()
        stack.stop()

    storage = storage_with_retries(sqlite_url)
    cut_short = remove_unfinished_studies(engine, storage, now=utcnow() + LATER)
    remove_orphaned_optuna_studies(engine, storage)
    rows = {r.optuna_name: r for r in _rows(engine)}
    optuna_names = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    assert caught >= 1, outcomes
    assert set(rows) == optuna_names, outcomes  # every Optuna study has a row, and back
    assert all(r.optuna_study_id is not None for r in rows.values())
    # a kill that came after the link left a whole study
    assert len(rows) + len(cut_short) == attempts
    engine.dispose()
