"""A named job one process at a time may run (the API's sweep), held by a row."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import Engine, or_, update
from sqlalchemy.exc import IntegrityError

from regtune.service.store.clock import utcnow
from regtune.service.store.db import rowcount, transaction
from regtune.service.store.tables import LeaseRow

SWEEP_LEASE = "sweep"


class Lease:
    """A named job that one process at a time may run, on SQLite and PostgreSQL alike.

    Held by a row (``regtune_leases``) that a single conditional UPDATE renews or takes over
    once it expired, so two processes can never both win. A holder that dies is replaced
    ``seconds`` after its last renewal. Holders' clocks must agree to well within ``seconds``.
    """

    def __init__(self, name: str, *, seconds: float, engine: Engine | None = None) -> None:
        self.name = name
        self.seconds = seconds
        self.engine = engine
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> bool:
        """Take or renew the lease; True if this process holds it for ``seconds`` from now."""
        now = utcnow()
        until = now + timedelta(seconds=self.seconds)
        with transaction(self.engine) as session:
            won = rowcount(
                session.execute(
                    update(LeaseRow)
                    .where(
                        LeaseRow.name == self.name,
                        or_(LeaseRow.holder == self.holder, LeaseRow.expires_at < now),
                    )
                    .values(holder=self.holder, expires_at=until)
                    .execution_options(synchronize_session=False)
                )
            )
        if won:
            return True
        try:
            with transaction(self.engine) as session:
                session.add(LeaseRow(name=self.name, holder=self.holder, expires_at=until))
        except IntegrityError:
            return False  # somebody holds it (or took it first)
        return True

    def release(self) -> None:
        """Let another process take over at once (on shutdown)."""
        with transaction(self.engine) as session:
            session.execute(
                update(LeaseRow)
                .where(LeaseRow.name == self.name, LeaseRow.holder == self.holder)
                .values(expires_at=utcnow() - timedelta(seconds=1))
                .execution_options(synchronize_session=False)
            )


def sweep_lease(interval: float, engine: Engine | None = None) -> Lease:
    """The lease of the API's sweep: renewed every ``interval``, lost after three missed."""
    return Lease(SWEEP_LEASE, seconds=3 * interval, engine=engine)
