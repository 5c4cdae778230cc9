"""One saver per study: the lease a worker holds while it retrains a completed study's best
model, so that the finishing worker and an idle worker's catch-up never both retrain it, and
what the API says of a save under way.

A lease holds until it runs out (``LEASE``, renewed a few times per lease by its holder) or its
worker dies (``holding``), whichever comes first. The save that takes a lease over says so in one
WARNING (``_taken_over``): a worker that dies while it saves a model holds no slot, so no sweep's
line names its death.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from regtune.service.settings import get_settings
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
from regtune.service.store.tables import StudyRow, WorkerRow

log = logging.getLogger(__name__)
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
        if not rowcount(swapped):
            return False
        if held.owner == owner:
            return True  # renewed
        # read in the swap's transaction: a failure to read undoes the swap
        study = session.scalar(
            select(StudyRow.id).where(StudyRow.optuna_study_id == optuna_study_id)
        )
        holder = None if held.worker is None else session.get(WorkerRow, held.worker)
    named = study or f"(Optuna study {optuna_study_id})"
    _taken_over(named, held, holder, by=worker_id, now=now)
    return True


def _taken_over(
    study: str, held: SaveLease, holder: WorkerRow | None, *, by: str | None, now: datetime
) -> None:
    """One WARNING per lease taken over: whose save it was, why it holds no more (its worker
    silent since when, or gone from the registry, or its lease run out) and who saves the model
    now. The worker that held it is a field of its own, as in the sweep's lines."""
    taker = "this save" if by is None else f"worker {by}"
    whose = f"worker {held.worker}, saving its best model,"
    fields = {"dead_worker_id": held.worker}
    grace = (holder.grace_period if holder else None) or get_settings().grace_period
    if held.worker is None:
        whose, fields = "a save of its best model that named no worker (an older regtune's)", {}
        why = f"let its lease run out at {_at(held.until)}"
    elif holder is None:
        why = (
            "is dead: gone from the worker registry (a sweep removes a worker silent past its "
            f"grace period); it last renewed its lease {_ago(held.until - LEASE, now)}"
        )
    elif (now - holder.last_seen).total_seconds() <= grace:
        fields = {"stuck_worker_id": held.worker}
        why = f"still beats but let its lease run out at {_at(held.until)} (its save stuck?)"
    else:
        why = (
            f"is dead: its last heartbeat {_ago(holder.last_seen, now)}, past its {grace} s "
            "grace period"
        )
    log.warning("study %s: %s %s; %s takes the save over", study, whose, why, taker, extra=fields)


def _at(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S} UTC"


def _ago(when: datetime, now: datetime) -> str:
    return f"{(now - when).total_seconds():.0f} s ago, at {_at(when)}"


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
