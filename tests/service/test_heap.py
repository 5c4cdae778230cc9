"""A process regtune starts settles its heap: what start-up and the first claims made is out of
the collector's sight, so a full collection walks only what came after."""

from __future__ import annotations

import gc
import json
import sys

from regtune.service import heap
from tests.support import Processes

CLAIMS = """
import gc, json
import optuna
from regtune.service import heap
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.worker.objective import make_objective

optuna.logging.set_verbosity(optuna.logging.WARNING)
settle = heap.Resettle()
settled = [settle()]
for model, space in (
    ({"kind": "linear"}, {"lambda": {"low": 1e-4, "high": 1.0, "log": True}}),
    ({"kind": "mlp", "hidden_layers": [8]}, {"dropout": {"low": 0.0, "high": 0.5}}),
):
    spec = resolve_task(StudySpec.model_validate({
        "name": "heap", "dataset": {"builtin": "diabetes"}, "model": model,
        "search_space": space, "training": {"max_epochs": 2}, "budget": {"n_trials": 4},
    }))
    study = optuna.create_study(direction="minimize")
    for _ in range(2):  # two claims of a kind: the first imports, the second does not
        study.optimize(make_objective(spec, stop_check=lambda: None), n_trials=1)
        settled.append(settle())
    assert all(t.state.name == "COMPLETE" for t in study.trials), study.trials
gc.collect()
print(json.dumps({
    "settled": settled, "frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())
}))
"""


def test_settle_freezes_what_survives_a_collection() -> None:
    try:
        frozen = heap.settle()
        assert frozen > 0
        assert len(gc.get_objects()) < frozen  # a full collection no longer walks them
    finally:
        gc.unfreeze()


def test_a_worker_s_heap_is_settled_again_after_a_claim_of_a_new_kind_only(
    processes: Processes,
) -> None:
    """Linear, then MLP claims, two of each, as a worker's loop settles between them: the first
    of each kind imported modules (the solver's, torch's optimizer machinery) and is followed
    by a settle, the second is not; at the end the collector walks a small part of what is
    frozen (torch alone is most of a worker's objects)."""
    done = processes.run([sys.executable, "-c", CLAIMS], timeout=300)  # a worker's fresh heap
    assert done.returncode == 0, done.stderr[-3000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["settled"] == [True, True, False, True, False], counts
    assert counts["frozen"] > 200_000, counts
    assert counts["tracked"] < counts["frozen"] / 10, counts
