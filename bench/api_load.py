"""The API under load: the highest open-loop rate it sustains, against optuna-dashboard's.

A regtune study with 10,000 (and 100,000) finished trials is created in PostgreSQL beside 40
small ones (``bench.api_seed``: through the domain, then in bulk). For each size, the API runs as
``regtune api --workers K`` for K = 1 and K = the number of CPUs, and a step search finds the
highest open-loop rate (50, 100, 200, 400, 800 … requests/s, then two bisections between the last
rate that passed and the first that failed) at which p99 latency stays under 50 ms with no error.
The mix is what dashboards, ``--watch`` loops and scripts send: ``GET /v1/studies/{id}`` (40 %),
pages of 50 of its trials at random offsets, a quarter filtered by state (40 %), and study lists
(20 %). The same search then runs, on the same database, against the floor
(``bench.floor_app``: FastAPI answering the mix's routes with one indexed PostgreSQL query each,
under uvicorn with the same process counts) and against optuna-dashboard's
``GET /api/studies/{id}`` (as ``regtune dashboard`` serves it), the request its page repeats to
watch a study; the report gives regtune's rate over each. Every search ends with one step at
80 % of the rate it found (the p99 there shows whether latency climbs before saturation), and
after each size's regtune searches the API is restarted and sent the mix at that 80 % rate as
soon as it reports ready: the first ``--restart-seconds`` of a fresh process.

The load generator is one asyncio process (``bench.loadgen``) on the same 2 cores; the CPU it,
the API processes and PostgreSQL used at the sustainable rate are reported beside the rate.
Separately, each endpoint's median latency one request at a time at 1,000, 10,000 and 100,000
trials shows whether cost stays flat as a study grows.

``--quick`` is a smoke run with its own defaults (``QUICK``): one study of 60 trials (5 through
Optuna, 55 copied) beside 3 small ones, one process per server (K = 1), 0.25-s steps from 20
requests/s, at most one halving.
Options given on the command line win over either mode's defaults.

    python -m bench.api_load [--quick] [--step 30] [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench import harness, loadgen
from bench.api_seed import OPTUNA_BATCH, seed_database
from tests.support import wait_for

GOAL_P99_MS = 50.0
MIX: tuple[tuple[str, float], ...] = (("study", 0.4), ("trial_page", 0.4), ("study_list", 0.2))
REFINEMENTS = 2
FULL: dict[str, Any] = {
    "step": 30.0,
    "sizes": "10000,100000",
    "flat_sizes": "1000,10000,100000",
    "first_rate": 50.0,
    "min_rate": 0.5,
    "max_rate": 3200.0,
    "one_at_a_time": 200,
    "small_studies": 40,
    "optuna_batch": OPTUNA_BATCH,
    "restart_seconds": 1.0,
    "processes": os.cpu_count() or 1,
}
"""The defaults, which give README's figures."""
QUICK: dict[str, Any] = {
    **FULL,
    "step": 0.25,
    "sizes": "60",
    "flat_sizes": "60",
    "first_rate": 20.0,
    "min_rate": 10.0,
    "max_rate": 20.0,
    "one_at_a_time": 5,
    "small_studies": 3,
    "optuna_batch": 5,
    "restart_seconds": 0.25,
    "processes": 1,
}
"""``--quick``'s defaults: every path of the script on a tiny budget."""
ENDPOINTS = ("study", "trial_page", "study_list", "trial", "metrics", "healthz")


def regtune_requests(study_id: str, n_trials: int, seed: int = 0) -> Callable[[], tuple[str, str]]:
    rng = random.Random(seed)
    kinds, weights = [k for k, _ in MIX], [w for _, w in MIX]

    def next_request() -> tuple[str, str]:
        kind = rng.choices(kinds, weights)[0]
        return kind, path_of(kind, study_id, n_trials, rng)

    return next_request


