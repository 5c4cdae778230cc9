"""Which active studies train on an uploaded dataset, matched in SQL on the stored definition
(no definition parsed per request), on both backends."""

from __future__ import annotations

from regtune.service.store.db import make_engine, transaction
from regtune.service.store.migrate import upgrade
from regtune.service.store.repos.datasets import active_users
from tests.support import study_row

DATASET = "0123456789abcdef"


def _spec(dataset: dict[str, object]) -> dict[str, object]:
    return {"name": "s", "dataset": dataset, "task": "regression"}


def test_only_the_tenants_active_studies_on_the_dataset_use_it(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    rows = [
        study_row("on-it", 1, "running", spec=_spec({"id": DATASET})),
        study_row("queued", 2, "queued", spec=_spec({"id": DATASET})),
        study_row("done", 3, "completed", spec=_spec({"id": DATASET})),
        study_row("other", 4, "running", spec=_spec({"id": "fedcba9876543210"})),
        study_row("builtin", 5, "running", spec=_spec({"builtin": "diabetes"})),
        study_row("elsewhere", 6, "running", spec=_spec({"id": DATASET}), tenant="b"),
    ]
    with transaction(engine) as session:
        session.add_all(rows)
    try:
        assert sorted(active_users(DATASET, tenant="default", engine=engine)) == ["on-it", "queued"]
        assert active_users(DATASET, tenant="b", engine=engine) == ["elsewhere"]
        assert active_users("ffffffffffffffff", tenant="default", engine=engine) == []
    finally:
        engine.dispose()
