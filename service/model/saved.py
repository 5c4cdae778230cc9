"""A best-model file (``regtune.model/1``, safetensors) loaded and run with numpy.

The file holds, per member (one per validation fold; one for a holdout), the tensors of a
``torch.nn.Sequential`` as the worker built it (``regtune.worker.models.build_model``): for a
linear model Dropout → Linear, for an MLP (Linear → [BatchNorm] → ReLU → Dropout)* → Linear, by
their positions (``member.{i}.{position}.weight``...). At prediction dropout is the identity and
batch normalization uses its running statistics, so each member is a chain of affine maps and
ReLUs, computed here in float64. Members are combined as the worker's ``Ensemble`` does:
regression averages in original units, classification averages probabilities.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from regtune.service.ingest.dialects import DATA_ROWS, DataRows
from regtune.service.ingest.encoder import Encoder, Rows
from regtune.service.ingest.header import Limits
from regtune.service.ingest.preprocess import FillValues
from regtune.service.model.metrics import scores
from regtune.service.model.standardizer import Standardizer, pooled_target

FORMAT = "regtune.model/1"
FAR_SD = 10
"""Standard deviations from the training rows' mean past which predict warns of a value."""
PREDICT_AGAIN = "predict it again"
"""What to do with a file whose short rows lost a separator (upload's note says: upload it)."""
BATCH_NORM_EPS = 1e-5
"""torch's BatchNorm1d default, which the worker uses."""

Layer = tuple[np.ndarray, np.ndarray] | None
"""An affine map (weight: out × in, bias), or None for a ReLU."""


@dataclass(frozen=True)
class Member:
    layers: list[Layer]
    scaler: Standardizer
    fill: FillValues | None

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if self.fill is not None:
            X = self.fill.apply(X)
        out = (X - self.scaler.x_mean) / self.scaler.x_scale
        for layer in self.layers:
            if layer is None:
                out = np.maximum(out, 0.0)
            else:
                weight, bias = layer
                out = out @ weight.T + bias
        return out


