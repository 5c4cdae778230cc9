"""Ctrl-C in ``regtune submit --watch`` or ``regtune watch`` stops the watching, not the study:
the command says that the study keeps running and how to follow it again or cancel it, and
exits 130 (it ended silently, leaving the user to guess whether the study was cancelled).
Ctrl-C in ``regtune submit`` before the service answered says that the study may or may not
exist and which listing shows it, and exits 130 too (it ended without a word)."""

from __future__ import annotations

import json
import os
import signal
from functools import partial
from pathlib import Path

import httpx
import yaml

from tests.support import Proc, Processes, regtune, wait_for

QUEUED = {  # no worker runs: the study stays queued for as long as the test watches it
    "name": "watched-then-left",
    "dataset": {"builtin": "diabetes"},
    "model": {"kind": "linear"},
    "search_space": {"lambda": {"low": 1e-4, "high": 1.0, "log": True}},
    "budget": {"n_trials": 2},
}


def interrupted(proc: Proc, *, after: str) -> str:
    """Ctrl-C (SIGINT to the command's process group, as a terminal sends it) once its output
    shows ``after``; it exits 130, with no traceback nor click's "Aborted!" → its output, each
    run of white space one space."""
    wait_for(lambda: after in proc.log(), timeout=120, what=after)
    os.killpg(proc.pid, signal.SIGINT)
    code, output = proc.popen.wait(timeout=60), proc.log()
    assert code == 130, output
    assert "Traceback" not in output and "Aborted" not in output
    return " ".join(output.split())


def test_ctrl_c_stops_watching_and_says_the_study_goes_on(
    processes: Processes, tmp_path: Path
) -> None:
    stack = processes.stack(f"sqlite:///{tmp_path / 'regtune.db'}").start_api()
    definition = tmp_path / "queued.yaml"
    definition.write_text(yaml.safe_dump(QUEUED))
    env = {**stack.env, "REGTUNE_URL": stack.url}
    submit = processes.start(
        regtune("submit", str(definition), "--watch"), env, "submit.log", session=True
    )
    said = interrupted(submit, after="· queued ·")
    study_id = stack.client().get("/v1/studies").json()["items"][0]["id"]
    assert (
        f"stopped watching: study {study_id} (watched-then-left) keeps running on the server; "
        f"regtune watch {study_id} follows it again, regtune cancel {study_id} stops it"
    ) in said
    assert stack.study(study_id)["status"] == "queued"  # not cancelled

    again = processes.start(regtune("watch", study_id), env, "watch.log", session=True)
    assert f"regtune cancel {study_id} stops it" in interrupted(again, after="· queued ·")
    assert stack.study(study_id)["status"] == "queued"


def test_ctrl_c_stops_rewriting_the_report_and_says_the_study_goes_on(
    processes: Processes, tmp_path: Path
) -> None:
    stack = processes.stack(f"sqlite:///{tmp_path / 'regtune.db'}").start_api()
    study_id = stack.client().post("/v1/studies", json=QUEUED).json()["id"]
    page = tmp_path / "page.html"
    env = {**stack.env, "REGTUNE_URL": stack.url}
    report = processes.start(
        regtune("report", study_id, "-o", str(page), "--watch", "--poll", "0.5"),
        env,
        "report.log",
        session=True,
    )
    said = interrupted(report, after="wrote")
    assert (
        f"stopped rewriting: {page} shows study {study_id} as of its last rewrite; the study "
        f"keeps running on the server; regtune report {study_id} --watch rewrites it again"
    ) in said
    assert page.read_text(encoding="utf-8").rstrip().endswith("</html>")
    assert not page.with_name(page.name + ".part").exists()
    assert stack.study(study_id)["status"] == "queued"


