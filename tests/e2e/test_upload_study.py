"""Upload a CSV, tune a study on it with real worker processes, read the best trial."""

from __future__ import annotations

import math
from typing import Any

import httpx
import numpy as np
import pandas as pd

from tests.support import StackFactory, wait_for

ADMIN = "e2e-admin-key-0123456789abcdef"


def sparse_csv(n: int = 400, seed: int = 0) -> bytes:
    """y depends on x0, x3 and the colour; the other columns are noise; some cells are empty."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(8)})
    df["colour"] = rng.choice(["red", "green", "blue"], size=n)
    df["price"] = (
        3.0 * df["x0"] - 2.0 * df["x3"] + 1.5 * (df["colour"] == "red") + rng.normal(0, 0.3, n)
    )
    df.loc[rng.choice(n, 20, replace=False), "x0"] = np.nan
    df.loc[rng.choice(n, 10, replace=False), "colour"] = None
    return df.to_csv(index=False).encode()


def test_upload_then_tune_on_it(stack_factory: StackFactory, database_url: str) -> None:
    stack = stack_factory(database_url, REGTUNE_ADMIN_KEY=ADMIN).start_api()
    stack.start_workers(2)
    with httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60
    ) as http:
        uploaded = http.post(
            "/v1/datasets",
            files={"file": ("houses.csv", sparse_csv())},
            data={"target": "price"},
        )
        assert uploaded.status_code == 201, uploaded.text
        dataset = uploaded.json()
        assert dataset["missing"]["missing_by_column"] == {"x0": 20, "colour": 10}

        definition = {
            "name": "houses-enet",
            "dataset": {"id": dataset["id"]},
            "model": {"kind": "linear"},
            "search_space": {
                "lambda": {"low": 1e-4, "high": 1e-1, "log": True},
                "l1_ratio": {"low": 0.0, "high": 1.0},
            },
            "pruner": {"type": "none"},
            "budget": {"n_trials": 6, "max_parallel": 2},
        }
        created = http.post("/v1/studies", json=definition)
        assert created.status_code == 201, created.text
        study_id = created.json()["id"]
        assert created.json()["definition"]["task"] == "regression"
        # an upload is the training file: under folds every row is in them, no test split
        validation = created.json()["definition"]["validation"]
        assert (validation["folds"], validation["test_fraction"]) == (5, 0.0), validation
        assert "no test split: an upload is the training rows" in validation["chosen_by"]

        def status() -> dict[str, Any] | bool:
            body = http.get(f"/v1/studies/{study_id}").json()
            return body["status"] in ("completed", "failed", "cancelled") and body

        study = wait_for(status, timeout=900, interval=1.0, what="the study to finish")
        assert study["status"] == "completed", (study, stack.logs()[-3000:])
        assert study["counts"]["COMPLETE"] == 6
        best = study["best_trial"]
        assert best is not None and math.isfinite(best["value"])
        assert best["test_metrics"] is None, best
        assert 0 < best["n_nonzero"] <= dataset["n_features"]

        trial = http.get(f"/v1/studies/{study_id}/trials/{best['number']}").json()
        assert trial["state"] == "COMPLETE"
        assert trial["user_attrs"]["val_r2"] > 0.7, trial  # the folds' score: the estimate
        assert trial["params"] == best["params"]
