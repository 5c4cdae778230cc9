"""Run every benchmark, one process each, in the order of the README's Performance section.

    python -m bench.all [--quick] [--out DIR]      (``make bench``)

A benchmark that fails is reported and the others still run; the exit status says whether all
of them succeeded.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time

from bench import harness

BENCHMARKS = (
    "trial_cost",
    "start",
    "imports",
    "overhead",
    "pruning",
    "mlp",
    "folds",
    "quality",
    "stopping",
    "uploads",
    "paths",
    "fused",
    "api_load",
    "pool",
    "wake",
    "report",
)


def main(argv: list[str] | None = None) -> int:
    args = harness.parse_args(__doc__ or "", argv)
    extra = ["--out", str(args.out)] + (["--quick"] if args.quick else [])
    failed: list[str] = []
    started = time.perf_counter()
    for name in BENCHMARKS:
        module = f"bench.{name}"
        if importlib.util.find_spec(module) is None:
            print(f"## {name}: not present, skipped", flush=True)
            continue
        print(f"## {name}", flush=True)
        began = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", module, *extra], cwd=harness.ROOT)
        print(f"({name}: {time.perf_counter() - began:.0f} s, exit {code})\n", flush=True)
        if code != 0:
            failed.append(name)
    print(f"all benchmarks: {time.perf_counter() - started:.0f} s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
