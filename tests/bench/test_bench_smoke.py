"""The benchmarks run: each script's ``--quick`` mode end to end in the test's process, checking
what it writes. Those that need PostgreSQL use the session's server (``--postgres``).
"""

from __future__ import annotations

import math

from bench.fold_draws import DRAWS
from bench.imports import CASES as IMPORT_CASES
from bench.paths import QUICK_CONFIGURATIONS
from bench.pruning import PRUNERS
from bench.quality import Variant
from bench.quality import definition as quality_definition
from bench.trial_cost import QUICK_SIZES
from bench.uploads import TABLES as UPLOAD_TABLES
from bench.uploads import TEST_SPLIT as UPLOAD_BASELINE
from bench.wake import BASELINE, CONFIGURATIONS, LISTEN, QUICK_ROUNDS
from tests.bench.quick import Bench
from tests.pg import PostgresServer


def test_overhead_smoke(bench_with_servers: Bench, pg: PostgresServer) -> None:
    stdout, result = bench_with_servers("overhead", "--postgres", str(pg.data_dir))
    assert "| trial | configuration |" in stdout
    rows = {r["config"]: r for r in result["rows"]}
    assert set(rows) == {
        "memory",
        "optuna-sqlite",
        "optuna-sqlite-wal",
        "optuna-postgresql",
        "regtune-sqlite",
        "regtune-postgresql",
    }
    for row in rows.values():  # every trial ran, through the service too
        assert row["complete"] == row["n_trials"] >= 2
        assert row["wall_s"] > 0 and row["ratio_vs_a"] > 0
    assert rows["memory"]["ratio_vs_a"] == 1.0
    assert rows["regtune-postgresql"]["status"] == "completed"


def test_pruning_smoke(bench: Bench) -> None:
    stdout, result = bench("pruning")
    assert "| dataset | pruner |" in stdout
    assert {r["pruner"] for r in result["rows"]} == set(PRUNERS)
    none = next(r for r in result["runs"] if r["pruner"] == "none")
    assert none["pruned"] == 0 and none["saved_fraction"] == 0 and none["equal_quality"]
    for run in result["runs"]:
        assert 0 < run["epochs"] <= 4 * 4  # 4 trials of at most 4 epochs
        assert -1 <= run["best_test"] <= 1  # an R² on held-out rows


def test_quality_smoke(bench: Bench) -> None:
    stdout, result = bench("quality")
    assert "| dataset | metric | configurations | splits |" in stdout
    assert [(r["dataset"], r["configurations"]) for r in result["rows"]] == [
        ("diabetes", 3),
        ("diabetes", 6),
        ("sparse", 3),
        ("sparse", 6),
    ]
    assert all(r["validation"] == "5-fold" for r in result["rows"])  # the default for small data
    assert "vs_first" in result["rows"][1] and "vs_first" not in result["rows"][0]
    rows = {r["dataset"]: r for r in result["rows"]}
    assert all(r["splits"] == 2 for r in rows.values())
    assert rows["diabetes"]["sklearn"] > 0.2  # ElasticNetCV's test R²
    assert 0 < rows["sparse"]["sklearn_recall"] <= 1 and "regtune_precision" in rows["sparse"]
    assert {r["seed"] for r in result["runs"]} == {0, 1}
    # scikit-learn again on the folds regtune drew: the tuner against the tuner
    assert all("difference_same_folds" in r and r["se_same_folds"] >= 0 for r in rows.values())
    assert "scikit-learn on regtune's folds" in stdout
    # where a difference comes from: regtune's refit at scikit-learn's choice (regression: the
    # estimator only, l1_ratio does not mean the same on both sides)
    assert "Where the difference comes from" in stdout
    for row in rows.values():
        assert row["estimator_se"] >= 0 and "l1_ratio_difference" not in row


def test_quality_classification_smoke(bench: Bench) -> None:
    stdout, result = bench("quality", "--datasets", "iris")
    assert "test log loss difference ± SE (lower is better)" in stdout
    for row in result["rows"]:  # accuracy judged, the log loss both select by beside it
        assert row["metric"] == "accuracy" and row["loss_se"] >= 0
    for run in result["runs"]:
        assert run["regtune"]["test_loss"] > 0 and run["sklearn"]["test_loss"] > 0
        assert run["sklearn"]["regtune_at_choice"]["test_loss"] > 0
        assert 0 <= run["regtune"]["at_sklearns_l1_ratio"]["test"] <= 1
    for row in result["rows"]:
        assert {"estimator_loss_se", "l1_ratio_difference", "l1_ratio_loss_se"} <= set(row)


