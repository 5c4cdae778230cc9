"""Where a definition's validation error is, in the keys the user wrote.

pydantic locates an error inside a tagged union through the member it chose: a sampler's bad
``n_startup_trials`` is at ``sampler.tpe.n_startup_trials``, a λ range's ``log`` at
``search_space.lambda.range.log``, an unknown builtin dataset at ``dataset.builtin.builtin``.
The user wrote ``sampler.n_startup_trials``, ``search_space.lambda.log`` and ``dataset.builtin``:
``written`` drops the members' tags, walking the definition as it was sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from pydantic import BaseModel


@cache
def union_tags(model: type[BaseModel]) -> frozenset[str]:
    """The tags of every tagged union in ``model``'s schema (``tpe``, ``range``, ``builtin``…)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            if node.get("type") == "tagged-union":
                found.update(str(tag) for tag in node["choices"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list | tuple):
            for value in node:
                walk(value)

    walk(model.__pydantic_core_schema__)
    return frozenset(found)


def _holds(node: Any, key: Any) -> bool:
    """Whether ``key`` is a key (an index) of what the user wrote at ``node``."""
    if isinstance(node, Mapping):
        return key in node
    if isinstance(node, list) and isinstance(key, int):
        return 0 <= key < len(node)
    return False


def _chosen_member(part: Any, following: Any, node: Any, tags: frozenset[str]) -> bool:
    """Whether ``part`` names the union member pydantic chose at ``node``, not a key the user
    wrote there: a tag the user did not write, or one they did (``dataset: {builtin: …}``)
    where the location goes on beside it (``dataset.builtin.x``: the key ``x``) rather than
    under it."""
    if not (isinstance(part, str) and part in tags and isinstance(node, Mapping)):
        return False
    if part not in node:
        return True
    return following is not None and not _holds(node[part], following) and _holds(node, following)


def written(loc: Sequence[Any], data: Any, tags: frozenset[str]) -> tuple[Any, ...]:
    """``loc`` without the union members' tags pydantic put in it, as the keys of ``data``
    (the definition as sent) spell it."""
    kept: list[Any] = []
    node = data
    for i, part in enumerate(loc):
        following = loc[i + 1] if i + 1 < len(loc) else None
        if _chosen_member(part, following, node, tags):
            continue  # the location goes on in ``node``
        kept.append(part)
        node = node[part] if _holds(node, part) else None
    return tuple(kept)
