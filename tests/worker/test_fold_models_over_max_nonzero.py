"""The trial's own fold models (``refit: false``), saved together, can break
``objective.max_nonzero`` that each keeps on average, and the saved model's note says so (was:
breast_cancer's best trial kept 8.8 of a limit of 10, its saved 5 fold models used 11 weights
together, and nothing said).

On diabetes at λ = 0.075 (lasso, 5 folds) the fold models keep 5 weights on average, a
feasible trial under a limit of 5, and 6 between them."""

from __future__ import annotations

from typing import Any

from regtune.service.spec.definition import StudySpec
from regtune.service.spec.resolve import resolve_task
from regtune.worker.refit import best_fit


def spec(**parts: Any) -> StudySpec:
    definition: dict[str, Any] = {
        "name": "r",
        "dataset": {"builtin": "diabetes"},
        "validation": {"folds": 5},
        "search_space": {"lambda": 0.075, "l1_ratio": 1.0, "relax": 0},
        "training": {"lambda_path": None},
        "objective": {"max_nonzero": 5},
    } | parts
    return resolve_task(StudySpec.model_validate(definition))


def test_fold_models_over_max_nonzero_together_say_so_in_the_note() -> None:
    own = best_fit(spec(refit=False), {}, {})

    assert not own.refit and own.result.n_nonzero == 5.0  # the trial is feasible
    assert own.sparsity == (6, 10)
    assert own.note == (
        "the 5 fold models together use 6 non-zero weights, over objective.max_nonzero 5 (a "
        "weight counts if any of them uses it: their predictions are averaged), while each "
        "uses 5 on average, the mean the trial's constraint checks"
    )


def test_fold_models_within_max_nonzero_together_have_no_note() -> None:
    own = best_fit(spec(refit=False, objective={"max_nonzero": 6}), {}, {})
    assert own.sparsity == (6, 10) and own.note is None


def test_a_refused_refits_fold_models_over_the_limit_say_both() -> None:
    study = spec(
        training={"solver": "minibatch", "max_epochs": 5},
        search_space={"lambda": 1e-6, "l1_ratio": 0.0, "learning_rate": 0.01},
        objective={"max_nonzero": 3},
    )
    kept = best_fit(study, {}, {"epochs_run": 5})

    assert not kept.refit and kept.sparsity == (10, 10)
    assert kept.note is not None
    refused, members = kept.note.split("; ")
    assert refused == (
        "the refit had 10 non-zero weights, over objective.max_nonzero 3: the trial's own "
        "models are saved"
    )
    assert members.startswith("the 5 fold models together use 10 non-zero weights")
