"""Best model out: when a study completes, retrain its best trial and store it as an artifact.

Trials do not keep their weights, so the worker that completes a study retrains the best
feasible trial with the same parameters, splits and seed (training is deterministic on CPU),
saves it with ``worker.modelfile.save`` and uploads it with ``optuna.artifacts.upload_artifact``
to the study, so optuna-dashboard started with the same artifact store lists it. The record
(artifact id, trial, test metrics of the saved model) goes into a study user attribute.
"""

from __future__ import annotations

import hashlib
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.artifacts import upload_artifact
from optuna.trial import TrialState
from sqlalchemy import Engine, exists, select

from service.spec.definition import StudySpec
from service.spec.enums import StudyStatus
from service.store import best_model
from service.store import trials as trial_reads
from service.store.claims import utcnow
from service.store.db import transaction
from service.store.optuna_internals import om
from service.store.optuna_storage import get_storage
from service.store.studies import objective_directions
from service.store.tables import StudyRow
from worker import data
from worker import modelfile as predict
from worker.objective import n_outputs, prepare, stored_values, train_config
from worker.train import train

log = logging.getLogger(__name__)


def studies_missing_a_model(engine: Engine | None = None, *, limit: int = 1) -> list[str]:
    """Completed studies with a COMPLETE trial but no saved model.

    The worker whose finish completes a study saves its model; when the study completed some
    other way (the sweep released the last slot, the deadline passed, that worker died while
    retraining), an idle worker catches up here.
    """
    trials, attrs = om.TrialModel, om.StudyUserAttributeModel
    with transaction(engine) as session:
        rows = session.scalars(
            select(StudyRow.id)
            .where(
                StudyRow.status == StudyStatus.COMPLETED,
                StudyRow.optuna_study_id.is_not(None),
                exists().where(
                    trials.study_id == StudyRow.optuna_study_id,
                    trials.state == TrialState.COMPLETE,
                ),
                ~exists().where(
                    attrs.study_id == StudyRow.optuna_study_id,
                    attrs.key == best_model.BEST_MODEL_ATTR,
                ),
            )
            .order_by(StudyRow.finished_at.desc())
            .limit(limit)
        ).all()
    return list(rows)


def save_best_model(study_id: str) -> dict[str, Any] | None:
    """Retrain and upload the best trial's model unless it is already saved; return its record."""
    with transaction() as session:
        row = session.get(StudyRow, study_id)
        if row is None or row.optuna_study_id is None:
            return None
        osid = row.optuna_study_id
        spec = StudySpec.from_stored(row.spec)
        number = trial_reads.best_trial_number(session, osid, objective_directions(spec)[0])
        existing = best_model.read_info(session, osid)
        view = trial_reads.get_trial(session, osid, number) if number is not None else None
    if view is None:
        log.info("study %s has no COMPLETE feasible trial: no best model", study_id)
        return None
    if existing is not None and existing.get("trial") == view.number:
        return existing
    record = _retrain_and_upload(row, spec, view)
    log.info(
        "study %s best model saved from trial %d (artifact %s)",
        study_id,
        view.number,
        record["artifact_id"],
    )
    return record


def _retrain_and_upload(
    row: StudyRow, spec: StudySpec, view: trial_reads.TrialView
) -> dict[str, Any]:
    dataset = data.load(spec.dataset.model_dump(mode="json"))
    splits = prepare(spec, with_fill=True)
    config = train_config(spec, stored_values(spec, view.params), n_out=n_outputs(splits))
    result = train(config, splits.folds)
    scalers = [fold.scaler for fold in splits.folds]
    fills = [fold.fill for fold in splits.folds if fold.fill is not None]
    architecture = {
        "kind": config.model_kind,
        "n_in": splits.n_features,
        "n_out": config.n_out,
        "hidden_layers": list(config.hidden_layers),
        "batch_norm": config.batch_norm,
        "dropout": config.dropout,
    }
    saved = predict.SavedModel(
        model=predict.Ensemble(result.models, scalers, splits.task, fills),
        task=splits.task,
        feature_names=list(dataset.feature_names),
        info={},
    )
    _, test = data.split_test(
        dataset, test_fraction=spec.validation.test_fraction, seed=spec.validation.split_seed
    )
    test_metrics = saved.score(dataset.X[test], dataset.y[test])  # holes filled per member
    _compare(row.id, view, test_metrics)
    val_metrics = {k.removeprefix("val_"): v for k, v in result.val_metrics.items()}
    info = {
        "study_id": row.id,
        "study_name": row.name,
        "trial": view.number,
        "params": view.params,
        "definition": row.spec,
        "test_metrics": test_metrics,
        "val_metrics": val_metrics,
    }
    filename = f"{row.name}-trial{view.number}.safetensors"
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    with tempfile.TemporaryDirectory(prefix="regtune-model-") as tmp:
        path = Path(tmp) / filename
        predict.save(
            path,
            models=result.models,
            scalers=scalers,
            task=splits.task,
            architecture=architecture,
            feature_names=list(dataset.feature_names),
            info=info,
            fills=fills,
        )
        content = path.read_bytes()
        artifact_id = upload_artifact(
            artifact_store=best_model.artifact_store(),
            file_path=str(path),
            study_or_trial=study,
            mimetype=best_model.MEDIA_TYPE,
        )
    record = {
        "artifact_id": artifact_id,
        "trial": view.number,
        "filename": filename,
        "bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "test_metrics": test_metrics,
        "val_metrics": val_metrics,
        "created_at": utcnow().isoformat(),
    }
    study.set_user_attr(best_model.BEST_MODEL_ATTR, record)
    return record


def _compare(study_id: str, view: trial_reads.TrialView, test_metrics: dict[str, float]) -> None:
    """Warn if the retrained model does not reproduce the trial (non-deterministic training)."""
    for key, value in test_metrics.items():
        reported = view.user_attrs.get(f"test_{key}")
        if isinstance(reported, float) and not np.isclose(value, reported, rtol=1e-9, atol=0):
            if math.isnan(value) and math.isnan(reported):
                continue
            log.warning(
                "study %s trial %d: retrained test_%s %.10g differs from the trial's %.10g",
                study_id,
                view.number,
                key,
                value,
                reported,
            )
