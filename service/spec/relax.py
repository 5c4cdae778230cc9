"""Where a relaxed fit applies (``search_space.relax``): a linear regression under the exact
solver. Checked when a definition is validated and again once its task is resolved; the range
searched when a definition leaves relax out is ``resolve``'s (``RELAX_DEFAULT``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from regtune.service.spec.enums import Task
from regtune.service.spec.space import Choices, Fixed, Range
from regtune.service.spec.strict import field_error

if TYPE_CHECKING:
    from regtune.service.spec.definition import StudySpec

RELAX_NEUTRAL = 0.0
"""``search_space.relax`` that means "not relaxed" (the plain elastic net); left out means it too,
unless ``resolve_relax`` searches it."""
RELAX_SOLVER = (
    "relax applies to a linear model under the exact solver (training.solver exact): its "
    "least-squares fit is solved exactly"
)
RELAX_TASK = (
    "relax applies to regression (least squares): a relaxed cross-entropy on separable classes "
    "has no finite minimizer"
)


def _relax_neutral(param: Fixed | Range | Choices | None) -> bool:
    return param is None or (isinstance(param, Fixed) and param.value == RELAX_NEUTRAL)


def check_relax(spec: StudySpec) -> None:
    """Refuse a ``search_space.relax`` other than 0 where a relaxed fit does not apply."""
    param = spec.search_space.relax
    if _relax_neutral(param):
        return
    if spec.model.kind != "linear" or spec.solver != "exact":
        rule = f"{RELAX_SOLVER}, got model.kind {spec.model.kind}, training.solver {spec.solver}"
        raise field_error(("search_space", "relax"), rule, param)
    if spec.task not in (Task.REGRESSION, Task.AUTO):
        raise field_error(("search_space", "relax"), f"{RELAX_TASK}, got task {spec.task}", param)
