"""``bench.fused --quick`` runs end to end and writes what its tables show."""

from __future__ import annotations

from tests.bench.quick import Bench


def test_fused_bench_smoke(bench: Bench) -> None:
    _, result = bench("fused")
    assert {row["k"] for row in result["speed"]} == {1, 4}
    for row in result["speed"]:
        assert row["trials"] == row["done"] == 4 and row["cpu_s"] > 0
    assert all(row["fused_cpu_s"] > 0 for row in result["training_alone"])
    assert all(row["fused_stack_draw_cpu_s"] > 0 for row in result["training_alone"])
    assert all(row["bare_fused_cpu_s"] > 0 for row in result["training_alone"])
    assert all(row["k8_mean"] > 0 for row in result["quality"])
