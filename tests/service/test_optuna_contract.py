"""Optuna's private names regtune relies on, checked against the installed Optuna.

Everything private is touched in the package ``regtune.service.store.optuna_db.internals`` only;
this test fails loudly, naming the missing piece, when an Optuna release renames a model, a column
or a signature.
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

from regtune.service.store.optuna_db import internals as optuna_internals
from regtune.service.store.optuna_db.internals.artifacts import ArtifactStore
from regtune.service.store.optuna_db.internals.handles import (
    engine_of,
    om,
    storage_of,
    study_id_of,
    trial_id_of,
)
from regtune.service.store.optuna_db.internals.pareto import is_pareto_front
from regtune.service.store.optuna_db.internals.versions import optuna_head, optuna_schema_current
from regtune.service.store.optuna_db.notes import CHUNK_LENGTH, save_new_study_note

ROOT = Path(__file__).resolve().parents[2]
INTERNALS = Path("service/store/optuna_db/internals")
"""The one package allowed Optuna's private names, by its path (not merely its folder's name)."""
PRODUCT = ("service", "worker")

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
    for path in _product_files():
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
    for model, method in (
        (om.TrialValueModel, "value_to_stored_repr"),
        (om.TrialIntermediateValueModel, "intermediate_value_to_stored_repr"),
    ):
        assert list(inspect.signature(getattr(model, method)).parameters) == ["value"]
    assert {"open_reader", "write", "remove"} <= set(dir(ArtifactStore))
    # trial_lines.log_told: the line optimize logs of a COMPLETE trial
    completed = optuna.Study._log_completed_trial
    assert list(inspect.signature(completed).parameters) == ["self", "values", "number", "params"]
    bracket = optuna.pruners.HyperbandPruner._get_bracket_id
    assert list(inspect.signature(bracket).parameters) == ["self", "study", "trial"]
    # KeyedHyperbandPruner hands it a stand-in that has a study_name and nothing else
    assert set(re.findall(r"(?<![\w.])study\.\w+", inspect.getsource(bracket))) == {
        "study.study_name"
    }


def test_pareto_front_helper_still_answers_the_same() -> None:
    points = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 3.0], [0.5, 4.0]])
    assert is_pareto_front(points).tolist() == [True, True, False, True]


def _product_files() -> list[Path]:
    return sorted(p for package in PRODUCT for p in ROOT.joinpath(package).rglob("*.py"))


PRIVATE = re.compile(
    r"\bom\.\w+\._[a-z]\w*"  # a private attribute of one of Optuna's models
    r"|optuna\.(?:\w+\.)*_\w+"  # a private module or name of Optuna's
    r"|from optuna\S* import \(?[^)]*\b_\w+"  # ... imported by name
    r"|\w*(?:study|trial|storage|backend)\._[a-z]\w*"  # what a Study, Trial or storage keeps
    r"|\._get_stale|\._set_trial_param|\._get_bracket_id|\b_CachedStorage\b"
)


def test_only_one_package_touches_optuna_privates() -> None:
    package = Path(optuna_internals.__file__).resolve().parent
    assert package == ROOT / INTERNALS, "update this contract"
    inside = sorted(package.glob("*.py"))
    assert any(PRIVATE.search(path.read_text()) for path in inside)  # the pattern still sees them
    offenders = {
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in _product_files()
        if INTERNALS not in path.relative_to(ROOT).parents
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if PRIVATE.search(line)
    }
    assert sorted(offenders) == []


def test_the_pattern_catches_what_moved_into_the_internals() -> None:
    for line in (
        "study._storage.get_study_system_attrs(study._study_id)",
        "storage.set_trial_system_attr(trial._trial_id, key, value)",
        "from optuna.storages._rdb import models",
        "from optuna.study._multi_objective import (\n    _is_pareto_front,",
        "storage._backend.engine",
    ):
        assert PRIVATE.search(line), line


def test_what_a_study_and_a_trial_keep_privately(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(storage=url)
    trial = study.ask()
    assert isinstance(storage_of(study), optuna.storages.BaseStorage)
    assert study_id_of(study) == storage_of(study).get_study_id_from_name(study.study_name)
    assert trial_id_of(trial) == storage_of(study).get_trial_id_from_study_id_trial_number(
        study_id_of(study), trial.number
    )
    study.tell(trial, 1.0)
    assert trial_id_of(study.trials[0]) == trial_id_of(trial)
    engine = engine_of(study)
    assert str(engine.url) == url
    engine.dispose()


def test_optunas_newest_schema_is_the_one_its_storage_stamps(tmp_path: Path) -> None:
    # migrate skips Optuna's table creation and checks where its tables are at this revision
    storage = RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")
    try:
        assert optuna_head() == storage.get_current_version()
        with storage.engine.connect() as connection:
            assert optuna_schema_current(connection)
    finally:
        storage.engine.dispose()


def test_a_note_written_here_reads_back_in_optuna_dashboard(tmp_path: Path) -> None:
    from optuna_dashboard import get_note

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'notes.db'}")
    body = "# a study\n\n" + "".join(f"line {i} é\n" for i in range(800))  # three chunks
    assert len(body) > 2 * CHUNK_LENGTH
    save_new_study_note(storage_of(study), study_id_of(study), body)
    assert get_note(study) == body
    empty = optuna.create_study(storage=f"sqlite:///{tmp_path / 'notes.db'}")
    save_new_study_note(storage_of(empty), study_id_of(empty), "")
    assert get_note(empty) == ""


def test_optuna_is_pinned_to_the_minor_series_this_contract_passed_on() -> None:
    text = ROOT.joinpath("pyproject.toml").read_text()
    major, minor = optuna.__version__.split(".")[:2]
    assert f'"optuna>={major}.{minor},<{major}.{int(minor) + 1}"' in text


def test_batched_reports_and_attributes_write_what_optunas_own_writes_do(tmp_path: Path) -> None:
    """``note_report`` + ``write_reports`` and ``set_user_attrs`` (one transaction for several
    writes) leave the rows and the trial's own view that ``Trial.report`` and
    ``Trial.set_user_attr`` leave, and refuse a finished trial as they do."""
    from optuna.exceptions import UpdateFinishedTrialError

    from regtune.service.store.optuna_db.internals.batched import (
        note_report,
        set_user_attrs,
        write_reports,
    )
    from regtune.service.store.optuna_db.storage import make_storage

    storage = make_storage(f"sqlite:///{tmp_path / 'batched.db'}")
    study = optuna.create_study(storage=storage)
    first, second = study.ask(), study.ask()
    assert note_report(first, 1, 0.5) and note_report(second, 1, 0.25)
    write_reports([(first, 1, 0.5), (second, 1, 0.25)])
    note_report(first, 2, 0.375)
    write_reports([(first, 2, 0.375)])
    first.report(0.125, 3)  # Optuna's own write after the batched ones
    set_user_attrs(first, {"n_nonzero": 3, "stopped_early": True, "curve": [1.0, 2.0]})
    set_user_attrs(first, {"n_nonzero": 4})
    assert first.user_attrs == {"n_nonzero": 4, "stopped_early": True, "curve": [1.0, 2.0]}
    assert first.should_prune() is False
    study.tell(first, state=optuna.trial.TrialState.PRUNED)  # its value: the last report
    study.tell(second, state=optuna.trial.TrialState.FAIL)
    stored = {t.number: t for t in study.get_trials()}
    assert stored[0].intermediate_values == {1: 0.5, 2: 0.375, 3: 0.125}
    assert stored[0].value == 0.125 and stored[1].intermediate_values == {1: 0.25}
    assert stored[0].user_attrs == first.user_attrs
    with pytest.raises(UpdateFinishedTrialError):
        write_reports([(second, 2, 1.0)])
    with pytest.raises(UpdateFinishedTrialError):
        set_user_attrs(second, {"n_nonzero": 1})


def test_params_noted_on_a_live_trial_are_the_ones_it_shows() -> None:
    """``note_params`` (a λ path's λ and relax, stored with its points) leaves the trial's own
    view as ``suggest`` leaves it: ``trial.params``, which Optuna logs at its end, shows them."""
    from optuna.distributions import FloatDistribution

    from regtune.service.store.optuna_db.internals.batched import note_params

    study = optuna.create_study()
    trial = study.ask()
    x = trial.suggest_float("x", 0, 1)
    note_params(trial, {"lambda": 0.5}, {"lambda": FloatDistribution(0.1, 1.0, log=True)})
    assert trial.params == {"x": x, "lambda": 0.5}
    assert trial.distributions["lambda"] == FloatDistribution(0.1, 1.0, log=True)


def test_a_step_reported_again_is_ignored_as_optunas_own_report_ignores_it(
    database_url: str,
) -> None:
    """``Trial.report`` of a step already reported keeps the first value and warns; the batched
    report overwrote it, unsaid, in the trial's own view (what its pruner had decided on was no
    longer what it showed) and in the stored learning curve. Two reports of one step in one
    batch were one upsert touching a row twice, which PostgreSQL refuses."""
    from regtune.service.store.migrate import upgrade
    from regtune.service.store.optuna_db.internals.batched import note_report, write_reports
    from regtune.service.store.optuna_db.storage import make_storage

    upgrade(database_url)
    storage = make_storage(database_url)
    try:
        study = optuna.create_study(storage=storage)
        ours, optunas = study.ask(), study.ask()
        assert note_report(ours, 1, 0.5)
        optunas.report(0.5, 1)
        for trial, noted in ((ours, note_report), (optunas, None)):
            with pytest.warns(UserWarning, match="already reported"):
                if noted is None:
                    trial.report(0.9, 1)
                else:  # nothing left to write: the caller batches nothing
                    assert noted(trial, 1, 0.9) is False
        write_reports([(ours, 1, 0.5)])
        assert ours.should_prune() is False
        assert ours._cached_frozen_trial.intermediate_values == {1: 0.5}  # what its pruner reads
        for trial in (ours, optunas):
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        stored = {t.number: t.intermediate_values for t in study.get_trials()}
        assert stored == {0: {1: 0.5}, 1: {1: 0.5}}
    finally:
        storage.engine.dispose()
