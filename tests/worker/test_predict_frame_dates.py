"""A DataFrame with a column of dates, uploaded with ``Client.upload_dataset`` (its CSV writes
``2024-06-01``: a few dates are categories) and given as it is to ``SavedModel.predict``, binds
its dates to those categories, as the same rows in a file do (was: each date read as
``2024-06-01 00:00:00``, a category the model never saw, so every row predicted as if it had
none: a warning and predictions off by the dates' whole effect)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from regtune.service.model.saved import load
from tests.worker.test_predict_labels import Saver, saved_model

__all__ = ["saved_model"]  # the fixture, shared with test_predict_labels


def dated(n: int = 90, seed: int = 0) -> pd.DataFrame:
    """A regression target that three dates move by -3, 0 and 3."""
    rng = np.random.default_rng(seed)
    days = np.array(["2024-01-01", "2024-06-01", "2024-12-01"])
    k = rng.integers(0, 3, size=n)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {"x": x, "when": pd.to_datetime(days[k]), "y": x + 3.0 * (k - 1) + rng.normal(0, 0.1, n)}
    )


def test_a_frame_of_dates_predicts_as_its_uploaded_csv(saved_model: Saver) -> None:
    frame = dated()
    uploaded = frame.to_csv(index=False).encode()  # what Client.upload_dataset sends
    model = load(saved_model(uploaded, target="y", filename="frame.csv"))
    assert model.feature_names[1:] == ["when=2024-01-01", "when=2024-06-01", "when=2024-12-01"]
    from_file = model.predict(model.read(uploaded, filename="rows.csv").X)["prediction"]
    rows = frame.drop(columns="y")
    rows.loc[4, "when"] = pd.NaT  # missing, filled as an empty cell is
    with_gap = model.predict(model.read(rows.to_csv(index=False).encode(), filename="r.csv").X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "values the model never saw"
        predicted = model.predict(frame.drop(columns="y"))["prediction"]
    with pytest.warns(UserWarning, match="column 'when' has 1 missing value") as said:
        assert np.allclose(model.predict(rows)["prediction"], with_gap["prediction"])
    assert len(said) == 1  # the gap the training file did not have, not "values never saw"
    assert np.allclose(predicted, from_file)
    assert np.sqrt(np.mean((predicted - frame["y"]) ** 2)) < 0.5  # the dates' effect is 3
    zoned = frame.assign(when=frame["when"].dt.tz_localize("Europe/Oslo")).drop(columns="y")
    zoned_model = load(
        saved_model(
            zoned.assign(y=frame["y"]).to_csv(index=False).encode(),
            target="y",
            filename="zoned.csv",
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.allclose(zoned_model.predict(zoned)["prediction"], predicted, atol=0.5)
