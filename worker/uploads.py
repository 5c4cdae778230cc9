"""Uploaded datasets on the worker side: read from the database, kept per content hash.

The dataset id is the hash of its content, so a cached copy can never be stale; ``data.load``
caches the result per process, and this module never writes anything to disk.
"""

from __future__ import annotations

from regtune.service.store.repos import datasets
from regtune.worker.data import Dataset


def load_uploaded(dataset_id: str) -> Dataset:
    stored = datasets.load_arrays(dataset_id)
    return Dataset(
        X=stored.X.astype("float64", copy=False),
        y=stored.y,
        task=stored.task,
        feature_names=stored.feature_names,
        categorical_groups=tuple(stored.groups),
        encoder=stored.encoder,
    )
