"""One saver per study: the lease a worker holds while it retrains a completed study's best
model, so that the finishing worker and an idle worker's catch-up never both retrain it, and
what the API says of a save under way.

A lease holds until it runs out (``LEASE``, renewed a few times per lease by its holder) or its
worker dies (``holding``), whichever comes first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from regtune.service.store.clock import utcnow
from regtune.service.store.db import rowcount, transaction
from regtune.service.store.optuna_db.attrs import (
    LEASE_OWNER,
    LEASE_UNTIL,
    LEASE_WORKER,
    MODEL_LEASE_ATTR,
)
from regtune.service.store.optuna_db.internals.handles import om
from regtune.service.store.scheduling import workers

LEASE = timedelta(minutes=5)
"""How long a retraining holds its study without renewing (it renews a few times per lease):
the bound for a saver alive but stuck. A saver whose worker is dead holds nothing
(``SaveLease.holds``): the others' catch-up takes the study within about a grace period of the
death (was: 5 minutes after it, whatever the worker registry knew)."""


@dataclass(frozen=True)
class SaveLease:
    """Who holds a study's best-model lease (``take_lease``), and until when."""

    owner: str
    """The save holding it: one retraining."""
    until: datetime
    worker: str | None
    """The worker retraining; None in a lease an older regtune (or a save outside a worker)
    took, which ``until`` alone ends."""

    @classmethod
    def read(cls, value_json: str) -> SaveLease:
        value = json.loads(value_json)
        until = datetime.fromisoformat(value[LEASE_UNTIL])
        return cls(value[LEASE_OWNER], until, value.get(LEASE_WORKER))


def holding(
    leases: Iterable[SaveLease], *, now: datetime, engine: Engine | None = None
) -> set[str]:
    """The owners of those of ``leases`` that hold their study at ``now``: not run out, and
    their worker alive as the sweep judges a worker and its trials, by its own grace period
    (``workers.living``; one read for them all)."""
    current = [lease for lease in leases if lease.until > now]
    named = {lease.worker for lease in current if lease.worker is not None}
    alive = workers.living(named, engine=engine, now=now) if named else set()
    return {lease.owner for lease in current if lease.worker is None or lease.worker in alive}


def saver(
    optuna_study_id: int, *, engine: Engine | None = None, now: datetime | None = None
) -> SaveLease | None:
    """The lease of the save retraining the study's best model now, None if nobody is: a dead
    worker's, or one run out, waits for another worker's catch-up."""
    system = om.StudySystemAttributeModel
    with transaction(engine) as session:
        value = session.scalar(
            select(system.value_json).where(
                system.study_id == optuna_study_id, system.key == MODEL_LEASE_ATTR
            )
        )
    if value is None:
        return None
    lease = SaveLease.read(value)
    return lease if lease.owner in holding([lease], now=now or utcnow(), engine=engine) else None


def saving(lease: SaveLease | None) -> str:
    """What is being done about a completed study's missing model, as its ``saver`` says."""
    if lease is None:
        return (
            "waiting for a worker to save it (none is retraining its best trial now: an idle "
            "worker's catch-up does)"
        )
    who = "a worker" if lease.worker is None else f"worker {lease.worker}"
    return f"{who} is saving it (it retrains the best trial)"


def take_lease(
    optuna_study_id: int,
    owner: str,
    *,
    worker_id: str | None = None,
    engine: Engine | None = None,
    now: datetime | None = None,
) -> bool:
    """Hold (or renew) the right to retrain a study's model until ``now + LEASE``, for the save
    ``owner`` of worker ``worker_id``.

    True if ``owner`` holds it now: nobody held it, ``owner`` already did, or the holder holds
    it no more (``holding``: its lease ran out, or its worker died). The finishing worker and an
    idle worker's catch-up can both reach a completed study without a model; only the one
    holding the lease retrains it.
    """
    now = now or utcnow()
    system = om.StudySystemAttributeModel
    value = json.dumps(
        {LEASE_OWNER: owner, LEASE_UNTIL: (now + LEASE).isoformat(), LEASE_WORKER: worker_id}
    )
    where = (system.study_id == optuna_study_id, system.key == MODEL_LEASE_ATTR)
    try:
        with transaction(engine) as session:
            session.execute(
                insert(system).values(
                    study_id=optuna_study_id, key=MODEL_LEASE_ATTR, value_json=value
                )
            )
        return True
    except IntegrityError:
        pass  # held, by this owner or another: renew or take over below, if it may
    with transaction(engine) as session:
        current = session.scalar(select(system.value_json).where(*where))
    if current is None:
        return False  # released meanwhile: the model was saved, or the save gave up
    held = SaveLease.read(current)
    if held.owner != owner and held.owner in holding([held], now=now, engine=engine):
        return False
    with transaction(engine) as session:  # unless another took it since it was read
        swapped = session.execute(
            update(system)
            .where(*where, system.value_json == current)
            .values(value_json=value)
            .execution_options(synchronize_session=False)
        )
        return bool(rowcount(swapped))


def release_lease(optuna_study_id: int, owner: str, *, engine: Engine | None = None) -> None:
    """Give up the lease if ``owner`` still holds it (saved, failed or stopping)."""
    system = om.StudySystemAttributeModel
    with transaction(engine) as session:
        current = session.scalar(
            select(system.value_json).where(
                system.study_id == optuna_study_id, system.key == MODEL_LEASE_ATTR
            )
        )
        if current is None or json.loads(current)[LEASE_OWNER] != owner:
            return
        session.execute(
            delete(system)
            .where(
                system.study_id == optuna_study_id,
                system.key == MODEL_LEASE_ATTR,
                system.value_json == current,
            )
            .execution_options(synchronize_session=False)
        )
