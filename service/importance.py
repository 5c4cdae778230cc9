"""Optuna's importance module without scikit-learn, for the processes that only ask PED-ANOVA.

``optuna.importance`` imports scikit-learn's random forests for its fANOVA and MDI evaluators
whenever scikit-learn is installed (``regtune[all]``): 0.8–1.1 s of every start of an API
process or of ``regtune dashboard`` here. The study report and optuna-dashboard ask only for
PED-ANOVA's importances (Optuna's default), which need neither, so those processes import the
module without it; there the fANOVA and MDI evaluators then say scikit-learn is missing, and
nothing in those processes uses them.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


def optuna_importance() -> ModuleType:
    """``optuna.importance``, imported without scikit-learn if neither is loaded yet."""
    if "sklearn" in sys.modules or "optuna.importance" in sys.modules:
        return importlib.import_module("optuna.importance")
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # halts the import: ImportError
    try:
        return importlib.import_module("optuna.importance")
    finally:
        del sys.modules["sklearn"]