def waiting_connections(port: int) -> int:
    """Connections to ``127.0.0.1:port`` that the listening process has not accepted yet (the
    accept queue, which ``/proc/net/tcp`` shows as a listening socket's receive queue)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, queues = fields[1], fields[3], fields[4]
        if state == "0A" and int(local.split(":")[1], 16) == port:  # 0A: LISTEN
            return int(queues.split(":")[1], 16)
    return 0


def held_requests(port: int, at_least: int) -> bool:
    return waiting_connections(port) >= at_least


ADMIN = "interrupted-admin-key-0123456789abcdef"
UNKNOWN = "0123456789abcdef"  # a study, dataset or key id: the request never reaches a lookup


def test_ctrl_c_before_the_service_answered_says_what_may_have_happened(
    processes: Processes, tmp_path: Path
) -> None:
    """Each command that changes something, stopped while the service holds its request (a
    real API stopped with SIGSTOP: it takes the connection and does not answer)."""
    stack = processes.stack(f"sqlite:///{tmp_path / 'regtune.db'}", REGTUNE_ADMIN_KEY=ADMIN)
    stack.start_api()
    assert stack.api is not None
    definition = tmp_path / "queued.yaml"
    definition.write_text(yaml.safe_dump(QUEUED))
    rows = tmp_path / "rows.csv"
    rows.write_text("x,y\n" + "".join(f"{i},{2 * i}\n" for i in range(30)))
    said = {
        ("submit", str(definition)): "study 'watched-then-left' may or may not exist; regtune "
        "ls --name watched-then-left lists it if it was created",
        ("cancel", UNKNOWN): f"study {UNKNOWN} may or may not be cancelled; regtune show "
        f"{UNKNOWN} says its status",
        ("extend", UNKNOWN, "--trials", "1"): f"study {UNKNOWN} may or may not be extended; "
        f"regtune show {UNKNOWN} says its budget (regtune extend {UNKNOWN} --to N can be "
        "repeated safely)",
        ("extend", UNKNOWN, "--to", "9"): f"study {UNKNOWN} may or may not be extended; "
        f"regtune show {UNKNOWN} says its budget (run this again: --to changes nothing the "
        "second time)",
        ("rm", UNKNOWN): f"study {UNKNOWN} may or may not be deleted; regtune show {UNKNOWN} "
        "answers 404 once it is",
        ("datasets", "upload", str(rows), "--target", "y"): "the dataset of rows.csv may or "
        "may not be stored; regtune datasets ls lists it if it is",
        ("datasets", "rm", UNKNOWN): f"dataset {UNKNOWN} may or may not be deleted",
        ("keys", "create", "team-a"): "a key for tenant 'team-a' may or may not have been "
        "created, its secret never shown; regtune keys ls --tenant team-a lists it if it was",
        ("keys", "revoke", UNKNOWN): f"key {UNKNOWN} may or may not be revoked",
    }
    env = {**stack.env, "REGTUNE_URL": stack.url, "REGTUNE_KEY": ADMIN}
    stack.api.signal(signal.SIGSTOP)  # a service that takes connections but does not answer
    try:
        for held, (args, words) in enumerate(said.items(), start=1):
            command = processes.start(regtune(*args), env, f"{held}.log", session=True)
            wait_for(
                partial(held_requests, stack.port, held),
                timeout=120,
                what=f"regtune {args[0]}'s request",
            )
            os.killpg(command.pid, signal.SIGINT)
            code, output = command.popen.wait(timeout=60), command.log()
            assert code == 130, output
            assert "Traceback" not in output and "Aborted" not in output
            assert f"interrupted: the service had not answered, so {words}" in " ".join(
                output.split()
            ), args
    finally:
        stack.api.signal(signal.SIGCONT)

    listed = processes.run(regtune("ls", "--name", "watched-then-left", "--json"), env=env)
    assert listed.returncode == 0, listed.stderr
    headers = {"Authorization": f"Bearer {ADMIN}"}
    every = httpx.get(f"{stack.url}/v1/studies", headers=headers, timeout=30).json()["items"]
    assert json.loads(listed.stdout)["items"] == [
        s for s in every if s["name"] == "watched-then-left"
    ]
