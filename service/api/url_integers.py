"""Integers in a URL, a trial number in a path and a page's ``offset`` and ``limit``: decimal
digits only, as the schema's integer says (pydantic's int reads ``3_0`` as 30, and ``+3`` or
``%203``, a space before it, as 3: ``?limit=5_0`` paged by 50)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Path, Query
from pydantic import BeforeValidator


def in_digits(what: str) -> Callable[[object], object]:
    """A check that a URL's text is ``what`` written in decimal digits alone."""

    def check(value: object) -> object:
        if isinstance(value, str) and not (value.isascii() and value.isdigit()):
            raise ValueError(f"must be {what}, in decimal digits only, got {value!r}")
        return value

    return check


TrialNumber = Annotated[int, Path(ge=0, le=2**31 - 1), BeforeValidator(in_digits("a trial number"))]
"""A trial number in a path."""
PageOffset = Annotated[int, Query(ge=0, le=1_000_000), BeforeValidator(in_digits("a whole number"))]
"""How many of a list's items a page skips (studies, datasets)."""
TrialOffset = Annotated[
    int, Query(ge=0, le=10_000_000), BeforeValidator(in_digits("a whole number"))
]
"""How many of a study's trials a page skips (a study may hold millions)."""
PageLimit = Annotated[int, Query(ge=1, le=500), BeforeValidator(in_digits("a whole number"))]
"""How many items a page holds at most."""
