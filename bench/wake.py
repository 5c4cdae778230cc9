"""How soon idle workers start a study submitted to them: submit → first trial started.

An idle worker backs off between claims (``REGTUNE_POLL_MIN`` 0.2 s doubling up to
``REGTUNE_POLL_MAX`` 5 s, ±25 % jitter), so a study submitted to a pool that has been idle a while
waits until one of its workers next looks, up to 5 s, unless something ends the wait early
(``regtune.service.store.scheduling.wake``). Three configurations, each one API process and 2
real ``regtune worker`` processes on a fresh database, at the default back-off:

- ``sqlite``: a waiting worker reads the file's ``PRAGMA data_version`` and claims as soon as
  another connection committed (always on);
- ``postgresql listen``: an idle worker ``LISTEN``s on ``regtune_work``, which a trigger notifies
  when a study becomes claimable (``REGTUNE_LISTEN_FOR_WORK=true``, the default);
- ``postgresql poll``: the baseline, ``REGTUNE_LISTEN_FOR_WORK=false``: the back-off is waited out.

Trials are ``bench.sleep_objective`` with 0.05 s of sleep, so neither data loading nor training is
measured. The configurations run interleaved round by round (the three services are up the whole
run, only the one measured has work; the order rotates each round). A round of a configuration:
a wake-up study of 2 trials makes the workers claim, which resets their back-off; once it has
ended, its best model is saved and the workers' CPU is quiet (``Configuration.quiet``: a worker's
first refit leaves a second or two of garbage collection behind), the workers sit idle for the
round's idle time, drawn from 6–12 s by a seeded generator and the same for every configuration
(a worker that has just claimed waits 3.2 s by then, the 5-s cap from 6.2 s on, ±25 %; one that
claimed nothing is at its cap already); then a study of 2 trials, at most 2 at a time, is
submitted over HTTP. A warm-up study first makes each worker import what a claim needs.

The latency is the measured study's earliest trial ``datetime_start`` (Optuna's, written by the
worker in local time, which the API's trial listing gives with its UTC offset) minus the
wall-clock time just before the POST was sent (this process: same machine, same clock). It
includes the POST itself, whose median the table gives too (a worker may start the trial before
the API's answer is back). The CPU seconds of the workers over the idle periods are read from
/proc: what waiting costs (reading SQLite's data version every 20 ms, or blocking on the
PostgreSQL connection, or sleeping).

The table gives the median and the largest latency per configuration and each median over the
``postgresql listen`` one; the JSON has every round. ``--repeats`` sets the rounds (8). ``--quick``
is a smoke run: every configuration, 1 round, an idle time of 1–2 s (the back-off below its cap).

    python -m bench.wake [--quick] [--repeats R]
"""

from __future__ import annotations

import random
import statistics
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench import harness
from bench.harness import FRESH, cpu_seconds
from bench.pool import definition, wait_registered
from regtune.service.settings import Settings
from regtune.service.spec.enums import FINAL
from tests.pg import PostgresServer
from tests.support import wait_for

CONFIGURATIONS: dict[str, tuple[str, bool]] = {
    "sqlite": ("sqlite", True),
    "postgresql listen": ("postgresql", True),
    "postgresql poll": ("postgresql", False),
}
"""Name → (backend, ``REGTUNE_LISTEN_FOR_WORK``); SQLite's wake is always on."""
LISTEN, BASELINE = "postgresql listen", "postgresql poll"
WORKERS = 2
TRIALS = 2
"""Trials of a measured study, all of them at once (max_parallel)."""
WARMUP_TRIALS = 8
SLEEP_SECONDS = 0.05
ROUNDS = 8
IDLE_SECONDS = (6.0, 12.0)
QUICK_ROUNDS = 1
QUICK_IDLE_SECONDS = (1.0, 2.0)
SEED = 0
SETTLE_TIMEOUT = 300.0
QUIET_WINDOW = 0.3
QUIET_CPU_SECONDS = 0.05
"""The workers are quiet when together they used at most this much CPU over ``QUIET_WINDOW``
seconds (waiting costs them a few ms a second; a garbage collection, a whole core)."""
LISTENER_WARNINGS = ("lost the connection it listened on", "cannot listen for work")
"""What ``scheduling.wake`` logs when a worker cannot listen or lost its listening connection."""


def study(name: str, n_trials: int) -> dict[str, Any]:
    return {**definition(n_trials, WORKERS), "name": name}


