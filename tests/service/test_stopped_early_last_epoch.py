"""A trial that early stopping ended without ``restore_best`` keeps its last epoch's weights and
value: ``regtune trials`` said "2, stopped early (best 1)" of it, as of a trial whose value is
its best epoch's (``restore_best``, the default), so the value read as epoch 1's. Now its
epochs read "2, stopped early"; with ``restore_best`` they still name the best epoch."""

from __future__ import annotations

from typing import Any

import pytest

from tests.inprocess import Apps, cli_output, run_to_the_end
from tests.service.test_early_stopping_shown import STOPPING


def _kept_last() -> dict[str, Any]:
    training = STOPPING["training"]
    stopping = training["early_stopping"] | {"restore_best": False}
    return STOPPING | {"name": "kept-last", "training": training | {"early_stopping": stopping}}


def test_a_trial_stopped_early_without_restore_best_names_no_best_epoch(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = apps()
    study = run_to_the_end(api, api.post("/v1/studies", json=_kept_last()).json()["id"])
    assert study["status"] == "completed" and study["stopped_early"] == 2, study
    trials = api.get(f"/v1/studies/{study['id']}/trials").json()["items"]
    # every trial stops at epoch 2, its best epoch 1, and keeps epoch 2's value
    assert [(t["user_attrs"]["epochs_run"], t["user_attrs"]["best_epoch"]) for t in trials] == [
        (2, 1),
        (2, 1),
    ], trials

    shown = cli_output(api, monkeypatch, "trials", study["id"])
    assert shown.count("│ 2, stopped early │") == 2, shown
    assert "(best" not in shown, shown