def test_quality_baseline_only_up_to_a_count(bench: Bench) -> None:
    """``--baseline-max``: scikit-learn fitted at the counts up to it; above, regtune's row
    keeps its test metric and its difference from its first row, the baseline's cells empty."""
    stdout, result = bench("quality", "--datasets", "diabetes", "--baseline-max", "3")
    first, more = result["rows"]
    assert (first["configurations"], more["configurations"]) == (3, 6)
    assert first["difference"] == first["difference"] and first["at_least_sklearn"] is not None
    assert "difference" not in more and "sklearn" not in more and more["at_least_sklearn"] is None
    assert more["vs_first_se"] >= 0 and 0 < more["regtune"] <= 1
    assert [r["sklearn"] is None for r in result["runs"]] == [False, True, False, True]
    assert "| not run |" in stdout


def test_paths_cpu_only_on_large_data(bench: Bench) -> None:
    stdout, result = bench("paths", "--cpu-only", "--cpu-dataset", "friedman1-20k")
    assert "| study (friedman1-20k, 5-fold, one worker in process) |" in stdout
    assert result["cpu_dataset"] == "friedman1-20k" and "throughput" not in result
    single, *paths = result["cpu"]
    assert single["study"] == "one trial per claim" and single["ratio"] == 1
    assert paths and all(r["cpu_s_per_configuration"] > 0 for r in paths)


def test_quality_variants() -> None:
    """What ``--relax`` and ``--select`` give regtune's studies, and where their results go."""
    from regtune.service.spec.definition import StudySpec

    assert Variant().name == "quality"
    assert Variant(0.0).name == "quality-relax-0"
    assert Variant({"low": 0.0, "high": 1.0}).name == "quality-relax-0-1"
    assert Variant(select="one_se").name == "quality-select-one_se"
    assert Variant(folds=10).name == "quality-folds-10"
    spec = StudySpec.model_validate(
        quality_definition("breast_cancer", 0, 30, Variant(select="one_se"))
    )
    assert spec.objective.select == "one_se" and spec.search_space.relax is None
    spec = StudySpec.model_validate(quality_definition("diabetes", 0, 30, Variant(0.0)))
    assert spec.objective.select == "best" and spec.search_space.relax is not None
    spec = StudySpec.model_validate(quality_definition("wine", 0, 30, Variant(folds=10)))
    assert spec.validation.folds == 10


def test_paths_smoke(bench_with_servers: Bench) -> None:
    stdout, result = bench_with_servers("paths", "--versus-relax", "0")
    assert "| study (diabetes, 5-fold) |" in stdout
    assert "| relax 0: s (median) |" in stdout
    single_cpu, path_cpu = result["cpu"]
    assert single_cpu["ratio"] == 1 and path_cpu["cpu_s_per_configuration"] > 0
    paths, single, in_memory = result["throughput"]
    assert paths["configurations"] == single["configurations"] == QUICK_CONFIGURATIONS
    assert in_memory["configurations"] == QUICK_CONFIGURATIONS
    assert paths["ratio"] == paths["per_s"] / single["per_s"] > 0
    assert in_memory["vs_in_memory"] == 1 and single["vs_in_memory"] > 0
    (diabetes,) = result["sklearn"]
    assert diabetes["configurations"] == QUICK_CONFIGURATIONS and diabetes["regtune_s"] > 0
    assert -1 <= diabetes["regtune_test"] <= 1 and -1 <= diabetes["sklearn_test"] <= 1
    # the same study with the elastic net alone, alternating with the default's relaxed paths
    assert diabetes["versus_relax"] == 0 and diabetes["versus_s"] > 0
    assert diabetes["versus_ratio"] == diabetes["regtune_s"] / diabetes["versus_s"]


