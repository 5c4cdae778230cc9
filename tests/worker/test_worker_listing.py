"""What a worker's heartbeat says it runs while it saves a study's best model: the study, and no
trial (a fused pass's member that completed the study was listed as running, a finished trial,
for as long as the refit took: a minute on digits)."""

from __future__ import annotations

from typing import Any

import pytest

from regtune.worker import best_model
from regtune.worker.loop import Worker


def test_a_worker_saving_a_best_model_is_on_the_study_and_no_trial(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = Worker()
    seen: list[tuple[str | None, int | None]] = []

    def save(study_id: str, **_: Any) -> None:
        seen.append(worker.current)

    monkeypatch.setattr(best_model, "save_best_model", save)
    worker.current = ("s1", 18)  # the member whose finish completed the study
    worker._save_best_model("s1")
    assert seen == [("s1", None)]
    assert worker.current == (None, None)
