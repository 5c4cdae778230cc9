"""The names regtune gives its Optuna studies: the study's name and its id, told apart by shape."""

from __future__ import annotations

import re


def optuna_name(name: str, study_id: str) -> str:
    """The Optuna study name of a regtune study (``OPTUNA_NAME`` matches it)."""
    return f"{name} [{study_id}]"


OPTUNA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127} \[[0-9a-f]{16}\]$")
"""Optuna study names regtune creates; the sweep removes such a study when it has no row."""
