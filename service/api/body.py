"""Reading a study definition from a request body: JSON, or YAML by content type."""

from __future__ import annotations

import json
from typing import Any

import yaml
from fastapi import Request

from service.api.errors import BadBody

MAX_DEFINITION_BYTES = 1_000_000
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


async def read_definition(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_DEFINITION_BYTES:
        raise BadBody(f"the definition is larger than {MAX_DEFINITION_BYTES} bytes")
    if not raw.strip():
        raise BadBody("the body is empty; send a study definition as JSON or YAML")
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody("the body is not UTF-8 text") from exc
    try:
        data = yaml.safe_load(text) if content_type in YAML_TYPES else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        kind = "YAML" if content_type in YAML_TYPES else "JSON"
        raise BadBody(f"the body is not valid {kind}: {exc}".splitlines()[0]) from exc
    if not isinstance(data, dict):
        raise BadBody("the definition must be a mapping (a JSON object)")
    return data
