"""The downloaded best model fills missing values as training did (issue 15, item 4).

Upload a CSV with holes, tune on it with a real worker, download the best model and predict
rows with missing values, in Python and with ``regtune predict`` (which reads the upload's own
format, missing-value tokens and all): no NaN comes out.
"""

from __future__ import annotations

import io
import math
import subprocess
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from tests.e2e.test_upload_study import sparse_csv
from tests.support import StackFactory, regtune, wait_for


def test_a_best_model_predicts_rows_with_missing_values(
    stack_factory: StackFactory, sqlite_url: str, tmp_path: Path
) -> None:
    stack = stack_factory(sqlite_url).start_api()
    stack.start_workers(1)
    with httpx.Client(base_url=stack.url, timeout=60) as http:
        uploaded = http.post(
            "/v1/datasets", files={"file": ("houses.csv", sparse_csv())}, data={"target": "price"}
        )
        assert uploaded.status_code == 201, uploaded.text
        definition = {
            "name": "houses-fill",
            "dataset": {"id": uploaded.json()["id"]},
            "model": {"kind": "mlp", "hidden_layers": [8]},
            "search_space": {"lambda": 1e-3, "l1_ratio": 0.5, "learning_rate": 0.05},
            "training": {"max_epochs": 10, "batch_size": 64},
            "pruner": {"type": "none"},
            "budget": {"n_trials": 2, "max_parallel": 1},
        }
        study_id = http.post("/v1/studies", json=definition).json()["id"]

        def saved() -> dict[str, Any] | None:
            body = http.get(f"/v1/studies/{study_id}").json()
            assert body["status"] not in ("failed", "cancelled"), body
            return body if body["best_model"] else None

        study = wait_for(saved, timeout=600, interval=1.0, what="the best model")
        model_path = tmp_path / "model.safetensors"
        model_path.write_bytes(http.get(f"/v1/studies/{study_id}/best-model").content)

    from regtune.worker.modelfile import load

    model = load(model_path)
    rows = pd.DataFrame(np.ones((4, len(model.feature_names))), columns=model.feature_names)
    rows.iloc[0, 0] = np.nan  # a missing number
    rows.iloc[1, -3:] = np.nan  # a missing category (its whole one-hot group)
    rows.iloc[2, :] = np.nan  # nothing known at all
    predicted = model.predict(model.features(rows))["prediction"]
    assert np.isfinite(predicted).all(), predicted

    # scored on the raw held-out rows (holes and all), the saved model reproduces the trial
    assert all(math.isfinite(v) for v in study["best_model"]["test_metrics"].values())
    assert "differs from the trial" not in stack.logs()

    # the CLI takes the upload's own format: raw columns, text unencoded, missing-value tokens
    raw = pd.DataFrame({f"x{i}": ["1"] * 4 for i in range(8)} | {"colour": ["red"] * 4})
    raw.iloc[0, 0] = "?"  # a missing number
    raw.iloc[1, -1] = "none"  # a missing category
    raw.iloc[2, :] = ""  # nothing known at all
    csv = tmp_path / "new.csv"
    raw.to_csv(csv, index=False)
    done = subprocess.run(
        regtune("predict", str(csv), "--model", str(model_path)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = pd.read_csv(io.StringIO(done.stdout))
    assert len(out) == 4 and np.isfinite(out["prediction"]).all(), done.stdout
