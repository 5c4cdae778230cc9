"""Best model out: when a study completes, train its best configuration and store it.

Trials do not keep their weights, so the worker that completes a study trains the best
feasible trial's configuration again (``regtune.worker.refit.best_fit``): by default on every
non-test row (the refit), or with ``refit: false`` on the trial's own splits and seed (training
is deterministic on CPU, so that reproduces the trial). The refit's test metric is what the
best model reports; the trial's validation figures stay the trial's. Then, by default
(``refit_rows: all``), the test rows have done their work too: the saved model is the same
refit on every row, as scikit-learn's ``refit`` and glmnet's final fit use all the data they
are given, and its test metric is the one just measured without them (a model trained on fewer
rows: a cautious figure); if that refit is refused (it diverged, fits worse than the mean, or
breaks ``max_nonzero``), the measured refit is saved and its note says why. ``refit_rows:
non_test`` saves the measured refit.

The model is saved with ``regtune.worker.modelfile.save`` and uploaded with
``optuna.artifacts.upload_artifact`` to the study, so optuna-dashboard started with the same
artifact store lists it. The record (artifact id, trial, test metrics, rows the saved model
trained on) goes into a study user attribute.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.storages import RDBStorage
from sqlalchemy import Engine

from regtune.service.errors import DefinitionTooNew
from regtune.service.settings import Settings
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.objective import objective_directions, objective_names
from regtune.service.store.clock import utcnow
from regtune.service.store.db import transaction
from regtune.service.store.optuna_db.internals.handles import study_id_of
from regtune.service.store.repos import (
    best_model,
    cancel_and_delete,
    missing_models,
    model_files,
    model_lease,
)
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.tables import StudyRow
from regtune.service.store.trials import views as trial_reads
from regtune.service.store.trials.selection import chosen_trial
from regtune.worker import data
from regtune.worker import modelfile as predict
from regtune.worker.evaluation import baseline_scores, unnamed
from regtune.worker.refit import BestFit, best_fit
from regtune.worker.trainers.config import StopCheck

log = logging.getLogger(__name__)


class RefitStopped(Exception):
    """The retraining is abandoned, not failed (no try is counted): the worker is stopping (the
    catch-up of another worker saves the model: the autoscaler keeps one for it), the study was
    deleted, or another worker took its lease over. Its message says which, after the study's
    id in the worker's log line."""


DELETED = "deleted while its best model trained: the retraining stopped"
LEASE_LOST = (
    "another worker took over saving its best model (this one's lease ran out, or this worker "
    "was silent past its grace period): the retraining stopped"
)


@dataclass(frozen=True)
class Stores:
    """Where a best model is read from and saved to: the process's own by default."""

    engine: Engine | None = None
    storage: RDBStorage | None = None
    settings: Settings | None = None


def save_best_model(
    study_id: str,
    *,
    stop: StopCheck | None = None,
    stores: Stores | None = None,
    worker_id: str | None = None,
) -> dict[str, Any] | None:
    """Retrain and upload the best trial's model unless it is already saved; return its record.
    ``stop`` is called between solver iterations and minibatch steps; it raises
    ``RefitStopped`` to abandon the retraining, and so does the retraining itself when it loses
    its lease or its study is deleted (whatever failed then: a deleted study has no model to
    save and no failure to count). ``worker_id``: the worker retraining, named in the lease, which
    holds only while that worker lives (``model_lease.holding``)."""
    stores = stores or Stores()
    engine = stores.engine
    with transaction(engine) as session:
        row = session.get(StudyRow, study_id)
        if row is None or row.optuna_study_id is None:
            return None
        osid = row.optuna_study_id
    owner = uuid.uuid4().hex
    if not model_lease.take_lease(osid, owner, worker_id=worker_id, engine=engine):
        log.info("study %s: another worker is saving its best model", study_id)
        return None
    renewing = _renewing(stop, study_id, osid, owner, engine, worker_id=worker_id)
    try:
        return _save_holding_the_lease(row, osid, stop=renewing, stores=stores)
    except RefitStopped:
        raise
    except Exception as exc:
        if cancel_and_delete.gone(study_id, osid, engine):
            raise RefitStopped(DELETED) from exc
        raise
    finally:
        model_lease.release_lease(osid, owner, engine=engine)


