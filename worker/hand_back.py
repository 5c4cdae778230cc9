"""Handing a trial back: fail it if it still runs, queue a WAITING copy of its parameters for
the next claim, and note on it why (or why it was not: ``DATABASE_HANDBACKS`` claims in a row)."""

from __future__ import annotations

import logging
import sys

import optuna

from regtune.service.store.backoff import TRANSIENT, Patience, describe, retry_forever
from regtune.service.store.optuna_db.internals.handles import engine_of, storage_of, study_id_of
from regtune.service.store.scheduling.claims.slot import Claim
from regtune.service.store.scheduling.retries import note_trial_error
from regtune.worker.outcomes import (
    fail_to_hand_back,
    finished_meanwhile,
    handed_back,
    not_handed_back,
    queue_hand_back,
)

log = logging.getLogger(__name__)


class HandBacks:
    """A worker's hand-backs: each one's writes give up on ``ending`` (a stop lets them wait a
    grace period for the database), and those made once stopping are named for the signal's
    closing line."""

    def __init__(self, ending: Patience) -> None:
        self.ending = ending
        self.while_stopping: list[str] = []
        """The trials handed back once stopping, named in the signal's closing line."""

    def note(self, study: optuna.Study, number: int, error: str, *, replace: bool = False) -> None:
        """Record why handed-back trial ``number`` FAILed, unless it says so already (its own
        note, written as it stopped, may have met the database error that stopped it); with
        ``replace``, over the note that said it would be handed back."""

        def note() -> None:
            storage = storage_of(study)
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id_of(study), number)
            note_trial_error(engine_of(study), trial_id, error, replace=replace)

        try:
            retry_forever(note, what="record why the trial failed", stop=self.ending)
        except TRANSIENT as exc:
            log.warning("could not record why the trial failed (%s)", describe(exc))

    def hand_back(
        self,
        study: optuna.Study,
        claim: Claim,
        number: list[int],
        *,
        reason: str,
        fail_first: bool = False,
        database: bool = False,
        said: str | None = None,
    ) -> str | None:
        """Queue a WAITING copy of the failed trial's parameters for the next claim to run.

        With ``fail_first`` the trial is first moved RUNNING → FAIL; if a sweep failed it already
        (and so queued the retry itself), nothing more is done. A ``database`` error that these
        parameters met on ``DATABASE_HANDBACKS`` claims before is not handed back again: it is
        returned, the trial's error. ``said``: the error just warned of, which the retries that
        meet it again do not repeat.
        """
        handled = sys.exception()  # what stopped the trial: no cause of what fails from here
        if not number:
            return None
        if fail_first:
            try:
                if not retry_forever(
                    lambda: fail_to_hand_back(study, number[0], reason),
                    what="fail the trial",
                    stop=self.ending,
                    said=said,
                ):
                    finished_meanwhile(study, claim.study_id, number[0])
                    return None
            except TRANSIENT:
                log.warning("study %s trial %d left to the sweep", claim.study_id, number[0])
                return None
        try:
            refused = retry_forever(
                lambda: queue_hand_back(study, number[0], database=database),
                what="hand the trial back",
                stop=self.ending,
            )
        except TRANSIENT as exc:
            log.warning(
                "study %s trial %d could not be handed back (%s)",
                claim.study_id,
                number[0],
                describe(exc),
            )
            error = not_handed_back(reason, exc, within=handled)
            self.note(study, number[0], error, replace=True)
            return None
        if refused is not None:
            error = f"{reason} (on {refused} claims of these parameters in a row: not handed back)"
            log.error("study %s trial %d failed: %s", claim.study_id, number[0], error)
            self.note(study, number[0], error, replace=True)
            return error
        self.note(study, number[0], handed_back(reason))
        log.info("study %s trial %d handed back (%s)", claim.study_id, number[0], reason)
        if self.ending.stopping.is_set():
            self.while_stopping.append(f"study {claim.study_id} trial {number[0]}")
        return None
