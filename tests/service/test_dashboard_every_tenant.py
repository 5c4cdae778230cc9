"""``regtune dashboard`` (and so ``regtune serve --dashboard``, whose child it is) says in a
WARNING, as it starts, that it shows every tenant's studies without a key when API keys are on:
``REGTUNE_ADMIN_KEY`` set, or a tenant key stored (was: nothing said, while the dashboard
listed, changed and deleted any tenant's study to whoever reached its port)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from regtune.service.cli import dashboard, parts
from regtune.service.cli.app import app
from regtune.service.settings import Settings, use_settings
from regtune.service.store.repos.keys import create_key
from tests.inprocess import copy_database, reset_process_state

ADMIN = "dashboard-admin-key-0123456789abcdef"
SAID = (
    "but optuna-dashboard asks for none: it shows every tenant's studies, and can change and "
    "delete them, to whoever reaches its port, as direct access to the database does; it is an "
    "operator's tool, keep its port to operators"
)
Start = Callable[..., list[str]]


@pytest.fixture
def started(
    tmp_path: Path,
    migrated_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Start]:
    """``started(admin_key=…, tenant_key=…)``: the WARNING lines ``regtune dashboard`` logs as
    it starts, with that admin key, on a database with a tenant key stored or none (the
    dashboard itself is not served)."""
    database = tmp_path / "regtune.db"
    copy_database(migrated_db, database)
    served: list[str] = []
    monkeypatch.setattr(parts, "_setup_logging", lambda: None)  # the test's handlers stay
    monkeypatch.setattr(dashboard, "serve_dashboard", lambda *_, host, **__: served.append(host))

    def start(*, admin_key: str | None, tenant_key: bool) -> list[str]:
        reset_process_state()
        settings = Settings(
            database_url=f"sqlite:///{database}",
            artifact_dir=tmp_path / "artifacts",
            admin_key=admin_key,
        )
        use_settings(settings)
        if tenant_key:
            create_key("team-a")
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="regtune.dashboard"):
            result = CliRunner().invoke(app, ["dashboard"])
        assert result.exit_code == 0, result.output
        assert served.pop() == "127.0.0.1"
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    try:
        yield start
    finally:
        use_settings(None)
        reset_process_state()


def test_the_dashboard_warns_that_it_shows_every_tenant_s_studies_when_keys_are_on(
    started: Start,
) -> None:
    assert started(admin_key=None, tenant_key=False) == []  # keys off: one tenant, no word
    assert started(admin_key=ADMIN, tenant_key=False) == [
        f"API keys are on (REGTUNE_ADMIN_KEY is set), {SAID}"
    ]
    assert started(admin_key=None, tenant_key=True) == [
        f"API keys are on (tenant keys exist), {SAID}"
    ]
