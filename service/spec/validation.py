"""How a study validates its trials: a holdout or k folds, and the default between them.

A single 20 % holdout is a noisy judge of a linear model: more trials on it overfit it. The
exact solver makes folds cheap, so its default is 5-fold validation, as scikit-learn's ``*CV``
estimators, whenever the data is small enough that the folds cost a trial little
(``FOLDS_MAX_CELLS``, measured by ``bench.folds``: README, "Default validation"); a holdout
otherwise, and always for the minibatch trainer. The choice is made once, when the study is
created (``resolved``), and stored in the definition with the reason (``chosen_by``).

An uploaded dataset is the user's training file: validated by folds, it holds no test split of
its own unless ``test_fraction`` (or ``refit_rows: non_test``) is given, so every uploaded row
is in the folds, as in scikit-learn's ``*CV`` estimators (``bench.uploads``: README, "Uploaded
tables"). The folds' score is then the study's estimate; a holdout keeps its test split, the
only unbiased score after the holdout chose.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from regtune.service.spec.datasets import unsplit_class_note
from regtune.service.spec.strict import Strict

DEFAULT_FOLDS = 5
DEFAULT_HOLDOUT = 0.2
DEFAULT_TEST_FRACTION = 0.2
UPLOAD_NO_TEST = (
    "no test split: an upload is the training rows, all of them in the folds (give "
    "validation.test_fraction to hold some out)"
)
FOLDS_MAX_CELLS = 1_000_000
"""Default to 5 folds (exact solver) up to this many rows × features × outputs: a 5-fold trial
then costs the worker at most about 0.1–0.2 s of CPU more than a holdout trial (``bench.folds``),
about what the service spends on any trial."""


class Validation(Strict):
    holdout: float | None = Field(default=None, gt=0, lt=0.9)
    folds: int | None = Field(default=None, ge=2, le=20)
    test_fraction: float = Field(
        default=DEFAULT_TEST_FRACTION,
        ge=0,
        lt=0.9,
        description="the rows held out as the test split, which the trials and the best model "
        "are scored on and nothing is chosen by; 0: none, every row in the holdout or the folds "
        "(as scikit-learn's *CV estimators, for data with a test file of its own), and no test "
        "metrics. Left out: 0.2, or 0 for an uploaded dataset validated by folds (its rows are "
        "the training file: every one in the folds) unless refit_rows is non_test",
    )
    split_seed: int = Field(default=0, ge=0, le=2**31 - 1)
    chosen_by: str | None = Field(
        default=None,
        description="set when the study is created: 'definition' when holdout or folds was "
        "given, else the default rule that chose (5 folds for the exact solver on small data, "
        "a 20 % holdout otherwise)",
    )

    @model_validator(mode="after")
    def _one_scheme(self) -> Validation:
        if self.holdout is not None and self.folds is not None:
            raise ValueError("give either holdout or folds, not both")
        return self

    @property
    def given(self) -> bool:
        """Whether the scheme is set (given, or chosen when the study was created)."""
        return self.holdout is not None or self.folds is not None

    @property
    def test_split(self) -> bool:
        """Whether a test split is held out (``test_fraction`` above 0)."""
        return self.test_fraction > 0

    @property
    def scheme(self) -> str:
        """The scheme in words: ``5-fold`` or ``holdout 0.2``."""
        if self.folds:
            return f"{self.folds}-fold"
        return f"holdout {self.holdout or DEFAULT_HOLDOUT:g}"

    def resolved(
        self,
        *,
        exact: bool,
        rows: int,
        features: int,
        outputs: int,
        smallest_class: int | None,
        folds_needed: bool = False,
        uploaded: bool = False,
    ) -> Validation:
        """This validation with its scheme decided: as given, or the default for this data,
        and for an upload its test split (none under folds unless given: module docstring).

        ``smallest_class``: rows of the least populated class (None for regression);
        ``folds_needed``: the definition asks for a rule that needs folds (``one_se``), so
        folds are the default whatever the size; ``uploaded``: the data is an upload."""
        undecided = uploaded and "test_fraction" not in self.model_fields_set
        # an upload's scheme is decided as if every row were in it: folds keep it so
        start = self.model_copy(update={"test_fraction": 0.0}) if undecided else self
        scheme = start._scheme_for(
            exact=exact,
            rows=rows,
            features=features,
            outputs=outputs,
            smallest_class=smallest_class,
            folds_needed=folds_needed,
        )
        if not undecided:
            return scheme._noting(smallest_class)
        if scheme.folds:
            return scheme.model_copy(update={"chosen_by": f"{scheme.chosen_by}; {UPLOAD_NO_TEST}"})
        return scheme.model_copy(update={"test_fraction": DEFAULT_TEST_FRACTION})._noting(
            smallest_class
        )

    def _noting(self, smallest_class: int | None) -> Validation:
        """This scheme, its ``chosen_by`` saying so when a holdout keeps a class too small to
        split out of its validation rows (``unsplit_class_note``)."""
        note = unsplit_class_note(smallest_class, test_fraction=self.test_fraction)
        if self.folds or note is None:
            return self
        return self.model_copy(update={"chosen_by": f"{self.chosen_by}; {note}"})

    def _scheme_for(
        self,
        *,
        exact: bool,
        rows: int,
        features: int,
        outputs: int,
        smallest_class: int | None,
        folds_needed: bool,
    ) -> Validation:
        if self.given:
            return self.model_copy(update={"chosen_by": "definition"})
        left = rows - int(rows * self.test_fraction) - 1  # what the test split leaves, rounded down
        members = left if smallest_class is None else int(smallest_class * (1 - self.test_fraction))
        cells = rows * features * outputs
        fits = members >= DEFAULT_FOLDS
        if fits and exact and cells <= FOLDS_MAX_CELLS:
            return self._chosen(
                folds=DEFAULT_FOLDS,
                why=f"exact solver, {rows:,} rows × {features:,} features × {outputs} "
                f"output(s) ≤ {FOLDS_MAX_CELLS:,}",
            )
        if fits and folds_needed:
            return self._chosen(folds=DEFAULT_FOLDS, why="objective.select one_se needs folds")
        if not exact:
            reason = "minibatch trainer"
        elif not fits and smallest_class is not None and left >= DEFAULT_FOLDS:
            reason = f"too few rows of the smallest class ({smallest_class}) for 5 folds"
        elif not fits:
            reason = "too few rows for 5 folds"
        else:
            reason = f"{rows:,} rows × {features:,} features × {outputs} > {FOLDS_MAX_CELLS:,}"
        return self._chosen(holdout=DEFAULT_HOLDOUT, why=reason)

    def _chosen(
        self, *, why: str, folds: int | None = None, holdout: float | None = None
    ) -> Validation:
        scheme = f"{folds}-fold" if folds else f"holdout {holdout:g}"
        return self.model_copy(
            update={"folds": folds, "holdout": holdout, "chosen_by": f"default ({scheme}): {why}"}
        )