def _renewing(
    stop: StopCheck | None,
    study_id: str,
    osid: int,
    owner: str,
    engine: Engine | None,
    *,
    worker_id: str | None,
) -> StopCheck:
    """``stop``, renewing the study's lease a few times per ``LEASE`` as the retraining goes on;
    a lease that cannot be renewed stops it (``RefitStopped``): another worker took it over
    (or saved the model meanwhile), or the study is gone."""
    every = model_lease.LEASE.total_seconds() / 3
    due = time.monotonic() + every

    def check() -> None:
        nonlocal due
        if stop is not None:
            stop()
        if time.monotonic() >= due:
            due = time.monotonic() + every
            if not model_lease.take_lease(osid, owner, worker_id=worker_id, engine=engine):
                raise RefitStopped(
                    DELETED if cancel_and_delete.gone(study_id, osid, engine) else LEASE_LOST
                )

    return check


def _stored_spec(row: StudyRow, osid: int, *, stores: Stores) -> StudySpec:
    """The study's stored definition; one that fails to read is a failed try like any other
    (backed off, then given up, its reason the study's ``error``), where it was retried at
    every sweep. A newer regtune's is left to newer workers, no try counted."""
    try:
        return StudySpec.from_stored(row.spec)
    except DefinitionTooNew:
        raise
    except Exception as exc:  # a ValidationError, or no definition at all
        error = f"the stored definition does not read: {type(exc).__name__}: {exc}"
        missing_models.record_failure(
            row.id, osid, error=error, engine=stores.engine, storage=stores.storage
        )
        raise


def _save_holding_the_lease(
    row: StudyRow, osid: int, *, stop: StopCheck, stores: Stores
) -> dict[str, Any] | None:
    engine, storage = stores.engine, stores.storage
    study_id = row.id
    spec = _stored_spec(row, osid, stores=stores)
    with transaction(engine) as session:
        direction = objective_directions(spec)[0]
        number, note = chosen_trial(
            session, osid, direction, spec.objective.select, spec.objective.relax_margin
        )
        existing = best_model.read_info(session, osid)
        previous = best_model.previous(session, osid) if existing is None else None
        view = trial_reads.get_trial(session, osid, number) if number is not None else None
    if view is None:
        if row.n_done:  # COMPLETE and PRUNED trials; n_errors counts the FAIL ones
            why = "every trial diverged, was pruned or was infeasible"
        elif row.n_errors:
            why = "every trial that finished failed: its error says why"
        else:
            why = "no trial finished before the study ended"
        reason = (
            f"{missing_models.NO_MODEL} no COMPLETE trial with a finite value that meets the "
            f"constraints ({why})"
        )
        log.info("study %s has no COMPLETE trial with a finite value: no best model", study_id)
        missing_models.mark_no_model(study_id, osid, reason=reason, engine=engine, storage=storage)
        return None
    best_model.record_choice(osid, number=view.number, note=_chosen(spec, note), storage=storage)
    if existing is not None and existing.get("trial") == view.number:
        return existing
    if previous is not None and previous.get("trial") == view.number:
        return _publish_again(row, osid, previous, stores=stores)
    log.info("study %s: retraining trial %d to save its best model", study_id, view.number)
    try:
        record = _retrain_and_upload(row, spec, view, existing, stop=stop, stores=stores)
    except RefitStopped:
        raise
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        missing_models.record_failure(study_id, osid, error=error, engine=engine, storage=storage)
        raise
    if record is None:
        log.info(
            "study %s was extended while its best model trained: its next end saves one", study_id
        )
        return None
    best_model.drop_previous(osid, record, settings=stores.settings, engine=engine)
    log.info(
        "study %s best model saved from trial %d (artifact %s)",
        study_id,
        view.number,
        record["artifact_id"],
    )
    return record


