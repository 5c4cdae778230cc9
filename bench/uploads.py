"""Public tables uploaded as a user uploads them: is the model regtune saves as good as
scikit-learn's CV estimator, scored on the user's own test file?

The tables are statsmodels' datasets, each with the target its documentation names:

* **anes96**: the 1996 American National Election Survey, 944 rows × 10 features; party
  identification, 7 classes;
* **fair**: a survey on extramarital affairs, 6,366 rows × 8; time spent in affairs
  (regression);
* **randhie**: the RAND Health Insurance Experiment, 20,190 rows × 9; doctor visits
  (regression);
* **modechoice**: travel mode choices between Sydney and Melbourne, 840 rows (210 travellers ×
  4 modes) × 7, the mode as text; whether the row's mode was chosen (binary; the traveller's
  id dropped);
* **star98**: California's 303 school districts × 20 (12 variables and 8 of their
  interactions); the share of a district's students above the national median in maths
  (``NABOVE / (NABOVE + NBELOW)``, regression);
* **grunfeld**: investment of 11 US firms over 20 years, 220 rows × 4, the firm as text;
  gross investment (regression).

anes96, fair and randhie are the tables the defaults were measured on while they were chosen;
modechoice, star98 and grunfeld were added after, as tables the defaults never saw (two of
them with a text column, which the upload one-hot encodes, and scikit-learn's side with
``pandas.get_dummies`` on its training file, a category of the test file it never saw encoded
as none).

For each table and each of ``--repeats`` random splits s (80 % / 20 %, stratified for
classification, ``train_test_split`` with seed s), the training rows are written to a CSV file
and uploaded to ``regtune serve`` (one API process, 2 workers, SQLite) with its task (a
numeric target of 7 values is a regression unless the upload says otherwise); at each configuration
count N a linear study with the defaults (only the searched λ and l1_ratio given, as in
``bench.quality``; TPE seeded s) is created over HTTP, its best model downloaded and scored on
the test rows' CSV as ``regtune predict`` scores it. Two studies per split and N, which runs
first alternating by split:

* **regtune**: the defaults: under folds an upload holds no test split of its own, every
  uploaded row is in the folds, and the saved model trains on all of them;
* **regtune, test split**: ``validation.test_fraction: 0.2``, the default before this one: the
  folds hold the 80 % of the upload its own test split leaves (which gives the study its test
  metrics), the saved model trains on every row: the baseline.

Against scikit-learn's CV estimator fitted on the training CSV (``bench.quality``'s: 5-fold,
standardized, ``ElasticNetCV`` or elastic-net ``LogisticRegressionCV``, N configurations).
Reported per table and N: each regtune − scikit-learn in the test metric (R² or accuracy),
paired by split, ± its standard error; the wall time from the study's creation to the
downloaded model, and scikit-learn's fit.

``--test-fraction F`` gives regtune's studies ``validation.test_fraction`` F and runs no
baseline (``uploads-test-fraction-F.json``).

    python -m bench.uploads [--quick] [--repeats 10] [--tables anes96,fair]
        [--configurations 30,700] [--relax-margin 0] [--relax 0] [--test-fraction 0]
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import harness
from bench.quality import Variant, _relax, definition, sklearn_model
from bench.quality_summary import METRIC, mean_se


@dataclass(frozen=True)
class Table:
    """A statsmodels dataset: its module name, the target column, its task, and what turns
    statsmodels' frame into the table a user would upload (a target derived, an id dropped)."""

    name: str
    target: str
    task: str
    prepare: Callable[[Any], Any] | None = None

    def frame(self) -> Any:
        import statsmodels.datasets as datasets

        frame = getattr(datasets, self.name).load_pandas().data
        return self.prepare(frame) if self.prepare else frame


def _modechoice(frame: Any) -> Any:
    modes = {1: "air", 2: "train", 3: "bus", 4: "car"}
    return frame.drop(columns="individual").assign(mode=frame["mode"].map(modes))


