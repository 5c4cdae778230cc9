"""Uploaded datasets in the domain: create (content-addressed), read, list, delete. No HTTP.

A dataset is stored whole in the database (summary plus encoded arrays in safetensors, which
holds raw tensors and cannot carry code), so a worker anywhere needs only the database URL.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine, exists, func, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from regtune.service.errors import (
    DatasetInUse,
    DatasetNotFound,
    FieldProblem,
    InvalidDefinition,
    InvalidUpload,
)
from regtune.service.ingest.columns import TASKS, read_table
from regtune.service.ingest.encoder import Encoder
from regtune.service.ingest.encodings import UTF8, check_encoding
from regtune.service.ingest.header import Limits, same_name
from regtune.service.ingest.missing_values import check_missing_values
from regtune.service.spec.cost import DataShape
from regtune.service.spec.dataset_refs import Uploaded
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.enums import ACTIVE, Task
from regtune.service.store.clock import utcnow
from regtune.service.store.db import rowcount, transaction
from regtune.service.store.tables import DatasetRow, StudyRow

ID_CHARS = 32


def content_id(
    file_sha256: str,
    *,
    target: str,
    task: str,
    ignore: Collection[str] = (),
    encoding: str = UTF8,
    missing_values: Collection[str] = (),
) -> str:
    """The dataset id: a hash of the file's bytes and of what was asked of them. The ignored
    columns and the missing-value marks count as sets (order and repeats do not), and nothing
    ignored (or UTF-8, or no marks) hashes as before ignoring (or encodings, or marks) existed,
    so older datasets keep their ids."""
    key = f"regtune-dataset-v1\0{file_sha256}\0{target}\0{task}"
    if ignore:
        key += f"\0ignore\0{json.dumps(sorted(set(ignore)))}"
    if encoding != UTF8:
        key += f"\0encoding\0{encoding}"
    if missing_values:
        key += f"\0missing_values\0{json.dumps(sorted(set(missing_values)))}"
    return hashlib.sha256(key.encode()).hexdigest()[:ID_CHARS]


def encode_arrays(X: np.ndarray, y: np.ndarray) -> bytes:
    from safetensors.numpy import save

    return save({"X": np.ascontiguousarray(X), "y": np.ascontiguousarray(y)})


def decode_arrays(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    from safetensors.numpy import load

    arrays = load(bytes(blob))  # psycopg may hand back a memoryview
    return arrays["X"], arrays["y"]


def _display_name(filename: str | None) -> str:
    base = re.split(r"[\\/]", filename or "")[-1].strip()
    return "".join(ch for ch in base if ch.isprintable())[:255] or "upload"


def _check_options(target: str, task: str) -> None:
    if not target.strip():
        raise InvalidUpload("target must name a column of the file", [])
    if task not in TASKS:
        raise InvalidUpload(f"task must be one of {', '.join(TASKS)}, got {task!r}")


def create(
    raw: bytes,
    *,
    file_sha256: str,
    filename: str | None,
    target: str,
    task: str = "auto",
    ignore: Collection[str] = (),
    tenant: str = "default",
    limits: Limits | None = None,
    encoding: str | None = None,
    missing_values: Collection[str] = (),
) -> tuple[DatasetRow, bool]:
    """Store an upload; return the row and whether it is new (the same upload is one dataset).

    ``ignore``: columns of the file left out of the dataset (a row id, say); ``encoding``: the
    text encoding of a CSV (UTF-8 when None); ``missing_values``: cell texts read as missing
    besides the built-in tokens (``-``, ``n.a.``). Both are checked before anything is read."""
    _check_options(target, task)
    encoding = check_encoding(encoding)
    declared = check_missing_values(missing_values)
    target = same_name(target)  # as the file's header is read: one id for names that look alike
    ignored = sorted({same_name(name) for name in ignore})
    dataset_id = content_id(
        file_sha256,
        target=target,
        task=task,
        ignore=ignored,
        encoding=encoding,
        missing_values=declared,
    )
    existing = _find(dataset_id, tenant=tenant)
    if existing is not None:
        return existing, False
    name = _display_name(filename)
    table = read_table(
        raw,
        filename=name,
        target=target,
        task=task,
        ignore=ignored,
        limits=limits,
        encoding=encoding,
        missing_values=declared,
    )
    summary: dict[str, Any] = {
        "sha256": file_sha256,
        "requested_task": task,
        "ignored": ignored,
        "columns": table.columns,
        "feature_names": table.feature_names,
        "groups": [list(g) for g in table.groups],
        "classes": table.classes,
        "target_distribution": table.target_summary,
        "missing": table.missing,
        "notes": table.notes,
        "encoding": table.dialect.encoding,
        "decimal": table.dialect.decimal,
        "missing_values": list(declared),
        **({"target_decimal": table.target_decimal} if table.target_decimal else {}),
    }
    row = DatasetRow(
        tenant=tenant,
        id=dataset_id,
        name=name,
        format=table.format,
        target=target,
        task=table.task,
        n_rows=int(table.X.shape[0]),
        n_features=int(table.X.shape[1]),
        size_bytes=len(raw),
        summary=summary,
        data=encode_arrays(table.X, table.y),
        created_at=utcnow(),
    )
    try:
        with transaction() as session:
            session.add(row)
    except IntegrityError:
        existing = _find(dataset_id, tenant=tenant)
        if existing is None:
            raise
        return existing, False
    row.data = b""  # the caller reports the summary; no need to hold the arrays
    return row, True


def _find(dataset_id: str, *, tenant: str) -> DatasetRow | None:
    with transaction() as session:
        return session.get(DatasetRow, (tenant, dataset_id))


def get(dataset_id: str, *, tenant: str = "default") -> DatasetRow:
    row = _find(dataset_id, tenant=tenant)
    if row is None:
        raise DatasetNotFound(f"no dataset with id {dataset_id!r}")
    return row


def _no_such_upload() -> InvalidDefinition:
    rule = (
        "no uploaded dataset has this id (upload one with regtune datasets upload, or "
        "POST /v1/datasets)"
    )
    return InvalidDefinition(f"dataset.id: {rule}", fields=[FieldProblem("dataset.id", rule)])


def hold_for_a_study(session: Session, spec: StudySpec, *, tenant: str) -> None:
    """In the transaction that stores a study, after its row is written: lock the uploaded
    dataset it names (PostgreSQL; SQLite's one writer already holds the database), or raise
    the 422 of a dataset that is gone. With ``delete`` locking the same row first, one of the
    two waits for the other: a study stored first makes the delete a 409, a delete first makes
    the study a 422 (was: both answered 201 and 204, and the study failed for want of its
    data)."""
    if isinstance(spec.dataset, Uploaded) and _locked(session, spec.dataset.id, tenant) is None:
        raise _no_such_upload()


def _locked(session: Session, dataset_id: str, tenant: str) -> str | None:
    return session.scalar(
        select(DatasetRow.id)
        .where(DatasetRow.tenant == tenant, DatasetRow.id == dataset_id)
        .with_for_update()
    )


def uploaded_task(spec: StudySpec, *, tenant: str) -> str | None:
    """The task stored with the uploaded dataset a definition names; None for other data."""
    if not isinstance(spec.dataset, Uploaded):
        return None
    row = _find(spec.dataset.id, tenant=tenant)
    if row is None:
        raise _no_such_upload()
    if spec.task not in (Task.AUTO, row.task):
        rule = f"the dataset was uploaded as a {row.task} task; use task: auto or {row.task}"
        raise InvalidDefinition(f"task: {rule}", fields=[FieldProblem("task", rule)])
    return row.task


def uploaded_shape(spec: StudySpec, *, tenant: str) -> DataShape | None:
    """Rows, features and classes of the uploaded dataset a definition names; None otherwise."""
    if not isinstance(spec.dataset, Uploaded):
        return None
    row = _find(spec.dataset.id, tenant=tenant)
    if row is None:
        return None
    classes = len(row.summary.get("classes") or []) or 1
    return DataShape(
        rows=row.n_rows,
        features=row.n_features,
        classes=classes,
        smallest_class=smallest_class(row.summary),
    )


def smallest_class(summary: dict[str, Any]) -> int | None:
    """Rows of the least populated class, from the counts stored with the upload."""
    distribution = summary.get("target_distribution") or {}
    counts = [int(c["count"]) for c in distribution.get("classes") or []]
    return min(counts) if counts else None


def list_rows(
    *, tenant: str = "default", offset: int = 0, limit: int = 50
) -> tuple[list[DatasetRow], int]:
    where = DatasetRow.tenant == tenant
    with transaction() as session:
        total = session.scalar(select(func.count()).select_from(DatasetRow).where(where)) or 0
        rows = session.scalars(
            select(DatasetRow)
            .where(where)
            .order_by(DatasetRow.created_at.desc(), DatasetRow.id)
            .offset(offset)
            .limit(limit)
        ).all()
    return list(rows), int(total)


def active_users(dataset_id: str, *, tenant: str, engine: Engine | None = None) -> list[str]:
    """Ids of the tenant's queued or running studies that train on the dataset.

    Matched in SQL on the stored definition's ``dataset.id`` (an uploaded dataset's reference),
    so a request parses no definition, however many studies the tenant runs.
    """
    with transaction(engine) as session:
        found = session.scalars(
            select(StudyRow.id)
            .where(*_used_by(dataset_id, tenant))
            .order_by(StudyRow.created_at, StudyRow.id)
        )
        return list(found)


def _used_by(dataset_id: str, tenant: str) -> tuple[Any, ...]:
    return (
        StudyRow.tenant == tenant,
        StudyRow.status.in_(ACTIVE),
        StudyRow.spec[("dataset", "id")].as_string() == dataset_id,
    )


def delete(dataset_id: str, *, tenant: str = "default") -> None:
    """Delete the tenant's copy of the dataset unless a queued or running study uses it (409):
    the check and the delete are one statement, after the row's lock (``hold_for_a_study``),
    so that a study stored meanwhile is seen."""
    row = get(dataset_id, tenant=tenant)
    with transaction() as session:
        _locked(session, row.id, tenant)  # PostgreSQL: the statement below sees a study stored
        # by a creation that held the lock (READ COMMITTED: its snapshot is taken after)
        deleted = session.execute(
            sql_delete(DatasetRow).where(
                DatasetRow.tenant == tenant,
                DatasetRow.id == row.id,
                ~exists(select(StudyRow.id).where(*_used_by(row.id, tenant))),
            )
        )
    users = [] if rowcount(deleted) else active_users(row.id, tenant=tenant)
    if users:
        raise DatasetInUse(
            f"dataset {dataset_id!r} is used by queued or running studies: {', '.join(users)}; "
            "cancel them first"
        )


@dataclass(frozen=True)
class StoredArrays:
    task: str
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    groups: list[tuple[int, int]]
    encoder: Encoder
    """What upload did to the file's columns; a saved model carries it for predict."""


