"""Uploaded datasets on the worker side: read from the database, kept per content hash.

The dataset id is the hash of its content, so a cached copy holds the same file; ``data.load``
caches the result per process (a copy deleted and uploaded again after an upgrade that reads
it otherwise is read anew by processes started after it), and this module never writes anything
to disk.
"""

from __future__ import annotations

from sqlalchemy import Engine

from regtune.service.store.repos import datasets
from regtune.worker.data import Dataset


def load_uploaded(dataset_id: str, *, engine: Engine | None = None) -> Dataset:
    stored = datasets.load_arrays(dataset_id, engine=engine)
    return Dataset(
        X=stored.X.astype("float64", copy=False),
        y=stored.y,
        task=stored.task,
        feature_names=stored.feature_names,
        categorical_groups=tuple(stored.groups),
        encoder=stored.encoder,
    )
