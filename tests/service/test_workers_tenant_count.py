"""``regtune workers`` with a tenant's key says that it lists only the workers at work on the
tenant's studies (was: "0 live workers" while the pool had live workers, idle or at work on
other tenants' studies: a tenant's key lists only its own, ``X-Regtune-Workers: tenant``)."""

from __future__ import annotations

import pytest

from regtune.service.settings import Settings
from regtune.service.store.scheduling import workers
from tests.inprocess import Apps, cli_output

ADMIN = "workers-count-admin-key-0123456789abcdef"


def test_a_tenant_s_workers_listing_says_it_holds_only_its_studies_workers(
    apps: Apps, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = apps(admin_key=ADMIN)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    made = api.post("/v1/keys", json={"tenant": "team-a"}, headers=admin).json()
    for worker_id in ("idle-1", "idle-2"):
        workers.register(worker_id, settings=Settings(heartbeat_interval=1, grace_period=60))

    api.headers["Authorization"] = f"Bearer {made['key']}"
    tenants = cli_output(api, monkeypatch, "workers")
    assert tenants.endswith("0 workers at work on your studies (a tenant's key sees only those)"), (
        tenants
    )
    assert "live" not in tenants

    api.headers["Authorization"] = f"Bearer {ADMIN}"
    pool = cli_output(api, monkeypatch, "workers")
    assert "idle-1" in pool and pool.endswith("2 live workers"), pool
