"""What a study says of its FAIL trials once its workers were stopped and killed mid-trial.

SIGTERM makes a worker hand its trial back, SIGKILL leaves it to the sweep: either way the trial
is FAIL and its parameters run again. Only a trial whose objective raised failed of itself. The
study's end said "3 trials failed along the way" of all three, as if the models had crashed, and
while it ran ``trial_errors`` said of the raised trial that its parameters ran again (they do
not: new ones take its slot). Both now tell the trials apart, as the report and ``regtune show``
do.

Real processes: an API and ``regtune worker`` processes on a SQLite file, trials sleeping through
their epochs (``tests.objectives.fail_the_first_trial_then_sleep``), the fast failure detection
of ``tests.support.process_env`` (heartbeat 1 s, grace 4 s).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import httpx
import pytest
from optuna.trial import TrialState

from tests.e2e.test_pool import Trials, definition
from tests.service.test_study_end import text_of
from tests.support import Processes, regtune, wait_for

SLEEPING = {
    "REGTUNE_OBJECTIVE_FACTORY": "tests.objectives:fail_the_first_trial_then_sleep",
    "REGTUNE_SLEEP_TRIAL_SECONDS": "3",
}
"""Trial 0 raises at once; the others take 3 s over 20 epochs, a stop seen after each."""

ENDED = (
    "budget.n_trials reached: 2 trials done; 3 trials not counted toward budget.n_trials (state "
    "FAIL): 2 interrupted (handed back, or their worker died) and run again, 1 failed (its "
    "error says why)"
)


@pytest.fixture
def trials() -> Iterator[list[Trials]]:
    opened: list[Trials] = []
    yield opened
    for t in opened:
        t.close()


def _running(trials: Trials, number: int) -> None:
    def started() -> bool:
        return any(t.number == number and t.state == TrialState.RUNNING for t in trials.all())

    wait_for(started, timeout=120, interval=0.03, what=f"trial {number} to run")


def test_trials_stopped_or_killed_mid_run_are_told_from_a_trial_that_failed(
    processes: Processes, trials: list[Trials]
) -> None:
    tmp = processes.tmp
    stack = processes.stack(
        f"sqlite:///{tmp / 'regtune.db'}", REGTUNE_ARTIFACT_DIR=str(tmp / "artifacts"), **SLEEPING
    ).start_api()
    study = stack.submit(definition(2, max_parallel=1, name="interrupted"))
    trials.append(Trials(stack.database_url, study["optuna_study_name"]))
    seen = trials[0]

    stopped = stack.start_workers(1)[0]  # trial 0 raises; trial 1 is handed back
    _running(seen, 1)
    stopped.signal(signal.SIGTERM)
    assert stopped.popen.wait(timeout=60) == 0

    going = stack.study(study["id"])  # no worker runs it now: it waits for one
    assert going["status"] == "running" and going["counts"]["FAIL"] == 2, going
    errors = going["trial_errors"]
    assert "the training diverged" in errors["last"], errors
    assert (errors["failed"], errors["interrupted"], errors["errors"]) == (2, 1, 1), errors
    assert errors["message"] == (
        "last trial error (its parameters are not run again; the study goes on, failing only "
        "past budget.max_retries 2 errors: 1 so far; 2 trials not counted toward "
        "budget.n_trials (state FAIL): 1 interrupted (handed back, or its worker died) and run "
        f"again, 1 failed (its error says why)): {errors['last']}"
    ), errors

    killed = stack.start_workers(1)[0]  # runs trial 1's parameters again as trial 2: killed
    _running(seen, 2)
    killed.signal(signal.SIGKILL)
    killed.popen.wait(timeout=60)
    # once the sweep failed trial 2 and queued trial 3, runs them all, in half a second each:
    # nothing is signalled mid-trial any more
    stack.start_workers(1, REGTUNE_SLEEP_TRIAL_SECONDS="0.5")

    final = stack.wait_status(study["id"], ("completed", "failed", "cancelled"), timeout=300)
    assert final["status"] == "completed" and final["counts"]["FAIL"] == 3, final
    by_number = {t.number: t for t in seen.all()}
    assert by_number[3].params == by_number[2].params == by_number[1].params
    assert by_number[3].state == TrialState.COMPLETE
    assert final["end"] == {
        "reason": "n_trials",
        "message": ENDED,
        "interrupted": 2,
        "never_run": 0,
        "stopped_by_cancel": 0,
        "stopped_by_study_failure": 0,
        "failed": 1,
    }, final["end"]
    assert final["error"] is None and final["trial_errors"] is None, final

    report = httpx.get(f"{stack.url}{final['report_url']}", timeout=60).text
    assert text_of(report, "end") == f"Ended: {ENDED}.", text_of(report, "end")
    shown = processes.run(regtune("show", study["id"], "--url", stack.url))
    assert shown.returncode == 0, shown.stderr
    assert f"ended: {ENDED}" in " ".join(shown.stdout.split()), shown.stdout
