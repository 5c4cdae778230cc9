"""Where a definition's validation error is, in the keys the user wrote.

pydantic locates an error inside a tagged union through the member it chose: a sampler's bad
``n_startup_trials`` is at ``sampler.tpe.n_startup_trials``, a λ range's ``log`` at
``search_space.lambda.range.log``, an unknown builtin dataset at ``dataset.builtin.builtin``.
The user wrote ``sampler.n_startup_trials``, ``search_space.lambda.log`` and ``dataset.builtin``:
``written`` drops the members' tags, walking the definition as it was sent. A union without
tags (``int | Literal['full']``) locates each member's error under the member's label:
``training.batch_size.int`` and ``training.batch_size.literal['full']``, dropped alike. Where the
user wrote a number, a text, a boolean or null, the location ends: what pydantic locates under
it is its own wrapping of the value (a fixed knob's ``{value: …}``, ``search_space.dropout.value``
of ``dropout: .nan``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic_core import CoreSchema, SchemaValidator


@cache
def union_tags(model: type[BaseModel]) -> frozenset[str]:
    """The tags of every tagged union in ``model``'s schema (``tpe``, ``range``, ``builtin``…)
    and the labels of every other union's members (``int``, ``literal['full']``, a model's
    class name), as pydantic-core names them in an error's location."""
    root = model.__pydantic_core_schema__
    definitions = root.get("definitions", []) if root["type"] == "definitions" else []
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            if node.get("type") == "tagged-union":
                found.update(str(tag) for tag in node["choices"])
            if node.get("type") == "union":
                found.update(_label(choice, definitions) for choice in node["choices"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list | tuple):
            for value in node:
                walk(value)

    walk(root)
    return frozenset(found)


def _label(choice: CoreSchema | tuple[CoreSchema, str], definitions: list[CoreSchema]) -> str:
    """A union member's label: the one given, else its validator's name, which pydantic-core
    puts in the location of the member's errors (``SchemaValidator.title``)."""
    if isinstance(choice, tuple):
        return choice[1]
    schema: CoreSchema = {"type": "definitions", "schema": choice, "definitions": definitions}
    return SchemaValidator(schema).title


UNWRITTEN = object()
"""Where a location goes on past what the user wrote (a missing field, a default)."""


def _holds(node: Any, key: Any) -> bool:
    """Whether ``key`` is a key (an index) of what the user wrote at ``node``."""
    if isinstance(node, Mapping):
        return key in node
    if isinstance(node, list) and isinstance(key, int):
        return 0 <= key < len(node)
    return False


def _scalar(node: Any) -> bool:
    """Whether the user wrote a number, a text, a boolean or null at ``node``: no key is under
    it."""
    return node is not UNWRITTEN and not isinstance(node, Mapping | list)


def _chosen_member(part: Any, following: Any, node: Any, tags: frozenset[str]) -> bool:
    """Whether ``part`` names the union member pydantic chose (or tried) at ``node``, not a key
    the user wrote there: a tag or label the user did not write, or one they did (``dataset:
    {builtin: …}``) where the location goes on beside it (``dataset.builtin.x``: the key ``x``)
    rather than under it."""
    if not (isinstance(part, str) and part in tags) or node is UNWRITTEN:
        return False
    if not _holds(node, part):
        return True
    return following is not None and not _holds(node[part], following) and _holds(node, following)


def written(loc: Sequence[Any], data: Any, tags: frozenset[str]) -> tuple[Any, ...]:
    """``loc`` without the union members' tags and labels pydantic put in it, as the keys of
    ``data`` (the definition as sent) spell it."""
    kept: list[Any] = []
    node = data
    for i, part in enumerate(loc):
        if _scalar(node):
            break  # the rest is pydantic's wrapping of the value the user wrote
        following = loc[i + 1] if i + 1 < len(loc) else None
        if _chosen_member(part, following, node, tags):
            continue  # the location goes on in ``node``
        kept.append(part)
        node = node[part] if _holds(node, part) else UNWRITTEN
    return tuple(kept)