def path_of(kind: str, study_id: str, n_trials: int, rng: random.Random) -> str:
    match kind:
        case "study":
            return f"/v1/studies/{study_id}"
        case "trial_page" if rng.random() < 0.25:
            state = rng.choice(["COMPLETE", "PRUNED"])
            offset = rng.randrange(0, max(1, n_trials // 4))
            return f"/v1/studies/{study_id}/trials?state={state}&offset={offset}&limit=50"
        case "trial_page":
            return f"/v1/studies/{study_id}/trials?offset={rng.randrange(0, n_trials)}&limit=50"
        case "study_list":
            return "/v1/studies" + rng.choice(["", "?status=completed", "?status=queued"])
        case "trial":
            return f"/v1/studies/{study_id}/trials/{rng.randrange(0, n_trials)}"
        case "metrics":
            return "/metrics"
        case "healthz":
            return "/healthz"
    raise ValueError(f"unknown request kind {kind!r}")


# ----------------------------------------------------------------------------- CPU accounting

TICK = os.sysconf("SC_CLK_TCK")


def _processes() -> Iterator[tuple[int, int, int]]:
    """(pid, parent pid, CPU ticks) of every process."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            yield int(entry), int(fields[1]), int(fields[11]) + int(fields[12])


def cpu_seconds(roots: list[int]) -> float:
    """CPU time used so far by ``roots`` and all their descendants."""
    table = list(_processes())
    tree, grew = set(roots), True
    while grew:
        before = len(tree)
        tree |= {pid for pid, parent, _ in table if parent in tree}
        grew = len(tree) > before
    return sum(ticks for pid, _, ticks in table if pid in tree) / TICK


def postmaster_pid(server: Any) -> int:
    return int((server.data_dir / "postmaster.pid").read_text().split()[0])


# ----------------------------------------------------------------------------- servers


@contextmanager
def regtune_api(url: str, tmp: Path, processes: int) -> Iterator[tuple[str, int]]:
    with harness.Service(url, tmp) as service:
        service.start_api("--workers", str(processes))
        yield service.url, service.procs[0].pid


@contextmanager
def floor(url: str, tmp: Path, processes: int) -> Iterator[tuple[str, int]]:
    """``bench.floor_app`` under uvicorn with ``processes`` processes, as ``regtune api`` runs."""
    uvicorn = [sys.executable, "-m", "uvicorn", "bench.floor_app:create_app", "--factory"]
    quiet = ["--no-access-log", "--log-level", "warning"]
    with harness.served(
        lambda port: [*uvicorn, "--port", str(port), "--workers", str(processes), *quiet],
        url,
        tmp / "floor",
        probe="/healthz",
        timeout=120,
    ) as served:
        yield served


# ----------------------------------------------------------------------------- the search


def step(
    base: str,
    next_request: Callable[[], tuple[str, str]],
    rate: float,
    seconds: float,
    cpu_roots: list[int],
    probe: str,
) -> dict[str, Any]:
    """One open-loop step at ``rate``; latency, errors and who used the CPU."""
    servers_before = cpu_seconds(cpu_roots)
    run = asyncio.run(loadgen.open_loop(base, next_request, rate=rate, seconds=seconds))
    servers = (cpu_seconds(cpu_roots) - servers_before) / run.wall_seconds
    p99 = run.percentile_ms(0.99)
    row = {
        "rate": rate,
        "requests": len(run.results),
        "p50_ms": run.percentile_ms(0.50),
        "p99_ms": p99,
        "errors": run.errors,
        "passed": p99 < GOAL_P99_MS and run.errors == 0,
        "loadgen_cpu": run.cpu_share,
        "server_cpu": servers,
    }
    print(
        f"    {rate:7.1f} req/s: p50 {row['p50_ms']:8.1f} ms  p99 {p99:8.1f} ms  "
        f"errors {run.errors:5d}  load generator {run.cpu_share:4.0%} of a core  "
        f"servers {servers:4.0%}  {'pass' if row['passed'] else 'FAIL'}",
        flush=True,
    )
    drain(base, probe, settle=min(1.0, seconds / 5))
    return row


def drain(base: str, probe: str, settle: float) -> None:
    """Wait until a server that fell behind has worked off its queue (it answers a probe), then
    let it idle ``settle`` seconds."""
    wait_for(
        lambda: httpx.get(base + probe, timeout=60).status_code < 500,
        timeout=900,
        interval=min(1.0, settle),
        what="the server to catch up",
    )
    time.sleep(settle)


def search(
    base: str,
    next_request: Callable[[], tuple[str, str]],
    *,
    seconds: float,
    cpu_roots: list[int],
    first_rate: float,
    min_rate: float,
    max_rate: float,
    probe: str,
    alone_count: int = 30,
    alone_limit: float = 60.0,
) -> dict[str, Any]:
    """Double from ``first_rate`` requests/s until a step fails (halve while the first ones
    fail, down to ``min_rate``), then bisect twice between the best pass and the first failure.

    First the median of ``alone_count`` requests one at a time: a server whose single request
    already takes longer than the p99 goal passes at no rate, and its capacity is 1000 / that
    median requests/s (one process serving one request at a time). Then a warm-up (discarded).
    """
    steps: list[dict[str, Any]] = []
    try:
        alone: float | None = statistics.median(
            loadgen.one_at_a_time(
                base, lambda: next_request()[1], count=alone_count, warmup=0, timeout=alone_limit
            )
        )
    except TimeoutError:
        alone = None  # not even one request within the limit
    found: dict[str, Any] = {
        "one_at_a_time_ms": alone,
        "one_at_a_time_limit_s": alone_limit,
        "capacity": 1000 / alone if alone else 0.0,
    }
    said = f"median {alone:.1f} ms" if alone else f"no answer within {alone_limit:.0f} s"
    print(f"    one at a time: {said}", flush=True)
    if alone is None or alone >= GOAL_P99_MS:
        return {**found, "sustainable_rate": 0.0, "at_best": None, "steps": steps}
    warm = min(10.0, seconds)  # every process of the server reached, caches built
    asyncio.run(loadgen.open_loop(base, next_request, rate=first_rate / 5, seconds=warm))
    drain(base, probe, settle=min(1.0, seconds / 5))

    def at(rate: float) -> bool:
        steps.append(step(base, next_request, rate, seconds, cpu_roots, probe))
        return bool(steps[-1]["passed"])

    rate = first_rate
    passed: float | None = None
    failed: float | None = None
    if at(rate):
        passed = rate
        while rate * 2 <= max_rate:
            rate *= 2
            if not at(rate):
                failed = rate
                break
            passed = rate
    else:
        failed = rate
        while rate / 2 >= min_rate:
            rate /= 2
            if at(rate):
                passed = rate
                break
            failed = rate
    for _ in range(REFINEMENTS):
        if passed is None or failed is None or failed - passed < 2:
            break
        middle = round((passed + failed) / 2)
        if at(middle):
            passed = middle
        else:
            failed = middle
    best = max((s for s in steps if s["passed"]), key=lambda s: s["rate"], default=None)
    found.update(sustainable_rate=best["rate"] if best else 0.0, at_best=best, steps=steps)
    found["at_80_percent"] = None
    if best is not None:  # the "no cliff before saturation": p99 well under the goal
        print("    at 80 % of it:", flush=True)
        found["at_80_percent"] = step(
            base, next_request, round(0.8 * best["rate"], 1), seconds, cpu_roots, probe
        )
    return found


def sequential(base: str, study_id: str, n_trials: int, count: int) -> dict[str, float]:
    """Median ms per endpoint, one request at a time."""
    rng = random.Random(1)
    medians = {}
    for kind in ENDPOINTS:

        def path(kind: str = kind) -> str:
            return path_of(kind, study_id, n_trials, rng)

        medians[kind] = statistics.median(loadgen.one_at_a_time(base, path, count=count))
    return medians


# ----------------------------------------------------------------------------- the run


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options; those not given take ``FULL``'s or, with ``--quick``, ``QUICK``'s value."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny study, 1 s steps: a smoke run")
    parser.add_argument("--out", type=Path, default=harness.RESULTS)
    harness.add_postgres_argument(parser)
    parser.add_argument("--step", type=float, help="seconds per step (30)")
    parser.add_argument("--sizes", help="study sizes for the search (10000,100000)")
    parser.add_argument("--flat-sizes", help="sizes, one at a time (1000,10000,100000)")
    parser.add_argument("--processes", type=int, help="K (the number of CPUs)")
    parser.add_argument("--first-rate", type=float, help="requests/s of the first step (50)")
    parser.add_argument("--min-rate", type=float, help="lowest rate tried (0.5)")
    parser.add_argument("--max-rate", type=float, help="highest rate tried (3200)")
    parser.add_argument("--one-at-a-time", type=int, help="requests per endpoint (200)")
    parser.add_argument("--small-studies", type=int, help="studies beside the big one (40)")
    parser.add_argument(
        "--restart-seconds", type=float, help="load measured right after a restart (1)"
    )
    parser.add_argument(
        "--optuna-batch", type=int, help="trials seeded through Optuna, before the copy (100)"
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean-up stops the servers
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    search_sizes = [int(n) for n in args.sizes.split(",") if n]
    flat_sizes = [int(n) for n in args.flat_sizes.split(",") if n]
    searches: list[dict[str, Any]] = []
    restarts: list[dict[str, Any]] = []
    flat: dict[int, dict[str, float]] = {}
    rates = {"first_rate": args.first_rate, "min_rate": args.min_rate, "max_rate": args.max_rate}
    with harness.postgres(args.postgres) as server:
        postgres = postmaster_pid(server)
        for n in sorted(set(search_sizes) | set(flat_sizes)):
            print(f"{n} trials:", flush=True)
            url = harness.fresh_database("postgresql", tmp, server, f"api_load_{n}")
            study_id = seed_database(url, n, args.small_studies, args.optuna_batch)
            optuna_id = _optuna_id(url, study_id)
            # K = args.processes last: the one-at-a-time medians reuse its server
            api_processes = sorted({1, args.processes}) if n in search_sizes else [args.processes]
            for processes in api_processes:
                with regtune_api(url, tmp, processes) as (base, pid):
                    if processes == args.processes and n in flat_sizes:
                        flat[n] = sequential(base, study_id, n, args.one_at_a_time)
                        print("  one at a time (median ms): " + _medians(flat[n]), flush=True)
                    if n not in search_sizes:
                        continue
                    print(f"  regtune, {processes} API process(es):", flush=True)
                    requests = regtune_requests(study_id, n)
                    found = search(
                        base,
                        requests,
                        seconds=args.step,
                        cpu_roots=[pid, postgres],
                        probe="/healthz",
                        **rates,
                    )
                searches.append(
                    {"n_trials": n, "target": "regtune", "processes": processes, **found}
                )
            if n not in search_sizes:
                continue
            restarts.append(_restart(url, tmp, study_id, n, searches[-1], args))
            for processes in api_processes:
                print(f"  floor (FastAPI, one query), {processes} process(es):", flush=True)
                with floor(url, tmp, processes) as (base, pid):
                    found = search(
                        base,
                        regtune_requests(study_id, n),
                        seconds=args.step,
                        cpu_roots=[pid, postgres],
                        probe="/healthz",
                        **rates,
                    )
                searches.append({"n_trials": n, "target": "floor", "processes": processes, **found})
            print("  optuna-dashboard:", flush=True)
            with harness.dashboard(url, tmp) as (base, pid):

                def study_detail(optuna_id: int = optuna_id) -> tuple[str, str]:
                    return "dashboard_study", f"/api/studies/{optuna_id}"

                found = search(
                    base,
                    study_detail,
                    seconds=args.step,
                    cpu_roots=[pid, postgres],
                    probe="/api/meta",
                    alone_count=5,
                    alone_limit=300.0,
                    **rates,
                )
            searches.append({"n_trials": n, "target": "optuna-dashboard", "processes": 1, **found})
    return {
        "quick": args.quick,
        "setup": {
            "step_seconds": args.step,
            "goal_p99_ms": GOAL_P99_MS,
            "mix": dict(MIX),
            "small_studies": args.small_studies,
            "optuna_batch": args.optuna_batch,
            "processes": args.processes,
            **rates,
        },
        "searches": searches,
        "ratios": _ratios(searches, args.processes),
        "floor_ratios": _floor_ratios(searches),
        "restarts": restarts,
        "one_at_a_time_median_ms": flat,
    }


def _restart(
    url: str, tmp: Path, study_id: str, n: int, found: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    """The first ``restart_seconds`` of load on a freshly started API: the mix at 80 % of the
    rate ``found`` sustained (``first_rate`` if none), sent as soon as it reports ready."""
    rate = round(0.8 * found["sustainable_rate"], 1) or args.first_rate
    processes = found["processes"]
    print(f"  regtune restarted, {processes} process(es), first {args.restart_seconds:g} s:")
    started = time.perf_counter()
    with regtune_api(url, tmp, processes) as (base, _):
        ready = time.perf_counter() - started
        run = asyncio.run(
            loadgen.open_loop(
                base, regtune_requests(study_id, n, seed=7), rate=rate, seconds=args.restart_seconds
            )
        )
    row = {
        "n_trials": n,
        "processes": processes,
        "ready_seconds": ready,
        "rate": rate,
        "requests": len(run.results),
        "p50_ms": run.percentile_ms(0.50),
        "p99_ms": run.percentile_ms(0.99),
        "errors": run.errors,
    }
    print(
        f"    ready after {ready:.1f} s; at {rate:g} req/s: p50 {row['p50_ms']:.1f} ms  "
        f"p99 {row['p99_ms']:.1f} ms  errors {run.errors}",
        flush=True,
    )
    return row


def _floor_ratios(searches: list[dict[str, Any]]) -> dict[int, float | None]:
    """Per size, regtune's best sustainable rate (over process counts) over the floor's."""
    out: dict[int, float | None] = {}
    for n in sorted({s["n_trials"] for s in searches}):

        def best(target: str, n: int = n) -> float:
            rates = [
                s["sustainable_rate"]
                for s in searches
                if s["n_trials"] == n and s["target"] == target
            ]
            return max(rates, default=0.0)

        out[n] = best("regtune") / best("floor") if best("floor") else None
    return out


def _optuna_id(url: str, study_id: str) -> int:
    from regtune.service.store.repos.studies import get_row

    harness.use_database(url)
    return int(get_row(study_id).optuna_study_id or -1)


def _medians(medians: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in medians.items())


def _ratios(searches: list[dict[str, Any]], processes: int) -> dict[int, float | None]:
    out: dict[int, float | None] = {}
    for n in sorted({s["n_trials"] for s in searches}):
        ours = [
            s["sustainable_rate"]
            for s in searches
            if s["n_trials"] == n and s["target"] == "regtune" and s["processes"] == processes
        ]
        theirs = [
            s["sustainable_rate"] or s["capacity"] or None
            for s in searches
            if s["n_trials"] == n and s["target"] == "optuna-dashboard"
        ]
        out[n] = ours[0] / theirs[0] if ours and theirs and theirs[0] else None
    return out


def report(payload: dict[str, Any]) -> str:
    headers = [
        "trials",
        "server",
        "processes",
        "sustainable req/s",
        "one request alone, ms",
        "p50 ms",
        "p99 ms",
        "p99 ms at 80 %",
        "load generator CPU",
        "servers' CPU",
    ]
    rows = []
    for s in payload["searches"]:
        best = s["at_best"] or {}
        rows.append(
            [
                s["n_trials"],
                s["target"],
                s["processes"],
                s["sustainable_rate"],
                s["one_at_a_time_ms"],
                best.get("p50_ms"),
                best.get("p99_ms"),
                (s.get("at_80_percent") or {}).get("p99_ms"),
                f"{best['loadgen_cpu']:.0%}" if best else "",
                f"{best['server_cpu']:.0%}" if best else "",
            ]
        )
    text = harness.table(headers, rows)
    text += "\n\n" + "\n".join(
        f"- {n} trials: regtune sustains {r:.2f}x the floor's rate (best process count of each)"
        if r is not None
        else f"- {n} trials: no floor ratio"
        for n, r in payload["floor_ratios"].items()
    )
    ratios = payload["ratios"]
    text += "\n\n" + "\n".join(
        f"- {n} trials: regtune ({payload['setup']['processes']} processes) sustains {r:.0f}x "
        "the rate optuna-dashboard does"
        + (
            " (the dashboard meets the p99 goal at no rate: compared with its capacity, "
            "1000 / its one-request time)"
            if any(
                s["target"] == "optuna-dashboard" and s["n_trials"] == n and not s["at_best"]
                for s in payload["searches"]
            )
            else ""
        )
        if r
        else f"- {n} trials: no ratio"
        for n, r in ratios.items()
    )
    if payload["restarts"]:
        keys = ("n_trials", "processes", "ready_seconds", "rate", "p50_ms", "p99_ms", "errors")
        text += "\n\n" + harness.table(
            ["trials", "API processes", "ready after s", "req/s", "p50 ms", "p99 ms", "errors"],
            [[r[k] for k in keys] for r in payload["restarts"]],
        )
    flat = payload["one_at_a_time_median_ms"]
    if flat:
        sizes = sorted(flat)
        text += "\n\n" + harness.table(
            ["endpoint (median ms, one at a time)", *(f"{n} trials" for n in sizes)],
            [[kind, *(flat[n][kind] for n in sizes)] for kind in ENDPOINTS],
        )
    return text


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with harness.scratch("api-load") as tmp:
        payload = run(args, tmp)
    harness.publish(args.out, "api_load", payload, report(payload))


if __name__ == "__main__":
    main()