def test_trial_cost_smoke(bench: Bench, pg: PostgresServer) -> None:
    stdout, result = bench("trial_cost", "--postgres", str(pg.data_dir))
    assert "| backend | finished trials before" in stdout
    for backend in ("sqlite", "postgresql"):
        cost = result[f"{backend} 0"]  # the budget: ten transactions for ten reports
        assert 0 < cost["transactions_per_trial"] <= 10, cost["by_call"]
        assert result[f"{backend} {QUICK_SIZES[-1]}"]["study_size"] == QUICK_SIZES[-1]


def test_start_smoke(bench: Bench, pg: PostgresServer) -> None:
    stdout, result = bench("start", "--postgres", str(pg.data_dir))
    assert "| backend | step | before, ms (median) |" in stdout
    for backend in ("sqlite", "postgresql"):
        for step in ("migrate", "storage"):
            found = result["results"][backend][step]
            assert len(found["runs"]["before"]) == len(found["runs"]["after"]) == 3
            assert found["before"] > 0 and found["after"] > 0


def test_imports_smoke(bench_with_servers: Bench) -> None:
    """Fresh interpreters (its probes are processes): the worker's first trials and the API's
    import, before and after, neither importing scikit-learn, SciPy's statistics or pandas."""
    stdout, result = bench_with_servers("imports")
    assert "| case | CPU s before | CPU s after |" in stdout
    assert set(result["results"]) == set(IMPORT_CASES)
    for found in result["results"].values():
        assert len(found["runs"]["before"]) == len(found["runs"]["after"]) == 1
        assert found["modules"]["after"] == []
        assert "sklearn" in found["modules"]["before"] or "pandas" in found["modules"]["before"]
        assert found["after"]["cpu_s"] > 0 and found["after"]["peak_mb"] > 0


def test_fold_draws_smoke(bench: Bench) -> None:
    stdout, result = bench("fold_draws")
    assert "| dataset | metric | configurations | splits | folds |" in stdout
    rows = {r["draw"]: r for r in result["rows"]}
    assert list(rows) == list(DRAWS) and all(r["dataset"] == "sparse" for r in rows.values())
    own = rows["own folds"]
    assert own["difference"] == 0 and own["cpu_ratio"] == 1  # the baseline against itself
    assert all(0 < r["test"] <= 1 and r["splits"] == 2 for r in rows.values())  # test R²
    assert rows["5 folds × 3, repeated"]["cpu_ratio"] > 1.5  # 15 fits per configuration, not 5
    assert len(result["runs"]) == 2 * len(DRAWS)


def test_stopping_smoke(bench: Bench) -> None:
    stdout, result = bench("stopping")
    assert "| dataset | metric | configurations | splits | budget.stop |" in stdout
    whole, stopped = result["rows"]
    assert whole["rule"] == "none (the whole budget)" and stopped["rule"] == "patience=3"
    assert whole["trials"] == 12 and whole["difference"] == 0  # the baseline against itself
    assert 3 <= stopped["trials"] < 12, stopped  # the rule ended each study before its budget
    assert len(result["runs"]) == 2 * 2  # two splits, each run whole and with the rule


def test_folds_smoke(bench: Bench) -> None:
    stdout, result = bench("folds")
    assert "| data | rows × features × outputs |" in stdout
    for row in result["rows"]:  # five folds train five models where the holdout trains one
        assert row["folds_ms"] > row["holdout_ms"] > 0


def test_mlp_smoke(bench: Bench) -> None:
    stdout, result = bench("mlp")
    assert "| dataset | metric | splits |" in stdout
    (row,) = result["rows"]
    assert row["dataset"] == "diabetes" and row["splits"] == 1
    for who in ("regtune", "default", "tuned"):
        assert -10 < row[who] <= 1  # a test R² (5 epochs of scikit-learn's adam: far from fit)


def test_wake_smoke(bench_with_servers: Bench, pg: PostgresServer) -> None:
    stdout, result = bench_with_servers("wake", "--postgres", str(pg.data_dir))
    assert "| configuration | median latency (s) | max latency (s) | rounds |" in stdout
    rows = {r["configuration"]: r for r in result["configurations"]}
    assert list(rows) == list(CONFIGURATIONS)
    assert len(result["idle_seconds"]) == QUICK_ROUNDS
    for row in rows.values():
        assert row["rounds"] == len(row["runs"]) == QUICK_ROUNDS
        # the trial started after the POST was sent: the two clocks are one
        assert 0 < row["min_s"] <= row["median_s"] <= row["max_s"] < 60
        idled = [r["idle_s"] for r in row["runs"]]
        assert all(a >= b for a, b in zip(idled, result["idle_seconds"], strict=True))
        assert row["listener_warnings"] == []
    assert rows[LISTEN]["listen_for_work"] and not rows[BASELINE]["listen_for_work"]
    assert rows[LISTEN]["median_vs_listen"] == 1
    assert result["baseline_over_listen"] == rows[BASELINE]["median_vs_listen"] > 0


