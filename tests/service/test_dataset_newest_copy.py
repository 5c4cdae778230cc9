"""A worker trains on the newest copy of a dataset id: each tenant stores its own copy of the
same upload (the id is a hash of the file and its options), and a copy stored before a reading
changed (a semicolon file's decimal marks, a target's mark) keeps the old one. The copy taken was
whichever the database returned first (``LIMIT 1`` without an order): an older tenant's, read the
old way, beside one stored after the upgrade."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from regtune.service.store.db import transaction
from regtune.service.store.repos.datasets import load_arrays
from regtune.service.store.tables import DatasetRow
from tests.service.uploads import upload

CSV = b"x;z;y\n" + b"79.890;-0.721;7.268\n12.500;0.300;1.550\n50.250;1.100;6.125\n" * 10


def test_the_newest_copy_of_an_id_is_the_one_trained_on(api: TestClient) -> None:
    stored = upload(api, CSV, filename="prices.csv")
    assert "id" in stored, stored
    dataset_id = str(stored["id"])
    with transaction() as session:  # the first tenant's copy, as an older regtune stored it
        row = session.scalars(select(DatasetRow).where(DatasetRow.id == dataset_id)).one()
        copied = {column.key: getattr(row, column.key) for column in DatasetRow.__table__.columns}
        old = dict(row.summary) | {"feature_names": ["x (read the old way)", "z"]}
        session.execute(
            update(DatasetRow)
            .where(DatasetRow.id == dataset_id)
            .values(summary=old, created_at=copied["created_at"] - timedelta(days=30))
            .execution_options(synchronize_session=False)
        )
        # the same upload by a tenant that sorts after the first, stored after the upgrade
        session.add(DatasetRow(**copied | {"tenant": "zz-stored-after"}))
    assert load_arrays(dataset_id).feature_names == ["x", "z"]
