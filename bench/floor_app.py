"""The floor ``bench.api_load`` compares regtune with: FastAPI answering one PostgreSQL query.

The same routes as the bench's mix (a study, a page of its trials, the study list), each one
indexed ``SELECT`` of the study's row through a pooled SQLAlchemy engine on the same driver,
returned as FastAPI returns a dict. No authentication, no logging, no metrics, no trial reads:
what any FastAPI service on this machine pays to answer a request that touches the database.

    uvicorn bench.floor_app:create_app --factory --workers K   (REGTUNE_DATABASE_URL set)
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from sqlalchemy import create_engine, text

QUERY = text("SELECT id, name, status, n_trials, n_done FROM regtune_studies WHERE id = :id")
ANY_STUDY = text("SELECT id FROM regtune_studies ORDER BY created_at LIMIT 1")


def create_app() -> FastAPI:
    engine = create_engine(os.environ["REGTUNE_DATABASE_URL"], pool_size=4, max_overflow=0)
    with engine.connect() as connection:
        first = connection.execute(ANY_STUDY).scalar()
    app = FastAPI()

    def one_row(study_id: str) -> dict[str, Any]:
        with engine.connect() as connection:
            row = connection.execute(QUERY, {"id": study_id}).mappings().first()
        return dict(row) if row else {}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/studies")
    def studies(status: str | None = None) -> dict[str, Any]:
        return {"items": [one_row(str(first))], "status": status}

    @app.get("/v1/studies/{study_id}")
    def study(study_id: str) -> dict[str, Any]:
        return one_row(study_id)

    @app.get("/v1/studies/{study_id}/trials")
    def trials(
        study_id: str, state: str | None = None, offset: int = 0, limit: int = 50
    ) -> dict[str, Any]:
        return {"study": one_row(study_id), "state": state, "offset": offset, "limit": limit}

    return app