def test_uploads_smoke(bench_with_servers: Bench) -> None:
    """Six public tables uploaded to ``regtune serve``: the default study holds no test split
    of the upload's own, the baseline 20 %; both models train on every uploaded row."""
    stdout, result = bench_with_servers("uploads")
    assert "| table | metric | configurations |" in stdout
    rows = {r["table"]: r for r in result["rows"]}
    assert set(rows) == set(UPLOAD_TABLES)
    for name, row in rows.items():
        assert row["metric"] == ("r2" if UPLOAD_TABLES[name].task == "regression" else "accuracy")
        assert row["validation"] == "5-fold"
        uploaded = _rest(min(300, len(UPLOAD_TABLES[name].frame())))  # --quick: 300 rows at most
        assert row["regtune"]["train_rows"] == uploaded  # 80 % of them uploaded
        assert row[UPLOAD_BASELINE]["train_rows"] == uploaded  # the test rows too
        assert {"gain", "gain_se"} <= set(row[UPLOAD_BASELINE])  # paired with the default
        assert row["sklearn_s"] > 0 and row["regtune"]["wall_s"] > 0
    for run in result["runs"]:  # what each study chose, beside what its model scored
        assert {"lambda", "l1_ratio"} <= set(run["regtune"]["chosen"])
        assert (run["regtune"]["test_fraction"], run[UPLOAD_BASELINE]["test_fraction"]) == (0, 0.2)
    regression = [r for r in result["runs"] if UPLOAD_TABLES[r["table"]].task == "regression"]
    assert all("relax" in r["regtune"]["chosen"] for r in regression)  # searched by default
    relaxed = sum(r["regtune"]["chosen"]["relax"] > 0 for r in regression if r["table"] == "fair")
    assert rows["fair"]["regtune"]["relaxed_best"] == relaxed


def _rest(rows: int) -> int:
    """What a 20 % test split (rounded up, as ``train_test_split``) leaves of ``rows``."""
    return rows - math.ceil(0.2 * rows)


def test_uploads_with_relax_and_a_test_fraction_given(bench_with_servers: Bench) -> None:
    """``--relax 0``: the elastic net alone, in every study of a regression upload;
    ``--test-fraction 0.25``: the studies hold that test split of the upload (the model still
    trains on every uploaded row), and the baseline is not run. One run, one service, both."""
    stdout, result = bench_with_servers(
        "uploads", "--tables", "star98", "--relax", "0", "--test-fraction", "0.25"
    )
    assert result["relax"] == 0.0
    for run in result["runs"]:  # fixed, so not among the searched parameters
        assert "relax" not in run["regtune"]["chosen"] and "lambda" in run["regtune"]["chosen"]
    assert result["rows"][0]["regtune"]["relaxed_best"] == 0

    assert result["test_fraction"] == 0.25
    (row,) = result["rows"]
    assert row["regtune"]["train_rows"] == _rest(300) and UPLOAD_BASELINE not in row
    assert all(run["regtune"]["test_fraction"] == 0.25 for run in result["runs"])
    assert all(UPLOAD_BASELINE not in run for run in result["runs"])
    assert "not run" in stdout


def test_quality_independent_folds_smoke(bench: Bench) -> None:
    """``--independent-folds``: scikit-learn on a third fold draw, and its table."""
    stdout, result = bench(
        "quality", "--independent-folds", "--datasets", "wine", "--configurations", "3"
    )
    assert "| regtune − scikit-learn on an independent draw |" in stdout
    (row,) = result["rows"]
    assert {"difference_independent", "own_minus_independent"} <= set(row)
    for run in result["runs"]:
        third = run["sklearn"]["on_independent_folds"]
        assert 0 <= third["test"] <= 1