def _star98(frame: Any) -> Any:
    above = frame["NABOVE"] / (frame["NABOVE"] + frame["NBELOW"])
    return frame.drop(columns=["NABOVE", "NBELOW"]).assign(above=above)


TABLES = {
    t.name: t
    for t in (
        Table("anes96", "PID", "multiclass"),
        Table("fair", "affairs", "regression"),
        Table("randhie", "mdvis", "regression"),
        Table("modechoice", "choice", "binary", _modechoice),
        Table("star98", "above", "regression", _star98),
        Table("grunfeld", "invest", "regression"),
    )
}
CONFIGURATIONS = (30, 700)
QUICK_CONFIGURATIONS = (6,)
TEST_SPLIT = "regtune, test split"
VARIANTS: dict[str, dict[str, Any]] = {
    "regtune": {},
    TEST_SPLIT: {"validation": {"test_fraction": 0.2}},
}
WORKERS = 2


def split(table: Table, seed: int, tmp: Path, rows: int | None = None) -> tuple[Path, Path]:
    """The training and test CSV files of split ``seed`` (the first ``rows`` rows: --quick)."""
    from sklearn.model_selection import train_test_split

    frame = table.frame()
    if rows is not None:
        frame = frame.iloc[:rows]
    stratify = frame[table.target] if table.task != "regression" else None
    train, test = train_test_split(frame, test_size=0.2, random_state=seed, stratify=stratify)
    paths = tmp / f"{table.name}-{seed}-train.csv", tmp / f"{table.name}-{seed}-test.csv"
    train.to_csv(paths[0], index=False)
    test.to_csv(paths[1], index=False)
    return paths


def run_sklearn(table: Table, files: tuple[Path, Path], count: int, quick: bool) -> dict[str, Any]:
    """The CV estimator fitted on the training CSV, scored on the test CSV."""
    import pandas as pd
    from sklearn.metrics import accuracy_score, r2_score

    train, test = (pd.read_csv(f) for f in files)
    features = pd.get_dummies(train.drop(columns=table.target), dtype=float)
    X, y = features.to_numpy(float), train[table.target].to_numpy()
    model = sklearn_model(table.name, table.task, count, quick)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and API-transition warnings
        model.fit(X, y)
    wall = time.perf_counter() - started
    unseen = pd.get_dummies(test.drop(columns=table.target), dtype=float)
    predicted = model.predict(unseen.reindex(columns=features.columns, fill_value=0.0).to_numpy())
    score = r2_score if table.task == "regression" else accuracy_score
    return {"test": float(score(test[table.target].to_numpy(), predicted)), "wall_s": wall}


def run_regtune(
    service: harness.Service,
    client: Any,
    table: Table,
    dataset_id: str,
    test_file: Path,
    seed: int,
    count: int,
    label: str,
    changes: dict[str, Any],
    relax_margin: float | None = None,
    relax: Any = None,
) -> dict[str, Any]:
    """A study with the defaults (but ``changes``, and ``relax_margin`` and ``relax`` if
    given) on the upload; its best model downloaded and scored on the test CSV as ``regtune
    predict`` scores it; the best trial's parameters and the selection's note beside it."""
    from regtune.service.model.saved import load

    spec = definition("diabetes", seed, count)  # its searched space, seeds and budget
    spec.update(
        name=f"{table.name}-{seed}-{count}-{label.replace(', ', '-').replace(' ', '-')}",
        dataset={"id": dataset_id},
        validation={},  # the default rule, as a user who gives none
    )
    spec.update(changes)
    if relax_margin is not None:
        spec["objective"] = {"relax_margin": relax_margin}
    if relax is not None:
        spec["search_space"]["relax"] = relax
    started = time.perf_counter()
    study_id = client.submit(spec).id  # as a user's script submits: the client's connection
    done = client.wait(study_id, timeout=600 + count)
    assert done.status == "completed", service.logs()[-3000:]
    path = client.download_best_model(study_id, service.tmp / f"best-{study_id}.safetensors")
    wall = time.perf_counter() - started
    saved = load(path)  # as `regtune predict` reads and scores the test file
    rows = saved.read(test_file.read_bytes(), filename=test_file.name)
    assert rows.y is not None and rows.scored is not None and rows.scored.all()
    scores = saved.score(rows.X, rows.y)
    return {
        "test": float(scores[METRIC[table.task]]),
        "wall_s": wall,
        "train_rows": saved.info.get("train_rows"),
        "validation": done.validation.scheme if done.validation else None,
        "test_fraction": done.definition["validation"]["test_fraction"],
        "chosen": dict(done.best_trial.params) if done.best_trial else None,
        "selection_note": done.selection.note if done.selection else None,
    }


