"""The report draws inputs of any name: plotly reads its text as HTML-like markup, so a column
named ``<b>bold</b>`` drew bold in the legend and on the bars (the page's own text escaped it);
and a name of 80 characters took the coefficient path's width for its legend, leaving the plot
about 60 pixels. Names are escaped for plotly, and a long one shortened where it labels a line or
a bar, the whole name in its hover text."""

from __future__ import annotations

import json
import math
import uuid
from html import unescape
from typing import Any

import numpy as np
import optuna
from fastapi.testclient import TestClient
from optuna.trial import TrialState, create_trial

from regtune.service.api.report_figures import LABEL_CHARS
from regtune.service.spec.definition import StudySpec
from regtune.service.store.optuna_db.attrs import COEFFICIENTS_ATTR
from regtune.service.store.repos.study_creation import create_study
from regtune.service.store.scheduling.retries import get_storage
from regtune.service.store.trials.coefficients import encode
from tests.service.optuna_studies import add_trials
from tests.service.report_figures_json import titled
from tests.service.report_models import save_best_model
from tests.service.test_report import DISTRIBUTIONS, _set_status, _spec

LONG = "a_really_really_long_feature_name_describing_household_income_in_2019_dollars"
LONGER = LONG.replace("2019", "2020")  # the same start and end: two labels all the same
NAMES = ["<b>bold</b>", LONG, LONGER, "température °C", "x&y", "plain"]
TRUE = [0.7, -0.5, -0.45, 0.2, 0.4, 0.05]


def odd_study() -> str:
    """A finished linear study over ``NAMES``, its trials' weights stored and a model saved; the
    study's id."""
    definition = _spec().model_dump(mode="json") | {"name": f"names-{uuid.uuid4().hex[:8]}"}
    row = create_study(StudySpec.model_validate(definition))
    study = optuna.load_study(study_name=row.optuna_name, storage=get_storage())
    trials = []
    for i in range(40):
        lam = 10 ** (-4 + 4 * i / 39)
        shrunk = [math.copysign(max(0.0, abs(t) - lam), t) for t in TRUE]
        trials.append(
            create_trial(
                state=TrialState.COMPLETE,
                value=0.3 + 0.05 * (math.log10(lam) + 1.4) ** 2,
                params={"lambda": lam, "l1_ratio": 0.5 + 0.01 * (i % 3)},
                distributions=DISTRIBUTIONS,
                system_attrs={COEFFICIENTS_ATTR: encode(NAMES, shrunk)},
                user_attrs={"n_nonzero": sum(1 for w in shrunk if w)},
            )
        )
    add_trials(study, trials)
    _save_model(study, [math.copysign(max(0.0, abs(t) - 0.04), t) for t in TRUE])
    _set_status(row.id, "completed")
    return row.id


def _save_model(study: optuna.Study, weights: list[float]) -> None:
    save_best_model(
        study,
        {"member.0.1.weight": np.array([weights], dtype=np.float32)},
        file="names.safetensors",
        metadata={"feature_names": json.dumps(NAMES)},
    )


def _escaped(name: str) -> str:
    return name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _texts(value: Any) -> list[str]:
    """Every string in a figure's JSON."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _texts(v)]
    if isinstance(value, list):
        return [s for v in value for s in _texts(v)]
    return []


def test_input_names_are_escaped_for_plotly_and_shortened_where_they_label(
    api: TestClient,
) -> None:
    html = api.get(f"/v1/studies/{odd_study()}/report").text
    path = titled(html, "Coefficient path")
    bars = titled(html, "Best model: non-zero coefficients")
    for figure in (path, bars):
        texts = _texts(figure["data"])
        assert not [t for t in texts if "<b>" in t or "x&y" in t], "markup plotly would read"

    lines = [t for t in path["data"] if t.get("showlegend") is not False]
    legend = [t["name"] for t in lines]
    assert all(len(unescape(name)) <= LABEL_CHARS for name in legend), legend
    assert len(set(legend)) == len(legend) == len(NAMES), legend  # two long names told apart
    assert "&lt;b&gt;bold&lt;/b&gt;" in legend and "x&amp;y" in legend
    hovers = {t["hovertext"] for t in lines}
    assert hovers == {_escaped(n) for n in NAMES}, "the whole name where the label is short"

    bar = bars["data"][0]
    assert all(len(unescape(label)) <= LABEL_CHARS for label in bar["y"]), bar["y"]
    assert len(set(bar["y"])) == len(bar["y"]) == len(NAMES), bar["y"]
    assert set(bar["hovertext"]) == {_escaped(n) for n in NAMES}
    assert "x&amp;y" in html and "&lt;b&gt;bold&lt;/b&gt;" in html  # the page's own text
