"""Ctrl-C in ``regtune submit --watch`` or ``regtune watch`` stops the watching, not the study:
the command says that the study keeps running and how to follow it again or cancel it, and
exits 130 (it ended silently, leaving the user to guess whether the study was cancelled).
Ctrl-C in ``regtune submit`` before the service answered says that the study may or may not
exist and which listing shows it, and exits 130 too (it ended without a word)."""

from __future__ import annotations

import json
import os
import signal
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


def test_ctrl_c_before_the_service_answered_says_the_study_may_exist(
    processes: Processes, tmp_path: Path
) -> None:
    stack = processes.stack(f"sqlite:///{tmp_path / 'regtune.db'}").start_api()
    assert stack.api is not None
    definition = tmp_path / "queued.yaml"
    definition.write_text(yaml.safe_dump(QUEUED))
    env = {**stack.env, "REGTUNE_URL": stack.url}
    stack.api.signal(signal.SIGSTOP)  # a service that takes the connection but does not answer
    try:
        submit = processes.start(
            regtune("submit", str(definition)), env, "submit.log", session=True
        )
        wait_for(lambda: waiting_connections(stack.port) > 0, timeout=120, what="the request")
        os.killpg(submit.pid, signal.SIGINT)
        code, output = submit.popen.wait(timeout=60), submit.log()
    finally:
        stack.api.signal(signal.SIGCONT)
    assert code == 130, output
    assert "Traceback" not in output and "Aborted" not in output
    assert (
        "submission interrupted: the service had not answered, so study 'watched-then-left' "
        "may or may not exist; regtune ls --name watched-then-left lists it if it was created"
    ) in " ".join(output.split())

    listed = processes.run(regtune("ls", "--name", "watched-then-left", "--json"), env=env)
    assert listed.returncode == 0, listed.stderr
    named = httpx.get(f"{stack.url}/v1/studies", timeout=30).json()["items"]
    assert json.loads(listed.stdout)["items"] == [
        s for s in named if s["name"] == "watched-then-left"
    ]
