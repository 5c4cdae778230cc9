"""``bench.solver --quick`` runs end to end and writes what its table shows."""

from __future__ import annotations

from tests.bench.quick import Bench


def test_solver_bench_smoke(bench: Bench) -> None:
    _, result = bench("solver")
    methods = {row["method"] for row in result["rows"]}
    assert {"cold", "warm", "study exact", "scikit-learn CV"} <= methods
    for row in result["rows"]:
        assert row["wall_s"] > 0
        if row["method"] in {"cold", "warm"}:
            assert row["iterations"] > 0 and row["fits"] > 0
