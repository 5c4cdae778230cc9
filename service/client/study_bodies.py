"""The bodies of the requests that make or grow a study: a definition sent as JSON or as YAML by
what it looks like, and an extension's budget and points, with numbers JSON cannot carry refused
before any request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from regtune.service.client.arguments import json_numbers


def definition_body(
    definition: dict[str, Any] | str | bytes | Path, *, as_json: bool | None
) -> dict[str, Any]:
    """The request's body (httpx's arguments) that submits ``definition``, as ``Client.submit``
    says: a mapping as JSON; a file's or text's bytes as they are, as JSON when ``as_json`` or,
    left None, when they look it (a ``.json`` file, text that is a JSON object), else as YAML."""
    if not isinstance(definition, Path | str | bytes):  # a mapping
        return {"json": json_numbers(definition, "definition")}
    if isinstance(definition, Path):
        text, looks_json = definition.read_bytes(), definition.suffix.lower() == ".json"
    else:
        text = definition.encode() if isinstance(definition, str) else definition
        looks_json = _json_object(definition)
    as_json = looks_json if as_json is None else as_json
    kind = "application/json" if as_json else "application/yaml"
    return {"content": text, "headers": {"Content-Type": kind}}


def extension_body(
    *,
    n_trials: int | None,
    n_trials_total: int | None,
    timeout_s: float | None,
    points: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """The JSON body of ``Client.extend``: the fields given (each as JSON carries it, named as
    given when it cannot), and nothing of those left out."""
    numbers = {"n_trials": n_trials, "n_trials_total": n_trials_total, "timeout_s": timeout_s}
    body = {name: json_numbers(value, name) for name, value in numbers.items() if value is not None}
    if points is not None:  # an empty list too, for the API to say what points need
        body["points_to_evaluate"] = json_numbers(points, "points")
    return body


def _json_object(text: str | bytes) -> bool:
    """Whether definition text (or UTF-8 bytes) is a JSON object (YAML reads it too, but
    forgives what JSON does not: a trailing comma, ``.2``)."""
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):  # not JSON (json.JSONDecodeError), or too deep
        return False
