"""The API in this process on a SQLite file (FastAPI's ``TestClient``, no lifespan, so no
sweeper thread): the process's cached settings, engine and storage point at the file for the
test and are cleared after it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.settings import get_settings
from service.store.db import get_engine
from service.store.migrate import upgrade
from service.store.scheduling.retries import get_storage


def _clear() -> None:
    for cached in (get_settings, get_engine, get_storage):
        cached.cache_clear()


def api_client(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, migrate: bool = True, **env: str
) -> Iterator[TestClient]:
    monkeypatch.setenv("REGTUNE_DATABASE_URL", url)
    monkeypatch.setenv("REGTUNE_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _clear()
    if migrate:
        upgrade(url)
    try:
        yield TestClient(create_app(), raise_server_exceptions=False)
    finally:
        get_engine().dispose()
        _clear()
