"""The base of every part of a definition: JSON types taken as written, unknown keys refused.

pydantic's strict mode: ``true`` is not 1, ``0`` is not false, ``"5"`` is not 5; an integer is
still a valid float, as JSON has one number type. Enum fields opt out (``Field(strict=False)``)
so that they accept their values as the strings JSON and YAML carry.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


def field_error(path: tuple[str, ...], message: str, value: Any = None) -> ValidationError:
    """A validation error located at ``path`` (model-level checks would otherwise lose it)."""
    detail = InitErrorDetails(
        type=PydanticCustomError("value_error", message), loc=path, input=value
    )
    return ValidationError.from_exception_data("StudySpec", [detail])
