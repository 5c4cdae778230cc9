"""Embedded mode: the API, N workers and optionally the dashboard as child processes.

A child that dies is started again, with a back-off, so one worker killed by a trial (or by
the kernel's OOM killer) costs that worker's trial, never the API or the other workers. Only a
child that cannot even start (it dies within ``QUICK_EXIT_S`` of every start, ``GIVE_UP``
times in a row: a port in use, a bad setting) stops ``serve``.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from regtune.service.database_url import hide_password, require_sqlite_folder
from regtune.service.lifetime import preexec_die_with
from regtune.service.settings import MIN_WORKER_MEMORY_MB, Settings, get_settings
from regtune.service.spec.words import counted
from regtune.service.store.backoff import Backoff
from regtune.service.store.migrate import upgrade
from regtune.service.store.repos.keys import is_loopback
from regtune.service.store.scheduling.retries import hand_back_killed_worker
from regtune.service.store.sqlite_file import OpenedFile

log = logging.getLogger(__name__)
QUICK_EXIT_S = 10.0
"""A child that dies sooner than this after starting has not really started."""
GIVE_UP = 5
"""Quick deaths in a row after which ``serve`` stops instead of restarting the child."""
MIB = 1024 * 1024


def dashboard_bind_refusal(host: str, settings: Settings) -> str | None:
    """Why optuna-dashboard must not listen on ``host``, or None if it may.

    The dashboard has no authentication and can delete studies, so it listens on loopback only,
    whatever keys the API has. ``REGTUNE_DASHBOARD_NETWORK_OK=1`` is for a container whose
    published port is loopback-only (docker compose's ``127.0.0.1:8080:8080``).
    """
    if is_loopback(host) or settings.dashboard_network_ok:
        return None
    return (
        f"refusing to serve optuna-dashboard on {host}: it has no authentication, and anyone "
        "who reaches it can read every tenant's studies and delete them. Bind 127.0.0.1 and "
        "reach it through an SSH tunnel (ssh -L 8080:127.0.0.1:8080 host) or an authenticating "
        "reverse proxy; in a container whose port is published on loopback only, set "
        "REGTUNE_DASHBOARD_NETWORK_OK=1."
    )


def port_taken(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, or None if it can (bound and let go at once,
    with SO_REUSEADDR as uvicorn binds, so a closed connection's TIME_WAIT does not count)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def listening(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host:port`` (a wildcard address through
    loopback)."""
    where = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    try:
        socket.create_connection((where, port), timeout=0.5).close()
    except OSError:
        return False
    return True


def worker_memory_mb(settings: Settings, workers: int) -> int:
    """Each local worker's memory limit: the setting, but no more than its share of the
    machine (three quarters of physical memory split between the workers)."""
    if settings.worker_memory_mb <= 0:
        return 0
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return settings.worker_memory_mb
    share = int(physical * 0.75 / max(1, workers) / MIB)
    return max(MIN_WORKER_MEMORY_MB, min(settings.worker_memory_mb, share))


STOPS = (signal.SIGTERM, signal.SIGINT)
"""The signals that ask a process to stop; it may end of one (returncode -15) or exit with the
shell's status for it (128 + 15 = 143, as regtune's commands do when one stops a wait)."""


def stopped_by(code: int) -> str | None:
    """How a child's end with ``code`` reads if it stopped rather than died: ``exited with
    code 0`` (a worker ends so on SIGTERM, once its trial is handed back), ``stopped by
    SIGTERM``; None for a crash or a kill (SIGKILL, the OOM killer's), which is a death."""
    if code == 0:
        return "exited with code 0"
    for stop in STOPS:
        if code == -stop:
            return f"stopped by {stop.name}"
        if code == 128 + stop:
            return f"stopped by {stop.name} (code {code})"
    return None


@dataclass
class Child:
    """One child process and how to start it again."""

    name: str
    args: list[str]
    env: dict[str, str]
    critical: bool = True
    """Whether failing to start it at all stops ``serve`` (the API, the dashboard)."""
    is_worker: bool = False
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    backoff: Backoff = field(default_factory=lambda: Backoff(1.0, 30.0))
    due: float | None = None
    """When a dead child is to be started again (monotonic seconds)."""

    def start(self) -> None:
        self.popen = subprocess.Popen(
            self.args, env=self.env, preexec_fn=preexec_die_with(os.getpid())
        )
        self.started_at = time.monotonic()
        self.due = None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def died(self, now: float) -> bool:
        """True once, when the child is found dead: its restart is then scheduled."""
        if self.popen is None or self.due is not None or self.popen.poll() is None:
            return False
        code = self.popen.returncode
        quick = now - self.started_at < QUICK_EXIT_S
        self.quick_deaths = self.quick_deaths + 1 if quick else 0
        if not quick:
            self.backoff.reset()
        delay = self.backoff.next()
        self.due = now + delay
        stopped = stopped_by(code)
        if stopped is None:  # a crash, or a kill (the kernel's OOM killer sends SIGKILL)
            how = f"signal {-code}" if code < 0 else f"code {code}"
            log.error(
                "%s (pid %d) died with %s; restarting in %.1fs",
                self.name,
                self.popen.pid,
                how,
                delay,
            )
        else:  # it was told to stop, by someone other than serve (which is not stopping)
            log.warning(
                "%s (pid %d) %s, not asked to by serve; restarting in %.1fs",
                self.name,
                self.popen.pid,
                stopped,
                delay,
            )
        return True

    def stop(self) -> None:
        if self.alive():
            assert self.popen is not None
            self.popen.send_signal(signal.SIGTERM)


def serve(
    *,
    host: str,
    port: int,
    workers: int,
    dashboard: bool,
    dashboard_port: int,
    api_workers: int | None = None,
) -> int:
    """Run until Ctrl-C or SIGTERM, then stop every child (workers hand their trials back).

    A port already taken stops ``serve`` at once, before any worker starts taking work."""
    settings = get_settings()
    dashboard_host = host
    if dashboard and dashboard_bind_refusal(host, settings):
        dashboard_host = "127.0.0.1"
        log.warning("optuna-dashboard listens on 127.0.0.1 only (it has no authentication)")
    if dashboard and dashboard_port == port:  # the dashboard would take the API's port
        print(
            f"regtune serve: --dashboard-port {dashboard_port} is the API's --port too; give "
            "them different ports",
            file=sys.stderr,
            flush=True,
        )
        return 2
    ports = [("the API", host, port)]
    if dashboard:
        ports.append(("optuna-dashboard", dashboard_host, dashboard_port))
    for what, where, number in ports:
        taken = port_taken(where, number)
        if taken:
            print(
                f"regtune serve: cannot listen for {what} on {where}:{number}: {taken} (is "
                "another regtune serve running?); stop it or choose another --port",
                file=sys.stderr,
                flush=True,
            )
            return 2
    require_sqlite_folder(settings.database_url)
    upgrade(settings.database_url)
    opened = OpenedFile.of(settings.database_url)
    me = [sys.executable, "-m", "regtune.service.cli.app"]
    env = os.environ.copy()
    worker_env = {**env, "REGTUNE_WORKER_MEMORY_MB": str(worker_memory_mb(settings, workers))}
    api = [*me, "api", "--host", host, "--port", str(port)]
    api += ["--workers", str(api_workers or os.cpu_count() or 1)]
    children = [Child("api", api, env)]
    children += [
        Child(f"worker {i + 1}", [*me, "worker"], worker_env, critical=False, is_worker=True)
        for i in range(workers)
    ]
    if dashboard:
        args = [*me, "dashboard", "--host", dashboard_host, "--port", str(dashboard_port)]
        children.append(Child("dashboard", args, env))
    for child in children:
        child.start()

    def announce() -> None:
        print(f"regtune API        http://{host}:{port}  (docs: http://{host}:{port}/docs)")
        print(f"workers            {workers} on {hide_password(settings.database_url)}")
        if dashboard:
            print(f"optuna-dashboard   http://{dashboard_host}:{dashboard_port}")
        sys.stdout.flush()

    announced = False
    stopping = False
    told: int | None = None  # the signal that stopped serve, if one did
    orphaned = False  # the SQLite file was deleted or replaced under the running children

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping, told
        stopping, told = True, told or signum

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    code = 0
    while not stopping:
        if not announced and listening(host, port):  # the URLs once they answer, not before
            announce()
            announced = True
        if opened is not None and not orphaned and (gone := opened.gone()) is not None:
            orphaned = True  # no child may start again: it would open another, empty file
            log.error(
                "%s. serve starts no process again and stops when one ends; the running ones "
                "(pids %s) still hold the file they opened: `ls -l /proc/PID/fd` shows it, and "
                "`cp` of that link saves it (with the -wal file beside the path) before they stop",
                gone,
                ", ".join(str(c.popen.pid) for c in children if c.popen and c.alive()),
            )
        now = time.monotonic()
        for child in children:
            if orphaned and child.popen is not None and child.popen.poll() is not None:
                log.error("%s ended after the database file was lost; stopping", child.name)
                stopping, code = True, 1
            elif child.died(now) and child.critical and child.quick_deaths >= GIVE_UP:
                log.error(
                    "%s cannot start (%d quick exits in a row); stopping", child.name, GIVE_UP
                )
                stopping, code = True, 1
            elif child.due is not None and now >= child.due and not stopping:
                child.start()
                log.info("%s restarted (pid %d)", child.name, child.popen.pid if child.popen else 0)
        time.sleep(0.2)
    return _stop_all(children, code, grace=settings.shutdown_grace_s, told=told)


def _stop_all(children: list[Child], code: int, *, grace: float, told: int | None) -> int:
    """SIGTERM every child and give it ``grace`` seconds (``REGTUNE_SHUTDOWN_GRACE_S``) to hand
    its trial back; a worker that is killed after that has its trial handed back here, so a
    shutdown never counts as a worker's death (nor fails a study with ``max_retries: 0``).

    Said once, for them all: which signal ``told`` serve to stop (None: a child that could not
    start stopped it, as said before), then that serve stopped and how long after; each child
    says its own stop, and one killed is a WARNING."""
    started, named = time.monotonic(), _named(children)
    after = ""
    if told is not None:
        after = f" after {signal.Signals(told).name}"
        log.info("serve told to stop by %s: stopping %s", signal.Signals(told).name, named)
    for child in children:
        child.stop()
    deadline = time.monotonic() + grace
    killed: list[str] = []
    for child in children:
        if child.popen is None:
            continue
        try:
            child.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.popen.kill()
            child.popen.wait()
            killed.append(child.name)
            if child.is_worker:
                _hand_back_for(child)
            else:  # the API or the dashboard
                log.warning(
                    "%s did not stop within %.0f s (REGTUNE_SHUTDOWN_GRACE_S): killed, the "
                    "requests it held cut off",
                    child.name,
                    grace,
                )
    ended = f"{named} ended" + (f" ({', '.join(killed)} killed)" if killed else "")
    log.info("serve stopped %.1f s%s: %s", time.monotonic() - started, after, ended)
    return code


def _named(children: list[Child]) -> str:
    """``the API, 2 workers and the dashboard``: serve's children, as its stop lines name them."""
    workers = sum(child.is_worker for child in children)
    names = ["the API", *([counted(workers, "worker")] if workers else [])]
    names += ["the dashboard"] if any(child.name == "dashboard" for child in children) else []
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _hand_back_for(child: Child) -> None:
    assert child.popen is not None
    try:
        released = hand_back_killed_worker(host=socket.gethostname(), pid=child.popen.pid)
    except Exception as exc:
        log.warning("%s: could not hand its trial back (%s); the sweep will", child.name, exc)
        return
    log.warning("%s did not stop in time: killed, %d slot(s) handed back", child.name, released)