class Configuration:
    """One configuration's service, its HTTP client and what its rounds measured."""

    def __init__(
        self, name: str, server: PostgresServer | None, tmp: Path, stack: ExitStack
    ) -> None:
        kind, listen = CONFIGURATIONS[name]
        self.name = name
        url = harness.fresh_database(
            kind, tmp, server if kind == "postgresql" else None, name.replace(" ", "_")
        )
        defaults = Settings.model_fields
        env = {
            "REGTUNE_OBJECTIVE_FACTORY": "bench.sleep_objective:make_objective",
            "REGTUNE_SLEEP_TRIAL_SECONDS": str(SLEEP_SECONDS),
            "REGTUNE_POLL_MIN": str(defaults["poll_min"].default),
            "REGTUNE_POLL_MAX": str(defaults["poll_max"].default),
            "REGTUNE_LISTEN_FOR_WORK": "true" if listen else "false",
            "REGTUNE_LOG_LEVEL": "WARNING",
        }
        self.service = stack.enter_context(harness.Service(url, tmp, **env))
        self.service.launch_api("--workers", "1")  # ready and given workers by ``start``
        self.client = stack.enter_context(httpx.Client(base_url=self.service.url, timeout=60))
        self.rounds: list[dict[str, Any]] = []

    def start(self) -> None:
        """Once its API is ready, its workers."""
        self.service.wait_ready().start_workers(WORKERS)

    def worker_cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.service.procs[1:])

    def submit(self, name: str, n_trials: int) -> tuple[str, float, float]:
        """POST the study: (its id, the wall-clock time just before, seconds the POST took)."""
        body = study(name, n_trials)
        sent, began = time.time(), time.perf_counter()
        response = self.client.post("/v1/studies", json=body)
        took = time.perf_counter() - began
        response.raise_for_status()
        return str(response.json()["id"]), sent, took

    def settled(self, study_id: str) -> dict[str, Any]:
        """The study once it has ended and its best model is saved (the API holds the answer
        until then, ``?wait=``): after that the workers have nothing left to do."""

        def ended() -> dict[str, Any] | None:
            found = self.client.get(
                f"/v1/studies/{study_id}", params={"wait": 30}, headers=FRESH
            ).json()
            failed = found["status"] in FINAL and found["status"] != "completed"
            return dict(found) if failed or found["best_model"] is not None else None

        found = wait_for(ended, timeout=SETTLE_TIMEOUT, interval=0, what=f"{study_id} settled")
        if found["status"] != "completed":
            raise RuntimeError(f"{self.name}: study {study_id} {found['status']}: {found['error']}")
        return found

    def first_start(self, study_id: str) -> float:
        """The earliest ``datetime_start`` of the study's trials, as a POSIX timestamp."""
        page = self.client.get(
            f"/v1/studies/{study_id}/trials", params={"limit": 50}, headers=FRESH
        ).json()
        starts = [t["datetime_start"] for t in page["items"] if t["datetime_start"]]
        # an offset in the string gives an aware datetime; a naive one is local time: either way
        # .timestamp() is on the clock time.time() reads
        return min(datetime.fromisoformat(s).timestamp() for s in starts)

    def quiet(self) -> float:
        """Wait until the workers used almost no CPU for ``QUIET_WINDOW`` seconds; return how
        long that took. A worker's claim may leave work behind after the study settled: after
        its first refit, the modules it imported are frozen into its heap (``service.heap``), a
        full garbage collection of a second or two, once per worker."""
        began = time.monotonic()

        def calm() -> bool:
            before = self.worker_cpu()
            time.sleep(QUIET_WINDOW)
            return self.worker_cpu() - before <= QUIET_CPU_SECONDS

        wait_for(calm, timeout=SETTLE_TIMEOUT, interval=0, what=f"{self.name}'s workers quiet")
        return time.monotonic() - began - QUIET_WINDOW

    def measure(self, number: int, idle: float) -> dict[str, Any]:
        """Wake the workers, let them idle ``idle`` seconds, submit, wait for the end."""
        wake_id, _, _ = self.submit(f"wake-up-{number}", TRIALS)
        self.settled(wake_id)
        quiet_s = self.quiet()
        idle_from, cpu_from = time.monotonic(), self.worker_cpu()
        time.sleep(idle)
        idle_cpu = self.worker_cpu() - cpu_from
        idled = time.monotonic() - idle_from
        study_id, sent, post_s = self.submit(f"measured-{number}", TRIALS)
        self.settled(study_id)
        run = {
            "round": number,
            "idle_s": idled,
            "quiet_wait_s": quiet_s,
            "latency_s": self.first_start(study_id) - sent,
            "post_s": post_s,
            "idle_worker_cpu_s": idle_cpu,
        }
        self.rounds.append(run)
        return run

    def listener_warnings(self) -> list[str]:
        lines = self.service.logs().splitlines()
        return [line for line in lines if any(w in line for w in LISTENER_WARNINGS)]

    def summary(self) -> dict[str, Any]:
        latencies = [r["latency_s"] for r in self.rounds]
        idle = sum(r["idle_s"] for r in self.rounds)
        kind, listen = CONFIGURATIONS[self.name]
        return {
            "configuration": self.name,
            "backend": kind,
            "listen_for_work": listen,
            "median_s": statistics.median(latencies),
            "max_s": max(latencies),
            "min_s": min(latencies),
            "rounds": len(latencies),
            "median_post_s": statistics.median(r["post_s"] for r in self.rounds),
            "idle_worker_cpu_ms_per_s": sum(r["idle_worker_cpu_s"] for r in self.rounds)
            * 1000
            / (idle * WORKERS),
            "listener_warnings": self.listener_warnings(),
            "runs": self.rounds,
        }


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(__doc__ or "", argv)
    rounds = args.repeats or (QUICK_ROUNDS if args.quick else ROUNDS)
    low, high = QUICK_IDLE_SECONDS if args.quick else IDLE_SECONDS
    rng = random.Random(SEED)
    idle_times = [rng.uniform(low, high) for _ in range(rounds)]

    with ExitStack() as stack:
        tmp = stack.enter_context(harness.scratch("wake"))
        server = stack.enter_context(harness.postgres(args.postgres))
        # the services start and warm up side by side: nothing is measured before the rounds
        configurations = [Configuration(name, server, tmp, stack) for name in CONFIGURATIONS]
        for configuration in configurations:
            configuration.start()
        warmups: list[str] = []
        for configuration in configurations:
            wait_registered(configuration.service, WORKERS)
            # each worker's first claim imports what a claim needs, the first refit torch
            warmups.append(configuration.submit("warm-up", WARMUP_TRIALS)[0])
        for configuration, warmup in zip(configurations, warmups, strict=True):
            configuration.settled(warmup)
        for number, idle in enumerate(idle_times):
            shift = number % len(configurations)
            for configuration in configurations[shift:] + configurations[:shift]:
                run = configuration.measure(number, idle)
                print(
                    f"round {number} {configuration.name:18} idle {idle:5.2f} s: "
                    f"{run['latency_s']:.3f} s",
                    flush=True,
                )
        summaries = [c.summary() for c in configurations]

    by_name = {s["configuration"]: s for s in summaries}
    listen_median = by_name[LISTEN]["median_s"]
    for s in summaries:
        s["median_vs_listen"] = s["median_s"] / listen_median
    ratio = by_name[BASELINE]["median_vs_listen"]
    markdown = harness.table(
        [
            "configuration",
            "median latency (s)",
            "max latency (s)",
            "rounds",
            f"median ÷ {LISTEN}",
            "median POST (s)",
            "idle worker CPU (ms/s)",
        ],
        [
            [
                s["configuration"],
                s["median_s"],
                s["max_s"],
                s["rounds"],
                s["median_vs_listen"],
                s["median_post_s"],
                s["idle_worker_cpu_ms_per_s"],
            ]
            for s in summaries
        ],
    )
    defaults = Settings.model_fields
    markdown += (
        f"\n\nSubmit → first trial started, to {WORKERS} workers idle {low:g}–{high:g} s "
        f"(back-off {defaults['poll_min'].default:g} s doubling to "
        f"{defaults['poll_max'].default:g} s). The baseline ({BASELINE}: the back-off waited "
        f"out) over {LISTEN}: {ratio:.3g}× the median."
    )
    harness.publish(
        args.out,
        "wake",
        {
            "quick": args.quick,
            "rounds": rounds,
            "idle_seconds": idle_times,
            "sleep_seconds": SLEEP_SECONDS,
            "workers": WORKERS,
            "trials": TRIALS,
            "order": "interleaved round by round, rotated",
            "baseline_over_listen": ratio,
            "configurations": summaries,
        },
        markdown,
    )


if __name__ == "__main__":
    main()