def _publish_again(
    row: StudyRow, osid: int, previous: dict[str, Any], *, stores: Stores
) -> dict[str, Any] | None:
    """The study was extended and the same trial chosen at its new end: the model of its last
    end stands again, its file as it was, with no retraining."""
    standing = best_model.publish(
        osid, previous, replaces=None, ended_at=row.finished_at, engine=stores.engine
    )
    if standing is not None:
        best_model.drop_previous(osid, standing, settings=stores.settings, engine=stores.engine)
    return standing


def _chosen(spec: StudySpec, note: str | None) -> str:
    """Why the chosen trial is the best model's: the selection's note, else the best value;
    among the trials within ``objective.max_nonzero`` only, when the study has that limit."""
    names = objective_names(spec)
    limit = spec.objective.max_nonzero
    within = "" if limit is None else f" within objective.max_nonzero {limit}"
    if note is not None:
        among = f"; among the trials{within}" if within else ""
        return f"{note}{among}; the saved best model is this trial's"
    front = " on the Pareto front" if len(names) > 1 else ""
    return f"the best {names[0]}{front}{within}; the saved best model is this trial's"


def _retrain_and_upload(
    row: StudyRow,
    spec: StudySpec,
    view: trial_reads.TrialView,
    existing: dict[str, Any] | None,
    *,
    stop: StopCheck | None,
    stores: Stores,
) -> dict[str, Any] | None:
    dataset = data.load(spec.dataset.model_dump(mode="json"), engine=stores.engine)
    # no test split: the non-test rows are every row, so the one refit is the saved model
    every_row = spec.refit_rows == "all" and not spec.validation.test_split
    fitted = best_fit(
        spec, view.params, view.user_attrs, stop=stop, engine=stores.engine, every_row=every_row
    )
    measured = loaded(dataset, fitted)
    _, test = data.split_test(
        dataset, test_fraction=spec.validation.test_fraction, seed=spec.validation.split_seed
    )
    test_metrics = None  # no test split (validation.test_fraction 0): nothing to score
    baseline = None  # nor a baseline to compare with (the API's best_model shows null)
    if len(test):
        test_metrics = measured.score(dataset.X[test], dataset.y[test])  # holes filled per member
        baseline = baseline_scores(fitted.splits.folds, fitted.splits.task, fitted.config.n_out)
    if not fitted.refit:
        if test_metrics is not None:  # the trial's are its fold models' mean, not the ensemble's
            _compare(row.id, view, unnamed("test", fitted.result.test_metrics), spec)
    elif spec.refit_rows == "all" and not fitted.every_row:  # measured: now the test rows train
        every = best_fit(
            spec, view.params, view.user_attrs, stop=stop, engine=stores.engine, every_row=True
        )
        fitted = every if every.refit else _measured_kept(fitted, every)
    n_nonzero, n_weights = fitted.sparsity
    sparsity = {
        "n_nonzero": n_nonzero,
        "n_weights": n_weights,
        "refit_lambda": fitted.refit_lambda,
        "note": fitted.note,
    }
    # a refit has no validation rows of its own: the best trial's figures stand for it
    val_metrics = unnamed("val", view.user_attrs if fitted.refit else fitted.result.val_metrics)
    info = {
        "study_id": row.id,
        "study_name": row.name,
        "trial": view.number,
        "params": view.params,
        "definition": row.spec,
        "test_metrics": test_metrics,
        "val_metrics": val_metrics,
        "baseline_metrics": baseline,
        "refit": fitted.refit,
        "refit_rows": fitted.rows,
        "train_rows": fitted.train_rows,
        "member_rows": fitted.member_rows,
        "refit_epochs": fitted.epochs,
        **sparsity,
    }
    filename = f"{row.name}-trial{view.number}.safetensors"
    study = optuna.load_study(study_name=row.optuna_name, storage=stores.storage or get_storage())
    with tempfile.TemporaryDirectory(prefix="regtune-model-") as tmp:
        path = Path(tmp) / filename
        write(path, dataset, fitted, info)
        content = path.read_bytes()
        artifact_id = model_files.save_model(study, row.id, path, stores.settings)
    record = {
        "artifact_id": artifact_id,
        "trial": view.number,
        "filename": filename,
        "bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "test_metrics": test_metrics,
        "val_metrics": val_metrics,
        "baseline_metrics": baseline,
        "refit": fitted.refit,
        "refit_rows": fitted.rows,
        "train_rows": fitted.train_rows,
        "member_rows": fitted.member_rows,
        **sparsity,
        "created_at": utcnow().isoformat(),
    }
    standing = best_model.publish(
        study_id_of(study),
        record,
        replaces=existing,
        ended_at=row.finished_at,
        engine=stores.engine,
    )
    if standing is None or standing["artifact_id"] != artifact_id:  # not ours: its file goes
        model_files.discard_artifact(
            study_id_of(study), artifact_id, settings=stores.settings, engine=stores.engine
        )
    return standing