def layers_of(architecture: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> list[Layer]:
    """The member's affine maps and ReLUs, in order, from its tensors by position."""

    def affine(position: int) -> tuple[np.ndarray, np.ndarray]:
        return (
            tensors[f"{position}.weight"].astype(np.float64),
            tensors[f"{position}.bias"].astype(np.float64),
        )

    if architecture["kind"] == "linear":
        return [affine(1)]  # 0 is the input dropout
    layers: list[Layer] = []
    position = 0
    for _ in architecture["hidden_layers"]:
        weight, bias = affine(position)
        position += 1
        if architecture["batch_norm"]:
            weight, bias = _fold_batch_norm(weight, bias, tensors, position)
            position += 1
        layers += [(weight, bias), None]
        position += 2  # ReLU, Dropout
    layers.append(affine(position))
    return layers


def _fold_batch_norm(
    weight: np.ndarray, bias: np.ndarray, tensors: Mapping[str, np.ndarray], position: int
) -> tuple[np.ndarray, np.ndarray]:
    """The affine map followed by batch normalization (running statistics) as one map."""
    gamma = tensors[f"{position}.weight"].astype(np.float64)
    beta = tensors[f"{position}.bias"].astype(np.float64)
    mean = tensors[f"{position}.running_mean"].astype(np.float64)
    var = tensors[f"{position}.running_var"].astype(np.float64)
    factor = gamma / np.sqrt(var + BATCH_NORM_EPS)
    return weight * factor[:, None], (bias - mean) * factor + beta


@dataclass(frozen=True)
class ModelFile:
    """What a model file holds: per member its tensors (by position), standardization and
    missing-value fill; the architecture, task, feature names, encoder and trial info."""

    task: str
    architecture: dict[str, Any]
    tensors: list[dict[str, np.ndarray]]
    scalers: list[Standardizer]
    fills: list[FillValues | None]
    feature_names: list[str]
    info: dict[str, Any]
    encoder: Encoder | None


def read_file(path: Path | str) -> ModelFile:
    from safetensors import SafetensorError, safe_open
    from safetensors.numpy import load_file

    try:
        with safe_open(str(path), framework="np") as handle:
            metadata = handle.metadata() or {}
    except SafetensorError as exc:  # not a safetensors file at all (a CSV given as the model)
        raise ValueError(f"{path} is not a regtune model file ({exc})") from exc
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is not a regtune model (format {metadata.get('format')!r})")
    tensors = load_file(str(path))
    scalers = [Standardizer.from_dict(s) for s in json.loads(metadata["preprocessing"])]
    fills: list[FillValues | None] = [None] * len(scalers)
    if "fill_values" in metadata:  # files saved before fill values travelled have none
        fills = [FillValues.from_dict(f) for f in json.loads(metadata["fill_values"])]
    members = []
    for i in range(len(scalers)):
        prefix = f"member.{i}."
        members.append(
            {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
        )
    encoder = metadata.get("encoder")
    return ModelFile(
        task=metadata["task"],
        architecture=json.loads(metadata["architecture"]),
        tensors=members,
        scalers=scalers,
        fills=fills,
        feature_names=json.loads(metadata["feature_names"]),
        info=json.loads(metadata["info"]),
        encoder=Encoder.from_dict(json.loads(encoder)) if encoder is not None else None,
    )


@dataclass(kw_only=True)
class Labelled:
    """A saved model's description, and what predict reads and answers in: the stored encoder
    and the target's labels."""

    task: str
    feature_names: list[str]
    info: dict[str, Any]
    """study_id, trial, params, definition, test_metrics, val_metrics."""
    encoder: Encoder | None = None
    """None in a file saved before the encoder travelled."""

    @property
    def columns(self) -> Encoder:
        """The encoder; for an older file, numeric columns named as the features."""
        return self.encoder or Encoder.numeric(self.feature_names)

    def far_notes(self, X: np.ndarray, *, where: DataRows = DATA_ROWS) -> list[str]:
        """Warnings of values far from the training rows' (``SavedModel.far_notes``): none
        where the scaler is not known here."""
        return []

    def read(
        self,
        raw: bytes,
        *,
        filename: str,
        target: str | None = None,
        encoding: str | None = None,
    ) -> Rows:
        """A CSV or Parquet file as upload takes it → features (and target, if present). A CSV
        is text in ``encoding``; by default UTF-8, or, for bytes that are not UTF-8, the
        encoding the model's training file was read with, or UTF-16 by its byte-order mark
        (``Rows.encoding`` says which). Rows
        with fewer fields than the header are read with missing cells, with a warning naming
        how many and their lines, as upload notes them (``Rows.short``); so are a category the
        model never saw, a column empty in every row (``Encoder.fill_notes``) and a value far
        from the training rows' (``far_notes``), as ``regtune predict`` says them (a laptop's
        client has no pandas for ``predict(DataFrame)``, which warns of them too)."""
        rows = self.columns.read(raw, filename=filename, target=target, encoding=encoding)
        short = rows.short.said(again=PREDICT_AGAIN)
        notes = [] if short is None else [short]
        for column, values in rows.unknown.items():
            shown = ", ".join(repr(v) for v in values[:5]) + (", ..." if len(values) > 5 else "")
            notes.append(
                f"column {column!r} has values the model never saw ({shown}); they are encoded "
                "as none of its categories"
            )
        notes += self.columns.fill_notes(rows.X) + self.far_notes(rows.X, where=rows.where)
        for note in notes:
            warnings.warn(note, stacklevel=2)
        return rows

    def inputs(self, X: Any) -> np.ndarray:
        """What the model runs on. A pandas DataFrame holds raw columns as upload took them:
        bound by name in any order and encoded as at upload (text stays text, other columns are
        ignored, a missing one is refused by name, a category the model never saw is none of its
        categories, with a warning; missing cells are filled as the training rows' were, with a
        warning for a column empty in every row or one the training file had no gaps in
        (``Encoder.fill_notes``); numbers written as text, ``"3,14"``, are read as a tab
        file's are; times as ``Client.upload_dataset`` sends them, ``as_uploaded``). Anything
        else is the encoded inputs, in ``feature_names`` order, and must have that many
        columns."""
        if hasattr(X, "columns"):  # a DataFrame (pandas is optional where a client predicts)
            named = {str(name): as_uploaded(X[name]) for name in X.columns}
            encoded, unknown = self.columns.encode_frame(named, Limits())
            for name, values in unknown.items():
                warnings.warn(
                    f"column {name!r} has values the model never saw ({values[:5]}): encoded as "
                    "none of its categories",
                    stacklevel=3,
                )
            for note in self.columns.fill_notes(encoded):
                warnings.warn(note, stacklevel=3)
            return encoded
        takes = (
            f"the model takes rows of {len(self.feature_names)} encoded inputs in feature_names "
            f"order ({self.feature_names[:5]}...), or a DataFrame of the raw columns, bound by name"
        )
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:  # text: raw columns given without their names
            raise ValueError(f"X holds values that are not numbers ({exc}); {takes}") from exc
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(f"X has shape {X.shape}; {takes}")
        return X

    def labels(self, n_classes: int) -> np.ndarray:
        """The class labels in code order: numbers when the target held numbers, else text;
        the codes 0..k-1 for a file saved without labels."""
        classes = self.columns.classes
        if classes is None:
            return np.arange(n_classes)
        return label_values(classes)


@dataclass(kw_only=True)
class SavedModel(Labelled):
    """The model run with numpy."""

    members: list[Member]

    @property
    def scaler(self) -> Standardizer:
        """Member 0's standardization: its inputs' statistics are the training rows' that
        ``far_notes`` measures by."""
        return self.members[0].scaler

    @property
    def target(self) -> tuple[float, float]:
        """(mean, standard deviation) the ensemble's regression outputs and loss are
        standardized by: the target's over the rows its members trained on together
        (``pooled_target``: for k fold models, every non-test row; one member's own)."""
        return pooled_target([m.scaler for m in self.members])

    def far_notes(self, X: np.ndarray, *, where: DataRows = DATA_ROWS) -> list[str]:
        """A warning per numeric column of ``X`` (encoded rows) holding a value outside the
        training rows' range and more than ``FAR_SD`` of their standard deviations from their
        mean: the model extrapolates there, and says nothing of it in its answer (an area of
        1e15 m² priced a house at 1.9e19). A value within the range is no extrapolation, however
        far from the mean (digits' rare pixels reach 14 standard deviations in the training
        rows themselves); a file saved before it held the range is judged by the mean alone.
        The value's row is named as ``where`` names it (a file's line)."""
        notes: list[str] = []
        span = self._span()
        means, sds = self._moments() if span is not None else (self.scaler.x_mean, None)
        for feature, at, _ in self.columns.spans():
            column = X[:, at] if len(X) else np.empty(0)
            mean = float(means[at])
            sd = float(sds[at]) if sds is not None else float(self.scaler.x_scale[at])
            filled = np.nan_to_num(column, nan=mean)
            far = np.abs(filled - mean) > FAR_SD * sd
            outside = ""
            if span is not None:
                low, high = float(span[0][at]), float(span[1][at])
                beyond = (filled < low) | (filled > high)
                if low == high and feature.categories is None and beyond.any():
                    notes.append(self._constant_note(feature.name, column, beyond, low, where))
                    continue
                far &= beyond
                outside = f"outside the training rows' range ({low:.6g} to {high:.6g}) and "
            if feature.categories is None and far.any():
                row = int(np.flatnonzero(far)[0])
                notes.append(
                    f"column {feature.name!r} has {int(far.sum())} value(s) {outside}more than "
                    f"{FAR_SD} standard deviations from the training rows' mean, as "
                    f"{column[row]:.6g} at {where(row)}, where the mean is {mean:.6g} and the "
                    f"standard deviation {sd:.6g}: the model extrapolates there"
                )
        return notes

    @staticmethod
    def _constant_note(
        name: str, column: np.ndarray, other: np.ndarray, value: float, where: DataRows
    ) -> str:
        """The warning for a column every training row held ``value`` in: the model never
        learned from it (an MLP's weights there are as initialized), so any other value moves
        its answer by an amount no row measured (was: no warning within 10 of the value, and
        past it "the standard deviation 1", the stand-in for 0 that standardizing uses)."""
        row = int(np.flatnonzero(other)[0])
        return (
            f"column {name!r} held {value:.6g} in every training row and has {int(other.sum())} "
            f"other value(s), as {column[row]:.6g} at {where(row)}: the model never learned "
            "from this column, so its answer there is not one the training rows measured"
        )

    def _span(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Each input's smallest and largest value over the rows the members trained on
        together, or None for a file saved before the members held them."""
        lows = [m.scaler.x_min for m in self.members if m.scaler.x_min is not None]
        highs = [m.scaler.x_max for m in self.members if m.scaler.x_max is not None]
        if len(lows) < len(self.members) or len(highs) < len(self.members):
            return None
        return np.min(np.stack(lows), axis=0), np.max(np.stack(highs), axis=0)

    def _moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Each input's mean and standard deviation over the rows the members trained on
        together (a row once per member that trained on it, as ``pooled_target``), a member's
        input constant in its rows counted as the 0 it was, not as the stand-in 1 that
        standardizing divides by (member 0's alone said "the standard deviation 1" of a
        column constant in its rows but not in the other folds'). For a file with the range."""
        weights = np.array([m.scaler.rows or 1 for m in self.members], dtype=np.float64)
        means = np.stack([m.scaler.x_mean for m in self.members])
        variances = np.stack(
            [
                np.where(m.scaler.x_min == m.scaler.x_max, 0.0, m.scaler.x_scale**2)
                for m in self.members
            ]
        )
        mean = np.average(means, axis=0, weights=weights)
        second = np.average(variances + means**2, axis=0, weights=weights)
        return mean, np.sqrt(np.maximum(second - mean**2, 0.0))

    def outputs(self, X: Any) -> np.ndarray:
        """The whole ensemble's standardized prediction (regression, by ``target``) or logits;
        ``X`` as ``inputs`` takes it (a DataFrame's far values with a warning, ``far_notes``)."""
        frame = hasattr(X, "columns")
        X = self.inputs(X)
        for note in self.far_notes(X) if frame else []:
            warnings.warn(note, stacklevel=3)
        if len(self.members) == 1:
            return self.members[0](X)
        outs = [member(X) for member in self.members]
        if self.task == "regression":
            raw = np.stack(
                [
                    o * m.scaler.y_scale + m.scaler.y_mean
                    for o, m in zip(outs, self.members, strict=True)
                ]
            )
            mean, scale = self.target
            return (raw.mean(0) - mean) / scale
        if self.task == "binary":
            p = np.clip(np.mean([_sigmoid(o) for o in outs], axis=0), 1e-12, 1 - 1e-12)
            return np.log(p) - np.log1p(-p)
        return np.log(np.maximum(np.mean([_softmax(o) for o in outs], axis=0), 1e-12))

    def predict(self, X: Any) -> dict[str, np.ndarray]:
        """``prediction`` in the target's units (regression) or its labels; for classification
        also ``probability_<label>`` of every label. ``X``: a DataFrame of raw columns, bound by
        name, or the encoded inputs (``inputs``)."""
        out = self.outputs(X)
        if self.task == "regression":
            mean, scale = self.target
            return {"prediction": out[:, 0] * scale + mean}
        if self.task == "binary":
            p = _sigmoid(out[:, 0])
            prob = np.stack([1 - p, p], axis=1)
        else:
            prob = _softmax(out)
        labels = self.labels(prob.shape[1])
        columns = {f"probability_{c}": prob[:, k] for k, c in enumerate(labels)}
        return {"prediction": labels[prob.argmax(axis=1)], **columns}

    def score(self, X: Any, y: Any) -> dict[str, float]:
        """The test metrics the API reports (``loss``, ``rmse``, ``accuracy``...) on (X, y):
        ``X`` as ``predict`` takes it, ``y`` the target in its units, or the class codes (the
        index of each label in ``labels``: ``read`` gives both from a file). The loss of
        regression is on ``target``'s standardization."""
        y = np.asarray(y)
        mean, scale = self.target
        if self.task == "regression":
            y = (y - mean) / scale
        return scores(self.outputs(X), y, self.task, scale)


def as_uploaded(values: Any) -> Any:
    """A DataFrame's column of times (``datetime64``, with a zone or not, ``timedelta64``) as the
    text ``to_csv`` writes, the text ``Client.upload_dataset`` sends of the same frame
    (``2024-06-01`` for dates at midnight; it was ``2024-06-01 00:00:00``, a category the model
    never saw); missing times stay missing. Any other column as it is."""
    if getattr(getattr(values, "dtype", None), "kind", "") not in ("M", "m"):
        return values
    return values.astype(str).where(values.notna(), None)


NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
"""A number as a CSV writes one, in ASCII digits (Python's ``float`` also takes ``1_000`` and
other scripts' digits, which upload keeps as text labels)."""
INT64 = np.iinfo(np.int64)


def label_values(classes: Sequence[str]) -> np.ndarray:
    """Labels as the user wrote them: a numeric target's labels back as numbers (integers when
    every one is), text as text. Was: ``18_24`` came back as 1824 and ``１`` as 1 (``float``
    reads both), and integers past int64 as -9223372036854775808, every class the same."""
    if not classes or not all(NUMBER.fullmatch(c) for c in classes):
        return np.array(list(classes), dtype=object)
    numbers = np.array([float(c) for c in classes])
    if not np.all(numbers == np.round(numbers)):
        return numbers
    whole = [int(c) if "." not in c and "e" not in c.lower() else int(float(c)) for c in classes]
    if all(INT64.min <= n <= INT64.max for n in whole):
        return np.array(whole, dtype=np.int64)
    return np.array(whole, dtype=object)  # exact, as written


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))


def _softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(z - np.logaddexp.reduce(z, axis=-1, keepdims=True))


def load(path: Path | str) -> SavedModel:
    stored = read_file(path)
    members = [
        Member(layers_of(stored.architecture, tensors), scaler, fill)
        for tensors, scaler, fill in zip(stored.tensors, stored.scalers, stored.fills, strict=True)
    ]
    return SavedModel(
        members=members,
        task=stored.task,
        feature_names=stored.feature_names,
        info=stored.info,
        encoder=stored.encoder,
    )