def measure(
    quick: bool,
    repeats: int,
    tables: list[str],
    counts: list[int],
    relax_margin: float | None = None,
    relax: Any = None,
    test_fraction: float | None = None,
) -> list[dict[str, Any]]:
    from regtune.service.client.http import Client

    runs: list[dict[str, Any]] = []
    variants = (
        VARIANTS
        if test_fraction is None
        else {"regtune": {"validation": {"test_fraction": test_fraction}}}
    )
    with harness.scratch("uploads") as tmp:
        url = harness.fresh_database("sqlite", tmp, None, "uploads")
        env = {"REGTUNE_ARTIFACT_DIR": str(tmp / "artifacts"), "REGTUNE_POLL_MAX": "0.5"}
        with harness.Service(url, tmp, **env) as service, Client(service.url) as client:
            service.start_serve(workers=WORKERS)
            for name in tables:
                table = TABLES[name]
                for seed in range(repeats):
                    files = split(table, seed, tmp, rows=300 if quick else None)
                    uploaded = client.upload_dataset(files[0], target=table.target, task=table.task)
                    for n in counts:
                        run: dict[str, Any] = {"table": name, "seed": seed, "configurations": n}
                        for label, changes in _in_turn(variants, seed):
                            run[label] = run_regtune(
                                service,
                                client,
                                table,
                                uploaded.id,
                                files[1],
                                seed,
                                n,
                                label,
                                changes,
                                relax_margin,
                                relax,
                            )
                        run["sklearn"] = run_sklearn(table, files, n, quick)
                        runs.append(run)
                        print(
                            f"  {name:8s} split {seed} N {n:4d} "
                            + " ".join(f"{k} {run[k]['test']:.4f}" for k in (*variants, "sklearn")),
                            flush=True,
                        )
    return runs


def _in_turn(variants: dict[str, dict[str, Any]], turn: int) -> list[tuple[str, dict[str, Any]]]:
    """The variants, the first one first on even turns (splits), last on odd ones: the first
    study on a new upload pays for the workers' first read of it, which would otherwise count
    against one variant alone."""
    items = list(variants.items())
    return items if turn % 2 == 0 else items[::-1]


