"""What ``regtune watch`` draws on a terminal: every frame of the bar counts the trials done,
the first as the later ones."""

from __future__ import annotations

import io
import re

import httpx
from rich.console import Console

from regtune.service.api.schemas.studies import StudyOut
from regtune.service.client.http import Client
from regtune.service.client.watch import watch

COMPLETED = StudyOut.model_validate(
    {
        "id": "0" * 32,
        "name": "done-already",
        "tenant": "default",
        "status": "completed",
        "optuna_study_name": "done-already",
        "definition": {},
        "counts": {"COMPLETE": 32},
        "progress": {"done": 32, "n_trials": 32, "running": 0, "fraction": 1.0},
        "best_trial": None,
        "error": "no best model: none of them (a stand-in: the watch ends at once)",
        "created_at": "2026-01-01T00:00:00Z",
        "started_at": "2026-01-01T00:00:01Z",
        "finished_at": "2026-01-01T00:01:00Z",
    }
)


def test_the_first_frame_of_a_completed_study_counts_its_trials_done() -> None:
    """``regtune watch`` of a completed study drew ``0/32 … complete 32`` first: the bar was
    added without the trials done and drawn once before its first update."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=COMPLETED.model_dump_json())

    terminal = io.StringIO()
    console = Console(file=terminal, force_terminal=True, color_system=None, width=100)
    with Client("http://regtune.test", transport=httpx.MockTransport(answer)) as client:
        watched = watch(client, COMPLETED, console=console, poll=0.1)
    assert watched.status == "completed"
    frames = [f for f in re.split(r"\r|\x1b\[2K", terminal.getvalue()) if "done-already" in f]
    assert frames and all(" 32/32 " in frame for frame in frames), frames
