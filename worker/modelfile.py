"""A saved best model: the safetensors file format, loading it, predicting and scoring a table.

One file holds everything needed to predict, and nothing executable (no pickle):
tensors ``member.{i}.{name}`` (one model per validation fold; one for a holdout) and string
metadata — the architecture, the training split's standardization statistics of each member
(``Standardizer.as_dict``), the missing-value fill of each member (``FillValues.as_dict``:
medians and modes of its training rows), the feature names, the encoder (``Encoder.as_dict``:
the raw columns, their one-hot categories, the target's name and labels, the missing-value
tokens), the study definition and the trial's params.

With the encoder, predict takes a file exactly as upload took it and answers in the target's
own labels. A file saved before the encoder travelled still loads: its columns are bound by
feature name and its classes are answered as codes 0..k-1.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from regtune.service.ingest.encoder import Encoder
from regtune.service.ingest.preprocess import FillValues
from regtune.service.model.metrics import scores
from regtune.service.model.saved import FORMAT, Labelled, read_file
from regtune.service.model.standardizer import Standardizer, pooled_target
from regtune.worker.models import build_model


class Ensemble(nn.Module):
    """Raw features in; missing values filled and standardized per member; outputs on
    ``target``'s scale.

    With a holdout there is one member and this is exactly the trial's model. With k folds the
    members' predictions are averaged (regression: in original units; classification:
    probabilities) and returned standardized by the target's statistics over the rows the
    members trained on together (``pooled_target``: every non-test row) or as logits.
    """

    def __init__(
        self,
        members: Sequence[nn.Module],
        scalers: list[Standardizer],
        task: str,
        fills: Sequence[FillValues | None] | None = None,
    ) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.scalers = scalers
        self.task = task
        self.fills = list(fills) if fills is not None else [None] * len(scalers)
        self.target = pooled_target(scalers)
        """(mean, standard deviation) of the target the outputs are standardized by."""

    def _member(self, i: int, X: torch.Tensor) -> torch.Tensor:
        fill = self.fills[i]
        if fill is not None and bool(torch.isnan(X).any()):
            X = torch.from_numpy(fill.apply(X.double().numpy()))
        scaler = self.scalers[i]
        mean = torch.from_numpy(np.asarray(scaler.x_mean, dtype=np.float64))
        scale = torch.from_numpy(np.asarray(scaler.x_scale, dtype=np.float64))
        return self.members[i](((X.double() - mean) / scale).float())

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if len(self.members) == 1:
            return self._member(0, X)
        outs = [self._member(i, X).double() for i in range(len(self.members))]
        if self.task == "regression":
            raw = torch.stack(
                [o * s.y_scale + s.y_mean for o, s in zip(outs, self.scalers, strict=True)]
            )
            mean, scale = self.target
            return (raw.mean(0) - mean) / scale
        if self.task == "binary":
            p = torch.stack([torch.sigmoid(o) for o in outs]).mean(0).clamp(1e-12, 1 - 1e-12)
            return torch.log(p) - torch.log1p(-p)
        return torch.stack([torch.softmax(o, dim=-1) for o in outs]).mean(0).clamp_min(1e-12).log()


@dataclass(kw_only=True)
class SavedModel(Labelled):
    """The model as torch modules (the worker scores its refit with it)."""

    model: Ensemble

    def features(self, frame: Any) -> np.ndarray:
        """The model's (encoded) feature columns of a table, by name; a missing one is refused."""
        missing = [n for n in self.feature_names if n not in frame.columns]
        if missing:
            raise ValueError(
                f"the table lacks feature columns {missing[:5]} (the model needs "
                f"{len(self.feature_names)}: {self.feature_names[:5]}...); columns are matched "
                "by name"
            )
        return frame[self.feature_names].to_numpy(dtype=np.float64)

    @torch.no_grad()
    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """``prediction`` in the target's units (regression) or its labels; for classification
        also ``probability_<label>`` of every label."""
        self.model.eval()
        out = self.model(torch.from_numpy(np.array(X, dtype=np.float64))).double()
        if self.task == "regression":
            mean, scale = self.model.target
            return {"prediction": out.squeeze(-1).numpy() * scale + mean}
        if self.task == "binary":
            p = torch.sigmoid(out.squeeze(-1)).numpy()
            prob = np.stack([1 - p, p], axis=1)
        else:
            prob = torch.softmax(out, dim=-1).numpy()
        labels = self.labels(prob.shape[1])
        columns = {f"probability_{c}": prob[:, k] for k, c in enumerate(labels)}
        return {"prediction": labels[prob.argmax(axis=1)], **columns}

    @torch.no_grad()
    def score(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """The test metrics the API reports (``loss``, ``rmse``, ``accuracy``...) on (X, y);
        regression's loss on the ensemble's standardization (``Ensemble.target``)."""
        mean, scale = self.model.target
        target = np.asarray(y)
        if self.task == "regression":
            target = ((target - mean) / scale).astype(np.float32)  # as ``Standardizer.y``
        self.model.eval()
        out = self.model(torch.from_numpy(np.asarray(X, dtype=np.float64)))
        return scores(out.double().numpy(), target, self.task, scale)


def save(
    path: Path,
    *,
    models: Sequence[nn.Module],
    scalers: list[Standardizer],
    task: str,
    architecture: dict[str, Any],
    feature_names: list[str],
    info: dict[str, Any],
    fills: Sequence[FillValues] | None = None,
    encoder: Encoder | None = None,
) -> None:
    if encoder is not None and encoder.feature_names != list(feature_names):
        raise ValueError(
            f"the encoder gives features {encoder.feature_names[:5]}..., the model has "
            f"{list(feature_names)[:5]}..."
        )
    tensors = {
        f"member.{i}.{name}": tensor.detach().contiguous().clone()
        for i, model in enumerate(models)
        for name, tensor in model.state_dict().items()
    }
    metadata = {
        "format": FORMAT,
        "task": task,
        "architecture": json.dumps(architecture),
        "preprocessing": json.dumps([s.as_dict() for s in scalers]),
        "feature_names": json.dumps(feature_names),
        "info": json.dumps(info),
    }
    if fills is not None:
        metadata["fill_values"] = json.dumps([f.as_dict() for f in fills])
    if encoder is not None:
        metadata["encoder"] = json.dumps(encoder.as_dict())
    save_file(tensors, str(path), metadata=metadata)


def load(path: Path | str) -> SavedModel:
    """The file as the worker's torch model (predict runs it with numpy: ``read_file``)."""
    stored = read_file(path)
    arch = stored.architecture
    members = []
    for tensors in stored.tensors:
        model = build_model(
            arch["kind"],
            n_in=arch["n_in"],
            n_out=arch["n_out"],
            hidden_layers=list(arch["hidden_layers"]),
            batch_norm=arch["batch_norm"],
            dropout=arch["dropout"],
        )
        model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
        model.eval()
        members.append(model)
    return SavedModel(
        model=Ensemble(members, stored.scalers, stored.task, stored.fills),
        task=stored.task,
        feature_names=stored.feature_names,
        info=stored.info,
        encoder=stored.encoder,
    )