def summarize(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    rows = []
    for name in dict.fromkeys(r["table"] for r in runs):
        for n in sorted({r["configurations"] for r in runs if r["table"] == name}):
            group = [r for r in runs if r["table"] == name and r["configurations"] == n]
            table = TABLES[name]
            row: dict[str, Any] = {
                "table": name,
                "task": table.task,
                "metric": METRIC[table.task],
                "configurations": n,
                "splits": len(group),
                "validation": group[0]["regtune"]["validation"],
                "sklearn": statistics.fmean([r["sklearn"]["test"] for r in group]),
                "sklearn_s": statistics.fmean([r["sklearn"]["wall_s"] for r in group]),
            }
            for label in (v for v in VARIANTS if v in group[0]):
                diff, se = mean_se([r[label]["test"] - r["sklearn"]["test"] for r in group])
                row[label] = {
                    "test": statistics.fmean([r[label]["test"] for r in group]),
                    "difference": diff,
                    "se": se,
                    "train_rows": group[0][label]["train_rows"],
                    "wall_s": statistics.fmean([r[label]["wall_s"] for r in group]),
                    "relaxed_best": sum(
                        (r[label].get("chosen") or {}).get("relax", 0.0) > 0 for r in group
                    ),
                }
            if TEST_SPLIT in row:  # the default against the baseline, paired by split
                gain, gain_se = mean_se(
                    [r["regtune"]["test"] - r[TEST_SPLIT]["test"] for r in group]
                )
                row[TEST_SPLIT].update(gain=gain, gain_se=gain_se)
            best = row["regtune"]
            se = best["se"]
            row["at_least_sklearn"] = (
                bool(best["difference"] >= -0.5 * se - 1e-12) if se == se else None
            )
            rows.append(row)
    headers = [
        "table",
        "metric",
        "configurations",
        "splits",
        "regtune validation",
        "regtune (rows trained)",
        "test split (rows)",
        "scikit-learn CV",
        "regtune − scikit-learn ± SE",
        "≥ 0 or within 0.5 SE",
        "test split − scikit-learn ± SE",
        "regtune − test split ± SE",
        "regtune s",
        "test split s",
        "scikit-learn s",
        "regtune's best relaxed (splits)",
    ]

    def baseline(r: dict[str, Any], shown: Callable[[dict[str, Any]], str]) -> str:
        return shown(r[TEST_SPLIT]) if TEST_SPLIT in r else "not run"

    body = [
        [
            r["table"],
            r["metric"],
            r["configurations"],
            r["splits"],
            r["validation"],
            f"{r['regtune']['test']:.4f} ({r['regtune']['train_rows']})",
            baseline(r, lambda b: f"{b['test']:.4f} ({b['train_rows']})"),
            f"{r['sklearn']:.4f}",
            f"{r['regtune']['difference']:+.4f} ± {r['regtune']['se']:.4f}",
            {True: "yes", False: "no", None: "n/a"}[r["at_least_sklearn"]],
            baseline(r, lambda b: f"{b['difference']:+.4f} ± {b['se']:.4f}"),
            baseline(r, lambda b: f"{b['gain']:+.4f} ± {b['gain_se']:.4f}"),
            f"{r['regtune']['wall_s']:.2f}",
            baseline(r, lambda b: f"{b['wall_s']:.2f}"),
            f"{r['sklearn_s']:.2f}",
            r["regtune"]["relaxed_best"],
        ]
        for r in rows
    ]
    return rows, harness.table(headers, body)


def main(argv: list[str] | None = None) -> None:
    args = harness.parse_args(
        __doc__ or "",
        argv,
        extra={
            "--tables": {"default": None, "help": "comma-separated (default: all)"},
            "--configurations": {
                "default": None,
                "help": "comma-separated configuration counts (default: 30,700)",
            },
            "--relax-margin": {
                "type": float,
                "default": None,
                "help": "regtune's objective.relax_margin (default: the definition's default; "
                "0: the best value, relaxed or not)",
            },
            "--relax": {
                "default": None,
                "help": "regtune's search_space.relax: a number or LOW,HIGH (default: the "
                "definition's default)",
            },
            "--test-fraction": {
                "type": float,
                "default": None,
                "help": "regtune's validation.test_fraction (default: the definition's "
                "default; 0: no test split, every uploaded row in the folds)",
            },
        },
    )
    tables = args.tables.split(",") if args.tables else list(TABLES)
    counts = (
        [int(n) for n in args.configurations.split(",")]
        if args.configurations
        else list(QUICK_CONFIGURATIONS if args.quick else CONFIGURATIONS)
    )
    repeats = args.repeats or (1 if args.quick else 10)
    relax = _relax(args.relax)
    runs = measure(
        args.quick, repeats, tables, counts, args.relax_margin, relax, args.test_fraction
    )
    name = Variant(relax=relax, relax_margin=args.relax_margin).name.replace("quality", "uploads")
    if args.test_fraction is not None:
        name += f"-test-fraction-{args.test_fraction:g}"
    rows, markdown = summarize(runs)
    harness.publish(
        args.out,
        name,
        {
            "quick": args.quick,
            "counts": counts,
            "workers": WORKERS,
            "relax_margin": args.relax_margin,
            "relax": relax,
            "test_fraction": args.test_fraction,
            "rows": rows,
            "runs": runs,
        },
        markdown,
    )


if __name__ == "__main__":
    main()
