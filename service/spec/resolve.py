"""The defaults a study definition is created with: what ``POST /v1/studies`` fills in from the
data (the task, the validation scheme, relax and its margin) before it stores the definition.

None of this is a validator: ``StudySpec.from_stored`` reads an older study's definition as it was
stored, whatever today's defaults are.
"""

from __future__ import annotations

from regtune.service.spec.dataset_refs import Builtin, Synthetic, Uploaded
from regtune.service.spec.definition import StudySpec
from regtune.service.spec.enums import Task
from regtune.service.spec.objective import check_objectives
from regtune.service.spec.relax import check_relax
from regtune.service.spec.space import Choices, Fixed, Range
from regtune.service.spec.strict import field_error

RELAX_DEFAULT = Range(low=0.0, high=0.8)
"""``search_space.relax`` when a definition leaves it out and relax applies (a linear regression
under the exact solver, a sampler other than grid, some knob searched; ``resolve_relax``):
searched over [0, 0.8], which a λ path stores each λ at 0, 0.4 and 0.8 of. ``bench.quality
--relax`` measured it against the elastic net alone and against [0, 1] (bench/RESULTS.md, "Tuned
quality"): relaxing kept the test R² of diabetes and raised friedman1's and the sparse data's;
relaxing all the way (1, least squares on the support, whose selection by CV is noisy) lost on
diabetes. Filled in when a study is created, never when a stored definition is read back, so an
older study keeps the search space it ran with."""
RELAX_MARGIN = 0.5
"""``objective.relax_margin`` when a definition leaves it out and relax is searched (0 among its
values) under k folds (``resolve_relax_margin``): a relaxed configuration is the best only when
it beats the best unrelaxed one by more than half a standard error of their fold differences.
Where the data hardly tells a relaxed fit from the elastic net (real tables of few, dense
features: diabetes, fair, randhie), the relaxed values were the winner's curse of three times
the candidates, and lost in test; where relaxing pays (sparse signals: friedman1, the sparse
data) it wins by more than the margin. ``bench.quality`` and ``bench.uploads`` measured 0, 0.5
and 1 (bench/RESULTS.md, "Tuned quality")."""


def resolve_relax(spec: StudySpec) -> StudySpec:
    """Return the definition with ``search_space.relax`` as a study is created with it: checked
    against the resolved task (after ``resolve_task``), and, left out where it applies (a linear
    regression under the exact solver, a sampler other than grid, which needs finite values,
    and some knob searched), searched over ``RELAX_DEFAULT``. Left out elsewhere it stays out:
    0, the elastic net.

    Not a validator: ``StudySpec.from_stored`` must read an older study's search space as it was.
    """
    check_relax(spec)
    if spec.search_space.relax is not None:
        return spec
    linear_regression = spec.model.kind == "linear" and spec.task == Task.REGRESSION
    if not linear_regression or spec.solver != "exact" or spec.sampler.type == "grid":
        return spec
    if not spec.search_space.searched():  # every knob fixed: one configuration, as given
        return spec
    space = spec.search_space.model_copy(update={"relax": RELAX_DEFAULT.model_copy()})
    return spec.model_copy(update={"search_space": space})


def data_task(dataset: Builtin | Synthetic | Uploaded) -> Task | None:
    """The task a built-in or synthetic dataset is; None for an upload (its row says)."""
    if isinstance(dataset, Builtin):
        return dataset.builtin.task
    if isinstance(dataset, Synthetic):
        params = dataset.synthetic
        if params.kind == "classification":
            return Task.BINARY if params.n_classes == 2 else Task.MULTICLASS
        return Task.REGRESSION
    return None


def check_task(spec: StudySpec) -> None:
    """Refuse a ``task`` other than the one a built-in or synthetic dataset is (an upload's is
    checked against its stored task): a regression target is no class label, and a class count
    is the data's."""
    task = data_task(spec.dataset)
    if spec.task in (Task.AUTO, task) or task is None:
        return
    data = spec.dataset
    named = f"builtin {data.builtin}" if isinstance(data, Builtin) else "the synthetic data"
    raise field_error(
        ("task",), f"{named} is a {task} task; use task: auto or {task}", spec.task.value
    )


def resolve_task(spec: StudySpec, uploaded_task: str | None = None) -> StudySpec:
    """Return the definition with ``task: auto`` replaced by what the data says."""
    if spec.task != Task.AUTO:
        return spec
    task = data_task(spec.dataset)
    if task is None:
        if uploaded_task is None:
            raise ValueError("the task of an uploaded dataset is unknown")
        task = Task(uploaded_task)
    check_objectives(spec, task)
    return spec.model_copy(update={"task": task})


def resolve_validation(
    spec: StudySpec, *, rows: int, features: int, outputs: int, smallest_class: int | None
) -> StudySpec:
    """Return the definition with its validation scheme decided for data of this shape (the
    default when none is given: ``Validation.resolved``) and the reason stored. An upload's
    test split is decided there too, kept when ``refit_rows: non_test`` asks for one."""
    one_se = spec.objective.select == "one_se"
    keeps_test = "refit_rows" in spec.model_fields_set and spec.refit_rows == "non_test"
    uploaded = isinstance(spec.dataset, Uploaded) and not keeps_test
    validation = spec.validation.resolved(
        exact=spec.solver == "exact",
        rows=rows,
        features=features,
        outputs=outputs,
        smallest_class=smallest_class,
        folds_needed=one_se,
        uploaded=uploaded,
    )
    if one_se and not validation.folds:
        # folds of an upload hold no test split unless one is given: then none made them too few
        folds_test = not (uploaded and "test_fraction" not in spec.validation.model_fields_set)
        after = (
            f" after the test split (validation.test_fraction {validation.test_fraction:g})"
            if folds_test and validation.test_split
            else ""
        )
        smallest = "" if smallest_class is None else f", {smallest_class} in its smallest class"
        raise field_error(
            ("objective", "select"),
            f"one_se needs folds, and the data ({rows} rows{smallest}) has too few rows (of its "
            f"smallest class) for 5 of them{after}",
            "one_se",
        )
    return spec.model_copy(update={"validation": validation})


def resolve_relax_margin(spec: StudySpec) -> StudySpec:
    """Return the definition with ``objective.relax_margin`` as a study is created with it
    (after ``resolve_relax`` and ``resolve_validation``): as given, where it applies (relax
    searched with 0 among its values, k folds, one objective), or, left out there,
    ``RELAX_MARGIN``. Not a validator: an older study's stored definition, which has none, keeps
    its best trial the best value."""
    margin = spec.objective.relax_margin
    problem = _no_margin_because(spec)
    if margin is None:
        if problem is not None:
            return spec
        margin = RELAX_MARGIN
    elif problem is not None and margin > 0:
        raise field_error(
            ("objective", "relax_margin"), f"relax_margin does not apply: {problem}", margin
        )
    objective = spec.objective.model_copy(update={"relax_margin": margin})
    return spec.model_copy(update={"objective": objective})


def _no_margin_because(spec: StudySpec) -> str | None:
    relax = spec.search_space.relax
    if relax is None or isinstance(relax, Fixed):
        return "it compares relaxed with unrelaxed trials, so search_space.relax must be searched"
    includes_zero = 0.0 in relax.choices if isinstance(relax, Choices) else relax.low == 0.0
    if not includes_zero:
        return "it compares with the unrelaxed trials, so search_space.relax must include 0"
    if not spec.validation.folds:
        return "it needs the standard error across folds: k-fold validation, not a holdout"
    if spec.objectives is not None:
        return "a study with several objectives has a Pareto front, not one best trial"
    return None
