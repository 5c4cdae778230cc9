"""A best model for a report's tests: a model file as the worker writes it (tensors
``member.{i}.{layer}.weight`` and their metadata), uploaded as the study's artifact and recorded
as its best model, which the report reads its coefficients and facts from."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.artifacts import upload_artifact
from safetensors.numpy import save_file

from regtune.service.settings import get_settings
from regtune.service.store.optuna_db.attrs import BEST_MODEL_ATTR
from regtune.service.store.repos import model_files


def save_best_model(
    study: optuna.Study,
    tensors: dict[str, np.ndarray],
    *,
    file: str,
    metadata: dict[str, str],
    **record: Any,
) -> None:
    """``tensors`` and ``metadata`` as the file ``file`` of the artifact directory, the best
    trial's model; ``record``: fields of the study's best-model record beside (or instead of)
    the ones every test shares."""
    path = Path(get_settings().artifact_dir) / file
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    artifact = upload_artifact(
        artifact_store=model_files.artifact_store(), file_path=str(path), study_or_trial=study
    )
    best = study.best_trial
    study.set_user_attr(
        BEST_MODEL_ATTR,
        {
            "artifact_id": artifact,
            "trial": best.number,
            "filename": file,
            "bytes": path.stat().st_size,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "test_metrics": None,
            "val_metrics": {"loss": best.value},
            "refit": False,
            "created_at": "2026-01-01T00:00:00+00:00",
            **record,
        },
    )
