"""Optuna's private names regtune relies on, checked against the installed Optuna.

Everything private is touched in ``service.store.optuna_db.internals`` only; this test fails loudly,
naming the missing piece, when an Optuna release renames a model, a column or a signature.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.storages import RDBStorage
from sqlalchemy import inspect as sa_inspect

from service.store.optuna_db import internals as optuna_internals
from service.store.optuna_db.internals import ArtifactStore, is_pareto_front, om

ROOT = Path(__file__).resolve().parents[2]

COLUMNS: dict[str, set[str]] = {
    "StudyModel": {"study_id", "study_name"},
    "StudyUserAttributeModel": {"study_id", "key", "value_json"},
    "TrialModel": {
        "trial_id",
        "number",
        "study_id",
        "state",
        "datetime_start",
        "datetime_complete",
    },
    "TrialParamModel": {"trial_id", "param_name", "param_value", "distribution_json"},
    "TrialValueModel": {"trial_id", "objective", "value", "value_type"},
    "TrialIntermediateValueModel": {
        "trial_id",
        "step",
        "intermediate_value",
        "intermediate_value_type",
    },
    "TrialUserAttributeModel": {"trial_id", "key", "value_json"},
    "TrialSystemAttributeModel": {"trial_id", "key", "value_json"},
    "TrialHeartbeatModel": {"trial_id", "heartbeat"},
}
PRIVATE_ATTRIBUTES = {"TrialModel": {"_datetime_start_utc", "_datetime_complete_utc"}}


@pytest.mark.parametrize("model", sorted(COLUMNS))
def test_the_tables_and_columns_read_in_sql_exist(model: str) -> None:
    cls = getattr(om, model, None)
    assert cls is not None, f"optuna {optuna.__version__} has no {model}"
    columns = {c.key for c in sa_inspect(cls).columns} | set(
        sa_inspect(cls).all_orm_descriptors.keys()
    )
    missing = (COLUMNS[model] | PRIVATE_ATTRIBUTES.get(model, set())) - columns
    assert not missing, f"{model} lost {sorted(missing)} in optuna {optuna.__version__}"


def test_every_model_attribute_the_code_names_exists() -> None:
    """Scan the product code for ``om.Model.attr`` so a new use cannot skip this contract."""
    pattern = re.compile(r"\bom\.(\w+Model)(?:\.(\w+))?")
    seen = 0
    for path in [*ROOT.joinpath("service").rglob("*.py"), *ROOT.joinpath("worker").rglob("*.py")]:
        for model, attr in pattern.findall(path.read_text()):
            seen += 1
            cls = getattr(om, model, None)
            assert cls is not None, f"{path.name}: optuna has no {model}"
            if attr:
                assert hasattr(cls, attr), f"{path.name}: {model}.{attr} is gone"
    assert seen > 10


def test_private_methods_keep_their_signatures() -> None:
    assert list(inspect.signature(RDBStorage._set_trial_param).parameters) == [
        "self",
        "trial_id",
        "param_name",
        "param_value_internal",
        "distribution",
        "previous_distribution",
    ]
    assert list(inspect.signature(RDBStorage._get_stale_trial_ids).parameters) == [
        "self",
        "study_id",
    ]
    assert {"open_reader", "write", "remove"} <= set(dir(ArtifactStore))


def test_pareto_front_helper_still_answers_the_same() -> None:
    points = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 3.0], [0.5, 4.0]])
    assert is_pareto_front(points).tolist() == [True, True, False, True]


def test_only_one_module_imports_optuna_privates() -> None:
    private = re.compile(
        r"\bom\.\w+\._[a-z]\w*|optuna\.(?:\w+\.)*_\w+|from optuna\S* import _\w+"
        r"|\._get_stale|\._set_trial_param"
    )
    offenders = [
        str(path.relative_to(ROOT))
        for path in [
            *ROOT.joinpath("service").rglob("*.py"),
            *ROOT.joinpath("worker").rglob("*.py"),
        ]
        if path.name != Path(optuna_internals.__file__).name and private.search(path.read_text())
    ]
    assert offenders == []


def test_optuna_is_pinned_to_the_minor_series_this_contract_passed_on() -> None:
    text = ROOT.joinpath("pyproject.toml").read_text()
    major, minor = optuna.__version__.split(".")[:2]
    assert f'"optuna>={major}.{minor},<{major}.{int(minor) + 1}"' in text
