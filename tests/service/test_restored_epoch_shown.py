"""``regtune trials`` shows the best epoch of every COMPLETE trial whose value is an earlier
epoch's than its last: one that ran to ``max_epochs`` and whose weights ``restore_best``
restored to its best epoch showed "60" beside epoch 53's value, "(best 53)" being said only of
trials that stopped early. Without ``restore_best`` the value is the last epoch's, and only the
epochs are shown."""

from __future__ import annotations

from typing import Any

import pytest

from tests.inprocess import Apps, cli_output, run_to_the_end

MAX_EPOCHS = 12
RAN_ON: dict[str, Any] = {
    "name": "ran-on",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "mlp", "hidden_layers": [32]},
    # a learning rate that overfits the 353 rows within a few epochs: val_loss rises after
    "search_space": {"lambda": 1e-6, "l1_ratio": 0.0, "learning_rate": {"choices": [0.05, 0.1]}},
    "training": {
        "max_epochs": MAX_EPOCHS,
        "batch_size": 16,
        # patience beyond max_epochs: every trial runs to the end, none stops early
        "early_stopping": {"patience": 100, "min_delta": 0.0},
    },
    "validation": {"holdout": 0.2},
    "sampler": {"type": "grid"},
    "pruner": {"type": "none"},
    "budget": {"n_trials": 2, "max_parallel": 1},
}


def _epochs_cells(api: Any, monkeypatch: pytest.MonkeyPatch, study: dict[str, Any]) -> list[str]:
    trials = api.get(f"/v1/studies/{study['id']}/trials").json()["items"]
    assert all(t["user_attrs"]["epochs_run"] == MAX_EPOCHS for t in trials), trials
    shown = cli_output(api, monkeypatch, "trials", study["id"])
    return [shown, *(str(t["user_attrs"]["best_epoch"]) for t in trials)]


def test_a_trial_restored_to_an_earlier_epoch_shows_it(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = apps()
    study = run_to_the_end(api, api.post("/v1/studies", json=RAN_ON).json()["id"])
    assert study["status"] == "completed" and study["stopped_early"] == 0, study
    shown, *bests = _epochs_cells(api, monkeypatch, study)
    earlier = [best for best in bests if int(best) < MAX_EPOCHS]
    assert earlier, bests  # the learning rates overfit: some trial's best epoch is earlier
    for best in bests:
        cell = f"│ {MAX_EPOCHS} (best {best}) │" if best in earlier else f"│ {MAX_EPOCHS} │"
        assert cell in shown, shown
    assert "stopped early" not in shown, shown

    kept_last = RAN_ON | {"name": "kept-last"}
    kept_last["training"] = RAN_ON["training"] | {
        "early_stopping": RAN_ON["training"]["early_stopping"] | {"restore_best": False}
    }
    study = run_to_the_end(api, api.post("/v1/studies", json=kept_last).json()["id"])
    shown, *bests = _epochs_cells(api, monkeypatch, study)
    assert any(int(best) < MAX_EPOCHS for best in bests), bests
    assert shown.count(f"│ {MAX_EPOCHS} │") == 2 and "(best" not in shown, shown
