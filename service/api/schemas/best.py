"""A study's best trial and the best model saved from it, as its answer shows them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from regtune.service.api.schemas.answer import Answer, UtcDateTime


class BestTrial(Answer):
    number: int
    value: float | None
    values: list[float | None] | None
    params: dict[str, Any]
    n_nonzero: float | None = Field(
        description="non-zero weights of the trial's models, the mean over its folds"
    )
    user_attrs: dict[str, Any]
    test_metrics: dict[str, Any] | None = Field(
        description="The best trial's own test metrics: its models (one per fold), trained on "
        "its training rows, scored on the test split."
    )
    refit_test_metrics: dict[str, Any] | None = Field(
        default=None,
        description="The best model's test metrics once the study completed: this "
        "configuration retrained on every non-test row (the refit; best_model.test_metrics), "
        "before refit_rows all trains the saved model on the test rows too. "
        "Its loss is on the refit's own standardization; compare r2 or accuracy. "
        "Null without a test split (validation.test_fraction 0), as test_metrics.",
    )


class BestModel(Answer):
    """The best trial's model, saved when the study completed; GET …/best-model downloads it."""

    artifact_id: str
    trial: int
    filename: str
    bytes: int
    sha256: str
    test_metrics: dict[str, Any] | None
    """None without a test split (``validation.test_fraction: 0``): no row to score."""
    val_metrics: dict[str, Any] = Field(
        description="The best trial's validation metrics, named without val_ (loss, rmse, …). A "
        "refit (refit true) trained on the validation rows too and has no validation rows of "
        "its own: these are the best trial's models' scores, not the saved model's. Without a "
        "refit (refit false, or a refused refit) the saved models are the trial's own, scored "
        "on their validation rows."
    )
    baseline_metrics: dict[str, Any] | None = None
    """A predictor that ignores the inputs, on the same test rows: the training mean
    (regression) or the training class frequencies, whose guess is the majority class. None
    without a test split, as ``test_metrics``."""
    refit: bool = False
    """Trained again on every non-test row (the definition's ``refit``), not the trial's own."""
    refit_rows: Literal["all", "non_test"] | None = None
    """The refit's rows (the definition's ``refit_rows``): ``all``, the test rows too, once
    ``test_metrics`` were measured on them by the refit on the other rows; ``non_test``, the
    measured refit itself; None without a refit (or for a model saved before the choice)."""
    train_rows: int | None = None
    """Rows the saved model trained on (per fold model when not refit)."""
    member_rows: list[int] | None = None
    """Rows each of its models trained on: under ``refit: false`` with k folds, one per fold
    model, each every non-test row but its fold's (together, every non-test row); else one,
    ``train_rows``. None for a model saved before they were recorded."""
    n_nonzero: int | None = None
    """Non-zero weights of the saved model itself (a weight any of its fold models uses);
    within ``objective.max_nonzero`` when the definition sets one."""
    n_weights: int | None = None
    refit_lambda: float | None = None
    """The λ the refit needed to keep ``objective.max_nonzero``, when above the trial's."""
    note: str | None = None
    """Why the saved model is not the plain refit of the best trial, if it is not."""
    created_at: UtcDateTime
