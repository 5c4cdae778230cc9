"""What ``regtune watch`` (and ``submit --watch``) counts as failed: the trials that failed of
themselves, in red. It showed Optuna's FAIL count there, so a healthy study on a pool whose
workers were restarted read "failed 1" in red for a trial handed back and run again; such trials
are now named for what became of them, dim, and only when there are some, on the bar and in the
log's line alike."""

from __future__ import annotations

import io
import re
import threading
from typing import Any

from rich.console import Console

import regtune
from regtune.service.api.schemas.studies import StudyOut
from regtune.service.client.watch import fields, make_progress, watch
from regtune.worker.loop import Worker
from tests.inprocess import Apps, trials_running
from tests.service.test_client_optuna import ThroughApp
from tests.support import wait_for
from tests.worker.test_signal_lines import SLEEPING, _signalled

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def bar(study: StudyOut) -> str:
    """The watch's bar for ``study`` as a terminal receives it (its colours as ANSI codes)."""
    console = Console(file=io.StringIO(), force_terminal=True, color_system="standard", width=400)
    progress = make_progress(console)
    progress.add_task(study.name, total=study.progress.n_trials, **fields(study))
    with console.capture() as captured:
        console.print(progress.get_renderable())
    return captured.get()


def styled(text: str, words: str) -> list[str]:
    """The ANSI codes in force where ``words`` is printed in ``text``."""
    at = text.index(words)
    codes: list[str] = []
    for code in ANSI.finditer(text[:at]):
        codes = [] if code.group() == "\x1b[0m" else [*codes, code.group()]
    return codes


def test_a_trial_handed_back_while_the_study_runs_is_not_shown_as_failed(apps: Apps) -> None:
    """A worker stopped by SIGTERM hands its trial back (FAIL, a WAITING copy of its
    parameters): the running study's answer counts it as interrupted, and the watch shows
    "failed 0 · … · interrupted 1" (was "failed 1", in red)."""
    api = apps(objective_factory="bench.sleep_objective:make_objective", sleep_trial_seconds=120)
    body = SLEEPING | {"name": "restarted-pool", "budget": {"n_trials": 2}}
    study_id = api.post("/v1/studies", json=body).json()["id"]
    _signalled(Worker(), lambda: trials_running(api, study_id))  # its trial handed back

    answer: dict[str, Any] = api.get(f"/v1/studies/{study_id}").json()
    assert answer["end"] is None and answer["counts"]["FAIL"] == 1, answer  # it goes on
    assert answer["fail_breakdown"] == {
        "interrupted": 1,
        "never_run": 0,
        "stopped_by_cancel": 0,
        "stopped_by_study_failure": 0,
        "failed": 0,
    }, answer["fail_breakdown"]

    log = io.StringIO()
    console = Console(file=log, width=40)  # a CI log: lines, not a bar
    with regtune.Client("http://regtune.test", transport=ThroughApp(api)) as client:
        study = client.study(study_id)

        def cancel_once_a_line_is_out() -> None:
            from regtune.service.store.repos import cancel_and_delete

            wait_for(lambda: log.getvalue(), timeout=60, what="the first line")
            cancel_and_delete.cancel(study_id)

        cancelling = threading.Thread(target=cancel_once_a_line_is_out)
        cancelling.start()
        try:
            watched = watch(client, study, console=console, poll=1)
        finally:
            cancelling.join(timeout=60)
    assert watched.status == "cancelled"
    first = log.getvalue().splitlines()[0]
    assert first.startswith(
        "restarted-pool 0/2 · complete 0 · pruned 0 · failed 0 · running 0 · interrupted 1 · "
        f"best - · {answer['status']} · 0:"
    ), first

    shown = bar(study)
    plain = ANSI.sub("", shown)
    assert "failed 0 · running 0 · interrupted 1 " in plain, plain
    assert "\x1b[31m" in styled(shown, "failed 0"), shown  # red
    assert "\x1b[31m" not in styled(shown, "interrupted 1"), shown
    assert "\x1b[2m" in styled(shown, "interrupted 1"), shown  # dim


def test_every_fail_trial_counts_as_failed_in_an_answer_without_the_breakdown() -> None:
    """An older service's answer has no ``fail_breakdown``: the watch shows its FAIL trials as
    failed, as it did, with nothing set apart."""
    study = StudyOut.model_validate(
        {
            "id": "0" * 32,
            "name": "older",
            "tenant": "default",
            "status": "running",
            "optuna_study_name": "older",
            "definition": {},
            "counts": {"COMPLETE": 1, "FAIL": 2, "RUNNING": 1},
            "progress": {"done": 1, "n_trials": 4, "running": 1, "fraction": 0.25},
            "best_trial": None,
            "error": None,
            "created_at": "2026-01-01T00:00:00Z",
            "started_at": None,
            "finished_at": None,
        }
    )
    assert (fields(study)["failed"], fields(study)["not_failed"]) == (2, "")
    assert "failed 2 · running 1 best" in " ".join(ANSI.sub("", bar(study)).split())