def load_arrays(dataset_id: str, *, engine: Engine | None = None) -> StoredArrays:
    """What a worker trains on. The id is a content hash, so every tenant's copy holds the same
    file read with the same options: the newest copy is taken, read as the newest regtune that
    stored one reads it (a copy stored before a reading changed keeps the old one)."""
    with transaction(engine) as session:
        found = session.execute(
            select(DatasetRow.task, DatasetRow.target, DatasetRow.summary, DatasetRow.data)
            .where(DatasetRow.id == dataset_id)
            .order_by(DatasetRow.created_at.desc())
            .limit(1)
        ).first()
    if found is None:
        raise DatasetNotFound(f"no dataset with id {dataset_id!r}")
    task, target, summary, blob = found
    X, y = decode_arrays(blob)
    groups = [(int(a), int(b)) for a, b in summary.get("groups", [])]
    encoder = Encoder.from_upload(
        summary["columns"],
        target=target,
        classes=summary["classes"],
        encoding=summary.get("encoding", UTF8),  # absent in rows stored before it was asked
        decimal=summary.get("decimal", "."),
        missing_values=summary.get("missing_values", ()),  # absent before marks were declared
        # marks came after booleans became text: a dataset without them may hold a Parquet bool
        # as numbers, which its models take at predict as they were trained
        numbers_only="missing_values" in summary,
        target_decimal=summary.get("target_decimal"),  # absent before it was kept
    )
    return StoredArrays(task, X, y, list(summary["feature_names"]), groups, encoder)
