"""Counts in words, as every message of the service says them: ``1 trial``, ``5 trials``."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """``1 feature``, ``5 features``: the plural only when it is not one."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
