"""Waiting for a study to end and its best model to be saved: answers the server holds until the
end, an API that is away asked again with backoff, and the grace a completed study's model (or
the word why it has none) is given."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
    wait_random,
)

from regtune.service.api.schemas.studies import STUDY_WAIT_MAX, StudyOut
from regtune.service.client.arguments import positive_seconds, wait_seconds
from regtune.service.client.best_model import VERDICT_GRACE, awaits_model, wait_timed_out
from regtune.service.client.errors import unavailable
from regtune.service.spec.enums import FINAL

OUTAGE_PATIENCE = 300.0
"""Seconds ``Client.wait`` asks again an API that is away (a restart, its database down)."""
T = TypeVar("T")


def wait_until_final(
    ask: Callable[[float], StudyOut],
    *,
    url: str,
    timeout: float,
    poll: float,
    on_update: Callable[[StudyOut], None] | None,
    model_grace: float,
    patience: float | None,
    say: Callable[[str], None],
) -> StudyOut:
    """``Client.wait``: ``ask(hold)`` answers the study as the API at ``url`` (as messages show
    it) holds it up to ``hold`` seconds; ``say`` hears of an outage."""
    poll = positive_seconds(poll, given_as="poll")  # 0 would ask in a tight loop
    wait_seconds(timeout, given_as="timeout")
    wait_seconds(model_grace, given_as="model_grace")
    if patience is not None:
        wait_seconds(patience, given_as="patience")
    deadline = time.monotonic() + timeout
    completed_at: float | None = None
    while True:
        asked = time.monotonic()
        hold = max(0.001, min(poll, STUDY_WAIT_MAX, deadline - asked))
        study = through_outages(
            partial(ask, hold),
            url=url,
            # never past the wait's own timeout
            patience=min(OUTAGE_PATIENCE if patience is None else patience, deadline - asked),
            say=say,
        )
        if on_update is not None:
            on_update(study)
        if study.status in FINAL:
            if not awaits_model(study):
                return study
            completed_at = completed_at or time.monotonic()
            grace = model_grace
            if not study.counts.get("COMPLETE"):  # no model to retrain: only a word to come
                grace = min(model_grace, VERDICT_GRACE)
            if time.monotonic() - completed_at > grace:
                return study
        if time.monotonic() > deadline:
            raise TimeoutError(wait_timed_out(study, timeout))
        time.sleep(max(0.0, poll - (time.monotonic() - asked)))  # a server that did not hold


def through_outages(
    ask: Callable[[], T], *, url: str, patience: float, say: Callable[[str], None]
) -> T:
    """``ask()``, asked again with backoff (from 0.5 s, doubling up to 10 s) while the API at
    ``url`` is ``unavailable``, for up to ``patience`` seconds, then its last error; ``say``
    hears once that it is away, and once that it answers again."""
    away: list[BaseException] = []

    def warn(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if not away and error is not None:
            away.append(error)
            say(
                f"{error}; asking again for up to {patience:g} s (the study keeps running "
                "on the server)"
            )

    answer = Retrying(
        retry=retry_if_exception(unavailable),
        wait=wait_exponential(multiplier=0.5, max=10) + wait_random(0, 0.5),
        stop=stop_after_delay(patience),
        before_sleep=warn,
        reraise=True,
    )(ask)
    if away:
        say(f"the regtune API at {url} answers again")
    return answer