def _measured_kept(measured: BestFit, every: BestFit) -> BestFit:
    """The measured refit on the non-test rows, saved when ``refit_rows: all``'s refit on every
    row (``every``) was refused, with why in its note (and the measured refit's own note after
    it)."""
    note = (
        f"the refit on every row (refit_rows: all) {every.refused}: the refit on the non-test "
        "rows, which measured the test metrics, is saved instead"
    )
    return dataclasses.replace(measured, note="; ".join(filter(None, [note, measured.note])))


def loaded(dataset: data.Dataset, fitted: BestFit) -> predict.SavedModel:
    """The best fit as a saved model would load: the fold models, their preprocessing and the
    dataset's encoder."""
    splits = fitted.splits
    return predict.SavedModel(
        model=predict.Ensemble(
            fitted.result.models,
            [fold.scaler for fold in splits.folds],
            splits.task,
            [fold.fill for fold in splits.folds if fold.fill is not None],
        ),
        task=splits.task,
        feature_names=list(dataset.feature_names),
        info={},
        encoder=dataset.columns,
    )


def write(path: Path, dataset: data.Dataset, fitted: BestFit, info: dict[str, Any]) -> None:
    """The model file of a best fit: weights, preprocessing, the encoder (raw columns, one-hot
    categories, labels, missing-value tokens) and ``info``."""
    splits, config = fitted.splits, fitted.config
    predict.save(
        path,
        models=fitted.result.models,
        scalers=[fold.scaler for fold in splits.folds],
        task=splits.task,
        architecture={
            "kind": config.model_kind,
            "n_in": splits.n_features,
            "n_out": config.n_out,
            "hidden_layers": list(config.hidden_layers),
            "batch_norm": config.batch_norm,
            "dropout": config.dropout,
        },
        feature_names=list(dataset.feature_names),
        info=info,
        fills=[fold.fill for fold in splits.folds if fold.fill is not None],
        encoder=dataset.columns,
    )


EXACT_SLACK = 1_000
"""How far (× the solver's ``tol``, relative) an exact-solver trial's test metrics may be from
its cold retrain's before ``_compare`` warns: the trial may have started warm (a λ path's point,
or the nearest solved configuration), and warm and cold solves agree to ``tol`` in the
objective's subgradient, not in the last bits of a metric (diabetes at ``tol`` 1e-6: 2e-6
apart); a retrain that is another model is still far outside it."""


def _compare(
    study_id: str, view: trial_reads.TrialView, test_metrics: dict[str, float], spec: StudySpec
) -> None:
    """Warn if the retrained model does not reproduce the trial (non-deterministic training):
    ``test_metrics`` are its fold models' mean, as the trial's are (under folds the saved
    ensemble scores another figure); a fused member's pass of one may round otherwise than its
    pass did (README: to 1e-6), and an exact solve agrees to the solver's ``tol``."""
    reported = unnamed("test", view.user_attrs)
    rtol = 1e-6 if view.user_attrs.get("fused") is True else 1e-9
    if spec.solver == "exact":
        rtol = max(rtol, EXACT_SLACK * spec.training.tol)
    for key, value in test_metrics.items():
        if key not in reported or np.isclose(value, reported[key], rtol=rtol, atol=0):
            continue
        if math.isnan(value) and math.isnan(reported[key]):
            continue
        log.warning(
            "study %s trial %d: retrained test_%s %.10g differs from the trial's %.10g",
            study_id,
            view.number,
            key,
            value,
            reported[key],
        )
