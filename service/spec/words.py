"""Counts in words, as every message of the service says them: ``1 trial``, ``5 trials``; how
much of a refused text a message repeats; and what a refused value was, in words."""

from __future__ import annotations

from typing import Any

SHOWN_CHARACTERS = 80
"""How much of a refused text a message repeats (a 100,000-character name made a 200 KB 422)."""


def counted(n: int, noun: str) -> str:
    """``1 feature``, ``5 features``: the plural only when it is not one."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def quoted(given: str) -> str:
    """``given`` quoted as a message repeats it: whole up to ``SHOWN_CHARACTERS``, else that
    much of it and its length."""
    if len(given) <= SHOWN_CHARACTERS:
        return repr(given)
    return f"{given[:SHOWN_CHARACTERS]!r}… ({len(given):,} characters)"


def kind_of(value: Any) -> str:
    """What a value a definition's field refused was, in words: ``the boolean true``, ``the
    number 3``, ``the text 'tpe'``, ``null``, ``a list``, ``a mapping``."""
    match value:
        case bool():
            return f"the boolean {str(value).lower()}"
        case int() | float():
            return f"the number {value}"
        case str():
            text = value[:SHOWN_CHARACTERS] + ("…" if len(value) > SHOWN_CHARACTERS else "")
            return f"the text {text!r}"
        case None:
            return "null"
        case list():
            return "a list"
        case dict():
            return "a mapping"
    return type(value).__name__
