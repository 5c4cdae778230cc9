"""The worker pool as a watch sees it: whether a study waiting queued has a worker to run it.

A study submitted where no worker runs stays queued for ever, and its watch repeated ``0/30 ·
queued`` without a word of why. While the study is queued with no trial done, the watch asks
the API for its live workers (``GET /v1/workers``), at most every ``WORKERS_EVERY`` seconds, and
says when there are none, with the commands that start one; and again when that changes."""

from __future__ import annotations

import time
from collections.abc import Callable

from regtune.service.api.schemas.studies import StudyOut
from regtune.service.client.errors import ClientError
from regtune.service.client.http import Client
from regtune.service.spec.enums import StudyStatus

WORKERS_EVERY = 5.0
"""Seconds between two looks at the live workers while a watched study waits queued."""


class NoWorker:
    """Called with each answer of a watched study; ``say`` hears that no worker is running
    while it is queued with no trial done, and once one is. Only where the listing is the whole
    pool (the API's ``X-Regtune-Workers``: no key, or the admin key): a tenant's key lists only
    the workers running its own trials, so an empty listing says nothing of the pool. The
    study is not changed; an error of these looks is no error of the watch, which goes on
    without them."""

    def __init__(
        self,
        client: Client,
        say: Callable[[str], None],
        *,
        every: float = WORKERS_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.say, self.every, self.clock = client, say, every, clock
        self.looked_at: float | None = None
        self.said_none = False

    def __call__(self, study: StudyOut) -> None:
        if study.status != StudyStatus.QUEUED or study.progress.done:
            return
        now = self.clock()
        if self.looked_at is not None and now - self.looked_at < self.every:
            return
        self.looked_at = now
        try:
            listed, whole_pool = self.client.workers_seen()
        except ClientError:
            return
        if not whole_pool:
            return
        live = len(listed)
        if not live and not self.said_none:
            self.say(
                f"no regtune worker is running, so study {study.id} stays queued: regtune "
                "worker starts one (on the API's database, REGTUNE_DATABASE_URL), or regtune "
                "serve runs the API and workers together"
            )
        elif live and self.said_none:
            running = f"{live} regtune worker{'s are' if live > 1 else ' is'} running now"
            self.say(f"{running}: study {study.id} starts when one takes it")
        self.said_none = not live
