"""Counts in words, as every message of the service says them: ``1 trial``, ``5 trials``; and
how much of a refused text a message repeats."""

from __future__ import annotations

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
