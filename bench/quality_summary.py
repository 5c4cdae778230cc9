"""The tables ``bench.quality`` prints: its runs grouped by dataset and configuration count, each
group's paired differences (regtune − scikit-learn, by split) ± their standard error, and where
a difference comes from."""

from __future__ import annotations

import statistics
from typing import Any

from bench import harness

METRIC = {"regression": "r2", "binary": "accuracy", "multiclass": "accuracy"}
"""The test metric ``bench.quality`` scores, by task."""


def mean_se(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")
    return mean, se


def _mean(group: list[dict[str, Any]], who: str, key: str) -> float:
    return statistics.fmean(r[who][key] for r in group)


def _row(
    label: str, metric: str, group: list[dict[str, Any]], first: list[dict[str, Any]] | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "dataset": label,
        "metric": metric,
        "configurations": group[0]["configurations"],
        "splits": len(group),
        "validation": f"{group[0]['regtune'].get('folds', 1)}-fold"
        if group[0]["regtune"].get("folds", 1) > 1
        else "holdout",
        "regtune": _mean(group, "regtune", "test"),
        "regtune_s": _mean(group, "regtune", "wall_s"),
        "at_least_sklearn": None,
    }
    if all(r["sklearn"] is not None for r in group):  # not above ``--baseline-max``
        row |= _against_sklearn(group)
    if first is not None:
        by_seed = {r["seed"]: r["regtune"]["test"] for r in first}
        more, more_se = mean_se([r["regtune"]["test"] - by_seed[r["seed"]] for r in group])
        row["vs_first"], row["vs_first_se"] = more, more_se
    return row


def _against_sklearn(group: list[dict[str, Any]]) -> dict[str, Any]:
    """regtune − the CV estimator, paired by split, and what it comes from."""
    diff, se = mean_se([r["regtune"]["test"] - r["sklearn"]["test"] for r in group])
    row: dict[str, Any] = {
        "sklearn": _mean(group, "sklearn", "test"),
        "difference": diff,
        "se": se,
        **_on_regtunes_folds(group),
        **_on_independent_folds(group),
        **_test_loss(group),
        **_sources(group),
        "sklearn_s": _mean(group, "sklearn", "wall_s"),
        # the goal: ≥ 0, or within 0.5 SE (one test sample apart on every split gives −1 SE)
        "at_least_sklearn": bool(diff >= -0.5 * se - 1e-12) if se == se else None,
    }
    for who in ("regtune", "sklearn"):
        if "precision" in group[0][who]:
            row[f"{who}_precision"] = _mean(group, who, "precision")
            row[f"{who}_recall"] = _mean(group, who, "recall")
    return row


def _test_loss(group: list[dict[str, Any]]) -> dict[str, float]:
    """Classification: regtune − the CV estimator in test log loss (lower is better), the
    metric both select by (absent from runs before it was measured)."""
    if not all("test_loss" in r["regtune"] and "test_loss" in r["sklearn"] for r in group):
        return {}
    diff, se = mean_se([r["regtune"]["test_loss"] - r["sklearn"]["test_loss"] for r in group])
    return {"loss_difference": diff, "loss_se": se}


def _sources(group: list[dict[str, Any]]) -> dict[str, float]:
    """Where regtune − the CV estimator comes from (absent from runs before it was measured):
    ``estimator_*``, regtune's refit at the CV estimator's choice − the CV estimator (the same
    model fitted by two solvers: 0 when the solvers agree), and for classification
    ``l1_ratio_*``, regtune's choice with the CV estimator's l1_ratio instead of its own − the
    CV estimator; each in the test metric and, for classification, the test log loss."""
    sources = {
        "estimator": lambda r: r["sklearn"].get("regtune_at_choice"),
        "l1_ratio": lambda r: r["regtune"].get("at_sklearns_l1_ratio"),
    }
    found: dict[str, float] = {}
    for name, refit in sources.items():
        if not all(refit(r) is not None for r in group):
            continue
        for key, suffix in (("test", ""), ("test_loss", "_loss")):
            if key in group[0]["sklearn"]:
                diff, se = mean_se([refit(r)[key] - r["sklearn"][key] for r in group])
                found[f"{name}{suffix}_difference"], found[f"{name}{suffix}_se"] = diff, se
    return found


def _on_regtunes_folds(group: list[dict[str, Any]]) -> dict[str, float]:
    """regtune − the CV estimator given regtune's folds: the tuner against the tuner, the fold
    draw taken out (absent from runs before it was measured)."""
    if not all("on_regtunes_folds" in r["sklearn"] for r in group):
        return {}
    same = [r["regtune"]["test"] - r["sklearn"]["on_regtunes_folds"]["test"] for r in group]
    diff, se = mean_se(same)
    return {"difference_same_folds": diff, "se_same_folds": se}


def _on_independent_folds(group: list[dict[str, Any]]) -> dict[str, float]:
    """regtune − the CV estimator on an independent fold draw, and the CV estimator on its own
    folds − on that draw (``--independent-folds``)."""
    if not all("on_independent_folds" in r["sklearn"] for r in group):
        return {}
    third = [r["sklearn"]["on_independent_folds"]["test"] for r in group]
    diff, se = mean_se([r["regtune"]["test"] - t for r, t in zip(group, third, strict=True)])
    own, own_se = mean_se([r["sklearn"]["test"] - t for r, t in zip(group, third, strict=True)])
    return {
        "difference_independent": diff,
        "se_independent": se,
        "own_minus_independent": own,
        "own_minus_independent_se": own_se,
    }


def summarize(result: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    runs = result["runs"]
    rows = []
    for dataset in dict.fromkeys(r["dataset"] for r in runs):
        counts = sorted({r["configurations"] for r in runs if r["dataset"] == dataset})
        groups = {
            n: [r for r in runs if r["dataset"] == dataset and r["configurations"] == n]
            for n in counts
        }
        for n in counts:
            metric = METRIC[groups[n][0]["regtune"]["task"]]
            first = groups[counts[0]] if n != counts[0] else None
            rows.append(_row(dataset, metric, groups[n], first))
    if result["service_runs"]:
        rows.append(_row("diabetes (service end to end)", "r2", result["service_runs"], None))
    headers = [
        "dataset",
        "metric",
        "configurations",
        "splits",
        "regtune validation",
        "regtune (refit)",
        "scikit-learn CV",
        "difference ± SE",
        "≥ 0 or within 0.5 SE",
        "difference ± SE, scikit-learn on regtune's folds",
        "regtune vs its first row ± SE",
        "test log loss difference ± SE (lower is better)",
        "regtune s",
        "scikit-learn s",
        "support precision / recall (regtune; scikit-learn)",
    ]
    table_rows = [
        [
            r["dataset"],
            r["metric"],
            r["configurations"],
            r["splits"],
            r["validation"],
            f"{r['regtune']:.4f}",
            f"{r['sklearn']:.4f}" if "sklearn" in r else "not run",
            f"{r['difference']:+.4f} ± {r['se']:.4f}" if "difference" in r else "",
            {True: "yes", False: "no", None: "n/a"}[r["at_least_sklearn"]],
            f"{r['difference_same_folds']:+.4f} ± {r['se_same_folds']:.4f}"
            if "difference_same_folds" in r
            else "",
            f"{r['vs_first']:+.4f} ± {r['vs_first_se']:.4f}" if "vs_first" in r else "",
            f"{r['loss_difference']:+.4f} ± {r['loss_se']:.4f}" if "loss_difference" in r else "",
            f"{r['regtune_s']:.2f}",
            f"{r['sklearn_s']:.2f}" if "sklearn_s" in r else "",
            f"{r['regtune_precision']:.2f} / {r['regtune_recall']:.2f}; "
            f"{r['sklearn_precision']:.2f} / {r['sklearn_recall']:.2f}"
            if "regtune_precision" in r
            else "",
        ]
        for r in rows
    ]
    return rows, harness.table(headers, table_rows) + _sources_table(rows) + _draws_table(rows)


def _draws_table(rows: list[dict[str, Any]]) -> str:
    """``--independent-folds``: regtune and scikit-learn's own folds, each against scikit-learn
    on an independent fold draw."""
    measured = [r for r in rows if "difference_independent" in r]
    if not measured:
        return ""
    headers = [
        "dataset",
        "configurations",
        "splits",
        "regtune − scikit-learn on its own folds",
        "regtune − scikit-learn on regtune's folds",
        "regtune − scikit-learn on an independent draw",
        "scikit-learn: own folds − independent draw",
    ]
    table_rows = [
        [
            r["dataset"],
            r["configurations"],
            r["splits"],
            f"{r['difference']:+.4f} ± {r['se']:.4f}",
            f"{r['difference_same_folds']:+.4f} ± {r['se_same_folds']:.4f}"
            if "difference_same_folds" in r
            else "",
            f"{r['difference_independent']:+.4f} ± {r['se_independent']:.4f}",
            f"{r['own_minus_independent']:+.4f} ± {r['own_minus_independent_se']:.4f}",
        ]
        for r in measured
    ]
    title = "\n\nThe fold draws (paired by split, ± SE):\n\n"
    return title + harness.table(headers, table_rows)


def _sources_table(rows: list[dict[str, Any]]) -> str:
    """The second table: regtune − scikit-learn with regtune's choice, at scikit-learn's choice
    (the estimators compared), and with regtune's choice but scikit-learn's l1_ratio."""
    measured = [r for r in rows if "estimator_difference" in r]
    if not measured:
        return ""

    def cell(r: dict[str, Any], name: str) -> str:
        if f"{name}_difference" not in r:
            return ""
        return f"{r[f'{name}_difference']:+.4f} ± {r[f'{name}_se']:.4f}"

    headers = [
        "dataset",
        "configurations",
        "regtune's choice",
        "at scikit-learn's choice",
        "regtune's choice, scikit-learn's l1_ratio",
        "log loss: regtune's choice",
        "log loss: at scikit-learn's choice",
        "log loss: scikit-learn's l1_ratio",
    ]
    table_rows = [
        [
            r["dataset"],
            r["configurations"],
            f"{r['difference']:+.4f} ± {r['se']:.4f}",
            cell(r, "estimator"),
            cell(r, "l1_ratio"),
            f"{r['loss_difference']:+.4f} ± {r['loss_se']:.4f}" if "loss_difference" in r else "",
            cell(r, "estimator_loss"),
            cell(r, "l1_ratio_loss"),
        ]
        for r in measured
    ]
    title = (
        "\n\nWhere the difference comes from: regtune's refit − scikit-learn in the test metric "
        "(then the test log loss), with regtune's choice, at scikit-learn's choice, and with "
        "regtune's choice but scikit-learn's l1_ratio:\n\n"
    )
    return title + harness.table(headers, table_rows)
