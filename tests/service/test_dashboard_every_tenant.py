"""``regtune dashboard`` (and so ``regtune serve --dashboard``, whose child it is) says in a
WARNING, as it starts, that it shows every tenant's studies without a key when API keys are on:
``REGTUNE_ADMIN_KEY`` set, or a tenant key stored (was: nothing said, while the dashboard
listed, changed and deleted any tenant's study to whoever reached its port). The real command,
serving on a port, as an operator starts it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import httpx
import pytest

from regtune.service.store.migrate import upgrade
from tests.support import Processes, free_port, process_env, regtune, wait_for

ADMIN = "dashboard-admin-key-0123456789abcdef"
SAID = (
    "but optuna-dashboard asks for none: it shows every tenant's studies, and can change and "
    "delete them, to whoever reaches its port, as direct access to the database does; it is an "
    "operator's tool, keep its port to operators"
)


def warnings_of_a_start(processes: Processes, sqlite_url: str, **env: str) -> list[str]:
    """The WARNING lines ``regtune dashboard`` logged by the time it served."""
    port = free_port()
    dashboard = processes.start(
        regtune("dashboard", "--port", str(port)), process_env(sqlite_url, **env), "dash.log"
    )
    wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/api/studies", timeout=2).is_success)
    dashboard.signal(signal.SIGINT)
    assert dashboard.popen.wait(timeout=30) == 0, dashboard.log()
    lines = [json.loads(line) for line in dashboard.log().splitlines() if line.strip()]
    return [line["msg"] for line in lines if line["level"] == "WARNING"]


@pytest.mark.parametrize("keys", ["none", "admin", "tenant"])
def test_the_dashboard_warns_that_it_shows_every_tenant_s_studies_when_keys_are_on(
    processes: Processes, sqlite_url: str, keys: str
) -> None:
    upgrade(sqlite_url)
    env = {"REGTUNE_ADMIN_KEY": ADMIN} if keys == "admin" else {}
    if keys == "tenant":  # stored as the API stores one, in a process of its own
        made = "from regtune.service.store.repos.keys import create_key; create_key('team-a')"
        subprocess.run([sys.executable, "-c", made], env=process_env(sqlite_url), check=True)
    said = warnings_of_a_start(processes, sqlite_url, **env)
    expected = {
        "none": [],  # one tenant: no word
        "admin": [f"API keys are on (REGTUNE_ADMIN_KEY is set), {SAID}"],
        "tenant": [f"API keys are on (tenant keys exist), {SAID}"],
    }[keys]
    assert said == expected, said
